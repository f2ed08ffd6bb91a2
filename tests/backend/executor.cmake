# The executor contract suite (tests/backend/test_executor.c), over the pool
# and the example executor (examples/custom_executor.c). Included from
# tests/backend/CMakeLists.txt. Label "threaded": scripts/stages/50-tsan.sh
# runs these under ThreadSanitizer.
if(TARGET custom_executor)
  set(_hz_cx_src "")
else()
  set(_hz_cx_src ${PROJECT_SOURCE_DIR}/examples/custom_executor.c)
endif()
hz_add_criterion_test(backend_test_executor
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_executor.c ${_hz_cx_src}
  LABELS backend threaded TIMEOUT 600)
target_include_directories(backend_test_executor PRIVATE ${PROJECT_SOURCE_DIR}/examples)
if(TARGET custom_executor)
  target_link_libraries(backend_test_executor PRIVATE custom_executor)
endif()
