/* test_https_records.c - responses of many TLS records to readers slower
 * than the server: the TLS transport sends several records per send and
 * holds what the socket did not take (docs/architecture.md, "TLS records
 * per send"); every byte must still arrive, close_notify after the last,
 * and a reader that stops must still meet the write timeout. HTTP/1.1
 * through a raw OpenSSL client, HTTP/2 through libcurl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <httpz/backend.h>
#include "itest.h"

#if HZ_HAVE_TLS
#include "itest_wss.h"

#define BIG (8u << 20) /* beyond a loopback socket's buffers on both sides */

static it_tls_dir g_tls; /* a pair for r.test */
static char *g_body;     /* BIG bytes of a pattern */

static char byte_at(size_t i)
{
    return (char)((i * 131) ^ (i >> 11));
}

static void setup(void)
{
    cr_assert_eq(it_tls_dir_init(&g_tls, "rec", "r.test"), 0, "openssl req failed");
    g_body = malloc(BIG);
    cr_assert(g_body);
    for (size_t i = 0; i < BIG; i++)
        g_body[i] = byte_at(i);
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
    it_tls_dir_remove(&g_tls);
    free(g_body);
    curl_global_cleanup();
}

TestSuite(https_records, .init = setup, .fini = teardown);

static void big(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    hz_res_send(res, 200, g_body, BIG);
}

typedef struct rsrv {
    hz_server *srv;
    int port;
} rsrv;

static void start(rsrv *s, uint32_t write_timeout)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    if (write_timeout)
        cfg.timeouts.write = write_timeout;
    cr_assert_eq(hz_server_create(&s->srv, &cfg), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/big", big, NULL), 0);
    s->port = it_tls_start(s->srv, &g_tls);
}

static void stop(rsrv *s)
{
    hz_server_stop(s->srv, 1000);
    hz_server_wait(s->srv);
    hz_server_destroy(s->srv);
}

/* A blocking TLS client with a small receive buffer (set before connect,
 * so the window stays small). */
typedef struct tcli {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
} tcli;

static void tcli_open(tcli *c, int port)
{
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(c->fd >= 0);
    int small = 4096;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct timeval tv = {.tv_sec = 20};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_eq(it_connect_fd(c->fd, port), 0);
    c->ssl = it_tls_client(c->fd, "r.test", NULL, &c->ctx);
}

static void tcli_close(tcli *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
}

static void tcli_send(tcli *c, const char *s)
{
    cr_assert_eq(SSL_write(c->ssl, s, (int)strlen(s)), (int)strlen(s));
}

/* HTTP/1.1, Connection: close, read 1 KiB at a time: the whole body
 * intact, then close_notify (SSL_ERROR_ZERO_RETURN), not a bare EOF. */
Test(https_records, http1_slow_reader_gets_all_then_close_notify, .timeout = 120)
{
    rsrv s;
    start(&s, 0);
    tcli c;
    tcli_open(&c, s.port);
    tcli_send(&c, "GET /big HTTP/1.1\r\nHost: r.test\r\nConnection: close\r\n\r\n");
    size_t cap = BIG + 4096, n = 0;
    char *got = malloc(cap);
    int r, err = 0;
    for (;;) {
        cr_assert_lt(n, cap, "more bytes than the response");
        size_t k = cap - n < 1024 ? cap - n : 1024;
        r = SSL_read(c.ssl, got + n, (int)k);
        if (r <= 0) {
            err = SSL_get_error(c.ssl, r);
            break;
        }
        n += (size_t)r;
    }
    cr_assert_eq(err, SSL_ERROR_ZERO_RETURN, "the stream ended without close_notify (%d)", err);
    char *body = memmem(got, n, "\r\n\r\n", 4);
    cr_assert(body, "no response head");
    body += 4;
    cr_assert(strstr(got, "Content-Length: 8388608\r\n"), "head: %.200s", got);
    size_t blen = n - (size_t)(body - got);
    cr_assert_eq(blen, BIG, "body: %zu bytes", blen);
    for (size_t i = 0; i < BIG; i++)
        if (body[i] != byte_at(i))
            cr_assert_fail("byte %zu differs", i);
    free(got);
    tcli_close(&c);
    stop(&s);
}

/* A reader that stops after its request: the server's writes block with
 * records held, and the write timeout still closes the connection. */
Test(https_records, stalled_reader_meets_the_write_timeout, .timeout = 60)
{
    rsrv s;
    start(&s, 300);
    tcli c;
    tcli_open(&c, s.port);
    tcli_send(&c, "GET /big HTTP/1.1\r\nHost: r.test\r\n\r\n");
    long long t0 = it_now_ms();
    hz_metrics m;
    do {
        usleep(20000); /* polling a counter, bounded below */
        cr_assert_eq(hz_server_metrics(s.srv, &m), 0);
    } while (m.timeouts[HZ_TIMEOUT_WRITE] == 0 && it_now_ms() - t0 < 10000);
    cr_assert_eq(m.timeouts[HZ_TIMEOUT_WRITE], 1, "no write timeout");
    cr_assert_lt(it_now_ms() - t0, 5000);
    /* The connection is gone: reading ends before the whole body. */
    char buf[16384];
    size_t n = 0;
    int r;
    while ((r = SSL_read(c.ssl, buf, sizeof(buf))) > 0)
        n += (size_t)r;
    cr_assert_lt(n, BIG);
    tcli_close(&c);
    stop(&s);
}

#if HZ_HAVE_HTTP2
/* HTTP/2 to a reader held to 16 MB/s, with small reads: the body intact,
 * twice on one connection. */
Test(https_records, http2_slow_reader_gets_every_byte, .timeout = 120)
{
    rsrv s;
    start(&s, 0);
    CURL *h = curl_easy_init();
    cr_assert(h);
    char url[128], res[128];
    snprintf(url, sizeof(url), "https://r.test:%d/big", s.port);
    snprintf(res, sizeof(res), "r.test:%d:127.0.0.1", s.port);
    struct curl_slist *rl = curl_slist_append(NULL, res);
    it_sink k = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_RESOLVE, rl);
    curl_easy_setopt(h, CURLOPT_CAINFO, g_tls.crt);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)(16 << 20));
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 1024L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, it_sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
    for (int round = 0; round < 2; round++) {
        it_sink_reset(&k);
        cr_assert_eq(curl_easy_perform(h), CURLE_OK);
        long ver = 0;
        curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &ver);
        cr_assert_eq(ver, CURL_HTTP_VERSION_2_0);
        cr_assert_eq(k.n, BIG);
        cr_assert(memcmp(k.p, g_body, BIG) == 0, "body corrupted");
    }
    it_curl_assert_reused(h, "the second GET /big");
    it_sink_free(&k);
    curl_easy_cleanup(h);
    curl_slist_free_all(rl);
    stop(&s);
}
#endif

#endif
