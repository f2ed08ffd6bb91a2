/* test_buf.c - byte buffers and the block cache: growth within a maximum,
 * compaction, release to the cache, nothing leaked. */
#include <string.h>
#include <criterion/criterion.h>
#include "buf.h"
#include "test_alloc.h"

/* Each test's allocator and block cache (a test runs in a process of its
 * own). */
static hz_count_alloc ca;
static hz__bufcache bc;

/* A cache of up to max blocks on ca: a counting allocator, or with
 * fail_at > 0 one that fails that allocation (1-based) and every one
 * after it. */
static void cache_open(unsigned max, long fail_at)
{
    if (fail_at > 0)
        hz_fail_alloc_init(&ca, fail_at, 1);
    else
        hz_count_alloc_init(&ca);
    cr_assert_eq(hz__bufcache_init(&bc, &ca.iface, max), 0);
}

/* Frees the cache; every block went back, with the size it had. */
static void cache_close(void)
{
    hz__bufcache_free(&bc);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0);
    cr_assert_eq(atomic_load(&ca.size_mismatches), 0);
}

Test(buf, append_reserve_compact_release)
{
    cache_open(2, 0);
    hz__buf b = {0};
    cr_assert_eq(hz__buf_append(&b, &bc, "hello", 5), 0);
    cr_assert_eq(b.cap, HZ__BUF_BLOCK);
    cr_assert_eq(hz__buf_pending(&b), 5);
    b.off = 2;
    hz__buf_compact(&b);
    cr_assert_eq(b.off, 0);
    cr_assert_eq(b.len, 3);
    cr_assert(!memcmp(b.data, "llo", 3));
    /* Growth past the block doubles, but never past max. */
    cr_assert_eq(hz__buf_reserve(&b, &bc, 5000, 6000), 0);
    cr_assert(b.cap >= 5003 && b.cap <= 6000, "cap %u", b.cap);
    cr_assert(!memcmp(b.data, "llo", 3), "contents survive growth");
    cr_assert_eq(hz__buf_reserve(&b, &bc, 7000, 6000), HZ_ERANGE);
    hz__buf_release(&b, &bc);
    cr_assert_null(b.data);
    cr_assert_eq(bc.n, 0, "odd-sized blocks are freed, not cached");
    cache_close();
}

Test(buf, cache_reuses_blocks_up_to_its_max)
{
    cache_open(2, 0);
    hz__buf b[3] = {{0}};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(hz__buf_append(&b[i], &bc, "x", 1), 0);
    long allocs = atomic_load(&ca.allocs);
    for (int i = 0; i < 3; i++)
        hz__buf_release(&b[i], &bc);
    cr_assert_eq(bc.n, 2, "the cache keeps at most max blocks");
    for (int i = 0; i < 2; i++)
        cr_assert_eq(hz__buf_append(&b[i], &bc, "y", 1), 0);
    cr_assert_eq(atomic_load(&ca.allocs), allocs, "cached blocks reused, no new allocation");
    for (int i = 0; i < 2; i++)
        hz__buf_release(&b[i], &bc);
    cache_close();
}

Test(buf, allocation_failure_leaves_the_buffer_intact)
{
    cache_open(1, 3); /* the cache array, the first block, then failures */
    hz__buf b = {0};
    cr_assert_eq(hz__buf_append(&b, &bc, "abc", 3), 0);
    cr_assert_eq(hz__buf_reserve(&b, &bc, 10000, 1u << 20), HZ_ENOMEM);
    cr_assert_eq(b.len, 3);
    cr_assert(!memcmp(b.data, "abc", 3));
    hz__buf_release(&b, &bc);
    cache_close();
}

/* A block outgrown moves into the loop's spare big buffer (its pending
 * bytes and offset kept, the block back in the cache) instead of growing
 * by reallocs; a 128 KiB buffer given back is kept as that spare. */
Test(buf, outgrown_block_moves_into_the_spare)
{
    cache_open(2, 0);
    hz__buf big = {0};
    cr_assert_eq(hz__buf_reserve(&big, &bc, 100000, 1u << 20), 0);
    cr_assert_eq(big.cap, 128u * 1024u);
    char *spare = big.data;
    hz__buf_release(&big, &bc);
    cr_assert_eq(bc.big, spare, "a 128 KiB buffer is kept as the spare");
    hz__buf b = {0};
    cr_assert_eq(hz__buf_append(&b, &bc, "headers", 7), 0);
    cr_assert_eq(b.cap, HZ__BUF_BLOCK);
    b.off = 3;
    long allocs = atomic_load(&ca.allocs);
    cr_assert_eq(hz__buf_reserve(&b, &bc, 20000, UINT32_MAX), 0);
    cr_assert_eq(b.data, spare, "the outgrown block moved into the spare");
    cr_assert_eq(b.cap, 128u * 1024u);
    cr_assert_eq(atomic_load(&ca.allocs), allocs, "no allocation");
    cr_assert_eq(b.off, 3);
    cr_assert_eq(b.len, 7);
    cr_assert(!memcmp(b.data + b.off, "ders", 4));
    cr_assert_eq(bc.n, 1, "the block went back to the cache");
    cr_assert_null(bc.big);
    /* Without a spare (taken), a block grows as before. */
    hz__buf c = {0};
    cr_assert_eq(hz__buf_append(&c, &bc, "x", 1), 0);
    cr_assert_eq(hz__buf_reserve(&c, &bc, 9000, UINT32_MAX), 0);
    cr_assert_eq(c.cap, 16384u);
    cr_assert_eq(c.data[0], 'x');
    hz__buf_release(&c, &bc);
    hz__buf_release(&b, &bc);
    cache_close();
}
