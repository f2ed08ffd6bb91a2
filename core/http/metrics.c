/* metrics.c - the protocol-neutral metrics hooks, the summed snapshot and
 * its Prometheus rendering (the connection hooks are core/http1/h1metrics.c). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "loop.h"
#include "metrics.h"
#include "accesslog.h"
#include "fmt.h"

/* Latency bucket bounds in ns: a 1-2.5-5 series from 100 us to 10 s, then
 * 30 s and 60 s for slow executor handlers. */
const uint64_t hz__lat_bound_ns[HZ_METRICS_LAT_BUCKETS] = {
    100000ull,     250000ull,     500000ull,     1000000ull,     2500000ull,     5000000ull,
    10000000ull,   25000000ull,   50000000ull,   100000000ull,   250000000ull,   500000000ull,
    1000000000ull, 2500000000ull, 5000000000ull, 10000000000ull, 30000000000ull, 60000000000ull,
};

_Static_assert(HZ__PE_COUNT <= HZ_METRICS_PARSE_KINDS, "HZ_METRICS_PARSE_KINDS too small");
/* The first release's hz_metrics was 94 counters. Growing an inner array (a
 * new close reason, method, timeout kind or bucket) or inserting a field
 * would move access_log_dropped: new counters are appended instead. */
_Static_assert(HZ__METRICS_SIZE_MIN == 94 * sizeof(uint64_t), "hz_metrics' first release moved");

/* ---- hooks ------------------------------------------------------------------ */

void hz__metrics_refused(hz__loop *loop)
{
    hz__m_add(&loop->metrics, HZ__MS_ACCEPTED, 1);
    hz__m_add(&loop->metrics, HZ__MS_CLOSED + HZ_CLOSE_LIMIT, 1);
}

void hz__metrics_timeout(hz__loop *loop, unsigned kind)
{
    if (kind < HZ_TIMEOUT_KINDS)
        hz__m_add(&loop->metrics, HZ__MS_TIMEOUT + kind, 1);
}

void hz__metrics_tls(hz__loop *loop, int ok)
{
    hz__m_add(&loop->metrics, ok ? HZ__MS_TLS_OK : HZ__MS_TLS_FAILED, 1);
}

/* ---- snapshot --------------------------------------------------------------- */

static uint64_t sub0(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

/* A size some header had (or will have: the library's own is the largest
 * it knows). */
static int metrics_size_ok(size_t size, size_t min)
{
    return size >= min && size <= sizeof(hz_metrics);
}

int hz_server_metrics_sized(const hz_server *srv, hz_metrics *out, size_t size)
{
    return hz__metrics_snapshot(srv, out, size, HZ__METRICS_SIZE_MIN);
}

int hz__metrics_snapshot(const hz_server *srv, hz_metrics *dst, size_t size, size_t min)
{
    if (!srv || !dst || !metrics_size_ok(size, min))
        return HZ_EINVAL;
    /* Filled whole here, then only the caller's bytes are copied: an older
     * caller's struct ends at size. */
    hz_metrics snap;
    hz_metrics *out = &snap;
    uint64_t sum[HZ__MS_COUNT];
    memset(sum, 0, sizeof(sum));
    for (unsigned i = 0; i < srv->nloops; i++) {
        const hz__metrics *m = &srv->loops[i].metrics;
        for (unsigned s = 0; s < HZ__MS_COUNT; s++)
            sum[s] += atomic_load_explicit(&((hz__metrics *)m)->v[s], memory_order_relaxed);
    }
    memset(out, 0, sizeof(*out));
    out->conn_accepted = sum[HZ__MS_ACCEPTED];
    uint64_t closed = 0;
    for (unsigned r = 0; r < HZ_CLOSE_REASONS; r++) {
        out->conn_closed[r] = sum[HZ__MS_CLOSED + r];
        closed += out->conn_closed[r];
    }
    out->conn_open = sub0(out->conn_accepted, closed);
    out->requests = sum[HZ__MS_REQ_DONE];
    out->requests_aborted = sum[HZ__MS_REQ_ABORTED];
    out->requests_in_flight = sub0(sum[HZ__MS_REQ_BEGUN], out->requests + out->requests_aborted);
    for (unsigned k = 0; k < 5; k++)
        out->status_class[k] = sum[HZ__MS_STATUS + k];
    for (unsigned k = 0; k < HZ_METHOD_KINDS; k++)
        out->method[k] = sum[HZ__MS_METHOD + k];
    for (unsigned k = 0; k < HZ_METRICS_PARSE_KINDS; k++)
        out->parse_errors[k] = sum[HZ__MS_PARSE + k];
    for (unsigned k = 0; k < HZ_TIMEOUT_KINDS; k++)
        out->timeouts[k] = sum[HZ__MS_TIMEOUT + k];
    out->tls_handshakes_ok = sum[HZ__MS_TLS_OK];
    out->tls_handshakes_failed = sum[HZ__MS_TLS_FAILED];
    out->bytes_in = sum[HZ__MS_BYTES_IN];
    out->bytes_out = sum[HZ__MS_BYTES_OUT];
    const hz_executor *exec = srv->cfg.executor;
    out->exec_queue_depth = exec && exec->vt->queue_depth ? exec->vt->queue_depth(exec->self) : 0;
    uint64_t cum = 0;
    for (unsigned b = 0; b < HZ_METRICS_LAT_BUCKETS; b++) {
        cum += sum[HZ__MS_LAT + b];
        out->latency_bucket[b] = cum;
    }
    out->latency_count = cum + sum[HZ__MS_LAT + HZ_METRICS_LAT_BUCKETS];
    out->latency_sum_ns = sum[HZ__MS_LAT_SUM];
    out->access_log_dropped = sum[HZ__MS_ALOG_DROPPED];
    out->ws_opened = sum[HZ__MS_WS_OPENED];
    out->ws_open = sub0(out->ws_opened, sum[HZ__MS_WS_CLOSED]);
    out->ws_messages_in = sum[HZ__MS_WS_MSG_IN];
    out->ws_messages_out = sum[HZ__MS_WS_MSG_OUT];
    out->ws_bytes_in = sum[HZ__MS_WS_BYTES_IN];
    out->ws_bytes_out = sum[HZ__MS_WS_BYTES_OUT];
    for (unsigned k = 0; k < HZ_WS_CLOSE_KINDS; k++)
        out->ws_close[k] = sum[HZ__MS_WS_CLOSE + k];
    out->http2_connections = sum[HZ__MS_H2_CONNS];
    out->http2_streams = sum[HZ__MS_H2_STREAMS];
    out->http2_peer_resets = sum[HZ__MS_H2_RESETS];
    out->http2_goaway_calm = sum[HZ__MS_H2_CALM];
    out->http2_protocol_errors = sum[HZ__MS_H2_PROTO];
    out->ws_over_http2 = sum[HZ__MS_WS_H2];
    out->conn_parked = sub0(sum[HZ__MS_PARKED], sum[HZ__MS_UNPARKED]);
    memcpy(dst, &snap, size);
    return 0;
}

double hz_metrics_bucket_le(unsigned i)
{
    return i < HZ_METRICS_LAT_BUCKETS ? (double)hz__lat_bound_ns[i] / 1e9 : -1.0;
}

const char *hz_metrics_parse_error_name(unsigned i)
{
    return i < HZ__PE_COUNT ? hz__perr_name((hz__perr)i) : NULL;
}

/* ---- Prometheus text format ------------------------------------------------- */

/* One sample line: name{label="value"} v */
static void sample(hz__sb *w, const char *name, const char *label, const char *value, uint64_t v)
{
    hz__sb_str(w, name);
    if (label) {
        hz__sb_ch(w, '{');
        hz__sb_str(w, label);
        hz__sb_str(w, "=\"");
        hz__sb_str(w, value);
        hz__sb_str(w, "\"}");
    }
    hz__sb_ch(w, ' ');
    hz__sb_u64(w, v);
    hz__sb_ch(w, '\n');
}

static void family(hz__sb *w, const char *name, const char *type, const char *help)
{
    hz__sb_str(w, "# HELP ");
    hz__sb_str(w, name);
    hz__sb_ch(w, ' ');
    hz__sb_str(w, help);
    hz__sb_str(w, "\n# TYPE ");
    hz__sb_str(w, name);
    hz__sb_ch(w, ' ');
    hz__sb_str(w, type);
    hz__sb_ch(w, '\n');
}

static void scalar(hz__sb *w, const char *name, const char *type, const char *help, uint64_t v)
{
    family(w, name, type, help);
    sample(w, name, NULL, NULL, v);
}

static const char *const close_names[HZ_CLOSE_REASONS] = {"normal", "peer",  "timeout",
                                                          "error",  "limit", "shutdown"};
static const char *const timeout_names[HZ_TIMEOUT_KINDS] = {"header",    "body",      "write",
                                                            "keepalive", "handshake", "handler"};
static const char *const method_names[HZ_METHOD_KINDS] = {"GET", "HEAD",   "POST",
                                                          "PUT", "DELETE", "other"};

long hz_metrics_prometheus_sized(const hz_metrics *m, size_t size, char *buf, size_t len)
{
    return hz__metrics_render(m, size, HZ__METRICS_SIZE_MIN, buf, len);
}

long hz__metrics_render(const hz_metrics *m, size_t size, size_t min, char *buf, size_t len)
{
    static const char *const classes[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    if (!m || !buf || !len || !metrics_size_ok(size, min))
        return HZ_EINVAL;
/* Field f is in the caller's struct; a metric past it is absent (not
 * printed), never read. */
#define HAS(f) (size >= HZ__SIZE_THROUGH(hz_metrics, f))
    hz__sb w;
    hz__sb_init(&w, buf, len);
    buf[0] = 0;
    if (HAS(conn_accepted))
        scalar(&w, "httpz_connections_accepted_total", "counter", "Connections accepted.",
               m->conn_accepted);
    if (HAS(conn_open))
        scalar(&w, "httpz_connections_open", "gauge", "Connections open now.", m->conn_open);
    if (HAS(conn_closed)) {
        family(&w, "httpz_connections_closed_total", "counter", "Connections closed, by reason.");
        for (unsigned r = 0; r < HZ_CLOSE_REASONS; r++)
            sample(&w, "httpz_connections_closed_total", "reason", close_names[r],
                   m->conn_closed[r]);
    }
    if (HAS(status_class)) {
        family(&w, "httpz_responses_total", "counter", "Responses completed, by status class.");
        for (unsigned k = 0; k < 5; k++)
            sample(&w, "httpz_responses_total", "code", classes[k], m->status_class[k]);
    }
    if (HAS(method)) {
        family(&w, "httpz_requests_total", "counter", "Requests completed, by method.");
        for (unsigned k = 0; k < HZ_METHOD_KINDS; k++)
            sample(&w, "httpz_requests_total", "method", method_names[k], m->method[k]);
    }
    if (HAS(requests_aborted))
        scalar(&w, "httpz_requests_aborted_total", "counter",
               "Requests that ended without a complete response.", m->requests_aborted);
    if (HAS(requests_in_flight))
        scalar(&w, "httpz_requests_in_flight", "gauge", "Requests begun and not ended.",
               m->requests_in_flight);
    if (HAS(parse_errors)) {
        family(&w, "httpz_parse_errors_total", "counter",
               "Rejected requests, by parse error kind.");
        for (unsigned k = 1; k < HZ_METRICS_PARSE_KINDS; k++) {
            const char *n = hz_metrics_parse_error_name(k);
            if (!n)
                break;
            sample(&w, "httpz_parse_errors_total", "kind", n, m->parse_errors[k]);
        }
    }
    if (HAS(timeouts)) {
        family(&w, "httpz_timeouts_total", "counter", "Timeouts, by kind.");
        for (unsigned k = 0; k < HZ_TIMEOUT_KINDS; k++)
            sample(&w, "httpz_timeouts_total", "kind", timeout_names[k], m->timeouts[k]);
    }
    if (HAS(tls_handshakes_failed)) {
        family(&w, "httpz_tls_handshakes_total", "counter", "TLS handshakes, by result.");
        sample(&w, "httpz_tls_handshakes_total", "result", "ok", m->tls_handshakes_ok);
        sample(&w, "httpz_tls_handshakes_total", "result", "failed", m->tls_handshakes_failed);
    }
    if (HAS(bytes_in))
        scalar(&w, "httpz_received_bytes_total", "counter", "HTTP bytes received.", m->bytes_in);
    if (HAS(bytes_out))
        scalar(&w, "httpz_sent_bytes_total", "counter", "HTTP bytes sent.", m->bytes_out);
    if (HAS(access_log_dropped))
        scalar(&w, "httpz_access_log_dropped_total", "counter",
               "Access-log file lines lost to write errors or a full pipe.", m->access_log_dropped);
    if (HAS(http2_protocol_errors)) {
        scalar(&w, "httpz_http2_connections_total", "counter", "Connections that spoke HTTP/2.",
               m->http2_connections);
        scalar(&w, "httpz_http2_streams_total", "counter", "HTTP/2 request streams opened.",
               m->http2_streams);
        scalar(&w, "httpz_http2_peer_resets_total", "counter",
               "HTTP/2 streams reset by the client before their response ended.",
               m->http2_peer_resets);
        family(&w, "httpz_http2_goaway_total", "counter",
               "HTTP/2 connections closed for an error, by GOAWAY code.");
        sample(&w, "httpz_http2_goaway_total", "code", "enhance_your_calm", m->http2_goaway_calm);
        sample(&w, "httpz_http2_goaway_total", "code", "protocol", m->http2_protocol_errors);
    }
    if (HAS(ws_over_http2))
        scalar(&w, "httpz_websocket_http2_opened_total", "counter",
               "WebSocket connections opened on an HTTP/2 stream (RFC 8441).", m->ws_over_http2);
    if (HAS(conn_parked))
        scalar(&w, "httpz_connections_parked", "gauge",
               "Idle keep-alive connections parked as a small record (also open).", m->conn_parked);
    if (HAS(exec_queue_depth))
        scalar(&w, "httpz_executor_queue_depth", "gauge", "Jobs waiting in the executor queue.",
               m->exec_queue_depth);
    /* The histogram needs its buckets, count and sum together. */
    if (HAS(latency_sum_ns)) {
        family(&w, "httpz_request_duration_seconds", "histogram",
               "Time from a request's first byte to its complete response.");
        char num[32];
        for (unsigned b = 0; b < HZ_METRICS_LAT_BUCKETS; b++) {
            num[hz__fmt_ns_seconds(num, hz__lat_bound_ns[b], 1)] = 0;
            sample(&w, "httpz_request_duration_seconds_bucket", "le", num, m->latency_bucket[b]);
        }
        sample(&w, "httpz_request_duration_seconds_bucket", "le", "+Inf", m->latency_count);
        hz__sb_str(&w, "httpz_request_duration_seconds_sum ");
        hz__sb_put(&w, num, hz__fmt_ns_seconds(num, m->latency_sum_ns, 0));
        hz__sb_ch(&w, '\n');
        sample(&w, "httpz_request_duration_seconds_count", NULL, NULL, m->latency_count);
    }
    if (HAS(ws_open)) {
        scalar(&w, "httpz_websocket_opened_total", "counter", "WebSocket connections opened.",
               m->ws_opened);
        scalar(&w, "httpz_websocket_open", "gauge", "WebSocket connections open now.", m->ws_open);
    }
    if (HAS(ws_messages_out)) {
        family(&w, "httpz_websocket_messages_total", "counter",
               "WebSocket messages, by direction.");
        sample(&w, "httpz_websocket_messages_total", "direction", "in", m->ws_messages_in);
        sample(&w, "httpz_websocket_messages_total", "direction", "out", m->ws_messages_out);
    }
    if (HAS(ws_bytes_out)) {
        family(&w, "httpz_websocket_payload_bytes_total", "counter",
               "WebSocket payload bytes, by direction.");
        sample(&w, "httpz_websocket_payload_bytes_total", "direction", "in", m->ws_bytes_in);
        sample(&w, "httpz_websocket_payload_bytes_total", "direction", "out", m->ws_bytes_out);
    }
    if (HAS(ws_close)) {
        static const char *const codes[HZ_WS_CLOSE_KINDS] = {"1000", "1001", "1002", "1005", "1006",
                                                             "1007", "1009", "1011", "other"};
        family(&w, "httpz_websocket_closed_total", "counter",
               "WebSocket connections closed, by close code.");
        for (unsigned k = 0; k < HZ_WS_CLOSE_KINDS; k++)
            sample(&w, "httpz_websocket_closed_total", "code", codes[k], m->ws_close[k]);
    }
#undef HAS
    return hz__sb_end(&w);
}
