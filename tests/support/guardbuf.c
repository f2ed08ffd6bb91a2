/* guardbuf.c - see guardbuf.h. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "guardbuf.h"

#if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#define MAP_ANONYMOUS MAP_ANON
#endif

char *hz_guardbuf_make(hz_guardbuf *g, const void *src, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data_pages = (len + page - 1) / page;
    memset(g, 0, sizeof(*g));
    g->map_len = (data_pages + 1) * page;
    void *m = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        g->map_len = 0;
        return NULL;
    }
    char *guard = (char *)m + data_pages * page;
    if (mprotect(guard, page, PROT_NONE) != 0) {
        munmap(m, g->map_len);
        g->map_len = 0;
        return NULL;
    }
    g->map = m;
    g->data = guard - len;
    g->len = len;
    if (src && len)
        memcpy(g->data, src, len);
    return g->data;
}

void hz_guardbuf_free(hz_guardbuf *g)
{
    if (g && g->map) {
        munmap(g->map, g->map_len);
        g->map = NULL;
        g->data = NULL;
    }
}
