"""The TCPMUX front door (RFC 1078) of a real beepgated."""
import os
import socket
import subprocess
import time
import unittest

from integration.harness import Backend, Daemon, free_port, is_closed, recv_exact
from integration.tunnel_env import USERS, cleanup, make_sasldb, REALM
from peers import beep
from peers.beep import EchoProfile, Tunnel, TunnelResponder

NOT_AVAILABLE = b"-Service not available\r\n"


def conf(port, backend_port, help_mode="off", extra="", handshake="3s", db=None):
    c = "timeouts { handshake %s connect 3s idle 60s fin 10s hard-stop 5s }\n" % handshake
    if db:
        c += 'sasl {\n  database "%s"\n  realm "%s"\n}\n' % (db, REALM)
    c += ("listen on 127.0.0.1 port %d tcpmux\n" % port +
          "tcpmux help %s\n" % help_mode +
          'service "echo" {\n  connect 127.0.0.1 port %d\n  tcpmux\n}\n' % backend_port +
          'service "banner" {\n  connect 127.0.0.1 port %d\n  tcpmux\n  ack backend\n}\n' % backend_port +
          'service "secret" {\n  connect 127.0.0.1 port %d\n  tcpmux\n}\n' % backend_port +
          'pass from source 127.0.0.0/8 to tcpmux "echo"\n'
          'pass from source 127.0.0.0/8 to tcpmux "banner"\n' + extra)
    return c


def line(port, data, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    buf = b""
    s.settimeout(timeout)
    while b"\n" not in buf:
        try:
            c = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            break
        if not c:
            break
        buf += c
    return s, buf


class TcpmuxTest(unittest.TestCase):
    def setUp(self):
        self.objs = []
        self.daemons = []

    def tearDown(self):
        for o in self.objs:
            o.close()
        for d in self.daemons:
            d.kill()

    def start(self, backend_mode="echo", **kw):
        b = Backend(mode=backend_mode, banner=b"+ready from backend\r\n")
        self.objs.append(b)
        port = free_port()
        d = Daemon(conf(port, b.port, **kw), name="tcpmux")
        d.port = port
        self.daemons.append(d)
        return d, b

    def finish(self, d):
        self.daemons.remove(d)
        d.close_clean(self)

    def test_known_name_mixed_case_then_data(self):
        d, b = self.start()
        s, reply = line(d.port, b"EcHo\r\n")
        self.assertEqual(reply, b"+\r\n")
        s.sendall(b"both ways")
        self.assertEqual(recv_exact(s, 9), b"both ways")
        s.close()
        self.assertTrue(d.wait_log(r'dst=127\.0\.0\.1:%d .*reason="done"' % b.port), d.log()[-1500:])
        self.finish(d)

    def test_pipelined_bytes_reach_service_first(self):
        d, b = self.start()
        s, reply = line(d.port, b"echo\r\nPIPELINED-DATA")
        got = reply
        while len(got) < 3 + 14:
            got += s.recv(4096)
        self.assertEqual(got, b"+\r\nPIPELINED-DATA")
        s.close()
        self.finish(d)

    def test_plus_from_backend(self):
        d, b = self.start(backend_mode="banner")
        s, reply = line(d.port, b"banner\r\n")
        self.assertEqual(reply, b"+ready from backend\r\n")
        s.close()
        self.finish(d)

    def test_unknown_and_forbidden_same_answer(self):
        d, b = self.start()
        s1, r1 = line(d.port, b"nonesuch\r\n")
        s2, r2 = line(d.port, b"secret\r\n")
        self.assertEqual(r1, NOT_AVAILABLE)
        self.assertEqual(r2, NOT_AVAILABLE)
        self.assertTrue(is_closed(s1))
        self.assertTrue(is_closed(s2))
        self.assertEqual(b.connections, 0)
        self.finish(d)

    def test_bad_lines_get_a_minus_line(self):
        d, b = self.start()
        for data in (b"x" * 300 + b"\r\n", b"ec\x00ho\r\n", b"ec\x01ho\r\n", b"\r\n"):
            s, r = line(d.port, data)
            self.assertTrue(r.startswith(b"-"), (data[:20], r))
            self.assertTrue(r.endswith(b"\r\n"))
            s.close()
        # an over-long name without any line end is refused at the cap
        s, r = line(d.port, b"y" * 1000)
        self.assertTrue(r.startswith(b"-"), r)
        s.close()
        self.assertEqual(b.connections, 0)
        self.finish(d)

    def test_bare_lf_and_split_name(self):
        d, b = self.start()
        s, r = line(d.port, b"echo\n")
        self.assertEqual(r, b"+\r\n")
        s.close()
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        for ch in b"ec", b"h", b"o\r", b"\n":
            s.sendall(ch)
            time.sleep(0.05)
        self.assertEqual(recv_exact(s, 3), b"+\r\n")
        s.close()
        self.finish(d)

    def test_trickle_hits_total_deadline(self):
        d, b = self.start(handshake="2s")
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        t0 = time.monotonic()
        got = b""
        s.settimeout(0.2)
        for ch in b"abcdefghijklmnopqrst":
            try:
                s.sendall(bytes([ch]))
            except OSError:
                break
            try:
                got += s.recv(4096)
                if got:
                    break
            except socket.timeout:
                pass
            time.sleep(0.3)
        s.settimeout(3)
        try:
            while b"\n" not in got:
                c = s.recv(4096)
                if not c:
                    break
                got += c
        except OSError:
            pass
        elapsed = time.monotonic() - t0
        self.assertTrue(got.startswith(b"-"), got)
        self.assertLess(elapsed, 3.5)
        self.assertGreater(elapsed, 1.5)
        s.close()
        self.assertTrue(d.wait_log(r'reason="handshake timeout"'))
        self.finish(d)

    def test_silent_client_closed_at_deadline(self):
        d, b = self.start(handshake="1s")
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.settimeout(4)
        data = s.recv(100)
        self.assertTrue(data.startswith(b"-"), data)
        self.assertTrue(is_closed(s))
        self.finish(d)

    def test_help_modes(self):
        d, b = self.start(help_mode="off")
        s, r = line(d.port, b"HELP\r\n")
        self.assertEqual(r, NOT_AVAILABLE)
        s.close()
        self.finish(d)
        d, b = self.start(help_mode="allowed")
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.sendall(b"help\r\n")
        names = sorted(s.makefile("rb").read().split(b"\r\n"))
        self.assertEqual([n for n in names if n], [b"banner", b"echo"])
        s.close()
        self.finish(d)
        d, b = self.start(help_mode="all")
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.sendall(b"HELP\r\n")
        names = sorted(s.makefile("rb").read().split(b"\r\n"))
        self.assertEqual([n for n in names if n], [b"banner", b"echo", b"secret"])
        s.close()
        self.finish(d)

    def test_http_and_tls_on_port_1(self):
        d, b = self.start()
        s, r = line(d.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(r.startswith(b"-"), r)
        s.close()
        s, r = line(d.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        self.assertTrue(r.startswith(b"-"), r)
        s.close()
        self.assertTrue(d.wait_log(r"spoke (HTTP|http).* on the TCPMUX port"))
        self.assertEqual(b.connections, 0)
        self.finish(d)

    def test_beep_service_through_port_1(self):
        sdir, db = make_sasldb()
        try:
            fin = beep.BeepServer({beep.TUNNEL_URI: TunnelResponder(),
                                   "http://beepgate.test/ECHO": EchoProfile})
            self.objs.append(fin)
            port, tport = free_port(), free_port()
            d = Daemon("timeouts { handshake 5s }\n"
                       'sasl {\n  database "%s"\n  realm "%s"\n}\n' % (db, REALM) +
                       "listen on 127.0.0.1 port %d tcpmux\n" % port +
                       "listen on 127.0.0.1 port %d tunnel\n" % tport +
                       'service "beep" {\n  beep\n  tcpmux\n}\n'
                       'pass from source 127.0.0.0/8 to tcpmux "beep"\n'
                       'pass from user "alice" to 127.0.0.0/8 port 1-65535\n', name="tcpmux-beep")
            self.daemons.append(d)
            r = beep.tcpmux("127.0.0.1", port, "beep")
            self.assertTrue(r.ok, r.line)
            sess = beep.Session(r.sock, "initiator", (), 10, initial_data=r.leftover)
            sess.wait_greeting()
            self.assertIn(beep.TUNNEL_URI, sess.peer_greeting.profiles)
            t = beep.tunnel_start(sess, Tunnel(ip4="127.0.0.1", port=fin.port, inner=Tunnel()))
            self.assertEqual((t.ok, t.code), (False, 530))
            a = beep.sasl_login(sess, "SCRAM-SHA-256", "alice", USERS["alice"])
            self.assertTrue(a.ok, a.text)
            t = beep.tunnel_start(sess, Tunnel(ip4="127.0.0.1", port=fin.port, inner=Tunnel()))
            self.assertTrue(t.ok, (t.code, t.text))
            e2e = beep.continue_session(t)
            e2e.wait_greeting()
            st = e2e.start_channel(["http://beepgate.test/ECHO"])
            self.assertEqual(e2e.request(st.channel, b"via port 1").payload, b"via port 1")
            e2e.close()
            self.finish(d)
        finally:
            cleanup(sdir)

    @unittest.skipUnless(os.geteuid() == 0, "binding port 1 needs root")
    def test_real_port_1_then_privilege_drop(self):
        # binds the real port 1 as root, then checks the drop to nobody
        b = Backend(mode="echo")
        self.objs.append(b)
        port = 1
        try:
            socket.create_connection(("127.0.0.1", 1), timeout=0.5).close()
            self.fail("port 1 of 127.0.0.1 is already in use on this machine")
        except OSError:
            pass
        d = Daemon(conf(port, b.port), name="port1", user_line='user "nobody"\n')
        self.daemons.append(d)
        with open("/proc/%d/status" % d.proc.pid) as f:
            st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        self.assertEqual(set(st["Uid"].split()), {"65534"})
        s, r = line(1, b"echo\r\n")
        self.assertEqual(r, b"+\r\n")
        s.close()
        self.finish(d)


if __name__ == "__main__":
    from integration.harness import main
    main()
