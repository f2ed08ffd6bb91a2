/* custom_executor.h - a user-written executor for httpz: one worker thread
 * that runs jobs by priority (highest first, FIFO among equals).
 *
 * It shows what writing an executor takes: fill an hz_executor_vt (abi,
 * name, caps, submit, shutdown), keep the contract of include/httpz/backend.h
 * (every accepted job runs exactly once: status 0 on the worker,
 * HZ_ECANCELED on the shutdown path; full -> HZ_EBUSY without calling the
 * job; after shutdown began -> HZ_ECANCELED), and hand the server an
 * hz_executor {vt, self} through hz_config.executor:
 *
 *     hz_executor ex;
 *     custom_executor_create(&ex, 256, CUSTOM_EXEC_DRAIN, NULL);
 *     cfg.executor = &ex;                     // handlers of executor routes
 *     ...                                     // run on its worker
 *     hz_server_destroy(srv);
 *     ex.vt->shutdown(ex.self);               // the creator shuts it down
 *
 * The vtable's submit() queues at CUSTOM_EXEC_PRIO_DEFAULT; code that holds
 * the executor itself can pick a priority with custom_executor_submit_prio().
 */
#ifndef CUSTOM_EXECUTOR_H
#define CUSTOM_EXECUTOR_H

#include <httpz/backend.h>

enum {
    CUSTOM_EXEC_PRIO_DEFAULT = 0, /* what the vtable's submit() uses */
};

/** What shutdown does with queued jobs. */
enum {
    CUSTOM_EXEC_DRAIN = 0,  /* the worker runs them (status 0), by priority */
    CUSTOM_EXEC_CANCEL = 1, /* the shutdown caller runs them with HZ_ECANCELED */
};

/** The vtable ("custom-prio"); submit() may be called from any thread. */
extern const hz_executor_vt custom_executor_vt;

/** Creates the executor: one worker, at most queue_cap queued jobs (0 =
 *  256), on_shutdown = CUSTOM_EXEC_DRAIN or CUSTOM_EXEC_CANCEL, memory from a
 *  (NULL = hz_allocator_default; must be HZ_ALLOC_CAP_THREADSAFE). Fills
 *  *out = {&custom_executor_vt, state}; release with
 *  out->vt->shutdown(out->self). Returns 0, HZ_EINVAL, HZ_ENOMEM or HZ_ESYS
 *  (out->vt = out->self = NULL). thread: any. */
int custom_executor_create(hz_executor *out, unsigned queue_cap, unsigned on_shutdown,
                           const hz_allocator *a);

/** Queues fn(arg, status) at priority prio (larger runs first; equal
 *  priorities in submission order). self is out->self of create. Returns 0,
 *  HZ_EBUSY (queue full; fn is not called), HZ_ECANCELED (shutdown began)
 *  or HZ_EINVAL. thread: any. */
int custom_executor_submit_prio(void *self, int prio, hz_job_fn fn, void *arg);

#endif /* CUSTOM_EXECUTOR_H */
