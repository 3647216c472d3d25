"""Half-close storms and vanishing peers.

- FIN mid-frame during the BEEP phase (half a greeting frame, or half a
  header after SASL, then shutdown(SHUT_WR)): closed well before the
  handshake deadline (within fin + 1 s).
- RST (SO_LINGER 0, close) at every phase: during the greeting, during a
  SASL exchange, after a TUNNEL start before the next hop answered (the
  relay must drop its connection to the next hop), during pumping.
- A peer that half-closes a tunnel whose backend never finishes: closed at
  the fin timeout (1 s).
Then: no CPU spin (< 2% over 3 s of idle waiting), every session logged as
closed, descriptors back to the baseline."""
import selectors
import socket
import threading
import time

from integration.harness import free_port
from integration.tunnel_env import REALM, USERS, cleanup, make_sasldb
from peers import beep
from peers.beep import Tunnel
from reliability.relutil import (Daemon, EchoServer, check, cpu_fraction, figure, finish,
                                 percentile, raise_nofile, rst_close, size, start_watchdog,
                                 wait_nfds)

M = size(20, 200)        # connections per kind
FIN = 1.0
HANDSHAKE = 10.0
CPU_BOUND = 0.02

start_watchdog(size(85, 900))
raise_nofile()

GREETING = beep.build_frame("RPY", 0, 0, 0, beep.mime(beep.greeting_xml(), "application/beep+xml"))
SCRAM = beep.SASL_URI + "SCRAM-SHA-256"


class HoldServer:
    """Accepts and reads, never writes and never closes: a next hop that
    does not answer, a backend that never finishes.  `eof` counts the
    connections the relay closed (or half-closed) toward it."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1024)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.connections = 0
        self.eof = 0
        self.held = []
        self.stopping = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stopping:
            for key, _ in self.sel.select(0.2):
                if key.data is None:
                    try:
                        c, _ = self.lsock.accept()
                    except OSError:
                        continue
                    c.setblocking(False)
                    self.held.append(c)
                    self.connections += 1
                    self.sel.register(c, selectors.EVENT_READ, True)
                    continue
                try:
                    d = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if not d:
                    self.sel.unregister(key.fileobj)   # kept open: never finishes
                    self.eof += 1

    def close(self):
        self.stopping = True
        for c in self.held:
            c.close()
        self.lsock.close()


def wait_closed(socks, timeout):
    """Seconds from now until each socket sees EOF or RST (inf when not)."""
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    out = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    left = len(socks)
    while left and time.monotonic() - t0 < timeout:
        for key, _ in sel.select(0.1):
            try:
                d = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if not d:
                out[key.fileobj] = time.monotonic() - t0
                sel.unregister(key.fileobj)
                left -= 1
    return [out.get(s, float("inf")) for s in socks]


def login(port):
    s = beep.open_session("127.0.0.1", port, timeout=10)
    r = beep.sasl_login(s, "SCRAM-SHA-256", "alice", USERS["alice"])
    if not r.ok:
        raise RuntimeError("login failed: %s %s" % (r.code, r.text))
    return s


def tunnel_start_nowait(sess, element):
    """Sends a piggybacked TUNNEL start without waiting for the answer."""
    sess.hold_seq = True
    number = sess.next_channel
    sess.next_channel += 2
    sess.msg(0, sess.xml_payload(beep.start_xml(number, [(beep.TUNNEL_URI, element.xml(), None)])))


def main():
    sdir, db = make_sasldb()
    echo = EchoServer()
    hold = HoldServer()
    port = free_port()
    conf = ("limits { max-sessions-per-source 4000 connection-rate off }\n"
            "timeouts { handshake %ds connect 3s idle 60s fin %dms hard-stop 5s }\n"
            % (HANDSHAKE, FIN * 1000) +
            'sasl {\n  database "%s"\n  realm "%s"\n  max-failures 3\n}\n' % (db, REALM) +
            "listen on 127.0.0.1 port %d tunnel\n" % port +
            'pass from user "alice" to 127.0.0.1 port %d\n' % echo.port +
            'pass from user "alice" to 127.0.0.1 port %d\n' % hold.port)
    d = Daemon(conf, name="halfclose", verbose=False)
    sessions = 0

    # warm-up: one full tunnel, so pools the pump keeps are in the baseline
    s = login(port)
    t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=echo.port))
    t.sock.sendall(b"warm")
    t.sock.settimeout(5)
    t.sock.recv(16)
    t.sock.close()
    sessions += 1
    time.sleep(0.5)
    base_fds = d.nfds()

    # 1. FIN mid-frame, before and after authentication
    socks = []
    for _ in range(M):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(GREETING[:len(GREETING) // 2])
        socks.append(c)
    for _ in range(M):
        sess = login(port)
        sess.sock.sendall(b"MSG 0 1")
        socks.append(sess.sock)
    for c in socks:
        c.shutdown(socket.SHUT_WR)
    sessions += len(socks)
    times = wait_closed(socks, HANDSHAKE + 2)
    for c in socks:
        c.close()
    figure("halfclose-fin-midframe",
           "%d FIN mid-frame (%d in greeting, %d after SASL) closed in %.2f-%.2fs, p50 %.2fs"
           % (len(times), M, M, min(times), max(times), percentile(times, 50)),
           "all closed within fin + 1 = %.1fs (handshake deadline %.0fs)" % (FIN + 1, HANDSHAKE),
           max(times) <= FIN + 1)

    # 2. RST at every phase
    # 2a. during the greeting
    for _ in range(M):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(GREETING[:40])
        rst_close(c)
    # 2b. during a SASL exchange (challenge received, no answer)
    for _ in range(M):
        sess = beep.open_session("127.0.0.1", port, timeout=10)
        cl = beep.ScramClient("SCRAM-SHA-256", "alice", USERS["alice"])
        r = sess.start_channel([(SCRAM, beep.blob_xml(cl.first()), None)])
        if not r.ok:
            raise RuntimeError("SASL start refused: %s %s" % (r.code, r.text))
        rst_close(sess.sock)
    # 2c. after a TUNNEL start, before the next hop answered
    hold_before = hold.connections
    for _ in range(M):
        sess = login(port)
        tunnel_start_nowait(sess, Tunnel(ip4="127.0.0.1", port=hold.port, inner=Tunnel()))
        socks.append(sess.sock)
    deadline = time.monotonic() + 5
    while hold.connections - hold_before < M and time.monotonic() < deadline:
        time.sleep(0.05)
    reached = hold.connections - hold_before
    eof_before = hold.eof
    for c in socks[-M:]:
        rst_close(c)
    # 2d. during pumping (the echo backend is streaming back)
    for _ in range(M):
        sess = login(port)
        t = beep.tunnel_start(sess, Tunnel(ip4="127.0.0.1", port=echo.port))
        if not t.ok:
            raise RuntimeError("tunnel refused: %s %s" % (t.code, t.text))
        t.sock.sendall(b"x" * 200000)
        rst_close(t.sock)
    sessions += 4 * M
    deadline = time.monotonic() + 5
    while hold.eof - eof_before < reached and time.monotonic() < deadline:
        time.sleep(0.05)
    figure("halfclose-rst-nexthop",
           "%d/%d next-hop connections of RST'd pending TUNNEL starts closed by the relay"
           % (hold.eof - eof_before, reached),
           "all %d (every start reached the next hop)" % M,
           reached == M and hold.eof - eof_before == M)

    # 3. half-close a tunnel whose backend never finishes: closed at fin
    socks = []
    for _ in range(M):
        sess = login(port)
        t = beep.tunnel_start(sess, Tunnel(ip4="127.0.0.1", port=hold.port))
        if not t.ok:
            raise RuntimeError("tunnel refused: %s %s" % (t.code, t.text))
        t.sock.sendall(b"some bytes")
        socks.append(t.sock)
    for c in socks:
        c.shutdown(socket.SHUT_WR)
    sessions += M
    cpu_box = []
    th = threading.Thread(target=lambda: cpu_box.append(cpu_fraction(d, 3.0)))
    th.start()
    times = wait_closed(socks, FIN + 10)
    for c in socks:
        c.close()
    figure("halfclose-fin-timeout",
           "%d half-closed tunnels (backend never finishes) closed in %.2f-%.2fs"
           % (len(times), min(times), max(times)),
           "between fin %.1fs and fin + 1 = %.1fs" % (FIN, FIN + 1),
           min(times) >= FIN - 0.05 and max(times) <= FIN + 1)
    th.join()
    cpu_wait = cpu_box[0]
    cpu_idle = cpu_fraction(d, 3.0)
    figure("halfclose-cpu",
           "relay CPU %.2f%% over 3 s while %d half-closed tunnels waited for fin, "
           "%.2f%% over the next 3 s idle" % (cpu_wait * 100, M, cpu_idle * 100),
           "< %.0f%% each" % (CPU_BOUND * 100),
           cpu_wait < CPU_BOUND and cpu_idle < CPU_BOUND)

    n = wait_nfds(d, base_fds, 10)
    figure("halfclose-fds", "%d descriptors after %d sessions (baseline %d)"
           % (n, sessions, base_fds), "back to the baseline", n <= base_fds)
    closed = d.count_log(r'reason="')
    check("halfclose-all-logged", closed == sessions,
          "%d of %d sessions logged as closed" % (closed, sessions))
    if closed != sessions:
        print(d.log()[-3000:])
    if d.proc.poll() is not None:
        check("halfclose-alive", False, "beepgated exited")
    echo.close()
    hold.close()
    cleanup(sdir)
    finish([d])


if __name__ == "__main__":
    main()
