"""The beeptunnel client against real beepgated relays: stdin/stdout mode,
-L mode, --beep finals, chains with --via, the TCPMUX door, password
handling, and one exit status per kind of failure."""
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from integration.harness import (BUILD, Backend, Daemon, free_port, pseudo_random, recv_exact,
                                 sha256)
from integration.tunnel_env import REALM, USERS, cleanup, make_sasldb, relay_conf, secret_file
from peers import beep
from peers.beep import EchoProfile, TunnelResponder

BEEPTUNNEL = os.path.join(os.environ.get("BEEPGATE_BUILD", BUILD), "beeptunnel")
ECHO = "http://beepgate.test/ECHO"
LOOP = "pass from user \"alice\" to 127.0.0.0/8 port 1-65535\n"
RUN_TIMEOUT = 60


def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


class BeeptunnelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sdir, cls.db = make_sasldb()
        cls.pwfile = secret_file(cls.sdir, "alice.pw", USERS["alice"])

    @classmethod
    def tearDownClass(cls):
        cleanup(cls.sdir)

    def setUp(self):
        self.objs = []
        self.daemons = []
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for o in self.objs:
            o.close()
        for d in self.daemons:
            d.kill()

    def keep(self, o):
        self.objs.append(o)
        return o

    def relay(self, rules=LOOP, extra="", name="relay"):
        port = free_port()
        d = Daemon(relay_conf(port, self.db, rules, extra), name=name)
        d.port = port
        self.daemons.append(d)
        return d

    def finish(self, d):
        self.daemons.remove(d)
        d.close_clean(self)

    def final_peer(self, **kw):
        resp = TunnelResponder(**kw)
        srv = self.keep(beep.BeepServer({beep.TUNNEL_URI: resp, ECHO: EchoProfile}))
        srv.responder = resp
        return srv

    def run_bt(self, args, data=b"", password=None, env_extra=None, timeout=RUN_TIMEOUT):
        """Runs beeptunnel to completion: (exit status, stdout, stderr text)."""
        env = dict(os.environ)
        env.pop("BEEPTUNNEL_PASSWORD", None)
        if password is not None:
            env["BEEPTUNNEL_PASSWORD"] = password
        if env_extra:
            env.update(env_extra)
        r = subprocess.run([BEEPTUNNEL] + args, input=data, capture_output=True,
                           timeout=timeout, env=env)
        err = r.stderr.decode("utf-8", "replace")
        self.assertNotIn("AddressSanitizer", err)
        self.assertNotIn("runtime error:", err)
        return r.returncode, r.stdout, err

    def auth(self):
        return ["-u", "alice", "--password-file", self.pwfile]

    # ---- stdin/stdout mode ------------------------------------------------

    def test_stdio_one_mib_round_trip_with_banner_first(self):
        echo = self.keep(Backend(mode="banner", banner=b"login: "))
        d = self.relay()
        data = pseudo_random(1 << 20, 3)
        rc, out, err = self.run_bt(self.auth() + ["127.0.0.1:%d" % d.port,
                                                  "127.0.0.1:%d" % echo.port], data)
        self.assertEqual(rc, 0, err)
        # the banner (sent right after <ok/>) comes first, then the echo
        self.assertEqual(out[:7], b"login: ")
        self.assertEqual(len(out), len(data) + 7)
        self.assertEqual(sha256(out[7:]), sha256(data))
        self.assertEqual(echo.connections, 1)
        self.assertTrue(d.wait_log(r"tunnel session=\w+ .*user=alice .*outcome=ok"))
        self.assertNotIn(USERS["alice"], d.log())
        self.finish(d)

    def test_stdio_password_from_environment(self):
        echo = self.keep(Backend(mode="echo"))
        d = self.relay()
        rc, out, err = self.run_bt(["-u", "alice", "127.0.0.1:%d" % d.port,
                                    "127.0.0.1:%d" % echo.port], b"ping\n",
                                   password=USERS["alice"])
        self.assertEqual((rc, out), (0, b"ping\n"), err)
        self.finish(d)

    def test_beep_final_bytes_after_ok_arrive(self):
        extra = b"EXTRA-AFTER-GREETING"
        fin = self.final_peer(one_write=True, extra=extra)
        d = self.relay()
        env = dict(os.environ)
        p = subprocess.Popen([BEEPTUNNEL] + self.auth() + ["--beep", "127.0.0.1:%d" % d.port,
                                                           "127.0.0.1:%d" % fin.port],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        self.procs.append(p)
        got = b""
        deadline = time.monotonic() + 20
        while extra not in got and time.monotonic() < deadline:
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                got += chunk
        # the final's new greeting (a channel-0 RPY) and the octets after it
        self.assertTrue(got.startswith(b"RPY 0 0 . 0 "), got[:60])
        self.assertTrue(got.endswith(b"END\r\n" + extra), got[-60:])
        p.stdin.close()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            self.fail("beeptunnel did not end after stdin EOF and the final closing")
        finally:
            p.stdout.close()
            err = p.stderr.read().decode("utf-8", "replace")
            p.stderr.close()
        self.assertEqual(p.returncode, 0, err)
        self.assertNotIn("AddressSanitizer", err)
        # the final received exactly <tunnel/>: the destination speaks BEEP
        self.assertEqual(len(fin.responder.log), 1)
        self.assertEqual(beep.parse_tunnel(fin.responder.log[0][1]), [{}])
        self.finish(d)

    def test_verbose_shows_exchange_not_secret(self):
        echo = self.keep(Backend(mode="echo"))
        d = self.relay()
        rc, out, err = self.run_bt(["-v"] + self.auth() + ["127.0.0.1:%d" % d.port,
                                                           "127.0.0.1:%d" % echo.port], b"x")
        self.assertEqual(rc, 0, err)
        self.assertIn("TUNNEL element: <tunnel ip4='127.0.0.1' port='%d'/>" % echo.port, err)
        self.assertIn("authenticated", err)
        self.assertNotIn(USERS["alice"], err)
        self.assertNotIn("<blob", err)
        self.finish(d)

    # ---- -L mode ----------------------------------------------------------

    def test_listen_two_connections_two_tunnels(self):
        echo = self.keep(Backend(mode="banner", banner=b"hello"))
        d = self.relay()
        errpath = os.path.join(self.sdir, "listen.err")
        with open(errpath, "wb") as ef:
            p = subprocess.Popen([BEEPTUNNEL, "-L", "127.0.0.1:0"] + self.auth() +
                                 ["127.0.0.1:%d" % d.port, "127.0.0.1:%d" % echo.port],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=ef)
        self.procs.append(p)
        port = None
        deadline = time.monotonic() + 10
        while port is None and time.monotonic() < deadline:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", read_text(errpath))
            if m:
                port = int(m.group(1))
            else:
                time.sleep(0.05)
        self.assertIsNotNone(port, read_text(errpath))
        a = socket.create_connection(("127.0.0.1", port), timeout=10)
        b = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.assertEqual(recv_exact(a, 5), b"hello")
        self.assertEqual(recv_exact(b, 5), b"hello")
        da, db = pseudo_random(200000, 5), pseudo_random(300000, 6)
        a.sendall(da)
        b.sendall(db)
        self.assertEqual(sha256(recv_exact(a, len(da))), sha256(da))
        self.assertEqual(sha256(recv_exact(b, len(db))), sha256(db))
        a.close()
        b.close()
        self.assertEqual(echo.connections, 2)
        self.assertTrue(d.wait_log(r"tunnel session=\w+ .*outcome=ok", count=2))
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(20), 0, read_text(errpath))
        err = read_text(errpath)
        self.assertNotIn("AddressSanitizer", err)
        self.finish(d)

    # ---- chains and doors -------------------------------------------------

    def test_two_relays_with_via(self):
        echo = self.keep(Backend(mode="echo"))
        b = self.relay(rules="pass from user \"relayA\" to 127.0.0.0/8 port 1-65535\n", name="B")
        sec = secret_file(self.sdir, "relayA.secret", USERS["relayA"])
        a = self.relay(rules=LOOP, name="A",
                       extra='route "to-b" { connect 127.0.0.1 port %d user "relayA" secret "%s" }\n'
                       % (b.port, sec))
        data = pseudo_random(300000, 9)
        rc, out, err = self.run_bt(self.auth() + ["--via", "127.0.0.1:%d" % b.port,
                                                  "127.0.0.1:%d" % a.port,
                                                  "127.0.0.1:%d" % echo.port], data)
        self.assertEqual(rc, 0, err)
        self.assertEqual(sha256(out), sha256(data))
        self.assertTrue(b.wait_log(r"auth session=\w+ .*user=relayA mech=SCRAM-SHA-256 ok"))
        self.finish(a)
        self.finish(b)

    def test_chain_failure_further_on_is_not_an_auth_failure(self):
        # relay A's own login to B fails: a TUNNEL-stage refusal for us
        b = self.relay(rules="pass from user \"relayA\" to 127.0.0.0/8 port 1-65535\n", name="B")
        sec = secret_file(self.sdir, "wrong.secret", "not-the-secret")
        a = self.relay(rules=LOOP, name="A",
                       extra='route "to-b" { connect 127.0.0.1 port %d user "relayA" secret "%s" }\n'
                       % (b.port, sec))
        rc, out, err = self.run_bt(self.auth() + ["--via", "127.0.0.1:%d" % b.port,
                                                  "127.0.0.1:%d" % a.port, "127.0.0.1:9"])
        self.assertNotEqual(rc, 0)
        self.assertNotEqual(rc, 5, err)
        self.assertIn("authentication to the next hop failed", err)
        self.finish(a)
        self.finish(b)

    def test_tcpmux_door(self):
        echo = self.keep(Backend(mode="echo"))
        port, tport = free_port(), free_port()
        d = Daemon("timeouts { handshake 5s }\n"
                   'sasl {\n  database "%s"\n  realm "%s"\n}\n' % (self.db, REALM) +
                   "listen on 127.0.0.1 port %d tcpmux\n" % port +
                   "listen on 127.0.0.1 port %d tunnel\n" % tport +
                   'service "beep" {\n  beep\n  tcpmux\n}\n'
                   'pass from source 127.0.0.0/8 to tcpmux "beep"\n' + LOOP, name="tcpmux-bt")
        self.daemons.append(d)
        rc, out, err = self.run_bt(self.auth() + ["--tcpmux", "127.0.0.1:%d:beep" % port,
                                                  "127.0.0.1:%d" % echo.port], b"via tcpmux")
        self.assertEqual((rc, out), (0, b"via tcpmux"), err)
        rc, out, err = self.run_bt(self.auth() + ["--tcpmux", "127.0.0.1:%d:nonesuch" % port,
                                                  "127.0.0.1:%d" % echo.port])
        self.assertEqual(rc, 4, err)
        self.assertIn("TCPMUX door refused", err)
        self.finish(d)

    # ---- failures, one status each ----------------------------------------

    def test_wrong_password_is_5(self):
        d = self.relay()
        rc, out, err = self.run_bt(["-u", "alice", "127.0.0.1:%d" % d.port, "127.0.0.1:9"],
                                   password="wrong-password")
        self.assertEqual(rc, 5, err)
        self.assertIn("authentication failed", err)
        self.assertNotIn("wrong-password", err)
        self.finish(d)

    def test_no_login_is_530_status_6(self):
        d = self.relay()
        rc, out, err = self.run_bt(["127.0.0.1:%d" % d.port, "127.0.0.1:9"])
        self.assertEqual(rc, 6, err)
        self.assertIn("530", err)
        self.finish(d)

    def test_unauthorized_destination_is_7(self):
        sentinel = self.keep(Backend(mode="echo"))
        d = self.relay(rules="pass from user \"bob\" to 127.0.0.0/8 port 1-65535\n")
        rc, out, err = self.run_bt(self.auth() + ["127.0.0.1:%d" % d.port,
                                                  "127.0.0.1:%d" % sentinel.port])
        self.assertEqual(rc, 7, err)
        self.assertIn("not authorized", err)
        self.assertIn("537", err)
        self.assertEqual(sentinel.connections, 0)
        self.finish(d)

    def test_unreachable_is_8(self):
        d = self.relay()
        rc, out, err = self.run_bt(self.auth() + ["127.0.0.1:%d" % d.port,
                                                  "127.0.0.1:%d" % free_port()])
        self.assertEqual(rc, 8, err)
        self.assertIn("450", err)
        self.finish(d)

    def test_final_not_beep_is_550_status_9(self):
        ssh = self.keep(Backend(mode="banner", banner=b"SSH-2.0-OpenSSH_9.2\r\n"))
        d = self.relay()
        rc, out, err = self.run_bt(self.auth() + ["--beep", "127.0.0.1:%d" % d.port,
                                                  "127.0.0.1:%d" % ssh.port])
        self.assertEqual(rc, 9, err)
        self.assertIn("SSH-2.0", err)
        self.finish(d)

    def test_relay_refused_connection_is_3(self):
        rc, out, err = self.run_bt(["127.0.0.1:%d" % free_port(), "127.0.0.1:9"])
        self.assertEqual(rc, 3, err)
        self.assertIn("cannot connect to the relay", err)

    def test_relay_not_beep_is_4(self):
        web = self.keep(Backend(mode="banner", banner=b"HTTP/1.0 400 Bad Request\r\n\r\n"))
        rc, out, err = self.run_bt(["127.0.0.1:%d" % web.port, "127.0.0.1:9"])
        self.assertEqual(rc, 4, err)
        self.assertIn("HTTP/1.0", err)
        no_tunnel = self.keep(beep.BeepServer({ECHO: EchoProfile}))
        rc, out, err = self.run_bt(["127.0.0.1:%d" % no_tunnel.port, "127.0.0.1:9"])
        self.assertEqual(rc, 4, err)
        self.assertIn("TUNNEL", err)

    # ---- command line and password handling -------------------------------

    def test_password_on_command_line_impossible(self):
        for args in (["--password", "hunter2"], ["--password=hunter2"], ["--pass", "hunter2"],
                     ["--passw=hunter2"], ["-p", "hunter2"]):
            rc, out, err = self.run_bt(args + ["-u", "alice", "127.0.0.1:1", "127.0.0.1:9"])
            self.assertEqual(rc, 2, (args, err))
            self.assertNotIn("hunter2", err, args)
        rc, out, err = self.run_bt(["--password", "hunter2", "127.0.0.1:1", "127.0.0.1:9"])
        self.assertIn("no password on the command line", err)
        rc, out, err = self.run_bt(["-h"])
        self.assertEqual(rc, 0)
        self.assertNotIn(b"--password ", out)
        self.assertIn(b"BEEPTUNNEL_PASSWORD", out)

    def test_password_file_readable_by_others_refused(self):
        p = os.path.join(self.sdir, "open.pw")
        with open(p, "w") as f:
            f.write(USERS["alice"] + "\n")
        os.chmod(p, 0o644)
        rc, out, err = self.run_bt(["-u", "alice", "--password-file", p, "127.0.0.1:1",
                                    "127.0.0.1:9"])
        self.assertEqual(rc, 2, err)
        self.assertIn("accessible by group", err)
        self.assertNotIn(USERS["alice"], err)

    def test_usage_errors_are_2(self):
        cases = [
            [],
            ["127.0.0.1:1"],
            ["127.0.0.1", "127.0.0.1:9"],
            ["127.0.0.1:0", "127.0.0.1:9"],
            ["127.0.0.1:1", "127.0.0.1:65536"],
            ["127.0.0.1:1", "::1:22"],
            ["127.0.0.1:1", "127.0.0.1:9", "--endpoint", "x"],
            ["--endpoint", "x", "--beep", "127.0.0.1:1"],
            ["--profile", "no scheme", "127.0.0.1:1"],
            ["--via", "nope", "127.0.0.1:1", "127.0.0.1:9"],
            ["-u", "alice", "127.0.0.1:1", "127.0.0.1:9"],          # no password at all
            ["--password-file", self.pwfile, "127.0.0.1:1", "127.0.0.1:9"],  # no -u
            ["--tcpmux", "127.0.0.1:1", "127.0.0.1:9"],
            ["-t", "0", "127.0.0.1:1", "127.0.0.1:9"],
            ["--bogus", "127.0.0.1:1", "127.0.0.1:9"],
        ]
        for args in cases:
            rc, out, err = self.run_bt(args)
            self.assertEqual(rc, 2, (args, err))
            self.assertTrue(err.startswith("beeptunnel: "), (args, err))


if __name__ == "__main__":
    from integration.harness import main
    main()
