#!/usr/bin/env bash
# bench/tls_resume.sh - server CPU per TLS handshake, full against resumed
# (session tickets), for each TLS backend of the demo server.
#
# Every backend's demo runs at once (1 loop each, all on CPU $SERVER_CPU,
# clients on CPU $CLIENT_CPU); the measurements then alternate between
# backends, modes and protocol versions round after round, so a burst of
# load from other processes on a shared machine lands on all of them alike.
# Each cell is the median over ROUNDS of (server CPU ticks / handshakes),
# ticks from /proc (utime+stime of the server and its threads).
#   openssl s_time -new    -> a full handshake per connection
#   openssl s_time -reuse  -> the first connection full, then every one resumes
#                             (the "reused" column is the fraction s_time saw
#                             resumed: 'r' characters in its progress output)
# -www /plaintext makes s_time send a request and read the answer, so the
# TLS 1.3 NewSessionTicket (sent after the handshake) reaches the client.
#
#   DURATION=4 ROUNDS=7 BACKENDS="openssl mbedtls"
#   MBEDTLS3_PREFIX=/tmp/mbedtls36-install   also measure a build against an
#                                            mbedTLS 3.x installed there
#                                            (docs/tls.md), named "mbedtls3"
# Builds the demo per backend in build/bench-resume-<name> (Release, tests off).
# Needs: openssl, python3, taskset.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-7}
BACKENDS=${BACKENDS:-openssl mbedtls}
CLIENT_CPU=${CLIENT_CPU:-1}
SERVER_CPU=${SERVER_CPU:-0}
[ -n "${MBEDTLS3_PREFIX:-}" ] && BACKENDS="$BACKENDS mbedtls3"
for t in openssl python3 taskset curl; do
    command -v $t >/dev/null || { echo "bench: $t is missing" >&2; exit 1; }
done
hz=$(getconf CLK_TCK)
cert=/tmp/bench-tls
mkdir -p $cert
if [ ! -f $cert/cert.pem ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout $cert/key.pem -out $cert/cert.pem -days 30 \
        -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null
fi

for b in $BACKENDS; do
    build=$root/build/bench-resume-$b
    args=(-DCMAKE_BUILD_TYPE=Release -DHZ_BUILD_TESTS=OFF)
    case $b in
    mbedtls3) args+=(-DHZ_TLS=mbedtls -DCMAKE_PREFIX_PATH="$MBEDTLS3_PREFIX") ;;
    *) args+=(-DHZ_TLS="$b") ;;
    esac
    echo "building the demo ($b) in $build" >&2
    cmake -S "$root" -B "$build" "${args[@]}" >/dev/null
    cmake --build "$build" --target demo -j"$(nproc)" >/dev/null
done

ticks() { # utime+stime clock ticks of pid $1 (all its threads)
    awk '{ sub(/.*\) /, ""); split($0, f, " "); print f[12] + f[13] }' "/proc/$1/stat"
}

declare -A pid port
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
n=0
for b in $BACKENDS; do
    port[$b]=$((18450 + n))
    taskset -c "$SERVER_CPU" "$root/build/bench-resume-$b/examples/demo" \
        --port $((18190 + n)) --tls-port "${port[$b]}" --loops 1 --quiet \
        --cert $cert/cert.pem --key $cert/key.pem >/dev/null 2>&1 &
    pid[$b]=$!
    pids+=($!)
    n=$((n + 1))
done
for b in $BACKENDS; do
    for _ in $(seq 50); do
        curl -sk "https://127.0.0.1:${port[$b]}/plaintext" >/dev/null 2>&1 && break
        sleep 0.1
    done
done

# run B MODE PROTO: prints "B MODE PROTO handshakes ticks reused_fraction"
run() {
    local b=$1 mode=$2 proto=$3 t0 t1 out
    t0=$(ticks "${pid[$b]}")
    out=$(timeout $((DURATION + 20)) taskset -c "$CLIENT_CPU" openssl s_time \
        -connect 127.0.0.1:"${port[$b]}" -"$mode" -"$proto" -time "$DURATION" \
        -www /plaintext 2>&1 || true)
    t1=$(ticks "${pid[$b]}")
    local hs r
    hs=$(echo "$out" | sed -n 's/^\([0-9]*\) connections in .*real seconds.*/\1/p' | tail -1)
    # progress: one character per connection, 'r' when it resumed
    r=$(echo "$out" | grep -E '^[r*]+$' | tr -d '\n' |
        awk '{ n = length($0); k = gsub(/r/, ""); printf "%.2f", n ? k / n : 0 }' || true)
    echo "$b $mode $proto ${hs:-0} $((t1 - t0)) ${r:-0}"
}

results=$(mktemp)
for round in $(seq "$ROUNDS"); do
    echo "round $round/$ROUNDS" >&2
    for b in $BACKENDS; do
        for proto in tls1_2 tls1_3; do
            for mode in new reuse; do
                run "$b" "$mode" "$proto" >>"$results"
            done
        done
    done
done

python3 - "$results" "$hz" <<'PY'
import statistics as st, sys
hz = int(sys.argv[2]); cells = {}
for line in open(sys.argv[1]):
    b, mode, proto, hs, ticks, reused = line.split()
    if int(hs) == 0:
        continue
    cells.setdefault((b, proto, mode), []).append((int(ticks) / hz * 1e6 / int(hs), float(reused), int(hs)))
print("| backend | protocol | handshake | server µs CPU per handshake (median, min-max) | handshakes per round | reused |")
print("|---|---|---|---|---|---|")
for (b, proto, mode), v in sorted(cells.items()):
    us = [x[0] for x in v]
    print(f"| {b} | {proto.replace('tls1_', 'TLS 1.')} | {'full (-new)' if mode == 'new' else 'resumed (-reuse)'} "
          f"| {st.median(us):.0f} ({min(us):.0f}-{max(us):.0f}) | {st.median(x[2] for x in v):.0f} "
          f"| {st.median(x[1] for x in v):.2f} |")
PY
rm -f "$results"
