/* test_exec.c - handlers on the executor, end to end: blocking handlers in
 * parallel while the loop stays responsive, queue full -> 503 with the
 * connection alive, handler deadline -> 503 + close with the late answer
 * dropped, client gone -> cancelled, stop waits for running handlers, and
 * no leak in any of them (counting allocator).
 *
 * Handlers are held in a "gate" (mutex + condition variable) until the test
 * opens it, and the test waits for server-side counters on a condition
 * variable; deadlines only turn hangs into failures. The executor is the
 * pool wrapped by a vtable that counts submissions (itself a small example
 * of a user executor), so the test knows when a request reached it. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>
#include "exec_gate.h"
#include "itest.h"
#include "test_alloc.h"
#include "test_wait.h"

/* ---- server-side state ----------------------------------------------------- */

/* The gate's (exec_gate.h) counters, and these, under it_gate_mu. */
static int submits;   /* executor submissions (wrapper) */
static int busy;      /* of which refused with HZ_EBUSY */
static int notsup_ok; /* loop-only calls refused with HZ_ENOTSUP on a worker */
static int hdr_rc[5]; /* hz_res_set_header results in h_hdrs */

static int read_locked(const int *v)
{
    return hz_test_read(&it_gate_mu, v);
}

static void state_reset(void)
{
    it_gate_reset();
    pthread_mutex_lock(&it_gate_mu);
    submits = busy = notsup_ok = 0;
    pthread_mutex_unlock(&it_gate_mu);
}

/* Like it_gate_handler, but deaf to cancellation: only the gate ends it. */
static void h_hold(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    pthread_mutex_lock(&it_gate_mu);
    it_gate_entered++;
    pthread_cond_broadcast(&it_gate_cv);
    struct timespec dl = hz_test_deadline_in(IT_GATE_WAIT_MS);
    while (!it_gate_opened && pthread_cond_timedwait(&it_gate_cv, &it_gate_mu, &dl) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&it_gate_mu);
    hz_res_send(res, 200, "held", 4);
    pthread_mutex_lock(&it_gate_mu);
    it_gate_finished++;
    pthread_cond_broadcast(&it_gate_cv);
    pthread_mutex_unlock(&it_gate_mu);
}

/* Echoes the body and a header through the collected streaming calls. */
static void h_echo(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_str b = hz_req_body(req);
    hz_str x = hz_req_header(req, "X-Test");
    hz_str p = hz_req_param(req, "id");
    char hv[64];
    snprintf(hv, sizeof(hv), "%.*s/%.*s", (int)x.len, x.ptr ? x.ptr : "", (int)p.len,
             p.ptr ? p.ptr : "");
    int ns = hz_res_on_done(res, NULL, NULL) == HZ_ENOTSUP &&
             hz_res_after(res, 1, NULL, NULL) == HZ_ENOTSUP &&
             hz_req_on_body(req, NULL, NULL, NULL) == HZ_ENOTSUP;
    hz_res_set_header(res, "X-Echo", hv);
    hz_res_start(res, 201);
    hz_res_write(res, "[", 1);
    hz_res_write(res, b.ptr, b.len);
    hz_res_write(res, "]", 1);
    hz_res_end(res);
    pthread_mutex_lock(&it_gate_mu);
    notsup_ok += ns;
    it_gate_finished++;
    pthread_cond_broadcast(&it_gate_cv);
    pthread_mutex_unlock(&it_gate_mu);
}

/* Header fields the loop refuses must be refused at the call on a worker
 * too (they used to be dropped silently when the loop replayed them). */
static void h_hdrs(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    int rc[5];
    rc[0] = hz_res_set_header(res, "X(Y", "v");            /* not a token */
    rc[1] = hz_res_set_header(res, "X-Ctl", "a\x01b");     /* control byte */
    rc[2] = hz_res_set_header(res, "Content-Length", "3"); /* framing */
    rc[3] = hz_res_set_header(res, "X-Good", "yes");
    rc[4] = hz_res_set_header(res, "Connection", "close");
    hz_res_send(res, 200, "hdr", 3);
    pthread_mutex_lock(&it_gate_mu);
    memcpy(hdr_rc, rc, sizeof(rc));
    it_gate_finished++;
    pthread_cond_broadcast(&it_gate_cv);
    pthread_mutex_unlock(&it_gate_mu);
}

static void h_silent(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)res;
    (void)ud;
}

/* ---- a counting executor wrapper ------------------------------------------- */

static hz_executor inner;

static int cnt_submit(void *self, hz_job_fn fn, void *arg)
{
    (void)self;
    int rc = inner.vt->submit(inner.self, fn, arg);
    pthread_mutex_lock(&it_gate_mu);
    submits++;
    if (rc == HZ_EBUSY)
        busy++;
    pthread_cond_broadcast(&it_gate_cv);
    pthread_mutex_unlock(&it_gate_mu);
    return rc;
}

static void cnt_shutdown(void *self)
{
    (void)self;
    inner.vt->shutdown(inner.self);
}

static const hz_executor_vt cnt_vt = {
    .abi = HZ_BACKEND_ABI,
    .name = "counting-pool",
    .caps = HZ_EXEC_CAP_THREADSAFE,
    .submit = cnt_submit,
    .shutdown = cnt_shutdown,
};

/* ---- fixture ---------------------------------------------------------------- */

static hz_count_alloc CA;
static hz_executor EXR;
static hz_server *srv;
static int port;

static int inner_down; /* the test shut the pool down itself */

static void start_with(unsigned threads, unsigned queue, uint32_t handler_ms, int all,
                       unsigned on_shutdown)
{
    state_reset();
    hz_count_alloc_init(&CA);
    inner_down = 0;
    hz_executor_pool_options po;
    hz_executor_pool_options_init(&po);
    po.threads = threads;
    po.queue_cap = queue;
    po.on_shutdown = on_shutdown;
    cr_assert_eq(hz_executor_pool_create(&inner, &po, &CA.iface), 0);
    EXR.vt = &cnt_vt;
    EXR.self = NULL;
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.allocator = &CA.iface;
    cfg.executor = &EXR;
    cfg.executor_all = all;
    cfg.timeouts.handler = handler_ms;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    unsigned ex = all ? 0 : HZ_ROUTE_EXECUTOR;
    hz_route_opts ro, ping;
    hz_route_opts_init(&ro);
    ro.flags = ex;
    hz_route_opts_init(&ping);
    ping.flags = all ? HZ_ROUTE_INLINE : 0;
    cr_assert_eq(hz_route_with(srv, "GET", "/gate", it_gate_handler, NULL, &ro), 0);
    cr_assert_eq(hz_route_with(srv, "GET", "/hold", h_hold, NULL, &ro), 0);
    cr_assert_eq(hz_route_with(srv, "POST", "/echo/:id", h_echo, NULL, &ro), 0);
    cr_assert_eq(hz_route_with(srv, "GET", "/silent", h_silent, NULL, &ro), 0);
    cr_assert_eq(hz_route_with(srv, "GET", "/hdrs", h_hdrs, NULL, &ro), 0);
    cr_assert_eq(hz_route_with(srv, "GET", "/ping", it_pong, NULL, &ping), 0);
    int idx = hz_server_listen(srv, "127.0.0.1", 0, NULL);
    cr_assert_geq(idx, 0);
    port = hz_server_port(srv, idx);
    cr_assert_gt(port, 0);
    cr_assert_eq(hz_server_start(srv), 0);
}

static void start(unsigned threads, unsigned queue, uint32_t handler_ms, int all)
{
    start_with(threads, queue, handler_ms, all, HZ_POOL_DRAIN);
}

/* Stops the server and the executor; nothing may be left allocated. */
static void finish(void)
{
    it_gate_open();
    hz_server_stop(srv, 2000);
    hz_server_wait(srv);
    hz_server_destroy(srv);
    if (!inner_down)
        inner.vt->shutdown(inner.self);
    it_expect_no_leaks(&CA);
}

static void get(it_conn *c, const char *path)
{
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    cr_assert_eq(it_sends(c, req), 0);
}

/* ---- tests -------------------------------------------------------------------- */

Test(exec, blocking_handlers_run_in_parallel_and_the_loop_stays_free, .timeout = 60)
{
    enum { N = 4 };
    start(N, 64, 30000, 0);
    it_conn c[N], p;
    for (int i = 0; i < N; i++) {
        cr_assert_eq(it_connect(&c[i], port), 0);
        get(&c[i], "/gate");
    }
    /* All N handlers are it_gate_entered at once: N workers, not one after another. */
    cr_assert_eq(it_gate_wait(&it_gate_entered, N), N);
    /* The loop still answers inline routes while every worker is busy. */
    cr_assert_eq(it_connect(&p, port), 0);
    get(&p, "/ping");
    it_resp r;
    cr_assert_eq(it_read_response(&p, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "pong");
    it_resp_free(&r);
    it_gate_open();
    for (int i = 0; i < N; i++) {
        cr_assert_eq(it_read_response(&c[i], &r, 0, 5000), 0);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, "ok");
        cr_assert(!r.conn_close);
        it_resp_free(&r);
        it_close(&c[i]);
    }
    it_close(&p);
    finish();
}

Test(exec, full_queue_answers_503_retry_after_and_keeps_the_connection, .timeout = 60)
{
    start(1, 1, 30000, 0);
    it_conn a, b, c;
    it_resp r;
    cr_assert_eq(it_connect(&a, port), 0);
    get(&a, "/gate");
    cr_assert_eq(it_gate_wait(&it_gate_entered, 1), 1); /* the only worker is held */
    cr_assert_eq(it_connect(&b, port), 0);
    get(&b, "/gate");
    cr_assert_eq(it_gate_wait(&submits, 2), 2); /* b waits in the queue of 1 */
    cr_assert_eq(read_locked(&busy), 0);
    cr_assert_eq(it_connect(&c, port), 0);
    get(&c, "/gate");
    cr_assert_eq(it_gate_wait(&busy, 1), 1);
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 503);
    cr_assert_str_eq(it_header(&r, "Retry-After"), "1");
    cr_assert(!r.conn_close, "load shedding keeps the connection");
    it_resp_free(&r);
    /* The same connection goes on. */
    get(&c, "/ping");
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 200);
    it_resp_free(&r);
    it_gate_open();
    cr_assert_eq(it_read_response(&a, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 200);
    it_resp_free(&r);
    cr_assert_eq(it_read_response(&b, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 200);
    it_resp_free(&r);
    cr_assert_eq(it_gate_wait(&it_gate_finished, 2), 2);
    cr_assert_eq(read_locked(&it_gate_finished), 2, "the refused request never ran");
    it_close(&a);
    it_close(&b);
    it_close(&c);
    finish();
}

Test(exec, handler_deadline_answers_503_closes_and_drops_the_late_answer, .timeout = 60)
{
    start(1, 8, 200, 0);
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, port), 0);
    get(&c, "/gate");
    cr_assert_eq(it_gate_wait(&it_gate_entered, 1), 1);
    /* The gate stays shut: only the 200 ms deadline can answer. */
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 503);
    cr_assert(r.conn_close);
    it_resp_free(&r);
    cr_assert(it_wait_closed(&c, 5000), "closed after the 503");
    /* The handler learns it was abandoned; its answer goes nowhere. */
    cr_assert_eq(it_gate_wait(&it_gate_finished, 1), 1);
    cr_assert_eq(read_locked(&it_gate_saw_cancel), 1);
    cr_assert_eq(read_locked(&it_gate_late_rc), HZ_ECANCELED);
    it_close(&c);
    finish();
}

Test(exec, handler_within_its_deadline_is_answered, .timeout = 60)
{
    start(1, 8, 5000, 0);
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, port), 0);
    get(&c, "/gate");
    cr_assert_eq(it_gate_wait(&it_gate_entered, 1), 1);
    it_gate_open();
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 200);
    it_resp_free(&r);
    cr_assert_eq(read_locked(&it_gate_saw_cancel), 0);
    it_close(&c);
    finish();
}

Test(exec, client_gone_mid_handler_cancels_the_request, .timeout = 60)
{
    start(1, 8, 30000, 0);
    it_conn c;
    cr_assert_eq(it_connect(&c, port), 0);
    get(&c, "/gate");
    cr_assert_eq(it_gate_wait(&it_gate_entered, 1), 1);
    it_close(&c); /* the gate stays shut: only the disconnect can end it */
    cr_assert_eq(it_gate_wait(&it_gate_finished, 1), 1);
    cr_assert_eq(read_locked(&it_gate_saw_cancel), 1);
    cr_assert_eq(read_locked(&it_gate_late_rc), HZ_ECANCELED);
    finish();
}

static atomic_int waited;

static void *wait_thread(void *arg)
{
    (void)arg;
    hz_server_wait(srv);
    pthread_mutex_lock(&it_gate_mu);
    atomic_store(&waited, it_gate_finished + 1);
    pthread_cond_broadcast(&it_gate_cv);
    pthread_mutex_unlock(&it_gate_mu);
    return NULL;
}

Test(exec, stop_waits_for_running_handlers, .timeout = 60)
{
    start(1, 8, 30000, 0);
    it_conn c;
    cr_assert_eq(it_connect(&c, port), 0);
    get(&c, "/hold");
    cr_assert_eq(it_gate_wait(&it_gate_entered, 1), 1);
    atomic_store(&waited, 0);
    /* Deadline 0: the connection is force-closed at once, yet the loop
     * must not end (and free what the job holds) before the handler
     * returned. */
    hz_server_stop(srv, 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, wait_thread, NULL), 0);
    struct timespec dl = hz_test_deadline_in(300);
    pthread_mutex_lock(&it_gate_mu);
    while (!atomic_load(&waited) &&
           pthread_cond_timedwait(&it_gate_cv, &it_gate_mu, &dl) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&it_gate_mu);
    cr_assert_eq(atomic_load(&waited), 0, "hz_server_wait returned with a handler running");
    it_gate_open();
    pthread_join(th, NULL);
    /* waited = it_gate_finished + 1 at the moment hz_server_wait returned */
    cr_assert_eq(atomic_load(&waited), 2, "the handler had not it_gate_finished");
    it_close(&c);
    finish();
}

static void *shutdown_inner(void *arg)
{
    (void)arg;
    inner.vt->shutdown(inner.self);
    return NULL;
}

/* The executor cancels a queued job while the server runs: the job still
 * comes back to its loop, which answers 503 + Retry-After. */
Test(exec, job_cancelled_by_executor_shutdown_gets_503, .timeout = 60)
{
    start_with(1, 4, 30000, 0, HZ_POOL_CANCEL);
    it_conn a, b;
    it_resp r;
    cr_assert_eq(it_connect(&a, port), 0);
    get(&a, "/hold");
    cr_assert_eq(it_gate_wait(&it_gate_entered, 1), 1);
    cr_assert_eq(it_connect(&b, port), 0);
    get(&b, "/gate");
    cr_assert_eq(it_gate_wait(&submits, 2), 2);
    pthread_t th;
    inner_down = 1;
    cr_assert_eq(pthread_create(&th, NULL, shutdown_inner, NULL), 0);
    /* b's job runs on the shutdown path with HZ_ECANCELED, before a ends. */
    cr_assert_eq(it_read_response(&b, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 503);
    cr_assert_str_eq(it_header(&r, "Retry-After"), "1");
    it_resp_free(&r);
    cr_assert_eq(read_locked(&it_gate_finished), 0, "the cancelled handler never ran");
    it_gate_open();
    cr_assert_eq(it_read_response(&a, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 200);
    it_resp_free(&r);
    pthread_join(th, NULL);
    it_close(&a);
    it_close(&b);
    finish(); /* no request reaches the (gone) executor any more */
}

Test(exec, request_and_response_cross_the_worker, .timeout = 60)
{
    start(2, 8, 30000, 0);
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, port), 0);
    cr_assert_eq(it_sends(&c, "POST /echo/42 HTTP/1.1\r\nHost: t\r\nX-Test: hi\r\n"
                              "Content-Length: 5\r\n\r\nhello"),
                 0);
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 201);
    cr_assert_str_eq(r.body, "[hello]");
    cr_assert_str_eq(it_header(&r, "X-Echo"), "hi/42");
    cr_assert_str_eq(it_header(&r, "Content-Length"), "7");
    it_resp_free(&r);
    cr_assert_eq(read_locked(&notsup_ok), 1, "loop-only calls must be refused on a worker");
    /* Keep-alive: a second request on the same connection. */
    get(&c, "/silent");
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 500, "a handler that returns without answering");
    it_resp_free(&r);
    it_close(&c);
    finish();
}

Test(exec, header_refused_on_the_loop_is_refused_at_the_call_on_a_worker, .timeout = 60)
{
    start(2, 8, 30000, 0);
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, port), 0);
    get(&c, "/hdrs");
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_assert_eq(it_gate_wait(&it_gate_finished, 1), 1);
    pthread_mutex_lock(&it_gate_mu);
    int rc[5];
    memcpy(rc, hdr_rc, sizeof(rc));
    pthread_mutex_unlock(&it_gate_mu);
    cr_expect_eq(rc[0], HZ_EINVAL, "X(Y: %d", rc[0]);
    cr_expect_eq(rc[1], HZ_EINVAL, "control byte: %d", rc[1]);
    cr_expect_eq(rc[2], HZ_EINVAL, "Content-Length: %d", rc[2]);
    cr_expect_eq(rc[3], 0);
    cr_expect_eq(rc[4], 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hdr");
    cr_assert_str_eq(it_header(&r, "X-Good"), "yes");
    cr_assert_str_eq(it_header(&r, "X(Y"), "");
    cr_assert_str_eq(it_header(&r, "Content-Length"), "3");
    cr_assert(r.conn_close, "Connection: close set on the worker closes after the response");
    it_resp_free(&r);
    cr_assert(it_wait_closed(&c, 5000));
    it_close(&c);
    finish();
}

Test(exec, executor_all_runs_every_route_but_inline_ones, .timeout = 60)
{
    start(2, 8, 30000, 1);
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, port), 0);
    get(&c, "/ping");
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 200);
    it_resp_free(&r);
    cr_assert_eq(read_locked(&submits), 0, "HZ_ROUTE_INLINE stays on the loop");
    cr_assert_eq(it_sends(&c, "POST /echo/1 HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx"), 0);
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 201);
    it_resp_free(&r);
    cr_assert_eq(read_locked(&submits), 1);
    it_close(&c);
    finish();
}

Test(exec, executor_needs_thread_safety_where_it_is_shared, .timeout = 30)
{
    static hz_allocator_vt single_vt;
    hz_count_alloc_init(&CA);
    single_vt = *CA.iface.vt;
    single_vt.caps &= ~(unsigned)HZ_ALLOC_CAP_THREADSAFE;
    hz_allocator single = {&single_vt, CA.iface.ctx};
    hz_executor_pool_options po;
    hz_executor_pool_options_init(&po);
    po.threads = 1;
    po.queue_cap = 1;
    cr_assert_eq(hz_executor_pool_create(&inner, &po, NULL), 0);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.allocator = &single;
    cfg.executor = &inner;
    hz_server *s = (hz_server *)&cfg;
    cr_assert_eq(hz_server_create(&s, &cfg), HZ_EINVAL);
    cr_assert_null(s);
    /* Several loops submit at once: the executor must allow it. */
    static hz_executor_vt serial_vt;
    serial_vt = *inner.vt;
    serial_vt.caps &= ~(unsigned)HZ_EXEC_CAP_THREADSAFE;
    hz_executor serial = {&serial_vt, inner.self};
    cfg.allocator = NULL;
    cfg.executor = &serial;
    cfg.loops = 2;
    cr_assert_eq(hz_server_create(&s, &cfg), HZ_EINVAL);
    cfg.loops = 1;
    cr_assert_eq(hz_server_create(&s, &cfg), 0, "one loop never submits concurrently");
    hz_server_destroy(s);
    inner.vt->shutdown(inner.self);
}
