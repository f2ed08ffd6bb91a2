/* poller_contract.h - the poller contract (include/httpz/backend.h, hz_poller_vt)
 * written once as plain C checks, so that two runners share them:
 *   test_poller.c   Criterion, one ParameterizedTest per check over hz_pollers[]
 *   poller_check.c  a plain program for places without Criterion (macOS cross
 *                   builds, aarch64 under qemu-user, where Criterion hangs)
 * A check returns PC_PASS, PC_FAIL (with the reason in ctx->msg) or PC_SKIP
 * (the machine cannot run it, e.g. the fd limit cannot be raised). Checks
 * release every fd and poller they created, also on failure, so they can run
 * one after another in one process. */
#ifndef HZ_POLLER_CONTRACT_H
#define HZ_POLLER_CONTRACT_H

#include <httpz/backend.h>

enum { PC_PASS = 0, PC_FAIL = -1, PC_SKIP = 1 };

typedef struct pc_ctx { /* owner: the runner */
    char msg[1024];     /* why the check failed or was skipped */
} pc_ctx;

typedef int (*pc_fn)(const hz_poller_vt *vt, pc_ctx *c);

typedef struct pc_case {
    const char *name;
    pc_fn fn;
} pc_case;

/* Every check, in a sensible order; pc_cases[pc_ncases] is {NULL, NULL}. */
extern const pc_case pc_cases[];
extern const unsigned pc_ncases;

/* Runs every check (or those named in argv[1..]) against each poller of the
 * NULL-terminated vts, printing one line per check and a summary; returns
 * the exit status: 1 if a check failed or none passed (poller_run.c). */
int pc_run(const hz_poller_vt *const *vts, int argc, char **argv);

/* The checks, also by name for the Criterion runner. */
int pc_meta(const hz_poller_vt *vt, pc_ctx *c);
int pc_readable(const hz_poller_vt *vt, pc_ctx *c);
int pc_writable(const hz_poller_vt *vt, pc_ctx *c);
int pc_level_triggered(const hz_poller_vt *vt, pc_ctx *c);
int pc_read_write_one_entry(const hz_poller_vt *vt, pc_ctx *c);
int pc_peer_close(const hz_poller_vt *vt, pc_ctx *c);
int pc_peer_close_wakes_writer(const hz_poller_vt *vt, pc_ctx *c);
int pc_modify(const hz_poller_vt *vt, pc_ctx *c);
int pc_remove_mid_batch(const hz_poller_vt *vt, pc_ctx *c);
int pc_remove_then_reuse_fd(const hz_poller_vt *vt, pc_ctx *c);
int pc_einval(const hz_poller_vt *vt, pc_ctx *c);
int pc_wake_other_thread(const hz_poller_vt *vt, pc_ctx *c);
int pc_wake_coalesces(const hz_poller_vt *vt, pc_ctx *c);
int pc_wake_from_signal(const hz_poller_vt *vt, pc_ctx *c);
int pc_wake_with_ready_fd(const hz_poller_vt *vt, pc_ctx *c);
int pc_timeout(const hz_poller_vt *vt, pc_ctx *c);
int pc_many_fds(const hz_poller_vt *vt, pc_ctx *c);
int pc_eintr(const hz_poller_vt *vt, pc_ctx *c);
int pc_create_enomem(const hz_poller_vt *vt, pc_ctx *c);
int pc_counting_no_leak(const hz_poller_vt *vt, pc_ctx *c);
int pc_add_enomem_keeps_poller(const hz_poller_vt *vt, pc_ctx *c);
int pc_fair_batches(const hz_poller_vt *vt, pc_ctx *c);
/* The completion section: skipped by pollers without HZ_POLLER_CAP_COMPLETION. */
int pc_c_recv(const hz_poller_vt *vt, pc_ctx *c);
int pc_c_send_order_close(const hz_poller_vt *vt, pc_ctx *c);
int pc_c_accept(const hz_poller_vt *vt, pc_ctx *c);
int pc_c_destroy_inflight(const hz_poller_vt *vt, pc_ctx *c);
int pc_c_quiesce_inflight(const hz_poller_vt *vt, pc_ctx *c);
int pc_c_idle_no_buffer(const hz_poller_vt *vt, pc_ctx *c);
int pc_c_send_no_completion(const hz_poller_vt *vt, pc_ctx *c);
int pc_c_send_error(const hz_poller_vt *vt, pc_ctx *c);
int pc_c_send_while_behind(const hz_poller_vt *vt, pc_ctx *c);

#endif
