/* test_pool_public.c - the thread pool through <httpz/httpz.h> alone (no
 * backend.h anywhere in this file or in itest.h): create it, run an
 * executor route on it, destroy it (twice: the second is a no-op), and the
 * argument checks of create. */
#include <pthread.h>
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/httpz.h>
#include "itest.h"

#ifdef HTTPZ_BACKEND_H
#error "this test must not see backend.h"
#endif

static void on_worker(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    pthread_t *loop_thread = ud;
    const char *where = pthread_equal(*loop_thread, pthread_self()) ? "loop" : "worker";
    hz_res_send(res, 200, where, strlen(where));
}

static pthread_t loop_thread;

static void on_loop(hz_req *req, hz_res *res, void *ud)
{
    (void)req, (void)ud;
    loop_thread = pthread_self();
    hz_res_send(res, 200, "loop", 4);
}

Test(pool_public, create_use_destroy, .timeout = 60)
{
    hz_executor pool;
    hz_executor_pool_options po;
    hz_executor_pool_options_init(&po);
    po.threads = 2;
    po.queue_cap = 16;
    cr_assert_eq(hz_executor_pool_create(&pool, &po, NULL), 0);
    cr_assert_not_null(pool.vt);
    cr_assert_eq(pool.vt, &hz_executor_pool_vt);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.executor = &pool;
    it_server s;
    cr_assert_eq(hz_server_create(&s.srv, &cfg), 0);
    hz_route_opts o;
    hz_route_opts_init(&o);
    o.flags = HZ_ROUTE_EXECUTOR;
    cr_assert_eq(hz_route(s.srv, "GET", "/loop", on_loop, NULL), 0);
    cr_assert_eq(hz_route_with(s.srv, "GET", "/pool", on_worker, &loop_thread, &o), 0);
    int idx = hz_server_listen(s.srv, "127.0.0.1", 0, NULL);
    cr_assert_geq(idx, 0);
    s.port = hz_server_port(s.srv, idx);
    cr_assert_eq(hz_server_start(s.srv), 0);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    it_resp r;
    it_sends(&c, "GET /loop HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert_eq(it_read_response(&c, &r, 0, 10000), 0);
    it_resp_free(&r);
    it_sends(&c, "GET /pool HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert_eq(it_read_response(&c, &r, 0, 10000), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "worker");
    it_resp_free(&r);
    it_close(&c);
    it_stop(&s);
    hz_executor_pool_destroy(&pool);
    cr_assert_null(pool.vt);
    cr_assert_null(pool.self);
    hz_executor_pool_destroy(&pool); /* a no-op now */
    hz_executor_pool_destroy(NULL);
}

Test(pool_public, bad_options, .timeout = 30)
{
    hz_executor pool;
    hz_executor_pool_options po;
    hz_executor_pool_options_init(&po);
    po.on_shutdown = 7;
    cr_assert_eq(hz_executor_pool_create(&pool, &po, NULL), HZ_EINVAL);
    cr_assert_null(pool.vt);
    hz_executor_pool_destroy(&pool); /* never created: a no-op */
    hz_executor_pool_options_init(&po);
    po.threads = 100000;
    cr_assert_eq(hz_executor_pool_create(&pool, &po, NULL), HZ_EINVAL);
    cr_assert_eq(hz_executor_pool_create(NULL, NULL, NULL), HZ_EINVAL);
    cr_assert_eq(hz_executor_pool_create(&pool, NULL, NULL), 0); /* the defaults */
    hz_executor_pool_destroy(&pool);
}
