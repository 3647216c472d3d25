"""TUNNEL fqdn+srv routing (RFC 3620 sec. 4, RFC 2782) through a real
beepgated, with the test DNS server of tests/peers/dnsd.py as the only
nameserver."""
import time

from integration.harness import Backend, free_port, recv_exact
from integration.tunnel_env import USERS, RelayTestCase
from peers import beep, dnsd
from peers.beep import Tunnel

SVC = "_beepgate-test._tcp"


class SrvTest(RelayTestCase):
    def setUp(self):
        super().setUp()
        self.dns = self.keep(dnsd.DnsServer())

    def srv_relay(self, rules):
        return self.relay(rules, extra="nameserver 127.0.0.1 port %d\n" % self.dns.port)

    def tunnel(self, d, element):
        s = beep.open_session("127.0.0.1", d.port, timeout=10)
        r = beep.sasl_login(s, "SCRAM-SHA-256", "alice", USERS["alice"])
        self.assertTrue(r.ok, (r.code, r.text))
        t = beep.tunnel_start(s, element)
        if not t.ok:
            s.close()
        return t

    def echo_ok(self, t, data=b"through SRV"):
        self.assertTrue(t.ok, (t.code, t.text))
        t.sock.sendall(data)
        self.assertEqual(recv_exact(t.sock, len(data)), data)
        t.sock.close()

    def test_priorities_first_target_dead(self):
        live = self.keep(Backend(mode="echo", host="127.0.0.2"))
        dead = free_port()
        self.dns.set("dead.test", "A", ["127.0.0.3"])
        self.dns.set("live.test", "A", ["127.0.0.2"])
        self.dns.set(SVC + ".svc.test", "SRV", [[10, 0, dead, "dead.test"],
                                                [20, 0, live.port, "live.test"]])
        d = self.srv_relay("pass from user \"alice\" to 127.0.0.2/32 port %d\n"
                           "pass from user \"alice\" to 127.0.0.3/32 port %d\n" % (live.port, dead))
        self.echo_ok(self.tunnel(d, Tunnel(fqdn="svc.test", srv=SVC)))
        self.assertEqual(live.connections, 1)
        self.assertEqual(self.dns.count(SVC + ".svc.test", "SRV"), 1)
        self.finish(d)

    def test_weights(self):
        heavy = self.keep(Backend(mode="echo", host="127.0.0.2"))
        light = self.keep(Backend(mode="echo", host="127.0.0.3"))
        self.dns.set("heavy.test", "A", ["127.0.0.2"])
        self.dns.set("light.test", "A", ["127.0.0.3"])
        self.dns.set(SVC + ".w.test", "SRV", [[0, 0, light.port, "light.test"],
                                              [0, 200, heavy.port, "heavy.test"]])
        d = self.srv_relay("pass from user \"alice\" to 127.0.0.2/32 port %d\n"
                           "pass from user \"alice\" to 127.0.0.3/32 port %d\n"
                           % (heavy.port, light.port))
        for _ in range(12):
            self.echo_ok(self.tunnel(d, Tunnel(fqdn="w.test", srv=SVC)))
        # weight 0 against 200: picked first 1 time in 201
        self.assertEqual(heavy.connections + light.connections, 12)
        self.assertGreaterEqual(heavy.connections, 10)
        self.finish(d)

    def test_failure_falls_back_to_the_port(self):
        b = self.keep(Backend(mode="echo", host="127.0.0.2"))
        self.dns.set("fb.test", "A", ["127.0.0.2"])      # no SRV record for the name
        d = self.srv_relay("pass from user \"alice\" to 127.0.0.2/32 port %d\n" % b.port)
        self.echo_ok(self.tunnel(d, Tunnel(fqdn="fb.test", srv=SVC, port=b.port)))
        self.assertEqual(self.dns.count(SVC + ".fb.test", "SRV"), 1)
        # a server failure too
        self.dns.set(SVC + ".fb.test", "SRV", "SERVFAIL")
        self.echo_ok(self.tunnel(d, Tunnel(fqdn="fb.test", srv=SVC, port=b.port)))
        self.assertEqual(b.connections, 2)
        self.finish(d)

    def test_failure_without_port_is_450(self):
        d = self.srv_relay("pass from user \"alice\" to any\n")
        t = self.tunnel(d, Tunnel(fqdn="nowhere.test", srv=SVC))
        self.assertFalse(t.ok)
        self.assertEqual(t.code, 450)
        self.assertIn("SRV look-up of %s.nowhere.test failed" % SVC, t.text)
        self.assertTrue(d.wait_log(r"outcome=refused code=450"))
        self.finish(d)

    def test_silent_nameserver_bounded(self):
        self.dns.set(SVC + ".quiet.test", "SRV", "DROP")
        d = self.srv_relay("pass from user \"alice\" to any\n")
        t0 = time.monotonic()
        t = self.tunnel(d, Tunnel(fqdn="quiet.test", srv=SVC))
        self.assertFalse(t.ok)
        self.assertEqual(t.code, 450)
        self.assertIn("no answer", t.text)
        self.assertLess(time.monotonic() - t0, 9)
        self.finish(d)

    def test_dot_target_means_no_service(self):
        b = self.keep(Backend(mode="echo", host="127.0.0.2"))
        self.dns.set("none.test", "A", ["127.0.0.2"])
        self.dns.set(SVC + ".none.test", "SRV", [[0, 0, 0, "."]])
        d = self.srv_relay("pass from user \"alice\" to 127.0.0.2/32 port %d\n" % b.port)
        # even with a port: "." is an answer, not a failure
        t = self.tunnel(d, Tunnel(fqdn="none.test", srv=SVC, port=b.port))
        self.assertFalse(t.ok)
        self.assertEqual(t.code, 450)
        self.assertIn("not available", t.text)
        self.assertEqual(b.connections, 0)
        self.finish(d)

    def test_target_refused_by_policy_never_connected(self):
        sentinel = self.keep(Backend(mode="echo", host="127.0.0.1"))
        self.dns.set("inside.test", "A", ["127.0.0.1"])
        self.dns.set(SVC + ".p.test", "SRV", [[0, 0, sentinel.port, "inside.test"]])
        d = self.srv_relay("pass from user \"alice\" to host \"*.test\"\n")
        t = self.tunnel(d, Tunnel(fqdn="p.test", srv=SVC))
        self.assertFalse(t.ok)
        self.assertEqual(t.code, 537)
        self.assertEqual(sentinel.connections, 0)
        self.assertTrue(d.wait_log(r"dest=127\.0\.0\.1:%d .*decision=block" % sentinel.port))
        self.finish(d)

    def test_catalog_only_refuses_srv(self):
        d = self.srv_relay("catalog-only\npass from user \"alice\" to any\n")
        t = self.tunnel(d, Tunnel(fqdn="svc.test", srv=SVC))
        self.assertFalse(t.ok)
        self.assertEqual(t.code, 554)
        self.assertEqual(self.dns.count(), 0)        # not even looked up
        self.finish(d)


if __name__ == "__main__":
    from integration.harness import main
    main()
