/* ws_deflate.c - permessage-deflate (RFC 7692): negotiation and the zlib
 * contexts. Contract in ws_deflate.h. */
#include <limits.h>
#include <stdalign.h>
#include <string.h>
#include "ws_deflate.h"
#if HZ_HAVE_WS_DEFLATE
#include <zlib.h>
#endif

/* ------------------------------------------------------------------------ */
/* Extension-list syntax (RFC 6455 §9.1)                                     */
/* ------------------------------------------------------------------------ */

static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void skip_ows(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
}

static size_t token_len(const char *p, const char *end)
{
    size_t n = 0;
    while (p + n < end && is_tchar((unsigned char)p[n]))
        n++;
    return n;
}

/* A quoted-string (RFC 9110 §5.6.4) at *p: its length with the quotes, or
 * 0 when malformed. */
static size_t quoted_len(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return 0;
    for (const char *q = p + 1; q < end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c == '"')
            return (size_t)(q - p) + 1;
        if (c == '\\') {
            if (++q >= end)
                return 0;
            c = (unsigned char)*q;
            if (!(c == '\t' || (c >= 0x20 && c != 0x7f)))
                return 0;
        } else if (!(c == '\t' || (c >= 0x20 && c != 0x7f))) {
            return 0;
        }
    }
    return 0;
}

typedef struct param {
    const char *name, *value; /* value NULL: no "=" */
    size_t nlen, vlen;        /* value span, quotes included when quoted */
} param;

/* Next "; name[=value]" at *p. Returns 1 with *pm, 0 at the element's end
 * (end of input or ','), HZ_EINVAL when malformed. */
static int param_next(const char **p, const char *end, param *pm)
{
    skip_ows(p, end);
    if (*p >= end || **p == ',')
        return 0;
    if (**p != ';')
        return HZ_EINVAL;
    (*p)++;
    skip_ows(p, end);
    pm->name = *p;
    pm->nlen = token_len(*p, end);
    if (!pm->nlen)
        return HZ_EINVAL;
    *p += pm->nlen;
    const char *save = *p;
    skip_ows(p, end);
    pm->value = NULL;
    pm->vlen = 0;
    if (*p < end && **p == '=') {
        (*p)++;
        skip_ows(p, end);
        size_t n = *p < end && **p == '"' ? quoted_len(*p, end) : token_len(*p, end);
        if (!n)
            return HZ_EINVAL;
        pm->value = *p;
        pm->vlen = n;
        *p += n;
    } else {
        *p = save;
    }
    return 1;
}

/* Next extension element: its name and the span of its parameters. Empty
 * elements are skipped (RFC 9110 §5.6.1). Returns 1, 0 at the end,
 * HZ_EINVAL when malformed. */
static int ext_next(const char **p, const char *end, const char **name, size_t *nlen,
                    const char **params, size_t *plen)
{
    for (;;) {
        skip_ows(p, end);
        if (*p >= end)
            return 0;
        if (**p != ',')
            break;
        (*p)++;
    }
    *name = *p;
    *nlen = token_len(*p, end);
    if (!*nlen)
        return HZ_EINVAL;
    *p += *nlen;
    *params = *p;
    param pm;
    int rc;
    while ((rc = param_next(p, end, &pm)) == 1) {
    }
    if (rc < 0)
        return rc;
    *plen = (size_t)(*p - *params);
    return 1;
}

static int eq_nocase(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (char)(y + 32);
        if (x != y)
            return 0;
    }
    return 1;
}

/* A window size: "8".."15" (§7.1.2.1: decimal, no leading zeroes), also
 * quoted (§9.1: the unquoted value must then be a token). Returns 8..15 or
 * 0. */
static unsigned window_bits(const char *v, size_t n)
{
    char buf[4];
    size_t k = 0;
    if (n && v[0] == '"') {
        for (size_t i = 1; i + 1 < n; i++) {
            if (v[i] == '\\')
                i++;
            if (k == sizeof(buf))
                return 0;
            buf[k++] = v[i];
        }
    } else {
        if (n > sizeof(buf))
            return 0;
        memcpy(buf, v, n);
        k = n;
    }
    if (k == 0 || k > 2 || buf[0] == '0')
        return 0;
    unsigned x = 0;
    for (size_t i = 0; i < k; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return 0;
        x = x * 10 + (unsigned)(buf[i] - '0');
    }
    return x >= 8 && x <= 15 ? x : 0;
}

int hz__pmd_parse_params(const char *s, size_t len, int response, hz__pmd_params *out)
{
    memset(out, 0, sizeof(*out));
    const char *p = s, *end = s + len;
    int seen_smwb = 0, seen_cmwb = 0, rc;
    param pm;
    while ((rc = param_next(&p, end, &pm)) == 1) {
        if (eq_nocase(pm.name, pm.nlen, "server_no_context_takeover") ||
            eq_nocase(pm.name, pm.nlen, "client_no_context_takeover")) {
            uint8_t *flag = pm.name[0] == 's' || pm.name[0] == 'S'
                                ? &out->server_no_context_takeover
                                : &out->client_no_context_takeover;
            if (*flag || pm.value)
                return HZ_EINVAL; /* duplicate, or a value where none is allowed */
            *flag = 1;
        } else if (eq_nocase(pm.name, pm.nlen, "server_max_window_bits")) {
            unsigned b = pm.value ? window_bits(pm.value, pm.vlen) : 0;
            if (seen_smwb || !b)
                return HZ_EINVAL; /* a value is required in offers and answers */
            seen_smwb = 1;
            out->server_max_window_bits = (uint8_t)b;
        } else if (eq_nocase(pm.name, pm.nlen, "client_max_window_bits")) {
            if (seen_cmwb)
                return HZ_EINVAL;
            seen_cmwb = 1;
            if (!pm.value) {
                if (response)
                    return HZ_EINVAL; /* §7.1.2.2: an answer gives a value */
                out->client_max_window_bits = HZ__PMD_BITS_NOVALUE;
            } else {
                unsigned b = window_bits(pm.value, pm.vlen);
                if (!b)
                    return HZ_EINVAL;
                out->client_max_window_bits = (uint8_t)b;
            }
        } else {
            return HZ_EINVAL; /* §7.1: unknown parameters decline the offer */
        }
    }
    if (rc < 0 || p != end)
        return HZ_EINVAL;
    return 0;
}

void hz__pmd_cfg_init(hz__pmd_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->server_max_window_bits = 15;
    cfg->client_max_window_bits = 15;
    cfg->level = 6;
    cfg->mem_level = 8;
}

static unsigned clamp_bits(unsigned b, unsigned lo)
{
    return b < lo ? lo : b > 15 ? 15 : b;
}

static char *append(char *o, const char *s)
{
    size_t n = strlen(s);
    memcpy(o, s, n);
    return o + n;
}

static char *append_bits(char *o, const char *name, unsigned bits)
{
    o = append(o, name);
    if (bits >= 10)
        *o++ = '1';
    *o++ = (char)('0' + bits % 10);
    return o;
}

int hz__pmd_negotiate(const char *offered, size_t len, const hz__pmd_cfg *cfg,
                      hz__pmd_params *agreed, char *resp, size_t cap)
{
    if (cap < HZ__PMD_RESPONSE_MAX)
        return HZ_ERANGE;
    memset(agreed, 0, sizeof(*agreed));
    resp[0] = '\0';
    if (!offered)
        return 0;
    const char *p = offered, *end = offered + len, *name, *params;
    size_t nlen, plen;
    int rc, found = 0;
    hz__pmd_params pick = {0};
    /* The whole header is checked first: a malformed one is refused
     * whatever it offers. */
    while ((rc = ext_next(&p, end, &name, &nlen, &params, &plen)) == 1) {
        if (found || !eq_nocase(name, nlen, "permessage-deflate"))
            continue;
        hz__pmd_params o;
        if (hz__pmd_parse_params(params, plen, 0, &o) < 0)
            continue; /* declined */
        unsigned ours = clamp_bits(cfg->server_max_window_bits, 9);
        hz__pmd_params a = {0};
        a.server_no_context_takeover =
            (uint8_t)(o.server_no_context_takeover || cfg->server_no_context_takeover);
        a.client_no_context_takeover =
            (uint8_t)(o.client_no_context_takeover || cfg->client_no_context_takeover);
        if (o.server_max_window_bits) {
            if (o.server_max_window_bits < 9)
                continue; /* declined: zlib has no raw 8-bit deflate window */
            a.server_max_window_bits =
                (uint8_t)(o.server_max_window_bits < ours ? o.server_max_window_bits : ours);
        } else {
            a.server_max_window_bits = (uint8_t)ours;
        }
        unsigned theirs = 15;
        if (o.client_max_window_bits) {
            theirs = clamp_bits(cfg->client_max_window_bits, 8);
            if (o.client_max_window_bits != HZ__PMD_BITS_NOVALUE &&
                o.client_max_window_bits < theirs)
                theirs = o.client_max_window_bits;
        }
        a.client_max_window_bits = (uint8_t)theirs;
        /* The answer: every flag in force, window sizes when not 15 (and
         * server_max_window_bits whenever offered: §7.1.2.1 accepts by
         * repeating it). */
        char *o2 = append(resp, "permessage-deflate");
        if (a.server_no_context_takeover)
            o2 = append(o2, "; server_no_context_takeover");
        if (a.client_no_context_takeover)
            o2 = append(o2, "; client_no_context_takeover");
        if (o.server_max_window_bits || a.server_max_window_bits < 15)
            o2 = append_bits(o2, "; server_max_window_bits=", a.server_max_window_bits);
        if (o.client_max_window_bits && a.client_max_window_bits < 15)
            o2 = append_bits(o2, "; client_max_window_bits=", a.client_max_window_bits);
        *o2 = '\0';
        pick = a;
        found = 1;
    }
    if (rc < 0) {
        resp[0] = '\0';
        return HZ_EINVAL;
    }
    if (found)
        *agreed = pick;
    return found;
}

int hz__pmd_check_response(const char *resp, size_t len, const hz__pmd_params *offer,
                           hz__pmd_params *agreed)
{
    memset(agreed, 0, sizeof(*agreed));
    if (!resp)
        return 0;
    const char *p = resp, *end = resp + len, *name, *params;
    size_t nlen, plen;
    int rc = ext_next(&p, end, &name, &nlen, &params, &plen);
    if (rc == 0)
        return 0;
    if (rc < 0 || !eq_nocase(name, nlen, "permessage-deflate"))
        return HZ_EPROTO;
    hz__pmd_params r;
    if (hz__pmd_parse_params(params, plen, 1, &r) < 0)
        return HZ_EPROTO;
    const char *name2, *params2;
    size_t nlen2, plen2;
    if (ext_next(&p, end, &name2, &nlen2, &params2, &plen2) != 0)
        return HZ_EPROTO; /* we offered one extension: one answer */
    if (offer->server_no_context_takeover && !r.server_no_context_takeover)
        return HZ_EPROTO;
    if (offer->server_max_window_bits &&
        (!r.server_max_window_bits || r.server_max_window_bits > offer->server_max_window_bits))
        return HZ_EPROTO;
    if (r.client_max_window_bits) {
        if (!offer->client_max_window_bits)
            return HZ_EPROTO; /* §7.1.2.2: MUST NOT without the offer */
        if (offer->client_max_window_bits != HZ__PMD_BITS_NOVALUE &&
            r.client_max_window_bits > offer->client_max_window_bits)
            return HZ_EPROTO;
    }
    agreed->server_no_context_takeover = r.server_no_context_takeover;
    agreed->client_no_context_takeover =
        (uint8_t)(r.client_no_context_takeover || offer->client_no_context_takeover);
    agreed->server_max_window_bits = r.server_max_window_bits ? r.server_max_window_bits : 15;
    if (r.client_max_window_bits)
        agreed->client_max_window_bits = r.client_max_window_bits;
    else if (offer->client_max_window_bits > HZ__PMD_BITS_NOVALUE)
        agreed->client_max_window_bits = offer->client_max_window_bits; /* our own hint */
    else
        agreed->client_max_window_bits = 15;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Contexts                                                                  */
/* ------------------------------------------------------------------------ */

#if HZ_HAVE_WS_DEFLATE

/* The 4 bytes a sender strips from the end of each message (§7.2.1). */
static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};

/* zalloc / zfree get no size back, but hz_allocator frees sized: each
 * block carries its size in a header kept at full alignment. */
#define ZHDR alignof(max_align_t)

struct hz__pmd {
    hz_allocator alloc; /* owns: a copy; zlib's blocks come from it */
    z_stream inf, def;  /* owns: zlib state, set up on first use */
    uint8_t inf_ready, def_ready;
    uint8_t inf_bits, def_bits;   /* window bits per direction */
    uint8_t inf_reset, def_reset; /* no context takeover: reset after each message */
    int level, mem_level;
    uint64_t max_message; /* inflated bytes per message, 0: no limit */
    uint64_t msg_out;     /* inflated bytes of the current message */
    uint8_t tail_fed;     /* bytes of the tail given to inflate */
    uint8_t failed;       /* a fatal error: every call fails */
    uint8_t hold_len;     /* deflate: bytes held back ... */
    uint8_t hold[4];      /* ... in case they are the tail to strip */
    hz__ws_err error;
};

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    hz__pmd *z = opaque;
    if (size && items > (SIZE_MAX - ZHDR) / size)
        return Z_NULL;
    size_t n = (size_t)items * size + ZHDR;
    unsigned char *p = hz__alloc(&z->alloc, n);
    if (!p)
        return Z_NULL;
    memcpy(p, &n, sizeof(n));
    return p + ZHDR;
}

static void z_free(voidpf opaque, voidpf ptr)
{
    hz__pmd *z = opaque;
    unsigned char *p = (unsigned char *)ptr - ZHDR;
    size_t n;
    memcpy(&n, p, sizeof(n));
    hz__free(&z->alloc, p, n);
}

int hz__pmd_create(hz__pmd **out, const hz_allocator *a, const hz__pmd_params *agreed, int server,
                   const hz__pmd_cfg *cfg, uint64_t max_message)
{
    *out = NULL;
    hz__pmd_cfg def;
    if (!cfg) {
        hz__pmd_cfg_init(&def);
        cfg = &def;
    }
    unsigned sbits = agreed->server_max_window_bits ? agreed->server_max_window_bits : 15;
    unsigned cbits =
        agreed->client_max_window_bits > HZ__PMD_BITS_NOVALUE ? agreed->client_max_window_bits : 15;
    unsigned def_bits = server ? sbits : cbits, inf_bits = server ? cbits : sbits;
    if (sbits < 8 || sbits > 15 || cbits < 8 || cbits > 15 || def_bits < 9 || cfg->level < 1 ||
        cfg->level > 9 || cfg->mem_level < 1 || cfg->mem_level > 9)
        return HZ_EINVAL;
    hz__pmd *z = hz__calloc(a, sizeof(*z));
    if (!z)
        return HZ_ENOMEM;
    z->alloc = *a;
    z->def_bits = (uint8_t)def_bits;
    /* A larger window inflates anything a smaller one made; 9 also covers
     * peers whose zlib quietly deflates "8" with 9. */
    z->inf_bits = (uint8_t)(inf_bits < 9 ? 9 : inf_bits);
    z->def_reset = server ? agreed->server_no_context_takeover : agreed->client_no_context_takeover;
    z->inf_reset = server ? agreed->client_no_context_takeover : agreed->server_no_context_takeover;
    z->level = cfg->level;
    z->mem_level = cfg->mem_level;
    z->max_message = max_message;
    *out = z;
    return 0;
}

void hz__pmd_destroy(hz__pmd *z)
{
    if (!z)
        return;
    if (z->inf_ready)
        inflateEnd(&z->inf);
    if (z->def_ready)
        deflateEnd(&z->def);
    hz__free(&z->alloc, z, sizeof(*z));
}

hz__ws_err hz__pmd_error(const hz__pmd *z)
{
    return z->error;
}

static int pmd_fail(hz__pmd *z, hz__ws_err e)
{
    z->error = e;
    z->failed = 1;
    return HZ_EPROTO;
}

/* zlib counts in uInt: hand it at most this much per round. */
static uInt chunk(size_t n)
{
    return n > (UINT_MAX >> 1) ? (UINT_MAX >> 1) : (uInt)n;
}

/* One inflate round over src; returns a zlib code with avail_* updated. */
static int inflate_round(hz__pmd *z, const uint8_t *src, size_t n, uint8_t *out, size_t cap,
                         size_t *taken, size_t *made)
{
    /* At most one byte beyond the limit may come out: that byte is the
     * proof the message is too big, and it is never handed out. */
    size_t room = cap;
    if (z->max_message && z->max_message - z->msg_out < (uint64_t)room)
        room = (size_t)(z->max_message - z->msg_out) + 1;
    z->inf.next_in = (Bytef *)(uintptr_t)src;
    z->inf.avail_in = chunk(n);
    z->inf.next_out = out;
    z->inf.avail_out = chunk(room);
    int zr = inflate(&z->inf, Z_SYNC_FLUSH);
    *taken = chunk(n) - z->inf.avail_in;
    *made = chunk(room) - z->inf.avail_out;
    z->msg_out += *made;
    return zr;
}

/* A final block (BFINAL) ends zlib's stream but not the message or the
 * connection's stream: §7.2.1 lets blocks follow it, still referring back
 * into the window. So inflating starts over with the window kept. */
static int restart_keep_window(hz__pmd *z)
{
    size_t wsize = (size_t)1 << z->inf_bits;
    uint8_t *w = hz__alloc(&z->alloc, wsize);
    if (!w)
        return HZ_ENOMEM;
    uInt n = 0;
    int zr = inflateGetDictionary(&z->inf, w, &n);
    if (zr == Z_OK)
        zr = inflateReset(&z->inf);
    if (zr == Z_OK && n)
        zr = inflateSetDictionary(&z->inf, w, n);
    hz__free(&z->alloc, w, wsize);
    return zr == Z_OK ? 0 : zr == Z_MEM_ERROR ? HZ_ENOMEM : HZ_EIO;
}

/* Inflates src[0..n) into out[0..cap) until one of them is used up. */
static int inflate_some(hz__pmd *z, const uint8_t *src, size_t n, uint8_t *out, size_t cap,
                        size_t *taken, size_t *made)
{
    *taken = *made = 0;
    while (*made < cap) {
        size_t t, m;
        int zr = inflate_round(z, src ? src + *taken : NULL, n - *taken, out + *made, cap - *made,
                               &t, &m);
        *taken += t;
        *made += m;
        if (zr == Z_MEM_ERROR)
            return HZ_ENOMEM;
        /* Output comes in stream order, so going over the limit happened
         * before any error zlib went on to find in the same call (it reads
         * block headers without output room): the limit is reported first,
         * as it is when the pieces are small. */
        if (z->max_message && z->msg_out > z->max_message)
            return pmd_fail(z, HZ__WS_E_INFLATED_TOO_BIG);
        if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT || zr == Z_STREAM_ERROR)
            return pmd_fail(z, HZ__WS_E_INFLATE);
        if (zr != Z_STREAM_END)
            return 0; /* Z_OK, or Z_BUF_ERROR: nothing more to do now */
        int rc = restart_keep_window(z);
        if (rc < 0)
            return rc;
        if (*taken == n)
            return 0;
    }
    return 0;
}

int hz__pmd_inflate(hz__pmd *z, const uint8_t *in, size_t len, int fin, uint8_t *out, size_t cap,
                    size_t *consumed, size_t *produced)
{
    *consumed = *produced = 0;
    if (z->failed)
        return HZ_EPROTO;
    if (!cap)
        return HZ_EINVAL;
    if (!z->inf_ready) {
        z->inf.zalloc = z_alloc;
        z->inf.zfree = z_free;
        z->inf.opaque = z;
        if (inflateInit2(&z->inf, -(int)z->inf_bits) != Z_OK)
            return HZ_ENOMEM; /* the only failure left with valid arguments */
        z->inf_ready = 1;
    }
    size_t taken, made;
    int rc;
    if (len && z->tail_fed)
        return HZ_EINVAL; /* message bytes after its end */
    if (len || !fin) {
        rc = inflate_some(z, in, len, out, cap, &taken, &made);
        *consumed = taken;
        *produced = made;
        if (rc < 0)
            return rc;
        if (made == cap)
            return HZ__PMD_OUTPUT_FULL;
        if (!fin)
            return HZ__PMD_NEED_INPUT;
    }
    /* fin and every message byte taken: the tail, then what is pending. */
    size_t at = *produced;
    rc = inflate_some(z, tail + z->tail_fed, sizeof(tail) - z->tail_fed, out + at, cap - at, &taken,
                      &made);
    z->tail_fed = (uint8_t)(z->tail_fed + taken);
    *produced += made;
    if (rc < 0)
        return rc;
    if (*produced == cap || z->tail_fed < sizeof(tail))
        return HZ__PMD_OUTPUT_FULL;
    /* With the tail, a whole message ends between two blocks (zlib:
     * data_type bit 128); anything else is a message cut short. */
    if (!(z->inf.data_type & 128))
        return pmd_fail(z, HZ__WS_E_INFLATE);
    if (z->inf_reset)
        inflateReset(&z->inf);
    z->tail_fed = 0;
    z->msg_out = 0;
    return HZ__PMD_DONE;
}

int hz__pmd_deflate(hz__pmd *z, const uint8_t *in, size_t len, int fin, uint8_t *out, size_t cap,
                    size_t *consumed, size_t *produced)
{
    *consumed = *produced = 0;
    if (z->failed)
        return HZ_EPROTO;
    /* Resuming a sync flush makes zlib start another empty stored block
     * (5 bytes) once the pending output is out; with 12 bytes of room
     * beyond the held-back 4 that always fits, so the flush ends. */
    if (cap < 16)
        return HZ_EINVAL;
    if (!z->def_ready) {
        z->def.zalloc = z_alloc;
        z->def.zfree = z_free;
        z->def.opaque = z;
        if (deflateInit2(&z->def, z->level, Z_DEFLATED, -(int)z->def_bits, z->mem_level,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return HZ_ENOMEM;
        z->def_ready = 1;
    }
    /* The bytes held back from the last call go first. */
    memcpy(out, z->hold, z->hold_len);
    size_t have = z->hold_len;
    z->def.next_in = (Bytef *)(uintptr_t)in;
    z->def.avail_in = chunk(len);
    z->def.next_out = out + have;
    z->def.avail_out = chunk(cap - have);
    int flush = fin && chunk(len) == len ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    int zr = deflate(&z->def, flush);
    if (zr == Z_STREAM_ERROR)
        return HZ_EIO;
    /* Z_BUF_ERROR: no progress possible, harmless */
    *consumed = chunk(len) - z->def.avail_in;
    have += chunk(cap - have) - z->def.avail_out;
    if (flush == Z_SYNC_FLUSH && z->def.avail_in == 0 && z->def.avail_out > 0) {
        /* The flush is complete and ends with the empty stored block's
         * 00 00 FF FF (§7.2.1): strip it. */
        if (have == 0 && zr == Z_BUF_ERROR) {
            /* An empty message right after a flush: zlib has nothing to
             * add. One empty stored-block header stands for it (§7.2.3.6). */
            out[0] = 0x00;
            *produced = 1;
            return HZ__PMD_DONE;
        }
        if (have < sizeof(tail) || memcmp(out + have - sizeof(tail), tail, sizeof(tail)) != 0)
            return HZ_EIO;
        *produced = have - sizeof(tail);
        z->hold_len = 0;
        if (z->def_reset)
            deflateReset(&z->def);
        return HZ__PMD_DONE;
    }
    /* Whatever ends this output may be the start of that tail. */
    size_t keep = have < sizeof(tail) ? have : sizeof(tail);
    memcpy(z->hold, out + have - keep, keep);
    z->hold_len = (uint8_t)keep;
    *produced = have - keep;
    return z->def.avail_out == 0 ? HZ__PMD_OUTPUT_FULL : HZ__PMD_NEED_INPUT;
}

#else /* !HZ_HAVE_WS_DEFLATE */

int hz__pmd_create(hz__pmd **out, const hz_allocator *a, const hz__pmd_params *agreed, int server,
                   const hz__pmd_cfg *cfg, uint64_t max_message)
{
    (void)a, (void)agreed, (void)server, (void)cfg, (void)max_message;
    *out = NULL;
    return HZ_ENOTSUP;
}

void hz__pmd_destroy(hz__pmd *z)
{
    (void)z;
}

int hz__pmd_inflate(hz__pmd *z, const uint8_t *in, size_t len, int fin, uint8_t *out, size_t cap,
                    size_t *consumed, size_t *produced)
{
    (void)z, (void)in, (void)len, (void)fin, (void)out, (void)cap;
    *consumed = *produced = 0;
    return HZ_ENOTSUP;
}

int hz__pmd_deflate(hz__pmd *z, const uint8_t *in, size_t len, int fin, uint8_t *out, size_t cap,
                    size_t *consumed, size_t *produced)
{
    (void)z, (void)in, (void)len, (void)fin, (void)out, (void)cap;
    *consumed = *produced = 0;
    return HZ_ENOTSUP;
}

hz__ws_err hz__pmd_error(const hz__pmd *z)
{
    (void)z;
    return HZ__WS_E_NONE;
}

#endif /* HZ_HAVE_WS_DEFLATE */
