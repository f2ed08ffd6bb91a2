/* accesslog.c - the access-log hook and the two ready formatters
 * (combined log format, JSON lines). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "exchange.h"
#include "accesslog.h"
#include "loop.h"
#include "fmt.h"

/* A view of the request's bytes, or empty when it is not (or no longer)
 * there. The protocol says where they are: a dispatched request's raw
 * pointer (an executor job that timed out has taken the read buffer over,
 * and the entry is written while it still holds it), or before dispatch (a
 * rejected head) the read buffer. */
static hz_str in_view(const hz__alog_req *r, uint32_t off, uint32_t len)
{
    hz_str s = {"", 0};
    if (!len || !r->bytes || (uint64_t)off + len > r->avail)
        return s;
    s.ptr = r->bytes + off;
    s.len = len;
    return s;
}

static hz_str header_view(const hz__alog_req *r, const char *name)
{
    hz_str s = {"", 0};
    size_t nl = strlen(name);
    const struct hz_req *ex = r->ex;
    for (uint32_t i = 0; i < ex->head.nfields; i++) {
        const hz__field *f = &ex->fields[i];
        if (f->name_len != nl)
            continue;
        hz_str n = in_view(r, f->name_off, f->name_len);
        if (n.len == nl && !strncasecmp(n.ptr, name, nl))
            return in_view(r, f->value_off, f->value_len);
    }
    return s;
}

/* The peer's address: one getpeername() per connection, not per request.
 * The cache is direct-mapped by connection id, so a keep-alive connection
 * finds its slot again unless another one took it meanwhile. */
static const hz__alog_peer *peer_of(hz__alog_loop *pl, const hz__alog_req *r)
{
    hz__alog_peer *pe = &pl->peers[r->conn_id & (HZ__ALOG_PEERS - 1)];
    if (pe->key == r->conn_id + 1)
        return pe;
    pe->key = r->conn_id + 1;
    pe->port = 0;
    memcpy(pe->addr, "-", 2);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (r->peer_fd < 0 || getpeername(r->peer_fd, (struct sockaddr *)&ss, &sl) != 0)
        return pe;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, pe->addr, sizeof(pe->addr));
        pe->port = ntohs(s4->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, pe->addr, sizeof(pe->addr));
        pe->port = ntohs(s6->sin6_port);
    } else if (ss.ss_family == AF_UNIX) {
        memcpy(pe->addr, "unix", sizeof("unix")); /* no address: as hz_req_peer */
    }
    return pe;
}

static void alog_append(hz__alog_loop *pl, const hz_access_entry *e);

void hz__accesslog_emit(hz__loop *loop, const hz__alog_req *r, uint64_t duration_ns)
{
    hz_server *srv = loop->srv;
    hz__alog_loop *pl = &srv->alog->per[loop->idx];
    const struct hz_req *ex = r->ex;
    hz_access_entry e;
    memset(&e, 0, sizeof(e));
    const hz__req_head *h = r->head;
    e.method = in_view(r, h->method_off, h->method_len);
    e.target = in_view(r, h->target_off, h->target_len);
    e.version = ex->http_version    ? ex->http_version
                : ex->head.head_len ? 10 + (ex->head.version_minor ? 1 : 0)
                                    : 0;
    e.status = ex->status;
    e.bytes = r->no_body ? 0 : ex->body_bytes;
    e.duration_ns = duration_ns;
    if (ex->head.head_len || ex->http_version) {
        e.user_agent = header_view(r, "User-Agent");
        e.referer = header_view(r, "Referer");
    } else {
        e.user_agent.ptr = e.referer.ptr = "";
    }
    const hz__alog_peer *pe = peer_of(pl, r);
    e.peer = pe->addr;
    e.peer_port = pe->port;
    e.tls = r->tls;
    e.conn_id = r->conn_id;
    e.request_seq = r->request_seq;
    e.time_sec = loop->date_sec >= 0 ? loop->date_sec : (int64_t)time(NULL);
    if (srv->cfg.access_log)
        srv->cfg.access_log(&e, srv->cfg.access_log_ud);
    if (pl->log->fd >= 0)
        alog_append(pl, &e);
}

/* ---- the access-log file ----------------------------------------------------- */

static long format_line(const hz__alog *lg, const hz_access_entry *e, char *buf, size_t len)
{
    return lg->format == HZ_ACCESS_LOG_JSON ? hz_access_log_json(e, buf, len)
                                            : hz_access_log_combined(e, buf, len);
}

static unsigned count_lines(const char *p, size_t n)
{
    unsigned k = 0;
    for (const char *q = p; (q = memchr(q, '\n', n - (size_t)(q - p))) != NULL; q++)
        k++;
    return k;
}

static void dropped(hz__alog_loop *pl, const char *p, size_t n)
{
    hz__m_add(&pl->loop->metrics, HZ__MS_ALOG_DROPPED, count_lines(p, n));
}

/* Writes whole lines p[0..n) (n > 0, ends with '\n'). A regular file takes
 * them in one write(2) (retried after a partial one). Anything else gets
 * pieces of at most PIPE_BUF bytes cut after a '\n', which POSIX makes
 * atomic on a pipe, so lines from several loops never interleave and an
 * O_NONBLOCK pipe takes a piece whole or refuses it (EAGAIN: the rest is
 * dropped and counted instead of blocking the loop). A line longer than
 * PIPE_BUF goes alone. */
static void write_lines(hz__alog_loop *pl, const char *p, size_t n)
{
    const hz__alog *lg = pl->log;
    while (n) {
        size_t piece = n;
        if (!lg->regular && n > PIPE_BUF) {
            piece = PIPE_BUF;
            while (piece && p[piece - 1] != '\n')
                piece--;
            if (!piece) { /* one line longer than PIPE_BUF */
                const char *nl = memchr(p, '\n', n);
                piece = nl ? (size_t)(nl - p) + 1 : n;
            }
        }
        ssize_t w = write(lg->fd, p, piece);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            dropped(pl, p, n);
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void alog_flush(hz__alog_loop *pl)
{
    if (pl->loop)
        hz__timer_cancel(&pl->loop->wheel, &pl->flush);
    if (pl->len) {
        uint32_t n = pl->len;
        pl->len = 0;
        write_lines(pl, pl->buf, n);
    }
}

static void flush_timer_fn(hz__timer *t)
{
    hz__alog_loop *pl = (hz__alog_loop *)((char *)t - offsetof(hz__alog_loop, flush));
    alog_flush(pl);
}

/* A line that does not fit the buffer (or no buffer): formatted in a
 * scratch buffer sized for the worst escaping (6 bytes per input byte, a
 * JSON \u00XX) and written at once. */
static void write_one(hz__alog_loop *pl, const hz_access_entry *e)
{
    hz_server *srv = pl->loop->srv;
    char small[2048];
    long n = format_line(pl->log, e, small, sizeof(small));
    if (n > 0) {
        write_lines(pl, small, (size_t)n);
        return;
    }
    size_t peer = e->peer ? strlen(e->peer) : 0;
    size_t cap =
        6 * (e->method.len + e->target.len + e->user_agent.len + e->referer.len + peer) + 1024;
    char *big = hz__alloc(&srv->a, cap);
    n = big ? format_line(pl->log, e, big, cap) : HZ_ENOMEM;
    if (n > 0)
        write_lines(pl, big, (size_t)n);
    else
        hz__m_add(&pl->loop->metrics, HZ__MS_ALOG_DROPPED, 1);
    hz__free(&srv->a, big, cap);
}

static void alog_append(hz__alog_loop *pl, const hz_access_entry *e)
{
    const hz__alog *lg = pl->log;
    if (!lg->cap) {
        write_one(pl, e);
        return;
    }
    long n = format_line(lg, e, pl->buf + pl->len, lg->cap - pl->len);
    if (n == HZ_ERANGE && pl->len) {
        alog_flush(pl); /* full: write what is there, then try the empty buffer */
        n = format_line(lg, e, pl->buf, lg->cap);
    }
    if (n == HZ_ERANGE) {
        write_one(pl, e); /* longer than the whole buffer */
        return;
    }
    if (n <= 0)
        return;
    if (!pl->len && lg->flush_ms)
        hz__timer_arm(&pl->loop->wheel, &pl->flush, pl->loop->now + lg->flush_ms);
    pl->len += (uint32_t)n;
}

int hz__alog_create(hz_server *srv)
{
    const hz_config *cfg = &srv->cfg;
    const hz_access_log_file *f = &cfg->access_log_file;
    int want_file = f->path != NULL || f->fd >= 0;
    if (!cfg->access_log && !want_file)
        return 0;
    if (want_file && f->format != HZ_ACCESS_LOG_COMBINED && f->format != HZ_ACCESS_LOG_JSON)
        return HZ_EINVAL;
    if (want_file && f->buffer > (1u << 30))
        return HZ_EINVAL;
    hz__alog *lg = hz__calloc(&srv->a, sizeof(*lg));
    if (!lg)
        return HZ_ENOMEM;
    srv->alog = lg;
    lg->fd = -1;
    lg->nloops = srv->nloops;
    lg->per = hz__calloc(&srv->a, sizeof(*lg->per) * srv->nloops);
    if (!lg->per)
        return HZ_ENOMEM;
    for (unsigned i = 0; i < srv->nloops; i++) {
        lg->per[i].log = lg;
        lg->per[i].loop = &srv->loops[i];
        hz__timer_init(&lg->per[i].flush, flush_timer_fn);
    }
    if (!want_file)
        return 0;
    lg->format = f->format;
    lg->cap = f->buffer;
    lg->flush_ms = f->flush_ms;
    if (f->path) {
        int fd = open(f->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return errno == ENOENT ? HZ_ENOENT : hz__err_from_errno(errno);
        lg->fd = fd;
        lg->own_fd = 1;
    } else {
        lg->fd = f->fd;
    }
    struct stat st;
    if (fstat(lg->fd, &st) < 0)
        return HZ_EINVAL; /* not an open descriptor */
    lg->regular = S_ISREG(st.st_mode);
    if (lg->cap) {
        for (unsigned i = 0; i < srv->nloops; i++) {
            lg->per[i].buf = hz__alloc(&srv->a, lg->cap);
            if (!lg->per[i].buf)
                return HZ_ENOMEM;
        }
    }
    return 0;
}

void hz__alog_flush_all(hz_server *srv)
{
    hz__alog *lg = srv->alog;
    if (!lg || !lg->per)
        return;
    for (unsigned i = 0; i < lg->nloops; i++)
        alog_flush(&lg->per[i]);
}

void hz__alog_destroy(hz_server *srv)
{
    hz__alog *lg = srv->alog;
    if (!lg)
        return;
    if (lg->per) {
        for (unsigned i = 0; i < lg->nloops; i++)
            hz__free(&srv->a, lg->per[i].buf, lg->cap);
        hz__free(&srv->a, lg->per, sizeof(*lg->per) * lg->nloops);
    }
    if (lg->own_fd)
        close(lg->fd);
    hz__free(&srv->a, lg, sizeof(*lg));
    srv->alog = NULL;
}

/* ---- formatters -------------------------------------------------------------- */

static const char hexd[] = "0123456789abcdef";

/* Apache's escaping for quoted log fields: \" \\ and \xHH for bytes that
 * are not printable ASCII, so a request cannot forge log lines. */
/* 1 for the bytes that go into a quoted CLF field as they are: printable
 * ASCII but '"' and '\\'. A table, because the escaper is per byte of
 * every logged field. */
static const unsigned char clf_plain[256] = {
    ['\x20'] = 1,
    [0x21] = 1,
    [0x23 ... 0x5b] = 1,
    [0x5d ... 0x7e] = 1,
};

static void clf_escaped(hz__sb *w, hz_str s, int dash_if_empty)
{
    if (!s.ptr || !s.len) {
        if (dash_if_empty)
            hz__sb_put(w, "-", 1);
        return;
    }
    const unsigned char *p = (const unsigned char *)s.ptr, *end = p + s.len;
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && clf_plain[*p])
            p++;
        if (p > run)
            hz__sb_put(w, run, (size_t)(p - run));
        if (p == end)
            break;
        unsigned char ch = *p++;
        if (ch == '"' || ch == '\\') {
            char t[2] = {'\\', (char)ch};
            hz__sb_put(w, t, 2);
        } else {
            char t[4] = {'\\', 'x', hexd[ch >> 4], hexd[ch & 15]};
            hz__sb_put(w, t, 4);
        }
    }
}

long hz_access_log_combined(const hz_access_entry *e, char *buf, size_t len)
{
    if (!e || !buf || !len)
        return HZ_EINVAL;
    hz__sb w;
    hz__sb_init(&w, buf, len);
    hz_str peer = {e->peer ? e->peer : "-", e->peer ? strlen(e->peer) : 1};
    clf_escaped(&w, peer, 1);
    /* Consecutive lines share their second: the date is formatted once per
     * second per thread. */
    static _Thread_local int64_t ts_sec = INT64_MIN;
    static _Thread_local char ts[HZ__FMT_CLF_DATE_LEN];
    if (e->time_sec != ts_sec) {
        if (!hz__fmt_clf_date(ts, e->time_sec))
            return HZ_EINVAL;
        ts_sec = e->time_sec;
    }
    hz__sb_str(&w, " - - [");
    hz__sb_put(&w, ts, sizeof(ts));
    hz__sb_str(&w, "] \"");
    clf_escaped(&w, e->method, 1);
    hz__sb_put(&w, " ", 1);
    clf_escaped(&w, e->target, 1);
    if (e->version == 10)
        hz__sb_str(&w, " HTTP/1.0");
    else if (e->version == 11)
        hz__sb_str(&w, " HTTP/1.1");
    else if (e->version == 20)
        hz__sb_str(&w, " HTTP/2.0");
    hz__sb_str(&w, "\" ");
    hz__sb_u64(&w, (uint64_t)(e->status > 0 ? e->status : 0));
    hz__sb_put(&w, " ", 1);
    if (e->bytes)
        hz__sb_u64(&w, e->bytes);
    else
        hz__sb_put(&w, "-", 1); /* %b: "-" for no body */
    hz__sb_str(&w, " \"");
    clf_escaped(&w, e->referer, 1);
    hz__sb_str(&w, "\" \"");
    clf_escaped(&w, e->user_agent, 1);
    hz__sb_str(&w, "\"\n");
    return hz__sb_end(&w);
}

/* A JSON string (RFC 8259 §7). Valid UTF-8 passes through; if the value is
 * not UTF-8, every byte >= 0x80 becomes \u00XX (its Latin-1 reading), so
 * the line is always valid JSON. */
static void json_str(hz__sb *w, const char *p, size_t n)
{
    int utf8 = hz_utf8_valid(p, n);
    hz__sb_put(w, "\"", 1);
    const unsigned char *q = (const unsigned char *)p, *end = q + n;
    while (q < end) {
        const unsigned char *run = q;
        while (q < end &&
               ((*q >= 0x20 && *q < 0x7f && *q != '"' && *q != '\\') || (*q >= 0x80 && utf8)))
            q++;
        if (q > run)
            hz__sb_put(w, run, (size_t)(q - run));
        if (q == end)
            break;
        unsigned char ch = *q++;
        if (ch == '"' || ch == '\\') {
            char t[2] = {'\\', (char)ch};
            hz__sb_put(w, t, 2);
        } else if (ch == '\n') {
            hz__sb_put(w, "\\n", 2);
        } else if (ch == '\r') {
            hz__sb_put(w, "\\r", 2);
        } else if (ch == '\t') {
            hz__sb_put(w, "\\t", 2);
        } else {
            char t[6] = {'\\', 'u', '0', '0', hexd[ch >> 4], hexd[ch & 15]};
            hz__sb_put(w, t, 6);
        }
    }
    hz__sb_put(w, "\"", 1);
}

static void json_key(hz__sb *w, const char *k, int first)
{
    if (!first)
        hz__sb_put(w, ",", 1);
    json_str(w, k, strlen(k));
    hz__sb_put(w, ":", 1);
}

long hz_access_log_json(const hz_access_entry *e, char *buf, size_t len)
{
    if (!e || !buf || !len)
        return HZ_EINVAL;
    hz__sb w;
    hz__sb_init(&w, buf, len);
    char ts[HZ__FMT_ISO_DATE_LEN];
    if (!hz__fmt_iso_date(ts, e->time_sec))
        return HZ_EINVAL;
    hz__sb_put(&w, "{", 1);
    json_key(&w, "time", 1);
    json_str(&w, ts, sizeof(ts));
    json_key(&w, "peer", 0);
    const char *peer = e->peer ? e->peer : "-";
    json_str(&w, peer, strlen(peer));
    json_key(&w, "port", 0);
    hz__sb_u64(&w, (uint64_t)(e->peer_port > 0 ? e->peer_port : 0));
    json_key(&w, "tls", 0);
    hz__sb_str(&w, e->tls ? "true" : "false");
    json_key(&w, "method", 0);
    json_str(&w, e->method.ptr ? e->method.ptr : "", e->method.ptr ? e->method.len : 0);
    json_key(&w, "target", 0);
    json_str(&w, e->target.ptr ? e->target.ptr : "", e->target.ptr ? e->target.len : 0);
    json_key(&w, "version", 0);
    json_str(&w,
             e->version == 10   ? "HTTP/1.0"
             : e->version == 11 ? "HTTP/1.1"
             : e->version == 20 ? "HTTP/2.0"
                                : "",
             e->version == 10 || e->version == 11 || e->version == 20 ? 8 : 0);
    json_key(&w, "status", 0);
    hz__sb_u64(&w, (uint64_t)(e->status > 0 ? e->status : 0));
    json_key(&w, "bytes", 0);
    hz__sb_u64(&w, e->bytes);
    json_key(&w, "duration_us", 0);
    hz__sb_u64(&w, e->duration_ns / 1000u);
    json_key(&w, "conn", 0);
    hz__sb_u64(&w, e->conn_id);
    json_key(&w, "seq", 0);
    hz__sb_u64(&w, e->request_seq);
    json_key(&w, "referer", 0);
    json_str(&w, e->referer.ptr ? e->referer.ptr : "", e->referer.ptr ? e->referer.len : 0);
    json_key(&w, "user_agent", 0);
    json_str(&w, e->user_agent.ptr ? e->user_agent.ptr : "",
             e->user_agent.ptr ? e->user_agent.len : 0);
    hz__sb_str(&w, "}\n");
    return hz__sb_end(&w);
}
