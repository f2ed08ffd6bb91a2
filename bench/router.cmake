# Router lookup benchmark (a program, not a test): include() this from
# bench/CMakeLists.txt. Run: bench_router [iterations per size].
add_executable(bench_router ${CMAKE_CURRENT_LIST_DIR}/router.c)
target_link_libraries(bench_router PRIVATE httpz_internal)
target_compile_options(bench_router PRIVATE ${HZ_WARNINGS})
