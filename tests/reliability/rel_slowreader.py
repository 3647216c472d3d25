"""Slow readers: N tunnels (SCRAM + TUNNEL) to a far end that streams as fast
as it can, while each client reads 10 KiB/s.

The relay must hold backpressure: the bytes queued inside a tunnel's pump
never exceed `limits { buffer }` (sampled from /metrics and /status on the
admin listener all along), its RSS stays under baseline + N x (2 x buffer +
a small constant), the kernel's TCP memory under what `limits {
socket-buffer }` allows, and once the clients read at full speed every byte
arrives (sha256 per tunnel).

Without socket-buffer the kernel lets the send buffer towards a slow reader
grow to tcp_wmem's maximum (4 MiB): 500 such tunnels exhausted the machine's
tcp_mem ("TCP: out of memory"), and the kernel reset unrelated connections."""
import hashlib
import re
import selectors
import socket
import subprocess
import threading
import time
import urllib.request

from integration.harness import free_port, pseudo_random, sha256
from integration.tunnel_env import REALM, USERS, cleanup, make_sasldb
from peers import beep
from peers.beep import Tunnel
from reliability.relutil import (Daemon, figure, finish, raise_nofile, size,
                                 start_watchdog)

N = size(50, 500)
SLOW_SECONDS = size(12, 40)
READ_RATE = 10 * 1024                 # bytes per second per client
STREAM = 2 * 1024 * 1024              # bytes the far end sends per tunnel
BUFFER = 64 * 1024                    # limits { buffer }
SOCKBUF = 64 * 1024                   # limits { socket-buffer } (the kernel doubles it)
FAR_SNDBUF = 64 * 1024                # the far end's own send buffer
CLIENT_RCVBUF = 16 * 1024             # keeps the kernel from hiding the backpressure
PER_TUNNEL_CONST_KIB = 48             # documented: session, BEEP and SASL state, sockets
RSS_SLACK_KIB = 4 * 1024              # allocator arenas
STATUS_LISTED = 200                   # /status lists this many sessions (BG_METRICS_STATUS_SESSIONS)
ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:quarantine_size_mb=0:"
                            "thread_local_quarantine_size_kb=0"}

start_watchdog(size(150, 900))
raise_nofile()


class Streamer:
    """The far end: sends DATA to every connection as fast as the socket
    takes it, then half-closes; one selector thread for all."""

    def __init__(self, data):
        self.data = memoryview(data)
        self.sel = selectors.DefaultSelector()
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, FAR_SNDBUF)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4096)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.connections = 0
        self.finished = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            for key, ev in self.sel.select(0.2):
                if key.data is None:
                    try:
                        c, _ = self.lsock.accept()
                    except OSError:
                        continue
                    c.setblocking(False)
                    self.connections += 1
                    self.sel.register(c, selectors.EVENT_READ | selectors.EVENT_WRITE, [0])
                    continue
                c, st = key.fileobj, key.data
                if ev & selectors.EVENT_WRITE and st[0] < len(self.data):
                    try:
                        st[0] += c.send(self.data[st[0]:st[0] + (1 << 20)])
                    except BlockingIOError:
                        pass
                    except OSError:
                        st[0] = len(self.data) + 1
                    if st[0] >= len(self.data):
                        if st[0] == len(self.data):
                            try:
                                c.shutdown(socket.SHUT_WR)
                            except OSError:
                                pass
                            self.finished += 1
                        self.sel.modify(c, selectors.EVENT_READ, st)
                if ev & selectors.EVENT_READ:
                    try:
                        d = c.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        d = b""
                    if not d:
                        self.sel.unregister(c)
                        c.close()

    def close(self):
        self.stopping = True
        self.thread.join(2)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


def open_tunnel(port, far_port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RCVBUF)
    s.settimeout(20)
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sess = beep.Session(s, "initiator", (), 20)
    sess.wait_greeting()
    r = beep.sasl_login(sess, "SCRAM-SHA-256", "alice", USERS["alice"])
    if not r.ok:
        raise RuntimeError("SASL: %s %s" % (r.code, r.text))
    t = beep.tunnel_start(sess, Tunnel(ip4="127.0.0.1", port=far_port))
    if not t.ok:
        raise RuntimeError("TUNNEL: %s %s" % (t.code, t.text))
    h = hashlib.sha256()
    h.update(t.leftover)
    return {"sock": t.sock, "hash": h, "got": len(t.leftover), "eof": False, "error": None,
            "name": "%s:%d" % t.sock.getsockname()}


def relay_socket_kib(port, far_port):
    """Kernel memory of the relay's tunnel sockets (`ss -tm`: bytes received
    and not read, plus bytes queued to send), summed over the connections
    accepted on `port` and those made to `far_port`."""
    r = subprocess.run(["ss", "-tmnH", "state", "established",
                        "( sport = :%d or dport = :%d )" % (port, far_port)],
                       capture_output=True, text=True, timeout=30)
    total = 0
    for m in re.finditer(r"skmem:\(r(\d+),rb\d+,t(\d+),tb\d+,f\d+,w(\d+)", r.stdout):
        total += int(m.group(1)) + max(int(m.group(2)), int(m.group(3)))
    return total // 1024


def http_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.read().decode()


class Sampler:
    """Polls the admin listener and the RSS while the clients read slowly."""

    def __init__(self, d, admin, port, far_port):
        self.d, self.admin, self.port, self.far_port = d, admin, port, far_port
        self.queued_max = 0            # from /metrics, largest queue of any tunnel
        self.status_max = 0            # from /status, per session line
        self.at_bound = set()          # sessions seen with a full queue
        self.lines = 0
        self.rss = []
        self.tcp = []
        self.samples = 0
        self.errors = []
        self.t0 = time.monotonic()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                m = http_get(self.admin, "/metrics")
                for v in re.findall(r'^beepgate_pump_queued_bytes_max\{direction="\w+"\} (\d+)',
                                    m, re.M):
                    self.queued_max = max(self.queued_max, int(v))
                st = http_get(self.admin, "/status")
                for sid, q1, q2 in re.findall(r"^session (\w+) pumping .* queued=(\d+)/(\d+) ",
                                              st, re.M):
                    self.lines += 1
                    q = max(int(q1), int(q2))
                    self.status_max = max(self.status_max, q)
                    if q >= BUFFER * 3 // 4:
                        self.at_bound.add(sid)
                self.rss.append(self.d.rss_kib())
                self.tcp.append(relay_socket_kib(self.port, self.far_port))
                self.samples += 1
            except Exception as e:     # counted: a sampler that fails proves nothing
                self.errors.append("%r after %.1fs" % (e, time.monotonic() - self.t0))
            self.stop.wait(0.5)

    def finish(self):
        self.stop.set()
        self.thread.join(10)


def read_slowly(tunnels, seconds):
    """Each client reads READ_RATE bytes per second, in ticks of 100 ms."""
    per_tick = READ_RATE // 10
    end = time.monotonic() + seconds
    tick = time.monotonic()
    for t in tunnels:
        t["sock"].setblocking(False)
    while time.monotonic() < end:
        for t in tunnels:
            if t["eof"]:
                continue
            try:
                d = t["sock"].recv(per_tick)
            except BlockingIOError:
                continue
            except OSError as e:
                t["error"] = "slow phase: %r" % e
                d = b""
            if not d:
                t["eof"] = True
            t["hash"].update(d)
            t["got"] += len(d)
        tick += 0.1
        time.sleep(max(0.0, tick - time.monotonic()))


def read_rest(tunnels, timeout):
    sel = selectors.DefaultSelector()
    for t in tunnels:
        if not t["eof"]:
            sel.register(t["sock"], selectors.EVENT_READ, t)
    deadline = time.monotonic() + timeout
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(0.5):
            t = key.data
            try:
                d = t["sock"].recv(1 << 20)
            except BlockingIOError:
                continue
            except OSError as e:
                t["error"] = "fast phase: %r" % e
                d = b""
            if not d:
                t["eof"] = True
                sel.unregister(t["sock"])
                t["sock"].close()
                continue
            t["hash"].update(d)
            t["got"] += len(d)
    for t in tunnels:
        t["sock"].close()


def main():
    sdir, db = make_sasldb()
    data = pseudo_random(STREAM, 3)
    want = sha256(data)
    far = Streamer(data)
    port, admin = free_port(), free_port()
    conf = ("limits { buffer %d socket-buffer %d max-sessions-per-source %d "
            "connection-rate off }\n" % (BUFFER, SOCKBUF, N + 50) +
            "timeouts { handshake 10s connect 3s idle 600s fin 30s hard-stop 5s }\n" +
            'sasl {\n  database "%s"\n  realm "%s"\n}\n' % (db, REALM) +
            "admin on 127.0.0.1 port %d\n" % admin +
            "listen on 127.0.0.1 port %d tunnel\n" % port +
            'pass from user "alice" to 127.0.0.1 port %d\n' % far.port)
    d = Daemon(conf, name="slowreader", verbose=False, extra_env=ASAN_ENV)
    # warm-up (SASL, the pool's scratch buffer), then the baseline
    w = open_tunnel(port, far.port)
    read_rest([w], 30)
    time.sleep(0.5)
    base_rss = d.rss_kib()

    t0 = time.monotonic()
    tunnels = [open_tunnel(port, far.port) for _ in range(N)]
    setup = time.monotonic() - t0
    sampler = Sampler(d, admin, port, far.port)
    read_slowly(tunnels, SLOW_SECONDS)
    sampler.finish()
    slow_bytes = sum(t["got"] for t in tunnels)
    t1 = time.monotonic()
    read_rest(tunnels, size(60, 300))
    drain = time.monotonic() - t1

    figure("slowreader-queue",
           "largest queue of one tunnel %d B (/metrics), %d B (/status, %d session lines); "
           "%d/%d tunnels seen with a full queue (>= 3/4 of the bound); %d samples in %ds"
           % (sampler.queued_max, sampler.status_max, sampler.lines, len(sampler.at_bound), N,
              sampler.samples, SLOW_SECONDS),
           "<= buffer %d B, backpressure seen (a full queue in at least half the tunnels "
           "/status lists, at most %d)" % (BUFFER, STATUS_LISTED),
           sampler.samples >= 5 and not sampler.errors and
           0 < sampler.queued_max <= BUFFER and sampler.status_max <= BUFFER and
           len(sampler.at_bound) >= min(N, STATUS_LISTED) // 2)
    peak = max(sampler.rss) if sampler.rss else 0
    bound = base_rss + N * (2 * BUFFER // 1024 + PER_TUNNEL_CONST_KIB) + RSS_SLACK_KIB
    figure("slowreader-rss",
           "peak RSS %d KiB over a %d KiB baseline: +%d KiB for %d tunnels (%.1f KiB each)"
           % (peak, base_rss, peak - base_rss, N, (peak - base_rss) / N),
           "baseline + N x (2 x %d KiB + %d KiB) + %d KiB = %d KiB"
           % (BUFFER // 1024, PER_TUNNEL_CONST_KIB, RSS_SLACK_KIB, bound),
           0 < peak <= bound)
    peak_tcp = max(sampler.tcp) if sampler.tcp else 0
    # per tunnel: two sockets, each receiving and sending at most 2 x SOCKBUF
    per_tunnel = 2 * 2 * 2 * SOCKBUF
    figure("slowreader-kernel",
           "kernel memory of the relay's tunnel sockets (ss -tm) peak %d KiB: %.1f KiB per "
           "tunnel with socket-buffer %d KiB" % (peak_tcp, peak_tcp / N, SOCKBUF // 1024),
           "N x 2 sockets x 2 x (2 x %d KiB) = %d KiB" % (SOCKBUF // 1024,
                                                           N * per_tunnel // 1024),
           0 < peak_tcp <= N * per_tunnel // 1024)
    good = sum(1 for t in tunnels if t["got"] == STREAM and t["hash"].hexdigest() == want)
    figure("slowreader-bytes",
           "%d/%d tunnels delivered all %d bytes with the right sha256 (%.1f MiB read slowly "
           "in %ds at %d KiB/s each, the rest in %.1fs; set-up of the %d tunnels %.1fs)"
           % (good, N, STREAM, slow_bytes / 1048576.0, SLOW_SECONDS, READ_RATE // 1024, drain,
              N, setup),
           "every byte, every tunnel",
           good == N and far.connections == N + 1)
    if sampler.errors:
        print("sampler errors: %s" % sampler.errors[:3])
    for t in tunnels:
        if t["got"] != STREAM or t["hash"].hexdigest() != want:
            print("tunnel from %s: %d bytes, eof %s, error %s"
                  % (t["name"], t["got"], t["eof"], t["error"]))
    far.close()
    cleanup(sdir)
    finish([d])


if __name__ == "__main__":
    main()
