"""Open-relay probing: an authenticated user asks for tunnels to loopback,
link-local (169.254.169.254), unspecified, multicast and broadcast targets
and to the relay's own port, in every numeric spelling (127.1, 2130706433,
0x7f000001, 0177.0.0.1, IPv4-mapped and -compatible IPv6, ...), as ip4, ip6
and fqdn, plus endpoints and profiles that do not exist, under (a) an empty
policy and (b) a restrictive one that allows only an unrelated CIDR.

Every request must be refused, the sentinel listeners on the targeted
ports (bound to every local address, IPv4 and IPv6) must record zero
connections, the log must show no pass decision, and the relay must never
accept a connection from itself."""
import socket
import threading
import time

from integration.harness import free_port
from integration.tunnel_env import REALM, USERS, cleanup, make_sasldb
from peers import beep
from peers.beep import Tunnel
from reliability.relutil import Daemon, check, figure, finish, size, start_watchdog

REQUESTS = size(300, 1000)

start_watchdog(size(85, 900))


class Sentinel:
    """Counts connections to one port on every local IPv4 and IPv6 address."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("::", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.peers = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, a = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self.peers.append(a)
            c.close()

    def close(self):
        self.sock.close()


IP4 = ["127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1",
       "0177.0000.0000.0001", "127.000.000.001", "127.0.0.1.", " 127.0.0.1", "127.0.0.1 ",
       "127.255.255.254", "127.0.0.2", "127.1.2.3", "017700000001", "0.0.0.0", "0", "0x0",
       "169.254.169.254", "169.254.0.1", "0xa9fea9fe", "2852039166", "224.0.0.1",
       "239.255.255.250", "255.255.255.255", "::ffff:127.0.0.1"]
FQDN = ["localhost", "localhost.", "LOCALHOST", "localhost.localdomain", "ip6-localhost",
        "127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "::1", "[::1]",
        "169.254.169.254", "0.0.0.0", "0", "metadata.google.internal", "255.255.255.255"]
IP6 = ["::1", "0:0:0:0:0:0:0:1", "::0001", "0000:0000:0000:0000:0000:0000:0000:0001",
       "::ffff:127.0.0.1", "::ffff:7f00:1", "::FFFF:127.1.2.3", "::127.0.0.1", "::7f00:1",
       "64:ff9b::7f00:1", "fe80::1", "fe80::1%lo", "ff02::1", "::", "::ffff:169.254.169.254",
       "::ffff:a9fe:a9fe", "::ffff:0.0.0.0", "::ffff:255.255.255.255", "[::1]"]


def requests(n, sentinels, relay_port):
    ports = [str(s.port) for s in sentinels] + [str(relay_port), "0%d" % sentinels[0].port,
                                                "80"]
    base = []
    for p in ports:
        base += [("ip4 %s:%s" % (h, p), Tunnel(ip4=h, port=p)) for h in IP4]
        base += [("fqdn %s:%s" % (h, p), Tunnel(fqdn=h, port=p)) for h in FQDN]
        base += [("ip6 %s:%s" % (h, p), Tunnel(ip6=h, port=p)) for h in IP6]
    base += [("endpoint %s" % e, Tunnel(endpoint=e))
             for e in ("echo", "localhost", "127.0.0.1:%s" % ports[0], "*", "")]
    base += [("profile %s" % p, Tunnel(profile=p))
             for p in (beep.TUNNEL_URI, "http://beepgate.test/ECHO", "http://127.0.0.1:%s/" % ports[0])]
    base += [("srv %s" % s, Tunnel(srv=s)) for s in ("_beep._tcp.localhost", "_x._tcp.127.0.0.1")]
    base += [("empty", Tunnel())]
    out = []
    i = 0
    while len(out) < n:
        label, el = base[i % len(base)]
        rnd = i // len(base)
        if rnd % 3 == 1:       # BEEP final behind it
            el = Tunnel(**{k: v for k, v in el.attrs.items() if v is not None}, inner=Tunnel())
            label += " +inner"
        elif rnd % 3 == 2:     # a chain back into loopback
            el = Tunnel(**{k: v for k, v in el.attrs.items() if v is not None},
                        inner=Tunnel(ip4="127.0.0.1", port=ports[0]))
            label += " +inner loopback"
        out.append((label, el))
        i += 1
    return out


def probe(tag, db, rules, sentinels):
    port = free_port()
    conf = ("limits { connection-rate off }\n"
            "timeouts { handshake 60s connect 3s idle 60s fin 10s hard-stop 5s }\n"
            'sasl {\n  database "%s"\n  realm "%s"\n}\n' % (db, REALM) +
            "listen on 127.0.0.1 port %d tunnel\n" % port +
            "listen on ::1 port %d tunnel\n" % port + rules)
    d = Daemon(conf, name="openrelay", verbose=True)
    reqs = requests(REQUESTS, sentinels, port)
    before = [s.connections for s in sentinels]
    sess, sessions = None, 0
    granted, codes, errors = [], {}, []
    for label, el in reqs:
        for _ in range(2):
            try:
                if sess is None:
                    sess = beep.open_session("127.0.0.1", port, timeout=10)
                    sessions += 1
                    r = beep.sasl_login(sess, "SCRAM-SHA-256", "alice", USERS["alice"])
                    if not r.ok:
                        raise RuntimeError("login failed: %s %s" % (r.code, r.text))
                t = beep.tunnel_start(sess, el)
                break
            except (beep.ConnectionClosed, beep.ProtocolError, OSError) as e:
                errors.append("%s: %r" % (label, e))
                if sess is not None:
                    sess.close()
                sess = None
        else:
            raise RuntimeError("relay unreachable: %s\n%s" % (errors[-2:], d.log()[-2000:]))
        if t.ok:
            granted.append(label)
            t.sock.close()
            sess = None
        else:
            codes[t.code] = codes.get(t.code, 0) + 1
    if sess is not None:
        sess.close()
    hits = sum(s.connections for s in sentinels) - sum(before)
    code_text = ", ".join("%s x%d" % (c, n) for c, n in sorted(codes.items(), key=str))
    figure("openrelay-%s-refused" % tag,
           "%d/%d requests refused (%s)%s" % (len(reqs) - len(granted), len(reqs), code_text,
                                              ("; GRANTED: " + "; ".join(granted[:5])) if granted else ""),
           "100%", not granted)
    figure("openrelay-%s-sentinels" % tag,
           "%d connections at %d sentinel listeners" % (hits, len(sentinels)),
           "0", hits == 0)
    passed = d.count_log(r"decision=pass|outcome=ok|-> (next-hop|pumping)")
    accepted = d.count_log(r"accepted on port")
    check("openrelay-%s-no-connect" % tag, passed == 0 and accepted == sessions,
          "%d pass decisions/tunnels in the log; the relay accepted %d sessions, we opened %d"
          % (passed, accepted, sessions))
    if errors:
        print("sessions the relay closed: %d (first: %s)" % (len(errors), errors[0]))
    return d


def main():
    sdir, db = make_sasldb()
    sentinels = [Sentinel(), Sentinel()]
    da = probe("empty", db, "", sentinels)
    db_ = probe("restrictive", db, 'pass from user "alice" to 192.0.2.0/24 port 1-65535\n',
                sentinels)
    # control: the sentinels do see connections, over IPv4 and IPv6
    for s in sentinels:
        for host in ("127.0.0.1", "::1"):
            socket.create_connection((host, s.port), timeout=5).close()
    deadline = time.monotonic() + 5
    while any(s.connections < 2 for s in sentinels) and time.monotonic() < deadline:
        time.sleep(0.05)
    check("openrelay-sentinel-control", all(s.connections == 2 for s in sentinels),
          "direct connections counted by the sentinels: %s"
          % [s.connections for s in sentinels])
    for s in sentinels:
        s.close()
    cleanup(sdir)
    finish([da, db_])


if __name__ == "__main__":
    main()
