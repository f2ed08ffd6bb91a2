#!/usr/bin/env bash
# bench/h2_file_cost.sh - what one HTTP/2 response of a 64 KiB static file
# costs the demo, independent of the machine's load:
#   sys/req    syscalls per request (strace -c -f on the demo; the
#              difference of an N2- and an N1-request h2load run, so
#              startup, handshakes and shutdown drop out), with the calls
#              that make it up
#   instr/req  user-space instructions per request (callgrind), likewise
# Rows: h2c and TLS, h2load -c C -m M.
#   DEMO=build/examples/demo ROWS="h2c tls" N1=2000 N2=6000 C=16 M=10 TOOLS="strace callgrind"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
DEMO=${DEMO:-$root/build/examples/demo}
ROWS=${ROWS:-h2c tls}
N1=${N1:-2000}
N2=${N2:-6000}
C=${C:-16}
M=${M:-10}
TOOLS=${TOOLS:-strace callgrind}
work=$(mktemp -d /tmp/hz-h2file.XXXXXX)
spid=
cleanup() { [ -n "$spid" ] && kill "$spid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/docs"
head -c 65536 /dev/urandom > "$work/docs/64k.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1

url() { [ "$1" = tls ] && echo "https://127.0.0.1:18443/static/64k.bin" ||
    echo "http://127.0.0.1:18080/static/64k.bin"; }

wait_port() { # port
    for _ in $(seq 1 100); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench: port $1 did not open" >&2
    return 1
}

# one run: tool row n -> prints the tool's total (syscalls or Ir), and for
# strace the per-call counts into $work/calls.<n>
one() {
    local tool=$1 row=$2 n=$3
    local out=$work/out.$tool.$n
    rm -f "$out" "$work"/cg.*
    case "$tool" in
    strace) strace -f -c -o "$out" "$DEMO" --port 18080 --tls-port 18443 --h2c --loops 1 --quiet \
        --root "$work/docs" --cert "$work/cert.pem" --key "$work/key.pem" >/dev/null 2>&1 & ;;
    callgrind) valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" "$DEMO" --port 18080 \
        --tls-port 18443 --h2c --loops 1 --quiet --root "$work/docs" --cert "$work/cert.pem" \
        --key "$work/key.pem" >/dev/null 2>&1 & ;;
    esac
    spid=$!
    wait_port 18080 && wait_port 18443
    h2load -n "$n" -c "$C" -m "$M" "$(url "$row")" >/dev/null 2>&1
    # strace's child is the demo (strace itself would only detach on SIGINT)
    local target=$spid
    [ "$tool" = strace ] && target=$(pgrep -P "$spid" | head -1)
    kill -INT "$target" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    spid=
    case "$tool" in
    strace) awk '$NF != "total" && $1 ~ /^[0-9.]+$/ { n = NF == 6 ? $4 : $4; print $NF, n }' "$out" \
        > "$work/calls.$n"
        awk '{ s += $2 } END { print s }' "$work/calls.$n" ;;
    callgrind) grep -h '^summary:' "$work"/cg.* | awk '{ s += $2 } END { print s }' ;;
    esac
}

for row in $ROWS; do
    for tool in $TOOLS; do
        a=$(one "$tool" "$row" "$N1")
        b=$(one "$tool" "$row" "$N2")
        per=$(awk -v a="$a" -v b="$b" -v n1="$N1" -v n2="$N2" 'BEGIN { printf "%.2f", (b - a) / (n2 - n1) }')
        if [ "$tool" = strace ]; then
            detail=$(join -a1 -a2 -e 0 -o 0,1.2,2.2 <(sort "$work/calls.$N1") <(sort "$work/calls.$N2") |
                awk -v n1="$N1" -v n2="$N2" '{ d = ($3 - $2) / (n2 - n1); if (d >= 0.05)
                    printf "%s %.2f ", $1, d }')
            echo "$row sys/req $per  ($detail)"
        else
            echo "$row instr/req $per"
        fi
    done
done
