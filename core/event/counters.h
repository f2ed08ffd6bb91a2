/* counters.h - the per-loop counter block (internal).
 *
 * Each loop embeds one hz__metrics (hz__loop.metrics) and is its only
 * writer: an increment is a relaxed load plus a relaxed store (no
 * read-modify-write, no lock prefix), and hz_server_metrics reads every
 * loop's counters with relaxed loads from any thread. A data-race detector
 * sees atomics, a loop pays a plain add. It lives in core/event so the loop
 * can embed it; the hooks that fill it and the summing are core/http's
 * metrics.c. */
#ifndef HZ_COUNTERS_H
#define HZ_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>
#include "internal.h"

enum hz__mslot {
    HZ_MS_ACCEPTED = 0,
    HZ_MS_CLOSED, /* + HZ_CLOSE_* */
    HZ_MS_REQ_BEGUN = HZ_MS_CLOSED + HZ_CLOSE_REASONS,
    HZ_MS_REQ_DONE,                                       /* complete responses */
    HZ_MS_REQ_ABORTED,                                    /* begun, never completed */
    HZ_MS_STATUS,                                         /* + class 0..4 */
    HZ_MS_METHOD = HZ_MS_STATUS + 5,                      /* + HZ_METHOD_* */
    HZ_MS_PARSE = HZ_MS_METHOD + HZ_METHOD_KINDS,         /* + parse error kind */
    HZ_MS_TIMEOUT = HZ_MS_PARSE + HZ_METRICS_PARSE_KINDS, /* + HZ_TIMEOUT_* */
    HZ_MS_TLS_OK = HZ_MS_TIMEOUT + HZ_TIMEOUT_KINDS,
    HZ_MS_TLS_FAILED,
    HZ_MS_BYTES_IN,
    HZ_MS_BYTES_OUT,
    HZ_MS_ALOG_DROPPED, /* access-log file lines lost */
    HZ_MS_LAT_SUM,      /* ns */
    HZ_MS_LAT,          /* + bucket; the last is +Inf */
    HZ_MS_COUNT = HZ_MS_LAT + HZ_METRICS_LAT_BUCKETS + 1
};

typedef struct hz__metrics { /* owner: embedded in its loop; written by that loop only */
    _Atomic uint64_t v[HZ_MS_COUNT];
} hz__metrics;

/** Adds n to slot s. thread: the owning loop only. */
static inline void hz__m_add(hz__metrics *m, unsigned s, uint64_t n)
{
    uint64_t x = atomic_load_explicit(&m->v[s], memory_order_relaxed);
    atomic_store_explicit(&m->v[s], x + n, memory_order_relaxed);
}

#endif /* HZ_COUNTERS_H */
