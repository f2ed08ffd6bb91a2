/* aenc.h - Accept-Encoding (RFC 9110 §12.5.3) parsed into the preference
 * of each coding httpz can produce; pure syntax (internal). */
#ifndef HZ__AENC_H
#define HZ__AENC_H

#include <stddef.h>
#include <stdint.h>
#include "internal.h"

#define HZ__AENC_UNSET 0xFFFFu /* the coding was not named */

/* The q-values (0-1000) the fields gave; HZ__AENC_UNSET when not named. */
typedef struct hz__aenc {
    uint16_t gzip, br, identity, star;
} hz__aenc;

/** Starts an Accept-Encoding evaluation: nothing named. */
HZ__HIDDEN void hz__aenc_init(hz__aenc *a);
/** Adds one field value (several fields form one list). Elements with bad
 *  syntax or a bad q-value are skipped; a coding named twice keeps its
 *  first q-value; "x-gzip" counts as "gzip" (RFC 9110 §8.4.1.3). */
HZ__HIDDEN void hz__aenc_parse(hz__aenc *a, const char *v, size_t len);
/** The chosen coding among offered (HZ_CODING_* bits): the highest q
 *  (a named coding beats "*"), br before gzip at equal q, a coding before
 *  identity unless identity was named with a higher q. HZ_CODING_IDENTITY
 *  when no coding is acceptable; -1 when identity is excluded as well
 *  ("identity;q=0", or "*;q=0" without identity). */
HZ__HIDDEN int hz__aenc_pick(const hz__aenc *a, unsigned offered);

#endif /* HZ__AENC_H */
