#!/usr/bin/env bash
# bench/ws.sh DEMO_EXE [SECONDS]: WebSocket echo, httpz (the demo's /ws/echo)
# beside the npm ws server (Node, ../shared/bench/ws_server.js) in the same
# run: 64-byte and 16 KiB messages over 64 connections, messages/s and
# server CPU per echoed message (../shared/bench/ws.sh: load on CPU 1,
# server on CPU 0, CPU from /proc); then the memory per idle WebSocket
# connection of the demo without and with permessage-deflate
# (bench/ws_idle.py). NODE_PATH must reach the npm `ws` package, e.g.
# npm install --prefix /tmp/wsnode ws@8 && NODE_PATH=/tmp/wsnode/node_modules.
# The demo offers compression on /ws/echo, but the load client does not ask
# for it, so the echo numbers are uncompressed on both servers.
# REPS=n runs each size n times (httpz and ws alternately, with the ratio
# of their CPU per message after each pair: on a shared machine the ratio
# in the same run is the figure to read); SIZES="64" picks sizes; NO_IDLE=1
# skips the idle-memory part.
set -euo pipefail
demo=$1 secs=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
shared=${HZ_SHARED_BENCH:-$here/../../shared/bench}
[ -x "$shared/ws.sh" ] || { echo "bench/ws.sh: $shared/ws.sh not found (HZ_SHARED_BENCH)"; exit 2; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

hp=$(port)
(cd "$tmp" && exec taskset -c 0 "$demo" --port "$hp" --tls-port 0 --loops 1 --quiet >/dev/null) &
pids+=($!); hz_pid=$!
np=$(port)
taskset -c 0 node "$shared/ws_server.js" "$np" & pids+=($!); node_pid=$!
wait_port "$hp"; wait_port "$np"
us() { sed -n 's/.*srv_us_msg=\([0-9.]*\).*/\1/p'; }
for size in ${SIZES:-64 16384}; do
    for rep in $(seq "${REPS:-1}"); do
        echo "== $size bytes, 64 connections, ${secs}s (run $rep)"
        a=$("$shared/ws.sh" "ws://127.0.0.1:$hp/ws/echo" "$hz_pid" 64 "$size" "$secs")
        echo "httpz  $a"
        b=$("$shared/ws.sh" "ws://127.0.0.1:$np/" "$node_pid" 64 "$size" "$secs")
        echo "ws     $b"
        python3 -c "a, b = float('$(echo "$a" | us)' or 0), float('$(echo "$b" | us)' or 0); print(f'ratio  {a / b:.3f}' if b else 'ratio  -')"
    done
done
[ -n "${NO_IDLE:-}" ] && exit 0
echo "== idle WebSocket connections (httpz demo)"
python3 "$here/ws_idle.py" "127.0.0.1:$hp" --pid "$hz_pid" -n 2000
python3 "$here/ws_idle.py" "127.0.0.1:$hp" --pid "$hz_pid" -n 2000 --deflate
