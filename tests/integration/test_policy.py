"""Policy through a real beepgated: decisions on the address actually
connected (DNS rebinding), per-user tunnel limits, per-source concurrency and
rate limits.  Sentinel listeners prove that a refused destination is never
connected."""
import socket
import time
import unittest

from integration.harness import Backend, is_closed, recv_exact
from integration.tunnel_env import USERS, RelayTestCase
from peers import beep, dnsd
from peers.beep import Tunnel


def login(port, user="alice"):
    s = beep.open_session("127.0.0.1", port, timeout=10)
    r = beep.sasl_login(s, "SCRAM-SHA-256", user, USERS[user])
    return s, r


class PolicyTest(RelayTestCase):
    def tunnel(self, d, element, user="alice"):
        s, r = login(d.port, user)
        self.assertTrue(r.ok, (r.code, r.text))
        return s, beep.tunnel_start(s, element)

    def test_dns_rebinding_checked_on_the_connected_address(self):
        # The name first resolves to an allowed address (127.0.0.2, named by
        # a rule), then to 127.0.0.1 (loopback, named by no rule).  The
        # second request must be refused, and 127.0.0.1 never connected.
        good, sentinel = None, None
        for _ in range(20):         # same port on both addresses
            good = self.keep(Backend(mode="echo", host="127.0.0.2"))
            try:
                sentinel = self.keep(Backend(mode="echo", host="127.0.0.1", port=good.port))
                break
            except OSError:
                pass
        self.assertIsNotNone(sentinel)
        dns = self.keep(dnsd.DnsServer())
        dns.script("rebind.test", "A", [["127.0.0.2"], ["127.0.0.1"]])
        # (first match: the address rule must come before the host rule,
        # which matches too but cannot unlock a loopback address)
        d = self.relay('pass from user "alice" to 127.0.0.2/32 port %d\n'
                       'pass from user "alice" to host "*.test" port %d\n' % (good.port, good.port),
                       extra="nameserver 127.0.0.1 port %d\n" % dns.port)
        s, t = self.tunnel(d, Tunnel(fqdn="rebind.test", port=good.port))
        self.assertTrue(t.ok, (t.code, t.text, d.log()[-3000:]))
        t.sock.sendall(b"allowed")
        self.assertEqual(recv_exact(t.sock, 7), b"allowed")
        t.sock.close()

        s2, t2 = self.tunnel(d, Tunnel(fqdn="rebind.test", port=good.port))
        self.assertFalse(t2.ok)
        self.assertIn(t2.code, (537, 554))
        s2.close()
        self.assertGreaterEqual(dns.count("rebind.test", "A"), 2)
        self.assertEqual(good.connections, 1)
        self.assertEqual(sentinel.connections, 0)
        # the audit line names the address that was refused
        self.assertTrue(d.wait_log(r"req=rebind\.test:%d dest=127\.0\.0\.1:%d .*decision=block"
                                   % (good.port, good.port)), d.log()[-3000:])
        self.finish(d)

    def test_per_user_tunnel_limit(self):
        b = self.keep(Backend(mode="echo", host="127.0.0.2"))
        d = self.relay('pass from user * to 127.0.0.2/32 port %d\n' % b.port,
                       extra="limits { max-tunnels-per-user 1 }\n")
        el = Tunnel(ip4="127.0.0.2", port=b.port)
        s1, t1 = self.tunnel(d, el)
        self.assertTrue(t1.ok, (t1.code, t1.text))
        # a second tunnel for alice is refused with 421; bob is not affected
        s2, t2 = self.tunnel(d, el)
        self.assertFalse(t2.ok)
        self.assertEqual(t2.code, 421)
        s2.close()
        s3, t3 = self.tunnel(d, el, user="bob")
        self.assertTrue(t3.ok, (t3.code, t3.text))
        t3.sock.close()
        # once alice's tunnel ends, she may open another
        t1.sock.close()
        self.assertTrue(d.wait_log(r"user=alice .*reason=", count=2))
        deadline = time.monotonic() + 5
        ok = False
        while time.monotonic() < deadline and not ok:
            s4, t4 = self.tunnel(d, el)
            ok = t4.ok
            if ok:
                t4.sock.sendall(b"again")
                self.assertEqual(recv_exact(t4.sock, 5), b"again")
                t4.sock.close()
            else:
                self.assertEqual(t4.code, 421)
                s4.close()
                time.sleep(0.1)
        self.assertTrue(ok)
        self.finish(d)

    def test_per_source_concurrency(self):
        d = self.relay("", extra="limits { max-sessions-per-source 2 }\n")
        a = beep.open_session("127.0.0.1", d.port, timeout=10)
        b = beep.open_session("127.0.0.1", d.port, timeout=10)
        # the third from the same source is closed at once, without a greeting
        c = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        self.assertTrue(is_closed(c, timeout=3))
        c.close()
        # another source address is still served
        o = socket.socket()
        o.bind(("127.0.0.3", 0))
        o.settimeout(5)
        o.connect(("127.0.0.1", d.port))
        self.assertTrue(o.recv(4).startswith(b"RPY "))
        o.close()
        # after one closes, the source is served again
        a.close()
        self.assertTrue(d.wait_log(r'reason="max-sessions-per-source reached"'))
        deadline = time.monotonic() + 5
        served = False
        while time.monotonic() < deadline and not served:
            c = socket.create_connection(("127.0.0.1", d.port), timeout=5)
            try:
                served = c.recv(4).startswith(b"RPY ")
            except OSError:
                served = False
            c.close()
            if not served:
                time.sleep(0.1)
        self.assertTrue(served)
        b.close()
        self.finish(d)

    def test_per_source_rate(self):
        d = self.relay("", extra="limits { connection-rate 3 per 1s }\n")
        served = 0
        for _ in range(8):
            c = socket.create_connection(("127.0.0.1", d.port), timeout=5)
            try:
                if c.recv(4).startswith(b"RPY "):
                    served += 1
            except OSError:
                pass
            c.close()
        # a burst of 8 within well under a second: at most the bucket's 3
        self.assertGreaterEqual(served, 1)
        self.assertLessEqual(served, 3)
        self.assertTrue(d.wait_log(r"rate"), d.log()[-2000:])
        # other sources are not affected
        o = socket.socket()
        o.bind(("127.0.0.4", 0))
        o.settimeout(5)
        o.connect(("127.0.0.1", d.port))
        self.assertTrue(o.recv(4).startswith(b"RPY "))
        o.close()
        self.finish(d)


if __name__ == "__main__":
    from integration.harness import main
    main()
