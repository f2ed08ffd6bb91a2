#!/usr/bin/env bash
# scripts/status-screenshot.sh - refreshes docs/img/status.png, the README's
# picture of the demo's status page: builds the demo (build/screenshot) and
# runs the browser test over HTTP/1.1 (tests/browser/run.sh), which takes
# the screenshot after a few seconds of traffic. Needs what that test needs
# (chromium, libnss3-tools, node + npm: installed here on Debian as root).
#   scripts/status-screenshot.sh [OUT.png]   (default docs/img/status.png)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/deps.sh"
hz_need_packages build-essential cmake pkg-config libmbedtls-dev openssl chromium \
    libnss3-tools nodejs
out=$(realpath -m "${1:-$root/docs/img/status.png}")
build="$root/build/screenshot"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHZ_BUILD_TESTS=OFF \
      -DHZ_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target demo -j"$(nproc)" >/dev/null
rm -f "$out"
rc=0
"$root/tests/browser/run.sh" "$build/examples/demo" "$root" "$build/browser" http/1.1 \
    --screenshot "$out" || rc=$?
# 77: some part had nothing to test in this tree; the picture is still good.
if [ ! -s "$out" ] || { [ $rc -ne 0 ] && [ $rc -ne 77 ]; }; then
    echo "status-screenshot: the browser run failed ($rc)" >&2
    exit 1
fi
echo "status-screenshot: wrote $out"
