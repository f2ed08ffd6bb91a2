#!/usr/bin/env python3
"""Memory per idle keep-alive HTTPS connection (python3 stdlib only).

tls_idle.py HOST:PORT --pid PID [-n 2000] [--path /plaintext]

Opens N TLS connections one after another (ALPN http/1.1), sends one GET
on each and reads the whole response, and leaves them open; prints the server's RSS growth
(PID and its descendants) per connection. What stays is what an idle TLS
connection holds: the session, and the record buffers unless the backend
drops them at idle (hz_tls_vt.idle).
Last line: TLSIDLE n=.. alive=.. rss_before_kib=.. rss_after_kib=.. kib_per_conn=..
"""
import argparse, resource, socket, ssl, time

from ws_idle import rss_kib  # the server tree's RSS, the same measure


def get(s, host, path):
    s.sendall(f'GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n'.encode())
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit('closed before the response head')
        data += chunk
    head, body = data.split(b'\r\n\r\n', 1)
    assert head.startswith(b'HTTP/1.1 200'), head[:60]
    n = 0
    for line in head.split(b'\r\n')[1:]:
        k, _, v = line.partition(b':')
        if k.strip().lower() == b'content-length':
            n = int(v)
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit('closed mid-body')
        body += chunk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('addr')
    ap.add_argument('--pid', type=int, required=True)
    ap.add_argument('-n', type=int, default=2000)
    ap.add_argument('--path', default='/plaintext')
    ap.add_argument('--settle', type=float, default=1.0)
    a = ap.parse_args()
    host, port = a.addr.rsplit(':', 1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(['http/1.1'])

    def one():
        s = ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host)
        get(s, host, a.path)
        return s

    one().close()  # warm-up: first-use allocations are not per connection
    time.sleep(a.settle)
    before = rss_kib(a.pid)
    conns = [one() for _ in range(a.n)]
    time.sleep(a.settle)
    after = rss_kib(a.pid)
    alive = 0
    for s in conns:
        s.setblocking(False)
        try:
            alive += 1 if s.recv(1) else 0
        except (ssl.SSLWantReadError, BlockingIOError):
            alive += 1
        except OSError:
            pass
    for s in conns:
        s.close()
    print(f'TLSIDLE n={a.n} alive={alive} rss_before_kib={before} rss_after_kib={after} '
          f'kib_per_conn={(after - before) / a.n:.2f}')


if __name__ == '__main__':
    main()
