"""Reload under load, then a graceful stop.

N tunnels (SCRAM + TUNNEL to an echo far end) stream both ways all along;
new clients arrive at 20/s; the relay is reloaded R times, each time with a
changed policy (user bob is alternately allowed and not).  Then SIGTERM while
the tunnels still stream.

Figures: no established tunnel is reset (sha256 of every echo intact), no
legitimate connect is refused, the new policy decides new sessions within
1 s of the SIGHUP; after SIGTERM new connections are refused at once, the
live tunnels finish, and the relay exits when the last one ends (status 0);
a tunnel that never ends is closed at the hard-stop time."""
import errno
import select
import signal
import socket
import threading
import time

from integration.harness import free_port, pseudo_random, sha256
from integration.tunnel_env import REALM, USERS, cleanup, make_sasldb
from peers import beep
from peers.beep import Tunnel
from reliability.relutil import (Daemon, EchoServer, check, figure, finish, percentile,
                                 raise_nofile, size, start_watchdog)

N = size(20, 100)
RELOADS = size(5, 50)
RELOAD_EVERY = 1.0          # seconds between reloads
NEW_PER_SECOND = 20
CHUNK = 4096                # each tunnel sends this every 100 ms (40 KiB/s)
POLICY_BOUND = 1.0          # new policy in force for new sessions within this
HARDSTOP = 2.0

start_watchdog(size(120, 900))
raise_nofile()


def rules(echo_port, bob_allowed, gen):
    r = 'pass from user "alice" to 127.0.0.1 port %d\n' % echo_port
    if bob_allowed:
        r += 'pass from user "bob" to 127.0.0.1 port %d\n' % echo_port
    # a rule that changes with every generation, deciding nothing here
    r += 'block from user "nobody-%d" to any\n' % gen
    return r


def config(port, db, echo_port, bob_allowed, gen, hardstop=20):
    return ("limits { max-sessions-per-source 2000 connection-rate off }\n" +
            "timeouts { handshake 10s connect 3s idle 120s fin 10s hard-stop %ds }\n"
            % hardstop +
            'sasl {\n  database "%s"\n  realm "%s"\n}\n' % (db, REALM) +
            "listen on 127.0.0.1 port %d tunnel\n" % port +
            rules(echo_port, bob_allowed, gen))


def tunnel(port, echo_port, user="alice", timeout=10):
    """Returns (TunnelResult, session) or raises."""
    s = beep.open_session("127.0.0.1", port, timeout=timeout)
    r = beep.sasl_login(s, "SCRAM-SHA-256", user, USERS[user])
    if not r.ok:
        s.sock.close()
        raise RuntimeError("SASL %s: %s %s" % (user, r.code, r.text))
    return beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=echo_port)), s


class Streamer(threading.Thread):
    """One established tunnel: sends CHUNK every 100 ms and reads the echo,
    until told to finish; then half-closes and reads to the end."""

    def __init__(self, port, echo_port, seed):
        super().__init__(daemon=True)
        t, self.sess = tunnel(port, echo_port)
        if not t.ok:
            raise RuntimeError("TUNNEL: %s %s" % (t.code, t.text))
        self.sock = t.sock
        self.received = bytearray(t.leftover)
        self.sent = bytearray()
        self.data = pseudo_random(CHUNK * 64, seed)
        self.stop = threading.Event()
        self.error = None
        self.ended = None
        self.start()

    def _read_some(self):
        while select.select([self.sock], [], [], 0)[0]:
            d = self.sock.recv(1 << 16)
            if not d:
                return False
            self.received += d
        return True

    def run(self):
        i = 0
        try:
            while not self.stop.is_set():
                off = (i % 64) * CHUNK
                self.sock.sendall(self.data[off:off + CHUNK])
                self.sent += self.data[off:off + CHUNK]
                i += 1
                if not self._read_some():
                    raise RuntimeError("EOF from the relay while streaming")
                self.stop.wait(0.1)
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(20)
            while True:
                d = self.sock.recv(1 << 16)
                if not d:
                    break
                self.received += d
        except Exception as e:
            self.error = repr(e)
        self.ended = time.monotonic()
        self.sock.close()

    def intact(self):
        return self.error is None and sha256(bytes(self.sent)) == sha256(bytes(self.received))


class NewClients(threading.Thread):
    """NEW_PER_SECOND new SCRAM + TUNNEL + echo clients per second."""

    def __init__(self, port, echo_port):
        super().__init__(daemon=True)
        self.port, self.echo_port = port, echo_port
        self.stop = threading.Event()
        self.ok = 0
        self.failures = []
        self.lock = threading.Lock()
        self.workers = []
        self.start()

    def one(self):
        try:
            t, s = tunnel(self.port, self.echo_port)
            if not t.ok:
                raise RuntimeError("TUNNEL refused: %s %s" % (t.code, t.text))
            t.sock.sendall(b"ping")
            got = t.leftover
            t.sock.settimeout(10)
            while len(got) < 4:
                c = t.sock.recv(64)
                if not c:
                    break
                got += c
            t.sock.close()
            if got != b"ping":
                raise RuntimeError("echo %r" % got)
            with self.lock:
                self.ok += 1
        except Exception as e:
            with self.lock:
                self.failures.append(repr(e))

    def run(self):
        nxt = time.monotonic()
        while not self.stop.is_set():
            w = threading.Thread(target=self.one, daemon=True)
            w.start()
            self.workers.append(w)
            nxt += 1.0 / NEW_PER_SECOND
            self.stop.wait(max(0.0, nxt - time.monotonic()))

    def finish(self):
        self.stop.set()
        self.join(5)
        for w in self.workers:
            w.join(15)


def bob_allowed_now(port, echo_port):
    try:
        t, s = tunnel(port, echo_port, user="bob")
    except Exception:
        return None
    s.sock.close()
    return t.ok


def connect_refused(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
    except OSError as e:
        return e.errno == errno.ECONNREFUSED
    finally:
        s.close()
    return False


def hardstop_part(db, echo):
    """A tunnel that never ends: closed at the hard-stop time."""
    port = free_port()
    d = Daemon(config(port, db, echo.port, False, 0, hardstop=int(HARDSTOP)),
               name="hardstop", verbose=False)
    t, s = tunnel(port, echo.port)
    ok = t.ok
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    closed_at = None
    if ok:
        t.sock.settimeout(HARDSTOP + 5)
        try:
            while t.sock.recv(4096):
                pass
        except OSError:
            pass
        closed_at = time.monotonic() - t0
        t.sock.close()
    try:
        d.proc.wait(HARDSTOP + 10)
    except Exception:
        pass
    exited = time.monotonic() - t0
    figure("reload-hardstop",
           "a tunnel that never ends closed %.2fs after SIGTERM, relay exited at %.2fs"
           % (closed_at if closed_at is not None else float("nan"), exited),
           "closed and exited between hard-stop %.1fs and %.1fs" % (HARDSTOP, HARDSTOP + 1),
           ok and closed_at is not None and HARDSTOP - 0.05 <= closed_at <= HARDSTOP + 1 and
           exited <= HARDSTOP + 1.5 and "hard-stop time reached" in d.log())
    return d


def main():
    sdir, db = make_sasldb()
    echo = EchoServer()
    port = free_port()
    gen = 1
    bob = False
    d = Daemon(config(port, db, echo.port, bob, gen), name="reload", verbose=False)
    streams = [Streamer(port, echo.port, seed=i + 10) for i in range(N)]
    clients = NewClients(port, echo.port)
    in_force, decided, stale, reload_fail = [], [], 0, 0
    for _ in range(RELOADS):
        time.sleep(RELOAD_EVERY / 2)
        gen += 1
        bob = not bob
        d.write_config(config(port, db, echo.port, bob, gen))
        t0 = time.monotonic()
        if not d.reload(timeout=10):
            reload_fail += 1
        in_force.append(time.monotonic() - t0)
        # bob's first new session after the reload: decided by the new policy?
        got = bob_allowed_now(port, echo.port)
        decided.append(time.monotonic() - t0)
        if got != bob:
            stale += 1
            print("reload %d: bob's new session got %s, the new policy says %s" % (gen, got, bob))
        time.sleep(max(0.0, RELOAD_EVERY / 2 - (time.monotonic() - t0)))
    clients.finish()
    figure("reload-policy",
           "%d reloads (%d failed), each in force (logged) after p50 %.0f ms, max %.0f ms; "
           "bob's first new session after each decided by the new policy %d/%d times "
           "(its SCRAM + TUNNEL answered p50 %.0f ms, max %.0f ms after the SIGHUP)"
           % (RELOADS, reload_fail, percentile(in_force, 50) * 1000, max(in_force) * 1000,
              RELOADS - stale, RELOADS, percentile(decided, 50) * 1000, max(decided) * 1000),
           "in force within %.0f ms, no new session decided by an old policy"
           % (POLICY_BOUND * 1000),
           reload_fail == 0 and stale == 0 and max(in_force) <= POLICY_BOUND)
    figure("reload-new-clients",
           "%d new SCRAM+TUNNEL+echo clients at %d/s during the reloads, %d failed%s"
           % (clients.ok + len(clients.failures), NEW_PER_SECOND, len(clients.failures),
              (" (first: %s)" % clients.failures[0]) if clients.failures else ""),
           "none refused or failed",
           not clients.failures and clients.ok >= NEW_PER_SECOND * RELOADS * RELOAD_EVERY * 0.8)
    alive = sum(1 for s in streams if s.is_alive() and s.error is None)
    check("reload-streams-alive",
          alive == N, "%d/%d streaming tunnels still up after the reloads" % (alive, N))

    # SIGTERM with the tunnels still streaming
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    refused_after = None
    while time.monotonic() - t0 < 1.0:
        if connect_refused(port):
            refused_after = time.monotonic() - t0
            break
        time.sleep(0.01)
    time.sleep(1.0)             # the tunnels keep streaming while the relay drains
    still = sum(1 for s in streams if s.is_alive() and s.error is None)
    for s in streams:
        s.stop.set()
    for s in streams:
        s.join(30)
    last_end = max(s.ended or 0 for s in streams)
    try:
        rc = d.proc.wait(20)
    except Exception:
        rc = None
    exit_at = time.monotonic()
    figure("reload-sigterm-refuse",
           "new connection refused %.0f ms after SIGTERM" %
           ((refused_after if refused_after is not None else float("nan")) * 1000),
           "at once (< 100 ms)", refused_after is not None and refused_after < 0.1)
    intact = sum(1 for s in streams if s.intact())
    total = sum(len(s.sent) for s in streams)
    errs = [s.error for s in streams if s.error]
    figure("reload-streams",
           "%d/%d tunnels intact (sha256 of %.1f MiB echoed) across %d reloads and SIGTERM; "
           "%d still streaming 1 s after SIGTERM%s"
           % (intact, N, total / 1048576.0, RELOADS, still,
              (" (first error: %s)" % errs[0]) if errs else ""),
           "every one intact, none reset", intact == N and still == N)
    figure("reload-sigterm-exit",
           "relay exited %.2fs after the last tunnel ended, status %s"
           % (exit_at - last_end, rc),
           "exit status 0 within 1 s of the last session (hard-stop 20 s not reached)",
           rc == 0 and exit_at - last_end <= 1.0 and "hard-stop time reached" not in d.log()
           and "stopping: last session closed" in d.log())
    check("clean-stop", rc == 0 and "ERROR: AddressSanitizer" not in d.log() and
          "runtime error:" not in d.log(), "beepgated exit status %s, no sanitizer report" % rc)
    d.stop()
    d2 = hardstop_part(db, echo)
    echo.close()
    cleanup(sdir)
    finish([d2])


if __name__ == "__main__":
    main()
