"""Helpers shared by the benchmark drivers (bench/run.sh).  Loopback only."""
import os
import re
import resource
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
PASSWD = os.path.join(BUILD, "beepgate-passwd")

procs = []
tmp = tempfile.mkdtemp(prefix="beepgate-bench-")


def many_files():
    """Soft descriptor limit up to the hard one (which may be all there is:
    raising the hard limit needs CAP_SYS_RESOURCE)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, **kw):
    """Start a background process; its output goes to a log file in tmp (a
    pipe nobody reads would fill and stall a daemon logging each session)."""
    path = os.path.join(tmp, "%s-%d.log" % (os.path.basename(str(cmd[0])), len(procs)))
    log = open(path, "wb")
    p = subprocess.Popen([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT,
                         preexec_fn=many_files, **kw)
    log.close()
    p.log = path
    procs.append(p)
    return p


def start_servers(single_bytes, multi_bytes):
    """The endpoints: a source of single_bytes, one of multi_bytes per
    connection, and an echo.  Returns ({name: port}, [pids])."""
    servers = {"single": free_port(), "multi": free_port(), "echo": free_port()}
    pids = [start([BG, "server", servers["single"], "source:%d" % single_bytes]).pid,
            start([BG, "server", servers["multi"], "source:%d" % multi_bytes]).pid,
            start([BG, "server", servers["echo"], "echo"]).pid]
    for p in servers.values():
        wait_port(p)
    return servers, pids


def start_minimal_relays(servers):
    """The floor: `bgbench relay` (two blocking threads per connection) in
    front of each server.  Returns (pid of the echo one, {name: port})."""
    ports = {k: free_port() for k in servers}
    pids = {k: start([BG, "relay", ports[k], servers[k]]).pid for k in servers}
    for p in ports.values():
        wait_port(p)
    return pids["echo"], ports


def start_haproxy(servers):
    """HAProxy in mode tcp in front of each server, one thread per core
    (maxconn within the descriptor limit).  Returns (label, process,
    {name: port}), or None when HAProxy is not installed."""
    if not shutil.which("haproxy"):
        return None
    ports = {k: free_port() for k in servers}
    conf = os.path.join(tmp, "haproxy.cfg")
    with open(conf, "w") as f:
        f.write("global\n  maxconn 9000\n  nbthread %d\ndefaults\n  mode tcp\n  timeout connect 5s\n"
                "  timeout client 60s\n  timeout server 60s\n" % os.cpu_count())
        for k in servers:
            f.write("listen l_%s\n  bind 127.0.0.1:%d\n  server s 127.0.0.1:%d\n" % (k, ports[k], servers[k]))
    h = start(["haproxy", "-f", conf, "-db"])
    for p in ports.values():
        wait_port(p)
    return "HAProxy (tcp, nbthread %d)" % os.cpu_count(), h, ports


def family(pid):
    """A process and its children (beepgated's workers)."""
    if pid is None:
        return []
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid] + [int(k) for k in kids]


def wait_port(port, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    tails = []
    for p in procs:
        try:
            with open(p.log, "rb") as f:
                tail = f.read()[-600:].decode(errors="replace").strip()
        except OSError:
            tail = ""
        state = "running" if p.poll() is None else "exited %d" % p.returncode
        tails.append("  %s (%s): %s" % (" ".join(map(str, p.args[:3])), state, tail or "(no output)"))
    raise RuntimeError("port %d did not open\n%s" % (port, "\n".join(tails)))


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


def run(args, pin=None, env=None):
    cmd = [BG] + [str(a) for a in args]
    if pin is not None:
        cmd = ["taskset", "-c", str(pin)] + cmd
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=e,
                       preexec_fn=many_files)
    if r.returncode != 0:
        print("  warning: %s -> %s" % (" ".join(cmd), r.stdout.strip() + " " + r.stderr.strip()[-300:]))
    return kv(r.stdout)


REPEAT = int(os.environ.get("BENCH_REPEAT", 3))


def median(args, key, pin=None, env=None):
    """The median of `key` over BENCH_REPEAT runs of bgbench (loopback figures
    on a shared 2-core machine vary from run to run; one run is noise)."""
    vals = sorted(run(args, pin=pin, env=env).get(key, 0) for _ in range(max(1, REPEAT)))
    return vals[len(vals) // 2]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """user + system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy():
    """(busy, total) jiffies of every CPU so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def busy_since(mark):
    """Share of the machine's CPU time that was busy since machine_busy()."""
    b, t = machine_busy()
    return (b - mark[0]) / (t - mark[1]) if t > mark[1] else 0.0


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def pin(pid, cpu):
    if pid and shutil.which("taskset"):
        subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(pid)], capture_output=True)


def unpin(pid):
    if pid and shutil.which("taskset"):
        subprocess.run(["taskset", "-a", "-p", "-c", "0-%d" % (os.cpu_count() - 1), str(pid)],
                       capture_output=True)


def ratio(v, base):
    return "%.2f×" % (v / base) if base else "-"


def write_section(name, text):
    """Replaces the generated section NAME of docs/benchmarks.md (between its
    markers), keeping the hand-written text around it."""
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    begin, end = "<!-- bench:%s:begin -->" % name, "<!-- bench:%s:end -->" % name
    doc = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    block = begin + "\n" + text.rstrip() + "\n" + end
    if begin in doc and end in doc:
        doc = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: block, doc, flags=re.S)
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(doc)
    print("wrote docs/benchmarks.md (%s)" % name)


def gnuplot(script):
    if shutil.which("gnuplot"):
        subprocess.run(["gnuplot", "-e", script], check=False)
        return True
    print("  (gnuplot not installed: no plot)")
    return False


def cleanup():
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(10)
        except Exception:
            p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
