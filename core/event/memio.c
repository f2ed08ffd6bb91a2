/* memio.c - the in-memory transport (see memio.h). */
#include <string.h>
#include "memio.h"

static hz__memio *io_of(hz__sock *s)
{
    return s->ctx;
}

static long mem_recv(hz__sock *s, void *buf, size_t len)
{
    hz__memio *io = io_of(s);
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

static long mem_send(hz__sock *s, const void *buf, size_t len)
{
    hz__memio *io = io_of(s);
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

/* Each piece through the socket's own send, so a transport that wraps this
 * one (the fuzz targets' checked one, fuzz/support) sees writev's bytes too. */
static long mem_writev(hz__sock *s, const struct iovec *iov, int iovcnt)
{
    long total = 0;
    for (int i = 0; i < iovcnt; i++) {
        long n = s->tp->send(s, iov[i].iov_base, iov[i].iov_len);
        if (n < 0)
            return total ? total : n;
        total += n;
        if ((size_t)n < iov[i].iov_len)
            break;
    }
    return total;
}

static int mem_shutdown(hz__sock *s)
{
    io_of(s)->shut = 1;
    return 0;
}

static void mem_close(hz__sock *s)
{
    io_of(s)->closed = 1;
}

const hz__transport_vt hz__transport_mem = {
    .recv = mem_recv,
    .send = mem_send,
    .writev = mem_writev,
    .shutdown = mem_shutdown,
    .close = mem_close,
};

void hz__memio_free(hz__memio *io)
{
    if (io->out && io->a)
        hz__free(io->a, io->out, io->out_cap);
    io->out = NULL;
    io->out_len = io->out_cap = 0;
}
