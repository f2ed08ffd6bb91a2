/* test_source.c - response bodies from an hz_body_source: known length and
 * streamed (chunked), through the output budget; a source that is not
 * ready (HZ_EAGAIN) and hz_res_resume; errors mid-body and short bodies
 * (connection closed, done once with the error); the client going away
 * mid-body and a reader stalled past the write timeout (done once, with
 * HZ_ECLOSED); HEAD (no read); HTTP/1.0 (close-delimited); a
 * dropped executor response; a source handed over by an
 * executor handler (its callbacks run on the loop). Every test checks that
 * done ran exactly once. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>
#include "itest.h"

#define IO_MS 10000

/* ---- what the sources saw (server threads write, the test reads) ---------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int done_calls;     /* done callbacks run */
static int done_status;    /* the last one's status */
static int reads;          /* read callbacks run */
static int eagains;        /* HZ_EAGAIN answers given */
static int done_on_worker; /* done ran on the thread that ran the handler */

static void reset(void)
{
    pthread_mutex_lock(&mu);
    done_calls = reads = eagains = done_on_worker = 0;
    done_status = 1;
    pthread_mutex_unlock(&mu);
}

/* Waits (bounded) until done ran; returns how many times it did. */
static int wait_done(void)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&mu);
    while (done_calls < 1 && pthread_cond_timedwait(&cv, &mu, &dl) == 0) {
    }
    int n = done_calls;
    pthread_mutex_unlock(&mu);
    return n;
}

static int locked(const int *v)
{
    pthread_mutex_lock(&mu);
    int r = *v;
    pthread_mutex_unlock(&mu);
    return r;
}

/* ---- a generator source ------------------------------------------------------ */

typedef struct gen {
    hz_res *res;       /* for hz_res_resume from a loop timer */
    size_t total;      /* bytes it will produce before its end */
    size_t made;       /* produced so far */
    size_t fail_at;    /* answer HZ_EIO once made reaches it (0: never) */
    int every_other;   /* answer HZ_EAGAIN on every other read */
    int waiting;       /* gave HZ_EAGAIN, not resumed yet */
    pthread_t handler; /* the thread that ran the handler */
} gen;

static unsigned char pattern(size_t i)
{
    return (unsigned char)('a' + i % 26);
}

static void resume_fn(hz_res *res, int status, void *ud)
{
    gen *g = ud;
    if (status == 0 && g->waiting) {
        g->waiting = 0;
        cr_assert_eq(hz_res_resume(res), 0);
    }
}

static long gen_read(void *ud, void *buf, size_t len)
{
    gen *g = ud;
    pthread_mutex_lock(&mu);
    reads++;
    pthread_mutex_unlock(&mu);
    if (g->fail_at && g->made >= g->fail_at)
        return HZ_EIO;
    if (g->every_other && !g->waiting && (reads % 2) == 0) {
        g->waiting = 1;
        pthread_mutex_lock(&mu);
        eagains++;
        pthread_mutex_unlock(&mu);
        /* Data "arrives" 1 ms later, on the loop. */
        cr_assert_eq(hz_res_after(g->res, 1, resume_fn, g), 0);
        return HZ_EAGAIN;
    }
    size_t n = g->total - g->made;
    if (n > len)
        n = len;
    if (g->fail_at && g->made + n > g->fail_at)
        n = g->fail_at - g->made;
    for (size_t i = 0; i < n; i++)
        ((unsigned char *)buf)[i] = pattern(g->made + i);
    g->made += n;
    return (long)n;
}

static void gen_done(void *ud, int status)
{
    gen *g = ud;
    pthread_mutex_lock(&mu);
    done_calls++;
    done_status = status;
    if (pthread_equal(pthread_self(), g->handler))
        done_on_worker++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    free(g);
}

static size_t q_num(hz_req *req, const char *key, size_t dflt)
{
    hz_str q = hz_req_query(req);
    char buf[64];
    size_t kl = strlen(key);
    if (q.len > kl + 1 && q.len < sizeof(buf) && !strncmp(q.ptr, key, kl) && q.ptr[kl] == '=') {
        memcpy(buf, q.ptr + kl + 1, q.len - kl - 1);
        buf[q.len - kl - 1] = 0;
        return (size_t)strtoull(buf, NULL, 10);
    }
    return dflt;
}

/* GET /src?n=N&...: mode from ud: 'k' known length, 's' streamed (-1),
 * 'a' known with HZ_EAGAIN, 'f' fails after half, 'h' short (claims 2n). */
static void h_src(hz_req *req, hz_res *res, void *ud)
{
    int mode = (int)(intptr_t)ud;
    gen *g = calloc(1, sizeof(*g));
    cr_assert_not_null(g);
    g->res = res;
    g->handler = pthread_self();
    g->total = q_num(req, "n", 1000);
    int64_t length = (int64_t)g->total;
    if (mode == 's')
        length = -1;
    if (mode == 'a')
        g->every_other = 1;
    if (mode == 'f')
        g->fail_at = g->total / 2;
    if (mode == 'h')
        length = (int64_t)g->total * 2;
    if (mode == 'l') { /* late: hand the source over, then overrun the deadline */
        hz_body_source src = {.read = gen_read, .done = gen_done, .ud = g};
        cr_assert_eq(hz_res_send_source(res, 200, length, &src), 0);
        for (int i = 0; i < 2000 && !hz_req_cancelled(req); i++) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        return;
    }
    hz_body_source src = {.read = gen_read, .done = gen_done, .ud = g};
    hz_res_set_header(res, "Content-Type", "application/octet-stream");
    int rc = hz_res_send_source(res, 200, length, &src);
    if (rc < 0) {
        free(g);
        hz_res_send(res, 500, "x", 1);
    }
}

/* ---- fixture ---------------------------------------------------------------- */

static hz_server *srv;
static hz_executor exr;
static int port;

static uint32_t write_timeout; /* timeouts.write for the next setup (0: the default) */

static void setup(void)
{
    reset();
    hz_executor_pool_options po;
    hz_executor_pool_options_init(&po);
    po.threads = 1;
    po.queue_cap = 8;
    cr_assert_eq(hz_executor_pool_create(&exr, &po, NULL), 0);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.executor = &exr;
    cfg.output_buffer = 64 * 1024; /* several budget rounds per body */
    cfg.timeouts.handler = 300;
    if (write_timeout)
        cfg.timeouts.write = write_timeout;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    cr_assert_eq(hz_route(srv, "GET", "/known", h_src, (void *)(intptr_t)'k'), 0);
    cr_assert_eq(hz_route(srv, "GET", "/stream", h_src, (void *)(intptr_t)'s'), 0);
    cr_assert_eq(hz_route(srv, "GET", "/again", h_src, (void *)(intptr_t)'a'), 0);
    cr_assert_eq(hz_route(srv, "GET", "/fail", h_src, (void *)(intptr_t)'f'), 0);
    cr_assert_eq(hz_route(srv, "GET", "/short", h_src, (void *)(intptr_t)'h'), 0);
    cr_assert_eq(
        it_route_flags(srv, "GET", "/worker", h_src, (void *)(intptr_t)'k', HZ_ROUTE_EXECUTOR), 0);
    cr_assert_eq(it_route_flags(srv, "GET", "/worker-stream", h_src, (void *)(intptr_t)'s',
                                HZ_ROUTE_EXECUTOR),
                 0);
    cr_assert_eq(
        it_route_flags(srv, "GET", "/worker-late", h_src, (void *)(intptr_t)'l', HZ_ROUTE_EXECUTOR),
        0);
    int idx = hz_server_listen(srv, "127.0.0.1", 0, NULL);
    cr_assert_geq(idx, 0);
    port = hz_server_port(srv, idx);
    cr_assert_eq(hz_server_start(srv), 0);
}

static void teardown(void)
{
    hz_server_destroy(srv);
    exr.vt->shutdown(exr.self);
    /* Every test ends with one source since its last reset: with the server
     * gone nothing can call done again. */
    cr_assert_eq(locked(&done_calls), 1, "done ran %d times", locked(&done_calls));
}

static void get(it_conn *c, const char *target, const char *method)
{
    char req[256];
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: t\r\n\r\n", method, target);
    cr_assert_eq(it_sends(c, req), 0);
}

static void check_body(const it_resp *r, size_t n)
{
    cr_assert_eq(r->body_len, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)r->body[i] != pattern(i))
            cr_assert_fail("byte %zu differs", i);
}

/* The source's done ran once (teardown checks that no second one follows),
 * with status. */
static void expect_done(int status)
{
    cr_assert_eq(wait_done(), 1);
    cr_assert_eq(locked(&done_status), status, "done: %s", hz_err_name(locked(&done_status)));
}

/* GET target on c: a whole 200 response in *r whose body is the first n
 * bytes of pattern() (the caller checks its framing, then calls done_ok). */
static void get_ok(it_conn *c, it_resp *r, const char *target, size_t n)
{
    get(c, target, "GET");
    cr_assert_eq(it_read_response(c, r, 0, IO_MS), 0);
    cr_assert_eq(r->status, 200);
    check_body(r, n);
}

static void done_ok(it_resp *r)
{
    it_resp_free(r);
    expect_done(0);
}

/* The next request on a kept-alive c, for a fresh source: a whole response
 * with the first n bytes of pattern() (chunked, when want_chunked), and its
 * source's done. */
static void next_ok(it_conn *c, const char *target, size_t n, int want_chunked)
{
    it_resp r;
    reset();
    get(c, target, "GET");
    cr_assert_eq(it_read_response(c, &r, 0, IO_MS), 0);
    if (want_chunked)
        cr_assert(r.chunked);
    check_body(&r, n);
    it_resp_free(&r);
    cr_assert_eq(wait_done(), 1);
}

/* GET target on a new connection, whose source ends short of its promised
 * length: the body is cut, then the close, and done learns HZ_EIO. */
static void cut_body_closes(const char *target)
{
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, port), 0);
    get(&c, target, "GET");
    cr_assert_neq(it_read_response(&c, &r, 0, IO_MS), 0);
    cr_assert_eq(it_wait_closed(&c, IO_MS), 1);
    expect_done(HZ_EIO);
    it_close(&c);
}

/* ---- tests -------------------------------------------------------------------- */

TestSuite(source, .init = setup, .fini = teardown, .timeout = 60);

Test(source, known_length_through_the_budget)
{
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, port), 0);
    get_ok(&c, &r, "/known?n=1000000", 1000000);
    cr_assert_str_eq(it_header(&r, "Content-Length"), "1000000");
    cr_assert_eq(r.chunked, 0);
    done_ok(&r);
    /* Keep-alive: the connection serves the next request. */
    next_ok(&c, "/known?n=5", 5, 0);
    it_close(&c);
}

Test(source, unknown_length_is_chunked)
{
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, port), 0);
    get_ok(&c, &r, "/stream?n=100001", 100001);
    cr_assert(r.chunked);
    cr_assert_str_eq(it_header(&r, "Content-Length"), "");
    done_ok(&r);
    /* An empty streamed body: the last chunk alone. */
    next_ok(&c, "/stream?n=0", 0, 1);
    it_close(&c);
}

Test(source, eagain_waits_for_resume)
{
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, port), 0);
    get_ok(&c, &r, "/again?n=200000", 200000);
    done_ok(&r);
    cr_assert_gt(locked(&eagains), 3, "the source paused several times");
    it_close(&c);
}

/* The head promised 300000 bytes, the source fails after half of them. */
Test(source, error_mid_body_closes_and_reports_once)
{
    cut_body_closes("/fail?n=300000");
}

Test(source, short_body_closes_and_reports_eio)
{
    cut_body_closes("/short?n=1000"); /* claims 2000 */
}

Test(source, client_gone_mid_body_reports_once)
{
    it_conn c;
    cr_assert_eq(it_connect(&c, port), 0);
    /* 1 GiB: far more than the socket buffers hold. */
    get(&c, "/known?n=1073741824", "GET");
    /* The head and some body, then go: it_read_some would read on until
     * the deadline, which is long enough for the whole GiB (done, 0). */
    cr_assert_gt(it_read_atleast(&c, 64 * 1024, IO_MS), 0);
    it_close(&c);
    expect_done(HZ_ECLOSED);
}

static void setup_write_timeout(void)
{
    write_timeout = 300;
    setup();
}

/* A client that stops reading: the write timeout closes the connection and
 * the source learns it (an error, not the 0 of a complete body). The
 * client's EOF is not awaited: the kernel still trickles what the closed
 * socket had queued into the tiny receive window. */
Test(source, stalled_reader_write_timeout_reports_once, .init = setup_write_timeout)
{
    it_conn c;
    cr_assert_eq(it_connect(&c, port), 0);
    int small = 4096;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    get(&c, "/known?n=1073741824", "GET");
    expect_done(HZ_ECLOSED);
    it_close(&c);
}

Test(source, head_gets_no_read)
{
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, port), 0);
    get(&c, "/known?n=777", "HEAD");
    cr_assert_eq(it_read_response(&c, &r, 1, IO_MS), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(it_header(&r, "Content-Length"), "777");
    done_ok(&r);
    cr_assert_eq(locked(&reads), 0);
    it_close(&c);
}

Test(source, executor_handler_hands_its_source_to_the_loop)
{
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, port), 0);
    get_ok(&c, &r, "/worker?n=500000", 500000);
    cr_assert_str_eq(it_header(&r, "Content-Length"), "500000");
    done_ok(&r);
    cr_assert_eq(locked(&done_on_worker), 0, "the callbacks run on the loop");
    next_ok(&c, "/worker-stream?n=70000", 70000, 1);
    it_close(&c);
}

/* The handler handed its source over and then overran timeouts.handler:
 * the client got 503, the source was never read and its done ran once,
 * on the loop, with HZ_ECANCELED. */
Test(source, dropped_executor_response_cancels_its_source)
{
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, port), 0);
    get(&c, "/worker-late?n=1000", "GET");
    cr_assert_eq(it_read_response(&c, &r, 0, IO_MS), 0);
    cr_assert_eq(r.status, 503);
    it_resp_free(&r);
    expect_done(HZ_ECANCELED);
    cr_assert_eq(locked(&reads), 0);
    cr_assert_eq(locked(&done_on_worker), 0);
    it_close(&c);
}

/* HTTP/1.0 has no chunked framing: an unknown length ends at the close. */
Test(source, unknown_length_to_http10_is_close_delimited)
{
    it_conn c;
    cr_assert_eq(it_connect(&c, port), 0);
    cr_assert_eq(it_sends(&c, "GET /stream?n=50000 HTTP/1.0\r\nHost: t\r\n\r\n"), 0);
    it_read_some(&c, IO_MS); /* up to the close (or the deadline: then short) */
    const char *end = memmem(c.buf, c.len, "\r\n\r\n", 4);
    cr_assert_not_null(end);
    size_t hl = (size_t)(end + 4 - c.buf);
    cr_assert(!memmem(c.buf, hl, "Transfer-Encoding", 17), "no chunked framing for 1.0");
    cr_assert(!memmem(c.buf, hl, "Content-Length", 14));
    cr_assert_eq(c.len - hl, 50000);
    for (size_t i = 0; i < 50000; i++)
        if ((unsigned char)c.buf[hl + i] != pattern(i))
            cr_assert_fail("byte %zu differs", i);
    cr_assert_eq(it_wait_closed(&c, IO_MS), 1, "the close ends the body");
    expect_done(0);
    it_close(&c);
}
