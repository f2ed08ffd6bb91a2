/* exec.h - running handlers on the configured executor, the protocol-
 * neutral side (internal; core/http/exec.c).
 *
 * A route flagged HZ_ROUTE_EXECUTOR (or every route, with
 * cfg.executor_all) has its handler submitted to cfg.executor once the
 * request is complete. The handler runs on a worker; nothing of the
 * connection is touched there:
 *   - the hz_req_* accessors read the request through ex->raw, set at
 *     dispatch (the protocol keeps those bytes alive and unmoved while the
 *     job holds the exchange);
 *   - the hz_res_* calls reach the recorder (the exchange's ops table is
 *     the job's while the handler runs): status, header lines (validated
 *     at the call by the same rules as on the loop), body, through the
 *     thread-safe server allocator;
 *   - when the handler returns, the job is posted back to the loop
 *     (hz__loop_post: locked queue + wake), which replays the response
 *     through the protocol's own table.
 * The job holds a reference on the exchange (ex->refs) and, through the
 * protocol's hold hook, on the connection, so neither is freed before the
 * completion ran on the loop, whatever happened meanwhile:
 *   - queue full (or executor shut down): 503 + Retry-After at once;
 *   - handler deadline (timeouts.handler): the request is marked
 *     cancelled and answered 503 the protocol's way (HTTP/1.1: + close,
 *     the job taking over the read buffer; HTTP/2: on the stream); the
 *     late response is dropped;
 *   - client gone (HTTP/1.1: EOF seen by the peek watch; HTTP/2: the
 *     stream reset or the connection closed): the protocol aborts the
 *     exchange, which marks it cancelled; the late response is dropped;
 *   - stop: a loop does not end while jobs of it are in flight.
 * A response the worker cannot make by itself (a WebSocket accept) is
 * recorded as a deferred call (hz__exec_defer): run on the loop at the
 * replay, after the recorded fields, or with NULL to free it when there is
 * no replay.
 * What differs per protocol is an hz__exec_proto: a few hooks, called on
 * the loop only, never on the hot path of an inline handler.
 */
#ifndef HZ__EXEC_H
#define HZ__EXEC_H

#include "exchange.h"

typedef struct hz__exec_job hz__exec_job;

/** What a protocol supplies to run its exchanges' handlers on the
 *  executor. c is the connection ex had at dispatch (held by hold, so
 *  valid until the job ends even after ex->conn became NULL). thread: the
 *  loop, every hook. */
typedef struct hz__exec_proto {
    /* The protocol's table, the exchange's again once the job is done. */
    const hz__res_ops *ops;
    /* Takes (delta 1) or drops (delta -1) the job's hold on c. */
    void (*hold)(hz__conn *c, int delta);
    /* 1 while ex is still c's to answer (open, not answered meanwhile):
     * the completion replays the recorded response then. */
    int (*current)(const hz_req *ex, hz__conn *c);
    /* 1 while the protocol still holds ex (and frees it itself). */
    int (*owned)(const hz_req *ex, hz__conn *c);
    /* Frees ex: neither the protocol nor anyone else holds it. */
    void (*release)(hz__loop *loop, hz_req *ex);
    /* The library's own answer (500: no or a broken response; 503: the
     * executor refused the job, or the deadline), or a reset/close when
     * the response has begun. */
    void (*fail)(hz_req *ex, hz__conn *c, int status);
    /* The handler deadline passed: 1 when ex can still be answered (then
     * fail(503) follows; buffers the worker may still read move to
     * *pinned, freed with the job), 0 when it is gone already. */
    int (*deadline)(hz_req *ex, hz__conn *c, hz__buf *pinned);
    /* The response was replayed: get the connection writing. */
    void (*replayed)(hz_req *ex, hz__conn *c);
} hz__exec_proto;

/** The job of an exchange whose handler is out on the executor. Written on
 *  the loop only (the worker side is private to exec.c). */
struct hz__exec_job_view {
    int timed_out; /* the deadline answered: the EOF watch ends */
    int peer_data; /* HTTP/1.1: pipelined bytes seen, the EOF watch ends */
};

/** Whether rec's handler runs on the executor (streamed-body routes always
 *  run inline: their body callbacks belong to the loop). */
static inline int hz__exec_wanted(const hz_server *srv, const hz__route_rec *rec)
{
    return srv->cfg.executor && !(rec->flags & (HZ_ROUTE_STREAM_BODY | HZ_ROUTE_INLINE)) &&
           ((rec->flags & HZ_ROUTE_EXECUTOR) || srv->cfg.executor_all);
}

/** Submits ex's handler to the executor, or answers 503 + Retry-After
 *  (p->fail) when it refuses. ex->raw must be set. thread: loop. */
HZ__HIDDEN void hz__exec_dispatch(const hz__exec_proto *p, hz__conn *c, hz_req *ex);

/** The loop-side flags of ex's job (ex->exec must be set). thread: loop. */
HZ__HIDDEN struct hz__exec_job_view *hz__exec_view(const hz_req *ex);

/** A response decided on the worker and made on the loop (an upgrade:
 *  core/ws): called once, on the loop, with ex when the replay finds ex
 *  still the connection's to answer (the recorded fields set already; fn
 *  answers, whatever it decides), or with ex NULL when it is not (client
 *  gone, deadline, failure): fn only frees ud then. */
typedef void (*hz__exec_defer_fn)(hz_req *ex, void *ud);

/** Whether res is the executor's recorder (the handler runs on a worker).
 *  thread: any. */
HZ__HIDDEN int hz__exec_recording(const hz_res *res);

/** Records fn as ex's response (in place of hz_res_send & co.): 0, and fn
 *  owns ud from then on (it runs exactly once, on the loop); HZ_ECANCELED
 *  (ex abandoned) or HZ_ESTATE (a response was recorded already), and ud
 *  stays the caller's. thread: the worker running ex's handler. */
HZ__HIDDEN int hz__exec_defer(hz_req *ex, hz__exec_defer_fn fn, void *ud);

#endif /* HZ__EXEC_H */
