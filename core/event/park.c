/* park.c - parked connections: per-loop chunks of 32-byte records in
 * deadline order (park.h). */
#include <stddef.h>
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include "loop.h"

/* Parking frees a connection object, but glibc keeps a freed block that is
 * not at the top of its heap in the process (a hole between live blocks
 * stays resident): the memory a park saves would only show once reused.
 * So a while after a batch was parked (and the reap step freed the
 * objects) the free pages are given back with malloc_trim, at most once
 * per HZ__PARK_TRIM_MS per loop, and only with the default allocator (an
 * application's allocator manages its own memory). */
#define HZ__PARK_TRIM_MIN 64u  /* records parked since the last trim */
#define HZ__PARK_TRIM_MS 1000u /* the least time between trims */

static hz__parked *rec(hz__parkset *ps, uint32_t idx)
{
    return &ps->chunks[idx / HZ__PARK_CHUNK][idx % HZ__PARK_CHUNK];
}

static void park_timer_fn(hz__timer *t);

static void park_trim_fn(hz__timer *t)
{
    hz__loop *loop = (hz__loop *)((char *)t - offsetof(hz__loop, park.trim));
    loop->park.since_trim = 0;
#if defined(__GLIBC__)
    if (loop->srv->a.vt == &hz_allocator_default_vt)
        malloc_trim(0);
#else
    (void)loop;
#endif
}

void hz__park_init(hz__loop *loop)
{
    hz__parkset *ps = &loop->park;
    ps->chunks = NULL;
    ps->nchunks = 0;
    ps->free = ps->head = ps->tail = HZ__PARK_NONE;
    ps->count = 0;
    ps->ops = NULL;
    hz__timer_init(&ps->timer, park_timer_fn);
    hz__timer_init(&ps->trim, park_trim_fn);
    ps->since_trim = 0;
}

void hz__park_fini(hz__loop *loop)
{
    hz__parkset *ps = &loop->park;
    hz__timer_cancel(&loop->wheel, &ps->timer);
    hz__timer_cancel(&loop->wheel, &ps->trim);
    for (uint32_t i = 0; i < ps->nchunks; i++)
        hz__free(&loop->srv->a, ps->chunks[i], sizeof(hz__parked) * HZ__PARK_CHUNK);
    if (ps->chunks)
        hz__free(&loop->srv->a, ps->chunks, sizeof(*ps->chunks) * ps->nchunks);
    ps->chunks = NULL;
    ps->nchunks = 0;
    ps->free = ps->head = ps->tail = HZ__PARK_NONE;
    ps->count = 0;
}

/* One more chunk on the free list: 0 or HZ_ENOMEM. */
static int grow(hz__loop *loop)
{
    hz__parkset *ps = &loop->park;
    if (ps->nchunks >= UINT32_MAX / HZ__PARK_CHUNK / 2)
        return HZ_ENOMEM;
    hz__parked **v = hz__realloc(&loop->srv->a, ps->chunks, sizeof(*v) * ps->nchunks,
                                 sizeof(*v) * (ps->nchunks + 1));
    if (!v)
        return HZ_ENOMEM;
    ps->chunks = v;
    hz__parked *c = hz__alloc(&loop->srv->a, sizeof(*c) * HZ__PARK_CHUNK);
    if (!c)
        return HZ_ENOMEM;
    ps->chunks[ps->nchunks] = c;
    uint32_t base = ps->nchunks * HZ__PARK_CHUNK;
    ps->nchunks++;
    for (uint32_t i = HZ__PARK_CHUNK; i-- > 0;) {
        c[i].fd = -1;
        c[i].next = ps->free;
        ps->free = base + i;
    }
    return 0;
}

static void rearm(hz__loop *loop)
{
    hz__parkset *ps = &loop->park;
    if (ps->head == HZ__PARK_NONE)
        hz__timer_cancel(&loop->wheel, &ps->timer);
    else
        hz__timer_arm(&loop->wheel, &ps->timer, rec(ps, ps->head)->deadline);
}

long hz__park_put(hz__loop *loop, const hz__park_ops *ops, const hz__parked *r)
{
    hz__parkset *ps = &loop->park;
    if (ps->free == HZ__PARK_NONE && grow(loop) < 0)
        return HZ_ENOMEM;
    uint32_t idx = ps->free;
    hz__parked *x = rec(ps, idx);
    ps->free = x->next;
    *x = *r;
    /* Records come in nearly in deadline order (parked a fixed time after
     * their last request): the walk from the tail is short. */
    uint32_t after = ps->tail;
    while (after != HZ__PARK_NONE && rec(ps, after)->deadline > r->deadline)
        after = rec(ps, after)->prev;
    x->prev = after;
    x->next = after == HZ__PARK_NONE ? ps->head : rec(ps, after)->next;
    if (x->next == HZ__PARK_NONE)
        ps->tail = idx;
    else
        rec(ps, x->next)->prev = idx;
    if (after == HZ__PARK_NONE)
        ps->head = idx;
    else
        rec(ps, after)->next = idx;
    ps->count++;
    ps->ops = ops;
    if (ps->head == idx)
        rearm(loop);
    if (++ps->since_trim >= HZ__PARK_TRIM_MIN && !hz__timer_armed(&ps->trim))
        hz__timer_arm(&loop->wheel, &ps->trim, loop->now + HZ__PARK_TRIM_MS);
    return (long)idx;
}

void hz__park_remove(hz__loop *loop, uint32_t idx)
{
    hz__parkset *ps = &loop->park;
    hz__parked *x = rec(ps, idx);
    int was_head = ps->head == idx;
    if (x->prev == HZ__PARK_NONE)
        ps->head = x->next;
    else
        rec(ps, x->prev)->next = x->next;
    if (x->next == HZ__PARK_NONE)
        ps->tail = x->prev;
    else
        rec(ps, x->next)->prev = x->prev;
    x->fd = -1;
    x->prev = HZ__PARK_NONE;
    x->next = ps->free;
    ps->free = idx;
    ps->count--;
    if (was_head)
        rearm(loop);
}

void hz__park_event(hz__loop *loop, void *udata, unsigned events)
{
    hz__parkset *ps = &loop->park;
    uint32_t idx = (uint32_t)((uintptr_t)udata >> 1);
    if (idx >= ps->nchunks * HZ__PARK_CHUNK || rec(ps, idx)->fd < 0)
        return; /* cannot happen: a record leaves the poller before it is freed */
    hz__parked r = *rec(ps, idx);
    hz__park_remove(loop, idx);
    ps->ops->wake(loop, &r, events);
}

static void park_timer_fn(hz__timer *t)
{
    hz__loop *loop = (hz__loop *)((char *)t - offsetof(hz__loop, park.timer));
    hz__parkset *ps = &loop->park;
    while (ps->head != HZ__PARK_NONE && rec(ps, ps->head)->deadline <= loop->now) {
        hz__parked r = *rec(ps, ps->head);
        hz__park_remove(loop, ps->head);
        ps->ops->expire(loop, &r);
    }
    rearm(loop);
}

void hz__park_close_all(hz__loop *loop)
{
    hz__parkset *ps = &loop->park;
    while (ps->head != HZ__PARK_NONE) {
        hz__parked r = *rec(ps, ps->head);
        hz__park_remove(loop, ps->head);
        ps->ops->close(loop, &r);
    }
}
