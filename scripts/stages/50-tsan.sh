# Stage: clang with ThreadSanitizer; runs the tests labelled "threaded" (the
# executor contract suite and the server's threaded integration tests).
# halt_on_error turns any report into a crashed (failed) test.
stage_tsan() {
    local TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
    export TSAN_OPTIONS
    CC=clang hz_build "$HZ_ROOT/build/tsan" -DCMAKE_BUILD_TYPE=Debug -DHZ_SANITIZE=thread &&
        hz_ctest "$HZ_ROOT/build/tsan" -L threaded -LE stress --no-tests=error
}
hz_stage tsan stage_tsan
