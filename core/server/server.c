/* server.c - configuration defaults, routes, listeners, and the server's
 * life: create, start, stop, wait, destroy. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "conn.h"
#include "loop.h"
#include "listen.h"
#include "tls.h"
#include "exec.h"
#include "accesslog.h"
#include "fmt.h"
#include "h2.h"

/* The smallest size each config struct ever had: its last field in the
 * first release with size fields (0.2). Fields appended later are not
 * counted here: an older caller gets their defaults. */
#define HZ__CONFIG_SIZE_MIN HZ__SIZE_THROUGH(hz_config, access_log_ud)
#define HZ__ROUTE_OPTS_SIZE_MIN HZ__SIZE_THROUGH(hz_route_opts, body_limit)
#define HZ__LISTENER_CONFIG_SIZE_MIN HZ__SIZE_THROUGH(hz_listener_config, protocols)

#if HZ_HAVE_MSG_NOSIGNAL
#define HZ__SEND_FLAGS MSG_NOSIGNAL
#else
#define HZ__SEND_FLAGS 0
#endif

static void reject_busy(int fd)
{
    /* Before any protocol runs, so canned; the same fields and body as the
     * answers hz__res_answer builds (core/http/response.c). */
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 19\r\nConnection: close\r\n\r\n"
                               "Service Unavailable";
    /* A fresh socket's send buffer is empty: this either fits or fails. */
    ssize_t n = send(fd, busy, sizeof(busy) - 1, HZ__SEND_FLAGS);
    (void)n;
    shutdown(fd, SHUT_WR);
    close(fd);
}

/* The loops' accept hook: the connection limit, then the listener's
 * protocol (HTTP/1.1, over TLS on a TLS listener). */
static int server_accept(hz__loop *loop, int fd, void *ud)
{
    hz_server *srv = loop->srv;
    const hz__listener *l = ud;
    unsigned n = atomic_fetch_add(&srv->nconns, 1);
    if (srv->cfg.max_connections && n >= srv->cfg.max_connections) {
        atomic_fetch_sub(&srv->nconns, 1);
        hz__metrics_refused(loop); /* before the client can see the 503 */
        reject_busy(fd);
        return 0;
    }
    hz__conn *c = hz__conn_new(loop, fd);
    int rc = c ? 0 : HZ_ENOMEM;
    if (c && (l->protocols & HZ_PROTO_HTTP2)) {
        c->h2_listener = 1;
        c->h2_ok = !l->tls; /* prior knowledge; on TLS, ALPN decides */
    }
    if (c && l->tls && (rc = hz__tls_conn_attach(c, l)) < 0) {
        hz__free(&srv->a, c, sizeof(*c));
    } else if (c) {
        if (hz__conn_start(c) < 0)
            atomic_fetch_sub(&srv->nconns, 1); /* it closed fd */
        return 0;
    }
    atomic_fetch_sub(&srv->nconns, 1);
    return rc; /* fd stays the loop's: it closes it */
}

static void config_defaults(hz_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->size = sizeof(*cfg);
    cfg->loops = 0;
    cfg->max_connections = 10000;
    cfg->max_requests_per_conn = 0;
    cfg->max_pipelined = 16;
    cfg->output_buffer = 64 * 1024;
    cfg->server_header = "httpz";
    cfg->reuse_port = 1;
    cfg->limits.request_line = 8192;
    cfg->limits.field_size = 8192;
    cfg->limits.header_bytes = 32768;
    cfg->limits.header_count = 100;
    cfg->limits.chunk_ext = 256;
    cfg->limits.trailer_bytes = 8192;
    cfg->limits.body_buffered = 1024 * 1024;
    cfg->limits.body_streamed = 0;
    cfg->timeouts.header = 10000;
    cfg->timeouts.body_idle = 10000;
    cfg->timeouts.body_min_rate = 256; /* bytes/s: a trickled body cannot beat body_idle forever */
    cfg->timeouts.write = 10000;
    cfg->timeouts.keepalive = 5000;
    cfg->timeouts.tls_handshake = 10000;
    cfg->max_tls_handshakes = 1024;
    cfg->timeouts.handler = 30000;
    cfg->access_log_file.fd = -1;
    cfg->access_log_file.format = HZ_ACCESS_LOG_COMBINED;
    cfg->access_log_file.buffer = 64 * 1024;
    cfg->access_log_file.flush_ms = 1000;
    cfg->compression.gzip_level = 6;
    cfg->compression.brotli_quality = 5;
    cfg->compression.min_size = 256;
    cfg->compression.window_bits = 15;
    cfg->max_websockets = 10000;
    cfg->http2.max_concurrent_streams = 100;
    cfg->http2.initial_window = 65535;
    cfg->http2.conn_output_buffer = 256 * 1024;
    cfg->http2.max_control_frames = 1000;
    cfg->http2.max_resets = 200;
    cfg->http2.websocket = 1;
}

void hz_config_init_sized(hz_config *cfg, size_t size)
{
    hz_config d;
    config_defaults(&d);
    hz__cfg_init(cfg, size, &d, sizeof(d));
}

void hz_route_opts_init_sized(hz_route_opts *opts, size_t size)
{
    hz_route_opts d;
    memset(&d, 0, sizeof(d));
    hz__cfg_init(opts, size, &d, sizeof(d));
}

static unsigned online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 1024 ? (unsigned)n : 1;
}

void hz_server_destroy(hz_server *srv)
{
    if (!srv)
        return;
    if (srv->started && !srv->joined) {
        hz_server_stop(srv, 0);
        hz_server_wait(srv);
    }
    hz__alog_flush_all(srv); /* loops that never ran, or ran without a thread */
    if (srv->loops) {
        for (unsigned i = 0; i < srv->nloops; i++) {
            if (!srv->loops[i].srv)
                continue; /* never initialised */
            hz__loop_close_all(&srv->loops[i]);
            hz__ex_pool_free(&srv->loops[i]);
            hz__h2_pool_free(&srv->loops[i]);
            hz__loop_fini(&srv->loops[i]);
        }
        hz__free(&srv->a, srv->loops, sizeof(*srv->loops) * srv->nloops);
    }
    hz__svtimers_fini(srv); /* after the loops: their queued messages ran */
    for (unsigned i = 0; i < srv->nlisteners; i++) {
        hz__listener *l = &srv->listeners[i];
        hz__tls_listener_fini(l);
        hz__listen_close(l, &srv->a); /* and its Unix socket file */
    }
    hz__free(&srv->a, srv->listeners, sizeof(*srv->listeners) * srv->nlisteners);
    while (srv->routes) {
        hz__route_rec *r = srv->routes;
        srv->routes = r->next;
        hz__free(&srv->a, r, sizeof(*r));
    }
    hz__router_destroy(srv->router);
    hz__alog_destroy(srv);
    hz__free(&srv->a, srv->server_hdr, srv->server_hdr_len + 1);
    hz_allocator a = srv->a;
    hz__free(&a, srv, sizeof(*srv));
}

int hz_server_create(hz_server **out, const hz_config *user_cfg)
{
    int rc;
    if (!out)
        return HZ_EINVAL;
    *out = NULL;
    if (!user_cfg)
        return HZ_EINVAL;
    /* From here on, the caller's fields over this library's defaults. */
    hz_config full;
    config_defaults(&full);
    if ((rc = hz__cfg_import(&full, sizeof(full), user_cfg, HZ__CONFIG_SIZE_MIN)) < 0)
        return rc;
    const hz_config *cfg = &full;
    const hz_allocator *a = cfg->allocator ? cfg->allocator : &hz_allocator_default;
    if ((rc = hz__allocator_check(a)) < 0)
        return rc;
    const hz_poller_vt *pv = cfg->poller ? cfg->poller : hz_pollers[0];
    if (!pv)
        return HZ_EINVAL;
    if (pv->abi != HZ_BACKEND_ABI)
        return HZ_EABI;
    if ((pv->caps & HZ_POLLER_CAP_COMPLETION) &&
        (!pv->accept || !pv->recv || !pv->send || !pv->shutdown || !pv->close || !pv->quiesce ||
         !pv->queued))
        return HZ_EINVAL;
    unsigned nloops = cfg->loops ? cfg->loops : online_cores();
    if (nloops > 1024 || cfg->output_buffer < 1024 || cfg->limits.header_count == 0 ||
        cfg->limits.header_bytes < 256 || cfg->limits.request_line < 16)
        return HZ_EINVAL;
    if (nloops > 1 && !(a->vt->caps & HZ_ALLOC_CAP_THREADSAFE))
        return HZ_EINVAL;
    if (cfg->executor && (!cfg->executor->vt || cfg->executor->vt->abi != HZ_BACKEND_ABI))
        return HZ_EABI;
    /* Executor handlers record responses through the allocator on workers,
     * and every loop submits. */
    if (cfg->executor && (!cfg->executor->vt->submit || !(a->vt->caps & HZ_ALLOC_CAP_THREADSAFE) ||
                          (nloops > 1 && !(cfg->executor->vt->caps & HZ_EXEC_CAP_THREADSAFE))))
        return HZ_EINVAL;

    hz_server *srv = hz__calloc(a, sizeof(*srv));
    if (!srv)
        return HZ_ENOMEM;
    srv->cfg = *cfg;
    srv->a = *a;
    srv->pv = pv;
    srv->on_accept = server_accept;
#if HZ_HAVE_HTTP2
    srv->h2_takeover = hz__h2_takeover;
#endif
    atomic_init(&srv->nconns, 0);
    atomic_init(&srv->stop_requested, 0);
    atomic_init(&srv->stop_deadline_ms, 0);
    srv->plimits.request_line = cfg->limits.request_line;
    srv->plimits.field_size = cfg->limits.field_size;
    srv->plimits.header_bytes = cfg->limits.header_bytes;
    srv->plimits.header_count = cfg->limits.header_count;
    srv->plimits.chunk_ext = cfg->limits.chunk_ext;
    srv->plimits.trailer_bytes = cfg->limits.trailer_bytes;
    if ((rc = hz__router_create(&srv->router, &srv->a)) < 0)
        goto fail;
    if (cfg->server_header && *cfg->server_header) {
        size_t n = strlen(cfg->server_header);
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)cfg->server_header[i];
            if (ch < 0x20 || ch == 0x7f) {
                rc = HZ_EINVAL;
                goto fail;
            }
        }
        srv->server_hdr_len = n + 10;
        srv->server_hdr = hz__alloc(&srv->a, srv->server_hdr_len + 1);
        if (!srv->server_hdr) {
            rc = HZ_ENOMEM;
            goto fail;
        }
        hz__sb b;
        hz__sb_init(&b, srv->server_hdr, srv->server_hdr_len + 1);
        hz__sb_str(&b, "Server: ");
        hz__sb_put(&b, cfg->server_header, n);
        hz__sb_str(&b, "\r\n");
        hz__sb_end(&b);
    }
    srv->loops = hz__calloc(&srv->a, sizeof(*srv->loops) * nloops);
    if (!srv->loops) {
        rc = HZ_ENOMEM;
        goto fail;
    }
    srv->nloops = nloops;
    for (unsigned i = 0; i < nloops; i++) {
        if ((rc = hz__loop_init(&srv->loops[i], srv, i)) < 0)
            goto fail;
    }
    if ((rc = hz__alog_create(srv)) < 0)
        goto fail;
    if ((rc = hz__svtimers_init(srv)) < 0)
        goto fail;
    *out = srv;
    return 0;
fail:
    hz_server_destroy(srv);
    return rc;
}

int hz_route_with(hz_server *srv, const char *method, const char *path, hz_handler_fn fn, void *ud,
                  const hz_route_opts *opts)
{
    if (!srv || !path || !fn)
        return HZ_EINVAL;
    if (srv->started)
        return HZ_ESTATE;
    hz_route_opts o;
    hz_route_opts_init(&o);
    if (opts && hz__cfg_import(&o, sizeof(o), opts, HZ__ROUTE_OPTS_SIZE_MIN) < 0)
        return HZ_EINVAL;
    hz__route_rec *rec = hz__calloc(&srv->a, sizeof(*rec));
    if (!rec)
        return HZ_ENOMEM;
    rec->fn = fn;
    rec->ud = ud;
    rec->flags = o.flags;
    if (srv->cfg.compression.all_routes)
        rec->flags |= HZ_ROUTE_COMPRESS;
    rec->body_limit = o.body_limit;
    hz__route r = {.fn = fn, .ud = rec, .flags = rec->flags};
    int rc = hz__router_add(srv->router, method, path, &r);
    if (rc < 0) {
        hz__free(&srv->a, rec, sizeof(*rec));
        return rc;
    }
    rec->next = srv->routes;
    srv->routes = rec;
    return 0;
}

int hz_route(hz_server *srv, const char *method, const char *path, hz_handler_fn fn, void *ud)
{
    return hz_route_with(srv, method, path, fn, ud, NULL);
}

void hz_listener_config_init_sized(hz_listener_config *lc, size_t size)
{
    hz_listener_config d;
    memset(&d, 0, sizeof(d));
    d.fd = -1; /* 0 is a valid descriptor */
    hz__cfg_init(lc, size, &d, sizeof(d));
}

int hz_server_listen(hz_server *srv, const char *addr, int port, const hz_tls_config *tls)
{
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    lc.addr = addr;
    lc.port = port;
    lc.tls = tls;
    return hz_server_listen_with(srv, &lc);
}

int hz_server_listen_with(hz_server *srv, const hz_listener_config *user_lc)
{
    if (!srv || !user_lc)
        return HZ_EINVAL;
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    if (hz__cfg_import(&lc, sizeof(lc), user_lc, HZ__LISTENER_CONFIG_SIZE_MIN) < 0)
        return HZ_EINVAL;
    int port = lc.port;
    const hz_tls_config *tls = lc.tls;
    if (port < 0 || port > 65535 || (lc.protocols & ~(unsigned)(HZ_PROTO_HTTP1 | HZ_PROTO_HTTP2)))
        return HZ_EINVAL;
    /* The default: HTTP/1.1, plus HTTP/2 by ALPN on TLS when built with it. */
    unsigned protocols =
        lc.protocols ? lc.protocols : HZ_PROTO_HTTP1 | (HZ_HAVE_HTTP2 && tls ? HZ_PROTO_HTTP2 : 0);
    if ((protocols & HZ_PROTO_HTTP2) && !HZ_HAVE_HTTP2)
        return HZ_ENOTSUP; /* not compiled in */
    if (srv->started)
        return HZ_ESTATE;
    int reuseport = 0;
#if HZ_HAVE_SO_REUSEPORT
    reuseport = srv->cfg.reuse_port && srv->nloops > 1;
#endif
    /* Built aside; the array grows last, so a failure leaves it the size
     * hz_server_destroy frees. The sockets: core/event/listen.c. */
    hz__listener nl, *l = &nl;
    memset(l, 0, sizeof(*l));
    int rc = hz__listen_open(l, &lc, &srv->a, (int)srv->nlisteners, reuseport ? srv->nloops : 1);
    if (rc < 0)
        return rc;
    l->protocols = protocols; /* before the TLS setup: it picks the ALPN list */
    if (tls && (rc = hz__tls_listener_init(srv, l, tls)) < 0) {
        hz__listen_close(l, &srv->a);
        return rc;
    }
    l->has_tls = tls != NULL;
    hz__listener *ls = hz__realloc(&srv->a, srv->listeners, sizeof(*ls) * srv->nlisteners,
                                   sizeof(*ls) * (srv->nlisteners + 1));
    if (!ls) {
        hz__tls_listener_fini(l);
        hz__listen_close(l, &srv->a);
        return HZ_ENOMEM;
    }
    srv->listeners = ls;
    ls[srv->nlisteners] = nl;
    return (int)srv->nlisteners++;
}

int hz_server_listener_fd(const hz_server *srv, int idx)
{
    if (!srv || idx < 0 || (unsigned)idx >= srv->nlisteners)
        return HZ_EINVAL;
    const hz__listener *l = &srv->listeners[idx];
    /* With one socket per loop, a successor adopting one of them would
     * leave the connections queued on the others to be reset at stop. */
    if (l->nsocks > 1)
        return HZ_ENOTSUP;
    if (atomic_load_explicit(&srv->stop_requested, memory_order_acquire))
        return HZ_ESTATE; /* the loops close it */
    return l->fd0;
}

int hz_server_port(const hz_server *srv, int idx)
{
    if (!srv || idx < 0 || (unsigned)idx >= srv->nlisteners)
        return HZ_EINVAL;
    return srv->listeners[idx].port;
}

/* Starts threads for loops [first, nloops); loop 0 runs on the caller when
 * first is 1 (hz_server_run). */
static int start_loops(hz_server *srv, unsigned first)
{
    if (!srv)
        return HZ_EINVAL;
    if (srv->started)
        return HZ_ESTATE;
    /* Each loop polls its own socket (SO_REUSEPORT) or the shared one. */
    for (unsigned i = 0; i < srv->nlisteners; i++) {
        hz__listener *l = &srv->listeners[i];
        for (unsigned j = 0; j < l->nsocks; j++) {
            atomic_store(&l->socks[j].users, l->nsocks > 1 ? 1 : (int)srv->nloops);
            l->socks[j].ud = l; /* the array no longer moves */
        }
    }
    for (unsigned i = 0; i < srv->nloops; i++) {
        int rc = hz__loop_listen(&srv->loops[i]);
        if (rc < 0)
            return rc;
    }
    srv->started = 1;
    for (unsigned i = first; i < srv->nloops; i++) {
        hz__loop *loop = &srv->loops[i];
        if (pthread_create(&loop->thread, NULL, hz__loop_main, loop) != 0) {
            /* Loops that never ran will not close their listener share. */
            for (unsigned k = 0; k < srv->nlisteners; k++) {
                hz__listener *l = &srv->listeners[k];
                for (unsigned j = 0; j < l->nsocks; j++)
                    if (l->nsocks == 1 || j >= i || j < first)
                        atomic_store(&l->socks[j].users, 0);
            }
            hz_server_stop(srv, 0);
            hz_server_wait(srv);
            return HZ_ESYS;
        }
        loop->thread_started = 1;
    }
    return 0;
}

int hz_server_start(hz_server *srv)
{
    return start_loops(srv, 0);
}

int hz_server_stop(hz_server *srv, unsigned deadline_ms)
{
    if (!srv)
        return HZ_EINVAL;
    /* Atomics and wake() only: callable from a signal handler. */
    atomic_store(&srv->stop_deadline_ms, deadline_ms);
    atomic_store_explicit(&srv->stop_requested, 1, memory_order_release);
    for (unsigned i = 0; i < srv->nloops; i++)
        if (srv->loops[i].poller)
            srv->loops[i].pv->wake(srv->loops[i].poller);
    return 0;
}

int hz_server_wait(hz_server *srv)
{
    if (!srv)
        return HZ_EINVAL;
    if (!srv->started || srv->joined)
        return 0;
    for (unsigned i = 0; i < srv->nloops; i++) {
        if (srv->loops[i].thread_started) {
            pthread_join(srv->loops[i].thread, NULL);
            srv->loops[i].thread_started = 0;
        }
    }
    srv->joined = 1;
    hz__alog_flush_all(srv); /* every loop has ended: nothing appends any more */
    return 0;
}

int hz_server_run(hz_server *srv)
{
    /* Loop 0 runs on the calling thread, as an nginx worker runs on its
     * process's only thread. With one loop the process may then have a
     * single thread, and Linux skips the file reference count on every
     * socket call of a process whose descriptor table nobody shares. */
    int rc = start_loops(srv, 1);
    if (rc < 0)
        return rc;
    if (srv->nloops) {
        srv->loops[0].thread = pthread_self();
        hz__loop_main(&srv->loops[0]);
    }
    return hz_server_wait(srv);
}

int hz_req_peer(const hz_req *req, char *buf, size_t len, int *port)
{
    if (!req->res.ops->on_loop)
        return HZ_ENOTSUP; /* the connection belongs to the loop */
    hz__conn *c = req->conn;
    if (!c || c->closing)
        return HZ_ECLOSED;
    if (c->sock.fd < 0)
        return HZ_ENOTSUP;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getpeername(c->sock.fd, (struct sockaddr *)&ss, &sl) < 0)
        return hz__err_from_errno(errno);
    const void *src;
    int p;
    if (ss.ss_family == AF_INET) {
        src = &((struct sockaddr_in *)&ss)->sin_addr;
        p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        src = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else if (ss.ss_family == AF_UNIX) {
        /* A Unix-domain client has no address (its own socket is
         * normally unbound): a fixed word instead. */
        if (!buf || len < sizeof("unix"))
            return HZ_ERANGE;
        memcpy(buf, "unix", sizeof("unix"));
        if (port)
            *port = 0;
        return 0;
    } else {
        return HZ_ENOTSUP;
    }
    if (!buf || !inet_ntop(ss.ss_family, src, buf, (socklen_t)len))
        return HZ_ERANGE;
    if (port)
        *port = p;
    return 0;
}
