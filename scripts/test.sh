#!/usr/bin/env bash
# scripts/test.sh - builds and runs the whole test suite (the README's test
# command; .ci/run calls exactly this).
#
# The suite is a list of stages in scripts/stages/NN-name.sh, run in order.
# Each stage builds one configuration in build/<stage> and runs its tests.
#   HZ_STAGES="gcc asan"   run only these stages (default: all)
#   HZ_JOBS=N              build/test parallelism (default: nproc)
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
    python3 python3-websockets valgrind clang-format doxygen abigail-tools libcjson-dev libbrotli-dev brotli liburing-dev || exit 1
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

# hz_ctest BUILD_DIR [ctest args...]: runs ctest, adds its counts to the totals.
hz_ctest() {
    local dir=$1
    shift
    local log="$dir/ctest.log"
    (cd "$dir" && ctest --output-on-failure -j"$HZ_JOBS" "$@") 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local line
    line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1)
    if [ -n "$line" ]; then
        local failed total
        failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
        total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
        total_pass=$((total_pass + total - failed))
        total_fail=$((total_fail + failed))
    elif [ "$rc" -ne 0 ]; then
        total_fail=$((total_fail + 1))
    fi
    return "$rc"
}

# hz_count PASSED FAILED: adds results that do not come from ctest (such as
# the fuzz stage's targets) to the totals.
hz_count() {
    total_pass=$((total_pass + $1))
    total_fail=$((total_fail + $2))
}

# hz_build BUILD_DIR [cmake args...]: configures and builds one configuration.
hz_build() {
    local dir=$1
    shift
    cmake -S "$root" -B "$dir" -DHZ_WERROR=ON "$@" >"$dir.configure.log" 2>&1 || {
        mkdir -p "$dir"
        cat "$dir.configure.log"
        return 1
    }
    cmake --build "$dir" -j"$HZ_JOBS" >"$dir.build.log" 2>&1 || {
        grep -E -B2 -A6 "error|Error" "$dir.build.log" | head -n 80
        return 1
    }
}

# hz_stage NAME FUNCTION: runs a stage unless HZ_STAGES excludes it.
hz_stage() {
    local name=$1 fn=$2
    if [ -n "${HZ_STAGES:-}" ] && ! grep -qw -- "$name" <<<"$HZ_STAGES"; then
        return 0
    fi
    echo
    echo "=== stage $name ==="
    local t0=$SECONDS
    if "$fn"; then
        stage_results+=("$name: ok ($((SECONDS - t0)) s)")
    else
        stage_results+=("$name: FAILED ($((SECONDS - t0)) s)")
        failed_stages+=("$name")
    fi
}

mkdir -p "$root/build"
for f in "$root"/scripts/stages/*.sh; do
    . "$f"
done

echo
echo "=== summary ==="
printf '%s\n' "${stage_results[@]}"
echo "total: $total_pass passed, $total_fail failed"
if [ ${#failed_stages[@]} -ne 0 ]; then
    echo "failed stages: ${failed_stages[*]}"
    exit 1
fi
exit 0
