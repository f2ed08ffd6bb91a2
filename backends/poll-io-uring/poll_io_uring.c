/* poll_io_uring.c - the poller vtable over io_uring: completion I/O
 * (HZ_POLLER_CAP_COMPLETION; docs/backends.md, "Completion pollers").
 *
 * Exports exactly: const hz_poller_vt hz_poller_io_uring;
 *
 * The core keeps its readiness view: wait() reports READ while bytes the
 * kernel already received (into this poller's provided buffer ring) wait
 * for recv(), WRITE while send() has room, and the core moves bytes with
 * the recv/send slots, which copy. In the kernel everything is completion
 * based: one multishot accept per listener, one multishot receive per
 * connection selecting buffers from one ring per poller (a connection holds
 * a buffer only between the receive and the core's recv(), so an idle one
 * holds none), one send in flight per connection (MSG_WAITALL: a short send
 * only on error), and a single io_uring_enter per wait() that submits what
 * the iteration queued and waits for completions.
 *
 * SINGLE_ISSUER | DEFER_TASKRUN (Linux 6.1) are required, not probed for a
 * fallback: a kernel without them fails create() with HZ_ENOTSUP and a
 * message on stderr, never a silent switch to epoll. Everything else used
 * (multishot accept 5.19, multishot receive 6.0, buffer rings 5.19,
 * EXT_ARG timeouts 5.11, CQE_SKIP 5.17, sparse registered file tables
 * 5.19, a send with MSG_DONTWAIT failing
 * with EAGAIN instead of waiting in the kernel, 5.x) is older than
 * DEFER_TASKRUN. Fast sends (flush_dirty(), fast_done()) rely on that
 * last one: run during the submit, silent when they sent everything.
 * The ring is created disabled and enabled by the first wait(), so its
 * single issuer is the loop thread rather than the thread that built the
 * server.
 *
 * user_data: connection and listener operations carry (gen << 32 | fd << 3
 * | kind), so a completion of a closed fd whose number was reused is
 * recognised as stale; a send carries its output block's address | kind.
 */
#if !defined(__linux__)
#error "backends/poll-io-uring needs Linux io_uring; configure with HZ_POLLER=auto"
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <liburing.h>
#include <httpz/httpz.h>
#include <httpz/backend.h>

/* The kernel fills provided buffers behind valgrind's back: without this
 * memcheck calls every received byte uninitialised. The client request is
 * a few no-op instructions outside valgrind. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define UR_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#define UR_ON_VALGRIND() RUNNING_ON_VALGRIND
#endif
#endif
#ifndef UR_DEFINED
#define UR_DEFINED(p, n) ((void)(p), (void)(n))
#define UR_ON_VALGRIND() 0
#endif
/* valgrind (3.19) runs io_uring_enter as a call that does not sleep: with
 * signals blocked and holding its big lock, so other threads stop and a
 * stop signal stays pending while a loop waits, and returning from the
 * call is not enough to have it delivered (it is, at a call valgrind knows
 * may block). Under valgrind a wait therefore lasts at most this long and
 * is followed by a zero-timeout poll(). Outside valgrind the check is a
 * few no-op instructions per wait. */
#define UR_VALGRIND_WAIT_MS 20

#define UR_SQ_ENTRIES 1024
#define UR_CQ_ENTRIES 8192
#define UR_BUF_SIZE 4096u /* one provided receive buffer */
#define UR_BUF_COUNT 512u /* buffers in the ring (power of two): 2 MiB */
/* Buffers given to the ring at first; it doubles when a wait() finds less
 * than a quarter of them free. The kernel takes buffers in ring order, so
 * every buffer ever given is touched (resident) soon: a loop serving few
 * connections at a time keeps 128 KiB resident rather than 2 MiB. */
#define UR_BUF_INIT 32u
#define UR_BGID 0          /* the buffer group */
#define UR_IN_MAX 8u       /* buffers a connection may hold unread: then its receive pauses */
#define UR_OUT_BLOCK 16384 /* an output block (bigger writes get a block of their size) */
/* Output bytes queued per fd (then send() says EAGAIN). User memory where
 * epoll's output waits in the kernel: the core counts it in the
 * connection's output budget (queued()). One send is in flight per fd and
 * must find the kernel's buffer not yet drained, or the connection sends
 * stop-and-wait: one 16 KiB block made a peer with a small receive window
 * 4x slower (tests/integration/test_streaming.c), four keep the pipe full. */
#define UR_OUT_BUDGET (4u * UR_OUT_BLOCK)
#define UR_OBLK_CACHE 64          /* spare standard blocks kept per poller */
#define UR_DRAIN_MS 10000         /* a closed fd's queued output: the longest wait */
#define UR_QUIESCE_CANCEL_MS 2000 /* waiting for cancelled operations to complete */
#define UR_INITIAL_SLOTS 1024
/* Entries one wait() reports at most. The responses to a batch's requests
 * are submitted by the next wait(), so a batch of 256 would hold the first
 * one's response until the 256th request was handled (epoll's sends go at
 * once); batches of 64 send them sooner, for one more enter per 64. */
#define UR_REPORT_MAX 64
/* The batching window (us): a wait() that would sleep while at least two
 * answered peers are expected to send waits for up to that many
 * completions, but takes what came once this long passed (and if nothing
 * came, waits on for one as usual). A reply to a request that arrives in
 * the window waits for the rest of it; in return each io_uring_enter and
 * each wake-up of the loop (and, with DEFER_TASKRUN, none of the peers'
 * sends) serves a batch of requests. docs/architecture.md, "Batching". */
#ifndef UR_BATCH_US
#define UR_BATCH_US 50
#endif

/* Sends name their socket by index fd in the ring's registered file table
 * (IOSQE_FIXED_FILE) for fds below this (and below RLIMIT_NOFILE at
 * create()), so the kernel takes no file reference per send (fget/fput:
 * about 2% of the server's CPU at 64 connections). 8 bytes of kernel
 * memory per entry. */
#define UR_FIXED_MAX 16384

enum { K_RECV = 1, K_ACCEPT = 2, K_SEND = 3, K_WAKE = 4, K_CANCEL = 5, K_SENDF = 6, K_FILES = 7 };
enum { S_FREE = 0, S_OPEN, S_DETACHED, S_CLOSING };

typedef struct ur_oblk {    /* owner: its slot's output queue, or the poller's orphans */
    struct ur_oblk *next;   /* owns: the next block of the queue */
    struct ur_oblk *fnext;  /* borrowed: the next block of the poller's fast-send list */
    int fd;                 /* the slot it belongs to (while not an orphan) */
    uint32_t cap, off, len; /* [off, len) not yet sent */
    uint32_t inflight;      /* bytes of the send in flight from off, 0 = none */
    int32_t fres;           /* a fast send's failure CQE result (fdone set) */
    unsigned orphan : 1;    /* its slot let go while in flight: freed at the CQE */
    unsigned fast : 1;      /* the send in flight is a fast one (MSG_DONTWAIT, no CQE on success) */
    unsigned fdone : 1;     /* the fast send's failure CQE was reaped (fres) */
    char data[];
} ur_oblk;

typedef struct ur_lq { /* owner: a listener's slot */
    int *fds;          /* owns: accepted fds not yet taken */
    unsigned head, n, cap;
    int err; /* HZ_EMFILE: accepting stopped, reported once by accept() */
} ur_lq;

/* The state of an fd while it sends (or listens): output queued or in
 * flight, a listener's queue. Allocated by the first send(), freed when
 * modify() or remove() finds the output gone (an idle keep-alive
 * connection: the core parks it with a modify(), docs/architecture.md
 * "Parked connections"), so a parked fd costs the poller only its ur_slot
 * (32 bytes). Received input needs no allocation (buffer ids in the slot). */
typedef struct ur_act {        /* owner: its slot */
    ur_oblk *out_head;         /* owns: queued output, in order */
    ur_oblk *out_tail;         /* borrowed: the last block of out_head's list */
    ur_lq *lq;                 /* owns: listeners only */
    uint64_t drain_until;      /* S_CLOSING: ms */
    uint32_t out_bytes;        /* queued output not yet sent */
    unsigned sending : 1;      /* a send is in flight (out_head's) */
    unsigned shut_pending : 1; /* shutdown(SHUT_WR) once the output is sent */
    unsigned slow : 1;         /* the socket was full: the next send waits in the kernel */
} ur_act;

/* Indexed by fd, for every fd number the table covers: kept small. */
typedef struct ur_slot {
    void *udata;            /* borrowed: the caller's */
    ur_act *act;            /* owns: NULL while the fd has no output (and is no listener) */
    uint32_t gen;           /* bumped by add(): stale completions are told apart */
    int16_t in_head;        /* received buffers (ids), in order; -1: none */
    int16_t in_tail;        /* the last of them; -1: none */
    uint16_t in_off;        /* consumed bytes of the first received buffer */
    uint8_t in_n;           /* buffers held */
    int8_t err;             /* HZ_E* (all > -128): the connection failed (after its input) */
    uint8_t state : 2;      /* S_* */
    uint8_t interest : 2;   /* HZ_EV_READ | HZ_EV_WRITE */
    uint8_t listener : 1;   /* registered with HZ_EV_ACCEPT */
    uint8_t armed : 1;      /* the multishot receive or accept is in the kernel */
    uint8_t cancelling : 1; /* its cancel was queued */
    uint8_t eof : 1;        /* the receive saw the end of the stream */
    uint8_t nobufs : 1;     /* the receive stopped for want of buffers */
    uint8_t in_lvl : 1, in_dirty : 1, in_rearm : 1, in_drain : 1;
    uint8_t answered : 1; /* its answer went whole to the kernel, no input since (nanswered) */
    uint8_t fixq : 1;     /* its file was put in the ring's table (index fd): clear before close */
    uint8_t fixed : 1;    /* ... and the kernel confirmed it: sends use IOSQE_FIXED_FILE */
} ur_slot;
_Static_assert(sizeof(ur_slot) <= 32, "ur_slot is per fd number: keep it small");
_Static_assert(UR_BUF_COUNT <= 32767 && UR_BUF_SIZE <= 65535 && UR_IN_MAX <= 255,
               "buffer ids, offsets and counts fit the slot's fields");

/* A list of fds (each at most once, by a flag in its slot); cap = nslots. */
typedef struct ur_list {
    int *v; /* owns */
    unsigned n;
} ur_list;

struct hz_poller {                /* owner: whoever called create (a loop) */
    hz_allocator a;               /* copied from create */
    struct io_uring ring;         /* owns */
    int ring_ok;                  /* ring initialised */
    int enabled;                  /* IORING_REGISTER_ENABLE_RINGS done by the loop thread */
    int quiesced;                 /* quiesce() ran: nothing in flight */
    int wakefd;                   /* owns: eventfd read by a K_WAKE operation */
    uint64_t wakebuf;             /* the wake read's target */
    int wake_armed, woken;        /* read in flight / completed since the last report */
    struct io_uring_buf_ring *br; /* owns (mmap): the provided buffer ring */
    size_t br_size;
    char *bufs;                  /* owns: UR_BUF_COUNT * UR_BUF_SIZE */
    uint32_t blen[UR_BUF_COUNT]; /* received bytes in buffer i */
    int bnext[UR_BUF_COUNT];     /* next buffer of the same connection, -1 */
    unsigned avail;              /* buffers in the ring */
    unsigned posted;             /* buffers [0, posted) given to the ring so far */
    int dry;                     /* a receive found the ring empty since the last wait() */
    ur_slot *slots;              /* owns: indexed by fd */
    size_t nslots;               /* slots allocated */
    size_t ninit;                /* slots [0, ninit) initialised (above: untouched memory) */
    ur_list lvl;                 /* fds that may have something to report */
    ur_list dirty;               /* fds with output to submit */
    ur_list rearm;               /* fds whose receive waits for buffers */
    ur_list drain;               /* S_CLOSING fds */
    unsigned inflight;           /* operations that will still complete */
    int sq_short;                /* an arm() found the submission queue full */
    ur_oblk *spare;              /* owns: standard blocks kept for reuse */
    unsigned nspare;
    ur_oblk *orphans; /* borrowed: blocks in flight for a closed fd (counted only) */
    unsigned norphans;
    ur_oblk *fast;       /* borrowed: blocks of fast sends submitted, not yet accounted */
    int fast_urgent;     /* a fast send's end has something to report or to send next */
    unsigned fast_seq;   /* the SQ tail after the last fast send: submitted once the head passes */
    unsigned nanswered;  /* slots with answered set: peers whose next bytes may come soon */
    unsigned batch_miss; /* batching windows in a row that caught fewer than two entries */
    unsigned batch_skip; /* waits left to make without a window */
    unsigned nfixed;     /* entries of the ring's registered file table */
    unsigned upd_next;   /* the next upd[] entry */
    int upd[UR_SQ_ENTRIES]; /* the fds of file table updates not yet submitted */
    unsigned gen;           /* batch generation */
    hz_poll_event *batch;   /* borrowed: the array of the last wait() */
    int batch_len;
};

/* ---- small helpers ------------------------------------------------------------ */

static uint64_t ur_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t ud_make(int fd, unsigned gen, unsigned kind)
{
    return ((uint64_t)gen << 32) | ((uint64_t)(uint32_t)fd << 3) | kind;
}

static void list_add(ur_list *l, int fd)
{
    l->v[l->n++] = fd;
}

static void lvl_add(hz_poller *p, int fd)
{
    ur_slot *s = &p->slots[fd];
    if (!s->in_lvl) {
        s->in_lvl = 1;
        list_add(&p->lvl, fd);
    }
}

static void ans_clear(hz_poller *p, ur_slot *s)
{
    if (s->answered) {
        s->answered = 0;
        p->nanswered--;
    }
}

/* The fd's answer was submitted (or sent) whole and nothing of the peer's
 * is unread: its peer may talk next (a request after a response). */
static void ans_set(hz_poller *p, ur_slot *s)
{
    if (!s->answered && s->in_head < 0 && (s->interest & HZ_EV_READ) && !s->eof && !s->err) {
        s->answered = 1;
        p->nanswered++;
    }
}

/* An SQE, flushing the queue to the kernel when it is full (loop thread,
 * ring enabled). NULL only if even that failed. */
static struct io_uring_sqe *ur_sqe(hz_poller *p)
{
    if (!p->ring_ok)
        return NULL; /* destroy() after the ring went */
    struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);
    if (!sqe && p->enabled) {
        io_uring_submit(&p->ring);
        sqe = io_uring_get_sqe(&p->ring);
    }
    return sqe;
}

/* Puts fd's file in the ring's table at index fd; its sends use the index
 * once the completion confirms it (until then, the descriptor). Only once
 * the loop thread runs the ring: an update queued before could not be
 * cleared in order if the queue filled up. */
static void fixed_install(hz_poller *p, int fd)
{
    ur_slot *s = &p->slots[fd];
    if (!p->enabled || (unsigned)fd >= p->nfixed)
        return;
    struct io_uring_sqe *sqe = ur_sqe(p);
    if (!sqe)
        return;
    /* The kernel reads the value when it runs the update: at the next
     * submit, before UR_SQ_ENTRIES more updates could reuse the entry. */
    int *v = &p->upd[p->upd_next++ % UR_SQ_ENTRIES];
    *v = fd;
    io_uring_prep_files_update(sqe, v, 1, fd);
    io_uring_sqe_set_data64(sqe, ud_make(fd, s->gen, K_FILES));
    s->fixq = 1;
    p->inflight++;
}

/* Takes fd's file out of the table: the table holds a reference, so
 * closing the descriptor would not close the socket. Queued behind the
 * operations that still name index fd (the kernel resolves it when it
 * issues them, in order). */
static void fixed_clear(hz_poller *p, int fd)
{
    static int none = -1; /* read by the kernel */
    ur_slot *s = &p->slots[fd];
    if (!s->fixq || !p->ring_ok)
        return; /* (the table went with the ring) */
    s->fixq = s->fixed = 0;
    struct io_uring_sqe *sqe = ur_sqe(p);
    if (sqe) {
        io_uring_prep_files_update(sqe, &none, 1, fd);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        io_uring_sqe_set_data64(sqe, K_CANCEL);
        return;
    }
    int v = -1; /* the queue cannot take it: at once */
    io_uring_register_files_update(&p->ring, (unsigned)fd, &v, 1);
}

static void ur_cancel(hz_poller *p, uint64_t ud)
{
    struct io_uring_sqe *sqe = ur_sqe(p);
    if (!sqe)
        return; /* the operation ends with the fd or at quiesce() */
    io_uring_prep_cancel64(sqe, ud, 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, K_CANCEL);
}

/* Gives the ring n more buffers of the pool (fewer if it has them all). */
static void pool_grow(hz_poller *p, unsigned n)
{
    if (n > UR_BUF_COUNT - p->posted)
        n = UR_BUF_COUNT - p->posted;
    for (unsigned i = 0; i < n; i++) {
        unsigned bid = p->posted + i;
        io_uring_buf_ring_add(p->br, p->bufs + (size_t)bid * UR_BUF_SIZE, UR_BUF_SIZE,
                              (unsigned short)bid, io_uring_buf_ring_mask(UR_BUF_COUNT), (int)i);
    }
    io_uring_buf_ring_advance(p->br, (int)n);
    p->posted += n;
    p->avail += n;
}

/* Gives buffer bid back to the ring. */
static void buf_return(hz_poller *p, int bid)
{
    io_uring_buf_ring_add(p->br, p->bufs + (size_t)bid * UR_BUF_SIZE, UR_BUF_SIZE,
                          (unsigned short)bid, io_uring_buf_ring_mask(UR_BUF_COUNT), 0);
    io_uring_buf_ring_advance(p->br, 1);
    p->avail++;
}

static void in_drop(hz_poller *p, ur_slot *s)
{
    while (s->in_head >= 0) {
        int b = s->in_head;
        s->in_head = (int16_t)p->bnext[b];
        buf_return(p, b);
    }
    s->in_tail = -1;
    s->in_n = 0;
    s->in_off = 0;
}

/* The slot's active state, allocated if it has none: NULL on ENOMEM. */
static ur_act *act_get(hz_poller *p, ur_slot *s)
{
    if (s->act)
        return s->act;
    ur_act *a = hz_alloc(&p->a, sizeof(*a));
    if (!a)
        return NULL;
    memset(a, 0, sizeof(*a));
    s->act = a;
    return a;
}

/* Frees the slot's active state when it holds nothing: no output queued
 * or in flight, no listener queue, no pending shutdown. */
static void act_release(hz_poller *p, ur_slot *s)
{
    ur_act *a = s->act;
    if (a && !a->out_head && !a->lq && !a->shut_pending) {
        hz_alloc_free(&p->a, a, sizeof(*a));
        s->act = NULL;
    }
}

/* Frees the slot's active state whatever it holds (its parts are gone). */
static void act_free(hz_poller *p, ur_slot *s)
{
    hz_alloc_free(&p->a, s->act, sizeof(*s->act));
    s->act = NULL;
}

static void oblk_free(hz_poller *p, ur_oblk *b)
{
    if (b->cap == UR_OUT_BLOCK && p->nspare < UR_OBLK_CACHE) {
        b->next = p->spare;
        p->spare = b;
        p->nspare++;
        return;
    }
    hz_alloc_free(&p->a, b, sizeof(*b) + b->cap);
}

static ur_oblk *oblk_new(hz_poller *p, uint32_t cap)
{
    ur_oblk *b;
    if (cap <= UR_OUT_BLOCK && p->spare) {
        b = p->spare;
        p->spare = b->next;
        p->nspare--;
    } else {
        if (cap < UR_OUT_BLOCK)
            cap = UR_OUT_BLOCK;
        b = hz_alloc(&p->a, sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->cap = cap;
    }
    b->next = b->fnext = NULL;
    b->off = b->len = b->inflight = 0;
    b->orphan = b->fast = b->fdone = 0;
    return b;
}

/* Drops the slot's queued output; a block in flight becomes an orphan,
 * freed by its completion. */
static void out_drop(hz_poller *p, ur_slot *s)
{
    ur_act *a = s->act;
    if (!a)
        return;
    ur_oblk *b = a->out_head;
    while (b) {
        ur_oblk *next = b->next;
        if (b->inflight) {
            b->orphan = 1;
            b->next = p->orphans;
            p->orphans = b;
            p->norphans++;
            if (!b->fast) /* a fast send is over when its enter returns */
                ur_cancel(p, (uint64_t)(uintptr_t)b | K_SEND);
        } else {
            oblk_free(p, b);
        }
        b = next;
    }
    a->out_head = a->out_tail = NULL;
    a->out_bytes = 0;
    a->sending = 0;
    a->shut_pending = 0;
}

static void lq_free(hz_poller *p, ur_slot *s, int close_fds)
{
    ur_lq *q = s->act ? s->act->lq : NULL;
    if (!q)
        return;
    if (close_fds)
        for (unsigned i = 0; i < q->n; i++)
            close(q->fds[(q->head + i) % q->cap]);
    hz_alloc_free(&p->a, q->fds, sizeof(*q->fds) * q->cap);
    hz_alloc_free(&p->a, q, sizeof(*q));
    s->act->lq = NULL;
}

/* The multishot receive (or accept, for a listener) when the slot wants
 * it and does not have it. */
static void arm(hz_poller *p, int fd)
{
    ur_slot *s = &p->slots[fd];
    if (s->state != S_OPEN || s->armed || !(s->interest & HZ_EV_READ))
        return;
    if (s->listener) {
        if (s->act->lq->err)
            return; /* reported first; modify() restarts */
    } else if (s->eof || s->err || s->in_n >= UR_IN_MAX / 2) {
        return;
    }
    if (!s->listener && p->avail == 0) {
        s->nobufs = 1;
        if (!s->in_rearm) {
            s->in_rearm = 1;
            list_add(&p->rearm, fd);
        }
        return;
    }
    struct io_uring_sqe *sqe = ur_sqe(p);
    if (!sqe) {
        /* The queue is full before the loop thread enabled the ring (fds
         * added by the thread that built the server): at the first wait(). */
        s->nobufs = 1;
        p->sq_short = 1;
        if (!s->in_rearm) {
            s->in_rearm = 1;
            list_add(&p->rearm, fd);
        }
        return;
    }
    if (s->listener) {
        io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, ud_make(fd, s->gen, K_ACCEPT));
    } else {
        io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = UR_BGID;
        io_uring_sqe_set_data64(sqe, ud_make(fd, s->gen, K_RECV));
    }
    s->armed = 1;
    s->cancelling = 0;
    s->nobufs = 0;
    p->inflight++;
}

static void disarm(hz_poller *p, int fd)
{
    ur_slot *s = &p->slots[fd];
    if (s->armed && !s->cancelling) {
        s->cancelling = 1;
        ur_cancel(p, ud_make(fd, s->gen, s->listener ? K_ACCEPT : K_RECV));
    }
}

/* The poller closes fd (S_CLOSING, or closing at once). */
static void slot_close_now(hz_poller *p, int fd)
{
    ur_slot *s = &p->slots[fd];
    if (s->act && s->act->shut_pending && !s->err)
        shutdown(fd, SHUT_WR);
    in_drop(p, s);
    out_drop(p, s);
    lq_free(p, s, 1);
    act_free(p, s);
    fixed_clear(p, fd);
    close(fd);
    ans_clear(p, s);
    s->state = S_FREE;
    s->udata = NULL;
    s->interest = 0;
    s->err = 0;
    s->eof = s->listener = 0;
}

/* ---- create / destroy ------------------------------------------------------------ */

static void ur_reap_all(hz_poller *p);
static void fast_done(hz_poller *p);
static int ur_drain_inflight(hz_poller *p, int ms);

static void ur_destroy(hz_poller *p)
{
    if (!p)
        return;
    if (p->ring_ok) {
        /* Normally quiesce() did this on the loop thread. Otherwise try
         * here: it works when this thread is the ring's issuer (or the
         * ring never ran); elsewhere the issuer thread has left the ring
         * and the kernel fails what is left instead of running it. */
        if (!p->quiesced && (p->inflight || p->fast))
            ur_drain_inflight(p, UR_QUIESCE_CANCEL_MS);
        ur_reap_all(p); /* accepted fds already posted are closed */
        fast_done(p);
        p->fast = NULL; /* never submitted: out_drop() below frees those blocks */
        io_uring_queue_exit(&p->ring);
        p->ring_ok = 0;
    }
    for (size_t fd = 0; fd < p->ninit && p->slots; fd++) {
        ur_slot *s = &p->slots[fd];
        if (s->state == S_CLOSING) {
            s->act->shut_pending = 0;
            slot_close_now(p, (int)fd);
        } else if (s->act) {
            out_drop(p, s);
            lq_free(p, s, 1);
            act_free(p, s);
        }
    }
    while (p->orphans) {
        ur_oblk *b = p->orphans;
        p->orphans = b->next;
        hz_alloc_free(&p->a, b, sizeof(*b) + b->cap);
    }
    while (p->spare) {
        ur_oblk *b = p->spare;
        p->spare = b->next;
        hz_alloc_free(&p->a, b, sizeof(*b) + b->cap);
    }
    if (p->wakefd >= 0)
        close(p->wakefd);
    if (p->br)
        munmap(p->br, p->br_size);
    hz_alloc_free(&p->a, p->bufs, (size_t)UR_BUF_COUNT * UR_BUF_SIZE);
    hz_alloc_free(&p->a, p->slots, sizeof(*p->slots) * p->nslots);
    hz_alloc_free(&p->a, p->lvl.v, sizeof(int) * p->nslots);
    hz_alloc_free(&p->a, p->dirty.v, sizeof(int) * p->nslots);
    hz_alloc_free(&p->a, p->rearm.v, sizeof(int) * p->nslots);
    hz_alloc_free(&p->a, p->drain.v, sizeof(int) * p->nslots);
    hz_alloc_free(&p->a, p, sizeof(*p));
}

static int ur_unsupported(const char *what, int err)
{
    fprintf(stderr,
            "httpz: the io_uring poller cannot run here: %s (%s). It needs Linux >= 6.1 "
            "with io_uring enabled (sysctl kernel.io_uring_disabled = 0); use the epoll "
            "poller (HZ_POLLER=auto, or hz_config.poller = &hz_poller_epoll).\n",
            what, strerror(err));
    return HZ_ENOTSUP;
}

/* Grows the slot table and the fd lists to n entries: all or nothing (new
 * blocks are copied, so a failure leaves the old ones as they were). Only
 * the initialised slots are copied: the rest is initialised by add() when
 * an fd number first reaches it, so a big table's memory above the highest
 * fd number stays untouched (not resident). */
static int slots_grow(hz_poller *p, size_t n)
{
    size_t old = p->nslots;
    ur_slot *s = hz_alloc(&p->a, sizeof(*s) * n);
    ur_list *lists[4] = {&p->lvl, &p->dirty, &p->rearm, &p->drain};
    int *v[4] = {NULL, NULL, NULL, NULL};
    int ok = s != NULL;
    for (int i = 0; i < 4 && ok; i++)
        ok = (v[i] = hz_alloc(&p->a, sizeof(int) * n)) != NULL;
    if (!ok) {
        for (int i = 0; i < 4; i++)
            hz_alloc_free(&p->a, v[i], sizeof(int) * n);
        hz_alloc_free(&p->a, s, sizeof(*s) * n);
        return HZ_ENOMEM;
    }
    if (p->ninit)
        memcpy(s, p->slots, sizeof(*s) * p->ninit);
    hz_alloc_free(&p->a, p->slots, sizeof(*s) * old);
    p->slots = s;
    /* The lists hold each fd at most once: nslots entries always fit. */
    for (int i = 0; i < 4; i++) {
        if (lists[i]->n)
            memcpy(v[i], lists[i]->v, sizeof(int) * lists[i]->n);
        hz_alloc_free(&p->a, lists[i]->v, sizeof(int) * old);
        lists[i]->v = v[i];
    }
    p->nslots = n;
    return 0;
}

static int ur_create(hz_poller **out, const hz_allocator *a)
{
    int rc;
    *out = NULL;
    if ((rc = hz_allocator_check(a)) < 0)
        return rc;
    hz_poller *p = hz_alloc_zero(a, sizeof(*p));
    if (!p)
        return HZ_ENOMEM;
    p->a = *a;
    p->wakefd = -1;
    if (slots_grow(p, UR_INITIAL_SLOTS) < 0) {
        rc = HZ_ENOMEM;
        goto fail;
    }
    p->bufs = hz_alloc(a, (size_t)UR_BUF_COUNT * UR_BUF_SIZE);
    if (!p->bufs) {
        rc = HZ_ENOMEM;
        goto fail;
    }
    struct io_uring_params prm;
    memset(&prm, 0, sizeof(prm));
    prm.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED |
                IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
    prm.cq_entries = UR_CQ_ENTRIES;
    rc = io_uring_queue_init_params(UR_SQ_ENTRIES, &p->ring, &prm);
    if (rc < 0) {
        if (rc == -ENOMEM || rc == -EMFILE || rc == -ENFILE) {
            rc = hz_err_from_errno(-rc);
            goto fail;
        }
        rc = ur_unsupported(rc == -EINVAL ? "io_uring_setup refused SINGLE_ISSUER | DEFER_TASKRUN"
                                          : "io_uring_setup failed",
                            -rc);
        goto fail;
    }
    p->ring_ok = 1;
    unsigned need =
        IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL | IORING_FEAT_CQE_SKIP;
    if ((prm.features & need) != need) {
        rc = ur_unsupported("the kernel lacks EXT_ARG, NODROP, FAST_POLL or CQE_SKIP", ENOSYS);
        goto fail;
    }
    /* The buffer ring: page-aligned memory the kernel picks buffers from. */
    p->br_size = sizeof(struct io_uring_buf) * UR_BUF_COUNT;
    void *m = mmap(NULL, p->br_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        p->br = NULL;
        rc = HZ_ENOMEM;
        goto fail;
    }
    p->br = m;
    io_uring_buf_ring_init(p->br);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)p->br;
    reg.ring_entries = UR_BUF_COUNT;
    reg.bgid = UR_BGID;
    rc = io_uring_register_buf_ring(&p->ring, &reg, 0);
    if (rc < 0) {
        rc = ur_unsupported("provided buffer rings are missing", -rc);
        goto fail;
    }
    /* The registered file table (sparse: filled by fixed_install()). Not
     * liburing's call, which raises RLIMIT_NOFILE when the table exceeds it. */
    struct rlimit rl;
    unsigned nfix = UR_FIXED_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < nfix)
        nfix = (unsigned)rl.rlim_cur;
    struct io_uring_rsrc_register rr;
    memset(&rr, 0, sizeof(rr));
    rr.nr = nfix;
    rr.flags = IORING_RSRC_REGISTER_SPARSE;
    if (nfix && syscall(__NR_io_uring_register, p->ring.ring_fd, IORING_REGISTER_FILES2, &rr,
                        sizeof(rr)) < 0) {
        rc = errno == ENOMEM || errno == EMFILE
                 ? hz_err_from_errno(errno)
                 : ur_unsupported("a sparse registered file table is missing", errno);
        goto fail;
    }
    p->nfixed = nfix;
    for (unsigned i = 0; i < UR_BUF_COUNT; i++)
        p->bnext[i] = -1;
    pool_grow(p, UR_BUF_INIT);
    p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->wakefd < 0) {
        rc = hz_err_from_errno(errno);
        goto fail;
    }
    *out = p;
    return 0;
fail:
    ur_destroy(p);
    return rc;
}

/* ---- registration ------------------------------------------------------------- */

static ur_slot *slot_of(hz_poller *p, int fd, unsigned states)
{
    if (fd < 0 || (size_t)fd >= p->ninit)
        return NULL;
    ur_slot *s = &p->slots[fd];
    return ((1u << s->state) & states) ? s : NULL;
}

#define ST(x) (1u << (x))

static int ur_add(hz_poller *p, int fd, unsigned events, void *udata)
{
    if (fd < 0 || fd == p->wakefd || fd >= (1 << 28))
        return HZ_EINVAL;
    if ((size_t)fd >= p->nslots) {
        size_t n = p->nslots;
        while (n <= (size_t)fd)
            n *= 2;
        if (slots_grow(p, n) < 0)
            return HZ_ENOMEM;
    }
    if ((size_t)fd >= p->ninit) {
        memset(p->slots + p->ninit, 0, sizeof(*p->slots) * ((size_t)fd + 1 - p->ninit));
        p->ninit = (size_t)fd + 1;
    }
    ur_slot *s = &p->slots[fd];
    if (s->state == S_OPEN || s->state == S_CLOSING)
        return HZ_EINVAL;
    ur_lq *lq = NULL;
    ur_act *la = NULL;
    if (events & HZ_EV_ACCEPT) {
        lq = hz_alloc_zero(&p->a, sizeof(*lq));
        la = lq ? hz_alloc_zero(&p->a, sizeof(*la)) : NULL;
        if (!la) {
            hz_alloc_free(&p->a, lq, sizeof(*lq));
            return HZ_ENOMEM;
        }
        la->lq = lq;
    }
    if (s->state == S_DETACHED && s->act) {
        /* The caller closed the old fd itself and the number came back:
         * what was left of it goes (its completions are stale now). */
        in_drop(p, s);
        out_drop(p, s);
        lq_free(p, s, 1);
        act_free(p, s);
    }
    ans_clear(p, s);
    uint32_t gen = s->gen + 1;
    unsigned lvl = s->in_lvl, dirty = s->in_dirty, rearm = s->in_rearm, drain = s->in_drain;
    memset(s, 0, sizeof(*s));
    s->in_lvl = lvl & 1;
    s->in_dirty = dirty & 1;
    s->in_rearm = rearm & 1;
    s->in_drain = drain & 1;
    s->gen = gen;
    s->in_head = s->in_tail = -1;
    s->udata = udata;
    s->interest = events & (HZ_EV_READ | HZ_EV_WRITE);
    s->state = S_OPEN;
    s->listener = la != NULL;
    s->act = la;
    arm(p, fd);
    if (!la)
        fixed_install(p, fd);
    lvl_add(p, fd);
    return 0;
}

static int ur_modify(hz_poller *p, int fd, unsigned events, void *udata)
{
    ur_slot *s = slot_of(p, fd, ST(S_OPEN));
    if (!s)
        return HZ_EINVAL;
    s->udata = udata;
    s->interest = events & (HZ_EV_READ | HZ_EV_WRITE);
    ans_clear(p, s);
    if (s->listener) {
        if (events & HZ_EV_READ) {
            s->act->lq->err = 0; /* restart after EMFILE */
            arm(p, fd);
        } else {
            disarm(p, fd); /* paused: the kernel keeps the backlog */
        }
    } else {
        act_release(p, s); /* an idle (parked) connection keeps only its slot */
        if (events & HZ_EV_READ)
            arm(p, fd);
    }
    lvl_add(p, fd);
    return 0;
}

static void batch_blank(hz_poller *p, int fd)
{
    for (int i = 0; i < p->batch_len; i++) {
        if (p->batch[i].fd == fd) {
            p->batch[i].events = 0;
            p->batch[i].udata = NULL;
        }
    }
}

static int ur_remove(hz_poller *p, int fd)
{
    ur_slot *s = slot_of(p, fd, ST(S_OPEN));
    if (!s)
        return HZ_EINVAL;
    batch_blank(p, fd);
    disarm(p, fd);
    in_drop(p, s);
    ans_clear(p, s);
    fixed_clear(p, fd); /* the caller may close it (or hand it to close(), which drains) */
    if (s->listener)
        lq_free(p, s, 1); /* accepted, never handed out: like a closed backlog */
    act_release(p, s);    /* what stays: output still to send */
    s->udata = NULL;
    s->interest = 0;
    s->state = S_DETACHED;
    return 0;
}

/* ---- completion I/O ------------------------------------------------------------- */

static int ur_accept(hz_poller *p, int lfd)
{
    ur_slot *s = slot_of(p, lfd, ST(S_OPEN));
    if (!s || !s->listener)
        return HZ_EINVAL;
    ur_lq *q = s->act->lq;
    if (q->n) {
        int fd = q->fds[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
        return fd;
    }
    if (q->err) {
        int e = q->err;
        return e; /* stays set (no re-arm) until modify() restarts accepting */
    }
    return HZ_EAGAIN;
}

static long ur_recv(hz_poller *p, int fd, void *buf, size_t len, unsigned flags)
{
    ur_slot *s = slot_of(p, fd, ST(S_OPEN) | ST(S_DETACHED));
    if (!s || s->listener || !len)
        return HZ_EINVAL;
    size_t got = 0;
    if (flags & HZ_IO_PEEK) {
        uint32_t off = s->in_off;
        for (int b = s->in_head; b >= 0 && got < len; b = p->bnext[b], off = 0) {
            size_t k = p->blen[b] - off;
            if (k > len - got)
                k = len - got;
            memcpy((char *)buf + got, p->bufs + (size_t)b * UR_BUF_SIZE + off, k);
            got += k;
        }
    } else {
        while (s->in_head >= 0 && got < len) {
            int b = s->in_head;
            size_t k = p->blen[b] - s->in_off;
            if (k > len - got)
                k = len - got;
            memcpy((char *)buf + got, p->bufs + (size_t)b * UR_BUF_SIZE + s->in_off, k);
            got += k;
            s->in_off = (uint16_t)(s->in_off + k);
            if (s->in_off == p->blen[b]) {
                s->in_head = (int16_t)p->bnext[b];
                if (s->in_head < 0)
                    s->in_tail = -1;
                s->in_off = 0;
                s->in_n--;
                buf_return(p, b);
            }
        }
        if (!s->armed)
            arm(p, fd); /* it paused with a full queue, or the ring ran dry */
    }
    if (got) {
        if (s->in_head >= 0)
            lvl_add(p, fd); /* level-triggered: still readable */
        return (long)got;
    }
    if (s->err)
        return s->err;
    if (s->eof)
        return 0;
    return HZ_EAGAIN;
}

static long ur_send(hz_poller *p, int fd, const struct iovec *iov, int iovcnt)
{
    ur_slot *s = slot_of(p, fd, ST(S_OPEN) | ST(S_DETACHED));
    if (!s || s->listener || iovcnt <= 0 || iovcnt > 64)
        return HZ_EINVAL;
    if (s->err)
        return s->err;
    ur_act *a = act_get(p, s);
    if (!a)
        return HZ_ENOMEM;
    if (a->shut_pending)
        return HZ_ECLOSED;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (!total)
        return 0;
    if (!a->out_tail && total <= UR_OUT_BLOCK) {
        /* Nothing queued (the usual response): one block, filled whole. */
        ur_oblk *b = oblk_new(p, UR_OUT_BLOCK);
        if (b) {
            for (int i = 0; i < iovcnt; i++) {
                if (iov[i].iov_len)
                    memcpy(b->data + b->len, iov[i].iov_base, iov[i].iov_len);
                b->len += (uint32_t)iov[i].iov_len;
            }
            b->fd = fd;
            a->out_head = a->out_tail = b;
            a->out_bytes = (uint32_t)total;
            if (!s->in_dirty) {
                s->in_dirty = 1;
                list_add(&p->dirty, fd);
            }
            return (long)total;
        }
    }
    if (a->out_bytes >= UR_OUT_BUDGET)
        return HZ_EAGAIN;
    size_t room = UR_OUT_BUDGET - a->out_bytes;
    size_t want = total < room ? total : room;
    size_t taken = 0;
    int i = 0;
    size_t ioff = 0;
    while (taken < want) {
        ur_oblk *t = a->out_tail;
        if (!t || t->len == t->cap) {
            size_t need = want - taken;
            ur_oblk *b = oblk_new(p, need > UR_OUT_BLOCK ? (uint32_t)need : UR_OUT_BLOCK);
            if (!b)
                break;
            b->fd = fd;
            if (t)
                t->next = b;
            else
                a->out_head = b;
            a->out_tail = t = b;
        }
        while (taken < want && t->len < t->cap) {
            size_t k = iov[i].iov_len - ioff;
            if (k > t->cap - t->len)
                k = t->cap - t->len;
            if (k > want - taken)
                k = want - taken;
            memcpy(t->data + t->len, (const char *)iov[i].iov_base + ioff, k);
            t->len += (uint32_t)k;
            taken += k;
            ioff += k;
            if (ioff == iov[i].iov_len) {
                i++;
                ioff = 0;
            }
        }
    }
    if (!taken)
        return HZ_ENOMEM;
    a->out_bytes += (uint32_t)taken;
    if (!a->sending && !s->in_dirty) {
        s->in_dirty = 1;
        list_add(&p->dirty, fd);
    }
    return (long)taken;
}

static size_t ur_queued(hz_poller *p, int fd)
{
    const ur_slot *s = slot_of(p, fd, ST(S_OPEN) | ST(S_DETACHED));
    return s && s->act ? s->act->out_bytes : 0;
}

static int ur_shutdown(hz_poller *p, int fd)
{
    ur_slot *s = slot_of(p, fd, ST(S_OPEN) | ST(S_DETACHED));
    if (s && s->act && s->act->out_head && !s->err) {
        s->act->shut_pending = 1;
        return 0;
    }
    return shutdown(fd, SHUT_WR) == 0 ? 0 : hz_err_from_errno(errno);
}

static int ur_close(hz_poller *p, int fd)
{
    if (fd < 0)
        return 0;
    ur_slot *s = slot_of(p, fd, ST(S_OPEN) | ST(S_DETACHED) | ST(S_CLOSING));
    if (!s) {
        close(fd); /* never registered here */
        return 0;
    }
    if (s->state == S_CLOSING)
        return 0; /* already ours to close */
    if (s->state == S_OPEN)
        ur_remove(p, fd);
    if (s->act && s->act->out_head && !s->err) {
        s->state = S_CLOSING;
        s->act->drain_until = ur_now_ms() + UR_DRAIN_MS;
        if (!s->in_drain) {
            s->in_drain = 1;
            list_add(&p->drain, fd);
        }
        return 0;
    }
    slot_close_now(p, fd);
    return 0;
}

/* ---- completions ---------------------------------------------------------------- */

/* The end of b's send: res bytes sent or an error. fast: a MSG_DONTWAIT
 * send, for which EAGAIN or a short count means the socket is full. */
static void send_done(hz_poller *p, ur_oblk *b, int res, int fast)
{
    if (b->orphan) {
        for (ur_oblk **pp = &p->orphans; *pp; pp = &(*pp)->next) {
            if (*pp == b) {
                *pp = b->next;
                break;
            }
        }
        p->norphans--;
        hz_alloc_free(&p->a, b, sizeof(*b) + b->cap);
        return;
    }
    int fd = b->fd;
    ur_slot *s = &p->slots[fd];
    ur_act *a = s->act; /* has b in its queue */
    uint32_t sent = b->inflight;
    b->inflight = 0;
    a->sending = 0;
    if (res <= 0 && !(fast && res == -EAGAIN)) {
        int err = res < 0 ? hz_err_from_errno(-res) : HZ_ECLOSED;
        if (err == HZ_ESYS || err == HZ_ECANCELED)
            err = HZ_ECLOSED;
        s->err = (int8_t)err;
        out_drop(p, s);
        if (s->state == S_CLOSING)
            slot_close_now(p, fd);
        else
            lvl_add(p, fd);
        return;
    }
    uint32_t took = res > 0 ? (uint32_t)res : 0;
    if (took < sent) {
        /* MSG_WAITALL stopped short, or a fast send found the socket full
         * (EAGAIN: nothing taken): the rest goes as a send the kernel holds
         * until there is room. */
        sent = took;
        a->slow = 1;
    } else {
        a->slow = 0;
    }
    b->off += sent;
    a->out_bytes -= sent;
    if (b->off == b->len) {
        a->out_head = b->next;
        if (!a->out_head)
            a->out_tail = NULL;
        oblk_free(p, b);
    }
    if (a->out_head) {
        if (!s->in_dirty) {
            s->in_dirty = 1;
            list_add(&p->dirty, fd);
        }
        if (s->interest & HZ_EV_WRITE)
            lvl_add(p, fd);
        return;
    }
    if (s->state == S_CLOSING) {
        slot_close_now(p, fd);
        return;
    }
    if (a->shut_pending) {
        a->shut_pending = 0;
        shutdown(fd, SHUT_WR);
    } else if (s->state == S_OPEN) {
        ans_set(p, s);
    }
    if (s->interest & HZ_EV_WRITE)
        lvl_add(p, fd);
}

static void on_recv(hz_poller *p, int fd, unsigned gen, int res, unsigned flags)
{
    ur_slot *s = &p->slots[fd];
    int more = (flags & IORING_CQE_F_MORE) != 0;
    int bid = (flags & IORING_CQE_F_BUFFER) ? (int)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
    int mine = s->gen == gen && s->state != S_FREE;
    if (!more) {
        p->inflight--;
        if (mine)
            s->armed = s->cancelling = 0;
    }
    if (!mine || s->state != S_OPEN || s->listener) {
        if (bid >= 0)
            buf_return(p, bid); /* the fd was removed: nobody reads this */
        return;
    }
    ans_clear(p, s);
    if (bid >= 0) {
        p->avail--;
        if (res > 0) {
            UR_DEFINED(p->bufs + (size_t)bid * UR_BUF_SIZE, (size_t)res);
            p->blen[bid] = (uint32_t)res;
            p->bnext[bid] = -1;
            if (s->in_tail >= 0)
                p->bnext[s->in_tail] = bid;
            else
                s->in_head = (int16_t)bid;
            s->in_tail = (int16_t)bid;
            s->in_n++;
        } else {
            buf_return(p, bid);
        }
    }
    if (res == 0)
        s->eof = 1;
    else if (res == -ENOBUFS)
        p->dry = 1; /* more receives at once than buffers: the pool grows */
    else if (res < 0 && res != -ECANCELED)
        s->err = (int8_t)hz_err_from_errno(-res);
    if (s->in_n >= UR_IN_MAX && s->armed)
        disarm(p, fd); /* the reader is behind: hold no more buffers for it */
    else if (!s->armed)
        arm(p, fd); /* ended (a pause, a dry ring, the kernel's choice): go on if wanted */
    lvl_add(p, fd);
}

static void on_accept(hz_poller *p, int fd, unsigned gen, int res, unsigned flags)
{
    ur_slot *s = &p->slots[fd];
    int more = (flags & IORING_CQE_F_MORE) != 0;
    int mine = s->gen == gen && s->state != S_FREE;
    if (!more) {
        p->inflight--;
        if (mine)
            s->armed = s->cancelling = 0;
    }
    if (!mine || s->state != S_OPEN || !s->listener) {
        if (res >= 0)
            close(res); /* accepted for a listener that went away */
        return;
    }
    ur_lq *q = s->act->lq;
    if (res >= 0) {
        if (q->n == q->cap) {
            unsigned ncap = q->cap ? q->cap * 2 : 64;
            int *v = hz_alloc(&p->a, sizeof(*v) * ncap);
            if (!v) {
                close(res); /* the client sees a reset, as with a full backlog */
                return;
            }
            for (unsigned i = 0; i < q->n; i++)
                v[i] = q->fds[(q->head + i) % q->cap];
            hz_alloc_free(&p->a, q->fds, sizeof(*q->fds) * q->cap);
            q->fds = v;
            q->cap = ncap;
            q->head = 0;
        }
        q->fds[(q->head + q->n) % q->cap] = res;
        q->n++;
    } else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
        q->err = HZ_EMFILE;
    }
    if (!more && !s->armed && !q->err)
        arm(p, fd); /* ended for a transient error: go on */
    lvl_add(p, fd);
}

static void on_cqe(hz_poller *p, const struct io_uring_cqe *cqe)
{
    uint64_t ud = cqe->user_data;
    unsigned kind = (unsigned)(ud & 7u);
    switch (kind) {
    case K_SEND:
        p->inflight--;
        send_done(p, (ur_oblk *)(uintptr_t)(ud & ~(uint64_t)7u), cqe->res, 0);
        break;
    case K_SENDF: { /* a fast send failed or fell short: fast_done() handles it */
        ur_oblk *b = (ur_oblk *)(uintptr_t)(ud & ~(uint64_t)7u);
        b->fres = cqe->res;
        b->fdone = 1;
        break;
    }
    case K_RECV:
        on_recv(p, (int)((ud >> 3) & 0x1fffffffu), (unsigned)(ud >> 32), cqe->res, cqe->flags);
        break;
    case K_ACCEPT:
        on_accept(p, (int)((ud >> 3) & 0x1fffffffu), (unsigned)(ud >> 32), cqe->res, cqe->flags);
        break;
    case K_FILES: { /* fixed_install()'s update: the index is usable if the fd is still that one */
        p->inflight--;
        ur_slot *s = &p->slots[(ud >> 3) & 0x1fffffffu];
        if (s->gen == (unsigned)(ud >> 32) && s->state == S_OPEN && s->fixq && cqe->res == 1)
            s->fixed = 1;
        break;
    }
    case K_WAKE:
        p->inflight--;
        p->wake_armed = 0;
        p->woken = 1;
        break;
    default: /* K_CANCEL: a cancel that found nothing (already completed) */
        break;
    }
}

/* Reaps every posted completion. */
static unsigned ur_reap(hz_poller *p)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&p->ring, head, cqe)
    {
        on_cqe(p, cqe);
        n++;
    }
    io_uring_cq_advance(&p->ring, n);
    return n;
}

static void ur_reap_all(hz_poller *p)
{
    while (ur_reap(p)) {
    }
}

/* Accounts the fast sends once the enter that submitted them returned:
 * the kernel ran each during the submit (MSG_DONTWAIT never waits) and
 * posted a completion only if it failed or fell short (CQE_SKIP_SUCCESS),
 * so after every posted completion is reaped, one without a completion
 * sent all its bytes. Call after ur_reap(). */
static void fast_done(hz_poller *p)
{
    /* Not every fast send submitted yet (an enter that failed)? SQEs
     * queued since, by the completions just reaped, do not matter. */
    if (!p->fast || (int)(io_uring_smp_load_acquire(p->ring.sq.khead) - p->fast_seq) < 0)
        return;
    /* A completion the CQ had no room for waits in the kernel's overflow
     * list: bring those in before taking silence for success. */
    while (io_uring_cq_has_overflow(&p->ring)) {
        if (io_uring_get_events(&p->ring) < 0)
            break;
        ur_reap(p);
    }
    ur_oblk *b = p->fast;
    p->fast = NULL;
    p->fast_urgent = 0;
    while (b) {
        ur_oblk *next = b->fnext;
        b->fnext = NULL;
        b->fast = 0;
        ur_slot *s = &p->slots[b->fd];
        if (!b->fdone && !b->orphan && !b->next && b->off + b->inflight == b->len &&
            s->state == S_OPEN && !(s->interest & HZ_EV_WRITE) && !s->act->shut_pending) {
            /* The usual response: all sent, nothing after it, nobody to
             * tell (send_done()'s outcome, shortened). */
            ur_act *a = s->act;
            a->out_bytes -= b->inflight;
            a->out_head = a->out_tail = NULL;
            a->sending = 0;
            oblk_free(p, b);
            ans_set(p, s);
        } else {
            int res = b->fdone ? b->fres : (int)b->inflight;
            b->fdone = 0;
            send_done(p, b, res, 1);
        }
        b = next;
    }
}

/* ---- the iteration -------------------------------------------------------------- */

/* Prepares one send per fd with queued output and none in flight. */
static void flush_dirty(hz_poller *p)
{
    unsigned n = p->dirty.n;
    p->dirty.n = 0;
    for (unsigned i = 0; i < n; i++) {
        int fd = p->dirty.v[i];
        ur_slot *s = &p->slots[fd];
        s->in_dirty = 0;
        ur_act *a = s->act;
        ur_oblk *b = a ? a->out_head : NULL;
        if (!b || a->sending || s->err || s->state == S_FREE)
            continue;
        struct io_uring_sqe *sqe = ur_sqe(p);
        if (!sqe) {
            s->in_dirty = 1; /* next time */
            p->dirty.v[p->dirty.n++] = fd;
            continue;
        }
        b->inflight = b->len - b->off;
        a->sending = 1;
        if (!b->next && !a->shut_pending && s->state == S_OPEN)
            ans_set(p, s); /* its peer's next request may follow this answer */
        if (a->slow) {     /* the socket was full: the kernel waits for room */
            io_uring_prep_send(sqe, fd, b->data + b->off, b->inflight, MSG_NOSIGNAL | MSG_WAITALL);
            if (s->fixed)
                sqe->flags |= IOSQE_FIXED_FILE; /* index fd */
            io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)b | K_SEND);
            p->inflight++;
            continue;
        }
        /* Fast: done or failed by the time the enter returns, with no
         * completion when it sent everything (fast_done()). */
        io_uring_prep_send(sqe, fd, b->data + b->off, b->inflight,
                           MSG_NOSIGNAL | MSG_WAITALL | MSG_DONTWAIT);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS | (s->fixed ? IOSQE_FIXED_FILE : 0);
        io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)b | K_SENDF);
        b->fast = 1;
        b->fdone = 0;
        b->fnext = p->fast;
        p->fast = b;
        p->fast_seq = p->ring.sq.sqe_tail;
        /* Its end matters before the next wait only if it lets the core
         * write (WRITE wanted), finishes a close or shutdown, or leaves
         * more to send: then the enter does not sleep. */
        if ((s->interest & HZ_EV_WRITE) || s->state != S_OPEN || a->shut_pending || b->next)
            p->fast_urgent = 1;
    }
}

static void arm_wake(hz_poller *p)
{
    if (p->wake_armed)
        return;
    struct io_uring_sqe *sqe = ur_sqe(p);
    if (!sqe)
        return;
    io_uring_prep_read(sqe, p->wakefd, &p->wakebuf, sizeof(p->wakebuf), 0);
    io_uring_sqe_set_data64(sqe, K_WAKE);
    p->wake_armed = 1;
    p->inflight++;
}

static int ur_enable(hz_poller *p)
{
    if (p->enabled)
        return 0;
    /* liburing 2.3 declares io_uring_enable_rings() but does not export it. */
    if (syscall(__NR_io_uring_register, p->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
        return hz_err_from_errno(errno);
    p->enabled = 1;
    return 0;
}

/* What fd has to report now (0: nothing; the fd leaves the level list). */
static unsigned slot_events(const ur_slot *s)
{
    if (s->state != S_OPEN)
        return 0;
    unsigned ev = 0;
    const ur_act *a = s->act;
    if (s->listener) {
        if ((s->interest & HZ_EV_READ) && (a->lq->n || a->lq->err))
            ev |= HZ_EV_READ;
        return ev;
    }
    if ((s->interest & HZ_EV_READ) && (s->in_head >= 0 || s->eof || s->err))
        ev |= HZ_EV_READ;
    if ((s->interest & HZ_EV_WRITE) && (!a || a->out_bytes < UR_OUT_BUDGET))
        ev |= HZ_EV_WRITE;
    if (s->err)
        ev |= HZ_EV_ERR;
    if (s->eof && !s->err && !(s->interest & HZ_EV_READ) && (s->interest & HZ_EV_WRITE))
        ev |= HZ_EV_HUP;
    return ev;
}

/* Drops fds with nothing to report from the level list; 1 if any has. */
static int lvl_prune(hz_poller *p)
{
    unsigned j = 0;
    int any = 0;
    for (unsigned i = 0; i < p->lvl.n; i++) {
        int fd = p->lvl.v[i];
        if (slot_events(&p->slots[fd])) {
            p->lvl.v[j++] = fd;
            any = 1;
        } else {
            p->slots[fd].in_lvl = 0;
        }
    }
    p->lvl.n = j;
    return any;
}

static void reverse(int *v, unsigned n)
{
    for (unsigned i = 0, k = n ? n - 1 : 0; i < k; i++, k--) {
        int t = v[i];
        v[i] = v[k];
        v[k] = t;
    }
}

/* Puts the level list's entries from k on first: a wait() that reported
 * only some fds reports the others first the next time, so fds that stay
 * readable (a pipelining client) cannot keep the rest out of the batches. */
static void lvl_rotate(hz_poller *p, unsigned k)
{
    reverse(p->lvl.v, k);
    reverse(p->lvl.v + k, p->lvl.n - k);
    reverse(p->lvl.v, p->lvl.n);
}

/* Closes the S_CLOSING fds whose output did not go in time; returns the ms
 * to the next such deadline (-1: none). */
static int drain_check(hz_poller *p)
{
    if (!p->drain.n)
        return -1;
    uint64_t now = ur_now_ms(), next = UINT64_MAX;
    unsigned j = 0;
    for (unsigned i = 0; i < p->drain.n; i++) {
        int fd = p->drain.v[i];
        ur_slot *s = &p->slots[fd];
        if (s->state != S_CLOSING) {
            s->in_drain = 0;
            continue;
        }
        if (now >= s->act->drain_until) {
            s->in_drain = 0;
            s->act->shut_pending = 0;
            slot_close_now(p, fd); /* the peer did not read: give up */
            continue;
        }
        if (s->act->drain_until < next)
            next = s->act->drain_until;
        p->drain.v[j++] = fd;
    }
    p->drain.n = j;
    return j ? (int)(next - now) : -1;
}

static void rearm_check(hz_poller *p)
{
    if (!p->rearm.n || (!p->avail && !p->sq_short))
        return;
    p->sq_short = 0;
    unsigned n = p->rearm.n;
    p->rearm.n = 0;
    for (unsigned i = 0; i < n; i++) {
        int fd = p->rearm.v[i];
        p->slots[fd].in_rearm = 0;
        if (p->slots[fd].nobufs)
            arm(p, fd);
    }
}

/* Submits what is queued and waits until wait_nr completions are posted
 * or timeout_us passed (-1: for ever, 0: no wait). 0, 1 when the wait
 * ended by its timeout, 2 by a signal, or < 0. */
static int ur_enter(hz_poller *p, long long timeout_us, unsigned wait_nr)
{
    int rc;
    if (timeout_us == 0) {
        rc = io_uring_submit_and_get_events(&p->ring);
    } else {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = {.tv_sec = timeout_us / 1000000,
                                       .tv_nsec = (timeout_us % 1000000) * 1000};
        rc = io_uring_submit_and_wait_timeout(&p->ring, &cqe, wait_nr, timeout_us < 0 ? NULL : &ts,
                                              NULL);
    }
    if (rc >= 0 || rc == -EAGAIN || rc == -EBUSY)
        return 0;
    if (rc == -ETIME)
        return 1;
    if (rc == -EINTR)
        return 2;
    return hz_err_from_errno(-rc);
}

/* A wait() that tried a batching window reports j entries. A window that
 * caught fewer than two only delayed the one it caught (a single active
 * peer beside answered idle ones): skip the next 2, 4 .. 64 chances. */
static void batch_score(hz_poller *p, int j)
{
    if (j >= 2) {
        p->batch_miss = 0;
        return;
    }
    if (p->batch_miss < 6)
        p->batch_miss++;
    p->batch_skip = 1u << p->batch_miss;
}

static int ur_wait(hz_poller *p, hz_poll_event *out, int max, int timeout_ms)
{
    p->gen++;
    p->batch = out;
    p->batch_len = 0;
    if (max <= 0)
        return HZ_EINVAL;
    int rc = ur_enable(p);
    if (rc < 0)
        return rc;
    uint64_t start = timeout_ms > 0 ? ur_now_ms() : 0;
    int tried = 0; /* this wait() tried a batching window */
    for (;;) {
        arm_wake(p);
        if ((p->dry || p->avail < p->posted / 4) && p->posted < UR_BUF_COUNT)
            pool_grow(p, p->posted); /* before the receives want more */
        p->dry = 0;
        rearm_check(p);
        int t = timeout_ms;
        if (lvl_prune(p) || p->woken)
            t = 0;
        flush_dirty(p);
        int dl = drain_check(p);
        if (dl >= 0 && (t < 0 || dl < t))
            t = dl > 0 ? dl : 0;
        if (UR_ON_VALGRIND() && (t < 0 || t > UR_VALGRIND_WAIT_MS))
            t = UR_VALGRIND_WAIT_MS;
        /* A fast send whose end must be seen before sleeping: submit
         * without waiting, account, then wait (another round) if nothing
         * is to report. */
        int forced = t != 0 && p->fast_urgent;
        if (forced)
            t = 0;
        /* Batching: peers that were answered are likely to send next, so
         * a wait that would sleep waits for up to that many completions,
         * but for at most UR_BATCH_US before it takes what came (see
         * UR_BATCH_US; batch_skip backs off where windows catch little). */
        long long tus = t < 0 ? -1 : (long long)t * 1000;
        unsigned nr = 1;
        int window = 0;
        if (t != 0 && !tried && p->nanswered >= 2 && UR_BATCH_US > 0) {
            if (p->batch_skip) {
                p->batch_skip--;
            } else {
                nr = p->nanswered < UR_REPORT_MAX ? p->nanswered : UR_REPORT_MAX;
                if (tus < 0 || tus > UR_BATCH_US)
                    tus = UR_BATCH_US;
                window = tried = 1;
            }
        }
        rc = ur_enter(p, tus, nr);
        if (UR_ON_VALGRIND())
            (void)poll(NULL, 0, 0); /* lets valgrind deliver a pending signal */
        ur_reap(p);
        fast_done(p);
        if (rc < 0)
            return rc;
        int j = 0;
        if (p->woken) {
            p->woken = 0;
            out[j++] = (hz_poll_event){.udata = NULL, .fd = -1, .events = HZ_EV_WAKE};
        }
        int cap = max < UR_REPORT_MAX ? max : UR_REPORT_MAX;
        unsigned i = 0;
        for (; i < p->lvl.n && j < cap; i++) {
            int fd = p->lvl.v[i];
            ur_slot *s = &p->slots[fd];
            unsigned ev = slot_events(s);
            if (!ev)
                continue; /* pruned before the next wait */
            out[j++] = (hz_poll_event){.udata = s->udata, .fd = fd, .events = ev};
        }
        if (i < p->lvl.n)
            lvl_rotate(p, i);
        if (j || rc == 2 || (rc == 1 && !window) || (t == 0 && !forced)) {
            if (tried)
                batch_score(p, j);
            p->batch_len = j;
            return j;
        }
        /* Completions with nothing to report: a send's, mostly, which the
         * kernel completes during the submit, so it would end every wait
         * at once. Waiting on for the rest of the caller's time saves the
         * loop an empty iteration (and its timer and clock work). */
        if (timeout_ms > 0) {
            uint64_t spent = ur_now_ms() - start;
            if (spent >= (uint64_t)timeout_ms)
                return 0;
            timeout_ms -= (int)spent;
            start += spent;
        }
    }
}

static int ur_wake(hz_poller *p)
{
    uint64_t one = 1;
    int rc = 0, saved = errno; /* callable from a signal handler: keep errno */
    for (;;) {
        if (write(p->wakefd, &one, sizeof(one)) == (ssize_t)sizeof(one))
            break;
        if (errno == EINTR)
            continue;
        rc = errno == EAGAIN ? 0 : hz_err_from_errno(errno);
        break;
    }
    errno = saved;
    return rc;
}

/* ---- the end -------------------------------------------------------------------- */

/* Cancels everything in flight and reaps until the kernel is done with it
 * (at most ms). 0, or < 0 when this thread may not drive the ring. */
static int ur_drain_inflight(hz_poller *p, int ms)
{
    if (!p->enabled) {
        /* Never ran: nothing was submitted (SQEs prepared before the loop
         * started are simply dropped with the ring). */
        p->inflight = 0;
        return 0;
    }
    struct io_uring_sqe *sqe = ur_sqe(p);
    if (sqe) {
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        io_uring_sqe_set_data64(sqe, K_CANCEL);
    }
    uint64_t end = ur_now_ms() + (uint64_t)ms;
    while (p->inflight || p->fast) {
        int rc = io_uring_submit_and_get_events(&p->ring);
        if (rc == -EEXIST)
            return HZ_EINVAL; /* another thread is the issuer */
        ur_reap(p);
        fast_done(p);
        if (!p->inflight || ur_now_ms() >= end)
            break;
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000000};
        io_uring_submit_and_wait_timeout(&p->ring, &cqe, 1, &ts, NULL);
        ur_reap(p);
    }
    return 0;
}

static void ur_quiesce(hz_poller *p, int timeout_ms)
{
    if (!p->ring_ok || p->quiesced)
        return;
    if (ur_enable(p) < 0)
        return;
    /* Output of closed connections first (a response the loop considers
     * sent), for up to timeout_ms. */
    uint64_t end = ur_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    while (p->drain.n) {
        flush_dirty(p);
        int dl = drain_check(p);
        if (dl < 0)
            break;
        uint64_t now = ur_now_ms();
        if (now >= end)
            break;
        int t = (int)(end - now);
        if (t > 100)
            t = 100;
        if (p->fast)
            t = 0; /* fast sends end during the enter, mostly without a completion */
        if (ur_enter(p, (long long)t * 1000, 1) < 0)
            break;
        ur_reap(p);
        fast_done(p);
    }
    ur_drain_inflight(p, UR_QUIESCE_CANCEL_MS);
    /* What is left of closed connections goes now. */
    for (unsigned i = 0; i < p->drain.n; i++) {
        int fd = p->drain.v[i];
        ur_slot *s = &p->slots[fd];
        s->in_drain = 0;
        if (s->state == S_CLOSING) {
            s->act->shut_pending = 0;
            slot_close_now(p, fd);
        }
    }
    p->drain.n = 0;
    p->quiesced = 1;
}

HZ_API const hz_poller_vt hz_poller_io_uring = {
    .abi = HZ_BACKEND_ABI,
    .name = "io_uring",
    .caps = HZ_POLLER_CAP_CHEAP_WAKE | HZ_POLLER_CAP_COMPLETION,
    .create = ur_create,
    .destroy = ur_destroy,
    .add = ur_add,
    .modify = ur_modify,
    .remove = ur_remove,
    .wait = ur_wait,
    .wake = ur_wake,
    .accept = ur_accept,
    .recv = ur_recv,
    .send = ur_send,
    .shutdown = ur_shutdown,
    .close = ur_close,
    .quiesce = ur_quiesce,
    .queued = ur_queued,
};
