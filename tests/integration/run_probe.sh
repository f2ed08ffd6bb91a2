#!/usr/bin/env bash
# run_probe.sh DEMO CONFORMANCE_DIR [CASES] - runs every public h1probe case,
# plus the project's own variant cases in CASES (tests/conformance/
# variants.json), against the demo with a 3 s header timeout, the slow ones
# with --slow-limit 5. Exit 77 (skipped) when the probe is missing.
#
# The probe spends its time waiting (quiet periods, timeouts the server must
# enforce), about 100 s for the ~400 cases in one run, on almost no CPU. So
# the cases are dealt round-robin into HZ_PROBE_SHARDS shards (default 8;
# the slow-tagged ones first, so they spread evenly), each run by its own
# h1probe against its own demo, all at once. Every shard's output is
# printed in order; any failing case, or a demo that does not exit cleanly
# after SIGTERM, fails the test.
set -u
demo=$1
dir=$2
cases=${3:-}
shards=${HZ_PROBE_SHARDS:-8}
if [ ! -f "$dir/h1probe.py" ]; then
    echo "h1probe not found in $dir: skipped"
    exit 77
fi
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
work=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# The shards: shard-N.json, each a list of whole cases (h1probe --cases).
python3 - "$dir/cases/public" "$cases" "$shards" "$work" <<'PY' || exit 1
import json, os, sys
public, extra, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
files = []  # as h1probe --set public reads them
for root, _dirs, names in sorted(os.walk(public)):
    files += [os.path.join(root, f) for f in sorted(names) if f.endswith(".json")]
if extra:
    files.append(extra)
cases = []
for f in files:
    with open(f, encoding="utf-8") as fh:
        data = json.load(fh)
    cases += data.get("cases", []) if isinstance(data, dict) else data
cases.sort(key=lambda c: "slow" not in c.get("tags", []))  # stable: file order kept
for i in range(n):
    with open(os.path.join(out, "shard-%d.json" % i), "w", encoding="utf-8") as fh:
        json.dump(cases[i::n], fh)
PY

# The demos, started together (plain HTTP only: no certificate to make or
# share, no fixed HTTPS port), then their ports.
for i in $(seq 0 $((shards - 1))); do
    "$demo" --addr 127.0.0.1 --port 0 --tls-port 0 --loops 1 --header-timeout 3000 \
        >"$work/demo-$i.log" 2>&1 &
    pids[$i]=$!
done
ports=()
for i in $(seq 0 $((shards - 1))); do
    port=""
    for _ in $(seq 1 100); do
        port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$work/demo-$i.log")
        [ -n "$port" ] && break
        kill -0 "${pids[$i]}" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "demo $i did not start:"
        cat "$work/demo-$i.log"
        exit 1
    fi
    ports[$i]=$port
done
probes=()
for i in $(seq 0 $((shards - 1))); do
    python3 "$dir/h1probe.py" 127.0.0.1 "${ports[$i]}" --cases "$work/shard-$i.json" \
        --slow-limit 5 >"$work/probe-$i.log" 2>&1 &
    probes[$i]=$!
done
rc=0 pass=0 fail=0
for i in $(seq 0 $((shards - 1))); do
    wait "${probes[$i]}" || rc=1
    echo "--- shard $((i + 1))/$shards"
    cat "$work/probe-$i.log"
    read -r p f < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$work/probe-$i.log")
    pass=$((pass + ${p:-0}))
    fail=$((fail + ${f:-0}))
done
# Graceful stops, all at once (each waits for its idle connections).
for i in $(seq 0 $((shards - 1))); do
    kill -TERM "${pids[$i]}"
done
for i in $(seq 0 $((shards - 1))); do
    wait "${pids[$i]}"
    drc=$?
    if [ $drc -ne 0 ]; then
        echo "demo $i exited with $drc after SIGTERM"
        cat "$work/demo-$i.log"
        rc=1
    fi
done
pids=()
echo "h1probe, $shards shards: $pass passed, $fail failed"
exit $rc
