/* tls.c - TLS in the server: configuration defaults, one backend context
 * per TLS listener, the handshake cap and live reload. The transport
 * (handshake, records, close_notify, pending input) is core/event/sock.c;
 * the protocol itself lives in backends/tls-<name>/ behind hz_tls_vt; what
 * those backends share (config check, SNI, ALPN, snapshots) is in
 * tls_conf.c. */
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

/* A listener serving HTTP/2 offers it first by ALPN when the ALPN list is
 * the default one (a list the user set is taken as given). */
static void tls_alpn_for(const hz__listener *l, hz_tls_config *cfg)
{
    if ((l->protocols & HZ_PROTO_HTTP2) && cfg->alpn && strcmp(cfg->alpn, "http/1.1") == 0)
        cfg->alpn = "h2,http/1.1";
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
    tls_alpn_for(l, &cfg);
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
    tls_alpn_for(l, &full);
    return l->tls_vt->ctx_reload(l->tls, &full);
}

/* ------------------------------------------------------------------------ */
/* Connections                                                               */
/* ------------------------------------------------------------------------ */

/* The end of a handshake (core/event/sock.c calls it once): metrics, the
 * cap's count, and the header timeout starts now. */
/* Plain HTTP sent to an HTTPS port (the transport saw a first byte that
 * cannot start TLS and is a plain socket again): a plain-text 400, then
 * the lingering close of every error answer, so the client reads the 400
 * instead of a reset caused by its unread request. Counted as a failed
 * handshake (above), close reason ERROR. */
static void tls_plain_reject(hz__conn *c)
{
    static const char body[] = "This is an HTTPS port: send the request with TLS (https://).\n";
    hz__loop *loop = c->loop;
    hz__conn_why(c, HZ_CLOSE_ERROR);
    char msg[512];
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 400 Bad Request\r\n%.*sContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     (int)loop->date_len, loop->date, sizeof(body) - 1, body);
    if (n > 0 && (size_t)n < sizeof(msg))
        (void)hz__buf_append(&c->out, &loop->bufs, msg, (size_t)n); /* else: closed unanswered */
    c->close_after = 1;
}

static void tls_conn_handshake(hz__sock *s, int ok)
{
    hz__conn *c = (hz__conn *)((char *)s - offsetof(hz__conn, sock));
    hz__metrics_tls(c->loop, ok > 0);
    atomic_fetch_sub(&c->loop->srv->tls_handshakes, 1);
    if (ok > 0) {
        c->last_io = c->loop->now;
        if (c->h2_listener) { /* RFC 9113 §3.3: over TLS, only when ALPN chose h2 */
            const char *p = hz__tls_sock_alpn(s);
            c->h2_ok = p && strcmp(p, "h2") == 0;
        }
    } else if (ok == HZ__TLS_NOT_TLS)
        tls_plain_reject(c);
}

int hz__tls_conn_attach(hz__conn *c, const hz__listener *l)
{
    hz_server *srv = c->loop->srv;
    unsigned cap = srv->cfg.max_tls_handshakes;
    unsigned n = atomic_fetch_add(&srv->tls_handshakes, 1);
    if (cap && n >= cap) {
        atomic_fetch_sub(&srv->tls_handshakes, 1);
        return HZ_EBUSY;
    }
    uint64_t deadline = 0;
    if (srv->cfg.timeouts.tls_handshake)
        deadline = c->loop->now + srv->cfg.timeouts.tls_handshake;
    int rc = hz__tls_sock_attach(&c->sock, &srv->a, &c->loop->bufs, l->tls_vt, l->tls, deadline,
                                 tls_conn_handshake);
    if (rc < 0)
        atomic_fetch_sub(&srv->tls_handshakes, 1);
    return rc;
}
