/* exec.c - handlers on the executor, for every protocol: dispatch, load
 * shedding, the handler deadline, the response recorded on the worker and
 * replayed on the loop through the protocol's table (see exec.h). What
 * differs per protocol comes through its hz__exec_proto hooks. */
#include <string.h>
#include <strings.h>
#include "exec.h"
#include "metrics.h"

enum { STAGE_NONE = 0, STAGE_STREAM, STAGE_DONE };

struct hz__exec_job {           /* owner: its loop; freed by exec_done() */
    hz__post post;              /* first: the completion message is the job */
    hz__timer deadline;         /* timeouts.handler; loop only */
    hz__loop *loop;             /* borrowed: does not end while the job is in flight */
    const hz__exec_proto *p;    /* borrowed: static */
    hz__conn *c;                /* borrowed: held through p->hold until exec_done() */
    struct hz_req *ex;          /* borrowed: held by ex->refs until exec_done() */
    hz__buf pinned;             /* owns: what p->deadline took over; loop only */
    struct hz__exec_job_view v; /* loop only */
    /* Written on the worker, read on the loop after the post. */
    int run_status; /* the executor's: 0 or HZ_ECANCELED */
    int stage;      /* STAGE_* */
    int status;
    int failed;     /* out of memory while recording: answer 500 */
    int conn_close; /* a Connection: close field was set */
    int server_set; /* a Server field was set (it is among the pairs) */
    int secure;     /* the connection is TLS (set at dispatch, read on the worker) */
    char *hdrs;     /* owns: "name\0value\0" pairs, hdrs_cap bytes */
    size_t hdrs_len, hdrs_cap;
    size_t hdrs_cost;   /* the pairs as header lines, against HZ__RES_HDRS_MAX */
    int has_src;        /* a body source was recorded (owned until handed over) */
    int64_t src_len;    /* its length (-1: unknown) */
    hz_body_source src; /* owns while has_src: done runs exactly once */
    char *body;         /* owns: body_cap bytes */
    size_t body_len, body_cap;
    hz__exec_defer_fn defer; /* a deferred response (hz__exec_defer), or NULL */
    void *defer_ud;          /* owned by defer until it ran (once, on the loop) */
};

static const hz__res_ops exec_res_ops;

/* ---- loop side -------------------------------------------------------------- */

static void exec_free(hz__loop *loop, hz__exec_job *j)
{
    const hz_allocator *a = &loop->srv->a;
    if (j->defer) { /* recorded, never replayed: it frees what it holds */
        hz__exec_defer_fn fn = j->defer;
        j->defer = NULL;
        fn(NULL, j->defer_ud);
    }
    if (j->has_src) { /* recorded, never handed to the connection */
        j->has_src = 0;
        j->src.done(j->src.ud, HZ_ECANCELED);
    }
    hz__buf_release(&j->pinned, &loop->bufs);
    hz__free(a, j->hdrs, j->hdrs_cap);
    hz__free(a, j->body, j->body_cap);
    hz__free(a, j, sizeof(*j));
}

/* The executor would not take the job: answer now, keep the connection. */
static void exec_shed(const hz__exec_proto *p, hz__conn *c, struct hz_req *ex)
{
    hz_res_set_header(&ex->res, "Retry-After", "1");
    if (hz__res_answer(ex, ex->res.ops, 503, NULL) < 0 && ex->conn)
        p->fail(ex, c, 503);
}

static void exec_replay(hz__exec_job *j, struct hz_req *ex, hz__conn *c)
{
    const hz__exec_proto *p = j->p;
    if (j->run_status != 0) { /* cancelled by the executor's shutdown */
        exec_shed(p, c, ex);
        return;
    }
    if (j->failed || j->stage != STAGE_DONE) {
        p->fail(ex, c, 500); /* the handler returned without a response */
        return;
    }
    /* Every field passed hz__res_header_check when the handler set it, so
     * only the loop's resources can refuse one now: then 500, never a
     * response silently missing a field. */
    const hz__res_ops *ops = ex->res.ops;
    int rc = 0;
    for (size_t off = 0; off < j->hdrs_len && rc == 0;) {
        const char *name = j->hdrs + off;
        const char *value = name + strlen(name) + 1;
        size_t nl = strlen(name), vl = strlen(value);
        off = (size_t)(value - j->hdrs) + vl + 1;
        int kind = nl == 6 && j->server_set && !strcasecmp(name, "Server") ? HZ__HDR_SERVER
                                                                           : HZ__HDR_PLAIN;
        rc = ops->set_header(ex, name, nl, value, vl, kind);
    }
    if (rc == 0 && j->conn_close)
        rc = ops->set_header(ex, NULL, 0, NULL, 0, HZ__HDR_CONN_CLOSE);
    if (j->defer) {
        hz__exec_defer_fn fn = j->defer;
        j->defer = NULL;
        if (rc == 0) {
            fn(ex, j->defer_ud); /* it answers, accepted or refused */
            return;
        }
        fn(NULL, j->defer_ud);
    } else if (rc == 0 && j->has_src) {
        j->has_src = 0; /* handed over: the connection calls done */
        rc = ops->send_source(ex, j->status, j->src_len, &j->src);
        if (rc < 0)
            j->src.done(j->src.ud, rc);
    } else if (rc == 0) {
        rc = ops->send(ex, j->status, j->body, j->body_len);
    }
    if (rc < 0)
        p->fail(ex, c, 500);
}

/* The handler returned (or the executor cancelled the job): runs on the
 * loop, through the posting queue. */
static void exec_done(hz__loop *loop, hz__post *msg)
{
    hz__exec_job *j = (hz__exec_job *)msg;
    const hz__exec_proto *p = j->p;
    hz__conn *c = j->c;
    struct hz_req *ex = j->ex;
    loop->exec_inflight--;
    hz__timer_cancel(&loop->wheel, &j->deadline);
    ex->exec = NULL;
    ex->res.ops = p->ops; /* the worker is done with the recorder */
    if (!ex->conn)
        ex->raw = NULL; /* detached: the views end with the job */
    ex->refs--;
    if (!j->v.timed_out && p->current(ex, c)) {
        exec_replay(j, ex, c);
        p->replayed(ex, c);
    } else if (!ex->refs && !p->owned(ex, c)) {
        /* Answered without it (timeout, reset, closed): the exchange is
         * the job's to free. One still held by its protocol is freed there. */
        p->release(loop, ex);
    }
    p->hold(c, -1);
    exec_free(loop, j);
}

/* The handler overran timeouts.handler: 503 now (the protocol's way); the
 * worker keeps reading the request from what the job holds. */
static void exec_deadline_fn(hz__timer *t)
{
    hz__exec_job *j = (hz__exec_job *)((char *)t - offsetof(hz__exec_job, deadline));
    if (!j->p->deadline(j->ex, j->c, &j->pinned))
        return;
    j->v.timed_out = 1;
    atomic_store(&j->ex->cancelled, 1);
    hz__metrics_timeout(j->loop, HZ_TIMEOUT_HANDLER);
    j->p->fail(j->ex, j->c, 503);
}

/* On the worker. */
static void exec_run(void *arg, int status)
{
    hz__exec_job *j = arg;
    struct hz_req *ex = j->ex;
    j->run_status = status;
    if (status == 0 && !atomic_load(&ex->cancelled)) {
        const hz__route_rec *rec = ex->rec;
        rec->fn(ex, &ex->res, rec->ud);
    }
    /* The last touch of j on this thread: the loop frees it. */
    hz__loop_post(j->loop, &j->post);
}

void hz__exec_dispatch(const hz__exec_proto *p, hz__conn *c, struct hz_req *ex)
{
    hz__loop *loop = ex->loop;
    hz_server *srv = loop->srv;
    const hz_executor *x = srv->cfg.executor;
    hz__exec_job *j = hz__calloc(&srv->a, sizeof(*j));
    if (!j) {
        exec_shed(p, c, ex);
        return;
    }
    j->post.fn = exec_done;
    j->loop = loop;
    j->p = p;
    j->c = c;
    j->ex = ex;
    j->secure = p->ops->secure ? p->ops->secure(ex) : 0;
    hz__timer_init(&j->deadline, exec_deadline_fn);
    if (srv->cfg.timeouts.handler)
        hz__timer_arm(&loop->wheel, &j->deadline, loop->now + srv->cfg.timeouts.handler);
    ex->exec = j;
    /* The handler's hz_res_* calls are recorded until exec_done; the
     * executor's queue publishes this before the worker reads it. */
    ex->res.ops = &exec_res_ops;
    ex->refs++;
    p->hold(c, 1);
    loop->exec_inflight++;
    int rc = x->vt->submit(x->self, exec_run, j);
    if (rc < 0) { /* HZ_EBUSY (full) or HZ_ECANCELED (shut down): shed */
        loop->exec_inflight--;
        p->hold(c, -1);
        ex->refs--;
        ex->exec = NULL;
        ex->res.ops = p->ops;
        hz__timer_cancel(&loop->wheel, &j->deadline);
        exec_free(loop, j);
        exec_shed(p, c, ex);
    }
}

struct hz__exec_job_view *hz__exec_view(const hz_req *ex)
{
    return &ex->exec->v;
}

/* ---- worker side ------------------------------------------------------------ */

static int exec_grow(hz__exec_job *j, char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    char *q = hz__realloc(&j->loop->srv->a, *p, *cap, n);
    if (!q) {
        j->failed = 1;
        return HZ_ENOMEM;
    }
    *p = q;
    *cap = n;
    return 0;
}

static int exec_append(hz__exec_job *j, char **p, size_t *len, size_t *cap, const void *src,
                       size_t n)
{
    if (!n)
        return 0;
    if (*len + n < *len || exec_grow(j, p, cap, *len + n) < 0)
        return HZ_ENOMEM;
    memcpy(*p + *len, src, n);
    *len += n;
    return 0;
}

static int exec_live(const struct hz_req *ex)
{
    return atomic_load(&((struct hz_req *)ex)->cancelled) ? HZ_ECANCELED : 0;
}

/* The fields were validated by hz__res_header_check (the same rules as on
 * the loop); kept as "name\0value\0" pairs for the replay. */
static int exec_set_header(struct hz_req *ex, const char *name, size_t nl, const char *value,
                           size_t vl, int kind)
{
    hz__exec_job *j = ex->exec;
    if (exec_live(ex) < 0)
        return HZ_ECANCELED;
    int rc;
    if (j->stage != STAGE_NONE)
        return HZ_ESTATE;
    switch (kind) {
    case HZ__HDR_DROP:
    case HZ__HDR_CONNECTION:
        return 0;
    case HZ__HDR_CONN_CLOSE:
        j->conn_close = 1;
        return 0;
    case HZ__HDR_SERVER:
        j->server_set = 1;
        break;
    default:
        break;
    }
    if (j->hdrs_cost + HZ__RES_HDR_COST(nl, vl) > HZ__RES_HDRS_MAX)
        return HZ_ERANGE;
    if ((rc = exec_append(j, &j->hdrs, &j->hdrs_len, &j->hdrs_cap, name, nl)) < 0 ||
        (rc = exec_append(j, &j->hdrs, &j->hdrs_len, &j->hdrs_cap, "", 1)) < 0 ||
        (rc = exec_append(j, &j->hdrs, &j->hdrs_len, &j->hdrs_cap, value, vl)) < 0 ||
        (rc = exec_append(j, &j->hdrs, &j->hdrs_len, &j->hdrs_cap, "", 1)) < 0)
        return rc;
    j->hdrs_cost += HZ__RES_HDR_COST(nl, vl);
    return 0;
}

static int exec_send(struct hz_req *ex, int status, const void *body, size_t len)
{
    hz__exec_job *j = ex->exec;
    if (exec_live(ex) < 0)
        return HZ_ECANCELED;
    int rc;
    if (j->stage != STAGE_NONE)
        return HZ_ESTATE;
    if ((rc = exec_append(j, &j->body, &j->body_len, &j->body_cap, body, len)) < 0)
        return rc;
    j->status = status;
    j->stage = STAGE_DONE;
    return 0;
}

static int exec_start(struct hz_req *ex, int status)
{
    hz__exec_job *j = ex->exec;
    if (exec_live(ex) < 0)
        return HZ_ECANCELED;
    if (j->stage != STAGE_NONE)
        return HZ_ESTATE;
    j->status = status;
    j->stage = STAGE_STREAM;
    return 0;
}

static int exec_write(struct hz_req *ex, const void *buf, size_t len)
{
    hz__exec_job *j = ex->exec;
    if (exec_live(ex) < 0)
        return HZ_ECANCELED;
    if (j->stage != STAGE_STREAM)
        return HZ_ESTATE;
    return exec_append(j, &j->body, &j->body_len, &j->body_cap, buf, len);
}

static int exec_end(struct hz_req *ex)
{
    hz__exec_job *j = ex->exec;
    if (exec_live(ex) < 0)
        return HZ_ECANCELED;
    if (j->stage != STAGE_STREAM)
        return HZ_ESTATE;
    j->stage = STAGE_DONE;
    return 0;
}

/* The source is kept for the loop: its callbacks run there, pulling the
 * body through the connection's output path (no copy of it here). */
static int exec_send_source(struct hz_req *ex, int status, int64_t length,
                            const hz_body_source *src)
{
    hz__exec_job *j = ex->exec;
    if (exec_live(ex) < 0)
        return HZ_ECANCELED;
    if (j->stage != STAGE_NONE)
        return HZ_ESTATE;
    j->src = *src;
    j->src_len = length;
    j->has_src = 1;
    j->status = status;
    j->stage = STAGE_DONE;
    return 0;
}

int hz__exec_recording(const hz_res *res)
{
    return res->ops == &exec_res_ops;
}

int hz__exec_defer(struct hz_req *ex, hz__exec_defer_fn fn, void *ud)
{
    hz__exec_job *j = ex->exec;
    if (exec_live(ex) < 0)
        return HZ_ECANCELED;
    if (j->stage != STAGE_NONE)
        return HZ_ESTATE;
    j->defer = fn;
    j->defer_ud = ud;
    j->stage = STAGE_DONE;
    return 0;
}

static int exec_resume(struct hz_req *ex)
{
    (void)ex;
    return HZ_ENOTSUP; /* not reached: hz_res_resume is loop-only */
}

static int exec_on_body(struct hz_req *ex, hz_body_chunk_fn on_chunk, hz_body_end_fn on_end,
                        void *ud)
{
    (void)ex, (void)on_chunk, (void)on_end, (void)ud;
    return HZ_ENOTSUP; /* not reached: loop only */
}

/* Never called: the recorder is not on_loop, so hz_res_after refuses first. */
static int exec_after(hz_req *ex, unsigned ms, hz_after_fn fn, void *ud)
{
    (void)ex, (void)ms, (void)fn, (void)ud;
    return HZ_ENOTSUP;
}

/* What the protocol said at dispatch (hz_ws_origin_ok on a worker). */
static int exec_secure(const hz_req *ex)
{
    return ex->exec->secure;
}

static const hz__res_ops exec_res_ops = {
    .set_header = exec_set_header,
    .send = exec_send,
    .start = exec_start,
    .write = exec_write,
    .end = exec_end,
    .send_source = exec_send_source,
    .resume = exec_resume,
    .on_body = exec_on_body,
    .resume_body = exec_resume,
    .after = exec_after,
    .live = exec_live,
    .on_loop = 0,
    .secure = exec_secure,
};
