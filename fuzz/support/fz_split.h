/* fz_split.h - feeds a streaming decoder its input in pieces, the way the
 * decoder targets (fuzz_multipart, fuzz_forms) compare one whole feed with
 * split ones: each piece is copied into a buffer of its own size, so ASan
 * catches a read past the piece. */
#ifndef HZ_FZ_SPLIT_H
#define HZ_FZ_SPLIT_H

#include <stddef.h>
#include <stdint.h>

/* A decoder's feed function (hz_multipart_feed, hz_form_feed). */
typedef int (*fz_feed_fn)(void *dec, const void *data, size_t len);

/** Feeds body[0..len) to feed(dec, ...): mode 0 in one piece, 1 in pieces
 *  of 1..97 bytes from seed's generator, 2 byte by byte. Stops at the first
 *  negative result and returns it; else 0. Aborts when out of memory. */
int fz_split_feed(const char *body, size_t len, uint32_t seed, int mode, fz_feed_fn feed,
                  void *dec);

#endif
