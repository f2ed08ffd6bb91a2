#!/usr/bin/env bash
# bench/ws_ir.sh DEMO [SECONDS]: user-space instructions per echoed WebSocket
# message of the demo's /ws/echo (64-byte and 16 KiB messages, 64
# connections), which, unlike CPU time, does not depend on the load of a
# shared machine. The demo runs under callgrind with instrumentation off; it is
# switched on for a fixed load run (../shared/bench/ws_load.js) and the
# instructions are divided by the messages echoed. Valgrind slows the
# server ~50x, so the runs echo few messages; SECONDS (default 20) sets how
# long each load runs. NODE_PATH must reach the npm `ws` package (see
# bench/ws.sh); kernel instructions are not counted (see bench/README.md).
# DEMO may also be the WebSocket roof (bench/ws_roof, run with its port and
# loaded on "/"), for its user-space instructions per message beside ours.
# SIZES="64" picks sizes; KEEP=dir keeps each run's profile as
# dir/callgrind.SIZE (for callgrind_annotate).
set -euo pipefail
demo=$1 secs=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
shared=${HZ_SHARED_BENCH:-$here/../../shared/bench}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
tmp=$(mktemp -d); pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
hp=$(port)
args=(--port "$hp" --tls-port 0 --loops 1 --quiet) path=/ws/echo
case $(basename "$demo") in ws_roof*) args=("$hp") path=/ ;; esac
(cd "$tmp" && exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$tmp/cg.%p" \
    "$demo" "${args[@]}" >/dev/null 2>"$tmp/vg.log") &
pid=$!
wait_port "$hp"
for size in ${SIZES:-64 16384}; do
    node "$shared/ws_load.js" "ws://127.0.0.1:$hp$path" 64 "$size" 2 >/dev/null # warm-up
    callgrind_control -z "$pid" >/dev/null 2>&1
    callgrind_control -i on "$pid" >/dev/null 2>&1
    out=$(node "$shared/ws_load.js" "ws://127.0.0.1:$hp$path" 64 "$size" "$secs")
    callgrind_control -i off "$pid" >/dev/null 2>&1
    rm -f "$tmp"/cg.*.*
    callgrind_control -d "$pid" >/dev/null 2>&1
    f=$(ls -t "$tmp"/cg.*.* | head -1)
    [ -n "${KEEP:-}" ] && cp "$f" "$KEEP/callgrind.$size"
    ir=$(sed -n "s/^totals: \([0-9]*\).*/\1/p" "$f" | head -1)
    msgs=$(echo "$out" | sed -n 's/.* msgs=\([0-9]*\).*/\1/p')
    python3 -c "print('size=$size msgs=$msgs ir=$ir ir_per_msg=%.0f' % ($ir/max(1,$msgs)))"
done
