/* exec.h - running handlers on the configured executor (internal).
 *
 * A route flagged HZ_ROUTE_EXECUTOR (or every route, with
 * cfg.executor_all) has its handler submitted to cfg.executor once the
 * request is complete. The handler runs on a worker; nothing of the
 * connection is touched there:
 *   - the hz_req_* accessors read the request through a base pointer taken
 *     at dispatch (the read buffer cannot move while a handler holds views);
 *   - the hz_res_* calls reach the recorder (the exchange's ops table is
 *     the job's while the handler runs): status, header lines (validated
 *     at the call by the same rules as on the loop), body, through the
 *     thread-safe server allocator;
 *   - when the handler returns, the job is posted back to the loop
 *     (hz__loop_post: locked queue + wake), which replays the response.
 * The job holds a reference on the exchange and one on the connection, so
 * neither is freed before the completion ran on the loop, whatever happened
 * meanwhile:
 *   - queue full (or executor shut down): 503 + Retry-After at once, the
 *     connection lives on;
 *   - handler deadline (timeouts.handler): the job takes over the read
 *     buffer (the handler may still read it), the request is marked
 *     cancelled and answered 503 + close; the late response is dropped;
 *   - client gone (EOF seen while the handler runs): the connection closes,
 *     the request is marked cancelled, the late response is dropped;
 *   - stop: a loop does not end while jobs of it are in flight.
 */
#ifndef HZ__EXEC_H
#define HZ__EXEC_H

#include "conn.h"

typedef struct hz__exec_job hz__exec_job;

/** Whether rec's handler runs on the executor (streamed-body routes always
 *  run inline: their body callbacks belong to the loop). */
static inline int hz__exec_wanted(const hz_server *srv, const hz__route_rec *rec)
{
    return srv->cfg.executor && !(rec->flags & (HZ_ROUTE_STREAM_BODY | HZ_ROUTE_INLINE)) &&
           ((rec->flags & HZ_ROUTE_EXECUTOR) || srv->cfg.executor_all);
}

/** Submits ex's handler to the executor, or answers 503 + Retry-After when
 *  it refuses. thread: loop. */
HZ__HIDDEN void hz__exec_dispatch(hz__conn *c, struct hz_req *ex);

/** Whether the loop should poll c for readability while ex's handler runs
 *  on a worker (to notice the client going away). thread: loop. */
HZ__HIDDEN int hz__exec_watching(const struct hz_req *ex);
/** c became readable while its handler runs on a worker: EOF closes the
 *  connection (cancelling the request); pipelined bytes stop the watch;
 *  nothing is consumed. thread: loop. */
HZ__HIDDEN void hz__exec_peek(hz__conn *c);

#endif /* HZ__EXEC_H */
