/* fuzz_aenc.c - Accept-Encoding parsing (core/proto/aenc.c) on arbitrary
 * input, split at NUL bytes into several fields. Checks: reads stay in
 * bounds (ASan), every q-value is 0-1000 or unset, the pick is one of the
 * documented results, and it is consistent: nothing offered never yields
 * a coding, and a coding chosen among both is also chosen when it is the
 * only one offered. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <httpz/httpz.h>
#include "aenc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int valid_q(uint16_t q)
{
    return q == HZ__AENC_UNSET || q <= 1000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hz__aenc a;
    hz__aenc_init(&a);
    const char *p = (const char *)data, *end = p + size;
    while (p <= end) {
        const char *z = memchr(p, 0, (size_t)(end - p));
        size_t n = z ? (size_t)(z - p) : (size_t)(end - p);
        char *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
        memcpy(copy, p, n);
        hz__aenc_parse(&a, copy, n);
        free(copy);
        if (!z)
            break;
        p = z + 1;
    }
    if (!valid_q(a.gzip) || !valid_q(a.br) || !valid_q(a.identity) || !valid_q(a.star))
        abort();
    const unsigned both = HZ_CODING_GZIP | HZ_CODING_BR;
    int c = hz__aenc_pick(&a, both);
    if (c != -1 && c != HZ_CODING_IDENTITY && c != HZ_CODING_GZIP && c != HZ_CODING_BR)
        abort();
    int none = hz__aenc_pick(&a, 0);
    if (none != -1 && none != HZ_CODING_IDENTITY)
        abort();
    if (c > 0 && hz__aenc_pick(&a, (unsigned)c) != c)
        abort();
    return 0;
}
