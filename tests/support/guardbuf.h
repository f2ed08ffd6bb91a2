/* guardbuf.h - a buffer whose last byte sits right before a PROT_NONE page
 * (as picohttpparser's tests do), so reading one byte past the end faults. */
#ifndef HZ_GUARDBUF_H
#define HZ_GUARDBUF_H

#include <stddef.h>

typedef struct hz_guardbuf { /* owner: the test */
    void *map;               /* owns: the mapping, guard page included */
    size_t map_len;
    char *data; /* borrowed from map: len bytes ending at the guard page */
    size_t len;
} hz_guardbuf;

/** Maps a buffer of len bytes (0 allowed) ending at a guard page and copies
 *  src into it (src may be NULL to leave it zeroed). Returns g->data, or NULL
 *  if the mapping failed. */
char *hz_guardbuf_make(hz_guardbuf *g, const void *src, size_t len);

/** Unmaps the buffer; NULL-safe and safe on a zeroed or freed one. */
void hz_guardbuf_free(hz_guardbuf *g);

#endif
