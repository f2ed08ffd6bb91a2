/* compress.c - response compression: a filter on the hz_res_* functions
 * (above the ops table, so every protocol and the executor recorder get
 * it), with gzip through zlib and brotli through libbrotlienc.
 *
 * response.c hands a call here when ex->zmode is set. Header fields pass
 * through to the ops table except ETag, held until the head is decided.
 * At the head (send, start, send_source) the filter picks a coding from
 * Accept-Encoding (proto/aenc.c) when the response is eligible, then adds
 * Vary, the (weakened) ETag and Content-Encoding and calls the ops with
 * compressed bytes:
 *   - hz_res_send: compressed in one go (identity when that saves nothing);
 *   - hz_res_start/write/end: one compressor per response, each write
 *     flushed (a stream's pieces reach the client when written); the
 *     output of a write the ops refused (HZ_EAGAIN) is kept, and the next
 *     write returns HZ_EAGAIN until it went out, so the budget counts
 *     compressed bytes and nothing more than one write's output is held;
 *   - sources: wrapped in a source that owns its compressor and an input
 *     buffer (the connection pulls compressed pieces; length unknown). */
#include <string.h>
#include <strings.h>
#include "exchange.h"
#include "aenc.h"
#include "parser.h"
#if HZ_HAVE_GZIP
#include <zlib.h>
#endif
#if HZ_HAVE_BROTLI
#include <brotli/encode.h>
#endif

/* ---- codecs ---------------------------------------------------------------- */

enum { ZOP_NONE = 0, ZOP_FLUSH, ZOP_FINISH };

#define ZC_HDR 16u /* allocation header: the size, for the allocator's free */

typedef struct zc {
    hz_allocator a; /* copy of the server's (thread-safe) */
    int coding;     /* HZ_CODING_GZIP / _BR; 0 = not set up */
    size_t mem;     /* bytes the codec holds now */
#if HZ_HAVE_GZIP
    z_stream z;
#endif
#if HZ_HAVE_BROTLI
    BrotliEncoderState *br; /* owns */
#endif
} zc;

#if HZ_HAVE_GZIP || HZ_HAVE_BROTLI /* the codecs' memory, counted */
static void *zc_alloc(zc *c, size_t n)
{
    char *p = hz__alloc(&c->a, n + ZC_HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof(n));
    c->mem += n + ZC_HDR;
    return p + ZC_HDR;
}

static void zc_free_block(zc *c, void *q)
{
    if (!q)
        return;
    char *p = (char *)q - ZC_HDR;
    size_t n;
    memcpy(&n, p, sizeof(n));
    c->mem -= n + ZC_HDR;
    hz__free(&c->a, p, n + ZC_HDR);
}
#endif

#if HZ_HAVE_GZIP
static voidpf zc_zalloc(voidpf op, uInt items, uInt size)
{
    if (size && items > SIZE_MAX / size)
        return Z_NULL;
    return zc_alloc(op, (size_t)items * size);
}
static void zc_zfree(voidpf op, voidpf p)
{
    zc_free_block(op, p);
}
#endif
#if HZ_HAVE_BROTLI
static void *zc_balloc(void *op, size_t n)
{
    return zc_alloc(op, n);
}
static void zc_bfree(void *op, void *p)
{
    zc_free_block(op, p);
}
#endif

static unsigned ceil_log2(uint64_t n)
{
    unsigned b = 0;
    while (b < 63 && ((uint64_t)1 << b) < n)
        b++;
    return b;
}

static unsigned clampu(unsigned v, unsigned lo, unsigned hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Sets up c for coding. wbits: the LZ window (10-15 for streams; up to 22
 * for brotli bodies of known size). 0 or HZ_ENOMEM. */
static int zc_init(zc *c, const hz_allocator *a, int coding, const hz_compress_config *cfg,
                   unsigned wbits)
{
    memset(c, 0, sizeof(*c));
    c->a = *a;
#if HZ_HAVE_GZIP
    if (coding == HZ_CODING_GZIP) {
        unsigned zw = clampu(wbits, 10, 15);
        int level = (int)clampu((unsigned)cfg->gzip_level, 1, 9);
        c->z.zalloc = zc_zalloc;
        c->z.zfree = zc_zfree;
        c->z.opaque = c;
        /* memLevel follows the window: its hash table as big as the window */
        if (deflateInit2(&c->z, level, Z_DEFLATED, 16 + (int)zw, (int)clampu(zw - 7, 1, 8),
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return HZ_ENOMEM;
        c->coding = coding;
        return 0;
    }
#endif
#if HZ_HAVE_BROTLI
    if (coding == HZ_CODING_BR) {
        c->br = BrotliEncoderCreateInstance(zc_balloc, zc_bfree, c);
        if (!c->br)
            return HZ_ENOMEM;
        BrotliEncoderSetParameter(c->br, BROTLI_PARAM_QUALITY,
                                  clampu((unsigned)cfg->brotli_quality, 0, 11));
        BrotliEncoderSetParameter(c->br, BROTLI_PARAM_LGWIN, clampu(wbits, 10, 22));
        c->coding = coding;
        return 0;
    }
#endif
    (void)cfg, (void)wbits, (void)coding;
    return HZ_ENOTSUP;
}

static void zc_end(zc *c)
{
#if HZ_HAVE_GZIP
    if (c->coding == HZ_CODING_GZIP)
        deflateEnd(&c->z);
#endif
#if HZ_HAVE_BROTLI
    if (c->coding == HZ_CODING_BR)
        BrotliEncoderDestroyInstance(c->br);
#endif
    c->coding = 0;
}

/* One step: consumes from in (inl bytes), produces into out (outl bytes), both advanced.
 * 1: a FINISH is complete; 0: more to do or done for NONE/FLUSH; HZ_EIO. */
static int zc_run(zc *c, const unsigned char **in, size_t *inl, unsigned char **out, size_t *outl,
                  int op)
{
    (void)c; /* unused when built without any coding (the cross builds) */
#if HZ_HAVE_GZIP
    if (c->coding == HZ_CODING_GZIP) {
        int fin = 0;
        while (!fin) { /* avail_* are uInt: feed at most 1 GiB per call */
            uInt ia = *inl > (1u << 30) ? (1u << 30) : (uInt)*inl;
            uInt oa = *outl > (1u << 30) ? (1u << 30) : (uInt)*outl;
            c->z.next_in = (Bytef *)(uintptr_t)*in;
            c->z.avail_in = ia;
            c->z.next_out = *out;
            c->z.avail_out = oa;
            int last = ia == *inl; /* FLUSH and FINISH apply to the last slice */
            int f = !last              ? Z_NO_FLUSH
                    : op == ZOP_FINISH ? Z_FINISH
                    : op == ZOP_FLUSH  ? Z_SYNC_FLUSH
                                       : Z_NO_FLUSH;
            int rc = deflate(&c->z, f);
            if (rc == Z_STREAM_ERROR)
                return HZ_EIO;
            if (ia != c->z.avail_in) { /* *in may be NULL (an end): no arithmetic on it */
                *in += ia - c->z.avail_in;
                *inl -= ia - c->z.avail_in;
            }
            *out += oa - c->z.avail_out;
            *outl -= oa - c->z.avail_out;
            fin = rc == Z_STREAM_END;
            if (!*outl || (!*inl && c->z.avail_out))
                break;
        }
        return fin;
    }
#endif
#if HZ_HAVE_BROTLI
    if (c->coding == HZ_CODING_BR) {
        BrotliEncoderOperation bop = op == ZOP_FINISH  ? BROTLI_OPERATION_FINISH
                                     : op == ZOP_FLUSH ? BROTLI_OPERATION_FLUSH
                                                       : BROTLI_OPERATION_PROCESS;
        if (!BrotliEncoderCompressStream(c->br, bop, inl, in, outl, out, NULL))
            return HZ_EIO;
        return op == ZOP_FINISH && BrotliEncoderIsFinished(c->br);
    }
#endif
    (void)in, (void)inl, (void)out, (void)outl, (void)op;
    return HZ_EIO;
}

/* Whether c holds output it could not give yet (brotli after a full out). */
static int zc_more(zc *c)
{
#if HZ_HAVE_BROTLI
    if (c->coding == HZ_CODING_BR)
        return BrotliEncoderHasMoreOutput(c->br);
#endif
    (void)c;
    return 0;
}

/* ---- the filter's state ---------------------------------------------------- */

typedef struct hz__zf {  /* owner: its exchange (ex->zf) */
    hz_allocator a;      /* copy of the server's */
    unsigned want : 1;   /* compression asked for */
    unsigned ct_ok : 1;  /* Content-Type compressible */
    unsigned ct_set : 1; /* a Content-Type was set */
    unsigned has_ce : 1; /* the handler set Content-Encoding: never again */
    unsigned vary : 1;   /* the handler's Vary names Accept-Encoding (or *) */
    unsigned headed : 1; /* the head was decided */
    unsigned ending : 1; /* hz_res_end waits for the stage to drain */
    int coding;          /* the stream's coding once headed; 0 identity */
    char *etag;          /* owns: the handler's ETag value, held; etag_len + 1 */
    size_t etag_len;
    zc z;                 /* the stream's compressor (coding != 0) */
    unsigned char *stage; /* owns: compressed bytes the ops refused; stage_cap */
    size_t stage_len, stage_cap;
} hz__zf;

static const hz_compress_config *zcfg(const hz_req *ex)
{
    return &ex->loop->srv->cfg.compression;
}

static hz__zf *zf_get(hz_req *ex)
{
    if (ex->zf)
        return ex->zf;
    const hz_allocator *a = &ex->loop->srv->a;
    hz__zf *zf = hz__calloc(a, sizeof(*zf));
    if (!zf)
        return NULL;
    zf->a = *a;
    zf->want = 1;
    ex->zf = zf;
    return zf;
}

void hz__zf_free(hz_req *ex)
{
    hz__zf *zf = ex->zf;
    ex->zf = NULL;
    if (zf->z.coding)
        zc_end(&zf->z);
    if (zf->etag)
        hz__free(&zf->a, zf->etag, zf->etag_len + 1);
    if (zf->stage)
        hz__free(&zf->a, zf->stage, zf->stage_cap);
    hz_allocator a = zf->a;
    hz__free(&a, zf, sizeof(*zf));
}

unsigned hz_compress_codings(void)
{
    return (HZ_HAVE_GZIP ? HZ_CODING_GZIP : 0u) | (HZ_HAVE_BROTLI ? HZ_CODING_BR : 0u);
}

static unsigned offered(const hz_compress_config *cfg)
{
    unsigned o = 0;
    if (HZ_HAVE_GZIP && cfg->gzip_level > 0)
        o |= HZ_CODING_GZIP;
    if (HZ_HAVE_BROTLI && cfg->brotli_quality >= 0)
        o |= HZ_CODING_BR;
    return o;
}

static int negotiate(const hz_req *req, unsigned offer)
{
    hz__aenc a;
    hz__aenc_init(&a);
    size_t n = hz_req_header_count(req);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        hz_str name, value;
        if (hz_req_header_at(req, i, &name, &value) == 0 && name.len == 15 &&
            !strncasecmp(name.ptr, "Accept-Encoding", 15)) {
            hz__aenc_parse(&a, value.ptr, value.len);
            seen = 1;
        }
    }
    if (!seen) /* no field: identity (RFC 9110 allows any; caches prefer this) */
        return HZ_CODING_IDENTITY;
    int c = hz__aenc_pick(&a, offer);
    return c < 0 ? HZ_CODING_IDENTITY : c; /* nothing acceptable: disregard the field */
}

int hz_req_accept_encoding(const hz_req *req, unsigned offer)
{
    if (!req)
        return HZ_EINVAL;
    return negotiate(req, offer & (HZ_CODING_GZIP | HZ_CODING_BR));
}

int hz_res_compress(hz_res *res, int on)
{
    if (!res)
        return HZ_EINVAL;
    hz_req *ex = res->ex;
    if (!on && !ex->zf) {
        ex->zmode = 0;
        return 0;
    }
    hz__zf *zf = zf_get(ex);
    if (!zf)
        return HZ_ENOMEM;
    zf->want = on != 0;
    ex->zmode = 1;
    return 0;
}

/* ---- media types ----------------------------------------------------------- */

static int eq(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && !strncasecmp(p, lit, n);
}

static int ends(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && !strncasecmp(p + n - l, lit, l);
}

/* Whether t/s (no parameters) is in the comma list (entries "t/s" or "t/" + asterisk). */
static int in_list(const char *list, const char *t, size_t tl, const char *full, size_t fl)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        size_t n = (size_t)(e - p);
        if (n && ((n == fl && !strncasecmp(p, full, n)) ||
                  (n == tl + 2 && !strncasecmp(p, t, tl) && p[tl] == '/' && p[tl + 1] == '*')))
            return 1;
        p = e;
    }
    return 0;
}

static int compressible(const char *v, size_t vl, const char *extra)
{
    size_t fl = 0; /* the media type without parameters */
    while (fl < vl && v[fl] != ';' && v[fl] != ' ' && v[fl] != '\t')
        fl++;
    const char *slash = memchr(v, '/', fl);
    if (!slash)
        return 0;
    size_t tl = (size_t)(slash - v);
    const char *s = slash + 1;
    size_t sl = fl - tl - 1;
    if (eq(v, tl, "text"))
        return 1;
    if (ends(s, sl, "+json") || ends(s, sl, "+xml"))
        return 1;
    if (eq(v, tl, "application") &&
        (eq(s, sl, "json") || eq(s, sl, "javascript") || eq(s, sl, "x-javascript") ||
         eq(s, sl, "ecmascript") || eq(s, sl, "xml") || eq(s, sl, "wasm") ||
         eq(s, sl, "x-ndjson") || eq(s, sl, "vnd.ms-fontobject") || eq(s, sl, "x-font-ttf") ||
         eq(s, sl, "graphql") || eq(s, sl, "x-sh")))
        return 1;
    if (eq(v, tl, "font") && (eq(s, sl, "ttf") || eq(s, sl, "otf") || eq(s, sl, "collection")))
        return 1;
    if (eq(v, tl, "image") &&
        (eq(s, sl, "x-icon") || eq(s, sl, "vnd.microsoft.icon") || eq(s, sl, "bmp")))
        return 1;
    return extra && in_list(extra, v, tl, v, fl);
}

/* "Accept-Encoding" or "*" in a Vary value. */
static int vary_names_ae(const char *v, size_t vl)
{
    const char *p = v, *end = v + vl;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *t = p;
        while (p < end && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if (eq(t, (size_t)(p - t), "accept-encoding") || eq(t, (size_t)(p - t), "*"))
            return 1;
    }
    return 0;
}

/* ---- the head -------------------------------------------------------------- */

int hz__zf_set_header(hz_req *ex, const char *name, size_t nl, const char *value, size_t vl,
                      int kind)
{
    hz__zf *zf = zf_get(ex);
    const hz__res_ops *ops = ex->res.ops;
    if (!zf)
        return HZ_ENOMEM;
    if (zf->headed)
        return ops->set_header(ex, name, nl, value, vl, kind); /* its HZ_ESTATE */
    if (kind == HZ__HDR_PLAIN) {
        if (eq(name, nl, "ETag")) { /* held: weakened if the body is compressed */
            int live = ops->live(ex);
            if (live < 0)
                return live;
            char *e = hz__alloc(&zf->a, vl + 1);
            if (!e)
                return HZ_ENOMEM;
            memcpy(e, value, vl);
            e[vl] = 0;
            if (zf->etag)
                hz__free(&zf->a, zf->etag, zf->etag_len + 1);
            zf->etag = e;
            zf->etag_len = vl;
            return 0;
        }
        int rc = ops->set_header(ex, name, nl, value, vl, kind);
        if (rc < 0)
            return rc;
        if (eq(name, nl, "Content-Type")) {
            zf->ct_set = 1;
            zf->ct_ok = (unsigned)compressible(value, vl, zcfg(ex)->types);
        } else if (eq(name, nl, "Content-Encoding")) {
            zf->has_ce = 1;
        } else if (eq(name, nl, "Vary") && vary_names_ae(value, vl)) {
            zf->vary = 1;
        }
        return 0;
    }
    return ops->set_header(ex, name, nl, value, vl, kind);
}

/* Whether the representation may be compressed: status, type, length
 * (len < 0: unknown). */
static int eligible(const hz__zf *zf, const hz_compress_config *cfg, int status, int64_t len)
{
    if (!zf->want || zf->has_ce || !zf->ct_ok || !offered(cfg))
        return 0;
    if (status < 200 || status == 204 || status == 206 || status == 304)
        return 0;
    return len < 0 || (uint64_t)len >= cfg->min_size;
}

static int put(hz_req *ex, const char *name, const char *value, size_t vl)
{
    return ex->res.ops->set_header(ex, name, strlen(name), value, vl, HZ__HDR_PLAIN);
}

/* Adds the fields the decision needs: Vary (when the coding depended on
 * Accept-Encoding), ETag (weak when compressed), Content-Encoding. */
static int emit(hz_req *ex, hz__zf *zf, int vary, int coding, int body)
{
    int rc = 0;
    zf->headed = 1;
    if (vary && !zf->vary)
        rc = put(ex, "Vary", "Accept-Encoding", 15);
    if (rc == 0 && zf->etag) {
        if (coding && zf->etag_len >= 2 && zf->etag[0] == '"') {
            /* a strong validator of the identity bytes is not one of these */
            char buf[256];
            if (zf->etag_len + 2 <= sizeof(buf)) {
                memcpy(buf, "W/", 2);
                memcpy(buf + 2, zf->etag, zf->etag_len);
                rc = put(ex, "ETag", buf, zf->etag_len + 2);
            } /* else: an oversized tag is dropped rather than sent strong */
        } else {
            rc = put(ex, "ETag", zf->etag, zf->etag_len);
        }
    }
    if (rc == 0 && coding && body)
        rc = put(ex, "Content-Encoding", coding == HZ_CODING_BR ? "br" : "gzip",
                 coding == HZ_CODING_BR ? 2 : 4);
    return rc;
}

/* For statuses without a body (304): the fields a 200 would have had. */
static int head_only(hz_req *ex, hz__zf *zf, int status)
{
    const hz_compress_config *cfg = zcfg(ex);
    int vary = 0, coding = 0;
    if (status == 304 && zf->want && !zf->has_ce && (zf->ct_ok || !zf->ct_set) && offered(cfg)) {
        vary = 1;
        coding = negotiate(ex, offered(cfg));
    }
    int rc = emit(ex, zf, vary, coding, 0); /* a 304 has no body to code */
    zf->coding = 0;
    return rc;
}

int hz__zf_send(hz_req *ex, int status, const void *body, size_t len)
{
    const hz__res_ops *ops = ex->res.ops;
    hz__zf *zf = zf_get(ex);
    if (!zf)
        return HZ_ENOMEM;
    if (zf->headed)
        return ops->send(ex, status, body, len); /* its HZ_ESTATE */
    int live = ops->live(ex);
    if (live < 0)
        return live;
    const hz_compress_config *cfg = zcfg(ex);
    if (!eligible(zf, cfg, status, (int64_t)len)) {
        int rc = head_only(ex, zf, status);
        return rc < 0 ? rc : ops->send(ex, status, body, len);
    }
    int coding = negotiate(ex, offered(cfg));
    unsigned char *out = NULL;
    size_t cap = 0, olen = 0;
    if (coding) {
        /* one go: the window follows the body (smaller bodies, less memory) */
        zc c;
        unsigned wb = clampu(ceil_log2(len), 10, coding == HZ_CODING_BR ? 22 : 15);
        if (zc_init(&c, &zf->a, coding, cfg, wb) == 0) {
            cap = len + len / 8 + 64; /* more than either codec's bound */
            out = hz__alloc(&zf->a, cap);
            const unsigned char *in = body;
            size_t inl = len, left = cap;
            unsigned char *o = out;
            int fin = 0;
            while (out && fin == 0 && left)
                fin = zc_run(&c, &in, &inl, &o, &left, ZOP_FINISH);
            olen = cap - left;
            zc_end(&c);
            if (fin != 1 || olen >= len) { /* failed, or nothing saved */
                coding = 0;
            }
        } else {
            coding = 0;
        }
    }
    int rc = emit(ex, zf, 1, coding, 1);
    if (rc == 0)
        rc = coding ? ops->send(ex, status, out, olen) : ops->send(ex, status, body, len);
    if (out)
        hz__free(&zf->a, out, cap);
    return rc;
}

/* ---- streams --------------------------------------------------------------- */

int hz__zf_start(hz_req *ex, int status)
{
    const hz__res_ops *ops = ex->res.ops;
    hz__zf *zf = zf_get(ex);
    if (!zf)
        return HZ_ENOMEM;
    if (zf->headed)
        return ops->start(ex, status);
    int live = ops->live(ex);
    if (live < 0)
        return live;
    const hz_compress_config *cfg = zcfg(ex);
    if (!eligible(zf, cfg, status, -1)) {
        int rc = head_only(ex, zf, status);
        return rc < 0 ? rc : ops->start(ex, status);
    }
    int coding = negotiate(ex, offered(cfg));
    if (coding && zc_init(&zf->z, &zf->a, coding, cfg, clampu(cfg->window_bits, 10, 15)) < 0)
        coding = 0; /* no memory for a compressor: identity */
    zf->coding = coding;
    int rc = emit(ex, zf, 1, coding, 1);
    return rc < 0 ? rc : ops->start(ex, status);
}

/* Compresses in with op, appending to the stage until all is consumed and
 * (FLUSH, FINISH) given out. 0, HZ_ENOMEM, HZ_EIO. */
static int to_stage(hz__zf *zf, const unsigned char *in, size_t inl, int op)
{
    for (;;) {
        if (zf->stage_cap - zf->stage_len < 256) {
            size_t ncap = zf->stage_cap ? zf->stage_cap * 2 : 16384;
            while (ncap < inl / 2 + 1024) /* about what this input may need */
                ncap *= 2;
            unsigned char *n = hz__realloc(&zf->a, zf->stage, zf->stage_cap, ncap);
            if (!n)
                return HZ_ENOMEM;
            zf->stage = n;
            zf->stage_cap = ncap;
        }
        unsigned char *o = zf->stage + zf->stage_len;
        size_t room = zf->stage_cap - zf->stage_len, left = room;
        int fin = zc_run(&zf->z, &in, &inl, &o, &left, op);
        if (fin < 0)
            return fin;
        zf->stage_len += room - left;
        if (op == ZOP_FINISH ? fin == 1 : (!inl && left && !zc_more(&zf->z)))
            return 0;
    }
}

int hz__zf_write(hz_req *ex, const void *buf, size_t len)
{
    const hz__res_ops *ops = ex->res.ops;
    hz__zf *zf = ex->zf;
    if (!zf || !zf->coding)
        return ops->write(ex, buf, len);
    if (zf->ending)
        return HZ_ESTATE;
    int rc;
    if (zf->stage_len) { /* the last write's output first */
        if ((rc = ops->write(ex, zf->stage, zf->stage_len)) < 0)
            return rc; /* HZ_EAGAIN: this write is not taken */
        zf->stage_len = 0;
    }
    if (!len)
        return ops->write(ex, buf, 0);
    if ((rc = ops->live(ex)) < 0)
        return rc;
    if ((rc = to_stage(zf, buf, len, ZOP_FLUSH)) < 0)
        return rc;
    if (!zf->stage_len)
        return 0;
    rc = ops->write(ex, zf->stage, zf->stage_len);
    if (rc == HZ_EAGAIN)
        return 0; /* held (one write's worth): the next write waits for it */
    if (rc < 0)
        return rc;
    zf->stage_len = 0;
    return 0;
}

/* hz_res_end's tail waited for the output budget: the drain callback. */
static void end_drain(hz_res *res, void *ud)
{
    hz_req *ex = ud;
    hz__zf *zf = ex->zf;
    (void)res;
    if (!zf || !zf->ending)
        return;
    int rc = ex->res.ops->write(ex, zf->stage, zf->stage_len);
    if (rc == HZ_EAGAIN)
        return; /* armed again by the refusal */
    zf->stage_len = 0;
    zf->ending = 0;
    if (rc == 0)
        ex->res.ops->end(ex);
}

int hz__zf_end(hz_req *ex)
{
    const hz__res_ops *ops = ex->res.ops;
    hz__zf *zf = ex->zf;
    if (!zf || !zf->coding)
        return ops->end(ex);
    if (zf->ending)
        return HZ_ESTATE;
    int rc = ops->live(ex);
    if (rc < 0)
        return rc;
    if ((rc = to_stage(zf, NULL, 0, ZOP_FINISH)) < 0)
        return rc;
    zc_end(&zf->z);
    rc = ops->write(ex, zf->stage, zf->stage_len);
    if (rc == HZ_EAGAIN && ops->on_loop) {
        /* The tail goes when the budget allows; the response ends then. */
        zf->ending = 1;
        ex->on_drain = end_drain;
        ex->drain_ud = ex;
        return 0;
    }
    if (rc < 0)
        return rc;
    zf->stage_len = 0;
    return ops->end(ex);
}

/* ---- body sources ---------------------------------------------------------- */

#define ZSRC_IN 16384u

typedef struct zsrc {     /* owner: the source (freed by zsrc_done) */
    zc z;                 /* its allocator is the server's */
    hz_body_source inner; /* owns: done runs from zsrc_done */
    const unsigned char *in;
    size_t inl;
    unsigned eof : 1, fin : 1, flushed : 1;
    unsigned char buf[ZSRC_IN];
} zsrc;

static long zsrc_read(void *ud, void *buf, size_t len)
{
    zsrc *s = ud;
    unsigned char *o = buf;
    size_t left = len;
    while (left && !s->fin) {
        if (!s->inl && !s->eof && !zc_more(&s->z)) {
            long n = s->inner.read(s->inner.ud, s->buf, sizeof(s->buf));
            if (n == HZ_EAGAIN) {
                if (left == len && !s->flushed) {
                    /* nothing new for now: give what the compressor holds */
                    int rc = zc_run(&s->z, &s->in, &s->inl, &o, &left, ZOP_FLUSH);
                    if (rc < 0)
                        return rc;
                    s->flushed = !zc_more(&s->z);
                }
                if (left < len)
                    break;
                return HZ_EAGAIN;
            }
            if (n < 0)
                return n;
            if ((size_t)n > sizeof(s->buf))
                return HZ_EINVAL;
            s->eof = n == 0;
            s->in = s->buf;
            s->inl = (size_t)n;
            s->flushed = 0;
        }
        int rc = zc_run(&s->z, &s->in, &s->inl, &o, &left, s->eof ? ZOP_FINISH : ZOP_NONE);
        if (rc < 0)
            return rc;
        s->fin = rc == 1;
    }
    return (long)(len - left); /* 0 only once finished: the end */
}

static void zsrc_done(void *ud, int status)
{
    zsrc *s = ud;
    s->inner.done(s->inner.ud, status);
    zc_end(&s->z);
    hz_allocator a = s->z.a;
    hz__free(&a, s, sizeof(*s));
}

int hz__zf_send_source(hz_req *ex, int status, int64_t length, const hz_body_source *src)
{
    const hz__res_ops *ops = ex->res.ops;
    hz__zf *zf = zf_get(ex);
    if (!zf)
        return HZ_ENOMEM;
    if (zf->headed)
        return ops->send_source(ex, status, length, src);
    int live = ops->live(ex);
    if (live < 0)
        return live;
    const hz_compress_config *cfg = zcfg(ex);
    if (!eligible(zf, cfg, status, length)) {
        int rc = head_only(ex, zf, status);
        return rc < 0 ? rc : ops->send_source(ex, status, length, src);
    }
    int coding = negotiate(ex, offered(cfg));
    zsrc *s = NULL;
    if (coding) {
        s = hz__calloc(&zf->a, sizeof(*s));
        unsigned wb = clampu(cfg->window_bits, 10, 15);
        if (length >= 0) /* a smaller body needs no bigger window */
            wb = clampu(ceil_log2((uint64_t)length), 10, wb);
        if (s && zc_init(&s->z, &zf->a, coding, cfg, wb) < 0) {
            hz__free(&zf->a, s, sizeof(*s));
            s = NULL;
        }
        if (!s)
            coding = 0;
    }
    int rc = emit(ex, zf, 1, coding, 1);
    if (rc < 0 || !coding) {
        if (s) {
            zc_end(&s->z);
            hz__free(&zf->a, s, sizeof(*s));
        }
        return rc < 0 ? rc : ops->send_source(ex, status, length, src);
    }
    s->inner = *src;
    hz_body_source w = {.read = zsrc_read, .done = zsrc_done, .ud = s};
    rc = ops->send_source(ex, status, -1, &w);
    if (rc < 0) { /* not taken: the caller still owns src */
        zc_end(&s->z);
        hz__free(&zf->a, s, sizeof(*s));
    }
    return rc;
}
