/* tls_conf.c - what every TLS backend does with an hz_tls_config, written
 * once (include/httpz/backend.h, "Helpers for backends"): the config check,
 * the SNI certificate choice, ALPN parsing and selection, and the
 * reference-counted configuration snapshot with its reload swap.
 *
 * A snapshot is one block: the header, the ALPN pointer array, the backend's
 * data, then the copied strings (SNI names, ALPN names). Sessions hold a
 * reference, so a reload never frees what a live session still reads; the
 * store's mutex only covers "load the current pointer and take a reference",
 * which a swap could otherwise free in between. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdalign.h>
#include <string.h>
#include <strings.h>
#include "internal.h"

/* ------------------------------------------------------------------------ */
/* Config check and ALPN syntax                                              */
/* ------------------------------------------------------------------------ */

/* Counts the names of a non-empty ALPN list; 0 if one is empty or longer
 * than 255 bytes (RFC 7301 §3.1). */
static size_t alpn_count(const char *list)
{
    size_t n = 0;
    for (const char *p = list;;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > 255)
            return 0;
        n++;
        if (!p[len])
            return n;
        p += len + 1;
    }
}

int hz_tls_config_check(const hz_tls_config *cfg, unsigned caps)
{
    if (!cfg || cfg->ncerts == 0 || cfg->ncerts > HZ_TLS_MAX_CERTS)
        return HZ_EINVAL;
    for (unsigned i = 0; i < cfg->ncerts; i++) {
        const hz_tls_cert *c = &cfg->certs[i];
        if (!c->cert_file == !c->cert_pem || !c->key_file == !c->key_pem)
            return HZ_EINVAL; /* exactly one source for each */
    }
    if (cfg->alpn && cfg->alpn[0] && alpn_count(cfg->alpn) == 0)
        return HZ_EINVAL;
    if (cfg->ticket_lifetime > HZ_TLS_TICKET_LIFETIME_MAX)
        return HZ_EINVAL;
    switch (cfg->min_version) {
    case 0:
    case HZ_TLS_V1_2:
        return 0;
    case HZ_TLS_V1_3:
        return (caps & HZ_TLS_CAP_TLS13) ? 0 : HZ_ENOTSUP;
    default:
        return HZ_EINVAL;
    }
}

/* ------------------------------------------------------------------------ */
/* SNI                                                                       */
/* ------------------------------------------------------------------------ */

/* 2: host equals pattern (ASCII case ignored); 1: pattern "*.rest" and host
 * is one non-empty label followed by ".rest"; 0: no match. */
static int sni_match(const char *pattern, const char *host, size_t len)
{
    size_t plen = strlen(pattern);
    if (plen == len && strncasecmp(pattern, host, len) == 0)
        return 2;
    if (plen > 2 && pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = memchr(host, '.', len);
        if (dot && dot != host && (size_t)(host + len - dot) == plen - 1 &&
            strncasecmp(dot, pattern + 1, plen - 1) == 0)
            return 1;
    }
    return 0;
}

unsigned hz_tls_sni_pick(const char *const *names, unsigned n, const char *host, size_t len)
{
    unsigned best = 0;
    int best_score = 0;
    if (!names || !host)
        return 0;
    for (unsigned i = 0; i < n; i++) {
        if (!names[i])
            continue;
        int score = sni_match(names[i], host, len);
        if (score > best_score) {
            best = i;
            best_score = score;
        }
    }
    return best;
}

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                 */
/* ------------------------------------------------------------------------ */

struct hz_tls_snap {                     /* owner: shared by its holders (refs) */
    atomic_uint refs;                    /* one per holder: a store, a session, a builder */
    hz_allocator a;                      /* copied; its ctx outlives the snapshot */
    hz_tls_snap_fini fini;               /* borrowed: static; NULL: no backend cleanup */
    size_t size;                         /* bytes of the whole block */
    void *data;                          /* borrowed: points into this block */
    const char **alpn;                   /* borrowed: into this block; NULL: ALPN off */
    unsigned ncerts;                     /* entries of names in use */
    const char *names[HZ_TLS_MAX_CERTS]; /* borrowed: into this block; NULL: no name */
};

#define SNAP_ALIGN alignof(max_align_t)
#define ROUND_UP(n) (((n) + SNAP_ALIGN - 1) & ~(SNAP_ALIGN - 1))

int hz_tls_snap_create(hz_tls_snap **out, const hz_tls_config *cfg, unsigned caps, size_t data_size,
                       hz_tls_snap_fini fini, const hz_allocator *a)
{
    if (!out)
        return HZ_EINVAL;
    *out = NULL;
    if (!a)
        a = &hz_allocator_default;
    int rc = hz_allocator_check(a);
    if (rc < 0 || (rc = hz_tls_config_check(cfg, caps)) < 0)
        return rc;
    const char *alpn = cfg->alpn ? cfg->alpn : "http/1.1";
    size_t nalpn = alpn[0] ? alpn_count(alpn) : 0;
    size_t alpn_len = nalpn ? strlen(alpn) + 1 : 0;
    size_t strs = alpn_len;
    for (unsigned i = 0; i < cfg->ncerts; i++)
        if (cfg->certs[i].sni_host)
            strs += strlen(cfg->certs[i].sni_host) + 1;
    /* header | ALPN pointers | backend data | strings */
    size_t ptr_off = ROUND_UP(sizeof(hz_tls_snap));
    size_t data_off = ROUND_UP(ptr_off + (nalpn ? (nalpn + 1) * sizeof(char *) : 0));
    if (data_size > SIZE_MAX / 2 || strs > SIZE_MAX / 4)
        return HZ_ENOMEM;
    size_t str_off = data_off + ROUND_UP(data_size);
    size_t size = str_off + strs;
    char *blk = hz__calloc(a, size);
    if (!blk)
        return HZ_ENOMEM;
    hz_tls_snap *s = (hz_tls_snap *)(void *)blk;
    atomic_init(&s->refs, 1);
    s->a = *a;
    s->fini = fini;
    s->size = size;
    s->data = blk + data_off;
    s->ncerts = cfg->ncerts;
    char *str = blk + str_off;
    for (unsigned i = 0; i < cfg->ncerts; i++) {
        const char *h = cfg->certs[i].sni_host;
        if (!h)
            continue;
        size_t n = strlen(h) + 1;
        memcpy(str, h, n);
        s->names[i] = str;
        str += n;
    }
    if (nalpn) {
        /* "h2,http/1.1" -> {"h2", "http/1.1", NULL}; the check above
         * guarantees every name is 1..255 bytes. */
        s->alpn = (const char **)(void *)(blk + ptr_off);
        memcpy(str, alpn, alpn_len);
        size_t k = 0;
        for (char *p = str;;) {
            s->alpn[k++] = p;
            char *comma = strchr(p, ',');
            if (!comma)
                break;
            *comma = '\0';
            p = comma + 1;
        }
        s->alpn[k] = NULL;
    }
    *out = s;
    return 0;
}

void *hz_tls_snap_data(const hz_tls_snap *snap)
{
    return snap->data;
}

void hz_tls_snap_ref(hz_tls_snap *snap)
{
    atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
}

void hz_tls_snap_release(hz_tls_snap *snap)
{
    if (!snap || atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (snap->fini)
        snap->fini(snap, snap->data);
    hz_allocator a = snap->a;
    hz__free(&a, snap, snap->size);
}

unsigned hz_tls_snap_sni_pick(const hz_tls_snap *snap, const char *host, size_t len)
{
    return hz_tls_sni_pick(snap->names, snap->ncerts, host, len);
}

const char *const *hz_tls_snap_alpn(const hz_tls_snap *snap)
{
    return snap->alpn;
}

const char *hz_tls_snap_alpn_select(const hz_tls_snap *snap, const unsigned char *offer, size_t len)
{
    if (!snap->alpn || !offer)
        return NULL;
    for (const char *const *ours = snap->alpn; *ours; ours++) {
        size_t n = strlen(*ours);
        for (size_t k = 0; k < len && k + 1u + offer[k] <= len; k += 1u + offer[k])
            if (offer[k] == n && memcmp(offer + k + 1, *ours, n) == 0)
                return *ours;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The store: current snapshot + reload swap                                 */
/* ------------------------------------------------------------------------ */

struct hz_tls_store {     /* owner: a backend's TLS context */
    hz_allocator a;       /* copied; its ctx outlives the store */
    pthread_mutex_t lock; /* guards cur: get() vs swap() */
    hz_tls_snap *cur;     /* owns one reference */
};

int hz_tls_store_create(hz_tls_store **out, hz_tls_snap *first, const hz_allocator *a)
{
    if (!out)
        return HZ_EINVAL;
    *out = NULL;
    if (!first)
        return HZ_EINVAL;
    if (!a)
        a = &hz_allocator_default;
    int rc = hz_allocator_check(a);
    if (rc < 0)
        return rc;
    hz_tls_store *st = hz__calloc(a, sizeof(*st));
    if (!st)
        return HZ_ENOMEM;
    if (pthread_mutex_init(&st->lock, NULL) != 0) {
        hz__free(a, st, sizeof(*st));
        return HZ_ESYS;
    }
    st->a = *a;
    st->cur = first;
    *out = st;
    return 0;
}

hz_tls_snap *hz_tls_store_get(hz_tls_store *st)
{
    pthread_mutex_lock(&st->lock);
    hz_tls_snap *s = st->cur;
    hz_tls_snap_ref(s); /* cur holds a reference: never 0 here */
    pthread_mutex_unlock(&st->lock);
    return s;
}

void hz_tls_store_swap(hz_tls_store *st, hz_tls_snap *snap)
{
    pthread_mutex_lock(&st->lock);
    hz_tls_snap *old = st->cur;
    st->cur = snap;
    pthread_mutex_unlock(&st->lock);
    hz_tls_snap_release(old); /* outside the lock: fini may be slow */
}

void hz_tls_store_destroy(hz_tls_store *st)
{
    if (!st)
        return;
    hz_tls_snap_release(st->cur);
    pthread_mutex_destroy(&st->lock);
    hz_allocator a = st->a;
    hz__free(&a, st, sizeof(*st));
}
