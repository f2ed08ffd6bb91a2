/* timer.h - a hashed timing wheel (one per loop).
 *
 * Why a wheel and not a heap: every request re-arms its connection's timer,
 * so arm and cancel must be O(1) and allocation-free; timeouts are coarse
 * (hundreds of ms and more), so HZ__WHEEL_TICK_MS granularity loses nothing.
 * A deadline more than one revolution away stays in its slot and is skipped
 * until its round comes. Timers are embedded in their owners (intrusive). */
#ifndef HZ__TIMER_H
#define HZ__TIMER_H

#include <stdint.h>
#include "internal.h"

#define HZ__WHEEL_TICK_MS 10u
#define HZ__WHEEL_SLOTS 512u /* power of two */

typedef struct hz__timer hz__timer;
typedef void (*hz__timer_fn)(hz__timer *t);

struct hz__timer {     /* owner: the struct it is embedded in */
    hz__timer *next;   /* borrowed: next in its slot; NULL at the end */
    hz__timer **pprev; /* borrowed: the link pointing at us; NULL = not armed */
    uint64_t deadline; /* ms, monotonic */
    hz__timer_fn fn;   /* called once when due; the timer is disarmed first */
};

typedef struct hz__wheel {             /* owner: its loop (or a test) */
    hz__timer *slots[HZ__WHEEL_SLOTS]; /* borrowed heads */
    /* Bit s set: slot s may hold timers (a clear bit: it holds none). Set
     * on arm, cleared lazily by hz__wheel_timeout, so finding the next due
     * slot skips empty ones 64 at a time instead of walking them. */
    uint64_t maybe_used[HZ__WHEEL_SLOTS / 64];
    uint64_t next_tick; /* first tick not processed yet */
    size_t count;       /* armed timers */
} hz__wheel;

/** Initialises an empty wheel whose clock starts at now_ms. */
HZ__HIDDEN void hz__wheel_init(hz__wheel *w, uint64_t now_ms);
/** Sets fn of an unarmed timer. */
static inline void hz__timer_init(hz__timer *t, hz__timer_fn fn)
{
    t->next = NULL;
    t->pprev = NULL;
    t->deadline = 0;
    t->fn = fn;
}
static inline int hz__timer_armed(const hz__timer *t)
{
    return t->pprev != NULL;
}
/** Arms (or re-arms) t to fire at deadline_ms. */
HZ__HIDDEN void hz__timer_arm(hz__wheel *w, hz__timer *t, uint64_t deadline_ms);
/** Disarms t; no-op when not armed. */
HZ__HIDDEN void hz__timer_cancel(hz__wheel *w, hz__timer *t);
/** Fires every timer with deadline <= now_ms. Callbacks may arm and cancel
 *  any timer, their own included. Returns how many fired. */
HZ__HIDDEN unsigned hz__wheel_advance(hz__wheel *w, uint64_t now_ms);
/** Milliseconds until the next slot holding a timer is due (0 when one is
 *  overdue), or -1 when no timer is armed. May be early, never late. */
HZ__HIDDEN int hz__wheel_timeout(hz__wheel *w, uint64_t now_ms);

#endif /* HZ__TIMER_H */
