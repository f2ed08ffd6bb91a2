/* ws_conn.h - WebSocket connections (internal): the public hz_ws of
 * <httpz/httpz.h>, taken over from an HTTP/1.1 connection after its 101
 * answer (hz__res_ops.upgrade, core/http/exchange.h) and run on the same
 * loop over the same transport. See docs/architecture.md "WebSocket
 * connections". */
#ifndef HZ__WS_CONN_H
#define HZ__WS_CONN_H

#include <stdatomic.h>
#include <stdint.h>
#include "internal.h"
#include "buf.h"
#include "timer.h"
#include "loop.h"
#include "sock.h"
#include "ws.h"
#include "ws_deflate.h"
#include "exchange.h"

typedef struct hz__ws_chunk hz__ws_chunk;

/* Connection states, in order; only ever advanced. */
enum {
    HZ__WS_ACCEPTED = 0, /* 101 decided, the HTTP/1.1 side still owns the socket */
    HZ__WS_OPEN,         /* ours */
    HZ__WS_DONE,         /* transport closed; the struct lives while referenced */
};

struct hz_ws {               /* owner: its refs (the loop's until reaped, retains) */
    hz__io io;               /* first: the poller udata, the loop's lists */
    hz__loop *loop;          /* borrowed: outlives the ws */
    hz_allocator a;          /* copied: the server's */
    atomic_uint refs;        /* the loop's 1 while open or unreaped + hz_ws_retain */
    atomic_int state;        /* HZ__WS_* */
    atomic_int close_asked;  /* hz_ws_close called, or a close frame queued */
    atomic_size_t queued;    /* bytes reserved: posted and queued, not yet written */
    atomic_int drain_wanted; /* a send returned HZ_EAGAIN */
    atomic_int frag_open;    /* the sender is inside a fragmented message */
    hz__sock sock;           /* owns once OPEN */
    unsigned interest;       /* HZ_EV_* registered */
    hz__timer timer;         /* close, write stall, idle, ping: the nearest */
    hz__buf in;              /* owns: unparsed input */
    hz__buf msg;             /* owns: the message being assembled or inflated */
    hz__ws_chunk *qhead;     /* owns: frames to write, in order */
    hz__ws_chunk *qtail;     /* borrowed: the last of them */
    hz__ws_parser parser;    /* the peer's frames */
    hz__pmd *pmd;            /* owns; NULL without permessage-deflate */
    hz__utf8 utf8;           /* compressed text: its inflated bytes */
    hz_ws_callbacks cb;      /* copied */
    void *ud;                /* borrowed: the user's */
    char *protocol;          /* owns (NUL-terminated), or NULL */
    size_t protocol_size;    /* bytes allocated for it */
    size_t budget;           /* output budget */
    size_t held;             /* of queued: the transport's queue (hz__sock_held), loop thread */
    size_t turn_out;         /* bytes written directly in this turn of the loop, loop thread */
    size_t compress_min;     /* shorter messages go uncompressed */
    uint32_t ping_ms, idle_ms, close_ms;
    uint64_t last_rx;        /* ms: the last bytes from the peer */
    uint64_t last_tx;        /* ms: the last write progress (or queueing on an idle queue) */
    uint64_t last_ping;      /* ms: our last keep-alive ping */
    uint64_t close_deadline; /* ms: the peer's close frame is due (close sent) */
    uint64_t conn_id;        /* the HTTP/1.1 connection's */
    unsigned depth;          /* callbacks running: busy, not reaped */
    unsigned close_code;     /* for on_close */
    uint8_t msg_op;          /* the message being received */
    uint8_t why;             /* HZ_CLOSE_* + 1 for the connection metrics; 0 = derive */
    unsigned stream : 1;     /* deliver pieces */
    unsigned close_sent : 1; /* our close frame is queued */
    unsigned close_rcvd : 1; /* the peer's close frame came */
    unsigned registered : 1; /* in the poller */
    unsigned wblocked : 1;   /* the last write hit EAGAIN */
    unsigned rd_eof : 1;     /* the peer sent FIN */
    unsigned in_process : 1; /* inside ws_process: it flushes at the end */
    unsigned notified : 1;   /* on_close ran */
    unsigned frag_out : 1;   /* a fragmented message is being sent */
    unsigned stopping : 1;
    unsigned failed : 1; /* we failed the connection (1002/1007/1009) */
    unsigned lingering : 1;
    unsigned pipe : 1;      /* carried by another protocol's stream (RFC 8441), not a socket */
    unsigned wbroken : 1;   /* a direct write failed: close from ws_after_io */
    unsigned drain_due : 1; /* the flush drained to half: on_drain after the input's turn */
    unsigned rd_turn : 1;   /* one read owed to the input since the last drain, over budget */
    /* failed, close written, FIN sent: draining input */ /* counted for the graceful stop */
};

/* The byte-transport seam. A WebSocket reads and writes through
 * ws->sock's hz__transport_vt: a socket (or TLS over one) after an
 * HTTP/1.1 upgrade, the default and unchanged path; or a "pipe" carrier
 * handed over with hz__handover.peer set (an HTTP/2 stream, core/http2):
 * recv takes bytes the carrier holds (the carrier's flow control opens as
 * they are taken), writev returns the bytes accepted or HZ_EAGAIN (then
 * the carrier notifies HZ_EV_WRITE), has_input says bytes or the end wait,
 * shutdown ends the stream gracefully after what was accepted, close
 * releases the carrier (an abort unless shutdown came first). A pipe is
 * never in the poller: the carrier notifies instead. */

/** The carrier's notification: HZ_EV_READ (bytes or the end arrived),
 *  HZ_EV_WRITE (room again after HZ_EAGAIN), both only queue ws on its
 *  loop (safe from inside the carrier's parser); HZ_EV_HUP (the carrier is
 *  gone: reset or its connection died) closes ws now (on_close: 1006
 *  unless the closing handshake was done); ws calls its transport's close
 *  during it. thread: ws's loop. */
HZ__HIDDEN void hz__ws_pipe_notify(hz_ws *ws, unsigned events);

#endif /* HZ__WS_CONN_H */
