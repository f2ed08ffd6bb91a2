/* test_h2limits.c - HTTP/2 limits that had no test of their own, each
 * crossed by a frame-level client (h2_exec.py, python3-h2's hpack):
 *   - the connection's budget of buffered response bytes across streams
 *     (http2.conn_output_buffer): a client that opens streams and never
 *     opens their windows gets HZ_EAGAIN in every writer once the budget
 *     is used, and the server's memory stays bounded;
 *   - timeouts.body_idle on a stream: 408 before the response began,
 *     RST_STREAM after; the connection goes on;
 *   - request trailers: not part of the request (no API shows them), the
 *     body and the response unaffected.
 * Skipped without HTTP/2 or python3-h2. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>
#include "exec_gate.h"
#include "h2_support.h"
#include "itest.h"
#include "test_alloc.h"
#include "test_wait.h"

#ifndef HZ_H2_EXEC
#define HZ_H2_EXEC "h2_exec.py"
#endif

#define WAIT_MS 15000
#define NSTREAMS 20
#define CHUNK 4096
#define CONN_BUDGET (256u * 1024u)
#define STREAM_BUDGET (1024u * 1024u)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long accepted;  /* body bytes hz_res_write took, all streams */
static int paused;     /* streams told HZ_EAGAIN at least once */
static int body_ended; /* /echo's on_end calls with an error */

static int wait_for(const int *v, int n)
{
    return hz_test_wait_for(&mu, &cv, v, n, WAIT_MS);
}

typedef struct flood {
    size_t left;
    int hit; /* told HZ_EAGAIN once already */
} flood;

/* Writes until the budget says HZ_EAGAIN; the drain callback goes on. */
static void flood_pump(hz_res *res, void *ud)
{
    static const char chunk[CHUNK];
    flood *f = ud;
    while (f->left) {
        int rc = hz_res_write(res, chunk, CHUNK);
        if (rc == HZ_EAGAIN) {
            pthread_mutex_lock(&mu);
            if (!f->hit) {
                f->hit = 1;
                paused++;
                pthread_cond_broadcast(&cv);
            }
            pthread_mutex_unlock(&mu);
            return;
        }
        if (rc < 0)
            return;
        f->left -= CHUNK;
        pthread_mutex_lock(&mu);
        accepted += CHUNK;
        pthread_mutex_unlock(&mu);
    }
    hz_res_end(res);
}

static void flood_done(hz_res *res, int status, void *ud)
{
    (void)res;
    (void)status;
    free(ud);
}

/* 4 MiB per stream, streamed: more than either budget. */
static void h_flood(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    flood *f = calloc(1, sizeof(*f));
    cr_assert(f);
    f->left = 4u << 20;
    hz_res_on_done(res, flood_done, f);
    hz_res_on_drain(res, flood_pump, f);
    hz_res_start(res, 200);
    flood_pump(res, f);
}

/* The buffered body, and whether a trailer field shows as a header. */
static void h_body(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_str b = hz_req_body(req);
    hz_str t = hz_req_header(req, "x-trailer");
    char out[256];
    int n = snprintf(out, sizeof(out), "%.*s|%s", (int)b.len, b.ptr ? b.ptr : "",
                     t.ptr ? "present" : "absent");
    hz_res_send(res, 200, out, (size_t)n);
}

static int echo_chunk(hz_req *req, const void *p, size_t n, void *ud)
{
    (void)req;
    hz_res_write(ud, p, n);
    return 0;
}

static void echo_end(hz_req *req, int status, void *ud)
{
    (void)req;
    if (status == 0) {
        hz_res_end(ud);
        return;
    }
    pthread_mutex_lock(&mu);
    body_ended++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Streamed route answering at once, then echoing the body. */
static void h_echo(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_req_on_body(req, echo_chunk, echo_end, res);
    hz_res_start(res, 200);
    hz_res_write(res, "x", 1);
}

static hz_count_alloc CA;
static hz_server *srv;
static int port;

static void start(uint32_t body_idle)
{
    pthread_mutex_lock(&mu);
    accepted = 0;
    paused = body_ended = 0;
    pthread_mutex_unlock(&mu);
    hz_config cfg;
    it_config_counted(&cfg, &CA);
    cfg.output_buffer = STREAM_BUDGET;
    cfg.http2.conn_output_buffer = CONN_BUDGET;
    cfg.timeouts.write = 30000; /* the stall timer stays out of the way */
    if (body_idle)
        cfg.timeouts.body_idle = body_idle;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    hz_route_opts st;
    hz_route_opts_init(&st);
    st.flags = HZ_ROUTE_STREAM_BODY;
    cr_assert_eq(hz_route(srv, "GET", "/flood", h_flood, NULL), 0);
    cr_assert_eq(hz_route(srv, "POST", "/body", h_body, NULL), 0);
    cr_assert_eq(hz_route_with(srv, "POST", "/echo", h_echo, NULL, &st), 0);
    cr_assert_eq(hz_route(srv, "GET", "/ping", it_pong, NULL), 0);
    port = h2s_listen(srv, NULL);
    cr_assert_eq(hz_server_start(srv), 0);
}

static void finish(void)
{
    hz_server_stop(srv, 300);
    hz_server_wait(srv);
    hz_server_destroy(srv);
    it_expect_no_leaks(&CA);
}

static FILE *script_open(const char *mode)
{
    return h2s_script_open(HZ_H2_EXEC, port, mode, 60);
}

static void run(const char *mode, char *out, size_t cap)
{
    int rc = h2s_script_run(HZ_H2_EXEC, port, mode, 60, out, cap);
    cr_expect_eq(rc, 0, "%s: %s", mode, out);
}

TestSuite(h2limits, .timeout = 120);

Test(h2limits, conn_output_budget_pauses_every_stream)
{
    h2s_need();
    start(0);
    char mode[32];
    snprintf(mode, sizeof(mode), "nowindow:%d", NSTREAMS);
    FILE *p = script_open(mode);
    char line[256] = "";
    cr_assert(fgets(line, sizeof(line), p), "script ended early");
    cr_assert_str_eq(line, "sent\n");
    /* Every writer is told HZ_EAGAIN: the connection's budget, not the
     * streams' own (1 MiB each, never reached). */
    cr_expect_eq(wait_for(&paused, NSTREAMS), NSTREAMS);
    pthread_mutex_lock(&mu);
    long took = accepted;
    pthread_mutex_unlock(&mu);
    /* What the budget holds, plus what the client's windows let out
     * (64 KiB for the connection), plus one chunk per stream. */
    long bound = (long)CONN_BUDGET + 65535 + NSTREAMS * CHUNK;
    cr_expect_leq(took, bound, "hz_res_write took %ld bytes (bound %ld)", took, bound);
    long peak = atomic_load(&CA.peak_bytes);
    cr_expect_lt(peak, 4L << 20, "peak %ld bytes", peak);
    finish(); /* the stop closes the connection: the script ends */
    char out[4096];
    int rc = h2s_script_close(p, out, sizeof(out));
    cr_expect_eq(rc, 0, "%s", out);
}

Test(h2limits, body_idle_408_before_the_response)
{
    h2s_need();
    start(400);
    char out[4096];
    run("bodyidle", out, sizeof(out));
    finish();
}

Test(h2limits, body_idle_reset_after_the_response_began)
{
    h2s_need();
    start(400);
    char out[4096];
    run("bodyidle_started", out, sizeof(out));
    cr_expect_eq(wait_for(&body_ended, 1), 1);
    finish();
}

Test(h2limits, request_trailers_are_not_part_of_the_request)
{
    h2s_need();
    start(0);
    char out[4096];
    run("trailers:16", out, sizeof(out));
    cr_expect(strstr(out, "status 200 body b'hello|absent'") != NULL, "%s", out);
    finish();
}

/* Past limits.trailer_bytes (8 KiB by default): 431 as on HTTP/1.1, the
 * handler not called; far past it (4x): the stream is reset. */
Test(h2limits, request_trailers_over_the_limit_431)
{
    h2s_need();
    start(0);
    char out[4096];
    run("trailers:20000", out, sizeof(out));
    cr_expect(strstr(out, "status 431") != NULL, "%s", out);
    finish();
}

Test(h2limits, request_trailers_far_over_the_limit_reset)
{
    h2s_need();
    start(0);
    char out[4096];
    run("trailers:40000", out, sizeof(out));
    cr_expect(strstr(out, "status None") != NULL && strstr(out, "rst None") == NULL, "%s", out);
    finish();
}
