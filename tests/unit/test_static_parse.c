/* test_static_parse.c - the static handler's pure helpers: byte ranges,
 * HTTP dates, entity-tag lists. Includes the source to reach its static
 * functions (the test then provides static.c's symbols itself). */
#include <string.h>
#include <criterion/criterion.h>
#include "../../core/handler/static.c"

static hz_str S(const char *s)
{
    hz_str v = {s, strlen(s)};
    return v;
}

static int rng(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    *off = *len = 777;
    return parse_range(S(h), size, off, len);
}

Test(range, single_forms)
{
    uint64_t o, l;
    cr_assert_eq(rng("bytes=0-4", 13, &o, &l), RANGE_OK);
    cr_assert(o == 0 && l == 5);
    cr_assert_eq(rng("bytes=6-", 13, &o, &l), RANGE_OK);
    cr_assert(o == 6 && l == 7);
    cr_assert_eq(rng("bytes=-3", 13, &o, &l), RANGE_OK);
    cr_assert(o == 10 && l == 3);
    cr_assert_eq(rng("bytes=-20", 13, &o, &l), RANGE_OK);
    cr_assert(o == 0 && l == 13);
    cr_assert_eq(rng("bytes=12-12", 13, &o, &l), RANGE_OK);
    cr_assert(o == 12 && l == 1);
    cr_assert_eq(rng("bytes=5-99999999999", 13, &o, &l), RANGE_OK);
    cr_assert(o == 5 && l == 8);
    cr_assert_eq(rng("BYTES= 1-2 ", 13, &o, &l), RANGE_OK);
    cr_assert(o == 1 && l == 2);
}

Test(range, unsatisfiable)
{
    uint64_t o, l;
    cr_assert_eq(rng("bytes=13-", 13, &o, &l), RANGE_UNSAT);
    cr_assert_eq(rng("bytes=13-20", 13, &o, &l), RANGE_UNSAT);
    cr_assert_eq(rng("bytes=-0", 13, &o, &l), RANGE_UNSAT);
    cr_assert_eq(rng("bytes=0-", 0, &o, &l), RANGE_UNSAT);
    cr_assert_eq(rng("bytes=-5", 0, &o, &l), RANGE_UNSAT);
}

Test(range, ignored)
{
    uint64_t o, l;
    static const char *const bad[] = {
        "bytes=0-1,3-4", "bytes=4-2", "bytes=",    "bytes=-",   "bytes=a-b",
        "bytes=1-2x",    "items=1-2", "bytes 1-2", "bytes=--1", "bytes=99999999999999999999999-",
        "bytes=1",       "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(rng(bad[i], 13, &o, &l), RANGE_NONE, "%s", bad[i]);
}

static int64_t date(const char *s)
{
    int64_t t = -1;
    if (parse_http_date(S(s), &t) < 0)
        return -1;
    return t;
}

Test(dates, three_formats)
{
    /* RFC 9110 §5.6.7's example: 784111777. */
    cr_assert_eq(date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    cr_assert_eq(date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    cr_assert_eq(date("Sun Nov  6 08:49:37 1994"), 784111777);
    cr_assert_eq(date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    cr_assert_eq(date("Sat, 29 Feb 2020 12:00:00 GMT"), 1582977600);
    cr_assert_eq(date("Sun, 06 Nov 1994 08:49:37 GMT trailing"), -1);
    cr_assert_eq(date("Sun, 06 Foo 1994 08:49:37 GMT"), -1);
    cr_assert_eq(date("Sun, 06 Nov 1994 25:49:37 GMT"), -1);
    cr_assert_eq(date("yesterday"), -1);
    cr_assert_eq(date(""), -1);
}

Test(dates, round_trip)
{
    char buf[64];
    for (int64_t t = 0; t < 4102444800; t += 86400 * 37 + 3671) {
        http_date(buf, sizeof(buf), (time_t)t);
        cr_assert_eq(date(buf), t, "%s", buf);
    }
}

Test(etags, lists)
{
    const char *e = "\"d-5f\"";
    cr_assert(etag_matches(S("\"d-5f\""), e));
    cr_assert(etag_matches(S("W/\"d-5f\""), e));
    cr_assert(etag_matches(S("\"a\", \"d-5f\""), e));
    cr_assert(etag_matches(S("\"a\",W/\"d-5f\" , \"b\""), e));
    cr_assert(etag_matches(S("*"), e));
    cr_assert_not(etag_matches(S("\"d-5\""), e));
    cr_assert_not(etag_matches(S("\"d-5f"), e));
    cr_assert_not(etag_matches(S("d-5f"), e));
    cr_assert_not(etag_matches(S(""), e));
}
