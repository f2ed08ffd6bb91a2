/* fz_conn.h - what the whole-connection fuzz targets (fuzz_conn,
 * fuzz_ws_conn, fuzz_h2_conn) share: invariant checks that abort, a checked
 * in-memory transport over core/event/memio.c with a per-step write window,
 * and the hand-stepped loop (the ready queue, the virtual clock). The
 * server is created, never started; a target steps its one loop itself. */
#ifndef HZ_FZ_CONN_H
#define HZ_FZ_CONN_H

#include <stdint.h>
#include "conn.h"
#include "loop.h"
#include "memio.h"

/* The target's name in failure messages: each target defines it. */
extern const char fz_target[];

/** Prints "<fz_target>: invariant violated: what (file:line)" and aborts. */
__attribute__((noreturn)) void fz_fail(const char *what, const char *file, int line);

#define FZ_CHECK(cond, what)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fz_fail(what, __FILE__, __LINE__);                                                     \
    } while (0)

/* The client side of one connection. m's input is the current segment and
 * its output the capture (allocated from hz_allocator_default, so targets
 * counting the server's allocator see none of it: fz_tp_reset frees it).
 * The transport aborts on a read, send or shutdown after close, a send after
 * the FIN, and a second close. */
typedef struct fz_tp {
    hz__memio m;                   /* first: memio's functions take s->ctx as their hz__memio */
    size_t budget;                 /* bytes the client reads this step (SIZE_MAX: all) */
    int abrupt;                    /* closed without a FIN first */
    void (*on_close)(hz__sock *s); /* optional, runs at close (borrowed: static) */
} fz_tp;

/* Its transport: hz__conn_attach(loop, &fz_transport, tp, &c). */
extern const hz__transport_vt fz_transport;

/** Frees the capture and zeroes t; out_max: bytes to capture at most. */
void fz_tp_reset(fz_tp *t, size_t out_max);

/** Runs the loop's ready queue, as the loop does after events. */
void fz_run_ready(hz__loop *loop);

/** Moves the virtual clock ms forward: timers fire, ready work runs. */
void fz_advance(hz__loop *loop, uint64_t ms);

/** The split / clock generator (an LCG). */
uint32_t fz_rnd(uint32_t *s);

#endif
