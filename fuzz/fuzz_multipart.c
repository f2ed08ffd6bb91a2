/* fuzz_multipart.c - the streaming multipart parser. The input is parsed
 * in one piece, then again in pieces split at points drawn from the input
 * itself, then one byte at a time: all three must give the same callback
 * transcript, the same result and the same error. The first byte seeds the
 * splits; the boundary is "XyZ" (the seeds use it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <httpz/httpz.h>
#include "support/fz_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef fz_log rec;

static void put(rec *r, const void *p, size_t n)
{
    fz_log_put(r, p, n);
}

static void put_str(rec *r, hz_str s)
{
    fz_log_str(r, s);
}

static int on_part(void *ud, const hz_multipart_part *p)
{
    rec *r = ud;
    put(r, "{", 1);
    put_str(r, p->name);
    put_str(r, p->filename);
    put_str(r, p->content_type);
    put(r, "}", 1);
    return 0;
}

static int on_data(void *ud, const void *d, size_t n)
{
    if (n == 0)
        abort(); /* documented: never empty */
    put(ud, d, n);
    return 0;
}

static int on_end(void *ud)
{
    put(ud, "<e>", 3);
    return 0;
}

static const hz_multipart_cb cbs = {on_part, on_data, on_end};

typedef struct result {
    int rc;
    const char *err;
} result;

static int mp_feed(void *mp, const void *data, size_t len)
{
    return hz_multipart_feed(mp, data, len);
}

/* Parses body split into pieces of the sizes fz_split_feed gives. */
static result run(const char *body, size_t len, rec *r, uint32_t seed, int mode)
{
    static hz_multipart mp;
    r->len = 0;
    if (hz_multipart_init(&mp, "XyZ", 3, &cbs, r) != 0)
        abort();
    result res = {fz_split_feed(body, len, seed, mode, mp_feed, &mp), NULL};
    if (res.rc == 0)
        res.rc = hz_multipart_finish(&mp);
    res.err = hz_multipart_error(&mp);
    if ((res.rc == 0) != (res.err == NULL))
        abort();
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint32_t seed = data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    /* every byte of output comes from the input, plus fixed framing per
     * part (bounded by HZ_MULTIPART_MAX_PARTS) */
    size_t cap = len + HZ_MULTIPART_MAX_PARTS * 16 + 64;
    rec a = {malloc(cap), 0, cap}, b = {malloc(cap), 0, cap};
    if (!a.log || !b.log)
        abort();
    result ra = run(body, len, &a, 0, 0);
    for (int mode = 1; mode <= 2; mode++) {
        result rb = run(body, len, &b, seed, mode);
        if (rb.rc != ra.rc || rb.err != ra.err || b.len != a.len || memcmp(a.log, b.log, a.len))
            abort();
    }
    free(a.log);
    free(b.log);
    return 0;
}
