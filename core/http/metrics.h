/* metrics.h - per-loop counters and the access-log hook (internal).
 *
 * Each loop owns one hz__metrics and is its only writer: an increment is a
 * relaxed load plus a relaxed store (no read-modify-write, no lock prefix),
 * and hz_server_metrics reads every loop's counters with relaxed loads from
 * any thread. A data-race detector sees atomics, a loop pays a plain add. */
#ifndef HZ_METRICS_H
#define HZ_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include "internal.h"

typedef struct hz__loop hz__loop;
typedef struct hz__conn hz__conn;
struct hz_req;

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

/* hz_metrics is filled and read by the caller's size (docs/abi.md). Its
 * first release (0.2) ended at access_log_dropped: that is the smallest
 * size a caller can have, fixed forever (metrics.c checks it). */
#define HZ__METRICS_SIZE_MIN HZ__SIZE_THROUGH(hz_metrics, access_log_dropped)

/* hz_server_metrics_sized / hz_metrics_prometheus_sized with the minimum
 * as a parameter, so a test can pretend the first release was shorter and
 * check what an older caller gets. HZ_EINVAL unless min <= size <=
 * sizeof(hz_metrics). thread: any. */
HZ_HIDDEN int hz__metrics_snapshot(const hz_server *srv, hz_metrics *out, size_t size, size_t min);
HZ_HIDDEN long hz__metrics_render(const hz_metrics *m, size_t size, size_t min, char *buf,
                                  size_t len);

/* Hooks called by the core. thread: the loop. */
HZ_HIDDEN void hz__metrics_accepted(hz__conn *c);
HZ_HIDDEN void hz__metrics_refused(hz__loop *loop); /* accept()ed, closed at the limit */
HZ_HIDDEN void hz__metrics_closed(hz__conn *c);
HZ_HIDDEN void hz__metrics_timeout(hz__loop *loop, unsigned kind);
/** c's timer fired (its kind is c->tkind): counts the timeout, if it is one. */
HZ_HIDDEN void hz__metrics_conn_timer(hz__conn *c);
HZ_HIDDEN void hz__metrics_parse_error(hz__conn *c, unsigned kind);
HZ_HIDDEN void hz__metrics_tls(hz__loop *loop, int ok);
/** A request's first byte is here (starts its clock). */
HZ_HIDDEN void hz__metrics_req_begin(struct hz_req *ex);
/** Its response is complete: counts it and writes the access log. */
HZ_HIDDEN void hz__metrics_req_end(hz__conn *c, struct hz_req *ex);
/** It ended without a complete response (connection closed). */
HZ_HIDDEN void hz__metrics_req_abort(struct hz_req *ex);

/** Records the first cause of a connection's close (HZ_CLOSE_*). */
#define hz__conn_why(c, why)                                                                       \
    do {                                                                                           \
        if (!(c)->close_why)                                                                       \
            (c)->close_why = (uint8_t)((why) + 1);                                                 \
    } while (0)

#endif /* HZ_METRICS_H */
