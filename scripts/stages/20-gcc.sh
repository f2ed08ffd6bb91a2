# Stage: gcc, default backends (mbedTLS), -Werror, the whole ctest suite.
# Then the io_uring poller (HZ_POLLER=io_uring, epoll beside it): the
# backend contract, the integration suite with the conformance probes, and
# the stress tests run a second time on completion I/O. Not the browser
# tests: Chromium drives the demo over the same TLS, HTTP/2, WebSocket and
# streaming paths the integration tests already take on io_uring, so on the
# second poller they added 35 s and no poller code of their own.
gcc_sel2=(-L "backend|integration|stress" -LE browser)
gcc_prep() {
    CC=gcc hz_build "$HZ_ROOT/build/gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHZ_TLS=mbedtls
}
# Only what the second configuration's tests run is built (hz_build_tests),
# not the unit tests and examples the first configuration already built.
gcc_prep2() {
    local dir="$HZ_ROOT/build/gcc-io-uring"
    CC=gcc hz_configure "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DHZ_TLS=mbedtls -DHZ_POLLER=io_uring -DHZ_BUILD_BENCH=OFF &&
        hz_build_tests "$dir" "${gcc_sel2[@]}"
}
stage_gcc() {
    hz_prep gcc gcc_prep || return 1
    # The second configuration builds while the first one's tests run.
    # Both configurations' tests run even when the first one's fail.
    local rc=0
    hz_prep_start gcc-io-uring gcc_prep2
    hz_ctest "$HZ_ROOT/build/gcc" || rc=1
    hz_prep gcc-io-uring gcc_prep2 && hz_ctest "$HZ_ROOT/build/gcc-io-uring" "${gcc_sel2[@]}" || rc=1
    return $rc
}
hz_stage_prep gcc gcc_prep
hz_stage gcc stage_gcc
