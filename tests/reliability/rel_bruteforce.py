"""Brute force: many SASL failures from one source (127.0.0.2).

With `sasl { penalty 5 failures 10s }` the source is refused (454 on the
SASL start, even with the right password) from its 6th attempt until the
penalty ends, while another source (127.0.0.3) authenticates normally all
along; after the penalty the source authenticates again.  No password used
(right or wrong, SCRAM or PLAIN) appears in the log."""
import time

from integration.harness import free_port
from integration.tunnel_env import REALM, USERS, cleanup, make_sasldb
from peers import beep
from reliability.relutil import (Daemon, bound_connect, check, figure, finish, size,
                                 start_watchdog)

PENALTY_N = 5
PENALTY_S = 10
ATTEMPTS = size(40, 400)       # attempts from the attacker per cycle
CYCLES = size(1, 3)
ATTACKER, OTHER = "127.0.0.2", "127.0.0.3"

start_watchdog(size(85, 900))


def session_from(src, port):
    s = beep.Session(bound_connect(src, port), "initiator", timeout=10)
    s.wait_greeting()
    return s


class Attacker:
    def __init__(self, port):
        self.port = port
        self.sess = None
        self.used = []

    def attempt(self, n, password=None, mech=None):
        """One SASL attempt; returns the SaslResult.  Reconnects when the
        relay closed the session (max-failures)."""
        if password is None:
            password = "Wr0ng-pw-%d-%s" % (n, "q" * (n % 7))
        self.used.append(password)
        mech = mech or ("PLAIN" if n % 3 == 2 else "SCRAM-SHA-256")
        for _ in range(2):
            try:
                if self.sess is None:
                    self.sess = session_from(ATTACKER, self.port)
                return beep.sasl_login(self.sess, mech, "alice", password)
            except (beep.ConnectionClosed, beep.ProtocolError, OSError):
                if self.sess is not None:
                    self.sess.close()
                self.sess = None
        raise RuntimeError("cannot reach the relay")


def other_login(port):
    s = session_from(OTHER, port)
    t0 = time.monotonic()
    r = beep.sasl_login(s, "SCRAM-SHA-256", "bob", USERS["bob"])
    dt = time.monotonic() - t0
    s.close()
    return r, dt


def main():
    sdir, db = make_sasldb()
    port = free_port()
    conf = ("timeouts { handshake 30s connect 3s idle 60s fin 10s hard-stop 5s }\n"
            'sasl {\n  database "%s"\n  realm "%s"\n' % (db, REALM) +
            "  mechanisms SCRAM-SHA-256 PLAIN\n  allow plaintext\n  max-failures 3\n"
            "  penalty %d failures %ds\n}\n" % (PENALTY_N, PENALTY_S) +
            "listen on 127.0.0.1 port %d tunnel\n" % port)
    d = Daemon(conf, name="bruteforce", verbose=True)
    atk = Attacker(port)
    n = 0
    for cycle in range(CYCLES):
        codes = []
        other = []
        t_last_fail = None
        for i in range(ATTEMPTS):
            r = atk.attempt(n)
            n += 1
            codes.append(r.code if not r.ok else "ok")
            if r.code == 535:
                t_last_fail = time.monotonic()
            if i % 5 == 0:
                other.append(other_login(port))
        fails = codes.count(535)
        refused = codes.count(454)
        first_refused = codes.index(454) + 1 if 454 in codes else None
        figure("bruteforce-refused-c%d" % cycle,
               "%d attempts from %s: %d failed (535), then %d refused (454) from attempt %s"
               % (len(codes), ATTACKER, fails, refused, first_refused),
               "exactly %d failures, every later attempt 454" % PENALTY_N,
               fails == PENALTY_N and refused == len(codes) - PENALTY_N
               and first_refused == PENALTY_N + 1)
        r = atk.attempt(n, password=USERS["alice"], mech="SCRAM-SHA-256")
        n += 1
        check("bruteforce-right-password-refused-c%d" % cycle, (r.ok, r.code) == (False, 454),
              "the right password from %s during the penalty: ok=%s code=%s"
              % (ATTACKER, r.ok, r.code))
        oks = sum(1 for r, _ in other if r.ok)
        figure("bruteforce-other-source-c%d" % cycle,
               "%d/%d logins from %s succeeded during the attack, slowest %.0f ms"
               % (oks, len(other), OTHER, max(dt for _, dt in other) * 1000),
               "all succeed", oks == len(other) and len(other) > 0)
        # the penalty ends: poll with the right password
        t_ok = None
        while time.monotonic() - t_last_fail < PENALTY_S + 5:
            r = atk.attempt(n, password=USERS["alice"], mech="SCRAM-SHA-256")
            n += 1
            if r.ok:
                t_ok = time.monotonic() - t_last_fail
                break
            time.sleep(0.25)
        if atk.sess is not None:
            atk.sess.close()
            atk.sess = None
        figure("bruteforce-penalty-ends-c%d" % cycle,
               "%s authenticated again %s s after its last failure"
               % (ATTACKER, "%.2f" % t_ok if t_ok is not None else "never (in %d" % (PENALTY_S + 5)),
               "between %ds and %ds" % (PENALTY_S - 1, PENALTY_S + 2),
               t_ok is not None and PENALTY_S - 1 <= t_ok <= PENALTY_S + 2)
    log = d.log()
    secrets = set(atk.used) | set(USERS.values())
    leaked = sorted(p for p in secrets if p in log)
    check("bruteforce-no-secret-in-log", not leaked and d.count_log(r"failed") > 0,
          "%d passwords used (SCRAM and PLAIN), %d found in %d log lines%s"
          % (len(secrets), len(leaked), log.count("\n"),
             (": " + ", ".join(leaked[:3])) if leaked else ""))
    cleanup(sdir)
    finish([d])


if __name__ == "__main__":
    main()
