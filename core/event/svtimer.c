/* svtimer.c - server timers (hz_server_timer_add / _cancel): one-shot and
 * periodic callbacks on a loop's timer wheel, not tied to a request.
 *
 * Any thread adds and cancels; only the loop touches the wheel. So adding
 * posts an "arm" message to the loop, and cancelling marks the timer under
 * the server's timer lock (the loop checks the mark, under the same lock,
 * before every call: nothing starts after cancel returned) and posts a
 * "free" message that disarms and frees it on the loop. A timer cancelled
 * while its callback runs is freed by the loop when the callback returns
 * instead (no message: the callback itself may be the canceller). */
#include <string.h>
#include "loop.h"

typedef struct hz__svtimer {
    hz__timer t;                     /* in its loop's wheel; loop only */
    hz__post arm;                    /* posted by add */
    hz__post release;                /* posted by cancel when no call runs */
    struct hz__svtimer *prev, *next; /* borrowed: srv->timers (tlock) */
    hz_server *srv;                  /* borrowed: outlives the timer */
    hz__loop *loop;                  /* borrowed: the loop it fires on */
    uint64_t id;
    unsigned ms;
    unsigned flags; /* HZ_TIMER_* */
    hz_timer_fn fn;
    void *ud; /* borrowed: the user's */
    /* tlock */
    unsigned cancelled : 1;
    unsigned posted : 1;  /* the release message is on its way: it frees */
    unsigned running : 1; /* fn is being called */
} hz__svtimer;

#define SVT_OF(p, member) ((hz__svtimer *)((char *)(p)-offsetof(hz__svtimer, member)))

int hz__svtimers_init(hz_server *srv)
{
    if (pthread_mutex_init(&srv->tlock, NULL) != 0)
        return HZ_ESYS;
    srv->tlock_ok = 1;
    return 0;
}

/* Under tlock. */
static void svt_unlink(hz_server *srv, hz__svtimer *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        srv->timers = st->next;
    if (st->next)
        st->next->prev = st->prev;
    st->prev = st->next = NULL;
}

void hz__svtimers_fini(hz_server *srv)
{
    if (!srv->tlock_ok)
        return;
    /* The loops are finished (their wheels unused): free what is left. */
    while (srv->timers) {
        hz__svtimer *st = srv->timers;
        svt_unlink(srv, st);
        hz__free(&srv->a, st, sizeof(*st));
    }
    pthread_mutex_destroy(&srv->tlock);
    srv->tlock_ok = 0;
}

static void svt_fire(hz__timer *t)
{
    hz__svtimer *st = SVT_OF(t, t);
    hz_server *srv = st->srv;
    pthread_mutex_lock(&srv->tlock);
    if (st->cancelled) { /* the release message frees it */
        pthread_mutex_unlock(&srv->tlock);
        return;
    }
    st->running = 1;
    pthread_mutex_unlock(&srv->tlock);
    st->fn(srv, st->id, st->ud);
    pthread_mutex_lock(&srv->tlock);
    st->running = 0;
    int free_it = 0;
    if (st->cancelled) {
        free_it = !st->posted; /* cancelled during the call */
    } else if (st->flags & HZ_TIMER_REPEAT) {
        hz__timer_arm(&st->loop->wheel, &st->t, st->loop->now + st->ms);
    } else {
        st->cancelled = 1; /* done: a later cancel finds nothing */
        free_it = 1;
    }
    if (free_it)
        svt_unlink(srv, st);
    pthread_mutex_unlock(&srv->tlock);
    if (free_it)
        hz__free(&srv->a, st, sizeof(*st));
}

static void svt_arm(hz__loop *loop, hz__post *msg)
{
    hz__svtimer *st = SVT_OF(msg, arm);
    hz_server *srv = st->srv;
    pthread_mutex_lock(&srv->tlock);
    int cancelled = st->cancelled; /* then its release message follows */
    pthread_mutex_unlock(&srv->tlock);
    if (!cancelled)
        hz__timer_arm(&loop->wheel, &st->t, loop->now + st->ms);
}

static void svt_release(hz__loop *loop, hz__post *msg)
{
    hz__svtimer *st = SVT_OF(msg, release);
    hz_server *srv = st->srv;
    hz__timer_cancel(&loop->wheel, &st->t);
    pthread_mutex_lock(&srv->tlock);
    svt_unlink(srv, st);
    pthread_mutex_unlock(&srv->tlock);
    hz__free(&srv->a, st, sizeof(*st));
}

int hz_server_timer_add(hz_server *srv, unsigned loop, unsigned ms, unsigned flags, hz_timer_fn fn,
                        void *ud, uint64_t *id)
{
    if (id)
        *id = 0;
    if (!srv || !fn || loop >= srv->nloops || (flags & ~(unsigned)HZ_TIMER_REPEAT) ||
        (!ms && (flags & HZ_TIMER_REPEAT)))
        return HZ_EINVAL;
    hz__svtimer *st = hz__calloc(&srv->a, sizeof(*st));
    if (!st)
        return HZ_ENOMEM;
    hz__timer_init(&st->t, svt_fire);
    st->arm.fn = svt_arm;
    st->release.fn = svt_release;
    st->srv = srv;
    st->loop = &srv->loops[loop];
    st->ms = ms;
    st->flags = flags;
    st->fn = fn;
    st->ud = ud;
    pthread_mutex_lock(&srv->tlock);
    st->id = ++srv->timer_seq;
    st->next = srv->timers;
    if (st->next)
        st->next->prev = st;
    srv->timers = st;
    if (id)
        *id = st->id;
    /* Under the lock: a cancel from another thread cannot post the release
     * message ahead of the arm message (the queue is FIFO). */
    hz__loop_post(st->loop, &st->arm);
    pthread_mutex_unlock(&srv->tlock);
    return 0;
}

int hz_server_timer_cancel(hz_server *srv, uint64_t id)
{
    if (!srv || !id)
        return HZ_EINVAL;
    pthread_mutex_lock(&srv->tlock);
    hz__svtimer *st = srv->timers;
    while (st && st->id != id)
        st = st->next;
    int rc = HZ_ENOENT;
    if (st && !st->cancelled) {
        st->cancelled = 1;
        if (!st->running) {
            st->posted = 1;
            hz__loop_post(st->loop, &st->release);
        }
        rc = 0;
    }
    pthread_mutex_unlock(&srv->tlock);
    return rc;
}
