/* test_timer.c - the hashed timing wheel: never early, never lost, O(1)
 * re-arm and cancel, callbacks that re-arm or cancel, long sleeps. */
#include <string.h>
#include <criterion/criterion.h>
#include "timer.h"

typedef struct probe {
    hz__timer t;
    int fired;
    uint64_t fired_at;
    uint64_t *clock;
    hz__wheel *w;
    hz__timer *cancel_other; /* cancelled from this callback */
    uint64_t rearm_by;       /* re-arms itself once by this many ms */
} probe;

static void probe_fn(hz__timer *t)
{
    probe *p = (probe *)t;
    p->fired++;
    p->fired_at = *p->clock;
    if (p->cancel_other)
        hz__timer_cancel(p->w, p->cancel_other);
    if (p->rearm_by) {
        uint64_t by = p->rearm_by;
        p->rearm_by = 0;
        hz__timer_arm(p->w, &p->t, *p->clock + by);
    }
}

static void probe_init(probe *p, hz__wheel *w, uint64_t *clock)
{
    memset(p, 0, sizeof(*p));
    hz__timer_init(&p->t, probe_fn);
    p->w = w;
    p->clock = clock;
}

Test(timer, fires_at_or_after_the_deadline_never_before)
{
    hz__wheel w;
    uint64_t now = 1000000;
    hz__wheel_init(&w, now);
    probe p[50];
    for (int i = 0; i < 50; i++) {
        probe_init(&p[i], &w, &now);
        hz__timer_arm(&w, &p[i].t, now + 1 + (uint64_t)i * 37);
    }
    cr_assert_eq(w.count, 50);
    uint64_t start = now;
    for (; now < start + 3000; now++) {
        hz__wheel_advance(&w, now);
        for (int i = 0; i < 50; i++) {
            uint64_t deadline = start + 1 + (uint64_t)i * 37;
            if (p[i].fired)
                cr_assert_geq(p[i].fired_at, deadline, "timer %d early", i);
            else
                cr_assert_lt(now, deadline + HZ__WHEEL_TICK_MS, "timer %d late", i);
        }
    }
    for (int i = 0; i < 50; i++)
        cr_assert_eq(p[i].fired, 1);
    cr_assert_eq(w.count, 0);
    cr_assert_eq(hz__wheel_timeout(&w, now), -1);
}

Test(timer, rearm_and_cancel)
{
    hz__wheel w;
    uint64_t now = 0;
    hz__wheel_init(&w, now);
    probe a, b;
    probe_init(&a, &w, &now);
    probe_init(&b, &w, &now);
    hz__timer_arm(&w, &a.t, 100);
    hz__timer_arm(&w, &a.t, 500); /* re-arm moves it */
    hz__timer_arm(&w, &b.t, 200);
    hz__timer_cancel(&w, &b.t);
    hz__timer_cancel(&w, &b.t); /* twice is harmless */
    cr_assert_eq(w.count, 1);
    now = 300;
    cr_assert_eq(hz__wheel_advance(&w, now), 0);
    cr_assert_eq(a.fired + b.fired, 0);
    now = 500;
    cr_assert_eq(hz__wheel_advance(&w, now), 1);
    cr_assert_eq(a.fired, 1);
    cr_assert_eq(b.fired, 0);
    cr_assert_not(hz__timer_armed(&a.t));
}

Test(timer, deadlines_beyond_one_revolution_wait_their_round)
{
    hz__wheel w;
    uint64_t now = 0;
    hz__wheel_init(&w, now);
    probe a;
    probe_init(&a, &w, &now);
    uint64_t far = (uint64_t)HZ__WHEEL_SLOTS * HZ__WHEEL_TICK_MS * 3 + 5;
    hz__timer_arm(&w, &a.t, far);
    for (now = 0; now < far; now += 7) {
        hz__wheel_advance(&w, now);
        cr_assert_eq(a.fired, 0, "fired at %lu for %lu", (unsigned long)now, (unsigned long)far);
        int to = hz__wheel_timeout(&w, now);
        cr_assert_geq(to, 0);
    }
    for (; !a.fired && now < far + 100; now++)
        hz__wheel_advance(&w, now);
    cr_assert_eq(a.fired, 1);
    cr_assert_geq(a.fired_at, far);
}

Test(timer, a_long_sleep_fires_everything_due_once)
{
    hz__wheel w;
    uint64_t now = 50;
    hz__wheel_init(&w, now);
    probe p[20];
    for (int i = 0; i < 20; i++) {
        probe_init(&p[i], &w, &now);
        hz__timer_arm(&w, &p[i].t, 100 + (uint64_t)i * 1000);
    }
    now = 100000; /* many revolutions later */
    cr_assert_eq(hz__wheel_advance(&w, now), 20);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(p[i].fired, 1);
}

Test(timer, callbacks_may_cancel_others_and_rearm_themselves)
{
    hz__wheel w;
    uint64_t now = 0;
    hz__wheel_init(&w, now);
    probe a, b, c;
    probe_init(&a, &w, &now);
    probe_init(&b, &w, &now);
    probe_init(&c, &w, &now);
    /* Same slot: a cancels b before b's turn; c re-arms itself. */
    hz__timer_arm(&w, &a.t, 100);
    hz__timer_arm(&w, &b.t, 100);
    hz__timer_arm(&w, &c.t, 100);
    a.cancel_other = &b.t;
    b.cancel_other = &a.t;
    c.rearm_by = 50;
    now = 100;
    hz__wheel_advance(&w, now);
    cr_assert_eq(a.fired + b.fired, 1, "exactly one of a/b ran: the other was cancelled");
    cr_assert_eq(c.fired, 1);
    cr_assert(hz__timer_armed(&c.t));
    now = 149;
    hz__wheel_advance(&w, now);
    cr_assert_eq(c.fired, 1);
    now = 150;
    hz__wheel_advance(&w, now);
    cr_assert_eq(c.fired, 2);
    cr_assert_eq(w.count, 0);
}

Test(timer, timeout_is_never_late)
{
    hz__wheel w;
    uint64_t now = 12345;
    hz__wheel_init(&w, now);
    probe a;
    probe_init(&a, &w, &now);
    hz__timer_arm(&w, &a.t, now + 777);
    int to = hz__wheel_timeout(&w, now);
    cr_assert(to >= 0 && to <= 777 + (int)HZ__WHEEL_TICK_MS, "timeout %d", to);
    now += (uint64_t)to;
    hz__wheel_advance(&w, now);
    if (!a.fired) {
        to = hz__wheel_timeout(&w, now);
        cr_assert_geq(to, 0);
        now += (uint64_t)to;
        hz__wheel_advance(&w, now);
    }
    cr_assert_eq(a.fired, 1);
}

/* The slot-by-slot answer hz__wheel_timeout gave before it used the
 * occupancy bitmap: the reference for the test below. */
static int timeout_by_walking(const hz__wheel *w, uint64_t now)
{
    if (!w->count)
        return -1;
    for (uint64_t i = 0; i < HZ__WHEEL_SLOTS; i++) {
        uint64_t tick = w->next_tick + i;
        if (w->slots[tick & (HZ__WHEEL_SLOTS - 1)]) {
            uint64_t at = tick * HZ__WHEEL_TICK_MS;
            return at <= now ? 0 : (int)(at - now);
        }
    }
    return (int)(HZ__WHEEL_SLOTS * HZ__WHEEL_TICK_MS);
}

Test(timer, bitmap_timeout_matches_a_slot_walk_under_random_churn)
{
    hz__wheel w;
    uint64_t now = 987654;
    hz__wheel_init(&w, now);
    enum { N = 64 };
    probe p[N];
    for (int i = 0; i < N; i++)
        probe_init(&p[i], &w, &now);
    uint32_t seed = 12345;
    for (int step = 0; step < 20000; step++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t r = seed >> 8;
        probe *q = &p[r % N];
        switch ((r >> 8) % 4) {
        case 0:
        case 1: /* re-arm anywhere up to two revolutions ahead, wrap included */
            hz__timer_arm(&w, &q->t, now + (r >> 10) % (2 * HZ__WHEEL_SLOTS * HZ__WHEEL_TICK_MS));
            break;
        case 2:
            hz__timer_cancel(&w, &q->t);
            break;
        default:
            now += (r >> 10) % 200;
            hz__wheel_advance(&w, now);
            break;
        }
        int want = timeout_by_walking(&w, now);
        cr_assert_eq(hz__wheel_timeout(&w, now), want, "step %d", step);
    }
}
