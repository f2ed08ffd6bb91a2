/* timer.c - the hashed timing wheel. */
#include <string.h>
#include "timer.h"

void hz__wheel_init(hz__wheel *w, uint64_t now_ms)
{
    memset(w->slots, 0, sizeof(w->slots));
    memset(w->maybe_used, 0, sizeof(w->maybe_used));
    w->next_tick = now_ms / HZ__WHEEL_TICK_MS;
    w->count = 0;
}

static void link_into(hz__timer **head, hz__timer *t)
{
    t->next = *head;
    if (t->next)
        t->next->pprev = &t->next;
    t->pprev = head;
    *head = t;
}

static void unlink_timer(hz__timer *t)
{
    *t->pprev = t->next;
    if (t->next)
        t->next->pprev = t->pprev;
    t->next = NULL;
    t->pprev = NULL;
}

void hz__timer_arm(hz__wheel *w, hz__timer *t, uint64_t deadline_ms)
{
    if (t->pprev) {
        if (t->deadline == deadline_ms)
            return;
        unlink_timer(t);
        w->count--;
    }
    /* Round up: the slot's tick is processed only once now >= tick * TICK,
     * so a timer never fires early. */
    uint64_t tick = (deadline_ms + HZ__WHEEL_TICK_MS - 1) / HZ__WHEEL_TICK_MS;
    if (tick < w->next_tick)
        tick = w->next_tick;
    t->deadline = deadline_ms;
    unsigned slot = (unsigned)(tick & (HZ__WHEEL_SLOTS - 1));
    link_into(&w->slots[slot], t);
    w->maybe_used[slot / 64] |= 1ull << (slot % 64);
    w->count++;
}

void hz__timer_cancel(hz__wheel *w, hz__timer *t)
{
    if (!t->pprev)
        return;
    unlink_timer(t);
    w->count--;
}

static unsigned run_slot(hz__wheel *w, unsigned slot, uint64_t now_ms)
{
    unsigned fired = 0;
    /* Detach the slot first: callbacks may re-arm into this very slot, and
     * timers of later rounds go back unchanged. The detached list keeps valid
     * pprev links, so a callback may cancel any timer still in it. */
    hz__timer *local = w->slots[slot];
    w->slots[slot] = NULL;
    if (local)
        local->pprev = &local;
    while (local) {
        hz__timer *t = local;
        unlink_timer(t);
        if (t->deadline <= now_ms) {
            w->count--;
            fired++;
            t->fn(t);
        } else {
            link_into(&w->slots[slot], t);
        }
    }
    return fired;
}

unsigned hz__wheel_advance(hz__wheel *w, uint64_t now_ms)
{
    uint64_t target = now_ms / HZ__WHEEL_TICK_MS;
    unsigned fired = 0;
    if (target < w->next_tick)
        return 0;
    if (target - w->next_tick >= HZ__WHEEL_SLOTS) {
        /* Slept for more than a revolution: every slot is due once. */
        w->next_tick = target + 1;
        for (unsigned s = 0; s < HZ__WHEEL_SLOTS; s++)
            fired += run_slot(w, s, now_ms);
        return fired;
    }
    while (w->next_tick <= target) {
        unsigned slot = (unsigned)(w->next_tick & (HZ__WHEEL_SLOTS - 1));
        w->next_tick++;
        fired += run_slot(w, slot, now_ms);
    }
    return fired;
}

int hz__wheel_timeout(hz__wheel *w, uint64_t now_ms)
{
    if (!w->count)
        return -1;
    /* Scan the slots in tick order from next_tick, one bitmap word at a
     * time: the first word masked to start, the others whole, and the first
     * word again for the slots before start (the end of the revolution). */
    const unsigned nwords = HZ__WHEEL_SLOTS / 64;
    unsigned start = (unsigned)(w->next_tick & (HZ__WHEEL_SLOTS - 1));
    for (unsigned k = 0; k <= nwords; k++) {
        unsigned wi = (start / 64 + k) % nwords;
        uint64_t bits = w->maybe_used[wi];
        if (k == 0)
            bits &= ~0ull << (start % 64);
        else if (k == nwords)
            bits &= (1ull << (start % 64)) - 1; /* start % 64 == 0: nothing left */
        while (bits) {
            unsigned bit = (unsigned)__builtin_ctzll(bits);
            unsigned slot = wi * 64 + bit;
            bits &= bits - 1;
            if (w->slots[slot]) {
                uint64_t tick = w->next_tick + ((slot - start) & (HZ__WHEEL_SLOTS - 1));
                uint64_t at = tick * HZ__WHEEL_TICK_MS;
                return at <= now_ms ? 0 : (int)(at - now_ms);
            }
            w->maybe_used[wi] &= ~(1ull << bit);
        }
    }
    return (int)(HZ__WHEEL_SLOTS * HZ__WHEEL_TICK_MS);
}
