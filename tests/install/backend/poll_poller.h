/* poll_poller.h - an out-of-tree poller: poll(2) behind hz_poller_vt, built
 * by the install test against the installed <httpz/backend.h> only. */
#ifndef OOT_POLL_POLLER_H
#define OOT_POLL_POLLER_H

#include <httpz/backend.h>

/** The poll(2) poller ("poll"): level-triggered, O(registered fds) per
 *  wait, for any POSIX system. */
extern const hz_poller_vt oot_poller_poll;

#endif
