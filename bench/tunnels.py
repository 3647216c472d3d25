"""Benchmark of established TUNNELs, tunnel set-up, 10,000 idle tunnels and
workers: see bench/run.sh.  Everything runs on 127.0.0.1.

Every tunnel is the full client exchange (bench/tunnel_dial.c: TCP connect,
greetings, SASL, TUNNEL start, the relay's next-hop connect, <ok/>) and its
bytes are then measured like a direct connection's."""
import hashlib
import os
import re
import resource
import shutil
import subprocess
import time
import urllib.request

from benchlib import (BG, PASSWD, RELAY, REPEAT, ROOT, cleanup, cpu_seconds, family, free_port, gnuplot,
                      many_files, median, nfds, pin, ratio, rss_kib, run, start, start_haproxy,
                      start_minimal_relays, start_servers, tmp, unpin, wait_port, write_section)

SINGLE = int(os.environ.get("BENCH_SINGLE_BYTES", 2 << 30))
MULTI_STREAMS = 100
MULTI_EACH = int(os.environ.get("BENCH_MULTI_BYTES", 20 << 20))
SETUP_SECS = float(os.environ.get("BENCH_SETUP_SECONDS", 5))
SETUP_CONC = 8
RTT_COUNT = int(os.environ.get("BENCH_RTT_COUNT", 20000))
STAGES = [int(x) for x in os.environ.get("BENCH_TUNNEL_STAGES", "10,100,1000,10000").split(",")]
REALM = "bench.test"
SASLPASSWD2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"


def private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def add_user(db, user, password):
    subprocess.run([SASLPASSWD2, "-p", "-c", "-f", db, "-a", "beepgate", "-u", REALM, user],
                   input=password.encode(), check=True, capture_output=True, timeout=30)
    os.chmod(db, 0o600)


class Relay:
    """One beepgated with a tunnel listener, an admin listener and the
    bench servers as catalog endpoints (directly, or via another relay)."""

    def __init__(self, name, db, services, routes="", mechanisms=None, workers=1):
        self.port, self.admin = free_port(), free_port()
        conf = os.path.join(tmp, "%s.conf" % name)
        mech = " mechanisms %s" % mechanisms if mechanisms else ""
        with open(conf, "w") as f:
            f.write('user "root"\nallow root\nworkers %d\n' % workers +
                    "limits { max-sessions 100000 max-sessions-per-source 100000 "
                    "connection-rate off max-tunnels-per-user 100000 }\n"
                    "timeouts { handshake 60s connect 10s idle 1h fin 30s hard-stop 5s }\n"
                    'sasl { database "%s" realm "%s"%s }\n' % (db, REALM, mech) +
                    "admin on 127.0.0.1 port %d\n" % self.admin +
                    "listen on 127.0.0.1 port %d tunnel\n" % self.port + routes + services +
                    'pass from user * to endpoint "*"\nblock to any\n')
        self.proc = start([RELAY, "-d", "-f", conf])
        wait_port(self.port)
        wait_port(self.admin)

    def pids(self):
        """The processes that serve sessions: the daemon, or its workers."""
        return family(self.proc.pid)[1:] or [self.proc.pid]

    def rss(self):
        return sum(rss_kib(p) for p in self.pids())

    def cpu(self):
        return sum(cpu_seconds(p) for p in self.pids())

    def fds(self):
        return sum(nfds(p) for p in self.pids())

    def histogram(self):
        """The tunnel set-up histogram (TUNNEL request to <ok/>): [(le, count)]."""
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.admin, timeout=10).read()
        return [(float(m.group(1)) if m.group(1) != "+Inf" else float("inf"), int(m.group(2)))
                for m in re.finditer(r'beepgate_tunnel_setup_seconds_bucket\{le="([^"]+)"\} (\d+)',
                                     text.decode())]


def quantile(before, after, q):
    """Upper bucket bound holding quantile q of the requests between two scrapes."""
    counts = [(le, a - b) for (le, a), (_, b) in zip(after, before)]
    total = counts[-1][1] if counts else 0
    for le, c in counts:
        if total and c >= q * total:
            return le
    return float("nan")


def flat_plot(png, dat):
    return ("set terminal png size 800,450; set output '%s'; set logscale x; set xlabel 'idle tunnels';"
            "set ylabel 'added per tunnel'; set yrange [0:*]; set key top right; set grid;"
            "set title 'Cost of each added idle tunnel, 100 to 10,000 (one relay)';"
            "plot '%s' using 1:2 with linespoints title 'RSS KiB', '' using 1:3 with linespoints "
            "title 'descriptors', '' using 1:4 with linespoints title 'set-up CPU ms'" % (png, dat))


def stop(relay):
    relay.proc.terminate()
    relay.proc.wait(10)


def tun(user, pwfile, endpoint):
    return {"BGBENCH_TUNNEL": "%s:%s:%s" % (user, pwfile, endpoint)}


def main():
    servers, server_pids = start_servers(SINGLE, MULTI_EACH)

    db = os.path.join(tmp, "users.sasldb")
    pw = {"bench": os.urandom(9).hex(), "relayA": os.urandom(9).hex()}
    for u, p in pw.items():
        add_user(db, u, p)
    client_pw = private(os.path.join(tmp, "bench.pw"), pw["bench"] + "\n")
    a_secret = private(os.path.join(tmp, "relayA.secret"), pw["relayA"] + "\n")

    direct = "".join('service "%s" { connect 127.0.0.1 port %d endpoint }\n' % (k, v)
                     for k, v in servers.items())
    b = Relay("B", db, direct)
    via_b = "".join('service "b-%s" { via "b" endpoint "%s" endpoint }\n' % (k, k) for k in servers)
    route = 'route "b" { connect 127.0.0.1 port %d user "relayA" secret "%s" }\n' % (b.port, a_secret)
    a = Relay("A", db, direct + via_b, routes=route)
    print("relays: A 127.0.0.1:%d, B 127.0.0.1:%d" % (a.port, b.port), flush=True)

    out = []

    # 1. the data path through established tunnels
    paths = [("direct", None, servers, None), ("one hop (A)", a, {k: a.port for k in servers}, ""),
             ("two hops (A, B)", a, {k: a.port for k in servers}, "b-")]
    # the floor: a minimal blocking relay (two threads per connection, no TUNNEL)
    mpid, mports = start_minimal_relays(servers)
    paths.insert(1, ("minimal relay (plain TCP, one hop)", mpid, mports, None))
    hap = start_haproxy(servers)
    if hap is not None:
        paths.insert(1, (hap[0] + ", one hop", hap[1].pid, hap[2], None))
    data = {}
    for name, relay, ports, prefix in paths:
        print("== data path: %s" % name, flush=True)
        env = (lambda k: tun("bench", client_pw, prefix + k)) if prefix is not None else (lambda k: {})
        r = {}
        r["single"] = median(["throughput", "127.0.0.1", ports["single"], 1, SINGLE],
                             "mib_per_s", env=env("single"))
        r["multi"] = median(["throughput", "127.0.0.1", ports["multi"], MULTI_STREAMS, MULTI_EACH],
                            "mib_per_s", env=env("multi"))
        pids = server_pids + ([] if relay is None else
                              (relay.pids() + (b.pids() if prefix == "b-" else [])
                               if isinstance(relay, Relay) else [relay]))
        for p in pids:
            pin(p, 0)
        rt = run(["rtt", "127.0.0.1", ports["echo"], RTT_COUNT], pin=0, env=env("echo"))
        for p in pids:
            unpin(p)
        r["p50"], r["p99"] = rt.get("p50_us", 0), rt.get("p99_us", 0)
        print("  single %.0f MiB/s, 100 streams %.0f MiB/s, RTT p50 %.1f us p99 %.1f us"
              % (r["single"], r["multi"], r["p50"], r["p99"]), flush=True)
        data[name] = r
    d = data["direct"]
    hops = [n for n in data if n != "direct" and not n.startswith(("HAProxy", "minimal"))]
    t = ["| path | single stream MiB/s | 100 streams MiB/s | RTT p50 µs | RTT p99 µs | RTT p50 per hop |",
         "|---|---|---|---|---|---|"]
    for name, r in data.items():
        nh = 2 if name.startswith("two") else (1 if name != "direct" else 0)
        per_hop = ratio(1 + (r["p50"] / d["p50"] - 1) / nh, 1) if nh and d["p50"] else "-"
        t.append("| %s | %.0f (%s) | %.0f (%s) | %.1f (%s) | %.1f | %s |" % (
            name, r["single"], ratio(r["single"], d["single"]), r["multi"],
            ratio(r["multi"], d["multi"]), r["p50"], ratio(r["p50"], d["p50"]), r["p99"], per_hop))
    out.append("### Data path through established tunnels\n\nSingle stream: %d MiB; 100 streams × "
               "%d MiB (throughput: the median of %d runs); RTT: 64-byte ping-pong, %d round trips, every process pinned to CPU 0. "
               "Ratios are to direct; \"per hop\" is 1 + (RTT ratio − 1) / hops.\n\n%s\n"
               % (SINGLE >> 20, MULTI_EACH >> 20, REPEAT, RTT_COUNT, "\n".join(t)))
    del hops

    # 2. tunnel set-up
    print("== tunnel set-up", flush=True)
    rows = []

    def setup(label, relay, endpoint, others=()):
        h0, c0 = relay.histogram(), [x.cpu() for x in (relay,) + tuple(others)]
        r = run(["connrate", "127.0.0.1", relay.port, SETUP_SECS, SETUP_CONC],
                env=tun("bench", client_pw, endpoint))
        h1, c1 = relay.histogram(), [x.cpu() for x in (relay,) + tuple(others)]
        n = r.get("connections", 0)
        cpu_ms = [(b1 - b0) / n * 1e3 if n else 0 for b0, b1 in zip(c0, c1)]
        row = (label, r.get("per_s", 0), r.get("p50_ms", 0), r.get("p99_ms", 0),
               quantile(h0, h1, 0.5) * 1e3, quantile(h0, h1, 0.99) * 1e3,
               " + ".join("%.2f" % c for c in cpu_ms), r.get("failed", 0))
        print("  %s: %.0f/s, client p50 %.2f ms p99 %.2f ms; relay start->ok p50 <= %g ms "
              "p99 <= %g ms; relay CPU %s ms per tunnel; failed %d" % row, flush=True)
        rows.append(row)

    setup("one hop, SCRAM-SHA-256", a, "echo")
    setup("two hops, SCRAM-SHA-256 at each", a, "b-echo", others=(b,))
    cram = Relay("A-cram", db, direct, mechanisms="CRAM-MD5")
    setup("one hop, CRAM-MD5 (no key derivation)", cram, "echo")
    stop(cram)
    # the same users stored as SCRAM-SHA-256 verifiers only (beepgate-passwd -s)
    for iters in (4096, 65536):
        dbv = os.path.join(tmp, "verifiers-%d.sasldb" % iters)
        for u, p in pw.items():
            subprocess.run([PASSWD, "-p", "-s", "-i", str(iters), "-f", dbv, "-r", REALM, u],
                           input=(p + "\n").encode(), check=True, capture_output=True, timeout=60)
        bv = Relay("Bv%d" % iters, dbv, direct)
        route_v = 'route "b" { connect 127.0.0.1 port %d user "relayA" secret "%s" }\n' % (bv.port, a_secret)
        av = Relay("Av%d" % iters, dbv, direct + via_b, routes=route_v)
        setup("one hop, SCRAM-SHA-256 verifier only (`-s -i %d`)" % iters, av, "echo")
        if iters == 4096:
            setup("two hops, SCRAM-SHA-256 verifiers only at each", av, "b-echo", others=(bv,))
        stop(av)
        stop(bv)
    t = ["| exchange | tunnels/s | full exchange p50 ms | p99 ms | relay: TUNNEL start → `<ok/>` p50 ms | p99 ms | relay CPU ms per tunnel | failed |",
         "|---|---|---|---|---|---|---|---|"]
    t += ["| %s | %.0f | %.2f | %.2f | ≤ %g | ≤ %g | %s | %d |" % r for r in rows]
    kdf = []
    for it in (4096, 10000, 100000):
        t0 = time.perf_counter()
        reps = max(3, 200000 // it)
        for _ in range(reps):
            hashlib.pbkdf2_hmac("sha256", b"password", b"salt-salt-salt-1", it)
        kdf.append("| %d | %.2f |" % (it, (time.perf_counter() - t0) / reps * 1e3))
    out.append("### Tunnel set-up\n\nThe full exchange: connect, greetings, SASL, TUNNEL start, "
               "the relay's connect to the endpoint (and for two hops: greetings, SCRAM and TUNNEL "
               "from A to B), `<ok/>`, then a 1-byte echo through the tunnel and close; %d client "
               "threads for %g s.  The client's figures include its own SASL work; the relay's "
               "TUNNEL start → `<ok/>` figures come from its `beepgate_tunnel_setup_seconds` "
               "histogram (bucket bounds).  Relay CPU per tunnel is A's (+ B's) user + system "
               "time over the run divided by the tunnels set up.\n\n%s\n\n"
               "SCRAM's cost is its key derivation, PBKDF2-HMAC-SHA-256 over the iteration "
               "count, which the client pays on every login, and the relay too when the user "
               "database holds the password rather than the verifier (`beepgate-passwd -s`).  "
               "OpenSSL's own PBKDF2 on one core of this machine (Cyrus SASL's SCRAM runs the "
               "rounds through one-shot `HMAC()` calls, several times slower):\n\n"
               "| iterations | ms per derivation |\n|---|---|\n%s\n"
               % (SETUP_CONC, SETUP_SECS, "\n".join(t), "\n".join(kdf)))

    # 3. idle tunnels: memory, descriptors and CPU from 10 to 10,000
    print("== idle tunnels", flush=True)
    # Two descriptors per tunnel: past half the per-process limit one process
    # cannot hold them all, so the relay runs two workers.
    fdmax = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nworkers = 1 if 2 * max(STAGES) + 100 < fdmax else 2
    a.proc.terminate()
    a.proc.wait(10)
    a = Relay("idle", db, direct, workers=nworkers)
    base_rss, base_fds, base_cpu = a.rss(), a.fds(), a.cpu()
    held, stages, total = [], [], 0
    for n in STAGES:
        add = n - total
        c0 = a.cpu()
        p = subprocess.Popen([BG, "idle", "127.0.0.1", str(a.port), str(add), "3600"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, **tun("bench", client_pw, "echo")),
                             preexec_fn=many_files)
        held.append(p)
        line = p.stdout.readline()
        got = int(kv_get(line, "established"))
        total += got
        setup_cpu = (a.cpu() - c0) / max(got, 1) * 1e3
        time.sleep(2)
        c1 = a.cpu()
        time.sleep(5)
        idle_cpu = (a.cpu() - c1) / 5 * 100
        rss, fds = a.rss() - base_rss, a.fds() - base_fds
        stages.append((n, total, rss / total, fds / total, setup_cpu, idle_cpu))
        print("  %d tunnels (%d established): %.2f KiB and %.2f fds per tunnel, %.2f ms CPU per "
              "set-up, %.2f%% CPU idle" % ((n,) + stages[-1][1:]), flush=True)
        if got != add:
            print("  warning: %s" % line.strip())
            break
    for p in held:
        p.stdin.close()
    for p in held:
        p.wait(60)
    del base_cpu
    # The plot shows what each stage added per tunnel: the averages of the
    # table also carry the relay's fixed costs (libraries paged in by the first
    # tunnels), which hide whether the cost per tunnel stays flat.
    dat = os.path.join(tmp, "flat.dat")
    with open(dat, "w") as f:
        for prev, s in zip(stages, stages[1:]):
            added = s[1] - prev[1]
            if added > 0:
                f.write("%d %.3f %.3f %.3f\n" % (s[1], (s[2] * s[1] - prev[2] * prev[1]) / added,
                                                 (s[3] * s[1] - prev[3] * prev[1]) / added, s[4]))
    png = os.path.join(ROOT, "docs", "benchmarks-flat.png")
    plotted = gnuplot(flat_plot(png, dat))
    t = ["| idle tunnels | RSS KiB per tunnel | descriptors per tunnel | CPU ms per set-up | CPU while idle |",
         "|---|---|---|---|---|"]
    t += ["| %d | %.2f | %.2f | %.2f | %.2f%% |" % s[1:] for s in stages]
    out.append("### Idle tunnels: memory, descriptors and CPU from 10 to %d\n\nTunnels through "
               "one relay (`workers %d`: the per-process descriptor limit here is %d) to the echo "
               "endpoint, opened in stages and held; the relay's RSS and open "
               "descriptors over its figures before the first, divided by the tunnels held; "
               "CPU per set-up over the stage; CPU while idle over 5 s with every tunnel open.  "
               "The plot shows the cost of the tunnels each stage added.\n\n"
               "%s\n%s" % (total, nworkers, fdmax, "\n".join(t),
                           "\n![flat cost](benchmarks-flat.png)\n" if plotted else ""))

    # 4. workers
    print("== workers", flush=True)
    wrows = []
    for w in (1, 2):
        r = Relay("W%d" % w, db, direct, workers=w)
        tp = median(["throughput", "127.0.0.1", r.port, MULTI_STREAMS, MULTI_EACH],
                    "mib_per_s", env=tun("bench", client_pw, "multi"))
        sr = run(["connrate", "127.0.0.1", r.port, SETUP_SECS, SETUP_CONC],
                 env=tun("bench", client_pw, "echo")).get("per_s", 0)
        wrows.append((w, tp, sr))
        print("  workers %d: 100 streams %.0f MiB/s, %.0f tunnels/s" % (w, tp, sr), flush=True)
        r.proc.terminate()
        r.proc.wait(10)
    t = ["| workers | 100 streams MiB/s | tunnels/s |", "|---|---|---|"]
    t += ["| %d | %.0f (%s) | %.0f (%s) |" % (w, tp, ratio(tp, wrows[0][1]), sr, ratio(sr, wrows[0][2]))
          for w, tp, sr in wrows]
    out.append("### Workers\n\nOne hop, `workers 1` and `workers 2` (ratios to one worker); the "
               "load generator and the endpoints run on the same %d cores.\n\n%s\n"
               % (os.cpu_count(), "\n".join(t)))

    write_section("tunnels", "\n".join(out))


def kv_get(line, key):
    m = re.search(r"%s=(\S+)" % key, line)
    return float(m.group(1)) if m else 0


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
