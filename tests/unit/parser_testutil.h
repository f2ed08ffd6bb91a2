/* parser_testutil.h - drives the request parser and the chunked decoder the
 * way the server does, and in every other way the contract allows: whole,
 * split in two at every byte, byte by byte, each call from a fresh buffer
 * that ends at a guard page (so the buffer "moves" between calls and any
 * over-read faults). Shared by the parser test files. */
#ifndef HZ_PARSER_TESTUTIL_H
#define HZ_PARSER_TESTUTIL_H

#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "parser.h"
#include "guardbuf.h"

#define PT_UNUSED __attribute__((unused))

static const hz__parse_limits pt_limits = {
    .request_line = 8192,
    .field_size = 8192,
    .header_bytes = 32768,
    .header_count = 100,
    .chunk_ext = 256,
    .trailer_bytes = 8192,
};

/* Inputs above this size are split byte by byte from one heap buffer only
 * (copying every prefix to its own guard page would be quadratic). */
#define PT_GUARD_MAX 4096

typedef struct pt_result {
    int rc; /* head_len, HZ_EAGAIN or HZ_EPROTO */
    hz__perr err;
    hz__req_head head;
    hz__field *fields; /* owns; capacity: the limits' header_count */
    uint32_t cap;
} pt_result;

static PT_UNUSED void pt_result_init(pt_result *r, const hz__parse_limits *lim)
{
    memset(r, 0, sizeof(*r));
    r->cap = lim->header_count ? lim->header_count : 1;
    r->fields = calloc(r->cap, sizeof(hz__field));
    cr_assert_not_null(r->fields);
}

static PT_UNUSED void pt_result_free(pt_result *r)
{
    free(r->fields);
    r->fields = NULL;
}

/* One call from a guard-page copy of buf[0..len). */
static PT_UNUSED int pt_call_guarded(hz__parser *p, hz__req_head *h, const void *buf, size_t len)
{
    hz_guardbuf g;
    char *d = hz_guardbuf_make(&g, buf, len);
    cr_assert_not_null(d, "guard buffer");
    int rc = hz__parse_request(p, h, d, len);
    hz_guardbuf_free(&g);
    return rc;
}

/* Feeds the growing prefixes steps[0] < steps[1] < ... (the last one len),
 * each from its own buffer; stops early on a final result. */
static PT_UNUSED void pt_parse_steps(const void *req, size_t len, const hz__parse_limits *lim,
                                     const size_t *steps, size_t nsteps, int guarded, pt_result *r)
{
    hz__parser p;
    hz__parser_init(&p, lim, r->fields);
    memset(&r->head, 0, sizeof(r->head));
    r->rc = HZ_EAGAIN;
    for (size_t k = 0; k < nsteps && r->rc == HZ_EAGAIN; k++) {
        cr_assert_leq(steps[k], len);
        if (guarded)
            r->rc = pt_call_guarded(&p, &r->head, req, steps[k]);
        else
            r->rc = hz__parse_request(&p, &r->head, req, steps[k]);
    }
    r->err = r->rc == HZ_EPROTO ? p.error : HZ__PE_NONE;
    if (r->rc == HZ_EPROTO)
        cr_assert_neq(p.error, HZ__PE_NONE, "HZ_EPROTO without an error kind");
    else
        cr_assert(r->rc > 0 || r->rc == HZ_EAGAIN, "unexpected rc %d", r->rc);
    /* A finished parser keeps its verdict. */
    if (r->rc != HZ_EAGAIN) {
        hz__req_head again;
        int rc2 = hz__parse_request(&p, &again, req, len);
        cr_assert_eq(rc2, r->rc, "a second call changed the verdict");
    }
}

static PT_UNUSED void pt_assert_same(const pt_result *a, const pt_result *b, const char *what,
                                     size_t at)
{
    cr_assert_eq(a->rc, b->rc, "%s (at %zu): rc %d vs %d (%s vs %s)", what, at, a->rc, b->rc,
                 hz__perr_name(a->err), hz__perr_name(b->err));
    cr_assert_eq(a->err, b->err, "%s (at %zu): error %s vs %s", what, at, hz__perr_name(a->err),
                 hz__perr_name(b->err));
    if (a->rc <= 0)
        return;
    const hz__req_head *x = &a->head, *y = &b->head;
#define PT_SAME(f) cr_assert_eq(x->f, y->f, "%s (at %zu): " #f " differs", what, at)
    PT_SAME(method_off);
    PT_SAME(method_len);
    PT_SAME(target_off);
    PT_SAME(target_len);
    PT_SAME(path_off);
    PT_SAME(path_len);
    PT_SAME(host_off);
    PT_SAME(host_len);
    PT_SAME(method);
    PT_SAME(target_form);
    PT_SAME(version_minor);
    PT_SAME(body_kind);
    PT_SAME(flags);
    PT_SAME(content_length);
    PT_SAME(head_len);
    PT_SAME(nfields);
#undef PT_SAME
    for (uint32_t k = 0; k < x->nfields; k++)
        cr_assert(!memcmp(&x->fields[k], &y->fields[k], sizeof(hz__field)),
                  "%s (at %zu): field %u differs", what, at, k);
}

/* Parses req whole (from a guard page), then split in two at every byte and
 * fed byte by byte; asserts every way gives the same verdict. r gets the
 * whole-buffer result (caller frees it with pt_result_free). */
static PT_UNUSED void pt_parse(const void *req, size_t len, const hz__parse_limits *lim,
                               pt_result *r)
{
    pt_result_init(r, lim);
    size_t whole = len;
    pt_parse_steps(req, len, lim, &whole, 1, 1, r);

    pt_result s;
    pt_result_init(&s, lim);
    size_t *steps = malloc((len + 1) * sizeof(size_t));
    cr_assert_not_null(steps);
    int guarded = len <= PT_GUARD_MAX;
    if (guarded) {
        for (size_t k = 0; k <= len; k++) {
            size_t two[2] = {k, len};
            pt_parse_steps(req, len, lim, two, 2, 1, &s);
            pt_assert_same(r, &s, "split in two", k);
        }
    }
    /* byte by byte (a heap copy of exactly len bytes for ASan) */
    void *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, req, len);
    for (size_t k = 0; k <= len; k++)
        steps[k] = k;
    pt_parse_steps(copy, len, lim, steps, len + 1, guarded, &s);
    pt_assert_same(r, &s, "byte by byte", 0);
    free(copy);
    free(steps);
    pt_result_free(&s);
}

/* ------------------------------------------------------------------------ */
/* Chunked bodies                                                            */
/* ------------------------------------------------------------------------ */

typedef struct pt_body {
    int rc; /* 0 (body ended), HZ_EAGAIN (needs more) or HZ_EPROTO */
    hz__perr err;
    size_t end; /* stream offset right after the body (rc 0) */
    char *data; /* owns: the decoded body */
    size_t data_len;
} pt_body;

static PT_UNUSED void pt_body_free(pt_body *b)
{
    free(b->data);
    b->data = NULL;
}

/* Decodes src[0..len) arriving in the pieces ending at cuts[0] < ... <
 * cuts[n-1] == len, the way a connection would: unconsumed bytes stay
 * buffered, every call gets them from a fresh buffer (a guard-page one if
 * guarded). Data spans must point inside the given buffer. */
static PT_UNUSED void pt_decode_steps(const void *src, size_t len, const hz__parse_limits *lim,
                                      const size_t *cuts, size_t ncuts, int guarded, pt_body *out)
{
    hz__chunked c;
    hz__chunked_init(&c, lim);
    memset(out, 0, sizeof(*out));
    out->data = malloc(len ? len : 1);
    cr_assert_not_null(out->data);
    size_t done = 0; /* bytes consumed */
    int rc = HZ_EAGAIN;
    for (size_t k = 0; k < ncuts && rc == HZ_EAGAIN; k++) {
        size_t avail = cuts[k];
        for (;;) {
            size_t n = avail - done, used = 0, dlen = 0;
            const char *d = NULL;
            hz_guardbuf g = {0};
            const char *in = (const char *)src + done;
            char *heap = NULL;
            if (guarded) {
                in = hz_guardbuf_make(&g, in, n);
                cr_assert_not_null(in);
            } else {
                heap = malloc(n ? n : 1);
                cr_assert_not_null(heap);
                memcpy(heap, in, n);
                in = heap;
            }
            rc = hz__chunked_decode(&c, in, n, &used, &d, &dlen);
            cr_assert_leq(used, n);
            if (rc == HZ__CHUNK_DATA) {
                cr_assert(d >= in && d + dlen <= in + used, "data span outside consumed bytes");
                cr_assert_gt(dlen, 0);
                memcpy(out->data + out->data_len, d, dlen);
                out->data_len += dlen;
            }
            hz_guardbuf_free(&g);
            free(heap);
            done += used;
            if (rc == HZ__CHUNK_DATA) {
                rc = HZ_EAGAIN;
                continue;
            }
            if (rc == HZ_EAGAIN)
                cr_assert_eq(done, avail, "HZ_EAGAIN must consume everything");
            break;
        }
    }
    out->rc = rc;
    out->err = rc == HZ_EPROTO ? c.error : HZ__PE_NONE;
    out->end = rc == 0 ? done : 0;
    if (rc == HZ_EPROTO)
        cr_assert_neq(c.error, HZ__PE_NONE);
    else
        cr_assert(rc == 0 || rc == HZ_EAGAIN, "unexpected rc %d", rc);
}

static PT_UNUSED void pt_body_same(const pt_body *a, const pt_body *b, const char *what, size_t at)
{
    cr_assert_eq(a->rc, b->rc, "%s (at %zu): rc %d vs %d (%s vs %s)", what, at, a->rc, b->rc,
                 hz__perr_name(a->err), hz__perr_name(b->err));
    cr_assert_eq(a->err, b->err, "%s (at %zu): %s vs %s", what, at, hz__perr_name(a->err),
                 hz__perr_name(b->err));
    cr_assert_eq(a->end, b->end, "%s (at %zu): end differs", what, at);
    if (a->rc != HZ_EPROTO) {
        cr_assert_eq(a->data_len, b->data_len, "%s (at %zu): data length differs", what, at);
        cr_assert(!memcmp(a->data, b->data, a->data_len), "%s (at %zu): data differs", what, at);
    }
}

/* Decodes whole, split in two at every byte and byte by byte; asserts they
 * agree and returns the whole-buffer result. */
static PT_UNUSED void pt_decode(const void *src, size_t len, const hz__parse_limits *lim,
                                pt_body *out)
{
    size_t whole = len;
    int guarded = len <= PT_GUARD_MAX;
    pt_decode_steps(src, len, lim, &whole, 1, 1, out);
    pt_body s;
    if (guarded) {
        for (size_t k = 0; k <= len; k++) {
            size_t two[2] = {k, len};
            pt_decode_steps(src, len, lim, two, 2, 1, &s);
            pt_body_same(out, &s, "split in two", k);
            pt_body_free(&s);
        }
    }
    size_t *steps = malloc((len + 1) * sizeof(size_t));
    cr_assert_not_null(steps);
    for (size_t k = 0; k <= len; k++)
        steps[k] = k;
    pt_decode_steps(src, len, lim, steps, len + 1, guarded, &s);
    pt_body_same(out, &s, "byte by byte", 0);
    pt_body_free(&s);
    free(steps);
}

#endif
