/* utf8.h - incremental UTF-8 validation (RFC 3629 §4): shortest forms only,
 * no surrogates (U+D800..U+DFFF), nothing above U+10FFFF. Resumable at any
 * byte boundary, so text arriving in fragments (WebSocket text messages,
 * RFC 6455 §8.1) is checked as it comes and fails at the first byte that
 * cannot belong to valid UTF-8, not at the end of the message. */
#ifndef HZ__UTF8_H
#define HZ__UTF8_H

#include <stddef.h>
#include <stdint.h>
#include "internal.h"

/** Validator state between pieces: zero-initialise (or hz__utf8_init). */
typedef struct hz__utf8 {
    uint8_t need; /* continuation bytes still expected for this sequence */
    uint8_t lo;   /* the range allowed for the next continuation byte: */
    uint8_t hi;   /* narrower than 80..BF right after E0, ED, F0 and F4 */
} hz__utf8;

static inline void hz__utf8_init(hz__utf8 *u)
{
    u->need = 0;
    u->lo = 0x80;
    u->hi = 0xbf;
}

/** True when the bytes so far end on a character boundary (a message may
 *  end here). */
static inline int hz__utf8_complete(const hz__utf8 *u)
{
    return u->need == 0;
}

/** Continues validation with s[0..len). Returns len when every byte can be
 *  part of valid UTF-8 (a sequence may still be open: hz__utf8_complete),
 *  else the offset of the first byte that cannot; the state is then
 *  meaningless. ASCII runs are skipped eight bytes at a time.
 *  thread: any (on its own state). */
HZ__HIDDEN size_t hz__utf8_feed(hz__utf8 *u, const void *s, size_t len);

/** 1 when s[0..len) is complete, valid UTF-8, else 0. thread: any. */
HZ__HIDDEN int hz__utf8_valid(const void *s, size_t len);

#endif /* HZ__UTF8_H */
