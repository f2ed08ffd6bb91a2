/* tls_mbedtls.c - the TLS vtable over mbedTLS: 2.28 LTS (what CI builds) and
 * 3.x (its API differences are behind MBEDTLS_VERSION_NUMBER).
 *
 * The library never touches a socket: every record goes through the
 * hz_tls_io shim (mbedtls_ssl_set_bio), HZ_EAGAIN mapped to
 * MBEDTLS_ERR_SSL_WANT_READ/WRITE.
 *
 * Configuration lives in a reference-counted snapshot (hz_tls_snap, from
 * <httpz/backend.h>, with an mbed_snap as its backend data): the context's
 * hz_tls_store holds the current one, every session holds the one it was
 * created with. ctx_reload() builds a new snapshot off to the side and swaps
 * it in, so sessions created afterwards use the new certificates while
 * older sessions keep theirs until they end. The config check, the SNI
 * choice and the ALPN list come from the same helpers.
 *
 * Memory: hz structures (context, snapshot, session, copied strings) come
 * from the hz_allocator. mbedTLS's own allocations (I/O buffers, parsed
 * certificates, bignums) use its global calloc/free: 2.28 has no per-context
 * allocator, and mbedtls_platform_set_calloc_free() is process-wide, which a
 * library must not change behind its host's back.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <httpz/httpz.h>
#include <httpz/backend.h>

#include <mbedtls/version.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h> /* error codes only: MBEDTLS_ERR_NET_* */
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#if defined(MBEDTLS_SSL_TICKET_C) && defined(MBEDTLS_SSL_SESSION_TICKETS) &&                       \
    defined(MBEDTLS_HAVE_TIME)
#include <mbedtls/ssl_ticket.h>
#define MBED_HAVE_TICKETS 1
#else
#define MBED_HAVE_TICKETS 0
#endif
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#include <psa/crypto.h>
#endif

#if MBEDTLS_VERSION_NUMBER < 0x021C0000
#error "httpz: the mbedTLS backend needs mbedTLS >= 2.28"
#endif
#if !defined(MBEDTLS_SSL_SRV_C) || !defined(MBEDTLS_SSL_PROTO_TLS1_2)
#error "httpz: mbedTLS was built without TLS 1.2 server support (MBEDTLS_SSL_SRV_C)"
#endif

#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_SSL_PROTO_TLS1_3)
#define MBED_HAVE_TLS13 1
#else
#define MBED_HAVE_TLS13 0
#endif

#define MBED_CAPS                                                                                  \
    (HZ_TLS_CAP_ALPN | HZ_TLS_CAP_SNI | HZ_TLS_CAP_RELOAD |                                        \
     (MBED_HAVE_TLS13 ? HZ_TLS_CAP_TLS13 : 0) | (MBED_HAVE_TICKETS ? HZ_TLS_CAP_TICKETS : 0))

/* ------------------------------------------------------------------------ */
/* Types                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct mbed_cert {  /* owner: its mbed_snap */
    mbedtls_x509_crt chain; /* owns (mbedTLS heap): leaf first */
    mbedtls_pk_context key; /* owns (mbedTLS heap) */
} mbed_cert;

typedef struct mbed_snap {   /* owner: its hz_tls_snap (the snapshot's backend data) */
    hz_tls_ctx *ctx;         /* borrowed: every holder of a snap also holds the ctx */
    mbedtls_ssl_config conf; /* owns; read-only once built, shared by sessions */
    mbed_cert *certs;        /* owns: ncerts entries; certs[0] is the default */
    unsigned ncerts;
    int *suites; /* owns: 0-terminated custom ciphersuite list, or NULL */
    size_t suites_size;
#if MBED_HAVE_TICKETS
    /* Ticket keys belong to the snapshot, so a reload starts new ones (as
     * the OpenSSL backend's per-snapshot SSL_CTX does). mbedTLS rotates them
     * itself: a new key every lifetime seconds, the previous one still
     * accepted for one more period; a ticket is refused once lifetime
     * seconds have passed since the full handshake it continues. */
    mbedtls_ssl_ticket_context ticket; /* owns; shared by every loop's sessions */
    unsigned ticket_ready : 1;         /* ticket was set up: conf points at it */
#if !defined(MBEDTLS_THREADING_C)
    pthread_mutex_t ticket_lock; /* mbedTLS locks ticket keys only with THREADING_C */
    unsigned ticket_lock_ready : 1;
#endif
#endif
} mbed_snap;

struct hz_tls_ctx {           /* owner: the listener; freed when refs reach 0 */
    hz_allocator alloc;       /* copied; its ctx outlives this context */
    atomic_uint refs;         /* 1 for the owner until ctx_destroy + one per session */
    hz_tls_store *store;      /* owns: the current snapshot, swapped by ctx_reload */
    pthread_mutex_t rng_lock; /* the DRBG is shared by every session on every loop */
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
};

struct hz_tls_session {       /* owner: the conn */
    mbedtls_ssl_context ssl;  /* owns (mbedTLS heap for its buffers) */
    hz_tls_ctx *ctx;          /* owns one reference */
    hz_tls_snap *snap;        /* owns one reference: ssl points at its mbed_snap's conf */
    const hz_tls_io *io;      /* borrowed: outlives the session */
    int io_err;               /* first hard error the shim returned, or 0 */
    unsigned eof : 1;         /* the shim reported end of stream */
    unsigned failed : 1;      /* a fatal error happened: no more I/O, no close_notify */
    unsigned done : 1;        /* handshake completed */
    unsigned notify_sent : 1; /* close_notify written */
    size_t wpend;             /* bytes of a record written but not yet flushed */
    char sni[256];            /* host name the client asked for ("" if none/too long) */
};

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* mbedTLS codes are a high-level part (0x1000-0x7F80) plus a low-level part
 * (0x0001-0x007F); an allocation failure can be in either. */
static int mbed_is_alloc_failure(int rc)
{
    int hi = -((-rc) & 0xFF80), lo = -((-rc) & 0x007F);
    return hi == MBEDTLS_ERR_SSL_ALLOC_FAILED || hi == MBEDTLS_ERR_X509_ALLOC_FAILED ||
           hi == MBEDTLS_ERR_PK_ALLOC_FAILED || hi == MBEDTLS_ERR_ECP_ALLOC_FAILED ||
           hi == MBEDTLS_ERR_PEM_ALLOC_FAILED || lo == MBEDTLS_ERR_ASN1_ALLOC_FAILED ||
           lo == MBEDTLS_ERR_MPI_ALLOC_FAILED;
}

static int mbed_err(int rc)
{
    if (rc == MBEDTLS_ERR_SSL_BAD_INPUT_DATA)
        return HZ_EINVAL;
    return mbed_is_alloc_failure(rc) ? HZ_ENOMEM : HZ_ETLS;
}

/* ------------------------------------------------------------------------ */
/* Randomness: one DRBG per context, serialised (sessions of one context run  */
/* on several loop threads; mbedTLS may be built without MBEDTLS_THREADING_C) */
/* ------------------------------------------------------------------------ */

static int mbed_rng(void *p, unsigned char *out, size_t len)
{
    hz_tls_ctx *ctx = p;
    pthread_mutex_lock(&ctx->rng_lock);
    int rc = mbedtls_ctr_drbg_random(&ctx->drbg, out, len);
    pthread_mutex_unlock(&ctx->rng_lock);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* SNI                                                                       */
/* ------------------------------------------------------------------------ */

static int mbed_sni_cb(void *p, mbedtls_ssl_context *ssl, const unsigned char *name, size_t len)
{
    hz_tls_snap *snap = p;
    mbed_snap *m = hz_tls_snap_data(snap);
    /* ssl is the first member of the session (see mbed_session_create). */
    hz_tls_session *s = (hz_tls_session *)(void *)ssl;
    if (len < sizeof(s->sni) && !memchr(name, '\0', len)) {
        memcpy(s->sni, name, len);
        s->sni[len] = '\0';
    }
    unsigned i = hz_tls_snap_sni_pick(snap, (const char *)name, len);
    if (i == 0 || i >= m->ncerts)
        return 0; /* the default certificate is already configured */
    return mbedtls_ssl_set_hs_own_cert(ssl, &m->certs[i].chain, &m->certs[i].key);
}

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                 */
/* ------------------------------------------------------------------------ */

/* ECDHE + AEAD only (no RSA key exchange, no CBC, no SHA-1 MAC); ECDSA first
 * as it is cheaper for the server. Suites not compiled into mbedTLS are
 * skipped by mbedTLS at handshake time. */
static const int mbed_default_suites[] = {
#if MBED_HAVE_TLS13
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
#endif
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
static const uint16_t mbed_groups[] = {
    MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
    MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
};
#else
static const mbedtls_ecp_group_id mbed_curves[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};
/* No SHA-1 (or SHA-224) in ServerKeyExchange signatures. */
static const int mbed_sig_hashes[] = {
    MBEDTLS_MD_SHA256,
    MBEDTLS_MD_SHA384,
    MBEDTLS_MD_SHA512,
    MBEDTLS_MD_NONE,
};
#endif

/* ------------------------------------------------------------------------ */
/* Session tickets                                                           */
/* ------------------------------------------------------------------------ */

#if MBED_HAVE_TICKETS && !defined(MBEDTLS_THREADING_C)
/* Without MBEDTLS_THREADING_C the ticket context's key rotation is not
 * locked, and sessions on several loops write and parse tickets at once. */
static int mbed_ticket_write(void *p, const mbedtls_ssl_session *session, unsigned char *start,
                             const unsigned char *end, size_t *tlen, uint32_t *lifetime)
{
    mbed_snap *m = p;
    pthread_mutex_lock(&m->ticket_lock);
    int rc = mbedtls_ssl_ticket_write(&m->ticket, session, start, end, tlen, lifetime);
    pthread_mutex_unlock(&m->ticket_lock);
    return rc;
}

static int mbed_ticket_parse(void *p, mbedtls_ssl_session *session, unsigned char *buf, size_t len)
{
    mbed_snap *m = p;
    pthread_mutex_lock(&m->ticket_lock);
    int rc = mbedtls_ssl_ticket_parse(&m->ticket, session, buf, len);
    pthread_mutex_unlock(&m->ticket_lock);
    return rc;
}
#endif

/* Sets up the snapshot's ticket keys and hooks them into its conf (unless
 * cfg turns tickets off). */
static int snap_tickets(hz_tls_ctx *ctx, mbed_snap *snap, const hz_tls_config *cfg)
{
#if MBED_HAVE_TICKETS
    if (cfg->no_tickets)
        return 0;
    uint32_t lifetime =
        cfg->ticket_lifetime ? cfg->ticket_lifetime : HZ_TLS_TICKET_LIFETIME_DEFAULT;
#if !defined(MBEDTLS_THREADING_C)
    if (pthread_mutex_init(&snap->ticket_lock, NULL) != 0)
        return HZ_ESYS;
    snap->ticket_lock_ready = 1;
#endif
    mbedtls_ssl_ticket_init(&snap->ticket);
    snap->ticket_ready = 1;
    int rc = mbedtls_ssl_ticket_setup(&snap->ticket, mbed_rng, ctx, MBEDTLS_CIPHER_AES_256_GCM,
                                      lifetime);
    if (rc != 0)
        return mbed_err(rc);
#if defined(MBEDTLS_THREADING_C)
    mbedtls_ssl_conf_session_tickets_cb(&snap->conf, mbedtls_ssl_ticket_write,
                                        mbedtls_ssl_ticket_parse, &snap->ticket);
#else
    mbedtls_ssl_conf_session_tickets_cb(&snap->conf, mbed_ticket_write, mbed_ticket_parse, snap);
#endif
#else
    (void)ctx, (void)snap, (void)cfg; /* HZ_TLS_CAP_TICKETS is off: nothing to resume */
#endif
    return 0;
}

/* The snapshot's fini: also runs on one that snap_create left half-built. */
static void snap_fini(hz_tls_snap *s, void *data)
{
    (void)s;
    mbed_snap *snap = data;
    if (!snap->ctx)
        return; /* nothing was initialised */
    const hz_allocator *a = &snap->ctx->alloc;
    mbedtls_ssl_config_free(&snap->conf);
#if MBED_HAVE_TICKETS
    if (snap->ticket_ready)
        mbedtls_ssl_ticket_free(&snap->ticket);
#if !defined(MBEDTLS_THREADING_C)
    if (snap->ticket_lock_ready)
        pthread_mutex_destroy(&snap->ticket_lock);
#endif
#endif
    if (snap->certs) {
        for (unsigned i = 0; i < snap->ncerts; i++) {
            mbedtls_x509_crt_free(&snap->certs[i].chain);
            mbedtls_pk_free(&snap->certs[i].key);
        }
        hz_alloc_free(a, snap->certs, snap->ncerts * sizeof(*snap->certs));
    }
    hz_alloc_free(a, snap->suites, snap->suites_size);
}

/* An EC group caches a table of multiples of its generator the first time
 * it multiplies G. mbedTLS 3.x signs with the key's own group (2.28 signs on
 * a copy), and sessions on several loop threads sign with the same key, so
 * the first signature happens here, on one thread; afterwards the table is
 * only read. (RSA keys guard their blinding state with a mutex when mbedTLS
 * has MBEDTLS_THREADING_C, as Debian's build does.) */
static int warm_key(hz_tls_ctx *ctx, mbedtls_pk_context *key)
{
    if (!mbedtls_pk_can_do(key, MBEDTLS_PK_ECDSA))
        return 0;
    unsigned char hash[32] = {1}, sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t len = 0;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    int rc = mbedtls_pk_sign(key, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, sizeof(sig), &len,
                             mbed_rng, ctx);
#else
    int rc = mbedtls_pk_sign(key, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, &len, mbed_rng, ctx);
#endif
    return rc == 0 ? 0 : mbed_err(rc);
}

static int load_cert(hz_tls_ctx *ctx, mbed_cert *c, const hz_tls_cert *in)
{
    int rc;
    if (in->cert_pem)
        rc = mbedtls_x509_crt_parse(&c->chain, (const unsigned char *)in->cert_pem,
                                    strlen(in->cert_pem) + 1);
    else
        rc = mbedtls_x509_crt_parse_file(&c->chain, in->cert_file);
    if (rc != 0) /* > 0: some certificates of the chain did not parse */
        return rc > 0 ? HZ_ETLS : mbed_err(rc);

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    if (in->key_pem)
        rc = mbedtls_pk_parse_key(&c->key, (const unsigned char *)in->key_pem,
                                  strlen(in->key_pem) + 1, NULL, 0, mbed_rng, ctx);
    else
        rc = mbedtls_pk_parse_keyfile(&c->key, in->key_file, NULL, mbed_rng, ctx);
    if (rc != 0)
        return mbed_err(rc);
    rc = mbedtls_pk_check_pair(&c->chain.pk, &c->key, mbed_rng, ctx);
#else
    if (in->key_pem)
        rc = mbedtls_pk_parse_key(&c->key, (const unsigned char *)in->key_pem,
                                  strlen(in->key_pem) + 1, NULL, 0);
    else
        rc = mbedtls_pk_parse_keyfile(&c->key, in->key_file, NULL);
    if (rc != 0)
        return mbed_err(rc);
    rc = mbedtls_pk_check_pair(&c->chain.pk, &c->key);
#endif
    if (rc != 0) /* the key does not belong to the certificate */
        return mbed_err(rc);
    return warm_key(ctx, &c->key);
}

/* A custom list: IANA-style mbedTLS names ("TLS-ECDHE-ECDSA-WITH-AES-128-GCM-
 * SHA256") separated by ':' or ','. An unknown name is HZ_EINVAL. */
static int parse_suites(mbed_snap *snap, const char *list)
{
    const hz_allocator *a = &snap->ctx->alloc;
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ':' || *p == ',';
    size_t size = (n + 1) * sizeof(int);
    int *ids = hz_alloc(a, size);
    if (!ids)
        return HZ_ENOMEM;
    size_t k = 0;
    for (const char *p = list; *p;) {
        size_t tlen = strcspn(p, ":,");
        char name[128];
        if (tlen > 0) {
            int id = 0;
            if (tlen < sizeof(name)) {
                memcpy(name, p, tlen);
                name[tlen] = '\0';
                id = mbedtls_ssl_get_ciphersuite_id(name);
            }
            if (id == 0) {
                hz_alloc_free(a, ids, size);
                return HZ_EINVAL;
            }
            ids[k++] = id;
        }
        p += tlen;
        if (*p)
            p++;
    }
    ids[k] = 0;
    snap->suites = ids;
    snap->suites_size = size;
    if (k == 0)
        return HZ_EINVAL; /* freed by snap_free */
    return 0;
}

/* Builds a complete snapshot from cfg; on failure nothing is left behind. */
static int snap_create(hz_tls_ctx *ctx, const hz_tls_config *cfg, hz_tls_snap **out)
{
    hz_tls_snap *hs;
    int rc = hz_tls_snap_create(&hs, cfg, MBED_CAPS, sizeof(mbed_snap), snap_fini, &ctx->alloc);
    *out = NULL;
    if (rc < 0)
        return rc;
    mbed_snap *snap = hz_tls_snap_data(hs);
    snap->ctx = ctx;
    mbedtls_ssl_config_init(&snap->conf);
    snap->certs = hz_alloc_zero(&ctx->alloc, cfg->ncerts * sizeof(*snap->certs));
    if (!snap->certs) {
        rc = HZ_ENOMEM;
        goto fail;
    }
    snap->ncerts = cfg->ncerts;
    for (unsigned i = 0; i < cfg->ncerts; i++) {
        mbedtls_x509_crt_init(&snap->certs[i].chain);
        mbedtls_pk_init(&snap->certs[i].key);
    }
    for (unsigned i = 0; i < cfg->ncerts; i++) {
        mbed_cert *c = &snap->certs[i];
        if ((rc = load_cert(ctx, c, &cfg->certs[i])) < 0)
            goto fail;
    }
    if (cfg->ciphers && (rc = parse_suites(snap, cfg->ciphers)) < 0)
        goto fail;

    mbedtls_ssl_config *conf = &snap->conf;
    rc = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                     MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc != 0) {
        rc = mbed_err(rc);
        goto fail;
    }
    mbedtls_ssl_conf_rng(conf, mbed_rng, ctx);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    mbedtls_ssl_conf_min_tls_version(conf, cfg->min_version == HZ_TLS_V1_3
                                               ? MBEDTLS_SSL_VERSION_TLS1_3
                                               : MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_groups(conf, mbed_groups);
#else
    mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_curves(conf, mbed_curves);
    mbedtls_ssl_conf_sig_hashes(conf, mbed_sig_hashes);
#endif
    mbedtls_ssl_conf_ciphersuites(conf, snap->suites ? snap->suites : mbed_default_suites);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
    mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
    rc = mbedtls_ssl_conf_own_cert(conf, &snap->certs[0].chain, &snap->certs[0].key);
    if (rc != 0) {
        rc = mbed_err(rc);
        goto fail;
    }
    if ((rc = snap_tickets(ctx, snap, cfg)) < 0)
        goto fail;
    /* Always installed: it also records the name for server_name(). */
    mbedtls_ssl_conf_sni(conf, mbed_sni_cb, hs);
    const char *const *alpn = hz_tls_snap_alpn(hs); /* lives as long as conf */
    if (alpn) {
        /* mbedTLS answers a client that offers only other protocols with
         * the no_application_protocol alert (RFC 7301 §3.2) and accepts a
         * client that sends no ALPN extension. */
        rc = mbedtls_ssl_conf_alpn_protocols(conf, (const char **)alpn);
        if (rc != 0) {
            rc = mbed_err(rc);
            goto fail;
        }
    }
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
    mbedtls_ctr_drbg_free(&ctx->drbg);
    mbedtls_entropy_free(&ctx->entropy);
    pthread_mutex_destroy(&ctx->rng_lock);
    hz_allocator a = ctx->alloc;
    hz_alloc_free(&a, ctx, sizeof(*ctx));
}

static int mbed_ctx_create(hz_tls_ctx **out, const hz_tls_config *cfg, const hz_allocator *a)
{
    if (!out)
        return HZ_EINVAL;
    *out = NULL;
    if (!a)
        a = &hz_allocator_default;
    int rc = hz_allocator_check(a);
    if (rc < 0)
        return rc;
    if ((rc = hz_tls_config_check(cfg, MBED_CAPS)) < 0)
        return rc;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
    /* TLS 1.3 and the PSA-based paths need it; idempotent. */
    if (psa_crypto_init() != PSA_SUCCESS)
        return HZ_ETLS;
#endif
    hz_tls_ctx *ctx = hz_alloc_zero(a, sizeof(*ctx));
    if (!ctx)
        return HZ_ENOMEM;
    ctx->alloc = *a;
    atomic_init(&ctx->refs, 1);
    if (pthread_mutex_init(&ctx->rng_lock, NULL) != 0) {
        hz_alloc_free(a, ctx, sizeof(*ctx));
        return HZ_ESYS;
    }
    mbedtls_entropy_init(&ctx->entropy);
    mbedtls_ctr_drbg_init(&ctx->drbg);
    static const unsigned char pers[] = "httpz-tls-server";
    rc = mbedtls_ctr_drbg_seed(&ctx->drbg, mbedtls_entropy_func, &ctx->entropy, pers,
                               sizeof(pers) - 1);
    if (rc != 0) {
        rc = mbed_err(rc);
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

static int mbed_ctx_reload(hz_tls_ctx *ctx, const hz_tls_config *cfg)
{
    if (!ctx)
        return HZ_EINVAL;
    hz_tls_snap *snap;
    int rc = snap_create(ctx, cfg, &snap); /* the slow part, before the swap */
    if (rc < 0)
        return rc;
    hz_tls_store_swap(ctx->store, snap); /* the old one goes with its last session */
    return 0;
}

static void mbed_ctx_destroy(hz_tls_ctx *ctx)
{
    if (ctx)
        ctx_release(ctx);
}

/* ------------------------------------------------------------------------ */
/* Sessions                                                                  */
/* ------------------------------------------------------------------------ */

static int mbed_bio_send(void *p, const unsigned char *buf, size_t len)
{
    hz_tls_session *s = p;
    long n = s->io->send(s->io->io_ctx, buf, len);
    if (n > 0)
        return (int)n; /* n <= len, and mbedTLS never sends more than a record */
    if (n == HZ_EAGAIN)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    s->io_err = n < 0 ? (int)n : HZ_EIO;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int mbed_bio_recv(void *p, unsigned char *buf, size_t len)
{
    hz_tls_session *s = p;
    long n = s->io->recv(s->io->io_ctx, buf, len);
    if (n > 0)
        return (int)n;
    if (n == 0) {
        s->eof = 1;
        return 0; /* mbedTLS turns it into MBEDTLS_ERR_SSL_CONN_EOF */
    }
    if (n == HZ_EAGAIN)
        return MBEDTLS_ERR_SSL_WANT_READ;
    s->io_err = (int)n;
    return MBEDTLS_ERR_NET_RECV_FAILED;
}

/* Maps a failed mbedTLS call; everything but WANT_* is fatal for the session. */
static int mbed_result(hz_tls_session *s, int rc)
{
    if (rc == MBEDTLS_ERR_SSL_WANT_READ)
        return HZ_TLS_WANT_READ;
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE)
        return HZ_TLS_WANT_WRITE;
    s->failed = 1;
    if (s->io_err)
        return s->io_err;
    if (s->eof || rc == MBEDTLS_ERR_SSL_CONN_EOF)
        return HZ_ECLOSED;
    return mbed_err(rc);
}

static int mbed_session_create(hz_tls_ctx *ctx, const hz_tls_io *io, hz_tls_session **out)
{
    if (!out)
        return HZ_EINVAL;
    *out = NULL;
    if (!ctx || !io || !io->send || !io->recv)
        return HZ_EINVAL;
    hz_tls_session *s = hz_alloc(&ctx->alloc, sizeof(*s));
    if (!s)
        return HZ_ENOMEM;
    memset(s, 0, sizeof(*s));
    mbedtls_ssl_init(&s->ssl);
    s->io = io;
    s->ctx = ctx;
    atomic_fetch_add(&ctx->refs, 1);
    s->snap = hz_tls_store_get(ctx->store);
    const mbed_snap *snap = hz_tls_snap_data(s->snap);
    int rc = mbedtls_ssl_setup(&s->ssl, &snap->conf);
    if (rc != 0) {
        mbedtls_ssl_free(&s->ssl);
        hz_tls_snap_release(s->snap);
        hz_alloc_free(&ctx->alloc, s, sizeof(*s));
        ctx_release(ctx);
        return mbed_err(rc);
    }
    mbedtls_ssl_set_bio(&s->ssl, s, mbed_bio_send, mbed_bio_recv, NULL);
    *out = s;
    return 0;
}

static int mbed_handshake(hz_tls_session *s)
{
    if (s->failed)
        return HZ_ETLS;
    if (s->done)
        return 0;
    int rc = mbedtls_ssl_handshake(&s->ssl);
    if (rc == 0) {
        s->done = 1;
        return 0;
    }
    return mbed_result(s, rc);
}

static long mbed_read(hz_tls_session *s, void *buf, size_t len)
{
    if (len == 0)
        return HZ_EINVAL; /* 0 is reserved for end of stream */
    if (s->failed)
        return HZ_ETLS;
    int rc = mbedtls_ssl_read(&s->ssl, buf, len);
    if (rc > 0)
        return rc;
    /* close_notify, or the transport ended without one: both end the stream
     * (HTTP framing detects a truncated message). */
    if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == MBEDTLS_ERR_SSL_CONN_EOF)
        return 0;
    return mbed_result(s, rc);
}

static long mbed_write(hz_tls_session *s, const void *buf, size_t len)
{
    if (len == 0)
        return HZ_EINVAL;
    if (s->failed)
        return HZ_ETLS;
    /* After WANT_WRITE mbedTLS holds the encrypted record and, on the next
     * call, flushes it and reports that call's len as written: pass exactly
     * the length it encrypted, so a caller whose buffer grew meanwhile (a
     * pipelined response appended) is not told more was sent. */
    if (s->wpend && s->wpend < len)
        len = s->wpend; /* (a shorter retry breaks the contract; never over-read) */
    int rc = mbedtls_ssl_write(&s->ssl, buf, len); /* at most one record per call */
    if (rc > 0) {
        s->wpend = 0;
        return rc;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE && !s->wpend) {
        int max = mbedtls_ssl_get_max_out_record_payload(&s->ssl);
        s->wpend = max > 0 && (size_t)max < len ? (size_t)max : len;
    }
    return mbed_result(s, rc);
}

static size_t mbed_pending(hz_tls_session *s)
{
    return s->failed ? 0 : mbedtls_ssl_get_bytes_avail(&s->ssl);
}

static int mbed_shutdown(hz_tls_session *s)
{
    /* Nothing to say after a fatal error (the alert, if any, went out) or
     * before the handshake finished. */
    if (s->failed || !s->done || s->notify_sent)
        return 0;
    int rc = mbedtls_ssl_close_notify(&s->ssl); /* a retry flushes what is left */
    if (rc == 0) {
        s->notify_sent = 1;
        return 0;
    }
    return mbed_result(s, rc);
}

static void mbed_session_destroy(hz_tls_session *s)
{
    if (!s)
        return;
    hz_tls_ctx *ctx = s->ctx;
    mbedtls_ssl_free(&s->ssl);
    hz_tls_snap_release(s->snap);
    hz_alloc_free(&ctx->alloc, s, sizeof(*s));
    ctx_release(ctx);
}

static const char *mbed_alpn_selected(hz_tls_session *s)
{
    return s->done ? mbedtls_ssl_get_alpn_protocol(&s->ssl) : NULL;
}

static unsigned mbed_version(hz_tls_session *s)
{
    if (!s->done)
        return 0;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    return (unsigned)mbedtls_ssl_get_version_number(&s->ssl);
#else
    const char *v = mbedtls_ssl_get_version(&s->ssl);
    return strcmp(v, "TLSv1.2") == 0 ? HZ_TLS_V1_2 : 0;
#endif
}

static const char *mbed_server_name(hz_tls_session *s)
{
    return s->sni[0] ? s->sni : NULL;
}

static const hz_tls_vt hz_tls_mbedtls = {
    .abi = HZ_BACKEND_ABI,
    .name = "mbedtls",
    .caps = MBED_CAPS,
    .ctx_create = mbed_ctx_create,
    .ctx_reload = mbed_ctx_reload,
    .ctx_destroy = mbed_ctx_destroy,
    .session_create = mbed_session_create,
    .handshake = mbed_handshake,
    .read = mbed_read,
    .write = mbed_write,
    .pending = mbed_pending,
    .shutdown = mbed_shutdown,
    .session_destroy = mbed_session_destroy,
    .alpn_selected = mbed_alpn_selected,
    .version = mbed_version,
    .server_name = mbed_server_name,
    /* .idle: none. mbedTLS 2.28 allocates its record buffers in
     * mbedtls_ssl_setup() and frees them only in mbedtls_ssl_free(); it has
     * no call that drops them from a live session (its
     * MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH only resizes them once, after the
     * handshake). */
};

const hz_tls_vt *const hz_tls_default = &hz_tls_mbedtls;
