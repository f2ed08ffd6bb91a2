/* poll_kqueue.c - the poller vtable over kqueue (macOS and the BSDs;
 * level-triggered: no EV_CLEAR on fd filters).
 *
 * Exports exactly: const hz_poller_vt hz_poller_kqueue;
 *
 * kqueue reports EVFILT_READ and EVFILT_WRITE of one fd as two kevents; the
 * contract wants one entry per fd (as epoll gives), so wait() merges them
 * through the pollers' shared fd table (backends/common/poll_fdtab.h: fd ->
 * udata, the interest set and the fd's entry in the batch). The same table
 * lets remove() reject unregistered fds without a syscall.
 *
 * wake() triggers an EVFILT_USER event where the platform has one (macOS,
 * FreeBSD, DragonFly, NetBSD >= 10, libkqueue); elsewhere (older OpenBSD and
 * NetBSD) it writes a byte to a non-blocking pipe registered for reading.
 *
 * Half-close: EVFILT_READ sets EV_EOF both when the peer only shut down its
 * write side and when it closed, so EOF on the read filter is reported as
 * READ (the reader then sees 0) and only EOF on the write filter, which
 * means the peer can no longer receive, as HUP.
 */
#if !defined(__APPLE__) && !defined(__FreeBSD__) && !defined(__OpenBSD__) &&                       \
    !defined(__NetBSD__) && !defined(__DragonFly__) && !defined(HZ_TEST_LIBKQUEUE)
#error                                                                                             \
    "backends/poll-kqueue needs kqueue (macOS, *BSD); on Linux use HZ_POLLER=epoll (or the test-only HZ_TEST_LIBKQUEUE=ON with libkqueue)"
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <httpz/httpz.h>
#include <httpz/backend.h>
#include "../common/poll_fdtab.h"

#define KQ_INITIAL_EVENTS 256
#define KQ_INITIAL_SLOTS 1024

/* HZ_KQ_PIPE_WAKE (test only) takes the pipe path where EVFILT_USER exists,
 * so that path runs somewhere (docs/portability.md). */
#if defined(EVFILT_USER) && !defined(HZ_KQ_PIPE_WAKE)
#define KQ_USER_WAKE 1
#define KQ_WAKE_IDENT 0 /* EVFILT_USER idents are their own namespace */
#endif

struct hz_poller {      /* owner: whoever called create (a loop) */
    hz_allocator a;     /* copied from create */
    int kq;             /* owns */
    int wake_rd;        /* owns: pipe read end (no EVFILT_USER), else -1 */
    int wake_wr;        /* owns: pipe write end (no EVFILT_USER), else -1 */
    struct kevent *kev; /* owns: kernel batch buffer */
    int kev_cap;
    pfd_table fds; /* owns: fd -> udata, interest, batch entry */
};

static void kq_destroy(hz_poller *p)
{
    if (!p)
        return;
    if (p->wake_rd >= 0)
        close(p->wake_rd);
    if (p->wake_wr >= 0)
        close(p->wake_wr);
    if (p->kq >= 0)
        close(p->kq);
    hz_alloc_free(&p->a, p->kev, sizeof(*p->kev) * (size_t)p->kev_cap);
    pfd_fini(&p->fds, &p->a);
    hz_alloc_free(&p->a, p, sizeof(*p));
}

/* One change, applied at once; returns 0 or the errno of the failure. */
static int kq_change(int kq, uintptr_t ident, short filter, unsigned short flags, unsigned fflags)
{
    struct kevent k;
    EV_SET(&k, ident, filter, flags, fflags, 0, 0); /* udata: void * or intptr_t (NetBSD < 10) */
    for (;;) {
        if (kevent(kq, &k, 1, NULL, 0, NULL) == 0)
            return 0;
        if (errno != EINTR)
            return errno;
    }
}

#ifndef KQ_USER_WAKE
static int kq_set_cloexec_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}
#endif

static int kq_create(hz_poller **out, const hz_allocator *a)
{
    int rc, err;
    *out = NULL;
    if ((rc = hz_allocator_check(a)) < 0)
        return rc;
    hz_poller *p = hz_alloc_zero(a, sizeof(*p));
    if (!p)
        return HZ_ENOMEM;
    p->a = *a;
    p->kq = -1;
    p->wake_rd = -1;
    p->wake_wr = -1;
    p->kev_cap = KQ_INITIAL_EVENTS;
    p->kev = hz_alloc(a, sizeof(*p->kev) * (size_t)p->kev_cap);
    if (!p->kev || pfd_init(&p->fds, a, KQ_INITIAL_SLOTS) < 0) {
        rc = HZ_ENOMEM;
        goto fail;
    }
    p->kq = kqueue();
    if (p->kq < 0) {
        rc = hz_err_from_errno(errno);
        goto fail;
    }
    /* kqueue descriptors are not inherited by fork() on the BSDs, but
     * libkqueue's is an ordinary fd: keep it out of exec'd children. */
    (void)fcntl(p->kq, F_SETFD, FD_CLOEXEC);
#ifdef KQ_USER_WAKE
    /* EV_CLEAR: a trigger is consumed when reported, so wakes coalesce. */
    if ((err = kq_change(p->kq, KQ_WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0)) != 0) {
        rc = hz_err_from_errno(err);
        goto fail;
    }
#else
    int pf[2];
    if (pipe(pf) < 0) {
        rc = hz_err_from_errno(errno);
        goto fail;
    }
    p->wake_rd = pf[0];
    p->wake_wr = pf[1];
    if (kq_set_cloexec_nonblock(pf[0]) < 0 || kq_set_cloexec_nonblock(pf[1]) < 0) {
        rc = hz_err_from_errno(errno);
        goto fail;
    }
    if ((err = kq_change(p->kq, (uintptr_t)p->wake_rd, EVFILT_READ, EV_ADD, 0)) != 0) {
        rc = hz_err_from_errno(err);
        goto fail;
    }
#endif
    *out = p;
    return 0;
fail:
    kq_destroy(p);
    return rc;
}

/* Moves fd's registered filters from `from` to `to` (HZ_EV_READ|WRITE
 * sets): adds first, then deletes, so a failed add leaves the old set. */
static int kq_apply(hz_poller *p, int fd, unsigned from, unsigned to)
{
    static const struct {
        unsigned bit;
        short filter;
    } f[2] = {{HZ_EV_READ, EVFILT_READ}, {HZ_EV_WRITE, EVFILT_WRITE}};
    int err;
    for (int i = 0; i < 2; i++) {
        if ((to & f[i].bit) && !(from & f[i].bit) &&
            (err = kq_change(p->kq, (uintptr_t)fd, f[i].filter, EV_ADD, 0)) != 0) {
            /* Undo the filters this call added. */
            for (int j = 0; j < i; j++)
                if ((to & f[j].bit) && !(from & f[j].bit))
                    (void)kq_change(p->kq, (uintptr_t)fd, f[j].filter, EV_DELETE, 0);
            return hz_err_from_errno(err);
        }
    }
    for (int i = 0; i < 2; i++) {
        /* ENOENT/EBADF: already gone (e.g. the fd was closed); that is the
         * state we want. */
        if ((from & f[i].bit) && !(to & f[i].bit))
            (void)kq_change(p->kq, (uintptr_t)fd, f[i].filter, EV_DELETE, 0);
    }
    return 0;
}

static int kq_add(hz_poller *p, int fd, unsigned events, void *udata)
{
    int rc;
    if (fd == p->wake_rd || fd == p->wake_wr || fd == p->kq)
        return HZ_EINVAL;
    if ((rc = pfd_reserve(&p->fds, &p->a, fd)) < 0)
        return rc;
    events &= HZ_EV_READ | HZ_EV_WRITE;
    if ((rc = kq_apply(p, fd, 0, events)) < 0)
        return rc;
    pfd_set(&p->fds, fd, udata, events);
    return 0;
}

static int kq_modify(hz_poller *p, int fd, unsigned events, void *udata)
{
    int rc;
    pfd_slot *s = pfd_find(&p->fds, fd);
    if (!s)
        return HZ_EINVAL;
    events &= HZ_EV_READ | HZ_EV_WRITE;
    if ((rc = kq_apply(p, fd, s->interest, events)) < 0)
        return rc;
    pfd_set(&p->fds, fd, udata, events);
    return 0;
}

static int kq_remove(hz_poller *p, int fd)
{
    pfd_slot *s = pfd_find(&p->fds, fd);
    if (!s)
        return HZ_EINVAL;
    (void)kq_apply(p, fd, s->interest, 0);
    pfd_remove(&p->fds, fd);
    return 0;
}

/* Maps one fd kevent to HZ_EV_* bits (see the half-close note on top). */
static unsigned kq_bits(const struct kevent *k)
{
    unsigned ev = 0;
    if (k->flags & EV_ERROR)
        return HZ_EV_ERR; /* a registration failed asynchronously */
    if (k->filter == EVFILT_READ) {
        ev |= HZ_EV_READ;
        if ((k->flags & EV_EOF) && k->fflags)
            ev |= HZ_EV_ERR; /* fflags holds the socket error */
    } else if (k->filter == EVFILT_WRITE) {
        ev |= HZ_EV_WRITE;
        if (k->flags & EV_EOF)
            ev |= HZ_EV_HUP | (k->fflags ? HZ_EV_ERR : 0u);
    }
    return ev;
}

/* Is k the wake-up's kevent? */
static int kq_is_wake_ident(const hz_poller *p, const struct kevent *k)
{
#ifdef KQ_USER_WAKE
    (void)p;
    return k->filter == EVFILT_USER;
#else
    return k->filter == EVFILT_READ && (int)k->ident == p->wake_rd;
#endif
}

/* Is k the wake-up? The pipe variant drains the pipe, so that several wakes
 * coalesce into the one entry this kevent becomes. */
static int kq_is_wake(hz_poller *p, const struct kevent *k)
{
    if (!kq_is_wake_ident(p, k))
        return 0;
#ifndef KQ_USER_WAKE
    char buf[64];
    for (;;) {
        ssize_t r = read(p->wake_rd, buf, sizeof(buf));
        if (r > 0 || (r < 0 && errno == EINTR))
            continue;
        break;
    }
#endif
    return 1;
}

static int kq_wait(hz_poller *p, hz_poll_event *out, int max, int timeout_ms)
{
    struct timespec ts, *tsp = NULL;
    pfd_batch_begin(&p->fds, out);
    if (max <= 0)
        return HZ_EINVAL;
    /* Up to two kevents per fd (READ and WRITE) for max entries. */
    int want = max > INT_MAX / 2 ? INT_MAX : 2 * max;
    if (want > p->kev_cap) {
        /* Best effort: on ENOMEM keep the smaller buffer and return fewer. */
        struct kevent *k = hz_alloc_resize(&p->a, p->kev, sizeof(*k) * (size_t)p->kev_cap,
                                           sizeof(*k) * (size_t)want);
        if (k) {
            p->kev = k;
            p->kev_cap = want;
        }
    }
    if (want > p->kev_cap)
        want = p->kev_cap;
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        tsp = &ts;
    }
    int n = kevent(p->kq, NULL, 0, p->kev, want, tsp);
    if (n < 0)
        return errno == EINTR ? 0 : hz_err_from_errno(errno);
    int j = 0;
    /* The wake entry first: its trigger is consumed (EV_CLEAR, or the pipe
     * drained), so it must never be the kevent that does not fit. */
    for (int i = 0; i < n; i++) {
        if (kq_is_wake(p, &p->kev[i]) && j == 0)
            out[j++] = (hz_poll_event){.udata = NULL, .fd = -1, .events = HZ_EV_WAKE};
    }
    for (int i = 0; i < n; i++) {
        const struct kevent *k = &p->kev[i];
        if (kq_is_wake_ident(p, k))
            continue;
        /* Merged into the fd's entry; filters the caller no longer wants
         * (modify() while the kernel had them queued) are dropped. */
        pfd_report(&p->fds, &j, max, (int)k->ident, kq_bits(k));
    }
    pfd_batch_end(&p->fds, j);
    return j;
}

static int kq_wake(hz_poller *p)
{
    int rc = 0, saved = errno; /* callable from a signal handler: keep errno */
#ifdef KQ_USER_WAKE
    int err = kq_change(p->kq, KQ_WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER);
    rc = err ? hz_err_from_errno(err) : 0;
#else
    for (;;) {
        if (write(p->wake_wr, "", 1) == 1)
            break;
        if (errno == EINTR)
            continue;
        /* EAGAIN: the pipe is full, so a wake is already pending. */
        rc = errno == EAGAIN ? 0 : hz_err_from_errno(errno);
        break;
    }
#endif
    errno = saved;
    return rc;
}

HZ_API const hz_poller_vt hz_poller_kqueue = {
    .abi = HZ_BACKEND_ABI,
    .name = "kqueue",
    .caps = HZ_POLLER_CAP_CHEAP_WAKE,
    .create = kq_create,
    .destroy = kq_destroy,
    .add = kq_add,
    .modify = kq_modify,
    .remove = kq_remove,
    .wait = kq_wait,
    .wake = kq_wake,
};
