#!/usr/bin/env python3
"""Memory per idle WebSocket connection (python3 stdlib only).

ws_idle.py HOST:PORT --pid PID [-n 2000] [--path /ws/echo] [--deflate]

Opens N WebSocket connections to PATH, sends one 200-byte text message on
each and reads its echo, then leaves them idle; prints the server's RSS
growth (PID and its descendants) per connection. With --deflate the
client offers permessage-deflate and sends the message compressed, so the
server holds an inflate and a deflate context per connection (what an
active compressed connection keeps while idle: context takeover).
Last line: WSIDLE n=.. deflate=.. kib_per_conn=..
"""
import argparse, os, resource, socket, struct, sys, time, zlib


def rss_kib(pid):
    total = 0
    pids = [pid]
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open(f'/proc/{d}/stat') as f:
                    if int(f.read().split(') ')[1].split()[1]) == pid:
                        pids.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    for p in pids:
        with open(f'/proc/{p}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    total += int(line.split()[1])
    return total


def frame(payload, rsv1):
    mask = os.urandom(4)
    b0 = 0x81 | (0x40 if rsv1 else 0)
    n = len(payload)
    h = bytes([b0, 0x80 | n]) if n < 126 else bytes([b0, 0x80 | 126]) + struct.pack('>H', n)
    return h + mask + bytes(c ^ mask[i & 3] for i, c in enumerate(payload))


def open_one(host, port, path, deflate):
    s = socket.create_connection((host, port))
    ext = b'Sec-WebSocket-Extensions: permessage-deflate\r\n' if deflate else b''
    s.sendall(b'GET ' + path.encode() + b' HTTP/1.1\r\nHost: ' + host.encode() +
              b'\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
              b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
              ext + b'\r\n')
    head = b''
    while b'\r\n\r\n' not in head:
        head += s.recv(4096)
    assert head.startswith(b'HTTP/1.1 101'), head[:60]
    msg = (b'idle connection payload ' * 9)[:200]
    if deflate:
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = (z.compress(msg) + z.flush(zlib.Z_SYNC_FLUSH))[:-4]
        s.sendall(frame(body, True))
    else:
        s.sendall(frame(msg, False))
    s.recv(4096)  # the echo
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('addr')
    ap.add_argument('--pid', type=int, required=True)
    ap.add_argument('-n', type=int, default=2000)
    ap.add_argument('--path', default='/ws/echo')
    ap.add_argument('--deflate', action='store_true')
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    host, port = a.addr.rsplit(':', 1)
    open_one(host, int(port), a.path, a.deflate).close()
    time.sleep(1)
    before = rss_kib(a.pid)
    conns = [open_one(host, int(port), a.path, a.deflate) for _ in range(a.n)]
    time.sleep(1)
    after = rss_kib(a.pid)
    per = (after - before) / a.n
    print(f'WSIDLE n={a.n} deflate={int(a.deflate)} rss_before_kib={before} '
          f'rss_after_kib={after} kib_per_conn={per:.2f}')
    for s in conns:
        s.close()


if __name__ == '__main__':
    sys.exit(main())
