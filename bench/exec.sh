#!/usr/bin/env bash
# bench/exec.sh - executor throughput: a route whose handler sleeps 10 ms runs
# on 1 loop + 8 pool threads (examples/custom_executor_demo --pool 8) under
# wrk -c 64; the ideal is 8 threads / 10 ms = 800 requests/s. Then the inline
# /plaintext route with and without a (configured but unused) pool, which
# must not differ by more than the noise.
#   DURATION=10 CONNS=64 THREADS=8 SLEEP_MS=10   wrk duration (s), connections,
#                                                pool threads, handler sleep
# wrk runs on CPU 1 and the server on CPU 0 when taskset is available.
# Needs: apt-get install wrk
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build/bench-exec}
duration=${DURATION:-10}
conns=${CONNS:-64}
threads=${THREADS:-8}
sleep_ms=${SLEEP_MS:-10}
command -v wrk >/dev/null || { echo "bench: wrk not found (apt-get install wrk)" >&2; exit 1; }
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHZ_BUILD_TESTS=OFF -DHZ_TLS=none \
      >/dev/null
cmake --build "$build" --target custom_executor_demo -j2 >/dev/null
bin="$build/examples/custom_executor_demo"
pin_srv=() pin_wrk=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_srv=(taskset -c 0)
    pin_wrk=(taskset -c 1)
fi

out=$(mktemp)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -f "$out"
}
trap cleanup EXIT

# start_server ARGS...: runs the demo on a free port; sets pid and port.
start_server() {
    : >"$out"
    "${pin_srv[@]}" "$bin" --port 0 --loops 1 "$@" >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        grep -q '^port ' "$out" && break
        sleep 0.1
    done
    port=$(awk '/^port /{print $2}' "$out")
    [ -n "$port" ] || { echo "bench: server did not start" >&2; cat "$out" >&2; exit 1; }
}

stop_server() {
    kill -INT "$pid"
    wait "$pid" || true
    pid=
}

# run_wrk PATH: prints "requests/s p99".
run_wrk() {
    local res rps p99
    res=$("${pin_wrk[@]}" wrk -t 2 -c "$conns" -d "${duration}s" --latency \
        "http://127.0.0.1:$port$1")
    rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$res")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$res")
    errs=$(awk '/Non-2xx or 3xx responses:/{print $5}' <<<"$res")
    echo "$rps ${p99:-?} ${errs:-0}"
}

ideal=$((threads * 1000 / sleep_ms))
start_server --pool "$threads"
read -r rps p99 errs < <(run_wrk "/sleep?ms=$sleep_ms")
stop_server
pct=$(awk -v r="$rps" -v i="$ideal" 'BEGIN { printf "%.1f", 100 * r / i }')
echo "sleep ${sleep_ms} ms on 1 loop + $threads pool threads, wrk -c $conns -d ${duration}s:"
echo "  $rps requests/s (ideal $ideal: $pct%), p99 $p99, non-2xx $errs"

start_server --no-exec
read -r base bp99 berrs < <(run_wrk /plaintext)
stop_server
start_server --pool "$threads"
read -r with wp99 werrs < <(run_wrk /plaintext)
stop_server
diff=$(awk -v a="$base" -v b="$with" 'BEGIN { printf "%+.1f", 100 * (b - a) / a }')
echo "plaintext inline, wrk -c $conns -d ${duration}s:"
echo "  no executor:        $base requests/s (p99 $bp99, non-2xx $berrs)"
echo "  pool, unused:       $with requests/s (p99 $wp99, non-2xx $werrs), $diff%"
