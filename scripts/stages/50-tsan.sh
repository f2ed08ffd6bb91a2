# Stage: clang with ThreadSanitizer; runs the tests labelled "threaded" (the
# executor contract suite and the server's threaded integration tests).
# halt_on_error turns any report into a crashed (failed) test.
stage_tsan() {
    local TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
    export TSAN_OPTIONS
    # Only what those tests run is built (hz_build_tests): the whole tree
    # was 209 objects for 16 tests.
    local sel=(-L threaded -LE stress)
    CC=clang hz_configure "$HZ_ROOT/build/tsan" -DCMAKE_BUILD_TYPE=Debug -DHZ_SANITIZE=thread \
        -DHZ_BUILD_BENCH=OFF &&
        hz_build_tests "$HZ_ROOT/build/tsan" "${sel[@]}" &&
        hz_ctest "$HZ_ROOT/build/tsan" "${sel[@]}" --no-tests=error
}
hz_stage tsan stage_tsan
