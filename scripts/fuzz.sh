#!/usr/bin/env bash
# scripts/fuzz.sh - runs every libFuzzer target of a fuzz build for a while.
#
#   scripts/fuzz.sh [BUILD_DIR] [SECONDS]
#
# BUILD_DIR  a build configured with CC=clang -DHZ_BUILD_FUZZ=ON
#            (default: build/fuzz, the CI stage's directory)
# SECONDS    per target (default: $HZ_FUZZ_SECONDS, else 60)
#
# Each target fuzz_<name> starts from its seed corpus fuzz/corpus/<name>,
# read-only: new inputs go to BUILD_DIR/fuzz-work/<name>, so the tracked
# corpus never changes;
# with fuzz/<name>.dict if there is one, else fuzz/http.dict. A crash, a
# leak, a timeout (HZ_FUZZ_TIMEOUT s for one input, default 60: generous for
# loaded CI machines) or an out-of-memory stops that target and its input is
# kept in BUILD_DIR/fuzz-artifacts/ (crash-<sha1> and so on, prefixed with
# the target's name). Prints "fuzz: <target> ok|FAILED" per target and
# "fuzz: N passed, M failed" last; exits 1 if any target failed, 2 if there
# was nothing to run.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/fuzz}
secs=${2:-${HZ_FUZZ_SECONDS:-60}}

if [ ! -d "$build" ]; then
    echo "fuzz: no build directory $build (configure with CC=clang -DHZ_BUILD_FUZZ=ON)" >&2
    exit 2
fi
mapfile -t targets < <(find "$build" -type f -perm -u+x -name 'fuzz_*' ! -name '*.*' | sort)
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz: no fuzz_* executables under $build" >&2
    exit 2
fi

art="$build/fuzz-artifacts"
work="$build/fuzz-work"
mkdir -p "$art" "$work"
# run_one EXE: one target for secs; its report goes to BUILD_DIR/<name>.report
# (printed in target order below), its exit status to <name>.rc.
run_one() {
    local exe=$1 name short seeds dict log
    name=$(basename "$exe")
    short=${name#fuzz_}
    seeds="$root/fuzz/corpus/$short"
    dict="$root/fuzz/$short.dict"
    [ -f "$dict" ] || dict="$root/fuzz/http.dict"
    rm -rf "${work:?}/$short"
    mkdir -p "$work/$short"
    local args=(-max_total_time="$secs" -timeout="${HZ_FUZZ_TIMEOUT:-60}" -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$art/$name-")
    [ -f "$dict" ] && args+=(-dict="$dict")
    local corpora=("$work/$short")
    [ -d "$seeds" ] && corpora+=("$seeds")
    log="$build/$name.log"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$exe" "${args[@]}" "${corpora[@]}" >"$log" 2>&1
    echo $? >"$build/$name.rc"
}

# HZ_JOBS targets at a time (each libFuzzer run is single-threaded), so
# the stage takes about ceil(targets / jobs) * secs.
jobs_max=${HZ_JOBS:-1}
running=0
for exe in "${targets[@]}"; do
    echo "fuzz: $(basename "$exe") for ${secs}s"
    run_one "$exe" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs_max" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

pass=0
fail=0
for exe in "${targets[@]}"; do
    name=$(basename "$exe")
    log="$build/$name.log"
    rc=$(cat "$build/$name.rc" 2>/dev/null || echo 99)
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)" "$log" | sed "s/^/    $name: /"
    if [ "$rc" -eq 0 ]; then
        echo "fuzz: $name ok"
        pass=$((pass + 1))
    else
        echo "fuzz: $name FAILED (exit $rc); log: $log"
        grep -E "ERROR|SUMMARY|Test unit written to" "$log" | head -n 10 | sed 's/^/    /'
        fail=$((fail + 1))
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
