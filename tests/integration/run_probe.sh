#!/usr/bin/env bash
# run_probe.sh DEMO CONFORMANCE_DIR [CASES] - starts the demo on a free port
# with a 3 s header timeout and runs every public h1probe case against it,
# plus the project's own variant cases in CASES (tests/conformance/
# variants.json), the slow ones with --slow-limit 5. Exit 77 (skipped) when
# the probe is missing.
set -u
demo=$1
dir=$2
extra=()
[ -n "${3:-}" ] && extra=(--cases "$3")
if [ ! -f "$dir/h1probe.py" ]; then
    echo "h1probe not found in $dir: skipped"
    exit 77
fi
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
log=$(mktemp)
"$demo" --addr 127.0.0.1 --port 0 --loops 1 --header-timeout 3000 >"$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$log")
    [ -n "$port" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "demo did not start:"
    cat "$log"
    exit 1
fi
python3 "$dir/h1probe.py" 127.0.0.1 "$port" --set public "${extra[@]}" --slow-limit 5
rc=$?
kill -TERM $pid
wait $pid
drc=$?
if [ $drc -ne 0 ]; then
    echo "demo exited with $drc after SIGTERM"
    cat "$log"
    exit 1
fi
exit $rc
