/* fuzz_http_date.c - the HTTP-date parser and the date formatters on
 * arbitrary input. The first 8 bytes are "now" (for RFC 850 years) and an
 * instant to format; the rest is the string parsed. Checks the documented
 * guarantees: a parsed date formats back to a string that parses to the
 * same instant, and every formatter fills exactly its length. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(int64_t t)
{
    char b[HZ__FMT_HTTP_DATE_LEN + 1];
    memset(b, 0x55, sizeof(b));
    size_t n = hz__fmt_http_date(b, t);
    if (!n)
        return; /* a year outside 0000-9999 */
    if (n != HZ__FMT_HTTP_DATE_LEN || b[HZ__FMT_HTTP_DATE_LEN] != 0x55)
        abort();
    int64_t back;
    if (hz__http_date_parse(b, n, 0, &back) != 0 || back != t)
        abort();
    char c[HZ__FMT_CLF_DATE_LEN], d[HZ__FMT_ISO_DATE_LEN];
    if (hz__fmt_clf_date(c, t) != sizeof(c) || hz__fmt_iso_date(d, t) != sizeof(d))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t now = 0;
    if (size >= 8) {
        memcpy(&now, data, 8);
        data += 8;
        size -= 8;
    }
    round_trip(now);
    char *s = malloc(size ? size : 1); /* exactly size bytes: ASan sees over-reads */
    if (!s)
        abort();
    memcpy(s, data, size);
    int64_t t = 42;
    int rc = hz__http_date_parse(s, size, now, &t);
    if (rc == 0) {
        if (t < -62167219200 || t > 253402300800) /* years 0000-9999 (+ a leap second) */
            abort();
        if (t < 253402300800)
            round_trip(t);
    } else if (rc != HZ_EINVAL || t != 42) {
        abort();
    }
    free(s);
    return 0;
}
