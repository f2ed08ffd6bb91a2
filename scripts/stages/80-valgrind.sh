# Stage: valgrind memcheck (gcc, Debug, no sanitizers) over the integration
# tests, then the demo server under valgrind driven by curl and h1probe and
# stopped with SIGTERM (graceful stop + destroy checked): 0 errors and
# 0 bytes definitely lost everywhere. h1probe runs when ../shared/conformance
# (or HZ_CONFORMANCE_DIR) exists; its verdicts belong to the conformance
# test, here it only drives the server through its error paths.
#
# Criterion runs each test in a worker process, and a worker's valgrind
# errors never reach the runner's exit code. So every test runs through a
# wrapper (CMAKE_CROSSCOMPILING_EMULATOR, which ctest puts in front of each
# test's executable) that logs every process to its own file and fails the
# test when any of them reports an error. The counts go through hz_ctest.
# HZ_VALGRIND_TESTS: ctest -R regex of the integration tests to run. The
# default leaves out the suites that valgrind's 20-50x slowdown breaks
# (https: handshake deadlines; streaming: a 60 s backpressure transfer),
# stop (its EMFILE test lowers RLIMIT_NOFILE, and valgrind keeps descriptors
# of its own), http2 and h2file (their idle and write deadlines end streams
# at that speed) and the conformance run, which the demo part covers; the
# stress tests never run here. HTTP/2 runs as h2limits (every limit and
# attack) and as the demo's h2c, h2-over-TLS and h2load traffic; WebSocket
# as the demo's echo over ws:// and wss://. The demo then runs a second time built with
# the io_uring poller (HZ_POLLER=io_uring; only the demo is built).
# The demo of build dir $1 under valgrind (options $2): curl, h1probe (when
# ../shared is there), SIGTERM. 0 when it served, stopped and was clean.
vg_demo() {
    local dir=$1 vgopts=$2 log="$1/demo-valgrind.log" out="$1/demo.out" pid port="" tport bad=0
    rm -f "$log" "$out"
    # HTTPS on a port picked here (an ephemeral one is not printed); the
    # demo runs in its build dir, where it writes its self-signed pair.
    tport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    (cd "$dir" && exec valgrind $vgopts --error-exitcode=99 --log-file="$log" \
        "$dir/examples/demo" --addr 127.0.0.1 --port 0 --tls-port "$tport" --h2c --loops 2 \
        --quiet) >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do
        port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$out")
        [ -n "$port" ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "valgrind: the demo did not start"
        cat "$out" "$log"
        kill -TERM $pid 2>/dev/null
        wait $pid 2>/dev/null
        return 1
    fi
    curl -fsS "http://127.0.0.1:$port/" >/dev/null || bad=1
    curl -fsS -d 'hello valgrind' "http://127.0.0.1:$port/" >/dev/null || bad=1
    curl -fsS "http://127.0.0.1:$port/large" >/dev/null || bad=1
    curl -fsS "http://127.0.0.1:$port/slow?ms=50" >/dev/null || bad=1
    curl -fsS -T "$HZ_ROOT/README.md" "http://127.0.0.1:$port/echo" >/dev/null || bad=1
    curl -fsS -H 'Transfer-Encoding: chunked' -d 'chunked body' "http://127.0.0.1:$port/echo" \
        >/dev/null || bad=1
    curl -sS "http://127.0.0.1:$port/x" "http://127.0.0.1:$port/plaintext" >/dev/null # 404 + reuse
    # Forms decoded as they stream (examples/demo_forms.c): files, fields, a bad escape.
    curl -fsS -F a=1 -F "f=@$HZ_ROOT/README.md" -F "g=@$HZ_ROOT/LICENSE" \
        "http://127.0.0.1:$port/upload" >/dev/null || bad=1
    curl -fsS --data-urlencode 'q=a&b c' "http://127.0.0.1:$port/form" >/dev/null || bad=1
    curl -sS -d 'a=%G1' "http://127.0.0.1:$port/form" >/dev/null
    vg_demo_h2_ws "$port" "$tport" || bad=1
    local conf=${HZ_CONFORMANCE_DIR:-$HZ_ROOT/../shared/conformance}
    if [ -f "$conf/h1probe.py" ]; then
        python3 "$conf/h1probe.py" 127.0.0.1 "$port" --set public \
            --skip slow --timeout 5 --close-wait 5 >"$dir/h1probe.log" 2>&1
        tail -n 1 "$dir/h1probe.log"
    fi
    kill -TERM $pid
    wait $pid
    local drc=$?
    if [ $drc -ne 0 ] || ! grep -q "ERROR SUMMARY: 0 errors" "$log"; then
        echo "valgrind: demo exited with $drc"
        grep -E "ERROR SUMMARY|definitely lost" "$log"
        bad=1
    fi
    if [ $bad -ne 0 ]; then
        echo "valgrind: demo FAILED (log: $log)"
        return 1
    fi
    echo "valgrind: demo ok, $3 ($(grep -E 'ERROR SUMMARY' "$log" | head -1 | sed 's/^==[0-9]*== //'))"
}

# HTTP/2 (h2c with prior knowledge and h2 over TLS) and WebSocket traffic
# for the demo under valgrind: ports $1 (plain) and $2 (TLS). 0 when every
# exchange came back as sent.
vg_demo_h2_ws() {
    local port=$1 tport=$2 bad=0 v
    v=$(curl -fsS --http2-prior-knowledge -o /dev/null -w '%{http_version}' \
        "http://127.0.0.1:$port/large") && [ "$v" = 2 ] || bad=1
    [ "$(curl -fsS --http2-prior-knowledge -d 'hello h2' "http://127.0.0.1:$port/echo")" = \
        'hello h2' ] || bad=1
    curl -fsS --http2-prior-knowledge -T "$HZ_ROOT/README.md" "http://127.0.0.1:$port/echo" |
        cmp -s - "$HZ_ROOT/README.md" || bad=1
    # A 404 and a 200 as two streams of one connection (nghttp: curl 7.88
    # fails a second request on a reused prior-knowledge connection, to
    # h2o as well).
    if command -v nghttp >/dev/null; then
        nghttp -n "http://127.0.0.1:$port/x" "http://127.0.0.1:$port/plaintext" || bad=1
    fi
    v=$(curl -fsSk --http2 -o /dev/null -w '%{http_version}' "https://127.0.0.1:$tport/large") &&
        [ "$v" = 2 ] || bad=1
    if command -v h2load >/dev/null; then
        h2load -n 200 -c 4 -m 8 "http://127.0.0.1:$port/plaintext" 2>&1 |
            grep -q '200 succeeded' || bad=1
    fi
    # WebSocket echo over HTTP/1.1 and over TLS: a small, a 100 kB and a
    # binary message, then a normal close.
    local py=python3 # the Debian python3-websockets, where PATH has another python3
    "$py" -c 'import websockets' 2>/dev/null || py=/usr/bin/python3
    "$py" - "$port" "$tport" <<'PY' || bad=1
import asyncio, os, ssl, sys
import websockets

async def echo(url, **kw):
    async with websockets.connect(url, max_size=None, **kw) as ws:
        for msg in ("hello", "x" * 100000, os.urandom(3000)):
            await ws.send(msg)
            if await asyncio.wait_for(ws.recv(), 60) != msg:
                raise SystemExit("websocket echo differs at " + url)

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
asyncio.run(echo("ws://127.0.0.1:%s/ws/echo" % sys.argv[1]))
asyncio.run(echo("wss://127.0.0.1:%s/ws/echo" % sys.argv[2], ssl=ctx))
PY
    [ $bad -eq 0 ] || echo "valgrind: HTTP/2 or WebSocket traffic failed"
    return $bad
}

vg_opts="--tool=memcheck --trace-children=yes --leak-check=full \
--errors-for-leak-kinds=definite --show-leak-kinds=definite --num-callers=30"
# Only the selected tests' programs and the demo are built.
vg_sel=(-L integration -LE "stress|conformance"
    -R "${HZ_VALGRIND_TESTS:-integration_test_(allocfail|keepalive|limits|pipeline|exec|regress|timeouts|h2limits)}")
# The longest test: it runs beside the others (see stage_valgrind).
vg_long=integration_test_h2limits

# The build of both trees (hz_stage_prep: in the background while the stage
# before runs).
valgrind_prep() {
    local dir="$HZ_ROOT/build/valgrind"
    mkdir -p "$dir"
    # The wrapper is generated (build dir only): logs per process, one
    # verdict per test.
    cat >"$dir/vg-wrap.sh" <<EOF
#!/usr/bin/env bash
logs=\$(mktemp -d "$dir/vglogs/run.XXXXXX")
valgrind $vg_opts --log-file="\$logs/%p.log" "\$@"
rc=\$?
bad=\$(grep -l -E "ERROR SUMMARY: [1-9]" "\$logs"/*.log 2>/dev/null)
if [ -n "\$bad" ]; then
    cat \$bad
    echo "valgrind: errors reported (logs: \$logs)"
    exit 1
fi
rm -rf "\$logs"
exit \$rc
EOF
    chmod +x "$dir/vg-wrap.sh"
    CC=gcc hz_configure "$dir" -DCMAKE_BUILD_TYPE=Debug -DHZ_SANITIZE= -DHZ_BUILD_BENCH=OFF \
        -DCMAKE_CROSSCOMPILING_EMULATOR="$dir/vg-wrap.sh" &&
        hz_build_tests "$dir" "${vg_sel[@]}" && hz_build_targets "$dir" demo || return 1
    # The io_uring poller's demo too (its own Debug build, only the demo):
    # the backend caps its waits under valgrind so the stop signal arrives
    # (backends/poll-io-uring, UR_VALGRIND_WAIT_MS). Its status goes to
    # valgrind-io-uring.rc: its failure fails only the io_uring demo.
    local udir="$HZ_ROOT/build/valgrind-io-uring"
    rm -f "$udir.rc"
    if [ -f /usr/include/liburing.h ]; then
        hz_same_generator "$udir"
        mkdir -p "$udir"
        CC=gcc cmake -S "$HZ_ROOT" -B "$udir" -DHZ_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
            -DHZ_SANITIZE= -DHZ_BUILD_BENCH=OFF -DHZ_POLLER=io_uring >"$udir.configure.log" 2>&1 &&
            cmake --build "$udir" -j"$HZ_JOBS" --target demo >"$udir.build.log" 2>&1
        echo $? >"$udir.rc"
    fi
}

stage_valgrind() {
    local dir="$HZ_ROOT/build/valgrind" rc=0
    hz_prep valgrind valgrind_prep || {
        hz_count 0 1
        return 1
    }
    rm -rf "$dir/vglogs"
    mkdir -p "$dir/vglogs"
    local udir="" urc=0
    if [ -f "$HZ_ROOT/build/valgrind-io-uring.rc" ]; then
        udir="$HZ_ROOT/build/valgrind-io-uring"
        urc=$(cat "$udir.rc")
    fi

    # valgrind runs a process's threads one at a time, on one core. The
    # longest test (h2limits, ~100 s) runs in a ctest of its own beside the
    # other tests, which run one at a time (~85 s), and then beside the
    # demos: the two cores stay busy with no more valgrinds than cores.
    # The tests' time limits are three times their usual ones here
    # (tests/CMakeLists.txt, CMAKE_CROSSCOMPILING_EMULATOR).
    local llog="$dir/ctest-long.log" lpid="" lrc=0
    # (grep reads all: with -q, ctest could die of SIGPIPE, and pipefail
    # would then say "not selected".)
    if (cd "$dir" && ctest --show-only "${vg_sel[@]}") | grep " $vg_long\$" >/dev/null; then
        (cd "$dir" && ctest --output-on-failure "${vg_sel[@]}" -R "^$vg_long\$") >"$llog" 2>&1 &
        lpid=$!
        HZ_JOBS=1 hz_ctest "$dir" "${vg_sel[@]}" -E "^$vg_long\$" || rc=1
    else
        hz_ctest "$dir" "${vg_sel[@]}" || rc=1
    fi

    # The two demos run at the same time: valgrind runs each one's threads
    # one at a time, on one core, and h1probe spends most of its run
    # waiting, so one after the other they left the other core idle.
    vg_demo "$dir" "$vg_opts" epoll >"$dir/demo-stage.log" 2>&1 &
    local epid=$! upid=""
    if [ -n "$udir" ] && [ "$urc" -eq 0 ]; then
        vg_demo "$udir" "$vg_opts" io_uring >"$udir/demo-stage.log" 2>&1 &
        upid=$!
    fi
    if [ -n "$lpid" ]; then
        wait "$lpid" || lrc=$?
        echo "--- $vg_long, run beside those above:"
        cat "$llog"
        hz_ctest_counts "$llog" "$lrc"
        [ "$lrc" -eq 0 ] || rc=1
    fi
    if wait $epid; then hz_count 1 0; else
        hz_count 0 1
        rc=1
    fi
    cat "$dir/demo-stage.log"
    if [ -n "$udir" ]; then
        if [ -n "$upid" ] && wait "$upid"; then
            cat "$udir/demo-stage.log"
            hz_count 1 0
        else
            [ -n "$upid" ] && cat "$udir/demo-stage.log"
            echo "valgrind: io_uring demo FAILED (logs: $udir.*.log, $udir/demo-valgrind.log)"
            hz_count 0 1
            rc=1
        fi
    fi
    return $rc
}
hz_stage_prep valgrind valgrind_prep
hz_stage valgrind stage_valgrind
