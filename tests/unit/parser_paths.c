/* parser_paths.c - every scanning path this build and CPU can run (scalar,
 * SSE2, SSSE3 or NEON) gives the same results as the scalar one: on the
 * conformance inputs, on every byte value at every position of a path and
 * of a query, and on random mutations of realistic heads. Built with
 * core/proto/parser.c compiled with HZ_PARSER_SELECTABLE
 * (unit_test_parser_paths, see parser_scalar.cmake). */
#include <stdio.h>
#include "parser_testutil.h"

typedef struct pc_seg {
    const char *s;
    size_t len;
    size_t times;
} pc_seg;

typedef struct pc_case {
    const char *id;
    const pc_seg *segs;
    size_t nsegs;
    const char *allowed;
} pc_case;

#include "parser_conformance_cases.h"

static const char *const all_paths[] = {"scalar", "sse2", "ssse3", "neon"};

/* The paths available here, scalar first; returns how many. */
static size_t available_paths(const char **out)
{
    size_t n = 0;
    for (size_t k = 0; k < HZ__ARRAY_LEN(all_paths); k++)
        if (hz__parser_select(all_paths[k]) == 0)
            out[n++] = all_paths[k];
    hz__parser_select(NULL);
    return n;
}

Test(parser_paths, each_path_can_be_selected)
{
    const char *paths[4];
    size_t n = available_paths(paths);
    cr_assert_str_eq(paths[0], "scalar");
#if defined(__x86_64__)
    cr_assert_geq(n, 2, "x86-64 always has SSE2");
#elif defined(__aarch64__)
    cr_assert_geq(n, 2, "aarch64 always has NEON");
#endif
    for (size_t k = 0; k < n; k++) {
        cr_assert_eq(hz__parser_select(paths[k]), 0);
        cr_assert_str_eq(hz__parser_simd(), paths[k]);
    }
    cr_assert_eq(hz__parser_select("avx9"), -1);
    hz__parser_select(NULL);
    cr_assert_str_neq(hz__parser_simd(), "");
}

/* Parses req whole with each path (and in every split with each path
 * when splits), asserting all agree with the scalar path. Returns the
 * scalar result's rc and error. */
static int parse_all_paths(const char *req, size_t len, int splits, hz__perr *err)
{
    const char *paths[4];
    size_t n = available_paths(paths);
    pt_result ref, r;
    int rc;

    cr_assert_eq(hz__parser_select("scalar"), 0);
    if (splits) {
        pt_parse(req, len, &pt_limits, &ref);
    } else {
        pt_result_init(&ref, &pt_limits);
        pt_parse_steps(req, len, &pt_limits, &len, 1, 0, &ref);
    }
    for (size_t k = 1; k < n; k++) {
        cr_assert_eq(hz__parser_select(paths[k]), 0);
        if (splits) {
            pt_parse(req, len, &pt_limits, &r);
        } else {
            pt_result_init(&r, &pt_limits);
            pt_parse_steps(req, len, &pt_limits, &len, 1, 0, &r);
        }
        pt_assert_same(&ref, &r, paths[k], 0);
        pt_result_free(&r);
    }
    hz__parser_select(NULL);
    rc = ref.rc;
    if (err)
        *err = ref.err;
    pt_result_free(&ref);
    return rc;
}

Test(parser_paths, conformance_inputs_agree, .timeout = 240)
{
    size_t accepted = 0, rejected = 0;
    for (size_t k = 0; k < HZ__ARRAY_LEN(pc_cases); k++) {
        const pc_case *c = &pc_cases[k];
        size_t n = 0, at = 0;
        for (size_t s = 0; s < c->nsegs; s++)
            n += c->segs[s].len * c->segs[s].times;
        char *req = malloc(n ? n : 1);
        cr_assert_not_null(req);
        for (size_t s = 0; s < c->nsegs; s++)
            for (size_t t = 0; t < c->segs[s].times; t++) {
                memcpy(req + at, c->segs[s].s, c->segs[s].len);
                at += c->segs[s].len;
            }
        /* every split for the short ones, whole for the rest */
        int rc = parse_all_paths(req, n, n <= 512, NULL);
        accepted += rc > 0;
        rejected += rc == HZ_EPROTO;
        free(req);
    }
    cr_assert_gt(accepted, 50);
    cr_assert_gt(rejected, 50);
}

/* Whether byte c may appear raw in a path (in_query 0) or a query. */
static int allowed_in(unsigned c, int in_query)
{
    if (c < 0x21 || c > 0x7e || c == '#' || c == '%')
        return 0;
    if (c == '"' || c == '<' || c == '>')
        return 0;
    if (!in_query && (c == '\\' || c == '`' || c == '{' || c == '}'))
        return 0;
    return 1;
}

/* Every byte value at every position 0..47 of a path and of a query, so
 * each lands in every lane of a 16-byte block and in the scalar tail. */
Test(parser_paths, every_target_byte_everywhere, .timeout = 240)
{
    char req[256];
    for (int in_query = 0; in_query < 2; in_query++)
        for (unsigned c = 0; c < 256; c++)
            for (int pos = 0; pos < 48; pos++) {
                int n = snprintf(req, sizeof(req), "GET /%s", in_query ? "p?" : "");
                memset(req + n, 'x', (size_t)pos);
                n += pos;
                req[n++] = (char)c;
                n += snprintf(req + n, sizeof(req) - (size_t)n,
                              "yyyyyyyyyyyyyyyyyyyy HTTP/1.1\r\nHost: h\r\n\r\n");
                hz__perr err;
                int rc = parse_all_paths(req, (size_t)n, 0, &err);
                if (c == ' ')
                    continue; /* ends the target: the version is then wrong */
                if (allowed_in(c, in_query))
                    cr_assert_eq(rc, n, "byte 0x%02x at %d (query %d): %d %s", c, pos, in_query, rc,
                                 hz__perr_name(err));
                else
                    cr_assert_eq(rc, HZ_EPROTO, "byte 0x%02x at %d (query %d) accepted", c, pos,
                                 in_query);
            }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

static const char *const templates[] = {
    "GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "GET /v2/status?verbose=1&x=%41%42 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    "User-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
    "POST /api/v1/orders?dry_run=true HTTP/1.1\r\nHost: api.example.com\r\n"
    "Content-Type: application/json\r\nContent-Length: 348\r\n"
    "Authorization: Bearer 4f9a1c2e8b7d6c5a3b2c1\r\n\r\n",
    "GET http://www.example.com:8080/a/b/c/d/e/f/g/h/index.html?q=a+b&r=[1]|^ HTTP/1.1\r\n"
    "Host: www.example.com:8080\r\nConnection: keep-alive, Upgrade\r\n\r\n",
    "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n"
    "Expect: 100-continue\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    "GET /static/js/app.3f9a1c2e.js?v=20261125&cb={x}&s=\\`~ HTTP/1.0\r\n"
    "Referer: https://www.example.com/account/settings?tab=profile\r\n"
    "Cookie: session=6f1c2a9e8b7d4c3a2f1e0d9c8b7a6f5e; theme=dark\r\n\r\n",
};

static const unsigned char spicy[] = {'?',  '%',  '"',  '<', '>',  '\\', '`', '{',  '}', '#', 0x7f,
                                      0x80, 0xff, '\t', ' ', '\r', '\n', 0,   'a',  '0', 'F', ':',
                                      '/',  '[',  '|',  '~', '=',  '&',  ';', 0x1f, 0x21};

static unsigned char pick_byte(void)
{
    return rnd(4) ? spicy[rnd(sizeof(spicy))] : (unsigned char)rnd(256);
}

Test(parser_paths, random_inputs_agree, .timeout = 240)
{
    char req[512];
    size_t accepted = 0, rejected = 0;
    for (int iter = 0; iter < 6000; iter++) {
        const char *t = templates[rnd(HZ__ARRAY_LEN(templates))];
        size_t n = strlen(t);
        memcpy(req, t, n);
        for (unsigned m = rnd(4) + 1; m > 0; m--) {
            size_t at = rnd((unsigned)n);
            /* mutate the request line more often: the target is the path
             * that differs most between scanners */
            if (rnd(2)) {
                const char *sp = memchr(req, ' ', n);
                size_t lo = sp ? (size_t)(sp - req) : 0;
                size_t span = n - lo > 60 ? 60 : n - lo;
                at = lo + rnd((unsigned)span);
            }
            switch (rnd(3)) {
            case 0:
                req[at] = (char)pick_byte();
                break;
            case 1:
                if (n < sizeof(req) - 1) {
                    memmove(req + at + 1, req + at, n - at);
                    req[at] = (char)pick_byte();
                    n++;
                }
                break;
            default:
                if (n > 1) {
                    memmove(req + at, req + at + 1, n - at - 1);
                    n--;
                }
                break;
            }
        }
        int rc = parse_all_paths(req, n, iter % 16 == 0, NULL);
        accepted += rc > 0;
        rejected += rc == HZ_EPROTO;
    }
    /* the mix must exercise both verdicts */
    cr_assert_gt(accepted, 300, "%zu accepted", accepted);
    cr_assert_gt(rejected, 1000, "%zu rejected", rejected);
}
