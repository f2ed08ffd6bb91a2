# The TLS contract suite (tests/backend/test_tls.c) against the backend
# compiled in (hz_tls_default), with an OpenSSL client as the independent
# peer: OpenSSL is linked into the test only, so the mbedTLS build meets it
# too. Included from tests/backend/CMakeLists.txt. Label "threaded": the
# reload test runs a reloading thread beside the sessions (TSan stage).
if(HZ_HAVE_TLS)
  find_package(OpenSSL 3.0)
  if(NOT OpenSSL_FOUND)
    message(FATAL_ERROR "httpz: the TLS contract tests need OpenSSL >= 3.0 as the client "
                        "side. On Debian/Ubuntu: apt-get install libssl-dev; or configure "
                        "with -DHZ_BUILD_TESTS=OFF.")
  endif()
  hz_add_criterion_test(backend_test_tls
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tls.c
    LABELS backend tls threaded TIMEOUT 600)
  target_link_libraries(backend_test_tls PRIVATE OpenSSL::SSL OpenSSL::Crypto)
endif()
