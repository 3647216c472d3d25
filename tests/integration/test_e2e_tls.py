"""End-to-end TLS through two relays (RFC 3620 sec. 1, RFC 4767 sec. 11):
after the TUNNEL <ok/>, the client and the final BEEP peer negotiate the BEEP
TLS profile (RFC 3080 sec. 3.1) with mutual certificate verification and
exchange data.  A recording hop between relay A and relay B keeps every
octet that crossed; the plaintext marker must appear in neither direction
of it nor in either relay's (verbose) log."""
import os
import shutil
import ssl
import tempfile

from integration.harness import sha256
from integration.tlsutil import Recorder, make_pki
from integration.tunnel_env import ECHO, LOOP, USERS, RelayTestCase, secret_file
from peers import beep
from peers.beep import EchoProfile, TlsProfile, TunnelResponder

MARKER = b"IDMEF-PLAINTEXT-MARKER-7f3a"


class EndToEndTlsTest(RelayTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pki = tempfile.mkdtemp(prefix="beepgate-pki-")
        cls.ca, cls.certs = make_pki(cls.pki)
        cls.other_ca, cls.other = make_pki(cls.pki, "other-", ("analyzer.test",))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)
        super().tearDownClass()

    def server_ctx(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(*self.certs["final.test"])
        ctx.load_verify_locations(self.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED            # mutual verification
        return ctx

    def client_ctx(self, cert):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(self.ca)
        ctx.load_cert_chain(*cert)
        return ctx

    def chain(self):
        """final <- relay B <- recorder <- relay A; returns (a, b, rec, tls profile, fin)."""
        tls = TlsProfile(self.server_ctx(), {ECHO: EchoProfile})
        fin = self.keep(beep.BeepServer({beep.TUNNEL_URI: TunnelResponder(new_profiles=[beep.TLS_URI]),
                                         beep.TLS_URI: tls},
                                        greeting_profiles=[beep.TUNNEL_URI]))
        b = self.relay(rules="pass from user \"relayA\" to 127.0.0.0/8 port 1-65535\n", name="B")
        rec = self.keep(Recorder(b.port))
        sec = secret_file(self.sdir, "relayA.secret", USERS["relayA"])
        a = self.relay(rules=LOOP, name="A",
                       extra='route "to-b" { connect 127.0.0.1 port %d user "relayA" secret "%s" }\n'
                       % (rec.port, sec))
        return a, b, rec, tls, fin

    def open_e2e(self, a, rec, fin):
        s = beep.open_session("127.0.0.1", a.port, timeout=10)
        r = beep.sasl_login(s, "SCRAM-SHA-256", "alice", USERS["alice"])
        self.assertTrue(r.ok, (r.code, r.text))
        t = beep.tunnel_start(s, beep.tunnel_chain({"ip4": "127.0.0.1", "port": rec.port},
                                                   {"ip4": "127.0.0.1", "port": fin.port}))
        self.assertTrue(t.ok, (t.code, t.text))
        e2e = beep.continue_session(t)
        e2e.wait_greeting()
        self.assertEqual(e2e.peer_greeting.profiles, [beep.TLS_URI])
        return e2e

    def test_plaintext_never_crosses_the_relays(self):
        a, b, rec, tls, fin = self.chain()
        e2e = self.open_e2e(a, rec, fin)
        s2 = beep.tls_start(e2e, self.client_ctx(self.certs["analyzer.test"]), "final.test")
        # both ends verified each other
        self.assertIn((("commonName", "final.test"),), s2.sock.getpeercert()["subject"])
        self.assertEqual(s2.peer_greeting.profiles, [ECHO])
        st = s2.start_channel([ECHO])
        self.assertTrue(st.ok)
        data = (MARKER + os.urandom(1000)) * 256
        self.assertEqual(sha256(s2.request(st.channel, data).payload), sha256(data))
        self.assertEqual(len(tls.sessions), 1)
        peer = tls.sessions[0].sock.getpeercert()
        self.assertIn((("commonName", "analyzer.test"),), peer["subject"])
        s2.close()
        # what crossed between the relays: the BEEP set-up, then only TLS
        with rec.lock:
            up, down = bytes(rec.up), bytes(rec.down)
        self.assertGreater(len(up), len(data))
        self.assertGreater(len(down), len(data))
        self.assertNotIn(MARKER, up)
        self.assertNotIn(MARKER, down)
        self.assertIn(b"http://iana.org/beep/TLS", up)      # the visible part: the request
        self.finish(a)
        self.finish(b)
        for d in (a, b):
            self.assertNotIn(MARKER.decode(), d.log())

    def test_client_certificate_from_another_ca_refused(self):
        a, b, rec, tls, fin = self.chain()
        e2e = self.open_e2e(a, rec, fin)
        ctx = self.client_ctx(self.other["analyzer.test"])
        with self.assertRaises((ssl.SSLError, OSError, beep.ConnectionClosed)):
            s2 = beep.tls_start(e2e, ctx, "final.test")
            s2.start_channel([ECHO])
        self.assertEqual(len(tls.sessions), 0)
        self.assertTrue(tls.errors)
        e2e.sock.close()
        self.finish(a)
        self.finish(b)

    def test_wrong_server_name_refused_by_the_client(self):
        a, b, rec, tls, fin = self.chain()
        e2e = self.open_e2e(a, rec, fin)
        with self.assertRaises(ssl.SSLCertVerificationError):
            beep.tls_start(e2e, self.client_ctx(self.certs["analyzer.test"]), "manager.test")
        e2e.sock.close()
        self.finish(a)
        self.finish(b)


if __name__ == "__main__":
    from integration.harness import main
    main()
