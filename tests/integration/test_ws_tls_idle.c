/* test_ws_tls_idle.c - a WebSocket over TLS (wss, HTTP/1.1 upgrade) and
 * the TLS backend's idle hook: the compiled-in backend's table with its
 * idle slot counted, a raw OpenSSL client. The hook must be called at
 * least once while the WebSocket is idle (not necessarily at once: the
 * core may delay it), and the WebSocket must keep working after it (the
 * backend may have dropped its record buffers). Also wss with the accept
 * made from an executor worker, whose origin check must know the
 * connection is TLS, and a producer that keeps its output full hearing its
 * client. Every server ends with its counting allocator back at
 * zero. Skipped without TLS. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>
#include "itest.h"
#include "itest_ws.h"
#include "test_alloc.h"

#if HZ_HAVE_TLS
#include "itest_wss.h"

static hz_count_alloc CA;
static it_tls_dir g_tls;

static void h_echo(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {
        .on_open = itws_on_open, .on_message = itws_echo, .on_close = itws_on_close};
    hz_ws_accept(req, res, &cb, NULL, NULL);
}

/* On an executor worker: the origin must be the server as reached over
 * TLS (https), which the worker learns from what the loop recorded. */
static void h_worker(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {
        .on_open = itws_on_open, .on_message = itws_echo, .on_close = itws_on_close};
    if (!hz_ws_origin_ok(req, NULL, 0)) {
        hz_res_send(res, 403, "origin", 6);
        return;
    }
    hz_ws_accept(req, res, &cb, NULL, NULL);
}

/* A producer (as test_websocket's producer_* cases): 16 KiB messages,
 * refilled to the budget at every on_drain, at most PROD_CAP of them; the
 * message "stop" ends them with a close 1000. */
#define PROD_CAP 16384 /* messages: 256 MiB, a safety net */
#define PROD_MSG 16384
static atomic_int g_prod_sent;

static void prod_more(hz_ws *ws, void *ud)
{
    static char blk[PROD_MSG];
    (void)ud;
    while (atomic_load(&g_prod_sent) < PROD_CAP) {
        int rc = hz_ws_send(ws, HZ_WS_BINARY, blk, sizeof(blk), 0);
        if (rc == HZ_EAGAIN || rc == HZ_ECLOSED)
            return;
        cr_assert_eq(rc, 0, "producer send: %d", rc);
        atomic_fetch_add(&g_prod_sent, 1);
    }
}

static void h_produce(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    itws_accept_producer(req, res, prod_more, ITWS_FLOOD_BUDGET);
}

static hz_executor EXR;

static hz_server *start(int *port, int exec)
{
    hz_config cfg;
    it_tls_setup(&g_tls, "wstls", &cfg, &CA);
    memset(&EXR, 0, sizeof(EXR));
    if (exec) {
        hz_executor_pool_options po;
        hz_executor_pool_options_init(&po);
        po.threads = 1;
        cr_assert_eq(hz_executor_pool_create(&EXR, &po, &CA.iface), 0);
        cfg.executor = &EXR;
    }
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    cr_assert_eq(hz_route(srv, "GET", "/ws/echo", h_echo, NULL), 0);
    cr_assert_eq(hz_route(srv, "GET", "/ws/produce", h_produce, NULL), 0);
    hz_route_opts ro;
    hz_route_opts_init(&ro);
    ro.flags = HZ_ROUTE_EXECUTOR;
    if (exec)
        cr_assert_eq(hz_route_with(srv, "GET", "/ws/worker", h_worker, NULL, &ro), 0);
    *port = it_tls_start(srv, &g_tls);
    return srv;
}

static void finish(hz_server *srv)
{
    it_tls_finish(srv, &EXR, &CA, &g_tls);
}

/* A text message and its echo. */
static void echo_text(it_wss *c, const char *msg)
{
    it_wss_echo(c, 1, msg, strlen(msg), 5000);
}

Test(ws_tls_idle, idle_hook_while_websocket_idle)
{
    int port;
    hz_server *srv = start(&port, 0);
    it_wss c;
    cr_assert_eq(it_wss_connect(&c, port, "/ws/echo", NULL), 101);
    unsigned before = atomic_load(&it_tls_idle_calls);
    echo_text(&c, "first");
    it_tls_wait_idle_after(before, "an echo");
    /* The session serves on after the hook (buffers dropped or not). */
    for (int round = 0; round < 3; round++) {
        before = atomic_load(&it_tls_idle_calls);
        echo_text(&c, round == 0 ? "second" : round == 1 ? "third" : "fourth");
        it_tls_wait_idle_after(before, "another echo");
    }
    cr_expect_eq(atomic_load(&itws_opens), 1);
    it_wss_close_1000(&c);
    itws_wait_closes(1);
    finish(srv);
}

/* wss with the accept made from an executor worker: the origin check there
 * knows the connection is TLS (https://127.0.0.1 is the server itself,
 * http://127.0.0.1 is not); the WebSocket echoes. */
Test(ws_tls_idle, accept_on_worker_over_tls_with_origin_check)
{
    int port;
    hz_server *srv = start(&port, 1);
    it_wss c;
    cr_assert_eq(it_wss_connect(&c, port, "/ws/worker", "Origin: http://127.0.0.1\r\n"), 403);
    it_wss_free(&c);
    cr_assert_eq(it_wss_connect(&c, port, "/ws/worker", "Origin: https://127.0.0.1\r\n"), 101);
    echo_text(&c, "over wss from a worker's accept");
    cr_expect_eq(atomic_load(&itws_opens), 1);
    it_wss_close_1000(&c);
    itws_wait_closes(1);
    finish(srv);
}

/* Reads the producer's flood until a close frame or limit bytes of it:
 * the flood's bytes, the close's code in *code (0: none came). */
static size_t prod_read(it_wss *c, size_t limit, unsigned *code)
{
    size_t got = 0;
    *code = 0;
    while (got < limit) {
        const unsigned char *h = c->buf;
        if (c->len >= 4 && h[0] == 0x88 && c->len >= 2u + (h[1] & 0x7f)) {
            *code = (unsigned)h[2] << 8 | h[3];
            return got;
        }
        if (c->len >= 4 + PROD_MSG) {
            cr_assert(h[0] == 0x82 && h[1] == 126 && h[2] == PROD_MSG >> 8 && h[3] == 0,
                      "not a flood frame: %02x %02x", h[0], h[1]);
            c->len -= 4 + PROD_MSG;
            memmove(c->buf, c->buf + 4 + PROD_MSG, c->len);
            got += PROD_MSG;
            continue;
        }
        cr_assert_eq(it_wss_read(c, 5000), 0, "the flood stalled at %zu bytes", got);
    }
    return got;
}

/* Over TLS too, a producer that refills its budget at every on_drain
 * still reads its client: "stop", 1 MiB into the flood, is heard within
 * bounded bytes (what the sockets hold and a few turns; bytes, not time),
 * then the closing handshake completes. */
Test(ws_tls_idle, producer_hears_stop_over_tls)
{
    int port;
    unsigned code;
    static const unsigned char stop[] = {0x81, 0x84, 0, 0, 0, 0, 's', 't', 'o', 'p'};
    static const unsigned char close[] = {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8};
    atomic_store(&g_prod_sent, 0);
    hz_server *srv = start(&port, 0);
    it_wss c;
    cr_assert_eq(it_wss_connect(&c, port, "/ws/produce", NULL), 101);
    cr_assert_geq(prod_read(&c, 1u << 20, &code), 1u << 20);
    it_wss_write(&c, stop, sizeof(stop));
    size_t got = prod_read(&c, 16u << 20, &code);
    cr_log_info("heard after %zu bytes", got);
    cr_assert_eq(code, 1000, "no close within %zu bytes of the flood", got);
    it_wss_write(&c, close, sizeof(close));
    itws_wait_closes(1);
    cr_expect_eq(atomic_load(&itws_last_code), 1000);
    it_wss_free(&c);
    finish(srv);
}

#else
Test(ws_tls_idle, idle_hook_while_websocket_idle)
{
    cr_skip_test("built without TLS");
}
#endif
