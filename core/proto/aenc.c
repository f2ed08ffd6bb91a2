/* aenc.c - Accept-Encoding parsing and coding choice (RFC 9110 §12.5.3). */
#include <string.h>
#include <strings.h>
#include "aenc.h"
#include "parser.h"

void hz__aenc_init(hz__aenc *a)
{
    a->gzip = a->br = a->identity = a->star = HZ__AENC_UNSET;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ): 0-1000, or
 * -1 for anything else. */
static int parse_q(const char *p, size_t n)
{
    if (n == 0 || (p[0] != '0' && p[0] != '1'))
        return -1;
    int q = (p[0] - '0') * 1000;
    if (n == 1)
        return q;
    if (p[1] != '.' || n > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        q += (p[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* One element "coding *( OWS ; OWS name=value )": the q-value (1000 when
 * none) or -1 when it does not parse. The coding is [*t, *t + *tl). */
static int parse_element(const char *p, const char *end, const char **t, size_t *tl)
{
    while (p < end && is_ows(*p))
        p++;
    size_t n = hz__scan_token(p, (size_t)(end - p));
    if (!n)
        return -1;
    *t = p;
    *tl = n;
    p += n;
    int q = 1000;
    for (;;) {
        while (p < end && is_ows(*p))
            p++;
        if (p == end)
            return q;
        if (*p++ != ';')
            return -1;
        while (p < end && is_ows(*p))
            p++;
        const char *pn = p;
        size_t pl = hz__scan_token(p, (size_t)(end - p));
        if (!pl)
            return -1;
        p += pl;
        while (p < end && is_ows(*p))
            p++;
        if (p == end || *p++ != '=')
            return -1;
        while (p < end && is_ows(*p))
            p++;
        const char *pv = p;
        size_t vl;
        if (p < end && *p == '"') { /* quoted-string: skip it, escapes included */
            p++;
            while (p < end && *p != '"')
                p += (*p == '\\' && p + 1 < end) ? 2 : 1;
            if (p == end)
                return -1;
            p++;
            vl = (size_t)(p - pv);
        } else {
            vl = hz__scan_token(p, (size_t)(end - p));
            if (!vl)
                return -1;
            p += vl;
        }
        if (pl == 1 && (*pn == 'q' || *pn == 'Q')) {
            q = parse_q(pv, vl);
            if (q < 0)
                return -1;
        }
    }
}

static void set_once(uint16_t *slot, int q)
{
    if (*slot == HZ__AENC_UNSET)
        *slot = (uint16_t)q;
}

void hz__aenc_parse(hz__aenc *a, const char *v, size_t len)
{
    const char *p = v, *end = v + len;
    while (p < end) {
        /* the element ends at a comma outside quoted strings */
        const char *e = p;
        for (int quoted = 0; e < end && (quoted || *e != ','); e++) {
            if (*e == '"')
                quoted = !quoted;
            else if (quoted && *e == '\\' && e + 1 < end)
                e++;
        }
        const char *t;
        size_t tl;
        int q = parse_element(p, e, &t, &tl);
        /* an empty element (", ,") is allowed and skipped like a bad one */
        if (q >= 0) {
            if ((tl == 4 && !strncasecmp(t, "gzip", 4)) ||
                (tl == 6 && !strncasecmp(t, "x-gzip", 6)))
                set_once(&a->gzip, q);
            else if (tl == 2 && !strncasecmp(t, "br", 2))
                set_once(&a->br, q);
            else if (tl == 8 && !strncasecmp(t, "identity", 8))
                set_once(&a->identity, q);
            else if (tl == 1 && *t == '*')
                set_once(&a->star, q);
        }
        p = e + (e < end);
    }
}

/* A coding's q: named, else "*", else not acceptable (0). */
static int q_of(const hz__aenc *a, uint16_t named)
{
    if (named != HZ__AENC_UNSET)
        return named;
    return a->star != HZ__AENC_UNSET ? a->star : 0;
}

int hz__aenc_pick(const hz__aenc *a, unsigned offered)
{
    int qbr = (offered & HZ_CODING_BR) ? q_of(a, a->br) : 0;
    int qgz = (offered & HZ_CODING_GZIP) ? q_of(a, a->gzip) : 0;
    int best = HZ_CODING_IDENTITY, qbest = 0;
    if (qbr > 0 && qbr >= qgz) {
        best = HZ_CODING_BR;
        qbest = qbr;
    } else if (qgz > 0) {
        best = HZ_CODING_GZIP;
        qbest = qgz;
    }
    /* identity: acceptable unless excluded by name or by "*;q=0" */
    int qid;
    if (a->identity != HZ__AENC_UNSET)
        qid = a->identity;
    else
        qid = a->star == 0 ? 0 : -1; /* -1: acceptable, lowest preference */
    if (best != HZ_CODING_IDENTITY && qid <= qbest)
        return best;
    if (qid == 0)
        return best != HZ_CODING_IDENTITY ? best : -1;
    return HZ_CODING_IDENTITY;
}
