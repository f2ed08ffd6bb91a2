/* test_sha1.c - SHA-1 (core/common/sha1.c) against the FIPS 180-4 example
 * vectors (NIST "SHA1.pdf": one block, two blocks, a million 'a'), the
 * empty message, every padding boundary, and streaming in every split. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "sha1.h"

static void hex(const uint8_t *d, char *out)
{
    for (int i = 0; i < HZ__SHA1_LEN; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void check(const char *msg, size_t len, const char *want)
{
    uint8_t d[HZ__SHA1_LEN];
    char h[2 * HZ__SHA1_LEN + 1];
    hz__sha1_digest(msg, len, d);
    hex(d, h);
    cr_assert_str_eq(h, want, "SHA-1 of %zu bytes", len);
}

Test(sha1, fips_vectors)
{
    check("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check(two, strlen(two), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    check("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    /* FIPS 180-2 appendix / NIST CSRC: the 896-bit message */
    const char *l =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
        "klmnopqrlmnopqrsmnopqrstnopqrstu";
    check(l, strlen(l), "a49b2446a02c645bf419f995b67091253a04a259");
    check("The quick brown fox jumps over the lazy dog", 43,
          "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
}

Test(sha1, million_a_streamed)
{
    static char a[1000];
    memset(a, 'a', sizeof(a));
    hz__sha1_ctx s;
    hz__sha1_init(&s);
    for (int i = 0; i < 1000; i++)
        hz__sha1_update(&s, a, sizeof(a));
    uint8_t d[HZ__SHA1_LEN];
    char h[41];
    hz__sha1_final(&s, d);
    hex(d, h);
    cr_assert_str_eq(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

/* Lengths around the padding boundaries (55/56/63/64/119/120 bytes) and
 * every split of the message into two updates give the one-shot digest. */
Test(sha1, padding_and_splits)
{
    uint8_t msg[200];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 7 + 3);
    /* Known digest of 64 bytes of 'a' and of 56 (pad spills into a block). */
    char a64[64];
    memset(a64, 'a', 64);
    check(a64, 64, "0098ba824b5c16427bd7a1122a5a442a25ec644d");
    check(a64, 56, "c2db330f6083854c99d4b5bfb6e8f29f201be699");
    check(a64, 55, "c1c8bbdc22796e28c0e15163d20899b65621d65a");
    for (size_t len = 0; len <= sizeof(msg); len++) {
        uint8_t one[HZ__SHA1_LEN];
        hz__sha1_digest(msg, len, one);
        for (size_t cut = 0; cut <= len; cut += (len > 130 ? 13 : 1)) {
            hz__sha1_ctx s;
            uint8_t two[HZ__SHA1_LEN];
            hz__sha1_init(&s);
            hz__sha1_update(&s, msg, cut);
            hz__sha1_update(&s, msg + cut, len - cut);
            hz__sha1_final(&s, two);
            cr_assert(!memcmp(one, two, sizeof(one)), "len %zu cut %zu", len, cut);
        }
    }
}
