/* exec_gate.h - the "gate" the executor tests (test_exec, test_h2exec) hold
 * handlers in: a handler on a worker waits until the test opens the gate or
 * its request is abandoned, and the test waits, with a deadline, for the
 * counters handlers raise. Every counter is read and written under
 * it_gate_mu; handlers broadcast it_gate_cv after each change, so tests
 * wait on the server's state, never on time. */
#ifndef HZ_EXEC_GATE_H
#define HZ_EXEC_GATE_H

#include <pthread.h>
#include <httpz/httpz.h>

#define IT_GATE_WAIT_MS 10000

extern pthread_mutex_t it_gate_mu;
extern pthread_cond_t it_gate_cv;
extern int it_gate_entered;    /* handlers that entered the gate (never decreases) */
extern int it_gate_inside;     /* handlers in the gate now */
extern int it_gate_opened;     /* 1: handlers may leave the gate */
extern int it_gate_finished;   /* handlers returned (tests' own handlers count here too) */
extern int it_gate_saw_cancel; /* handlers that saw hz_req_cancelled() */
extern int it_gate_late_rc;    /* what hz_res_send returned after the cancellation */

/** Closes the gate and zeroes the counters (it_gate_late_rc: 1). */
void it_gate_reset(void);

/** Opens the gate: every held handler leaves it. */
void it_gate_open(void);

/** Waits until *v >= n (v: one of the counters) or IT_GATE_WAIT_MS pass;
 *  returns *v. */
int it_gate_wait(const int *v, int n);

/** The handler (an executor route): held in the gate until it opens or the
 *  request is abandoned, then answers 200 "ok" and records what that gave. */
void it_gate_handler(hz_req *req, hz_res *res, void *ud);

/** An inline handler answering 200 "pong". */
void it_pong(hz_req *req, hz_res *res, void *ud);

#endif
