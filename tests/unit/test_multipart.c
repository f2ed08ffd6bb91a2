/* test_multipart.c - the streaming multipart/form-data parser: valid bodies
 * in every split, hostile bodies, every limit, boundary extraction. */
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/httpz.h>

#define S(lit) lit, sizeof(lit) - 1

/* A transcript of the callbacks: "{name|filename|type}" per part (a '-'
 * for an absent field), then its data, then "<end>". Data chunk borders
 * are not recorded, so any split of the input gives the same transcript. */
typedef struct rec {
    char log[65536];
    size_t len;
    size_t chunks;    /* on_data calls */
    int empty_chunks; /* on_data with len 0 (must never happen) */
    int stop_at_part; /* on_part returns -100 for this index, if >= 0 */
} rec;

static void put(rec *r, const char *p, size_t n)
{
    cr_assert_lt(r->len + n, sizeof r->log);
    memcpy(r->log + r->len, p, n);
    r->len += n;
    r->log[r->len] = '\0';
}

static void put_str(rec *r, hz_str s)
{
    if (s.ptr)
        put(r, s.ptr, s.len);
    else
        put(r, "-", 1);
}

static int on_part(void *ud, const hz_multipart_part *p)
{
    rec *r = ud;
    if (r->stop_at_part >= 0 && (size_t)r->stop_at_part == p->index)
        return -100;
    put(r, "{", 1);
    put_str(r, p->name);
    put(r, "|", 1);
    put_str(r, p->filename);
    put(r, "|", 1);
    put_str(r, p->content_type);
    put(r, "}", 1);
    return 0;
}

static int on_data(void *ud, const void *d, size_t n)
{
    rec *r = ud;
    r->chunks++;
    if (n == 0)
        r->empty_chunks++;
    put(r, d, n);
    return 0;
}

static int on_end(void *ud)
{
    put(ud, "<end>", 5);
    return 0;
}

static const hz_multipart_cb cbs = {on_part, on_data, on_end};

static void rec_init(rec *r)
{
    r->len = 0;
    r->log[0] = '\0';
    r->chunks = 0;
    r->empty_chunks = 0;
    r->stop_at_part = -1;
}

/* Parses body split at the given offsets (ascending); returns the first
 * error of feed or finish, or 0. */
static int parse_split(const char *boundary, const char *body, size_t len, const size_t *cuts,
                       size_t ncuts, rec *r, hz_multipart *mp)
{
    rec_init(r);
    cr_assert_eq(hz_multipart_init(mp, boundary, strlen(boundary), &cbs, r), 0);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        int rc = hz_multipart_feed(mp, body + at, to - at);
        if (rc < 0)
            return rc;
        at = to;
    }
    return hz_multipart_finish(mp);
}

static int parse(const char *boundary, const char *body, size_t len, rec *r, hz_multipart *mp)
{
    return parse_split(boundary, body, len, NULL, 0, r, mp);
}

static const char body1[] = "--XyZ\r\n"
                            "Content-Disposition: form-data; name=\"title\"\r\n"
                            "\r\n"
                            "Hello\r\nWorld\r\n"
                            "--XyZ\r\n"
                            "Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
                            "Content-Type: text/plain\r\n"
                            "\r\n"
                            "line1\r\n--XyYnot\r\r\n-\r\n--Xy\r\n--X\r\n"
                            "\r\n"
                            "--XyZ\r\n"
                            "content-disposition: FORM-DATA; name=empty\r\n"
                            "\r\n"
                            "\r\n"
                            "--XyZ--\r\n";
static const char want1[] =
    "{title|-|-}Hello\r\nWorld<end>"
    "{file|a.txt|text/plain}line1\r\n--XyYnot\r\r\n-\r\n--Xy\r\n--X\r\n<end>"
    "{empty|-|-}<end>";

static hz_multipart mp; /* 4 KiB+: keep it off the test's stack */
static rec r1, r2;

Test(multipart, parses_a_form)
{
    cr_assert_eq(parse("XyZ", S(body1), &r1, &mp), 0, "%s", hz_multipart_error(&mp));
    cr_assert_str_eq(r1.log, want1);
    cr_assert_eq(r1.empty_chunks, 0);
    cr_assert_null(hz_multipart_error(&mp));
}

Test(multipart, every_single_split_point)
{
    for (size_t cut = 0; cut <= sizeof body1 - 1; cut++) {
        cr_assert_eq(parse_split("XyZ", S(body1), &cut, 1, &r2, &mp), 0, "cut %zu", cut);
        cr_assert_str_eq(r2.log, want1, "cut %zu", cut);
        cr_assert_eq(r2.empty_chunks, 0);
    }
}

Test(multipart, every_pair_of_split_points)
{
    size_t n = sizeof body1 - 1;
    for (size_t a = 0; a <= n; a += 3)
        for (size_t b = a; b <= n; b++) {
            size_t cuts[2] = {a, b};
            cr_assert_eq(parse_split("XyZ", S(body1), cuts, 2, &r2, &mp), 0);
            cr_assert_str_eq(r2.log, want1, "cuts %zu %zu", a, b);
        }
}

Test(multipart, one_byte_at_a_time)
{
    rec_init(&r2);
    cr_assert_eq(hz_multipart_init(&mp, S("XyZ"), &cbs, &r2), 0);
    for (size_t i = 0; i < sizeof body1 - 1; i++)
        cr_assert_eq(hz_multipart_feed(&mp, body1 + i, 1), 0, "byte %zu", i);
    cr_assert_eq(hz_multipart_finish(&mp), 0);
    cr_assert_str_eq(r2.log, want1);
}

static char big_content[1 << 20];
static struct {
    size_t total, chunks;
    int mismatch;
} big;

static int big_data(void *ud, const void *d, size_t n)
{
    (void)ud;
    if (big.total + n > sizeof big_content || memcmp(big_content + big.total, d, n) != 0)
        big.mismatch = 1;
    big.total += n;
    big.chunks++;
    return 0;
}

Test(multipart, large_content_streams_without_buffering)
{
    /* 1 MiB of content (full of CR, LF and '-') fed in 4 KiB pieces arrives
     * intact, in many chunks: the parser holds none of it back beyond a
     * delimiter prefix. */
    static char body[(1 << 20) + 512];
    for (size_t i = 0; i < sizeof big_content; i++)
        big_content[i] = "ab\r\n-"[i % 5];
    size_t len = (size_t)snprintf(body, sizeof body,
                                  "--b\r\nContent-Disposition: form-data; name=\"f\"; "
                                  "filename=\"big.bin\"\r\n\r\n");
    memcpy(body + len, big_content, sizeof big_content);
    len += sizeof big_content;
    memcpy(body + len, "\r\n--b--", 7);
    len += 7;
    hz_multipart_cb cb = {.on_data = big_data};
    memset(&big, 0, sizeof big);
    cr_assert_eq(hz_multipart_init(&mp, S("b"), &cb, NULL), 0);
    for (size_t at = 0; at < len; at += 4096) {
        size_t n = len - at < 4096 ? len - at : 4096;
        cr_assert_eq(hz_multipart_feed(&mp, body + at, n), 0);
    }
    cr_assert_eq(hz_multipart_finish(&mp), 0);
    cr_assert_eq(big.total, sizeof big_content);
    cr_assert_not(big.mismatch);
    cr_assert_geq(big.chunks, (sizeof big_content) / 4096);
}

Test(multipart, preamble_epilogue_padding)
{
    static const char body[] = "This is the preamble.\r\n--XyZ\r\n"
                               "--XyZ \t\r\n" /* a delimiter with transport padding... */
                               "Content-Disposition: form-data; name=a\r\n\r\n"
                               "1\r\n--XyZ--  epilogue\r\n--XyZ\r\ngarbage";
    /* ...but the preamble's "--XyZ\r\n" already opened a part whose header
     * block is the next line: that is malformed. */
    cr_assert_eq(parse("XyZ", S(body), &r1, &mp), HZ_EPROTO);
    static const char ok[] = "preamble line\r\n--not-it\r\n--XyZ \t\r\n"
                             "Content-Disposition: form-data; name=a\r\n\r\n"
                             "1\r\n--XyZ--  epilogue\r\n--XyZ\r\ngarbage";
    cr_assert_eq(parse("XyZ", S(ok), &r1, &mp), 0, "%s", hz_multipart_error(&mp));
    cr_assert_str_eq(r1.log, "{a|-|-}1<end>");
}

Test(multipart, empty_form_and_empty_values)
{
    cr_assert_eq(parse("b", S("--b--"), &r1, &mp), 0);
    cr_assert_str_eq(r1.log, "");
    cr_assert_eq(parse("b", S("--b--\r\n"), &r1, &mp), 0);
    static const char two[] = "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n"
                              "\r\n--b\r\nContent-Disposition: form-data; name=\"\"\r\n\r\n"
                              "v\r\n--b--";
    cr_assert_eq(parse("b", S(two), &r1, &mp), 0, "%s", hz_multipart_error(&mp));
    cr_assert_str_eq(r1.log, "{x|-|-}<end>{|-|-}v<end>");
}

Test(multipart, header_details)
{
    static const char body[] =
        "--b\r\n"
        "X-Other: whatever\r\n"
        "CONTENT-TYPE:   image/png  \r\n"
        "Content-Disposition: form-data ; name=\"up\\load\"; filename=\"C:\\dir\\p.png\"; "
        "filename*=UTF-8''x; foo=bar;\r\n"
        "\r\n"
        "PNG\r\n--b--";
    cr_assert_eq(parse("b", S(body), &r1, &mp), 0, "%s", hz_multipart_error(&mp));
    /* backslashes are literal, as browsers send them */
    cr_assert_str_eq(r1.log, "{up\\load|C:\\dir\\p.png|image/png}PNG<end>");
}

Test(multipart, hostile_bodies)
{
    static const struct {
        const char *body;
        int rc;
    } cases[] = {
        /* no delimiter at all / no final delimiter */
        {"just some text", HZ_EPROTO},
        {"", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nabc", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--b", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--b-", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--b\r\n", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=a\r\n", HZ_EPROTO},
        /* a delimiter followed by something else */
        {"--bx\r\n", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--bc--", HZ_EPROTO},
        {"--b-x", HZ_EPROTO},
        {"--b \tx", HZ_EPROTO},
        {"--b\rx", HZ_EPROTO},
        /* bad part headers */
        {"--b\r\n\r\ndata\r\n--b--", HZ_EPROTO},
        {"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", HZ_EPROTO},
        {"--b\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--b--", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; filename=f\r\n\r\nx\r\n--b--", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--b--", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\n--b--", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name = a\r\n\r\n--b--", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=\r\n\r\n--b--", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data name=a\r\n\r\n--b--", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=a\r\n"
         "Content-Disposition: form-data; name=b\r\n\r\n--b--",
         HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=a\r\nContent-Type: a\r\n"
         "Content-Type: b\r\n\r\n--b--",
         HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=a\r\n folded\r\n\r\n--b--", HZ_EPROTO},
        {"--b\r\nContent-Disposition : form-data; name=a\r\n\r\n--b--", HZ_EPROTO},
        {"--b\r\nno colon\r\n\r\n--b--", HZ_EPROTO},
        {"--b\r\n: empty name\r\n\r\n--b--", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=a\nX: y\r\n\r\n--b--", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=a\rX: y\r\n\r\n--b--", HZ_EPROTO},
        {"--b\r\n\n", HZ_EPROTO},
        {"--b\r\nContent-Disposition: form-data; name=a\r\nX: \x01\r\n\r\n--b--", HZ_EPROTO},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *b = cases[i].body;
        int rc = parse("b", b, strlen(b), &r1, &mp);
        cr_assert_eq(rc, cases[i].rc, "case %zu: %d", i, rc);
        cr_assert_not_null(hz_multipart_error(&mp), "case %zu", i);
        /* errors are sticky */
        cr_assert_eq(hz_multipart_feed(&mp, "x", 1), rc);
        cr_assert_eq(hz_multipart_finish(&mp), rc);
        /* byte by byte: the same error and the same callbacks before it */
        const char *why = hz_multipart_error(&mp);
        size_t loglen = r1.len;
        rec_init(&r2);
        cr_assert_eq(hz_multipart_init(&mp, S("b"), &cbs, &r2), 0);
        int rc2 = 0;
        for (size_t k = 0; b[k] && rc2 == 0; k++)
            rc2 = hz_multipart_feed(&mp, b + k, 1);
        if (rc2 == 0)
            rc2 = hz_multipart_finish(&mp);
        cr_assert_eq(rc2, rc, "case %zu bytewise", i);
        cr_assert_eq(hz_multipart_error(&mp), why, "case %zu bytewise", i);
        cr_assert_eq(r2.len, loglen);
        cr_assert_eq(memcmp(r1.log, r2.log, loglen), 0);
    }
}

Test(multipart, header_block_limit)
{
    char body[HZ_MULTIPART_HEADER_MAX + 256];
    /* a header block of exactly max_header bytes passes, one more fails */
    const char *pre = "--b\r\n";
    const char *cd = "Content-Disposition: form-data; name=a\r\nX-Pad: ";
    const char *tail = "\r\n\r\n";
    size_t fixed = strlen(cd) + strlen(tail);
    for (int extra = 0; extra <= 1; extra++) {
        size_t pad = HZ_MULTIPART_HEADER_MAX - fixed + (size_t)extra;
        size_t len = (size_t)snprintf(body, sizeof body, "%s%s", pre, cd);
        memset(body + len, 'p', pad);
        len += pad;
        len += (size_t)snprintf(body + len, sizeof body - len, "%sv\r\n--b--", tail);
        int rc = parse("b", body, len, &r1, &mp);
        cr_assert_eq(rc, extra ? HZ_ERANGE : 0, "extra %d: %s", extra, hz_multipart_error(&mp));
    }
    /* a lower limit set after init */
    rec_init(&r1);
    cr_assert_eq(hz_multipart_init(&mp, S("b"), &cbs, &r1), 0);
    mp.max_header = 32;
    static const char b2[] = "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n";
    cr_assert_eq(hz_multipart_feed(&mp, S(b2)), HZ_ERANGE);
    /* a limit above the buffer is capped at it */
    rec_init(&r1);
    cr_assert_eq(hz_multipart_init(&mp, S("b"), &cbs, &r1), 0);
    mp.max_header = HZ_MULTIPART_HEADER_MAX * 4;
    size_t len = (size_t)snprintf(body, sizeof body, "%s%s", pre, cd);
    memset(body + len, 'p', HZ_MULTIPART_HEADER_MAX);
    len += HZ_MULTIPART_HEADER_MAX;
    cr_assert_eq(hz_multipart_feed(&mp, body, len), HZ_ERANGE);
}

Test(multipart, part_count_limit)
{
    static char body[65536];
    size_t len = 0;
    for (int i = 0; i < HZ_MULTIPART_MAX_PARTS + 1; i++)
        len +=
            (size_t)snprintf(body + len, sizeof body - len,
                             "--b\r\nContent-Disposition: form-data; name=f%d\r\n\r\n%d\r\n", i, i);
    len += (size_t)snprintf(body + len, sizeof body - len, "--b--");
    cr_assert_eq(parse("b", body, len, &r1, &mp), HZ_EBUSY);
    /* the same body with one part fewer passes */
    hz_multipart_init(&mp, S("b"), &cbs, &r1);
    mp.max_parts = HZ_MULTIPART_MAX_PARTS + 1;
    rec_init(&r1);
    cr_assert_eq(hz_multipart_feed(&mp, body, len), 0);
    cr_assert_eq(hz_multipart_finish(&mp), 0);
    hz_multipart_init(&mp, S("b"), &cbs, &r1);
    mp.max_parts = 1;
    cr_assert_eq(hz_multipart_feed(&mp, body, len), HZ_EBUSY);
}

Test(multipart, padding_limit)
{
    char body[256];
    for (int n = 64; n <= 65; n++) {
        size_t len = (size_t)snprintf(body, sizeof body, "--b");
        memset(body + len, ' ', (size_t)n);
        len += (size_t)n;
        len += (size_t)snprintf(body + len, sizeof body - len,
                                "\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--b--");
        cr_assert_eq(parse("b", body, len, &r1, &mp), n <= 64 ? 0 : HZ_EPROTO, "pad %d", n);
    }
}

Test(multipart, callback_can_stop)
{
    rec_init(&r1);
    r1.stop_at_part = 1;
    cr_assert_eq(hz_multipart_init(&mp, S("XyZ"), &cbs, &r1), 0);
    r1.stop_at_part = 1;
    cr_assert_eq(hz_multipart_feed(&mp, S(body1)), -100);
    cr_assert_eq(hz_multipart_finish(&mp), -100);
    cr_assert_str_eq(r1.log, "{title|-|-}Hello\r\nWorld<end>");
}

Test(multipart, null_callbacks)
{
    cr_assert_eq(hz_multipart_init(&mp, S("XyZ"), NULL, NULL), 0);
    cr_assert_eq(hz_multipart_feed(&mp, S(body1)), 0);
    cr_assert_eq(hz_multipart_finish(&mp), 0);
}

Test(multipart, init_rejects_bad_boundaries)
{
    char b71[72];
    memset(b71, 'a', 71);
    cr_assert_eq(hz_multipart_init(&mp, b71, 70, &cbs, NULL), 0);
    cr_assert_eq(hz_multipart_init(&mp, b71, 71, &cbs, NULL), HZ_EINVAL);
    cr_assert_eq(hz_multipart_init(&mp, "", 0, &cbs, NULL), HZ_EINVAL);
    cr_assert_eq(hz_multipart_init(&mp, NULL, 0, &cbs, NULL), HZ_EINVAL);
    cr_assert_eq(hz_multipart_init(&mp, S("a\r\nb"), &cbs, NULL), HZ_EINVAL);
    cr_assert_eq(hz_multipart_init(&mp, S("ab "), &cbs, NULL), HZ_EINVAL);
    cr_assert_eq(hz_multipart_init(&mp, S("a\"b"), &cbs, NULL), HZ_EINVAL);
    /* a failed init leaves a parser that refuses input */
    cr_assert_eq(hz_multipart_feed(&mp, "x", 1), HZ_EINVAL);
    cr_assert_eq(hz_multipart_init(&mp, S("a b'()+_,-./:=?"), &cbs, NULL), 0);
}

static int boundary(const char *ct, const char *want)
{
    hz_str b = {NULL, 0};
    int rc = hz_multipart_boundary(ct, strlen(ct), &b);
    if (rc == 0 && want)
        cr_assert(b.len == strlen(want) && memcmp(b.ptr, want, b.len) == 0, "%s -> %.*s", ct,
                  (int)b.len, b.ptr);
    return rc;
}

Test(multipart, boundary_from_content_type)
{
    cr_assert_eq(boundary("multipart/form-data; boundary=abc", "abc"), 0);
    cr_assert_eq(boundary("Multipart/Form-Data;boundary=abc", "abc"), 0);
    cr_assert_eq(boundary("multipart/form-data; charset=utf-8; BOUNDARY=x-y", "x-y"), 0);
    cr_assert_eq(boundary("multipart/form-data; boundary=\"a b:c\"", "a b:c"), 0);
    cr_assert_eq(boundary("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
                          "----WebKitFormBoundary7MA4YWxkTrZu0gW"),
                 0);
    cr_assert_eq(boundary("  multipart/form-data ; boundary=abc ;", "abc"), 0);
    cr_assert_eq(boundary("multipart/mixed; boundary=abc", NULL), HZ_EINVAL);
    cr_assert_eq(boundary("text/plain; boundary=abc", NULL), HZ_EINVAL);
    cr_assert_eq(boundary("multipart/form-data", NULL), HZ_EINVAL);
    cr_assert_eq(boundary("multipart/form-data; boundary=", NULL), HZ_EINVAL);
    cr_assert_eq(boundary("multipart/form-data; boundary=\"\"", NULL), HZ_EINVAL);
    cr_assert_eq(boundary("multipart/form-data; boundary=\"abc", NULL), HZ_EINVAL);
    cr_assert_eq(boundary("multipart/form-data; boundary=\"a\\b\"", NULL), HZ_EINVAL);
    cr_assert_eq(boundary("multipart/form-data; boundary=\"ab \"", NULL), HZ_EINVAL);
    cr_assert_eq(boundary("multipart/form-data; boundary=a; boundary=b", NULL), HZ_EINVAL);
    cr_assert_eq(boundary("multipart/form-data; boundary = a", NULL), HZ_EINVAL);
    cr_assert_eq(boundary("multipart/form-data boundary=a", NULL), HZ_EINVAL);
    cr_assert_eq(boundary("multipart/form-datax; boundary=a", NULL), HZ_EINVAL);
    cr_assert_eq(boundary("", NULL), HZ_EINVAL);
    char ct[128];
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%070d", 0);
    cr_assert_eq(boundary(ct, NULL), 0);
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%071d", 0);
    cr_assert_eq(boundary(ct, NULL), HZ_EINVAL);
    hz_str b;
    cr_assert_eq(hz_multipart_boundary(NULL, 0, &b), HZ_EINVAL);
}
