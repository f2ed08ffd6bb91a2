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
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>
#include "itest.h"
#include "test_alloc.h"

#ifndef HZ_H2_EXEC
#define HZ_H2_EXEC "h2_exec.py"
#endif

#define WAIT_MS 10000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int inside, open_gate, finished, saw_cancel, late_rc;

static struct timespec deadline_in(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static int wait_for(const int *v, int n)
{
    struct timespec dl = deadline_in(WAIT_MS);
    pthread_mutex_lock(&mu);
    while (*v < n && pthread_cond_timedwait(&cv, &mu, &dl) != ETIMEDOUT) {
    }
    int r = *v;
    pthread_mutex_unlock(&mu);
    return r;
}

static void open_the_gate(void)
{
    pthread_mutex_lock(&mu);
    open_gate = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* On a worker: held until the gate opens or the request is abandoned. */
static void h_gate(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    pthread_mutex_lock(&mu);
    inside++;
    pthread_cond_broadcast(&cv);
    struct timespec dl = deadline_in(WAIT_MS);
    while (!open_gate && !hz_req_cancelled(req)) {
        /* Cancellation is a flag, not a signal on cv: re-check it often. */
        struct timespec tick = deadline_in(5);
        if (tick.tv_sec > dl.tv_sec || (tick.tv_sec == dl.tv_sec && tick.tv_nsec > dl.tv_nsec))
            break;
        pthread_cond_timedwait(&cv, &mu, &tick);
    }
    inside--;
    pthread_mutex_unlock(&mu);
    int cancelled = hz_req_cancelled(req);
    int rc = hz_res_send(res, 200, "ok", 2);
    pthread_mutex_lock(&mu);
    if (cancelled) {
        saw_cancel++;
        late_rc = rc;
    }
    finished++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

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
    int v = wait_for(&saw_cancel, 1);
    hz_res_send(res, 200, v ? "1" : "0", 1);
}

static void h_ping(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    hz_res_send(res, 200, "pong", 4);
}

static void h_inside(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    pthread_mutex_lock(&mu);
    char b[16];
    int n = snprintf(b, sizeof(b), "%d", inside);
    pthread_mutex_unlock(&mu);
    hz_res_send(res, 200, b, (size_t)n);
}

static void h_open(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    open_the_gate();
    hz_res_send(res, 200, "opened", 6);
}

static hz_count_alloc CA;
static hz_executor EXR;
static hz_server *srv;
static int port;

static void need(void)
{
    if (!HZ_HAVE_HTTP2)
        cr_skip_test("built without HTTP/2");
    if (system("/usr/bin/python3 -c 'import hpack' >/dev/null 2>&1") != 0)
        cr_skip_test("python3-h2 not installed");
}

static void start_pool(unsigned threads, unsigned queue, uint32_t handler_ms)
{
    pthread_mutex_lock(&mu);
    inside = open_gate = finished = saw_cancel = 0;
    late_rc = 1;
    pthread_mutex_unlock(&mu);
    hz_count_alloc_init(&CA);
    hz_executor_pool_options po;
    hz_executor_pool_options_init(&po);
    po.threads = threads;
    po.queue_cap = queue;
    cr_assert_eq(hz_executor_pool_create(&EXR, &po, &CA.iface), 0);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.allocator = &CA.iface;
    cfg.executor = &EXR;
    cfg.timeouts.handler = handler_ms;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    hz_route_opts ro;
    hz_route_opts_init(&ro);
    ro.flags = HZ_ROUTE_EXECUTOR;
    cr_assert_eq(hz_route_with(srv, "GET", "/x/gate", h_gate, NULL, &ro), 0);
    cr_assert_eq(hz_route_with(srv, "GET", "/x/fast", h_fast, NULL, &ro), 0);
    cr_assert_eq(hz_route_with(srv, "GET", "/x/cancelled", h_cancelled, NULL, &ro), 0);
    cr_assert_eq(hz_route(srv, "GET", "/ping", h_ping, NULL), 0);
    cr_assert_eq(hz_route(srv, "GET", "/inside", h_inside, NULL), 0);
    cr_assert_eq(hz_route(srv, "GET", "/open", h_open, NULL), 0);
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    lc.protocols = HZ_PROTO_HTTP1 | HZ_PROTO_HTTP2;
    int idx = hz_server_listen_with(srv, &lc);
    cr_assert_geq(idx, 0);
    port = hz_server_port(srv, idx);
    cr_assert_eq(hz_server_start(srv), 0);
}

static void start(uint32_t handler_ms)
{
    start_pool(4, 64, handler_ms);
}

/* Stops the server (unless the test did) and the pool: nothing left. */
static void finish(int stopped)
{
    open_the_gate();
    if (!stopped)
        hz_server_stop(srv, 2000);
    hz_server_wait(srv);
    hz_server_destroy(srv);
    EXR.vt->shutdown(EXR.self);
    cr_expect_eq(atomic_load(&CA.live_blocks), 0, "leaked %ld blocks",
                 (long)atomic_load(&CA.live_blocks));
    cr_expect_eq(atomic_load(&CA.size_mismatches), 0);
}

static FILE *script_open(const char *mode)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "timeout 60 /usr/bin/python3 %s %d %s 2>&1", HZ_H2_EXEC, port, mode);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    return p;
}

static int script_close(FILE *p, char *out, size_t cap)
{
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void run(const char *mode)
{
    char out[4096];
    int rc = script_close(script_open(mode), out, sizeof(out));
    cr_expect_eq(rc, 0, "%s: %s", mode, out);
}

TestSuite(h2exec, .timeout = 120);

Test(h2exec, executor_route_answers)
{
    need();
    start(0);
    run("fast");
    finish(0);
}

Test(h2exec, held_handler_blocks_no_other_stream_nor_connection)
{
    need();
    start(0);
    run("noblock");
    cr_expect_eq(wait_for(&finished, 1), 1);
    cr_expect_eq(saw_cancel, 0);
    finish(0);
}

Test(h2exec, handler_deadline_answers_503_on_the_stream)
{
    need();
    start(300);
    run("deadline");
    /* The handler learnt it (hz_req_cancelled), its late answer refused. */
    cr_expect_eq(wait_for(&saw_cancel, 1), 1);
    cr_expect_eq(wait_for(&finished, 1), 1);
    cr_expect_lt(late_rc, 0, "late hz_res_send returned %d", late_rc);
    finish(0);
}

Test(h2exec, rst_stream_cancels_the_handler)
{
    need();
    start(0);
    run("rst");
    cr_expect_eq(wait_for(&saw_cancel, 1), 1);
    cr_expect_eq(wait_for(&finished, 1), 1);
    cr_expect_lt(late_rc, 0, "late hz_res_send returned %d", late_rc);
    finish(0);
}

/* Graceful: the stop waits for the handler, whose response still goes out. */
Test(h2exec, stop_waits_for_the_executor_stream)
{
    need();
    start(0);
    FILE *p = script_open("stop");
    char line[256] = "";
    cr_assert(fgets(line, sizeof(line), p), "script ended early");
    cr_assert_str_eq(line, "inside\n");
    cr_assert_eq(hz_server_stop(srv, 5000), 0);
    open_the_gate();
    char out[4096];
    int rc = script_close(p, out, sizeof(out));
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "s1=200") != NULL, "%s", out);
    cr_expect_eq(saw_cancel, 0);
    finish(1);
}

/* Cut: the drain deadline closes the connection under the held handler,
 * which sees the cancellation; the loop ends only after the job did. */
Test(h2exec, stop_deadline_cancels_the_executor_stream)
{
    need();
    start(0);
    FILE *p = script_open("stop");
    char line[256] = "";
    cr_assert(fgets(line, sizeof(line), p), "script ended early");
    cr_assert_str_eq(line, "inside\n");
    cr_assert_eq(hz_server_stop(srv, 300), 0);
    hz_server_wait(srv);
    cr_expect_eq(saw_cancel, 1);
    cr_expect_eq(finished, 1);
    char out[4096];
    int rc = script_close(p, out, sizeof(out));
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "s1=None") != NULL, "%s", out);
    finish(1);
}

/* The executor refuses (queue full): 503 + retry-after on that stream, the
 * connection and its other streams go on. */
Test(h2exec, queue_full_sheds_one_stream)
{
    need();
    start_pool(1, 1, 0);
    run("shed");
    cr_expect_eq(wait_for(&finished, 2), 2);
    finish(0);
}
