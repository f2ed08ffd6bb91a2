/* memconn.h - an HTTP/1.1 connection over the in-memory transport
 * (core/event/memio.h), so a test or a fuzz target drives the real
 * connection state machine (partial reads and writes included) without
 * sockets. */
#ifndef HZ__MEMCONN_H
#define HZ__MEMCONN_H

#include <stddef.h>
#include "conn.h"
#include "memio.h"

/** Opens a connection over io on loop (a loop that is not running). */
HZ__HIDDEN int hz__memconn_open(hz__loop *loop, hz__memio *io, hz__conn **out);
/** Drives c until the input is used up and nothing moves any more (or the
 *  connection closed), at most max_steps steps. Returns the steps taken. */
HZ__HIDDEN int hz__memconn_run(hz__loop *loop, hz__memio *io, hz__conn *c, int max_steps);

#endif /* HZ__MEMCONN_H */
