# scripts/deps.sh - sourced by demo.sh and test.sh: makes sure the Debian
# packages a command needs are installed, installing the missing ones on
# Debian/Ubuntu (as root) and printing what to install elsewhere.
# usage: hz_need_packages pkg...
hz_need_packages() {
    local missing=() p
    if command -v dpkg-query >/dev/null 2>&1; then
        for p in "$@"; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
                missing+=("$p")
        done
    else
        echo "httpz: this is not a Debian-based system. Install the equivalents of:" >&2
        echo "  $*" >&2
        echo "  (cmake >= 3.25, a C11 compiler, Criterion, mbedTLS >= 2.28, OpenSSL >= 3, clang, python3, curl)" >&2
        return 0
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "httpz: missing Debian packages: ${missing[*]}" >&2
        echo "httpz: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
        return 1
    fi
    echo "httpz: installing missing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q "${missing[@]}" >/tmp/httpz-apt.log 2>&1; then
        apt-get update -q >>/tmp/httpz-apt.log 2>&1
        apt-get install -y -q "${missing[@]}" >>/tmp/httpz-apt.log 2>&1 || {
            echo "httpz: apt-get install failed; see /tmp/httpz-apt.log" >&2
            tail -20 /tmp/httpz-apt.log >&2
            return 1
        }
    fi
}
