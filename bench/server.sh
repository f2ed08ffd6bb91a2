#!/usr/bin/env bash
# bench/server.sh - measures the demo server beside nginx and h2o in the same
# run of ../shared/bench/run_all.sh (wrk on CPU 1, servers pinned to CPU 0):
# requests/s, p99, server CPU microseconds per request and KiB per idle
# keep-alive connection, at 64 and 256 connections. httpz runs with 1 loop
# (against one nginx worker) and with 2 loops (CPU per request must stay flat).
#   TARGETS="nginx h2o roof"  built-in anchors to run beside httpz ("" = httpz
#                        only); roof answers without parsing: the floor of
#                        server CPU per request on the machine that day
#   REPS=3 DURATION=10 CONNS="64 256"  passed through to run_all.sh
# Needs: apt-get install wrk nginx-light h2o libmicrohttpd-dev libevent-dev
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${HZ_SHARED:-$root/../shared}
build=${BUILD:-$root/build/bench}
[ -x "$shared/bench/run_all.sh" ] || { echo "bench: $shared/bench/run_all.sh not found" >&2; exit 1; }
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHZ_BUILD_TESTS=OFF \
      -DHZ_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target demo -j"$(nproc)" >/dev/null
demo="$build/examples/demo"
export TARGETS=${TARGETS-nginx h2o roof}
exec "$shared/bench/run_all.sh" \
    "httpz=$demo --port 18090 --loops 1 --quiet@18090" \
    "httpz-2loops=$demo --port 18091 --loops 2 --quiet@18091"
