/* test_parser.c - the request-head parser: every syntax, framing, Host and
 * limit rule, each input also fed split at every byte and from guard-page
 * buffers (parser_testutil.h). Built twice: with the SIMD scanners and with
 * HZ_PARSER_FORCE_SCALAR (unit_test_parser_scalar). */
#include <stdio.h>
#include "parser_testutil.h"

typedef struct pcase {
    const char *req;
    size_t len;
    hz__perr err; /* HZ__PE_NONE: accepted, head_len == len */
} pcase;

#define ACC(s)                                                                                     \
    {                                                                                              \
        s, sizeof(s) - 1, HZ__PE_NONE                                                              \
    }
#define REJ(s, kind)                                                                               \
    {                                                                                              \
        s, sizeof(s) - 1, HZ__PE_##kind                                                            \
    }
#define H11 "GET / HTTP/1.1\r\nHost: a\r\n"

static void run_cases(const pcase *cases, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const pcase *c = &cases[k];
        pt_result r;
        pt_parse(c->req, c->len, &pt_limits, &r);
        if (c->err == HZ__PE_NONE) {
            cr_assert_eq(r.rc, (int)c->len, "case %zu accepted: rc %d (%s) for %.*s", k, r.rc,
                         hz__perr_name(r.err), (int)c->len, c->req);
        } else {
            cr_assert_eq(r.rc, HZ_EPROTO, "case %zu must fail with %s, rc %d: %.*s", k,
                         hz__perr_name(c->err), r.rc, (int)c->len, c->req);
            cr_assert_eq(r.err, c->err, "case %zu: %s, expected %s: %.*s", k, hz__perr_name(r.err),
                         hz__perr_name(c->err), (int)c->len, c->req);
        }
        pt_result_free(&r);
    }
}

/* Parses a head that must be accepted whole; r must be freed. */
static void accept_head(const char *req, size_t len, pt_result *r)
{
    pt_parse(req, len, &pt_limits, r);
    cr_assert_eq(r->rc, (int)len, "rc %d (%s) for %s", r->rc, hz__perr_name(r->err), req);
}
#define ACCEPT(lit, r) accept_head(lit, sizeof(lit) - 1, r)

static int span_is(const char *buf, uint32_t off, uint32_t len, const char *want)
{
    return len == strlen(want) && !memcmp(buf + off, want, len);
}

/* ------------------------------------------------------------------------ */

Test(parser, simd_selection)
{
    const char *s = hz__parser_simd();
#if defined(HZ_PARSER_FORCE_SCALAR)
    cr_assert_str_eq(s, "scalar");
#elif defined(__SSE2__) || defined(__ARM_NEON)
    cr_assert_str_neq(s, "scalar");
#else
    cr_assert_str_eq(s, "scalar");
#endif
}

Test(parser, error_kinds_have_status_name_text)
{
    for (int k = 0; k < HZ__PE_COUNT; k++) {
        int st = hz__perr_status((hz__perr)k);
        if (k == HZ__PE_NONE)
            cr_assert_eq(st, 0);
        else
            cr_assert(st >= 400 && st <= 599, "%s: %d", hz__perr_name((hz__perr)k), st);
        cr_assert_gt(strlen(hz__perr_name((hz__perr)k)), 0);
        cr_assert_gt(strlen(hz__perr_text((hz__perr)k)), 0);
        for (int j = 0; j < k; j++)
            cr_assert_str_neq(hz__perr_name((hz__perr)k), hz__perr_name((hz__perr)j));
    }
    cr_assert_eq(hz__perr_status(HZ__PE_URI_TOO_LONG), 414);
    cr_assert_eq(hz__perr_status(HZ__PE_FIELD_TOO_LARGE), 431);
    cr_assert_eq(hz__perr_status(HZ__PE_HEAD_TOO_LARGE), 431);
    cr_assert_eq(hz__perr_status(HZ__PE_TOO_MANY_FIELDS), 431);
    cr_assert_eq(hz__perr_status(HZ__PE_TE_UNKNOWN), 501);
    cr_assert_eq(hz__perr_status(HZ__PE_VERSION_UNSUPPORTED), 505);
    cr_assert_eq(hz__perr_status(HZ__PE_CL_AND_TE), 400);
    cr_assert_str_eq(hz__perr_name(HZ__PE_CL_AND_TE), "CL_AND_TE");
    cr_assert_str_eq(hz__perr_name((hz__perr)9999), "UNKNOWN");
    cr_assert_eq(hz__perr_status((hz__perr)9999), 400);
}

Test(parser, accepted_requests)
{
    static const pcase cases[] = {
        ACC("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ACC("GET / HTTP/1.0\r\n\r\n"),
        ACC("GET /index.html HTTP/1.0\r\nUser-Agent: x\r\n\r\n"),
        ACC("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ACC("\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ACC("POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"),
        ACC("get / HTTP/1.1\r\nHost: a\r\n\r\n"), /* unknown method: the server says 501 */
        ACC("FOOBAR / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ACC("M-SEARCH! /x HTTP/1.1\r\nHost: a\r\n\r\n"),
        ACC("GET http://localhost/ HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ACC("GET http://localhost HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ACC("GET HTTPS://[::1]:8443/a?b HTTP/1.1\r\nHost: x\r\n\r\n"),
        ACC("GET ftp:///x HTTP/1.1\r\nHost: x\r\n\r\n"),
        ACC("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
        ACC("OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n"),
        ACC("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
        ACC("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: a\r\n\r\n"),
        ACC("GET /a%20b?x=%2F&y=%7e HTTP/1.1\r\nHost: a\r\n\r\n"),
        /* what browsers send raw in a query (WHATWG query encode set) */
        ACC("GET /?q={a:[1,2]}|^`\\ HTTP/1.1\r\nHost: a\r\n\r\n"),
        ACC("GET /a|b^c[d] HTTP/1.1\r\nHost: a\r\n\r\n"),
        ACC("GET http://a/p|^?q={}`\\ HTTP/1.1\r\nHost: a\r\n\r\n"),
        ACC("GET //double//slash HTTP/1.1\r\nHost: a\r\n\r\n"),
        ACC("GET /a?b?c=/d HTTP/1.1\r\nHost: a\r\n\r\n"),
        ACC("GET / HTTP/1.2\r\nHost: a\r\n\r\n"),
        ACC("GET / HTTP/1.9\r\nHost: a\r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nHost: \t localhost \t\r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nhOsT: localhost\r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nHost:\r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nHost: [v1.fe:80]:1\r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nHost: a:\r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nHost: xn--bcher-kva.example_~!$&'()*+,;=%41\r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nHost: a\r\nX-Test: caf\xc3\xa9\r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nHost: a\r\nX-Test: \x80\xff\r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nHost: a\r\nX-Test: a\tb \"c\" (d)\r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nHost: a\r\nX!#$%&'*+-.^_`|~09az: v\r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nY:  \r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n"),
        ACC("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n"),
        ACC("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
        ACC("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"),
        ACC("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:5,5 ,\t5\r\n\r\n"),
        ACC("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \t5 \t\r\n\r\n"),
        ACC("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
        ACC("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n"),
        ACC("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000005\r\n\r\n"),
        ACC("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ACC("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"),
        ACC("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED \r\n\r\n"),
        ACC("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n"),
        ACC("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked ,, \r\n\r\n"),
        ACC("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n"),
        ACC("HEAD / HTTP/1.0\r\nHost: a\r\n\r\n"),
    };
    run_cases(cases, HZ__ARRAY_LEN(cases));
}

Test(parser, request_line_rejections)
{
    static const pcase cases[] = {
        REJ(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", REQUEST_LINE),
        REJ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", REQUEST_LINE),
        REJ("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", REQUEST_LINE),
        REJ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", REQUEST_LINE),
        REJ("GET\r\nHost: a\r\n\r\n", REQUEST_LINE),
        REJ("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", METHOD),
        REJ("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", METHOD),
        REJ("GET\x00 / HTTP/1.1\r\nHost: a\r\n\r\n", METHOD),
        REJ("(GET) / HTTP/1.1\r\nHost: a\r\n\r\n", METHOD),
        REJ("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", METHOD),
        REJ("G\xc3\x89T / HTTP/1.1\r\n\r\n", METHOD),
        REJ("GET ! HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /#frag HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /a?b#c HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /\t HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        /* RFC 3986 leaves these out of paths (browsers always encode them) */
        REJ("GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /<x> HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /{a} HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /a`b HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /\"q\" HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET http://a/{x} HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        /* and '"' '<' '>' out of queries too */
        REJ("GET /?q=\"x\" HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /?a<b HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET http://a/?b> HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /%2 HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET /% HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET ?x HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET http://user@host/ HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET http:///path HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET http://a:8x/ HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", TARGET),
        REJ("GET * HTTP/1.1\r\nHost: a\r\n\r\n", TARGET_FORM),
        REJ("POST * HTTP/1.1\r\nHost: a\r\n\r\n", TARGET_FORM),
        REJ("GET localhost:80 HTTP/1.1\r\nHost: a\r\n\r\n", TARGET_FORM),
        REJ("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", TARGET_FORM),
        REJ("CONNECT http://a:1/ HTTP/1.1\r\nHost: a\r\n\r\n", TARGET_FORM),
        REJ("CONNECT * HTTP/1.1\r\nHost: a\r\n\r\n", TARGET_FORM),
        REJ("GET / http/1.1\r\nHost: a\r\n\r\n", VERSION),
        REJ("GET / HTTP/1.10\r\nHost: a\r\n\r\n", VERSION),
        REJ("GET / HTTP/257.1\r\nHost: a\r\n\r\n", VERSION),
        REJ("GET / HTTP/1\r\nHost: a\r\n\r\n", VERSION),
        REJ("GET / HTTP/1.x\r\nHost: a\r\n\r\n", VERSION),
        REJ("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", VERSION),
        REJ("GET / HTTP/11\r\nHost: a\r\n\r\n", VERSION),
        REJ("GET / HTTP 1.1\r\nHost: a\r\n\r\n", VERSION),
        REJ("GET /\r\nHost: a\r\n\r\n", VERSION),
        REJ("GET / \r\nHost: a\r\n\r\n", VERSION),
        REJ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", VERSION_UNSUPPORTED),
        REJ("GET / HTTP/3.0\r\nHost: a\r\n\r\n", VERSION_UNSUPPORTED),
        REJ("GET / HTTP/0.9\r\nHost: a\r\n\r\n", VERSION_UNSUPPORTED),
        REJ("GET / HTTP/9.9\r\n", VERSION_UNSUPPORTED),
    };
    run_cases(cases, HZ__ARRAY_LEN(cases));
}

Test(parser, line_endings)
{
    static const pcase cases[] = {
        REJ("GET / HTTP/1.1\nHost: localhost\n\n", LINE_ENDING),
        REJ("GET / HTTP/1.1\r\nHost: a\n\r\n", LINE_ENDING),
        REJ("GET / HTTP/1.1\r\nHost: a\r\n\n", LINE_ENDING),
        REJ("GET / HTTP/1.1\r\nHost: a\r\n\rZGET /evil: HTTP/1.1\r\n\r\n", LINE_ENDING),
        REJ("GET / HTTP/1.1\r\nHost: a\r\nX-Test: va\rlue\r\n\r\n", LINE_ENDING),
        REJ("GET / HTTP/1.1\r\nHost: a\r\nX-Test: value\r\r\n\r\n", LINE_ENDING),
        REJ("GET / HTTP/1.1\rHost: a\r\n\r\n", LINE_ENDING),
        REJ("GET / HTTP/1.1\r\rHost: a\r\n\r\n", LINE_ENDING),
        REJ("GET / HTTP/1.\n", LINE_ENDING),
        REJ("GET /\n", LINE_ENDING),
        REJ("GET\n", LINE_ENDING),
        REJ("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", LINE_ENDING),
        REJ("\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", LINE_ENDING),
        REJ("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", LINE_ENDING),
        REJ("GET / HTTP/1.1\r\nX\n", LINE_ENDING),
    };
    run_cases(cases, HZ__ARRAY_LEN(cases));
}

Test(parser, field_syntax_rejections)
{
    static const pcase cases[] = {
        REJ(H11 "X-Test : v\r\n\r\n", WS_BEFORE_COLON),
        REJ(H11 "X-Test\t: v\r\n\r\n", WS_BEFORE_COLON),
        REJ(H11 "Content-Length : 5\r\n\r\n", WS_BEFORE_COLON),
        REJ(H11 "Transfer-Encoding : chunked\r\n\r\n", WS_BEFORE_COLON),
        REJ(H11 "X-Test: a\r\n b\r\n\r\n", OBS_FOLD),
        REJ(H11 "X-Test: a\r\n\tb\r\n\r\n", OBS_FOLD),
        REJ("GET / HTTP/1.1\r\n Host: localhost\r\n\r\n", OBS_FOLD),
        REJ("GET / HTTP/1.1\r\n\tHost: localhost\r\n\r\n", OBS_FOLD),
        REJ(H11 ": ignored\r\n\r\n", FIELD_NAME),
        REJ(H11 ":\r\n\r\n", FIELD_NAME),
        REJ(H11 "X-No-Colon\r\n\r\n", FIELD_NAME),
        REJ(H11 "\xefoo: bar\r\n\r\n", FIELD_NAME),
        REJ(H11 "X\x00Y: z\r\n\r\n", FIELD_NAME),
        REJ(H11 "X(: z\r\n\r\n", FIELD_NAME),
        REJ(H11 "X@Y: z\r\n\r\n", FIELD_NAME),
        REJ(H11 "Transfer-\r\nEncoding: chunked\r\n\r\n", FIELD_NAME),
        REJ(H11 "X-Test: a\x00b\r\n\r\n", FIELD_VALUE),
        REJ(H11 "X-Test: \x01\r\n\r\n", FIELD_VALUE),
        REJ(H11 "X-Test: a\x7f\r\n\r\n", FIELD_VALUE),
        REJ(H11 "X-Test: a\x1b[0m\r\n\r\n", FIELD_VALUE),
        REJ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0b"
            "chunked\r\nContent-Length: 5\r\n\r\n",
            FIELD_VALUE),
        REJ(H11 "X-Test: \x0c\r\n\r\n", FIELD_VALUE),
    };
    run_cases(cases, HZ__ARRAY_LEN(cases));
}

Test(parser, framing_rejections)
{
#define P11 "POST / HTTP/1.1\r\nHost: a\r\n"
    static const pcase cases[] = {
        REJ(P11 "Content-Length: -48\r\n\r\n", CONTENT_LENGTH),
        REJ(P11 "Content-Length: +5\r\n\r\n", CONTENT_LENGTH),
        REJ(P11 "Content-Length: 0x10\r\n\r\n", CONTENT_LENGTH),
        REJ(P11 "Content-Length: 1Z\r\n\r\n", CONTENT_LENGTH),
        REJ(P11 "Content-Length: \r\n\r\n", CONTENT_LENGTH),
        REJ(P11 "Content-Length:\r\n\r\n", CONTENT_LENGTH),
        REJ(P11 "Content-Length: 5.0\r\n\r\n", CONTENT_LENGTH),
        REJ(P11 "Content-Length: 1 2\r\n\r\n", CONTENT_LENGTH),
        REJ(P11 "Content-Length: 18446744073709551621\r\n\r\n", CONTENT_LENGTH),
        REJ(P11 "Content-Length: 9223372036854775808\r\n\r\n", CONTENT_LENGTH),
        REJ(P11 "Content-Length: 00000000000000000005\r\n\r\n", CONTENT_LENGTH),
        REJ(P11 "Content-Length: 9999999999999999999999999999999999999999\r\n\r\n", CONTENT_LENGTH),
        REJ(P11 "Content-Length: , 5\r\n\r\n", CONTENT_LENGTH),
        REJ(P11 "Content-Length: 5,\r\n\r\n", CONTENT_LENGTH),
        REJ(P11 "Content-Length: 5;q\r\n\r\n", CONTENT_LENGTH),
        REJ("GET / HTTP/1.1\r\nContent-Length: \r\nContent-Length: 43\r\nHost: a\r\n\r\n",
            CONTENT_LENGTH),
        REJ(P11 "Content-Length: 5, 6\r\n\r\n", CL_CONFLICT),
        REJ(P11 "Content-Length: 1\r\nContent-Length: 0\r\n\r\n", CL_CONFLICT),
        REJ(P11 "Content-Length: 5\r\nContent-Length: 5, 05\r\nContent-Length: 6\r\n\r\n",
            CL_CONFLICT),
        REJ(P11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", CL_AND_TE),
        REJ(P11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", CL_AND_TE),
        REJ(P11 "Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\n", CL_AND_TE),
        REJ(P11 "Transfer-Encoding: ,chunked\r\nContent-Length: 5\r\n\r\n", CL_AND_TE),
        REJ("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", TE_HTTP10),
        REJ("POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n", TE_HTTP10),
        REJ(P11 "Transfer-Encoding: chunked, gzip\r\n\r\n", TE_NOT_CHUNKED),
        REJ(P11 "Transfer-Encoding: gzip\r\n\r\n", TE_NOT_CHUNKED),
        REJ(P11 "Transfer-Encoding: identity\r\n\r\n", TE_NOT_CHUNKED),
        REJ(P11 "Transfer-Encoding: \r\n\r\n", TE_NOT_CHUNKED),
        REJ(P11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", TE_NOT_CHUNKED),
        REJ(P11 "Transfer-Encoding: gzip, chunked\r\n\r\n", TE_UNKNOWN),
        REJ(P11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", TE_UNKNOWN),
        REJ(P11 "Transfer-Encoding: x-chunked, chunked\r\n\r\n", TE_UNKNOWN),
        REJ(P11 "Transfer-Encoding: identity, chunked\r\n\r\n", TE_UNKNOWN),
        REJ(P11 "Transfer-Encoding: gzip;q=\"1,2\" , chunked\r\n\r\n", TE_UNKNOWN),
        REJ(P11 "Transfer-Encoding: chunked, chunked\r\n\r\n", TE_INVALID),
        REJ(P11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", TE_INVALID),
        REJ(P11 "Transfer-Encoding: chunked;x=1\r\n\r\n", TE_INVALID),
        REJ(P11 "Transfer-Encoding: chunked x\r\n\r\n", TE_INVALID),
        REJ(P11 "Transfer-Encoding: chu\"nked\r\n\r\n", TE_INVALID),
        REJ(P11 "Transfer-Encoding: gzip;q, chunked\r\n\r\n", TE_INVALID),
        REJ(P11 "Transfer-Encoding: gzip;q=\"x, chunked\r\n\r\n", TE_INVALID),
        REJ(P11 "Transfer-Encoding: gzip;=1, chunked\r\n\r\n", TE_INVALID),
    };
#undef P11
    run_cases(cases, HZ__ARRAY_LEN(cases));
}

Test(parser, host_rules)
{
    static const pcase cases[] = {
        REJ("GET / HTTP/1.1\r\n\r\n", HOST_MISSING),
        REJ("GET http://localhost/ HTTP/1.1\r\n\r\n", HOST_MISSING),
        REJ("GET / HTTP/1.1\r\nX: y\r\n\r\n", HOST_MISSING),
        REJ("GET / HTTP/1.1\r\nHost: localhost\r\nHost: other.invalid\r\n\r\n", HOST_DUPLICATE),
        REJ("GET / HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n", HOST_DUPLICATE),
        REJ("GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", HOST_DUPLICATE),
        REJ("GET / HTTP/1.1\r\nHost: user@localhost\r\n\r\n", HOST_INVALID),
        REJ("GET / HTTP/1.1\r\nHost: localhost:80a\r\n\r\n", HOST_INVALID),
        REJ("GET / HTTP/1.1\r\nHost: localhost:123456\r\n\r\n", HOST_INVALID),
        REJ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", HOST_INVALID),
        REJ("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", HOST_INVALID),
        REJ("GET / HTTP/1.1\r\nHost: []\r\n\r\n", HOST_INVALID),
        REJ("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", HOST_INVALID),
        REJ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", HOST_INVALID),
        REJ("GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", HOST_INVALID),
        REJ("GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n", HOST_INVALID),
        REJ("GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", HOST_INVALID),
        ACC("GET / HTTP/1.0\r\n\r\n"),
    };
    run_cases(cases, HZ__ARRAY_LEN(cases));
}

Test(parser, head_fields_are_filled)
{
    static const char req[] = "POST /up/load?x=1&y=2 HTTP/1.1\r\n"
                              "Host:  example.com:8080 \r\n"
                              "Content-Length: 42\r\n"
                              "X-Empty:\r\n"
                              "connection: Keep-Alive, Upgrade\r\n"
                              "Expect: 100-Continue\r\n"
                              "\r\n";
    pt_result r;
    ACCEPT(req, &r);
    const hz__req_head *h = &r.head;
    cr_assert_eq(h->method, HZ__M_POST);
    cr_assert(span_is(req, h->method_off, h->method_len, "POST"));
    cr_assert(span_is(req, h->target_off, h->target_len, "/up/load?x=1&y=2"));
    cr_assert(span_is(req, h->path_off, h->path_len, "/up/load"));
    cr_assert(span_is(req, h->host_off, h->host_len, "example.com:8080"));
    cr_assert_eq(h->target_form, HZ__TF_ORIGIN);
    cr_assert_eq(h->version_minor, 1);
    cr_assert_eq(h->body_kind, HZ__BODY_LENGTH);
    cr_assert_eq(h->content_length, 42);
    cr_assert_eq(h->flags, HZ__HF_CONN_KEEPALIVE | HZ__HF_CONN_UPGRADE | HZ__HF_EXPECT_CONTINUE);
    cr_assert_eq(h->head_len, sizeof(req) - 1);
    cr_assert_eq(h->nfields, 5);
    cr_assert_eq(h->fields, r.fields);
    cr_assert(span_is(req, h->fields[0].name_off, h->fields[0].name_len, "Host"));
    cr_assert(span_is(req, h->fields[0].value_off, h->fields[0].value_len, "example.com:8080"));
    cr_assert(span_is(req, h->fields[2].name_off, h->fields[2].name_len, "X-Empty"));
    cr_assert_eq(h->fields[2].value_len, 0);
    cr_assert(span_is(req, h->fields[4].value_off, h->fields[4].value_len, "100-Continue"));
    pt_result_free(&r);
}

Test(parser, connection_and_expect_flags)
{
    static const struct {
        const char *req;
        uint32_t flags;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", HZ__HF_CONN_CLOSE},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", HZ__HF_CONN_CLOSE},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n",
         HZ__HF_CONN_CLOSE | HZ__HF_CONN_KEEPALIVE},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: ,, foo ,\tclose\t,\r\n\r\n", HZ__HF_CONN_CLOSE},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed, xclose\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", HZ__HF_CONN_KEEPALIVE},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n",
         HZ__HF_CONN_UPGRADE},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nConnection: close\r\n\r\n",
         HZ__HF_CONN_UPGRADE | HZ__HF_CONN_CLOSE},
        {"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", HZ__HF_EXPECT_CONTINUE},
        {"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-CONTINUE\r\n\r\n", HZ__HF_EXPECT_CONTINUE},
        {"GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", HZ__HF_EXPECT_OTHER},
        {"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue;x=1\r\n\r\n", HZ__HF_EXPECT_OTHER},
        {"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\n\r\n",
         HZ__HF_EXPECT_CONTINUE | HZ__HF_EXPECT_OTHER},
        {"GET / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: a\r\nX-Connection: close\r\nConnectionX: close\r\n\r\n", 0},
    };
    for (size_t k = 0; k < HZ__ARRAY_LEN(cases); k++) {
        pt_result r;
        accept_head(cases[k].req, strlen(cases[k].req), &r);
        cr_assert_eq(r.head.flags, cases[k].flags, "case %zu: flags %#x", k, r.head.flags);
        pt_result_free(&r);
    }
}

Test(parser, body_kinds)
{
    pt_result r;
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r);
    cr_assert_eq(r.head.body_kind, HZ__BODY_NONE);
    pt_result_free(&r);
    ACCEPT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &r);
    cr_assert_eq(r.head.body_kind, HZ__BODY_LENGTH);
    cr_assert_eq(r.head.content_length, 0);
    pt_result_free(&r);
    ACCEPT("POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 9223372036854775807\r\n\r\n", &r);
    cr_assert_eq(r.head.content_length, 9223372036854775807ull);
    pt_result_free(&r);
    ACCEPT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &r);
    cr_assert_eq(r.head.body_kind, HZ__BODY_CHUNKED);
    pt_result_free(&r);
}

Test(parser, target_forms)
{
    pt_result r;
    {
        static const char req[] =
            "GET http://Example.com:81/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n";
        ACCEPT(req, &r);
        cr_assert_eq(r.head.target_form, HZ__TF_ABSOLUTE);
        /* RFC 9112 §3.2.2: the target's authority wins over Host */
        cr_assert(span_is(req, r.head.host_off, r.head.host_len, "Example.com:81"));
        cr_assert(span_is(req, r.head.path_off, r.head.path_len, "/p/q"));
        cr_assert(
            span_is(req, r.head.target_off, r.head.target_len, "http://Example.com:81/p/q?x=1"));
        pt_result_free(&r);
    }
    {
        static const char req[] = "GET http://a?x HTTP/1.1\r\nHost: a\r\n\r\n";
        ACCEPT(req, &r);
        cr_assert_eq(r.head.target_form, HZ__TF_ABSOLUTE);
        cr_assert(span_is(req, r.head.host_off, r.head.host_len, "a"));
        cr_assert_eq(r.head.path_len, 0);
        cr_assert_eq(req[r.head.path_off], '?');
        pt_result_free(&r);
    }
    {
        static const char req[] = "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
        ACCEPT(req, &r);
        cr_assert_eq(r.head.method, HZ__M_OPTIONS);
        cr_assert_eq(r.head.target_form, HZ__TF_ASTERISK);
        cr_assert(span_is(req, r.head.host_off, r.head.host_len, "h"));
        pt_result_free(&r);
    }
    {
        static const char req[] = "CONNECT example.com:443 HTTP/1.1\r\nHost: x:1\r\n\r\n";
        ACCEPT(req, &r);
        cr_assert_eq(r.head.method, HZ__M_CONNECT);
        cr_assert_eq(r.head.target_form, HZ__TF_AUTHORITY);
        cr_assert(span_is(req, r.head.host_off, r.head.host_len, "example.com:443"));
        pt_result_free(&r);
    }
    {
        static const char req[] = "GET /a/b HTTP/1.1\r\nHost: h\r\n\r\n";
        ACCEPT(req, &r);
        cr_assert_eq(r.head.target_form, HZ__TF_ORIGIN);
        cr_assert(span_is(req, r.head.path_off, r.head.path_len, "/a/b"));
        pt_result_free(&r);
    }
}

Test(parser, methods_are_recognised)
{
    static const struct {
        const char *name;
        int id;
    } m[] = {
        {"GET", HZ__M_GET},     {"HEAD", HZ__M_HEAD},      {"POST", HZ__M_POST},
        {"PUT", HZ__M_PUT},     {"DELETE", HZ__M_DELETE},  {"OPTIONS", HZ__M_OPTIONS},
        {"PATCH", HZ__M_PATCH}, {"TRACE", HZ__M_TRACE},    {"GETS", HZ__M_OTHER},
        {"get", HZ__M_OTHER},   {"PROPFIND", HZ__M_OTHER}, {"POS", HZ__M_OTHER},
    };
    for (size_t k = 0; k < HZ__ARRAY_LEN(m); k++) {
        char req[128];
        int n = snprintf(req, sizeof(req), "%s /x HTTP/1.1\r\nHost: a\r\n\r\n", m[k].name);
        pt_result r;
        accept_head(req, (size_t)n, &r);
        cr_assert_eq(r.head.method, m[k].id, "%s", m[k].name);
        cr_assert_eq(r.head.method_off, 0);
        cr_assert_eq(r.head.method_len, strlen(m[k].name));
        pt_result_free(&r);
    }
}

Test(parser, versions)
{
    pt_result r;
    ACCEPT("GET / HTTP/1.0\r\n\r\n", &r);
    cr_assert_eq(r.head.version_minor, 0);
    pt_result_free(&r);
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r);
    cr_assert_eq(r.head.version_minor, 1);
    pt_result_free(&r);
    /* RFC 9110 §2.5: a higher 1.x minor is processed as 1.1 (needs Host) */
    ACCEPT("GET / HTTP/1.7\r\nHost: a\r\n\r\n", &r);
    cr_assert_eq(r.head.version_minor, 1);
    pt_result_free(&r);
    pt_parse("GET / HTTP/1.2\r\n\r\n", 18, &pt_limits, &r);
    cr_assert_eq(r.rc, HZ_EPROTO);
    cr_assert_eq(r.err, HZ__PE_HOST_MISSING);
    pt_result_free(&r);
}

Test(parser, empty_lines_before_request_line)
{
    pt_result r;
    static const char req[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    ACCEPT(req, &r);
    cr_assert_eq(r.head.method_off, 4);
    cr_assert_eq(r.head.head_len, sizeof(req) - 1);
    pt_result_free(&r);
}

Test(parser, pipelined_bytes_are_left_alone)
{
    static const char req[] =
        "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    pt_result r;
    pt_parse(req, sizeof(req) - 1, &pt_limits, &r);
    cr_assert_eq(r.rc, 28);
    cr_assert_eq(r.head.head_len, 28);
    pt_result_free(&r);
    /* the server re-inits and parses what follows */
    pt_parse(req + 28, sizeof(req) - 1 - 28, &pt_limits, &r);
    cr_assert_eq(r.rc, 28);
    cr_assert(span_is(req + 28, r.head.target_off, r.head.target_len, "/b"));
    pt_result_free(&r);
    /* junk after a complete head is not looked at */
    static const char junk[] = "GET / HTTP/1.0\r\n\r\n\x00\xff junk";
    pt_parse(junk, sizeof(junk) - 1, &pt_limits, &r);
    cr_assert_eq(r.rc, 18);
    pt_result_free(&r);
}

Test(parser, incomplete_heads_ask_for_more)
{
    static const char *const partial[] = {
        "",
        "\r",
        "\r\n",
        "G",
        "GET",
        "GET ",
        "GET /",
        "GET /%",
        "GET /%4",
        "GET / ",
        "GET / HTTP/1.",
        "GET / HTTP/1.1",
        "GET / HTTP/1.1\r",
        "GET / HTTP/1.1\r\n",
        "GET / HTTP/1.1\r\nHost",
        "GET / HTTP/1.1\r\nHost:",
        "GET / HTTP/1.1\r\nHost:  ",
        "GET / HTTP/1.1\r\nHost: a",
        "GET / HTTP/1.1\r\nHost: a  ",
        "GET / HTTP/1.1\r\nHost: a\r",
        "GET / HTTP/1.1\r\nHost: a\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n\r",
    };
    for (size_t k = 0; k < HZ__ARRAY_LEN(partial); k++) {
        pt_result r;
        pt_parse(partial[k], strlen(partial[k]), &pt_limits, &r);
        cr_assert_eq(r.rc, HZ_EAGAIN, "'%s': rc %d (%s)", partial[k], r.rc, hz__perr_name(r.err));
        pt_result_free(&r);
    }
}

Test(parser, a_finished_parser_keeps_its_result)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    hz__field fields[4];
    hz__parse_limits lim = pt_limits;
    lim.header_count = 4;
    hz__parser p;
    hz__req_head h;
    hz__parser_init(&p, &lim, fields);
    cr_assert_eq(hz__parse_request(&p, &h, req, sizeof(req) - 1), (int)sizeof(req) - 1);
    cr_assert_eq(h.nfields, 1);
    cr_assert_eq(h.method, HZ__M_GET);
    /* once finished: same verdict, *out left alone */
    memset(&h, 0, sizeof(h));
    cr_assert_eq(hz__parse_request(&p, &h, req, sizeof(req) - 1), (int)sizeof(req) - 1);
    cr_assert_eq(h.nfields, 0);

    /* given fewer bytes than before (a caller bug): no over-read, no verdict */
    hz__parser_init(&p, &lim, fields);
    cr_assert_eq(hz__parse_request(&p, &h, req, 20), HZ_EAGAIN);
    cr_assert_eq(hz__parse_request(&p, &h, req, 3), HZ_EAGAIN);
    cr_assert_eq(hz__parse_request(&p, &h, req, sizeof(req) - 1), (int)sizeof(req) - 1);

    hz__parser_init(&p, &lim, fields);
    cr_assert_eq(hz__parse_request(&p, &h, "GET / HTTP/1.1\n", 15), HZ_EPROTO);
    cr_assert_eq(p.error, HZ__PE_LINE_ENDING);
    cr_assert_eq(hz__parse_request(&p, &h, req, sizeof(req) - 1), HZ_EPROTO);
    cr_assert_eq(p.error, HZ__PE_LINE_ENDING);
}

/* ------------------------------------------------------------------------ */
/* Limits: each one crossed, and its exact edge accepted                     */
/* ------------------------------------------------------------------------ */

/* Builds "GET /aaa...a HTTP/1.1\r\n" of exactly `line` bytes (CRLF included)
 * plus "Host: a\r\n\r\n". */
static char *request_with_line(size_t line, size_t *len)
{
    const size_t fixed = strlen("GET / HTTP/1.1\r\n");
    cr_assert_geq(line, fixed);
    size_t n = line + strlen("Host: a\r\n\r\n");
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', line - fixed);
    strcpy(s + 5 + line - fixed, " HTTP/1.1\r\nHost: a\r\n\r\n");
    *len = n;
    return s;
}

Test(parser, limit_request_line)
{
    hz__parse_limits lim = pt_limits;
    lim.request_line = 100;
    size_t len;
    pt_result r;

    char *s = request_with_line(100, &len);
    pt_parse(s, len, &lim, &r);
    cr_assert_eq(r.rc, (int)len, "a 100-byte line fits a 100-byte limit");
    pt_result_free(&r);
    free(s);

    s = request_with_line(101, &len);
    pt_parse(s, len, &lim, &r);
    cr_assert_eq(r.rc, HZ_EPROTO);
    cr_assert_eq(r.err, HZ__PE_URI_TOO_LONG);
    pt_result_free(&r);
    /* a line that never ends is refused once it crosses the limit */
    pt_parse(s, 101, &lim, &r);
    cr_assert_eq(r.err, HZ__PE_URI_TOO_LONG);
    pt_result_free(&r);
    pt_parse(s, 100, &lim, &r);
    cr_assert_eq(r.rc, HZ_EAGAIN);
    pt_result_free(&r);
    free(s);

    /* a method that crosses the limit is one longer than any implemented:
     * 501 (RFC 9112 §3), not the target's 414 */
    char m[200];
    memset(m, 'A', sizeof(m));
    pt_parse(m, sizeof(m), &lim, &r);
    cr_assert_eq(r.err, HZ__PE_METHOD_TOO_LONG);
    cr_assert_eq(hz__perr_status(r.err), 501);
    pt_result_free(&r);

    /* empty lines before the request line count too */
    char flood[300];
    for (size_t k = 0; k < sizeof(flood); k += 2)
        memcpy(flood + k, "\r\n", 2);
    pt_parse(flood, sizeof(flood), &lim, &r);
    cr_assert_eq(r.err, HZ__PE_URI_TOO_LONG);
    pt_result_free(&r);

    /* default limits: 64 KiB target -> 414, 7900 bytes accepted */
    s = request_with_line(65536 + 16, &len);
    pt_parse(s, len, &pt_limits, &r);
    cr_assert_eq(r.err, HZ__PE_URI_TOO_LONG);
    pt_result_free(&r);
    free(s);
    s = request_with_line(7900 + 16, &len);
    pt_parse(s, len, &pt_limits, &r);
    cr_assert_eq(r.rc, (int)len);
    pt_result_free(&r);
    free(s);
}

/* "GET / HTTP/1.1\r\nHost: a\r\nX: vvv...v\r\n\r\n" where the X line is
 * `line` bytes with its CRLF. */
static char *request_with_field(size_t line, size_t *len)
{
    const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
    size_t pl = strlen(pre), vl = line - 5;
    size_t n = pl + vl + 4;
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    memcpy(s, pre, pl);
    memset(s + pl, 'v', vl);
    memcpy(s + pl + vl, "\r\n\r\n", 5);
    *len = n;
    return s;
}

Test(parser, limit_field_size)
{
    hz__parse_limits lim = pt_limits;
    lim.field_size = 64;
    size_t len;
    pt_result r;
    char *s = request_with_field(64, &len);
    pt_parse(s, len, &lim, &r);
    cr_assert_eq(r.rc, (int)len);
    pt_result_free(&r);
    free(s);

    s = request_with_field(65, &len);
    pt_parse(s, len, &lim, &r);
    cr_assert_eq(r.err, HZ__PE_FIELD_TOO_LARGE);
    pt_result_free(&r);
    free(s);
    /* detected before the line ends: the line starts at 25, the bound is 89 */
    s = request_with_field(200, &len);
    pt_parse(s, 90, &lim, &r);
    cr_assert_eq(r.err, HZ__PE_FIELD_TOO_LARGE);
    pt_result_free(&r);
    pt_parse(s, 89, &lim, &r);
    cr_assert_eq(r.rc, HZ_EAGAIN);
    pt_result_free(&r);
    free(s);

    /* a long name counts the same */
    char name[200];
    int n = snprintf(name, sizeof(name), "GET / HTTP/1.1\r\n%0100d: v\r\n\r\n", 0);
    for (int k = 16; k < 116; k++)
        name[k] = 'N';
    pt_parse(name, (size_t)n, &lim, &r);
    cr_assert_eq(r.err, HZ__PE_FIELD_TOO_LARGE);
    pt_result_free(&r);

    /* conformance: 64 KiB and 1 MiB values with default limits */
    s = request_with_field(65536 + 5, &len);
    pt_parse(s, len, &pt_limits, &r);
    cr_assert_eq(r.err, HZ__PE_FIELD_TOO_LARGE);
    cr_assert_eq(hz__perr_status(r.err), 431);
    pt_result_free(&r);
    free(s);
    s = request_with_field(1048576 + 5, &len);
    pt_parse(s, len, &pt_limits, &r);
    cr_assert_eq(r.err, HZ__PE_FIELD_TOO_LARGE);
    pt_result_free(&r);
    free(s);
    s = request_with_field(7000 + 5, &len);
    pt_parse(s, len, &pt_limits, &r);
    cr_assert_eq(r.rc, (int)len);
    pt_result_free(&r);
    free(s);
}

Test(parser, limit_header_bytes)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\n\r\n";
    const size_t len = sizeof(req) - 1;
    hz__parse_limits lim = pt_limits;
    pt_result r;
    lim.header_bytes = (uint32_t)len;
    pt_parse(req, len, &lim, &r);
    cr_assert_eq(r.rc, (int)len);
    pt_result_free(&r);
    lim.header_bytes = (uint32_t)len - 1;
    pt_parse(req, len, &lim, &r);
    cr_assert_eq(r.err, HZ__PE_HEAD_TOO_LARGE);
    pt_result_free(&r);
    /* crossing inside the request line, and with the head still open */
    lim.header_bytes = 10;
    pt_parse(req, 20, &lim, &r);
    cr_assert_eq(r.err, HZ__PE_HEAD_TOO_LARGE);
    pt_result_free(&r);
    lim.header_bytes = 30;
    pt_parse(req, 31, &lim, &r);
    cr_assert_eq(r.err, HZ__PE_HEAD_TOO_LARGE);
    pt_result_free(&r);
    pt_parse(req, 30, &lim, &r);
    cr_assert_eq(r.rc, HZ_EAGAIN);
    pt_result_free(&r);
}

Test(parser, limit_header_count)
{
    char req[4096];
    size_t n = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int k = 0; k < 49; k++)
        n += (size_t)snprintf(req + n, sizeof(req) - n, "X-H%02d: v\r\n", k);
    memcpy(req + n, "\r\n", 3);
    n += 2;
    hz__parse_limits lim = pt_limits;
    pt_result r;
    lim.header_count = 50;
    pt_parse(req, n, &lim, &r);
    cr_assert_eq(r.rc, (int)n, "50 fields fit a limit of 50");
    cr_assert_eq(r.head.nfields, 50);
    pt_result_free(&r);
    lim.header_count = 49;
    pt_parse(req, n, &lim, &r);
    cr_assert_eq(r.err, HZ__PE_TOO_MANY_FIELDS);
    cr_assert_eq(hz__perr_status(r.err), 431);
    pt_result_free(&r);
    lim.header_count = 0;
    pt_parse(req, n, &lim, &r);
    cr_assert_eq(r.err, HZ__PE_TOO_MANY_FIELDS);
    pt_result_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Scanner edges: a bad byte at every position of values and targets of      */
/* every length around the vector widths                                     */
/* ------------------------------------------------------------------------ */

Test(parser, value_scanner_edges)
{
    static const unsigned char bad[] = {0x00, 0x01, 0x0b, 0x1f, 0x7f, '\r', '\n'};
    char req[256];
    for (size_t vl = 0; vl <= 70; vl++) {
        int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
        size_t pre = (size_t)n;
        for (size_t k = 0; k < vl; k++)
            req[pre + k] = (char)(k % 3 == 1 ? '\t' : (k % 5 == 0 ? 0xe9 : 'a' + (int)(k % 26)));
        if (vl)
            req[pre + vl - 1] = 'z';
        memcpy(req + pre + vl, "\r\n\r\n", 4);
        size_t len = pre + vl + 4;
        pt_result r;
        pt_parse(req, len, &pt_limits, &r);
        cr_assert_eq(r.rc, (int)len, "value length %zu", vl);
        cr_assert_eq(r.head.fields[1].value_len, vl);
        pt_result_free(&r);
        for (size_t at = 0; at < vl; at++) {
            for (size_t b = 0; b < sizeof(bad); b++) {
                char save = req[pre + at];
                req[pre + at] = (char)bad[b];
                pt_result_init(&r, &pt_limits);
                size_t whole = len;
                pt_parse_steps(req, len, &pt_limits, &whole, 1, 1, &r);
                hz__perr want =
                    bad[b] == '\r' || bad[b] == '\n' ? HZ__PE_LINE_ENDING : HZ__PE_FIELD_VALUE;
                cr_assert_eq(r.err, want, "len %zu at %zu byte %#x: %s", vl, at, bad[b],
                             hz__perr_name(r.err));
                pt_result_free(&r);
                req[pre + at] = save;
            }
        }
    }
}

Test(parser, target_scanner_edges)
{
    static const unsigned char bad[] = {0x00, 0x09, 0x1f, 0x7f, 0x80, 0xff, '#'};
    char req[256];
    for (size_t tl = 1; tl <= 70; tl++) {
        size_t len = 0;
        memcpy(req, "GET /", 5);
        for (size_t k = 1; k < tl; k++)
            req[4 + k] = (char)("az09-._~!$&'()*+,;=:@/"[k % 22]);
        len = 4 + tl;
        memcpy(req + len, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
        len += 22;
        pt_result r;
        pt_parse(req, len, &pt_limits, &r);
        cr_assert_eq(r.rc, (int)len, "target length %zu: %s", tl, hz__perr_name(r.err));
        cr_assert_eq(r.head.target_len, tl);
        cr_assert_eq(r.head.path_len, tl);
        pt_result_free(&r);
        for (size_t at = 1; at < tl; at++) {
            char save = req[4 + at];
            /* a '?' anywhere: the path stops there */
            req[4 + at] = '?';
            pt_result_init(&r, &pt_limits);
            size_t whole = len;
            pt_parse_steps(req, len, &pt_limits, &whole, 1, 1, &r);
            cr_assert_eq(r.rc, (int)len);
            cr_assert_eq(r.head.path_len, at);
            pt_result_free(&r);
            for (size_t b = 0; b < sizeof(bad); b++) {
                req[4 + at] = (char)bad[b];
                pt_result_init(&r, &pt_limits);
                pt_parse_steps(req, len, &pt_limits, &whole, 1, 1, &r);
                cr_assert_eq(r.err, HZ__PE_TARGET, "len %zu at %zu byte %#x: %s", tl, at, bad[b],
                             hz__perr_name(r.err));
                pt_result_free(&r);
            }
            req[4 + at] = save;
        }
    }
}

/* A realistic browser request, also the benchmark's input. */
Test(parser, browser_request)
{
    static const char req[] =
        "GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n"
        "Host: www.kittyhell.com\r\n"
        "User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) "
        "Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n"
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
        "Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n"
        "Accept-Encoding: gzip,deflate\r\n"
        "Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n"
        "Keep-Alive: 115\r\n"
        "Connection: keep-alive\r\n"
        "Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; "
        "__utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; "
        "__utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/"
        "reader/|utmcmd=referral\r\n"
        "\r\n";
    pt_result r;
    ACCEPT(req, &r);
    cr_assert_eq(r.head.nfields, 9);
    cr_assert_eq(r.head.flags, HZ__HF_CONN_KEEPALIVE);
    cr_assert(span_is(req, r.head.host_off, r.head.host_len, "www.kittyhell.com"));
    cr_assert(span_is(req, r.head.fields[8].name_off, r.head.fields[8].name_len, "Cookie"));
    pt_result_free(&r);
}
