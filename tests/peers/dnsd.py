"""A tiny scriptable UDP DNS server for tests (RFC 1035 message format,
RFC 3596 AAAA, RFC 2782 SRV).

Zone: {name: {"A": [...], "AAAA": [...], "SRV": [[prio, weight, port, target], ...]}}.
A record set may instead be {"sequence": [set1, set2, ...]}: each query for
that name and type gets the next set, the last one repeating (DNS rebinding:
{"A": {"sequence": [["192.0.2.1"], ["127.0.0.1"]]}}).  A set may also be
the string "NXDOMAIN", "SERVFAIL" or "DROP" (no answer at all).
Unknown names get NXDOMAIN; a known name without records of the asked type
gets an empty NOERROR answer.  TTL 0 by default.

In process:   d = DnsServer(zone); d.port; d.queries; d.close()
As a script:  python3 -m peers.dnsd --port 0 --zone zone.json
              (prints "dnsd port N" on stdout, serves until SIGTERM)
"""
import argparse
import ipaddress
import json
import signal
import socket
import struct
import sys
import threading

TYPES = {"A": 1, "CNAME": 5, "AAAA": 28, "SRV": 33, "ANY": 255}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODE_NOERROR, RCODE_FORMERR, RCODE_SERVFAIL, RCODE_NXDOMAIN, RCODE_NOTIMP = 0, 1, 2, 3, 4


def norm(name):
    return name.rstrip(".").lower()


def encode_name(name):
    out = b""
    for label in norm(name).split("."):
        if not label:
            continue
        b = label.encode("idna") if any(ord(c) > 127 for c in label) else label.encode()
        if len(b) > 63:
            raise ValueError("label too long")
        out += bytes([len(b)]) + b
    return out + b"\0"


def decode_name(msg, pos, depth=0):
    """(name, position after the name) with compression pointers."""
    labels = []
    end = None
    while True:
        if pos >= len(msg):
            raise ValueError("name runs past the message")
        n = msg[pos]
        if n & 0xC0 == 0xC0:
            if depth > 16 or pos + 1 >= len(msg):
                raise ValueError("bad compression pointer")
            ptr = ((n & 0x3F) << 8) | msg[pos + 1]
            if end is None:
                end = pos + 2
            sub, _ = decode_name(msg, ptr, depth + 1)
            if sub:
                labels.append(sub)
            return ".".join(labels), end
        if n & 0xC0:
            raise ValueError("bad label type")
        pos += 1
        if n == 0:
            return ".".join(labels), (end if end is not None else pos)
        labels.append(msg[pos:pos + n].decode("latin-1"))
        pos += n


def rdata(rtype, value):
    if rtype == "A":
        return ipaddress.IPv4Address(value).packed
    if rtype == "AAAA":
        return ipaddress.IPv6Address(value).packed
    if rtype == "SRV":
        prio, weight, port, target = value
        return struct.pack("!HHH", prio, weight, port) + encode_name(target)
    if rtype == "CNAME":
        return encode_name(value)
    raise ValueError("type %s not supported" % rtype)


class DnsServer:
    def __init__(self, zone=None, host="127.0.0.1", port=0, ttl=0, verbose=False):
        self.zone = {}
        self.seqpos = {}
        self.ttl = ttl
        self.verbose = verbose
        self.queries = []           # (name, type name, outcome) per query
        self.lock = threading.Lock()
        for name, recs in (zone or {}).items():
            for rtype, val in recs.items():
                self.set(name, rtype, val)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.closing = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    # -- zone editing -----------------------------------------------------
    def set(self, name, rtype, value):
        """Static records (a list), a {"sequence": [...]} script, or a
        special string; None removes the type."""
        with self.lock:
            recs = self.zone.setdefault(norm(name), {})
            if value is None:
                recs.pop(rtype, None)
            else:
                recs[rtype] = value
            self.seqpos.pop((norm(name), rtype), None)

    def script(self, name, rtype, sets):
        """Per-query answers: sets[0] for the first query, then sets[1], ...
        the last one repeating."""
        self.set(name, rtype, {"sequence": list(sets)})

    def remove(self, name):
        with self.lock:
            self.zone.pop(norm(name), None)

    def count(self, name=None, rtype=None):
        with self.lock:
            return sum(1 for n, t, _ in self.queries
                       if (name is None or n == norm(name)) and (rtype is None or t == rtype))

    def resolv_conf_text(self):
        return "nameserver %s:%d\n" % (self.host, self.port)

    # -- serving ----------------------------------------------------------
    def _lookup(self, name, rtype):
        """(rcode or 'DROP', records list)."""
        with self.lock:
            recs = self.zone.get(name)
            if recs is None:
                return RCODE_NXDOMAIN, []
            val = recs.get(rtype)
            if val is None:
                return RCODE_NOERROR, []
            if isinstance(val, dict):
                seq = val["sequence"]
                i = self.seqpos.get((name, rtype), 0)
                self.seqpos[(name, rtype)] = i + 1
                val = seq[min(i, len(seq) - 1)]
        if val == "NXDOMAIN":
            return RCODE_NXDOMAIN, []
        if val == "SERVFAIL":
            return RCODE_SERVFAIL, []
        if val == "DROP":
            return "DROP", []
        return RCODE_NOERROR, list(val)

    def handle(self, msg):
        """The response to one query message, or None (drop)."""
        if len(msg) < 12:
            return None
        qid, flags, qd, _, _, _ = struct.unpack("!HHHHHH", msg[:12])
        if flags & 0x8000:
            return None                     # a response, not a query
        opcode = (flags >> 11) & 0xF
        rd = flags & 0x0100
        if qd != 1 or opcode != 0:
            return struct.pack("!HHHHHH", qid, 0x8000 | (opcode << 11) | rd |
                               (RCODE_NOTIMP if opcode else RCODE_FORMERR), 0, 0, 0, 0)
        try:
            qname, pos = decode_name(msg, 12)
            qtype, qclass = struct.unpack("!HH", msg[pos:pos + 4])
        except (ValueError, struct.error):
            return struct.pack("!HHHHHH", qid, 0x8000 | rd | RCODE_FORMERR, 0, 0, 0, 0)
        question = msg[12:pos + 4]
        name = norm(qname)
        tname = TYPE_NAMES.get(qtype, str(qtype))
        rcode, records = self._lookup(name, tname) if tname in ("A", "AAAA", "SRV") \
            else ((RCODE_NOERROR if name in self.zone else RCODE_NXDOMAIN), [])
        if rcode == "DROP":
            outcome = "DROP"
        elif records:
            outcome = records
        else:
            outcome = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN"}.get(rcode, rcode)
        with self.lock:
            self.queries.append((name, tname, outcome))
        if self.verbose:
            print("dnsd: %s %s -> %s %r" % (name, tname, rcode, records), file=sys.stderr, flush=True)
        if rcode == "DROP":
            return None
        answers = b""
        for r in records:
            rd_bytes = rdata(tname, r)
            answers += struct.pack("!HHHIH", 0xC00C, qtype, qclass, self.ttl, len(rd_bytes)) + rd_bytes
        hflags = 0x8000 | 0x0400 | rd | 0x0080 | rcode     # QR AA RD RA rcode
        return struct.pack("!HHHHHH", qid, hflags, 1, len(records), 0, 0) + question + answers

    def _loop(self):
        while not self.closing:
            try:
                msg, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                resp = self.handle(msg)
            except Exception as e:             # keep serving; report
                print("dnsd: error %r" % e, file=sys.stderr, flush=True)
                resp = None
            if resp is not None:
                try:
                    self.sock.sendto(resp, addr)
                except OSError:
                    pass

    def close(self):
        self.closing = True
        try:
            self.sock.close()
        except OSError:
            pass


def query(host, port, name, rtype="A", timeout=2.0, qid=0x4242):
    """A minimal client (for checks): returns (rcode, [answers]); A/AAAA as
    text, SRV as (prio, weight, port, target).  Raises socket.timeout."""
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + \
        struct.pack("!HH", TYPES[rtype], 1)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, (host, port))
        msg, _ = s.recvfrom(4096)
    rid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", msg[:12])
    if rid != qid or not flags & 0x8000:
        raise ValueError("not a response to our query")
    pos = 12
    for _ in range(qd):
        _, pos = decode_name(msg, pos)
        pos += 4
    out = []
    for _ in range(an):
        _, pos = decode_name(msg, pos)
        t, _, ttl, ln = struct.unpack("!HHIH", msg[pos:pos + 10])
        pos += 10
        rd = msg[pos:pos + ln]
        if t == 1:
            out.append(str(ipaddress.IPv4Address(rd)))
        elif t == 28:
            out.append(str(ipaddress.IPv6Address(rd)))
        elif t == 33:
            p, w, port_, = struct.unpack("!HHH", rd[:6])
            out.append((p, w, port_, decode_name(msg, pos + 6)[0]))
        pos += ln
    return flags & 0xF, out


def main(argv=None):
    ap = argparse.ArgumentParser(description="tiny scriptable DNS server for tests")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--zone", help="JSON zone file")
    ap.add_argument("--ttl", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    zone = {}
    if a.zone:
        with open(a.zone) as f:
            zone = json.load(f)
    d = DnsServer(zone, a.host, a.port, a.ttl, a.verbose)
    print("dnsd port %d" % d.port, flush=True)
    while not stop.wait(0.5):
        pass
    d.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
