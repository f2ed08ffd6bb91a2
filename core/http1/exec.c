/* exec.c - handlers on the executor: dispatch, load shedding, the handler
 * deadline, EOF watch, the response recorded on the worker and replayed on
 * the loop (see exec.h for the model). */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include "exec.h"

enum { STAGE_NONE = 0, STAGE_STREAM, STAGE_DONE };

struct hz__exec_job {   /* owner: its loop; freed by exec_done() */
    hz__post post;      /* first: the completion message is the job */
    hz__timer deadline; /* timeouts.handler; loop only */
    hz__loop *loop;     /* borrowed: does not end while the job is in flight */
    hz__conn *c;        /* borrowed: held by c->refs until exec_done() */
    struct hz_req *ex;  /* borrowed: held by ex->refs until exec_done() */
    hz__buf pinned;     /* owns: c->in, taken over at a timeout; loop only */
    int timed_out;      /* loop only */
    int peer_data;      /* pipelined bytes seen: stop the EOF watch; loop only */
    /* Written on the worker, read on the loop after the post. */
    int run_status; /* the executor's: 0 or HZ_ECANCELED */
    int stage;      /* STAGE_* */
    int status;
    int failed;     /* out of memory while recording: answer 500 */
    int conn_close; /* a Connection: close field was set */
    int server_set; /* a Server field was set (it is among the pairs) */
    char *hdrs;     /* owns: "name\0value\0" pairs, hdrs_cap bytes */
    size_t hdrs_len, hdrs_cap;
    size_t hdrs_cost;   /* the pairs as header lines, against HZ__RES_HDRS_MAX */
    int has_src;        /* a body source was recorded (owned until handed over) */
    int64_t src_len;    /* its length (-1: unknown) */
    hz_body_source src; /* owns while has_src: done runs exactly once */
    char *body;         /* owns: body_cap bytes */
    size_t body_len, body_cap;
};

static const hz__res_ops exec_res_ops;

/* ---- loop side -------------------------------------------------------------- */

static void exec_free(hz__loop *loop, hz__exec_job *j)
{
    const hz_allocator *a = &loop->srv->a;
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
static void exec_shed(struct hz_req *ex)
{
    hz_res_set_header(&ex->res, "Retry-After", "1");
    if (hz__res_answer(ex, ex->res.ops, 503, NULL) < 0 && ex->conn)
        hz__res_error(ex->conn, 503);
}

static void exec_replay(hz__exec_job *j, struct hz_req *ex, hz__conn *c)
{
    if (j->run_status != 0) { /* cancelled by the executor's shutdown */
        exec_shed(ex);
        return;
    }
    if (j->failed || j->stage != STAGE_DONE) {
        hz__res_error(c, 500); /* the handler returned without a response */
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
    if (rc == 0 && j->has_src) {
        j->has_src = 0; /* handed over: the connection calls done */
        rc = ops->send_source(ex, j->status, j->src_len, &j->src);
        if (rc < 0)
            j->src.done(j->src.ud, rc);
    } else if (rc == 0) {
        rc = ops->send(ex, j->status, j->body, j->body_len);
    }
    if (rc < 0 && !c->closing)
        hz__res_error(c, 500);
}

/* The handler returned (or the executor cancelled the job): runs on the
 * loop, through the posting queue. */
static void exec_done(hz__loop *loop, hz__post *msg)
{
    hz__exec_job *j = (hz__exec_job *)msg;
    hz__conn *c = j->c;
    struct hz_req *ex = j->ex;
    loop->exec_inflight--;
    hz__timer_cancel(&loop->wheel, &j->deadline);
    ex->exec = NULL;
    ex->res.ops = &hz__h1_res_ops; /* the worker is done with the recorder */
    if (!ex->conn)
        ex->raw = NULL; /* detached: the views end with the job */
    ex->refs--;
    c->refs--;
    if (!j->timed_out && !c->closing && c->ex == ex) {
        c->refs++;
        exec_replay(j, ex, c);
        c->refs--;
        if (!c->closing && !c->in_process)
            hz__loop_ready(loop, c);
    } else if (c->ex != ex && !ex->refs) {
        /* Answered without it (timeout): the exchange is the job's to free.
         * A closed connection still holding it frees it when reaped. */
        hz__ex_release(loop, ex);
    }
    exec_free(loop, j);
}

/* The handler overran timeouts.handler: 503 + close now; the worker keeps
 * reading the request from the buffer the job takes over. */
static void exec_deadline_fn(hz__timer *t)
{
    hz__exec_job *j = (hz__exec_job *)((char *)t - offsetof(hz__exec_job, deadline));
    hz__conn *c = j->c;
    if (c->closing || c->ex != j->ex)
        return;
    j->timed_out = 1;
    atomic_store(&j->ex->cancelled, 1);
    j->pinned = c->in;
    memset(&c->in, 0, sizeof(c->in));
    hz__metrics_timeout(c->loop, HZ_TIMEOUT_HANDLER);
    hz__conn_why(c, HZ_CLOSE_TIMEOUT);
    hz__res_error(c, 503);
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

void hz__exec_dispatch(hz__conn *c, struct hz_req *ex)
{
    hz__loop *loop = c->loop;
    hz_server *srv = loop->srv;
    const hz_executor *x = srv->cfg.executor;
    hz__exec_job *j = hz__calloc(&srv->a, sizeof(*j));
    if (!j) {
        exec_shed(ex);
        return;
    }
    j->post.fn = exec_done;
    j->loop = loop;
    j->c = c;
    j->ex = ex;
    hz__timer_init(&j->deadline, exec_deadline_fn);
    if (srv->cfg.timeouts.handler)
        hz__timer_arm(&loop->wheel, &j->deadline, loop->now + srv->cfg.timeouts.handler);
    ex->exec = j;
    /* The handler's hz_res_* calls are recorded until exec_done; the
     * executor's queue publishes this before the worker reads it. */
    ex->res.ops = &exec_res_ops;
    ex->refs++;
    c->refs++;
    loop->exec_inflight++;
    int rc = x->vt->submit(x->self, exec_run, j);
    if (rc < 0) { /* HZ_EBUSY (full) or HZ_ECANCELED (shut down): shed */
        loop->exec_inflight--;
        c->refs--;
        ex->refs--;
        ex->exec = NULL;
        ex->res.ops = &hz__h1_res_ops;
        hz__timer_cancel(&loop->wheel, &j->deadline);
        exec_free(loop, j);
        exec_shed(ex);
    }
}

int hz__exec_watching(const struct hz_req *ex)
{
    const hz__exec_job *j = ex->exec;
    return j && !j->peer_data && !j->timed_out;
}

void hz__exec_peek(hz__conn *c)
{
    hz__exec_job *j = c->ex ? c->ex->exec : NULL;
    if (!j || c->sock.fd < 0) {
        if (j)
            j->peer_data = 1;
        return;
    }
    /* Through the transport: a completion poller holds the received bytes. */
    long n = hz__sock_peek(&c->sock);
    if (n == 0 || (n < 0 && n != HZ_EAGAIN)) {
        hz__conn_close(c); /* gone: ex_abort marks the request cancelled */
        return;
    }
    if (n > 0)
        j->peer_data = 1; /* pipelined input: read it after the response */
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
};
