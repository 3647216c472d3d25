"""The admin listener: Prometheus /metrics and /status through a real daemon,
counters checked exactly after known scenarios (forwarded sessions with known
byte counts and a max-sessions refusal; TUNNEL with SASL successes and
failures, refusals by code, policy decisions by rule), beepgated -s, 404s,
and the listener being absent unless configured."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from integration.harness import (BEEPGATED, Backend, connect, free_port, is_closed,
                                 recv_exact)
from integration.tunnel_env import USERS, RelayTestCase, relay_conf
from peers import beep
from peers.beep import Tunnel

LABEL_RX = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def unescape(v):
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\":
            out.append({"\\": "\\", '"': '"', "n": "\n"}[v[i + 1]])
            i += 2
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


def parse_exposition(text):
    """{(name, frozenset(labels)): value}, checking the format as it goes:
    every sample's family has HELP and TYPE lines before it."""
    samples, typed, helped = {}, {}, set()
    for line in text.split("\n"):
        if not line:
            continue
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram"), line
            typed[name] = kind
            continue
        assert not line.startswith("#"), line
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert m, "not a sample line: %r" % line
        name, labels = m.group(1), {}
        if m.group(3):
            body = m.group(3)
            pos = 0
            while pos < len(body):
                lm = LABEL_RX.match(body, pos)
                assert lm, "bad labels in %r" % line
                labels[lm.group(1)] = unescape(lm.group(2))
                pos = lm.end()
                if pos < len(body):
                    assert body[pos] == ",", line
                    pos += 1
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in typed else name
        assert family in typed and family in helped, "no HELP/TYPE for %s" % name
        if typed[family] == "counter":
            assert name.endswith("_total"), name
        key = (name, frozenset(labels.items()))
        assert key not in samples, "duplicate sample %r" % line
        samples[key] = float(m.group(4))
    return samples


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def http_get(port, path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def scrape(port):
    status, headers, body = http_get(port, "/metrics")
    assert status == 200, (status, body)
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    return parse_exposition(body)


def status_cmd(conf_path):
    r = subprocess.run([BEEPGATED, "-s", "-f", conf_path], capture_output=True, timeout=30)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def listening_ports(pid):
    """TCP ports the process listens on (from /proc: its socket inodes)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", t)
        if m:
            inodes.add(m.group(1))
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:     # LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def fwd_conf(lport, bport, admin="", limits=""):
    return ("timeouts { handshake 5s connect 2s idle 30s fin 10s hard-stop 5s }\n" + limits +
            admin + "listen on 127.0.0.1 port %d forward to 127.0.0.1 port %d\n" % (lport, bport))


class MetricsTest(RelayTestCase):
    def test_absent_by_default(self):
        b = self.keep(Backend(mode="echo"))
        lp = free_port()
        d = self.daemon(fwd_conf(lp, b.port))
        self.assertEqual(listening_ports(d.proc.pid), {lp})
        self.assertNotIn("admin", d.log())
        rc, out, err = status_cmd(d.conf_path)
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertIn("no admin listener is configured in %s" % d.conf_path, err)
        self.finish(d)

    def test_forward_scenario_exact(self):
        b = self.keep(Backend(mode="echo"))
        lp, ap = free_port(), free_port()
        d = self.daemon(fwd_conf(lp, b.port, admin="admin on 127.0.0.1 port %d\n" % ap,
                                 limits="limits { max-sessions 3 }\n"))
        self.assertEqual(listening_ports(d.proc.pid), {lp, ap})
        self.assertTrue(d.wait_log(r"listening on 127\.0\.0\.1:%d \(admin" % ap))
        m = scrape(ap)
        self.assertEqual(metric(m, "beepgate_sessions", state="pumping"), 0)
        self.assertEqual(metric(m, "beepgate_sessions_accepted_total"), 0)

        sizes = [1000, 20000, 300000]
        socks = []
        for i, n in enumerate(sizes):
            s = connect("127.0.0.1", lp)
            data = bytes([i + 1]) * n
            s.sendall(data)
            self.assertEqual(recv_exact(s, n), data)
            socks.append(s)
        extra = connect("127.0.0.1", lp)
        self.assertTrue(is_closed(extra))
        extra.close()
        self.assertTrue(d.wait_log(r"max-sessions 3 reached"))

        m = scrape(ap)
        self.assertEqual(metric(m, "beepgate_sessions", state="pumping"), 3)
        for st in ("accepted", "tcpmux", "beep", "connecting", "next-hop"):
            self.assertEqual(metric(m, "beepgate_sessions", state=st), 0, st)
        self.assertEqual(metric(m, "beepgate_sessions_accepted_total"), 4)
        self.assertEqual(metric(m, "beepgate_sessions_closed_total"), 0)
        self.assertEqual(metric(m, "beepgate_limit_hits_total", limit="max-sessions"), 1)
        self.assertEqual(metric(m, "beepgate_limit_hits_total", limit="max-sessions-per-source"), 0)
        self.assertEqual(metric(m, "beepgate_limit_hits_total", limit="connection-rate"), 0)
        # live sessions' bytes are counted already
        self.assertEqual(metric(m, "beepgate_bytes_total", direction="c2s"), sum(sizes))
        self.assertEqual(metric(m, "beepgate_bytes_total", direction="s2c"), sum(sizes))
        self.assertEqual(metric(m, "beepgate_tunnels_total"), 0)
        self.assertEqual(metric(m, "beepgate_config_generation"), 1)

        rc, out, err = status_cmd(d.conf_path)
        self.assertEqual(rc, 0, err)
        self.assertIn("listening on 127.0.0.1 port %d (forward)" % lp, out)
        self.assertIn("admin on 127.0.0.1 port %d" % ap, out)
        self.assertIn("sessions: 3 live (limit 3); accepted 0 tcpmux 0 beep 0 connecting 0 "
                      "next-hop 0 pumping 3", out)
        self.assertIn("sessions: 4 accepted, 0 closed; refused: max-sessions 1, per-source 0, "
                      "connection-rate 0", out)
        self.assertIn("bytes: %d client to destination, %d back" % (sum(sizes), sum(sizes)), out)
        self.assertEqual(len(re.findall(r"^session \w+ pumping 127\.0\.0\.1:\d+ user=- "
                                        r"dst=127\.0\.0\.1:%d in=\d+ out=\d+ queued=\d+/\d+ age=" % b.port,
                                        out, re.M)), 3, out)

        for s in socks:
            s.close()
        self.assertTrue(d.wait_log(r"session=\w+ src=.* reason=", count=3), d.log()[-2000:])
        m = scrape(ap)
        self.assertEqual(metric(m, "beepgate_sessions", state="pumping"), 0)
        self.assertEqual(metric(m, "beepgate_sessions_closed_total"), 3)
        self.assertEqual(metric(m, "beepgate_bytes_total", direction="c2s"), sum(sizes))
        self.assertEqual(metric(m, "beepgate_bytes_total", direction="s2c"), sum(sizes))

        # reloads: one refused, one taken; an admin change is only reported
        with open(d.conf_path) as f:
            good = f.read()
        with open(d.conf_path, "w") as f:
            f.write(good + "bogus statement\n")
        n_bad = d.count_log(r"reload failed")
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log(r"reload failed", count=n_bad + 1))
        with open(d.conf_path, "w") as f:
            f.write(good.replace("admin on 127.0.0.1 port %d" % ap,
                                 "admin on 127.0.0.1 port %d" % free_port()))
        n_ok = d.count_log(r"configuration generation \d+ in use")
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log(r"configuration generation \d+ in use", count=n_ok + 1))
        self.assertTrue(d.wait_log(r"reload: the admin listener changed"))
        m = scrape(ap)             # still where it was started
        self.assertEqual(metric(m, "beepgate_reloads_total"), 1)
        self.assertEqual(metric(m, "beepgate_reload_failures_total"), 1)
        self.assertEqual(metric(m, "beepgate_config_generation"), 2)
        self.finish(d)

    def test_http_paths(self):
        b = self.keep(Backend(mode="echo"))
        lp, ap = free_port(), free_port()
        d = self.daemon(fwd_conf(lp, b.port, admin="admin on 127.0.0.1 port %d\n" % ap))
        for path in ("/", "/metricsx", "/metrics/x", "/status/", "/favicon.ico"):
            status, _, body = http_get(ap, path)
            self.assertEqual(status, 404, path)
            self.assertIn("not found", body)
        status, _, body = http_get(ap, "/metrics?x=1")
        self.assertEqual(status, 200)
        self.assertIn("beepgate_sessions_accepted_total 0\n", body)
        status, headers, body = http_get(ap, "/status")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        self.assertTrue(body.startswith("beepgated pid %d," % d.proc.pid), body)
        status, _, _ = http_get(ap, "/metrics", method="POST")
        self.assertNotEqual(status, 200)
        status, _, body = http_get(ap, "/metrics", method="HEAD")
        self.assertEqual((status, body), (200, ""))
        # 404s, the query, /status, POST, HEAD: every request counted
        m = scrape(ap)
        self.assertEqual(metric(m, "beepgate_admin_requests_total"), 9)
        self.finish(d)

    def test_status_when_not_answering(self):
        ap = free_port()
        tmp = tempfile.mkdtemp(prefix="beepgate-it-s-")
        p = os.path.join(tmp, "c.conf")
        with open(p, "w") as f:
            f.write("admin on 127.0.0.1 port %d\n" % ap)
        rc, out, err = status_cmd(p)
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertIn("the admin listener 127.0.0.1:%d does not answer" % ap, err)
        os.unlink(p)
        os.rmdir(tmp)

    def test_tunnel_scenario_exact(self):
        echo = self.keep(Backend(mode="echo"))
        lp, ap = free_port(), free_port()
        tmp = tempfile.mkdtemp(prefix="beepgate-it-rules-")
        rules = os.path.join(tmp, 'ru"les\\.conf')
        with open(rules, "w") as f:
            f.write('pass from user "alice" to 127.0.0.1/32 port 1-65535\n')
        conf = relay_conf(lp, self.db, 'include "%s"\n' % rules.replace("\\", "\\\\").replace('"', '\\"'),
                          extra="admin on 127.0.0.1 port %d\n" % ap)
        d = self.daemon(conf, name="tun")

        # 530: a tunnel before authentication
        s0 = beep.open_session("127.0.0.1", lp, timeout=10)
        r = beep.tunnel_start(s0, Tunnel(ip4="127.0.0.1", port=echo.port))
        self.assertEqual((r.ok, r.code), (False, 530))
        s0.close()
        # a wrong password, then the right one
        s = beep.open_session("127.0.0.1", lp, timeout=10)
        bad = beep.sasl_login(s, "SCRAM-SHA-256", "alice", "wrong")
        self.assertFalse(bad.ok)
        ok = beep.sasl_login(s, "SCRAM-SHA-256", "alice", USERS["alice"])
        self.assertTrue(ok.ok, ok.text)
        # 537: no rule passes 127.0.0.2 (an implicit block)
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.2", port=echo.port))
        self.assertEqual((t.ok, t.code), (False, 537))
        # 450: passed by the rule, nothing listening
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=free_port()))
        self.assertEqual((t.ok, t.code), (False, 450))
        # established, passed by the rule
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=echo.port))
        self.assertTrue(t.ok, (t.code, t.text))
        t.sock.sendall(b"x" * 5000)
        got = t.leftover + recv_exact(t.sock, 5000 - len(t.leftover))
        self.assertEqual(got, b"x" * 5000)
        # a client that speaks no BEEP: a protocol failure
        g = connect("127.0.0.1", lp)
        g.sendall(b"GET / HTTP/1.0\r\n\r\n")
        self.assertTrue(is_closed(g))
        g.close()
        self.assertTrue(d.wait_log(r"reason=", count=2))

        m = scrape(ap)
        self.assertEqual(metric(m, "beepgate_auth_total", mechanism="SCRAM-SHA-256",
                                result="success"), 1)
        self.assertEqual(metric(m, "beepgate_auth_total", mechanism="SCRAM-SHA-256",
                                result="failure"), 1)
        self.assertEqual(metric(m, "beepgate_tunnel_refusals_total", code="530"), 1)
        self.assertEqual(metric(m, "beepgate_tunnel_refusals_total", code="537"), 1)
        self.assertEqual(metric(m, "beepgate_tunnel_refusals_total", code="450"), 1)
        self.assertEqual(len([k for k in m if k[0] == "beepgate_tunnel_refusals_total"]), 3)
        self.assertEqual(metric(m, "beepgate_tunnels_total"), 1)
        self.assertEqual(metric(m, "beepgate_tunnels_active"), 1)
        self.assertEqual(metric(m, "beepgate_tunnel_setup_seconds_count"), 1)
        self.assertEqual(metric(m, "beepgate_tunnel_setup_seconds_bucket", le="+Inf"), 1)
        self.assertEqual(metric(m, "beepgate_tunnel_setup_seconds_bucket", le="5"), 1)
        self.assertGreater(metric(m, "beepgate_tunnel_setup_seconds_sum"), 0)
        # the rule's label is its file (escaped in the exposition) and line
        self.assertEqual(metric(m, "beepgate_policy_decisions_total", rule="%s:1" % rules,
                                decision="pass"), 2)
        self.assertEqual(len([k for k in m if k[0] == "beepgate_policy_decisions_total"]), 1)
        self.assertEqual(metric(m, "beepgate_policy_implicit_blocks_total",
                                reason="no rule matched"), 1)
        self.assertEqual(metric(m, "beepgate_sessions", state="pumping"), 1)
        fails = {dict(k[1])["reason"]: v for k, v in m.items()
                 if k[0] == "beepgate_beep_failures_total"}
        self.assertEqual(len(fails), 16, fails)
        self.assertEqual((fails["frame"], fails["greeting"]), (1, 0), fails)
        status, _, raw = http_get(ap, "/metrics")
        self.assertIn('rule="%s:1"' % rules.replace("\\", "\\\\").replace('"', '\\"'), raw)

        t.sock.close()
        s.close()
        self.assertTrue(d.wait_log(r"reason=", count=4), d.log()[-3000:])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = scrape(ap)
            if metric(m, "beepgate_tunnels_active") == 0:
                break
            time.sleep(0.1)
        self.assertEqual(metric(m, "beepgate_tunnels_active"), 0)
        self.assertEqual(metric(m, "beepgate_tunnels_total"), 1)
        self.assertGreaterEqual(metric(m, "beepgate_bytes_total", direction="c2s"), 5000)
        self.finish(d)
        os.unlink(rules)
        os.rmdir(tmp)


if __name__ == "__main__":
    from integration.harness import main
    main()
