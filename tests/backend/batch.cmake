# wait() with answered peers expected to send: a completion poller's
# batching window keeps the wait() contract (tests/backend/test_poller_batch.c).
# Included from tests/backend/CMakeLists.txt.
hz_add_criterion_test(backend_test_poller_batch
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_poller_batch.c
  LABELS backend TIMEOUT 300)
