/* utf8.c - the validator of utf8.h. The lead byte fixes how many
 * continuation bytes follow and the range of the first one (RFC 3629 §4,
 * the UTF8-2/3/4 rules); that range is what rejects overlongs (E0 80..9F,
 * F0 80..8F), surrogates (ED A0..BF) and code points above U+10FFFF
 * (F4 90..BF); C0, C1 and F5..FF never start a sequence. */
#include <string.h>
#include "utf8.h"

#define HIGH_BITS 0x8080808080808080ull

size_t hz__utf8_feed(hz__utf8 *u, const void *s, size_t len)
{
    const uint8_t *p = s;
    size_t i = 0;
    unsigned need = u->need, lo = u->lo, hi = u->hi;
    while (i < len) {
        if (need == 0) {
            /* Plain text is mostly ASCII: test a word at a time (memcpy:
             * the input has no alignment). */
            while (len - i >= 8) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & HIGH_BITS)
                    break;
                i += 8;
            }
            if (i == len)
                break;
            unsigned c = p[i];
            if (c < 0x80) {
                i++;
                continue;
            }
            lo = 0x80;
            hi = 0xbf;
            if (c >= 0xc2 && c <= 0xdf) {
                need = 1;
            } else if (c >= 0xe0 && c <= 0xef) {
                need = 2;
                if (c == 0xe0)
                    lo = 0xa0; /* below: overlong (< U+0800) */
                else if (c == 0xed)
                    hi = 0x9f; /* above: surrogates */
            } else if (c >= 0xf0 && c <= 0xf4) {
                need = 3;
                if (c == 0xf0)
                    lo = 0x90; /* below: overlong (< U+10000) */
                else if (c == 0xf4)
                    hi = 0x8f; /* above: > U+10FFFF */
            } else {
                break; /* 80..C1 (stray or overlong lead), F5..FF */
            }
            i++;
        } else {
            unsigned c = p[i];
            if (c < lo || c > hi)
                break;
            need--;
            lo = 0x80;
            hi = 0xbf;
            i++;
        }
    }
    u->need = (uint8_t)need;
    u->lo = (uint8_t)lo;
    u->hi = (uint8_t)hi;
    return i;
}

int hz__utf8_valid(const void *s, size_t len)
{
    hz__utf8 u;
    hz__utf8_init(&u);
    return hz__utf8_feed(&u, s, len) == len && hz__utf8_complete(&u);
}
