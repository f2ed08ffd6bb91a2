/* test_base64.c - base64 (core/common/base64.c): the RFC 4648 §10 vectors
 * both ways, every byte value round trip, and the strict decoder's
 * refusals (length, alphabet, padding position, non-zero pad bits). */
#include <criterion/criterion.h>
#include <string.h>
#include "base64.h"

static const struct {
    const char *raw, *enc;
} vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

Test(base64, rfc4648_vectors)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char out[16];
        size_t rl = strlen(vectors[i].raw), el = strlen(vectors[i].enc);
        cr_assert_eq(hz__base64_encode(out, vectors[i].raw, rl), el);
        cr_assert_str_eq(out, vectors[i].enc);
        cr_assert_eq(HZ__BASE64_LEN(rl), el);
        uint8_t dec[16];
        cr_assert_eq(hz__base64_decode(dec, sizeof(dec), vectors[i].enc, el), (long)rl, "%s",
                     vectors[i].enc);
        cr_assert(!memcmp(dec, vectors[i].raw, rl));
    }
}

Test(base64, all_bytes_round_trip)
{
    uint8_t raw[256], dec[256];
    char enc[HZ__BASE64_LEN(256) + 1];
    for (int i = 0; i < 256; i++)
        raw[i] = (uint8_t)i;
    for (size_t len = 0; len <= 256; len++) {
        size_t n = hz__base64_encode(enc, raw + (256 - len), len);
        cr_assert_eq(n, HZ__BASE64_LEN(len));
        cr_assert_eq(strlen(enc), n);
        cr_assert_eq(hz__base64_decode(dec, sizeof(dec), enc, n), (long)len);
        cr_assert(!memcmp(dec, raw + (256 - len), len));
    }
}

Test(base64, strict_refusals)
{
    uint8_t d[16];
    static const char *bad[] = {
        "Zg=",                                       /* length not a multiple of 4 */
        "Zg",                                        /* unpadded */
        "Zh==",                                      /* pad bits not zero ('h' leaves 0b0001) */
        "Zm9=",                                      /* pad bits not zero */
        "Z===",                                      /* three pads */
        "====",                                      /* nothing but padding */
        "Zg=a",                                      /* character after a pad */
        "Zg==Zg==",                                  /* padding in the middle */
        "Zm9 ",     "Zm\nv", "Zm-v", "Zm_v", "Zm.v", /* outside the alphabet */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(hz__base64_decode(d, sizeof(d), bad[i], strlen(bad[i])), HZ_EINVAL, "%s",
                     bad[i]);
    }
    cr_assert_eq(hz__base64_decode(d, sizeof(d), "Zm\0v", 4), HZ_EINVAL); /* a NUL inside */
    /* "Zm8=" (pad bits zero) is the only encoding of "fo"; "Zm9=" is not. */
    cr_assert_eq(hz__base64_decode(d, sizeof(d), "Zm8=", 4), 2);
    /* A short output buffer is ERANGE, never an overflow. */
    cr_assert_eq(hz__base64_decode(d, 2, "Zm9v", 4), HZ_ERANGE);
    cr_assert_eq(hz__base64_decode(d, 3, "Zm9vYg==", 8), HZ_ERANGE);
    cr_assert_eq(hz__base64_decode(d, 4, "Zm9vYg==", 8), 4);
}
