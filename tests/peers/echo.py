"""Plain TCP servers for tests: final non-BEEP hops and sentinels.

Modes (one thread per connection, port 0 = kernel's choice):
  echo      echoes everything; half-closes after the peer's EOF
  banner    sends `banner` at once, then echoes
  sink      reads and hashes only; closes after the peer's EOF
  source    sends `data` (or `nbytes` reproducible octets), half-closes,
            keeps reading and hashing until EOF
  sentinel  accepts, counts, closes at once (a destination that must
            never be reached)
Every connection leaves a record: peer, in_len, in_sha256, out_len,
out_sha256 (in = received from the client).

In process:  s = TcpServer("echo"); s.port; s.wait_records(1); s.records; s.close()
As a script: python3 -m peers.echo --mode echo --port 0 [--banner T]
             [--bytes N] [--stats FILE]  (prints "echo port N"; on SIGTERM
             writes the counters as JSON to FILE)
"""
import argparse
import hashlib
import json
import signal
import socket
import sys
import threading
import time

MODES = ("echo", "banner", "sink", "source", "sentinel")


def pattern(n, seed=1):
    """n reproducible pseudo-random octets."""
    out = bytearray()
    block = hashlib.sha512(b"beepgate-peers-%d" % seed).digest() * 1024     # 64 KiB
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (seed, i)).digest() + block
        i += 1
    return bytes(out[:n])


def sha256(b):
    return hashlib.sha256(b).hexdigest()


class TcpServer:
    def __init__(self, mode="echo", host="127.0.0.1", port=0, banner=b"", data=None, nbytes=0,
                 seed=1, timeout=60.0):
        assert mode in MODES, mode
        self.mode = mode
        self.banner = banner.encode() if isinstance(banner, str) else banner
        self.data = data if data is not None else (pattern(nbytes, seed) if nbytes else b"")
        self.timeout = timeout
        self.connections = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.records = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(256)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def data_sha256(self):
        return sha256(self.data)

    def _accept(self):
        while not self.closing:
            try:
                c, peer = self.sock.accept()
            except OSError:
                return
            with self.cond:
                self.connections += 1
                self.conns.append(c)
                self.cond.notify_all()
            threading.Thread(target=self._serve, args=(c, peer), daemon=True).start()

    def _count(self, n_in=0, n_out=0):
        with self.lock:
            self.bytes_in += n_in
            self.bytes_out += n_out

    def _serve(self, c, peer):
        hin, hout = hashlib.sha256(), hashlib.sha256()
        rec = {"peer": "%s:%d" % peer[:2], "in_len": 0, "out_len": 0, "error": None}
        c.settimeout(self.timeout)

        def send(d):
            c.sendall(d)
            hout.update(d)
            rec["out_len"] += len(d)
            self._count(n_out=len(d))

        def recv():
            d = c.recv(65536)
            hin.update(d)
            rec["in_len"] += len(d)
            self._count(n_in=len(d))
            return d
        try:
            if self.mode == "sentinel":
                pass
            elif self.mode in ("echo", "banner"):
                if self.mode == "banner" and self.banner:
                    send(self.banner)
                while True:
                    d = recv()
                    if not d:
                        break
                    send(d)
                c.shutdown(socket.SHUT_WR)
            elif self.mode == "sink":
                while recv():
                    pass
            elif self.mode == "source":
                t = threading.Thread(target=lambda: [None for _ in iter(recv, b"")], daemon=True)
                t.start()
                send(self.data)
                c.shutdown(socket.SHUT_WR)
                t.join(self.timeout)
        except OSError as e:
            rec["error"] = repr(e)
        finally:
            try:
                c.close()
            except OSError:
                pass
            rec["in_sha256"] = hin.hexdigest()
            rec["out_sha256"] = hout.hexdigest()
            with self.cond:
                self.records.append(rec)
                self.cond.notify_all()

    def wait_connections(self, n, timeout=10.0):
        with self.cond:
            return self.cond.wait_for(lambda: self.connections >= n, timeout)

    def wait_records(self, n, timeout=10.0):
        """Waits until n connections have finished (their records exist)."""
        with self.cond:
            return self.cond.wait_for(lambda: len(self.records) >= n, timeout)

    def stats(self):
        with self.lock:
            return {"mode": self.mode, "port": self.port, "connections": self.connections,
                    "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                    "records": list(self.records)}

    def close(self):
        self.closing = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="plain TCP test servers")
    ap.add_argument("--mode", choices=MODES, default="echo")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--banner", default="")
    ap.add_argument("--bytes", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stats", help="write counters as JSON here on exit")
    a = ap.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    s = TcpServer(a.mode, a.host, a.port, banner=a.banner.encode().decode("unicode_escape").encode("latin-1"),
                  nbytes=a.bytes, seed=a.seed)
    print("%s port %d" % (a.mode, s.port), flush=True)
    while not stop.wait(0.5):
        pass
    s.close()
    time.sleep(0.1)
    if a.stats:
        with open(a.stats, "w") as f:
            json.dump(s.stats(), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
