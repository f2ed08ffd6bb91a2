/* internal.h - helpers shared across core/ and backends/ (hidden symbols,
 * never installed). Names: hz__<module>_<verb>. */
#ifndef HZ_INTERNAL_H
#define HZ_INTERNAL_H

#include <stddef.h>
#include <httpz/httpz.h>
#include <httpz/backend.h>
#include "platform.h"

#define HZ_HIDDEN __attribute__((visibility("hidden")))

#define HZ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define HZ_LIKELY(x) __builtin_expect(!!(x), 1)
#define HZ_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Allocation through an instance; size 0 is rounded to 1 so allocators never
 * see it. */
static inline void *hz__alloc(const hz_allocator *a, size_t size)
{
    return a->vt->alloc(a->ctx, size ? size : 1);
}

static inline void *hz__calloc(const hz_allocator *a, size_t size)
{
    void *p = hz__alloc(a, size);
    if (p)
        __builtin_memset(p, 0, size);
    return p;
}

static inline void *hz__realloc(const hz_allocator *a, void *ptr, size_t old_size, size_t new_size)
{
    if (!ptr)
        return hz__alloc(a, new_size);
    return a->vt->realloc(a->ctx, ptr, old_size ? old_size : 1, new_size ? new_size : 1);
}

static inline void hz__free(const hz_allocator *a, void *ptr, size_t size)
{
    if (ptr)
        a->vt->free(a->ctx, ptr, size ? size : 1);
}

/* Maps an errno value to an HZ_E* code (the original errno goes to the log). */
HZ_HIDDEN int hz__err_from_errno(int err);

/* Checks an allocator instance: HZ_EINVAL for a missing slot, HZ_EABI for
 * another ABI. */
HZ_HIDDEN int hz__allocator_check(const hz_allocator *a);

/** The certificate for a TLS server name, shared by the TLS backends:
 *  items is an array of n structs of size stride, each holding a
 *  `char *` name (NULL: no name) at name_off. An exact name (ASCII case
 *  ignored) beats a "*.rest" wildcard, which covers exactly one leftmost
 *  label (RFC 6125 §6.4.3); the first of equal matches wins. Returns the
 *  index of the best match, or 0 (the default certificate) when nothing
 *  matches. Defined in core/tls.c. */
HZ_HIDDEN unsigned hz__sni_pick(const void *items, unsigned n, size_t stride, size_t name_off,
                                const char *host, size_t len);

/* Size-prefixed public config structs (docs/abi.md): their first member is
 * `size_t size`, set by the caller's inline hz_*_init to the caller's
 * sizeof. HZ__SIZE_THROUGH(T, f) is the size of T up to and including f:
 * each reader's minimum is fixed at the struct's last field of its first
 * release, so appending fields never changes it. */
#define HZ__SIZE_THROUGH(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* Writes the first size bytes of defaults (a full struct of full_size bytes)
 * to dst, then dst's size field = size when it fits: an hz_*_init_sized. */
HZ_HIDDEN void hz__cfg_init(void *dst, size_t size, const void *defaults, size_t full_size);

/* Reads a caller's size-prefixed struct src into dst, which already holds
 * the defaults (full_size bytes): copies the first src->size bytes, keeps
 * the defaults past them, sets dst's size = full_size. HZ_EINVAL when
 * src->size < min_size (a size no release ever had, or garbage) or >
 * full_size (a newer header than this library knows, or garbage). */
HZ_HIDDEN int hz__cfg_import(void *dst, size_t full_size, const void *src, size_t min_size);

#endif /* HZ_INTERNAL_H */
