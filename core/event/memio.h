/* memio.h - the in-memory transport: a connection whose input is a byte
 * array fed in segments of chosen sizes and whose output is captured, so a
 * test or a fuzz target runs a protocol's real state machine (partial reads
 * and partial writes included) without sockets (internal). */
#ifndef HZ__MEMIO_H
#define HZ__MEMIO_H

#include <stddef.h>
#include "sock.h"

typedef struct hz__memio { /* owner: the caller; outlives its connection */
    const char *in;        /* borrowed: the client's bytes */
    size_t in_len, in_off;
    size_t max_read;                  /* bytes per recv (0 = all available) */
    size_t max_write;                 /* bytes per send (0 = all); sends alternate with EAGAIN */
    int eof;                          /* after the input: 1 = EOF, 0 = EAGAIN (client waits) */
    char *out;                        /* owns (malloc family of the server's allocator): captured */
    size_t out_len, out_cap, out_max; /* out_max: capture at most this much */
    size_t sent;                      /* bytes the server sent in total */
    int shut, closed;                 /* the server shut down writing / closed */
    int blocked;                      /* private: the next send returns HZ_EAGAIN */
    const hz_allocator *a;            /* borrowed: set by whoever opens the connection */
} hz__memio;

HZ__HIDDEN extern const hz__transport_vt hz__transport_mem;

/** Frees io->out. */
HZ__HIDDEN void hz__memio_free(hz__memio *io);

#endif /* HZ__MEMIO_H */
