/* test_tls.c - the TLS contract (include/httpz/backend.h, hz_tls_vt) checked
 * against the backend compiled in (hz_tls_default: mbedTLS or OpenSSL).
 *
 * The server session comes from the backend under test; the client is
 * OpenSSL, driven directly by the test, so each backend meets a real,
 * independent peer. The two talk over in-memory pipes: the client's memory
 * BIOs on one side, an hz_tls_io shim that returns HZ_EAGAIN when a pipe is
 * empty (or over its cap) on the other. Certificates are generated at run
 * time with the OpenSSL API; no key material lives in the tree. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <httpz/backend.h>
#include "test_alloc.h"

#define VT (hz_tls_default)

/* ------------------------------------------------------------------------ */
/* Certificates                                                              */
/* ------------------------------------------------------------------------ */

typedef struct tcert { /* owner: the test */
    char *cert_pem;    /* owns (malloc): leaf [+ issuer] */
    char *key_pem;     /* owns (malloc) */
    EVP_PKEY *key;     /* owns */
    X509 *x509;        /* owns */
} tcert;

static char *bio_to_str(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    cr_assert(n > 0);
    char *s = malloc((size_t)n + 1);
    cr_assert(s);
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

/* A certificate for cn, signed by issuer (NULL: self-signed). */
static tcert make_cert(const char *cn, int rsa, const tcert *issuer)
{
    static long serial = 1;
    tcert c = {0};
    c.key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    cr_assert(c.key, "key generation failed");
    X509 *x = X509_new();
    cr_assert(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, c.key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->x509) : name);
    cr_assert(X509_sign(x, issuer ? issuer->key : c.key, EVP_sha256()) > 0);
    c.x509 = x;

    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    if (issuer)
        PEM_write_bio_X509(b, issuer->x509);
    c.cert_pem = bio_to_str(b);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, c.key, NULL, NULL, 0, NULL, NULL);
    c.key_pem = bio_to_str(b);
    BIO_free(b);
    return c;
}

static void free_cert(tcert *c)
{
    free(c->cert_pem);
    free(c->key_pem);
    EVP_PKEY_free(c->key);
    X509_free(c->x509);
    memset(c, 0, sizeof(*c));
}

/* A config with the given certificates (PEM in memory), defaults otherwise. */
static hz_tls_config config_of(const tcert *certs, const char *const *hosts, unsigned n)
{
    hz_tls_config cfg;
    hz_tls_config_init(&cfg);
    for (unsigned i = 0; i < n; i++) {
        cfg.certs[i].cert_pem = certs[i].cert_pem;
        cfg.certs[i].key_pem = certs[i].key_pem;
        cfg.certs[i].sni_host = hosts ? hosts[i] : NULL;
    }
    cfg.ncerts = n;
    return cfg;
}

/* ------------------------------------------------------------------------ */
/* The pipe and the OpenSSL client                                           */
/* ------------------------------------------------------------------------ */

typedef struct peer {  /* owner: the test */
    SSL_CTX *cctx;     /* owns */
    SSL *ssl;          /* owns; owns both BIOs */
    BIO *to_client;    /* borrowed from ssl: its rbio, the server writes here */
    BIO *to_server;    /* borrowed from ssl: its wbio, the server reads here */
    hz_tls_io io;      /* the server session's shim */
    hz_tls_session *s; /* owns */
    size_t cap;        /* max bytes queued toward the client; 0 = unlimited */
    int eof;           /* recv reports end of stream once to_server is empty */
    long fail;         /* when != 0, send and recv return it */
    long recv_calls;
    long send_calls;
    int alert; /* last alert the client received, -1 none */
} peer;

typedef struct copts {
    int max_version;  /* 0 = library maximum */
    const char *alpn; /* wire format, NULL = no ALPN extension */
    size_t alpn_len;
    const char *sni; /* NULL = no SNI */
    const char *ciphers;
} copts;

static long pipe_recv(void *ctx, void *buf, size_t len)
{
    peer *p = ctx;
    p->recv_calls++;
    if (p->fail)
        return p->fail;
    size_t avail = BIO_ctrl_pending(p->to_server);
    if (avail == 0)
        return p->eof ? 0 : HZ_EAGAIN;
    if (len > avail)
        len = avail;
    int n = BIO_read(p->to_server, buf, (int)len);
    cr_assert(n > 0);
    return n;
}

static long pipe_send(void *ctx, const void *buf, size_t len)
{
    peer *p = ctx;
    p->send_calls++;
    if (p->fail)
        return p->fail;
    if (p->cap) {
        size_t queued = BIO_ctrl_pending(p->to_client);
        if (queued >= p->cap)
            return HZ_EAGAIN;
        if (len > p->cap - queued)
            len = p->cap - queued;
    }
    int n = BIO_write(p->to_client, buf, (int)len);
    cr_assert(n == (int)len);
    return n;
}

static void info_cb(const SSL *ssl, int where, int ret)
{
    if (where & SSL_CB_READ_ALERT) {
        peer *p = SSL_get_app_data(ssl);
        p->alert = ret & 0xff;
    }
}

/* A client and a server session of ctx over a fresh pipe. */
static void peer_open(peer *p, hz_tls_ctx *ctx, const copts *o)
{
    static const copts none = {0};
    if (!o)
        o = &none;
    memset(p, 0, sizeof(*p));
    p->alert = -1;
    p->cctx = SSL_CTX_new(TLS_client_method());
    cr_assert(p->cctx);
    SSL_CTX_set_verify(p->cctx, SSL_VERIFY_NONE, NULL);
    if (o->max_version)
        SSL_CTX_set_max_proto_version(p->cctx, o->max_version);
    if (o->ciphers)
        cr_assert(SSL_CTX_set_cipher_list(p->cctx, o->ciphers) == 1);
    p->ssl = SSL_new(p->cctx);
    cr_assert(p->ssl);
    SSL_set_app_data(p->ssl, p);
    SSL_set_info_callback(p->ssl, info_cb);
    p->to_client = BIO_new(BIO_s_mem());
    p->to_server = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(p->to_client, -1); /* empty = retry, not EOF */
    SSL_set_bio(p->ssl, p->to_client, p->to_server);
    SSL_set_connect_state(p->ssl);
    if (o->sni)
        SSL_set_tlsext_host_name(p->ssl, o->sni);
    if (o->alpn)
        cr_assert(SSL_set_alpn_protos(p->ssl, (const unsigned char *)o->alpn,
                                      (unsigned)o->alpn_len) == 0);
    p->io.send = pipe_send;
    p->io.recv = pipe_recv;
    p->io.io_ctx = p;
    if (ctx)
        cr_assert_eq(VT->session_create(ctx, &p->io, &p->s), 0);
}

static void peer_close(peer *p)
{
    VT->session_destroy(p->s);
    SSL_free(p->ssl);
    SSL_CTX_free(p->cctx);
    p->s = NULL;
    p->ssl = NULL;
    p->cctx = NULL;
}

static int is_want(long rc)
{
    return rc == HZ_TLS_WANT_READ || rc == HZ_TLS_WANT_WRITE;
}

/* Runs both handshakes until both are done or one side fails. Returns the
 * server's result (0 or < 0); *client_ok tells whether the client finished. */
static int handshake(peer *p, int *client_ok)
{
    int s_done = 0, c_done = 0, c_failed = 0, s_rc = HZ_TLS_WANT_READ;
    for (int i = 0; i < 200 && !(s_done && c_done); i++) {
        if (!s_done) {
            s_rc = VT->handshake(p->s);
            if (s_rc == 0)
                s_done = 1;
            else if (!is_want(s_rc))
                break;
        }
        if (!c_done && !c_failed) {
            int r = SSL_do_handshake(p->ssl);
            if (r == 1) {
                c_done = 1;
            } else {
                int e = SSL_get_error(p->ssl, r);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                    c_failed = 1;
            }
        }
        if (c_failed && !s_done && BIO_ctrl_pending(p->to_server) == 0 && i > 2) {
            /* The client gave up; let the server see what it sent, then stop. */
            s_rc = VT->handshake(p->s);
            break;
        }
    }
    if (s_rc < 0 && !is_want(s_rc) && !c_done && !c_failed)
        (void)SSL_do_handshake(p->ssl); /* let the client read the alert */
    if (client_ok)
        *client_ok = c_done;
    ERR_clear_error();
    return s_rc;
}

static void handshake_ok(peer *p)
{
    int cok = 0;
    int rc = handshake(p, &cok);
    cr_assert_eq(rc, 0, "server handshake: %d (%s)", rc, hz_strerror(rc));
    cr_assert(cok, "client handshake did not finish");
}

/* The handshake fails: HZ_ETLS on the server, the client never finishes
 * (what: named in the messages). */
static void handshake_refused(peer *p, const char *what)
{
    int cok = 1;
    int rc = handshake(p, &cok);
    cr_assert_eq(rc, HZ_ETLS, "%s: server %d", what, rc);
    cr_assert(!cok, "%s: the client must not complete", what);
}

/* The subject CN of the certificate the client received. */
static void peer_cn(peer *p, char *buf, int len)
{
    X509 *x = SSL_get1_peer_certificate(p->ssl);
    cr_assert(x);
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, len);
    X509_free(x);
    cr_assert(n > 0);
}

/* Server -> client: writes all of buf, draining the client on WANT_WRITE, and
 * checks the client reads it back intact. */
static void server_to_client(peer *p, const unsigned char *buf, size_t len)
{
    unsigned char *got = malloc(len);
    cr_assert(got);
    size_t off = 0, rd = 0;
    int rounds = 0;
    while (rd < len) {
        cr_assert(++rounds < 100000, "no progress");
        if (off < len) {
            long n = VT->write(p->s, buf + off, len - off);
            if (n > 0)
                off += (size_t)n;
            else
                cr_assert(n == HZ_TLS_WANT_WRITE, "write: %ld", n);
        }
        int r = SSL_read(p->ssl, got + rd, (int)(len - rd));
        if (r > 0)
            rd += (size_t)r;
        else
            cr_assert_eq(SSL_get_error(p->ssl, r), SSL_ERROR_WANT_READ);
    }
    cr_assert(memcmp(got, buf, len) == 0, "payload corrupted");
    free(got);
}

/* Client -> server: the client writes everything, the server reads it in
 * pieces of at most chunk bytes. */
static void client_to_server(peer *p, const unsigned char *buf, size_t len, size_t chunk)
{
    size_t wr = 0;
    while (wr < len) {
        int r = SSL_write(p->ssl, buf + wr, (int)(len - wr));
        cr_assert(r > 0);
        wr += (size_t)r;
    }
    unsigned char *got = malloc(len);
    cr_assert(got);
    size_t rd = 0;
    int rounds = 0;
    while (rd < len) {
        cr_assert(++rounds < 100000, "no progress");
        size_t want = len - rd < chunk ? len - rd : chunk;
        long n = VT->read(p->s, got + rd, want);
        cr_assert(n > 0, "read: %ld", n);
        rd += (size_t)n;
    }
    cr_assert(memcmp(got, buf, len) == 0, "payload corrupted");
    free(got);
}

static unsigned char *pattern(size_t len)
{
    unsigned char *b = malloc(len);
    cr_assert(b);
    for (size_t i = 0; i < len; i++)
        b[i] = (unsigned char)(i * 31 + (i >> 8));
    return b;
}

/* What a test changes in the context's config before ctx_create (arg: the
 * test's, from spec.arg). */
typedef void cfg_hook(hz_tls_config *cfg, const void *arg);

/* What differs between the tests' context/session pairs. */
typedef struct spec { /* owner: the test */
    const char *cn;   /* borrowed: the fresh certificate's CN */
    int rsa;          /* RSA 2048 instead of ECDSA P-256 */
    int chain;        /* signed by a fresh root ("root.test"), sent along */
    const tcert *use; /* borrowed: this certificate instead of a fresh one */
    cfg_hook *hook;   /* edits the config (NULL: the defaults) */
    const void *arg;  /* borrowed: hook's */
    copts client;     /* tls_pair_open's client */
} spec;

/* One certificate, a context, the counting allocator. */
typedef struct fixture { /* owner: the test */
    hz_count_alloc ca;
    tcert cert;      /* the context's (empty with spec.use) */
    tcert root;      /* its issuer with spec.chain */
    hz_tls_ctx *ctx; /* owns */
} fixture;

static void fixture_with(fixture *f, const spec *s)
{
    hz_count_alloc_init(&f->ca);
    memset(&f->cert, 0, sizeof(f->cert));
    memset(&f->root, 0, sizeof(f->root));
    if (s->chain)
        f->root = make_cert("root.test", 0, NULL);
    if (!s->use)
        f->cert = make_cert(s->cn, s->rsa, s->chain ? &f->root : NULL);
    hz_tls_config cfg = config_of(s->use ? s->use : &f->cert, NULL, 1);
    if (s->hook)
        s->hook(&cfg, s->arg);
    int rc = VT->ctx_create(&f->ctx, &cfg, &f->ca.iface);
    cr_assert_eq(rc, 0, "ctx_create: %d (%s)", rc, hz_strerror(rc));
}

static void fixture_open(fixture *f, const char *cn)
{
    fixture_with(f, &(spec){.cn = cn});
}

static void fixture_close(fixture *f)
{
    VT->ctx_destroy(f->ctx);
    if (f->cert.x509)
        free_cert(&f->cert);
    if (f->root.x509)
        free_cert(&f->root);
    cr_assert_eq(atomic_load(&f->ca.live_blocks), 0, "hz allocations leaked");
    cr_assert_eq(atomic_load(&f->ca.size_mismatches), 0);
}

/* A context as s says and a session of it with s->client over a fresh
 * pipe, not yet shaken hands. */
static void tls_pair_open(fixture *f, peer *p, const spec *s)
{
    fixture_with(f, s);
    peer_open(p, f->ctx, &s->client);
}

/* tls_pair_open, then both handshakes, which must succeed. */
static void tls_pair_up(fixture *f, peer *p, const spec *s)
{
    tls_pair_open(f, p, s);
    handshake_ok(p);
}

static void tls_pair_close(fixture *f, peer *p)
{
    peer_close(p);
    fixture_close(f);
}

/* ctx_create(cfg) fails with want, leaving no context and nothing allocated. */
static void expect_create(const hz_tls_config *cfg, int want)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    hz_tls_ctx *ctx = (hz_tls_ctx *)&ca;
    int rc = VT->ctx_create(&ctx, cfg, &ca.iface);
    cr_assert_eq(rc, want, "ctx_create: %d (%s), want %d", rc, hz_err_name(rc), want);
    cr_assert_null(ctx);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0);
}

static void set_alpn(hz_tls_config *cfg, const void *arg)
{
    cfg->alpn = arg;
}

static void set_ciphers(hz_tls_config *cfg, const void *arg)
{
    cfg->ciphers = arg;
}

static void set_min_version(hz_tls_config *cfg, const void *arg)
{
    cfg->min_version = *(const unsigned *)arg;
}

static void set_key_pem(hz_tls_config *cfg, const void *arg)
{
    cfg->certs[0].key_pem = arg;
}

/* arg: the certificate and key files (const char *[2]) instead of PEM. */
static void from_files(hz_tls_config *cfg, const void *arg)
{
    const char *const *files = arg;
    cfg->certs[0] = (hz_tls_cert){.cert_file = files[0], .key_file = files[1]};
}

static const char ALPN_H11[] = "\x08http/1.1";
static const char ALPN_H2_H11[] = "\x02h2\x08http/1.1";
static const char ALPN_H2[] = "\x02h2";

/* ------------------------------------------------------------------------ */
/* Vtable shape                                                              */
/* ------------------------------------------------------------------------ */

Test(tls, vtable_is_complete)
{
    cr_assert_eq(VT->abi, HZ_BACKEND_ABI);
    cr_assert_str_eq(VT->name, HZ_TLS_NAME);
    cr_assert(VT->ctx_create && VT->ctx_reload && VT->ctx_destroy && VT->session_create);
    cr_assert(VT->handshake && VT->read && VT->write && VT->pending && VT->shutdown);
    cr_assert(VT->session_destroy);
    cr_assert(!(VT->caps & HZ_TLS_CAP_ALPN) || VT->alpn_selected);
    cr_assert(VT->caps & HZ_TLS_CAP_ALPN);
    cr_assert(VT->caps & HZ_TLS_CAP_SNI);
    cr_assert(VT->caps & HZ_TLS_CAP_RELOAD);
    VT->ctx_destroy(NULL);
    VT->session_destroy(NULL);
}

Test(tls, config_defaults)
{
    hz_tls_config cfg;
    memset(&cfg, 0xA5, sizeof(cfg));
    hz_tls_config_init(&cfg);
    cr_assert_eq(cfg.ncerts, 0);
    cr_assert_eq(cfg.min_version, HZ_TLS_V1_2);
    cr_assert_null(cfg.ciphers);
    cr_assert_str_eq(cfg.alpn, "http/1.1");
    for (unsigned i = 0; i < HZ_TLS_MAX_CERTS; i++)
        cr_assert(!cfg.certs[i].cert_file && !cfg.certs[i].cert_pem && !cfg.certs[i].key_file &&
                  !cfg.certs[i].key_pem && !cfg.certs[i].sni_host);
}

/* ------------------------------------------------------------------------ */
/* Handshake and data                                                        */
/* ------------------------------------------------------------------------ */

Test(tls, handshake_tls12)
{
    fixture f;
    peer p;
    tls_pair_up(&f, &p, &(spec){.cn = "v12.test", .client = {.max_version = TLS1_2_VERSION}});
    cr_assert_eq(SSL_version(p.ssl), TLS1_2_VERSION);
    if (VT->version)
        cr_assert_eq(VT->version(p.s), HZ_TLS_V1_2);
    /* ECDHE + AEAD only. */
    const SSL_CIPHER *c = SSL_get_current_cipher(p.ssl);
    const char *name = SSL_CIPHER_get_name(c);
    cr_assert(strncmp(name, "ECDHE-", 6) == 0, "cipher %s", name);
    cr_assert(strstr(name, "GCM") || strstr(name, "CHACHA20"), "cipher %s", name);
    tls_pair_close(&f, &p);
}

Test(tls, handshake_default_version)
{
    fixture f;
    peer p;
    tls_pair_open(&f, &p, &(spec){.cn = "v13.test"});
    cr_assert_eq(VT->pending(p.s), 0);
    if (VT->version)
        cr_assert_eq(VT->version(p.s), 0, "no version before the handshake");
    handshake_ok(&p);
    int want = (VT->caps & HZ_TLS_CAP_TLS13) ? TLS1_3_VERSION : TLS1_2_VERSION;
    cr_assert_eq(SSL_version(p.ssl), want);
    if (VT->version)
        cr_assert_eq(VT->version(p.s), (unsigned)want);
    char cn[64];
    peer_cn(&p, cn, sizeof(cn));
    cr_assert_str_eq(cn, "v13.test");
    tls_pair_close(&f, &p);
}

Test(tls, handshake_rsa_certificate, .timeout = 60)
{
    fixture f;
    fixture_with(&f, &(spec){.cn = "rsa.test", .rsa = 1});
    for (int v = 0; v < 2; v++) {
        peer p;
        copts o = {.max_version = v ? TLS1_2_VERSION : 0};
        peer_open(&p, f.ctx, &o);
        handshake_ok(&p);
        char cn[64];
        peer_cn(&p, cn, sizeof(cn));
        cr_assert_str_eq(cn, "rsa.test");
        if (v)
            cr_assert(
                strncmp(SSL_CIPHER_get_name(SSL_get_current_cipher(p.ssl)), "ECDHE-RSA-", 10) == 0);
        peer_close(&p);
    }
    fixture_close(&f);
}

Test(tls, sends_the_whole_chain)
{
    fixture f;
    peer p;
    tls_pair_up(&f, &p, &(spec){.cn = "leaf.test", .chain = 1});
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(p.ssl);
    cr_assert(chain);
    cr_assert_eq(sk_X509_num(chain), 2, "leaf and intermediate");
    char cn[64];
    peer_cn(&p, cn, sizeof(cn));
    cr_assert_str_eq(cn, "leaf.test");
    tls_pair_close(&f, &p);
}

Test(tls, data_both_ways_small)
{
    fixture f;
    peer p;
    tls_pair_up(&f, &p, &(spec){.cn = "data.test"});
    server_to_client(&p, (const unsigned char *)"hello from server", 17);
    client_to_server(&p, (const unsigned char *)"hello from client", 17, 4096);
    /* Nothing more to read: WANT_READ, and nothing held. */
    char buf[16];
    cr_assert_eq(VT->read(p.s, buf, sizeof(buf)), HZ_TLS_WANT_READ);
    cr_assert_eq(VT->pending(p.s), 0);
    tls_pair_close(&f, &p);
}

Test(tls, data_large_with_backpressure)
{
    fixture f;
    peer p;
    tls_pair_up(&f, &p, &(spec){.cn = "large.test"});
    /* 1 MiB through a pipe that holds 5000 bytes: many records, and many
     * WANT_WRITE retries with the same buffer. */
    p.cap = 5000;
    size_t len = 1u << 20;
    unsigned char *buf = pattern(len);
    server_to_client(&p, buf, len);
    p.cap = 0;
    client_to_server(&p, buf, len, 7000);
    free(buf);
    tls_pair_close(&f, &p);
}

/* A write that hit WANT_WRITE is retried with a buffer that has grown
 * (the core appended a pipelined response): the count returned must be what
 * was really sent, and the stream must arrive whole and in order. */
Test(tls, retry_with_grown_buffer)
{
    fixture f;
    peer p;
    tls_pair_up(&f, &p, &(spec){.cn = "retry.test"});
    unsigned char *buf = pattern(40000);
    p.fail = HZ_EAGAIN; /* transport full */
    long n = VT->write(p.s, buf, 100);
    cr_assert_eq(n, HZ_TLS_WANT_WRITE, "write: %ld", n);
    p.fail = 0;
    size_t off = 0, len = 40000; /* the same bytes first, then more */
    for (int i = 0; i < 100 && off < len; i++) {
        n = VT->write(p.s, buf + off, len - off);
        cr_assert(n > 0, "write: %ld", n);
        off += (size_t)n;
    }
    cr_assert_eq(off, len);
    unsigned char *got = malloc(len);
    size_t rd = 0;
    for (int i = 0; i < 1000 && rd < len; i++) {
        int r = SSL_read(p.ssl, got + rd, (int)(len - rd));
        cr_assert(r > 0, "client read: %d", r);
        rd += (size_t)r;
    }
    cr_assert_eq(rd, len);
    cr_assert(memcmp(got, buf, len) == 0, "stream corrupted");
    free(got);
    free(buf);
    tls_pair_close(&f, &p);
}

Test(tls, pending_after_partial_read)
{
    fixture f;
    peer p;
    tls_pair_up(&f, &p, &(spec){.cn = "pending.test"});
    /* One full 16 KiB record from the client. */
    size_t len = 16384;
    unsigned char *buf = pattern(len);
    cr_assert_eq(SSL_write(p.ssl, buf, (int)len), (int)len);
    unsigned char got[16384];
    long n = VT->read(p.s, got, 100);
    cr_assert_eq(n, 100);
    size_t held = VT->pending(p.s);
    cr_assert_eq(held, len - 100, "pending %zu", held);
    /* The held bytes come out without touching the transport. */
    long calls = p.recv_calls;
    p.fail = HZ_EIO; /* any transport access would now fail */
    n = VT->read(p.s, got + 100, held);
    cr_assert_eq(n, (long)held);
    cr_assert_eq(p.recv_calls, calls, "read went to the transport");
    cr_assert_eq(VT->pending(p.s), 0);
    cr_assert(memcmp(got, buf, len) == 0);
    free(buf);
    tls_pair_close(&f, &p);
}

/* The optional idle slot drops what the library can take again, keeps
 * what holds data, and the session goes on: after an exchange, with
 * unread plaintext held, with half a record received, and with a record
 * waiting for a writable transport. */
Test(tls, idle_keeps_held_data)
{
    if (!VT->idle)
        cr_skip_test("%s has no idle slot", VT->name);
    fixture f;
    peer p;
    tls_pair_up(&f, &p, &(spec){.cn = "idle.test"});
    VT->idle(p.s);
    server_to_client(&p, (const unsigned char *)"after idle", 10);
    client_to_server(&p, (const unsigned char *)"client after idle", 17, 4096);
    VT->idle(p.s);
    VT->idle(p.s); /* twice: nothing left to drop */
    size_t len = 16384;
    unsigned char *buf = pattern(len);
    unsigned char got[16384];
    /* Unread plaintext held by the library. */
    cr_assert_eq(SSL_write(p.ssl, buf, (int)len), (int)len);
    cr_assert_eq(VT->read(p.s, got, 100), 100);
    VT->idle(p.s);
    cr_assert_eq(VT->pending(p.s), len - 100);
    cr_assert_eq(VT->read(p.s, got + 100, len - 100), (long)(len - 100));
    cr_assert(memcmp(got, buf, len) == 0, "held plaintext lost");
    /* Half a record received: the library must keep it. */
    cr_assert_eq(SSL_write(p.ssl, buf, 3000), 3000);
    size_t wire = BIO_ctrl_pending(p.to_server);
    unsigned char *raw = malloc(wire);
    cr_assert(raw);
    cr_assert_eq(BIO_read(p.to_server, raw, (int)wire), (int)wire);
    cr_assert_eq(BIO_write(p.to_server, raw, (int)(wire / 2)), (int)(wire / 2));
    cr_assert_eq(VT->read(p.s, got, sizeof(got)), HZ_TLS_WANT_READ);
    VT->idle(p.s);
    cr_assert_eq(BIO_write(p.to_server, raw + wire / 2, (int)(wire - wire / 2)),
                 (int)(wire - wire / 2));
    cr_assert_eq(VT->read(p.s, got, sizeof(got)), 3000);
    cr_assert(memcmp(got, buf, 3000) == 0, "half-received record lost");
    free(raw);
    /* A record waiting for the transport: retried with the same bytes. */
    p.fail = HZ_EAGAIN;
    cr_assert_eq(VT->write(p.s, buf, 5000), HZ_TLS_WANT_WRITE);
    VT->idle(p.s);
    p.fail = 0;
    long n = VT->write(p.s, buf, 5000);
    cr_assert_eq(n, 5000, "write: %ld", n);
    int r = SSL_read(p.ssl, got, 5000);
    cr_assert_eq(r, 5000, "client read: %d", r);
    cr_assert(memcmp(got, buf, 5000) == 0, "pending record lost");
    /* And bulk data both ways once more. */
    VT->idle(p.s);
    unsigned char *big = pattern(1u << 18);
    server_to_client(&p, big, 1u << 18);
    client_to_server(&p, big, 1u << 18, 7000);
    free(big);
    free(buf);
    tls_pair_close(&f, &p);
}

/* ------------------------------------------------------------------------ */
/* ALPN                                                                      */
/* ------------------------------------------------------------------------ */

Test(tls, alpn_selects_http11)
{
    fixture f;
    fixture_open(&f, "alpn.test");
    const char *lists[] = {ALPN_H11, ALPN_H2_H11};
    size_t lens[] = {sizeof(ALPN_H11) - 1, sizeof(ALPN_H2_H11) - 1};
    for (int i = 0; i < 2; i++) {
        peer p;
        copts o = {.alpn = lists[i], .alpn_len = lens[i]};
        peer_open(&p, f.ctx, &o);
        handshake_ok(&p);
        cr_assert_str_eq(VT->alpn_selected(p.s), "http/1.1");
        const unsigned char *sel;
        unsigned sel_len;
        SSL_get0_alpn_selected(p.ssl, &sel, &sel_len);
        cr_assert_eq(sel_len, 8);
        cr_assert(memcmp(sel, "http/1.1", 8) == 0);
        peer_close(&p);
    }
    fixture_close(&f);
}

Test(tls, alpn_mismatch_is_refused)
{
    fixture f;
    peer p;
    tls_pair_open(
        &f, &p,
        &(spec){.cn = "alpn.test", .client = {.alpn = ALPN_H2, .alpn_len = sizeof(ALPN_H2) - 1}});
    handshake_refused(&p, "h2-only client");
    cr_assert_eq(p.alert, 120, "no_application_protocol alert (RFC 7301 3.2), got %d", p.alert);
    /* Failure is final. */
    cr_assert(VT->handshake(p.s) < 0);
    char buf[8];
    cr_assert(VT->read(p.s, buf, sizeof(buf)) < 0);
    cr_assert_eq(VT->shutdown(p.s), 0, "shutdown after failure is a no-op");
    tls_pair_close(&f, &p);
}

Test(tls, no_alpn_client_is_accepted)
{
    fixture f;
    peer p;
    tls_pair_up(&f, &p, &(spec){.cn = "alpn.test"});
    cr_assert_null(VT->alpn_selected(p.s));
    tls_pair_close(&f, &p);
}

Test(tls, alpn_server_preference_and_off)
{
    static const char offer[] = "\x08http/1.1\x06x-test";
    fixture f;
    peer p;
    /* Our order wins over the client's. */
    tls_pair_up(&f, &p,
                &(spec){.cn = "alpn2.test",
                        .hook = set_alpn,
                        .arg = "x-test,http/1.1",
                        .client = {.alpn = offer, .alpn_len = sizeof(offer) - 1}});
    cr_assert_str_eq(VT->alpn_selected(p.s), "x-test");
    tls_pair_close(&f, &p);
    /* "" turns ALPN off: any offer is ignored, nothing is selected. */
    tls_pair_up(&f, &p,
                &(spec){.cn = "alpn2.test",
                        .hook = set_alpn,
                        .arg = "",
                        .client = {.alpn = ALPN_H2, .alpn_len = sizeof(ALPN_H2) - 1}});
    cr_assert_null(VT->alpn_selected(p.s));
    tls_pair_close(&f, &p);
}

/* RFC 7301 §3.1: a protocol name is 1 to 255 bytes. */
Test(tls, alpn_name_length_limit)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    tcert c = make_cert("alpn3.test", 0, NULL);
    hz_tls_config cfg = config_of(&c, NULL, 1);
    char name[300];
    memset(name, 'a', sizeof(name));
    name[255] = '\0';
    cfg.alpn = name; /* 255 bytes: accepted */
    hz_tls_ctx *ctx = NULL;
    cr_assert_eq(VT->ctx_create(&ctx, &cfg, &ca.iface), 0);
    VT->ctx_destroy(ctx);
    name[255] = 'a';
    name[256] = '\0';
    cr_assert_eq(VT->ctx_create(&ctx, &cfg, &ca.iface), HZ_EINVAL, "256 bytes");
    cr_assert_null(ctx);
    free_cert(&c);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0);
}

/* ------------------------------------------------------------------------ */
/* SNI                                                                       */
/* ------------------------------------------------------------------------ */

Test(tls, sni_selects_certificate)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    tcert certs[3] = {make_cert("default.test", 0, NULL), make_cert("a.test", 0, NULL),
                      make_cert("wild.b.test", 0, NULL)};
    const char *hosts[3] = {NULL, "a.test", "*.b.test"};
    hz_tls_config cfg = config_of(certs, hosts, 3);
    hz_tls_ctx *ctx;
    cr_assert_eq(VT->ctx_create(&ctx, &cfg, &ca.iface), 0);
    struct {
        const char *sni;
        const char *cn;
        int v12;
    } cases[] = {
        {"a.test", "a.test", 0},
        {"A.Test", "a.test", 0},
        {"a.test", "a.test", 1},
        {"x.b.test", "wild.b.test", 0},
        {"x.y.b.test", "default.test", 0},
        {"b.test", "default.test", 0},
        {"unknown.test", "default.test", 0},
        {NULL, "default.test", 0},
        {"unknown.test", "default.test", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        peer p;
        copts o = {.sni = cases[i].sni, .max_version = cases[i].v12 ? TLS1_2_VERSION : 0};
        peer_open(&p, ctx, &o);
        handshake_ok(&p);
        char cn[64];
        peer_cn(&p, cn, sizeof(cn));
        cr_assert_str_eq(cn, cases[i].cn, "sni %s", cases[i].sni ? cases[i].sni : "(none)");
        if (VT->server_name) {
            const char *sn = VT->server_name(p.s);
            if (cases[i].sni)
                cr_assert(sn && strcmp(sn, cases[i].sni) == 0);
            else
                cr_assert_null(sn);
        }
        peer_close(&p);
    }
    VT->ctx_destroy(ctx);
    for (int i = 0; i < 3; i++)
        free_cert(&certs[i]);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0);
}

/* ------------------------------------------------------------------------ */
/* Reload                                                                    */
/* ------------------------------------------------------------------------ */

Test(tls, reload_swaps_certificate_live)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    tcert oldc = make_cert("old.test", 0, NULL), newc = make_cert("new.test", 0, NULL);
    hz_tls_config cfg = config_of(&oldc, NULL, 1);
    hz_tls_ctx *ctx;
    cr_assert_eq(VT->ctx_create(&ctx, &cfg, &ca.iface), 0);

    peer before;
    peer_open(&before, ctx, NULL);
    handshake_ok(&before);
    peer mid; /* created before the reload, handshakes after it */
    peer_open(&mid, ctx, NULL);

    hz_tls_config cfg2 = config_of(&newc, NULL, 1);
    cr_assert_eq(VT->ctx_reload(ctx, &cfg2), 0);

    peer after;
    peer_open(&after, ctx, NULL);
    handshake_ok(&after);
    char cn[64];
    peer_cn(&after, cn, sizeof(cn));
    cr_assert_str_eq(cn, "new.test");
    handshake_ok(&mid);
    peer_cn(&mid, cn, sizeof(cn));
    cr_assert_str_eq(cn, "old.test", "a session keeps the config it was created with");

    /* A failed reload keeps the current certificate. */
    hz_tls_config bad = cfg2;
    bad.certs[0].cert_pem = "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n";
    cr_assert_eq(VT->ctx_reload(ctx, &bad), HZ_ETLS);
    peer after2;
    peer_open(&after2, ctx, NULL);
    handshake_ok(&after2);
    peer_cn(&after2, cn, sizeof(cn));
    cr_assert_str_eq(cn, "new.test");
    peer_close(&after2);

    /* The context goes away; the live sessions keep working. */
    VT->ctx_destroy(ctx);
    server_to_client(&before, (const unsigned char *)"still here", 10);
    client_to_server(&before, (const unsigned char *)"me too", 6, 64);
    server_to_client(&after, (const unsigned char *)"new one", 7);
    peer_close(&before);
    peer_close(&mid);
    peer_close(&after);
    free_cert(&oldc);
    free_cert(&newc);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0, "everything freed with the last session");
}

/* ------------------------------------------------------------------------ */
/* Session tickets                                                           */
/* ------------------------------------------------------------------------ */

/* A full session at version ver, offering sess (NULL: none); data flows
 * server -> client so a TLS 1.3 NewSessionTicket is read. Returns the
 * client's session (owned by the caller) and whether it was resumed. */
static SSL_SESSION *ticket_session(hz_tls_ctx *ctx, int ver, SSL_SESSION *sess, int *reused)
{
    peer p;
    copts o = {.max_version = ver};
    peer_open(&p, ctx, &o);
    SSL_set_min_proto_version(p.ssl, ver);
    if (sess)
        cr_assert_eq(SSL_set_session(p.ssl, sess), 1);
    handshake_ok(&p);
    server_to_client(&p, (const unsigned char *)"after the handshake", 19);
    *reused = SSL_session_reused(p.ssl);
    SSL_SESSION *out = SSL_get1_session(p.ssl);
    cr_assert(out);
    /* An SSL freed without a shutdown marks its session not resumable. */
    SSL_set_shutdown(p.ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    peer_close(&p);
    return out;
}

Test(tls, session_tickets_resume_until_a_reload)
{
    if (!(VT->caps & HZ_TLS_CAP_TICKETS))
        cr_skip_test("no HZ_TLS_CAP_TICKETS");
    fixture f;
    fixture_open(&f, "ticket.test");
    hz_tls_config cfg = config_of(&f.cert, NULL, 1);
    int vers[] = {TLS1_2_VERSION, TLS1_3_VERSION};
    for (unsigned i = 0; i < ((VT->caps & HZ_TLS_CAP_TLS13) ? 2u : 1u); i++) {
        int v = vers[i], reused;
        SSL_SESSION *s1 = ticket_session(f.ctx, v, NULL, &reused);
        cr_assert_not(reused);
        cr_assert(SSL_SESSION_has_ticket(s1), "version %x: a ticket was issued", v);
        SSL_SESSION *s2 = ticket_session(f.ctx, v, s1, &reused);
        cr_assert(reused, "version %x: the ticket resumes", v);
        SSL_SESSION_free(s2);
        /* A reload starts new keys: the old ticket gets a full handshake. */
        cr_assert_eq(VT->ctx_reload(f.ctx, &cfg), 0);
        SSL_SESSION *s3 = ticket_session(f.ctx, v, s1, &reused);
        cr_assert_not(reused, "version %x: old ticket after a reload", v);
        SSL_SESSION *s4 = ticket_session(f.ctx, v, s3, &reused);
        cr_assert(reused, "version %x: the new ticket resumes", v);
        SSL_SESSION_free(s4);
        /* Tickets off: none issued, none accepted. */
        cfg.no_tickets = 1;
        cr_assert_eq(VT->ctx_reload(f.ctx, &cfg), 0);
        SSL_SESSION *s5 = ticket_session(f.ctx, v, s3, &reused);
        cr_assert_not(reused, "version %x: tickets off", v);
        cr_assert_not(SSL_SESSION_has_ticket(s5), "version %x: tickets off", v);
        cfg.no_tickets = 0;
        cr_assert_eq(VT->ctx_reload(f.ctx, &cfg), 0);
        SSL_SESSION_free(s5);
        SSL_SESSION_free(s3);
        SSL_SESSION_free(s1);
    }
    fixture_close(&f);
}

typedef struct reloader { /* owner: the test */
    hz_tls_ctx *ctx;      /* borrowed */
    hz_tls_config cfg[2];
    int rounds;
    int failures;
} reloader;

static void *reload_thread(void *arg)
{
    reloader *r = arg;
    for (int i = 0; i < r->rounds; i++)
        if (VT->ctx_reload(r->ctx, &r->cfg[i & 1]) != 0)
            r->failures++;
    return NULL;
}

/* Reload from another thread while sessions are created and used: every
 * handshake gets one of the two certificates whole (TSan checks the rest). */
Test(tls, reload_concurrent_with_sessions, .timeout = 120)
{
    fixture f;
    fixture_open(&f, "a.test");
    tcert b = make_cert("b.test", 0, NULL);
    reloader r = {.ctx = f.ctx, .rounds = 40};
    r.cfg[0] = config_of(&b, NULL, 1);
    r.cfg[1] = config_of(&f.cert, NULL, 1);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, reload_thread, &r), 0);
    for (int i = 0; i < 40; i++) {
        peer p;
        peer_open(&p, f.ctx, NULL);
        handshake_ok(&p);
        char cn[64];
        peer_cn(&p, cn, sizeof(cn));
        cr_assert(strcmp(cn, "a.test") == 0 || strcmp(cn, "b.test") == 0, "cn %s", cn);
        server_to_client(&p, (const unsigned char *)"x", 1);
        peer_close(&p);
    }
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(r.failures, 0);
    fixture_close(&f);
    free_cert(&b);
}

/* ------------------------------------------------------------------------ */
/* Versions and ciphers                                                      */
/* ------------------------------------------------------------------------ */

Test(tls, min_version_13_refuses_12_client)
{
    static const unsigned v13 = HZ_TLS_V1_3;
    if (!(VT->caps & HZ_TLS_CAP_TLS13)) {
        /* TLS 1.3 minimum without TLS 1.3: HZ_ENOTSUP, no context. */
        tcert c = make_cert("v13only.test", 0, NULL);
        hz_tls_config cfg = config_of(&c, NULL, 1);
        set_min_version(&cfg, &v13);
        expect_create(&cfg, HZ_ENOTSUP);
        free_cert(&c);
        return;
    }
    fixture f;
    peer p;
    tls_pair_open(&f, &p,
                  &(spec){.cn = "v13only.test",
                          .hook = set_min_version,
                          .arg = &v13,
                          .client = {.max_version = TLS1_2_VERSION}});
    handshake_refused(&p, "TLS 1.2 client");
    cr_assert_eq(p.alert, 70, "protocol_version alert, got %d", p.alert);
    peer_close(&p);
    peer_open(&p, f.ctx, NULL);
    handshake_ok(&p);
    cr_assert_eq(SSL_version(p.ssl), TLS1_3_VERSION);
    tls_pair_close(&f, &p);
}

/* The default TLS 1.2 list has no static-RSA key exchange, no CBC, no SHA-1. */
Test(tls, weak_ciphers_are_refused, .timeout = 60)
{
    const char *weak[] = {
        ("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA256:"
         "ECDHE-RSA-AES128-SHA"),              /* CBC */
        "AES128-GCM-SHA256:AES256-GCM-SHA384", /* RSA key exchange */
        "DHE-RSA-AES128-GCM-SHA256",           /* finite-field DHE */
    };
    for (int k = 0; k < 2; k++) {
        fixture f;
        fixture_with(&f, &(spec){.cn = k ? "rsa.test" : "ec.test", .rsa = k});
        for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++) {
            peer p;
            copts o = {.max_version = TLS1_2_VERSION, .ciphers = weak[i]};
            peer_open(&p, f.ctx, &o);
            char what[160];
            snprintf(what, sizeof(what), "%s with %s", weak[i], k ? "RSA" : "ECDSA");
            handshake_refused(&p, what);
            peer_close(&p);
        }
        fixture_close(&f);
    }
}

Test(tls, custom_cipher_list)
{
    /* The one name both backends spell differently. */
    const char *name = strcmp(VT->name, "mbedtls") == 0 ? "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384"
                                                        : "ECDHE-ECDSA-AES256-GCM-SHA384";
    fixture f;
    peer p;
    tls_pair_up(&f, &p,
                &(spec){.cn = "ciphers.test",
                        .hook = set_ciphers,
                        .arg = name,
                        .client = {.max_version = TLS1_2_VERSION}});
    cr_assert_str_eq(SSL_CIPHER_get_name(SSL_get_current_cipher(p.ssl)),
                     "ECDHE-ECDSA-AES256-GCM-SHA384");
    hz_tls_config bad = config_of(&f.cert, NULL, 1);
    set_ciphers(&bad, "NOT-A-CIPHER");
    expect_create(&bad, HZ_EINVAL);
    tls_pair_close(&f, &p);
}

/* ------------------------------------------------------------------------ */
/* Broken peers                                                              */
/* ------------------------------------------------------------------------ */

static const char GARBAGE[] = "\x17\x03\x03\x00\x20 this is not a valid TLS record!!";

Test(tls, garbage_instead_of_client_hello)
{
    fixture f;
    fixture_open(&f, "garbage.test");
    const char *inputs[] = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", GARBAGE,
                            "\x16\x03\x01\xff\xff\x01"}; /* oversized record */
    size_t lens[] = {strlen(inputs[0]), sizeof(GARBAGE) - 1, 6};
    for (int i = 0; i < 3; i++) {
        peer p;
        peer_open(&p, f.ctx, NULL);
        BIO_write(p.to_server, inputs[i], (int)lens[i]);
        int rc = HZ_TLS_WANT_READ;
        for (int k = 0; k < 5 && is_want(rc); k++)
            rc = VT->handshake(p.s);
        if (i == 2 && rc == HZ_TLS_WANT_READ) {
            p.eof = 1; /* a backend may wait for the rest of the record */
            rc = VT->handshake(p.s);
        }
        cr_assert(rc < 0 && !is_want(rc), "input %d: %d", i, rc);
        peer_close(&p);
    }
    fixture_close(&f);
}

Test(tls, garbage_record_after_handshake)
{
    fixture f;
    peer p;
    tls_pair_up(&f, &p, &(spec){.cn = "garbage.test"});
    BIO_write(p.to_server, GARBAGE, (int)sizeof(GARBAGE) - 1);
    char buf[256];
    long n = VT->read(p.s, buf, sizeof(buf));
    cr_assert(n < 0 && !is_want(n), "read: %ld", n);
    cr_assert_eq(VT->pending(p.s), 0);
    cr_assert(VT->write(p.s, "x", 1) < 0, "no writes after a fatal error");
    tls_pair_close(&f, &p);
}

Test(tls, client_closes_mid_handshake)
{
    fixture f;
    peer p;
    tls_pair_open(&f, &p, &(spec){.cn = "midway.test"});
    cr_assert_eq(SSL_do_handshake(p.ssl), -1); /* ClientHello out, waits */
    int rc = VT->handshake(p.s);
    cr_assert(is_want(rc), "after ClientHello: %d", rc);
    cr_assert(BIO_ctrl_pending(p.to_client) > 0, "server flight written");
    p.eof = 1;
    rc = VT->handshake(p.s);
    cr_assert_eq(rc, HZ_ECLOSED, "handshake: %d (%s)", rc, hz_strerror(rc));
    cr_assert(VT->handshake(p.s) < 0, "failure is final");
    tls_pair_close(&f, &p);
}

Test(tls, transport_error_is_passed_through)
{
    fixture f;
    peer p;
    tls_pair_open(&f, &p, &(spec){.cn = "ioerr.test"});
    cr_assert_eq(SSL_do_handshake(p.ssl), -1);
    p.fail = HZ_EIO;
    int rc = VT->handshake(p.s);
    cr_assert_eq(rc, HZ_EIO, "handshake: %d", rc);
    tls_pair_close(&f, &p);
}

Test(tls, close_notify_reads_zero)
{
    fixture f;
    peer p;
    tls_pair_up(&f, &p, &(spec){.cn = "close.test"});
    client_to_server(&p, (const unsigned char *)"last words", 10, 64);
    cr_assert(SSL_shutdown(p.ssl) >= 0);
    char buf[64];
    cr_assert_eq(VT->read(p.s, buf, sizeof(buf)), 0);
    /* And the server's own close_notify reaches the client. */
    cr_assert_eq(VT->shutdown(p.s), 0);
    int r = SSL_read(p.ssl, buf, sizeof(buf));
    cr_assert_eq(r, 0);
    cr_assert_eq(SSL_get_error(p.ssl, r), SSL_ERROR_ZERO_RETURN);
    tls_pair_close(&f, &p);
}

Test(tls, shutdown_waits_for_a_writable_transport)
{
    fixture f;
    peer p;
    tls_pair_up(&f, &p, &(spec){.cn = "close.test"});
    p.fail = HZ_EAGAIN; /* transport full */
    cr_assert_eq(VT->shutdown(p.s), HZ_TLS_WANT_WRITE);
    p.fail = 0;
    int rc = HZ_TLS_WANT_WRITE;
    for (int i = 0; i < 3 && rc == HZ_TLS_WANT_WRITE; i++)
        rc = VT->shutdown(p.s);
    cr_assert_eq(rc, 0);
    char buf[8];
    int r = SSL_read(p.ssl, buf, sizeof(buf));
    cr_assert_eq(SSL_get_error(p.ssl, r), SSL_ERROR_ZERO_RETURN);
    tls_pair_close(&f, &p);
}

Test(tls, transport_eof_reads_zero)
{
    fixture f;
    peer p;
    tls_pair_up(&f, &p, &(spec){.cn = "eof.test"});
    p.eof = 1;
    char buf[64];
    cr_assert_eq(VT->read(p.s, buf, sizeof(buf)), 0);
    tls_pair_close(&f, &p);
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

Test(tls, bad_pem_is_etls)
{
    tcert c = make_cert("pem.test", 0, NULL), other = make_cert("other.test", 0, NULL);
    hz_tls_config cfg = config_of(&c, NULL, 1);
    cfg.certs[0].cert_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    expect_create(&cfg, HZ_ETLS);
    cfg.certs[0].cert_pem = "not pem at all";
    expect_create(&cfg, HZ_ETLS);
    cfg = config_of(&c, NULL, 1);
    cfg.certs[0].key_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    expect_create(&cfg, HZ_ETLS);
    cfg.certs[0].key_pem = other.key_pem; /* a key that is not the certificate's */
    expect_create(&cfg, HZ_ETLS);
    cfg.certs[0].key_pem = c.cert_pem; /* a certificate where the key belongs */
    expect_create(&cfg, HZ_ETLS);
    /* A bad second certificate fails the whole context too. */
    tcert two[2] = {c, other};
    const char *hosts[2] = {NULL, "other.test"};
    cfg = config_of(two, hosts, 2);
    cfg.certs[1].key_pem = c.key_pem;
    expect_create(&cfg, HZ_ETLS);
    free_cert(&c);
    free_cert(&other);
}

static char *key_pem_of(EVP_PKEY *key, int traditional, const char *password)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (traditional)
        cr_assert(PEM_write_bio_PrivateKey_traditional(b, key, NULL, NULL, 0, NULL, NULL));
    else
        cr_assert(PEM_write_bio_PrivateKey(b, key, password ? EVP_aes_128_cbc() : NULL,
                                           (unsigned char *)password,
                                           password ? (int)strlen(password) : 0, NULL, NULL));
    char *s = bio_to_str(b);
    BIO_free(b);
    return s;
}

/* SEC1 and PKCS#1 keys load like PKCS#8; an encrypted key is refused. */
Test(tls, key_formats, .timeout = 60)
{
    tcert certs[2] = {make_cert("sec1.test", 0, NULL), make_cert("pkcs1.test", 1, NULL)};
    const char *begin[2] = {"-----BEGIN EC PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----"};
    for (int i = 0; i < 2; i++) {
        char *trad = key_pem_of(certs[i].key, 1, NULL);
        cr_assert(strncmp(trad, begin[i], strlen(begin[i])) == 0, "%.40s", trad);
        fixture f;
        peer p;
        tls_pair_up(&f, &p, &(spec){.use = &certs[i], .hook = set_key_pem, .arg = trad});
        tls_pair_close(&f, &p);
        free(trad);

        char *enc = key_pem_of(certs[i].key, 0, "secret");
        cr_assert(strstr(enc, "ENCRYPTED"));
        hz_tls_config cfg = config_of(&certs[i], NULL, 1);
        set_key_pem(&cfg, enc);
        expect_create(&cfg, HZ_ETLS);
        free(enc);
    }
    free_cert(&certs[0]);
    free_cert(&certs[1]);
}

Test(tls, invalid_config_is_einval)
{
    tcert c = make_cert("cfg.test", 0, NULL);
    hz_tls_config cfg = config_of(&c, NULL, 1);
    cfg.ncerts = 0;
    expect_create(&cfg, HZ_EINVAL);
    cfg.ncerts = HZ_TLS_MAX_CERTS + 1;
    expect_create(&cfg, HZ_EINVAL);
    expect_create(NULL, HZ_EINVAL);
    cfg = config_of(&c, NULL, 1);
    cfg.certs[0].cert_file = "/nonexistent"; /* both a file and PEM */
    expect_create(&cfg, HZ_EINVAL);
    cfg = config_of(&c, NULL, 1);
    cfg.certs[0].key_pem = NULL; /* no key */
    expect_create(&cfg, HZ_EINVAL);
    cfg = config_of(&c, NULL, 1);
    cfg.min_version = 0x0301; /* TLS 1.0 */
    expect_create(&cfg, HZ_EINVAL);
    cfg = config_of(&c, NULL, 1);
    cfg.alpn = "http/1.1,,h2";
    expect_create(&cfg, HZ_EINVAL);
    cr_assert_eq(VT->ctx_create(NULL, &cfg, NULL), HZ_EINVAL);
    cfg = config_of(&c, NULL, 1);
    hz_tls_ctx *ctx;
    cr_assert_eq(VT->ctx_create(&ctx, &cfg, NULL), 0, "NULL allocator = default");
    hz_tls_session *s = (hz_tls_session *)&cfg;
    cr_assert_eq(VT->session_create(ctx, NULL, &s), HZ_EINVAL);
    cr_assert_null(s);
    cr_assert_eq(VT->ctx_reload(ctx, NULL), HZ_EINVAL);
    VT->ctx_destroy(ctx);
    free_cert(&c);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    cr_assert(fputs(text, f) >= 0);
    cr_assert(fclose(f) == 0);
}

Test(tls, certificates_from_files)
{
    char dir[] = "/tmp/hz-tls-XXXXXX";
    cr_assert(mkdtemp(dir));
    char crt[64], key[64], bad[64];
    snprintf(crt, sizeof(crt), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(bad, sizeof(bad), "%s/bad.pem", dir);
    tcert c = make_cert("file.test", 0, NULL);
    write_file(crt, c.cert_pem);
    write_file(key, c.key_pem);
    write_file(bad, "garbage\n");

    const char *files[2] = {crt, key};
    fixture f;
    peer p;
    tls_pair_up(&f, &p, &(spec){.use = &c, .hook = from_files, .arg = files});
    char cn[64];
    peer_cn(&p, cn, sizeof(cn));
    cr_assert_str_eq(cn, "file.test");
    tls_pair_close(&f, &p);

    hz_tls_config cfg = config_of(&c, NULL, 1);
    from_files(&cfg, files);
    cfg.certs[0].key_file = bad;
    expect_create(&cfg, HZ_ETLS);
    cfg.certs[0].key_file = key;
    cfg.certs[0].cert_file = bad;
    expect_create(&cfg, HZ_ETLS);
    char missing[80];
    snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
    cfg.certs[0].cert_file = missing;
    expect_create(&cfg, HZ_ETLS);

    unlink(crt);
    unlink(key);
    unlink(bad);
    rmdir(dir);
    free_cert(&c);
}

/* ------------------------------------------------------------------------ */
/* Allocation failures                                                       */
/* ------------------------------------------------------------------------ */

Test(tls, ctx_create_under_failing_allocator, .timeout = 120)
{
    tcert certs[2] = {make_cert("fa.test", 0, NULL), make_cert("fb.test", 0, NULL)};
    const char *hosts[2] = {NULL, "fb.test"};
    hz_tls_config cfg = config_of(certs, hosts, 2);
    cfg.alpn = "h2,http/1.1";
    int ok = 0;
    for (long n = 1; n < 200 && !ok; n++) {
        for (int sticky = 0; sticky < 2; sticky++) {
            hz_count_alloc ca;
            hz_fail_alloc_init(&ca, n, sticky);
            hz_tls_ctx *ctx = (hz_tls_ctx *)&ca;
            int rc = VT->ctx_create(&ctx, &cfg, &ca.iface);
            if (rc == 0) {
                cr_assert_eq(atomic_load(&ca.failures), 0, "succeeded despite a failure");
                VT->ctx_destroy(ctx);
                ok = 1;
            } else {
                cr_assert_eq(rc, HZ_ENOMEM, "n=%ld: %d", n, rc);
                cr_assert_null(ctx);
            }
            cr_assert_eq(atomic_load(&ca.live_blocks), 0, "n=%ld leaked", n);
            cr_assert_eq(atomic_load(&ca.size_mismatches), 0);
        }
    }
    cr_assert(ok, "never succeeded");
    free_cert(&certs[0]);
    free_cert(&certs[1]);
}

Test(tls, session_and_reload_under_failing_allocator, .timeout = 120)
{
    fixture f;
    fixture_open(&f, "fs.test");
    tcert other = make_cert("fs2.test", 0, NULL);
    hz_tls_config cfg2 = config_of(&other, NULL, 1);
    int ok = 0;
    for (long n = 1; n < 100 && !ok; n++) {
        long base = atomic_load(&f.ca.calls);
        atomic_store(&f.ca.fail_at, base + n);
        peer p;
        peer_open(&p, NULL, NULL);
        hz_tls_session *s = (hz_tls_session *)&p;
        int rc = VT->session_create(f.ctx, &p.io, &s);
        int rrc = VT->ctx_reload(f.ctx, &cfg2);
        atomic_store(&f.ca.fail_at, 0);
        if (rc == 0) {
            p.s = s;
            handshake_ok(&p);
            ok = rrc == 0;
        } else {
            cr_assert_eq(rc, HZ_ENOMEM, "n=%ld: %d", n, rc);
            cr_assert_null(s);
        }
        cr_assert(rrc == 0 || rrc == HZ_ENOMEM, "reload: %d", rrc);
        peer_close(&p);
    }
    cr_assert(ok);
    /* The context still works after all that. */
    peer p;
    peer_open(&p, f.ctx, NULL);
    handshake_ok(&p);
    peer_close(&p);
    free_cert(&other);
    fixture_close(&f);
}
