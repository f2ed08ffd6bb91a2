/* fz_conn.c - see fz_conn.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fz_conn.h"
#include "fz_rand.h"

void fz_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "%s: invariant violated: %s (%s:%d)\n", fz_target, what, file, line);
    abort();
}

static fz_tp *tp_of(hz__sock *s)
{
    return s->ctx;
}

static long fz_recv(hz__sock *s, void *buf, size_t len)
{
    FZ_CHECK(!tp_of(s)->m.closed, "read after close");
    return hz__transport_mem.recv(s, buf, len);
}

static long fz_send(hz__sock *s, const void *buf, size_t len)
{
    fz_tp *t = tp_of(s);
    FZ_CHECK(!t->m.closed, "send after close");
    FZ_CHECK(!t->m.shut, "send after FIN");
    if (!len)
        return 0;
    if (!t->budget)
        return HZ_EAGAIN;
    size_t n = len < t->budget ? len : t->budget;
    if (t->budget != SIZE_MAX)
        t->budget -= n;
    return hz__transport_mem.send(s, buf, n);
}

/* memio's writev sends each piece through s->tp->send: fz_send here. */
static long fz_writev(hz__sock *s, const struct iovec *iov, int iovcnt)
{
    return hz__transport_mem.writev(s, iov, iovcnt);
}

static int fz_shutdown(hz__sock *s)
{
    FZ_CHECK(!tp_of(s)->m.closed, "shutdown after close");
    return hz__transport_mem.shutdown(s);
}

static void fz_close(hz__sock *s)
{
    fz_tp *t = tp_of(s);
    FZ_CHECK(!t->m.closed, "closed twice");
    t->abrupt = !t->m.shut;
    hz__transport_mem.close(s);
    if (t->on_close)
        t->on_close(s);
}

const hz__transport_vt fz_transport = {
    .recv = fz_recv,
    .send = fz_send,
    .writev = fz_writev,
    .shutdown = fz_shutdown,
    .close = fz_close,
};

void fz_tp_reset(fz_tp *t, size_t out_max)
{
    hz__memio_free(&t->m);
    memset(t, 0, sizeof(*t));
    t->m.out_max = out_max;
    t->m.a = &hz_allocator_default;
}

void fz_run_ready(hz__loop *loop)
{
    /* The loop's own pass, repeated while passes queue more (bounded: a
     * connection that queues itself forever is the target's finding). */
    for (int pass = 0; pass < 64 && loop->ready; pass++)
        hz__loop_run_ready(loop);
}

void fz_advance(hz__loop *loop, uint64_t ms)
{
    loop->now += ms;
    hz__wheel_advance(&loop->wheel, loop->now);
    fz_run_ready(loop);
}

uint32_t fz_rnd(uint32_t *s)
{
    return fz_lcg(s);
}
