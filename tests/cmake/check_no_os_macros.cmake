# check_no_os_macros.cmake - fails if a file under DIR names an OS macro.
#   cmake -DDIR=<dir> -P check_no_os_macros.cmake
# core/ is backend-agnostic: a platform difference belongs in a backend or in
# an HZ_HAVE_* feature macro that CMake sets from a real check (platform.h),
# never in #ifdef __linux__ and friends - not even in a comment, so that a
# grep for them finds only backends/.
if(NOT DEFINED DIR)
  message(FATAL_ERROR "check_no_os_macros.cmake: -DDIR=<dir> is required")
endif()
set(_macros __linux__ __linux __gnu_linux__ __APPLE__ __MACH__ __FreeBSD__ __OpenBSD__
            __NetBSD__ __DragonFly__ __sun _WIN32 _WIN64 __CYGWIN__ __unix__ __HAIKU__)
list(JOIN _macros "|" _alt)
file(GLOB_RECURSE _files "${DIR}/*.c" "${DIR}/*.h" "${DIR}/*.in")
if(NOT _files)
  message(FATAL_ERROR "no sources found under ${DIR}")
endif()
set(_hits "")
foreach(_f ${_files})
  file(STRINGS "${_f}" _lines REGEX "(^|[^A-Za-z0-9_])(${_alt})([^A-Za-z0-9_]|$)")
  foreach(_l ${_lines})
    file(RELATIVE_PATH _rel "${DIR}" "${_f}")
    string(APPEND _hits "  ${_rel}: ${_l}\n")
  endforeach()
endforeach()
if(_hits)
  message(FATAL_ERROR "OS macros in ${DIR} (use a backend or an HZ_HAVE_* check "
                      "from CMake instead):\n${_hits}")
endif()
list(LENGTH _files _n)
message(STATUS "ok: ${_n} files under ${DIR}, no OS macros")
