/* test_router.c - the segment-tree router: patterns, priorities, 404/405,
 * automatic HEAD and OPTIONS, limits, allocation failures. */
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>
#include "router.h"
#include "test_alloc.h"

/* Handlers are never called here; distinct functions and ud values let a
 * test tell which route matched. */
static void h1(hz_req *req, hz_res *res, void *ud)
{
    (void)req, (void)res, (void)ud;
}

static hz_count_alloc ca;
static hz__router *r;
static int uds[64];

static void setup(void)
{
    hz_count_alloc_init(&ca);
    cr_assert_eq(hz__router_create(&r, &ca.iface), 0);
}

static void teardown(void)
{
    hz__router_destroy(r);
    cr_assert_eq(ca.live_blocks, 0, "leaked %ld blocks", (long)ca.live_blocks);
    cr_assert_eq(ca.size_mismatches, 0);
}

static int add(const char *method, const char *pattern, int id)
{
    hz__route rt = {.fn = h1, .ud = &uds[id], .flags = 0};
    return hz__router_add(r, method, pattern, &rt);
}

static int match(const char *method, const char *path, hz__route_match *m)
{
    return hz__router_match(r, method, strlen(method), path, strlen(path), m);
}

/* The id of the route that matched, or -1. */
static int matched_id(const char *method, const char *path, hz__route_match *m)
{
    if (match(method, path, m) != 0)
        return -1;
    return (int)((int *)m->route->ud - uds);
}

static const char *param(const hz__route_match *m, const char *name)
{
    static char buf[256];
    for (size_t i = 0; i < m->nparams; i++)
        if (m->params[i].name.len == strlen(name) &&
            memcmp(m->params[i].name.ptr, name, m->params[i].name.len) == 0) {
            snprintf(buf, sizeof buf, "%.*s", (int)m->params[i].value.len, m->params[i].value.ptr);
            return buf;
        }
    return NULL;
}

TestSuite(router, .init = setup, .fini = teardown);

Test(router, exact_routes)
{
    hz__route_match m;
    cr_assert_eq(add("GET", "/", 1), 0);
    cr_assert_eq(add("GET", "/a", 2), 0);
    cr_assert_eq(add("GET", "/a/b", 3), 0);
    cr_assert_eq(add("GET", "/a/", 4), 0);
    cr_assert_eq(matched_id("GET", "/", &m), 1);
    cr_assert_eq(m.nparams, 0);
    cr_assert_eq(matched_id("GET", "/a", &m), 2);
    cr_assert_eq(matched_id("GET", "/a/b", &m), 3);
    cr_assert_eq(matched_id("GET", "/a/", &m), 4);
    cr_assert_eq(match("GET", "/a/b/", &m), 404);
    cr_assert_eq(match("GET", "/b", &m), 404);
    cr_assert_eq(match("GET", "/ab", &m), 404);
    cr_assert_eq(match("GET", "", &m), 404);
    cr_assert_eq(match("GET", "a", &m), 404);
    cr_assert_null(m.route);
}

Test(router, named_params)
{
    hz__route_match m;
    cr_assert_eq(add("GET", "/users/:id", 1), 0);
    cr_assert_eq(add("GET", "/users/:uid/posts/:pid", 2), 0);
    cr_assert_eq(matched_id("GET", "/users/42", &m), 1);
    cr_assert_eq(m.nparams, 1);
    cr_assert_str_eq(param(&m, "id"), "42");
    cr_assert_eq(matched_id("GET", "/users/7/posts/a%20b", &m), 2);
    cr_assert_eq(m.nparams, 2);
    cr_assert_str_eq(param(&m, "uid"), "7");
    cr_assert_str_eq(param(&m, "pid"), "a%20b"); /* raw, still encoded */
    cr_assert_null(param(&m, "id"));
    /* A parameter is one non-empty segment. */
    cr_assert_eq(match("GET", "/users/", &m), 404);
    cr_assert_eq(match("GET", "/users", &m), 404);
    cr_assert_eq(match("GET", "/users/1/2", &m), 404);
    cr_assert_eq(match("GET", "/users/7/posts/", &m), 404);
}

Test(router, wildcard)
{
    hz__route_match m;
    cr_assert_eq(add("GET", "/static/*", 1), 0);
    cr_assert_eq(matched_id("GET", "/static/css/site.css", &m), 1);
    cr_assert_str_eq(param(&m, "*"), "css/site.css");
    cr_assert_eq(matched_id("GET", "/static/", &m), 1);
    cr_assert_str_eq(param(&m, "*"), "");
    cr_assert_eq(matched_id("GET", "/static//x", &m), 1);
    cr_assert_str_eq(param(&m, "*"), "/x");
    cr_assert_eq(match("GET", "/static", &m), 404); /* the caller redirects: below */
    cr_assert_eq(match("GET", "/stat", &m), 404);
}

/* What the connection answers for method + path: the lookup's status, or
 * 301 when a 404 has a prefix route one "/" away. */
static int answer(const char *method, const char *path, hz__route_match *m)
{
    int st = match(method, path, m);
    if (st == 404 && hz__router_slash_redirect(r, method, strlen(method), path, strlen(path)))
        return 301;
    return st;
}

/* "/p" with no route of its own goes to the prefix route "/p/" "*" (301),
 * like nginx's prefix locations; never when an exact route exists. */
Test(router, prefix_route_redirects_missing_slash)
{
    hz__route_match m;
    cr_assert_eq(add("GET", "/static/*", 1), 0);
    cr_assert_eq(add("GET", "/u/:id/files/*", 2), 0);
    cr_assert_eq(add("POST", "/api/*", 3), 0);
    cr_assert_eq(add("POST", "/docs", 4), 0);
    cr_assert_eq(add("GET", "/docs/*", 5), 0);
    cr_assert_eq(answer("GET", "/static", &m), 301);
    cr_assert_eq(answer("HEAD", "/static", &m), 301); /* HEAD follows GET */
    cr_assert_eq(answer("GET", "/u/7/files", &m), 301);
    cr_assert_eq(answer("POST", "/api", &m), 301);
    /* Only for a method the prefix route takes. */
    cr_assert_eq(answer("GET", "/api", &m), 404);
    cr_assert_eq(answer("DELETE", "/static", &m), 404);
    /* An exact route wins, even one for another method: 405, no redirect. */
    cr_assert_eq(answer("GET", "/docs", &m), 405);
    cr_assert_str_eq(m.allow, "POST, OPTIONS");
    /* Never from a path that already ends in '/', nor past the prefix. */
    cr_assert_eq(answer("GET", "/static/", &m), 0);
    cr_assert_eq(answer("GET", "/u/7/x", &m), 404);
    cr_assert_eq(answer("GET", "/u//files", &m), 404); /* empty :id */
    cr_assert_eq(answer("GET", "/nope", &m), 404);
    cr_assert_eq(answer("GET", "/", &m), 404);
    /* Asked directly: never for a target that is not an origin path. */
    cr_assert_eq(hz__router_slash_redirect(r, "GET", 3, "", 0), 0);
    cr_assert_eq(hz__router_slash_redirect(r, "GET", 3, "*", 1), 0);
    cr_assert_eq(hz__router_slash_redirect(r, "GET", 3, "/static/", 8), 0);
}

Test(router, prefix_redirect_yields_to_a_catch_all)
{
    hz__route_match m;
    cr_assert_eq(add("GET", "/static/*", 1), 0);
    cr_assert_eq(add("GET", "/:page", 2), 0);
    cr_assert_eq(matched_id("GET", "/static", &m), 2);
}

Test(router, catch_all_root_wildcard)
{
    hz__route_match m;
    cr_assert_eq(add("GET", "/*", 1), 0);
    cr_assert_eq(add("GET", "/api/v1", 2), 0);
    cr_assert_eq(matched_id("GET", "/api/v1", &m), 2);
    cr_assert_eq(matched_id("GET", "/api/v2", &m), 1);
    cr_assert_str_eq(param(&m, "*"), "api/v2");
    cr_assert_eq(matched_id("GET", "/", &m), 1);
}

Test(router, priority_exact_param_wildcard)
{
    hz__route_match m;
    cr_assert_eq(add("GET", "/files/*", 3), 0);
    cr_assert_eq(add("GET", "/files/:name", 2), 0);
    cr_assert_eq(add("GET", "/files/new", 1), 0);
    cr_assert_eq(matched_id("GET", "/files/new", &m), 1);
    cr_assert_eq(m.nparams, 0);
    cr_assert_eq(matched_id("GET", "/files/other", &m), 2);
    cr_assert_str_eq(param(&m, "name"), "other");
    cr_assert_eq(matched_id("GET", "/files/a/b", &m), 3);
    cr_assert_str_eq(param(&m, "*"), "a/b");
}

Test(router, backtracks_from_exact_to_param)
{
    hz__route_match m;
    cr_assert_eq(add("GET", "/a/b/c", 1), 0);
    cr_assert_eq(add("GET", "/a/:x/d", 2), 0);
    cr_assert_eq(add("GET", "/a/*", 3), 0);
    cr_assert_eq(matched_id("GET", "/a/b/c", &m), 1);
    cr_assert_eq(matched_id("GET", "/a/b/d", &m), 2);
    cr_assert_str_eq(param(&m, "x"), "b");
    cr_assert_eq(matched_id("GET", "/a/b/e", &m), 3);
    cr_assert_str_eq(param(&m, "*"), "b/e");
    cr_assert_eq(m.nparams, 1); /* the failed branch's ":x" was dropped */
}

Test(router, method_not_allowed_lists_methods)
{
    hz__route_match m;
    cr_assert_eq(add("GET", "/items", 1), 0);
    cr_assert_eq(add("POST", "/items", 2), 0);
    cr_assert_eq(add("DELETE", "/items/:id", 3), 0);
    cr_assert_eq(matched_id("POST", "/items", &m), 2);
    cr_assert_eq(match("PUT", "/items", &m), 405);
    cr_assert_null(m.route);
    cr_assert_str_eq(m.allow, "GET, POST, HEAD, OPTIONS");
    cr_assert_eq(match("GET", "/items/9", &m), 405);
    cr_assert_str_eq(m.allow, "DELETE, OPTIONS");
    cr_assert_eq(match("GET", "/nothing", &m), 404);
}

Test(router, method_aware_priority)
{
    /* A lower-priority pattern that has the method wins over a
     * higher-priority one that does not. */
    hz__route_match m;
    cr_assert_eq(add("GET", "/users/new", 1), 0);
    cr_assert_eq(add("POST", "/users/:id", 2), 0);
    cr_assert_eq(matched_id("POST", "/users/new", &m), 2);
    cr_assert_eq(matched_id("GET", "/users/new", &m), 1);
    cr_assert_eq(match("PUT", "/users/new", &m), 405);
    cr_assert_str_eq(m.allow, "GET, POST, HEAD, OPTIONS");
}

Test(router, methods_are_case_sensitive)
{
    hz__route_match m;
    cr_assert_eq(add("GET", "/x", 1), 0);
    cr_assert_eq(match("get", "/x", &m), 405);
}

Test(router, automatic_head)
{
    hz__route_match m;
    cr_assert_eq(add("GET", "/a", 1), 0);
    cr_assert_eq(add("GET", "/b", 2), 0);
    cr_assert_eq(add("HEAD", "/b", 3), 0);
    cr_assert_eq(matched_id("HEAD", "/a", &m), 1);
    cr_assert_eq(matched_id("HEAD", "/b", &m), 3);
    cr_assert_eq(add("POST", "/c", 4), 0);
    cr_assert_eq(match("HEAD", "/c", &m), 405);
    cr_assert_str_eq(m.allow, "POST, OPTIONS");
}

Test(router, automatic_options)
{
    hz__route_match m;
    cr_assert_eq(add("GET", "/a", 1), 0);
    cr_assert_eq(add("PUT", "/a", 2), 0);
    cr_assert_eq(add("GET", "/b", 3), 0);
    cr_assert_eq(add("OPTIONS", "/b", 4), 0);
    cr_assert_eq(match("OPTIONS", "/a", &m), 204);
    cr_assert_null(m.route);
    cr_assert_str_eq(m.allow, "GET, PUT, HEAD, OPTIONS");
    cr_assert_eq(matched_id("OPTIONS", "/b", &m), 4);
    cr_assert_eq(match("OPTIONS", "/zzz", &m), 404);
    /* OPTIONS * is about the whole server. */
    cr_assert_eq(add("DELETE", "/c", 5), 0);
    cr_assert_eq(match("OPTIONS", "*", &m), 204);
    cr_assert_str_eq(m.allow, "GET, PUT, OPTIONS, DELETE, HEAD");
    cr_assert_eq(match("GET", "*", &m), 404);
    char allow[HZ__ROUTE_ALLOW_MAX];
    hz__router_allow_all(r, allow);
    cr_assert_str_eq(allow, "GET, PUT, OPTIONS, DELETE, HEAD");
}

/* OPTIONS * lists what the routes accept: HEAD only where GET is routed,
 * OPTIONS always; a route for any method brings the standard methods. */
Test(router, options_asterisk_is_the_union_of_routes)
{
    hz__route_match m;
    char allow[HZ__ROUTE_ALLOW_MAX];
    hz__router_allow_all(r, allow);
    cr_assert_str_eq(allow, "OPTIONS"); /* no routes */
    cr_assert_eq(add("POST", "/a", 1), 0);
    cr_assert_eq(add("PROPFIND", "/dav/*", 2), 0);
    cr_assert_eq(match("OPTIONS", "*", &m), 204);
    cr_assert_str_eq(m.allow, "POST, PROPFIND, OPTIONS");
    cr_assert_eq(add(NULL, "/any", 3), 0);
    hz__router_allow_all(r, allow);
    cr_assert_str_eq(allow, "POST, PROPFIND, GET, PUT, DELETE, PATCH, HEAD, OPTIONS");
}

Test(router, knows_methods_of_its_routes)
{
    cr_assert_eq(hz__router_knows_method(r, "GET", 3), 0);
    cr_assert_eq(add("GET", "/a", 1), 0);
    cr_assert_eq(add("BREW", "/pot", 2), 0);
    cr_assert_eq(hz__router_knows_method(r, "GET", 3), 1);
    cr_assert_eq(hz__router_knows_method(r, "BREW", 4), 1);
    cr_assert_eq(hz__router_knows_method(r, "BRE", 3), 0);
    cr_assert_eq(hz__router_knows_method(r, "brew", 4), 0); /* case-sensitive */
    cr_assert_eq(hz__router_knows_method(r, "FOO", 3), 0);
    cr_assert_eq(add(NULL, "/any", 3), 0);
    cr_assert_eq(hz__router_knows_method(r, "FOO", 3), 1);
}

Test(router, any_method)
{
    hz__route_match m;
    cr_assert_eq(add(NULL, "/any", 1), 0);
    cr_assert_eq(add("GET", "/any", 2), 0);
    cr_assert_eq(matched_id("GET", "/any", &m), 2);
    cr_assert_eq(matched_id("BREW", "/any", &m), 1);
    cr_assert_eq(matched_id("OPTIONS", "/any", &m), 1);
    cr_assert_eq(matched_id("HEAD", "/any", &m), 2); /* GET beats any for HEAD */
    cr_assert_eq(add(NULL, "/any", 3), HZ_EBUSY);
}

Test(router, duplicates_rejected)
{
    cr_assert_eq(add("GET", "/u/:id", 1), 0);
    cr_assert_eq(add("GET", "/u/:id", 2), HZ_EBUSY);
    cr_assert_eq(add("GET", "/u/:other", 2), HZ_EBUSY); /* same shape */
    cr_assert_eq(add("POST", "/u/:other", 2), 0);       /* other method: fine */
    hz__route_match m;
    cr_assert_eq(matched_id("POST", "/u/5", &m), 2);
    cr_assert_str_eq(param(&m, "other"), "5");
    cr_assert_eq(matched_id("GET", "/u/5", &m), 1);
    cr_assert_str_eq(param(&m, "id"), "5");
}

Test(router, bad_patterns)
{
    cr_assert_eq(add("GET", "", 1), HZ_EINVAL);
    cr_assert_eq(add("GET", "noslash", 1), HZ_EINVAL);
    cr_assert_eq(add("GET", "/a/:", 1), HZ_EINVAL);
    cr_assert_eq(add("GET", "/a/:/b", 1), HZ_EINVAL);
    cr_assert_eq(add("GET", "/*/b", 1), HZ_EINVAL);
    cr_assert_eq(add("GET", "/a/:x/:x", 1), HZ_EINVAL);
    cr_assert_eq(add("G ET", "/a", 1), HZ_EINVAL);
    cr_assert_eq(add("", "/a", 1), HZ_EINVAL);
    hz__route nofn = {0};
    cr_assert_eq(hz__router_add(r, "GET", "/a", &nofn), HZ_EINVAL);
    cr_assert_eq(hz__router_add(r, "GET", NULL, &nofn), HZ_EINVAL);
    /* a '*' inside a segment is literal */
    cr_assert_eq(add("GET", "/a*b", 1), 0);
    hz__route_match m;
    cr_assert_eq(matched_id("GET", "/a*b", &m), 1);
    cr_assert_eq(match("GET", "/axb", &m), 404);
}

Test(router, param_limit)
{
    char pat[256] = "";
    size_t len = 0;
    for (int i = 0; i < HZ__ROUTE_MAX_PARAMS; i++)
        len += (size_t)snprintf(pat + len, sizeof pat - len, "/:p%d", i);
    cr_assert_eq(add("GET", pat, 1), 0);
    char over[300];
    snprintf(over, sizeof over, "%s/:extra", pat);
    cr_assert_eq(add("GET", over, 2), HZ_EINVAL);
    snprintf(over, sizeof over, "%s/*", pat);
    cr_assert_eq(add("GET", over, 2), HZ_EINVAL);
    hz__route_match m;
    cr_assert_eq(matched_id("GET", "/a/b/c/d/e/f/g/h", &m), 1);
    cr_assert_eq(m.nparams, HZ__ROUTE_MAX_PARAMS);
    cr_assert_str_eq(param(&m, "p7"), "h");
}

Test(router, allow_list_is_bounded)
{
    /* Many long methods: the list is cut at a whole method and stays
     * NUL-terminated within HZ__ROUTE_ALLOW_MAX. */
    char meth[40];
    for (int i = 0; i < 20; i++) {
        snprintf(meth, sizeof meth, "METHOD_NUMBER_%02d", i);
        cr_assert_eq(add(meth, "/x", 1), 0);
    }
    hz__route_match m;
    cr_assert_eq(match("GET", "/x", &m), 405);
    size_t len = strlen(m.allow);
    cr_assert_lt(len, HZ__ROUTE_ALLOW_MAX);
    cr_assert(strncmp(m.allow, "METHOD_NUMBER_00, METHOD_NUMBER_01", 34) == 0);
    cr_assert_neq(m.allow[len - 1], ',');
    cr_assert_neq(m.allow[len - 1], ' ');
}

Test(router, wide_node_uses_index)
{
    /* 500 siblings force the hash index and its growth; each is found. */
    char p[64];
    for (int i = 0; i < 500; i++) {
        snprintf(p, sizeof p, "/api/res%d", i);
        hz__route rt = {.fn = h1, .ud = (void *)(size_t)(i + 1)};
        cr_assert_eq(hz__router_add(r, "GET", p, &rt), 0);
    }
    hz__route_match m;
    for (int i = 0; i < 500; i++) {
        snprintf(p, sizeof p, "/api/res%d", i);
        cr_assert_eq(match("GET", p, &m), 0, "%s", p);
        cr_assert_eq((size_t)m.route->ud, (size_t)(i + 1));
    }
    cr_assert_eq(match("GET", "/api/res500", &m), 404);
    cr_assert_eq(match("GET", "/api/res", &m), 404);
}

Test(router, create_rejects_null_allocator)
{
    hz__router *x = (hz__router *)1;
    cr_assert_eq(hz__router_create(&x, NULL), HZ_EINVAL);
    cr_assert_null(x);
    hz__router_destroy(NULL);
}

Test(router, every_allocation_failure_is_clean)
{
    /* Walk every allocation of a sequence of adds: each failure returns
     * HZ_ENOMEM, leaves the router usable and leaks nothing. */
    static const char *pats[] = {"/a/b", "/a/:x/c", "/s/*", "/r0", "/r1", "/r2", "/r3",
                                 "/r4",  "/r5",     "/r6",  "/r7", "/r8", "/r9"};
    for (long n = 1;; n++) {
        hz_count_alloc fa;
        hz_fail_alloc_init(&fa, n, 0);
        hz__router *x;
        int rc = hz__router_create(&x, &fa.iface);
        if (rc < 0) {
            cr_assert_eq(rc, HZ_ENOMEM);
            cr_assert_null(x);
            continue;
        }
        int failed = 0;
        for (size_t i = 0; i < HZ__ARRAY_LEN(pats); i++) {
            hz__route rt = {.fn = h1, .ud = NULL};
            rc = hz__router_add(x, "GET", pats[i], &rt);
            if (rc == HZ_ENOMEM) {
                failed = 1;
                /* retry succeeds: the failure left no half-route behind */
                cr_assert_eq(hz__router_add(x, "GET", pats[i], &rt), 0);
            } else {
                cr_assert_eq(rc, 0);
            }
        }
        hz__route_match m;
        cr_assert_eq(hz__router_match(x, "GET", 3, "/a/q/c", 6, &m), 0);
        cr_assert_eq(hz__router_match(x, "GET", 3, "/r9", 3, &m), 0);
        hz__router_destroy(x);
        cr_assert_eq(fa.live_blocks, 0, "n=%ld leaked", n);
        if (!failed && fa.failures == 0)
            break; /* n is past the last allocation */
    }
}

Test(router, lookups_do_not_allocate)
{
    char p[64];
    for (int i = 0; i < 40; i++) {
        snprintf(p, sizeof p, "/r%d/:id/x", i);
        cr_assert_eq(add("GET", p, 1), 0);
    }
    long before = ca.calls;
    hz__route_match m;
    cr_assert_eq(match("GET", "/r7/5/x", &m), 0);
    cr_assert_eq(match("PUT", "/r7/5/x", &m), 405);
    cr_assert_eq(match("OPTIONS", "/r7/5/x", &m), 204);
    cr_assert_eq(match("GET", "/nope", &m), 404);
    cr_assert_eq(ca.calls, before);
}

Test(router, deep_and_long_paths)
{
    /* A path far deeper than any pattern stops at the tree's depth. */
    cr_assert_eq(add("GET", "/a/:b", 1), 0);
    static char deep[8192];
    size_t len = 0;
    while (len + 2 < sizeof deep) {
        deep[len++] = '/';
        deep[len++] = 'a';
    }
    deep[len] = '\0';
    hz__route_match m;
    cr_assert_eq(match("GET", deep, &m), 404);
    cr_assert_eq(matched_id("GET", "/a/a", &m), 1);
}
