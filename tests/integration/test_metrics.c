/* test_metrics.c - exact counter values after a scripted sequence of
 * requests (statuses, methods, a parse error, a header timeout, a keep-alive
 * timeout, a refused connection), and the /metrics-style rendering of a live
 * snapshot. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>
#include "itest.h"

#define IO_MS 5000

static void h_ok(hz_req *req, hz_res *res, void *ud)
{
    (void)req, (void)ud;
    hz_res_send(res, 200, "ok", 2);
}

static void h_err(hz_req *req, hz_res *res, void *ud)
{
    (void)req, (void)ud;
    hz_res_send(res, 500, "err", 3);
}

static void h_metrics(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    static char buf[32768];
    hz_metrics m;
    hz_server_metrics(ud, &m);
    long n = hz_metrics_prometheus(&m, buf, sizeof(buf));
    hz_res_set_header(res, "Content-Type", "text/plain; version=0.0.4");
    hz_res_send(res, n < 0 ? 500 : 200, buf, n < 0 ? 0 : (size_t)n);
}

static hz_server *start(hz_config *cfg, int *port)
{
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, cfg), 0);
    cr_assert_eq(hz_route(srv, "GET", "/ok", h_ok, NULL), 0);
    cr_assert_eq(hz_route(srv, "POST", "/ok", h_ok, NULL), 0);
    cr_assert_eq(hz_route(srv, "GET", "/err", h_err, NULL), 0);
    cr_assert_eq(hz_route(srv, "GET", "/metrics", h_metrics, srv), 0);
    int idx = hz_server_listen(srv, "127.0.0.1", 0, NULL);
    cr_assert_geq(idx, 0);
    *port = hz_server_port(srv, idx);
    cr_assert_eq(hz_server_start(srv), 0);
    return srv;
}

static int request(it_conn *c, const char *raw, int head_only)
{
    it_resp r;
    cr_assert_eq(it_sends(c, raw), 0);
    cr_assert_eq(it_read_response(c, &r, head_only, IO_MS), 0, "no response to %s", raw);
    int st = r.status;
    it_resp_free(&r);
    return st;
}

static uint64_t closed_total(const hz_metrics *m)
{
    uint64_t n = 0;
    for (int i = 0; i < HZ_CLOSE_REASONS; i++)
        n += m->conn_closed[i];
    return n;
}

/* The server closes asynchronously: wait (bounded) until it counted n closes. */
static void wait_closed(hz_server *srv, uint64_t n, hz_metrics *m)
{
    long long deadline = it_now_ms() + IO_MS;
    for (;;) {
        hz_server_metrics(srv, m);
        if (closed_total(m) >= n || it_now_ms() > deadline)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(closed_total(m), n);
}

static int parse_kind(const char *name)
{
    for (unsigned i = 0; hz_metrics_parse_error_name(i); i++)
        if (!strcmp(hz_metrics_parse_error_name(i), name))
            return (int)i;
    return -1;
}

Test(metrics, exact_counts_after_a_script, .timeout = 60)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 2;
    cfg.timeouts.header = 300;
    cfg.timeouts.keepalive = 1500;
    int port;
    hz_server *srv = start(&cfg, &port);
    hz_metrics m;
    cr_assert_eq(hz_server_metrics(srv, &m), 0);
    cr_assert_eq(m.conn_accepted, 0);
    cr_assert_eq(m.requests, 0);

    /* A: eight requests on one keep-alive connection, then the client closes. */
    it_conn a;
    cr_assert_eq(it_connect(&a, port), 0);
    cr_assert_eq(request(&a, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", 0), 200);
    cr_assert_eq(request(&a, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", 0), 200);
    cr_assert_eq(request(&a, "GET /ok?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", 0), 200);
    cr_assert_eq(request(&a, "HEAD /ok HTTP/1.1\r\nHost: x\r\n\r\n", 1), 200);
    cr_assert_eq(request(&a, "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 0),
                 200);
    cr_assert_eq(request(&a, "GET /err HTTP/1.1\r\nHost: x\r\n\r\n", 0), 500);
    cr_assert_eq(request(&a, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 0), 404);
    cr_assert_eq(request(&a, "DELETE /ok HTTP/1.1\r\nHost: x\r\n\r\n", 0), 405);
    hz_server_metrics(srv, &m);
    cr_assert_eq(m.conn_open, 1);
    cr_assert_eq(m.requests, 8);
    cr_assert_eq(m.requests_in_flight, 0);
    it_close(&a);
    wait_closed(srv, 1, &m);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_PEER], 1);

    /* B: a parse error (two different Content-Lengths): 400 and close. */
    it_conn b;
    cr_assert_eq(it_connect(&b, port), 0);
    cr_assert_eq(request(&b,
                         "GET /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                         "Content-Length: 2\r\n\r\n",
                         0),
                 400);
    cr_assert_eq(it_wait_closed(&b, IO_MS), 1);
    it_close(&b);
    wait_closed(srv, 2, &m);

    /* C: half a head, then silence: 408 after the header timeout. */
    it_conn c;
    cr_assert_eq(it_connect(&c, port), 0);
    cr_assert_eq(request(&c, "GET /ok HTTP/1.1\r\nHo", 0), 408);
    cr_assert_eq(it_wait_closed(&c, IO_MS), 1);
    it_close(&c);
    wait_closed(srv, 3, &m);

    /* D: one request, then idle past the keep-alive timeout. */
    it_conn d;
    cr_assert_eq(it_connect(&d, port), 0);
    cr_assert_eq(request(&d, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", 0), 200);
    cr_assert_eq(it_wait_closed(&d, IO_MS), 1);
    it_close(&d);
    wait_closed(srv, 4, &m);

    cr_assert_eq(m.conn_accepted, 4);
    cr_assert_eq(m.conn_open, 0);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_NORMAL], 0);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_PEER], 1);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_ERROR], 1);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_TIMEOUT], 2);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_LIMIT], 0);
    cr_assert_eq(m.requests, 11);
    cr_assert_eq(m.requests_aborted, 0);
    cr_assert_eq(m.requests_in_flight, 0);
    cr_assert_eq(m.status_class[0], 0);
    cr_assert_eq(m.status_class[1], 6);
    cr_assert_eq(m.status_class[2], 0);
    cr_assert_eq(m.status_class[3], 4);
    cr_assert_eq(m.status_class[4], 1);
    cr_assert_eq(m.method[HZ_METHOD_GET], 8);
    cr_assert_eq(m.method[HZ_METHOD_HEAD], 1);
    cr_assert_eq(m.method[HZ_METHOD_POST], 1);
    cr_assert_eq(m.method[HZ_METHOD_DELETE], 1);
    cr_assert_eq(m.method[HZ_METHOD_PUT], 0);
    cr_assert_eq(m.method[HZ_METHOD_OTHER], 0);
    int k = parse_kind("CL_CONFLICT");
    cr_assert_geq(k, 1);
    uint64_t perr = 0;
    for (int i = 0; i < HZ_METRICS_PARSE_KINDS; i++)
        perr += m.parse_errors[i];
    cr_assert_eq(perr, 1);
    cr_assert_eq(m.parse_errors[k], 1);
    cr_assert_eq(m.timeouts[HZ_TIMEOUT_HEADER], 1);
    cr_assert_eq(m.timeouts[HZ_TIMEOUT_KEEPALIVE], 1);
    cr_assert_eq(m.timeouts[HZ_TIMEOUT_BODY], 0);
    cr_assert_eq(m.timeouts[HZ_TIMEOUT_WRITE], 0);
    cr_assert_eq(m.latency_count, 11);
    cr_assert_eq(m.latency_bucket[HZ_METRICS_LAT_BUCKETS - 1], 11);
    cr_assert_geq(m.latency_sum_ns, 300000000ull, "the 408 took the header timeout");
    for (int i = 1; i < HZ_METRICS_LAT_BUCKETS; i++)
        cr_assert_geq(m.latency_bucket[i], m.latency_bucket[i - 1]);
    cr_assert_gt(m.bytes_in, 100);
    cr_assert_gt(m.bytes_out, 11 * 30);
    hz_server_destroy(srv);
}

Test(metrics, refused_connections_count_as_limit, .timeout = 30)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.max_connections = 1;
    int port;
    hz_server *srv = start(&cfg, &port);
    it_conn a, b;
    cr_assert_eq(it_connect(&a, port), 0);
    cr_assert_eq(request(&a, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", 0), 200);
    cr_assert_eq(it_connect(&b, port), 0);
    it_resp r;
    cr_assert_eq(it_read_response(&b, &r, 0, IO_MS), 0);
    cr_assert_eq(r.status, 503);
    it_resp_free(&r);
    it_close(&b);
    hz_metrics m;
    hz_server_metrics(srv, &m);
    cr_assert_eq(m.conn_accepted, 2);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_LIMIT], 1);
    cr_assert_eq(m.conn_open, 1);
    it_close(&a);
    hz_server_destroy(srv);
    cr_assert_eq(hz_server_metrics(NULL, &m), HZ_EINVAL);
}

Test(metrics, prometheus_endpoint_parses, .timeout = 30)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    int port;
    hz_server *srv = start(&cfg, &port);
    it_conn a;
    cr_assert_eq(it_connect(&a, port), 0);
    cr_assert_eq(request(&a, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", 0), 200);
    cr_assert_eq(request(&a, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", 0), 200);
    cr_assert_eq(it_sends(&a, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    it_resp r;
    cr_assert_eq(it_read_response(&a, &r, 0, IO_MS), 0);
    cr_assert_eq(r.status, 200);
    /* The /metrics request itself is in flight while it renders. */
    cr_assert_not_null(strstr(r.body, "\nhttpz_requests_total{method=\"GET\"} 2\n"), "%s", r.body);
    cr_assert_not_null(strstr(r.body, "\nhttpz_requests_in_flight 1\n"));
    cr_assert_not_null(strstr(r.body, "\nhttpz_connections_open 1\n"));
    cr_assert_not_null(strstr(r.body, "\nhttpz_request_duration_seconds_count 2\n"));
    cr_assert_not_null(strstr(r.body, "httpz_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
    /* Every line: a comment, or "name[{labels}] value". */
    char *save = NULL;
    int samples = 0;
    for (char *line = strtok_r(r.body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7))
            continue;
        char name[128], value[64];
        cr_assert_eq(sscanf(line, "%127[a-z_]%*[^ ] %63s", name, value) >= 1, 1, "%s", line);
        const char *sp = strrchr(line, ' ');
        cr_assert_not_null(sp, "%s", line);
        char *end;
        strtod(sp + 1, &end);
        cr_assert_eq(*end, 0, "value of: %s", line);
        cr_assert_eq(strncmp(line, "httpz_", 6), 0, "%s", line);
        samples++;
    }
    cr_assert_gt(samples, 40);
    it_resp_free(&r);
    it_close(&a);
    hz_server_destroy(srv);
}

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_release;

/* On an executor worker: blocks until the test lets it go. */
static void h_block(hz_req *req, hz_res *res, void *ud)
{
    (void)req, (void)ud;
    pthread_mutex_lock(&g_mu);
    while (!g_release)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
    hz_res_send(res, 200, "late", 4);
}

Test(metrics, handler_timeout_counts, .timeout = 30)
{
    hz_executor ex;
    hz_executor_pool_options po;
    hz_executor_pool_options_init(&po);
    po.threads = 1;
    cr_assert_eq(hz_executor_pool_create(&ex, &po, NULL), 0);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.executor = &ex;
    cfg.timeouts.handler = 200;
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    hz_route_opts ro;
    hz_route_opts_init(&ro);
    ro.flags = HZ_ROUTE_EXECUTOR;
    cr_assert_eq(hz_route_with(srv, "GET", "/block", h_block, NULL, &ro), 0);
    int idx = hz_server_listen(srv, "127.0.0.1", 0, NULL);
    cr_assert_geq(idx, 0);
    int port = hz_server_port(srv, idx);
    cr_assert_eq(hz_server_start(srv), 0);
    it_conn c;
    cr_assert_eq(it_connect(&c, port), 0);
    cr_assert_eq(request(&c, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n", 0), 503);
    cr_assert_eq(it_wait_closed(&c, IO_MS), 1);
    it_close(&c);
    hz_metrics m;
    wait_closed(srv, 1, &m);
    cr_assert_eq(m.timeouts[HZ_TIMEOUT_HANDLER], 1);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_TIMEOUT], 1);
    cr_assert_eq(m.status_class[4], 1);
    pthread_mutex_lock(&g_mu);
    g_release = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    hz_server_destroy(srv);
    ex.vt->shutdown(ex.self);
}
