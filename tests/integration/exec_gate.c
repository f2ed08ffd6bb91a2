/* exec_gate.c - see exec_gate.h. */
#include "exec_gate.h"
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

void it_gate_handler(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
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
    int cancelled = hz_req_cancelled(req);
    int rc = hz_res_send(res, 200, "ok", 2);
    pthread_mutex_lock(&it_gate_mu);
    if (cancelled) {
        it_gate_saw_cancel++;
        it_gate_late_rc = rc;
    }
    it_gate_finished++;
    pthread_cond_broadcast(&it_gate_cv);
    pthread_mutex_unlock(&it_gate_mu);
}

void it_pong(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    hz_res_send(res, 200, "pong", 4);
}
