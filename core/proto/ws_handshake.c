/* ws_handshake.c - the opening handshake's syntax (RFC 6455 §4.1, §4.2):
 * key validation, Sec-WebSocket-Accept, header lists, subprotocol choice
 * and Origin checks. Contract in ws.h. */
#include <string.h>
#include "ws.h"
#include "base64.h"
#include "sha1.h"

/* §1.3 / §4.2.2: the GUID appended to the key before hashing */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int is_tchar(unsigned char c)
{
    /* RFC 9110 §5.6.2 */
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static int eq_nocase(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower(a[i]) != lower(b[i]))
            return 0;
    return 1;
}

static void trim(const char **s, size_t *len)
{
    while (*len && is_ows(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len && is_ows((*s)[*len - 1]))
        (*len)--;
}

/* Next element of a comma-separated list (RFC 9110 §5.6.1), trimmed; empty
 * elements are skipped. Returns 0 at the end. */
static int list_next(const char **p, const char *end, const char **elem, size_t *elen)
{
    while (*p < end) {
        const char *s = *p;
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        *p = comma ? comma + 1 : end;
        size_t n = (size_t)(e - s);
        trim(&s, &n);
        if (n) {
            *elem = s;
            *elen = n;
            return 1;
        }
    }
    return 0;
}

static int all_tchars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return n > 0;
}

int hz__ws_key_valid(const char *key, size_t len)
{
    uint8_t raw[18];
    if (!key || len != 24)
        return 0;
    return hz__base64_decode(raw, sizeof(raw), key, len) == 16;
}

int hz__ws_accept(const char *key, size_t len, char out[HZ__WS_ACCEPT_LEN + 1])
{
    if (!hz__ws_key_valid(key, len))
        return HZ_EINVAL;
    hz__sha1_ctx s;
    uint8_t digest[HZ__SHA1_LEN];
    hz__sha1_init(&s);
    hz__sha1_update(&s, key, len);
    hz__sha1_update(&s, ws_guid, sizeof(ws_guid) - 1);
    hz__sha1_final(&s, digest);
    hz__base64_encode(out, digest, sizeof(digest));
    return 0;
}

int hz__ws_list_has(const char *list, size_t len, const char *token)
{
    if (!list)
        return 0;
    const char *p = list, *end = list + len, *e;
    size_t n, tlen = strlen(token);
    while (list_next(&p, end, &e, &n))
        if (all_tchars(e, n) && eq_nocase(e, n, token, tlen))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Request check                                                             */
/* ------------------------------------------------------------------------ */

static const uint16_t hs_status[] = {
#define X(name, status, msg) status,
    HZ__WS_HS_ERRORS(X)
#undef X
};
static const char *const hs_text[] = {
#define X(name, status, msg) msg,
    HZ__WS_HS_ERRORS(X)
#undef X
};

int hz__ws_hs_status(hz__ws_hs_err e)
{
    return (unsigned)e < HZ__WS_HS_COUNT ? hs_status[e] : 400;
}

const char *hz__ws_hs_text(hz__ws_hs_err e)
{
    return (unsigned)e < HZ__WS_HS_COUNT ? hs_text[e] : "unknown handshake error";
}

hz__ws_hs_err hz__ws_handshake_check(const hz__ws_hs_req *r)
{
    /* §4.2.1 items 1-6, in order */
    if (!r->method.ptr || r->method.len != 3 || memcmp(r->method.ptr, "GET", 3) != 0)
        return HZ__WS_HS_METHOD;
    if (r->version_minor < 1)
        return HZ__WS_HS_HTTP_VERSION;
    if (!hz__ws_list_has(r->upgrade.ptr, r->upgrade.len, "websocket"))
        return HZ__WS_HS_NO_UPGRADE;
    if (!hz__ws_list_has(r->connection.ptr, r->connection.len, "upgrade"))
        return HZ__WS_HS_CONNECTION;
    if (!r->version.ptr)
        return HZ__WS_HS_VERSION_MISSING;
    const char *v = r->version.ptr;
    size_t vlen = r->version.len;
    trim(&v, &vlen);
    if (vlen != 2 || memcmp(v, "13", 2) != 0)
        return HZ__WS_HS_VERSION; /* §4.4: answer 426 listing 13 */
    if (!r->key.ptr || r->key_count == 0)
        return HZ__WS_HS_KEY_MISSING;
    if (r->key_count > 1)
        return HZ__WS_HS_KEY_DUPLICATE;
    const char *k = r->key.ptr;
    size_t klen = r->key.len;
    trim(&k, &klen);
    if (!hz__ws_key_valid(k, klen))
        return HZ__WS_HS_KEY;
    return HZ__WS_HS_OK;
}

long hz__ws_select_protocol(const char *offered, size_t len, const char *const *ours, size_t n)
{
    if (!offered)
        return HZ_ENOENT;
    const char *p = offered, *end = offered + len, *e;
    size_t elen;
    /* The whole list is checked first, so a malformed header is refused
     * whatever it contains. */
    while (list_next(&p, end, &e, &elen))
        if (!all_tchars(e, elen))
            return HZ_EINVAL;
    for (size_t i = 0; i < n; i++) {
        size_t olen = strlen(ours[i]);
        p = offered;
        while (list_next(&p, end, &e, &elen))
            if (elen == olen && memcmp(e, ours[i], olen) == 0)
                return (long)i;
    }
    return HZ_ENOENT;
}

/* ------------------------------------------------------------------------ */
/* Origin                                                                    */
/* ------------------------------------------------------------------------ */

/* host[:port] split: host is a reg-name/IPv4 or "[...]" (IPv6); the port
 * is 1-5 digits up to 65535, default_port when absent. Returns 0 when
 * malformed. */
static int split_authority(const char *s, size_t len, unsigned default_port, const char **host,
                           size_t *hlen, unsigned *port)
{
    size_t h;
    if (len && s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (!rb)
            return 0;
        h = (size_t)(rb - s) + 1;
    } else {
        h = 0;
        while (h < len && s[h] != ':')
            h++;
    }
    if (h == 0)
        return 0;
    for (size_t i = 0; i < h; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '@' || c == '?' || c == '#')
            return 0;
    }
    *host = s;
    *hlen = h;
    if (h == len) {
        *port = default_port;
        return 1;
    }
    if (s[h] != ':' || len - h < 2 || len - h > 6)
        return 0;
    unsigned v = 0;
    for (size_t i = h + 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return 0;
    *port = v;
    return 1;
}

typedef struct origin {
    int secure; /* https / wss */
    const char *host;
    size_t hlen;
    unsigned port;
} origin;

static int parse_origin(const char *s, size_t len, origin *o)
{
    static const struct {
        const char *scheme;
        int secure;
    } schemes[] = {{"http://", 0}, {"https://", 1}, {"ws://", 0}, {"wss://", 1}};
    trim(&s, &len);
    for (size_t i = 0; i < HZ__ARRAY_LEN(schemes); i++) {
        size_t sl = strlen(schemes[i].scheme);
        if (len > sl && eq_nocase(s, sl, schemes[i].scheme, sl)) {
            o->secure = schemes[i].secure;
            /* RFC 6454 §6.2: no path; tolerate none, not even "/" */
            return split_authority(s + sl, len - sl, o->secure ? 443 : 80, &o->host, &o->hlen,
                                   &o->port);
        }
    }
    return 0;
}

static int is_null_origin(const char *s, size_t len)
{
    trim(&s, &len);
    return len == 4 && memcmp(s, "null", 4) == 0;
}

int hz__ws_origin_allowed(const char *origin_s, size_t len, const char *const *allowed, size_t n)
{
    if (!origin_s)
        return 0;
    int null = is_null_origin(origin_s, len);
    origin o;
    if (!null && !parse_origin(origin_s, len, &o))
        return 0;
    for (size_t i = 0; i < n; i++) {
        const char *a = allowed[i];
        size_t alen = strlen(a);
        if (null) {
            if (is_null_origin(a, alen))
                return 1;
            continue;
        }
        if (alen == 1 && a[0] == '*')
            return 1;
        origin w;
        if (parse_origin(a, alen, &w) && w.secure == o.secure && w.port == o.port &&
            eq_nocase(w.host, w.hlen, o.host, o.hlen))
            return 1;
    }
    return 0;
}

int hz__ws_origin_is_host(const char *origin_s, size_t olen, const char *host, size_t hlen, int tls)
{
    origin o;
    if (!origin_s || !host || !parse_origin(origin_s, olen, &o) || o.secure != !!tls)
        return 0;
    const char *h;
    size_t hl;
    unsigned port;
    trim(&host, &hlen);
    if (!split_authority(host, hlen, tls ? 443 : 80, &h, &hl, &port))
        return 0;
    return port == o.port && eq_nocase(h, hl, o.host, o.hlen);
}
