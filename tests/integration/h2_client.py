#!/usr/bin/env python3
"""h2_client.py - scripted HTTP/2 clients for tests/integration/test_http2.c.

    h2_client.py PORT MODE

Speaks HTTP/2 with prior knowledge to 127.0.0.1:PORT, frame by frame (the
hpack package of python3-h2 encodes the header blocks), and checks what the
server answers. Prints one line and exits 0 when the server behaved as
expected, 1 otherwise, 77 when python3-h2/hpack is missing. Every mode is
bounded in frames and in time.
"""
import socket
import ssl
import struct
import sys
import time

try:
    import hpack
except ImportError:  # pragma: no cover
    print("SKIP: python3-h2 (hpack) not installed")
    sys.exit(77)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WUPD, CONT = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
CALM, PROTOCOL_ERROR, REFUSED = 0xB, 0x1, 0x7


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


class Conn:
    """One client connection (ws_h2_client.py and h2_exec.py build on it):
    the preface and SETTINGS sent, frames read one at a time, each passed
    to handle() first."""

    def __init__(self, port, settings=b"", tls=False):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s = self.tls_wrap(s) if tls else s
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.buf = b""
        self.closed = False
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0, settings))

    @staticmethod
    def tls_context():
        """TLS with ALPN h2, the server's certificate not checked."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        return ctx

    def tls_wrap(self, s):
        """The TLS socket over s (h2_records.py's counts the records)."""
        s = self.tls_context().wrap_socket(s, server_hostname="localhost")
        if s.selected_alpn_protocol() != "h2":
            fail("ALPN chose %r" % s.selected_alpn_protocol())
        return s

    def send(self, b):
        try:
            self.s.sendall(b)
            return True
        except OSError:
            return False

    def req(self, sid, path, method="GET", end=True, extra=()):
        hdrs = [(":method", method), (":path", path), (":scheme", "http"),
                (":authority", "127.0.0.1")] + list(extra)
        hb = self.enc.encode(hdrs)
        fl = END_STREAM if end else 0
        if len(hb) <= 16384:
            return frame(HEADERS, END_HEADERS | fl, sid, hb)
        out = frame(HEADERS, fl, sid, hb[:16384])
        hb = hb[16384:]
        while hb:
            out += frame(CONT, END_HEADERS if len(hb) <= 16384 else 0, sid, hb[:16384])
            hb = hb[16384:]
        return out

    def read_frame(self, deadline):
        while True:
            if len(self.buf) >= 9:
                ln = struct.unpack(">I", b"\0" + self.buf[:3])[0]
                if len(self.buf) >= 9 + ln:
                    t, fl = self.buf[3], self.buf[4]
                    sid = struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF
                    p = self.buf[9:9 + ln]
                    self.buf = self.buf[9 + ln:]
                    self.handle(t, fl, sid, p)
                    return t, fl, sid, p
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                d = b""
            if not d:
                self.closed = True
                return None
            self.buf += d

    def handle(self, t, fl, sid, p):
        """Called with every frame read: ACKs the server's SETTINGS."""
        if t == SETTINGS and not fl & ACK:
            self.send(frame(SETTINGS, ACK, 0))

    def responses(self, want, timeout=10, window=True):
        """Reads until `want` streams ended; returns {sid: (status, body)}."""
        got, bodies, status = {}, {}, {}
        deadline = time.monotonic() + timeout
        while len(got) < want:
            f = self.read_frame(deadline)
            if f is None:
                break
            t, fl, sid, p = f
            if t == HEADERS:
                for k, v in self.dec.decode(p):
                    if k in (b":status", ":status"):
                        st = int(v)
                        if st >= 200:
                            status[sid] = st
            elif t == DATA:
                bodies[sid] = bodies.get(sid, b"") + p
                if window and p:
                    self.send(frame(WUPD, 0, 0, struct.pack(">I", len(p))) +
                              frame(WUPD, 0, sid, struct.pack(">I", len(p))))
            elif t == RST:
                # After a complete response, RST NO_ERROR only stops the
                # request body (RFC 9113 §8.1): the response stands.
                got.setdefault(sid, ("rst", struct.unpack(">I", p)[0]))
                continue
            elif t == GOAWAY:
                self.goaway = struct.unpack(">II", p[:8])
            if t in (HEADERS, DATA) and fl & END_STREAM:
                got[sid] = (status.get(sid), bodies.get(sid, b""))
        return got

    def response_after_reset(self, sid, timeout=10):
        """responses() until stream sid's has ended, after an earlier stream
        was reset or ended: a RST_STREAM for that one may come first and end
        a responses(1) of its own. Returns all it gathered (sid's entry
        missing if its response never came)."""
        got = {}
        for _ in range(3):  # the RST_STREAM, then sid's response
            got.update(self.responses(1, timeout))
            if sid in got:
                break
        return got

    def settle(self, timeout=0.5):
        """Reads (and ACKs) the server's SETTINGS before a header block is
        sent in pieces: an ACK inside a block is a protocol error."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_frame(deadline)
            if f is None or (f[0] == SETTINGS and f[1] & ACK):
                return

    def wait_goaway(self, timeout=10):
        """Reads frames until a GOAWAY (returns its error code) or close."""
        deadline = time.monotonic() + timeout
        code = None
        while True:
            f = self.read_frame(deadline)
            if f is None:
                return code
            if f[0] == GOAWAY:
                code = struct.unpack(">I", f[3][4:8])[0]

    def wait_closed(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            if self.read_frame(deadline) is None and not self.closed:
                return False
        return self.closed


def ok(msg):
    print("OK " + msg)
    sys.exit(0)


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


def expect_calm(c, what, sent, codes=(CALM,)):
    code = c.wait_goaway(10)
    if code not in codes:
        fail("%s: GOAWAY code %r after %d frames (want ENHANCE_YOUR_CALM)" % (what, code, sent))
    if not c.wait_closed(5):
        fail("%s: not closed after GOAWAY" % what)
    ok("%s: GOAWAY %#x and close" % (what, code))


def flood(c, what, one, n=5000, codes=(CALM,)):
    sent = 0
    chunk = one * 100
    for _ in range(n // 100):
        if not c.send(chunk):
            break
        sent += 100
    expect_calm(c, what, sent, codes)


def raw_exchange(port, data, timeout=5):
    """Sends data on a new connection; returns all it gets until close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    got = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            b = s.recv(65536)
        except socket.timeout:
            return got, False
        except OSError:
            b = b""
        if not b:
            return got, True
        got += b
    return got, False


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    if mode == "bad_preface":
        # An h2c port: a line that is no request line at all closes without
        # an HTTP/1.1 answer (a bad HTTP/2 preface); a bad HTTP version is
        # still HTTP/1.1's 400.
        got, closed = raw_exchange(port, b"INVALID CONNECTION PREFACE\r\n\r\n")
        if got or not closed:
            fail("bad preface: got %r, closed=%s" % (got[:40], closed))
        got, closed = raw_exchange(port, b"GET / HTTP/1\r\nHost: x\r\n\r\n")
        if not got.startswith(b"HTTP/1.1 400"):
            fail("bad version: got %r" % got[:40])
        ok("bad preface closed, bad version 400")
    c = Conn(port)
    if mode == "multiplex":
        # 9 interleaved POST bodies on one connection, echoed back whole.
        n, parts = 9, 4
        out = b""
        for i in range(n):
            out += c.req(1 + 2 * i, "/body", "POST", end=False)
        for k in range(parts):
            for i in range(n):
                data = (b"%d-%d;" % (i, k)) * 50
                out += frame(DATA, END_STREAM if k == parts - 1 else 0, 1 + 2 * i, data)
        c.send(out)
        got = c.responses(n)
        for i in range(n):
            exp = b"".join((b"%d-%d;" % (i, k)) * 50 for k in range(parts))
            if got.get(1 + 2 * i) != (200, exp):
                fail("stream %d: %r" % (1 + 2 * i, got.get(1 + 2 * i, "missing")[:2]))
        ok("%d interleaved bodies echoed" % n)
    if mode == "stream_echo":
        # A streamed route echoing 1 MiB sent in 16 KiB frames: the client
        # only gets window for more as the server consumes (and echoes).
        body = bytes(range(256)) * 4096
        c.send(c.req(1, "/stream", "POST", end=False))
        sent, got, deadline = 0, b"", time.monotonic() + 20
        window = 65535
        status = None
        while time.monotonic() < deadline:
            while sent < len(body) and window >= 16384:
                piece = body[sent:sent + 16384]
                sent += len(piece)
                window -= len(piece)
                c.send(frame(DATA, END_STREAM if sent == len(body) else 0, 1, piece))
            f = c.read_frame(deadline)
            if f is None:
                break
            t, fl, sid, p = f
            if t == WUPD and sid == 1:
                window += struct.unpack(">I", p)[0]
            elif t == HEADERS:
                status = dict(c.dec.decode(p)).get(":status")
            elif t == DATA:
                got += p
                if p:
                    c.send(frame(WUPD, 0, 0, struct.pack(">I", len(p))) +
                           frame(WUPD, 0, 1, struct.pack(">I", len(p))))
                if fl & END_STREAM:
                    break
            elif t in (RST, GOAWAY):
                fail("frame %d during echo" % t)
        if got != body or status != "200":
            fail("echo: status %r, %d of %d bytes" % (status, len(got), len(body)))
        ok("1 MiB streamed echo with flow control both ways")
    if mode == "small_window":
        # Server -> client flow control: a 64 KiB client window, opened as
        # the client reads, carries 1 MiB.
        c.send(c.req(1, "/big?kb=1024"))
        got = c.responses(1, 20)
        if got.get(1, (0, b""))[0] != 200 or len(got[1][1]) != 1024 * 1024:
            fail("big: %r" % (got.get(1, ("missing",))[0],))
        ok("1 MiB through a 64 KiB window")
    if mode == "window_every_frame":
        # A 1,024-byte stream window given back after every DATA frame
        # (stream and connection: two WINDOW_UPDATEs a frame): 2 MiB is
        # 2,048 frames and 4,096 WINDOW_UPDATEs in well under a second,
        # past max_control_frames (1,000 a second). Flow control the
        # server's own DATA asked for: no GOAWAY.
        c = Conn(port, struct.pack(">HI", 4, 1024))
        c.send(c.req(1, "/big?kb=2048"))
        got = c.responses(1, 60)
        if getattr(c, "goaway", None):
            fail("window every frame: GOAWAY %r" % (c.goaway,))
        if got.get(1, (0, b""))[0] != 200 or len(got[1][1]) != 2048 * 1024:
            fail("window every frame: %r" % (got.get(1, ("missing",))[0],))
        ok("2 MiB in 1 KiB frames, each given back: served")
    if mode == "reset":
        # A reset stream is cancelled; the connection serves the next one.
        c.send(c.req(1, "/slow?ms=2000") + frame(RST, 0, 1, struct.pack(">I", 0x8)))
        time.sleep(0.2)
        c.send(c.req(3, "/"))
        got = c.response_after_reset(3)
        if got.get(3) != (200, b"hello"):
            fail("after reset: %r" % got)
        ok("reset stream cancelled, next served")
    if mode == "limits":
        big = [("x-big", "a" * 8000)] * 6
        c.settle()
        c.send(c.req(1, "/", extra=big))
        c.send(c.req(3, "/small", "POST", end=False, extra=[("content-length", "2000")]))
        c.send(c.req(5, "/nothere"))
        got = c.responses(3)
        s1 = got.get(1, (None,))[0]
        if s1 != 431 and got.get(1, (None,))[0] != "rst":
            fail("header list: %r" % (got.get(1),))
        if got.get(3, (None,))[0] != 413:
            fail("body limit: %r" % (got.get(3),))
        if got.get(5, (None,))[0] != 404:
            fail("404: %r" % (got.get(5),))
        ok("431, 413, 404")
    if mode == "max_streams":
        # The test server allows 2 concurrent streams: the third is refused.
        c.responses(0, 1)  # read and ack the server's SETTINGS
        c.send(c.req(1, "/slow?ms=1500") + c.req(3, "/slow?ms=1500") + c.req(5, "/slow?ms=1500"))
        got = c.responses(3, 10)
        if got.get(5) != ("rst", REFUSED) or got.get(1, (0,))[0] != 200:
            fail("max streams: %r" % got)
        ok("third concurrent stream refused")
    if mode == "rapid_reset":
        out = b""
        for i in range(3000):
            out += c.req(1 + 2 * i, "/slow?ms=5000") + frame(RST, 0, 1 + 2 * i, struct.pack(">I", 8))
        c.send(out)
        expect_calm(c, "rapid reset", 3000)
    if mode == "continuation":
        hb = c.enc.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"),
                           (":authority", "x")])
        c.send(frame(HEADERS, END_STREAM, 1, hb))
        # Each CONTINUATION repeats one indexed field (accept-encoding).
        # Our cap (32 per block) decides, not nghttp2's (raised above it).
        flood(c, "CONTINUATION flood", frame(CONT, 0, 1, b"\x90"), 10000)
    if mode == "continuation_limit":
        # 32 CONTINUATION frames in a block are served; a 33rd is the flood.
        hb = c.enc.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"),
                           (":authority", "x")])
        c.settle()
        c.send(frame(HEADERS, END_STREAM, 1, hb) + frame(CONT, 0, 1, b"\x90") * 31 +
               frame(CONT, END_HEADERS, 1, b"\x90"))
        got = c.responses(1)
        if got.get(1, (None,))[0] != 200:
            fail("32 CONTINUATION frames: %r" % got)
        c.send(frame(HEADERS, END_STREAM, 3, hb) + frame(CONT, 0, 3, b"\x90") * 32 +
               frame(CONT, END_HEADERS, 3, b"\x90"))
        expect_calm(c, "33 CONTINUATION frames (32 served)", 33)
    if mode == "hpack_bomb":
        # One 4 KiB entry in the dynamic table, then a block naming it
        # 4000 times (16 MB decoded from 4 KB): the stream is refused.
        big = "b" * 4000
        hb = c.enc.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"),
                           (":authority", "x"), ("x-bomb", big)])
        # x-bomb is now dynamic index 62 (most recent): 0xbe repeated.
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, hb + b"\xbe" * 4000))
        got = c.responses(1, 10)
        r = got.get(1)
        if not r or (r[0] != 431 and r[0] != "rst"):
            fail("hpack bomb: %r" % (r,))
        c.send(c.req(3, "/"))
        got = c.responses(1, 10)
        if got.get(3) != (200, b"hello"):
            fail("after the bomb: %r" % got)
        ok("HPACK bomb refused (%r), connection still serves" % (r[0],))
    if mode == "settings_flood":
        flood(c, "SETTINGS flood", frame(SETTINGS, 0, 0))
    if mode == "ping_flood":
        flood(c, "PING flood", frame(PING, 0, 0, b"12345678"))
    if mode == "priority_flood":
        flood(c, "PRIORITY flood", frame(PRIORITY, 0, 1, struct.pack(">IB", 0, 15)))
    if mode == "window_update_flood":
        # WINDOW_UPDATEs no DATA of ours asked for (1 byte each).
        flood(c, "WINDOW_UPDATE flood", frame(WUPD, 0, 0, struct.pack(">I", 1)))
    if mode == "empty_data_flood":
        c.send(c.req(1, "/stream", "POST", end=False))
        flood(c, "empty DATA flood", frame(DATA, 0, 1))
    if mode == "zero_window":
        # Window 0: the response can never flow; the write timeout (1 s in
        # the test server) closes the connection.
        c = Conn(port, struct.pack(">HI", 4, 0))
        c.send(c.req(1, "/large?kb=256"))
        t0 = time.monotonic()
        if not c.wait_closed(10):
            fail("zero window: still open")
        ok("zero-window stall closed after %.1f s" % (time.monotonic() - t0))
    if mode == "slow_read":
        # Never read: the socket fills, the write timeout closes.
        c.send(c.req(1, "/large?kb=262144"))
        t0 = time.monotonic()
        time.sleep(3)
        c.s.settimeout(0.5)
        closed = False
        try:
            while time.monotonic() - t0 < 20:
                d = c.s.recv(1 << 20)
                if not d:
                    closed = True
                    break
        except OSError:
            closed = True
        if not closed:
            fail("slow read: still open")
        ok("slow reader closed")
    if mode == "stream_ids":
        # The largest stream id is served; reusing a lower one is a
        # connection error (RFC 9113 §5.1.1).
        c.send(c.req(0x7FFFFFFF, "/"))
        got = c.responses(1)
        if got.get(0x7FFFFFFF) != (200, b"hello"):
            fail("max id: %r" % got)
        # No id is left: a lower one is not served (nghttp2 ignores or
        # refuses it) and the connection ends with GOAWAY and close.
        c.send(c.req(3, "/"))
        got = c.responses(1, 3)
        if got.get(3, (None,))[0] == 200:
            fail("id reuse served: %r" % got)
        code = getattr(c, "goaway", (None, None))[1]
        if code is None:
            code = c.wait_goaway(5)
        if code is None or not c.wait_closed(5):
            fail("id space end: GOAWAY %r, closed %r" % (code, c.closed))
        ok("stream id space end: GOAWAY %r" % code)
    if mode == "header_timeout":
        hb = c.enc.encode([(":method", "GET"), (":path", "/")])
        c.settle()
        c.send(frame(HEADERS, 0, 1, hb))  # no END_HEADERS, nothing more
        t0 = time.monotonic()
        if not c.wait_closed(10):
            fail("header timeout: still open")
        ok("incomplete header block closed after %.1f s" % (time.monotonic() - t0))
    if mode == "closed_streams":
        # RFC 9113 §5.1 with RFC 9218 scheduling, under which nghttp2 keeps
        # no closed streams and the server checks the client's frame heads
        # itself. Every frame below goes one byte per segment, so its head
        # is split across the server's reads.
        def settled_nodelay(conn):
            conn.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settle()
            return conn

        def dribble(conn, b):
            for i in range(len(b)):
                conn.send(b[i:i + 1])
                time.sleep(0.002)

        settled_nodelay(c)
        # The server ended stream 1 (413 before the body): the client's
        # DATA still in flight is ignored, the connection goes on.
        c.send(c.req(1, "/small", "POST", end=False, extra=[("content-length", "2000")]))
        if c.responses(1).get(1, (None,))[0] != 413:
            fail("closed_streams: no 413")
        dribble(c, frame(DATA, 0, 1, b"a" * 10) + frame(DATA, END_STREAM, 1, b"a" * 10))
        c.send(c.req(3, "/"))
        got = c.response_after_reset(3)
        if got.get(3) != (200, b"hello") or getattr(c, "goaway", None):
            fail("closed_streams: after our own end: %r, GOAWAY %r" % (got, getattr(c, "goaway", None)))
        # The client ended stream 3: DATA on it is a connection error.
        dribble(c, frame(DATA, 0, 3, b"x"))
        code = c.wait_goaway(10)
        if code != 0x5:
            fail("closed_streams: DATA after END_STREAM: GOAWAY %r, want STREAM_CLOSED" % code)
        # The client reset stream 1: HEADERS on it, likewise.
        c2 = settled_nodelay(Conn(port))
        dribble(c2, c2.req(1, "/slow?ms=2000", end=False) + frame(RST, 0, 1, struct.pack(">I", 0x8)) +
                c2.req(1, "/"))
        code = c2.wait_goaway(10)
        if code != 0x5:
            fail("closed_streams: HEADERS after RST_STREAM: GOAWAY %r, want STREAM_CLOSED" % code)
        # A PRIORITY frame on stream 5 depending on stream 5.
        c3 = settled_nodelay(Conn(port))
        dribble(c3, frame(PRIORITY, 0, 5, struct.pack(">IB", 5, 15)))
        code = c3.wait_goaway(10)
        if code != PROTOCOL_ERROR:
            fail("closed_streams: PRIORITY on itself: GOAWAY %r, want PROTOCOL_ERROR" % code)
        ok("closed streams: ours ignored, the client's STREAM_CLOSED, self-dependency PROTOCOL_ERROR")
    if mode == "idle":
        t0 = time.monotonic()
        code = c.wait_goaway(10)
        if code != 0 or not c.wait_closed(5):
            fail("idle: GOAWAY %r" % code)
        ok("idle connection: GOAWAY NO_ERROR after %.1f s" % (time.monotonic() - t0))
    if mode == "graceful":
        # The test stops the server while /slow runs: GOAWAY first, the
        # response still arrives, then the connection closes.
        c.send(c.req(1, "/slow?ms=800"))
        deadline = time.monotonic() + 10
        goaways, status = [], None
        while True:
            f = c.read_frame(deadline)
            if f is None:
                break
            t, fl, sid, p = f
            if t == GOAWAY:
                goaways.append(struct.unpack(">II", p[:8]))
            elif t == HEADERS and sid == 1:
                status = dict(c.dec.decode(p)).get(":status")
            elif t == PING and not fl & ACK:
                c.send(frame(PING, ACK, 0, p))
        if status != "200" or not goaways or goaways[0][0] != 0x7FFFFFFF:
            fail("graceful: status %r goaways %r" % (status, goaways))
        if goaways[-1] != (1, 0):
            fail("graceful: final GOAWAY %r" % (goaways[-1],))
        ok("graceful stop: GOAWAY %r, response, close" % goaways)
    fail("unknown mode " + mode)


if __name__ == "__main__":
    main()
