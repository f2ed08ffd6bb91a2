/* test_config_size.c - the size-prefixed config structs (docs/abi.md): a
 * caller built against an older, smaller struct gets the defaults for the
 * fields it does not have, and a size no header ever had is refused. The
 * same for hz_metrics, which the library fills and reads by the caller's
 * size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "internal.h"
#include "loop.h"
#include "metrics.h"

/* The first release's sizes: each struct through its last field of 0.2.
 * They must never change (docs/abi.md); a field added later is past them. */
#define MIN_CONFIG HZ__SIZE_THROUGH(hz_config, access_log_ud)
#define MIN_TLS HZ__SIZE_THROUGH(hz_tls_config, alpn)
#define MIN_ROUTE HZ__SIZE_THROUGH(hz_route_opts, body_limit)
#define MIN_LISTENER HZ__SIZE_THROUGH(hz_listener_config, protocols)
#define MIN_STATIC HZ__SIZE_THROUGH(hz_static_config, cache_control)
#define MIN_POOL HZ__SIZE_THROUGH(hz_executor_pool_options, on_shutdown)

/* Sizes no caller can have: too small for the first release, or larger
 * than this library's struct (a newer header), or garbage. */
static size_t bad_sizes(size_t min, size_t full, size_t out[6])
{
    out[0] = 0;
    out[1] = sizeof(size_t);
    out[2] = min - 1;
    out[3] = full + 1;
    out[4] = full * 16;
    out[5] = SIZE_MAX;
    return 6;
}

/* ------------------------------------------------------------------------ */
/* The mechanism, on a struct that has grown since its first release         */
/* ------------------------------------------------------------------------ */

typedef struct v2cfg {
    size_t size;
    unsigned a;       /* first release */
    const char *b;    /* first release (last field: V1_SIZE ends here) */
    unsigned later;   /* appended in a later release */
    int later_signed; /* appended in a later release */
} v2cfg;

#define V1_SIZE HZ__SIZE_THROUGH(v2cfg, b)

static const v2cfg v2_defaults = {sizeof(v2cfg), 1, "dflt", 7, -1};

Test(config_size, an_older_caller_gets_defaults_for_fields_it_does_not_have)
{
    /* The older caller's struct ends at V1_SIZE; what lies beyond it in
     * memory is not the caller's (garbage here). */
    unsigned char mem[sizeof(v2cfg)];
    memset(mem, 0xab, sizeof(mem));
    hz__cfg_init(mem, V1_SIZE, &v2_defaults, sizeof(v2cfg));
    for (size_t i = V1_SIZE; i < sizeof(mem); i++)
        cr_assert_eq(mem[i], 0xab, "init wrote byte %zu past the caller's struct", i);
    v2cfg *old = (v2cfg *)mem;
    cr_assert_eq(old->size, V1_SIZE);
    cr_assert_eq(old->a, 1);
    old->a = 5;

    v2cfg full = v2_defaults;
    cr_assert_eq(hz__cfg_import(&full, sizeof(full), mem, V1_SIZE), 0);
    cr_assert_eq(full.size, sizeof(v2cfg));
    cr_assert_eq(full.a, 5, "the caller's field is taken");
    cr_assert_str_eq(full.b, "dflt");
    cr_assert_eq(full.later, 7, "a field the caller lacks keeps its default");
    cr_assert_eq(full.later_signed, -1);
}

Test(config_size, a_current_caller_is_read_whole)
{
    v2cfg c;
    hz__cfg_init(&c, sizeof(c), &v2_defaults, sizeof(v2cfg));
    c.later = 99;
    v2cfg full = v2_defaults;
    cr_assert_eq(hz__cfg_import(&full, sizeof(full), &c, V1_SIZE), 0);
    cr_assert_eq(full.later, 99);
}

Test(config_size, impossible_sizes_are_refused_and_leave_the_defaults)
{
    size_t bad[6];
    size_t n = bad_sizes(V1_SIZE, sizeof(v2cfg), bad);
    for (size_t i = 0; i < n; i++) {
        v2cfg c = v2_defaults;
        c.size = bad[i];
        c.a = 5;
        v2cfg full = v2_defaults;
        cr_assert_eq(hz__cfg_import(&full, sizeof(full), &c, V1_SIZE), HZ_EINVAL, "size %zu",
                     bad[i]);
        cr_assert_eq(full.a, 1, "nothing copied for size %zu", bad[i]);
    }
}

/* ------------------------------------------------------------------------ */
/* Every public config struct and the calls that read it                     */
/* ------------------------------------------------------------------------ */

/* Each init writes exactly the caller's size: a struct from an older
 * header is never overrun. */
#define EXPECT_INIT_BOUNDED(type, init_sized, min)                                                 \
    do {                                                                                           \
        unsigned char mem[sizeof(type) + 16];                                                      \
        memset(mem, 0xab, sizeof(mem));                                                            \
        init_sized((type *)(void *)mem, (min));                                                    \
        for (size_t i_ = (min); i_ < sizeof(mem); i_++)                                            \
            cr_assert_eq(mem[i_], 0xab, #init_sized " wrote byte %zu of %zu", i_, (size_t)(min));  \
        size_t got_;                                                                               \
        memcpy(&got_, mem, sizeof(got_));                                                          \
        cr_assert_eq(got_, (min));                                                                 \
        type full_;                                                                                \
        init_sized(&full_, sizeof(full_));                                                         \
        cr_assert_eq(full_.size, sizeof(type));                                                    \
        cr_assert_eq(memcmp(mem + sizeof(size_t), (unsigned char *)&full_ + sizeof(size_t),        \
                            (min) - sizeof(size_t)),                                               \
                     0, "the defaults of the fields that fit");                                    \
    } while (0)

Test(config_size, init_functions_write_only_the_callers_size)
{
    cr_assert_leq(MIN_CONFIG, sizeof(hz_config));
    EXPECT_INIT_BOUNDED(hz_config, hz_config_init_sized, MIN_CONFIG);
    EXPECT_INIT_BOUNDED(hz_tls_config, hz_tls_config_init_sized, MIN_TLS);
    EXPECT_INIT_BOUNDED(hz_route_opts, hz_route_opts_init_sized, MIN_ROUTE);
    EXPECT_INIT_BOUNDED(hz_static_config, hz_static_config_init_sized, MIN_STATIC);
    EXPECT_INIT_BOUNDED(hz_executor_pool_options, hz_executor_pool_options_init_sized, MIN_POOL);
    /* the inline wrappers record the header's sizeof */
    hz_config c;
    hz_config_init(&c);
    cr_assert_eq(c.size, sizeof(c));
    hz_route_opts o;
    hz_route_opts_init(&o);
    cr_assert_eq(o.size, sizeof(o));
}

/* An older caller's hz_config: size = the first release's, the memory past
 * it garbage. The server must run on the defaults for everything past it. */
Test(config_size, server_create_takes_defaults_past_an_older_callers_size)
{
    unsigned char mem[sizeof(hz_config)];
    memset(mem, 0xab, sizeof(mem));
    hz_config_init_sized((hz_config *)(void *)mem, MIN_CONFIG);
    hz_config *old = (hz_config *)(void *)mem;
    old->loops = 1;
    old->max_pipelined = 3;
    hz_server *srv = NULL;
    cr_assert_eq(hz_server_create(&srv, old), 0);
    hz_config def;
    hz_config_init(&def);
    cr_assert_eq(srv->cfg.size, sizeof(hz_config));
    cr_assert_eq(srv->cfg.loops, 1);
    cr_assert_eq(srv->cfg.max_pipelined, 3);
    cr_assert_eq(memcmp((unsigned char *)&srv->cfg + MIN_CONFIG, (unsigned char *)&def + MIN_CONFIG,
                        sizeof(hz_config) - MIN_CONFIG),
                 0, "fields past the caller's size have their defaults");
    hz_server_destroy(srv);
}

Test(config_size, server_create_refuses_impossible_sizes)
{
    size_t bad[6];
    size_t n = bad_sizes(MIN_CONFIG, sizeof(hz_config), bad);
    for (size_t i = 0; i < n; i++) {
        hz_config cfg;
        hz_config_init(&cfg);
        cfg.loops = 1;
        cfg.size = bad[i];
        hz_server *srv = (hz_server *)&cfg; /* must be reset to NULL */
        cr_assert_eq(hz_server_create(&srv, &cfg), HZ_EINVAL, "size %zu", bad[i]);
        cr_assert_null(srv);
    }
}

static void h_nop(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    hz_res_send(res, 204, NULL, 0);
}

Test(config_size, route_options_by_size)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    size_t bad[6];
    size_t n = bad_sizes(MIN_ROUTE, sizeof(hz_route_opts), bad);
    for (size_t i = 0; i < n; i++) {
        hz_route_opts o;
        hz_route_opts_init(&o);
        o.size = bad[i];
        cr_assert_eq(hz_route_with(srv, "GET", "/bad", h_nop, NULL, &o), HZ_EINVAL, "size %zu",
                     bad[i]);
    }
    cr_assert_null(srv->routes, "a refused route leaves nothing behind");
    unsigned char mem[sizeof(hz_route_opts)];
    memset(mem, 0xab, sizeof(mem));
    hz_route_opts_init_sized((hz_route_opts *)(void *)mem, MIN_ROUTE);
    ((hz_route_opts *)(void *)mem)->flags = HZ_ROUTE_INLINE;
    cr_assert_eq(hz_route_with(srv, "GET", "/old", h_nop, NULL, (hz_route_opts *)(void *)mem), 0);
    cr_assert_not_null(srv->routes);
    cr_assert_eq(srv->routes->flags, HZ_ROUTE_INLINE);
    cr_assert_eq(srv->routes->body_limit, 0);
    hz_server_destroy(srv);
}

/* A TLS backend that records the configuration the core hands it. */
static hz_tls_config seen_tls;
static int seen_calls;

static int rec_ctx_create(hz_tls_ctx **out, const hz_tls_config *cfg, const hz_allocator *a)
{
    (void)a;
    seen_tls = *cfg;
    seen_calls++;
    *out = NULL;
    return HZ_ENOTSUP; /* nothing to tear down */
}

static const hz_tls_vt rec_tls = {
    .abi = HZ_BACKEND_ABI, .name = "record", .ctx_create = rec_ctx_create};

Test(config_size, tls_backends_see_a_whole_config_with_defaults)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.tls = &rec_tls;
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);

    size_t bad[6];
    size_t n = bad_sizes(MIN_TLS, sizeof(hz_tls_config), bad);
    for (size_t i = 0; i < n; i++) {
        hz_tls_config t;
        hz_tls_config_init(&t);
        t.size = bad[i];
        cr_assert_eq(hz_server_listen(srv, "127.0.0.1", 0, &t), HZ_EINVAL, "size %zu", bad[i]);
    }
    cr_assert_eq(seen_calls, 0, "refused before the backend is called");

    unsigned char mem[sizeof(hz_tls_config)];
    memset(mem, 0xab, sizeof(mem));
    hz_tls_config_init_sized((hz_tls_config *)(void *)mem, MIN_TLS);
    ((hz_tls_config *)(void *)mem)->min_version = HZ_TLS_V1_3;
    cr_assert_eq(hz_server_listen(srv, "127.0.0.1", 0, (hz_tls_config *)(void *)mem), HZ_ENOTSUP);
    cr_assert_eq(seen_calls, 1);
    cr_assert_eq(seen_tls.size, sizeof(hz_tls_config));
    cr_assert_eq(seen_tls.min_version, HZ_TLS_V1_3);
    /* The default list; a listener serving HTTP/2 (the TLS default when
     * built with it) offers h2 first. */
    cr_assert_str_eq(seen_tls.alpn, HZ_HAVE_HTTP2 ? "h2,http/1.1" : "http/1.1");
    hz_tls_config def;
    hz_tls_config_init(&def);
    cr_assert_eq(memcmp((unsigned char *)&seen_tls + MIN_TLS, (unsigned char *)&def + MIN_TLS,
                        sizeof(hz_tls_config) - MIN_TLS),
                 0);
    hz_server_destroy(srv);
}

Test(config_size, static_config_by_size)
{
    size_t bad[6];
    size_t n = bad_sizes(MIN_STATIC, sizeof(hz_static_config), bad);
    for (size_t i = 0; i < n; i++) {
        hz_static_config sc;
        hz_static_config_init(&sc);
        sc.root = ".";
        sc.size = bad[i];
        hz_static *st = (hz_static *)&sc;
        cr_assert_eq(hz_static_create(&st, &sc, NULL), HZ_EINVAL, "size %zu", bad[i]);
        cr_assert_null(st);
    }
    unsigned char mem[sizeof(hz_static_config)];
    memset(mem, 0xab, sizeof(mem));
    hz_static_config_init_sized((hz_static_config *)(void *)mem, MIN_STATIC);
    ((hz_static_config *)(void *)mem)->root = ".";
    hz_static *st = NULL;
    cr_assert_eq(hz_static_create(&st, (hz_static_config *)(void *)mem, NULL), 0);
    hz_static_destroy(st);
}

Test(config_size, pool_options_by_size)
{
    size_t bad[6];
    size_t n = bad_sizes(MIN_POOL, sizeof(hz_executor_pool_options), bad);
    for (size_t i = 0; i < n; i++) {
        hz_executor_pool_options po;
        hz_executor_pool_options_init(&po);
        po.threads = 1;
        po.size = bad[i];
        hz_executor ex = {&hz_executor_pool_vt, &po};
        cr_assert_eq(hz_executor_pool_create(&ex, &po, NULL), HZ_EINVAL, "size %zu", bad[i]);
        cr_assert_null(ex.vt);
        cr_assert_null(ex.self);
    }
    unsigned char mem[sizeof(hz_executor_pool_options)];
    memset(mem, 0xab, sizeof(mem));
    hz_executor_pool_options_init_sized((hz_executor_pool_options *)(void *)mem, MIN_POOL);
    ((hz_executor_pool_options *)(void *)mem)->threads = 1;
    hz_executor ex;
    cr_assert_eq(hz_executor_pool_create(&ex, (hz_executor_pool_options *)(void *)mem, NULL), 0);
    ex.vt->shutdown(ex.self);
}

/* ------------------------------------------------------------------------ */
/* hz_metrics: filled and rendered by the caller's size                     */
/* ------------------------------------------------------------------------ */

/* The first release's hz_metrics ends at access_log_dropped; today's header
 * has nothing after it, so an "older caller" is simulated by the internal
 * entry points with a shorter first release: one that ended at bytes_out. */
#define MIN_METRICS HZ__SIZE_THROUGH(hz_metrics, access_log_dropped)
#define OLD_METRICS HZ__SIZE_THROUGH(hz_metrics, bytes_out)

/* A server with one loop whose counters are set by hand. */
static hz_server *metrics_server(void)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    hz__metrics *m = &srv->loops[0].metrics;
    hz__m_add(m, HZ__MS_ACCEPTED, 7);
    hz__m_add(m, HZ__MS_BYTES_OUT, 99);
    hz__m_add(m, HZ__MS_ALOG_DROPPED, 3);
    hz__m_add(m, HZ__MS_LAT + 2, 5);
    hz__m_add(m, HZ__MS_LAT_SUM, 1500000);
    return srv;
}

static void expect_untouched(const unsigned char *mem, size_t from, size_t to, const char *what)
{
    for (size_t i = from; i < to; i++)
        cr_assert_eq(mem[i], 0xab, "%s wrote byte %zu (size %zu)", what, i, from);
}

Test(config_size, metrics_first_release_is_fixed)
{
    /* 94 counters; a test of its own so a header change that moves it says so */
    cr_assert_eq(MIN_METRICS, 94 * sizeof(uint64_t));
    cr_assert_leq(MIN_METRICS, sizeof(hz_metrics));
}

Test(config_size, metrics_snapshot_writes_only_the_callers_size)
{
    hz_server *srv = metrics_server();
    unsigned char mem[sizeof(hz_metrics) + 16];
    hz_metrics *m = (hz_metrics *)(void *)mem;

    /* an older, shorter caller */
    memset(mem, 0xab, sizeof(mem));
    cr_assert_eq(hz__metrics_snapshot(srv, m, OLD_METRICS, OLD_METRICS), 0);
    expect_untouched(mem, OLD_METRICS, sizeof(mem), "snapshot");
    cr_assert_eq(m->conn_accepted, 7);
    cr_assert_eq(m->bytes_out, 99);
    cr_assert_eq(m->conn_open, 7);

    /* exactly the caller's bytes: an over-write is a heap overflow under ASan */
    hz_metrics *exact = malloc(OLD_METRICS);
    cr_assert_not_null(exact);
    cr_assert_eq(hz__metrics_snapshot(srv, exact, OLD_METRICS, OLD_METRICS), 0);
    cr_assert_eq(memcmp(exact, mem, OLD_METRICS), 0);
    free(exact);

    /* the public call at the first release's and at today's size */
    memset(mem, 0xab, sizeof(mem));
    cr_assert_eq(hz_server_metrics_sized(srv, m, MIN_METRICS), 0);
    expect_untouched(mem, MIN_METRICS, sizeof(mem), "hz_server_metrics_sized");
    cr_assert_eq(m->access_log_dropped, 3);
    memset(mem, 0xab, sizeof(mem));
    cr_assert_eq(hz_server_metrics_sized(srv, m, sizeof(hz_metrics)), 0);
    expect_untouched(mem, sizeof(hz_metrics), sizeof(mem), "hz_server_metrics_sized");

    /* the inline wrapper passes this header's size */
    hz_metrics full;
    memset(&full, 0xab, sizeof(full));
    cr_assert_eq(hz_server_metrics(srv, &full), 0);
    cr_assert_eq(memcmp(&full, mem, sizeof(full)), 0);
    cr_assert_eq(full.latency_count, 5);
    hz_server_destroy(srv);
}

Test(config_size, metrics_snapshot_refuses_impossible_sizes)
{
    hz_server *srv = metrics_server();
    size_t bad[6];
    size_t n = bad_sizes(MIN_METRICS, sizeof(hz_metrics), bad);
    unsigned char mem[sizeof(hz_metrics) + 16];
    for (size_t i = 0; i < n; i++) {
        memset(mem, 0xab, sizeof(mem));
        cr_assert_eq(hz_server_metrics_sized(srv, (hz_metrics *)(void *)mem, bad[i]), HZ_EINVAL,
                     "size %zu", bad[i]);
        expect_untouched(mem, 0, sizeof(mem), "a refused snapshot");
    }
    n = bad_sizes(OLD_METRICS, sizeof(hz_metrics), bad);
    for (size_t i = 0; i < n; i++) {
        memset(mem, 0xab, sizeof(mem));
        cr_assert_eq(hz__metrics_snapshot(srv, (hz_metrics *)(void *)mem, bad[i], OLD_METRICS),
                     HZ_EINVAL, "size %zu", bad[i]);
        expect_untouched(mem, 0, sizeof(mem), "a refused snapshot");
    }
    hz_server_destroy(srv);
}

Test(config_size, prometheus_leaves_out_what_an_older_caller_lacks)
{
    hz_server *srv = metrics_server();
    hz_metrics full;
    cr_assert_eq(hz_server_metrics(srv, &full), 0);
    static char whole[16384], old[16384];
    long nw = hz_metrics_prometheus(&full, whole, sizeof(whole));
    cr_assert_gt(nw, 0);
    cr_assert_eq(hz_metrics_prometheus_sized(&full, sizeof(full), old, sizeof(old)), nw);
    cr_assert_str_eq(old, whole, "the wrapper passes this header's size");
    cr_assert_not_null(strstr(whole, "httpz_access_log_dropped_total 3\n"));
    cr_assert_not_null(strstr(whole, "httpz_request_duration_seconds_count 5\n"));

    /* The older caller's struct: exactly its bytes (ASan sees an over-read). */
    hz_metrics *m = malloc(OLD_METRICS);
    cr_assert_not_null(m);
    memcpy(m, &full, OLD_METRICS);
    long no = hz__metrics_render(m, OLD_METRICS, OLD_METRICS, old, sizeof(old));
    free(m);
    cr_assert_gt(no, 0);
    cr_assert_eq((size_t)no, strlen(old));
    /* Everything up to bytes_out, in the same order, and nothing after it:
     * the metrics past the caller's size are absent, not 0. */
    const char *last = "httpz_sent_bytes_total 99\n";
    cr_assert_lt(no, nw);
    cr_assert_eq(memcmp(old, whole, (size_t)no), 0, "a prefix of the full text:\n%s", old);
    cr_assert_eq(strcmp(old + no - strlen(last), last), 0, "ends at bytes_out:\n%s", old);
    cr_assert_null(strstr(old, "httpz_access_log_dropped_total"));
    cr_assert_null(strstr(old, "httpz_executor_queue_depth"));
    cr_assert_null(strstr(old, "httpz_request_duration_seconds"));
    hz_server_destroy(srv);
}

Test(config_size, prometheus_refuses_impossible_sizes)
{
    hz_metrics m;
    memset(&m, 0, sizeof(m));
    size_t bad[6];
    size_t n = bad_sizes(MIN_METRICS, sizeof(hz_metrics), bad);
    char buf[16384];
    for (size_t i = 0; i < n; i++) {
        memset(buf, 'x', sizeof(buf));
        cr_assert_eq(hz_metrics_prometheus_sized(&m, bad[i], buf, sizeof(buf)), HZ_EINVAL,
                     "size %zu", bad[i]);
        cr_assert_eq(buf[0], 'x', "nothing written for size %zu", bad[i]);
    }
    n = bad_sizes(OLD_METRICS, sizeof(hz_metrics), bad);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(hz__metrics_render(&m, bad[i], OLD_METRICS, buf, sizeof(buf)), HZ_EINVAL,
                     "size %zu", bad[i]);
    cr_assert_eq(hz_metrics_prometheus_sized(NULL, sizeof(m), buf, sizeof(buf)), HZ_EINVAL);
}

Test(config_size, listener_config_by_size)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    size_t bad[6];
    size_t n = bad_sizes(MIN_LISTENER, sizeof(hz_listener_config), bad);
    for (size_t i = 0; i < n; i++) {
        hz_listener_config lc;
        hz_listener_config_init(&lc);
        lc.size = bad[i];
        cr_assert_eq(hz_server_listen_with(srv, &lc), HZ_EINVAL, "size %zu", bad[i]);
    }
    cr_assert_eq(srv->nlisteners, 0, "a refused listener leaves nothing behind");
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    lc.protocols = 1u << 7;
    cr_assert_eq(hz_server_listen_with(srv, &lc), HZ_EINVAL, "an unknown protocol bit");
    unsigned char mem[sizeof(hz_listener_config)];
    memset(mem, 0xab, sizeof(mem));
    hz_listener_config_init_sized((hz_listener_config *)(void *)mem, MIN_LISTENER);
    cr_assert_eq(hz_server_listen_with(srv, (hz_listener_config *)(void *)mem), 0);
    cr_assert_eq(srv->nlisteners, 1);
    cr_assert_gt(hz_server_port(srv, 0), 0, "port 0 (the default) binds any free port");
    cr_assert_eq(srv->listeners[0].protocols, HZ_PROTO_HTTP1, "default: HTTP/1.1");
    hz_server_destroy(srv);
}
