# Pretends to cross-compile for Darwin on arm64, so configure reaches httpz's
# platform checks; nothing is built. The host compiler stands in for a cross
# compiler: its checks are skipped, and try_compile makes static libraries
# so no target linker is needed.
set(CMAKE_SYSTEM_NAME Darwin)
set(CMAKE_SYSTEM_PROCESSOR arm64)
set(CMAKE_C_COMPILER_WORKS TRUE)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
