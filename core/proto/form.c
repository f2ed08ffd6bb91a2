/* form.c - query strings and application/x-www-form-urlencoded bodies:
 * one iterator over '&'-separated key=value pairs. */
#include <string.h>
#include "url.h"

void hz_query_iter_init(hz_query_iter *it, const char *query, size_t len, unsigned flags)
{
    it->p = query;
    it->end = query ? query + len : query;
    it->flags = flags;
    it->count = 0;
    it->max_pairs = HZ_QUERY_MAX_PAIRS;
}

void hz_form_iter_init(hz_query_iter *it, const char *body, size_t len)
{
    hz_query_iter_init(it, body, len, HZ_URL_PLUS_SPACE);
}

int hz_query_next_raw(hz_query_iter *it, hz_str *key, hz_str *value)
{
    for (;;) {
        if (!it->p || it->p >= it->end)
            return 0;
        const char *s = it->p;
        const char *amp = memchr(s, '&', (size_t)(it->end - s));
        const char *e = amp ? amp : it->end;
        it->p = amp ? amp + 1 : it->end;
        if (e == s)
            continue; /* "&&": an empty piece is no pair */
        if (it->count >= it->max_pairs) {
            it->p = it->end; /* stay at the limit: later calls end at once */
            return HZ_EBUSY;
        }
        it->count++;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (eq) {
            *key = (hz_str){s, (size_t)(eq - s)};
            *value = (hz_str){eq + 1, (size_t)(e - eq - 1)};
        } else {
            *key = (hz_str){s, (size_t)(e - s)};
            *value = (hz_str){e, 0};
        }
        return 1;
    }
}

int hz_query_next(hz_query_iter *it, char *key, size_t keycap, size_t *keylen, char *value,
                  size_t valcap, size_t *vallen)
{
    hz_str k, v;
    int rc = hz_query_next_raw(it, &k, &v);
    if (rc <= 0)
        return rc;
    long kl = hz_url_decode(key, keycap, k.ptr, k.len, it->flags);
    if (kl < 0)
        return (int)kl;
    long vl = hz_url_decode(value, valcap, v.ptr, v.len, it->flags);
    if (vl < 0)
        return (int)vl;
    if (keylen)
        *keylen = (size_t)kl;
    if (vallen)
        *vallen = (size_t)vl;
    return 1;
}

static long get(const char *s, size_t len, const char *name, char *dst, size_t cap, unsigned flags)
{
    if (!name)
        return HZ_EINVAL;
    size_t nlen = strlen(name);
    hz_query_iter it;
    hz_query_iter_init(&it, s, len, flags);
    hz_str k, v;
    int rc;
    while ((rc = hz_query_next_raw(&it, &k, &v)) > 0) {
        int eq = hz__url_equals(k.ptr, k.len, name, nlen, flags);
        if (eq < 0)
            return eq;
        if (eq)
            return hz_url_decode(dst, cap, v.ptr, v.len, flags);
    }
    return rc < 0 ? rc : HZ_ENOENT;
}

long hz_query_get(const char *query, size_t len, const char *name, char *dst, size_t cap)
{
    return get(query, len, name, dst, cap, 0);
}

long hz_form_get(const char *body, size_t len, const char *name, char *dst, size_t cap)
{
    return get(body, len, name, dst, cap, HZ_URL_PLUS_SPACE);
}
