/* test_tls_idle_delay.c - the delayed TLS drop (hz__sock_idle): a client
 * that sends back to back gets no drop between its requests or messages
 * (after the first of a burst), and exactly one, HZ__SOCK_IDLE_MS after
 * its last; a single exchange after a pause gets exactly one, at once; and
 * the session serves small and 1 MiB responses and a 300 kB body (or
 * messages) after each drop, over HTTP/1.1, HTTP/2 and wss. The compiled-in backend's table
 * with its idle slot counted (the drop calls it once per drop). Skipped
 * without TLS. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <httpz/backend.h>
#include "sock.h" /* HZ__SOCK_IDLE_MS */
#include "itest.h"
#include "itest_ws.h"
#include "test_alloc.h"

#if HZ_HAVE_TLS
#include "itest_wss.h"

#define D ((long long)HZ__SOCK_IDLE_MS)
#define BURST 40
#define BIG (1u << 20) /* it_h_big's size (GET /big) */
#define BODY 300000u

static hz_count_alloc CA;
static it_tls_dir g_tls;

static void h_small(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    hz_res_send(res, 200, "hello", 5);
}

static void h_ws(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {
        .on_open = itws_on_open, .on_message = itws_echo, .on_close = itws_on_close};
    hz_ws_accept(req, res, &cb, NULL, NULL);
}

static hz_server *start(int *port)
{
    hz_config cfg;
    it_tls_setup(&g_tls, "tlsq", &cfg, &CA);
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    cr_assert_eq(hz_route(srv, "GET", "/", h_small, NULL), 0);
    cr_assert_eq(hz_route(srv, "GET", "/big", it_h_big, NULL), 0);
    cr_assert_eq(hz_route(srv, "POST", "/echo", it_h_echo, NULL), 0);
    cr_assert_eq(hz_route(srv, "GET", "/ws", h_ws, NULL), 0);
    *port = it_tls_start(srv, &g_tls);
    return srv;
}

static void finish(hz_server *srv)
{
    it_tls_finish(srv, NULL, &CA, &g_tls);
}

/* Waits (bounded) until no drop came for three periods: the count then. */
static unsigned settle(void)
{
    long long end = it_now_ms() + 10000;
    unsigned n = atomic_load(&it_tls_idle_calls);
    long long since = it_now_ms();
    while (it_now_ms() - since < 3 * D && it_now_ms() < end) {
        usleep(2000);
        unsigned m = atomic_load(&it_tls_idle_calls);
        if (m != n) {
            n = m;
            since = it_now_ms();
        }
    }
    cr_assert_lt(it_now_ms(), end, "drops never stopped");
    return n;
}

/* The connection went quiet after the client's last send at sent_ms:
 * exactly one drop comes (and no second one while it stays quiet, three
 * more periods watched); delayed: not before D after that send (the quiet
 * period begins after the server read it). */
static void expect_one_drop(unsigned before, long long sent_ms, int delayed, const char *what)
{
    long long end = it_now_ms() + 10000;
    while (atomic_load(&it_tls_idle_calls) == before && it_now_ms() < end)
        usleep(1000);
    long long at = it_now_ms();
    cr_assert_eq(atomic_load(&it_tls_idle_calls), before + 1, "no single drop after %s", what);
    /* The loop's clock is read once per iteration (it may lag by a few
     * ms), and both are whole ms: half of D tells a delay from none. */
    if (delayed)
        cr_assert_geq(at - sent_ms, D / 2, "dropped %lld ms after %s: not delayed", at - sent_ms,
                      what);
    cr_assert_eq(settle(), before + 1, "more than one drop after %s", what);
}

/* Back to back: no drop from the end of the second exchange (the first
 * one after a pause drops at once: no client seen coming back yet; its
 * drop is done before the server reads the second) to the end of the
 * last, provided no gap from a send to the end of the next answer reached
 * D (a machine that slow cannot tell; said, not checked). */
static void expect_no_drop(unsigned at_second, const long long *sent, const long long *done, int n,
                           const char *what)
{
    unsigned got = atomic_load(&it_tls_idle_calls);
    long long worst = it_now_ms() - sent[n - 1];
    for (int i = 0; i + 1 < n; i++)
        if (done[i + 1] - sent[i] > worst)
            worst = done[i + 1] - sent[i];
    if (worst >= D) {
        cr_log_warn("%s: a gap of %lld ms (>= %lld): too slow to tell, not checked", what, worst,
                    D);
        return;
    }
    cr_assert_eq(got, at_second, "%u drops between %s sent back to back", got - at_second, what);
}

/* ---- HTTP/1.1 and HTTP/2: libcurl reusing one connection ---------------------------- */

static void fetch(CURL *h, int port, const char *path, it_sink *k, const char *post, size_t len)
{
    char url[128];
    snprintf(url, sizeof(url), "https://localhost:%d%s", port, path);
    cr_assert_eq(it_curl_fetch(h, url, k, post, len), CURLE_OK, "GET %s", path);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    cr_assert_eq(code, 200);
}

static void curl_round(long http_version, long want_version)
{
    int port;
    hz_server *srv = start(&port);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    cr_assert(h);
    curl_easy_setopt(h, CURLOPT_CAINFO, g_tls.crt);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, http_version);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    it_sink k = {0};
    char *body = malloc(BODY);
    for (size_t i = 0; i < BODY; i++)
        body[i] = (char)(i * 7);

    unsigned before = atomic_load(&it_tls_idle_calls);
    fetch(h, port, "/", &k, NULL, 0);
    long ver = 0;
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &ver);
    cr_assert_eq(ver, want_version);
    cr_assert_gt(settle(), before, "no drop after the first request");

    long long sent[BURST], done[BURST];
    unsigned at_second = 0;
    for (int i = 0; i < BURST; i++) {
        sent[i] = it_now_ms();
        fetch(h, port, "/", &k, NULL, 0);
        done[i] = it_now_ms();
        if (i == 1)
            at_second = atomic_load(&it_tls_idle_calls);
        it_curl_assert_reused(h, "a request of a burst");
        cr_assert(k.n == 5 && !memcmp(k.p, "hello", 5));
    }
    expect_no_drop(at_second, sent, done, BURST, "requests");
    expect_one_drop(at_second, sent[BURST - 1], 1, "a burst of requests");

    /* After a pause: at once (no quick return seen). The session serves
     * on after a drop (OpenSSL takes its buffers again). */
    for (int round = 0; round < 2; round++) {
        before = atomic_load(&it_tls_idle_calls);
        fetch(h, port, "/", &k, NULL, 0);
        it_curl_assert_reused(h, "a small response");
        cr_assert(k.n == 5 && !memcmp(k.p, "hello", 5));
        expect_one_drop(before, 0, 0, "a small response");

        before = atomic_load(&it_tls_idle_calls);
        fetch(h, port, "/big", &k, NULL, 0);
        it_curl_assert_reused(h, "a 1 MiB response");
        it_assert_big_body(k.p, k.n, BIG);
        expect_one_drop(before, 0, 0, "a 1 MiB response");

        before = atomic_load(&it_tls_idle_calls);
        fetch(h, port, "/echo", &k, body, BODY);
        it_curl_assert_reused(h, "a 300 kB request body");
        cr_assert_eq(k.n, BODY);
        cr_assert(memcmp(k.p, body, BODY) == 0);
        expect_one_drop(before, 0, 0, "a 300 kB request body");
    }
    free(body);
    it_sink_free(&k);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    finish(srv);
}

TestSuite(tls_idle_delay, .timeout = 120);

Test(tls_idle_delay, http1_keepalive)
{
    curl_round(CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_1_1);
}

#if HZ_HAVE_HTTP2
Test(tls_idle_delay, http2_streams)
{
    curl_round(CURL_HTTP_VERSION_2TLS, CURL_HTTP_VERSION_2_0);
}
#endif

Test(tls_idle_delay, wss_echo)
{
    int port;
    hz_server *srv = start(&port);
    it_wss c;
    unsigned before = atomic_load(&it_tls_idle_calls);
    cr_assert_eq(it_wss_connect(&c, port, "/ws", NULL), 101);
    cr_assert_gt(settle(), before, "no drop after the upgrade");

    const unsigned char small[] = "hello, quiet world";
    long long sent[BURST], done[BURST];
    unsigned at_second = 0;
    for (int i = 0; i < BURST; i++) {
        sent[i] = it_now_ms();
        it_wss_echo(&c, 2, small, sizeof(small), 10000);
        done[i] = it_now_ms();
        if (i == 1)
            at_second = atomic_load(&it_tls_idle_calls);
    }
    expect_no_drop(at_second, sent, done, BURST, "messages");
    expect_one_drop(at_second, sent[BURST - 1], 1, "a burst of messages");

    unsigned char *big = malloc(BIG - 64);
    for (size_t i = 0; i < BIG - 64; i++)
        big[i] = (unsigned char)(i * 13);
    size_t sizes[] = {sizeof(small), BODY, BIG - 64}; /* under the 1 MiB message limit */
    for (size_t k = 0; k < 3; k++) {
        before = atomic_load(&it_tls_idle_calls);
        it_wss_echo(&c, 2, k ? big : small, sizes[k], 10000);
        expect_one_drop(before, 0, 0, k == 0 ? "a small message" : "a large message");
    }
    free(big);
    it_wss_free(&c);
    finish(srv);
}

#else
Test(tls_idle_delay, skipped)
{
    cr_skip_test("built without TLS");
}
#endif
