/* poller_contract.c - the poller contract checks (see poller_contract.h).
 *
 * Every check drives one hz_poller_vt through its public slots only, with
 * socketpairs and pipes as the fds. "Not reported" is checked with a short
 * wait (NEG_MS) rather than wait(0), so a backend that delivers late cannot
 * pass by accident; "reported" waits up to POS_MS, which only a broken backend
 * ever reaches.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "poller_contract.h"
#include "test_alloc.h"

#define NEG_MS 50
#define POS_MS 2000
#define MANY_FDS 5000
#define HIGH_FD 2000

static void pc_fail(pc_ctx *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void pc_fail(pc_ctx *c, int line, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(c->msg, sizeof(c->msg), "poller_contract.c:%d: ", line);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(c->msg))
        vsnprintf(c->msg + n, sizeof(c->msg) - (size_t)n, fmt, ap);
    va_end(ap);
}

/* The first variadic argument is always a string literal, so the condition's
 * text is glued in front of it. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            pc_fail(c, __LINE__, "(" #cond ") " __VA_ARGS__);                                      \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#define SKIP(...)                                                                                  \
    do {                                                                                           \
        pc_fail(c, __LINE__, __VA_ARGS__);                                                         \
        rc = PC_SKIP;                                                                              \
        goto out;                                                                                  \
    } while (0)

/* A helper that returns PC_PASS (0), PC_FAIL or PC_SKIP, with c->msg set by
 * the helper's own CHECK or SKIP: anything but PC_PASS ends the check. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int try_rc_ = (expr);                                                                      \
        if (try_rc_ != PC_PASS) {                                                                  \
            rc = try_rc_;                                                                          \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

/* The check passes here when cond holds (the rest does not apply). */
#define PASS_IF(cond)                                                                              \
    do {                                                                                           \
        if (cond) {                                                                                \
            rc = PC_PASS;                                                                          \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */
/* ------------------------------------------------------------------------ */

static int set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* A non-blocking AF_UNIX stream pair; on failure both stay -1. */
static int make_pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        sv[0] = sv[1] = -1;
        return -1;
    }
    if (set_flags(sv[0]) < 0 || set_flags(sv[1]) < 0)
        return -1;
    return 0;
}

static int make_pipe(int pf[2])
{
    if (pipe(pf) < 0) {
        pf[0] = pf[1] = -1;
        return -1;
    }
    if (set_flags(pf[0]) < 0 || set_flags(pf[1]) < 0)
        return -1;
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void close_pair(int fds[2])
{
    close_fd(&fds[0]);
    close_fd(&fds[1]);
}

static int send1(int fd)
{
    return write(fd, "x", 1) == 1 ? 0 : -1;
}

/* Reads until EAGAIN; returns bytes read, or -1 on error. */
static long drain(int fd)
{
    char buf[65536];
    long total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            total += n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN ? total : -1;
    }
}

/* Writes until the socket buffer is full (EAGAIN); 0 on success. */
static int fill(int fd)
{
    static const char chunk[16384];
    for (int i = 0; i < 100000; i++) {
        ssize_t n = write(fd, chunk, sizeof(chunk));
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
    }
    return -1;
}

/* ---- completion pollers (HZ_POLLER_CAP_COMPLETION) ------------------------
 * Such a poller reads and writes its sockets itself: a check reads through
 * recv() and fills through send() instead of the fd. */

static int is_cio(const hz_poller_vt *vt)
{
    return (vt->caps & HZ_POLLER_CAP_COMPLETION) != 0;
}

/* read(2) semantics (-1 with errno EAGAIN) over either kind of poller. */
static long pc_read(const hz_poller_vt *vt, hz_poller *p, int fd, void *buf, size_t len)
{
    if (!is_cio(vt))
        return read(fd, buf, len);
    long n = vt->recv(p, fd, buf, len, 0);
    if (n >= 0)
        return n;
    errno = n == HZ_EAGAIN ? EAGAIN : EIO;
    return -1;
}

/* Reads what fd has (through the poller if it is a completion one) until
 * EAGAIN; bytes read, or -1. */
static long pc_drain(const hz_poller_vt *vt, hz_poller *p, int fd)
{
    if (!is_cio(vt))
        return drain(fd);
    char buf[4096];
    long total = 0;
    for (;;) {
        long n = pc_read(vt, p, fd, buf, sizeof(buf));
        if (n > 0) {
            total += n;
            continue;
        }
        return n < 0 && errno == EAGAIN ? total : -1;
    }
}

/* Makes fd unwritable: its socket buffer full, and for a completion poller
 * (fd registered) its output budget too. 0 on success. */
static int pc_fill(const hz_poller_vt *vt, hz_poller *p, int fd)
{
    static const char chunk[16384];
    if (!is_cio(vt))
        return fill(fd);
    hz_poll_event ev[16];
    for (int round = 0; round < 1000; round++) {
        long n;
        struct iovec v = {.iov_base = (void *)chunk, .iov_len = sizeof(chunk)};
        while ((n = vt->send(p, fd, &v, 1)) > 0) {
        }
        if (n != HZ_EAGAIN)
            return -1;
        /* Submitted: the kernel takes what the socket buffer holds. Full
         * once a wait shows no room. */
        int k = vt->wait(p, ev, 16, 20);
        if (k < 0)
            return -1;
        if (vt->send(p, fd, &v, 1) == HZ_EAGAIN && vt->wait(p, ev, 16, 20) == 0)
            return 0;
    }
    return -1;
}

/* Entries of ev[0..n) for fd; *idx gets the first one's index. */
static int count_fd(const hz_poll_event *ev, int n, int fd, int *idx)
{
    int k = 0;
    for (int i = n - 1; i >= 0; i--) {
        if (ev[i].fd == fd) {
            k++;
            if (idx)
                *idx = i;
        }
    }
    return k;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The lowest free fd number: equal before and after an operation that must
 * not leak descriptors. */
static int lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0)
        close(fd);
    return fd;
}

/* Makes the soft RLIMIT_NOFILE at least want (raising the hard one too when
 * permitted). 0 on success, -1 if the machine will not allow it. */
static int ensure_nofile(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= want)
        return 0;
    if (rl.rlim_cur == RLIM_INFINITY)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
        rl.rlim_max = want;
    rl.rlim_cur = want;
    return setrlimit(RLIMIT_NOFILE, &rl);
}

/* NO_ADD as open_pair's events: sv[0] is not registered. */
#define NO_ADD (~0u)

/* The start of most checks: a poller on the default allocator and a
 * socketpair, sv[0] registered for events with udata. PC_PASS or PC_FAIL. */
static int open_pair(const hz_poller_vt *vt, pc_ctx *c, hz_poller **p, int sv[2], unsigned events,
                     void *udata)
{
    CHECK(vt->create(p, &hz_allocator_default) == 0, "create");
    CHECK(make_pair(sv) == 0, "socketpair: %s", strerror(errno));
    if (events != NO_ADD)
        CHECK(vt->add(*p, sv[0], events, udata) == 0, "add");
    return PC_PASS;
out:
    return PC_FAIL;
}

/* The end of most checks: closes the pair, destroys the poller, gives rc. */
static int close_all(const hz_poller_vt *vt, hz_poller *p, int sv[2], int rc)
{
    close_pair(sv);
    vt->destroy(p);
    return rc;
}

/* The start of the high-fd checks: a counting allocator, a poller on it, a
 * socketpair and *hi, a duplicate of sv[0] numbered HIGH_FD or above (a high
 * fd makes table-based backends grow). PC_PASS, PC_FAIL or PC_SKIP. */
static int open_high_fd(const hz_poller_vt *vt, pc_ctx *c, hz_count_alloc *ca, hz_poller **p,
                        int sv[2], int *hi)
{
    int rc = PC_FAIL;
    hz_count_alloc_init(ca);
    if (ensure_nofile(HIGH_FD + 64) < 0)
        SKIP("cannot raise RLIMIT_NOFILE to %d: %s", HIGH_FD + 64, strerror(errno));
    CHECK(vt->create(p, &ca->iface) == 0, "create");
    CHECK(make_pair(sv) == 0, "socketpair: %s", strerror(errno));
    *hi = fcntl(sv[0], F_DUPFD_CLOEXEC, HIGH_FD);
    CHECK(*hi >= HIGH_FD, "F_DUPFD: %s", strerror(errno));
    rc = PC_PASS;
out:
    return rc;
}

/* Destroys *p and checks that it gave back every block it took from ca. */
static int destroy_no_leak(const hz_poller_vt *vt, pc_ctx *c, hz_poller **p, hz_count_alloc *ca)
{
    vt->destroy(*p);
    *p = NULL;
    CHECK(atomic_load(&ca->live_blocks) == 0, "%ld blocks leaked", atomic_load(&ca->live_blocks));
    return PC_PASS;
out:
    return PC_FAIL;
}

/* ------------------------------------------------------------------------ */
/* the checks                                                                */
/* ------------------------------------------------------------------------ */

int pc_meta(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL;
    CHECK(vt->abi == HZ_BACKEND_ABI, "abi is %u, want %u", vt->abi, HZ_BACKEND_ABI);
    CHECK(vt->name && vt->name[0], "name must be a non-empty string");
    CHECK(!(vt->caps & HZ_POLLER_CAP_EDGE), "pollers in this tree are level-triggered");
    CHECK(vt->create && vt->destroy && vt->add && vt->modify && vt->remove && vt->wait && vt->wake,
          "no poller slot is optional");
    if (is_cio(vt))
        CHECK(vt->accept && vt->recv && vt->send && vt->shutdown && vt->close && vt->quiesce &&
                  vt->queued,
              "a completion poller fills every completion slot");
    else
        CHECK(!vt->accept && !vt->recv && !vt->send && !vt->shutdown && !vt->close &&
                  !vt->quiesce && !vt->queued,
              "completion slots without HZ_POLLER_CAP_COMPLETION");
    vt->destroy(NULL); /* NULL-safe */
    rc = PC_PASS;
out:
    return rc;
}

int pc_readable(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, sv[2] = {-1, -1}, pf[2] = {-1, -1}, tag;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    TRY(open_pair(vt, c, &p, sv, HZ_EV_READ, &tag));
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(n == 0, "an empty socket was reported (n=%d)", n);
    CHECK(send1(sv[1]) == 0, "write");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1, "one entry expected, got %d", n);
    CHECK(ev[0].fd == sv[0], "fd %d, want %d", ev[0].fd, sv[0]);
    CHECK(ev[0].udata == &tag, "udata is not the one given to add()");
    CHECK(ev[0].events & HZ_EV_READ, "READ missing (events 0x%x)", ev[0].events);
    CHECK(!(ev[0].events & (HZ_EV_WRITE | HZ_EV_HUP | HZ_EV_ERR | HZ_EV_WAKE)),
          "only READ was due (events 0x%x)", ev[0].events);
    CHECK(vt->remove(p, sv[0]) == 0, "remove");

    /* A pipe's read end too (a completion poller serves sockets only). */
    PASS_IF(is_cio(vt));
    CHECK(make_pipe(pf) == 0, "pipe: %s", strerror(errno));
    CHECK(vt->add(p, pf[0], HZ_EV_READ, &tag) == 0, "add pipe");
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(n == 0, "an empty pipe was reported (n=%d)", n);
    CHECK(send1(pf[1]) == 0, "write pipe");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].fd == pf[0] && (ev[0].events & HZ_EV_READ),
          "pipe READ expected (n=%d events 0x%x)", n, n > 0 ? ev[0].events : 0);
    rc = PC_PASS;
out:
    close_pair(pf);
    return close_all(vt, p, sv, rc);
}

int pc_writable(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, i = 0, sv[2] = {-1, -1}, pf[2] = {-1, -1};
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    TRY(open_pair(vt, c, &p, sv, HZ_EV_WRITE, NULL));
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].fd == sv[0], "one entry for the socket expected (n=%d)", n);
    CHECK(ev[0].events & HZ_EV_WRITE, "WRITE missing (events 0x%x)", ev[0].events);
    CHECK(!(ev[0].events & HZ_EV_READ), "READ without READ interest (events 0x%x)", ev[0].events);

    /* A full buffer is not writable; draining the peer makes it so again. */
    CHECK(pc_fill(vt, p, sv[0]) == 0, "filling the socket buffer failed: %s", strerror(errno));
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(count_fd(ev, n, sv[0], &i) == 0, "a full socket was reported writable (0x%x)",
          ev[i].events);
    CHECK(drain(sv[1]) > 0, "drain");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(count_fd(ev, n, sv[0], &i) == 1 && (ev[i].events & HZ_EV_WRITE),
          "WRITE expected once the peer drained (n=%d)", n);
    CHECK(vt->remove(p, sv[0]) == 0, "remove");

    /* A pipe's write end (not for a completion poller: sockets only). */
    PASS_IF(is_cio(vt));
    CHECK(make_pipe(pf) == 0, "pipe: %s", strerror(errno));
    CHECK(vt->add(p, pf[1], HZ_EV_WRITE, NULL) == 0, "add pipe");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].fd == pf[1] && (ev[0].events & HZ_EV_WRITE), "pipe WRITE expected (n=%d)",
          n);
    rc = PC_PASS;
out:
    close_pair(pf);
    return close_all(vt, p, sv, rc);
}

int pc_level_triggered(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, sv[2] = {-1, -1};
    char b;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    TRY(open_pair(vt, c, &p, sv, HZ_EV_READ, NULL));
    CHECK(write(sv[1], "ab", 2) == 2, "write");
    for (int round = 0; round < 3; round++) {
        n = vt->wait(p, ev, 16, POS_MS);
        CHECK(n == 1 && (ev[0].events & HZ_EV_READ),
              "unread data must be reported again (round %d, n=%d)", round, n);
    }
    CHECK(pc_read(vt, p, sv[0], &b, 1) == 1, "read");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && (ev[0].events & HZ_EV_READ), "one byte left must be reported (n=%d)", n);
    CHECK(pc_read(vt, p, sv[0], &b, 1) == 1, "read");
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(n == 0, "a drained socket was reported (n=%d)", n);
    rc = PC_PASS;
out:
    return close_all(vt, p, sv, rc);
}

int pc_read_write_one_entry(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, i = 0, a[2] = {-1, -1}, b[2] = {-1, -1};
    hz_poller *p = NULL;
    hz_poll_event ev[16], one[1];
    CHECK(vt->create(&p, &hz_allocator_default) == 0, "create");
    CHECK(make_pair(a) == 0 && make_pair(b) == 0, "socketpair: %s", strerror(errno));
    CHECK(vt->add(p, a[0], HZ_EV_READ | HZ_EV_WRITE, NULL) == 0, "add a");
    CHECK(send1(a[1]) == 0, "write");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(count_fd(ev, n, a[0], &i) == 1, "READ and WRITE must be ONE entry (%d entries)",
          count_fd(ev, n, a[0], NULL));
    CHECK((ev[i].events & (HZ_EV_READ | HZ_EV_WRITE)) == (HZ_EV_READ | HZ_EV_WRITE),
          "both bits expected (events 0x%x)", ev[i].events);

    /* Two fds ready for both: max = 1 must yield exactly one entry (ASan
     * catches a backend that writes past max). */
    CHECK(vt->add(p, b[0], HZ_EV_READ | HZ_EV_WRITE, NULL) == 0, "add b");
    CHECK(send1(b[1]) == 0, "write");
    n = vt->wait(p, one, 1, POS_MS);
    CHECK(n == 1, "max=1 must give one entry, got %d", n);
    CHECK((one[0].events & (HZ_EV_READ | HZ_EV_WRITE)) == (HZ_EV_READ | HZ_EV_WRITE),
          "both bits expected with max=1 (events 0x%x)", one[0].events);
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 2, "two fds ready: two entries expected, got %d", n);
    CHECK(count_fd(ev, n, a[0], NULL) == 1 && count_fd(ev, n, b[0], NULL) == 1,
          "one entry per fd expected");
    rc = PC_PASS;
out:
    close_pair(b);
    return close_all(vt, p, a, rc);
}

int pc_peer_close(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, sv[2] = {-1, -1}, pf[2] = {-1, -1};
    char b;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    TRY(open_pair(vt, c, &p, sv, HZ_EV_READ, NULL));
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(n == 0, "nothing due yet (n=%d)", n);
    close_fd(&sv[1]);
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].fd == sv[0], "peer close must be reported (n=%d)", n);
    CHECK(ev[0].events & (HZ_EV_READ | HZ_EV_HUP), "READ and/or HUP expected (events 0x%x)",
          ev[0].events);
    CHECK(pc_read(vt, p, sv[0], &b, 1) == 0, "the reader must then see EOF");
    CHECK(vt->remove(p, sv[0]) == 0, "remove");

    PASS_IF(is_cio(vt)); /* sockets only */
    CHECK(make_pipe(pf) == 0, "pipe: %s", strerror(errno));
    CHECK(vt->add(p, pf[0], HZ_EV_READ, NULL) == 0, "add pipe");
    close_fd(&pf[1]);
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].fd == pf[0] && (ev[0].events & (HZ_EV_READ | HZ_EV_HUP)),
          "pipe writer close must be reported as READ and/or HUP (n=%d)", n);
    CHECK(read(pf[0], &b, 1) == 0, "the pipe reader must then see EOF");
    rc = PC_PASS;
out:
    close_pair(pf);
    return close_all(vt, p, sv, rc);
}

int pc_peer_close_wakes_writer(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, sv[2] = {-1, -1};
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    TRY(open_pair(vt, c, &p, sv, NO_ADD, NULL));
    if (is_cio(vt)) { /* its budget fills through the poller */
        CHECK(vt->add(p, sv[0], HZ_EV_WRITE, NULL) == 0, "add");
        CHECK(pc_fill(vt, p, sv[0]) == 0, "fill");
    } else {
        CHECK(fill(sv[0]) == 0, "fill: %s", strerror(errno));
        CHECK(vt->add(p, sv[0], HZ_EV_WRITE, NULL) == 0, "add");
    }
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(n == 0, "a full socket was reported (n=%d events 0x%x)", n, n > 0 ? ev[0].events : 0);
    /* A writer blocked on a full buffer must learn that its peer is gone. */
    close_fd(&sv[1]);
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].fd == sv[0], "peer close must wake the writer (n=%d)", n);
    CHECK(ev[0].events & (HZ_EV_WRITE | HZ_EV_HUP | HZ_EV_ERR),
          "WRITE, HUP or ERR expected (events 0x%x)", ev[0].events);
    rc = PC_PASS;
out:
    return close_all(vt, p, sv, rc);
}

int pc_modify(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, sv[2] = {-1, -1}, ta, tb;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    TRY(open_pair(vt, c, &p, sv, HZ_EV_READ, &ta));
    CHECK(send1(sv[1]) == 0, "write");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].events == HZ_EV_READ && ev[0].udata == &ta, "READ with &ta (n=%d)", n);

    /* Readable and writable now; each interest set must be honoured. */
    CHECK(vt->modify(p, sv[0], HZ_EV_WRITE, &tb) == 0, "modify to WRITE");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].fd == sv[0], "one entry expected (n=%d)", n);
    CHECK(ev[0].events == HZ_EV_WRITE, "WRITE only after modify (events 0x%x)", ev[0].events);
    CHECK(ev[0].udata == &tb, "modify must replace udata");

    CHECK(vt->modify(p, sv[0], 0, &tb) == 0, "modify to 0");
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(n == 0, "interest 0: nothing may be reported (n=%d events 0x%x)", n,
          n > 0 ? ev[0].events : 0);

    CHECK(vt->modify(p, sv[0], HZ_EV_READ | HZ_EV_WRITE, &ta) == 0, "modify to both");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].events == (HZ_EV_READ | HZ_EV_WRITE) && ev[0].udata == &ta,
          "READ|WRITE with &ta expected (n=%d events 0x%x)", n, n > 0 ? ev[0].events : 0);

    CHECK(vt->modify(p, sv[0], HZ_EV_READ, &tb) == 0, "modify back to READ");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].events == HZ_EV_READ && ev[0].udata == &tb,
          "READ with &tb expected (n=%d events 0x%x)", n, n > 0 ? ev[0].events : 0);
    rc = PC_PASS;
out:
    return close_all(vt, p, sv, rc);
}

int pc_remove_mid_batch(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, i, handled = 0, a[2] = {-1, -1}, b[2] = {-1, -1}, ta, tb;
    int first = -1, other = -1;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    CHECK(vt->create(&p, &hz_allocator_default) == 0, "create");
    CHECK(make_pair(a) == 0 && make_pair(b) == 0, "socketpair: %s", strerror(errno));
    CHECK(vt->add(p, a[0], HZ_EV_READ, &ta) == 0 && vt->add(p, b[0], HZ_EV_READ, &tb) == 0, "add");
    CHECK(send1(a[1]) == 0 && send1(b[1]) == 0, "write");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 2, "both fds in one batch expected, got %d", n);
    /* Dispatch as the core does: the first handler removes the other fd. */
    for (i = 0; i < n; i++) {
        if (ev[i].events == 0)
            continue;
        handled++;
        if (i == 0) {
            first = ev[0].fd;
            other = first == a[0] ? b[0] : a[0];
            CHECK(vt->remove(p, other) == 0, "remove from a handler");
        }
    }
    CHECK(handled == 1, "the removed fd's entry was still dispatched (handled %d)", handled);
    CHECK(ev[1].events == 0, "its events must be 0 (0x%x)", ev[1].events);
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(n == 1 && ev[0].fd == first, "only the remaining fd may be reported (n=%d)", n);
    CHECK(count_fd(ev, n, other, NULL) == 0, "a removed fd was reported");
    rc = PC_PASS;
out:
    close_pair(b);
    return close_all(vt, p, a, rc);
}

int pc_remove_then_reuse_fd(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, old, sv[2] = {-1, -1}, nv[2] = {-1, -1}, t1, t2;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    TRY(open_pair(vt, c, &p, sv, HZ_EV_READ, &t1));
    CHECK(send1(sv[1]) == 0, "write");
    /* Removing itself from its own handler blanks its entry too. */
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].fd == sv[0], "READ expected (n=%d)", n);
    CHECK(vt->remove(p, sv[0]) == 0, "remove");
    CHECK(ev[0].events == 0, "own entry must be blanked (0x%x)", ev[0].events);
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(n == 0, "a removed fd with pending data was reported (n=%d)", n);

    /* A new socket under the same number (dup2 replaces it atomically, so
     * no other thread can take the number in between) must be a fresh
     * registration with the new udata. */
    old = sv[0];
    CHECK(make_pair(nv) == 0, "socketpair: %s", strerror(errno));
    CHECK(dup2(nv[0], old) == old, "dup2: %s", strerror(errno));
    sv[0] = -1; /* that socket is closed now; old names the new one */
    close_fd(&nv[0]);
    nv[0] = old;
    CHECK(vt->add(p, nv[0], HZ_EV_READ, &t2) == 0, "add of a reused fd number");
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(n == 0, "the new socket has no data yet (n=%d)", n);
    CHECK(send1(nv[1]) == 0, "write");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].fd == old && ev[0].udata == &t2, "new registration expected (n=%d)", n);
    rc = PC_PASS;
out:
    close_pair(nv);
    return close_all(vt, p, sv, rc);
}

int pc_einval(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, r, sv[2] = {-1, -1};
    hz_poller *p = NULL;
    hz_poll_event ev[4];
    TRY(open_pair(vt, c, &p, sv, NO_ADD, NULL));
    CHECK((r = vt->add(p, -1, HZ_EV_READ, NULL)) == HZ_EINVAL, "add(-1) gave %d", r);
    CHECK((r = vt->modify(p, sv[0], HZ_EV_READ, NULL)) == HZ_EINVAL,
          "modify of an unregistered fd gave %d", r);
    CHECK((r = vt->remove(p, sv[0])) == HZ_EINVAL, "remove of an unregistered fd gave %d", r);
    CHECK((r = vt->modify(p, -1, HZ_EV_READ, NULL)) == HZ_EINVAL, "modify(-1) gave %d", r);
    CHECK((r = vt->remove(p, -1)) == HZ_EINVAL, "remove(-1) gave %d", r);
    CHECK(vt->add(p, sv[0], HZ_EV_READ, NULL) == 0, "add");
    CHECK((r = vt->add(p, sv[0], HZ_EV_WRITE, NULL)) == HZ_EINVAL, "second add gave %d", r);
    CHECK(vt->remove(p, sv[0]) == 0, "remove");
    CHECK((r = vt->remove(p, sv[0])) == HZ_EINVAL, "second remove gave %d", r);
    CHECK((r = vt->modify(p, sv[0], HZ_EV_READ, NULL)) == HZ_EINVAL, "modify after remove gave %d",
          r);
    CHECK((r = vt->wait(p, ev, 0, 0)) == HZ_EINVAL, "wait(max=0) gave %d", r);
    CHECK((r = vt->wait(p, ev, -1, 0)) == HZ_EINVAL, "wait(max=-1) gave %d", r);
    /* The failed calls left the poller usable. */
    CHECK(vt->add(p, sv[0], HZ_EV_WRITE, NULL) == 0, "add after the errors");
    r = vt->wait(p, ev, 4, POS_MS);
    CHECK(r == 1 && (ev[0].events & HZ_EV_WRITE), "WRITE expected (n=%d)", r);
    rc = PC_PASS;
out:
    return close_all(vt, p, sv, rc);
}

typedef struct waker_arg {
    const hz_poller_vt *vt;
    hz_poller *p;
    int times;
    int rc; /* first non-zero wake() result */
} waker_arg;

static void *waker(void *arg)
{
    waker_arg *w = arg;
    for (int i = 0; i < w->times; i++) {
        int r = w->vt->wake(w->p);
        if (r && !w->rc)
            w->rc = r;
    }
    return NULL;
}

static int is_wake_entry(const hz_poll_event *e)
{
    return e->events == HZ_EV_WAKE && e->fd == -1 && e->udata == NULL;
}

int pc_wake_other_thread(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, sv[2] = {-1, -1};
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    pthread_t th;
    TRY(open_pair(vt, c, &p, sv, HZ_EV_READ, NULL));
    /* wait(-1) on an idle poller returns only through the wake. Whether the
     * thread's wake lands before or during wait(), the contract says wait()
     * returns; many rounds make "during" happen too. */
    for (int round = 0; round < 20; round++) {
        waker_arg w = {vt, p, 1, 0};
        CHECK(pthread_create(&th, NULL, waker, &w) == 0, "pthread_create");
        n = vt->wait(p, ev, 16, -1);
        pthread_join(th, NULL);
        CHECK(w.rc == 0, "wake() returned %d", w.rc);
        CHECK(n == 1, "one wake entry expected, got %d (round %d)", n, round);
        CHECK(is_wake_entry(&ev[0]),
              "wake entry must be {NULL, -1, HZ_EV_WAKE}, got {%p, %d, 0x%x}", ev[0].udata,
              ev[0].fd, ev[0].events);
    }
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(n == 0, "a wake is consumed by the entry that reports it (n=%d)", n);
    rc = PC_PASS;
out:
    return close_all(vt, p, sv, rc);
}

int pc_wake_coalesces(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    pthread_t th[4];
    waker_arg w[4];
    CHECK(vt->create(&p, &hz_allocator_default) == 0, "create");
    for (int i = 0; i < 3; i++)
        CHECK(vt->wake(p) == 0, "wake");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && is_wake_entry(&ev[0]), "three wakes: one entry expected, got %d", n);
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(n == 0, "the wakes were coalesced and consumed (n=%d)", n);

    /* Many wakes from several threads at once, none waiting: one entry. */
    for (int i = 0; i < 4; i++) {
        w[i] = (waker_arg){vt, p, 200, 0};
        CHECK(pthread_create(&th[i], NULL, waker, &w[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        CHECK(w[i].rc == 0, "wake() from thread %d returned %d", i, w[i].rc);
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && is_wake_entry(&ev[0]), "800 wakes: one entry expected, got %d", n);
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(n == 0, "the wakes were coalesced and consumed (n=%d)", n);
    rc = PC_PASS;
out:
    vt->destroy(p);
    return rc;
}

static const hz_poller_vt *sig_vt;
static hz_poller *sig_p;
static volatile sig_atomic_t sig_wake_rc = 1, sig_errno_kept;

static void wake_handler(int sig)
{
    (void)sig;
    errno = 4242;
    sig_wake_rc = sig_vt->wake(sig_p);
    sig_errno_kept = errno == 4242;
}

int pc_wake_from_signal(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, installed = 0;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    struct sigaction sa, old;
    CHECK(vt->create(&p, &hz_allocator_default) == 0, "create");
    sig_vt = vt;
    sig_p = p;
    sig_wake_rc = 1;
    sig_errno_kept = 0;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = wake_handler;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR2, &sa, &old) == 0, "sigaction");
    installed = 1;
    /* wake() is async-signal-safe: a handler may call it (and errno, which
     * the interrupted code may be about to read, survives). */
    CHECK(raise(SIGUSR2) == 0, "raise");
    CHECK(sig_wake_rc == 0, "wake() in a signal handler returned %d", (int)sig_wake_rc);
    CHECK(sig_errno_kept, "wake() in a signal handler changed errno");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && is_wake_entry(&ev[0]), "the handler's wake must be reported (n=%d)", n);
    rc = PC_PASS;
out:
    if (installed)
        sigaction(SIGUSR2, &old, NULL);
    vt->destroy(p);
    return rc;
}

int pc_wake_with_ready_fd(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, i = 0, sv[2] = {-1, -1}, tag;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    TRY(open_pair(vt, c, &p, sv, HZ_EV_READ, &tag));
    CHECK(send1(sv[1]) == 0, "write");
    CHECK(vt->wake(p) == 0, "wake");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 2, "a wake entry and the fd expected, got %d", n);
    CHECK(count_fd(ev, n, -1, &i) == 1 && is_wake_entry(&ev[i]), "one wake entry expected");
    CHECK(count_fd(ev, n, sv[0], &i) == 1 && ev[i].events == HZ_EV_READ && ev[i].udata == &tag,
          "the fd's READ entry expected");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].fd == sv[0], "then only the still-readable fd (n=%d)", n);
    rc = PC_PASS;
out:
    return close_all(vt, p, sv, rc);
}

int pc_timeout(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, sv[2] = {-1, -1};
    long t0, dt;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    TRY(open_pair(vt, c, &p, sv, HZ_EV_READ, NULL));
    t0 = now_ms();
    n = vt->wait(p, ev, 16, 0);
    dt = now_ms() - t0;
    CHECK(n == 0 && dt < 1000, "wait(0) must return 0 at once (n=%d, %ld ms)", n, dt);
    t0 = now_ms();
    n = vt->wait(p, ev, 16, 150);
    dt = now_ms() - t0;
    CHECK(n == 0, "timeout must return 0, got %d", n);
    /* 10 ms of slack for clock granularity between the kernel and us. */
    CHECK(dt >= 140, "returned after %ld ms, before the 150 ms timeout", dt);
    CHECK(dt < 5000, "returned after %ld ms for a 150 ms timeout", dt);
    rc = PC_PASS;
out:
    return close_all(vt, p, sv, rc);
}

int pc_many_fds(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, made = 0, seen_count = 0;
    int(*pairs)[2] = NULL;
    unsigned char *seen = NULL;
    hz_poll_event *ev = NULL;
    hz_poller *p = NULL;
    long t0;
    if (ensure_nofile(2 * MANY_FDS + 64) < 0)
        SKIP("cannot raise RLIMIT_NOFILE to %d: %s", 2 * MANY_FDS + 64, strerror(errno));
    pairs = calloc(MANY_FDS, sizeof(*pairs));
    seen = calloc(MANY_FDS, 1);
    ev = calloc(MANY_FDS + 16, sizeof(*ev));
    CHECK(pairs && seen && ev, "calloc");
    for (int i = 0; i < MANY_FDS; i++)
        pairs[i][0] = pairs[i][1] = -1;
    CHECK(vt->create(&p, &hz_allocator_default) == 0, "create");
    for (made = 0; made < MANY_FDS; made++) {
        CHECK(make_pair(pairs[made]) == 0, "socketpair %d: %s", made, strerror(errno));
        CHECK(vt->add(p, pairs[made][0], HZ_EV_READ, seen + made) == 0, "add %d", made);
    }
    for (int i = 0; i < MANY_FDS; i++)
        CHECK(send1(pairs[i][1]) == 0, "write %d", i);
    /* Read each reported fd so it is reported once; every fd must turn up.
     * The first wait's max exceeds any initial buffer of a backend. */
    t0 = now_ms();
    while (seen_count < MANY_FDS && now_ms() - t0 < 30000) {
        n = vt->wait(p, ev, MANY_FDS + 16, POS_MS);
        CHECK(n > 0, "wait returned %d with %d fds still ready", n, MANY_FDS - seen_count);
        for (int i = 0; i < n; i++) {
            unsigned char *u = ev[i].udata;
            CHECK(u >= seen && u < seen + MANY_FDS, "entry %d has a foreign udata", i);
            long k = u - seen;
            CHECK(ev[i].fd == pairs[k][0], "udata of fd %d came with fd %d", pairs[k][0], ev[i].fd);
            CHECK(!seen[k], "fd %d reported again after it was drained", ev[i].fd);
            CHECK(ev[i].events == HZ_EV_READ, "READ expected (0x%x)", ev[i].events);
            CHECK(pc_drain(vt, p, ev[i].fd) == 1, "one byte expected on fd %d", ev[i].fd);
            seen[k] = 1;
            seen_count++;
        }
    }
    CHECK(seen_count == MANY_FDS, "%d of %d fds reported", seen_count, MANY_FDS);
    n = vt->wait(p, ev, MANY_FDS + 16, NEG_MS);
    CHECK(n == 0, "all drained, yet %d reported", n);
    for (int i = 0; i < MANY_FDS; i++)
        CHECK(vt->remove(p, pairs[i][0]) == 0, "remove %d", i);
    rc = PC_PASS;
out:
    vt->destroy(p);
    for (int i = 0; pairs && i < MANY_FDS; i++)
        close_pair(pairs[i]);
    free(pairs);
    free(seen);
    free(ev);
    return rc;
}

static atomic_int eintr_hits;

static void eintr_handler(int sig)
{
    (void)sig;
    atomic_fetch_add(&eintr_hits, 1);
}

typedef struct signaller_arg {
    pthread_t target;
    atomic_int done;
} signaller_arg;

/* Signals the waiting thread until it reports that wait() returned: a signal
 * that lands before wait() blocks is simply followed by another one. */
static void *signaller(void *arg)
{
    signaller_arg *s = arg;
    for (int i = 0; i < 1500 && !atomic_load(&s->done); i++) {
        pthread_kill(s->target, SIGUSR1);
        poll(NULL, 0, 20);
    }
    return NULL;
}

int pc_eintr(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n = -100, installed = 0, started = 0;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    struct sigaction sa, old;
    sigset_t set;
    pthread_t th;
    signaller_arg s;
    CHECK(vt->create(&p, &hz_allocator_default) == 0, "create");
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = eintr_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the wait's syscall fails with EINTR */
    CHECK(sigaction(SIGUSR1, &sa, &old) == 0, "sigaction");
    installed = 1;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    atomic_store(&eintr_hits, 0);
    s.target = pthread_self();
    atomic_init(&s.done, 0);
    CHECK(pthread_create(&th, NULL, signaller, &s) == 0, "pthread_create");
    started = 1;
    n = vt->wait(p, ev, 16, -1);
    atomic_store(&s.done, 1);
    pthread_join(th, NULL);
    started = 0;
    CHECK(atomic_load(&eintr_hits) > 0, "the handler never ran");
    CHECK(n == 0, "an interrupted wait must return 0, got %d (%s)", n, hz_strerror(n));
    rc = PC_PASS;
out:
    if (started) {
        atomic_store(&s.done, 1);
        pthread_join(th, NULL);
    }
    if (installed)
        sigaction(SIGUSR1, &old, NULL);
    vt->destroy(p);
    return rc;
}

int pc_create_enomem(const hz_poller_vt *vt, pc_ctx *c)
{
    static char sentinel_obj;
#define SENTINEL ((hz_poller *)(void *)&sentinel_obj)
    int rc = PC_FAIL, r, before, after;
    long nth;
    hz_count_alloc ca;
    hz_poller *p = NULL;
    /* Fail the 1st, 2nd, ... allocation until create no longer allocates
     * that many times; both one-off and sticky failures. */
    for (int sticky = 0; sticky <= 1; sticky++) {
        for (nth = 1; nth < 1000; nth++) {
            hz_fail_alloc_init(&ca, nth, sticky);
            before = lowest_free_fd();
            p = SENTINEL; /* must be overwritten */
            r = vt->create(&p, &ca.iface);
            if (r == 0)
                break;
            if (p != NULL && p != SENTINEL) { /* a failed create that leaked its object */
                pc_fail(c, __LINE__, "*out must be NULL on failure (allocation %ld)", nth);
                p = NULL;
                goto out;
            }
            after = lowest_free_fd();
            CHECK(r == HZ_ENOMEM, "allocation %ld failed: want HZ_ENOMEM, got %d (%s)", nth, r,
                  hz_err_name(r));
            CHECK(p == NULL, "*out must be set to NULL on failure (allocation %ld)", nth);
            CHECK(atomic_load(&ca.failures) >= 1, "allocation %ld was not attempted", nth);
            CHECK(atomic_load(&ca.live_blocks) == 0, "%ld blocks leaked when allocation %ld failed",
                  atomic_load(&ca.live_blocks), nth);
            /* <=, not ==: libkqueue frees the internal fds of earlier,
             * destroyed kqueues from a thread of its own, at any time. */
            CHECK(after <= before, "an fd leaked when allocation %ld failed (%d -> %d)", nth,
                  before, after);
        }
        CHECK(r == 0, "create never succeeded");
        CHECK(nth > 1, "create must allocate through the given allocator");
        CHECK(atomic_load(&ca.failures) == 0, "create succeeded although an allocation failed");
        vt->destroy(p);
        p = NULL;
        CHECK(atomic_load(&ca.live_blocks) == 0, "destroy leaked %ld blocks",
              atomic_load(&ca.live_blocks));
        CHECK(atomic_load(&ca.size_mismatches) == 0, "free() told a wrong size");
    }
    rc = PC_PASS;
out:
    if (p != SENTINEL)
        vt->destroy(p);
    return rc;
#undef SENTINEL
}

int pc_counting_no_leak(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, i = 0, sv[2] = {-1, -1}, hi = -1;
    hz_count_alloc ca;
    hz_poller *p = NULL;
    static hz_poll_event ev[2048];
    /* A high fd number and a large max make table-based backends grow. */
    TRY(open_high_fd(vt, c, &ca, &p, sv, &hi));
    CHECK(vt->add(p, hi, HZ_EV_READ, &ca) == 0, "add of fd %d", hi);
    CHECK(send1(sv[1]) == 0, "write");
    n = vt->wait(p, ev, 2048, POS_MS);
    CHECK(count_fd(ev, n, hi, &i) == 1 && ev[i].udata == &ca, "READ on fd %d (n=%d)", hi, n);
    CHECK(vt->remove(p, hi) == 0, "remove");
    TRY(destroy_no_leak(vt, c, &p, &ca));
    CHECK(atomic_load(&ca.size_mismatches) == 0, "free()/realloc() told a wrong size");
    rc = PC_PASS;
out:
    close_fd(&hi);
    return close_all(vt, p, sv, rc);
}

int pc_add_enomem_keeps_poller(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, r, n, i = 0, sv[2] = {-1, -1}, hi = -1;
    hz_count_alloc ca;
    hz_poller *p = NULL;
    static hz_poll_event ev[2048];
    TRY(open_high_fd(vt, c, &ca, &p, sv, &hi));
    /* From now on every allocation fails. */
    atomic_store(&ca.fail_after, 1);
    atomic_store(&ca.fail_at, atomic_load(&ca.calls) + 1);
    r = vt->add(p, hi, HZ_EV_READ, NULL);
    CHECK(r == 0 || r == HZ_ENOMEM, "add under ENOMEM gave %d (%s)", r, hz_err_name(r));
    if (r == HZ_ENOMEM)
        CHECK(vt->remove(p, hi) == HZ_EINVAL, "a failed add must leave the fd unregistered");
    else
        CHECK(vt->remove(p, hi) == 0, "remove");
    CHECK(vt->add(p, sv[0], HZ_EV_READ, &ca) == 0, "add of a low fd under ENOMEM");
    CHECK(send1(sv[1]) == 0, "write");
    /* A max beyond the backend's buffer may give fewer entries, not fail. */
    n = vt->wait(p, ev, 2048, POS_MS);
    CHECK(n >= 0, "wait under ENOMEM gave %d (%s)", n, hz_err_name(n));
    CHECK(count_fd(ev, n, sv[0], &i) == 1 && ev[i].udata == &ca, "READ expected (n=%d)", n);
    CHECK(vt->wake(p) == 0, "wake under ENOMEM");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 2, "wake and READ expected (n=%d)", n);
    atomic_store(&ca.fail_at, 0);
    CHECK(vt->remove(p, sv[0]) == 0, "remove");
    TRY(destroy_no_leak(vt, c, &p, &ca));
    rc = PC_PASS;
out:
    close_fd(&hi);
    return close_all(vt, p, sv, rc);
}

/* ------------------------------------------------------------------------ */
/* the completion section (HZ_POLLER_CAP_COMPLETION only; others skip)      */
/* ------------------------------------------------------------------------ */

#define NEED_CIO()                                                                                 \
    do {                                                                                           \
        if (!is_cio(vt))                                                                           \
            SKIP("not a completion poller");                                                       \
    } while (0)

/* The start of the completion checks that use one socketpair: skipped
 * for a poller without completions, else open_pair with sv[0] registered
 * for READ; with roomy, both sockets' send and receive buffers at 1 MiB
 * (room in the socket for a whole output budget, or for a peer far ahead
 * of the reader). PC_PASS, PC_FAIL or PC_SKIP. */
static int open_cio_pair(const hz_poller_vt *vt, pc_ctx *c, hz_poller **p, int sv[2], int roomy)
{
    int rc = PC_FAIL, big = 1 << 20;
    NEED_CIO();
    TRY(open_pair(vt, c, p, sv, HZ_EV_READ, NULL));
    for (int i = 0; roomy && i < 2; i++) {
        CHECK(setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big)) == 0, "SO_SNDBUF");
        CHECK(setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)) == 0, "SO_RCVBUF");
    }
    rc = PC_PASS;
out:
    return rc;
}

static unsigned char pat(size_t i)
{
    return (unsigned char)((i * 7u + (i >> 9)) & 0xff);
}

/* The peer of a sending check reads what fd has into b[0..cap), checks it
 * against pat() from *got on and adds it to *got; *m gets read()'s result.
 * PC_PASS, or PC_FAIL on a wrong byte. */
static int read_pat(pc_ctx *c, int fd, unsigned char *b, size_t cap, size_t *got, ssize_t *m)
{
    *m = read(fd, b, cap);
    for (ssize_t q = 0; q < *m; q++)
        CHECK(b[q] == pat(*got + (size_t)q), "byte %zu differs", *got + (size_t)q);
    if (*m > 0)
        *got += (size_t)*m;
    return PC_PASS;
out:
    return PC_FAIL;
}

/* A non-blocking TCP listener on 127.0.0.1, port in *port; -1 on failure. */
static int tcp_listener(int *port)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0 || set_flags(fd) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static int tcp_connect(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* recv(): copies, PEEK leaves the bytes, partial reads, level-triggered
 * reporting of what is left, bytes spanning several buffers, EOF. */
int pc_c_recv(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, sv[2] = {-1, -1};
    long r;
    char b[4096];
    static unsigned char big[20000];
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    TRY(open_cio_pair(vt, c, &p, sv, 0));
    CHECK(vt->recv(p, sv[0], b, 10, 0) == HZ_EAGAIN, "nothing received yet");
    CHECK(write(sv[1], "hello world", 11) == 11, "write");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && (ev[0].events & HZ_EV_READ), "READ expected (n=%d)", n);
    CHECK(vt->recv(p, sv[0], b, 5, HZ_IO_PEEK) == 5 && !memcmp(b, "hello", 5), "peek");
    CHECK(vt->recv(p, sv[0], b, 5, 0) == 5 && !memcmp(b, "hello", 5), "recv after peek");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && (ev[0].events & HZ_EV_READ), "the rest must be reported again (n=%d)", n);
    CHECK((r = vt->recv(p, sv[0], b, sizeof(b), 0)) == 6 && !memcmp(b, " world", 6),
          "the rest (%ld)", r);
    CHECK(vt->recv(p, sv[0], b, 10, 0) == HZ_EAGAIN, "drained");
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(n == 0, "a drained fd was reported (n=%d)", n);
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = pat(i);
    CHECK(write(sv[1], big, sizeof(big)) == (ssize_t)sizeof(big), "write big");
    size_t got = 0;
    long t0 = now_ms();
    while (got < sizeof(big) && now_ms() - t0 < POS_MS) {
        vt->wait(p, ev, 16, 50);
        while ((r = vt->recv(p, sv[0], b, 1000, 0)) > 0) {
            for (long k = 0; k < r; k++)
                CHECK((unsigned char)b[k] == pat(got + (size_t)k), "byte %zu differs",
                      got + (size_t)k);
            got += (size_t)r;
        }
        CHECK(r == HZ_EAGAIN, "recv gave %ld", r);
    }
    CHECK(got == sizeof(big), "%zu of %zu bytes received", got, sizeof(big));
    close_fd(&sv[1]);
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && (ev[0].events & HZ_EV_READ), "EOF must be reported (n=%d)", n);
    CHECK(vt->recv(p, sv[0], b, 10, 0) == 0, "EOF");
    CHECK(vt->remove(p, sv[0]) == 0, "remove");
    CHECK(vt->close(p, sv[0]) == 0, "close");
    sv[0] = -1;
    rc = PC_PASS;
out:
    return close_all(vt, p, sv, rc);
}

/* send(): copies in order across the budget (EAGAIN, then WRITE), and
 * shutdown() then close() still deliver everything queued, then EOF. */
int pc_c_send_order_close(const hz_poller_vt *vt, pc_ctx *c)
{
    enum { TOTAL = 1 << 20 };
    int rc = PC_FAIL, sv[2] = {-1, -1}, eagain = 0, write_seen = 0, eof = 0;
    static unsigned char src[TOTAL];
    unsigned char b[65536];
    size_t sent = 0, got = 0;
    ssize_t m;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    TRY(open_cio_pair(vt, c, &p, sv, 0));
    for (size_t i = 0; i < TOTAL; i++)
        src[i] = pat(i);
    CHECK(vt->queued(p, sv[0]) == 0, "queued before any send");
    CHECK(vt->queued(p, sv[1]) == 0, "queued of an fd never added");
    long t0 = now_ms();
    while (sent < TOTAL && now_ms() - t0 < 10 * POS_MS) {
        size_t k = TOTAL - sent < 7777 ? TOTAL - sent : 7777;
        struct iovec v[2] = {{(void *)(src + sent), k / 2},
                             {(void *)(src + sent + k / 2), k - k / 2}};
        size_t q0 = vt->queued(p, sv[0]);
        long r = vt->send(p, sv[0], v, 2);
        if (r > 0) {
            /* What send() took is queued until a wait() hands it over. */
            CHECK(vt->queued(p, sv[0]) == q0 + (size_t)r, "queued %zu after %zu + %ld",
                  vt->queued(p, sv[0]), q0, r);
            sent += (size_t)r;
            continue;
        }
        CHECK(r == HZ_EAGAIN, "send gave %ld", r);
        eagain++;
        CHECK(vt->modify(p, sv[0], HZ_EV_READ | HZ_EV_WRITE, NULL) == 0, "modify");
        /* The peer reads only once the budget is used: WRITE must follow. */
        for (int round = 0; round < 100; round++) {
            TRY(read_pat(c, sv[1], b, sizeof(b), &got, &m));
            int n = vt->wait(p, ev, 16, 20);
            if (count_fd(ev, n, sv[0], NULL)) {
                write_seen++;
                break;
            }
        }
        CHECK(vt->modify(p, sv[0], HZ_EV_READ, NULL) == 0, "modify");
    }
    CHECK(sent == TOTAL, "only %zu of %d bytes taken", sent, TOTAL);
    CHECK(eagain > 0, "a 1 MiB write never met the budget");
    CHECK(write_seen > 0, "WRITE never reported after EAGAIN");
    /* The peer reads on: the queue empties (the kernel took everything). */
    t0 = now_ms();
    while (vt->queued(p, sv[0]) && now_ms() - t0 < 10 * POS_MS) {
        TRY(read_pat(c, sv[1], b, sizeof(b), &got, &m));
        vt->wait(p, ev, 16, 20);
    }
    CHECK(vt->queued(p, sv[0]) == 0, "%zu bytes still queued", vt->queued(p, sv[0]));
    CHECK(vt->shutdown(p, sv[0]) == 0, "shutdown");
    CHECK(vt->remove(p, sv[0]) == 0, "remove");
    CHECK(vt->close(p, sv[0]) == 0, "close");
    sv[0] = -1;
    t0 = now_ms();
    while (!eof && now_ms() - t0 < 10 * POS_MS) {
        TRY(read_pat(c, sv[1], b, sizeof(b), &got, &m));
        if (m > 0)
            continue;
        if (m == 0) {
            eof = 1;
            break;
        }
        vt->wait(p, ev, 16, 20); /* the poller writes during wait() */
    }
    CHECK(got == TOTAL, "the peer got %zu of %d bytes", got, TOTAL);
    CHECK(eof, "no EOF after the close");
    rc = PC_PASS;
out:
    return close_all(vt, p, sv, rc);
}

/* accept(): multishot accepting, EAGAIN when none, pause and restart with
 * modify(), and remove() closing what was accepted but not taken. */
int pc_c_accept(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, n, port = 0, lfd = -1, tag, cl[5] = {-1, -1, -1, -1, -1},
        fds[5] = {-1, -1, -1, -1, -1};
    int nacc = 0;
    char b;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    NEED_CIO();
    CHECK(vt->create(&p, &hz_allocator_default) == 0, "create");
    CHECK((lfd = tcp_listener(&port)) >= 0, "listener: %s", strerror(errno));
    CHECK(vt->add(p, lfd, HZ_EV_READ | HZ_EV_ACCEPT, &tag) == 0, "add listener");
    n = vt->wait(p, ev, 16, NEG_MS);
    CHECK(n == 0, "no connection yet (n=%d)", n);
    CHECK(vt->accept(p, lfd) == HZ_EAGAIN, "accept without a connection");
    for (int i = 0; i < 3; i++)
        CHECK((cl[i] = tcp_connect(port)) >= 0, "connect: %s", strerror(errno));
    long t0 = now_ms();
    while (nacc < 3 && now_ms() - t0 < POS_MS) {
        n = vt->wait(p, ev, 16, 50);
        CHECK(n >= 0, "wait");
        if (n)
            CHECK(ev[0].fd == lfd && ev[0].udata == &tag && (ev[0].events & HZ_EV_READ),
                  "READ on the listener (events 0x%x)", ev[0].events);
        int fd;
        while ((fd = vt->accept(p, lfd)) >= 0)
            fds[nacc++] = fd;
        CHECK(fd == HZ_EAGAIN, "accept gave %d", fd);
    }
    CHECK(nacc == 3, "%d of 3 connections accepted", nacc);
    /* An accepted fd is an ordinary connection for the same poller. */
    CHECK(vt->add(p, fds[0], HZ_EV_READ, NULL) == 0, "add accepted");
    CHECK(write(cl[0], "z", 1) == 1, "write");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].fd == fds[0], "READ on the accepted fd (n=%d)", n);
    CHECK(vt->recv(p, fds[0], &b, 1, 0) == 1 && b == 'z', "recv on the accepted fd");
    CHECK(vt->remove(p, fds[0]) == 0, "remove accepted");
    CHECK(vt->close(p, fds[0]) == 0, "close accepted");
    fds[0] = -1;
    /* Paused: nothing is reported, the kernel keeps the backlog. */
    CHECK(vt->modify(p, lfd, 0, &tag) == 0, "pause");
    CHECK((cl[3] = tcp_connect(port)) >= 0, "connect");
    n = vt->wait(p, ev, 16, 2 * NEG_MS);
    CHECK(n == 0, "a paused listener was reported (n=%d)", n);
    CHECK(vt->modify(p, lfd, HZ_EV_READ | HZ_EV_ACCEPT, &tag) == 0, "restart");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].fd == lfd, "READ after the restart (n=%d)", n);
    CHECK((fds[3] = vt->accept(p, lfd)) >= 0, "accept after the restart");
    /* Accepted and never taken: remove() closes it (the client sees EOF). */
    CHECK((cl[4] = tcp_connect(port)) >= 0, "connect");
    n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && ev[0].fd == lfd, "READ for the last one (n=%d)", n);
    CHECK(vt->remove(p, lfd) == 0, "remove listener");
    struct timeval tv = {.tv_sec = 2};
    setsockopt(cl[4], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    CHECK(read(cl[4], &b, 1) == 0, "a connection accepted and dropped must see EOF");
    CHECK(vt->close(p, lfd) == 0, "close listener");
    lfd = -1;
    rc = PC_PASS;
out:
    for (int i = 0; i < 5; i++) {
        close_fd(&cl[i]);
        close_fd(&fds[i]);
    }
    close_fd(&lfd);
    vt->destroy(p);
    return rc;
}

/* destroy() (optionally after quiesce()) with operations outstanding:
 * receives armed, a send blocked on a full socket, a closed fd still
 * draining, a listener with an accepted fd not taken. Nothing leaks: no
 * memory, no descriptor (run under ASan in CI). */
static int destroy_inflight(const hz_poller_vt *vt, pc_ctx *c, int quiesce)
{
    enum { NP = 16 };
    int rc = PC_FAIL, n, port = 0, lfd = -1, cl = -1, pr[NP][2], blk[2] = {-1, -1};
    int drn[2] = {-1, -1}, before;
    hz_count_alloc ca;
    hz_poller *p = NULL;
    hz_poll_event ev[64];
    static const char chunk[65536];
    for (int i = 0; i < NP; i++)
        pr[i][0] = pr[i][1] = -1;
    NEED_CIO();
    hz_count_alloc_init(&ca);
    before = lowest_free_fd();
    CHECK(vt->create(&p, &ca.iface) == 0, "create");
    CHECK((lfd = tcp_listener(&port)) >= 0, "listener");
    CHECK(vt->add(p, lfd, HZ_EV_READ | HZ_EV_ACCEPT, NULL) == 0, "add listener");
    for (int i = 0; i < NP; i++) {
        CHECK(make_pair(pr[i]) == 0, "socketpair");
        CHECK(vt->add(p, pr[i][0], HZ_EV_READ, NULL) == 0, "add");
        if (i & 1)
            CHECK(write(pr[i][1], "abc", 3) == 3, "write"); /* received, never read */
    }
    CHECK(make_pair(blk) == 0 && make_pair(drn) == 0, "socketpair");
    CHECK(vt->add(p, blk[0], HZ_EV_READ, NULL) == 0 && vt->add(p, drn[0], HZ_EV_READ, NULL) == 0,
          "add");
    CHECK((cl = tcp_connect(port)) >= 0, "connect");
    /* More than a socket buffer (1 MiB each, through the poller's queue
     * as it empties): a send stays in flight. */
    size_t qb = 0, qd = 0;
    for (int i = 0; i < 200 && (qb < (1u << 20) || qd < (1u << 20)); i++) {
        struct iovec v = {.iov_base = (void *)chunk, .iov_len = sizeof(chunk)};
        long r = 0;
        while (qb < (1u << 20) && (r = vt->send(p, blk[0], &v, 1)) > 0)
            qb += (size_t)r;
        CHECK(qb >= (1u << 20) || r == HZ_EAGAIN, "send: %ld", r);
        while (qd < (1u << 20) && (r = vt->send(p, drn[0], &v, 1)) > 0)
            qd += (size_t)r;
        CHECK(qd >= (1u << 20) || r == HZ_EAGAIN, "send: %ld", r);
        vt->wait(p, ev, 64, 10);
    }
    CHECK(qb > 0 && qd > 0, "nothing taken");
    n = vt->wait(p, ev, 64, 100);
    CHECK(n > 0, "wait (n=%d)", n);
    n = vt->wait(p, ev, 64, 20);
    CHECK(vt->shutdown(p, drn[0]) == 0, "shutdown");
    CHECK(vt->remove(p, drn[0]) == 0, "remove");
    CHECK(vt->close(p, drn[0]) == 0, "close with output queued");
    drn[0] = -1; /* the poller's to close now */
    if (quiesce)
        vt->quiesce(p, 50);
    TRY(destroy_no_leak(vt, c, &p, &ca));
    CHECK(atomic_load(&ca.size_mismatches) == 0, "free() told a wrong size");
    rc = PC_PASS;
out:
    vt->destroy(p);
    close_fd(&lfd);
    close_fd(&cl);
    close_pair(blk);
    close_pair(drn);
    for (int i = 0; i < NP; i++)
        close_pair(pr[i]);
    /* Needs everything closed, so it comes last, once the rest passed. */
    if (rc == PC_PASS && lowest_free_fd() != before) {
        pc_fail(c, __LINE__, "a descriptor leaked (lowest free %d, was %d)", lowest_free_fd(),
                before);
        rc = PC_FAIL;
    }
    return rc;
}

int pc_c_destroy_inflight(const hz_poller_vt *vt, pc_ctx *c)
{
    return destroy_inflight(vt, c, 0);
}

int pc_c_quiesce_inflight(const hz_poller_vt *vt, pc_ctx *c)
{
    return destroy_inflight(vt, c, 1);
}

/* Idle connections hold no receive buffer: the poller's memory does not
 * grow with connections that received and were read (the buffers are the
 * ring's, shared by all). */
int pc_c_idle_no_buffer(const hz_poller_vt *vt, pc_ctx *c)
{
    enum { NP = 64 };
    int rc = PC_FAIL, pr[NP][2], done = 0;
    long base;
    char b[512];
    hz_count_alloc ca;
    hz_poller *p = NULL;
    hz_poll_event ev[NP];
    for (int i = 0; i < NP; i++)
        pr[i][0] = pr[i][1] = -1;
    NEED_CIO();
    hz_count_alloc_init(&ca);
    CHECK(vt->create(&p, &ca.iface) == 0, "create");
    for (int i = 0; i < NP; i++)
        CHECK(make_pair(pr[i]) == 0, "socketpair");
    vt->wait(p, ev, NP, 0);
    base = atomic_load(&ca.live_bytes);
    for (int i = 0; i < NP; i++)
        CHECK(vt->add(p, pr[i][0], HZ_EV_READ, NULL) == 0, "add");
    for (int i = 0; i < NP; i++)
        CHECK(write(pr[i][1], "GET / HTTP/1.1\r\n\r\n", 18) == 18, "write");
    long t0 = now_ms();
    while (done < NP && now_ms() - t0 < POS_MS) {
        int n = vt->wait(p, ev, NP, 50);
        for (int i = 0; i < n; i++)
            if (vt->recv(p, ev[i].fd, b, sizeof(b), 0) == 18)
                done++;
    }
    CHECK(done == NP, "%d of %d requests read", done, NP);
    CHECK(vt->wait(p, ev, NP, NEG_MS) == 0, "all were read");
    CHECK(atomic_load(&ca.live_bytes) == base,
          "idle connections cost %ld bytes of poller memory (%d connections)",
          atomic_load(&ca.live_bytes) - base, NP);
    rc = PC_PASS;
out:
    vt->destroy(p);
    for (int i = 0; i < NP; i++)
        close_pair(pr[i]);
    return rc;
}

/* Queued output leaves within one wait() even though a send that the
 * socket takes at once posts no completion to end the wait (io_uring's
 * fast sends): every queued block goes, WRITE after a full budget comes
 * without waiting out the timeout, and a lone response is on the wire when
 * wait() returns. */
int pc_c_send_no_completion(const hz_poller_vt *vt, pc_ctx *c)
{
    enum { CHUNK = 10000, TOTAL = 1 << 19 };
    int rc = PC_FAIL, sv[2] = {-1, -1}, n, idx;
    static unsigned char src[TOTAL];
    unsigned char b[65536];
    size_t sent = 0, got = 0;
    ssize_t m;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    TRY(open_cio_pair(vt, c, &p, sv, 1)); /* room for the whole budget in the socket */
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = pat(i);
    /* Fill the budget (the poller queues; nothing is submitted yet). */
    for (int round = 0; round < 3; round++) {
        size_t before = sent;
        for (;;) {
            CHECK(sent + CHUNK <= TOTAL, "the budget took %zu bytes", sent);
            struct iovec v = {(void *)(src + sent), CHUNK};
            long r = vt->send(p, sv[0], &v, 1);
            if (r == HZ_EAGAIN)
                break;
            CHECK(r > 0, "send gave %ld", r);
            sent += (size_t)r;
        }
        CHECK(sent - before >= 16384, "only %zu bytes queued before EAGAIN", sent - before);
        if (round == 0) {
            /* One wait with nothing to report hands over every block. */
            n = vt->wait(p, ev, 16, 300);
            CHECK(n == 0, "nothing to report (n=%d)", n);
            CHECK(vt->queued(p, sv[0]) == 0, "%zu bytes still queued after the wait",
                  vt->queued(p, sv[0]));
        } else {
            /* WRITE wanted with the budget used: reported as soon as the
             * kernel took the bytes, not at the end of a long timeout. */
            CHECK(vt->modify(p, sv[0], HZ_EV_READ | HZ_EV_WRITE, NULL) == 0, "modify");
            long t0 = now_ms();
            n = vt->wait(p, ev, 16, 10 * POS_MS);
            CHECK(count_fd(ev, n, sv[0], &idx) == 1 && (ev[idx].events & HZ_EV_WRITE),
                  "WRITE expected (n=%d)", n);
            CHECK(now_ms() - t0 < POS_MS, "WRITE came after %ld ms", now_ms() - t0);
            CHECK(vt->modify(p, sv[0], HZ_EV_READ, NULL) == 0, "modify");
            long t1 = now_ms();
            while (vt->queued(p, sv[0]) && now_ms() - t1 < POS_MS)
                vt->wait(p, ev, 16, 50);
            CHECK(vt->queued(p, sv[0]) == 0, "%zu bytes still queued", vt->queued(p, sv[0]));
        }
        while (got < sent) {
            TRY(read_pat(c, sv[1], b, sizeof(b), &got, &m));
            CHECK(m > 0, "the peer has %zu of %zu bytes", got, sent);
        }
    }
    /* A lone small response: on the wire when wait() returns. */
    {
        struct iovec v = {(void *)(src + sent), 100};
        CHECK(vt->send(p, sv[0], &v, 1) == 100, "send 100");
        sent += 100;
        n = vt->wait(p, ev, 16, NEG_MS);
        CHECK(n == 0, "nothing to report (n=%d)", n);
        TRY(read_pat(c, sv[1], b, sizeof(b), &got, &m));
        CHECK(got == sent, "the peer has %zu of %zu bytes", got, sent);
    }
    rc = PC_PASS;
out:
    return close_all(vt, p, sv, rc);
}

/* A send to a peer that is gone fails on the connection: reported by
 * wait(), and the next send() gives the error, not EAGAIN or success. */
int pc_c_send_error(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, sv[2] = {-1, -1}, n, idx;
    long r = 0;
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    TRY(open_cio_pair(vt, c, &p, sv, 0));
    close_fd(&sv[1]);
    struct iovec v = {(void *)"HTTP/1.1 200 OK\r\n\r\n", 19};
    CHECK(vt->send(p, sv[0], &v, 1) == 19, "the first send is queued");
    long t0 = now_ms();
    int seen = 0;
    while (now_ms() - t0 < POS_MS) {
        n = vt->wait(p, ev, 16, 50);
        if (count_fd(ev, n, sv[0], &idx))
            seen |= (int)ev[idx].events;
        r = vt->send(p, sv[0], &v, 1);
        if (r < 0 && r != HZ_EAGAIN)
            break;
    }
    CHECK(r < 0 && r != HZ_EAGAIN, "send after the failure gave %ld", r);
    CHECK(seen & (HZ_EV_READ | HZ_EV_ERR), "the failure was not reported (events %x)", seen);
    CHECK(vt->queued(p, sv[0]) == 0, "%zu bytes queued on a failed fd", vt->queued(p, sv[0]));
    rc = PC_PASS;
out:
    return close_all(vt, p, sv, rc);
}

/* A send is accounted by the wait() that submitted it even when that
 * wait's completions queue more work (here: a reader 64 KiB behind, whose
 * receive the poller pauses): queued() is 0 when wait() returns and the
 * peer has the bytes. */
int pc_c_send_while_behind(const hz_poller_vt *vt, pc_ctx *c)
{
    int rc = PC_FAIL, sv[2] = {-1, -1};
    static char in[65536];
    char b[256];
    hz_poller *p = NULL;
    hz_poll_event ev[16];
    TRY(open_cio_pair(vt, c, &p, sv, 1)); /* room for the peer's 64 KiB */
    CHECK(write(sv[1], in, sizeof(in)) == (ssize_t)sizeof(in), "the peer's 64 KiB");
    struct iovec v = {(void *)"HTTP/1.1 200 OK\r\n\r\n", 19};
    CHECK(vt->send(p, sv[0], &v, 1) == 19, "send");
    int n = vt->wait(p, ev, 16, POS_MS);
    CHECK(n == 1 && (ev[0].events & HZ_EV_READ), "READ expected (n=%d)", n);
    CHECK(vt->queued(p, sv[0]) == 0, "%zu bytes still queued after the wait", vt->queued(p, sv[0]));
    CHECK(read(sv[1], b, sizeof(b)) == 19, "the peer has the response");
    long got = 0, t0 = now_ms();
    while (got < (long)sizeof(in) && now_ms() - t0 < POS_MS) {
        long r;
        while ((r = vt->recv(p, sv[0], b, sizeof(b), 0)) > 0)
            got += r;
        vt->wait(p, ev, 16, 20);
    }
    CHECK(got == (long)sizeof(in), "%ld of %zu bytes received", got, sizeof(in));
    rc = PC_PASS;
out:
    return close_all(vt, p, sv, rc);
}

/* Batches are fair: with more fds readable than one wait() may report and
 * every one of them staying readable (each read takes a byte of many), every
 * fd is reported within a few waits; the first ones cannot keep the rest
 * out (epoll re-queues a reported level-triggered fd at the end; a poller
 * keeping its own list must rotate it). */
int pc_fair_batches(const hz_poller_vt *vt, pc_ctx *c)
{
    enum { NP = 40, MAXEV = 16, WAITS = 2 * ((NP + MAXEV - 1) / MAXEV) };
    int rc = PC_FAIL, pr[NP][2], seen[NP] = {0}, nseen = 0;
    char b[4096];
    hz_poller *p = NULL;
    hz_poll_event ev[MAXEV];
    for (int i = 0; i < NP; i++)
        pr[i][0] = pr[i][1] = -1;
    memset(b, 'x', sizeof(b));
    CHECK(vt->create(&p, &hz_allocator_default) == 0, "create");
    for (int i = 0; i < NP; i++) {
        CHECK(make_pair(pr[i]) == 0, "socketpair");
        CHECK(vt->add(p, pr[i][0], HZ_EV_READ, (void *)(intptr_t)(i + 1)) == 0, "add");
        CHECK(write(pr[i][1], b, 2000) == 2000, "write");
    }
    /* Let every fd's bytes arrive (a completion poller receives them in
     * the background of its waits) before counting. */
    for (int w = 0; w < 20; w++) {
        int n = vt->wait(p, ev, MAXEV, 20);
        CHECK(n >= 0, "wait %d", n);
    }
    for (int w = 0; w < WAITS && nseen < NP; w++) {
        int n = vt->wait(p, ev, MAXEV, POS_MS);
        CHECK(n > 0 && n <= MAXEV, "wait gave %d", n);
        for (int k = 0; k < n; k++) {
            int i = (int)(intptr_t)ev[k].udata - 1;
            CHECK(i >= 0 && i < NP && (ev[k].events & HZ_EV_READ), "entry %d", k);
            CHECK(pc_read(vt, p, pr[i][0], b, 1) == 1, "read one byte of fd %d", i);
            if (!seen[i]++)
                nseen++;
        }
    }
    CHECK(nseen == NP, "%d of %d readable fds reported in %d waits of %d entries", nseen, NP, WAITS,
          MAXEV);
    rc = PC_PASS;
out:
    vt->destroy(p);
    for (int i = 0; i < NP; i++)
        close_pair(pr[i]);
    return rc;
}

#define PC(name)                                                                                   \
    {                                                                                              \
#name, pc_##name                                                                           \
    }
const pc_case pc_cases[] = {
    PC(meta),
    PC(readable),
    PC(writable),
    PC(level_triggered),
    PC(read_write_one_entry),
    PC(peer_close),
    PC(peer_close_wakes_writer),
    PC(modify),
    PC(remove_mid_batch),
    PC(remove_then_reuse_fd),
    PC(einval),
    PC(wake_other_thread),
    PC(wake_coalesces),
    PC(wake_from_signal),
    PC(wake_with_ready_fd),
    PC(timeout),
    PC(many_fds),
    PC(eintr),
    PC(create_enomem),
    PC(counting_no_leak),
    PC(add_enomem_keeps_poller),
    PC(c_recv),
    PC(c_send_order_close),
    PC(c_accept),
    PC(c_destroy_inflight),
    PC(c_quiesce_inflight),
    PC(c_idle_no_buffer),
    PC(c_send_no_completion),
    PC(c_send_error),
    PC(c_send_while_behind),
    PC(fair_batches),
    {NULL, NULL},
};
const unsigned pc_ncases = sizeof(pc_cases) / sizeof(pc_cases[0]) - 1;
