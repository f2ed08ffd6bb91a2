/* formstream.c - form bodies decoded as they stream (hz_form_*): one set of
 * field callbacks over application/x-www-form-urlencoded (decoded here, a
 * byte at a time, so an escape may straddle two feeds) and
 * multipart/form-data (hz_multipart underneath). Nothing is allocated; only
 * the current field's name, filename and Content-Type are held. */
#include <string.h>
#include "url.h"

enum { K_URLENCODED = 1, K_MULTIPART = 2 };

/* url-encoded states */
enum {
    U_START, /* before a pair ('&' are skipped) */
    U_NAME,  /* in a name */
    U_VALUE, /* in a value */
};

/* Decoded value bytes are handed on in pieces of up to this size. */
#define OUT_MAX 512

static int ieq_prefix(const char *s, size_t len, const char *lit, size_t *used)
{
    size_t n = strlen(lit);
    if (len < n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (c != (unsigned char)lit[i])
            return 0;
    }
    *used = n;
    return 1;
}

/* True for "application/x-www-form-urlencoded" alone or with parameters. */
static int is_urlencoded(const char *ct, size_t len)
{
    size_t i = 0, n;
    while (i < len && (ct[i] == ' ' || ct[i] == '\t'))
        i++;
    if (!ieq_prefix(ct + i, len - i, "application/x-www-form-urlencoded", &n))
        return 0;
    i += n;
    while (i < len && (ct[i] == ' ' || ct[i] == '\t'))
        i++;
    return i == len || ct[i] == ';';
}

static int fail(hz_form *f, int rc, const char *why)
{
    f->rc = rc;
    if (!f->error)
        f->error = why;
    return rc;
}

static int user_result(hz_form *f, int r)
{
    return r < 0 ? fail(f, r, "stopped by a callback") : 0;
}

static size_t name_limit(const hz_form *f)
{
    return f->max_name < HZ_FORM_NAME_MAX ? f->max_name : HZ_FORM_NAME_MAX;
}

/* ---- multipart: adapters over hz_multipart -------------------------------- */

/* Copies s into f->text at *at, NUL-terminated; the block's strings always
 * fit (they come from one header block of at most HZ_MULTIPART_HEADER_MAX). */
static hz_str keep(hz_form *f, size_t *at, hz_str s)
{
    if (!s.ptr)
        return (hz_str){NULL, 0};
    char *d = f->text + *at;
    memcpy(d, s.ptr, s.len);
    d[s.len] = 0;
    *at += s.len + 1;
    return (hz_str){d, s.len};
}

static int mp_part(void *ud, const hz_multipart_part *p)
{
    hz_form *f = ud;
    if (p->name.len > name_limit(f))
        return fail(f, HZ_ERANGE, "field name too long");
    size_t at = 0;
    f->field.index = p->index;
    f->field.name = keep(f, &at, p->name);
    f->field.filename = keep(f, &at, p->filename);
    f->field.content_type = keep(f, &at, p->content_type);
    f->field.size = 0;
    f->in_field = 1;
    return f->cb.on_field ? user_result(f, f->cb.on_field(f->ud, &f->field)) : 0;
}

static int mp_data(void *ud, const void *data, size_t len)
{
    hz_form *f = ud;
    if (f->field.filename.ptr) {
        if (len > f->max_file - f->field.size)
            return fail(f, HZ_ERANGE, "file too large");
    } else if (len > f->max_field - f->field.size) {
        return fail(f, HZ_ERANGE, "field value too large");
    }
    f->field.size += len;
    return f->cb.on_data ? user_result(f, f->cb.on_data(f->ud, &f->field, data, len)) : 0;
}

static int mp_end(void *ud)
{
    hz_form *f = ud;
    f->in_field = 0;
    return f->cb.on_field_end ? user_result(f, f->cb.on_field_end(f->ud, &f->field)) : 0;
}

/* ---- url-encoded ----------------------------------------------------------- */

static int begin_field(hz_form *f)
{
    if (f->nfields >= f->max_fields)
        return fail(f, HZ_EBUSY, "too many fields");
    f->field.index = f->nfields++;
    f->field.name = (hz_str){f->text, 0};
    f->field.size = 0;
    f->text[0] = 0;
    f->state = U_NAME;
    return 0;
}

static int announce(hz_form *f)
{
    f->in_field = 1;
    return f->cb.on_field ? user_result(f, f->cb.on_field(f->ud, &f->field)) : 0;
}

static int end_field(hz_form *f)
{
    f->in_field = 0;
    f->state = U_START;
    return f->cb.on_field_end ? user_result(f, f->cb.on_field_end(f->ud, &f->field)) : 0;
}

static int flush(hz_form *f, const char *out, size_t *n)
{
    if (!*n)
        return 0;
    size_t len = *n;
    *n = 0;
    f->field.size += len;
    return f->cb.on_data ? user_result(f, f->cb.on_data(f->ud, &f->field, out, len)) : 0;
}

/* One decoded byte of a name or a value. */
static int put_byte(hz_form *f, unsigned char c, char *out, size_t *n)
{
    if (f->state == U_NAME) {
        if (c == 0)
            return fail(f, HZ_EPROTO, "NUL in a field name");
        if (f->field.name.len >= name_limit(f))
            return fail(f, HZ_ERANGE, "field name too long");
        f->text[f->field.name.len++] = (char)c;
        f->text[f->field.name.len] = 0;
        return 0;
    }
    if (c == 0 && !(f->flags & HZ_URL_ALLOW_NUL))
        return fail(f, HZ_EPROTO, "NUL in a field value");
    if (f->field.size + *n >= f->max_field)
        return fail(f, HZ_ERANGE, "field value too large");
    out[(*n)++] = (char)c;
    if (*n == OUT_MAX)
        return flush(f, out, n);
    return 0;
}

static int url_feed(hz_form *f, const unsigned char *p, size_t len)
{
    char out[OUT_MAX];
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        unsigned char c = p[i];
        if (f->pct) {
            int v = hz__hexval(c);
            if (v < 0)
                return fail(f, HZ_EPROTO, "bad percent escape");
            if (f->pct == 2) {
                f->hex = v;
                f->pct = 1;
            } else {
                f->pct = 0;
                rc = put_byte(f, (unsigned char)(f->hex << 4 | v), out, &n);
            }
            continue;
        }
        if (f->state == U_START) {
            if (c == '&')
                continue; /* an empty piece is no field */
            if ((rc = begin_field(f)) < 0)
                return rc;
        }
        if (c == '%') {
            f->pct = 2;
        } else if (c == '&') {
            if (f->state == U_NAME)
                rc = announce(f); /* a name without '=': an empty value */
            else
                rc = flush(f, out, &n);
            if (rc == 0)
                rc = end_field(f);
        } else if (c == '=' && f->state == U_NAME) {
            f->state = U_VALUE;
            rc = announce(f);
        } else {
            rc = put_byte(f, c == '+' ? ' ' : c, out, &n);
        }
    }
    if (rc == 0)
        rc = flush(f, out, &n);
    return rc;
}

/* ---- public ---------------------------------------------------------------- */

int hz_form_init(hz_form *f, const char *content_type, size_t len, const hz_form_cb *cb, void *ud)
{
    memset(f, 0, offsetof(hz_form, mp)); /* mp is set up below; text needs no clearing */
    f->max_file = HZ_FORM_MAX_FILE;
    f->max_field = HZ_FORM_MAX_FIELD;
    f->max_fields = HZ_FORM_MAX_FIELDS;
    f->max_name = HZ_FORM_NAME_MAX;
    f->max_header = HZ_MULTIPART_HEADER_MAX;
    f->rc = HZ_EINVAL;
    f->error = "not a form media type";
    if (cb)
        f->cb = *cb;
    f->ud = ud;
    hz_str b;
    if (content_type && is_urlencoded(content_type, len)) {
        f->kind = K_URLENCODED;
        f->state = U_START;
    } else if (content_type && hz_multipart_boundary(content_type, len, &b) == 0) {
        static const hz_multipart_cb mcb = {mp_part, mp_data, mp_end};
        if (hz_multipart_init(&f->mp, b.ptr, b.len, &mcb, f) < 0)
            return HZ_EINVAL;
        f->kind = K_MULTIPART;
    } else {
        return HZ_EINVAL;
    }
    f->rc = 0;
    f->error = NULL;
    return 0;
}

int hz_form_feed(hz_form *f, const void *data, size_t len)
{
    if (f->rc)
        return f->rc;
    if (!data && len)
        return HZ_EINVAL;
    if (f->kind == K_URLENCODED)
        return url_feed(f, data, len);
    /* The limits may have changed since init. */
    f->mp.max_parts = f->max_fields;
    f->mp.max_header = f->max_header;
    int rc = hz_multipart_feed(&f->mp, data, len);
    if (rc < 0)
        fail(f, rc, hz_multipart_error(&f->mp));
    return rc;
}

int hz_form_finish(hz_form *f)
{
    if (f->rc)
        return f->rc;
    if (f->kind == K_MULTIPART) {
        int rc = hz_multipart_finish(&f->mp);
        if (rc < 0)
            fail(f, rc, hz_multipart_error(&f->mp));
        return rc;
    }
    if (f->pct)
        return fail(f, HZ_EPROTO, "bad percent escape");
    int rc = 0;
    if (f->state == U_NAME)
        rc = announce(f);
    if (rc == 0 && f->state != U_START)
        rc = end_field(f);
    return rc;
}

const char *hz_form_error(const hz_form *f)
{
    return f->error;
}

int hz_form_status(int rc)
{
    switch (rc) {
    case 0:
        return 200;
    case HZ_ERANGE:
    case HZ_EBUSY:
        return 413;
    case HZ_EPROTO:
        return 400;
    case HZ_EINVAL:
        return 415;
    default:
        return 500;
    }
}
