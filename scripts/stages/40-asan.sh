# Stage: clang with ASan+UBSan (LeakSanitizer on), the whole ctest suite.
stage_asan() {
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    CC=clang hz_build "$HZ_ROOT/build/asan" -DCMAKE_BUILD_TYPE=Debug \
        -DHZ_SANITIZE=address,undefined && hz_ctest "$HZ_ROOT/build/asan" -LE stress || return 1 # timing-bound: gcc stage
    # The io_uring poller under ASan: its contract (cancelling operations in
    # flight at quiesce and destroy) and the integration suite.
    # Only what those tests run is built (hz_build_tests).
    local dir="$HZ_ROOT/build/asan-io-uring" sel=(-L "backend|integration" -LE stress)
    CC=clang hz_configure "$dir" -DCMAKE_BUILD_TYPE=Debug \
        -DHZ_SANITIZE=address,undefined -DHZ_POLLER=io_uring -DHZ_BUILD_BENCH=OFF &&
        hz_build_tests "$dir" "${sel[@]}" && hz_ctest "$dir" "${sel[@]}"
}
hz_stage asan stage_asan
