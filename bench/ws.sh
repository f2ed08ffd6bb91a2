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
# The WebSocket roof (bench/ws_roof.c: one read, unmask, one send per
# readable event, no validation) runs as a third server in the same run,
# on CPU 0 like the others, with httpz's ratio to it: the figure that holds
# across machines. ROOF=path picks its binary (default: bench/ws_roof in the
# demo's build tree); ROOF=0 leaves it out.
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
roof=${ROOF:-$(dirname "$demo")/../bench/ws_roof}
if [ "$roof" != 0 ]; then
    [ -x "$roof" ] || { echo "bench/ws.sh: no WebSocket roof at $roof (build target ws_roof, or ROOF=0)"; exit 2; }
    rp=$(port)
    taskset -c 0 "$roof" "$rp" & pids+=($!); roof_pid=$!
    wait_port "$rp"
fi
np=$(port)
taskset -c 0 node "$shared/ws_server.js" "$np" & pids+=($!); node_pid=$!
wait_port "$hp"; wait_port "$np"
sysrun() { # NAME URL PID SIZE: syscalls per message over one load run
    local f=$tmp/perf.$1 ev=raw_syscalls:sys_enter,context-switches k
    for k in read recvfrom write writev sendto sendmsg epoll_wait epoll_pwait epoll_ctl io_uring_enter; do
        ev=$ev,syscalls:sys_enter_$k
    done
    perf stat -x, -o "$f" -e "$ev" -p "$3" & local perf=$!
    sleep 0.5 # perf attaches
    local out; out=$(taskset -c 1 node "$shared/ws_load.js" "$2" 64 "$4" "$secs")
    kill -INT "$perf"; wait "$perf" || true
    python3 - "$f" "$1" "$out" <<'PY'
import re, sys
m = int(re.search(r'msgs=(\d+)', sys.argv[3]).group(1))
row = []
for line in open(sys.argv[1]):
    p = line.strip().split(',')
    if len(p) < 3 or not p[0].replace('.', '').isdigit():
        continue
    n = float(p[0]); name = p[2].replace('syscalls:sys_enter_', '').replace('raw_syscalls:sys_enter', 'all')
    if n:
        row.append(f'{name}={n / m:.3f}')
print(f'{sys.argv[2]:6} sys/msg msgs={m}', ' '.join(row))
PY
}
us() { sed -n 's/.*srv_us_msg=\([0-9.]*\).*/\1/p'; }
for size in ${SIZES:-64 16384}; do
    for rep in $(seq "${REPS:-1}"); do
        echo "== $size bytes, 64 connections, ${secs}s (run $rep)"
        a=$("$shared/ws.sh" "ws://127.0.0.1:$hp/ws/echo" "$hz_pid" 64 "$size" "$secs")
        echo "httpz  $a"
        b=$("$shared/ws.sh" "ws://127.0.0.1:$np/" "$node_pid" 64 "$size" "$secs")
        echo "ws     $b"
        python3 -c "a, b = float('$(echo "$a" | us)' or 0), float('$(echo "$b" | us)' or 0); print(f'ratio  {a / b:.3f}' if b else 'ratio  -')"
        if [ "$roof" != 0 ]; then
            c=$("$shared/ws.sh" "ws://127.0.0.1:$rp/" "$roof_pid" 64 "$size" "$secs")
            echo "roof   $c"
            python3 -c "a, c = float('$(echo "$a" | us)' or 0), float('$(echo "$c" | us)' or 0); print(f'vs roof {a / c:.3f}' if c else 'vs roof -')"
        fi
    done
    if [ -n "${SYSCALLS:-}" ]; then
        sysrun httpz "ws://127.0.0.1:$hp/ws/echo" "$hz_pid" "$size"
        sysrun ws "ws://127.0.0.1:$np/" "$node_pid" "$size"
        [ "$roof" != 0 ] && sysrun roof "ws://127.0.0.1:$rp/" "$roof_pid" "$size"
    fi
done
[ -n "${NO_IDLE:-}" ] && exit 0
echo "== idle WebSocket connections (httpz demo)"
python3 "$here/ws_idle.py" "127.0.0.1:$hp" --pid "$hz_pid" -n 2000
python3 "$here/ws_idle.py" "127.0.0.1:$hp" --pid "$hz_pid" -n 2000 --deflate
