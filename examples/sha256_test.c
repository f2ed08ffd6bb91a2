/* sha256_test.c - known answers for the demo's SHA-256 (FIPS 180-4
 * examples and the NIST "one million a" vector), fed whole and in
 * pieces of every size from 1 to 130. ctest: demo_sha256. */
#include <stdio.h>
#include <string.h>
#include "sha256.h"

static int check(const char *msg, size_t len, size_t piece, const char *want)
{
    sha256 s;
    sha256_init(&s);
    for (size_t at = 0; at < len; at += piece)
        sha256_update(&s, msg + at, len - at < piece ? len - at : piece);
    unsigned char d[32];
    char hex[65];
    sha256_final(&s, d);
    sha256_hex(d, hex);
    if (strcmp(hex, want)) {
        fprintf(stderr, "sha256 of %zu bytes in pieces of %zu: %s, want %s\n", len, piece, hex,
                want);
        return 1;
    }
    return 0;
}

int main(void)
{
    static char million[1000000];
    memset(million, 'a', sizeof million);
    static const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    int fails = 0;
    for (size_t piece = 1; piece <= 130; piece++) {
        fails +=
            check("", 0, piece, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        fails += check("abc", 3, piece,
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        fails += check(two, strlen(two), piece,
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    }
    fails += check(million, sizeof million, sizeof million,
                   "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    fails += check(million, sizeof million, 4093,
                   "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    if (fails)
        return 1;
    printf("sha256: all known answers match\n");
    return 0;
}
