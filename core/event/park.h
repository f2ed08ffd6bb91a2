/* park.h - parked connections (internal; docs/architecture.md, "Parked
 * connections").
 *
 * A connection that has stayed idle between requests is worth a few
 * bytes, not a whole connection object: its owner (core/http1) trades it
 * for a 32-byte record here and frees the object. The records live in
 * per-loop chunks (no allocation per record), are kept in deadline order
 * with one loop timer for the earliest, and the poller reports a parked fd
 * with the tagged udata hz__park_udata(idx) (odd: never an hz__io, which is
 * aligned), which the loop hands to hz__park_event. The owner's ops then
 * rebuild the connection (wake), or close the fd at the deadline (expire),
 * at a graceful stop or at teardown (close). */
#ifndef HZ__PARK_H
#define HZ__PARK_H

#include <stdint.h>
#include "internal.h"
#include "timer.h"

typedef struct hz__loop hz__loop;

#define HZ__PARK_NONE UINT32_MAX

typedef struct hz__parked { /* owner: its loop's parkset (a chunk slot) */
    uint64_t deadline;      /* ms: the owner's idle timeout; order of the list */
    uint64_t id;            /* the owner's: the connection id */
    int32_t fd;             /* owns (through ops): the socket; -1 when free */
    uint32_t n;             /* the owner's: requests served */
    uint32_t prev, next;    /* deadline order; next also links the free list */
} hz__parked;

/** What the owner does with a record that leaves the set. r is a copy: the
 *  record is already free (ops may park again). thread: the loop. */
typedef struct hz__park_ops {
    /** The poller reported events for the fd: rebuild and serve. */
    void (*wake)(hz__loop *loop, const hz__parked *r, unsigned events);
    /** The deadline passed: close (a timeout). */
    void (*expire)(hz__loop *loop, const hz__parked *r);
    /** Graceful stop or teardown: close. */
    void (*close)(hz__loop *loop, const hz__parked *r);
} hz__park_ops;

#define HZ__PARK_CHUNK 128u /* records per chunk: 4 KiB */

typedef struct hz__parkset { /* owner: embedded in its loop */
    hz__parked **chunks;     /* owns: nchunks chunks of HZ__PARK_CHUNK */
    uint32_t nchunks;        /* chunks allocated (never shrinks before fini) */
    uint32_t free;           /* head of the free list, HZ__PARK_NONE */
    uint32_t head, tail;     /* the deadline-ordered list */
    uint32_t count;          /* records in use */
    const hz__park_ops *ops; /* borrowed: static; set by the first hz__park_put */
    hz__timer timer;         /* the head's deadline */
    hz__timer trim;          /* returns the parked connections\' memory (park.c) */
    uint32_t since_trim;     /* records put since the last trim */
} hz__parkset;

/** The poller udata of a parked record (odd: told apart from an hz__io). */
static inline void *hz__park_udata(uint32_t idx)
{
    return (void *)(((uintptr_t)idx << 1) | 1u);
}
static inline int hz__park_is(const void *udata)
{
    return ((uintptr_t)udata & 1u) != 0;
}

HZ__HIDDEN void hz__park_init(hz__loop *loop);
/** Frees the chunks (the records must be gone: hz__park_close_all). */
HZ__HIDDEN void hz__park_fini(hz__loop *loop);
/** Copies r into a free record (its prev/next ignored) ordered by deadline:
 *  the index (>= 0), or HZ_ENOMEM. */
HZ__HIDDEN long hz__park_put(hz__loop *loop, const hz__park_ops *ops, const hz__parked *r);
/** Frees record idx without calling ops (the owner undoes a park). */
HZ__HIDDEN void hz__park_remove(hz__loop *loop, uint32_t idx);
/** The poller reported udata (hz__park_is): ops->wake. */
HZ__HIDDEN void hz__park_event(hz__loop *loop, void *udata, unsigned events);
/** ops->close for every record (graceful stop, teardown). */
HZ__HIDDEN void hz__park_close_all(hz__loop *loop);

#endif /* HZ__PARK_H */
