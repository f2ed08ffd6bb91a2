/* buf.c - byte buffers and the per-loop block cache. */
#include <string.h>
#include "buf.h"

int hz__bufcache_init(hz__bufcache *bc, const hz_allocator *a, unsigned max)
{
    bc->a = a;
    bc->n = 0;
    bc->max = max;
    bc->blocks = NULL;
    bc->big = NULL;
    bc->big_cap = 0;
    bc->gather = NULL;
    bc->gather_cap = 0;
    if (max) {
        bc->blocks = hz__alloc(a, sizeof(void *) * max);
        if (!bc->blocks)
            return HZ_ENOMEM;
    }
    return 0;
}

void hz__bufcache_free(hz__bufcache *bc)
{
    if (bc->big)
        hz__free(bc->a, bc->big, bc->big_cap);
    bc->big = NULL;
    bc->big_cap = 0;
    if (bc->gather)
        hz__free(bc->a, bc->gather, bc->gather_cap);
    bc->gather = NULL;
    bc->gather_cap = 0;
    if (!bc->blocks)
        return;
    for (unsigned i = 0; i < bc->n; i++)
        hz__free(bc->a, bc->blocks[i], HZ__BUF_BLOCK);
    hz__free(bc->a, bc->blocks, sizeof(void *) * bc->max);
    bc->blocks = NULL;
    bc->n = 0;
}

static void *block_get(hz__bufcache *bc)
{
    if (bc->n)
        return bc->blocks[--bc->n];
    return hz__alloc(bc->a, HZ__BUF_BLOCK);
}

/* Out of line: the paths of standard blocks stay as short as they were. */
__attribute__((noinline)) static int big_get(hz__buf *b, hz__bufcache *bc)
{
    b->data = bc->big;
    b->cap = bc->big_cap;
    bc->big = NULL;
    bc->big_cap = 0;
    return 0;
}

/* A block outgrown moves into the spare big buffer: one copy of at most a
 * block, where growing it by doubling would realloc (and copy) up to five
 * times on the way to a big buffer's size. */
__attribute__((noinline)) static int block_to_big(hz__buf *b, hz__bufcache *bc)
{
    char *block = b->data;
    uint32_t len = b->len;
    big_get(b, bc);
    memcpy(b->data, block, len); /* [0, len): off stays valid */
    if (bc->n < bc->max)
        bc->blocks[bc->n++] = block;
    else
        hz__free(bc->a, block, HZ__BUF_BLOCK);
    return 0;
}

__attribute__((noinline)) static void release_other(hz__bufcache *bc, char *data, uint32_t cap)
{
    if (cap > HZ__BUF_BLOCK && cap <= HZ__BUF_BIG_MAX && cap > bc->big_cap) {
        if (bc->big) /* the bigger one is kept: it serves more */
            hz__free(bc->a, bc->big, bc->big_cap);
        bc->big = data;
        bc->big_cap = cap;
    } else {
        hz__free(bc->a, data, cap);
    }
}

int hz__buf_reserve(hz__buf *b, hz__bufcache *bc, size_t extra, size_t max)
{
    size_t need = (size_t)b->len + extra;
    if (need <= b->cap)
        return 0;
    if (need > max || need > UINT32_MAX)
        return HZ_ERANGE;
    if (!b->data) {
        if (need <= HZ__BUF_BLOCK) {
            b->data = block_get(bc);
            if (!b->data)
                return HZ_ENOMEM;
            b->cap = HZ__BUF_BLOCK;
            return 0;
        }
        if (bc->big && need <= bc->big_cap && bc->big_cap <= max)
            return big_get(b, bc);
    } else if (b->cap == HZ__BUF_BLOCK && bc->big && need <= bc->big_cap && bc->big_cap <= max) {
        return block_to_big(b, bc);
    }
    size_t ncap = b->cap ? b->cap : HZ__BUF_BLOCK;
    while (ncap < need)
        ncap *= 2;
    if (ncap > max)
        ncap = max;
    if (ncap > UINT32_MAX)
        ncap = UINT32_MAX;
    char *p = hz__realloc(bc->a, b->data, b->cap, ncap);
    if (!p)
        return HZ_ENOMEM;
    b->data = p;
    b->cap = (uint32_t)ncap;
    return 0;
}

int hz__buf_append_grow(hz__buf *b, hz__bufcache *bc, const void *p, size_t n)
{
    int rc = hz__buf_reserve(b, bc, n, UINT32_MAX);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += (uint32_t)n;
    return 0;
}

void hz__buf_compact(hz__buf *b)
{
    if (!b->off)
        return;
    size_t n = hz__buf_pending(b);
    if (n)
        memmove(b->data, b->data + b->off, n);
    b->off = 0;
    b->len = (uint32_t)n;
}

void hz__buf_release(hz__buf *b, hz__bufcache *bc)
{
    if (b->data) {
        if (b->cap == HZ__BUF_BLOCK && bc->n < bc->max)
            bc->blocks[bc->n++] = b->data;
        else
            release_other(bc, b->data, b->cap);
    }
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}
