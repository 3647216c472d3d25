"""beepgate loopback demonstration (see tools/demo.sh).

1. beepgated with its built-in configuration forwards a stream (sha256 both ways).
2. IDXP across two relays: an analyzer authenticates to relay A with SCRAM,
   tunnels through A and B to an IDXP manager, negotiates TLS with it end to
   end (mutual certificates) and delivers alerts.  A recording hop between A
   and B keeps every octet that crossed; the report checks that no alert
   text appears there or in either relay's log.

Everything runs on 127.0.0.1 with ports the kernel picks (the built-in
configuration's 16080/16081 excepted); keys, certificates and the SASL
database are made for this run in a temporary directory and removed."""
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests"))
os.environ["BEEPGATE_BUILD"] = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/plain")
ALERTS = int(os.environ.get("DEMO_ALERTS", "50"))

from integration.harness import (BEEPGATED, BUILD, Backend, Daemon, connect,  # noqa: E402
                                 free_port, stream_both_ways)
from integration.tlsutil import Recorder, make_pki  # noqa: E402

IDXP_PEER = os.path.join(BUILD, "idxp-peer")
SASLPASSWD2 = "/usr/sbin/saslpasswd2"
REALM = "demo.test"


def step(text):
    print("== " + text, flush=True)


def forward_demo():
    step("1. beepgated with its built-in configuration: 127.0.0.1:16080 -> 127.0.0.1:16081")
    backend = Backend(mode="stream", host="127.0.0.1", send_bytes=8 << 20, seed=42, port=16081)
    log = tempfile.NamedTemporaryFile(prefix="beepgate-demo-", suffix=".log", delete=False)
    proc = subprocess.Popen([BEEPGATED, "-d"], stdout=log, stderr=subprocess.STDOUT)
    ok = False
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", 16080), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        s = connect("127.0.0.1", 16080)
        sent, got, n = stream_both_ways(s, 8 << 20, seed=7)
        s.close()
        for _ in range(100):
            if len(backend.results) >= 2:      # the probe connection and ours
                break
            time.sleep(0.05)
        ok = got == backend.sent_sha and any(r[0] == sent for r in backend.results)
        print("   8 MiB each way through the relay: sha256 %s" % ("intact" if ok else "DIFFERS"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        backend.close()
        log.close()
        os.unlink(log.name)
    return ok


def private_file(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def relay_conf(port, db, rules, extra=""):
    return ("timeouts { handshake 10s connect 5s idle 60s fin 10s hard-stop 5s }\n"
            'sasl { database "%s" realm "%s" }\n' % (db, REALM) + extra +
            "listen on 127.0.0.1 port %d tunnel\n" % port + rules + "block to any\n")


def tunnel_bytes(log):
    """(in, out) of the session lines that carried a tunnel (user= set)."""
    tin = tout = 0
    for m in re.finditer(r"session=\w+ src=\S+ user=(\S+) dst=\S+ in=(\d+) out=(\d+)", log):
        if m.group(1) != "-":
            tin += int(m.group(2))
            tout += int(m.group(3))
    return tin, tout


def idxp_demo():
    step("2. IDXP alerts from an analyzer to a manager through relays A and B, TLS end to end")
    d = tempfile.mkdtemp(prefix="beepgate-demo-")
    procs, daemons, ok = [], [], True
    try:
        ca, certs = make_pki(d, "", ("manager.demo.test", "analyzer.demo.test"))
        db = os.path.join(d, "users.sasldb")
        pw = {"analyzer1": secrets.token_hex(12), "relayA": secrets.token_hex(12)}
        for user, p in pw.items():
            subprocess.run([SASLPASSWD2, "-p", "-c", "-f", db, "-a", "beepgate", "-u", REALM, user],
                           input=p.encode(), check=True, capture_output=True, timeout=30)
        os.chmod(db, 0o600)
        private_file(os.path.join(d, "analyzer.pw"), pw["analyzer1"] + "\n")
        private_file(os.path.join(d, "relayA.secret"), pw["relayA"] + "\n")
        marker = "DEMO-ALERT-" + secrets.token_hex(6)

        mport = free_port()
        spool = os.path.join(d, "alerts.jsonl")
        tls = ["--ca", ca]
        mgr = subprocess.Popen([IDXP_PEER, "manager", "-l", "127.0.0.1:%d" % mport, "--spool", spool,
                                "--uri", "http://manager.demo.test/idxp",
                                "--cert", certs["manager.demo.test"][0],
                                "--key", certs["manager.demo.test"][1]] + tls,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(mgr)
        mgr.stdout.readline()                      # "listening on ..."
        bport = free_port()
        b = Daemon(relay_conf(bport, db, 'pass from user "relayA" to 127.0.0.1 port %d\n' % mport),
                   name="B")
        daemons.append(b)
        rec = Recorder(bport)
        aport = free_port()
        a = Daemon(relay_conf(aport, db, 'pass from user "analyzer1" to 127.0.0.1 port %d\n' % rec.port,
                              'route "to-b" { connect 127.0.0.1 port %d user "relayA" secret "%s" }\n'
                              % (rec.port, os.path.join(d, "relayA.secret"))), name="A")
        daemons.append(a)
        print("   manager 127.0.0.1:%d <- relay B 127.0.0.1:%d <- recorder 127.0.0.1:%d <- "
              "relay A 127.0.0.1:%d <- analyzer" % (mport, bport, rec.port, aport))
        t0 = time.monotonic()
        an = subprocess.run([IDXP_PEER, "analyzer", "-u", "analyzer1",
                             "--password-file", os.path.join(d, "analyzer.pw"),
                             "--relay", "127.0.0.1:%d" % aport, "--via", "127.0.0.1:%d" % rec.port,
                             "--manager", "127.0.0.1:%d" % mport, "--manager-name", "manager.demo.test",
                             "--uri", "http://analyzer.demo.test/sensor1", "-n", str(ALERTS),
                             "--heartbeats", "3", "--marker", marker,
                             "--cert", certs["analyzer.demo.test"][0],
                             "--key", certs["analyzer.demo.test"][1]] + tls,
                            capture_output=True, timeout=120)
        dt = time.monotonic() - t0
        out = an.stdout.decode() + an.stderr.decode()
        m = re.search(r"messages sent (\d+), acknowledged (\d+), refused (\d+)", out)
        sent, acked = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        print("   analyzer (exit %d, %.2f s): %s" % (an.returncode, dt, m.group(0) if m else out.strip()))
        ok &= an.returncode == 0 and sent == ALERTS + 3 and acked == sent

        # the relays finish their sessions; their logs hold the byte counts
        for r in (a, b):
            r.wait_log(r"user=\S+ dst=\S+ in=\d+ out=\d+", timeout=10)
        time.sleep(0.3)
        stored = marked = 0
        if os.path.exists(spool):
            with open(spool) as f:
                for line in f:
                    stored += 1
                    marked += marker in line
        print("   manager stored %d messages, %d of them alerts carrying the marker %s"
              % (stored, marked, marker))
        ok &= stored == ALERTS + 3 and marked == ALERTS
        for name, r in (("A", a), ("B", b)):
            tin, tout = tunnel_bytes(r.log())
            print("   relay %s: tunnel bytes in=%d out=%d" % (name, tin, tout))
            ok &= tin > 0 and tout > 0
        with rec.lock:
            up, down = bytes(rec.up), bytes(rec.down)
        seen = {"relay A log": marker in a.log(), "relay B log": marker in b.log(),
                "A->B traffic": marker.encode() in up, "B->A traffic": marker.encode() in down}
        print("   recorded between A and B: %d octets toward B, %d back" % (len(up), len(down)))
        for where, found in seen.items():
            print("   alert text in %-13s: %s" % (where, "FOUND (plaintext leaked)" if found else "absent"))
            ok &= not found
        ok &= b"TLS" in up and len(up) > ALERTS * 200   # the TLS request, then ciphertext
    except (OSError, subprocess.SubprocessError) as e:
        print("   failed: %s" % e)
        ok = False
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
            if p.stdout:
                p.stdout.close()
        for r in daemons:
            r.kill()
        shutil.rmtree(d, ignore_errors=True)
    return ok


def main():
    ok = forward_demo()
    ok = idxp_demo() and ok
    step("demo %s" % ("succeeded" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


main()
