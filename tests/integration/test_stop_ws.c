/* test_stop_ws.c - a graceful stop ends as soon as the last connection is
 * gone, whatever protocol carried a WebSocket. Each attempt starts a
 * server, opens a WebSocket (HTTP/1.1 upgrade, RFC 8441 over h2c, RFC 8441
 * over TLS with ALPN h2), accepted on the loop or on an executor worker,
 * with or without a plain request in flight beside it (a second stream, or
 * a second HTTP/1.1 connection), then the client leaves in one of several
 * ways around hz_server_stop(srv, 5000): the time from the stop to
 * hz_server_wait's return must be well under the deadline (a connection
 * the server did not see go would hold it to the 5 s deadline or the
 * WebSocket's 5 s close timeout). A client that reads nothing must end at
 * the (short) deadline, one that never answers the close frame at the
 * WebSocket's close timeout. Without a stop: a client leaving while its
 * response waits for hz_res_after is noticed (HTTP/1.1, h2c), and an
 * HTTP/2 WebSocket goes on after the client's GOAWAY. Over h2c and h2/TLS
 * on every poller compiled in, the client leaves at each step of a stop
 * made deterministic (orders below): with the notice unread (a reset), at
 * the GOAWAY, half-closing, with its stream reset or ended, while its
 * WebSocket's output waits for a window or for the socket, while its
 * WebSocket reads nothing, right after the CONNECT, mid header block, with
 * the CONNECT completed during the stop, and while the accept is held on
 * an executor worker. HZ_STOP_WS_ITERS
 * repeats the racy cases (and, when set, every HTTP/2 ordering). Every
 * server ends with its counting allocator at zero. The clients are raw
 * (frames built here; HPACK literals without indexing), so each step is
 * under the test's control. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>
#include "exec_gate.h"
#include "itest.h"
#include "itest_ws.h"
#include "test_alloc.h"

#if HZ_HAVE_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "itest_wss.h"
#endif

/* A stop whose clients have all left must end well before this. */
#define STOP_DEADLINE_MS 5000
/* What "promptly" means here: generous for valgrind and TSan on 2 cores,
 * far below the deadline and the WebSocket close timeout (both 5 s). */
#define PROMPT_MS 2000
/* The deadline of the attempts whose client never answers. */
#define SILENT_DEADLINE_MS 600
/* The WebSocket close timeout of the mute attempts (their deadline: 5 s). */
#define MUTE_CLOSE_MS 300

enum carrier { C_H1, C_H2C, C_H2TLS, C_COUNT };
static const char *const carrier_name[] = {"http/1.1", "h2c", "h2 over TLS"};

/* How the client leaves. */
enum leave {
    L_BEFORE, /* closes, then the stop */
    L_SAME,   /* closes while the stop is made (a barrier between them) */
    L_EARLY,  /* sends the request and closes at the stop, no answer awaited */
    L_NOTICE, /* closes once GOAWAY or the 1001 close frame arrived */
    L_GOAWAY, /* HTTP/2: answers the notice with GOAWAY and closes */
    L_GWACK,  /* HTTP/2: GOAWAY and PING, closes once the PING is acked
               * (the server has read its GOAWAY before the EOF comes) */
    L_POLITE, /* answers the 1001 with a close frame (and GOAWAY), closes */
    L_COOP,   /* answers PINGs and the 1001, leaves once the WebSocket ended */
    L_HALF,   /* shutdown(SHUT_WR) at the stop, reads on */
    L_RST,    /* SO_LINGER 0 close (a reset), then the stop */
    L_SILENT, /* neither reads nor closes: the deadline ends it */
    L_MUTE,   /* reads, never answers the close frame: its timeout ends it */
    L_COUNT
};
static const char *const leave_name[] = {"before", "same",       "early",  "notice",
                                         "goaway", "goaway+ack", "polite", "coop",
                                         "half",   "rst",        "silent", "mute"};

static hz_count_alloc CA;
static hz_executor EXR;
static atomic_int g_opens, g_closes;
#if HZ_HAVE_TLS
static it_tls_dir g_tls;
#endif
static int g_have_cert;              /* 1 made, -1 failed (no openssl CLI), 0 not tried */
static const hz_poller_vt *g_poller; /* NULL: the default one */

/* ---- the server ------------------------------------------------------------ */

static void on_open(hz_ws *ws, void *ud)
{
    (void)ws;
    (void)ud;
    atomic_fetch_add(&g_opens, 1);
}

static void on_close(hz_ws *ws, unsigned code, const char *r, size_t len, void *ud)
{
    (void)ws;
    (void)code;
    (void)r;
    (void)len;
    (void)ud;
    atomic_fetch_add(&g_closes, 1);
}

/* ud: NULL, or the close timeout (a const uint32_t *). */
static void h_ws(hz_req *req, hz_res *res, void *ud)
{
    static const hz_ws_callbacks cb = {
        .on_open = on_open, .on_message = itws_echo, .on_close = on_close};
    hz_ws_options o;
    hz_ws_options_init(&o);
    if (ud)
        o.close_timeout_ms = *(const uint32_t *)ud;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

static atomic_int g_held;       /* /hold handlers called */
static atomic_int g_hold_ended; /* their exchanges ended (on_done) */
static atomic_int g_hold_fired; /* hz_res_after callbacks: their status */

static void hold_cb(hz_res *res, int status, void *ud)
{
    (void)ud;
    atomic_store(&g_hold_fired, status == 0 ? 1 : status);
    if (status == 0)
        hz_res_send(res, 200, "late", 4);
}

static void hold_done(hz_res *res, int status, void *ud)
{
    (void)res;
    (void)ud;
    atomic_store(&g_hold_ended, status == 0 ? 1 : status);
}

/* A plain request that stays in flight (the stop lets it finish; its
 * client leaving aborts it). */
static void h_hold(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    hz_res_on_done(res, hold_done, NULL);
    hz_res_after(res, 30000, hold_cb, NULL);
    atomic_fetch_add(&g_held, 1);
}

/* /wsbig: on_open sends one message far larger than any window or socket
 * buffer of the test, so the server's output waits (for a window, or for
 * the socket) while the client leaves. */
#define BIG_MSG (1u << 20)
static uint8_t g_big[BIG_MSG];
static atomic_int g_big_rc = 1; /* what hz_ws_send said (1: not called) */

static void on_open_big(hz_ws *ws, void *ud)
{
    atomic_store(&g_big_rc, hz_ws_send(ws, HZ_WS_BINARY, g_big, sizeof(g_big), HZ_WS_NO_COMPRESS));
    on_open(ws, ud);
}

static void h_ws_big(hz_req *req, hz_res *res, void *ud)
{
    static const hz_ws_callbacks cb = {
        .on_open = on_open_big, .on_message = itws_echo, .on_close = on_close};
    (void)ud;
    hz_ws_accept(req, res, &cb, NULL, NULL);
}

/* /wsp: a WebSocket whose output budget (1 KiB) one echo fills, on a
 * server whose output_buffer is 1 KiB too (g_small_out) and a client that
 * opens no window: the echo waits, so the WebSocket stops reading its
 * input (the stream's DATA stays unconsumed). */
static atomic_int g_msgs; /* messages /wsp received */
static int g_small_out;   /* start(): output_buffer 1 KiB */

static void echo_counted(hz_ws *ws, int op, const void *d, size_t len, int fin, void *ud)
{
    (void)ud;
    atomic_fetch_add(&g_msgs, 1);
    hz_ws_send(ws, op, d, len, fin ? 0 : HZ_WS_MORE); /* HZ_EAGAIN or not: it pauses */
}

static void h_ws_paused(hz_req *req, hz_res *res, void *ud)
{
    static const hz_ws_callbacks cb = {
        .on_open = on_open, .on_message = echo_counted, .on_close = on_close};
    (void)ud;
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.output_budget = 1024;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

/* /wsg (an executor route): held in the gate (exec_gate.h) before it
 * accepts, so the CONNECT is read and unanswered while the test acts. */
static void h_ws_gated(hz_req *req, hz_res *res, void *ud)
{
    int cancelled = it_gate_hold(req);
    h_ws(req, res, ud);
    it_gate_leave(cancelled, NULL);
}

#if HZ_HAVE_TLS
static void make_cert(void)
{
    if (!g_have_cert)
        g_have_cert = it_tls_dir_init(&g_tls, "stopws", "localhost") == 0 ? 1 : -1;
}
#endif

static void drop_cert(void)
{
#if HZ_HAVE_TLS
    if (g_have_cert)
        it_tls_dir_remove(&g_tls);
#endif
    g_have_cert = 0;
}

static hz_server *start(enum carrier k, int *port)
{
    atomic_store(&g_opens, 0);
    atomic_store(&g_closes, 0);
    atomic_store(&g_held, 0);
    atomic_store(&g_hold_ended, 0);
    atomic_store(&g_hold_fired, 0);
    atomic_store(&g_big_rc, 1);
    atomic_store(&g_msgs, 0);
    it_gate_reset();
    hz_config cfg;
    it_config_counted(&cfg, &CA);
    cfg.poller = g_poller;
    if (g_small_out)
        cfg.output_buffer = 1024;
    hz_executor_pool_options po;
    hz_executor_pool_options_init(&po);
    po.threads = 1;
    memset(&EXR, 0, sizeof(EXR));
    cr_assert_eq(hz_executor_pool_create(&EXR, &po, &CA.iface), 0);
    cfg.executor = &EXR;
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    cr_assert_eq(hz_route(srv, "GET", "/ws", h_ws, NULL), 0);
    cr_assert_eq(it_route_flags(srv, "GET", "/wsx", h_ws, NULL, HZ_ROUTE_EXECUTOR), 0);
    cr_assert_eq(hz_route(srv, "GET", "/hold", h_hold, NULL), 0);
    static const uint32_t mute_ms = MUTE_CLOSE_MS;
    cr_assert_eq(hz_route(srv, "GET", "/wsq", h_ws, (void *)&mute_ms), 0);
    cr_assert_eq(it_route_flags(srv, "GET", "/wsqx", h_ws, (void *)&mute_ms, HZ_ROUTE_EXECUTOR), 0);
    cr_assert_eq(hz_route(srv, "GET", "/wsbig", h_ws_big, NULL), 0);
    cr_assert_eq(hz_route(srv, "GET", "/wsp", h_ws_paused, NULL), 0);
    cr_assert_eq(it_route_flags(srv, "GET", "/wsg", h_ws_gated, NULL, HZ_ROUTE_EXECUTOR), 0);
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    lc.addr = "127.0.0.1";
    lc.port = 0;
    lc.protocols = HZ_PROTO_HTTP1 | (k == C_H1 ? 0 : HZ_PROTO_HTTP2);
#if HZ_HAVE_TLS
    hz_tls_config t;
    if (k == C_H2TLS) {
        hz_tls_config_init(&t);
        t.certs[0].cert_file = g_tls.crt;
        t.certs[0].key_file = g_tls.key;
        t.ncerts = 1;
        lc.tls = &t;
    }
#endif
    int idx = hz_server_listen_with(srv, &lc);
    cr_assert_geq(idx, 0, "listen: %d", idx);
    *port = hz_server_port(srv, idx);
    cr_assert_eq(hz_server_start(srv), 0);
    return srv;
}

/* ---- a raw client: TCP or TLS ------------------------------------------------ */

typedef struct cli {
    int fd;
    int h2;
#if HZ_HAVE_TLS
    SSL_CTX *ctx;
    SSL *ssl;
#endif
    uint8_t buf[65536];
    size_t len;
    int eof; /* the server closed (EOF or reset) */
} cli;

/* rcvbuf: the client's SO_RCVBUF (0: the default), set before the
 * connection so the window it advertises is small from the start. */
static int tcp_connect(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    cr_assert_eq(it_connect_fd(fd, port), 0);
    return fd;
}

static void cli_open(cli *c, enum carrier k, int port, int rcvbuf)
{
    memset(c, 0, sizeof(*c));
    c->fd = tcp_connect(port, rcvbuf);
    c->h2 = k != C_H1;
#if HZ_HAVE_TLS
    if (k == C_H2TLS) {
        c->ssl = it_tls_client(c->fd, "localhost", "\x02h2", &c->ctx);
        const unsigned char *got;
        unsigned gotlen;
        SSL_get0_alpn_selected(c->ssl, &got, &gotlen);
        cr_assert(gotlen == 2 && !memcmp(got, "h2", 2), "ALPN h2 not chosen");
    }
#endif
}

/* Closes what is left of the client (a no-op after cli_gone). */
static void cli_free(cli *c)
{
#if HZ_HAVE_TLS
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    c->ssl = NULL;
    c->ctx = NULL;
#endif
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* The client leaves: a plain close (FIN; no close_notify over TLS, as a
 * process that exits), or a reset. */
static void cli_gone(cli *c, int rst)
{
    if (rst) {
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(c->fd);
    c->fd = -1;
    cli_free(c);
}

static void cli_write(cli *c, const void *p, size_t n)
{
#if HZ_HAVE_TLS
    if (c->ssl) {
        /* A blocking socket: SSL_write writes all of it or fails. */
        cr_assert_eq(SSL_write(c->ssl, p, (int)n), (int)n);
        return;
    }
#endif
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
        cr_assert_gt(w, 0, "client send");
        b += w;
        n -= (size_t)w;
    }
}

/* Reads more within timeout_ms: 1, or 0 (EOF, reset, the deadline). */
static int cli_fill(cli *c, int timeout_ms)
{
    long long end = it_now_ms() + timeout_ms;
    if (c->len == sizeof(c->buf) || c->eof)
        return 0;
    for (;;) {
        short ev = POLLIN;
#if HZ_HAVE_TLS
        if (c->ssl) {
            int n = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - c->len));
            if (n > 0) {
                c->len += (size_t)n;
                return 1;
            }
            int e = SSL_get_error(c->ssl, n);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                c->eof = 1;
                return 0;
            }
            ev = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        } else
#endif
        {
            ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
            if (n > 0) {
                c->len += (size_t)n;
                return 1;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                c->eof = 1;
                return 0;
            }
        }
        long long left = end - it_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = c->fd, .events = ev};
        poll(&p, 1, (int)left);
    }
}

static void cli_consume(cli *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* ---- HTTP/2 frames ------------------------------------------------------------- */

enum {
    F_DATA = 0,
    F_HEADERS = 1,
    F_RST = 3,
    F_SETTINGS = 4,
    F_PING = 6,
    F_GOAWAY = 7,
    F_WINDOW_UPDATE = 8,
    F_CONTINUATION = 9
};
enum { FL_END_STREAM = 1, FL_ACK = 1, FL_END_HEADERS = 4 };
#define WS_SID 3u
#define PLAIN_SID 1u

static void h2_frame(cli *c, unsigned type, unsigned flags, uint32_t sid, const void *p, size_t n)
{
    uint8_t f[9 + 16384];
    cr_assert_leq(n, sizeof(f) - 9);
    f[0] = (uint8_t)(n >> 16);
    f[1] = (uint8_t)(n >> 8);
    f[2] = (uint8_t)n;
    f[3] = (uint8_t)type;
    f[4] = (uint8_t)flags;
    f[5] = (uint8_t)(sid >> 24);
    f[6] = (uint8_t)(sid >> 16);
    f[7] = (uint8_t)(sid >> 8);
    f[8] = (uint8_t)sid;
    if (n)
        memcpy(f + 9, p, n);
    cli_write(c, f, 9 + n);
}

/* A header field as an HPACK literal without indexing, new name (RFC 7541
 * §6.2.2), lengths under 127, no Huffman. */
static size_t hpack_lit(uint8_t *o, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value), k = 0;
    o[k++] = 0;
    o[k++] = (uint8_t)nl;
    memcpy(o + k, name, nl);
    k += nl;
    o[k++] = (uint8_t)vl;
    memcpy(o + k, value, vl);
    return k + vl;
}

typedef struct h2f {
    unsigned type, flags;
    uint32_t sid;
    size_t len;
    const uint8_t *p; /* into the client's buffer until the next call */
} h2f;

/* The next frame within timeout_ms (the previous one consumed): 1, or 0. */
static int h2_next(cli *c, h2f *f, size_t *prev, int timeout_ms)
{
    if (*prev) {
        cli_consume(c, *prev);
        *prev = 0;
    }
    long long end = it_now_ms() + timeout_ms;
    for (;;) {
        if (c->len >= 9) {
            size_t n = ((size_t)c->buf[0] << 16) | ((size_t)c->buf[1] << 8) | c->buf[2];
            if (c->len >= 9 + n) {
                f->len = n;
                f->type = c->buf[3];
                f->flags = c->buf[4];
                f->sid = ((uint32_t)(c->buf[5] & 0x7f) << 24) | ((uint32_t)c->buf[6] << 16) |
                         ((uint32_t)c->buf[7] << 8) | c->buf[8];
                f->p = c->buf + 9;
                *prev = 9 + n;
                return 1;
            }
        }
        long long left = end - it_now_ms();
        if (left <= 0 || !cli_fill(c, (int)left))
            return 0;
    }
}

/* ---- one attempt ------------------------------------------------------------------ */

typedef struct attempt {
    enum carrier k;
    int exec;  /* the accept on an executor worker */
    int plain; /* a plain request in flight beside the WebSocket */
    enum leave how;
    int no_ws;        /* the plain request alone */
    const char *path; /* the WebSocket's route (NULL: by exec and how) */
    int bigwin;       /* HTTP/2: the largest windows, a small SO_RCVBUF; -1:
                       * SETTINGS_INITIAL_WINDOW_SIZE 0 (no DATA for us) */
} attempt;

typedef struct session {
    cli ws;    /* the WebSocket's connection */
    cli extra; /* HTTP/1.1: the plain request's connection */
    int have_extra;
    size_t fprev;    /* HTTP/2: the frame to consume before the next */
    uint8_t wsb[64]; /* HTTP/2: WebSocket bytes from DATA frames */
    size_t wsl;
} session;

/* The extended CONNECT's header block (RFC 8441) into hb: its length. */
static size_t connect_block(uint8_t *hb, enum carrier k, const char *path)
{
    size_t n = hpack_lit(hb, ":method", "CONNECT");
    n += hpack_lit(hb + n, ":protocol", "websocket");
    n += hpack_lit(hb + n, ":scheme", k == C_H2TLS ? "https" : "http");
    n += hpack_lit(hb + n, ":path", path);
    n += hpack_lit(hb + n, ":authority", "localhost");
    n += hpack_lit(hb + n, "sec-websocket-version", "13");
    return n;
}

/* Sends the WebSocket request (and the plain one beside it). */
static void open_requests(session *s, const attempt *a, int port)
{
    const char *path = a->path            ? a->path
                       : a->how == L_MUTE ? (a->exec ? "/wsqx" : "/wsq")
                       : a->exec          ? "/wsx"
                                          : "/ws";
    cli_open(&s->ws, a->k, port, a->bigwin > 0 ? 16384 : 0);
    if (a->k == C_H1) {
        char req[1024];
        it_ws_upgrade_req(req, sizeof(req), path, NULL);
        if (!a->no_ws)
            cli_write(&s->ws, req, strlen(req));
        if (a->plain) {
            cli_open(&s->extra, C_H1, port, 0);
            s->have_extra = 1;
            static const char g[] = "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n";
            cli_write(&s->extra, g, sizeof(g) - 1);
        }
        return;
    }
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    cli_write(&s->ws, preface, sizeof(preface) - 1);
    if (a->bigwin < 0) {
        static const uint8_t iws[6] = {0, 4, 0, 0, 0, 0};
        h2_frame(&s->ws, F_SETTINGS, 0, 0, iws, sizeof(iws));
    } else if (a->bigwin) {
        /* SETTINGS_INITIAL_WINDOW_SIZE and the connection's window at
         * 2^31-1: only the socket holds the server's output back. */
        static const uint8_t iws[6] = {0, 4, 0x7f, 0xff, 0xff, 0xff};
        static const uint8_t wu[4] = {0x7f, 0xff, 0, 0}; /* + 65535 = 2^31-1 */
        h2_frame(&s->ws, F_SETTINGS, 0, 0, iws, sizeof(iws));
        h2_frame(&s->ws, F_WINDOW_UPDATE, 0, 0, wu, sizeof(wu));
    } else {
        h2_frame(&s->ws, F_SETTINGS, 0, 0, NULL, 0);
    }
    /* Extended CONNECT needs the server's SETTINGS (ENABLE_CONNECT_PROTOCOL)
     * acknowledged first: the server applies them at our ACK. */
    h2f f;
    int seen = 0;
    while (!seen) {
        cr_assert(h2_next(&s->ws, &f, &s->fprev, 5000), "no SETTINGS from the server");
        seen = f.type == F_SETTINGS && !(f.flags & FL_ACK);
    }
    h2_frame(&s->ws, F_SETTINGS, FL_ACK, 0, NULL, 0);
    const char *scheme = a->k == C_H2TLS ? "https" : "http";
    uint8_t hb[512];
    size_t n;
    if (a->plain) {
        n = hpack_lit(hb, ":method", "GET");
        n += hpack_lit(hb + n, ":scheme", scheme);
        n += hpack_lit(hb + n, ":path", "/hold");
        n += hpack_lit(hb + n, ":authority", "localhost");
        h2_frame(&s->ws, F_HEADERS, FL_END_HEADERS | FL_END_STREAM, PLAIN_SID, hb, n);
    }
    if (a->no_ws)
        return;
    n = connect_block(hb, a->k, path);
    h2_frame(&s->ws, F_HEADERS, FL_END_HEADERS, WS_SID, hb, n);
}

/* Starts a server for a's carrier and sends a's requests on a fresh
 * session: the server. */
static hz_server *session_open(session *s, const attempt *a)
{
    int port;
    hz_server *srv = start(a->k, &port);
    memset(s, 0, sizeof(*s));
    s->extra.fd = -1;
    open_requests(s, a, port);
    return srv;
}

/* After hz_server_wait: closes what is left of the session's clients,
 * destroys the server and the executor, and asserts that every block went
 * back to the counting allocator. */
static void session_close(session *s, hz_server *srv)
{
    cli_free(&s->ws);
    if (s->have_extra)
        cli_free(&s->extra);
    hz_server_destroy(srv);
    hz_executor_pool_destroy(&EXR);
    it_assert_no_leaks(&CA);
}

/* Waits for the answer to the WebSocket request (101, or 200 on its
 * stream) and for the server's on_open. */
static void await_open(session *s, const attempt *a)
{
    if (a->k == C_H1) {
        while (!memmem(s->ws.buf, s->ws.len, "\r\n\r\n", 4))
            cr_assert(cli_fill(&s->ws, 5000), "no answer to the upgrade");
        cr_assert(!memcmp(s->ws.buf, "HTTP/1.1 101", 12), "%.*s", (int)s->ws.len, s->ws.buf);
        uint8_t *e = (uint8_t *)memmem(s->ws.buf, s->ws.len, "\r\n\r\n", 4) + 4;
        cli_consume(&s->ws, (size_t)(e - s->ws.buf));
    } else {
        h2f f;
        for (;;) {
            cr_assert(h2_next(&s->ws, &f, &s->fprev, 5000), "no answer to the CONNECT");
            if (f.type == F_HEADERS && f.sid == WS_SID)
                break;
            cr_assert(!(f.type == F_RST && f.sid == WS_SID), "CONNECT reset");
        }
        /* nghttp2 sends :status 200 as the static table's entry 8. */
        cr_assert(f.len > 0 && f.p[0] == 0x88, "not 200 (first byte %#x)", f.len ? f.p[0] : 0);
        cr_assert(!(f.flags & FL_END_STREAM));
    }
    long long end = it_now_ms() + 5000;
    while (atomic_load(&g_opens) < 1 && it_now_ms() < end)
        poll(NULL, 0, 1);
    cr_assert_eq(atomic_load(&g_opens), 1, "the server's WebSocket did not open");
}

static void ws_close_reply(session *s, const attempt *a)
{
    static const uint8_t cf[] = {0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe9 ^ 2}; /* 1001 */
    if (a->k == C_H1)
        cli_write(&s->ws, cf, sizeof(cf));
    else
        h2_frame(&s->ws, F_DATA, 0, WS_SID, cf, sizeof(cf));
}

static void h2_goaway(session *s)
{
    uint8_t g[8] = {0}; /* last stream 0, NO_ERROR */
    h2_frame(&s->ws, F_GOAWAY, 0, 0, g, sizeof(g));
}

/* Reads until the stop's notice (HTTP/2: GOAWAY or the WebSocket's close
 * frame; HTTP/1.1: the close frame) or, with until_end, until the server
 * ended the WebSocket (HTTP/2: END_STREAM or RST_STREAM on its stream;
 * HTTP/1.1: the connection's close). Answers PINGs and the close frame
 * (coop: ANSWER_PINGS, ANSWER_CLOSE). 1 when it came. */
enum { ANSWER_PINGS = 1, ANSWER_CLOSE = 2 };
static int read_notice(session *s, const attempt *a, int coop, int until_end)
{
    long long end = it_now_ms() + 5000;
    int replied = 0;
    for (;;) {
        long long left = end - it_now_ms();
        if (left <= 0)
            return 0;
        if (a->k == C_H1) {
            if (s->ws.len >= 2 && s->ws.buf[0] == 0x88) {
                if (!until_end)
                    return 1;
                if ((coop & ANSWER_CLOSE) && !replied) {
                    ws_close_reply(s, a);
                    replied = 1;
                }
            }
            if (s->ws.len >= 2 && s->ws.buf[0] != 0x88) /* a data frame: skip it */
                cli_consume(&s->ws, s->ws.len < 2u + (s->ws.buf[1] & 0x7fu)
                                        ? s->ws.len
                                        : 2u + (s->ws.buf[1] & 0x7fu));
            if (!cli_fill(&s->ws, (int)left))
                return s->ws.eof && until_end;
            continue;
        }
        h2f f;
        if (!h2_next(&s->ws, &f, &s->fprev, (int)left))
            return s->ws.eof && until_end;
        int notice = 0;
        if (f.type == F_GOAWAY)
            notice = 1;
        if (f.type == F_PING && !(f.flags & FL_ACK) && (coop & ANSWER_PINGS))
            h2_frame(&s->ws, F_PING, FL_ACK, 0, f.p, f.len);
        if (f.type == F_DATA && f.sid == WS_SID) {
            size_t k = f.len < sizeof(s->wsb) - s->wsl ? f.len : sizeof(s->wsb) - s->wsl;
            memcpy(s->wsb + s->wsl, f.p, k);
            s->wsl += k;
            if (s->wsl >= 2 && s->wsb[0] == 0x88) {
                notice = 1;
                if ((coop & ANSWER_CLOSE) && !replied) {
                    ws_close_reply(s, a);
                    replied = 1;
                }
            }
        }
        if (notice && !until_end)
            return 1;
        if (until_end && f.sid == WS_SID &&
            (f.type == F_RST || (f.type == F_DATA && (f.flags & FL_END_STREAM))))
            return 1;
    }
}

/* GOAWAY, then a PING: its ACK says the server has read the GOAWAY. */
static void goaway_acked(session *s)
{
    static const uint8_t data[8] = {'s', 't', 'o', 'p', 'w', 's', 0, 1};
    h2_goaway(s);
    h2_frame(&s->ws, F_PING, 0, 0, data, sizeof(data));
    h2f f;
    for (;;) {
        cr_assert(h2_next(&s->ws, &f, &s->fprev, 5000), "no PING ACK");
        if (f.type == F_PING && (f.flags & FL_ACK) && f.len == 8 && !memcmp(f.p, data, 8))
            return;
    }
}

typedef struct racer {
    pthread_barrier_t *bar;
    session *s;
} racer;

static void *race_leave(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(r->bar);
    cli_gone(&r->s->ws, 0);
    if (r->s->have_extra)
        cli_gone(&r->s->extra, 0);
    return NULL;
}

/* One attempt: the stop's duration in ms (to hz_server_wait's return). */
static long long run_attempt(const attempt *a)
{
    session s;
    hz_server *srv = session_open(&s, a);
    if (a->how != L_EARLY)
        await_open(&s, a);
    unsigned deadline = a->how == L_SILENT ? SILENT_DEADLINE_MS : STOP_DEADLINE_MS;
    long long t0 = 0;
    switch (a->how) {
    case L_BEFORE:
    case L_RST:
        cli_gone(&s.ws, a->how == L_RST);
        if (s.have_extra)
            cli_gone(&s.extra, a->how == L_RST);
        t0 = it_now_ms();
        hz_server_stop(srv, deadline);
        break;
    case L_SAME:
    case L_EARLY: {
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, 2);
        racer r = {&bar, &s};
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, race_leave, &r), 0);
        pthread_barrier_wait(&bar);
        t0 = it_now_ms();
        hz_server_stop(srv, deadline);
        pthread_join(th, NULL);
        pthread_barrier_destroy(&bar);
        break;
    }
    case L_HALF:
        t0 = it_now_ms();
        hz_server_stop(srv, deadline);
        shutdown(s.ws.fd, SHUT_WR);
        if (s.have_extra)
            shutdown(s.extra.fd, SHUT_WR);
        break;
    case L_SILENT:
        t0 = it_now_ms();
        hz_server_stop(srv, deadline);
        break;
    case L_MUTE:
        /* Reads (HTTP/2: answers PINGs) until the WebSocket ends, but
         * never answers its close frame; stays connected. */
        t0 = it_now_ms();
        hz_server_stop(srv, deadline);
        cr_assert(read_notice(&s, a, ANSWER_PINGS, 1), "the close timeout did not end it");
        break;
    case L_NOTICE:
    case L_GOAWAY:
    case L_GWACK:
    case L_POLITE:
    case L_COOP:
        t0 = it_now_ms();
        hz_server_stop(srv, deadline);
        if (a->how == L_COOP) {
            cr_assert(read_notice(&s, a, ANSWER_PINGS | ANSWER_CLOSE, 1),
                      "the server did not end the WebSocket");
        } else {
            cr_assert(read_notice(&s, a, 0, 0), "no notice of the stop");
            if (a->how == L_POLITE)
                ws_close_reply(&s, a);
            if (a->k != C_H1 && (a->how == L_GOAWAY || a->how == L_POLITE))
                h2_goaway(&s);
            if (a->k != C_H1 && a->how == L_GWACK)
                goaway_acked(&s);
        }
        cli_gone(&s.ws, 0);
        if (s.have_extra)
            cli_gone(&s.extra, 0);
        break;
    default:
        cr_assert_fail("leave mode");
    }
    hz_server_wait(srv);
    long long dt = it_now_ms() - t0;
    /* Half-closed and silent clients are still there: now they go. */
    session_close(&s, srv);
    return dt;
}

/* 1 when the stop of attempt a ended in time; else says why on stderr. */
static int check_attempt(const attempt *a)
{
    long long dt = run_attempt(a);
    /* The timeout that must end a client that stays: not before it (the
     * wheel's 10 ms granularity aside), and promptly after it. */
    long long wait = a->how == L_SILENT ? SILENT_DEADLINE_MS : a->how == L_MUTE ? MUTE_CLOSE_MS : 0;
    if (dt >= wait - 20 && dt < wait + PROMPT_MS)
        return 1;
    fprintf(stderr, "%s WebSocket accepted on the %s%s (%s), client %s: the stop took %lld ms\n",
            carrier_name[a->k], a->exec ? "executor" : "loop",
            a->plain ? " (a plain request open too)" : "",
            g_poller ? g_poller->name : "default poller", leave_name[a->how], dt);
    return 0;
}

static int skip_carrier(enum carrier k)
{
#if !HZ_HAVE_HTTP2
    if (k != C_H1)
        return 1;
#endif
    if (k == C_H2TLS) {
#if HZ_HAVE_TLS
        make_cert();
        return g_have_cert < 0;
#else
        return 1;
#endif
    }
    return 0;
}

/* Every carrier x accept x plain for the given leave modes, iters times
 * each; with all_pollers on every poller compiled in (else the default). */
static void matrix(const enum leave *modes, size_t nmodes, int iters, int all_pollers)
{
    int ran = 0, failed = 0;
    for (int pi = 0; hz_pollers[pi] && (all_pollers || !pi); pi++) {
        g_poller = all_pollers ? hz_pollers[pi] : NULL;
        for (int k = 0; k < C_COUNT; k++) {
            if (skip_carrier((enum carrier)k))
                continue;
            for (int exec = 0; exec < 2; exec++)
                for (int plain = 0; plain < 2; plain++)
                    for (size_t m = 0; m < nmodes; m++)
                        for (int i = 0; i < iters && !(plain && modes[m] == L_MUTE); i++) {
                            attempt a = {(enum carrier)k, exec, plain, modes[m], 0, NULL, 0};
                            if (!check_attempt(&a))
                                failed++;
                            ran++;
                        }
        }
    }
    g_poller = NULL;
    drop_cert();
    cr_assert_gt(ran, 0);
    cr_assert_eq(failed, 0, "%d of %d stops took too long (listed above)", failed, ran);
}

/* Iterations of the racy modes: HZ_STOP_WS_ITERS for a longer hunt. */
static int race_iters(void)
{
    const char *e = getenv("HZ_STOP_WS_ITERS");
    int n = e ? atoi(e) : 3;
    return n > 0 ? n : 1;
}

Test(stop_ws, client_gone_before_or_by_reset, .timeout = 120)
{
    static const enum leave m[] = {L_BEFORE, L_RST, L_HALF};
    matrix(m, sizeof(m) / sizeof(m[0]), 1, 1);
}

Test(stop_ws, client_answers_the_notice, .timeout = 120)
{
    static const enum leave m[] = {L_NOTICE, L_GOAWAY, L_GWACK, L_POLITE, L_COOP};
    matrix(m, sizeof(m) / sizeof(m[0]), 1, 1);
}

Test(stop_ws, client_leaves_with_the_stop, .timeout = 240)
{
    static const enum leave m[] = {L_SAME, L_EARLY};
    matrix(m, sizeof(m) / sizeof(m[0]), race_iters(), 1);
}

/* Silent: at the stop's deadline; mute: at the WebSocket's close timeout
 * (the plain request beside it holds the stop to the deadline: left out). */
Test(stop_ws, silent_client_ends_at_the_deadline_or_close_timeout, .timeout = 120)
{
    static const enum leave m[] = {L_SILENT, L_MUTE};
    matrix(m, sizeof(m) / sizeof(m[0]), 1, 0);
}

/* Without a stop: a client (a plain request, nothing written to it since)
 * that leaves while its response waits for
 * hz_res_after's timer is noticed at once (HTTP/1.1: the EOF watch;
 * HTTP/2: the transport's EOF closes the connection), the exchange aborted
 * and the timer's callback told HZ_ECANCELED, long before the timer. */
static void gone_while_after_pending(enum carrier k)
{
    session s;
    attempt a = {k, 0, 1, L_BEFORE, 1, NULL, 0};
    hz_server *srv = session_open(&s, &a);
    long long end = it_now_ms() + 5000;
    while (atomic_load(&g_held) < 1 && it_now_ms() < end)
        poll(NULL, 0, 1);
    cr_assert_eq(atomic_load(&g_held), 1, "/hold not called");
    long long t0 = it_now_ms();
    cli_gone(s.have_extra ? &s.extra : &s.ws, 0);
    while (!atomic_load(&g_hold_ended) && it_now_ms() - t0 < 5000)
        poll(NULL, 0, 1);
    long long dt = it_now_ms() - t0;
    cr_expect_lt(atomic_load(&g_hold_ended), 0, "the exchange was not aborted (%d)",
                 atomic_load(&g_hold_ended));
    cr_expect_eq(atomic_load(&g_hold_fired), HZ_ECANCELED);
    cr_expect_lt(dt, PROMPT_MS, "noticed after %lld ms", dt);
    hz_server_stop(srv, 0);
    hz_server_wait(srv);
    session_close(&s, srv);
}

Test(stop_ws, http1_client_gone_while_after_pending, .timeout = 60)
{
    gone_while_after_pending(C_H1);
}

Test(stop_ws, h2c_client_gone_while_after_pending, .timeout = 60)
{
    if (skip_carrier(C_H2C))
        cr_skip_test("built without HTTP/2");
    gone_while_after_pending(C_H2C);
}

/* The client's GOAWAY only says it opens no new streams: its WebSocket
 * (an open stream) goes on both ways. The server used to stop reading at
 * the GOAWAY: the next message was never read, and the transport's EOF
 * after it never seen. */
Test(stop_ws, h2_websocket_goes_on_after_client_goaway, .timeout = 60)
{
    if (skip_carrier(C_H2C))
        cr_skip_test("built without HTTP/2");
    session s;
    attempt a = {C_H2C, 0, 0, L_GOAWAY, 0, NULL, 0};
    hz_server *srv = session_open(&s, &a);
    await_open(&s, &a);
    h2_goaway(&s);
    static const uint8_t msg[] = {0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}; /* "hi" */
    h2_frame(&s.ws, F_DATA, 0, WS_SID, msg, sizeof(msg));
    h2f f;
    int echoed = 0;
    while (!echoed && h2_next(&s.ws, &f, &s.fprev, 5000))
        echoed = f.type == F_DATA && f.sid == WS_SID && f.len == 4 && f.p[0] == 0x81 &&
                 f.p[1] == 2 && !memcmp(f.p + 2, "hi", 2);
    cr_expect(echoed, "no echo after the client's GOAWAY");
    /* And the client leaving now is seen: the WebSocket closes (1006). */
    long long t0 = it_now_ms();
    cli_gone(&s.ws, 0);
    while (atomic_load(&g_closes) < 1 && it_now_ms() - t0 < 5000)
        poll(NULL, 0, 1);
    cr_expect_eq(atomic_load(&g_closes), 1, "the WebSocket did not see the client go");
    cr_expect_lt(it_now_ms() - t0, PROMPT_MS);
    hz_server_stop(srv, 0);
    hz_server_wait(srv);
    session_close(&s, srv);
}

/* ---- HTTP/2: the client leaves at each step of a stop, on every poller ---- */

/* The stop's deadline here: twice the WebSocket's close timeout, so a slow
 * stop says what held it (about 5 s: a WebSocket that waited for its close
 * frame; 10 s: a connection nobody closed). */
#define ORDER_DEADLINE_MS 10000

/* Where, around the stop, the client of an HTTP/2 WebSocket leaves. */
enum order {
    O_NOTICE_UNREAD,   /* the stop's first bytes arrive; closes with them unread (a reset) */
    O_NOTICE_RST,      /* reads to the GOAWAY, closes with SO_LINGER 0 */
    O_NOTICE_HALF,     /* reads to the GOAWAY, then shutdown(SHUT_WR), and stays */
    O_STALLED,         /* /wsbig, default windows: its DATA waits for a WINDOW_UPDATE;
                        * reads to the GOAWAY, closes */
    O_BLOCKED,         /* /wsbig, open windows, a small receive buffer: the server is
                        * write-blocked; closes with its bytes unread (a reset) */
    O_PAUSED,          /* /wsp: its WebSocket reads no more (its echo waits for a
                        * window the client never opens); reads to the GOAWAY, closes */
    O_STREAM_RST,      /* reads to the GOAWAY, resets the WebSocket's stream
                        * (RST_STREAM CANCEL) and closes in one go */
    O_STREAM_END,      /* reads to the GOAWAY, answers the close frame with
                        * END_STREAM and closes in one go */
    O_CONNECT_GONE,    /* sends the CONNECT and closes at once; the stop follows */
    O_CONNECT_HALF,    /* CONNECT, a message and its FIN in one go; the stop once
                        * the server opened the WebSocket */
    O_MID_HEADERS,     /* half the CONNECT's header block (read by the server: a
                        * PING ahead of it is acked), the stop, gone at the GOAWAY */
    O_MID_HEADERS_END, /* the same, then the rest of the block: the CONNECT is
                        * complete during the stop; gone at its answer */
    O_EXEC_GONE_STOP,  /* /wsg, the accept held on the worker: closes, the stop,
                        * then the gate opens */
    O_EXEC_STOP_GONE,  /* held: the stop, gone at the GOAWAY, the gate opens */
    O_EXEC_STOP_OPEN,  /* held: the stop, the gate opens, gone at the answer */
    O_COUNT
};
static const char *const order_name[] = {
    "gone unread at the notice", "reset at the GOAWAY",       "half-closed at the GOAWAY",
    "gone with DATA stalled",    "reset while write-blocked", "gone from a paused WebSocket",
    "stream reset, gone",        "stream ended, gone",        "gone right after the CONNECT",
    "CONNECT, message, FIN",     "gone mid header block",     "CONNECT ended during the stop",
    "exec: gone, then the stop", "exec: gone at the GOAWAY",  "exec: gone at the answer"};

/* Bytes the kernel holds for the client, unread. */
static int cli_inq(const cli *c)
{
    int n = 0;
    cr_assert_eq(ioctl(c->fd, FIONREAD, &n), 0);
    return n;
}

/* Waits (5 s at most) until the client's kernel holds more than n bytes. */
static void await_inq_over(const cli *c, int n)
{
    long long end = it_now_ms() + 5000;
    while (cli_inq(c) <= n && it_now_ms() < end) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        poll(&p, 1, 10); /* readable already when n > 0: the count is the condition */
    }
    cr_assert_gt(cli_inq(c), n, "nothing more arrived");
}

/* Reads frames until one on the WebSocket's stream answers or resets it,
 * or the server closed: asserts that it was not a 200 (the first byte of
 * the block: static table entry 8), a WebSocket accepted while stopping. */
static void await_no_accept(session *s)
{
    h2f f;
    while (h2_next(&s->ws, &f, &s->fprev, 5000)) {
        if (f.sid == WS_SID && (f.type == F_HEADERS || f.type == F_RST)) {
            cr_assert(f.type == F_RST || !f.len || f.p[0] != 0x88,
                      "a WebSocket accepted during the stop");
            return;
        }
    }
    cr_assert(s->ws.eof, "no answer on the WebSocket's stream");
}

/* Writes p, or fails quietly: the server may have closed (or reset)
 * already. */
static void cli_write_try(cli *c, const void *p, size_t n)
{
#if HZ_HAVE_TLS
    if (c->ssl) {
        (void)SSL_write(c->ssl, p, (int)n);
        return;
    }
#endif
    (void)send(c->fd, p, n, MSG_NOSIGNAL);
}

/* One ordering: the stop's duration in ms (to hz_server_wait's return). */
static long long run_order(enum carrier k, enum order o, int plain)
{
    int exec = o >= O_EXEC_GONE_STOP;
    attempt a = {k, exec, plain, L_COUNT, o == O_MID_HEADERS || o == O_MID_HEADERS_END, "/ws", 0};
    if (exec)
        a.path = "/wsg";
    else if (o == O_STALLED || o == O_BLOCKED)
        a.path = "/wsbig";
    else if (o == O_PAUSED)
        a.path = "/wsp";
    a.bigwin = o == O_BLOCKED ? 1 : o == O_PAUSED ? -1 : 0;
    static const uint8_t hi[] = {0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}; /* "hi" */
    session s;
    g_small_out = o == O_PAUSED;
    hz_server *srv = session_open(&s, &a);
    g_small_out = 0;
    long long t0 = 0;
    switch (o) {
    case O_NOTICE_UNREAD:
    case O_BLOCKED: {
        await_open(&s, &a);
        if (o == O_BLOCKED) {
            cr_assert_eq(atomic_load(&g_big_rc), 0, "the big send: %d", atomic_load(&g_big_rc));
            await_inq_over(&s.ws, 4096); /* the message is coming: the rest waits */
        }
        int q0 = cli_inq(&s.ws);
        t0 = it_now_ms();
        hz_server_stop(srv, ORDER_DEADLINE_MS);
        if (o == O_NOTICE_UNREAD)
            await_inq_over(&s.ws, q0); /* GOAWAY (PING, close frame) arriving */
        cli_gone(&s.ws, 0);            /* unread bytes: the kernel resets */
        break;
    }
    case O_NOTICE_RST:
    case O_NOTICE_HALF:
    case O_STALLED:
        await_open(&s, &a);
        if (o == O_STALLED)
            cr_assert_eq(atomic_load(&g_big_rc), 0, "the big send: %d", atomic_load(&g_big_rc));
        t0 = it_now_ms();
        hz_server_stop(srv, ORDER_DEADLINE_MS);
        cr_assert(read_notice(&s, &a, 0, 0), "no GOAWAY");
        if (o == O_NOTICE_HALF)
            shutdown(s.ws.fd, SHUT_WR); /* stays until session_close */
        else
            cli_gone(&s.ws, o == O_NOTICE_RST);
        break;
    case O_STREAM_RST:
    case O_STREAM_END: {
        await_open(&s, &a);
        t0 = it_now_ms();
        hz_server_stop(srv, ORDER_DEADLINE_MS);
        cr_assert(read_notice(&s, &a, 0, 0), "no GOAWAY");
        if (o == O_STREAM_RST) {
            static const uint8_t cancel[4] = {0, 0, 0, 8};
            h2_frame(&s.ws, F_RST, 0, WS_SID, cancel, sizeof(cancel));
        } else {
            static const uint8_t cf[] = {0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe9 ^ 2}; /* 1001 */
            h2_frame(&s.ws, F_DATA, FL_END_STREAM, WS_SID, cf, sizeof(cf));
        }
        cli_gone(&s.ws, 0);
        break;
    }
    case O_PAUSED: {
        await_open(&s, &a);
        /* Three 8 KiB messages (masking key 0), within the stream's first
         * window: the first one's echo fills the budget, so the WebSocket
         * reads no further; the others wait on the stream. */
        static uint8_t m[8 + 8192] = {0x82, 0x80 | 126, 0x20, 0x00};
        for (int i = 0; i < 3; i++)
            h2_frame(&s.ws, F_DATA, 0, WS_SID, m, sizeof(m));
        long long end = it_now_ms() + 5000;
        while (atomic_load(&g_msgs) < 1 && it_now_ms() < end)
            poll(NULL, 0, 1);
        cr_assert_geq(atomic_load(&g_msgs), 1, "the WebSocket read nothing");
        t0 = it_now_ms();
        hz_server_stop(srv, ORDER_DEADLINE_MS);
        cr_assert(read_notice(&s, &a, 0, 0), "no GOAWAY");
        cli_gone(&s.ws, 0);
        cr_expect_eq(atomic_load(&g_msgs), 1, "the WebSocket read on: it was not paused");
        break;
    }
    case O_CONNECT_GONE:
        cli_gone(&s.ws, 0);
        t0 = it_now_ms();
        hz_server_stop(srv, ORDER_DEADLINE_MS);
        break;
    case O_CONNECT_HALF: {
        h2_frame(&s.ws, F_DATA, 0, WS_SID, hi, sizeof(hi));
        shutdown(s.ws.fd, SHUT_WR);
        long long end = it_now_ms() + 5000;
        while (atomic_load(&g_opens) < 1 && it_now_ms() < end)
            poll(NULL, 0, 1);
        cr_assert_eq(atomic_load(&g_opens), 1, "the server's WebSocket did not open");
        t0 = it_now_ms();
        hz_server_stop(srv, ORDER_DEADLINE_MS);
        break;
    }
    case O_MID_HEADERS:
    case O_MID_HEADERS_END: {
        /* PING and half the block in one write, so one read: the PING's
         * ACK says the server holds an open header block. */
        static const uint8_t pd[8] = {'m', 'i', 'd', 'h', 'e', 'a', 'd', 0};
        uint8_t hb[512], w[9 + 8 + 9 + 512];
        size_t n = connect_block(hb, k, "/ws"), half = n / 2, wl;
        const uint8_t ping[9] = {0, 0, 8, F_PING, 0, 0, 0, 0, 0};
        const uint8_t hh[9] = {0, 0, (uint8_t)half, F_HEADERS, 0, 0, 0, 0, WS_SID};
        memcpy(w, ping, 9);
        memcpy(w + 9, pd, 8);
        memcpy(w + 17, hh, 9);
        memcpy(w + 26, hb, half);
        wl = 26 + half;
        cli_write(&s.ws, w, wl);
        h2f f;
        for (;;) {
            cr_assert(h2_next(&s.ws, &f, &s.fprev, 5000), "no PING ACK");
            if (f.type == F_PING && (f.flags & FL_ACK) && f.len == 8 && !memcmp(f.p, pd, 8))
                break;
        }
        t0 = it_now_ms();
        hz_server_stop(srv, ORDER_DEADLINE_MS);
        cr_assert(read_notice(&s, &a, 0, 0), "no GOAWAY");
        if (o == O_MID_HEADERS_END) {
            /* The block's end (a server that closed at once takes none). */
            const uint8_t ch[9] = {
                0, 0, (uint8_t)(n - half), F_CONTINUATION, FL_END_HEADERS, 0, 0, 0, WS_SID};
            memcpy(w, ch, 9);
            memcpy(w + 9, hb + half, n - half);
            cli_write_try(&s.ws, w, 9 + n - half);
            await_no_accept(&s); /* refused while stopping (503), reset or closed */
        }
        cli_gone(&s.ws, 0);
        break;
    }
    case O_EXEC_GONE_STOP:
    case O_EXEC_STOP_GONE:
    case O_EXEC_STOP_OPEN:
        cr_assert_eq(it_gate_wait(&it_gate_entered, 1), 1, "the accept never reached the worker");
        if (o == O_EXEC_GONE_STOP)
            cli_gone(&s.ws, 0);
        t0 = it_now_ms();
        hz_server_stop(srv, ORDER_DEADLINE_MS);
        if (o != O_EXEC_GONE_STOP)
            cr_assert(read_notice(&s, &a, 0, 0), "no GOAWAY");
        if (o == O_EXEC_STOP_GONE)
            cli_gone(&s.ws, 0);
        it_gate_open();
        if (o == O_EXEC_STOP_OPEN) {
            await_no_accept(&s);
            cli_gone(&s.ws, 0);
        }
        break;
    default:
        cr_assert_fail("order");
    }
    hz_server_wait(srv);
    long long dt = it_now_ms() - t0;
    it_gate_open();
    session_close(&s, srv);
    return dt;
}

/* Every HTTP/2 carrier x poller x (a plain request open beside or not) for
 * the given orderings; the racy one (O_CONNECT_GONE) race_iters() times,
 * every one when HZ_STOP_WS_ITERS is set (a hunt). */
static void orders(const enum order *os, size_t nos)
{
    int ran = 0, failed = 0;
    for (int pi = 0; hz_pollers[pi]; pi++) {
        g_poller = hz_pollers[pi];
        for (int k = C_H2C; k < C_COUNT; k++) {
            if (skip_carrier((enum carrier)k))
                continue;
            for (int plain = 0; plain < 2; plain++)
                for (size_t m = 0; m < nos; m++) {
                    int iters =
                        os[m] == O_CONNECT_GONE || getenv("HZ_STOP_WS_ITERS") ? race_iters() : 1;
                    for (int i = 0; i < iters; i++) {
                        long long dt = run_order((enum carrier)k, os[m], plain);
                        ran++;
                        if (dt < PROMPT_MS)
                            continue;
                        failed++;
                        fprintf(stderr, "%s on %s%s, client %s: the stop took %lld ms\n",
                                carrier_name[k], hz_pollers[pi]->name,
                                plain ? " (a plain request open too)" : "", order_name[os[m]], dt);
                    }
                }
        }
    }
    g_poller = NULL;
    drop_cert();
    cr_assert_gt(ran, 0);
    cr_assert_eq(failed, 0, "%d of %d stops took too long (listed above)", failed, ran);
}

Test(stop_ws, h2_client_leaves_at_the_notice_on_every_poller, .timeout = 180)
{
    static const enum order m[] = {O_NOTICE_UNREAD, O_NOTICE_RST, O_NOTICE_HALF, O_STALLED,
                                   O_BLOCKED,       O_PAUSED,     O_STREAM_RST,  O_STREAM_END};
    if (skip_carrier(C_H2C))
        cr_skip_test("built without HTTP/2");
    orders(m, sizeof(m) / sizeof(m[0]));
}

Test(stop_ws, h2_client_leaves_around_the_connect_on_every_poller, .timeout = 180)
{
    static const enum order m[] = {O_CONNECT_GONE, O_CONNECT_HALF, O_MID_HEADERS,
                                   O_MID_HEADERS_END};
    if (skip_carrier(C_H2C))
        cr_skip_test("built without HTTP/2");
    orders(m, sizeof(m) / sizeof(m[0]));
}

Test(stop_ws, h2_client_leaves_while_the_accept_is_on_a_worker_on_every_poller, .timeout = 180)
{
    static const enum order m[] = {O_EXEC_GONE_STOP, O_EXEC_STOP_GONE, O_EXEC_STOP_OPEN};
    if (skip_carrier(C_H2C))
        cr_skip_test("built without HTTP/2");
    orders(m, sizeof(m) / sizeof(m[0]));
}
