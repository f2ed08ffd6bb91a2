# Stage: clang with ASan+UBSan (LeakSanitizer on), the whole ctest suite
# but for: the stress tests (timing-bound: gcc stage), the configure checks
# (label cmake: they configure a scratch tree with the same clang and
# arguments as in clang-openssl, HZ_SANITIZE is not passed on, so they were
# the same 30 runs again) and docs_examples (it only compiles and links the
# docs' snippets, as gcc and clang-openssl do).
# Only what the selected tests run is built (hz_build_tests): not the
# stress tests, benchmarks and examples no test starts.
asan_sel=(-LE "stress|cmake|docs")
asan_prep() {
    CC=clang hz_configure "$HZ_ROOT/build/asan" -DCMAKE_BUILD_TYPE=Debug \
        -DHZ_SANITIZE=address,undefined -DHZ_BUILD_BENCH=OFF &&
        hz_build_tests "$HZ_ROOT/build/asan" "${asan_sel[@]}"
}
# The io_uring poller under ASan: its contract (cancelling operations in
# flight at quiesce and destroy) and the integration suite, without the
# browser tests (see 20-gcc.sh). Only what those tests run is built.
asan_sel2=(-L "backend|integration" -LE "stress|browser")
asan_prep2() {
    local dir="$HZ_ROOT/build/asan-io-uring"
    CC=clang hz_configure "$dir" -DCMAKE_BUILD_TYPE=Debug \
        -DHZ_SANITIZE=address,undefined -DHZ_POLLER=io_uring -DHZ_BUILD_BENCH=OFF &&
        hz_build_tests "$dir" "${asan_sel2[@]}"
}
stage_asan() {
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    hz_prep asan asan_prep || return 1
    # The second configuration builds while the first one's tests run;
    # both configurations' tests run even when the first one's fail.
    local rc=0
    hz_prep_start asan-io-uring asan_prep2
    hz_ctest "$HZ_ROOT/build/asan" "${asan_sel[@]}" || rc=1
    hz_prep asan-io-uring asan_prep2 &&
        hz_ctest "$HZ_ROOT/build/asan-io-uring" "${asan_sel2[@]}" || rc=1
    return $rc
}
hz_stage_prep asan asan_prep
hz_stage asan stage_asan
