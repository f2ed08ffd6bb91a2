/* test_allocfail.c - allocation-failure injection over a whole request
 * life: create, route, listen, start, accept, parse, handler, response,
 * keep-alive second request, close, stop, destroy. Run n fails the nth
 * allocation (1, 2, ...) until a run sees no failure. Every run must end
 * cleanly: a setup call returns an error, or the client gets a response
 * (200, or 503 from the server) or a clean close - never silence, a crash
 * or a leak; and once serving, the server answers a new connection. */
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>
#include "itest.h"
#include "test_alloc.h"

#define MAX_RUNS 2000
#define IO_MS 3000

static void h_root(hz_req *req, hz_res *res, void *ud)
{
    (void)req, (void)ud;
    hz_res_set_header(res, "Content-Type", "text/plain");
    hz_res_send(res, 200, "hello", 5);
}

static void h_body(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_str b = hz_req_body(req);
    hz_res_send(res, 200, b.ptr, b.len);
}

static int chunk_fn(hz_req *req, const void *data, size_t len, void *ud)
{
    (void)req, (void)data, (void)len, (void)ud;
    return 0;
}

static void end_fn(hz_req *req, int status, void *ud)
{
    hz_res *res = ud;
    (void)req;
    if (status == 0 && hz_res_start(res, 200) == 0 && hz_res_write(res, "streamed", 8) == 0)
        hz_res_end(res);
}

static void h_stream(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_req_on_body(req, chunk_fn, end_fn, res);
}

enum outcome { OUT_OK, OUT_ERROR_STATUS, OUT_CLOSED };

static long g_run; /* the run in progress, for messages */

/* One request/response; the connection stays usable only for OUT_OK
 * without Connection: close. Fails the test on silence. */
static enum outcome exchange(it_conn *c, const char *req, const char *want_body, int *closed)
{
    it_resp r;
    *closed = 1;
    if (it_sends(c, req) != 0)
        return OUT_CLOSED; /* the server already closed (reset) */
    if (it_read_response(c, &r, 0, IO_MS) != 0) {
        cr_assert_eq(it_wait_closed(c, IO_MS), 1, "run %ld: no response and no close: silence",
                     g_run);
        return OUT_CLOSED;
    }
    enum outcome o = OUT_OK;
    if (r.status == 200) {
        cr_assert_str_eq(r.body, want_body);
        *closed = r.conn_close;
    } else {
        /* Out of memory inside the server: 503 (or 500 from a failed
         * response), and the connection is closed after it. */
        cr_assert(r.status == 503 || r.status == 500, "run %ld: status %d", g_run, r.status);
        o = OUT_ERROR_STATUS;
    }
    it_resp_free(&r);
    return o;
}

typedef struct life {
    int setup_error; /* create/route/listen/start refused */
    int served;      /* the first exchange got a 200 */
    long failures;
    long calls_at_start;
} life;

static const char *POST_BODY = "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
static const char *GET_ROOT = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
static const char *POST_STREAM =
    "POST /stream HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    "3\r\nabc\r\n0\r\n\r\n";

static int setup(hz_server **srv, hz_count_alloc *ca, int *port, unsigned loops)
{
    hz_config cfg;
    int rc;
    hz_config_init(&cfg);
    cfg.loops = loops;
    cfg.allocator = &ca->iface;
    if ((rc = hz_server_create(srv, &cfg)) < 0) {
        cr_assert_null(*srv);
        return rc;
    }
    hz_route_opts stream_opts;
    hz_route_opts_init(&stream_opts);
    stream_opts.flags = HZ_ROUTE_STREAM_BODY;
    if ((rc = hz_route(*srv, "GET", "/", h_root, NULL)) < 0 ||
        (rc = hz_route(*srv, "POST", "/body", h_body, NULL)) < 0 ||
        (rc = hz_route_with(*srv, "POST", "/stream", h_stream, NULL, &stream_opts)) < 0)
        return rc;
    int idx = hz_server_listen(*srv, "127.0.0.1", 0, NULL);
    if (idx < 0)
        return idx;
    *port = hz_server_port(*srv, idx);
    cr_assert_gt(*port, 0);
    return hz_server_start(*srv);
}

static char g_big_req[24000], g_big_body[20001];

static void make_big(void)
{
    memset(g_big_body, 'x', sizeof(g_big_body) - 1);
    g_big_body[sizeof(g_big_body) - 1] = 0;
    snprintf(g_big_req, sizeof(g_big_req),
             "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%s", strlen(g_big_body),
             g_big_body);
}

/* sticky: every allocation from the nth on fails (then the server cannot
 * be expected to recover, only to end cleanly). */
static void run_life(long nth, int sticky, unsigned loops, life *out)
{
    hz_count_alloc ca;
    hz_server *srv = NULL;
    int port = 0;
    memset(out, 0, sizeof(*out));
    g_run = nth;
    hz_fail_alloc_init(&ca, nth, sticky);
    int rc = setup(&srv, &ca, &port, loops);
    if (rc < 0) {
        cr_assert(rc == HZ_ENOMEM, "run %ld: setup failed with %s, not ENOMEM", nth,
                  hz_err_name(rc));
        out->setup_error = 1;
    } else {
        out->calls_at_start = atomic_load(&ca.calls);
        it_conn c;
        int closed;
        cr_assert_eq(it_connect(&c, port), 0);
        enum outcome o = exchange(&c, POST_BODY, "hello", &closed);
        out->served = o == OUT_OK;
        if (!closed)
            o = exchange(&c, GET_ROOT, "hello", &closed); /* keep-alive */
        if (!closed)
            o = exchange(&c, POST_STREAM, "streamed", &closed);
        if (!closed) /* a body larger than one buffer block */
            o = exchange(&c, g_big_req, g_big_body, &closed);
        it_close(&c);
        /* Whatever failed, the server still serves a new connection (only
         * the nth allocation fails: when it hits this check's own
         * connection, the one after it must be served). */
        for (int tries = 0; !sticky; tries++) {
            long before = atomic_load(&ca.failures);
            cr_assert_eq(it_connect(&c, port), 0);
            o = exchange(&c, GET_ROOT, "hello", &closed);
            it_close(&c);
            if (o == OUT_OK)
                break;
            cr_assert(tries == 0 && atomic_load(&ca.failures) > before,
                      "run %ld: a new connection after the failure was not served", nth);
        }
        cr_assert_eq(hz_server_stop(srv, 1000), 0);
        cr_assert_eq(hz_server_wait(srv), 0);
    }
    hz_server_destroy(srv);
    out->failures = atomic_load(&ca.failures);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0, "run %ld: %ld blocks leaked", nth,
                 atomic_load(&ca.live_blocks));
    cr_assert_eq(atomic_load(&ca.size_mismatches), 0, "run %ld: free with a wrong size", nth);
}

Test(allocfail, every_allocation_of_a_request_life, .timeout = 600)
{
    long n, setup_errors = 0, served_failures = 0, after_start = 0;
    life l;
    make_big();
    for (n = 1; n <= MAX_RUNS; n++) {
        run_life(n, 0, 1, &l);
        if (!l.failures)
            break; /* the nth allocation never happened: every one was tried */
        setup_errors += l.setup_error;
        if (!l.setup_error && n > l.calls_at_start) {
            after_start++;
            served_failures += !l.served;
        }
    }
    cr_assert_leq(n, MAX_RUNS, "more allocations than expected");
    /* The walk must have reached both halves of the life. */
    cr_assert_gt(setup_errors, 0, "no setup allocation failed");
    cr_assert_gt(after_start, 0, "no allocation failed while serving");
    cr_log_info("allocfail: %ld runs, %ld setup errors, %ld while serving (%ld first "
                "requests not served)",
                n, setup_errors, after_start, served_failures);
}

Test(allocfail, every_allocation_on_fails_from_there, .timeout = 600)
{
    long n;
    life l;
    make_big();
    for (n = 1; n <= MAX_RUNS; n++) {
        run_life(n, 1, 1, &l);
        if (!l.failures)
            break;
    }
    cr_assert_leq(n, MAX_RUNS, "more allocations than expected");
    cr_assert_gt(n, 30, "the walk must cover setup and serving");
}

/* Two loops with one SO_REUSEPORT listener each: a failure while the second
 * loop registers its listener must undo cleanly too. */
Test(allocfail, two_loops, .timeout = 600)
{
    long n, after_start = 0;
    life l;
    make_big();
    for (n = 1; n <= MAX_RUNS; n++) {
        run_life(n, 0, 2, &l);
        if (!l.failures)
            break;
        after_start += !l.setup_error && n > l.calls_at_start;
    }
    cr_assert_leq(n, MAX_RUNS, "more allocations than expected");
    cr_assert_gt(after_start, 0, "no allocation failed while serving");
}
