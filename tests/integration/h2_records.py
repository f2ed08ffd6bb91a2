#!/usr/bin/env python3
"""h2_records.py - how HTTP/2 responses are cut into TLS records, for
tests/integration/test_h2file.c (suite h2file_records).

    h2_records.py PORT MODE DIR [--tls]

The client's TLS runs over memory BIOs, so every record that arrives is
seen before it is decrypted. Prints one line; exits 0 when the server
behaved, 1 otherwise, 77 without python3-h2's hpack.

Modes:
  packed  eight GETs of a 64 KiB file sent at once: the responses'
          frames (4 x 16,393 bytes and a HEADERS frame each) leave in full
          records of 16,384 bytes, a short one only where the output ends;
          one short record per response (40 records instead of 33) is what
          writing each response's frames on their own looks like
"""
import os
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h2_file import Client  # noqa: E402  (77 without hpack)
from h2_client import DATA, PING, GOAWAY, RST, WUPD, ACK, END_STREAM, frame, ok, fail  # noqa: E402

RECORD = 16384  # a TLS record's most plaintext


class RecordSocket:
    """TLS over memory BIOs on a plain socket, with the calls Conn makes
    (sendall, recv, settimeout); the length of every record received is
    kept in records."""

    def __init__(self, raw, ctx):
        self.raw = raw
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost")
        self.wire = b""  # received bytes not yet split into records
        self.records = []
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._push()
                if not self._pull():
                    fail("records: the server closed during the handshake")
        self._push()
        if self.tls.selected_alpn_protocol() != "h2":
            fail("ALPN chose %r" % self.tls.selected_alpn_protocol())

    def _push(self):
        d = self.out.read()
        if d:
            self.raw.sendall(d)

    def _pull(self):
        d = self.raw.recv(65536)
        if not d:
            return False
        self.inc.write(d)
        self.wire += d
        while len(self.wire) >= 5:
            n = struct.unpack(">H", self.wire[3:5])[0]
            if len(self.wire) < 5 + n:
                break
            self.records.append(n)
            self.wire = self.wire[5 + n:]
        return True

    def sendall(self, b):
        self.tls.write(b)
        self._push()

    def settimeout(self, t):
        self.raw.settimeout(t)

    def recv(self, n):
        while True:
            try:
                return self.tls.read(n)
            except ssl.SSLWantReadError:
                self._push()  # a key update's answer, say
                if not self._pull():
                    return b""
            except ssl.SSLZeroReturnError:
                return b""


class RecordClient(Client):
    def tls_wrap(self, s):
        return RecordSocket(s, self.tls_context())


def settle(c):
    """A PING's answer: the server's SETTINGS, its ACK of ours and the
    session tickets are in, before the records are counted."""
    c.send(frame(PING, 0, 0, b"settled!"))
    deadline = time.monotonic() + 10
    while True:
        f = c.read_frame(deadline)
        if f is None:
            fail("records: no PING ACK")
        t, fl, _, p = f
        if t == PING and fl & ACK and p == b"settled!":
            return


def packed(port):
    c = RecordClient(port, True, settings=struct.pack(">HI", 4, 1 << 30), window=False)
    c.send(frame(WUPD, 0, 0, struct.pack(">I", (1 << 30) - 65535)))  # connection window
    settle(c)
    first = len(c.s.records)
    sids = list(range(1, 17, 2))
    c.send(b"".join(c.req(sid, "/f/65536.bin") for sid in sids))
    got = {sid: 0 for sid in sids}
    ended = set()
    plain = 0  # the frames' bytes, as the server wrote them
    deadline = time.monotonic() + 30
    while len(ended) < len(sids):
        f = c.read_frame(deadline)
        if f is None:
            fail("records: timeout, %r" % got)
        t, fl, sid, p = f
        if t == GOAWAY or (t == RST and sid in got):
            fail("records: frame %d on stream %d" % (t, sid))
        plain += 9 + len(p)
        if t == DATA and sid in got:
            got[sid] += len(p)
            if fl & END_STREAM:
                ended.add(sid)
    if any(n != 65536 for n in got.values()):
        fail("records: bodies %r" % got)
    recs = c.s.records[first:]
    least = -(-plain // RECORD)
    # Slack for a socket found full (the rest of that output, tail
    # included, goes as it is) and the session ticket's record.
    if len(recs) > least + 2:
        fail("records: %d records for %d bytes (%d full would do): %s" %
             (len(recs), plain, least, sorted(recs)[:12]))
    ok("packed: %d records for %d bytes of frames (at least %d)" % (len(recs), plain, least))


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    tls = "--tls" in sys.argv[4:]
    if not tls:
        ok("%s: no records without TLS" % mode)
    if mode == "packed":
        packed(port)
    fail("unknown mode " + mode)


if __name__ == "__main__":
    main()
