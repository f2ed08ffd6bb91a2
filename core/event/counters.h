/* counters.h - the per-loop counter block (internal).
 *
 * Each loop embeds one hz__metrics (hz__loop.metrics) and is its only
 * writer: an increment is a relaxed load plus a relaxed store (no
 * read-modify-write, no lock prefix), and hz_server_metrics reads every
 * loop's counters with relaxed loads from any thread. A data-race detector
 * sees atomics, a loop pays a plain add. It lives in core/event so the loop
 * can embed it; the hooks that fill it and the summing are core/http's
 * metrics.c. */
#ifndef HZ__COUNTERS_H
#define HZ__COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>
#include "internal.h"

enum hz__mslot {
    HZ__MS_ACCEPTED = 0,
    HZ__MS_CLOSED, /* + HZ_CLOSE_* */
    HZ__MS_REQ_BEGUN = HZ__MS_CLOSED + HZ_CLOSE_REASONS,
    HZ__MS_REQ_DONE,                                        /* complete responses */
    HZ__MS_REQ_ABORTED,                                     /* begun, never completed */
    HZ__MS_STATUS,                                          /* + class 0..4 */
    HZ__MS_METHOD = HZ__MS_STATUS + 5,                      /* + HZ_METHOD_* */
    HZ__MS_PARSE = HZ__MS_METHOD + HZ_METHOD_KINDS,         /* + parse error kind */
    HZ__MS_TIMEOUT = HZ__MS_PARSE + HZ_METRICS_PARSE_KINDS, /* + HZ_TIMEOUT_* */
    HZ__MS_TLS_OK = HZ__MS_TIMEOUT + HZ_TIMEOUT_KINDS,
    HZ__MS_TLS_FAILED,
    HZ__MS_BYTES_IN,
    HZ__MS_BYTES_OUT,
    HZ__MS_ALOG_DROPPED, /* access-log file lines lost */
    HZ__MS_LAT_SUM,      /* ns */
    HZ__MS_LAT,          /* + bucket; the last is +Inf */
    /* WebSocket (core/ws) */
    HZ__MS_WS_OPENED = HZ__MS_LAT + HZ_METRICS_LAT_BUCKETS + 1,
    HZ__MS_WS_CLOSED,
    HZ__MS_WS_MSG_IN,
    HZ__MS_WS_MSG_OUT,
    HZ__MS_WS_BYTES_IN,
    HZ__MS_WS_BYTES_OUT,
    HZ__MS_WS_CLOSE, /* + HZ_WS_CLOSE_* */
    /* HTTP/2 (core/http2) */
    HZ__MS_H2_CONNS = HZ__MS_WS_CLOSE + HZ_WS_CLOSE_KINDS,
    HZ__MS_H2_STREAMS,
    HZ__MS_H2_RESETS, /* streams the client reset before their response ended */
    HZ__MS_H2_CALM,   /* connections ended with GOAWAY ENHANCE_YOUR_CALM */
    HZ__MS_H2_PROTO,  /* connections ended with another GOAWAY error */
    HZ__MS_WS_H2,     /* WebSockets opened on an HTTP/2 stream (RFC 8441) */
    /* Parked idle connections (park.h): parked, and left the parked set */
    HZ__MS_PARKED,
    HZ__MS_UNPARKED,
    HZ__MS_COUNT
};

typedef struct hz__metrics { /* owner: embedded in its loop; written by that loop only */
    _Atomic uint64_t v[HZ__MS_COUNT];
} hz__metrics;

/** Adds n to slot s. thread: the owning loop only. */
static inline void hz__m_add(hz__metrics *m, unsigned s, uint64_t n)
{
    uint64_t x = atomic_load_explicit(&m->v[s], memory_order_relaxed);
    atomic_store_explicit(&m->v[s], x + n, memory_order_relaxed);
}

#endif /* HZ__COUNTERS_H */
