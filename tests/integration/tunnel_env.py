"""Shared set-up for TUNNEL/SASL/TCPMUX integration tests: a private sasldb,
relay configurations, and BEEP test peers."""
import os
import shutil
import subprocess
import tempfile

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
