#!/usr/bin/env python3
"""ws_h2_client.py - WebSockets over HTTP/2 (RFC 8441) for test_ws_h2.c.

    ws_h2_client.py PORT MODE [--tls]

Speaks HTTP/2 with prior knowledge (or TLS with ALPN h2 under --tls) to
127.0.0.1:PORT, opens WebSockets with extended CONNECT and exchanges
masked frames built here by hand in DATA frames (hpack from python3-h2
encodes the header blocks). Prints one line and exits 0 when the server
behaved as expected, 1 otherwise, 77 when hpack is missing. Every mode is
bounded in frames and in time.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2_client  # noqa: E402  (exits 77 without hpack)
from h2_client import (frame, ok, fail, DATA, HEADERS, RST, SETTINGS, PING, GOAWAY,  # noqa: E402
                       WUPD, END_STREAM, END_HEADERS, ACK)

CANCEL = 0x8
ENABLE_CONNECT_PROTOCOL = 0x8
TEXT, BINARY, CLOSE, WPING, WPONG = 0x1, 0x2, 0x8, 0x9, 0xA
STARVE_MAX = 32 << 20  # starve mode: flood bytes within which GET / is answered
FAIR_AHEAD = 8 << 20  # fair modes: flood bytes read before we speak
FAIR_MAX = 32 << 20  # fair modes: flood bytes within which our message is heard


def wsframe(op, payload=b"", fin=True, mask=True):
    """A client frame (masked unless told otherwise)."""
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        hdr = bytes([b0, (0x80 if mask else 0) | n])
    elif n < 65536:
        hdr = bytes([b0, (0x80 if mask else 0) | 126]) + struct.pack(">H", n)
    else:
        hdr = bytes([b0, (0x80 if mask else 0) | 127]) + struct.pack(">Q", n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    return hdr + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def wsparse(buf):
    """Server frames (unmasked) from buf: ([(op, fin, payload)], rest)."""
    out = []
    while len(buf) >= 2:
        op, fin = buf[0] & 0x0F, bool(buf[0] & 0x80)
        n, p = buf[1] & 0x7F, 2
        if buf[1] & 0x80:
            raise ValueError("masked server frame")
        if n == 126:
            if len(buf) < 4:
                break
            n, p = struct.unpack(">H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, p = struct.unpack(">Q", buf[2:10])[0], 10
        if len(buf) < p + n:
            break
        out.append((op, fin, buf[p:p + n]))
        buf = buf[p + n:]
    return out, buf


class Stream:
    def __init__(self):
        self.status = None
        self.headers = {}
        self.raw = b""       # WebSocket bytes not parsed yet
        self.frames = []     # parsed server frames
        self.body = b""      # a refusal's body
        self.ended = False   # END_STREAM from the server
        self.reset = None    # RST_STREAM code


class Conn(h2_client.Conn):
    """h2_client's connection that tracks the server's SETTINGS, both
    flow-control windows and a Stream per stream id, and parses the
    WebSocket frames of a 200's DATA."""

    def __init__(self, port, tls=False, window=True):
        self.window = window  # WINDOW_UPDATE for every DATA byte read
        self.settings = {}
        self.streams = {}
        self.goaway = None
        self.pending = []  # [sid, bytes, end]: DATA waiting for window
        self.cwin = 65535  # our send windows: connection, streams
        self.swin = {}
        self.initial = 65535
        super().__init__(port, tls=tls)

    def headers(self, sid, hdrs, end=False):
        self.streams.setdefault(sid, Stream())
        return frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), sid, self.enc.encode(hdrs))

    def connect(self, sid, path, extra=(), proto="websocket"):
        h = [(":method", "CONNECT"), (":protocol", proto), (":scheme", "http"),
             (":path", path), (":authority", "127.0.0.1"),
             ("sec-websocket-version", "13")] + list(extra)
        if proto is None:
            h = [x for x in h if x[0] not in (":protocol", ":scheme", ":path")]
        return self.headers(sid, h)

    def get(self, sid, path):
        return self.headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                  (":authority", "127.0.0.1")], end=True)

    def ws(self, sid, data, end=False):
        """Queues WebSocket bytes for sid; they leave in DATA frames of at
        most 16,384 bytes as the server's flow-control windows allow (the
        server opens them only as its WebSocket reads). Returns b"" so it
        composes with the frames sent at once."""
        self.pending.append([sid, data, end])
        self.pump()
        return b""

    def pump(self):
        while self.pending:
            sid, data, end = self.pending[0]
            win = min(self.cwin, self.swin.get(sid, self.initial))
            n = min(len(data), 16384, max(win, 0))
            if data and n <= 0:
                return
            last = n == len(data)
            if not self.send(frame(DATA, END_STREAM if end and last else 0, sid, data[:n])):
                self.pending = []
                return
            self.cwin -= n
            self.swin[sid] = self.swin.get(sid, self.initial) - n
            if last:
                self.pending.pop(0)
            else:
                self.pending[0][1] = data[n:]

    def handle(self, t, fl, sid, p):
        if t == SETTINGS and not fl & ACK:
            for i in range(0, len(p) - 5, 6):
                k, v = struct.unpack(">HI", p[i:i + 6])
                self.settings[k] = v
                if k == 4:
                    for x in self.swin:
                        self.swin[x] += v - self.initial
                    self.initial = v
            self.send(frame(SETTINGS, ACK, 0))
        elif t == WUPD:
            inc = struct.unpack(">I", p)[0] & 0x7FFFFFFF
            if sid == 0:
                self.cwin += inc
            else:
                self.swin[sid] = self.swin.get(sid, self.initial) + inc
            self.pump()
        elif t == GOAWAY:
            self.goaway = struct.unpack(">II", p[:8])
        elif t == PING and not fl & ACK:
            self.send(frame(PING, ACK, 0, p))
        st = self.streams.get(sid)
        if st is None or sid == 0:
            return
        if t == HEADERS:
            for k, v in self.dec.decode(p):
                k = k.decode() if isinstance(k, bytes) else k
                v = v.decode() if isinstance(v, bytes) else v
                if k == ":status":
                    st.status = int(v)
                else:
                    st.headers[k] = v
        elif t == DATA:
            if st.status == 200:
                st.raw += p
                fr, st.raw = wsparse(st.raw)
                st.frames += fr
            else:
                st.body += p
            if self.window and p:
                self.send(frame(WUPD, 0, 0, struct.pack(">I", len(p))) +
                          frame(WUPD, 0, sid, struct.pack(">I", len(p))))
        elif t == RST:
            st.reset = struct.unpack(">I", p)[0]
        if t in (HEADERS, DATA) and fl & END_STREAM:
            st.ended = True

    def until(self, cond, timeout=10):
        deadline = time.monotonic() + timeout
        while not cond():
            if self.read_frame(deadline) is None:
                return cond()
        return True

    def ask(self, sid, block):
        """Sends block (a header block on sid) and waits, bounded in time,
        until the stream ends or is reset; returns its Stream."""
        self.send(block)
        st = self.streams[sid]
        self.until(lambda: st.ended or st.reset is not None)
        return st

    def open_ws(self, sid, path="/ws/echo", extra=()):
        self.send(self.connect(sid, path, extra))
        st = self.streams[sid]
        if not self.until(lambda: st.status is not None or st.reset is not None):
            fail("stream %d: no answer to the extended CONNECT" % sid)
        if st.status != 200:
            fail("stream %d: status %r reset %r" % (sid, st.status, st.reset))
        if st.ended:
            fail("stream %d: 200 with END_STREAM" % sid)
        for bad in ("sec-websocket-accept", "upgrade", "connection"):
            if bad in st.headers:
                fail("stream %d: %s in the 200" % (sid, bad))
        return st

    def next_msg(self, sid, timeout=10):
        st = self.streams[sid]
        if not self.until(lambda: st.frames or st.ended or st.reset is not None, timeout):
            fail("stream %d: no frame" % sid)
        if not st.frames:
            fail("stream %d: ended (reset %r) without a frame" % (sid, st.reset))
        return st.frames.pop(0)

    def echo(self, sid, op, payload):
        self.send(self.ws(sid, wsframe(op, payload)))
        got = self.next_msg(sid)
        if got != (op, True, payload):
            fail("stream %d: echo %r, want %r" % (sid, got[:2] + (got[2][:40],), (op, payload[:40])))

    def close_ws(self, sid, code=1000, reason=b"bye"):
        """Client-initiated closing handshake: the echoed code, then END_STREAM."""
        self.send(self.ws(sid, wsframe(CLOSE, struct.pack(">H", code) + reason)))
        st = self.streams[sid]
        op, _, p = self.next_msg(sid)
        if op != CLOSE or struct.unpack(">H", p[:2])[0] != code:
            fail("stream %d: close answer %r %r" % (sid, op, p))
        if not self.until(lambda: st.ended or st.reset is not None):
            fail("stream %d: no END_STREAM after the close" % sid)
        if not st.ended:
            fail("stream %d: reset %r instead of END_STREAM" % (sid, st.reset))
        self.send(self.ws(sid, b"", end=True))

    def alive(self, sid):
        """A normal request on the same connection still works."""
        self.send(self.get(sid, "/"))
        st = self.streams[sid]
        if not self.until(lambda: st.ended or st.reset is not None) or st.status != 200:
            fail("GET / on stream %d: %r %r" % (sid, st.status, st.reset))


def open_negotiated(c):
    """Stream 1's WebSocket offering permessage-deflate and the subprotocols
    "x, chat": both must be chosen (deflate and exec modes)."""
    st = c.open_ws(1, "/ws/echo", [("sec-websocket-extensions", "permessage-deflate"),
                                   ("sec-websocket-protocol", "x, chat")])
    if "permessage-deflate" not in st.headers.get("sec-websocket-extensions", ""):
        fail("no permessage-deflate in %r" % st.headers)
    if st.headers.get("sec-websocket-protocol") != "chat":
        fail("subprotocol %r" % st.headers)
    return st


class Gate:
    """test_ws_exec's gate seen through its inline routes: GET /x/entered
    and /x/cancelled answer 200 once the test's counter is set (202
    before), GET /x/open opens the gate. Each GET takes the next client
    stream after sid."""

    def __init__(self, c, sid):
        self.c, self.sid = c, sid

    def next_sid(self):
        self.sid += 2
        return self.sid

    def get(self, path):
        """True on 200, False on 202."""
        c, sid = self.c, self.next_sid()
        c.send(c.get(sid, path))
        st = c.streams[sid]
        if not c.until(lambda: st.ended or st.reset is not None) or st.status not in (200, 202):
            fail("GET %s: %r %r" % (path, st.status, st.reset))
        return st.status == 200

    def wait(self, path, what=None):
        """Polls path until 200, bounded in time (never slept on)."""
        deadline = time.monotonic() + 10
        while not self.get(path):
            if time.monotonic() > deadline:
                fail(what or "%s stayed 0" % path)


def exec_held(c, mode):
    """test_ws_exec's modes around stream 1's accept, recorded on a worker
    and held in the gate: execrst resets the stream (the handler is held
    until it sees the cancellation), execcap lets an inline WebSocket take
    the only max_websockets slot first, execstop waits for the test to
    stop the server."""
    g = Gate(c, 1)
    c.send(c.connect(1, "/ws/held"))
    st1 = c.streams[1]
    g.wait("/x/entered", "the accept on stream 1 was not recorded")
    if mode == "execrst":
        c.send(frame(RST, 0, 1, struct.pack(">I", CANCEL)))
        g.wait("/x/cancelled")
        if st1.status is not None:
            fail("stream 1 answered %r after its reset" % st1.status)
        ws = g.next_sid()
        c.open_ws(ws, "/ws/echo")
        c.echo(ws, TEXT, b"after the reset")
        c.close_ws(ws)
        ok("RST_STREAM before the replay: nothing opened; the connection goes on")
    if mode == "execcap":
        # GET /x/open lets the held handler return once the inline
        # WebSocket took the slot: the replay finds the cap reached.
        ws = g.next_sid()
        c.open_ws(ws, "/ws/inline")
        g.get("/x/open")
        if not c.until(lambda: st1.ended or st1.reset is not None):
            fail("stream 1: no answer after the replay")
        if st1.status != 503 or not st1.ended:
            fail("stream 1 past max_websockets at the replay: %r %r" % (st1.status, st1.reset))
        c.echo(ws, TEXT, b"the one open")
        c.close_ws(ws)
        c.alive(g.next_sid())
        ok("cap reached at the replay: 503 on stream 1; the connection goes on")
    # execstop: the test stops the server now; the GOAWAY tells that the
    # loop is stopping, then the test opens the gate.
    print("inside", flush=True)
    if not c.until(lambda: c.goaway is not None or c.closed, 10) or c.goaway is None:
        fail("no GOAWAY at stop (stream 1: %r %r)" % (st1.status, st1.reset))
    print("goaway", flush=True)
    c.until(lambda: st1.ended or st1.reset is not None or c.closed, 20)
    if st1.status == 200 or (st1.status != 503 and st1.reset is None):
        fail("stream 1 at stop: %r %r" % (st1.status, st1.reset))
    c.until(lambda: c.closed, 10)
    ok("stop: s1=%r reset=%r goaway=%r closed=%d" % (st1.status, st1.reset, c.goaway, c.closed))


def starve(c, urgent):
    """/ws/endless floods stream 1 for as long as we read; with both
    windows opened by 1 GiB at once (a WINDOW_UPDATE per DATA frame would
    cross max_control_frames at this rate) only the server's scheduling
    decides what goes next. Once 1 MiB is in, GET / on stream 3 must be
    answered while the flood goes on: within STARVE_MAX bytes of it, far
    more than the socket buffers hold (our receive buffer is set, not
    autotuned; bytes, not time). test_ws_h2 gives the route a 16 MiB
    stream buffer the WebSocket keeps full, so the stream never waits for
    data and a non-incremental one would never let the GET's DATA through.
    urgent: the WebSocket asks for u=0, which it keeps: the GET (u=3) is
    answered only after GET /ws/endless/stop."""
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    c.window = False
    st = c.open_ws(1, "/ws/endless", [("priority", "u=0")] if urgent else [])
    c.send(frame(WUPD, 0, 0, struct.pack(">I", 1 << 30)) +
           frame(WUPD, 0, 1, struct.pack(">I", 1 << 30)))
    got = [0]
    keep = c.handle

    def count(t, fl, sid, p):
        keep(t, fl, sid, p)
        if t == DATA and sid == 1:
            got[0] += len(p)
            st.frames = []  # the flood's messages are only counted
    c.handle = count
    if not c.until(lambda: got[0] >= 1 << 20, 20):
        fail("flood: %d bytes" % got[0])
    base = got[0]
    c.send(c.get(3, "/"))
    st3 = c.streams[3]
    c.until(lambda: st3.ended or st3.reset is not None or got[0] - base > STARVE_MAX, 60)
    after = got[0] - base
    if urgent and (st3.ended or st3.reset is not None):
        fail("GET / (u=3) answered %d bytes into a u=0 flood: %r %r" %
             (after, st3.status, st3.reset))
    if not urgent and (not st3.ended or st3.status != 200):
        fail("GET / unanswered after %d bytes of the flood: %r %r" %
             (after, st3.status, st3.reset))
    # GET /ws/endless/stop ends the flood (its handler runs as the request
    # arrives); then the closing handshake, once what was queued before it
    # went out (the WebSocket reads our close then).
    c.send(c.get(5, "/ws/endless/stop"))
    c.send(c.ws(1, wsframe(CLOSE, struct.pack(">H", 1000))))
    c.handle = keep
    deadline = time.monotonic() + 30
    op = p = None
    while time.monotonic() < deadline:
        op, _, p = c.next_msg(1, 20)
        if op == CLOSE:
            break
    if op != CLOSE or struct.unpack(">H", p[:2])[0] != 1000:
        fail("no close 1000 after the stop: %r" % op)
    if not c.until(lambda: st.ended or st.reset is not None) or not st.ended:
        fail("stream 1: no END_STREAM after the close (reset %r)" % st.reset)
    c.send(c.ws(1, b"", end=True))
    for sid in (3, 5):
        stn = c.streams[sid]
        if not c.until(lambda: stn.ended or stn.reset is not None) or stn.status != 200:
            fail("GET on %d after the stop: %r %r" % (sid, stn.status, stn.reset))
    if urgent:
        ok("GET / (u=3) waited for the u=0 flood: %d bytes, then answered" % after)
    ok("GET / answered %d bytes into the flood" % after)


def fair(c, by_close):
    """/ws/endless floods stream 1, refilling its output budget at every
    on_drain, for as long as we read (windows opened by 1 GiB at once, as
    in starve). FAIR_AHEAD in (past test_ws_h2's 1 MiB stream buffer and 2
    MiB connection buffer, filled at the start: the drains go on by then),
    we send the message "stop" (the route closes 1000 when it reads it)
    or, by_close, a close frame (answered, RFC 6455 §5.5.1): the server's
    close must come within FAIR_MAX bytes of the flood, what the buffers
    on the way hold and a few turns more (bytes, not time). Before, the
    WebSocket read nothing while its budget was full, and this producer
    refilled it at every drain before the input's turn."""
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    c.window = False
    st = c.open_ws(1, "/ws/endless")
    c.send(frame(WUPD, 0, 0, struct.pack(">I", 1 << 30)) +
           frame(WUPD, 0, 1, struct.pack(">I", 1 << 30)))
    got = [0]
    closes = []
    keep = c.handle

    def count(t, fl, sid, p):
        keep(t, fl, sid, p)
        if t == DATA and sid == 1:
            got[0] += len(p)
            closes.extend(f for f in st.frames if f[0] == CLOSE)
            st.frames = []  # the flood's messages are only counted
    c.handle = count
    if not c.until(lambda: got[0] >= FAIR_AHEAD, 20):
        fail("flood: %d bytes" % got[0])
    base = got[0]
    if by_close:
        c.send(c.ws(1, wsframe(CLOSE, struct.pack(">H", 1000))))
    else:
        c.send(c.ws(1, wsframe(TEXT, b"stop")))
    c.until(lambda: closes or st.ended or st.reset is not None or got[0] - base > FAIR_MAX, 60)
    after = got[0] - base
    c.handle = keep
    if not closes:
        fail("%s: no close within %d bytes of the flood (ended %r, reset %r)" %
             ("close" if by_close else "stop", after, st.ended, st.reset))
    if struct.unpack(">H", closes[0][2][:2])[0] != 1000:
        fail("close %r" % closes[0][2])
    if not by_close:
        c.send(c.ws(1, wsframe(CLOSE, struct.pack(">H", 1000))))
    if not c.until(lambda: st.ended or st.reset is not None) or not st.ended:
        fail("stream 1: no END_STREAM after the close (reset %r)" % st.reset)
    c.send(c.ws(1, b"", end=True))
    c.alive(3)
    ok("%s heard %d bytes into the flood" % ("close" if by_close else "stop", after))


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    tls = "--tls" in sys.argv[3:]
    c = Conn(port, tls=tls, window=(mode != "slow"))
    if not c.until(lambda: c.settings, 5):
        fail("no SETTINGS")
    if mode == "nosettings":
        if c.settings.get(ENABLE_CONNECT_PROTOCOL):
            fail("SETTINGS_ENABLE_CONNECT_PROTOCOL sent: %r" % c.settings)
        c.send(c.connect(1, "/ws/echo"))
        st = c.streams[1]
        c.until(lambda: st.ended or st.reset is not None or c.goaway or c.closed, 5)
        if st.status == 200:
            fail("extended CONNECT accepted without the setting")
        ok("no SETTINGS_ENABLE_CONNECT_PROTOCOL; CONNECT refused (%r %r %r)" %
           (st.status, st.reset, c.goaway))
    if c.settings.get(ENABLE_CONNECT_PROTOCOL) != 1:
        fail("SETTINGS_ENABLE_CONNECT_PROTOCOL not 1: %r" % c.settings)
    if mode == "echo":
        c.open_ws(1, "/ws/echo")
        c.echo(1, TEXT, b"hello over h2")
        c.echo(1, BINARY, bytes(range(256)) * 240)  # 61,440 bytes: 4 DATA frames
        for i in range(8):  # 8 x 61 KB: the window opens only as the server reads
            c.echo(1, BINARY, bytes([i]) * 61440)
        c.send(c.ws(1, wsframe(WPING, b"p1")))
        if c.next_msg(1) != (WPONG, True, b"p1"):
            fail("no pong")
        c.close_ws(1)
        c.alive(3)
        ok("echo text/binary, ping, close handshake%s" % (" (TLS)" if tls else ""))
    if mode == "deflate":
        st = open_negotiated(c)
        ok("permessage-deflate and subprotocol negotiated: %r" % st.headers)
    if mode == "exec":
        # test_ws_exec: the accept was recorded on an executor worker.
        st = open_negotiated(c)
        if st.headers.get("x-exec") != "worker":
            fail("no x-exec field in %r" % st.headers)
        c.echo(1, TEXT, b"hello from a worker's accept")
        c.echo(1, BINARY, bytes(range(40)))  # under compress_min: sent as is
        c.close_ws(1)
        c.alive(3)
        ok("accept from a worker: 200 with its fields, echo, close, GET")
    if mode in ("execrst", "execcap", "execstop"):
        exec_held(c, mode)
    if mode == "execdeadline":
        # test_ws_exec: the handler recorded the accept, then overran
        # timeouts.handler: 503 on the stream, never a 200; the connection
        # goes on.
        st = c.ask(1, c.connect(1, "/ws/held"))
        if st.status != 503:
            fail("held accept past the handler deadline: %r %r" % (st.status, st.reset))
        c.alive(3)
        ok("handler deadline after a recorded accept: 503 on the stream")
    if mode == "multi":
        c.open_ws(1, "/ws/echo")
        c.open_ws(3, "/ws/echo")
        out = b""
        for i in range(20):
            out += c.ws(1, wsframe(TEXT, b"one %d" % i)) + c.ws(3, wsframe(TEXT, b"three %d" % i))
        out += c.get(5, "/") + c.get(7, "/")
        c.send(out)
        for i in range(20):
            for sid, w in ((1, b"one %d" % i), (3, b"three %d" % i)):
                m = c.next_msg(sid)
                if m != (TEXT, True, w):
                    fail("stream %d message %d: %r" % (sid, i, m))
        for sid in (5, 7):
            st = c.streams[sid]
            if not c.until(lambda: st.ended) or st.status != 200:
                fail("GET on %d: %r" % (sid, st.status))
        c.close_ws(1)
        c.echo(3, TEXT, b"still here")
        c.close_ws(3)
        ok("two WebSockets and two GETs on one connection")
    if mode == "refuse":
        st = c.ask(1, c.connect(1, "/ws/refuse"))
        if st.status != 403 or not st.ended:
            fail("refused: %r ended %r" % (st.status, st.ended))
        st3 = c.ask(3, c.connect(3, "/ws/echo", proto="chat"))
        if st3.status == 200:
            fail(":protocol chat accepted")
        st5 = c.ask(5, c.connect(5, "/ws/echo", proto=None))  # a plain CONNECT
        if st5.status == 200:
            fail("plain CONNECT accepted")
        st7 = c.ask(7, c.headers(7, [(":method", "CONNECT"), (":protocol", "websocket"),
                                     (":scheme", "http"), (":path", "/ws/echo"),
                                     (":authority", "127.0.0.1"),
                                     ("sec-websocket-version", "8")]))
        if st7.status not in (400, 426):
            fail("version 8: %r" % st7.status)
        st9 = c.ask(9, c.connect(9, "/nows"))
        if st9.status != 404:
            fail("unknown path: %r" % st9.status)
        c.alive(11)
        ok("refusals: 403, :protocol chat %r, plain CONNECT %r/%r, version 8 %r, 404" %
           (st3.status, st5.status, st5.reset, st7.status))
    if mode == "rst":
        c.open_ws(1, "/ws/echo")
        c.echo(1, TEXT, b"before reset")
        c.send(frame(RST, 0, 1, struct.pack(">I", CANCEL)))
        c.open_ws(3, "/ws/echo")
        c.echo(3, TEXT, b"after reset")
        c.alive(5)
        c.close_ws(3)
        ok("RST_STREAM of a WebSocket; the connection goes on")
    if mode == "invalid":
        c.open_ws(1, "/ws/echo")
        c.open_ws(3, "/ws/echo")
        c.send(c.ws(1, wsframe(TEXT, b"unmasked", mask=False)))
        op, _, p = c.next_msg(1)
        if op != CLOSE or struct.unpack(">H", p[:2])[0] != 1002:
            fail("invalid frame: %r %r" % (op, p))
        st = c.streams[1]
        if not c.until(lambda: st.ended or st.reset is not None):
            fail("stream 1 not ended after 1002")
        c.echo(3, TEXT, b"other stream fine")
        c.alive(5)
        c.close_ws(3)
        ok("unmasked frame: 1002 on its stream only (ended %r, reset %r)" % (st.ended, st.reset))
    if mode == "slow":
        # /ws/flood sends FLOOD_N messages of 16 KiB; we read without
        # opening any window for a while (the server must stop at the
        # window), then open windows and read all of it.
        st = c.open_ws(1, "/ws/flood")
        got = 0
        c.until(lambda: False, 1.5)  # read what the initial windows allow
        held = len(st.raw) + sum(len(f[2]) for f in st.frames)
        if held > 70000 * 2:
            fail("%d bytes arrived past a 65,535-byte window" % held)
        print("held", held, flush=True)
        c.window = True
        c.send(frame(WUPD, 0, 0, struct.pack(">I", 1 << 30)) +
               frame(WUPD, 0, 1, struct.pack(">I", 1 << 30)))
        n = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3].isdigit() else 256
        deadline = time.monotonic() + 60
        while got < n and time.monotonic() < deadline:
            op, fin, p = c.next_msg(1, 20)
            if op == BINARY and len(p) == 16384:
                got += 1
            elif op == CLOSE:
                break
        if got != n:
            fail("flood: %d of %d messages" % (got, n))
        c.close_ws(1)
        ok("slow reader: %d bytes before any WINDOW_UPDATE, then %d messages" % (held, got))
    if mode == "burst":
        # /ws/burst queues 512 messages of 16 KiB at once; we open both
        # windows by 1 GiB at once (a WINDOW_UPDATE per DATA frame would
        # cross max_control_frames at this rate), read them all, close.
        c.window = False
        c.open_ws(1, "/ws/burst")
        c.send(frame(WUPD, 0, 0, struct.pack(">I", 1 << 30)) +
               frame(WUPD, 0, 1, struct.pack(">I", 1 << 30)))
        for i in range(512):
            op, fin, p = c.next_msg(1, 20)
            if (op, fin, len(p)) != (BINARY, True, 16384):
                fail("burst message %d: %r %r %d" % (i, op, fin, len(p)))
        c.close_ws(1)
        ok("burst: 512 messages of 16 KiB, then the close")
    if mode in ("starve", "urgent"):
        starve(c, mode == "urgent")
    if mode in ("fairstop", "fairclose"):
        fair(c, mode == "fairclose")
    if mode == "ping":
        c.open_ws(1, "/ws/ping")
        op, _, _ = c.next_msg(1, 5)
        if op != WPING:
            fail("want a ping, got %r" % op)
        pings = 1
        op, _, p = c.next_msg(1, 5)  # no input from us: the idle timeout
        while op == WPING and pings < 50:  # every 100 ms until then
            pings += 1
            op, _, p = c.next_msg(1, 5)
        if op != CLOSE or struct.unpack(">H", p[:2])[0] != 1001:
            fail("want close 1001, got %r %r" % (op, p))
        c.send(c.ws(1, wsframe(CLOSE, struct.pack(">H", 1001))))
        st = c.streams[1]
        if not c.until(lambda: st.ended or st.reset is not None):
            fail("not ended after the idle close")
        ok("keep-alive pings (%d), then idle close 1001" % pings)
    if mode == "cap":
        c.open_ws(1, "/ws/echo")
        st = c.ask(3, c.connect(3, "/ws/echo"))
        if st.status != 503:
            fail("second WebSocket past max_websockets: %r" % st.status)
        c.close_ws(1)
        ok("max_websockets: 503 on the second")
    if mode == "stop":
        # The server is stopped while this WebSocket is open: close 1001.
        c.open_ws(1, "/ws/echo")
        print("open", flush=True)
        op, _, p = c.next_msg(1, 20)
        if op != CLOSE or struct.unpack(">H", p[:2])[0] != 1001:
            fail("want close 1001 at stop, got %r %r" % (op, p))
        c.send(c.ws(1, wsframe(CLOSE, struct.pack(">H", 1001)), end=True))
        st = c.streams[1]
        c.until(lambda: st.ended or st.reset is not None or c.closed)
        ok("graceful stop: close 1001 (ended %r)" % st.ended)
    if mode == "hold":
        # Opens one WebSocket, echoes once, then leaves without a word.
        c.open_ws(1, "/ws/echo")
        c.echo(1, TEXT, b"x")
        ok("opened and dropped")
    fail("unknown mode " + mode)


if __name__ == "__main__":
    main()
