/* poll_fdtab.h - the fd table every poller backend keeps, written once.
 *
 * The contract reports an fd's udata with its events, merges READ and WRITE
 * of one fd into one entry, and lets remove() drop an fd's entry from the
 * batch still being dispatched (the fd may be closed and its number reused
 * before the batch is done). A kernel datum cannot carry all of that (epoll
 * has one 64-bit datum, kqueue reports each filter separately), so both
 * pollers keep this table: fd -> udata, interest and the index of the fd's
 * entry in the current batch. Header-only (static functions), over the
 * public headers only, so each poller compiles it into its own file.
 */
#ifndef HZ__POLL_FDTAB_H
#define HZ__POLL_FDTAB_H

#include <stddef.h>
#include <string.h>
#include <httpz/httpz.h>
#include <httpz/backend.h>

typedef struct pfd_slot {
    void *udata;       /* borrowed: the caller's, never dereferenced */
    unsigned interest; /* HZ_EV_READ|HZ_EV_WRITE registered */
    unsigned registered : 1;
    unsigned batch_gen; /* == the table's gen: batch_idx is this fd's entry */
    int batch_idx;      /* (pfd_report only: the merge) */
} pfd_slot;

typedef struct pfd_table { /* owner: embedded in its poller */
    pfd_slot *slots;       /* owns: indexed by fd, grown on demand */
    size_t nslots;
    unsigned gen;         /* bumped per batch, so slots need no reset */
    hz_poll_event *batch; /* borrowed: the caller's array of the last wait() */
    int batch_len;
} pfd_table;

/* 0 or HZ_ENOMEM; n slots to start with (> 0). */
static inline int pfd_init(pfd_table *t, const hz_allocator *a, size_t n)
{
    memset(t, 0, sizeof(*t));
    t->slots = a->vt->alloc(a->ctx, sizeof(*t->slots) * n);
    if (!t->slots)
        return HZ_ENOMEM;
    memset(t->slots, 0, sizeof(*t->slots) * n);
    t->nslots = n;
    return 0;
}

static inline void pfd_fini(pfd_table *t, const hz_allocator *a)
{
    if (t->slots)
        a->vt->free(a->ctx, t->slots, sizeof(*t->slots) * t->nslots);
    t->slots = NULL;
    t->nslots = 0;
}

/* fd's slot if registered, else NULL. */
static inline pfd_slot *pfd_find(pfd_table *t, int fd)
{
    if (fd < 0 || (size_t)fd >= t->nslots || !t->slots[fd].registered)
        return NULL;
    return &t->slots[fd];
}

/* A free slot for fd (the table grows to hold it): HZ_EINVAL if fd < 0 or
 * already registered, HZ_ENOMEM. The caller registers fd with the kernel,
 * then calls pfd_set. */
static inline int pfd_reserve(pfd_table *t, const hz_allocator *a, int fd)
{
    if (fd < 0)
        return HZ_EINVAL;
    if ((size_t)fd >= t->nslots) {
        size_t n = t->nslots;
        while (n <= (size_t)fd)
            n *= 2;
        pfd_slot *s = a->vt->realloc(a->ctx, t->slots, sizeof(*s) * t->nslots, sizeof(*s) * n);
        if (!s)
            return HZ_ENOMEM;
        memset(s + t->nslots, 0, sizeof(*s) * (n - t->nslots));
        t->slots = s;
        t->nslots = n;
    }
    return t->slots[fd].registered ? HZ_EINVAL : 0;
}

/* Registers (or updates) fd after pfd_reserve / pfd_find. */
static inline void pfd_set(pfd_table *t, int fd, void *udata, unsigned interest)
{
    pfd_slot *s = &t->slots[fd];
    if (!s->registered) {
        s->registered = 1;
        s->batch_gen = t->gen - 1; /* no entry in the current batch */
    }
    s->udata = udata;
    s->interest = interest & (HZ_EV_READ | HZ_EV_WRITE);
}

/* Unregisters fd and blanks its entry of the batch being dispatched (the
 * dispatcher skips events == 0; libuv's uv__platform_invalidate_fd). */
static inline void pfd_remove(pfd_table *t, int fd)
{
    /* A scan, not batch_idx: pfd_append does not record it, and removing
     * is rare next to reporting (once per connection, not per request). */
    for (int i = 0; i < t->batch_len; i++) {
        if (t->batch[i].fd == fd) {
            t->batch[i].events = 0;
            t->batch[i].udata = NULL;
        }
    }
    memset(&t->slots[fd], 0, sizeof(t->slots[fd]));
}

/* Starts filling the caller's array out. */
static inline void pfd_batch_begin(pfd_table *t, hz_poll_event *out)
{
    t->batch = out;
    t->batch_len = 0;
    t->gen++;
}

/* Reports ev (HZ_EV_*) for fd into the batch of *len entries (at most max):
 * merged into the fd's entry if it has one, else appended. Events of an
 * unregistered fd, and filters the caller no longer wants (modify() while
 * the kernel had them queued), are dropped; ERR and HUP always pass. No
 * room: dropped too, which is safe for level-triggered interest (the kernel
 * reports it again on the next wait). */
static inline void pfd_report(pfd_table *t, int *len, int max, int fd, unsigned ev)
{
    pfd_slot *s = pfd_find(t, fd);
    if (!s)
        return;
    ev &= s->interest | HZ_EV_ERR | HZ_EV_HUP;
    if (!ev)
        return;
    hz_poll_event *out = t->batch;
    if (s->batch_gen == t->gen && s->batch_idx < *len && out[s->batch_idx].fd == fd) {
        out[s->batch_idx].events |= ev;
        return;
    }
    if (*len == max)
        return;
    s->batch_gen = t->gen;
    s->batch_idx = *len;
    out[(*len)++] = (hz_poll_event){.udata = s->udata, .fd = fd, .events = ev};
}

/* pfd_report for kernels that report an fd once per wait and only for its
 * registered interest (epoll): no merge, no mask, fewer instructions on
 * the keep-alive path. The caller bounds *len by max itself. */
static inline void pfd_append(pfd_table *t, int *len, int fd, unsigned ev)
{
    if (fd < 0 || (size_t)fd >= t->nslots || !t->slots[fd].registered)
        return;
    t->batch[(*len)++] = (hz_poll_event){.udata = t->slots[fd].udata, .fd = fd, .events = ev};
}

/* Ends the batch: remove() may blank its entries until the next begin. */
static inline void pfd_batch_end(pfd_table *t, int len)
{
    t->batch_len = len;
}

#endif /* HZ__POLL_FDTAB_H */
