/* test_backend_api.c - the helpers <httpz/backend.h> offers backends:
 * allocation, the allocator check, errno mapping, the TLS config check, ALPN
 * parsing and selection, and the configuration snapshots with their reload
 * store. Public headers only, as a backend would see them. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/httpz.h>
#include <httpz/backend.h>
#include "test_alloc.h"

/* ------------------------------------------------------------------------ */
/* Allocation                                                                */
/* ------------------------------------------------------------------------ */

Test(backend_api, allocator_check)
{
    cr_assert_eq(hz_allocator_check(&hz_allocator_default), 0);
    cr_assert_eq(hz_allocator_check(NULL), HZ_EINVAL);
    hz_allocator none = {NULL, NULL};
    cr_assert_eq(hz_allocator_check(&none), HZ_EINVAL);
    hz_allocator_vt vt = hz_allocator_default_vt;
    hz_allocator a = {&vt, NULL};
    cr_assert_eq(hz_allocator_check(&a), 0);
    vt.abi = HZ_BACKEND_ABI + 1;
    cr_assert_eq(hz_allocator_check(&a), HZ_EABI);
    vt = hz_allocator_default_vt;
    vt.alloc = NULL;
    cr_assert_eq(hz_allocator_check(&a), HZ_EINVAL);
    vt = hz_allocator_default_vt;
    vt.realloc = NULL;
    cr_assert_eq(hz_allocator_check(&a), HZ_EINVAL);
    vt = hz_allocator_default_vt;
    vt.free = NULL;
    cr_assert_eq(hz_allocator_check(&a), HZ_EINVAL);
}

/* An allocator that hands out blocks full of 0xAA and records the sizes it
 * was asked for, so zero-filling and the size-0 rule can be seen. */
static size_t last_size;

static void *dirty_alloc(void *ctx, size_t size)
{
    (void)ctx;
    last_size = size;
    void *p = hz_allocator_default_vt.alloc(NULL, size);
    if (p)
        memset(p, 0xAA, size);
    return p;
}

Test(backend_api, alloc_zero_fills_and_size_zero_is_asked_as_one)
{
    hz_allocator_vt vt = hz_allocator_default_vt;
    vt.alloc = dirty_alloc;
    hz_allocator a = {&vt, NULL};
    unsigned char *p = hz_alloc_zero(&a, 64);
    cr_assert_not_null(p);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(p[i], 0, "byte %d", i);
    hz_alloc_free(&a, p, 64);
    void *q = hz_alloc(&a, 0);
    cr_assert_not_null(q);
    cr_assert_eq(last_size, 1, "allocators never see size 0");
    hz_alloc_free(&a, q, 0);
}

Test(backend_api, alloc_resize_and_free_keep_sizes_and_ownership)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    char *p = hz_alloc_resize(&ca.iface, NULL, 0, 16); /* NULL: allocates */
    cr_assert_not_null(p);
    memcpy(p, "0123456789abcdef", 16);
    p = hz_alloc_resize(&ca.iface, p, 16, 4096);
    cr_assert_not_null(p);
    cr_assert_eq(memcmp(p, "0123456789abcdef", 16), 0);
    hz_alloc_free(&ca.iface, NULL, 10); /* NULL-safe */
    hz_alloc_free(&ca.iface, p, 4096);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0);
    cr_assert_eq(atomic_load(&ca.size_mismatches), 0);

    /* A failed resize leaves the block with the caller, unchanged. */
    hz_fail_alloc_init(&ca, 2, 0);
    p = hz_alloc(&ca.iface, 8);
    cr_assert_not_null(p);
    memcpy(p, "keepme!", 8);
    cr_assert_null(hz_alloc_resize(&ca.iface, p, 8, 1 << 20));
    cr_assert_str_eq(p, "keepme!");
    cr_assert_eq(atomic_load(&ca.live_blocks), 1);
    hz_alloc_free(&ca.iface, p, 8);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0);
}

/* ------------------------------------------------------------------------ */
/* errno mapping                                                             */
/* ------------------------------------------------------------------------ */

Test(backend_api, err_from_errno_maps_at_the_boundary)
{
    static const struct {
        int err, want;
    } map[] = {
        {0, 0},
        {EAGAIN, HZ_EAGAIN},
        {EWOULDBLOCK, HZ_EAGAIN},
        {EINPROGRESS, HZ_EAGAIN},
        {ENOMEM, HZ_ENOMEM},
        {ENOBUFS, HZ_ENOMEM},
        {EINVAL, HZ_EINVAL},
        {EBADF, HZ_EINVAL},
        {EMFILE, HZ_EMFILE},
        {ENFILE, HZ_EMFILE},
        {EPIPE, HZ_ECLOSED},
        {ECONNRESET, HZ_ECLOSED},
        {ETIMEDOUT, HZ_ETIMEDOUT},
        {EADDRINUSE, HZ_EADDRINUSE},
        {EACCES, HZ_EACCES},
        {ENOSYS, HZ_ENOTSUP},
        {ELOOP, HZ_ESYS},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        cr_assert_eq(hz_err_from_errno(map[i].err), map[i].want, "errno %d: %s", map[i].err,
                     hz_err_name(hz_err_from_errno(map[i].err)));
    /* Every errno number maps to a negative code with a name; never > 0. */
    for (int e = 1; e < 256; e++) {
        int rc = hz_err_from_errno(e);
        cr_assert_lt(rc, 0, "errno %d -> %d", e, rc);
        cr_assert_str_neq(hz_strerror(rc), "unknown error", "errno %d", e);
    }
    cr_assert_eq(hz_err_from_errno(-5), HZ_ESYS, "nonsense input: the catch-all");
}

/* ------------------------------------------------------------------------ */
/* TLS configuration check                                                   */
/* ------------------------------------------------------------------------ */

static hz_tls_config one_cert(void)
{
    hz_tls_config cfg;
    hz_tls_config_init(&cfg);
    cfg.certs[0].cert_pem = "not parsed by the check";
    cfg.certs[0].key_pem = "nor this";
    cfg.ncerts = 1;
    return cfg;
}

Test(backend_api, tls_config_check_certificates)
{
    hz_tls_config cfg = one_cert();
    cr_assert_eq(hz_tls_config_check(&cfg, 0), 0);
    cr_assert_eq(hz_tls_config_check(NULL, 0), HZ_EINVAL);
    cfg.ncerts = 0;
    cr_assert_eq(hz_tls_config_check(&cfg, 0), HZ_EINVAL, "no certificate");
    cfg.ncerts = HZ_TLS_MAX_CERTS + 1;
    cr_assert_eq(hz_tls_config_check(&cfg, 0), HZ_EINVAL, "one past the limit");
    cfg = one_cert();
    for (unsigned i = 1; i < HZ_TLS_MAX_CERTS; i++)
        cfg.certs[i] = cfg.certs[0];
    cfg.ncerts = HZ_TLS_MAX_CERTS;
    cr_assert_eq(hz_tls_config_check(&cfg, 0), 0, "exactly the limit");
    cfg = one_cert();
    cfg.certs[0].cert_file = "/also/a/file";
    cr_assert_eq(hz_tls_config_check(&cfg, 0), HZ_EINVAL, "two certificate sources");
    cfg.certs[0].cert_file = cfg.certs[0].cert_pem = NULL;
    cr_assert_eq(hz_tls_config_check(&cfg, 0), HZ_EINVAL, "no certificate source");
    cfg = one_cert();
    cfg.certs[0].key_pem = NULL;
    cr_assert_eq(hz_tls_config_check(&cfg, 0), HZ_EINVAL, "no key source");
    cfg.certs[0].key_file = "k.pem";
    cr_assert_eq(hz_tls_config_check(&cfg, 0), 0, "key from a file");
    cfg.certs[0].key_pem = "and PEM";
    cr_assert_eq(hz_tls_config_check(&cfg, 0), HZ_EINVAL, "two key sources");
    cfg = one_cert();
    cfg.ncerts = 2; /* certs[1] is empty */
    cr_assert_eq(hz_tls_config_check(&cfg, 0), HZ_EINVAL, "every entry in use is checked");
}

Test(backend_api, tls_config_check_versions_follow_the_caps)
{
    hz_tls_config cfg = one_cert();
    cfg.min_version = 0;
    cr_assert_eq(hz_tls_config_check(&cfg, 0), 0);
    cfg.min_version = HZ_TLS_V1_2;
    cr_assert_eq(hz_tls_config_check(&cfg, 0), 0);
    cfg.min_version = HZ_TLS_V1_3;
    cr_assert_eq(hz_tls_config_check(&cfg, 0), HZ_ENOTSUP);
    cr_assert_eq(hz_tls_config_check(&cfg, HZ_TLS_CAP_TLS13), 0);
    cfg.min_version = 0x0301; /* TLS 1.0: never */
    cr_assert_eq(hz_tls_config_check(&cfg, HZ_TLS_CAP_TLS13), HZ_EINVAL);
}

Test(backend_api, tls_config_check_ticket_lifetime)
{
    hz_tls_config cfg = one_cert();
    cr_assert_eq(cfg.no_tickets, 0, "tickets on by default");
    cr_assert_eq(cfg.ticket_lifetime, 0, "0 means HZ_TLS_TICKET_LIFETIME_DEFAULT");
    cfg.ticket_lifetime = HZ_TLS_TICKET_LIFETIME_MAX;
    cr_assert_eq(hz_tls_config_check(&cfg, 0), 0, "exactly seven days");
    cfg.ticket_lifetime = HZ_TLS_TICKET_LIFETIME_MAX + 1;
    cr_assert_eq(hz_tls_config_check(&cfg, 0), HZ_EINVAL, "one second past RFC 8446's limit");
    cfg.ticket_lifetime = 1;
    cfg.no_tickets = 1;
    cr_assert_eq(hz_tls_config_check(&cfg, 0), 0);
}

Test(backend_api, tls_config_check_alpn_syntax)
{
    char n255[256], n256[257], list[600];
    memset(n255, 'a', 255);
    n255[255] = '\0';
    memset(n256, 'b', 256);
    n256[256] = '\0';
    static const struct {
        const char *alpn;
        int want;
    } cases[] = {
        {NULL, 0},
        {"", 0},
        {"h2", 0},
        {"h2,http/1.1", 0},
        {",h2", HZ_EINVAL},
        {"h2,", HZ_EINVAL},
        {"h2,,http/1.1", HZ_EINVAL},
        {",", HZ_EINVAL},
    };
    hz_tls_config cfg = one_cert();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cfg.alpn = cases[i].alpn;
        cr_assert_eq(hz_tls_config_check(&cfg, 0), cases[i].want, "alpn \"%s\"",
                     cases[i].alpn ? cases[i].alpn : "(null)");
    }
    cfg.alpn = n255;
    cr_assert_eq(hz_tls_config_check(&cfg, 0), 0, "255 bytes: the longest name");
    cfg.alpn = n256;
    cr_assert_eq(hz_tls_config_check(&cfg, 0), HZ_EINVAL, "256 bytes: one too many");
    snprintf(list, sizeof(list), "h2,%s", n256);
    cfg.alpn = list;
    cr_assert_eq(hz_tls_config_check(&cfg, 0), HZ_EINVAL, "a long name after a good one");
}

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct bdata { /* a backend's snapshot data */
    long marker;
    double align_me;
} bdata;

static atomic_int finis;
static void *fini_data;

static void count_fini(hz_tls_snap *s, void *data)
{
    cr_assert_eq(hz_tls_snap_data(s), data);
    fini_data = data;
    atomic_fetch_add(&finis, 1);
}

static hz_tls_snap *make_snap(const hz_tls_config *cfg, const hz_allocator *a)
{
    hz_tls_snap *s = (hz_tls_snap *)&s; /* garbage: must be set */
    int rc = hz_tls_snap_create(&s, cfg, 0, sizeof(bdata), count_fini, a);
    cr_assert_eq(rc, 0, "%s", hz_err_name(rc));
    cr_assert_not_null(s);
    return s;
}

static void expect_alpn(const hz_tls_snap *s, const char *const *want)
{
    const char *const *got = hz_tls_snap_alpn(s);
    if (!want) {
        cr_assert_null(got);
        return;
    }
    cr_assert_not_null(got);
    size_t i = 0;
    for (; want[i]; i++) {
        cr_assert_not_null(got[i], "entry %zu missing", i);
        cr_assert_str_eq(got[i], want[i]);
    }
    cr_assert_null(got[i], "extra entries");
}

Test(backend_api, snap_parses_alpn_and_copies_the_config)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    atomic_store(&finis, 0);
    hz_tls_config cfg = one_cert();
    char list[] = "h2,http/1.1";
    char host[] = "www.example.com";
    cfg.alpn = list;
    cfg.certs[1] = cfg.certs[0];
    cfg.certs[1].sni_host = host;
    cfg.ncerts = 2;
    hz_tls_snap *s = make_snap(&cfg, &ca.iface);
    /* The snapshot owns copies: the caller's strings may change. */
    memset(list, 'x', sizeof(list) - 1);
    memset(host, 'y', sizeof(host) - 1);
    expect_alpn(s, (const char *const[]){"h2", "http/1.1", NULL});
    cr_assert_eq(hz_tls_snap_sni_pick(s, "www.example.com", 15), 1);
    cr_assert_eq(hz_tls_snap_sni_pick(s, "other.test", 10), 0);
    /* The data block: zeroed, aligned for any object, writable. */
    bdata *d = hz_tls_snap_data(s);
    cr_assert_eq((uintptr_t)d % alignof(max_align_t), 0);
    cr_assert_eq(d->marker, 0);
    d->marker = 42;
    hz_tls_snap_release(s);
    cr_assert_eq(atomic_load(&finis), 1);
    cr_assert_eq(fini_data, d);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0);
    cr_assert_eq(atomic_load(&ca.size_mismatches), 0);

    cfg.certs[1].sni_host = NULL;
    cfg.alpn = NULL; /* the default */
    s = make_snap(&cfg, &ca.iface);
    expect_alpn(s, (const char *const[]){"http/1.1", NULL});
    hz_tls_snap_release(s);
    cfg.alpn = ""; /* off */
    s = make_snap(&cfg, &ca.iface);
    expect_alpn(s, NULL);
    hz_tls_snap_release(s);
    hz_tls_config_init(&cfg); /* hz_tls_config_init's default: "http/1.1" */
    cfg.certs[0] = one_cert().certs[0];
    cfg.ncerts = 1;
    s = make_snap(&cfg, NULL); /* NULL: the default allocator */
    expect_alpn(s, (const char *const[]){"http/1.1", NULL});
    hz_tls_snap_release(s);
    hz_tls_snap_release(NULL);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0);
}

Test(backend_api, snap_create_refuses_bad_input_without_allocating)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    hz_tls_config cfg = one_cert();
    hz_tls_snap *s = (hz_tls_snap *)&s;
    cfg.alpn = "h2,";
    cr_assert_eq(hz_tls_snap_create(&s, &cfg, 0, 8, NULL, &ca.iface), HZ_EINVAL);
    cr_assert_null(s);
    cfg = one_cert();
    cfg.min_version = HZ_TLS_V1_3;
    cr_assert_eq(hz_tls_snap_create(&s, &cfg, 0, 8, NULL, &ca.iface), HZ_ENOTSUP);
    cr_assert_eq(hz_tls_snap_create(NULL, &cfg, 0, 8, NULL, &ca.iface), HZ_EINVAL);
    hz_allocator_vt vt = hz_allocator_default_vt;
    vt.abi++;
    hz_allocator bad = {&vt, NULL};
    cfg = one_cert();
    cr_assert_eq(hz_tls_snap_create(&s, &cfg, 0, 8, NULL, &bad), HZ_EABI);
    cr_assert_eq(hz_tls_snap_create(&s, &cfg, 0, SIZE_MAX, NULL, &ca.iface), HZ_ENOMEM);
    cr_assert_eq(atomic_load(&ca.calls), 0);
}

Test(backend_api, snap_and_store_under_allocation_failure)
{
    hz_count_alloc ca;
    hz_tls_config cfg = one_cert();
    atomic_store(&finis, 0);
    hz_fail_alloc_init(&ca, 1, 1);
    hz_tls_snap *s = (hz_tls_snap *)&s;
    cr_assert_eq(hz_tls_snap_create(&s, &cfg, 0, 8, count_fini, &ca.iface), HZ_ENOMEM);
    cr_assert_null(s);
    cr_assert_eq(atomic_load(&finis), 0, "fini only runs on data it was given");
    /* The store fails to allocate: the caller keeps its reference. */
    hz_fail_alloc_init(&ca, 2, 0);
    s = make_snap(&cfg, &ca.iface);
    hz_tls_store *st = (hz_tls_store *)&st;
    cr_assert_eq(hz_tls_store_create(&st, s, &ca.iface), HZ_ENOMEM);
    cr_assert_null(st);
    cr_assert_eq(atomic_load(&finis), 0);
    hz_tls_snap_release(s);
    cr_assert_eq(atomic_load(&finis), 1);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0);
    cr_assert_eq(hz_tls_store_create(&st, NULL, &ca.iface), HZ_EINVAL);
    cr_assert_eq(hz_tls_store_create(NULL, s, &ca.iface), HZ_EINVAL);
}

Test(backend_api, alpn_select_prefers_our_order)
{
    hz_tls_config cfg = one_cert();
    cfg.alpn = "h2,http/1.1";
    hz_tls_snap *s = make_snap(&cfg, NULL);
    static const unsigned char both[] = "\x08http/1.1\x02h2";
    static const unsigned char h11[] = "\x08http/1.1";
    static const unsigned char other[] = "\x06spdy/3\x03h2c";
    static const unsigned char tail[] = "\x02h2\x09http/1.1"; /* 2nd length runs past the end */
    static const unsigned char prefix[] = "\x01h";            /* "h" is not "h2" */
    cr_assert_str_eq(hz_tls_snap_alpn_select(s, both, sizeof(both) - 1), "h2");
    cr_assert_str_eq(hz_tls_snap_alpn_select(s, h11, sizeof(h11) - 1), "http/1.1");
    cr_assert_null(hz_tls_snap_alpn_select(s, other, sizeof(other) - 1));
    cr_assert_str_eq(hz_tls_snap_alpn_select(s, tail, sizeof(tail) - 1), "h2");
    cr_assert_null(hz_tls_snap_alpn_select(s, tail + 3, sizeof(tail) - 4), "malformed: ignored");
    cr_assert_null(hz_tls_snap_alpn_select(s, prefix, sizeof(prefix) - 1));
    cr_assert_null(hz_tls_snap_alpn_select(s, both, 0));
    cr_assert_null(hz_tls_snap_alpn_select(s, NULL, 4));
    hz_tls_snap_release(s);
    cfg.alpn = "";
    s = make_snap(&cfg, NULL);
    cr_assert_null(hz_tls_snap_alpn_select(s, both, sizeof(both) - 1), "ALPN off");
    hz_tls_snap_release(s);
}

Test(backend_api, store_swap_keeps_a_snapshot_until_its_last_session)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    atomic_store(&finis, 0);
    hz_tls_config cfg = one_cert();
    hz_tls_snap *first = make_snap(&cfg, &ca.iface);
    hz_tls_store *st;
    cr_assert_eq(hz_tls_store_create(&st, first, &ca.iface), 0);
    hz_tls_snap *sess = hz_tls_store_get(st); /* a session on the first config */
    cr_assert_eq(sess, first);
    hz_tls_snap *second = make_snap(&cfg, &ca.iface);
    hz_tls_store_swap(st, second);
    cr_assert_eq(atomic_load(&finis), 0, "a session still holds the first");
    hz_tls_snap *sess2 = hz_tls_store_get(st);
    cr_assert_eq(sess2, second, "new sessions get the new snapshot");
    hz_tls_snap_release(sess);
    cr_assert_eq(atomic_load(&finis), 1, "freed with its last session");
    hz_tls_snap_ref(sess2);
    hz_tls_snap_release(sess2);
    hz_tls_store_destroy(st);
    cr_assert_eq(atomic_load(&finis), 1, "sess2 still holds the second");
    hz_tls_snap_release(sess2);
    cr_assert_eq(atomic_load(&finis), 2);
    hz_tls_store_destroy(NULL);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0);
    cr_assert_eq(atomic_load(&ca.size_mismatches), 0);
}

/* Sessions on several threads take and drop the current snapshot while the
 * main thread reloads: every snapshot is finished exactly once, none while
 * held (a held snapshot's marker is checked after use), nothing leaks. */
enum { GETTERS = 3, SWAPS = 300 };
static hz_tls_store *race_store;
static atomic_int race_stop;
static atomic_int race_bad;
static atomic_long race_gets;

static void *getter(void *arg)
{
    (void)arg;
    while (!atomic_load(&race_stop)) {
        hz_tls_snap *s = hz_tls_store_get(race_store);
        bdata *d = hz_tls_snap_data(s);
        if (d->marker != 7)
            atomic_fetch_add(&race_bad, 1);
        hz_tls_snap_release(s);
        atomic_fetch_add(&race_gets, 1);
    }
    return NULL;
}

static void mark_fini(hz_tls_snap *s, void *data)
{
    (void)s;
    ((bdata *)data)->marker = -1;
    atomic_fetch_add(&finis, 1);
}

static hz_tls_snap *marked_snap(const hz_allocator *a)
{
    hz_tls_config cfg = one_cert();
    hz_tls_snap *s;
    cr_assert_eq(hz_tls_snap_create(&s, &cfg, 0, sizeof(bdata), mark_fini, a), 0);
    ((bdata *)hz_tls_snap_data(s))->marker = 7;
    return s;
}

Test(backend_api, store_get_races_swap, .timeout = 60)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    atomic_store(&finis, 0);
    atomic_store(&race_stop, 0);
    atomic_store(&race_bad, 0);
    cr_assert_eq(hz_tls_store_create(&race_store, marked_snap(&ca.iface), &ca.iface), 0);
    pthread_t th[GETTERS];
    for (int i = 0; i < GETTERS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, getter, NULL), 0);
    for (int i = 0; i < SWAPS; i++) {
        /* Let the sessions run between reloads, or the swaps could all be
         * over before a getter thread started. */
        long target = atomic_load(&race_gets) + GETTERS;
        while (atomic_load(&race_gets) < target)
            sched_yield();
        hz_tls_store_swap(race_store, marked_snap(&ca.iface));
    }
    atomic_store(&race_stop, 1);
    for (int i = 0; i < GETTERS; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&race_bad), 0, "a session saw a finished snapshot");
    cr_assert_eq(atomic_load(&finis), SWAPS);
    hz_tls_store_destroy(race_store);
    cr_assert_eq(atomic_load(&finis), SWAPS + 1);
    cr_assert_eq(atomic_load(&ca.live_blocks), 0);
}
