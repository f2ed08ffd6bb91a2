/* poll_poller.c - a poller over poll(2), written the way a user would write
 * a backend outside the httpz tree: only <httpz/httpz.h>, <httpz/backend.h>
 * and system headers, memory through hz_alloc*, errors through
 * hz_err_from_errno. The install test runs the poller contract
 * (tests/backend/poller_contract.c) against it.
 *
 * pfd[0] is the read end of a self-pipe that wake() writes a byte to (write
 * is async-signal-safe); pfd[1..n) are the registered fds, compacted on
 * remove (the last entry moves into the hole). slot[fd] is the fd's index
 * in pfd, 0 meaning "not registered" (index 0 is the pipe).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <httpz/httpz.h>
#include <httpz/backend.h>
#include "poll_poller.h"

#define PP_INITIAL_FDS 64
#define PP_INITIAL_SLOTS 1024

struct hz_poller {      /* owner: its creator (one loop) */
    hz_allocator a;     /* copied; its ctx outlives the poller */
    struct pollfd *pfd; /* owns: pfd_cap entries, n in use */
    void **udata;       /* owns: ud_cap entries, parallel to pfd */
    unsigned n, pfd_cap, ud_cap;
    unsigned *slot; /* owns: nslots entries; fd -> index in pfd, 0 = none */
    unsigned nslots;
    int wake_rd, wake_wr; /* owns: the self-pipe, -1 when not open */
    hz_poll_event *batch; /* borrowed: the caller's array of the last wait() */
    int nbatch;           /* entries of batch filled by it */
    unsigned next;        /* rotating start, so a small max starves no fd */
};

static int pp_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -1;
    return 0;
}

static void pp_destroy(hz_poller *p)
{
    if (!p)
        return;
    if (p->wake_rd >= 0)
        close(p->wake_rd);
    if (p->wake_wr >= 0)
        close(p->wake_wr);
    hz_alloc_free(&p->a, p->pfd, sizeof(*p->pfd) * p->pfd_cap);
    hz_alloc_free(&p->a, p->udata, sizeof(*p->udata) * p->ud_cap);
    hz_alloc_free(&p->a, p->slot, sizeof(*p->slot) * p->nslots);
    hz_alloc_free(&p->a, p, sizeof(*p));
}

static int pp_create(hz_poller **out, const hz_allocator *a)
{
    if (!out)
        return HZ_EINVAL;
    *out = NULL;
    if (!a)
        a = &hz_allocator_default;
    int rc = hz_allocator_check(a);
    if (rc < 0)
        return rc;
    hz_poller *p = hz_alloc_zero(a, sizeof(*p));
    if (!p)
        return HZ_ENOMEM;
    p->a = *a;
    p->wake_rd = p->wake_wr = -1;
    p->pfd = hz_alloc(a, sizeof(*p->pfd) * PP_INITIAL_FDS);
    if (p->pfd)
        p->pfd_cap = PP_INITIAL_FDS;
    p->udata = hz_alloc(a, sizeof(*p->udata) * PP_INITIAL_FDS);
    if (p->udata)
        p->ud_cap = PP_INITIAL_FDS;
    p->slot = hz_alloc_zero(a, sizeof(*p->slot) * PP_INITIAL_SLOTS);
    if (p->slot)
        p->nslots = PP_INITIAL_SLOTS;
    if (!p->pfd || !p->udata || !p->slot) {
        rc = HZ_ENOMEM;
        goto fail;
    }
    int fds[2];
    if (pipe(fds) < 0) {
        rc = hz_err_from_errno(errno);
        goto fail;
    }
    p->wake_rd = fds[0];
    p->wake_wr = fds[1];
    if (pp_flags(p->wake_rd) < 0 || pp_flags(p->wake_wr) < 0) {
        rc = hz_err_from_errno(errno);
        goto fail;
    }
    p->pfd[0] = (struct pollfd){.fd = p->wake_rd, .events = POLLIN};
    p->udata[0] = NULL;
    p->n = 1;
    *out = p;
    return 0;
fail:
    pp_destroy(p);
    return rc;
}

static short pp_interest(unsigned events)
{
    return (short)(((events & HZ_EV_READ) ? POLLIN : 0) | ((events & HZ_EV_WRITE) ? POLLOUT : 0));
}

/* Index of a registered fd, or 0. */
static unsigned pp_find(const hz_poller *p, int fd)
{
    return fd >= 0 && (unsigned)fd < p->nslots ? p->slot[fd] : 0;
}

static int pp_add(hz_poller *p, int fd, unsigned events, void *udata)
{
    if (fd < 0 || pp_find(p, fd))
        return HZ_EINVAL;
    if ((unsigned)fd >= p->nslots) {
        unsigned want = p->nslots * 2 > (unsigned)fd ? p->nslots * 2 : (unsigned)fd + 1;
        unsigned *s = hz_alloc_resize(&p->a, p->slot, sizeof(*s) * p->nslots, sizeof(*s) * want);
        if (!s)
            return HZ_ENOMEM;
        memset(s + p->nslots, 0, sizeof(*s) * (want - p->nslots));
        p->slot = s;
        p->nslots = want;
    }
    if (p->n == p->pfd_cap) {
        struct pollfd *f =
            hz_alloc_resize(&p->a, p->pfd, sizeof(*f) * p->pfd_cap, sizeof(*f) * p->pfd_cap * 2);
        if (!f)
            return HZ_ENOMEM;
        p->pfd = f;
        p->pfd_cap *= 2;
    }
    if (p->n == p->ud_cap) {
        void **u =
            hz_alloc_resize(&p->a, p->udata, sizeof(*u) * p->ud_cap, sizeof(*u) * p->ud_cap * 2);
        if (!u)
            return HZ_ENOMEM;
        p->udata = u;
        p->ud_cap *= 2;
    }
    p->pfd[p->n] = (struct pollfd){.fd = fd, .events = pp_interest(events)};
    p->udata[p->n] = udata;
    p->slot[fd] = p->n++;
    return 0;
}

static int pp_modify(hz_poller *p, int fd, unsigned events, void *udata)
{
    unsigned i = pp_find(p, fd);
    if (!i)
        return HZ_EINVAL;
    p->pfd[i].events = pp_interest(events);
    p->udata[i] = udata;
    return 0;
}

static int pp_remove(hz_poller *p, int fd)
{
    unsigned i = pp_find(p, fd);
    if (!i)
        return HZ_EINVAL;
    unsigned last = --p->n;
    if (i != last) {
        p->pfd[i] = p->pfd[last];
        p->udata[i] = p->udata[last];
        p->slot[p->pfd[i].fd] = i;
    }
    p->slot[fd] = 0;
    /* The contract: a removed fd's entries of the batch being dispatched
     * read as events = 0. */
    for (int k = 0; k < p->nbatch; k++)
        if (p->batch[k].fd == fd)
            p->batch[k].events = 0;
    return 0;
}

static int pp_wait(hz_poller *p, hz_poll_event *ev, int max, int timeout_ms)
{
    if (max <= 0)
        return HZ_EINVAL;
    p->batch = ev;
    p->nbatch = 0;
    if (poll(p->pfd, p->n, timeout_ms) < 0)
        return errno == EINTR ? 0 : hz_err_from_errno(errno);
    int k = 0;
    if (p->pfd[0].revents) {
        char buf[64];
        while (read(p->wake_rd, buf, sizeof(buf)) > 0) {
        } /* several wakes: one entry */
        ev[k++] = (hz_poll_event){.udata = NULL, .fd = -1, .events = HZ_EV_WAKE};
    }
    unsigned nfd = p->n - 1, j = 0;
    for (; j < nfd && k < max; j++) {
        unsigned i = 1 + (p->next + j) % nfd;
        short re = p->pfd[i].revents;
        unsigned e = ((re & POLLIN) ? HZ_EV_READ : 0) | ((re & POLLOUT) ? HZ_EV_WRITE : 0) |
                     ((re & POLLHUP) ? HZ_EV_HUP : 0) |
                     ((re & (POLLERR | POLLNVAL)) ? HZ_EV_ERR : 0);
        if (e)
            ev[k++] = (hz_poll_event){.udata = p->udata[i], .fd = p->pfd[i].fd, .events = e};
    }
    if (nfd) /* stopped short: the fds not reached come first next time */
        p->next = (p->next + (j < nfd ? j : 1)) % nfd;
    p->nbatch = k;
    return k;
}

static int pp_wake(hz_poller *p)
{
    int saved = errno; /* may run in a signal handler */
    ssize_t n = write(p->wake_wr, "", 1);
    int rc = n == 1 || errno == EAGAIN ? 0 : hz_err_from_errno(errno); /* full: already pending */
    errno = saved;
    return rc;
}

const hz_poller_vt oot_poller_poll = {
    .abi = HZ_BACKEND_ABI,
    .name = "poll",
    .caps = 0,
    .create = pp_create,
    .destroy = pp_destroy,
    .add = pp_add,
    .modify = pp_modify,
    .remove = pp_remove,
    .wait = pp_wait,
    .wake = pp_wake,
};
