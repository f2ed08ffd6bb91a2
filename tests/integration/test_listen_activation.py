#!/usr/bin/env python3
"""test_listen_activation.py - systemd socket activation of the demo, as
examples/systemd/*.socket and httpz-demo.service describe it, without
systemd: this script plays systemd's part (ctest: listen_activation).

1. Reads the service's ExecStart= and Sockets=, and each socket unit's
   ListenStream= lines, FileDescriptorName= and SocketMode=.
2. Binds those sockets (TCP ports become free ports, Unix paths move into a
   temporary directory), puts them on descriptors 3, 4, ... and execs the
   demo with LISTEN_FDS, LISTEN_PID (the demo's own pid: fork, then exec)
   and LISTEN_FDNAMES, as systemd does.
3. Checks that the demo adopted every descriptor (its output names each),
   set FD_CLOEXEC on them (/proc/PID/fdinfo), and serves each one: HTTP
   over TCP, HTTP over the Unix socket (curl --unix-socket), HTTPS.
4. Zero-downtime restart, as `systemctl restart` does: SIGTERM to the demo
   while a slow request is in flight and clients keep connecting, a
   request sent while no process runs at all (it waits in the accept queue
   this script keeps open), a new demo on the same descriptors. No request
   may fail.
5. LISTEN_PID of another process: the demo does not adopt the descriptors
   (it listens on its own --port instead).
6. TLS over a Unix socket: a descriptor named "https" that is AF_UNIX.
7. With --probe: listen_fds_probe, started the same way, calls
   hz_listen_fds and execs a shell, which must see no LISTEN_* variable
   and none of the descriptors (consumed, and close-on-exec).

Usage: test_listen_activation.py DEMO UNIT_DIR [--no-tls] [--probe PROBE]
Exit 77 (ctest SKIP) without curl or outside Linux (/proc is used).
"""
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
TIMEOUT = 20  # seconds for any single wait: generous, finite


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def parse_unit(path):
    """[Section] key=value lines; repeated keys kept in order."""
    out = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            m = re.match(r"^\[(.+)\]$", line)
            if m:
                section = m.group(1)
                continue
            k, _, v = line.partition("=")
            out.setdefault((section, k.strip()), []).append(v.strip())
    return out


def first(unit, section, key, default=None):
    v = unit.get((section, key))
    return v[-1] if v else default


class Sock:
    def __init__(self, spec, name, mode, tmp):
        self.name = name
        self.spec = spec
        if spec.startswith("/"):
            self.path = os.path.join(tmp, os.path.basename(spec))
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.bind(self.path)
            if mode:
                os.chmod(self.path, int(mode, 8))
            self.port = None
        else:
            host, _, port = spec.rpartition(":")
            if not host:
                host = "127.0.0.1"
            self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.s.bind((host, 0))  # the unit's port may be taken: any free one
            self.port = self.s.getsockname()[1]
            self.path = None
        self.s.listen(1024)

    def curl_args(self, scheme, target):
        if self.path:
            return ["--unix-socket", self.path, "%s://localhost%s" % (scheme, target)]
        return ["%s://127.0.0.1:%d%s" % (scheme, self.port, target)]

    def connect(self):
        if self.path:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.settimeout(TIMEOUT)
            c.connect(self.path)
        else:
            c = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        return c


def start(argv, socks, cwd, pid_override=None):
    """fork + exec, as systemd: descriptors 3.., LISTEN_PID = the child."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.dup2(w, 1)
            os.dup2(w, 2)
            # Move the sockets out of the way first, then onto 3, 4, ...
            for i, s in enumerate(socks):
                os.dup2(s.s.fileno(), 200 + i)
            for i, s in enumerate(socks):
                os.dup2(200 + i, 3 + i)  # dup2 clears FD_CLOEXEC on the copy
                os.close(200 + i)
            env = dict(os.environ)
            env["LISTEN_FDS"] = str(len(socks))
            env["LISTEN_PID"] = str(pid_override or os.getpid())
            env["LISTEN_FDNAMES"] = ":".join(s.name for s in socks)
            os.chdir(cwd)
            os.execve(argv[0], argv, env)
        except BaseException as e:  # never return into the test in the child
            os.write(2, ("exec failed: %r\n" % e).encode())
        os._exit(127)
    os.close(w)
    return Demo(pid, r)


class Demo:
    def __init__(self, pid, fd):
        self.pid = pid
        self.fd = fd
        self.out = b""

    def wait_line(self, pattern):
        deadline = time.monotonic() + TIMEOUT
        while not re.search(pattern.encode(), self.out):
            left = deadline - time.monotonic()
            if left <= 0:
                fail("demo never printed %r; output:\n%s" % (pattern, self.out.decode()))
            rd, _, _ = select.select([self.fd], [], [], left)
            if rd:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    fail("demo exited before %r; output:\n%s" % (pattern, self.out.decode()))
                self.out += chunk

    def stop(self):
        """SIGTERM (graceful stop) and wait for the exit, bounded."""
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return status
            time.sleep(0.02)  # polling a child's exit, bounded
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        fail("demo did not stop within %d s" % TIMEOUT)


def curl(args):
    p = subprocess.run(["curl", "-sS", "-k", "--max-time", str(TIMEOUT)] + args,
                       capture_output=True, timeout=TIMEOUT + 5)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def get(sock, target="/plaintext"):
    """One request on a new connection; returns (status, body)."""
    c = sock.connect()
    try:
        c.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target).encode())
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        c.close()
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d+)", head)
    return (int(m.group(1)) if m else 0), body


def cloexec(pid, fd):
    with open("/proc/%d/fdinfo/%d" % (pid, fd)) as f:
        for line in f:
            if line.startswith("flags:"):
                return int(line.split()[1], 8) & 0o2000000 != 0
    return False


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    demo, unit_dir = sys.argv[1], sys.argv[2]
    tls = "--no-tls" not in sys.argv[3:]
    probe = None
    if "--probe" in sys.argv[3:]:
        probe = sys.argv[sys.argv.index("--probe") + 1]
    if not shutil.which("curl") or not os.path.isdir("/proc/self/fdinfo"):
        print("SKIP: needs curl and /proc")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="hzact.")
    try:
        return run(demo, unit_dir, tls, tmp, probe)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(demo, unit_dir, tls, tmp, probe):
    service = parse_unit(os.path.join(unit_dir, "httpz-demo.service"))
    argv = first(service, "Service", "ExecStart").split()
    argv[0] = demo
    socks = []
    for unit_name in first(service, "Service", "Sockets").split():
        unit = parse_unit(os.path.join(unit_dir, unit_name))
        name = first(unit, "Socket", "FileDescriptorName", unit_name.rsplit(".", 1)[0])
        if name == "https" and not tls:
            continue
        for spec in unit.get(("Socket", "ListenStream"), []):
            socks.append(Sock(spec, name, first(unit, "Socket", "SocketMode"), tmp))
    if not any(s.path for s in socks) or not any(s.port for s in socks):
        fail("the units should describe TCP and Unix sockets")

    # 1-3: adopted, CLOEXEC, served.
    d = start(argv, socks, tmp)
    d.wait_line(r"demo listening on %d inherited socket" % len(socks))
    for i, s in enumerate(socks):
        if s.name == "https":
            d.wait_line(r"HTTPS on inherited fd %d" % (3 + i))
        else:
            d.wait_line(r"socket activation: HTTP on fd %d \(%s\)" % (3 + i, s.name))
        if not cloexec(d.pid, 3 + i):
            fail("fd %d has no FD_CLOEXEC in the demo" % (3 + i))
    for s in socks:
        scheme = "https" if s.name == "https" else "http"
        rc, out, err = curl(s.curl_args(scheme, "/plaintext"))
        if rc != 0 or out != "Hello, World!":
            fail("%s on %s: rc %d, %r %r" % (scheme, s.spec, rc, out, err))
    print("served on %d activated sockets" % len(socks), flush=True)

    # 4: zero-downtime restart.
    plain = [s for s in socks if s.name != "https"]
    errors, done = [], [0]
    stop_clients = threading.Event()

    def client(sock):
        while not stop_clients.is_set():
            try:
                st, body = get(sock)
                if st != 200 or body != b"Hello, World!":
                    errors.append("%s: %d %r" % (sock.spec, st, body[:60]))
                done[0] += 1
            except OSError as e:
                errors.append("%s: %r" % (sock.spec, e))

    slow_result = []
    slow = threading.Thread(target=lambda: slow_result.append(get(plain[0], "/slow?ms=300")))
    slow.start()
    threads = [threading.Thread(target=client, args=(s,)) for s in plain]
    for t in threads:
        t.start()
    status = d.stop()  # the old process: graceful stop with requests in flight
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        fail("old demo exit status %r" % status)
    # Nobody runs now; these connect and send into the kept accept queues.
    waiting = []
    for s in plain:
        c = s.connect()
        c.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        waiting.append(c)
    before = done[0]
    d = start(argv, socks, tmp)
    for c in waiting:
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        c.close()
        if not data.startswith(b"HTTP/1.1 200") or not data.endswith(b"Hello, World!"):
            fail("a request sent between the two processes: %r" % data[:80])
    deadline = time.monotonic() + TIMEOUT
    while done[0] < before + 20 and time.monotonic() < deadline and not errors:
        time.sleep(0.01)  # letting the clients run against the new process
    stop_clients.set()
    for t in threads + [slow]:
        t.join(TIMEOUT)
    if errors:
        fail("requests failed across the restart: %s" % errors[:5])
    if not slow_result or slow_result[0][0] != 200:
        fail("the in-flight slow request: %r" % slow_result)
    if done[0] < before + 20:
        fail("the new demo served only %d requests" % (done[0] - before))
    print("restart: %d requests, none failed" % done[0], flush=True)
    d.stop()

    # 5: LISTEN_PID of another process: not adopted.
    argv2 = [demo, "--quiet", "--loops", "1", "--port", "0", "--tls-port", "0"]
    d = start(argv2, plain, tmp, pid_override=os.getpid())
    d.wait_line(r"demo listening on 127\.0\.0\.1:\d+")
    if b"socket activation" in d.out or b"inherited" in d.out:
        fail("adopted descriptors meant for another process:\n" + d.out.decode())
    d.stop()

    # 6: HTTPS on a Unix socket.
    if tls:
        u = Sock("/tls.sock", "https", None, tmp)
        d = start([demo, "--quiet", "--loops", "1"], [u], tmp)
        d.wait_line(r"HTTPS on inherited fd 3")
        rc, out, err = curl(u.curl_args("https", "/plaintext"))
        if rc != 0 or out != "Hello, World!":
            fail("HTTPS over a Unix socket: rc %d %r %r" % (rc, out, err))
        d.stop()
        print("HTTPS over a Unix socket served", flush=True)
    # 7: across a real exec: the variables consumed, the descriptors CLOEXEC.
    if probe:
        script = ('echo "env=${LISTEN_PID-none}/${LISTEN_FDS-none}/${LISTEN_FDNAMES-none}"; '
                  'for f in %s; do [ -e /proc/$$/fd/$f ] && echo "open=$f"; done; echo end'
                  % " ".join(str(3 + i) for i in range(len(socks))))
        d = start([probe, "/bin/sh", "-c", script], socks, tmp)
        d.wait_line(r"\bend\b")
        out = d.out.decode()
        want = "listen_fds=%d %s" % (len(socks), " ".join(
            "%d:%s" % (3 + i, s.name) for i, s in enumerate(socks)))
        if want not in out:
            fail("probe: want %r in:\n%s" % (want, out))
        if "env=none/none/none" not in out or "open=" in out:
            fail("probe: variables or descriptors leaked across exec:\n" + out)
        d.stop()
        print("probe: variables consumed, descriptors close-on-exec", flush=True)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
