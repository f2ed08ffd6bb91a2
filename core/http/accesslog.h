/* accesslog.h - building an access-log entry for a finished request
 * (internal; the formatters are public in httpz.h). */
#ifndef HZ_ACCESSLOG_H
#define HZ_ACCESSLOG_H

#include <stdint.h>
#include "internal.h"

typedef struct hz__conn hz__conn;
struct hz_req;

/** Fills an hz_access_entry for ex (response complete) and calls
 *  cfg.access_log. Only called when one is set. thread: the loop. */
HZ_HIDDEN void hz__accesslog_emit(hz__conn *c, struct hz_req *ex, uint64_t duration_ns);

#endif /* HZ_ACCESSLOG_H */
