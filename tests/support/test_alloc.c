/* test_alloc.c - counting and failing allocators (see test_alloc.h).
 * Each block carries a 16-byte header with its size and a magic, so a free()
 * with the wrong size or a double free is counted instead of corrupting. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "test_alloc.h"

#define HDR 16u
#define MAGIC 0x687a616c6c6f6321ull /* "hzalloc!" */
#define DEAD 0x6465616462656566ull

typedef struct {
    uint64_t magic;
    uint64_t size;
} blk_hdr;

static int should_fail(hz_count_alloc *ca)
{
    long n = atomic_fetch_add(&ca->calls, 1) + 1;
    long at = atomic_load(&ca->fail_at);
    if (at <= 0)
        return 0;
    if (n == at || (atomic_load(&ca->fail_after) && n > at)) {
        atomic_fetch_add(&ca->failures, 1);
        return 1;
    }
    return 0;
}

static void account(hz_count_alloc *ca, long dblocks, long dbytes)
{
    atomic_fetch_add(&ca->live_blocks, dblocks);
    long now = atomic_fetch_add(&ca->live_bytes, dbytes) + dbytes;
    long peak = atomic_load(&ca->peak_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&ca->peak_bytes, &peak, now)) {
    }
}

static void *ca_alloc(void *ctx, size_t size)
{
    hz_count_alloc *ca = ctx;
    if (should_fail(ca))
        return NULL;
    blk_hdr *h = malloc(HDR + size);
    if (!h)
        return NULL;
    h->magic = MAGIC;
    h->size = size;
    atomic_fetch_add(&ca->allocs, 1);
    account(ca, 1, (long)size);
    return (char *)h + HDR;
}

static blk_hdr *hdr_of(hz_count_alloc *ca, void *ptr, size_t size)
{
    blk_hdr *h = (blk_hdr *)((char *)ptr - HDR);
    if (h->magic != MAGIC || h->size != size)
        atomic_fetch_add(&ca->size_mismatches, 1);
    return h;
}

static void *ca_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
    hz_count_alloc *ca = ctx;
    if (should_fail(ca))
        return NULL;
    blk_hdr *h = hdr_of(ca, ptr, old_size);
    size_t was = (size_t)h->size;
    blk_hdr *n = realloc(h, HDR + new_size);
    if (!n)
        return NULL;
    n->size = new_size;
    account(ca, 0, (long)new_size - (long)was);
    return (char *)n + HDR;
}

static void ca_free(void *ctx, void *ptr, size_t size)
{
    hz_count_alloc *ca = ctx;
    blk_hdr *h = hdr_of(ca, ptr, size);
    size_t was = (size_t)h->size;
    h->magic = DEAD;
    atomic_fetch_add(&ca->frees, 1);
    account(ca, -1, -(long)was);
    free(h);
}

static const hz_allocator_vt count_vt = {
    .abi = HZ_BACKEND_ABI,
    .name = "counting",
    .caps = HZ_ALLOC_CAP_SIZED | HZ_ALLOC_CAP_THREADSAFE,
    .alloc = ca_alloc,
    .realloc = ca_realloc,
    .free = ca_free,
};

void hz_count_alloc_init(hz_count_alloc *ca)
{
    memset(ca, 0, sizeof(*ca));
    ca->iface.vt = &count_vt;
    ca->iface.ctx = ca;
}

void hz_fail_alloc_init(hz_count_alloc *ca, long nth, int sticky)
{
    hz_count_alloc_init(ca);
    atomic_store(&ca->fail_at, nth);
    atomic_store(&ca->fail_after, sticky);
}
