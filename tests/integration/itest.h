/* itest.h - helpers for the integration tests: a server in-process on
 * 127.0.0.1:0 with a standard set of routes, and a raw-socket client that
 * reads and parses responses with timeouts (poll, never sleep). */
#ifndef HZ_ITEST_H
#define HZ_ITEST_H

#include <stdatomic.h>
#include <stddef.h>
#include <curl/curl.h>
#include <httpz/httpz.h>

typedef struct it_server {
    hz_server *srv;
    int port;
} it_server;

/* Counters the standard handlers bump (reset by it_start). */
extern atomic_int it_calls;     /* handler invocations, all routes */
extern atomic_int it_done_ok;   /* exchanges ended with status 0 */
extern atomic_int it_done_fail; /* exchanges aborted */

/** Starts a server with cfg (NULL = defaults with 1 loop) and the standard
 *  routes:  GET /            "hello"            POST /body  echoes the buffered body
 *           POST /stream     streamed body echoed back chunked
 *           GET /slow?ms=N   answers after N ms (hz_res_after)
 *           GET /large?kb=N  streamed N KiB with backpressure
 *           GET /big?kb=N    hz_res_send of N KiB
 *           POST /small      body limit 1 KiB
 *           POST /ignore     streamed route that answers without reading */
void it_start(it_server *s, hz_config *cfg);
/* HZ_PROTO_* of the listener it_start opens (0: the default). */
extern unsigned it_protocols;
void it_stop(it_server *s); /* graceful stop (1 s) + destroy */

typedef struct it_conn {
    int fd;
    char *buf; /* received, not yet consumed */
    size_t len, cap;
} it_conn;

typedef struct it_resp {
    int status;
    char head[8192]; /* status line + fields, NUL-terminated */
    char *body;      /* malloc'd, NUL-terminated */
    size_t body_len;
    int chunked;
    int conn_close; /* Connection: close present */
} it_resp;

int it_connect(it_conn *c, int port); /* 0 or -1 */
/** Connects fd (a TCP socket, its options set by the caller) to
 *  127.0.0.1:port: connect()'s result. */
int it_connect_fd(int fd, int port);
void it_close(it_conn *c);
int it_send(it_conn *c, const void *p, size_t n);
int it_sends(it_conn *c, const char *s);
/** Reads one response (HEAD: head only when head_only). 0, or -1 on
 *  timeout / close before a complete response (r then holds nothing to
 *  free). */
int it_read_response(it_conn *c, it_resp *r, int head_only, int timeout_ms);
void it_resp_free(it_resp *r);
/** The value of field name in r->head ("" if absent; static buffer). */
const char *it_header(const it_resp *r, const char *name);
/** 1 when the peer closed (EOF or reset) within timeout_ms, 0 if still open. */
int it_wait_closed(it_conn *c, int timeout_ms);
/** Reads whatever arrives within timeout_ms into c->buf (up to the close
 *  or the deadline, however much that is); returns bytes. */
long it_read_some(it_conn *c, int timeout_ms);
/** Reads until c->buf holds at least min bytes (or EOF, error, deadline);
 *  returns the bytes read. For "the response has started" without
 *  draining a body that is meant to stay unread. */
long it_read_atleast(it_conn *c, size_t min, int timeout_ms);
/** Monotonic ms. */
long long it_now_ms(void);

/* test_alloc.h's counting allocator (that header includes
 * <httpz/backend.h>, which some tests must not see). */
typedef struct hz_count_alloc hz_count_alloc;

/** hz_config_init with one loop and ca (initialised here) as the allocator. */
void it_config_counted(hz_config *cfg, hz_count_alloc *ca);
/** Asserts that every block went back to ca, with the size it had. */
void it_assert_no_leaks(const hz_count_alloc *ca);
/** The same as expectations (cr_expect): the test goes on to its other checks. */
void it_expect_no_leaks(const hz_count_alloc *ca);
/** Runs the command fmt makes through the shell (stderr joined to stdout);
 *  returns its exit status (-1 when it did not exit). *out gets the output
 *  (malloc'd, NUL-terminated) unless out is NULL. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
int it_run(char **out, const char *fmt, ...);
/** hz_route_with with only the flags set. */
int it_route_flags(hz_server *s, const char *method, const char *path, hz_handler_fn fn, void *ud,
                   unsigned flags);
/** it_start(s, cfg), then c connected to it (asserted). */
void it_start_conn(it_server *s, hz_config *cfg, it_conn *c);
/** it_close(c), then it_stop(s). */
void it_stop_conn(it_server *s, it_conn *c);
/* The standard routes' handlers, for servers with routes of their own:
 * it_h_big sends N KiB ('a' + i % 26; ?kb=N, 1024 by default) with one
 * hz_res_send, it_h_echo the buffered request body. Both count in
 * it_calls (it_h_big in the it_done_* counters too). */
void it_h_big(hz_req *req, hz_res *res, void *ud);
void it_h_echo(hz_req *req, hz_res *res, void *ud);
/** Asserts that p[0..n) is it_h_big's body of want bytes. */
void it_assert_big_body(const char *p, size_t n, size_t want);

/* A response body collected by libcurl: CURLOPT_WRITEFUNCTION it_sink_write
 * with CURLOPT_WRITEDATA an it_sink (zeroed at first). */
typedef struct it_sink {
    char *p; /* owns: malloc'd, NUL-terminated once anything arrived */
    size_t n, cap;
} it_sink;
size_t it_sink_write(char *d, size_t sz, size_t nm, void *ud);
/** Empties k for the next transfer (its memory kept). */
void it_sink_reset(it_sink *k);
/** Frees k's memory (k is then empty). */
void it_sink_free(it_sink *k);
/** One transfer on h: GET url, or POST of post[0..len) unless post is
 *  NULL, the body into k (emptied first): curl_easy_perform's result. */
CURLcode it_curl_fetch(CURL *h, const char *url, it_sink *k, const char *post, size_t len);
/** Asserts that h's last transfer reused a connection (none opened for
 *  it); what names the transfer in the failure. */
void it_curl_assert_reused(CURL *h, const char *what);

/** A fresh self-signed P-256 certificate for cn (also its DNS
 *  subjectAltName) written to key and crt by the openssl CLI: 0, or the
 *  CLI's failure (the caller asserts or skips). */
int it_make_cert(const char *key, const char *crt, const char *cn);

#endif
