/* itest_wss.h - a raw OpenSSL WebSocket client over TLS (wss, HTTP/1.1
 * upgrade) for the tests that watch what the server's TLS transport does
 * while a WebSocket idles (test_ws_tls_idle, test_tls_idle_delay), whatever
 * the server's TLS backend. Blocking socket, bounded reads. */
#ifndef HZ_ITEST_WSS_H
#define HZ_ITEST_WSS_H

#include <stddef.h>
#include <openssl/ssl.h>

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

/** Writes all of p (asserts it did). */
void it_wss_write(it_wss *c, const void *p, size_t n);

/** Sends msg as one masked frame of opcode op (1 text, 2 binary) and asserts
 *  that the same message comes back unmasked, within timeout_ms. */
void it_wss_echo(it_wss *c, int op, const void *msg, size_t n, int timeout_ms);

/** The client's close 1000: asserts the server answers 1000, then frees. */
void it_wss_close_1000(it_wss *c);

/** Frees the session, the context, the buffer and closes the socket. */
void it_wss_free(it_wss *c);

#endif
