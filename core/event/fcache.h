/* fcache.h - the loop's open-file cache (internal; docs/architecture.md,
 * "Open-file cache"). Regular files opened by a handler (the static one)
 * are kept open for a short time, keyed by (owner, bytes), with the
 * caller's metadata (its struct stat); fds go out as counted references.
 * Loop thread only: no locks. */
#ifndef HZ__FCACHE_H
#define HZ__FCACHE_H

#include <stddef.h>
#include <stdint.h>
#include "internal.h"

typedef struct hz__loop hz__loop;
typedef struct hz__fcache hz__fcache;

#define HZ__FCACHE_META_MAX 256u /* bytes of the caller's metadata per entry */
#define HZ__FCACHE_KEY_MAX 4096u

/** A reference to key's fd (>= 0) and its metadata copied to meta
 *  (meta_len must be what was put), or HZ_ENOENT (none, or expired: then
 *  dropped). thread: the loop. */
HZ__HIDDEN int hz__fcache_get(hz__loop *loop, const void *owner, const char *key, size_t klen,
                              void *meta, size_t meta_len);
/** Hands fd (open, the caller's) to the cache under key for ttl_ms, with
 *  the table bounded to max entries (dropping expired ones, then the
 *  oldest). 0: fd is now a reference (give it back with
 *  hz__fcache_release); < 0 (HZ_EINVAL, HZ_ENOMEM): not cached, fd still
 *  the caller's. thread: the loop. */
HZ__HIDDEN int hz__fcache_put(hz__loop *loop, const void *owner, const char *key, size_t klen,
                              unsigned max, unsigned ttl_ms, int fd, const void *meta,
                              size_t meta_len);
/** Whether fd is a reference of the cache (in the table or dropped with
 *  references out). thread: the loop. */
HZ__HIDDEN int hz__fcache_holds(hz__loop *loop, int fd);
/** Gives back one reference to fd; an fd the cache does not hold is
 *  closed. thread: the loop. */
HZ__HIDDEN void hz__fcache_release(hz__loop *loop, int fd);
/** Closes every fd and frees the cache (loop teardown, after every
 *  connection is gone). NULL-safe. thread: the loop's owner. */
HZ__HIDDEN void hz__fcache_free(hz__loop *loop);
/** Entries in the table (tests). */
HZ__HIDDEN unsigned hz__fcache_count(const hz__loop *loop);

#endif
