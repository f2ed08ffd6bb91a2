# libFuzzer targets for the decoding helpers, included by fuzz/CMakeLists.txt.
# Like the parser targets, each compiles the code under test into the fuzzer
# with HZ_FUZZ_FLAGS, so coverage and ASan/UBSan reach it. Run e.g.
#   build/fuzz/fuzz/fuzz_multipart -max_total_time=60 fuzz/corpus/multipart
if(NOT HZ_FUZZ_FLAGS)
  set(HZ_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
                    -fno-omit-frame-pointer)
endif()
set(_hz_helper_src ${PROJECT_SOURCE_DIR}/core/proto/url.c ${PROJECT_SOURCE_DIR}/core/proto/form.c
                   ${PROJECT_SOURCE_DIR}/core/proto/cookie.c ${PROJECT_SOURCE_DIR}/core/proto/multipart.c
                   ${PROJECT_SOURCE_DIR}/core/proto/formstream.c)
# fuzz_forms: the streaming form decoder over both media types (fuzz/corpus/forms).
foreach(_hz_fuzz url query multipart forms)
  add_executable(fuzz_${_hz_fuzz} ${CMAKE_CURRENT_LIST_DIR}/fuzz_${_hz_fuzz}.c ${_hz_helper_src})
  if(_hz_fuzz MATCHES "^(multipart|forms)$") # the split-and-feed loop
    target_sources(fuzz_${_hz_fuzz} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/support/fz_split.c)
  endif()
  target_include_directories(fuzz_${_hz_fuzz} PRIVATE
    ${PROJECT_SOURCE_DIR}/include ${PROJECT_BINARY_DIR}/include
    ${HZ_CORE_INCLUDES} ${PROJECT_BINARY_DIR}/core)
  target_compile_definitions(fuzz_${_hz_fuzz} PRIVATE _GNU_SOURCE)
  target_compile_options(fuzz_${_hz_fuzz} PRIVATE ${HZ_WARNINGS} -Wno-missing-prototypes
                                                  ${HZ_FUZZ_FLAGS})
  target_link_options(fuzz_${_hz_fuzz} PRIVATE ${HZ_FUZZ_FLAGS})
endforeach()

# WebSocket codec (core/proto/ws*.c and the common helpers it uses); the
# deflate target links zlib when HZ_WEBSOCKET_DEFLATE is on. Run e.g.
#   build/fuzz/fuzz/fuzz_ws_frame -max_total_time=60 fuzz/corpus/ws_frame
set(_hz_ws_src ${PROJECT_SOURCE_DIR}/core/proto/ws.c ${PROJECT_SOURCE_DIR}/core/proto/ws_handshake.c
               ${PROJECT_SOURCE_DIR}/core/proto/ws_deflate.c ${PROJECT_SOURCE_DIR}/core/common/utf8.c
               ${PROJECT_SOURCE_DIR}/core/common/sha1.c ${PROJECT_SOURCE_DIR}/core/common/base64.c)
foreach(_hz_fuzz ws_frame ws_deflate)
  add_executable(fuzz_${_hz_fuzz} ${CMAKE_CURRENT_LIST_DIR}/fuzz_${_hz_fuzz}.c ${_hz_ws_src})
  target_include_directories(fuzz_${_hz_fuzz} PRIVATE
    ${PROJECT_SOURCE_DIR}/include ${PROJECT_BINARY_DIR}/include
    ${HZ_CORE_INCLUDES} ${PROJECT_BINARY_DIR}/core)
  target_compile_definitions(fuzz_${_hz_fuzz} PRIVATE _GNU_SOURCE)
  target_compile_options(fuzz_${_hz_fuzz} PRIVATE ${HZ_WARNINGS} -Wno-missing-prototypes
                                                  ${HZ_FUZZ_FLAGS})
  target_link_options(fuzz_${_hz_fuzz} PRIVATE ${HZ_FUZZ_FLAGS})
  if(HZ_WEBSOCKET_DEFLATE)
    target_link_libraries(fuzz_${_hz_fuzz} PRIVATE ZLIB::ZLIB)
  endif()
endforeach()
