/* test_ws_exec.c - hz_ws_accept from a handler on an executor worker: the
 * accept is recorded there and made on the loop at the replay. Over
 * HTTP/1.1 (raw client: the 101 with the subprotocol, permessage-deflate
 * and a field the handler set, then echo) and HTTP/2 (RFC 8441, the
 * scripted ws_h2_client.py); a refusal with an ordinary response from the
 * worker; max_websockets reached between the record and the replay; the
 * client gone before the replay (EOF over HTTP/1.1, RST_STREAM over
 * HTTP/2); the handler deadline (both); a stop while an accept waits for
 * its replay (both; the cap at the replay also over HTTP/2). Handlers that must be held wait in the
 * gate of exec_gate.h (until the test opens it or the request is abandoned); every server ends with
 * its counting allocator back at zero. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include "exec_gate.h"
#include "h2_support.h"
#include "itest.h"
#include "itest_ws.h"
#include "test_alloc.h"

#ifndef HZ_WS_H2_CLIENT
#define HZ_WS_H2_CLIENT "ws_h2_client.py"
#endif

static hz_count_alloc CA;
static hz_executor EXR;
static hz_server *srv;
static int port;
static atomic_int g_rc;      /* what the last hz_ws_accept returned on a worker */
static atomic_int g_worker;  /* 1: that handler ran on a worker */
static atomic_int g_accepts; /* hz_ws_accept calls that returned */
static atomic_int g_late;    /* hz_res_send after a recorded accept (HZ_ESTATE) */

/* The WebSocket route's handler, on a worker (ud non-NULL: held in the
 * gate after the accept was recorded, until the test opens it or the
 * request is abandoned). A blocking check may refuse: X-Auth: no. */
static void h_ws(hz_req *req, hz_res *res, void *ud)
{
    static const hz_ws_callbacks cb = {
        .on_open = itws_on_open, .on_message = itws_echo, .on_close = itws_on_close};
    static const char *const protos[] = {"chat"};
    atomic_store(&g_worker, hz_res_on_done(res, NULL, NULL) == HZ_ENOTSUP);
    hz_str auth = hz_req_header(req, "x-auth");
    if (auth.len == 2 && memcmp(auth.ptr, "no", 2) == 0) {
        hz_res_send(res, 403, "denied", 6);
        return;
    }
    hz_res_set_header(res, "X-Exec", "worker");
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.subprotocols = protos;
    o.nsubprotocols = 1;
    o.compression = 1;
    atomic_store(&g_rc, hz_ws_accept(req, res, &cb, &o, NULL));
    /* After the accept, the response is taken: later calls are refused. */
    if (atomic_load(&g_rc) == 0)
        atomic_store(&g_late, hz_res_send(res, 200, "x", 1));
    atomic_fetch_add(&g_accepts, 1);
    if (ud)
        it_gate_leave(it_gate_hold(req), NULL);
}

/* The same accept on the loop (an inline route). */
static void h_ws_inline(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {
        .on_open = itws_on_open, .on_message = itws_echo, .on_close = itws_on_close};
    hz_ws_accept(req, res, &cb, NULL, NULL);
}

static void h_root(hz_req *req, hz_res *res, void *ud)
{
    (void)req, (void)ud;
    hz_res_send(res, 200, "hello", 5);
}

/* The gate's counters, for ws_h2_client.py's execrst mode (inline): 200
 * once the counter ud points at is non-zero, else 202. */
static void h_count(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    const int *v = ud;
    pthread_mutex_lock(&it_gate_mu);
    int n = *v;
    pthread_mutex_unlock(&it_gate_mu);
    hz_res_send(res, n ? 200 : 202, NULL, 0);
}

/* Opens the gate, for ws_h2_client.py's execcap mode (inline). */
static void h_open(hz_req *req, hz_res *res, void *ud)
{
    (void)req, (void)ud;
    it_gate_open();
    hz_res_send(res, 200, NULL, 0);
}

static int g_held = 1;

/* A server with one loop and a 2-thread pool; h2: the listener also
 * speaks HTTP/2 (prior knowledge). */
static void start(unsigned max_ws, uint32_t handler_ms, int h2)
{
    itws_reset();
    atomic_store(&g_rc, 1);
    atomic_store(&g_worker, 0);
    atomic_store(&g_accepts, 0);
    atomic_store(&g_late, 1);
    it_exec_create(&srv, &EXR, &CA, 2, 0, handler_ms, max_ws);
    cr_assert_eq(it_route_flags(srv, "GET", "/ws/echo", h_ws, NULL, HZ_ROUTE_EXECUTOR), 0);
    cr_assert_eq(it_route_flags(srv, "GET", "/ws/held", h_ws, &g_held, HZ_ROUTE_EXECUTOR), 0);
    cr_assert_eq(hz_route(srv, "GET", "/ws/inline", h_ws_inline, NULL), 0);
    cr_assert_eq(hz_route(srv, "GET", "/", h_root, NULL), 0);
    cr_assert_eq(hz_route(srv, "GET", "/x/entered", h_count, &it_gate_entered), 0);
    cr_assert_eq(hz_route(srv, "GET", "/x/cancelled", h_count, &it_gate_saw_cancel), 0);
    cr_assert_eq(hz_route(srv, "GET", "/x/open", h_open, NULL), 0);
    if (h2) {
        port = h2s_listen(srv, NULL);
    } else {
        int idx = hz_server_listen(srv, "127.0.0.1", 0, NULL);
        cr_assert_geq(idx, 0);
        port = hz_server_port(srv, idx);
    }
    cr_assert_eq(hz_server_start(srv), 0);
}

static hz_metrics metrics(void)
{
    hz_metrics m;
    cr_assert_eq(hz_server_metrics(srv, &m), 0);
    return m;
}

/* Stops the server (unless the test did) and the pool: nothing left. */
static void finish(int stopped)
{
    it_exec_finish(srv, &EXR, stopped);
    it_assert_no_leaks(&CA);
}

/* Connects c and sends an upgrade for path (extra: more header lines). */
static void send_upgrade(it_conn *c, const char *path, const char *extra)
{
    char req[1024];
    cr_assert_eq(it_connect(c, port), 0);
    it_ws_upgrade_req(req, sizeof(req), path, extra);
    cr_assert_eq(it_sends(c, req), 0);
}

/* An upgrade for /ws/held, once its handler recorded the accept and is
 * held in the gate. */
static void upgrade_held(it_conn *c, const char *extra)
{
    send_upgrade(c, "/ws/held", extra);
    cr_assert_eq(it_gate_wait(&it_gate_entered, 1), 1, "the accept was not recorded");
}

/* Sends an upgrade for path (extra: more header lines) and reads the
 * answer's head. */
static void upgrade(it_conn *c, const char *path, const char *extra, it_resp *r)
{
    send_upgrade(c, path, extra);
    cr_assert_eq(it_ws_read_head(c, r, 5000), 0, "no answer to the upgrade on %s", path);
}

static void echo_once(it_conn *c, unsigned b0, const char *msg)
{
    it_ws_frame f;
    it_ws_send(c, b0, msg, strlen(msg), 1);
    cr_assert_eq(it_ws_read(c, &f, 5000), 0, "no echo of %s", msg);
    cr_assert_eq(f.b0, b0);
    cr_assert_eq(f.len, strlen(msg));
    cr_assert_eq(memcmp(f.data, msg, f.len), 0);
    free(f.data);
}

static void close_ws(it_conn *c)
{
    uint8_t p[2] = {0x03, 0xe8}; /* 1000 */
    it_ws_send(c, 0x88, p, 2, 1);
    it_ws_expect_close(c, 1000);
}

static void wait_status(it_conn *c, const char *path, const char *extra, int status)
{
    it_resp r;
    upgrade(c, path, extra, &r);
    cr_assert_eq(r.status, status, "%s: status %d, want %d: %s", path, r.status, status, r.head);
    it_resp_free(&r);
}

TestSuite(ws_exec, .timeout = 120);

/* The 101 is made on the loop from what the worker recorded: the accept
 * key, the subprotocol and permessage-deflate chosen there, the field the
 * handler set; then the WebSocket echoes (callbacks on the loop). */
Test(ws_exec, accept_over_http1_then_echo)
{
    start(0, 0, 0);
    it_conn c;
    it_resp r;
    it_ws_open(&c, port, "/ws/echo",
               "Sec-WebSocket-Protocol: x, chat\r\n"
               "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
               &r);
    cr_expect_eq(atomic_load(&g_rc), 0, "hz_ws_accept on the worker: %d", atomic_load(&g_rc));
    cr_expect_eq(atomic_load(&g_worker), 1, "the handler ran on a worker");
    cr_expect_eq(atomic_load(&g_late), HZ_ESTATE, "a response after the accept");
    /* it_header's value is one buffer: each is checked before the next. */
    cr_expect_str_eq(it_header(&r, "sec-websocket-protocol"), "chat");
    cr_expect(strstr(it_header(&r, "sec-websocket-extensions"), "permessage-deflate"),
              "extensions: %s", r.head);
    cr_expect_str_eq(it_header(&r, "x-exec"), "worker");
    it_resp_free(&r);
    echo_once(&c, 0x81, "hello from a worker's accept");
    echo_once(&c, 0x82, "binary too");
    cr_expect_eq(atomic_load(&itws_opens), 1);
    close_ws(&c);
    it_close(&c);
    itws_wait_closes(1);
    cr_expect_eq(atomic_load(&itws_last_code), 1000);
    cr_expect_eq(metrics().ws_opened, 1);
    finish(0);
}

/* A handler on a worker may still answer the upgrade request with an
 * ordinary response; the HTTP/1.1 connection goes on (keep-alive). */
Test(ws_exec, refusal_from_worker_is_an_ordinary_response)
{
    start(0, 0, 0);
    it_conn c;
    it_resp r;
    char req[1024];
    cr_assert_eq(it_connect(&c, port), 0);
    for (int round = 0; round < 2; round++) {
        it_ws_upgrade_req(req, sizeof(req), "/ws/echo", "X-Auth: no\r\n");
        cr_assert_eq(it_sends(&c, req), 0);
        cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
        cr_assert_eq(r.status, 403, "status %d: %s", r.status, r.head);
        cr_expect_str_eq(r.body, "denied");
        it_resp_free(&r);
        cr_assert_eq(it_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
        cr_assert_eq(r.status, 200);
        it_resp_free(&r);
    }
    it_close(&c);
    cr_expect_eq(atomic_load(&itws_opens), 0);
    finish(0);
}

/* A bad handshake is refused on the worker, as on the loop. */
Test(ws_exec, bad_handshake_refused_on_worker)
{
    start(0, 0, 0);
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, port), 0);
    cr_assert_eq(it_sends(&c, "GET /ws/echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Version: 12\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
                 0);
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_expect_eq(r.status, 426, "status %d: %s", r.status, r.head);
    const char *v = it_header(&r, "sec-websocket-version");
    cr_expect(v && !strcmp(v, "13"));
    it_resp_free(&r);
    cr_expect_eq(atomic_load(&g_rc), HZ_EINVAL);
    it_close(&c);
    finish(0);
}

/* max_websockets (1) is taken by a loop-side WebSocket between the record
 * on the worker (0) and the replay: the replay answers 503, as the loop
 * path does, and on_open never runs. With the cap full before, a worker's
 * accept is refused at once (HZ_EBUSY, 503). */
Test(ws_exec, cap_reached_at_replay)
{
    start(1, 0, 0);
    it_conn a, b, d;
    it_resp r;
    upgrade_held(&a, NULL);
    cr_expect_eq(atomic_load(&g_rc), 0);
    it_ws_open(&b, port, "/ws/inline", NULL, NULL); /* takes the only slot */
    it_gate_open();
    cr_assert_eq(it_ws_read_head(&a, &r, 5000), 0);
    cr_expect_eq(r.status, 503, "status %d: %s", r.status, r.head);
    it_resp_free(&r);
    it_close(&a);
    wait_status(&d, "/ws/echo", NULL, 503);
    cr_expect_eq(atomic_load(&g_rc), HZ_EBUSY);
    it_close(&d);
    echo_once(&b, 0x81, "the one open");
    cr_expect_eq(atomic_load(&itws_opens), 1);
    close_ws(&b);
    it_close(&b);
    itws_wait_closes(1);
    /* The slot is free again: a worker's accept opens. */
    it_ws_open(&d, port, "/ws/echo", NULL, NULL);
    echo_once(&d, 0x81, "after the cap");
    close_ws(&d);
    it_close(&d);
    itws_wait_closes(2);
    finish(0);
}

/* The client leaves after the accept was recorded, before the replay: the
 * handler learns it (hz_req_cancelled), the WebSocket never opens and
 * everything recorded is freed. */
Test(ws_exec, client_gone_before_replay)
{
    start(0, 0, 0);
    it_conn a;
    upgrade_held(&a, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    cr_expect_eq(atomic_load(&g_rc), 0);
    it_close(&a);
    cr_assert_eq(it_gate_wait(&it_gate_saw_cancel, 1), 1, "the handler saw no cancellation");
    cr_assert_eq(it_gate_wait(&it_gate_finished, 1), 1);
    /* The server goes on. */
    it_conn b;
    it_ws_open(&b, port, "/ws/echo", NULL, NULL);
    echo_once(&b, 0x81, "next");
    close_ws(&b);
    it_close(&b);
    itws_wait_closes(1);
    finish(0);
    cr_expect_eq(atomic_load(&itws_opens), 1, "only the second WebSocket opened");
}

/* The handler overruns timeouts.handler after recording the accept: 503
 * as for any executor route; the late accept is dropped. */
Test(ws_exec, handler_deadline_answers_503)
{
    start(0, 300, 0);
    it_conn a;
    it_resp r;
    upgrade(&a, "/ws/held", NULL, &r);
    cr_expect_eq(r.status, 503, "status %d: %s", r.status, r.head);
    it_resp_free(&r);
    cr_assert_eq(it_gate_wait(&it_gate_finished, 1), 1);
    cr_expect_eq(it_gate_saw_cancel, 1);
    cr_expect_eq(atomic_load(&g_rc), 0);
    it_close(&a);
    finish(0);
    cr_expect_eq(atomic_load(&itws_opens), 0);
}

/* A stop begins while an accept waits for its replay: the loop waits for
 * the job, the replay answers 503 (no WebSocket is opened to be closed at
 * once), and the server ends with nothing left. */
Test(ws_exec, stop_while_accept_queued)
{
    start(0, 0, 0);
    it_conn a, idle;
    it_resp r;
    /* An idle keep-alive connection: closed when the loop begins stopping. */
    cr_assert_eq(it_connect(&idle, port), 0);
    cr_assert_eq(it_sends(&idle, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(&idle, &r, 0, 5000), 0);
    it_resp_free(&r);
    upgrade_held(&a, NULL);
    cr_assert_eq(hz_server_stop(srv, 5000), 0);
    cr_assert_eq(it_wait_closed(&idle, 5000), 1, "the loop did not begin stopping");
    it_close(&idle);
    it_gate_open();
    cr_assert_eq(it_ws_read_head(&a, &r, 5000), 0);
    cr_expect_eq(r.status, 503, "status %d: %s", r.status, r.head);
    it_resp_free(&r);
    it_close(&a);
    finish(1);
    cr_expect_eq(atomic_load(&itws_opens), 0);
}

/* ---- HTTP/2 (RFC 8441) ------------------------------------------------------ */

/* A server speaking HTTP/2 too (start's max_ws and handler_ms), and
 * ws_h2_client.py's mode run against it to its end. */
static void run_h2(unsigned max_ws, uint32_t handler_ms, const char *mode)
{
    h2s_need();
    start(max_ws, handler_ms, 1);
    char out[4096];
    int rc = h2s_script_run(HZ_WS_H2_CLIENT, port, mode, 90, out, sizeof(out));
    cr_assert_eq(rc, 0, "%s: %s", mode, out);
}

/* The extended CONNECT's 200 (no END_STREAM) from the worker's record,
 * with the subprotocol, permessage-deflate and X-Exec; then echo, the
 * close handshake and a normal request on the connection. */
Test(ws_exec, accept_over_http2_then_echo)
{
    run_h2(0, 0, "exec");
    itws_wait_closes(1);
    cr_expect_eq(atomic_load(&g_rc), 0);
    cr_expect_eq(atomic_load(&g_worker), 1);
    cr_expect_eq(atomic_load(&itws_opens), 1);
    cr_expect_eq(metrics().ws_over_http2, 1);
    finish(0);
}

/* max_websockets over HTTP/2 with accepts from workers: 503 on the second
 * stream. */
Test(ws_exec, cap_over_http2)
{
    run_h2(1, 0, "cap");
    finish(0);
}

/* RST_STREAM after the accept was recorded, before the replay: the handler
 * learns it, the WebSocket never opens, the connection goes on. */
Test(ws_exec, stream_reset_before_replay_over_http2)
{
    run_h2(0, 0, "execrst");
    cr_expect_eq(it_gate_wait(&it_gate_finished, 1), 1);
    itws_wait_closes(1);
    cr_expect_eq(atomic_load(&itws_opens), 1, "only the WebSocket after the reset opened");
    finish(0);
}

/* The handler overruns timeouts.handler after recording the accept, over
 * HTTP/2: 503 on the stream; the late accept is dropped. */
Test(ws_exec, handler_deadline_over_http2)
{
    run_h2(0, 300, "execdeadline");
    cr_assert_eq(it_gate_wait(&it_gate_finished, 1), 1);
    cr_expect_eq(it_gate_saw_cancel, 1);
    cr_expect_eq(atomic_load(&g_rc), 0);
    finish(0);
    cr_expect_eq(atomic_load(&itws_opens), 0);
}

/* max_websockets (1) over HTTP/2: stream 1's accept is recorded on the
 * worker (0), an inline WebSocket on stream 3 takes the slot, then the
 * gate opens: the replay answers 503 on stream 1, on_open never runs for
 * it, and the connection and its WebSocket go on. */
Test(ws_exec, cap_reached_at_replay_over_http2)
{
    run_h2(1, 0, "execcap");
    cr_expect_eq(atomic_load(&g_rc), 0, "the worker's accept: %d", atomic_load(&g_rc));
    cr_expect_eq(atomic_load(&g_accepts), 1);
    cr_assert_eq(it_gate_wait(&it_gate_finished, 1), 1);
    cr_expect_eq(it_gate_saw_cancel, 0);
    itws_wait_closes(1);
    cr_expect_eq(atomic_load(&itws_opens), 1, "only the inline WebSocket opened");
    cr_expect_eq(metrics().ws_opened, 1);
    finish(0);
}

/* A graceful stop while stream 1's accept waits for its replay: the loop
 * waits for the job, stream 1 gets 503 (or is reset, as the stop path
 * may), never a 200 (the gate opens once the client saw the GOAWAY: the
 * loop is stopping by then); the stop ends well within its deadline (the handler
 * was not cut: no cancellation) with nothing left. */
Test(ws_exec, stop_while_accept_queued_over_http2)
{
    h2s_need();
    start(0, 0, 1);
    FILE *p = h2s_script_at(HZ_WS_H2_CLIENT, port, "execstop", 60, "inside");
    long long t0 = it_now_ms();
    cr_assert_eq(hz_server_stop(srv, 5000), 0);
    /* The replay must come after the loop began stopping: its GOAWAY. */
    h2s_script_expect(p, "goaway");
    it_gate_open();
    char out[4096];
    h2s_script_done(p, out, sizeof(out));
    hz_server_wait(srv);
    long long ms = it_now_ms() - t0;
    cr_expect_lt(ms, 5000, "the stop took %lld ms: %s", ms, out);
    cr_expect_eq(it_gate_finished, 1);
    cr_expect_eq(it_gate_saw_cancel, 0, "the stop deadline cut the handler");
    cr_expect_eq(atomic_load(&g_rc), 0);
    finish(1);
    cr_expect_eq(atomic_load(&itws_opens), 0);
}
