/* sock.c - the socket transport and the TLS transport over the hz_tls_io
 * shim (handshake, records, close_notify, pending input). TLS
 * configuration (contexts, SNI, reload, the handshake cap) is the server
 * layer's (core/server/tls.c). */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "sock.h"

#if HZ_HAVE_MSG_NOSIGNAL
#define HZ__SEND_FLAGS MSG_NOSIGNAL
#else
#define HZ__SEND_FLAGS 0
#endif

/* ---- plain socket ---------------------------------------------------------- */

static long sock_recv(hz__sock *s, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = recv(s->fd, buf, len, 0);
        if (n >= 0)
            return (long)n;
        if (errno == EINTR)
            continue;
        return hz__err_from_errno(errno);
    }
}

static long sock_send(hz__sock *s, const void *buf, size_t len)
{
    for (;;) {
        ssize_t n = send(s->fd, buf, len, HZ__SEND_FLAGS);
        if (n >= 0)
            return (long)n;
        if (errno == EINTR)
            continue;
        return hz__err_from_errno(errno);
    }
}

static long sock_writev(hz__sock *s, const struct iovec *iov, int iovcnt)
{
    struct msghdr m;
    memset(&m, 0, sizeof(m));
    m.msg_iov = (struct iovec *)iov;
    m.msg_iovlen = iovcnt;
    for (;;) {
        ssize_t n = sendmsg(s->fd, &m, HZ__SEND_FLAGS);
        if (n >= 0)
            return (long)n;
        if (errno == EINTR)
            continue;
        return hz__err_from_errno(errno);
    }
}

static int sock_shutdown(hz__sock *s)
{
    return shutdown(s->fd, SHUT_WR) == 0 ? 0 : hz__err_from_errno(errno);
}

static void sock_close(hz__sock *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

const hz__transport_vt hz__transport_socket = {
    .recv = sock_recv,
    .send = sock_send,
    .writev = sock_writev,
    .shutdown = sock_shutdown,
    .close = sock_close,
    .stateless = 1,
};

void hz__sock_init(hz__sock *s, int fd)
{
    s->tp = &hz__transport_socket;
    s->ctx = NULL;
    s->fd = fd;
    s->want_write = 0;
}

/* ---- socket over a completion poller -------------------------------------- */
/* The poller received into its buffers and sends from its copies: these
 * calls move bytes between them and the connection, with the results of
 * the socket calls they replace (docs/backends.md, "Completion pollers"). */

static long cio_recv(hz__sock *s, void *buf, size_t len)
{
    const hz__cio *io = s->ctx;
    return io->pv->recv(io->p, s->fd, buf, len, 0);
}

static long cio_send(hz__sock *s, const void *buf, size_t len)
{
    const hz__cio *io = s->ctx;
    struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
    return io->pv->send(io->p, s->fd, &v, 1);
}

static long cio_writev(hz__sock *s, const struct iovec *iov, int iovcnt)
{
    const hz__cio *io = s->ctx;
    return io->pv->send(io->p, s->fd, iov, iovcnt);
}

static int cio_shutdown(hz__sock *s)
{
    const hz__cio *io = s->ctx;
    return io->pv->shutdown(io->p, s->fd);
}

static size_t cio_queued(const hz__sock *s)
{
    const hz__cio *io = s->ctx;
    return s->fd >= 0 ? io->pv->queued(io->p, s->fd) : 0;
}

static void cio_close(hz__sock *s)
{
    const hz__cio *io = s->ctx;
    if (s->fd >= 0)
        io->pv->close(io->p, s->fd); /* after its queued output */
    s->fd = -1;
}

const hz__transport_vt hz__transport_cio = {
    .recv = cio_recv,
    .send = cio_send,
    .writev = cio_writev,
    .shutdown = cio_shutdown,
    .close = cio_close,
    .queued = cio_queued,
    .stateless = 1,
};

void hz__sock_init_cio(hz__sock *s, const hz__cio *cio, int fd)
{
    s->tp = &hz__transport_cio;
    s->ctx = (void *)cio;
    s->fd = fd;
    s->want_write = 0;
}

/* One raw byte, peeked: 1, 0 (EOF), HZ_EAGAIN or < 0. */
static long raw_peek(hz__sock *raw)
{
    unsigned char b;
    if (raw->tp == &hz__transport_cio) {
        const hz__cio *io = raw->ctx;
        return io->pv->recv(io->p, raw->fd, &b, 1, HZ_IO_PEEK);
    }
    if (raw->fd < 0)
        return HZ_EINVAL;
    ssize_t n;
    do
        n = recv(raw->fd, &b, 1, MSG_PEEK);
    while (n < 0 && errno == EINTR);
    return n >= 0 ? (long)n : hz__err_from_errno(errno);
}

/* ---- TLS ------------------------------------------------------------------- */

/* Records per send (docs/architecture.md, "TLS records per send"): a write
 * of more than one record's plaintext is encrypted record by record into
 * out and leaves in one send. TLS_REC_ROOM: the most one record can take
 * (2^14 plaintext + 2048 expansion + header, RFC 5246 §6.2.3; TLS 1.3's
 * is smaller) plus room for a post-handshake message riding along; a
 * record is encrypted only while that much is free, so the shim never
 * refuses one. TLS_OUT_CAP bounds what a connection holds: room for five
 * full AEAD records (80 KiB of plaintext: a 64 KiB response with its
 * frames), four of a cipher with more expansion. */
#define TLS_REC HZ__TLS_RECORD
#define TLS_REC_ROOM (16384u + 2048u + 5u + 512u)
#define TLS_OUT_CAP (4u * (16384u + 64u) + TLS_REC_ROOM)
#define TLS_OUT_RECS 8u /* records per batch (smaller ones: a max_fragment_length) */

typedef struct tls_sock {              /* owner: its hz__sock (s->ctx) */
    hz__sock raw;                      /* the transport under TLS (socket or cio) */
    hz_tls_session *s;                 /* owns */
    const hz_tls_vt *vt;               /* borrowed: static */
    const hz_allocator *a;             /* borrowed: outlives the socket */
    hz__bufcache *bc;                  /* borrowed: the loop's (its gather spare), or NULL */
    hz_tls_io io;                      /* the session's shim: raw, through out */
    hz__tls_handshake_fn on_handshake; /* the owner's, called once */
    uint64_t deadline;                 /* ms: end of the handshake time; 0 = none */
    /* Records encrypted and not yet sent (TLS_OUT_CAP bytes; NULL until a
     * write spans records; given back to bc once they are all sent, kept
     * while some are held; dropped when idle). out_len == 0: nothing held. */
    char *out;                /* owns (a) */
    size_t out_len, out_sent; /* bytes in out; of them, taken by raw */
    size_t held_plain;        /* the plaintext of out's records: the owner's
                               * retry starts with it (and is no shorter) */
    /* out's records in order: where each ends in out and the plaintext it
     * carries, reported as written once it is all sent (write progress
     * per record, as without gathering). nrec >= 1 while out_len > 0. */
    uint32_t rec_end[TLS_OUT_RECS];
    uint16_t rec_plain[TLS_OUT_RECS];
    unsigned nrec;
    /* tls_quiet's clock (ms, low 32 bits: only differences under a few
     * seconds are taken): the idle point that began this quiet period,
     * and the last one that began one after a write (has_last). */
    uint32_t quiet_since, last_quiet;
    unsigned handshaking : 1;
    unsigned retry_on_write : 1; /* the last step waited for writability */
    unsigned first_seen : 1;     /* the client's first byte was looked at */
    unsigned gathering : 1;      /* the library's records go into out */
    unsigned busy : 1;           /* a read or write since the last idle point */
    unsigned wrote : 1;          /* the owner wrote (tls_write) at least once */
    unsigned has_last : 1;       /* last_quiet is set */
    unsigned dropped : 1;        /* dropped in this quiet period */
} tls_sock;

/* The shim (ctx: the tls_sock): the library's records go straight to the
 * transport under TLS, or into out while gathering, and behind out's
 * records while some wait (a record made during a read, an alert, must
 * not pass them). HZ_EAGAIN when out has no room: the library holds the
 * record and the caller retries, as with a full socket. */
static long tls_io_send(void *ctx, const void *buf, size_t len)
{
    tls_sock *t = ctx;
    if (HZ__LIKELY(!t->gathering && !t->out_len))
        return t->raw.tp->send(&t->raw, buf, len);
    if (!t->out || TLS_OUT_CAP - t->out_len < len)
        return HZ_EAGAIN;
    memcpy(t->out + t->out_len, buf, len);
    t->out_len += len;
    if (!t->gathering)
        t->rec_end[t->nrec - 1] = (uint32_t)t->out_len; /* it goes with the last */
    return (long)len;
}

/* The library reads through the transport under TLS (a completion
 * poller's received records too). */
static long tls_io_recv(void *ctx, void *buf, size_t len)
{
    tls_sock *t = ctx;
    return t->raw.tp->recv(&t->raw, buf, len);
}

static void tls_handshake_over(hz__sock *s, tls_sock *t, int ok)
{
    if (!t->handshaking)
        return;
    t->handshaking = 0;
    t->deadline = 0;
    t->on_handshake(s, ok);
}

/* WANT_* become HZ_EAGAIN for the owner; a step that waits for writability
 * asks for write interest (want_write) and is retried from has_input. */
static long tls_result(hz__sock *s, tls_sock *t, long rc)
{
    if (rc == HZ_TLS_WANT_WRITE) {
        t->retry_on_write = 1;
        s->want_write = 1;
        return HZ_EAGAIN;
    }
    if (rc == HZ_TLS_WANT_READ)
        return HZ_EAGAIN;
    return rc < 0 ? rc : HZ_EIO;
}

/* A TLS client speaks first, and its first record is a handshake record
 * (content type 22, RFC 8446 §5.1; a byte >= 0x80 would be an SSLv2-style
 * hello, left to the library to refuse). Any other first byte cannot start
 * TLS: most likely it is plain HTTP ("GET ..."), which deserves an answer
 * it can read rather than a silent close (nginx answers 400 too). The byte
 * is peeked, so the library still sees the whole stream. Returns 0 (go on
 * with the handshake) or HZ_EAGAIN (nothing yet, or handed back to the
 * owner as a plain socket: t is gone). */
static long tls_first_byte(hz__sock *s, tls_sock *t)
{
    if (s->fd < 0) { /* an in-memory transport under TLS: nothing to peek */
        t->first_seen = 1;
        return 0;
    }
    unsigned char b;
    long n;
    if (t->raw.tp == &hz__transport_cio) {
        const hz__cio *io = t->raw.ctx;
        n = io->pv->recv(io->p, t->raw.fd, &b, 1, HZ_IO_PEEK);
        if (n == HZ_EAGAIN)
            return HZ_EAGAIN;
    } else {
        do
            n = recv(s->fd, &b, 1, MSG_PEEK);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return HZ_EAGAIN;
    }
    t->first_seen = 1;
    if (n != 1 || b == 0x16 || b >= 0x80)
        return 0; /* EOF and errors too: the library reports them */
    hz__tls_handshake_fn cb = t->on_handshake;
    hz__sock raw = t->raw;
    t->handshaking = 0;
    t->vt->session_destroy(t->s);
    hz__free(t->a, t, sizeof(*t));
    s->tp = raw.tp;
    s->ctx = raw.ctx;
    s->want_write = 0;
    cb(s, HZ__TLS_NOT_TLS);
    return HZ_EAGAIN;
}

/* Advances the handshake: 0 once done, else as tls_result. */
static long tls_handshake(hz__sock *s, tls_sock *t)
{
    if (!t->handshaking)
        return 0;
    if (HZ__UNLIKELY(!t->first_seen)) {
        long rc = tls_first_byte(s, t);
        if (rc != 0)
            return rc; /* t may be gone: the caller returns at once */
    }
    int rc = t->vt->handshake(t->s);
    if (rc < 0) {
        if (rc != HZ_TLS_WANT_READ && rc != HZ_TLS_WANT_WRITE)
            tls_handshake_over(s, t, 0); /* failed: the connection closes */
        return tls_result(s, t, rc);
    }
    tls_handshake_over(s, t, 1);
    return 0;
}

static long tls_recv(hz__sock *s, void *buf, size_t len)
{
    tls_sock *t = s->ctx;
    t->retry_on_write = 0;
    t->busy = 1; /* a drop waits for another quiet period */
    long rc = tls_handshake(s, t);
    if (rc != 0)
        return rc;
    long n = t->vt->read(t->s, buf, len);
    return n >= 0 ? n : tls_result(s, t, n);
}

/* A backend's write result for the owner. */
static long tls_write_result(long n)
{
    if (n > 0)
        return n;
    if (n == HZ_TLS_WANT_READ || n == HZ_TLS_WANT_WRITE)
        return HZ_EAGAIN; /* the owner waits for writability itself */
    return n < 0 ? n : HZ_EIO;
}

/* Sends what out holds, in one send: *plain gets the plaintext of the
 * records now sent in full (dropped from the list). 1 all gone (out
 * empties), 0 the transport took part or none (it is full: its
 * writability comes as an event), < 0. */
static long tls_flush(tls_sock *t, size_t *plain)
{
    size_t left = t->out_len - t->out_sent;
    long n = t->raw.tp->send(&t->raw, t->out + t->out_sent, left);
    *plain = 0;
    if (n < 0 && n != HZ_EAGAIN)
        return n;
    if (n > 0)
        t->out_sent += (size_t)n;
    unsigned k = 0;
    while (k < t->nrec && t->rec_end[k] <= t->out_sent)
        *plain += t->rec_plain[k++];
    t->held_plain -= *plain;
    if (t->out_sent == t->out_len) {
        t->out_len = t->out_sent = 0;
        t->nrec = 0;
        return 1;
    }
    if (k) {
        t->nrec -= k;
        memmove(t->rec_end, t->rec_end + k, t->nrec * sizeof(t->rec_end[0]));
        memmove(t->rec_plain, t->rec_plain + k, t->nrec * sizeof(t->rec_plain[0]));
    }
    return 0;
}

/* A write's answer while out holds records: the plaintext of those now
 * sent, HZ_EAGAIN while some remain, 0 once out is empty with nothing to
 * report (the write goes on), < 0. */
static long tls_flush_held(tls_sock *t)
{
    size_t sent;
    long f = tls_flush(t, &sent);
    if (f < 0)
        return f;
    if (sent)
        return (long)sent;
    return t->out_len ? HZ_EAGAIN : 0;
}

/* Drops the iovecs' first n bytes (*i, *off: where the rest starts). */
static void iov_skip(const struct iovec *iov, int iovcnt, int *i, size_t *off, size_t n)
{
    while (*i < iovcnt && n) {
        size_t k = iov[*i].iov_len - *off;
        if (n < k) {
            *off += n;
            return;
        }
        n -= k;
        (*i)++;
        *off = 0;
    }
}

/* The next record's plaintext from (i, off): a pointer into the iovecs
 * when one piece holds it, else gathered into rec. Its length (0: none). */
static size_t iov_record(const struct iovec *iov, int iovcnt, int i, size_t off, char *rec,
                         const char **p)
{
    while (i < iovcnt && off == iov[i].iov_len) {
        i++;
        off = 0;
    }
    if (i == iovcnt)
        return 0;
    size_t k = iov[i].iov_len - off;
    if (k >= TLS_REC || i + 1 == iovcnt) {
        *p = (const char *)iov[i].iov_base + off;
        return k < TLS_REC ? k : TLS_REC;
    }
    size_t n = 0;
    for (; i < iovcnt && n < TLS_REC; i++, off = 0) {
        k = iov[i].iov_len - off;
        if (k > TLS_REC - n)
            k = TLS_REC - n;
        memcpy(rec + n, (const char *)iov[i].iov_base + off, k);
        n += k;
    }
    *p = rec;
    return n;
}

/* out for a gather: the loop's spare, else a new one. */
static char *out_take(tls_sock *t)
{
    hz__bufcache *bc = t->bc;
    if (bc && bc->gather) {
        t->out = bc->gather;
        bc->gather = NULL;
        bc->gather_cap = 0;
    } else {
        t->out = hz__alloc(t->a, TLS_OUT_CAP);
    }
    return t->out;
}

/* out once nothing is held: back to the loop when its spare is free (the
 * next connection's gather finds it in cache), else freed only if asked
 * (idle, close): a connection whose records were held keeps its own. */
static void out_give(tls_sock *t, int or_free)
{
    if (!t->out || t->out_len)
        return;
    hz__bufcache *bc = t->bc;
    if (bc && !bc->gather) {
        bc->gather = t->out;
        bc->gather_cap = TLS_OUT_CAP;
    } else if (or_free) {
        hz__free(t->a, t->out, TLS_OUT_CAP);
    } else {
        return;
    }
    t->out = NULL;
}

/* More than a record's worth: records into out, then one send. The
 * result: the plaintext of the records sent in full, or HZ_EAGAIN; out
 * holds the rest and the owner's retry (the same bytes first, as the
 * backends already require) flushes it before anything new (tls_write). */
static long tls_gather(tls_sock *t, const struct iovec *iov, int iovcnt)
{
    if (!t->out && !out_take(t)) { /* one record, as without a buffer */
        char rec[TLS_REC];
        const char *p = NULL;
        size_t k = iov_record(iov, iovcnt, 0, 0, rec, &p);
        return tls_write_result(t->vt->write(t->s, p, k));
    }
    char rec[TLS_REC];
    size_t plain = 0, off = 0;
    int i = 0;
    long n = 0;
    t->gathering = 1;
    while (TLS_OUT_CAP - t->out_len >= TLS_REC_ROOM && t->nrec < TLS_OUT_RECS) {
        const char *p = NULL;
        size_t k = iov_record(iov, iovcnt, i, off, rec, &p);
        if (!k)
            break;
        n = t->vt->write(t->s, p, k);
        if (n <= 0)
            break; /* a retry gives the library the same bytes again */
        plain += (size_t)n;
        t->rec_end[t->nrec] = (uint32_t)t->out_len;
        t->rec_plain[t->nrec++] = (uint16_t)n;
        iov_skip(iov, iovcnt, &i, &off, (size_t)n);
    }
    t->gathering = 0;
    if (t->out_len) {
        /* Bytes after the last record (the library wrote, then waited). */
        if (!t->nrec || t->rec_end[t->nrec - 1] < t->out_len) {
            if (t->nrec == TLS_OUT_RECS)
                t->rec_end[t->nrec - 1] = (uint32_t)t->out_len;
            else {
                t->rec_end[t->nrec] = (uint32_t)t->out_len;
                t->rec_plain[t->nrec++] = 0;
            }
        }
        t->held_plain = plain;
        long r = tls_flush_held(t);
        out_give(t, 0); /* all sent: back to the loop */
        if (r != 0)
            return r;
    }
    out_give(t, 0);
    return tls_write_result(n);
}

/* Every write: out's records first (their plaintext is the start of iov,
 * reported once they are all sent), then one record straight through the
 * shim, or several gathered. */
static long tls_write(hz__sock *s, const struct iovec *iov, int iovcnt, size_t total)
{
    tls_sock *t = s->ctx;
    t->busy = 1; /* a drop waits for another quiet period */
    t->wrote = 1;
    long rc = tls_handshake(s, t);
    if (rc != 0)
        return rc;
    if (HZ__UNLIKELY(t->out_len)) {
        if (total < t->held_plain)
            return HZ_EINVAL; /* not the retry the contract asks for */
        long r = tls_flush_held(t);
        out_give(t, 0); /* when the last held records went */
        if (r != 0)
            return r;
    }
    if (total == 0)
        return 0;
    if (total <= TLS_REC) {
        if (iovcnt == 1)
            return tls_write_result(t->vt->write(t->s, iov[0].iov_base, total));
        /* TLS cannot scatter: a response head and its body share a record. */
        char rec[TLS_REC];
        size_t n = 0;
        for (int i = 0; i < iovcnt; i++) {
            memcpy(rec + n, iov[i].iov_base, iov[i].iov_len);
            n += iov[i].iov_len;
        }
        return tls_write_result(t->vt->write(t->s, rec, n));
    }
    return tls_gather(t, iov, iovcnt);
}

static long tls_send(hz__sock *s, const void *buf, size_t len)
{
    struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
    return tls_write(s, &v, 1, len);
}

static long tls_writev(hz__sock *s, const struct iovec *iov, int iovcnt)
{
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    return tls_write(s, iov, iovcnt, total);
}

static int tls_shutdown(hz__sock *s)
{
    tls_sock *t = s->ctx;
    /* Owners shut down once their output is taken, so out is empty; if
     * not, close_notify queues behind its records and the FIN waits. */
    size_t sent;
    int held = t->out_len && tls_flush(t, &sent) <= 0;
    if (!t->handshaking)
        (void)t->vt->shutdown(t->s); /* close_notify, best effort */
    if (held || (t->out_len && tls_flush(t, &sent) <= 0))
        return 0;
    return t->raw.tp->shutdown(&t->raw);
}

static void tls_close(hz__sock *s)
{
    tls_sock *t = s->ctx;
    if (t) {
        tls_handshake_over(s, t, 0); /* closed mid-handshake (timeout, peer) */
        t->vt->session_destroy(t->s);
        hz__sock raw = t->raw;
        if (t->out) {
            t->out_len = 0; /* records still held die with the connection */
            out_give(t, 1);
        }
        hz__free(t->a, t, sizeof(*t));
        s->ctx = NULL;
        if (raw.tp == &hz__transport_cio) {
            raw.tp->close(&raw); /* after the queued records (close_notify) */
            s->fd = -1;
            return;
        }
    }
    sock_close(s);
}

/* The records a completion poller holds for the peer. */
static size_t tls_queued(const hz__sock *s)
{
    tls_sock *t = s->ctx;
    return t && t->raw.tp == &hz__transport_cio ? cio_queued(&t->raw) : 0;
}

static uint64_t tls_handshake_deadline(hz__sock *s)
{
    const tls_sock *t = s->ctx;
    return t && t->handshaking ? t->deadline : 0;
}

static int tls_has_input(hz__sock *s)
{
    tls_sock *t = s->ctx;
    if (!t)
        return 0;
    if (t->retry_on_write)
        return !s->want_write; /* the socket became writable: step again */
    return !t->handshaking && t->vt->pending(t->s) > 0;
}

/* Only between records: a step waiting for writability holds its record,
 * and out its records (owners idle with nothing in flight: never, then).
 * 1: dropped. */
static int tls_drop(tls_sock *t)
{
    if (t->handshaking || t->retry_on_write || t->out_len)
        return 0;
    out_give(t, 1);
    if (t->vt->idle)
        t->vt->idle(t->s);
    return 1;
}

static void tls_idle(hz__sock *s)
{
    tls_sock *t = s->ctx;
    if (t)
        tls_drop(t);
}

/* The one delayed drop for every owner (hz__sock_idle). A quiet period
 * begins at the first idle point after a read or write; the buffers go
 * HZ__SOCK_IDLE_MS into it (the owner's timer brings it back), once. Only
 * for a client seen coming back quickly, though: when the last quiet
 * period after a write began less than that before this one (back-to-back
 * requests, messages, batches of streams). Otherwise (the first response,
 * the first after a pause) they go at once: nothing says yet that the
 * client comes back soon, and many never do (one request, an idle pool),
 * whose buffers would otherwise all be live for that long (~34 KiB per
 * connection opened in those 100 ms: a heap high-water mark). A busy
 * connection pays one free and malloc per burst instead of per request. */
static uint64_t tls_quiet(hz__sock *s, uint64_t now)
{
    tls_sock *t = s->ctx;
    if (!t)
        return 0;
    uint32_t n = (uint32_t)now;
    if (t->busy) { /* a new quiet period */
        int quick = t->has_last && (uint32_t)(n - t->last_quiet) < HZ__SOCK_IDLE_MS;
        t->busy = 0;
        t->dropped = 0;
        t->quiet_since = n;
        if (t->wrote) {
            t->last_quiet = n;
            t->has_last = 1;
        }
        if (quick)
            return now + HZ__SOCK_IDLE_MS;
    } else if (t->dropped) {
        return 0;
    } else if ((uint32_t)(n - t->quiet_since) < HZ__SOCK_IDLE_MS) {
        return now + (HZ__SOCK_IDLE_MS - (uint32_t)(n - t->quiet_since));
    }
    if (!tls_drop(t)) { /* mid-step: try again a period later, never spin */
        t->quiet_since = n;
        return now + HZ__SOCK_IDLE_MS;
    }
    t->dropped = 1;
    return 0;
}

const hz__transport_vt hz__transport_tls = {
    .recv = tls_recv,
    .send = tls_send,
    .writev = tls_writev,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .handshake_deadline = tls_handshake_deadline,
    .has_input = tls_has_input,
    .queued = tls_queued,
    .idle = tls_idle,
    .quiet = tls_quiet,
    .is_tls = 1,
};

const char *hz__tls_sock_alpn(hz__sock *s)
{
    if (s->tp != &hz__transport_tls)
        return NULL;
    tls_sock *t = s->ctx;
    if (t->handshaking || !t->vt->alpn_selected)
        return NULL;
    return t->vt->alpn_selected(t->s);
}

int hz__tls_sock_attach(hz__sock *s, const hz_allocator *a, hz__bufcache *bc, const hz_tls_vt *vt,
                        hz_tls_ctx *ctx, uint64_t deadline, hz__tls_handshake_fn on_handshake)
{
    tls_sock *t = hz__calloc(a, sizeof(*t));
    if (!t)
        return HZ_ENOMEM;
    t->vt = vt;
    t->a = a;
    t->bc = bc && bc->a == a ? bc : NULL; /* a spare is freed by the cache's allocator */
    t->on_handshake = on_handshake;
    t->raw = *s;
    t->io.send = tls_io_send;
    t->io.recv = tls_io_recv;
    t->io.io_ctx = t;
    int rc = vt->session_create(ctx, &t->io, &t->s);
    if (rc < 0) {
        hz__free(a, t, sizeof(*t));
        return rc;
    }
    t->handshaking = 1;
    t->busy = 1; /* no quiet period yet */
    t->deadline = deadline;
    s->tp = &hz__transport_tls;
    s->ctx = t;
    return 0;
}

void hz__sock_move(hz__sock *dst, hz__sock *src)
{
    *dst = *src; /* a TLS shim reaches the socket through its own copy (raw) */
    src->ctx = NULL;
    src->fd = -1;
    src->want_write = 0;
}

long hz__sock_peek(hz__sock *s)
{
    if (s->tp == &hz__transport_tls)
        return s->ctx ? raw_peek(&((tls_sock *)s->ctx)->raw) : HZ_EINVAL;
    return raw_peek(s);
}

size_t hz__tls_sock_held(const hz__sock *s)
{
    if (s->tp != &hz__transport_tls || !s->ctx)
        return 0;
    const tls_sock *t = s->ctx;
    return t->out_len - t->out_sent;
}

size_t hz__tls_sock_held_max(void)
{
    return TLS_OUT_CAP;
}
