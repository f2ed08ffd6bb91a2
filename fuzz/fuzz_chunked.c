/* fuzz_chunked.c - the chunked-body decoder on arbitrary bytes.
 *
 * Input: byte 0 picks the limits, byte 1 seeds the split pattern; the rest
 * is the body stream. It is decoded as it arrives in one piece, in pieces
 * whose sizes come from the seed, and byte by byte for short inputs, the
 * way a connection does it (unconsumed bytes stay buffered; every call gets
 * a fresh heap copy, so ASan sees any over-read). All ways must agree on
 * the verdict, the error kind, the decoded bytes and where the body ends. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "parser.h"
#include "support/fz_rand.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static const hz__parse_limits limits_default = {8192, 8192, 32768, 100, 256, 8192};
static const hz__parse_limits limits_tiny = {24, 20, 64, 3, 4, 16};

typedef struct result {
    int rc; /* 0, HZ_EAGAIN, HZ_EPROTO */
    hz__perr err;
    size_t end; /* consumed bytes at the end */
    uint8_t *data;
    size_t data_len;
} result;

static void decode(const hz__parse_limits *lim, const uint8_t *in, size_t len, uint32_t seed,
                   int bytewise, result *r)
{
    hz__chunked c;
    hz__chunked_init(&c, lim);
    r->data_len = 0;
    size_t done = 0, avail = 0;
    int rc = HZ_EAGAIN;
    while (rc == HZ_EAGAIN) {
        if (bytewise)
            avail = avail < len ? avail + 1 : len;
        else if (seed == 0)
            avail = len;
        else
            avail += fz_xorshift32(&seed) % 48;
        if (avail > len)
            avail = len;
        for (;;) {
            size_t n = avail - done, used = 0, dl = 0;
            const char *d = NULL;
            char *copy = malloc(n ? n : 1);
            CHECK(copy);
            memcpy(copy, in + done, n);
            rc = hz__chunked_decode(&c, copy, n, &used, &d, &dl);
            CHECK(used <= n);
            if (rc == HZ__CHUNK_DATA) {
                CHECK(dl > 0 && d >= copy && d + dl <= copy + used);
                memcpy(r->data + r->data_len, d, dl);
                r->data_len += dl;
            } else {
                CHECK(d == NULL && dl == 0);
            }
            free(copy);
            done += used;
            if (rc == HZ__CHUNK_DATA) {
                rc = HZ_EAGAIN;
                continue;
            }
            if (rc == HZ_EAGAIN)
                CHECK(done == avail);
            break;
        }
        if (avail == len)
            break;
    }
    CHECK(rc == 0 || rc == HZ_EAGAIN || rc == HZ_EPROTO);
    r->rc = rc;
    r->err = rc == HZ_EPROTO ? c.error : HZ__PE_NONE;
    r->end = rc == 0 ? done : 0;
    if (rc == HZ_EPROTO) {
        int st = hz__perr_status(c.error);
        CHECK(c.error != HZ__PE_NONE && (st == 400 || st == 431));
    }
    if (rc == 0)
        CHECK(r->end >= 5 && !memcmp(in + r->end - 2, "\r\n", 2));
}

static void same(const result *a, const result *b)
{
    CHECK(a->rc == b->rc && a->err == b->err && a->end == b->end);
    if (a->rc != HZ_EPROTO)
        CHECK(a->data_len == b->data_len && !memcmp(a->data, b->data, a->data_len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const hz__parse_limits *lim = (data[0] & 1) ? &limits_tiny : &limits_default;
    uint32_t seed = data[1] * 2654435761u + 1;
    const uint8_t *in = data + 2;
    size_t len = size - 2;
    result r[3];
    for (int k = 0; k < 3; k++) {
        r[k].data = malloc(len ? len : 1);
        CHECK(r[k].data);
    }
    decode(lim, in, len, 0, 0, &r[0]);
    CHECK(r[0].data_len <= len);
    decode(lim, in, len, seed, 0, &r[1]);
    same(&r[0], &r[1]);
    if (len <= 512) {
        decode(lim, in, len, 0, 1, &r[2]);
        same(&r[0], &r[2]);
    }
    for (int k = 0; k < 3; k++)
        free(r[k].data);
    return 0;
}
