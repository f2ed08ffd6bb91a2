# The TLS contract suite (tests/backend/test_tls.c) against the backend
# compiled in (hz_tls_default), with an OpenSSL client as the independent
# peer: OpenSSL is linked into the tests only, so the mbedTLS build meets it
# too. Included from tests/backend/CMakeLists.txt.
# tls_reload_check.c is the reload-vs-sessions race as a plain program
# (label "threaded"): the TSan stage runs it, Criterion cannot run there.
if(HZ_HAVE_TLS)
  find_package(OpenSSL 3.0)
  if(NOT OpenSSL_FOUND)
    message(FATAL_ERROR "httpz: the TLS contract tests need OpenSSL >= 3.0 as the client "
                        "side. On Debian/Ubuntu: apt-get install libssl-dev; or configure "
                        "with -DHZ_BUILD_TESTS=OFF.")
  endif()
  hz_add_criterion_test(backend_test_tls
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tls.c
    LABELS backend tls TIMEOUT 600)
  target_link_libraries(backend_test_tls PRIVATE OpenSSL::SSL OpenSSL::Crypto)

  add_executable(tls_reload_check ${CMAKE_CURRENT_LIST_DIR}/tls_reload_check.c)
  target_link_libraries(tls_reload_check PRIVATE httpz_internal hz_test_support
                        OpenSSL::SSL OpenSSL::Crypto)
  target_compile_options(tls_reload_check PRIVATE ${HZ_WARNINGS})
  add_test(NAME backend_tls_reload_check COMMAND tls_reload_check)
  set_tests_properties(backend_tls_reload_check PROPERTIES TIMEOUT 300
                       LABELS "backend;tls;threaded")
endif()
