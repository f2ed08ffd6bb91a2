#!/usr/bin/env bash
# bench/tls.sh - HTTPS cost of the demo server with each TLS backend, beside
# nginx over TLS (../shared/bench/tls.sh) in the same run, with the same
# self-signed ECDSA P-256 certificate (/tmp/bench-tls, made here if missing).
# Server on CPU 0 (1 loop, against nginx's 1 worker), clients on CPU 1.
# Per backend:
#  (i)  new full handshakes: openssl s_time -new (sequential, TLS 1.3 and
#       TLS 1.2) and wrk -c64 with Connection: close (one full handshake +
#       one request per connection), each with server CPU us per handshake;
#  (ii) wrk over https with keep-alive (../shared/bench/plaintext.sh with
#       SERVER_PID): requests/s and server CPU us per request, median of REPS.
# Builds the demo twice (HZ_TLS=openssl, HZ_TLS=mbedtls) in build/bench-openssl
# and build/bench-mbedtls (Release, tests off).
#   DURATION=10 REPS=3 CONNS="64 256"  as the shared scripts
#   BACKENDS="openssl mbedtls"         which builds to measure
#   NGINX=1                            0: skip the nginx anchor
# Needs: apt-get install wrk nginx-light openssl python3
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${HZ_SHARED:-$root/../shared}/bench
DURATION=${DURATION:-10}
REPS=${REPS:-3}
CONNS=${CONNS:-64 256}
BACKENDS=${BACKENDS:-openssl mbedtls}
NGINX=${NGINX:-1}
export CLIENT_CPU=${CLIENT_CPU:-1} SERVER_CPU=${SERVER_CPU:-0}
[ -x "$shared/plaintext.sh" ] || { echo "bench: $shared/plaintext.sh not found" >&2; exit 1; }
for t in wrk openssl python3 taskset; do
    command -v $t >/dev/null || { echo "bench: $t is missing" >&2; exit 1; }
done
hz=$(getconf CLK_TCK)
port=18444 # HTTPS; the demo's plain port is 18094

# The certificate nginx uses too (same command as the shared script).
mkdir -p /tmp/bench-tls
if [ ! -f /tmp/bench-tls/cert.pem ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout /tmp/bench-tls/key.pem -out /tmp/bench-tls/cert.pem -days 30 \
        -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null
    chmod 644 /tmp/bench-tls/key.pem
fi

for b in $BACKENDS; do
    build=$root/build/bench-$b
    echo "building the demo with HZ_TLS=$b in $build" >&2
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHZ_BUILD_TESTS=OFF \
        -DHZ_TLS="$b" >/dev/null
    cmake --build "$build" --target demo -j"$(nproc)" >/dev/null
done

ticks() { # utime+stime clock ticks of pid $1 and its descendants
    python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1]); kids = {}; ticks = {}
for d in os.listdir('/proc'):
    if not d.isdigit(): continue
    try: s = open(f'/proc/{d}/stat').read()
    except OSError: continue
    f = s[s.rindex(')') + 2:].split()
    kids.setdefault(int(f[1]), []).append(int(d)); ticks[int(d)] = int(f[11]) + int(f[12])
tot, st = 0, [root]
while st:
    p = st.pop(); tot += ticks.get(p, 0); st += kids.get(p, [])
print(tot)
PY
}

running=""
cleanup() { if [ -n "$running" ]; then "$shared/anchors/stop.sh" "$running" >&2 || true; fi; }
trap cleanup EXIT

# measure NAME PID: the table rows for the server on 127.0.0.1:$port.
measure() {
    local name=$1 pid=$2
    for proto in tls1_3 tls1_2; do
        local t0 t1 s0 s1 out n
        t0=$(ticks "$pid")
        s0=$(date +%s.%N)
        out=$(timeout $((DURATION + 20)) taskset -c "$CLIENT_CPU" openssl s_time \
            -connect 127.0.0.1:$port -new -time "$DURATION" -"$proto" 2>&1 || true)
        s1=$(date +%s.%N)
        t1=$(ticks "$pid")
        n=$(echo "$out" | sed -n 's/^\([0-9]*\) connections in .*real seconds.*/\1/p' | head -1)
        awk -v n="${n:-0}" -v a="$t0" -v b="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" \
            -v p="$proto" -v name="$name" \
            'BEGIN{ if (n==0) { printf "| %s | s_time -new %s | not offered / failed | | | |\n", name, p; exit }
                    printf "| %s | s_time -new %s (sequential) | %.0f handshakes/s | %.0f%% | %.0f | 1 handshake in flight |\n",
                           name, p, n/(s1-s0), 100*(b-a)/hz/(s1-s0), (b-a)/hz*1e6/n }'
    done
    local t0 t1 line
    t0=$(ticks "$pid")
    line=$(timeout $((DURATION + 20)) taskset -c "$CLIENT_CPU" wrk -t1 -c64 -d"${DURATION}s" \
        -H 'Connection: close' -s "$shared/wrk_report.lua" \
        https://127.0.0.1:$port/plaintext 2>&1 | grep '^WRKSUM' || true)
    t1=$(ticks "$pid")
    if [ -n "$line" ]; then
        eval "$(echo "$line" | cut -d' ' -f2- | tr ' ' '\n' | sed 's/^/w_/')"
        # shellcheck disable=SC2154 # w_* come from the eval above
        awk -v n="$w_requests" -v r="$w_rps" -v s="$w_secs" -v a="$t0" -v b="$t1" -v hz="$hz" \
            -v name="$name" -v e="connect=$w_err_connect,read=$w_err_read,timeout=$w_err_timeout" \
            'BEGIN{ printf "| %s | wrk -c64 Connection: close (new connection per request; wrk resumes if offered) | %.0f conn+req/s | %.0f%% | %.0f | errors %s |\n",
                    name, r, 100*(b-a)/hz/s, (b-a)/hz*1e6/n, e }'
    else
        echo "| $name | wrk -c64 Connection: close | FAILED | | | |"
    fi
    for c in $CONNS; do
        local res=()
        for _ in $(seq 1 "$REPS"); do
            res+=("$(SCHEME=https SERVER_PID=$pid DURATION=$DURATION \
                "$shared/plaintext.sh" 127.0.0.1:$port "$c" || true)")
            sleep 1
        done
        printf '%s\n' "${res[@]}" | python3 -c '
import re, statistics as st, sys
name, c = sys.argv[1], sys.argv[2]
rows = [dict(re.findall(r"(\w+)=(\S+)", l)) for l in sys.stdin if "rps=" in l]
if not rows: print(f"| {name} | wrk https keep-alive c{c} | FAILED | | | |"); sys.exit()
rps = [float(r["rps"]) for r in rows]; p99 = [float(r["p99_us"])/1000 for r in rows]
cpu = st.median(float(r["srv_cpu"].rstrip("%")) for r in rows)
us = st.median(float(r["srv_us_req"]) for r in rows)
errs = ",".join(sorted({r["errors"] for r in rows}))
cli = st.median(float(r.get("cli_cpu", "0").rstrip("%")) for r in rows)
print(f"| {name} | wrk https keep-alive c{c} | {st.median(rps):,.0f} req/s (min-max {min(rps):,.0f}-{max(rps):,.0f}), p99 {st.median(p99):.2f} ms | {cpu:.0f}% | {us:.1f} | errors {errs}; wrk CPU {cli:.0f}% |")
' "$name" "$c"
    done
}

echo "| server | test | result | server CPU | server µs per handshake/request | notes |"
echo "|---|---|---|---|---|---|"
for b in $BACKENDS; do
    name=httpz-$b
    demo=$root/build/bench-$b/examples/demo
    "$shared/anchors/start.sh" "$name" "$port" "$demo" --port 18094 --tls-port "$port" \
        --loops 1 --quiet --cert /tmp/bench-tls/cert.pem --key /tmp/bench-tls/key.pem >&2
    running=$name
    pid=$(cat "/tmp/bench-$name.pid")
    body=$(timeout 5 curl -sk "https://127.0.0.1:$port/plaintext" || true)
    [ "$body" = "Hello, World!" ] || { echo "$name: bad body '$body'" >&2; exit 1; }
    measure "$name" "$pid"
    "$shared/anchors/stop.sh" "$name" >&2
    running=""
done
if [ "$NGINX" = 1 ]; then
    # The shared script prints the same columns without the server column.
    DURATION=$DURATION REPS=$REPS CONNS=$CONNS "$shared/tls.sh" | tail -n +3 | sed 's/^| /| nginx | /'
fi
