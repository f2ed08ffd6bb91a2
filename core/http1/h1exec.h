/* h1exec.h - HTTP/1.1's side of executor handlers (internal;
 * core/http1/h1exec.c): the hooks of core/http/exec.c and the EOF watch
 * while a handler runs on a worker. */
#ifndef HZ__H1EXEC_H
#define HZ__H1EXEC_H

#include "conn.h"
#include "exec.h"

/** HTTP/1.1's hooks: the job holds c->refs; the deadline takes over the
 *  read buffer and answers 503 + close; a replay failure answers 500. */
HZ__HIDDEN extern const hz__exec_proto hz__h1_exec;

/** Whether the loop should poll c for readability while ex's handler runs
 *  on a worker (to notice the client going away). thread: loop. */
HZ__HIDDEN int hz__exec_watching(const struct hz_req *ex);
/** c became readable while its handler runs on a worker: EOF closes the
 *  connection (cancelling the request); pipelined bytes stop the watch;
 *  nothing is consumed. thread: loop. */
HZ__HIDDEN void hz__exec_peek(hz__conn *c);

#endif /* HZ__H1EXEC_H */
