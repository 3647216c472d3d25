"""Descriptor exhaustion: beepgated under RLIMIT_NOFILE=256 with more
concurrent clients on a forward listener (to an echo backend) than it has
descriptors for.

The relay stays up, does not spin while accept is paused (CPU < 2%), logs
"accept paused" at most once a second, serves a new client within 1.5 s
after the others close, and leaves nothing half set up: the backend's
connections all close and the relay's descriptors return to the baseline."""
import resource
import selectors
import socket
import time

from integration.harness import free_port
from reliability.relutil import (SOURCES, Daemon, EchoServer, bound_connect, check,
                                 cpu_fraction, figure, finish, raise_nofile, size,
                                 start_watchdog, wait_nfds)

NOFILE = 256
CLIENTS = size(400, 1000)
HOLD = size(4.0, 20.0)       # seconds the clients hold on while accept is paused
ROUNDS = size(1, 3)
CPU_BOUND = 0.02
SERVE_BOUND = 1.5

start_watchdog(size(85, 900))
raise_nofile()


def lowfd():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def storm(port, n, settle):
    """n clients connect (spread over the sources) and each sends a line;
    returns (sockets, number whose line came back within `settle` s)."""
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(n):
        s = bound_connect(SOURCES[i % len(SOURCES)], port, blocking=False)
        sel.register(s, selectors.EVENT_WRITE, i)
        socks.append(s)
    want = {}
    got = {}
    served = 0
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        for key, ev in sel.select(0.1):
            s, i = key.fileobj, key.data
            if ev & selectors.EVENT_WRITE:
                line = b"client %d\n" % i
                try:
                    s.send(line)
                except OSError:
                    sel.unregister(s)
                    continue
                want[s] = line
                got[s] = b""
                sel.modify(s, selectors.EVENT_READ, i)
                continue
            try:
                d = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if not d:
                sel.unregister(s)
                continue
            got[s] += d
            if got[s] == want[s]:
                served += 1
                sel.unregister(s)
    sel.close()
    return socks, served


def one_client(port):
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"ping")
    s.settimeout(10)
    got = b""
    while len(got) < 4:
        c = s.recv(16)
        if not c:
            break
        got += c
    dt = time.monotonic() - t0
    s.close()
    return got == b"ping", dt


def main():
    echo = EchoServer()
    port = free_port()
    conf = ("limits { max-sessions-per-source 4000 connection-rate off }\n"
            "timeouts { handshake 5s connect 2s idle 120s fin 5s hard-stop 5s }\n"
            "listen on 127.0.0.1 port %d forward to 127.0.0.1 port %d\n" % (port, echo.port))
    d = Daemon(conf, name="fdexhaust", verbose=False, preexec=lowfd)
    t_start = time.monotonic()
    ok, _ = one_client(port)
    time.sleep(0.3)
    base_fds = d.nfds()
    for rnd in range(ROUNDS):
        socks, served = storm(port, CLIENTS, 3.0)
        t_hold = time.monotonic()
        cpu = cpu_fraction(d, 3.0)
        time.sleep(max(0.0, HOLD - (time.monotonic() - t_hold)))
        alive = d.proc.poll() is None
        fds_full = d.nfds() if alive else 0
        figure("fdexhaust-served-r%d" % rnd,
               "%d clients under RLIMIT_NOFILE=%d: %d served at once, relay held %d fds, "
               "relay %s" % (CLIENTS, NOFILE, served, fds_full, "up" if alive else "DOWN"),
               "relay up, 0 < served < %d, fds <= %d" % (CLIENTS, NOFILE),
               alive and 0 < served < CLIENTS and fds_full <= NOFILE)
        figure("fdexhaust-cpu-r%d" % rnd,
               "relay CPU %.2f%% over 3 s with accept paused" % (cpu * 100),
               "< %.0f%%" % (CPU_BOUND * 100), cpu < CPU_BOUND)
        for s in socks:
            s.close()
        ok, dt = one_client(port)
        figure("fdexhaust-recover-r%d" % rnd,
               "a new client echoed %s %.0f ms after %d others closed"
               % ("ok" if ok else "NOT", dt * 1000, CLIENTS),
               "served within %.1f s" % SERVE_BOUND, ok and dt <= SERVE_BOUND)
        # the backlog's dead connections are accepted and dropped too;
        # nothing may stay half set up
        deadline = time.monotonic() + 15
        while echo.live > 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        n = wait_nfds(d, base_fds, 15)
        figure("fdexhaust-cleanup-r%d" % rnd,
               "%d backend connections in all, %d still open; relay fds %d (baseline %d)"
               % (echo.connections, echo.live, n, base_fds),
               "0 open, fds back to the baseline", echo.live == 0 and n <= base_fds)
    elapsed = time.monotonic() - t_start
    paused = d.count_log(r"accept paused")
    figure("fdexhaust-log-rate",
           "%d 'accept paused' lines in %.1f s" % (paused, elapsed),
           "at least 1, at most 1 per second (%d)" % (int(elapsed) + 1),
           1 <= paused <= int(elapsed) + 1)
    check("fdexhaust-alive", d.proc.poll() is None, "beepgated still running")
    echo.close()
    finish([d])


if __name__ == "__main__":
    main()
