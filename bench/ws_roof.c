/* ws_roof.c - the WebSocket "roof": the cheapest echo server the kernel
 * allows, to measure a real server against on the same machine and run.
 * One thread, epoll (level-triggered, like the HTTP roof and the demo's
 * epoll poller), non-blocking sockets with TCP_NODELAY. The opening
 * handshake is answered with a fixed-form 101 whose only computed part is
 * Sec-WebSocket-Accept (RFC 6455 §4.2.2); after that, per readable event,
 * one read, each complete frame unmasked and turned into an unmasked frame
 * of the same opcode, and all of them written back with one send. Nothing
 * is validated (no UTF-8, no reserved bits, no control-frame rules, no
 * limits but the buffer): it is a floor under a server, not a server.
 * A close frame is echoed and the connection closed.
 *   ws_roof [PORT]   listens on 127.0.0.1:PORT (default 18086) */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include "base64.h"
#include "sha1.h"

#define MAXFD 65536
#define RBUF (256 * 1024) /* one read; a frame larger than this is not echoed */

struct conn {
    unsigned char open; /* 1 once the 101 went out */
    uint8_t *in;        /* owns: bytes of an incomplete handshake or frame */
    size_t in_len;
    uint8_t *out; /* owns: output a short send left behind */
    size_t out_len;
};

static struct conn conns[MAXFD];
static int ep;
static uint8_t rbuf[RBUF];
static uint8_t wbuf[RBUF];

static void conn_close(int fd)
{
    free(conns[fd].in);
    free(conns[fd].out);
    memset(&conns[fd], 0, sizeof conns[fd]);
    close(fd); /* also leaves the epoll set */
}

static void set_out_interest(int fd, int want_out)
{
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0u), .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Sends p[0..len) after any output already waiting; keeps what the socket
 * does not take and asks for EPOLLOUT. Returns -1 if the connection died. */
static int send_all(int fd, const uint8_t *p, size_t len)
{
    struct conn *c = &conns[fd];
    if (c->out_len) { /* keep order: queue behind the waiting bytes */
        uint8_t *n = realloc(c->out, c->out_len + len);
        if (!n)
            return -1;
        memcpy(n + c->out_len, p, len);
        c->out = n;
        c->out_len += len;
        return 0;
    }
    ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
    if (w == (ssize_t)len)
        return 0;
    if (w < 0 && errno != EAGAIN && errno != EINTR)
        return -1;
    if (w < 0)
        w = 0;
    c->out_len = len - (size_t)w;
    c->out = malloc(c->out_len);
    if (!c->out)
        return -1;
    memcpy(c->out, p + w, c->out_len);
    set_out_interest(fd, 1);
    return 0;
}

/* Returns -1 if the connection was closed, else the bytes still waiting. */
static long on_writable(int fd)
{
    struct conn *c = &conns[fd];
    ssize_t w = send(fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
        conn_close(fd);
        return -1;
    }
    if (w <= 0)
        return (long)c->out_len;
    c->out_len -= (size_t)w;
    memmove(c->out, c->out + w, c->out_len);
    if (!c->out_len) {
        free(c->out);
        c->out = NULL;
        set_out_interest(fd, 0);
    }
    return (long)c->out_len;
}

/* The handshake: waits for the end of the head, finds the key, answers. */
static int handshake(int fd, const uint8_t *p, size_t n)
{
    static const char name[] = "\r\nSec-WebSocket-Key:";
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    const char *s = memmem(p, n, "\r\n\r\n", 4);
    if (!s)
        return 0; /* the caller keeps the bytes */
    const char *k = NULL;
    for (const char *q = (const char *)p; q + sizeof name - 1 < s; q++)
        if (strncasecmp(q, name, sizeof name - 1) == 0) {
            k = q + sizeof name - 1;
            break;
        }
    if (!k)
        return -1;
    while (*k == ' ')
        k++;
    const char *e = k;
    while (e < s && *e != '\r' && *e != ' ')
        e++;
    hz__sha1_ctx h;
    uint8_t dig[HZ__SHA1_LEN];
    hz__sha1_init(&h);
    hz__sha1_update(&h, k, (size_t)(e - k));
    hz__sha1_update(&h, guid, sizeof guid - 1);
    hz__sha1_final(&h, dig);
    char resp[160];
    int len = snprintf(resp, sizeof resp,
                       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: ");
    len += (int)hz__base64_encode(resp + len, dig, sizeof dig);
    memcpy(resp + len, "\r\n\r\n", 4);
    len += 4;
    conns[fd].open = 1;
    if (send_all(fd, (const uint8_t *)resp, (size_t)len) < 0)
        return -1;
    return (int)((const uint8_t *)s + 4 - p);
}

/* Unmasks src[0..n) into dst with key (n counted from the payload start),
 * 16 bytes a step where SSE2 is there (every x86-64). */
static void unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4])
{
    size_t i = 0;
#ifdef __SSE2__
    int32_t k4;
    memcpy(&k4, key, 4);
    __m128i k = _mm_set1_epi32(k4);
    for (; i + 16 <= n; i += 16)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + i)), k));
#endif
    for (; i < n; i++)
        dst[i] = src[i] ^ key[i & 3];
}

/* Echoes every complete frame of p[0..n) with one send; returns the bytes
 * used (a partial frame is left to the caller) or -1 to close. */
static long echo_frames(int fd, const uint8_t *p, size_t n)
{
    size_t at = 0, o = 0;
    int closing = 0;
    while (n - at >= 2) {
        const uint8_t *f = p + at;
        size_t hl = 2, len = f[1] & 0x7f;
        if (len == 126) {
            hl = 4;
            if (n - at < hl)
                break;
            len = (size_t)f[2] << 8 | f[3];
        } else if (len == 127) {
            hl = 10;
            if (n - at < hl)
                break;
            len = 0;
            for (int i = 2; i < 10; i++)
                len = len << 8 | f[i];
        }
        int masked = f[1] >> 7;
        if (len > RBUF - 14 || n - at < hl + 4u * masked + len)
            break; /* incomplete (or too big, which never completes) */
        wbuf[o] = f[0];
        if (len < 126) {
            wbuf[o + 1] = (uint8_t)len;
            o += 2;
        } else if (len < 65536) {
            wbuf[o + 1] = 126;
            wbuf[o + 2] = (uint8_t)(len >> 8);
            wbuf[o + 3] = (uint8_t)len;
            o += 4;
        } else {
            wbuf[o + 1] = 127;
            for (int i = 0; i < 8; i++)
                wbuf[o + 2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
            o += 10;
        }
        if (masked)
            unmask(wbuf + o, f + hl + 4, len, f + hl);
        else
            memcpy(wbuf + o, f + hl, len);
        o += len;
        at += hl + 4u * masked + len;
        if ((f[0] & 0x0f) == 8) {
            closing = 1;
            break;
        }
        if (o > RBUF - 65536)
            break; /* send what we have; the rest waits for the next event */
    }
    if (o && send_all(fd, wbuf, o) < 0)
        return -1;
    return closing ? -1 : (long)at;
}

static void on_readable(int fd)
{
    struct conn *c = &conns[fd];
    uint8_t *p = rbuf;
    size_t have = c->in_len;
    if (have) /* rare: an incomplete frame or head from the last read */
        memcpy(rbuf, c->in, have);
    ssize_t r = recv(fd, rbuf + have, RBUF - have, 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(fd);
        return;
    }
    if (r < 0)
        return;
    size_t n = have + (size_t)r;
    long used = 0;
    if (!c->open) {
        int h = handshake(fd, p, n);
        if (h < 0) {
            conn_close(fd);
            return;
        }
        used = h;
    }
    if (c->open && (size_t)used < n) {
        long e = echo_frames(fd, p + used, n - (size_t)used);
        if (e < 0) {
            conn_close(fd);
            return;
        }
        used += e;
    }
    size_t rest = n - (size_t)used;
    if (rest == RBUF) { /* a head or frame larger than the buffer */
        conn_close(fd);
        return;
    }
    if (rest && !c->in && !(c->in = malloc(RBUF))) {
        conn_close(fd);
        return;
    }
    if (rest)
        memcpy(c->in, p + used, rest);
    c->in_len = rest;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 18086;
    signal(SIGPIPE, SIG_IGN);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 4096)) {
        perror("ws_roof: bind/listen");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[1024];
    for (;;) {
        int n = epoll_wait(ep, evs, 1024, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("ws_roof: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (cfd < 0)
                        break;
                    if (cfd >= MAXFD) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
                }
                continue;
            }
            uint32_t e = evs[i].events;
            if ((e & EPOLLOUT) && conns[fd].out_len && on_writable(fd) != 0)
                continue; /* closed, or still blocked: read no more for now */
            if (e & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(fd);
        }
    }
}
