"""idxp-peer: the IDXP manager and analyzer (RFC 4767), directly and through
real relays, and the README demo (tools/demo.py) as a test."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from integration.harness import BUILD, SRC, free_port
from integration.tlsutil import make_pki
from integration.tunnel_env import USERS, RelayTestCase, secret_file

IDXP_PEER = os.path.join(BUILD, "idxp-peer")


class IdxpTest(RelayTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pki = tempfile.mkdtemp(prefix="beepgate-idxp-")
        cls.ca, cls.certs = make_pki(cls.pki, "", ("manager.test", "analyzer.test"))
        cls.other_ca, cls.other = make_pki(cls.pki, "other-", ("analyzer.test",))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="beepgate-idxp-t-")
        self.spool = os.path.join(self.dir, "spool.jsonl")
        self.mgr = None

    def tearDown(self):
        if self.mgr is not None and self.mgr.poll() is None:
            self.mgr.kill()
            self.mgr.wait(10)
        super().tearDown()
        shutil.rmtree(self.dir, ignore_errors=True)

    def manager(self, *extra, once=True):
        self.mport = free_port()
        cert, key = self.certs["manager.test"]
        args = [IDXP_PEER, "manager", "-l", "127.0.0.1:%d" % self.mport, "--spool", self.spool,
                "--ca", self.ca, "--cert", cert, "--key", key, "-t", "10"] + list(extra)
        if once:
            args.append("--once")
        self.mgr = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.mgr.stdout.readline().decode()
        self.assertIn("listening on", line)

    def manager_done(self):
        """Waits for a --once manager; returns (status, stderr)."""
        try:
            self.mgr.wait(20)
        except subprocess.TimeoutExpired:
            self.mgr.kill()
            self.mgr.wait(10)
        err = self.mgr.stderr.read().decode("utf-8", "replace")
        self.mgr.stdout.close()
        self.mgr.stderr.close()
        self.assertNotIn("Sanitizer", err)
        self.assertNotIn("runtime error:", err)
        return self.mgr.returncode, err

    def analyzer(self, *extra, cert=None, env=None):
        cert, key = cert or self.certs["analyzer.test"]
        args = [IDXP_PEER, "analyzer", "--manager", "127.0.0.1:%d" % self.mport,
                "--manager-name", "manager.test", "--ca", self.ca, "--cert", cert, "--key", key,
                "-t", "10"] + list(extra)
        r = subprocess.run(args, capture_output=True, timeout=60,
                           env=dict(os.environ, **(env or {})))
        out = (r.stdout + r.stderr).decode("utf-8", "replace")
        self.assertNotIn("Sanitizer", out)
        return r.returncode, out

    def stored(self):
        if not os.path.exists(self.spool):
            return []
        with open(self.spool) as f:
            return [json.loads(line) for line in f]

    def test_direct_two_channels(self):
        self.manager()
        rc, out = self.analyzer("-n", "7", "--heartbeats", "3", "--marker", "direct-test",
                                "--uri", "http://analyzer.test/s1")
        self.assertEqual(rc, 0, out)
        self.assertIn("messages sent 10, acknowledged 10, refused 0", out)
        self.assertEqual(self.manager_done()[0], 0)
        msgs = self.stored()
        self.assertEqual(len(msgs), 10)
        alerts = [m for m in msgs if m["stream"] == "alert"]
        beats = [m for m in msgs if m["stream"] == "heartbeat"]
        self.assertEqual(len(alerts), 7)
        self.assertEqual(len(beats), 3)
        self.assertTrue(all(m["priority"] == 1 for m in alerts))
        self.assertTrue(all(m["priority"] == 2 for m in beats))
        self.assertTrue(all("direct-test" in m["body"] for m in alerts))
        self.assertTrue(all(m["peer_cert"] == "analyzer.test" for m in msgs))
        self.assertTrue(all(m["peer_uri"] == "http://analyzer.test/s1" for m in msgs))
        self.assertNotEqual(alerts[0]["channel"], beats[0]["channel"])

    def test_content_types(self):
        plain = os.path.join(self.dir, "note.txt")
        blob = os.path.join(self.dir, "blob.bin")
        with open(plain, "w") as f:
            f.write("a plain text alert\n")
        with open(blob, "wb") as f:
            f.write(bytes(range(256)))
        self.manager()
        rc, out = self.analyzer("-n", "0", "--file", plain, "--content-type", "text/plain")
        self.assertEqual(rc, 0, out)
        self.manager_done()
        self.manager()
        rc, out = self.analyzer("-n", "0", "--file", blob, "--content-type",
                                "application/octet-stream")
        self.assertEqual(rc, 0, out)
        self.manager_done()
        msgs = self.stored()
        self.assertEqual(msgs[0]["content_type"], "text/plain")
        self.assertEqual(msgs[0]["body"], "a plain text alert\n")
        import base64
        self.assertEqual(base64.b64decode(msgs[1]["body_base64"]), bytes(range(256)))

    def test_text_xml_must_be_idmef(self):
        bad = os.path.join(self.dir, "bad.xml")
        with open(bad, "w") as f:
            f.write("<not-idmef/>")
        self.manager()
        rc, out = self.analyzer("-n", "2", "--file", bad)
        self.assertEqual(rc, 6, out)
        self.assertIn("acknowledged 2, refused 1", out)
        self.assertIn("IDMEF-Message", out)
        self.manager_done()
        self.assertEqual(len(self.stored()), 2)

    def test_client_certificate_from_another_ca(self):
        self.manager()
        rc, out = self.analyzer("-n", "1", cert=self.other["analyzer.test"])
        self.assertEqual(rc, 4, out)
        status, err = self.manager_done()
        self.assertEqual(status, 4)
        self.assertIn("TLS handshake", err)
        self.assertEqual(self.stored(), [])

    def test_wrong_manager_name(self):
        self.manager()
        cert, key = self.certs["analyzer.test"]
        r = subprocess.run([IDXP_PEER, "analyzer", "--manager", "127.0.0.1:%d" % self.mport,
                            "--manager-name", "other.test", "--ca", self.ca, "--cert", cert,
                            "--key", key, "-t", "10"], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn(b"peer certificate not accepted", r.stderr)
        self.manager_done()

    def test_must_understand_refused(self):
        self.manager()
        rc, out = self.analyzer("-n", "1", "--must-understand", "fancyCompression")
        self.assertEqual(rc, 5, out)
        self.assertIn("504 'fancyCompression' option was unrecognized", out)
        self.manager_done()

    def test_manager_refuses(self):
        self.manager("--refuse", "530")
        rc, out = self.analyzer("-n", "1")
        self.assertEqual(rc, 5, out)
        self.assertIn("530", out)
        self.manager_done()

    def test_bad_options(self):
        loose = os.path.join(self.dir, "loose.key")
        shutil.copy(self.certs["analyzer.test"][1], loose)
        os.chmod(loose, 0o644)
        cases = [
            (["analyzer", "--manager", "127.0.0.1:1", "--ca", self.ca, "--cert",
              self.certs["analyzer.test"][0], "--key", loose], "readable by group or others"),
            (["analyzer", "--manager", "127.0.0.1:1"], "--ca, --cert and --key"),
            (["analyzer", "--manager", "127.0.0.1:99999"], "bad port"),
            (["analyzer", "--manager", "127.0.0.1:1", "--via", "127.0.0.1:2"], "--via needs --relay"),
            (["analyzer", "--manager", "x:1", "--content-type", "image/png"], "not an IDXP content type"),
            (["manager"], "usage:"),
            (["manager", "--spool", "s", "--refuse", "200"], "--refuse takes"),
            (["observer"], "unknown role"),
        ]
        for args, text in cases:
            r = subprocess.run([IDXP_PEER] + args, capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(text, r.stderr.decode(), args)

    def test_through_relays_wrong_password(self):
        self.manager()
        d = self.relay('pass from user "alice" to 127.0.0.1 port %d\n' % self.mport)
        pw = secret_file(self.dir, "pw", "not-alice-password")
        rc, out = self.analyzer("-n", "1", "--relay", "127.0.0.1:%d" % d.port, "-u", "alice",
                                "--password-file", pw)
        self.assertEqual(rc, 3, out)
        self.assertIn("535", out)
        self.assertNotIn("not-alice-password", out)
        self.mgr.kill()
        self.finish(d)

    def test_through_one_relay(self):
        self.manager()
        d = self.relay('pass from user "alice" to 127.0.0.1 port %d\n' % self.mport)
        rc, out = self.analyzer("-n", "5", "--relay", "127.0.0.1:%d" % d.port, "-u", "alice",
                                "--marker", "one-relay", env={"IDXP_PASSWORD": USERS["alice"]})
        self.assertEqual(rc, 0, out)
        self.assertEqual(self.manager_done()[0], 0)
        self.assertEqual(len(self.stored()), 5)
        self.assertTrue(d.wait_log(r"user=alice dst=127\.0\.0\.1:%d in=\d+ out=\d+" % self.mport))
        self.assertNotIn("one-relay", d.log())
        self.finish(d)

    def test_demo(self):
        """The README's main demo: alerts through relays A and B in end-to-end TLS."""
        r = subprocess.run([sys.executable, "-B", os.path.join(SRC, "tools", "demo.py"), BUILD],
                           capture_output=True, timeout=300, env=dict(os.environ, DEMO_ALERTS="20"))
        out = r.stdout.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, out + r.stderr.decode("utf-8", "replace"))
        self.assertIn("messages sent 23, acknowledged 23, refused 0", out)
        self.assertIn("manager stored 23 messages, 20 of them alerts", out)
        for where in ("relay A log", "relay B log", "A->B traffic", "B->A traffic"):
            self.assertRegex(out, r"alert text in %s\s*: absent" % where)
        self.assertIn("== demo succeeded", out)


if __name__ == "__main__":
    from integration.harness import main
    main()
