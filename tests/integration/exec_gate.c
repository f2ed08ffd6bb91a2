/* exec_gate.c - see exec_gate.h. */
#include "exec_gate.h"
#include <criterion/criterion.h>
#include "test_alloc.h"
#include "test_wait.h"

pthread_mutex_t it_gate_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t it_gate_cv = PTHREAD_COND_INITIALIZER;
int it_gate_entered, it_gate_inside, it_gate_opened, it_gate_finished, it_gate_saw_cancel;
int it_gate_late_rc = 1;

void it_gate_reset(void)
{
    pthread_mutex_lock(&it_gate_mu);
    it_gate_entered = it_gate_inside = it_gate_opened = it_gate_finished = it_gate_saw_cancel = 0;
    it_gate_late_rc = 1;
    pthread_mutex_unlock(&it_gate_mu);
}

void it_gate_open(void)
{
    pthread_mutex_lock(&it_gate_mu);
    it_gate_opened = 1;
    pthread_cond_broadcast(&it_gate_cv);
    pthread_mutex_unlock(&it_gate_mu);
}

int it_gate_wait(const int *v, int n)
{
    return hz_test_wait_for(&it_gate_mu, &it_gate_cv, v, n, IT_GATE_WAIT_MS);
}

int it_gate_hold(hz_req *req)
{
    pthread_mutex_lock(&it_gate_mu);
    it_gate_entered++;
    it_gate_inside++;
    pthread_cond_broadcast(&it_gate_cv);
    struct timespec dl = hz_test_deadline_in(IT_GATE_WAIT_MS);
    while (!it_gate_opened && !hz_req_cancelled(req)) {
        /* Cancellation is a flag, not a signal on the cv: re-check it often. */
        struct timespec tick = hz_test_deadline_in(5);
        if (tick.tv_sec > dl.tv_sec || (tick.tv_sec == dl.tv_sec && tick.tv_nsec > dl.tv_nsec))
            break;
        pthread_cond_timedwait(&it_gate_cv, &it_gate_mu, &tick);
    }
    it_gate_inside--;
    pthread_mutex_unlock(&it_gate_mu);
    return hz_req_cancelled(req);
}

void it_gate_leave(int cancelled, const int *late_rc)
{
    pthread_mutex_lock(&it_gate_mu);
    if (cancelled) {
        it_gate_saw_cancel++;
        if (late_rc)
            it_gate_late_rc = *late_rc;
    }
    it_gate_finished++;
    pthread_cond_broadcast(&it_gate_cv);
    pthread_mutex_unlock(&it_gate_mu);
}

void it_gate_handler(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    int cancelled = it_gate_hold(req);
    int rc = hz_res_send(res, 200, "ok", 2);
    it_gate_leave(cancelled, &rc);
}

void it_pong(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    hz_res_send(res, 200, "pong", 4);
}

void it_exec_create(hz_server **srv, hz_executor *exr, hz_count_alloc *ca, unsigned threads,
                    unsigned queue, uint32_t handler_ms, unsigned max_ws)
{
    it_gate_reset();
    hz_count_alloc_init(ca);
    hz_executor_pool_options po;
    hz_executor_pool_options_init(&po);
    po.threads = threads;
    if (queue)
        po.queue_cap = queue;
    cr_assert_eq(hz_executor_pool_create(exr, &po, &ca->iface), 0);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.allocator = &ca->iface;
    cfg.executor = exr;
    cfg.timeouts.handler = handler_ms;
    if (max_ws)
        cfg.max_websockets = max_ws;
    cr_assert_eq(hz_server_create(srv, &cfg), 0);
}

void it_exec_finish(hz_server *srv, hz_executor *exr, int stopped)
{
    it_gate_open();
    if (!stopped)
        hz_server_stop(srv, 2000);
    hz_server_wait(srv);
    hz_server_destroy(srv);
    hz_executor_pool_destroy(exr);
}
