/* url.c - percent-decoding, UTF-8 validation and path normalisation. */
#include <string.h>
#include "url.h"

/* One decoding step at src[*i]: the decoded byte, or HZ_EINVAL for a bad
 * escape or a byte the flags refuse. Advances *i. */
static int decode_one(const char *src, size_t len, size_t *i, unsigned flags)
{
    unsigned char c = (unsigned char)src[*i];
    if (c == '%') {
        if (len - *i < 3)
            return HZ_EINVAL; /* truncated: "%" or "%4" at the end */
        int hi = hz__hexval((unsigned char)src[*i + 1]);
        int lo = hz__hexval((unsigned char)src[*i + 2]);
        if (hi < 0 || lo < 0)
            return HZ_EINVAL;
        c = (unsigned char)(hi << 4 | lo);
        *i += 3;
        if (c == '/' && (flags & HZ_URL_REJECT_SLASH))
            return HZ_EINVAL;
    } else {
        *i += 1;
        if (c == '+' && (flags & HZ_URL_PLUS_SPACE))
            c = ' ';
    }
    if (c == 0 && !(flags & HZ_URL_ALLOW_NUL))
        return HZ_EINVAL;
    return c;
}

int hz_utf8_valid(const void *s, size_t len)
{
    const unsigned char *p = s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* RFC 3629 §4: the second byte's range carries the rules against
         * overlong forms (E0, F0), surrogates (ED) and > U+10FFFF (F4). */
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return 0; /* 80-C1 (continuation or overlong lead), F5-FF */
        }
        if (len - i - 1 < n)
            return 0;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= n; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF)
                return 0;
        i += n + 1;
    }
    return 1;
}

long hz_url_decode(char *dst, size_t dstcap, const char *src, size_t srclen, unsigned flags)
{
    if ((!dst && dstcap) || (!src && srclen))
        return HZ_EINVAL;
    size_t n = 0;
    for (size_t i = 0; i < srclen;) {
        int c = decode_one(src, srclen, &i, flags);
        if (c < 0)
            return c;
        if (n + 1 >= dstcap)
            return HZ_ERANGE; /* no room for this byte and the NUL */
        /* In place (dst == src) is safe: n <= the read position. */
        dst[n++] = (char)c;
    }
    if (dstcap == 0)
        return HZ_ERANGE;
    dst[n] = '\0';
    if ((flags & HZ_URL_UTF8) && !hz_utf8_valid(dst, n))
        return HZ_EINVAL;
    return (long)n;
}

int hz__url_equals(const char *raw, size_t rawlen, const char *name, size_t nlen, unsigned flags)
{
    int same = 1;
    size_t k = 0;
    /* Decode all of raw even after a difference, so a malformed key is
     * reported the same way whatever it is compared with. */
    for (size_t i = 0; i < rawlen;) {
        int c = decode_one(raw, rawlen, &i, flags);
        if (c < 0)
            return c;
        if (k >= nlen || (unsigned char)name[k] != (unsigned)c)
            same = 0;
        k++;
    }
    return same && k == nlen;
}

long hz_path_normalize(char *dst, size_t dstcap, const char *path, size_t len, unsigned flags)
{
    if (!path || len == 0 || path[0] != '/')
        return HZ_EINVAL;
    unsigned uflags = 0;
    if (!(flags & HZ_PATH_ALLOW_SLASH))
        uflags |= HZ_URL_REJECT_SLASH;
    if (!(flags & HZ_PATH_ANY_BYTES))
        uflags |= HZ_URL_UTF8;
    /* Decode first so that encoded dots ("%2e%2e") are dot segments too:
     * normalising the encoded form would let them through to the file
     * system as "..". */
    long dl = hz_url_decode(dst, dstcap, path, len, uflags);
    if (dl < 0)
        return dl;
    size_t n = (size_t)dl;

    /* Rewrite in place: the output (w) never overtakes the input (r). The
     * output is kept as "/seg/seg" without a trailing '/' until the end. */
    size_t w = 0, r = 0;
    int trailing = 0;
    while (r < n) {
        r++; /* dst[r] was '/' */
        size_t s = r;
        while (r < n && dst[r] != '/')
            r++;
        size_t sl = r - s;
        int last = r == n;
        if (sl == 0 || (sl == 1 && dst[s] == '.')) {
            trailing = last; /* "//" and "/./" vanish; "/a/" and "/a/." end in '/' */
            continue;
        }
        if (sl == 2 && dst[s] == '.' && dst[s + 1] == '.') {
            if (w == 0)
                return HZ_EINVAL; /* would climb above the root */
            while (dst[w - 1] != '/')
                w--;
            w--;
            trailing = last;
            continue;
        }
        dst[w++] = '/';
        memmove(dst + w, dst + s, sl);
        w += sl;
        trailing = 0;
    }
    if (w == 0 || trailing)
        dst[w++] = '/';
    dst[w] = '\0';
    return (long)w;
}
