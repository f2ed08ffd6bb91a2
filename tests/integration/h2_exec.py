#!/usr/bin/env python3
"""h2_exec.py - HTTP/2 clients for tests/integration/test_h2exec.c.

    h2_exec.py PORT MODE

Frame-level clients (h2_client.py's Conn, python3-h2's hpack) against the
routes of test_h2exec.c: executor handlers held in a gate (/x/gate), fast
ones (/x/fast), inline ones (/ping, /inside, /open), and the HTTP/2 limits
(/big, /body, /trailers). Prints one line; exits 0 when the server behaved
as expected, 1 otherwise, 77 without python3-h2. Bounded in time.
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h2_client import (Conn, frame, ok, fail, DATA, HEADERS, RST, SETTINGS, PING, GOAWAY,  # noqa: E402
                       WUPD, END_STREAM, END_HEADERS, ACK)

CANCEL = 0x8


class Reader:
    """Reads frames, answering PINGs, remembering per-stream outcomes."""

    def __init__(self, c, window=True):
        self.c = c
        self.window = window
        self.status, self.body, self.done, self.rst = {}, {}, set(), {}
        self.trailers = {}
        self.headers = {}
        self.goaways = []
        self.data_frames = 0

    def step(self, deadline):
        f = self.c.read_frame(deadline)
        if f is None:
            return False
        t, fl, sid, p = f
        if t == HEADERS:
            hdrs = self.c.dec.decode(p)
            d = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                 for k, v in hdrs}
            if ":status" in d:
                if int(d[":status"]) >= 200:
                    self.status[sid] = int(d[":status"])
                    self.headers[sid] = d
            else:
                self.trailers[sid] = d
        elif t == DATA:
            self.data_frames += 1
            self.body[sid] = self.body.get(sid, b"") + p
            if self.window and p:
                self.c.send(frame(WUPD, 0, 0, struct.pack(">I", len(p))) +
                            frame(WUPD, 0, sid, struct.pack(">I", len(p))))
        elif t == RST:
            self.rst[sid] = struct.unpack(">I", p)[0]
            self.done.add(sid)
        elif t == GOAWAY:
            self.goaways.append(struct.unpack(">II", p[:8]))
        elif t == PING and not fl & ACK:
            self.c.send(frame(PING, ACK, 0, p))
        if t in (HEADERS, DATA) and fl & END_STREAM:
            self.done.add(sid)
        return True

    def until(self, pred, timeout=10):
        deadline = time.monotonic() + timeout
        while not pred():
            if not self.step(deadline):
                return pred()
        return True

    def wait(self, sids, timeout=10):
        return self.until(lambda: all(s in self.done for s in sids), timeout)


def get(c, sid, path, end=True, extra=()):
    c.send(c.req(sid, path, end=end, extra=extra))


def inside_at_least(c, r, n, sid):
    """Asks /inside (an inline route: executor handlers in the gate) until
    it says n or more; returns the next free stream id. Each ask is a round
    trip, so this waits on the server's state, not on time."""
    for _ in range(500):
        get(c, sid, "/inside")
        if not r.wait([sid], 10):
            fail("no answer to /inside on stream %d" % sid)
        v = int(r.body.get(sid, b"0") or b"0")
        sid += 2
        if v >= n:
            return sid
    fail("the executor handler never entered the gate")


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    c = Conn(port)
    r = Reader(c)

    if mode == "fast":
        get(c, 1, "/x/fast?q=1", extra=[("x-test", "h2")])
        if not r.wait([1]):
            fail("no response")
        if r.status.get(1) != 200 or r.body.get(1) != b"fast /x/fast h2 worker":
            fail("got %r %r" % (r.status.get(1), r.body.get(1)))
        ok("executor route over h2: 200 %r" % r.body[1])

    if mode == "noblock":
        # A handler held on a worker; the same connection's other streams
        # (inline and executor) and another connection are served meanwhile.
        get(c, 1, "/x/gate")
        nxt = inside_at_least(c, r, 1, 3)
        get(c, nxt, "/ping")
        get(c, nxt + 2, "/x/fast")
        if not r.wait([nxt, nxt + 2]):
            fail("streams behind a held executor stream not served: %r" % r.done)
        if r.status.get(nxt) != 200 or r.status.get(nxt + 2) != 200:
            fail("statuses %r" % r.status)
        if 1 in r.done:
            fail("the held stream answered before its gate opened")
        c2 = Conn(port)
        r2 = Reader(c2)
        get(c2, 1, "/ping")
        if not r2.wait([1]) or r2.status.get(1) != 200:
            fail("a second connection was not served while a handler is held")
        get(c, nxt + 4, "/open")
        if not r.wait([1, nxt + 4]):
            fail("the held stream did not answer once the gate opened")
        if r.status.get(1) != 200 or r.body.get(1) != b"ok":
            fail("held stream: %r %r" % (r.status.get(1), r.body.get(1)))
        ok("held executor stream did not block streams %d, %d nor another connection" %
           (nxt, nxt + 2))

    if mode == "shed":
        # One worker, a queue of one: with stream 1 on the worker, of two
        # more executor streams one waits in the queue and one is refused.
        get(c, 1, "/x/gate")
        nxt = inside_at_least(c, r, 1, 3)
        get(c, nxt, "/x/gate")
        get(c, nxt + 2, "/x/gate")
        if not r.until(lambda: nxt in r.done or nxt + 2 in r.done):
            fail("no stream refused with the queue full")
        shed = nxt if nxt in r.done else nxt + 2
        kept = nxt + 2 if shed == nxt else nxt
        if r.status.get(shed) != 503 or r.headers[shed].get("retry-after") != "1":
            fail("refused stream: %r %r" % (r.status.get(shed), r.headers.get(shed)))
        get(c, nxt + 4, "/open")
        if not r.wait([1, kept, nxt + 4]):
            fail("held and queued streams not answered once the gate opened")
        if r.status.get(1) != 200 or r.status.get(kept) != 200:
            fail("after the gate: %r" % r.status)
        ok("queue full: stream %d 503 + retry-after, the others served" % shed)

    if mode == "deadline":
        get(c, 1, "/x/gate")
        if not r.wait([1], 15):
            fail("no answer at the handler deadline")
        if r.status.get(1) != 503:
            fail("deadline: status %r (want 503)" % r.status.get(1))
        get(c, 3, "/ping")
        if not r.wait([3]) or r.status.get(3) != 200:
            fail("connection not usable after the deadline's 503")
        if r.goaways:
            fail("GOAWAY after a stream's deadline: %r" % r.goaways)
        ok("handler deadline: 503 on the stream, connection kept")

    if mode == "rst":
        get(c, 1, "/x/gate")
        nxt = inside_at_least(c, r, 1, 3)
        c.send(frame(RST, 0, 1, struct.pack(">I", CANCEL)))
        # The handler sees the cancellation (the C side checks it); the
        # connection goes on, and stream 1 gets nothing more.
        get(c, nxt, "/x/cancelled")
        if not r.wait([nxt]) or r.status.get(nxt) != 200:
            fail("no answer after the reset: %r" % r.status)
        if r.body.get(nxt) != b"1":
            fail("the reset handler did not see the cancellation: %r" % r.body.get(nxt))
        if 1 in r.status:
            fail("a response for the reset stream")
        ok("RST_STREAM cancelled the executor handler; connection kept")

    if mode == "stop":
        # Stream 1 held on a worker; the test stops the server now.
        get(c, 1, "/x/gate")
        inside_at_least(c, r, 1, 3)
        print("inside", flush=True)
        r.until(lambda: 1 in r.done or c.closed, 20)
        if not c.closed:
            r.until(lambda: c.closed, 10)
        ok("stop: s1=%s goaways=%r closed=%d" % (r.status.get(1), r.goaways, c.closed))

    if mode.startswith("nowindow"):
        # Streams whose responses the client never lets through (no
        # WINDOW_UPDATE): the server must stop producing, not buffer on.
        n = int(mode.split(":")[1])
        r.window = False
        for i in range(n):
            get(c, 1 + 2 * i, "/flood")
        print("sent", flush=True)
        r.until(lambda: c.closed, 30)
        got = sum(len(b) for b in r.body.values())
        ok("nowindow: %d data bytes before the close" % got)

    if mode == "bodyidle":
        # A buffered body that stalls after 3 of 10 bytes: 408 on the
        # stream after timeouts.body_idle, the connection goes on.
        c.send(c.req(1, "/body", method="POST", end=False, extra=[("content-length", "10")]) +
               frame(DATA, 0, 1, b"abc"))
        t0 = time.monotonic()
        if not r.wait([1], 15):
            fail("no answer to a stalled body")
        dt = time.monotonic() - t0
        if r.status.get(1) != 408:
            fail("stalled body: status %r rst %r (want 408)" % (r.status.get(1), r.rst.get(1)))
        if dt < 0.3:
            fail("408 after %.3f s, before timeouts.body_idle" % dt)
        get(c, 3, "/ping")
        if not r.wait([3]) or r.status.get(3) != 200 or r.goaways:
            fail("connection not usable after the 408: %r %r" % (r.status, r.goaways))
        ok("stalled body: 408 after %.2f s, connection kept" % dt)

    if mode == "bodyidle_started":
        # The handler answered at once (streamed route) and waits for the
        # body, which stalls: once the response began, only a reset is left.
        c.send(c.req(1, "/echo", method="POST", end=False) + frame(DATA, 0, 1, b"abc"))
        if not r.wait([1], 15):
            fail("no reset of a stalled body")
        if r.status.get(1) != 200 or 1 not in r.rst:
            fail("stalled body after the head: status %r rst %r" % (r.status.get(1), r.rst.get(1)))
        get(c, 3, "/ping")
        if not r.wait([3]) or r.status.get(3) != 200:
            fail("connection not usable after the reset")
        ok("stalled body after the head: RST_STREAM %#x" % r.rst[1])

    if mode.startswith("trailers"):
        # Request trailers after the body (HEADERS with END_STREAM): not
        # part of the request the handler sees; n: the trailer's value size.
        n = int(mode.split(":")[1])
        c.send(c.req(1, "/body", method="POST", end=False) + frame(DATA, 0, 1, b"hello"))
        hb = c.enc.encode([("x-trailer", "t" * n)])
        if len(hb) <= 16384:
            c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, hb))
        else:
            out = frame(HEADERS, END_STREAM, 1, hb[:16384])
            hb = hb[16384:]
            while hb:
                out += frame(9, END_HEADERS if len(hb) <= 16384 else 0, 1, hb[:16384])
                hb = hb[16384:]
            c.send(out)
        if not r.wait([1]):
            fail("no answer to a request with trailers")
        get(c, 3, "/ping")
        if not r.wait([3]) or r.status.get(3) != 200:
            fail("connection not usable after trailers")
        ok("trailers:%d: status %r body %r rst %r" % (n, r.status.get(1), r.body.get(1),
                                                     r.rst.get(1)))

    fail("unknown mode " + mode)


if __name__ == "__main__":
    main()
