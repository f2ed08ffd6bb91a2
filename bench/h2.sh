#!/usr/bin/env bash
# bench/h2.sh - HTTP/2 cost of the demo (1 loop) beside nginx (http2
# listener) and h2o when installed, in the same run, through
# ../shared/bench/h2.sh (h2load -t1 on CPU 1, server on CPU 0, server CPU
# us per request from /proc). Rows: TLS and h2c, -c 16 -m 10 and -c 64 -m 32
# on /plaintext, plus a 64 KiB static file.
#   DEMO=build/examples/demo   the demo to run (built with HZ_HTTP2=nghttp2)
#   DURATION=10                seconds per row
#   NGINX=1 H2O=1              0: skip that anchor
#   ROWS='tls h2c tls-64k'     the rows to run (tls-64k alone: the file row)
# Needs: apt-get install nghttp2-client (h2load); nginx-light and h2o for
# the anchors; openssl for nginx's certificate.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/h2o_conf.sh"
shared=${HZ_SHARED:-$root/../shared}/bench
DEMO=${DEMO:-$root/build/examples/demo}
DURATION=${DURATION:-10}
NGINX=${NGINX:-1}
H2O=${H2O:-1}
[ -x "$shared/h2.sh" ] || { echo "bench: $shared/h2.sh not found" >&2; exit 1; }
[ -x "$DEMO" ] || { echo "bench: $DEMO not built" >&2; exit 1; }
command -v h2load >/dev/null || { echo "bench: h2load missing (nghttp2-client)" >&2; exit 1; }
work=$(mktemp -d /tmp/hz-h2bench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ ! -s "$work/hung" ] || cat "$work/hung" >&2
    rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work" # h2o run as root drops to nobody: it must read the files
mkdir -p "$work/docs"
head -c 65536 /dev/urandom > "$work/docs/64k.bin"
# h2load (nghttp2 1.52) with -D never exits when a client's TLS handshake
# ends after the duration: that client was not running when the others were
# stopped, then sends requests forever (bench/README.md, "HTTP/2"). 64
# handshakes on a loaded machine can take that long, so every h2load the
# shared script runs is bounded; a hung one leaves its row empty.
real_h2load=$(command -v h2load)
mkdir "$work/bin"
cat > "$work/bin/h2load" <<EOF
#!/bin/sh
timeout -k 5 $((DURATION + 60)) "$real_h2load" "\$@"
rc=\$?
[ \$rc -ne 124 ] || echo "bench: h2load \$* hung (a late TLS handshake?)" >> "$work/hung"
exit \$rc
EOF
chmod 755 "$work/bin/h2load"
export PATH="$work/bin:$PATH"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1

ROWS=${ROWS:-tls h2c tls-64k}
want() { case " $ROWS " in *" $1 "*) return 0 ;; esac; return 1; }
rows() { # name tls_base h2c_base pid
    local name=$1 tls=$2 h2c=$3 pid=$4
    for cm in "16 10" "64 32"; do
        set -- $cm
        want tls && echo "$name tls $("$shared/h2.sh" "$tls/plaintext" "$pid" "$1" "$2" "$DURATION")"
        want h2c && echo "$name h2c $("$shared/h2.sh" "$h2c/plaintext" "$pid" "$1" "$2" "$DURATION")"
    done
    want tls-64k && echo "$name tls-64k $("$shared/h2.sh" "$tls/static/64k.bin" "$pid" 16 10 "$DURATION")"
    return 0
}

# httpz demo: HTTPS 18443 (ALPN h2), h2c on 18080.
"$DEMO" --port 18080 --tls-port 18443 --h2c --loops 1 --quiet --root "$work/docs" \
    --cert "$work/cert.pem" --key "$work/key.pem" >/dev/null 2>&1 &
pids+=($!)
sleep 1
rows httpz https://127.0.0.1:18443 http://127.0.0.1:18080 "${pids[-1]}"

if [ "$NGINX" = 1 ] && command -v nginx >/dev/null; then
    cat > "$work/nginx.conf" <<NG
worker_processes 1; daemon off; pid $work/nginx.pid; error_log /dev/null;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:19443 ssl http2; ssl_certificate $work/cert.pem;
           ssl_certificate_key $work/key.pem; root $work/docs;
           location = /plaintext { return 200 "Hello, World!"; }
           location /static/ { alias $work/docs/; } }
  server { listen 127.0.0.1:19080 http2; root $work/docs;
           location = /plaintext { return 200 "Hello, World!"; } } }
NG
    nginx -c "$work/nginx.conf" -e /dev/null &
    pids+=($!)
    sleep 1
    rows nginx https://127.0.0.1:19443 http://127.0.0.1:19080 "${pids[-1]}"
fi
if [ "$H2O" = 1 ] && command -v h2o >/dev/null; then
    h2o_conf "$work" 20443 20080
    h2o -c "$work/h2o.conf" >/dev/null 2>&1 &
    pids+=($!)
    sleep 1
    rows h2o https://127.0.0.1:20443 http://127.0.0.1:20080 "${pids[-1]}"
fi
