"""Self-test of the independent test peers (tests/peers): proves they work
against each other and against RFC test vectors, so a failing integration
test cannot be blamed on them.  Needs no beepgated."""
import faulthandler
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from peers import beep, dnsd, echo  # noqa: E402
from peers.beep import (BEEP_XML, ECHO_URI, SASL_URI, TUNNEL_URI, BeepServer,  # noqa: E402
                        EchoProfile, ErrorReply, ProtocolError, ScramServerProfile, Session,
                        Tunnel, TunnelResponder)

TIMEOUT = 10.0


def sha(b):
    return hashlib.sha256(b).hexdigest()


class FrameTests(unittest.TestCase):
    def parse_all(self, data):
        out, pos = [], 0
        while True:
            r = beep.parse_frame(data, pos)
            if r is None:
                return out, data[pos:]
            out.append(r[0])
            pos += r[1]

    def test_build_and_parse(self):
        data = (beep.build_frame("MSG", 1, 0, 0, b"hello", more=True) +
                beep.build_frame("MSG", 1, 0, 5, b" you") +
                beep.build_seq(1, 9, 4096) +
                beep.build_frame("ANS", 1, 0, 0, b"a", ansno=3) +
                beep.build_frame("NUL", 1, 0, 1))
        self.assertEqual(data[:22], b"MSG 1 0 * 0 5\r\nhelloEN")
        frames, rest = self.parse_all(data)
        self.assertEqual(rest, b"")
        self.assertEqual([f.type for f in frames], ["MSG", "MSG", "SEQ", "ANS", "NUL"])
        self.assertTrue(frames[0].more)
        self.assertFalse(frames[1].more)
        self.assertEqual(frames[1].seqno, 5)
        self.assertEqual((frames[2].ackno, frames[2].window), (9, 4096))
        self.assertEqual(frames[3].ansno, 3)
        # a frame cut anywhere needs more bytes, never yields a wrong frame
        one = beep.build_frame("RPY", 0, 7, 100, b"x" * 10)
        for cut in range(len(one)):
            self.assertIsNone(beep.parse_frame(one[:cut]), cut)

    def test_malformed(self):
        bad = {
            b"FOO 1 0 . 0 0\r\nEND\r\n": "unknown keyword",
            b"MSG 1 0 . 0\r\n": "needs 5 fields",
            b"MSG 1 0 + 0 0\r\nEND\r\n": "continuation",
            b"MSG 01 0 . 0 0\r\nEND\r\n": "channel",
            b"MSG 2147483648 0 . 0 0\r\nEND\r\n": "out of range",
            b"MSG 1 0 . 4294967296 0\r\nEND\r\n": "out of range",
            b"NUL 1 0 . 0 1\r\nxEND\r\n": "NUL",
            b"MSG 1 0 . 0 2\r\nabENX\r\n": "trailer",
            b"MSG 1 0 . 0 0\nEND\r\n": "bare CR or LF",
            b"MSG " + b"1" * 200: "too long",
            b"SEQ 1 2\r\n": "SEQ needs",
        }
        for data, why in bad.items():
            with self.assertRaises(ProtocolError, msg=data) as cm:
                beep.parse_frame(data)
            self.assertIn(why, str(cm.exception), data)

    def test_mime(self):
        p = beep.mime("<ok />", BEEP_XML)
        self.assertEqual(p, b"Content-Type: application/beep+xml\r\n\r\n<ok />")
        h, b = beep.mime_split(p)
        self.assertEqual(h, {"content-type": BEEP_XML})
        self.assertEqual(b, b"<ok />")
        self.assertEqual(beep.mime_split(b"\r\nbody"), ({}, b"body"))

    def test_window_overrun_detected(self):
        """The strict receiver refuses a frame beyond the advertised window."""
        a, b = socket.socketpair()
        try:
            s = Session(a, "listener", [ECHO_URI], timeout=TIMEOUT)
            greet = beep.mime(beep.greeting_xml(), BEEP_XML)
            b.sendall(beep.build_frame("RPY", 0, 0, 0, greet) +
                      beep.build_frame("MSG", 0, 1, len(greet), b"\r\n" + b"x" * 5000))
            s.wait_greeting()
            with self.assertRaises(ProtocolError) as cm:
                s.read_frame()
            self.assertIn("exceeds the advertised window", str(cm.exception))
        finally:
            a.close()
            b.close()

    def test_wrong_seqno_detected(self):
        a, b = socket.socketpair()
        try:
            s = Session(a, "listener", [], timeout=TIMEOUT)
            b.sendall(beep.build_frame("RPY", 0, 0, 3, beep.mime("<greeting />", BEEP_XML)))
            with self.assertRaises(ProtocolError) as cm:
                s.wait_greeting()
            self.assertIn("seqno 3, expected 0", str(cm.exception))
        finally:
            a.close()
            b.close()

    def test_tunnel_builder(self):
        t = Tunnel(fqdn="proxy2.example.com", port=604,
                   inner=Tunnel(fqdn="final.example.com", port=10290, inner=Tunnel()))
        self.assertEqual(t.xml(), "<tunnel fqdn='proxy2.example.com' port='604'>"
                                  "<tunnel fqdn='final.example.com' port='10290'>"
                                  "<tunnel /></tunnel></tunnel>")
        self.assertEqual(beep.tunnel_chain({"fqdn": "proxy2.example.com", "port": 604},
                                           {"fqdn": "final.example.com", "port": 10290}).xml(), t.xml())
        self.assertEqual(beep.parse_tunnel(t.xml()),
                         [{"fqdn": "proxy2.example.com", "port": "604"},
                          {"fqdn": "final.example.com", "port": "10290"}, {}])
        self.assertEqual(Tunnel(ip6="::1", port=1).xml(), "<tunnel ip6='::1' port='1' />")
        self.assertEqual(Tunnel(fqdn="a.test", srv="_tunnel._tcp", port=604).xml(),
                         "<tunnel fqdn='a.test' port='604' srv='_tunnel._tcp' />")
        self.assertEqual(Tunnel(profile="http://x/'").xml(), "<tunnel profile='http://x/&apos;' />")
        self.assertEqual(beep.tunnel_chain({"ip4": "10.0.0.1", "port": 23}, final_beep=False).xml(),
                         "<tunnel ip4='10.0.0.1' port='23' />")


class BeepTests(unittest.TestCase):
    def setUp(self):
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.close()

    def server(self, profiles, **kw):
        s = BeepServer(profiles, **kw)
        self.servers.append(s)
        return s

    def test_greetings_and_echo(self):
        srv = self.server({ECHO_URI: EchoProfile})
        s = beep.open_session("127.0.0.1", srv.port, timeout=TIMEOUT)
        self.assertEqual(s.peer_greeting.profiles, [ECHO_URI])
        r = s.start_channel(ECHO_URI)
        self.assertTrue(r.ok, r)
        self.assertEqual(r.channel, 1)
        small = beep.mime(b"123456789")
        self.assertEqual(len(small), 11)
        rep = s.request(r.channel, small)
        self.assertEqual((rep.type, rep.payload), ("RPY", small))
        big = echo.pattern(1 << 20, seed=3)
        rep = s.request(r.channel, big)
        self.assertEqual(rep.type, "RPY")
        self.assertEqual(sha(rep.payload), sha(big))
        # the 1 MiB went both ways in window-sized frames acknowledged by SEQ
        self.assertGreaterEqual(rep.frames, 256)
        self.assertGreaterEqual(s.seq_received, 256)
        self.assertGreaterEqual(s.seq_sent, 256)
        sizes = [n for t, ch, n in s.frames_in if t == "RPY" and ch == 1]
        self.assertLessEqual(max(sizes), 4096)
        self.assertEqual(sum(sizes), len(small) + len(big))
        ok, err = s.close_channel(r.channel)
        self.assertTrue(ok, err)
        ok, err = s.close_channel(0)
        self.assertTrue(ok, err)
        s.close()
        time.sleep(0.1)
        self.assertEqual(srv.errors, [])
        self.assertEqual(srv.connections, 1)

    def test_small_window_and_frame_split(self):
        """The listener advertises 512-octet windows and the client splits
        into 1000-octet frames: no frame may pass the window (the strict
        listener would record an error)."""
        srv = self.server({ECHO_URI: EchoProfile}, recv_window=512)
        s = beep.open_session("127.0.0.1", srv.port, timeout=TIMEOUT, max_frame=1000)
        r = s.start_channel(ECHO_URI)
        data = echo.pattern(100000, seed=5)
        rep = s.request(r.channel, data)
        self.assertEqual(sha(rep.payload), sha(data))
        srv_sizes = [n for t, ch, n in srv.sessions[0].frames_in if t == "MSG" and ch == 1]
        self.assertLessEqual(max(srv_sizes), 1000)
        # beyond the initial 4096-octet window only 512-octet windows were offered
        off, late = 0, []
        for n in srv_sizes:
            if off >= 4096:
                late.append(n)
            off += n
        self.assertGreater(len(late), 190)
        self.assertLessEqual(max(late), 512)
        self.assertEqual(sum(srv_sizes), len(data))
        self.assertEqual(srv.errors, [])
        s.close()

    def test_start_refused_and_listener_parity(self):
        srv = self.server({ECHO_URI: EchoProfile})
        s = beep.open_session("127.0.0.1", srv.port, timeout=TIMEOUT)
        r = s.start_channel("http://beepgate.test/NOPE")
        self.assertFalse(r.ok)
        self.assertEqual(r.code, 550)
        r = s.start_channel(ECHO_URI, number=2)       # even: listener's numbers
        self.assertFalse(r.ok)
        self.assertEqual(r.code, 501)
        r = s.start_channel([(ECHO_URI, "<hello/>", "base64")])
        self.assertTrue(r.ok)
        self.assertEqual(r.content, "<hello/>")
        s.close()

    def test_listener_role_starts_even_channels(self):
        """Roles reversed: the connecting side hosts ECHO, the accepting side starts it."""
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        port = lsock.getsockname()[1]
        result = {}

        def initiator_hosts():
            s = beep.open_session("127.0.0.1", port, profiles=[ECHO_URI], timeout=TIMEOUT)
            result["greeting"] = s.peer_greeting.profiles
            s.serve({ECHO_URI: EchoProfile}, on_error=lambda e: result.setdefault("err", e))
            s.close()
        t = threading.Thread(target=initiator_hosts, daemon=True)
        t.start()
        c, _ = lsock.accept()
        lsock.close()
        s = Session(c, "listener", [], timeout=TIMEOUT)
        self.assertEqual(s.wait_greeting().profiles, [ECHO_URI])
        r = s.start_channel(ECHO_URI)
        self.assertTrue(r.ok, r)
        self.assertEqual(r.channel, 2)
        self.assertEqual(s.request(2, b"\r\nping").payload, b"\r\nping")
        s.close_channel(0)
        t.join(TIMEOUT)
        s.close()
        self.assertEqual(result.get("greeting"), [])
        self.assertNotIn("err", result)

    def test_greeting_error(self):
        srv = self.server({ECHO_URI: EchoProfile}, greeting_error=(421, "busy"))
        s = Session(beep.connect("127.0.0.1", srv.port, TIMEOUT), timeout=TIMEOUT)
        with self.assertRaises(ErrorReply) as cm:
            s.wait_greeting()
        self.assertEqual((cm.exception.code, cm.exception.text), (421, "busy"))
        s.close()

    def test_raw_helpers(self):
        srv = self.server({ECHO_URI: EchoProfile})
        c = beep.connect("127.0.0.1", srv.port, TIMEOUT)
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        frames, rest, closed = beep.read_frames(c, timeout=3)
        self.assertTrue(closed)
        self.assertEqual(frames[0].type, "RPY")
        self.assertIn(b"<greeting>", frames[0].payload)
        c.close()
        self.assertEqual(len(srv.errors), 1)
        self.assertIn("unknown keyword", str(srv.errors[0]))


class ScramTests(unittest.TestCase):
    def test_rfc5802_vector_sha1(self):
        c = beep.ScramClient("SCRAM-SHA-1", "user", "pencil", cnonce="fyko+d2lbbFgONRv9qkxdawL")
        self.assertEqual(c.first(), b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL")
        sf = b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
        self.assertEqual(c.final(sf), b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                                      b"p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=")
        self.assertTrue(c.verify(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="))
        self.assertFalse(c.verify(b"v=smF9pqV8S7suAoZWja4dJRkFsKQ="))

    def test_rfc7677_vector_sha256_both_sides(self):
        import base64
        srv = beep.ScramServer("SCRAM-SHA-256", "user", "pencil",
                               salt=base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="),
                               snonce="%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
        c = beep.ScramClient("SCRAM-SHA-256", "user", "pencil", cnonce="rOprNGfwEbeRWgbNEkqO")
        st, sf = srv.step(c.first())
        self.assertEqual((st, sf), ("continue", b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                                b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"))
        cf = c.final(sf)
        self.assertEqual(cf, b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                             b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        st, v = srv.step(cf)
        self.assertEqual((st, v), ("complete", b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
        self.assertTrue(c.verify(v))

    def test_keys_match_gnu_sasl(self):
        """Cross-checks the key derivation against GNU SASL (gsasl, a project
        dependency) for a salt and iteration count of our own."""
        import base64
        salt = b"beepgate-test-salt"
        for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1"):
            r = subprocess.run(["gsasl", "--mkpasswd", "--mechanism", mech, "--password", "s3cret",
                                "--salt", base64.b64encode(salt).decode(), "--iteration-count", "4096"],
                               capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            fields = r.stdout.decode().strip().split("}", 1)[1].split(",")
            stored, server_key, _, _ = beep.scram_keys(mech, "s3cret", salt, 4096)
            self.assertEqual(fields[:4], ["4096", base64.b64encode(salt).decode(),
                                          base64.b64encode(stored).decode(),
                                          base64.b64encode(server_key).decode()], mech)

    def test_server_rejects(self):
        srv = beep.ScramServer("SCRAM-SHA-256", "user", "pencil")
        c = beep.ScramClient("SCRAM-SHA-256", "user", "wrong")
        srv.step(c.first())
        st, why = srv.step(c.final(srv.server_first.encode()))
        self.assertEqual((st, why), ("fail", "authentication failure"))
        srv = beep.ScramServer("SCRAM-SHA-256", "user", "pencil")
        self.assertEqual(srv.step(b"p=tls-unique,,n=user,r=abc")[0], "fail")


class PlainProfile:
    """Minimal PLAIN / ANONYMOUS server profile for the client's self-test."""
    uri = SASL_URI + "PLAIN"

    def __init__(self, accept=(("", "alice", "wonder"),)):
        self.accept = accept

    def __call__(self):
        return self

    def on_start(self, sess, ch, content, m):
        _, data = beep.parse_blob(content)
        if self.uri.endswith("ANONYMOUS") or tuple(data.decode().split("\0")) in self.accept:
            sess.authenticated = data.decode()
            return beep.blob_xml(None, "complete")
        return beep.error_xml(535, "authentication failure")


class SaslOverBeepTests(unittest.TestCase):
    def setUp(self):
        self.log = []
        self.srv = BeepServer({SASL_URI + "SCRAM-SHA-256": ScramServerProfile("relay", "s3cret", log=self.log),
                               SASL_URI + "SCRAM-SHA-1": ScramServerProfile("relay", "s3cret",
                                                                            mech="SCRAM-SHA-1"),
                               PlainProfile.uri: PlainProfile()})
        self.forged = BeepServer({SASL_URI + "SCRAM-SHA-256": ScramServerProfile("relay", "s3cret",
                                                                                 forge=True)})

    def tearDown(self):
        self.srv.close()
        self.forged.close()

    def login(self, srv, **kw):
        s = beep.open_session("127.0.0.1", srv.port, timeout=TIMEOUT)
        r = beep.sasl_login(s, **kw)
        return s, r

    def test_scram_sha256_ok_piggybacked_and_not(self):
        for piggy in (True, False):
            s, r = self.login(self.srv, mech="SCRAM-SHA-256", user="relay", password="s3cret",
                              piggyback=piggy)
            self.assertTrue(r.ok, r)
            self.assertTrue(r.server_verified)
            s.close()
        self.assertEqual(self.log, [("relay", "ok"), ("relay", "ok")])
        time.sleep(0.1)
        self.assertEqual([x.authenticated for x in self.srv.sessions], ["relay", "relay"])
        self.assertEqual(self.srv.errors, [])

    def test_scram_sha1_and_base64_start(self):
        s, r = self.login(self.srv, mech="SCRAM-SHA-1", user="relay", password="s3cret", encoding="base64")
        self.assertTrue(r.ok, r)
        self.assertTrue(r.server_verified)
        s.close()

    def test_scram_wrong_password(self):
        s, r = self.login(self.srv, mech="SCRAM-SHA-256", user="relay", password="nope")
        self.assertFalse(r.ok)
        self.assertEqual(r.code, 535)
        self.assertIsNone(r.server_verified)
        self.assertEqual(self.log, [("relay", "fail")])
        s.close()

    def test_scram_forged_server_signature_detected(self):
        s, r = self.login(self.forged, mech="SCRAM-SHA-256", user="relay", password="s3cret")
        self.assertFalse(r.ok)
        self.assertIs(r.server_verified, False)
        self.assertEqual(r.stage, "verify")
        s.close()

    def test_abort(self):
        s, r = self.login(self.srv, mech="SCRAM-SHA-256", user="relay", password="s3cret",
                          abort_after_first=True)
        self.assertFalse(r.ok)
        self.assertEqual((r.stage, r.code), ("abort", 535))
        self.assertEqual(self.log, [("relay", "abort")])
        s.close()

    def test_plain(self):
        s, r = self.login(self.srv, mech="PLAIN", user="alice", password="wonder")
        self.assertTrue(r.ok, r)
        s.close()
        s, r = self.login(self.srv, mech="PLAIN", user="alice", password="bad")
        self.assertEqual((r.ok, r.code), (False, 535))
        s.close()
        s, r = self.login(self.srv, mech="ANONYMOUS")
        self.assertEqual((r.ok, r.code), (False, 550))     # not offered by this server
        s.close()


class TunnelTests(unittest.TestCase):
    def setUp(self):
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.close()

    def final_peer(self, **kw):
        t = TunnelResponder(new_profiles=[ECHO_URI], **kw)
        srv = BeepServer({TUNNEL_URI: t, ECHO_URI: EchoProfile})
        self.servers.append(srv)
        return srv, t

    def test_ok_greeting_extra_in_one_write_exact_leftover(self):
        extra = b"EXTRA\x00\xffraw-bytes"
        for piggy in (True, False):
            srv, t = self.final_peer(one_write=True, extra=extra)
            s = beep.open_session("127.0.0.1", srv.port, timeout=TIMEOUT)
            self.assertIn(TUNNEL_URI, s.peer_greeting.profiles)
            r = beep.tunnel_start(s, Tunnel(), piggyback=piggy)
            self.assertTrue(r.ok, r)
            expected = beep.build_frame("RPY", 0, 0, 0, beep.mime(beep.greeting_xml([ECHO_URI]),
                                                                  BEEP_XML)) + extra
            self.assertTrue(r.leftover, "the one-write bytes should have been read with the <ok/>")
            data = r.leftover
            r.sock.settimeout(TIMEOUT)
            while len(data) < len(expected):
                d = r.sock.recv(65536)
                if not d:
                    break
                data += d
            self.assertEqual(data, expected)
            self.assertEqual(t.log, [("start" if piggy else "channel", "<tunnel />")])
            r.sock.close()

    def test_ok_then_beep_to_final(self):
        for piggy in (True, False):
            srv, t = self.final_peer()
            s = beep.open_session("127.0.0.1", srv.port, timeout=TIMEOUT)
            r = beep.tunnel_start(s, "<tunnel/>", piggyback=piggy)
            self.assertTrue(r.ok, r)
            s2 = beep.continue_session(r, timeout=TIMEOUT)
            self.assertEqual(s2.wait_greeting().profiles, [ECHO_URI])
            c = s2.start_channel(ECHO_URI)
            self.assertTrue(c.ok, c)
            data = echo.pattern(50000, seed=9)
            self.assertEqual(sha(s2.request(c.channel, data).payload), sha(data))
            s2.close()
            time.sleep(0.1)
            self.assertEqual(srv.errors, [], "a SEQ after <ok/> would show up here")

    def test_errors_and_delay(self):
        for piggy, style in ((True, "err"), (True, "profile"), (False, "err")):
            srv, t = self.final_peer(reply="error", error=(537, "no way"), piggy_error=style)
            s = beep.open_session("127.0.0.1", srv.port, timeout=TIMEOUT)
            r = beep.tunnel_start(s, Tunnel(fqdn="x.test", port=1), piggyback=piggy)
            self.assertEqual((r.ok, r.code, r.text), (False, 537, "no way"))
            self.assertEqual(t.log[0][1], "<tunnel fqdn='x.test' port='1' />")
            # the session stays usable after a refusal
            self.assertTrue(s.start_channel(ECHO_URI).ok)
            s.close()
        srv, t = self.final_peer(delay=0.5)
        s = beep.open_session("127.0.0.1", srv.port, timeout=TIMEOUT)
        t0 = time.monotonic()
        r = beep.tunnel_start(s, Tunnel())
        self.assertTrue(r.ok)
        self.assertGreaterEqual(time.monotonic() - t0, 0.45)
        s.close()

    def test_require_auth(self):
        t = TunnelResponder(require_auth=True)
        srv = BeepServer({TUNNEL_URI: t, SASL_URI + "SCRAM-SHA-256": ScramServerProfile("relay", "pw")})
        self.servers.append(srv)
        s = beep.open_session("127.0.0.1", srv.port, timeout=TIMEOUT)
        r = beep.tunnel_start(s, Tunnel())
        self.assertEqual((r.ok, r.code), (False, 530))
        a = beep.sasl_login(s, "SCRAM-SHA-256", "relay", "pw")
        self.assertTrue(a.ok, a)
        r = beep.tunnel_start(s, Tunnel())
        self.assertTrue(r.ok, r)
        s.close()


class DnsTests(unittest.TestCase):
    ZONE = {"final.test": {"A": ["192.0.2.10", "192.0.2.11"], "AAAA": ["2001:db8::1"]},
            "_tunnel._tcp.relay.test": {"SRV": [[10, 5, 604, "relay.test"]]},
            "relay.test": {"A": ["127.0.0.1"]},
            "rebind.test": {"A": {"sequence": [["192.0.2.1"], ["127.0.0.1"]]}},
            "dead.test": {"A": "DROP"}}

    def setUp(self):
        self.d = dnsd.DnsServer(self.ZONE)

    def tearDown(self):
        self.d.close()

    def q(self, name, t):
        return dnsd.query("127.0.0.1", self.d.port, name, t)

    def test_records(self):
        self.assertEqual(self.q("final.test", "A"), (0, ["192.0.2.10", "192.0.2.11"]))
        self.assertEqual(self.q("FINAL.test.", "AAAA"), (0, ["2001:db8::1"]))
        self.assertEqual(self.q("_tunnel._tcp.relay.test", "SRV"), (0, [(10, 5, 604, "relay.test")]))
        self.assertEqual(self.q("relay.test", "AAAA"), (0, []))
        self.assertEqual(self.q("nowhere.test", "A"), (3, []))
        with self.assertRaises(socket.timeout):
            dnsd.query("127.0.0.1", self.d.port, "dead.test", "A", timeout=0.5)
        self.assertEqual(self.d.count("final.test"), 2)

    def test_wire_bytes(self):
        """Checks one answer byte by byte (independent of our own client)."""
        q = bytes.fromhex("abcd0100000100000000000005") + b"final\x04test\x00" + b"\x00\x01\x00\x01"
        r = self.d.handle(q)
        self.assertEqual(r[:12], bytes.fromhex("abcd858000010002") + b"\0\0\0\0")
        self.assertEqual(r[12:12 + len(q) - 12], q[12:])
        ans = r[len(q):]
        self.assertEqual(ans[:16], bytes.fromhex("c00c0001000100000000" "0004c000020a"))
        self.assertEqual(len(ans), 32)

    def test_rebinding_sequence(self):
        self.assertEqual(self.q("rebind.test", "A"), (0, ["192.0.2.1"]))
        self.assertEqual(self.q("rebind.test", "A"), (0, ["127.0.0.1"]))
        self.assertEqual(self.q("rebind.test", "A"), (0, ["127.0.0.1"]))
        self.d.script("rebind.test", "A", ["NXDOMAIN", ["198.51.100.7"]])
        self.assertEqual(self.q("rebind.test", "A"), (3, []))
        self.assertEqual(self.q("rebind.test", "A"), (0, ["198.51.100.7"]))
        self.assertEqual([o for n, t, o in self.d.queries if n == "rebind.test"],
                         [["192.0.2.1"], ["127.0.0.1"], ["127.0.0.1"], "NXDOMAIN", ["198.51.100.7"]])

    def test_script_mode(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(self.ZONE, f)
        env = dict(os.environ, PYTHONPATH=TESTS)
        p = subprocess.Popen([sys.executable, "-B", "-m", "peers.dnsd", "--port", "0", "--zone", f.name],
                             stdout=subprocess.PIPE, env=env, cwd=TESTS)
        try:
            line = p.stdout.readline().decode()
            self.assertRegex(line, r"^dnsd port \d+")
            port = int(line.split()[2])
            self.assertEqual(dnsd.query("127.0.0.1", port, "relay.test", "A"), (0, ["127.0.0.1"]))
        finally:
            p.terminate()
            self.assertEqual(p.wait(TIMEOUT), 0)
            p.stdout.close()
            os.unlink(f.name)


class TcpmuxTests(unittest.TestCase):
    def setUp(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def tearDown(self):
        self.sock.close()

    def serve(self):
        """Tiny RFC 1078 server: 'echo' is accepted (reply and a banner in one
        write), anything else refused."""
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(TIMEOUT)
            buf = b""
            while b"\r\n" not in buf:
                d = c.recv(1024)
                if not d:
                    break
                buf += d
            name, _, rest = buf.partition(b"\r\n")
            if name == b"echo":
                c.sendall(b"+Go\r\nBANNER")
                if rest:
                    c.sendall(rest)
                while True:
                    d = c.recv(1024)
                    if not d:
                        break
                    c.sendall(d)
            else:
                c.sendall(b"-unknown service\r\n")
            c.close()

    def test_accept_and_refuse(self):
        r = beep.tcpmux("127.0.0.1", self.port, "echo", timeout=TIMEOUT, pipelined=b"early")
        self.assertTrue(r.ok)
        self.assertEqual(r.message, "Go")
        data = r.leftover
        while len(data) < len(b"BANNERearly"):
            data += r.sock.recv(100)
        self.assertEqual(data, b"BANNERearly")
        r.sock.sendall(b"ping")
        self.assertEqual(r.sock.recv(100), b"ping")
        r.sock.close()
        r = beep.tcpmux("127.0.0.1", self.port, "nope", timeout=TIMEOUT)
        self.assertFalse(r.ok)
        self.assertEqual((r.line, r.message, r.leftover), (b"-unknown service", "unknown service", b""))
        r.sock.close()


class EchoServerTests(unittest.TestCase):
    def exchange(self, srv, data):
        c = beep.connect("127.0.0.1", srv.port, TIMEOUT)
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        got = bytearray()
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += d
        c.close()
        return bytes(got)

    def test_modes(self):
        data = echo.pattern(300000, seed=2)
        servers = {m: echo.TcpServer(m, banner=b"HELLO\r\n", nbytes=200000) for m in echo.MODES}
        try:
            self.assertEqual(self.exchange(servers["echo"], data), data)
            self.assertEqual(self.exchange(servers["banner"], data), b"HELLO\r\n" + data)
            self.assertEqual(self.exchange(servers["sink"], data), b"")
            self.assertEqual(sha(self.exchange(servers["source"], data)), servers["source"].data_sha256)
            c = beep.connect("127.0.0.1", servers["sentinel"].port, TIMEOUT)
            self.assertEqual(c.recv(10), b"")
            c.close()
            for m, s in servers.items():
                self.assertTrue(s.wait_records(1), m)
                self.assertEqual(s.connections, 1, m)
                rec = s.records[0]
                if m != "sentinel":
                    self.assertEqual((rec["in_len"], rec["in_sha256"]), (len(data), sha(data)), m)
            self.assertEqual(servers["echo"].bytes_out, len(data))
            self.assertEqual(servers["sentinel"].records[0]["in_len"], 0)
        finally:
            for s in servers.values():
                s.close()

    def test_script_mode(self):
        with tempfile.TemporaryDirectory() as d:
            stats = os.path.join(d, "stats.json")
            env = dict(os.environ, PYTHONPATH=TESTS)
            p = subprocess.Popen([sys.executable, "-B", "-m", "peers.echo", "--mode", "echo", "--stats", stats],
                                 stdout=subprocess.PIPE, env=env, cwd=TESTS)
            try:
                line = p.stdout.readline().decode()
                self.assertRegex(line, r"^echo port \d+")
                srv = type("S", (), {"port": int(line.split()[2])})
                self.assertEqual(self.exchange(srv, b"abc"), b"abc")
            finally:
                p.terminate()
                self.assertEqual(p.wait(TIMEOUT), 0)
                p.stdout.close()
            with open(stats) as f:
                st = json.load(f)
            self.assertEqual((st["connections"], st["bytes_in"]), (1, 3))


def main():
    faulthandler.dump_traceback_later(int(os.environ.get("BEEPGATE_IT_TIMEOUT", "300")), exit=True)
    socket.setdefaulttimeout(30)
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    failed = len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses)
    passed = r.testsRun - failed - len(r.skipped)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or r.skipped or r.testsRun == 0 else 0)


if __name__ == "__main__":
    main()
