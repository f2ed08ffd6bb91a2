/* url.h - percent-decoding internals shared by url.c, form.c and cookie.c. */
#ifndef HZ__URL_H
#define HZ__URL_H

#include <stddef.h>
#include <httpz/httpz.h>
#include "internal.h"

/* The value of hex digit c, or -1. */
static inline int hz__hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* fold case; non-letters stay out of range */
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Compares the percent-decoding of raw (under HZ_URL_* flags) with
 * name[0..nlen) without a buffer. Returns 1 (equal), 0 (different) or
 * HZ_EINVAL (raw has a bad escape or a byte the flags refuse). */
HZ__HIDDEN int hz__url_equals(const char *raw, size_t rawlen, const char *name, size_t nlen,
                              unsigned flags);

#endif /* HZ__URL_H */
