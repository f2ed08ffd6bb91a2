/* sock.h - transports: how a connection of any protocol (HTTP/1.1 now,
 * HTTP/2 and WebSocket later) moves bytes. A connection embeds an hz__sock;
 * the transport behind it is a plain socket, TLS over the hz_tls_io shim,
 * or an in-memory pipe (memio.h) for tests and fuzzing (internal). */
#ifndef HZ__SOCK_H
#define HZ__SOCK_H

#include <stdint.h>
#include <sys/uio.h>
#include "internal.h"
#include "buf.h"

typedef struct hz__sock hz__sock;

/** Connection I/O. Results: bytes, 0 = EOF (recv), HZ_EAGAIN, or < 0. */
typedef struct hz__transport_vt {
    long (*recv)(hz__sock *s, void *buf, size_t len);
    long (*send)(hz__sock *s, const void *buf, size_t len);
    long (*writev)(hz__sock *s, const struct iovec *iov, int iovcnt);
    int (*shutdown)(hz__sock *s); /* no more writes: FIN (best effort) */
    void (*close)(hz__sock *s);   /* releases the transport (closes the fd) */
    /* Optional (NULL for sockets). The deadline (ms) of a handshake still in
     * progress, else 0: the owner closes the connection then. */
    uint64_t (*handshake_deadline)(hz__sock *s);
    /* Optional. Input to read without a READ event: TLS holds decrypted
     * bytes, or a step that waited for writability can run again. */
    int (*has_input)(hz__sock *s);
    /* Optional. Output the transport took and the kernel did not yet: a
     * completion poller's queue (user memory where a socket's waits in the
     * kernel), which the owners count in their output budgets. */
    size_t (*queued)(const hz__sock *s);
    /* Optional (NULL for sockets). Drops now the buffers the transport can
     * take again (hz_tls_vt.idle), unless some hold data in flight. Owners
     * do not call it: they go through hz__sock_idle, which delays it. */
    void (*idle)(hz__sock *s);
    /* Optional, with idle. The owner's idle point (see hz__sock_idle). */
    uint64_t (*quiet)(hz__sock *s, uint64_t now);
    /* 1: the bytes are encrypted on the wire (TLS, whatever moves the
     * ciphertext: a socket or a completion poller). Asked through
     * hz__sock_is_tls, never by comparing transport pointers. */
    unsigned is_tls : 1;
    /* 1: the transport keeps no state of its own beyond the fd (a plain
     * socket, or one whose bytes wait in the poller's per-fd queue): the
     * owner may drop the connection object and rebuild the transport from
     * the fd alone (parked connections, park.h). Asked through
     * hz__sock_parkable, never by comparing transport pointers. */
    unsigned stateless : 1;
} hz__transport_vt;

struct hz__sock {               /* owner: embedded in its connection */
    const hz__transport_vt *tp; /* borrowed: static */
    void *ctx;                  /* owned by the transport (NULL for sockets) */
    int fd;                     /* owns (via tp->close); -1 for in-memory */
    /* Set by the transport: a step (TLS handshake) waits for writability.
     * The owner polls for HZ_EV_WRITE while set and clears it on the event. */
    unsigned want_write : 1;
};

HZ__HIDDEN extern const hz__transport_vt hz__transport_socket;
HZ__HIDDEN extern const hz__transport_vt hz__transport_tls;
HZ__HIDDEN extern const hz__transport_vt hz__transport_cio;

/** A completion poller (HZ_POLLER_CAP_COMPLETION) doing a loop's socket I/O:
 *  the ctx of its sockets' transport (hz__transport_cio). */
typedef struct hz__cio {    /* owner: embedded in its loop */
    const hz_poller_vt *pv; /* borrowed: static; NULL: a readiness poller */
    hz_poller *p;           /* borrowed: the loop's poller */
} hz__cio;

/** Plain socket transport over fd. */
HZ__HIDDEN void hz__sock_init(hz__sock *s, int fd);

/** Moves the transport of src into dst (another owner's embedded hz__sock).
 *  The TLS shim reaches the socket through its own copy, so this is a
 *  copy; src is left closed (fd -1), so closing it releases nothing. */
HZ__HIDDEN void hz__sock_move(hz__sock *dst, hz__sock *src);

/** Socket transport over fd whose I/O goes through the completion poller
 *  cio (borrowed: outlives the socket). */
HZ__HIDDEN void hz__sock_init_cio(hz__sock *s, const hz__cio *cio, int fd);

/** Looks at the next raw byte of the socket under s (a TLS transport's
 *  too) without taking it: 1 (a byte waits), 0 (end of stream), HZ_EAGAIN
 *  (nothing yet) or < 0; HZ_EINVAL without a socket. */
HZ__HIDDEN long hz__sock_peek(hz__sock *s);

/** What an owner counts in its output budget for the transport's queue
 *  (tp->queued), at most cap. Owners pass half their budget (or less): an
 *  owner whose own buffer is empty is then always under half its budget,
 *  so its drain never waits for an event only the poller's queue could
 *  give (it reports WRITE while it has room, not when it empties). A
 *  readiness socket's transport has no queue: 0, and no call. */
static inline size_t hz__sock_held(const hz__sock *s, size_t cap)
{
    if (HZ__LIKELY(!s->tp->queued))
        return 0;
    size_t q = s->tp->queued(s);
    return q < cap ? q : cap;
}

/** How long a transport waits, quiet, before it drops its buffers (ms).
 *  Not at once: a keep-alive client sends its next request, a WebSocket
 *  peer its next message, an HTTP/2 client its next batch within
 *  microseconds, and dropping and retaking the TLS buffers each time cost
 *  a free and a malloc of them per request (and heap trims). */
#define HZ__SOCK_IDLE_MS 100u

/** The owner's idle point: the owner of s holds nothing in flight at now
 *  (no request, no output waiting; it dropped its own buffers). The
 *  transport drops its buffers once it has been quiet (idle points only,
 *  no read or write) for HZ__SOCK_IDLE_MS. Returns when the owner must
 *  call again, still idle, for that (its timer no later than this), or 0:
 *  nothing to wait for (dropped already, or a socket: no call, 0). Any
 *  read or write starts the wait again. */
static inline uint64_t hz__sock_idle(hz__sock *s, uint64_t now)
{
    return s->tp->quiet ? s->tp->quiet(s, now) : 0;
}

/** The cap every owner applies to hz__sock_held: what it counts of the
 *  transport's queue against an output budget, at most half of it (its
 *  drain runs at or under half). An owner whose drain waits for strictly
 *  less than half (HTTP/2's connection budget) passes that half as budget,
 *  so the queue alone never holds it at the mark: a quarter. */
static inline size_t hz__sock_held_in(const hz__sock *s, size_t budget)
{
    return hz__sock_held(s, budget / 2);
}

/** Whether s holds no transport state of its own, so its owner may park it
 *  (free the connection object, keep the fd): its transport says so. */
static inline int hz__sock_parkable(const hz__sock *s)
{
    return s->tp->stateless;
}

/** The plaintext of a full TLS record (RFC 8446 §5.1, RFC 5246 §6.2.1):
 *  the TLS transport cuts a write into records of this size. An owner
 *  that knows more output follows at once writes a multiple of it, so
 *  only the last record of a burst is short (docs/architecture.md, "TLS
 *  records per send"). */
#define HZ__TLS_RECORD 16384u

/** Whether the connection on s is TLS: its transport says so. */
static inline int hz__sock_is_tls(const hz__sock *s)
{
    return s->tp->is_tls;
}

/** Called once when a TLS handshake ends: ok = 1 done, 0 failed or closed
 *  before the end, HZ__TLS_NOT_TLS when the client's first byte cannot
 *  start a TLS record (plain HTTP on an HTTPS port, most likely): the
 *  transport is then a plain socket again (the TLS state is freed, nothing
 *  was read), so the owner can answer in plain text and close. The owner
 *  keeps its metrics and handshake count. */
#define HZ__TLS_NOT_TLS (-1)
typedef void (*hz__tls_handshake_fn)(hz__sock *s, int ok);

/** Turns the socket transport of s into a server-side TLS one (handshake
 *  pending until deadline, ms; 0 = none). a: the allocator of the session
 *  state. bc: the loop's buffer cache, whose spare gather buffer the
 *  socket shares with the loop's other TLS sockets (its allocator must be
 *  a; NULL: a buffer of its own). HZ_ENOMEM or the backend's error; on
 *  failure s is unchanged. */
HZ__HIDDEN int hz__tls_sock_attach(hz__sock *s, const hz_allocator *a, hz__bufcache *bc,
                                   const hz_tls_vt *vt, hz_tls_ctx *ctx, uint64_t deadline,
                                   hz__tls_handshake_fn on_handshake);

/** The ALPN protocol the TLS handshake of s chose, or NULL (none, not
 *  TLS, or the handshake is not over). */
HZ__HIDDEN const char *hz__tls_sock_alpn(hz__sock *s);

/** Encrypted bytes the TLS transport of s holds (records a write made
 *  that the socket did not take yet; the owner still holds their
 *  plaintext: docs/architecture.md, "TLS records per send"); 0 when s is
 *  not TLS. For tests and diagnostics. */
HZ__HIDDEN size_t hz__tls_sock_held(const hz__sock *s);

/** The most hz__tls_sock_held can be. */
HZ__HIDDEN size_t hz__tls_sock_held_max(void);

#endif /* HZ__SOCK_H */
