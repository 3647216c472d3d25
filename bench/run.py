"""Benchmark of the forward listener against a direct connection, HAProxy and
socat: see bench/run.sh.  Everything runs on 127.0.0.1."""
import os
import shutil
import subprocess
import time

from benchlib import (BG, RELAY, REPEAT, ROOT, busy_since, cleanup, family, free_port, gnuplot,
                      machine_busy, median, pin, ratio, rss_kib, run, start, start_haproxy,
                      start_minimal_relays, start_servers, tmp, unpin, wait_port, write_section)

SINGLE = int(os.environ.get("BENCH_SINGLE_BYTES", 2 << 30))
MULTI_STREAMS = 100
MULTI_EACH = int(os.environ.get("BENCH_MULTI_BYTES", 20 << 20))
CONN_SECS = float(os.environ.get("BENCH_CONN_SECONDS", 5))
RTT_COUNT = int(os.environ.get("BENCH_RTT_COUNT", 20000))
IDLE = int(os.environ.get("BENCH_IDLE", 1000))


def main():
    servers, servers_pids = start_servers(SINGLE, MULTI_EACH)

    targets = {"direct": (None, dict(servers))}

    # the floor: a minimal blocking relay, two threads per connection
    targets["minimal relay"] = start_minimal_relays(servers)

    # beepgated forward listeners, one worker and one per core
    for workers in (1, os.cpu_count()):
        bports = {k: free_port() for k in servers}
        conf = os.path.join(tmp, "bench-%d.conf" % workers)
        with open(conf, "w") as f:
            f.write('user "root"\nallow root\nworkers %d\nlimits { max-sessions 20000 '
                    'max-sessions-per-source 20000 connection-rate 0 per 1s }\n' % workers)
            for k in servers:
                f.write("listen on 127.0.0.1 port %d forward to 127.0.0.1 port %d\n" % (bports[k], servers[k]))
        relay = start([RELAY, "-d", "-f", conf])
        for p in bports.values():
            wait_port(p)
        targets["beepgated, workers %d" % workers] = (relay.pid, bports)
        if os.cpu_count() == 1:
            break

    hap = start_haproxy(servers)
    if hap is not None:
        targets[hap[0]] = (hap[1].pid, hap[2])
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
        r["single"] = median(["throughput", "127.0.0.1", ports["single"], 1, SINGLE], "mib_per_s")
        print("  single-stream   %8.0f MiB/s" % r["single"], flush=True)
        r["multi"] = median(["throughput", "127.0.0.1", ports["multi"], MULTI_STREAMS, MULTI_EACH],
                            "mib_per_s")
        print("  100 streams     %8.0f MiB/s" % r["multi"], flush=True)
        mark = machine_busy()
        r["connrate"] = median(["connrate", "127.0.0.1", ports["echo"], CONN_SECS, 8], "per_s")
        r["busy"] = busy_since(mark) * 100
        print("  connections/s   %8.0f  (machine CPU busy %.0f%%)" % (r["connrate"], r["busy"]), flush=True)
        # round trips with every process on one CPU
        for sp in servers_pids:
            pin(sp, 0)
        for p in family(pid):
            pin(p, 0)
        rt = run(["rtt", "127.0.0.1", ports["echo"], RTT_COUNT], pin=0)
        for sp in servers_pids:
            unpin(sp)
        for p in family(pid):
            unpin(p)
        r["p50"], r["p99"] = rt.get("p50_us", 0), rt.get("p99_us", 0)
        print("  RTT 64 B        p50 %.1f us  p99 %.1f us" % (r["p50"], r["p99"]), flush=True)
        if pid is not None and name not in ("socat", "minimal relay"):
            before = sum(rss_kib(p) for p in family(pid))
            idle = subprocess.Popen([BG, "idle", "127.0.0.1", str(ports["echo"]), str(IDLE), "4"],
                                    stdout=subprocess.PIPE, text=True)
            idle.stdout.readline()
            time.sleep(1.0)
            after = sum(rss_kib(p) for p in family(pid))
            idle.wait(30)
            r["idle_kib"] = (after - before) / IDLE * 1.0
            print("  memory per idle connection %.2f KiB (%d idle)" % (r["idle_kib"], IDLE), flush=True)
        results[name] = r

    d = results["direct"]

    rows = []
    for name, r in results.items():
        rows.append("| %s | %.0f (%s) | %.0f (%s) | %.0f (%s) | %.0f%% | %.1f (%s) | %.1f | %s |" % (
            name, r["single"], ratio(r["single"], d["single"]), r["multi"], ratio(r["multi"], d["multi"]),
            r["connrate"], ratio(r["connrate"], d["connrate"]), r["busy"], r["p50"], ratio(r["p50"], d["p50"]),
            r["p99"], ("%.2f" % r["idle_kib"]) if "idle_kib" in r else "-"))
    table = ("| target | single stream MiB/s | 100 streams MiB/s | connections/s | CPU busy | RTT p50 µs | RTT p99 µs | KiB per idle conn |\n"
             "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    print()
    print(table)
    write_doc(table, results)


def write_doc(table, results):
    dat = os.path.join(tmp, "b.dat")
    with open(dat, "w") as f:
        for name, r in results.items():
            f.write('"%s" %.0f %.0f\n' % (name, r["single"], r["multi"]))
    plotted = gnuplot(
        "set terminal png size 800,450; set output '%s'; set style data histograms;"
        "set style fill solid 0.8; set ylabel 'MiB/s'; set title 'forward listener: loopback throughput';"
        "set xtics rotate by -25; set bmargin 5; set key top right; plot '%s' using 2:xtic(1) title 'single stream', '' using 3 title '100 streams'"
        % (os.path.join(ROOT, "docs",
                        "benchmarks-forward.png"), dat))
    text = ("Measured by `make bench` on this machine: %d cores, loopback only, every target in the "
            "same run; ratios are to a direct connection; throughput and connections/s are the "
            "median of %d runs.  Single stream: %d MiB; 100 streams × %d MiB; "
            "connections/s: connect, 1-byte echo, close, 8 client threads, %g s; RTT: 64-byte "
            "ping-pong, %d round trips, every process pinned to CPU 0; memory: RSS growth of the "
            "relay with %d idle connections.\n\n" % (os.cpu_count(), REPEAT, SINGLE >> 20, MULTI_EACH >> 20,
                                                      CONN_SECS, RTT_COUNT, IDLE))
    text += table + "\n"
    if plotted:
        text += "\n![forward throughput](benchmarks-forward.png)\n"
    write_section("forward", text)


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
