# libFuzzer targets for the decoding helpers: include() this from
# fuzz/CMakeLists.txt (HZ_BUILD_FUZZ=ON, clang). Run e.g.
#   build/fuzz/fuzz_multipart -max_total_time=60 fuzz/corpus/multipart
# The library must be compiled with -fsanitize=fuzzer-no-link so the fuzzer
# sees coverage inside it; that is added here too (repeating it is harmless).
target_compile_options(httpz_obj PRIVATE -fsanitize=fuzzer-no-link)
foreach(_hz_fuzz url query multipart)
  add_executable(fuzz_${_hz_fuzz} ${CMAKE_CURRENT_LIST_DIR}/fuzz_${_hz_fuzz}.c)
  target_link_libraries(fuzz_${_hz_fuzz} PRIVATE httpz_internal)
  target_compile_options(fuzz_${_hz_fuzz} PRIVATE ${HZ_WARNINGS} -Wno-missing-prototypes
                                                  -fsanitize=fuzzer)
  target_link_options(fuzz_${_hz_fuzz} PRIVATE -fsanitize=fuzzer)
endforeach()
