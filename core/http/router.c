/* router.c - method + path routing over a segment tree.
 *
 * The tree has one node per distinct pattern prefix, split on '/'. A node has
 * static children (found by a linear scan while there are few, through an
 * open-addressing hash index once there are many), at most one parameter
 * child (any ":name" at that position shares it; names are kept per route,
 * so "/u/:id" and "/u/:uid/x" coexist) and at most one wildcard child.
 * A lookup walks down the path's segments, trying static, then parameter,
 * then wildcard, and backtracks only when a branch has no route for the
 * method. Each tree node is visited at most once per lookup, and the walk
 * never goes deeper than the deepest pattern, so the cost depends on the
 * path, not on how many routes there are.
 */
#include <stdint.h>
#include <string.h>
#include "router.h"

/* Above this many static children a node gets a hash index. */
#define LINEAR_MAX 8
/* Nodes remembered for the Allow list of a 405/204 answer. */
#define ALLOW_NODES 16

typedef struct endpoint endpoint;
struct endpoint {   /* owner: its node */
    endpoint *next; /* owns: the node's next endpoint (registration order) */
    char *method;   /* owns; NUL-terminated; NULL = any method */
    size_t method_len;
    char *pattern; /* owns; NUL-terminated copy of the pattern; names point here */
    size_t pattern_len;
    size_t nnames;
    hz_str names[HZ__ROUTE_MAX_PARAMS]; /* borrowed: views into pattern */
    hz__route route;
};

typedef struct node node;
struct node {  /* owner: its parent node (the root: the router) */
    char *seg; /* owns; static segment text (not NUL-terminated); NULL at root */
    size_t seg_len;
    uint32_t hash; /* of seg */
    node **kids;   /* owns the array and every child */
    uint32_t nkids, kcap;
    uint32_t *index; /* owns; hash slots holding kid index + 1 (0 = empty); NULL if few kids */
    uint32_t icap;   /* slots in index, a power of two */
    node *param;     /* owns; the ":name" child */
    node *wild;      /* owns; the "*" child (always a leaf) */
    endpoint *eps;   /* owns the list */
};

typedef struct method_name { /* owner: the router */
    char *s;                 /* owns; NUL-terminated */
    size_t len;
} method_name;

struct hz__router {
    hz_allocator a;       /* copy; a.ctx borrowed, outlives the router */
    node root;            /* the node for the leading '/' */
    method_name *methods; /* owns; every distinct method registered, for "OPTIONS *" */
    size_t nmethods, mcap;
    unsigned any_method : 1; /* a route was added with method NULL */
};

static uint32_t hash_bytes(const char *p, size_t n)
{
    /* FNV-1a: short segments, no adversary can make a route table collide
     * (routes come from the program), and a lookup key that collides only
     * costs a few more probes. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 16777619u;
    }
    return h;
}

static void node_free(const hz_allocator *a, node *n);

static void endpoint_free(const hz_allocator *a, endpoint *e)
{
    if (e->method)
        hz__free(a, e->method, e->method_len + 1);
    if (e->pattern)
        hz__free(a, e->pattern, e->pattern_len + 1);
    hz__free(a, e, sizeof *e);
}

/* Frees what n owns, not n itself. */
static void node_clear(const hz_allocator *a, node *n)
{
    for (uint32_t i = 0; i < n->nkids; i++)
        node_free(a, n->kids[i]);
    hz__free(a, n->kids, n->kcap * sizeof *n->kids);
    hz__free(a, n->index, n->icap * sizeof *n->index);
    node_free(a, n->param);
    node_free(a, n->wild);
    for (endpoint *e = n->eps, *next; e; e = next) {
        next = e->next;
        endpoint_free(a, e);
    }
    if (n->seg)
        hz__free(a, n->seg, n->seg_len);
}

static void node_free(const hz_allocator *a, node *n)
{
    if (!n)
        return;
    node_clear(a, n);
    hz__free(a, n, sizeof *n);
}

int hz__router_create(hz__router **out, const hz_allocator *a)
{
    *out = NULL;
    if (!a)
        return HZ_EINVAL;
    hz__router *r = hz__calloc(a, sizeof *r);
    if (!r)
        return HZ_ENOMEM;
    r->a = *a;
    *out = r;
    return 0;
}

void hz__router_destroy(hz__router *r)
{
    if (!r)
        return;
    hz_allocator a = r->a;
    node_clear(&a, &r->root);
    for (size_t i = 0; i < r->nmethods; i++)
        hz__free(&a, r->methods[i].s, r->methods[i].len + 1);
    hz__free(&a, r->methods, r->mcap * sizeof *r->methods);
    hz__free(&a, r, sizeof *r);
}

/* ---- static children ---------------------------------------------------- */

static node *kid_find(const node *n, const char *seg, size_t len, uint32_t h)
{
    if (!n->index) {
        for (uint32_t i = 0; i < n->nkids; i++) {
            const node *k = n->kids[i];
            if (k->seg_len == len && k->hash == h && memcmp(k->seg, seg, len) == 0)
                return n->kids[i];
        }
        return NULL;
    }
    uint32_t mask = n->icap - 1;
    for (uint32_t s = h & mask;; s = (s + 1) & mask) {
        uint32_t v = n->index[s];
        if (!v)
            return NULL;
        const node *k = n->kids[v - 1];
        if (k->hash == h && k->seg_len == len && memcmp(k->seg, seg, len) == 0)
            return n->kids[v - 1];
    }
}

static int index_build(const hz_allocator *a, node *n, uint32_t icap)
{
    uint32_t *idx = hz__calloc(a, icap * sizeof *idx);
    if (!idx)
        return HZ_ENOMEM;
    uint32_t mask = icap - 1;
    for (uint32_t i = 0; i < n->nkids; i++) {
        uint32_t s = n->kids[i]->hash & mask;
        while (idx[s])
            s = (s + 1) & mask;
        idx[s] = i + 1;
    }
    hz__free(a, n->index, n->icap * sizeof *n->index);
    n->index = idx;
    n->icap = icap;
    return 0;
}

/* Returns the static child for seg, creating it; NULL on ENOMEM. */
static node *kid_get(const hz_allocator *a, node *n, const char *seg, size_t len)
{
    uint32_t h = hash_bytes(seg, len);
    node *k = kid_find(n, seg, len, h);
    if (k)
        return k;
    if (n->nkids == UINT32_MAX / 4)
        return NULL;
    if (n->nkids == n->kcap) {
        uint32_t ncap = n->kcap ? n->kcap * 2 : 4;
        node **kids = hz__realloc(a, n->kids, n->kcap * sizeof *kids, ncap * sizeof *kids);
        if (!kids)
            return NULL;
        n->kids = kids;
        n->kcap = ncap;
    }
    k = hz__calloc(a, sizeof *k);
    if (!k)
        return NULL;
    k->seg = hz__alloc(a, len);
    if (!k->seg) {
        hz__free(a, k, sizeof *k);
        return NULL;
    }
    memcpy(k->seg, seg, len);
    k->seg_len = len;
    k->hash = h;
    /* Keep the index at most half full; build it first so a failure leaves
     * the node as it was. */
    uint32_t want = n->nkids + 1;
    if (want > LINEAR_MAX && (!n->index || want * 2 > n->icap)) {
        uint32_t icap = n->icap ? n->icap : 32;
        while (want * 2 > icap)
            icap *= 2;
        n->kids[n->nkids] = k;
        n->nkids++;
        if (index_build(a, n, icap) < 0) {
            n->nkids--;
            hz__free(a, k->seg, len);
            hz__free(a, k, sizeof *k);
            return NULL;
        }
        return k;
    }
    n->kids[n->nkids++] = k;
    if (n->index) {
        uint32_t mask = n->icap - 1, s = h & mask;
        while (n->index[s])
            s = (s + 1) & mask;
        n->index[s] = n->nkids;
    }
    return k;
}

/* ---- adding ------------------------------------------------------------- */

static int is_token_char(unsigned char c)
{
    /* RFC 9110 §5.6.2 tchar */
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int method_valid(const char *m, size_t len)
{
    if (len == 0 || len > 32)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_token_char((unsigned char)m[i]))
            return 0;
    return 1;
}

/* Checks pattern and fills the parameter names (views into pattern). */
static int pattern_parse(const char *p, size_t len, hz_str *names, size_t *nnames)
{
    if (len == 0 || p[0] != '/')
        return HZ_EINVAL;
    size_t n = 0;
    size_t i = 1;
    for (;;) {
        size_t j = i;
        while (j < len && p[j] != '/')
            j++;
        const char *seg = p + i;
        size_t sl = j - i;
        if (sl >= 1 && (seg[0] == ':' || (sl == 1 && seg[0] == '*'))) {
            int wild = seg[0] == '*';
            if (wild && j != len)
                return HZ_EINVAL; /* '*' only as the last segment */
            if (!wild && sl == 1)
                return HZ_EINVAL; /* empty ':' name */
            if (n == HZ__ROUTE_MAX_PARAMS)
                return HZ_EINVAL;
            hz_str nm = wild ? (hz_str){seg, 1} : (hz_str){seg + 1, sl - 1};
            for (size_t k = 0; k < n; k++)
                if (names[k].len == nm.len && memcmp(names[k].ptr, nm.ptr, nm.len) == 0)
                    return HZ_EINVAL; /* a name twice would shadow itself */
            names[n++] = nm;
        }
        if (j == len)
            break;
        i = j + 1;
    }
    *nnames = n;
    return 0;
}

static int methods_note(hz__router *r, const char *m, size_t len)
{
    for (size_t i = 0; i < r->nmethods; i++)
        if (r->methods[i].len == len && memcmp(r->methods[i].s, m, len) == 0)
            return 0;
    if (r->nmethods == r->mcap) {
        size_t ncap = r->mcap ? r->mcap * 2 : 8;
        method_name *v = hz__realloc(&r->a, r->methods, r->mcap * sizeof *v, ncap * sizeof *v);
        if (!v)
            return HZ_ENOMEM;
        r->methods = v;
        r->mcap = ncap;
    }
    char *s = hz__alloc(&r->a, len + 1);
    if (!s)
        return HZ_ENOMEM;
    memcpy(s, m, len);
    s[len] = '\0';
    r->methods[r->nmethods++] = (method_name){s, len};
    return 0;
}

int hz__router_add(hz__router *r, const char *method, const char *pattern, const hz__route *route)
{
    if (!r || !pattern || !route || !route->fn)
        return HZ_EINVAL;
    size_t mlen = method ? strlen(method) : 0;
    if (method && !method_valid(method, mlen))
        return HZ_EINVAL;
    size_t plen = strlen(pattern);
    hz_str names[HZ__ROUTE_MAX_PARAMS];
    size_t nnames = 0;
    int rc = pattern_parse(pattern, plen, names, &nnames);
    if (rc < 0)
        return rc;

    const hz_allocator *a = &r->a;
    endpoint *e = hz__calloc(a, sizeof *e);
    if (!e)
        return HZ_ENOMEM;
    e->pattern = hz__alloc(a, plen + 1);
    if (!e->pattern)
        goto nomem;
    memcpy(e->pattern, pattern, plen + 1);
    e->pattern_len = plen;
    if (method) {
        e->method = hz__alloc(a, mlen + 1);
        if (!e->method)
            goto nomem;
        memcpy(e->method, method, mlen + 1);
        e->method_len = mlen;
    }
    e->nnames = nnames;
    for (size_t k = 0; k < nnames; k++)
        e->names[k] = (hz_str){e->pattern + (names[k].ptr - pattern), names[k].len};
    e->route = *route;
    if (method && methods_note(r, method, mlen) < 0)
        goto nomem;

    /* Nodes created on the way stay if a later step fails: they are empty
     * and harmless (a lookup that reaches one finds no endpoint). */
    node *n = &r->root;
    size_t i = 1;
    for (;;) {
        size_t j = i;
        while (j < plen && pattern[j] != '/')
            j++;
        const char *seg = pattern + i;
        size_t sl = j - i;
        node **slot = NULL;
        if (sl >= 2 && seg[0] == ':')
            slot = &n->param;
        else if (sl == 1 && seg[0] == '*')
            slot = &n->wild;
        if (slot) {
            if (!*slot) {
                *slot = hz__calloc(a, sizeof **slot);
                if (!*slot)
                    goto nomem;
            }
            n = *slot;
        } else {
            n = kid_get(a, n, seg, sl);
            if (!n)
                goto nomem;
        }
        if (j == plen)
            break;
        i = j + 1;
    }

    endpoint **tail = &n->eps;
    for (; *tail; tail = &(*tail)->next) {
        const endpoint *o = *tail;
        if ((!o->method && !method) || (o->method && method && o->method_len == mlen &&
                                        memcmp(o->method, method, mlen) == 0)) {
            endpoint_free(a, e);
            return HZ_EBUSY;
        }
    }
    *tail = e;
    if (!method)
        r->any_method = 1;
    return 0;
nomem:
    endpoint_free(a, e);
    return HZ_ENOMEM;
}

/* ---- matching ----------------------------------------------------------- */

typedef struct search {
    const char *method;
    size_t method_len;
    const char *path; /* borrowed: the caller's */
    size_t path_len;
    hz_str vals[HZ__ROUTE_MAX_PARAMS]; /* parameter values along the current branch */
    size_t nvals;
    const node *seen[ALLOW_NODES]; /* nodes with routes but none for this method */
    size_t nseen;
    const endpoint *found;
} search;

static int meq(const endpoint *e, const char *m, size_t len)
{
    return e->method && e->method_len == len && memcmp(e->method, m, len) == 0;
}

/* The endpoint of n for the method: exact, then GET for HEAD, then any.
 * Inlined into the lookup, which it is most of (slash_walk calls it too). */
static inline __attribute__((always_inline)) const endpoint *node_pick(const node *n, const char *m,
                                                                       size_t len)
{
    const endpoint *get = NULL, *any = NULL;
    int head = len == 4 && memcmp(m, "HEAD", 4) == 0;
    for (const endpoint *e = n->eps; e; e = e->next) {
        if (meq(e, m, len))
            return e;
        if (!e->method)
            any = e;
        else if (head && meq(e, "GET", 3))
            get = e;
    }
    return get ? get : any;
}

static int at_leaf(search *s, const node *n)
{
    if (!n->eps)
        return 0;
    const endpoint *e = node_pick(n, s->method, s->method_len);
    if (e) {
        s->found = e;
        return 1;
    }
    if (s->nseen < ALLOW_NODES)
        s->seen[s->nseen++] = n;
    return 0;
}

/* Matches the path from offset off (the start of a segment) below n. */
static int walk(search *s, const node *n, size_t off)
{
    size_t end = off;
    while (end < s->path_len && s->path[end] != '/')
        end++;
    const char *seg = s->path + off;
    size_t sl = end - off;
    int last = end == s->path_len;

    if (n->nkids) {
        const node *k = kid_find(n, seg, sl, hash_bytes(seg, sl));
        if (k && (last ? at_leaf(s, k) : walk(s, k, end + 1)))
            return 1;
    }
    if (n->param && sl > 0 && s->nvals < HZ__ROUTE_MAX_PARAMS) {
        s->vals[s->nvals++] = (hz_str){seg, sl};
        if (last ? at_leaf(s, n->param) : walk(s, n->param, end + 1))
            return 1;
        s->nvals--;
    }
    if (n->wild && s->nvals < HZ__ROUTE_MAX_PARAMS) {
        s->vals[s->nvals++] = (hz_str){seg, s->path_len - off};
        if (at_leaf(s, n->wild))
            return 1;
        s->nvals--;
    }
    return 0;
}

static int allow_has(const char *buf, size_t len, const char *tok, size_t tl)
{
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && buf[j] != ',')
            j++;
        if (j - i == tl && memcmp(buf + i, tok, tl) == 0)
            return 1;
        i = j + 2; /* skip ", " */
    }
    return 0;
}

/* Appends tok to the allow list unless present or out of room. */
static void allow_add(char *buf, size_t *len, const char *tok, size_t tl)
{
    if (allow_has(buf, *len, tok, tl))
        return;
    size_t need = (*len ? 2 : 0) + tl;
    if (*len + need + 1 > HZ__ROUTE_ALLOW_MAX)
        return; /* truncated at a whole method: still a valid list */
    if (*len) {
        buf[(*len)++] = ',';
        buf[(*len)++] = ' ';
    }
    memcpy(buf + *len, tok, tl);
    *len += tl;
    buf[*len] = '\0';
}

static void allow_finish(char *buf, size_t *len)
{
    if (allow_has(buf, *len, "GET", 3))
        allow_add(buf, len, "HEAD", 4);
    allow_add(buf, len, "OPTIONS", 7);
}

static void allow_build(const search *s, hz__route_match *m)
{
    size_t len = 0;
    m->allow[0] = '\0';
    for (size_t i = 0; i < s->nseen; i++)
        for (const endpoint *e = s->seen[i]->eps; e; e = e->next)
            if (e->method)
                allow_add(m->allow, &len, e->method, e->method_len);
    allow_finish(m->allow, &len);
}

/* Would path + "/" reach a prefix route (pattern "/p/" "*") for the method? Walks like
 * walk() without recording anything; at the path's last segment it asks
 * whether that node's wildcard (matching the empty rest) has an endpoint. */
static int slash_walk(const search *s, const node *n, size_t off)
{
    size_t end = off;
    while (end < s->path_len && s->path[end] != '/')
        end++;
    const char *seg = s->path + off;
    size_t sl = end - off;
    int last = end == s->path_len;
    const node *next[2] = {NULL, NULL};
    if (n->nkids)
        next[0] = kid_find(n, seg, sl, hash_bytes(seg, sl));
    if (sl > 0)
        next[1] = n->param;
    for (int i = 0; i < 2; i++) {
        const node *k = next[i];
        if (!k)
            continue;
        if (last ? k->wild && node_pick(k->wild, s->method, s->method_len)
                 : slash_walk(s, k, end + 1))
            return 1;
    }
    return 0;
}

int hz__router_slash_redirect(const hz__router *r, const char *method, size_t method_len,
                              const char *path, size_t path_len)
{
    /* nginx's rule for prefix locations: "/static" with no route of its own
     * goes to "/static/" when the prefix route ("/static/" "*") would serve
     * it. The caller asks only after a 404, so an exact route, even for
     * another method, wins. */
    if (path_len == 0 || path[0] != '/' || path[path_len - 1] == '/')
        return 0;
    search s;
    s.method = method;
    s.method_len = method_len;
    s.path = path;
    s.path_len = path_len;
    return slash_walk(&s, &r->root, 1);
}

int hz__router_knows_method(const hz__router *r, const char *method, size_t len)
{
    if (r->any_method)
        return 1;
    for (size_t i = 0; i < r->nmethods; i++)
        if (r->methods[i].len == len && memcmp(r->methods[i].s, method, len) == 0)
            return 1;
    return 0;
}

void hz__router_allow_all(const hz__router *r, char *allow)
{
    size_t len = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < r->nmethods; i++)
        allow_add(allow, &len, r->methods[i].s, r->methods[i].len);
    if (r->any_method) {
        /* A route for any method takes every method; list the ones RFC 9110
         * defines for resources (CONNECT and TRACE are not served). */
        static const char *const std[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
        for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++)
            allow_add(allow, &len, std[i], strlen(std[i]));
    }
    allow_finish(allow, &len);
}

int hz__router_match(const hz__router *r, const char *method, size_t method_len, const char *path,
                     size_t path_len, hz__route_match *m)
{
    m->route = NULL;
    m->nparams = 0;
    m->allow[0] = '\0';
    int options = method_len == 7 && memcmp(method, "OPTIONS", 7) == 0;
    if (path_len == 0 || path[0] != '/') {
        /* RFC 9110 §9.3.7: "OPTIONS *" asks about the server as a whole. */
        if (options && path_len == 1 && path[0] == '*') {
            hz__router_allow_all(r, m->allow);
            return m->status = 204;
        }
        return m->status = 404;
    }
    search s;
    s.method = method;
    s.method_len = method_len;
    s.path = path;
    s.path_len = path_len;
    s.nvals = 0;
    s.nseen = 0;
    s.found = NULL;
    if (walk(&s, &r->root, 1)) {
        const endpoint *e = s.found;
        m->route = &e->route;
        m->nparams = e->nnames;
        for (size_t i = 0; i < e->nnames; i++) {
            m->params[i].name = e->names[i];
            m->params[i].value = s.vals[i];
        }
        return m->status = 0;
    }
    if (s.nseen == 0)
        return m->status = 404;
    allow_build(&s, m);
    return m->status = options ? 204 : 405;
}
