/* bench/router.c - router lookup cost against the number of routes.
 *
 * Builds a realistic REST route table (4 API versions x 25 resources x 10
 * routes: collections, ":id" items, nested ":id" sub-resources, static
 * actions) and times lookups of concrete paths with routers holding the
 * first 10, 100 and 1,000 routes. A segment tree should show a flat
 * ns/lookup column. Usage: bench_router [iterations per size]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <httpz/backend.h>
#include "router.h"

#define NROUTES 1000

static const char *resources[] = {
    "users",    "orders",   "products", "invoices",  "customers", "payments", "shipments",
    "accounts", "projects", "tasks",    "comments",  "tags",      "files",    "teams",
    "sessions", "webhooks", "events",   "reports",   "carts",     "coupons",  "reviews",
    "messages", "devices",  "regions",  "inventory",
};

typedef struct rt {
    const char *method;
    char pattern[96];
    char path[96]; /* a concrete path that matches pattern */
} rt;

static rt routes[NROUTES];

static void handler(hz_req *req, hz_res *res, void *ud)
{
    (void)req, (void)res, (void)ud;
}

static void make_routes(void)
{
    static const struct {
        const char *method, *pat, *path; /* suffixes after /api/vN/<resource> */
    } shapes[10] = {
        {"GET", "", ""},
        {"POST", "", ""},
        {"GET", "/:id", "/12345"},
        {"PUT", "/:id", "/67890"},
        {"DELETE", "/:id", "/42"},
        {"GET", "/search", "/search"},
        {"GET", "/:id/history", "/99/history"},
        {"GET", "/:id/attachments/:aid", "/7/attachments/abc"},
        {"POST", "/:id/actions/archive", "/8/actions/archive"},
        {"GET", "/export/*", "/export/2024/01/data.csv"},
    };
    size_t n = 0;
    for (int v = 1; v <= 4; v++)
        for (size_t r = 0; r < sizeof resources / sizeof *resources; r++)
            for (size_t s = 0; s < 10; s++) {
                rt *x = &routes[n++];
                x->method = shapes[s].method;
                snprintf(x->pattern, sizeof x->pattern, "/api/v%d/%s%s", v, resources[r],
                         shapes[s].pat);
                snprintf(x->path, sizeof x->path, "/api/v%d/%s%s", v, resources[r], shapes[s].path);
            }
    if (n != NROUTES)
        abort();
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double run(size_t nroutes, long iters)
{
    hz__router *r;
    if (hz__router_create(&r, &hz_allocator_default) < 0)
        abort();
    hz__route route = {.fn = handler};
    /* Spread the n routes over the table, so 10 routes are 10 different
     * resources and shapes rather than one resource's first ten. */
    size_t stride = NROUTES / nroutes;
    size_t idx[NROUTES];
    for (size_t i = 0; i < nroutes; i++) {
        idx[i] = stride == 1 ? i : i * stride + i % 10; /* distinct: stride >= 10 */
        if (hz__router_add(r, routes[idx[i]].method, routes[idx[i]].pattern, &route) < 0) {
            fprintf(stderr, "add %s %s failed\n", routes[idx[i]].method, routes[idx[i]].pattern);
            abort();
        }
    }
    size_t mlen[NROUTES], plen[NROUTES];
    for (size_t i = 0; i < nroutes; i++) {
        mlen[i] = strlen(routes[idx[i]].method);
        plen[i] = strlen(routes[idx[i]].path);
    }
    hz__route_match m;
    volatile size_t sink = 0;
    double t0 = now_ns();
    for (long it = 0; it < iters; it++) {
        size_t i = (size_t)it % nroutes;
        const rt *x = &routes[idx[i]];
        if (hz__router_match(r, x->method, mlen[i], x->path, plen[i], &m) != 0) {
            fprintf(stderr, "lookup %s %s failed\n", x->method, x->path);
            abort();
        }
        sink += m.nparams;
    }
    double dt = now_ns() - t0;
    (void)sink;
    hz__router_destroy(r);
    return dt / (double)iters;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    if (iters <= 0)
        iters = 2000000;
    make_routes();
    static const size_t sizes[] = {10, 100, 1000};
    run(100, iters / 10); /* warm-up */
    printf("routes  ns/lookup  (%ld lookups each, mixed static/param/wildcard)\n", iters);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        printf("%6zu  %9.1f\n", sizes[k], run(sizes[k], iters));
    return 0;
}
