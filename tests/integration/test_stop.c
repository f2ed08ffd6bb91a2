/* test_stop.c - graceful stop (in-flight requests finish with Connection:
 * close, idle connections close, no new connections, force-close at the
 * deadline), destroy with connections still open (nothing leaks), and
 * accepting under EMFILE without spinning. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>
#include "itest.h"
#include "test_alloc.h"

static void wait_calls(int n)
{
    long long t0 = it_now_ms();
    while (atomic_load(&it_calls) < n && it_now_ms() - t0 < 5000)
        poll(NULL, 0, 5);
    cr_assert_geq(atomic_load(&it_calls), n);
}

Test(stop, graceful_stop_finishes_in_flight_requests, .timeout = 30)
{
    it_server s;
    it_start(&s, NULL);
    it_conn busy, idle;
    cr_assert_eq(it_connect(&busy, s.port), 0);
    cr_assert_eq(it_connect(&idle, s.port), 0);
    it_sends(&idle, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    it_resp r;
    cr_assert_eq(it_read_response(&idle, &r, 0, 3000), 0);
    it_resp_free(&r);
    it_sends(&busy, "GET /slow?ms=400 HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_calls(2);
    long long t0 = it_now_ms();
    cr_assert_eq(hz_server_stop(s.srv, 5000), 0);
    cr_assert_eq(it_wait_closed(&idle, 2000), 1, "idle connections close at once");
    cr_assert_lt(it_now_ms() - t0, 1000);
    cr_assert_eq(it_read_response(&busy, &r, 0, 3000), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "slow");
    cr_assert(r.conn_close, "in-flight responses carry Connection: close");
    it_resp_free(&r);
    cr_assert_eq(it_wait_closed(&busy, 2000), 1);
    cr_assert_eq(hz_server_wait(s.srv), 0);
    cr_assert_lt(it_now_ms() - t0, 3000, "the server ended once the request was done");
    /* Not listening any more. */
    it_conn late;
    int refused = it_connect(&late, s.port) != 0;
    if (!refused) {
        refused = it_wait_closed(&late, 1000);
        it_close(&late);
    }
    cr_assert(refused, "no new connections after stop");
    cr_assert_eq(atomic_load(&it_done_ok), 2);
    hz_server_destroy(s.srv);
    it_close(&busy);
    it_close(&idle);
}

Test(stop, deadline_force_closes_what_is_left, .timeout = 30)
{
    it_server s;
    it_start(&s, NULL);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    it_sends(&c, "GET /slow?ms=20000 HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_calls(1);
    long long t0 = it_now_ms();
    hz_server_stop(s.srv, 300);
    cr_assert_eq(it_wait_closed(&c, 5000), 1);
    cr_assert_eq(c.len, 0, "no response: it was cut at the deadline");
    long long dt = it_now_ms() - t0;
    cr_assert(dt >= 250 && dt < 2000, "closed after %lld ms", dt);
    cr_assert_eq(hz_server_wait(s.srv), 0);
    cr_assert_eq(atomic_load(&it_done_fail), 1, "the handler learnt of the abort");
    hz_server_destroy(s.srv);
    it_close(&c);
}

Test(stop, destroy_with_open_connections_leaks_nothing, .timeout = 30)
{
    hz_count_alloc ca;
    hz_config cfg;
    it_config_counted(&cfg, &ca);
    cfg.loops = 2;
    it_server s;
    it_start(&s, &cfg);
    it_conn c[6];
    for (int i = 0; i < 6; i++)
        cr_assert_eq(it_connect(&c[i], s.port), 0);
    /* idle after a request, partial head, half a body, an async handler,
     * a streamed response nobody reads, a streamed request body */
    it_sends(&c[0], "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    it_resp r;
    cr_assert_eq(it_read_response(&c[0], &r, 0, 3000), 0);
    it_resp_free(&r);
    it_sends(&c[1], "GET / HTTP/1.1\r\nHo");
    it_sends(&c[2], "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
    it_sends(&c[3], "GET /slow?ms=20000 HTTP/1.1\r\nHost: t\r\n\r\n");
    it_sends(&c[4], "GET /large?kb=65536 HTTP/1.1\r\nHost: t\r\n\r\n");
    it_sends(&c[5], "POST /stream HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\npart");
    wait_calls(4);
    cr_assert_gt(atomic_load(&ca.live_blocks), 0);
    hz_server_destroy(s.srv);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0, "%ld blocks leaked",
                 (long)atomic_load(&ca.live_blocks));
    cr_assert_eq(atomic_load(&ca.size_mismatches), 0);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(it_wait_closed(&c[i], 3000), 1, "connection %d closed", i);
        it_close(&c[i]);
    }
}

/* Every poller compiled in (epoll and io_uring in an HZ_POLLER=io_uring
 * build): a stop whose deadline cuts a response the client does not read,
 * and a destroy right after, with the receive of a pipelined request and
 * the output still in flight in a completion poller (cancelled at the
 * loop's end, then freed: ASan and the counting allocator check it). */
Test(stop, stop_and_destroy_cancel_io_in_flight_on_every_poller, .timeout = 60)
{
    for (int k = 0; hz_pollers[k]; k++) {
        hz_count_alloc ca;
        hz_config cfg;
        it_config_counted(&cfg, &ca);
        cfg.poller = hz_pollers[k];
        it_server s;
        it_start(&s, &cfg);
        it_conn c, idle;
        cr_assert_eq(it_connect(&c, s.port), 0);
        cr_assert_eq(it_connect(&idle, s.port), 0);
        it_sends(&c, "GET /large?kb=65536 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        cr_assert_gt(it_read_atleast(&c, 1, 5000), 0, "%s: the response started",
                     hz_pollers[k]->name);
        long long t0 = it_now_ms();
        hz_server_stop(s.srv, 200);
        cr_assert_eq(hz_server_wait(s.srv), 0);
        long long dt = it_now_ms() - t0;
        cr_assert(dt < 5000, "%s: stopped after %lld ms", hz_pollers[k]->name, dt);
        hz_server_destroy(s.srv);
        cr_assert_eq(atomic_load(&ca.live_blocks), 0, "%s: %ld blocks leaked", hz_pollers[k]->name,
                     (long)atomic_load(&ca.live_blocks));
        cr_assert_eq(atomic_load(&ca.size_mismatches), 0);
        cr_assert_eq(it_wait_closed(&idle, 3000), 1, "%s: idle connection closed",
                     hz_pollers[k]->name);
        it_close(&c);
        it_close(&idle);
    }
}

Test(stop, destroy_without_start_and_null, .timeout = 10)
{
    hz_count_alloc ca;
    hz_config cfg;
    it_config_counted(&cfg, &ca);
    cfg.loops = 3;
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    cr_assert_geq(hz_server_listen(srv, "::1", 0, NULL), 0, "IPv6 literal");
    cr_assert_geq(hz_server_listen(srv, "127.0.0.1", 0, NULL), 0);
    cr_assert_eq(hz_server_listen(srv, "not-an-address", 0, NULL), HZ_EADDR);
    hz_server_destroy(srv);
    hz_server_destroy(NULL);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0);
}

Test(stop, allocation_failures_at_create_leak_nothing, .timeout = 30)
{
    for (long n = 1; n < 200; n++) {
        hz_count_alloc ca;
        hz_fail_alloc_init(&ca, n, 0);
        hz_config cfg;
        hz_config_init(&cfg);
        cfg.loops = 2;
        cfg.allocator = &ca.iface;
        hz_server *srv = (hz_server *)&cfg;
        int rc = hz_server_create(&srv, &cfg);
        if (rc == 0) {
            hz_server_destroy(srv);
            cr_assert_eq(atomic_load(&ca.live_blocks), 0);
            cr_assert_gt(n, 2);
            return;
        }
        cr_assert_eq(rc, HZ_ENOMEM, "allocation %ld: %s", n, hz_strerror(rc));
        cr_assert_null(srv);
        cr_assert_eq(atomic_load(&ca.live_blocks), 0, "leak when allocation %ld fails", n);
    }
    cr_assert_fail("create never succeeded");
}

/* The highest open descriptor (the new limit leaves none above it). */
static int fcntl_top(void)
{
    int top = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            top = fd;
    return top;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

Test(stop, emfile_pauses_accepting_without_spinning, .timeout = 30)
{
    it_server s;
    it_start(&s, NULL);
    enum { N = 4 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    /* No descriptor left for the server's accept(). */
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    int top = fcntl_top();
    low = old;
    low.rlim_cur = (rlim_t)top + 1;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)s.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < N; i++)
        cr_assert_eq(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
    double c0 = cpu_seconds();
    poll(NULL, 0, 600);
    double used = cpu_seconds() - c0;
    cr_assert_lt(used, 0.25, "the loop spun: %.3f s CPU in 0.6 s", used);
    /* Descriptors again: the paused listener resumes and serves them. */
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    for (int i = 0; i < N; i++) {
        it_conn c = {.fd = fds[i], .cap = 65536};
        c.buf = malloc(c.cap);
        it_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        it_resp r;
        cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0, "client %d served", i);
        cr_assert_eq(r.status, 200);
        it_resp_free(&r);
        it_close(&c);
    }
    it_stop(&s);
}

Test(stop, shared_listener_without_reuseport_serves_and_stops, .timeout = 30)
{
    hz_count_alloc ca;
    hz_config cfg;
    it_config_counted(&cfg, &ca);
    cfg.loops = 3;
    cfg.reuse_port = 0; /* one listening socket polled by every loop */
    it_server s;
    it_start(&s, &cfg);
    it_conn c[12];
    for (int i = 0; i < 12; i++) {
        cr_assert_eq(it_connect(&c[i], s.port), 0);
        it_sends(&c[i], "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    for (int i = 0; i < 12; i++) {
        it_resp r;
        cr_assert_eq(it_read_response(&c[i], &r, 0, 3000), 0, "client %d", i);
        cr_assert_eq(r.status, 200);
        it_resp_free(&r);
    }
    it_stop(&s);
    for (int i = 0; i < 12; i++) {
        cr_assert_eq(it_wait_closed(&c[i], 3000), 1);
        it_close(&c[i]);
    }
    cr_assert_eq(atomic_load(&ca.live_blocks), 0);
    it_conn late;
    cr_assert_neq(it_connect(&late, s.port), 0, "the shared listener was closed");
}

/* hz_server_run: loop 0 runs on the calling thread (the others on their
 * own), requests are served, a stop from another thread ends it with 0. */
typedef struct run_ctx {
    hz_server *srv;
    pthread_t thread; /* runs runner() */
    pthread_t self;   /* set by runner() before hz_server_run, which starts the other loops */
    atomic_int rc;
    atomic_int on_caller; /* requests served on that thread */
    atomic_int elsewhere; /* requests served on another thread */
} run_ctx;

static void h_where(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    run_ctx *rc = ud;
    if (pthread_equal(pthread_self(), rc->self))
        atomic_fetch_add(&rc->on_caller, 1);
    else
        atomic_fetch_add(&rc->elsewhere, 1);
    hz_res_send(res, 200, "here", 4);
}

static void *runner(void *arg)
{
    run_ctx *rc = arg;
    rc->self = pthread_self();
    atomic_store(&rc->rc, hz_server_run(rc->srv));
    return NULL;
}

static void run_on_caller(unsigned loops)
{
    run_ctx rc;
    memset(&rc, 0, sizeof(rc));
    atomic_store(&rc.rc, 1);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = loops;
    cr_assert_eq(hz_server_create(&rc.srv, &cfg), 0);
    cr_assert_eq(hz_route(rc.srv, "GET", "/where", h_where, &rc), 0);
    int idx = hz_server_listen(rc.srv, "127.0.0.1", 0, NULL);
    cr_assert_geq(idx, 0);
    int port = hz_server_port(rc.srv, idx);
    cr_assert_eq(pthread_create(&rc.thread, NULL, runner, &rc), 0);
    /* Enough connections that every loop gets some (SO_REUSEPORT hashes
     * them; a shared listener lets whichever loop wakes first accept). */
    for (int i = 0; i < 32; i++) {
        it_conn c;
        cr_assert_eq(it_connect(&c, port), 0);
        it_sends(&c, "GET /where HTTP/1.1\r\nHost: t\r\n\r\n");
        it_resp r;
        cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, "here");
        it_resp_free(&r);
        it_close(&c);
    }
    cr_assert_eq(atomic_load(&rc.on_caller) + atomic_load(&rc.elsewhere), 32);
    if (loops == 1)
        cr_assert_eq(atomic_load(&rc.on_caller), 32, "one loop: all on the caller");
    else
        cr_assert_gt(atomic_load(&rc.on_caller), 0, "loop 0 serves on the caller");
    cr_assert_eq(atomic_load(&rc.rc), 1, "still running");
    cr_assert_eq(hz_server_stop(rc.srv, 1000), 0);
    cr_assert_eq(pthread_join(rc.thread, NULL), 0);
    cr_assert_eq(atomic_load(&rc.rc), 0);
    hz_server_destroy(rc.srv);
}

Test(stop, run_serves_loop_zero_on_the_calling_thread, .timeout = 30)
{
    run_on_caller(1);
}

Test(stop, run_with_several_loops_ends_on_stop, .timeout = 30)
{
    run_on_caller(3);
}
