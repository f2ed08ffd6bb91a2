# Cross-compiles for macOS on aarch64 with zig cc (see zig-cc). Used by CI
# (scripts/stages/70-cross.sh) so every Darwin arm of the code compiles and
# links without a Mac: HZ_TLS=none (no macOS TLS library here) and
# HZ_BUILD_TESTS=OFF (no macOS Criterion); HZ_BUILD_CHECKS=ON builds the
# plain-C poller_check instead.
set(CMAKE_SYSTEM_NAME Darwin)
set(CMAKE_SYSTEM_PROCESSOR arm64)
set(CMAKE_C_COMPILER ${CMAKE_CURRENT_LIST_DIR}/zig-cc-aarch64-macos)
set(CMAKE_AR ${CMAKE_CURRENT_LIST_DIR}/zig-ar CACHE FILEPATH "archiver" FORCE)
set(CMAKE_RANLIB ${CMAKE_CURRENT_LIST_DIR}/zig-ranlib CACHE FILEPATH "ranlib" FORCE)
# zig brings its own macOS headers and libSystem stubs: no SDK to look for.
set(CMAKE_OSX_SYSROOT "" CACHE PATH "" FORCE)
set(CMAKE_OSX_DEPLOYMENT_TARGET "" CACHE STRING "" FORCE)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
