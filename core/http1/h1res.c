/* h1res.c - the HTTP/1.1 response writer (the hz__res_ops of an HTTP/1.1
 * exchange): heads, whole and streamed bodies with their framing,
 * backpressure against the output budget, 100 Continue and the error
 * answers of the connection. */
#include <string.h>
#include "conn.h"
#include "exchange.h"
#include "fmt.h"

#define HZ__WRITEV_MIN 16384u  /* bodies at least this big try writev before copying */
#define HZ__DRAIN_LIMIT 65536u /* an unread body up to this size is drained */

static int append(hz__conn *c, const void *p, size_t n)
{
    return hz__buf_append(&c->out, &c->loop->bufs, p, n);
}

/* The hot path formats by hand: snprintf cost more than the rest of a
 * keep-alive request's user-space work together (callgrind). */
static size_t put_status_line(char *p, int status)
{
    size_t rl;
    const char *reason = hz__status_reason_padded(status, &rl);
    memcpy(p, "HTTP/1.1 ", 9);
    p[9] = (char)('0' + status / 100 % 10);
    p[10] = (char)('0' + status / 10 % 10);
    p[11] = (char)('0' + status % 10);
    p[12] = ' ';
    memcpy(p + 13, reason, 32); /* padded to 32; p has room for all of it */
    memcpy(p + 13 + rl, "\r\n", 2);
    return 15u + rl;
}

static void res_complete(hz_req *ex)
{
    hz__conn *c = ex->conn;
    HZ__H1(ex)->res_done = 1;
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
    int no_body = HZ__H1(ex)->is_head || status < 200 || status == 204 || status == 304;
    int ka = HZ__H1(ex)->keep_alive && !loop->stopping && !c->close_after;
    if (HZ__H1(ex)->phase == HZ__PH_WAIT_BODY && !stream) {
        /* A complete answer and the body never asked for. Draining it is
         * only safe when the client is not waiting for 100 Continue and it
         * is small. */
        int drainable = !HZ__H1(ex)->want_continue && (h->body_kind == HZ__BODY_CHUNKED ||
                                                       HZ__H1(ex)->cl_left <= HZ__DRAIN_LIMIT);
        if (!drainable)
            ka = 0;
    } else if (HZ__H1(ex)->phase == HZ__PH_WAIT_BODY) {
        /* A stream started before the body was asked for (an echo): the
         * interim 100 must come before the final head or never. */
        hz__res_continue(ex);
    }
    int close_delim = stream && !no_body && h->version_minor == 0;
    if (close_delim)
        ka = 0;
    HZ__H1(ex)->keep_alive = (unsigned)ka;
    HZ__H1(ex)->no_body = (unsigned)no_body;
    HZ__H1(ex)->close_delim = (unsigned)close_delim;
    HZ__H1(ex)->chunked_out = (unsigned)(stream && !no_body && !close_delim);
    ex->status = status;

    /* Status line, Date, Server, the handler's fields and the framing
     * fields go out as one reservation and straight copies. */
    hz_server *srv = loop->srv;
    int server = !HZ__H1(ex)->server_set && srv->server_hdr;
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
                p += hz__fmt_u64(p, len);
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
    HZ__H1(ex)->res_started = 1;
    ex->body_bytes = stream ? 0 : len; /* access log; streams add as they write */
    if (rc < 0) {
        hz__conn_close(c);
        return HZ_ECLOSED;
    }
    return 0;
}

static inline int h1_gone(const hz_req *ex)
{
    return !ex->conn || ex->conn->closing;
}

static int h1_live(const hz_req *ex)
{
    return h1_gone(ex) ? HZ_ECLOSED : 0;
}

static int h1_set_header(hz_req *ex, const char *name, size_t nl, const char *value, size_t vl,
                         int kind)
{
    if (HZ__UNLIKELY(h1_gone(ex)))
        return HZ_ECLOSED;
    if (HZ__H1(ex)->res_started)
        return HZ_ESTATE;
    switch (kind) {
    case HZ__HDR_DROP:
    case HZ__HDR_CONNECTION:
        return 0;
    case HZ__HDR_CONN_CLOSE:
        HZ__H1(ex)->keep_alive = 0;
        return 0;
    case HZ__HDR_SERVER:
        HZ__H1(ex)->server_set = 1;
        break;
    default:
        break;
    }
    if (hz__buf_pending(&ex->hdrs) + HZ__RES_HDR_COST(nl, vl) > HZ__RES_HDRS_MAX)
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

static int h1_send(hz_req *ex, int status, const void *body, size_t len)
{
    if (HZ__UNLIKELY(h1_gone(ex)))
        return HZ_ECLOSED;
    if (HZ__H1(ex)->res_started)
        return HZ_ESTATE;
    hz__conn *c = ex->conn;
    int rc = res_head(ex, status, len, 0);
    if (rc < 0)
        return rc;
    if (!HZ__H1(ex)->no_body && len) {
        const char *p = body;
        size_t left = len;
        if (len >= HZ__WRITEV_MIN && !c->wblocked) {
            /* Big body: one writev of head + body, copy only the rest. */
            size_t taken = 0;
            if (hz__conn_flush_with(c, p, len, &taken) < 0)
                return HZ_ECLOSED;
            p += taken;
            left -= taken;
        }
        if (left && append(c, p, left) < 0) {
            hz__conn_close(c);
            return HZ_ECLOSED;
        }
    }
    res_complete(ex);
    return 0;
}

static int h1_start(hz_req *ex, int status)
{
    if (HZ__UNLIKELY(h1_gone(ex)))
        return HZ_ECLOSED;
    if (HZ__H1(ex)->res_started)
        return HZ_ESTATE;
    int rc = res_head(ex, status, 0, 1);
    if (rc == 0 && !ex->conn->in_process)
        hz__loop_ready(ex->loop, ex->conn);
    return rc;
}

static int h1_write(hz_req *ex, const void *buf, size_t len)
{
    if (HZ__UNLIKELY(h1_gone(ex)))
        return HZ_ECLOSED;
    if (!HZ__H1(ex)->res_started || HZ__H1(ex)->res_done)
        return HZ_ESTATE;
    if (HZ__H1(ex)->no_body || !len)
        return 0;
    hz__conn *c = ex->conn;
    size_t budget = c->loop->srv->cfg.output_buffer;
    /* A completion poller's queue counts (hz__sock_held): the same total
     * as with epoll, where those bytes wait in the kernel. */
    if (hz__buf_pending(&c->out) + hz__sock_held_in(&c->sock, budget) >= budget) {
        HZ__H1(ex)->drain_wait = 1;
        return HZ_EAGAIN;
    }
    int rc = 0;
    if (HZ__H1(ex)->chunked_out) {
        char sz[HZ__FMT_HEX_MAX + 2];
        size_t n = hz__fmt_hex(sz, len);
        sz[n++] = '\r';
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

static int h1_end(hz_req *ex)
{
    if (HZ__UNLIKELY(h1_gone(ex)))
        return HZ_ECLOSED;
    if (!HZ__H1(ex)->res_started || HZ__H1(ex)->res_done)
        return HZ_ESTATE;
    if (HZ__H1(ex)->chunked_out && append(ex->conn, "0\r\n\r\n", 5) < 0) {
        hz__conn_close(ex->conn);
        return HZ_ECLOSED;
    }
    HZ__H1(ex)->drain_wait = 0;
    res_complete(ex);
    return 0;
}

/* ---- body sources -------------------------------------------------------- */

#define HZ__SRC_CHUNK 16384u   /* bytes read from a source per piece */
#define HZ__SRC_SF_MAX 262144u /* bytes per sendfile call */

/* The source's done, once; the connection is pinned while user code runs. */
static void src_done(hz_req *ex, int status)
{
    if (!HZ__H1(ex)->src_on)
        return;
    hz_body_source s = HZ__H1(ex)->src;
    hz__conn *c = ex->conn;
    HZ__H1(ex)->src_on = 0;
    HZ__H1(ex)->src_wait = 0;
    memset(&HZ__H1(ex)->src, 0, sizeof(HZ__H1(ex)->src));
    if (c)
        c->refs++;
    s.done(s.ud, status);
    if (c)
        c->refs--;
}

void hz__res_source_drop(hz_req *ex, int err)
{
    src_done(ex, err);
}

/* The whole body went to the connection: frame its end and complete. */
static long src_finish(hz__conn *c, hz_req *ex)
{
    int rc = HZ__H1(ex)->chunked_out ? append(c, "0\r\n\r\n", 5) : 0;
    src_done(ex, 0);
    if (rc < 0 || c->closing) {
        hz__conn_close(c);
        return HZ_ECLOSED;
    }
    HZ__H1(ex)->drain_wait = 0;
    res_complete(ex);
    /* The process loop that called the flush does not look again. */
    hz__loop_ready(c->loop, c);
    return 1;
}

/* The body cannot be completed: the framing would lie, so close. */
static long src_fail(hz__conn *c, hz_req *ex, int err)
{
    src_done(ex, err);
    hz__conn_why(c, HZ_CLOSE_ERROR);
    hz__conn_close(c);
    return HZ_ECLOSED;
}

long hz__res_pump(hz__conn *c, hz_req *ex)
{
    hz_body_source *s = &HZ__H1(ex)->src;
    if (HZ__H1(ex)->src_left == 0)
        return src_finish(c, ex);
    /* Straight to a plain socket: no framing to add, nothing buffered. */
    if (s->sendfile && !HZ__H1(ex)->src_nosf && !HZ__H1(ex)->chunked_out && c->sock.fd >= 0 &&
        c->sock.tp == &hz__transport_socket && !hz__buf_pending(&c->out)) {
        size_t max = HZ__SRC_SF_MAX;
        if (HZ__H1(ex)->src_left > 0 && (uint64_t)HZ__H1(ex)->src_left < max)
            max = (size_t)HZ__H1(ex)->src_left;
        long n = s->sendfile(s->ud, c->sock.fd, max);
        if (n > 0) {
            if ((size_t)n > max)
                return src_fail(c, ex, HZ_EINVAL);
            hz__m_add(&c->loop->metrics, HZ__MS_BYTES_OUT, (uint64_t)n);
            c->last_io = c->loop->now;
            if (HZ__H1(ex)->src_left > 0)
                HZ__H1(ex)->src_left -= n;
            else
                ex->body_bytes += (uint64_t)n;
            return HZ__H1(ex)->src_left == 0 ? src_finish(c, ex) : n;
        }
        if (n == HZ_EAGAIN) {
            c->wblocked = 1;
            return 0;
        }
        if (n != HZ_ENOTSUP)
            return src_fail(c, ex, n == 0 ? HZ_EIO : (int)n);
        HZ__H1(ex)->src_nosf = 1;
    }
    /* Read a piece into the output buffer; chunked framing reserves four
     * hex digits (a piece is at most 0x4000) and moves short ones left. */
    size_t want = HZ__SRC_CHUNK;
    if (HZ__H1(ex)->src_left > 0 && (uint64_t)HZ__H1(ex)->src_left < want)
        want = (size_t)HZ__H1(ex)->src_left;
    size_t pre = HZ__H1(ex)->chunked_out ? 6 : 0;
    if (hz__buf_reserve(&c->out, &c->loop->bufs, pre + want + 2, UINT32_MAX) < 0)
        return src_fail(c, ex, HZ_ENOMEM);
    char *p = c->out.data + c->out.len;
    long n = s->read(s->ud, p + pre, want);
    if (n > 0) {
        if ((size_t)n > want)
            return src_fail(c, ex, HZ_EINVAL);
        size_t len = (size_t)n;
        if (pre) {
            char hex[HZ__FMT_HEX_MAX];
            size_t h = hz__fmt_hex(hex, len); /* len <= HZ__SRC_CHUNK: at most 4 digits */
            if (h < 4)
                memmove(p + h + 2, p + pre, len);
            memcpy(p, hex, h);
            memcpy(p + h, "\r\n", 2);
            memcpy(p + h + 2 + len, "\r\n", 2);
            c->out.len += (uint32_t)(h + 4 + len);
        } else {
            c->out.len += (uint32_t)len;
        }
        if (HZ__H1(ex)->src_left > 0)
            HZ__H1(ex)->src_left -= n;
        else
            ex->body_bytes += len;
        return HZ__H1(ex)->src_left == 0 ? src_finish(c, ex) : n;
    }
    if (n == 0) {
        if (HZ__H1(ex)->src_left > 0)
            return src_fail(c, ex, HZ_EIO); /* shorter than its Content-Length */
        return src_finish(c, ex);
    }
    if (n == HZ_EAGAIN) {
        HZ__H1(ex)->src_wait = 1;
        return 0;
    }
    return src_fail(c, ex, (int)n);
}

static int h1_send_source(hz_req *ex, int status, int64_t length, const hz_body_source *src)
{
    if (HZ__UNLIKELY(h1_gone(ex)))
        return HZ_ECLOSED;
    if (HZ__H1(ex)->res_started)
        return HZ_ESTATE;
    hz__conn *c = ex->conn;
    int rc = res_head(ex, status, length < 0 ? 0 : (uint64_t)length, length < 0);
    if (rc < 0)
        return rc;
    HZ__H1(ex)->src = *src;
    HZ__H1(ex)->src_on = 1;
    HZ__H1(ex)->src_wait = 0;
    HZ__H1(ex)->src_nosf = 0;
    HZ__H1(ex)->src_left = HZ__H1(ex)->no_body ? 0 : length;
    if (HZ__H1(ex)->no_body) { /* HEAD, 204, 304: the head is the response */
        src_done(ex, 0);
        res_complete(ex);
        return 0;
    }
    if (!c->in_process)
        hz__loop_ready(c->loop, c);
    return 0;
}

static int h1_resume(hz_req *ex)
{
    if (!HZ__H1(ex)->src_on)
        return HZ_ESTATE;
    if (HZ__H1(ex)->src_wait) {
        HZ__H1(ex)->src_wait = 0;
        hz__loop_ready(ex->loop, ex->conn);
    }
    return 0;
}

/* hz_res_after's timer: the connection is held (c->refs) across the
 * user's callback so a close inside it does not free it under us. */
static void h1_after_fire(hz__timer *t)
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

static int h1_after(hz_req *ex, unsigned ms, hz_after_fn fn, void *ud)
{
    if (hz__timer_armed(&ex->after))
        return HZ_EBUSY;
    hz__timer_init(&ex->after, h1_after_fire);
    ex->after_fn = fn;
    ex->after_ud = ud;
    ex->refs++;
    hz__timer_arm(&ex->loop->wheel, &ex->after, ex->loop->now + ms);
    return 0;
}

/* Ends an exchange that cannot complete: status + close before the head,
 * else the connection closes (a cut-off body is never taken as whole). */
static int h1_abort(hz_req *ex, int status, int why)
{
    if (h1_gone(ex))
        return HZ_ECLOSED;
    hz__conn_why(ex->conn, why);
    hz__res_error(ex->conn, status);
    return 0;
}

const hz__res_ops hz__h1_res_ops = {
    .set_header = h1_set_header,
    .send = h1_send,
    .start = h1_start,
    .write = h1_write,
    .end = h1_end,
    .send_source = h1_send_source,
    .resume = h1_resume,
    .on_body = hz__req_on_body,
    .resume_body = hz__req_resume_body,
    .after = h1_after,
    .live = h1_live,
    .on_loop = 1,
    .abort = h1_abort,
    .upgrade = hz__conn_upgrade,
    .secure = hz__conn_secure,
};

void hz__res_continue(hz_req *ex)
{
    /* Never after the final head: the client would take it for body. */
    if (!HZ__H1(ex)->want_continue || HZ__H1(ex)->res_started)
        return;
    HZ__H1(ex)->want_continue = 0;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (append(ex->conn, cont, sizeof(cont) - 1) < 0)
        hz__conn_close(ex->conn);
}

/* An error answer without an exchange to carry it (none could be taken):
 * the same fields and body hz__res_answer gives, written directly. */
static int bare_error(hz__conn *c, int status)
{
    hz__loop *loop = c->loop;
    hz_server *srv = loop->srv;
    size_t rl;
    const char *reason = hz__status_reason_padded(status, &rl);
    char line[64];
    int rc = append(c, line, put_status_line(line, status));
    if (rc == 0)
        rc = append(c, loop->date, loop->date_len);
    if (rc == 0 && srv->server_hdr)
        rc = append(c, srv->server_hdr, srv->server_hdr_len);
    static const char ct[] = "Content-Type: " HZ__ERROR_CTYPE "\r\nContent-Length: ";
    if (rc == 0)
        rc = append(c, ct, sizeof(ct) - 1);
    char num[24];
    size_t n = hz__fmt_u64(num, rl);
    static const char tail[] = "\r\nConnection: close\r\n\r\n";
    if (rc == 0)
        rc = append(c, num, n);
    if (rc == 0)
        rc = append(c, tail, sizeof(tail) - 1);
    if (rc == 0)
        rc = append(c, reason, rl);
    return rc;
}

void hz__res_error(hz__conn *c, int status)
{
    hz_req *ex = c->ex;
    if (c->closing)
        return;
    if (ex && HZ__H1(ex)->res_started) {
        if (HZ__H1(ex)->res_done) {
            /* The answer is queued already: stop reading and close after it. */
            HZ__H1(ex)->phase = HZ__PH_DONE;
            HZ__H1(ex)->keep_alive = 0;
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
    if (ex && HZ__H1(ex)->dispatched)
        hz__res_abort(ex, HZ_ECANCELED);
    if (c->closing)
        return;
    c->close_after = 1; /* res_head then sends Connection: close */
    if (ex) {
        /* Through the exchange (the handler's fields are dropped): the head
         * follows the request (HEAD gets no body) and the access log sees
         * the status. The connection's own writer, whatever ops the
         * exchange has now (an executor job that timed out). */
        hz__buf_release(&ex->hdrs, &c->loop->bufs);
        HZ__H1(ex)->server_set = 0;
        HZ__H1(ex)->keep_alive = 0;
        HZ__H1(ex)->want_continue = 0;
        HZ__H1(ex)->phase = HZ__PH_DONE;
        if (hz__res_answer(ex, &hz__h1_res_ops, status, NULL) < 0) {
            hz__conn_close(c);
            return;
        }
        HZ__H1(ex)->phase = HZ__PH_DONE; /* res_head may have looked at WAIT_BODY */
        return;
    }
    if (bare_error(c, status) < 0) {
        hz__conn_close(c);
        return;
    }
    c->nqueued++;
    if (!c->in_process)
        hz__loop_ready(c->loop, c);
}
