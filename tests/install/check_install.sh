#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then builds and runs a
# consumer project against it twice: with find_package(httpz) and with
# pkg-config (static link, so the .pc's private fields must be right).
# Then builds backends written outside the tree (tests/install/backend)
# against the installed headers and library and runs their contract suites.
# usage: check_install.sh BUILD_DIR SOURCE_DIR C_COMPILER [CRITERION_LIB CRITERION_INCLUDE]
set -euo pipefail
build=$1 src=$2 cc=$3 crit_lib=${4:-} crit_inc=${5:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null

echo "== find_package"
cmake -S "$src/tests/install/consumer" -B "$tmp/cm" -DCMAKE_C_COMPILER="$cc" \
      -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
"$tmp/cm/consumer"

echo "== pkg-config (static)"
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig:$tmp/prefix/lib64/pkgconfig"
flags=$(pkg-config --cflags httpz)
libs=$(pkg-config --libs --static httpz)
# Link the archive, not the .so, to prove Libs.private is complete.
libdir=$(pkg-config --variable=libdir httpz)
"$cc" $flags "$src/tests/install/consumer/main.c" -o "$tmp/pc-consumer" \
      -Wl,-Bstatic -lhttpz -Wl,-Bdynamic -L"$libdir" $(sed 's/-lhttpz//' <<<"$libs")
"$tmp/pc-consumer"

echo "== out-of-tree backends (find_package): poller contract, executor contract"
cmake -S "$src/tests/install/backend" -B "$tmp/oot" -DCMAKE_C_COMPILER="$cc" \
      -DCMAKE_PREFIX_PATH="$tmp/prefix" -DHZ_SOURCE_DIR="$src" \
      -DHZ_CRITERION_LIB="$crit_lib" -DHZ_CRITERION_INCLUDE="$crit_inc" >/dev/null
cmake --build "$tmp/oot" >/dev/null
"$tmp/oot/check_poller"
if [ -n "$crit_lib" ]; then
    "$tmp/oot/check_executor" --jobs=1
else
    echo "(no Criterion: executor contract not run)"
fi
# Nothing under backends/ may reach past the public headers (backends/common
# holds code the backends share, itself written on the public headers).
if grep -rnE '#include[[:space:]]+"' "$src/backends" | grep -vE '#include[[:space:]]+"\.\./common/[a-z_]+\.h"'; then
    echo "a backend includes a non-public header (only <httpz/...>, backends/common, system and library headers)"
    exit 1
fi

echo "== shared library exports only the API"
so=$(ls "$tmp"/prefix/lib*/libhttpz.so | head -1)
bad=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^hz_[a-z]' | grep -v '^_' || true)
if [ -n "$bad" ]; then
    echo "non-API symbols exported:"; echo "$bad"; exit 1
fi
internal=$(nm -D --defined-only "$so" | awk '{print $3}' | grep '^hz__' || true)
[ -z "$internal" ] || { echo "internal symbols exported: $internal"; exit 1; }
readelf -d "$so" | grep -q "SONAME.*libhttpz.so.0" || { echo "no SONAME"; exit 1; }
echo "install check ok"
