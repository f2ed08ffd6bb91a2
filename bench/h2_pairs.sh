#!/usr/bin/env bash
# bench/h2_pairs.sh - server CPU per HTTP/2 request of the demo against h2o
# in alternating rounds, for rows whose difference is smaller than this
# VM's minute-to-minute drift (bench/h2.sh's 10 s rows moved by tens of
# percent between runs). Both servers start once and stay up (warm, files
# cached); each round runs the same fixed-count h2load (-t1, CPU 1) against
# each, in ABBA order (A first in odd rounds), servers pinned to CPU 0, and
# reads each server's CPU time from /proc/PID/task/*/schedstat (ns, user
# and kernel, every thread). A round's ratio compares runs seconds apart;
# the median over the rounds is the number to quote.
#   DEMO=build/examples/demo  the demo (Release; -DHZ_TLS=openssl to
#                             compare TLS libraries alike)
#   ROW=tls-64k               tls-64k, h2c-64k, tls or h2c (/plaintext)
#   ROUNDS=20 N=3000 C=16 M=10
#   RPS=                      requests per second per client (h2load --rps):
#                             both servers then serve the same rate, where
#                             without it each serves what h2load can drive
#                             against it (a server whose answers cost the
#                             client less gets more requests, so batches
#                             more, and pays less per request)
# Prints one line per round and a summary: the median ratio with the
# middle half of the rounds' ratios (quartiles).
# Needs: h2load (nghttp2-client), h2o, openssl.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/h2o_conf.sh"
DEMO=${DEMO:-$root/build/examples/demo}
ROW=${ROW:-tls-64k}
ROUNDS=${ROUNDS:-20}
N=${N:-3000}
C=${C:-16}
M=${M:-10}
RPS=${RPS:-}
[ -x "$DEMO" ] || { echo "bench: $DEMO not built" >&2; exit 1; }
for t in h2load h2o openssl; do
    command -v $t >/dev/null || { echo "bench: $t missing" >&2; exit 1; }
done
work=$(mktemp -d /tmp/hz-h2pairs.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work" # h2o run as root drops to nobody: it must read the files
mkdir -p "$work/docs"
head -c 65536 /dev/urandom > "$work/docs/64k.bin"
chmod 644 "$work/docs/"*
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
chmod 644 "$work/key.pem"
h2o_conf "$work" 21443 21080

"$DEMO" --port 21081 --tls-port 21444 --h2c --loops 1 --quiet --root "$work/docs" \
    --cert "$work/cert.pem" --key "$work/key.pem" >/dev/null 2>&1 &
pids+=($!)
httpz_pid=$!
h2o -c "$work/h2o.conf" >/dev/null 2>&1 &
pids+=($!)
h2o_pid=$!
for p in 21081 21080; do
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break
        sleep 0.1
    done
done

url() { # server: the row's URL
    local tls_port h2c_port
    if [ "$1" = httpz ]; then tls_port=21444 h2c_port=21081; else tls_port=21443 h2c_port=21080; fi
    case "$ROW" in
    tls-64k) echo "https://127.0.0.1:$tls_port/static/64k.bin" ;;
    h2c-64k) echo "http://127.0.0.1:$h2c_port/static/64k.bin" ;;
    tls) echo "https://127.0.0.1:$tls_port/plaintext" ;;
    h2c) echo "http://127.0.0.1:$h2c_port/plaintext" ;;
    *) echo "bench: unknown ROW $ROW" >&2; exit 1 ;;
    esac
}
tree() { echo "$1" $(pgrep -P "$1" || true); }
cpu_ns() { # pid: CPU time of it and its children, every thread (ns)
    local s=0 p f
    for p in $(tree "$1"); do
        for f in /proc/"$p"/task/*/schedstat; do
            [ -r "$f" ] && s=$((s + $(cut -d' ' -f1 "$f")))
        done
    done
    echo $s
}
pin() { local p; for p in $(tree "$1"); do taskset -a -p -c 0 "$p" >/dev/null 2>&1 || true; done; }
pin "$httpz_pid"
pin "$h2o_pid"

one() { # server pid: server CPU us per request of one N-request run
    local t0 t1 ok
    t0=$(cpu_ns "$2")
    ok=$(taskset -c 1 timeout 120 h2load -t 1 -c "$C" -m "$M" -n "$N" ${RPS:+--rps="$RPS"} "$(url "$1")" 2>&1 |
        awk '/^requests:/{print $8}')
    t1=$(cpu_ns "$2")
    [ "${ok:-0}" -gt 0 ] || { echo "bench: $1 served no request" >&2; exit 1; }
    awk -v d=$((t1 - t0)) -v n="$ok" 'BEGIN{printf "%.2f", d / 1000 / n}'
}
for s in httpz h2o; do # warm-up: handshake caches, page cache, h2o's file cache
    if [ $s = httpz ]; then one $s $httpz_pid >/dev/null; else one $s $h2o_pid >/dev/null; fi
done
echo "row $ROW  c$C m$M${RPS:+  rps $RPS per client}  N=$N per run  $(date -u +%H:%M:%S) UTC  load $(cut -d' ' -f1 /proc/loadavg)"
echo "round  httpz_us  h2o_us  ratio"
ratios=()
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then
        a=$(one httpz $httpz_pid); b=$(one h2o $h2o_pid)
    else
        b=$(one h2o $h2o_pid); a=$(one httpz $httpz_pid)
    fi
    q=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.3f", a / b}')
    ratios+=("$q")
    printf '%5d  %8s  %6s  %s\n' "$r" "$a" "$b" "$q"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR]=$1} END {
    n = NR
    med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    lo = v[int((n + 3) / 4)]; hi = v[n + 1 - int((n + 3) / 4)]
    printf "httpz/h2o: median %.3f, quartiles %.3f-%.3f, range %.3f-%.3f, %d rounds\n", med, lo, hi, v[1], v[n], n }'
echo "end $(date -u +%H:%M:%S) UTC  load $(cut -d' ' -f1 /proc/loadavg)"
