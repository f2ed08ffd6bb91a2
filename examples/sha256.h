/* sha256.h - SHA-256 (FIPS 180-4) for the demo's /upload: the digest of
 * each file, computed as its pieces stream past. Demo code, not part of
 * the library: use your crypto library's in a real service. */
#ifndef DEMO_SHA256_H
#define DEMO_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256 {
    uint32_t h[8];
    uint64_t total;        /* bytes hashed */
    unsigned char blk[64]; /* a partial block */
    size_t n;              /* bytes in blk */
} sha256;

void sha256_init(sha256 *s);
void sha256_update(sha256 *s, const void *data, size_t len);
void sha256_final(sha256 *s, unsigned char out[32]);
/* The digest as 64 lowercase hex digits + NUL. */
void sha256_hex(const unsigned char d[32], char out[65]);

#endif
