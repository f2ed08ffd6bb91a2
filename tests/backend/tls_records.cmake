# The TLS transport's records-per-send suite (tests/backend/test_tls_records.c):
# core/event/sock.c's TLS transport over an in-memory raw transport that
# counts its sends, with an OpenSSL client as the peer. Included from
# tests/backend/CMakeLists.txt.
if(HZ_HAVE_TLS)
  find_package(OpenSSL 3.0 REQUIRED)
  hz_add_criterion_test(backend_test_tls_records
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tls_records.c
    LABELS backend tls TIMEOUT 300)
  target_link_libraries(backend_test_tls_records PRIVATE OpenSSL::SSL OpenSSL::Crypto)
endif()
