# Pretends to cross-compile for Haiku on x86_64, so configure reaches httpz's
# platform checks; nothing is built. The host compiler stands in for a cross
# compiler: its checks are skipped, and try_compile makes static libraries
# so no target linker is needed.
set(CMAKE_SYSTEM_NAME Haiku)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER_WORKS TRUE)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
