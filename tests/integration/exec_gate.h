/* exec_gate.h - the "gate" the executor tests (test_exec, test_h2exec,
 * test_ws_exec) hold
 * handlers in: a handler on a worker waits until the test opens the gate or
 * its request is abandoned, and the test waits, with a deadline, for the
 * counters handlers raise. Every counter is read and written under
 * it_gate_mu; handlers broadcast it_gate_cv after each change, so tests
 * wait on the server's state, never on time. Also the executor tests'
 * server: a pool, one loop, every allocation counted. */
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

/** Holds the calling handler (on a worker) in the gate: counts it in
 *  it_gate_entered, and in it_gate_inside while there, until the gate
 *  opens, its request is abandoned or IT_GATE_WAIT_MS pass. Returns 1 when
 *  the request was abandoned by then. */
int it_gate_hold(hz_req *req);

/** Counts a handler finished and, when cancelled, in it_gate_saw_cancel
 *  with *late_rc (what its answer after the cancellation returned; NULL:
 *  it made none) in it_gate_late_rc. */
void it_gate_leave(int cancelled, const int *late_rc);

/** The handler (an executor route): held in the gate until it opens or the
 *  request is abandoned, then answers 200 "ok" and records what that gave. */
void it_gate_handler(hz_req *req, hz_res *res, void *ud);

/** An inline handler answering 200 "pong". */
void it_pong(hz_req *req, hz_res *res, void *ud);

typedef struct hz_count_alloc hz_count_alloc;

/** it_gate_reset; ca initialised; *exr a pool of threads (queue_cap queue;
 *  0: the default) allocating from ca; *srv created (not started: the test
 *  adds its routes and listener) with one loop, ca, *exr,
 *  timeouts.handler = handler_ms and max_websockets = max_ws (0: the
 *  default). Asserts each step. */
void it_exec_create(hz_server **srv, hz_executor *exr, hz_count_alloc *ca, unsigned threads,
                    unsigned queue, uint32_t handler_ms, unsigned max_ws);

/** Opens the gate, stops srv (2 s) unless stopped (the test did), waits for
 *  it, destroys it, then the pool. What is left in the allocator is the
 *  test's to check. */
void it_exec_finish(hz_server *srv, hz_executor *exr, int stopped);

#endif
