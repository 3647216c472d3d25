"""Integration-test harness: runs beepgated as a real process on loopback.

Every daemon gets a private directory, a configuration written by the test,
ports chosen by the kernel, a log file, and is stopped (and checked for a
clean exit: under ASan a leak makes the exit status non-zero) at the end.
"""
import atexit
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SRC = os.environ.get("BEEPGATE_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("BEEPGATE_BUILD", os.path.join(SRC, "build", "plain"))
BEEPGATED = os.path.join(BUILD, "beepgated")

_live = []
VALGRIND_EXIT = 99     # beepgated's exit status when valgrind found an error


def _cleanup():
    for d in list(_live):
        try:
            d.kill()
        except Exception:
            pass


atexit.register(_cleanup)


def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def connect(host, port, timeout=10.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(sock, n, timeout=20.0):
    sock.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def recv_all(sock, timeout=20.0):
    """Reads until EOF."""
    sock.settimeout(timeout)
    buf = bytearray()
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return bytes(buf)
        buf += chunk


def is_closed(sock, timeout=5.0):
    """True when the peer closed (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def sha256(b):
    return hashlib.sha256(b).hexdigest()


class Daemon:
    """One beepgated process."""

    def __init__(self, config, name="relay", verbose=True, extra_env=None, args=None,
                 user_line='user "root"\nallow root\n', preexec=None):
        self.dir = tempfile.mkdtemp(prefix="beepgate-it-%s-" % name)
        self.conf_path = os.path.join(self.dir, "beepgated.conf")
        self.log_path = os.path.join(self.dir, "beepgated.log")
        self.user_line = user_line
        self.write_config(config)
        cmd = [BEEPGATED, "-d", "-f", self.conf_path]
        if verbose:
            cmd.append("-v")
        if args:
            cmd += args
        self.valgrind = bool(os.environ.get("BEEPGATE_VALGRIND"))
        self.valgrind_problems = []
        if self.valgrind:
            # Definite leaks and memory errors make the exit status 99;
            # descriptors still open at exit are read from the log (stop()).
            cmd = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
                   "--show-leak-kinds=definite", "--track-fds=yes",
                   "--error-exitcode=%d" % VALGRIND_EXIT,
                   "--log-file=%s/valgrind.%%p" % self.dir] + cmd
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        if extra_env:
            env.update(extra_env)
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, cwd=self.dir,
                                     preexec_fn=preexec)
        _live.append(self)
        self.generation = 1
        if not self.wait_log(r"started \(pid", timeout=60 if self.valgrind else 15):
            raise RuntimeError("beepgated did not start:\n" + self.log())

    def write_config(self, config):
        with open(self.conf_path, "w") as f:
            f.write(self.user_line + config)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=10.0, count=1):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(rx.findall(self.log())) >= count:
                return True
            if self.proc.poll() is not None:
                return len(rx.findall(self.log())) >= count
            time.sleep(0.05)
        return False

    def count_log(self, pattern):
        return len(re.findall(pattern, self.log()))

    def reload(self, config=None, expect_ok=True, timeout=10.0):
        if config is not None:
            self.write_config(config)
        ok_before = self.count_log(r"configuration generation \d+ in use")
        bad_before = self.count_log(r"reload failed")
        self.proc.send_signal(signal.SIGHUP)
        if expect_ok:
            return self.wait_log(r"configuration generation \d+ in use", timeout, ok_before + 1)
        return self.wait_log(r"reload failed", timeout, bad_before + 1)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20.0):
        """SIGTERM, wait, and return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("beepgated did not stop in %ss\n%s" % (timeout, self.log()))
        finally:
            self.logf.close()
            if self in _live:
                _live.remove(self)
        if self.valgrind:
            self.valgrind_problems = self.valgrind_check(rc)
            if self.valgrind_problems:
                # the verdict: a leak or an open descriptor fails like a crash
                print("valgrind: " + "; ".join(self.valgrind_problems), file=sys.stderr)
                if rc == 0:
                    rc = VALGRIND_EXIT
        return rc

    def valgrind_check(self, rc):
        """Reads the valgrind logs of this daemon: definitely lost bytes,
        errors, and descriptors open at exit beyond stdin/stdout/stderr.
        Returns a list of problems (empty: clean)."""
        problems = []
        logs = [os.path.join(self.dir, f) for f in os.listdir(self.dir)
                if f.startswith("valgrind.")]
        if not logs:
            return ["no valgrind log in %s" % self.dir]
        for path in logs:
            with open(path, errors="replace") as f:
                text = f.read()
            m = re.search(r"definitely lost: ([\d,]+) bytes", text)
            if m and m.group(1) != "0":
                problems.append("%s bytes definitely lost" % m.group(1))
            m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
            if m is None:
                problems.append("valgrind did not finish (no ERROR SUMMARY)")
            elif m.group(1) != "0":
                problems.append("%s valgrind errors" % m.group(1))
            if re.search(r"FILE DESCRIPTORS: \d+ open", text) is None:
                problems.append("no descriptor report")
            # every descriptor valgrind lists, but stdio and its own log file
            extra = [(int(fd), what.strip()) for fd, what in
                     re.findall(r"Open [^\n]*?(?:descriptor|socket) (\d+):([^\n]*)", text)
                     if int(fd) > 2 and os.path.basename(path) not in what]
            if extra:
                problems.append("descriptors open at exit beyond stdio: %s"
                                % ", ".join("%d %s" % e for e in extra))
            if problems:
                problems.append("see %s:\n%s" % (path, text[-6000:]))
        if rc == VALGRIND_EXIT and not problems:
            problems.append("valgrind exit status %d" % rc)
        return problems

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()

    def close_clean(self, testcase):
        """Stops the daemon and asserts a clean exit (no sanitizer report)."""
        rc = self.stop()
        log = self.log()
        testcase.assertEqual(rc, 0, "beepgated exit status %s\n%s" % (rc, log[-4000:]))
        testcase.assertNotIn("ERROR: AddressSanitizer", log)
        testcase.assertNotIn("runtime error:", log)
        testcase.assertEqual(self.valgrind_problems, [], "valgrind")
        shutil.rmtree(self.dir, ignore_errors=True)

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def nfds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DaemonTestCase(unittest.TestCase):
    """Keeps the daemons and objects a test starts; tearDown kills and closes
    whatever a test did not finish.  finish(d) stops d cleanly and checks
    its log (no sanitizer report)."""

    def setUp(self):
        self.objs = []
        self.daemons = []

    def tearDown(self):
        for o in self.objs:
            o.close()
        for d in self.daemons:
            d.kill()

    def keep(self, o):
        self.objs.append(o)
        return o

    def daemon(self, conf, **kw):
        d = Daemon(conf, **kw)
        self.daemons.append(d)
        return d

    def finish(self, d):
        self.daemons.remove(d)
        d.close_clean(self)


def check_config(text, user_line='user "root"\nallow root\n'):
    """Runs beepgated -n on text; returns (exit status, output)."""
    d = tempfile.mkdtemp(prefix="beepgate-n-")
    try:
        p = os.path.join(d, "c.conf")
        with open(p, "w") as f:
            f.write(user_line + text)
        r = subprocess.run([BEEPGATED, "-n", "-f", p], capture_output=True, timeout=30)
        return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace"), p
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    """unittest main that prints 'N passed, N failed' and exits non-zero on failure."""
    signal.alarm(int(os.environ.get("BEEPGATE_IT_TIMEOUT", "800")))
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    failed = len(r.failures) + len(r.errors) + len(getattr(r, "unexpectedSuccesses", []))
    passed = r.testsRun - failed - len(r.skipped)
    if r.skipped:
        print("%d passed, %d failed, %d skipped" % (passed, failed, len(r.skipped)))
    else:
        print("%d passed, %d failed" % (passed, failed))
    _cleanup()
    sys.exit(1 if failed or passed == 0 else 0)


class Backend:
    """A threaded TCP server on loopback standing in for a destination.

    mode "echo": echoes; "stream": sends `send_bytes` pseudo-random octets
    (sha256 in self.sent_sha) while hashing what it receives, then, after the
    peer's EOF and its own sending, closes; "sink": reads and hashes only;
    "banner": sends `banner` on accept, then echoes; "silent": accepts and holds.
    Counts connections (a sentinel records zero when nothing reached it)."""

    def __init__(self, mode="echo", host="127.0.0.1", send_bytes=0, banner=b"",
                 seed=1, reply_after_eof=0, port=0):
        self.mode = mode
        self.send_bytes = send_bytes
        self.banner = banner
        self.seed = seed
        self.reply_after_eof = reply_after_eof
        self.connections = 0
        self.results = []          # (received sha256, received length) per connection
        self.sent_sha = None
        self.lock = threading.Lock()
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(512)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closing:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            if self.mode == "echo":
                while True:
                    d = c.recv(1 << 16)
                    if not d:
                        break
                    c.sendall(d)
            elif self.mode == "banner":
                c.sendall(self.banner)
                while True:
                    d = c.recv(1 << 16)
                    if not d:
                        break
                    c.sendall(d)
            elif self.mode in ("stream", "sink"):
                h = hashlib.sha256()
                total = [0]

                def reader():
                    while True:
                        d = c.recv(1 << 20)
                        if not d:
                            return
                        h.update(d)
                        total[0] += len(d)
                t = threading.Thread(target=reader, daemon=True)
                t.start()
                if self.mode == "stream" and self.send_bytes:
                    data = pseudo_random(self.send_bytes, self.seed)
                    self.sent_sha = sha256(data)
                    c.sendall(data)
                    if not self.reply_after_eof:
                        c.shutdown(socket.SHUT_WR)
                t.join(120)
                if self.reply_after_eof:
                    data = pseudo_random(self.reply_after_eof, self.seed + 1)
                    self.sent_sha = sha256(data)
                    c.sendall(data)
                    c.shutdown(socket.SHUT_WR)
                with self.lock:
                    self.results.append((h.hexdigest(), total[0]))
            elif self.mode == "silent":
                while c.recv(1 << 16):
                    pass
                # the peer's FIN seen: hold our side open until close()
                while not self.closing:
                    time.sleep(0.05)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def close(self):
        self.closing = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


def pseudo_random(n, seed=1):
    """n reproducible pseudo-random octets (fast: hashes blocks of a counter)."""
    out = bytearray()
    block = 0
    base = hashlib.sha256(b"beepgate-%d" % seed).digest()
    # 64 KiB building block repeated with a varying prefix keeps it fast
    chunk = b"".join(hashlib.sha512(base + i.to_bytes(4, "big")).digest() for i in range(1024))
    while len(out) < n:
        out += hashlib.sha256(base + block.to_bytes(8, "big")).digest() + chunk
        block += 1
    return bytes(out[:n])


def stream_both_ways(sock, nbytes, seed=7, timeout=120):
    """Sends nbytes from the client while receiving until EOF; returns
    (sent sha256, received bytes sha256, received length)."""
    data = pseudo_random(nbytes, seed)
    got = hashlib.sha256()
    total = [0]
    sock.settimeout(timeout)

    def reader():
        while True:
            try:
                d = sock.recv(1 << 20)
            except OSError:
                return
            if not d:
                return
            got.update(d)
            total[0] += len(d)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    t.join(timeout)
    return sha256(data), got.hexdigest(), total[0]
