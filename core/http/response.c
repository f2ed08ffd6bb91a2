/* response.c - the protocol-neutral hz_res_* functions: argument checks,
 * header validation (one place for every protocol and thread), dispatch
 * through the exchange's ops table (exchange.h), the user callbacks, the
 * loop timer for late answers and the body of the library's own answers. */
#include <string.h>
#include <strings.h>
#include "exchange.h"
#include "loop.h"

/* RFC 9110 §15 reason phrases. Each is stored padded to 32 bytes so the
 * status line copies it with one fixed-size move. */
#define HZ__STATUSES(X)                                                                            \
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
HZ__STATUSES(X)
#undef X

enum {
#define X(code, text) HZ__RS_##code,
    HZ__STATUSES(X)
#undef X
        HZ__RS_UNKNOWN
};

static const struct {
    char text[32]; /* NUL-padded */
    unsigned char len;
} reasons[] = {
#define X(code, text) {text, sizeof(text) - 1},
    HZ__STATUSES(X)
#undef X
        {"Unknown", 7},
};

static unsigned reason_index(int status)
{
    switch (status) {
#define X(code, text)                                                                              \
    case code:                                                                                     \
        return HZ__RS_##code;
        HZ__STATUSES(X)
#undef X
    default:
        return HZ__RS_UNKNOWN;
    }
}

const char *hz__status_reason(int status)
{
    return reasons[reason_index(status)].text;
}

const char *hz__status_reason_padded(int status, size_t *len)
{
    unsigned r = reason_index(status);
    *len = reasons[r].len;
    return reasons[r].text;
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

/* Inlined into hz_res_set_header: it is on every request's path. */
static inline int header_check(const char *name, const char *value, size_t *nlp, size_t *vlp)
{
    if (!name || !value || !*name)
        return HZ_EINVAL;
    size_t nl = strlen(name), vl = strlen(value);
    *nlp = nl;
    *vlp = vl;
    if (hz__scan_token(name, nl) != nl || hz__scan_field_value(value, vl) != vl)
        return HZ_EINVAL;
    /* The names the library owns or watches, told apart by length first. */
    switch (nl) {
    case 4:
        if (!strcasecmp(name, "Date"))
            return HZ__HDR_DROP; /* the loop's cached Date is always sent */
        break;
    case 6:
        if (!strcasecmp(name, "Server"))
            return HZ__HDR_SERVER;
        break;
    case 10:
        if (!strcasecmp(name, "Connection"))
            return has_close_token(value) ? HZ__HDR_CONN_CLOSE : HZ__HDR_CONNECTION;
        break;
    case 14:
    case 17: /* framing belongs to the library */
        if (!strcasecmp(name, "Content-Length") || !strcasecmp(name, "Transfer-Encoding"))
            return HZ_EINVAL;
        break;
    default:
        break;
    }
    return HZ__HDR_PLAIN;
}

int hz__res_header_check(const char *name, const char *value, size_t *nl, size_t *vl)
{
    return header_check(name, value, nl, vl);
}

int hz_res_set_header(hz_res *res, const char *name, const char *value)
{
    if (!res)
        return HZ_EINVAL;
    hz_req *ex = res->ex;
    const hz__res_ops *ops = res->ops;
    size_t nl, vl;
    int kind = header_check(name, value, &nl, &vl);
    if (kind < 0)
        return kind;
    if (kind == HZ__HDR_DROP) /* still an error after the head, like any field */
        return ops->set_header(ex, NULL, 0, NULL, 0, kind);
    return hz__ex_set_header(ex, name, nl, value, vl, kind);
}

int hz_res_send(hz_res *res, int status, const void *body, size_t len)
{
    if (!res)
        return HZ_EINVAL;
    if (status < 200 || status > 999 || (!body && len))
        return HZ_EINVAL;
    return hz__ex_send(res->ex, status, body, len);
}

int hz_res_start(hz_res *res, int status)
{
    if (!res)
        return HZ_EINVAL;
    if (status < 200 || status > 999)
        return HZ_EINVAL;
    return hz__ex_start(res->ex, status);
}

int hz_res_write(hz_res *res, const void *buf, size_t len)
{
    if (!res)
        return HZ_EINVAL;
    if (!buf && len)
        return HZ_EINVAL;
    return hz__ex_write(res->ex, buf, len);
}

int hz_res_end(hz_res *res)
{
    if (!res)
        return HZ_EINVAL;
    return hz__ex_end(res->ex);
}

int hz_res_send_source(hz_res *res, int status, int64_t length, const hz_body_source *src)
{
    if (!res)
        return HZ_EINVAL;
    if (status < 200 || status > 999 || !src || !src->read || !src->done || length < -1)
        return HZ_EINVAL;
    if (HZ__UNLIKELY(res->ex->zmode))
        return hz__zf_send_source(res->ex, status, length, src);
    return res->ops->send_source(res->ex, status, length, src);
}

const hz_allocator *hz__res_alloc(const hz_res *res)
{
    return &res->ex->loop->srv->a;
}

/* The loop-only calls: HZ_ENOTSUP in the executor recorder. */
static hz_req *loop_ex(hz_res *res, int *err)
{
    if (!res) {
        *err = HZ_EINVAL;
        return NULL;
    }
    if (!res->ops->on_loop) {
        *err = HZ_ENOTSUP;
        return NULL;
    }
    *err = res->ops->live(res->ex);
    return *err < 0 ? NULL : res->ex;
}

int hz_res_on_drain(hz_res *res, hz_drain_fn fn, void *ud)
{
    int err;
    hz_req *ex = loop_ex(res, &err);
    if (!ex)
        return err;
    ex->on_drain = fn;
    ex->drain_ud = ud;
    return 0;
}

int hz_res_resume(hz_res *res)
{
    int err;
    hz_req *ex = loop_ex(res, &err);
    if (!ex)
        return err;
    return res->ops->resume(ex);
}

int hz_res_on_done(hz_res *res, hz_done_fn fn, void *ud)
{
    int err;
    hz_req *ex = loop_ex(res, &err);
    if (!ex)
        return err;
    ex->on_done = fn;
    ex->done_ud = ud;
    return 0;
}

int hz_res_after(hz_res *res, unsigned ms, hz_after_fn fn, void *ud)
{
    int err;
    hz_req *ex = loop_ex(res, &err);
    if (!ex)
        return err;
    if (!fn)
        return HZ_EINVAL;
    return res->ops->after(ex, ms, fn, ud);
}

int hz__res_answer(hz_req *ex, const hz__res_ops *ops, int status, const char *allow)
{
    int rc = 0;
    if (allow && *allow)
        rc = ops->set_header(ex, "Allow", 5, allow, strlen(allow), HZ__HDR_PLAIN);
    if (rc < 0)
        return rc;
    if (status == 204 || status == 304)
        return ops->send(ex, status, NULL, 0);
    rc = ops->set_header(ex, "Content-Type", 12, HZ__ERROR_CTYPE, sizeof(HZ__ERROR_CTYPE) - 1,
                         HZ__HDR_PLAIN);
    if (rc < 0)
        return rc;
    size_t len;
    const char *reason = hz__status_reason_padded(status, &len);
    return ops->send(ex, status, reason, len);
}
