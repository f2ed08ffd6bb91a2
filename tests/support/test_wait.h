/* test_wait.h - a test thread waits, with a deadline, until a counter that
 * other threads (loops, workers, timers) raise under a mutex reaches a value.
 * The counter, its mutex and its condition variable belong to the test. */
#ifndef HZ_TEST_WAIT_H
#define HZ_TEST_WAIT_H

#include <pthread.h>
#include <time.h>

/** The CLOCK_REALTIME time ms milliseconds from now, the clock
 *  pthread_cond_timedwait() measures by default. */
struct timespec hz_test_deadline_in(int ms);

/** With mu held: waits on cv until *v >= n or ms pass. Returns *v. */
int hz_test_wait_locked(pthread_mutex_t *mu, pthread_cond_t *cv, const int *v, int n, int ms);

/** hz_test_wait_locked() taking and releasing mu. Returns *v. */
int hz_test_wait_for(pthread_mutex_t *mu, pthread_cond_t *cv, const int *v, int n, int ms);

/** Adds 1 to *v under mu and wakes every waiter on cv. */
void hz_test_bump(pthread_mutex_t *mu, pthread_cond_t *cv, int *v);

/** *v read under mu. */
int hz_test_read(pthread_mutex_t *mu, const int *v);

#endif
