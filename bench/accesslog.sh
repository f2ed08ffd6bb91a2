#!/usr/bin/env bash
# bench/accesslog.sh - the cost of the access log: the demo with --quiet
# against the demo logging to a file (the library's buffered writer), in
# server CPU per request.
#   1. callgrind: user-space instructions per request (repeatable), over a
#      bounded h2load run (N requests, 16 keep-alive connections);
#   2. CPU time: utime+stime of the demo (from /proc) over a wrk run of
#      DURATION s (wrk -t1 -c16 /plaintext), RUNS alternating turns.
# Usage: bench/accesslog.sh [demo binary] ; env: N=20000 RUNS=5 DURATION=5
#        CALLGRIND=0 (skip part 1)
#        OLD=path/to/an/older/demo (optional: measured the same way)
set -euo pipefail
demo=${1:-build/examples/demo}
N=${N:-20000}
RUNS=${RUNS:-5}
DURATION=${DURATION:-5}
OLD=${OLD:-}
port=18431
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

wait_port() {
    for _ in $(seq 200); do
        curl -s -o /dev/null "http://127.0.0.1:$port/plaintext" && return 0
        sleep 0.05
    done
    echo "bench: the demo did not start" >&2
    return 1
}

# callgrind_run LABEL BIN ARGS...: prints instructions per request
callgrind_run() {
    local label=$1 bin=$2
    shift 2
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$label" \
        "$bin" --port $port --loops 1 --tls-port 0 "$@" >"$tmp/out.$label" 2>"$tmp/vg.$label" &
    local pid=$!
    wait_port
    h2load -n "$N" -c 16 -m 1 --h1 "http://127.0.0.1:$port/plaintext" >"$tmp/h2.$label"
    kill -INT $pid
    wait $pid || true
    local ir
    ir=$(grep -m1 '^summary:' "$tmp/cg.$label" | awk '{print $2}')
    # the requests include wait_port's probe (1)
    echo "$label: $(awk -v ir="$ir" -v n="$N" 'BEGIN{printf "%.0f", ir/(n+1)}') instructions/request (total $ir, $N requests)"
}

# cpu_run LABEL BIN ARGS...: prints server CPU us per request and req/s
cpu_run() {
    local label=$1 bin=$2
    shift 2
    "$bin" --port $port --loops 1 --tls-port 0 "$@" >"$tmp/out.$label" 2>&1 &
    local pid=$!
    wait_port
    local u0 s0 u1 s1 hz
    hz=$(getconf CLK_TCK)
    read -r u0 s0 < <(awk '{print $14, $15}' /proc/$pid/stat)
    wrk -t1 -c16 -d"${DURATION}s" "http://127.0.0.1:$port/plaintext" >"$tmp/wrk.$label"
    read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
    kill -INT $pid
    wait $pid || true
    local req
    req=$(awk '/requests in/{print $1}' "$tmp/wrk.$label")
    awk -v u0="$u0" -v s0="$s0" -v u1="$u1" -v s1="$s1" -v hz="$hz" -v r="$req" -v l="$label" \
        -v d="$DURATION" 'BEGIN{u=(u1-u0)/hz*1e6/r; s=(s1-s0)/hz*1e6/r;
        printf "%s: %.2f us CPU/request (user %.2f, sys %.2f), %.0f req/s\n", l, u+s, u, s, r/d}'
}

if [ "${CALLGRIND:-1}" != 0 ]; then
    echo "== callgrind (N=$N)"
    callgrind_run quiet "$demo" --quiet
    callgrind_run logfile "$demo" --access-log "$tmp/access.log"
    if [ -n "$OLD" ]; then
        callgrind_run old-quiet "$OLD" --quiet
        callgrind_run old-stdout-file "$OLD" # one write(2) per line to stdout (a file)
    fi
fi
echo "== CPU time (wrk -t1 -c16 -d${DURATION}s, $RUNS alternating turns)"
for r in $(seq "$RUNS"); do
    cpu_run "quiet#$r" "$demo" --quiet
    rm -f "$tmp/access.log"
    cpu_run "logfile#$r" "$demo" --access-log "$tmp/access.log"
    if [ -n "$OLD" ]; then
        cpu_run "old-stdout-file#$r" "$OLD"
    fi
done
