/* test_timeouts.c - every timeout crossed with short configured values:
 * header (slowloris: trickling does not extend it), body idle, body minimum
 * rate, write stall (a client that never reads), keep-alive idle. */
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <sys/socket.h>
#include <criterion/criterion.h>
#include "itest.h"

static void cfg_short(hz_config *cfg)
{
    hz_config_init(cfg);
    cfg->loops = 1;
    cfg->timeouts.header = 400;
    cfg->timeouts.body_idle = 400;
    cfg->timeouts.keepalive = 400;
    cfg->timeouts.write = 400;
}

Test(timeouts, header_timeout_is_not_reset_by_trickling, .timeout = 20)
{
    hz_config cfg;
    cfg_short(&cfg);
    it_server s;
    it_start(&s, &cfg);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    const char *req = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    long long t0 = it_now_ms();
    int got408 = 0;
    /* One byte every 50 ms: each byte would reset an idle timer. */
    for (size_t i = 0; req[i] && it_now_ms() - t0 < 3000; i++) {
        if (it_send(&c, req + i, 1) < 0)
            break;
        struct pollfd p = {.fd = c.fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0)
            break;
    }
    it_resp r;
    if (it_read_response(&c, &r, 0, 3000) == 0) {
        got408 = r.status == 408;
        cr_assert(r.conn_close);
        it_resp_free(&r);
    }
    long long dt = it_now_ms() - t0;
    cr_assert(got408, "a partial head that timed out gets 408");
    cr_assert_lt(dt, 1500, "header deadline counts from the first byte (took %lld ms)", dt);
    cr_assert_eq(it_wait_closed(&c, 2000), 1);
    it_close(&c);
    it_stop(&s);
}

Test(timeouts, idle_connection_is_closed_silently, .timeout = 20)
{
    hz_config cfg;
    cfg_short(&cfg);
    it_server s;
    it_start(&s, &cfg);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    long long t0 = it_now_ms();
    cr_assert_eq(it_wait_closed(&c, 3000), 1);
    cr_assert_eq(c.len, 0, "no 408 for a connection that sent nothing");
    cr_assert_geq(it_now_ms() - t0, 300);
    it_close(&c);
    it_stop(&s);
}

Test(timeouts, keepalive_idle_closes_after_a_request, .timeout = 20)
{
    hz_config cfg;
    cfg_short(&cfg);
    cfg.timeouts.keepalive = 300;
    cfg.timeouts.header = 5000;
    it_server s;
    it_start(&s, &cfg);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    /* Measured from the send: the server arms the idle timer only after it
     * answered, so the close can never come earlier than 300 ms (less the
     * wheel's 10 ms tick) after this point, however slow the client reads
     * (valgrind). Measuring from the end of our read could not promise it. */
    long long t0 = it_now_ms();
    it_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    it_resp_free(&r);
    cr_assert_eq(it_wait_closed(&c, 3000), 1);
    long long dt = it_now_ms() - t0;
    cr_assert(dt >= 290 && dt < 2500, "closed %lld ms after the request", dt);
    cr_assert_eq(c.len, 0);
    it_close(&c);
    it_stop(&s);
}

Test(timeouts, body_idle_gets_408, .timeout = 20)
{
    hz_config cfg;
    cfg_short(&cfg);
    it_server s;
    it_start(&s, &cfg);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    it_sends(&c, "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly-part");
    long long t0 = it_now_ms();
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    cr_assert_eq(r.status, 408);
    cr_assert(r.conn_close);
    cr_assert_lt(it_now_ms() - t0, 2000);
    it_resp_free(&r);
    cr_assert_eq(it_wait_closed(&c, 3000), 1);
    cr_assert_eq(atomic_load(&it_calls), 0, "the handler never ran");
    it_close(&c);
    it_stop(&s);
}

/* A body trickled at 100 B/s, never idle for body_idle: min_rate (0: the
 * library default) must end it with a 408. */
static void trickled_body_gets_408(uint32_t min_rate)
{
    hz_config cfg;
    cfg_short(&cfg);
    cfg.timeouts.body_idle = 300;
    if (min_rate)
        cfg.timeouts.body_min_rate = min_rate; /* bytes per second */
    it_server s;
    it_start(&s, &cfg);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    it_sends(&c, "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
    /* 10 bytes every 100 ms (100 B/s): never idle, far below the rate. */
    long long t0 = it_now_ms();
    int answered = 0;
    while (it_now_ms() - t0 < 4000) {
        if (it_send(&c, "0123456789", 10) < 0)
            break;
        struct pollfd p = {.fd = c.fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            answered = 1;
            break;
        }
    }
    cr_assert(answered);
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    cr_assert_eq(r.status, 408);
    cr_assert_lt(it_now_ms() - t0, 3000);
    it_resp_free(&r);
    it_close(&c);
    it_stop(&s);
}

Test(timeouts, body_min_rate_gets_408, .timeout = 20)
{
    trickled_body_gets_408(1000);
}

Test(timeouts, the_default_min_rate_ends_a_trickled_body, .timeout = 20)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cr_assert_eq(cfg.timeouts.body_min_rate, 256, "on by default");
    trickled_body_gets_408(0);
}

Test(timeouts, write_stall_closes_a_client_that_does_not_read, .timeout = 30)
{
    hz_config cfg;
    cfg_short(&cfg);
    cfg.timeouts.write = 300;
    it_server s;
    it_start(&s, &cfg);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    int small = 4096;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    /* 64 MiB streamed: far beyond what the socket buffers hold. */
    it_sends(&c, "GET /large?kb=65536 HTTP/1.1\r\nHost: t\r\n\r\n");
    /* Never read: the server must give up after the write timeout. */
    long long t0 = it_now_ms();
    int done = 0;
    while (!done && it_now_ms() - t0 < 10000) {
        struct pollfd p = {.fd = c.fd, .events = POLLRDHUP};
        poll(&p, 1, 100);
        if (p.revents & (POLLRDHUP | POLLHUP | POLLERR))
            done = 1;
        /* the done counter tells us even if the FIN is queued behind data */
        if (atomic_load(&it_done_fail) > 0)
            done = 1;
    }
    cr_assert(done, "the stalled connection was dropped");
    cr_assert_lt(it_now_ms() - t0, 5000);
    cr_assert_eq(atomic_load(&it_done_fail), 1, "the exchange was aborted");
    it_close(&c);
    it_stop(&s);
}
