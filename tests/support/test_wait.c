/* test_wait.c - see test_wait.h. */
#include <errno.h>
#include "test_wait.h"

struct timespec hz_test_deadline_in(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int hz_test_wait_locked(pthread_mutex_t *mu, pthread_cond_t *cv, const int *v, int n, int ms)
{
    struct timespec dl = hz_test_deadline_in(ms);
    while (*v < n) {
        if (pthread_cond_timedwait(cv, mu, &dl) == ETIMEDOUT)
            break;
    }
    return *v;
}

int hz_test_wait_for(pthread_mutex_t *mu, pthread_cond_t *cv, const int *v, int n, int ms)
{
    pthread_mutex_lock(mu);
    int r = hz_test_wait_locked(mu, cv, v, n, ms);
    pthread_mutex_unlock(mu);
    return r;
}

void hz_test_bump(pthread_mutex_t *mu, pthread_cond_t *cv, int *v)
{
    pthread_mutex_lock(mu);
    (*v)++;
    pthread_cond_broadcast(cv);
    pthread_mutex_unlock(mu);
}

int hz_test_read(pthread_mutex_t *mu, const int *v)
{
    pthread_mutex_lock(mu);
    int r = *v;
    pthread_mutex_unlock(mu);
    return r;
}
