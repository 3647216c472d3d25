"""A small BEEP peer (RFC 3080 core, RFC 3081 TCP mapping) for tests.

Written from the RFCs only, independent of beepgate's C code, so that a test
failing against beepgated can be blamed on the daemon, not on a shared bug.

Pieces (see README.md for a tour):
  frames     build_frame / build_seq / parse_frame / read_frames (strict parser)
  MIME       mime / mime_split
  channel 0  greeting_xml / start_xml / close_xml / ok_xml / error_xml, parse_error
  Session    one BEEP session over a connected socket, either role: greeting,
             start/close, messages split into frames within the peer's window,
             SEQ sent as frames are consumed, a serve loop hosting profiles
  profiles   EchoProfile, TunnelResponder, ScramServerProfile, BeepServer
  clients    sasl_login (SCRAM-SHA-256/1, PLAIN, ANONYMOUS), tunnel_start,
             Tunnel element builder, tcpmux
"""
import base64
import hashlib
import hmac
import re
import secrets
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque

TUNNEL_URI = "http://iana.org/beep/TUNNEL"
TLS_URI = "http://iana.org/beep/TLS"
SASL_URI = "http://iana.org/beep/SASL/"
ECHO_URI = "http://beepgate.test/ECHO"
BEEP_XML = "application/beep+xml"

INITIAL_WINDOW = 4096            # RFC 3081 sec. 3.1.1
MAX_NUMBER = 2 ** 31 - 1         # channel, msgno, size, ansno
MAX_SEQNO = 2 ** 32 - 1
HEADER_MAX = 128                 # longest header line we accept (legal ones < 80)
DEFAULT_TIMEOUT = 10.0

FRAME_TYPES = ("MSG", "RPY", "ERR", "ANS", "NUL")


class ProtocolError(Exception):
    """The peer violated the BEEP syntax or rules (offset into the stream if known)."""

    def __init__(self, msg, offset=None):
        super().__init__(msg if offset is None else "%s (at stream offset %d)" % (msg, offset))
        self.offset = offset


class ConnectionClosed(Exception):
    """EOF from the peer while a BEEP exchange was expected."""


class ErrorReply(Exception):
    """An <error code='...'>text</error> element received from the peer."""

    def __init__(self, code, text="", raw=b""):
        super().__init__("error %s: %s" % (code, text))
        self.code = code
        self.text = text
        self.raw = raw


# --------------------------------------------------------------------------
# Frames (RFC 3080 sec. 2.2, RFC 3081 sec. 3.1.3)

class Frame:
    __slots__ = ("type", "channel", "msgno", "more", "seqno", "size", "ansno",
                 "ackno", "window", "payload", "raw")

    def __init__(self, type, channel, msgno=0, more=False, seqno=0, payload=b"",
                 ansno=None, ackno=None, window=None, raw=b""):
        self.type = type
        self.channel = channel
        self.msgno = msgno
        self.more = more
        self.seqno = seqno
        self.payload = payload
        self.size = len(payload)
        self.ansno = ansno
        self.ackno = ackno
        self.window = window
        self.raw = raw

    def __repr__(self):
        if self.type == "SEQ":
            return "<SEQ %d %d %d>" % (self.channel, self.ackno, self.window)
        return "<%s %d %d %s %d %d%s>" % (self.type, self.channel, self.msgno,
                                          "*" if self.more else ".", self.seqno, self.size,
                                          "" if self.ansno is None else " %d" % self.ansno)


def build_frame(type, channel, msgno, seqno, payload=b"", more=False, ansno=None,
                size=None, trailer=b"END\r\n"):
    """Serializes one data frame.  size and trailer can be overridden to
    produce malformed frames on purpose."""
    if isinstance(payload, str):
        payload = payload.encode()
    hdr = "%s %d %d %s %d %d" % (type, channel, msgno, "*" if more else ".", seqno,
                                 len(payload) if size is None else size)
    if type == "ANS" or ansno is not None:
        hdr += " %d" % (ansno or 0)
    return hdr.encode() + b"\r\n" + payload + trailer


def build_seq(channel, ackno, window):
    return b"SEQ %d %d %d\r\n" % (channel, ackno, window)


_NUM = re.compile(rb"^(0|[1-9][0-9]{0,9})$")


def _num(tok, hi, what, offset):
    if not _NUM.match(tok):
        raise ProtocolError("header: bad %s %r" % (what, tok), offset)
    v = int(tok)
    if v > hi:
        raise ProtocolError("header: %s %d out of range" % (what, v), offset)
    return v


def parse_frame(buf, pos=0, base_offset=0):
    """Parses one frame from buf[pos:].  Returns (Frame, consumed) or None if
    more bytes are needed; raises ProtocolError on malformed input."""
    eol = buf.find(b"\r\n", pos, pos + HEADER_MAX + 2)
    if eol < 0:
        if len(buf) - pos > HEADER_MAX:
            raise ProtocolError("header: line too long", base_offset + pos)
        bare = buf.find(b"\n", pos)
        if bare >= 0:
            raise ProtocolError("header: bare CR or LF without CR", base_offset + bare)
        return None
    line = bytes(buf[pos:eol])
    if b"\n" in line or b"\r" in line:
        raise ProtocolError("header: bare CR or LF without CR", base_offset + pos)
    toks = line.split(b" ")
    kw = toks[0]
    off = base_offset + pos
    if kw == b"SEQ":
        if len(toks) != 4:
            raise ProtocolError("header: SEQ needs 3 fields", off)
        ch = _num(toks[1], MAX_NUMBER, "channel", off)
        ack = _num(toks[2], MAX_SEQNO, "ackno", off)
        win = _num(toks[3], MAX_NUMBER, "window", off)
        used = eol + 2 - pos
        return Frame("SEQ", ch, ackno=ack, window=win, raw=bytes(buf[pos:eol + 2])), used
    try:
        kws = kw.decode("ascii")
    except UnicodeDecodeError:
        kws = None
    if kws not in FRAME_TYPES:
        raise ProtocolError("header: unknown keyword %r" % kw[:16], off)
    want = 7 if kws == "ANS" else 6
    if len(toks) != want:
        raise ProtocolError("header: %s needs %d fields, got %d" % (kws, want - 1, len(toks) - 1), off)
    ch = _num(toks[1], MAX_NUMBER, "channel", off)
    msgno = _num(toks[2], MAX_NUMBER, "msgno", off)
    if toks[3] not in (b".", b"*"):
        raise ProtocolError("header: bad continuation %r" % toks[3], off)
    more = toks[3] == b"*"
    seqno = _num(toks[4], MAX_SEQNO, "seqno", off)
    size = _num(toks[5], MAX_NUMBER, "size", off)
    ansno = _num(toks[6], MAX_NUMBER, "ansno", off) if kws == "ANS" else None
    if kws == "NUL" and (size != 0 or more):
        raise ProtocolError("header: NUL with size or '*'", off)
    start = eol + 2
    end = start + size
    if len(buf) < end + 5:
        # check what we already have of the trailer
        have = bytes(buf[end:end + 5]) if len(buf) > end else b""
        if have and not b"END\r\n".startswith(have):
            raise ProtocolError("trailer: expected END\\r\\n", base_offset + end)
        return None
    if bytes(buf[end:end + 5]) != b"END\r\n":
        raise ProtocolError("trailer: expected END\\r\\n", base_offset + end)
    fr = Frame(kws, ch, msgno, more, seqno, bytes(buf[start:end]), ansno=ansno,
               raw=bytes(buf[pos:end + 5]))
    return fr, end + 5 - pos


def read_frames(sock, timeout=5.0, limit=1 << 22, until_close=True):
    """Reads from sock until EOF (or until idle for `timeout`) and returns
    (frames, rest, closed): every complete frame, the bytes that did not form
    one, and whether the peer closed.  A parse error stops parsing: the bad
    bytes end up in rest."""
    sock.settimeout(timeout)
    data = bytearray()
    closed = False
    while len(data) < limit:
        try:
            d = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not d:
            closed = True
            break
        data += d
        if not until_close:
            break
    frames = []
    pos = 0
    while True:
        try:
            r = parse_frame(data, pos)
        except ProtocolError:
            break
        if r is None:
            break
        frames.append(r[0])
        pos += r[1]
    return frames, bytes(data[pos:]), closed


# --------------------------------------------------------------------------
# MIME (RFC 3080 sec. 2.2.2)

def mime(body, content_type=None, headers=None):
    """A message payload: optional MIME headers, CRLF, body."""
    if isinstance(body, str):
        body = body.encode()
    h = b""
    if content_type:
        h += b"Content-Type: " + content_type.encode() + b"\r\n"
    for k, v in (headers or {}).items():
        h += ("%s: %s\r\n" % (k, v)).encode()
    return h + b"\r\n" + body


def mime_split(payload):
    """Returns (headers dict with lower-case names, body).  A payload without
    the blank line is taken as body only (lenient)."""
    if payload.startswith(b"\r\n"):
        return {}, payload[2:]
    i = payload.find(b"\r\n\r\n")
    if i < 0:
        return {}, payload
    headers = {}
    for line in payload[:i].split(b"\r\n"):
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    return headers, payload[i + 4:]


# --------------------------------------------------------------------------
# Channel-0 XML (RFC 3080 sec. 2.3)

def xattr(v):
    return (str(v).replace("&", "&amp;").replace("<", "&lt;").replace("'", "&apos;")
            .replace('"', "&quot;"))


def xtext(v):
    return str(v).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cdata(s):
    """Wraps s in CDATA sections (splitting any ']]>' inside)."""
    return "<![CDATA[" + s.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def greeting_xml(profiles=(), features=None, localize=None):
    a = ""
    if features:
        a += " features='%s'" % xattr(features)
    if localize:
        a += " localize='%s'" % xattr(localize)
    if not profiles:
        return "<greeting%s />" % a
    return "<greeting%s>%s</greeting>" % (a, "".join("<profile uri='%s' />" % xattr(u) for u in profiles))


def profile_xml(uri, content=None, encoding=None):
    """<profile> for <start> or its reply; content (str or bytes) is
    piggybacked: base64 when encoding='base64', else in CDATA."""
    if content is None:
        return "<profile uri='%s' />" % xattr(uri)
    if isinstance(content, bytes):
        if encoding == "base64":
            return "<profile uri='%s' encoding='base64'>%s</profile>" % (
                xattr(uri), base64.b64encode(content).decode())
        content = content.decode()
    if encoding == "base64":
        return "<profile uri='%s' encoding='base64'>%s</profile>" % (
            xattr(uri), base64.b64encode(content.encode()).decode())
    return "<profile uri='%s'>%s</profile>" % (xattr(uri), cdata(content))


def start_xml(number, profiles, server_name=None):
    """profiles: uris, or (uri, content[, encoding]) tuples."""
    ps = []
    for p in profiles:
        if isinstance(p, str):
            ps.append(profile_xml(p))
        else:
            ps.append(profile_xml(*p))
    sn = " serverName='%s'" % xattr(server_name) if server_name else ""
    return "<start number='%d'%s>%s</start>" % (number, sn, "".join(ps))


def close_xml(number, code=200, text=None):
    if text:
        return "<close number='%d' code='%d'>%s</close>" % (number, code, xtext(text))
    return "<close number='%d' code='%d' />" % (number, code)


def ok_xml():
    return "<ok />"


def error_xml(code, text=None):
    if text:
        return "<error code='%d'>%s</error>" % (int(code), xtext(text))
    return "<error code='%d' />" % int(code)


def parse_xml(body):
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    try:
        return ET.fromstring(body.strip())
    except ET.ParseError as e:
        raise ProtocolError("bad XML: %s: %r" % (e, body[:200]))


def parse_error(body):
    """(code:int, text) from an <error> element; raises ProtocolError otherwise."""
    el = body if isinstance(body, ET.Element) else parse_xml(body)
    if el.tag != "error":
        raise ProtocolError("expected <error>, got <%s>" % el.tag)
    code = el.get("code")
    if code is None or not re.fullmatch(r"[1-5][0-9][0-9]", code):
        raise ProtocolError("bad error code %r" % code)
    return int(code), (el.text or "").strip()


def profile_content(el):
    """Decoded piggybacked content (str) of a <profile> element, or None."""
    text = el.text
    if text is None or not text.strip():
        return None
    if el.get("encoding") == "base64":
        return base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
    return text.strip()


class Greeting:
    def __init__(self, profiles, features=None, localize=None, raw=b""):
        self.profiles = profiles
        self.features = features
        self.localize = localize
        self.raw = raw

    def __repr__(self):
        return "<Greeting %r>" % (self.profiles,)


class Message:
    """A complete message (all its frames)."""

    def __init__(self, type, channel, msgno, ansno=None):
        self.type = type
        self.channel = channel
        self.msgno = msgno
        self.ansno = ansno
        self.parts = []
        self.frames = 0

    @property
    def payload(self):
        return b"".join(self.parts)

    @property
    def headers(self):
        return mime_split(self.payload)[0]

    @property
    def body(self):
        return mime_split(self.payload)[1]

    def xml(self):
        return parse_xml(self.body)

    def __repr__(self):
        return "<Message %s ch=%d msgno=%d len=%d frames=%d>" % (
            self.type, self.channel, self.msgno, len(self.payload), self.frames)


class StartResult:
    def __init__(self, ok, channel=None, uri=None, content=None, code=None, text=None, reply=None):
        self.ok = ok
        self.channel = channel
        self.uri = uri
        self.content = content
        self.code = code
        self.text = text
        self.reply = reply

    def __repr__(self):
        if self.ok:
            return "<StartResult ok ch=%s uri=%s content=%r>" % (self.channel, self.uri, self.content)
        return "<StartResult error %s %r>" % (self.code, self.text)


class Channel:
    def __init__(self, number, uri=None, recv_window=INITIAL_WINDOW):
        self.number = number
        self.uri = uri
        self.send_seq = 0            # next seqno we send
        self.peer_ack = 0            # from the peer's last SEQ
        self.peer_window = INITIAL_WINDOW
        self.recv_seq = 0            # next seqno we expect
        self.recv_window = recv_window
        self.adv_limit = INITIAL_WINDOW   # ackno + window we last advertised
        self.next_msgno = 1 if number == 0 else 0
        self.awaiting = deque()      # msgnos we sent and await a reply for
        self.handler = None          # profile instance (serve loop)

    def send_room(self):
        return (self.peer_ack + self.peer_window - self.send_seq) % (2 ** 32)


# --------------------------------------------------------------------------
# Session

class Session:
    """One BEEP session over a connected TCP socket.

    role 'initiator' starts odd channels, 'listener' even ones.  The greeting
    is sent at once (never waiting for the peer's).  Every data frame consumed
    is acknowledged with a SEQ (suppressed while `hold_seq` is set, e.g. while
    awaiting a TUNNEL <ok/> after which the stream is no longer BEEP).
    Outgoing messages are split into frames of at most `max_frame` octets and
    never beyond the window the peer advertised."""

    def __init__(self, sock, role="initiator", profiles=(), timeout=DEFAULT_TIMEOUT,
                 send_greeting=True, initial_data=b"", recv_window=INITIAL_WINDOW,
                 max_frame=4096, features=None, localize=None, greeting_error=None,
                 strict=True):
        assert role in ("initiator", "listener")
        self.sock = sock
        self.role = role
        self.timeout = timeout
        self.recv_window = recv_window
        self.max_frame = max_frame
        self.strict = strict
        self.local_profiles = list(profiles)
        self.features = features
        self.localize = localize
        self.rbuf = bytearray(initial_data)
        self.stream_offset = 0       # octets consumed from the peer (this session)
        self.hold_seq = False
        self.held_seqs = set()
        self.frames_in = []          # log of every frame received (type, ch, size)
        self.seq_sent = 0
        self.seq_received = 0
        self.authenticated = None    # identity set by a SASL server profile
        self.closed = False
        self.stop_serving = False
        self.lock = threading.Lock()
        self._reset_state()
        sock.settimeout(timeout)
        if send_greeting:
            if greeting_error:
                self.send_message("ERR", 0, 0, self.xml_payload(error_xml(*greeting_error)))
            else:
                self.send_greeting()

    def _reset_state(self):
        self.channels = {0: Channel(0, recv_window=self.recv_window)}
        self.partial = {}
        self.inbox = deque()
        self.peer_greeting = None
        self.peer_greeting_error = None
        self.next_channel = 1 if self.role == "initiator" else 2

    # -- low level ---------------------------------------------------------
    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def recv_raw(self, timeout=2.0, maxlen=1 << 20):
        """Buffered bytes first, else whatever arrives within timeout (b'' on EOF)."""
        if self.rbuf:
            d = bytes(self.rbuf[:maxlen])
            del self.rbuf[:len(d)]
            return d
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(maxlen)
        finally:
            self.sock.settimeout(self.timeout)

    def take_leftover(self):
        """Bytes received but not parsed; empties the buffer."""
        d = bytes(self.rbuf)
        self.rbuf.clear()
        return d

    def _fill(self):
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("BEEP peer silent for %.1fs" % self.timeout)
        except ConnectionResetError:
            d = b""
        if not d:
            self.closed = True
            raise ConnectionClosed("peer closed the connection (%d octets unparsed)" % len(self.rbuf))
        self.rbuf += d

    def read_frame(self):
        """Reads and processes exactly one frame (SEQ included) and returns it."""
        while True:
            r = parse_frame(self.rbuf, 0, self.stream_offset)
            if r is not None:
                break
            self._fill()
        fr, used = r
        del self.rbuf[:used]
        self.stream_offset += used
        self._process(fr)
        return fr

    def _chan(self, number):
        ch = self.channels.get(number)
        if ch is None:
            if self.strict:
                raise ProtocolError("frame for channel %d which is not open" % number)
            ch = self.channels[number] = Channel(number, recv_window=self.recv_window)
        return ch

    def _process(self, fr):
        self.frames_in.append((fr.type, fr.channel, fr.size))
        if fr.type == "SEQ":
            self.seq_received += 1
            ch = self.channels.get(fr.channel)
            if ch is None:
                if self.strict:
                    raise ProtocolError("SEQ for channel %d which is not open" % fr.channel)
                return
            if self.strict and (ch.send_seq - fr.ackno) % (2 ** 32) > (ch.send_seq - ch.peer_ack) % (2 ** 32):
                raise ProtocolError("SEQ ackno %d outside [%d, %d]" % (fr.ackno, ch.peer_ack, ch.send_seq))
            ch.peer_ack = fr.ackno
            ch.peer_window = fr.window
            return
        ch = self._chan(fr.channel)
        if self.strict:
            if fr.seqno != ch.recv_seq:
                raise ProtocolError("channel %d: seqno %d, expected %d" % (fr.channel, fr.seqno, ch.recv_seq))
            over = (fr.seqno + fr.size - ch.adv_limit) % (2 ** 32)
            if fr.size and 0 < over < 2 ** 31:
                raise ProtocolError("channel %d: frame [%d, +%d) exceeds the advertised window"
                                    " ending at %d" % (fr.channel, fr.seqno, fr.size, ch.adv_limit))
        ch.recv_seq = (fr.seqno + fr.size) % (2 ** 32)
        if fr.size:
            if self.hold_seq:
                self.held_seqs.add(fr.channel)
            else:
                self._send_seq(ch)
        key = (fr.channel, fr.type if fr.type in ("ANS", "NUL") else "M/R", fr.msgno, fr.ansno)
        m = self.partial.get(key)
        if m is None:
            if self.strict and fr.type in ("ANS", "NUL"):
                for k in self.partial:
                    if k[0] == fr.channel and k[2] == fr.msgno and k[1] == "M/R":
                        raise ProtocolError("ANS/NUL interleaved with RPY/ERR")
            m = self.partial[key] = Message(fr.type, fr.channel, fr.msgno, fr.ansno)
        elif self.strict and m.type != fr.type:
            raise ProtocolError("channel %d msgno %d: %s frame continues a %s message"
                                % (fr.channel, fr.msgno, fr.type, m.type))
        m.parts.append(fr.payload)
        m.frames += 1
        if fr.more:
            return
        del self.partial[key]
        self._deliver(m)

    def _deliver(self, m):
        if m.channel == 0 and m.msgno == 0 and m.type in ("RPY", "ERR") and \
                self.peer_greeting is None and self.peer_greeting_error is None:
            self._on_greeting(m)
            return
        if m.type in ("RPY", "ERR", "NUL"):
            ch = self.channels[m.channel]
            if self.strict:
                if not ch.awaiting or ch.awaiting[0] != m.msgno:
                    raise ProtocolError("channel %d: %s %d is not a reply to the oldest MSG (%s)"
                                        % (m.channel, m.type, m.msgno, list(ch.awaiting)))
            if ch.awaiting and ch.awaiting[0] == m.msgno:
                ch.awaiting.popleft()
        self.inbox.append(m)

    def _on_greeting(self, m):
        if m.type == "ERR":
            self.peer_greeting_error = parse_error(m.body) + (m.payload,)
            return
        h = m.headers
        if self.strict and h.get("content-type", "").split(";")[0].strip().lower() != BEEP_XML:
            raise ProtocolError("greeting without Content-Type: application/beep+xml (%r)" % h)
        el = m.xml()
        if el.tag != "greeting":
            raise ProtocolError("expected <greeting>, got <%s>" % el.tag)
        self.peer_greeting = Greeting([p.get("uri") for p in el.findall("profile")],
                                      el.get("features"), el.get("localize"), m.payload)

    def _send_seq(self, ch):
        # never move the right edge of the window back: the peer may already
        # have sent up to what we advertised before
        room = (ch.adv_limit - ch.recv_seq) % (2 ** 32)
        window = max(ch.recv_window, room if room < 2 ** 31 else 0)
        self.sock.sendall(build_seq(ch.number, ch.recv_seq, window))
        ch.adv_limit = (ch.recv_seq + window) % (2 ** 32)
        self.seq_sent += 1

    def release_seq(self):
        """Sends the SEQ frames held back while hold_seq was set."""
        self.hold_seq = False
        for n in sorted(self.held_seqs):
            if n in self.channels:
                self._send_seq(self.channels[n])
        self.held_seqs.clear()

    # -- sending -----------------------------------------------------------
    def encode_message(self, type, channel, msgno, payload, ansno=None):
        """Frames a message that fits in the current window without sending it
        (for writing several things in one sendall); updates seqnos."""
        ch = self.channels[channel]
        if len(payload) > ch.send_room():
            raise ProtocolError("message of %d octets does not fit the window (%d)"
                                % (len(payload), ch.send_room()))
        fr = build_frame(type, channel, msgno, ch.send_seq, payload, ansno=ansno)
        ch.send_seq = (ch.send_seq + len(payload)) % (2 ** 32)
        return fr

    def send_message(self, type, channel, msgno, payload, ansno=None, max_frame=None):
        """Sends a message split into frames within the peer's window; while the
        window is closed it reads (and queues) incoming frames until a SEQ opens it."""
        if isinstance(payload, str):
            payload = payload.encode()
        ch = self.channels[channel]
        mf = max_frame or self.max_frame
        view = memoryview(payload)
        pos = 0
        while True:
            room = ch.send_room()
            n = min(room, mf, len(payload) - pos)
            if n == 0 and len(payload) > pos:
                self.read_frame()             # wait for a SEQ
                continue
            last = pos + n >= len(payload)
            fr = build_frame(type, channel, msgno, ch.send_seq, bytes(view[pos:pos + n]),
                             more=not last, ansno=ansno)
            ch.send_seq = (ch.send_seq + n) % (2 ** 32)
            self.sock.sendall(fr)
            pos += n
            if last:
                return

    def xml_payload(self, xml):
        return mime(xml, BEEP_XML)

    def send_greeting(self, profiles=None):
        self.send_message("RPY", 0, 0, self.xml_payload(greeting_xml(
            self.local_profiles if profiles is None else profiles, self.features, self.localize)))

    def msg(self, channel, payload):
        """Sends a MSG and returns its msgno (the reply is read by wait_reply)."""
        ch = self.channels[channel]
        msgno = ch.next_msgno
        ch.next_msgno = (ch.next_msgno + 1) % (MAX_NUMBER + 1)
        ch.awaiting.append(msgno)
        self.send_message("MSG", channel, msgno, payload)
        return msgno

    def reply(self, m, payload, type="RPY"):
        self.send_message(type, m.channel, m.msgno, payload)

    # -- receiving ---------------------------------------------------------
    def next_message(self, pred=None):
        """Returns the first queued (or next arriving) message matching pred."""
        while True:
            for i, m in enumerate(self.inbox):
                if pred is None or pred(m):
                    del self.inbox[i]
                    return m
            self.read_frame()

    def wait_reply(self, channel, msgno):
        """RPY/ERR message, or for ANS the list of ANS messages until NUL
        (returned as a Message of type 'ANS' whose .answers holds them)."""
        answers = []
        while True:
            m = self.next_message(lambda x: x.channel == channel and x.msgno == msgno
                                  and x.type != "MSG")
            if m.type in ("RPY", "ERR"):
                return m
            if m.type == "ANS":
                answers.append(m)
                continue
            m.answers = answers
            return m

    def request(self, channel, payload):
        return self.wait_reply(channel, self.msg(channel, payload))

    def wait_greeting(self):
        """The peer's Greeting; raises ErrorReply if it sent an ERR instead."""
        while self.peer_greeting is None and self.peer_greeting_error is None:
            self.read_frame()
        if self.peer_greeting_error:
            raise ErrorReply(*self.peer_greeting_error)
        return self.peer_greeting

    # -- channel management ------------------------------------------------
    def start_channel(self, profiles, number=None, server_name=None):
        """Sends <start>; profiles are uris or (uri, content[, encoding]).
        Returns a StartResult (ok with the chosen uri and any piggybacked
        reply content, or the error code/text)."""
        if isinstance(profiles, str):
            profiles = [profiles]
        if number is None:
            number = self.next_channel
            self.next_channel += 2
        reply = self.request(0, self.xml_payload(start_xml(number, profiles, server_name)))
        return self._start_result(reply, number)

    def _start_result(self, reply, number):
        if reply.type == "ERR":
            code, text = parse_error(reply.body)
            return StartResult(False, code=code, text=text, reply=reply)
        el = reply.xml()
        if el.tag == "error":   # lenient: an error in an RPY
            code, text = parse_error(el)
            return StartResult(False, code=code, text=text, reply=reply)
        if el.tag != "profile":
            raise ProtocolError("reply to <start> is <%s>" % el.tag)
        uri = el.get("uri")
        self.channels[number] = Channel(number, uri, self.recv_window)
        return StartResult(True, number, uri, profile_content(el), reply=reply)

    def close_channel(self, number, code=200, text=None):
        """Returns (True, None) on <ok/>, or (False, (code, text))."""
        reply = self.request(0, self.xml_payload(close_xml(number, code, text)))
        if reply.type == "ERR":
            return False, parse_error(reply.body)
        el = reply.xml()
        if el.tag != "ok":
            raise ProtocolError("reply to <close> is <%s>" % el.tag)
        if number != 0:
            self.channels.pop(number, None)
        return True, None

    def reset(self, send_greeting=True, profiles=None):
        """Tuning reset: all channels closed, a new greeting sent."""
        self._reset_state()
        if profiles is not None:
            self.local_profiles = list(profiles)
        if send_greeting:
            self.send_greeting()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- serving profiles --------------------------------------------------
    HANDLED = object()

    def serve(self, profiles, on_error=None):
        """Serves until the peer closes (or a handler sets stop_serving).
        profiles: {uri: factory}; factory() returns an object with optional
        on_start(session, channel, content, start_msg) -> None (plain accept),
        str (piggybacked reply content), Session.HANDLED (it replied itself);
        raising ErrorReply refuses the start; and
        on_message(session, message) that replies."""
        try:
            while not self.stop_serving:
                m = self.next_message(lambda x: x.type == "MSG")
                if m.channel == 0:
                    self._serve_ch0(m, profiles)
                else:
                    h = self.channels[m.channel].handler
                    if h is None or not hasattr(h, "on_message"):
                        self.reply(m, self.xml_payload(error_xml(501, "no handler")), "ERR")
                    else:
                        h.on_message(self, m)
        except ConnectionClosed:
            return
        except (ProtocolError, OSError) as e:
            if on_error:
                on_error(e)
            return

    def _serve_ch0(self, m, profiles):
        try:
            el = m.xml()
        except ProtocolError:
            self.reply(m, self.xml_payload(error_xml(500, "poorly formed XML")), "ERR")
            return
        if el.tag == "start":
            num = el.get("number")
            if num is None or not num.isdigit() or int(num) > MAX_NUMBER or int(num) == 0:
                self.reply(m, self.xml_payload(error_xml(501, "bad channel number")), "ERR")
                return
            num = int(num)
            if num in self.channels:
                self.reply(m, self.xml_payload(error_xml(550, "channel in use")), "ERR")
                return
            own_parity = 1 if self.role == "initiator" else 0
            if num % 2 == own_parity:
                self.reply(m, self.xml_payload(error_xml(501, "wrong channel parity")), "ERR")
                return
            for p in el.findall("profile"):
                uri = p.get("uri")
                if uri in profiles:
                    try:
                        content = profile_content(p)
                    except (ValueError, UnicodeDecodeError):
                        self.reply(m, self.xml_payload(error_xml(501, "bad profile content")), "ERR")
                        return
                    h = profiles[uri]()
                    ch = self.channels[num] = Channel(num, uri, self.recv_window)
                    ch.handler = h
                    try:
                        r = h.on_start(self, num, content, m) if hasattr(h, "on_start") else None
                    except ErrorReply as e:
                        self.channels.pop(num, None)
                        self.reply(m, self.xml_payload(error_xml(e.code, e.text)), "ERR")
                        return
                    if r is Session.HANDLED:
                        return
                    self.reply(m, self.xml_payload(profile_xml(uri, r)))
                    return
            self.reply(m, self.xml_payload(error_xml(550, "no profile available")), "ERR")
        elif el.tag == "close":
            num = int(el.get("number", "0"))
            self.reply(m, self.xml_payload(ok_xml()))
            if num == 0:
                self.stop_serving = True
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            else:
                self.channels.pop(num, None)
        else:
            self.reply(m, self.xml_payload(error_xml(500, "unexpected <%s>" % el.tag)), "ERR")


def connect(host, port, timeout=DEFAULT_TIMEOUT):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(timeout)
    return s


def open_session(host, port, profiles=(), timeout=DEFAULT_TIMEOUT, wait_greeting=True, **kw):
    """Connects as initiator, sends our greeting at once, optionally waits
    for the peer's.  Returns the Session (its .peer_greeting is set)."""
    s = Session(connect(host, port, timeout), "initiator", profiles, timeout, **kw)
    if wait_greeting:
        s.wait_greeting()
    return s


# --------------------------------------------------------------------------
# Profiles for the serve loop

class EchoProfile:
    """Replies to every MSG with an RPY carrying the same payload."""
    uri = ECHO_URI

    def __init__(self):
        self.received = 0

    def on_start(self, sess, channel, content, m):
        return content   # piggybacked content is echoed too

    def on_message(self, sess, m):
        self.received += len(m.payload)
        sess.reply(m, m.payload)


class TunnelResponder:
    """Answers TUNNEL starts like a final BEEP peer (RFC 3620 sec. 4).

    reply: 'ok' or 'error'; error=(code, text); delay: seconds before the
    reply; one_write: <ok/> RPY, the new greeting and `extra` octets in ONE
    sendall; after_ok: 'greeting' (tuning reset, keep serving BEEP),
    'close', or callable(sock, leftover) taking over the raw socket;
    require_auth: refuse with 530 until a SASL profile authenticated;
    piggy_error: 'err' (ERR on channel 0) or 'profile' (error in the RPY's
    <profile>) for refused piggybacked requests.
    Every received tunnel element (text) is appended to `log` with where it
    came: ('start'|'channel', xml text)."""
    uri = TUNNEL_URI

    def __init__(self, reply="ok", error=(537, "tunnel refused by test peer"), delay=0.0,
                 one_write=False, extra=b"", after_ok="greeting", require_auth=False,
                 piggy_error="err", new_profiles=None, log=None):
        self.cfg = dict(reply=reply, error=error, delay=delay, one_write=one_write, extra=extra,
                        after_ok=after_ok, require_auth=require_auth, piggy_error=piggy_error,
                        new_profiles=new_profiles)
        self.log = [] if log is None else log

    def __call__(self):
        return _TunnelChannel(self.cfg, self.log)


class _TunnelChannel:
    def __init__(self, cfg, log):
        self.cfg = cfg
        self.log = log

    def _decide(self, sess, text):
        try:
            el = parse_xml(text)
        except ProtocolError:
            return (500, "poorly formed tunnel element")
        if el.tag != "tunnel":
            return (500, "expected <tunnel>")
        if self.cfg["require_auth"] and not sess.authenticated:
            return (530, "authentication required")
        if self.cfg["delay"]:
            time.sleep(self.cfg["delay"])
        if self.cfg["reply"] != "ok":
            return tuple(self.cfg["error"])
        return None

    def on_start(self, sess, channel, content, m):
        if content is None:
            return None
        self.log.append(("start", content))
        err = self._decide(sess, content)
        if err:
            sess.channels.pop(channel, None)
            if self.cfg["piggy_error"] == "profile":
                sess.reply(m, sess.xml_payload(profile_xml(TUNNEL_URI, error_xml(*err))))
            else:
                sess.reply(m, sess.xml_payload(error_xml(*err)), "ERR")
            return Session.HANDLED
        ok = sess.encode_message("RPY", 0, m.msgno, sess.xml_payload(profile_xml(TUNNEL_URI, ok_xml())))
        self._after(sess, ok)
        return Session.HANDLED

    def on_message(self, sess, m):
        text = m.body.decode("utf-8", "replace")
        self.log.append(("channel", text))
        err = self._decide(sess, text)
        if err:
            sess.reply(m, sess.xml_payload(error_xml(*err)), "ERR")
            return
        ok = sess.encode_message("RPY", m.channel, m.msgno, sess.xml_payload(ok_xml()))
        self._after(sess, ok)

    def _after(self, sess, ok_bytes):
        after = self.cfg["after_ok"]
        if after == "greeting":
            profiles = self.cfg["new_profiles"]
            if self.cfg["one_write"]:
                sess.reset(send_greeting=False, profiles=profiles)
                greet = sess.encode_message("RPY", 0, 0, sess.xml_payload(greeting_xml(
                    sess.local_profiles, sess.features, sess.localize)))
                sess.sock.sendall(ok_bytes + greet + self.cfg["extra"])
            else:
                sess.sock.sendall(ok_bytes)
                sess.reset(send_greeting=True, profiles=profiles)
                if self.cfg["extra"]:
                    sess.sock.sendall(self.cfg["extra"])
            # the peer's own new greeting is parsed by the fresh state
            sess.stream_offset = 0
        elif after == "close":
            sess.sock.sendall(ok_bytes + self.cfg["extra"])
            sess.stop_serving = True
            try:
                sess.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        else:
            sess.sock.sendall(ok_bytes + self.cfg["extra"])
            sess.stop_serving = True
            after(sess.sock, sess.take_leftover())


class BeepServer:
    """A threaded BEEP listener on loopback hosting profiles.

    profiles: {uri: factory} (EchoProfile, TunnelResponder(...),
    ScramServerProfile(...) are factories).  greeting_profiles overrides what
    the greeting advertises (default: the profiles' uris).  Counts
    connections; `errors` collects protocol errors seen by sessions."""

    def __init__(self, profiles, host="127.0.0.1", port=0, greeting_profiles=None,
                 timeout=30.0, recv_window=INITIAL_WINDOW, max_frame=4096, greeting_error=None,
                 send_greeting=True):
        self.profiles = profiles
        self.greeting_profiles = list(profiles) if greeting_profiles is None else greeting_profiles
        self.timeout = timeout
        self.recv_window = recv_window
        self.max_frame = max_frame
        self.greeting_error = greeting_error
        self.send_greeting = send_greeting
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.sessions = []
        self.errors = []
        self.lock = threading.Lock()
        self.closing = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.closing:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s = Session(c, "listener", self.greeting_profiles, self.timeout,
                        recv_window=self.recv_window, max_frame=self.max_frame,
                        greeting_error=self.greeting_error, send_greeting=self.send_greeting)
            with self.lock:
                self.sessions.append(s)
            if self.greeting_error:
                time.sleep(0.2)
                return
            s.serve(self.profiles, on_error=self.errors.append)
        except (OSError, ProtocolError) as e:
            self.errors.append(e)
        finally:
            try:
                c.close()
            except OSError:
                pass

    def close(self):
        self.closing = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            for s in self.sessions:
                s.close()


# --------------------------------------------------------------------------
# SASL (RFC 3080 sec. 4.1, RFC 4422) with SCRAM (RFC 5802)

def blob_xml(data=None, status=None):
    """<blob> with base64 data (bytes) and an optional status."""
    st = " status='%s'" % status if status else ""
    if data is None:
        return "<blob%s />" % st
    return "<blob%s>%s</blob>" % (st, base64.b64encode(data).decode())


def parse_blob(el):
    """(status, decoded bytes or None) from a <blob> element (or XML text)."""
    if not isinstance(el, ET.Element):
        el = parse_xml(el)
    if el.tag != "blob":
        raise ProtocolError("expected <blob>, got <%s>" % el.tag)
    text = "".join((el.text or "").split())
    data = base64.b64decode(text, validate=True) if text else None
    return el.get("status", "continue"), data


def _hash(mech):
    return {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-1": "sha1"}[mech]


def _saslname(s):
    return s.replace("=", "=3D").replace(",", "=2C")


def _unsaslname(s):
    if re.search(r"=(?!2C|3D)", s):
        raise ValueError("bad saslname")
    return s.replace("=2C", ",").replace("=3D", "=")


def _hmac(h, key, msg):
    return hmac.new(key, msg, h).digest()


def scram_keys(mech, password, salt, iterations):
    """(StoredKey, ServerKey, ClientKey, SaltedPassword) per RFC 5802 sec. 3."""
    h = _hash(mech)
    salted = hashlib.pbkdf2_hmac(h, password.encode("utf-8"), salt, iterations)
    ck = _hmac(h, salted, b"Client Key")
    return hashlib.new(h, ck).digest(), _hmac(h, salted, b"Server Key"), ck, salted


def _scram_attrs(msg):
    out = {}
    for part in msg.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ValueError("bad SCRAM attribute %r" % part)
        out.setdefault(part[0], part[2:])
    return out


class ScramClient:
    """Client side of SCRAM (RFC 5802), no channel binding ('n' flag)."""

    def __init__(self, mech, user, password, authzid=None, cnonce=None):
        self.mech = mech
        self.h = _hash(mech)
        self.password = password
        self.gs2 = "n,%s," % ("a=" + _saslname(authzid) if authzid else "")
        self.cnonce = cnonce or base64.b64encode(secrets.token_bytes(18)).decode()
        self.first_bare = "n=%s,r=%s" % (_saslname(user), self.cnonce)
        self.server_sig = None

    def first(self):
        return (self.gs2 + self.first_bare).encode()

    def final(self, server_first):
        sf = server_first.decode("utf-8")
        a = _scram_attrs(sf)
        if "e" in a:
            raise ErrorReply(535, "server error " + a["e"])
        nonce, salt, it = a["r"], base64.b64decode(a["s"]), int(a["i"])
        if not nonce.startswith(self.cnonce) or len(nonce) == len(self.cnonce):
            raise ProtocolError("SCRAM server nonce does not extend ours")
        if it < 1:
            raise ProtocolError("SCRAM iteration count %d" % it)
        without_proof = "c=%s,r=%s" % (base64.b64encode(self.gs2.encode()).decode(), nonce)
        auth_msg = ",".join((self.first_bare, sf, without_proof)).encode()
        stored, server_key, ck, _ = scram_keys(self.mech, self.password, salt, it)
        sig = _hmac(self.h, stored, auth_msg)
        proof = bytes(x ^ y for x, y in zip(ck, sig))
        self.server_sig = _hmac(self.h, server_key, auth_msg)
        return ("%s,p=%s" % (without_proof, base64.b64encode(proof).decode())).encode()

    def verify(self, server_final):
        """True when v= matches the expected ServerSignature."""
        a = _scram_attrs(server_final.decode("utf-8"))
        if "e" in a or "v" not in a:
            return False
        try:
            v = base64.b64decode(a["v"], validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(v, self.server_sig)


class ScramServer:
    """Server side of SCRAM for one user (fixed salt and iterations).
    forge=True sends a wrong ServerSignature (a next hop the relay must not
    trust)."""

    def __init__(self, mech, user, password, salt=b"beepgate-test-salt", iterations=4096,
                 forge=False, snonce=None):
        self.mech = mech
        self.h = _hash(mech)
        self.user = user
        self.stored, self.server_key, _, _ = scram_keys(mech, password, salt, iterations)
        self.salt = salt
        self.iterations = iterations
        self.forge = forge
        self.snonce = snonce or base64.b64encode(secrets.token_bytes(18)).decode()
        self.state = "first"
        self.authzid = None
        self.authcid = None

    def step(self, data):
        """Returns ('continue', challenge) / ('complete', server-final) /
        ('fail', reason)."""
        try:
            if self.state == "first":
                return self._first(data.decode("utf-8"))
            if self.state == "final":
                return self._final(data.decode("utf-8"))
        except (ValueError, KeyError, UnicodeDecodeError) as e:
            self.state = "done"
            return "fail", "malformed: %s" % e
        return "fail", "exchange already finished"

    def _first(self, msg):
        flag, authz, bare = msg.split(",", 2)
        if flag not in ("n", "y"):
            raise ValueError("channel binding not supported")
        if authz and not authz.startswith("a="):
            raise ValueError("bad authzid")
        self.gs2 = "%s,%s," % (flag, authz)
        self.authzid = _unsaslname(authz[2:]) if authz else None
        a = _scram_attrs(bare)
        self.authcid = _unsaslname(a["n"])
        self.nonce = a["r"] + self.snonce
        self.first_bare = bare
        self.server_first = "r=%s,s=%s,i=%d" % (self.nonce, base64.b64encode(self.salt).decode(),
                                               self.iterations)
        self.state = "final"
        return "continue", self.server_first.encode()

    def _final(self, msg):
        self.state = "done"
        without_proof, _, p = msg.rpartition(",p=")
        a = _scram_attrs(without_proof)
        if base64.b64decode(a["c"]).decode() != self.gs2:
            return "fail", "channel binding mismatch"
        if a["r"] != self.nonce:
            return "fail", "nonce mismatch"
        auth_msg = ",".join((self.first_bare, self.server_first, without_proof)).encode()
        proof = base64.b64decode(p, validate=True)
        sig = _hmac(self.h, self.stored, auth_msg)
        ck = bytes(x ^ y for x, y in zip(proof, sig))
        if self.authcid != self.user or len(proof) != len(sig) or \
                not hmac.compare_digest(hashlib.new(self.h, ck).digest(), self.stored):
            return "fail", "authentication failure"
        ss = _hmac(self.h, self.server_key, auth_msg)
        if self.forge:
            ss = bytes([ss[0] ^ 0x01]) + ss[1:]
        return "complete", ("v=" + base64.b64encode(ss).decode()).encode()


class ScramServerProfile:
    """Serve-loop factory for http://iana.org/beep/SASL/SCRAM-SHA-256 (or -1):
    a next hop that authenticates the relay.  On success the session's
    .authenticated is set to the user.  `log` records (user, outcome)."""

    def __init__(self, user="relay", password="relay-secret", salt=b"beepgate-test-salt",
                 iterations=4096, forge=False, mech="SCRAM-SHA-256", log=None):
        self.args = (mech, user, password, salt, iterations, forge)
        self.uri = SASL_URI + mech
        self.log = [] if log is None else log

    def __call__(self):
        return _ScramChannel(ScramServer(*self.args), self.log)


class _ScramChannel:
    def __init__(self, server, log):
        self.srv = server
        self.log = log

    def _answer(self, status, data):
        if status == "continue":
            return blob_xml(data), None
        if status == "complete":
            return blob_xml(data, "complete"), None
        return None, data

    def on_start(self, sess, channel, content, m):
        if content is None:
            return None
        _, data = parse_blob(content)
        st, out = self.srv.step(data or b"")
        xml, fail = self._answer(st, out)
        if fail:
            self.log.append((self.srv.authcid, "fail"))
            return error_xml(535, "authentication failure")
        return xml

    def on_message(self, sess, m):
        try:
            status, data = parse_blob(m.xml())
        except (ProtocolError, ValueError):
            sess.reply(m, sess.xml_payload(error_xml(501, "expected <blob>")), "ERR")
            return
        if status == "abort":
            self.log.append((self.srv.authcid, "abort"))
            sess.reply(m, sess.xml_payload(error_xml(535, "aborted")), "ERR")
            return
        st, out = self.srv.step(data or b"")
        if st == "fail":
            self.log.append((self.srv.authcid, "fail"))
            sess.reply(m, sess.xml_payload(error_xml(535, "authentication failure")), "ERR")
            return
        if st == "complete":
            sess.authenticated = self.srv.authzid or self.srv.authcid
            self.log.append((self.srv.authcid, "ok"))
        sess.reply(m, sess.xml_payload(self._answer(st, out)[0]))


class SaslResult:
    def __init__(self, ok, code=None, text=None, channel=None, server_verified=None,
                 mech=None, stage=None):
        self.ok = ok
        self.code = code
        self.text = text
        self.channel = channel
        self.server_verified = server_verified
        self.mech = mech
        self.stage = stage

    def __repr__(self):
        return "<SaslResult ok=%s code=%s text=%r verified=%s stage=%s>" % (
            self.ok, self.code, self.text, self.server_verified, self.stage)


def _sasl_reply(reply):
    """(status, data) or raises ErrorReply from an RPY/ERR on a SASL channel
    or from piggybacked content."""
    if isinstance(reply, Message):
        if reply.type == "ERR":
            raise ErrorReply(*parse_error(reply.body), raw=reply.payload)
        el = reply.xml()
    else:
        el = parse_xml(reply)
    if el.tag == "error":
        raise ErrorReply(*parse_error(el))
    return parse_blob(el)


def sasl_login(sess, mech, user=None, password=None, authzid=None, trace="test@beepgate",
               piggyback=True, cnonce=None, abort_after_first=False, encoding=None):
    """Authenticates on sess with http://iana.org/beep/SASL/<mech>.
    SCRAM-SHA-256 / SCRAM-SHA-1 verify the server signature (a mismatch gives
    ok=False, server_verified=False, stage='verify'); PLAIN; ANONYMOUS.
    abort_after_first sends <blob status='abort'/> after the first
    challenge.  Returns a SaslResult (never raises for a refusal)."""
    uri = SASL_URI + mech
    if mech.startswith("SCRAM-"):
        cl = ScramClient(mech, user, password, authzid, cnonce)
        first = cl.first()
    elif mech == "PLAIN":
        cl = None
        first = ("%s\0%s\0%s" % (authzid or "", user, password)).encode("utf-8")
    elif mech == "ANONYMOUS":
        cl = None
        first = trace.encode("utf-8")
    else:
        raise ValueError("mechanism %s not supported by the test client" % mech)
    prof = (uri, blob_xml(first), encoding) if piggyback else uri
    r = sess.start_channel([prof])
    if not r.ok:
        return SaslResult(False, r.code, r.text, mech=mech, stage="start")
    ch = r.channel
    try:
        if piggyback:
            if r.content is None:
                return SaslResult(False, text="no piggybacked reply", channel=ch, mech=mech, stage="start")
            status, data = _sasl_reply(r.content)
        else:
            status, data = _sasl_reply(sess.request(ch, sess.xml_payload(blob_xml(first))))
        if cl is None:
            # PLAIN / ANONYMOUS: one step
            if status == "complete":
                return SaslResult(True, channel=ch, mech=mech, stage="complete")
            return SaslResult(False, text="unexpected status %s" % status, channel=ch, mech=mech,
                              stage="first")
        if status != "continue" or data is None:
            return SaslResult(False, text="expected a SCRAM challenge, got status %s" % status,
                              channel=ch, mech=mech, stage="first")
        if abort_after_first:
            try:
                st, _ = _sasl_reply(sess.request(ch, sess.xml_payload(blob_xml(None, "abort"))))
                return SaslResult(False, text="aborted (%s)" % st, channel=ch, mech=mech, stage="abort")
            except ErrorReply as e:
                return SaslResult(False, e.code, e.text, channel=ch, mech=mech, stage="abort")
        final = cl.final(data)
        status, data = _sasl_reply(sess.request(ch, sess.xml_payload(blob_xml(final))))
        if status == "continue" and data is not None:
            verified = cl.verify(data)
            if not verified:
                sess.request(ch, sess.xml_payload(blob_xml(None, "abort")))
                return SaslResult(False, text="server signature mismatch", channel=ch,
                                  server_verified=False, mech=mech, stage="verify")
            status, data = _sasl_reply(sess.request(ch, sess.xml_payload(blob_xml(b""))))
            if status == "complete":
                return SaslResult(True, channel=ch, server_verified=True, mech=mech, stage="complete")
        if status != "complete" or data is None:
            return SaslResult(False, text="no server-final (status %s)" % status, channel=ch,
                              mech=mech, stage="final")
        verified = cl.verify(data)
        if not verified:
            return SaslResult(False, text="server signature mismatch", channel=ch,
                              server_verified=False, mech=mech, stage="verify")
        return SaslResult(True, channel=ch, server_verified=True, mech=mech, stage="complete")
    except ErrorReply as e:
        return SaslResult(False, e.code, e.text, channel=ch, mech=mech, stage="exchange")


# --------------------------------------------------------------------------
# TUNNEL (RFC 3620)

class Tunnel:
    """A <tunnel> element: Tunnel(fqdn='h', port=604, inner=Tunnel()).
    Attributes are emitted in the order given by ATTRS; `extra` adds any
    other attribute (for negative tests)."""
    ATTRS = ("fqdn", "ip4", "ip6", "port", "srv", "profile", "endpoint")

    def __init__(self, fqdn=None, port=None, ip4=None, ip6=None, srv=None, profile=None,
                 endpoint=None, inner=None, extra=None):
        self.attrs = {"fqdn": fqdn, "ip4": ip4, "ip6": ip6, "port": port, "srv": srv,
                      "profile": profile, "endpoint": endpoint}
        self.inner = inner
        self.extra = extra or {}

    def xml(self):
        a = "".join(" %s='%s'" % (k, xattr(self.attrs[k])) for k in self.ATTRS
                    if self.attrs[k] is not None)
        a += "".join(" %s='%s'" % (k, xattr(v)) for k, v in self.extra.items())
        if self.inner is None:
            return "<tunnel%s />" % a
        inner = self.inner.xml() if isinstance(self.inner, Tunnel) else str(self.inner)
        return "<tunnel%s>%s</tunnel>" % (a, inner)

    __str__ = xml


def tunnel_chain(*hops, final_beep=True):
    """Nests hops (dicts of attributes, outermost first); final_beep adds the
    innermost attribute-less <tunnel/> (the final host speaks BEEP)."""
    inner = Tunnel() if final_beep else None
    for h in reversed(hops):
        inner = Tunnel(inner=inner, **h)
    return inner


def parse_tunnel(text):
    """A list of attribute dicts, outermost first (for checking what a relay
    forwarded)."""
    el = parse_xml(text)
    out = []
    while el is not None:
        if el.tag != "tunnel":
            raise ProtocolError("expected <tunnel>, got <%s>" % el.tag)
        out.append(dict(el.attrib))
        kids = list(el)
        if len(kids) > 1:
            raise ProtocolError("more than one nested <tunnel>")
        el = kids[0] if kids else None
    return out


class TunnelResult:
    def __init__(self, ok, code=None, text=None, sock=None, leftover=b"", channel=None,
                 reply=None, piggyback=None):
        self.ok = ok
        self.code = code
        self.text = text
        self.sock = sock
        self.leftover = leftover
        self.channel = channel
        self.reply = reply
        self.piggyback = piggyback

    def __repr__(self):
        if self.ok:
            return "<TunnelResult ok leftover=%d>" % len(self.leftover)
        return "<TunnelResult error %s %r>" % (self.code, self.text)


def tunnel_start(sess, element, piggyback=True, encoding=None):
    """Starts TUNNEL with element (Tunnel or raw XML text).  On <ok/> the
    session is finished as BEEP: the result carries the socket and every
    octet already received after the END\\r\\n of the <ok/> RPY (leftover);
    no SEQ is sent for the frames of that reply.  On error: code and text,
    and the session stays usable."""
    text = element.xml() if isinstance(element, Tunnel) else str(element)
    sess.hold_seq = True
    try:
        if piggyback:
            number = sess.next_channel
            sess.next_channel += 2
            reply = sess.request(0, sess.xml_payload(start_xml(number, [(TUNNEL_URI, text, encoding)])))
            if reply.type == "ERR":
                code, etext = parse_error(reply.body)
                sess.release_seq()
                return TunnelResult(False, code, etext, reply=reply, piggyback=True)
            el = reply.xml()
            if el.tag == "error":
                code, etext = parse_error(el)
                sess.release_seq()
                return TunnelResult(False, code, etext, reply=reply, piggyback=True)
            if el.tag != "profile" or el.get("uri") != TUNNEL_URI:
                raise ProtocolError("reply to TUNNEL start: %r" % reply.body[:200])
            content = profile_content(el)
            inner = parse_xml(content) if content else None
            if inner is None:
                raise ProtocolError("reply to piggybacked TUNNEL start carries no <ok/> or <error>")
            if inner.tag == "error":
                code, etext = parse_error(inner)
                sess.channels.pop(number, None)
                sess.release_seq()
                return TunnelResult(False, code, etext, reply=reply, piggyback=True)
            if inner.tag != "ok":
                raise ProtocolError("reply to TUNNEL start carries <%s>" % inner.tag)
            return TunnelResult(True, sock=sess.sock, leftover=sess.take_leftover(), channel=number,
                                reply=reply, piggyback=True)
        sess.hold_seq = False
        r = sess.start_channel([TUNNEL_URI])
        if not r.ok:
            return TunnelResult(False, r.code, r.text, reply=r.reply, piggyback=False)
        sess.hold_seq = True
        reply = sess.request(r.channel, sess.xml_payload(text))
        if reply.type == "ERR":
            code, etext = parse_error(reply.body)
            sess.release_seq()
            return TunnelResult(False, code, etext, channel=r.channel, reply=reply, piggyback=False)
        el = reply.xml()
        if el.tag != "ok":
            raise ProtocolError("reply to <tunnel> is <%s>" % el.tag)
        return TunnelResult(True, sock=sess.sock, leftover=sess.take_leftover(), channel=r.channel,
                            reply=reply, piggyback=False)
    except BaseException:
        sess.hold_seq = False
        raise


def continue_session(result, role="initiator", profiles=(), timeout=DEFAULT_TIMEOUT, **kw):
    """After a TUNNEL <ok/> towards a BEEP final peer: a new Session on the
    same socket, starting from the leftover octets (sends our new greeting)."""
    return Session(result.sock, role, profiles, timeout, initial_data=result.leftover, **kw)


# --------------------------------------------------------------------------
# TLS profile (RFC 3080 sec. 3.1): <ready/> -> <proceed/>, then TLS on the
# same connection and a tuning reset (both sides greet again, over TLS)

class TlsProfile:
    """Listener side.  ctx: an ssl.SSLContext (server side); after the
    handshake `then(session)` is called with a fresh listener Session over
    the TLS socket offering `profiles` (a dict {uri: factory}, served by the
    caller or by then).  Refuses a start without <ready/> (501)."""

    def __init__(self, ctx, profiles, then=None, timeout=DEFAULT_TIMEOUT):
        self.ctx = ctx
        self.profiles = profiles
        self.then = then
        self.timeout = timeout
        self.sessions = []          # the sessions after TLS
        self.errors = []

    def __call__(self):
        return _TlsChannel(self)


class _TlsChannel:
    def __init__(self, prof):
        self.prof = prof

    def on_start(self, sess, channel, content, m):
        try:
            el = parse_xml(content) if content else None
        except ProtocolError:
            el = None
        if el is None or el.tag != "ready":
            raise ErrorReply(501, "expected <ready/>")
        sess.reply(m, sess.xml_payload(profile_xml(TLS_URI, "<proceed/>")))
        sess.stop_serving = True
        if sess.take_leftover():
            raise ProtocolError("octets after <ready/> before the TLS handshake")
        try:
            tls = self.prof.ctx.wrap_socket(sess.sock, server_side=True)
        except OSError as e:          # ssl.SSLError is an OSError
            self.prof.errors.append(e)
            return Session.HANDLED
        s2 = Session(tls, "listener", list(self.prof.profiles), self.prof.timeout)
        self.prof.sessions.append(s2)
        if self.prof.then:
            self.prof.then(s2)
        else:
            s2.serve(self.prof.profiles)
        return Session.HANDLED


def tls_start(sess, ctx, server_hostname=None):
    """Initiator side: asks for TLS with <ready/> piggybacked in <start>; on
    <proceed/> runs the handshake (ctx: a client ssl.SSLContext) and returns
    a fresh initiator Session over TLS whose greeting was received.  An
    <error> reply raises ErrorReply; the session then stays usable."""
    number = sess.next_channel
    sess.next_channel += 2
    sess.hold_seq = True
    try:
        reply = sess.request(0, sess.xml_payload(start_xml(number, [(TLS_URI, "<ready/>", None)])))
        if reply.type == "ERR":
            sess.release_seq()
            raise ErrorReply(*parse_error(reply.body))
        el = reply.xml()
        content = profile_content(el) if el.tag == "profile" else None
        inner = parse_xml(content) if content else None
        if inner is None or inner.tag != "proceed":
            raise ProtocolError("reply to TLS start: %r" % reply.body[:200])
        if sess.take_leftover():
            raise ProtocolError("octets after <proceed/> before the TLS handshake")
        tls = ctx.wrap_socket(sess.sock, server_hostname=server_hostname)
    except BaseException:
        sess.hold_seq = False
        raise
    s2 = Session(tls, "initiator", [], sess.timeout)
    s2.wait_greeting()
    return s2


# --------------------------------------------------------------------------
# TCPMUX (RFC 1078)

class TcpmuxResult:
    def __init__(self, ok, line, sock, leftover):
        self.ok = ok
        self.line = line          # the reply line without CRLF (bytes), or None
        self.message = line[1:].decode("utf-8", "replace").strip() if line else ""
        self.sock = sock
        self.leftover = leftover

    def __repr__(self):
        return "<TcpmuxResult %s %r leftover=%d>" % ("+" if self.ok else "-", self.line, len(self.leftover))


def tcpmux(host, port, name, timeout=DEFAULT_TIMEOUT, pipelined=b"", sock=None, max_line=4096):
    """Sends name CRLF (plus `pipelined` octets in the same write), reads the
    '+'/'-' reply line.  ok is None when the server closed without a line.
    leftover: octets received after the reply's CRLF."""
    if isinstance(name, str):
        name = name.encode()
    s = sock or connect(host, port, timeout)
    s.settimeout(timeout)
    s.sendall(name + b"\r\n" + pipelined)
    buf = bytearray()
    while True:
        i = buf.find(b"\r\n")
        if i >= 0:
            line = bytes(buf[:i])
            ok = line.startswith(b"+") if line[:1] in (b"+", b"-") else None
            if ok is None:
                raise ProtocolError("TCPMUX reply line starts with %r" % line[:1])
            return TcpmuxResult(ok, line, s, bytes(buf[i + 2:]))
        if len(buf) > max_line:
            raise ProtocolError("TCPMUX reply line longer than %d" % max_line)
        try:
            d = s.recv(4096)
        except ConnectionResetError:
            d = b""
        if not d:
            return TcpmuxResult(None, None, s, bytes(buf))
        buf += d
