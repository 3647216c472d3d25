"""TUNNEL (RFC 3620) and SASL through real beepgated processes, with the
independent peers of tests/peers as clients, next hops and final hosts."""
import hashlib
import os
import re
import socket
import threading
import time
import unittest

from integration.harness import Backend, free_port, recv_exact, sha256
from integration.tunnel_env import ECHO, LOOP, USERS, RelayTestCase, relay_conf, secret_file
from peers import beep
from peers.beep import EchoProfile, Tunnel, TunnelResponder



SASL_SCRAM = "http://iana.org/beep/SASL/SCRAM-SHA-256"


class SaslStartRefused:
    """A next hop's SASL profile that refuses every start with code/text."""

    def __init__(self, code, text):
        self.code, self.text = code, text

    def __call__(self):
        return self

    def on_start(self, sess, channel, content, m):
        raise beep.ErrorReply(self.code, self.text)


class SaslErrorPiggybacked(SaslStartRefused):
    """Accepts the start but puts an <error> where the <blob> belongs."""

    def on_start(self, sess, channel, content, m):
        return beep.error_xml(self.code, self.text)


class SaslHangUp(SaslStartRefused):
    """Closes the connection when asked to authenticate."""

    def on_start(self, sess, channel, content, m):
        sess.stop_serving = True
        sess.sock.shutdown(socket.SHUT_RDWR)
        return beep.Session.HANDLED


def tunnel_line(d, timeout=10.0, **want):
    """Waits for the relay's one audit line of a TUNNEL request with the
    fields in want (exact values); returns the fields of the first match."""
    fields = ("session", "src", "user", "req", "dst", "decision", "outcome", "code", "text")
    any_ = {"session": r"\w+", "src": r"[\d.:\[\]a-f]+", "req": r'[^"]*', "text": r'[^"]*'}
    rx = r"tunnel " + " ".join(
        ('%s="%s"' if f in ("req", "text") else "%s=%s") %
        (f, "(?P<%s>%s)" % (f, re.escape(str(want[f])) if f in want else any_.get(f, r"\S+")))
        for f in fields)
    if not d.wait_log(rx, timeout=timeout):
        raise AssertionError("no audit line %r in:\n%s" % (want, "\n".join(
            line for line in d.log().splitlines() if "tunnel session=" in line)))
    return re.search(rx, d.log()).groupdict()


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
        # audited although nothing of the request was read
        tunnel_line(d, user="-", req="-", dst="-", decision="-", outcome="refused", code=530,
                    text="authentication required")
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
        a = tunnel_line(d, user="alice", req="ip4=127.0.0.1:%d>empty" % fin.port,
                        dst="127.0.0.1:%d" % fin.port, decision="pass", outcome="ok", code=200)
        self.assertTrue(d.wait_log(r"audit session=%s .*dest=127\.0\.0\.1:%d .*decision=pass"
                                   % (a["session"], fin.port)))
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
        dead = free_port()
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=dead, inner=Tunnel()))
        self.assertEqual((t.ok, t.code), (False, 450))
        tunnel_line(d, user="alice", req="ip4=127.0.0.1:%d>empty" % dead,
                    dst="127.0.0.1:%d" % dead, decision="pass", outcome="refused", code=450)
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
        tunnel_line(d, dst="127.0.0.1:%d" % b.port, decision="pass", outcome="refused", code=550)
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
        tunnel_line(d, dst="127.0.0.1:%d" % fin.port, decision="pass", outcome="refused",
                    code=537, text="final says no to you")
        s.close()
        self.finish(d)

    def test_next_hop_text_cannot_forge_log_lines(self):
        forged = 'no "entry"\ntunnel session=ff src=1.2.3.4:1 user=root outcome=ok \\ end'
        fin = self.final_peer(reply="error", error=(537, forged))
        d = self.relay()
        s, r = login(d.port)
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=fin.port, inner=Tunnel()))
        self.assertEqual((t.ok, t.code, t.text), (False, 537, forged))   # unchanged to the client
        self.assertTrue(d.wait_log(re.escape(
            'outcome=refused code=537 text="no \\"entry\\"\\x0atunnel session=ff src=1.2.3.4:1 '
            'user=root outcome=ok \\\\ end"')), d.log()[-1500:])
        self.assertEqual(d.count_log(r"(?m)^tunnel session=ff"), 0)
        for line in d.log().splitlines():
            if "session=ff" in line:
                self.assertRegex(line, r"^\d{4}-\d\d-\d\dT[\d:.]+Z beepgated\[\w+\]: ")
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
            tunnel_line(d, req="-", dst="-", decision="-", outcome="refused", code=t.code,
                        text=t.text)
        # one audit line per request, policy never asked
        self.assertEqual(d.count_log(r"tunnel session=\w+ .* decision=- outcome=refused"),
                         len(cases))
        self.assertEqual(d.count_log(r"audit session="), 0)
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
        tunnel_line(d, req="ip4=127.0.0.1:%d" % sentinel.port, decision="deny",
                    outcome="refused", code=537)
        tunnel_line(d, req="fqdn=localhost:%d" % sentinel.port, decision="deny",
                    outcome="refused", code=537)
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

    def test_next_hop_without_route_credentials_530_passed_unchanged(self):
        fin = self.final_peer()
        b = self.relay(rules="pass from user \"relayA\" to 127.0.0.0/8 port 1-65535\n", name="B")
        a = self.relay(rules=LOOP, name="A")       # no route (credentials) for B
        s, r = login(a.port)
        t = beep.tunnel_start(s, beep.tunnel_chain({"ip4": "127.0.0.1", "port": b.port},
                                                   {"ip4": "127.0.0.1", "port": fin.port}))
        # B's own refusal, unchanged (RFC 3620 sec. 4)
        self.assertEqual((t.ok, t.code, t.text), (False, 530, "authentication required"))
        tunnel_line(b, user="-", req="-", decision="-", outcome="refused", code=530)
        tunnel_line(a, dst="127.0.0.1:%d" % b.port, decision="pass", outcome="refused",
                    code=530, text="authentication required")
        self.assertEqual(fin.connections, 0)
        # the session stays usable
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=fin.port, inner=Tunnel()))
        self.assertTrue(t.ok, (t.code, t.text))
        t.sock.close()
        self.finish(a)
        self.finish(b)

    def test_next_hop_policy_refusal_537_passed_unchanged(self):
        fin = self.final_peer()
        # B lets relayA reach nothing but port 1
        b = self.relay(rules="pass from user \"relayA\" to 127.0.0.1 port 1\n", name="B")
        sec = secret_file(self.sdir, "relayA-537.secret", USERS["relayA"])
        a = self.relay(rules=LOOP, name="A",
                       extra='route "to-b" { connect 127.0.0.1 port %d user "relayA" secret "%s" }\n'
                       % (b.port, sec))
        s, r = login(a.port)
        t = beep.tunnel_start(s, beep.tunnel_chain({"ip4": "127.0.0.1", "port": b.port},
                                                   {"ip4": "127.0.0.1", "port": fin.port}))
        self.assertFalse(t.ok)
        bl = tunnel_line(b, user="relayA", req="ip4=127.0.0.1:%d>empty" % fin.port,
                         decision="deny", outcome="refused", code=537)
        self.assertEqual((t.code, t.text), (537, bl["text"]))
        tunnel_line(a, user="alice", decision="pass", outcome="refused", code=537, text=bl["text"])
        self.assertEqual(fin.connections, 0)
        s.close()
        self.finish(a)
        self.finish(b)

    def test_next_hop_refusing_the_session_is_450(self):
        busy = self.keep(beep.BeepServer({beep.TUNNEL_URI: TunnelResponder()},
                                         greeting_error=(421, "too busy, try later")))
        d = self.relay()
        s, r = login(d.port)
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=busy.port, inner=Tunnel()))
        self.assertEqual((t.ok, t.code), (False, 450))
        self.assertIn("next hop refused the BEEP session", t.text)
        self.assertIn("421 too busy, try later", t.text)
        tunnel_line(d, decision="pass", outcome="refused", code=450, text=t.text)
        s.close()
        self.finish(d)

    def test_next_hop_authentication_stages(self):
        """Each way a next hop can refuse our SASL exchange, with the code
        the client gets: temporary (4xx from it, or a hang-up) 450; final
        554 carrying its own code and text; no mechanism in common 534."""
        cases = [
            # (profiles of the next hop, expected code, expected text pattern)
            ({"http://iana.org/beep/SASL/OTP": SaslStartRefused(550, "unused")},
             534, r"no usable SASL mechanism offered by the next hop .*\(it offers: OTP\)$"),
            ({SASL_SCRAM: SaslStartRefused(421, "service not available")},
             450, r"failed for now: it answered 421 service not available$"),
            ({SASL_SCRAM: SaslStartRefused(535, "relayA is locked")},
             554, r"failed: it answered 535 relayA is locked$"),
            ({SASL_SCRAM: SaslErrorPiggybacked(535, "unknown user")},
             554, r"failed: it answered 535 unknown user$"),
            ({SASL_SCRAM: SaslHangUp(0, "")},
             450, r"next hop closed during authentication"),
        ]
        sec = secret_file(self.sdir, "relayA-stages.secret", USERS["relayA"])
        hops, routes = [], ""
        for i, (profs, code, rx) in enumerate(cases):
            p = dict(profs)
            p[beep.TUNNEL_URI] = TunnelResponder()
            hop = self.keep(beep.BeepServer(p))
            hops.append(hop)
            routes += 'route "r%d" { connect 127.0.0.1 port %d user "relayA" secret "%s" }\n' % (
                i, hop.port, sec)
        d = self.relay(extra=routes)
        s, r = login(d.port)
        for hop, (profs, code, rx) in zip(hops, cases):
            t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=hop.port, inner=Tunnel()))
            self.assertEqual((t.ok, t.code), (False, code), (list(profs), t.text))
            self.assertRegex(t.text, rx)
            self.assertNotIn(USERS["relayA"], t.text)
            tunnel_line(d, dst="127.0.0.1:%d" % hop.port, decision="pass", outcome="refused",
                        code=code, text=t.text)
        self.assertNotIn(USERS["relayA"], d.log())
        s.close()
        self.finish(d)

    def test_next_hop_penalty_is_temporary(self):
        fin = self.final_peer()
        port = free_port()
        conf = relay_conf(port, self.db, "pass from user \"relayA\" to 127.0.0.0/8 port 1-65535\n")
        b = self.daemon(conf.replace("max-failures 3\n", "max-failures 3\n  penalty 1 failures 60s\n"),
                        name="B")
        b.port = port
        sec = secret_file(self.sdir, "wrong-pen.secret", "not-the-secret")
        a = self.relay(rules=LOOP, name="A",
                       extra='route "to-b" { connect 127.0.0.1 port %d user "relayA" secret "%s" }\n'
                       % (b.port, sec))
        s, r = login(a.port)
        chain = beep.tunnel_chain({"ip4": "127.0.0.1", "port": b.port},
                                  {"ip4": "127.0.0.1", "port": fin.port})
        t = beep.tunnel_start(s, chain)
        self.assertEqual((t.ok, t.code), (False, 554))
        self.assertRegex(t.text, r"it answered 535 ")
        # B now refuses A's address for a while: a temporary failure
        t = beep.tunnel_start(s, chain)
        self.assertEqual((t.ok, t.code), (False, 450))
        self.assertRegex(t.text, r"failed for now: it answered 454 temporary authentication "
                                 r"failure")
        self.assertEqual(fin.connections, 0)
        s.close()
        self.finish(a)
        self.finish(b)

    def test_setup_deadline_answers_the_pending_request(self):
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)            # accepts (kernel) but never speaks
        self.addCleanup(silent.close)
        port = free_port()
        hs = 4000 if os.environ.get("BEEPGATE_VALGRIND") else 1500   # login is slow there
        d = self.daemon(relay_conf(port, self.db, LOOP, timeouts="timeouts { handshake %dms "
                                   "connect 3s idle 60s fin 10s hard-stop 5s }\n" % hs))
        d.port = port
        s, r = login(d.port)
        t0 = time.monotonic()
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=silent.getsockname()[1],
                                        inner=Tunnel()))
        self.assertEqual((t.ok, t.code), (False, 450), t.text)
        self.assertIn("set-up deadline", t.text)
        self.assertLess(time.monotonic() - t0, hs / 1000.0 + 3.0)
        tunnel_line(d, dst="127.0.0.1:%d" % silent.getsockname()[1], decision="pass",
                    outcome="refused", code=450, text=t.text)
        self.assertTrue(d.wait_log(r'reason="handshake timeout"'))
        s.close()
        self.finish(d)

    def test_request_abandoned_by_the_client_is_audited(self):
        slow = self.final_peer(delay=3.0)
        d = self.relay()
        s, r = login(d.port)
        got = []

        def ask():
            try:
                got.append(beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=slow.port,
                                                       inner=Tunnel())))
            except (OSError, beep.ConnectionClosed, beep.ProtocolError) as e:
                got.append(e)
        th = threading.Thread(target=ask, daemon=True)
        th.start()
        self.assertTrue(d.wait_log(r"audit session=\w+ .*dest=127\.0\.0\.1:%d" % slow.port))
        time.sleep(0.2)
        s.sock.shutdown(socket.SHUT_RDWR)
        tunnel_line(d, dst="127.0.0.1:%d" % slow.port, decision="pass", outcome="abandoned",
                    code=0)
        th.join(5)
        self.assertEqual(len(got), 1)
        self.assertNotIsInstance(got[0], beep.TunnelResult)   # no answer reached it
        self.assertEqual(d.count_log(r"tunnel session=\w+ .*outcome=ok"), 0)
        s.close()
        self.finish(d)

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
        tunnel_line(d, req="endpoint=nonesuch", dst="-", decision="deny", outcome="refused",
                    code=537)
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
        tunnel_line(d, req="ip4=127.0.0.1:%d>empty" % fin.port, decision="deny",
                    outcome="refused", code=554)
        t = beep.tunnel_start(s, Tunnel(endpoint="manager"))
        self.assertTrue(t.ok, (t.code, t.text))
        t.sock.close()
        self.finish(d)


if __name__ == "__main__":
    from integration.harness import main
    main()
