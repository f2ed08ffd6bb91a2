/* test_ws_tls_idle.c - a WebSocket over TLS (wss, HTTP/1.1 upgrade) and
 * the TLS backend's idle hook: the compiled-in backend's table with its
 * idle slot counted, a raw OpenSSL client. The hook must be called at
 * least once while the WebSocket is idle (not necessarily at once: the
 * core may delay it), and the WebSocket must keep working after it (the
 * backend may have dropped its record buffers). Also wss with the accept
 * made from an executor worker, whose origin check must know the
 * connection is TLS. Every server ends with its counting allocator back at
 * zero. Skipped without TLS. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>
#include "itest.h"
#include "itest_ws.h"
#include "test_alloc.h"

#if HZ_HAVE_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>

static hz_count_alloc CA;
static atomic_uint g_idle_calls;
static hz_tls_vt g_counting_vt;
static char g_dir[64];

static void counting_idle(hz_tls_session *s)
{
    atomic_fetch_add(&g_idle_calls, 1);
    if (hz_tls_default->idle)
        hz_tls_default->idle(s);
}

static void h_echo(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {
        .on_open = itws_on_open, .on_message = itws_echo, .on_close = itws_on_close};
    hz_ws_accept(req, res, &cb, NULL, NULL);
}

/* On an executor worker: the origin must be the server as reached over
 * TLS (https), which the worker learns from what the loop recorded. */
static void h_worker(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {
        .on_open = itws_on_open, .on_message = itws_echo, .on_close = itws_on_close};
    if (!hz_ws_origin_ok(req, NULL, 0)) {
        hz_res_send(res, 403, "origin", 6);
        return;
    }
    hz_ws_accept(req, res, &cb, NULL, NULL);
}

static hz_executor EXR;

static hz_server *start(int *port, int exec)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/hz-wstls-XXXXXX");
    cr_assert(mkdtemp(g_dir));
    char crt[128], key[128];
    snprintf(crt, sizeof(crt), "%s/c.crt", g_dir);
    snprintf(key, sizeof(key), "%s/c.key", g_dir);
    if (it_make_cert(key, crt, "localhost") != 0)
        cr_skip_test("openssl req failed (no openssl CLI?)");
    g_counting_vt = *hz_tls_default;
    g_counting_vt.idle = counting_idle;
    atomic_store(&g_idle_calls, 0);
    itws_reset();
    hz_config cfg;
    it_config_counted(&cfg, &CA);
    cfg.tls = &g_counting_vt;
    memset(&EXR, 0, sizeof(EXR));
    if (exec) {
        hz_executor_pool_options po;
        hz_executor_pool_options_init(&po);
        po.threads = 1;
        cr_assert_eq(hz_executor_pool_create(&EXR, &po, &CA.iface), 0);
        cfg.executor = &EXR;
    }
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    cr_assert_eq(hz_route(srv, "GET", "/ws/echo", h_echo, NULL), 0);
    hz_route_opts ro;
    hz_route_opts_init(&ro);
    ro.flags = HZ_ROUTE_EXECUTOR;
    if (exec)
        cr_assert_eq(hz_route_with(srv, "GET", "/ws/worker", h_worker, NULL, &ro), 0);
    hz_tls_config t;
    hz_tls_config_init(&t);
    t.certs[0].cert_file = crt;
    t.certs[0].key_file = key;
    t.ncerts = 1;
    int idx = hz_server_listen(srv, "127.0.0.1", 0, &t);
    cr_assert_geq(idx, 0, "listen: %d", idx);
    *port = hz_server_port(srv, idx);
    cr_assert_eq(hz_server_start(srv), 0);
    return srv;
}

static void finish(hz_server *srv)
{
    hz_server_stop(srv, 2000);
    hz_server_wait(srv);
    hz_server_destroy(srv);
    hz_executor_pool_destroy(&EXR);
    it_assert_no_leaks(&CA);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    (void)system(cmd);
}

/* ---- a raw TLS WebSocket client ------------------------------------------- */

typedef struct tcli {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    unsigned char buf[4096];
    size_t len;
} tcli;

/* Reads at least one more byte within timeout_ms: 0, or -1. */
static int tread(tcli *c, int timeout_ms)
{
    long long end = it_now_ms() + timeout_ms;
    for (;;) {
        if (c->len == sizeof(c->buf))
            return -1;
        int n = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - c->len));
        if (n > 0) {
            c->len += (size_t)n;
            return 0;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return -1;
        long long left = end - it_now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = c->fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
        poll(&p, 1, (int)left);
    }
}

static void twrite(tcli *c, const void *p, size_t n)
{
    /* A blocking socket: SSL_write writes all of it or fails. */
    cr_assert_eq(SSL_write(c->ssl, p, (int)n), (int)n);
}

/* Connects over TLS and sends an upgrade for path (extra: more header
 * lines); returns the answer's status, the head consumed. */
static int tconnect(tcli *c, int port, const char *path, const char *extra)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(c->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    c->ctx = SSL_CTX_new(TLS_client_method());
    cr_assert(c->ctx);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL); /* a throwaway self-signed cert */
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    cr_assert_eq(SSL_connect(c->ssl), 1, "TLS handshake");
    char req[1024];
    it_ws_upgrade_req(req, sizeof(req), path, extra);
    twrite(c, req, strlen(req));
    while (!memmem(c->buf, c->len, "\r\n\r\n", 4))
        cr_assert_eq(tread(c, 5000), 0, "no answer to the upgrade");
    cr_assert(c->len > 12 && !memcmp(c->buf, "HTTP/1.1 ", 9), "%.*s", (int)c->len, c->buf);
    int status = atoi((const char *)c->buf + 9);
    unsigned char *e = (unsigned char *)memmem(c->buf, c->len, "\r\n\r\n", 4) + 4;
    c->len -= (size_t)(e - c->buf);
    memmove(c->buf, e, c->len);
    return status;
}

static void tclose(tcli *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
}

/* Sends a masked text frame of msg (< 126 bytes) and expects its echo. */
static void techo(tcli *c, const char *msg)
{
    size_t n = strlen(msg);
    unsigned char f[2 + 4 + 125], key[4] = {1, 2, 3, 4};
    f[0] = 0x81;
    f[1] = (unsigned char)(0x80 | n);
    memcpy(f + 2, key, 4);
    for (size_t i = 0; i < n; i++)
        f[6 + i] = (unsigned char)msg[i] ^ key[i & 3];
    twrite(c, f, 6 + n);
    while (c->len < 2 || c->len < 2 + (size_t)(c->buf[1] & 0x7f))
        cr_assert_eq(tread(c, 5000), 0, "no echo of %s", msg);
    cr_assert_eq(c->buf[0], 0x81);
    cr_assert_eq(c->buf[1], n);
    cr_assert_eq(memcmp(c->buf + 2, msg, n), 0);
    c->len -= 2 + n;
    memmove(c->buf, c->buf + 2 + n, c->len);
}

/* The client's close: 1000 echoed, then the connection ends. */
static void tclose_1000(tcli *c)
{
    unsigned char f[8] = {0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2};
    twrite(c, f, sizeof(f));
    while (c->len < 4)
        cr_assert_eq(tread(c, 5000), 0, "no close answer");
    cr_assert_eq(c->buf[0], 0x88);
    cr_assert_eq((c->buf[2] << 8) | c->buf[3], 1000);
    tclose(c);
}

/* Waits (bounded) until the server's loop called idle more than `after`
 * times; the delay is the core's to choose. */
static void wait_idle_after(unsigned after, const char *what)
{
    long long end = it_now_ms() + 10000;
    while (atomic_load(&g_idle_calls) <= after && it_now_ms() < end)
        usleep(2000);
    cr_assert_gt(atomic_load(&g_idle_calls), after, "no idle call after %s", what);
}

Test(ws_tls_idle, idle_hook_while_websocket_idle)
{
    int port;
    hz_server *srv = start(&port, 0);
    tcli c;
    cr_assert_eq(tconnect(&c, port, "/ws/echo", NULL), 101);
    unsigned before = atomic_load(&g_idle_calls);
    techo(&c, "first");
    wait_idle_after(before, "an echo");
    /* The session serves on after the hook (buffers dropped or not). */
    for (int round = 0; round < 3; round++) {
        before = atomic_load(&g_idle_calls);
        techo(&c, round == 0 ? "second" : round == 1 ? "third" : "fourth");
        wait_idle_after(before, "another echo");
    }
    cr_expect_eq(atomic_load(&itws_opens), 1);
    tclose_1000(&c);
    itws_wait_closes(1);
    finish(srv);
}

/* wss with the accept made from an executor worker: the origin check there
 * knows the connection is TLS (https://127.0.0.1 is the server itself,
 * http://127.0.0.1 is not); the WebSocket echoes. */
Test(ws_tls_idle, accept_on_worker_over_tls_with_origin_check)
{
    int port;
    hz_server *srv = start(&port, 1);
    tcli c;
    cr_assert_eq(tconnect(&c, port, "/ws/worker", "Origin: http://127.0.0.1\r\n"), 403);
    tclose(&c);
    cr_assert_eq(tconnect(&c, port, "/ws/worker", "Origin: https://127.0.0.1\r\n"), 101);
    techo(&c, "over wss from a worker's accept");
    cr_expect_eq(atomic_load(&itws_opens), 1);
    tclose_1000(&c);
    itws_wait_closes(1);
    finish(srv);
}

#else
Test(ws_tls_idle, idle_hook_while_websocket_idle)
{
    cr_skip_test("built without TLS");
}
#endif
