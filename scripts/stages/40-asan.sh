# Stage: clang with ASan+UBSan (LeakSanitizer on), the whole ctest suite
# but for: the stress tests (timing-bound: gcc stage), the configure checks
# (label cmake: they configure a scratch tree with the same clang and
# arguments as in clang-openssl, HZ_SANITIZE is not passed on, so they were
# the same 30 runs again) and docs_examples (it only compiles and links the
# docs' snippets, as gcc and clang-openssl do).
stage_asan() {
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    # Only what the selected tests run is built (hz_build_tests): not the
    # stress tests, benchmarks and examples no test starts.
    local sel0=(-LE "stress|cmake|docs")
    CC=clang hz_configure "$HZ_ROOT/build/asan" -DCMAKE_BUILD_TYPE=Debug \
        -DHZ_SANITIZE=address,undefined -DHZ_BUILD_BENCH=OFF &&
        hz_build_tests "$HZ_ROOT/build/asan" "${sel0[@]}" &&
        hz_ctest "$HZ_ROOT/build/asan" "${sel0[@]}" || return 1
    # The io_uring poller under ASan: its contract (cancelling operations in
    # flight at quiesce and destroy) and the integration suite, without the
    # browser tests (see 20-gcc.sh).
    # Only what those tests run is built (hz_build_tests).
    local dir="$HZ_ROOT/build/asan-io-uring" sel=(-L "backend|integration" -LE "stress|browser")
    CC=clang hz_configure "$dir" -DCMAKE_BUILD_TYPE=Debug \
        -DHZ_SANITIZE=address,undefined -DHZ_POLLER=io_uring -DHZ_BUILD_BENCH=OFF &&
        hz_build_tests "$dir" "${sel[@]}" && hz_ctest "$dir" "${sel[@]}"
}
hz_stage asan stage_asan
