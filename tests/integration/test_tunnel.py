"""TUNNEL (RFC 3620) and SASL through real beepgated processes, with the
independent peers of tests/peers as clients, next hops and final hosts."""
import hashlib
import os
import socket
import threading
import time
import unittest

from integration.harness import Backend, free_port, recv_exact, sha256
from integration.tunnel_env import ECHO, LOOP, USERS, RelayTestCase, secret_file
from peers import beep
from peers.beep import EchoProfile, Tunnel, TunnelResponder



def login(port, user="alice", password=None, mech="SCRAM-SHA-256"):
    s = beep.open_session("127.0.0.1", port, timeout=10)
    r = beep.sasl_login(s, mech, user, USERS.get(user) if password is None else password)
    return s, r


class TunnelTest(RelayTestCase):
    def final_peer(self, **kw):
        resp = TunnelResponder(**kw)
        srv = self.keep(beep.BeepServer({beep.TUNNEL_URI: resp, ECHO: EchoProfile}))
        srv.responder = resp
        return srv

    # ---- authentication ------------------------------------------------

    def test_greeting_offers_scram_and_tunnel_only(self):
        d = self.relay()
        s = beep.open_session("127.0.0.1", d.port)
        profs = s.peer_greeting.profiles
        self.assertIn(beep.TUNNEL_URI, profs)
        self.assertIn("http://iana.org/beep/SASL/SCRAM-SHA-256", profs)
        self.assertNotIn("http://iana.org/beep/SASL/PLAIN", profs)
        self.assertNotIn("http://iana.org/beep/SASL/ANONYMOUS", profs)
        s.close()
        self.finish(d)

    def test_tunnel_before_auth_is_530(self):
        fin = self.final_peer()
        d = self.relay()
        s = beep.open_session("127.0.0.1", d.port)
        r = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=fin.port, inner=Tunnel()))
        self.assertFalse(r.ok)
        self.assertEqual(r.code, 530)
        self.assertEqual(fin.connections, 0)
        s.close()
        self.finish(d)

    def test_scram_right_and_wrong(self):
        d = self.relay()
        s, r = login(d.port)
        self.assertTrue(r.ok, r.text)
        self.assertTrue(r.server_verified)
        s.close()
        s, bad = login(d.port, password="wrong")
        self.assertFalse(bad.ok)
        s.close()
        s, nouser = login(d.port, user="mallory", password="x")
        self.assertFalse(nouser.ok)
        # no user probing: unknown user and wrong password look the same
        self.assertEqual((bad.code, bad.text), (nouser.code, nouser.text))
        s.close()
        self.assertNotIn(USERS["alice"], d.log())
        self.finish(d)

    def test_second_authentication_refused(self):
        d = self.relay()
        s, r = login(d.port)
        self.assertTrue(r.ok)
        r2 = beep.sasl_login(s, "SCRAM-SHA-256", "bob", USERS["bob"])
        self.assertFalse(r2.ok)
        s.close()
        self.finish(d)

    def test_failure_limit_closes_session(self):
        d = self.relay()
        s = beep.open_session("127.0.0.1", d.port)
        for _ in range(3):
            r = beep.sasl_login(s, "SCRAM-SHA-256", "alice", "nope")
            self.assertFalse(r.ok)
        with self.assertRaises((beep.ConnectionClosed, OSError, beep.ProtocolError)):
            for _ in range(3):
                beep.sasl_login(s, "SCRAM-SHA-256", "alice", "nope")
        self.assertTrue(d.wait_log(r"too many authentication failures"))
        s.close()
        self.finish(d)

    def test_abort(self):
        d = self.relay()
        s = beep.open_session("127.0.0.1", d.port)
        r = beep.sasl_login(s, "SCRAM-SHA-256", "alice", USERS["alice"], abort_after_first=True)
        self.assertFalse(r.ok)
        r = beep.sasl_login(s, "SCRAM-SHA-256", "alice", USERS["alice"])
        self.assertTrue(r.ok, r.text)
        s.close()
        self.finish(d)

    # ---- one hop -------------------------------------------------------

    def test_one_hop_beep_final_echo(self):
        fin = self.final_peer()
        d = self.relay()
        s, r = login(d.port)
        self.assertTrue(r.ok)
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=fin.port, inner=Tunnel()))
        self.assertTrue(t.ok, (t.code, t.text))
        e2e = beep.continue_session(t)
        e2e.wait_greeting()
        st = e2e.start_channel([ECHO])
        self.assertTrue(st.ok)
        for n in (11, 1 << 20):
            data = os.urandom(n)
            m = e2e.request(st.channel, data)
            self.assertEqual(sha256(m.payload), sha256(data))
        self.assertEqual(fin.errors, [])
        # the final received the re-serialized inner element, piggybacked
        self.assertEqual(len(fin.responder.log), 1)
        where, xml = fin.responder.log[0]
        self.assertEqual(where, "start")
        self.assertEqual(beep.parse_tunnel(xml), [{}])
        e2e.close()
        self.assertTrue(d.wait_log(r"tunnel session=\w+ .*user=alice .*outcome=ok"))
        self.assertTrue(d.wait_log(r"session=\w+ src=127\.0\.0\.1:\d+ user=alice dst=127\.0\.0\.1:%d" % fin.port))
        self.finish(d)

    def test_request_sent_on_channel(self):
        fin = self.final_peer()
        d = self.relay()
        s, r = login(d.port)
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=fin.port, inner=Tunnel()),
                              piggyback=False)
        self.assertTrue(t.ok, (t.code, t.text))
        e2e = beep.continue_session(t)
        e2e.wait_greeting()
        st = e2e.start_channel([ECHO])
        self.assertEqual(e2e.request(st.channel, b"hello").payload, b"hello")
        e2e.close()
        self.finish(d)

    def test_ok_greeting_and_extra_in_one_write(self):
        extra = b"EXTRA-BYTES-AFTER-GREETING"
        fin = self.final_peer(one_write=True, extra=extra)
        d = self.relay()
        s, r = login(d.port)
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=fin.port, inner=Tunnel()))
        self.assertTrue(t.ok, (t.code, t.text))
        got = t.leftover
        t.sock.settimeout(5)
        deadline = time.monotonic() + 5
        while extra not in got and time.monotonic() < deadline:
            chunk = t.sock.recv(65536)
            if not chunk:
                break
            got += chunk
        # exactly: the final's new greeting (a channel-0 RPY) then extra
        self.assertTrue(got.startswith(b"RPY 0 0 . 0 "), got[:40])
        self.assertTrue(got.endswith(b"END\r\n" + extra), got[-60:])
        t.sock.close()
        self.finish(d)

    def test_non_beep_final_echo_and_banner(self):
        echo = self.keep(Backend(mode="banner", banner=b"login: "))
        d = self.relay()
        s, r = login(d.port)
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=echo.port))
        self.assertTrue(t.ok, (t.code, t.text))
        got = t.leftover + recv_exact(t.sock, 7 - len(t.leftover)) if len(t.leftover) < 7 else t.leftover
        self.assertEqual(got[:7], b"login: ")
        t.sock.sendall(b"ping")
        self.assertEqual(recv_exact(t.sock, 4), b"ping")
        t.sock.close()
        self.finish(d)

    def test_32mib_each_way_with_beep_patterns(self):
        n = 32 << 20
        # a source whose data is full of BEEP-looking patterns
        pat = (b"END\r\nRPY 0 0 . 0 52\r\nSEQ 0 0 4096\r\n" * 4096)
        data = (pat * (n // len(pat) + 1))[:n]
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        fport = srv.getsockname()[1]
        result = {}

        def final():
            c, _ = srv.accept()
            h = hashlib.sha256()
            got = [0]

            def rd():
                while True:
                    x = c.recv(1 << 20)
                    if not x:
                        return
                    h.update(x)
                    got[0] += len(x)
            t = threading.Thread(target=rd)
            t.start()
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            t.join(120)
            result["sha"] = h.hexdigest()
            result["n"] = got[0]
            c.close()
        ft = threading.Thread(target=final, daemon=True)
        ft.start()
        d = self.relay()
        s, r = login(d.port)
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=fport))
        self.assertTrue(t.ok, (t.code, t.text))
        h = hashlib.sha256(t.leftover)
        total = [len(t.leftover)]

        def rd():
            while True:
                x = t.sock.recv(1 << 20)
                if not x:
                    return
                h.update(x)
                total[0] += len(x)
        rt = threading.Thread(target=rd)
        rt.start()
        t.sock.sendall(data)
        t.sock.shutdown(socket.SHUT_WR)
        rt.join(120)
        ft.join(120)
        srv.close()
        self.assertEqual(total[0], n)
        self.assertEqual(h.hexdigest(), sha256(data))
        self.assertEqual(result["sha"], sha256(data))
        t.sock.close()
        self.finish(d)

    # ---- errors --------------------------------------------------------

    def test_unreachable_is_450(self):
        d = self.relay()
        s, r = login(d.port)
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=free_port(), inner=Tunnel()))
        self.assertEqual((t.ok, t.code), (False, 450))
        # the session stays usable
        fin = self.final_peer()
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=fin.port, inner=Tunnel()))
        self.assertTrue(t.ok, (t.code, t.text))
        t.sock.close()
        self.finish(d)

    def test_next_hop_not_beep_is_550(self):
        b = self.keep(Backend(mode="banner", banner=b"SSH-2.0-OpenSSH_9.2\r\n"))
        d = self.relay()
        s, r = login(d.port)
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=b.port, inner=Tunnel()))
        self.assertEqual((t.ok, t.code), (False, 550))
        self.assertIn("SSH-2.0", t.text)
        s.close()
        self.finish(d)

    def test_next_hop_without_tunnel_is_550(self):
        fin = self.keep(beep.BeepServer({ECHO: EchoProfile}))
        d = self.relay()
        s, r = login(d.port)
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=fin.port, inner=Tunnel()))
        self.assertEqual((t.ok, t.code), (False, 550))
        self.assertIn("TUNNEL", t.text)
        s.close()
        self.finish(d)

    def test_final_refusal_passed_back_unchanged(self):
        fin = self.final_peer(reply="error", error=(537, "final says no to you"))
        d = self.relay()
        s, r = login(d.port)
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=fin.port, inner=Tunnel()))
        self.assertEqual((t.ok, t.code, t.text), (False, 537, "final says no to you"))
        s.close()
        self.finish(d)

    def test_malformed_elements(self):
        d = self.relay(rules=LOOP, extra="limits { max-hops 3 }\n")
        s, r = login(d.port)
        cases = [
            ("<tunnel fqdn='a.example'/>", 501),
            ("<tunnel port='604'/>", 501),
            ("<tunnel ip4='127.1' port='604'/>", 501),
            ("<tunnel ip4='127.0.0.1' port='0'/>", 501),
            ("<tunnel ip4='127.0.0.1' port='65536'/>", 501),
            ("<tunnel profile='x' port='1'/>", 501),
            ("<tunnel ip4='127.0.0.1' port='9'>text</tunnel>", 501),
            ("<tunnel", 500),
            ("<!DOCTYPE x [<!ENTITY a 'b'>]><tunnel/>", 500),
            ("<tunnel ip4='127.0.0.1' port='1'><tunnel ip4='127.0.0.1' port='1'><tunnel ip4="
             "'127.0.0.1' port='1'><tunnel ip4='127.0.0.1' port='1'/></tunnel></tunnel></tunnel>", 501),
        ]
        for xml, code in cases:
            t = beep.tunnel_start(s, xml)
            self.assertFalse(t.ok, xml)
            self.assertEqual(t.code // 100, 5, (xml, t.code, t.text))
            self.assertIn(t.code, (500, 501, 504), (xml, t.code, t.text))
        s.close()
        self.finish(d)

    def test_policy_denied_sentinel_untouched(self):
        sentinel = self.keep(Backend(mode="echo"))
        d = self.relay(rules="pass from user \"bob\" to 127.0.0.0/8 port 1-65535\n")
        s, r = login(d.port)
        for el in (Tunnel(ip4="127.0.0.1", port=sentinel.port),
                   Tunnel(fqdn="localhost", port=sentinel.port),
                   Tunnel(ip6="::ffff:127.0.0.1", port=sentinel.port)):
            t = beep.tunnel_start(s, el)
            self.assertFalse(t.ok)
            self.assertIn(t.code, (537, 554, 450))
        time.sleep(0.3)
        self.assertEqual(sentinel.connections, 0)
        self.assertTrue(d.wait_log(r"audit session=\w+ .*decision=block"))
        s.close()
        self.finish(d)

    def test_guard_blocks_loopback_without_explicit_rule(self):
        sentinel = self.keep(Backend(mode="echo"))
        d = self.relay(rules="pass from user \"alice\" to any\n")
        s, r = login(d.port)
        for host in ("127.0.0.1", "127.1", "2130706433", "0x7f000001"):
            el = Tunnel(ip4=host, port=sentinel.port) if host == "127.0.0.1" else \
                Tunnel(fqdn=host, port=sentinel.port)
            t = beep.tunnel_start(s, el)
            self.assertFalse(t.ok, host)
        time.sleep(0.3)
        self.assertEqual(sentinel.connections, 0)
        s.close()
        self.finish(d)

    def test_delayed_reply_does_not_block_others(self):
        slow = self.final_peer(delay=2.0)
        fast = self.final_peer()
        d = self.relay()
        res = {}

        def slow_client():
            s, r = login(d.port)
            t0 = time.monotonic()
            t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=slow.port, inner=Tunnel()))
            res["slow"] = (t.ok, time.monotonic() - t0)
            if t.sock:
                t.sock.close()
        th = threading.Thread(target=slow_client)
        th.start()
        time.sleep(0.3)
        s, r = login(d.port)
        t0 = time.monotonic()
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=fast.port, inner=Tunnel()))
        fast_time = time.monotonic() - t0
        self.assertTrue(t.ok)
        self.assertLess(fast_time, 0.5)
        t.sock.close()
        th.join(20)
        self.assertTrue(res["slow"][0])
        self.assertGreater(res["slow"][1], 1.8)
        self.finish(d)

    def test_silent_next_hops_and_one_normal(self):
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)           # accepts (kernel) but never speaks
        fin = self.final_peer()
        d = self.relay(extra="")
        sessions = []
        for _ in range(20):
            s, r = login(d.port)
            s.sock.sendall(b"")
            sessions.append(s)
        threads = []
        results = []

        def stuck(s):
            t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=silent.getsockname()[1],
                                            inner=Tunnel()))
            results.append(t.code)
        for s in sessions:
            th = threading.Thread(target=stuck, args=(s,), daemon=True)
            th.start()
            threads.append(th)
        time.sleep(0.3)
        s, r = login(d.port)
        t0 = time.monotonic()
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=fin.port, inner=Tunnel()))
        self.assertTrue(t.ok)
        self.assertLess(time.monotonic() - t0, 1.0)
        t.sock.close()
        silent.close()
        for th in threads:
            th.join(1)
        for s in sessions:
            s.close()
        self.finish(d)

    # ---- two hops ------------------------------------------------------

    def test_two_hops_with_next_hop_authentication(self):
        fin = self.final_peer()
        b = self.relay(rules="pass from user \"relayA\" to 127.0.0.0/8 port 1-65535\n", name="B")
        sec = secret_file(self.sdir, "relayA.secret", USERS["relayA"])
        a = self.relay(rules=LOOP, name="A",
                       extra='route "to-b" { connect 127.0.0.1 port %d user "relayA" secret "%s" }\n'
                       % (b.port, sec))
        s, r = login(a.port)
        t = beep.tunnel_start(s, beep.tunnel_chain({"ip4": "127.0.0.1", "port": b.port},
                                                   {"ip4": "127.0.0.1", "port": fin.port}))
        self.assertTrue(t.ok, (t.code, t.text))
        e2e = beep.continue_session(t)
        e2e.wait_greeting()
        st = e2e.start_channel([ECHO])
        data = os.urandom(1 << 20)
        self.assertEqual(sha256(e2e.request(st.channel, data).payload), sha256(data))
        e2e.close()
        self.assertTrue(b.wait_log(r"auth session=\w+ .*user=relayA mech=SCRAM-SHA-256 ok"))
        self.finish(a)
        self.finish(b)

    def test_two_hops_wrong_next_hop_secret(self):
        fin = self.final_peer()
        b = self.relay(rules="pass from user \"relayA\" to 127.0.0.0/8 port 1-65535\n", name="B")
        sec = secret_file(self.sdir, "wrong.secret", "not-the-secret")
        a = self.relay(rules=LOOP, name="A",
                       extra='route "to-b" { connect 127.0.0.1 port %d user "relayA" secret "%s" }\n'
                       % (b.port, sec))
        s, r = login(a.port)
        t = beep.tunnel_start(s, beep.tunnel_chain({"ip4": "127.0.0.1", "port": b.port},
                                                   {"ip4": "127.0.0.1", "port": fin.port}))
        self.assertFalse(t.ok)
        self.assertEqual(t.code, 554)
        # the next hop's own answer is passed on, no secret with it
        self.assertRegex(t.text, r"authentication to the next hop failed: it answered 535 ")
        self.assertNotIn("not-the-secret", t.text)
        self.assertEqual(fin.connections, 0)
        s.close()
        self.finish(a)
        self.finish(b)

    def test_next_hop_forged_scram_signature(self):
        forger = self.keep(beep.BeepServer({beep.TUNNEL_URI: TunnelResponder(require_auth=True),
                                            "http://iana.org/beep/SASL/SCRAM-SHA-256":
                                            beep.ScramServerProfile(user="relayA",
                                                                    password=USERS["relayA"],
                                                                    forge=True)}))
        sec = secret_file(self.sdir, "relayA2.secret", USERS["relayA"])
        a = self.relay(rules=LOOP, name="A",
                       extra='route "to-f" { connect 127.0.0.1 port %d user "relayA" secret "%s" }\n'
                       % (forger.port, sec))
        s, r = login(a.port)
        t = beep.tunnel_start(s, beep.tunnel_chain({"ip4": "127.0.0.1", "port": forger.port},
                                                   {"ip4": "127.0.0.1", "port": 9}))
        self.assertFalse(t.ok)
        self.assertIn("next hop", t.text)
        s.close()
        self.finish(a)

    def test_endpoint_through_catalog(self):
        fin = self.final_peer()
        d = self.relay(rules='pass from user "alice" to endpoint "manager"\n',
                       extra='service "manager" {\n  connect 127.0.0.1 port %d\n  endpoint\n}\n'
                       % fin.port)
        s, r = login(d.port)
        t = beep.tunnel_start(s, Tunnel(endpoint="manager"))
        self.assertTrue(t.ok, (t.code, t.text))
        t.sock.close()
        s2, r = login(d.port)
        t = beep.tunnel_start(s2, Tunnel(endpoint="nonesuch"))
        self.assertFalse(t.ok)
        t2 = beep.tunnel_start(s2, Tunnel(endpoint="manager"))
        self.assertTrue(t2.ok)
        t2.sock.close()
        self.finish(d)

    def test_catalog_only_refuses_source_routing(self):
        fin = self.final_peer()
        d = self.relay(rules=LOOP + 'pass from user "alice" to endpoint "manager"\n',
                       extra='catalog-only\nservice "manager" {\n  connect 127.0.0.1 port %d\n  endpoint\n}\n'
                       % fin.port)
        s, r = login(d.port)
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=fin.port, inner=Tunnel()))
        self.assertEqual((t.ok, t.code), (False, 554))
        self.assertEqual(fin.connections, 0)
        t = beep.tunnel_start(s, Tunnel(endpoint="manager"))
        self.assertTrue(t.ok, (t.code, t.text))
        t.sock.close()
        self.finish(d)


if __name__ == "__main__":
    from integration.harness import main
    main()
