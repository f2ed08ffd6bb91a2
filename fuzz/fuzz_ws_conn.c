/* fuzz_ws_conn.c - libFuzzer target: a whole WebSocket connection (the
 * HTTP/1.1 upgrade, the hand-over to core/ws, then arbitrary client bytes
 * as frames) over the checked in-memory transport of fuzz/support/fz_conn.c
 * with a virtual clock, like fuzz_conn.c. The server is created, never started; its loop is stepped
 * by hand.
 *
 * Input: 4 control bytes, then the client's bytes after the upgrade.
 *   [0] bits 0-1 split: 0 whole, 1 byte by byte, 2-3 pseudo-random lengths
 *       bit 2    advance the clock between segments (pings, idle, close
 *                and write timeouts fire)
 *       bit 3    end with EOF from the client
 *       bit 4    offer permessage-deflate
 *       bit 5    streamed delivery (hz_ws_options.stream)
 *       bit 6    the handler closes (1000) after its third message
 *   [1] write window per step: 0 = unlimited, else 1 + 7 * value bytes
 *   [2..3] seed of the split / clock generator
 *
 * Invariants (abort on violation):
 *   - nothing is sent after close, nothing read after close;
 *   - the output is the 101 head and then server frames that a strict
 *     client parser accepts (unmasked, valid close payloads, RSV1 only
 *     when compression was agreed), nothing after our close frame;
 *   - on_close runs at most once;
 *   - every block from the counting allocator is freed after destroy. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fz_conn.h"
#include "ws_conn.h"
#include "../tests/support/test_alloc.h"

#define FZ_OUT_MAX (1u << 22)

const char fz_target[] = "fuzz_ws_conn";

static fz_tp g_tp;

/* ---- the application ------------------------------------------------------------- */

static hz_ws *g_ws;
static int g_closes, g_msgs, g_close_after3, g_stream;

static void on_open(hz_ws *ws, void *ud)
{
    (void)ud;
    g_ws = ws;
    hz_ws_retain(ws); /* the harness holds it past on_close */
}

static void on_message(hz_ws *ws, int op, const void *d, size_t len, int fin, void *ud)
{
    (void)ud;
    int rc = hz_ws_send(ws, op, d, len, g_stream && !fin ? HZ_WS_MORE : 0);
    FZ_CHECK(rc == 0 || rc == HZ_EAGAIN || rc == HZ_ECLOSED, "echo send");
    if (fin && ++g_msgs == 3 && g_close_after3)
        hz_ws_close(ws, 1000, "enough", 6);
}

static void on_close(hz_ws *ws, unsigned code, const char *r, size_t len, void *ud)
{
    (void)ws, (void)r, (void)len, (void)ud;
    FZ_CHECK(code >= 1000 && code < 5000, "close code range");
    g_closes++;
    FZ_CHECK(g_closes == 1, "on_close twice");
}

static void on_drain(hz_ws *ws, void *ud)
{
    (void)ud;
    hz_ws_ping(ws, "d", 1);
}

static void h_ws(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_ws_callbacks cb = {
        .on_open = on_open, .on_message = on_message, .on_close = on_close, .on_drain = on_drain};
    hz_ws_options o;
    hz_ws_options_init(&o);
    o.max_frame = 2048;
    o.max_message = 4096;
    o.output_budget = 1024;
    o.ping_interval_ms = 50;
    o.idle_timeout_ms = 400;
    o.close_timeout_ms = 100;
    o.compression = 1;
    o.compress_min = 8;
    o.stream = g_stream;
    hz_ws_accept(req, res, &cb, &o, NULL);
}

/* ---- the driver -------------------------------------------------------------------- */

/* The open object (the HTTP/1.1 connection, then the WebSocket) and its
 * interest, as a level-triggered poller would see them. */
static void step_io(hz__loop *loop)
{
    for (int round = 0; round < 8 && !g_tp.m.closed; round++) {
        hz__io *io = loop->ios;
        if (!io)
            break;
        unsigned interest = g_ws && &g_ws->io == io ? g_ws->interest : ((hz__conn *)io)->interest;
        unsigned ev = 0;
        if ((interest & HZ_EV_READ) && (g_tp.m.in_off < g_tp.m.in_len || g_tp.m.eof))
            ev |= HZ_EV_READ;
        if ((interest & HZ_EV_WRITE) && g_tp.budget)
            ev |= HZ_EV_WRITE;
        if (!ev)
            break;
        io->vt->on_event(io, ev);
        fz_run_ready(loop);
    }
    if (loop->reap)
        hz__loop_run_pending(loop);
}

/* The output: the 101 head, then frames a strict client accepts. */
static void check_output(int compressed)
{
    const uint8_t *out = (const uint8_t *)g_tp.m.out;
    size_t n = g_tp.m.out_len;
    int cut = g_tp.m.sent > n; /* more than FZ_OUT_MAX sent */
    static const char h101[] = "HTTP/1.1 101 Switching Protocols\r\n";
    if (n < sizeof(h101) - 1 || memcmp(out, h101, sizeof(h101) - 1) != 0)
        return; /* refused (or nothing written): an HTTP answer, fuzz_conn's business */
    size_t hl = 0;
    for (size_t i = 0; i + 3 < n; i++)
        if (!memcmp(out + i, "\r\n\r\n", 4)) {
            hl = i + 4;
            break;
        }
    if (!hl)
        return; /* cut short by a small write window and a timeout */
    int agreed = memmem(out, hl, "permessage-deflate", 18) != NULL;
    FZ_CHECK(!agreed || compressed, "deflate agreed without an offer");
    hz__ws_parser p;
    hz__ws_parser_cfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.role = HZ__WS_CLIENT;
    cfg.rsv1_compressed = (unsigned)agreed;
    hz__ws_parser_init(&p, &cfg);
    static uint8_t tmp[4096];
    size_t off = hl;
    int closed = 0;
    while (off < n) {
        hz__ws_event ev;
        long r = hz__ws_parse_copy(&p, out + off, n - off, tmp, sizeof(tmp), &ev);
        FZ_CHECK(r >= 0 || cut, "server frames parse");
        if (r < 0)
            break;
        off += (size_t)r;
        if (ev.type == HZ__WS_EV_CONTROL && ev.opcode == HZ__WS_OP_CLOSE)
            closed = 1;
        if (ev.type == HZ__WS_EV_NONE)
            break;
    }
    FZ_CHECK(!closed || off == n, "nothing after the close frame");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    unsigned ctl = data[0];
    unsigned split = ctl & 3;
    int clock = (ctl >> 2) & 1, eof = (ctl >> 3) & 1, offer = (ctl >> 4) & 1;
    g_stream = (ctl >> 5) & 1;
    g_close_after3 = (ctl >> 6) & 1;
    size_t window = data[1] ? 1 + 7u * data[1] : SIZE_MAX;
    uint32_t seed = (uint32_t)data[2] << 8 | data[3];
    data += 4;
    size -= 4;

    static hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.allocator = &ca.iface;
    cfg.timeouts.write = 300;
    hz_server *srv;
    FZ_CHECK(hz_server_create(&srv, &cfg) == 0, "server");
    FZ_CHECK(hz_route(srv, "GET", "/ws", h_ws, NULL) == 0, "route");
    hz__loop *loop = &srv->loops[0];
    loop->thread = pthread_self(); /* sends come from the loop's thread */

    /* The upgrade request, then the fuzzer's bytes, as one client stream. */
    static const char req[] =
        "GET /ws HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n";
    static const char pmd[] = "Sec-WebSocket-Extensions: permessage-deflate; "
                              "client_max_window_bits\r\n";
    size_t rl = sizeof(req) - 1, pl = offer ? sizeof(pmd) - 1 : 0;
    uint8_t *in = malloc(rl + pl + 2 + size + 1);
    memcpy(in, req, rl);
    memcpy(in + rl, pmd, pl);
    memcpy(in + rl + pl, "\r\n", 2);
    memcpy(in + rl + pl + 2, data, size);
    size_t total = rl + pl + 2 + size;

    fz_tp_reset(&g_tp, FZ_OUT_MAX);
    g_ws = NULL;
    g_closes = g_msgs = 0;
    hz__conn *c;
    FZ_CHECK(hz__conn_attach(loop, &fz_transport, &g_tp, &c) == 0, "attach");

    size_t pos = 0;
    while (pos < total && !g_tp.m.closed) {
        size_t seg = total - pos;
        if (split == 1)
            seg = 1;
        else if (split >= 2)
            seg = 1 + fz_rnd(&seed) % (seg < 97 ? seg : 97);
        g_tp.m.in = (const char *)in + pos;
        g_tp.m.in_len = seg;
        g_tp.m.in_off = 0;
        g_tp.budget = window;
        step_io(loop);
        pos += g_tp.m.in_off;
        if (!g_tp.m.in_off) {
            /* Not read (paused by the budget): let output drain and time pass. */
            g_tp.budget = SIZE_MAX;
            step_io(loop);
            fz_advance(loop, clock ? 1 + fz_rnd(&seed) % 120 : 10);
            g_tp.m.in = (const char *)in + pos;
            g_tp.m.in_len = total - pos < seg ? total - pos : seg;
            g_tp.m.in_off = 0;
            step_io(loop);
            pos += g_tp.m.in_off;
            if (!g_tp.m.in_off)
                break;
        }
        if (clock)
            fz_advance(loop, fz_rnd(&seed) % 60);
    }
    g_tp.m.in_len = g_tp.m.in_off = 0;
    g_tp.m.eof = eof;
    for (int i = 0; i < 20 && !g_tp.m.closed; i++) {
        g_tp.budget = window;
        step_io(loop);
        fz_advance(loop, 100);
    }
    hz_server_destroy(srv);
    check_output(offer);
    FZ_CHECK(!g_ws || g_closes == 1, "on_close ran for an opened connection");
    if (g_ws)
        hz_ws_release(g_ws);
    free(in);
    FZ_CHECK(atomic_load(&ca.live_blocks) == 0, "leak");
    return 0;
}
