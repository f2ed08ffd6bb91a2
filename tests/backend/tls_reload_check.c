/* tls_reload_check.c - ctx_reload racing session_create, as a plain program
 * (no Criterion) so the ThreadSanitizer stage can run it: Criterion's
 * process arena cannot be set up under TSan on some kernels.
 *
 * One thread reloads the context between two certificates while two others
 * create sessions and complete handshakes (OpenSSL clients over in-memory
 * BIOs) with the backend compiled in. Every handshake must succeed with one
 * of the two certificates; TSan reports any unsynchronised access. Exit 0
 * on success, 1 on failure (with the reason on stderr). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <httpz/backend.h>
#include "test_alloc.h"

#define ROUNDS 30

static atomic_int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            atomic_fetch_add(&failures, 1);                                                        \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)

static char *bio_str(BIO *b)
{
    char *d;
    long n = BIO_get_mem_data(b, &d);
    char *s = malloc((size_t)n + 1);
    if (!s)
        abort();
    memcpy(s, d, (size_t)n);
    s[n] = '\0';
    return s;
}

/* A self-signed ECDSA P-256 certificate for cn, as PEM strings (malloc). */
static int make_cert(const char *cn, char **cert, char **key)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!k || !x)
        return -1;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    if (X509_sign(x, k, EVP_sha256()) <= 0)
        return -1;
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    *cert = bio_str(b);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    *key = bio_str(b);
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(k);
    return 0;
}

typedef struct pipe_io { /* owner: a session thread */
    BIO *to_client;      /* borrowed from the client SSL */
    BIO *to_server;      /* borrowed from the client SSL */
} pipe_io;

static long p_recv(void *ctx, void *buf, size_t len)
{
    pipe_io *p = ctx;
    size_t avail = BIO_ctrl_pending(p->to_server);
    if (!avail)
        return HZ_EAGAIN;
    return BIO_read(p->to_server, buf, (int)(len < avail ? len : avail));
}

static long p_send(void *ctx, const void *buf, size_t len)
{
    pipe_io *p = ctx;
    return BIO_write(p->to_client, buf, (int)len);
}

static hz_tls_config g_cfg[2];
static hz_tls_ctx *g_ctx;

static void *reloader(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++)
        CHECK(hz_tls_default->ctx_reload(g_ctx, &g_cfg[i & 1]) == 0);
    return NULL;
}

static void *sessions(void *arg)
{
    (void)arg;
    const hz_tls_vt *vt = hz_tls_default;
    SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
    CHECK(cc);
    for (int i = 0; i < ROUNDS; i++) {
        SSL *ssl = SSL_new(cc);
        CHECK(ssl);
        pipe_io p = {BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem())};
        BIO_set_mem_eof_return(p.to_client, -1);
        SSL_set_bio(ssl, p.to_client, p.to_server);
        SSL_set_connect_state(ssl);
        hz_tls_io io = {p_send, p_recv, &p};
        hz_tls_session *s;
        CHECK(vt->session_create(g_ctx, &io, &s) == 0);
        int sd = 0, cd = 0;
        for (int k = 0; k < 50 && !(sd && cd); k++) {
            if (!sd) {
                int r = vt->handshake(s);
                if (r == 0)
                    sd = 1;
                else
                    CHECK(r == HZ_TLS_WANT_READ || r == HZ_TLS_WANT_WRITE);
            }
            if (!cd && SSL_do_handshake(ssl) == 1)
                cd = 1;
        }
        CHECK(sd && cd);
        X509 *peer = SSL_get1_peer_certificate(ssl);
        CHECK(peer);
        char cn[32] = "";
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
        X509_free(peer);
        CHECK(strcmp(cn, "one.test") == 0 || strcmp(cn, "two.test") == 0);
        CHECK(vt->write(s, "hi", 2) == 2);
        char b[4];
        CHECK(SSL_read(ssl, b, sizeof(b)) == 2);
        vt->session_destroy(s);
        SSL_free(ssl);
    }
    SSL_CTX_free(cc);
    return NULL;
}

int main(void)
{
    char *cert[2], *key[2];
    if (make_cert("one.test", &cert[0], &key[0]) || make_cert("two.test", &cert[1], &key[1])) {
        fprintf(stderr, "certificate generation failed\n");
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        hz_tls_config_init(&g_cfg[i]);
        g_cfg[i].ncerts = 1;
        g_cfg[i].certs[0].cert_pem = cert[i];
        g_cfg[i].certs[0].key_pem = key[i];
    }
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    if (hz_tls_default->ctx_create(&g_ctx, &g_cfg[0], &ca.iface) != 0) {
        fprintf(stderr, "ctx_create failed\n");
        return 1;
    }
    pthread_t th[3];
    pthread_create(&th[0], NULL, reloader, NULL);
    pthread_create(&th[1], NULL, sessions, NULL);
    pthread_create(&th[2], NULL, sessions, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    hz_tls_default->ctx_destroy(g_ctx);
    if (atomic_load(&ca.live_blocks) != 0) {
        fprintf(stderr, "%ld blocks leaked\n", (long)atomic_load(&ca.live_blocks));
        atomic_fetch_add(&failures, 1);
    }
    for (int i = 0; i < 2; i++) {
        free(cert[i]);
        free(key[i]);
    }
    int f = atomic_load(&failures);
    printf("tls_reload_check (%s): %s\n", hz_tls_default->name, f ? "FAILED" : "ok");
    return f ? 1 : 0;
}
