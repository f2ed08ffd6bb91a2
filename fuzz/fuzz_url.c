/* fuzz_url.c - percent-decoding and path normalisation on arbitrary input.
 * The first byte picks the decoding flags; the rest is the string. Checks
 * the documented guarantees, not just the absence of crashes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <httpz/httpz.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_decode(const char *s, size_t n, unsigned flags)
{
    char *out = malloc(n + 1);
    if (!out)
        abort();
    long r = hz_url_decode(out, n + 1, s, n, flags);
    if (r >= 0) {
        if ((size_t)r > n || out[r] != '\0')
            abort();
        if (!(flags & HZ_URL_ALLOW_NUL) && memchr(out, 0, (size_t)r))
            abort();
        if ((flags & HZ_URL_UTF8) && !hz_utf8_valid(out, (size_t)r))
            abort();
        /* a buffer one byte short must be refused, never overrun */
        char *tight = malloc((size_t)r + 1);
        if (!tight)
            abort();
        if (hz_url_decode(tight, (size_t)r, s, n, flags) != HZ_ERANGE)
            abort();
        free(tight);
    } else if (r != HZ_EINVAL) {
        abort(); /* a big enough buffer never gives HZ_ERANGE */
    }
    free(out);
}

static void check_normalize(const char *s, size_t n, unsigned flags)
{
    char *out = malloc(n + 1);
    if (!out)
        abort();
    long r = hz_path_normalize(out, n + 1, s, n, flags);
    if (r >= 0) {
        size_t len = (size_t)r;
        if (len == 0 || out[0] != '/' || out[len] != '\0' || memchr(out, 0, len))
            abort();
        if (strstr(out, "//") || strstr(out, "/./") || strstr(out, "/../"))
            abort();
        if ((len >= 2 && strcmp(out + len - 2, "/.") == 0) ||
            (len >= 3 && strcmp(out + len - 3, "/..") == 0))
            abort();
        /* normalising a result without escapes changes nothing */
        if (!memchr(out, '%', len)) {
            char *again = malloc(len + 1);
            if (!again)
                abort();
            long r2 = hz_path_normalize(again, len + 1, out, len, flags);
            if (r2 != r || memcmp(again, out, len) != 0)
                abort();
            free(again);
        }
    } else if (r != HZ_EINVAL) {
        abort();
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned flags = data[0];
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    check_decode(s, n, flags & 0x0f);
    check_normalize(s, n, (flags >> 4) & 0x03);
    /* UTF-8 validation must agree with itself on every prefix end */
    (void)hz_utf8_valid(s, n);
    return 0;
}
