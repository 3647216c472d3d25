"""Packaging and documentation checks.

- every manual page in docs/man renders with groff (-ww: every warning on)
  without a single warning, and names every option its program accepts;
- beepgated.conf(5) names every keyword of the configuration grammar;
- every shipped example configuration passes `beepgated -n`: etc/*.conf and
  each block of docs/admin-guide.md under a `<!-- beepgated -n -->` marker;
- `cpack -G DEB` builds a package with the expected files (and no bench or
  test programs), the conffile, and the maintainer scripts.
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import unittest

SRC = os.environ.get("BEEPGATE_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("BEEPGATE_BUILD", os.path.join(SRC, "build", "plain"))
BEEPGATED = os.path.join(BUILD, "beepgated")
MAN_DIR = os.path.join(SRC, "docs", "man")
MANPAGES = ["beeptunnel.1", "idxp-peer.1", "beepgated.conf.5", "beepgated.8", "beepgate-passwd.8"]
GUIDE = os.path.join(SRC, "docs", "admin-guide.md")
GUIDE_MARKER = "<!-- beepgated -n -->"


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=kw.pop("timeout", 120), **kw)


def groff_warnings(path):
    """groff's complaints about one page (empty: none), and its exit status."""
    r = run(["groff", "-mandoc", "-Tutf8", "-ww", "-z", path],
            env=dict(os.environ, LC_ALL="C.UTF-8"))
    return r.returncode, r.stderr.strip()


def guide_blocks(text):
    """The fenced blocks that follow the marker, with their line numbers."""
    lines = text.split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == GUIDE_MARKER:
            j = i + 1
            while j < len(lines) and lines[j].strip() == "":
                j += 1
            if j >= len(lines) or not lines[j].startswith("```"):
                raise AssertionError("admin-guide.md:%d: marker not followed by a fenced block" % (i + 1))
            k = j + 1
            while k < len(lines) and not lines[k].startswith("```"):
                k += 1
            if k >= len(lines):
                raise AssertionError("admin-guide.md:%d: unterminated block" % (j + 1))
            blocks.append((j + 2, "\n".join(lines[j + 1:k]) + "\n"))
            i = k
        i += 1
    return blocks


def check_config(text, name, tmp):
    """Writes text as a configuration in tmp (files under /etc/beepgate/ moved
    there, secret files created chmod 600) and runs beepgated -n on it."""
    text = text.replace("/etc/beepgate/", tmp + "/")
    for secret in re.findall(r'secret\s+"([^"]+)"', text):
        p = secret if os.path.isabs(secret) else os.path.join(tmp, secret)
        with open(p, "w") as f:
            f.write("test-secret\n")
        os.chmod(p, 0o600)
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return run([BEEPGATED, "-n", "-f", path])


def usage_options(argv):
    """Options named in a program's usage text: -x and --long-name."""
    r = run(argv)
    text = r.stdout + r.stderr
    shorts = set(re.findall(r"(?<![\w-])-([a-zA-Z])\b", text))
    for cluster in re.findall(r"\[-([a-zA-Z]{2,})\]", text):
        shorts.update(cluster)
    longs = set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]+)", text))
    return text, shorts, longs


class ManPages(unittest.TestCase):
    def test_pages_render_without_warnings(self):
        for page in MANPAGES:
            path = os.path.join(MAN_DIR, page)
            self.assertTrue(os.path.isfile(path), path)
            rc, err = groff_warnings(path)
            self.assertEqual(rc, 0, page)
            self.assertEqual(err, "", "%s: groff warns:\n%s" % (page, err))
            r = run(["man", "-l", "-Tutf8", path])
            self.assertEqual(r.returncode, 0, page)
            name = page.rsplit(".", 1)[0]
            self.assertIn(name, r.stdout, page)

    def test_checker_sees_a_bad_page(self):
        # The check above must be able to fail: a page with an unknown macro
        # and a broken list draws warnings.
        with tempfile.TemporaryDirectory() as tmp:
            bad = os.path.join(tmp, "bad.8")
            with open(bad, "w") as f:
                f.write(".Dd $Mdocdate$\n.Dt BAD 8\n.Os\n.Sh NAME\n.Nm bad\n.Nd bad\n"
                        ".Sh DESCRIPTION\n.Bl -tag\n.It\n.Zz unknown\n")
            rc, err = groff_warnings(bad)
            self.assertNotEqual(err, "")

    def test_beepgated_options_documented(self):
        text, shorts, longs = usage_options([BEEPGATED, "-h"])
        self.assertIn("usage: beepgated", text)
        self.assertTrue(set("dfnv") <= shorts, text)
        with open(os.path.join(MAN_DIR, "beepgated.8")) as f:
            page = f.read()
        for o in sorted(shorts):
            self.assertTrue(re.search(r"\.It Fl %s\b" % o, page), "beepgated.8 lacks -%s" % o)
        for sig in ("SIGHUP", "SIGTERM", "SIGINT"):
            self.assertIn(sig, page)

    def _tool_options_documented(self, prog, page):
        exe = os.path.join(BUILD, prog)
        self.assertTrue(os.path.exists(exe), "%s is not built in %s" % (prog, BUILD))
        text, shorts, longs = usage_options([exe, "-h"])
        self.assertTrue(shorts or longs, "%s -h printed no options:\n%s" % (prog, text))
        with open(os.path.join(MAN_DIR, page)) as f:
            doc = f.read()
        for o in sorted(shorts):
            if o == "h":
                continue
            self.assertTrue(re.search(r"Fl %s\b" % o, doc), "%s lacks -%s" % (page, o))
        for o in sorted(longs):
            if o == "help":
                continue
            self.assertTrue(re.search(r"Fl -%s\b" % re.escape(o), doc), "%s lacks --%s" % (page, o))

    def test_beeptunnel_options_documented(self):
        self._tool_options_documented("beeptunnel", "beeptunnel.1")

    def test_idxp_peer_options_documented(self):
        self._tool_options_documented("idxp-peer", "idxp-peer.1")

    def test_beepgate_passwd_options_documented(self):
        self._tool_options_documented("beepgate-passwd", "beepgate-passwd.8")

    def test_conf5_names_every_keyword(self):
        with open(os.path.join(SRC, "relay", "parse.y")) as f:
            grammar = f.read()
        keywords = re.findall(r'\{ "([a-z-]+)", [A-Z]+ \}', grammar)
        self.assertGreater(len(keywords), 50)
        with open(os.path.join(MAN_DIR, "beepgated.conf.5")) as f:
            page = f.read()
        missing = [k for k in keywords
                   if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(k), page)]
        self.assertEqual(missing, [], "beepgated.conf.5 does not mention these keywords")

    def test_conf5_states_the_defaults(self):
        with open(os.path.join(MAN_DIR, "beepgated.conf.5")) as f:
            page = f.read()
        for knob, default in [("max-sessions", "default 10000"),
                              ("max-sessions-per-source", "default 256"),
                              ("connection-rate", "default 100 per 1s"),
                              ("max-tunnels-per-user", "default 1000"),
                              ("max-hops", "default 8"), ("buffer", "default 256k"),
                              ("beep-message", "default 64k"),
                              ("beep-channels", "default 512"),
                              ("tcpmux-line", "default 128"),
                              ("max-failures", "default\n3"), ("hard-stop", "default 30s")]:
            # the knob's own entry in its tag list, not a passing mention
            m = re.search(r"^\.It Ic %s(?![\w-])" % re.escape(knob), page, re.M)
            self.assertIsNotNone(m, knob)
            i = m.start()
            self.assertIn(default.replace("\n", " "), page[i:i + 400].replace("\n", " "), knob)


class ExampleConfigs(unittest.TestCase):
    def test_etc_examples_pass_check(self):
        confs = sorted(glob.glob(os.path.join(SRC, "etc", "*.conf")))
        self.assertTrue(confs)
        for c in confs:
            r = run([BEEPGATED, "-n", "-f", c])
            self.assertEqual(r.returncode, 0, "%s:\n%s" % (c, r.stderr))
            self.assertIn("OK", r.stdout)
            self.assertNotIn("warning", r.stderr, c)

    def test_admin_guide_configs_pass_check(self):
        with open(GUIDE) as f:
            blocks = guide_blocks(f.read())
        self.assertGreaterEqual(len(blocks), 4, "marked configurations in admin-guide.md")
        for line, text in blocks:
            with tempfile.TemporaryDirectory() as tmp:
                r = check_config(text, "guide-%d.conf" % line, tmp)
                self.assertEqual(r.returncode, 0,
                                 "admin-guide.md:%d:\n%s" % (line, r.stderr))
                self.assertNotIn("warning", r.stderr, "admin-guide.md:%d" % line)

    def test_check_catches_a_broken_block(self):
        # The extraction really feeds beepgated: a block with a typo fails.
        with open(GUIDE) as f:
            blocks = guide_blocks(f.read())
        line, text = blocks[0]
        with tempfile.TemporaryDirectory() as tmp:
            r = check_config(text + "listen on 10.0.0.1 port 0 tunel\n", "broken.conf", tmp)
            self.assertEqual(r.returncode, 1)
            self.assertIn("broken.conf:", r.stderr)

    def test_marker_without_block_is_reported(self):
        with self.assertRaises(AssertionError):
            guide_blocks("text\n%s\nno block here\n" % GUIDE_MARKER)


class DebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bg-deb-")
        config = os.path.join(BUILD, "CPackConfig.cmake")
        if not os.path.exists(config):
            raise AssertionError("%s missing: CPack is not configured" % config)
        r = run(["cpack", "-G", "DEB", "-B", cls.tmp, "--config", config], timeout=800)
        if r.returncode != 0:
            raise AssertionError("cpack failed:\n%s\n%s" % (r.stdout, r.stderr))
        debs = glob.glob(os.path.join(cls.tmp, "*.deb"))
        if len(debs) != 1:
            raise AssertionError("expected one .deb, found %r" % debs)
        cls.deb = debs[0]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def contents(self):
        r = run(["dpkg-deb", "-c", self.deb])
        self.assertEqual(r.returncode, 0, r.stderr)
        files = {}
        for line in r.stdout.splitlines():
            parts = line.split()
            path = parts[5]
            if path.startswith("./"):
                path = path[1:]
            files[path] = parts[0]
        return files

    def test_name_and_version(self):
        self.assertRegex(os.path.basename(self.deb), r"^beepgate_\d+\.\d+\.\d+_[a-z0-9]+\.deb$")
        r = run(["dpkg-deb", "-f", self.deb, "Package", "Version", "Depends"])
        self.assertIn("Package: beepgate", r.stdout)
        depends = r.stdout.split("Depends:", 1)[1]
        # shlibdeps computed the libraries; the scripts need adduser
        for dep in ("adduser", "libc6", "libevent", "libssl", "libsasl2-2", "libxml2",
                    "sasl2-bin"):
            self.assertIn(dep, depends)

    def test_files(self):
        files = self.contents()
        expect = {
            "/usr/sbin/beepgated": "-rwxr-xr-x",
            "/etc/beepgate/beepgated.conf": "-rw-r--r--",
            "/lib/systemd/system/beepgated.service": "-rw-r--r--",
            "/usr/share/man/man1/beeptunnel.1.gz": "-rw-r--r--",
            "/usr/share/man/man5/beepgated.conf.5.gz": "-rw-r--r--",
            "/usr/share/man/man8/beepgated.8.gz": "-rw-r--r--",
            "/usr/share/man/man8/beepgate-passwd.8.gz": "-rw-r--r--",
        }
        if os.path.exists(os.path.join(BUILD, "beeptunnel")):
            expect["/usr/bin/beeptunnel"] = "-rwxr-xr-x"
        expect["/usr/sbin/beepgate-passwd"] = "-rwxr-xr-x"
        expect["/usr/bin/idxp-peer"] = "-rwxr-xr-x"
        expect["/usr/share/man/man1/idxp-peer.1.gz"] = "-rw-r--r--"
        for path, mode in expect.items():
            self.assertIn(path, files, "missing from the package")
            self.assertEqual(files[path], mode, path)
        for path in files:
            base = os.path.basename(path.rstrip("/"))
            self.assertNotEqual(base, "bgbench", path)
            self.assertFalse(re.match(r"^(test_|fuzz_|unit_)", base), path)
            self.assertFalse(path.startswith("/usr/local"), path)
            self.assertFalse(path.startswith("/usr/etc"), path)
            self.assertNotIn("_CPack_Packages", path)
        # the executables are exactly the programs
        progs = sorted(p for p, m in files.items() if "x" in m[1:4] and not m.startswith("d"))
        allowed = {"/usr/sbin/beepgated", "/usr/bin/beeptunnel", "/usr/sbin/beepgate-passwd",
                   "/usr/bin/idxp-peer"}
        self.assertTrue(set(progs) <= allowed, progs)

    def test_man_pages_in_package_are_the_sources(self):
        with tempfile.TemporaryDirectory() as root:
            r = run(["dpkg-deb", "-x", self.deb, root])
            self.assertEqual(r.returncode, 0, r.stderr)
            for page in MANPAGES:
                sect = page.rsplit(".", 1)[1]
                gz = os.path.join(root, "usr/share/man/man%s/%s.gz" % (sect, page))
                r = run(["gzip", "-dc", gz])
                with open(os.path.join(MAN_DIR, page)) as f:
                    self.assertEqual(r.stdout, f.read(), page)
            with open(os.path.join(root, "etc/beepgate/beepgated.conf")) as f, \
                 open(os.path.join(SRC, "etc/beepgated.conf")) as g:
                self.assertEqual(f.read(), g.read())

    def test_control(self):
        r = run(["dpkg-deb", "-I", self.deb])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"\bpostinst\b")
        self.assertRegex(r.stdout, r"\bpostrm\b")
        self.assertRegex(r.stdout, r"\bconffiles\b")
        with tempfile.TemporaryDirectory() as ctl:
            r = run(["dpkg-deb", "-e", self.deb, ctl])
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(ctl, "conffiles")) as f:
                self.assertEqual(f.read().split(), ["/etc/beepgate/beepgated.conf"])
            with open(os.path.join(ctl, "postinst")) as f:
                post = f.read()
            self.assertIn("adduser --system --group --no-create-home", post)
            self.assertIn("getent passwd beepgate", post)
            self.assertRegex(post, r"install -d -o beepgate -g beepgate -m 0750 /var/lib/beepgate")
            with open(os.path.join(ctl, "postrm")) as f:
                postrm = f.read()
            self.assertRegex(postrm, r"purge\)\s*\n\s*rm -rf /var/lib/beepgate")
            for script in ("postinst", "postrm"):
                p = os.path.join(ctl, script)
                self.assertTrue(os.access(p, os.X_OK), script)
                r = run(["sh", "-n", p])
                self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
