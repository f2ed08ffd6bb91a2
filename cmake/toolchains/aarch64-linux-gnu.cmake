# Cross-compiles for Linux on aarch64 with Debian's cross toolchain
# (gcc-aarch64-linux-gnu) against arm64 multiarch -dev packages
# (dpkg --add-architecture arm64; e.g. libmbedtls-dev:arm64), which live in
# /usr/lib/aarch64-linux-gnu and /usr/include. Used by
# scripts/stages/70-cross.sh; ctest runs programs through
# CMAKE_CROSSCOMPILING_EMULATOR (Debian qemu-user).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
# Multiarch: search <prefix>/lib/aarch64-linux-gnu, and never the host's
# x86_64 libraries.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu)
# -L /, not -L /usr/aarch64-linux-gnu: with the cross package's libc
# (libc6-arm64-cross 2.36-8) every pthread_create() spins forever under
# qemu-aarch64 7.2 here, while the multiarch libc6:arm64 (2.36-9+deb12u*,
# pulled in by libc6-dev:arm64) works. Same ABI, so binaries linked by the
# cross gcc run on either. See docs/portability.md.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /)
