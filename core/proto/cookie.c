/* cookie.c - the Cookie request header (RFC 6265 §4.2.1, §5.4). */
#include <string.h>
#include "url.h"

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int is_tchar(unsigned char c)
{
    /* RFC 9110 §5.6.2 */
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_cookie_octet(unsigned char c)
{
    /* RFC 6265 §4.1.1: US-ASCII except CTLs, whitespace, DQUOTE, ',', ';'
     * and '\\'. */
    return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
           (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

void hz_cookie_iter_init(hz_cookie_iter *it, const char *header, size_t len)
{
    it->p = header;
    it->end = header ? header + len : header;
    it->count = 0;
    it->max_pairs = HZ_COOKIE_MAX_PAIRS;
}

int hz_cookie_next(hz_cookie_iter *it, hz_str *name, hz_str *value)
{
    for (;;) {
        if (!it->p || it->p >= it->end)
            return 0;
        const char *s = it->p;
        const char *semi = memchr(s, ';', (size_t)(it->end - s));
        const char *e = semi ? semi : it->end;
        it->p = semi ? semi + 1 : it->end;
        while (s < e && is_ows(*s))
            s++;
        while (e > s && is_ows(e[-1]))
            e--;
        if (s == e)
            continue; /* "a=b;; c=d" or a trailing ';' */
        if (it->count >= it->max_pairs) {
            it->p = it->end;
            return HZ_EBUSY;
        }
        it->count++;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (!eq)
            return HZ_EINVAL;
        const char *ne = eq;
        while (ne > s && is_ows(ne[-1]))
            ne--;
        if (ne == s)
            return HZ_EINVAL; /* empty name */
        for (const char *q = s; q < ne; q++)
            if (!is_tchar((unsigned char)*q))
                return HZ_EINVAL;
        const char *vs = eq + 1;
        while (vs < e && is_ows(*vs))
            vs++;
        const char *ve = e;
        if (vs < ve && *vs == '"') {
            if (ve - vs < 2 || ve[-1] != '"')
                return HZ_EINVAL; /* unterminated quote */
            vs++;
            ve--;
        }
        for (const char *q = vs; q < ve; q++)
            if (!is_cookie_octet((unsigned char)*q))
                return HZ_EINVAL;
        *name = (hz_str){s, (size_t)(ne - s)};
        *value = (hz_str){vs, (size_t)(ve - vs)};
        return 1;
    }
}

long hz_cookie_get(const char *header, size_t len, const char *name, char *dst, size_t cap)
{
    if (!name)
        return HZ_EINVAL;
    size_t nlen = strlen(name);
    hz_cookie_iter it;
    hz_cookie_iter_init(&it, header, len);
    hz_str n, v;
    int rc;
    while ((rc = hz_cookie_next(&it, &n, &v)) != 0) {
        if (rc == HZ_EINVAL)
            continue; /* someone else's malformed cookie */
        if (rc < 0)
            return rc;
        if (n.len == nlen && memcmp(n.ptr, name, nlen) == 0) {
            if (v.len + 1 > cap)
                return HZ_ERANGE;
            memcpy(dst, v.ptr, v.len);
            dst[v.len] = '\0';
            return (long)v.len;
        }
    }
    return HZ_ENOENT;
}
