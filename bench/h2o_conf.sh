# bench/h2o_conf.sh - sourced by the HTTP/2 benches that run h2o beside the
# demo: h2o_conf WORK TLS_PORT PORT [USER] writes WORK/h2o.conf for one
# thread, with WORK/cert.pem and WORK/key.pem on TLS_PORT, prior knowledge
# on PORT, /plaintext = WORK/plain.txt ("Hello, World!", written here) and
# /static = WORK/docs. ocsp-update-interval 0: no OCSP fetcher (a perl
# child of h2o, counted as its CPU; there is no network here anyway).
h2o_conf() {
    local work=$1 tls_port=$2 port=$3 user=${4:-}
    printf 'Hello, World!' > "$work/plain.txt"
    {
        [ -z "$user" ] || echo "user: $user"
        cat <<H2
num-threads: 1
listen: {port: $tls_port, host: 127.0.0.1, ssl: {certificate-file: $work/cert.pem, key-file: $work/key.pem, ocsp-update-interval: 0}}
listen: {port: $port, host: 127.0.0.1}
hosts:
  default:
    paths:
      /plaintext: {file.file: $work/plain.txt}
      /static: {file.dir: $work/docs}
H2
    } > "$work/h2o.conf"
}
