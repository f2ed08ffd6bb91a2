/* h2.h - HTTP/2 connections over libnghttp2 (internal).
 *
 * An HTTP/1.1 connection (core/http1) whose first bytes are the HTTP/2
 * connection preface (prior knowledge on a plain listener, or after ALPN
 * "h2") is taken over in place: the same hz__conn keeps its transport,
 * buffers, timer and place in the loop, its io.vt becomes HTTP/2's and
 * c->h2 holds the session. nghttp2 does framing, HPACK and flow control;
 * streams, limits, timeouts and scheduling are here. Each stream embeds
 * the neutral hz_req first, with its own hz__res_ops table, so handlers
 * run unchanged. */
#ifndef HZ__H2_H
#define HZ__H2_H

#include "conn.h"

/** Turns c (HTTP/1.1, nothing parsed yet, the preface at c->in.off) into
 *  an HTTP/2 connection: the server's h2_takeover hook. The buffered bytes
 *  are fed to the session on the next run (queued on the loop). 0, or
 *  HZ_ENOMEM / HZ_ENOTSUP (built without HTTP/2): the caller closes c.
 *  thread: c's loop. */
HZ__HIDDEN int hz__h2_takeover(hz__conn *c);

/** Frees the loop's spare HTTP/2 blocks (loop->h2pool) once its
 *  connections are gone: the server's destroy path.
 *  thread: the loop's, or any once the loop thread has ended. */
HZ__HIDDEN void hz__h2_pool_free(hz__loop *loop);

#endif /* HZ__H2_H */
