/* conn.h - HTTP/1.1 connections, their transports and the HTTP/1.1
 * exchange (internal): hz__h1_ex embeds the neutral hz_req of
 * core/http/exchange.h first. One exchange is active per connection;
 * requests are handled strictly in order. */
#ifndef HZ__CONN_H
#define HZ__CONN_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>
#include "internal.h"
#include "buf.h"
#include "timer.h"
#include "parser.h"
#include "router.h"
#include "loop.h"
#include "metrics.h"
#include "exchange.h"
#include "sock.h"

typedef struct hz__conn hz__conn;

/** Which deadline the connection's one timer stands for. */
enum hz__tkind {
    HZ__T_NONE = 0,
    HZ__T_HEADER,    /* whole head since its first byte -> 408 */
    HZ__T_BODY,      /* body idle or below the minimum rate -> 408 */
    HZ__T_WRITE,     /* no write progress -> close */
    HZ__T_KEEPALIVE, /* idle between requests -> close */
    HZ__T_LINGER,    /* discarding input after our FIN -> close */
    HZ__T_HANDSHAKE, /* TLS handshake (hook) -> close */
    HZ__T_PARK,      /* idle HZ__PARK_MS between requests -> park (then keep-alive) */
    HZ__T_SOCK_IDLE, /* the transport's quiet deadline (hz__sock_idle) -> drop, go on */
};

/** An idle keep-alive connection is parked (core/event/park.h) this long
 *  after its last request, when its keep-alive timeout is at least twice
 *  that: long enough that a busy connection never parks, short enough
 *  that idle ones hold a 32-byte record most of their idle time. */
#define HZ__PARK_MS 1000u

enum hz__phase {
    HZ__PH_HEAD = 0,  /* reading the head */
    HZ__PH_WAIT_BODY, /* streamed route: body not asked for yet */
    HZ__PH_BODY,      /* consuming the body (buffer, stream or discard) */
    HZ__PH_DONE,      /* request fully consumed */
};

typedef hz_done_fn hz__done_fn;

/* The HTTP/1.1 exchange: the neutral hz_req (core/http/exchange.h) first,
 * so a pointer to either is a pointer to both (HZ__H1) and no extra
 * allocation or indirection lands on the hot path; then the protocol's
 * per-exchange state: parser, body framing, response framing, source. */
typedef struct hz__h1_ex { /* owner: its conn (c->ex), or the loop's free list */
    struct hz_req r;       /* first: the neutral exchange */
    hz__parser parser;
    uint32_t base;          /* offset of the request's first byte in conn->in */
    uint64_t head_deadline; /* ms: first byte + timeouts.header */
    uint8_t phase;          /* hz__phase */
    /* body */
    uint64_t body_limit; /* bytes; 0 = unlimited */
    uint64_t cl_left;    /* Content-Length bytes not consumed yet */
    hz__chunked chunked;
    uint32_t body_rd;            /* rel. base: next raw body byte to examine */
    uint64_t body_total;         /* decoded body bytes seen */
    uint64_t body_first;         /* ms of the body's start (min-rate) */
    uint64_t body_last;          /* ms of the last body byte */
    uint64_t rate_check;         /* ms of the next minimum-rate check (0 = first + idle) */
    uint64_t discard_left;       /* drain budget for an unread body */
    uint32_t pend_off, pend_len; /* rel. base: a chunk the handler refused (HZ_EAGAIN) */
    hz_body_chunk_fn on_chunk;   /* streamed body callbacks */
    hz_body_end_fn on_end;
    void *body_ud;            /* borrowed: the user's */
    unsigned dispatched : 1;  /* the handler was called: views are live */
    unsigned res_started : 1; /* head queued */
    unsigned res_done : 1;    /* response complete in the output buffer */
    unsigned chunked_out : 1; /* streaming with chunked framing */
    unsigned close_delim : 1; /* streaming to a 1.0 client: body ends at close */
    unsigned no_body : 1;     /* HEAD, 1xx, 204, 304: head only */
    unsigned is_head : 1;
    unsigned keep_alive : 1;    /* decided from the request; may be cleared */
    unsigned paused : 1;        /* on_chunk asked to pause */
    unsigned want_continue : 1; /* Expect: 100-continue pending */
    unsigned drain_wait : 1;    /* a write was refused: call on_drain */
    unsigned end_called : 1;    /* on_end delivered */
    unsigned body_wanted : 1;   /* hz_req_on_body was called */
    unsigned server_set : 1;    /* the handler set its own Server field */
    /* hz_res_send_source: the body source being sent (h1res.c) */
    hz_body_source src;    /* owns (its done runs once) while src_on */
    int64_t src_left;      /* body bytes still owed; -1: unknown length */
    unsigned src_on : 1;   /* a source body is being sent */
    unsigned src_wait : 1; /* its read returned HZ_EAGAIN: until hz_res_resume */
    unsigned src_nosf : 1; /* its sendfile said HZ_ENOTSUP: read only */
    /* hz_res_detach: pipelined bytes seen, the EOF watch stops (conn.c) */
    unsigned peer_data : 1;
    /* An upgrade (hz__res_ops.upgrade): the receiver of the connection once
     * the exchange completes; called with NULL if the connection goes first. */
    hz__upgrade_fn up_fn;
    void *up_ud; /* borrowed: the receiver's */
} hz__h1_ex;

/** The HTTP/1.1 exchange of ex (every hz_req on an HTTP/1.1 connection is
 *  the first member of one). */
#define HZ__H1(ex) ((hz__h1_ex *)(ex))

struct hz__conn {      /* owner: its loop; freed only by the reap step */
    hz__io io;         /* first: the poller udata, the loop's lists */
    hz__loop *loop;    /* borrowed: outlives the conn */
    hz__sock sock;     /* owns: the transport and its fd */
    unsigned interest; /* HZ_EV_* registered */
    hz__timer timer;
    uint8_t tkind;         /* hz__tkind */
    hz__buf in;            /* owns: request bytes; views point into it */
    hz__buf out;           /* owns: serialized responses not yet written */
    struct hz_req *ex;     /* owns: the active exchange or NULL */
    uint64_t last_io;      /* ms: last write progress / idle start */
    uint64_t linger_until; /* ms */
    uint32_t nrequests;    /* requests started on this connection */
    uint32_t nqueued;      /* responses waiting in out */
    uint32_t linger_bytes;
    unsigned refs;            /* >0 while a callback runs on this conn */
    unsigned closing : 1;     /* closed; memory lives until reaped */
    unsigned rd_eof : 1;      /* peer sent FIN */
    unsigned close_after : 1; /* close (lingering) once out is flushed */
    unsigned lingering : 1;
    unsigned in_process : 1;
    unsigned wblocked : 1;   /* the last write hit EAGAIN */
    unsigned registered : 1; /* in the poller */
    uint64_t id;             /* unique per server (metrics.c) */
    uint8_t close_why;       /* first HZ_CLOSE_* cause + 1; 0 = derive at close */
    /* HTTP/2 (core/http2): h2_ok lets the connection turn into HTTP/2 when
     * its first bytes are the connection preface (a plain listener with
     * HZ_PROTO_HTTP2, or ALPN "h2"); h2_listener: its listener offers
     * HTTP/2 (ALPN decides after the handshake). Once taken over, h2 holds
     * the session and io.vt is HTTP/2's. */
    unsigned h2_ok : 1;
    unsigned h2_listener : 1;
    struct hz__h2 *h2; /* owns (core/http2); NULL on HTTP/1.1 */
};

/* conn.c */
/** A connection over the accepted socket fd, not yet polled: the caller
 *  may change its transport (TLS), then calls hz__conn_start. NULL when out
 *  of memory (fd stays the caller's). */
HZ__HIDDEN hz__conn *hz__conn_new(hz__loop *loop, int fd);
/** Registers a new connection in the poller and starts reading. On failure
 *  the connection is freed with its transport, fd included. */
HZ__HIDDEN int hz__conn_start(hz__conn *c);
/** Queues c for processing at the end of this iteration (no I/O event
 *  needed); nothing once it is closing. */
HZ__HIDDEN void hz__loop_ready(hz__loop *loop, hz__conn *c);
/** A connection over a transport without a descriptor (in-memory, for
 *  tests and fuzzing): not in the poller; drive it with hz__conn_on_event
 *  and hz__loop_run_pending. */
HZ__HIDDEN int hz__conn_attach(hz__loop *loop, const hz__transport_vt *tp, void *ctx,
                               hz__conn **out);
HZ__HIDDEN void hz__conn_on_event(hz__conn *c, unsigned events);
HZ__HIDDEN void hz__conn_process(hz__conn *c);
HZ__HIDDEN void hz__conn_close(hz__conn *c);
HZ__HIDDEN void hz__conn_free(hz__conn *c);
HZ__HIDDEN void hz__conn_stop(hz__conn *c);
/** The one output path: writes c->out, and pulls a source body through it
 *  (hz__res_pump) while the socket takes it, up to a budget per call.
 *  > 0 progress, 0 none (blocked or nothing to write), < 0 closed. */
HZ__HIDDEN int hz__conn_flush(hz__conn *c);
/** hz__conn_flush with len more bytes of body after c->out, written in
 *  the same writev without copying; *taken gets how many of them the
 *  socket took (the caller buffers the rest). 0, or < 0 after closing. */
HZ__HIDDEN int hz__conn_flush_with(hz__conn *c, const void *body, size_t len, size_t *taken);
HZ__HIDDEN void hz__conn_after_io(hz__conn *c);
HZ__HIDDEN void hz__ex_release(hz__loop *loop, struct hz_req *ex);
HZ__HIDDEN void hz__ex_pool_free(hz__loop *loop);

/* h1res.c: the HTTP/1.1 writer behind hz__h1_res_ops */
/** Queues a complete error response (status, Connection: close; built by
 *  hz__res_answer) for the active exchange or, without one, for the
 *  connection; closes after it. */
HZ__HIDDEN void hz__res_error(hz__conn *c, int status);
/** Queues "100 Continue" if the exchange still waits for it. */
HZ__HIDDEN void hz__res_continue(struct hz_req *ex);
/* conn.c */
HZ__HIDDEN void hz__res_abort(struct hz_req *ex, int status);
/** hz__res_ops.upgrade and .secure for HTTP/1.1. */
HZ__HIDDEN int hz__conn_upgrade(struct hz_req *ex, int status, hz__upgrade_fn fn, void *ud);
HZ__HIDDEN int hz__conn_secure(const struct hz_req *ex);
/** Pulls the next piece of the active exchange's body source into c->out
 *  (or straight to the socket with its sendfile): called only by
 *  hz__conn_flush, the one output path, when c->out is empty. Returns the
 *  bytes produced (> 0), 0 when nothing more can be done now (waiting for
 *  the source or the socket), < 0 after closing the connection. */
HZ__HIDDEN long hz__res_pump(hz__conn *c, struct hz_req *ex);
/** Ends a source that will not be sent on (the exchange is aborted or
 *  released): its done gets err. */
HZ__HIDDEN void hz__res_source_drop(struct hz_req *ex, int err);
/** Whether c has output to write now: buffered bytes, or a source body
 *  that is not waiting for its producer. */
static inline int hz__conn_has_output(const hz__conn *c)
{
    return hz__buf_pending(&c->out) || (c->ex && HZ__H1(c->ex)->src_on && !HZ__H1(c->ex)->src_wait);
}

/* h1metrics.c: the connection's metrics hooks. thread: the loop. */
HZ__HIDDEN void hz__metrics_accepted(hz__conn *c);
HZ__HIDDEN void hz__metrics_closed(hz__conn *c);
/** c's timer fired (its kind is c->tkind): counts the timeout, if it is one. */
HZ__HIDDEN void hz__metrics_conn_timer(hz__conn *c);
HZ__HIDDEN void hz__metrics_parse_error(hz__conn *c, unsigned kind);
/** A request's first byte is here (starts its clock). */
HZ__HIDDEN void hz__metrics_req_begin(struct hz_req *ex);
/** Its response is complete: counts it and writes the access log. */
HZ__HIDDEN void hz__metrics_req_end(hz__conn *c, struct hz_req *ex);
/** It ended without a complete response (connection closed). */
HZ__HIDDEN void hz__metrics_req_abort(struct hz_req *ex);

/** Records the first cause of a connection's close (HZ_CLOSE_*). */
#define hz__conn_why(c, why)                                                                       \
    do {                                                                                           \
        if (!(c)->close_why)                                                                       \
            (c)->close_why = (uint8_t)((why) + 1);                                                 \
    } while (0)

/* h1body.c */
/** hz_req_on_body and hz_req_resume for HTTP/1.1 (hz__h1_res_ops). */
HZ__HIDDEN int hz__req_on_body(struct hz_req *req, hz_body_chunk_fn on_chunk, hz_body_end_fn on_end,
                               void *ud);
HZ__HIDDEN int hz__req_resume_body(struct hz_req *req);
/** Feeds the body bytes waiting in conn->in to the exchange's sink.
 *  Returns 1 when the body is complete, 0 when more input is needed or
 *  delivery is paused, < 0 after an error response was queued / the
 *  connection closed. */
HZ__HIDDEN int hz__req_pump_body(hz__conn *c, struct hz_req *ex);

#endif /* HZ__CONN_H */
