/* base64.h - base64 with the standard alphabet and padding (RFC 4648 §4),
 * for the WebSocket handshake (RFC 6455 §4.1, §4.2.2). */
#ifndef HZ__BASE64_H
#define HZ__BASE64_H

#include <stddef.h>
#include <stdint.h>
#include "internal.h"

/* Characters that encode n bytes (no terminating NUL). */
#define HZ__BASE64_LEN(n) (((n) + 2) / 3 * 4)

/** Encodes in[0..len) into out, which must hold HZ__BASE64_LEN(len) + 1
 *  bytes, and NUL-terminates it. Returns the length without the NUL.
 *  thread: any. */
HZ__HIDDEN size_t hz__base64_encode(char *out, const void *in, size_t len);

/** Decodes in[0..len) into out[0..cap). Strict (RFC 4648 §3.3, §3.5): the
 *  length is a multiple of 4, '=' only as the last one or two characters,
 *  no whitespace or other characters, and the bits a padded final group
 *  leaves over are zero, so every byte string has exactly one accepted
 *  encoding. Returns the decoded length, HZ_EINVAL for a malformed input or
 *  HZ_ERANGE when out is too small (nothing is promised about out then).
 *  thread: any. */
HZ__HIDDEN long hz__base64_decode(uint8_t *out, size_t cap, const char *in, size_t len);

#endif /* HZ__BASE64_H */
