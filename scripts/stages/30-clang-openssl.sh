# Stage: clang, OpenSSL backend, -Werror, the whole ctest suite.
stage_clang_openssl() {
    CC=clang hz_build "$HZ_ROOT/build/clang-openssl" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DHZ_TLS=openssl && hz_ctest "$HZ_ROOT/build/clang-openssl"
}
hz_stage clang-openssl stage_clang_openssl
