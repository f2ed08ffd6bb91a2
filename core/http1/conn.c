/* conn.c - the connection state machine: reading, parsing, routing,
 * dispatching, flushing, timers, keep-alive, pipelining and closing. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "conn.h"
#include "h1exec.h"

#define HZ__READ_BUDGET (256u * 1024u) /* bytes read per event, for fairness */
#define HZ__LINGER_MS 2000u
#define HZ__LINGER_MAX (256u * 1024u)
#define HZ__STREAM_ROOM 8192u /* free space after the head for streamed bodies */
#define HZ__RUN_ROUNDS 16     /* process/flush rounds before yielding to the loop */
#define HZ__EX_POOL_MAX 64

/* ---- exchanges ------------------------------------------------------------ */

static struct hz_req *ex_get(hz__loop *loop)
{
    hz_server *srv = loop->srv;
    struct hz_req *ex = loop->ex_free;
    hz__field *fields;
    uint32_t cap;
    if (ex) {
        loop->ex_free = ex->next_free;
        loop->nex_free--;
        fields = ex->fields;
        cap = ex->nfields_cap;
    } else {
        ex = hz__alloc(&srv->a, sizeof(hz__h1_ex));
        if (!ex)
            return NULL;
        cap = srv->plimits.header_count ? srv->plimits.header_count : 1;
        fields = hz__alloc(&srv->a, sizeof(*fields) * cap);
        if (!fields) {
            hz__free(&srv->a, ex, sizeof(hz__h1_ex));
            return NULL;
        }
    }
    /* Everything but the match (large, filled by the router) starts zeroed. */
    memset(ex, 0, offsetof(struct hz_req, match));
    memset((char *)ex + offsetof(struct hz_req, sink), 0,
           sizeof(hz__h1_ex) - offsetof(struct hz_req, sink));
    ex->match.status = 0;
    ex->match.route = NULL;
    ex->match.nparams = 0;
    ex->fields = fields;
    ex->nfields_cap = cap;
    ex->loop = loop;
    ex->res.ex = ex;
    ex->res.ops = &hz__h1_res_ops;
    atomic_init(&ex->cancelled, 0);
    return ex;
}

void hz__ex_release(hz__loop *loop, struct hz_req *ex)
{
    hz_server *srv = loop->srv;
    hz__res_source_drop(ex, HZ_ECLOSED); /* normally ended before: a no-op */
    hz__zf_release(ex);
    hz__buf_release(&ex->hdrs, &loop->bufs);
    if (loop->nex_free < HZ__EX_POOL_MAX && !loop->stopping) {
        ex->next_free = loop->ex_free;
        loop->ex_free = ex;
        loop->nex_free++;
        return;
    }
    hz__free(&srv->a, ex->fields, sizeof(*ex->fields) * ex->nfields_cap);
    hz__free(&srv->a, ex, sizeof(hz__h1_ex));
}

void hz__ex_pool_free(hz__loop *loop)
{
    hz_server *srv = loop->srv;
    while (loop->ex_free) {
        struct hz_req *ex = loop->ex_free;
        loop->ex_free = ex->next_free;
        hz__free(&srv->a, ex->fields, sizeof(*ex->fields) * ex->nfields_cap);
        hz__free(&srv->a, ex, sizeof(hz__h1_ex));
    }
    loop->nex_free = 0;
}

/* ---- connection lifetime ------------------------------------------------- */

static void conn_timer_fn(hz__timer *t);

static const hz__io_vt conn_io_vt;

hz__conn *hz__conn_new(hz__loop *loop, int fd)
{
#if HZ_HAVE_TCP_NODELAY
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
#endif
#if HZ_HAVE_SO_NOSIGPIPE
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof(on));
#endif
    hz__conn *c = hz__calloc(&loop->srv->a, sizeof(*c));
    if (!c)
        return NULL;
    c->io.vt = &conn_io_vt;
    c->loop = loop;
    hz__loop_sock_init(loop, &c->sock, fd);
    hz__timer_init(&c->timer, conn_timer_fn);
    return c;
}

int hz__conn_start(hz__conn *c)
{
    hz__loop *loop = c->loop;
    int rc = loop->pv->add(loop->poller, c->sock.fd, HZ_EV_READ, &c->io);
    if (rc < 0) {
        c->sock.tp->close(&c->sock);
        hz__free(&loop->srv->a, c, sizeof(*c));
        return rc;
    }
    c->registered = 1;
    c->interest = HZ_EV_READ;
    hz__loop_link(loop, &c->io);
    c->last_io = loop->now;
    hz__metrics_accepted(c);
    hz__conn_after_io(c);
    return 0;
}

/* Ends an exchange that will not complete normally: the user's callbacks
 * learn it once, and later calls on req/res fail with HZ_ECLOSED. on_done
 * gets done_status: err, or 0 when the response was complete on the wire
 * (only the rest of the request body is lost). */
static void ex_abort_as(struct hz_req *ex, int err, int done_status)
{
    atomic_store(&ex->cancelled, 1);
    if (ex->async)
        hz__async_ex_end(ex, done_status);
    hz__res_source_drop(ex, err);
    if (HZ__UNLIKELY(HZ__H1(ex)->up_fn != NULL)) {
        hz__upgrade_fn fn = HZ__H1(ex)->up_fn;
        HZ__H1(ex)->up_fn = NULL;
        fn(NULL, HZ__H1(ex)->up_ud); /* the connection went before the hand-over */
    }
    if (HZ__H1(ex)->body_wanted && !HZ__H1(ex)->end_called && HZ__H1(ex)->on_end) {
        HZ__H1(ex)->end_called = 1;
        HZ__H1(ex)->on_end(ex, err, HZ__H1(ex)->body_ud);
    }
    hz__ex_after_cancel(ex);
    hz__ex_ended(ex, done_status); /* the handle was told first, above */
}

static void ex_abort(struct hz_req *ex, int err)
{
    ex_abort_as(ex, err, err);
}

void hz__res_abort(struct hz_req *ex, int status)
{
    ex_abort(ex, status);
}

void hz__conn_close(hz__conn *c)
{
    if (c->closing)
        return;
    hz__loop *loop = c->loop;
    struct hz_req *cex = c->ex;
    /* A response complete on the wire is an answered exchange even when
     * the connection goes (a handler that answered early, then the client
     * closed mid-body): counted and logged as such, before the transport
     * closes (the access log reads the peer address). */
    int answered = cex && HZ__H1(cex)->res_done && !hz__buf_pending(&c->out);
    if (answered)
        hz__metrics_req_end(c, cex);
    c->closing = 1;
    if (c->registered) {
        loop->pv->remove(loop->poller, c->sock.fd);
        c->registered = 0;
    }
    c->sock.tp->close(&c->sock);
    hz__timer_cancel(&loop->wheel, &c->timer);
    atomic_fetch_sub(&loop->srv->nconns, 1);
    hz__metrics_closed(c);
    hz__loop_unlink(loop, &c->io);
    if (c->ex) {
        struct hz_req *ex = c->ex;
        hz__metrics_req_abort(ex); /* no-op when counted as answered above */
        c->refs++;
        if (HZ__H1(ex)->dispatched)
            ex_abort_as(ex, HZ_ECLOSED, answered ? 0 : HZ_ECLOSED);
        c->refs--;
        ex->conn = NULL;
        if (!ex->exec) /* a job's handler may still read; exec_done clears it */
            ex->raw = NULL;
    }
}

void hz__conn_free(hz__conn *c)
{
    hz__loop *loop = c->loop;
    if (c->ex) {
        struct hz_req *ex = c->ex;
        c->ex = NULL;
        /* A holder (executor job, pending timer) releases it later. */
        if (!ex->refs)
            hz__ex_release(loop, ex);
    }
    hz__buf_release(&c->in, &loop->bufs);
    hz__buf_release(&c->out, &loop->bufs);
    hz__free(&loop->srv->a, c, sizeof(*c));
}

void hz__conn_stop(hz__conn *c)
{
    struct hz_req *ex = c->ex;
    if (c->closing)
        return;
    if (!ex && !c->nrequests && !hz__buf_pending(&c->out)) {
        /* Accepted, nothing read yet: a client that has just connected
         * and is about to send. Closing it would lose that request in a
         * restart that hands the listener over (docs/deployment.md), so
         * read what is there now, and else keep it for its first request
         * (answered with Connection: close), until the keep-alive
         * timeout or the stop deadline. */
        hz__conn_on_event(c, HZ_EV_READ);
        if (c->closing || (!c->ex && !c->nrequests))
            return;
        ex = c->ex;
    }
    hz__conn_why(c, HZ_CLOSE_SHUTDOWN);
    /* Idle, or only part of a head: nothing in flight. */
    if ((!ex || (HZ__H1(ex)->phase == HZ__PH_HEAD && !HZ__H1(ex)->dispatched)) &&
        !hz__buf_pending(&c->out)) {
        hz__conn_close(c);
        return;
    }
    c->close_after = 1;
    if (ex && !HZ__H1(ex)->res_started)
        HZ__H1(ex)->keep_alive = 0;
    hz__conn_after_io(c);
}

/* ---- output ---------------------------------------------------------------- */

#define HZ__PUMP_BUDGET (1u << 20) /* source bytes per flush, for fairness */

/* Writes what c->out holds. progress counts the bytes taken. 0, or < 0
 * after closing the connection. */
static int out_write(hz__conn *c, size_t *progress)
{
    while (hz__buf_pending(&c->out)) {
        long n = c->sock.tp->send(&c->sock, c->out.data + c->out.off, hz__buf_pending(&c->out));
        if (n > 0) {
            c->out.off += (uint32_t)n;
            *progress += (size_t)n;
            continue;
        }
        if (n == HZ_EAGAIN || n == 0) {
            c->wblocked = 1;
            break;
        }
        hz__conn_close(c);
        return (int)n;
    }
    return 0;
}

static void out_account(hz__conn *c, size_t progress)
{
    hz__loop *loop = c->loop;
    if (progress) {
        c->last_io = loop->now;
        hz__m_add(&loop->metrics, HZ__MS_BYTES_OUT, progress);
    }
    if (!hz__buf_pending(&c->out)) {
        if (HZ__UNLIKELY(c->sock.want_write))
            c->sock.want_write = 0;
        c->nqueued = 0;
        c->out.off = c->out.len = 0;
    }
}

int hz__conn_flush(hz__conn *c)
{
    size_t progress = 0, pumped = 0;
    for (;;) {
        if (out_write(c, &progress) < 0)
            return HZ_ECLOSED;
        if (c->wblocked)
            break;
        c->out.off = c->out.len = 0;
        struct hz_req *ex = c->ex;
        /* A source body follows its head through the same buffer. */
        if (HZ__LIKELY(!ex || !HZ__H1(ex)->src_on || HZ__H1(ex)->src_wait))
            break;
        if (pumped >= HZ__PUMP_BUDGET) {
            /* Fairness: a fast client must not keep the loop on one body.
             * The poller is level-triggered: a writable socket is reported
             * at once and the pump goes on next iteration. */
            c->wblocked = 1;
            break;
        }
        long n = hz__res_pump(c, ex);
        if (n < 0)
            return (int)n;
        pumped += (size_t)n;
        if (!n && !hz__buf_pending(&c->out))
            break;
    }
    out_account(c, progress);
    if (c->wblocked && !hz__conn_has_output(c))
        c->wblocked = 0; /* nothing left to wait for (a source waits for its producer) */
    return (int)(progress + pumped > 0);
}

int hz__conn_flush_with(hz__conn *c, const void *body, size_t len, size_t *taken)
{
    struct iovec iov[2];
    size_t hl = hz__buf_pending(&c->out);
    *taken = 0;
    iov[0].iov_base = c->out.data + c->out.off;
    iov[0].iov_len = hl;
    iov[1].iov_base = (void *)body;
    iov[1].iov_len = len;
    long n = c->sock.tp->writev(&c->sock, iov, 2);
    if (n == HZ_EAGAIN || n == 0)
        return 0;
    if (n < 0) {
        hz__conn_close(c);
        return HZ_ECLOSED;
    }
    size_t h = (size_t)n < hl ? (size_t)n : hl;
    c->out.off += (uint32_t)h;
    *taken = (size_t)n - h;
    out_account(c, (size_t)n);
    return 0;
}

/* ---- timers ---------------------------------------------------------------- */

/* Inlined: it runs after every request (an out-of-line call here cost
 * about 10 instructions per keep-alive request once it gained a caller). */
static inline __attribute__((always_inline)) void conn_update_timer(hz__conn *c)
{
    hz__loop *loop = c->loop;
    const hz_timeouts *to = &loop->srv->cfg.timeouts;
    struct hz_req *ex = c->ex;
    uint8_t kind = HZ__T_NONE;
    uint64_t at = 0;
    if (c->sock.tp->handshake_deadline && (at = c->sock.tp->handshake_deadline(&c->sock)) != 0) {
        kind = HZ__T_HANDSHAKE;
    } else if (c->lingering) {
        kind = HZ__T_LINGER;
        at = c->linger_until;
    } else if (c->wblocked && hz__conn_has_output(c)) {
        if (to->write) {
            kind = HZ__T_WRITE;
            at = c->last_io + to->write;
        }
    } else if (ex) {
        if (HZ__H1(ex)->phase == HZ__PH_HEAD && to->header) {
            kind = HZ__T_HEADER;
            at = HZ__H1(ex)->head_deadline;
        } else if (HZ__H1(ex)->phase == HZ__PH_BODY && !HZ__H1(ex)->paused &&
                   (to->body_idle || to->body_min_rate)) {
            kind = HZ__T_BODY;
            uint64_t idle = to->body_idle ? to->body_idle : 1000;
            at = HZ__H1(ex)->body_last + idle;
            if (to->body_min_rate) {
                /* First checked one idle period after the body started,
                 * then every second (see conn_timer_fn). */
                uint64_t check =
                    HZ__H1(ex)->rate_check ? HZ__H1(ex)->rate_check : HZ__H1(ex)->body_first + idle;
                if (check < at)
                    at = check;
            }
        }
    } else if (!c->close_after) {
        uint32_t idle = c->nrequests ? to->keepalive : (to->header ? to->header : to->keepalive);
        if (idle) {
            kind = HZ__T_KEEPALIVE;
            at = c->last_io + idle;
            /* Park first (conn_park decides whether it can, when it fires). */
            if (c->nrequests && idle >= 2 * HZ__PARK_MS && c->last_io + HZ__PARK_MS > loop->now) {
                kind = HZ__T_PARK;
                at = c->last_io + HZ__PARK_MS;
            }
        }
        /* The idle point (no request, no buffers): the transport's drop
         * deadline when earlier (TLS; a socket has no slot: one branch). */
        if (HZ__UNLIKELY(c->sock.tp->quiet != NULL) && !c->in.data && !c->out.data) {
            uint64_t drop = hz__sock_idle(&c->sock, loop->now);
            if (drop && (!at || drop < at)) {
                kind = HZ__T_SOCK_IDLE;
                at = drop;
            }
        }
    }
    c->tkind = kind;
    if (kind == HZ__T_NONE)
        hz__timer_cancel(&loop->wheel, &c->timer);
    else
        hz__timer_arm(&loop->wheel, &c->timer, at);
}

static int conn_park(hz__conn *c);

static void conn_timer_fn(hz__timer *t)
{
    hz__conn *c = (hz__conn *)((char *)t - offsetof(hz__conn, timer));
    hz__loop *loop = c->loop;
    const hz_timeouts *to = &loop->srv->cfg.timeouts;
    struct hz_req *ex = c->ex;
    switch (c->tkind) {
    case HZ__T_HEADER:
        /* RFC 9110 §15.5.9: 408 for a request that did not arrive in time. */
        hz__metrics_conn_timer(c);
        hz__res_error(c, 408);
        break;
    case HZ__T_BODY: {
        uint64_t idle = to->body_idle ? to->body_idle : 1000;
        int slow = 0;
        if (to->body_idle && loop->now >= HZ__H1(ex)->body_last + to->body_idle)
            slow = 1;
        else if (to->body_min_rate && loop->now >= HZ__H1(ex)->body_first + idle) {
            uint64_t elapsed = loop->now - HZ__H1(ex)->body_first;
            if (HZ__H1(ex)->body_total * 1000u < (uint64_t)to->body_min_rate * elapsed)
                slow = 1;
        }
        if (slow) {
            hz__metrics_conn_timer(c);
            hz__res_error(c, 408);
        } else if (to->body_min_rate && loop->now >= HZ__H1(ex)->body_first + idle)
            HZ__H1(ex)->rate_check = loop->now + 1000;
        break;
    }
    case HZ__T_PARK:
        if (conn_park(c))
            return;           /* c is gone: a parked record holds the connection */
        conn_update_timer(c); /* past the park time: the keep-alive timeout */
        return;
    case HZ__T_SOCK_IDLE:
        conn_update_timer(c); /* still idle: the transport drops, then the next deadline */
        return;
    case HZ__T_WRITE:
    case HZ__T_KEEPALIVE:
    case HZ__T_LINGER:
    case HZ__T_HANDSHAKE:
    default:
        hz__metrics_conn_timer(c);
        hz__conn_close(c);
        return;
    }
    if (c->tkind != HZ__T_NONE && !hz__timer_armed(&c->timer))
        c->tkind = HZ__T_NONE;
    hz__conn_process(c);
}

/* ---- input ----------------------------------------------------------------- */

/* May the read buffer move? Only while no handler holds views into it. */
static int in_movable(const hz__conn *c)
{
    return !c->ex || !HZ__H1(c->ex)->dispatched;
}

static size_t in_max(const hz__conn *c)
{
    const hz_server *srv = c->loop->srv;
    const struct hz_req *ex = c->ex;
    size_t head_max = (size_t)srv->plimits.header_bytes + srv->plimits.request_line + 4096u;
    if (!ex || HZ__H1(ex)->phase == HZ__PH_HEAD)
        return (ex ? HZ__H1(ex)->base : c->in.off) + head_max;
    if (HZ__H1(ex)->phase == HZ__PH_BODY && ex->sink == HZ__SINK_BUFFER) {
        if (ex->head.body_kind == HZ__BODY_LENGTH)
            return (size_t)HZ__H1(ex)->base + HZ__H1(ex)->body_rd + (size_t)HZ__H1(ex)->cl_left;
        return (size_t)HZ__H1(ex)->base + ex->body_start + (size_t)HZ__H1(ex)->body_limit + 65536u;
    }
    return c->in.cap; /* streaming and discarding work in place */
}

/* Ensures free space at the end of the read buffer. 1 when there is some,
 * 0 when the limits allow none now, HZ_ENOMEM when the allocator failed. */
static int in_make_room(hz__conn *c)
{
    hz__loop *loop = c->loop;
    if (c->in.cap > c->in.len)
        return 1;
    if (!in_movable(c))
        return 0;
    if (!c->ex && c->in.off) {
        hz__buf_compact(&c->in);
        if (c->in.cap > c->in.len)
            return 1;
    }
    size_t max = in_max(c);
    size_t want = c->in.cap ? c->in.cap : HZ__BUF_BLOCK;
    if (c->in.len + want > max)
        want = max > c->in.len ? max - c->in.len : 0;
    if (!want)
        return 0;
    int rc = hz__buf_reserve(&c->in, &loop->bufs, want, max);
    if (rc < 0)
        return rc == HZ_ENOMEM ? rc : 0;
    return c->in.cap > c->in.len;
}

/* Reads what the socket has (bounded). Returns bytes read, or < 0 when the
 * connection was closed. */
static long conn_read(hz__conn *c)
{
    long total = 0;
    while ((size_t)total < HZ__READ_BUDGET) {
        int room_rc = in_make_room(c);
        if (room_rc == HZ_ENOMEM) {
            /* Reading would spin on a readable socket: answer 503, close. */
            hz__res_error(c, 503);
            break;
        }
        if (!room_rc)
            break;
        size_t room = c->in.cap - c->in.len;
        long n = c->sock.tp->recv(&c->sock, c->in.data + c->in.len, room);
        if (n > 0) {
            c->in.len += (uint32_t)n;
            total += n;
            hz__m_add(&c->loop->metrics, HZ__MS_BYTES_IN, (uint64_t)n);
            if ((size_t)n < room)
                break;
            continue;
        }
        if (n == 0) {
            c->rd_eof = 1;
            break;
        }
        if (n == HZ_EAGAIN) {
            if (c->sock.want_write)
                c->wblocked = 1; /* a TLS step waits for writability */
            break;
        }
        hz__conn_close(c);
        return -1;
    }
    if (total && c->ex && HZ__H1(c->ex)->phase == HZ__PH_BODY)
        HZ__H1(c->ex)->body_last = c->loop->now;
    return total;
}

static void conn_linger_read(hz__conn *c)
{
    char sink[4096];
    for (int i = 0; i < 16; i++) {
        long n = c->sock.tp->recv(&c->sock, sink, sizeof(sink));
        if (n > 0) {
            c->linger_bytes += (uint32_t)n;
            if (c->linger_bytes > HZ__LINGER_MAX) {
                hz__conn_close(c);
                return;
            }
            continue;
        }
        if (n == HZ_EAGAIN)
            return;
        hz__conn_close(c); /* EOF or error: the peer has our response */
        return;
    }
}

/* ---- requests ---------------------------------------------------------------- */

static void ex_path(const struct hz_req *ex, const char *b, const char **p, size_t *len)
{
    const hz__req_head *h = &ex->head;
    if (h->target_form == HZ__TF_ABSOLUTE && h->path_len == 0) {
        *p = "/";
        *len = 1;
        return;
    }
    *p = b + h->path_off;
    *len = h->path_len;
}

/* Answers a request the router or the core decides on (404, 405, 417, ...). */
static void ex_simple(struct hz_req *ex, int status, const char *allow)
{
    hz__res_answer(ex, &hz__h1_res_ops, status, allow);
}

/* After a 404: a 301 to path + "/" (query kept) when a prefix route would
 * serve that. 1 when answered. Out of line, and it finds the path itself,
 * so the routing path keeps its registers (callgrind: a few instructions
 * per request otherwise). */
__attribute__((noinline, cold)) static int ex_slash_redirect(hz__conn *c, struct hz_req *ex)
{
    /* Before dispatch: the views are read from the buffer, not ex->raw. */
    const hz_allocator *a = &c->loop->srv->a;
    const hz__req_head *h = &ex->head;
    const char *b = c->in.data + HZ__H1(ex)->base;
    const char *path;
    size_t plen;
    ex_path(ex, b, &path, &plen);
    hz_str q = {"", 0};
    size_t qstart = (size_t)h->path_off + h->path_len + 1;
    size_t tend = (size_t)h->target_off + h->target_len;
    if (h->path_len && qstart <= tend) {
        q.ptr = b + qstart;
        q.len = tend - qstart;
    }
    if (!hz__router_slash_redirect(c->loop->srv->router,
                                   c->in.data + HZ__H1(ex)->base + h->method_off, h->method_len,
                                   path, plen))
        return 0;
    size_t n = plen + 2 + q.len + 1;
    char *loc = hz__alloc(a, n);
    if (!loc) {
        ex_simple(ex, 503, NULL);
        return 1;
    }
    memcpy(loc, path, plen);
    size_t k = plen;
    loc[k++] = '/';
    if (q.len) {
        loc[k++] = '?';
        memcpy(loc + k, q.ptr, q.len);
        k += q.len;
    }
    loc[k] = '\0';
    hz_res_set_header(&ex->res, "Location", loc);
    hz__free(a, loc, n);
    ex_simple(ex, 301, NULL);
    return 1;
}

/* RFC 9110 §15.6.2: a method the server does not recognise (no route has
 * it, none takes any method) is 501, closed like every error the server
 * makes itself (nginx closes after a 501 too). Asked only once routing
 * failed: a matched route knows its method. 1 when answered. */
__attribute__((noinline, cold)) static int ex_not_implemented(hz__conn *c, struct hz_req *ex,
                                                              const char *b)
{
    const hz__req_head *h = &ex->head;
    if (h->method != HZ__M_OTHER ||
        hz__router_knows_method(c->loop->srv->router, b + h->method_off, h->method_len))
        return 0;
    hz__res_error(c, 501);
    return 1;
}

static void ex_dispatch(hz__conn *c, struct hz_req *ex)
{
    const hz__route_rec *rec = ex->rec;
    HZ__H1(ex)->dispatched = 1;
    ex->raw = c->in.data + HZ__H1(ex)->base; /* fixed from now on: in_movable() */
    /* Executor routes: the response comes back through hz__loop_post. */
    if (HZ__UNLIKELY(hz__exec_wanted(c->loop->srv, rec))) {
        hz__exec_dispatch(&hz__h1_exec, c, ex);
        return;
    }
    c->refs++;
    rec->fn(ex, &ex->res, rec->ud);
    c->refs--;
}

/* The head is complete: decide keep-alive, route, check limits, set up the
 * body and dispatch (or answer) as the route asks. */
static void ex_on_head(hz__conn *c, struct hz_req *ex)
{
    hz__loop *loop = c->loop;
    hz_server *srv = loop->srv;
    hz__req_head *h = &ex->head;
    const char *b = c->in.data + HZ__H1(ex)->base;
    c->nrequests++;
    HZ__H1(ex)->is_head = h->method == HZ__M_HEAD;
    int ka = h->version_minor >= 1
                 ? !(h->flags & HZ__HF_CONN_CLOSE)
                 : (h->flags & HZ__HF_CONN_KEEPALIVE) && !(h->flags & HZ__HF_CONN_CLOSE);
    if (srv->cfg.max_requests_per_conn && c->nrequests >= srv->cfg.max_requests_per_conn)
        ka = 0;
    if (loop->stopping || c->close_after)
        ka = 0;
    HZ__H1(ex)->keep_alive = (unsigned)ka;

    ex->body_start = HZ__H1(ex)->body_rd = h->head_len;
    int has_body = 0;
    if (h->body_kind == HZ__BODY_LENGTH) {
        HZ__H1(ex)->cl_left = h->content_length;
        has_body = h->content_length > 0;
    } else if (h->body_kind == HZ__BODY_CHUNKED) {
        hz__chunked_init(&HZ__H1(ex)->chunked, &srv->plimits);
        has_body = 1;
    }
    if (!has_body)
        HZ__H1(ex)->phase = HZ__PH_DONE;
    HZ__H1(ex)->want_continue =
        has_body && (h->flags & HZ__HF_EXPECT_CONTINUE) && h->version_minor >= 1;

    if (h->flags & HZ__HF_EXPECT_OTHER) {
        HZ__H1(ex)->phase = has_body ? HZ__PH_WAIT_BODY : HZ__PH_DONE;
        /* A client with an expectation may hold its body back: whether the
         * next bytes are body or a new request is unknowable, so close. */
        if (has_body)
            HZ__H1(ex)->keep_alive = 0;
        ex_simple(ex, 417, NULL);
        return;
    }

    const char *path;
    size_t plen;
    ex_path(ex, b, &path, &plen);
    int st;
    if (h->target_form == HZ__TF_ASTERISK || h->target_form == HZ__TF_AUTHORITY) {
        if (ex_not_implemented(c, ex, b))
            return;
        st = h->method == HZ__M_OPTIONS ? 204 : 404;
        if (h->method == HZ__M_CONNECT)
            st = 405;
        HZ__H1(ex)->phase = has_body ? HZ__PH_WAIT_BODY : HZ__PH_DONE;
        if (st != 404) /* the methods the routes accept (RFC 9110 §9.3.7) */
            hz__router_allow_all(srv->router, ex->match.allow);
        ex_simple(ex, st, st == 404 ? NULL : ex->match.allow);
        return;
    }
    st = hz__router_match(srv->router, b + h->method_off, h->method_len, path, plen, &ex->match);
    if (st != 0 || !ex->match.route) {
        if (ex_not_implemented(c, ex, b))
            return;
        HZ__H1(ex)->phase = has_body ? HZ__PH_WAIT_BODY : HZ__PH_DONE;
        if (st == 404 && ex_slash_redirect(c, ex))
            return;
        ex_simple(ex, st ? st : 404, st == 405 || st == 204 ? ex->match.allow : NULL);
        return;
    }
    ex->rec = ex->match.route->ud;
    hz__zf_dispatch(ex);
    int stream = (ex->rec->flags & HZ_ROUTE_STREAM_BODY) != 0;
    HZ__H1(ex)->body_limit = ex->rec->body_limit ? ex->rec->body_limit
                                                 : (stream ? srv->cfg.limits.body_streamed
                                                           : srv->cfg.limits.body_buffered);
    /* 413 before any body byte is read, and before 100 Continue. */
    if (h->body_kind == HZ__BODY_LENGTH && HZ__H1(ex)->body_limit &&
        h->content_length > HZ__H1(ex)->body_limit) {
        hz__conn_why(c, HZ_CLOSE_LIMIT);
        hz__res_error(c, 413);
        return;
    }
    if (stream) {
        if (has_body)
            HZ__H1(ex)->phase = HZ__PH_WAIT_BODY;
        /* Views into the buffer go live now: leave room for body bytes so
         * it never has to move while the handler runs. */
        if (c->in.cap - c->in.len < HZ__STREAM_ROOM)
            hz__buf_reserve(&c->in, &loop->bufs, HZ__STREAM_ROOM, UINT32_MAX);
        ex_dispatch(c, ex);
        return;
    }
    if (has_body) {
        HZ__H1(ex)->phase = HZ__PH_BODY;
        ex->sink = HZ__SINK_BUFFER;
        HZ__H1(ex)->body_first = HZ__H1(ex)->body_last = loop->now;
        hz__res_continue(ex);
        return;
    }
    ex_dispatch(c, ex);
}

/* The response is complete but the body was not consumed: drain it when
 * the response kept the connection open, else close after the response. */
static void ex_unread_body(hz__conn *c, struct hz_req *ex)
{
    /* A client still waiting for 100 Continue may never send the body. */
    if (HZ__H1(ex)->keep_alive && !HZ__H1(ex)->want_continue) {
        HZ__H1(ex)->phase = HZ__PH_BODY;
        ex->sink = HZ__SINK_DISCARD;
        HZ__H1(ex)->paused = 0;
        HZ__H1(ex)->discard_left = 65536;
        HZ__H1(ex)->body_first = HZ__H1(ex)->body_last = c->loop->now;
        return;
    }
    HZ__H1(ex)->phase = HZ__PH_DONE;
    c->close_after = 1;
}

/* ---- upgrades ------------------------------------------------------------ */

int hz__conn_upgrade(struct hz_req *ex, int status, hz__upgrade_fn fn, void *ud)
{
    hz__conn *c = ex->conn;
    if (!c || c->closing || atomic_load(&ex->cancelled))
        return HZ_ECLOSED;
    /* The next bytes must be the new protocol's: no body may be left,
     * nothing may have been answered, and the close_after input is unusable. */
    if (HZ__H1(ex)->res_started || HZ__H1(ex)->phase != HZ__PH_DONE || c->close_after ||
        c->loop->stopping)
        return HZ_ESTATE;
    ex->status = status;
    HZ__H1(ex)->res_started = 1;
    HZ__H1(ex)->keep_alive = 0;
    HZ__H1(ex)->up_fn = fn;
    HZ__H1(ex)->up_ud = ud;
    HZ__H1(ex)->res_done = 1;
    if (hz__buf_pending(&c->out))
        c->nqueued++;
    if (!c->in_process)
        hz__loop_ready(c->loop, c);
    return 0;
}

int hz__conn_secure(const struct hz_req *ex)
{
    const hz__conn *c = ex->conn;
    return c && hz__sock_is_tls(&c->sock);
}

/* The upgrading exchange completed in order: the connection leaves the
 * HTTP/1.1 state machine without closing its transport, which fn takes
 * over with the unread input, the unwritten output, the poller
 * registration and the connection's nconns slot. No close is counted:
 * the receiver counts it when it closes. */
static void conn_handover(hz__conn *c, struct hz_req *ex)
{
    hz__loop *loop = c->loop;
    hz__upgrade_fn fn = HZ__H1(ex)->up_fn;
    void *ud = HZ__H1(ex)->up_ud;
    hz__handover h;
    HZ__H1(ex)->up_fn = NULL;
    c->in.off = HZ__H1(ex)->base + HZ__H1(ex)->body_rd; /* the new protocol's first byte */
    h.loop = loop;
    hz__sock_move(&h.sock, &c->sock);
    h.in = c->in;
    h.out = c->out;
    memset(&c->in, 0, sizeof(c->in));
    memset(&c->out, 0, sizeof(c->out));
    h.registered = c->registered;
    h.interest = c->interest;
    h.conn_id = c->id;
    h.peer = NULL; /* a socket: the receiver polls it */
    c->ex = NULL;
    ex->conn = NULL;
    if (!ex->exec)
        ex->raw = NULL;
    if (!ex->refs)
        hz__ex_release(loop, ex);
    c->closing = 1;
    c->registered = 0;
    hz__timer_cancel(&loop->wheel, &c->timer);
    hz__loop_unlink(loop, &c->io);
    fn(&h, ud);
}

static void ex_finish(hz__conn *c, struct hz_req *ex)
{
    hz__loop *loop = c->loop;
    hz__metrics_req_end(c, ex);
    if (HZ__UNLIKELY(ex->async != NULL) || ex->on_done) {
        c->refs++;
        hz__ex_ended(ex, 0);
        c->refs--;
    }
    if (c->closing)
        return;
    if (!c->close_after) /* else the buffer holds unusable bytes */
        c->in.off = HZ__H1(ex)->base + HZ__H1(ex)->body_rd;
    if (!HZ__H1(ex)->keep_alive) {
        /* An upgrade clears keep_alive: the keep-alive path never looks. */
        if (HZ__H1(ex)->up_fn) {
            conn_handover(c, ex);
            return;
        }
        c->close_after = 1;
    }
    c->ex = NULL;
    ex->conn = NULL;
    if (!ex->exec)
        ex->raw = NULL;
    if (!ex->refs)
        hz__ex_release(loop, ex);
    if (c->in.off >= c->in.len)
        c->in.off = c->in.len = 0;
    c->last_io = loop->now;
}

/* Enough responses wait for the socket (and a completion poller's queue,
 * which counts in the budget): parse no further request. Out of line, so
 * the common case (nothing waits) stays inlined in the callers. */
static HZ__NOINLINE int pipeline_full_slow(const hz__conn *c, size_t pending)
{
    const hz_server *srv = c->loop->srv;
    return (srv->cfg.max_pipelined && c->nqueued >= srv->cfg.max_pipelined) ||
           pending + hz__sock_held_in(&c->sock, srv->cfg.output_buffer) >= srv->cfg.output_buffer;
}

static inline int pipeline_full(const hz__conn *c)
{
    size_t pending = hz__buf_pending(&c->out);
    return pending && pipeline_full_slow(c, pending);
}

/* A connection allowed to speak HTTP/2 whose first bytes are (so far) the
 * connection preface (RFC 9113 §3.4) is handed to core/http2 through the
 * server's hook. 1: waiting for more of the preface or taken over (stop
 * processing here); 0: HTTP/1.1 (h2_ok cleared). */
__attribute__((noinline)) static int conn_h2_sniff(hz__conn *c)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    size_t n = hz__buf_pending(&c->in);
    size_t k = n < sizeof(preface) - 1 ? n : sizeof(preface) - 1;
    /* On TLS, h2_ok means ALPN chose h2: the connection is HTTP/2 whatever
     * it sends (RFC 9113 §3.3), and a bad preface is HTTP/2's connection
     * error (GOAWAY, §3.4), not an HTTP/1.1 request. */
    int alpn = hz__sock_is_tls(&c->sock);
    int match = memcmp(c->in.data + c->in.off, preface, k) == 0;
    if ((!match && !alpn) || !c->loop->srv->h2_takeover) {
        c->h2_ok = 0;
        return 0;
    }
    if (match && k < sizeof(preface) - 1) {
        if (c->rd_eof)
            hz__conn_close(c);
        return 1;
    }
    c->h2_ok = 0;
    if (c->loop->srv->h2_takeover(c) < 0)
        hz__conn_close(c);
    return 1;
}

/* Whether a head that failed to parse is rather a bad HTTP/2 connection
 * preface: the first line on a plain port that also takes HTTP/2 with
 * prior knowledge, three words of which the last is no HTTP-version at
 * all (not even a malformed "HTTP/..."). An HTTP/1.1 400 would be garbage
 * to such a client: the caller closes instead (RFC 9113 §3.4 lets the
 * GOAWAY go). Lines HTTP/1.1 could mean (a bad version, a missing one)
 * still get their 400. */
__attribute__((noinline)) static int h2c_bad_preface(const hz__conn *c, struct hz_req *ex)
{
    if (c->nrequests || hz__sock_is_tls(&c->sock))
        return 0;
    const char *p = c->in.data + HZ__H1(ex)->base;
    size_t n = c->in.len - HZ__H1(ex)->base;
    const char *eol = memchr(p, '\n', n);
    if (!eol)
        return 0; /* a line too long: HTTP/1.1's answer */
    size_t k = (size_t)(eol - p), words = 0, last = 0;
    if (k && p[k - 1] == '\r')
        k--;
    for (size_t i = 0; i < k; i++) {
        if (p[i] == ' ' && (i == 0 || p[i - 1] == ' '))
            return 0; /* empty word */
        if (i == 0 || p[i - 1] == ' ') {
            words++;
            last = i;
        }
    }
    if (words != 3 || p[k - 1] == ' ')
        return 0;
    static const char v[] = "http/";
    for (size_t i = 0; i < 5; i++)
        if (last + i >= k || (p[last + i] | 0x20) != v[i])
            return 1;
    return 0;
}

/* Runs the state machine over the buffered input as far as it goes. */
static void conn_process_once(hz__conn *c)
{
    hz__loop *loop = c->loop;
    hz_server *srv = loop->srv;
    for (;;) {
        if (c->closing)
            return;
        struct hz_req *ex = c->ex;
        if (!ex) {
            if (c->close_after || c->lingering)
                return;
            if (!hz__buf_pending(&c->in))
                return;
            if (HZ__UNLIKELY(c->h2_ok) && conn_h2_sniff(c))
                return;
            /* The pipelining bound: responses queued ahead of the socket. */
            if (pipeline_full(c))
                return;
            ex = ex_get(loop);
            if (!ex) {
                hz__res_error(c, 503);
                return;
            }
            hz__metrics_req_begin(ex);
            if (c->in.off && c->in.cap - c->in.len < HZ__BUF_BLOCK / 2)
                hz__buf_compact(&c->in);
            ex->conn = c;
            HZ__H1(ex)->base = c->in.off;
            HZ__H1(ex)->head_deadline = loop->now + srv->cfg.timeouts.header;
            hz__parser_init(&HZ__H1(ex)->parser, &srv->plimits, ex->fields);
            c->ex = ex;
        }
        if (HZ__H1(ex)->drain_wait && ex->on_drain && !c->wblocked &&
            hz__buf_pending(&c->out) + hz__sock_held_in(&c->sock, srv->cfg.output_buffer) <=
                srv->cfg.output_buffer / 2) {
            HZ__H1(ex)->drain_wait = 0;
            c->refs++;
            ex->on_drain(&ex->res, ex->drain_ud);
            c->refs--;
            continue;
        }
        switch (HZ__H1(ex)->phase) {
        case HZ__PH_HEAD: {
            int rc = hz__parse_request(&HZ__H1(ex)->parser, &ex->head,
                                       c->in.data + HZ__H1(ex)->base, c->in.len - HZ__H1(ex)->base);
            if (rc == HZ_EAGAIN) {
                if (c->rd_eof) {
                    hz__conn_close(c); /* a partial head and no more to come */
                    return;
                }
                if (c->in.len >= in_max(c)) {
                    hz__res_error(c, 431);
                    continue;
                }
                return;
            }
            if (rc < 0) {
                hz__metrics_parse_error(c, HZ__H1(ex)->parser.error);
                if (HZ__UNLIKELY(c->h2_listener) && h2c_bad_preface(c, ex)) {
                    hz__conn_why(c, HZ_CLOSE_ERROR);
                    hz__conn_close(c);
                    return;
                }
                int st = hz__perr_status(HZ__H1(ex)->parser.error);
                hz__res_error(c, st ? st : 400);
                continue;
            }
            ex_on_head(c, ex);
            continue;
        }
        case HZ__PH_WAIT_BODY:
            if (!HZ__H1(ex)->res_done)
                return; /* the handler has not asked for the body yet */
            ex_unread_body(c, ex);
            continue;
        case HZ__PH_BODY: {
            if (ex->sink == HZ__SINK_STREAM && HZ__H1(ex)->paused)
                return;
            int rc = hz__req_pump_body(c, ex);
            if (c->closing)
                return;
            if (rc < 0) {
                if (HZ__H1(ex)->phase == HZ__PH_BODY)
                    return;
                continue; /* an error response ended the exchange */
            }
            if (rc == 0) {
                if (c->rd_eof) {
                    /* The body will never complete. */
                    if (HZ__H1(ex)->res_started) {
                        hz__conn_close(c);
                        return;
                    }
                    hz__res_error(c, 400);
                    continue;
                }
                return;
            }
            /* Body complete: a buffered route runs now. */
            if (ex->sink == HZ__SINK_BUFFER && !HZ__H1(ex)->dispatched && !HZ__H1(ex)->res_done)
                ex_dispatch(c, ex);
            continue;
        }
        case HZ__PH_DONE:
        default:
            if (!HZ__H1(ex)->res_done)
                return; /* an asynchronous handler still works on it */
            ex_finish(c, ex);
            continue;
        }
    }
}

/* A detached response (hz_res_detach) with the whole request read: the
 * loop only watches for the client going away, without reading (the views
 * into c->in stay put). */
/* The response comes later, from a detached handle (hz_res_detach) or
 * hz_res_after's timer, and nothing is read meanwhile: the connection
 * watches for the client's EOF, so a client that left is noticed (the
 * exchange aborted, a graceful stop not held to its deadline). */
static inline int ex_later(const struct hz_req *ex)
{
    return ex->async || hz__timer_armed(&ex->after);
}

static int async_watching(const struct hz_req *ex)
{
    return HZ__H1(ex)->phase == HZ__PH_DONE && !HZ__H1(ex)->res_started && !HZ__H1(ex)->peer_data;
}

/* c is readable while async_watching: EOF or an error closes it (which
 * cancels the handle), pipelined bytes stop the watch; nothing is read. */
static void async_peek(hz__conn *c)
{
    char b;
    if (c->sock.fd < 0) {
        HZ__H1(c->ex)->peer_data = 1;
        return;
    }
    ssize_t n = recv(c->sock.fd, &b, 1, MSG_PEEK);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        hz__conn_why(c, HZ_CLOSE_PEER);
        hz__conn_close(c);
        return;
    }
    if (n > 0)
        HZ__H1(c->ex)->peer_data = 1;
}

static int conn_wants_read(const hz__conn *c)
{
    const struct hz_req *ex = c->ex;
    if (c->closing)
        return 0;
    if (c->lingering)
        return 1;
    if (c->rd_eof)
        return 0;
    if (ex && ex->exec)
        return hz__exec_watching(ex); /* EOF watch only (hz__exec_peek) */
    if (HZ__UNLIKELY(ex && ex_later(ex)) && async_watching(ex))
        return 1;
    if (!ex) {
        if (c->close_after)
            return 0;
        if (pipeline_full(c))
            return 0;
    } else if (HZ__H1(ex)->phase == HZ__PH_BODY) {
        if (ex->sink == HZ__SINK_STREAM && HZ__H1(ex)->paused)
            return 0;
    } else if (HZ__H1(ex)->phase != HZ__PH_HEAD) {
        return 0;
    }
    if (c->in.cap > c->in.len)
        return 1;
    return in_movable(c) && c->in.cap < in_max(c);
}

void hz__conn_after_io(hz__conn *c)
{
    hz__loop *loop = c->loop;
    if (c->closing)
        return;
    if (hz__conn_has_output(c) && !c->wblocked) {
        if (hz__conn_flush(c) < 0)
            return;
    }
    if (!c->ex && c->close_after && !c->lingering && !hz__buf_pending(&c->out)) {
        /* Lingering close: FIN now, keep reading (and dropping) for a while,
         * so unread request bytes cannot turn into an RST that destroys
         * the response before the client has read it. */
        c->lingering = 1;
        c->linger_until = loop->now + HZ__LINGER_MS;
        c->sock.tp->shutdown(&c->sock);
        if (c->rd_eof) {
            hz__conn_close(c);
            return;
        }
    }
    if (c->rd_eof && !c->ex && !hz__buf_pending(&c->out) && !hz__buf_pending(&c->in)) {
        hz__conn_close(c); /* the client is done and so are we */
        return;
    }
    unsigned want = (conn_wants_read(c) ? HZ_EV_READ : 0) | (c->wblocked ? HZ_EV_WRITE : 0);
    if (want != c->interest) {
        /* In-memory connections (no fd) keep the interest for their driver. */
        if (c->registered && loop->pv->modify(loop->poller, c->sock.fd, want, &c->io) < 0) {
            hz__conn_close(c);
            return;
        }
        c->interest = want;
    }
    /* Idle connections hold no buffers (and the transport drops its own
     * some time later: conn_update_timer is the idle point). */
    if (!c->ex && !hz__buf_pending(&c->in) && c->in.data)
        hz__buf_release(&c->in, &loop->bufs);
    if (!hz__buf_pending(&c->out) && c->out.data)
        hz__buf_release(&c->out, &loop->bufs);
    conn_update_timer(c);
    /* Read what the transport holds before the loop sleeps on the socket. */
    if (c->sock.tp->has_input && !c->lingering && conn_wants_read(c) &&
        c->sock.tp->has_input(&c->sock))
        hz__loop_ready(loop, c);
}

void hz__conn_process(hz__conn *c)
{
    if (c->in_process || c->closing)
        return;
    c->in_process = 1;
    /* Input the poller cannot announce (TLS: decrypted bytes held). */
    if (c->sock.tp->has_input && !c->lingering && conn_wants_read(c) &&
        c->sock.tp->has_input(&c->sock) && conn_read(c) < 0) {
        c->in_process = 0;
        return;
    }
    int round;
    for (round = 0; round < HZ__RUN_ROUNDS; round++) {
        conn_process_once(c);
        if (c->closing || HZ__UNLIKELY(c->h2 != NULL))
            break;
        if (hz__conn_has_output(c) && !c->wblocked && hz__conn_flush(c) < 0)
            break;
        /* Another round only when flushing unblocked something: pipelined
         * input held back by the bound, or a streaming writer waiting. */
        int more = !c->wblocked && ((!c->ex && hz__buf_pending(&c->in) && !c->close_after) ||
                                    (c->ex && HZ__H1(c->ex)->drain_wait && c->ex->on_drain));
        if (!more)
            break;
    }
    c->in_process = 0;
    if (c->closing)
        return;
    if (HZ__UNLIKELY(c->h2 != NULL)) {
        hz__loop_ready(c->loop, c); /* taken over: HTTP/2's io.vt runs it */
        return;
    }
    if (round == HZ__RUN_ROUNDS)
        hz__loop_ready(c->loop, c); /* fairness: continue next iteration */
    hz__conn_after_io(c);
}

void hz__conn_on_event(hz__conn *c, unsigned events)
{
    if (c->closing)
        return;
    if ((events & (HZ_EV_ERR | HZ_EV_HUP)) && !(c->interest & HZ_EV_READ)) {
        hz__conn_close(c);
        return;
    }
    if (events & HZ_EV_WRITE) {
        c->wblocked = 0;
        c->sock.want_write = 0;
        if (hz__conn_flush(c) < 0)
            return;
    }
    if (events & (HZ_EV_READ | HZ_EV_ERR | HZ_EV_HUP)) {
        if (c->lingering) {
            conn_linger_read(c);
            return;
        }
        if (c->ex && c->ex->exec)
            hz__exec_peek(c); /* a worker reads the buffer: only watch for EOF */
        else if (HZ__UNLIKELY(c->ex && ex_later(c->ex)) && async_watching(c->ex))
            async_peek(c);
        else if (conn_read(c) < 0)
            return;
    }
    hz__conn_process(c);
}

int hz__conn_attach(hz__loop *loop, const hz__transport_vt *tp, void *ctx, hz__conn **out)
{
    hz_server *srv = loop->srv;
    *out = NULL;
    hz__conn *c = hz__calloc(&srv->a, sizeof(*c));
    if (!c)
        return HZ_ENOMEM;
    c->io.vt = &conn_io_vt;
    c->loop = loop;
    c->sock.tp = tp;
    c->sock.ctx = ctx;
    c->sock.fd = -1;
    hz__timer_init(&c->timer, conn_timer_fn);
    hz__loop_link(loop, &c->io);
    atomic_fetch_add(&srv->nconns, 1);
    c->last_io = loop->now;
    hz__conn_after_io(c);
    *out = c;
    return 0;
}

void hz__loop_ready(hz__loop *loop, hz__conn *c)
{
    if (!c->closing)
        hz__loop_queue(loop, &c->io);
}

/* ---- what the loop calls ---------------------------------------------------- */

static void conn_io_event(hz__io *io, unsigned events)
{
    hz__conn_on_event((hz__conn *)io, events);
}

static void conn_io_ready(hz__io *io)
{
    hz__conn_process((hz__conn *)io); /* nothing once closing */
}

static void conn_io_stop(hz__io *io)
{
    hz__conn_stop((hz__conn *)io);
}

static void conn_io_close(hz__io *io)
{
    hz__conn_close((hz__conn *)io);
}

static int conn_io_busy(const hz__io *io)
{
    return ((const hz__conn *)io)->refs != 0;
}

static void conn_io_free(hz__io *io)
{
    hz__conn_free((hz__conn *)io);
}

static const hz__io_vt conn_io_vt = {
    .on_event = conn_io_event,
    .on_ready = conn_io_ready,
    .on_stop = conn_io_stop,
    .close = conn_io_close,
    .busy = conn_io_busy,
    .free = conn_io_free,
};

/* ---- parking (core/event/park.h; docs/architecture.md) ------------------------ */

/* A plaintext HTTP/1.1 connection between requests, holding nothing but its
 * socket: no exchange, no buffered byte either way (the completion poller's
 * queue included), no TLS, HTTP/2 or upgrade state, nothing running on it. */
static int conn_parkable(const hz__conn *c)
{
    const hz__loop *loop = c->loop;
    return !loop->stopping && c->registered && !c->closing && !c->ex && !c->refs &&
           !c->in_process && !c->io.queued && !c->close_after && !c->lingering && !c->rd_eof &&
           !c->wblocked && !c->sock.want_write && c->interest == HZ_EV_READ && !c->in.data &&
           !c->out.data && !c->h2 && !c->h2_ok && !c->h2_listener && !c->close_why &&
           c->nrequests && hz__sock_parkable(&c->sock) && hz__sock_held(&c->sock, 1) == 0;
}

static void park_wake(hz__loop *loop, const hz__parked *r, unsigned events);
static void park_expire(hz__loop *loop, const hz__parked *r);
static void park_close(hz__loop *loop, const hz__parked *r);

static const hz__park_ops h1_park_ops = {
    .wake = park_wake,
    .expire = park_expire,
    .close = park_close,
};

/* Trades c for a parked record: 1 (c is unlinked and freed at the reap
 * step), or 0 (c stays as it was). The fd stays registered, its udata
 * now the record's. */
static int conn_park(hz__conn *c)
{
    hz__loop *loop = c->loop;
    if (!conn_parkable(c))
        return 0;
    hz__parked r = {
        .deadline = c->last_io + loop->srv->cfg.timeouts.keepalive,
        .id = c->id,
        .fd = c->sock.fd,
        .n = c->nrequests,
    };
    long idx = hz__park_put(loop, &h1_park_ops, &r);
    if (idx < 0)
        return 0;
    if (loop->pv->modify(loop->poller, r.fd, HZ_EV_READ, hz__park_udata((uint32_t)idx)) < 0) {
        hz__park_remove(loop, (uint32_t)idx);
        return 0;
    }
    hz__timer_cancel(&loop->wheel, &c->timer);
    c->registered = 0;
    c->closing = 1;  /* nothing runs on it any more */
    c->sock.fd = -1; /* the record's now */
    hz__loop_unlink(loop, &c->io);
    hz__m_add(&loop->metrics, HZ__MS_PARKED, 1);
    return 1;
}

/* Closes a parked connection's socket and counts the close (why: HZ_CLOSE_*). */
static void park_close_as(hz__loop *loop, const hz__parked *r, unsigned why)
{
    hz__m_add(&loop->metrics, HZ__MS_UNPARKED, 1);
    loop->pv->remove(loop->poller, r->fd);
    hz__sock s;
    hz__loop_sock_init(loop, &s, r->fd);
    s.tp->close(&s);
    atomic_fetch_sub(&loop->srv->nconns, 1);
    hz__m_add(&loop->metrics, HZ__MS_CLOSED + why, 1);
}

static void park_expire(hz__loop *loop, const hz__parked *r)
{
    hz__metrics_timeout(loop, HZ_TIMEOUT_KEEPALIVE);
    park_close_as(loop, r, HZ_CLOSE_TIMEOUT);
}

static void park_close(hz__loop *loop, const hz__parked *r)
{
    park_close_as(loop, r, HZ_CLOSE_SHUTDOWN);
}

/* Rebuilds the connection as it was when parked and serves the event. */
static void park_wake(hz__loop *loop, const hz__parked *r, unsigned events)
{
    hz__conn *c = hz__calloc(&loop->srv->a, sizeof(*c));
    if (!c) {
        park_close_as(loop, r, HZ_CLOSE_ERROR);
        return;
    }
    hz__m_add(&loop->metrics, HZ__MS_UNPARKED, 1);
    c->io.vt = &conn_io_vt;
    c->loop = loop;
    hz__loop_sock_init(loop, &c->sock, r->fd);
    hz__timer_init(&c->timer, conn_timer_fn);
    c->id = r->id;
    c->nrequests = r->n;
    c->last_io = r->deadline - loop->srv->cfg.timeouts.keepalive;
    c->registered = 1;
    c->interest = HZ_EV_READ;
    hz__loop_link(loop, &c->io);
    if (loop->pv->modify(loop->poller, r->fd, HZ_EV_READ, &c->io) < 0) {
        hz__conn_close(c);
        return;
    }
    hz__conn_on_event(c, events);
}
