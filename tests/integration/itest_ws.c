/* itest_ws.c - see itest_ws.h. */
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <criterion/criterion.h>
#include "itest_ws.h"

/* ---- the server side ---------------------------------------------------------- */

atomic_int itws_closes, itws_last_code, itws_opens, itws_flood_sent, itws_flood_calls;

void itws_reset(void)
{
    atomic_store(&itws_closes, 0);
    atomic_store(&itws_last_code, 0);
    atomic_store(&itws_opens, 0);
    atomic_store(&itws_flood_sent, 0);
    atomic_store(&itws_flood_calls, 0);
}

void itws_on_close(hz_ws *ws, unsigned code, const char *r, size_t len, void *ud)
{
    (void)ws, (void)r, (void)len, (void)ud;
    atomic_store(&itws_last_code, (int)code);
    atomic_fetch_add(&itws_closes, 1);
}

void itws_on_open(hz_ws *ws, void *ud)
{
    (void)ws, (void)ud;
    atomic_fetch_add(&itws_opens, 1);
}

void itws_echo(hz_ws *ws, int op, const void *d, size_t len, int fin, void *ud)
{
    (void)fin, (void)ud;
    int rc = hz_ws_send(ws, op, d, len, 0);
    cr_assert_eq(rc, 0, "echo send: %d", rc);
}

void itws_wait_closes(int n)
{
    for (int i = 0; i < 500 && atomic_load(&itws_closes) < n; i++)
        usleep(10000);
    cr_assert_geq(atomic_load(&itws_closes), n, "closes %d, want %d", atomic_load(&itws_closes), n);
}

void itws_pump(hz_ws *ws, atomic_int *sent, int n, hz_ws_msg *msg, const void *data, size_t len)
{
    while (atomic_load(sent) < n) {
        int rc = msg ? hz_ws_send_msg(ws, msg) : hz_ws_send(ws, HZ_WS_BINARY, data, len, 0);
        if (rc == HZ_EAGAIN)
            return;
        cr_assert_eq(rc, 0);
        atomic_fetch_add(sent, 1);
    }
}

static void flood_more(hz_ws *ws, void *ud)
{
    static char blk[ITWS_FLOOD_MSG];
    atomic_fetch_add(&itws_flood_calls, 1);
    itws_pump(ws, &itws_flood_sent, *(const int *)ud, NULL, blk, sizeof(blk));
}

void itws_h_flood(hz_req *req, hz_res *res, void *ud)
{
    static const hz_ws_callbacks cb = {
        .on_open = flood_more, .on_drain = flood_more, .on_close = itws_on_close};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.output_budget = ITWS_FLOOD_BUDGET;
    hz_ws_accept(req, res, &cb, &o, ud);
}

static void close_on_stop(hz_ws *ws, int op, const void *d, size_t len, int fin, void *ud)
{
    (void)fin, (void)ud;
    if (op == HZ_WS_TEXT && len == 4 && memcmp(d, "stop", 4) == 0)
        cr_assert_eq(hz_ws_close(ws, 1000, "stopped", 7), 0);
}

void itws_accept_producer(hz_req *req, hz_res *res, void (*refill)(hz_ws *ws, void *ud),
                          size_t budget)
{
    const hz_ws_callbacks cb = {.on_open = refill,
                                .on_drain = refill,
                                .on_message = close_on_stop,
                                .on_close = itws_on_close}; /* copied by the accept */
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.output_budget = budget;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

/* ---- a raw client (HTTP/1.1 upgrade) ------------------------------------------ */

const char IT_WS_KEY[] = "dGhlIHNhbXBsZSBub25jZQ==";

void it_ws_upgrade_req(char *buf, size_t cap, const char *path, const char *extra)
{
    snprintf(buf, cap,
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
             path, IT_WS_KEY, extra ? extra : "");
}

/* Reads a response head (it_read_response takes 1xx for interim). */
int it_ws_read_head(it_conn *c, it_resp *r, int timeout_ms)
{
    long long end = it_now_ms() + timeout_ms;
    memset(r, 0, sizeof(*r));
    for (;;) {
        char *e = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (e) {
            size_t hl = (size_t)(e - c->buf) + 4;
            cr_assert_lt(hl, sizeof(r->head));
            memcpy(r->head, c->buf, hl);
            r->head[hl] = 0;
            memmove(c->buf, c->buf + hl, c->len - hl);
            c->len -= hl;
            r->body = malloc(1);
            r->body[0] = 0;
            return sscanf(r->head, "HTTP/1.1 %d", &r->status) == 1 ? 0 : -1;
        }
        long long left = end - it_now_ms();
        size_t before = c->len;
        if (left <= 0)
            return -1;
        it_read_atleast(c, c->len + 1, (int)left);
        if (c->len == before)
            return -1;
    }
}

/* Connects and upgrades; the 101 is consumed. */
void it_ws_open(it_conn *c, int port, const char *path, const char *extra, it_resp *out)
{
    char req[1024];
    it_resp r;
    cr_assert_eq(it_connect(c, port), 0);
    it_ws_upgrade_req(req, sizeof(req), path, extra);
    cr_assert_eq(it_sends(c, req), 0);
    cr_assert_eq(it_ws_read_head(c, &r, 3000), 0);
    cr_assert_eq(r.status, 101, "status %d: %s", r.status, r.head);
    cr_assert_str_eq(it_header(&r, "sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    if (out)
        *out = r;
    else
        it_resp_free(&r);
}

/* Sends one masked (or, with mask 0, unmasked) frame. */
void it_ws_send(it_conn *c, unsigned b0, const void *p, size_t len, int mask)
{
    uint8_t h[14], key[4] = {0x12, 0x34, 0x56, 0x78};
    size_t n = 0;
    h[n++] = (uint8_t)b0;
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        h[n++] = m | (uint8_t)len;
    } else if (len < 65536) {
        h[n++] = m | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (mask) {
        memcpy(h + n, key, 4);
        n += 4;
    }
    uint8_t *buf = malloc(n + len + 1);
    memcpy(buf, h, n);
    for (size_t i = 0; i < len; i++)
        buf[n + i] = ((const uint8_t *)p)[i] ^ (mask ? key[i & 3] : 0);
    cr_assert_eq(it_send(c, buf, n + len), 0);
    free(buf);
}

/* Reads exactly n bytes: first what c->buf holds (the bytes after the
 * 101), then straight from the socket, so a long stream is not moved
 * around in c->buf frame after frame. 0, or -1 on timeout or EOF. */
static int read_exact(it_conn *c, uint8_t *dst, size_t n, long long end)
{
    size_t got = 0;
    if (c->len) {
        size_t k = c->len < n ? c->len : n;
        memcpy(dst, c->buf, k);
        memmove(c->buf, c->buf + k, c->len - k);
        c->len -= k;
        got = k;
    }
    while (got < n) {
        long long left = end - it_now_ms();
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        ssize_t r = recv(c->fd, dst + got, n - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Reads one server frame (unmasked); -1 on timeout or EOF. */
int it_ws_read(it_conn *c, it_ws_frame *f, int timeout_ms)
{
    long long end = it_now_ms() + timeout_ms;
    uint8_t h[10];
    if (read_exact(c, h, 2, end) < 0)
        return -1;
    cr_assert_eq(h[1] & 0x80, 0, "server frames are not masked");
    size_t len = h[1] & 0x7f;
    if (len == 126) {
        if (read_exact(c, h + 2, 2, end) < 0)
            return -1;
        len = (size_t)h[2] << 8 | h[3];
    } else if (len == 127) {
        if (read_exact(c, h + 2, 8, end) < 0)
            return -1;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | h[2 + i];
    }
    f->b0 = h[0];
    f->len = len;
    f->data = malloc(len + 1);
    f->data[len] = 0;
    if (read_exact(c, f->data, len, end) < 0) {
        free(f->data);
        return -1;
    }
    return 0;
}

unsigned it_ws_close_code(const it_ws_frame *f)
{
    return f->len >= 2 ? (unsigned)f->data[0] << 8 | f->data[1] : 0;
}

/* Expects a close frame with code, then the TCP connection closed. */
void it_ws_expect_close(it_conn *c, unsigned code)
{
    it_ws_frame f;
    for (;;) {
        cr_assert_eq(it_ws_read(c, &f, 3000), 0, "no close frame");
        if ((f.b0 & 0x0f) != 0x9 && (f.b0 & 0x0f) != 0xa)
            break;
        free(f.data);
    }
    cr_assert_eq(f.b0, 0x88, "frame 0x%x, not a close", f.b0);
    cr_assert_eq(it_ws_close_code(&f), code, "close code %u", it_ws_close_code(&f));
    free(f.data);
    cr_assert(it_wait_closed(c, 3000), "TCP still open after the close");
}
