#!/usr/bin/env bash
# bench/interleave.sh - the demo (1 loop), nginx and the roof measured in
# short runs taken in turn (httpz, nginx, roof, httpz, ...), medians per
# server and connection count. run_all.sh measures one server after the
# other, so a slow minute on a shared VM lands on whichever server was
# running; taking turns spreads it over all of them, which makes the ratios
# (httpz against nginx, httpz against the roof) steadier than the absolute
# numbers. Same harness pieces: ../shared/bench/anchors/start.sh pins every
# server to CPU 0 and plaintext.sh runs wrk -t1 on CPU 1.
#   REPS=7 DURATION=5 CONNS="64 256" bench/interleave.sh
#   OLD_REV=78e2082 bench/interleave.sh  also runs the demo built from that
#                                        commit ("httpz-old"), side by side
#   OLD_REV=.. OLD_POLLER=io_uring ...   builds that old demo on the io_uring
#                                        poller (to compare io_uring changes)
#   IO_URING=0 bench/interleave.sh       leaves out the io_uring build of the
#                                        demo ("httpz-uring", HZ_POLLER=io_uring,
#                                        Linux with liburing-dev), run by default
# Needs: apt-get install wrk nginx-light (and the anchors: anchors/build.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${HZ_SHARED:-$root/../shared}
build=${BUILD:-$root/build/bench}
reps=${REPS:-7}
dur=${DURATION:-5}
conns=${CONNS:-64 256}
[ -x "$shared/bench/plaintext.sh" ] || { echo "interleave: $shared/bench not found" >&2; exit 1; }
[ -x "${BENCH_BIN:-/tmp/httpz-bench/bin}/roof" ] || "$shared/bench/anchors/build.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHZ_BUILD_TESTS=OFF \
      -DHZ_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target demo -j"$(nproc)" >/dev/null

servers=(httpz nginx roof)
declare -A port=([httpz]=18090 [nginx]=18081 [roof]=18085 [httpz-old]=18091 [httpz-uring]=18092)
if [ "${IO_URING:-1}" != 0 ]; then # the same demo on the io_uring poller
    cmake -S "$root" -B "$build-io-uring" -DCMAKE_BUILD_TYPE=Release -DHZ_BUILD_TESTS=OFF \
          -DHZ_BUILD_BENCH=ON -DHZ_POLLER=io_uring >/dev/null
    cmake --build "$build-io-uring" --target demo -j"$(nproc)" >/dev/null
    servers=(httpz httpz-uring nginx roof)
fi
if [ -n "${OLD_REV:-}" ]; then # the same demo at another commit, built aside
    old_src=$(mktemp -d /tmp/httpz-old-src.XXXXXX)
    git -C "$root" archive "$OLD_REV" | tar -x -C "$old_src"
    cmake -S "$old_src" -B "$old_src/build" -DCMAKE_BUILD_TYPE=Release -DHZ_BUILD_TESTS=OFF \
          -DHZ_BUILD_BENCH=ON -DHZ_POLLER="${OLD_POLLER:-auto}" >/dev/null
    cmake --build "$old_src/build" --target demo -j"$(nproc)" >/dev/null
    servers=(httpz httpz-old "${servers[@]:1}")
fi

out=$(mktemp -d /tmp/httpz-interleave.XXXXXX)
stop_all() {
    for n in "${servers[@]}"; do "$shared/bench/anchors/stop.sh" "$n" >/dev/null 2>&1 || true; done
}
trap stop_all EXIT
"$shared/bench/anchors/start.sh" httpz 18090 "$build/examples/demo" --port 18090 \
    --loops 1 --quiet --tls-port 0
if [ -n "${OLD_REV:-}" ]; then
    "$shared/bench/anchors/start.sh" httpz-old 18091 "$old_src/build/examples/demo" \
        --port 18091 --loops 1 --quiet --tls-port 0
fi
if [ "${IO_URING:-1}" != 0 ]; then
    "$shared/bench/anchors/start.sh" httpz-uring 18092 "$build-io-uring/examples/demo" \
        --port 18092 --loops 1 --quiet --tls-port 0
fi
"$shared/bench/anchors/start.sh" nginx
"$shared/bench/anchors/start.sh" roof
for n in "${servers[@]}"; do # warm-up, not counted
    DURATION=1 "$shared/bench/plaintext.sh" "127.0.0.1:${port[$n]}" 64 >/dev/null 2>&1
done
for r in $(seq 1 "$reps"); do
    for c in $conns; do
        for n in "${servers[@]}"; do
            line=$(SERVER_PID=$(cat "/tmp/bench-$n.pid") DURATION=$dur \
                   "$shared/bench/plaintext.sh" "127.0.0.1:${port[$n]}" "$c" | tail -1)
            echo "$n $line" | tee -a "$out/raw.txt"
        done
    done
done
python3 - "$out/raw.txt" <<'EOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name = line.split()[0]
    f = dict(re.findall(r'(\w+)=([\d.]+)', line))
    if 'srv_us_req' not in f:
        continue
    rows.setdefault((name, int(f['c'])), []).append(f)
def med(key, name, c):
    return statistics.median(float(f[key]) for f in rows[(name, c)])
print('| server | conns | runs | req/s | p99 ms | srv us/req | vs nginx | vs roof |')
print('|---|---|---|---|---|---|---|---|')
for c in sorted({c for _, c in rows}):
    for name in ('httpz', 'httpz-uring', 'httpz-old', 'nginx', 'roof'):
        if (name, c) not in rows:
            continue
        us = med('srv_us_req', name, c)
        print('| %s | %d | %d | %s | %.2f | %.2f | %.2fx | %.2fx |' % (
            name, c, len(rows[(name, c)]), format(int(med('rps', name, c)), ','),
            med('p99_us', name, c) / 1000, us, us / med('srv_us_req', 'nginx', c),
            us / med('srv_us_req', 'roof', c)))
EOF
echo "(raw: $out/raw.txt)"
