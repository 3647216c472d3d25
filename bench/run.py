"""Benchmark driver: see bench/run.sh.  Everything runs on 127.0.0.1."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/plain")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BG = os.path.join(BUILD, "bgbench")
RELAY = os.path.join(BUILD, "beepgated")
SINGLE = int(os.environ.get("BENCH_SINGLE_BYTES", 2 << 30))
MULTI_STREAMS = 100
MULTI_EACH = int(os.environ.get("BENCH_MULTI_BYTES", 20 << 20))
CONN_SECS = float(os.environ.get("BENCH_CONN_SECONDS", 5))
RTT_COUNT = int(os.environ.get("BENCH_RTT_COUNT", 20000))
IDLE = int(os.environ.get("BENCH_IDLE", 1000))

procs = []
tmp = tempfile.mkdtemp(prefix="beepgate-bench-")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, **kw):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    procs.append(p)
    return p


def wait_port(port, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open" % port)


def kv(out):
    d = {}
    for tok in out.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            try:
                d[k] = float(v)
            except ValueError:
                d[k] = v
    return d


def run(args, pin=None):
    cmd = [BG] + [str(a) for a in args]
    if pin is not None:
        cmd = ["taskset", "-c", str(pin)] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        print("  warning: %s -> %s" % (" ".join(cmd), r.stdout.strip() + r.stderr.strip()))
    return kv(r.stdout)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pin(pid, cpu):
    if pid and shutil.which("taskset"):
        subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(pid)], capture_output=True)


def unpin(pid):
    if pid and shutil.which("taskset"):
        subprocess.run(["taskset", "-a", "-p", "-c", "0-%d" % (os.cpu_count() - 1), str(pid)],
                       capture_output=True)


def main():
    servers = {"single": free_port(), "multi": free_port(), "echo": free_port()}
    start([BG, "server", servers["single"], "source:%d" % SINGLE])
    start([BG, "server", servers["multi"], "source:%d" % MULTI_EACH])
    start([BG, "server", servers["echo"], "echo"])
    for p in servers.values():
        wait_port(p)
    servers_pids = [p.pid for p in procs]

    targets = {"direct": (None, dict(servers))}

    # beepgated forward listeners
    bports = {k: free_port() for k in servers}
    conf = os.path.join(tmp, "bench.conf")
    with open(conf, "w") as f:
        f.write('user "root"\nallow root\nlimits { max-sessions 20000 max-sessions-per-source 20000 '
                'connection-rate 0 per 1s }\n')
        for k in servers:
            f.write("listen on 127.0.0.1 port %d forward to 127.0.0.1 port %d\n" % (bports[k], servers[k]))
    with open(os.path.join(tmp, "relay.log"), "wb") as log:
        relay = subprocess.Popen([RELAY, "-d", "-f", conf], stdout=log, stderr=subprocess.STDOUT,
                                 preexec_fn=lambda: __import__("resource").setrlimit(
                                     __import__("resource").RLIMIT_NOFILE, (65536, 65536)))
    procs.append(relay)
    for p in bports.values():
        wait_port(p)
    targets["beepgated"] = (relay.pid, bports)

    if shutil.which("haproxy"):
        hports = {k: free_port() for k in servers}
        hconf = os.path.join(tmp, "haproxy.cfg")
        with open(hconf, "w") as f:
            f.write("global\n  maxconn 20000\ndefaults\n  mode tcp\n  timeout connect 5s\n"
                    "  timeout client 60s\n  timeout server 60s\n")
            for k in servers:
                f.write("listen l_%s\n  bind 127.0.0.1:%d\n  server s 127.0.0.1:%d\n" % (k, hports[k], servers[k]))
        h = start(["haproxy", "-f", hconf, "-db"])
        for p in hports.values():
            wait_port(p)
        targets["haproxy"] = (h.pid, hports)
    if shutil.which("socat"):
        sports = {k: free_port() for k in servers}
        spids = []
        for k in servers:
            sp = start(["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,nodelay" % sports[k],
                        "TCP:127.0.0.1:%d,nodelay" % servers[k]])
            spids.append(sp.pid)
        for p in sports.values():
            wait_port(p)
        targets["socat"] = (spids[2], sports)

    results = {}
    for name, (pid, ports) in targets.items():
        r = {}
        print("== %s" % name, flush=True)
        r["single"] = run(["throughput", "127.0.0.1", ports["single"], 1, SINGLE]).get("mib_per_s", 0)
        print("  single-stream   %8.0f MiB/s" % r["single"], flush=True)
        r["multi"] = run(["throughput", "127.0.0.1", ports["multi"], MULTI_STREAMS, MULTI_EACH]).get("mib_per_s", 0)
        print("  100 streams     %8.0f MiB/s" % r["multi"], flush=True)
        r["connrate"] = run(["connrate", "127.0.0.1", ports["echo"], CONN_SECS, 8]).get("per_s", 0)
        print("  connections/s   %8.0f" % r["connrate"], flush=True)
        # round trips with every process on one CPU
        for sp in servers_pids:
            pin(sp, 0)
        pin(pid, 0)
        rt = run(["rtt", "127.0.0.1", ports["echo"], RTT_COUNT], pin=0)
        for sp in servers_pids:
            unpin(sp)
        unpin(pid)
        r["p50"], r["p99"] = rt.get("p50_us", 0), rt.get("p99_us", 0)
        print("  RTT 64 B        p50 %.1f us  p99 %.1f us" % (r["p50"], r["p99"]), flush=True)
        if pid is not None and name != "socat":
            before = rss_kib(pid)
            idle = subprocess.Popen([BG, "idle", "127.0.0.1", str(ports["echo"]), str(IDLE), "4"],
                                    stdout=subprocess.PIPE, text=True)
            idle.stdout.readline()
            time.sleep(1.0)
            after = rss_kib(pid)
            idle.wait(30)
            r["idle_kib"] = (after - before) / IDLE * 1.0
            print("  memory per idle connection %.2f KiB (%d idle)" % (r["idle_kib"], IDLE), flush=True)
        results[name] = r

    d = results["direct"]

    def ratio(v, base):
        return "%.2f×" % (v / base) if base else "-"
    rows = []
    for name, r in results.items():
        rows.append("| %s | %.0f (%s) | %.0f (%s) | %.0f (%s) | %.1f (%s) | %.1f | %s |" % (
            name, r["single"], ratio(r["single"], d["single"]), r["multi"], ratio(r["multi"], d["multi"]),
            r["connrate"], ratio(r["connrate"], d["connrate"]), r["p50"], ratio(r["p50"], d["p50"]),
            r["p99"], ("%.2f" % r["idle_kib"]) if "idle_kib" in r else "-"))
    table = ("| target | single stream MiB/s | 100 streams MiB/s | connections/s | RTT p50 µs | RTT p99 µs | KiB per idle conn |\n"
             "|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    print()
    print(table)
    write_doc(table, results)


def write_doc(table, results):
    docs = os.path.join(ROOT, "docs")
    png = os.path.join(docs, "benchmarks.png")
    if shutil.which("gnuplot"):
        dat = os.path.join(tmp, "b.dat")
        with open(dat, "w") as f:
            for name, r in results.items():
                f.write('"%s" %.0f %.0f\n' % (name, r["single"], r["multi"]))
        script = ("set terminal png size 800,450; set output '%s'; set style data histograms;"
                  "set style fill solid 0.8; set ylabel 'MiB/s'; set title 'Loopback throughput (bench/run.sh)';"
                  "set key top right; plot '%s' using 2:xtic(1) title 'single stream', '' using 3 title '100 streams'"
                  % (png, dat))
        subprocess.run(["gnuplot", "-e", script], check=False)
    with open(os.path.join(docs, "benchmarks.md"), "w") as f:
        f.write("# Benchmarks\n\nMeasured by `make bench` (bench/run.sh) on this machine: %d cores, "
                "loopback only, every target measured in the same run; ratios are to a direct "
                "connection.\n\n" % os.cpu_count())
        f.write("Single stream: %d MiB; 100 streams × %d MiB; connections/s: connect, 1-byte echo, "
                "close, 8 client threads, %g s; RTT: 64-byte ping-pong, %d round trips, every "
                "process pinned to CPU 0; memory: RSS growth of the relay with %d idle "
                "connections.\n\n" % (SINGLE >> 20, MULTI_EACH >> 20, CONN_SECS, RTT_COUNT, IDLE))
        f.write(table + "\n\n![throughput](benchmarks.png)\n")
    print("wrote docs/benchmarks.md")


try:
    main()
finally:
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(10)
        except Exception:
            p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
