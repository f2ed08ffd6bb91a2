/* demo_web.c - the demo's web app: the files of examples/www/ through the
 * static handler, the status page's Server-Sent Events feed built from
 * hz_server_metrics, and a download streamed in pieces with pauses (read
 * by the page with fetch() and a ReadableStream).
 *
 * Both long responses are streamed (hz_res_start/hz_res_write) and paced by
 * hz_res_after, so they hold no thread: a tick runs on the connection's
 * loop, writes one piece and arms the next tick. Their state is freed in
 * the done callback, which runs once however the exchange ends; a tick
 * told HZ_ECANCELED (the client went away) returns without touching it.
 */
#define _POSIX_C_SOURCE 200809L
#include "demo_web.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static hz_server *g_web_srv;    /* borrowed: the demo's server */
static hz_static *g_web_static; /* owns: the www/ file handler */
static volatile sig_atomic_t g_web_stopping;

void demo_web_stop(void)
{
    g_web_stopping = 1;
}

void demo_web_free(void)
{
    hz_static_destroy(g_web_static);
    g_web_static = NULL;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

long demo_query_num(const hz_req *req, const char *key, long def, long max)
{
    hz_str q = hz_req_query(req);
    size_t kl = strlen(key);
    for (size_t i = 0; q.ptr && i + kl + 1 <= q.len; i++) {
        if ((i == 0 || q.ptr[i - 1] == '&') && !memcmp(q.ptr + i, key, kl) &&
            q.ptr[i + kl] == '=') {
            long v = 0;
            for (size_t j = i + kl + 1; j < q.len && q.ptr[j] >= '0' && q.ptr[j] <= '9'; j++)
                if (v <= max)
                    v = v * 10 + (q.ptr[j] - '0');
            return v > max ? max : v;
        }
    }
    return def;
}

/* GET routes answer HEAD too. */
static int is_head(const hz_req *req)
{
    hz_str m = hz_req_method(req);
    return m.len == 4 && !memcmp(m.ptr, "HEAD", 4);
}

/* ---- GET /status/events: Server-Sent Events --------------------------------- */

#define SSE_PERIOD_MS 1000
#define SSE_EVENT_MAX 4096

/* Appends printf output to buf at *n; a full buffer sticks at len. */
static void jcat(char *buf, size_t len, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void jcat(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
    if (*n >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *n, len - *n, fmt, ap);
    va_end(ap);
    *n = k < 0 || (size_t)k >= len - *n ? len : *n + (size_t)k;
}

static void jarr(char *buf, size_t len, size_t *n, const char *name, const uint64_t *v, size_t cnt)
{
    jcat(buf, len, n, ",\"%s\":[", name);
    for (size_t i = 0; i < cnt; i++)
        jcat(buf, len, n, "%s%llu", i ? "," : "", (unsigned long long)v[i]);
    jcat(buf, len, n, "]");
}

/* One event: "data: {json}\n\n". The page computes rates from the
 * differences between events, so every number is the server's running
 * total (or a gauge) and a lost event costs nothing. Returns the length,
 * or -1 when buf is too small (a bug: the event is fixed-size). */
static long sse_event(char *buf, size_t len)
{
    hz_metrics m;
    if (hz_server_metrics(g_web_srv, &m) < 0)
        return -1;
    const hz_build_info *v = hz_version_info();
    size_t n = 0;
    jcat(buf, len, &n,
         "data: {\"t\":%llu,\"server\":{\"version\":\"%s\",\"tls\":\"%s\",\"poller\":\"%s\"}"
         ",\"conn_open\":%llu,\"conn_accepted\":%llu,\"requests\":%llu,\"in_flight\":%llu"
         ",\"aborted\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu",
         (unsigned long long)now_ms(), v->version, v->tls, v->poller,
         (unsigned long long)m.conn_open, (unsigned long long)m.conn_accepted,
         (unsigned long long)m.requests, (unsigned long long)m.requests_in_flight,
         (unsigned long long)m.requests_aborted, (unsigned long long)m.bytes_in,
         (unsigned long long)m.bytes_out);
    /* The protocol mix, connections since the start: over TLS and in plain
     * text, those that turned HTTP/2 and the WebSocket upgrades. */
    uint64_t tls = m.tls_handshakes_ok + m.tls_handshakes_failed;
    jcat(buf, len, &n, ",\"proto\":{\"https\":%llu,\"http\":%llu,\"h2\":%llu,\"ws\":%llu}",
         (unsigned long long)tls,
         (unsigned long long)(m.conn_accepted > tls ? m.conn_accepted - tls : 0),
         (unsigned long long)m.http2_connections, (unsigned long long)m.ws_opened);
    jarr(buf, len, &n, "status", m.status_class, 5);
    jarr(buf, len, &n, "method", m.method, HZ_METHOD_KINDS);
    jcat(buf, len, &n, ",\"lat_le\":[");
    for (unsigned i = 0; i < HZ_METRICS_LAT_BUCKETS; i++)
        jcat(buf, len, &n, "%s%g", i ? "," : "", hz_metrics_bucket_le(i));
    jcat(buf, len, &n, "]");
    jarr(buf, len, &n, "lat", m.latency_bucket, HZ_METRICS_LAT_BUCKETS);
    jcat(buf, len, &n, ",\"lat_count\":%llu,\"lat_sum_ns\":%llu}\n\n",
         (unsigned long long)m.latency_count, (unsigned long long)m.latency_sum_ns);
    return n < len ? (long)n : -1;
}

static void sse_tick(hz_res *res, int status, void *ud)
{
    (void)ud;
    if (status != 0)
        return; /* the client went away; nothing to do (no state) */
    if (g_web_stopping) {
        hz_res_end(res); /* let a graceful stop finish at once */
        return;
    }
    char buf[SSE_EVENT_MAX];
    long n = sse_event(buf, sizeof(buf));
    if (n < 0) {
        hz_res_end(res);
        return;
    }
    int rc = hz_res_write(res, buf, (size_t)n);
    /* HZ_EAGAIN: the client reads slower than one event a second; this one
     * is skipped (the next carries the totals). Any other error: the
     * connection is closing and the done path cleans up. */
    if (rc < 0 && rc != HZ_EAGAIN)
        return;
    hz_res_after(res, SSE_PERIOD_MS, sse_tick, NULL);
}

static void status_events(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_res_set_header(res, "Content-Type", "text/event-stream");
    hz_res_set_header(res, "Cache-Control", "no-store");
    if (is_head(req)) { /* the head only: the stream would never end */
        hz_res_send(res, 200, NULL, 0);
        return;
    }
    if (hz_res_start(res, 200) < 0)
        return;
    /* The browser reconnects 2 s after a lost stream; the first event goes
     * out now so the page has numbers at once. */
    static const char retry[] = "retry: 2000\n\n";
    if (hz_res_write(res, retry, sizeof(retry) - 1) < 0)
        return;
    sse_tick(res, 0, NULL);
}

/* ---- GET /stream: a body in pieces, with pauses ------------------------------ */

typedef struct stream_state {
    long n, i;   /* pieces in all, sent so far */
    long ms;     /* pause between two pieces */
    long size;   /* bytes per piece */
    char buf[1]; /* owns: size bytes (allocated with the struct) */
} stream_state;

static void stream_tick(hz_res *res, int status, void *ud)
{
    if (status != 0)
        return; /* cancelled: st is freed by stream_done */
    stream_state *st = ud;
    if (st->i == st->n || g_web_stopping) {
        hz_res_end(res);
        return;
    }
    /* "piece 3 of 8" padded with dots to size, newline-terminated. */
    memset(st->buf, '.', (size_t)st->size);
    int k = snprintf(st->buf, (size_t)st->size, "piece %ld of %ld", st->i + 1, st->n);
    if (k > 0 && k < st->size)
        st->buf[k] = ' ';
    st->buf[st->size - 1] = '\n';
    int rc = hz_res_write(res, st->buf, (size_t)st->size);
    if (rc == 0)
        st->i++;
    else if (rc != HZ_EAGAIN) /* HZ_EAGAIN: not taken, tried again next tick */
        return;
    hz_res_after(res, st->i == st->n ? 0 : (unsigned)st->ms, stream_tick, st);
}

static void stream_done(hz_res *res, int status, void *ud)
{
    (void)res;
    (void)status;
    free(ud);
}

static void stream(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    if (is_head(req)) {
        hz_res_set_header(res, "Content-Type", "text/plain; charset=utf-8");
        hz_res_send(res, 200, NULL, 0);
        return;
    }
    long size = demo_query_num(req, "size", 1024, 65536);
    if (size < 32)
        size = 32;
    stream_state *st = malloc(sizeof(*st) + (size_t)size);
    if (!st) {
        hz_res_send(res, 503, NULL, 0);
        return;
    }
    st->n = demo_query_num(req, "n", 8, 1000);
    st->ms = demo_query_num(req, "ms", 250, 10000);
    st->size = size;
    st->i = 0;
    if (hz_res_on_done(res, stream_done, st) < 0) {
        free(st);
        hz_res_send(res, 500, NULL, 0);
        return;
    }
    hz_res_set_header(res, "Content-Type", "text/plain; charset=utf-8");
    hz_res_set_header(res, "Cache-Control", "no-store");
    /* No MIME sniffing, which could hold the first bytes back. */
    hz_res_set_header(res, "X-Content-Type-Options", "nosniff");
    if (hz_res_start(res, 200) < 0)
        return;
    stream_tick(res, 0, st);
}

/* ---- routes ------------------------------------------------------------------ */

int demo_web_routes(hz_server *srv, const char *www)
{
    g_web_srv = srv;
    hz_static_config sc;
    hz_static_config_init(&sc);
    sc.root = www;
    /* Revalidate on every use: a reload answers 304 for unchanged files
     * and an edited file shows at once. */
    sc.cache_control = "no-cache";
    int rc = hz_static_create(&g_web_static, &sc, NULL);
    if (rc < 0)
        return rc;
    /* GET / has no wildcard: the handler serves the whole path, "/", which
     * is www/ and so its index.html. */
    if ((rc = hz_route(srv, "GET", "/", hz_static_handler, g_web_static)) < 0 ||
        (rc = hz_route_static(srv, "/app/", g_web_static)) < 0 ||
        (rc = hz_route(srv, "GET", "/status/events", status_events, NULL)) < 0 ||
        (rc = hz_route(srv, "GET", "/stream", stream, NULL)) < 0)
        return rc;
    return 0;
}
