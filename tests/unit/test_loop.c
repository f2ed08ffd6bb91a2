/* test_loop.c - the event layer's dispatch table (hz__io): poller events,
 * the ready list, reaping and stopping reach the objects through their
 * hz__io_vt, whatever protocol is behind them. The objects here are fakes
 * over socket pairs; the loop is a server's loop 0 that is not running.
 * On a completion poller (io_uring) the poller receives the bytes itself:
 * a fake then drains them with pv->recv and closes with pv->close, as the
 * core's transport does, and READ means "received bytes wait". */
#include <stdatomic.h>
#include <unistd.h>
#include <sys/socket.h>
#include <criterion/criterion.h>
#include "loop.h"

typedef struct fake {
    hz__io io; /* first: the poller udata */
    hz__loop *loop;
    int fds[2];
    int events, last_events;
    int readies, stops, closes, frees;
    int busy;
    int requeue;       /* on_ready queues itself again this many times */
    int stop_unlinks;  /* on_stop unlinks (graceful stop finished at once) */
    struct fake *drop; /* on_event removes this fake's fd from the poller */
} fake;

static void f_event(hz__io *io, unsigned events)
{
    fake *f = (fake *)io;
    f->events++;
    f->last_events = (int)events;
    char b[16];
    if (f->loop->pv->caps & HZ_POLLER_CAP_COMPLETION) {
        while (f->loop->pv->recv(f->loop->poller, f->fds[0], b, sizeof(b), 0) > 0)
            ;
    } else {
        (void)!read(f->fds[0], b, sizeof(b));
    }
    if (f->drop)
        f->loop->pv->remove(f->loop->poller, f->drop->fds[0]);
}

static void f_ready(hz__io *io)
{
    fake *f = (fake *)io;
    f->readies++;
    if (f->requeue > 0) {
        f->requeue--;
        hz__loop_queue(f->loop, io);
    }
}

static void f_stop(hz__io *io)
{
    fake *f = (fake *)io;
    f->stops++;
    if (f->stop_unlinks)
        hz__loop_unlink(f->loop, io);
}

static void f_close(hz__io *io)
{
    fake *f = (fake *)io;
    f->closes++;
    hz__loop_unlink(f->loop, io);
}

static int f_busy(const hz__io *io)
{
    return ((const fake *)io)->busy;
}

static void f_free(hz__io *io)
{
    ((fake *)io)->frees++;
}

static const hz__io_vt fake_vt = {
    .on_event = f_event,
    .on_ready = f_ready,
    .on_stop = f_stop,
    .close = f_close,
    .busy = f_busy,
    .free = f_free,
};

static hz_server *srv;
static hz__loop *loop;

static void setup(void)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    loop = &srv->loops[0];
}

static void teardown(void)
{
    hz_server_destroy(srv);
}

static void fake_init(fake *f)
{
    memset(f, 0, sizeof(*f));
    f->io.vt = &fake_vt;
    f->loop = loop;
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, f->fds), 0);
}

static void fake_fini(fake *f)
{
    if (loop->pv->caps & HZ_POLLER_CAP_COMPLETION)
        loop->pv->close(loop->poller, f->fds[0]); /* it may have been registered */
    else
        close(f->fds[0]);
    close(f->fds[1]);
}

TestSuite(loop, .init = setup, .fini = teardown, .timeout = 30);

Test(loop, poller_events_reach_on_event_of_the_udata)
{
    fake a;
    fake_init(&a);
    cr_assert_eq(loop->pv->add(loop->poller, a.fds[0], HZ_EV_READ, &a.io), 0);
    cr_assert_eq(write(a.fds[1], "x", 1), 1);
    hz__loop_run_once(loop, 5000);
    cr_assert_eq(a.events, 1);
    cr_assert(a.last_events & HZ_EV_READ);
    hz__loop_run_once(loop, 0); /* drained: nothing more */
    cr_assert_eq(a.events, 1);
    loop->pv->remove(loop->poller, a.fds[0]);
    fake_fini(&a);
}

Test(loop, an_fd_removed_during_the_batch_gets_no_event)
{
    fake a, b;
    fake_init(&a);
    fake_init(&b);
    a.drop = &b;
    b.drop = &a; /* whichever runs first removes the other */
    cr_assert_eq(loop->pv->add(loop->poller, a.fds[0], HZ_EV_READ, &a.io), 0);
    cr_assert_eq(loop->pv->add(loop->poller, b.fds[0], HZ_EV_READ, &b.io), 0);
    cr_assert_eq(write(a.fds[1], "x", 1), 1);
    cr_assert_eq(write(b.fds[1], "x", 1), 1);
    hz__loop_run_once(loop, 5000);
    cr_assert_eq(a.events + b.events, 1, "a %d, b %d", a.events, b.events);
    fake *alive = a.events ? &a : &b;
    loop->pv->remove(loop->poller, alive->fds[0]);
    fake_fini(&a);
    fake_fini(&b);
}

Test(loop, queued_objects_run_once_per_iteration)
{
    fake a;
    fake_init(&a);
    hz__loop_queue(loop, &a.io);
    hz__loop_queue(loop, &a.io); /* idempotent while queued */
    a.requeue = 1;               /* queues itself again from on_ready */
    hz__loop_run_once(loop, 0);
    cr_assert_eq(a.readies, 1, "queued again while running: next iteration");
    cr_assert(a.io.queued);
    hz__loop_run_once(loop, 0);
    cr_assert_eq(a.readies, 2);
    cr_assert_not(a.io.queued);
    hz__loop_run_once(loop, 0);
    cr_assert_eq(a.readies, 2);
    fake_fini(&a);
}

Test(loop, unlinked_objects_are_freed_once_neither_busy_nor_queued)
{
    fake a;
    fake_init(&a);
    hz__loop_link(loop, &a.io);
    cr_assert_eq(loop->ios, &a.io);
    cr_assert_eq(loop->nios, 1);
    a.busy = 1;
    hz__loop_queue(loop, &a.io);
    hz__loop_unlink(loop, &a.io);
    cr_assert_null(loop->ios);
    cr_assert_eq(loop->nios, 0);
    hz__loop_run_once(loop, 0);
    cr_assert_eq(a.readies, 1, "a queued object still runs after unlink");
    cr_assert_eq(a.frees, 0, "busy: kept");
    a.busy = 0;
    hz__loop_run_once(loop, 0);
    cr_assert_eq(a.frees, 1);
    hz__loop_run_once(loop, 0);
    cr_assert_eq(a.frees, 1, "freed once");
    fake_fini(&a);
}

Test(loop, stopping_calls_on_stop_then_closes_what_is_left_at_the_deadline)
{
    fake a, b;
    fake_init(&a);
    fake_init(&b);
    a.stop_unlinks = 1; /* finishes at once */
    hz__loop_link(loop, &a.io);
    hz__loop_link(loop, &b.io); /* keeps going until the deadline */
    atomic_store(&srv->stop_deadline_ms, 0);
    atomic_store(&srv->stop_requested, 1);
    hz__loop_main(loop); /* returns once nothing is open */
    cr_assert_eq(a.stops, 1);
    cr_assert_eq(b.stops, 1);
    cr_assert_eq(a.closes, 0);
    cr_assert_eq(b.closes, 1, "closed by the stop deadline");
    cr_assert_eq(a.frees, 1);
    cr_assert_eq(b.frees, 1);
    cr_assert_null(loop->ios);
    fake_fini(&a);
    fake_fini(&b);
}

/* ---- parked records (park.h) ---------------------------------------------- */

static int park_order[400], park_n, park_expired, park_woken;

static void pk_wake(hz__loop *l, const hz__parked *r, unsigned events)
{
    (void)l;
    (void)events;
    park_woken++;
    park_order[park_n++] = r->fd;
}

static void pk_expire(hz__loop *l, const hz__parked *r)
{
    cr_assert_leq(r->deadline, l->now, "expired before its deadline");
    park_expired++;
    park_order[park_n++] = r->fd;
}

static void pk_close(hz__loop *l, const hz__parked *r)
{
    (void)l;
    park_order[park_n++] = r->fd;
}

static const hz__park_ops pk_ops = {.wake = pk_wake, .expire = pk_expire, .close = pk_close};

Test(loop, parked_records_leave_in_deadline_order_across_chunks)
{
    enum { N = 300 }; /* more than two chunks */
    long idx[N];
    park_n = park_expired = park_woken = 0;
    uint64_t t0 = loop->now;
    for (int i = 0; i < N; i++) {
        /* deadlines out of order: a permutation of t0 + 1000 + 0..N-1 ms */
        hz__parked r = {.deadline = t0 + 1000 + (uint64_t)((i * 7) % N),
                        .id = (uint64_t)i,
                        .fd = (i * 7) % N,
                        .n = 1};
        idx[i] = hz__park_put(loop, &pk_ops, &r);
        cr_assert_geq(idx[i], 0);
        cr_assert(hz__park_is(hz__park_udata((uint32_t)idx[i])));
    }
    cr_assert_eq(loop->park.count, N);
    /* A wake in the middle: record i = 10 (fd 70) leaves at once. */
    hz__park_event(loop, hz__park_udata((uint32_t)idx[10]), HZ_EV_READ);
    cr_assert_eq(park_woken, 1);
    cr_assert_eq(park_order[0], 70);
    /* The first 100 ms of deadlines expire (fd 70's is gone), in order,
     * none early. */
    loop->now = t0 + 1000 + 99;
    hz__wheel_advance(&loop->wheel, loop->now);
    cr_assert_eq(park_expired, 99);
    for (int k = 1, want = 0; k < park_n; k++, want++) {
        if (want == 70)
            want++;
        cr_assert_eq(park_order[k], want, "expired %d at %d", park_order[k], k);
    }
    /* The rest go at a stop, still in deadline order, fd 70 excepted. */
    int from = park_n;
    hz__park_close_all(loop);
    cr_assert_eq(park_n, N);
    int want = 100;
    for (int k = from; k < park_n; k++, want++) {
        if (want == 70)
            want++;
        cr_assert_eq(park_order[k], want);
    }
    cr_assert_eq(loop->park.count, 0);
    cr_assert_not(hz__timer_armed(&loop->park.timer));
}
