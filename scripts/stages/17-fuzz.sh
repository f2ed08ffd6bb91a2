# Stage: every libFuzzer target (clang, ASan+UBSan) runs for HZ_FUZZ_SECONDS
# (default 30; 13 targets, HZ_JOBS at a time: about 3.5 min on 2 cores) from
# its seed corpus; scripts/fuzz.sh keeps crashing inputs in
# build/fuzz/fuzz-artifacts/. Each target counts as one test in the totals.
# It runs in the background (hz_stage), niced, from the start of the suite:
# the fuzzers take the CPU the other stages leave idle, so on a busy
# machine they execute fewer inputs in their time, but every target still
# replays its whole seed corpus first (libFuzzer runs the corpus before
# max_total_time applies), which is the regression coverage CI relies on.
stage_fuzz() {
    local dir="$HZ_ROOT/build/fuzz" log rc ok bad
    CC=clang hz_build "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHZ_BUILD_FUZZ=ON \
        -DHZ_SANITIZE=address,undefined -DHZ_TLS=none -DHZ_BUILD_TESTS=OFF \
        -DHZ_BUILD_EXAMPLES=OFF -DHZ_BUILD_BENCH=OFF || {
        hz_count 0 1
        return 1
    }
    log="$dir/fuzz.log"
    "$HZ_ROOT/scripts/fuzz.sh" "$dir" "${HZ_FUZZ_SECONDS:-30}" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    ok=$(grep -cE '^fuzz: [^ ]+ ok$' "$log")
    bad=$(grep -cE '^fuzz: [^ ]+ FAILED' "$log")
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        bad=1 # nothing ran
    fi
    hz_count "$ok" "$bad"
    [ "$rc" -eq 0 ]
}
hz_stage fuzz stage_fuzz background
