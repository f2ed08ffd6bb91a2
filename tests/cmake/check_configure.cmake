# check_configure.cmake - runs one configure of the httpz source tree and
# checks its outcome. Used by tests/cmake/CMakeLists.txt as
#   cmake -DSRC=<tree> -DBIN=<scratch dir> -DEXPECT=fail|pass
#         -DARGS=<a@@b@@...> -DMATCH=<regex@@regex@@...> -P check_configure.cmake
# "@@" separates list items because add_test() would split on ';'.
# Each regex must match the configure output with runs of whitespace folded
# to one space (CMake wraps long messages), so a message that loses the name
# of the problem or of its fix fails the test.
foreach(_v SRC BIN EXPECT)
  if(NOT DEFINED ${_v})
    message(FATAL_ERROR "check_configure.cmake: -D${_v}= is required")
  endif()
endforeach()
string(REPLACE "@@" ";" _args "${ARGS}")
string(REPLACE "@@" ";" _match "${MATCH}")

file(REMOVE_RECURSE "${BIN}")
execute_process(
  COMMAND "${CMAKE_COMMAND}" -S "${SRC}" -B "${BIN}" ${_args}
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
set(_all "${_out}\n${_err}")
string(REGEX REPLACE "[ \t\r\n]+" " " _flat "${_all}")

set(_bad "")
if(EXPECT STREQUAL "fail")
  if(_rc EQUAL 0)
    string(APPEND _bad "configure succeeded but must fail. ")
  endif()
  if(NOT _flat MATCHES "CMake Error")
    string(APPEND _bad "no CMake Error in the output. ")
  endif()
elseif(EXPECT STREQUAL "pass")
  if(NOT _rc EQUAL 0)
    string(APPEND _bad "configure failed (exit ${_rc}) but must succeed. ")
  endif()
else()
  message(FATAL_ERROR "check_configure.cmake: EXPECT must be fail or pass")
endif()
foreach(_re IN LISTS _match)
  if(NOT _flat MATCHES "${_re}")
    string(APPEND _bad "output lacks /${_re}/. ")
  endif()
endforeach()

if(_bad)
  message(FATAL_ERROR "${_bad}\n--- configure output ---\n${_all}")
endif()
file(REMOVE_RECURSE "${BIN}")
message(STATUS "ok: exit ${_rc}, all ${EXPECT} checks matched")
