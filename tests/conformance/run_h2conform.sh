#!/usr/bin/env bash
# run_h2conform.sh DEMO SUITE MODE - starts the demo (HTTP/2 with prior
# knowledge on the plain port, --h2c, and HTTPS with ALPN h2 on a second
# port, from a temporary directory where it makes its self-signed
# certificate) and runs tests/conformance/h2conform.py against it over
# MODE: "h2c" or "tls". Exit 77 (skipped) when python3's hpack (python3-h2)
# is missing.
set -u
demo=$1
suite=$2
mode=$3
py=""
for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import hpack' 2>/dev/null; then
        py=$p
        break
    fi
done
[ -n "$py" ] || { echo "python3 hpack (python3-h2) missing: skipped"; exit 77; }
dir=$(mktemp -d)
log=$dir/demo.log
pid=""
trap '[ -n "$pid" ] && kill -TERM $pid 2>/dev/null; [ -n "$pid" ] && wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
# A free port for HTTPS in tls mode (--tls-port 0 means off); retried if
# taken meanwhile.
for attempt in 1 2 3; do
    tport=0
    [ "$mode" = tls ] && tport=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    (cd "$dir" && exec "$demo" --addr 127.0.0.1 --port 0 --tls-port "$tport" --loops 1 --h2c \
        --header-timeout 3000 --quiet) >"$log" 2>&1 &
    pid=$!
    port=""
    for _ in $(seq 1 100); do
        port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$log")
        [ -n "$port" ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$port" ] && break
    wait $pid 2>/dev/null
    pid=""
done
if [ -z "$port" ]; then
    echo "demo did not start:"
    cat "$log"
    exit 1
fi
case $mode in
h2c) "$py" "$suite" 127.0.0.1 "$port" ;;
tls) "$py" "$suite" 127.0.0.1 "$tport" --tls ;;
*) echo "mode must be h2c or tls"; exit 2 ;;
esac
rc=$?
kill -TERM $pid
wait $pid
drc=$?
pid=""
if [ $drc -ne 0 ]; then
    echo "demo exited with $drc after SIGTERM"
    cat "$log"
    exit 1
fi
exit $rc
