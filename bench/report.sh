#!/usr/bin/env bash
# bench/report.sh - regenerates the numbers and plots of docs/benchmarks.md in
# one go: runs bench/server.sh (httpz with 1 and 2 loops beside nginx, h2o and
# the roof, at several connection counts), then renders the table (../shared table.py)
# and the gnuplot PNGs into docs/img/.
#   CONNS="16 64 256 512" REPS=3 TARGETS="nginx h2o roof"   (passed through)
#   RAW=path/raw.txt   skip the run; re-render an earlier one
# Needs: apt-get install wrk nginx-light h2o libmicrohttpd-dev libevent-dev gnuplot-nox
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${HZ_SHARED:-$root/../shared}
command -v gnuplot >/dev/null || { echo "report: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
if [ -z "${RAW:-}" ]; then
    export OUT=${OUT:-/tmp/httpz-bench/results/$(date +%Y%m%d-%H%M%S)}
    CONNS=${CONNS:-16 64 256 512} "$root/bench/server.sh"
    RAW=$OUT/raw.txt
fi
python3 "$shared/bench/table.py" "$RAW"
python3 "$root/bench/plot.py" "$RAW" "$root/docs/img"
