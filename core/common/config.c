/* config.c - reading the size-prefixed public config structs, so a program
 * built against an older header runs against a newer library (docs/abi.md). */
#include <string.h>
#include "internal.h"

void hz_sized_init(void *dst, size_t size, const void *defaults, size_t full_size)
{
    memcpy(dst, defaults, size < full_size ? size : full_size);
    if (size >= sizeof(size_t))
        memcpy(dst, &size, sizeof(size));
}

int hz_sized_import(void *dst, size_t full_size, const void *src, size_t min_size)
{
    size_t size;
    memcpy(&size, src, sizeof(size));
    if (size < min_size || size > full_size)
        return HZ_EINVAL;
    memcpy(dst, src, size);
    memcpy(dst, &full_size, sizeof(full_size));
    return 0;
}
