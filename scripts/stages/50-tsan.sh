# Stage: clang with ThreadSanitizer; runs the tests labelled "threaded" (the
# executor contract suite and the server's threaded integration tests).
# halt_on_error turns any report into a crashed (failed) test.
# Only what those tests run is built (hz_build_tests): the whole tree
# was 209 objects for 16 tests.
tsan_sel=(-L threaded -LE stress)
tsan_prep() {
    CC=clang hz_configure "$HZ_ROOT/build/tsan" -DCMAKE_BUILD_TYPE=Debug -DHZ_SANITIZE=thread \
        -DHZ_BUILD_BENCH=OFF &&
        hz_build_tests "$HZ_ROOT/build/tsan" "${tsan_sel[@]}"
}
stage_tsan() {
    local TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
    export TSAN_OPTIONS
    hz_prep tsan tsan_prep && hz_ctest "$HZ_ROOT/build/tsan" "${tsan_sel[@]}" --no-tests=error
}
hz_stage_prep tsan tsan_prep
hz_stage tsan stage_tsan
