/* metrics.h - the protocol-neutral metrics hooks (internal). A protocol's
 * own hooks (HTTP/1.1: core/http1/h1metrics.c, declared in conn.h) read its
 * fields and call these. The counter block (hz__metrics) is core/event's
 * counters.h: the loop embeds it. */
#ifndef HZ__METRICS_H
#define HZ__METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include "internal.h"
#include "counters.h"
#include "parser.h"

typedef struct hz__loop hz__loop;

/* Hooks called by every protocol. thread: the loop. */
HZ__HIDDEN void hz__metrics_refused(hz__loop *loop); /* accept()ed, closed at the limit */
HZ__HIDDEN void hz__metrics_timeout(hz__loop *loop, unsigned kind);
HZ__HIDDEN void hz__metrics_tls(hz__loop *loop, int ok);

/** Latency bucket bounds in ns (HZ_METRICS_LAT_BUCKETS finite ones). */
HZ__HIDDEN extern const uint64_t hz__lat_bound_ns[HZ_METRICS_LAT_BUCKETS];

/** The hz_method_kind of a parser method code (HZ_M_*). */
static inline unsigned hz__metrics_method_kind(unsigned m)
{
    switch (m) {
    case HZ__M_GET:
        return HZ_METHOD_GET;
    case HZ__M_HEAD:
        return HZ_METHOD_HEAD;
    case HZ__M_POST:
        return HZ_METHOD_POST;
    case HZ__M_PUT:
        return HZ_METHOD_PUT;
    case HZ__M_DELETE:
        return HZ_METHOD_DELETE;
    default:
        return HZ_METHOD_OTHER;
    }
}

/* hz_metrics is filled and read by the caller's size (docs/abi.md). Its
 * first release (0.2) ended at access_log_dropped: that is the smallest
 * size a caller can have, fixed forever (metrics.c checks it). */
#define HZ__METRICS_SIZE_MIN HZ__SIZE_THROUGH(hz_metrics, access_log_dropped)

/* hz_server_metrics_sized / hz_metrics_prometheus_sized with the minimum
 * as a parameter, so a test can pretend the first release was shorter and
 * check what an older caller gets. HZ_EINVAL unless min <= size <=
 * sizeof(hz_metrics). thread: any. */
HZ__HIDDEN int hz__metrics_snapshot(const hz_server *srv, hz_metrics *out, size_t size, size_t min);
HZ__HIDDEN long hz__metrics_render(const hz_metrics *m, size_t size, size_t min, char *buf,
                                   size_t len);

/** Counts a completed response in m: status (100..599 counted by class),
 *  method (HZ_M_*) and latency dur_ns. Inline: a protocol calls it once
 *  per request from its own end-of-exchange hook, which holds the fields.
 *  thread: the loop owning m. */
static inline void hz__metrics_req_done(hz__metrics *m, uint64_t dur_ns, int status,
                                        unsigned method)
{
    hz__m_add(m, HZ__MS_REQ_DONE, 1);
    if (status >= 100 && status <= 599)
        hz__m_add(m, HZ__MS_STATUS + (unsigned)(status / 100 - 1), 1);
    hz__m_add(m, HZ__MS_METHOD + hz__metrics_method_kind(method), 1);
    unsigned b = 0;
    while (b < HZ_METRICS_LAT_BUCKETS && dur_ns > hz__lat_bound_ns[b])
        b++;
    hz__m_add(m, HZ__MS_LAT + b, 1);
    hz__m_add(m, HZ__MS_LAT_SUM, dur_ns);
}

#endif /* HZ__METRICS_H */
