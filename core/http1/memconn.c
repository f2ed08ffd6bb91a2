/* memconn.c - the in-memory transport (see memconn.h). */
#include <string.h>
#include "memconn.h"

static hz__memio *io_of(hz__conn *c)
{
    return c->tp_ctx;
}

static long mem_recv(hz__conn *c, void *buf, size_t len)
{
    hz__memio *io = io_of(c);
    size_t left = io->in_len - io->in_off;
    if (!left)
        return io->eof ? 0 : HZ_EAGAIN;
    size_t n = len < left ? len : left;
    if (io->max_read && n > io->max_read)
        n = io->max_read;
    memcpy(buf, io->in + io->in_off, n);
    io->in_off += n;
    return (long)n;
}

static long mem_send(hz__conn *c, const void *buf, size_t len)
{
    hz__memio *io = io_of(c);
    if (io->closed || io->shut)
        return HZ_EIO;
    if (io->max_write) {
        /* A partial write, then "would block": every path gets exercised. */
        if (io->blocked) {
            io->blocked = 0;
            return HZ_EAGAIN;
        }
        io->blocked = 1;
        if (len > io->max_write)
            len = io->max_write;
    }
    size_t keep = len;
    if (io->out_max && io->out_len + keep > io->out_max)
        keep = io->out_max > io->out_len ? io->out_max - io->out_len : 0;
    if (keep) {
        if (io->out_len + keep > io->out_cap) {
            size_t ncap = io->out_cap ? io->out_cap : 4096;
            while (ncap < io->out_len + keep)
                ncap *= 2;
            char *p = hz__realloc(io->a, io->out, io->out_cap, ncap);
            if (!p)
                return HZ_ENOMEM;
            io->out = p;
            io->out_cap = ncap;
        }
        memcpy(io->out + io->out_len, buf, keep);
        io->out_len += keep;
    }
    io->sent += len;
    return (long)len;
}

static long mem_writev(hz__conn *c, const struct iovec *iov, int iovcnt)
{
    long total = 0;
    for (int i = 0; i < iovcnt; i++) {
        long n = mem_send(c, iov[i].iov_base, iov[i].iov_len);
        if (n < 0)
            return total ? total : n;
        total += n;
        if ((size_t)n < iov[i].iov_len)
            break;
    }
    return total;
}

static int mem_shutdown(hz__conn *c)
{
    io_of(c)->shut = 1;
    return 0;
}

static void mem_close(hz__conn *c)
{
    io_of(c)->closed = 1;
}

const hz__transport_vt hz__transport_mem = {
    .recv = mem_recv,
    .send = mem_send,
    .writev = mem_writev,
    .shutdown = mem_shutdown,
    .close = mem_close,
};

int hz__memconn_open(hz__loop *loop, hz__memio *io, hz__conn **out)
{
    io->a = &loop->srv->a;
    return hz__conn_attach(loop, &hz__transport_mem, io, out);
}

int hz__memconn_run(hz__loop *loop, hz__memio *io, hz__conn *c, int max_steps)
{
    int steps = 0;
    int idle = 0;
    while (steps < max_steps && !io->closed && idle < 3) {
        size_t in0 = io->in_off, sent0 = io->sent;
        steps++;
        /* Level-triggered: report what the poller would. */
        unsigned ev = 0;
        if (c->interest & HZ_EV_READ)
            ev |= HZ_EV_READ;
        if (c->interest & HZ_EV_WRITE)
            ev |= HZ_EV_WRITE;
        if (ev)
            hz__conn_on_event(c, ev);
        hz__loop_run_pending(loop);
        idle = (io->in_off == in0 && io->sent == sent0 && !loop->ready) ? idle + 1 : 0;
    }
    return steps;
}

void hz__memio_free(hz__memio *io)
{
    if (io->out && io->a)
        hz__free(io->a, io->out, io->out_cap);
    io->out = NULL;
    io->out_len = io->out_cap = 0;
}
