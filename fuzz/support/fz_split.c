/* fz_split.c - see fz_split.h. */
#include <stdlib.h>
#include <string.h>
#include "fz_split.h"
#include "fz_rand.h"

int fz_split_feed(const char *body, size_t len, uint32_t seed, int mode, fz_feed_fn feed, void *dec)
{
    size_t at = 0;
    while (at < len) {
        size_t n = len - at;
        if (mode == 1) {
            n = 1 + fz_lcg(&seed) % (n < 97 ? n : 97);
        } else if (mode == 2) {
            n = 1;
        }
        char *piece = malloc(n); /* its own buffer, so a read past it is caught */
        if (!piece)
            abort();
        memcpy(piece, body + at, n);
        int rc = feed(dec, piece, n);
        free(piece);
        at += n;
        if (rc < 0)
            return rc;
    }
    return 0;
}

void fz_log_put(fz_log *l, const void *p, size_t n)
{
    if (l->len + n > l->cap)
        abort(); /* more output than the input can explain */
    memcpy(l->log + l->len, p, n);
    l->len += n;
}

void fz_log_str(fz_log *l, hz_str s)
{
    if (s.ptr)
        fz_log_put(l, s.ptr, s.len);
    fz_log_put(l, s.ptr ? "|" : "-|", s.ptr ? 1 : 2);
}
