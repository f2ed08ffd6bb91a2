/* buf.h - growable byte buffers for connection I/O, plus a small per-loop
 * cache of standard-size blocks so a keep-alive request takes no malloc in
 * steady state while an idle connection holds no buffer at all. */
#ifndef HZ__BUF_H
#define HZ__BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "internal.h"

/** Standard block size: what a connection gets first, and what the cache holds. */
#define HZ__BUF_BLOCK 4096u

/** A bigger buffer given back is kept (one at most, the biggest up to
 *  this), so a connection that reads or writes large messages one at a
 *  time does not allocate one per message, and a block outgrown moves into
 *  it instead of growing by reallocs. 128 KiB: an HTTP/2 connection's
 *  output run (64 KiB of frames plus the frame that crossed it). */
#define HZ__BUF_BIG_MAX (128u * 1024u)

/** Free standard-size blocks kept for reuse (owner: a loop; single-threaded). */
typedef struct hz__bufcache {
    const hz_allocator *a; /* borrowed: the server's; outlives the cache */
    void **blocks;         /* owns: array of max blocks, each owned */
    unsigned n, max;
    char *big;        /* owns: a spare buffer of big_cap bytes (> a block), or NULL */
    uint32_t big_cap; /* its size */
    /* owns: a spare TLS gather buffer of gather_cap bytes, or NULL. The
     * loop's TLS connections take it for a write of several records and
     * give it back once they are sent (core/event/sock.c), so a loop
     * serving many large responses encrypts into one buffer, still in
     * cache, instead of one per connection. */
    char *gather;
    uint32_t gather_cap;
} hz__bufcache;

/** Bytes [off, len) of data are pending; [len, cap) is free space. */
typedef struct hz__buf {
    char *data; /* owns (cap bytes), or NULL when released */
    uint32_t off, len, cap;
} hz__buf;

HZ__HIDDEN int hz__bufcache_init(hz__bufcache *bc, const hz_allocator *a, unsigned max);
HZ__HIDDEN void hz__bufcache_free(hz__bufcache *bc);

/** Bytes pending in b. */
static inline size_t hz__buf_pending(const hz__buf *b)
{
    return b->len - b->off;
}

/** Makes room for extra bytes after len (compacting nothing), growing to at
 *  least len + extra but never beyond max total capacity. 0 or HZ_ENOMEM /
 *  HZ_ERANGE (would exceed max). Moves data: only call while nobody holds
 *  pointers into it. */
HZ__HIDDEN int hz__buf_reserve(hz__buf *b, hz__bufcache *bc, size_t extra, size_t max);
HZ__HIDDEN int hz__buf_append_grow(hz__buf *b, hz__bufcache *bc, const void *p, size_t n);
/** Appends n bytes (grows without limit but UINT32_MAX). 0 or HZ_ENOMEM / HZ_ERANGE. */
static inline int hz__buf_append(hz__buf *b, hz__bufcache *bc, const void *p, size_t n)
{
    if (HZ__LIKELY((size_t)(b->cap - b->len) >= n)) { /* inline: the hot path has room */
        if (n)
            memcpy(b->data + b->len, p, n);
        b->len += (uint32_t)n;
        return 0;
    }
    return hz__buf_append_grow(b, bc, p, n);
}
/** Moves the pending bytes to the start (off = 0). */
HZ__HIDDEN void hz__buf_compact(hz__buf *b);
/** Gives the block back (to the cache when it has the standard size). */
HZ__HIDDEN void hz__buf_release(hz__buf *b, hz__bufcache *bc);

#endif /* HZ__BUF_H */
