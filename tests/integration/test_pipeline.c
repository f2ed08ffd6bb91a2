/* test_pipeline.c - pipelined requests answered strictly in order, the
 * bound on responses queued ahead of a client that does not read, and 512
 * concurrent keep-alive clients pipelining without a stall. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <criterion/criterion.h>
#include "itest.h"

Test(pipeline, answers_strictly_in_order, .timeout = 30)
{
    it_server s;
    it_start(&s, NULL);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    char req[8192] = "";
    /* Async (/slow), streamed (/stream), buffered (/body) and inline (/big)
     * handlers interleaved: completion order differs, answer order not. */
    for (int i = 0; i < 5; i++) {
        char one[512];
        snprintf(one, sizeof(one),
                 "GET /slow?ms=%d HTTP/1.1\r\nHost: t\r\n\r\n"
                 "POST /stream HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\ns%02d"
                 "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nb%02d"
                 "GET /big?kb=%d HTTP/1.1\r\nHost: t\r\n\r\n",
                 100 - i * 20, i, i, i + 1);
        strcat(req, one);
    }
    cr_assert_eq(it_sends(&c, req), 0);
    for (int i = 0; i < 5; i++) {
        it_resp r;
        char want[8];
        cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
        cr_assert_str_eq(r.body, "slow");
        it_resp_free(&r);
        cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
        snprintf(want, sizeof(want), "s%02d", i);
        cr_assert_str_eq(r.body, want);
        cr_assert(r.chunked);
        it_resp_free(&r);
        cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
        snprintf(want, sizeof(want), "b%02d", i);
        cr_assert_str_eq(r.body, want);
        it_resp_free(&r);
        cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
        cr_assert_eq(r.body_len, (size_t)(i + 1) * 1024);
        it_resp_free(&r);
    }
    it_close(&c);
    it_stop(&s);
}

Test(pipeline, bound_on_responses_queued_for_a_client_that_does_not_read, .timeout = 60)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.max_pipelined = 2;
    cfg.output_buffer = 16 * 1024;
    cfg.timeouts.write = 20000;
    it_server s;
    it_start(&s, &cfg);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    enum { N = 60 };
    char *req = malloc(N * 64);
    req[0] = 0;
    for (int i = 0; i < N; i++)
        sprintf(req + strlen(req), "GET /big?kb=%d HTTP/1.1\r\nHost: t\r\n\r\n", 200 + i);
    cr_assert_eq(it_sends(&c, req), 0);
    free(req);
    /* Not reading: the server stops parsing once the socket is full. Wait
     * until the handler count stops moving. */
    int last = -1, calls;
    long long t0 = it_now_ms();
    while ((calls = atomic_load(&it_calls)) != last && it_now_ms() - t0 < 10000) {
        last = calls;
        poll(NULL, 0, 300);
    }
    cr_assert_lt(calls, N / 2, "%d of %d requests were handled with nobody reading", calls, N);
    /* Reading resumes everything, in order. */
    for (int i = 0; i < N; i++) {
        it_resp r;
        cr_assert_eq(it_read_response(&c, &r, 0, 10000), 0, "response %d", i);
        cr_assert_eq(r.body_len, (size_t)(200 + i) * 1024, "response %d out of order", i);
        it_resp_free(&r);
    }
    cr_assert_eq(atomic_load(&it_calls), N);
    it_close(&c);
    it_stop(&s);
}

Test(pipeline, many_keepalive_clients_pipelining_never_stall, .timeout = 120)
{
    enum { NCLI = 600, ROUNDS = 5, DEPTH = 4 };
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2 * NCLI + 100 && rl.rlim_max >= 2 * NCLI + 100) {
        rl.rlim_cur = 2 * NCLI + 100;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    cr_assert_geq(rl.rlim_cur, 2 * NCLI + 100, "needs %d descriptors", 2 * NCLI + 100);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 2;
    it_server s;
    it_start(&s, &cfg);
    static it_conn c[NCLI];
    static int got[NCLI], sent[NCLI];
    const char one[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    char burst[sizeof(one) * DEPTH];
    burst[0] = 0;
    for (int k = 0; k < DEPTH; k++)
        strcat(burst, one);
    for (int i = 0; i < NCLI; i++) {
        cr_assert_eq(it_connect(&c[i], s.port), 0, "client %d", i);
        got[i] = 0;
        sent[i] = 1;
        cr_assert_eq(it_sends(&c[i], burst), 0);
    }
    static struct pollfd pfd[NCLI];
    int remaining = NCLI;
    long long t0 = it_now_ms();
    while (remaining && it_now_ms() - t0 < 60000) {
        for (int i = 0; i < NCLI; i++)
            pfd[i] =
                (struct pollfd){.fd = got[i] < ROUNDS * DEPTH ? c[i].fd : -1, .events = POLLIN};
        int n = poll(pfd, NCLI, 5000);
        cr_assert_gt(n, 0, "stalled: %d clients still waiting", remaining);
        for (int i = 0; i < NCLI; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            if (c[i].len == c[i].cap) {
                c[i].cap *= 2;
                c[i].buf = realloc(c[i].buf, c[i].cap);
            }
            ssize_t k = recv(c[i].fd, c[i].buf + c[i].len, c[i].cap - c[i].len, 0);
            cr_assert_gt(k, 0, "client %d: connection lost", i);
            c[i].len += (size_t)k;
            /* Count complete responses ("hello" bodies end each one). */
            char *p;
            while ((p = memmem(c[i].buf, c[i].len, "\r\n\r\nhello", 9))) {
                size_t used = (size_t)(p - c[i].buf) + 9;
                memmove(c[i].buf, c[i].buf + used, c[i].len - used);
                c[i].len -= used;
                got[i]++;
                if (got[i] == ROUNDS * DEPTH)
                    remaining--;
            }
            if (got[i] == sent[i] * DEPTH && sent[i] < ROUNDS) {
                sent[i]++;
                cr_assert_eq(it_sends(&c[i], burst), 0);
            }
        }
    }
    cr_assert_eq(remaining, 0, "%d clients did not get all their responses", remaining);
    for (int i = 0; i < NCLI; i++)
        it_close(&c[i]);
    it_stop(&s);
}
