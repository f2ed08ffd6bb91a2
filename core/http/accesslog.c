/* accesslog.c - the access-log hook and the two ready formatters
 * (combined log format, JSON lines). */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "conn.h"
#include "accesslog.h"

/* A view of the request's bytes, or empty when it is not (or no longer)
 * inside the read buffer. */
static hz_str in_view(const hz__conn *c, const struct hz_req *ex, uint32_t off, uint32_t len)
{
    hz_str s = {"", 0};
    if (!c->in.data || !len)
        return s;
    uint64_t end = (uint64_t)ex->base + off + len;
    if (end > c->in.len)
        return s;
    s.ptr = c->in.data + ex->base + off;
    s.len = len;
    return s;
}

static hz_str header_view(const hz__conn *c, const struct hz_req *ex, const char *name)
{
    hz_str s = {"", 0};
    size_t nl = strlen(name);
    for (uint32_t i = 0; i < ex->head.nfields; i++) {
        const hz__field *f = &ex->fields[i];
        if (f->name_len != nl)
            continue;
        hz_str n = in_view(c, ex, f->name_off, f->name_len);
        if (n.len == nl && !strncasecmp(n.ptr, name, nl))
            return in_view(c, ex, f->value_off, f->value_len);
    }
    return s;
}

void hz__accesslog_emit(hz__conn *c, struct hz_req *ex, uint64_t duration_ns)
{
    hz_server *srv = c->loop->srv;
    hz_access_entry e;
    memset(&e, 0, sizeof(e));
    /* A request rejected mid-head has at most the parser's partial head. */
    const hz__req_head *h = ex->head.method_len ? &ex->head : &ex->parser.head;
    e.method = in_view(c, ex, h->method_off, h->method_len);
    e.target = in_view(c, ex, h->target_off, h->target_len);
    e.version = ex->head.head_len ? 10 + (ex->head.version_minor ? 1 : 0) : 0;
    e.status = ex->status;
    e.bytes = ex->no_body ? 0 : ex->body_bytes;
    e.duration_ns = duration_ns;
    if (ex->head.head_len) {
        e.user_agent = header_view(c, ex, "User-Agent");
        e.referer = header_view(c, ex, "Referer");
    } else {
        e.user_agent.ptr = e.referer.ptr = "";
    }
    char peer[64] = "-";
    e.peer = peer;
    if (c->sock.fd >= 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getpeername(c->sock.fd, (struct sockaddr *)&ss, &sl) == 0) {
            if (ss.ss_family == AF_INET) {
                const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
                inet_ntop(AF_INET, &s4->sin_addr, peer, sizeof(peer));
                e.peer_port = ntohs(s4->sin_port);
            } else if (ss.ss_family == AF_INET6) {
                const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
                inet_ntop(AF_INET6, &s6->sin6_addr, peer, sizeof(peer));
                e.peer_port = ntohs(s6->sin6_port);
            }
        }
    }
    e.tls = c->sock.tp != &hz__transport_socket && c->sock.fd >= 0;
    e.conn_id = c->id;
    e.request_seq = c->nrequests;
    e.time_sec = c->loop->date_sec >= 0 ? c->loop->date_sec : (int64_t)time(NULL);
    c->refs++; /* the callback must not free the connection under us */
    srv->cfg.access_log(&e, srv->cfg.access_log_ud);
    c->refs--;
}

/* ---- formatters -------------------------------------------------------------- */

typedef struct lw {
    char *buf;
    size_t len, pos;
    int full;
} lw;

static void lw_put(lw *w, const char *p, size_t n)
{
    if (w->full)
        return;
    if (n >= w->len - w->pos) { /* keep room for the NUL */
        w->full = 1;
        return;
    }
    memcpy(w->buf + w->pos, p, n);
    w->pos += n;
}

static void lw_str(lw *w, const char *s)
{
    lw_put(w, s, strlen(s));
}

static void lw_u64(lw *w, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
    lw_put(w, t, (size_t)n);
}

static long lw_end(lw *w)
{
    if (w->full)
        return HZ_ERANGE;
    w->buf[w->pos] = 0;
    return (long)w->pos;
}

static const char hexd[] = "0123456789abcdef";

/* Apache's escaping for quoted log fields: \" \\ and \xHH for bytes that
 * are not printable ASCII, so a request cannot forge log lines. */
static void clf_escaped(lw *w, hz_str s, int dash_if_empty)
{
    if (!s.ptr || !s.len) {
        if (dash_if_empty)
            lw_put(w, "-", 1);
        return;
    }
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch == '"' || ch == '\\') {
            char t[2] = {'\\', (char)ch};
            lw_put(w, t, 2);
        } else if (ch < 0x20 || ch >= 0x7f) {
            char t[4] = {'\\', 'x', hexd[ch >> 4], hexd[ch & 15]};
            lw_put(w, t, 4);
        } else {
            lw_put(w, (const char *)&ch, 1);
        }
    }
}

long hz_access_log_combined(const hz_access_entry *e, char *buf, size_t len)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (!e || !buf || !len)
        return HZ_EINVAL;
    lw w = {buf, len, 0, 0};
    hz_str peer = {e->peer ? e->peer : "-", e->peer ? strlen(e->peer) : 1};
    clf_escaped(&w, peer, 1);
    time_t t = (time_t)e->time_sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[48];
    int n = snprintf(ts, sizeof(ts), " - - [%02d/%s/%04d:%02d:%02d:%02d +0000] \"", tm.tm_mday,
                     months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    lw_put(&w, ts, (size_t)n);
    clf_escaped(&w, e->method, 1);
    lw_put(&w, " ", 1);
    clf_escaped(&w, e->target, 1);
    if (e->version == 10)
        lw_str(&w, " HTTP/1.0");
    else if (e->version == 11)
        lw_str(&w, " HTTP/1.1");
    lw_str(&w, "\" ");
    lw_u64(&w, (uint64_t)(e->status > 0 ? e->status : 0));
    lw_put(&w, " ", 1);
    if (e->bytes)
        lw_u64(&w, e->bytes);
    else
        lw_put(&w, "-", 1); /* %b: "-" for no body */
    lw_str(&w, " \"");
    clf_escaped(&w, e->referer, 1);
    lw_str(&w, "\" \"");
    clf_escaped(&w, e->user_agent, 1);
    lw_str(&w, "\"\n");
    return lw_end(&w);
}

/* A JSON string (RFC 8259 §7). Valid UTF-8 passes through; if the value is
 * not UTF-8, every byte >= 0x80 becomes \u00XX (its Latin-1 reading), so
 * the line is always valid JSON. */
static void json_str(lw *w, const char *p, size_t n)
{
    int utf8 = hz_utf8_valid(p, n);
    lw_put(w, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '"' || ch == '\\') {
            char t[2] = {'\\', (char)ch};
            lw_put(w, t, 2);
        } else if (ch == '\n') {
            lw_put(w, "\\n", 2);
        } else if (ch == '\r') {
            lw_put(w, "\\r", 2);
        } else if (ch == '\t') {
            lw_put(w, "\\t", 2);
        } else if (ch < 0x20 || ch == 0x7f || (ch >= 0x80 && !utf8)) {
            char t[6] = {'\\', 'u', '0', '0', hexd[ch >> 4], hexd[ch & 15]};
            lw_put(w, t, 6);
        } else {
            lw_put(w, (const char *)&ch, 1);
        }
    }
    lw_put(w, "\"", 1);
}

static void json_key(lw *w, const char *k, int first)
{
    if (!first)
        lw_put(w, ",", 1);
    json_str(w, k, strlen(k));
    lw_put(w, ":", 1);
}

long hz_access_log_json(const hz_access_entry *e, char *buf, size_t len)
{
    if (!e || !buf || !len)
        return HZ_EINVAL;
    lw w = {buf, len, 0, 0};
    time_t t = (time_t)e->time_sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[32];
    int n = snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    lw_put(&w, "{", 1);
    json_key(&w, "time", 1);
    json_str(&w, ts, (size_t)n);
    json_key(&w, "peer", 0);
    const char *peer = e->peer ? e->peer : "-";
    json_str(&w, peer, strlen(peer));
    json_key(&w, "port", 0);
    lw_u64(&w, (uint64_t)(e->peer_port > 0 ? e->peer_port : 0));
    json_key(&w, "tls", 0);
    lw_str(&w, e->tls ? "true" : "false");
    json_key(&w, "method", 0);
    json_str(&w, e->method.ptr ? e->method.ptr : "", e->method.ptr ? e->method.len : 0);
    json_key(&w, "target", 0);
    json_str(&w, e->target.ptr ? e->target.ptr : "", e->target.ptr ? e->target.len : 0);
    json_key(&w, "version", 0);
    json_str(&w,
             e->version == 10   ? "HTTP/1.0"
             : e->version == 11 ? "HTTP/1.1"
                                : "",
             e->version == 10 || e->version == 11 ? 8 : 0);
    json_key(&w, "status", 0);
    lw_u64(&w, (uint64_t)(e->status > 0 ? e->status : 0));
    json_key(&w, "bytes", 0);
    lw_u64(&w, e->bytes);
    json_key(&w, "duration_us", 0);
    lw_u64(&w, e->duration_ns / 1000u);
    json_key(&w, "conn", 0);
    lw_u64(&w, e->conn_id);
    json_key(&w, "seq", 0);
    lw_u64(&w, e->request_seq);
    json_key(&w, "referer", 0);
    json_str(&w, e->referer.ptr ? e->referer.ptr : "", e->referer.ptr ? e->referer.len : 0);
    json_key(&w, "user_agent", 0);
    json_str(&w, e->user_agent.ptr ? e->user_agent.ptr : "",
             e->user_agent.ptr ? e->user_agent.len : 0);
    lw_str(&w, "}\n");
    return lw_end(&w);
}
