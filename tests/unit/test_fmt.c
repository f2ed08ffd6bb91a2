/* test_fmt.c - core/common/fmt: numbers, HTTP dates (format and parse), the
 * log's dates, seconds, the string builder; checked against libc. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "fmt.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    /* xorshift64*: deterministic, so a failure repeats */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717u;
}

static void check_u64(uint64_t v)
{
    char got[HZ__FMT_U64_MAX + 1], want[32];
    size_t n = hz__fmt_u64(got, v);
    got[n] = 0;
    snprintf(want, sizeof(want), "%" PRIu64, v);
    cr_assert_str_eq(got, want, "u64 %s", want);
    char h[HZ__FMT_HEX_MAX + 1];
    n = hz__fmt_hex(h, v);
    h[n] = 0;
    snprintf(want, sizeof(want), "%" PRIx64, v);
    cr_assert_str_eq(h, want);
    int64_t s = (int64_t)v;
    n = hz__fmt_i64(got, s);
    got[n] = 0;
    snprintf(want, sizeof(want), "%" PRId64, s);
    cr_assert_str_eq(got, want);
}

Test(fmt, numbers)
{
    uint64_t p = 1;
    check_u64(0);
    for (int i = 0; i < 20; i++) {
        check_u64(p - 1);
        check_u64(p);
        check_u64(p + 1);
        if (i < 19)
            p *= 10;
    }
    for (int i = 0; i < 64; i++) {
        check_u64((uint64_t)1 << i);
        check_u64(((uint64_t)1 << i) - 1);
    }
    check_u64(UINT64_MAX);
    check_u64((uint64_t)INT64_MIN);
    check_u64((uint64_t)INT64_MAX);
    for (int i = 0; i < 200000; i++) {
        uint64_t v = rng();
        check_u64(v >> (v & 63));
    }
    for (uint64_t v = 0; v < 100000; v++)
        check_u64(v);
}

static void check_date(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    cr_assert(gmtime_r(&tt, &tm));
    char want[64], got[64];
    strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    size_t n = hz__fmt_http_date(got, t);
    cr_assert_eq(n, HZ__FMT_HTTP_DATE_LEN, "%s", want);
    got[n] = 0;
    cr_assert_str_eq(got, want);
    int64_t back = -1;
    cr_assert_eq(hz__http_date_parse(got, n, t, &back), 0, "%s", got);
    cr_assert_eq(back, t, "%s", got);
    /* the two obsolete forms of the same instant */
    char wd[16], mon[8], hms[16];
    strftime(wd, sizeof(wd), "%A", &tm);
    strftime(mon, sizeof(mon), "%b", &tm);
    strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
    snprintf(want, sizeof(want), "%s, %02d-%s-%02d %s GMT", wd, tm.tm_mday, mon,
             (tm.tm_year + 1900) % 100, hms);
    cr_assert_eq(hz__http_date_parse(want, strlen(want), t, &back), 0, "%s", want);
    cr_assert_eq(back, t, "%s", want);
    strftime(want, sizeof(want), "%a %b %e %H:%M:%S %Y", &tm);
    cr_assert_eq(hz__http_date_parse(want, strlen(want), t, &back), 0, "%s", want);
    cr_assert_eq(back, t, "%s", want);
    strftime(want, sizeof(want), "%d/%b/%Y:%H:%M:%S +0000", &tm);
    n = hz__fmt_clf_date(got, t);
    cr_assert_eq(n, HZ__FMT_CLF_DATE_LEN);
    got[n] = 0;
    cr_assert_str_eq(got, want);
    strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
    n = hz__fmt_iso_date(got, t);
    cr_assert_eq(n, HZ__FMT_ISO_DATE_LEN);
    got[n] = 0;
    cr_assert_str_eq(got, want);
}

Test(fmt, http_date_every_day_1900_to_2400)
{
    /* Every day (so every month, weekday, leap day and century rule) at a
     * time of day that moves, against gmtime_r/strftime, and back. */
    int64_t from = -2208988800; /* 1900-01-01 */
    int64_t to = 13569465600;   /* 2400-01-01 */
    int64_t secs = 0;
    unsigned wdays = 0, months = 0;
    for (int64_t day = from; day < to; day += 86400) {
        int64_t t = day + secs;
        secs = (secs + 3607) % 86400;
        check_date(t);
        hz__civil c;
        hz__fmt_civil(t, &c);
        wdays |= 1u << c.wday;
        months |= 1u << (c.mon - 1);
    }
    cr_assert_eq(wdays, 0x7fu);
    cr_assert_eq(months, 0xfffu);
}

Test(fmt, http_date_fixed_points)
{
    char b[40];
    cr_assert_eq(hz_http_date_format(0, b, sizeof(b)), HZ_HTTP_DATE_LEN);
    cr_assert_str_eq(b, "Thu, 01 Jan 1970 00:00:00 GMT");
    cr_assert_eq(hz_http_date_format(784111777, b, sizeof(b)), 29);
    cr_assert_str_eq(b, "Sun, 06 Nov 1994 08:49:37 GMT"); /* RFC 9110's example */
    cr_assert_eq(hz_http_date_format(2147483647, b, sizeof(b)), 29);
    cr_assert_str_eq(b, "Tue, 19 Jan 2038 03:14:07 GMT");
    cr_assert_eq(hz_http_date_format(2147483648, b, sizeof(b)), 29);
    cr_assert_str_eq(b, "Tue, 19 Jan 2038 03:14:08 GMT");
    cr_assert_eq(hz_http_date_format(4294967296, b, sizeof(b)), 29);
    cr_assert_str_eq(b, "Sun, 07 Feb 2106 06:28:16 GMT");
    cr_assert_eq(hz_http_date_format(-1, b, sizeof(b)), 29);
    cr_assert_str_eq(b, "Wed, 31 Dec 1969 23:59:59 GMT");
    cr_assert_eq(hz_http_date_format(951782400, b, sizeof(b)), 29);
    cr_assert_str_eq(b, "Tue, 29 Feb 2000 00:00:00 GMT");
    cr_assert_eq(hz_http_date_format(253402300799, b, sizeof(b)), 29);
    cr_assert_str_eq(b, "Fri, 31 Dec 9999 23:59:59 GMT");
    cr_assert_eq(hz_http_date_format(253402300800, b, sizeof(b)), HZ_EINVAL); /* year 10000 */
    cr_assert_eq(hz_http_date_format(-62167219200, b, sizeof(b)), 29);
    cr_assert_str_eq(b, "Sat, 01 Jan 0000 00:00:00 GMT");
    cr_assert_eq(hz_http_date_format(-62167219201, b, sizeof(b)), HZ_EINVAL);
    cr_assert_eq(hz_http_date_format(INT64_MAX, b, sizeof(b)), HZ_EINVAL);
    cr_assert_eq(hz_http_date_format(INT64_MIN, b, sizeof(b)), HZ_EINVAL);
    cr_assert_eq(hz_http_date_format(0, b, 29), HZ_ERANGE); /* no room for the NUL */
    cr_assert_eq(hz_http_date_format(0, b, 30), 29);
    cr_assert_eq(hz_http_date_format(0, NULL, 30), HZ_EINVAL);
    int64_t t;
    cr_assert_eq(hz_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", 29, &t), 0);
    cr_assert_eq(t, 784111777);
    cr_assert_eq(hz_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", 30, &t), 0);
    cr_assert_eq(t, 784111777);
    cr_assert_eq(hz_http_date_parse("Sun Nov  6 08:49:37 1994", 24, &t), 0);
    cr_assert_eq(t, 784111777);
    cr_assert_eq(hz_http_date_parse("Sun Nov 06 08:49:37 1994", 24, &t), 0); /* 2DIGIT */
    cr_assert_eq(t, 784111777);
    cr_assert_eq(hz_http_date_parse("Tue, 19 Jan 2038 03:14:08 GMT", 29, &t), 0);
    cr_assert_eq(t, 2147483648);
    cr_assert_eq(hz_http_date_parse("Thu, 01 Jan 1970 00:00:00 GMT", 29, &t), 0);
    cr_assert_eq(t, 0);
    cr_assert_eq(hz_http_date_parse("Wed, 31 Dec 1969 23:59:59 GMT", 29, &t), 0);
    cr_assert_eq(t, -1);
    /* leap second: accepted, the next second */
    cr_assert_eq(hz_http_date_parse("Sat, 31 Dec 2016 23:59:60 GMT", 29, &t), 0);
    cr_assert_eq(t, 1483228800);
}

Test(fmt, rfc850_year_window)
{
    /* RFC 9110 §5.6.7: a two-digit year more than 50 years ahead of now is
     * the most recent past year with those digits. */
    int64_t now2026 = 1796083200; /* 2026-12-01 */
    int64_t t;
    cr_assert_eq(hz__http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", 30, now2026, &t), 0);
    cr_assert_eq(t, 784111777); /* 1994 */
    cr_assert_eq(hz__http_date_parse("Friday, 01-Jan-76 00:00:00 GMT", 30, now2026, &t), 0);
    hz__civil c;
    hz__fmt_civil(t, &c);
    cr_assert_eq(c.year, 2076);
    cr_assert_eq(hz__http_date_parse("Saturday, 01-Jan-77 00:00:00 GMT", 32, now2026, &t), 0);
    hz__fmt_civil(t, &c);
    cr_assert_eq(c.year, 1977);
    cr_assert_eq(hz__http_date_parse("Saturday, 01-Jan-00 00:00:00 GMT", 32, now2026, &t), 0);
    hz__fmt_civil(t, &c);
    cr_assert_eq(c.year, 2000);
    int64_t now2090 = 3802291200; /* 2090-06-28 */
    cr_assert_eq(hz__http_date_parse("Saturday, 01-Jan-05 00:00:00 GMT", 32, now2090, &t), 0);
    hz__fmt_civil(t, &c);
    cr_assert_eq(c.year, 2105);
    cr_assert_eq(hz__http_date_parse("Saturday, 01-Jan-41 00:00:00 GMT", 32, now2090, &t), 0);
    hz__fmt_civil(t, &c);
    cr_assert_eq(c.year, 2041);
    /* near year 9999 the window would reach 10005: refused, not overflowed */
    int64_t now9990 = hz__fmt_days_from_civil(9990, 6, 1) * 86400;
    cr_assert_eq(hz__http_date_parse("Sunday, 01-Jan-05 00:00:00 GMT", 30, now9990, &t), HZ_EINVAL);
    cr_assert_eq(hz__http_date_parse("Monday, 01-Jan-95 00:00:00 GMT", 30, now9990, &t), 0);
    hz__fmt_civil(t, &c);
    cr_assert_eq(c.year, 9995);
    cr_assert_eq(hz__http_date_parse("Monday, 01-Jan-95 00:00:00 GMT", 30, INT64_MAX, &t),
                 HZ_EINVAL);
}

Test(fmt, bad_dates_rejected)
{
    static const char *const bad[] = {
        "",
        "Sun, 06 Nov 1994 08:49:37 GM",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        " Sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "sun, 06 Nov 1994 08:49:37 GMT", /* names are case-sensitive */
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 06 NOV 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Noo 1994 08:49:37 GMT",
        "Sun,  6 Nov 1994 08:49:37 GMT", /* IMF day is 2DIGIT */
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37GMT ",
        "Sun, 06 Nov 1994 08-49-37 GMT",
        "Sun, 06-Nov-1994 08:49:37 GMT",
        "Sun, 0x Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 19x4 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:4x:37 GMT",
        "Sun, 06 Nov -994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT", /* day 0 */
        "Sun, 31 Nov 1994 08:49:37 GMT", /* November has 30 */
        "Sun, 32 Jan 1994 08:49:37 GMT",
        "Thu, 29 Feb 1900 00:00:00 GMT", /* 1900: no leap day */
        "Mon, 29 Feb 2100 00:00:00 GMT",
        "Sun, 29 Feb 2026 00:00:00 GMT",
        "Mon, 30 Feb 2004 00:00:00 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 23:60:00 GMT",
        "Sun, 06 Nov 1994 23:59:61 GMT",
        "Sun, 06 Nov 1994 99:99:99 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT ",
        "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sundae, 06-Nov-94 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT", /* RFC 850 wants the long name */
        "sunday, 06-Nov-94 08:49:37 GMT",
        "Sunday, 31-Apr-94 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 UTC",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov  6 08:49:37 1994 ",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov   08:49:37 1994",
        "Sun Nov  0 08:49:37 1994",
        "Sun Feb 30 08:49:37 1994",
        "Sun Nov  6 08:49:37 199x",
        "Sunday Nov  6 08:49:37 1994",
        "1994-11-06T08:49:37Z",
        "784111777",
        "Wednesday,",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t = 42;
        cr_assert_eq(hz_http_date_parse(bad[i], strlen(bad[i]), &t), HZ_EINVAL, "accepted [%s]",
                     bad[i]);
        cr_assert_eq(t, 42);
    }
    int64_t t;
    cr_assert_eq(hz_http_date_parse(NULL, 29, &t), HZ_EINVAL);
    cr_assert_eq(hz_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", 29, NULL), HZ_EINVAL);
    /* leap days that exist */
    cr_assert_eq(hz_http_date_parse("Tue, 29 Feb 2000 00:00:00 GMT", 29, &t), 0);
    cr_assert_eq(hz_http_date_parse("Thu, 29 Feb 2024 00:00:00 GMT", 29, &t), 0);
    /* the day name is not checked against the date (documented) */
    cr_assert_eq(hz_http_date_parse("Mon, 06 Nov 1994 08:49:37 GMT", 29, &t), 0);
    /* every truncation of a good date is refused */
    const char *good = "Sunday, 06-Nov-94 08:49:37 GMT";
    for (size_t n = 0; n < strlen(good); n++)
        cr_assert_eq(hz_http_date_parse(good, n, &t), HZ_EINVAL, "%zu", n);
    good = "Sun, 06 Nov 1994 08:49:37 GMT";
    for (size_t n = 0; n < strlen(good); n++)
        cr_assert_eq(hz_http_date_parse(good, n, &t), HZ_EINVAL, "%zu", n);
}

Test(fmt, ns_seconds)
{
    static const uint64_t v[] = {
        0,      1,       999999999,      1000000000, 1500000000,  100000,
        250000, 2500000, 10000000000ull, UINT64_MAX, 60000000000, 123456789012ull};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char got[40], want[48];
        size_t n = hz__fmt_ns_seconds(got, v[i], 0);
        got[n] = 0;
        snprintf(want, sizeof(want), "%" PRIu64 ".%09" PRIu64, v[i] / 1000000000u,
                 v[i] % 1000000000u);
        cr_assert_str_eq(got, want);
    }
    /* trimmed: what %g prints for the latency bucket bounds */
    static const uint64_t b[] = {
        100000,     250000,     500000,     1000000,        2500000,        5000000,
        10000000,   25000000,   50000000,   100000000,      250000000,      500000000,
        1000000000, 2500000000, 5000000000, 10000000000ull, 30000000000ull, 60000000000ull};
    for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
        char got[40], want[48];
        size_t n = hz__fmt_ns_seconds(got, b[i], 1);
        got[n] = 0;
        snprintf(want, sizeof(want), "%g", (double)b[i] / 1e9);
        cr_assert_str_eq(got, want);
    }
    char got[40];
    size_t n = hz__fmt_ns_seconds(got, 0, 1);
    cr_assert_eq(n, 1);
    cr_assert_eq(got[0], '0');
}

Test(fmt, string_builder)
{
    char buf[8];
    hz__sb b;
    hz__sb_init(&b, buf, sizeof(buf));
    hz__sb_str(&b, "abc");
    hz__sb_u64(&b, 1234);
    cr_assert_eq(hz__sb_end(&b), 7); /* exactly full: 7 bytes and the NUL */
    cr_assert_str_eq(buf, "abc1234");
    hz__sb_init(&b, buf, sizeof(buf));
    hz__sb_str(&b, "abc");
    hz__sb_u64(&b, 12345); /* one byte too many */
    cr_assert_eq(hz__sb_end(&b), HZ_ERANGE);
    hz__sb_init(&b, buf, sizeof(buf));
    hz__sb_str(&b, "abcdefgh"); /* no room for the NUL */
    hz__sb_ch(&b, 'x');         /* sticky: nothing after a failure */
    cr_assert_eq(hz__sb_end(&b), HZ_ERANGE);
    hz__sb_init(&b, buf, sizeof(buf));
    hz__sb_str(&b, "abcdefghi");
    hz__sb_str(&b, "x"); /* would fit on its own: still refused */
    cr_assert_eq(b.len, 0);
    cr_assert_eq(hz__sb_end(&b), HZ_ERANGE);
    hz__sb_init(&b, buf, 0);
    cr_assert_eq(hz__sb_end(&b), HZ_ERANGE);
    char big[64];
    hz__sb_init(&b, big, sizeof(big));
    hz__sb_i64(&b, INT64_MIN);
    hz__sb_ch(&b, ' ');
    hz__sb_hex(&b, 0xdeadbeefu);
    hz__sb_ch(&b, ' ');
    hz__sb_i64(&b, 42);
    cr_assert_eq(hz__sb_end(&b), 32);
    cr_assert_str_eq(big, "-9223372036854775808 deadbeef 42");
}
