/* response.c - response heads, whole and streamed bodies, backpressure,
 * error answers and the loop timer for late answers. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "conn.h"
#include "exec.h"

#define HZ_WRITEV_MIN 16384u  /* bodies at least this big try writev before copying */
#define HZ_HDRS_MAX 65536u    /* user header bytes per response */
#define HZ_DRAIN_LIMIT 65536u /* an unread body up to this size is drained */

/* RFC 9110 §15 reason phrases. Each is stored padded to 32 bytes so the
 * status line copies it with one fixed-size move. */
#define HZ_STATUSES(X)                                                                             \
    X(100, "Continue")                                                                             \
    X(101, "Switching Protocols")                                                                  \
    X(200, "OK")                                                                                   \
    X(201, "Created")                                                                              \
    X(202, "Accepted")                                                                             \
    X(203, "Non-Authoritative Information")                                                        \
    X(204, "No Content")                                                                           \
    X(205, "Reset Content")                                                                        \
    X(206, "Partial Content")                                                                      \
    X(300, "Multiple Choices")                                                                     \
    X(301, "Moved Permanently")                                                                    \
    X(302, "Found")                                                                                \
    X(303, "See Other")                                                                            \
    X(304, "Not Modified")                                                                         \
    X(307, "Temporary Redirect")                                                                   \
    X(308, "Permanent Redirect")                                                                   \
    X(400, "Bad Request")                                                                          \
    X(401, "Unauthorized")                                                                         \
    X(403, "Forbidden")                                                                            \
    X(404, "Not Found")                                                                            \
    X(405, "Method Not Allowed")                                                                   \
    X(406, "Not Acceptable")                                                                       \
    X(408, "Request Timeout")                                                                      \
    X(409, "Conflict")                                                                             \
    X(410, "Gone")                                                                                 \
    X(411, "Length Required")                                                                      \
    X(412, "Precondition Failed")                                                                  \
    X(413, "Content Too Large")                                                                    \
    X(414, "URI Too Long")                                                                         \
    X(415, "Unsupported Media Type")                                                               \
    X(416, "Range Not Satisfiable")                                                                \
    X(417, "Expectation Failed")                                                                   \
    X(421, "Misdirected Request")                                                                  \
    X(422, "Unprocessable Content")                                                                \
    X(426, "Upgrade Required")                                                                     \
    X(428, "Precondition Required")                                                                \
    X(429, "Too Many Requests")                                                                    \
    X(431, "Request Header Fields Too Large")                                                      \
    X(500, "Internal Server Error")                                                                \
    X(501, "Not Implemented")                                                                      \
    X(502, "Bad Gateway")                                                                          \
    X(503, "Service Unavailable")                                                                  \
    X(504, "Gateway Timeout")                                                                      \
    X(505, "HTTP Version Not Supported")

#define X(code, text) _Static_assert(sizeof(text) <= 32, "reason phrase too long: " #code);
HZ_STATUSES(X)
#undef X

enum {
#define X(code, text) HZ_RS_##code,
    HZ_STATUSES(X)
#undef X
        HZ_RS_UNKNOWN
};

static const struct {
    char text[32]; /* NUL-padded */
    unsigned char len;
} reasons[] = {
#define X(code, text) {text, sizeof(text) - 1},
    HZ_STATUSES(X)
#undef X
        {"Unknown", 7},
};

static unsigned reason_index(int status)
{
    switch (status) {
#define X(code, text)                                                                              \
    case code:                                                                                     \
        return HZ_RS_##code;
        HZ_STATUSES(X)
#undef X
    default:
        return HZ_RS_UNKNOWN;
    }
}

const char *hz__status_reason(int status)
{
    return reasons[reason_index(status)].text;
}

static int append(hz__conn *c, const void *p, size_t n)
{
    return hz__buf_append(&c->out, &c->loop->bufs, p, n);
}

/* Writes the decimal digits of v at p; returns how many. */
static size_t put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* The hot path formats by hand: snprintf cost more than the rest of a
 * keep-alive request's user-space work together (callgrind). */
static size_t put_status_line(char *p, int status)
{
    unsigned r = reason_index(status);
    memcpy(p, "HTTP/1.1 ", 9);
    p[9] = (char)('0' + status / 100 % 10);
    p[10] = (char)('0' + status / 10 % 10);
    p[11] = (char)('0' + status % 10);
    p[12] = ' ';
    memcpy(p + 13, reasons[r].text, sizeof(reasons[r].text)); /* p has room for all 32 */
    memcpy(p + 13 + reasons[r].len, "\r\n", 2);
    return 15u + reasons[r].len;
}

static int append_status_line(hz__conn *c, int status)
{
    char line[64];
    return append(c, line, put_status_line(line, status));
}

static int append_common(hz__conn *c, int server)
{
    hz__loop *loop = c->loop;
    hz_server *srv = loop->srv;
    int rc = append(c, loop->date, loop->date_len);
    if (rc == 0 && server && srv->server_hdr)
        rc = append(c, srv->server_hdr, srv->server_hdr_len);
    return rc;
}

static void res_complete(hz_req *ex)
{
    hz__conn *c = ex->conn;
    ex->res_done = 1;
    if (hz__buf_pending(&c->out))
        c->nqueued++; /* counts responses waiting for the socket */
    if (!c->in_process)
        hz__loop_ready(c->loop, c);
}

/* Queues the head. stream: the length is unknown (chunked or close). */
static int res_head(hz_req *ex, int status, uint64_t len, int stream)
{
    hz__conn *c = ex->conn;
    hz__loop *loop = c->loop;
    const hz__req_head *h = &ex->head;
    int no_body = ex->is_head || status < 200 || status == 204 || status == 304;
    int ka = ex->keep_alive && !loop->stopping && !c->close_after;
    if (ex->phase == HZ_PH_WAIT_BODY && !stream) {
        /* A complete answer and the body never asked for. Draining it is
         * only safe when the client is not waiting for 100 Continue and it
         * is small. */
        int drainable = !ex->want_continue &&
                        (h->body_kind == HZ_BODY_CHUNKED || ex->cl_left <= HZ_DRAIN_LIMIT);
        if (!drainable)
            ka = 0;
    } else if (ex->phase == HZ_PH_WAIT_BODY) {
        /* A stream started before the body was asked for (an echo): the
         * interim 100 must come before the final head or never. */
        hz__res_continue(ex);
    }
    int close_delim = stream && !no_body && h->version_minor == 0;
    if (close_delim)
        ka = 0;
    ex->keep_alive = (unsigned)ka;
    ex->no_body = (unsigned)no_body;
    ex->close_delim = (unsigned)close_delim;
    ex->chunked_out = (unsigned)(stream && !no_body && !close_delim);
    ex->status = status;

    /* Status line, Date, Server, the handler's fields and the framing
     * fields go out as one reservation and straight copies. */
    hz_server *srv = loop->srv;
    int server = !ex->server_set && srv->server_hdr;
    size_t uhl = hz__buf_pending(&ex->hdrs);
    size_t need = 64 + loop->date_len + (server ? srv->server_hdr_len : 0) + uhl + 96;
    int rc = hz__buf_reserve(&c->out, &loop->bufs, need, UINT32_MAX);
    if (rc == 0) {
        char *p = c->out.data + c->out.len;
        p += put_status_line(p, status);
        memcpy(p, loop->date, loop->date_len);
        p += loop->date_len;
        if (server) {
            memcpy(p, srv->server_hdr, srv->server_hdr_len);
            p += srv->server_hdr_len;
        }
        if (uhl) {
            memcpy(p, ex->hdrs.data + ex->hdrs.off, uhl);
            p += uhl;
        }
        if (status >= 200 && status != 204 && status != 304) {
            if (!stream) {
                memcpy(p, "Content-Length: ", 16);
                p += 16;
                p += put_u64(p, len);
                memcpy(p, "\r\n", 2);
                p += 2;
            } else if (h->version_minor >= 1) {
                memcpy(p, "Transfer-Encoding: chunked\r\n", 28);
                p += 28;
            }
        }
        if (!ka) {
            memcpy(p, "Connection: close\r\n", 19);
            p += 19;
        } else if (h->version_minor == 0) {
            memcpy(p, "Connection: keep-alive\r\n", 24);
            p += 24;
        }
        memcpy(p, "\r\n", 2);
        p += 2;
        c->out.len = (uint32_t)(p - c->out.data);
    }
    hz__buf_release(&ex->hdrs, &loop->bufs);
    ex->res_started = 1;
    ex->body_bytes = stream ? 0 : len; /* access log; streams add as they write */
    if (rc < 0) {
        hz__conn_close(c);
        return HZ_ECLOSED;
    }
    return 0;
}

int hz__res_head(hz_req *ex, int status, uint64_t len)
{
    return res_head(ex, status, len, 0);
}

static hz_req *live_ex(hz_res *res, int *err)
{
    hz_req *ex = res ? res->ex : NULL;
    *err = 0;
    if (!ex) {
        *err = HZ_EINVAL;
        return NULL;
    }
    if (!ex->conn || ex->conn->closing) {
        *err = HZ_ECLOSED;
        return NULL;
    }
    return ex;
}

/* "close" as a token of a comma list (case-insensitive). */
static int has_close_token(const char *v)
{
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        const char *t = v;
        while (*v && *v != ',' && *v != ' ' && *v != '\t')
            v++;
        if (v - t == 5 && !strncasecmp(t, "close", 5))
            return 1;
    }
    return 0;
}

int hz_res_set_header(hz_res *res, const char *name, const char *value)
{
    int err;
    hz__exec_job *xj = res ? hz__exec_current(res->ex) : NULL;
    if (HZ_UNLIKELY(xj)) /* a handler on a worker: recorded for the loop */
        return hz__exec_set_header(xj, name, value);
    hz_req *ex = live_ex(res, &err);
    if (!ex)
        return err;
    if (!name || !value || !*name)
        return HZ_EINVAL;
    if (ex->res_started)
        return HZ_ESTATE;
    size_t nl = strlen(name), vl = strlen(value);
    if (hz__scan_token(name, nl) != nl || hz__scan_field_value(value, vl) != vl)
        return HZ_EINVAL;
    /* The names the library owns or watches, told apart by length first. */
    switch (nl) {
    case 4:
        if (!strcasecmp(name, "Date"))
            return 0; /* the loop's cached Date is always sent */
        break;
    case 6:
        if (!strcasecmp(name, "Server"))
            ex->server_set = 1;
        break;
    case 10:
        if (!strcasecmp(name, "Connection")) {
            if (has_close_token(value))
                ex->keep_alive = 0;
            return 0;
        }
        break;
    case 14:
    case 17: /* framing belongs to the library */
        if (!strcasecmp(name, "Content-Length") || !strcasecmp(name, "Transfer-Encoding"))
            return HZ_EINVAL;
        break;
    default:
        break;
    }
    if (hz__buf_pending(&ex->hdrs) + nl + vl + 4 > HZ_HDRS_MAX)
        return HZ_ERANGE;
    if (hz__buf_reserve(&ex->hdrs, &ex->loop->bufs, nl + vl + 4, UINT32_MAX) < 0)
        return HZ_ENOMEM;
    char *p = ex->hdrs.data + ex->hdrs.len;
    memcpy(p, name, nl);
    memcpy(p + nl, ": ", 2);
    memcpy(p + nl + 2, value, vl);
    memcpy(p + nl + 2 + vl, "\r\n", 2);
    ex->hdrs.len += (uint32_t)(nl + vl + 4);
    return 0;
}

int hz_res_send(hz_res *res, int status, const void *body, size_t len)
{
    int err;
    hz__exec_job *xj = res ? hz__exec_current(res->ex) : NULL;
    if (HZ_UNLIKELY(xj)) /* a handler on a worker: recorded for the loop */
        return hz__exec_send(xj, status, body, len);
    hz_req *ex = live_ex(res, &err);
    if (!ex)
        return err;
    if (ex->res_started)
        return HZ_ESTATE;
    if (status < 200 || status > 999 || (!body && len))
        return HZ_EINVAL;
    hz__conn *c = ex->conn;
    int rc = res_head(ex, status, len, 0);
    if (rc < 0)
        return rc;
    if (!ex->no_body && len) {
        const char *p = body;
        size_t left = len;
        if (len >= HZ_WRITEV_MIN && !c->wblocked) {
            /* Big body: one writev of head + body, copy only the rest. */
            struct iovec iov[2];
            size_t hl = hz__buf_pending(&c->out);
            iov[0].iov_base = c->out.data + c->out.off;
            iov[0].iov_len = hl;
            iov[1].iov_base = (void *)p;
            iov[1].iov_len = len;
            long n = c->sock.tp->writev(&c->sock, iov, 2);
            if (n > 0) {
                hz__m_add(&c->loop->metrics, HZ_MS_BYTES_OUT, (uint64_t)n);
                size_t taken = (size_t)n;
                size_t h = taken < hl ? taken : hl;
                c->out.off += (uint32_t)h;
                taken -= h;
                p += taken;
                left -= taken;
                c->last_io = c->loop->now;
                if (!hz__buf_pending(&c->out)) {
                    c->out.off = c->out.len = 0;
                    c->nqueued = 0;
                }
            } else if (n != HZ_EAGAIN) {
                hz__conn_close(c);
                return HZ_ECLOSED;
            }
        }
        if (left && append(c, p, left) < 0) {
            hz__conn_close(c);
            return HZ_ECLOSED;
        }
    }
    res_complete(ex);
    return 0;
}

int hz_res_start(hz_res *res, int status)
{
    int err;
    hz__exec_job *xj = res ? hz__exec_current(res->ex) : NULL;
    if (HZ_UNLIKELY(xj)) /* a handler on a worker: recorded for the loop */
        return hz__exec_start(xj, status);
    hz_req *ex = live_ex(res, &err);
    if (!ex)
        return err;
    if (ex->res_started)
        return HZ_ESTATE;
    if (status < 200 || status > 999)
        return HZ_EINVAL;
    int rc = res_head(ex, status, 0, 1);
    if (rc == 0 && !ex->conn->in_process)
        hz__loop_ready(ex->loop, ex->conn);
    return rc;
}

int hz_res_write(hz_res *res, const void *buf, size_t len)
{
    int err;
    hz__exec_job *xj = res ? hz__exec_current(res->ex) : NULL;
    if (HZ_UNLIKELY(xj)) /* a handler on a worker: recorded for the loop */
        return hz__exec_write(xj, buf, len);
    hz_req *ex = live_ex(res, &err);
    if (!ex)
        return err;
    if (!ex->res_started || ex->res_done)
        return HZ_ESTATE;
    if (!buf && len)
        return HZ_EINVAL;
    if (ex->no_body || !len)
        return 0;
    hz__conn *c = ex->conn;
    size_t budget = c->loop->srv->cfg.output_buffer;
    if (hz__buf_pending(&c->out) >= budget) {
        ex->drain_wait = 1;
        return HZ_EAGAIN;
    }
    int rc = 0;
    if (ex->chunked_out) {
        char sz[24];
        size_t n = 0;
        for (int shift = (int)(sizeof(size_t) * 8) - 4; shift >= 0; shift -= 4) {
            unsigned d = (unsigned)(len >> shift) & 15u;
            if (d || n)
                sz[n++] = "0123456789abcdef"[d];
        }
        sz[n++] = '\r'; /* len > 0 here: at least one digit was written */
        sz[n++] = '\n';
        rc = append(c, sz, n);
        if (rc == 0)
            rc = append(c, buf, len);
        if (rc == 0)
            rc = append(c, "\r\n", 2);
    } else {
        rc = append(c, buf, len);
    }
    if (rc < 0) {
        hz__conn_close(c);
        return HZ_ECLOSED;
    }
    ex->body_bytes += len;
    if (hz__buf_pending(&c->out) >= budget / 2 && !c->wblocked)
        hz__conn_flush(c);
    if (!c->closing && !c->in_process)
        hz__loop_ready(c->loop, c);
    return 0;
}

int hz_res_on_drain(hz_res *res, hz_drain_fn fn, void *ud)
{
    int err;
    if (res && hz__exec_current(res->ex))
        return HZ_ENOTSUP; /* loop-only callbacks */
    hz_req *ex = live_ex(res, &err);
    if (!ex)
        return err;
    ex->on_drain = fn;
    ex->drain_ud = ud;
    return 0;
}

int hz_res_end(hz_res *res)
{
    int err;
    hz__exec_job *xj = res ? hz__exec_current(res->ex) : NULL;
    if (HZ_UNLIKELY(xj)) /* a handler on a worker: recorded for the loop */
        return hz__exec_end(xj);
    hz_req *ex = live_ex(res, &err);
    if (!ex)
        return err;
    if (!ex->res_started || ex->res_done)
        return HZ_ESTATE;
    if (ex->chunked_out && append(ex->conn, "0\r\n\r\n", 5) < 0) {
        hz__conn_close(ex->conn);
        return HZ_ECLOSED;
    }
    ex->drain_wait = 0;
    res_complete(ex);
    return 0;
}

int hz_res_on_done(hz_res *res, hz_done_fn fn, void *ud)
{
    int err;
    if (res && hz__exec_current(res->ex))
        return HZ_ENOTSUP; /* loop-only callbacks */
    hz_req *ex = live_ex(res, &err);
    if (!ex)
        return err;
    ex->on_done = fn;
    ex->done_ud = ud;
    return 0;
}

static void after_fn(hz__timer *t)
{
    hz_req *ex = (hz_req *)((char *)t - offsetof(hz_req, after));
    hz__conn *c = ex->conn;
    ex->refs--;
    if (c)
        c->refs++;
    ex->after_fn(&ex->res, 0, ex->after_ud);
    if (c)
        c->refs--;
}

int hz_res_after(hz_res *res, unsigned ms, hz_after_fn fn, void *ud)
{
    int err;
    if (res && hz__exec_current(res->ex))
        return HZ_ENOTSUP; /* loop-only callbacks */
    hz_req *ex = live_ex(res, &err);
    if (!ex)
        return err;
    if (!fn)
        return HZ_EINVAL;
    if (hz__timer_armed(&ex->after))
        return HZ_EBUSY;
    hz__timer_init(&ex->after, after_fn);
    ex->after_fn = fn;
    ex->after_ud = ud;
    ex->refs++;
    hz__timer_arm(&ex->loop->wheel, &ex->after, ex->loop->now + ms);
    return 0;
}

void hz__res_continue(hz_req *ex)
{
    /* Never after the final head: the client would take it for body. */
    if (!ex->want_continue || ex->res_started)
        return;
    ex->want_continue = 0;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (append(ex->conn, cont, sizeof(cont) - 1) < 0)
        hz__conn_close(ex->conn);
}

void hz__res_error(hz__conn *c, int status)
{
    hz_req *ex = c->ex;
    if (c->closing)
        return;
    if (ex && ex->res_started) {
        if (ex->res_done) {
            /* The answer is queued already: stop reading and close after it. */
            ex->phase = HZ_PH_DONE;
            ex->keep_alive = 0;
            c->close_after = 1;
            return;
        }
        /* Mid-stream: nothing sensible can follow. Earlier pipelined
         * responses and this one's start go out first (best effort). */
        if (!c->wblocked && hz__conn_flush(c) < 0)
            return;
        hz__conn_close(c);
        return;
    }
    if (ex && ex->dispatched)
        hz__res_abort(ex, HZ_ECANCELED);
    int rc = append_status_line(c, status);
    if (rc == 0)
        rc = append_common(c, 1);
    static const char tail[] = "Content-Length: 0\r\nConnection: close\r\n\r\n";
    if (rc == 0)
        rc = append(c, tail, sizeof(tail) - 1);
    if (rc < 0) {
        hz__conn_close(c);
        return;
    }
    if (ex) {
        ex->res_started = ex->res_done = 1;
        ex->phase = HZ_PH_DONE;
        ex->keep_alive = 0;
        ex->status = status;
    }
    c->nqueued++;
    c->close_after = 1;
    if (!c->in_process)
        hz__loop_ready(c->loop, c);
}
