# check_public_only.cmake - fails if a file under DIR includes a header that
# is not public: only <httpz/...> and system headers (<...>) are allowed.
#   cmake -DDIR=<dir> -P check_public_only.cmake
# core/handler/ is written against the public API, as a user's handler
# would be (docs/architecture.md, "Layers"): a quoted include reaches the
# core's private headers.
if(NOT DEFINED DIR)
  message(FATAL_ERROR "check_public_only.cmake: -DDIR=<dir> is required")
endif()
file(GLOB_RECURSE _files "${DIR}/*.c" "${DIR}/*.h")
if(NOT _files)
  message(FATAL_ERROR "no sources found under ${DIR}")
endif()
set(_hits "")
foreach(_f ${_files})
  file(STRINGS "${_f}" _lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(_l ${_lines})
    file(RELATIVE_PATH _rel "${DIR}" "${_f}")
    string(APPEND _hits "  ${_rel}: ${_l}\n")
  endforeach()
endforeach()
if(_hits)
  message(FATAL_ERROR "private headers included under ${DIR} (use <httpz/...>; "
                      "what is missing there must become public API):\n${_hits}")
endif()
list(LENGTH _files _n)
message(STATUS "ok: ${_n} files under ${DIR}, public headers only")
