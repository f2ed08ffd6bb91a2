/* test_h2exec.c - executor handlers over HTTP/2 (core/http/exec.c with
 * HTTP/2's hooks), end to end with the frame-level clients of h2_exec.py:
 * an executor route answers; a handler held on a worker blocks neither the
 * connection's other streams nor another connection; the handler deadline
 * answers 503 on the stream; RST_STREAM cancels the handler (it sees
 * hz_req_cancelled); queue full: 503 + retry-after on one stream; stop with
 * a stream on a worker, graceful and cut at the drain deadline. Every test
 * ends with a counting allocator back at zero. Handlers wait in a gate
 * (mutex + condition variable) the client opens through an inline route;
 * deadlines only turn hangs into failures. Skipped without HTTP/2 or
 * python3-h2. */
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

#ifndef HZ_H2_EXEC
#define HZ_H2_EXEC "h2_exec.py"
#endif

/* On a worker: the request views work there too. */
static void h_fast(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_str p = hz_req_path(req);
    hz_str x = hz_req_header(req, "X-Test");
    /* The loop-only calls are refused on a worker: proof of where it runs. */
    int worker = hz_res_on_done(res, NULL, NULL) == HZ_ENOTSUP;
    char b[128];
    int n = snprintf(b, sizeof(b), "fast %.*s %.*s %s", (int)p.len, p.ptr, (int)x.len,
                     x.ptr ? x.ptr : "", worker ? "worker" : "loop");
    hz_res_start(res, 200);
    hz_res_write(res, b, (size_t)n / 2);
    hz_res_write(res, b + n / 2, (size_t)n - (size_t)n / 2);
    hz_res_end(res);
}

/* On a worker: "1" once a held handler saw its cancellation. */
static void h_cancelled(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    int v = it_gate_wait(&it_gate_saw_cancel, 1);
    hz_res_send(res, 200, v ? "1" : "0", 1);
}

static void h_inside(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    pthread_mutex_lock(&it_gate_mu);
    char b[16];
    int n = snprintf(b, sizeof(b), "%d", it_gate_inside);
    pthread_mutex_unlock(&it_gate_mu);
    hz_res_send(res, 200, b, (size_t)n);
}

static void h_open(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    it_gate_open();
    hz_res_send(res, 200, "opened", 6);
}

static hz_count_alloc CA;
static hz_executor EXR;
static hz_server *srv;
static int port;

static void start_pool(unsigned threads, unsigned queue, uint32_t handler_ms)
{
    it_exec_create(&srv, &EXR, &CA, threads, queue, handler_ms, 0);
    cr_assert_eq(it_route_flags(srv, "GET", "/x/gate", it_gate_handler, NULL, HZ_ROUTE_EXECUTOR),
                 0);
    cr_assert_eq(it_route_flags(srv, "GET", "/x/fast", h_fast, NULL, HZ_ROUTE_EXECUTOR), 0);
    cr_assert_eq(it_route_flags(srv, "GET", "/x/cancelled", h_cancelled, NULL, HZ_ROUTE_EXECUTOR),
                 0);
    cr_assert_eq(hz_route(srv, "GET", "/ping", it_pong, NULL), 0);
    cr_assert_eq(hz_route(srv, "GET", "/inside", h_inside, NULL), 0);
    cr_assert_eq(hz_route(srv, "GET", "/open", h_open, NULL), 0);
    port = h2s_listen(srv, NULL);
    cr_assert_eq(hz_server_start(srv), 0);
}

/* Stops the server (unless the test did) and the pool: nothing left. */
static void finish(int stopped)
{
    it_exec_finish(srv, &EXR, stopped);
    it_expect_no_leaks(&CA);
}

/* A server and h2_exec.py's stop mode, once its stream 1 is held in the
 * gate (the test then stops the server). */
static FILE *start_held_stream(void)
{
    h2s_need();
    start_pool(4, 64, 0);
    return h2s_script_at(HZ_H2_EXEC, port, "stop", 60, "inside");
}

/* A server (start_pool's arguments) and h2_exec.py's mode run against it
 * to its end. */
static void run(unsigned threads, unsigned queue, uint32_t handler_ms, const char *mode)
{
    h2s_need();
    start_pool(threads, queue, handler_ms);
    char out[4096];
    int rc = h2s_script_run(HZ_H2_EXEC, port, mode, 60, out, sizeof(out));
    cr_expect_eq(rc, 0, "%s: %s", mode, out);
}

TestSuite(h2exec, .timeout = 120);

Test(h2exec, executor_route_answers)
{
    run(4, 64, 0, "fast");
    finish(0);
}

Test(h2exec, held_handler_blocks_no_other_stream_nor_connection)
{
    run(4, 64, 0, "noblock");
    cr_expect_eq(it_gate_wait(&it_gate_finished, 1), 1);
    cr_expect_eq(it_gate_saw_cancel, 0);
    finish(0);
}

/* The client's mode makes the server give up a held handler, which learns
 * it (hz_req_cancelled) and whose late answer is refused. */
static void expect_cancelled(const char *mode, uint32_t handler_ms)
{
    run(4, 64, handler_ms, mode);
    cr_expect_eq(it_gate_wait(&it_gate_saw_cancel, 1), 1, "%s", mode);
    cr_expect_eq(it_gate_wait(&it_gate_finished, 1), 1, "%s", mode);
    cr_expect_lt(it_gate_late_rc, 0, "%s: late hz_res_send returned %d", mode, it_gate_late_rc);
    finish(0);
}

Test(h2exec, handler_deadline_answers_503_on_the_stream)
{
    expect_cancelled("deadline", 300);
}

Test(h2exec, rst_stream_cancels_the_handler)
{
    expect_cancelled("rst", 0);
}

/* Graceful: the stop waits for the handler, whose response still goes out. */
Test(h2exec, stop_waits_for_the_executor_stream)
{
    FILE *p = start_held_stream();
    cr_assert_eq(hz_server_stop(srv, 5000), 0);
    it_gate_open();
    char out[4096];
    h2s_script_done(p, out, sizeof(out));
    cr_expect(strstr(out, "s1=200") != NULL, "%s", out);
    cr_expect_eq(it_gate_saw_cancel, 0);
    finish(1);
}

/* Cut: the drain deadline closes the connection under the held handler,
 * which sees the cancellation; the loop ends only after the job did. */
Test(h2exec, stop_deadline_cancels_the_executor_stream)
{
    FILE *p = start_held_stream();
    cr_assert_eq(hz_server_stop(srv, 300), 0);
    hz_server_wait(srv);
    cr_expect_eq(it_gate_saw_cancel, 1);
    cr_expect_eq(it_gate_finished, 1);
    char out[4096];
    h2s_script_done(p, out, sizeof(out));
    cr_expect(strstr(out, "s1=None") != NULL, "%s", out);
    finish(1);
}

/* The executor refuses (queue full): 503 + retry-after on that stream, the
 * connection and its other streams go on. */
Test(h2exec, queue_full_sheds_one_stream)
{
    run(1, 1, 0, "shed");
    cr_expect_eq(it_gate_wait(&it_gate_finished, 2), 2);
    finish(0);
}
