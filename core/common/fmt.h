/* fmt.h - the one formatter of each text format the core writes: decimal
 * and hex numbers, HTTP dates (format and parse), the access log's dates,
 * seconds from nanoseconds, and a bounded string builder (internal).
 *
 * The number writers are inline: the response head calls them per request.
 * None allocates or reads the locale, so all are thread: any. */
#ifndef HZ__FMT_H
#define HZ__FMT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "internal.h"

#define HZ__FMT_U64_MAX 20       /* digits of UINT64_MAX */
#define HZ__FMT_I64_MAX 20       /* "-9223372036854775808" */
#define HZ__FMT_HEX_MAX 16       /* hex digits of UINT64_MAX */
#define HZ__FMT_HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */
#define HZ__FMT_CLF_DATE_LEN 26  /* "06/Nov/1994:08:49:37 +0000" */
#define HZ__FMT_ISO_DATE_LEN 20  /* "1994-11-06T08:49:37Z" */

/** "00".."99": two digits per table read. */
HZ__HIDDEN extern const char hz__fmt_digits2[200];
/** "Jan".."Dec", "Sun".."Sat" (RFC 9110 §5.6.7; also the CLF month). */
HZ__HIDDEN extern const char hz__fmt_months[12][4];
HZ__HIDDEN extern const char hz__fmt_wdays[7][4];

/** Writes the decimal digits of v at p (no NUL; at most HZ__FMT_U64_MAX
 *  bytes); returns how many. */
static inline size_t hz__fmt_u64(char *p, uint64_t v)
{
    /* Count the digits first, then fill from the right two at a time. */
    size_t n = 1;
    for (uint64_t t = v; t >= 10u; t /= 10u)
        n++;
    char *q = p + n;
    while (v >= 100u) {
        unsigned r = (unsigned)(v % 100u) * 2u;
        v /= 100u;
        *--q = hz__fmt_digits2[r + 1];
        *--q = hz__fmt_digits2[r];
    }
    if (v >= 10u) {
        *--q = hz__fmt_digits2[v * 2u + 1];
        *--q = hz__fmt_digits2[v * 2u];
    } else {
        *--q = (char)('0' + v);
    }
    return n;
}

/** Signed decimal ("-" then the magnitude; INT64_MIN included). */
static inline size_t hz__fmt_i64(char *p, int64_t v)
{
    if (v >= 0)
        return hz__fmt_u64(p, (uint64_t)v);
    *p = '-';
    return 1 + hz__fmt_u64(p + 1, (uint64_t)0 - (uint64_t)v);
}

/** Lower-case hex digits of v without leading zeros ("0" for 0); at most
 *  HZ__FMT_HEX_MAX bytes, no NUL. Returns how many. */
static inline size_t hz__fmt_hex(char *p, uint64_t v)
{
    size_t n = 1;
    for (uint64_t t = v; t >= 16u; t >>= 4)
        n++;
    for (size_t i = n; i-- > 0; v >>= 4)
        p[i] = "0123456789abcdef"[v & 15u];
    return n;
}

/** A UTC date and time broken down (proleptic Gregorian calendar). */
typedef struct hz__civil {
    int64_t year;
    unsigned mon;  /* 1-12 */
    unsigned mday; /* 1-31 */
    unsigned hour, min, sec;
    unsigned wday; /* 0 = Sunday */
} hz__civil;

/** Breaks Unix time t (any int64 whose year fits int64) into *out. */
HZ__HIDDEN void hz__fmt_civil(int64_t t, hz__civil *out);
/** Days since 1970-01-01 of y-m-d (m 1-12, d 1-31; not range-checked). */
HZ__HIDDEN int64_t hz__fmt_days_from_civil(int64_t y, unsigned m, unsigned d);

/** IMF-fixdate (RFC 9110 §5.6.7) of t at p: HZ__FMT_HTTP_DATE_LEN bytes, no
 *  NUL. Returns the length, or 0 when the year is outside 0000-9999. */
HZ__HIDDEN size_t hz__fmt_http_date(char *p, int64_t t);
/** Parses an HTTP-date: IMF-fixdate, or the obsolete RFC 850 and asctime
 *  forms, exactly (no surrounding blanks). now (Unix seconds) places an
 *  RFC 850 two-digit year within 50 years of it. 0 and *out, or HZ_EINVAL. */
HZ__HIDDEN int hz__http_date_parse(const char *s, size_t len, int64_t now, int64_t *out);
/** The combined log's "06/Nov/1994:08:49:37 +0000" (HZ__FMT_CLF_DATE_LEN
 *  bytes, no NUL); 0 outside years 0000-9999. */
HZ__HIDDEN size_t hz__fmt_clf_date(char *p, int64_t t);
/** ISO 8601 / RFC 3339 UTC "1994-11-06T08:49:37Z" (HZ__FMT_ISO_DATE_LEN
 *  bytes, no NUL); 0 outside years 0000-9999. */
HZ__HIDDEN size_t hz__fmt_iso_date(char *p, int64_t t);
/** ns as decimal seconds with 9 decimals ("1.500000000"), exact (no
 *  floating point); trim drops trailing zeros and a bare point ("1.5",
 *  "0.00025", "10"). At most 30 bytes, no NUL. Returns the length. */
HZ__HIDDEN size_t hz__fmt_ns_seconds(char *p, uint64_t ns, int trim);

/* ---- bounded string builder --------------------------------------------- */

/** Appends into a caller buffer; once something did not fit, every later
 *  append is ignored and hz__sb_end reports HZ_ERANGE: callers check once. */
typedef struct hz__sb {
    char *buf;  /* borrowed: the caller's, cap bytes */
    size_t cap; /* bytes of buf, the NUL included */
    size_t len; /* bytes written */
    int full;   /* an append did not fit */
} hz__sb;

static inline void hz__sb_init(hz__sb *b, char *buf, size_t cap)
{
    b->buf = buf;
    b->cap = cap;
    b->len = 0;
    b->full = cap == 0;
}

/** Room for n more bytes and the NUL, or marks the builder full. */
static inline char *hz__sb_room(hz__sb *b, size_t n)
{
    if (b->full || n >= b->cap - b->len) {
        b->full = 1;
        return NULL;
    }
    return b->buf + b->len;
}

static inline void hz__sb_put(hz__sb *b, const void *p, size_t n)
{
    char *d = hz__sb_room(b, n);
    if (d) {
        memcpy(d, p, n);
        b->len += n;
    }
}

static inline void hz__sb_str(hz__sb *b, const char *s)
{
    hz__sb_put(b, s, strlen(s));
}

static inline void hz__sb_ch(hz__sb *b, char c)
{
    char *d = hz__sb_room(b, 1);
    if (d) {
        *d = c;
        b->len++;
    }
}

static inline void hz__sb_u64(hz__sb *b, uint64_t v)
{
    char t[HZ__FMT_U64_MAX];
    hz__sb_put(b, t, hz__fmt_u64(t, v));
}

static inline void hz__sb_i64(hz__sb *b, int64_t v)
{
    if (v < 0) {
        hz__sb_ch(b, '-');
        hz__sb_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        hz__sb_u64(b, (uint64_t)v);
    }
}

static inline void hz__sb_hex(hz__sb *b, uint64_t v)
{
    char t[HZ__FMT_HEX_MAX];
    hz__sb_put(b, t, hz__fmt_hex(t, v));
}

/** NUL-terminates; returns the length, or HZ_ERANGE if anything did not
 *  fit (the content is then a truncated prefix). */
static inline long hz__sb_end(hz__sb *b)
{
    if (b->full)
        return HZ_ERANGE;
    b->buf[b->len] = 0;
    return (long)b->len;
}

#endif /* HZ__FMT_H */
