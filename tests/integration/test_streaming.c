/* test_streaming.c - streamed responses with backpressure (bounded server
 * memory while a client reads slowly), a streamed request body echoed back
 * while it arrives, HTTP/1.0 close-delimited streaming, HEAD on a streamed
 * route. */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <criterion/criterion.h>
#include "itest.h"
#include "test_alloc.h"

static void check_pattern(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (char)('a' + i % 26))
            cr_assert_fail("byte %zu is '%c'", i, p[i]);
}

Test(streaming, large_response_with_backpressure_keeps_memory_bounded, .timeout = 60)
{
    hz_count_alloc ca;
    hz_config cfg;
    it_config_counted(&cfg, &ca);
    cfg.output_buffer = 64 * 1024;
    it_server s;
    it_start(&s, &cfg);
    long base = atomic_load(&ca.live_bytes);
    atomic_store(&ca.peak_bytes, base);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    int small = 16384;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    it_sends(&c, "GET /large?kb=16384 HTTP/1.1\r\nHost: t\r\n\r\n");
    /* Read slowly at first, so the server has to wait for the socket. */
    for (int i = 0; i < 20; i++) {
        poll(NULL, 0, 20);
        it_read_some(&c, 1);
    }
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 30000), 0);
    cr_assert_eq(r.status, 200);
    cr_assert(r.chunked);
    cr_assert_eq(r.body_len, 16u << 20);
    check_pattern(r.body, r.body_len);
    it_resp_free(&r);
    long peak = atomic_load(&ca.peak_bytes) - base;
    cr_assert_lt(peak, 512 * 1024, "server memory grew by %ld bytes for a 16 MiB stream", peak);
    it_close(&c);
    it_stop(&s);
}

typedef struct sender {
    int fd;
    const char *data;
    size_t len;
} sender;

static void *send_body(void *arg)
{
    sender *sd = arg;
    char hdr[32];
    size_t off = 0;
    /* Chunks of varying size, so chunk framing crosses read boundaries. */
    for (size_t k = 1; off < sd->len; k = k * 7 % 65521) {
        size_t n = 100 + k % 30000;
        if (n > sd->len - off)
            n = sd->len - off;
        int hl = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
        if (send(sd->fd, hdr, (size_t)hl, MSG_NOSIGNAL) < 0 ||
            send(sd->fd, sd->data + off, n, MSG_NOSIGNAL) < 0 ||
            send(sd->fd, "\r\n", 2, MSG_NOSIGNAL) < 0)
            return NULL;
        off += n;
    }
    send(sd->fd, "0\r\n\r\n", 5, MSG_NOSIGNAL);
    return NULL;
}

Test(streaming, streamed_body_is_echoed_while_it_arrives, .timeout = 60)
{
    hz_count_alloc ca;
    hz_config cfg;
    it_config_counted(&cfg, &ca);
    it_server s;
    it_start(&s, &cfg);
    long base = atomic_load(&ca.live_bytes);
    atomic_store(&ca.peak_bytes, base);
    size_t len = 8u << 20;
    char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (char)('a' + i % 26);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    it_sends(&c, "POST /stream HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                 "Expect: 100-continue\r\n\r\n");
    sender sd = {c.fd, data, len};
    pthread_t th;
    pthread_create(&th, NULL, send_body, &sd);
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 30000), 0);
    pthread_join(th, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, len, "got %zu of %zu: %s", r.body_len, len, r.head);
    check_pattern(r.body, r.body_len);
    it_resp_free(&r);
    long peak = atomic_load(&ca.peak_bytes) - base;
    cr_assert_lt(peak, 1024 * 1024, "server memory grew by %ld bytes echoing 8 MiB", peak);
    /* The connection is still good. */
    it_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    cr_assert_str_eq(r.body, "hello");
    it_resp_free(&r);
    free(data);
    it_close(&c);
    it_stop(&s);
}

Test(streaming, http10_stream_is_close_delimited, .timeout = 30)
{
    it_server s;
    it_start(&s, NULL);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    it_sends(&c, "GET /large?kb=100 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 10000), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_not(r.chunked, "no chunked framing for HTTP/1.0");
    cr_assert(r.conn_close);
    cr_assert_eq(r.body_len, 100 * 1024);
    check_pattern(r.body, r.body_len);
    it_resp_free(&r);
    it_close(&c);
    it_stop(&s);
}

Test(streaming, head_on_a_streamed_route_sends_no_body, .timeout = 30)
{
    it_server s;
    it_start(&s, NULL);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    it_sends(&c, "HEAD /large?kb=100 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 1, 10000), 0);
    cr_assert_eq(r.status, 200);
    it_resp_free(&r);
    cr_assert_eq(it_read_response(&c, &r, 0, 10000), 0);
    cr_assert_str_eq(r.body, "hello", "no body bytes between the two responses");
    it_resp_free(&r);
    it_close(&c);
    it_stop(&s);
}

Test(streaming, big_send_uses_writev_and_survives_partial_writes, .timeout = 30)
{
    it_server s;
    it_start(&s, NULL);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    it_sends(
        &c,
        "GET /big?kb=4096 HTTP/1.1\r\nHost: t\r\n\r\nGET /big?kb=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 20000), 0);
    cr_assert_eq(r.body_len, 4096u * 1024);
    check_pattern(r.body, r.body_len);
    it_resp_free(&r);
    cr_assert_eq(it_read_response(&c, &r, 0, 20000), 0);
    cr_assert_eq(r.body_len, 1024);
    it_resp_free(&r);
    it_close(&c);
    it_stop(&s);
}
