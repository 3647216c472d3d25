"""workers N: several processes on SO_REUSEPORT sockets; limits shared
across them; SIGHUP, SIGTERM and a dying worker handled by the parent."""
import os
import re
import signal
import socket
import threading
import time
import unittest
import urllib.request

from integration.harness import (Backend, DaemonTestCase, connect, free_port, is_closed,
                                 recv_exact, stream_both_ways)

SHIFT = 40          # relay/server.h SERVER_ID_WORKER_SHIFT


def conf(lport, bport, extra=""):
    return ("workers 2\n"
            "timeouts { handshake 5s connect 2s idle 30s fin 10s hard-stop 5s }\n" + extra +
            "listen on 127.0.0.1 port %d forward to 127.0.0.1 port %d\n" % (lport, bport))


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return sorted(int(x) for x in f.read().split())
    except OSError:
        return []


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def workers_of(d, n=2, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = children(d.proc.pid)
        if len(kids) == n and d.count_log(r"worker \d started") >= n:
            return kids
        time.sleep(0.05)
    raise AssertionError("expected %d workers, have %r\n%s" % (n, children(d.proc.pid),
                                                                 d.log()[-2000:]))


def session_workers(log):
    """The workers that logged a session (the worker is in the id's high bits)."""
    return {int(x, 16) >> SHIFT for x in re.findall(r"session=([0-9a-f]+) (?:accepted|src=)", log)}


def echo_ok(s):
    try:
        s.sendall(b"ping")
        return recv_exact(s, 4, timeout=5) == b"ping"
    except OSError:
        return False


class WorkersTest(DaemonTestCase):
    def test_both_workers_serve(self):
        b = self.keep(Backend(mode="echo"))
        lp, ap = free_port(), free_port()
        d = self.daemon(conf(lp, b.port, "admin on 127.0.0.1 port %d\n" % ap))
        kids = workers_of(d)
        socks = [self.keep(connect("127.0.0.1", lp)) for _ in range(24)]
        for s in socks:
            self.assertTrue(echo_ok(s))
        # worker 0 serves the admin listener; the session count is global
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % ap, timeout=5).read()
        self.assertIn(b"\nbeepgate_worker 0\n", body)
        self.assertIn(b"\nbeepgate_sessions_all_workers 24\n", body)
        # the kernel spread the connections: both workers logged sessions
        # and both hold client sockets
        self.assertEqual(session_workers(d.log()), {0, 1}, d.log()[-3000:])
        for k in kids:
            n = sum(1 for f in os.listdir("/proc/%d/fd" % k)
                    if os.readlink("/proc/%d/fd/%s" % (k, f)).startswith("socket:"))
            self.assertGreater(n, 2, "worker %d holds no session" % k)
        for s in socks:
            s.close()
        self.finish(d)

    def test_per_source_limit_across_workers(self):
        b = self.keep(Backend(mode="echo"))
        lp = free_port()
        d = self.daemon(conf(lp, b.port, "limits { max-sessions-per-source 3 "
                                         "connection-rate off }\n"))
        workers_of(d)
        socks = [self.keep(connect("127.0.0.1", lp)) for _ in range(16)]
        served = [s for s in socks if echo_ok(s)]
        # three in all, whichever worker each connection reached
        self.assertEqual(len(served), 3, d.log()[-3000:])
        self.assertEqual(session_workers(d.log()), {0, 1})
        self.assertTrue(d.wait_log("max-sessions-per-source reached", count=13))
        # a slot freed in one worker may be used through the other
        served[0].close()
        time.sleep(0.3)
        more = [self.keep(connect("127.0.0.1", lp)) for _ in range(8)]
        self.assertEqual(sum(1 for s in more if echo_ok(s)), 1)
        self.finish(d)

    def test_global_limit_across_workers(self):
        b = self.keep(Backend(mode="echo"))
        lp = free_port()
        d = self.daemon(conf(lp, b.port, "limits { max-sessions 4 connection-rate off }\n"))
        workers_of(d)
        socks = [self.keep(connect("127.0.0.1", lp)) for _ in range(16)]
        self.assertEqual(sum(1 for s in socks if echo_ok(s)), 4, d.log()[-3000:])
        self.assertEqual(session_workers(d.log()) | {0, 1}, {0, 1})
        self.finish(d)

    def test_reload_keeps_live_tunnels(self):
        n = 4 << 20
        old = self.keep(Backend(mode="stream", send_bytes=n, seed=11))
        new = self.keep(Backend(mode="echo"))
        lp = free_port()
        d = self.daemon(conf(lp, old.port))
        kids = workers_of(d)
        results = [None] * 12

        def run(i):
            s = connect("127.0.0.1", lp)
            results[i] = stream_both_ways(s, n, seed=100 + i)
            s.close()
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(results))]
        for t in threads:
            t.start()
        time.sleep(0.3)
        d.write_config(conf(lp, new.port))
        d.signal(signal.SIGHUP)
        # the parent validated it and every worker took it
        self.assertTrue(d.wait_log(r"configuration generation 2 in use", count=2), d.log()[-3000:])
        self.assertEqual(children(d.proc.pid), kids)
        for _ in range(8):
            s = connect("127.0.0.1", lp)
            self.assertTrue(echo_ok(s))
            s.close()
        for t in threads:
            t.join(120)
        for r in results:
            self.assertIsNotNone(r)
            self.assertEqual(r[1], old.sent_sha)
            self.assertEqual(r[2], n)
        self.assertEqual(old.connections, len(results))
        # an invalid configuration stops at the parent
        d.write_config(conf(lp, new.port) + "bogus\n")
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log(r"reload failed: keeping configuration generation 2 in every"))
        self.assertEqual(d.count_log(r"(?m)reloading configuration$"), 2)
        self.finish(d)

    def test_sigterm_ends_every_worker(self):
        b = self.keep(Backend(mode="echo"))
        lp = free_port()
        d = self.daemon(conf(lp, b.port))
        kids = workers_of(d)
        s = self.keep(connect("127.0.0.1", lp))
        self.assertTrue(echo_ok(s))
        d.signal(signal.SIGTERM)
        # draining: the live session still works, nothing new is accepted
        time.sleep(0.3)
        self.assertTrue(echo_ok(s))
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", lp), timeout=2).close()
        s.close()
        self.daemons.remove(d)
        rc = d.stop()
        self.assertEqual(rc, 0, d.log()[-3000:])
        for k in kids:
            self.assertFalse(alive(k), "worker %d still runs" % k)
        self.assertEqual(d.count_log(r"worker \d \(pid \d+\) exited with status 0"), 2)
        self.assertNotIn("AddressSanitizer", d.log())

    def test_killed_worker_restarts(self):
        b = self.keep(Backend(mode="echo"))
        lp = free_port()
        d = self.daemon(conf(lp, b.port, "limits { max-sessions-per-source 6 "
                                         "connection-rate off }\n"))
        kids = workers_of(d)
        socks = [self.keep(connect("127.0.0.1", lp)) for _ in range(6)]
        self.assertTrue(all(echo_ok(s) for s in socks))
        os.kill(kids[0], signal.SIGKILL)
        self.assertTrue(d.wait_log(r"worker \d \(pid %d\) killed by signal 9" % kids[0]),
                        d.log()[-2000:])
        self.assertTrue(d.wait_log(r"worker \d started", count=3), d.log()[-2000:])
        now = workers_of(d)
        self.assertIn(kids[1], now)
        self.assertNotIn(kids[0], now)
        # the dead worker's connections are gone, and so are its slots:
        # exactly that many new connections fit under the limit again
        lost = sum(1 for s in socks if is_closed(s, timeout=0.5))
        more = [self.keep(connect("127.0.0.1", lp)) for _ in range(8)]
        self.assertEqual(sum(1 for s in more if echo_ok(s)), lost, d.log()[-3000:])
        self.finish(d)


if __name__ == "__main__":
    unittest.main()
