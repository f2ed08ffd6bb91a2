/* test_tls_clients.c - HTTPS against real clients: the curl and openssl
 * command-line tools and a raw OpenSSL client written here, against an
 * in-process server (and the demo binary). Certificates come from
 * examples/selfsigned.c, so the demo's generator is checked by the same
 * clients. A test whose tool is missing is skipped. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>
#include "itest.h"
#include "selfsigned.h"

#if HZ_HAVE_TLS
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static char g_dir[64];

static const char *path_of(const char *name, const char *ext)
{
    static char bufs[8][128];
    static int k;
    char *b = bufs[k++ & 7];
    snprintf(b, 128, "%s/%s.%s", g_dir, name, ext);
    return b;
}

static void mkcert(const char *name, const char *host)
{
    char err[256];
    cr_assert_eq(
        selfsigned_write(path_of(name, "crt"), path_of(name, "key"), host, 2, err, sizeof(err)), 0,
        "selfsigned: %s", err);
}

static int have_tool(const char *name)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

static void need_tools(void)
{
    if (!have_tool("curl") || !have_tool("openssl") || !have_tool("timeout"))
        cr_skip_test("curl, openssl or timeout not installed");
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(g_dir, sizeof(g_dir), "/tmp/hz-tlsc-XXXXXX");
    cr_assert(mkdtemp(g_dir));
    mkcert("a", "localhost");
    mkcert("a2", "localhost"); /* same name, another key: the reload target */
    mkcert("b", "b.test");
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    (void)system(cmd);
}

/* ------------------------------------------------------------------------ */
/* The server                                                                */
/* ------------------------------------------------------------------------ */

static void hello(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    hz_res_send(res, 200, "hello", 5);
}

static void echo(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_str b = hz_req_body(req);
    hz_res_send(res, 200, b.ptr, b.len);
}

/* GET /path/:x answers x: the order of pipelined answers shows. */
static void path(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_str x = hz_req_param(req, "x");
    hz_res_send(res, 200, x.ptr, x.len);
}

/* GET /stream?kb=N: N KiB of byte i % 251, chunked, with backpressure. */
typedef struct stream_st {
    size_t off, len;
} stream_st;

static void stream_pump(hz_res *res, void *ud)
{
    stream_st *st = ud;
    char blk[8192];
    while (st->off < st->len) {
        size_t n = st->len - st->off < sizeof(blk) ? st->len - st->off : sizeof(blk);
        for (size_t i = 0; i < n; i++)
            blk[i] = (char)((st->off + i) % 251);
        int rc = hz_res_write(res, blk, n);
        if (rc < 0)
            return; /* HZ_EAGAIN: pumped again on drain */
        st->off += n;
    }
    hz_res_end(res);
}

static void stream_done(hz_res *res, int status, void *ud)
{
    (void)res;
    (void)status;
    free(ud);
}

static void stream(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_str q = hz_req_query(req);
    stream_st *st = calloc(1, sizeof(*st));
    st->len = (size_t)(q.len > 3 ? atol(q.ptr + 3) : 64) << 10;
    hz_res_on_done(res, stream_done, st);
    hz_res_on_drain(res, stream_pump, st);
    hz_res_start(res, 200);
    stream_pump(res, st);
}

typedef struct tsrv {
    hz_server *srv;
    int tls_idx, port, plain_port;
} tsrv;

/* certs[0] = a (localhost), certs[1] = b for SNI "b.test". */
static hz_tls_config tls_conf(const char *first)
{
    hz_tls_config t;
    hz_tls_config_init(&t);
    t.certs[0].cert_file = path_of(first, "crt");
    t.certs[0].key_file = path_of(first, "key");
    t.certs[1].cert_file = path_of("b", "crt");
    t.certs[1].key_file = path_of("b", "key");
    t.certs[1].sni_host = "b.test";
    t.ncerts = 2;
    return t;
}

static void start(tsrv *s, uint32_t handshake_ms)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    if (handshake_ms)
        cfg.timeouts.tls_handshake = handshake_ms;
    cr_assert_eq(hz_server_create(&s->srv, &cfg), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/hello", hello, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "POST", "/echo", echo, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/path/:x", path, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/stream", stream, NULL), 0);
    hz_tls_config t = tls_conf("a");
    s->tls_idx = hz_server_listen(s->srv, "127.0.0.1", 0, &t);
    cr_assert(s->tls_idx >= 0, "listen: %d", s->tls_idx);
    s->port = hz_server_port(s->srv, s->tls_idx);
    int pi = hz_server_listen(s->srv, "127.0.0.1", 0, NULL);
    cr_assert(pi >= 0);
    s->plain_port = hz_server_port(s->srv, pi);
    cr_assert_eq(hz_server_start(s->srv), 0);
}

static void stop(tsrv *s)
{
    hz_server_stop(s->srv, 1000);
    hz_server_wait(s->srv);
    hz_server_destroy(s->srv);
}

static hz_metrics metrics(const tsrv *s)
{
    hz_metrics m;
    cr_assert_eq(hz_server_metrics(s->srv, &m), 0);
    return m;
}

static uint64_t parse_errors(const hz_metrics *m)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < HZ_METRICS_PARSE_KINDS; i++)
        n += m->parse_errors[i];
    return n;
}

/* Counters move on the loop thread just before the client sees the close;
 * wait (bounded) until want(m) holds. */
static int metrics_until(const tsrv *s, int (*want)(const hz_metrics *, const void *),
                         const void *arg)
{
    long long until = it_now_ms() + 3000;
    for (;;) {
        hz_metrics m = metrics(s);
        if (want(&m, arg))
            return 1;
        if (it_now_ms() > until)
            return 0;
        poll(NULL, 0, 5);
    }
}

/* A curl command prefix trusting ca and resolving localhost and b.test to
 * 127.0.0.1 on port. */
static const char *curl_base(const char *ca, int port)
{
    static char b[512];
    snprintf(b, sizeof(b),
             "timeout 30 curl -sS --http1.1 --max-time 20 --cacert %s "
             "--resolve localhost:%d:127.0.0.1 --resolve b.test:%d:127.0.0.1",
             ca, port, port);
    return b;
}

/* ------------------------------------------------------------------------ */
/* A raw TLS client (OpenSSL, blocking with socket timeouts)                 */
/* ------------------------------------------------------------------------ */

typedef struct tc {
    it_conn c;
    SSL_CTX *ctx;
    SSL *ssl;
    char buf[65536];
    size_t len;
} tc;

static int tc_open(tc *t, int port, const char *sni, const char *ca)
{
    memset(t, 0, sizeof(*t));
    if (it_connect(&t->c, port) < 0)
        return -1;
    struct timeval tv = {5, 0};
    setsockopt(t->c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(t->c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    t->ctx = SSL_CTX_new(TLS_client_method());
    cr_assert(t->ctx);
    cr_assert_eq(SSL_CTX_load_verify_locations(t->ctx, ca, NULL), 1);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_alpn_protos(t->ctx, (const unsigned char *)"\x08http/1.1", 9);
    t->ssl = SSL_new(t->ctx);
    SSL_set_fd(t->ssl, t->c.fd);
    SSL_set_tlsext_host_name(t->ssl, sni);
    SSL_set1_host(t->ssl, sni);
    return SSL_connect(t->ssl) == 1 ? 0 : -1;
}

static void tc_close(tc *t)
{
    if (t->ssl)
        SSL_free(t->ssl);
    if (t->ctx)
        SSL_CTX_free(t->ctx);
    it_close(&t->c);
}

static void tc_write(tc *t, const char *s)
{
    cr_assert_eq(SSL_write(t->ssl, s, (int)strlen(s)), (int)strlen(s));
}

/* Reads until n complete responses (each with Content-Length) are buffered;
 * bodies[i] (cap 64) gets each body. 0, or -1 on close/timeout/garbage. */
static int tc_responses(tc *t, int n, char bodies[][64])
{
    int got = 0;
    size_t pos = 0;
    while (got < n) {
        char *end = NULL;
        if (t->len > pos) {
            t->buf[t->len] = '\0';
            end = strstr(t->buf + pos, "\r\n\r\n");
        }
        if (end) {
            if (strncmp(t->buf + pos, "HTTP/1.1 200 ", 13) != 0)
                return -1;
            char *cl = strstr(t->buf + pos, "Content-Length: ");
            if (!cl || cl > end)
                return -1;
            size_t blen = (size_t)atol(cl + 16), bstart = (size_t)(end + 4 - t->buf);
            if (t->len >= bstart + blen) {
                size_t k = blen < 63 ? blen : 63;
                memcpy(bodies[got], t->buf + bstart, k);
                bodies[got][k] = '\0';
                got++;
                pos = bstart + blen;
                continue;
            }
        }
        if (t->len + 1 >= sizeof(t->buf))
            return -1;
        int r = SSL_read(t->ssl, t->buf + t->len, (int)(sizeof(t->buf) - t->len - 1));
        if (r <= 0)
            return -1;
        t->len += (size_t)r;
    }
    memmove(t->buf, t->buf + pos, t->len - pos);
    t->len -= pos;
    return 0;
}

static X509 *load_cert(const char *file)
{
    FILE *f = fopen(file, "r");
    cr_assert(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert(x);
    return x;
}

TestSuite(tls_clients, .init = setup, .fini = teardown, .timeout = 120);

/* ------------------------------------------------------------------------ */
/* curl                                                                      */
/* ------------------------------------------------------------------------ */

Test(tls_clients, curl_keepalive_stream_and_post)
{
    need_tools();
    tsrv s;
    start(&s, 0);
    const char *ca = path_of("a", "crt");
    char *out;
    /* Two URLs in one curl run: the second reuses the TLS connection. */
    int rc =
        it_run(&out,
               "%s -w 'n=%%{num_connects} code=%%{http_code} ssl=%%{ssl_verify_result}\\n' "
               "-o /dev/null https://localhost:%d/hello -o /dev/null https://localhost:%d/hello",
               curl_base(ca, s.port), s.port, s.port);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "n=1 code=200 ssl=0\nn=0 code=200 ssl=0\n"), "%s", out);
    free(out);
    /* The IP address SAN verifies too. */
    rc = it_run(&out, "%s https://127.0.0.1:%d/hello", curl_base(ca, s.port), s.port);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_str_eq(out, "hello");
    free(out);

    /* 8 MiB streamed (chunked) through TLS records and backpressure. */
    rc = it_run(&out, "%s -D %s/h.txt -o %s/big.bin 'https://localhost:%d/stream?kb=8192'",
                curl_base(ca, s.port), g_dir, g_dir, s.port);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = it_run(&out, "grep -ci '^transfer-encoding: chunked' %s/h.txt", g_dir);
    cr_assert_eq(rc, 0, "not chunked");
    free(out);
    char p[128];
    snprintf(p, sizeof(p), "%s/big.bin", g_dir);
    FILE *f = fopen(p, "rb");
    cr_assert(f);
    size_t n = 0;
    int c, bad = 0;
    while ((c = fgetc(f)) != EOF) {
        if (c != (int)(n % 251))
            bad++;
        n++;
    }
    fclose(f);
    cr_assert_eq(n, (size_t)8192 << 10);
    cr_assert_eq(bad, 0);

    /* POST: 600 KiB echoed byte for byte. */
    snprintf(p, sizeof(p), "%s/post.bin", g_dir);
    f = fopen(p, "wb");
    cr_assert(f);
    for (size_t i = 0; i < (600u << 10); i++)
        fputc((int)((i * 31 + 7) & 0xff), f);
    fclose(f);
    rc = it_run(&out,
                "%s -H 'Content-Type: application/octet-stream' --data-binary @%s -o %s/back.bin "
                "https://localhost:%d/echo && cmp %s %s/back.bin",
                curl_base(ca, s.port), p, g_dir, s.port, p, g_dir);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);

    /* A client that does not trust the certificate fails (curl exit 60). */
    rc = it_run(&out, "%s https://localhost:%d/hello", curl_base(path_of("b", "crt"), s.port),
                s.port);
    cr_assert_eq(rc, 60, "%s", out);
    free(out);
    stop(&s);
}

/* ------------------------------------------------------------------------ */
/* openssl s_client: ALPN, SNI                                               */
/* ------------------------------------------------------------------------ */

static int s_client(char **out, int port, const char *alpn, const char *sni, const char *ca)
{
    return it_run(out,
                  "timeout 20 openssl s_client -connect 127.0.0.1:%d -alpn %s -servername %s "
                  "-CAfile %s -verify_return_error </dev/null",
                  port, alpn, sni, ca);
}

static int failed_grew(const hz_metrics *m, const void *arg)
{
    return m->tls_handshakes_failed > *(const uint64_t *)arg;
}

Test(tls_clients, s_client_alpn_and_sni)
{
    need_tools();
    tsrv s;
    start(&s, 0);
    char *out;
    /* SNI b.test: the second certificate; ALPN http/1.1 selected. */
    int rc = s_client(&out, s.port, "http/1.1", "b.test", path_of("b", "crt"));
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "ALPN protocol: http/1.1"), "%s", out);
    cr_assert(strstr(out, "subject=CN = b.test"), "%s", out);
    cr_assert(strstr(out, "Verify return code: 0 (ok)"), "%s", out);
    free(out);
    /* SNI localhost (unknown to the SNI table): the default certificate. */
    /* Built with HTTP/2, the listener offers h2 first (docs/http2.md). */
    rc = s_client(&out, s.port, "h2,http/1.1", "localhost", path_of("a", "crt"));
    cr_assert_eq(rc, 0, "%s", out);
    if (HZ_HAVE_HTTP2)
        cr_assert(strstr(out, "ALPN protocol: h2"), "h2 is preferred: %s", out);
    else
        cr_assert(strstr(out, "ALPN protocol: http/1.1"), "h2 is never picked: %s", out);
    cr_assert(strstr(out, "subject=CN = localhost"), "%s", out);
    free(out);
    /* A client that speaks only a protocol the listener does not (h2
     * without HTTP/2, spdy/3.1 with it) is refused (RFC 7301 3.2), and
     * counted. */
    const char *other = HZ_HAVE_HTTP2 ? "spdy/3.1" : "h2";
    uint64_t failed = metrics(&s).tls_handshakes_failed;
    rc = s_client(&out, s.port, other, "localhost", path_of("a", "crt"));
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert_neq(rc, 124, "s_client hung");
    cr_assert_null(strstr(out, "ALPN protocol: "), "%s", out);
    cr_assert(strstr(out, "no application protocol") || strstr(out, "alert number 120"), "%s", out);
    free(out);
    cr_assert(metrics_until(&s, failed_grew, &failed), "handshake failure counted");
    stop(&s);
}

/* ------------------------------------------------------------------------ */
/* Raw TLS client: pipelining, reload, bad records                           */
/* ------------------------------------------------------------------------ */

Test(tls_clients, pipelined_requests_in_one_record)
{
    tsrv s;
    start(&s, 0);
    tc t;
    cr_assert_eq(tc_open(&t, s.port, "localhost", path_of("a", "crt")), 0);
    const unsigned char *alpn;
    unsigned alen;
    SSL_get0_alpn_selected(t.ssl, &alpn, &alen);
    cr_assert(alen == 8 && !memcmp(alpn, "http/1.1", 8));
    /* Three requests in one SSL_write: one TLS record. */
    tc_write(&t, "GET /path/one HTTP/1.1\r\nHost: localhost\r\n\r\n"
                 "GET /path/two HTTP/1.1\r\nHost: localhost\r\n\r\n"
                 "GET /path/three HTTP/1.1\r\nHost: localhost\r\n\r\n");
    char b[3][64];
    cr_assert_eq(tc_responses(&t, 3, b), 0);
    cr_assert_str_eq(b[0], "one");
    cr_assert_str_eq(b[1], "two");
    cr_assert_str_eq(b[2], "three");
    /* The connection lives on. */
    tc_write(&t, "GET /path/four HTTP/1.1\r\nHost: localhost\r\n\r\n");
    cr_assert_eq(tc_responses(&t, 1, b), 0);
    cr_assert_str_eq(b[0], "four");
    tc_close(&t);
    stop(&s);
}

Test(tls_clients, reload_on_live_server)
{
    need_tools();
    tsrv s;
    start(&s, 0);
    tc old;
    cr_assert_eq(tc_open(&old, s.port, "localhost", path_of("a", "crt")), 0);
    char b[1][64];
    tc_write(&old, "GET /path/before HTTP/1.1\r\nHost: localhost\r\n\r\n");
    cr_assert_eq(tc_responses(&old, 1, b), 0);

    hz_tls_config t2 = tls_conf("a2");
    cr_assert_eq(hz_server_tls_reload(s.srv, s.tls_idx, &t2), 0);

    /* New handshakes: the new certificate (curl trusting only it works,
     * trusting only the old one fails verification). */
    char *out;
    int rc = it_run(&out, "%s https://localhost:%d/hello", curl_base(path_of("a2", "crt"), s.port),
                    s.port);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_str_eq(out, "hello");
    free(out);
    rc = it_run(&out, "%s https://localhost:%d/hello", curl_base(path_of("a", "crt"), s.port),
                s.port);
    cr_assert_eq(rc, 60, "%s", out);
    free(out);
    /* SNI entries were replaced too: b.test still answers with its own. */
    rc = s_client(&out, s.port, "http/1.1", "b.test", path_of("b", "crt"));
    cr_assert_eq(rc, 0, "%s", out);
    free(out);

    /* The old connection keeps working, still on the old certificate. */
    tc_write(&old, "GET /path/after HTTP/1.1\r\nHost: localhost\r\n\r\n");
    cr_assert_eq(tc_responses(&old, 1, b), 0);
    cr_assert_str_eq(b[0], "after");
    X509 *peer = SSL_get1_peer_certificate(old.ssl);
    X509 *a = load_cert(path_of("a", "crt"));
    cr_assert_eq(X509_cmp(peer, a), 0);
    X509_free(a);
    X509_free(peer);
    tc_close(&old);
    stop(&s);
}

static int error_closes_grew(const hz_metrics *m, const void *arg)
{
    return m->conn_closed[HZ_CLOSE_ERROR] > *(const uint64_t *)arg;
}

Test(tls_clients, bad_records_close_the_connection_only)
{
    tsrv s;
    start(&s, 0);
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } garbage[] = {
        /* An application-data record whose MAC cannot verify. */
        {"bad MAC",
         "\x17\x03\x03\x00\x20"
         "0123456789abcdef0123456789abcdef",
         37},
        /* A record type that does not exist. */
        {"bad type", "\x63\x03\x03\x00\x04wxyz", 9},
        /* Not a record at all. */
        {"text", "GET / HTTP/1.1\r\n\r\n", 18},
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        tc t;
        cr_assert_eq(tc_open(&t, s.port, "localhost", path_of("a", "crt")), 0);
        char b[1][64];
        tc_write(&t, "GET /path/ok HTTP/1.1\r\nHost: localhost\r\n\r\n");
        cr_assert_eq(tc_responses(&t, 1, b), 0);
        uint64_t errs = metrics(&s).conn_closed[HZ_CLOSE_ERROR];
        /* Straight onto the socket, past the TLS layer. */
        cr_assert_eq(send(t.c.fd, garbage[i].bytes, garbage[i].len, 0), (ssize_t)garbage[i].len);
        cr_assert_eq(it_wait_closed(&t.c, 3000), 1, "%s: closed", garbage[i].what);
        cr_assert(metrics_until(&s, error_closes_grew, &errs), "%s: counted as an error",
                  garbage[i].what);
        tc_close(&t);
    }
    /* The server serves on. */
    tc t;
    cr_assert_eq(tc_open(&t, s.port, "localhost", path_of("a", "crt")), 0);
    char b[1][64];
    tc_write(&t, "GET /path/alive HTTP/1.1\r\nHost: localhost\r\n\r\n");
    cr_assert_eq(tc_responses(&t, 1, b), 0);
    cr_assert_str_eq(b[0], "alive");
    tc_close(&t);
    stop(&s);
}

/* ------------------------------------------------------------------------ */
/* Handshake timeout, cross-protocol                                         */
/* ------------------------------------------------------------------------ */

static int timeouts_reached(const hz_metrics *m, const void *arg)
{
    return m->timeouts[HZ_TIMEOUT_HANDSHAKE] >= *(const uint64_t *)arg;
}

Test(tls_clients, handshake_timeout)
{
    tsrv s;
    start(&s, 300);
    uint64_t before = metrics(&s).timeouts[HZ_TIMEOUT_HANDSHAKE];
    /* Silent; half a ClientHello (header says 512 bytes, 4 sent). */
    static const char half[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc";
    for (int partial = 0; partial < 2; partial++) {
        it_conn c;
        cr_assert_eq(it_connect(&c, s.port), 0);
        if (partial)
            cr_assert_eq(it_send(&c, half, sizeof(half) - 1), 0);
        long long t0 = it_now_ms();
        cr_assert_eq(it_wait_closed(&c, 5000), 1);
        long long dt = it_now_ms() - t0;
        cr_assert(dt >= 250 && dt < 3000, "closed after %lld ms (timeout 300)", dt);
        it_close(&c);
    }
    uint64_t want = before + 2;
    cr_assert(metrics_until(&s, timeouts_reached, &want), "two handshake timeouts counted");
    cr_assert_eq(metrics(&s).timeouts[HZ_TIMEOUT_HANDSHAKE], before + 2);
    /* A client that does its handshake in time is served. */
    tc t;
    cr_assert_eq(tc_open(&t, s.port, "localhost", path_of("a", "crt")), 0);
    char b[1][64];
    tc_write(&t, "GET /path/x HTTP/1.1\r\nHost: localhost\r\n\r\n");
    cr_assert_eq(tc_responses(&t, 1, b), 0);
    tc_close(&t);
    stop(&s);
}

static int bad_request_counted(const hz_metrics *m, const void *arg)
{
    const hz_metrics *b = arg;
    return m->status_class[3] > b->status_class[3] && parse_errors(m) > parse_errors(b);
}

Test(tls_clients, wrong_protocol_on_each_port)
{
    need_tools();
    tsrv s;
    start(&s, 0);
    /* Plain HTTP to the TLS port: a plain 400, closed, a failed handshake. */
    uint64_t failed = metrics(&s).tls_handshakes_failed;
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    it_sends(&c, "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n");
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    cr_assert_eq(r.status, 400, "a plain-text 400 on the TLS port");
    cr_assert(r.conn_close);
    it_resp_free(&r);
    cr_assert_eq(it_wait_closed(&c, 3000), 1);
    it_close(&c);
    cr_assert(metrics_until(&s, failed_grew, &failed));

    /* A ClientHello to the plain port: 400 and closed, s_client does not hang. */
    hz_metrics before = metrics(&s);
    char *out;
    long long t0 = it_now_ms();
    int rc = it_run(&out,
                    "timeout 20 openssl s_client -connect 127.0.0.1:%d -servername localhost "
                    "</dev/null",
                    s.plain_port);
    cr_assert_neq(rc, 0, "%s", out);
    cr_assert_neq(rc, 124, "s_client hung");
    cr_assert(it_now_ms() - t0 < 10000);
    free(out);
    cr_assert(metrics_until(&s, bad_request_counted, &before), "400 and a parse error counted");

    /* Both ports still serve. */
    rc = it_run(&out, "%s https://localhost:%d/hello http://127.0.0.1:%d/hello",
                curl_base(path_of("a", "crt"), s.port), s.port, s.plain_port);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_str_eq(out, "hellohello");
    free(out);
    stop(&s);
}

/* ------------------------------------------------------------------------ */
/* Session resumption (tickets)                                              */
/* ------------------------------------------------------------------------ */

/* One s_client connection at version ver ("-tls1_2"/"-tls1_3") that sends a
 * request with Connection: close and reads to the end, so a TLS 1.3
 * NewSessionTicket (sent after the handshake) is read too. Saves the session
 * to sess_out when given, offers sess_in when given. Returns 1 for "Reused",
 * 0 for "New"; asserts the response arrived. */
static int s_resume(int port, const char *ver, const char *sess_in, const char *sess_out)
{
    char *out;
    int rc = it_run(
        &out,
        "printf 'GET /hello HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' "
        "| timeout 20 openssl s_client -connect 127.0.0.1:%d -servername localhost %s "
        "-CAfile %s -verify_return_error -ign_eof %s %s %s %s",
        port, ver, path_of("a", "crt"), sess_in ? "-sess_in" : "", sess_in ? sess_in : "",
        sess_out ? "-sess_out" : "", sess_out ? sess_out : "");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "\r\n\r\nhello"), "no response: %s", out);
    int reused = strstr(out, "\nReused, ") != NULL;
    cr_assert(reused || strstr(out, "\nNew, "), "%s", out);
    free(out);
    return reused;
}

/* The versions the backend speaks, as s_client flags. */
static const char *const *versions(void)
{
    static const char *const both[] = {"-tls1_2", "-tls1_3", NULL};
    static const char *const v12[] = {"-tls1_2", NULL};
    return (hz_tls_default->caps & HZ_TLS_CAP_TLS13) ? both : v12;
}

static void need_tickets(void)
{
    need_tools();
    if (!(hz_tls_default->caps & HZ_TLS_CAP_TICKETS))
        cr_skip_test("the TLS backend has no session tickets");
}

Test(tls_clients, session_tickets_resume)
{
    need_tickets();
    tsrv s;
    start(&s, 0);
    char sess[128];
    snprintf(sess, sizeof(sess), "%s", path_of("sess", "pem"));
    for (const char *const *v = versions(); *v; v++) {
        cr_assert_eq(s_resume(s.port, *v, NULL, sess), 0, "%s: first is a full handshake", *v);
        cr_assert_eq(s_resume(s.port, *v, sess, NULL), 1, "%s: the ticket resumes", *v);
        cr_assert_eq(s_resume(s.port, *v, sess, NULL), 1, "%s: and again", *v);
    }
    stop(&s);
}

/* A reload starts new ticket keys: a ticket issued before it falls back to a
 * full handshake (never an error), and the new tickets resume. A reload can
 * also turn tickets off, and on again. */
Test(tls_clients, session_tickets_and_reload)
{
    need_tickets();
    tsrv s;
    start(&s, 0);
    char old[128], fresh[128]; /* path_of's buffers are reused */
    snprintf(old, sizeof(old), "%s", path_of("old", "pem"));
    snprintf(fresh, sizeof(fresh), "%s", path_of("fresh", "pem"));
    for (const char *const *v = versions(); *v; v++) {
        cr_assert_eq(s_resume(s.port, *v, NULL, old), 0);
        cr_assert_eq(s_resume(s.port, *v, old, NULL), 1, "%s", *v);
        hz_tls_config t = tls_conf("a"); /* the same certificates: only the keys are new */
        cr_assert_eq(hz_server_tls_reload(s.srv, s.tls_idx, &t), 0);
        cr_assert_eq(s_resume(s.port, *v, old, fresh), 0, "%s: old ticket refused", *v);
        cr_assert_eq(s_resume(s.port, *v, fresh, NULL), 1, "%s: new ticket resumes", *v);

        t.no_tickets = 1;
        cr_assert_eq(hz_server_tls_reload(s.srv, s.tls_idx, &t), 0);
        cr_assert_eq(s_resume(s.port, *v, NULL, old), 0);
        cr_assert_eq(s_resume(s.port, *v, old, NULL), 0, "%s: tickets off", *v);
        cr_assert_eq(s_resume(s.port, *v, fresh, NULL), 0, "%s: tickets off", *v);

        t.no_tickets = 0;
        cr_assert_eq(hz_server_tls_reload(s.srv, s.tls_idx, &t), 0);
        cr_assert_eq(s_resume(s.port, *v, NULL, fresh), 0);
        cr_assert_eq(s_resume(s.port, *v, fresh, NULL), 1, "%s: tickets on again", *v);
    }
    /* The lifetime is bounded by RFC 8446's seven days. */
    hz_tls_config t = tls_conf("a");
    t.ticket_lifetime = HZ_TLS_TICKET_LIFETIME_MAX + 1;
    cr_assert_eq(hz_server_tls_reload(s.srv, s.tls_idx, &t), HZ_EINVAL);
    t.ticket_lifetime = HZ_TLS_TICKET_LIFETIME_MAX;
    cr_assert_eq(hz_server_tls_reload(s.srv, s.tls_idx, &t), 0);
    stop(&s);
}

/* ------------------------------------------------------------------------ */
/* The demo binary                                                           */
/* ------------------------------------------------------------------------ */

#ifdef HZ_DEMO_EXE
/* A port that was free a moment ago (the demo's --tls-port 0 means off). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Starts the demo in g_dir, waits for its HTTPS line; returns its pid. */
static pid_t demo_start(int tls_port, char *log, size_t cap)
{
    char lp[128], ports[16];
    snprintf(lp, sizeof(lp), "%s/demo.log", g_dir);
    snprintf(ports, sizeof(ports), "%d", tls_port);
    unlink(lp); /* never mistake the last run's log for this one's */
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(lp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || chdir(g_dir) < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(HZ_DEMO_EXE, "demo", "--port", "0", "--tls-port", ports, "--loops", "1", "--quiet",
              (char *)NULL);
        _exit(127);
    }
    long long until = it_now_ms() + 20000;
    for (;;) {
        FILE *f = fopen(lp, "r");
        size_t n = f ? fread(log, 1, cap - 1, f) : 0;
        if (f)
            fclose(f);
        log[n] = '\0';
        if (strstr(log, "listening on"))
            return pid;
        int st;
        cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "demo exited: %s", log);
        cr_assert(it_now_ms() < until, "demo did not start: %s", log);
        poll(NULL, 0, 20);
    }
}

static void demo_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "demo exit status %d", st);
}

Test(tls_clients, demo_self_signed_certificate)
{
    need_tools();
    int port = free_port();
    char log[4096];
    pid_t pid = demo_start(port, log, sizeof(log));
    cr_assert(strstr(log, "created a self-signed certificate .demo-tls/cert.pem"), "%s", log);
    char key[128], cert[128];
    snprintf(key, sizeof(key), "%s/.demo-tls/key.pem", g_dir);
    snprintf(cert, sizeof(cert), "%s/.demo-tls/cert.pem", g_dir);
    struct stat st;
    cr_assert_eq(stat(key, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "key mode %o", (unsigned)(st.st_mode & 0777));
    char *out;
    int rc = it_run(&out, "%s https://localhost:%d/plaintext https://127.0.0.1:%d/plaintext",
                    curl_base(cert, port), port, port);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_str_eq(out, "Hello, World!Hello, World!");
    free(out);
    rc = s_client(&out, port, "http/1.1", "localhost", cert);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "subject=CN = localhost"), "%s", out);
    cr_assert(strstr(out, "ALPN protocol: http/1.1"), "%s", out);
    free(out);
    demo_stop(pid);

    /* A second run keeps the same certificate. */
    X509 *first = load_cert(cert);
    pid = demo_start(port, log, sizeof(log));
    cr_assert(strstr(log, "using the self-signed certificate"), "%s", log);
    rc = it_run(&out, "%s https://localhost:%d/plaintext", curl_base(cert, port), port);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    demo_stop(pid);
    X509 *second = load_cert(cert);
    cr_assert_eq(X509_cmp(first, second), 0);
    X509_free(first);

    /* A damaged key: the demo makes a new pair instead of running without
     * HTTPS. */
    FILE *f = fopen(key, "w");
    cr_assert(f);
    fputs("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n", f);
    fclose(f);
    pid = demo_start(port, log, sizeof(log));
    cr_assert(strstr(log, "does not load: making a new one"), "%s", log);
    rc = it_run(&out, "%s https://localhost:%d/plaintext", curl_base(cert, port), port);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    demo_stop(pid);
    X509 *third = load_cert(cert);
    cr_assert_neq(X509_cmp(second, third), 0);
    X509_free(second);
    X509_free(third);
}
#endif

#else

Test(tls_clients, tls_not_compiled)
{
    char err[128];
    cr_assert_eq(selfsigned_write("/tmp/x.crt", "/tmp/x.key", "localhost", 1, err, sizeof(err)),
                 -1);
}

#endif

/* HTTP/2 over TLS (ALPN h2, docs/http2.md): curl --http2 gets HTTP/2 on the
 * default listener, two requests on one connection, and a streamed 8 MiB
 * body through TLS records, flow control and backpressure. */
Test(tls_clients, curl_http2_alpn)
{
    need_tools();
    if (!HZ_HAVE_HTTP2)
        cr_skip_test("built without HTTP/2");
    tsrv s;
    start(&s, 0);
    const char *ca = path_of("a", "crt");
    char *out;
    int rc = it_run(&out,
                    "timeout 30 curl -sS --http2 --max-time 20 --cacert %s --resolve "
                    "localhost:%d:127.0.0.1 -w 'v=%%{http_version} n=%%{num_connects} "
                    "code=%%{http_code}\\n' -o /dev/null https://localhost:%d/hello -o /dev/null "
                    "https://localhost:%d/hello",
                    ca, s.port, s.port, s.port);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "v=2 n=1 code=200\nv=2 n=0 code=200\n"), "%s", out);
    free(out);
    rc = it_run(&out,
                "timeout 30 curl -sS --http2 --max-time 20 --cacert %s --resolve "
                "localhost:%d:127.0.0.1 'https://localhost:%d/stream?kb=8192' | wc -c",
                ca, s.port, s.port);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_eq(atol(out), 8192 * 1024, "%s", out);
    free(out);
    stop(&s);
}
