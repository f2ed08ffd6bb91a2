/* selfsigned.c - a self-signed ECDSA P-256 certificate with the build's TLS
 * library (OpenSSL 3 EVP/X509, or mbedTLS pk/x509write); see selfsigned.h. */
#define _XOPEN_SOURCE 700 /* lockf */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "selfsigned.h"

#if defined(SELFSIGNED_OPENSSL) && defined(SELFSIGNED_MBEDTLS)
#error "selfsigned.c: define one of SELFSIGNED_OPENSSL and SELFSIGNED_MBEDTLS"
#endif

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Generation: one function per library, same result                         */
/* ------------------------------------------------------------------------ */

#if defined(SELFSIGNED_OPENSSL)
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (!e)
        return -1;
    int ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* A BIO's contents as a NUL-terminated malloc'd string (NULL on failure). */
static char *bio_string(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        memcpy(s, data, (size_t)n);
        s[n] = '\0';
    }
    return s;
}

/* *cert_pem and *key_pem: malloc'd, the caller frees them. */
static int generate(const char *host, int days, char **cert_pem, char **key_pem, char *err,
                    size_t errlen)
{
    int rc = -1;
    X509 *x = NULL;
    BIGNUM *bn = NULL;
    BIO *cb = NULL, *kb = NULL;
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    if (!pk)
        goto done;
    if (!(x = X509_new()) || !(bn = BN_new()) || !X509_set_version(x, 2))
        goto done;
    /* A random positive 63-bit serial: a new certificate never repeats an
     * old one's issuer+serial, which clients may have cached. */
    if (!BN_rand(bn, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
        goto done;
    /* One hour back: a client whose clock is a little behind still accepts it. */
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) || !X509_set_pubkey(x, pk))
        goto done;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, name))
        goto done;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    char san[128];
    snprintf(san, sizeof(san), "DNS:%s,IP:127.0.0.1,IP:::1", host);
    if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
        add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") < 0 ||
        add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") < 0 ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
        add_ext(x, &ctx, NID_subject_alt_name, san) < 0)
        goto done;
    if (!X509_sign(x, pk, EVP_sha256()))
        goto done;
    if (!(cb = BIO_new(BIO_s_mem())) || !(kb = BIO_new(BIO_s_mem())) ||
        !PEM_write_bio_X509(cb, x) || !PEM_write_bio_PrivateKey(kb, pk, NULL, NULL, 0, NULL, NULL))
        goto done;
    *cert_pem = bio_string(cb);
    *key_pem = bio_string(kb);
    if (*cert_pem && *key_pem)
        rc = 0;
    else {
        free(*cert_pem);
        free(*key_pem);
        *cert_pem = *key_pem = NULL;
    }
done:
    if (rc < 0) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        fail(err, errlen, "openssl: %s", e);
    }
    BIO_free(cb);
    BIO_free(kb);
    BN_free(bn);
    X509_free(x);
    EVP_PKEY_free(pk);
    return rc;
}

#elif defined(SELFSIGNED_MBEDTLS)
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

/* mbedTLS's "YYYYMMDDhhmmss" for now + off seconds (UTC). */
static void asn1_time(char out[16], long long off)
{
    time_t t = time(NULL) + (time_t)off;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y%m%d%H%M%S", &tm);
}

static int generate(const char *host, int days, char **cert_pem, char **key_pem, char *err,
                    size_t errlen)
{
    int rc = -1, mr;
    mbedtls_entropy_context ent;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context pk;
    mbedtls_x509write_cert crt;
    mbedtls_entropy_init(&ent);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_pk_init(&pk);
    mbedtls_x509write_crt_init(&crt);
    unsigned char *cbuf = malloc(4096), *kbuf = malloc(1024);
    if (!cbuf || !kbuf) {
        mr = MBEDTLS_ERR_PK_ALLOC_FAILED;
        goto done;
    }
    static const unsigned char pers[] = "httpz-selfsigned";
    if ((mr = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, pers, sizeof(pers) - 1)) ||
        (mr = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) ||
        (mr = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk),
                                  mbedtls_ctr_drbg_random, &drbg)))
        goto done;

    unsigned char serial[8];
    if ((mr = mbedtls_ctr_drbg_random(&drbg, serial, sizeof(serial))))
        goto done;
    serial[0] &= 0x7f; /* positive */
    serial[0] |= 0x01; /* and no leading zero byte to strip */
#if MBEDTLS_VERSION_NUMBER >= 0x03040000
    if ((mr = mbedtls_x509write_crt_set_serial_raw(&crt, serial, sizeof(serial))))
        goto done;
#else
    mbedtls_mpi sn;
    mbedtls_mpi_init(&sn);
    mr = mbedtls_mpi_read_binary(&sn, serial, sizeof(serial));
    if (!mr)
        mr = mbedtls_x509write_crt_set_serial(&crt, &sn);
    mbedtls_mpi_free(&sn);
    if (mr)
        goto done;
#endif
    char nb[16], na[16], dn[80];
    asn1_time(nb, -3600); /* a client clock a little behind still accepts it */
    asn1_time(na, (long long)days * 86400);
    snprintf(dn, sizeof(dn), "CN=%s", host);

    /* subjectAltName by hand (2.28 has no setter): GeneralNames ::= SEQUENCE
     * { [2] dNSName host, [7] iPAddress 127.0.0.1, [7] iPAddress ::1 }. */
    size_t hl = strlen(host);
    unsigned char san[128];
    size_t sl = 0;
    san[sl++] = 0x30;
    san[sl++] = (unsigned char)(2 + hl + 6 + 18);
    san[sl++] = 0x82;
    san[sl++] = (unsigned char)hl;
    memcpy(san + sl, host, hl);
    sl += hl;
    static const unsigned char ips[] = {0x87, 4, 127, 0, 0, 1, 0x87, 16, 0, 0, 0, 0,
                                        0,    0, 0,   0, 0, 0, 0,    0,  0, 0, 0, 1};
    memcpy(san + sl, ips, sizeof(ips));
    sl += sizeof(ips);
    /* ExtKeyUsageSyntax ::= SEQUENCE { id-kp-serverAuth } */
    static const unsigned char eku[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
                                        0x01, 0x05, 0x05, 0x07, 0x03, 0x01};

    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, &pk);
    mbedtls_x509write_crt_set_issuer_key(&crt, &pk);
    if ((mr = mbedtls_x509write_crt_set_validity(&crt, nb, na)) ||
        (mr = mbedtls_x509write_crt_set_subject_name(&crt, dn)) ||
        (mr = mbedtls_x509write_crt_set_issuer_name(&crt, dn)) ||
        (mr = mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1)) ||
        (mr = mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE)) ||
        (mr = mbedtls_x509write_crt_set_subject_key_identifier(&crt)) ||
        (mr = mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE),
                                                  0, eku, sizeof(eku))) ||
        (mr = mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                                                  san, sl)))
        goto done;
    if ((mr = mbedtls_x509write_crt_pem(&crt, cbuf, 4096, mbedtls_ctr_drbg_random, &drbg)) ||
        (mr = mbedtls_pk_write_key_pem(&pk, kbuf, 1024)))
        goto done;
    *cert_pem = (char *)cbuf;
    *key_pem = (char *)kbuf;
    cbuf = kbuf = NULL;
    rc = 0;
done:
    if (rc < 0) {
        char e[200];
        mbedtls_strerror(mr, e, sizeof(e));
        fail(err, errlen, "mbedtls: %s (-0x%04x)", e, (unsigned)-mr);
    }
    free(cbuf);
    free(kbuf);
    mbedtls_x509write_crt_free(&crt);
    mbedtls_pk_free(&pk);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&ent);
    return rc;
}

#else

static int generate(const char *host, int days, char **cert_pem, char **key_pem, char *err,
                    size_t errlen)
{
    (void)host;
    (void)days;
    (void)cert_pem;
    (void)key_pem;
    return fail(err, errlen, "built without TLS (HZ_TLS=none)");
}

#endif

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

/* Writes data to path.tmp.<pid> with exactly mode (O_EXCL: never through a
 * file or link someone else put there), then renames it over path. */
static int write_file(const char *path, const char *data, mode_t mode, char *err, size_t errlen)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return fail(err, errlen, "%s: path too long", path);
    (void)unlink(tmp); /* a leftover of a crashed run with our pid */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return fail(err, errlen, "%s: %s", tmp, strerror(errno));
    size_t len = strlen(data), off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return fail(err, errlen, "%s: %s", tmp, strerror(e));
        }
        off += (size_t)n;
    }
    /* The umask may only have removed bits; set exactly what was asked. */
    if (fchmod(fd, mode) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return fail(err, errlen, "%s: %s", path, strerror(e));
    }
    return 0;
}

int selfsigned_write(const char *cert_path, const char *key_path, const char *host, int days,
                     char *err, size_t errlen)
{
    if (!cert_path || !key_path || !host || !*host || strlen(host) > 63 || days < 1 ||
        days > 3650 || strpbrk(host, ",=+/\\\"<>;"))
        return fail(err, errlen, "selfsigned: invalid argument");
    char *cert = NULL, *key = NULL;
    if (generate(host, days, &cert, &key, err, errlen) < 0 || !cert || !key) {
        free(cert);
        free(key);
        return -1;
    }
    /* The key first: a reader that sees the new certificate also finds its key. */
    int rc = write_file(key_path, key, 0600, err, errlen);
    if (rc == 0)
        rc = write_file(cert_path, cert, 0644, err, errlen);
    /* The key is wiped before its memory goes back to the heap. */
    volatile char *k = key;
    for (size_t i = 0; key[i]; i++)
        k[i] = 0;
    free(key);
    free(cert);
    return rc;
}

#define SELFSIGNED_DAYS 365
#define SELFSIGNED_RENEW_DAYS 335 /* regenerate a month before it expires */

int selfsigned_ensure(const char *dir, char *cert_path, char *key_path, size_t cap, char *err,
                      size_t errlen)
{
    char lock[4096];
    if (snprintf(cert_path, cap, "%s/cert.pem", dir) >= (int)cap ||
        snprintf(key_path, cap, "%s/key.pem", dir) >= (int)cap ||
        snprintf(lock, sizeof(lock), "%s/.lock", dir) >= (int)sizeof(lock))
        return fail(err, errlen, "%s: path too long", dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return fail(err, errlen, "%s: %s", dir, strerror(errno));
    int lfd = open(lock, O_RDWR | O_CREAT, 0600);
    if (lfd < 0)
        return fail(err, errlen, "%s: %s", lock, strerror(errno));
    /* Two demos starting at once must not pair one's key with the other's
     * certificate. */
    while (lockf(lfd, F_LOCK, 0) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(lfd);
            return fail(err, errlen, "%s: %s", lock, strerror(e));
        }
    }
    struct stat cs, ks;
    int rc;
    if (stat(cert_path, &cs) == 0 && stat(key_path, &ks) == 0 && S_ISREG(cs.st_mode) &&
        S_ISREG(ks.st_mode) && cs.st_size > 0 && ks.st_size > 0 &&
        time(NULL) - cs.st_mtime < (time_t)SELFSIGNED_RENEW_DAYS * 86400)
        rc = 1;
    else
        rc = selfsigned_write(cert_path, key_path, "localhost", SELFSIGNED_DAYS, err, errlen);
    close(lfd); /* releases the lock */
    return rc;
}
