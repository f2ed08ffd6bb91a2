/* loop.c - a loop thread: poller dispatch, accepting, timers, the ready
 * list, reaping, the cross-thread queue and the Date cache. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include "fmt.h"
#include "loop.h"

#define HZ__ACCEPT_BATCH 64
#define HZ__ACCEPT_PAUSE_MS 100 /* EMFILE/ENFILE: retry accepting after this */
#define HZ__BUFCACHE_MAX 64

uint64_t hz__now_ms(void)
{
    struct timespec ts;
#if HZ_HAVE_CLOCK_MONOTONIC_COARSE
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t hz__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void hz__loop_update_date(hz__loop *loop)
{
    time_t now = time(NULL);
    if ((int64_t)now == loop->date_sec)
        return;
    loop->date_sec = (int64_t)now;
    memcpy(loop->date, "Date: ", 6);
    size_t n = hz__fmt_http_date(loop->date + 6, (int64_t)now);
    memcpy(loop->date + 6 + n, "\r\n", 2);
    loop->date_len = n ? (unsigned)n + 8 : 0;
}

static void stop_timer_fn(hz__timer *t);

int hz__loop_init(hz__loop *loop, hz_server *srv, unsigned idx)
{
    int rc;
    memset(loop, 0, sizeof(*loop));
    loop->srv = srv;
    loop->idx = idx;
    loop->pv = srv->pv;
    loop->date_sec = -1;
    loop->now = hz__now_ms();
    loop->wake_ns = hz__now_ns();
    hz__wheel_init(&loop->wheel, loop->now);
    hz__timer_init(&loop->stop_timer, stop_timer_fn);
    hz__park_init(loop);
    hz__loop_update_date(loop);
    if ((rc = hz__bufcache_init(&loop->bufs, &srv->a, HZ__BUFCACHE_MAX)) < 0)
        return rc;
    if (pthread_mutex_init(&loop->qlock, NULL) != 0) {
        hz__bufcache_free(&loop->bufs);
        return HZ_ESYS;
    }
    if ((rc = loop->pv->create(&loop->poller, &srv->a)) < 0) {
        pthread_mutex_destroy(&loop->qlock);
        hz__bufcache_free(&loop->bufs);
        return rc;
    }
    loop->lsn_events = HZ_EV_READ;
    if (loop->pv->caps & HZ_POLLER_CAP_COMPLETION) {
        loop->cio.pv = loop->pv;
        loop->cio.p = loop->poller;
        loop->lsn_events = HZ_EV_READ | HZ_EV_ACCEPT;
    }
    return 0;
}

void hz__loop_sock_init(hz__loop *loop, hz__sock *s, int fd)
{
    if (loop->cio.pv)
        hz__sock_init_cio(s, &loop->cio, fd);
    else
        hz__sock_init(s, fd);
}

static void reap(hz__loop *loop);

void hz__loop_close_all(hz__loop *loop)
{
    hz__park_close_all(loop);
    while (loop->ios)
        loop->ios->vt->close(loop->ios);
    loop->ready = NULL; /* nothing runs any more: everything is reapable */
    for (hz__io *io = loop->reap; io; io = io->rnext)
        io->queued = 0;
    reap(loop);
}

void hz__loop_fini(hz__loop *loop)
{
    if (!loop->srv)
        return;
    /* Connections are normally gone (the thread closes them on exit); a
     * loop that never ran has none. */
    hz__loop_close_all(loop);
    hz__park_fini(loop);
    hz__fcache_free(loop); /* after the connections: their sources gave fds back */
    if (loop->lregs)
        hz__free(&loop->srv->a, loop->lregs, sizeof(*loop->lregs) * loop->nlregs);
    loop->lregs = NULL;
    /* Messages still queued belong to their senders' fn: run them so they
     * can release their state (they see loop->stopping). */
    hz__post *m = loop->qhead;
    loop->qhead = loop->qtail = NULL;
    while (m) {
        hz__post *next = m->next;
        m->fn(loop, m);
        m = next;
    }
    loop->pv->destroy(loop->poller);
    loop->poller = NULL;
    pthread_mutex_destroy(&loop->qlock);
    hz__bufcache_free(&loop->bufs);
    loop->srv = NULL;
}

void hz__loop_post(hz__loop *loop, hz__post *msg)
{
    msg->next = NULL;
    pthread_mutex_lock(&loop->qlock);
    if (loop->qtail)
        loop->qtail->next = msg;
    else
        loop->qhead = msg;
    loop->qtail = msg;
    /* Wake before unlocking: the loop cannot take the message (and so
     * cannot finish, exit and let hz_server_destroy close the poller) until
     * this wake() has returned. Waking after the unlock raced with that
     * close (TSan: an executor worker's eventfd write against
     * ep_destroy's close). */
    loop->pv->wake(loop->poller);
    pthread_mutex_unlock(&loop->qlock);
}

static void run_posts(hz__loop *loop)
{
    pthread_mutex_lock(&loop->qlock);
    hz__post *m = loop->qhead;
    loop->qhead = loop->qtail = NULL;
    pthread_mutex_unlock(&loop->qlock);
    while (m) {
        hz__post *next = m->next;
        m->fn(loop, m);
        m = next;
    }
}

void hz__loop_queue(hz__loop *loop, hz__io *io)
{
    if (io->queued)
        return;
    io->queued = 1;
    io->qnext = loop->ready;
    loop->ready = io;
}

void hz__loop_link(hz__loop *loop, hz__io *io)
{
    io->prev = NULL;
    io->next = loop->ios;
    if (io->next)
        io->next->prev = io;
    loop->ios = io;
    io->linked = 1;
    loop->nios++;
}

void hz__loop_unlink(hz__loop *loop, hz__io *io)
{
    if (io->linked) {
        if (io->prev)
            io->prev->next = io->next;
        else
            loop->ios = io->next;
        if (io->next)
            io->next->prev = io->prev;
        io->prev = io->next = NULL;
        io->linked = 0;
        loop->nios--;
    }
    io->rnext = loop->reap;
    loop->reap = io;
}

static void reap(hz__loop *loop)
{
    hz__io **pp = &loop->reap;
    while (*pp) {
        hz__io *io = *pp;
        /* Still on the ready list or held by a callback: next time. */
        if (io->queued || (io->vt->busy && io->vt->busy(io))) {
            pp = &io->rnext;
            continue;
        }
        *pp = io->rnext;
        io->vt->free(io);
    }
}

void hz__loop_run_pending(hz__loop *loop)
{
    loop->now = hz__now_ms();
    loop->wake_ns = hz__now_ns();
    hz__wheel_advance(&loop->wheel, loop->now);
    hz__loop_run_ready(loop);
    reap(loop);
}

/* ---- listeners ---------------------------------------------------------- */

static void lreg_unregister(hz__loop *loop, hz__lreg *lr)
{
    if (!lr->active)
        return;
    lr->active = 0;
    hz__timer_cancel(&loop->wheel, &lr->resume);
    loop->pv->remove(loop->poller, lr->ls->fd);
    /* The last loop polling a socket closes it, so no loop ever has a
     * reused fd number registered. */
    if (atomic_fetch_sub(&lr->ls->users, 1) == 1) {
        if (loop->cio.pv)
            loop->pv->close(loop->poller, lr->ls->fd);
        else
            close(lr->ls->fd);
        lr->ls->fd = -1;
    }
}

static void lreg_resume_fn(hz__timer *t)
{
    hz__lreg *lr = (hz__lreg *)((char *)t - offsetof(hz__lreg, resume));
    if (lr->active && lr->paused) {
        lr->paused = 0;
        lr->loop->pv->modify(lr->loop->poller, lr->ls->fd, lr->loop->lsn_events, lr);
    }
}

#if !HZ_HAVE_ACCEPT4
static void set_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    fl = fcntl(fd, F_GETFD);
    if (fl >= 0)
        fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}
#endif

/* Accepts a batch: with accept4() on a readiness poller, from the
 * poller's queue on a completion one (cio is a constant in each caller). */
static inline __attribute__((always_inline)) void loop_accept_with(hz__loop *loop, hz__lreg *lr,
                                                                   int cio)
{
    for (int i = 0; i < HZ__ACCEPT_BATCH; i++) {
        int fd, e = 0;
        if (cio) {
            fd = loop->pv->accept(loop->poller, lr->ls->fd);
            if (fd == HZ_EAGAIN)
                return;
            e = fd == HZ_EMFILE ? EMFILE : EPROTO;
        } else {
#if HZ_HAVE_ACCEPT4
            fd = accept4(lr->ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
            fd = accept(lr->ls->fd, NULL, NULL);
#endif
            if (fd < 0)
                e = errno;
        }
        if (fd < 0) {
            if (e == EINTR || e == ECONNABORTED || e == EPROTO)
                continue;
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                /* Out of descriptors: the listener stays readable, so a
                 * level-triggered poller would spin. Stop polling it for a
                 * moment; closing connections frees descriptors meanwhile. */
                lr->paused = 1;
                loop->pv->modify(loop->poller, lr->ls->fd, 0, lr);
                hz__timer_arm(&loop->wheel, &lr->resume, loop->now + HZ__ACCEPT_PAUSE_MS);
            }
            return;
        }
#if !HZ_HAVE_ACCEPT4
        if (!cio)
            set_nonblock_cloexec(fd);
#endif
        if (loop->stopping) {
            close(fd);
            continue;
        }
        /* The server layer picks the protocol (and applies its limits). */
        if (loop->srv->on_accept(loop, fd, lr->ls->ud) < 0)
            close(fd);
    }
}

static void loop_accept(hz__loop *loop, hz__lreg *lr)
{
    loop_accept_with(loop, lr, 0);
}

static void lreg_on_event(hz__io *io, unsigned events)
{
    hz__lreg *lr = (hz__lreg *)io;
    (void)events;
    if (lr->active && !lr->paused)
        loop_accept(lr->loop, lr);
}

static void lreg_on_event_cio(hz__io *io, unsigned events)
{
    hz__lreg *lr = (hz__lreg *)io;
    (void)events;
    if (lr->active && !lr->paused)
        loop_accept_with(lr->loop, lr, 1);
}

static const hz__io_vt lreg_vt = {.on_event = lreg_on_event};
static const hz__io_vt lreg_vt_cio = {.on_event = lreg_on_event_cio};

int hz__loop_listen(hz__loop *loop)
{
    hz_server *srv = loop->srv;
    unsigned n = srv->nlisteners;
    if (!n || loop->lregs)
        return 0; /* none, or registered by an earlier hz_server_start */
    hz__lreg *lregs = hz__calloc(&srv->a, sizeof(*lregs) * n);
    if (!lregs)
        return HZ_ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        hz__listener *l = &srv->listeners[i];
        hz__lreg *lr = &lregs[i];
        lr->io.vt = loop->cio.pv ? &lreg_vt_cio : &lreg_vt;
        lr->loop = loop;
        lr->ls = &l->socks[l->nsocks > 1 ? loop->idx : 0];
        hz__timer_init(&lr->resume, lreg_resume_fn);
        int rc = loop->pv->add(loop->poller, lr->ls->fd, loop->lsn_events, lr);
        if (rc < 0) {
            while (i-- > 0)
                loop->pv->remove(loop->poller, lregs[i].ls->fd);
            hz__free(&srv->a, lregs, sizeof(*lregs) * n);
            return rc;
        }
        lr->active = 1;
    }
    loop->lregs = lregs;
    loop->nlregs = n;
    return 0;
}

/* ---- stopping ------------------------------------------------------------ */

static void stop_timer_fn(hz__timer *t)
{
    hz__loop *loop = (hz__loop *)((char *)t - offsetof(hz__loop, stop_timer));
    while (loop->ios)
        loop->ios->vt->close(loop->ios);
}

static void loop_begin_stop(hz__loop *loop)
{
    loop->stopping = 1;
    for (unsigned i = 0; i < loop->nlregs; i++)
        lreg_unregister(loop, &loop->lregs[i]);
    hz__park_close_all(loop); /* idle: closed at once, as on_stop does */
    hz__io *io = loop->ios;
    while (io) {
        hz__io *next = io->next; /* on_stop may close (unlink) io */
        io->vt->on_stop(io);
        io = next;
    }
    unsigned deadline = atomic_load(&loop->srv->stop_deadline_ms);
    if (loop->ios)
        hz__timer_arm(&loop->wheel, &loop->stop_timer, loop->now + deadline);
}

/* The body of every iteration, inlined into hz__loop_main (an out-of-line
 * call here cost about 20 instructions per keep-alive request). */
static inline __attribute__((always_inline)) void loop_iterate(hz__loop *loop, int timeout_ms)
{
    hz_poll_event *ev = loop->events;
    int n = loop->pv->wait(loop->poller, ev, HZ__LOOP_EVENTS, timeout_ms);
    loop->now = hz__now_ms();
    loop->wake_ns = hz__now_ns();
    hz__loop_update_date(loop);
    for (int i = 0; i < n; i++) {
        if (!ev[i].events)
            continue; /* dropped by remove() earlier in this batch */
        if (ev[i].events & HZ_EV_WAKE) {
            run_posts(loop);
            continue;
        }
        if (HZ__UNLIKELY(hz__park_is(ev[i].udata))) {
            hz__park_event(loop, ev[i].udata, ev[i].events);
            continue;
        }
        hz__io *io = ev[i].udata;
        io->vt->on_event(io, ev[i].events);
    }
    hz__wheel_advance(&loop->wheel, loop->now);
    if (loop->ready)
        hz__loop_run_ready(loop);
    if (loop->reap)
        reap(loop);
}

void hz__loop_run_once(hz__loop *loop, int timeout_ms)
{
    loop_iterate(loop, timeout_ms);
}

void *hz__loop_main(void *arg)
{
    hz__loop *loop = arg;
    hz_server *srv = loop->srv;
    for (;;) {
        loop->now = hz__now_ms();
        if (!loop->stopping && atomic_load_explicit(&srv->stop_requested, memory_order_acquire))
            loop_begin_stop(loop);
        if (loop->stopping && !loop->ios && !loop->exec_inflight)
            break;
        loop_iterate(loop, loop->ready ? 0 : hz__wheel_timeout(&loop->wheel, loop->now));
    }
    for (unsigned i = 0; i < loop->nlregs; i++)
        lreg_unregister(loop, &loop->lregs[i]);
    hz__timer_cancel(&loop->wheel, &loop->stop_timer);
    run_posts(loop);
    while (loop->ready)
        hz__loop_run_ready(loop);
    reap(loop);
    /* A completion poller still holds output the connections consider
     * written, and operations in the kernel: finish them on this thread
     * (its ring's only issuer), within the stop deadline. */
    if (loop->cio.pv)
        loop->pv->quiesce(loop->poller, (int)atomic_load(&srv->stop_deadline_ms));
    return NULL;
}
