#!/usr/bin/env bash
# scripts/test.sh - builds and runs the whole test suite (the README's test
# command; .ci/run calls exactly this).
#
# The suite is a list of stages in scripts/stages/NN-name.sh, run in order.
# Each stage builds one configuration in build/<stage> and runs its tests;
# the next stage's build runs, niced, beside this stage's tests.
#   HZ_STAGES="gcc asan"   run only these stages (default: all)
#   HZ_JOBS=N              build/test parallelism (default: nproc)
#   HZ_BACKGROUND=0        run the background stages (fuzz) and builds in
#                          line instead
#   HZ_WAIT_JOBS=N         parallelism of the tests labelled "wait", run
#                          beside the others (default HZ_JOBS; 0: in line)
#   CMAKE_GENERATOR=...    the build tool of every configuration (default
#                          Ninja: one build graph for several targets)
# Prints per-stage results and a closing "total: N passed, M failed" line
# counting the ctest tests of every stage; exits non-zero if anything failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. "$root/scripts/deps.sh"
export HZ_JOBS=${HZ_JOBS:-$(nproc)}
export HZ_ROOT=$root

hz_need_packages build-essential cmake pkg-config clang libclang-rt-14-dev llvm \
    libcriterion-dev libmbedtls-dev libssl-dev libcurl4-openssl-dev curl openssl \
    python3 python3-websockets valgrind clang-format doxygen abigail-tools libcjson-dev libbrotli-dev brotli liburing-dev \
    ninja-build || exit 1
# Ninja, not make: CMake's Makefiles build the targets named in one
# `cmake --build --target a b c` one after another (.NOTPARALLEL), each
# re-checking the library, so the subset builds of hz_build_tests ran
# mostly on one core; Ninja builds them as one graph.
export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}
# The browser tests (tests/browser, ctest -L browser): Chromium, certutil (to
# trust the run's test CA) and node with npm; each build tree gets its npm
# packages (tests/browser/package-lock.json) when the tests first run there.
# Without them those tests are skipped, not failed.
hz_need_packages chromium libnss3-tools nodejs ||
    echo "httpz: the browser tests will be skipped" >&2
command -v npm >/dev/null 2>&1 || hz_need_packages npm || true
# HTTP/2: the library, h2load/nghttp and the scripted frame-level clients.
hz_need_packages libnghttp2-dev nghttp2-client python3-h2 || exit 1

total_pass=0
total_fail=0
stage_results=()
failed_stages=()

# hz_ctest_counts LOG RC: adds the counts of one ctest run to the totals.
hz_ctest_counts() {
    local line
    line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$1" | tail -1)
    if [ -n "$line" ]; then
        local failed total
        failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
        total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
        total_pass=$((total_pass + total - failed))
        total_fail=$((total_fail + failed))
    elif [ "$2" -ne 0 ]; then
        total_fail=$((total_fail + 1))
    fi
}

# hz_ctest BUILD_DIR [ctest args...]: runs ctest, adds its counts to the totals.
# The selected tests labelled "wait" (they spend their time waiting on
# timeouts and quiet peers, on little CPU: the h1probe shards)
# run in a second ctest at the same time, HZ_WAIT_JOBS (default HZ_JOBS) at
# once, so they do not hold one of the HZ_JOBS slots of the CPU-bound tests.
# Its output follows the first one's. Not with -R/-E among the arguments
# (the split uses them); HZ_WAIT_JOBS=0 runs everything in one ctest.
hz_ctest() {
    local dir=$1
    shift
    local log="$dir/ctest.log" wlog="$dir/ctest-wait.log" wait_re="" wpid="" wrc=0
    rm -f "$wlog"
    if [ "${HZ_WAIT_JOBS:-1}" != 0 ] && ! grep -qwE -- "-R|-E" <<<"$*"; then
        wait_re=$( (cd "$dir" && ctest --show-only=json-v1 "$@") 2>/dev/null | python3 -c '
import json, re, sys
names = [t["name"] for t in json.load(sys.stdin)["tests"]
         if any(p["name"] == "LABELS" and "wait" in p["value"] for p in t.get("properties", []))]
print("^(" + "|".join(re.escape(n) for n in names) + ")$" if names else "")')
    fi
    if [ -n "$wait_re" ]; then
        (cd "$dir" && ctest --output-on-failure -j"${HZ_WAIT_JOBS:-$HZ_JOBS}" -R "$wait_re" \
            "$@" >"$wlog" 2>&1) &
        wpid=$!
        (cd "$dir" && ctest --output-on-failure -j"$HZ_JOBS" -E "$wait_re" "$@") 2>&1 | tee "$log"
    else
        (cd "$dir" && ctest --output-on-failure -j"$HZ_JOBS" "$@") 2>&1 | tee "$log"
    fi
    local rc=${PIPESTATUS[0]}
    hz_ctest_counts "$log" "$rc"
    if [ -n "$wpid" ]; then
        wait "$wpid" || wrc=$?
        echo "--- the tests labelled wait, run beside those above:"
        cat "$wlog"
        hz_ctest_counts "$wlog" "$wrc"
        [ "$rc" -ne 0 ] || rc=$wrc
    fi
    return "$rc"
}

# hz_count PASSED FAILED: adds results that do not come from ctest (such as
# the fuzz stage's targets) to the totals.
hz_count() {
    total_pass=$((total_pass + $1))
    total_fail=$((total_fail + $2))
}

# hz_same_generator BUILD_DIR: a build tree left by another generator
# (make before Ninja) cannot be configured again: start it afresh.
hz_same_generator() {
    local cache="$1/CMakeCache.txt" old
    [ -f "$cache" ] || return 0
    old=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$cache")
    [ "$old" = "${CMAKE_GENERATOR:-Unix Makefiles}" ] || rm -rf "$1"
}

# hz_configure BUILD_DIR [cmake args...]: configures one configuration.
hz_configure() {
    local dir=$1
    shift
    hz_same_generator "$dir"
    cmake -S "$root" -B "$dir" -DHZ_WERROR=ON "$@" >"$dir.configure.log" 2>&1 || {
        mkdir -p "$dir"
        cat "$dir.configure.log"
        return 1
    }
}

# hz_build BUILD_DIR [cmake args...]: configures and builds one configuration.
hz_build() {
    local dir=$1
    shift
    hz_configure "$dir" "$@" && hz_build_targets "$dir"
}

# hz_build_targets BUILD_DIR [target...]: builds these targets (default: all).
hz_build_targets() {
    local dir=$1
    shift
    local t=()
    [ $# -gt 0 ] && t=(--target "$@")
    cmake --build "$dir" -j"$HZ_JOBS" "${t[@]}" >"$dir.build.log" 2>&1 || {
        grep -E -B2 -A6 "error|Error" "$dir.build.log" | head -n 80
        return 1
    }
}

# hz_build_tests BUILD_DIR [ctest args...]: builds only what the tests these
# ctest arguments select run: every target of the build tree named on
# their command lines (test executables, the demo a script drives). For the
# second configurations of a stage, which run a subset of the suite.
hz_build_tests() {
    local dir=$1 targets
    shift
    cmake --build "$dir" --target help >"$dir/targets.txt" 2>&1 || {
        cat "$dir/targets.txt"
        return 1
    }
    targets=$( (cd "$dir" && ctest --show-only=json-v1 "$@") | python3 -c '
import glob, json, os, re, sys
d = sys.argv[1].rstrip("/") + "/"
with open(d + "targets.txt") as fh:  # make: "... name", Ninja: "name: phony"
    known = {m.group(1) or m.group(2)
             for m in re.finditer(r"^(?:\.\.\. (\S+)|([\w.+-]+): phony)", fh.read(), re.M)}
# ctest leaves out the command of a test whose executable is not built yet,
# so the commands come from the CTestTestfile.cmake files themselves.
selected = {t["name"] for t in json.load(sys.stdin)["tests"]}
names = set()
for f in glob.glob(d + "**/CTestTestfile.cmake", recursive=True):
    for m in re.finditer(r"^add_test\(\[=\[(.*?)\]=\] (.*)\)$", open(f).read(), re.M):
        if m.group(1) in selected:
            names |= {os.path.basename(w) for w in re.findall(r"\"([^\"]*)\"", m.group(2))
                      if w.startswith(d)}
print(" ".join(sorted(names & known)))' "$dir") || return 1
    if [ -z "$targets" ]; then
        echo "httpz: no test selected by: ctest $*" >&2
        return 1
    fi
    hz_build_targets "$dir" $targets
}

# Stages are registered first (the stage files call hz_stage and
# hz_stage_prep) and run afterwards in file order, so that while one
# stage's tests run, the next stage's build is already under way.
stage_names=()
stage_fns=()
stage_modes=()
declare -A stage_prep_fns=()

# hz_stage NAME FUNCTION [background]: registers a stage (run below unless
# HZ_STAGES excludes it). A background stage runs beside the stages after
# it, niced, so it takes only the CPU they leave idle (integration tests
# waiting on timeouts, valgrind's single thread): its output goes to
# build/NAME.stage.log and is printed, with its counts, where hz_join
# waits for it.
hz_stage() {
    stage_names+=("$1")
    stage_fns+=("$2")
    stage_modes+=("${3:-}")
}

# hz_stage_prep NAME FUNCTION: FUNCTION configures and builds stage NAME's
# first tree (no tests, no counts). It starts, niced, in the background when
# the stage before NAME starts, so it builds on the CPU that stage's tests
# leave idle; stage NAME then takes its result with `hz_prep NAME FUNCTION`.
hz_stage_prep() {
    stage_prep_fns[$1]=$2
}

# hz_renice_tree PID N: sets the niceness of PID and of all its descendants.
hz_renice_tree() {
    local p
    renice -n "$2" -p "$1" >/dev/null 2>&1
    for p in $(pgrep -P "$1"); do
        hz_renice_tree "$p" "$2"
    done
}

# hz_prep_start JOB FUNCTION [args...]: runs FUNCTION in the background at
# nice 10 (like the fuzz stage: it takes the CPU the foreground leaves
# idle), output to build/JOB.prep.log, unless HZ_BACKGROUND=0 or JOB was
# started already. Only for work without counts or tests: configure and
# build steps.
declare -A prep_pids=()
prep_secs=0
prep_waited=0
hz_prep_start() {
    local job=$1
    shift
    [ "${HZ_BACKGROUND:-1}" != 0 ] && [ -z "${prep_pids[$job]:-}" ] || return 0
    local log="$root/build/$job.prep.log"
    rm -f "$log.result"
    (
        renice -n 10 -p $BASHPID >/dev/null 2>&1
        t0=$SECONDS
        "$@" >"$log" 2>&1
        rc=$?
        echo "$rc $((SECONDS - t0))" >"$log.result"
        exit $rc
    ) &
    prep_pids[$job]=$!
}

# hz_prep JOB FUNCTION [args...]: the status of FUNCTION: waits for the
# background run hz_prep_start made (at normal priority from then on: the
# stage now waits for it) and prints its output, or runs it here when it
# was not started.
hz_prep() {
    local job=$1
    shift
    local pid=${prep_pids[$job]:-} log rc secs
    [ -n "$pid" ] || {
        "$@"
        return
    }
    log="$root/build/$job.prep.log"
    local t0=$SECONDS
    hz_renice_tree "$pid" 0
    wait "$pid"
    rc=$?
    cat "$log"
    read -r _ secs <"$log.result" 2>/dev/null || secs=0
    prep_secs=$((prep_secs + secs))
    prep_waited=$((prep_waited + SECONDS - t0))
    echo "($job: configured and built in the background in $secs s; waited for it $((SECONDS - t0)) s)"
    return "$rc"
}

bg_names=()
bg_pids=()

# hz_stage_run NAME FUNCTION [background]: runs one stage.
hz_stage_run() {
    local name=$1 fn=$2 mode=${3:-}
    if [ "$mode" = background ] && [ "${HZ_BACKGROUND:-1}" != 0 ]; then
        local log="$root/build/$name.stage.log"
        echo
        echo "=== stage $name: started in the background (log: $log) ==="
        (
            t0=$SECONDS p0=$total_pass f0=$total_fail
            renice -n 10 -p $BASHPID >/dev/null 2>&1
            "$fn" >"$log" 2>&1
            rc=$?
            echo "$rc $((total_pass - p0)) $((total_fail - f0)) $((SECONDS - t0))" >"$log.result"
        ) &
        stage_results+=("$name") # filled in by hz_join
        bg_names+=("$name")
        bg_pids+=($!)
        return 0
    fi
    echo
    echo "=== stage $name ==="
    local t0=$SECONDS bg
    prep_secs=0
    prep_waited=0
    if "$fn"; then
        stage_results+=("$name: ok ($((SECONDS - t0)) s")
    else
        stage_results+=("$name: FAILED ($((SECONDS - t0)) s")
        failed_stages+=("$name")
    fi
    bg=""
    [ "$prep_secs" -eq 0 ] ||
        bg="; its builds: $prep_secs s in the background, $prep_waited s of them waited for"
    stage_results[-1]+="$bg)"
}

# hz_join: waits for the background stages, prints their output and adds
# their counts and verdicts.
hz_join() {
    local i j name log rc pass fail secs
    for i in "${!bg_names[@]}"; do
        name=${bg_names[$i]}
        log="$root/build/$name.stage.log"
        wait "${bg_pids[$i]}"
        echo
        echo "=== stage $name (ran in the background) ==="
        cat "$log"
        read -r rc pass fail secs <"$log.result" 2>/dev/null || {
            rc=1 pass=0 fail=1 secs=0
        }
        total_pass=$((total_pass + pass))
        total_fail=$((total_fail + fail))
        for j in "${!stage_results[@]}"; do
            [ "${stage_results[$j]}" = "$name" ] || continue
            if [ "$rc" -eq 0 ]; then
                stage_results[$j]="$name: ok ($secs s, in the background)"
            else
                stage_results[$j]="$name: FAILED ($secs s, in the background)"
                failed_stages+=("$name")
            fi
        done
    done
}

# hz_selected NAME: whether HZ_STAGES includes stage NAME.
hz_selected() {
    [ -z "${HZ_STAGES:-}" ] || grep -qw -- "$1" <<<"$HZ_STAGES"
}

mkdir -p "$root/build"
for f in "$root"/scripts/stages/*.sh; do
    . "$f"
done
for i in "${!stage_names[@]}"; do
    hz_selected "${stage_names[$i]}" || continue
    if [ "${stage_modes[$i]}" != background ]; then
        # The next foreground stage's build starts now, in the background.
        for ((j = i + 1; j < ${#stage_names[@]}; j++)); do
            hz_selected "${stage_names[$j]}" && [ "${stage_modes[$j]}" != background ] || continue
            n=${stage_names[$j]}
            [ -z "${stage_prep_fns[$n]:-}" ] || hz_prep_start "$n" "${stage_prep_fns[$n]}"
            break
        done
    fi
    hz_stage_run "${stage_names[$i]}" "${stage_fns[$i]}" "${stage_modes[$i]}"
done
hz_join

echo
echo "=== summary ==="
printf '%s\n' "${stage_results[@]}"
echo "total: $total_pass passed, $total_fail failed"
if [ ${#failed_stages[@]} -ne 0 ]; then
    echo "failed stages: ${failed_stages[*]}"
    exit 1
fi
exit 0
