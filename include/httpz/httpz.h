/** @file httpz/httpz.h
 * @brief Embeddable HTTP/1.1 server library: the public API.
 *
 * Conventions:
 *   - Functions return 0 (or a count) on success and a negative HZ_E* code on
 *     failure; hz_strerror() names every code. The values are fixed across
 *     platforms (they are not errno numbers).
 *   - Handles are opaque. Config structs are plain data whose first member
 *     is `size_t size`: fill them with hz_*_init() first. The init function
 *     is inline and records sizeof the struct as this header declares it,
 *     so a program built against an older header keeps working with a newer
 *     library: the library reads only the fields that fit in size and takes
 *     the defaults for the rest (docs/abi.md). Never set size by hand.
 *   - "thread: loop" means the function may only be called on the loop thread
 *     that runs the request (inside a handler or one of its callbacks);
 *     "thread: any" means from any thread.
 */
#ifndef HTTPZ_HTTPZ_H
#define HTTPZ_HTTPZ_H

#include <stddef.h>
#include <stdint.h>
#include <httpz/build.h>

#if defined(HZ_STATIC_DEFINE)
#define HZ_API
#elif defined(__GNUC__) || defined(__clang__)
#define HZ_API __attribute__((visibility("default")))
#else
#define HZ_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/** Every error code: X(NAME, value, message). Values are fixed forever. */
#define HZ_ERRNO_MAP(X)                                                                            \
    X(EAGAIN, -1, "operation would block; try again later")                                        \
    X(ENOMEM, -2, "out of memory")                                                                 \
    X(EINVAL, -3, "invalid argument")                                                              \
    X(EBUSY, -4, "limit reached or queue full")                                                    \
    X(ECANCELED, -5, "canceled by shutdown or timeout")                                            \
    X(EIO, -6, "I/O error")                                                                        \
    X(ENOTSUP, -7, "not supported by this backend or build")                                       \
    X(ECLOSED, -8, "connection closed")                                                            \
    X(ETIMEDOUT, -9, "timed out")                                                                  \
    X(EADDRINUSE, -10, "address already in use")                                                   \
    X(EADDR, -11, "invalid or unavailable address")                                                \
    X(EACCES, -12, "permission denied")                                                            \
    X(EMFILE, -13, "too many open files")                                                          \
    X(ERANGE, -14, "value or size exceeds a limit")                                                \
    X(EPROTO, -15, "protocol error")                                                               \
    X(ENOENT, -16, "no such file or entry")                                                        \
    X(ESTATE, -17, "call not valid in the current state")                                          \
    X(EABI, -18, "backend ABI version mismatch")                                                   \
    X(ESYS, -19, "system call failed")                                                             \
    X(TLS_WANT_READ, -20, "TLS needs the socket readable")                                         \
    X(TLS_WANT_WRITE, -21, "TLS needs the socket writable")                                        \
    X(ETLS, -22, "TLS protocol or certificate failure")

/** The error codes: HZ_OK (0), then HZ_<NAME> = value for each entry of
 *  HZ_ERRNO_MAP (HZ_EAGAIN = -1, HZ_ENOMEM = -2, ...). */
enum hz_err {
    HZ_OK = 0,
#define HZ_ERR_ENUM_(name, val, msg) HZ_##name = (val),
    HZ_ERRNO_MAP(HZ_ERR_ENUM_)
#undef HZ_ERR_ENUM_
};

/** A message for err (< 0). Never NULL: "unknown error" for anything else,
 *  "success" for 0. thread: any. */
HZ_API const char *hz_strerror(int err);
/** The code's name without prefix ("EAGAIN"), or "UNKNOWN". thread: any. */
HZ_API const char *hz_err_name(int err);

/* ------------------------------------------------------------------------ */
/* Version and build                                                         */
/* ------------------------------------------------------------------------ */

/** The library's version and compiled-in backends (hz_version_info()). */
typedef struct hz_build_info {
    /** @{ The version numbers (HZ_VERSION_MAJOR, _MINOR, _PATCH). */
    unsigned major, minor, patch;
    /** @} */
    const char *version;  /**< "0.2.0" */
    const char *poller;   /**< backend compiled in: "epoll" or "kqueue" */
    const char *tls;      /**< "mbedtls", "openssl" or "none" */
    const char *executor; /**< "pool" */
    const char *http2;    /**< "nghttp2 1.52.0" (its version) or "none" (HZ_HAVE_HTTP2) */
} hz_build_info;

/** The library's version and the backends it was built with (static data,
 *  never NULL). thread: any. */
HZ_API const hz_build_info *hz_version_info(void);

/* ------------------------------------------------------------------------ */
/* Types defined in backend.h (only backend authors need their layout)       */
/* ------------------------------------------------------------------------ */

typedef struct hz_allocator hz_allocator;     /**< An allocator instance {vt, ctx} (backend.h). */
typedef struct hz_executor hz_executor;       /**< An executor instance {vt, self} (below). */
typedef struct hz_executor_vt hz_executor_vt; /**< An executor vtable (backend.h). */
typedef struct hz_poller_vt hz_poller_vt;     /**< A poller vtable (backend.h). */
typedef struct hz_tls_vt hz_tls_vt;           /**< A TLS vtable (backend.h). */

/* ------------------------------------------------------------------------ */
/* The thread-pool executor                                                  */
/* ------------------------------------------------------------------------ */

/** An executor instance: a vtable plus its state (owned by whoever created
 *  it; the server never shuts down an executor it was given). Writing an
 *  executor of your own needs the vtable in <httpz/backend.h>; creating and
 *  destroying the library's pool needs only this header. */
struct hz_executor {
    const hz_executor_vt *vt; /**< borrowed: static */
    void *self;               /**< borrowed: outlives the server */
};

/** The thread-pool executor's vtable (backends/exec-pool). */
HZ_API extern const hz_executor_vt hz_executor_pool_vt;

/** What the pool's shutdown does with jobs still queued. */
enum {
    HZ_POOL_DRAIN = 0,  /**< the workers run them, status 0 (default) */
    HZ_POOL_CANCEL = 1, /**< the shutdown caller runs them with HZ_ECANCELED */
};

/** Options of hz_executor_pool_create (plain data; init first). */
typedef struct hz_executor_pool_options {
    size_t size;          /**< set by hz_executor_pool_options_init; do not change */
    unsigned threads;     /**< workers, <= 1024; 0 = online cores */
    unsigned queue_cap;   /**< queued jobs, <= 2^24; 0 = 1024 */
    unsigned on_shutdown; /**< HZ_POOL_DRAIN or HZ_POOL_CANCEL */
} hz_executor_pool_options;

/** The library side of hz_executor_pool_options_init(): fills the first
 *  size bytes of opt with defaults and sets opt->size = size. thread: any. */
HZ_API void hz_executor_pool_options_init_sized(hz_executor_pool_options *opt, size_t size);
/** Fills opt with the defaults (online cores, 1024 queued jobs, drain on
 *  shutdown). thread: any. */
static inline void hz_executor_pool_options_init(hz_executor_pool_options *opt)
{
    hz_executor_pool_options_init_sized(opt, sizeof(*opt));
}
/** Creates a thread pool with opt (copied; NULL = the defaults), allocating
 *  from a (NULL = default; must be thread-safe). Fills *out =
 *  {&hz_executor_pool_vt, state}; give it to servers as cfg.executor and
 *  release it with hz_executor_pool_destroy() after hz_server_destroy() of
 *  every server using it. HZ_EINVAL (also for an opt->size this library
 *  cannot read), HZ_ENOMEM, HZ_ESYS; out->vt = out->self = NULL on failure.
 *  thread: any. */
HZ_API int hz_executor_pool_create(hz_executor *out, const hz_executor_pool_options *opt,
                                   const hz_allocator *a);
/** Shuts the pool down (queued jobs drained or cancelled as its
 *  on_shutdown says), joins its workers, frees it and sets ex->vt =
 *  ex->self = NULL. NULL-safe, and a no-op on an executor already destroyed
 *  or never created (vt NULL). Only after hz_server_destroy() of every
 *  server using it. thread: any but the pool's own workers. */
HZ_API void hz_executor_pool_destroy(hz_executor *ex);

/* ------------------------------------------------------------------------ */
/* TLS configuration                                                         */
/* ------------------------------------------------------------------------ */

/** TLS protocol versions, for hz_tls_config.min_version. */
enum { HZ_TLS_V1_2 = 0x0303, HZ_TLS_V1_3 = 0x0304 };

/** One certificate chain and its private key, PEM, from files or memory. */
typedef struct hz_tls_cert {
    const char *cert_file; /**< PEM chain, leaf first; or NULL and cert_pem */
    const char *key_file;  /**< PEM private key; or NULL and key_pem */
    const char *cert_pem;  /**< NUL-terminated PEM text (borrowed during calls) */
    const char *key_pem;   /**< NUL-terminated PEM key text (borrowed during calls) */
    const char *sni_host;  /**< host name this cert serves (NULL: the default) */
} hz_tls_cert;

#define HZ_TLS_MAX_CERTS 16                 /**< Certificates per TLS listener (SNI). */
#define HZ_TLS_TICKET_LIFETIME_DEFAULT 7200 /**< Seconds, for ticket_lifetime 0. */
#define HZ_TLS_TICKET_LIFETIME_MAX 604800   /**< Seconds: 7 days (RFC 8446 4.6.1). */

/** A TLS listener's configuration: fill it with hz_tls_config_init() first;
 *  hz_server_listen() and hz_server_tls_reload() copy it. */
typedef struct hz_tls_config {
    size_t size;                         /**< set by hz_tls_config_init; do not change */
    hz_tls_cert certs[HZ_TLS_MAX_CERTS]; /**< certs[0] is the default */
    unsigned ncerts;                     /**< entries of certs in use */
    unsigned min_version;                /**< HZ_TLS_V1_2 (default) or HZ_TLS_V1_3 */
    const char *ciphers;                 /**< backend syntax, or NULL for the safe default */
    const char *alpn;                    /**< comma list, default "http/1.1" */
    /** Session resumption with stateless tickets (RFC 5077; TLS 1.3
     *  NewSessionTicket) on backends with HZ_TLS_CAP_TICKETS: 0 (default)
     *  issues and accepts them, non-zero turns them off (every connection is
     *  a full handshake). Ticket keys belong to the configuration: a reload
     *  starts new keys and older tickets fall back to a full handshake. */
    unsigned no_tickets;
    /** Seconds a ticket resumes, counted from the full handshake it came from;
     *  0 means 7200, at most 604800 (RFC 8446 4.6.1), larger is HZ_EINVAL. */
    unsigned ticket_lifetime;
} hz_tls_config;

/** The library side of hz_tls_config_init(): fills the first size bytes of
 *  cfg with defaults and sets cfg->size = size. Call hz_tls_config_init.
 *  thread: any. */
HZ_API void hz_tls_config_init_sized(hz_tls_config *cfg, size_t size);
/** Fills cfg with defaults (no certificates). Cannot fail. thread: any. */
static inline void hz_tls_config_init(hz_tls_config *cfg)
{
    hz_tls_config_init_sized(cfg, sizeof(*cfg));
}

/* ------------------------------------------------------------------------ */
/* Server configuration                                                      */
/* ------------------------------------------------------------------------ */

/** Request-parsing limits. Crossing one ends the request with the status in
 *  brackets, then the connection is closed. */
typedef struct hz_limits {
    uint32_t request_line;  /**< bytes of the request line [414]; default 8192 */
    uint32_t field_size;    /**< bytes of one header field line [431]; 8192 */
    uint32_t header_bytes;  /**< bytes of the whole head [431]; 32768 */
    uint32_t header_count;  /**< number of fields [431]; 100 */
    uint32_t chunk_ext;     /**< bytes of one chunk's extensions [400]; 256 */
    uint32_t trailer_bytes; /**< bytes of the trailer section [431]; 8192 */
    uint64_t body_buffered; /**< request body buffered for a handler [413]; 1 MiB */
    uint64_t body_streamed; /**< body streamed to a handler [413]; 0 = unlimited */
} hz_limits;

/** Timeouts in milliseconds; 0 disables one. */
typedef struct hz_timeouts {
    uint32_t header;        /**< whole request head from its first byte [408]; 10000 */
    uint32_t body_idle;     /**< no body byte for this long [408]; 10000 */
    uint32_t body_min_rate; /**< bytes/s averaged after the first body_idle [408]; 256 */
    uint32_t write;         /**< no write progress for this long [close]; 10000 */
    uint32_t keepalive;     /**< idle between requests [close]; 5000 */
    uint32_t tls_handshake; /**< [close]; 10000 */
    uint32_t handler;       /**< executor handler deadline [503]; 30000 */
} hz_timeouts;

typedef struct hz_access_entry hz_access_entry; /**< one finished request (below) */

/** hz_access_log_file.format */
enum {
    HZ_ACCESS_LOG_COMBINED = 0, /**< hz_access_log_combined lines */
    HZ_ACCESS_LOG_JSON = 1,     /**< hz_access_log_json lines */
};

/** The library's own access log: lines are formatted into a buffer per
 *  loop and written with write(2) when the buffer is full, when its oldest
 *  line is flush_ms old, and when the server stops (hz_server_wait,
 *  hz_server_destroy). Every write holds whole lines, so loops sharing the
 *  file never interleave within a line (O_APPEND). A regular file is the
 *  intended target: a write to a pipe or terminal whose reader stalls
 *  blocks the loop, unless the descriptor is O_NONBLOCK, in which case lines
 *  that would block are dropped and counted (hz_metrics.access_log_dropped).
 *  See docs/configuration.md. */
typedef struct hz_access_log_file {
    const char *path;  /**< opened by hz_server_create (O_WRONLY|O_CREAT|O_APPEND,
                          0644) and closed by hz_server_destroy; NULL: fd */
    int fd;            /**< borrowed (never closed): used when path is NULL;
                          default -1 = no access-log file */
    int format;        /**< HZ_ACCESS_LOG_COMBINED (default) or HZ_ACCESS_LOG_JSON */
    uint32_t buffer;   /**< bytes buffered per loop; default 65536; 0 = one
                          write per line */
    uint32_t flush_ms; /**< buffered lines are written at most this late;
                          default 1000; 0 = only when full and at stop */
} hz_access_log_file;

/** Response compression (docs/compression.md): what compressing responses
 *  may use. Off for dynamic routes unless HZ_ROUTE_COMPRESS, all_routes or
 *  hz_res_compress asks; the static handler uses it for its files. */
typedef struct hz_compress_config {
    int gzip_level;       /**< 1-9 (zlib); 0 = never gzip; default 6 */
    int brotli_quality;   /**< 0-11; -1 = never brotli; default 5 */
    uint32_t min_size;    /**< a body of known length below this is sent as
                             it is; default 256 */
    const char *types;    /**< borrowed (must outlive the server): more
                             compressible media types, comma-separated
                             ("application/x-foo, model/vrml"; "type/" and an
                             asterisk: the whole type); NULL = only the
                             built-in text, JSON, JavaScript, XML, SVG, ... */
    int all_routes;       /**< 1: every route as with HZ_ROUTE_COMPRESS; default 0 */
    unsigned window_bits; /**< 10-15: the LZ window of a streamed body (its
                             compressor's memory, docs/compression.md); default 15 */
} hz_compress_config;

/** HTTP/2 settings (hz_config.http2; used when built with HTTP/2 and a
 *  listener serves it). docs/http2.md maps each to the protocol. */
typedef struct hz_http2_config {
    unsigned max_concurrent_streams; /**< SETTINGS_MAX_CONCURRENT_STREAMS; 100 */
    uint32_t initial_window;         /**< request-body window per stream, bytes
                                        (SETTINGS_INITIAL_WINDOW_SIZE); 65535 */
    size_t conn_output_buffer;       /**< response bytes buffered across a
                                        connection's streams before hz_res_write
                                        says HZ_EAGAIN; 256 KiB */
    unsigned max_control_frames;     /**< SETTINGS, PING, PRIORITY, RST_STREAM,
                                        WINDOW_UPDATE (beyond two per DATA
                                        frame sent) and empty DATA frames a
                                        client may send per second [GOAWAY
                                        ENHANCE_YOUR_CALM]; 1000 */
    unsigned max_resets;             /**< streams a client may reset per second
                                        before their response ended (rapid
                                        reset) [GOAWAY ENHANCE_YOUR_CALM]; 200 */
    int websocket;                   /**< 1: WebSockets over HTTP/2 (RFC 8441):
                                        SETTINGS_ENABLE_CONNECT_PROTOCOL is sent
                                        and extended CONNECT accepted; default 1 */
} hz_http2_config;

/** The server configuration: fill it with hz_config_init() first, then
 *  change fields; hz_server_create() copies it. docs/configuration.md
 *  lists every field with its default. */
typedef struct hz_config {
    size_t size;                    /**< set by hz_config_init; do not change */
    unsigned loops;                 /**< loop threads; 0 = one per online core */
    unsigned max_connections;       /**< open connections, all loops [503]; 10000 */
    unsigned max_tls_handshakes;    /**< TLS handshakes in progress, all loops [close];
                                       1024; 0 = unlimited */
    unsigned max_requests_per_conn; /**< then Connection: close; 0 = unlimited */
    unsigned max_pipelined;         /**< responses waiting for the socket before the
                                       next pipelined request is parsed; 16 */
    size_t output_buffer;           /**< per-connection buffered output (also the
                                       streaming budget of hz_res_write); 64 KiB */
    const char *server_header;      /**< "Server" value; NULL = none; default "httpz" */
    int reuse_port;                 /**< one SO_REUSEPORT listener per loop; default 1 */
    hz_limits limits;               /**< request-parsing limits */
    hz_timeouts timeouts;           /**< timeouts */
    const hz_allocator *allocator;  /**< borrowed; NULL = hz_allocator_default */
    const hz_executor *executor;    /**< borrowed; NULL = handlers run inline only */
    int executor_all;               /**< 1: every route runs on executor (but STREAM_BODY
                                       and INLINE routes); default 0 */
    const hz_poller_vt *poller;     /**< borrowed; NULL = the compiled-in poller */
    const hz_tls_vt *tls;           /**< borrowed; NULL = the compiled-in TLS */
    /** Called once per finished request (response complete), on the loop
     * thread that served it, so concurrently with several loops. NULL (the
     * default): no access log and no cost. See hz_access_log_combined. */
    void (*access_log)(const hz_access_entry *e, void *ud);
    void *access_log_ud; /**< borrowed: the user's */
    /** The built-in buffered access-log file (with or without access_log);
     *  off by default. */
    hz_access_log_file access_log_file;
    hz_compress_config compression; /**< response compression (docs/compression.md) */
    unsigned max_websockets;        /**< open WebSocket connections, all loops (they
                                       also count in max_connections); an upgrade
                                       past it is answered 503; default 10000 */
    hz_http2_config http2;          /**< HTTP/2 limits (docs/http2.md) */
} hz_config;

/** The library side of hz_config_init(): fills the first size bytes of cfg
 *  with defaults and sets cfg->size = size. Call hz_config_init. thread: any. */
HZ_API void hz_config_init_sized(hz_config *cfg, size_t size);
/** Fills cfg with safe defaults. Cannot fail. thread: any. */
static inline void hz_config_init(hz_config *cfg)
{
    hz_config_init_sized(cfg, sizeof(*cfg));
}

/* ------------------------------------------------------------------------ */
/* Server                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct hz_server hz_server; /**< owner: the caller of hz_server_create */
typedef struct hz_req hz_req;       /**< owner: its connection; valid until the response ends */
typedef struct hz_res hz_res;       /**< owner: its connection; same lifetime as its hz_req */

/** A request handler. It must eventually finish the response (hz_res_send or
 *  hz_res_end), inline or later from a callback. thread: loop (or an executor
 *  worker for executor routes). */
typedef void (*hz_handler_fn)(hz_req *req, hz_res *res, void *ud);

/** Route flags, for hz_route_opts.flags. */
enum {
    HZ_ROUTE_EXECUTOR = 1u << 0,    /**< run this route's handler on cfg.executor */
    HZ_ROUTE_STREAM_BODY = 1u << 1, /**< do not buffer the body: call the handler
                                       after the head and stream with hz_req_on_body */
    HZ_ROUTE_INLINE = 1u << 2,      /**< always inline, even with cfg.executor_all */
    HZ_ROUTE_COMPRESS = 1u << 8,    /**< compress responses (cfg.compression,
                                       docs/compression.md) */
};

/* Executor handlers (HZ_ROUTE_EXECUTOR, cfg.executor_all): run on a worker
 * once the whole request (body included) has arrived. They read the request
 * with the hz_req_* accessors and must finish the response before returning
 * (hz_res_send, or hz_res_start/write/end, which are collected and sent as
 * one response); otherwise the client gets 500. hz_res_send_source and
 * hz_res_sendfile hand their body source to the loop with the response
 * (its callbacks run there). hz_res_on_drain/on_done/after/resume,
 * hz_req_on_body/resume and hz_req_peer return HZ_ENOTSUP there. Header
 * fields are checked at the call by the same rules as on the loop.
 * Executor queue full: 503 + Retry-After (the connection stays open). Past
 * timeouts.handler, or once the client went away, hz_req_cancelled() turns
 * true and whatever the handler sends is dropped (HZ_ECANCELED). */

/** Creates a server from cfg (copied). *out = NULL on failure.
 *  HZ_EINVAL (also for a cfg->size this library cannot read), HZ_ENOMEM,
 *  HZ_EABI, HZ_ESYS. thread: any. */
HZ_API int hz_server_create(hz_server **out, const hz_config *cfg);
/** Routes method + path to fn. method NULL matches any method. Before
 *  hz_server_start only. HZ_EINVAL, HZ_ENOMEM, HZ_ESTATE. */
HZ_API int hz_route(hz_server *srv, const char *method, const char *path, hz_handler_fn fn,
                    void *ud);

/** Per-route options (fill with hz_route_opts_init first). */
typedef struct hz_route_opts {
    size_t size;         /**< set by hz_route_opts_init; do not change */
    unsigned flags;      /**< HZ_ROUTE_* */
    uint64_t body_limit; /**< request-body limit of this route [413]; 0 = the
                            server's limits.body_buffered (or body_streamed
                            for HZ_ROUTE_STREAM_BODY routes) */
} hz_route_opts;

/** The library side of hz_route_opts_init(): fills the first size bytes of
 *  opts with defaults and sets opts->size = size. Call hz_route_opts_init.
 *  thread: any. */
HZ_API void hz_route_opts_init_sized(hz_route_opts *opts, size_t size);
/** Fills opts with defaults (no flags, the server's body limits). thread: any. */
static inline void hz_route_opts_init(hz_route_opts *opts)
{
    hz_route_opts_init_sized(opts, sizeof(*opts));
}
/** hz_route with options (opts copied; NULL = defaults). Before
 *  hz_server_start only. HZ_EINVAL (also for an opts->size this library
 *  cannot read), HZ_ENOMEM, HZ_EBUSY (duplicate),
 *  HZ_ESTATE. thread: any (not concurrently with other calls on srv). */
HZ_API int hz_route_with(hz_server *srv, const char *method, const char *path, hz_handler_fn fn,
                         void *ud, const hz_route_opts *opts);
/** Listens on addr (IPv4 or IPv6 literal, NULL = 127.0.0.1) and port (0 =
 *  any free port). tls NULL = plain HTTP; else HTTPS with tls (copied).
 *  Returns the listener index (>= 0) or HZ_EADDRINUSE, HZ_EADDR, HZ_EACCES,
 *  HZ_ENOTSUP (TLS not compiled in), ... Before hz_server_start only. */
HZ_API int hz_server_listen(hz_server *srv, const char *addr, int port, const hz_tls_config *tls);
/** Protocols a listener serves, for hz_listener_config.protocols. */
enum {
    HZ_PROTO_HTTP1 = 1u << 0, /**< HTTP/1.1 (and 1.0) */
    HZ_PROTO_HTTP2 = 1u << 1, /**< HTTP/2: offered by ALPN on TLS listeners; on
                                 plain ones, clients with prior knowledge (the
                                 connection preface). HZ_ENOTSUP when built
                                 without HTTP/2 */
};

/** One listener: fill it with hz_listener_config_init() first, then change
 *  fields; hz_server_listen_with() copies what it needs. */
typedef struct hz_listener_config {
    size_t size;              /**< set by hz_listener_config_init; do not change */
    const char *addr;         /**< IPv4 or IPv6 literal; NULL = 127.0.0.1 */
    int port;                 /**< 0 = any free port */
    const hz_tls_config *tls; /**< borrowed during the call; NULL = plain HTTP */
    unsigned protocols;       /**< HZ_PROTO_*; 0 (the default) = HTTP/1.1, plus
                                 HTTP/2 on TLS listeners when built with it */
    /* Appended (older callers get TCP); docs/deployment.md. Instead of
     * addr and port: */
    const char *unix_path; /**< a Unix-domain socket at this path (shorter than
                              sun_path: 108 bytes on Linux, 104 on BSD); a stale
                              socket file nobody listens on is replaced, the file
                              is removed by hz_server_destroy; NULL = TCP */
    unsigned unix_mode;    /**< with unix_path: the file's permissions, e.g. 0660;
                              0 (default) = as the umask leaves them */
    int fd;                /**< adopt this listening socket (inherited, or from
                              hz_listen_fds); the server owns it from a
                              successful call on. -1 (default) = open one */
} hz_listener_config;

/** One descriptor passed by systemd socket activation (hz_listen_fds). */
typedef struct hz_listen_fd {
    int fd;         /**< 3, 4, ... in the order of the .socket unit's Listen*= lines */
    char name[256]; /**< its FileDescriptorName= (systemd's default: the socket
                       unit's name); "unknown" without LISTEN_FDNAMES */
} hz_listen_fd;

/** Reads systemd's socket-activation variables, as sd_listen_fds(1) and
 *  sd_listen_fds_with_names(1) do, without libsystemd: when LISTEN_PID is
 *  this process, the LISTEN_FDS descriptors start at 3. Each passed
 *  descriptor gets FD_CLOEXEC; the first max are stored in out (may be
 *  NULL with max 0) with their LISTEN_FDNAMES names. LISTEN_PID,
 *  LISTEN_FDS and LISTEN_FDNAMES are removed from the environment in every
 *  case, so child processes never see them and a second call returns 0.
 *  Returns the number of descriptors passed (it may exceed max): 0 when
 *  the variables are absent or name another process; HZ_EINVAL when they
 *  are malformed, LISTEN_FDNAMES does not have one name per descriptor,
 *  or a passed descriptor is not open. Pass each fd to
 *  hz_listener_config.fd, which checks that it is a listening stream
 *  socket. thread: call it early in main, before other threads read the
 *  environment (it calls unsetenv). */
HZ_API int hz_listen_fds(hz_listen_fd *out, int max);

/** The library side of hz_listener_config_init(): fills the first size bytes
 *  of lc with defaults and sets lc->size = size. thread: any. */
HZ_API void hz_listener_config_init_sized(hz_listener_config *lc, size_t size);
/** Fills lc with defaults (127.0.0.1, any port, plain). thread: any. */
static inline void hz_listener_config_init(hz_listener_config *lc)
{
    hz_listener_config_init_sized(lc, sizeof(*lc));
}
/** Listens as lc says. Returns the listener index (>= 0) or the errors of
 *  hz_server_listen; HZ_ENOTSUP for a protocol not compiled in; HZ_EINVAL
 *  also for an lc->size this library cannot read. Before hz_server_start
 *  only. thread: any (not concurrently with other calls on srv).
 *  With lc->unix_path: HZ_EINVAL for an empty path, one too long for
 *  sun_path, addr or port also set, or a mode above 07777; HZ_EADDRINUSE
 *  when the path exists and is not a socket, or a server still accepts
 *  on it; HZ_EACCES. With lc->fd >= 0: HZ_EINVAL when addr, port or
 *  unix_path is also set, or the descriptor is not an open socket, not a
 *  stream socket, not listening (listen(2) not called) or not of
 *  AF_INET, AF_INET6 or AF_UNIX; on failure the descriptor stays the
 *  caller's. An adopted or Unix socket is one socket that every loop
 *  polls (no SO_REUSEPORT); hz_server_port is 0 for a Unix socket. */
HZ_API int hz_server_listen_with(hz_server *srv, const hz_listener_config *lc);
/** Replaces the TLS configuration (certificates, SNI names, ciphers, ALPN,
 *  minimum version) of HTTPS listener idx on a running server. The new
 *  configuration is built (files read, keys checked) before anything
 *  changes; handshakes that start afterwards use it, connections already
 *  open keep theirs. On failure the listener keeps its current one.
 *  HZ_EINVAL (no such HTTPS listener), HZ_ETLS, HZ_ENOMEM. thread: any. */
HZ_API int hz_server_tls_reload(hz_server *srv, int idx, const hz_tls_config *cfg);
/** The listening descriptor of listener idx, to hand it to a successor
 *  process (a restart without a supervisor, docs/deployment.md): dup() it
 *  without FD_CLOEXEC, exec the successor, which adopts it with
 *  hz_listener_config.fd, then stop this server. The server keeps owning
 *  the descriptor (do not close it) and closes it when it stops.
 *  HZ_EINVAL (no such listener), HZ_ESTATE (hz_server_stop was called: the
 *  descriptor is closing), HZ_ENOTSUP (one SO_REUSEPORT socket per loop:
 *  the connections queued on the others would be lost at the stop; listen
 *  with cfg.reuse_port = 0 or a single loop). thread: any. */
HZ_API int hz_server_listener_fd(const hz_server *srv, int idx);
/** The bound port of listener idx, or HZ_EINVAL. thread: any. */
HZ_API int hz_server_port(const hz_server *srv, int idx);
/** Starts the loop threads and returns. thread: any (once). */
HZ_API int hz_server_start(hz_server *srv);
/** Like hz_server_start followed by hz_server_wait, except that loop 0 runs
 *  on the calling thread (its handlers run there) and only the other loops
 *  get threads of their own. Returns when every loop has ended
 *  (hz_server_stop from a handler, a signal handler or another thread).
 *  With cfg.loops = 1 and no executor threads, the process can stay single
 *  threaded, which makes each socket call cheaper on Linux. While it runs,
 *  other threads may call hz_server_stop but not hz_server_wait or
 *  hz_server_destroy. thread: any (once). */
HZ_API int hz_server_run(hz_server *srv);
/** Graceful stop: stop accepting, let in-flight requests finish (answered
 *  with Connection: close), close idle connections, force-close whatever is
 *  left after deadline_ms. Returns at once; hz_server_wait() blocks until the
 *  loops have ended. thread: any, async-signal-safe. */
HZ_API int hz_server_stop(hz_server *srv, unsigned deadline_ms);
/** Blocks until every loop thread has ended. thread: any but a loop. */
HZ_API int hz_server_wait(hz_server *srv);
/** Stops at once if running (deadline 0), then frees everything, open
 *  connections included. NULL-safe. thread: any but a loop. */
HZ_API void hz_server_destroy(hz_server *srv);

/** A server timer's callback: runs on the thread of the loop it was added
 *  to, with the id hz_server_timer_add gave (so it may cancel itself). */
typedef void (*hz_timer_fn)(hz_server *srv, uint64_t id, void *ud);
/** hz_server_timer_add flags. */
enum {
    HZ_TIMER_REPEAT = 1u << 0, /**< fire every ms until cancelled (else once) */
};
/** Adds a timer on loop `loop` (0-based, < cfg.loops), not tied to any
 *  request (pushing figures to a status page, a periodic flush): fn(srv,
 *  id, ud) runs on that loop's thread after ms milliseconds (the loop's
 *  timer wheel: 10 ms granularity, never early), then every ms with
 *  HZ_TIMER_REPEAT (re-armed after fn returns, so a slow fn delays the
 *  next run rather than piling runs up). Allowed before hz_server_start
 *  (the timer starts counting when the loop runs) and from any thread
 *  (then the allocator must be thread-safe). Timers fire while the loops
 *  run, graceful stop included; the rest are freed by hz_server_destroy,
 *  without a call. *id (may be NULL) gets a non-zero id, unique per server.
 *  0, HZ_EINVAL (no fn, loop out of range, unknown flags, ms 0 with
 *  HZ_TIMER_REPEAT), HZ_ENOMEM. thread: any. */
HZ_API int hz_server_timer_add(hz_server *srv, unsigned loop, unsigned ms, unsigned flags,
                               hz_timer_fn fn, void *ud, uint64_t *id);
/** Cancels timer id: once this returns, fn will not start again (a call
 *  running on the loop thread at that moment, when cancelling from another
 *  thread, finishes). Also from inside fn itself. 0, or HZ_ENOENT (no such
 *  timer: never added, cancelled already, or a one-shot timer that
 *  fired), HZ_EINVAL. thread: any. */
HZ_API int hz_server_timer_cancel(hz_server *srv, uint64_t id);

/* ------------------------------------------------------------------------ */
/* Request                                                                   */
/* ------------------------------------------------------------------------ */

/** A view into the request's buffer: not NUL-terminated; valid until the
 *  response ends. */
typedef struct hz_str {
    const char *ptr; /**< the first byte (not NUL-terminated); NULL when absent */
    size_t len;      /**< length in bytes */
} hz_str;

/** The method as sent ("GET", "POST", ...). */
HZ_API hz_str hz_req_method(const hz_req *req);
HZ_API hz_str hz_req_target(const hz_req *req); /**< as sent */
HZ_API hz_str hz_req_path(const hz_req *req);   /**< target up to '?', still encoded */
HZ_API hz_str hz_req_query(const hz_req *req);  /**< after '?', or empty */
/** 10 for HTTP/1.0, 11 for HTTP/1.1. */
HZ_API int hz_req_version(const hz_req *req);
/** The first field named name (case-insensitive); ptr NULL if absent. */
HZ_API hz_str hz_req_header(const hz_req *req, const char *name);
/** The number of header fields. */
HZ_API size_t hz_req_header_count(const hz_req *req);
/** Field i (0-based, in arrival order); returns HZ_EINVAL past the end. */
HZ_API int hz_req_header_at(const hz_req *req, size_t i, hz_str *name, hz_str *value);
/** The value of router parameter name (":id" patterns are looked up as "id",
 *  the wildcard as "*"), still percent-encoded; ptr NULL if absent. */
HZ_API hz_str hz_req_param(const hz_req *req, const char *name);
/** The buffered body (empty for streamed routes). */
HZ_API hz_str hz_req_body(const hz_req *req);
/** Streams the body: on_chunk per piece as it arrives (return 0 when the
 *  piece was taken; HZ_EAGAIN to pause: the piece is NOT taken, reading
 *  stops, and the same bytes are offered again after hz_req_resume; any
 *  other < 0 answers 500 and closes), on_end once with 0 or a negative error
 *  (HZ_ECLOSED, HZ_ECANCELED). Only for HZ_ROUTE_STREAM_BODY routes; the
 *  body is read (and 100 Continue sent) only once this is called. The body
 *  limit is the route's body_limit or limits.body_streamed [413].
 *  After the handler answered early (the response is complete before the
 *  body is): return 0 to read and drop the rest, so the connection stays
 *  usable for the next request, or any negative error to stop reading: the
 *  connection then closes after the response (no 500 is sent; the answer
 *  stands). Either way the exchange counts as answered (access log,
 *  responses_total, on_done status 0) even if the client closes before
 *  sending the rest of the body; on_end then gets HZ_ECLOSED.
 *  0, HZ_EINVAL, HZ_ESTATE (called twice), HZ_ECLOSED. thread: loop. */
typedef int (*hz_body_chunk_fn)(hz_req *req, const void *data, size_t len, void *ud);
/** The end callback of hz_req_on_body() (see hz_body_chunk_fn above):
 *  status 0 or HZ_ECLOSED / HZ_ECANCELED. thread: loop. */
typedef void (*hz_body_end_fn)(hz_req *req, int status, void *ud);
/** Starts streaming the request body to on_chunk and on_end; the
 *  contract is described at hz_body_chunk_fn above. */
HZ_API int hz_req_on_body(hz_req *req, hz_body_chunk_fn on_chunk, hz_body_end_fn on_end, void *ud);
/** Resumes a body that on_chunk paused with HZ_EAGAIN: the same bytes
 *  are offered again. 0, HZ_ECLOSED, HZ_ENOTSUP (on an executor worker).
 *  thread: loop. */
HZ_API int hz_req_resume(hz_req *req);
/** True once the client went away or the handler timed out: an executor
 *  handler may stop early; whatever it sends is dropped. thread: any. */
HZ_API int hz_req_cancelled(const hz_req *req);
/** The index (0-based) of the loop thread serving req. thread: any. */
HZ_API int hz_req_loop(const hz_req *req);
/** Stores one pointer of the caller's with the request (per-request
 *  state), readable from every callback of the exchange: the body chunk
 *  and end callbacks (hz_req_user) and the drain, done and after callbacks
 *  (hz_res_user), so they need no pointer to res or req captured in their
 *  ud. NULL until set; the library never dereferences nor frees it (free
 *  it in the done callback, which runs on every path). NULL-safe.
 *  thread: loop, or the executor worker running the handler. */
HZ_API void hz_req_set_user(hz_req *req, void *p);
/** The pointer given to hz_req_set_user (NULL if none). thread: as above. */
HZ_API void *hz_req_user(const hz_req *req);
/** The same pointer, from a response callback's res. thread: as above. */
HZ_API void *hz_res_user(const hz_res *res);
/** Formats the peer's address ("127.0.0.1", "::1") into buf (len bytes) and
 *  stores its port in *port (may be NULL). A client of a Unix-domain
 *  listener has no address: "unix" and port 0. 0, HZ_ECLOSED, HZ_ERANGE
 *  (buf too small), HZ_ENOTSUP (not a socket). thread: loop. */
HZ_API int hz_req_peer(const hz_req *req, char *buf, size_t len, int *port);

/* ------------------------------------------------------------------------ */
/* Response                                                                  */
/* ------------------------------------------------------------------------ */

/** Adds a header (copied). Before the head is sent only. HZ_EINVAL for a
 *  name or value with CR, LF or NUL; HZ_ERANGE when the head would outgrow
 *  its buffer; HZ_ESTATE after the head was sent. */
HZ_API int hz_res_set_header(hz_res *res, const char *name, const char *value);
/** Sends a whole response with Content-Length = len (body copied or queued).
 *  HEAD requests get the head only. Ends the response. 0, HZ_EINVAL (status
 *  outside 200-999), HZ_ESTATE (already started), HZ_ECLOSED (the
 *  connection is gone). All hz_res_* calls: thread: loop. */
HZ_API int hz_res_send(hz_res *res, int status, const void *body, size_t len);
/** Starts a streamed response (chunked for HTTP/1.1, close-delimited for
 *  HTTP/1.0). */
HZ_API int hz_res_start(hz_res *res, int status);
/** Writes part of a streamed body. HZ_EAGAIN when the connection's output
 *  budget is full: nothing was taken; wait for the drain callback. */
HZ_API int hz_res_write(hz_res *res, const void *buf, size_t len);
/** Sets the callback run (on the loop) when hz_res_write may succeed again. */
typedef void (*hz_drain_fn)(hz_res *res, void *ud);
/** Sets the drain callback (replacing any earlier one). 0, HZ_EINVAL,
 *  HZ_ECLOSED, HZ_ENOTSUP (on an executor worker). thread: loop. */
HZ_API int hz_res_on_drain(hz_res *res, hz_drain_fn fn, void *ud);
/** Ends a streamed response. */
HZ_API int hz_res_end(hz_res *res);

/** A response body produced piece by piece by the caller: a file, a
 *  generator, a proxy's upstream. The connection pulls from it through its
 *  one output path, as far as the output budget (cfg.output_buffer) and
 *  the socket allow, so a slow client never makes it buffer the body.
 *  Every callback runs on the connection's loop thread, also for a source
 *  handed over by an executor handler. The struct is copied; ud is the
 *  caller's until done. */
typedef struct hz_body_source {
    /** Copies up to len bytes of body into buf. Returns the count (> 0),
     *  0 at the end of the body, HZ_EAGAIN when nothing is ready now (call
     *  hz_res_resume when there is), or another < 0 error: the connection
     *  is then closed (a body cut short cannot be told from a whole one
     *  otherwise). Required. */
    long (*read)(void *ud, void *buf, size_t len);
    /** Optional (NULL: read is used). Writes up to max body bytes straight
     *  to sock_fd, a plain TCP socket (never called under TLS or chunked
     *  framing). Returns the bytes written (> 0), HZ_EAGAIN when the socket
     *  is full (the connection waits for it to drain and calls again),
     *  HZ_ENOTSUP to use read from now on (nothing written), or another < 0
     *  error (the connection is closed). 0 is an error too (HZ_EIO). */
    long (*sendfile)(void *ud, int sock_fd, size_t max);
    /** Called exactly once after hz_res_send_source returned 0: status 0
     *  when the whole body went to the connection, else the source's error,
     *  HZ_EIO (it ended before the promised length), HZ_ECLOSED (the
     *  connection went away first) or HZ_ECANCELED (an executor handler's
     *  response was dropped). Release ud here. Required. */
    void (*done)(void *ud, int status);
    void *ud; /**< borrowed: passed to the callbacks */
} hz_body_source;

/** Sends a response whose body comes from src (copied). length >= 0: that
 *  many bytes (Content-Length; the source is not read past it); -1:
 *  unknown, sent chunked (HTTP/1.1) or until close (HTTP/1.0). HEAD, 204
 *  and 304 get the head only (done(0) without a read). Ends the response
 *  once the source ends. 0, then src->done runs exactly once; on any error
 *  here done is not called and ud stays the caller's: HZ_EINVAL (status
 *  outside 200-999, no read or done, length < -1), HZ_ESTATE (already
 *  started), HZ_ECLOSED. thread: loop, or an executor worker (the source
 *  is handed to the loop with the response; its callbacks run there). */
HZ_API int hz_res_send_source(hz_res *res, int status, int64_t length, const hz_body_source *src);
/** Tells the connection that a source which returned HZ_EAGAIN from read
 *  has data again (harmless when it is not waiting). 0, HZ_ESTATE (no
 *  source is being sent), HZ_ECLOSED, HZ_ENOTSUP (on an executor worker).
 *  thread: loop. */
HZ_API int hz_res_resume(hz_res *res);

/** Called once when the exchange ends: status 0 when its response was
 *  completed (on the wire: also when the client closes afterwards, before
 *  the rest of a request body it was not waited for), < 0 (HZ_ECLOSED,
 *  HZ_ECANCELED) when it was aborted. Release
 *  per-request state here. thread: loop. */
typedef void (*hz_done_fn)(hz_res *res, int status, void *ud);
/** Sets the done callback (see hz_done_fn). 0, HZ_EINVAL, HZ_ECLOSED,
 *  HZ_ENOTSUP (on an executor worker). thread: loop. */
HZ_API int hz_res_on_done(hz_res *res, hz_done_fn fn, void *ud);

/** Runs fn on the loop after ms milliseconds (a response that completes
 *  later without blocking the loop). status is 0, or HZ_ECANCELED when the
 *  connection closed first (res is then unusable: calls on it return
 *  HZ_ECLOSED). One pending timer per response: HZ_EBUSY. thread: loop. */
typedef void (*hz_after_fn)(hz_res *res, int status, void *ud);
/** Arms the timer described at hz_after_fn. 0, HZ_EINVAL, HZ_ECLOSED,
 *  HZ_EBUSY, HZ_ENOTSUP (on an executor worker). thread: loop. */
HZ_API int hz_res_after(hz_res *res, unsigned ms, hz_after_fn fn, void *ud);

/* ------------------------------------------------------------------------ */
/* Response compression (docs/compression.md)                                */
/* ------------------------------------------------------------------------ */

/** Content codings (bit values), for hz_req_accept_encoding. */
enum {
    HZ_CODING_IDENTITY = 0,   /**< no content coding */
    HZ_CODING_GZIP = 1u << 0, /**< gzip (zlib) */
    HZ_CODING_BR = 1u << 1,   /**< brotli */
};

/** The codings this build can compress with (HZ_CODING_* bits). thread: any. */
HZ_API unsigned hz_compress_codings(void);
/** The coding req prefers among offered (HZ_CODING_* bits) by its
 *  Accept-Encoding fields (RFC 9110 §12.5.3: q-values, "identity", "*";
 *  br before gzip at equal q): HZ_CODING_BR, HZ_CODING_GZIP or
 *  HZ_CODING_IDENTITY (also without the field, or when nothing offered is
 *  acceptable). HZ_EINVAL for NULL. thread: the handler's. */
HZ_API int hz_req_accept_encoding(const hz_req *req, unsigned offered);
/** Compresses this response (on = 1) or not (on = 0), whatever the route
 *  says: when the client accepts a coding, the Content-Type is compressible
 *  and the status and length allow it (docs/compression.md). Call it before
 *  hz_res_set_header: fields set earlier are not seen by the filter.
 *  HZ_EINVAL, HZ_ENOMEM. thread: the handler's. */
HZ_API int hz_res_compress(hz_res *res, int on);

/* ------------------------------------------------------------------------ */
/* Finishing a response from any thread                                      */
/* ------------------------------------------------------------------------ */

/** A detached response (hz_res_detach): a handle any thread may use to
 *  answer a request later (a database client's callback, a queue
 *  consumer). The calls copy their arguments and post them to the
 *  request's loop, which applies them in order; they never block on the
 *  connection. Reference counted: the caller's reference ends with
 *  hz_async_release, and the handle stays valid (its calls return
 *  HZ_ECANCELED) however long the client or the server has been gone. */
typedef struct hz_async hz_async;

/** Detaches res from the handler: the response will be completed through
 *  *out, from any thread, after the handler has returned. Copy what you
 *  need from req first: req and res stay the loop's, and no thread but the
 *  loop may touch them. timeouts.handler runs from now until the response
 *  starts (hz_async_send or hz_async_start applied): then 503 with
 *  Connection: close, the handle is cancelled and the done callback gets
 *  HZ_ECANCELED. The client closing
 *  before the response cancels it too. The done callback
 *  (hz_res_on_done, set before detaching) runs on the loop when the
 *  exchange ends, either way: the place to tell your thread. Detaching
 *  takes over the drain callback (hz_res_on_drain): use hz_async_on_drain.
 *  0; HZ_EINVAL, HZ_ECLOSED, HZ_EBUSY (detached already), HZ_ESTATE (the
 *  response started), HZ_ENOTSUP (on an executor worker, or the server's
 *  allocator is not HZ_ALLOC_CAP_THREADSAFE), HZ_ENOMEM; *out
 *  = NULL on failure. thread: loop (a handler or one of its callbacks). */
HZ_API int hz_res_detach(hz_res *res, hz_async **out);
/** Adds a header field to the response (copied; the rules of
 *  hz_res_set_header). Before hz_async_send/start only. 0, HZ_EINVAL,
 *  HZ_ERANGE, HZ_ESTATE, HZ_ECANCELED, HZ_ENOMEM. thread: any. */
HZ_API int hz_async_set_header(hz_async *h, const char *name, const char *value);
/** Sends the whole response (body copied; ctype: its Content-Type, or NULL
 *  for none) and ends it. 0 when posted to the loop; HZ_EINVAL (status
 *  outside 200-999, a bad ctype), HZ_ESTATE (already sent or started),
 *  HZ_ECANCELED (the client went away, the handler deadline passed or the
 *  server stopped: nothing was queued), HZ_ENOMEM. thread: any. */
HZ_API int hz_async_send(hz_async *h, int status, const char *ctype, const void *body, size_t len);
/** Starts a streamed response (chunked for HTTP/1.1). Same codes as
 *  hz_async_send. thread: any. */
HZ_API int hz_async_start(hz_async *h, int status, const char *ctype);
/** Queues part of a streamed body (copied). HZ_EAGAIN when more than
 *  cfg.output_buffer bytes wait for the connection already (nothing was
 *  taken: retry after the drain callback); a single write larger than the
 *  budget is taken when nothing waits. 0, HZ_EINVAL, HZ_ESTATE (not
 *  started, or ended), HZ_ECANCELED, HZ_ENOMEM. thread: any. */
HZ_API int hz_async_write(hz_async *h, const void *buf, size_t len);
/** Ends a streamed response. 0, HZ_ESTATE, HZ_ECANCELED, HZ_ENOMEM.
 *  thread: any. */
HZ_API int hz_async_end(hz_async *h);
/** Runs on the request's loop after hz_async_write returned HZ_EAGAIN,
 *  once the bytes waiting fell under half the budget. */
typedef void (*hz_async_drain_fn)(hz_async *h, void *ud);
/** Sets (or, with NULL, clears) the drain callback. 0, HZ_EINVAL.
 *  thread: any. */
HZ_API int hz_async_on_drain(hz_async *h, hz_async_drain_fn fn, void *ud);
/** 1 once the response can no longer be completed through h (client gone,
 *  handler deadline, server stopped, or the exchange ended without it),
 *  else 0. thread: any. */
HZ_API int hz_async_cancelled(const hz_async *h);
/** Drops the caller's reference (NULL-safe; once per handle). A response
 *  not completed yet is finished for you: 500 when nothing was sent, a
 *  cut-off (connection closed) when a stream was not ended. Queued calls
 *  are applied first. h must not be used afterwards. thread: any, also
 *  after hz_server_destroy (the handle keeps a copy of the allocator,
 *  which must still be valid). */
HZ_API void hz_async_release(hz_async *h);

/* ------------------------------------------------------------------------ */
/* Static files                                                              */
/* ------------------------------------------------------------------------ */

/** What a static-file handler serves (fill with hz_static_config_init). */
typedef struct hz_static_config {
    size_t size;               /**< set by hz_static_config_init; do not change */
    const char *root;          /**< directory to serve (opened by hz_static_create) */
    const char *index;         /**< file served for a directory; NULL = none;
                                  default "index.html" */
    int listing;               /**< 1: an HTML listing for a directory without
                                  index file; default 0 (404) */
    int follow_symlinks;       /**< 0 (default): no symlink is followed, on any
                                  path component (404); 1: symlinks are followed
                                  when their target stays inside root */
    const char *cache_control; /**< Cache-Control value; NULL = none */
    int precompressed;         /**< 1 (default): serve "name.br" / "name.gz" beside a
                                  compressible file, when the client accepts the
                                  coding and the sibling is not older
                                  (docs/compression.md); 0: never */
    int compress;              /**< 1 (default): compress compressible files on the
                                  fly (the server's cfg.compression) when no
                                  sibling is served; 0: never */
    uint64_t compress_max;     /**< files bigger than this are not compressed on the
                                  fly; default 16 MiB */
    unsigned file_cache;       /**< open files kept per loop (docs/configuration.md);
                                  default 64; 0: every request opens its file */
    unsigned file_cache_ms;    /**< how long an open file is trusted: a replaced
                                  or deleted file shows within this; default 1000 */
} hz_static_config;

typedef struct hz_static hz_static; /**< owner: the caller of hz_static_create */

/** The library side of hz_static_config_init(): fills the first size bytes
 *  of cfg with defaults and sets cfg->size = size. Call
 *  hz_static_config_init. thread: any. */
HZ_API void hz_static_config_init_sized(hz_static_config *cfg, size_t size);
/** Fills cfg with defaults (root NULL, index "index.html", no listing, no
 *  symlinks). Cannot fail. thread: any. */
static inline void hz_static_config_init(hz_static_config *cfg)
{
    hz_static_config_init_sized(cfg, sizeof(*cfg));
}
/** Opens cfg->root (kept open: later renames of the path do not matter) and
 *  copies the configuration. a: NULL = hz_allocator_default. *out = NULL on
 *  failure. HZ_EINVAL (also for a cfg->size this library cannot read), HZ_ENOMEM, HZ_ENOENT,
 * HZ_EACCES, HZ_ESYS. thread: any. */
HZ_API int hz_static_create(hz_static **out, const hz_static_config *cfg, const hz_allocator *a);
/** Frees st (NULL-safe). Only after the servers using it are destroyed.
 *  thread: any. */
HZ_API void hz_static_destroy(hz_static *st);
/** The handler (ud = the hz_static *). It serves the file named by the
 *  route's wildcard ("*" parameter, e.g. route "/static/ *"), or by the whole
 *  path when the route has none. The path is decoded and normalised with
 *  hz_path_normalize (strict: "..", "%2e%2e" above the root, %2F and %00
 *  are 400) and opened relative to the root directory. Answers: 200 (GET,
 *  HEAD), 206/416 for one byte range (several ranges: 200 with the whole
 *  file), 304 (If-None-Match, else If-Modified-Since), 301 to add the "/"
 *  of a directory, 403 (permission), 404 (missing, not a regular file or
 *  directory, a refused symlink, a directory without index and listing),
 *  405 for other methods. Bodies go out with sendfile on plain connections
 *  (hz_res_sendfile). thread: loop, or an executor worker. */
HZ_API void hz_static_handler(hz_req *req, hz_res *res, void *ud);
/** Routes GET (and so HEAD) prefix + "*" to hz_static_handler with st:
 *  prefix must start and end with '/' ("/static/"). Same codes as
 *  hz_route. */
HZ_API int hz_route_static(hz_server *srv, const char *prefix, hz_static *st);

/** Sends a response whose body is len bytes of the file fd from offset
 *  (Content-Length: len). The response takes fd over: it is closed when
 *  the body was sent, the connection closed, or on any error here (an fd
 *  of the open-file cache, hz_req_file_get/put, is given back instead). Plain
 *  connections use sendfile() where the OS has it; TLS connections (and
 *  other systems) read the file into the output buffer piece by piece
 *  (a body source, see hz_res_send_source). HEAD requests get the head
 *  only. Ends the response. 0, HZ_EINVAL, HZ_ESTATE, HZ_ECLOSED, HZ_ENOMEM.
 *  The file must not shrink meanwhile: a short read closes the
 *  connection. thread: loop, or an executor worker (the file is handed to
 *  the loop with the response, not read into memory). */
HZ_API int hz_res_sendfile(hz_res *res, int status, int fd, uint64_t offset, uint64_t len);

/* The loop's open-file cache (docs/configuration.md "Open-file cache"): regular
 * files kept open for a short time, per loop thread, as the static handler
 * uses it. An fd these calls return is a reference: give it to
 * hz_res_sendfile (the response gives it back when sent) or back with
 * hz_req_file_close, exactly once. */

/** A reference to the fd cached under (owner, key), its metadata (the
 *  meta_len bytes given to hz_req_file_put) copied to meta. The fd (>= 0),
 *  HZ_ENOENT (none, or older than its ttl: then dropped), HZ_ENOTSUP (on an
 *  executor worker: the cache is the loop's), HZ_EINVAL. thread: loop. */
HZ_API int hz_req_file_get(hz_req *req, const void *owner, const char *key, size_t key_len,
                           void *meta, size_t meta_len);
/** Hands fd, a regular file the caller opened, to the loop's cache under
 *  (owner, key) for ttl_ms ms with meta_len bytes (at most 256) of metadata;
 *  the cache then holds at most max entries (dropping expired, then oldest
 *  ones; an fd is closed once no reference is out). 0: fd is now a
 *  reference. < 0: not cached, fd stays the caller's: HZ_EINVAL (max or
 *  ttl_ms 0, key over 4096 bytes, meta over 256), HZ_ENOMEM, HZ_ENOTSUP (on
 *  an executor worker). owner is compared, never dereferenced. thread: loop. */
HZ_API int hz_req_file_put(hz_req *req, const void *owner, const char *key, size_t key_len,
                           unsigned max, unsigned ttl_ms, int fd, const void *meta,
                           size_t meta_len);
/** Gives back a reference from hz_req_file_get/put; any other fd is
 *  closed. thread: loop, or an executor worker (which only ever has plain
 *  fds: they are closed). */
HZ_API void hz_req_file_close(hz_req *req, int fd);

/** The Content-Type of a file name by its extension ("text/css; charset=utf-8",
 *  ...), "application/octet-stream" for others. Static string. thread: any. */
HZ_API const char *hz_mime_type(const char *name, size_t len);

/* ------------------------------------------------------------------------ */
/* WebSocket (RFC 6455, permessage-deflate RFC 7692); docs/websocket.md      */
/* ------------------------------------------------------------------------ */

typedef struct hz_ws hz_ws;         /**< owner: its loop; refcounted (hz_ws_retain) */
typedef struct hz_ws_msg hz_ws_msg; /**< a shared message (broadcast); refcounted */

/** Message kinds: the RFC's opcodes. */
enum { HZ_WS_TEXT = 1, HZ_WS_BINARY = 2 };

/** hz_ws_send flags. */
enum {
    HZ_WS_MORE = 1u << 0,        /**< not the message's last fragment: the next
                                    hz_ws_send calls continue it (opcode ignored) */
    HZ_WS_NO_COMPRESS = 1u << 1, /**< send this message uncompressed (already
                                    compressed or tiny payloads) */
};

/** What the application is told. Every callback runs on the connection's
 *  loop; ws is valid during the call (and until on_close returns, or as long
 *  as the application holds a reference taken with hz_ws_retain). */
typedef struct hz_ws_callbacks {
    /** The 101 answer is on its way: messages may be sent. Optional. */
    void (*on_open)(hz_ws *ws, void *ud);
    /** A message (opcode HZ_WS_TEXT, validated UTF-8, or HZ_WS_BINARY),
     *  whole (fin = 1), or with hz_ws_options.stream each piece as it
     *  arrives (fin = 1 on the last). data is valid during the call only. */
    void (*on_message)(hz_ws *ws, int opcode, const void *data, size_t len, int fin, void *ud);
    /** The connection is over: code is the peer's close code (1005: none
     *  given), ours after a protocol error (1002, 1007, 1009), 1001 at
     *  server stop, or 1006 when it ended without a close frame. Runs once;
     *  ws may not be used after it returns unless retained. Optional. */
    void (*on_close)(hz_ws *ws, unsigned code, const char *reason, size_t len, void *ud);
    /** Output fell under half the budget after a send returned HZ_EAGAIN.
     *  Optional. */
    void (*on_drain)(hz_ws *ws, void *ud);
} hz_ws_callbacks;

/** Per-connection options: hz_ws_options_init() first, then change fields. */
typedef struct hz_ws_options {
    size_t size;                     /**< set by hz_ws_options_init; do not change */
    const char *const *subprotocols; /**< borrowed during hz_ws_accept: the server's
                                        Sec-WebSocket-Protocol names by preference;
                                        the first the client offered is chosen
                                        (hz_ws_protocol); NULL = none */
    size_t nsubprotocols;            /**< entries of subprotocols */
    uint64_t max_frame;              /**< payload bytes of one frame [1009]; 1 MiB */
    uint64_t max_message;            /**< bytes of one message, also after
                                        decompression [1009]; 1 MiB */
    size_t output_budget;            /**< bytes queued for the peer past which sends
                                        return HZ_EAGAIN and reading pauses;
                                        256 KiB */
    uint32_t ping_interval_ms;       /**< ping the peer when silent this long; 0 = off
                                        (default) */
    uint32_t idle_timeout_ms;        /**< close (1001) when nothing came for this long;
                                        0 = off (default) */
    uint32_t close_timeout_ms;       /**< wait for the peer's close frame; 5000 */
    int stream;                      /**< 1: on_message gets pieces as they arrive */
    int compression;                 /**< 1: accept permessage-deflate when offered;
                                        default 0 */
    int compression_level;           /**< zlib level 1..9; 6 */
    int server_max_window_bits;      /**< our window 9..15; 15 */
    int client_max_window_bits;      /**< asked of the client 8..15; 15 */
    int server_no_context_takeover;  /**< reset our compressor per message (saves
                                        the deflate state between messages); 0 */
    int client_no_context_takeover;  /**< ask the client to reset per message; 0 */
    size_t compress_min;             /**< messages shorter than this go uncompressed;
                                        64 */
} hz_ws_options;

/** The library side of hz_ws_options_init(). thread: any. */
HZ_API void hz_ws_options_init_sized(hz_ws_options *opts, size_t size);
/** Fills opts with the defaults noted above. Cannot fail. thread: any. */
static inline void hz_ws_options_init(hz_ws_options *opts)
{
    hz_ws_options_init_sized(opts, sizeof(*opts));
}

/** 1 when req asks for a WebSocket (an Upgrade: websocket field, or over
 *  HTTP/2 an extended CONNECT with :protocol websocket, RFC 8441), else 0.
 *  thread: loop, or an executor worker. */
HZ_API int hz_ws_is_upgrade(const hz_req *req);

/** The origin check (RFC 6455 §10.2): 1 when the request's Origin is one
 *  of the n allowed origins ("https://example.com", "*" for any but
 *  "null"), or with allowed NULL the server itself as the client reached it
 *  (the Host field, https over TLS); 1 also without an Origin field (not a
 *  browser); else 0. thread: loop, or an executor worker. */
HZ_API int hz_ws_origin_ok(const hz_req *req, const char *const *allowed, size_t n);

/** Accepts req as a WebSocket from its route handler: checks the
 *  handshake (RFC 6455 §4.2.1), picks the subprotocol and
 *  permessage-deflate, and answers 101; the connection then belongs to the
 *  WebSocket, whose callbacks cb (copied) get ud, on the loop.
 *  Headers set on res before (Set-Cookie) go with the 101. Over HTTP/2
 *  (RFC 8441 extended CONNECT) the answer is a 200 without
 *  Sec-WebSocket-Accept and the stream carries the WebSocket
 *  (docs/websocket.md). On failure the
 *  refusal is already answered and the handler has nothing more to do:
 *  HZ_EINVAL (not a valid upgrade: 400, 405 or 426), HZ_EBUSY
 *  (cfg.max_websockets, or the server stopping: 503), HZ_ENOMEM (503),
 *  HZ_ESTATE (a response was started, or the request has a body: 400 when
 *  still possible), HZ_ECLOSED, HZ_ECANCELED (on a worker: the request
 *  was abandoned). opts NULL: defaults.
 *  On an executor worker (HZ_ROUTE_EXECUTOR) the handshake is checked
 *  and the options negotiated at the call (the refusals above are answered
 *  the same way), but the accept is made on the loop when the response is
 *  replayed: 0 then means "recorded", not "open". The replay answers 503
 *  (as on the loop) when max_websockets was reached meanwhile or the
 *  server is stopping, and answers nothing when the client left or the
 *  handler deadline answered 503 first; in each of these cases on_open
 *  never runs, no callback is called and everything is freed. Only
 *  on_open tells that the WebSocket opened. thread: loop, or the
 *  executor worker running the handler. */
HZ_API int hz_ws_accept(hz_req *req, hz_res *res, const hz_ws_callbacks *cb,
                        const hz_ws_options *opts, void *ud);

/** Sends data (len bytes, copied) as a message of opcode (HZ_WS_TEXT:
 *  must be UTF-8 over the whole message, HZ_WS_BINARY), or a fragment
 *  with HZ_WS_MORE (messages sent in fragments go uncompressed). Accepted
 *  while the bytes queued for this connection are under its output
 *  budget (one message may cross it), else HZ_EAGAIN, and on_drain runs
 *  once the queue has fallen under half the budget. 0, HZ_EAGAIN,
 *  HZ_EINVAL (bad opcode, text that is not UTF-8 when sent whole),
 *  HZ_ECLOSED (closing or closed), HZ_ENOMEM. thread: any (off the loop
 *  the message goes through the loop's queue, in order with the others
 *  sent from the same thread). */
HZ_API int hz_ws_send(hz_ws *ws, int opcode, const void *data, size_t len, unsigned flags);
/** Sends a ping with up to 125 bytes of payload. Same codes as hz_ws_send
 *  (HZ_EINVAL above 125). thread: any. */
HZ_API int hz_ws_ping(hz_ws *ws, const void *data, size_t len);
/** Starts the closing handshake: a close frame with code (1000, 1001,
 *  1003, 1007-1011, 3000-4999; 0 = no code) and a UTF-8 reason of up to
 *  123 bytes; the connection ends when the peer answers or after
 *  close_timeout_ms. 0, HZ_EINVAL, HZ_ECLOSED (already closing). Nothing
 *  can be sent after it. thread: any. */
HZ_API int hz_ws_close(hz_ws *ws, unsigned code, const char *reason, size_t len);

/** Takes a reference: ws stays valid (its calls return HZ_ECLOSED once the
 *  connection is gone) until the matching hz_ws_release. Every reference
 *  must be released before hz_server_destroy. thread: any. */
HZ_API void hz_ws_retain(hz_ws *ws);
/** Drops a reference taken with hz_ws_retain. thread: any. */
HZ_API void hz_ws_release(hz_ws *ws);
/** The subprotocol chosen (one of hz_ws_options.subprotocols), or NULL.
 *  thread: any. */
HZ_API const char *hz_ws_protocol(const hz_ws *ws);
/** 1 when permessage-deflate was negotiated. thread: any. */
HZ_API int hz_ws_compressed(const hz_ws *ws);

/** A message to send to many connections without a copy per connection:
 *  the frame (header and payload) is built once and each connection's
 *  queue holds a reference. It always goes uncompressed (a shared frame
 *  cannot follow each connection's compression context). a: NULL =
 *  hz_allocator_default. *out = NULL on failure. HZ_EINVAL, HZ_ENOMEM.
 *  thread: any. */
HZ_API int hz_ws_msg_create(hz_ws_msg **out, const hz_allocator *a, int opcode, const void *data,
                            size_t len);
/** Queues m on ws (a reference, no copy): same rules and codes as
 *  hz_ws_send. thread: any. */
HZ_API int hz_ws_send_msg(hz_ws *ws, hz_ws_msg *m);
/** Drops the creator's reference; m is freed when the last connection has
 *  written it. thread: any. */
HZ_API void hz_ws_msg_release(hz_ws_msg *m);

/* ------------------------------------------------------------------------ */
/* Metrics                                                                   */
/* ------------------------------------------------------------------------ */

/** Why a connection was closed. */
enum hz_close_reason {
    HZ_CLOSE_NORMAL = 0, /**< after a response with Connection: close */
    HZ_CLOSE_PEER,       /**< the client closed first */
    HZ_CLOSE_TIMEOUT,    /**< a timeout (see hz_timeout_kind) */
    HZ_CLOSE_ERROR,      /**< I/O error, malformed request, TLS failure */
    HZ_CLOSE_LIMIT,      /**< refused or ended by a limit (max_connections, 413) */
    HZ_CLOSE_SHUTDOWN,   /**< closed by hz_server_stop */
    HZ_CLOSE_REASONS     /**< the number of reasons */
};

/** Which timeout fired: the index of hz_metrics.timeouts. */
enum hz_timeout_kind {
    HZ_TIMEOUT_HEADER = 0, /**< timeouts.header */
    HZ_TIMEOUT_BODY,       /**< timeouts.body_idle or body_min_rate */
    HZ_TIMEOUT_WRITE,      /**< timeouts.write */
    HZ_TIMEOUT_KEEPALIVE,  /**< timeouts.keepalive */
    HZ_TIMEOUT_HANDSHAKE,  /**< timeouts.tls_handshake */
    HZ_TIMEOUT_HANDLER,    /**< timeouts.handler */
    HZ_TIMEOUT_KINDS       /**< the number of kinds */
};

/** Request methods as counted: the index of hz_metrics.method. */
enum hz_method_kind {
    HZ_METHOD_GET = 0, /**< GET */
    HZ_METHOD_HEAD,    /**< HEAD */
    HZ_METHOD_POST,    /**< POST */
    HZ_METHOD_PUT,     /**< PUT */
    HZ_METHOD_DELETE,  /**< DELETE */
    HZ_METHOD_OTHER,   /**< any other method */
    HZ_METHOD_KINDS    /**< the number of kinds */
};

/** WebSocket close codes as counted: the index of hz_metrics.ws_close. */
enum hz_ws_close_kind {
    HZ_WS_CLOSE_1000 = 0, /**< normal */
    HZ_WS_CLOSE_1001,     /**< going away (also our server stop) */
    HZ_WS_CLOSE_1002,     /**< protocol error */
    HZ_WS_CLOSE_1005,     /**< a close frame without a code */
    HZ_WS_CLOSE_1006,     /**< no close frame: the connection just ended */
    HZ_WS_CLOSE_1007,     /**< invalid data (UTF-8) */
    HZ_WS_CLOSE_1009,     /**< too big */
    HZ_WS_CLOSE_1011,     /**< server error */
    HZ_WS_CLOSE_OTHER,    /**< any other code */
    HZ_WS_CLOSE_KINDS     /**< the number of kinds */
};

#define HZ_METRICS_PARSE_KINDS 40 /**< >= the parser's error kinds */
#define HZ_METRICS_LAT_BUCKETS 18 /**< finite latency buckets; +Inf is _count */

/** A snapshot: the sum of every loop's counters. Counters only grow; the
 *  gauges are computed (opened - closed, begun - ended). Loops are summed one
 *  after the other without stopping them, so counters of one snapshot can be
 *  a few events apart.
 *
 *  Growable (docs/abi.md): new counters are appended at the end only, and
 *  the calls below take the caller's sizeof, so a program built against an
 *  older header is never overrun. The inner arrays' sizes (HZ_CLOSE_REASONS,
 *  HZ_METHOD_KINDS, HZ_METRICS_PARSE_KINDS, HZ_TIMEOUT_KINDS,
 *  HZ_METRICS_LAT_BUCKETS, the 5 status classes) are frozen. */
typedef struct hz_metrics {
    uint64_t conn_accepted;                        /**< accept()ed, refused ones included */
    uint64_t conn_open;                            /**< gauge */
    uint64_t conn_closed[HZ_CLOSE_REASONS];        /**< by hz_close_reason */
    uint64_t requests;                             /**< responses completed */
    uint64_t requests_in_flight;                   /**< gauge: begun, not ended */
    uint64_t requests_aborted;                     /**< ended without a complete response */
    uint64_t status_class[5];                      /**< [0] = 1xx ... [4] = 5xx */
    uint64_t method[HZ_METHOD_KINDS];              /**< by hz_method_kind */
    uint64_t parse_errors[HZ_METRICS_PARSE_KINDS]; /**< by kind: hz_metrics_parse_error_name */
    uint64_t timeouts[HZ_TIMEOUT_KINDS];           /**< by hz_timeout_kind */
    /** @{ TLS handshakes completed / failed. */
    uint64_t tls_handshakes_ok, tls_handshakes_failed;
    /** @} */
    /** @{ Bytes read / written. */
    uint64_t bytes_in, bytes_out; /**< HTTP bytes (after TLS decryption) */
    /** @} */
    uint64_t exec_queue_depth; /**< gauge; 0 when the executor does not report it */
    uint64_t latency_bucket[HZ_METRICS_LAT_BUCKETS]; /**< cumulative: <= bound i */
    uint64_t latency_count;                          /**< requests measured */
    uint64_t latency_sum_ns;     /**< the sum of the measured latencies, in ns */
    uint64_t access_log_dropped; /**< access-log file lines lost (write error,
                                    or EAGAIN on an O_NONBLOCK descriptor) */
    /** @{ WebSocket connections opened (101 sent and taken over) / open now. */
    uint64_t ws_opened, ws_open;
    /** @} */
    /** @{ WebSocket messages received / sent (a fragmented one counts once). */
    uint64_t ws_messages_in, ws_messages_out;
    /** @} */
    /** @{ WebSocket payload bytes received / sent (as on the wire: compressed). */
    uint64_t ws_bytes_in, ws_bytes_out;
    /** @} */
    uint64_t ws_close[HZ_WS_CLOSE_KINDS]; /**< closed connections by the close code
                                             that ended them (hz_ws_close_kind) */
    /* HTTP/2 (docs/http2.md); requests above count both protocols */
    uint64_t http2_connections;     /**< connections that turned HTTP/2 */
    uint64_t http2_streams;         /**< request streams opened by clients */
    uint64_t http2_peer_resets;     /**< streams the client reset (RST_STREAM)
                                       before their response ended */
    uint64_t http2_goaway_calm;     /**< connections closed with GOAWAY
                                       ENHANCE_YOUR_CALM (floods, rapid reset) */
    uint64_t http2_protocol_errors; /**< connections closed with another
                                       GOAWAY error (protocol, compression) */
    uint64_t ws_over_http2;         /**< WebSockets opened on an HTTP/2 stream
                                       (RFC 8441; also counted in ws_opened) */
    uint64_t conn_parked;           /**< gauge: idle keep-alive connections parked as a
                                       small record (docs/architecture.md; counted in
                                       conn_open too) */
} hz_metrics;

/** Fills the first `size` bytes of *out (the caller's sizeof(hz_metrics))
 *  with the sum of every loop's counters; nothing past them is written.
 *  Lock-free: each loop writes only its own counters. 0, or HZ_EINVAL (NULL,
 *  or a size below the first release's hz_metrics or above this library's).
 *  Call it through hz_server_metrics(). thread: any. */
HZ_API int hz_server_metrics_sized(const hz_server *srv, hz_metrics *out, size_t size);

/** hz_server_metrics_sized() with this header's sizeof(hz_metrics). thread: any. */
static inline int hz_server_metrics(const hz_server *srv, hz_metrics *out)
{
    return hz_server_metrics_sized(srv, out, sizeof(*out));
}
/** The upper bound of latency bucket i in seconds, or a negative value past
 *  the end. thread: any. */
HZ_API double hz_metrics_bucket_le(unsigned i);
/** The parse-error kind i ("CL_AND_TE"), or NULL past the last kind. */
HZ_API const char *hz_metrics_parse_error_name(unsigned i);
/** Renders m, whose first `size` bytes are the caller's (its
 *  sizeof(hz_metrics)), in the Prometheus text exposition format (0.0.4)
 *  into buf (len bytes, NUL-terminated). A metric whose field lies past
 *  `size` is absent: it is not printed at all (neither 0 nor its # HELP),
 *  and nothing past `size` is read. Returns the length written (without the
 *  NUL), or HZ_ERANGE when buf is too small (16 KiB is plenty), HZ_EINVAL
 *  (NULL, len 0, or a size hz_server_metrics_sized refuses). Call it through
 *  hz_metrics_prometheus(). thread: any. */
HZ_API long hz_metrics_prometheus_sized(const hz_metrics *m, size_t size, char *buf, size_t len);

/** hz_metrics_prometheus_sized() with this header's sizeof(hz_metrics).
 *  thread: any. */
static inline long hz_metrics_prometheus(const hz_metrics *m, char *buf, size_t len)
{
    return hz_metrics_prometheus_sized(m, sizeof(*m), buf, len);
}

/* ------------------------------------------------------------------------ */
/* Access log                                                                */
/* ------------------------------------------------------------------------ */

/** One finished request, given to cfg.access_log. The strings are views
 *  valid only during the call. */
struct hz_access_entry {
    hz_str method;        /**< as sent; empty when the request line was unusable */
    hz_str target;        /**< as sent (path and query); may be empty likewise */
    int version;          /**< 10, 11; 0 if unknown */
    int status;           /**< the status sent */
    uint64_t bytes;       /**< body bytes of the response (Content-Length or
                             streamed), head excluded */
    uint64_t duration_ns; /**< first byte of the request to response complete */
    const char *peer;     /**< "127.0.0.1", "::1"; "unix" on a Unix-domain
                             listener; "-" when unknown */
    int peer_port;        /**< the peer's port; 0 when unknown */
    int tls;              /**< 1 on a TLS connection */
    uint64_t conn_id;     /**< unique per server: loop index << 48 | sequence */
    uint32_t request_seq; /**< 1 for the connection's first request */
    int64_t time_sec;     /**< wall clock (Unix seconds) when it finished */
    hz_str user_agent;    /**< header values, empty if absent */
    hz_str referer;       /**< the Referer header value; empty if absent */
};

/** Formats e in the combined log format (one line, "\n"-terminated, NUL):
 *  peer - - [10/Oct/2000:13:55:36 +0000] "GET /a HTTP/1.1" 200 2326 "referer" "agent".
 *  Quotes, backslashes and control bytes in the fields are escaped (\", \\,
 *  `\xHH`). Returns the length, HZ_ERANGE (buf too small), HZ_EINVAL (NULL
 *  arguments, or a time_sec outside the years 0000-9999).
 *  thread: any. */
HZ_API long hz_access_log_combined(const hz_access_entry *e, char *buf, size_t len);
/** Formats e as one JSON object and "\n" (JSON lines), strings escaped per
 *  RFC 8259 (bytes that are not UTF-8 become `\u00XX` of the byte). Same
 *  return codes. thread: any. */
HZ_API long hz_access_log_json(const hz_access_entry *e, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

/* Decoding helpers (URL, query, forms, multipart, cookies) live in their own
 * file to keep this one readable; it is part of the public API. */
#include <httpz/util.h>

#endif /* HTTPZ_HTTPZ_H */
