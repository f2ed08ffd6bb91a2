#!/usr/bin/env python3
"""h2conform.py - frame-level HTTP/2 conformance suite for httpz.

    h2conform.py HOST PORT [--tls] [--timeout S] [--strict] [-k FILTER] [-v]

Covers the case list of h2spec (generic/*, http2/* by RFC 7540 section,
hpack/*; 146 cases) with the same pass rules, plus "h2probe/*": the
HTTP/1.1 probe's header-field cases that make sense over HTTP/2. Every
frame is built by hand (hpack of python3-h2 encodes header blocks) so that
malformed input can be sent. Prints one line per case and a summary per
section; exits 0 when every case passed, 1 otherwise, 77 when hpack is
missing.

Pass rules (as h2spec's): a "connection error" passes on a GOAWAY with one
of the codes or on the connection closing; a "stream error" also on an
RST_STREAM with one of the codes. --strict also requires the GOAWAY (with
a listed code) before the close for connection errors.
"""
import argparse
import socket
import ssl
import struct
import sys
import time

try:
    import hpack
except ImportError:  # pragma: no cover
    print("SKIP: python3 hpack (python3-h2) not installed")
    sys.exit(77)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WUPD, CONT = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
NO_ERROR, PROTOCOL, INTERNAL, FLOW, TIMEOUT_E, STREAM_CLOSED, FRAME_SIZE = 0, 1, 2, 3, 4, 5, 6
REFUSED, CANCEL, COMPRESSION = 7, 8, 9
S_HEADER_TABLE, S_PUSH, S_MAX_STREAMS, S_INIT_WIN, S_MAX_FRAME, S_MAX_HDR_LIST = 1, 2, 3, 4, 5, 6
NAMES = {DATA: "DATA", HEADERS: "HEADERS", PRIORITY: "PRIORITY", RST: "RST_STREAM",
         SETTINGS: "SETTINGS", PUSH: "PUSH_PROMISE", PING: "PING", GOAWAY: "GOAWAY",
         WUPD: "WINDOW_UPDATE", CONT: "CONTINUATION"}
MAX_HEADER_LEN = 4000  # h2spec's --max-header-length default


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def settings_payload(*pairs):
    return b"".join(struct.pack(">HI", k, v) for k, v in pairs)


def prio(dep, weight, excl=False):
    return struct.pack(">IB", dep | (0x80000000 if excl else 0), weight)


class Fail(Exception):
    pass


class Skip(Exception):
    pass


class Frame:
    def __init__(self, ftype, flags, sid, payload):
        self.type, self.flags, self.sid, self.payload = ftype, flags, sid, payload

    @property
    def code(self):
        if self.type == RST:
            return struct.unpack(">I", self.payload[:4])[0]
        if self.type == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        return None

    def data_len(self):
        if self.type != DATA:
            return 0
        if self.flags & PADDED:
            return len(self.payload) - 1 - self.payload[0]
        return len(self.payload)

    def __repr__(self):
        n = NAMES.get(self.type, "type%d" % self.type)
        extra = ""
        if self.code is not None:
            extra = " code=%d" % self.code
        return "%s(len=%d flags=0x%x sid=%d%s)" % (n, len(self.payload), self.flags, self.sid, extra)


CLOSED = "closed"
TIMEOUT = "timeout"


class Conn:
    def __init__(self, opts):
        self.opts = opts
        raw = socket.create_connection((opts.host, opts.port), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if opts.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            raw = ctx.wrap_socket(raw, server_hostname=opts.host)
            if raw.selected_alpn_protocol() != "h2":
                raise Fail("ALPN did not select h2")
        self.s = raw
        self.buf = b""
        self.closed = False
        self.enc = hpack.Encoder()
        self.server_settings = {}
        self.events = []
        self.win = {}

    # -- output --
    def send(self, b):
        try:
            self.s.sendall(b)
        except OSError:
            pass

    def headers(self, sid, hdrs=None, end_stream=True, end_headers=True, pad=None, priority=None,
                block=None):
        if block is None:
            block = self.encode(hdrs if hdrs is not None else self.common())
        fl = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        p = block
        if priority is not None:
            fl |= PRIO_FLAG
            p = priority + p
        if pad is not None:
            fl |= PADDED
            p = bytes([pad]) + p + b"\0" * pad
        self.send(frame(HEADERS, fl, sid, p))

    def headers_split(self, sid, hdrs, end_stream=True):
        """A header block in frames of at most the default frame size."""
        b = self.encode(hdrs)
        n = 16384
        self.headers(sid, block=b[:n], end_stream=end_stream, end_headers=len(b) <= n)
        for i in range(n, len(b), n):
            self.cont(sid, b[i:i + n], end_headers=i + n >= len(b))

    def cont(self, sid, block, end_headers=True):
        self.send(frame(CONT, END_HEADERS if end_headers else 0, sid, block))

    def data(self, sid, payload, end_stream=True, pad=None):
        fl = END_STREAM if end_stream else 0
        if pad is not None:
            fl |= PADDED
            payload = bytes([len(pad)]) + payload + pad
        self.send(frame(DATA, fl, sid, payload))

    def settings(self, *pairs):
        self.send(frame(SETTINGS, 0, 0, settings_payload(*pairs)))

    def ping(self, data=b"\0" * 8, ack=False):
        self.send(frame(PING, ACK if ack else 0, 0, data))

    def priority(self, sid, dep, weight, excl=False):
        self.send(frame(PRIORITY, 0, sid, prio(dep, weight, excl)))

    def rst(self, sid, code=CANCEL):
        self.send(frame(RST, 0, sid, struct.pack(">I", code)))

    def wupd(self, sid, inc):
        self.send(frame(WUPD, 0, sid, struct.pack(">I", inc)))

    def goaway(self, last=0, code=NO_ERROR, dbg=b""):
        self.send(frame(GOAWAY, 0, 0, struct.pack(">II", last, code) + dbg))

    def encode(self, hdrs):
        # hpack's Huffman coder is slow on long values: plain literals there
        return self.enc.encode(hdrs, huffman=all(len(v) < 1024 for _, v in hdrs))

    def common(self, method="GET", path=None):
        return [(":method", method), (":scheme", "https" if self.opts.tls else "http"),
                (":path", path or self.opts.path),
                (":authority", "%s:%d" % (self.opts.host, self.opts.port))]

    # -- input --
    def _fill(self, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.s.settimeout(left)
            try:
                b = self.s.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
                b = b""
            if not b:
                self.closed = True
                return True
            self.buf += b
            return True

    def event(self, timeout=None):
        """The next frame, or CLOSED, or TIMEOUT."""
        deadline = time.monotonic() + (timeout or self.opts.timeout)
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if n > 16384:  # our SETTINGS_MAX_FRAME_SIZE: h2spec's framer fails here
                    raise Fail("not an HTTP/2 frame: %r" % self.buf[:32])
                if len(self.buf) >= 9 + n:
                    t, fl = self.buf[3], self.buf[4]
                    sid = struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF
                    f = Frame(t, fl, sid, self.buf[9:9 + n])
                    self.buf = self.buf[9 + n:]
                    self._auto(f)
                    self.events.append(f)
                    return f
            if self.closed:
                self.events.append(CLOSED)
                return CLOSED
            if not self._fill(deadline):
                if self.closed:
                    continue
                self.events.append(TIMEOUT)
                return TIMEOUT

    def _auto(self, f):
        # Like h2spec: a window of 65535 per stream and for the connection,
        # as seen by the client, topped up only once it is used up (so the
        # small-window cases get no WINDOW_UPDATE from here).
        if f.type != DATA:
            return
        n = len(f.payload)
        for sid in (f.sid, 0):
            w = self.win.get(sid, 65535) - n
            if w <= 0:
                self.send(frame(WUPD, 0, sid, struct.pack(">I", 65535 - w)))
                w = 65535
            self.win[sid] = w

    def handshake(self, window=65535):
        self.send(PREFACE + frame(SETTINGS, 0, 0, settings_payload((S_INIT_WIN, window))))
        got_settings = got_ack = False
        while not (got_settings and got_ack):
            f = self.event()
            if f in (CLOSED, TIMEOUT):
                raise Fail("handshake: %s" % f)
            if f.type == SETTINGS and f.flags & ACK:
                got_ack = True
            elif f.type == SETTINGS:
                for i in range(0, len(f.payload) - 5, 6):
                    k, v = struct.unpack(">HI", f.payload[i:i + 6])
                    self.server_settings[k] = v
                self.send(frame(SETTINGS, ACK, 0))
                got_settings = True
        self.events = []

    def max_frame(self):
        return self.server_settings.get(S_MAX_FRAME, 16384)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


# ---- verifiers (h2spec's rules) ---------------------------------------------


def _trail(c):
    return ", ".join(repr(e) for e in c.events[-4:]) or "nothing"


def verify_conn_error(c, *codes):
    saw_goaway = None
    while True:
        e = c.event()
        if e == CLOSED:
            if c.opts.strict and saw_goaway is None:
                raise Fail("closed without GOAWAY (strict; want %s)" % (codes,))
            return
        if e == TIMEOUT:
            raise Fail("want GOAWAY%s or close; got %s" % (codes, _trail(c)))
        if e.type == GOAWAY:
            saw_goaway = e.code
            if e.code in codes:
                return
            if c.opts.strict:
                raise Fail("GOAWAY code %d, want %s" % (e.code, codes))


def verify_stream_error(c, *codes):
    while True:
        e = c.event()
        if e == CLOSED:
            return
        if e == TIMEOUT:
            raise Fail("want RST_STREAM/GOAWAY%s or close; got %s" % (codes, _trail(c)))
        if e.type in (GOAWAY, RST) and e.code in codes:
            return
        if c.opts.strict and e.type in (GOAWAY, RST):
            raise Fail("%r, want code %s" % (e, codes))


def verify_conn_close(c):
    while True:
        e = c.event()
        if e == CLOSED:
            return
        if e == TIMEOUT:
            raise Fail("want close; got %s" % _trail(c))


def verify_stream_close(c):
    while True:
        e = c.event()
        if e == TIMEOUT or e == CLOSED:
            raise Fail("want stream end; got %s" % _trail(c))
        if e.type in (DATA, HEADERS) and e.flags & END_STREAM:
            return
        if e.type == RST and e.code == NO_ERROR:
            return


def wait_type(c, ftype):
    """h2spec's WaitEventByType: skip other frames; stop on close or on a
    timeout that follows another event."""
    last = None
    while True:
        e = c.event()
        if e not in (CLOSED, TIMEOUT) and e.type == ftype:
            return e
        if e == CLOSED or (e == TIMEOUT and last is not None):
            raise Fail("want %s; got %s" % (NAMES[ftype], _trail(c)))
        last = e  # a first timeout: one more wait, as h2spec


def verify_headers(c, sid):
    e = wait_type(c, HEADERS)
    if e.sid != sid:
        raise Fail("HEADERS on stream %d, want %d" % (e.sid, sid))


def verify_settings_ack(c):
    e = wait_type(c, SETTINGS)
    if not e.flags & ACK:
        raise Fail("SETTINGS without ACK")


def verify_ping_ack(c, data):
    e = wait_type(c, PING)
    if not (e.flags & ACK and e.payload == data):
        raise Fail("bad PING answer %r" % e)


def verify_ping_or_close(c, data):
    while True:
        e = c.event()
        if e == CLOSED:
            return
        if e == TIMEOUT:
            raise Fail("want PING ACK or close; got %s" % _trail(c))
        if e.type == PING and e.flags & ACK and e.payload == data:
            return


def verify_data_len(c, n):
    e = wait_type(c, DATA)
    if e.data_len() != n:
        raise Fail("DATA of %d bytes, want %d" % (e.data_len(), n))


# ---- the cases ----------------------------------------------------------------

CASES = []


def case(cid, desc, handshake=True):
    def deco(fn):
        CASES.append((cid, desc, fn, handshake))
        return fn
    return deco


def same_as(cid, desc, of):
    """Registers under cid, at this place in the run, the case written as
    `of`: h2spec repeats some tests word for word in several sections."""
    for c in CASES:
        if c[0] == of:
            CASES.append((cid, desc, c[2], c[3]))
            return
    raise KeyError(of)


def dummy_headers(n):
    return [("x-dummy%d" % i, "x" * MAX_HEADER_LEN) for i in range(n)]


def post(c, sid=1, extra=(), end_stream=False):
    c.headers(sid, c.common("POST") + list(extra), end_stream=end_stream)


Z8 = b"\0" * 8
H2SPEC = b"h2spec\0\0"


def conn_error_case(cid, desc, data, *codes, handshake=True):
    """Registers a case that sends the raw bytes data and wants a connection
    error with one of codes."""
    def run(c):
        c.send(data)
        verify_conn_error(c, *codes)
    case(cid, desc, handshake)(run)


def settings_then_get(c, *settings, body=1):
    """Skipped unless GET path answers with at least body DATA bytes; else
    sends SETTINGS (acked) and then the GET on stream 1."""
    if server_data_len(c.opts) < body:
        if body == 1:
            raise Skip("GET %s has no body" % c.opts.path)
        raise Skip("GET %s has less than %d body bytes" % (c.opts.path, body))
    c.settings(*settings)
    verify_settings_ack(c)
    c.headers(1)


# generic/1
@case("generic/1/1", "Sends a client connection preface", handshake=False)
def _(c):
    c.send(PREFACE + frame(SETTINGS, 0, 0, settings_payload((S_INIT_WIN, 65535))))
    e = c.event()
    if e in (CLOSED, TIMEOUT) or e.type != SETTINGS or e.flags & ACK:
        raise Fail("want SETTINGS (no ACK), got %r" % (e,))


# generic/2
@case("generic/2/1", "Sends a PRIORITY frame on idle stream")
def _(c):
    c.priority(1, 0, 255)
    c.ping()
    verify_ping_ack(c, Z8)


@case("generic/2/2", "Sends a WINDOW_UPDATE frame on half-closed (remote) stream")
def _(c):
    c.settings((S_INIT_WIN, 0))
    c.headers(1)
    c.wupd(1, 1)
    wait_type(c, DATA)


@case("generic/2/3", "Sends a PRIORITY frame on half-closed (remote) stream")
def _(c):
    c.settings((S_INIT_WIN, 0))
    c.headers(1)
    c.priority(1, 0, 255)
    c.wupd(1, 1)
    wait_type(c, DATA)


@case("generic/2/4", "Sends a RST_STREAM frame on half-closed (remote) stream")
def _(c):
    c.headers(1)
    c.rst(1)
    c.ping()
    verify_ping_or_close(c, Z8)


@case("generic/2/5", "Sends a PRIORITY frame on closed stream")
def _(c):
    c.headers(1)
    verify_stream_close(c)
    c.priority(1, 0, 255)
    c.ping()
    verify_ping_ack(c, Z8)


# generic/3.x
@case("generic/3.1/1", "Sends a DATA frame")
def _(c):
    post(c)
    c.data(1, b"test")
    verify_headers(c, 1)


@case("generic/3.1/2", "Sends multiple DATA frames")
def _(c):
    post(c)
    c.data(1, b"test", end_stream=False)
    c.data(1, b"test")
    verify_headers(c, 1)


@case("generic/3.1/3", "Sends a DATA frame with padding")
def _(c):
    post(c)
    c.data(1, b"test", pad=b"\0" * 5)
    verify_headers(c, 1)


def headers_answered(**kw):
    """A request on stream 1 (HEADERS with kw): answered."""
    def run(c):
        c.headers(1, **kw)
        verify_headers(c, 1)
    return run


for _cid, _desc, _kw in (
        ("generic/3.2/1", "Sends a HEADERS frame", {}),
        ("generic/3.2/2", "Sends a HEADERS frame with padding", {"pad": 8}),
        ("generic/3.2/3", "Sends a HEADERS frame with priority", {"priority": prio(0, 255)}),
):
    case(_cid, _desc)(headers_answered(**_kw))


def priority_then_headers(sid, dep, weight, excl=False):
    """A PRIORITY frame (for sid), then a request on stream 1: answered."""
    def run(c):
        c.priority(sid, dep, weight, excl=excl)
        c.headers(1)
        verify_headers(c, 1)
    return run


for _cid, _desc, _prio in (
        ("generic/3.3/1", "Sends a PRIORITY frame with priority 1",
         (1, 0, 0)),
        ("generic/3.3/2", "Sends a PRIORITY frame with priority 256",
         (1, 0, 255)),
        ("generic/3.3/3", "Sends a PRIORITY frame with stream dependency",
         (3, 1, 0)),
        ("generic/3.3/4", "Sends a PRIORITY frame with exclusive",
         (1, 0, 0, True)),
        ("generic/3.3/5", "Sends a PRIORITY frame for an idle stream, then a HEADERS frame for a lower stream ID",
         (3, 0, 255)),
):
    case(_cid, _desc)(priority_then_headers(*_prio))


@case("generic/3.4/1", "Sends a RST_STREAM frame")
def _(c):
    c.headers(1, end_stream=False)
    c.rst(1)
    c.ping()
    verify_ping_or_close(c, Z8)


@case("generic/3.5/1", "Sends a SETTINGS frame")
def _(c):
    c.settings((S_HEADER_TABLE, 4096), (S_PUSH, 1), (S_MAX_STREAMS, 100), (S_INIT_WIN, 65535),
               (S_MAX_FRAME, 16384), (S_MAX_HDR_LIST, 100))
    verify_settings_ack(c)


@case("generic/3.7/1", "Sends a PING frame")
def _(c):
    c.ping(H2SPEC)
    verify_ping_ack(c, H2SPEC)


@case("generic/3.8/1", "Sends a GOAWAY frame")
def _(c):
    c.goaway(0, NO_ERROR, b"h2spec")
    c.ping(H2SPEC)
    verify_ping_or_close(c, H2SPEC)


@case("generic/3.9/1", "Sends a WINDOW_UPDATE frame with stream ID 0")
def _(c):
    c.wupd(0, 1)
    c.ping()
    verify_ping_ack(c, Z8)


@case("generic/3.9/2", "Sends a WINDOW_UPDATE frame with stream ID 1")
def _(c):
    c.headers(1)
    c.wupd(1, 1)
    verify_headers(c, 1)


@case("generic/3.10/1", "Sends a CONTINUATION frame")
def _(c):
    b = c.encode(c.common())
    c.headers(1, block=b[:5], end_headers=False)
    c.cont(1, b[5:])
    verify_headers(c, 1)


@case("generic/3.10/2", "Sends multiple CONTINUATION frames")
def _(c):
    b = c.encode(c.common())
    c.headers(1, block=b[:5], end_headers=False)
    c.cont(1, b[5:10], end_headers=False)
    c.cont(1, b[10:])
    verify_headers(c, 1)


# generic/4
same_as("generic/4/1", "Sends a GET request", of="generic/3.2/1")


@case("generic/4/2", "Sends a HEAD request")
def _(c):
    c.headers(1, c.common("HEAD"))
    verify_headers(c, 1)


same_as("generic/4/3", "Sends a POST request", of="generic/3.1/1")


@case("generic/4/4", "Sends a POST request with trailers")
def _(c):
    post(c, extra=[("trailer", "x-test")])
    c.data(1, b"test", end_stream=False)
    c.headers(1, [("x-test", "ok")])
    verify_headers(c, 1)


# generic/5 (HPACK representations appended to a valid block)
GENERIC_HPACK = [
    ("Sends a indexed header field representation", b"\xba"),
    ("Sends a literal header field with incremental indexing - indexed name",
     b"\x40\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4"),
    ("Sends a literal header field with incremental indexing - indexed name (with Huffman coding)",
     b"\x40\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63"),
    ("Sends a literal header field with incremental indexing - new name",
     b"\x40\x06\x78\x2d\x74\x65\x73\x74\x06\x68\x32\x73\x70\x65\x63"),
    ("Sends a literal header field with incremental indexing - new name (with Huffman coding)",
     b"\x40\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4"),
    ("Sends a literal header field without indexing - indexed name",
     b"\x00\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63"),
    ("Sends a literal header field without indexing - indexed name (with Huffman coding)",
     b"\x00\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4"),
    ("Sends a literal header field without indexing - new name",
     b"\x00\x06\x78\x2d\x74\x65\x73\x74\x06\x68\x32\x73\x70\x65\x63"),
    ("Sends a literal header field without indexing - new name (huffman encoded)",
     b"\x00\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4"),
    ("Sends a literal header field never indexed - indexed name",
     b"\x10\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63"),
    ("Sends a literal header field never indexed - indexed name (huffman encoded)",
     b"\x10\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4"),
    ("Sends a literal header field never indexed - new name",
     b"\x10\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4"),
    ("Sends a literal header field never indexed - new name (huffman encoded)",
     b"\x10\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4"),
]


def _append_rep(rep):
    def run(c):
        c.headers(1, block=c.encode(c.common()) + rep)
        verify_headers(c, 1)
    return run


for _i, (_d, _rep) in enumerate(GENERIC_HPACK):
    case("generic/5/%d" % (_i + 1), _d)(_append_rep(_rep))


@case("generic/5/14", "Sends a dynamic table size update")
def _(c):
    c.headers(1, block=b"\x3f\x61" + c.encode(c.common()))  # size update to 128
    verify_headers(c, 1)


@case("generic/5/15", "Sends multiple dynamic table size update")
def _(c):
    c.headers(1, block=b"\x3f\x61\x3f\xe1\x1f" + c.encode(c.common()))
    verify_headers(c, 1)


# http2/3.5
@case("http2/3.5/1", "Sends client connection preface", handshake=False)
def _(c):
    generic_preface = [x for x in CASES if x[0] == "generic/1/1"][0][2]
    generic_preface(c)


conn_error_case("http2/3.5/2", "Sends invalid connection preface",
                b"INVALID CONNECTION PREFACE\r\n\r\n", PROTOCOL, handshake=False)


# http2/4.1
@case("http2/4.1/1", "Sends a frame with unknown type")
def _(c):
    c.send(frame(0x16, 0, 0, Z8))
    c.ping()
    verify_ping_ack(c, Z8)


def ping_answered(data):
    """The raw bytes data, a PING the server must still answer."""
    def run(c):
        c.send(data)
        wait_type(c, PING)
    return run


for _cid, _desc, _data in (
        ("http2/4.1/2", "Sends a frame with undefined flag", frame(PING, 0x16, 0, Z8)),
        ("http2/4.1/3", "Sends a frame with reserved field bit",
         b"\x00\x00\x08\x06\x16\x80\x00\x00\x00" + Z8),
):
    case(_cid, _desc)(ping_answered(_data))


# http2/4.2
@case("http2/4.2/1", "Sends a DATA frame with 2^14 octets in length")
def _(c):
    post(c)
    c.data(1, b"x" * c.max_frame())
    verify_headers(c, 1)


@case("http2/4.2/2", "Sends a large size DATA frame that exceeds the SETTINGS_MAX_FRAME_SIZE")
def _(c):
    post(c)
    c.data(1, b"x" * (c.max_frame() + 1))
    verify_stream_error(c, FRAME_SIZE)


@case("http2/4.2/3", "Sends a large size HEADERS frame that exceeds the SETTINGS_MAX_FRAME_SIZE")
def _(c):
    c.headers(1, c.common() + dummy_headers(5))
    verify_conn_error(c, FRAME_SIZE)


# http2/4.3
conn_error_case("http2/4.3/1", "Sends invalid header block fragment",
                b"\x00\x00\x01\x01\x05\x00\x00\x00\x01\x40", COMPRESSION)


@case("http2/4.3/2", "Sends a PRIORITY frame while sending the header blocks")
def _(c):
    c.headers(1, end_stream=False, end_headers=False)
    c.priority(1, 0, 255)
    c.cont(1, c.encode(dummy_headers(1)))
    verify_conn_error(c, PROTOCOL)


@case("http2/4.3/3", "Sends a HEADERS frame to another stream while sending the header blocks")
def _(c):
    c.headers(1, end_stream=False, end_headers=False)
    c.headers(3)
    c.cont(1, c.encode(dummy_headers(1)))
    verify_conn_error(c, PROTOCOL)


# http2/5.1
@case("http2/5.1/1", "idle: Sends a DATA frame")
def _(c):
    c.data(1, b"test")
    verify_stream_error(c, PROTOCOL, STREAM_CLOSED)


@case("http2/5.1/2", "idle: Sends a RST_STREAM frame")
def _(c):
    c.rst(1)
    verify_conn_error(c, PROTOCOL)


@case("http2/5.1/3", "idle: Sends a WINDOW_UPDATE frame")
def _(c):
    c.wupd(1, 100)
    verify_conn_error(c, PROTOCOL)


@case("http2/5.1/4", "idle: Sends a CONTINUATION frame")
def _(c):
    c.cont(1, c.encode(c.common()))
    verify_conn_error(c, PROTOCOL)


@case("http2/5.1/5", "half closed (remote): Sends a DATA frame")
def _(c):
    c.headers(1)
    c.data(1, b"test")
    verify_stream_error(c, STREAM_CLOSED)


@case("http2/5.1/6", "half closed (remote): Sends a HEADERS frame")
def _(c):
    c.headers(1)
    c.headers(1)
    verify_stream_error(c, STREAM_CLOSED)


@case("http2/5.1/7", "half closed (remote): Sends a CONTINUATION frame")
def _(c):
    b = c.encode(c.common())
    c.headers(1, block=b)
    c.cont(1, b)
    verify_stream_error(c, STREAM_CLOSED, PROTOCOL)


def after_rst(send, *codes):
    """Stream 1 opened and reset by the client, then send(c) on it: a
    stream error with one of codes."""
    def run(c):
        c.headers(1, end_stream=False)
        c.rst(1)
        send(c)
        verify_stream_error(c, *codes)
    return run


for _cid, _desc, _send, _codes in (
        ("http2/5.1/8", "closed: Sends a DATA frame after sending RST_STREAM frame",
         lambda c: c.data(1, b"test"), (STREAM_CLOSED,)),
        ("http2/5.1/9", "closed: Sends a HEADERS frame after sending RST_STREAM frame",
         lambda c: c.headers(1), (STREAM_CLOSED,)),
        ("http2/5.1/10", "closed: Sends a CONTINUATION frame after sending RST_STREAM frame",
         lambda c: c.cont(1, c.encode(dummy_headers(1))), (STREAM_CLOSED, PROTOCOL)),
):
    case(_cid, _desc)(after_rst(_send, *_codes))


@case("http2/5.1/11", "closed: Sends a DATA frame")
def _(c):
    c.headers(1)
    verify_stream_close(c)
    c.data(1, b"test")
    verify_stream_error(c, STREAM_CLOSED)


@case("http2/5.1/12", "closed: Sends a HEADERS frame")
def _(c):
    b = c.encode(c.common())
    c.headers(1, block=b)
    verify_stream_close(c)
    c.headers(1, block=b)
    verify_conn_error(c, STREAM_CLOSED)


@case("http2/5.1/13", "closed: Sends a CONTINUATION frame")
def _(c):
    c.headers(1)
    verify_stream_close(c)
    c.cont(1, c.encode(dummy_headers(1)))
    verify_conn_error(c, STREAM_CLOSED, PROTOCOL)


@case("http2/5.1.1/1", "Sends even-numbered stream identifier")
def _(c):
    c.headers(2)
    verify_conn_error(c, PROTOCOL)


@case("http2/5.1.1/2", "Sends stream identifier that is numerically smaller than previous")
def _(c):
    c.headers(5)
    c.headers(3)
    verify_conn_error(c, PROTOCOL)


@case("http2/5.1.2/1", "Sends HEADERS frames that causes their advertised concurrent stream limit to be exceeded")
def _(c):
    n = c.server_settings.get(S_MAX_STREAMS)
    if n is None:
        raise Skip("no SETTINGS_MAX_CONCURRENT_STREAMS")
    c.settings((S_INIT_WIN, 0))
    b = c.encode(c.common())
    sid = 1
    out = b""
    for _ in range(n + 1):
        out += frame(HEADERS, END_STREAM | END_HEADERS, sid, b)
        sid += 2
    c.send(out)
    verify_stream_error(c, PROTOCOL, REFUSED)


@case("http2/5.3.1/1", "Sends HEADERS frame that depends on itself")
def _(c):
    c.headers(1, priority=prio(1, 255))
    verify_stream_error(c, PROTOCOL)


@case("http2/5.3.1/2", "Sends PRIORITY frame that depend on itself")
def _(c):
    c.priority(1, 1, 255)
    verify_stream_error(c, PROTOCOL)


@case("http2/5.4.1/1", "Sends an invalid PING frame for connection close")
def _(c):
    c.send(frame(PING, 0, 3, Z8))
    verify_conn_close(c)


@case("http2/5.4.1/2", "Sends an invalid PING frame to receive GOAWAY frame")
def _(c):
    c.send(frame(PING, 0, 3, Z8))
    e = wait_type(c, GOAWAY)
    if e.code != PROTOCOL:
        raise Fail("GOAWAY code %d, want PROTOCOL_ERROR" % e.code)


same_as("http2/5.5/1", "Sends an unknown extension frame", of="http2/4.1/1")


@case("http2/5.5/2", "Sends an unknown extension frame in the middle of a header block")
def _(c):
    c.headers(1, end_headers=False)
    c.send(frame(0x16, 0, 0, Z8))
    verify_conn_error(c, PROTOCOL)


# http2/6.1
@case("http2/6.1/1", "Sends a DATA frame with 0x0 stream identifier")
def _(c):
    c.data(0, b"test")
    verify_conn_error(c, PROTOCOL)


@case("http2/6.1/2", "Sends a DATA frame on the stream that is not in \"open\" or \"half-closed (local)\" state")
def _(c):
    c.headers(1, c.common("POST"))
    c.data(1, b"test")
    verify_stream_error(c, STREAM_CLOSED)


@case("http2/6.1/3", "Sends a DATA frame with invalid pad length")
def _(c):
    post(c, extra=[("content-length", "4")])
    c.send(b"\x00\x00\x05\x00\x09\x00\x00\x00\x01" + b"\x06\x54\x65\x73\x74")
    verify_conn_error(c, PROTOCOL)


# http2/6.2
same_as("http2/6.2/1", "Sends a HEADERS frame without the END_HEADERS flag, and a PRIORITY frame", of="http2/4.3/2")


same_as("http2/6.2/2", "Sends a HEADERS frame to another stream while sending a HEADERS frame", of="http2/4.3/3")


@case("http2/6.2/3", "Sends a HEADERS frame with 0x0 stream identifier")
def _(c):
    c.headers(0)
    verify_conn_error(c, PROTOCOL)


@case("http2/6.2/4", "Sends a HEADERS frame with invalid pad length")
def _(c):
    b = c.encode(c.common())
    c.send(frame(HEADERS, END_STREAM | END_HEADERS | PADDED, 1, bytes([len(b) + 2]) + b))
    verify_stream_error(c, PROTOCOL)


# http2/6.3
@case("http2/6.3/1", "Sends a PRIORITY frame with 0x0 stream identifier")
def _(c):
    c.priority(0, 0, 255)
    verify_conn_error(c, PROTOCOL)


@case("http2/6.3/2", "Sends a PRIORITY frame with a length other than 5 octets")
def _(c):
    c.headers(1)
    c.send(frame(PRIORITY, 0, 1, b"\x80\x00\x00\x01"))
    verify_stream_error(c, FRAME_SIZE)


# http2/6.4
@case("http2/6.4/1", "Sends a RST_STREAM frame with 0x0 stream identifier")
def _(c):
    c.rst(0)
    verify_conn_error(c, PROTOCOL)


same_as("http2/6.4/2", "Sends a RST_STREAM frame on a idle stream", of="http2/5.1/2")


@case("http2/6.4/3", "Sends a RST_STREAM frame with a length other than 4 octets")
def _(c):
    c.headers(1)
    c.send(frame(RST, 0, 1, b"\0\0\0"))
    verify_stream_error(c, FRAME_SIZE)


# http2/6.5
for _cid, _desc, _frame, _code in (
        ("http2/6.5/1", "Sends a SETTINGS frame with ACK flag and payload",
         frame(SETTINGS, ACK, 0, b"\0"), FRAME_SIZE),
        ("http2/6.5/2", "Sends a SETTINGS frame with a stream identifier other than 0x0",
         frame(SETTINGS, 0, 1, settings_payload((S_MAX_STREAMS, 100))), PROTOCOL),
):
    conn_error_case(_cid, _desc, _frame, _code)


@case("http2/6.5/3", "Sends a SETTINGS frame with a length other than a multiple of 6 octets")
def _(c):
    c.send(frame(SETTINGS, 0, 0, b"\x00\x03\x00"))
    verify_stream_error(c, PROTOCOL, FRAME_SIZE)


def bad_setting(setting, code):
    """A SETTINGS frame with one value out of its range: connection error."""
    def run(c):
        c.settings(setting)
        verify_conn_error(c, code)
    return run


for _cid, _desc, _setting, _code in (
        ("http2/6.5.2/1",
         "SETTINGS_ENABLE_PUSH (0x2): Sends the value other than 0 or 1",
         (S_PUSH, 2), PROTOCOL),
        ("http2/6.5.2/2",
         "SETTINGS_INITIAL_WINDOW_SIZE (0x4): Sends the value above the maximum flow control window size",
         (S_INIT_WIN, 2147483648), FLOW),
        ("http2/6.5.2/3",
         "SETTINGS_MAX_FRAME_SIZE (0x5): Sends the value below the initial value",
         (S_MAX_FRAME, 16383), PROTOCOL),
        ("http2/6.5.2/4",
         "SETTINGS_MAX_FRAME_SIZE (0x5): Sends the value above the maximum allowed frame size",
         (S_MAX_FRAME, 16777216), PROTOCOL),
):
    case(_cid, _desc)(bad_setting(_setting, _code))


@case("http2/6.5.2/5", "Sends a SETTINGS frame with unknown identifier")
def _(c):
    c.settings((0xFF, 1))
    c.ping()
    verify_ping_ack(c, Z8)


def server_data_len(opts):
    """Bytes of DATA in the response to GET path (h2spec's ServerDataLength)."""
    c = Conn(opts)
    try:
        c.handshake()
        c.headers(1)
        n = 0
        while True:
            e = c.event()
            if e in (CLOSED, TIMEOUT):
                return n
            if e.type == DATA:
                n += e.data_len()
            if e.type in (DATA, HEADERS) and e.flags & END_STREAM:
                return n
    finally:
        c.close()


@case("http2/6.5.3/1", "Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE")
def _(c):
    settings_then_get(c, (S_INIT_WIN, 100), (S_INIT_WIN, 1))
    verify_data_len(c, 1)


@case("http2/6.5.3/2", "Sends a SETTINGS frame without ACK flag")
def _(c):
    c.settings((S_PUSH, 0))
    verify_settings_ack(c)


# http2/6.7
same_as("http2/6.7/1", "Sends a PING frame", of="generic/3.7/1")


@case("http2/6.7/2", "Sends a PING frame with ACK")
def _(c):
    c.ping(b"invalid\0", ack=True)
    c.ping(H2SPEC)
    verify_ping_ack(c, H2SPEC)


for _cid, _desc, _frame, _code in (
        ("http2/6.7/3", "Sends a PING frame with a stream identifier field value other than 0x0",
         frame(PING, 0, 1, Z8), PROTOCOL),
        ("http2/6.7/4", "Sends a PING frame with a length field value other than 8",
         frame(PING, 0, 0, b"\0" * 6), FRAME_SIZE),
        # http2/6.8
        ("http2/6.8/1", "Sends a GOAWAY frame with a stream identifier other than 0x0",
         frame(GOAWAY, 0, 1, Z8), PROTOCOL),
):
    conn_error_case(_cid, _desc, _frame, _code)


# http2/6.9
@case("http2/6.9/1", "Sends a WINDOW_UPDATE frame with a flow control window increment of 0")
def _(c):
    c.wupd(0, 0)
    verify_conn_error(c, PROTOCOL)


@case("http2/6.9/2", "Sends a WINDOW_UPDATE frame with a flow control window increment of 0 on a stream")
def _(c):
    c.headers(1, end_stream=False)
    c.wupd(1, 0)
    verify_stream_error(c, PROTOCOL)


conn_error_case("http2/6.9/3", "Sends a WINDOW_UPDATE frame with a length other than 4 octets",
                frame(WUPD, 0, 0, b"\0\0\1"), FRAME_SIZE)


@case("http2/6.9.1/1", "Sends SETTINGS frame to set the initial window size to 1 and sends HEADERS frame")
def _(c):
    settings_then_get(c, (S_INIT_WIN, 1))
    verify_data_len(c, 1)


@case("http2/6.9.1/2", "Sends multiple WINDOW_UPDATE frames increasing the flow control window to above 2^31-1")
def _(c):
    c.wupd(0, 2147483647)
    c.wupd(0, 2147483647)
    e = wait_type(c, GOAWAY)
    if e.code != FLOW:
        raise Fail("GOAWAY code %d, want FLOW_CONTROL_ERROR" % e.code)


@case("http2/6.9.1/3", "Sends multiple WINDOW_UPDATE frames increasing the flow control window to above 2^31-1 on a stream")
def _(c):
    c.headers(1, end_stream=False)
    c.wupd(1, 2147483647)
    c.wupd(1, 2147483647)
    e = wait_type(c, RST)
    if e.sid != 1 or e.code != FLOW:
        raise Fail("%r, want RST_STREAM(1, FLOW_CONTROL_ERROR)" % e)


@case("http2/6.9.2/1", "Changes SETTINGS_INITIAL_WINDOW_SIZE after sending HEADERS frame")
def _(c):
    settings_then_get(c, (S_INIT_WIN, 0))
    c.settings((S_INIT_WIN, 1))
    verify_data_len(c, 1)


@case("http2/6.9.2/2", "Sends a SETTINGS frame for window size to be negative")
def _(c):
    settings_then_get(c, (S_INIT_WIN, 3), body=5)
    wait_type(c, DATA)
    c.settings((S_INIT_WIN, 2))
    verify_settings_ack(c)
    c.wupd(1, 2)
    verify_data_len(c, 1)


conn_error_case("http2/6.9.2/3",
                "Sends a SETTINGS_INITIAL_WINDOW_SIZE settings with an exceeded maximum window size value",
                frame(SETTINGS, 0, 0, b"\x00\x04\x80\x00\x00\x00"), FLOW)


# http2/6.10
@case("http2/6.10/1", "Sends multiple CONTINUATION frames preceded by a HEADERS frame")
def _(c):
    c.headers(1, end_headers=False)
    d = dummy_headers(1)
    c.cont(1, c.encode(d), end_headers=False)
    c.cont(1, c.encode(d))
    verify_headers(c, 1)


@case("http2/6.10/2", "Sends a CONTINUATION frame followed by any frame other than CONTINUATION")
def _(c):
    c.headers(1, c.common("POST"), end_stream=False, end_headers=False)
    c.cont(1, c.encode(dummy_headers(1)), end_headers=False)
    c.data(1, b"test")
    verify_conn_error(c, PROTOCOL)


@case("http2/6.10/3", "Sends a CONTINUATION frame with 0x0 stream identifier")
def _(c):
    c.headers(1, end_headers=False)
    c.cont(0, c.encode(dummy_headers(1)))
    verify_conn_error(c, PROTOCOL)


@case("http2/6.10/4", "Sends a CONTINUATION frame preceded by a HEADERS frame with END_HEADERS flag")
def _(c):
    c.headers(1)
    c.cont(1, c.encode(dummy_headers(1)))
    verify_conn_error(c, PROTOCOL)


@case("http2/6.10/5", "Sends a CONTINUATION frame preceded by a CONTINUATION frame with END_HEADERS flag")
def _(c):
    c.headers(1, end_headers=False)
    d = dummy_headers(1)
    c.cont(1, c.encode(d))
    c.cont(1, c.encode(d))
    verify_conn_error(c, PROTOCOL)


@case("http2/6.10/6", "Sends a CONTINUATION frame preceded by a DATA frame")
def _(c):
    c.headers(1, c.common("POST"), end_stream=False, end_headers=False)
    c.data(1, b"test")
    d = dummy_headers(1)
    c.cont(1, c.encode(d), end_headers=False)
    c.cont(0, c.encode(d))
    verify_conn_error(c, PROTOCOL)


# http2/7
@case("http2/7/1", "Sends a GOAWAY frame with unknown error code")
def _(c):
    c.goaway(0, 0xFF)
    c.ping(H2SPEC)
    verify_ping_or_close(c, H2SPEC)


@case("http2/7/2", "Sends a RST_STREAM frame with unknown error code")
def _(c):
    post(c)
    c.rst(1, 0xFF)
    c.ping()
    verify_ping_or_close(c, Z8)


# http2/8.1
def _stream_err_trailers(trailers):
    """A POST with a DATA frame, then a trailer block without END_STREAM:
    a stream error."""
    def run(c):
        post(c)
        c.data(1, b"test", end_stream=False)
        c.headers(1, trailers, end_stream=False)
        verify_stream_error(c, PROTOCOL)
    return run


case("http2/8.1/1", "Sends a second HEADERS frame without the END_STREAM flag")(
    _stream_err_trailers([("x-test", "ok")]))


def _stream_err_headers(hdrs_fn):
    def run(c):
        c.headers(1, hdrs_fn(c))
        verify_stream_error(c, PROTOCOL)
    return run


case("http2/8.1.2/1", "Sends a HEADERS frame that contains the header field name in uppercase letters")(
    _stream_err_headers(lambda c: c.common() + [("X-TEST", "ok")]))
case("http2/8.1.2.1/1", "Sends a HEADERS frame that contains a unknown pseudo-header field")(
    _stream_err_headers(lambda c: c.common() + [(":test", "ok")]))
case("http2/8.1.2.1/2", "Sends a HEADERS frame that contains the pseudo-header field defined for response")(
    _stream_err_headers(lambda c: c.common() + [(":status", "200")]))


case("http2/8.1.2.1/3", "Sends a HEADERS frame that contains a pseudo-header field as trailers")(
    _stream_err_trailers([(":method", "POST")]))


case("http2/8.1.2.1/4", "Sends a HEADERS frame that contains a pseudo-header field that appears in a header block after a regular header field")(
    _stream_err_headers(lambda c: [("x-test", "ok")] + c.common()))
case("http2/8.1.2.2/1", "Sends a HEADERS frame that contains the connection-specific header field")(
    _stream_err_headers(lambda c: c.common() + [("connection", "keep-alive")]))
case("http2/8.1.2.2/2", "Sends a HEADERS frame that contains the TE header field with any value other than \"trailers\"")(
    _stream_err_headers(lambda c: c.common() + [("trailers", "test"), ("te", "trailers, deflate")]))
case("http2/8.1.2.3/1", "Sends a HEADERS frame with empty \":path\" pseudo-header field")(
    _stream_err_headers(lambda c: [h if h[0] != ":path" else (":path", "") for h in c.common()]))
case("http2/8.1.2.3/2", "Sends a HEADERS frame that omits \":method\" pseudo-header field")(
    _stream_err_headers(lambda c: [h for h in c.common() if h[0] != ":method"]))
case("http2/8.1.2.3/3", "Sends a HEADERS frame that omits \":scheme\" pseudo-header field")(
    _stream_err_headers(lambda c: [h for h in c.common() if h[0] != ":scheme"]))
case("http2/8.1.2.3/4", "Sends a HEADERS frame that omits \":path\" pseudo-header field")(
    _stream_err_headers(lambda c: [h for h in c.common() if h[0] != ":path"]))
case("http2/8.1.2.3/5", "Sends a HEADERS frame with duplicated \":method\" pseudo-header field")(
    _stream_err_headers(lambda c: c.common() + [(":method", "GET")]))
case("http2/8.1.2.3/6", "Sends a HEADERS frame with duplicated \":scheme\" pseudo-header field")(
    _stream_err_headers(lambda c: c.common() + [c.common()[1]]))
case("http2/8.1.2.3/7", "Sends a HEADERS frame with duplicated \":path\" pseudo-header field")(
    _stream_err_headers(lambda c: c.common() + [c.common()[2]]))


@case("http2/8.1.2.6/1", "Sends a HEADERS frame with the \"content-length\" header field which does not equal the DATA frame payload length")
def _(c):
    post(c, extra=[("content-length", "1")])
    c.data(1, b"test")
    verify_stream_error(c, PROTOCOL)


@case("http2/8.1.2.6/2", "Sends a HEADERS frame with the \"content-length\" header field which does not equal the sum of the multiple DATA frames payload length")
def _(c):
    post(c, extra=[("content-length", "1")])
    c.data(1, b"test", end_stream=False)
    c.data(1, b"test")
    verify_stream_error(c, PROTOCOL)


@case("http2/8.2/1", "Sends a PUSH_PROMISE frame")
def _(c):
    c.send(frame(PUSH, END_HEADERS, 1, struct.pack(">I", 3) + c.encode(c.common())))
    verify_conn_error(c, PROTOCOL)


# hpack/*
def _hpack_conn_err(rep, prefix=False):
    def run(c):
        b = c.encode(c.common())
        c.headers(1, block=(rep + b) if prefix else (b + rep))
        verify_conn_error(c, COMPRESSION)
    return run


case("hpack/2.3.3/1", "Sends a indexed header field representation with invalid index")(
    _hpack_conn_err(b"\xc6"))
case("hpack/2.3.3/2", "Sends a literal header field representation with invalid index")(
    _hpack_conn_err(b"\x7f\x07\x00"))
case("hpack/4.2/1", "Sends a dynamic table size update at the end of header block")(
    _hpack_conn_err(b"\x21"))
case("hpack/5.2/1", "Sends a Huffman-encoded string literal representation with padding longer than 7 bits")(
    _hpack_conn_err(b"\x00\x85\xf2\xb2\x4a\x84\xff\x84\x49\x50\x9f\xff"))
case("hpack/5.2/2", "Sends a Huffman-encoded string literal representation padded by zero")(
    _hpack_conn_err(b"\x00\x85\xf2\xb2\x4a\x84\xff\x83\x49\x50\x90"))
case("hpack/5.2/3", "Sends a Huffman-encoded string literal representation containing the EOS symbol")(
    _hpack_conn_err(b"\x00\x85\xf2\xb2\x4a\x84\xff\x87\x49\x51\xff\xff\xff\xfa\x7f"))
case("hpack/6.1/1", "Sends a indexed header field representation with index 0")(
    _hpack_conn_err(b"\x80"))


@case("hpack/6.3/1", "Sends a dynamic table size update larger than the value of SETTINGS_HEADER_TABLE_SIZE")
def _(c):
    size = c.server_settings.get(S_HEADER_TABLE, 4096) + 1
    rep = bytearray()
    if size < 31:
        rep.append(size)
    else:
        rep.append(31)
        size -= 31
        while size >= 128:
            rep.append(0x80 | (size & 0x7F))
            size >>= 7
        rep.append(size)
    rep[0] |= 0x20
    _hpack_conn_err(bytes(rep), prefix=True)(c)


# ---- h2probe/*: HTTP/1.1 probe cases that make sense over HTTP/2 ----------------
# A malformed request (RFC 9113 §8.1.1) may be answered with RST_STREAM
# (PROTOCOL_ERROR) or with a 4xx response; an accepted one gets a 2xx/3xx/4xx
# that is not an error about the framing.


def response_status(c, sid):
    """(status, rst_code, goaway): the first final answer on sid."""
    dec = hpack.Decoder()
    block = b""
    while True:
        e = c.event()
        if e == CLOSED:
            return None, None, "closed"
        if e == TIMEOUT:
            raise Fail("no answer on stream %d; got %s" % (sid, _trail(c)))
        if e.type == GOAWAY:
            return None, None, e.code
        if e.type == RST and e.sid == sid:
            return None, e.code, None
        if e.type in (HEADERS, CONT) and e.sid == sid:
            p = e.payload
            if e.type == HEADERS:
                if e.flags & PADDED:
                    p = p[1:len(p) - p[0]]
                if e.flags & PRIO_FLAG:
                    p = p[5:]
            block += p
            if e.flags & END_HEADERS:
                hdrs = dict((k.decode() if isinstance(k, bytes) else k, v) for k, v in dec.decode(block))
                block = b""
                st = int(hdrs.get(":status", 0))
                if st >= 200:
                    return st, None, None


def probe(cid, desc, build, expect):
    """expect: "reject" (RST_STREAM PROTOCOL_ERROR, GOAWAY, or 400),
    "reject431" (431, RST or GOAWAY), "accept" (a response, not 400/431/5xx),
    or a set of allowed statuses."""
    def run(c):
        hdrs, body = build(c)
        c.headers_split(1, hdrs, end_stream=body is None)
        if body is not None:
            c.data(1, body)
        st, rst, ga = response_status(c, 1)
        if expect == "reject":
            if rst == PROTOCOL or ga is not None or st == 400:
                return
            raise Fail("want RST_STREAM(PROTOCOL_ERROR) or 400; got status=%s rst=%s" % (st, rst))
        if expect == "reject431":
            if st == 431 or rst is not None or ga is not None:
                return
            raise Fail("want 431 or reset; got status=%s" % st)
        if expect == "accept_or_reject":
            if rst == PROTOCOL or st == 400 or (st is not None and st < 500 and st != 431):
                return
            raise Fail("want an answer or RST_STREAM(PROTOCOL_ERROR); got status=%s rst=%s" % (st, rst))
        if expect == "accept":
            if st is not None and st < 500 and st not in (400, 431):
                return
            raise Fail("want a normal answer; got status=%s rst=%s goaway=%s" % (st, rst, ga))
        if st in expect or ("reset" in expect and (rst is not None or ga is not None)):
            return
        raise Fail("want status in %s; got status=%s rst=%s goaway=%s" % (expect, st, rst, ga))
    case(cid, desc)(run)


def _add(extra, method="GET", path="/", body=None, drop=()):
    def build(c):
        h = [x for x in c.common(method, path) if x[0] not in drop]
        return h + list(extra), body
    return build


def _raw(hdrs, body=None):
    return lambda c: (list(hdrs), body)


probe("h2probe/name-space", "field name containing a space", _add([("x test", "v")]), "reject")
probe("h2probe/name-colon", "field name containing a colon", _add([("x:test", "v")]), "reject")
probe("h2probe/name-empty", "empty field name", _add([("", "v")]), "reject")
probe("h2probe/name-nonascii", "field name with a non-ASCII byte", _add([(b"x-caf\xc3\xa9", b"v")]), "reject")
probe("h2probe/name-del", "field name with DEL", _add([(b"x-a\x7f", b"v")]), "reject")
probe("h2probe/value-nul", "field value with NUL", _add([("x-test", "a\0b")]), "reject")
probe("h2probe/value-cr", "field value with CR", _add([("x-test", "a\rb")]), "reject")
probe("h2probe/value-lf", "field value with LF", _add([("x-test", "a\nb")]), "reject")
probe("h2probe/value-crlf-injection", "field value smuggling a second field with CRLF",
      _add([("x-test", "a\r\nhost: evil.example")]), "reject")
probe("h2probe/value-leading-space", "field value with leading whitespace (RFC 9113 §8.2.1)",
      _add([("x-test", " v")]), "reject")
probe("h2probe/value-trailing-tab", "field value with trailing whitespace (RFC 9113 §8.2.1)",
      _add([("x-test", "v\t")]), "reject")
probe("h2probe/value-inner-space", "field value with inner whitespace and obs-text is valid",
      _add([("x-test", b"a b\tc \xe9")]), "accept")
probe("h2probe/cl-duplicate-same", "two equal content-length fields",
      _add([("content-length", "4"), ("content-length", "4")], "POST", "/", b"test"),
      "accept_or_reject")
probe("h2probe/cl-conflict", "two different content-length fields",
      _add([("content-length", "4"), ("content-length", "5")], "POST", "/", b"test"), "reject")
probe("h2probe/cl-list", "content-length with a list value",
      _add([("content-length", "4, 5")], "POST", "/", b"test"), "reject")
probe("h2probe/cl-nondigit", "content-length not a number",
      _add([("content-length", "+4")], "POST", "/", b"test"), "reject")
probe("h2probe/cl-more-data", "content-length smaller than the DATA",
      _add([("content-length", "2")], "POST", "/", b"test"), "reject")
probe("h2probe/cl-less-data", "content-length larger than the DATA",
      _add([("content-length", "9")], "POST", "/", b"test"), "reject")
probe("h2probe/cl-ok", "content-length matching the DATA",
      _add([("content-length", "4")], "POST", "/", b"test"), {200})
probe("h2probe/transfer-encoding", "transfer-encoding is connection-specific (RFC 9113 §8.2.2)",
      _add([("transfer-encoding", "chunked")], "POST", "/", b"test"), "reject")
probe("h2probe/keep-alive", "keep-alive is connection-specific", _add([("keep-alive", "5")]), "reject")
probe("h2probe/proxy-connection", "proxy-connection is connection-specific",
      _add([("proxy-connection", "keep-alive")]), "reject")
probe("h2probe/upgrade", "upgrade is connection-specific", _add([("upgrade", "h2c")]), "reject")
probe("h2probe/te-trailers", "te: trailers is allowed", _add([("te", "trailers")]), "accept")
probe("h2probe/te-gzip", "te other than trailers", _add([("te", "gzip")]), "reject")
probe("h2probe/host-only", "host without :authority is used as the authority",
      _add([("host", "localhost")], drop=(":authority",)), "accept")
probe("h2probe/no-authority-no-host", "neither :authority nor host (RFC 9113 §8.3.1: malformed for http)",
      _add([], drop=(":authority",)), "reject")
probe("h2probe/authority-host-differ", ":authority and a different host (RFC 9113 §8.3.1: authority wins)",
      _add([("host", "other.example")]), {200, 400, 421})
probe("h2probe/authority-bad", ":authority with a space", _raw([(":method", "GET"), (":scheme", "http"),
      (":path", "/"), (":authority", "bad host")]), "reject")
probe("h2probe/authority-userinfo", ":authority with userinfo (RFC 9113 §8.3.1 MUST NOT)",
      _raw([(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "user@localhost")]),
      "reject")
probe("h2probe/authority-empty", "empty :authority (RFC 9113 §8.3.1: MUST NOT be empty)",
      _raw([(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "")]), "reject")
probe("h2probe/host-ipv6", "bracketed IPv6 authority", _raw([(":method", "GET"), (":scheme", "http"),
      (":path", "/"), (":authority", "[::1]:8080")]), "accept")
probe("h2probe/method-lowercase", "lowercase method is just another method",
      _add([], "get"), {400, 404, 405, 501})
probe("h2probe/method-space", "method with a space", _add([], "GE T"), "reject")
probe("h2probe/method-empty", "empty :method", _add([], ""), "reject")
probe("h2probe/method-unknown", "unknown method token", _add([], "FOOBAR"), {404, 405, 501})
probe("h2probe/path-relative", ":path not starting with /", _add([], "GET", "index.html"), "reject")
probe("h2probe/path-absolute-form", ":path in absolute form", _add([], "GET", "http://localhost/"), "reject")
probe("h2probe/path-space", ":path with a space", _add([], "GET", "/a b"), "reject")
probe("h2probe/path-fragment", ":path with a fragment", _add([], "GET", "/#frag"), "reject")
probe("h2probe/path-nonascii", ":path with a raw non-ASCII byte", _add([], "GET", b"/caf\xc3\xa9"), "reject")
probe("h2probe/path-asterisk-get", ":path * with GET", _add([], "GET", "*"), "reject")
probe("h2probe/path-asterisk-options", ":path * with OPTIONS (RFC 9113 §8.3.1)",
      _add([], "OPTIONS", "*"), {200, 204, 404, 405, 501})
probe("h2probe/scheme-bad", "invalid :scheme", _raw([(":method", "GET"), (":scheme", "ht tp"),
      (":path", "/"), (":authority", "localhost")]), "reject")
probe("h2probe/connect-with-path", "CONNECT with :path and :scheme (not extended CONNECT)",
      _raw([(":method", "CONNECT"), (":scheme", "http"), (":path", "/"), (":authority", "localhost:80")]),
      "reject")
probe("h2probe/connect-no-authority", "CONNECT without :authority",
      _raw([(":method", "CONNECT")]), "reject")
probe("h2probe/header-huge-value", "one field value over the limit",
      _add([("x-big", "x" * 70000)]), "reject431")
probe("h2probe/header-many", "too many fields",
      _add([("x-f%d" % i, "v") for i in range(300)]), "reject431")
probe("h2probe/header-1m-value", "a 1 MB field value (far past the header list limit)",
      _add([("x-big", "x" * 1000000)]), "reject431")
probe("h2probe/header-long-value-7k", "a 7 KB field value is fine", _add([("x-long", "v" * 7000)]), "accept")
probe("h2probe/headers-50", "50 fields are fine", _add([("x-f%d" % i, "value%d" % i) for i in range(50)]),
      "accept")
probe("h2probe/path-64k", "a 64 KB :path", _add([], "GET", "/" + "a" * 65535), {414, 431, "reset"})
probe("h2probe/path-7900", "a 7900-byte :path is fine", _add([], "GET", "/" + "a" * 7899), "accept")
probe("h2probe/path-nul", ":path with NUL", _add([], "GET", "/a\0b"), "reject")
probe("h2probe/path-traversal-encoded", "encoded dot segments do not leave the static root",
      _add([], "GET", "/static/%2e%2e/%2e%2e/CMakeLists.txt"), {400, 403, 404})
probe("h2probe/path-traversal-raw", "raw dot segments do not leave the static root",
      _add([], "GET", "/static/../../CMakeLists.txt"), {400, 403, 404})
probe("h2probe/host-multiple", "two different host fields without :authority",
      _add([("host", "a.example"), ("host", "b.example")], drop=(":authority",)), "reject")
probe("h2probe/host-bad-port", "host with a non-numeric port",
      _add([("host", "localhost:abc")], drop=(":authority",)), "reject")
probe("h2probe/authority-bad-port", ":authority with a non-numeric port",
      _raw([(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "localhost:abc")]),
      "reject")
probe("h2probe/cl-negative", "negative content-length",
      _add([("content-length", "-1")], "POST", "/", b"test"), "reject")
probe("h2probe/cl-empty", "empty content-length", _add([("content-length", "")], "POST", "/", b"test"),
      "reject")
probe("h2probe/cl-huge-small-endpoint", "content-length past the route's body limit: 413 before the body",
      _add([("content-length", "99999999999")], "POST", "/small", None), {413, "reset"})
probe("h2probe/small-body", "a small body within the route's limit", _add([], "POST", "/small", b"hello"),
      {200})
probe("h2probe/cookie-crumbs", "several cookie fields are fine", _add([("cookie", "a=1"), ("cookie", "b=2")]),
      "accept")


def head_block(c, sid):
    """The first HEADERS block on sid (frames in between skipped): the frame."""
    while True:
        e = c.event()
        if e in (CLOSED, TIMEOUT):
            raise Fail("no HEADERS on stream %d; got %s" % (sid, _trail(c)))
        if e.type == HEADERS and e.sid == sid:
            return e


@case("h2probe/head-no-body", "HEAD: the response ends with its HEADERS, no DATA")
def _(c):
    c.headers(1, c.common("HEAD"))
    e = head_block(c, 1)
    if not e.flags & END_STREAM:
        raise Fail("HEAD response HEADERS without END_STREAM")


@case("h2probe/date", "a 200 carries a date field")
def _(c):
    c.headers(1)
    e = head_block(c, 1)
    p = e.payload
    hdrs = dict(hpack.Decoder().decode(p if not e.flags & PADDED else p[1:len(p) - p[0]]))
    if "date" not in hdrs and b"date" not in hdrs:
        raise Fail("no date field: %r" % hdrs)


@case("h2probe/expect-100", "expect: 100-continue gets :status 100, then the final answer")
def _(c):
    post(c, extra=[("expect", "100-continue"), ("content-length", "4")])
    dec = hpack.Decoder()
    e = head_block(c, 1)
    st = dict(dec.decode(e.payload)).get(":status")
    if st not in ("100", b"100"):
        raise Fail("first answer %r, want 100" % st)
    c.data(1, b"test")
    e = head_block(c, 1)
    st = dict(dec.decode(e.payload)).get(":status")
    if st not in ("200", b"200"):
        raise Fail("final answer %r, want 200" % st)


@case("h2probe/expect-413-before-body", "expect: 100-continue past the body limit: 413, no 100")
def _(c):
    c.headers(1, c.common("POST", "/small") + [("expect", "100-continue"), ("content-length", "99999999")],
              end_stream=False)
    st, rst, ga = response_status(c, 1)
    if st != 413:
        raise Fail("want 413; got status=%s rst=%s" % (st, rst))


# ---- runner ------------------------------------------------------------------------


def section(cid):
    parts = cid.split("/")
    return "/".join(parts[:2]) if parts[0] != "h2probe" else "h2probe"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--path", default="/")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("-k", dest="filter", action="append", default=[])
    ap.add_argument("-v", dest="verbose", action="store_true")
    opts = ap.parse_args()
    results = {}
    failed = []
    for cid, desc, fn, hs in CASES:
        if opts.filter and not any(f in cid for f in opts.filter):
            continue
        c = None
        try:
            c = Conn(opts)
            if hs:
                c.handshake()
            fn(c)
            res = "PASS"
            msg = ""
        except Skip as e:
            res, msg = "SKIP", str(e)
        except Fail as e:
            res, msg = "FAIL", str(e)
        except (OSError, ssl.SSLError, ValueError, hpack.HPACKError) as e:
            res, msg = "FAIL", "%s: %s" % (type(e).__name__, e)
        finally:
            if c:
                c.close()
        sec = section(cid)
        r = results.setdefault(sec, [0, 0, 0])
        r[{"PASS": 0, "FAIL": 1, "SKIP": 2}[res]] += 1
        if res != "PASS" or opts.verbose:
            print("%s %s - %s%s" % (res, cid, desc, (": " + msg) if msg else ""))
        if res == "FAIL":
            failed.append(cid)
    tot = [0, 0, 0]
    print("section            pass fail skip")
    for sec, r in results.items():
        print("%-18s %4d %4d %4d" % (sec, r[0], r[1], r[2]))
        tot = [a + b for a, b in zip(tot, r)]
    print("%-18s %4d %4d %4d" % ("total", tot[0], tot[1], tot[2]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
