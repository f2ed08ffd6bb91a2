/* fz_split.h - what the decoder targets (fuzz_multipart, fuzz_forms) share
 * to compare one whole feed with split ones: the split-and-feed loop (each
 * piece copied into a buffer of its own size, so ASan catches a read past
 * the piece) and the log of what the callbacks saw. */
#ifndef HZ_FZ_SPLIT_H
#define HZ_FZ_SPLIT_H

#include <stddef.h>
#include <stdint.h>
#include <httpz/httpz.h>

/* A decoder's feed function (hz_multipart_feed, hz_form_feed). */
typedef int (*fz_feed_fn)(void *dec, const void *data, size_t len);

/** Feeds body[0..len) to feed(dec, ...): mode 0 in one piece, 1 in pieces
 *  of 1..97 bytes from seed's generator, 2 byte by byte. Stops at the first
 *  negative result and returns it; else 0. Aborts when out of memory. */
int fz_split_feed(const char *body, size_t len, uint32_t seed, int mode, fz_feed_fn feed,
                  void *dec);

/* What a decoder's callbacks saw, logged to compare the whole feed with the
 * split ones. Every logged byte comes from the input or from fixed framing
 * per field, so a log that outgrows cap is a bug: it aborts. */
typedef struct fz_log {
    char *log; /* owns (malloc) */
    size_t len, cap;
} fz_log;

/** Appends p[0..n) to the log; aborts past cap. */
void fz_log_put(fz_log *l, const void *p, size_t n);

/** Appends s then "|", or "-|" when s.ptr is NULL. */
void fz_log_str(fz_log *l, hz_str s);

#endif
