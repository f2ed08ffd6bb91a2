/* fz_rand.h - the generators the fuzz targets draw their piece sizes and
 * clock steps from (a seed from the input replays the same run): xorshift32
 * (fuzz_request, fuzz_chunked, fuzz_ws_frame, fuzz_ws_deflate) and an LCG
 * (fz_split, fz_conn's fz_rnd). Header-only, so the parser targets that
 * compile no support file can use it. */
#ifndef HZ_FZ_RAND_H
#define HZ_FZ_RAND_H

#include <stdint.h>

/** The next value of the xorshift32 sequence in *s (s must not be 0). */
static inline uint32_t fz_xorshift32(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/** The next value of the LCG in *s: its high 16 bits. */
static inline uint32_t fz_lcg(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

#endif
