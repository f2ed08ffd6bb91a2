/** @file httpz/backend.h
 * @brief The four vtables a backend implements: allocator, poller,
 * TLS and executor.
 *
 * Include this header only to write a backend (or a custom executor or
 * allocator); applications that use the compiled-in backends need only
 * <httpz/httpz.h>.
 *
 * Rules shared by every vtable:
 *   - Field order is fixed: abi, name, caps, then the operations in lifecycle
 *     order. The core refuses a table whose abi != HZ_BACKEND_ABI (HZ_EABI).
 *     HZ_BACKEND_ABI is bumped whenever a slot is appended or changes meaning.
 *   - A backend exports exactly one const table, e.g. hz_poller_epoll.
 *   - Operations return 0 (or a count) on success and a negative HZ_E* code on
 *     failure. A slot may be NULL only where its comment says "optional"; the
 *     core branches on caps bits, never on the name.
 *   - The contract comment on each slot is the specification; tests/backend/
 *     checks every backend against it.
 */
#ifndef HTTPZ_BACKEND_H
#define HTTPZ_BACKEND_H

#include <stddef.h>
#include <sys/uio.h>
#include <httpz/httpz.h>

#ifdef __cplusplus
extern "C" {
#endif

/** ABI number every vtable must carry in its abi field (2: the poller's
 *  completion slots were appended; 3: hz_tls_vt.idle). */
#define HZ_BACKEND_ABI 3u

/* ------------------------------------------------------------------------ */
/* Allocator                                                                 */
/* ------------------------------------------------------------------------ */

enum {
    /** free() and realloc() are told the size the block was allocated with
     *  (always true of the core; a backend may rely on it). */
    HZ_ALLOC_CAP_SIZED = 1u << 0,
    /** The allocator may be called from several threads at once. A server
     *  with more than one loop or with an executor requires it. */
    HZ_ALLOC_CAP_THREADSAFE = 1u << 1,
};

/** The allocator vtable, one per implementation (instances: hz_allocator). */
typedef struct hz_allocator_vt {
    unsigned abi;     /**< HZ_BACKEND_ABI */
    const char *name; /**< "default", "counting", ... */
    unsigned caps;    /**< HZ_ALLOC_CAP_* */
    /** Returns a block of at least size bytes aligned for any object, or NULL.
     *  size is never 0. */
    void *(*alloc)(void *ctx, size_t size);
    /** Resizes ptr (allocated with old_size) to new_size (> 0); returns the
     *  new block or NULL, in which case ptr is untouched and still owned by
     *  the caller. ptr is never NULL. */
    void *(*realloc)(void *ctx, void *ptr, size_t old_size, size_t new_size);
    /** Frees ptr, allocated with exactly size bytes. ptr is never NULL. */
    void (*free)(void *ctx, void *ptr, size_t size);
} hz_allocator_vt;

/** An allocator instance: a vtable plus its context. Copied by value into
 *  every object that allocates; ctx must outlive all of them. */
struct hz_allocator {
    const hz_allocator_vt *vt; /**< borrowed: static or outlives every user */
    void *ctx;                 /**< borrowed: passed to every call */
};

/** The process allocator (malloc/realloc/free); thread-safe. */
HZ_API extern const hz_allocator_vt hz_allocator_default_vt;
/** A ready instance of it: {&hz_allocator_default_vt, NULL}. */
HZ_API extern const hz_allocator hz_allocator_default;

/* ------------------------------------------------------------------------ */
/* Poller                                                                    */
/* ------------------------------------------------------------------------ */

/** Readiness bits, for interest (READ, WRITE) and for results (all). */
enum {
    HZ_EV_READ = 1u << 0,  /**< readable, or a listener has a connection */
    HZ_EV_WRITE = 1u << 1, /**< writable */
    HZ_EV_ERR = 1u << 2,   /**< error pending on the fd (result only) */
    HZ_EV_HUP = 1u << 3,   /**< peer closed or reset (result only) */
    HZ_EV_WAKE = 1u << 4,  /**< wake() was called (result only; fd = -1) */
    /** Interest only, and only given to a completion poller
     *  (HZ_POLLER_CAP_COMPLETION): the fd is a listening socket, so the
     *  poller accepts on it; READ then means "accept() has a result". */
    HZ_EV_ACCEPT = 1u << 5,
};

enum {
    /** Reports transitions only (EPOLLET / EV_CLEAR). No backend in this tree
     *  sets it: every poller here is level-triggered, as the contract says. */
    HZ_POLLER_CAP_EDGE = 1u << 0,
    /** wake() is cheap enough to call once per cross-thread message. */
    HZ_POLLER_CAP_CHEAP_WAKE = 1u << 1,
    /** Completion I/O (io_uring): the poller does the socket I/O of the fds
     *  registered with it, and the core moves bytes through the accept,
     *  recv, send, shutdown and close slots below instead of system calls.
     *  wait() still reports level-triggered readiness, of the poller's own
     *  queues: READ while received bytes (or EOF, or an error) wait for
     *  recv(), WRITE while send() has room. Set exactly when those slots
     *  are; the core never reads them from a table without this bit. */
    HZ_POLLER_CAP_COMPLETION = 1u << 2,
};

/** Flags of hz_poller_vt.recv. */
enum {
    HZ_IO_PEEK = 1u << 0, /**< copy without consuming (MSG_PEEK) */
};

typedef struct hz_poller hz_poller; /**< backend-defined */

/** One entry of the array hz_poller_vt.wait() fills. */
typedef struct hz_poll_event {
    void *udata;     /**< as given to add()/modify(); never dereferenced by the backend */
    int fd;          /**< the fd, or -1 for the wake entry */
    unsigned events; /**< HZ_EV_*; READ and WRITE for one fd arrive as ONE entry.
                        0 means "dropped by remove() during dispatch: skip it". */
} hz_poll_event;

/** The poller vtable: readiness notification, one poller per loop. */
typedef struct hz_poller_vt {
    unsigned abi;     /**< HZ_BACKEND_ABI */
    const char *name; /**< "epoll", "kqueue" */
    unsigned caps;    /**< HZ_POLLER_CAP_* */
    /** Creates a poller; all its memory comes from a (copied). Returns 0, or
     *  HZ_ENOMEM / HZ_EMFILE / HZ_ESYS with *out = NULL and nothing leaked. */
    int (*create)(hz_poller **out, const hz_allocator *a);
    /** Frees the poller. NULL-safe. Does not close registered fds. */
    void (*destroy)(hz_poller *p);
    /** Registers fd with interest events (HZ_EV_READ|HZ_EV_WRITE, may be 0)
     *  and udata. Level-triggered: an fd stays reported while it is ready.
     *  With interest 0 nothing is reported for it except, on backends that
     *  cannot mask them (epoll), HUP/ERR. HZ_EINVAL if fd is already
     *  registered or negative; HZ_ENOMEM leaves fd unregistered. */
    int (*add)(hz_poller *p, int fd, unsigned events, void *udata);
    /** Replaces the interest set and udata of a registered fd. Entries of the
     *  current batch are not rewritten. HZ_EINVAL if fd is not registered. */
    int (*modify)(hz_poller *p, int fd, unsigned events, void *udata);
    /** Unregisters fd; call before close(fd). Also sets events = 0 on that
     *  fd's entries of the batch last returned by wait(), so a dispatcher that
     *  skips events == 0 never sees them. HZ_EINVAL if not registered. */
    int (*remove)(hz_poller *p, int fd);
    /** Waits up to timeout_ms (-1: forever, 0: poll) and fills at most max
     *  entries of ev, one per fd. Returns the count (0 on timeout or when a
     *  signal interrupted it), HZ_EINVAL if max <= 0, or another < 0 code.
     *  A pending wake() yields one entry {NULL, -1, HZ_EV_WAKE} and is
     *  consumed by it; several wakes before a wait() give one entry.
     *  A peer close shows as READ (with READ interest; read() then returns
     *  0), HUP, or both, depending on the backend (kqueue cannot tell a
     *  half-close from a close, so it sets HUP only on the write side):
     *  treat READ + EOF as the close and HUP as a hint. A fd waiting for
     *  WRITE is reported (WRITE, HUP or ERR) when its peer goes away.
     *  The array stays the "current batch" for remove() until the next wait().
     *  With timeout_ms != 0 a poller may hold a ready entry for a short
     *  window to report it together with others (the io_uring poller: at
     *  most 50 us, while answered connections are expected to send); the
     *  window's end is not the timeout: with nothing to report, wait()
     *  still lasts timeout_ms. */
    int (*wait)(hz_poller *p, hz_poll_event *ev, int max, int timeout_ms);
    /** Makes a concurrent or the next wait() return with an HZ_EV_WAKE entry.
     *  thread: any (the only such op; all others belong to the loop thread).
     *  Async-signal-safe. */
    int (*wake)(hz_poller *p);

    /* ---- Completion I/O: with HZ_POLLER_CAP_COMPLETION only, else NULL ----
     * The poller owns every buffer the kernel reads or writes: what recv()
     * copies out was received into the poller's buffers (an idle fd holds
     * none), what send() accepted is copied, so the caller's buffers are
     * free when a call returns, as with the socket calls these replace. An
     * fd registered with add() is driven only through these slots until
     * close(); the caller may still use it for getpeername(), setsockopt()
     * and the like. All belong to the loop thread. */

    /** The next connection accepted on lfd (registered with HZ_EV_ACCEPT):
     *  a non-blocking, close-on-exec fd the caller owns; HZ_EAGAIN when none
     *  is queued (READ is reported when one is); HZ_EMFILE (also for
     *  ENFILE, ENOBUFS, ENOMEM: accepting stopped; modify(lfd) back to
     *  READ|ACCEPT restarts it) or another < 0 code. */
    int (*accept)(hz_poller *p, int lfd);
    /** Copies up to len (> 0) received bytes into buf: n > 0, 0 at end of
     *  stream, HZ_EAGAIN when nothing is queued (the poller keeps receiving
     *  while the fd has READ interest), or < 0 (the connection's error,
     *  after the bytes received before it). flags: HZ_IO_PEEK. */
    long (*recv)(hz_poller *p, int fd, void *buf, size_t len, unsigned flags);
    /** Takes a copy of up to the iovcnt (1..64) buffers' bytes and queues
     *  it behind earlier output of fd, in order: the count taken (> 0; may
     *  be less than offered when the fd's budget is nearly used), HZ_EAGAIN
     *  when the budget is used (WRITE is reported once there is room
     *  again), or < 0 when an earlier send failed (HZ_ECLOSED, ...). Sent
     *  at the next wait() at the latest. */
    long (*send)(hz_poller *p, int fd, const struct iovec *iov, int iovcnt);
    /** shutdown(fd, SHUT_WR) once the output queued before it is written. */
    int (*shutdown)(hz_poller *p, int fd);
    /** Replaces close(fd) for a registered or formerly registered fd
     *  (remove() first): the receive is cancelled, output already queued
     *  is still written (with a bounded wait, as a kernel sends what a
     *  closed socket still had buffered), then the fd is closed. The
     *  number may not be reused before that, so the caller must not
     *  close(2) it itself. Returns 0. */
    int (*close)(hz_poller *p, int fd);
    /** Called once on the loop thread after its last wait(): writes the
     *  output still queued for up to timeout_ms, then cancels every
     *  operation in flight and waits for the kernel to give their buffers
     *  back, so destroy() (on any thread) frees nothing still in use. */
    void (*quiesce)(hz_poller *p, int timeout_ms);
    /** Output bytes of fd that send() took and the kernel has not taken
     *  yet (0 for an unknown fd). The core counts them in the connection's
     *  output budget, as if they were still its own buffer: with readiness
     *  pollers the same bytes wait in the kernel instead. */
    size_t (*queued)(hz_poller *p, int fd);
} hz_poller_vt;

#if HZ_HAVE_POLLER_EPOLL
/** The epoll poller (Linux). */
HZ_API extern const hz_poller_vt hz_poller_epoll;
#endif
#if HZ_HAVE_POLLER_KQUEUE
/** The kqueue poller (macOS, BSDs; Linux only in libkqueue test builds). */
HZ_API extern const hz_poller_vt hz_poller_kqueue;
#endif
#if HZ_HAVE_POLLER_IO_URING
/** The io_uring completion poller (Linux, liburing; HZ_POLLER=io_uring). */
HZ_API extern const hz_poller_vt hz_poller_io_uring;
#endif
/** Every poller compiled in, the default (HZ_POLLER_NAME) first, then NULL. */
HZ_API extern const hz_poller_vt *const hz_pollers[];

/* ------------------------------------------------------------------------ */
/* TLS                                                                       */
/* ------------------------------------------------------------------------ */

typedef struct hz_tls_ctx hz_tls_ctx;         /**< backend-defined; per listener */
typedef struct hz_tls_session hz_tls_session; /**< backend-defined; per connection */

/** The I/O shim a TLS session reads and writes through: the TLS library never
 *  touches the socket, so the core keeps byte counters and timeouts, and tests
 *  run TLS over in-memory pipes. */
typedef struct hz_tls_io { /* owner: the conn; outlives its session */
    long (*send)(void *io_ctx, const void *buf, size_t len); /**< n > 0, HZ_EAGAIN, or < 0 */
    long (*recv)(void *io_ctx, void *buf, size_t len);       /**< n > 0, 0 = EOF, HZ_EAGAIN, < 0 */
    void *io_ctx;                                            /**< passed to send and recv */
} hz_tls_io;

enum {
    HZ_TLS_CAP_TLS13 = 1u << 0,  /**< can negotiate TLS 1.3 */
    HZ_TLS_CAP_ALPN = 1u << 1,   /**< supports ALPN selection */
    HZ_TLS_CAP_SNI = 1u << 2,    /**< selects a certificate by SNI host name */
    HZ_TLS_CAP_RELOAD = 1u << 3, /**< ctx_reload works on a live context */
    /** resumes sessions with stateless tickets (hz_tls_config.no_tickets) */
    HZ_TLS_CAP_TICKETS = 1u << 4,
};

/** The TLS vtable: non-blocking TLS over the hz_tls_io shim. */
typedef struct hz_tls_vt {
    unsigned abi;     /**< HZ_BACKEND_ABI */
    const char *name; /**< "mbedtls", "openssl" */
    unsigned caps;    /**< HZ_TLS_CAP_* */
    /** Builds a server context from cfg (copied; cfg may be freed after).
     *  HZ_EINVAL / HZ_ETLS (bad certificate or key, unreadable file) /
     *  HZ_ENOMEM / HZ_ENOTSUP (min_version TLS 1.3 without
     *  HZ_TLS_CAP_TLS13), *out = NULL. */
    int (*ctx_create)(hz_tls_ctx **out, const hz_tls_config *cfg, const hz_allocator *a);
    /** Swaps certificates/keys from cfg on a live context: sessions created
     *  after it returns use the new ones; existing sessions are unaffected.
     *  On failure the old configuration stays. thread: any (serialised by the
     *  core). */
    int (*ctx_reload)(hz_tls_ctx *ctx, const hz_tls_config *cfg);
    /** Releases the context. Sessions still alive keep what they use and
     *  the memory goes with the last of them. NULL-safe. */
    void (*ctx_destroy)(hz_tls_ctx *ctx);
    /** Creates a server session doing I/O through io (borrowed; outlives it). */
    int (*session_create)(hz_tls_ctx *ctx, const hz_tls_io *io, hz_tls_session **out);
    /** Advances the handshake: 0 when done, HZ_TLS_WANT_READ/WRITE to wait for
     *  the socket, or on failure: HZ_ETLS (protocol, alert, no shared
     *  version/cipher/ALPN), HZ_ECLOSED (the peer closed the transport),
     *  the shim's own error code (send/recv < 0), HZ_ENOMEM. Any failure is
     *  final: later calls fail too. */
    int (*handshake)(hz_tls_session *s);
    /** Reads decrypted bytes: n > 0, 0 on close_notify or on end of the
     *  transport without one (HTTP framing catches a truncated message),
     *  HZ_TLS_WANT_READ/WRITE, or < 0 as for handshake. len must be > 0. */
    long (*read)(hz_tls_session *s, void *buf, size_t len);
    /** Writes: n > 0 bytes accepted, HZ_TLS_WANT_READ/WRITE, or < 0. After a
     *  WANT result the caller retries with the same buffer. */
    long (*write)(hz_tls_session *s, const void *buf, size_t len);
    /** Decrypted bytes already held by the library: the core reads them before
     *  it waits on the socket again, or they would never be reported. */
    size_t (*pending)(hz_tls_session *s);
    /** Sends close_notify (best effort): 0, WANT_*, or < 0. */
    int (*shutdown)(hz_tls_session *s);
    /** Frees the session. NULL-safe. */
    void (*session_destroy)(hz_tls_session *s);
    /** The negotiated ALPN protocol, or NULL. Optional (NULL without
     *  HZ_TLS_CAP_ALPN). */
    const char *(*alpn_selected)(hz_tls_session *s);
    /** The negotiated protocol version (HZ_TLS_V1_2, HZ_TLS_V1_3) once the
     *  handshake is done, else 0. Optional (may be NULL). */
    unsigned (*version)(hz_tls_session *s);
    /** The SNI host name the client sent (valid for the session's life), or
     *  NULL. Optional (may be NULL). */
    const char *(*server_name)(hz_tls_session *s);
    /** The connection has nothing in flight (no request, no output waiting):
     *  drop the buffers the library can take again on the next read or
     *  write. A session holding bytes (a partial record, unread plaintext,
     *  output not yet sent) keeps them: it is a hint, never an error. The
     *  core calls it each time the connection goes idle, so it must be cheap
     *  when there is nothing to drop. Optional (may be NULL). */
    void (*idle)(hz_tls_session *s);
} hz_tls_vt;

#if HZ_HAVE_TLS
/** The TLS backend compiled in (HZ_TLS_NAME): hz_tls_mbedtls or hz_tls_openssl. */
HZ_API extern const hz_tls_vt *const hz_tls_default;
#endif

/* ------------------------------------------------------------------------ */
/* Executor                                                                  */
/* ------------------------------------------------------------------------ */

enum {
    /** submit() may be called from several threads at once. */
    HZ_EXEC_CAP_THREADSAFE = 1u << 0,
};

/** A job: status is 0 when it runs on a worker and HZ_ECANCELED when it runs
 *  on the shutdown path, so whoever owns arg can always free it. */
typedef void (*hz_job_fn)(void *arg, int status);

/** The executor vtable: where blocking handlers run (typedef'd as
 *  hz_executor_vt in httpz.h). */
struct hz_executor_vt {
    unsigned abi;     /**< HZ_BACKEND_ABI */
    const char *name; /**< "pool", ... */
    unsigned caps;    /**< HZ_EXEC_CAP_* */
    /** Queues fn(arg, status). Every accepted job runs exactly once. Returns 0,
     *  HZ_EBUSY when the queue is full (fn is then never called), or
     *  HZ_ECANCELED after shutdown began. thread: any. */
    int (*submit)(void *self, hz_job_fn fn, void *arg);
    /** Stops accepting, runs (status 0) or cancels (HZ_ECANCELED) every queued
     *  job, joins the workers and frees self. Called once; no submit() may
     *  start after it returned. thread: any but the executor's own workers. */
    void (*shutdown)(void *self);
    /** Jobs accepted but not started yet (for the metrics gauge). Optional:
     *  NULL when the executor cannot tell. thread: any; a racy snapshot. */
    unsigned long (*queue_depth)(void *self);
};

/* struct hz_executor (the instance {vt, self}), hz_executor_pool_vt, the
 * pool's options and hz_executor_pool_create/destroy are declared in
 * <httpz/httpz.h>: applications create and destroy the pool without this
 * header. */

/* ------------------------------------------------------------------------ */
/* Helpers for backends                                                      */
/* ------------------------------------------------------------------------ */
/* What a backend may call besides the vtables above (docs/backends.md): the
 * same code the core uses, so an out-of-tree backend built against the
 * installed headers behaves like the ones in backends/. */

/** Fills a size-prefixed config struct for its hz_*_init_sized(): writes
 *  the first size bytes of defaults (a whole struct of full_size bytes) to
 *  dst, then dst's leading size_t = size when it fits (docs/abi.md). For
 *  backends and handlers with config structs of their own. thread: any. */
HZ_API void hz_sized_init(void *dst, size_t size, const void *defaults, size_t full_size);

/** Reads a caller's size-prefixed struct src into dst, which already holds
 *  the defaults (full_size bytes): copies the first src->size bytes, keeps
 *  the defaults past them and sets dst's size to full_size.
 *  @return 0; HZ_EINVAL when src's size is below min_size (a size no
 *          release had, or garbage) or above full_size (a newer header
 *          than this library, or garbage). thread: any. */
HZ_API int hz_sized_import(void *dst, size_t full_size, const void *src, size_t min_size);

/** Checks an allocator instance before a backend keeps it.
 *  @return 0; HZ_EINVAL if a or a->vt is NULL or a slot is missing;
 *          HZ_EABI if a->vt->abi != HZ_BACKEND_ABI.
 *  thread: any. */
HZ_API int hz_allocator_check(const hz_allocator *a);

/** Allocates size bytes from a (a size of 0 is asked as 1: allocators never
 *  see 0). a must have passed hz_allocator_check().
 *  @return the block, or NULL when the allocator fails.
 *  thread: any if a is HZ_ALLOC_CAP_THREADSAFE, else the allocator's owner. */
HZ_API void *hz_alloc(const hz_allocator *a, size_t size);

/** hz_alloc() and zero-filled. @return the block or NULL. thread: as hz_alloc. */
HZ_API void *hz_alloc_zero(const hz_allocator *a, size_t size);

/** Resizes ptr (allocated from a with old_size bytes) to new_size; ptr NULL
 *  allocates. @return the new block, or NULL with ptr untouched and still
 *  the caller's. thread: as hz_alloc. */
HZ_API void *hz_alloc_resize(const hz_allocator *a, void *ptr, size_t old_size, size_t new_size);

/** Frees ptr, allocated from a with exactly size bytes. NULL-safe.
 *  thread: as hz_alloc. */
HZ_API void hz_alloc_free(const hz_allocator *a, void *ptr, size_t size);

/** Maps an errno value to an HZ_E* code at the backend boundary: 0 -> 0,
 *  EAGAIN/EWOULDBLOCK/EINPROGRESS -> HZ_EAGAIN, ENOMEM/ENOBUFS -> HZ_ENOMEM,
 *  EMFILE/ENFILE -> HZ_EMFILE, EPIPE/ECONNRESET -> HZ_ECLOSED, ... and
 *  anything without a closer code -> HZ_ESYS. Never returns a positive
 *  value. thread: any; async-signal-safe. */
HZ_API int hz_err_from_errno(int err);

/** Checks a TLS configuration the way every TLS backend must before it
 *  builds anything from it: 1..HZ_TLS_MAX_CERTS certificates, exactly one
 *  source (file or PEM) for each certificate and key, a known min_version,
 *  and an ALPN list of 1..255-byte names (RFC 7301 §3.1) separated by ',',
 *  ticket_lifetime at most HZ_TLS_TICKET_LIFETIME_MAX.
 *  caps are the backend's HZ_TLS_CAP_* bits.
 *  @return 0; HZ_EINVAL; HZ_ENOTSUP for min_version HZ_TLS_V1_3 without
 *          HZ_TLS_CAP_TLS13 in caps.
 *  thread: any. */
HZ_API int hz_tls_config_check(const hz_tls_config *cfg, unsigned caps);

/** The certificate for a TLS server name: names has n entries (NULL: a
 *  certificate without a name). An exact name (ASCII case ignored) beats a
 *  "*.rest" wildcard, which covers exactly one leftmost label (RFC 6125
 *  §6.4.3); the first of equal matches wins. host need not be
 *  NUL-terminated (len bytes); names or host NULL picks 0.
 *  @return the index of the best match, or 0 (the default certificate)
 *          when nothing matches.
 *  thread: any. */
HZ_API unsigned hz_tls_sni_pick(const char *const *names, unsigned n, const char *host, size_t len);

/** One TLS configuration snapshot, shared by a backend's context (while it is
 *  current) and every session created from it: the backend-neutral part of
 *  an hz_tls_config (SNI names and the parsed ALPN list, copied), a
 *  reference count, and a zero-filled block of backend data (certificates,
 *  the TLS library's configuration). Opaque; made by hz_tls_snap_create(). */
typedef struct hz_tls_snap hz_tls_snap;

/** Releases the backend data of a snapshot whose last reference went away:
 *  it runs once, on whichever thread released last, before the snapshot's
 *  memory is freed. It must cope with data only partly built (a backend
 *  that failed half-way through releases its snapshot too). */
typedef void (*hz_tls_snap_fini)(hz_tls_snap *snap, void *data);

/** Builds a snapshot from cfg (checked with hz_tls_config_check(cfg, caps),
 *  then copied; cfg may be freed afterwards) with data_size bytes of
 *  zero-filled backend data, all from a (copied; NULL = default). One
 *  reference, the caller's.
 *  ALPN: cfg->alpn NULL means "http/1.1"; "" turns ALPN off.
 *  @return 0; HZ_EINVAL / HZ_ENOTSUP (as hz_tls_config_check; also a NULL
 *          out), HZ_EABI (a), HZ_ENOMEM; *out = NULL on failure and fini
 *          is not called.
 *  thread: any. */
HZ_API int hz_tls_snap_create(hz_tls_snap **out, const hz_tls_config *cfg, unsigned caps,
                              size_t data_size, hz_tls_snap_fini fini, const hz_allocator *a);

/** The backend data block (data_size bytes, aligned for any object; lives
 *  as long as the snapshot). thread: any. */
HZ_API void *hz_tls_snap_data(const hz_tls_snap *snap);

/** Adds a reference. The caller must already hold one (or hold the store's
 *  lock, as hz_tls_store_get() does). thread: any. */
HZ_API void hz_tls_snap_ref(hz_tls_snap *snap);

/** Drops a reference; the last one calls fini and frees the snapshot.
 *  NULL-safe. thread: any. */
HZ_API void hz_tls_snap_release(hz_tls_snap *snap);

/** hz_tls_sni_pick() over the snapshot's certificates (the sni_host of each
 *  entry of cfg->certs). @return the certificate index, 0 when nothing
 *  matches. thread: any. */
HZ_API unsigned hz_tls_snap_sni_pick(const hz_tls_snap *snap, const char *host, size_t len);

/** The ALPN protocols in preference order, NUL-terminated strings in a
 *  NULL-terminated array (the form mbedtls_ssl_conf_alpn_protocols takes),
 *  or NULL when ALPN is off. Lives as long as the snapshot. thread: any. */
HZ_API const char *const *hz_tls_snap_alpn(const hz_tls_snap *snap);

/** Server-side ALPN choice (RFC 7301 §3.2): the first of our protocols that
 *  the client offered. offer is the client's ProtocolNameList without its
 *  2-byte length (length-prefixed names, len bytes; a malformed tail is
 *  ignored).
 *  @return our NUL-terminated name (lives as long as the snapshot), or NULL
 *          when nothing is shared or ALPN is off: the caller then answers
 *          with the no_application_protocol alert.
 *  thread: any. */
HZ_API const char *hz_tls_snap_alpn_select(const hz_tls_snap *snap, const unsigned char *offer,
                                           size_t len);

/** A TLS context's current snapshot, swapped by live reload while sessions
 *  are being created on other threads. Opaque. */
typedef struct hz_tls_store hz_tls_store;

/** Creates a store whose current snapshot is first; on success the store
 *  takes over the caller's reference to first. Memory from a (copied;
 *  NULL = default).
 *  @return 0; HZ_EINVAL (out or first NULL), HZ_EABI, HZ_ENOMEM, HZ_ESYS;
 *          on failure *out = NULL and the caller keeps its reference.
 *  thread: any. */
HZ_API int hz_tls_store_create(hz_tls_store **out, hz_tls_snap *first, const hz_allocator *a);

/** The current snapshot with a new reference for the caller (a session
 *  takes it at creation and releases it when it ends). thread: any. */
HZ_API hz_tls_snap *hz_tls_store_get(hz_tls_store *st);

/** Makes snap current, taking over the caller's reference, and releases the
 *  store's reference to the previous one (freed here unless sessions still
 *  hold it). Sessions created after it returns get snap. thread: any. */
HZ_API void hz_tls_store_swap(hz_tls_store *st, hz_tls_snap *snap);

/** Releases the current snapshot and frees the store. NULL-safe. thread:
 *  any, once no hz_tls_store_get()/swap() on it can still run. */
HZ_API void hz_tls_store_destroy(hz_tls_store *st);

#ifdef __cplusplus
}
#endif
#endif /* HTTPZ_BACKEND_H */
