/* test_ws.c - the WebSocket frame parser, writers and handshake helpers
 * (core/proto/ws.c, ws_handshake.c). Every parser input is run whole,
 * split in two at every byte, byte by byte and through hz__ws_parse_copy
 * with tiny output buffers, each piece from a heap copy of exactly its
 * bytes; all runs must give the same transcript (frame ends, whole
 * messages, control frames) and the same verdict. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ws.h"

/* ------------------------------------------------------------------------ */
/* Harness                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        cr_assert(b->p);
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void puts_(bytes *b, const char *s)
{
    put(b, s, strlen(s));
}

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends one frame: opcode, HZ__WS_FIN/RSV1 flags, payload, masked with
 * `key` (client frame) or not. */
static void frame(bytes *b, unsigned op, unsigned flags, const void *payload, size_t len,
                  int masked)
{
    uint8_t h[HZ__WS_HEADER_MAX];
    int n = hz__ws_write_header(h, op, flags, len, masked ? key : NULL);
    cr_assert_gt(n, 0);
    put(b, h, (size_t)n);
    size_t at = b->len;
    put(b, payload, len);
    if (masked)
        hz__ws_mask(b->p + at, b->p + at, len, key, 0);
}

typedef struct run {
    long rc;        /* 0: all input consumed without error; else HZ_EPROTO */
    hz__ws_err err; /* with HZ_EPROTO */
    bytes log;      /* transcript */
    bytes msg;      /* the data message being assembled */
    int in_msg;
} run;

static void run_free(run *r)
{
    free(r->log.p);
    free(r->msg.p);
    memset(r, 0, sizeof(*r));
}

/* Records one event; the transcript does not depend on piece sizes. */
static void record(run *r, const hz__ws_event *ev)
{
    char line[64];
    if (ev->type == HZ__WS_EV_CONTROL) {
        snprintf(line, sizeof(line), "C%u code=%u len=%zu:", ev->opcode, ev->close_code, ev->len);
        puts_(&r->log, line);
        put(&r->log, ev->data, ev->len);
        if (ev->opcode == HZ__WS_OP_CLOSE && ev->len >= 2) {
            cr_assert(ev->reason == ev->data + 2 && ev->reason_len == ev->len - 2);
        } else {
            cr_assert(ev->reason == NULL && ev->reason_len == 0);
        }
        puts_(&r->log, "\n");
        return;
    }
    cr_assert_eq(ev->type, HZ__WS_EV_DATA);
    cr_assert(ev->opcode == HZ__WS_OP_TEXT || ev->opcode == HZ__WS_OP_BINARY);
    cr_assert_eq(ev->first, !r->in_msg, "first flag on the first piece only");
    cr_assert(!ev->msg_end || ev->frame_end);
    r->in_msg = 1;
    put(&r->msg, ev->data, ev->len);
    if (ev->frame_end)
        puts_(&r->log, "F");
    if (ev->msg_end) {
        snprintf(line, sizeof(line), "M%u%s len=%zu:", ev->opcode, ev->compressed ? "z" : "",
                 r->msg.len);
        puts_(&r->log, line);
        put(&r->log, r->msg.p, r->msg.len);
        puts_(&r->log, "\n");
        r->msg.len = 0;
        r->in_msg = 0;
    }
}

/* Feeds in[0..len) in pieces of `step` bytes (0: one piece; first piece
 * `first` bytes when first != 0), through _copy with cap when cap != 0. */
static void feed(const hz__ws_parser_cfg *cfg, const uint8_t *in, size_t len, size_t first,
                 size_t step, size_t cap, run *r)
{
    hz__ws_parser p;
    hz__ws_parser_init(&p, cfg);
    memset(r, 0, sizeof(*r));
    size_t off = 0;
    while (off < len || len == 0) {
        size_t n = len - off;
        if (off == 0 && first)
            n = first < n ? first : n;
        else if (step && step < n)
            n = step;
        uint8_t *piece = malloc(n ? n : 1); /* exactly n bytes: ASan sees over-reads */
        cr_assert(piece);
        memcpy(piece, in + off, n);
        uint8_t *out = cap ? malloc(cap) : NULL;
        size_t at = 0;
        for (;;) {
            hz__ws_event ev;
            long rc = cap ? hz__ws_parse_copy(&p, piece + at, n - at, out, cap, &ev)
                          : hz__ws_parse(&p, piece + at, n - at, &ev);
            if (rc < 0) {
                cr_assert_eq(rc, HZ_EPROTO);
                cr_assert_neq(p.error, HZ__WS_E_NONE);
                r->rc = rc;
                r->err = p.error;
                /* failed for good */
                hz__ws_event ev2;
                cr_assert_eq(hz__ws_parse(&p, piece, n, &ev2), HZ_EPROTO);
                free(piece);
                free(out);
                return;
            }
            cr_assert_leq((size_t)rc, n - at);
            at += (size_t)rc;
            if (ev.type == HZ__WS_EV_NONE) {
                cr_assert_eq(at, n, "NONE only with all input consumed");
                break;
            }
            if (cap && ev.type == HZ__WS_EV_DATA)
                cr_assert(ev.data == out && ev.len <= cap);
            record(r, &ev);
            if (at == n)
                break;
        }
        free(piece);
        free(out);
        off += n;
        if (len == 0)
            break;
    }
    r->rc = 0;
}

static void same(const run *a, const run *b, const char *how)
{
    cr_assert_eq(a->rc, b->rc, "%s: rc %ld vs %ld", how, a->rc, b->rc);
    cr_assert_eq(a->err, b->err, "%s: error %s vs %s", how, hz__ws_err_name(a->err),
                 hz__ws_err_name(b->err));
    cr_assert_eq(a->log.len, b->log.len, "%s: transcript %zu vs %zu bytes:\n%.*s\n--\n%.*s", how,
                 a->log.len, b->log.len, (int)a->log.len, a->log.p, (int)b->log.len, b->log.p);
    cr_assert(!a->log.len || !memcmp(a->log.p, b->log.p, a->log.len), "%s: transcripts differ",
              how);
}

/* Runs in every way; checks agreement; returns the whole-input run. */
static run parse_all(const hz__ws_parser_cfg *cfg, const uint8_t *in, size_t len)
{
    run whole, other;
    feed(cfg, in, len, 0, 0, 0, &whole);
    char how[64];
    for (size_t cut = 1; cut < len; cut++) {
        feed(cfg, in, len, cut, 0, 0, &other);
        snprintf(how, sizeof(how), "split at %zu", cut);
        same(&whole, &other, how);
        run_free(&other);
    }
    feed(cfg, in, len, 0, 1, 0, &other);
    same(&whole, &other, "byte by byte");
    run_free(&other);
    static const size_t caps[] = {1, 3, 7, 4096};
    for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
        feed(cfg, in, len, 0, 0, caps[k], &other);
        snprintf(how, sizeof(how), "copy, cap %zu", caps[k]);
        same(&whole, &other, how);
        run_free(&other);
        feed(cfg, in, len, 0, 5, caps[k], &other);
        same(&whole, &other, "copy, pieces of 5");
        run_free(&other);
    }
    return whole;
}

static const hz__ws_parser_cfg server = {HZ__WS_SERVER, 0, 0, 0};
static const hz__ws_parser_cfg client = {HZ__WS_CLIENT, 0, 0, 0};
static const hz__ws_parser_cfg server_pmd = {HZ__WS_SERVER, 0, 0, 1};

static void expect_ok(const hz__ws_parser_cfg *cfg, const bytes *in, const char *log, size_t loglen)
{
    run r = parse_all(cfg, in->p, in->len);
    cr_assert_eq(r.rc, 0, "error %s", hz__ws_err_name(r.err));
    cr_assert_eq(r.log.len, loglen, "transcript:\n%.*s\nwant:\n%.*s", (int)r.log.len, r.log.p,
                 (int)loglen, log);
    cr_assert(!loglen || !memcmp(r.log.p, log, loglen), "transcript:\n%.*s", (int)r.log.len,
              r.log.p);
    run_free(&r);
}

#define EXPECT_OK(cfg, in, log) expect_ok(cfg, in, log, sizeof(log) - 1)

/* The input fails with err; the transcript before it is `log`. */
static void expect_err_log(const hz__ws_parser_cfg *cfg, const bytes *in, hz__ws_err err,
                           const char *log)
{
    run r = parse_all(cfg, in->p, in->len);
    cr_assert_eq(r.rc, HZ_EPROTO, "want %s, got success", hz__ws_err_name(err));
    cr_assert_eq(r.err, err, "want %s, got %s", hz__ws_err_name(err), hz__ws_err_name(r.err));
    if (log) {
        cr_assert_eq(r.log.len, strlen(log), "transcript:\n%.*s", (int)r.log.len, r.log.p);
        cr_assert(!r.log.len || !memcmp(r.log.p, log, r.log.len));
    }
    run_free(&r);
}

static void expect_err(const hz__ws_parser_cfg *cfg, const bytes *in, hz__ws_err err)
{
    expect_err_log(cfg, in, err, NULL);
}

static bytes raw(const void *p, size_t n)
{
    bytes b = {0};
    put(&b, p, n);
    return b;
}

#define RAW(s) raw(s, sizeof(s) - 1)

/* ------------------------------------------------------------------------ */
/* RFC 6455 §5.7 examples                                                    */
/* ------------------------------------------------------------------------ */

Test(ws, rfc_examples)
{
    /* a single-frame unmasked text message (client side) */
    bytes b = RAW("\x81\x05\x48\x65\x6c\x6c\x6f");
    EXPECT_OK(&client, &b, "FM1 len=5:Hello\n");
    free(b.p);
    /* a single-frame masked text message (server side) */
    b = RAW("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
    EXPECT_OK(&server, &b, "FM1 len=5:Hello\n");
    free(b.p);
    /* a fragmented unmasked text message */
    b = RAW("\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f");
    EXPECT_OK(&client, &b, "FFM1 len=5:Hello\n");
    free(b.p);
    /* unmasked ping, masked pong */
    b = RAW("\x89\x05\x48\x65\x6c\x6c\x6f");
    EXPECT_OK(&client, &b, "C9 code=0 len=5:Hello\n");
    free(b.p);
    b = RAW("\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
    EXPECT_OK(&server, &b, "C10 code=0 len=5:Hello\n");
    free(b.p);
}

Test(ws, length_encodings)
{
    static uint8_t payload[70000];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 31);
    static const size_t lens[] = {0, 1, 125, 126, 127, 256, 65535, 65536, 70000};
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        bytes b = {0};
        frame(&b, HZ__WS_OP_BINARY, HZ__WS_FIN, payload, lens[k], 1);
        size_t want_hdr = lens[k] < 126 ? 6 : lens[k] <= 65535 ? 8 : 14;
        cr_assert_eq(b.len, want_hdr + lens[k]);
        /* the split runs cost O(len^2): whole + byte-by-byte for the big ones */
        run r, r2;
        feed(&server, b.p, b.len, 0, 0, 0, &r);
        cr_assert_eq(r.rc, 0);
        char head[32];
        int hl = snprintf(head, sizeof(head), "FM2 len=%zu:", lens[k]);
        cr_assert_eq(r.log.len, (size_t)hl + lens[k] + 1);
        cr_assert(!memcmp(r.log.p, head, (size_t)hl));
        cr_assert(!memcmp(r.log.p + hl, payload, lens[k]));
        feed(&server, b.p, b.len, 0, 1, 0, &r2);
        same(&r, &r2, "byte by byte");
        run_free(&r2);
        feed(&server, b.p, b.len, 0, 4093, 3, &r2);
        same(&r, &r2, "copy");
        run_free(&r2);
        if (lens[k] <= 256) {
            run r3 = parse_all(&server, b.p, b.len);
            same(&r, &r3, "all splits");
            run_free(&r3);
        }
        run_free(&r);
        free(b.p);
    }
    /* RFC §5.7: 256 bytes in a 16-bit length, 64 KiB in a 64-bit one */
    uint8_t h[HZ__WS_HEADER_MAX];
    cr_assert_eq(hz__ws_write_header(h, 2, HZ__WS_FIN, 256, NULL), 4);
    cr_assert(!memcmp(h, "\x82\x7e\x01\x00", 4));
    cr_assert_eq(hz__ws_write_header(h, 2, HZ__WS_FIN, 65536, NULL), 10);
    cr_assert(!memcmp(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

/* ------------------------------------------------------------------------ */
/* Every rule                                                                */
/* ------------------------------------------------------------------------ */

Test(ws, reserved_bits)
{
    bytes b;
    b = RAW("\xc1\x80\0\0\0\0"); /* RSV1 without permessage-deflate */
    expect_err(&server, &b, HZ__WS_E_RSV);
    free(b.p);
    b = RAW("\xa1\x80\0\0\0\0"); /* RSV2 */
    expect_err(&server_pmd, &b, HZ__WS_E_RSV);
    free(b.p);
    b = RAW("\x91\x80\0\0\0\0"); /* RSV3 */
    expect_err(&server_pmd, &b, HZ__WS_E_RSV);
    free(b.p);
    b = RAW("\xc9\x80\0\0\0\0"); /* RSV1 on a ping */
    expect_err(&server_pmd, &b, HZ__WS_E_RSV1_CONTROL);
    free(b.p);
    /* RSV1 on the first frame is the compressed flag; not on a continuation */
    b = (bytes){0};
    frame(&b, HZ__WS_OP_TEXT, HZ__WS_RSV1, "\xff\xfe", 2, 1);
    frame(&b, HZ__WS_OP_CONT, HZ__WS_FIN | HZ__WS_RSV1, "x", 1, 1);
    expect_err_log(&server_pmd, &b, HZ__WS_E_RSV1_CONTINUATION, "F");
    free(b.p);
    /* a compressed text message is passed through, not UTF-8-checked */
    b = (bytes){0};
    frame(&b, HZ__WS_OP_TEXT, HZ__WS_RSV1, "\xff\xfe", 2, 1);
    frame(&b, HZ__WS_OP_CONT, HZ__WS_FIN, "\xc0", 1, 1);
    EXPECT_OK(&server_pmd, &b, "FFM1z len=3:\xff\xfe\xc0\n");
    free(b.p);
    /* an uncompressed message on a permessage-deflate connection is checked */
    b = (bytes){0};
    frame(&b, HZ__WS_OP_TEXT, HZ__WS_FIN, "\xff", 1, 1);
    expect_err(&server_pmd, &b, HZ__WS_E_UTF8);
    free(b.p);
}

Test(ws, opcodes)
{
    for (unsigned op = 0; op < 16; op++) {
        uint8_t f[] = {(uint8_t)(0x80 | op), 0x80, 1, 2, 3, 4};
        bytes b = raw(f, sizeof(f));
        if (op == 0)
            expect_err(&server, &b, HZ__WS_E_CONTINUATION_UNEXPECTED);
        else if ((op >= 3 && op <= 7) || op >= 0xb)
            expect_err(&server, &b, HZ__WS_E_OPCODE);
        else if (op == HZ__WS_OP_CLOSE)
            EXPECT_OK(&server, &b, "C8 code=0 len=0:\n");
        else if (op == 1 || op == 2) {
            char want[32];
            snprintf(want, sizeof(want), "FM%u len=0:\n", op);
            expect_ok(&server, &b, want, strlen(want));
        } else {
            char want[32];
            snprintf(want, sizeof(want), "C%u code=0 len=0:\n", op);
            expect_ok(&server, &b, want, strlen(want));
        }
        free(b.p);
    }
}

Test(ws, control_frames)
{
    bytes b;
    b = RAW("\x09\x80\0\0\0\0"); /* ping without FIN */
    expect_err(&server, &b, HZ__WS_E_CONTROL_FRAGMENTED);
    free(b.p);
    b = RAW("\x0a\x80\0\0\0\0");
    expect_err(&server, &b, HZ__WS_E_CONTROL_FRAGMENTED);
    free(b.p);
    b = RAW("\x08\x80\0\0\0\0");
    expect_err(&server, &b, HZ__WS_E_CONTROL_FRAGMENTED);
    free(b.p);
    /* 125 bytes is the most; 126 fails at the length byte, whatever follows */
    static uint8_t big[126];
    memset(big, 'p', sizeof(big));
    b = (bytes){0};
    frame(&b, HZ__WS_OP_PING, HZ__WS_FIN, big, 125, 1);
    run r = parse_all(&server, b.p, b.len);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(r.log.len, strlen("C9 code=0 len=125:") + 125 + 1);
    run_free(&r);
    free(b.p);
    b = RAW("\x89\xfe\x00\x7e");
    expect_err(&server, &b, HZ__WS_E_CONTROL_TOO_LONG);
    free(b.p);
    b = RAW("\x89\xfe");
    expect_err(&server, &b, HZ__WS_E_CONTROL_TOO_LONG);
    free(b.p);
    b = RAW("\x8a\xff");
    expect_err(&server, &b, HZ__WS_E_CONTROL_TOO_LONG);
    free(b.p);
    /* control frames between the fragments of a message */
    b = (bytes){0};
    frame(&b, HZ__WS_OP_TEXT, 0, "Hel", 3, 1);
    frame(&b, HZ__WS_OP_PING, HZ__WS_FIN, "p1", 2, 1);
    frame(&b, HZ__WS_OP_CONT, 0, "", 0, 1);
    frame(&b, HZ__WS_OP_PONG, HZ__WS_FIN, "", 0, 1);
    frame(&b, HZ__WS_OP_PING, HZ__WS_FIN, "p2", 2, 1);
    frame(&b, HZ__WS_OP_CONT, HZ__WS_FIN, "lo", 2, 1);
    frame(&b, HZ__WS_OP_BINARY, HZ__WS_FIN, "\x00\xff", 2, 1);
    EXPECT_OK(&server, &b,
              "FC9 code=0 len=2:p1\nFC10 code=0 len=0:\nC9 code=0 len=2:p2\nFM1 len=5:Hello\n"
              "FM2 len=2:\x00\xff\n");
    free(b.p);
}

Test(ws, masking_rules)
{
    bytes b = {0};
    frame(&b, HZ__WS_OP_TEXT, HZ__WS_FIN, "Hello", 5, 0);
    expect_err(&server, &b, HZ__WS_E_UNMASKED);
    EXPECT_OK(&client, &b, "FM1 len=5:Hello\n");
    free(b.p);
    b = (bytes){0};
    frame(&b, HZ__WS_OP_TEXT, HZ__WS_FIN, "Hello", 5, 1);
    expect_err(&client, &b, HZ__WS_E_MASKED);
    free(b.p);
    /* an empty unmasked ping from a client still fails */
    b = RAW("\x89\x00");
    expect_err(&server, &b, HZ__WS_E_UNMASKED);
    free(b.p);
}

Test(ws, minimal_lengths)
{
    bytes b;
    /* 16-bit field holding < 126 */
    b = RAW("\x82\xfe\x00\x7d");
    expect_err(&server, &b, HZ__WS_E_LENGTH_NOT_MINIMAL);
    free(b.p);
    b = RAW("\x82\xfe\x00\x00");
    expect_err(&server, &b, HZ__WS_E_LENGTH_NOT_MINIMAL);
    free(b.p);
    /* 64-bit field holding <= 65535 */
    b = RAW("\x82\xff\x00\x00\x00\x00\x00\x00\xff\xff");
    expect_err(&server, &b, HZ__WS_E_LENGTH_NOT_MINIMAL);
    free(b.p);
    b = RAW("\x82\xff\x00\x00\x00\x00\x00\x00\x00\x05");
    expect_err(&server, &b, HZ__WS_E_LENGTH_NOT_MINIMAL);
    free(b.p);
    /* the most significant bit */
    b = RAW("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00");
    expect_err(&server, &b, HZ__WS_E_LENGTH_MSB);
    free(b.p);
    b = RAW("\x82\xff\xff\xff\xff\xff\xff\xff\xff\xff");
    expect_err(&server, &b, HZ__WS_E_LENGTH_MSB);
    free(b.p);
    /* the smallest of each form is accepted (only the header is sent) */
    b = RAW("\x82\xfe\x00\x7e\1\2\3\4");
    run r = parse_all(&server, b.p, b.len);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(r.log.len, 0);
    run_free(&r);
    free(b.p);
    b = RAW("\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00\1\2\3\4");
    r = parse_all(&server, b.p, b.len);
    cr_assert_eq(r.rc, 0);
    run_free(&r);
    free(b.p);
    /* the largest 64-bit length without a limit is accepted */
    b = RAW("\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff\1\2\3\4");
    r = parse_all(&server, b.p, b.len);
    cr_assert_eq(r.rc, 0);
    run_free(&r);
    free(b.p);
}

Test(ws, fragmentation_order)
{
    bytes b;
    /* continuation first */
    b = (bytes){0};
    frame(&b, HZ__WS_OP_CONT, HZ__WS_FIN, "x", 1, 1);
    expect_err(&server, &b, HZ__WS_E_CONTINUATION_UNEXPECTED);
    free(b.p);
    /* continuation after a finished message */
    b = (bytes){0};
    frame(&b, HZ__WS_OP_TEXT, HZ__WS_FIN, "a", 1, 1);
    frame(&b, HZ__WS_OP_CONT, HZ__WS_FIN, "b", 1, 1);
    expect_err_log(&server, &b, HZ__WS_E_CONTINUATION_UNEXPECTED, "FM1 len=1:a\n");
    free(b.p);
    /* a new data frame inside a fragmented message, also after a ping */
    b = (bytes){0};
    frame(&b, HZ__WS_OP_TEXT, 0, "a", 1, 1);
    frame(&b, HZ__WS_OP_TEXT, HZ__WS_FIN, "b", 1, 1);
    expect_err_log(&server, &b, HZ__WS_E_MESSAGE_UNFINISHED, "F");
    free(b.p);
    b = (bytes){0};
    frame(&b, HZ__WS_OP_BINARY, 0, "a", 1, 1);
    frame(&b, HZ__WS_OP_PING, HZ__WS_FIN, "", 0, 1);
    frame(&b, HZ__WS_OP_BINARY, 0, "b", 1, 1);
    expect_err_log(&server, &b, HZ__WS_E_MESSAGE_UNFINISHED, "FC9 code=0 len=0:\n");
    free(b.p);
    /* many fragments, some empty */
    b = (bytes){0};
    frame(&b, HZ__WS_OP_BINARY, 0, "", 0, 1);
    for (int i = 0; i < 10; i++)
        frame(&b, HZ__WS_OP_CONT, 0, i & 1 ? "" : "ab", i & 1 ? 0 : 2, 1);
    frame(&b, HZ__WS_OP_CONT, HZ__WS_FIN, "", 0, 1);
    EXPECT_OK(&server, &b, "FFFFFFFFFFFFM2 len=10:ababababab\n");
    free(b.p);
}

Test(ws, size_limits)
{
    hz__ws_parser_cfg cfg = {HZ__WS_SERVER, 10, 16, 0};
    bytes b;
    b = (bytes){0};
    frame(&b, HZ__WS_OP_BINARY, HZ__WS_FIN, "0123456789", 10, 1);
    EXPECT_OK(&cfg, &b, "FM2 len=10:0123456789\n");
    free(b.p);
    b = (bytes){0};
    frame(&b, HZ__WS_OP_BINARY, HZ__WS_FIN, "0123456789A", 11, 1);
    expect_err(&cfg, &b, HZ__WS_E_FRAME_TOO_BIG);
    free(b.p);
    /* the limit is checked when the length is known: before the mask key
     * and the payload arrive */
    b = RAW("\x82\x8b");
    expect_err(&cfg, &b, HZ__WS_E_FRAME_TOO_BIG);
    free(b.p);
    b = RAW("\x82\xfe\x10\x00");
    expect_err(&cfg, &b, HZ__WS_E_FRAME_TOO_BIG);
    free(b.p);
    /* message: 10 + 6 = 16 fits, 10 + 6 + 1 does not */
    b = (bytes){0};
    frame(&b, HZ__WS_OP_TEXT, 0, "0123456789", 10, 1);
    frame(&b, HZ__WS_OP_CONT, 0, "abcdef", 6, 1);
    frame(&b, HZ__WS_OP_CONT, HZ__WS_FIN, "", 0, 1);
    EXPECT_OK(&cfg, &b, "FFFM1 len=16:0123456789abcdef\n");
    frame(&b, HZ__WS_OP_TEXT, 0, "0123456789", 10, 1);
    frame(&b, HZ__WS_OP_CONT, 0, "abcdef", 6, 1);
    frame(&b, HZ__WS_OP_CONT, HZ__WS_FIN, "g", 1, 1);
    expect_err_log(&cfg, &b, HZ__WS_E_MESSAGE_TOO_BIG, "FFFM1 len=16:0123456789abcdef\nFF");
    free(b.p);
    /* control frames count against neither limit */
    hz__ws_parser_cfg tiny = {HZ__WS_SERVER, 1, 1, 0};
    b = (bytes){0};
    frame(&b, HZ__WS_OP_PING, HZ__WS_FIN, "0123456789", 10, 1);
    EXPECT_OK(&tiny, &b, "C9 code=0 len=10:0123456789\n");
    free(b.p);
    /* a 64-bit length at the limit's edge, without its payload */
    hz__ws_parser_cfg huge = {HZ__WS_SERVER, 0, UINT64_MAX - 1, 0};
    b = RAW("\x02\xff\x7f\xff\xff\xff\xff\xff\xff\xff");
    run r = parse_all(&huge, b.p, b.len);
    cr_assert_eq(r.rc, 0);
    run_free(&r);
    free(b.p);
}

Test(ws, utf8_across_fragments)
{
    bytes b;
    /* a euro sign split over three frames, and a ping in between */
    b = (bytes){0};
    frame(&b, HZ__WS_OP_TEXT, 0, "\xe2", 1, 1);
    frame(&b, HZ__WS_OP_PING, HZ__WS_FIN, "", 0, 1);
    frame(&b, HZ__WS_OP_CONT, 0, "\x82", 1, 1);
    frame(&b, HZ__WS_OP_CONT, HZ__WS_FIN, "\xac!", 2, 1);
    EXPECT_OK(&server, &b, "FC9 code=0 len=0:\nFFM1 len=4:\xe2\x82\xac!\n");
    free(b.p);
    /* a sequence left open at the end of the message */
    b = (bytes){0};
    frame(&b, HZ__WS_OP_TEXT, 0, "ok \xe2\x82", 5, 1);
    frame(&b, HZ__WS_OP_CONT, HZ__WS_FIN, "", 0, 1);
    expect_err_log(&server, &b, HZ__WS_E_UTF8, "F");
    free(b.p);
    b = (bytes){0};
    frame(&b, HZ__WS_OP_TEXT, HZ__WS_FIN, "\xf0\x9f\x98", 3, 1);
    expect_err(&server, &b, HZ__WS_E_UTF8);
    free(b.p);
    /* fail fast: the bad byte fails the frame even though its payload is
     * not all there yet */
    b = RAW("\x81\x8a\0\0\0\0ab\xc0");
    expect_err(&server, &b, HZ__WS_E_UTF8);
    free(b.p);
    /* surrogates, overlongs, > U+10FFFF */
    static const char *bad[] = {"\xed\xa0\x80",         "\xc0\xaf",
                                "\xe0\x80\xaf",         "\xf4\x90\x80\x80",
                                "\xf8\x88\x80\x80\x80", "\xff"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        b = (bytes){0};
        frame(&b, HZ__WS_OP_TEXT, HZ__WS_FIN, bad[i], strlen(bad[i]), 1);
        expect_err(&server, &b, HZ__WS_E_UTF8);
        free(b.p);
    }
    /* binary messages are not checked */
    b = (bytes){0};
    frame(&b, HZ__WS_OP_BINARY, HZ__WS_FIN, "\xff", 1, 1);
    EXPECT_OK(&server, &b, "FM2 len=1:\xff\n");
    free(b.p);
}

Test(ws, close_frames)
{
    bytes b;
    b = (bytes){0};
    frame(&b, HZ__WS_OP_CLOSE, HZ__WS_FIN, "\x03\xe8", 2, 1);
    EXPECT_OK(&server, &b, "C8 code=1000 len=2:\x03\xe8\n");
    free(b.p);
    b = (bytes){0};
    frame(&b, HZ__WS_OP_CLOSE, HZ__WS_FIN, "\x0f\xa0g\xc3\xa9n\xc3\xa9ral", 11, 1);
    EXPECT_OK(&server, &b, "C8 code=4000 len=11:\x0f\xa0g\xc3\xa9n\xc3\xa9ral\n");
    free(b.p);
    b = (bytes){0};
    frame(&b, HZ__WS_OP_CLOSE, HZ__WS_FIN, "\x03", 1, 1);
    expect_err(&server, &b, HZ__WS_E_CLOSE_LENGTH);
    free(b.p);
    b = (bytes){0};
    frame(&b, HZ__WS_OP_CLOSE, HZ__WS_FIN, "\x03\xe8\xff", 3, 1);
    expect_err(&server, &b, HZ__WS_E_CLOSE_REASON_UTF8);
    free(b.p);
    b = (bytes){0};
    frame(&b, HZ__WS_OP_CLOSE, HZ__WS_FIN, "\x03\xe8\xe2\x82", 4, 1);
    expect_err(&server, &b, HZ__WS_E_CLOSE_REASON_UTF8);
    free(b.p);
    /* every code: valid exactly in 1000-1003, 1007-1011, 3000-4999 */
    for (unsigned code = 0; code < 65536; code++) {
        int valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
                    (code >= 3000 && code <= 4999);
        cr_assert_eq(hz__ws_close_code_valid(code), valid, "code %u", code);
    }
    static const unsigned codes[] = {0,    999,  1000, 1003, 1004, 1005, 1006, 1007, 1011,
                                     1012, 1015, 1016, 2999, 3000, 4999, 5000, 65535};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        uint8_t pl[2] = {(uint8_t)(codes[i] >> 8), (uint8_t)codes[i]};
        b = (bytes){0};
        frame(&b, HZ__WS_OP_CLOSE, HZ__WS_FIN, pl, 2, 1);
        if (hz__ws_close_code_valid(codes[i])) {
            char want[64];
            int n = snprintf(want, sizeof(want), "C8 code=%u len=2:", codes[i]);
            memcpy(want + n, pl, 2);
            want[n + 2] = '\n';
            expect_ok(&server, &b, want, (size_t)n + 3);
        } else {
            expect_err(&server, &b, HZ__WS_E_CLOSE_CODE);
        }
        free(b.p);
    }
    /* nothing may follow a close frame */
    b = (bytes){0};
    frame(&b, HZ__WS_OP_CLOSE, HZ__WS_FIN, "", 0, 1);
    frame(&b, HZ__WS_OP_PING, HZ__WS_FIN, "", 0, 1);
    expect_err_log(&server, &b, HZ__WS_E_AFTER_CLOSE, "C8 code=0 len=0:\n");
    free(b.p);
    /* ... and a close frame inside a fragmented message ends the reading */
    b = (bytes){0};
    frame(&b, HZ__WS_OP_TEXT, 0, "a", 1, 1);
    frame(&b, HZ__WS_OP_CLOSE, HZ__WS_FIN, "\x03\xe9", 2, 1);
    EXPECT_OK(&server, &b, "FC8 code=1001 len=2:\x03\xe9\n");
    free(b.p);
}

Test(ws, error_table)
{
    for (int e = 0; e < HZ__WS_E_COUNT; e++) {
        unsigned code = hz__ws_err_close_code((hz__ws_err)e);
        cr_assert(e == 0 ? code == 0 : (code == 1002 || code == 1007 || code == 1009));
        cr_assert_str_neq(hz__ws_err_name((hz__ws_err)e), "UNKNOWN");
        cr_assert(strlen(hz__ws_err_text((hz__ws_err)e)) > 0);
        for (int f = 0; f < e; f++)
            cr_assert_str_neq(hz__ws_err_name((hz__ws_err)e), hz__ws_err_name((hz__ws_err)f));
    }
    cr_assert_eq(hz__ws_err_close_code(HZ__WS_E_UTF8), 1007);
    cr_assert_eq(hz__ws_err_close_code(HZ__WS_E_MESSAGE_TOO_BIG), 1009);
    cr_assert_eq(hz__ws_err_close_code(HZ__WS_E_LENGTH_NOT_MINIMAL), 1002);
    cr_assert_str_eq(hz__ws_err_name(HZ__WS_E_COUNT), "UNKNOWN");
}

Test(ws, parse_copy_leaves_input_alone)
{
    bytes b = {0};
    frame(&b, HZ__WS_OP_TEXT, HZ__WS_FIN, "Hello, world", 12, 1);
    bytes orig = raw(b.p, b.len);
    hz__ws_parser p;
    hz__ws_parser_init(&p, &server);
    uint8_t out[4];
    hz__ws_event ev;
    cr_assert_eq(hz__ws_parse_copy(&p, b.p, b.len, out, 0, &ev), HZ_EINVAL);
    cr_assert_eq(hz__ws_parse_copy(&p, b.p, b.len, NULL, 4, &ev), HZ_EINVAL);
    size_t at = 0;
    bytes got = {0};
    while (at < b.len) {
        long n = hz__ws_parse_copy(&p, b.p + at, b.len - at, out, sizeof(out), &ev);
        cr_assert_geq(n, 0);
        at += (size_t)n;
        if (ev.type == HZ__WS_EV_DATA)
            put(&got, ev.data, ev.len);
    }
    cr_assert(!memcmp(b.p, orig.p, b.len));
    cr_assert_eq(got.len, 12);
    cr_assert(!memcmp(got.p, "Hello, world", 12));
    free(b.p);
    free(orig.p);
    free(got.p);
}

Test(ws, mask_matches_bytewise)
{
    uint8_t src[100], dst[100], k[4] = {0x01, 0x80, 0xfe, 0x55};
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 13 + 7);
    for (uint64_t off = 0; off < 8; off++)
        for (size_t len = 0; len <= 40; len++)
            for (size_t at = 0; at < 8; at++) {
                hz__ws_mask(dst, src + at, len, k, off);
                for (size_t i = 0; i < len; i++)
                    cr_assert_eq(dst[i], src[at + i] ^ k[(off + i) & 3]);
            }
    /* in place, and twice is the identity */
    uint8_t copy[100];
    memcpy(copy, src, 100);
    hz__ws_mask(copy, copy, 100, k, 3);
    hz__ws_mask(copy, copy, 100, k, 3);
    cr_assert(!memcmp(copy, src, 100));
}

/* ------------------------------------------------------------------------ */
/* Writers                                                                   */
/* ------------------------------------------------------------------------ */

Test(ws, write_header)
{
    uint8_t h[HZ__WS_HEADER_MAX];
    cr_assert_eq(hz__ws_write_header(h, HZ__WS_OP_TEXT, HZ__WS_FIN, 5, NULL), 2);
    cr_assert(!memcmp(h, "\x81\x05", 2));
    cr_assert_eq(hz__ws_write_header(h, HZ__WS_OP_TEXT, HZ__WS_FIN | HZ__WS_RSV1, 0, NULL), 2);
    cr_assert(!memcmp(h, "\xc1\x00", 2));
    cr_assert_eq(hz__ws_write_header(h, HZ__WS_OP_CONT, 0, 125, NULL), 2);
    cr_assert(!memcmp(h, "\x00\x7d", 2));
    cr_assert_eq(hz__ws_write_header(h, HZ__WS_OP_BINARY, HZ__WS_FIN, 126, NULL), 4);
    cr_assert(!memcmp(h, "\x82\x7e\x00\x7e", 4));
    cr_assert_eq(hz__ws_write_header(h, HZ__WS_OP_BINARY, HZ__WS_FIN, 65535, NULL), 4);
    cr_assert_eq(hz__ws_write_header(h, HZ__WS_OP_BINARY, 0, (1ull << 63) - 1, key), 14);
    cr_assert(!memcmp(h, "\x02\xff\x7f\xff\xff\xff\xff\xff\xff\xff\x37\xfa\x21\x3d", 14));
    cr_assert_eq(hz__ws_write_header(h, HZ__WS_OP_TEXT, HZ__WS_FIN, 5, key), 6);
    cr_assert(!memcmp(h, "\x81\x85\x37\xfa\x21\x3d", 6));
    /* refusals */
    cr_assert_eq(hz__ws_write_header(h, 16, HZ__WS_FIN, 0, NULL), HZ_EINVAL);
    cr_assert_eq(hz__ws_write_header(h, HZ__WS_OP_BINARY, 0, 1ull << 63, NULL), HZ_EINVAL);
    cr_assert_eq(hz__ws_write_header(h, HZ__WS_OP_PING, HZ__WS_FIN, 126, NULL), HZ_EINVAL);
    cr_assert_eq(hz__ws_write_header(h, HZ__WS_OP_CLOSE, 0, 0, NULL), HZ_EINVAL);
    cr_assert_eq(hz__ws_write_header(h, HZ__WS_OP_PONG, HZ__WS_FIN, 125, NULL), 2);
}

Test(ws, close_payload)
{
    uint8_t out[HZ__WS_CONTROL_MAX];
    cr_assert_eq(hz__ws_close_payload(out, 0, NULL, 0), 0);
    cr_assert_eq(hz__ws_close_payload(out, 0, "x", 1), HZ_EINVAL);
    cr_assert_eq(hz__ws_close_payload(out, 1000, NULL, 0), 2);
    cr_assert(!memcmp(out, "\x03\xe8", 2));
    cr_assert_eq(hz__ws_close_payload(out, 4999, "bye \xe2\x82\xac", 7), 9);
    cr_assert(!memcmp(out,
                      "\x13\x87"
                      "bye \xe2\x82\xac",
                      9));
    cr_assert_eq(hz__ws_close_payload(out, 1005, NULL, 0), HZ_EINVAL);
    cr_assert_eq(hz__ws_close_payload(out, 1006, NULL, 0), HZ_EINVAL);
    cr_assert_eq(hz__ws_close_payload(out, 1015, NULL, 0), HZ_EINVAL);
    cr_assert_eq(hz__ws_close_payload(out, 1000, "\xc0\xaf", 2), HZ_EINVAL);
    char r[124];
    memset(r, 'r', sizeof(r));
    cr_assert_eq(hz__ws_close_payload(out, 1000, r, 123), 125);
    cr_assert_eq(hz__ws_close_payload(out, 1000, r, 124), HZ_ERANGE);
    /* what the writer makes, the parser takes */
    bytes b = {0};
    int n = hz__ws_close_payload(out, 1011, "x", 1);
    frame(&b, HZ__WS_OP_CLOSE, HZ__WS_FIN, out, (size_t)n, 1);
    EXPECT_OK(&server, &b, "C8 code=1011 len=3:\x03\xf3x\n");
    free(b.p);
}

/* ------------------------------------------------------------------------ */
/* Handshake                                                                 */
/* ------------------------------------------------------------------------ */

Test(ws_handshake, accept_key)
{
    char out[HZ__WS_ACCEPT_LEN + 1];
    /* RFC 6455 §1.3 and §4.2.2 */
    cr_assert_eq(hz__ws_accept("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
    cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* RFC 6455 §4.1's other example key */
    cr_assert_eq(hz__ws_accept("x3JJHMbDL1EzLkh9GBhXDw==", 24, out), 0);
    cr_assert_str_eq(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    cr_assert_eq(hz__ws_accept("dGhlIHNhbXBsZSBub25jZQ", 22, out), HZ_EINVAL);
}

Test(ws_handshake, key_validity)
{
    cr_assert(hz__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24));
    cr_assert(hz__ws_key_valid("AAAAAAAAAAAAAAAAAAAAAA==", 24));
    cr_assert(hz__ws_key_valid("/////////////////////w==", 24));
    cr_assert(!hz__ws_key_valid(NULL, 0));
    cr_assert(!hz__ws_key_valid("", 0));
    cr_assert(!hz__ws_key_valid("dGhlIHNhbXBsZSBub25jZR==", 24)); /* pad bits set */
    cr_assert(!hz__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
    cr_assert(!hz__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ== ", 25));
    cr_assert(!hz__ws_key_valid(" dGhlIHNhbXBsZSBub25jZQ=", 24));
    cr_assert(!hz__ws_key_valid("dGhlIHNhbXBsZSBub25jZQAA", 24)); /* 18 bytes */
    cr_assert(!hz__ws_key_valid("dGhlIHNhbXBsZSBub25j====", 24));
    cr_assert(!hz__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ-=", 24));
    cr_assert(!hz__ws_key_valid("dGhlIHNhbXBsZSBub25jZWFhYQ==", 28)); /* 19 bytes */
}

Test(ws_handshake, token_lists)
{
#define HAS(list, tok) hz__ws_list_has(list, strlen(list), tok)
    cr_assert(HAS("Upgrade", "upgrade"));
    cr_assert(HAS("keep-alive, Upgrade", "upgrade"));
    cr_assert(HAS(" , ,UPGRADE\t, ", "upgrade"));
    cr_assert(HAS("websocket", "websocket"));
    cr_assert(HAS("WebSocket, h2c", "websocket"));
    cr_assert(!HAS("", "upgrade"));
    cr_assert(!HAS("upgrades", "upgrade"));
    cr_assert(!HAS("up grade", "upgrade"));
    cr_assert(!HAS("keep-alive upgrade", "upgrade"));
    cr_assert(!HAS("\"upgrade\"", "upgrade"));
    cr_assert(!HAS("websocket/13", "websocket"));
    cr_assert(!hz__ws_list_has(NULL, 0, "upgrade"));
    /* the length is respected: no reading past it */
    cr_assert(!hz__ws_list_has("upgrade", 6, "upgrade"));
#undef HAS
}

static hz__ws_hs_req good_req(void)
{
    hz__ws_hs_req r;
    memset(&r, 0, sizeof(r));
    r.method = (hz_str){"GET", 3};
    r.version_minor = 1;
    r.connection = (hz_str){"keep-alive, Upgrade", 19};
    r.upgrade = (hz_str){"websocket", 9};
    r.version = (hz_str){"13", 2};
    r.key = (hz_str){" dGhlIHNhbXBsZSBub25jZQ== ", 26};
    r.key_count = 1;
    return r;
}

Test(ws_handshake, request_check)
{
    hz__ws_hs_req r = good_req();
    cr_assert_eq(hz__ws_handshake_check(&r), HZ__WS_HS_OK);
    r.method = (hz_str){"POST", 4};
    cr_assert_eq(hz__ws_handshake_check(&r), HZ__WS_HS_METHOD);
    r.method = (hz_str){"get", 3}; /* methods are case-sensitive */
    cr_assert_eq(hz__ws_handshake_check(&r), HZ__WS_HS_METHOD);
    r = good_req();
    r.version_minor = 0;
    cr_assert_eq(hz__ws_handshake_check(&r), HZ__WS_HS_HTTP_VERSION);
    r = good_req();
    r.upgrade = (hz_str){NULL, 0};
    cr_assert_eq(hz__ws_handshake_check(&r), HZ__WS_HS_NO_UPGRADE);
    r.upgrade = (hz_str){"h2c", 3};
    cr_assert_eq(hz__ws_handshake_check(&r), HZ__WS_HS_NO_UPGRADE);
    r = good_req();
    r.connection = (hz_str){"keep-alive", 10};
    cr_assert_eq(hz__ws_handshake_check(&r), HZ__WS_HS_CONNECTION);
    r = good_req();
    r.version = (hz_str){NULL, 0};
    cr_assert_eq(hz__ws_handshake_check(&r), HZ__WS_HS_VERSION_MISSING);
    static const char *versions[] = {"8", "7, 13", "13, 8", "013", "", "14"};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        r.version = (hz_str){versions[i], strlen(versions[i])};
        cr_assert_eq(hz__ws_handshake_check(&r), HZ__WS_HS_VERSION, "%s", versions[i]);
    }
    r.version = (hz_str){" 13\t", 4};
    cr_assert_eq(hz__ws_handshake_check(&r), HZ__WS_HS_OK);
    r = good_req();
    r.key = (hz_str){NULL, 0};
    r.key_count = 0;
    cr_assert_eq(hz__ws_handshake_check(&r), HZ__WS_HS_KEY_MISSING);
    r = good_req();
    r.key_count = 2;
    cr_assert_eq(hz__ws_handshake_check(&r), HZ__WS_HS_KEY_DUPLICATE);
    r = good_req();
    r.key = (hz_str){"c2hvcnQ=", 8};
    cr_assert_eq(hz__ws_handshake_check(&r), HZ__WS_HS_KEY);
    /* status table */
    cr_assert_eq(hz__ws_hs_status(HZ__WS_HS_OK), 0);
    cr_assert_eq(hz__ws_hs_status(HZ__WS_HS_VERSION), 426);
    cr_assert_eq(hz__ws_hs_status(HZ__WS_HS_METHOD), 405);
    cr_assert_eq(hz__ws_hs_status(HZ__WS_HS_KEY), 400);
    for (int e = 0; e < HZ__WS_HS_COUNT; e++)
        cr_assert(strlen(hz__ws_hs_text((hz__ws_hs_err)e)) > 0);
}

Test(ws_handshake, subprotocols)
{
    const char *ours[] = {"v2.chat", "chat", "superchat"};
#define SEL(s) hz__ws_select_protocol(s, strlen(s), ours, 3)
    cr_assert_eq(SEL("chat"), 1);
    cr_assert_eq(SEL("chat, v2.chat"), 0); /* the server's preference wins */
    cr_assert_eq(SEL(" superchat ,x"), 2);
    cr_assert_eq(SEL("Chat"), HZ_ENOENT); /* case-sensitive */
    cr_assert_eq(SEL("mqtt"), HZ_ENOENT);
    cr_assert_eq(SEL(""), HZ_ENOENT);
    cr_assert_eq(SEL("chat, a b"), HZ_EINVAL);
    cr_assert_eq(SEL("chat, \"x\""), HZ_EINVAL);
    cr_assert_eq(SEL("ch@t"), HZ_EINVAL);
    cr_assert_eq(hz__ws_select_protocol(NULL, 0, ours, 3), HZ_ENOENT);
    cr_assert_eq(hz__ws_select_protocol("chat", 4, ours, 0), HZ_ENOENT);
#undef SEL
}

Test(ws_handshake, origins)
{
    const char *allowed[] = {"https://example.com", "http://localhost:8080",
                             "HTTPS://App.Example.com:443"};
#define OK_(o) hz__ws_origin_allowed(o, strlen(o), allowed, 3)
    cr_assert(OK_("https://example.com"));
    cr_assert(OK_("https://EXAMPLE.com:443"));
    cr_assert(OK_("http://localhost:8080"));
    cr_assert(OK_("https://app.example.com"));
    cr_assert(!OK_("http://example.com"));
    cr_assert(!OK_("https://example.com:8443"));
    cr_assert(!OK_("https://example.com.evil.net"));
    cr_assert(!OK_("https://evil.net/https://example.com"));
    cr_assert(!OK_("https://example.com/"));
    cr_assert(!OK_("https://user@example.com"));
    cr_assert(!OK_("null"));
    cr_assert(!OK_(""));
    cr_assert(!OK_("https://"));
    cr_assert(!OK_("https://example.com:"));
    cr_assert(!OK_("https://example.com:99999"));
#undef OK_
    const char *any[] = {"*"};
    cr_assert(hz__ws_origin_allowed("https://x.y", 11, any, 1));
    cr_assert(!hz__ws_origin_allowed("null", 4, any, 1));
    const char *nul[] = {"null"};
    cr_assert(hz__ws_origin_allowed("null", 4, nul, 1));
    cr_assert(!hz__ws_origin_allowed(NULL, 0, any, 1));

#define SAME(o, h, tls) hz__ws_origin_is_host(o, strlen(o), h, strlen(h), tls)
    cr_assert(SAME("http://example.com", "example.com", 0));
    cr_assert(SAME("http://example.com", "example.com:80", 0));
    cr_assert(SAME("http://Example.COM:80", "example.com", 0));
    cr_assert(SAME("https://example.com", "example.com", 1));
    cr_assert(SAME("https://example.com:8443", "example.com:8443", 1));
    cr_assert(SAME("http://[::1]:8080", "[::1]:8080", 0));
    cr_assert(!SAME("http://[::1]:8080", "[::2]:8080", 0));
    cr_assert(!SAME("http://example.com", "example.com", 1));
    cr_assert(!SAME("https://example.com", "example.com", 0));
    cr_assert(!SAME("http://example.com:8080", "example.com", 0));
    cr_assert(!SAME("http://evil.com", "example.com", 0));
    cr_assert(!SAME("null", "example.com", 0));
    cr_assert(!SAME("http://example.com", "", 0));
    cr_assert(!SAME("http://example.com", "example.com:x", 0));
#undef SAME
}

/* The word and vector steps of hz__ws_mask against the byte rule of §5.3,
 * for every length around the step sizes and every key offset, out of
 * place and in place. */
Test(ws, mask_matches_the_byte_rule)
{
    static const uint8_t mk[4] = {0xa5, 0x3c, 0x0f, 0xe1};
    uint8_t src[200], dst[200], ref[200];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 31 + 7);
    for (size_t len = 0; len <= 160; len++) {
        for (uint64_t off = 0; off < 8; off++) {
            for (size_t i = 0; i < len; i++)
                ref[i] = src[i] ^ mk[(off + i) & 3];
            memset(dst, 0, sizeof(dst));
            hz__ws_mask(dst, src, len, mk, off);
            cr_assert(memcmp(dst, ref, len) == 0, "len %zu offset %u", len, (unsigned)off);
            cr_assert_eq(dst[len], 0, "wrote past len %zu", len);
            memcpy(dst, src, len);
            hz__ws_mask(dst, dst, len, mk, off);
            cr_assert(memcmp(dst, ref, len) == 0, "in place, len %zu offset %u", len,
                      (unsigned)off);
        }
    }
}

/* hz__ws_peek_frame: the size of the next frame from its header alone,
 * and "whole" only for a header the parser takes as a whole message. */
Test(ws, peek_frame)
{
    hz__ws_parser p;
    hz__ws_parser_cfg cfg = {HZ__WS_SERVER, 0, 0, 0};
    hz__ws_parser_init(&p, &cfg);
    uint64_t n = 0;
    int whole = 0;
    /* masked binary, 16-bit length 300: 8 header bytes */
    uint8_t h[16] = {0x82, 0x80 | 126, 0x01, 0x2c, 1, 2, 3, 4};
    for (size_t k = 0; k < 8; k++)
        cr_assert_eq(hz__ws_peek_frame(&p, h, k, &n, &whole), 0, "%zu bytes", k);
    cr_assert_eq(hz__ws_peek_frame(&p, h, 8, &n, &whole), 8);
    cr_assert_eq(n, 300);
    cr_assert_eq(whole, 1);
    h[1] = 0x80 | 5; /* 7-bit length: 6 header bytes */
    cr_assert_eq(hz__ws_peek_frame(&p, h, 6, &n, &whole), 6);
    cr_assert(n == 5 && whole == 1);
    static const struct {
        uint8_t b0, b1, b2, b3;
    } no[] = {
        {0x02, 0x85, 0, 0},       /* no FIN: the first of fragments */
        {0x80, 0x85, 0, 0},       /* continuation */
        {0x89, 0x85, 0, 0},       /* ping */
        {0xc2, 0x85, 0, 0},       /* RSV1 (compressed, or refused) */
        {0xa2, 0x85, 0, 0},       /* RSV2 */
        {0x82, 0x05, 0, 0},       /* unmasked from a client */
        {0x82, 0x80 | 126, 0, 5}, /* length not in its shortest form */
    };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        uint8_t f[14] = {no[i].b0, no[i].b1, no[i].b2, no[i].b3};
        whole = 1;
        cr_assert_gt(hz__ws_peek_frame(&p, f, sizeof(f), &n, &whole), 0, "case %zu", i);
        cr_assert_eq(whole, 0, "case %zu", i);
    }
    /* Mid-header (the parser took a byte): nothing to peek. */
    hz__ws_event ev;
    uint8_t one = 0x82;
    cr_assert_eq(hz__ws_parse(&p, &one, 1, &ev), 1);
    cr_assert_eq(hz__ws_peek_frame(&p, h, 8, &n, &whole), 0);
    /* A message open: a new TEXT/BINARY frame is not a whole message. */
    hz__ws_parser_init(&p, &cfg);
    uint8_t frag[] = {0x02, 0x81, 1, 2, 3, 4, 'x' ^ 1};
    cr_assert_eq(hz__ws_parse(&p, frag, sizeof(frag), &ev), (long)sizeof(frag));
    cr_assert_gt(hz__ws_peek_frame(&p, h, 6, &n, &whole), 0);
    cr_assert_eq(whole, 0);
}

/* The whole-frame path (ws.c: a small masked single-frame message all in
 * the input, handed out in one step) and the whole-header path (a header
 * all in the input taken at once, its masking key copied) against the
 * byte-by-byte one: a stream of
 * small masked frames with control frames between fragments, then each
 * header error and each bad UTF-8 position placed right after a good
 * frame, so the whole run meets them in its fast path and the split runs
 * (parse_all: every cut, byte by byte) in the slow one. */
Test(ws, whole_header_path_matches_bytewise)
{
    uint8_t pl[64];
    for (size_t i = 0; i < sizeof(pl); i++)
        pl[i] = (uint8_t)('a' + i % 26);
    bytes b = {0};
    frame(&b, HZ__WS_OP_BINARY, HZ__WS_FIN, pl, 64, 1);
    frame(&b, HZ__WS_OP_TEXT, 0, pl, 10, 1);
    frame(&b, HZ__WS_OP_PING, HZ__WS_FIN, "p", 1, 1);
    frame(&b, HZ__WS_OP_CONT, 0, pl, 0, 1);
    frame(&b, HZ__WS_OP_PONG, HZ__WS_FIN, "", 0, 1);
    frame(&b, HZ__WS_OP_CONT, HZ__WS_FIN, pl + 10, 54, 1);
    frame(&b, HZ__WS_OP_TEXT, HZ__WS_FIN, pl, 64, 1);
    frame(&b, HZ__WS_OP_BINARY, HZ__WS_FIN, pl, 0, 1);
    run r = parse_all(&server, b.p, b.len);
    cr_assert_eq(r.rc, 0, "error %s", hz__ws_err_name(r.err));
    char want[512];
    int wl = snprintf(want, sizeof(want),
                      "FM2 len=64:%.64s\nFC9 code=0 len=1:p\nFC10 code=0 len=0:\n"
                      "FM1 len=64:%.64s\nFM1 len=64:%.64s\nFM2 len=0:\n",
                      (const char *)pl, (const char *)pl, (const char *)pl);
    cr_assert_eq(r.log.len, (size_t)wl, "transcript:\n%.*s", (int)r.log.len, r.log.p);
    cr_assert(!memcmp(r.log.p, want, (size_t)wl));
    run_free(&r);
    free(b.p);

    /* header errors at byte 0, byte 1 and the extended length, each after
     * a good frame */
    static const struct {
        const char *hdr;
        size_t len;
        hz__ws_err err;
    } bad[] = {
        {"\xc2\x80\0\0\0\0", 6, HZ__WS_E_RSV},
        {"\x83\x80\0\0\0\0", 6, HZ__WS_E_OPCODE},
        {"\x80\x80\0\0\0\0", 6, HZ__WS_E_CONTINUATION_UNEXPECTED},
        {"\x82\x00", 2, HZ__WS_E_UNMASKED},
        {"\x89\xfe\x00\x7e\0\0\0\0", 8, HZ__WS_E_CONTROL_TOO_LONG},
        {"\x82\xfe\x00\x7d\0\0\0\0", 8, HZ__WS_E_LENGTH_NOT_MINIMAL},
        {"\x82\xff\0\0\0\0\0\0\xff\xff\0\0\0\0", 14, HZ__WS_E_LENGTH_NOT_MINIMAL},
        {"\x82\xff\x80\0\0\0\0\0\0\0\0\0\0\0", 14, HZ__WS_E_LENGTH_MSB},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        b = (bytes){0};
        frame(&b, HZ__WS_OP_BINARY, HZ__WS_FIN, pl, 3, 1);
        put(&b, bad[k].hdr, bad[k].len);
        expect_err_log(&server, &b, bad[k].err, "FM2 len=3:abc\n");
        free(b.p);
    }
    /* frames of pl (each its first len bytes), one after the other, the
     * last of them bad as a whole frame */
    static const hz__ws_parser_cfg lim = {HZ__WS_SERVER, 10, 0, 0};
    static const hz__ws_parser_cfg limm = {HZ__WS_SERVER, 0, 10, 0};
    enum { B = HZ__WS_OP_BINARY, C = HZ__WS_OP_CLOSE, FIN = HZ__WS_FIN };
    static const char log3[] = "FM2 len=3:abc\n", log10[] = "FM2 len=10:abcdefghij\n";
    static const struct {
        const hz__ws_parser_cfg *cfg;
        hz__ws_err err;
        const char *log;
        size_t nf;
        struct {
            unsigned op, flags;
            size_t len;
            int masked;
        } f[3];
    } seq[] = {
        /* limits judged from a whole header */
        {&lim, HZ__WS_E_FRAME_TOO_BIG, log10, 2, {{B, FIN, 10, 1}, {B, FIN, 11, 1}}},
        {&limm, HZ__WS_E_MESSAGE_TOO_BIG, log10, 2, {{B, FIN, 10, 1}, {B, FIN, 11, 1}}},
        /* nor a server unmasked ones (the last: the first all in, key or not) */
        {&server, HZ__WS_E_UNMASKED, log3, 3, {{B, FIN, 3, 1}, {B, FIN, 10, 0}, {B, FIN, 10, 1}}},
        /* a client does not take masked frames, however whole */
        {&client, HZ__WS_E_MASKED, log3, 2, {{B, FIN, 3, 0}, {B, FIN, 3, 1}}},
        /* a whole frame after the first of a fragmented message */
        {&server, HZ__WS_E_MESSAGE_UNFINISHED, "F", 2, {{B, 0, 3, 1}, {B, FIN, 3, 1}}},
        /* after a close frame, a whole header is AFTER_CLOSE at its byte 0 */
        {&server, HZ__WS_E_AFTER_CLOSE, "C8 code=0 len=0:\n", 2, {{C, FIN, 0, 1}, {B, FIN, 3, 1}}},
    };
    for (size_t k = 0; k < sizeof(seq) / sizeof(seq[0]); k++) {
        b = (bytes){0};
        for (size_t i = 0; i < seq[k].nf; i++)
            frame(&b, seq[k].f[i].op, seq[k].f[i].flags, pl, seq[k].f[i].len, seq[k].f[i].masked);
        expect_err_log(seq[k].cfg, &b, seq[k].err, seq[k].log);
        free(b.p);
    }
    /* a bad UTF-8 byte at each position of a 64-byte text frame */
    for (size_t at = 0; at < 64; at++) {
        uint8_t t[64];
        memcpy(t, pl, sizeof(t));
        t[at] = 0xff;
        b = (bytes){0};
        frame(&b, HZ__WS_OP_TEXT, HZ__WS_FIN, pl, 2, 1);
        frame(&b, HZ__WS_OP_TEXT, HZ__WS_FIN, t, 64, 1);
        expect_err_log(&server, &b, HZ__WS_E_UTF8, "FM1 len=2:ab\n");
        free(b.p);
    }
}
