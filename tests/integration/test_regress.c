/* test_regress.c - replays of inputs the fuzzers found (fuzz/fuzz_conn.c),
 * over a real socket: each test names the crash it comes from. */
#include <string.h>
#include <criterion/criterion.h>
#include "itest.h"

static size_t count(const char *h, size_t hl, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    for (const char *p = h; (p = memmem(p, hl - (size_t)(p - h), needle, nl)) != NULL; p += nl)
        n++;
    return n;
}

/* Reads until the server closes (fails on a timeout instead). */
static void read_to_close(it_conn *c)
{
    it_read_some(c, 5000);
    cr_assert_eq(it_wait_closed(c, 1000), 1, "the server must close the connection");
}

/* fuzz_conn crash-f7c727961b22: a bad chunk in the body of a request the
 * core had answered already (its unread body was being discarded) closed
 * the connection at once, dropping the complete responses queued for the
 * pipelined requests before it. They must go out, then the close. */
Test(regress, bad_chunk_in_discarded_body_keeps_queued_responses, .timeout = 20)
{
    it_server s;
    it_start(&s, NULL);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    cr_assert_eq(it_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
                              "POST /nowhere HTTP/1.1\r\nHost: t\r\n"
                              "Transfer-Encoding: chunked\r\n\r\nZZ\r\n"),
                 0);
    read_to_close(&c);
    cr_assert_eq(count(c.buf, c.len, "HTTP/1.1 "), 2, "both responses, got: %.*s", (int)c.len,
                 c.buf);
    cr_assert(strncmp(c.buf, "HTTP/1.1 200 ", 13) == 0);
    cr_assert(memmem(c.buf, c.len, "HTTP/1.1 404 ", 13) != NULL);
    it_close(&c);
    it_stop(&s);
}

/* The same framing error while the response is mid-stream: the queued
 * earlier response and the streamed start go out before the close. */
Test(regress, bad_chunk_mid_stream_keeps_queued_responses, .timeout = 20)
{
    it_server s;
    it_start(&s, NULL);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    cr_assert_eq(it_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
                              "POST /stream HTTP/1.1\r\nHost: t\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n"),
                 0);
    read_to_close(&c);
    cr_assert_eq(count(c.buf, c.len, "HTTP/1.1 200 "), 2, "both heads, got: %.*s", (int)c.len,
                 c.buf);
    /* The streamed response is cut: no last chunk. */
    cr_assert_null(memmem(c.buf, c.len, "\r\n0\r\n\r\n", 7));
    it_close(&c);
    it_stop(&s);
}
