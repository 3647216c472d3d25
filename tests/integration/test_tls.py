"""TLS-wrapped listeners and routes (implicit TLS before BEEP): client
certificates and SASL EXTERNAL, PLAIN only over TLS, a tunnel's data over a
TLS client connection, next-hop certificate names, and the checks of
beepgated -n.  Certificates are made at run time with the openssl CLI."""
import hashlib
import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

from integration.harness import Backend, check_config, free_port, pseudo_random, sha256
from integration.tunnel_env import REALM, USERS, RelayTestCase, secret_file
from peers import beep
from peers.beep import Tunnel

TIMEOUTS = "timeouts { handshake 10s connect 3s idle 60s fin 10s hard-stop 5s }\n"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True,
                   timeout=60)


def make_ca(d, name):
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + name, cwd=d)
    return crt, key


def make_cert(d, ca, name, cn, san=None):
    ca_crt, ca_key = ca
    key, csr, crt = (os.path.join(d, name + ext) for ext in (".key", ".csr", ".pem"))
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % (san or "DNS:" + cn))
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=" + cn, cwd=d)
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
            "-out", crt, "-days", "2", "-extfile", ext, cwd=d)
    os.chmod(key, 0o600)
    return crt, key


def mechs(sess):
    return sorted(u[len(beep.SASL_URI):] for u in sess.peer_greeting.profiles
                  if u.startswith(beep.SASL_URI))


def external_login(sess):
    """SASL EXTERNAL with an empty authorization identity: (ok, code)."""
    r = sess.start_channel([(beep.SASL_URI + "EXTERNAL", beep.blob_xml(b""), None)])
    if not r.ok:
        return False, r.code
    try:
        status, _ = beep._sasl_reply(r.content)
        if status == "continue":
            # an empty challenge: answer with the (empty) identity again
            status, _ = beep._sasl_reply(r.channel and sess.request(
                r.channel, sess.xml_payload(beep.blob_xml(b""))))
    except beep.ErrorReply as e:
        return False, e.code
    return status == "complete", status


class TlsTest(RelayTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pki = tempfile.mkdtemp(prefix="beepgate-tls-")
        d = cls.pki
        cls.ca = make_ca(d, "ca")
        cls.other_ca = make_ca(d, "other-ca")
        cls.server = make_cert(d, cls.ca, "server", "localhost", "DNS:localhost,IP:127.0.0.1")
        cls.wrong_name = make_cert(d, cls.ca, "wrong", "other.test")
        cls.alice = make_cert(d, cls.ca, "alice", "alice")
        cls.mallory = make_cert(d, cls.other_ca, "mallory", "alice")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)
        super().tearDownClass()

    def tls_relay(self, rules, listeners, profiles, extra="", name="relay",
                  mechanisms="SCRAM-SHA-256 PLAIN EXTERNAL"):
        """listeners: {key: 'tls "name"' or ''}; returns (daemon, {key: port})."""
        ports = {k: free_port() for k in listeners}
        conf = (TIMEOUTS +
                'sasl {\n database "%s"\n realm "%s"\n mechanisms %s\n max-failures 3\n}\n'
                % (self.db, REALM, mechanisms) + profiles + extra +
                "".join("listen on 127.0.0.1 port %d tunnel %s\n" % (ports[k], v)
                        for k, v in listeners.items()) + rules)
        return self.daemon(conf, name=name), ports

    def front_profiles(self):
        ca = self.ca[0]
        crt, key = self.server
        return ('tls "opt" {\n certificate "%s"\n key "%s"\n ca "%s"\n verify-client\n}\n'
                'tls "req" {\n certificate "%s"\n key "%s"\n ca "%s"\n verify-client require\n}\n'
                % (crt, key, ca, crt, key, ca))

    def client_ctx(self, cert=None):
        ctx = ssl.create_default_context(cafile=self.ca[0])
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert:
            ctx.load_cert_chain(*cert)
        return ctx

    def tls_session(self, port, cert=None, **kw):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        s = self.client_ctx(cert).wrap_socket(raw, server_hostname="localhost")
        return beep.Session(s, "initiator", timeout=10, **kw)

    def test_listener_certificates_external_and_plain(self):
        d, p = self.tls_relay('pass from cert "alice" to 127.0.0.0/8 port 1-65535\n',
                              {"opt": 'tls "opt"', "req": 'tls "req"', "plain": ""},
                              self.front_profiles())
        # a verified client certificate: EXTERNAL offered and it succeeds
        s = self.tls_session(p["opt"], cert=self.alice)
        s.wait_greeting()
        self.assertEqual(mechs(s), ["EXTERNAL", "PLAIN", "SCRAM-SHA-256"])
        ok, why = external_login(s)
        self.assertTrue(ok, why)
        self.assertTrue(d.wait_log(r"tls TLSv1\.[23] \S+ cert=alice"))
        self.assertTrue(d.wait_log(r"auth session=\w+ .*user=alice mech=EXTERNAL ok"))
        # the certificate identity is what `from cert` matches
        echo = self.keep(Backend(mode="echo"))
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=echo.port))
        self.assertTrue(t.ok, (t.code, t.text))
        t.sock.sendall(b"ping over tls")
        got = t.leftover
        while len(got) < 13:
            got += t.sock.recv(64)
        self.assertEqual(got, b"ping over tls")
        t.sock.close()

        # no certificate on the optional listener: no EXTERNAL; PLAIN works over TLS
        s = self.tls_session(p["opt"])
        s.wait_greeting()
        self.assertEqual(mechs(s), ["PLAIN", "SCRAM-SHA-256"])
        ok, code = external_login(s)
        self.assertFalse(ok)
        r = beep.sasl_login(s, "PLAIN", "bob", USERS["bob"])
        self.assertTrue(r.ok, (r.code, r.text))
        self.assertTrue(d.wait_log(r"auth session=\w+ .*user=bob mech=PLAIN ok"))
        s.close()

        # a plain listener offers neither PLAIN nor EXTERNAL
        s = beep.open_session("127.0.0.1", p["plain"], timeout=10)
        self.assertEqual(mechs(s), ["SCRAM-SHA-256"])
        r = beep.sasl_login(s, "PLAIN", "bob", USERS["bob"])
        self.assertFalse(r.ok)
        s.close()

        # `require`: no certificate, no session
        with self.assertRaises((ssl.SSLError, beep.ConnectionClosed, ConnectionError)):
            s = self.tls_session(p["req"])
            s.wait_greeting()
        self.assertTrue(d.wait_log(r"reason=\"TLS handshake: .*certificate", timeout=10))

        # a certificate from another CA: refused even where it is optional
        n = d.count_log(r"certificate verify failed")
        with self.assertRaises((ssl.SSLError, beep.ConnectionClosed, ConnectionError)):
            s = self.tls_session(p["opt"], cert=self.mallory)
            s.wait_greeting()
        self.assertTrue(d.wait_log(r"certificate verify failed", count=n + 1))
        self.assertFalse(re.search(r"user=alice mech=EXTERNAL ok.*\n(.*\n)*.*user=alice mech="
                                   r"EXTERNAL ok", d.log()))
        self.finish(d)

    def test_tunnel_data_over_tls_listener(self):
        n_up, n_down = 4 << 20, 3 << 20
        b = self.keep(Backend(mode="stream", send_bytes=n_down, seed=5))
        d, p = self.tls_relay('pass from user "alice" to 127.0.0.0/8 port 1-65535\n',
                              {"opt": 'tls "opt"'}, self.front_profiles())
        s = self.tls_session(p["opt"])
        s.wait_greeting()
        r = beep.sasl_login(s, "SCRAM-SHA-256", "alice", USERS["alice"])
        self.assertTrue(r.ok, (r.code, r.text))
        t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=b.port))
        self.assertTrue(t.ok, (t.code, t.text))
        sock = t.sock
        data = pseudo_random(n_up, 9)
        got = hashlib.sha256(t.leftover)
        total = [len(t.leftover)]
        # one thread: an SSL object must not be read and written at once
        sock.setblocking(False)
        sent, eof, deadline = 0, False, time.monotonic() + 60
        while (sent < n_up or not eof) and time.monotonic() < deadline:
            select.select([sock], [sock] if sent < n_up else [], [], 1.0)
            while not eof:
                try:
                    c = sock.recv(1 << 16)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    break
                if not c:
                    eof = True
                    break
                got.update(c)
                total[0] += len(c)
            if sent < n_up:
                try:
                    sent += sock.send(data[sent:sent + (1 << 16)])
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
        sock.setblocking(True)
        self.assertEqual(sent, n_up)
        # the destination's end reached us (a half-close: we still sent)
        self.assertEqual(total[0], n_down)
        self.assertEqual(got.hexdigest(), b.sent_sha)
        sock.close()
        for _ in range(200):
            if b.results:
                break
            time.sleep(0.05)
        self.assertEqual(b.results, [(sha256(data), n_up)])
        self.assertTrue(d.wait_log(r"user=alice dst=\S+ in=%d out=%d " % (n_up, n_down)))
        self.finish(d)

    def test_tls_route_names(self):
        """Relay A reaches relay B over TLS: B's certificate must carry the
        name A expects (verify-name, or the route's host)."""
        b_listen = ('tls "b" {\n certificate "%s"\n key "%s"\n}\n' % self.server)
        b, bp = self.tls_relay('pass from user "relayA" to 127.0.0.0/8 port 1-65535\n',
                               {"tls": 'tls "b"'}, b_listen, name="B")
        echo = self.keep(Backend(mode="echo"))
        sec = secret_file(self.sdir, "relayA.secret", USERS["relayA"])
        ca = self.ca[0]
        routes = ('tls "good" {\n ca "%s"\n verify-name "localhost"\n}\n'
                  'tls "bad" {\n ca "%s"\n verify-name "wrong.test"\n}\n'
                  'tls "byhost" {\n ca "%s"\n}\n' % (ca, ca, ca))
        for r in ("good", "bad", "byhost"):
            routes += ('route "%s" { connect 127.0.0.1 port %d user "relayA" secret "%s" '
                       'tls "%s" }\nservice "echo-%s" { via "%s" to host "127.0.0.1" port %d '
                       'endpoint }\n' % (r, bp["tls"], sec, r, r, r, echo.port))
        a, ap = self.tls_relay('pass from user "alice" to service "*"\n', {"plain": ""}, "",
                               extra=routes, name="A")
        for svc, ok in (("echo-good", True), ("echo-bad", False), ("echo-byhost", True)):
            s = beep.open_session("127.0.0.1", ap["plain"], timeout=10)
            r = beep.sasl_login(s, "SCRAM-SHA-256", "alice", USERS["alice"])
            self.assertTrue(r.ok, (r.code, r.text))
            t = beep.tunnel_start(s, Tunnel(endpoint=svc))
            if not ok:
                self.assertFalse(t.ok)
                self.assertEqual(t.code, 450, t.text)
                s.close()
                continue
            self.assertTrue(t.ok, (svc, t.code, t.text))
            t.sock.sendall(b"via tls route")
            got = t.leftover
            while len(got) < 13:
                got += t.sock.recv(64)
            self.assertEqual(got, b"via tls route")
            t.sock.close()
        self.assertTrue(a.wait_log(r"tls to \S+: TLS handshake: certificate verify failed"))
        self.assertEqual(b.count_log(r"user=relayA mech=SCRAM-SHA-256 ok"), 2)
        self.finish(a)
        self.finish(b)

    def test_tcpmux_over_tls(self):
        """A TLS-wrapped TCPMUX door: the name, the "+" and the service's
        bytes all inside TLS; a plaintext client gets nothing."""
        echo = self.keep(Backend(mode="echo"))
        port = free_port()
        conf = (TIMEOUTS + 'tls "t" {\n certificate "%s"\n key "%s"\n}\n' % self.server +
                'service "echo" {\n connect 127.0.0.1 port %d\n tcpmux\n}\n' % echo.port +
                'pass from source 127.0.0.0/8 to tcpmux "echo"\n' +
                'listen on 127.0.0.1 port %d tcpmux tls "t"\n' % port)
        d = self.daemon(conf)
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        s = self.client_ctx().wrap_socket(raw, server_hostname="localhost")
        s.sendall(b"echo\r\nfirst bytes")
        want = b"+\r\nfirst bytes"
        got = b""
        while len(got) < len(want):
            c = s.recv(64)
            if not c:
                break
            got += c
        self.assertEqual(got, want)
        big = pseudo_random(1 << 20, 3)
        s.sendall(big)
        got = b""
        while len(got) < len(big):
            c = s.recv(1 << 16)
            if not c:
                break
            got += c
        self.assertEqual(sha256(got), sha256(big))
        s.close()
        # a client speaking plaintext is not a TLS client: no "+" or "-" for it
        p = socket.create_connection(("127.0.0.1", port), timeout=10)
        p.sendall(b"echo\r\n")
        p.settimeout(10)
        try:
            answer = p.recv(64)
        except OSError:
            answer = b""
        self.assertNotIn(b"+", answer[:1])
        p.close()
        self.assertTrue(d.wait_log(r'reason="TLS handshake'))
        self.finish(d)

    def test_check_refuses_bad_keys(self):
        crt, key = self.server
        d = tempfile.mkdtemp(prefix="beepgate-tls-n-")
        try:
            open_key = os.path.join(d, "open.key")
            shutil.copy(key, open_key)
            os.chmod(open_key, 0o644)
            other_key = self.alice[1]
            good = 'tls "t" {\n certificate "%s"\n key "%s"\n}\n' % (crt, key)
            listen = "listen on 127.0.0.1 port %d forward to 127.0.0.1 port 9 tls \"t\"\n" % \
                free_port()
            rc, out, path = check_config(good + listen)
            self.assertEqual(rc, 0, out)
            rc, out, path = check_config(good.replace(key, open_key) + listen)
            self.assertEqual(rc, 1, out)
            self.assertRegex(out, re.escape(path) + r":5: key file .* is readable by group "
                             r"or others \(chmod 600\)")
            rc, out, path = check_config(good.replace(key, other_key) + listen)
            self.assertEqual(rc, 1, out)
            self.assertRegex(out, re.escape(path) + r':3: tls profile "t": the key \S+ does not '
                             r"match the certificate")
            rc, out, path = check_config(
                'tls "t" {\n certificate "%s"\n key "%s"\n verify-client\n}\n' % (crt, key) +
                listen)
            self.assertEqual(rc, 1, out)
            self.assertIn('tls profile "t": verify-client needs a ca file', out)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    from integration.harness import main
    main()
