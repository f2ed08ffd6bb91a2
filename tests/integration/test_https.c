/* test_https.c - HTTPS listeners end to end: libcurl (verifying the
 * certificate chain and host name) and raw sockets against an in-process
 * server with the TLS backend compiled in. Certificates are made at run
 * time with the openssl command-line tool in a temporary directory. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <httpz/backend.h>
#include "itest.h"
#if HZ_HAVE_TLS
#include "itest_wss.h"
#endif

#if HZ_HAVE_TLS

static char g_dir[64];

static const char *path_of(const char *name, const char *ext)
{
    static char bufs[8][128];
    static int k;
    char *b = bufs[k++ & 7];
    snprintf(b, 128, "%s/%s.%s", g_dir, name, ext);
    return b;
}

static void mkcert(const char *name, const char *cn)
{
    cr_assert_eq(it_make_cert(path_of(name, "key"), path_of(name, "crt"), cn), 0,
                 "openssl req failed");
}

static void setup(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/hz-https-XXXXXX");
    cr_assert(mkdtemp(g_dir));
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    (void)system(cmd);
    curl_global_cleanup();
}

static void hello(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    hz_res_send(res, 200, "hello", 5);
}

typedef struct tsrv {
    hz_server *srv;
    int tls_idx, plain_idx;
    int port, plain_port;
} tsrv;

static hz_tls_config tls_of(const char *name, const char *sni_name, const char *sni_host)
{
    hz_tls_config t;
    hz_tls_config_init(&t);
    t.certs[0].cert_file = path_of(name, "crt");
    t.certs[0].key_file = path_of(name, "key");
    t.ncerts = 1;
    if (sni_name) {
        t.certs[1].cert_file = path_of(sni_name, "crt");
        t.certs[1].key_file = path_of(sni_name, "key");
        t.certs[1].sni_host = sni_host;
        t.ncerts = 2;
    }
    return t;
}

static void start(tsrv *s, hz_config *cfg, const hz_tls_config *tls)
{
    hz_config def;
    if (!cfg) {
        hz_config_init(&def);
        cfg = &def;
    }
    cfg->loops = 1;
    cr_assert_eq(hz_server_create(&s->srv, cfg), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/", hello, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/big", it_h_big, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "POST", "/echo", it_h_echo, NULL), 0);
    s->tls_idx = hz_server_listen(s->srv, "127.0.0.1", 0, tls);
    cr_assert(s->tls_idx >= 0, "listen: %d", s->tls_idx);
    s->port = hz_server_port(s->srv, s->tls_idx);
    s->plain_idx = hz_server_listen(s->srv, "127.0.0.1", 0, NULL);
    cr_assert(s->plain_idx >= 0);
    s->plain_port = hz_server_port(s->srv, s->plain_idx);
    cr_assert_eq(hz_server_start(s->srv), 0);
}

static void stop(tsrv *s)
{
    hz_server_stop(s->srv, 1000);
    hz_server_wait(s->srv);
    hz_server_destroy(s->srv);
}

/* A curl handle for https://host:port, trusting ca, resolving host to
 * 127.0.0.1 (so SNI and the host name check use host). */
static CURL *client(struct curl_slist **res, const char *host, int port, const char *ca)
{
    CURL *h = curl_easy_init();
    cr_assert(h);
    char r[256];
    snprintf(r, sizeof(r), "%s:%d:127.0.0.1", host, port);
    *res = curl_slist_append(NULL, r);
    curl_easy_setopt(h, CURLOPT_RESOLVE, *res);
    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    return h;
}

/* GET or POST https://host:port/path; returns the curl code, fills k. */
static CURLcode fetch(CURL *h, const char *host, int port, const char *path, it_sink *k,
                      const char *post, size_t post_len)
{
    char url[256];
    snprintf(url, sizeof(url), "https://%s:%d%s", host, port, path);
    return it_curl_fetch(h, url, k, post, post_len);
}

/* One GET with a fresh connection: the curl result. */
static CURLcode get_once(const char *host, int port, const char *ca)
{
    struct curl_slist *r;
    CURL *h = client(&r, host, port, ca);
    it_sink k = {0};
    CURLcode rc = fetch(h, host, port, "/", &k, NULL, 0);
    if (rc == CURLE_OK)
        cr_assert_str_eq(k.p, "hello");
    it_sink_free(&k);
    curl_easy_cleanup(h);
    curl_slist_free_all(r);
    return rc;
}

TestSuite(https, .init = setup, .fini = teardown, .timeout = 60);

Test(https, keepalive_big_and_post)
{
    mkcert("a", "a.test");
    hz_tls_config t = tls_of("a", NULL, NULL);
    tsrv s;
    start(&s, NULL, &t);
    struct curl_slist *r;
    CURL *h = client(&r, "a.test", s.port, path_of("a", "crt"));
    it_sink k = {0};
    cr_assert_eq(fetch(h, "a.test", s.port, "/", &k, NULL, 0), CURLE_OK);
    cr_assert_str_eq(k.p, "hello");
    long ver = 0;
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &ver);
    cr_assert_eq(ver, CURL_HTTP_VERSION_1_1);
    /* Keep-alive: the same TLS connection. */
    cr_assert_eq(fetch(h, "a.test", s.port, "/big", &k, NULL, 0), CURLE_OK);
    it_curl_assert_reused(h, "GET /big after GET /");
    it_assert_big_body(k.p, k.n, 1u << 20);
    /* A body of many records. */
    size_t n = 300000;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)(i * 7);
    cr_assert_eq(fetch(h, "a.test", s.port, "/echo", &k, body, n), CURLE_OK);
    cr_assert_eq(k.n, n);
    cr_assert(memcmp(k.p, body, n) == 0);
    free(body);
    it_sink_free(&k);
    curl_easy_cleanup(h);
    curl_slist_free_all(r);
    stop(&s);
}

/* The compiled-in TLS backend with its idle slot counted: the core must
 * call it when a connection goes idle (HTTP/1.1 keep-alive between
 * requests, HTTP/2 with no stream left), and the session must serve the
 * next request after it (OpenSSL dropped its record buffers then):
 * it_tls_counting_vt. */

static void idle_round(long http_version, long want_version)
{
    mkcert("i", "i.test");
    hz_tls_config t = tls_of("i", NULL, NULL);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.tls = it_tls_counting_vt();
    tsrv s;
    start(&s, &cfg, &t);
    struct curl_slist *r;
    CURL *h = client(&r, "i.test", s.port, path_of("i", "crt"));
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, http_version);
    it_sink k = {0};
    size_t n = 300000;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)(i * 7);
    /* Twice through: small, > 64 KiB, a request body of many records, each
     * on the connection the previous one left idle. */
    for (int round = 0; round < 2; round++) {
        unsigned before = atomic_load(&it_tls_idle_calls);
        cr_assert_eq(fetch(h, "i.test", s.port, "/", &k, NULL, 0), CURLE_OK);
        cr_assert_str_eq(k.p, "hello");
        long ver = 0;
        curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &ver);
        cr_assert_eq(ver, want_version);
        if (round)
            it_curl_assert_reused(h, "a small response");
        it_tls_wait_idle_after(before, "a small response");

        before = atomic_load(&it_tls_idle_calls);
        cr_assert_eq(fetch(h, "i.test", s.port, "/big", &k, NULL, 0), CURLE_OK);
        it_curl_assert_reused(h, "a 1 MiB response");
        it_assert_big_body(k.p, k.n, 1u << 20);
        it_tls_wait_idle_after(before, "a 1 MiB response");

        before = atomic_load(&it_tls_idle_calls);
        cr_assert_eq(fetch(h, "i.test", s.port, "/echo", &k, body, n), CURLE_OK);
        it_curl_assert_reused(h, "a 300 kB request body");
        cr_assert_eq(k.n, n);
        cr_assert(memcmp(k.p, body, n) == 0);
        it_tls_wait_idle_after(before, "a 300 kB request body");
    }
    free(body);
    it_sink_free(&k);
    curl_easy_cleanup(h);
    curl_slist_free_all(r);
    stop(&s);
}

Test(https, idle_hook_between_http1_requests)
{
    idle_round(CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_1_1);
}

#if HZ_HAVE_HTTP2
Test(https, idle_hook_after_http2_streams)
{
    idle_round(CURL_HTTP_VERSION_2TLS, CURL_HTTP_VERSION_2_0);
}
#endif

Test(https, sni_picks_the_certificate)
{
    mkcert("d", "default.test");
    mkcert("b", "b.test");
    char bundle[160];
    snprintf(bundle, sizeof(bundle), "cat %s %s > %s", path_of("d", "crt"), path_of("b", "crt"),
             path_of("both", "crt"));
    cr_assert_eq(system(bundle), 0);
    hz_tls_config t = tls_of("d", "b", "b.test");
    tsrv s;
    start(&s, NULL, &t);
    /* Each host name verifies only if its own certificate was sent. */
    cr_assert_eq(get_once("b.test", s.port, path_of("both", "crt")), CURLE_OK);
    cr_assert_eq(get_once("default.test", s.port, path_of("both", "crt")), CURLE_OK);
    /* Unknown name: the default certificate, which does not match. */
    cr_assert_neq(get_once("other.test", s.port, path_of("both", "crt")), CURLE_OK);
    stop(&s);
}

Test(https, reload_swaps_certificate_without_dropping)
{
    mkcert("one", "r.test");
    mkcert("two", "r.test");
    hz_tls_config t1 = tls_of("one", NULL, NULL);
    tsrv s;
    start(&s, NULL, &t1);
    struct curl_slist *r;
    CURL *h = client(&r, "r.test", s.port, path_of("one", "crt"));
    it_sink k = {0};
    cr_assert_eq(fetch(h, "r.test", s.port, "/", &k, NULL, 0), CURLE_OK);
    cr_assert_neq(get_once("r.test", s.port, path_of("two", "crt")), CURLE_OK);

    cr_assert_eq(hz_server_tls_reload(s.srv, s.plain_idx, &t1), HZ_EINVAL, "plain listener");
    cr_assert_eq(hz_server_tls_reload(s.srv, 7, &t1), HZ_EINVAL);
    hz_tls_config t2 = tls_of("two", NULL, NULL);
    cr_assert_eq(hz_server_tls_reload(s.srv, s.tls_idx, &t2), 0);

    /* New handshakes get the new certificate... */
    cr_assert_eq(get_once("r.test", s.port, path_of("two", "crt")), CURLE_OK);
    cr_assert_neq(get_once("r.test", s.port, path_of("one", "crt")), CURLE_OK);
    /* ...the open connection keeps working. */
    cr_assert_eq(fetch(h, "r.test", s.port, "/", &k, NULL, 0), CURLE_OK);
    it_curl_assert_reused(h, "GET / after the reload");

    /* A broken configuration is refused and changes nothing. */
    hz_tls_config bad = t2;
    bad.certs[0].key_file = path_of("one", "key");
    cr_assert_eq(hz_server_tls_reload(s.srv, s.tls_idx, &bad), HZ_ETLS);
    cr_assert_eq(get_once("r.test", s.port, path_of("two", "crt")), CURLE_OK);
    it_sink_free(&k);
    curl_easy_cleanup(h);
    curl_slist_free_all(r);
    stop(&s);
}

Test(https, bad_certificate_fails_listen)
{
    mkcert("a", "a.test");
    hz_tls_config t = tls_of("a", NULL, NULL);
    t.certs[0].key_file = path_of("missing", "key");
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    cr_assert_eq(hz_server_listen(srv, "127.0.0.1", 0, &t), HZ_ETLS);
    hz_server_destroy(srv);
}

/* The failed handshakes and error closes so far, once conns are closed. */
static void wait_tls_failed(hz_server *srv, uint64_t failed, uint64_t errors, hz_metrics *m)
{
    long long end = it_now_ms() + 5000;
    do {
        cr_assert_eq(hz_server_metrics(srv, m), 0);
        if (m->tls_handshakes_failed >= failed && m->conn_closed[HZ_CLOSE_ERROR] >= errors)
            return;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    } while (it_now_ms() < end);
}

/* Plain HTTP to the HTTPS port: a plain-text 400 with Connection: close
 * (its first byte cannot start a TLS record), then the close; counted as a
 * failed handshake closed for an error. */
Test(https, plain_http_to_tls_port_is_closed)
{
    mkcert("a", "a.test");
    hz_tls_config t = tls_of("a", NULL, NULL);
    tsrv s;
    start(&s, NULL, &t);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    it_sends(&c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0, "a plain-text answer");
    cr_assert_eq(r.status, 400);
    cr_assert(r.conn_close);
    cr_assert_str_eq(it_header(&r, "Content-Type"), "text/plain; charset=utf-8");
    cr_assert_neq(it_header(&r, "Date")[0], '\0');
    cr_assert(strstr(r.body, "HTTPS") != NULL, "body: %s", r.body);
    it_resp_free(&r);
    cr_assert_eq(it_wait_closed(&c, 3000), 1);
    it_close(&c);
    hz_metrics m;
    wait_tls_failed(s.srv, 1, 1, &m);
    cr_assert_eq(m.tls_handshakes_failed, 1);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_ERROR], 1);
    cr_assert_eq(m.tls_handshakes_ok, 0);
    /* A large request: the answer still arrives whole, no reset (the rest
     * of the request is read and dropped by a lingering close). */
    cr_assert_eq(it_connect(&c, s.port), 0);
    size_t n = 128 * 1024;
    char *big = malloc(n);
    memset(big, 'x', n);
    int hl = snprintf(big, 128, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n",
                      n - 128);
    memset(big + hl, 'y', (size_t)(128 - hl));
    (void)it_send(&c, big, n); /* may stop early: the server closes */
    free(big);
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    cr_assert_eq(r.status, 400);
    it_resp_free(&r);
    it_close(&c);
    /* Not HTTP either: any first byte other than a handshake record's. */
    cr_assert_eq(it_connect(&c, s.port), 0);
    it_send(&c, "\x15\x03\x03\x00\x02\x02\x28", 7); /* an alert record */
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    cr_assert_eq(r.status, 400);
    it_resp_free(&r);
    it_close(&c);
    wait_tls_failed(s.srv, 3, 3, &m);
    cr_assert_eq(m.tls_handshakes_failed, 3);
    /* And a TLS ClientHello to the plain port: curl fails, the server lives. */
    char url[64];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/", s.plain_port);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
    cr_assert_neq(curl_easy_perform(h), CURLE_OK);
    curl_easy_cleanup(h);
    cr_assert_eq(get_once("a.test", s.port, path_of("a", "crt")), CURLE_OK);
    cr_assert_eq(it_connect(&c, s.plain_port), 0);
    it_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    it_resp rsp;
    cr_assert_eq(it_read_response(&c, &rsp, 0, 3000), 0);
    cr_assert_eq(rsp.status, 200);
    it_resp_free(&rsp);
    it_close(&c);
    stop(&s);
}

Test(https, handshake_timeout_closes)
{
    mkcert("a", "a.test");
    hz_tls_config t = tls_of("a", NULL, NULL);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.timeouts.tls_handshake = 300;
    cfg.timeouts.header = 10000; /* the handshake timer, not this one, must fire */
    tsrv s;
    start(&s, &cfg, &t);
    for (int partial = 0; partial < 2; partial++) {
        it_conn c;
        cr_assert_eq(it_connect(&c, s.port), 0);
        if (partial)
            it_send(&c, "\x16\x03\x01\x02\x00\x01", 6); /* a ClientHello that never ends */
        long long t0 = it_now_ms();
        cr_assert_eq(it_wait_closed(&c, 5000), 1);
        long long dt = it_now_ms() - t0;
        cr_assert(dt >= 200 && dt < 3000, "closed after %lld ms", dt);
        it_close(&c);
    }
    cr_assert_eq(get_once("a.test", s.port, path_of("a", "crt")), CURLE_OK);
    stop(&s);
}

Test(https, concurrent_handshake_cap)
{
    mkcert("a", "a.test");
    hz_tls_config t = tls_of("a", NULL, NULL);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.max_tls_handshakes = 1;
    tsrv s;
    start(&s, &cfg, &t);
    it_conn idle, over;
    cr_assert_eq(it_connect(&idle, s.port), 0); /* holds the one handshake slot */
    cr_assert_eq(it_connect(&over, s.port), 0);
    cr_assert_eq(it_wait_closed(&over, 3000), 1, "over the cap: closed at once");
    cr_assert_eq(it_wait_closed(&idle, 200), 0, "the first one still waits");
    it_close(&over);
    it_close(&idle);
    /* The slot is free again once the server saw the close. */
    CURLcode rc = CURLE_COULDNT_CONNECT;
    long long until = it_now_ms() + 3000;
    while (rc != CURLE_OK && it_now_ms() < until)
        rc = get_once("a.test", s.port, path_of("a", "crt"));
    cr_assert_eq(rc, CURLE_OK);
    stop(&s);
}

#else

Test(https, tls_not_compiled)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    hz_tls_config t;
    hz_tls_config_init(&t);
    cr_assert_eq(hz_server_listen(srv, "127.0.0.1", 0, &t), HZ_ENOTSUP);
    hz_server_destroy(srv);
}

#endif
