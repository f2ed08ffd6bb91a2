/* tls_openssl.c - the TLS vtable over OpenSSL 3.
 *
 * The library never touches a socket: each session's SSL reads and writes
 * through a custom BIO_METHOD whose callbacks call the hz_tls_io shim
 * (HZ_EAGAIN becomes a BIO retry).
 *
 * Configuration lives in a reference-counted snapshot (hz_tls_snap, from
 * <httpz/backend.h>, with an osl_snap as its backend data: an SSL_CTX and
 * the certificates): the context's hz_tls_store holds the current one, every
 * session holds the one it was created with. ctx_reload() builds a new
 * snapshot off to the side and swaps it in, so sessions created afterwards
 * use the new certificates while older sessions keep theirs until they end.
 * The config check, the SNI choice and the ALPN list and choice come from
 * the same helpers.
 *
 * SNI: certs[0] is loaded into the SSL_CTX; the certificate callback (run
 * before the cipher is chosen, for TLS 1.2 and 1.3) switches a session to
 * the certificate whose sni_host matches the client's server_name.
 *
 * Memory: hz structures (context, snapshot, session, copied strings) come
 * from the hz_allocator. OpenSSL's own allocations use its global
 * CRYPTO_malloc: CRYPTO_set_mem_functions() is process-wide and must be
 * called before any other OpenSSL use, which a library cannot promise.
 */
#include <stdatomic.h>
#include <string.h>
#include <httpz/httpz.h>
#include <httpz/backend.h>

#include <openssl/opensslv.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "httpz: the OpenSSL backend needs OpenSSL >= 3.0"
#endif

/* ECDHE + AEAD only for TLS 1.2 (no RSA key exchange, no CBC, no SHA-1 MAC);
 * TLS 1.3 keeps OpenSSL's default suites, which are all AEAD. */
#define OSL_DEFAULT_CIPHERS                                                                        \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define OSL_GROUPS "X25519:P-256:P-384"
#define OSL_CAPS                                                                                   \
    (HZ_TLS_CAP_TLS13 | HZ_TLS_CAP_ALPN | HZ_TLS_CAP_SNI | HZ_TLS_CAP_RELOAD | HZ_TLS_CAP_TICKETS)

/* ------------------------------------------------------------------------ */
/* Types                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct osl_cert {   /* owner: its osl_snap */
    X509 *x509;             /* owns: the leaf */
    EVP_PKEY *key;          /* owns */
    STACK_OF(X509) * chain; /* owns: intermediates after the leaf (may be empty) */
} osl_cert;

typedef struct osl_snap { /* owner: its hz_tls_snap (the snapshot's backend data) */
    hz_tls_ctx *ctx;      /* borrowed: every holder of a snap also holds the ctx */
    SSL_CTX *ssl_ctx;     /* owns one reference (each SSL holds its own) */
    osl_cert *certs;      /* owns: ncerts entries; certs[0] is the default */
    unsigned ncerts;
} osl_snap;

struct hz_tls_ctx {       /* owner: the listener; freed when refs reach 0 */
    hz_allocator alloc;   /* copied; its ctx outlives this context */
    atomic_uint refs;     /* 1 for the owner until ctx_destroy + one per session */
    hz_tls_store *store;  /* owns: the current snapshot, swapped by ctx_reload */
    BIO_METHOD *bio_meth; /* owns: the shim BIO, used by every session's SSL */
};

struct hz_tls_session {       /* owner: the conn */
    SSL *ssl;                 /* owns (and through it the shim BIO) */
    hz_tls_ctx *ctx;          /* owns one reference */
    hz_tls_snap *snap;        /* owns one reference: callbacks read it */
    const hz_tls_io *io;      /* borrowed: outlives the session */
    int io_err;               /* first hard error the shim returned, or 0 */
    unsigned eof : 1;         /* the shim reported end of stream */
    unsigned failed : 1;      /* a fatal error happened: no more I/O, no close_notify */
    unsigned done : 1;        /* handshake completed */
    unsigned notify_sent : 1; /* close_notify written */
};

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* Empties this thread's error queue (OpenSSL reads it to classify the next
 * failure) and says whether an allocation failure was in it. */
static int osl_drain_errors(void)
{
    int oom = 0;
    unsigned long e;
    while ((e = ERR_get_error()) != 0)
        if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
            oom = 1;
    return oom;
}

/* Before a call whose failure SSL_get_error classifies: it reads the
 * queue's first entry (ERR_peek_error), so an empty queue needs nothing.
 * ERR_clear_error resets all 16 slots of it, ~400 instructions, and ran
 * before every record (2,300 instructions of a 64 KiB HTTP/2 response). */
static void osl_clear_errors(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

static int osl_err(void)
{
    return osl_drain_errors() ? HZ_ENOMEM : HZ_ETLS;
}

/* ------------------------------------------------------------------------ */
/* The I/O shim as a BIO                                                     */
/* ------------------------------------------------------------------------ */

static int osl_bio_write(BIO *b, const char *buf, size_t len, size_t *written)
{
    hz_tls_session *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    long n = s->io->send(s->io->io_ctx, buf, len);
    if (n > 0) {
        *written = (size_t)n;
        return 1;
    }
    if (n == HZ_EAGAIN)
        BIO_set_retry_write(b);
    else if (!s->io_err)
        s->io_err = n < 0 ? (int)n : HZ_EIO;
    return 0;
}

static int osl_bio_read(BIO *b, char *buf, size_t len, size_t *readbytes)
{
    hz_tls_session *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    long n = s->io->recv(s->io->io_ctx, buf, len);
    if (n > 0) {
        *readbytes = (size_t)n;
        return 1;
    }
    if (n == 0)
        s->eof = 1; /* reported through BIO_CTRL_EOF */
    else if (n == HZ_EAGAIN)
        BIO_set_retry_read(b);
    else if (!s->io_err)
        s->io_err = (int)n;
    return 0;
}

static long osl_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    hz_tls_session *s = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: /* the shim has no buffer of its own */
        return 1;
    case BIO_CTRL_EOF:
        return s && s->eof;
    default:
        return 0;
    }
}

static int osl_bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int osl_bio_destroy(BIO *b)
{
    BIO_set_data(b, NULL);
    return 1;
}

/* ------------------------------------------------------------------------ */
/* SNI and ALPN                                                              */
/* ------------------------------------------------------------------------ */

static int osl_cert_cb(SSL *ssl, void *arg)
{
    hz_tls_snap *snap = arg;
    const osl_snap *o = hz_tls_snap_data(snap);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return 1;
    unsigned i = hz_tls_snap_sni_pick(snap, name, strlen(name));
    if (i == 0 || i >= o->ncerts)
        return 1; /* the default certificate is already in place */
    const osl_cert *c = &o->certs[i];
    return SSL_use_cert_and_key(ssl, c->x509, c->key, c->chain, 1) == 1;
}

/* Our preference order; a client that offers only other protocols gets the
 * no_application_protocol alert (RFC 7301 §3.2). Clients without ALPN never
 * reach this callback and are accepted. */
static int osl_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    /* OpenSSL copies the choice into the session; ours outlives the call. */
    const char *name = hz_tls_snap_alpn_select(arg, in, inlen);
    if (!name)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = (const unsigned char *)name;
    *outlen = (unsigned char)strlen(name); /* 1..255: hz_tls_config_check */
    return SSL_TLSEXT_ERR_OK;
}

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                 */
/* ------------------------------------------------------------------------ */

/* The snapshot's fini: also runs on one that snap_create left half-built. */
static void snap_fini(hz_tls_snap *s, void *data)
{
    (void)s;
    osl_snap *snap = data;
    if (!snap->ctx)
        return; /* nothing was built */
    const hz_allocator *a = &snap->ctx->alloc;
    SSL_CTX_free(snap->ssl_ctx);
    if (snap->certs) {
        for (unsigned i = 0; i < snap->ncerts; i++) {
            X509_free(snap->certs[i].x509);
            EVP_PKEY_free(snap->certs[i].key);
            sk_X509_pop_free(snap->certs[i].chain, X509_free);
        }
        hz_alloc_free(a, snap->certs, snap->ncerts * sizeof(*snap->certs));
    }
}

/* Never prompts on a terminal for an encrypted key: it just fails. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static BIO *open_source(const char *pem, const char *file)
{
    return pem ? BIO_new_mem_buf(pem, -1) : BIO_new_file(file, "r");
}

static int load_cert(osl_cert *c, const hz_tls_cert *in)
{
    unsigned long e;
    BIO *b = open_source(in->cert_pem, in->cert_file);
    if (!b)
        return osl_err(); /* unreadable file: HZ_ETLS */
    c->x509 = PEM_read_bio_X509_AUX(b, NULL, no_password, NULL);
    c->chain = sk_X509_new_null();
    if (!c->x509 || !c->chain)
        goto fail;
    for (;;) {
        X509 *ca = PEM_read_bio_X509(b, NULL, no_password, NULL);
        if (!ca)
            break;
        if (!sk_X509_push(c->chain, ca)) {
            X509_free(ca);
            goto fail;
        }
    }
    /* The loop ends on "no more PEM blocks", which is fine; anything else
     * is a broken certificate in the chain. */
    e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
        goto fail;
    ERR_clear_error();
    BIO_free(b);

    b = open_source(in->key_pem, in->key_file);
    if (!b)
        return osl_err();
    c->key = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
    if (!c->key || X509_check_private_key(c->x509, c->key) != 1)
        goto fail;
    BIO_free(b);
    return 0;
fail:
    BIO_free(b);
    return osl_err();
}

/* Builds a complete snapshot from cfg; on failure nothing is left behind. */
static int snap_create(hz_tls_ctx *ctx, const hz_tls_config *cfg, hz_tls_snap **out)
{
    hz_tls_snap *hs;
    int rc = hz_tls_snap_create(&hs, cfg, OSL_CAPS, sizeof(osl_snap), snap_fini, &ctx->alloc);
    *out = NULL;
    if (rc < 0)
        return rc;
    osl_snap *snap = hz_tls_snap_data(hs);
    snap->ctx = ctx;
    snap->certs = hz_alloc_zero(&ctx->alloc, cfg->ncerts * sizeof(*snap->certs));
    if (!snap->certs) {
        rc = HZ_ENOMEM;
        goto fail;
    }
    snap->ncerts = cfg->ncerts;
    for (unsigned i = 0; i < cfg->ncerts; i++) {
        osl_cert *c = &snap->certs[i];
        if ((rc = load_cert(c, &cfg->certs[i])) < 0)
            goto fail;
    }

    SSL_CTX *sc = SSL_CTX_new(TLS_server_method());
    if (!sc) {
        rc = osl_err();
        goto fail;
    }
    snap->ssl_ctx = sc;
    if (!SSL_CTX_set_min_proto_version(sc, cfg->min_version == HZ_TLS_V1_3 ? TLS1_3_VERSION
                                                                           : TLS1_2_VERSION)) {
        rc = osl_err();
        goto fail;
    }
    /* Renegotiation off; a transport EOF without close_notify reads as an
     * end of stream (as with mbedTLS; HTTP framing catches truncation). */
    SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Partial writes let the core account per record. The record buffers
     * are released by osl_idle when the connection idles, not with
     * SSL_MODE_RELEASE_BUFFERS: that mode frees and retakes them around
     * every record, and a bulk transfer's malloc/free of ~17 KiB blocks
     * made glibc trim and regrow the heap (a brk pair per record). */
    SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Resumption uses stateless tickets only: no server-side cache growing
     * with the number of clients. The ticket keys are the SSL_CTX's own, so
     * a reload (a new SSL_CTX) starts new keys; the timeout bounds a
     * ticket's age from the full handshake, as with mbedTLS. */
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
    if (cfg->no_tickets) {
        SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(sc, 0);
    } else {
        SSL_CTX_set_timeout(sc, cfg->ticket_lifetime ? cfg->ticket_lifetime
                                                     : HZ_TLS_TICKET_LIFETIME_DEFAULT);
    }
    if (SSL_CTX_set_cipher_list(sc, cfg->ciphers ? cfg->ciphers : OSL_DEFAULT_CIPHERS) != 1) {
        osl_drain_errors();
        rc = HZ_EINVAL; /* no usable cipher in the list */
        goto fail;
    }
    if (SSL_CTX_set1_groups_list(sc, OSL_GROUPS) != 1) {
        rc = osl_err();
        goto fail;
    }
    const osl_cert *c0 = &snap->certs[0];
    if (SSL_CTX_use_cert_and_key(sc, c0->x509, c0->key, c0->chain, 1) != 1) {
        rc = osl_err();
        goto fail;
    }
    SSL_CTX_set_cert_cb(sc, osl_cert_cb, hs);
    if (hz_tls_snap_alpn(hs))
        SSL_CTX_set_alpn_select_cb(sc, osl_alpn_cb, hs);
    *out = hs;
    return 0;
fail:
    hz_tls_snap_release(hs);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Context                                                                   */
/* ------------------------------------------------------------------------ */

static void ctx_release(hz_tls_ctx *ctx)
{
    if (atomic_fetch_sub(&ctx->refs, 1) != 1)
        return;
    hz_tls_store_destroy(ctx->store);
    BIO_meth_free(ctx->bio_meth);
    hz_allocator a = ctx->alloc;
    hz_alloc_free(&a, ctx, sizeof(*ctx));
}

static int osl_ctx_create(hz_tls_ctx **out, const hz_tls_config *cfg, const hz_allocator *a)
{
    if (!out)
        return HZ_EINVAL;
    *out = NULL;
    if (!a)
        a = &hz_allocator_default;
    int rc = hz_allocator_check(a);
    if (rc < 0)
        return rc;
    if ((rc = hz_tls_config_check(cfg, OSL_CAPS)) < 0)
        return rc;
    hz_tls_ctx *ctx = hz_alloc_zero(a, sizeof(*ctx));
    if (!ctx)
        return HZ_ENOMEM;
    ctx->alloc = *a;
    atomic_init(&ctx->refs, 1);
    ERR_clear_error();
    int type = BIO_get_new_index();
    ctx->bio_meth = type > 0 ? BIO_meth_new(type | BIO_TYPE_SOURCE_SINK, "httpz-io") : NULL;
    if (!ctx->bio_meth || !BIO_meth_set_write_ex(ctx->bio_meth, osl_bio_write) ||
        !BIO_meth_set_read_ex(ctx->bio_meth, osl_bio_read) ||
        !BIO_meth_set_ctrl(ctx->bio_meth, osl_bio_ctrl) ||
        !BIO_meth_set_create(ctx->bio_meth, osl_bio_create) ||
        !BIO_meth_set_destroy(ctx->bio_meth, osl_bio_destroy)) {
        rc = osl_drain_errors() || ctx->bio_meth == NULL ? HZ_ENOMEM : HZ_ETLS;
        goto fail;
    }
    hz_tls_snap *snap;
    if ((rc = snap_create(ctx, cfg, &snap)) < 0)
        goto fail;
    if ((rc = hz_tls_store_create(&ctx->store, snap, &ctx->alloc)) < 0) {
        hz_tls_snap_release(snap);
        goto fail;
    }
    *out = ctx;
    return 0;
fail:
    ctx_release(ctx);
    return rc;
}

static int osl_ctx_reload(hz_tls_ctx *ctx, const hz_tls_config *cfg)
{
    if (!ctx)
        return HZ_EINVAL;
    ERR_clear_error();
    hz_tls_snap *snap;
    int rc = snap_create(ctx, cfg, &snap); /* the slow part, before the swap */
    if (rc < 0)
        return rc;
    hz_tls_store_swap(ctx->store, snap); /* the old one goes with its last session */
    return 0;
}

static void osl_ctx_destroy(hz_tls_ctx *ctx)
{
    if (ctx)
        ctx_release(ctx);
}

/* ------------------------------------------------------------------------ */
/* Sessions                                                                  */
/* ------------------------------------------------------------------------ */

/* Maps a failed SSL call (r <= 0); everything but WANT_* is fatal. */
static int osl_result(hz_tls_session *s, int r)
{
    switch (SSL_get_error(s->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return HZ_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return HZ_TLS_WANT_WRITE;
    default:
        break;
    }
    s->failed = 1;
    int oom = osl_drain_errors();
    if (s->io_err)
        return s->io_err;
    if (s->eof)
        return HZ_ECLOSED;
    return oom ? HZ_ENOMEM : HZ_ETLS;
}

static int osl_session_create(hz_tls_ctx *ctx, const hz_tls_io *io, hz_tls_session **out)
{
    if (!out)
        return HZ_EINVAL;
    *out = NULL;
    if (!ctx || !io || !io->send || !io->recv)
        return HZ_EINVAL;
    hz_tls_session *s = hz_alloc_zero(&ctx->alloc, sizeof(*s));
    if (!s)
        return HZ_ENOMEM;
    s->io = io;
    s->ctx = ctx;
    atomic_fetch_add(&ctx->refs, 1);
    s->snap = hz_tls_store_get(ctx->store);

    ERR_clear_error();
    BIO *bio = NULL;
    s->ssl = SSL_new(((const osl_snap *)hz_tls_snap_data(s->snap))->ssl_ctx);
    if (s->ssl)
        bio = BIO_new(ctx->bio_meth);
    if (!bio) {
        int rc = osl_err();
        SSL_free(s->ssl);
        hz_tls_snap_release(s->snap);
        hz_alloc_free(&ctx->alloc, s, sizeof(*s));
        ctx_release(ctx);
        return rc == HZ_ETLS ? HZ_ENOMEM : rc; /* creating objects fails only for memory */
    }
    BIO_set_data(bio, s);
    SSL_set_bio(s->ssl, bio, bio); /* the SSL owns the BIO now */
    SSL_set_accept_state(s->ssl);
    *out = s;
    return 0;
}

static int osl_handshake(hz_tls_session *s)
{
    if (s->failed)
        return HZ_ETLS;
    if (s->done)
        return 0;
    osl_clear_errors();
    int r = SSL_do_handshake(s->ssl);
    if (r == 1) {
        s->done = 1;
        return 0;
    }
    return osl_result(s, r);
}

static long osl_read(hz_tls_session *s, void *buf, size_t len)
{
    if (len == 0)
        return HZ_EINVAL; /* 0 is reserved for end of stream */
    if (s->failed)
        return HZ_ETLS;
    osl_clear_errors();
    size_t n = 0;
    int r = SSL_read_ex(s->ssl, buf, len, &n);
    if (r == 1)
        return (long)n;
    /* close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) the transport ended. */
    if (SSL_get_error(s->ssl, r) == SSL_ERROR_ZERO_RETURN) {
        osl_drain_errors();
        return 0;
    }
    return osl_result(s, r);
}

static long osl_write(hz_tls_session *s, const void *buf, size_t len)
{
    if (len == 0)
        return HZ_EINVAL;
    if (s->failed)
        return HZ_ETLS;
    osl_clear_errors();
    size_t n = 0;
    int r = SSL_write_ex(s->ssl, buf, len, &n); /* partial: one record or more */
    if (r == 1)
        return (long)n;
    return osl_result(s, r);
}

static size_t osl_pending(hz_tls_session *s)
{
    if (s->failed)
        return 0;
    int n = SSL_pending(s->ssl);
    return n > 0 ? (size_t)n : 0;
}

static int osl_shutdown(hz_tls_session *s)
{
    /* Nothing to say after a fatal error (OpenSSL forbids it) or before
     * the handshake finished. */
    if (s->failed || !s->done || s->notify_sent)
        return 0;
    osl_clear_errors();
    int r = SSL_shutdown(s->ssl); /* a retry flushes what is left */
    if (r >= 0) {                 /* 0: ours sent, the peer's not read (we do not wait for it) */
        s->notify_sent = 1;
        return 0;
    }
    return osl_result(s, r);
}

static void osl_session_destroy(hz_tls_session *s)
{
    if (!s)
        return;
    hz_tls_ctx *ctx = s->ctx;
    SSL_free(s->ssl);
    hz_tls_snap_release(s->snap);
    hz_alloc_free(&ctx->alloc, s, sizeof(*s));
    ctx_release(ctx);
}

static const char *osl_alpn_selected(hz_tls_session *s)
{
    const unsigned char *p;
    unsigned len;
    const char *const *ours = hz_tls_snap_alpn(s->snap);
    if (!s->done || !ours)
        return NULL;
    SSL_get0_alpn_selected(s->ssl, &p, &len);
    if (!p || len == 0)
        return NULL;
    /* OpenSSL's copy is not NUL-terminated: answer with ours. */
    for (; *ours; ours++)
        if (strlen(*ours) == len && memcmp(*ours, p, len) == 0)
            return *ours;
    return NULL;
}

static unsigned osl_version(hz_tls_session *s)
{
    return s->done ? (unsigned)SSL_version(s->ssl) : 0;
}

static const char *osl_server_name(hz_tls_session *s)
{
    return SSL_get_servername(s->ssl, TLSEXT_NAMETYPE_host_name);
}

/* SSL_free_buffers refuses (and keeps them) while a buffer holds data. The
 * SSL_has_pending check first keeps a received partial record away from
 * it as well (CVE-2024-4741 freed that one in OpenSSL < 3.0.14). */
static void osl_idle(hz_tls_session *s)
{
    if (s->failed || !s->done || SSL_has_pending(s->ssl))
        return;
    (void)SSL_free_buffers(s->ssl);
}

static const hz_tls_vt hz_tls_openssl = {
    .abi = HZ_BACKEND_ABI,
    .name = "openssl",
    .caps = OSL_CAPS,
    .ctx_create = osl_ctx_create,
    .ctx_reload = osl_ctx_reload,
    .ctx_destroy = osl_ctx_destroy,
    .session_create = osl_session_create,
    .handshake = osl_handshake,
    .read = osl_read,
    .write = osl_write,
    .pending = osl_pending,
    .shutdown = osl_shutdown,
    .session_destroy = osl_session_destroy,
    .alpn_selected = osl_alpn_selected,
    .version = osl_version,
    .server_name = osl_server_name,
    .idle = osl_idle,
};

const hz_tls_vt *const hz_tls_default = &hz_tls_openssl;
