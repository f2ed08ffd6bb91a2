/* tls.c - TLS in the server: configuration defaults, one backend context
 * per TLS listener, SNI, the handshake cap and live reload. The transport
 * (handshake, records, close_notify, pending input) is core/event/sock.c;
 * the protocol itself lives in backends/tls-<name>/ behind hz_tls_vt. */
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include "internal.h"
#include "loop.h"
#include "tls.h"

void hz_tls_config_init(hz_tls_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->min_version = HZ_TLS_V1_2;
    cfg->ciphers = NULL; /* the backend's safe default (docs/tls.md) */
    cfg->alpn = "http/1.1";
}

/* ------------------------------------------------------------------------ */
/* SNI                                                                       */
/* ------------------------------------------------------------------------ */

/* 2: host equals pattern (ASCII case ignored); 1: pattern "*.rest" and host
 * is one non-empty label followed by ".rest"; 0: no match. */
static int sni_match(const char *pattern, const char *host, size_t len)
{
    size_t plen = strlen(pattern);
    if (plen == len && strncasecmp(pattern, host, len) == 0)
        return 2;
    if (plen > 2 && pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = memchr(host, '.', len);
        if (dot && dot != host && (size_t)(host + len - dot) == plen - 1 &&
            strncasecmp(dot, pattern + 1, plen - 1) == 0)
            return 1;
    }
    return 0;
}

unsigned hz__sni_pick(const void *items, unsigned n, size_t stride, size_t name_off,
                      const char *host, size_t len)
{
    unsigned best = 0;
    int best_score = 0;
    for (unsigned i = 0; i < n; i++) {
        const char *name;
        memcpy(&name, (const char *)items + (size_t)i * stride + name_off, sizeof(name));
        if (!name)
            continue;
        int score = sni_match(name, host, len);
        if (score > best_score) {
            best = i;
            best_score = score;
        }
    }
    return best;
}

/* ------------------------------------------------------------------------ */
/* Listeners                                                                 */
/* ------------------------------------------------------------------------ */

int hz__tls_listener_init(hz_server *srv, hz__listener *l, const hz_tls_config *cfg)
{
    const hz_tls_vt *vt = srv->cfg.tls;
#if HZ_HAVE_TLS
    if (!vt)
        vt = hz_tls_default;
#endif
    if (!vt)
        return HZ_ENOTSUP;
    if (vt->abi != HZ_BACKEND_ABI)
        return HZ_EABI;
    int rc = vt->ctx_create(&l->tls, cfg, &srv->a);
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
    return l->tls_vt->ctx_reload(l->tls, cfg);
}

/* ------------------------------------------------------------------------ */
/* Connections                                                               */
/* ------------------------------------------------------------------------ */

/* The end of a handshake (core/event/sock.c calls it once): metrics, the
 * cap's count, and the header timeout starts now. */
static void tls_conn_handshake(hz__sock *s, int ok)
{
    hz__conn *c = (hz__conn *)((char *)s - offsetof(hz__conn, sock));
    hz__metrics_tls(c->loop, ok);
    atomic_fetch_sub(&c->loop->srv->tls_handshakes, 1);
    if (ok)
        c->last_io = c->loop->now;
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
    int rc =
        hz__tls_sock_attach(&c->sock, &srv->a, l->tls_vt, l->tls, deadline, tls_conn_handshake);
    if (rc < 0)
        atomic_fetch_sub(&srv->tls_handshakes, 1);
    return rc;
}
