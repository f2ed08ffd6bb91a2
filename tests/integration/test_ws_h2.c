/* test_ws_h2.c - WebSockets over HTTP/2 (RFC 8441 extended CONNECT), end
 * to end with a scripted client (ws_h2_client.py, python3-h2's hpack):
 * SETTINGS_ENABLE_CONNECT_PROTOCOL, echo over h2c and TLS, negotiation,
 * two WebSockets beside normal requests on one connection, refusals,
 * RST_STREAM from the client, invalid frames (1002 on that stream only),
 * a slow reader (memory bounded: a counting allocator), a burst past a
 * large stream buffer, an endless flood beside a request (RFC 9218:
 * incremental), keep-alive ping and idle timeout, max_websockets, the
 * graceful stop, the switch off, and the metrics. Every server is checked
 * for leaks at its end. */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "h2_support.h"
#include "itest.h"
#include "itest_ws.h"
#include "test_alloc.h"

#ifndef HZ_WS_H2_CLIENT
#define HZ_WS_H2_CLIENT "ws_h2_client.py"
#endif

static atomic_int g_upgrade_seen;
static hz_count_alloc g_alloc;

static void h_echo(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {
        .on_open = itws_on_open, .on_message = itws_echo, .on_close = itws_on_close};
    static const char *const protos[] = {"chat"};
    /* The request reads like an HTTP/1.1 upgrade. */
    hz_str p = hz_req_path(req);
    if (hz_ws_is_upgrade(req) && p.len == 8 && memcmp(p.ptr, "/ws/echo", 8) == 0 &&
        hz_req_header(req, "sec-websocket-version").len == 2 && hz_ws_origin_ok(req, NULL, 0))
        atomic_fetch_add(&g_upgrade_seen, 1);
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.subprotocols = protos;
    o.nsubprotocols = 1;
    o.compression = 1;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

static void h_refuse(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    cr_assert(hz_ws_is_upgrade(req));
    hz_res_send(res, 403, "no", 2);
}

static void h_root(hz_req *req, hz_res *res, void *ud)
{
    (void)req, (void)ud;
    hz_res_send(res, 200, "hello", 5);
}

/* Flood (itws_h_flood): FLOOD_N messages of 16 KiB. */
#define FLOOD_N 256
static const int g_flood_n = FLOOD_N;

/* An endless flood: 16 KiB messages for as long as the client reads, until
 * GET /ws/endless/stop (or the message "stop": a close 1000). The stream's
 * output buffer (the case's obuf) is refilled whenever it drains below
 * half, so the stream never waits for the WebSocket: only a scheduler that
 * interleaves it lets another response on the connection through. */
static atomic_int g_endless_stop;

static void endless_more(hz_ws *ws, void *ud)
{
    (void)ud;
    static char blk[ITWS_FLOOD_MSG];
    while (!atomic_load(&g_endless_stop)) {
        int rc = hz_ws_send(ws, HZ_WS_BINARY, blk, sizeof(blk), 0);
        if (rc == HZ_EAGAIN || rc == HZ_ECLOSED)
            return;
        cr_assert_eq(rc, 0, "endless send: %d", rc);
    }
}

static void h_endless(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    itws_accept_producer(req, res, endless_more, 256u << 10);
}

static void h_endless_stop(hz_req *req, hz_res *res, void *ud)
{
    (void)req, (void)ud;
    atomic_store(&g_endless_stop, 1);
    hz_res_send(res, 200, "stopped", 7);
}

/* A burst: BURST_N messages of 16 KiB queued at once in on_open, far more
 * than the stream's buffer takes, so the WebSocket's own queue holds
 * megabytes when the stream drains below half (burst case). */
#define BURST_N 512

static void burst_open(hz_ws *ws, void *ud)
{
    (void)ud;
    static char blk[ITWS_FLOOD_MSG];
    for (int i = 0; i < BURST_N; i++)
        cr_assert_eq(hz_ws_send(ws, HZ_WS_BINARY, blk, sizeof(blk), 0), 0, "burst send %d", i);
}

static void h_burst(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {.on_open = burst_open, .on_close = itws_on_close};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.output_budget = 2u * BURST_N * ITWS_FLOOD_MSG;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

static void h_ping(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {.on_message = itws_echo, .on_close = itws_on_close};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.ping_interval_ms = 100;
    o.idle_timeout_ms = 600;
    o.close_timeout_ms = 1000;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

/* ---- the server ------------------------------------------------------------ */

#if HZ_HAVE_TLS
static char g_dir[64];
#endif

/* obuf: the stream and connection output buffers (0: the defaults). */
static void start(it_server *s, unsigned max_ws, int tls, int ws_on, size_t obuf)
{
    hz_config cfg;
    it_config_counted(&cfg, &g_alloc);
    cfg.timeouts.write = 5000;
    if (obuf) {
        cfg.output_buffer = obuf;
        cfg.http2.conn_output_buffer = 2 * obuf;
    }
    if (max_ws)
        cfg.max_websockets = max_ws;
    cfg.http2.websocket = ws_on;
    itws_reset();
    atomic_store(&g_upgrade_seen, 0);
    atomic_store(&g_endless_stop, 0);
    cr_assert_eq(hz_server_create(&s->srv, &cfg), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/", h_root, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/echo", h_echo, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/refuse", h_refuse, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/flood", itws_h_flood, (void *)&g_flood_n), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/ping", h_ping, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/burst", h_burst, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/endless", h_endless, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/endless/stop", h_endless_stop, NULL), 0);
    const hz_tls_config *tp = NULL;
#if HZ_HAVE_TLS
    hz_tls_config t;
    char crt[128], key[128];
    if (tls) {
        snprintf(g_dir, sizeof(g_dir), "/tmp/hz-wsh2-XXXXXX");
        cr_assert(mkdtemp(g_dir));
        snprintf(crt, sizeof(crt), "%s/c.crt", g_dir);
        snprintf(key, sizeof(key), "%s/c.key", g_dir);
        cr_assert_eq(it_make_cert(key, crt, "localhost"), 0, "openssl req failed");
        hz_tls_config_init(&t);
        t.certs[0].cert_file = crt;
        t.certs[0].key_file = key;
        t.ncerts = 1;
        tp = &t;
    }
#else
    (void)tls;
#endif
    s->port = h2s_listen(s->srv, tp);
    cr_assert_eq(hz_server_start(s->srv), 0);
}

static void stop(it_server *s)
{
    it_stop(s);
    it_assert_no_leaks(&g_alloc);
#if HZ_HAVE_TLS
    if (g_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
        (void)system(cmd);
        g_dir[0] = 0;
    }
#endif
}

/* ---- the client ------------------------------------------------------------ */

static FILE *script_open(const it_server *s, const char *mode)
{
    return h2s_script_open(HZ_WS_H2_CLIENT, s->port, mode, 90);
}

static void run(const it_server *s, const char *mode)
{
    char out[4096];
    int rc = h2s_script_run(HZ_WS_H2_CLIENT, s->port, mode, 90, out, sizeof(out));
    cr_assert_eq(rc, 0, "%s: %s", mode, out);
}

static hz_metrics metrics(const it_server *s)
{
    hz_metrics m;
    cr_assert_eq(hz_server_metrics(s->srv, &m), 0);
    return m;
}

/* ---- the cases ---------------------------------------------------------------- */

/* A metric a case checks: where it is in hz_metrics (a uint64_t), its value. */
typedef struct want {
    size_t off;
    uint64_t v;
    const char *what; /* NULL: the end of the list */
} want;
#define WANT(field, val)                                                                           \
    {                                                                                              \
        offsetof(hz_metrics, field), (val), #field                                                 \
    }

/* One scripted session: a server (max_ws: 0 = the default; tls; the
 * extended CONNECT switched off with ws_off), the client's mode, then the
 * server's on_close calls (closes; the last with last_code, 0: any) and the
 * metrics in wants. */
typedef struct ws_case {
    const char *mode;
    unsigned max_ws;
    int tls, ws_off;
    int closes, last_code;
    size_t obuf; /* start's output buffers */
    want wants[5];
} ws_case;

static void run_case(const ws_case *c)
{
    h2s_need();
    it_server s;
    start(&s, c->max_ws, c->tls, !c->ws_off, c->obuf);
    run(&s, c->mode);
    if (c->closes)
        itws_wait_closes(c->closes);
    if (c->last_code)
        cr_expect_eq(atomic_load(&itws_last_code), c->last_code, "%s: last close %d", c->mode,
                     atomic_load(&itws_last_code));
    hz_metrics m = metrics(&s);
    for (const want *w = c->wants; w < c->wants + 5 && w->what; w++) {
        uint64_t got;
        memcpy(&got, (const char *)&m + w->off, sizeof(got));
        cr_expect_eq(got, w->v, "%s: %s is %llu, want %llu", c->mode, w->what,
                     (unsigned long long)got, (unsigned long long)w->v);
    }
    stop(&s);
}

TestSuite(ws_h2, .timeout = 240);

Test(ws_h2, echo_and_close_handshake)
{
    run_case(&(ws_case){.mode = "echo",
                        .closes = 1,
                        .last_code = 1000,
                        .wants = {WANT(ws_over_http2, 1), WANT(ws_opened, 1),
                                  WANT(ws_close[HZ_WS_CLOSE_1000], 1),
                                  WANT(ws_messages_in, 10)}}); /* text, binary, 8 binaries */
    cr_expect_eq(atomic_load(&g_upgrade_seen), 1, "hz_ws_is_upgrade and the accessors");
}

Test(ws_h2, negotiation)
{
    run_case(&(ws_case){.mode = "deflate"});
}

Test(ws_h2, multiplexed_with_requests)
{
    run_case(&(ws_case){.mode = "multi", .closes = 2, .wants = {WANT(ws_over_http2, 2)}});
}

Test(ws_h2, refusals)
{
    run_case(&(ws_case){.mode = "refuse", .wants = {WANT(ws_opened, 0), WANT(ws_over_http2, 0)}});
}

Test(ws_h2, client_reset_gives_1006)
{
    run_case(&(ws_case){.mode = "rst",
                        .closes = 2,
                        .wants = {WANT(ws_close[HZ_WS_CLOSE_1006], 1), /* the reset one */
                                  WANT(ws_close[HZ_WS_CLOSE_1000], 1), /* the closed one */
                                  WANT(ws_open, 0)}});
}

Test(ws_h2, connection_dropped_gives_1006)
{
    run_case(
        &(ws_case){.mode = "hold", .closes = 1, .last_code = 1006, .wants = {WANT(ws_open, 0)}});
}

Test(ws_h2, invalid_frame_fails_only_its_stream)
{
    run_case(
        &(ws_case){.mode = "invalid",
                   .closes = 2,
                   .wants = {WANT(ws_close[HZ_WS_CLOSE_1002], 1), WANT(http2_protocol_errors, 0)}});
}

Test(ws_h2, slow_reader_memory_bounded)
{
    h2s_need();
    it_server s;
    start(&s, 0, 0, 1, 0);
    /* The server's own state before the client (a completion poller's
     * receive buffer ring is part of it) is not the connection's. */
    long base = atomic_load(&g_alloc.live_bytes);
    run(&s, "slow");
    itws_wait_closes(1);
    cr_expect_eq(atomic_load(&itws_flood_sent), FLOOD_N);
    /* 4 MiB went through; what was held at once is about the budget + the
     * stream's output buffer + nghttp2's session, far under 1 MiB. */
    long peak = atomic_load(&g_alloc.peak_bytes) - base;
    cr_log_info("slow reader: peak %ld bytes", peak);
    cr_expect_lt(peak, 1L << 20, "peak %ld bytes", peak);
    stop(&s);
}

/* The WebSocket writes at most 1 MiB into the stream per turn; with a
 * stream buffer of 4 MiB it has more room than that when woken, so it must
 * go on by itself: the stream says when it refused room, never that it
 * has room again. Before, the rest of the burst waited for the write
 * timeout. */
Test(ws_h2, burst_past_a_large_stream_buffer)
{
    run_case(&(ws_case){.mode = "burst", .closes = 1, .last_code = 1000, .obuf = 4u << 20});
}

/* RFC 9218: a WebSocket never ends, so as a non-incremental stream of the
 * default urgency it would hold every later response of that urgency on
 * the connection for as long as it has data. A 16 MiB stream buffer keeps
 * it from ever waiting for data (with smaller ones it runs dry now and
 * then, which let requests through by chance). */
Test(ws_h2, endless_flood_does_not_starve_requests)
{
    run_case(&(ws_case){.mode = "starve", .closes = 1, .last_code = 1000, .obuf = 16u << 20});
}

/* The client's urgency stays: a u=0 WebSocket goes before a u=3 request
 * (RFC 9218 §10), incremental or not. */
Test(ws_h2, endless_flood_keeps_its_urgency)
{
    /* Urgencies are RFC 9218's, which nghttp2 schedules from 1.48 on. */
    unsigned maj = 0, min = 0;
    if (sscanf(hz_version_info()->http2, "nghttp2 %u.%u", &maj, &min) != 2 ||
        (maj == 1 && min < 48))
        cr_skip_test("%s: RFC 7540 scheduling", hz_version_info()->http2);
    run_case(&(ws_case){.mode = "urgent", .closes = 1, .last_code = 1000, .obuf = 16u << 20});
}

/* The flood's own WebSocket still reads its client: a message ("stop") and
 * a close frame are heard within bounded bytes of the flood. Small stream
 * and connection buffers, so the client's reads soon drive the drains
 * (the case's obuf; before, those drains' refills kept input paused). */
Test(ws_h2, endless_flood_hears_stop)
{
    run_case(&(ws_case){.mode = "fairstop", .closes = 1, .last_code = 1000, .obuf = 1u << 20});
}

Test(ws_h2, endless_flood_answers_close)
{
    run_case(&(ws_case){.mode = "fairclose", .closes = 1, .last_code = 1000, .obuf = 1u << 20});
}

Test(ws_h2, ping_and_idle_timeout)
{
    run_case(&(ws_case){.mode = "ping", .closes = 1, .last_code = 1001});
}

Test(ws_h2, max_websockets)
{
    run_case(&(ws_case){.mode = "cap", .max_ws = 1});
}

Test(ws_h2, switched_off)
{
    run_case(&(ws_case){.mode = "nosettings", .ws_off = 1, .wants = {WANT(ws_opened, 0)}});
}

Test(ws_h2, graceful_stop_sends_1001)
{
    h2s_need();
    it_server s;
    start(&s, 0, 0, 1, 0);
    FILE *p = script_open(&s, "stop");
    char line[256] = "";
    cr_assert(fgets(line, sizeof(line), p), "no output");
    cr_assert_str_eq(line, "open\n", "%s", line);
    hz_server_stop(s.srv, 3000);
    char out[4096];
    int rc = h2s_script_close(p, out, sizeof(out));
    cr_expect_eq(rc, 0, "stop: %s", out);
    hz_server_wait(s.srv);
    cr_expect_eq(atomic_load(&itws_last_code), 1001);
    hz_server_destroy(s.srv);
    it_assert_no_leaks(&g_alloc);
}

#if HZ_HAVE_TLS
Test(ws_h2, echo_over_tls)
{
    if (system("openssl version >/dev/null 2>&1") != 0)
        cr_skip_test("no openssl CLI");
    run_case(
        &(ws_case){.mode = "echo --tls", .tls = 1, .closes = 1, .wants = {WANT(ws_over_http2, 1)}});
}
#endif
