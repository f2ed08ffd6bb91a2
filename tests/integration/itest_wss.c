/* itest_wss.c - see itest_wss.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "itest_wss.h"
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "itest.h"
#include "itest_ws.h"

atomic_uint it_tls_idle_calls;

int it_tls_dir_init(it_tls_dir *d, const char *tag, const char *cn)
{
    snprintf(d->dir, sizeof(d->dir), "/tmp/hz-%s-XXXXXX", tag);
    cr_assert(mkdtemp(d->dir));
    snprintf(d->crt, sizeof(d->crt), "%s/c.crt", d->dir);
    snprintf(d->key, sizeof(d->key), "%s/c.key", d->dir);
    return it_make_cert(d->key, d->crt, cn) == 0 ? 0 : -1;
}

void it_tls_dir_make(it_tls_dir *d, const char *tag)
{
    if (it_tls_dir_init(d, tag, "localhost") != 0)
        cr_skip_test("openssl req failed (no openssl CLI?)");
}

void it_tls_dir_remove(const it_tls_dir *d)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", d->dir);
    (void)system(cmd);
}

int it_tls_listen(hz_server *srv, const it_tls_dir *d)
{
    hz_tls_config t;
    hz_tls_config_init(&t);
    t.certs[0].cert_file = d->crt;
    t.certs[0].key_file = d->key;
    t.ncerts = 1;
    int idx = hz_server_listen(srv, "127.0.0.1", 0, &t);
    cr_assert_geq(idx, 0, "listen: %d", idx);
    return hz_server_port(srv, idx);
}

static void counting_idle(hz_tls_session *s)
{
    atomic_fetch_add(&it_tls_idle_calls, 1);
    if (hz_tls_default->idle)
        hz_tls_default->idle(s);
}

const hz_tls_vt *it_tls_counting_vt(void)
{
    static hz_tls_vt vt;
    vt = *hz_tls_default;
    vt.idle = counting_idle;
    atomic_store(&it_tls_idle_calls, 0);
    return &vt;
}

void it_tls_wait_idle_after(unsigned after, const char *what)
{
    long long end = it_now_ms() + 10000;
    while (atomic_load(&it_tls_idle_calls) <= after && it_now_ms() < end)
        usleep(1000);
    cr_assert_gt(atomic_load(&it_tls_idle_calls), after, "no idle call after %s", what);
}

void it_tls_setup(it_tls_dir *d, const char *tag, hz_config *cfg, hz_count_alloc *ca)
{
    it_tls_dir_make(d, tag);
    itws_reset();
    it_config_counted(cfg, ca);
    cfg->tls = it_tls_counting_vt();
}

int it_tls_start(hz_server *srv, const it_tls_dir *d)
{
    int port = it_tls_listen(srv, d);
    cr_assert_eq(hz_server_start(srv), 0);
    return port;
}

void it_tls_finish(hz_server *srv, hz_executor *ex, const hz_count_alloc *ca, const it_tls_dir *d)
{
    hz_server_stop(srv, 2000);
    hz_server_wait(srv);
    hz_server_destroy(srv);
    if (ex)
        hz_executor_pool_destroy(ex);
    it_assert_no_leaks(ca);
    it_tls_dir_remove(d);
}

/* What a non-blocking OpenSSL call on fd that returned r needs, waited for
 * until end (it_now_ms()): 0 to call again, IT_TLS_LATE when end came
 * first, or the SSL_get_error() code of a failure. A signal is no failure:
 * poll() and a call that failed with EINTR are retried. (Not a blocking
 * socket with SO_RCVTIMEO/SO_SNDTIMEO: signal(7), its calls then end with
 * EINTR instead of restarting.) */
#define IT_TLS_LATE (-1)
static int tls_wait(SSL *ssl, int fd, int r, long long end)
{
    int err = errno, e = SSL_get_error(ssl, r);
    short ev;
    if (e == SSL_ERROR_WANT_READ)
        ev = POLLIN;
    else if (e == SSL_ERROR_WANT_WRITE)
        ev = POLLOUT;
    else if (e == SSL_ERROR_SYSCALL && err == EINTR)
        return 0;
    else
        return e;
    for (;;) {
        long long left = end - it_now_ms();
        if (left <= 0)
            return IT_TLS_LATE;
        struct pollfd p = {.fd = fd, .events = ev};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return SSL_ERROR_SYSCALL;
    }
}

/* tls_wait, asserting it leaves the call to be made again; what names the
 * call in the failure. */
static void tls_wait_ok(SSL *ssl, int fd, int r, long long end, const char *what)
{
    int w = tls_wait(ssl, fd, r, end);
    cr_assert_neq(w, IT_TLS_LATE, "%s: not done within %d ms (no answer)", what, IT_TLS_IO_MS);
    cr_assert_eq(w, 0, "%s failed (SSL_get_error %d)", what, w);
}

/* Adds O_NONBLOCK to fd's flags (asserted): the flags it had. */
static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    cr_assert(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0, "O_NONBLOCK: %s",
              strerror(errno));
    return fl;
}

SSL *it_tls_client(int fd, const char *sni, const char *alpn, SSL_CTX **ctx)
{
    *ctx = SSL_CTX_new(TLS_client_method());
    cr_assert(*ctx);
    SSL_CTX_set_verify(*ctx, SSL_VERIFY_NONE, NULL);
    if (alpn)
        cr_assert_eq(
            SSL_CTX_set_alpn_protos(*ctx, (const unsigned char *)alpn, (unsigned)strlen(alpn)), 0);
    SSL *ssl = SSL_new(*ctx);
    cr_assert(ssl);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, sni);
    /* Non-blocking until done: a server that never answers fails the test
     * at the deadline instead of hanging it until ctest's limit. */
    int fl = set_nonblock(fd);
    long long end = it_now_ms() + IT_TLS_IO_MS;
    int r;
    while ((r = SSL_connect(ssl)) != 1)
        tls_wait_ok(ssl, fd, r, end, "TLS handshake");
    cr_assert_eq(fcntl(fd, F_SETFL, fl), 0, "F_SETFL: %s", strerror(errno));
    return ssl;
}

int it_wss_read(it_wss *c, int timeout_ms)
{
    long long end = it_now_ms() + timeout_ms;
    for (;;) {
        if (c->len == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 65536;
            c->buf = realloc(c->buf, c->cap);
            cr_assert(c->buf);
        }
        int n = SSL_read(c->ssl, c->buf + c->len, (int)(c->cap - c->len));
        if (n > 0) {
            c->len += (size_t)n;
            return 0;
        }
        if (tls_wait(c->ssl, c->fd, n, end) != 0)
            return -1;
    }
}

void it_wss_write(it_wss *c, const void *p, size_t n)
{
    /* Without SSL_MODE_ENABLE_PARTIAL_WRITE, SSL_write writes all of it or
     * nothing yet (the same call again). */
    long long end = it_now_ms() + IT_TLS_IO_MS;
    int r;
    while ((r = SSL_write(c->ssl, p, (int)n)) <= 0)
        tls_wait_ok(c->ssl, c->fd, r, end, "TLS write");
    cr_assert_eq(r, (int)n);
}

static void take(it_wss *c, size_t n)
{
    c->len -= n;
    memmove(c->buf, c->buf + n, c->len);
}

int it_wss_connect(it_wss *c, int port, const char *path, const char *extra)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(c->fd, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    cr_assert_eq(it_connect_fd(c->fd, port), 0);
    c->ssl = it_tls_client(c->fd, "localhost", NULL, &c->ctx);
    /* Non-blocking from here: it_wss_read and it_wss_write are bounded. */
    set_nonblock(c->fd);
    char req[1024];
    it_ws_upgrade_req(req, sizeof(req), path, extra);
    it_wss_write(c, req, strlen(req));
    unsigned char *e;
    while (!c->len || !(e = memmem(c->buf, c->len, "\r\n\r\n", 4)))
        cr_assert_eq(it_wss_read(c, 5000), 0, "no answer to the upgrade");
    cr_assert(c->len > 12 && !memcmp(c->buf, "HTTP/1.1 ", 9), "%.*s", (int)c->len, c->buf);
    int status = atoi((const char *)c->buf + 9);
    take(c, (size_t)(e + 4 - c->buf));
    return status;
}

void it_wss_echo(it_wss *c, int op, const void *msg, size_t n, int timeout_ms)
{
    unsigned char *f = malloc(n + 14), key[4] = {9, 8, 7, 6};
    cr_assert(f);
    size_t h = 2;
    f[0] = (unsigned char)(0x80 | op);
    if (n < 126) {
        f[1] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        f[1] = 0x80 | 126;
        f[2] = (unsigned char)(n >> 8);
        f[3] = (unsigned char)n;
        h = 4;
    } else {
        f[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            f[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        h = 10;
    }
    memcpy(f + h, key, 4);
    for (size_t i = 0; i < n; i++)
        f[h + 4 + i] = ((const unsigned char *)msg)[i] ^ key[i & 3];
    it_wss_write(c, f, h + 4 + n);
    free(f);
    /* The echo: unmasked, the shortest length form. */
    size_t eh = n < 126 ? 2 : n < 65536 ? 4 : 10;
    while (c->len < eh + n)
        cr_assert_eq(it_wss_read(c, timeout_ms), 0, "no echo of %zu bytes", n);
    cr_assert_eq(c->buf[0], 0x80 | op);
    cr_assert_eq(c->buf[1], n < 126 ? n : n < 65536 ? 126 : 127, "echo length form");
    cr_assert(memcmp(c->buf + eh, msg, n) == 0, "echo of %zu bytes differs", n);
    take(c, eh + n);
}

void it_wss_close_1000(it_wss *c)
{
    unsigned char f[8] = {0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2};
    it_wss_write(c, f, sizeof(f));
    while (c->len < 4)
        cr_assert_eq(it_wss_read(c, 5000), 0, "no close answer");
    cr_assert_eq(c->buf[0], 0x88);
    cr_assert_eq((c->buf[2] << 8) | c->buf[3], 1000);
    it_wss_free(c);
}

void it_wss_free(it_wss *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}
