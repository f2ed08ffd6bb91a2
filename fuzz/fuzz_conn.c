/* fuzz_conn.c - libFuzzer target: arbitrary bytes, split arbitrarily,
 * through the real connection state machine (core/conn.c and friends).
 *
 * The server is created but never started: its one loop is stepped by hand
 * with a virtual clock. hz__conn_attach() opens the connection over this
 * file's in-memory transport (an hz__transport_vt, like core/event/memio.c's
 * but checking the invariants below), which feeds the input segments and
 * captures the output through a bounded write window. Events follow the
 * interest the core keeps in c->interest, as a level-triggered poller would.
 *
 * Input: 4 control bytes, then the client's bytes.
 *   [0] bits 0-1 split: 0 whole, 1 byte by byte, 2-3 pseudo-random lengths
 *       bit 2    advance the clock between segments (fires the timeouts)
 *       bit 3    end with EOF from the client (else only time passes)
 *   [1] write window per step: 0 = unlimited, else 1 + 7 * value bytes
 *   [2..3] seed of the split / clock generator
 *
 * Invariants (abort on violation):
 *   - nothing is sent after the server's FIN or close, nothing read after close;
 *   - the output is a sequence of HTTP/1.1 responses that parse, the ones
 *     from handlers (X-Seq) in request order without gaps, at most one
 *     response per request the parser accepted (+1 for an unparsable one),
 *     no byte after a "Connection: close" response;
 *   - every block from the counting allocator is freed after destroy. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fz_conn.h"
#include "../tests/support/test_alloc.h"

#define FZ_OUT_MAX (1u << 22)
#define FZ_SEQ_MAX 4096
#define FZ_BIG_PIECES 12
#define FZ_BIG_PIECE 700

const char fz_target[] = "fuzz_conn";

static fz_tp g_tp;
static uint32_t g_nreq; /* requests the connection parsed (read at close) */

static void record_nreq(hz__sock *s)
{
    g_nreq = ((hz__conn *)((char *)s - offsetof(hz__conn, sock)))->nrequests;
}

/* ---- handlers ------------------------------------------------------------- */

static unsigned g_seq; /* handler dispatches so far */
static uint8_t g_is_head[FZ_SEQ_MAX + 1];
static hz_req *g_paused; /* a streamed body paused by on_chunk */
static unsigned g_chunks;
static uint64_t g_streamed;
static hz_res *g_big; /* a response waiting for drain */
static unsigned g_big_left;
static char g_piece[FZ_BIG_PIECE];

static void set_seq(hz_req *req, hz_res *res)
{
    char v[16];
    unsigned s = ++g_seq;
    hz_str m = hz_req_method(req);
    if (s <= FZ_SEQ_MAX)
        g_is_head[s] = m.len == 4 && memcmp(m.ptr, "HEAD", 4) == 0;
    snprintf(v, sizeof(v), "%u", s);
    FZ_CHECK(hz_res_set_header(res, "X-Seq", v) == 0, "set X-Seq");
}

static void on_done(hz_res *res, int status, void *ud)
{
    (void)status, (void)ud;
    if (g_big == res)
        g_big = NULL;
    g_paused = NULL;
}

static void after_fn(hz_res *res, int status, void *ud)
{
    (void)ud;
    if (status == 0)
        hz_res_send(res, 200, "later\n", 6);
}

static void big_drain(hz_res *res, void *ud)
{
    (void)ud;
    while (g_big_left) {
        int rc = hz_res_write(res, g_piece, sizeof(g_piece));
        if (rc == HZ_EAGAIN)
            return; /* on_drain runs again */
        if (rc < 0)
            return;
        g_big_left--;
    }
    hz_res_end(res);
}

/* Any method on any path but /stream: GET/HEAD answer a fixed body,
 * /async answers from a timer, /big streams a response larger than the
 * output budget, everything else echoes the buffered body. */
static void h_any(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    set_seq(req, res);
    hz_res_on_done(res, on_done, NULL);
    hz_str p = hz_req_path(req);
    hz_str m = hz_req_method(req);
    if (p.len >= 6 && memcmp(p.ptr, "/async", 6) == 0) {
        FZ_CHECK(hz_res_after(res, 5, after_fn, NULL) == 0, "hz_res_after");
        return;
    }
    if (p.len >= 4 && memcmp(p.ptr, "/big", 4) == 0) {
        FZ_CHECK(hz_res_start(res, 200) == 0, "hz_res_start");
        g_big = res;
        g_big_left = FZ_BIG_PIECES;
        hz_res_on_drain(res, big_drain, NULL);
        big_drain(res, NULL);
        return;
    }
    if ((m.len == 3 && memcmp(m.ptr, "GET", 3) == 0) ||
        (m.len == 4 && memcmp(m.ptr, "HEAD", 4) == 0)) {
        hz_res_send(res, 200, "hello\n", 6);
        return;
    }
    hz_str b = hz_req_body(req);
    hz_res_send(res, 200, b.ptr, b.len);
}

static int s_chunk(hz_req *req, const void *data, size_t len, void *ud)
{
    (void)data, (void)ud;
    /* Every third piece is refused once: the driver resumes next step. */
    if (++g_chunks % 3 == 0) {
        g_paused = req;
        return HZ_EAGAIN;
    }
    g_streamed += len;
    return 0;
}

static void s_end(hz_req *req, int status, void *ud)
{
    hz_res *res = ud;
    char line[32];
    (void)req;
    g_paused = NULL;
    if (status < 0)
        return; /* aborted: the connection is gone */
    int n = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)g_streamed);
    if (hz_res_start(res, 200) == 0 && hz_res_write(res, line, (size_t)n) >= 0)
        hz_res_end(res);
}

/* /stream: the body is streamed to the handler, the response streamed back. */
static void h_stream(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    set_seq(req, res);
    hz_res_on_done(res, on_done, NULL);
    g_chunks = 0;
    g_streamed = 0;
    FZ_CHECK(hz_req_on_body(req, s_chunk, s_end, res) == 0, "hz_req_on_body");
}

/* ---- the driver ----------------------------------------------------------- */

/* One poller round: the events a level-triggered poller would report. */
static void step_io(hz__loop *loop, hz__conn *c)
{
    for (int round = 0; round < 8 && !g_tp.m.closed; round++) {
        unsigned ev = 0;
        if ((c->interest & HZ_EV_READ) && (g_tp.m.in_off < g_tp.m.in_len || g_tp.m.eof))
            ev |= HZ_EV_READ;
        if ((c->interest & HZ_EV_WRITE) && g_tp.budget)
            ev |= HZ_EV_WRITE;
        if (!ev)
            break;
        hz__conn_on_event(c, ev);
        fz_run_ready(loop);
        if (g_paused && !g_tp.m.closed) {
            hz_req_resume(g_paused);
            fz_run_ready(loop);
        }
    }
    if (g_paused && !g_tp.m.closed) {
        hz_req_resume(g_paused);
        fz_run_ready(loop);
    }
}

static size_t find_crlf2(const char *p, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
            return i;
    return SIZE_MAX;
}

static int hdr_is(const char *line, size_t len, const char *name, const char **val, size_t *vlen)
{
    size_t n = strlen(name);
    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
        return 0;
    size_t i = n + 1;
    while (i < len && line[i] == ' ')
        i++;
    *val = line + i;
    *vlen = len - i;
    return 1;
}

static uint64_t parse_dec(const char *p, size_t n, int *ok)
{
    uint64_t v = 0;
    *ok = n > 0 && n <= 15;
    for (size_t i = 0; i < n && *ok; i++) {
        if (p[i] < '0' || p[i] > '9')
            *ok = 0;
        else
            v = v * 10 + (uint64_t)(p[i] - '0');
    }
    return v;
}

/* Checks the captured output; nreq: requests the parser accepted. */
static void check_output(const char *o, size_t n, uint32_t nreq, int abrupt)
{
    size_t pos = 0;
    unsigned next_seq = 1, finals = 0;
    int closed_resp = 0;
    while (pos < n) {
        FZ_CHECK(!closed_resp, "bytes after a Connection: close response");
        size_t rem = n - pos;
        const char *r = o + pos;
        size_t hend = find_crlf2(r, rem);
        if (hend == SIZE_MAX) {
            /* A cut head: only when the server dropped the connection. */
            FZ_CHECK(abrupt, "incomplete response head");
            FZ_CHECK(rem < 9 || memcmp(r, "HTTP/1.1 ", 9) == 0, "status line");
            return;
        }
        FZ_CHECK(hend >= 12 && memcmp(r, "HTTP/1.1 ", 9) == 0, "status line");
        FZ_CHECK(r[9] >= '1' && r[9] <= '9' && r[10] >= '0' && r[10] <= '9' && r[11] >= '0' &&
                     r[11] <= '9' && (hend == 12 || r[12] == ' '),
                 "status code");
        int status = (r[9] - '0') * 100 + (r[10] - '0') * 10 + (r[11] - '0');
        int have_cl = 0, chunked = 0, conn_close = 0, ok;
        uint64_t cl = 0;
        unsigned seq = 0;
        size_t ls = 0;
        while (ls < hend && !(r[ls] == '\r' && r[ls + 1] == '\n'))
            ls++;
        ls += 2;
        while (ls < hend + 2) {
            size_t le = ls;
            while (!(r[le] == '\r' && r[le + 1] == '\n'))
                le++;
            const char *v;
            size_t vl;
            FZ_CHECK(memchr(r + ls, ':', le - ls) != NULL, "header line without a colon");
            if (hdr_is(r + ls, le - ls, "Content-Length", &v, &vl)) {
                FZ_CHECK(!have_cl, "two Content-Length fields");
                cl = parse_dec(v, vl, &ok);
                FZ_CHECK(ok, "Content-Length value");
                have_cl = 1;
            } else if (hdr_is(r + ls, le - ls, "Transfer-Encoding", &v, &vl)) {
                FZ_CHECK(vl == 7 && strncasecmp(v, "chunked", 7) == 0, "Transfer-Encoding");
                chunked = 1;
            } else if (hdr_is(r + ls, le - ls, "Connection", &v, &vl)) {
                if (vl == 5 && strncasecmp(v, "close", 5) == 0)
                    conn_close = 1;
            } else if (hdr_is(r + ls, le - ls, "X-Seq", &v, &vl)) {
                seq = (unsigned)parse_dec(v, vl, &ok);
                FZ_CHECK(ok, "X-Seq value");
            }
            ls = le + 2;
        }
        FZ_CHECK(!(have_cl && chunked), "Content-Length with chunked");
        pos += hend + 4;
        if (status < 200) {
            FZ_CHECK(status == 100 && !seq && !have_cl && !chunked, "interim response");
            continue;
        }
        finals++;
        int head_only = status == 204 || status == 304;
        if (seq) {
            FZ_CHECK(seq == next_seq, "handler responses out of order");
            next_seq++;
            if (seq <= FZ_SEQ_MAX && g_is_head[seq])
                head_only = 1;
        } else if (have_cl && cl > 0 &&
                   (pos == n || (n - pos >= 9 && memcmp(o + pos, "HTTP/1.1 ", 9) == 0))) {
            /* The core's own answers carry a reason phrase as body, never
             * "HTTP/1.1 ": none here means it answered a HEAD. */
            head_only = 1;
        }
        if (!head_only) {
            if (chunked) {
                for (;;) {
                    size_t e = pos;
                    while (e + 1 < n && !(o[e] == '\r' && o[e + 1] == '\n'))
                        e++;
                    if (e + 1 >= n) {
                        FZ_CHECK(abrupt, "cut chunked body");
                        return;
                    }
                    uint64_t sz = 0;
                    FZ_CHECK(e > pos && e - pos <= 16, "chunk size line");
                    for (size_t i = pos; i < e; i++) {
                        int d = o[i] >= '0' && o[i] <= '9'   ? o[i] - '0'
                                : o[i] >= 'a' && o[i] <= 'f' ? o[i] - 'a' + 10
                                                             : -1;
                        FZ_CHECK(d >= 0, "chunk size digit");
                        sz = sz * 16 + (uint64_t)d;
                    }
                    pos = e + 2;
                    if (sz == 0) {
                        if (n - pos < 2) {
                            FZ_CHECK(abrupt, "cut last chunk");
                            return;
                        }
                        FZ_CHECK(o[pos] == '\r' && o[pos + 1] == '\n', "end of chunked body");
                        pos += 2;
                        break;
                    }
                    if (n - pos < sz + 2) {
                        FZ_CHECK(abrupt, "cut chunk");
                        return;
                    }
                    FZ_CHECK(o[pos + sz] == '\r' && o[pos + sz + 1] == '\n', "chunk CRLF");
                    pos += sz + 2;
                }
            } else if (have_cl) {
                if (n - pos < cl) {
                    FZ_CHECK(abrupt, "cut body");
                    return;
                }
                pos += cl;
            } else {
                /* Close-delimited (HTTP/1.0 streaming): the rest is body. */
                pos = n;
                closed_resp = 1;
            }
        }
        if (conn_close)
            closed_resp = 1;
    }
    FZ_CHECK(finals <= nreq + 1, "more responses than requests");
    FZ_CHECK(next_seq - 1 <= g_seq, "a response nobody sent");
    FZ_CHECK(g_seq - (next_seq - 1) <= 1, "a handler response went missing");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t steps_ms[] = {0, 1, 7, 20, 3000, 6000, 11000};
    hz_count_alloc ca;
    hz_server *srv = NULL;
    hz_config cfg;
    if (size < 4)
        return 0;
    uint8_t mode = data[0];
    size_t wcap = data[1] ? 1u + 7u * data[1] : SIZE_MAX;
    uint32_t seed = (uint32_t)data[2] << 8 | data[3];
    data += 4;
    size -= 4;

    memset(g_piece, 'b', sizeof(g_piece));
    fz_tp_reset(&g_tp, FZ_OUT_MAX);
    g_tp.on_close = record_nreq;
    memset(g_is_head, 0, sizeof(g_is_head));
    g_seq = 0;
    g_nreq = 0;
    g_paused = NULL;
    g_big = NULL;

    hz_count_alloc_init(&ca);
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.allocator = &ca.iface;
    cfg.output_buffer = 4096; /* /big outgrows it: drain path */
    cfg.max_pipelined = 4;
    cfg.limits.header_bytes = 4096;
    cfg.limits.body_buffered = 16384;
    cfg.limits.body_streamed = 65536;
    FZ_CHECK(hz_server_create(&srv, &cfg) == 0, "hz_server_create");
    hz_route_opts stream_opts;
    hz_route_opts_init(&stream_opts);
    stream_opts.flags = HZ_ROUTE_STREAM_BODY;
    FZ_CHECK(hz_route_with(srv, NULL, "/stream", h_stream, NULL, &stream_opts) == 0,
             "route /stream");
    FZ_CHECK(hz_route(srv, NULL, "/*", h_any, NULL) == 0, "route /*");

    hz__loop *loop = &srv->loops[0];
    hz__conn *c = NULL;
    FZ_CHECK(hz__conn_attach(loop, &fz_transport, &g_tp, &c) == 0, "hz__conn_attach");

    size_t off = 0;
    while (off < size && !g_tp.m.closed) {
        size_t len;
        switch (mode & 3) {
        case 0:
            len = size - off;
            break;
        case 1:
            len = 1;
            break;
        default:
            len = 1 + fz_rnd(&seed) % ((mode & 3) == 2 ? 16 : 512);
            break;
        }
        if (len > size - off)
            len = size - off;
        g_tp.m.in = (const char *)data + off;
        g_tp.m.in_len = len;
        g_tp.m.in_off = 0;
        g_tp.budget = wcap;
        step_io(loop, c);
        off += g_tp.m.in_off;
        if (g_tp.m.in_off < len && !g_tp.m.closed) {
            /* The server did not want it all now (pipelining bound, paused
             * body): let the client read and time pass, then offer again. */
            g_tp.budget = SIZE_MAX;
            step_io(loop, c);
            fz_advance(loop, 1);
        }
        if (mode & 4)
            fz_advance(loop, steps_ms[fz_rnd(&seed) % HZ__ARRAY_LEN(steps_ms)]);
    }
    /* The end: the client reads everything, maybe half-closes, time passes
     * (async answers, then the timeouts) until the connection is closed. */
    g_tp.m.in_len = g_tp.m.in_off = 0;
    g_tp.m.eof = (mode & 8) != 0;
    for (int i = 0; i < 40 && !g_tp.m.closed; i++) {
        g_tp.budget = SIZE_MAX;
        step_io(loop, c);
        fz_advance(loop, i < 20 ? 10 : 3000);
    }
    uint32_t nreq = g_tp.m.closed ? g_nreq : c->nrequests;
    int abrupt = g_tp.m.closed && g_tp.abrupt;
    hz_server_destroy(srv);
    FZ_CHECK(g_tp.m.closed, "destroy closes the connection");
    if (!abrupt)
        abrupt = g_tp.abrupt;
    if (getenv("HZ_FUZZ_CONN_DUMP")) /* debugging: what the client saw */
        fprintf(stderr, "--- %u dispatched, %u parsed, %s\n%.*s\n---\n", g_seq, nreq,
                abrupt ? "abrupt close" : "clean close", (int)g_tp.m.out_len, g_tp.m.out);
    check_output(g_tp.m.out, g_tp.m.out_len, nreq, abrupt);
    FZ_CHECK(atomic_load(&ca.live_blocks) == 0, "memory not returned (live blocks)");
    FZ_CHECK(atomic_load(&ca.size_mismatches) == 0, "free with a wrong size");
    return 0;
}
