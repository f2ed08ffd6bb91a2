/* exchange.h - the protocol-neutral side of a request/response exchange
 * (internal).
 *
 * The public hz_res_* functions (response.c) check their arguments and
 * validate header fields here, once, then reach the protocol that carries
 * the exchange through an ops table (hz__res_ops): the HTTP/1.1 writer
 * (core/http1/h1res.c) or the executor recorder (exec.c), which records
 * the calls of a handler running on a worker and replays them on the loop
 * through the protocol's table. A new protocol supplies its own table. */
#ifndef HZ__EXCHANGE_H
#define HZ__EXCHANGE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "internal.h"
#include "buf.h"
#include "timer.h"
#include "parser.h"
#include "router.h"
#include "loop.h"
#include "sock.h"

/* What hz__res_header_check found out about a header name. */
enum hz__hdr_kind {
    HZ__HDR_PLAIN = 0,  /* stored and sent as given */
    HZ__HDR_DROP,       /* Date: the library always sends its own; accepted, ignored */
    HZ__HDR_SERVER,     /* Server: replaces the configured one */
    HZ__HDR_CONNECTION, /* Connection without "close": the library decides; ignored */
    HZ__HDR_CONN_CLOSE, /* Connection with a "close" token: close after the response */
};

/** Validates one response header field for every protocol and every thread
 *  (the one place that decides): name a token, value field-value bytes
 *  (RFC 9110 §5.5: no CR, LF, NUL or other controls but HTAB), framing
 *  fields (Content-Length, Transfer-Encoding) refused. Returns an
 *  hz__hdr_kind (>= 0) or HZ_EINVAL. *nl and *vl get the lengths. */
HZ__HIDDEN int hz__res_header_check(const char *name, const char *value, size_t *nl, size_t *vl);

/** Bytes a header line takes against HZ__RES_HDRS_MAX ("name: value\r\n"). */
#define HZ__RES_HDR_COST(nl, vl) ((nl) + (vl) + 4u)
/** User header bytes per response (HZ_ERANGE beyond). */
#define HZ__RES_HDRS_MAX 65536u

/** A connection handed over to another protocol after an upgrade (HTTP/1.1
 *  101 to WebSocket): its transport, the input read past the request, the
 *  output still queued ahead of the upgrade's own answer, and its poller
 *  registration (udata still the old owner's: the receiver re-points it with
 *  the poller's modify). The receiver owns all of it, and the connection's
 *  slot in hz_server.nconns, from the call on. */
typedef struct hz__handover {
    hz__loop *loop;    /* borrowed: the connection's loop */
    hz__sock sock;     /* owns: moved with hz__sock_move */
    hz__buf in;        /* owns: unread input at [off, len) */
    hz__buf out;       /* owns: unwritten output at [off, len) */
    int registered;    /* the fd is in the poller */
    unsigned interest; /* HZ_EV_* registered */
    uint64_t conn_id;  /* the connection's id (metrics, logs) */
    /* A carrier that is not a connection of its own (an HTTP/2 stream,
     * RFC 8441): sock is then the stream's byte transport (fd -1, never in
     * the poller), and the receiver stores itself in *peer so the carrier
     * can notify it (data, writable, gone). NULL for a socket. */
    void **peer; /* borrowed: the carrier's slot */
} hz__handover;

/** Called on the loop once the upgrading exchange completes in order (after
 *  the responses pipelined before it): h is the connection to take over, or
 *  NULL when the connection closed first (ud is then only to be freed). */
typedef void (*hz__upgrade_fn)(hz__handover *h, void *ud);

/** How hz_req / hz_res reach the protocol carrying them. Every slot is
 *  called after the neutral argument checks (status range, NULL bodies,
 *  header syntax) and does the state checks itself, liveness first
 *  (HZ_ECLOSED, HZ_ECANCELED, then HZ_ESTATE), because that state lives
 *  with the protocol (the recorder's on the worker, never in fields the
 *  loop writes); one indirect call per public call on the hot path.
 *  thread: the exchange's loop, except in the recorder (its worker). */
typedef struct hz__res_ops {
    /* Adds a validated header; kind is an hz__hdr_kind other than DROP. */
    int (*set_header)(hz_req *ex, const char *name, size_t nl, const char *value, size_t vl,
                      int kind);
    /* A whole response: head (length len) and body, complete. */
    int (*send)(hz_req *ex, int status, const void *body, size_t len);
    /* A streamed response of unknown length. */
    int (*start)(hz_req *ex, int status);
    int (*write)(hz_req *ex, const void *buf, size_t len); /* len > 0 */
    int (*end)(hz_req *ex);
    /* A body pulled from src (copied); length -1: unknown. On 0 the table
     * owns the source: its done runs exactly once. */
    int (*send_source)(hz_req *ex, int status, int64_t length, const hz_body_source *src);
    /* A source that returned HZ_EAGAIN has data again. */
    int (*resume)(hz_req *ex);
    /* hz_req_on_body / hz_req_resume (after the neutral checks); loop only. */
    int (*on_body)(hz_req *ex, hz_body_chunk_fn on_chunk, hz_body_end_fn on_end, void *ud);
    int (*resume_body)(hz_req *ex);
    /* hz_res_after (after the neutral checks): arms ex->after; loop only. */
    int (*after)(hz_req *ex, unsigned ms, hz_after_fn fn, void *ud);
    /* 0 when the exchange can still answer, else HZ_ECLOSED/HZ_ECANCELED. */
    int (*live)(const hz_req *ex);
    /* 1: the loop-only calls (on_done, on_drain, after, on_body, resume,
     * sendfile) are allowed; 0 (the recorder): they return HZ_ENOTSUP. */
    unsigned on_loop;
    /* Optional (NULL: not offered). Ends an exchange that cannot complete,
     * as an executor deadline does: the exchange is aborted (on_done gets
     * HZ_ECANCELED), then status is answered and the connection closed
     * when nothing was sent yet, else the response is cut off (HTTP/1.1:
     * the connection closes; HTTP/2: the stream is reset), so a truncated
     * body is never taken for a whole one. why: the HZ_CLOSE_* a closed
     * connection counts. Used by detached responses (async.c): their
     * deadline (503, HZ_CLOSE_TIMEOUT) and a release mid-stream. loop only. */
    int (*abort)(hz_req *ex, int status, int why);
    /* Optional (NULL: HZ_ENOTSUP). Ends the exchange as an upgrade: the
     * protocol counts status (101) as sent, writes nothing itself, and hands
     * the connection to fn once the exchange completes in order. Only
     * before the response started and with no request body; loop only. */
    int (*upgrade)(hz_req *ex, int status, hz__upgrade_fn fn, void *ud);
    /* Optional: 1 when the connection is TLS, else 0. */
    int (*secure)(const hz_req *ex);
} hz__res_ops;

/* The response handle a handler gets: neutral, so the hz_res_* functions
 * need nothing of the protocol but its table. */
struct hz_res {             /* owner: embedded in its hz_req */
    struct hz_req *ex;      /* borrowed: the enclosing exchange */
    const hz__res_ops *ops; /* borrowed: static; the recorder's while on a worker */
};

/** The server's allocator, for objects a response call makes (a file
 *  source); thread-safe like the allocator. */
HZ__HIDDEN const hz_allocator *hz__res_alloc(const hz_res *res);

/** The HTTP/1.1 response writer (core/http1/h1res.c). */
HZ__HIDDEN extern const hz__res_ops hz__h1_res_ops;

/* Where a request body goes: buffered for hz_req_body, streamed to the
 * handler's callbacks, or discarded. */
enum hz__sink { HZ__SINK_BUFFER = 0, HZ__SINK_STREAM, HZ__SINK_DISCARD };

typedef struct hz__conn hz__conn; /* the protocol's connection: opaque here */

/* The protocol-neutral exchange: what hz_req_* / hz_res_* read and write,
 * the same on the loop and on an executor worker. A protocol embeds it
 * first in its own exchange (HTTP/1.1: hz__h1_ex, core/http1/conn.h) and
 * fills the request views before dispatch. */
struct hz_req {               /* owner: the protocol's exchange that embeds it */
    hz__conn *conn;           /* borrowed; NULL once the connection closed */
    hz__loop *loop;           /* borrowed: outlives the exchange */
    struct hz_req *next_free; /* borrowed: free-list link */
    hz__field *fields;        /* owns: nfields_cap entries */
    uint32_t nfields_cap;
    hz__req_head head; /* offsets relative to raw */
    /* borrowed: the request's bytes for the hz_req_* views (which cannot
     * move while the handler holds views; an executor job keeps them alive
     * past a timeout); NULL before dispatch and once detached */
    const char *raw;
    const hz__route_rec *rec; /* borrowed: the server's */
    hz__route_match match;
    uint8_t sink;         /* hz__sink */
    uint8_t http_version; /* 20 on HTTP/2; 0: the head's (HTTP/1.x) */
    void *user;           /* borrowed: hz_req_set_user's pointer (zeroed when taken) */
    uint32_t body_start;  /* rel. raw: first body byte */
    uint32_t body_len;    /* buffered: decoded bytes at body_start */
    /* response */
    struct hz_res res;
    hz__buf hdrs; /* owns: user header lines */
    int status;
    hz_drain_fn on_drain;
    void *drain_ud; /* borrowed: the user's */
    hz_done_fn on_done;
    void *done_ud;   /* borrowed: the user's */
    hz__timer after; /* hz_res_after */
    void (*after_fn)(hz_res *res, int status, void *ud);
    void *after_ud;       /* borrowed: the user's */
    atomic_int cancelled; /* hz_req_cancelled */
    unsigned refs;        /* holders besides the conn (timers, executor jobs) */
    unsigned m_begun : 1; /* metrics: counted as begun, not ended yet */
    /* response compression (compress.c): set at dispatch from the route's
     * HZ_ROUTE_COMPRESS or by hz_res_compress; 0 keeps the filter out of
     * every hz_res_* call (one test) */
    uint8_t zmode;
    struct hz__zf *zf; /* owns: the filter's state, freed by hz__zf_release */
    /* borrowed: the job running the handler on the executor, or NULL */
    struct hz__exec_job *exec;
    /* borrowed: the handle of hz_res_detach (async.c), or NULL; it holds
     * no reference: hz__async_ex_end unhooks it when the exchange ends */
    struct hz_async *async;
    /* metrics and access log (zeroed with the rest when taken) */
    uint64_t m_t0;       /* ns, monotonic: the request's first byte */
    uint64_t body_bytes; /* response body bytes (access log) */
};

/** The reason phrase of a status ("OK"; "Unknown" for others), stored
 *  NUL-padded to 32 bytes so a head can copy it with one fixed move;
 *  *len gets its length. */
HZ__HIDDEN const char *hz__status_reason_padded(int status, size_t *len);
/** The reason phrase of a status ("OK"); "Unknown" for others. */
HZ__HIDDEN const char *hz__status_reason(int status);

/** The body of every answer the library makes up itself (404 unknown path,
 *  405 from the router, 400/413/431 from the parser, 408, 503, 500 ...):
 *  the reason phrase, sent with HZ__ERROR_CTYPE. Built here only. */
#define HZ__ERROR_CTYPE "text/plain; charset=utf-8"
/** Answers ex through ops with status: the reason phrase as a text/plain
 *  body (none for 204/304), plus an Allow field when allow is non-empty.
 *  The one place the library's own answers are built. Result of ops->send. */
HZ__HIDDEN int hz__res_answer(hz_req *ex, const hz__res_ops *ops, int status, const char *allow);

/* ---- response compression (compress.c) ---------------------------------
 * A filter on the hz_res_* functions, above the ops table, so it works the
 * same for every protocol and on executor workers (the recorder records
 * compressed bytes). response.c hands a call to it when ex->zmode is set;
 * it negotiates at the head, adds Content-Encoding/Vary, weakens ETag and
 * calls ex->res.ops with compressed bytes. A protocol sets ex->zmode at
 * dispatch (hz__zf_dispatch) and calls hz__zf_release when it frees or
 * recycles the exchange. */
static inline void hz__zf_dispatch(hz_req *ex)
{
    if (HZ__UNLIKELY(ex->rec->flags & HZ_ROUTE_COMPRESS)) /* zmode starts 0 */
        ex->zmode = 1;
}
HZ__HIDDEN void hz__zf_free(hz_req *ex);
static inline void hz__zf_release(hz_req *ex)
{
    if (HZ__UNLIKELY(ex->zf != NULL)) /* inline: every exchange passes here */
        hz__zf_free(ex);
}
HZ__HIDDEN int hz__zf_set_header(hz_req *ex, const char *name, size_t nl, const char *value,
                                 size_t vl, int kind);
HZ__HIDDEN int hz__zf_send(hz_req *ex, int status, const void *body, size_t len);
HZ__HIDDEN int hz__zf_start(hz_req *ex, int status);
HZ__HIDDEN int hz__zf_write(hz_req *ex, const void *buf, size_t len);
HZ__HIDDEN int hz__zf_end(hz_req *ex);
HZ__HIDDEN int hz__zf_send_source(hz_req *ex, int status, int64_t length,
                                  const hz_body_source *src);
/* The response calls after their argument checks: through the compression
 * filter when ex->zmode is on, else the protocol's ops. The hz_res_*
 * functions (response.c) and the async handle's loop side (async.c) both
 * end here. Inline: the plaintext hot path passes here. */
static inline int hz__ex_set_header(hz_req *ex, const char *name, size_t nl, const char *value,
                                    size_t vl, int kind)
{
    if (HZ__UNLIKELY(ex->zmode))
        return hz__zf_set_header(ex, name, nl, value, vl, kind);
    return ex->res.ops->set_header(ex, name, nl, value, vl, kind);
}
static inline int hz__ex_send(hz_req *ex, int status, const void *body, size_t len)
{
    if (HZ__UNLIKELY(ex->zmode))
        return hz__zf_send(ex, status, body, len);
    return ex->res.ops->send(ex, status, body, len);
}
static inline int hz__ex_start(hz_req *ex, int status)
{
    if (HZ__UNLIKELY(ex->zmode))
        return hz__zf_start(ex, status);
    return ex->res.ops->start(ex, status);
}
static inline int hz__ex_write(hz_req *ex, const void *buf, size_t len)
{
    if (HZ__UNLIKELY(ex->zmode))
        return hz__zf_write(ex, buf, len);
    return ex->res.ops->write(ex, buf, len);
}
static inline int hz__ex_end(hz_req *ex)
{
    if (HZ__UNLIKELY(ex->zmode))
        return hz__zf_end(ex);
    return ex->res.ops->end(ex);
}
/** The exchange ended (status 0: its response is complete; < 0: aborted):
 *  a detached response (hz_res_detach) learns it here, before the user's
 *  on_done runs, so the handle is cancelled (or finished) by the time the
 *  done callback tells the user's thread. Every protocol calls it where
 *  an exchange ends, when ex->async is set. thread: loop. */
HZ__HIDDEN void hz__async_ex_end(hz_req *ex, int status);

/* ---- the end of an exchange, for every protocol -------------------------- */

/** The exchange ended (status 0: its response is complete; < 0: aborted):
 *  a detached handle learns it first (it unhooks itself, so a second call
 *  does nothing), then the user's on_done runs, once. The caller holds its
 *  connection across the call (user code runs). thread: loop. */
static inline void hz__ex_ended(hz_req *ex, int status)
{
    if (HZ__UNLIKELY(ex->async != NULL))
        hz__async_ex_end(ex, status);
    if (ex->on_done) {
        hz_done_fn fn = ex->on_done;
        ex->on_done = NULL;
        fn(&ex->res, status, ex->done_ud);
    }
}

/** An aborted exchange's pending hz_res_after timer: cancelled (its
 *  reference dropped) and its callback told HZ_ECANCELED. thread: loop. */
static inline void hz__ex_after_cancel(hz_req *ex)
{
    if (hz__timer_armed(&ex->after)) {
        hz__timer_cancel(&ex->loop->wheel, &ex->after);
        ex->refs--;
        if (ex->after_fn)
            ex->after_fn(&ex->res, HZ_ECANCELED, ex->after_ud);
    }
}

/** Whether src is a file body source of hz_res_sendfile (HTTP/2 then reads
 *  the file straight into its output with hz__filesrc_pread). thread: loop. */
HZ__HIDDEN int hz__filesrc_is(const hz_body_source *src);
/** Reads exactly len bytes of the file source ud (a hz__filesrc_is source's
 *  ud) into buf and advances it. len, or < 0: HZ_EIO when the file ended
 *  early (it shrank), another HZ_E* for a read error. thread: loop. */
HZ__HIDDEN long hz__filesrc_pread(void *ud, void *buf, size_t len);
struct iovec;
/** hz__filesrc_pread into n pieces at once (one preadv where the file
 *  system gives it all): exactly their total, or < 0 as hz__filesrc_pread;
 *  iov may be changed. thread: loop. */
HZ__HIDDEN long hz__filesrc_preadv(void *ud, struct iovec *iov, int n);

#endif /* HZ__EXCHANGE_H */
