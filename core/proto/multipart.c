/* multipart.c - multipart/form-data as a push parser (RFC 7578, RFC 2046
 * §5.1). Content is handed to the caller as it arrives, so a file is never
 * held whole; only one part's header block is buffered (bounded).
 *
 * The body is scanned for the delimiter "\r\n--" boundary. The boundary has
 * no CR, so the only place a partial match can restart is at a CR: on a
 * mismatch the bytes held back are exactly a prefix of the delimiter, and
 * they are emitted from the delimiter itself. No copy of the input is kept,
 * whatever the split. A virtual CRLF before the body lets the first
 * delimiter ("--boundary" at offset 0) match like every other one.
 */
#include <string.h>
#include "url.h"

enum {
    S_DATA,     /* a part's content (or the preamble), looking for the delimiter */
    S_AFTER,    /* the delimiter matched: "--", padding or CRLF follows */
    S_DASH2,    /* read "-" of the final "--" */
    S_PAD,      /* transport padding (LWSP) before the CRLF */
    S_LF,       /* read CR, LF must follow */
    S_HEADERS,  /* buffering a part's header block */
    S_EPILOGUE, /* after the final delimiter: ignored */
    S_ERROR,
};

/* Transport padding (RFC 2046 §5.1.1) is whitespace senders may add after
 * a delimiter; nobody needs more than this much. */
#define PAD_MAX 64

static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_bchar(unsigned char c)
{
    /* RFC 2046 §5.1.1 bchars */
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c && strchr("'()+_,-./:=? ", c) != NULL;
}

static int boundary_valid(const char *b, size_t len)
{
    if (len == 0 || len > HZ_MULTIPART_BOUNDARY_MAX || b[len - 1] == ' ')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_bchar((unsigned char)b[i]))
            return 0;
    return 1;
}

static int ieq(const char *a, size_t alen, const char *lit)
{
    size_t n = strlen(lit);
    if (alen != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (c != (unsigned char)lit[i])
            return 0;
    }
    return 1;
}

static const char *skip_ows(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *skip_token(const char *p, const char *e)
{
    while (p < e && is_tchar((unsigned char)*p))
        p++;
    return p;
}

/* Parses a parameter value (token or quoted-string) at *pp. Quoted-pairs
 * are not undone: browsers (WHATWG HTML, multipart/form-data encoding)
 * send a backslash literally and percent-encode '"', CR and LF instead, so
 * the value ends at the next DQUOTE. Returns 0 or -1. */
static int param_value(const char **pp, const char *e, hz_str *out)
{
    const char *p = *pp;
    if (p < e && *p == '"') {
        const char *s = ++p;
        while (p < e && *p != '"') {
            unsigned char c = (unsigned char)*p;
            if ((c < 0x20 && c != '\t') || c == 0x7F)
                return -1;
            p++;
        }
        if (p == e)
            return -1; /* unterminated */
        *out = (hz_str){s, (size_t)(p - s)};
        *pp = p + 1;
        return 0;
    }
    const char *s = p;
    p = skip_token(p, e);
    if (p == s)
        return -1;
    *out = (hz_str){s, (size_t)(p - s)};
    *pp = p;
    return 0;
}

/* Walks "; name=value" parameters from p, calling fn for each. Returns 0 or
 * -1 (malformed, or fn refused). */
typedef int (*param_fn)(void *ctx, hz_str name, hz_str value);

static int params_walk(const char *p, const char *e, param_fn fn, void *ctx)
{
    for (;;) {
        p = skip_ows(p, e);
        if (p == e)
            return 0;
        if (*p != ';')
            return -1;
        p = skip_ows(p + 1, e);
        if (p == e)
            return 0; /* a trailing ';' */
        const char *ns = p;
        p = skip_token(p, e);
        if (p == ns || p == e || *p != '=')
            return -1; /* RFC 9110 §5.6.6: no whitespace around '=' */
        hz_str name = {ns, (size_t)(p - ns)};
        p++;
        hz_str value;
        if (param_value(&p, e, &value) < 0)
            return -1;
        if (fn(ctx, name, value) < 0)
            return -1;
    }
}

static int boundary_param(void *ctx, hz_str name, hz_str value)
{
    hz_str *b = ctx;
    if (!ieq(name.ptr, name.len, "boundary"))
        return 0;
    if (b->ptr)
        return -1; /* two boundaries: which one would another parser use? */
    *b = value;
    return 0;
}

int hz_multipart_boundary(const char *content_type, size_t len, hz_str *boundary)
{
    if (!content_type || !boundary)
        return HZ_EINVAL;
    const char *p = content_type, *e = content_type + len;
    p = skip_ows(p, e);
    const char *ts = p;
    p = skip_token(p, e);
    if (!ieq(ts, (size_t)(p - ts), "multipart") || p == e || *p != '/')
        return HZ_EINVAL;
    const char *ss = ++p;
    p = skip_token(p, e);
    if (!ieq(ss, (size_t)(p - ss), "form-data"))
        return HZ_EINVAL;
    hz_str b = {NULL, 0};
    if (params_walk(p, e, boundary_param, &b) < 0 || !b.ptr || !boundary_valid(b.ptr, b.len))
        return HZ_EINVAL;
    *boundary = b;
    return 0;
}

int hz_multipart_init(hz_multipart *mp, const char *boundary, size_t len, const hz_multipart_cb *cb,
                      void *ud)
{
    memset(mp, 0, offsetof(hz_multipart, hdr)); /* hdr needs no clearing */
    mp->max_parts = HZ_MULTIPART_MAX_PARTS;
    mp->max_header = HZ_MULTIPART_HEADER_MAX;
    mp->state = S_ERROR;
    mp->rc = HZ_EINVAL;
    mp->error = "invalid boundary";
    if (!boundary || !boundary_valid(boundary, len))
        return HZ_EINVAL;
    if (cb)
        mp->cb = *cb;
    mp->ud = ud;
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, len);
    mp->dlen = 4 + len;
    mp->state = S_DATA;
    mp->rc = 0;
    mp->error = NULL;
    mp->match = 2; /* the virtual CRLF before the body */
    return 0;
}

static int fail(hz_multipart *mp, int rc, const char *why)
{
    mp->state = S_ERROR;
    mp->rc = rc;
    mp->error = why;
    return rc;
}

static int cb_result(hz_multipart *mp, int r)
{
    return r < 0 ? fail(mp, r, "stopped by a callback") : 0;
}

static int emit(hz_multipart *mp, const char *p, size_t n)
{
    if (!mp->in_part || n == 0 || !mp->cb.on_data)
        return 0; /* the preamble is dropped */
    return cb_result(mp, mp->cb.on_data(mp->ud, p, n));
}

static int end_part(hz_multipart *mp)
{
    if (!mp->in_part)
        return 0;
    mp->in_part = 0;
    return mp->cb.on_part_end ? cb_result(mp, mp->cb.on_part_end(mp->ud)) : 0;
}

typedef struct disp {
    hz_str name, filename;
} disp;

static int disposition_param(void *ctx, hz_str name, hz_str value)
{
    disp *d = ctx;
    hz_str *slot = NULL;
    if (ieq(name.ptr, name.len, "name"))
        slot = &d->name;
    else if (ieq(name.ptr, name.len, "filename"))
        slot = &d->filename;
    else
        return 0; /* e.g. "filename*", which RFC 7578 §4.2 forbids senders to use */
    if (slot->ptr)
        return -1;
    *slot = value;
    return 0;
}

/* Parses the buffered header block and announces the part. */
static int begin_part(hz_multipart *mp)
{
    hz_multipart_part part;
    memset(&part, 0, sizeof part);
    part.index = mp->nparts - 1;
    part.headers = (hz_str){mp->hdr, mp->hlen - 2}; /* without the empty line */
    int have_disp = 0;
    const char *p = mp->hdr, *end = mp->hdr + mp->hlen - 2;
    while (p < end) {
        const char *le = p;
        while (!(le[0] == '\r' && le[1] == '\n'))
            le++; /* every line ends in CRLF: the block does */
        for (const char *q = p; q < le; q++) {
            unsigned char c = (unsigned char)*q;
            if ((c < 0x20 && c != '\t') || c == 0x7F)
                return fail(mp, HZ_EPROTO, "control character in a part header");
        }
        if (*p == ' ' || *p == '\t')
            return fail(mp, HZ_EPROTO, "folded part header line");
        const char *ne = skip_token(p, le);
        if (ne == p || ne == le || *ne != ':')
            return fail(mp, HZ_EPROTO, "malformed part header line");
        const char *vs = skip_ows(ne + 1, le), *ve = le;
        while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t nlen = (size_t)(ne - p);
        if (ieq(p, nlen, "content-disposition")) {
            if (have_disp)
                return fail(mp, HZ_EPROTO, "duplicate Content-Disposition");
            have_disp = 1;
            const char *q = skip_token(vs, ve);
            if (!ieq(vs, (size_t)(q - vs), "form-data"))
                return fail(mp, HZ_EPROTO, "Content-Disposition is not form-data");
            disp d = {{NULL, 0}, {NULL, 0}};
            if (params_walk(q, ve, disposition_param, &d) < 0)
                return fail(mp, HZ_EPROTO, "malformed Content-Disposition parameters");
            if (!d.name.ptr)
                return fail(mp, HZ_EPROTO, "Content-Disposition without a name");
            part.name = d.name;
            part.filename = d.filename;
        } else if (ieq(p, nlen, "content-type")) {
            if (part.content_type.ptr)
                return fail(mp, HZ_EPROTO, "duplicate Content-Type in a part");
            part.content_type = (hz_str){vs, (size_t)(ve - vs)};
        }
        p = le + 2;
    }
    if (!have_disp)
        return fail(mp, HZ_EPROTO, "part without Content-Disposition");
    mp->in_part = 1;
    return mp->cb.on_part ? cb_result(mp, mp->cb.on_part(mp->ud, &part)) : 0;
}

int hz_multipart_feed(hz_multipart *mp, const void *data, size_t len)
{
    if (mp->rc)
        return mp->rc;
    if (!data && len)
        return HZ_EINVAL;
    const char *buf = data;
    size_t i = 0;
    int rc;
    while (i < len) {
        switch (mp->state) {
        case S_DATA: {
            if (mp->match) {
                if (buf[i] == mp->delim[mp->match]) {
                    i++;
                    if (++mp->match == mp->dlen) {
                        mp->match = 0;
                        mp->state = S_AFTER;
                    }
                    continue;
                }
                /* The held bytes were a delimiter prefix after all: they
                 * are content, and buf[i] is looked at afresh. */
                size_t held = mp->match;
                mp->match = 0;
                if ((rc = emit(mp, mp->delim, held)) < 0)
                    return rc;
            }
            const char *cr = memchr(buf + i, '\r', len - i);
            size_t stop = cr ? (size_t)(cr - buf) : len;
            if (stop > i && (rc = emit(mp, buf + i, stop - i)) < 0)
                return rc;
            i = stop;
            if (cr) {
                mp->match = 1;
                i++;
            }
            break;
        }
        case S_AFTER: {
            char c = buf[i++];
            if (c == '-') {
                mp->state = S_DASH2;
            } else if (c == ' ' || c == '\t') {
                mp->pad = 1;
                mp->state = S_PAD;
            } else if (c == '\r') {
                mp->state = S_LF;
            } else {
                /* RFC 2046 §5.1.1: the boundary must not occur in content,
                 * so this is not data that happens to look like it. */
                return fail(mp, HZ_EPROTO, "boundary delimiter followed by other characters");
            }
            break;
        }
        case S_DASH2:
            if (buf[i++] != '-')
                return fail(mp, HZ_EPROTO, "boundary delimiter followed by other characters");
            if ((rc = end_part(mp)) < 0)
                return rc;
            mp->state = S_EPILOGUE;
            break;
        case S_PAD: {
            char c = buf[i++];
            if (c == '\r')
                mp->state = S_LF;
            else if (c != ' ' && c != '\t')
                return fail(mp, HZ_EPROTO, "boundary delimiter followed by other characters");
            else if (++mp->pad > PAD_MAX)
                return fail(mp, HZ_EPROTO, "too much padding after a boundary delimiter");
            break;
        }
        case S_LF:
            if (buf[i++] != '\n')
                return fail(mp, HZ_EPROTO, "boundary delimiter line not ended by CRLF");
            if ((rc = end_part(mp)) < 0)
                return rc;
            if (mp->nparts >= mp->max_parts)
                return fail(mp, HZ_EBUSY, "too many parts");
            mp->nparts++;
            mp->hlen = 0;
            mp->state = S_HEADERS;
            break;
        case S_HEADERS: {
            size_t max =
                mp->max_header < HZ_MULTIPART_HEADER_MAX ? mp->max_header : HZ_MULTIPART_HEADER_MAX;
            while (i < len) {
                if (mp->hlen >= max)
                    return fail(mp, HZ_ERANGE, "part header block too large");
                char c = buf[i++];
                mp->hdr[mp->hlen++] = c;
                if (c != '\n')
                    continue;
                size_t h = mp->hlen;
                if (h < 2 || mp->hdr[h - 2] != '\r')
                    return fail(mp, HZ_EPROTO, "bare LF in a part header");
                if (h == 2 || (h >= 4 && mp->hdr[h - 3] == '\n' && mp->hdr[h - 4] == '\r')) {
                    if ((rc = begin_part(mp)) < 0)
                        return rc;
                    mp->state = S_DATA;
                    mp->match = 0;
                    break;
                }
            }
            break;
        }
        case S_EPILOGUE:
            i = len; /* RFC 2046: the epilogue is to be ignored */
            break;
        default:
            return mp->rc;
        }
    }
    return 0;
}

int hz_multipart_finish(hz_multipart *mp)
{
    if (mp->rc)
        return mp->rc;
    if (mp->state == S_EPILOGUE)
        return 0;
    if (mp->state == S_DATA && !mp->in_part && mp->nparts == 0)
        return fail(mp, HZ_EPROTO, "no boundary delimiter in the body");
    return fail(mp, HZ_EPROTO, "body ended before the final boundary delimiter");
}

const char *hz_multipart_error(const hz_multipart *mp)
{
    return mp->error;
}
