#!/usr/bin/env python3
"""bench/plot.py RAW.txt OUTDIR - plots a run_all.sh result with gnuplot:
OUTDIR/bench-cpu.png (server CPU microseconds per request by connection
count) and OUTDIR/bench-p99.png (p99 latency by connection count), one line
per server, medians over the repetitions."""
import os, re, statistics, subprocess, sys
from collections import OrderedDict, defaultdict

raw, outdir = sys.argv[1], sys.argv[2]
kv = lambda s: dict(re.findall(r'(\w+)=(\S+)', s))
servers = OrderedDict()
runs = defaultdict(list)
for line in open(raw):
    if not line.startswith('RESULT ') or 'PLAINTEXT' not in line:
        continue
    name = line.split()[1]
    d = kv(line)
    if 'rps' in d:
        servers.setdefault(name, None)
        runs[(name, int(d['c']))].append(d)
conns = sorted({c for _, c in runs})
os.makedirs(outdir, exist_ok=True)
dat = os.path.join(outdir, 'bench.dat')
with open(dat, 'w') as f:
    for s in servers:
        f.write(f'# {s}\n')
        for c in conns:
            r = runs.get((s, c), [])
            us = [float(x['srv_us_req']) for x in r if 'srv_us_req' in x]
            p99 = [float(x['p99_us']) / 1000 for x in r]
            if us and p99:
                f.write(f'{c} {statistics.median(us):.2f} {statistics.median(p99):.3f}\n')
        f.write('\n\n')
plots = []
for col, png, ylabel in ((2, 'bench-cpu.png', 'server CPU per request (us)'),
                         (3, 'bench-p99.png', 'p99 latency (ms)')):
    lines = ', '.join(f"'{dat}' index {i} using 1:{col} with linespoints title '{s}'"
                      for i, s in enumerate(servers))
    plots.append(f"""set terminal pngcairo size 800,480 noenhanced
set output '{os.path.join(outdir, png)}'
set logscale x 2
set xlabel 'concurrent keep-alive connections (wrk, 1 thread)'
set ylabel '{ylabel}'
set key bottom right
set grid
set yrange [0:*]
plot {lines}
""")
subprocess.run(['gnuplot'], input='\n'.join(plots), text=True, check=True)
print(f'plots: {outdir}/bench-cpu.png {outdir}/bench-p99.png')
