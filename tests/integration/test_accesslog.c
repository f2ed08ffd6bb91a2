/* test_accesslog.c - the access-log callback over real requests, rendered
 * with both ready formatters (combined log format and JSON lines). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>
#include "itest.h"

#define IO_MS 5000
#define MAX_LINES 16

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static char g_clf[MAX_LINES][1024];
static char g_json[MAX_LINES][1024];
static hz_access_entry g_entry[MAX_LINES]; /* strings not valid after the call */
static int g_n;

static void on_log(const hz_access_entry *e, void *ud)
{
    cr_assert_eq(ud, (void *)&g_n);
    pthread_mutex_lock(&g_lock);
    if (g_n < MAX_LINES) {
        cr_assert_gt(hz_access_log_combined(e, g_clf[g_n], sizeof(g_clf[0])), 0);
        cr_assert_gt(hz_access_log_json(e, g_json[g_n], sizeof(g_json[0])), 0);
        g_entry[g_n] = *e;
        g_n++;
    }
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
}

/* The log runs when the response is complete, which may be just after the
 * client has read it: wait (bounded) for n entries. */
static void wait_lines(int n)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    pthread_mutex_lock(&g_lock);
    while (g_n < n) {
        if (pthread_cond_timedwait(&g_cond, &g_lock, &dl) != 0)
            break;
    }
    int got = g_n;
    pthread_mutex_unlock(&g_lock);
    cr_assert_eq(got, n);
}

static void h_ok(hz_req *req, hz_res *res, void *ud)
{
    (void)req, (void)ud;
    hz_res_send(res, 200, "ok", 2);
}

static void h_stream(hz_req *req, hz_res *res, void *ud)
{
    (void)req, (void)ud;
    hz_res_start(res, 201);
    hz_res_write(res, "abc", 3);
    hz_res_write(res, "defg", 4);
    hz_res_end(res);
}

static hz_server *g_srv;
static int g_port;

static void setup(void)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.access_log = on_log;
    cfg.access_log_ud = &g_n;
    cr_assert_eq(hz_server_create(&g_srv, &cfg), 0);
    cr_assert_eq(hz_route(g_srv, "GET", "/ok", h_ok, NULL), 0);
    cr_assert_eq(hz_route(g_srv, "GET", "/stream", h_stream, NULL), 0);
    int idx = hz_server_listen(g_srv, "127.0.0.1", 0, NULL);
    cr_assert_geq(idx, 0);
    g_port = hz_server_port(g_srv, idx);
    cr_assert_eq(hz_server_start(g_srv), 0);
}

static void teardown(void)
{
    hz_server_destroy(g_srv);
}

static int request(it_conn *c, const char *raw, int head_only)
{
    it_resp r;
    cr_assert_eq(it_sends(c, raw), 0);
    cr_assert_eq(it_read_response(c, &r, head_only, IO_MS), 0);
    int st = r.status;
    it_resp_free(&r);
    return st;
}

/* The part of a combined line after the timestamp. */
static const char *after_time(const char *line)
{
    const char *p = strstr(line, "] ");
    cr_assert_not_null(p, "%s", line);
    return p + 2;
}

Test(accesslog, both_formats, .init = setup, .fini = teardown, .timeout = 30)
{
    it_conn c;
    cr_assert_eq(it_connect(&c, g_port), 0);
    cr_assert_eq(request(&c,
                         "GET /ok?x=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: ua \"x\" \\ y\r\n"
                         "Referer: http://r/\"q\"\r\n\r\n",
                         0),
                 200);
    cr_assert_eq(request(&c, "HEAD /ok HTTP/1.1\r\nHost: x\r\n\r\n", 1), 200);
    cr_assert_eq(request(&c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", 0), 201);
    cr_assert_eq(request(&c, "GET /missing HTTP/1.0\r\n\r\n", 0), 404);
    it_close(&c);
    wait_lines(4);

    cr_assert_eq(strncmp(g_clf[0], "127.0.0.1 - - [", 15), 0, "%s", g_clf[0]);
    cr_assert_str_eq(
        after_time(g_clf[0]),
        "\"GET /ok?x=1 HTTP/1.1\" 200 2 \"http://r/\\\"q\\\"\" \"ua \\\"x\\\" \\\\ y\"\n");
    cr_assert_str_eq(after_time(g_clf[1]), "\"HEAD /ok HTTP/1.1\" 200 - \"-\" \"-\"\n");
    cr_assert_str_eq(after_time(g_clf[2]), "\"GET /stream HTTP/1.1\" 201 7 \"-\" \"-\"\n");
    cr_assert_str_eq(after_time(g_clf[3]), "\"GET /missing HTTP/1.0\" 404 9 \"-\" \"-\"\n");
    /* [dd/Mon/yyyy:hh:mm:ss +0000] */
    int d, y, hh, mm, ss;
    char mon[4];
    cr_assert_eq(sscanf(g_clf[0], "127.0.0.1 - - [%2d/%3s/%4d:%2d:%2d:%2d +0000]", &d, mon, &y, &hh,
                        &mm, &ss),
                 6, "%s", g_clf[0]);
    cr_assert_geq(y, 2024);

    cr_assert_eq(g_json[0][0], '{');
    cr_assert_not_null(strstr(g_json[0], "\"peer\":\"127.0.0.1\""));
    cr_assert_not_null(strstr(g_json[0], "\"tls\":false,\"method\":\"GET\",\"target\":\"/ok?x=1\","
                                         "\"version\":\"HTTP/1.1\",\"status\":200,\"bytes\":2,"),
                       "%s", g_json[0]);
    cr_assert_not_null(
        strstr(g_json[0],
               "\"referer\":\"http://r/\\\"q\\\"\",\"user_agent\":\"ua \\\"x\\\" \\\\ y\"}\n"),
        "%s", g_json[0]);
    cr_assert_not_null(strstr(g_json[1], "\"method\":\"HEAD\""));
    cr_assert_not_null(strstr(g_json[1], "\"bytes\":0,"));
    cr_assert_not_null(strstr(g_json[2], "\"status\":201,\"bytes\":7,"));
    cr_assert_not_null(strstr(g_json[3], "\"version\":\"HTTP/1.0\",\"status\":404"));
    /* One connection: the same id, sequence numbers 1..4. */
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(g_entry[i].conn_id, g_entry[0].conn_id);
        cr_assert_eq(g_entry[i].request_seq, (uint32_t)i + 1);
        cr_assert_eq(g_entry[i].tls, 0);
        cr_assert_gt(g_entry[i].peer_port, 0);
    }
}

Test(accesslog, rejected_request_is_logged, .init = setup, .fini = teardown, .timeout = 30)
{
    it_conn c;
    cr_assert_eq(it_connect(&c, g_port), 0);
    cr_assert_eq(request(&c, "GET /ok HTTP/1.1\r\nHost: x\r\nBad Field: 1\r\n\r\n", 0), 400);
    it_close(&c);
    wait_lines(1);
    cr_assert_eq(g_entry[0].status, 400);
    cr_assert_not_null(strstr(g_clf[0], "\"GET /ok\" 400 "), "%s", g_clf[0]);
    cr_assert_not_null(strstr(g_json[0], "\"status\":400"));
}

/* ---- exchanges that end off the beaten path ---------------------------------- */

static hz_executor g_exec;
static int g_done_status = 1; /* on_done's status in h_early; under g_lock */

/* An executor handler that outlives timeouts.handler: waits (bounded) for
 * the cancellation, then returns without answering. */
static void h_overrun(hz_req *req, hz_res *res, void *ud)
{
    (void)res, (void)ud;
    for (int i = 0; i < 1000 && !hz_req_cancelled(req); i++) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int early_chunk(hz_req *req, const void *data, size_t len, void *ud)
{
    (void)req, (void)data, (void)len, (void)ud;
    return 0; /* answered already: take (and drop) the rest of the body */
}

static void early_end(hz_req *req, int status, void *ud)
{
    (void)req, (void)status, (void)ud;
}

static void early_done(hz_res *res, int status, void *ud)
{
    (void)res, (void)ud;
    pthread_mutex_lock(&g_lock);
    g_done_status = status;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
}

/* A streamed-body handler that refuses the request at once. */
static void h_early(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_res_on_done(res, early_done, NULL);
    hz_req_on_body(req, early_chunk, early_end, NULL);
    hz_res_send(res, 400, "no", 2);
}

static void setup_odd(void)
{
    hz_executor_pool_options po;
    hz_executor_pool_options_init(&po);
    po.threads = 1;
    po.queue_cap = 4;
    cr_assert_eq(hz_executor_pool_create(&g_exec, &po, NULL), 0);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.access_log = on_log;
    cfg.access_log_ud = &g_n;
    cfg.executor = &g_exec;
    cfg.timeouts.handler = 200;
    cr_assert_eq(hz_server_create(&g_srv, &cfg), 0);
    cr_assert_eq(it_route_flags(g_srv, "GET", "/overrun", h_overrun, NULL, HZ_ROUTE_EXECUTOR), 0);
    cr_assert_eq(it_route_flags(g_srv, "POST", "/early", h_early, NULL, HZ_ROUTE_STREAM_BODY), 0);
    int idx = hz_server_listen(g_srv, "127.0.0.1", 0, NULL);
    cr_assert_geq(idx, 0);
    g_port = hz_server_port(g_srv, idx);
    cr_assert_eq(hz_server_start(g_srv), 0);
}

static void teardown_odd(void)
{
    hz_server_destroy(g_srv);
    g_exec.vt->shutdown(g_exec.self);
}

/* The 503 of a handler timeout used to be logged with an empty method and
 * target: the job took the read buffer over before the entry was written. */
Test(accesslog, handler_timeout_503_keeps_method_and_target, .init = setup_odd,
     .fini = teardown_odd, .timeout = 30)
{
    it_conn c;
    cr_assert_eq(it_connect(&c, g_port), 0);
    cr_assert_eq(request(&c, "GET /overrun?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", 0), 503);
    it_close(&c);
    wait_lines(1);
    cr_assert_eq(g_entry[0].status, 503);
    cr_assert_not_null(strstr(g_clf[0], "\"GET /overrun?x=1 HTTP/1.1\" 503 "), "%s", g_clf[0]);
    cr_assert_not_null(strstr(g_json[0], "\"method\":\"GET\""), "%s", g_json[0]);
}

/* A streamed-body handler answered 400 at once and the client then closed
 * mid-body: the response was on the wire, so the exchange is a response
 * (access log, responses_total, on_done 0), not only an abort. */
Test(accesslog, early_answer_then_client_close_is_a_response, .init = setup_odd,
     .fini = teardown_odd, .timeout = 30)
{
    it_conn c;
    cr_assert_eq(it_connect(&c, g_port), 0);
    cr_assert_eq(request(&c,
                         "POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                         "0123456789",
                         0),
                 400);
    it_close(&c);
    wait_lines(1);
    cr_assert_eq(g_entry[0].status, 400);
    cr_assert_not_null(strstr(g_clf[0], "\"POST /early HTTP/1.1\" 400 "), "%s", g_clf[0]);
    hz_metrics m;
    /* The entry is written in the same loop step that counts it. */
    cr_assert_eq(hz_server_metrics(g_srv, &m), 0);
    cr_assert_eq(m.requests, 1);
    cr_assert_eq(m.status_class[3], 1);
    cr_assert_eq(m.requests_aborted, 0);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    pthread_mutex_lock(&g_lock);
    while (g_done_status == 1 && pthread_cond_timedwait(&g_cond, &g_lock, &dl) == 0) {
    }
    int st = g_done_status;
    pthread_mutex_unlock(&g_lock);
    cr_assert_eq(st, 0, "on_done: the response was complete (got %d)", st);
}
