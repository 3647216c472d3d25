"""Slowloris: many connections from several loopback sources trickle a BEEP
greeting (tunnel listener) or a TCPMUX name (tcpmux listener) at 1 byte/s.

Each must be closed at the handshake deadline (a total deadline, not an
inactivity timer: the trickle keeps the connection active), the relay's RSS
stays bounded, and meanwhile a legitimate client completes SCRAM + TUNNEL to
an echo final with p99 latency under 100 ms."""
import selectors
import socket
import threading
import time

from integration.harness import free_port
from integration.tunnel_env import REALM, USERS, cleanup, make_sasldb
from peers import beep
from peers.beep import Tunnel
from reliability.relutil import (SOURCES, Daemon, EchoServer, bound_connect, figure, finish,
                                 percentile, raise_nofile, size, start_watchdog)

HANDSHAKE = 3.0
CONNS = size(300, 2000)
WAVES = size(2, 3)
RSS_PER_CONN_KIB = 48          # documented bound: growth per trickling connection
RSS_SLACK_KIB = 8 * 1024      # plus fixed slack (allocator arenas, ASan quarantine)
P99_BOUND = 0.100

# ASan keeps freed memory in quarantine (up to 256 MiB): without it RSS
# measures the relay, not the sanitizer.
ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:quarantine_size_mb=0:"
                            "thread_local_quarantine_size_kb=0"}

start_watchdog(size(85, 900))
raise_nofile()

GREETING = beep.build_frame("RPY", 0, 0, 0, beep.mime(beep.greeting_xml(), "application/beep+xml"))
TCPMUX_NAME = b"a-service-name-that-never-ends-" + b"x" * 60


def trickle_wave(d, n, results, rss):
    """Opens n trickling connections; returns when all are closed (or after
    a generous limit).  results gets (kind, seconds from connect to close)."""
    sel = selectors.DefaultSelector()
    conns = {}
    for i in range(n):
        src = SOURCES[i % len(SOURCES)]
        kind = "beep" if i % 2 == 0 else "tcpmux"
        port = d.tunnel_port if kind == "beep" else d.tcpmux_port
        s = bound_connect(src, port, blocking=False)
        conns[s] = {"kind": kind, "t0": time.monotonic(), "sent": 0,
                    "data": GREETING if kind == "beep" else TCPMUX_NAME}
        sel.register(s, selectors.EVENT_READ)
    next_tick = time.monotonic()
    limit = time.monotonic() + HANDSHAKE + 15
    while conns and time.monotonic() < limit:
        now = time.monotonic()
        if now >= next_tick:
            for s, c in list(conns.items()):
                if c["sent"] < len(c["data"]):
                    try:
                        s.send(c["data"][c["sent"]:c["sent"] + 1])
                        c["sent"] += 1
                    except BlockingIOError:
                        pass
                    except OSError:
                        pass        # seen as closed by the read side
            next_tick += 1.0
            rss.append(d.rss_kib())
        for key, _ in sel.select(max(0.0, min(0.2, next_tick - time.monotonic()))):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                continue        # a "-" line or an error frame before the close
            c = conns.pop(s)
            results.append((c["kind"], time.monotonic() - c["t0"]))
            sel.unregister(s)
            s.close()
    for s, c in conns.items():
        results.append((c["kind"], float("inf")))
        s.close()


def legit_loop(d, echo_port, stop, lat, errors):
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            s = beep.open_session("127.0.0.1", d.tunnel_port, timeout=10)
            r = beep.sasl_login(s, "SCRAM-SHA-256", "alice", USERS["alice"])
            if not r.ok:
                errors.append("sasl %s %s" % (r.code, r.text))
                s.close()
                continue
            t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=echo_port))
            if not t.ok:
                errors.append("tunnel %s %s" % (t.code, t.text))
                s.close()
                continue
            t.sock.sendall(b"ping")
            got = t.leftover
            t.sock.settimeout(10)
            while len(got) < 4:
                chunk = t.sock.recv(64)
                if not chunk:
                    break
                got += chunk
            t.sock.close()
            if got != b"ping":
                errors.append("echo %r" % got)
                continue
            lat.append(time.monotonic() - t0)
        except Exception as e:      # a failure is counted, the loop goes on
            errors.append(repr(e))
        time.sleep(0.02)


def main():
    sdir, db = make_sasldb()
    echo = EchoServer()
    tport, mport = free_port(), free_port()
    conf = ("limits { max-sessions-per-source %d connection-rate off }\n" % (CONNS + 100) +
            "timeouts { handshake %ds connect 3s idle 60s fin 10s hard-stop 5s }\n" % HANDSHAKE +
            'sasl {\n  database "%s"\n  realm "%s"\n}\n' % (db, REALM) +
            "listen on 127.0.0.1 port %d tunnel\n" % tport +
            "listen on 127.0.0.1 port %d tcpmux\n" % mport +
            'service "echo" { connect 127.0.0.1 port %d tcpmux }\n' % echo.port +
            'pass from user "alice" to 127.0.0.1 port %d\n' % echo.port +
            'pass from source 127.0.0.0/8 to tcpmux "echo"\n')
    d = Daemon(conf, name="slowloris", verbose=False, extra_env=ASAN_ENV)
    d.tunnel_port, d.tcpmux_port = tport, mport
    # warm-up, then the baseline
    warm = threading.Event()
    threading.Timer(1.0, warm.set).start()
    legit_loop(d, echo.port, warm, [], [])
    base_rss = d.rss_kib()
    lat, errors = [], []

    stop = threading.Event()
    th = threading.Thread(target=legit_loop, args=(d, echo.port, stop, lat, errors), daemon=True)
    th.start()
    results, rss = [], []
    t_start = time.monotonic()
    for _ in range(WAVES):
        trickle_wave(d, CONNS, results, rss)
    elapsed = time.monotonic() - t_start
    stop.set()
    th.join(15)

    times = [t for _, t in results]
    worst = max(times) if times else float("inf")
    earliest = min(times) if times else 0.0
    bound = HANDSHAKE + 1.0
    late = sum(1 for t in times if t > bound)
    early = sum(1 for t in times if t < HANDSHAKE - 0.05)
    total = WAVES * CONNS
    figure("slowloris-close",
           "%d/%d conns (%d beep, %d tcpmux) from %d sources closed at %.2f-%.2fs, "
           "median %.2fs; %d late, %d early"
           % (len(times) - late - early, total, sum(1 for k, _ in results if k == "beep"),
              sum(1 for k, _ in results if k == "tcpmux"), len(SOURCES), earliest, worst,
              percentile(times, 50), late, early),
           "every one between deadline %.1fs and %.1fs" % (HANDSHAKE, bound),
           len(times) == total and late == 0 and early == 0)
    peak = max(rss) if rss else 0
    rss_bound = base_rss + CONNS * RSS_PER_CONN_KIB + RSS_SLACK_KIB
    figure("slowloris-rss",
           "peak RSS %d KiB (baseline %d KiB, +%d KiB for %d open conns)"
           % (peak, base_rss, peak - base_rss, CONNS),
           "baseline + %d KiB/conn + %d KiB = %d KiB" % (RSS_PER_CONN_KIB, RSS_SLACK_KIB,
                                                         rss_bound),
           0 < peak <= rss_bound)
    p99 = percentile(lat, 99)
    figure("slowloris-legit",
           "%d SCRAM+TUNNEL+echo rounds during %.1fs of load, p50 %.1f ms, p99 %.1f ms, "
           "max %.1f ms, %d errors%s"
           % (len(lat), elapsed, percentile(lat, 50) * 1000, p99 * 1000,
              max(lat) * 1000 if lat else float("nan"), len(errors),
              (" (first: %s)" % errors[0]) if errors else ""),
           "p99 < %d ms, no errors, >= 20 rounds" % (P99_BOUND * 1000),
           len(lat) >= 20 and p99 < P99_BOUND and not errors)
    echo.close()
    cleanup(sdir)
    finish([d])


if __name__ == "__main__":
    main()
