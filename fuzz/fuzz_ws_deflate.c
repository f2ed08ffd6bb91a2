/* fuzz_ws_deflate.c - permessage-deflate on arbitrary bytes.
 *
 * Input: byte 0 picks the parameters (window bits, context takeover, a
 * small inflated-size limit), byte 1 seeds the piece and buffer sizes; the
 * rest is used three ways:
 *  1. as a compressed message: inflated in one piece into a large buffer
 *     and again in seeded pieces through small buffers; both must give the
 *     same verdict, error kind and bytes, never more than the limit;
 *  2. as a message to send: deflated (seeded pieces, small buffers) and
 *     inflated by the peer context, twice (context takeover), must give it
 *     back;
 *  3. as a Sec-WebSocket-Extensions header: an accepted offer's answer must
 *     be a valid answer.
 * Every block zlib takes comes from a counting allocator: nothing may leak
 * and every free must name the size allocated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ws_deflate.h"
#include "support/fz_rand.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static long live_blocks;

static void *a_alloc(void *ctx, size_t n)
{
    (void)ctx;
    size_t *p = malloc(n + sizeof(max_align_t));
    if (!p)
        return NULL;
    *p = n;
    live_blocks++;
    return (char *)p + sizeof(max_align_t);
}

static void *a_realloc(void *ctx, void *ptr, size_t old, size_t n)
{
    (void)ctx, (void)ptr, (void)old, (void)n;
    abort(); /* the codec never reallocates */
}

static void a_free(void *ctx, void *ptr, size_t n)
{
    (void)ctx;
    size_t *p = (size_t *)((char *)ptr - sizeof(max_align_t));
    CHECK(*p == n);
    live_blocks--;
    free(p);
}

static const hz_allocator_vt counting_vt = {
    .abi = HZ_BACKEND_ABI,
    .name = "fuzz",
    .caps = HZ_ALLOC_CAP_SIZED,
    .alloc = a_alloc,
    .realloc = a_realloc,
    .free = a_free,
};
static const hz_allocator counting = {&counting_vt, NULL};

#if HZ_HAVE_WS_DEFLATE
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

/* Inflates one message; seed 0: one piece, a large buffer. Returns the
 * result (0 done) and the error kind. */
static int inflate_msg(hz__pmd *z, const uint8_t *in, size_t len, uint32_t seed, buf *out,
                       hz__ws_err *err, uint64_t limit)
{
    size_t cap = seed ? 1 + fz_xorshift32(&seed) % 64 : 1 << 16;
    uint8_t *o = malloc(cap);
    size_t off = 0;
    int rc;
    out->len = 0;
    for (int rounds = 0;; rounds++) {
        size_t n = len - off;
        if (seed && n)
            n = 1 + fz_xorshift32(&seed) % (n < 50 ? n : 50);
        int fin = off + n == len;
        size_t used, made;
        rc = hz__pmd_inflate(z, in + off, n, fin, o, cap, &used, &made);
        if (rc < 0)
            break;
        CHECK(used <= n && made <= cap);
        put(out, o, made);
        if (limit)
            CHECK(out->len <= limit);
        off += used;
        if (rc == HZ__PMD_DONE) {
            CHECK(off == len);
            rc = 0;
            break;
        }
        CHECK(rounds < 10000000);
    }
    *err = rc == HZ_EPROTO ? hz__pmd_error(z) : HZ__WS_E_NONE;
    free(o);
    return rc;
}

static int deflate_msg(hz__pmd *z, const uint8_t *in, size_t len, uint32_t seed, buf *out)
{
    size_t cap = 16 + fz_xorshift32(&seed) % 64;
    uint8_t *o = malloc(cap);
    size_t off = 0;
    int rc;
    out->len = 0;
    for (;;) {
        size_t n = len - off;
        if (n)
            n = 1 + fz_xorshift32(&seed) % (n < 300 ? n : 300);
        int fin = off + n == len;
        size_t used, made;
        rc = hz__pmd_deflate(z, in + off, n, fin, o, cap, &used, &made);
        if (rc < 0)
            break;
        put(out, o, made);
        off += used;
        if (rc == HZ__PMD_DONE) {
            CHECK(fin && off == len);
            rc = 0;
            break;
        }
    }
    free(o);
    return rc;
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t bits = (uint8_t)(9 + (data[0] & 7) % 7);
    hz__pmd_params p = {(uint8_t)((data[0] >> 3) & 1), (uint8_t)((data[0] >> 4) & 1), bits,
                        (uint8_t)(24 - bits > 15 ? 15 : 24 - bits)};
    uint64_t limit = (data[0] & 0x20) ? 1 + data[1] * 37u : 0;
    uint32_t seed = data[1] * 2654435761u + 1;
    const uint8_t *in = data + 2;
    size_t len = size - 2;

#if !HZ_HAVE_WS_DEFLATE
    (void)limit, (void)seed;
#else
    static buf a, b, c;
    /* 1. the input as a compressed message from the client */
    hz__pmd *z1, *z2;
    CHECK(hz__pmd_create(&z1, &counting, &p, 1, NULL, limit) == 0);
    CHECK(hz__pmd_create(&z2, &counting, &p, 1, NULL, limit) == 0);
    hz__ws_err e1, e2;
    int r1 = inflate_msg(z1, in, len, 0, &a, &e1, limit);
    int r2 = inflate_msg(z2, in, len, seed, &b, &e2, limit);
    CHECK(r1 == 0 || r1 == HZ_EPROTO);
    CHECK(r2 == 0 || r2 == HZ_EPROTO);
    /* With a window under 15 bits the verdict on a stream that reaches
     * back further than the window depends on the output room: zlib checks
     * a distance against the window plus what the current call has written
     * (it is not built with INFLATE_STRICT). A conforming peer never does
     * that; for it, and always with a 15-bit window, both ways agree. */
    int window_full = p.client_max_window_bits == 15;
    if (window_full)
        CHECK(r1 == r2 && e1 == e2);
    if (r1 == 0 && r2 == 0)
        CHECK(a.len == b.len && (!a.len || !memcmp(a.p, b.p, a.len)));
    if (r1 == HZ_EPROTO)
        CHECK(e1 == HZ__WS_E_INFLATE || e1 == HZ__WS_E_INFLATED_TOO_BIG);
    if (r2 == HZ_EPROTO)
        CHECK(e2 == HZ__WS_E_INFLATE || e2 == HZ__WS_E_INFLATED_TOO_BIG);
    hz__pmd_destroy(z1);
    hz__pmd_destroy(z2);

    /* 2. the input as a message the server sends, twice */
    hz__pmd *tx, *rx;
    hz__pmd_cfg zc; /* levels and memory levels vary too; small ones are faster */
    hz__pmd_cfg_init(&zc);
    zc.level = (int8_t)(1 + data[1] % 9);
    zc.mem_level = (int8_t)(1 + (data[1] >> 4) % 9);
    CHECK(hz__pmd_create(&tx, &counting, &p, 1, &zc, 0) == 0);
    CHECK(hz__pmd_create(&rx, &counting, &p, 0, NULL, 0) == 0);
    for (int i = 0; i < 2; i++) {
        CHECK(deflate_msg(tx, in, len, seed + (uint32_t)i, &c) == 0);
        hz__ws_err e;
        CHECK(inflate_msg(rx, c.p, c.len, seed + 7 + (uint32_t)i, &a, &e, 0) == 0);
        CHECK(a.len == len && (!len || !memcmp(a.p, in, len)));
    }
    hz__pmd_destroy(tx);
    hz__pmd_destroy(rx);
    CHECK(live_blocks == 0);
#endif

    /* 3. the input as an extension header */
    hz__pmd_cfg cfg;
    hz__pmd_cfg_init(&cfg);
    cfg.server_max_window_bits = bits;
    cfg.client_max_window_bits = p.client_max_window_bits;
    cfg.server_no_context_takeover = p.server_no_context_takeover;
    hz__pmd_params agreed;
    char resp[HZ__PMD_RESPONSE_MAX];
    int rc = hz__pmd_negotiate((const char *)in, len, &cfg, &agreed, resp, sizeof(resp));
    CHECK(rc == 0 || rc == 1 || rc == HZ_EINVAL);
    if (rc == 1) {
        size_t n = strlen(resp);
        CHECK(n < sizeof(resp) && !memcmp(resp, "permessage-deflate", 18));
        hz__pmd_params r;
        CHECK(hz__pmd_parse_params(resp + 18, n - 18, 1, &r) == 0);
        CHECK(agreed.server_max_window_bits >= 9 && agreed.server_max_window_bits <= 15);
        CHECK(agreed.client_max_window_bits >= 8 && agreed.client_max_window_bits <= 15);
        hz__pmd *z;
        int crc = hz__pmd_create(&z, &counting, &agreed, 1, NULL, 0);
#if HZ_HAVE_WS_DEFLATE
        CHECK(crc == 0);
#else
        CHECK(crc == HZ_ENOTSUP);
#endif
        hz__pmd_destroy(z);
    } else {
        CHECK(resp[0] == '\0');
    }
    /* the client's check of the same bytes as an answer never crashes */
    hz__pmd_params offer = {0, 0, 0, HZ__PMD_BITS_NOVALUE};
    rc = hz__pmd_check_response((const char *)in, len, &offer, &agreed);
    CHECK(rc == 0 || rc == 1 || rc == HZ_EPROTO);
    return 0;
}
