# Stage: clang, OpenSSL backend, -Werror, the whole ctest suite.
clang_openssl_prep() {
    CC=clang hz_build "$HZ_ROOT/build/clang-openssl" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DHZ_TLS=openssl
}
stage_clang_openssl() {
    hz_prep clang-openssl clang_openssl_prep && hz_ctest "$HZ_ROOT/build/clang-openssl"
}
hz_stage_prep clang-openssl clang_openssl_prep
hz_stage clang-openssl stage_clang_openssl
