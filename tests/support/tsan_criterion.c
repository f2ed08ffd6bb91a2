/* tsan_criterion.c - lets Criterion run under ThreadSanitizer (TSan builds
 * only; compiled into every test executable by hz_add_criterion_test).
 *
 * Criterion's sandbox (BoxFort) maps its inheritable arena at a random base
 * in [0x2000_0000_0000, 0x6000_0000_0000) drawn with rand_r(), probes that
 * the pages are free, and gives up after a few tries. Under TSan almost all
 * of that range is TSan's shadow/meta reservation, so Criterion aborts with
 * "Could not initialize inheritable arena" (Snaipe/Criterion#274). TSan's
 * application range 0x5500_0000_0000..0x5700_0000_0000 lies inside BoxFort's
 * window: this rand_r() (which overrides the weak TSan interceptor and libc
 * for this executable only) draws only from there, so BoxFort's probe finds
 * free pages. Nothing in the library or the tests uses rand_r. */
#if defined(__SANITIZE_THREAD__)
#define HZ_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HZ_TSAN_BUILD 1
#endif
#endif

#ifdef HZ_TSAN_BUILD
#include <stdatomic.h>

int rand_r(unsigned *seed);

int rand_r(unsigned *seed)
{
    static atomic_uint calls;
    unsigned i = atomic_fetch_add(&calls, 1) ^ (*seed & 0xffffu);
    /* BoxFort's base = 0x2000_0000_0000 + (r & 0x3fffff) << 24; r in
     * [0x350000, 0x370000) gives [0x5500_0000_0000, 0x5700_0000_0000). */
    return (int)(0x350000u + ((i * 0x9e3779b1u) >> 15 & 0x1ffffu));
}
#else
/* ISO C forbids an empty translation unit. */
typedef int hz_tsan_criterion_unused;
#endif
