/* fuzz_ws_frame.c - the WebSocket frame parser and the UTF-8 validator on
 * arbitrary bytes.
 *
 * Input: byte 0 picks the configuration (role, permessage-deflate's RSV1,
 * tiny limits, unmasking in place or into a small buffer), byte 1 seeds the
 * split pattern; the rest is the byte stream. It is parsed in one call
 * sequence, again in pieces whose sizes come from the seed, each piece a
 * fresh heap copy of exactly its bytes (ASan sees any over-read), and byte
 * by byte for short inputs. Every way must give the same transcript (frame
 * ends, whole messages, control frames) and the same verdict and error
 * kind; what is accepted must satisfy what the connection layer relies on
 * (text is UTF-8, close codes are sendable, control payloads fit). The
 * UTF-8 validator is also checked on the stream itself: fed whole, split
 * and byte by byte it stops at the same byte. A frame hz__ws_peek_frame
 * calls whole, once all of it is in, must come out as one whole message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ws.h"
#include "support/fz_rand.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        CHECK(b->p);
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

typedef struct run {
    long rc;
    hz__ws_err err;
    buf log; /* transcript */
    buf msg; /* the data message being assembled */
    int in_msg;
} run;

static void record(run *r, const hz__ws_event *ev, const hz__ws_parser_cfg *cfg)
{
    uint8_t tag[12];
    if (ev->type == HZ__WS_EV_CONTROL) {
        CHECK(ev->opcode == HZ__WS_OP_CLOSE || ev->opcode == HZ__WS_OP_PING ||
              ev->opcode == HZ__WS_OP_PONG);
        CHECK(ev->len <= HZ__WS_CONTROL_MAX);
        if (ev->opcode == HZ__WS_OP_CLOSE) {
            CHECK(ev->len != 1);
            CHECK(ev->len == 0 ? ev->close_code == 0 : hz__ws_close_code_valid(ev->close_code));
            CHECK(hz__utf8_valid(ev->reason, ev->reason_len));
        }
        tag[0] = 'C';
        tag[1] = ev->opcode;
        tag[2] = (uint8_t)ev->len;
        tag[3] = (uint8_t)(ev->close_code >> 8);
        tag[4] = (uint8_t)ev->close_code;
        put(&r->log, tag, 5);
        put(&r->log, ev->data, ev->len);
        return;
    }
    CHECK(ev->type == HZ__WS_EV_DATA);
    CHECK(ev->opcode == HZ__WS_OP_TEXT || ev->opcode == HZ__WS_OP_BINARY);
    CHECK(ev->first == !r->in_msg);
    CHECK(!ev->msg_end || ev->frame_end);
    CHECK(!ev->compressed || cfg->rsv1_compressed);
    r->in_msg = 1;
    put(&r->msg, ev->data, ev->len);
    if (cfg->max_message)
        CHECK(r->msg.len <= cfg->max_message);
    if (ev->frame_end)
        put(&r->log, "F", 1);
    if (ev->msg_end) {
        if (ev->opcode == HZ__WS_OP_TEXT && !ev->compressed)
            CHECK(hz__utf8_valid(r->msg.p, r->msg.len));
        tag[0] = 'M';
        tag[1] = ev->opcode;
        tag[2] = ev->compressed;
        memcpy(tag + 3, &r->msg.len, sizeof(size_t));
        put(&r->log, tag, 3 + sizeof(size_t));
        put(&r->log, r->msg.p, r->msg.len);
        r->msg.len = 0;
        r->in_msg = 0;
    }
}

/* mode 0: one piece; 1: seeded pieces; 2: byte by byte. cap != 0: copy out. */
static void parse(const hz__ws_parser_cfg *cfg, const uint8_t *in, size_t len, int mode,
                  uint32_t seed, size_t cap, run *r)
{
    hz__ws_parser p;
    hz__ws_parser_init(&p, cfg);
    r->rc = 0;
    r->err = HZ__WS_E_NONE;
    r->log.len = r->msg.len = 0;
    r->in_msg = 0;
    uint8_t *out = cap ? malloc(cap) : NULL;
    size_t off = 0;
    while (off < len) {
        size_t n = len - off;
        if (mode == 2)
            n = 1;
        else if (mode == 1)
            n = 1 + fz_xorshift32(&seed) % 97;
        if (n > len - off)
            n = len - off;
        uint8_t *piece = malloc(n);
        CHECK(piece);
        memcpy(piece, in + off, n);
        size_t at = 0;
        while (at < n) {
            hz__ws_event ev;
            /* hz__ws_peek_frame's "whole" (the connection reads such a
             * frame whole before parsing it): all of it in, within the
             * limits, the parser hands it out as one whole message. */
            uint64_t pl = 0;
            int wh = 0, hl = cap ? 0 : hz__ws_peek_frame(&p, piece + at, n - at, &pl, &wh);
            int sure = hl > 0 && wh && pl <= n - at - (size_t)hl &&
                       (!cfg->max_frame || pl <= cfg->max_frame) &&
                       (!cfg->max_message || pl <= cfg->max_message);
            long rc = cap ? hz__ws_parse_copy(&p, piece + at, n - at, out, cap, &ev)
                          : hz__ws_parse(&p, piece + at, n - at, &ev);
            if (sure) {
                CHECK(rc >= 0 || p.error == HZ__WS_E_UTF8);
                CHECK(rc < 0 || (ev.type == HZ__WS_EV_DATA && ev.first && ev.msg_end &&
                                 ev.len == pl && (size_t)rc == (size_t)hl + pl));
            }
            if (rc < 0) {
                CHECK(rc == HZ_EPROTO);
                CHECK(p.error != HZ__WS_E_NONE && p.error < HZ__WS_E_COUNT);
                unsigned code = hz__ws_err_close_code(p.error);
                CHECK(code == 1002 || code == 1007 || code == 1009);
                CHECK(p.error != HZ__WS_E_INFLATE && p.error != HZ__WS_E_INFLATED_TOO_BIG);
                r->rc = rc;
                r->err = p.error;
                free(piece);
                free(out);
                return;
            }
            CHECK((size_t)rc <= n - at);
            at += (size_t)rc;
            if (ev.type == HZ__WS_EV_NONE) {
                CHECK(at == n);
                break;
            }
            if (cap && ev.type == HZ__WS_EV_DATA)
                CHECK(ev.data == out && ev.len <= cap);
            record(r, &ev, cfg);
        }
        free(piece);
        off += n;
    }
    free(out);
}

static void same(const run *a, const run *b)
{
    CHECK(a->rc == b->rc);
    CHECK(a->err == b->err);
    CHECK(a->log.len == b->log.len);
    CHECK(!a->log.len || !memcmp(a->log.p, b->log.p, a->log.len));
}

/* The validator alone: whole, at a seeded split, byte by byte. */
static void utf8_agree(const uint8_t *s, size_t len, uint32_t seed)
{
    hz__utf8 u;
    hz__utf8_init(&u);
    size_t whole = hz__utf8_feed(&u, s, len);
    int complete = whole == len && hz__utf8_complete(&u);
    CHECK(hz__utf8_valid(s, len) == complete);
    size_t cut = len ? fz_xorshift32(&seed) % (len + 1) : 0;
    hz__utf8_init(&u);
    size_t r = hz__utf8_feed(&u, s, cut);
    if (r == cut)
        r += hz__utf8_feed(&u, s + cut, len - cut);
    CHECK(r == whole);
    if (len <= 512) {
        hz__utf8_init(&u);
        size_t i = 0;
        while (i < len && hz__utf8_feed(&u, s + i, 1) == 1)
            i++;
        CHECK(i == whole);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    hz__ws_parser_cfg cfg = {0};
    cfg.role = (data[0] & 1) ? HZ__WS_CLIENT : HZ__WS_SERVER;
    cfg.rsv1_compressed = (data[0] >> 1) & 1;
    if (data[0] & 4) {
        cfg.max_frame = 1 + (data[0] >> 5);
        cfg.max_message = 2 + 2 * (data[0] >> 5);
    }
    size_t cap = (data[0] & 8) ? 1 + ((data[0] >> 4) & 7) : 0;
    uint32_t seed = data[1] * 2654435761u + 1;
    const uint8_t *in = data + 2;
    size_t len = size - 2;

    static run whole, other;
    parse(&cfg, in, len, 0, 0, 0, &whole);
    parse(&cfg, in, len, 1, seed, 0, &other);
    same(&whole, &other);
    if (cap) {
        parse(&cfg, in, len, 1, seed, cap, &other);
        same(&whole, &other);
    }
    if (len <= 512) {
        parse(&cfg, in, len, 2, 0, 0, &other);
        same(&whole, &other);
    }
    utf8_agree(in, len, seed);
    return 0;
}
