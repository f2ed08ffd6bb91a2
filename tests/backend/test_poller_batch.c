/* test_poller_batch.c - wait() while answered peers are expected to talk.
 * A completion poller may hold a wait() open for a short window to collect
 * the requests of several answered connections in one batch
 * (backends/poll-io-uring, UR_BATCH_US; docs/architecture.md, "Batching").
 * Whatever it does, the wait() contract holds: a wait with nothing to
 * report lasts its timeout (the window's own expiry is not the caller's
 * timeout), a request that arrives after the window is reported at once,
 * and one busy connection beside answered idle ones is not slowed to the
 * window's pace for ever; and a served connection that is closed is
 * closed for real (the io_uring poller keeps a served socket in the ring's
 * file table for its sends). Runs over every poller in hz_pollers[]; a
 * readiness poller (no send/recv slots) is driven with read()/write() on
 * the fds. A file of its own, beside the shared contract checks
 * (poller_contract.c). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <httpz/backend.h>
#include "poller_params.h"

#define NC 8          /* connections */
#define WAIT_MS 10000 /* the longest a step may take */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct bt { /* owner: the test */
    const hz_poller_vt *vt;
    hz_poller *p;  /* owns */
    int sv[NC][2]; /* owns: [0] registered, [1] the peer */
} bt;

static int completion(const bt *t)
{
    return (t->vt->caps & HZ_POLLER_CAP_COMPLETION) != 0;
}

static void bt_open(bt *t, int idx)
{
    memset(t, 0, sizeof(*t));
    t->vt = hz_pollers[idx];
    cr_assert_eq(t->vt->create(&t->p, &hz_allocator_default), 0, "create");
    /* A loop's connections are added while it runs (after its first wait()). */
    hz_poll_event ev[1];
    cr_assert_geq(t->vt->wait(t->p, ev, 1, 0), 0, "wait");
    for (int i = 0; i < NC; i++) {
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, t->sv[i]),
                     0, "socketpair: %s", strerror(errno));
        cr_assert_eq(t->vt->add(t->p, t->sv[i][0], HZ_EV_READ, (void *)(uintptr_t)(i + 1)), 0,
                     "add");
    }
}

static void bt_close(bt *t)
{
    for (int i = 0; i < NC; i++) {
        if (t->sv[i][0] < 0)
            ;
        else if (completion(t))
            t->vt->close(t->p, t->sv[i][0]);
        else {
            t->vt->remove(t->p, t->sv[i][0]);
            close(t->sv[i][0]);
        }
        close(t->sv[i][1]);
    }
    if (t->vt->quiesce)
        t->vt->quiesce(t->p, 1000);
    t->vt->destroy(t->p);
}

/* Reads the request of connection i (it was reported readable). */
static void bt_take(bt *t, int i)
{
    char buf[64];
    long r = completion(t) ? t->vt->recv(t->p, t->sv[i][0], buf, sizeof(buf), 0)
                           : (long)read(t->sv[i][0], buf, sizeof(buf));
    cr_assert_eq(r, 4, "%s: read the request of %d: %ld", t->vt->name, i, r);
}

/* Answers connection i (its peer reads the answer in bt_peer_read()). */
static void bt_answer(bt *t, int i)
{
    struct iovec iov = {"pong", 4};
    long r = completion(t) ? t->vt->send(t->p, t->sv[i][0], &iov, 1)
                           : (long)write(t->sv[i][0], "pong", 4);
    cr_assert_eq(r, 4, "%s: answer %d: %ld", t->vt->name, i, r);
}

/* The peer of i reads its answer, waiting (wait() submits it) up to WAIT_MS. */
static void bt_peer_read(bt *t, int i)
{
    static hz_poll_event ev[NC + 1];
    char buf[8];
    long t0 = now_ms();
    for (;;) {
        ssize_t n = read(t->sv[i][1], buf, sizeof(buf));
        if (n == 4)
            return;
        cr_assert(n < 0 && errno == EAGAIN, "%s: peer %d read %zd", t->vt->name, i, n);
        cr_assert_lt(now_ms() - t0, WAIT_MS, "%s: the answer to %d never came", t->vt->name, i);
        cr_assert_geq(t->vt->wait(t->p, ev, NC + 1, 0), 0, "wait");
    }
}

/* Waits (each wait up to timeout_ms) until connection i is reported
 * readable; the time that took, in ms. */
static long bt_wait_for(bt *t, int i, int timeout_ms)
{
    static hz_poll_event ev[NC + 1];
    long t0 = now_ms();
    for (;;) {
        int k = t->vt->wait(t->p, ev, NC + 1, timeout_ms);
        cr_assert_geq(k, 0, "%s: wait: %d", t->vt->name, k);
        for (int e = 0; e < k; e++)
            if (ev[e].fd == t->sv[i][0] && (ev[e].events & HZ_EV_READ))
                return now_ms() - t0;
        cr_assert_lt(now_ms() - t0, WAIT_MS, "%s: %d never reported", t->vt->name, i);
    }
}

/* Every connection sends a request and gets its answer: all are
 * "answered" now, with nothing to read. */
static void bt_answer_all(bt *t)
{
    for (int i = 0; i < NC; i++) {
        cr_assert_eq(write(t->sv[i][1], "ping", 4), 4, "write");
        bt_wait_for(t, i, 1000);
        bt_take(t, i);
        bt_answer(t, i);
    }
    for (int i = 0; i < NC; i++)
        bt_peer_read(t, i);
}

/* All answered peers send at once: every request is reported (in one
 * wait() or several) and answered, and the peers read their answers. */
static void bt_burst(bt *t, int round)
{
    static hz_poll_event ev[NC + 1];
    for (int i = 0; i < NC; i++)
        cr_assert_eq(write(t->sv[i][1], "ping", 4), 4, "write");
    int seen[NC] = {0}, nseen = 0;
    long t0 = now_ms();
    while (nseen < NC) {
        int k = t->vt->wait(t->p, ev, NC + 1, 1000);
        cr_assert_geq(k, 0, "wait");
        for (int e = 0; e < k; e++) {
            int i = (int)(uintptr_t)ev[e].udata - 1;
            if (ev[e].fd < 0 || !(ev[e].events & HZ_EV_READ) || i < 0 || i >= NC || seen[i])
                continue;
            seen[i] = 1;
            nseen++;
            bt_take(t, i);
            bt_answer(t, i);
        }
        cr_assert_lt(now_ms() - t0, WAIT_MS, "%s: round %d: %d of %d requests seen", t->vt->name,
                     round, nseen, NC);
    }
    for (int i = 0; i < NC; i++)
        bt_peer_read(t, i);
}

/* A test over every poller, on a poller with NC answered connections
 * (bt_open, bt_answer_all): the body is batch_<name>(t); bt_close after. */
#define BATCH_TEST(name, secs)                                                                     \
    static void batch_##name(bt *t);                                                               \
    POLLER_PARAM_TEST(poller_batch, name, secs)                                                    \
    {                                                                                              \
        bt t;                                                                                      \
        bt_open(&t, *idx);                                                                         \
        bt_answer_all(&t);                                                                         \
        batch_##name(&t);                                                                          \
        bt_close(&t);                                                                              \
    }                                                                                              \
    static void batch_##name(bt *t)

/* Answered peers that do not send: a wait() reports nothing and lasts its
 * timeout (a batching window's expiry is not the caller's timeout). Each
 * round follows a burst, so that a poller that batches has just seen its
 * window pay off and opens one. */
BATCH_TEST(silent_answered_peers_wait_the_timeout, 60)
{
    static hz_poll_event ev[NC + 1];
    for (int round = 0; round < 4; round++) {
        bt_burst(t, round);
        long t0 = now_ms();
        int k = t->vt->wait(t->p, ev, NC + 1, 200);
        long took = now_ms() - t0;
        cr_assert_eq(k, 0, "%s: round %d: %d entries with nothing sent", t->vt->name, round, k);
        cr_assert_geq(took, 150, "%s: round %d: a 200 ms wait returned after %ld ms", t->vt->name,
                      round, took);
        cr_assert_lt(took, WAIT_MS, "%s: round %d: a 200 ms wait took %ld ms", t->vt->name, round,
                     took);
    }
}

typedef struct late { /* owner: the test */
    int fd;
    int delay_ms;
} late;

static void *late_write(void *arg)
{
    const late *l = arg;
    struct timespec ts = {.tv_sec = l->delay_ms / 1000, .tv_nsec = (l->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* the stimulus: a request after any window */
    ssize_t n = write(l->fd, "ping", 4);
    (void)n;
    return NULL;
}

/* Answered peers are expected to send; one does, 100 ms later (after any
 * batching window ran out with nothing): a wait() with a long timeout
 * reports it when it comes, not at its timeout. */
BATCH_TEST(late_request_reported_at_once, 60)
{
    late l = {t->sv[3][1], 100};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, late_write, &l), 0, "pthread_create");
    long took = bt_wait_for(t, 3, 5000);
    pthread_join(th, NULL);
    cr_assert_lt(took, 4000, "%s: a request 100 ms into a 5 s wait was reported after %ld ms",
                 t->vt->name, took);
    bt_take(t, 3);
}

/* One connection exchanges 300 requests in turn while the others, all
 * answered, stay silent: every request is reported, each wait() with a
 * 5 s timeout, and the whole run takes far less than one timeout per
 * request (a window that ran to the caller's timeout, or that never
 * ended, would). */
BATCH_TEST(one_busy_beside_idle, 120)
{
    long t0 = now_ms();
    for (int r = 0; r < 300; r++) {
        cr_assert_eq(write(t->sv[5][1], "ping", 4), 4, "write");
        bt_wait_for(t, 5, 5000);
        bt_take(t, 5);
        bt_answer(t, 5);
        bt_peer_read(t, 5);
    }
    long took = now_ms() - t0;
    cr_assert_lt(took, 15000, "%s: 300 exchanges took %ld ms", t->vt->name, took);
}

/* All answered peers send at once, 50 times. */
BATCH_TEST(burst_all_reported, 60)
{
    for (int round = 0; round < 50; round++)
        bt_burst(t, round);
}

/* Served connections are closed for real: after close() (a completion
 * poller's) or remove() and the caller's own close(2), and the next
 * wait(), each peer reads the end of the stream. */
BATCH_TEST(served_then_closed_peer_sees_eof, 60)
{
    bt_burst(t, 0);
    for (int i = 0; i < NC; i++) {
        if (completion(t) && i % 2) {
            cr_assert_eq(t->vt->close(t->p, t->sv[i][0]), 0, "close");
        } else {
            cr_assert_eq(t->vt->remove(t->p, t->sv[i][0]), 0, "remove");
            close(t->sv[i][0]);
        }
        t->sv[i][0] = -1;
    }
    static hz_poll_event ev[NC + 1];
    for (int i = 0; i < NC; i++) {
        long t0 = now_ms();
        for (;;) {
            cr_assert_geq(t->vt->wait(t->p, ev, NC + 1, 10), 0, "wait");
            char c;
            ssize_t n = read(t->sv[i][1], &c, 1);
            if (n == 0)
                break;
            cr_assert(n < 0 && errno == EAGAIN, "%s: peer %d read %zd", t->vt->name, i, n);
            cr_assert_lt(now_ms() - t0, WAIT_MS, "%s: peer %d never saw the close", t->vt->name, i);
        }
    }
}
