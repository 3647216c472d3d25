"""Shared pieces of the reliability scenarios (tests/reliability/rel_*.py).

Each scenario measures figures, prints one line per figure

    FIGURE <name>: <what was measured> (bound <criterion>) PASS|FAIL

and exits non-zero when any figure failed.  STRESS=long selects the long
form (more connections, longer runs); the default short form finishes in
well under 90 s on a 2-core machine."""
import os
import resource
import signal
import socket
import sys
import threading
import time

from integration.harness import Daemon  # noqa: F401  (re-exported)

LONG = os.environ.get("STRESS", "") == "long"
SOURCES = ["127.0.0.%d" % i for i in range(2, 10)]

_results = []


def size(short, long):
    """The short or the long form of a figure."""
    return long if LONG else short


def raise_nofile():
    """Lets this process (and the daemons it starts) hold many sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def figure(name, measured, bound, ok):
    line = "FIGURE %s: %s (bound %s) %s" % (name, measured, bound, "PASS" if ok else "FAIL")
    print(line, flush=True)
    _results.append((name, bool(ok)))
    return ok


def check(name, ok, detail):
    """A yes/no condition reported as a figure."""
    return figure(name, detail, "must hold", ok)


def finish(daemons=()):
    """Stops the daemons (a non-zero exit status or a sanitizer report is a
    failure) and exits with the overall verdict."""
    for d in daemons:
        try:
            rc = d.stop()
        except AssertionError as e:
            check("clean-stop", False, str(e)[:300])
            continue
        log = d.log()
        check("clean-stop", rc == 0 and "ERROR: AddressSanitizer" not in log
              and "runtime error:" not in log,
              "beepgated exit status %s, no sanitizer report" % rc)
        if rc != 0:
            print(log[-3000:])
    failed = [n for n, ok in _results if not ok]
    print("%d figures, %d failed%s" % (len(_results), len(failed),
                                       (": " + ", ".join(failed)) if failed else ""), flush=True)
    sys.exit(1 if failed or not _results else 0)


def start_watchdog(seconds):
    """A scenario that hangs is a failure, not a stuck ctest."""
    signal.alarm(int(seconds))


def bound_connect(src, port, dst="127.0.0.1", timeout=10.0, blocking=True):
    """A TCP connection from source address src (127.0.0.x) to dst:port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, 0))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if blocking:
        s.settimeout(timeout)
        s.connect((dst, port))
    else:
        s.setblocking(False)
        try:
            s.connect((dst, port))
        except BlockingIOError:
            pass
    return s


def rst_close(s):
    """Closes with a TCP RST (SO_LINGER 0)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    s.close()


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def cpu_fraction(daemon, seconds):
    """The daemon's CPU time over `seconds` of wall time, as a fraction."""
    c0 = daemon.cpu_seconds()
    t0 = time.monotonic()
    time.sleep(seconds)
    c1 = daemon.cpu_seconds()
    return (c1 - c0) / (time.monotonic() - t0)


def wait_nfds(daemon, target, timeout):
    """Waits until the daemon holds at most target descriptors; returns the
    last count."""
    deadline = time.monotonic() + timeout
    n = daemon.nfds()
    while n > target and time.monotonic() < deadline:
        time.sleep(0.05)
        n = daemon.nfds()
    return n


class EchoServer:
    """A selector-driven TCP echo server with live connection counts (one
    thread, so hundreds of connections cost no threads)."""

    def __init__(self, host="127.0.0.1"):
        import selectors
        self.sel = selectors.DefaultSelector()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(4096)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.connections = 0
        self.live = 0
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import selectors
        while not self.stopping:
            for key, _ in self.sel.select(0.2):
                if key.data is None:
                    try:
                        c, _ = self.lsock.accept()
                    except OSError:
                        continue
                    c.setblocking(False)
                    self.sel.register(c, selectors.EVENT_READ, True)
                    with self.lock:
                        self.connections += 1
                        self.live += 1
                    continue
                c = key.fileobj
                try:
                    d = c.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if d:
                    try:
                        c.sendall(d)
                    except OSError:
                        d = b""
                if not d:
                    self.sel.unregister(c)
                    c.close()
                    with self.lock:
                        self.live -= 1

    def close(self):
        self.stopping = True
        self.thread.join(2)
        for key in list(self.sel.get_map().values()):
            try:
                key.fileobj.close()
            except OSError:
                pass
