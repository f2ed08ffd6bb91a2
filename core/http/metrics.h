/* metrics.h - the metrics hooks the core calls and the access-log hook
 * (internal). The counter block itself (hz__metrics) is core/event's
 * counters.h: the loop embeds it. */
#ifndef HZ_METRICS_H
#define HZ_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include "internal.h"
#include "counters.h"

typedef struct hz__loop hz__loop;
typedef struct hz__conn hz__conn;
struct hz_req;

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
