/* test_timers.c - server timers (hz_server_timer_add / _cancel): one-shot
 * and periodic timers added before start and while running, on the right
 * loop thread; cancelled from inside their callback and from other threads
 * (nothing starts after cancel returned); many threads adding and
 * cancelling at once; stop and destroy with timers armed, no leak
 * (counting allocator). Waits are on a condition variable; a "marker"
 * timer added later on the same loop shows that an earlier cancelled one
 * had its chance to fire and did not. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include <httpz/httpz.h>
#include "test_alloc.h"
#include "test_wait.h"

#define WAIT_MS 20000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

typedef struct tstate {
    int count;
    int cancel_at; /* cancel itself on this call (0: never) */
    int cancel_rc;
    pthread_t thread;
    int threads_differ; /* calls seen on more than one thread */
} tstate;

static int wait_count(tstate *s, int n)
{
    return hz_test_wait_for(&mu, &cv, &s->count, n, WAIT_MS);
}

static int count_of(tstate *s)
{
    return hz_test_read(&mu, &s->count);
}

static void tick(hz_server *srv, uint64_t id, void *ud)
{
    tstate *s = ud;
    pthread_mutex_lock(&mu);
    if (s->count == 0)
        s->thread = pthread_self();
    else if (!pthread_equal(s->thread, pthread_self()))
        s->threads_differ = 1;
    s->count++;
    int cancel = s->cancel_at && s->count == s->cancel_at;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (cancel) {
        int rc = hz_server_timer_cancel(srv, id);
        pthread_mutex_lock(&mu);
        s->cancel_rc = rc;
        pthread_mutex_unlock(&mu);
    }
}

static hz_server *make(hz_count_alloc *ca, unsigned loops)
{
    hz_count_alloc_init(ca);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = loops;
    cfg.allocator = &ca->iface;
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    return srv;
}

static void finish(hz_server *srv, hz_count_alloc *ca)
{
    hz_server_stop(srv, 1000);
    hz_server_wait(srv);
    hz_server_destroy(srv);
    cr_assert_eq(atomic_load(&ca->live_blocks), 0, "%ld blocks leaked",
                 atomic_load(&ca->live_blocks));
}

/* A one-shot marker on loop: once it fired, every timer of that loop due
 * earlier had its turn. */
static void marker(hz_server *srv, unsigned loop, unsigned ms)
{
    tstate m = {0};
    cr_assert_eq(hz_server_timer_add(srv, loop, ms, 0, tick, &m, NULL), 0);
    cr_assert_eq(wait_count(&m, 1), 1);
}

Test(timers, one_shot_and_repeat_added_before_start, .timeout = 60)
{
    hz_count_alloc ca;
    hz_server *srv = make(&ca, 2);
    tstate once = {0}, rep = {0}, other = {0};
    uint64_t id_once, id_rep, id_other;
    cr_assert_eq(hz_server_timer_add(srv, 0, 50, 0, tick, &once, &id_once), 0);
    cr_assert_eq(hz_server_timer_add(srv, 0, 20, HZ_TIMER_REPEAT, tick, &rep, &id_rep), 0);
    cr_assert_eq(hz_server_timer_add(srv, 1, 20, HZ_TIMER_REPEAT, tick, &other, &id_other), 0);
    cr_assert(id_once && id_rep && id_other && id_once != id_rep && id_rep != id_other);
    long long t0 = 0;
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
    }
    cr_assert_eq(hz_server_start(srv), 0);
    cr_assert_geq(wait_count(&rep, 10), 10);
    cr_assert_geq(wait_count(&other, 3), 3);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long elapsed = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000 - t0;
    cr_assert_geq(elapsed, 10 * 20 - 20, "10 runs every 20 ms took %lld ms", elapsed);
    marker(srv, 0, 60); /* the one-shot (50 ms) is long due */
    cr_assert_eq(count_of(&once), 1);
    cr_assert_eq(hz_server_timer_cancel(srv, id_once), HZ_ENOENT); /* fired: gone */
    pthread_mutex_lock(&mu);
    cr_assert(!rep.threads_differ && !other.threads_differ);
    cr_assert(pthread_equal(once.thread, rep.thread), "same loop, same thread");
    cr_assert(!pthread_equal(rep.thread, other.thread), "loop 1 has a thread of its own");
    cr_assert(!pthread_equal(rep.thread, pthread_self()));
    pthread_mutex_unlock(&mu);
    cr_assert_eq(hz_server_timer_cancel(srv, id_rep), 0);
    cr_assert_eq(hz_server_timer_cancel(srv, id_rep), HZ_ENOENT);
    /* id_other stays armed: stop and destroy free it. */
    finish(srv, &ca);
}

Test(timers, cancel_from_inside_the_callback, .timeout = 60)
{
    hz_count_alloc ca;
    hz_server *srv = make(&ca, 1);
    cr_assert_eq(hz_server_start(srv), 0);
    tstate self = {.cancel_at = 3};
    cr_assert_eq(hz_server_timer_add(srv, 0, 10, HZ_TIMER_REPEAT, tick, &self, NULL), 0);
    cr_assert_eq(wait_count(&self, 3), 3);
    marker(srv, 0, 100); /* ten more periods */
    cr_assert_eq(count_of(&self), 3);
    pthread_mutex_lock(&mu);
    cr_assert_eq(self.cancel_rc, 0);
    pthread_mutex_unlock(&mu);
    /* A one-shot cancelling itself: 0 too, and it runs once. */
    tstate one = {.cancel_at = 1};
    cr_assert_eq(hz_server_timer_add(srv, 0, 0, 0, tick, &one, NULL), 0);
    cr_assert_eq(wait_count(&one, 1), 1);
    marker(srv, 0, 30);
    pthread_mutex_lock(&mu);
    cr_assert_eq(one.cancel_rc, 0);
    cr_assert_eq(one.count, 1);
    pthread_mutex_unlock(&mu);
    finish(srv, &ca);
}

Test(timers, cancel_from_another_thread_stops_further_calls, .timeout = 60)
{
    hz_count_alloc ca;
    hz_server *srv = make(&ca, 1);
    cr_assert_eq(hz_server_start(srv), 0);
    tstate rep = {0}, idle = {0};
    uint64_t id, id_idle;
    cr_assert_eq(hz_server_timer_add(srv, 0, 10, HZ_TIMER_REPEAT, tick, &rep, &id), 0);
    cr_assert_eq(hz_server_timer_add(srv, 0, 3600000, 0, tick, &idle, &id_idle), 0);
    cr_assert_geq(wait_count(&rep, 3), 3);
    cr_assert_eq(hz_server_timer_cancel(srv, id), 0);
    int at_cancel = count_of(&rep);
    marker(srv, 0, 100);
    /* At most the call that was already running when cancel returned. */
    cr_assert_leq(count_of(&rep), at_cancel + 1);
    int settled = count_of(&rep);
    marker(srv, 0, 100);
    cr_assert_eq(count_of(&rep), settled);
    /* An hour-long timer cancelled early is freed at once, not in an hour. */
    long frees = atomic_load(&ca.frees);
    cr_assert_eq(hz_server_timer_cancel(srv, id_idle), 0);
    marker(srv, 0, 10); /* its release message ran before the marker's arm */
    cr_assert_geq(atomic_load(&ca.frees), frees + 1);
    cr_assert_eq(count_of(&idle), 0);
    finish(srv, &ca);
}

Test(timers, bad_arguments, .timeout = 30)
{
    hz_count_alloc ca;
    hz_server *srv = make(&ca, 2);
    tstate s = {0};
    uint64_t id = 77;
    cr_assert_eq(hz_server_timer_add(NULL, 0, 10, 0, tick, &s, &id), HZ_EINVAL);
    cr_assert_eq(id, 0);
    cr_assert_eq(hz_server_timer_add(srv, 2, 10, 0, tick, &s, &id), HZ_EINVAL);
    cr_assert_eq(hz_server_timer_add(srv, 0, 10, 0, NULL, &s, &id), HZ_EINVAL);
    cr_assert_eq(hz_server_timer_add(srv, 0, 10, 1u << 5, tick, &s, &id), HZ_EINVAL);
    cr_assert_eq(hz_server_timer_add(srv, 0, 0, HZ_TIMER_REPEAT, tick, &s, &id), HZ_EINVAL);
    cr_assert_eq(hz_server_timer_cancel(srv, 0), HZ_EINVAL);
    cr_assert_eq(hz_server_timer_cancel(NULL, 1), HZ_EINVAL);
    cr_assert_eq(hz_server_timer_cancel(srv, 12345), HZ_ENOENT);
    /* Added, never started: destroy frees them without a call. */
    cr_assert_eq(hz_server_timer_add(srv, 1, 10, HZ_TIMER_REPEAT, tick, &s, &id), 0);
    cr_assert_eq(hz_server_timer_add(srv, 0, 10, 0, tick, &s, NULL), 0);
    hz_server_destroy(srv);
    cr_assert_eq(s.count, 0);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0);
}

/* Threads adding and cancelling at once, while the loops fire. */
typedef struct racer {
    hz_server *srv;
    tstate *fired; /* shared: counts every call */
    int added, cancelled;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    for (int i = 0; i < 200; i++) {
        uint64_t id;
        /* Far enough that a cancel right after the add always wins. */
        unsigned ms = i % 2 ? 1 + (unsigned)i % 20 : 200;
        if (hz_server_timer_add(r->srv, (unsigned)i % 2, ms, 0, tick, r->fired, &id) != 0)
            continue;
        r->added++;
        if (i % 2 == 0 && hz_server_timer_cancel(r->srv, id) == 0)
            r->cancelled++;
    }
    return NULL;
}

Test(timers, threads_adding_and_cancelling_concurrently, .timeout = 120)
{
    hz_count_alloc ca;
    hz_server *srv = make(&ca, 2);
    cr_assert_eq(hz_server_start(srv), 0);
    tstate fired = {0};
    enum { N = 4 };
    pthread_t t[N];
    racer r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer){.srv = srv, .fired = &fired};
        cr_assert_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    int added = 0, cancelled = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        added += r[i].added;
        cancelled += r[i].cancelled;
    }
    cr_assert_eq(added, N * 200);
    cr_assert_eq(cancelled, N * 100);
    cr_assert_eq(wait_count(&fired, added - cancelled), added - cancelled);
    marker(srv, 0, 300);
    marker(srv, 1, 300);
    /* Nothing cancelled fired, nothing fired twice. */
    cr_assert_eq(count_of(&fired), added - cancelled);
    finish(srv, &ca);
}

Test(timers, stop_while_armed_and_during_calls, .timeout = 60)
{
    hz_count_alloc ca;
    hz_server *srv = make(&ca, 2);
    tstate rep = {0}, late = {0};
    cr_assert_eq(hz_server_timer_add(srv, 0, 1, HZ_TIMER_REPEAT, tick, &rep, NULL), 0);
    cr_assert_eq(hz_server_timer_add(srv, 1, 3600000, 0, tick, &late, NULL), 0);
    cr_assert_eq(hz_server_start(srv), 0);
    cr_assert_geq(wait_count(&rep, 5), 5);
    finish(srv, &ca); /* stop, wait and destroy with both armed */
    cr_assert_eq(late.count, 0);
}
