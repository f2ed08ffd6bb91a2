/* fuzz_query.c - query strings, x-www-form-urlencoded bodies and Cookie
 * headers. The first byte picks flags and a limit; the input up to the
 * first '\n' (if any) is a name to look up, the rest is the string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <httpz/httpz.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_cookie_octet(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
           (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

static void run_query(const char *s, size_t n, unsigned flags, size_t max, int form)
{
    char k[64], v[64];
    size_t kl, vl, count = 0;
    hz_query_iter it;
    if (form)
        hz_form_iter_init(&it, s, n);
    else
        hz_query_iter_init(&it, s, n, flags);
    it.max_pairs = max;
    for (;;) {
        int rc = hz_query_next(&it, k, sizeof k, &kl, v, sizeof v, &vl);
        if (rc == 0)
            break;
        if (rc == HZ_EBUSY) {
            if (hz_query_next(&it, k, sizeof k, &kl, v, sizeof v, &vl) != 0)
                abort(); /* the limit ends the iteration */
            break;
        }
        if (++count > max || count > n)
            abort();
        if (rc == 1 && (kl >= sizeof k || vl >= sizeof v || k[kl] || v[vl]))
            abort();
        if (rc != 1 && rc != HZ_EINVAL && rc != HZ_ERANGE)
            abort();
    }
}

static void run_cookies(const char *s, size_t n, size_t max)
{
    hz_cookie_iter it;
    hz_cookie_iter_init(&it, s, n);
    it.max_pairs = max;
    hz_str name, value;
    size_t count = 0;
    for (;;) {
        int rc = hz_cookie_next(&it, &name, &value);
        if (rc == 0 || rc == HZ_EBUSY)
            break;
        if (++count > max)
            abort();
        if (rc == HZ_EINVAL)
            continue;
        if (rc != 1 || name.len == 0 || name.ptr < s || value.ptr < s ||
            value.ptr + value.len > s + n)
            abort();
        for (size_t i = 0; i < value.len; i++)
            if (!is_cookie_octet((unsigned char)value.ptr[i]))
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned flags = data[0] & 0x0f;
    size_t max = 1 + (data[0] >> 4) * 4;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    char name[32] = "a";
    const char *nl = memchr(s, '\n', n);
    if (nl && (size_t)(nl - s) < sizeof name) {
        memcpy(name, s, (size_t)(nl - s));
        name[nl - s] = '\0';
        n -= (size_t)(nl - s) + 1;
        s = nl + 1;
    }
    /* the harness's copy, so reads past the end are caught */
    char *buf = malloc(n ? n : 1);
    if (!buf)
        abort();
    memcpy(buf, s, n);
    run_query(buf, n, flags, max, 0);
    run_query(buf, n, flags, max, 1);
    run_cookies(buf, n, max);
    char dst[48];
    long r = hz_query_get(buf, n, name, dst, sizeof dst);
    if (r >= 0 && (r >= (long)sizeof dst || dst[r]))
        abort();
    r = hz_form_get(buf, n, name, dst, sizeof dst);
    if (r >= 0 && (r >= (long)sizeof dst || dst[r]))
        abort();
    r = hz_cookie_get(buf, n, name, dst, sizeof dst);
    if (r >= 0 && (r >= (long)sizeof dst || dst[r]))
        abort();
    free(buf);
    return 0;
}
