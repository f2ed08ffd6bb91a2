#!/usr/bin/env bash
# bench/h1_instr.sh - user-space instructions and syscalls per plaintext
# HTTP/1.1 request of one demo build, independent of the machine's load:
#   instr/req  callgrind, the difference of an N2- and an N1-request
#              `h2load --h1 -m 1` run on fresh servers (startup and
#              shutdown drop out)
#   sys/req    `perf stat -e raw_syscalls:sys_enter` on the demo during an
#              N2 run, natively (skipped without perf)
#   DEMO=build/examples/demo  CONNS="1 64"  N1=2000 N2=6000  PORT=18190
# Needs: valgrind, h2load (nghttp2-client); perf optional.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
DEMO=${DEMO:-$root/build/examples/demo}
CONNS=${CONNS:-1 64}
N1=${N1:-2000}
N2=${N2:-6000}
PORT=${PORT:-18190}
work=$(mktemp -d /tmp/hz-h1instr.XXXXXX)
spid=
cleanup() { [ -n "$spid" ] && kill "$spid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
ready() { for _ in $(seq 1 200); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/plaintext" && return 0; sleep 0.1; done; return 1; }
# instructions of one run of n requests at c connections (curl's probe included)
ir() {
    local n=$1 c=$2 out="$work/cg.$1.$2"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$DEMO" --port "$PORT" --loops 1 \
        --quiet --tls-port 0 >/dev/null 2>&1 &
    spid=$!
    ready
    h2load --h1 -n "$n" -c "$c" -m 1 "http://127.0.0.1:$PORT/plaintext" >/dev/null
    kill -TERM "$spid"; wait "$spid" || true; spid=
    sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out"
}
for c in $CONNS; do
    a=$(ir "$N1" "$c"); b=$(ir "$N2" "$c")
    line="c=$c instr/req=$(( (b - a) / (N2 - N1) ))"
    cp "$work/cg.$N2.$c" "/tmp/hz-h1instr-last.c$c.out"
    if command -v perf >/dev/null; then
        "$DEMO" --port "$PORT" --loops 1 --quiet --tls-port 0 >/dev/null 2>&1 &
        spid=$!
        ready
        perf stat -x, -e raw_syscalls:sys_enter -p "$spid" -o "$work/ps" &
        ppid=$!
        sleep 0.3
        h2load --h1 -n "$N2" -c "$c" -m 1 "http://127.0.0.1:$PORT/plaintext" >/dev/null
        kill -INT "$ppid"; wait "$ppid" || true
        kill -TERM "$spid"; wait "$spid" || true; spid=
        s=$(awk -F, '/sys_enter/ {print $1}' "$work/ps")
        line="$line sys/req=$(python3 -c "print(f'{$s/$N2:.3f}')")"
    fi
    echo "$line"
done
