/* fuzz_h2_conn.c - libFuzzer target: arbitrary bytes after the HTTP/2
 * connection preface, through the real connection (core/http1's sniffing,
 * the takeover, core/http2 over nghttp2) on the in-memory transport
 * (core/event/memio.c) with a virtual clock.
 *
 * Input: 2 control bytes, then the client's bytes (sent after the preface).
 *   [0] bits 0-1 read size: 0 all, 1 one byte, 2 7 bytes, 3 61 bytes
 *       bit 2    advance the clock between reads (fires the timeouts)
 *       bit 3    end with EOF from the client
 *   [1] write size per send: 0 = unlimited, else 13 * value bytes
 *
 * GET /ws (and an RFC 8441 extended CONNECT to it) is a WebSocket echo
 * with permessage-deflate and a 1 s idle timeout (so it ends by itself).
 *
 * File sources (the NO_COPY send_data path and the loop's open-file cache;
 * the in-memory transport has no socket, so files go through the body
 * source): /s/a.txt (and /s/, its directory) is the static handler over a
 * temp directory made once, with a short file_cache_ms; /tfile serves
 * t.bin through hz_req_file_get/put and hz_res_sendfile from an offset the
 * path picks, and /cut truncates t.bin (a later or a running /tfile reads
 * short: the connection closes), restored for every input.
 *
 * Invariants (abort on violation): nothing is sent after close; the server
 * closes within the timeouts once input stops; every block of the counting
 * allocator (nghttp2's included) is freed after destroy, with its size. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fz_conn.h"
#include "../tests/support/test_alloc.h"

const char fz_target[] = "fuzz_h2_conn";

static hz_req *g_paused;

/* Past the output buffer (4096), yet small: the driver's last steps must
 * see a slow reader (13-byte writes) take every stream's file, or the
 * connection still legitimately making progress looks like a hang. */
#define FZ_FILE_LEN 6000u
static char g_dir[64], g_tpath[96];
static int g_tfd = -1; /* t.bin, read-write: /cut truncates it */
static hz_static *g_st;
static char g_fbody[FZ_FILE_LEN];

static void write_all(int fd, const char *p, size_t n)
{
    FZ_CHECK(pwrite(fd, p, n, 0) == (ssize_t)n, "pwrite");
    FZ_CHECK(ftruncate(fd, (off_t)n) == 0, "ftruncate");
}

static void files_cleanup(void)
{
    char p[96];
    snprintf(p, sizeof(p), "%s/a.txt", g_dir);
    unlink(p);
    unlink(g_tpath);
    rmdir(g_dir);
}

/* Once per process: the directory, a.txt and t.bin, the static handler
 * (removed at exit; the handler and the fd live as long as the process). */
static void files_init(void)
{
    if (g_st)
        return;
    for (size_t i = 0; i < FZ_FILE_LEN; i++)
        g_fbody[i] = (char)('a' + i % 23);
    snprintf(g_dir, sizeof(g_dir), "/tmp/fz-h2-XXXXXX");
    FZ_CHECK(mkdtemp(g_dir) != NULL, "mkdtemp");
    atexit(files_cleanup);
    char a[96];
    snprintf(a, sizeof(a), "%s/a.txt", g_dir);
    int fd = open(a, O_RDWR | O_CREAT | O_TRUNC, 0600);
    FZ_CHECK(fd >= 0, "open a.txt");
    write_all(fd, g_fbody, FZ_FILE_LEN);
    close(fd);
    snprintf(g_tpath, sizeof(g_tpath), "%s/t.bin", g_dir);
    g_tfd = open(g_tpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
    FZ_CHECK(g_tfd >= 0, "open t.bin");
    hz_static_config sc;
    hz_static_config_init(&sc);
    sc.root = g_dir;
    sc.index = "a.txt";
    sc.compress = 0;
    sc.precompressed = 0;
    sc.file_cache = 2;
    sc.file_cache_ms = 50; /* the virtual clock expires entries mid-input */
    FZ_CHECK(hz_static_create(&g_st, &sc, NULL) == 0, "hz_static_create");
}

/* /tfile[...]: t.bin through the loop's cache, from an offset the path's
 * length picks, to the length it had when made (not after a /cut). */
static void h_tfile(hz_req *req, hz_res *res)
{
    static const char key[] = "t";
    int fd = hz_req_file_get(req, &g_tfd, key, 1, NULL, 0);
    if (fd < 0) {
        fd = open(g_tpath, O_RDONLY);
        if (fd < 0) {
            hz_res_send(res, 500, "open", 4);
            return;
        }
        (void)hz_req_file_put(req, &g_tfd, key, 1, 2, 30, fd, NULL, 0); /* else ours */
    }
    uint64_t off = (hz_req_path(req).len * 997u) % FZ_FILE_LEN;
    (void)hz_res_sendfile(res, 200, fd, off, FZ_FILE_LEN - off);
}

static void h_any(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_str p = hz_req_path(req);
    if (p.len > 5 && memcmp(p.ptr, "/slow", 5) == 0) {
        hz_res_after(res, 50, NULL, NULL) == 0 ? (void)0 : (void)hz_res_send(res, 200, "x", 1);
        return;
    }
    if (p.len > 4 && memcmp(p.ptr, "/big", 4) == 0) {
        static char blk[20000];
        hz_res_start(res, 200);
        while (hz_res_write(res, blk, sizeof(blk)) == 0)
            ;
        hz_res_end(res);
        return;
    }
    if (p.len >= 6 && memcmp(p.ptr, "/tfile", 6) == 0) {
        h_tfile(req, res);
        return;
    }
    if (p.len >= 4 && memcmp(p.ptr, "/cut", 4) == 0) {
        FZ_CHECK(ftruncate(g_tfd, FZ_FILE_LEN / 3) == 0, "ftruncate");
        hz_res_send(res, 200, "cut", 3);
        return;
    }
    hz_str b = hz_req_body(req);
    hz_res_set_header(res, "X-Len", "1");
    hz_res_send(res, 200, b.ptr, b.len);
}

static void ws_echo(hz_ws *ws, int op, const void *d, size_t len, int fin, void *ud)
{
    (void)ud;
    hz_ws_send(ws, op, d, len, fin ? 0 : HZ_WS_MORE);
}

static void h_ws(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {.on_message = ws_echo};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.compression = 1;
    o.stream = 1;
    o.max_message = 8192;
    o.output_budget = 4096;
    o.idle_timeout_ms = 1000;
    o.close_timeout_ms = 1000;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

static unsigned g_npause;

static int s_chunk(hz_req *req, const void *data, size_t len, void *ud)
{
    (void)data;
    /* Every other odd-sized piece pauses; the driver resumes it. */
    if ((len & 1) && (g_npause++ & 1) == 0) {
        g_paused = req;
        return HZ_EAGAIN;
    }
    return hz_res_write(ud, "c", 1) == HZ_EAGAIN ? 0 : 0;
}

static void s_end(hz_req *req, int status, void *ud)
{
    if (g_paused == req)
        g_paused = NULL;
    if (status == 0)
        hz_res_end(ud);
}

static void h_stream(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_res_start(res, 200);
    FZ_CHECK(hz_req_on_body(req, s_chunk, s_end, res) == 0, "hz_req_on_body");
}

static void resume_paused(hz__loop *loop, hz__memio *m)
{
    if (g_paused && !m->closed) {
        hz_req *p = g_paused;
        g_paused = NULL;
        hz_req_resume(p);
        fz_run_ready(loop);
    }
}

static void step(hz__loop *loop, hz__conn *c, hz__memio *m)
{
    for (int round = 0; round < 8 && !m->closed; round++) {
        unsigned ev = 0;
        if ((c->interest & HZ_EV_READ) && (m->in_off < m->in_len || m->eof))
            ev |= HZ_EV_READ;
        if (c->interest & HZ_EV_WRITE)
            ev |= HZ_EV_WRITE;
        if (!ev)
            break;
        c->io.vt->on_event(&c->io, ev); /* HTTP/1.1's, then HTTP/2's */
        fz_run_ready(loop);
        resume_paused(loop, m);
    }
    resume_paused(loop, m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    if (size < 2 || size > 65536)
        return 0;
    unsigned mode = data[0];
    size_t wsize = (size_t)data[1] * 13;
    data += 2;
    size -= 2;
    char *in = malloc(sizeof(preface) - 1 + size + 1);
    memcpy(in, preface, sizeof(preface) - 1);
    memcpy(in + sizeof(preface) - 1, data, size);
    size_t in_len = sizeof(preface) - 1 + size;

    files_init();
    write_all(g_tfd, g_fbody, FZ_FILE_LEN); /* whole again after a /cut */
    g_paused = NULL;
    g_npause = 0;
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.allocator = &ca.iface;
    cfg.output_buffer = 4096;
    cfg.limits.header_bytes = 4096;
    cfg.limits.body_buffered = 16384;
    cfg.http2.max_concurrent_streams = 8;
    cfg.http2.conn_output_buffer = 16384;
    cfg.http2.max_control_frames = 200;
    cfg.http2.max_resets = 20;
    hz_server *srv;
    FZ_CHECK(hz_server_create(&srv, &cfg) == 0, "hz_server_create");
    hz_route_opts so;
    hz_route_opts_init(&so);
    so.flags = HZ_ROUTE_STREAM_BODY;
    FZ_CHECK(hz_route_with(srv, NULL, "/stream", h_stream, NULL, &so) == 0, "route");
    FZ_CHECK(hz_route(srv, "GET", "/ws", h_ws, NULL) == 0, "route");
    FZ_CHECK(hz_route_static(srv, "/s/", g_st) == 0, "route");
    FZ_CHECK(hz_route(srv, NULL, "/*", h_any, NULL) == 0, "route");
    if (!srv->h2_takeover) { /* built without HTTP/2 */
        hz_server_destroy(srv);
        free(in);
        return 0;
    }

    hz__memio m;
    memset(&m, 0, sizeof(m));
    m.in = in;
    m.in_len = in_len;
    m.max_read = (size_t[]){0, 1, 7, 61}[mode & 3];
    m.max_write = wsize;
    m.out_max = 1u << 20;
    m.a = &ca.iface;
    hz__loop *loop = &srv->loops[0];
    loop->thread = pthread_self(); /* WebSocket sends come from the loop's thread */
    hz__conn *c = NULL;
    FZ_CHECK(hz__conn_attach(loop, &hz__transport_mem, &m, &c) == 0, "hz__conn_attach");
    c->h2_ok = 1; /* a plain listener with HZ_PROTO_HTTP2 */

    for (int i = 0; i < 4096 && !m.closed && m.in_off < m.in_len; i++) {
        size_t before = m.in_off;
        step(loop, c, &m);
        if (mode & 4)
            fz_advance(loop, 1 + (unsigned)(i % 7) * 300);
        if (m.in_off == before)
            fz_advance(loop, 100); /* the server waits: let time pass */
    }
    m.eof = (mode & 8) != 0;
    /* Sixty steps without progress (then the timeouts close it); a slow
     * reader still taking the files' bytes 13 at a time is progress, not
     * a hang: more steps for it (bounded). */
    for (int i = 0, idle = 0; idle < 60 && i < 4096 && !m.closed; i++) {
        size_t before = m.sent;
        step(loop, c, &m);
        if (m.sent != before) {
            fz_advance(loop, 10);
            continue;
        }
        fz_advance(loop, idle < 20 ? 10 : 3000);
        idle++;
    }
    FZ_CHECK(m.closed, "the connection outlived every timeout");
    size_t sent = m.sent;
    hz_server_destroy(srv);
    FZ_CHECK(m.sent == sent, "bytes sent after close");
    hz__memio_free(&m);
    free(in);
    FZ_CHECK(atomic_load(&ca.live_blocks) == 0, "memory not returned (live blocks)");
    FZ_CHECK(atomic_load(&ca.size_mismatches) == 0, "free with a wrong size");
    return 0;
}
