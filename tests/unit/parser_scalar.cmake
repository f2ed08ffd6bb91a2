# The parser tests again, against core/proto/parser.c compiled with
# HZ_PARSER_FORCE_SCALAR: the portable scanning path is tested on every
# machine, not only where no SIMD is available. The object file's symbols
# take precedence over the library's parser.o, which is then not linked.
hz_add_criterion_test(unit_test_parser_scalar
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_parser.c
          ${CMAKE_CURRENT_SOURCE_DIR}/test_chunked.c
          ${CMAKE_CURRENT_SOURCE_DIR}/test_parser_conformance.c
          ${PROJECT_SOURCE_DIR}/core/proto/parser.c
  LABELS unit)
target_compile_definitions(unit_test_parser_scalar PRIVATE HZ_PARSER_FORCE_SCALAR=1)

# Every scanning path this build and CPU can run (scalar, SSE2, SSSE3,
# NEON), switched at run time (HZ_PARSER_SELECTABLE), must agree with the
# scalar one.
hz_add_criterion_test(unit_test_parser_paths
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/parser_paths.c
          ${PROJECT_SOURCE_DIR}/core/proto/parser.c
  LABELS unit)
target_compile_definitions(unit_test_parser_paths PRIVATE HZ_PARSER_SELECTABLE=1)
