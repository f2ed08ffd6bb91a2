/* test_compress.c - response compression end to end (core/http/compress.c,
 * docs/compression.md): raw requests whose bodies are decompressed (zlib,
 * libbrotlidec when found) and compared byte for byte, and libcurl with
 * every coding it knows (curl --compressed). Whole bodies, streams,
 * sources of known and unknown length, HEAD, 304, 206, bodies below the
 * minimum, types and fields that forbid it, per-route and per-response
 * switches, an executor handler, backpressure with a reader that stalls,
 * precompressed static siblings (fresh and stale, ranges, HEAD, 304) and
 * the memory one compressing connection takes. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <zlib.h>
#include <httpz/backend.h>
#include "itest.h"
#include "test_alloc.h"
#if HZ_TEST_BROTLI
#include <brotli/decode.h>
#include <brotli/encode.h>
#endif

#define IO_MS 10000

/* ---- bodies and decoders ----------------------------------------------------- */

/* n bytes of word salad: compressible, but not trivially (about 3:1). */
static char *text(size_t n, unsigned seed)
{
    static const char *w[] = {"alpha ", "beta ",  "gamma ", "delta ", "epsilon ", "zeta ",
                              "eta ",   "theta ", "iota ",  "kappa ", "lambda ",  "mu\n"};
    char *p = malloc(n + 1);
    size_t i = 0;
    unsigned x = seed * 2654435761u + 1;
    while (i < n) {
        x = x * 1103515245u + 12345u;
        const char *s = w[(x >> 16) % 12];
        size_t l = strlen(s);
        if (x % 7 == 0) { /* a number now and then */
            char num[16];
            l = (size_t)snprintf(num, sizeof(num), "%u ", x % 100000);
            for (size_t k = 0; k < l && i < n; k++)
                p[i++] = num[k];
            continue;
        }
        for (size_t k = 0; k < l && i < n; k++)
            p[i++] = s[k];
    }
    p[n] = 0;
    return p;
}

/* gunzip; returns the length or -1. *out malloc'd. */
static long gunzip(const void *in, size_t len, char **out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + 15) != Z_OK)
        return -1;
    size_t cap = len * 8 + 1024, n = 0;
    char *o = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    int rc;
    do {
        if (cap - n < 4096) {
            cap *= 2;
            o = realloc(o, cap);
        }
        z.next_out = (Bytef *)o + n;
        z.avail_out = (uInt)(cap - n);
        rc = inflate(&z, Z_NO_FLUSH);
        n = cap - z.avail_out;
    } while (rc == Z_OK);
    int ok = rc == Z_STREAM_END && z.avail_in == 0;
    inflateEnd(&z);
    if (!ok) {
        free(o);
        return -1;
    }
    *out = o;
    return (long)n;
}

static long unbrotli(const void *in, size_t len, char **out)
{
#if HZ_TEST_BROTLI
    BrotliDecoderState *d = BrotliDecoderCreateInstance(NULL, NULL, NULL);
    size_t cap = len * 16 + 1024;
    char *o = malloc(cap);
    const uint8_t *ip = in;
    size_t il = len, total = 0;
    BrotliDecoderResult r;
    do {
        if (cap - total < 4096) {
            cap *= 2;
            o = realloc(o, cap);
        }
        uint8_t *op = (uint8_t *)o + total;
        size_t ol = cap - total;
        r = BrotliDecoderDecompressStream(d, &il, &ip, &ol, &op, &total);
    } while (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT);
    BrotliDecoderDestroyInstance(d);
    if (r != BROTLI_DECODER_RESULT_SUCCESS || il) {
        free(o);
        return -1;
    }
    *out = o;
    return (long)total;
#else
    (void)in, (void)len, (void)out;
    return -1;
#endif
}

/* Decodes r's body by its Content-Encoding and compares it with want. */
static void expect_body(const it_resp *r, const char *coding, const char *want, size_t wl)
{
    char ce[64];
    snprintf(ce, sizeof(ce), "%s", it_header(r, "Content-Encoding"));
    cr_assert_str_eq(ce, coding, "Content-Encoding '%s', wanted '%s'", ce, coding);
    if (!*coding) {
        cr_assert_eq(r->body_len, wl);
        cr_assert(!memcmp(r->body, want, wl));
        return;
    }
    char *d = NULL;
    long n = !strcmp(coding, "gzip") ? gunzip(r->body, r->body_len, &d)
                                     : unbrotli(r->body, r->body_len, &d);
    cr_assert_eq(n, (long)wl, "decoded %ld bytes, wanted %zu", n, wl);
    cr_assert(!memcmp(d, want, wl), "decoded bytes differ");
    if (wl >= 1000)
        cr_assert_lt(r->body_len, wl, "compressed %zu bytes into %zu", wl, r->body_len);
    free(d);
}

/* ---- handlers ---------------------------------------------------------------- */

static size_t qnum(hz_req *req, const char *name, size_t def)
{
    hz_str q = hz_req_query(req);
    char v[32];
    if (q.ptr && hz_query_get(q.ptr, q.len, name, v, sizeof(v)) > 0)
        return (size_t)strtoull(v, NULL, 10);
    return def;
}

static void h_send(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    size_t n = qnum(req, "n", 20000);
    char *b = text(n, 1);
    hz_res_set_header(res, "Content-Type", "text/plain; charset=utf-8");
    hz_res_set_header(res, "ETag", "\"v1\"");
    hz_res_send(res, 200, b, n);
    free(b);
}

static void h_call(hz_req *req, hz_res *res, void *ud)
{
    hz_res_compress(res, qnum(req, "on", 1) != 0);
    h_send(req, res, ud);
}

static void h_type(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    char *b = text(5000, 1);
    const char *what = ud;
    if (!strcmp(what, "png")) {
        hz_res_set_header(res, "Content-Type", "image/png");
    } else if (!strcmp(what, "ce")) {
        hz_res_set_header(res, "Content-Type", "text/plain");
        hz_res_set_header(res, "Content-Encoding", "x-custom");
    } else if (!strcmp(what, "extra")) {
        hz_res_set_header(res, "Content-Type", "application/x-extra; v=1");
    } else if (!strcmp(what, "vary")) {
        hz_res_set_header(res, "Content-Type", "application/json");
        hz_res_set_header(res, "Vary", "Origin, accept-encoding");
    }
    hz_res_send(res, 200, b, 5000);
    free(b);
}

static void h_status(hz_req *req, hz_res *res, void *ud)
{
    (void)req, (void)ud;
    size_t st = qnum(req, "s", 304);
    hz_res_set_header(res, "ETag", "\"v1\"");
    if (st == 206) {
        char *b = text(5000, 1);
        hz_res_set_header(res, "Content-Type", "text/plain");
        hz_res_set_header(res, "Content-Range", "bytes 0-4999/10000");
        hz_res_send(res, 206, b, 5000);
        free(b);
        return;
    }
    hz_res_send(res, (int)st, NULL, 0);
}

/* A stream of n bytes in pieces of w, with backpressure through on_drain. */
typedef struct strm {
    char *body;
    size_t n, w, off;
} strm;
static atomic_long s_eagain, s_acked;

static void stream_more(hz_res *res, void *ud)
{
    strm *s = ud;
    while (s->off < s->n) {
        size_t k = s->n - s->off < s->w ? s->n - s->off : s->w;
        int rc = hz_res_write(res, s->body + s->off, k);
        if (rc == HZ_EAGAIN) {
            atomic_fetch_add(&s_eagain, 1);
            return; /* on_drain calls again */
        }
        if (rc < 0)
            return;
        s->off += k;
        atomic_store(&s_acked, (long)s->off);
    }
    hz_res_end(res);
}

static void stream_done(hz_res *res, int status, void *ud)
{
    (void)res, (void)status;
    strm *s = ud;
    free(s->body);
    free(s);
}

/* The stream's bytes: text(PAT, 2) repeated (its first PAT bytes are
 * text(n, 2) for any n <= PAT), made once before the server starts so a
 * long stream costs the handler no generation (slow under TSan). With a
 * window far below PAT the repetition does not help the compressor. */
#define PAT (1u << 20)
static char *g_pat;

static char *stream_body(size_t n)
{
    char *b = malloc(n + 1);
    for (size_t off = 0; off < n; off += PAT)
        memcpy(b + off, g_pat, n - off < PAT ? n - off : PAT);
    b[n] = 0;
    return b;
}

static void h_stream(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    strm *s = calloc(1, sizeof(*s));
    s->n = qnum(req, "n", 100000);
    s->w = qnum(req, "w", 7000);
    s->body = stream_body(s->n);
    hz_res_on_done(res, stream_done, s);
    hz_res_on_drain(res, stream_more, s);
    hz_res_set_header(res, "Content-Type", "text/plain");
    hz_res_start(res, 200);
    stream_more(res, s);
}

/* A source of n bytes, read in pieces of 5000 (length known or not). */
typedef struct gsrc {
    char *body;
    size_t n, off;
} gsrc;

static long g_read(void *ud, void *buf, size_t len)
{
    gsrc *g = ud;
    size_t k = g->n - g->off;
    if (k > len)
        k = len;
    if (k > 5000)
        k = 5000;
    memcpy(buf, g->body + g->off, k);
    g->off += k;
    return (long)k;
}

static void g_done(void *ud, int status)
{
    (void)status;
    gsrc *g = ud;
    free(g->body);
    free(g);
}

static void h_src(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    gsrc *g = calloc(1, sizeof(*g));
    g->n = qnum(req, "n", 100000);
    g->body = text(g->n, 3);
    hz_body_source src = {.read = g_read, .done = g_done, .ud = g};
    hz_res_set_header(res, "Content-Type", "application/json");
    if (hz_res_send_source(res, 200, qnum(req, "known", 1) ? (int64_t)g->n : -1, &src) < 0)
        g_done(g, 0);
}

/* ---- server ------------------------------------------------------------------ */

static hz_server *srv;
static int port;
static hz_executor exr;
static hz_count_alloc calloc_;
static hz_static *st;
static char g_dir[256];
static char *g_a, *g_b; /* the static files' contents */
#define A_LEN 30000u
#define B_LEN 20000u

static int route_flags(const char *path, hz_handler_fn fn, void *ud, unsigned flags)
{
    return it_route_flags(srv, "GET", path, fn, ud, flags);
}

static void write_file(const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static void set_mtime(const char *name, time_t t)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* gzip of p (zlib, gzip wrapper) into a malloc'd buffer. */
static size_t gz(const void *p, size_t n, unsigned char **out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    cr_assert_eq(deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, n);
    *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    z.next_out = *out;
    z.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t l = cap - z.avail_out;
    deflateEnd(&z);
    return l;
}

static unsigned char *g_agz, *g_abr;
static size_t g_agz_len, g_abr_len;

static void make_files(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/hz_compress_%d", (int)getpid());
    mkdir(g_dir, 0755);
    g_a = text(A_LEN, 4);
    g_b = text(B_LEN, 5);
    write_file("a.txt", g_a, A_LEN);
    /* the siblings hold different bytes than a plain compression would,
     * so a test can tell them from on-the-fly output: a marker line */
    g_agz_len = gz(g_a, A_LEN, &g_agz);
    write_file("a.txt.gz", g_agz, g_agz_len);
#if HZ_TEST_BROTLI
    g_abr_len = BrotliEncoderMaxCompressedSize(A_LEN);
    g_abr = malloc(g_abr_len);
    cr_assert(BrotliEncoderCompress(11, 22, BROTLI_MODE_TEXT, A_LEN, (const uint8_t *)g_a,
                                    &g_abr_len, g_abr));
    write_file("a.txt.br", g_abr, g_abr_len);
#endif
    write_file("b.txt", g_b, B_LEN);
    unsigned char *bgz;
    size_t bgz_len = gz("stale", 5, &bgz);
    write_file("b.txt.gz", bgz, bgz_len);
    free(bgz);
    time_t now = time(NULL);
    set_mtime("a.txt", now - 100);
    set_mtime("a.txt.gz", now - 50);
    if (g_abr)
        set_mtime("a.txt.br", now - 50);
    set_mtime("b.txt", now - 100);
    set_mtime("b.txt.gz", now - 200); /* older than b.txt: stale */
    write_file("p.png", g_b, B_LEN);
}

static void rm_files(void)
{
    const char *names[] = {"a.txt", "a.txt.gz", "a.txt.br", "b.txt", "b.txt.gz", "p.png"};
    char path[512];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", g_dir, names[i]);
        unlink(path);
    }
    rmdir(g_dir);
    free(g_a);
    free(g_b);
    free(g_agz);
    free(g_abr);
    g_abr = g_agz = NULL;
}

static int g_variant; /* 1: the limits suite's configuration */

static void setup_with(unsigned output_buffer)
{
    atomic_store(&s_eagain, 0);
    atomic_store(&s_acked, 0);
    hz_count_alloc_init(&calloc_);
    hz_executor_pool_options po;
    hz_executor_pool_options_init(&po);
    po.threads = 1;
    cr_assert_eq(hz_executor_pool_create(&exr, &po, NULL), 0);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.executor = &exr;
    cfg.allocator = &calloc_.iface;
    cfg.compression.types = "application/x-extra";
    if (output_buffer) { /* the stalled-reader suite */
        cfg.output_buffer = output_buffer;
        cfg.timeouts.write = 60000; /* the reader stalls on purpose */
    }
    if (g_variant) {                    /* the limits suite */
        cfg.compression.gzip_level = 0; /* gzip off: brotli only */
        cfg.compression.window_bits = 10;
    }
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    cr_assert_eq(route_flags("/send", h_send, NULL, HZ_ROUTE_COMPRESS), 0);
    cr_assert_eq(route_flags("/plain", h_send, NULL, 0), 0);
    cr_assert_eq(route_flags("/call", h_call, NULL, 0), 0);
    cr_assert_eq(route_flags("/calloff", h_call, NULL, HZ_ROUTE_COMPRESS), 0);
    cr_assert_eq(route_flags("/png", h_type, "png", HZ_ROUTE_COMPRESS), 0);
    cr_assert_eq(route_flags("/ce", h_type, "ce", HZ_ROUTE_COMPRESS), 0);
    cr_assert_eq(route_flags("/extra", h_type, "extra", HZ_ROUTE_COMPRESS), 0);
    cr_assert_eq(route_flags("/vary", h_type, "vary", HZ_ROUTE_COMPRESS), 0);
    cr_assert_eq(route_flags("/status", h_status, NULL, HZ_ROUTE_COMPRESS), 0);
    cr_assert_eq(route_flags("/stream", h_stream, NULL, HZ_ROUTE_COMPRESS), 0);
    cr_assert_eq(route_flags("/src", h_src, NULL, HZ_ROUTE_COMPRESS), 0);
    cr_assert_eq(route_flags("/worker", h_send, NULL, HZ_ROUTE_COMPRESS | HZ_ROUTE_EXECUTOR), 0);
    cr_assert_eq(route_flags("/worker-stream", h_call, NULL, HZ_ROUTE_COMPRESS | HZ_ROUTE_EXECUTOR),
                 0);
    make_files();
    g_pat = text(PAT, 2);
    hz_static_config sc;
    hz_static_config_init(&sc);
    sc.root = g_dir;
    if (g_variant) {
        sc.precompressed = 0;
        sc.compress_max = A_LEN - 1; /* a.txt is one byte too big */
    }
    cr_assert_eq(hz_static_create(&st, &sc, NULL), 0);
    cr_assert_eq(hz_route_static(srv, "/s/", st), 0);
    int idx = hz_server_listen(srv, "127.0.0.1", 0, NULL);
    cr_assert_geq(idx, 0);
    port = hz_server_port(srv, idx);
    cr_assert_eq(hz_server_start(srv), 0);
}

static void setup(void)
{
    setup_with(0);
}

static void teardown(void)
{
    hz_server_stop(srv, 1000);
    hz_server_wait(srv);
    hz_server_destroy(srv);
    exr.vt->shutdown(exr.self);
    hz_static_destroy(st);
    rm_files();
    free(g_pat);
    g_pat = NULL;
    cr_assert_eq(atomic_load(&calloc_.live_bytes), 0, "leaked %ld bytes",
                 atomic_load(&calloc_.live_bytes));
    cr_assert_eq(atomic_load(&calloc_.size_mismatches), 0);
}

TestSuite(compress, .init = setup, .fini = teardown, .timeout = 60);

/* One request on a new connection; extra: more fields ("X: y\r\n"). */
static void fetch(const char *method, const char *target, const char *extra, it_resp *r)
{
    it_conn c;
    cr_assert_eq(it_connect(&c, port), 0);
    char req[1024];
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n", method, target,
             extra ? extra : "");
    cr_assert_eq(it_sends(&c, req), 0);
    cr_assert_eq(it_read_response(&c, r, !strcmp(method, "HEAD"), IO_MS), 0);
    it_close(&c);
}

static int has(const it_resp *r, const char *name, const char *value)
{
    return !strcmp(it_header(r, name), value);
}

/* ---- whole bodies -------------------------------------------------------------- */

Test(compress, send_negotiates_and_round_trips)
{
    char *want = text(20000, 1);
    it_resp r;
    fetch("GET", "/send", "Accept-Encoding: gzip\r\n", &r);
    cr_assert_eq(r.status, 200);
    expect_body(&r, "gzip", want, 20000);
    cr_assert(has(&r, "Vary", "Accept-Encoding"));
    cr_assert(has(&r, "ETag", "W/\"v1\""), "ETag %s", it_header(&r, "ETag"));
    cr_assert_eq((size_t)atol(it_header(&r, "Content-Length")), r.body_len);
    size_t gz_len = r.body_len;
    it_resp_free(&r);

    fetch("HEAD", "/send", "Accept-Encoding: gzip\r\n", &r);
    cr_assert(has(&r, "Content-Encoding", "gzip"));
    cr_assert_eq((size_t)atol(it_header(&r, "Content-Length")), gz_len, "HEAD: the GET's length");
    it_resp_free(&r);

    if (hz_compress_codings() & HZ_CODING_BR) {
        fetch("GET", "/send", "Accept-Encoding: gzip, deflate, br\r\n", &r);
        expect_body(&r, "br", want, 20000);
        it_resp_free(&r);
        fetch("GET", "/send", "Accept-Encoding: br;q=0.5, gzip\r\n", &r);
        expect_body(&r, "gzip", want, 20000);
        it_resp_free(&r);
    }
    /* no field, an empty one, identity only, gzip refused */
    const char *plain[] = {"", "Accept-Encoding: \r\n", "Accept-Encoding: identity\r\n",
                           "Accept-Encoding: gzip;q=0, br;q=0\r\n"};
    for (size_t i = 0; i < 4; i++) {
        fetch("GET", "/send", plain[i], &r);
        expect_body(&r, "", want, 20000);
        cr_assert(has(&r, "Vary", "Accept-Encoding"), "case %zu", i);
        cr_assert(has(&r, "ETag", "\"v1\""), "strong when not compressed");
        it_resp_free(&r);
    }
    free(want);
}

Test(compress, small_bodies_types_and_switches)
{
    it_resp r;
    /* below min_size (256): as it is, no Vary */
    fetch("GET", "/send?n=255", "Accept-Encoding: gzip\r\n", &r);
    cr_assert(has(&r, "Content-Encoding", ""));
    cr_assert(has(&r, "Vary", ""));
    cr_assert_eq(r.body_len, 255);
    it_resp_free(&r);
    fetch("GET", "/send?n=256", "Accept-Encoding: gzip\r\n", &r);
    cr_assert(has(&r, "Content-Encoding", "gzip"));
    it_resp_free(&r);
    /* not compressible; already encoded */
    fetch("GET", "/png", "Accept-Encoding: gzip\r\n", &r);
    cr_assert(has(&r, "Content-Encoding", ""));
    cr_assert(has(&r, "Vary", ""));
    cr_assert_eq(r.body_len, 5000);
    it_resp_free(&r);
    fetch("GET", "/ce", "Accept-Encoding: gzip\r\n", &r);
    cr_assert(has(&r, "Content-Encoding", "x-custom"));
    cr_assert_eq(r.body_len, 5000);
    it_resp_free(&r);
    /* a configured extra type; a Vary of the handler's naming it already */
    char *want = text(5000, 1);
    fetch("GET", "/extra", "Accept-Encoding: gzip\r\n", &r);
    expect_body(&r, "gzip", want, 5000);
    it_resp_free(&r);
    fetch("GET", "/vary", "Accept-Encoding: gzip\r\n", &r);
    expect_body(&r, "gzip", want, 5000);
    cr_assert(has(&r, "Vary", "Origin, accept-encoding"), "one Vary, the handler's");
    cr_assert_eq(strstr(strstr(r.head, "Vary:") + 1, "Vary:"), NULL, "Vary sent twice");
    it_resp_free(&r);
    free(want);
    /* off for a route without the flag; on per response; off per response */
    fetch("GET", "/plain", "Accept-Encoding: gzip\r\n", &r);
    cr_assert(has(&r, "Content-Encoding", ""));
    cr_assert(has(&r, "Vary", ""));
    it_resp_free(&r);
    fetch("GET", "/call", "Accept-Encoding: gzip\r\n", &r);
    cr_assert(has(&r, "Content-Encoding", "gzip"));
    it_resp_free(&r);
    fetch("GET", "/calloff?on=0", "Accept-Encoding: gzip\r\n", &r);
    cr_assert(has(&r, "Content-Encoding", ""));
    cr_assert(has(&r, "ETag", "\"v1\""), "the held ETag still goes out");
    it_resp_free(&r);
}

Test(compress, statuses_304_206_204)
{
    it_resp r;
    fetch("GET", "/status?s=304", "Accept-Encoding: gzip\r\n", &r);
    cr_assert_eq(r.status, 304);
    cr_assert(has(&r, "Content-Encoding", ""));
    cr_assert(has(&r, "ETag", "W/\"v1\""), "the 200 would be compressed: same validator");
    cr_assert(has(&r, "Vary", "Accept-Encoding"));
    it_resp_free(&r);
    fetch("GET", "/status?s=304", "", &r);
    cr_assert(has(&r, "ETag", "\"v1\""));
    it_resp_free(&r);
    fetch("GET", "/status?s=206", "Accept-Encoding: gzip\r\n", &r);
    cr_assert_eq(r.status, 206);
    cr_assert(has(&r, "Content-Encoding", ""));
    cr_assert_eq(r.body_len, 5000);
    cr_assert(has(&r, "ETag", "\"v1\""));
    it_resp_free(&r);
    fetch("GET", "/status?s=204", "Accept-Encoding: gzip\r\n", &r);
    cr_assert_eq(r.status, 204);
    cr_assert(has(&r, "Content-Encoding", ""));
    it_resp_free(&r);
}

/* ---- streams and sources ------------------------------------------------------ */

Test(compress, streams_round_trip)
{
    const char *codings[] = {"gzip", "br"};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && !(hz_compress_codings() & HZ_CODING_BR))
            break;
        char ae[64];
        snprintf(ae, sizeof(ae), "Accept-Encoding: %s\r\n", codings[i]);
        char *want = text(300000, 2);
        it_resp r;
        fetch("GET", "/stream?n=300000&w=7000", ae, &r);
        cr_assert(r.chunked);
        expect_body(&r, codings[i], want, 300000);
        it_resp_free(&r);
        fetch("GET", "/stream?n=50&w=7", ae, &r); /* many tiny flushed writes */
        expect_body(&r, codings[i], want, 50);
        it_resp_free(&r);
        free(want);
        want = text(200000, 3);
        fetch("GET", "/src?n=200000&known=1", ae, &r);
        expect_body(&r, codings[i], want, 200000);
        cr_assert(r.chunked, "a compressed source has no known length");
        it_resp_free(&r);
        fetch("GET", "/src?n=200000&known=0", ae, &r);
        expect_body(&r, codings[i], want, 200000);
        it_resp_free(&r);
        fetch("HEAD", "/src?n=200000&known=1", ae, &r);
        cr_assert(has(&r, "Content-Encoding", codings[i]));
        it_resp_free(&r);
        free(want);
    }
    it_resp r;
    char *want = text(200000, 3);
    fetch("GET", "/src?n=200000&known=1", "", &r);
    expect_body(&r, "", want, 200000);
    cr_assert_eq((size_t)atol(it_header(&r, "Content-Length")), 200000u);
    it_resp_free(&r);
    free(want);
}

Test(compress, executor_handlers)
{
    char *want = text(20000, 1);
    it_resp r;
    fetch("GET", "/worker", "Accept-Encoding: gzip\r\n", &r);
    expect_body(&r, "gzip", want, 20000);
    cr_assert(has(&r, "ETag", "W/\"v1\""));
    it_resp_free(&r);
    fetch("GET", "/worker-stream?on=1", "Accept-Encoding: gzip\r\n", &r);
    expect_body(&r, "gzip", want, 20000);
    it_resp_free(&r);
    free(want);
}

static void setup_small_budget(void)
{
    setup_with(16384);
}

/* its own suite: a Test's .init adds to the suite's, it does not replace it */
Test(compress_budget, stalled_reader, .init = setup_small_budget, .fini = teardown, .timeout = 120)
{
    /* 40 MiB at ~3:1 is more than the loopback socket buffers hold */
    size_t n = 40u << 20;
    /* a small receive window, set before connecting, keeps the kernel's
     * buffering (and so the bytes needed to meet the budget) small */
    it_conn c;
    memset(&c, 0, sizeof(c));
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(c.fd, 0);
    int small = 8192;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    c.cap = 65536;
    c.buf = malloc(c.cap);
    char req[256];
    snprintf(req, sizeof(req),
             "GET /stream?n=%zu&w=65536 HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n", n);
    cr_assert_eq(it_sends(&c, req), 0);
    long long t0 = it_now_ms();
    while (atomic_load(&s_eagain) == 0 && it_now_ms() - t0 < 3 * IO_MS)
        usleep(10000); /* polling a counter the server bumps, bounded */
    cr_assert_gt(atomic_load(&s_eagain), 0, "the writer never met the budget");
    long acked = atomic_load(&s_acked);
    cr_assert_lt((size_t)acked, n, "all acknowledged while nobody reads");
    /* the peak heap while stalled: the budget, one write's output held,
     * and the compressor */
    long peak = atomic_load(&calloc_.peak_bytes);
    cr_log_info("stalled gzip stream: %ld bytes acknowledged, peak heap %ld", acked, peak);
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 60000), 0);
    char *want = stream_body(n);
    expect_body(&r, "gzip", want, n);
    free(want);
    it_resp_free(&r);
    it_close(&c);
}

/* libcurl as `curl --compressed`: every coding it knows, decoded by curl */
static size_t on_head(char *d, size_t sz, size_t nm, void *ud)
{
    char *ce = ud;
    if (!strncasecmp(d, "Content-Encoding:", 17))
        snprintf(ce, 32, "%.*s", (int)(sz * nm - 20), d + 18);
    return sz * nm;
}

static void curl_get(const char *path, it_sink *k, char *ce)
{
    CURL *h = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* every coding libcurl has */
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, it_sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_head);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, ce);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)IO_MS);
    cr_assert_eq(curl_easy_perform(h), CURLE_OK);
    curl_easy_cleanup(h);
}

Test(compress, curl_compressed)
{
    const char *paths[] = {"/send", "/stream?n=300000", "/src?n=200000", "/s/a.txt", "/s/b.txt"};
    size_t lens[] = {20000, 300000, 200000, A_LEN, B_LEN};
    unsigned seeds[] = {1, 2, 3, 4, 5};
    curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    int curl_br = (v->features & CURL_VERSION_BROTLI) != 0;
    for (size_t i = 0; i < 5; i++) {
        it_sink k = {0};
        char ce[32] = "";
        curl_get(paths[i], &k, ce);
        char *want = text(lens[i], seeds[i]);
        cr_assert_eq(k.n, lens[i], "%s: %zu bytes", paths[i], k.n);
        cr_assert(!memcmp(k.p, want, k.n), "%s: bytes differ", paths[i]);
        const char *expect = curl_br && (hz_compress_codings() & HZ_CODING_BR) ? "br" : "gzip";
        cr_assert_str_eq(ce, expect, "%s: coding '%s'", paths[i], ce);
        free(want);
        it_sink_free(&k);
    }
}

/* ---- static files ------------------------------------------------------------- */

Test(compress, static_precompressed_siblings)
{
    it_resp r;
    fetch("GET", "/s/a.txt", "Accept-Encoding: gzip\r\n", &r);
    cr_assert_eq(r.status, 200);
    cr_assert(has(&r, "Content-Encoding", "gzip"));
    cr_assert(has(&r, "Content-Type", "text/plain; charset=utf-8"), "the file's type");
    cr_assert(has(&r, "Vary", "Accept-Encoding"));
    cr_assert_eq(r.body_len, g_agz_len, "the sibling's bytes as they are");
    cr_assert(!memcmp(r.body, g_agz, g_agz_len));
    char etag[128];
    snprintf(etag, sizeof(etag), "%s", it_header(&r, "ETag"));
    cr_assert(strstr(etag, "-gzip\""), "ETag %s names the coding", etag);
    struct stat sb; /* the sibling's size and mtime in hex, then the coding */
    char path[512], want[128];
    snprintf(path, sizeof(path), "%s/a.txt.gz", g_dir);
    cr_assert_eq(stat(path, &sb), 0);
    snprintf(want, sizeof(want), "\"%llx-%llx-gzip\"", (unsigned long long)sb.st_size,
             (unsigned long long)sb.st_mtime);
    cr_assert_str_eq(etag, want);
    it_resp_free(&r);
    /* 304 against the sibling's validator */
    char extra[256];
    snprintf(extra, sizeof(extra), "Accept-Encoding: gzip\r\nIf-None-Match: %s\r\n", etag);
    fetch("GET", "/s/a.txt", extra, &r);
    cr_assert_eq(r.status, 304);
    cr_assert(has(&r, "Vary", "Accept-Encoding"));
    cr_assert(has(&r, "ETag", etag));
    it_resp_free(&r);
    /* a range of the sibling's bytes */
    fetch("GET", "/s/a.txt", "Accept-Encoding: gzip\r\nRange: bytes=10-29\r\n", &r);
    cr_assert_eq(r.status, 206);
    cr_assert(has(&r, "Content-Encoding", "gzip"));
    cr_assert_eq(r.body_len, 20);
    cr_assert(!memcmp(r.body, g_agz + 10, 20));
    char cr[64];
    snprintf(cr, sizeof(cr), "bytes 10-29/%zu", g_agz_len);
    cr_assert(has(&r, "Content-Range", cr), "%s", it_header(&r, "Content-Range"));
    it_resp_free(&r);
    /* HEAD: the sibling's length */
    fetch("HEAD", "/s/a.txt", "Accept-Encoding: gzip\r\n", &r);
    cr_assert_eq((size_t)atol(it_header(&r, "Content-Length")), g_agz_len);
    it_resp_free(&r);
    if (g_abr) {
        fetch("GET", "/s/a.txt", "Accept-Encoding: gzip, br\r\n", &r);
        cr_assert(has(&r, "Content-Encoding", "br"));
        cr_assert_eq(r.body_len, g_abr_len);
        cr_assert(!memcmp(r.body, g_abr, g_abr_len));
        it_resp_free(&r);
    }
    /* identity: the file itself, Vary still */
    fetch("GET", "/s/a.txt", "", &r);
    expect_body(&r, "", g_a, A_LEN);
    cr_assert(has(&r, "Vary", "Accept-Encoding"));
    it_resp_free(&r);
}

Test(compress, static_on_the_fly_and_stale_siblings)
{
    it_resp r;
    /* b.txt.gz is older than b.txt: compressed on the fly instead */
    fetch("GET", "/s/b.txt", "Accept-Encoding: gzip\r\n", &r);
    cr_assert_eq(r.status, 200);
    expect_body(&r, "gzip", g_b, B_LEN);
    cr_assert(r.chunked);
    char etag[128];
    snprintf(etag, sizeof(etag), "%s", it_header(&r, "ETag"));
    cr_assert(!strncmp(etag, "W/\"", 3), "weak when compressed on the fly: %s", etag);
    it_resp_free(&r);
    char extra[256];
    snprintf(extra, sizeof(extra), "Accept-Encoding: gzip\r\nIf-None-Match: %s\r\n", etag);
    fetch("GET", "/s/b.txt", extra, &r);
    cr_assert_eq(r.status, 304, "the weak tag revalidates");
    cr_assert(has(&r, "ETag", etag));
    it_resp_free(&r);
    /* a range of a file compressed on the fly: identity bytes, 206 */
    fetch("GET", "/s/b.txt", "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n", &r);
    cr_assert_eq(r.status, 206);
    cr_assert(has(&r, "Content-Encoding", ""));
    cr_assert(has(&r, "Vary", "Accept-Encoding"));
    cr_assert(!memcmp(r.body, g_b, 10));
    it_resp_free(&r);
    /* If-Range with the weak tag: never a match, the whole (compressed) body */
    snprintf(extra, sizeof(extra), "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\nIf-Range: %s\r\n",
             etag);
    fetch("GET", "/s/b.txt", extra, &r);
    cr_assert_eq(r.status, 200);
    expect_body(&r, "gzip", g_b, B_LEN);
    it_resp_free(&r);
    /* not a compressible type: never, and no Vary */
    fetch("GET", "/s/p.png", "Accept-Encoding: gzip\r\n", &r);
    cr_assert(has(&r, "Content-Encoding", ""));
    cr_assert(has(&r, "Vary", ""));
    it_resp_free(&r);
}

/* ---- memory -------------------------------------------------------------------- */

Test(compress, memory_per_compressing_stream)
{
    const char *codings[] = {"gzip", "br", "identity"};
    long peaks[3] = {0};
    for (int i = 0; i < 3; i++) {
        if (i == 1 && !(hz_compress_codings() & HZ_CODING_BR))
            continue;
        /* warm the connection pools, then measure one stream's peak */
        it_resp r;
        fetch("GET", "/send?n=300", "", &r);
        it_resp_free(&r);
        long base = atomic_load(&calloc_.live_bytes);
        atomic_store(&calloc_.peak_bytes, base);
        char ae[64];
        snprintf(ae, sizeof(ae), "Accept-Encoding: %s\r\n", codings[i]);
        fetch("GET", "/stream?n=2000000&w=16384", ae, &r);
        it_resp_free(&r);
        long peak = atomic_load(&calloc_.peak_bytes) - base;
        peaks[i] = peak;
        fprintf(stderr, "compress: %s stream, window_bits 15: peak heap %ld bytes over idle\n",
                codings[i], peak);
        if (i == 2)
            break;
        /* zlib 15/8: 256 KiB + 6 KiB of state; brotli q5: its 1 MiB hash
         * table (the window is small); plus the connection's own buffers
         * (what a completion poller queues for the socket counts in them) */
        cr_assert_lt(peak, i == 0 ? 600 * 1024 : 1500 * 1024, "%s: %ld bytes", codings[i], peak);
    }
    fprintf(stderr, "compress: per compressing stream: gzip %ld, br %ld bytes\n",
            peaks[0] - peaks[2], peaks[1] ? peaks[1] - peaks[2] : 0);
}

/* ---- the configuration's limits -------------------------------------------- */

static void setup_variant(void)
{
    g_variant = 1;
    setup_with(0);
}

static void teardown_variant(void)
{
    teardown();
    g_variant = 0;
}

TestSuite(compress_cfg, .init = setup_variant, .fini = teardown_variant, .timeout = 60);

Test(compress_cfg, levels_window_and_static_limits)
{
    it_resp r;
    char *want = text(20000, 1);
    /* gzip_level 0: never gzip */
    fetch("GET", "/send", "Accept-Encoding: gzip\r\n", &r);
    expect_body(&r, "", want, 20000);
    it_resp_free(&r);
    if (hz_compress_codings() & HZ_CODING_BR) {
        fetch("GET", "/send", "Accept-Encoding: gzip, br\r\n", &r);
        expect_body(&r, "br", want, 20000);
        it_resp_free(&r);
        /* window_bits 10: a stream's compressor is small */
        fetch("GET", "/send?n=300", "", &r);
        it_resp_free(&r);
        long base = atomic_load(&calloc_.live_bytes);
        atomic_store(&calloc_.peak_bytes, base);
        char *sw = text(300000, 2);
        fetch("GET", "/stream?n=300000&w=16384", "Accept-Encoding: br\r\n", &r);
        expect_body(&r, "br", sw, 300000);
        it_resp_free(&r);
        free(sw);
        long peak = atomic_load(&calloc_.peak_bytes) - base;
        fprintf(stderr, "compress: br stream, window_bits 10: peak heap %ld bytes over idle\n",
                peak);
    }
    free(want);
    /* precompressed 0: the sibling is not served; compress_max: a.txt (one
     * byte over) goes out as it is, b.txt (under) compressed on the fly */
    fetch("GET", "/s/a.txt", "Accept-Encoding: gzip, br\r\n", &r);
    expect_body(&r, "", g_a, A_LEN);
    cr_assert(has(&r, "Vary", "Accept-Encoding"));
    it_resp_free(&r);
    if (hz_compress_codings() & HZ_CODING_BR) {
        fetch("GET", "/s/b.txt", "Accept-Encoding: gzip, br\r\n", &r);
        expect_body(&r, "br", g_b, B_LEN);
        it_resp_free(&r);
    }
}
