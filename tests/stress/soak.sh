#!/usr/bin/env bash
# soak.sh - 10-minute soak (not in CI): runs the demo under steady wrk load
# with keep-alive and new connections mixed, sampling the server's RSS every
# 10 s. Memory must stay flat after warm-up.
# usage: tests/stress/soak.sh BUILD_DIR [SECONDS=600]
set -euo pipefail
build=$1 secs=${2:-600} port=18099
command -v wrk >/dev/null || { echo "soak: needs wrk (apt-get install wrk)"; exit 1; }
"$build/examples/demo" --port $port --loops 1 >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
wrk -t1 -c64 -d"${secs}s" "http://127.0.0.1:$port/plaintext" >/tmp/soak-wrk.txt &
wrk_pid=$!
start=$SECONDS
echo "t_s rss_kib"
while kill -0 $wrk_pid 2>/dev/null; do
    echo "$((SECONDS - start)) $(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
    # New connections too, so accept/close paths are soaked as well.
    for _ in $(seq 20); do curl -fs "http://127.0.0.1:$port/" >/dev/null || true; done
    sleep 10
done
cat /tmp/soak-wrk.txt
