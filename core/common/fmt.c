/* fmt.c - dates (format and parse) and seconds; the number writers and
 * the string builder are inline in fmt.h. */
#include <time.h>
#include "fmt.h"

const char hz__fmt_digits2[200] = "00010203040506070809"
                                  "10111213141516171819"
                                  "20212223242526272829"
                                  "30313233343536373839"
                                  "40414243444546474849"
                                  "50515253545556575859"
                                  "60616263646566676869"
                                  "70717273747576777879"
                                  "80818283848586878889"
                                  "90919293949596979899";

const char hz__fmt_months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
const char hz__fmt_wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

/* RFC 850's day names (day-name-l). */
static const char *const wdays_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                          "Thursday", "Friday", "Saturday"};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The calendar repeats every 400 years (146097 days). Counting years from
 * March 1 puts the leap day at the end of a year, so the day of the year
 * maps to a month with one linear formula (153 days per 5 months). */
int64_t hz__fmt_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                                   /* 0..399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365 from March 1 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0..146096 */
    return era * 146097 + doe - 719468; /* 719468: 0000-03-01 to 1970-01-01 */
}

void hz__fmt_civil(int64_t t, hz__civil *out)
{
    int64_t days = t / 86400, secs = t % 86400; /* no overflow, INT64_MIN included */
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    out->hour = (unsigned)(secs / 3600);
    out->min = (unsigned)(secs / 60 % 60);
    out->sec = (unsigned)(secs % 60);
    int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    out->wday = (unsigned)(w < 0 ? w + 7 : w);
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    out->mday = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    out->mon = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    out->year = yoe + era * 400 + (out->mon <= 2);
}

static void put2(char *p, unsigned v)
{
    p[0] = hz__fmt_digits2[v * 2];
    p[1] = hz__fmt_digits2[v * 2 + 1];
}

static void put4(char *p, unsigned v)
{
    put2(p, v / 100);
    put2(p + 2, v % 100);
}

/* "hh:mm:ss" */
static void put_time(char *p, const hz__civil *c)
{
    put2(p, c->hour);
    p[2] = ':';
    put2(p + 3, c->min);
    p[5] = ':';
    put2(p + 6, c->sec);
}

size_t hz__fmt_http_date(char *p, int64_t t)
{
    hz__civil c;
    hz__fmt_civil(t, &c);
    if (c.year < 0 || c.year > 9999)
        return 0;
    memcpy(p, hz__fmt_wdays[c.wday], 3);
    p[3] = ',';
    p[4] = ' ';
    put2(p + 5, c.mday);
    p[7] = ' ';
    memcpy(p + 8, hz__fmt_months[c.mon - 1], 3);
    p[11] = ' ';
    put4(p + 12, (unsigned)c.year);
    p[16] = ' ';
    put_time(p + 17, &c);
    memcpy(p + 25, " GMT", 4);
    return HZ__FMT_HTTP_DATE_LEN;
}

size_t hz__fmt_clf_date(char *p, int64_t t)
{
    hz__civil c;
    hz__fmt_civil(t, &c);
    if (c.year < 0 || c.year > 9999)
        return 0;
    put2(p, c.mday);
    p[2] = '/';
    memcpy(p + 3, hz__fmt_months[c.mon - 1], 3);
    p[6] = '/';
    put4(p + 7, (unsigned)c.year);
    p[11] = ':';
    put_time(p + 12, &c);
    memcpy(p + 20, " +0000", 6);
    return HZ__FMT_CLF_DATE_LEN;
}

size_t hz__fmt_iso_date(char *p, int64_t t)
{
    hz__civil c;
    hz__fmt_civil(t, &c);
    if (c.year < 0 || c.year > 9999)
        return 0;
    put4(p, (unsigned)c.year);
    p[4] = '-';
    put2(p + 5, c.mon);
    p[7] = '-';
    put2(p + 8, c.mday);
    p[10] = 'T';
    put_time(p + 11, &c);
    p[19] = 'Z';
    return HZ__FMT_ISO_DATE_LEN;
}

size_t hz__fmt_ns_seconds(char *p, uint64_t ns, int trim)
{
    size_t n = hz__fmt_u64(p, ns / 1000000000u);
    uint64_t frac = ns % 1000000000u;
    if (trim && !frac)
        return n;
    p[n++] = '.';
    for (int i = 8; i >= 0; i--, frac /= 10u)
        p[n + (size_t)i] = (char)('0' + frac % 10u);
    n += 9;
    if (trim)
        while (p[n - 1] == '0')
            n--;
    return n;
}

/* ---- parsing --------------------------------------------------------------- */

/* n ASCII digits at s, or -1. */
static int digits(const char *s, unsigned n)
{
    int v = 0;
    for (unsigned i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* A three-letter month name (case-sensitive, RFC 9110 uses %s): 1-12, or 0. */
static unsigned month(const char *s)
{
    for (unsigned m = 0; m < 12; m++)
        if (!memcmp(s, hz__fmt_months[m], 3))
            return m + 1;
    return 0;
}

static int short_wday(const char *s)
{
    for (unsigned i = 0; i < 7; i++)
        if (!memcmp(s, hz__fmt_wdays[i], 3))
            return 1;
    return 0;
}

/* "hh:mm:ss" */
static int parse_time(const char *s, int *hh, int *mm, int *ss)
{
    if (s[2] != ':' || s[5] != ':')
        return -1;
    *hh = digits(s, 2);
    *mm = digits(s + 3, 2);
    *ss = digits(s + 6, 2);
    return *hh < 0 || *mm < 0 || *ss < 0 ? -1 : 0;
}

static int leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int hz__http_date_parse(const char *s, size_t len, int64_t now, int64_t *out)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t y;
    int d, hh, mm, ss;
    unsigned m;
    if (!s || !out)
        return HZ_EINVAL;
    if (len == 29 && s[3] == ',') {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        if (!short_wday(s) || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
            memcmp(s + 25, " GMT", 4))
            return HZ_EINVAL;
        d = digits(s + 5, 2);
        m = month(s + 8);
        y = digits(s + 12, 4);
        if (parse_time(s + 17, &hh, &mm, &ss) < 0)
            return HZ_EINVAL;
    } else if (len == 24 && s[3] == ' ') {
        /* asctime: "Sun Nov  6 08:49:37 1994" (day: 2DIGIT or SP DIGIT) */
        if (!short_wday(s) || s[7] != ' ' || s[10] != ' ' || s[19] != ' ')
            return HZ_EINVAL;
        m = month(s + 4);
        d = s[8] == ' ' ? digits(s + 9, 1) : digits(s + 8, 2);
        y = digits(s + 20, 4);
        if (parse_time(s + 11, &hh, &mm, &ss) < 0)
            return HZ_EINVAL;
    } else {
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        const char *comma = len > 6 ? memchr(s, ',', len < 10 ? len : 10) : NULL;
        if (!comma)
            return HZ_EINVAL;
        size_t wl = (size_t)(comma - s);
        int ok = 0;
        for (unsigned i = 0; i < 7; i++)
            if (strlen(wdays_long[i]) == wl && !memcmp(s, wdays_long[i], wl))
                ok = 1;
        const char *r = comma + 1;
        if (!ok || len - wl != 24 || r[0] != ' ' || r[3] != '-' || r[7] != '-' || r[10] != ' ' ||
            r[19] != ' ' || memcmp(r + 20, "GMT", 3))
            return HZ_EINVAL;
        d = digits(r + 1, 2);
        m = month(r + 4);
        int yy = digits(r + 8, 2);
        if (yy < 0 || parse_time(r + 11, &hh, &mm, &ss) < 0)
            return HZ_EINVAL;
        /* RFC 9110 §5.6.7: a year more than 50 years ahead is in the past. */
        hz__civil c;
        hz__fmt_civil(now, &c);
        y = c.year - c.year % 100 + yy;
        if (y > c.year + 50)
            y -= 100;
        else if (y <= c.year - 50)
            y += 100;
    }
    if (d < 1 || !m || y < 0 || y > 9999 || hh > 23 || mm > 59 || ss > 60)
        return HZ_EINVAL;
    if (d > mdays[m - 1] + (m == 2 && leap(y)))
        return HZ_EINVAL;
    /* ss 60 is a leap second (RFC 5322 §3.3): the next second for us. */
    *out = hz__fmt_days_from_civil(y, m, (unsigned)d) * 86400 + hh * 3600 + mm * 60 + ss;
    return 0;
}

/* ---- public ------------------------------------------------------------- */

long hz_http_date_format(int64_t t, char *buf, size_t len)
{
    if (!buf)
        return HZ_EINVAL;
    if (len <= HZ__FMT_HTTP_DATE_LEN)
        return HZ_ERANGE;
    size_t n = hz__fmt_http_date(buf, t);
    if (!n)
        return HZ_EINVAL;
    buf[n] = 0;
    return (long)n;
}

int hz_http_date_parse(const char *s, size_t len, int64_t *out)
{
    return hz__http_date_parse(s, len, (int64_t)time(NULL), out);
}
