/* test_tls_records.c - the TLS transport (core/event/sock.c) sends several
 * records in one send of the transport under it, and holds the records the
 * transport did not take (docs/architecture.md, "TLS records per send").
 *
 * The server side is the real TLS transport with the backend compiled in,
 * over an in-memory raw transport ("the wire") that counts its sends, takes
 * at most `room` bytes the client has not read yet (a slow reader: partial
 * sends, then HZ_EAGAIN) and feeds the client's memory BIO. The client is
 * OpenSSL, driven by the test. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <httpz/backend.h>
#include "sock.h"
#include "test_alloc.h"

#define REC 16384u

typedef struct wire { /* owner: the test */
    hz__sock sock;    /* the server's TLS socket (its raw: this wire) */
    SSL_CTX *cctx;    /* owns */
    SSL *ssl;         /* owns; owns both BIOs */
    BIO *to_client;   /* borrowed from ssl: the server's sends land here */
    BIO *to_server;   /* borrowed from ssl: the server's recvs read here */
    hz_tls_ctx *ctx;  /* owns */
    size_t room;      /* most unread bytes toward the client; 0 = unlimited */
    long sends;       /* raw send/writev calls that took bytes or said EAGAIN */
    long shutdowns;   /* raw shutdown calls (FIN) */
    size_t wire_bytes;
    int handshake_ok; /* -1 pending, 0 failed, 1 done */
    char *cert_pem, *key_pem;
} wire;

static wire *g_w;                   /* the raw transport's: one wire per test */
static hz__bufcache *g_bc;          /* the loop's cache the next wire shares, or NULL */
static const hz_allocator *g_alloc; /* the next wire's transport allocator (NULL: default) */

static long wire_recv(hz__sock *s, void *buf, size_t len)
{
    (void)s;
    int n = BIO_read(g_w->to_server, buf, (int)len);
    return n > 0 ? n : HZ_EAGAIN;
}

static long wire_send(hz__sock *s, const void *buf, size_t len)
{
    (void)s;
    g_w->sends++;
    size_t have = BIO_ctrl_pending(g_w->to_client);
    if (g_w->room) {
        if (have >= g_w->room)
            return HZ_EAGAIN;
        if (len > g_w->room - have)
            len = g_w->room - have;
    }
    cr_assert_eq(BIO_write(g_w->to_client, buf, (int)len), (int)len);
    g_w->wire_bytes += len;
    return (long)len;
}

static long wire_writev(hz__sock *s, const struct iovec *iov, int iovcnt)
{
    cr_assert_eq(iovcnt, 1, "the TLS transport sends one buffer");
    return wire_send(s, iov[0].iov_base, iov[0].iov_len);
}

static int wire_shutdown(hz__sock *s)
{
    (void)s;
    g_w->shutdowns++;
    return 0;
}

static void wire_close(hz__sock *s)
{
    s->fd = -1;
}

static const hz__transport_vt wire_tp = {
    .recv = wire_recv,
    .send = wire_send,
    .writev = wire_writev,
    .shutdown = wire_shutdown,
    .close = wire_close,
};

static char *bio_str(BIO *b)
{
    char *d;
    long n = BIO_get_mem_data(b, &d);
    char *s = malloc((size_t)n + 1);
    cr_assert(s);
    memcpy(s, d, (size_t)n);
    s[n] = '\0';
    return s;
}

static void make_cert(wire *w)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    cr_assert(key);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"r.test", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    cr_assert(X509_sign(x, key, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    w->cert_pem = bio_str(b);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    w->key_pem = bio_str(b);
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void on_handshake(hz__sock *s, int ok)
{
    (void)s;
    g_w->handshake_ok = ok == 1;
}

/* Opens the wire and runs both handshakes (client max_version: 0 = any). */
static void wire_open(wire *w, int max_version)
{
    memset(w, 0, sizeof(*w));
    g_w = w;
    w->handshake_ok = -1;
    make_cert(w);
    hz_tls_config cfg;
    hz_tls_config_init(&cfg);
    cfg.certs[0].cert_pem = w->cert_pem;
    cfg.certs[0].key_pem = w->key_pem;
    cfg.ncerts = 1;
    cr_assert_eq(hz_tls_default->ctx_create(&w->ctx, &cfg, &hz_allocator_default), 0);

    w->cctx = SSL_CTX_new(TLS_client_method());
    cr_assert(w->cctx);
    SSL_CTX_set_verify(w->cctx, SSL_VERIFY_NONE, NULL);
    if (max_version)
        SSL_CTX_set_max_proto_version(w->cctx, max_version);
    w->ssl = SSL_new(w->cctx);
    w->to_client = BIO_new(BIO_s_mem());
    w->to_server = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(w->to_client, -1);
    BIO_set_mem_eof_return(w->to_server, -1);
    SSL_set_bio(w->ssl, w->to_client, w->to_server);
    SSL_set_connect_state(w->ssl);

    w->sock.tp = &wire_tp;
    w->sock.ctx = NULL;
    w->sock.fd = -1;
    w->sock.want_write = 0;
    cr_assert_eq(hz__tls_sock_attach(&w->sock, g_alloc ? g_alloc : &hz_allocator_default, g_bc,
                                     hz_tls_default, w->ctx, 0, on_handshake),
                 0);
    int c_done = 0;
    for (int i = 0; i < 100 && !(c_done && w->handshake_ok == 1); i++) {
        char b[1];
        long n = w->sock.tp->recv(&w->sock, b, sizeof(b));
        cr_assert(n == HZ_EAGAIN, "server recv during the handshake: %ld", n);
        if (!c_done) {
            int r = SSL_do_handshake(w->ssl);
            if (r == 1)
                c_done = 1;
            else
                cr_assert_eq(SSL_get_error(w->ssl, r), SSL_ERROR_WANT_READ);
        }
    }
    cr_assert(c_done && w->handshake_ok == 1, "handshake");
    /* TLS 1.3 tickets and the like: read them now, count from here. */
    char b[1];
    cr_assert_eq(SSL_read(w->ssl, b, 1), -1);
    w->sends = 0;
    w->wire_bytes = 0;
}

static void wire_close_all(wire *w)
{
    w->sock.tp->close(&w->sock);
    SSL_free(w->ssl);
    SSL_CTX_free(w->cctx);
    hz_tls_default->ctx_destroy(w->ctx);
    free(w->cert_pem);
    free(w->key_pem);
    g_w = NULL;
}

/* The client reads up to max bytes (all it can: max = 0) into got at *rd. */
static void client_read(wire *w, char *got, size_t cap, size_t *rd, size_t max)
{
    size_t want = max ? max : cap;
    size_t took = 0;
    while (took < want && *rd < cap) {
        size_t k = want - took < cap - *rd ? want - took : cap - *rd;
        int r = SSL_read(w->ssl, got + *rd, (int)k);
        if (r <= 0) {
            cr_assert_eq(SSL_get_error(w->ssl, r), SSL_ERROR_WANT_READ);
            return;
        }
        *rd += (size_t)r;
        took += (size_t)r;
    }
}

static char *pattern(size_t len, unsigned seed)
{
    char *p = malloc(len);
    cr_assert(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (char)((i * 131 + seed) ^ (i >> 9));
    return p;
}

/* A payload sent to a reader that takes little at a time: the records the
 * wire does not take are held. */
typedef struct xfer { /* owner: the test */
    wire w;           /* room: the reader's window */
    char *data;       /* owns: len bytes of pattern(len, seed) */
    char *got;        /* owns: what the client read (len + 1 bytes) */
    size_t len;
    size_t off; /* bytes the transport reported sent */
    size_t rd;  /* bytes the client read */
} xfer;

static void xfer_open(xfer *x, size_t room, size_t len, unsigned seed)
{
    wire_open(&x->w, 0);
    x->w.room = room;
    x->len = len;
    x->data = pattern(len, seed);
    x->got = malloc(len + 1);
    cr_assert(x->got);
    x->off = x->rd = 0;
}

static void xfer_close(xfer *x)
{
    free(x->got);
    free(x->data);
    wire_close_all(&x->w); /* frees any held records (ASan/valgrind: no leak) */
}

/* Sends the rest of the payload once: a count moves off, anything else
 * must be HZ_EAGAIN. Returns what the send returned. */
static long xfer_send_rest(xfer *x)
{
    long n = x->w.sock.tp->send(&x->w.sock, x->data + x->off, x->len - x->off);
    if (n > 0)
        x->off += (size_t)n;
    else
        cr_assert_eq(n, HZ_EAGAIN, "send: %ld", n);
    return n;
}

/* The client reads up to max bytes of the payload (all it can: max = 0). */
static void xfer_read(xfer *x, size_t max)
{
    client_read(&x->w, x->got, x->len, &x->rd, max);
}

TestSuite(tls_records, .timeout = 120);

/* 64 KiB is four records: one send, as one buffer and as head + body. */
static void one_send_for(int max_version)
{
    wire w;
    wire_open(&w, max_version);
    size_t len = 64u * 1024;
    char *data = pattern(len, 1);
    long n = w.sock.tp->send(&w.sock, data, len);
    cr_assert_eq(n, (long)len, "send: %ld", n);
    cr_assert_eq(w.sends, 1, "%ld sends for %u records", w.sends, (unsigned)(len / REC));
    cr_assert_eq(hz__tls_sock_held(&w.sock), 0);
    char *got = malloc(len + 200);
    size_t rd = 0;
    client_read(&w, got, len, &rd, 0);
    cr_assert_eq(rd, len);
    cr_assert(memcmp(got, data, len) == 0);

    /* head + body, as HTTP/1.1 writes them */
    w.sends = 0;
    struct iovec iov[2] = {{got, 200}, {data, len - 200}};
    memset(got, 'h', 200);
    n = w.sock.tp->writev(&w.sock, iov, 2);
    cr_assert_eq(n, (long)len);
    cr_assert_eq(w.sends, 1, "%ld sends", w.sends);
    char *back = malloc(len);
    rd = 0;
    client_read(&w, back, len, &rd, 0);
    cr_assert_eq(rd, len);
    cr_assert(memcmp(back, got, 200) == 0 && memcmp(back + 200, data, len - 200) == 0);

    /* one record's worth: one record, one send, as before */
    w.sends = 0;
    cr_assert_eq(w.sock.tp->send(&w.sock, data, 100), 100);
    cr_assert_eq(w.sends, 1);
    rd = 0;
    client_read(&w, back, 100, &rd, 0);
    cr_assert(rd == 100 && memcmp(back, data, 100) == 0);
    free(back);
    free(got);
    free(data);
    wire_close_all(&w);
}

Test(tls_records, several_records_one_send_tls13)
{
    one_send_for(0);
}

Test(tls_records, several_records_one_send_tls12)
{
    one_send_for(TLS1_2_VERSION);
}

/* A 1 MiB response to a reader that takes little at a time: the transport
 * holds records, the owner retries with the same bytes (split differently
 * each time), every byte arrives in order, and what is held stays bounded. */
Test(tls_records, slow_reader_gets_every_byte)
{
    xfer x;
    xfer_open(&x, 20000, 1u << 20, 7);
    size_t held_seen = 0;
    long eagain = 0;
    for (int round = 0; x.rd < x.len; round++) {
        cr_assert(round < 100000, "no progress");
        if (x.off < x.len) {
            size_t left = x.len - x.off;
            size_t cut = left > 3 ? (size_t)round % (left < 300 ? left : 300) : 0;
            struct iovec iov[2] = {{x.data + x.off, cut}, {x.data + x.off + cut, left - cut}};
            long n = x.w.sock.tp->writev(&x.w.sock, iov, 2);
            if (n > 0) {
                cr_assert_leq((size_t)n, left);
                x.off += (size_t)n;
            } else {
                cr_assert_eq(n, HZ_EAGAIN, "writev: %ld", n);
                eagain++;
            }
            size_t h = hz__tls_sock_held(&x.w.sock);
            cr_assert_leq(h, hz__tls_sock_held_max());
            if (h > held_seen)
                held_seen = h;
        }
        xfer_read(&x, 7000);
    }
    cr_assert_eq(x.off, x.len);
    cr_assert(memcmp(x.got, x.data, x.len) == 0, "payload corrupted");
    cr_assert_gt(held_seen, REC, "the slow reader never made the transport hold records");
    cr_assert_gt(eagain, 0);
    cr_assert_eq(hz__tls_sock_held(&x.w.sock), 0);
    xfer_close(&x);
}

/* Write progress per record, as without gathering: a socket that takes
 * two and a half records' ciphertext reports two records written, and the
 * rest as it goes. */
Test(tls_records, progress_is_reported_per_record)
{
    xfer x;
    xfer_open(&x, 40000, 5 * REC, 13); /* room > 2 records' ciphertext, < 3 */
    long n = x.w.sock.tp->send(&x.w.sock, x.data, x.len);
    cr_assert_eq(n, 2 * REC, "send: %ld", n);
    cr_assert_eq(x.w.sends, 1);
    cr_assert_gt(hz__tls_sock_held(&x.w.sock), 0);
    x.off = (size_t)n;
    cr_assert_eq(x.w.sock.tp->send(&x.w.sock, x.data + x.off, x.len - x.off), HZ_EAGAIN);
    for (int round = 0; x.rd < x.len; round++) {
        cr_assert(round < 1000, "no progress");
        xfer_read(&x, 0);
        if (x.off < x.len) {
            n = xfer_send_rest(&x);
            if (n > 0)
                cr_assert_eq((size_t)n % REC, 0, "a record reported in part: %ld", n);
        }
    }
    cr_assert_eq(x.off, x.len);
    cr_assert(memcmp(x.got, x.data, x.len) == 0);
    xfer_close(&x);
}

/* A reader that stops: writes end in HZ_EAGAIN for good, and what the
 * transport took beyond the wire is at most its bound. */
Test(tls_records, stalled_reader_holds_a_bounded_tail)
{
    xfer x;
    xfer_open(&x, 50000, 4u << 20, 3);
    int eagain_in_a_row = 0;
    for (int i = 0; i < 10000 && eagain_in_a_row < 20; i++) {
        if (xfer_send_rest(&x) > 0)
            eagain_in_a_row = 0;
        else
            eagain_in_a_row++;
        cr_assert_leq(hz__tls_sock_held(&x.w.sock), hz__tls_sock_held_max());
    }
    cr_assert_eq(eagain_in_a_row, 20, "the stalled reader's writes never blocked");
    cr_assert_lt(x.off, x.w.room, "the owner was told more was sent than the wire took");
    cr_assert_gt(hz__tls_sock_held(&x.w.sock), 0);
    cr_assert_leq(x.w.wire_bytes, x.w.room);
    xfer_close(&x); /* with records still held */
}

/* A retry must start with the held records' plaintext: a shorter one is
 * refused, not sent past. Going idle keeps the held records. */
Test(tls_records, held_records_survive_idle_and_refuse_a_short_retry)
{
    xfer x;
    xfer_open(&x, 1000, 200000, 5);
    long n = x.w.sock.tp->send(&x.w.sock, x.data, x.len);
    cr_assert_eq(n, HZ_EAGAIN, "send: %ld", n);
    size_t held = hz__tls_sock_held(&x.w.sock);
    cr_assert_gt(held, 2 * REC);
    cr_assert_eq(x.w.sock.tp->send(&x.w.sock, x.data, 10), HZ_EINVAL);
    x.w.sock.tp->idle(&x.w.sock);
    cr_assert_eq(hz__tls_sock_held(&x.w.sock), held);
    for (int round = 0; x.rd < x.len; round++) {
        cr_assert(round < 100000, "no progress");
        if (x.off < x.len) {
            xfer_send_rest(&x);
            x.w.sock.tp->idle(&x.w.sock); /* between writes: must not drop records */
        }
        xfer_read(&x, 3000);
    }
    cr_assert(memcmp(x.got, x.data, x.len) == 0, "payload corrupted");
    xfer_close(&x);
}

/* The owner shuts down once everything is taken: all the bytes, then
 * close_notify, then the FIN. Shut down with records still held (an
 * owner that did not wait): close_notify queues behind them and the FIN
 * is not sent ahead of them. */
Test(tls_records, close_notify_after_held_records)
{
    xfer x;
    xfer_open(&x, 30000, 300000, 9);
    for (int round = 0; x.off < x.len; round++) {
        cr_assert(round < 100000, "no progress");
        xfer_send_rest(&x);
        if (x.off < x.len)
            xfer_read(&x, 5000);
    }
    cr_assert_eq(hz__tls_sock_held(&x.w.sock), 0);
    x.w.room = 0;
    cr_assert_eq(x.w.sock.tp->shutdown(&x.w.sock), 0);
    cr_assert_eq(x.w.shutdowns, 1);
    xfer_read(&x, 0);
    cr_assert_eq(x.rd, x.len);
    cr_assert(memcmp(x.got, x.data, x.len) == 0);
    char b[1];
    int r = SSL_read(x.w.ssl, b, 1);
    cr_assert_eq(r, 0);
    cr_assert_eq(SSL_get_error(x.w.ssl, r), SSL_ERROR_ZERO_RETURN, "no close_notify");
    xfer_close(&x);
}

Test(tls_records, shutdown_with_held_records_keeps_the_fin)
{
    xfer x;
    xfer_open(&x, 1000, 100000, 11);
    cr_assert_eq(x.w.sock.tp->send(&x.w.sock, x.data, x.len), HZ_EAGAIN);
    cr_assert_gt(hz__tls_sock_held(&x.w.sock), 0);
    cr_assert_eq(x.w.sock.tp->shutdown(&x.w.sock), 0);
    cr_assert_eq(x.w.shutdowns, 0, "FIN sent ahead of held records");
    xfer_close(&x);
}

/* The loop's spare gather buffer (core/common/buf.h): a write of several
 * records takes it and gives it back once they are all sent, so a loop's
 * connections encrypt into one buffer; a connection whose records are
 * held keeps it until they go; one that finds the spare taken gathers
 * into a buffer of its own and keeps that until it idles. */
Test(tls_records, gather_buffer_is_the_loops_spare)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    hz__bufcache bc;
    cr_assert_eq(hz__bufcache_init(&bc, &ca.iface, 0), 0);
    g_alloc = &ca.iface;
    g_bc = &bc;
    const size_t part = 64u * 1024;
    xfer x;
    xfer_open(&x, 0, part, 11);
    long base = atomic_load(&ca.allocs); /* the transport's own state */

    /* the first gather allocates the buffer, which goes to the loop */
    cr_assert_eq(xfer_send_rest(&x), (long)part);
    xfer_read(&x, 0);
    cr_assert_eq(x.w.sends, 1);
    char *spare = bc.gather;
    cr_assert(spare, "the buffer did not go back to the loop");
    cr_assert_eq(bc.gather_cap, hz__tls_sock_held_max());
    cr_assert_eq(atomic_load(&ca.allocs), base + 1);

    /* the next takes the same one and gives it back: no allocation */
    x.rd = 0;
    cr_assert_eq(x.w.sock.tp->send(&x.w.sock, x.data, part), (long)part);
    xfer_read(&x, 0);
    cr_assert_eq(bc.gather, spare);
    cr_assert_eq(atomic_load(&ca.allocs), base + 1);

    /* records held (a slow reader): the connection keeps it meanwhile */
    x.w.room = 20000;
    x.rd = 0;
    long n = x.w.sock.tp->send(&x.w.sock, x.data, part);
    cr_assert(n == HZ_EAGAIN || (n > 0 && n < (long)part), "send: %ld", n);
    x.off = n > 0 ? (size_t)n : 0;
    cr_assert_gt(hz__tls_sock_held(&x.w.sock), 0);
    cr_assert_null(bc.gather, "a buffer with held records was shared");
    /* another connection's spare fills the slot meanwhile */
    char *other = hz__alloc(&ca.iface, hz__tls_sock_held_max());
    cr_assert(other);
    bc.gather = other;
    bc.gather_cap = (uint32_t)hz__tls_sock_held_max();
    for (int round = 0; x.off < x.len; round++) {
        cr_assert(round < 100000, "no progress");
        xfer_read(&x, 5000);
        xfer_send_rest(&x);
    }
    xfer_read(&x, 0);
    cr_assert_eq(x.rd, part);
    cr_assert(memcmp(x.got, x.data, part) == 0);
    cr_assert_eq(hz__tls_sock_held(&x.w.sock), 0);
    cr_assert_eq(bc.gather, other, "the loop's spare was replaced");
    long frees = atomic_load(&ca.frees);
    x.w.sock.tp->idle(&x.w.sock); /* its own buffer goes now */
    cr_assert_eq(atomic_load(&ca.frees), frees + 1);

    xfer_close(&x);
    hz__bufcache_free(&bc);
    g_alloc = NULL;
    g_bc = NULL;
    cr_assert_eq(atomic_load(&ca.live_blocks), 0, "leaked %ld blocks",
                 atomic_load(&ca.live_blocks));
    cr_assert_eq(atomic_load(&ca.size_mismatches), 0);
}
