#!/usr/bin/env python3
"""h2_file_batch.py - the batched file reads of HTTP/2 DATA (one preadv per
stream and run of output, read-ahead into the stream) for
tests/integration/test_h2file.c (suite h2file_batch).

    h2_file_batch.py PORT MODE DIR [--tls]

Files as in h2_file.py (a file of n bytes holds (i * 7 + n) % 251 at offset
i), served under /f/. Prints one line; exits 0 when the server behaved, 1
otherwise, 77 without python3-h2's hpack.

Modes:
  interleave  twelve streams (two of 1 MiB + 7) at once with PINGs
              between them, once with the default windows replenished frame
              by frame (small runs), and with 1 GiB windows twice: by default
              (RFC 9218: one stream's frames after the other, read in place)
              and incremental (`priority: i`, the streams in turn: the
              read-ahead): every body byte for byte
  uneven      stream windows of 40,000 bytes (frames not on 16 KiB bounds)
              and a connection window opened in 7,000-byte steps
  cut         two streams of one file wait after their first frame; the file
              is cut to 20,000 bytes; their windows open: both end with
              RST_STREAM INTERNAL_ERROR after only true bytes, and the
              connection window stays in step (exactly 65,535 bytes of the
              next response arrive before a WINDOW_UPDATE is needed)
  reset       the client resets one of four 1 MiB streams after its first
              DATA frame: the other three whole, the next request served
  full        fifteen 64 KiB streams with 1,000-byte windows and one of
              1 MiB + 7 with 1 MiB
              send in one run: the sixteen-entry table of unread frames
              fills (one frame of each) while the big stream's second frame
              is promised (no read-ahead may take its bytes); every body
              byte for byte
  order       two 1 MiB + 7 streams with RFC 9218 `priority` fields: by
              default (u=3) all of the first, then the second; both
              incremental (i) in turn; u=1 before u=5 whatever the order
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h2_file import Client, check_whole, content, data_of  # noqa: E402  (77 without hpack)
from h2_client import DATA, RST, WUPD, PING, GOAWAY, END_STREAM, frame, ok, fail  # noqa: E402

BIG = 1048576 + 7
INTERNAL_ERROR = 0x2
CANCEL = 0x8


def big_windows(c):
    """Stream windows (SETTINGS_INITIAL_WINDOW_SIZE) and the connection's
    at 1 GiB: the server's reads are bounded by its own budgets only."""
    c.send(frame(WUPD, 0, 0, struct.pack(">I", (1 << 30) - 65535)))


def read_bodies(c, what, bodies, ended, deadline, until, seq=None, when="timeout"):
    """Reads frames until until(): the DATA of the streams in bodies added to
    their bodies (and their ids to seq, unless None), those that end to
    ended. A GOAWAY, a RST_STREAM on one of them or the deadline fails as
    what (the deadline "<what>: <when>")."""
    while not until():
        f = c.read_frame(deadline)
        if f is None:
            fail("%s: %s, %r" % (what, when, {s: len(b) for s, b in bodies.items()}))
        t, fl, sid, p = f
        if t == GOAWAY or (t == RST and sid in bodies):
            fail("%s: frame %d on stream %d" % (what, t, sid))
        if t == DATA and sid in bodies:
            bodies[sid] += data_of(fl, p)
            if seq is not None:
                seq.append(sid)
            if fl & END_STREAM:
                ended.add(sid)


class PingClient(Client):
    """Sends a PING after every fifth DATA frame: control frames land
    between the DATA frames of a run."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.ndata = 0

    def handle(self, t, fl, sid, p):
        super().handle(t, fl, sid, p)
        if t == DATA:
            self.ndata += 1
            if self.ndata % 5 == 0:
                self.send(frame(PING, 0, 0, struct.pack(">Q", self.ndata)))


def interleave(port, tls):
    # Two 1 MiB files among ten smaller ones: the client's WINDOW_UPDATEs
    # (two per frame) and PINGs stay below http2.max_control_frames (1000/s).
    files = [65536, BIG, 65536, 16385, 65536, BIG] + [65536, 16385] * 3
    # 1 GiB windows: each stream's frames back to back (RFC 9218, not
    # incremental), then in turn (incremental: the read-ahead's case).
    for big, extra in ((False, ()), (True, ()), (True, (("priority", "u=3, i"),))):
        if big:
            c = PingClient(port, tls, settings=struct.pack(">HI", 4, 1 << 30), window=False)
            big_windows(c)
        else:
            c = PingClient(port, tls)
        reqs = {1 + 2 * i: ("/f/%d.bin" % n, extra) for i, n in enumerate(files)}
        got = c.fetch(reqs, timeout=60)
        for i, n in enumerate(files):
            check_whole("%s windows%s, stream %d (%d)" % ("1 GiB" if big else "default",
                                                         " incremental" if extra else "",
                                                         1 + 2 * i, n),
                        got[1 + 2 * i], n)
    ok("interleave: 12 streams (two of 1 MiB) byte for byte with PINGs between, default and 1 GiB "
       "windows, incremental or not")


def uneven(port, tls):
    c = Client(port, tls, settings=struct.pack(">HI", 4, 40000), window=False)
    files = [BIG, 65536, 16385, BIG]
    want = {1 + 2 * i: n for i, n in enumerate(files)}
    bodies = {sid: b"" for sid in want}
    ended = set()
    for sid, n in want.items():
        c.send(c.req(sid, "/f/%d.bin" % n))
    swin = {sid: 40000 for sid in want}
    cwin, owed = 65535, 0
    deadline = time.monotonic() + 60
    while len(ended) < len(want):
        f = c.read_frame(deadline)
        if f is None:
            fail("uneven: timeout, %r bytes" % {s: len(b) for s, b in bodies.items()})
        t, fl, sid, p = f
        if t == GOAWAY:
            fail("uneven: GOAWAY")
        if t == RST and sid in want:
            fail("uneven: stream %d reset" % sid)
        if t != DATA or sid not in want:
            continue
        if len(p) > swin[sid] or len(p) > cwin:
            fail("uneven: DATA of %d over the windows (%d, %d)" % (len(p), swin[sid], cwin))
        swin[sid] -= len(p)
        cwin -= len(p)
        bodies[sid] += data_of(fl, p)
        if fl & END_STREAM:
            ended.add(sid)
        elif swin[sid] < 20000:
            c.send(frame(WUPD, 0, sid, struct.pack(">I", 40000 - swin[sid])))
            swin[sid] = 40000
        owed += len(p)
        while owed >= 7000:
            c.send(frame(WUPD, 0, 0, struct.pack(">I", 7000)))
            cwin += 7000
            owed -= 7000
        if cwin < 7000 and owed:
            c.send(frame(WUPD, 0, 0, struct.pack(">I", owed)))
            cwin += owed
            owed = 0
    for sid, n in want.items():
        if bodies[sid] != content(n):
            fail("uneven: stream %d (%d bytes) differs, got %d" % (sid, n, len(bodies[sid])))
    ok("uneven: 40,000-byte stream windows, 7,000-byte connection steps, bodies whole")


def cut(port, tls, d):
    path = os.path.join(d, "trunc.bin")
    c = Client(port, tls, settings=struct.pack(">HI", 4, 16384), window=False)
    # Incremental (RFC 9218 `priority: i`): the server turns between the
    # two streams frame by frame, so both are cut within one run; without
    # it the first stream would take the whole connection window alone.
    inc = [("priority", "u=3, i")]
    c.send(c.req(1, "/f/trunc.bin", extra=inc) + c.req(3, "/f/trunc.bin", extra=inc))
    body = {1: b"", 3: b""}
    got = 0  # payload bytes received (padding counts: flow control)
    deadline = time.monotonic() + 30
    while len(body[1]) < 16384 or len(body[3]) < 16384:
        f = c.read_frame(deadline)
        if f is None:
            fail("cut: timeout after %r" % {s: len(b) for s, b in body.items()})
        if f[0] == DATA and f[2] in body:
            body[f[2]] += data_of(f[1], f[3])
            got += len(f[3])
    c.send(frame(WUPD, 0, 0, struct.pack(">I", got)))  # the connection window: 65535 again
    got = 0
    os.truncate(path, 20000)
    c.send(frame(WUPD, 0, 1, struct.pack(">I", 1 << 20)) + frame(WUPD, 0, 3, struct.pack(">I", 1 << 20)))
    end = {}
    while len(end) < 2:
        f = c.read_frame(deadline)
        if f is None:
            fail("cut: no end after %r" % {s: len(b) for s, b in body.items()})
        t, fl, sid, p = f
        if sid not in body:
            continue
        if t == DATA:
            body[sid] += data_of(fl, p)
            got += len(p)
            if fl & END_STREAM:
                end[sid] = "end"
        elif t == RST:
            end[sid] = ("rst", struct.unpack(">I", p)[0])
    for sid in body:
        if end[sid] != ("rst", INTERNAL_ERROR):
            fail("cut: stream %d ended %r after %d bytes" % (sid, end[sid], len(body[sid])))
        if len(body[sid]) > 20000 or body[sid] != content(BIG)[:len(body[sid])]:
            fail("cut: stream %d: %d bytes, not the file's" % (sid, len(body[sid])))
    # Everything received is given back: the server may send 65,535 bytes
    # more, no fewer (padding it sent but did not count would be missing).
    c.send(frame(WUPD, 0, 0, struct.pack(">I", got)) if got else b"")
    c.send(c.req(5, "/f/%d.bin" % BIG) + frame(WUPD, 0, 5, struct.pack(">I", 1 << 20)))
    n5 = 0
    while n5 < 65535:
        f = c.read_frame(time.monotonic() + 10)
        if f is None:
            fail("cut: only %d bytes of the next response within the connection window" % n5)
        if f[0] == DATA and f[2] == 5:
            n5 += len(f[3])
    if n5 != 65535:
        fail("cut: %d bytes past a 65,535-byte connection window" % n5)
    ok("cut: both streams RST_STREAM INTERNAL_ERROR after %d and %d true bytes; window in step"
       % (len(body[1]), len(body[3])))


def reset(port, tls):
    c = Client(port, tls, settings=struct.pack(">HI", 4, 1 << 30), window=False)
    big_windows(c)
    for sid in (1, 3, 5, 7):
        c.send(c.req(sid, "/f/%d.bin" % BIG))
    deadline = time.monotonic() + 30
    bodies = {3: b"", 5: b"", 7: b""}
    ended = set()
    while True:
        f = c.read_frame(deadline)
        if f is None:
            fail("reset: no DATA on stream 1")
        if f[0] == DATA and f[2] == 1:
            break
        if f[0] == DATA and f[2] in bodies:
            bodies[f[2]] += data_of(f[1], f[3])
            if f[1] & END_STREAM:
                ended.add(f[2])
    c.send(frame(RST, 0, 1, struct.pack(">I", CANCEL)))
    read_bodies(c, "reset", bodies, ended, deadline, lambda: len(ended) == 3)
    for sid, b in bodies.items():
        if b != content(BIG):
            fail("reset: stream %d differs (%d bytes)" % (sid, len(b)))
    c.window = True
    check_whole("after the reset", c.fetch({9: ("/f/65536.bin", ())})[9], 65536)
    ok("reset: one of four streams cancelled, three whole, the next served")


def full(port, tls):
    c = Client(port, tls, settings=struct.pack(">HI", 4, 1000), window=False)
    sids = [1 + 2 * i for i in range(16)]
    size = {sid: 65536 for sid in sids}  # small files beside one big (bounded under valgrind)
    size[sids[-1]] = BIG
    for sid in sids:
        c.send(c.req(sid, "/f/%d.bin" % size[sid]))
    bodies = {sid: b"" for sid in sids}
    ended = set()

    deadline = time.monotonic() + 60
    read_bodies(c, "full", bodies, ended, deadline,
                lambda: all(len(b) >= 1000 for b in bodies.values()), when="first frames")
    # One batch: 1,000 more for fifteen streams, 1 MiB (the rest of its
    # file) for the last one.
    c.send(frame(WUPD, 0, 0, struct.pack(">I", 1 << 24)) +
           b"".join(frame(WUPD, 0, sid, struct.pack(">I", 1000)) for sid in sids[:-1]) +
           frame(WUPD, 0, sids[-1], struct.pack(">I", 1 << 20)))
    read_bodies(c, "full", bodies, ended, deadline,
                lambda: len(bodies[sids[-1]]) >= BIG and all(len(bodies[s]) >= 2000 for s in sids[:-1]),
                when="second run")
    c.send(frame(WUPD, 0, 0, struct.pack(">I", 1 << 24)) +
           b"".join(frame(WUPD, 0, sid, struct.pack(">I", 1 << 21)) for sid in sids))
    read_bodies(c, "full", bodies, ended, deadline, lambda: len(ended) == len(sids))
    for sid, b in bodies.items():
        if b != content(size[sid]):
            fail("full: stream %d differs (%d bytes)" % (sid, len(b)))
    ok("full: 16 streams, a full table of unread frames mid-run, bodies whole")


def order(port, tls):
    """RFC 9218 priorities (the server sends SETTINGS_NO_RFC7540_PRIORITIES):
    DATA frames in the order of the requests' `priority` fields."""
    def run(reqs):
        c = Client(port, tls, settings=struct.pack(">HI", 4, 1 << 30), window=False)
        big_windows(c)
        c.send(b"".join(c.req(sid, "/f/%d.bin" % BIG, extra=ex) for sid, ex in reqs))
        seq, bodies = [], {sid: b"" for sid, _ in reqs}
        ended = set()
        read_bodies(c, "order", bodies, ended, time.monotonic() + 60, lambda: len(ended) == len(reqs),
                    seq)
        for sid, b in bodies.items():
            if b != content(BIG):
                fail("order: stream %d differs (%d bytes)" % (sid, len(b)))
        return seq

    def runs(seq):  # stream ids in the order their frames came, repeats merged
        return [s for i, s in enumerate(seq) if i == 0 or seq[i - 1] != s]

    r = runs(run([(1, ()), (3, ())]))
    if r != [1, 3]:
        fail("order: default (u=3, not incremental): want all of 1 then 3, got %r" % r[:8])
    inc = [("priority", "u=3, i")]
    r = runs(run([(1, inc), (3, inc)]))
    if len(r) < 8:
        fail("order: both incremental: want the streams' frames in turn, got %r" % r[:8])
    r = runs(run([(1, [("priority", "u=5")]), (3, [("priority", "u=1")])]))
    if r != [3, 1]:
        fail("order: u=1 before u=5: want all of 3 then 1, got %r" % r[:8])
    ok("order: default one stream after the other, incremental in turn, urgency first")


def main():
    port, mode, d = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    tls = "--tls" in sys.argv[4:]
    if mode == "interleave":
        interleave(port, tls)
    if mode == "uneven":
        uneven(port, tls)
    if mode == "cut":
        cut(port, tls, d)
    if mode == "reset":
        reset(port, tls)
    if mode == "full":
        full(port, tls)
    if mode == "order":
        order(port, tls)
    fail("unknown mode " + mode)


if __name__ == "__main__":
    main()
