/* base64.c - RFC 4648 §4 base64, strict decoding. */
#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t hz__base64_encode(char *out, const void *in, size_t len)
{
    const uint8_t *p = in;
    char *o = out;
    for (; len >= 3; p += 3, len -= 3) {
        uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = alphabet[(v >> 6) & 63];
        *o++ = alphabet[v & 63];
    }
    if (len) {
        uint32_t v = (uint32_t)p[0] << 16 | (len == 2 ? (uint32_t)p[1] << 8 : 0);
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = len == 2 ? alphabet[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return (size_t)(o - out);
}

/* The 6-bit value of an alphabet character, or -1. */
static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long hz__base64_decode(uint8_t *out, size_t cap, const char *in, size_t len)
{
    if (len % 4)
        return HZ_EINVAL;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        unsigned pad = 0;
        for (unsigned k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + k];
            if (c == '=' && i + 4 == len && k >= 2) {
                /* "x=" must be followed by '=' only: "xx=y" is malformed */
                if (k == 2 && in[i + 3] != '=')
                    return HZ_EINVAL;
                v[k] = 0;
                pad++;
                continue;
            }
            v[k] = sextet(c);
            if (v[k] < 0)
                return HZ_EINVAL;
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        unsigned bytes = 3 - pad;
        /* §3.5: the pad bits of the last character must be zero */
        if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
            return HZ_EINVAL;
        if (cap - n < bytes)
            return HZ_ERANGE;
        out[n++] = (uint8_t)(w >> 16);
        if (bytes > 1)
            out[n++] = (uint8_t)(w >> 8);
        if (bytes > 2)
            out[n++] = (uint8_t)w;
    }
    return (long)n;
}
