/* tls.h - TLS in the server (internal): a TLS listener's context, the
 * handshake cap, attaching the TLS transport (core/event/sock.h) to a
 * connection of a TLS listener. The protocol itself is the backend's
 * (hz_tls_vt). */
#ifndef HZ__TLS_H
#define HZ__TLS_H

#include "conn.h"

/** Creates l's TLS context from cfg with the server's TLS backend.
 *  HZ_ENOTSUP without one, HZ_EABI, or the backend's ctx_create error. */
HZ__HIDDEN int hz__tls_listener_init(hz_server *srv, hz__listener *l, const hz_tls_config *cfg);
/** Releases l's TLS context (sessions still open keep what they use). */
HZ__HIDDEN void hz__tls_listener_fini(hz__listener *l);
/** Turns a just-accepted connection of a TLS listener into a TLS one (server
 *  side, handshake pending). HZ_EBUSY past cfg.max_tls_handshakes, HZ_ENOMEM,
 *  or the backend's error; on failure c is unchanged. */
HZ__HIDDEN int hz__tls_conn_attach(hz__conn *c, const hz__listener *l);

#endif /* HZ__TLS_H */
