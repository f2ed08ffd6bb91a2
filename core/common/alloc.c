/* alloc.c - the default allocator (malloc family), the allocator check and
 * the allocation helpers backends call (the core uses the inline hz__
 * versions of the same functions from internal.h). */
#include <stdlib.h>
#include "internal.h"

static void *default_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void *default_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
    (void)ctx;
    (void)old_size;
    return realloc(ptr, new_size);
}

static void default_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    (void)size;
    free(ptr);
}

const hz_allocator_vt hz_allocator_default_vt = {
    .abi = HZ_BACKEND_ABI,
    .name = "default",
    .caps = HZ_ALLOC_CAP_SIZED | HZ_ALLOC_CAP_THREADSAFE,
    .alloc = default_alloc,
    .realloc = default_realloc,
    .free = default_free,
};

const hz_allocator hz_allocator_default = {&hz_allocator_default_vt, NULL};

int hz_allocator_check(const hz_allocator *a)
{
    if (!a || !a->vt)
        return HZ_EINVAL;
    if (a->vt->abi != HZ_BACKEND_ABI)
        return HZ_EABI;
    if (!a->vt->alloc || !a->vt->realloc || !a->vt->free)
        return HZ_EINVAL;
    return 0;
}

void *hz_alloc(const hz_allocator *a, size_t size)
{
    return hz__alloc(a, size);
}

void *hz_alloc_zero(const hz_allocator *a, size_t size)
{
    return hz__calloc(a, size);
}

void *hz_alloc_resize(const hz_allocator *a, void *ptr, size_t old_size, size_t new_size)
{
    return hz__realloc(a, ptr, old_size, new_size);
}

void hz_alloc_free(const hz_allocator *a, void *ptr, size_t size)
{
    hz__free(a, ptr, size);
}
