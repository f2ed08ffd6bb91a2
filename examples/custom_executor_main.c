/* custom_executor_main.c - a server whose blocking route runs on an
 * executor: the example priority executor (custom_executor.c) by default,
 * or the library's thread pool.
 *
 *   custom_executor_demo [--port N] [--loops N] [--pool THREADS] [--no-exec]
 *
 * Routes:
 *   GET /plaintext    "Hello, World!" inline on the loop
 *   GET /sleep?ms=N   blocks its worker N ms (default 10), then answers:
 *                     the kind of handler that must not run on a loop
 * With --no-exec no executor is configured (/sleep then blocks the loop);
 * with --pool THREADS the pool runs /sleep, else the one-worker example.
 * Prints "port N" once listening; SIGINT/SIGTERM stop it gracefully. */
#define _POSIX_C_SOURCE 200809L /* sigaction, nanosleep under -std=c11 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <httpz/backend.h>
#include "custom_executor.h"

static hz_server *g_srv;

static void on_signal(int sig)
{
    (void)sig;
    hz_server_stop(g_srv, 5000); /* async-signal-safe */
}

static void plaintext(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    hz_res_set_header(res, "Content-Type", "text/plain");
    hz_res_send(res, 200, "Hello, World!", 13);
}

static void sleepy(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    long ms = 10;
    hz_str q = hz_req_query(req);
    if (q.len > 3 && !strncmp(q.ptr, "ms=", 3))
        ms = strtol(q.ptr + 3, NULL, 10); /* stops at the view's end: '&', ' ' */
    if (ms < 0 || ms > 10000)
        ms = 10;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && !hz_req_cancelled(req)) {
    }
    hz_res_set_header(res, "Content-Type", "text/plain");
    hz_res_send(res, 200, "slept", 5);
}

int main(int argc, char **argv)
{
    int port = 8080, use_exec = 1;
    unsigned loops = 1, pool_threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--loops") && i + 1 < argc)
            loops = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pool") && i + 1 < argc)
            pool_threads = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-exec"))
            use_exec = 0;
        else {
            fprintf(stderr, "usage: %s [--port N] [--loops N] [--pool THREADS] [--no-exec]\n",
                    argv[0]);
            return 2;
        }
    }

    hz_executor ex = {NULL, NULL};
    int rc = 0;
    if (use_exec && pool_threads) {
        hz_executor_pool_options po;
        hz_executor_pool_options_init(&po);
        po.threads = pool_threads;
        po.queue_cap = 4096;
        rc = hz_executor_pool_create(&ex, &po, NULL);
    } else if (use_exec)
        rc = custom_executor_create(&ex, 1024, CUSTOM_EXEC_DRAIN, NULL);
    if (rc < 0) {
        fprintf(stderr, "executor: %s\n", hz_strerror(rc));
        return 1;
    }

    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = loops;
    cfg.max_connections = 100000;
    cfg.executor = use_exec ? &ex : NULL;
    if ((rc = hz_server_create(&g_srv, &cfg)) < 0) {
        fprintf(stderr, "server: %s\n", hz_strerror(rc));
        if (ex.vt)
            ex.vt->shutdown(ex.self);
        return 1;
    }
    hz_route(g_srv, "GET", "/plaintext", plaintext, NULL);
    hz_route_opts on_pool;
    hz_route_opts_init(&on_pool);
    on_pool.flags = HZ_ROUTE_EXECUTOR;
    hz_route_with(g_srv, "GET", "/sleep", sleepy, NULL, &on_pool);
    int idx = hz_server_listen(g_srv, "127.0.0.1", port, NULL);
    if (idx < 0 || (rc = hz_server_start(g_srv)) < 0) {
        fprintf(stderr, "listen/start: %s\n", hz_strerror(idx < 0 ? idx : rc));
        hz_server_destroy(g_srv);
        if (ex.vt)
            ex.vt->shutdown(ex.self);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("port %d\n", hz_server_port(g_srv, idx));
    fflush(stdout);
    hz_server_wait(g_srv);
    hz_server_destroy(g_srv);
    /* The server is gone, so nothing submits any more: now the executor. */
    if (ex.vt)
        ex.vt->shutdown(ex.self);
    return 0;
}
