# Stage: gcc, default backends (mbedTLS), -Werror, the whole ctest suite.
# Then the io_uring poller (HZ_POLLER=io_uring, epoll beside it): the
# backend contract, the integration suite with the conformance probe, and
# the stress tests run a second time on completion I/O.
stage_gcc() {
    CC=gcc hz_build "$HZ_ROOT/build/gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHZ_TLS=mbedtls &&
        hz_ctest "$HZ_ROOT/build/gcc" || return 1
    CC=gcc hz_build "$HZ_ROOT/build/gcc-io-uring" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DHZ_TLS=mbedtls -DHZ_POLLER=io_uring -DHZ_BUILD_BENCH=OFF &&
        hz_ctest "$HZ_ROOT/build/gcc-io-uring" -L "backend|integration|stress"
}
hz_stage gcc stage_gcc
