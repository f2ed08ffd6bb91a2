/* listen.h - a listener's sockets: TCP (one per loop with SO_REUSEPORT),
 * a Unix-domain path, or an adopted descriptor (inherited, or passed by
 * systemd socket activation). The server layer validates the protocols
 * and TLS; this module only opens, checks and closes sockets. */
#ifndef HZ_LISTEN_H
#define HZ_LISTEN_H

#include "loop.h"

/** Opens (or adopts) the sockets of listener number idx as lc says, into
 *  l (zeroed by the caller): l->socks, l->nsocks, l->port and the Unix
 *  fields. nsocks is the number of SO_REUSEPORT sockets wanted for TCP
 *  (1 = one shared socket); Unix and adopted sockets are always one.
 *  On failure nothing is left open or allocated, and an adopted lc->fd
 *  stays the caller's. Errors: see hz_server_listen_with. */
HZ__HIDDEN int hz__listen_open(hz__listener *l, const hz_listener_config *lc, const hz_allocator *a,
                               int idx, unsigned nsocks);

/** Closes the sockets of l still open (the loops close theirs at stop),
 *  frees l->socks and removes the Unix socket file l made, if the file at
 *  that path is still the one it bound. NULL-safe fields; idempotent. */
HZ__HIDDEN void hz__listen_close(hz__listener *l, const hz_allocator *a);

#endif
