/* exec.c - handlers on the executor: dispatch, load shedding, the handler
 * deadline, EOF watch, the response recorded on the worker and replayed on
 * the loop (see exec.h for the model). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include "exec.h"

enum { STAGE_NONE = 0, STAGE_STREAM, STAGE_DONE };

struct hz__exec_job {   /* owner: its loop; freed by exec_done() */
    hz__post post;      /* first: the completion message is the job */
    hz__timer deadline; /* timeouts.handler; loop only */
    hz__loop *loop;     /* borrowed: does not end while the job is in flight */
    hz__conn *c;        /* borrowed: held by c->refs until exec_done() */
    struct hz_req *ex;  /* borrowed: held by ex->refs until exec_done() */
    const char *base;   /* borrowed: the request bytes (c->in, or pinned) */
    hz__buf pinned;     /* owns: c->in, taken over at a timeout; loop only */
    int timed_out;      /* loop only */
    int peer_data;      /* pipelined bytes seen: stop the EOF watch; loop only */
    /* Written on the worker, read on the loop after the post. */
    int run_status; /* the executor's: 0 or HZ_ECANCELED */
    int stage;      /* STAGE_* */
    int status;
    int failed; /* out of memory while recording: answer 500 */
    char *hdrs; /* owns: "name\0value\0" pairs, hdrs_cap bytes */
    size_t hdrs_len, hdrs_cap;
    char *body; /* owns: body_cap bytes */
    size_t body_len, body_cap;
};

/* The job whose handler this thread runs (NULL on loops and idle workers). */
static _Thread_local hz__exec_job *exec_tl;

hz__exec_job *hz__exec_current(const struct hz_req *req)
{
    hz__exec_job *j = exec_tl;
    return j && j->ex == req ? j : NULL;
}

const char *hz__exec_base(const hz__exec_job *j)
{
    return j->base;
}

/* ---- loop side -------------------------------------------------------------- */

static void exec_free(hz__loop *loop, hz__exec_job *j)
{
    const hz_allocator *a = &loop->srv->a;
    hz__buf_release(&j->pinned, &loop->bufs);
    hz__free(a, j->hdrs, j->hdrs_cap);
    hz__free(a, j->body, j->body_cap);
    hz__free(a, j, sizeof(*j));
}

/* The executor would not take the job: answer now, keep the connection. */
static void exec_shed(struct hz_req *ex)
{
    static const char msg[] = "Service Unavailable";
    hz_res_set_header(&ex->res, "Retry-After", "1");
    if (hz_res_send(&ex->res, 503, msg, sizeof(msg) - 1) < 0 && ex->conn)
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
    for (size_t off = 0; off < j->hdrs_len;) {
        const char *name = j->hdrs + off;
        const char *value = name + strlen(name) + 1;
        off = (size_t)(value - j->hdrs) + strlen(value) + 1;
        hz_res_set_header(&ex->res, name, value);
    }
    if (hz_res_send(&ex->res, j->status, j->body, j->body_len) < 0 && !c->closing)
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
        exec_tl = j;
        rec->fn(ex, &ex->res, rec->ud);
        exec_tl = NULL;
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
    j->base = c->in.data + ex->base;
    hz__timer_init(&j->deadline, exec_deadline_fn);
    if (srv->cfg.timeouts.handler)
        hz__timer_arm(&loop->wheel, &j->deadline, loop->now + srv->cfg.timeouts.handler);
    ex->exec = j;
    ex->refs++;
    c->refs++;
    loop->exec_inflight++;
    int rc = x->vt->submit(x->self, exec_run, j);
    if (rc < 0) { /* HZ_EBUSY (full) or HZ_ECANCELED (shut down): shed */
        loop->exec_inflight--;
        c->refs--;
        ex->refs--;
        ex->exec = NULL;
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
    char b;
    if (!j || c->sock.fd < 0) {
        if (j)
            j->peer_data = 1;
        return;
    }
    ssize_t n = recv(c->sock.fd, &b, 1, MSG_PEEK);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
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

static int exec_live(hz__exec_job *j)
{
    return atomic_load(&j->ex->cancelled) ? HZ_ECANCELED : 0;
}

int hz__exec_set_header(hz__exec_job *j, const char *name, const char *value)
{
    int rc = exec_live(j);
    if (rc < 0)
        return rc;
    if (!name || !value || !*name)
        return HZ_EINVAL;
    if (j->stage != STAGE_NONE)
        return HZ_ESTATE;
    /* The loop validates again when it replays; refuse what it would drop. */
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == ':' || *p == 0x7f)
            return HZ_EINVAL;
    for (const char *p = value; *p; p++)
        if (*p == '\r' || *p == '\n')
            return HZ_EINVAL;
    size_t nl = strlen(name) + 1, vl = strlen(value) + 1;
    if (j->hdrs_len + nl + vl > 65536u)
        return HZ_ERANGE;
    if ((rc = exec_append(j, &j->hdrs, &j->hdrs_len, &j->hdrs_cap, name, nl)) < 0 ||
        (rc = exec_append(j, &j->hdrs, &j->hdrs_len, &j->hdrs_cap, value, vl)) < 0)
        return rc;
    return 0;
}

int hz__exec_send(hz__exec_job *j, int status, const void *body, size_t len)
{
    int rc = exec_live(j);
    if (rc < 0)
        return rc;
    if (j->stage != STAGE_NONE)
        return HZ_ESTATE;
    if (status < 200 || status > 999 || (!body && len))
        return HZ_EINVAL;
    if ((rc = exec_append(j, &j->body, &j->body_len, &j->body_cap, body, len)) < 0)
        return rc;
    j->status = status;
    j->stage = STAGE_DONE;
    return 0;
}

int hz__exec_start(hz__exec_job *j, int status)
{
    int rc = exec_live(j);
    if (rc < 0)
        return rc;
    if (j->stage != STAGE_NONE)
        return HZ_ESTATE;
    if (status < 200 || status > 999)
        return HZ_EINVAL;
    j->status = status;
    j->stage = STAGE_STREAM;
    return 0;
}

int hz__exec_write(hz__exec_job *j, const void *buf, size_t len)
{
    int rc = exec_live(j);
    if (rc < 0)
        return rc;
    if (j->stage != STAGE_STREAM)
        return HZ_ESTATE;
    if (!buf && len)
        return HZ_EINVAL;
    return exec_append(j, &j->body, &j->body_len, &j->body_cap, buf, len);
}

int hz__exec_end(hz__exec_job *j)
{
    int rc = exec_live(j);
    if (rc < 0)
        return rc;
    if (j->stage != STAGE_STREAM)
        return HZ_ESTATE;
    j->stage = STAGE_DONE;
    return 0;
}
