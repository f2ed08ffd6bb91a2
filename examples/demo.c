/* demo.c - the httpz demo server (the README's "run" program).
 *
 *   demo [--addr A] [--port N] [--loops N] [--header-timeout MS] [--root DIR] [--www DIR]
 *        [--tls-port N] [--cert F --key F] [--access-log FILE] [--quiet] [--help]
 *        [--unix PATH] [--listen-fd N]
 *
 * Where it listens (docs/deployment.md): --addr/--port, or a Unix-domain
 * socket (--unix), or an inherited listening descriptor (--listen-fd), or
 * the sockets systemd passes (LISTEN_FDS, socket activation: each one is
 * plain HTTP except one named "https"; --port and --tls-port are then not
 * opened).
 *
 * HTTPS is served beside plain HTTP on --tls-port (8443; 0 = off) with
 * --cert/--key, or else a self-signed certificate made on the first run and
 * kept in ./.demo-tls/ (see selfsigned.h).
 *
 * Routes:
 *   GET|HEAD /      the status page (--www)  POST /     200, echoes the length
 *   GET /plaintext  "Hello, World!"         POST /echo streams the body back
 *   GET /slow       answers after ?ms=N (default 1000) without blocking the loop
 *   GET /large      a large streamed response (?mb=N, default 16) with backpressure
 *   POST /small     request-body limit 1 KiB
 *   GET /static/... the files under --root (default: the source tree's docs/)
 *   GET /metrics    the server's counters in the Prometheus text format
 *   POST /upload    multipart form, files streamed and hashed: JSON (demo_forms.c)
 *   POST /form      url-encoded form: JSON (demo_forms.c)
 *   GET /app/...    the web app's files (--www, default: the source tree's
 *                   examples/www/); GET /status/events its live numbers
 *                   (Server-Sent Events), GET /stream a download in pieces
 *                   (?n=8&ms=250&size=1024): demo_web.c
 *   GET /ws/echo    WebSocket echo (permessage-deflate offered; same-origin
 *                   browsers or clients without Origin)
 * Every finished request is logged in the combined log format to stdout, or
 * to --access-log FILE, unless --quiet: through the library's buffered
 * writer (cfg.access_log_file: one write(2) per 64 KiB or per second, not
 * one per request).
 * SIGINT/SIGTERM stop gracefully (in-flight requests get 5 s).
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <httpz/httpz.h>
#include "demo_web.h"
#include "selfsigned.h"
#include "demo_forms.h"

#ifndef HZ_DEMO_DOCS
#define HZ_DEMO_DOCS "docs" /* CMake passes the source tree's docs/ */
#endif
#ifndef HZ_DEMO_WWW
#define HZ_DEMO_WWW "examples/www" /* CMake passes the source tree's */
#endif

static hz_server *g_srv;

static void on_signal(int sig)
{
    (void)sig;
    demo_web_stop();             /* the event streams end at their next tick */
    hz_server_stop(g_srv, 5000); /* async-signal-safe */
}

static void root_post(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    char msg[64];
    int n = snprintf(msg, sizeof(msg), "received %zu bytes\n", hz_req_body(req).len);
    hz_res_set_header(res, "Content-Type", "text/plain");
    hz_res_send(res, 200, msg, (size_t)n);
}

static void plaintext(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    hz_res_set_header(res, "Content-Type", "text/plain");
    hz_res_send(res, 200, "Hello, World!", 13);
}

/* /echo: every body piece goes straight back out; a full output budget
 * pauses the body (the piece is offered again) until the socket drains. */
static int echo_chunk(hz_req *req, const void *data, size_t len, void *ud)
{
    (void)req;
    int rc = hz_res_write(ud, data, len);
    return rc == HZ_EAGAIN ? HZ_EAGAIN : rc;
}

static void echo_end(hz_req *req, int status, void *ud)
{
    (void)req;
    if (status == 0)
        hz_res_end(ud);
}

static void echo_drain(hz_res *res, void *ud)
{
    (void)res;
    hz_req_resume(ud);
}

static void echo(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_str ct = hz_req_header(req, "Content-Type");
    char type[128];
    if (ct.ptr && ct.len < sizeof(type)) {
        memcpy(type, ct.ptr, ct.len);
        type[ct.len] = 0;
        hz_res_set_header(res, "Content-Type", type);
    } else {
        hz_res_set_header(res, "Content-Type", "application/octet-stream");
    }
    hz_res_on_drain(res, echo_drain, req);
    hz_res_start(res, 200);
    hz_req_on_body(req, echo_chunk, echo_end, res);
}

static void slow_done(hz_res *res, int status, void *ud)
{
    (void)ud;
    if (status == 0) {
        hz_res_set_header(res, "Content-Type", "text/plain");
        hz_res_send(res, 200, "slow response\n", 14);
    }
}

static void slow(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_res_after(res, (unsigned)demo_query_num(req, "ms", 1000, 60000), slow_done, NULL);
}

/* /large: writes until the output budget is full, continues on drain. */
typedef struct large_state {
    size_t left;
} large_state;

static char g_block[16384];

static void large_pump(hz_res *res, void *ud)
{
    large_state *st = ud;
    while (st->left) {
        size_t n = st->left < sizeof(g_block) ? st->left : sizeof(g_block);
        int rc = hz_res_write(res, g_block, n);
        if (rc == HZ_EAGAIN)
            return; /* large_pump runs again when the socket drained */
        if (rc < 0)
            return;
        st->left -= n;
    }
    hz_res_end(res);
}

static void large_done(hz_res *res, int status, void *ud)
{
    (void)res;
    (void)status;
    free(ud);
}

static void large(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    large_state *st = malloc(sizeof(*st));
    if (!st) {
        hz_res_send(res, 503, NULL, 0);
        return;
    }
    st->left = (size_t)demo_query_num(req, "mb", 16, 1024) << 20;
    hz_res_on_done(res, large_done, st);
    hz_res_on_drain(res, large_pump, st);
    hz_res_set_header(res, "Content-Type", "application/octet-stream");
    hz_res_start(res, 200);
    large_pump(res, st);
}

static void small(hz_req *req, hz_res *res, void *ud)
{
    root_post(req, res, ud);
}

static void small_get(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    static const char page[] = "POST up to 1 KiB here\n";
    hz_res_set_header(res, "Content-Type", "text/plain; charset=utf-8");
    hz_res_send(res, 200, page, sizeof(page) - 1);
}

/* /ws/echo: every WebSocket message goes back as it came. Reading pauses
 * while the output budget is used up, so a message is only delivered when
 * its echo fits: the send cannot be refused here. */
static void ws_echo_message(hz_ws *ws, int opcode, const void *data, size_t len, int fin, void *ud)
{
    (void)fin;
    (void)ud;
    if (hz_ws_send(ws, opcode, data, len, 0) == HZ_EAGAIN)
        hz_ws_close(ws, 1011, "output budget", 13);
}

static void ws_echo(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    if (!hz_ws_origin_ok(req, NULL, 0)) {
        hz_res_send(res, 403, "Forbidden origin\n", 17);
        return;
    }
    static const hz_ws_callbacks cb = {.on_message = ws_echo_message};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.compression = 1;
    o.ping_interval_ms = 30000;
    o.idle_timeout_ms = 120000;
    hz_ws_accept(req, res, &cb, &o, NULL); /* a refusal is answered already */
}

/* /metrics: a snapshot of every loop's counters. */
static void metrics(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    char buf[32768];
    hz_metrics m;
    hz_server_metrics(g_srv, &m);
    long n = hz_metrics_prometheus(&m, buf, sizeof(buf));
    if (n < 0) {
        hz_res_send(res, 500, "metrics too large\n", 18);
        return;
    }
    hz_res_set_header(res, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    hz_res_send(res, 200, buf, (size_t)n);
}

static hz_static *g_static;

static void free_static(void)
{
    hz_static_destroy(g_static); /* after hz_server_destroy: main has returned */
}

/* HTTPS beside plain HTTP. An explicit --tls-port that cannot be served is
 * fatal (-1); the default port may be taken by another demo: a warning.
 * fd >= 0: HTTPS on that inherited socket (socket activation) instead. */
static int listen_https(const char *addr, long port, int explicit_port, const char *cert,
                        const char *key, int fd)
{
    if (port == 0 && fd < 0)
        return 0;
#if !HZ_HAVE_TLS
    (void)addr;
    (void)cert;
    (void)key;
    (void)fd;
    if (!explicit_port)
        return 0;
    fprintf(stderr, "demo: --tls-port: built without TLS (HZ_TLS=none)\n");
    return -1;
#else
    char cbuf[4096], kbuf[4096], err[512];
    if (!cert != !key) {
        fprintf(stderr, "demo: --cert and --key go together\n");
        return -1;
    }
    if (!cert) {
        int made = selfsigned_ensure(".demo-tls", cbuf, kbuf, sizeof(cbuf), err, sizeof(err));
        if (made < 0) {
            fprintf(stderr, "demo: self-signed certificate: %s\n", err);
            return explicit_port ? -1 : 0;
        }
        cert = cbuf;
        key = kbuf;
        printf("demo: %s self-signed certificate %s (key %s)\n", made ? "using the" : "created a",
               cert, key);
    }
    hz_tls_config tls;
    hz_tls_config_init(&tls);
    tls.certs[0].cert_file = cert;
    tls.certs[0].key_file = key;
    tls.ncerts = 1;
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    lc.tls = &tls;
    if (fd >= 0) {
        lc.fd = fd;
    } else {
        lc.addr = addr;
        lc.port = (int)port;
    }
    int idx = hz_server_listen_with(g_srv, &lc);
    if (idx == HZ_ETLS && cert == cbuf) {
        /* Our own pair no longer loads (edited, truncated): make a new one. */
        fprintf(stderr, "demo: %s does not load: making a new one\n", cert);
        if (selfsigned_write(cbuf, kbuf, "localhost", 365, err, sizeof(err)) == 0)
            idx = hz_server_listen_with(g_srv, &lc);
    }
    if (fd >= 0) {
        if (idx < 0)
            fprintf(stderr, "demo: HTTPS on fd %d: %s\n", fd, hz_strerror(idx));
        else
            printf("demo: HTTPS on inherited fd %d, port %d\n", fd, hz_server_port(g_srv, idx));
        return idx < 0 ? -1 : 0;
    }
    if (idx < 0) {
        fprintf(stderr, "demo: HTTPS %s:%ld: %s%s\n", addr, port, hz_strerror(idx),
                explicit_port ? "" : " (HTTPS off)");
        return explicit_port ? -1 : 0;
    }
    /* The self-signed certificate names localhost, 127.0.0.1 and ::1. */
    int v6 = strchr(addr, ':') != NULL;
    const char *host = !strcmp(addr, "127.0.0.1") || !strcmp(addr, "0.0.0.0") ||
                               !strcmp(addr, "::") || !strcmp(addr, "::1")
                           ? "localhost"
                           : addr;
    v6 = v6 && host == addr;
    printf("demo: HTTPS on port %d (tls %s), try: curl --cacert %s https://%s%s%s:%d/\n",
           hz_server_port(g_srv, idx), hz_version_info()->tls, cert, v6 ? "[" : "", host,
           v6 ? "]" : "", hz_server_port(g_srv, idx));
    return 0;
#endif
}

/* The plain-HTTP listeners: systemd's sockets (all but "https"), or
 * --listen-fd, or --unix, or --addr/--port. Returns the index of the last
 * one, or -1 after saying why. */
/* --h2c: the plain listeners also take HTTP/2 with prior knowledge
 * (0: the default, HTTP/1.1). */
static unsigned g_plain_protocols;

static int listen_all(const char *addr, long port, const char *unix_path, long listen_fd,
                      const hz_listen_fd *sd, int nsd)
{
    hz_listener_config lc;
    int idx = -1;
    for (int i = 0; i < nsd; i++) {
        if (!strcmp(sd[i].name, "https"))
            continue; /* main: listen_https */
        hz_listener_config_init(&lc);
        lc.protocols = g_plain_protocols;
        lc.fd = sd[i].fd;
        if ((idx = hz_server_listen_with(g_srv, &lc)) < 0) {
            fprintf(stderr, "demo: LISTEN_FDS fd %d (%s): %s\n", sd[i].fd, sd[i].name,
                    hz_strerror(idx));
            return -1;
        }
        printf("demo: socket activation: HTTP on fd %d (%s), port %d\n", sd[i].fd, sd[i].name,
               hz_server_port(g_srv, idx));
    }
    if (nsd)
        return idx < 0 ? 0 : idx;
    hz_listener_config_init(&lc);
    lc.protocols = g_plain_protocols;
    if (listen_fd >= 0) {
        lc.fd = (int)listen_fd;
    } else if (unix_path) {
        lc.unix_path = unix_path;
    } else {
        lc.addr = addr;
        lc.port = (int)port;
    }
    if ((idx = hz_server_listen_with(g_srv, &lc)) < 0) {
        if (listen_fd >= 0)
            fprintf(stderr, "demo: --listen-fd %ld: %s\n", listen_fd, hz_strerror(idx));
        else if (unix_path)
            fprintf(stderr, "demo: --unix %s: %s\n", unix_path, hz_strerror(idx));
        else
            fprintf(stderr, "demo: listen %s:%ld: %s\n", addr, port, hz_strerror(idx));
        return -1;
    }
    return idx;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: demo [--addr A] [--port N] [--loops N] [--header-timeout MS] [--help]\n"
            "  --addr A             listen address, IPv4 or IPv6 literal (127.0.0.1)\n"
            "  --port N             port (8080; 0 = any free port)\n"
            "  --loops N            loop threads (0 = one per core; default 0)\n"
            "  --header-timeout MS  request head deadline in ms (5000)\n"
            "  --root DIR           directory served under /static/ (%s)\n"
            "  --www DIR            the web app served at / and /app/ (%s)\n"
            "  --tls-port N         HTTPS port beside HTTP (8443; 0 = off)\n"
            "  --cert F --key F     PEM certificate chain and key for HTTPS (default: a\n"
            "                       self-signed one made once in ./.demo-tls/)\n"
            "  --access-log FILE    append the access log to FILE instead of stdout\n"
            "  --quiet              no access log\n"
            "  --unix PATH          HTTP on a Unix-domain socket instead of --addr/--port\n"
            "  --listen-fd N        HTTP on inherited listening socket N instead of --port\n"
            "  (LISTEN_FDS/LISTEN_PID set by systemd: serve those sockets, HTTPS on the\n"
            "  one named \"https\", instead of --port and --tls-port)\n"
            "  --h2c                HTTP/2 with prior knowledge on the plain port too\n"
            "                       (HTTPS offers HTTP/2 by ALPN when built with it)\n",
            HZ_DEMO_DOCS, HZ_DEMO_WWW);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    long port = 8080, loops = 0, header_ms = 5000;
    const char *root_dir = HZ_DEMO_DOCS;
    const char *www_dir = HZ_DEMO_WWW;
    int quiet = 0;
    int h2c = 0; /* --h2c: HTTP/2 with prior knowledge on the plain port */
    const char *log_path = NULL;
    long tls_port = HZ_HAVE_TLS ? 8443 : 0;
    int tls_port_set = 0;
    const char *cert = NULL, *key = NULL;
    const char *unix_path = NULL;
    long listen_fd = -1;
    /* First, before any thread exists: it edits the environment. */
    hz_listen_fd sd[16];
    int nsd = hz_listen_fds(sd, 16);
    if (nsd < 0 || nsd > 16) {
        fprintf(stderr, "demo: LISTEN_FDS: %s\n", nsd < 0 ? hz_strerror(nsd) : "too many");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!strcmp(a, "--h2c")) {
            h2c = 1;
            continue;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        char *end;
        if (!strcmp(a, "--addr")) {
            addr = argv[++i];
            continue;
        }
        if (!strcmp(a, "--access-log")) {
            log_path = argv[++i];
            continue;
        }
        if (!strcmp(a, "--unix")) {
            unix_path = argv[++i];
            continue;
        }
        if (!strcmp(a, "--root")) {
            root_dir = argv[++i];
            continue;
        }
        if (!strcmp(a, "--www")) {
            www_dir = argv[++i];
            continue;
        }
        if (!strcmp(a, "--cert") || !strcmp(a, "--key")) {
            *(a[2] == 'c' ? &cert : &key) = argv[++i];
            continue;
        }
        long v = strtol(argv[++i], &end, 10);
        if (*end || v < 0) {
            fprintf(stderr, "demo: bad value for %s\n", a);
            return 2;
        }
        if (!strcmp(a, "--port") && v <= 65535)
            port = v;
        else if (!strcmp(a, "--loops") && v <= 256)
            loops = v;
        else if (!strcmp(a, "--listen-fd") && v <= 65535)
            listen_fd = v;
        else if (!strcmp(a, "--header-timeout") && v <= 600000)
            header_ms = v;
        else if (!strcmp(a, "--tls-port") && v <= 65535) {
            tls_port = v;
            tls_port_set = 1;
        } else {
            usage(stderr);
            return 2;
        }
    }
    memset(g_block, 'x', sizeof(g_block));

    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = (unsigned)loops;
    cfg.timeouts.header = (uint32_t)header_ms;
    cfg.timeouts.keepalive = (uint32_t)header_ms;
    cfg.timeouts.body_idle = (uint32_t)header_ms;
    if (!quiet) { /* nothing set: no logging cost at all */
        cfg.access_log_file.path = log_path;
        cfg.access_log_file.fd = log_path ? -1 : STDOUT_FILENO;
    }
    int rc = hz_server_create(&g_srv, &cfg);
    if (rc < 0) {
        fprintf(stderr, "demo: %s\n", hz_strerror(rc));
        return 1;
    }
    hz_route_opts small_opts;
    hz_route_opts_init(&small_opts);
    small_opts.body_limit = 1024;
    hz_route_opts stream_opts;
    hz_route_opts_init(&stream_opts);
    stream_opts.flags = HZ_ROUTE_STREAM_BODY;
    if ((rc = hz_route(g_srv, "POST", "/", root_post, NULL)) < 0 ||
        (rc = hz_route(g_srv, "GET", "/plaintext", plaintext, NULL)) < 0 ||
        (rc = hz_route_with(g_srv, "POST", "/echo", echo, NULL, &stream_opts)) < 0 ||
        (rc = hz_route_with(g_srv, "PUT", "/echo", echo, NULL, &stream_opts)) < 0 ||
        (rc = hz_route(g_srv, "GET", "/slow", slow, NULL)) < 0 ||
        (rc = hz_route(g_srv, "GET", "/large", large, NULL)) < 0 ||
        (rc = hz_route(g_srv, "GET", "/small", small_get, NULL)) < 0 ||
        (rc = hz_route_with(g_srv, "POST", "/small", small, NULL, &small_opts)) < 0 ||
        (rc = hz_route(g_srv, "GET", "/metrics", metrics, NULL)) < 0 ||
        (rc = demo_forms_routes(g_srv)) < 0 ||
        (rc = hz_route(g_srv, "GET", "/ws/echo", ws_echo, NULL)) < 0) {
        fprintf(stderr, "demo: route: %s\n", hz_strerror(rc));
        hz_server_destroy(g_srv);
        return 1;
    }
    /* The web app (GET /, /app/, /status/events, /stream): demo_web.c. */
    if ((rc = demo_web_routes(g_srv, www_dir)) < 0) {
        fprintf(stderr, "demo: --www %s: %s\n", www_dir, hz_strerror(rc));
        hz_server_destroy(g_srv);
        demo_web_free();
        return 1;
    }
    atexit(demo_web_free);
    hz_static_config sc;
    hz_static_config_init(&sc);
    sc.root = root_dir;
    sc.listing = 1;
    rc = hz_static_create(&g_static, &sc, NULL);
    if (rc == 0) {
        atexit(free_static);
        rc = hz_route_static(g_srv, "/static/", g_static);
    }
    if (rc < 0)
        fprintf(stderr, "demo: --root %s: %s (no /static/)\n", root_dir, hz_strerror(rc));
    if (h2c)
        g_plain_protocols = HZ_PROTO_HTTP1 | HZ_PROTO_HTTP2;
    if ((rc = listen_all(addr, port, unix_path, listen_fd, sd, nsd)) < 0) {
        hz_server_destroy(g_srv);
        return 1;
    }
    for (int i = 0; i < nsd; i++) {
        if (!strcmp(sd[i].name, "https") && listen_https(addr, 0, 1, cert, key, sd[i].fd) < 0) {
            hz_server_destroy(g_srv);
            return 1;
        }
    }
    if (!nsd && listen_https(addr, tls_port, tls_port_set || cert, cert, key, -1) < 0) {
        hz_server_destroy(g_srv);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    const hz_build_info *v = hz_version_info();
    if (unix_path)
        printf("httpz %s demo listening on unix:%s (poller %s, tls %s)\n", v->version, unix_path,
               v->poller, v->tls);
    else if (nsd || listen_fd >= 0)
        printf("httpz %s demo listening on %d inherited socket(s) (poller %s, tls %s)\n",
               v->version, nsd ? nsd : 1, v->poller, v->tls);
    else
        printf("httpz %s demo listening on %s:%d (poller %s, tls %s)\n", v->version, addr,
               hz_server_port(g_srv, rc), v->poller, v->tls);
    fflush(stdout);
    rc = hz_server_run(g_srv);
    /* A second signal (timeout(1), a supervisor) must not reach the
     * server once destroyed. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    hz_server_destroy(g_srv);
    printf("demo: stopped\n");
    return rc < 0 ? 1 : 0;
}
