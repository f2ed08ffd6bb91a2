/* test_chunked.c - the chunked-body decoder (RFC 9112 §7.1): sizes,
 * extensions, data CRLF, trailers and their limits; every input is also
 * decoded split at every byte and from guard-page buffers
 * (parser_testutil.h). */
#include <stdio.h>
#include "parser_testutil.h"

typedef struct ccase {
    const char *in;
    size_t len;
    hz__perr err;     /* HZ__PE_NONE: the body ends */
    const char *data; /* decoded body, for accepted cases */
    size_t end;       /* 0: the whole input is the body */
} ccase;

#define OK(s, d)                                                                                   \
    {                                                                                              \
        s, sizeof(s) - 1, HZ__PE_NONE, d, 0                                                        \
    }
#define OKEND(s, d, e)                                                                             \
    {                                                                                              \
        s, sizeof(s) - 1, HZ__PE_NONE, d, e                                                        \
    }
#define BAD(s, kind)                                                                               \
    {                                                                                              \
        s, sizeof(s) - 1, HZ__PE_##kind, NULL, 0                                                   \
    }

static void run(const ccase *cases, size_t n, const hz__parse_limits *lim)
{
    for (size_t k = 0; k < n; k++) {
        const ccase *c = &cases[k];
        pt_body b;
        pt_decode(c->in, c->len, lim, &b);
        if (c->err == HZ__PE_NONE) {
            cr_assert_eq(b.rc, 0, "case %zu: rc %d (%s): %.*s", k, b.rc, hz__perr_name(b.err),
                         (int)c->len, c->in);
            cr_assert_eq(b.end, c->end ? c->end : c->len, "case %zu: end %zu", k, b.end);
            cr_assert_eq(b.data_len, strlen(c->data), "case %zu: %zu data bytes", k, b.data_len);
            cr_assert(!memcmp(b.data, c->data, b.data_len), "case %zu: data differs", k);
        } else {
            cr_assert_eq(b.rc, HZ_EPROTO, "case %zu must fail (%s), rc %d: %.*s", k,
                         hz__perr_name(c->err), b.rc, (int)c->len, c->in);
            cr_assert_eq(b.err, c->err, "case %zu: %s, expected %s: %.*s", k, hz__perr_name(b.err),
                         hz__perr_name(c->err), (int)c->len, c->in);
        }
        pt_body_free(&b);
    }
}

Test(chunked, accepted_bodies)
{
    static const ccase cases[] = {
        OK("5\r\nhello\r\n0\r\n\r\n", "hello"),
        OK("0\r\n\r\n", ""),
        OK("a\r\n0123456789\r\nA\r\n0123456789\r\n1f\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
           "0\r\n\r\n",
           "01234567890123456789xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
        OK("005\r\nhello\r\n000\r\n\r\n", "hello"),
        OK("00000000000000000000000000000001\r\nz\r\n0\r\n\r\n", "z"),
        OK("5;foo=bar\r\nhello\r\n0\r\n\r\n", "hello"),
        OK("5\r\nhello\r\n0;x=1\r\n\r\n", "hello"),
        OK("5;a;b=c;d=\"e f\"\r\nhello\r\n0\r\n\r\n", "hello"),
        OK("5 ;a\r\nhello\r\n0\r\n\r\n", "hello"),
        OK("5\t; a = b ; c=\"q\\\"x\" ;d\r\nhello\r\n0\r\n\r\n", "hello"),
        OK("5;a=\"\"\r\nhello\r\n0\r\n\r\n", "hello"),
        OK("5;a=\"\x80\t\\\x80\"\r\nhello\r\n0\r\n\r\n", "hello"),
        OK("5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\nhello\r\n0\r\n\r\n", "hello"),
        OK("5\r\nhello\r\n0\r\nX-Trailer: v\r\n\r\n", "hello"),
        OK("0\r\nA: 1\r\nB:\r\nC: caf\xc3\xa9\t \r\n\r\n", ""),
        OK("1\r\n\x01\r\n2\r\n\r\n\r\n0\r\n\r\n", "\x01\r\n"),
        OKEND("0\r\n\r\nGET / HTTP/1.1\r\n\r\n", "", 5),
        OKEND("3\r\nabc\r\n0\r\n\r\n\x00\xff junk", "abc", 13),
    };
    run(cases, HZ__ARRAY_LEN(cases), &pt_limits);
}

Test(chunked, chunk_size_rejections)
{
    static const ccase cases[] = {
        BAD("\r\n\r\n", CHUNK_SIZE),
        BAD("-5\r\nhello\r\n0\r\n\r\n", CHUNK_SIZE),
        BAD("0x5\r\nhello\r\n0\r\n\r\n", CHUNK_SIZE),
        BAD("0_2e\r\n\r\n", CHUNK_SIZE),
        BAD(" 5\r\nhello\r\n0\r\n\r\n", CHUNK_SIZE),
        BAD("5 \r\nhello\r\n0\r\n\r\n", CHUNK_SIZE),
        BAD("5\t\r\nhello\r\n0\r\n\r\n", CHUNK_SIZE),
        BAD("1these-bytes-never-get-validated\r\nZ\r\n0\r\n\r\n", CHUNK_SIZE),
        BAD("INVALID!!!\r\n", CHUNK_SIZE),
        BAD("g\r\n", CHUNK_SIZE),
        BAD(";x\r\n", CHUNK_SIZE),
        BAD("+5\r\n", CHUNK_SIZE),
        BAD("1000000000000000A\r\n0123456789\r\n0\r\n\r\n", CHUNK_SIZE),
        BAD("8000000000000000\r\n", CHUNK_SIZE),
        BAD("ffffffffffffffff\r\n", CHUNK_SIZE),
        BAD("000000000000000000000000000000001\r\nz\r\n0\r\n\r\n", CHUNK_SIZE),
        BAD("5\r\nhello\r\n\r\n", CHUNK_SIZE),
    };
    run(cases, HZ__ARRAY_LEN(cases), &pt_limits);
}

Test(chunked, largest_chunk_size_is_accepted)
{
    hz__chunked c;
    size_t used;
    const char *d;
    size_t dl;
    hz__chunked_init(&c, &pt_limits);
    cr_assert_eq(hz__chunked_decode(&c, "7fffffffffffffff\r\nab", 20, &used, &d, &dl),
                 HZ__CHUNK_DATA);
    cr_assert_eq(used, 20);
    cr_assert_eq(dl, 2);
    cr_assert_eq(c.remaining, 0x7fffffffffffffffull - 2);
}

Test(chunked, extension_rejections)
{
    static const ccase cases[] = {
        BAD("5;\r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("5;=x\r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("5;a=\r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("5;a b\r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("5;a=b c\r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("5;a \r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("5;a=b \r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("5;a=\"x\r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("5;a=\"x\"y\r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("5;a@b\r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("5;a=b@\r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("5;a\x00\r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("5;;a\r\nhello\r\n0\r\n\r\n", CHUNK_EXT),
        BAD("0;\xff\r\n\r\n", CHUNK_EXT),
    };
    run(cases, HZ__ARRAY_LEN(cases), &pt_limits);
}

Test(chunked, line_endings_and_data_crlf)
{
    static const ccase cases[] = {
        BAD("5\r\nhelloXX0\r\n\r\n", CHUNK_DATA_CRLF),
        BAD("a\r\n0123456789\n0\r\n\r\n", CHUNK_DATA_CRLF),
        BAD("5\r\nhello\r0\r\n\r\n", CHUNK_DATA_CRLF),
        BAD("5\r\nhello\n\r\n0\r\n\r\n", CHUNK_DATA_CRLF),
        BAD("5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n", LINE_ENDING),
        BAD("5\nhello\r\n0\r\n\r\n", LINE_ENDING),
        BAD("5;a\nhello\r\n0\r\n\r\n", LINE_ENDING),
        BAD("5;a=\"\n\"\r\nhello\r\n0\r\n\r\n", LINE_ENDING),
        BAD("\n", LINE_ENDING),
        BAD("0\r\n\n", LINE_ENDING),
        BAD("0\r\n\rX", LINE_ENDING),
        BAD("0\r\nX: y\n\r\n", LINE_ENDING),
        BAD("0\r\nX: y\rz\r\n\r\n", LINE_ENDING),
        BAD("0\r\nX\n", LINE_ENDING),
    };
    run(cases, HZ__ARRAY_LEN(cases), &pt_limits);
}

Test(chunked, trailer_rejections)
{
    static const ccase cases[] = {
        BAD("0\r\n: v\r\n\r\n", TRAILER),      BAD("0\r\nX : v\r\n\r\n", TRAILER),
        BAD("0\r\n x: v\r\n\r\n", TRAILER),    BAD("0\r\nA: 1\r\n\tcontinued\r\n\r\n", TRAILER),
        BAD("0\r\nX\r\n\r\n", TRAILER),        BAD("0\r\nX: a\x00\r\n\r\n", TRAILER),
        BAD("0\r\nX: a\x7f\r\n\r\n", TRAILER), BAD("0\r\n\xe9: a\r\n\r\n", TRAILER),
        BAD("0\r\nX@: a\r\n\r\n", TRAILER),
    };
    run(cases, HZ__ARRAY_LEN(cases), &pt_limits);
}

Test(chunked, limit_chunk_extension)
{
    hz__parse_limits lim = pt_limits;
    lim.chunk_ext = 16;
    /* ";0123456789abcd" is 15 bytes, with one BWS 16: fits exactly */
    static const ccase fits[] = {
        OK("5 ;0123456789abcd\r\nhello\r\n0\r\n\r\n", "hello"),
        OK("5;a=\"0123456789a\"\r\nhello\r\n0\r\n\r\n", "hello"),
    };
    run(fits, HZ__ARRAY_LEN(fits), &lim);
    static const ccase over[] = {
        BAD("5  ;0123456789abcd\r\nhello\r\n0\r\n\r\n", CHUNK_EXT_TOO_LONG),
        BAD("5;a=\"0123456789ab\"\r\nhello\r\n0\r\n\r\n", CHUNK_EXT_TOO_LONG),
        BAD("0;a=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", CHUNK_EXT_TOO_LONG),
    };
    run(over, HZ__ARRAY_LEN(over), &lim);

    /* default limit (256): a 1000-byte extension that never ends */
    char big[1010];
    memcpy(big, "5;x=", 4);
    memset(big + 4, 'y', sizeof(big) - 4);
    pt_body b;
    pt_decode(big, sizeof(big), &pt_limits, &b);
    cr_assert_eq(b.rc, HZ_EPROTO);
    cr_assert_eq(b.err, HZ__PE_CHUNK_EXT_TOO_LONG);
    pt_body_free(&b);
    /* each chunk line has its own budget */
    char many[4096];
    size_t n = 0;
    for (int k = 0; k < 20; k++) {
        memcpy(many + n, "1;aaaaaaaaaaaa\r\nZ\r\n", 19);
        n += 19;
    }
    memcpy(many + n, "0\r\n\r\n", 5);
    n += 5;
    pt_decode(many, n, &lim, &b);
    cr_assert_eq(b.rc, 0);
    cr_assert_eq(b.data_len, 20);
    pt_body_free(&b);
}

Test(chunked, limit_trailer_bytes)
{
    static const char body[] = "0\r\nX-A: 12345\r\nX-B: 6\r\n\r\n";
    const uint32_t tb = (uint32_t)strlen("X-A: 12345\r\nX-B: 6\r\n");
    hz__parse_limits lim = pt_limits;
    pt_body b;
    lim.trailer_bytes = tb;
    pt_decode(body, sizeof(body) - 1, &lim, &b);
    cr_assert_eq(b.rc, 0);
    pt_body_free(&b);
    lim.trailer_bytes = tb - 1;
    pt_decode(body, sizeof(body) - 1, &lim, &b);
    cr_assert_eq(b.rc, HZ_EPROTO);
    cr_assert_eq(b.err, HZ__PE_TRAILER_TOO_LARGE);
    cr_assert_eq(hz__perr_status(b.err), 431);
    pt_body_free(&b);
    /* no trailers allowed at all, an empty trailer section still is */
    lim.trailer_bytes = 0;
    pt_decode("0\r\n\r\n", 5, &lim, &b);
    cr_assert_eq(b.rc, 0);
    pt_body_free(&b);
    pt_decode("0\r\nX", 4, &lim, &b);
    cr_assert_eq(b.err, HZ__PE_TRAILER_TOO_LARGE);
    pt_body_free(&b);

    /* a trailer that never ends, default limit */
    size_t n = 3 + 20000;
    char *s = malloc(n);
    cr_assert_not_null(s);
    memcpy(s, "0\r\nX: ", 6);
    memset(s + 6, 'v', n - 6);
    pt_decode(s, n, &pt_limits, &b);
    cr_assert_eq(b.err, HZ__PE_TRAILER_TOO_LARGE);
    pt_body_free(&b);
    free(s);
}

Test(chunked, incomplete_bodies_ask_for_more)
{
    static const char *const partial[] = {
        "",        "5",        "5\r", "5\r\n", "5\r\nhel", "5\r\nhello",    "5\r\nhello\r", "5;a",
        "5;a=\"b", "5;a=\"\\", "5 ",  "0\r\n", "0\r\nX",   "0\r\nX: y\r\n", "0\r\n\r",
    };
    for (size_t k = 0; k < HZ__ARRAY_LEN(partial); k++) {
        pt_body b;
        pt_decode(partial[k], strlen(partial[k]), &pt_limits, &b);
        cr_assert_eq(b.rc, HZ_EAGAIN, "'%s': rc %d (%s)", partial[k], b.rc, hz__perr_name(b.err));
        pt_body_free(&b);
    }
}

Test(chunked, data_spans_are_zero_copy)
{
    static const char in[] = "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\nNEXT";
    hz__chunked c;
    size_t used;
    const char *d;
    size_t dl;
    hz__chunked_init(&c, &pt_limits);
    cr_assert_eq(hz__chunked_decode(&c, in, sizeof(in) - 1, &used, &d, &dl), HZ__CHUNK_DATA);
    cr_assert_eq(d, in + 3);
    cr_assert_eq(dl, 4);
    cr_assert_eq(used, 7);
    size_t off = used;
    cr_assert_eq(hz__chunked_decode(&c, in + off, sizeof(in) - 1 - off, &used, &d, &dl),
                 HZ__CHUNK_DATA);
    cr_assert_eq(d, in + 12);
    cr_assert_eq(dl, 3);
    off += used;
    cr_assert_eq(hz__chunked_decode(&c, in + off, sizeof(in) - 1 - off, &used, &d, &dl), 0);
    off += used;
    cr_assert_eq(off, sizeof(in) - 1 - 4);
    cr_assert_str_eq(in + off, "NEXT");
    /* finished: stays finished, consumes nothing */
    cr_assert_eq(hz__chunked_decode(&c, "x", 1, &used, &d, &dl), 0);
    cr_assert_eq(used, 0);

    /* a decoder in error stays in error */
    hz__chunked_init(&c, &pt_limits);
    cr_assert_eq(hz__chunked_decode(&c, "z\r\n", 3, &used, &d, &dl), HZ_EPROTO);
    cr_assert_eq(c.error, HZ__PE_CHUNK_SIZE);
    cr_assert_eq(hz__chunked_decode(&c, "5\r\n", 3, &used, &d, &dl), HZ_EPROTO);
}

Test(chunked, large_and_many_chunks)
{
    /* 64 KiB chunk, then 900 one-byte chunks (conformance lim-many-small-chunks) */
    size_t n = 0, cap = 70000 + 900 * 6 + 16;
    char *s = malloc(cap);
    cr_assert_not_null(s);
    n += (size_t)sprintf(s, "FFFF\r\n");
    memset(s + n, 'q', 0xffff);
    n += 0xffff;
    memcpy(s + n, "\r\n", 2);
    n += 2;
    for (int k = 0; k < 900; k++) {
        memcpy(s + n, "1\r\nx\r\n", 6);
        n += 6;
    }
    memcpy(s + n, "0\r\n\r\n", 5);
    n += 5;
    pt_body b;
    pt_decode(s, n, &pt_limits, &b);
    cr_assert_eq(b.rc, 0);
    cr_assert_eq(b.end, n);
    cr_assert_eq(b.data_len, 0xffff + 900);
    cr_assert_eq(b.data[0], 'q');
    cr_assert_eq(b.data[b.data_len - 1], 'x');
    pt_body_free(&b);
    free(s);
}
