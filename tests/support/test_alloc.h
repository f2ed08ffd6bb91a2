/* test_alloc.h - allocators for tests: a counting allocator (live blocks and
 * bytes, to prove nothing leaks) and a failing allocator (fails the Nth
 * allocation, to walk every allocation failure along a code path).
 * Both are thread-safe and check that free() is told the allocated size. */
#ifndef HZ_TEST_ALLOC_H
#define HZ_TEST_ALLOC_H

#include <stddef.h>
#include <stdatomic.h>
#include <httpz/backend.h>

typedef struct hz_count_alloc { /* owner: the test */
    hz_allocator iface;         /* pass &iface where an allocator is asked for */
    atomic_long allocs;         /* successful alloc + realloc(NULL) calls */
    atomic_long frees;
    atomic_long live_blocks;
    atomic_long live_bytes;
    atomic_long peak_bytes;
    atomic_long size_mismatches; /* free/realloc told a size it was not allocated with */
    /* Failure injection: the fail_at-th allocation (1-based, counting alloc
     * and realloc) fails, and with fail_after every one after it too.
     * 0 = never fail. */
    atomic_long fail_at;
    atomic_int fail_after;
    atomic_long calls;    /* alloc + realloc calls seen, failed included */
    atomic_long failures; /* how many were failed on purpose */
} hz_count_alloc;

/** Initialises a counting allocator that never fails. */
void hz_count_alloc_init(hz_count_alloc *ca);
/** Initialises an allocator that fails the nth allocation (1-based); with
 *  sticky != 0, every allocation from the nth on fails. */
void hz_fail_alloc_init(hz_count_alloc *ca, long nth, int sticky);

#endif
