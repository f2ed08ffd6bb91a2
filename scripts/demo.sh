#!/usr/bin/env bash
# scripts/demo.sh - builds the library and runs the demo server.
# Extra arguments go to the demo (e.g. --port 9090); see `demo --help`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/deps.sh"
# The libraries of the default build: TLS, HTTP/2 (nghttp2), WebSocket
# compression and gzip (zlib), brotli.
hz_need_packages build-essential cmake pkg-config libmbedtls-dev libssl-dev libnghttp2-dev \
    zlib1g-dev libbrotli-dev
build="$root/build/demo"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHZ_BUILD_TESTS=OFF \
      -DHZ_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target demo -j"$(nproc)" >/dev/null
echo "httpz: starting $build/examples/demo $*"
exec "$build/examples/demo" "$@"
