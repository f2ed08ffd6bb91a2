/* tls.c - TLS in the server: configuration defaults, one backend context
 * per TLS listener, the TLS connection transport (handshake, records,
 * close_notify, pending input), the handshake cap and live reload. The
 * protocol itself lives in backends/tls-<name>/ behind hz_tls_vt; what those
 * backends share (config check, SNI, ALPN, snapshots) is in tls_conf.c. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include "internal.h"
#include "loop.h"
#include "tls.h"

/* The smallest hz_tls_config.size accepted (docs/abi.md). */
#define HZ__TLS_CONFIG_SIZE_MIN HZ__SIZE_THROUGH(hz_tls_config, alpn)

static void tls_config_defaults(hz_tls_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->size = sizeof(*cfg);
    cfg->min_version = HZ_TLS_V1_2;
    cfg->ciphers = NULL; /* the backend's safe default (docs/tls.md) */
    cfg->alpn = "http/1.1";
}

void hz_tls_config_init_sized(hz_tls_config *cfg, size_t size)
{
    hz_tls_config d;
    tls_config_defaults(&d);
    hz__cfg_init(cfg, size, &d, sizeof(d));
}

/* The caller's cfg over the defaults, so backends always see a whole
 * hz_tls_config of this library's size. */
static int tls_config_import(hz_tls_config *full, const hz_tls_config *user)
{
    tls_config_defaults(full);
    return hz__cfg_import(full, sizeof(*full), user, HZ__TLS_CONFIG_SIZE_MIN);
}

/* ------------------------------------------------------------------------ */
/* Listeners                                                                 */
/* ------------------------------------------------------------------------ */

int hz__tls_listener_init(hz_server *srv, hz__listener *l, const hz_tls_config *user_cfg)
{
    hz_tls_config cfg;
    int rc = tls_config_import(&cfg, user_cfg);
    if (rc < 0)
        return rc;
    const hz_tls_vt *vt = srv->cfg.tls;
#if HZ_HAVE_TLS
    if (!vt)
        vt = hz_tls_default;
#endif
    if (!vt)
        return HZ_ENOTSUP;
    if (vt->abi != HZ_BACKEND_ABI)
        return HZ_EABI;
    rc = vt->ctx_create(&l->tls, &cfg, &srv->a);
    if (rc < 0)
        return rc;
    l->tls_vt = vt;
    return 0;
}

void hz__tls_listener_fini(hz__listener *l)
{
    if (l->tls)
        l->tls_vt->ctx_destroy(l->tls);
    l->tls = NULL;
}

int hz_server_tls_reload(hz_server *srv, int idx, const hz_tls_config *cfg)
{
    if (!srv || !cfg || idx < 0 || (unsigned)idx >= srv->nlisteners)
        return HZ_EINVAL;
    hz__listener *l = &srv->listeners[idx];
    if (!l->tls)
        return HZ_EINVAL; /* a plain-HTTP listener */
    hz_tls_config full;
    int rc = tls_config_import(&full, cfg);
    if (rc < 0)
        return rc;
    return l->tls_vt->ctx_reload(l->tls, &full);
}

/* ------------------------------------------------------------------------ */
/* The TLS transport                                                         */
/* ------------------------------------------------------------------------ */

typedef struct hz__tls_conn {    /* owner: its conn (c->tp_ctx) */
    hz_tls_session *s;           /* owns */
    const hz_tls_vt *vt;         /* borrowed: static */
    hz_tls_io io;                /* the session's shim: the conn's raw socket */
    uint64_t deadline;           /* ms: end of the handshake time; 0 = none */
    unsigned handshaking : 1;    /* counted in srv->tls_handshakes */
    unsigned retry_on_write : 1; /* the last step waited for writability */
    unsigned first_seen : 1;     /* the client's first byte was looked at */
} hz__tls_conn;

static long tls_io_send(void *ctx, const void *buf, size_t len)
{
    return hz__transport_socket.send(ctx, buf, len);
}

static long tls_io_recv(void *ctx, void *buf, size_t len)
{
    return hz__transport_socket.recv(ctx, buf, len);
}

static void tls_handshake_over(hz__conn *c, hz__tls_conn *t)
{
    if (!t->handshaking)
        return;
    t->handshaking = 0;
    t->deadline = 0;
    atomic_fetch_sub(&c->loop->srv->tls_handshakes, 1);
}

/* WANT_* become HZ_EAGAIN for the core; a step that waits for writability
 * asks the core for write interest and is retried from has_input. */
static long tls_result(hz__conn *c, hz__tls_conn *t, long rc)
{
    if (rc == HZ_TLS_WANT_WRITE) {
        t->retry_on_write = 1;
        c->wblocked = 1;
        return HZ_EAGAIN;
    }
    if (rc == HZ_TLS_WANT_READ)
        return HZ_EAGAIN;
    return rc < 0 ? rc : HZ_EIO;
}

/* Plain HTTP sent to an HTTPS port: the connection drops TLS (t is freed,
 * c goes back to the socket transport), queues a plain-text 400 and closes
 * after it like any error answer (a lingering close, so the client reads
 * the 400 instead of a reset caused by its unread request). Counted as a
 * failed handshake, close reason ERROR. 0, or HZ_ENOMEM (the caller closes). */
static int tls_plain_reject(hz__conn *c, hz__tls_conn *t)
{
    static const char body[] = "This is an HTTPS port: send the request with TLS (https://).\n";
    hz__loop *loop = c->loop;
    hz__metrics_tls(loop, 0);
    hz__conn_why(c, HZ_CLOSE_ERROR);
    tls_handshake_over(c, t);
    t->vt->session_destroy(t->s);
    hz__free(&loop->srv->a, t, sizeof(*t));
    c->tp = &hz__transport_socket;
    c->tp_ctx = NULL;
    char msg[512];
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 400 Bad Request\r\n%.*sContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     (int)loop->date_len, loop->date, sizeof(body) - 1, body);
    if (n < 0 || (size_t)n >= sizeof(msg) || hz__buf_append(&c->out, &loop->bufs, msg, (size_t)n))
        return HZ_ENOMEM;
    c->close_after = 1;
    return 0;
}

/* A TLS client speaks first, and its first record is a handshake record
 * (content type 22, RFC 8446 §5.1; a byte >= 0x80 would be an SSLv2-style
 * hello, left to the library to refuse). Any other first byte cannot start
 * TLS: most likely it is plain HTTP ("GET ..."). The byte is peeked, so the
 * library still sees the whole stream. Returns 0 (go on with the
 * handshake), HZ_EAGAIN (nothing yet, or answered: t is gone), or < 0. */
static long tls_first_byte(hz__conn *c, hz__tls_conn *t)
{
    unsigned char b;
    ssize_t n;
    do
        n = recv(c->fd, &b, 1, MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return HZ_EAGAIN;
    t->first_seen = 1;
    if (n != 1 || b == 0x16 || b >= 0x80)
        return 0; /* EOF and errors too: the library reports them */
    int rc = tls_plain_reject(c, t);
    return rc < 0 ? rc : HZ_EAGAIN;
}

/* Advances the handshake: 0 once done, else as tls_result. */
static long tls_handshake(hz__conn *c, hz__tls_conn *t)
{
    if (!t->handshaking)
        return 0;
    if (HZ_UNLIKELY(!t->first_seen)) {
        long rc = tls_first_byte(c, t);
        if (rc != 0)
            return rc; /* t may be gone: the caller returns at once */
    }
    int rc = t->vt->handshake(t->s);
    if (rc < 0) {
        if (rc != HZ_TLS_WANT_READ && rc != HZ_TLS_WANT_WRITE) {
            hz__metrics_tls(c->loop, 0);
            tls_handshake_over(c, t); /* failed: the conn closes */
        }
        return tls_result(c, t, rc);
    }
    hz__metrics_tls(c->loop, 1);
    tls_handshake_over(c, t);
    c->last_io = c->loop->now; /* the header timeout starts now */
    return 0;
}

static long tls_recv(hz__conn *c, void *buf, size_t len)
{
    hz__tls_conn *t = c->tp_ctx;
    t->retry_on_write = 0;
    long rc = tls_handshake(c, t);
    if (rc != 0)
        return rc;
    long n = t->vt->read(t->s, buf, len);
    return n >= 0 ? n : tls_result(c, t, n);
}

static long tls_send(hz__conn *c, const void *buf, size_t len)
{
    hz__tls_conn *t = c->tp_ctx;
    long rc = tls_handshake(c, t);
    if (rc != 0)
        return rc;
    long n = t->vt->write(t->s, buf, len);
    if (n > 0)
        return n;
    if (n == HZ_TLS_WANT_READ || n == HZ_TLS_WANT_WRITE)
        return HZ_EAGAIN; /* the core waits for writability itself */
    return n < 0 ? n : HZ_EIO;
}

/* TLS cannot scatter: up to one record's worth is gathered and written as
 * one record (a response head and the start of its body share it). A retry
 * after HZ_EAGAIN starts with the same bytes, as the backends require. */
static long tls_writev(hz__conn *c, const struct iovec *iov, int iovcnt)
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
    return tls_send(c, rec, n);
}

static int tls_shutdown(hz__conn *c)
{
    hz__tls_conn *t = c->tp_ctx;
    if (!t->handshaking)
        (void)t->vt->shutdown(t->s); /* close_notify, best effort */
    return hz__transport_socket.shutdown(c);
}

static void tls_close(hz__conn *c)
{
    hz__tls_conn *t = c->tp_ctx;
    if (t) {
        if (t->handshaking)
            hz__metrics_tls(c->loop, 0); /* closed mid-handshake (timeout, peer) */
        tls_handshake_over(c, t);
        t->vt->session_destroy(t->s);
        hz__free(&c->loop->srv->a, t, sizeof(*t));
        c->tp_ctx = NULL;
    }
    hz__transport_socket.close(c);
}

static uint64_t tls_handshake_deadline(hz__conn *c)
{
    const hz__tls_conn *t = c->tp_ctx;
    return t && t->handshaking ? t->deadline : 0;
}

static int tls_has_input(hz__conn *c)
{
    hz__tls_conn *t = c->tp_ctx;
    if (!t)
        return 0;
    if (t->retry_on_write)
        return !c->wblocked; /* the socket became writable: step again */
    return !t->handshaking && t->vt->pending(t->s) > 0;
}

const hz__transport_vt hz__transport_tls = {
    .recv = tls_recv,
    .send = tls_send,
    .writev = tls_writev,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .handshake_deadline = tls_handshake_deadline,
    .has_input = tls_has_input,
};

int hz__tls_conn_attach(hz__conn *c, const hz__listener *l)
{
    hz_server *srv = c->loop->srv;
    unsigned cap = srv->cfg.max_tls_handshakes;
    unsigned n = atomic_fetch_add(&srv->tls_handshakes, 1);
    if (cap && n >= cap) {
        atomic_fetch_sub(&srv->tls_handshakes, 1);
        return HZ_EBUSY;
    }
    hz__tls_conn *t = hz__calloc(&srv->a, sizeof(*t));
    if (!t) {
        atomic_fetch_sub(&srv->tls_handshakes, 1);
        return HZ_ENOMEM;
    }
    t->vt = l->tls_vt;
    t->io.send = tls_io_send;
    t->io.recv = tls_io_recv;
    t->io.io_ctx = c;
    int rc = t->vt->session_create(l->tls, &t->io, &t->s);
    if (rc < 0) {
        hz__free(&srv->a, t, sizeof(*t));
        atomic_fetch_sub(&srv->tls_handshakes, 1);
        return rc;
    }
    t->handshaking = 1;
    if (srv->cfg.timeouts.tls_handshake)
        t->deadline = c->loop->now + srv->cfg.timeouts.tls_handshake;
    c->tp = &hz__transport_tls;
    c->tp_ctx = t;
    return 0;
}
