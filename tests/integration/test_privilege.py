"""Privilege (docs/reliability.md, scenario 10): started as root with
`user "nobody"`, beepgated runs as nobody with no capabilities and
no_new_privs set, and still serves SCRAM + TUNNEL (the user database is
readable by its group); files with secrets that others may read are
refused with file:line, by `beepgated -n` and at start.

Needs root (to start as root and to chown test files): run by CI as root."""
import grp
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import unittest

from integration.harness import BEEPGATED, Backend, Daemon, check_config, free_port, main, sha256
from integration.tunnel_env import REALM, USERS, cleanup, make_sasldb, secret_file
from peers import beep
from peers.beep import Tunnel

NOBODY = pwd.getpwnam("nobody")
NOGROUP = grp.getgrgid(NOBODY.pw_gid)
USER_LINE = 'user "nobody"\n'


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def db_for_nobody(mode=0o640, uid=0, gid=None):
    """A sasldb in a directory nobody may traverse, owned uid:gid (default
    root:<nobody's group>)."""
    sdir, db = make_sasldb()
    os.chmod(sdir, 0o711)
    os.chown(db, uid, NOBODY.pw_gid if gid is None else gid)
    os.chmod(db, mode)
    return sdir, db


class PrivilegeTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.fail("test_privilege must run as root (it checks the drop from root)")
        self.tmp = []

    def tearDown(self):
        for d in self.tmp:
            cleanup(d)

    def test_runs_unprivileged_and_serves(self):
        sdir, db = db_for_nobody()
        self.tmp.append(sdir)
        echo = Backend("echo")
        port = free_port()
        conf = ('sasl {\n  database "%s"\n  realm "%s"\n}\n' % (db, REALM) +
                "listen on 127.0.0.1 port %d tunnel\n" % port +
                'pass from user "alice" to 127.0.0.1 port %d\n' % echo.port)
        d = Daemon(conf, name="privilege", user_line=USER_LINE)
        try:
            st = proc_status(d.proc.pid)
            ids = "%d\t%d\t%d\t%d" % ((NOBODY.pw_uid,) * 4)
            gids = "%d\t%d\t%d\t%d" % ((NOBODY.pw_gid,) * 4)
            print("status: Uid %s Gid %s Groups %r CapPrm %s CapEff %s CapAmb %s NoNewPrivs %s"
                  % (st["Uid"], st["Gid"], st["Groups"], st["CapPrm"], st["CapEff"],
                     st.get("CapAmb"), st["NoNewPrivs"]))
            self.assertEqual(st["Uid"], ids)
            self.assertEqual(st["Gid"], gids)
            self.assertEqual(st["Groups"], str(NOBODY.pw_gid))
            self.assertEqual(int(st["CapPrm"], 16), 0)
            self.assertEqual(int(st["CapEff"], 16), 0)
            self.assertEqual(int(st["CapAmb"], 16), 0)
            self.assertEqual(st["NoNewPrivs"], "1")
            self.assertRegex(d.log(), r"started \(pid \d+, configuration generation \d+, uid %d\)"
                             % NOBODY.pw_uid)
            # still works: SCRAM against the group-readable database, a tunnel, bytes
            s = beep.open_session("127.0.0.1", port, timeout=10)
            r = beep.sasl_login(s, "SCRAM-SHA-256", "alice", USERS["alice"])
            self.assertTrue(r.ok, "SASL as nobody: %s %s" % (r.code, r.text))
            t = beep.tunnel_start(s, Tunnel(ip4="127.0.0.1", port=echo.port))
            self.assertTrue(t.ok, repr(t))
            payload = os.urandom(100000)
            t.sock.sendall(payload)
            got = bytearray(t.leftover)
            t.sock.settimeout(10)
            while len(got) < len(payload):
                chunk = t.sock.recv(65536)
                if not chunk:
                    break
                got += chunk
            t.sock.close()
            self.assertEqual(sha256(bytes(got)), sha256(payload))
        finally:
            echo.close()
        d.close_clean(self)

    def test_secret_files_refused_by_check(self):
        """beepgated -n: each kind of secret file, readable by group or
        others, is refused with file:line; the private forms pass."""
        d = tempfile.mkdtemp(prefix="beepgate-priv-")
        self.tmp.append(d)
        os.chmod(d, 0o711)
        ok_secret = secret_file(d, "ok.secret", "s3cret")
        open_secret = secret_file(d, "open.secret", "s3cret")
        os.chmod(open_secret, 0o640)
        key = os.path.join(d, "relay.key")
        with open(key, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\n")
        os.chmod(key, 0o644)
        sdir, db = db_for_nobody(mode=0o644)
        self.tmp.append(sdir)
        cases = [
            # (config after the user line, line of the error, message regex)
            ('route "r" { connect 192.0.2.1 port 604 user "u" secret "%s" }\n' % open_secret,
             1, r"secret file %s is readable by group or others \(chmod 600\)"
             % re.escape(open_secret)),
            ('tls "t" {\n certificate "%s"\n key "%s"\n}\n' % (ok_secret, key),
             3, r"key file %s is readable by group or others \(chmod 600\)" % re.escape(key)),
            ('sasl {\n realm "x"\n database "%s"\n}\n' % db,
             3, r"SASL user database %s is accessible by others \(mode 0644" % re.escape(db)),
        ]
        for text, line, rx in cases:
            rc, out, path = check_config(text, user_line=USER_LINE)
            print("-n:", out.strip().splitlines()[0] if out.strip() else "(nothing)")
            self.assertEqual(rc, 1, out)
            # line numbers count the user line
            self.assertRegex(out, re.escape(path) + ":%d: " % (line + 1) + rx)
            self.assertNotIn("s3cret", out)
        # group-readable by a foreign group: refused; by the daemon's group: fine
        os.chmod(db, 0o640)
        os.chown(db, 0, 12345)
        rc, out, path = check_config('sasl { database "%s" }\n' % db, user_line=USER_LINE)
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, re.escape(path) + r":2: SASL user database .* is readable by "
                         r"group 12345 \(mode 0640")
        os.chown(db, 0, NOBODY.pw_gid)
        rc, out, _ = check_config(
            'sasl { database "%s" }\nroute "r" { connect 192.0.2.1 port 604 user "u" '
            'secret "%s" }\n' % (db, ok_secret), user_line=USER_LINE)
        self.assertEqual(rc, 0, out)

    def test_open_database_refused_at_start(self):
        """A world-readable user database stops the start (exit 1, file:line)
        before any listener serves."""
        sdir, db = db_for_nobody(mode=0o604)
        self.tmp.append(sdir)
        d = tempfile.mkdtemp(prefix="beepgate-priv-")
        self.tmp.append(d)
        conf = os.path.join(d, "b.conf")
        port = free_port()
        with open(conf, "w") as f:
            f.write(USER_LINE + 'sasl {\n database "%s"\n}\n' % db +
                    "listen on 127.0.0.1 port %d tunnel\n" % port)
        r = subprocess.run([BEEPGATED, "-d", "-f", conf], capture_output=True, timeout=30)
        out = (r.stdout + r.stderr).decode("utf-8", "replace")
        print("start:", out.strip().splitlines()[0] if out.strip() else "(nothing)")
        self.assertEqual(r.returncode, 1, out)
        self.assertRegex(out, re.escape(conf) + r":3: SASL user database %s is accessible by "
                         r"others \(mode 0604" % re.escape(db))
        self.assertNotIn("started", out)


if __name__ == "__main__":
    main()
