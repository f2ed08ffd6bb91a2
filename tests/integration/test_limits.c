/* test_limits.c - connection cap (503), parse errors (status + close, nothing
 * answered after them), 413 before the body, Expect: 100-continue / 417,
 * chunked request bodies, unread bodies (drain or close). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "itest.h"

/* Every answer the library makes up itself is the reason phrase as
 * text/plain (built in one place: hz__res_answer). */
static void expect_text_plain(const it_resp *r, const char *what)
{
    cr_assert_str_eq(it_header(r, "Content-Type"), "text/plain; charset=utf-8", "%d for: %s",
                     r->status, what);
    cr_assert_gt(r->body_len, 0, "a reason phrase for: %s", what);
    char cl[32];
    snprintf(cl, sizeof(cl), "%zu", r->body_len);
    cr_assert_str_eq(it_header(r, "Content-Length"), cl, "%s", what);
}

static void expect_error(it_server *s, const char *req, int status)
{
    it_conn c;
    cr_assert_eq(it_connect(&c, s->port), 0);
    it_sends(&c, req);
    /* A request smuggled after the bad one must never be answered. */
    it_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0, "no answer to: %s", req);
    cr_assert_eq(r.status, status, "status %d for: %s", r.status, req);
    cr_assert(r.conn_close, "Connection: close for: %s", req);
    expect_text_plain(&r, req);
    it_resp_free(&r);
    cr_assert_eq(it_wait_closed(&c, 3000), 1);
    cr_assert_eq(c.len, 0, "bytes after the error response for: %s", req);
    it_close(&c);
}

enum { ANY = -1, STAYS_OPEN = 0, CLOSES = 1 }; /* expect_answer's closes */

/* Reads the next answer on c: status (0: any), body (NULL: any) and
 * Connection: close present or not (closes: ANY, STAYS_OPEN, CLOSES). */
static void expect_answer(it_conn *c, int status, const char *body, int closes)
{
    it_resp r;
    cr_assert_eq(it_read_response(c, &r, 0, 3000), 0);
    if (status)
        cr_assert_eq(r.status, status);
    if (body)
        cr_assert_str_eq(r.body, body);
    if (closes != ANY)
        cr_assert_eq(r.conn_close, closes, "Connection: close %s", closes ? "missing" : "given");
    it_resp_free(&r);
}

/* On a new connection, the head (or part of one) req gets the library's own
 * answer: status, its reason phrase as text/plain, within timeout_ms. */
static void expect_reason(int port, const char *req, int status, const char *phrase, int timeout_ms)
{
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, port), 0);
    cr_assert_eq(it_sends(&c, req), 0);
    cr_assert_eq(it_read_response(&c, &r, 0, timeout_ms), 0);
    cr_assert_eq(r.status, status);
    cr_assert_str_eq(r.body, phrase);
    char what[8];
    snprintf(what, sizeof(what), "%d", status);
    expect_text_plain(&r, what);
    it_resp_free(&r);
    it_close(&c);
}

Test(limits, parse_errors_answer_their_status_and_close, .timeout = 60)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.limits.request_line = 256;
    cfg.limits.field_size = 256;
    cfg.limits.header_bytes = 2048;
    cfg.limits.header_count = 10;
    it_server s;
    it_start(&s, &cfg);
    expect_error(&s, "GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", 400);
    expect_error(&s, "GET / HTTP/1.1\r\n\r\n", 400); /* no Host */
    expect_error(&s,
                 "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 400);
    expect_error(&s, "POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: snappy, chunked\r\n\r\n",
                 501);
    expect_error(&s, "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505);
    char big[1024];
    memset(big, 0, sizeof(big));
    strcpy(big, "GET /");
    memset(big + 5, 'a', 400);
    strcat(big, " HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_error(&s, big, 414);
    strcpy(big, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(big + strlen(big), 'b', 400);
    strcat(big, "\r\n\r\n");
    expect_error(&s, big, 431);
    char many[2048] = "GET / HTTP/1.1\r\nHost: t\r\n";
    for (int i = 0; i < 12; i++)
        sprintf(many + strlen(many), "X-%d: v\r\n", i);
    strcat(many, "\r\n");
    expect_error(&s, many, 431);
    cr_assert_eq(atomic_load(&it_calls), 0, "no handler ran");
    it_stop(&s);
}

/* 404 (no route), 405 (the router), 501 (unknown method), 413 (limit),
 * 417 (expectation), 408 (header timeout) and the connection cap's 503. */
Test(limits, error_answers_are_text_plain_reason_phrases, .timeout = 30)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.timeouts.header = 300;
    it_server s;
    it_start(&s, &cfg);
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, s.port), 0);
    static const struct {
        const char *req;
        int status;
        const char *body;
    } cases[] = {
        {"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n", 404, "Not Found"},
        {"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n", 405, "Method Not Allowed"},
        {"GET / HTTP/1.1\r\nHost: t\r\nExpect: tea\r\n\r\n", 417, "Expectation Failed"},
        /* last: a 501 closes the connection */
        {"BREW / HTTP/1.1\r\nHost: t\r\n\r\n", 501, "Not Implemented"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(it_sends(&c, cases[i].req), 0);
        cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0, "%s", cases[i].req);
        cr_assert_eq(r.status, cases[i].status, "%s", cases[i].req);
        cr_assert_str_eq(r.body, cases[i].body);
        expect_text_plain(&r, cases[i].req);
        if (cases[i].status == 405)
            cr_assert_neq(*it_header(&r, "Allow"), 0);
        it_resp_free(&r);
    }
    it_close(&c);
    /* HEAD gets the same head and no body. */
    cr_assert_eq(it_connect(&c, s.port), 0);
    cr_assert_eq(it_sends(&c, "HEAD /nowhere HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(&c, &r, 1, 3000), 0);
    cr_assert_eq(r.status, 404);
    cr_assert_str_eq(it_header(&r, "Content-Type"), "text/plain; charset=utf-8");
    cr_assert_str_eq(it_header(&r, "Content-Length"), "9");
    it_resp_free(&r);
    it_close(&c);
    /* 413 from the body limit, answered by the connection. */
    expect_reason(s.port, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413,
                  "Content Too Large", 3000);
    /* 408: half a head, then the header timeout. */
    expect_reason(s.port, "GET / HTTP/1.1\r\nHo", 408, "Request Timeout", 5000);
    it_stop(&s);
}

Test(limits, content_length_over_limit_is_413_before_the_body, .timeout = 20)
{
    it_server s;
    it_conn c;
    it_start_conn(&s, NULL, &c);
    /* /small allows 1 KiB. Expect: 100-continue must not get a 100. */
    it_sends(&c, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n"
                 "Expect: 100-continue\r\n\r\n");
    char buf[64];
    long long t0 = it_now_ms();
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    cr_assert_lt(it_now_ms() - t0, 1000, "answered without waiting for the body");
    cr_assert_eq(r.status, 413);
    cr_assert(r.conn_close);
    cr_assert_null(strstr(r.head, "100 Continue"));
    it_resp_free(&r);
    cr_assert_eq(it_wait_closed(&c, 3000), 1);
    it_close(&c);
    (void)buf;

    /* Within the limit it works, and a chunked body over it is 413 too. */
    cr_assert_eq(it_connect(&c, s.port), 0);
    it_sends(&c, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcd");
    expect_answer(&c, 200, "abcd", ANY);
    it_sends(&c, "POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    char chunk[700];
    memset(chunk, 'z', sizeof(chunk));
    for (int i = 0; i < 2; i++) {
        it_sends(&c, "2bc\r\n");
        it_send(&c, chunk, sizeof(chunk));
        it_sends(&c, "\r\n");
    }
    it_sends(&c, "0\r\n\r\n");
    expect_answer(&c, 413, NULL, CLOSES);
    it_stop_conn(&s, &c);
}

Test(limits, expect_100_continue_and_417, .timeout = 20)
{
    it_server s;
    it_conn c;
    it_start_conn(&s, NULL, &c);
    it_sends(&c, "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                 "Expect: 100-continue\r\n\r\n");
    /* The 100 arrives before we send the body. */
    long long t0 = it_now_ms();
    while (!memmem(c.buf, c.len, "\r\n\r\n", 4) && it_now_ms() - t0 < 3000)
        it_read_some(&c, 100);
    cr_assert(c.len >= 12 && !memcmp(c.buf, "HTTP/1.1 100", 12), "got a 100 Continue");
    c.len = 0;
    it_sends(&c, "hello");
    expect_answer(&c, 200, "hello", ANY);
    it_close(&c);

    cr_assert_eq(it_connect(&c, s.port), 0);
    it_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\nExpect: something-else\r\n\r\n");
    expect_answer(&c, 417, NULL, STAYS_OPEN); /* no body: the connection stays usable */
    /* With a body the client may be holding back: answer, then close. */
    it_sends(&c, "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                 "Expect: something-else\r\n\r\n");
    expect_answer(&c, 417, NULL, CLOSES);
    cr_assert_eq(it_wait_closed(&c, 3000), 1);
    cr_assert_eq(atomic_load(&it_calls), 1, "only the first POST reached its handler");
    it_stop_conn(&s, &c);
}

Test(limits, chunked_request_body_is_buffered_contiguously, .timeout = 20)
{
    it_server s;
    it_conn c;
    it_start_conn(&s, NULL, &c);
    it_sends(&c, "POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n"
                 "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_answer(&c, 200, "hello world", ANY);
    expect_answer(&c, 0, "hello", ANY); /* the pipelined GET after it */
    it_stop_conn(&s, &c);
}

Test(limits, unread_body_is_drained_when_small_else_closed, .timeout = 20)
{
    it_server s;
    it_conn c;
    it_start_conn(&s, NULL, &c);
    /* /ignore answers without reading: a small body is drained and the
     * connection stays usable. */
    it_sends(&c, "POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789"
                 "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_answer(&c, 0, "ignored", STAYS_OPEN);
    expect_answer(&c, 0, "hello", ANY);
    /* A large one is not worth draining: Connection: close. */
    it_sends(&c, "POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n");
    expect_answer(&c, 0, "ignored", CLOSES);
    cr_assert_eq(it_wait_closed(&c, 3000), 1);
    it_stop_conn(&s, &c);
}

Test(limits, connection_cap_answers_503, .timeout = 20)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.max_connections = 4;
    it_server s;
    it_start(&s, &cfg);
    it_conn held[4];
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(it_connect(&held[i], s.port), 0);
        it_sends(&held[i], "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        it_resp r;
        cr_assert_eq(it_read_response(&held[i], &r, 0, 3000), 0);
        it_resp_free(&r);
    }
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    cr_assert_eq(r.status, 503);
    cr_assert_neq(*it_header(&r, "Retry-After"), 0);
    cr_assert_str_eq(r.body, "Service Unavailable");
    expect_text_plain(&r, "connection cap");
    it_resp_free(&r);
    cr_assert_eq(it_wait_closed(&c, 3000), 1);
    it_close(&c);
    /* Below the cap again: served. */
    it_close(&held[0]);
    int ok = 0;
    long long t0 = it_now_ms();
    while (!ok && it_now_ms() - t0 < 3000) {
        cr_assert_eq(it_connect(&c, s.port), 0);
        it_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        if (it_read_response(&c, &r, 0, 3000) == 0) {
            ok = r.status == 200;
            it_resp_free(&r);
        }
        it_close(&c);
    }
    cr_assert(ok, "a slot freed by a close is reused");
    for (int i = 1; i < 4; i++)
        it_close(&held[i]);
    it_stop(&s);
}
