/* poll_epoll.c - the poller vtable over Linux epoll (level-triggered).
 *
 * Exports exactly: const hz_poller_vt hz_poller_epoll;
 *
 * epoll_event carries one 64-bit datum, but the contract reports both the fd
 * and the caller's udata, and remove() must find a dropped fd's entry in
 * the batch being dispatched. So the kernel gets the fd, and the pollers'
 * shared fd table (backends/common/poll_fdtab.h) keeps the rest.
 */
#if !defined(__linux__)
#error "backends/poll-epoll needs Linux epoll; configure with HZ_POLLER=auto or kqueue"
#endif

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <httpz/httpz.h>
#include <httpz/backend.h>
#include "../common/poll_fdtab.h"

#define EP_INITIAL_EVENTS 256
#define EP_INITIAL_SLOTS 1024

struct hz_poller {           /* owner: whoever called create (a loop) */
    hz_allocator a;          /* copied from create */
    int epfd;                /* owns */
    int wakefd;              /* owns: eventfd, registered for EPOLLIN */
    struct epoll_event *kev; /* owns: kernel batch buffer */
    int kev_cap;
    pfd_table fds; /* owns: fd -> udata, interest, batch entry */
};

static uint32_t ep_mask(unsigned events)
{
    uint32_t m = 0;
    if (events & HZ_EV_READ)
        m |= EPOLLIN;
    if (events & HZ_EV_WRITE)
        m |= EPOLLOUT;
    return m;
}

static void ep_destroy(hz_poller *p)
{
    if (!p)
        return;
    if (p->wakefd >= 0)
        close(p->wakefd);
    if (p->epfd >= 0)
        close(p->epfd);
    hz_alloc_free(&p->a, p->kev, sizeof(*p->kev) * (size_t)p->kev_cap);
    pfd_fini(&p->fds, &p->a);
    hz_alloc_free(&p->a, p, sizeof(*p));
}

static int ep_create(hz_poller **out, const hz_allocator *a)
{
    int rc;
    *out = NULL;
    if ((rc = hz_allocator_check(a)) < 0)
        return rc;
    hz_poller *p = hz_alloc_zero(a, sizeof(*p));
    if (!p)
        return HZ_ENOMEM;
    p->a = *a;
    p->epfd = -1;
    p->wakefd = -1;
    p->kev_cap = EP_INITIAL_EVENTS;
    p->kev = hz_alloc(a, sizeof(*p->kev) * (size_t)p->kev_cap);
    if (!p->kev || pfd_init(&p->fds, a, EP_INITIAL_SLOTS) < 0) {
        rc = HZ_ENOMEM;
        goto fail;
    }
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        rc = hz_err_from_errno(errno);
        goto fail;
    }
    p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->wakefd < 0) {
        rc = hz_err_from_errno(errno);
        goto fail;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = p->wakefd};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &ev) < 0) {
        rc = hz_err_from_errno(errno);
        goto fail;
    }
    *out = p;
    return 0;
fail:
    ep_destroy(p);
    return rc;
}

static int ep_add(hz_poller *p, int fd, unsigned events, void *udata)
{
    int rc;
    if (fd == p->wakefd)
        return HZ_EINVAL;
    if ((rc = pfd_reserve(&p->fds, &p->a, fd)) < 0)
        return rc;
    struct epoll_event ev = {.events = ep_mask(events), .data.fd = fd};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return errno == EEXIST ? HZ_EINVAL : hz_err_from_errno(errno);
    pfd_set(&p->fds, fd, udata, events);
    return 0;
}

static int ep_modify(hz_poller *p, int fd, unsigned events, void *udata)
{
    if (!pfd_find(&p->fds, fd))
        return HZ_EINVAL;
    struct epoll_event ev = {.events = ep_mask(events), .data.fd = fd};
    if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
        return hz_err_from_errno(errno);
    pfd_set(&p->fds, fd, udata, events);
    return 0;
}

static int ep_remove(hz_poller *p, int fd)
{
    if (!pfd_find(&p->fds, fd))
        return HZ_EINVAL;
    pfd_remove(&p->fds, fd);
    if (epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != EBADF && errno != ENOENT)
        return hz_err_from_errno(errno);
    return 0;
}

static int ep_wait(hz_poller *p, hz_poll_event *out, int max, int timeout_ms)
{
    pfd_batch_begin(&p->fds, out);
    if (max <= 0)
        return HZ_EINVAL;
    if (max > p->kev_cap) {
        /* Best effort: on ENOMEM keep the smaller buffer and return fewer. */
        struct epoll_event *k = hz_alloc_resize(&p->a, p->kev, sizeof(*k) * (size_t)p->kev_cap,
                                                sizeof(*k) * (size_t)max);
        if (k) {
            p->kev = k;
            p->kev_cap = max;
        } else {
            max = p->kev_cap;
        }
    }
    int n = epoll_wait(p->epfd, p->kev, max, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : hz_err_from_errno(errno);
    int j = 0;
    for (int i = 0; i < n; i++) {
        int fd = p->kev[i].data.fd;
        uint32_t e = p->kev[i].events;
        if (fd == p->wakefd) {
            uint64_t v;
            /* Drain so several wakes coalesce into this one entry. */
            while (read(p->wakefd, &v, sizeof(v)) < 0 && errno == EINTR) {
            }
            out[j++] = (hz_poll_event){.udata = NULL, .fd = -1, .events = HZ_EV_WAKE};
            continue;
        }
        unsigned ev = 0;
        if (e & EPOLLIN)
            ev |= HZ_EV_READ;
        if (e & EPOLLOUT)
            ev |= HZ_EV_WRITE;
        if (e & EPOLLERR)
            ev |= HZ_EV_ERR;
        if (e & EPOLLHUP)
            ev |= HZ_EV_HUP;
        pfd_append(&p->fds, &j, fd, ev); /* epoll_wait returned at most max */
    }
    pfd_batch_end(&p->fds, j);
    return j;
}

static int ep_wake(hz_poller *p)
{
    uint64_t one = 1;
    int rc = 0, saved = errno; /* callable from a signal handler: keep errno */
    for (;;) {
        if (write(p->wakefd, &one, sizeof(one)) == (ssize_t)sizeof(one))
            break;
        if (errno == EINTR)
            continue;
        /* EAGAIN: the counter is saturated, so a wake is already pending. */
        rc = errno == EAGAIN ? 0 : hz_err_from_errno(errno);
        break;
    }
    errno = saved;
    return rc;
}

HZ_API const hz_poller_vt hz_poller_epoll = {
    .abi = HZ_BACKEND_ABI,
    .name = "epoll",
    .caps = HZ_POLLER_CAP_CHEAP_WAKE,
    .create = ep_create,
    .destroy = ep_destroy,
    .add = ep_add,
    .modify = ep_modify,
    .remove = ep_remove,
    .wait = ep_wait,
    .wake = ep_wake,
};
