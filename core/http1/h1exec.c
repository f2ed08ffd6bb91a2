/* h1exec.c - HTTP/1.1's hooks for executor handlers (core/http/exec.c)
 * and the EOF watch while a handler runs on a worker (see h1exec.h). */
#include <string.h>
#include "h1exec.h"

static void h1x_hold(hz__conn *c, int delta)
{
    c->refs += (unsigned)delta;
}

static int h1x_current(const struct hz_req *ex, hz__conn *c)
{
    return !c->closing && c->ex == ex;
}

static int h1x_owned(const struct hz_req *ex, hz__conn *c)
{
    return c->ex == ex; /* a closed connection frees it when reaped */
}

static void h1x_fail(struct hz_req *ex, hz__conn *c, int status)
{
    (void)ex;
    if (!c->closing)
        hz__res_error(c, status);
}

/* The read buffer holds the request the worker reads: the job takes it
 * over, the connection closes after the 503. */
static int h1x_deadline(struct hz_req *ex, hz__conn *c, hz__buf *pinned)
{
    if (c->closing || c->ex != ex)
        return 0;
    *pinned = c->in;
    memset(&c->in, 0, sizeof(c->in));
    hz__conn_why(c, HZ_CLOSE_TIMEOUT);
    return 1;
}

static void h1x_replayed(struct hz_req *ex, hz__conn *c)
{
    (void)ex;
    if (!c->closing && !c->in_process)
        hz__loop_ready(c->loop, c);
}

const hz__exec_proto hz__h1_exec = {
    .ops = &hz__h1_res_ops,
    .hold = h1x_hold,
    .current = h1x_current,
    .owned = h1x_owned,
    .release = hz__ex_release,
    .fail = h1x_fail,
    .deadline = h1x_deadline,
    .replayed = h1x_replayed,
};

int hz__exec_watching(const struct hz_req *ex)
{
    const struct hz__exec_job_view *v = hz__exec_view(ex);
    return !v->peer_data && !v->timed_out;
}

void hz__exec_peek(hz__conn *c)
{
    struct hz__exec_job_view *v = c->ex && c->ex->exec ? hz__exec_view(c->ex) : NULL;
    if (!v || c->sock.fd < 0) {
        if (v)
            v->peer_data = 1;
        return;
    }
    /* Through the transport: a completion poller holds the received bytes. */
    long n = hz__sock_peek(&c->sock);
    if (n == 0 || (n < 0 && n != HZ_EAGAIN)) {
        hz__conn_close(c); /* gone: ex_abort marks the request cancelled */
        return;
    }
    if (n > 0)
        v->peer_data = 1; /* pipelined input: read it after the response */
}
