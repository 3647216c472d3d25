"""TLS test material made at run time: a CA with certificates signed by it
(openssl CLI), and a recording TCP hop that keeps every octet it carried
(to show what a relay could read)."""
import os
import socket
import subprocess
import threading


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d, prefix="", names=("final.test", "analyzer.test")):
    """A CA and one certificate per name, signed by it: (ca, {name: (cert, key)})."""
    ca_key, ca = os.path.join(d, prefix + "ca.key"), os.path.join(d, prefix + "ca.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=%stest CA" % prefix, cwd=d)
    out = {}
    os.chmod(ca_key, 0o600)
    for n in names:
        key, csr, crt = (os.path.join(d, prefix + n + ext) for ext in (".key", ".csr", ".pem"))
        ext = os.path.join(d, prefix + n + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:%s\n" % n)
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", "/CN=" + n, cwd=d)
        openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                "-out", crt, "-days", "2", "-extfile", ext, cwd=d)
        os.chmod(key, 0o600)
        out[n] = (crt, key)
    return ca, out


class Recorder:
    """A TCP hop on loopback that forwards to (host, port) and keeps every
    octet it carried, per direction."""

    def __init__(self, port):
        self.target = ("127.0.0.1", port)
        self.up = bytearray()
        self.down = bytearray()
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = socket.create_connection(self.target, timeout=10)
            self.conns += [c, s]
            threading.Thread(target=self._pipe, args=(c, s, self.up), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c, self.down), daemon=True).start()

    def _pipe(self, a, b, buf):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    b.shutdown(socket.SHUT_WR)
                    return
                with self.lock:
                    buf += d
                b.sendall(d)
        except OSError:
            return

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
