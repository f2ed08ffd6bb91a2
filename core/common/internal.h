/* internal.h - helpers shared across core/ (hidden symbols, never
 * installed). Names: hz__<module>_<verb>. Backends never include it: what
 * they share with the core is public, in <httpz/backend.h>. */
#ifndef HZ__INTERNAL_H
#define HZ__INTERNAL_H

#include <stddef.h>
#include <httpz/httpz.h>
#include <httpz/backend.h>
#include "platform.h"

#define HZ__HIDDEN __attribute__((visibility("hidden")))

#define HZ__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define HZ__LIKELY(x) __builtin_expect(!!(x), 1)
#define HZ__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HZ__NOINLINE __attribute__((noinline))

/* Allocation through an instance; size 0 is rounded to 1 so allocators never
 * see it. Inline for the core's hot paths; backends call the exported
 * hz_alloc* wrappers of these (alloc.c). */
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

/* hz_err_from_errno() (backend.h) without the exported symbol's PLT call. */
HZ__HIDDEN int hz__err_from_errno(int err);

/* hz_allocator_check() (backend.h), under the core's name. */
#define hz__allocator_check(a) hz_allocator_check(a)

/* Size-prefixed public config structs (docs/abi.md): their first member is
 * `size_t size`, set by the caller's inline hz_*_init to the caller's
 * sizeof. HZ__SIZE_THROUGH(T, f) is the size of T up to and including f:
 * each reader's minimum is fixed at the struct's last field of its first
 * release, so appending fields never changes it. */
#define HZ__SIZE_THROUGH(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* The size-prefixed struct helpers (public in backend.h for backends and
 * handlers with config structs of their own). */
#define hz__cfg_init hz_sized_init
#define hz__cfg_import hz_sized_import

#endif /* HZ__INTERNAL_H */
