#!/usr/bin/env bash
# curl_compressed.sh DEMO - the curl command line against the demo's static
# files (examples/demo.c serves --root under /static/): `curl --compressed`
# gets a compressed body (br when curl has brotli, else gzip) and decodes it
# to the file's bytes; with only gzip accepted the raw body gunzips to them;
# HEAD has the same Content-Encoding and Vary. Exit 77 (skipped) without curl.
set -u
demo=$1
command -v curl >/dev/null || { echo "curl missing: skipped"; exit 77; }
command -v gunzip >/dev/null || { echo "gunzip missing: skipped"; exit 77; }
tmp=$(mktemp -d)
log=$tmp/log
mkdir "$tmp/root"
# a compressible file, no precompressed sibling: compressed on the fly
for i in $(seq 1 400); do echo "line $i: the quick brown fox jumps over the lazy dog"; done >"$tmp/root/f.txt"
"$demo" --addr 127.0.0.1 --port 0 --loops 1 --tls-port 0 --quiet --root "$tmp/root" >"$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$log")
    [ -n "$port" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
[ -n "$port" ] || { echo "demo did not start:"; cat "$log"; exit 1; }
url=http://127.0.0.1:$port/static/f.txt
fail=0
want=gzip
curl -V | grep -qi brotli && want=br
curl -sS --max-time 20 --compressed -D "$tmp/h1" -o "$tmp/b1" "$url" || fail=1
grep -qi "^content-encoding: $want" "$tmp/h1" || { echo "--compressed: no $want"; cat "$tmp/h1"; fail=1; }
grep -qi "^vary: accept-encoding" "$tmp/h1" || { echo "--compressed: no Vary"; fail=1; }
cmp -s "$tmp/b1" "$tmp/root/f.txt" || { echo "--compressed: decoded bytes differ"; fail=1; }
curl -sS --max-time 20 -H 'Accept-Encoding: gzip' -o "$tmp/b2.gz" "$url" || fail=1
gunzip -c "$tmp/b2.gz" >"$tmp/b2" 2>/dev/null || { echo "gzip: not a gzip body"; fail=1; }
cmp -s "$tmp/b2" "$tmp/root/f.txt" || { echo "gzip: bytes differ"; fail=1; }
curl -sS --max-time 20 -I --compressed "$url" >"$tmp/h3" || fail=1
grep -qi "^content-encoding: $want" "$tmp/h3" || { echo "HEAD: no $want"; cat "$tmp/h3"; fail=1; }
curl -sS --max-time 20 -o "$tmp/b4" -D "$tmp/h4" "$url" || fail=1
grep -qi "^content-encoding" "$tmp/h4" && { echo "identity request got a coding"; fail=1; }
cmp -s "$tmp/b4" "$tmp/root/f.txt" || { echo "identity: bytes differ"; fail=1; }
[ $fail = 0 ] && echo "curl --compressed: ok ($want)"
exit $fail
