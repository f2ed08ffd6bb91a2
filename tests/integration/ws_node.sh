#!/bin/sh
# ws_node.sh DEMO_EXE CACHE_DIR - runs ws_node.js (the npm "ws" client)
# against the demo. The package is installed once into CACHE_DIR
# (npm install --prefix; reused by later runs). Exit 77 (skipped) without
# node or npm, or when the package cannot be installed (offline).
set -u
demo=$1
cache=$2
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null 2>&1 || { echo "ws_node: SKIP: no node"; exit 77; }
if [ ! -f "$cache/node_modules/ws/package.json" ]; then
    command -v npm >/dev/null 2>&1 || { echo "ws_node: SKIP: no npm"; exit 77; }
    mkdir -p "$cache"
    if ! npm install --silent --no-audit --no-fund --prefix "$cache" ws@8 >"$cache/npm.log" 2>&1; then
        echo "ws_node: SKIP: npm install ws failed (see $cache/npm.log)"
        exit 77
    fi
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
NODE_PATH="$cache/node_modules" exec node "$here/ws_node.js" "$demo"
