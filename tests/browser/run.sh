#!/usr/bin/env bash
# tests/browser/run.sh - the demo's web app in headless Chromium (run.mjs).
#
#   run.sh DEMO_EXE SRC_DIR OUT_DIR PROTO [--build-h BUILD_H] [--screenshot FILE]
#
# PROTO is the protocol the page must be served over: http/1.1 (Chromium
# started with --disable-http2) or h2. OUT_DIR (the build tree's browser/)
# holds the npm packages (installed from this folder's package-lock.json,
# kept while the lock file is unchanged), the run's certificates and
# profile, the demo's log and the screenshot status-PROTO.png. BUILD_H, the
# build's generated httpz/build.h, tells whether HTTP/2 is compiled in.
# Exit 77 (ctest SKIP) when node, npm, chromium or openssl is missing or the
# npm packages cannot be installed (no network), or when a part of the test
# has nothing to test in this tree (run.mjs says which).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
demo=$1 src=$2 out=$3 proto=$4
shift 4

skip() {
    echo "browser: SKIP: $*"
    exit 77
}
chromium=${HZ_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$chromium" ] || skip "no chromium (Debian: apt-get install chromium)"
command -v node >/dev/null || skip "no node"
command -v npm >/dev/null || skip "no npm"
command -v openssl >/dev/null || skip "no openssl command"

# The npm packages, cached in OUT_DIR: reinstalled when the lock file changed.
mkdir -p "$out"
if ! cmp -s "$here/package-lock.json" "$out/package-lock.json" ||
    [ ! -d "$out/node_modules/playwright-core" ]; then
    # Two ctest runs (one per protocol) may get here at once: one installs.
    (
        flock 9
        if ! cmp -s "$here/package-lock.json" "$out/package-lock.json" ||
            [ ! -d "$out/node_modules/playwright-core" ]; then
            cp "$here/package.json" "$here/package-lock.json" "$out/" &&
                (cd "$out" && timeout 150 npm ci --no-audit --no-fund --loglevel=error) ||
                { rm -f "$out/package-lock.json"; exit 1; }
        fi
    ) 9>"$out/.npm.lock" || skip "npm ci failed in $out (offline?)"
fi

NODE_PATH="$out/node_modules" exec node "$here/run.mjs" --demo "$demo" --src "$src" \
    --out "$out" --proto "$proto" --chromium "$chromium" "$@"
