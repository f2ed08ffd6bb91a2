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

typedef struct tls_sock {              /* owner: its hz__sock (s->ctx) */
    hz__sock raw;                      /* the transport under TLS (socket or cio) */
    hz_tls_session *s;                 /* owns */
    const hz_tls_vt *vt;               /* borrowed: static */
    const hz_allocator *a;             /* borrowed: outlives the socket */
    hz_tls_io io;                      /* the session's shim: the raw socket */
    hz__tls_handshake_fn on_handshake; /* the owner's, called once */
    uint64_t deadline;                 /* ms: end of the handshake time; 0 = none */
    unsigned handshaking : 1;
    unsigned retry_on_write : 1; /* the last step waited for writability */
    unsigned first_seen : 1;     /* the client's first byte was looked at */
} tls_sock;

static long tls_io_send(void *ctx, const void *buf, size_t len)
{
    return sock_send(ctx, buf, len);
}

static long tls_io_recv(void *ctx, void *buf, size_t len)
{
    return sock_recv(ctx, buf, len);
}

/* The shim over a completion poller's socket (ctx: the tls_sock's raw):
 * the TLS library reads the records the poller received. */
static long tls_io_send_cio(void *ctx, const void *buf, size_t len)
{
    return cio_send(ctx, buf, len);
}

static long tls_io_recv_cio(void *ctx, void *buf, size_t len)
{
    return cio_recv(ctx, buf, len);
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
    long rc = tls_handshake(s, t);
    if (rc != 0)
        return rc;
    long n = t->vt->read(t->s, buf, len);
    return n >= 0 ? n : tls_result(s, t, n);
}

static long tls_send(hz__sock *s, const void *buf, size_t len)
{
    tls_sock *t = s->ctx;
    long rc = tls_handshake(s, t);
    if (rc != 0)
        return rc;
    long n = t->vt->write(t->s, buf, len);
    if (n > 0)
        return n;
    if (n == HZ_TLS_WANT_READ || n == HZ_TLS_WANT_WRITE)
        return HZ_EAGAIN; /* the owner waits for writability itself */
    return n < 0 ? n : HZ_EIO;
}

/* TLS cannot scatter: up to one record's worth is gathered and written as
 * one record (a response head and the start of its body share it). A retry
 * after HZ_EAGAIN starts with the same bytes, as the backends require. */
static long tls_writev(hz__sock *s, const struct iovec *iov, int iovcnt)
{
    char rec[16384];
    size_t n = 0;
    for (int i = 0; i < iovcnt && n < sizeof(rec); i++) {
        size_t k = iov[i].iov_len < sizeof(rec) - n ? iov[i].iov_len : sizeof(rec) - n;
        memcpy(rec + n, iov[i].iov_base, k);
        n += k;
    }
    if (n == 0)
        return 0;
    return tls_send(s, rec, n);
}

static int tls_shutdown(hz__sock *s)
{
    tls_sock *t = s->ctx;
    if (!t->handshaking)
        (void)t->vt->shutdown(t->s); /* close_notify, best effort */
    return t->raw.tp->shutdown(&t->raw);
}

static void tls_close(hz__sock *s)
{
    tls_sock *t = s->ctx;
    if (t) {
        tls_handshake_over(s, t, 0); /* closed mid-handshake (timeout, peer) */
        t->vt->session_destroy(t->s);
        hz__sock raw = t->raw;
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

/* Only between records: a step waiting for writability holds its record. */
static void tls_idle(hz__sock *s)
{
    tls_sock *t = s->ctx;
    if (t && !t->handshaking && !t->retry_on_write && t->vt->idle)
        t->vt->idle(t->s);
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

int hz__tls_sock_attach(hz__sock *s, const hz_allocator *a, const hz_tls_vt *vt, hz_tls_ctx *ctx,
                        uint64_t deadline, hz__tls_handshake_fn on_handshake)
{
    tls_sock *t = hz__calloc(a, sizeof(*t));
    if (!t)
        return HZ_ENOMEM;
    t->vt = vt;
    t->a = a;
    t->on_handshake = on_handshake;
    t->raw = *s;
    if (s->tp == &hz__transport_cio) {
        t->io.send = tls_io_send_cio;
        t->io.recv = tls_io_recv_cio;
        t->io.io_ctx = &t->raw;
    } else {
        t->io.send = tls_io_send;
        t->io.recv = tls_io_recv;
        t->io.io_ctx = s;
    }
    int rc = vt->session_create(ctx, &t->io, &t->s);
    if (rc < 0) {
        hz__free(a, t, sizeof(*t));
        return rc;
    }
    t->handshaking = 1;
    t->deadline = deadline;
    s->tp = &hz__transport_tls;
    s->ctx = t;
    return 0;
}

void hz__sock_move(hz__sock *dst, hz__sock *src)
{
    *dst = *src;
    /* A TLS shim over a plain socket reaches it through its owner's
     * hz__sock; over the completion transport, through its own copy. */
    if (dst->tp == &hz__transport_tls && ((tls_sock *)dst->ctx)->io.io_ctx == src)
        ((tls_sock *)dst->ctx)->io.io_ctx = dst;
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
