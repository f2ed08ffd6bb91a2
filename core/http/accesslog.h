/* accesslog.h - building an access-log entry for a finished request
 * (internal; the formatters are public in httpz.h). */
#ifndef HZ__ACCESSLOG_H
#define HZ__ACCESSLOG_H

#include <stdint.h>
#include "internal.h"
#include "timer.h"

struct hz_req;

typedef struct hz__loop hz__loop;
typedef struct hz_server hz_server;

#define HZ__ALOG_PEERS 64 /* cached peer addresses per loop (a power of 2) */

/** One cached getpeername() result, keyed by connection id. */
typedef struct hz__alog_peer {
    uint64_t key; /* conn id + 1; 0: empty */
    int port;
    char addr[46]; /* INET6_ADDRSTRLEN */
} hz__alog_peer;

/** A loop's access-log state: its line buffer and its peer cache. */
typedef struct hz__alog_loop { /* owner: hz__alog (array) */
    struct hz__alog *log;      /* borrowed: owns this */
    hz__loop *loop;            /* borrowed: outlives this */
    char *buf;                 /* owns: log->cap bytes; NULL without a file */
    uint32_t len;              /* bytes of whole lines waiting in buf */
    hz__timer flush;           /* armed while buf holds lines (flush_ms > 0) */
    hz__alog_peer peers[HZ__ALOG_PEERS];
} hz__alog_loop;

/** The server's access log: the user's callback and/or the file. */
typedef struct hz__alog { /* owner: its server (srv->alog) */
    int fd;               /* -1: no file */
    int own_fd;           /* opened from cfg path: closed by hz__alog_destroy */
    int regular;          /* fd is a regular file: writes of any size */
    int format;           /* HZ_ACCESS_LOG_* */
    uint32_t cap;         /* buffer bytes per loop (0: one write per line) */
    uint32_t flush_ms;
    unsigned nloops;
    hz__alog_loop *per; /* owns: nloops entries */
} hz__alog;

/** Creates srv->alog from cfg.access_log / cfg.access_log_file (left NULL
 *  when neither is set). After the loops exist. HZ_EINVAL, HZ_ENOMEM, and
 *  the open() errors (HZ_EACCES, HZ_ENOENT, ...). thread: the creator. */
HZ__HIDDEN int hz__alog_create(hz_server *srv);
/** Writes every loop's buffered lines. Only while no loop runs (before
 *  start, after the loops ended). NULL-safe (no access log). */
HZ__HIDDEN void hz__alog_flush_all(hz_server *srv);
/** Frees srv->alog (closes an fd it opened); flush first. NULL-safe. */
HZ__HIDDEN void hz__alog_destroy(hz_server *srv);

/** What the protocol tells the access log about one exchange besides the
 *  neutral hz_req: where the request's bytes are, the head to report and
 *  the connection's identity. Filled by the protocol's end-of-exchange hook
 *  (HTTP/1.1: core/http1/h1metrics.c). */
typedef struct hz__alog_req {
    const struct hz_req *ex; /* borrowed: the exchange (status, fields, body_bytes) */
    /* borrowed: ex->head, or the parser's partial head of a request
     * rejected mid-head */
    const struct hz__req_head *head;
    const char *bytes; /* borrowed: the request's first byte (head offsets are
                        * relative to it); NULL when gone */
    uint64_t avail;    /* bytes readable at bytes (views beyond it are empty) */
    uint64_t conn_id;  /* unique per server; keys the peer-address cache */
    uint32_t request_seq;
    int peer_fd; /* for getpeername; < 0: no address */
    unsigned tls : 1;
    unsigned no_body : 1; /* HEAD, 1xx, 204, 304: 0 body bytes */
} hz__alog_req;

/** Fills an hz_access_entry for r (response complete), calls
 *  cfg.access_log and appends the line to the loop's file buffer. Only
 *  called when srv->alog is set; the caller keeps its connection alive
 *  across the call (the user callback runs in it). thread: the loop. */
HZ__HIDDEN void hz__accesslog_emit(hz__loop *loop, const hz__alog_req *r, uint64_t duration_ns);

#endif /* HZ__ACCESSLOG_H */
