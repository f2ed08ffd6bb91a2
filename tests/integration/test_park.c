/* test_park.c - idle keep-alive connections parked as a small record
 * (docs/architecture.md, "Parked connections"): they are served again as
 * before, keep their id and request count, still count as open and in
 * max_connections, and the keep-alive timeout, a graceful stop and a
 * destroy still close them. Waits poll the conn_parked metric, never a
 * fixed sleep. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "itest.h"

#define GET "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
#define NCONN 64

static hz_metrics metrics(const it_server *s)
{
    hz_metrics m;
    cr_assert_eq(hz_server_metrics(s->srv, &m), 0);
    return m;
}

/* Polls the metrics until ok(m, arg, want) holds (or the deadline): 1 if so. */
typedef int metrics_ok_fn(const hz_metrics *m, unsigned arg, uint64_t want);

static int wait_metrics(const it_server *s, metrics_ok_fn *ok, unsigned arg, uint64_t want,
                        int timeout_ms)
{
    long long end = it_now_ms() + timeout_ms;
    do {
        hz_metrics m = metrics(s);
        if (ok(&m, arg, want))
            return 1;
        usleep(5000); /* a polling interval, not a synchronisation */
    } while (it_now_ms() < end);
    return 0;
}

static int parked_is(const hz_metrics *m, unsigned unused, uint64_t want)
{
    (void)unused;
    return m->conn_parked == want;
}

/* The loop closes the socket before it counts the close, so a client that
 * saw the close waits for the count. */
static int closed_is(const hz_metrics *m, unsigned why, uint64_t want)
{
    return m->conn_closed[why] == want && m->conn_open == 0;
}

static int wait_parked(const it_server *s, uint64_t want, int timeout_ms)
{
    return wait_metrics(s, parked_is, 0, want, timeout_ms);
}

static int wait_closed_count(const it_server *s, unsigned why, uint64_t want, int timeout_ms)
{
    return wait_metrics(s, closed_is, why, want, timeout_ms);
}

static void get_ok(it_conn *c, int want_close)
{
    it_resp r;
    cr_assert_eq(it_sends(c, GET), 0);
    cr_assert_eq(it_read_response(c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_eq(r.conn_close, want_close);
    it_resp_free(&r);
}

static void cfg_park(hz_config *cfg, uint32_t keepalive_ms)
{
    hz_config_init(cfg);
    cfg->loops = 1;
    cfg->timeouts.keepalive = keepalive_ms;
}

/* What the access log saw: connection ids and request numbers, in order. */
static _Atomic uint64_t log_ids[2 * NCONN + 8];
static atomic_uint log_seq[2 * NCONN + 8];
static atomic_uint log_n;

static void on_access(const hz_access_entry *e, void *ud)
{
    (void)ud;
    unsigned i = atomic_fetch_add(&log_n, 1);
    if (i < sizeof(log_seq) / sizeof(log_seq[0])) {
        atomic_store(&log_ids[i], e->conn_id);
        atomic_store(&log_seq[i], e->request_seq);
    }
}

/* Connects n clients to s, each served once, then waits up to timeout_ms
 * until all n are parked. */
static void serve_until_parked(it_server *s, it_conn *c, int n, int timeout_ms)
{
    for (int i = 0; i < n; i++) {
        cr_assert_eq(it_connect(&c[i], s->port), 0);
        get_ok(&c[i], 0);
    }
    cr_assert(wait_parked(s, (uint64_t)n, timeout_ms), "parked %llu of %d",
              (unsigned long long)metrics(s).conn_parked, n);
}

/* A server parking after keepalive_ms and one connection it served once. */
static void start_served(it_server *s, it_conn *c, unsigned keepalive_ms)
{
    hz_config cfg;
    cfg_park(&cfg, keepalive_ms);
    it_start(s, &cfg);
    cr_assert_eq(it_connect(c, s->port), 0);
    get_ok(c, 0);
}

Test(park, idle_connections_park_and_are_served_again, .timeout = 60)
{
    hz_config cfg;
    cfg_park(&cfg, 30000);
    cfg.max_requests_per_conn = 2; /* the count survives parking */
    cfg.access_log = on_access;
    atomic_store(&log_n, 0);
    it_server s;
    it_start(&s, &cfg);
    static it_conn c[NCONN];
    serve_until_parked(&s, c, NCONN, 20000);
    hz_metrics m = metrics(&s);
    cr_assert_eq(m.conn_open, NCONN, "parked connections are open");
    for (int i = 0; i < NCONN; i++)
        cr_assert_eq(it_wait_closed(&c[i], 0), 0);
    /* The second request of each: served, and the last one it may have. */
    for (int i = 0; i < NCONN; i++)
        get_ok(&c[i], 1);
    for (int i = 0; i < NCONN; i++) {
        cr_assert_eq(it_wait_closed(&c[i], 5000), 1);
        it_close(&c[i]);
    }
    m = metrics(&s);
    cr_assert_eq(m.requests, 2 * NCONN);
    cr_assert_eq(m.conn_parked, 0);
    /* Each connection's id is the same before and after parking. */
    cr_assert_eq(atomic_load(&log_n), 2 * NCONN);
    for (unsigned i = 0; i < NCONN; i++) {
        uint64_t id = atomic_load(&log_ids[i]);
        cr_assert_eq(atomic_load(&log_seq[i]), 1);
        int seen = 0;
        for (unsigned j = NCONN; j < 2 * NCONN; j++) {
            if (atomic_load(&log_ids[j]) == id) {
                cr_assert_eq(atomic_load(&log_seq[j]), 2);
                seen++;
            }
        }
        cr_assert_eq(seen, 1, "connection %u's id after parking", i);
    }
    it_stop(&s);
}

Test(park, the_keepalive_timeout_closes_a_parked_connection_on_time, .timeout = 60)
{
    it_server s;
    it_conn c;
    start_served(&s, &c, 3000);
    long long t0 = it_now_ms(); /* the response is in: the idle time started before */
    cr_assert(wait_parked(&s, 1, 10000));
    cr_assert_eq(it_wait_closed(&c, 15000), 1);
    long long dt = it_now_ms() - t0;
    /* 3000 ms after the last request, give or take the wheel's tick and a
     * loaded machine: not at the park time, not much later. */
    cr_assert_geq(dt, 2900, "closed after %lld ms", dt);
    cr_assert_leq(dt, 3000 + 2000, "closed after %lld ms", dt);
    cr_assert(wait_closed_count(&s, HZ_CLOSE_TIMEOUT, 1, 5000));
    hz_metrics m = metrics(&s);
    cr_assert_eq(m.timeouts[HZ_TIMEOUT_KEEPALIVE], 1);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_TIMEOUT], 1);
    cr_assert_eq(m.conn_open, 0);
    cr_assert_eq(m.conn_parked, 0);
    it_close(&c);
    it_stop(&s);
}

Test(park, a_short_keepalive_timeout_does_not_park, .timeout = 30)
{
    it_server s;
    it_conn c;
    start_served(&s, &c, 1500); /* below twice the park time */
    /* Watch the gauge until the timeout closes it: never parked. */
    uint64_t most = 0;
    long long end = it_now_ms() + 10000;
    int closed = 0;
    while (!closed && it_now_ms() < end) {
        uint64_t p = metrics(&s).conn_parked;
        most = p > most ? p : most;
        closed = it_wait_closed(&c, 5);
    }
    cr_assert(closed);
    cr_assert_eq(most, 0, "parked with a keep-alive timeout below twice the park time");
    hz_metrics m = metrics(&s);
    cr_assert_eq(m.timeouts[HZ_TIMEOUT_KEEPALIVE], 1);
    it_close(&c);
    it_stop(&s);
}

Test(park, a_peer_close_while_parked_closes_the_connection, .timeout = 60)
{
    it_server s;
    it_conn c;
    start_served(&s, &c, 30000);
    cr_assert(wait_parked(&s, 1, 10000));
    it_close(&c);
    cr_assert(wait_closed_count(&s, HZ_CLOSE_PEER, 1, 10000));
    hz_metrics m = metrics(&s);
    cr_assert_eq(m.conn_open, 0);
    cr_assert_eq(m.conn_parked, 0);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_PEER], 1);
    it_stop(&s);
}

Test(park, max_connections_counts_parked_connections, .timeout = 60)
{
    hz_config cfg;
    cfg_park(&cfg, 30000);
    cfg.max_connections = 4;
    it_server s;
    it_start(&s, &cfg);
    it_conn c[4];
    serve_until_parked(&s, c, 4, 10000);
    it_conn x;
    cr_assert_eq(it_connect(&x, s.port), 0);
    it_resp r;
    cr_assert_eq(it_read_response(&x, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 503, "the fifth connection is over the limit");
    it_resp_free(&r);
    it_close(&x);
    for (int i = 0; i < 4; i++) {
        get_ok(&c[i], 0); /* the parked ones are still served */
        it_close(&c[i]);
    }
    it_stop(&s);
}

Test(park, a_graceful_stop_closes_parked_connections, .timeout = 60)
{
    hz_config cfg;
    cfg_park(&cfg, 30000);
    it_server s;
    it_start(&s, &cfg);
    static it_conn c[NCONN];
    serve_until_parked(&s, c, NCONN, 20000);
    long long t0 = it_now_ms();
    hz_server_stop(s.srv, 10000);
    hz_server_wait(s.srv);
    /* Idle: closed at once, not at the stop deadline. */
    cr_assert_lt(it_now_ms() - t0, 5000);
    hz_metrics m = metrics(&s);
    cr_assert_eq(m.conn_open, 0);
    cr_assert_eq(m.conn_parked, 0);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_SHUTDOWN], NCONN);
    for (int i = 0; i < NCONN; i++) {
        cr_assert_eq(it_wait_closed(&c[i], 5000), 1);
        it_close(&c[i]);
    }
    hz_server_destroy(s.srv);
}

Test(park, destroy_after_stop_deadline_zero_frees_parked_connections, .timeout = 60)
{
    hz_config cfg;
    cfg_park(&cfg, 30000);
    it_server s;
    it_start(&s, &cfg);
    it_conn c[8];
    serve_until_parked(&s, c, 8, 10000);
    hz_server_stop(s.srv, 0);
    hz_server_wait(s.srv);
    hz_server_destroy(s.srv); /* ASan / valgrind: nothing leaks */
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(it_wait_closed(&c[i], 5000), 1);
        it_close(&c[i]);
    }
}
