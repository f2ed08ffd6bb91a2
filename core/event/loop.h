/* loop.h - the server object and its loops (internal).
 *
 * A server owns N loops; each loop is one thread with its own poller, timer
 * wheel, connections, ready list, caches and Date string. Only the posting
 * queue (mutex) and a few atomics are touched from other threads. */
#ifndef HZ__LOOP_H
#define HZ__LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "internal.h"
#include "buf.h"
#include "timer.h"
#include "parser.h"
#include "counters.h"
#include "sock.h"
#include "park.h"
#include "fcache.h"

typedef struct hz__loop hz__loop;
typedef struct hz__router hz__router;
typedef struct hz__io hz__io;

/** What the loop calls on the objects it polls, queues and reaps: the loop
 *  knows nothing of the protocol behind them (HTTP/1.1 connections,
 *  listeners, later HTTP/2 sessions). Every slot runs on the loop thread. */
typedef struct hz__io_vt {
    /** The poller reported events (HZ_EV_*) for the object's fd. */
    void (*on_event)(hz__io *io, unsigned events);
    /** Queued with hz__loop_queue: run once at the end of this iteration.
     *  Optional for objects that are never queued. */
    void (*on_ready)(hz__io *io);
    /** The server is stopping: finish gracefully or close at once.
     *  Optional (objects not on the open list). */
    void (*on_stop)(hz__io *io);
    /** Closes at once (stop deadline, loop teardown): must hz__loop_unlink. */
    void (*close)(hz__io *io);
    /** Optional: nonzero while a callback or a job still holds the object;
     *  the reap step then keeps it for a later iteration. */
    int (*busy)(const hz__io *io);
    /** Frees the object after hz__loop_unlink, once not queued nor busy. */
    void (*free)(hz__io *io);
} hz__io_vt;

/** The base every polled object embeds first: it is the poller's udata. */
struct hz__io {          /* owner: the embedding object */
    const hz__io_vt *vt; /* borrowed: static */
    hz__io *prev, *next; /* borrowed: the loop's open list (hz__loop_link) */
    hz__io *qnext;       /* borrowed: ready list link */
    hz__io *rnext;       /* borrowed: reap list link */
    unsigned queued : 1; /* on the ready list */
    unsigned linked : 1; /* on the open list */
};

struct hz__conn; /* a protocol's connection (core/http1) */

/** The server layer's accept hook: takes the accepted descriptor (< 0:
 *  the loop closes it). ud is the listener's (hz__lsock.ud). */
typedef int (*hz__accept_fn)(hz__loop *loop, int fd, void *ud);

/** A route's options, handed to the router as its ud. */
typedef struct hz__route_rec {  /* owner: the server (list) */
    struct hz__route_rec *next; /* owns: the rest of the list */
    hz_handler_fn fn;           /* the user's handler */
    void *ud;                   /* borrowed: the user's */
    unsigned flags;             /* HZ_ROUTE_* */
    uint64_t body_limit;        /* 0 = limits.body_buffered / body_streamed */
} hz__route_rec;

/** One listening socket; shared by every loop without SO_REUSEPORT. */
typedef struct hz__lsock { /* owner: the server (listener array) */
    int fd;                /* owns until the last polling loop closes it */
    int listener;          /* index returned by hz_server_listen */
    void *ud;              /* borrowed: handed to the server's accept hook */
    atomic_int users;      /* loops still polling it: the last one closes fd */
} hz__lsock;

/** A loop's registration of one listening socket. */
typedef struct hz__lreg {
    hz__io io;        /* first: the poller udata */
    hz__loop *loop;   /* borrowed: owns this lreg */
    hz__lsock *ls;    /* borrowed: outlives the loop's registration */
    hz__timer resume; /* re-enables accepting after EMFILE/ENFILE */
    unsigned paused : 1;
    unsigned active : 1; /* registered in the poller */
} hz__lreg;

typedef struct hz__post {  /* owner: the queue until run, then its fn */
    struct hz__post *next; /* borrowed while queued */
    void (*fn)(hz__loop *loop, struct hz__post *msg);
} hz__post;

typedef struct hz__listener {
    int port;                /* bound port */
    unsigned nsocks;         /* 1 (shared) or nloops (SO_REUSEPORT) */
    hz__lsock *socks;        /* owns: nsocks entries */
    int has_tls;             /* HTTPS listener */
    unsigned protocols;      /* HZ_PROTO_* served */
    hz_tls_ctx *tls;         /* owns (hz__tls_listener_fini); NULL: plain */
    const hz_tls_vt *tls_vt; /* borrowed: static */
    /* Socket kinds (core/event/listen.c). */
    char *unix_path;     /* owns: the socket file this listener made, removed
                            by hz__listen_close; NULL: TCP or adopted */
    size_t unix_path_sz; /* bytes allocated for unix_path */
    uint64_t unix_dev;   /* the file's identity after bind: never remove a */
    uint64_t unix_ino;   /* file another server put at the same path since */
    int fd0;             /* socks[0]'s descriptor as opened, never rewritten
                            (the loops set socks[].fd = -1 when they close
                            it): hz_server_listener_fd reads it from any
                            thread */
    unsigned is_unix : 1;
} hz__listener;

#define HZ__LOOP_EVENTS 256 /* poller entries per wait */

struct hz__loop {   /* owner: its server */
    hz_server *srv; /* borrowed: outlives the loop */
    unsigned idx;
    pthread_t thread;
    int thread_started;
    hz_poller *poller;      /* owns */
    const hz_poller_vt *pv; /* borrowed: static */
    hz__cio cio;            /* completion poller: {pv, poller}; cio.pv NULL: readiness */
    unsigned lsn_events;    /* interest of a listener: READ (| ACCEPT, completion) */
    hz__wheel wheel;        /* owns the slots; timers are embedded in their owners */
    uint64_t now;           /* ms, monotonic, refreshed once per iteration */
    uint64_t wake_ns;       /* ns, monotonic (precise): when the poller last returned */
    hz__bufcache bufs;      /* owns cached blocks */
    hz__io *ios;            /* owns: every open object (connections), doubly linked */
    unsigned nios;
    hz__io *ready;          /* borrowed: objects to run without an I/O event */
    hz__io *reap;           /* borrowed: closed objects waiting to be freed */
    struct hz_req *ex_free; /* owns: spare exchanges */
    unsigned nex_free;
    struct hz__h2pool *h2pool; /* owns: core/http2's spare blocks (h2conn.c); NULL: none */
    struct hz__fcache *fcache; /* owns: the open-file cache (fcache.c); NULL until used */
    hz__lreg *lregs;           /* owns: one per listener socket this loop polls */
    unsigned nlregs;
    pthread_mutex_t qlock;   /* guards qhead/qtail: the only cross-thread state */
    hz__post *qhead, *qtail; /* borrowed: queued messages */
    int stopping;            /* loop-local copy of the server flag */
    unsigned exec_inflight;  /* executor jobs not completed yet: the loop waits for them */
    hz__timer stop_timer;    /* force-close deadline */
    int64_t date_sec;        /* second of the cached Date */
    char date[40];           /* "Date: ...\r\n" */
    unsigned date_len;
    hz__metrics metrics; /* owns: written by this loop only, read by hz_server_metrics */
    hz__parkset park;    /* owns: parked idle connections (park.h) */
    /* The poller's batch: remove() blanks entries of the last wait()'s array
     * at any time until the next wait(), so it outlives each iteration. */
    hz_poll_event events[HZ__LOOP_EVENTS];
};

struct hz_server {            /* owner: the caller of hz_server_create */
    hz_config cfg;            /* copied; its pointers are borrowed */
    hz_allocator a;           /* copied from cfg.allocator */
    const hz_poller_vt *pv;   /* borrowed: static */
    hz__parse_limits plimits; /* from cfg.limits */
    hz__router *router;       /* owns */
    hz__accept_fn on_accept;  /* set by server.c: an accepted fd to a protocol */
    /* set by server.c when built with HTTP/2: turns an HTTP/1.1 connection
     * that received the HTTP/2 preface into an HTTP/2 one (core/http2) */
    int (*h2_takeover)(struct hz__conn *c);
    hz__route_rec *routes;   /* owns: list of route options */
    hz__listener *listeners; /* owns: nlisteners entries */
    unsigned nlisteners;
    hz__loop *loops; /* owns: nloops entries */
    unsigned nloops;
    char *server_hdr; /* owns: "Server: x\r\n" or NULL */
    size_t server_hdr_len;
    struct hz__alog *alog;        /* owns: per-loop access-log state; NULL: no access log */
    atomic_uint nconns;           /* open connections, all loops */
    atomic_uint tls_handshakes;   /* TLS handshakes in progress, all loops */
    atomic_uint nws;              /* WebSocket connections, all loops (core/ws) */
    atomic_int stop_requested;    /* set by hz_server_stop (async-signal-safe) */
    atomic_uint stop_deadline_ms; /* deadline given to hz_server_stop */
    int started;                  /* loop threads created */
    int joined;                   /* hz_server_wait has joined them */
    /* Server timers (svtimer.c): any thread adds and cancels them. */
    pthread_mutex_t tlock;      /* guards timers, timer_seq and their state */
    int tlock_ok;               /* tlock initialised */
    struct hz__svtimer *timers; /* owns: every timer not freed yet */
    uint64_t timer_seq;         /* the last id given */
};

/** Monotonic milliseconds (coarse clock where available). */
HZ__HIDDEN uint64_t hz__now_ms(void);
/** Precise monotonic nanoseconds (latency metrics). */
HZ__HIDDEN uint64_t hz__now_ns(void);
/** Runs msg->fn(loop, msg) on the loop thread. thread: any (not signal-safe). */
HZ__HIDDEN void hz__loop_post(hz__loop *loop, hz__post *msg);
/** Creates / frees a loop's resources (not its thread). */
HZ__HIDDEN int hz__loop_init(hz__loop *loop, hz_server *srv, unsigned idx);
HZ__HIDDEN void hz__loop_fini(hz__loop *loop);
/** Registers the server's listeners in the loop's poller: hz_server_start
 *  calls it before the thread starts, so a failure (HZ_ENOMEM, ...) is its
 *  return value instead of a loop that never accepts. Idempotent. */
HZ__HIDDEN int hz__loop_listen(hz__loop *loop);
/** One iteration: waits up to timeout_ms for the poller, dispatches its
 *  events, then due timers, the ready list and reaping. */
HZ__HIDDEN void hz__loop_run_once(hz__loop *loop, int timeout_ms);
/** The loop thread's body. */
HZ__HIDDEN void *hz__loop_main(void *arg);
/** Queues io for its on_ready at the end of this iteration (no I/O event
 *  needed). Idempotent while queued. */
HZ__HIDDEN void hz__loop_queue(hz__loop *loop, hz__io *io);

/** Runs the objects queued so far, once each (their on_ready); those they
 *  queue wait for the next call. The loop calls it at the end of each
 *  iteration; the fuzz targets, which step a loop by hand, call it too.
 *  Inline: the loop's per-iteration path keeps no extra call. */
static inline void hz__loop_run_ready(hz__loop *loop)
{
    hz__io *io = loop->ready;
    loop->ready = NULL;
    while (io) {
        hz__io *next = io->qnext;
        io->queued = 0;
        io->qnext = NULL;
        io->vt->on_ready(io);
        io = next;
    }
}
/** Puts io on the loop's open list (stopped and closed with the loop). */
HZ__HIDDEN void hz__loop_link(hz__loop *loop, hz__io *io);
/** Takes io off the open list and hands it to the reap step, which frees
 *  it (vt->free) at the end of the iteration once not queued nor busy. */
HZ__HIDDEN void hz__loop_unlink(hz__loop *loop, hz__io *io);
/** Closes every open object and frees what is reapable (teardown). */
HZ__HIDDEN void hz__loop_close_all(hz__loop *loop);
/** One step without polling: due timers, the ready list, reaping (for
 *  in-memory connections driven by a test or a fuzzer). */
HZ__HIDDEN void hz__loop_run_pending(hz__loop *loop);
/** Server timers (svtimer.c): init at hz_server_create (HZ_ESYS), fini
 *  at hz_server_destroy once every loop is finished (frees what is left). */
HZ__HIDDEN int hz__svtimers_init(hz_server *srv);
HZ__HIDDEN void hz__svtimers_fini(hz_server *srv);

/** Initialises a connection's socket transport over fd: plain, or through
 *  the loop's completion poller. */
HZ__HIDDEN void hz__loop_sock_init(hz__loop *loop, hz__sock *s, int fd);
/** Refreshes loop->date when the second changed. */
HZ__HIDDEN void hz__loop_update_date(hz__loop *loop);

#endif /* HZ__LOOP_H */
