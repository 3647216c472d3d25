"""beepgate-passwd: users it sets can log in to a real beepgated with SCRAM,
deleted ones cannot; listing, permissions, the terminal prompt, and every
error with its exit status.  Passwords never appear in any output."""
import os
import pty
import select
import shutil
import stat
import subprocess
import tempfile
import time

from integration.harness import BUILD, DaemonTestCase, free_port
from integration.tunnel_env import REALM, relay_conf
from peers import beep

PASSWD = os.path.join(BUILD, "beepgate-passwd")
PW = "Tr0ub4dor-and-3"


def run(args, stdin=b""):
    r = subprocess.run([PASSWD] + args, input=stdin, capture_output=True, timeout=30)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


class PasswdTest(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="beepgate-passwd-")
        self.db = os.path.join(self.dir, "users.sasldb")
        # the tool's private SASL configuration goes here, to be seen gone
        self.old_tmpdir = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = self.dir

    def tearDown(self):
        super().tearDown()
        if self.old_tmpdir is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = self.old_tmpdir
        shutil.rmtree(self.dir, ignore_errors=True)

    def set_pw(self, user, pw, realm=REALM):
        rc, out = run(["-p", "-f", self.db, "-r", realm, user], (pw + "\n").encode())
        self.assertEqual(rc, 0, out)
        self.assertNotIn(pw, out)

    def login(self, d, user, pw):
        s = beep.open_session("127.0.0.1", d.port, timeout=10)
        r = beep.sasl_login(s, "SCRAM-SHA-256", user, pw)
        s.close()
        return r.ok

    def relay(self):
        port = free_port()
        d = self.daemon(relay_conf(port, self.db, ""))
        d.port = port
        return d

    def test_users_log_in_and_deleted_ones_cannot(self):
        self.set_pw("alice", PW)
        self.set_pw("bob", "bob-pw-2")
        st = os.stat(self.db)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        rc, out = run(["-l", "-f", self.db])
        self.assertEqual(rc, 0, out)
        self.assertEqual(sorted(out.split()), ["alice@" + REALM, "bob@" + REALM])
        d = self.relay()
        self.assertTrue(self.login(d, "alice", PW))
        self.assertFalse(self.login(d, "alice", PW + "x"))
        self.assertTrue(self.login(d, "bob", "bob-pw-2"))
        # a changed password applies to new logins at once
        self.set_pw("bob", "bob-pw-3")
        self.assertFalse(self.login(d, "bob", "bob-pw-2"))
        self.assertTrue(self.login(d, "bob", "bob-pw-3"))
        rc, out = run(["-d", "-f", self.db, "-r", REALM, "bob"])
        self.assertEqual(rc, 0, out)
        self.assertFalse(self.login(d, "bob", "bob-pw-3"))
        self.assertTrue(self.login(d, "alice", PW))
        rc, out = run(["-l", "-f", self.db])
        self.assertEqual(out.split(), ["alice@" + REALM])
        self.finish(d)
        self.assertNotIn(PW, d.log())

    def properties(self):
        """sasldblistusers2's lines: "user@realm: property"."""
        r = subprocess.run(["sasldblistusers2", "-f", self.db], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return sorted(r.stdout.split("\n")[:-1])

    def test_scram_only_users(self):
        # -s: the SCRAM-SHA-256 verifier only, nothing plaintext-equivalent
        rc, out = run(["-p", "-s", "-f", self.db, "-r", REALM, "sam"], (PW + "\n").encode())
        self.assertEqual(rc, 0, out)
        self.assertEqual(self.properties(), ["sam@%s: authPassword" % REALM])
        with open(self.db, "rb") as f:
            raw = f.read()
        self.assertNotIn(PW.encode(), raw)
        self.assertIn(b"SCRAM-SHA-256$4096:", raw)
        self.assertEqual(stat.S_IMODE(os.stat(self.db).st_mode), 0o600)
        # a plain user next to it has the password only
        self.set_pw("pat", "pat-pw-1")
        self.assertEqual(self.properties(), ["pat@%s: userPassword" % REALM,
                                             "sam@%s: authPassword" % REALM])
        port = free_port()
        d = self.daemon(relay_conf(port, self.db, "").replace(
            "max-failures 3\n", "max-failures 3\n  mechanisms SCRAM-SHA-256 SCRAM-SHA-1\n"))
        d.port = port
        self.assertTrue(self.login(d, "sam", PW))
        self.assertFalse(self.login(d, "sam", PW + "x"))
        s = beep.open_session("127.0.0.1", d.port, timeout=10)
        r = beep.sasl_login(s, "SCRAM-SHA-1", "sam", PW)
        s.close()
        self.assertFalse(r.ok)
        self.assertEqual(r.code, 535, r)
        self.assertTrue(self.login(d, "pat", "pat-pw-1"))
        # an existing user turned SCRAM-only loses the plaintext property,
        # with a note that the file may still hold it
        rc, out = run(["-p", "-s", "-i", "5000", "-f", self.db, "-r", REALM, "pat"],
                      b"pat-pw-2\n")
        self.assertEqual(rc, 0, out)
        self.assertIn("may survive in unused pages", out)
        self.assertNotIn("pat-pw-2", out)
        self.assertEqual(self.properties(), ["pat@%s: authPassword" % REALM,
                                             "sam@%s: authPassword" % REALM])
        with open(self.db, "rb") as f:
            self.assertIn(b"SCRAM-SHA-256$5000:", f.read())
        self.assertFalse(self.login(d, "pat", "pat-pw-1"))
        self.assertTrue(self.login(d, "pat", "pat-pw-2"))
        # and back to a plain password: the verifier of the old one goes
        self.set_pw("pat", "pat-pw-3")
        self.assertEqual(self.properties(), ["pat@%s: userPassword" % REALM,
                                             "sam@%s: authPassword" % REALM])
        self.assertTrue(self.login(d, "pat", "pat-pw-3"))
        self.assertFalse(self.login(d, "pat", "pat-pw-2"))
        # -d removes the verifier too: nothing is left that could log in
        for u in ("sam", "pat"):
            rc, out = run(["-d", "-f", self.db, "-r", REALM, u])
            self.assertEqual(rc, 0, out)
        self.assertEqual(self.properties(), [])
        self.assertFalse(self.login(d, "sam", PW))
        self.assertFalse(self.login(d, "pat", "pat-pw-3"))
        self.finish(d)
        self.assertNotIn(PW, d.log())
        # the private SASL configuration of each run is gone
        self.assertEqual([n for n in os.listdir(self.dir) if n.startswith("beepgate-passwd.")], [])

    def test_realm_and_database_from_the_configuration(self):
        conf = os.path.join(self.dir, "beepgated.conf")
        with open(conf, "w") as f:
            f.write('user "root"\nallow root\n' + relay_conf(free_port(), self.db, ""))
        rc, out = run(["-p", "-c", conf, "carol"], b"carol-pw\n")
        self.assertEqual(rc, 0, out)
        rc, out = run(["-l", "-c", conf])
        self.assertEqual(out.split(), ["carol@" + REALM])
        d = self.relay()
        self.assertTrue(self.login(d, "carol", "carol-pw"))
        self.finish(d)
        # an invalid configuration is refused, nothing written
        bad = os.path.join(self.dir, "bad.conf")
        with open(bad, "w") as f:
            f.write("sasl { databse \"x\" }\n")
        rc, out = run(["-p", "-c", bad, "dave"], b"pw\n")
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"bad\.conf:1: ")

    def test_existing_database_loses_access_by_others(self):
        self.set_pw("alice", PW)
        os.chmod(self.db, 0o666)
        self.set_pw("alice", PW)
        self.assertEqual(stat.S_IMODE(os.stat(self.db).st_mode), 0o640)

    def test_terminal_prompt_twice(self):
        def on_tty(answers):
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(PASSWD, [PASSWD, "-f", self.db, "-r", REALM, "erin"])
            out = b""
            deadline = time.monotonic() + 20
            pending = list(answers)
            prompts = 0
            while time.monotonic() < deadline:
                r, _, _ = select.select([fd], [], [], 0.5)
                if not r:
                    continue
                try:
                    chunk = os.read(fd, 1024)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
                # answer each prompt once, after it is shown (the tool
                # flushes input typed ahead, as password readers do)
                n = out.count(b"Password:") + out.count(b"Again:")
                if n > prompts and pending:
                    prompts = n
                    os.write(fd, pending.pop(0).encode() + b"\n")
            else:
                os.kill(pid, 9)
            _, status = os.waitpid(pid, 0)
            os.close(fd)
            return os.WEXITSTATUS(status), out.decode("utf-8", "replace")

        rc, out = on_tty(["erin-pw", "erin-other"])
        self.assertEqual(rc, 4, out)
        self.assertIn("differ", out)
        self.assertNotIn("erin-pw", out)      # no echo
        rc, out = on_tty(["erin-pw", "erin-pw"])
        self.assertEqual(rc, 0, out)
        self.assertNotIn("erin-pw", out)
        d = self.relay()
        self.assertTrue(self.login(d, "erin", "erin-pw"))
        self.finish(d)

    def test_errors(self):
        self.set_pw("alice", PW)
        cases = [
            (["-d", "-f", self.db, "-r", REALM, "nobody"], b"", 3, "no user nobody@"),
            (["-p", "-f", self.db, "-r", REALM, "a@b"], b"x\n", 2, "invalid user name"),
            (["-p", "-f", self.db, "-r", REALM, "bad user"], b"x\n", 2, "invalid user name"),
            (["-p", "-f", self.db, "-r", "a b", "frank"], b"x\n", 2, "invalid realm"),
            (["-p", "-f", self.db, "-r", REALM, "frank"], b"", 4, "no password"),
            (["-p", "-f", self.db, "-r", REALM, "frank"], b"x" * 2000 + b"\n", 1, "longer than"),
            (["-f", self.db, "-r", REALM, "frank"], b"", 1, "no terminal"),
            (["-l", "-d", "-f", self.db], b"", 2, "usage:"),
            (["-l", "-f", self.db, "extra"], b"", 2, "usage:"),
            (["-x"], b"", 2, "usage:"),
            (["-p", "-i", "5000", "-f", self.db, "-r", REALM, "frank"], b"x\n", 2, "usage:"),
            (["-p", "-s", "-i", "100", "-f", self.db, "-r", REALM, "frank"], b"x\n", 2,
             "invalid iteration count \"100\" (4096 to 65536)"),
            (["-p", "-s", "-i", "4k", "-f", self.db, "-r", REALM, "frank"], b"x\n", 2,
             "invalid iteration count"),
            (["-s", "-d", "-f", self.db, "-r", REALM, "alice"], b"", 2, "usage:"),
            (["-s", "-l", "-f", self.db], b"", 2, "usage:"),
            (["-p", "-f", os.path.join(self.dir, "no", "such", "dir.db"), "-r", REALM, "frank"],
             b"pw\n", 1, "failed"),
        ]
        for args, stdin, want_rc, want_text in cases:
            setsid = ["setsid", "-w", PASSWD] if "-p" not in args and "-d" not in args \
                and "-l" not in args and "-x" not in args else [PASSWD]
            r = subprocess.run(setsid + args, input=stdin, capture_output=True, timeout=30)
            out = (r.stdout + r.stderr).decode("utf-8", "replace")
            self.assertEqual(r.returncode, want_rc, (args, out))
            self.assertIn(want_text, out, args)
        # nothing was added by the failed calls
        rc, out = run(["-l", "-f", self.db])
        self.assertEqual(out.split(), ["alice@" + REALM])


if __name__ == "__main__":
    from integration.harness import main
    main()
