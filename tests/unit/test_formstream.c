/* test_formstream.c - hz_form_*: url-encoded and multipart bodies decoded as
 * they stream, in every split, with every limit crossed and malformed
 * input refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/httpz.h>

#define S(lit) lit, sizeof(lit) - 1
#define URLENC "application/x-www-form-urlencoded"
#define MULTI "multipart/form-data; boundary=XyZ"

/* A transcript: "{name|filename|type}" per field ('-' when absent), its
 * decoded value, then "<size>". Piece borders are not recorded, so every
 * split of the input must give the same transcript. */
typedef struct rec {
    char log[262144];
    size_t len;
    int empty; /* on_data calls with len 0 (must never happen) */
    int bad_size;
    int stop_at; /* on_field returns -100 for this index, if >= 0 */
    uint64_t seen;
} rec;

static void put(rec *r, const void *p, size_t n)
{
    cr_assert_lt(r->len + n, sizeof r->log);
    memcpy(r->log + r->len, p, n);
    r->len += n;
    r->log[r->len] = 0;
}

static void put_str(rec *r, hz_str s)
{
    if (s.ptr) {
        if (s.ptr[s.len] != 0)
            r->bad_size++; /* documented: NUL-terminated */
        put(r, s.ptr, s.len);
    } else {
        put(r, "-", 1);
    }
}

static int on_field(void *ud, const hz_form_field *f)
{
    rec *r = ud;
    if (r->stop_at >= 0 && (size_t)r->stop_at == f->index)
        return -100;
    put(r, "{", 1);
    put_str(r, f->name);
    put(r, "|", 1);
    put_str(r, f->filename);
    put(r, "|", 1);
    put_str(r, f->content_type);
    put(r, "}", 1);
    r->seen = 0;
    return 0;
}

static int on_data(void *ud, const hz_form_field *f, const void *d, size_t n)
{
    rec *r = ud;
    if (!n)
        r->empty++;
    r->seen += n;
    if (f->size != r->seen)
        r->bad_size++;
    put(r, d, n);
    return 0;
}

static int on_end(void *ud, const hz_form_field *f)
{
    rec *r = ud;
    char b[32];
    int n = snprintf(b, sizeof b, "<%llu>", (unsigned long long)f->size);
    put(r, b, (size_t)n);
    return 0;
}

static const hz_form_cb cbs = {on_field, on_data, on_end};

typedef struct lim {
    size_t max_field, max_fields, max_name, max_header;
    uint64_t max_file;
    unsigned flags;
} lim;

/* Decodes body cut at the given points (sorted; ncuts of them). Returns the
 * result; *err gets hz_form_error. */
static int run_cuts(const char *ct, const char *body, size_t len, const size_t *cuts, size_t ncuts,
                    rec *r, const lim *l, const char **err)
{
    static hz_form f;
    r->len = 0;
    r->log[0] = 0;
    r->empty = r->bad_size = 0;
    r->seen = 0;
    r->stop_at = -1;
    cr_assert_eq(hz_form_init(&f, ct, strlen(ct), &cbs, r), 0);
    if (l) {
        if (l->max_field)
            f.max_field = l->max_field;
        if (l->max_fields)
            f.max_fields = l->max_fields;
        if (l->max_name)
            f.max_name = l->max_name;
        if (l->max_header)
            f.max_header = l->max_header;
        if (l->max_file)
            f.max_file = l->max_file;
        f.flags = l->flags;
    }
    size_t at = 0;
    int rc = 0;
    for (size_t i = 0; i <= ncuts && rc == 0; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        /* each piece in its own allocation: a read past it is caught by ASan */
        char *piece = malloc(end - at + 1);
        memcpy(piece, body + at, end - at);
        rc = hz_form_feed(&f, piece, end - at);
        free(piece);
        at = end;
    }
    if (rc == 0)
        rc = hz_form_finish(&f);
    if (err)
        *err = hz_form_error(&f);
    cr_assert_eq(rc == 0, hz_form_error(&f) == NULL);
    cr_assert_eq(r->empty, 0);
    cr_assert_eq(r->bad_size, 0);
    return rc;
}

static int run(const char *ct, const char *body, size_t len, rec *r, const lim *l, const char **err)
{
    return run_cuts(ct, body, len, NULL, 0, r, l, err);
}

/* The body gives want (rc 0) in one piece, at every single split point,
 * at every pair of split points (bodies up to 200 bytes) and one byte at
 * a time. */
static void check_all_splits(const char *ct, const char *body, size_t len, const char *want)
{
    static rec r;
    cr_assert_eq(run(ct, body, len, &r, NULL, NULL), 0, "%s", body);
    cr_assert_str_eq(r.log, want);
    for (size_t i = 0; i <= len; i++) {
        cr_assert_eq(run_cuts(ct, body, len, &i, 1, &r, NULL, NULL), 0);
        cr_assert_str_eq(r.log, want, "split at %zu", i);
    }
    if (len <= 200) {
        for (size_t i = 0; i <= len; i++)
            for (size_t j = i; j <= len; j++) {
                size_t c[2] = {i, j};
                cr_assert_eq(run_cuts(ct, body, len, c, 2, &r, NULL, NULL), 0);
                cr_assert_str_eq(r.log, want, "split at %zu,%zu", i, j);
            }
    }
    size_t *all = malloc(len * sizeof *all);
    for (size_t i = 0; i < len; i++)
        all[i] = i;
    cr_assert_eq(run_cuts(ct, body, len, all, len, &r, NULL, NULL), 0);
    cr_assert_str_eq(r.log, want);
    free(all);
}

/* The body fails with rc, whatever the split, and the transcript before
 * the failure agrees (the shorter is a prefix of the longer: a split may
 * deliver a few more bytes before the bad one is seen). */
static void check_fails(const char *ct, const char *body, size_t len, const lim *l, int want_rc)
{
    static rec a, b;
    const char *ea, *eb;
    int rc = run(ct, body, len, &a, l, &ea);
    cr_assert_eq(rc, want_rc, "%s: got %d (%s)", body, rc, ea ? ea : "");
    for (size_t i = 0; i <= len; i++) {
        cr_assert_eq(run_cuts(ct, body, len, &i, 1, &b, l, &eb), want_rc, "%s split at %zu", body,
                     i);
        cr_assert_str_eq(ea, eb);
        size_t n = a.len < b.len ? a.len : b.len;
        cr_assert(!memcmp(a.log, b.log, n));
    }
}

/* ---- url-encoded ------------------------------------------------------------ */

Test(formstream, urlencoded_fields)
{
    check_all_splits(URLENC, S("a=1&b=hello+world&c=%41%62%2b%26%3d&&d&e=&=x&f=a=b"),
                     "{a|-|-}1<1>{b|-|-}hello world<11>{c|-|-}Ab+&=<5>{d|-|-}<0>{e|-|-}<0>"
                     "{|-|-}x<1>{f|-|-}a=b<3>");
    check_all_splits(URLENC "; charset=UTF-8", S("n%C3%A4me=v%C3%A4lue&x+y=1"),
                     "{n\xc3\xa4me|-|-}v\xc3\xa4lue<6>{x y|-|-}1<1>");
    check_all_splits(URLENC, S(""), "");
    check_all_splits(URLENC, S("&&&"), "");
    check_all_splits(URLENC, S("solo"), "{solo|-|-}<0>");
}

Test(formstream, urlencoded_long_value_streams_in_pieces)
{
    /* 100,000 decoded bytes, fed in 7-byte pieces: delivered as they come,
     * never held whole. */
    size_t n = 100000;
    char *body = malloc(n * 3 + 8);
    memcpy(body, "big=", 4);
    size_t len = 4;
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(body + len, "%%%02X", (unsigned)('a' + i % 26));
    size_t ncuts = len / 7;
    size_t *cuts = malloc(ncuts * sizeof *cuts);
    for (size_t i = 0; i < ncuts; i++)
        cuts[i] = (i + 1) * 7;
    static rec r;
    lim l = {.max_field = n};
    cr_assert_eq(run_cuts(URLENC, body, len, cuts, ncuts, &r, &l, NULL), 0);
    cr_assert_eq(r.len, strlen("{big|-|-}") + n + strlen("<100000>"));
    /* one byte more than the limit */
    l.max_field = n - 1;
    const char *err;
    cr_assert_eq(run_cuts(URLENC, body, len, cuts, ncuts, &r, &l, &err), HZ_ERANGE);
    cr_assert_str_eq(err, "field value too large");
    /* what came before the limit went out, up to the piece being decoded */
    cr_assert_leq(r.len, strlen("{big|-|-}") + n - 1);
    cr_assert_geq(r.len + 512, strlen("{big|-|-}") + n - 1);
    free(cuts);
    free(body);
}

Test(formstream, urlencoded_limits)
{
    lim l = {.max_field = 3};
    static rec r;
    cr_assert_eq(run(URLENC, S("a=abc&b=%41%42%43"), &r, &l, NULL), 0);
    check_fails(URLENC, S("a=abc&b=%41%42%43%44"), &l, HZ_ERANGE);
    check_fails(URLENC, S("a=abcd"), &l, HZ_ERANGE);
    l = (lim){.max_fields = 2};
    cr_assert_eq(run(URLENC, S("a=1&b=2&&"), &r, &l, NULL), 0);
    check_fails(URLENC, S("a=1&b=2&c"), &l, HZ_EBUSY);
    l = (lim){.max_name = 4};
    cr_assert_eq(run(URLENC, S("%41bcd=1"), &r, &l, NULL), 0);
    check_fails(URLENC, S("abcde=1"), &l, HZ_ERANGE);
    check_fails(URLENC, S("abcd%41"), &l, HZ_ERANGE);
    /* max_name above the bound is the bound */
    l = (lim){.max_name = 100000};
    char name[HZ_FORM_NAME_MAX + 4];
    memset(name, 'n', sizeof name);
    check_fails(URLENC, name, HZ_FORM_NAME_MAX + 1, &l, HZ_ERANGE);
    cr_assert_eq(run(URLENC, name, HZ_FORM_NAME_MAX, &r, &l, NULL), 0);
    cr_assert_eq(hz_form_status(HZ_ERANGE), 413);
    cr_assert_eq(hz_form_status(HZ_EBUSY), 413);
}

Test(formstream, urlencoded_malformed)
{
    check_fails(URLENC, S("a=%G1"), NULL, HZ_EPROTO);
    check_fails(URLENC, S("a=%4"), NULL, HZ_EPROTO);     /* cut short at the end */
    check_fails(URLENC, S("a=%4&b=1"), NULL, HZ_EPROTO); /* cut by '&' */
    check_fails(URLENC, S("a%=1"), NULL, HZ_EPROTO);     /* in a name */
    check_fails(URLENC, S("a=1%00"), NULL, HZ_EPROTO);   /* NUL policy */
    check_fails(URLENC, "a=1\0", 4, NULL, HZ_EPROTO);    /* a raw NUL */
    check_fails(URLENC, S("a%00=1"), NULL, HZ_EPROTO);   /* never in a name */
    lim l = {.flags = HZ_URL_ALLOW_NUL};
    check_fails(URLENC, S("a%00=1"), &l, HZ_EPROTO);
    static rec r;
    cr_assert_eq(run(URLENC, S("a=1%002"), &r, &l, NULL), 0);
    cr_assert_eq(r.len, strlen("{a|-|-}1") + 1 + strlen("2<3>"));
    cr_assert_eq(hz_form_status(HZ_EPROTO), 400);
}

/* ---- multipart -------------------------------------------------------------- */

static const char form[] = "preamble\r\n"
                           "--XyZ\r\n"
                           "Content-Disposition: form-data; name=\"title\"\r\n"
                           "\r\n"
                           "hello\r\n"
                           "--XyZ\r\n"
                           "Content-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n"
                           "Content-Type: text/plain\r\n"
                           "\r\n"
                           "line 1\r\nline 2\r\n--X\r\n"
                           "--XyZ\r\n"
                           "Content-Disposition: form-data; name=\"empty\"; filename=\"\"\r\n"
                           "\r\n"
                           "\r\n"
                           "--XyZ--\r\n"
                           "epilogue";

Test(formstream, multipart_fields_and_files)
{
    check_all_splits(MULTI, form, sizeof form - 1,
                     "{title|-|-}hello<5>{f|a.txt|text/plain}line 1\r\nline 2\r\n--X<19>"
                     "{empty||-}<0>");
    check_all_splits("Multipart/Form-Data; boundary=\"XyZ\"", form, sizeof form - 1,
                     "{title|-|-}hello<5>{f|a.txt|text/plain}line 1\r\nline 2\r\n--X<19>"
                     "{empty||-}<0>");
}

Test(formstream, multipart_limits)
{
    static rec r;
    lim l = {.max_file = 19};
    cr_assert_eq(run(MULTI, form, sizeof form - 1, &r, &l, NULL), 0);
    l.max_file = 18;
    check_fails(MULTI, form, sizeof form - 1, &l, HZ_ERANGE);
    l = (lim){.max_field = 5};
    cr_assert_eq(run(MULTI, form, sizeof form - 1, &r, &l, NULL), 0);
    l.max_field = 4; /* "hello" is a plain field: max_field, not max_file */
    check_fails(MULTI, form, sizeof form - 1, &l, HZ_ERANGE);
    l = (lim){.max_fields = 3};
    cr_assert_eq(run(MULTI, form, sizeof form - 1, &r, &l, NULL), 0);
    l.max_fields = 2;
    check_fails(MULTI, form, sizeof form - 1, &l, HZ_EBUSY);
    l = (lim){.max_name = 5};
    cr_assert_eq(run(MULTI, form, sizeof form - 1, &r, &l, NULL), 0);
    l.max_name = 4; /* "title" */
    check_fails(MULTI, form, sizeof form - 1, &l, HZ_ERANGE);
    l = (lim){.max_header = 88};
    cr_assert_eq(run(MULTI, form, sizeof form - 1, &r, &l, NULL), 0);
    l.max_header = 87;
    check_fails(MULTI, form, sizeof form - 1, &l, HZ_ERANGE);
}

Test(formstream, multipart_malformed)
{
    check_fails(MULTI, S("no delimiter at all"), NULL, HZ_EPROTO);
    check_fails(MULTI, S("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc\r\n--XyZ"),
                NULL, HZ_EPROTO); /* no final delimiter */
    check_fails(MULTI, S("--XyZ\r\nContent-Type: text/plain\r\n\r\nabc\r\n--XyZ--"), NULL,
                HZ_EPROTO); /* no Content-Disposition */
    check_fails(MULTI, S("--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--"),
                NULL, HZ_EPROTO);
    check_fails(MULTI, S("--XyZjunk\r\n"), NULL, HZ_EPROTO);
}

Test(formstream, callback_stops_and_errors_are_sticky)
{
    static hz_form f;
    static rec r;
    memset(&r, 0, sizeof r);
    r.stop_at = 1;
    cr_assert_eq(hz_form_init(&f, S(URLENC), &cbs, &r), 0);
    cr_assert_eq(hz_form_feed(&f, S("a=1&b=2&c=3")), -100);
    cr_assert_str_eq(r.log, "{a|-|-}1<1>");
    cr_assert_str_eq(hz_form_error(&f), "stopped by a callback");
    cr_assert_eq(hz_form_feed(&f, S("d=4")), -100);
    cr_assert_eq(hz_form_finish(&f), -100);
    cr_assert_eq(hz_form_status(-100), 500);

    memset(&r, 0, sizeof r);
    r.stop_at = 0;
    cr_assert_eq(hz_form_init(&f, S(MULTI), &cbs, &r), 0);
    cr_assert_eq(hz_form_feed(&f, form, sizeof form - 1), -100);
    cr_assert_eq(r.len, 0);
}

Test(formstream, init_refuses_other_types)
{
    static hz_form f;
    cr_assert_eq(hz_form_init(&f, S("text/plain"), NULL, NULL), HZ_EINVAL);
    cr_assert_eq(hz_form_feed(&f, S("a=1")), HZ_EINVAL);
    cr_assert_str_eq(hz_form_error(&f), "not a form media type");
    cr_assert_eq(hz_form_init(&f, S("application/x-www-form-urlencodedX"), NULL, NULL), HZ_EINVAL);
    cr_assert_eq(hz_form_init(&f, S("multipart/form-data"), NULL, NULL), HZ_EINVAL);
    cr_assert_eq(hz_form_init(&f, S("multipart/mixed; boundary=a"), NULL, NULL), HZ_EINVAL);
    cr_assert_eq(hz_form_init(&f, NULL, 0, NULL, NULL), HZ_EINVAL);
    cr_assert_eq(hz_form_status(HZ_EINVAL), 415);
    cr_assert_eq(hz_form_status(0), 200);
    /* NULL callbacks are allowed */
    cr_assert_eq(hz_form_init(&f, S(" " URLENC " ; charset=utf-8"), NULL, NULL), 0);
    cr_assert_eq(hz_form_feed(&f, S("a=1&b")), 0);
    cr_assert_eq(hz_form_finish(&f), 0);
    cr_assert_eq(hz_form_init(&f, S(MULTI), NULL, NULL), 0);
    cr_assert_eq(hz_form_feed(&f, form, sizeof form - 1), 0);
    cr_assert_eq(hz_form_finish(&f), 0);
}
