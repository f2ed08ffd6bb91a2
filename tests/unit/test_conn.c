/* test_conn.c - the connection state machine over the in-memory transport:
 * the same pipelined input split into reads of every size and written back
 * in partial writes gives byte-identical output (streamed echoes aside: their
 * chunking follows the reads); errors stop the pipeline;
 * idle connections hold no buffers; a streamed echo under backpressure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "memconn.h"
#include "test_alloc.h"

static void h_root(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_str q = hz_req_query(req);
    char body[128];
    int n = snprintf(body, sizeof(body), "root q=%.*s", (int)q.len, q.ptr ? q.ptr : "");
    hz_res_set_header(res, "X-Test", "1");
    hz_res_send(res, 200, body, (size_t)n);
}

static void h_body(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_str b = hz_req_body(req);
    hz_res_send(res, 200, b.ptr, b.len);
}

static int e_chunk(hz_req *req, const void *data, size_t len, void *ud)
{
    (void)req;
    int rc = hz_res_write(ud, data, len);
    return rc == HZ_EAGAIN ? HZ_EAGAIN : rc;
}

static void e_end(hz_req *req, int status, void *ud)
{
    (void)req;
    if (status == 0)
        hz_res_end(ud);
}

static void e_drain(hz_res *res, void *ud)
{
    (void)res;
    hz_req_resume(ud);
}

static void h_echo(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_res_on_drain(res, e_drain, req);
    hz_res_start(res, 200);
    hz_req_on_body(req, e_chunk, e_end, res);
}

/* Heads the response side formats by hand (no snprintf): odd statuses,
 * wide lengths, the names the library owns, and hex chunk sizes. */
static void h_head(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_str q = hz_req_query(req);
    static char big[1234567];
    if (q.len == 1 && q.ptr[0] == 'a') {
        cr_assert_eq(hz_res_set_header(res, "Content-Length", "5"), HZ_EINVAL);
        cr_assert_eq(hz_res_set_header(res, "transfer-encoding", "chunked"), HZ_EINVAL);
        cr_assert_eq(hz_res_set_header(res, "Bad Name", "x"), HZ_EINVAL);
        cr_assert_eq(hz_res_set_header(res, "X-Crlf", "a\r\nInjected: 1"), HZ_EINVAL);
        cr_assert_eq(hz_res_set_header(res, "X-Del", "a\x7f"), HZ_EINVAL);
        cr_assert_eq(hz_res_set_header(res, "DATE", "Thu, 01 Jan 1970 00:00:00 GMT"), 0);
        cr_assert_eq(hz_res_set_header(res, "X-Obs", "caf\xc3\xa9\tok"), 0);
        cr_assert_eq(hz_res_set_header(res, "server", "mine/1"), 0);
        hz_res_send(res, 299, "", 0);
    } else if (q.len == 1 && q.ptr[0] == 'b') {
        hz_res_send(res, 200, big, sizeof(big));
    } else if (q.len == 1 && q.ptr[0] == 'c') {
        cr_assert_eq(hz_res_set_header(res, "Connection", "foo, Close"), 0);
        hz_res_start(res, 999);
        hz_res_write(res, big, 300);
        hz_res_write(res, big, 16);
        hz_res_write(res, big, 1);
        hz_res_end(res);
    } else {
        hz_res_send(res, 204, NULL, 0);
    }
}

/* A body source: n bytes of a pattern ('k': known length, 's': chunked). */
typedef struct gen {
    size_t n, made;
} gen;

static long g_read(void *ud, void *buf, size_t len)
{
    gen *g = ud;
    size_t k = g->n - g->made < len ? g->n - g->made : len;
    for (size_t i = 0; i < k; i++)
        ((char *)buf)[i] = (char)('A' + (g->made + i) % 26);
    g->made += k;
    return (long)k;
}

static int g_dones;

static void g_done(void *ud, int status)
{
    cr_assert_eq(status, 0);
    g_dones++;
    free(ud);
}

static void h_src(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_str q = hz_req_query(req);
    gen *g = calloc(1, sizeof(*g));
    g->n = 40000;
    hz_body_source src = {.read = g_read, .done = g_done, .ud = g};
    int known = q.len == 1 && q.ptr[0] == 'k';
    cr_assert_eq(hz_res_send_source(res, 200, known ? 40000 : -1, &src), 0);
}

typedef struct fixture {
    hz_count_alloc ca;
    hz_server *srv;
    hz__loop *loop;
} fixture;

static void fx_init(fixture *f, size_t output_buffer)
{
    hz_count_alloc_init(&f->ca);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.allocator = &f->ca.iface;
    if (output_buffer)
        cfg.output_buffer = output_buffer;
    cr_assert_eq(hz_server_create(&f->srv, &cfg), 0);
    cr_assert_eq(hz_route(f->srv, "GET", "/", h_root, NULL), 0);
    cr_assert_eq(hz_route(f->srv, "GET", "/q", h_root, NULL), 0);
    cr_assert_eq(hz_route(f->srv, "GET", "/head", h_head, NULL), 0);
    cr_assert_eq(hz_route(f->srv, "GET", "/src", h_src, NULL), 0);
    cr_assert_eq(hz_route(f->srv, "POST", "/body", h_body, NULL), 0);
    hz_route_opts stream;
    hz_route_opts_init(&stream);
    stream.flags = HZ_ROUTE_STREAM_BODY;
    cr_assert_eq(hz_route_with(f->srv, "POST", "/echo", h_echo, NULL, &stream), 0);
    f->loop = &f->srv->loops[0];
}

static void fx_fini(fixture *f)
{
    hz_server_destroy(f->srv);
    cr_assert_eq(atomic_load(&f->ca.live_blocks), 0, "leaked %ld blocks",
                 (long)atomic_load(&f->ca.live_blocks));
}

/* Runs input through one connection; returns the output with Date values
 * blanked (malloc'd, NUL-terminated). */
static char *run(fixture *f, const char *in, size_t len, size_t max_read, size_t max_write,
                 int *closed)
{
    hz__memio io;
    memset(&io, 0, sizeof(io));
    io.in = in;
    io.in_len = len;
    io.max_read = max_read;
    io.max_write = max_write;
    io.eof = 1;
    hz__conn *c;
    cr_assert_eq(hz__memconn_open(f->loop, &io, &c), 0);
    hz__memconn_run(f->loop, &io, c, 1000000);
    *closed = io.shut || io.closed;
    if (!io.closed)
        hz__conn_close(c);
    hz__loop_run_pending(f->loop);
    char *out = malloc(io.out_len + 1);
    memcpy(out, io.out ? io.out : "", io.out_len);
    out[io.out_len] = 0;
    hz__memio_free(&io);
    for (char *d = out; (d = strstr(d, "\r\nDate: ")); d += 8)
        memset(d + 8, 'D', 29);
    return out;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static const char pipeline[] =
    "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    "POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: v\r\n\r\n"
    "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"
    "GET /src?k HTTP/1.1\r\nHost: t\r\n\r\n"
    "GET /src?s HTTP/1.1\r\nHost: t\r\n\r\n"
    "GET /q?x=1 HTTP/1.1\r\nHost: t\r\n\r\n"
    "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde"
    "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
    "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    "GET /after-close HTTP/1.1\r\nHost: t\r\n\r\n";

Test(conn, any_read_and_write_segmentation_gives_the_same_output, .timeout = 60)
{
    fixture f;
    fx_init(&f, 0);
    int closed;
    char *ref = run(&f, pipeline, sizeof(pipeline) - 1, 0, 0, &closed);
    cr_assert(closed, "Connection: close honoured");
    cr_assert_eq(count(ref, "HTTP/1.1 200 OK"), 8, "%s", ref);
    cr_assert_eq(g_dones, 2, "each source's done ran once");
    /* Sources keep their place in the pipeline: known length, then
     * chunked (16 KiB pieces: 0x4000), then the /q answer. */
    const char *k = strstr(ref, "Content-Length: 40000\r\n");
    const char *ch = strstr(ref, "\r\n\r\n4000\r\nABCDEFG");
    cr_assert_not_null(k);
    cr_assert_not_null(ch, "chunked source body");
    cr_assert_not_null(strstr(ch, "\r\n1c40\r\n"), "the last piece: 40000 - 2 * 16384");
    cr_assert_lt(k, ch);
    cr_assert_lt(ch, strstr(ref, "root q=x=1"));
    cr_assert_eq(count(ref, "HTTP/1.1 404"), 1);
    cr_assert_eq(count(ref, "after-close"), 0);
    cr_assert_not_null(strstr(ref, "\r\n\r\nhello world"));
    cr_assert_not_null(strstr(ref, "root q=x=1"));
    /* Order: the /q answer comes after the body echo and before abcde. */
    cr_assert_lt(strstr(ref, "hello world"), strstr(ref, "root q=x=1"));
    cr_assert_lt(strstr(ref, "root q=x=1"), strstr(ref, "abcde"));
    const size_t reads[] = {1, 2, 3, 7, 13, 64, 1000};
    const size_t writes[] = {0, 1, 5, 100};
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        for (size_t j = 0; j < sizeof(writes) / sizeof(writes[0]); j++) {
            char *out = run(&f, pipeline, sizeof(pipeline) - 1, reads[i], writes[j], &closed);
            cr_assert_str_eq(out, ref, "reads of %zu, writes of %zu", reads[i], writes[j]);
            cr_assert(closed);
            free(out);
        }
    }
    free(ref);
    fx_fini(&f);
}

Test(conn, nothing_is_answered_after_a_parse_error, .timeout = 20)
{
    fixture f;
    fx_init(&f, 0);
    static const char in[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
                             "GET / HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n"
                             "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    int closed;
    char *out = run(&f, in, sizeof(in) - 1, 5, 0, &closed);
    cr_assert(closed);
    cr_assert_eq(count(out, "HTTP/1.1 "), 2, "%s", out);
    cr_assert_not_null(strstr(out, "HTTP/1.1 400 Bad Request"));
    cr_assert_lt(strstr(out, "200 OK"), strstr(out, "400 Bad"));
    free(out);
    fx_fini(&f);
}

Test(conn, an_idle_connection_holds_no_buffers, .timeout = 20)
{
    fixture f;
    fx_init(&f, 0);
    cr_assert_leq(sizeof(hz__conn), 320, "hz__conn is %zu bytes", sizeof(hz__conn));
    static const char in[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    hz__memio io;
    memset(&io, 0, sizeof(io));
    io.in = in;
    io.in_len = sizeof(in) - 1;
    hz__conn *c;
    cr_assert_eq(hz__memconn_open(f.loop, &io, &c), 0);
    hz__memconn_run(f.loop, &io, c, 1000);
    cr_assert_not_null(strstr(io.out, "200 OK"));
    cr_assert_not(io.closed);
    cr_assert_null(c->in.data, "read buffer released while idle");
    cr_assert_null(c->out.data, "write buffer released while idle");
    cr_assert_null(c->ex, "no exchange while idle");
    hz__conn_close(c);
    hz__loop_run_pending(f.loop);
    hz__memio_free(&io);
    fx_fini(&f);
}

Test(conn, streamed_echo_under_backpressure, .timeout = 60)
{
    fixture f;
    fx_init(&f, 1024); /* a tiny output budget: pause/resume all the time */
    size_t n = 200000;
    size_t cap = n * 2 + 4096;
    char *in = malloc(cap);
    size_t len = (size_t)sprintf(in, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
                                     "\r\n\r\n");
    for (size_t off = 0; off < n;) {
        size_t k = 1 + (off * 7919) % 3000;
        if (k > n - off)
            k = n - off;
        len += (size_t)sprintf(in + len, "%zx\r\n", k);
        for (size_t i = 0; i < k; i++)
            in[len++] = (char)('a' + (off + i) % 26);
        memcpy(in + len, "\r\n", 2);
        len += 2;
        off += k;
    }
    memcpy(in + len, "0\r\n\r\n", 5);
    len += 5;
    int closed;
    char *out = run(&f, in, len, 4096, 700, &closed);
    /* De-chunk the response body and compare. */
    char *p = strstr(out, "\r\n\r\n");
    cr_assert_not_null(p);
    p += 4;
    size_t got = 0;
    for (;;) {
        size_t k = strtoul(p, &p, 16);
        p += 2;
        if (!k)
            break;
        for (size_t i = 0; i < k; i++)
            cr_assert_eq(p[i], (char)('a' + (got + i) % 26), "byte %zu", got + i);
        got += k;
        p += k + 2;
    }
    cr_assert_eq(got, n);
    free(out);
    free(in);
    fx_fini(&f);
}

Test(conn, response_heads_are_byte_exact, .timeout = 20)
{
    fixture f;
    fx_init(&f, 0);
    static const char in[] = "GET /head?a HTTP/1.1\r\nHost: t\r\n\r\n"
                             "GET /head HTTP/1.1\r\nHost: t\r\n\r\n"
                             "GET /head?b HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n"
                             "GET /head?c HTTP/1.1\r\nHost: t\r\n\r\n";
    int closed;
    char *out = run(&f, in, sizeof(in) - 1, 0, 0, &closed);
    static const char d[] = "Date: DDDDDDDDDDDDDDDDDDDDDDDDDDDDD\r\n";
    const char *p = out;
    static const char h1[] = "HTTP/1.1 299 Unknown\r\n";
    cr_assert_eq(strncmp(p, h1, sizeof(h1) - 1), 0, "%s", out);
    p += sizeof(h1) - 1;
    cr_assert_eq(strncmp(p, d, sizeof(d) - 1), 0, "%s", out);
    p += sizeof(d) - 1;
    static const char t1[] = "X-Obs: caf\xc3\xa9\tok\r\nserver: mine/1\r\nContent-Length: 0\r\n\r\n"
                             "HTTP/1.1 204 No Content\r\n";
    cr_assert_eq(strncmp(p, t1, sizeof(t1) - 1), 0, "%s", out);
    p += sizeof(t1) - 1;
    p += sizeof(d) - 1;
    static const char t2[] = "Server: httpz\r\n\r\n"
                             "HTTP/1.1 200 OK\r\n";
    cr_assert_eq(strncmp(p, t2, sizeof(t2) - 1), 0, "%s", out);
    p += sizeof(t2) - 1 + sizeof(d) - 1;
    static const char t3[] =
        "Server: httpz\r\nContent-Length: 1234567\r\nConnection: keep-alive\r\n\r\n";
    cr_assert_eq(strncmp(p, t3, sizeof(t3) - 1), 0, "%.200s", p);
    p += sizeof(t3) - 1 + 1234567;
    static const char h4[] = "HTTP/1.1 999 Unknown\r\n";
    cr_assert_eq(strncmp(p, h4, sizeof(h4) - 1), 0, "%.200s", p);
    p += sizeof(h4) - 1 + sizeof(d) - 1;
    static const char t4[] =
        "Server: httpz\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        "12c\r\n";
    cr_assert_eq(strncmp(p, t4, sizeof(t4) - 1), 0, "%.200s", p);
    p += sizeof(t4) - 1 + 300;
    static const char t5[] = "\r\n10\r\n";
    cr_assert_eq(strncmp(p, t5, sizeof(t5) - 1), 0, "%.200s", p);
    p += sizeof(t5) - 1 + 16;
    static const char t6[] = "\r\n1\r\n";
    cr_assert_eq(strncmp(p, t6, sizeof(t6) - 1), 0, "%.200s", p);
    p += sizeof(t6) - 1 + 1;
    cr_assert_str_eq(p, "\r\n0\r\n\r\n");
    cr_assert(closed);
    free(out);
    fx_fini(&f);
}
