/* fuzz_request.c - the request-head parser on arbitrary bytes.
 *
 * Input: byte 0 picks the limits (default or tiny, so the limit paths are
 * reached), byte 1 seeds the split pattern; the rest is the request. The
 * head is parsed in one call, then again in pieces whose sizes come from
 * the seed, each call from a fresh heap copy of exactly the bytes given (so
 * ASan sees any over-read and the buffer "moves"), and byte by byte for
 * short inputs. Every way must give the same verdict and the same head; an
 * accepted head must also satisfy the invariants the server relies on. */
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

typedef struct run {
    int rc;
    hz__perr err;
    hz__req_head head;
    hz__field fields[100];
} run;

/* Feeds growing prefixes; step 0 means "one piece". */
static void parse(const hz__parse_limits *lim, const uint8_t *req, size_t len, uint32_t seed,
                  int bytewise, run *r)
{
    hz__parser p;
    hz__parser_init(&p, lim, r->fields);
    memset(&r->head, 0, sizeof(r->head));
    size_t have = 0;
    r->rc = HZ_EAGAIN;
    while (r->rc == HZ_EAGAIN) {
        if (bytewise)
            have = have < len ? have + 1 : len;
        else if (seed == 0)
            have = len;
        else
            have += fz_xorshift32(&seed) % 64;
        if (have > len)
            have = len;
        char *copy = malloc(have ? have : 1);
        CHECK(copy);
        memcpy(copy, req, have);
        r->rc = hz__parse_request(&p, &r->head, copy, have);
        free(copy);
        if (have == len)
            break;
    }
    r->err = r->rc == HZ_EPROTO ? p.error : HZ__PE_NONE;
}

static void same(const run *a, const run *b)
{
    CHECK(a->rc == b->rc);
    CHECK(a->err == b->err);
    if (a->rc <= 0)
        return;
    const hz__req_head *x = &a->head, *y = &b->head;
    CHECK(x->method_off == y->method_off && x->method_len == y->method_len);
    CHECK(x->target_off == y->target_off && x->target_len == y->target_len);
    CHECK(x->path_off == y->path_off && x->path_len == y->path_len);
    CHECK(x->host_off == y->host_off && x->host_len == y->host_len);
    CHECK(x->method == y->method && x->target_form == y->target_form);
    CHECK(x->version_minor == y->version_minor && x->body_kind == y->body_kind);
    CHECK(x->flags == y->flags && x->content_length == y->content_length);
    CHECK(x->head_len == y->head_len && x->nfields == y->nfields);
    CHECK(!memcmp(a->fields, b->fields, x->nfields * sizeof(hz__field)));
}

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* What the server relies on for an accepted head. */
static void invariants(const hz__parse_limits *lim, const uint8_t *b, size_t len, const run *r)
{
    const hz__req_head *h = &r->head;
    CHECK((size_t)r->rc == h->head_len && h->head_len <= len);
    CHECK(h->head_len <= lim->header_bytes);
    CHECK(h->head_len >= 4 && !memcmp(b + h->head_len - 4, "\r\n\r\n", 4));
    CHECK(h->method_len > 0 && h->target_len > 0);
    for (uint32_t k = 0; k < h->method_len; k++)
        CHECK(is_tchar(b[h->method_off + k]));
    CHECK(b[h->method_off + h->method_len] == ' ');
    for (uint32_t k = 0; k < h->target_len; k++) {
        unsigned char c = b[h->target_off + k];
        CHECK(c > 0x20 && c < 0x7f && c != '#');
    }
    CHECK(h->target_off + h->target_len <= h->head_len);
    CHECK(h->version_minor <= 1);
    CHECK(h->path_off >= h->target_off &&
          h->path_off + h->path_len <= h->target_off + h->target_len);
    if (h->target_form == HZ__TF_ORIGIN)
        CHECK(b[h->target_off] == '/');
    if (h->target_form == HZ__TF_ASTERISK)
        CHECK(h->method == HZ__M_OPTIONS && h->target_len == 1);
    if (h->target_form == HZ__TF_AUTHORITY)
        CHECK(h->method == HZ__M_CONNECT);
    if (h->method == HZ__M_CONNECT)
        CHECK(h->target_form == HZ__TF_AUTHORITY);
    CHECK(h->host_off + h->host_len <= h->head_len);
    for (uint32_t k = 0; k < h->host_len; k++)
        CHECK(b[h->host_off + k] > 0x20 && b[h->host_off + k] < 0x7f && b[h->host_off + k] != '@');
    CHECK(h->nfields <= lim->header_count);
    for (uint32_t f = 0; f < h->nfields; f++) {
        const hz__field *fl = &r->fields[f];
        CHECK(fl->name_len > 0 && fl->value_off + fl->value_len <= h->head_len);
        for (uint32_t k = 0; k < fl->name_len; k++)
            CHECK(is_tchar(b[fl->name_off + k]));
        CHECK(b[fl->name_off + fl->name_len] == ':');
        for (uint32_t k = 0; k < fl->value_len; k++) {
            unsigned char c = b[fl->value_off + k];
            CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (fl->value_len)
            CHECK(b[fl->value_off] != ' ' && b[fl->value_off] != '\t' &&
                  b[fl->value_off + fl->value_len - 1] != ' ' &&
                  b[fl->value_off + fl->value_len - 1] != '\t');
        CHECK(b[fl->value_off + fl->value_len] == '\r' || b[fl->value_off + fl->value_len] == ' ' ||
              b[fl->value_off + fl->value_len] == '\t');
    }
    if (h->body_kind == HZ__BODY_CHUNKED)
        CHECK(h->version_minor == 1);
    if (h->body_kind == HZ__BODY_LENGTH)
        CHECK(h->content_length <= (uint64_t)INT64_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const hz__parse_limits *lim = (data[0] & 1) ? &limits_tiny : &limits_default;
    uint32_t seed = data[1] * 2654435761u + 1;
    const uint8_t *req = data + 2;
    size_t len = size - 2;

    static run whole, split, bytes;
    parse(lim, req, len, 0, 0, &whole);
    CHECK(whole.rc == HZ_EAGAIN || whole.rc == HZ_EPROTO || whole.rc > 0);
    if (whole.rc == HZ_EPROTO) {
        int st = hz__perr_status(whole.err);
        CHECK(whole.err != HZ__PE_NONE && whole.err < HZ__PE_COUNT);
        CHECK(st == 400 || st == 414 || st == 431 || st == 501 || st == 505);
    } else if (whole.rc > 0) {
        invariants(lim, req, len, &whole);
    }
    parse(lim, req, len, seed, 0, &split);
    same(&whole, &split);
    if (len <= 512) {
        parse(lim, req, len, 0, 1, &bytes);
        same(&whole, &bytes);
    }
    return 0;
}
