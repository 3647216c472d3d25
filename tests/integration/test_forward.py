"""Foundation: beepgated's forward listener, the pump through a real daemon,
limits, descriptor exhaustion, reload and drain, privilege drop, -n."""
import os
import resource
import signal
import socket
import threading
import time
import unittest

from integration.harness import (Backend, Daemon, check_config, connect, free_port,
                                 is_closed, recv_exact, sha256, stream_both_ways)


def fwd_conf(lport, bport, extra=""):
    return ("timeouts { handshake 5s connect 2s idle 30s fin 10s hard-stop 5s }\n" + extra +
            "listen on 127.0.0.1 port %d forward to 127.0.0.1 port %d\n" % (lport, bport))


class ForwardTest(unittest.TestCase):
    def setUp(self):
        self.backends = []
        self.daemons = []

    def tearDown(self):
        for b in self.backends:
            b.close()
        for d in self.daemons:
            d.kill()

    def backend(self, **kw):
        b = Backend(**kw)
        self.backends.append(b)
        return b

    def daemon(self, conf, **kw):
        d = Daemon(conf, **kw)
        self.daemons.append(d)
        return d

    def finish(self, d):
        self.daemons.remove(d)
        d.close_clean(self)

    def test_64mib_each_way(self):
        n = 64 << 20
        b = self.backend(mode="stream", send_bytes=n, seed=3)
        lp = free_port()
        d = self.daemon(fwd_conf(lp, b.port))
        s = connect("127.0.0.1", lp)
        sent, got, glen = stream_both_ways(s, n, seed=5)
        s.close()
        self.assertEqual(glen, n)
        self.assertEqual(got, b.sent_sha)
        deadline = time.monotonic() + 10
        while not b.results and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(b.results[0], (sent, n))
        self.assertTrue(d.wait_log(r"session=\w+ src=127\.0\.0\.1:\d+ user=- dst=127\.0\.0\.1:%d "
                                   r"in=%d out=%d duration=[\d.]+s reason=\"done\"" % (b.port, n, n)),
                        d.log()[-2000:])
        self.finish(d)

    def test_half_close_client_first(self):
        # the client sends 1 MiB and shuts down its side; the backend only
        # answers (10 MiB) after that EOF: the other direction keeps flowing
        b = self.backend(mode="stream", send_bytes=0, reply_after_eof=10 << 20, seed=9)
        lp = free_port()
        d = self.daemon(fwd_conf(lp, b.port))
        s = connect("127.0.0.1", lp)
        sent, got, glen = stream_both_ways(s, 1 << 20, seed=4)
        self.assertEqual(glen, 10 << 20)
        self.assertEqual(got, b.sent_sha)
        self.assertEqual(b.results[0][0], sent)
        s.close()
        self.finish(d)

    def test_half_close_server_first(self):
        # the backend sends 1 MiB then shuts down its side; the client keeps
        # sending 10 MiB, all of which arrives
        b = self.backend(mode="stream", send_bytes=1 << 20, seed=2)
        lp = free_port()
        d = self.daemon(fwd_conf(lp, b.port))
        s = connect("127.0.0.1", lp)
        first = recv_exact(s, 1 << 20)
        self.assertEqual(sha256(first), b.sent_sha)
        sent, got, glen = stream_both_ways(s, 10 << 20, seed=6)
        self.assertEqual(glen, 0)
        deadline = time.monotonic() + 10
        while not b.results and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(b.results[0], (sent, 10 << 20))
        s.close()
        self.finish(d)

    def test_slow_reader_bounded(self):
        n = 48 << 20
        b = self.backend(mode="stream", send_bytes=n, seed=8, reply_after_eof=0)
        lp = free_port()
        d = self.daemon(fwd_conf(lp, b.port, "limits { buffer 256k }\n"))
        rss0 = d.rss_kib()
        s = connect("127.0.0.1", lp)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        time.sleep(2.0)          # the client does not read: backpressure
        rss1 = d.rss_kib()
        # user-space growth stays within the configured buffer and slack
        self.assertLess(rss1 - rss0, 2 * 256 + 2048, "RSS grew from %d to %d KiB" % (rss0, rss1))
        data = recv_exact(s, n, timeout=60)
        self.assertEqual(len(data), n)
        self.assertEqual(sha256(data), b.sent_sha)
        s.close()
        self.finish(d)

    def test_idle_timeout(self):
        b = self.backend(mode="echo")
        lp = free_port()
        d = self.daemon("timeouts { idle 1s fin 10s }\n"
                        "listen on 127.0.0.1 port %d forward to 127.0.0.1 port %d\n" % (lp, b.port))
        s = connect("127.0.0.1", lp)
        s.sendall(b"hello")
        self.assertEqual(recv_exact(s, 5), b"hello")
        t0 = time.monotonic()
        self.assertTrue(is_closed(s, timeout=5))
        self.assertGreater(time.monotonic() - t0, 0.8)
        self.assertTrue(d.wait_log(r'reason="idle timeout"'))
        self.finish(d)

    def test_fin_timeout(self):
        b = self.backend(mode="silent")     # never closes its side
        lp = free_port()
        d = self.daemon("timeouts { idle 30s fin 1s }\n"
                        "listen on 127.0.0.1 port %d forward to 127.0.0.1 port %d\n" % (lp, b.port))
        s = connect("127.0.0.1", lp)
        s.sendall(b"x")
        s.shutdown(socket.SHUT_WR)
        t0 = time.monotonic()
        self.assertTrue(is_closed(s, timeout=6))
        self.assertLess(time.monotonic() - t0, 4)
        self.assertTrue(d.wait_log(r'reason="fin timeout"'))
        self.finish(d)

    def test_unreachable_target(self):
        dead = free_port()
        lp = free_port()
        d = self.daemon(fwd_conf(lp, dead))
        s = connect("127.0.0.1", lp)
        self.assertTrue(is_closed(s, timeout=5))
        self.assertTrue(d.wait_log(r'reason="unreachable"'))
        self.finish(d)

    def test_max_sessions(self):
        b = self.backend(mode="echo")
        lp = free_port()
        d = self.daemon(fwd_conf(lp, b.port, "limits { max-sessions 3 }\n"))
        socks = []
        for i in range(3):
            s = connect("127.0.0.1", lp)
            s.sendall(b"%d" % i)
            self.assertEqual(recv_exact(s, 1), b"%d" % i)
            socks.append(s)
        extra = connect("127.0.0.1", lp)
        self.assertTrue(is_closed(extra, timeout=5), "the 4th connection was not refused")
        self.assertTrue(d.wait_log(r"max-sessions 3 reached"))
        socks.pop().close()
        self.assertTrue(d.wait_log(r'reason="done"'))
        again = connect("127.0.0.1", lp)
        again.sendall(b"z")
        self.assertEqual(recv_exact(again, 1), b"z")
        for s in socks + [again, extra]:
            s.close()
        self.finish(d)

    def test_emfile_pause_and_recover(self):
        b = self.backend(mode="echo")
        lp = free_port()

        def lowfd():
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        d = self.daemon(fwd_conf(lp, b.port), preexec=lowfd)
        socks = []
        for _ in range(80):
            try:
                socks.append(socket.create_connection(("127.0.0.1", lp), timeout=2))
            except OSError:
                break
        time.sleep(1.0)
        cpu0 = d.cpu_seconds()
        time.sleep(2.0)
        cpu1 = d.cpu_seconds()
        self.assertLess(cpu1 - cpu0, 0.3, "relay spins while out of descriptors")
        self.assertTrue(d.wait_log(r"accept paused"))
        self.assertLessEqual(d.count_log(r"accept paused"), 5)
        for s in socks:
            s.close()
        t0 = time.monotonic()
        s = connect("127.0.0.1", lp)
        s.sendall(b"ping")
        self.assertEqual(recv_exact(s, 4, timeout=5), b"ping")
        self.assertLess(time.monotonic() - t0, 1.5)
        s.close()
        self.assertIsNone(d.proc.poll())
        self.finish(d)

    def test_reload_keeps_live_sessions(self):
        n = 4 << 20
        old = self.backend(mode="stream", send_bytes=n, seed=11)
        new = self.backend(mode="echo")
        lp = free_port()
        d = self.daemon(fwd_conf(lp, old.port))
        results = [None] * 20

        def run(i):
            s = connect("127.0.0.1", lp)
            results[i] = stream_both_ways(s, n, seed=100 + i)
            s.close()
        threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        self.assertTrue(d.reload(fwd_conf(lp, new.port)), d.log()[-2000:])
        # a new session uses the new configuration
        s = connect("127.0.0.1", lp)
        s.sendall(b"new")
        self.assertEqual(recv_exact(s, 3), b"new")
        s.close()
        for t in threads:
            t.join(120)
        for r in results:
            self.assertIsNotNone(r)
            self.assertEqual(r[1], old.sent_sha)
            self.assertEqual(r[2], n)
        self.assertEqual(new.connections, 1)
        self.assertEqual(old.connections, 20)
        # the relay logs a session's end after both sockets closed: wait for
        # every line, then check there is no extra one
        self.assertTrue(d.wait_log(r'reason="done"', count=21), d.log()[-2000:])
        self.assertEqual(d.count_log(r'reason="done"'), 21)
        self.finish(d)

    def test_reload_invalid_keeps_old(self):
        b = self.backend(mode="echo")
        lp = free_port()
        d = self.daemon(fwd_conf(lp, b.port))
        self.assertTrue(d.reload("listen on 127.0.0.1 port 0 forward to 127.0.0.1 port 1\nbogus\n",
                                 expect_ok=False))
        self.assertRegex(d.log(), r"beepgated\.conf:\d+: ")
        s = connect("127.0.0.1", lp)
        s.sendall(b"still")
        self.assertEqual(recv_exact(s, 5), b"still")
        s.close()
        self.finish(d)

    def test_sigterm_drains(self):
        b = self.backend(mode="echo")
        lp = free_port()
        d = self.daemon(fwd_conf(lp, b.port))
        s = connect("127.0.0.1", lp)
        s.sendall(b"a")
        self.assertEqual(recv_exact(s, 1), b"a")
        d.signal(signal.SIGTERM)
        self.assertTrue(d.wait_log(r"stopping: not accepting"))
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", lp), timeout=2).close()
        # the live session still works, and the daemon exits when it ends
        s.sendall(b"b")
        self.assertEqual(recv_exact(s, 1), b"b")
        self.assertIsNone(d.proc.poll())
        s.close()
        self.assertEqual(d.proc.wait(10), 0)
        self.assertTrue(d.wait_log(r"last session closed"))
        self.finish(d)

    def test_sigterm_hard_stop(self):
        b = self.backend(mode="echo")
        lp = free_port()
        d = self.daemon("timeouts { hard-stop 1s }\n"
                        "listen on 127.0.0.1 port %d forward to 127.0.0.1 port %d\n" % (lp, b.port))
        s = connect("127.0.0.1", lp)
        s.sendall(b"a")
        self.assertEqual(recv_exact(s, 1), b"a")
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(10), 0)
        self.assertLess(time.monotonic() - t0, 4)
        self.assertTrue(is_closed(s, 2))
        self.assertTrue(d.wait_log(r'reason="shutdown"'))
        self.finish(d)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to drop privileges")
    def test_privilege_drop(self):
        b = self.backend(mode="echo")
        lp = free_port()
        d = self.daemon(fwd_conf(lp, b.port), user_line='user "nobody"\n')
        with open("/proc/%d/status" % d.proc.pid) as f:
            st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        uids = st["Uid"].split()
        gids = st["Gid"].split()
        self.assertEqual(set(uids), {"65534"})
        self.assertEqual(set(gids), {"65534"})
        self.assertEqual(st["Groups"].split(), ["65534"])
        self.assertEqual(st["NoNewPrivs"].strip(), "1")
        self.assertEqual(int(st["CapEff"].strip(), 16), 0)
        s = connect("127.0.0.1", lp)
        s.sendall(b"x")
        self.assertEqual(recv_exact(s, 1), b"x")
        s.close()
        self.finish(d)

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_refuses_root_without_allow(self):
        rc, out, _ = check_config("listen on 127.0.0.1 port %d forward to 127.0.0.1 port 9\n"
                                  % free_port(), user_line='user "root"\n')
        self.assertEqual(rc, 0, out)   # valid syntax; refusal happens at start
        import subprocess
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write('user "root"\nlisten on 127.0.0.1 port %d forward to 127.0.0.1 port 9\n'
                    % free_port())
            f.flush()
            from integration.harness import BEEPGATED
            r = subprocess.run([BEEPGATED, "-d", "-f", f.name], capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"refusing to run as root", r.stdout + r.stderr)

    def test_check_mode(self):
        rc, out, _ = check_config(fwd_conf(free_port(), 9))
        self.assertEqual(rc, 0, out)
        self.assertIn("OK", out)
        rc, out, path = check_config("listen on 127.0.0.1 port 99999 forward to 127.0.0.1 port 9\n"
                                     "limits { buffer 1 }\n")
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"c\.conf:3: .*port")
        self.assertRegex(out, r"c\.conf:4: .*buffer")


if __name__ == "__main__":
    from integration.harness import main
    main()
