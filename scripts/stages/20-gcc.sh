# Stage: gcc, default backends (mbedTLS), -Werror, the whole ctest suite.
# Then the io_uring poller (HZ_POLLER=io_uring, epoll beside it): the
# backend contract, the integration suite with the conformance probes, and
# the stress tests run a second time on completion I/O. Not the browser
# tests: Chromium drives the demo over the same TLS, HTTP/2, WebSocket and
# streaming paths the integration tests already take on io_uring, so on the
# second poller they added 35 s and no poller code of their own.
stage_gcc() {
    CC=gcc hz_build "$HZ_ROOT/build/gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHZ_TLS=mbedtls &&
        hz_ctest "$HZ_ROOT/build/gcc" || return 1
    # Only what those tests run is built (hz_build_tests), not the unit
    # tests and examples the first configuration already built.
    local dir="$HZ_ROOT/build/gcc-io-uring" sel=(-L "backend|integration|stress" -LE browser)
    CC=gcc hz_configure "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DHZ_TLS=mbedtls -DHZ_POLLER=io_uring -DHZ_BUILD_BENCH=OFF &&
        hz_build_tests "$dir" "${sel[@]}" && hz_ctest "$dir" "${sel[@]}"
}
hz_stage gcc stage_gcc
