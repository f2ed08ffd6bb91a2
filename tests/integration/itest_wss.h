/* itest_wss.h - what the tests that watch the server's TLS transport while
 * a connection idles share (test_ws_tls_idle, test_tls_idle_delay): the
 * server's side (a self-signed pair in a temporary directory, a TLS
 * listener on it, the backend's idle slot counted) and a raw OpenSSL
 * WebSocket client over TLS (wss, HTTP/1.1 upgrade; non-blocking socket,
 * bounded reads and writes), whatever the server's TLS backend. */
#ifndef HZ_ITEST_WSS_H
#define HZ_ITEST_WSS_H

#include <stdatomic.h>
#include <stddef.h>
#include <httpz/backend.h>
#include <openssl/ssl.h>
#include "test_alloc.h"

/* ---- the server's side ---------------------------------------------------------- */

typedef struct it_tls_dir {
    char dir[64], crt[128], key[128];
} it_tls_dir;

/** Makes /tmp/hz-<tag>-XXXXXX holding a self-signed pair c.crt / c.key for
 *  the host name cn: 0, or -1 when the openssl CLI failed (the directory
 *  is made either way: it_tls_dir_remove). */
int it_tls_dir_init(it_tls_dir *d, const char *tag, const char *cn);

/** it_tls_dir_init for localhost; skips the test (cr_skip_test) when the
 *  openssl CLI fails. */
void it_tls_dir_make(it_tls_dir *d, const char *tag);

/** Removes d's directory and what is in it. */
void it_tls_dir_remove(const it_tls_dir *d);

/** Listens over TLS with d's pair on 127.0.0.1:0 (asserts); the port. */
int it_tls_listen(hz_server *srv, const it_tls_dir *d);

/** Raised by it_tls_counting_vt()'s idle slot. */
extern atomic_uint it_tls_idle_calls;

/** The compiled-in backend's table whose idle slot counts into
 *  it_tls_idle_calls (zeroed here), then calls the backend's own when it
 *  has one: for hz_config.tls. */
const hz_tls_vt *it_tls_counting_vt(void);

/** Waits (10 s at most) until it_tls_idle_calls exceeds after; asserts it
 *  did ("no idle call after <what>"). The core chooses when: the response
 *  may reach the client before the loop's after-I/O step, or a drop be
 *  delayed. */
void it_tls_wait_idle_after(unsigned after, const char *what);

/* A server counting its TLS drops, in three steps: it_tls_setup, then
 * the caller sets more of cfg, creates the server and adds its routes,
 * then it_tls_start; it_tls_finish at the end. */

/** Makes d (tag; it_tls_dir_make), resets the itest_ws counters, and fills
 *  cfg: one loop, ca as its counting allocator, it_tls_counting_vt(). */
void it_tls_setup(it_tls_dir *d, const char *tag, hz_config *cfg, hz_count_alloc *ca);

/** Listens over TLS with d's pair (it_tls_listen) and starts srv
 *  (asserted): the port. */
int it_tls_start(hz_server *srv, const it_tls_dir *d);

/** Stops srv (2 s deadline), waits for and destroys it, destroys ex unless
 *  NULL (after the server: its workers may hold the server's memory),
 *  asserts every block went back to ca and removes d. */
void it_tls_finish(hz_server *srv, hz_executor *ex, const hz_count_alloc *ca, const it_tls_dir *d);

/* ---- the client ------------------------------------------------------------------ */

/** How long it_tls_client's handshake and an it_wss_write may take. */
#define IT_TLS_IO_MS 15000

/** A client TLS session over fd (connected): no certificate verification
 *  (a throwaway self-signed one), SNI sni, ALPN alpn (the protocol list in
 *  its wire format, NUL-terminated) unless NULL; the handshake done within
 *  IT_TLS_IO_MS (asserted: a server that does not answer fails the test),
 *  fd non-blocking meanwhile, its own flags again after (a blocking fd
 *  stays one for the caller's I/O). *ctx gets its context: the caller frees the session, then the
 *  context. */
SSL *it_tls_client(int fd, const char *sni, const char *alpn, SSL_CTX **ctx);

typedef struct it_wss {
    int fd;
    SSL_CTX *ctx;       /* owns: the client context */
    SSL *ssl;           /* owns: the session on fd */
    unsigned char *buf; /* owns: bytes read and not yet taken */
    size_t len, cap;
} it_wss;

/** Connects to 127.0.0.1:port over TLS (no verification: a throwaway
 *  self-signed certificate), sends an upgrade for path (extra: more header
 *  lines or NULL) and returns the answer's status, its head consumed. */
int it_wss_connect(it_wss *c, int port, const char *path, const char *extra);

/** Reads at least one more byte within timeout_ms: 0, or -1. */
int it_wss_read(it_wss *c, int timeout_ms);

/** Writes all of p within IT_TLS_IO_MS (asserts it did). */
void it_wss_write(it_wss *c, const void *p, size_t n);

/** Sends msg as one masked frame of opcode op (1 text, 2 binary) and asserts
 *  that the same message comes back unmasked, within timeout_ms. */
void it_wss_echo(it_wss *c, int op, const void *msg, size_t n, int timeout_ms);

/** The client's close 1000: asserts the server answers 1000, then frees. */
void it_wss_close_1000(it_wss *c);

/** Frees the session, the context, the buffer and closes the socket. */
void it_wss_free(it_wss *c);

#endif
