/* async.c - responses finished from any thread (hz_res_detach, hz_async_*).
 *
 * The handle has two sides. The user's side (any thread) checks and copies
 * each call into a message and posts it to the request's loop through the
 * loop's cross-thread queue; the loop's side applies the messages in order
 * through the exchange's ops table, so every protocol that has an ops table
 * gets detached responses for free. The two sides meet only under the
 * handle's mutex: `closed` (set by the loop when the exchange ends or its
 * deadline passes) forbids any further post, so no message can reach a
 * loop that has ended, and nothing the user calls after that touches the
 * loop. The handle is freed by the last of: the user's reference, the
 * loop's (dropped when the exchange ends) and one per message in flight. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include "exchange.h"
#include "loop.h"
#include "metrics.h"

enum { ST_NONE = 0, ST_STREAM, ST_DONE };
enum { M_SEND = 0, M_START, M_WRITE, M_END, M_RELEASE };

typedef struct amsg {   /* owner: the loop's queue, then the handle's pending list */
    hz__post post;      /* first: the queued message is the amsg */
    struct hz_async *h; /* borrowed: held by one reference until freed */
    struct amsg *next;  /* borrowed: the pending list */
    int kind;           /* M_* */
    int status;
    char *hdrs; /* owns: header pairs (kind byte, "name\0value\0"), hdrs_cap bytes */
    size_t hdrs_len, hdrs_cap;
    size_t len;  /* body bytes in data */
    size_t size; /* the allocation */
    char data[]; /* the body (M_SEND, M_WRITE) */
} amsg;

struct hz_async {   /* owner: its references (the user's, the loop's, messages') */
    hz_allocator a; /* copied from the server: frees the handle after it */
    hz__loop *loop; /* borrowed: posted to only while !closed */
    atomic_uint refs;
    atomic_int cancelled; /* hz_async_cancelled */
    pthread_mutex_t mu;   /* guards the fields up to "loop only" */
    int closed;           /* the exchange ended or timed out: post nothing */
    int stage;            /* ST_*: what the user has called */
    int released;
    char *hdrs; /* owns: headers set before send/start, moved into that message */
    size_t hdrs_len, hdrs_cap, hdrs_cost;
    size_t queued; /* write bytes posted, not taken by the protocol yet */
    size_t budget; /* cfg.output_buffer */
    int drain_wanted;
    hz_async_drain_fn drain_fn;
    void *drain_ud; /* borrowed: the user's */
    amsg *rel;      /* owns: the release message, allocated at detach */
    /* loop only */
    hz_req *ex;             /* borrowed: NULL once the exchange ended */
    hz__timer deadline;     /* timeouts.handler until the response starts */
    amsg *pend, *pend_tail; /* owns: messages not applied yet, in order */
    unsigned dead : 1;      /* timed out: drop what arrives */
    unsigned started : 1;   /* a send or start was applied */
    unsigned finished : 1;  /* a send or end was applied */
    unsigned pumping : 1;
};

/* ---- lifetime ---------------------------------------------------------------- */

static void async_unref(hz_async *h)
{
    if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
        return;
    hz_allocator a = h->a;
    pthread_mutex_destroy(&h->mu);
    if (h->rel)
        hz__free(&a, h->rel, h->rel->size);
    hz__free(&a, h->hdrs, h->hdrs_cap);
    hz__free(&a, h, sizeof(*h));
}

static amsg *msg_new(hz_async *h, int kind, size_t len)
{
    size_t size = sizeof(amsg) + len;
    if (size < len)
        return NULL;
    amsg *m = hz__alloc(&h->a, size);
    if (!m)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->h = h;
    m->kind = kind;
    m->size = size;
    m->len = len;
    return m;
}

static void msg_free(hz_async *h, amsg *m)
{
    hz__free(&h->a, m->hdrs, m->hdrs_cap);
    hz__free(&h->a, m, m->size);
}

/* A queued message ends: freed, and its reference dropped. */
static void msg_done(amsg *m)
{
    hz_async *h = m->h;
    if (m == h->rel)
        h->rel = NULL; /* the release message was posted: it is this one now */
    msg_free(h, m);
    async_unref(h);
}

/* Under h->mu, !h->closed: the message takes a reference. */
static void post_locked(hz_async *h, amsg *m)
{
    atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
    hz__loop_post(h->loop, &m->post);
}

/* ---- the loop's side ----------------------------------------------------------- */

static void drop_pending(hz_async *h)
{
    amsg *m = h->pend;
    h->pend = h->pend_tail = NULL;
    while (m) {
        amsg *next = m->next;
        msg_done(m);
        m = next;
    }
}

/* Closes the user's side: later calls return HZ_ECANCELED. */
static void close_user_side(hz_async *h, int cancel)
{
    pthread_mutex_lock(&h->mu);
    h->closed = 1;
    if (cancel)
        atomic_store(&h->cancelled, 1);
    pthread_mutex_unlock(&h->mu);
}

static void async_drain(hz_res *res, void *ud);

/* The protocol refused a call: end the exchange the one honest way left. */
static void apply_failed(hz_async *h, int rc)
{
    hz_req *ex = h->ex;
    if (!ex || rc == HZ_ECLOSED)
        return; /* the exchange ended (hz__async_ex_end ran) */
    const hz__res_ops *ops = ex->res.ops;
    if (!h->started) {
        h->started = h->finished = 1;
        if (hz__res_answer(ex, ops, 500, NULL) == 0)
            return;
    }
    if (ops->abort)
        ops->abort(ex, 500, HZ_CLOSE_ERROR);
}

static int apply_headers(hz_req *ex, const amsg *m)
{
    int rc = 0;
    for (size_t off = 0; off < m->hdrs_len && rc == 0;) {
        int kind = (unsigned char)m->hdrs[off++];
        const char *name = m->hdrs + off;
        size_t nl = strlen(name);
        const char *value = name + nl + 1;
        size_t vl = strlen(value);
        off += nl + vl + 2;
        rc = hz__ex_set_header(ex, name, nl, value, vl, kind);
    }
    return rc;
}

/* Applies the pending messages in order; stops at a write the protocol
 * refused (HZ_EAGAIN: its drain callback resumes) or when the exchange
 * ends (which can happen inside any ops call: the message being applied is
 * off the list by then, and the pump holds a reference of its own). */
static void pump(hz_async *h)
{
    if (h->pumping)
        return; /* re-entered from a callback: the loop below goes on */
    h->pumping = 1;
    atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
    while (h->ex && !h->dead && h->pend) {
        amsg *m = h->pend;
        h->pend = m->next;
        if (!h->pend)
            h->pend_tail = NULL;
        hz_req *ex = h->ex;
        int rc = 0, drain = 0;
        switch (m->kind) {
        case M_SEND:
        case M_START:
            rc = apply_headers(ex, m);
            if (rc == 0)
                rc = m->kind == M_SEND ? hz__ex_send(ex, m->status, m->data, m->len)
                                       : hz__ex_start(ex, m->status);
            if (rc == 0) {
                h->started = 1;
                h->finished = m->kind == M_SEND;
            }
            break;
        case M_WRITE:
            rc = hz__ex_write(ex, m->data, m->len);
            if (rc == HZ_EAGAIN) {
                /* The protocol's own budget is full: its drain resumes. */
                m->next = h->pend;
                h->pend = m;
                if (!h->pend_tail)
                    h->pend_tail = m;
                ex->on_drain = async_drain;
                ex->drain_ud = h;
                h->pumping = 0;
                async_unref(h);
                return;
            }
            pthread_mutex_lock(&h->mu);
            h->queued -= m->len;
            if (h->drain_wanted && h->queued <= h->budget / 2) {
                h->drain_wanted = 0;
                drain = 1;
            }
            pthread_mutex_unlock(&h->mu);
            break;
        case M_END:
            rc = hz__ex_end(ex);
            if (rc == 0)
                h->finished = 1;
            break;
        case M_RELEASE:
        default:
            if (!h->finished)
                rc = HZ_ESTATE; /* released without completing the response */
            break;
        }
        msg_done(m);
        if (rc < 0)
            apply_failed(h, rc);
        if (drain && h->ex) {
            /* Read under the lock: hz_async_on_drain may run concurrently. */
            pthread_mutex_lock(&h->mu);
            hz_async_drain_fn fn = h->drain_fn;
            void *ud = h->drain_ud;
            pthread_mutex_unlock(&h->mu);
            if (fn)
                fn(h, ud);
        }
    }
    h->pumping = 0;
    async_unref(h);
}

static void async_drain(hz_res *res, void *ud)
{
    hz_async *h = ud;
    res->ex->on_drain = NULL;
    pump(h);
}

/* A message arrives on the loop. */
static void msg_run(hz__loop *loop, hz__post *p)
{
    amsg *m = (amsg *)p;
    hz_async *h = m->h;
    (void)loop;
    if (!h->ex || h->dead) { /* the exchange ended or timed out first */
        msg_done(m);
        return;
    }
    m->next = NULL;
    if (h->pend_tail)
        h->pend_tail->next = m;
    else
        h->pend = m;
    h->pend_tail = m;
    pump(h);
}

/* timeouts.handler passed before the response started: 503 + close. */
static void deadline_fn(hz__timer *t)
{
    hz_async *h = (hz_async *)((char *)t - offsetof(hz_async, deadline));
    hz_req *ex = h->ex;
    if (!ex || h->started)
        return;
    h->dead = 1;
    close_user_side(h, 1);
    atomic_store(&ex->cancelled, 1);
    drop_pending(h);
    hz__metrics_timeout(h->loop, HZ_TIMEOUT_HANDLER);
    const hz__res_ops *ops = ex->res.ops;
    h->started = h->finished = 1;
    /* The answer ends the exchange (and drops the loop's reference). With
     * abort, as for an executor handler's deadline: on_done learns
     * HZ_ECANCELED, the close counts as a timeout. Else the neutral way. */
    atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
    if (ops->abort) {
        ops->abort(ex, 503, HZ_CLOSE_TIMEOUT);
    } else {
        int rc = ops->set_header(ex, NULL, 0, NULL, 0, HZ__HDR_CONN_CLOSE);
        if (rc == 0)
            hz__res_answer(ex, ops, 503, NULL);
    }
    async_unref(h);
}

void hz__async_ex_end(hz_req *ex, int status)
{
    hz_async *h = ex->async;
    if (!h)
        return;
    ex->async = NULL;
    if (ex->on_drain == async_drain)
        ex->on_drain = NULL;
    h->ex = NULL;
    hz__timer_cancel(&h->loop->wheel, &h->deadline);
    /* Complete without the user's whole response (the deadline's 503, or
     * a misuse of res on the loop) counts as cancelled too. */
    pthread_mutex_lock(&h->mu);
    h->closed = 1;
    if (status < 0 || h->stage != ST_DONE)
        atomic_store(&h->cancelled, 1);
    pthread_mutex_unlock(&h->mu);
    drop_pending(h); /* a pump under way holds its own reference */
    async_unref(h);  /* the loop's reference */
}

/* ---- the user's side ----------------------------------------------------------- */

int hz_res_detach(hz_res *res, hz_async **out)
{
    if (!out)
        return HZ_EINVAL;
    *out = NULL;
    if (!res)
        return HZ_EINVAL;
    if (!res->ops->on_loop)
        return HZ_ENOTSUP;
    hz_req *ex = res->ex;
    int rc = res->ops->live(ex);
    if (rc < 0)
        return rc;
    if (ex->async)
        return HZ_EBUSY;
    if (ex->status)
        return HZ_ESTATE;
    hz__loop *loop = ex->loop;
    hz_server *srv = loop->srv;
    /* The user's threads allocate the messages and may free the handle. */
    if (!(srv->a.vt->caps & HZ_ALLOC_CAP_THREADSAFE))
        return HZ_ENOTSUP;
    hz_async *h = hz__calloc(&srv->a, sizeof(*h));
    if (!h)
        return HZ_ENOMEM;
    h->a = srv->a;
    h->loop = loop;
    h->budget = srv->cfg.output_buffer;
    h->rel = msg_new(h, M_RELEASE, 0);
    if (!h->rel) {
        hz__free(&srv->a, h, sizeof(*h));
        return HZ_ENOMEM;
    }
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        hz__free(&h->a, h->rel, h->rel->size);
        hz__free(&srv->a, h, sizeof(*h));
        return HZ_ESYS;
    }
    h->rel->post.fn = msg_run;
    atomic_init(&h->refs, 2); /* the caller's and the loop's */
    atomic_init(&h->cancelled, 0);
    h->ex = ex;
    ex->async = h;
    hz__timer_init(&h->deadline, deadline_fn);
    if (srv->cfg.timeouts.handler)
        hz__timer_arm(&loop->wheel, &h->deadline, loop->now + srv->cfg.timeouts.handler);
    *out = h;
    return 0;
}

/* Appends one header pair to h->hdrs (under h->mu). */
static int hdr_append(hz_async *h, int kind, const char *name, size_t nl, const char *value,
                      size_t vl)
{
    size_t need = h->hdrs_len + 1 + nl + 1 + vl + 1;
    if (need > h->hdrs_cap) {
        size_t cap = h->hdrs_cap ? h->hdrs_cap : 256;
        while (cap < need)
            cap *= 2;
        char *p = hz__realloc(&h->a, h->hdrs, h->hdrs_cap, cap);
        if (!p)
            return HZ_ENOMEM;
        h->hdrs = p;
        h->hdrs_cap = cap;
    }
    char *p = h->hdrs + h->hdrs_len;
    *p++ = (char)kind;
    memcpy(p, name, nl);
    p[nl] = '\0';
    memcpy(p + nl + 1, value, vl);
    p[nl + 1 + vl] = '\0';
    h->hdrs_len = need;
    return 0;
}

/* A header for the response (under h->mu, stage NONE): validated by the
 * rules of hz_res_set_header and kept for the send/start message. */
static int header_locked(hz_async *h, const char *name, const char *value)
{
    size_t nl, vl;
    int kind = hz__res_header_check(name, value, &nl, &vl);
    if (kind < 0)
        return kind;
    if (kind == HZ__HDR_DROP || kind == HZ__HDR_CONNECTION)
        return 0;
    if (kind == HZ__HDR_CONN_CLOSE)
        return hdr_append(h, kind, "", 0, "", 0);
    if (h->hdrs_cost + HZ__RES_HDR_COST(nl, vl) > HZ__RES_HDRS_MAX)
        return HZ_ERANGE;
    int rc = hdr_append(h, kind, name, nl, value, vl);
    if (rc == 0)
        h->hdrs_cost += HZ__RES_HDR_COST(nl, vl);
    return rc;
}

/* Common entry of every call: HZ_ECANCELED once closed, else HZ_ESTATE
 * unless the stage is want. Under h->mu. */
static int check_locked(const hz_async *h, int want)
{
    if (h->closed)
        return HZ_ECANCELED;
    return h->stage == want ? 0 : HZ_ESTATE;
}

int hz_async_set_header(hz_async *h, const char *name, const char *value)
{
    if (!h)
        return HZ_EINVAL;
    pthread_mutex_lock(&h->mu);
    int rc = check_locked(h, ST_NONE);
    if (rc == 0)
        rc = header_locked(h, name, value);
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* hz_async_send and hz_async_start: the head's message carries the
 * headers set so far (moved out of the handle) and the Content-Type. */
static int head_post(hz_async *h, int kind, int status, const char *ctype, const void *body,
                     size_t len)
{
    if (!h)
        return HZ_EINVAL;
    if (status < 200 || status > 999 || (!body && len))
        return HZ_EINVAL;
    size_t nl, vl;
    if (ctype && hz__res_header_check("Content-Type", ctype, &nl, &vl) != HZ__HDR_PLAIN)
        return HZ_EINVAL;
    amsg *m = msg_new(h, kind, len);
    if (!m)
        return HZ_ENOMEM;
    m->post.fn = msg_run;
    m->status = status;
    if (len)
        memcpy(m->data, body, len);
    pthread_mutex_lock(&h->mu);
    int rc = check_locked(h, ST_NONE);
    if (rc == 0 && ctype)
        rc = header_locked(h, "Content-Type", ctype);
    if (rc == 0) {
        m->hdrs = h->hdrs;
        m->hdrs_len = h->hdrs_len;
        m->hdrs_cap = h->hdrs_cap;
        h->hdrs = NULL;
        h->hdrs_len = h->hdrs_cap = h->hdrs_cost = 0;
        h->stage = kind == M_SEND ? ST_DONE : ST_STREAM;
        post_locked(h, m);
    }
    pthread_mutex_unlock(&h->mu);
    if (rc < 0)
        msg_free(h, m);
    return rc;
}

int hz_async_send(hz_async *h, int status, const char *ctype, const void *body, size_t len)
{
    return head_post(h, M_SEND, status, ctype, body, len);
}

int hz_async_start(hz_async *h, int status, const char *ctype)
{
    return head_post(h, M_START, status, ctype, NULL, 0);
}

int hz_async_write(hz_async *h, const void *buf, size_t len)
{
    if (!h || (!buf && len))
        return HZ_EINVAL;
    /* Refuse before copying when the budget is used (a retry loop would
     * otherwise allocate for nothing). */
    pthread_mutex_lock(&h->mu);
    int rc = check_locked(h, ST_STREAM);
    if (rc == 0 && h->queued && h->queued + len > h->budget) {
        h->drain_wanted = 1;
        rc = HZ_EAGAIN;
    }
    pthread_mutex_unlock(&h->mu);
    if (rc < 0 || !len)
        return rc;
    amsg *m = msg_new(h, M_WRITE, len);
    if (!m)
        return HZ_ENOMEM;
    m->post.fn = msg_run;
    memcpy(m->data, buf, len);
    pthread_mutex_lock(&h->mu);
    rc = check_locked(h, ST_STREAM); /* again: another thread may have ended it */
    if (rc == 0 && h->queued && h->queued + len > h->budget) {
        h->drain_wanted = 1;
        rc = HZ_EAGAIN;
    }
    if (rc == 0) {
        h->queued += len;
        post_locked(h, m);
    }
    pthread_mutex_unlock(&h->mu);
    if (rc < 0)
        msg_free(h, m);
    return rc;
}

int hz_async_end(hz_async *h)
{
    if (!h)
        return HZ_EINVAL;
    amsg *m = msg_new(h, M_END, 0);
    if (!m)
        return HZ_ENOMEM;
    m->post.fn = msg_run;
    pthread_mutex_lock(&h->mu);
    int rc = check_locked(h, ST_STREAM);
    if (rc == 0) {
        h->stage = ST_DONE;
        post_locked(h, m);
    }
    pthread_mutex_unlock(&h->mu);
    if (rc < 0)
        msg_free(h, m);
    return rc;
}

int hz_async_on_drain(hz_async *h, hz_async_drain_fn fn, void *ud)
{
    if (!h)
        return HZ_EINVAL;
    pthread_mutex_lock(&h->mu);
    h->drain_fn = fn;
    h->drain_ud = ud;
    pthread_mutex_unlock(&h->mu);
    return 0;
}

int hz_async_cancelled(const hz_async *h)
{
    return h ? atomic_load(&((hz_async *)h)->cancelled) : 1;
}

void hz_async_release(hz_async *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    int posted = 0;
    if (!h->released && !h->closed) {
        /* The release message carries the caller's reference: the loop
         * finishes a response left incomplete, after the calls before it. */
        amsg *m = h->rel;
        posted = 1;
        hz__loop_post(h->loop, &m->post);
    }
    h->released = 1;
    pthread_mutex_unlock(&h->mu);
    if (!posted)
        async_unref(h);
}
