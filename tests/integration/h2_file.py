#!/usr/bin/env python3
"""h2_file.py - HTTP/2 static-file clients for tests/integration/test_h2file.c.

    h2_file.py PORT MODE DIR [--tls]

Fetches files that test_h2file.c wrote into DIR (served under /f/) over
HTTP/2 with prior knowledge (or TLS with ALPN h2 under --tls) and compares
every byte with what the file must hold: a file of n bytes holds
(i * 7 + n) % 251 at offset i. Prints one line and exits 0 when the server
behaved as expected, 1 otherwise, 77 without python3-h2's hpack.

Modes:
  sizes     the sizes around frame and record boundaries, all at once on one
            connection, then each again alone
  range     206 slices of the 1 MiB + 7 file across frame boundaries
  window    a 1000-byte initial stream window opened 1000 bytes at a time:
            no DATA frame over the windows, the body whole
  truncate  the file is cut while its response waits for the window: the
            stream ends with RST_STREAM INTERNAL_ERROR after only true bytes,
            and the connection serves the next request
"""
import functools
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2_client  # noqa: E402  (exits 77 without hpack)
from h2_client import (DATA, HEADERS, RST, SETTINGS, WUPD, GOAWAY, END_STREAM, ACK,  # noqa: E402
                       frame, ok, fail)

SIZES = [0, 1, 16383, 16384, 16385, 65536, 1048576 + 7]
INTERNAL_ERROR = 0x2


@functools.lru_cache(maxsize=None)
def content(n):
    return bytes((i * 7 + n) % 251 for i in range(n))


PADDED = 0x8


def data_of(fl, p):
    """A DATA frame's data: without the pad length field and the padding
    (RFC 9113 §6.1; a server may pad, e.g. to keep flow control in step
    when it cannot send the bytes it framed)."""
    if fl & PADDED:
        if not p or p[0] >= len(p):
            fail("DATA: bad padding")
        return p[1:len(p) - p[0]]
    return p


class Client(h2_client.Conn):
    """Reads frames, records every DATA frame per stream, opens windows
    when asked to (by exactly what arrived)."""

    def __init__(self, port, tls, settings=b"", window=True):
        super().__init__(port, settings=settings, tls=tls)
        self.window = window
        self.hdrs = {}

    def handle(self, t, fl, sid, p):
        """Every header block is decoded as it arrives (HPACK's table)."""
        super().handle(t, fl, sid, p)
        if t == HEADERS:
            self.hdrs[sid] = self.dec.decode(p)

    def fetch(self, reqs, timeout=30):
        """reqs: {sid: (path, extra headers)}; returns {sid: dict}."""
        out = {}
        for sid, (path, extra) in reqs.items():
            out[sid] = {"status": None, "hdrs": {}, "body": b"", "frames": [], "end": None}
            self.send(self.req(sid, path, extra=extra))
        deadline = time.monotonic() + timeout
        while any(r["end"] is None for r in out.values()):
            f = self.read_frame(deadline)
            if f is None:
                fail("timeout or close with %d streams open" %
                     sum(1 for r in out.values() if r["end"] is None))
            t, fl, sid, p = f
            if t == GOAWAY:
                fail("GOAWAY %r" % (p[:8],))
            r = out.get(sid)
            if r is None:
                continue
            if t == HEADERS:
                for k, v in self.hdrs.pop(sid, ()):
                    k = k.decode() if isinstance(k, bytes) else k
                    v = v.decode() if isinstance(v, bytes) else v
                    r["hdrs"][k] = v
                r["status"] = int(r["hdrs"].get(":status", "0"))
            elif t == DATA:
                r["body"] += data_of(fl, p)
                r["frames"].append(len(p))
                if len(p) > 16384:
                    fail("stream %d: DATA of %d bytes" % (sid, len(p)))
                if self.window and p:
                    self.send(frame(WUPD, 0, 0, struct.pack(">I", len(p))) +
                              frame(WUPD, 0, sid, struct.pack(">I", len(p))))
            elif t == RST:
                r["end"] = ("rst", struct.unpack(">I", p)[0])
                continue
            if t in (HEADERS, DATA) and fl & END_STREAM:
                r["end"] = "end"
        return out


def check_whole(name, r, n):
    if r["end"] != "end" or r["status"] != 200:
        fail("%s: end %r status %r" % (name, r["end"], r["status"]))
    if r["hdrs"].get("content-length") != str(n):
        fail("%s: content-length %r" % (name, r["hdrs"].get("content-length")))
    if r["body"] != content(n):
        fail("%s: %d bytes differ from the file (got %d)" % (name, n, len(r["body"])))


def main():
    port, mode, d = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    tls = "--tls" in sys.argv[4:]
    if mode == "sizes":
        c = Client(port, tls)
        reqs = {1 + 2 * i: ("/f/%d.bin" % n, ()) for i, n in enumerate(SIZES)}
        got = c.fetch(reqs)
        for i, n in enumerate(SIZES):
            check_whole("together %d" % n, got[1 + 2 * i], n)
        sid = 1 + 2 * len(SIZES)
        for n in SIZES:
            check_whole("alone %d" % n, c.fetch({sid: ("/f/%d.bin" % n, ())})[sid], n)
            sid += 2
        ok("sizes %r byte for byte, together and alone" % SIZES)
    if mode == "range":
        n = 1048576 + 7
        whole = content(n)
        c = Client(port, tls)
        sid = 1
        for spec, lo, hi in (("16380-65540", 16380, 65540), ("0-0", 0, 0),
                             ("16384-32767", 16384, 32767), ("-7", n - 7, n - 1),
                             ("1048000-", 1048000, n - 1)):
            r = c.fetch({sid: ("/f/%d.bin" % n, (("range", "bytes=" + spec),))})[sid]
            if r["end"] != "end" or r["status"] != 206:
                fail("range %s: end %r status %r" % (spec, r["end"], r["status"]))
            want = "bytes %d-%d/%d" % (lo, hi, n)
            if r["hdrs"].get("content-range") != want:
                fail("range %s: content-range %r" % (spec, r["hdrs"].get("content-range")))
            if r["body"] != whole[lo:hi + 1]:
                fail("range %s: %d bytes differ" % (spec, len(r["body"])))
            sid += 2
        ok("ranges byte for byte")
    if mode == "window":
        # SETTINGS_INITIAL_WINDOW_SIZE (0x4) = 1000: every DATA frame is at
        # most what the windows allow, and the windows open by 1000 only.
        c = Client(port, tls, settings=struct.pack(">HI", 4, 1000), window=False)
        n = 65536
        c.send(c.req(1, "/f/%d.bin" % n))
        body, swin, cwin, nframes = b"", 1000, 65535, 0
        deadline = time.monotonic() + 30
        while True:
            f = c.read_frame(deadline)
            if f is None:
                fail("window: timeout after %d bytes" % len(body))
            t, fl, sid, p = f
            if t == RST:
                fail("window: RST_STREAM")
            if t != DATA or sid != 1:
                continue
            nframes += 1
            if len(p) > swin or len(p) > cwin:
                fail("window: DATA of %d over the windows (%d, %d)" % (len(p), swin, cwin))
            swin -= len(p)
            cwin -= len(p)
            body += data_of(fl, p)
            if fl & END_STREAM:
                break
            if swin == 0:
                c.send(frame(WUPD, 0, 1, struct.pack(">I", 1000)))
                swin += 1000
            if cwin < 1000:
                c.send(frame(WUPD, 0, 0, struct.pack(">I", 65535 - cwin)))
                cwin = 65535
        if body != content(n):
            fail("window: %d bytes differ" % len(body))
        ok("window: %d frames within 1000-byte windows, body whole" % nframes)
    if mode == "truncate":
        # The stream window is 16384: the server sends the first frame and
        # waits. The file is cut to 20000 bytes; the windows open: the next
        # frame cannot be read whole, so the stream is reset, with no byte
        # that is not the file's.
        n = 1048576 + 7
        path = os.path.join(d, "trunc.bin")
        c = Client(port, tls, settings=struct.pack(">HI", 4, 16384), window=False)
        c.send(c.req(1, "/f/trunc.bin"))
        body, end = b"", None
        deadline = time.monotonic() + 30
        while len(body) < 16384:
            f = c.read_frame(deadline)
            if f is None:
                fail("truncate: timeout after %d bytes" % len(body))
            if f[0] == DATA and f[2] == 1:
                body += data_of(f[1], f[3])
        os.truncate(path, 20000)
        c.send(frame(WUPD, 0, 0, struct.pack(">I", 1 << 24)) +
               frame(WUPD, 0, 1, struct.pack(">I", 1 << 24)))
        while end is None:
            f = c.read_frame(deadline)
            if f is None:
                fail("truncate: no end after %d bytes" % len(body))
            t, fl, sid, p = f
            if sid != 1:
                continue
            if t == DATA:
                body += data_of(fl, p)
                if fl & END_STREAM:
                    end = "end"
            elif t == RST:
                end = ("rst", struct.unpack(">I", p)[0])
        if end != ("rst", INTERNAL_ERROR):
            fail("truncate: ended %r after %d bytes" % (end, len(body)))
        if len(body) > 20000 or body != content(n)[:len(body)]:
            fail("truncate: %d bytes, not the file's" % len(body))
        c.window = True
        r = c.fetch({3: ("/f/16385.bin", ())})[3]
        check_whole("after the reset", r, 16385)
        ok("truncate: RST_STREAM INTERNAL_ERROR after %d true bytes; connection lives on"
           % len(body))
    fail("unknown mode " + mode)


if __name__ == "__main__":
    main()
