"""Shared set-up for TUNNEL/SASL/TCPMUX integration tests: a private sasldb,
relay configurations, and BEEP test peers."""
import os
import shutil
import subprocess
import tempfile

from integration.harness import DaemonTestCase, free_port

SASLPASSWD2 = "/usr/sbin/saslpasswd2"
REALM = "beepgate.test"
USERS = {"alice": "alice-secret-1", "bob": "bob-secret-2", "relayA": "relay-a-secret"}


def make_sasldb(users=USERS):
    d = tempfile.mkdtemp(prefix="beepgate-sasl-")
    db = os.path.join(d, "users.sasldb")
    for user, pw in users.items():
        r = subprocess.run([SASLPASSWD2, "-p", "-c", "-f", db, "-a", "beepgate", "-u", REALM, user],
                           input=pw.encode(), capture_output=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("saslpasswd2 failed: %r" % r.stderr)
    return d, db


def secret_file(dirname, name, secret):
    p = os.path.join(dirname, name)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return p


def relay_conf(port, db, rules, extra="", timeouts="timeouts { handshake 10s connect 3s idle 60s fin 10s hard-stop 5s }\n"):
    return (timeouts +
            'sasl {\n  database "%s"\n  realm "%s"\n  max-failures 3\n}\n' % (db, REALM) +
            extra +
            "listen on 127.0.0.1 port %d tunnel\n" % port + rules)


def cleanup(d):
    shutil.rmtree(d, ignore_errors=True)


ECHO = "http://beepgate.test/ECHO"
LOOP = "pass from user \"alice\" to 127.0.0.0/8 port 1-65535\n"


class RelayTestCase(DaemonTestCase):
    """A private sasldb for the class (cls.db) and relay(): a beepgated with a
    TUNNEL listener on a free port (d.port) using it."""

    @classmethod
    def setUpClass(cls):
        cls.sdir, cls.db = make_sasldb()

    @classmethod
    def tearDownClass(cls):
        cleanup(cls.sdir)

    def relay(self, rules=LOOP, extra="", name="relay"):
        port = free_port()
        d = self.daemon(relay_conf(port, self.db, rules, extra), name=name)
        d.port = port
        return d
