#!/usr/bin/env bash
# bench/h2_instr.sh - HTTP/2 cost per request that does not depend on the
# machine's load, for the demo beside h2o and nginx:
#   instr/req  user-space instructions (callgrind, --trace-children for
#              nginx's worker): the difference of an N2- and an N1-request
#              h2load run on fresh servers, so startup, handshakes and
#              shutdown drop out
#   sys/req    syscalls per request (perf tracepoint raw_syscalls:sys_enter
#              on the server's processes, natively, during an N2 run): the
#              kernel side, which callgrind does not see (this VM has no
#              hardware counters, so `perf stat -e instructions:k` reads
#              "not supported")
# Rows: h2c and TLS /plaintext at -c C -m M; tls-64k and h2c-64k: a 64 KiB
# static file (callgrind counts every byte AES-GCM and memcpy touch, the
# same for each server; the kernel's copies are in sys/req's calls only).
#   DEMO=build/examples/demo  SERVERS="httpz h2o nginx"  ROWS="h2c tls"
#   N1=4000 N2=24000  C=16 M=10
# Needs: valgrind, perf, h2load (nghttp2-client), h2o, nginx-light, openssl.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/h2o_conf.sh"
DEMO=${DEMO:-$root/build/examples/demo}
SERVERS=${SERVERS:-httpz h2o nginx}
ROWS=${ROWS:-h2c tls}
N1=${N1:-4000}
N2=${N2:-24000}
C=${C:-16}
M=${M:-10}
command -v h2load >/dev/null || { echo "bench: h2load missing (nghttp2-client)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "bench: valgrind missing" >&2; exit 1; }
work=$(mktemp -d /tmp/hz-h2instr.XXXXXX)
spid=
cleanup() { [ -n "$spid" ] && kill "$spid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# h2o run as root drops to nobody: it must read the files and callgrind
# must write its output here.
chmod 1777 "$work"
mkdir -p "$work/docs"
head -c 65536 /dev/urandom > "$work/docs/64k.bin"
chmod 644 "$work/docs/64k.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
# user root: workers that dropped to nobody could not write callgrind's
# output file, which is created (root-owned) when the process starts.
cat > "$work/nginx.conf" <<NG
user root; worker_processes 1; daemon off; pid $work/nginx.pid; error_log /dev/null;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:19443 ssl http2; ssl_certificate $work/cert.pem;
           ssl_certificate_key $work/key.pem;
           location = /plaintext { return 200 "Hello, World!"; }
           location /static/ { alias $work/docs/; } }
  server { listen 127.0.0.1:19080 http2;
           location = /plaintext { return 200 "Hello, World!"; }
           location /static/ { alias $work/docs/; } } }
NG
h2o_conf "$work" 20443 20080 root

port() { # server row
    case "$1:$2" in
    httpz:h2c) echo 18080 ;; httpz:tls) echo 18443 ;;
    nginx:h2c) echo 19080 ;; nginx:tls) echo 19443 ;;
    h2o:h2c) echo 20080 ;; h2o:tls) echo 20443 ;;
    esac
}
url() { # server row
    case "$2" in
    tls) echo "https://127.0.0.1:$(port "$1" tls)/plaintext" ;;
    h2c) echo "http://127.0.0.1:$(port "$1" h2c)/plaintext" ;;
    tls-64k) echo "https://127.0.0.1:$(port "$1" tls)/static/64k.bin" ;;
    h2c-64k) echo "http://127.0.0.1:$(port "$1" h2c)/static/64k.bin" ;;
    esac
}

start() { # server prefix...: starts it in the background, spid
    local name=$1
    shift
    case "$name" in
    httpz) "$@" "$DEMO" --port 18080 --tls-port 18443 --h2c --loops 1 --quiet --header-timeout 60000 --root "$work/docs" \
        --cert "$work/cert.pem" --key "$work/key.pem" >/dev/null 2>&1 & ;;
    nginx) "$@" nginx -c "$work/nginx.conf" -e /dev/null >/dev/null 2>&1 & ;;
    h2o) "$@" h2o -c "$work/h2o.conf" >/dev/null 2>&1 & ;;
    esac
    spid=$!
    local p
    p=$(port "$name" h2c)
    for _ in $(seq 300); do # valgrind starts slowly
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench: $name did not start" >&2
    exit 1
}
stop() {
    kill -TERM "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    spid=
    # nginx's worker may outlive the master for a moment
    for _ in $(seq 100); do pgrep -f "$work/nginx.conf" >/dev/null || break; sleep 0.1; done
}
load() { h2load -t 1 -c "$C" -m "$M" -n "$1" "$2" 2>&1 | awk '/^requests:/{print $8}'; }

instr() { # server row n: user-space instructions of a fresh server serving n requests
    rm -f "$work"/cg.*
    start "$1" valgrind --tool=callgrind --trace-children=yes \
        --callgrind-out-file="$work/cg.%p" --dump-line=no
    local ok
    ok=$(load "$3" "$(url "$1" "$2")")
    stop
    [ "$ok" = "$3" ] || { echo "bench: $1 $2 served $ok of $3" >&2; exit 1; }
    # one count per process: its totals line (summary is the same number)
    awk '/^totals:/{s+=$2} END{printf "%.0f\n", s}' "$work"/cg.*
}

syscalls() { # server row: syscalls per request over an N2 run
    start "$1"
    local pids
    pids=$(echo "$spid" $(pgrep -P "$spid" || true) | tr ' ' ,)
    perf stat -x, -e raw_syscalls:sys_enter -p "$pids" -o "$work/perf.txt" &
    local ppid=$!
    sleep 0.5
    local ok
    ok=$(load "$N2" "$(url "$1" "$2")")
    kill -INT "$ppid"
    wait "$ppid" 2>/dev/null || true
    stop
    awk -F, -v n="$ok" '/raw_syscalls/{printf "%.2f", $1 / n}' "$work/perf.txt"
}

echo "server row   c  m  instr/req  sys/req   (N2-N1 = $((N2 - N1)) requests)"
for name in $SERVERS; do
    case "$name" in
    nginx | h2o) command -v "$name" >/dev/null || { echo "$name: not installed" >&2; continue; } ;;
    httpz) [ -x "$DEMO" ] || { echo "bench: $DEMO not built" >&2; exit 1; } ;;
    esac
    for row in $ROWS; do
        a=$(instr "$name" "$row" "$N1")
        b=$(instr "$name" "$row" "$N2")
        s=$(syscalls "$name" "$row")
        printf '%-6s %-7s %3s %2s %9d %8s\n' "$name" "$row" "$C" "$M" $(((b - a) / (N2 - N1))) "$s"
    done
done
