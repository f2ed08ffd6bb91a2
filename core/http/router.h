/* router.h - method + path routing (internal). Lookup cost does not grow
 * with the number of routes (a radix tree over path segments).
 *
 * Patterns: "/exact/path", named parameters "/users/:id" (one segment), and a
 * trailing wildcard "/static/" "*" (the rest of the path, possibly empty, named
 * "*"). Exact segments beat parameters, parameters beat the wildcard.
 * Matching is on the raw (still percent-encoded) path; parameter values are
 * views into it.
 *
 * Priority is per method: a lookup backtracks from a branch that has no
 * route for the request's method, so "POST /users/new" reaches
 * "POST /users/:id" even when "GET /users/new" exists. At one node the
 * endpoint is the exact method, else (for HEAD) the GET route, else a route
 * added with method NULL. A lookup allocates nothing and is thread-safe
 * once routes stop being added (core/router.c, docs/architecture.md).
 */
#ifndef HZ__ROUTER_H
#define HZ__ROUTER_H

#include <stddef.h>
#include <httpz/httpz.h>
#include "internal.h"

#define HZ__ROUTE_MAX_PARAMS 8
#define HZ__ROUTE_ALLOW_MAX 128

typedef struct hz__router hz__router; /* owner: its server */

typedef struct hz__route {
    hz_handler_fn fn;
    void *ud;       /* borrowed: the user's */
    unsigned flags; /* HZ_ROUTE_* */
} hz__route;

typedef struct hz__route_param {
    hz_str name;  /* borrowed: the router's copy of the pattern */
    hz_str value; /* borrowed: view into the matched path */
} hz__route_param;

typedef struct hz__route_match {
    /* 0: route found (for HEAD this may be the GET route);
     * 404: no route has this path; 405: the path exists but not for this
     * method (allow lists the methods); 204: an OPTIONS request for a path
     * with routes but no OPTIONS route (answer 204 with allow). */
    int status;
    const hz__route *route; /* borrowed: valid while the router lives */
    size_t nparams;
    hz__route_param params[HZ__ROUTE_MAX_PARAMS];
    char allow[HZ__ROUTE_ALLOW_MAX]; /* "GET, HEAD, OPTIONS" for 405/204, NUL-terminated */
} hz__route_match;

HZ__HIDDEN int hz__router_create(hz__router **out, const hz_allocator *a);
HZ__HIDDEN void hz__router_destroy(hz__router *r); /* NULL-safe */
/** Adds a route. method NULL = any method. HZ_EINVAL for a bad pattern
 *  (not starting with '/', empty ':' name, '*' not last, too many params),
 *  HZ_EBUSY for a duplicate method+pattern, HZ_ENOMEM. */
HZ__HIDDEN int hz__router_add(hz__router *r, const char *method, const char *pattern,
                              const hz__route *route);
/** Looks up method + path (raw path, no query). Fills m; returns m->status. */
HZ__HIDDEN int hz__router_match(const hz__router *r, const char *method, size_t method_len,
                                const char *path, size_t path_len, hz__route_match *m);
/** After a 404 for method + path: 1 when path + "/" would reach a prefix
 *  route (pattern "/p/" "*", empty rest) for the method, so the answer is a
 *  301 to it; else 0. Separate from hz__router_match so lookups that match
 *  pay nothing for it. */
HZ__HIDDEN int hz__router_slash_redirect(const hz__router *r, const char *method, size_t method_len,
                                         const char *path, size_t path_len);
/** 1 when a route was added for exactly this method or for any method
 *  (NULL), else 0: the server does not recognise the method (RFC 9110
 *  §15.6.2: 501). */
HZ__HIDDEN int hz__router_knows_method(const hz__router *r, const char *method, size_t len);
/** Writes the server-wide Allow list ("OPTIONS *", RFC 9110 §9.3.7) to
 *  allow (HZ__ROUTE_ALLOW_MAX bytes, NUL-terminated): every method a route was
 *  added for, GET POST PUT DELETE PATCH when a route takes any method, HEAD
 *  when GET is there, and OPTIONS. */
HZ__HIDDEN void hz__router_allow_all(const hz__router *r, char *allow);

#endif /* HZ__ROUTER_H */
