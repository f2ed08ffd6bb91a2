# Stage: gcc, default backends (mbedTLS), -Werror, the whole ctest suite.
stage_gcc() {
    CC=gcc hz_build "$HZ_ROOT/build/gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHZ_TLS=mbedtls &&
        hz_ctest "$HZ_ROOT/build/gcc"
}
hz_stage gcc stage_gcc
