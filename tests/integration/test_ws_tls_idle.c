/* test_ws_tls_idle.c - a WebSocket over TLS (wss, HTTP/1.1 upgrade) and
 * the TLS backend's idle hook: the compiled-in backend's table with its
 * idle slot counted, a raw OpenSSL client. The hook must be called at
 * least once while the WebSocket is idle (not necessarily at once: the
 * core may delay it), and the WebSocket must keep working after it (the
 * backend may have dropped its record buffers). Also wss with the accept
 * made from an executor worker, whose origin check must know the
 * connection is TLS. Every server ends with its counting allocator back at
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

#else
Test(ws_tls_idle, idle_hook_while_websocket_idle)
{
    cr_skip_test("built without TLS");
}
#endif
