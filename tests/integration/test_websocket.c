/* test_websocket.c - WebSocket connections end to end over raw sockets:
 * the upgrade and its refusals, echo, fragmentation with interleaved
 * control frames, the protocol failures and their close codes (1002,
 * 1007, 1009), the closing handshake from either side and its timeout,
 * keep-alive pings and the idle timeout, the output budget with a slow
 * reader (memory bounded: a counting allocator), sends from another
 * thread, shared messages, the connection cap and the graceful stop. */
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <criterion/criterion.h>
#include "itest.h"
#include "itest_ws.h"
#include "test_alloc.h"

/* ---- the server ------------------------------------------------------------ */

static void h_echo(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {
        .on_open = itws_on_open, .on_message = itws_echo, .on_close = itws_on_close};
    static const char *const protos[] = {"chat.v2", "chat"};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.max_frame = 32768;
    o.max_message = 65536;
    o.subprotocols = protos;
    o.nsubprotocols = 2;
    hz_res_set_header(res, "Set-Cookie", "s=1");
    hz_ws_accept(req, res, &cb, &o, NULL);
}

/* Closes with 4000 "bye" at the first message. */
static void close_msg(hz_ws *ws, int op, const void *d, size_t len, int fin, void *ud)
{
    (void)op, (void)d, (void)len, (void)fin, (void)ud;
    cr_assert_eq(hz_ws_close(ws, 4000, "bye", 3), 0);
    cr_assert_eq(hz_ws_close(ws, 1000, NULL, 0), HZ_ECLOSED);
    cr_assert_eq(hz_ws_send(ws, HZ_WS_TEXT, "x", 1, 0), HZ_ECLOSED);
}

static void h_close(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {.on_message = close_msg, .on_close = itws_on_close};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.close_timeout_ms = 300;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

static void h_origin(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const char *const ok[] = {"https://good.example"};
    if (!hz_ws_origin_ok(req, ok, 1)) {
        hz_res_send(res, 403, "no", 2);
        return;
    }
    static const hz_ws_callbacks cb = {.on_message = itws_echo};
    hz_ws_accept(req, res, &cb, NULL, NULL);
}

static void h_ping(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {.on_message = itws_echo, .on_close = itws_on_close};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.ping_interval_ms = 100;
    o.idle_timeout_ms = 500;
    o.close_timeout_ms = 300;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

/* Flood (itws_h_flood): FLOOD_N messages of 16 KiB (64 MiB: more than the
 * kernel's socket buffers hold). */
#define FLOOD_N 4096
#define FLOOD_MSG ITWS_FLOOD_MSG
#define FLOOD_BUDGET ITWS_FLOOD_BUDGET
static const int g_flood_n = FLOOD_N;

/* Echo with a small budget: reading pauses while the echo is not read. */
static void h_slow(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {.on_message = itws_echo, .on_close = itws_on_close};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.output_budget = FLOOD_BUDGET;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

/* Another thread sends THREAD_N numbered messages, waiting for on_drain
 * when refused, then closes. */
#define THREAD_N 3000
typedef struct tctx {
    hz_ws *ws;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int drained;
    pthread_t th;
} tctx;
static tctx g_t = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *sender(void *arg)
{
    tctx *t = arg;
    char m[64];
    for (int i = 0; i < THREAD_N;) {
        int n = snprintf(m, sizeof(m), "msg %d", i);
        pthread_mutex_lock(&t->mu);
        t->drained = 0;
        pthread_mutex_unlock(&t->mu);
        int rc = hz_ws_send(t->ws, HZ_WS_TEXT, m, (size_t)n, 0);
        if (rc == HZ_EAGAIN) {
            pthread_mutex_lock(&t->mu);
            while (!t->drained)
                pthread_cond_wait(&t->cv, &t->mu);
            pthread_mutex_unlock(&t->mu);
            continue;
        }
        if (rc != 0)
            break;
        i++;
    }
    hz_ws_close(t->ws, 1000, "done", 4);
    hz_ws_release(t->ws);
    return NULL;
}

static void thread_drain(hz_ws *ws, void *ud)
{
    (void)ws;
    tctx *t = ud;
    pthread_mutex_lock(&t->mu);
    t->drained = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void thread_open(hz_ws *ws, void *ud)
{
    tctx *t = ud;
    t->ws = ws;
    hz_ws_retain(ws);
    cr_assert_eq(pthread_create(&t->th, NULL, sender, t), 0);
}

static void h_thread(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {
        .on_open = thread_open, .on_drain = thread_drain, .on_close = itws_on_close};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.output_budget = 4096; /* refusals happen */
    hz_ws_accept(req, res, &cb, &o, &g_t);
}

/* Broadcast: one shared message queued on the connection 3 times. */
static void bcast_open(hz_ws *ws, void *ud)
{
    (void)ud;
    hz_ws_msg *m;
    cr_assert_eq(hz_ws_msg_create(&m, NULL, HZ_WS_TEXT, "shared!", 7), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(hz_ws_send_msg(ws, m), 0);
    hz_ws_msg_release(m);
}

static void h_bcast(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {.on_open = bcast_open};
    hz_ws_accept(req, res, &cb, NULL, NULL);
}

/* Streamed delivery: each piece is echoed as its own fragment. */
static void stream_msg(hz_ws *ws, int op, const void *d, size_t len, int fin, void *ud)
{
    (void)ud;
    cr_assert_eq(hz_ws_send(ws, op, d, len, fin ? 0 : HZ_WS_MORE), 0);
}

static void h_stream(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {.on_message = stream_msg};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.stream = 1;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

/* Compression on: messages starting with "raw" go out uncompressed. */
static void deflate_msg(hz_ws *ws, int op, const void *d, size_t len, int fin, void *ud)
{
    (void)fin, (void)ud;
    unsigned fl = len >= 3 && !memcmp(d, "raw", 3) ? HZ_WS_NO_COMPRESS : 0;
    cr_assert_eq(hz_ws_send(ws, op, d, len, fl), 0);
}

static void h_deflate(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {.on_message = deflate_msg};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.compression = 1;
    o.server_max_window_bits = 10;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

static hz_count_alloc g_alloc;
static void h_bigb(hz_req *req, hz_res *res, void *ud);
static void h_fair(hz_req *req, hz_res *res, void *ud);

static void start(it_server *s, unsigned max_ws)
{
    hz_config cfg;
    it_config_counted(&cfg, &g_alloc);
    cfg.max_websockets = max_ws;
    itws_reset();
    cr_assert_eq(hz_server_create(&s->srv, &cfg), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/echo", h_echo, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/close", h_close, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/origin", h_origin, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/ping", h_ping, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/flood", itws_h_flood, (void *)&g_flood_n), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/slow", h_slow, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/thread", h_thread, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/bcast", h_bcast, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/stream", h_stream, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/deflate", h_deflate, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/bigb", h_bigb, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/fair", h_fair, NULL), 0);
    int idx = hz_server_listen(s->srv, "127.0.0.1", 0, NULL);
    cr_assert_geq(idx, 0);
    s->port = hz_server_port(s->srv, idx);
    cr_assert_eq(hz_server_start(s->srv), 0);
}

static void stop(it_server *s)
{
    it_stop(s);
    /* Every connection, buffer, chunk and zlib stream was given back. */
    it_assert_no_leaks(&g_alloc);
}

TestSuite(websocket, .timeout = 60);

Test(websocket, upgrade_and_echo)
{
    it_server s;
    it_conn c;
    it_resp r;
    it_ws_frame f;
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/echo", "Sec-WebSocket-Protocol: x, chat\r\n", &r);
    cr_assert_str_eq(it_header(&r, "sec-websocket-protocol"), "chat");
    cr_assert_str_eq(it_header(&r, "set-cookie"), "s=1");
    cr_assert_str_eq(it_header(&r, "sec-websocket-extensions"), "", "not offered: not used");
    it_resp_free(&r);
    it_ws_send(&c, 0x81, "hello", 5, 1);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x81);
    cr_assert_str_eq((char *)f.data, "hello");
    free(f.data);
    char big[20000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)i;
    it_ws_send(&c, 0x82, big, sizeof(big), 1);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x82);
    cr_assert_eq(f.len, sizeof(big));
    cr_assert_eq(memcmp(f.data, big, sizeof(big)), 0);
    free(f.data);
    /* Client closes: echoed, then the server closes TCP. */
    it_ws_send(&c, 0x88, "\x03\xe8", 2, 1);
    it_ws_expect_close(&c, 1000);
    it_close(&c);
    stop(&s);
    cr_assert_eq(atomic_load(&itws_last_code), 1000);
    cr_assert_eq(atomic_load(&itws_opens), 1);
}

Test(websocket, fragments_with_interleaved_pings)
{
    it_server s;
    it_conn c;
    it_ws_frame f;
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/echo", NULL, NULL);
    it_ws_send(&c, 0x01, "frag", 4, 1);         /* text, not FIN */
    it_ws_send(&c, 0x89, "p1", 2, 1);           /* ping between fragments */
    it_ws_send(&c, 0x00, "ment", 4, 1);         /* continuation */
    it_ws_send(&c, 0x8a, "unsolicited", 11, 1); /* a pong is ignored */
    it_ws_send(&c, 0x89, "", 0, 1);
    it_ws_send(&c, 0x80, "ed \xc3\xa9", 5, 1); /* FIN, UTF-8 across frames */
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x8a, "pong first");
    cr_assert_str_eq((char *)f.data, "p1");
    free(f.data);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x8a);
    cr_assert_eq(f.len, 0);
    free(f.data);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x81);
    cr_assert_str_eq((char *)f.data, "fragmented \xc3\xa9");
    free(f.data);
    it_close(&c);
    stop(&s);
}

Test(websocket, byte_by_byte)
{
    it_server s;
    it_conn c;
    it_ws_frame f;
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/echo", NULL, NULL);
    /* A frame trickled one byte per write still arrives whole. */
    uint8_t fr[] = {0x81, 0x83, 1, 2, 3, 4, 'a' ^ 1, 'b' ^ 2, 'c' ^ 3};
    for (size_t i = 0; i < sizeof(fr); i++) {
        cr_assert_eq(it_send(&c, fr + i, 1), 0);
        usleep(2000); /* separate segments, not synchronisation */
    }
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_str_eq((char *)f.data, "abc");
    free(f.data);
    it_close(&c);
    stop(&s);
}

static void expect_fail(const char *what, unsigned b0, const void *p, size_t len, int mask,
                        unsigned code)
{
    it_server s;
    it_conn c;
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/echo", NULL, NULL);
    it_ws_send(&c, b0, p, len, mask);
    it_ws_expect_close(&c, code);
    it_close(&c);
    stop(&s);
    cr_assert_eq(atomic_load(&itws_last_code), (int)code, "%s: itws_on_close got %d", what,
                 atomic_load(&itws_last_code));
}

Test(websocket, unmasked_frame_1002)
{
    expect_fail("unmasked", 0x81, "hi", 2, 0, 1002);
}

Test(websocket, reserved_opcode_1002)
{
    expect_fail("opcode 3", 0x83, "hi", 2, 1, 1002);
}

Test(websocket, rsv_bits_1002)
{
    /* RSV1 without permessage-deflate negotiated. */
    expect_fail("rsv1", 0xc1, "hi", 2, 1, 1002);
}

Test(websocket, fragmented_control_1002)
{
    expect_fail("ping without FIN", 0x09, "hi", 2, 1, 1002);
}

Test(websocket, invalid_utf8_1007)
{
    expect_fail("utf-8", 0x81, "ab\xc0\xaf", 4, 1, 1007);
}

Test(websocket, frame_too_big_1009)
{
    static char big[40000];
    expect_fail("frame over 32 KiB", 0x82, big, sizeof(big), 1, 1009);
}

Test(websocket, message_too_big_1009)
{
    it_server s;
    it_conn c;
    static char part[30000];
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/echo", NULL, NULL);
    it_ws_send(&c, 0x02, part, sizeof(part), 1);
    it_ws_send(&c, 0x00, part, sizeof(part), 1);
    it_ws_send(&c, 0x80, part, sizeof(part), 1); /* 90000 > 65536 */
    it_ws_expect_close(&c, 1009);
    it_close(&c);
    stop(&s);
}

Test(websocket, server_closes_first)
{
    it_server s;
    it_conn c;
    it_ws_frame f;
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/close", NULL, NULL);
    it_ws_send(&c, 0x81, "x", 1, 1);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x88);
    cr_assert_eq(it_ws_close_code(&f), 4000);
    cr_assert_eq(f.len, 5);
    cr_assert_eq(memcmp(f.data + 2, "bye", 3), 0);
    free(f.data);
    /* Our answer ends it: the server closes TCP, at once (not by the
     * close timeout). */
    it_ws_send(&c, 0x88, "\x0f\xa0", 2, 1);
    cr_assert(it_wait_closed(&c, 3000));
    it_close(&c);
    hz_metrics m;
    hz_server_metrics(s.srv, &m);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_NORMAL], 1);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_TIMEOUT], 0);
    cr_assert_eq(m.ws_close[HZ_WS_CLOSE_OTHER], 1, "4000 is counted as other");
    stop(&s);
    cr_assert_eq(atomic_load(&itws_last_code), 4000);
}

Test(websocket, close_timeout)
{
    it_server s;
    it_conn c;
    it_ws_frame f;
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/close", NULL, NULL);
    it_ws_send(&c, 0x81, "x", 1, 1);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x88);
    free(f.data);
    /* No answer: the server gives up after close_timeout_ms (300). */
    long long t0 = it_now_ms();
    cr_assert(it_wait_closed(&c, 3000));
    cr_assert_geq(it_now_ms() - t0, 200);
    it_close(&c);
    hz_metrics m;
    hz_server_metrics(s.srv, &m);
    cr_assert_eq(m.ws_open, 0);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_TIMEOUT], 1);
    stop(&s);
}

Test(websocket, ping_keepalive_and_idle_timeout)
{
    it_server s;
    it_conn c;
    it_ws_frame f;
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/ping", NULL, NULL);
    /* Silent peer: pings every 100 ms, then the idle close at 500 ms. */
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x89, "a keep-alive ping");
    free(f.data);
    it_ws_send(&c, 0x8a, "", 0, 1); /* pong: alive */
    int pings = 1;
    for (;;) {
        cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
        if (f.b0 != 0x89)
            break;
        pings++;
        free(f.data);
    }
    cr_assert_eq(f.b0, 0x88);
    cr_assert_eq(it_ws_close_code(&f), 1001);
    free(f.data);
    cr_assert_geq(pings, 2);
    cr_assert(it_wait_closed(&c, 3000), "close_timeout after the idle close");
    it_close(&c);
    stop(&s);
}

Test(websocket, refusals)
{
    it_server s;
    it_conn c;
    it_resp r;
    char req[1024];
    start(&s, 100);
    /* Version 12: 426 with the version we speak. */
    cr_assert_eq(it_connect(&c, s.port), 0);
    snprintf(req, sizeof(req),
             "GET /ws/echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 12\r\n\r\n",
             IT_WS_KEY);
    cr_assert_eq(it_sends(&c, req), 0);
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    cr_assert_eq(r.status, 426);
    cr_assert_str_eq(it_header(&r, "sec-websocket-version"), "13");
    it_resp_free(&r);
    /* A bad key: 400; the connection stays HTTP/1.1. */
    cr_assert_eq(it_sends(&c, "GET /ws/echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: short\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n"),
                 0);
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    cr_assert_eq(r.status, 400);
    it_resp_free(&r);
    /* No upgrade at all: 426. */
    cr_assert_eq(it_sends(&c, "GET /ws/echo HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    cr_assert_eq(r.status, 426);
    it_resp_free(&r);
    it_close(&c);
    /* Origins. */
    cr_assert_eq(it_connect(&c, s.port), 0);
    it_ws_upgrade_req(req, sizeof(req), "/ws/origin", "Origin: https://evil.example\r\n");
    cr_assert_eq(it_sends(&c, req), 0);
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    cr_assert_eq(r.status, 403);
    it_resp_free(&r);
    it_close(&c);
    it_ws_open(&c, s.port, "/ws/origin", "Origin: https://GOOD.example:443\r\n", NULL);
    it_close(&c);
    stop(&s);
}

Test(websocket, pipelined_request_before_upgrade_and_leftover_bytes)
{
    it_server s;
    it_conn c;
    it_resp r;
    it_ws_frame f;
    char req[1024];
    start(&s, 100);
    cr_assert_eq(it_connect(&c, s.port), 0);
    /* A request for a missing path, the upgrade, and a frame, in one write:
     * the 404 comes first, then the 101, then the echo. */
    it_ws_upgrade_req(req, sizeof(req), "/ws/echo", NULL);
    char all[2048];
    int n = snprintf(all, sizeof(all), "GET /none HTTP/1.1\r\nHost: a\r\n\r\n%s", req);
    memcpy(all + n, "\x81\x82\0\0\0\0ok", 8);
    cr_assert_eq(it_send(&c, all, (size_t)n + 8), 0);
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    cr_assert_eq(r.status, 404);
    it_resp_free(&r);
    cr_assert_eq(it_ws_read_head(&c, &r, 3000), 0);
    cr_assert_eq(r.status, 101);
    it_resp_free(&r);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_str_eq((char *)f.data, "ok");
    free(f.data);
    it_close(&c);
    stop(&s);
}

Test(websocket, connection_cap_503)
{
    it_server s;
    it_conn a, b;
    it_resp r;
    char req[1024];
    start(&s, 1);
    it_ws_open(&a, s.port, "/ws/echo", NULL, NULL);
    cr_assert_eq(it_connect(&b, s.port), 0);
    it_ws_upgrade_req(req, sizeof(req), "/ws/echo", NULL);
    cr_assert_eq(it_sends(&b, req), 0);
    cr_assert_eq(it_read_response(&b, &r, 0, 3000), 0);
    cr_assert_eq(r.status, 503);
    it_resp_free(&r);
    it_close(&b);
    /* Once the first is gone, there is room again. */
    it_ws_send(&a, 0x88, "", 0, 1);
    it_ws_expect_close(&a, 0);
    it_close(&a);
    it_ws_open(&b, s.port, "/ws/echo", NULL, NULL);
    it_close(&b);
    stop(&s);
}

/* A server that floods a reader that does not read: once the kernel's
 * socket buffers are full the sends are refused, the library's memory stays
 * within the budget, and on_drain resumes the flood when the reader reads. */
Test(websocket, slow_reader_backpressure)
{
    it_server s;
    it_conn c;
    it_ws_frame f;
    start(&s, 100);
    long base = atomic_load(&g_alloc.live_bytes);
    it_ws_open(&c, s.port, "/ws/flood", NULL, NULL);
    /* Wait until the flood stalls: no progress for 300 ms. */
    long peak = 0;
    int last = -1;
    long long still = it_now_ms();
    while (it_now_ms() - still < 300) {
        long live = atomic_load(&g_alloc.live_bytes);
        if (live > peak)
            peak = live;
        int n = atomic_load(&itws_flood_sent);
        if (n != last) {
            last = n;
            still = it_now_ms();
        }
        usleep(5000);
    }
    cr_assert_lt(last, FLOOD_N, "a reader that does not read must hold the server back");
    /* The connection (struct, parser, buffers: under 64 KiB) plus the queue:
     * the budget and the one message that may cross it, and what a
     * completion poller holds beyond the part the budget counts. */
    cr_assert_lt(peak - base, 65536 + FLOOD_BUDGET + FLOOD_MSG + ITWS_POLLER_UNCOUNTED + 64,
                 "grew by %ld bytes", peak - base);
    for (int i = 0; i < FLOOD_N; i++) {
        cr_assert_eq(it_ws_read(&c, &f, 5000), 0, "message %d", i);
        cr_assert_eq(f.len, FLOOD_MSG);
        free(f.data);
    }
    cr_assert_gt(atomic_load(&itws_flood_calls), 1);
    it_close(&c);
    stop(&s);
}

/* A peer that writes without reading: send_one(c, i) while the socket
 * takes more within 300 ms, at most max times. The server's live bytes are
 * sampled after each send: their highest in *peak. Returns the sends. */
static int send_until_stalled(it_conn *c, int max, void (*send_one)(it_conn *c, int i), long *peak)
{
    int sent = 0;
    *peak = 0;
    for (; sent < max; sent++) {
        struct pollfd q = {.fd = c->fd, .events = POLLOUT};
        if (poll(&q, 1, 300) <= 0)
            break;
        send_one(c, sent);
        long live = atomic_load(&g_alloc.live_bytes);
        if (live > *peak)
            *peak = live;
    }
    return sent;
}

/* 64 KiB binary messages of zeros. */
static void send_64k(it_conn *c, int i)
{
    static char blk[65536];
    (void)i;
    it_ws_send(c, 0x82, blk, sizeof(blk), 1);
}

/* An echo peer that sends without reading: the server stops reading once
 * its echo queue is over budget, so its memory does not follow the input
 * (what it does not read waits in the kernel's buffers, which fill up). */
Test(websocket, slow_reader_echo_pauses_input)
{
    it_server s;
    it_conn c;
    it_ws_frame f;
    start(&s, 100);
    long base = atomic_load(&g_alloc.live_bytes);
    it_ws_open(&c, s.port, "/ws/slow", NULL, NULL);
    long peak;
    int sent = send_until_stalled(&c, 1024, send_64k, &peak); /* 64 MiB at most */
    cr_assert_lt(sent, 1024, "the server must stop reading");
    /* Connection state (under 64 KiB), the read buffer (a whole 64 KiB
     * frame is read at once: it doubles to 128 KiB), the message being
     * assembled (64 KiB), the queue (budget + one message) and what a
     * completion poller holds beyond the part the budget counts. */
    cr_assert_lt(peak - base,
                 65536 + 131072 + 65536 + FLOOD_BUDGET + 65536 + ITWS_POLLER_UNCOUNTED + 64,
                 "grew by %ld", peak - base);
    for (int i = 0; i < sent; i++) {
        cr_assert_eq(it_ws_read(&c, &f, 5000), 0, "echo %d of %d", i, sent);
        cr_assert_eq(f.len, 65536);
        free(f.data);
    }
    it_close(&c);
    stop(&s);
}

Test(websocket, send_from_another_thread)
{
    it_server s;
    it_conn c;
    it_ws_frame f;
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/thread", NULL, NULL);
    char want[64];
    for (int i = 0; i < THREAD_N; i++) {
        cr_assert_eq(it_ws_read(&c, &f, 5000), 0, "message %d", i);
        snprintf(want, sizeof(want), "msg %d", i);
        cr_assert_str_eq((char *)f.data, want);
        free(f.data);
        if (i % 500 == 0)
            usleep(20000); /* let the 4 KiB budget fill: refusals and drains */
    }
    cr_assert_eq(it_ws_read(&c, &f, 5000), 0);
    cr_assert_eq(f.b0, 0x88);
    cr_assert_eq(it_ws_close_code(&f), 1000);
    free(f.data);
    it_ws_send(&c, 0x88, "\x03\xe8", 2, 1);
    cr_assert(it_wait_closed(&c, 3000));
    pthread_join(g_t.th, NULL);
    it_close(&c);
    stop(&s);
}

Test(websocket, shared_message)
{
    it_server s;
    it_conn c;
    it_ws_frame f;
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/bcast", NULL, NULL);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
        cr_assert_eq(f.b0, 0x81);
        cr_assert_str_eq((char *)f.data, "shared!");
        free(f.data);
    }
    it_close(&c);
    stop(&s);
}

Test(websocket, streamed_pieces)
{
    it_server s;
    it_conn c;
    it_ws_frame f;
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/stream", NULL, NULL);
    it_ws_send(&c, 0x02, "ab", 2, 1);
    it_ws_send(&c, 0x80, "cd", 2, 1);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x02, "first fragment");
    cr_assert_str_eq((char *)f.data, "ab");
    free(f.data);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x80, "continuation with FIN");
    cr_assert_str_eq((char *)f.data, "cd");
    free(f.data);
    /* Text with a character cut between the fragments: the last piece
     * alone is not UTF-8, yet it ends a valid message. */
    it_ws_send(&c, 0x01, "\xc3", 1, 1);
    it_ws_send(&c, 0x80, "\xa9", 1, 1);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x01);
    free(f.data);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x80);
    cr_assert(f.data[0] == 0xa9, "the last piece");
    free(f.data);
    it_close(&c);
    stop(&s);
}

Test(websocket, graceful_stop_sends_1001)
{
    it_server s;
    it_conn c;
    it_ws_frame f;
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/echo", NULL, NULL);
    hz_server_stop(s.srv, 2000);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x88);
    cr_assert_eq(it_ws_close_code(&f), 1001);
    free(f.data);
    it_ws_send(&c, 0x88, "\x03\xe9", 2, 1);
    cr_assert(it_wait_closed(&c, 3000));
    long long t0 = it_now_ms();
    hz_server_wait(s.srv);
    cr_assert_lt(it_now_ms() - t0, 1500, "the stop did not wait for the deadline");
    hz_server_destroy(s.srv);
    it_close(&c);
    cr_assert_eq(atomic_load(&g_alloc.live_blocks), 0);
}

/* permessage-deflate negotiated: big messages go out compressed (RSV1),
 * small ones (compress_min) and opted-out ones (HZ_WS_NO_COMPRESS) not. */
Test(websocket, compression_and_opt_out)
{
    it_server s;
    it_conn c;
    it_resp r;
    it_ws_frame f;
    static char big[4000];
    start(&s, 100);
    it_ws_open(
        &c, s.port, "/ws/deflate",
        "Sec-WebSocket-Extensions: x-unknown, permessage-deflate; client_max_window_bits\r\n", &r);
    /* The first acceptable offer; our window as configured. */
    cr_assert_str_eq(it_header(&r, "sec-websocket-extensions"),
                     "permessage-deflate; server_max_window_bits=10");
    it_resp_free(&r);
    memset(big, 'a', sizeof(big));
    it_ws_send(&c, 0x81, big, sizeof(big), 1);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0xc1, "compressed: RSV1");
    cr_assert_lt(f.len, 100, "4000 'a' compress well");
    free(f.data);
    it_ws_send(&c, 0x81, "tiny", 4, 1);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x81, "under compress_min: plain");
    cr_assert_str_eq((char *)f.data, "tiny");
    free(f.data);
    memcpy(big, "raw", 3);
    it_ws_send(&c, 0x81, big, sizeof(big), 1);
    cr_assert_eq(it_ws_read(&c, &f, 3000), 0);
    cr_assert_eq(f.b0, 0x81, "opted out: plain");
    cr_assert_eq(f.len, sizeof(big));
    free(f.data);
    it_close(&c);
    stop(&s);
}

/* A peer failed mid-frame (1009 from the header) keeps sending: the server
 * writes its close frame, sends FIN and drops the rest of the input, so the
 * peer can finish its write and still read the close frame (an immediate
 * close with unread input would reset the connection and lose it). */
Test(websocket, failed_peer_still_sending_reads_the_close)
{
    it_server s;
    it_conn c;
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/echo", NULL, NULL);
    size_t n = 8u << 20; /* over max_frame (32 KiB), and more than socket buffers hold */
    uint8_t *p = calloc(1, n);
    it_ws_send(&c, 0x82, p, n, 1); /* the server fails it at the header */
    free(p);
    it_ws_expect_close(&c, 1009);
    it_close(&c);
    stop(&s);
}

/* ---- the data path: whole frames from the input, direct writes -------------- */

/* Sends f[0..n) in two writes cut at k, far enough apart in time that the
 * server reads them separately (not synchronisation: any cut is valid). */
static void send_split(it_conn *c, const uint8_t *f, size_t n, size_t k)
{
    cr_assert_eq(it_send(c, f, k), 0);
    usleep(1000);
    cr_assert_eq(it_send(c, f + k, n - k), 0);
}

/* A masked frame (b0, payload p of len bytes) into out; its length. */
static size_t build_frame(uint8_t *out, unsigned b0, const uint8_t *p, size_t len)
{
    static const uint8_t key[4] = {0x9a, 0x0b, 0x7c, 0x3d};
    size_t n = 0;
    out[n++] = (uint8_t)b0;
    if (len < 126) {
        out[n++] = 0x80 | (uint8_t)len;
    } else {
        out[n++] = 0x80 | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    }
    memcpy(out + n, key, 4);
    n += 4;
    for (size_t i = 0; i < len; i++)
        out[n + i] = p[i] ^ key[i & 3];
    return n + len;
}

static void expect_echo(it_conn *c, const uint8_t *p, size_t len, const char *what, size_t k)
{
    it_ws_frame f;
    cr_assert_eq(it_ws_read(c, &f, 5000), 0, "%s cut at %zu: no echo", what, k);
    cr_assert_eq(f.b0, 0x82, "%s cut at %zu", what, k);
    cr_assert_eq(f.len, len, "%s cut at %zu: %zu bytes", what, k, f.len);
    cr_assert(memcmp(f.data, p, len) == 0, "%s cut at %zu: payload differs", what, k);
    free(f.data);
}

/* A whole message in one frame waits in the read buffer until all of it
 * is in, wherever the reads cut it (header, length, key, payload), and is
 * echoed intact; a cut frame followed by the next one too. */
Test(websocket, whole_frame_cut_at_every_byte)
{
    it_server s;
    it_conn c;
    static uint8_t p[16384], fr[2 * (16384 + 8)];
    for (size_t i = 0; i < sizeof(p); i++)
        p[i] = (uint8_t)(i * 7 + (i >> 8));
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/echo", NULL, NULL);
    size_t n = build_frame(fr, 0x82, p, 300);
    for (size_t k = 1; k < n; k++) {
        send_split(&c, fr, n, k);
        expect_echo(&c, p, 300, "300-byte frame", k);
    }
    /* 16 KiB: the cuts around the header and a few in the payload. */
    n = build_frame(fr, 0x82, p, sizeof(p));
    static const size_t cuts[] = {1, 2, 3, 4, 5, 7, 8, 9, 100, 4095, 4096, 8192, 16383, 16391};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        send_split(&c, fr, n, cuts[i]);
        expect_echo(&c, p, sizeof(p), "16 KiB frame", cuts[i]);
    }
    /* Two frames back to back, cut inside the second one. */
    size_t n2 = n + build_frame(fr + n, 0x82, p + 1, sizeof(p) - 1);
    send_split(&c, fr, n2, n + 6);
    expect_echo(&c, p, sizeof(p), "first of two", n + 6);
    expect_echo(&c, p + 1, sizeof(p) - 1, "second of two", n + 6);
    it_close(&c);
    stop(&s);
}

/* Message i of 16 KiB: its number's high byte, then its low byte repeated. */
static void send_numbered_16k(it_conn *c, int i)
{
    static uint8_t p[16384], fr[16384 + 8];
    memset(p, i & 0xff, sizeof(p));
    p[0] = (uint8_t)(i >> 8);
    size_t n = build_frame(fr, 0x82, p, sizeof(p));
    cr_assert_eq(it_send(c, fr, n), 0);
}

/* An echo of 16 KiB messages to a peer that does not read: each echo is
 * written straight from the message until the socket takes no more, and
 * only the rest is queued; reading stops over the budget, memory stays
 * bounded, and every echo arrives intact and in order once the peer
 * reads. */
Test(websocket, big_echo_to_slow_reader_direct_writes)
{
    it_server s;
    it_conn c;
    start(&s, 100);
    long base = atomic_load(&g_alloc.live_bytes);
    it_ws_open(&c, s.port, "/ws/slow", NULL, NULL);
    long peak;
    int sent = send_until_stalled(&c, 4096, send_numbered_16k, &peak); /* 64 MiB at most */
    cr_assert_lt(sent, 4096, "the server must stop reading");
    /* Connection state and its read buffer (64 KiB each at most), the
     * queue (budget + one message) and what a completion poller holds
     * beyond the part the budget counts. */
    cr_assert_lt(peak - base, 65536 + 2 * 65536 + FLOOD_BUDGET + 16384 + ITWS_POLLER_UNCOUNTED + 64,
                 "grew by %ld", peak - base);
    for (int i = 0; i < sent; i++) {
        it_ws_frame f;
        cr_assert_eq(it_ws_read(&c, &f, 5000), 0, "echo %d of %d", i, sent);
        cr_assert_eq(f.len, 16384);
        cr_assert_eq(f.data[0], (uint8_t)(i >> 8), "echo %d out of order", i);
        for (size_t j = 1; j < f.len; j++)
            if (f.data[j] != (uint8_t)(i & 0xff))
                cr_assert_fail("echo %d: byte %zu is %u", i, j, f.data[j]);
        free(f.data);
    }
    it_close(&c);
    stop(&s);
}

/* A big shared message sent many times to a slow reader: written from the
 * message itself (the rest of a cut write references it), all intact. */
#define BIGB_N 200
#define BIGB_LEN 40000
static hz_ws_msg *g_bigb;
static atomic_int g_bigb_sent;

static void bigb_more(hz_ws *ws, void *ud)
{
    (void)ud;
    itws_pump(ws, &g_bigb_sent, BIGB_N, g_bigb, NULL, 0);
}

static void h_bigb(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {.on_open = bigb_more, .on_drain = bigb_more};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.output_budget = 3 * BIGB_LEN;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

Test(websocket, big_shared_message_to_slow_reader)
{
    it_server s;
    it_conn c;
    static uint8_t p[BIGB_LEN];
    for (size_t i = 0; i < sizeof(p); i++)
        p[i] = (uint8_t)(i * 13 + 5);
    atomic_store(&g_bigb_sent, 0);
    cr_assert_eq(hz_ws_msg_create(&g_bigb, NULL, HZ_WS_BINARY, p, sizeof(p)), 0);
    start(&s, 100);
    it_ws_open(&c, s.port, "/ws/bigb", NULL, NULL);
    for (int i = 0; i < BIGB_N; i++) {
        it_ws_frame f;
        if (i % 40 == 0)
            usleep(50000); /* let the socket fill: cut writes, refusals */
        cr_assert_eq(it_ws_read(&c, &f, 5000), 0, "message %d", i);
        cr_assert_eq(f.b0, 0x82);
        cr_assert_eq(f.len, sizeof(p));
        cr_assert(memcmp(f.data, p, sizeof(p)) == 0, "message %d differs", i);
        free(f.data);
    }
    it_close(&c);
    stop(&s);
    hz_ws_msg_release(g_bigb);
}

/* ---- input beside a producer that keeps its output full ------------------------ */

/* A producer: 16 KiB messages for as long as the client reads, refilled to
 * the output budget at every on_drain (the natural producer over hz_ws's
 * backpressure), at most FAIR_CAP of them; the text message "stop" ends it
 * with a close 1000. */
#define FAIR_CAP 16384          /* messages: 256 MiB, a safety net */
#define FAIR_AHEAD (1u << 20)   /* bytes the client reads before it speaks */
#define FAIR_LIMIT (16u << 20)  /* bytes within which it must be heard */
#define FAIR_RCVBUF (256 << 10) /* the client's receive buffer (fixed: not autotuned) */

/* What one call may send before HZ_EAGAIN: the direct writes of a turn (1
 * MiB, and the message that crosses it), then the budget and the message
 * that crosses it. */
#define FAIR_BURST ((1u << 20) + FLOOD_BUDGET + 2 * ITWS_FLOOD_MSG)
static atomic_int g_fair_sent, g_fair_burst; /* messages; the most in one call */

static void fair_more(hz_ws *ws, void *ud)
{
    static char blk[ITWS_FLOOD_MSG];
    (void)ud;
    int n = 0;
    while (atomic_load(&g_fair_sent) < FAIR_CAP) {
        int rc = hz_ws_send(ws, HZ_WS_BINARY, blk, sizeof(blk), 0);
        if (rc == HZ_EAGAIN || rc == HZ_ECLOSED)
            break;
        cr_assert_eq(rc, 0, "fair send: %d", rc);
        atomic_fetch_add(&g_fair_sent, 1);
        n++;
    }
    if (n > atomic_load(&g_fair_burst))
        atomic_store(&g_fair_burst, n);
}

static void h_fair(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    itws_accept_producer(req, res, fair_more, FLOOD_BUDGET);
}

/* Reads the flood as fast as the socket gives it (big reads; its frames,
 * all 16 KiB binaries, only counted) until a close frame or limit bytes.
 * Returns the flood's bytes read, the close's code in *code (0: none).
 * Bytes of a frame not all in yet stay in g_fair_buf for the next call. */
static uint8_t g_fair_buf[1u << 19];
static size_t g_fair_have;

static size_t fair_read(it_conn *c, size_t limit, unsigned *code)
{
    uint8_t *buf = g_fair_buf;
    size_t have = g_fair_have, got = 0;
    memcpy(buf + have, c->buf, c->len); /* what came with the 101 */
    have += c->len;
    c->len = 0;
    *code = 0;
    for (;;) {
        size_t off = 0;
        while (have - off >= 4 && got < limit) {
            const uint8_t *h = buf + off;
            if (h[0] == 0x88) { /* ours: a code and a short reason */
                cr_assert_lt(h[1], 126);
                if (have - off < 2u + h[1])
                    break;
                *code = (unsigned)h[2] << 8 | h[3];
                return got;
            }
            cr_assert(h[0] == 0x82 && h[1] == 126 && h[2] == ITWS_FLOOD_MSG >> 8 && h[3] == 0,
                      "not a flood frame: %02x %02x", h[0], h[1]);
            if (have - off < 4 + ITWS_FLOOD_MSG)
                break;
            off += 4 + ITWS_FLOOD_MSG;
            got += ITWS_FLOOD_MSG;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
        if (got >= limit)
            break;
        struct pollfd q = {.fd = c->fd, .events = POLLIN};
        cr_assert_gt(poll(&q, 1, 5000), 0, "the flood stalled at %zu bytes", got);
        ssize_t r = recv(c->fd, buf + have, sizeof(g_fair_buf) - have, 0);
        cr_assert_gt(r, 0, "the connection ended at %zu bytes", got);
        have += (size_t)r;
    }
    g_fair_have = have;
    return got;
}

/* RFC 6455 has each side send and receive independently: a handler that
 * refills its output at every on_drain must not keep its client's messages
 * unread. The client reads the flood as fast as it can, then ends it with
 * the message "stop", or with a close frame (by_close; §5.5.1: answered).
 * sndbuf: the server's socket send buffer (inherited from the listener),
 * 0: the kernel's, autotuned. Bytes, not time: the flood goes on while
 * the client waits, so a server that does not read shows as a limit
 * crossed (the sockets hold 4.5 MiB at most, and the bytes of a few turns
 * are added before the server reads). */
static void fair_case(int sndbuf, int by_close)
{
    it_server s;
    it_conn c;
    unsigned code;
    atomic_store(&g_fair_sent, 0);
    atomic_store(&g_fair_burst, 0);
    g_fair_have = 0;
    start(&s, 100);
    if (sndbuf)
        cr_assert_eq(setsockopt(hz_server_listener_fd(s.srv, 0), SOL_SOCKET, SO_SNDBUF, &sndbuf,
                                sizeof(sndbuf)),
                     0);
    it_ws_open(&c, s.port, "/ws/fair", NULL, NULL);
    int rb = FAIR_RCVBUF;
    cr_assert_eq(setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb)), 0);
    cr_assert_geq(fair_read(&c, FAIR_AHEAD, &code), FAIR_AHEAD);
    if (by_close)
        it_ws_send(&c, 0x88, "\x03\xe8", 2, 1);
    else
        it_ws_send(&c, 0x81, "stop", 4, 1);
    size_t got = fair_read(&c, FAIR_LIMIT, &code);
    cr_log_info("heard after %zu bytes", got);
    cr_assert_eq(code, 1000, "no close within %zu bytes of the flood", got);
    if (!by_close)
        it_ws_send(&c, 0x88, "\x03\xe8", 2, 1);
    cr_assert(it_wait_closed(&c, 3000), "TCP still open after the closing handshake");
    it_close(&c);
    itws_wait_closes(1);
    cr_assert_eq(atomic_load(&itws_last_code), 1000, "on_close %d", atomic_load(&itws_last_code));
    stop(&s);
    int burst = atomic_load(&g_fair_burst);
    cr_log_info("at most %d messages in one call", burst);
    cr_assert_leq((size_t)burst * ITWS_FLOOD_MSG, FAIR_BURST, "%d messages sent in one call",
                  burst);
}

/* Before, with the server's socket full (a small send buffer), a drain ran
 * inside the flush of its WRITE event, where the refill filled the budget
 * before the input's turn, which (paused while the budget is full) never
 * came. With a socket the client kept from filling (the kernel's buffer),
 * a producer writing directly saw HZ_EAGAIN only once the socket filled,
 * if ever, and did not return to the loop until then (FAIR_BURST). */
Test(websocket, producer_hears_stop)
{
    fair_case(0, 0);
}

Test(websocket, producer_hears_stop_socket_full)
{
    fair_case(64 << 10, 0);
}

Test(websocket, producer_answers_close)
{
    fair_case(0, 1);
}

Test(websocket, producer_answers_close_socket_full)
{
    fair_case(64 << 10, 1);
}
