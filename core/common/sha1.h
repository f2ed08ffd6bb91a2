/* sha1.h - SHA-1 (FIPS 180-4 §6.1), for the WebSocket handshake's
 * Sec-WebSocket-Accept (RFC 6455 §4.2.2). Not for anything that needs
 * collision resistance: SHA-1 has none left. */
#ifndef HZ__SHA1_H
#define HZ__SHA1_H

#include <stddef.h>
#include <stdint.h>
#include "internal.h"

#define HZ__SHA1_LEN 20 /* digest bytes */

/** Streaming state: plain data, no allocation. */
typedef struct hz__sha1_ctx {
    uint32_t h[5];     /* the running hash H0..H4 */
    uint64_t bytes;    /* message bytes so far (the length field is in bits) */
    uint8_t block[64]; /* a partial block waiting for more input */
    unsigned used;     /* bytes of block in use, < 64 */
} hz__sha1_ctx;

/** Starts a new digest. thread: any (on its own state). */
HZ__HIDDEN void hz__sha1_init(hz__sha1_ctx *s);
/** Adds len bytes of message. thread: any. */
HZ__HIDDEN void hz__sha1_update(hz__sha1_ctx *s, const void *data, size_t len);
/** Pads, writes the 20-byte digest to out and leaves s unusable until the
 *  next hz__sha1_init. thread: any. */
HZ__HIDDEN void hz__sha1_final(hz__sha1_ctx *s, uint8_t out[HZ__SHA1_LEN]);
/** One-shot digest of data[0..len). thread: any. */
HZ__HIDDEN void hz__sha1_digest(const void *data, size_t len, uint8_t out[HZ__SHA1_LEN]);

#endif /* HZ__SHA1_H */
