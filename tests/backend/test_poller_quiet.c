/* test_poller_quiet.c - a completion poller's memory for quiet fds: an fd
 * that sent and received but holds nothing now (an idle keep-alive
 * connection, which the core parks with a modify(): docs/architecture.md,
 * "Parked connections") must cost the poller no allocation of its own once
 * modify() has been called, and must keep working (the next request is
 * reported with the new udata and answered). Runs over every poller in
 * hz_pollers[]; readiness pollers (no send/recv slots) skip. A file of its
 * own, beside the shared contract checks (poller_contract.c). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <httpz/backend.h>
#include "poller_params.h"
#include "test_alloc.h"

#define NP 64         /* connections */
#define WAIT_MS 10000 /* the longest a step may take */
#define OUT_LEN 3000  /* a response: less than one output block */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void make_pair(int sv[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0,
                 "socketpair: %s", strerror(errno));
}

/* Reads what the peer fd has, at most cap; bytes read. */
static size_t peer_drain(int fd, size_t cap)
{
    static char buf[65536];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf) < cap - got ? sizeof(buf) : cap - got);
        if (n <= 0)
            return got;
        got += (size_t)n;
        if (got == cap)
            return got;
    }
}

/* One request/response on every fd in fds: the peer writes a request, the
 * poller reports it with udata tag + i and it is read through recv(); the
 * response goes out through send() and the peer reads all of it; the
 * poller's queue is empty at the end. */
static void exchange(const hz_poller_vt *vt, hz_poller *p, int (*pr)[2], int n, char tag)
{
    static char out[OUT_LEN];
    static hz_poll_event ev[NP + 1];
    char req[64];
    int got = 0, answered[NP] = {0};
    size_t peer_got[NP] = {0};
    memset(out, tag, sizeof(out));
    for (int i = 0; i < n; i++)
        cr_assert_eq(write(pr[i][1], "GET / HTTP/1.1\r\n\r\n", 18), 18, "write");
    long t0 = now_ms();
    while (got < n && now_ms() - t0 < WAIT_MS) {
        int k = vt->wait(p, ev, NP + 1, 50);
        cr_assert_geq(k, 0, "wait: %d", k);
        for (int e = 0; e < k; e++) {
            if (ev[e].fd < 0 || !(ev[e].events & HZ_EV_READ))
                continue;
            for (int j = 0; j < n; j++) {
                if (pr[j][0] != ev[e].fd || answered[j])
                    continue;
                cr_assert_eq(ev[e].udata, (void *)((uintptr_t)tag * 256 + (uintptr_t)j + 1),
                             "the event carries the udata of the last add/modify");
                long r = vt->recv(p, ev[e].fd, req, sizeof(req), 0);
                cr_assert_eq(r, 18, "recv: %ld", r);
                struct iovec iov = {out, sizeof(out)};
                cr_assert_eq(vt->send(p, ev[e].fd, &iov, 1), (long)sizeof(out), "send");
                answered[j] = 1;
                got++;
            }
        }
    }
    cr_assert_eq(got, n, "%d of %d requests seen", got, n);
    /* The responses go out (wait() submits them) and the peers take them. */
    int done = 0;
    t0 = now_ms();
    while (done < n && now_ms() - t0 < WAIT_MS) {
        vt->wait(p, ev, NP + 1, 10);
        done = 0;
        for (int i = 0; i < n; i++) {
            peer_got[i] += peer_drain(pr[i][1], sizeof(out) - peer_got[i]);
            done += peer_got[i] == sizeof(out) && vt->queued(p, pr[i][0]) == 0;
        }
    }
    cr_assert_eq(done, n, "%d of %d responses sent", done, n);
}

/* After an exchange, modify() (what parking does) returns the poller's
 * memory to what it was before the connections were served: no output
 * queue or other per-fd allocation stays with a quiet fd. Then each fd is
 * served again (its state comes back on demand) and quiet again. */
POLLER_PARAM_TEST(poller_quiet, parked_fd_holds_no_queue, 60)
{
    const hz_poller_vt *vt = hz_pollers[*idx];
    if (!(vt->caps & HZ_POLLER_CAP_COMPLETION))
        cr_skip_test("%s: not a completion poller", vt->name);
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    hz_poller *p = NULL;
    int pw[NP][2], pr[NP][2];
    cr_assert_eq(vt->create(&p, &ca.iface), 0, "create");
    for (int i = 0; i < NP; i++) {
        make_pair(pw[i]);
        make_pair(pr[i]);
        cr_assert_eq(vt->add(p, pw[i][0], HZ_EV_READ, (void *)((uintptr_t)'w' * 256 + i + 1)), 0);
        cr_assert_eq(vt->add(p, pr[i][0], HZ_EV_READ, (void *)((uintptr_t)'a' * 256 + i + 1)), 0);
    }
    /* A warm-up set of connections, served and closed, makes what the
     * poller keeps per loop (spare output blocks, as many as were in
     * flight at once) exist before the measurement. Served twice: the
     * first time the receive buffer pool may be too small for all the
     * requests at once (it grows when the kernel found it empty), so they
     * come in two waves and fewer blocks are in flight at once than later. */
    exchange(vt, p, pw, NP, 'w');
    exchange(vt, p, pw, NP, 'w');
    for (int i = 0; i < NP; i++) {
        cr_assert_eq(vt->close(p, pw[i][0]), 0, "close");
        close(pw[i][1]);
    }
    long base = atomic_load(&ca.live_bytes);
    for (int round = 0; round < 2; round++) {
        char tag = (char)('a' + round);
        exchange(vt, p, pr, NP, tag);
        for (int i = 0; i < NP; i++)
            cr_assert_eq(vt->modify(p, pr[i][0], HZ_EV_READ,
                                    (void *)((uintptr_t)(tag + 1) * 256 + (uintptr_t)i + 1)),
                         0, "modify");
        long now = atomic_load(&ca.live_bytes);
        cr_assert_eq(now, base,
                     "%s, round %d: %d quiet fds hold %ld bytes of poller memory (%ld per fd) "
                     "after modify()",
                     vt->name, round, NP, now - base, (now - base) / NP);
    }
    for (int i = 0; i < NP; i++) {
        cr_assert_eq(vt->close(p, pr[i][0]), 0, "close");
        close(pr[i][1]);
    }
    vt->quiesce(p, 1000);
    vt->destroy(p);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0, "%ld blocks leaked",
                 atomic_load(&ca.live_blocks));
    cr_assert_eq(atomic_load(&ca.size_mismatches), 0, "free() was told a wrong size");
}
