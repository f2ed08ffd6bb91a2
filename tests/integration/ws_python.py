#!/usr/bin/env python3
"""ws_python.py - the demo's /ws/echo against python3-websockets (10.x, a
strict client: it fails the connection on any protocol violation of ours).

    ws_python.py DEMO_EXE

Starts the demo (plain and TLS ports) in a temporary directory and checks:
echo of text and binary, with and without permessage-deflate, a
fragmented message with a ping between its fragments, invalid UTF-8
(1007), an oversize message (1009), a compression bomb (1009), a
reserved opcode and an unmasked frame over a raw socket (1002), the
closing handshake from the client, and all of it again over TLS (wss).
Exit 0 = pass, 1 = fail, 77 = skipped (no websockets module).
"""
import asyncio
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile

try:
    import websockets
    from websockets.frames import Opcode
except ImportError:
    # pyenv or a venv may hide Debian's python3-websockets.
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("ws_python: SKIP: no websockets module (apt-get install python3-websockets)")
    sys.exit(77)

TIMEOUT = 20


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_demo(exe, tmp):
    tls_port = free_port()
    p = subprocess.Popen([exe, "--port", "0", "--tls-port", str(tls_port), "--loops", "1",
                          "--quiet"], cwd=tmp, stdout=subprocess.PIPE, text=True)
    m = None
    for _ in range(5):  # a line about the self-signed certificate may come first
        line = p.stdout.readline()
        m = re.search(r"listening on [^ ]*:(\d+) ", line)
        if m or not line:
            break
    if not m:
        p.kill()
        raise SystemExit(f"ws_python: demo did not start: {line!r}")
    return p, int(m.group(1)), tls_port


async def expect_close(ws, code):
    try:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    except websockets.ConnectionClosed as e:
        got = e.rcvd.code if e.rcvd else None
        assert got == code, f"close code {got}, want {code}"
        return
    raise AssertionError("connection not closed")


async def scenarios(url, ssl_ctx):
    kw = {"ssl": ssl_ctx} if ssl_ctx else {}
    # Echo, compression on (the client offers it by default).
    async with websockets.connect(url, max_size=2**22, **kw) as ws:
        assert ws.extensions and ws.extensions[0].name == "permessage-deflate", ws.extensions
        await ws.send("hello")
        assert await ws.recv() == "hello"
        text = "compressible " * 5000
        await ws.send(text)
        assert await ws.recv() == text
        blob = os.urandom(100000)
        await ws.send(blob)
        assert await ws.recv() == blob

        # Fragments with a ping between them (control frames interleave).
        async def fragments():
            yield "frag-"
            pong = await ws.ping(b"between")
            yield "ment"
            await asyncio.wait_for(pong, TIMEOUT)

        await ws.send(fragments())
        assert await ws.recv() == "frag-ment"
        await ws.close(1000, "bye")
        assert ws.close_code == 1000, ws.close_code

    # Compression off.
    async with websockets.connect(url, compression=None, max_size=2**22, **kw) as ws:
        assert not ws.extensions
        for n in (0, 1, 125, 126, 65535, 65536, 300000):
            b = bytes(range(256)) * (n // 256) + bytes(n % 256)
            await ws.send(b)
            assert await ws.recv() == b, n

    # Invalid UTF-8 in a text frame: 1007.
    async with websockets.connect(url, **kw) as ws:
        await ws.write_frame(True, Opcode.TEXT, b"ok \xed\xa0\x80")  # a surrogate
        await expect_close(ws, 1007)

    # Over the message limit (the demo's 1 MiB): 1009.
    async with websockets.connect(url, compression=None, **kw) as ws:
        await ws.send(b"x" * (2 << 20))
        await expect_close(ws, 1009)

    # A compression bomb: 2 MiB of zeros are a few KiB compressed: 1009.
    async with websockets.connect(url, **kw) as ws:
        await ws.send(bytes(2 << 20))
        await expect_close(ws, 1009)


def raw_upgrade(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(b"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return s


def raw_expect_close(s, code):
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    assert len(data) >= 4 and data[0] == 0x88, data
    got = data[2] << 8 | data[3]
    assert got == code, f"close code {got}, want {code}"


def raw_cases(port):
    s = raw_upgrade(port)
    s.sendall(bytes([0x83, 0x80, 1, 2, 3, 4]))  # reserved opcode 3
    raw_expect_close(s, 1002)
    s.close()
    s = raw_upgrade(port)
    s.sendall(bytes([0x81, 0x02]) + b"hi")  # not masked
    raw_expect_close(s, 1002)
    s.close()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        demo, port, tls_port = start_demo(sys.argv[1], tmp)
        try:
            asyncio.run(scenarios(f"ws://127.0.0.1:{port}/ws/echo", None))
            raw_cases(port)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            asyncio.run(scenarios(f"wss://127.0.0.1:{tls_port}/ws/echo", ctx))
        finally:
            demo.terminate()
            rc = demo.wait(timeout=TIMEOUT)
        assert rc == 0, f"demo exited with {rc}"
    print("ws_python: ok (ws:// and wss://)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
