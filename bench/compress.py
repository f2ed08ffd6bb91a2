#!/usr/bin/env python3
"""compress.py - response compression cost: server CPU per MiB compressed
and the compression ratio at httpz's default levels (gzip 6, brotli 5),
beside the gzip -6 and brotli -q 5 command-line tools on the same files.

Usage: bench/compress.py DEMO [REPS]   (DEMO: build/examples/demo)

The demo serves a corpus directory through its static handler (/static/,
--root), which compresses compressible files on the fly (no precompressed
siblings exist in the corpus). Each file is fetched REPS times on one
keep-alive connection with Accept-Encoding: identity, gzip and br in turn;
the demo's CPU time (utime + stime, /proc/PID/stat) of the identity run is
subtracted from the coding's, leaving the compression itself. The tools'
CPU comes from getrusage(RUSAGE_CHILDREN), minus the same tool run on an
empty file (process start-up). CPU is reported per MiB of input.
"""
import http.client
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def corpus(d):
    """The files: prose (Markdown), C source (served as text), JSON."""
    files = {}
    with open(os.path.join(ROOT, "docs", "architecture.md"), "rb") as f:
        files["architecture.md"] = f.read()
    with open(os.path.join(ROOT, "include", "httpz", "httpz.h"), "rb") as f:
        files["httpz.h.txt"] = f.read()
    rnd = random.Random(7)
    items = [{"id": i, "name": "item-%d" % rnd.randrange(10**6),
              "price": round(rnd.random() * 100, 2), "tags": rnd.sample(
                  ["red", "green", "blue", "small", "large", "new", "used"], 3),
              "stock": rnd.randrange(1000)} for i in range(6000)]
    files["items.json"] = json.dumps(items, indent=1).encode()
    docs = b""
    for name in sorted(os.listdir(os.path.join(ROOT, "docs"))):
        if name.endswith(".md"):
            with open(os.path.join(ROOT, "docs", name), "rb") as f:
                docs += f.read()
    files["docs-all.txt"] = docs
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    return files


def cpu_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def serve_run(demo, d, files, coding, reps):
    """(server CPU seconds, bytes received per file) for one coding."""
    port = free_port()
    proc = subprocess.Popen([demo, "--port", str(port), "--loops", "1", "--tls-port", "0",
                             "--quiet", "--root", d], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        sizes = {}
        c0 = cpu_of(proc.pid)
        for name in files:
            for _ in range(reps):
                conn.request("GET", "/static/" + name, headers={"Accept-Encoding": coding})
                r = conn.getresponse()
                body = r.read()
                got = r.getheader("Content-Encoding") or "identity"
                if got != coding:
                    raise SystemExit("%s: asked %s, got %s" % (name, coding, got))
                sizes[name] = len(body)
        c1 = cpu_of(proc.pid)
        conn.close()
        return c1 - c0, sizes
    finally:
        proc.terminate()
        proc.wait()


def tool_run(argv, d, files, reps):
    """(CPU seconds net of start-up, output bytes per file) for a CLI."""
    def run(path):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(argv + [path], stdout=subprocess.PIPE, check=True).stdout
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), len(out)
    empty = os.path.join(d, "empty")
    open(empty, "wb").close()
    base = sum(run(empty)[0] for _ in range(reps)) / reps
    total, sizes = 0.0, {}
    for name in files:
        for _ in range(reps):
            t, n = run(os.path.join(d, name))
            total += max(t - base, 0.0)
            sizes[name] = n
    return total, sizes


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    demo = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    d = tempfile.mkdtemp(prefix="hz_compress_bench_")
    try:
        files = corpus(d)
        mib = sum(len(v) for v in files.values()) * reps / 1048576.0
        base_cpu, _ = serve_run(demo, d, files, "identity", reps)
        rows = []
        for coding in ("gzip", "br"):
            cpu, sizes = serve_run(demo, d, files, coding, reps)
            rows.append(("httpz %s (level %s)" % (coding, "6" if coding == "gzip" else "5"),
                         max(cpu - base_cpu, 0.0), sizes))
        if shutil.which("gzip"):
            cpu, sizes = tool_run(["gzip", "-6", "-c"], d, files, reps)
            rows.append(("gzip -6", cpu, sizes))
        if shutil.which("brotli"):
            cpu, sizes = tool_run(["brotli", "-q", "5", "-c"], d, files, reps)
            rows.append(("brotli -q 5", cpu, sizes))
        print("corpus: %s (%d bytes in all), %d reps, %.1f MiB compressed per row"
              % (", ".join("%s %d" % (k, len(v)) for k, v in files.items()),
                 sum(len(v) for v in files.values()), reps, mib))
        print("identity run (HTTP only, subtracted): %.1f ms CPU/MiB" % (base_cpu / mib * 1000))
        print("| compressor | CPU ms per MiB of input | ratio (all files) | "
              + " | ".join(files) + " |")
        print("|---|---:|---:|" + "---:|" * len(files))
        total_in = sum(len(v) for v in files.values())
        for label, cpu, sizes in rows:
            ratio = total_in / float(sum(sizes.values()))
            print("| %s | %.1f | %.2f | %s |" % (
                label, cpu / mib * 1000, ratio,
                " | ".join("%.2f" % (len(files[k]) / float(sizes[k])) for k in files)))
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
