/* h1metrics.c - the HTTP/1.1 connection's metrics hooks: they read the
 * connection and exchange fields and count through core/http's neutral
 * ones (metrics.h), so core/http never reads a connection. */
#include "conn.h"
#include "metrics.h"
#include "accesslog.h"

void hz__metrics_accepted(hz__conn *c)
{
    hz__metrics *m = &c->loop->metrics;
    hz__m_add(m, HZ__MS_ACCEPTED, 1);
    /* Unique per server without another counter: the loop's accept count. */
    c->id = ((uint64_t)c->loop->idx << 48) |
            atomic_load_explicit(&m->v[HZ__MS_ACCEPTED], memory_order_relaxed);
}

void hz__metrics_closed(hz__conn *c)
{
    unsigned why;
    if (c->close_why)
        why = c->close_why - 1u;
    else if (c->lingering || c->close_after)
        why = HZ_CLOSE_NORMAL; /* we decided to close after a response */
    else if (c->rd_eof)
        why = HZ_CLOSE_PEER;
    else
        why = HZ_CLOSE_ERROR;
    hz__m_add(&c->loop->metrics, HZ__MS_CLOSED + why, 1);
}

void hz__metrics_conn_timer(hz__conn *c)
{
    unsigned kind;
    switch (c->tkind) {
    case HZ__T_HEADER:
        kind = HZ_TIMEOUT_HEADER;
        break;
    case HZ__T_BODY:
        kind = HZ_TIMEOUT_BODY;
        break;
    case HZ__T_WRITE:
        kind = HZ_TIMEOUT_WRITE;
        break;
    case HZ__T_KEEPALIVE:
        kind = HZ_TIMEOUT_KEEPALIVE;
        break;
    case HZ__T_HANDSHAKE:
        kind = HZ_TIMEOUT_HANDSHAKE;
        break;
    default:
        return; /* the end of a lingering close is not a timeout */
    }
    hz__metrics_timeout(c->loop, kind);
    hz__conn_why(c, HZ_CLOSE_TIMEOUT);
}

void hz__metrics_parse_error(hz__conn *c, unsigned kind)
{
    if (kind >= HZ_METRICS_PARSE_KINDS)
        kind = 0;
    hz__m_add(&c->loop->metrics, HZ__MS_PARSE + kind, 1);
    hz__conn_why(c, HZ_CLOSE_ERROR);
}

void hz__metrics_req_begin(struct hz_req *ex)
{
    ex->m_begun = 1;
    /* The wake-up that brought the request's first bytes: one clock read
     * per loop iteration instead of one per request. */
    ex->m_t0 = ex->loop->wake_ns;
    hz__m_add(&ex->loop->metrics, HZ__MS_REQ_BEGUN, 1);
}

/* The access log's view of ex on c: where the request's bytes are (its raw
 * pointer once dispatched; before, the read buffer at the request's
 * offset), the head to report (a request rejected mid-head has at most the
 * parser's partial head) and the connection's identity. Out of line: only
 * with an access log. */
static __attribute__((noinline)) void alog_emit(hz__conn *c, struct hz_req *ex, uint64_t dur)
{
    hz__h1_ex *x = HZ__H1(ex);
    hz__alog_req r = {
        .ex = ex,
        .head = ex->head.method_len ? &ex->head : &x->parser.head,
        .conn_id = c->id,
        .request_seq = c->nrequests,
        .peer_fd = c->sock.fd,
        .tls = hz__sock_is_tls(&c->sock) && c->sock.fd >= 0,
        .no_body = x->no_body,
    };
    if (ex->raw) {
        r.bytes = ex->raw;
        r.avail = UINT64_MAX;
    } else if (c->in.data && x->base <= c->in.len) {
        r.bytes = c->in.data + x->base;
        r.avail = c->in.len - x->base;
    }
    c->refs++; /* the user's callback must not free the connection under us */
    hz__accesslog_emit(c->loop, &r, dur);
    c->refs--;
}

void hz__metrics_req_end(hz__conn *c, struct hz_req *ex)
{
    if (!ex->m_begun)
        return;
    ex->m_begun = 0;
    uint64_t dur = hz__now_ns() - ex->m_t0;
    /* A request rejected mid-head has a partial head (the parser's scratch). */
    unsigned meth = ex->head.method_len ? ex->head.method : HZ__H1(ex)->parser.head.method;
    hz__metrics_req_done(&ex->loop->metrics, dur, ex->status, meth);
    if (HZ__UNLIKELY(ex->loop->srv->alog != NULL) && c)
        alog_emit(c, ex, dur);
}

void hz__metrics_req_abort(struct hz_req *ex)
{
    if (!ex->m_begun)
        return;
    ex->m_begun = 0;
    hz__m_add(&ex->loop->metrics, HZ__MS_REQ_ABORTED, 1);
}
