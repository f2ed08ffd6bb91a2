# A completion poller's memory for quiet (parked) fds
# (tests/backend/test_poller_quiet.c). Included from tests/backend/CMakeLists.txt.
hz_add_criterion_test(backend_test_poller_quiet
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_poller_quiet.c
  LABELS backend TIMEOUT 120)
