/* fuzz_forms.c - the streaming form decoder (hz_form_*). Byte 0 seeds the
 * splits, byte 1 picks the media type (even: url-encoded, odd: multipart
 * with boundary "XyZ") and small limits (bits 1-3), the rest is the body.
 * The body is decoded in one piece, in random pieces and one byte at a
 * time: the results and error texts must agree, and the transcripts must
 * be equal on success and agree up to the shorter one on failure (a split
 * may hand on a few bytes before the bad one is seen). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <httpz/httpz.h>
#include "support/fz_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct rec {
    fz_log out; /* first: the log */
    uint64_t seen;
} rec;

static void put(rec *r, const void *p, size_t n)
{
    fz_log_put(&r->out, p, n);
}

static void put_str(rec *r, hz_str s)
{
    if (s.ptr && s.ptr[s.len] != 0)
        abort(); /* documented: NUL-terminated */
    fz_log_str(&r->out, s);
}

static int on_field(void *ud, const hz_form_field *f)
{
    rec *r = ud;
    put(r, "{", 1);
    put_str(r, f->name);
    put_str(r, f->filename);
    put_str(r, f->content_type);
    put(r, "}", 1);
    r->seen = 0;
    return 0;
}

static int on_data(void *ud, const hz_form_field *f, const void *d, size_t n)
{
    rec *r = ud;
    if (n == 0)
        abort(); /* documented: never empty */
    r->seen += n;
    if (f->size != r->seen)
        abort();
    put(r, d, n);
    return 0;
}

static int on_end(void *ud, const hz_form_field *f)
{
    rec *r = ud;
    if (f->size != r->seen)
        abort();
    put(r, "<e>", 3);
    return 0;
}

static const hz_form_cb cbs = {on_field, on_data, on_end};

typedef struct result {
    int rc;
    const char *err;
} result;

static int form_feed(void *f, const void *data, size_t len)
{
    return hz_form_feed(f, data, len);
}

static result run(unsigned cfg, const char *body, size_t len, rec *r, uint32_t seed, int mode)
{
    static hz_form f;
    r->out.len = 0;
    r->seen = 0;
    const char *ct =
        (cfg & 1) ? "multipart/form-data; boundary=XyZ" : "application/x-www-form-urlencoded";
    if (hz_form_init(&f, ct, strlen(ct), &cbs, r) != 0)
        abort();
    if (cfg & 2) {
        f.max_field = 7;
        f.max_file = 11;
    }
    if (cfg & 4) {
        f.max_fields = 3;
        f.max_name = 5;
    }
    if (cfg & 8) {
        f.max_header = 60;
        f.flags = HZ_URL_ALLOW_NUL;
    }
    result res = {fz_split_feed(body, len, seed, mode, form_feed, &f), NULL};
    if (res.rc == 0)
        res.rc = hz_form_finish(&f);
    res.err = hz_form_error(&f);
    if ((res.rc == 0) != (res.err == NULL))
        abort();
    if (res.rc != 0 && res.rc != HZ_EPROTO && res.rc != HZ_ERANGE && res.rc != HZ_EBUSY)
        abort();
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t seed = data[0];
    unsigned cfg = data[1];
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    /* every byte of output comes from the input, plus fixed framing per
     * field (a field needs at least one input byte) */
    size_t cap = 16 * len + 64;
    rec a = {{malloc(cap), 0, cap}, 0}, b = {{malloc(cap), 0, cap}, 0};
    if (!a.out.log || !b.out.log)
        abort();
    result ra = run(cfg, body, len, &a, 0, 0);
    for (int mode = 1; mode <= 2; mode++) {
        result rb = run(cfg, body, len, &b, seed, mode);
        if (rb.rc != ra.rc || rb.err != ra.err)
            abort();
        if (ra.rc == 0 && (b.out.len != a.out.len || memcmp(a.out.log, b.out.log, a.out.len)))
            abort();
        if (memcmp(a.out.log, b.out.log, a.out.len < b.out.len ? a.out.len : b.out.len))
            abort();
    }
    free(a.out.log);
    free(b.out.log);
    return 0;
}
