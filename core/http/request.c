/* request.c - the protocol-neutral hz_req_* functions: views of the
 * request (the same on the loop and on an executor worker) and the body
 * streaming calls, which reach the protocol through its ops table. */
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "exchange.h"
#include "loop.h"

/* The same on the loop and on an executor worker: the protocol set it at
 * dispatch and clears it once the exchange is detached. */
static const char *req_base(const hz_req *req)
{
    return req->raw;
}

static hz_str view(const hz_req *req, uint32_t off, uint32_t len)
{
    const char *b = req_base(req);
    hz_str s = {NULL, 0};
    if (b) {
        s.ptr = b + off;
        s.len = len;
    }
    return s;
}

hz_str hz_req_method(const hz_req *req)
{
    return view(req, req->head.method_off, req->head.method_len);
}

hz_str hz_req_target(const hz_req *req)
{
    return view(req, req->head.target_off, req->head.target_len);
}

hz_str hz_req_path(const hz_req *req)
{
    const hz__req_head *h = &req->head;
    if (h->target_form == HZ__TF_ABSOLUTE && h->path_len == 0) {
        hz_str root = {"/", 1};
        return req_base(req) ? root : view(req, 0, 0);
    }
    return view(req, h->path_off, h->path_len);
}

hz_str hz_req_query(const hz_req *req)
{
    const hz__req_head *h = &req->head;
    hz_str s = {"", 0};
    uint32_t q = h->path_off + h->path_len; /* the '?', if any */
    uint32_t end = h->target_off + h->target_len;
    if (q >= end)
        return s;
    hz_str v = view(req, q + 1, end - q - 1);
    return v.ptr ? v : s;
}

int hz_req_version(const hz_req *req)
{
    if (req->http_version)
        return req->http_version;
    return 10 + (req->head.version_minor ? 1 : 0);
}

hz_str hz_req_header(const hz_req *req, const char *name)
{
    hz_str none = {NULL, 0};
    const char *b = req_base(req);
    if (!b || !name)
        return none;
    size_t nl = strlen(name);
    for (uint32_t i = 0; i < req->head.nfields; i++) {
        const hz__field *f = &req->fields[i];
        if (f->name_len == nl && strncasecmp(b + f->name_off, name, nl) == 0) {
            hz_str s = {b + f->value_off, f->value_len};
            return s;
        }
    }
    return none;
}

size_t hz_req_header_count(const hz_req *req)
{
    return req->head.nfields;
}

int hz_req_header_at(const hz_req *req, size_t i, hz_str *name, hz_str *value)
{
    const char *b = req_base(req);
    if (!b || i >= req->head.nfields)
        return HZ_EINVAL;
    const hz__field *f = &req->fields[i];
    if (name) {
        name->ptr = b + f->name_off;
        name->len = f->name_len;
    }
    if (value) {
        value->ptr = b + f->value_off;
        value->len = f->value_len;
    }
    return 0;
}

hz_str hz_req_param(const hz_req *req, const char *name)
{
    hz_str none = {NULL, 0};
    if (!name || !req->raw)
        return none;
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->match.nparams; i++) {
        const hz__route_param *p = &req->match.params[i];
        if (p->name.len == nl && memcmp(p->name.ptr, name, nl) == 0)
            return p->value;
    }
    return none;
}

hz_str hz_req_body(const hz_req *req)
{
    hz_str s = {"", 0};
    if (req->sink != HZ__SINK_BUFFER || !req->body_len)
        return s;
    hz_str v = view(req, req->body_start, req->body_len);
    return v.ptr ? v : s;
}

int hz_req_cancelled(const hz_req *req)
{
    return atomic_load(&((hz_req *)req)->cancelled);
}

void hz_req_set_user(hz_req *req, void *p)
{
    if (req)
        req->user = p;
}

void *hz_req_user(const hz_req *req)
{
    return req ? req->user : NULL;
}

void *hz_res_user(const hz_res *res)
{
    return res && res->ex ? res->ex->user : NULL;
}

int hz_req_loop(const hz_req *req)
{
    return (int)req->loop->idx;
}

int hz_req_file_get(hz_req *req, const void *owner, const char *key, size_t key_len, void *meta,
                    size_t meta_len)
{
    if (!req || !key || (meta_len && !meta))
        return HZ_EINVAL;
    if (!req->res.ops->on_loop)
        return HZ_ENOTSUP;
    return hz__fcache_get(req->loop, owner, key, key_len, meta, meta_len);
}

int hz_req_file_put(hz_req *req, const void *owner, const char *key, size_t key_len, unsigned max,
                    unsigned ttl_ms, int fd, const void *meta, size_t meta_len)
{
    if (!req || !key || fd < 0 || (meta_len && !meta))
        return HZ_EINVAL;
    if (!req->res.ops->on_loop)
        return HZ_ENOTSUP;
    return hz__fcache_put(req->loop, owner, key, key_len, max, ttl_ms, fd, meta, meta_len);
}

void hz_req_file_close(hz_req *req, int fd)
{
    if (fd < 0)
        return;
    if (req && req->res.ops->on_loop)
        hz__fcache_release(req->loop, fd);
    else
        close(fd);
}

int hz_req_on_body(hz_req *req, hz_body_chunk_fn on_chunk, hz_body_end_fn on_end, void *ud)
{
    const hz__res_ops *ops = req->res.ops;
    if (!ops->on_loop)
        return HZ_ENOTSUP;
    int rc = ops->live(req);
    if (rc < 0)
        return rc;
    if (!on_chunk || !on_end)
        return HZ_EINVAL;
    return ops->on_body(req, on_chunk, on_end, ud);
}

int hz_req_resume(hz_req *req)
{
    const hz__res_ops *ops = req->res.ops;
    if (!ops->on_loop)
        return HZ_ENOTSUP;
    int rc = ops->live(req);
    if (rc < 0)
        return rc;
    return ops->resume_body(req);
}
