/* test_ws_timer.c - the WebSocket connection timer under traffic. The
 * timer is not moved for every message: armed for an earlier deadline it
 * stays, fires early and is armed again from the deadlines as they stand
 * then (core/ws/ws_conn.c ws_update_timer). These tests fail if an early
 * firing acts on a stale deadline (closes a busy connection) or forgets to
 * arm again (never closes an idle one). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "itest_ws.h"

#define IDLE_MS 1000 /* generous: a loaded CI machine must not stall this long */
#define GAP_MS 100   /* between two messages of the busy phase */
#define ROUNDS 25    /* 2.5 s of traffic: two idle periods and more */

static hz_count_alloc g_alloc;

static void h_idle(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {.on_message = itws_echo, .on_close = itws_on_close};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.idle_timeout_ms = IDLE_MS;
    o.close_timeout_ms = 300;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

static void h_idle_ping(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {.on_message = itws_echo, .on_close = itws_on_close};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.idle_timeout_ms = IDLE_MS;
    o.ping_interval_ms = 300;
    o.close_timeout_ms = 300;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

static void start(it_server *s)
{
    hz_config cfg;
    it_config_counted(&cfg, &g_alloc);
    itws_reset();
    cr_assert_eq(hz_server_create(&s->srv, &cfg), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/idle", h_idle, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/ws/idle-ping", h_idle_ping, NULL), 0);
    int idx = hz_server_listen(s->srv, "127.0.0.1", 0, NULL);
    cr_assert_geq(idx, 0);
    s->port = hz_server_port(s->srv, idx);
    cr_assert_eq(hz_server_start(s->srv), 0);
}

/* Sends ROUNDS messages GAP_MS apart, each echoed (pings answered with a
 * pong, which also counts as traffic); then waits silently for the idle
 * close and checks it came IDLE_MS after the last message, not before. */
static void busy_then_idle(const char *path)
{
    it_server s;
    it_conn c;
    it_ws_frame f;
    start(&s);
    it_ws_open(&c, s.port, path, NULL, NULL);
    long long last = 0;
    for (int i = 0; i < ROUNDS; i++) {
        char m[16];
        int n = snprintf(m, sizeof(m), "m%d", i);
        last = it_now_ms(); /* before the send: the server's last_rx is later */
        it_ws_send(&c, 0x82, m, (size_t)n, 1);
        for (;;) {
            cr_assert_eq(it_ws_read(&c, &f, 5000), 0, "message %d: no answer", i);
            if (f.b0 != 0x89)
                break;
            free(f.data); /* a keep-alive ping: answered below */
            it_ws_send(&c, 0x8a, "", 0, 1);
        }
        cr_assert_eq(f.b0, 0x82, "message %d: frame 0x%x (closed while busy?)", i, f.b0);
        cr_assert_eq(f.len, (size_t)n);
        cr_assert(!memcmp(f.data, m, (size_t)n));
        free(f.data);
        usleep(GAP_MS * 1000); /* the pacing under test, not a synchronisation */
    }
    cr_assert_eq(atomic_load(&itws_closes), 0);
    /* Silence: pings (unanswered) until the idle close. */
    for (;;) {
        cr_assert_eq(it_ws_read(&c, &f, IDLE_MS * 5), 0, "no idle close");
        if (f.b0 != 0x89)
            break;
        free(f.data);
    }
    long long waited = it_now_ms() - last;
    cr_assert_eq(f.b0, 0x88);
    cr_assert_eq(it_ws_close_code(&f), 1001);
    free(f.data);
    /* The loop's clock may be the coarse one (a tick behind): a little slack. */
    cr_assert_geq(waited, IDLE_MS - 20, "closed %lld ms after the last message", waited);
    cr_assert(it_wait_closed(&c, 5000));
    it_close(&c);
    itws_wait_closes(1);
    it_stop(&s);
    it_assert_no_leaks(&g_alloc);
}

TestSuite(ws_timer, .timeout = 60);

Test(ws_timer, idle_close_counts_from_the_last_message)
{
    busy_then_idle("/ws/idle");
}

Test(ws_timer, idle_close_with_keepalive_pings)
{
    busy_then_idle("/ws/idle-ping");
}
