/* memconn.c - HTTP/1.1 connections over the in-memory transport. */
#include "memconn.h"

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
