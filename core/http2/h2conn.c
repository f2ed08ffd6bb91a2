/* h2conn.c - the HTTP/2 connection: nghttp2 session, streams, dispatch,
 * the response writer of a stream (its hz__res_ops), limits, timeouts,
 * flood accounting and graceful stop. See h2.h and docs/http2.md. */
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include "h2.h"
#include "exec.h"
#include "metrics.h"
#include "accesslog.h"
#include "fmt.h"
#include "ws_conn.h"

#if HZ_HAVE_HTTP2
#include <nghttp2/nghttp2.h>

#define H2_READ_CHUNK 16384u
#define H2_READ_BUDGET (256u * 1024u) /* bytes read per event, for fairness */
#define H2_OUT_HIGH (64u * 1024u)     /* frames serialized ahead of the socket */
#define H2_SEND_BUDGET (1u << 20)     /* bytes written per run, for fairness */
#define H2_WUPD_DUE_MAX (1u << 16)    /* WINDOW_UPDATEs earned and not yet sent, at most */
#define H2_MAX_CONT 32u               /* CONTINUATION frames per header block */
#define H2_HDR_ABUSE 4u               /* header list this many times the limit: reset */

typedef struct h2s h2s;
typedef struct hz__h2 hz__h2;
typedef struct hz__h2pool hz__h2pool;

/* A file DATA frame in c->out whose payload is read later (h2_fill): the
 * frames of a run of c->out are read with one preadv per stream. */
#define H2_HOLES 16u
typedef struct h2_hole {
    h2s *s;      /* borrowed: the stream (detached only by the sweep, after the fill) */
    uint32_t at; /* the frame header's offset in c->out.data */
    uint32_t len;
} h2_hole;

struct hz__h2 {          /* owner: its conn (c->h2) */
    hz__conn *c;         /* borrowed: owns this */
    nghttp2_session *ng; /* owns */
    h2s *streams;        /* owns: open streams, doubly linked */
    h2s *cur;            /* borrowed: the stream of the header block being read */
    unsigned nstreams;
    uint64_t obytes;        /* response body bytes buffered in streams */
    uint64_t rabytes;       /* file bytes read ahead into streams' ob (h2_fill) */
    unsigned nsrc;          /* streams pulling a body source that is not waiting */
    uint64_t last_data;     /* ms: last DATA produced (zero-window stall) */
    uint64_t hdr_since;     /* ms: a header block is open since; 0 = none */
    uint64_t win_start;     /* ms: start of the flood-count window */
    uint32_t nctrl;         /* control frames in this window */
    uint32_t wupd_due;      /* WINDOW_UPDATEs our DATA frames earned, not counted in nctrl */
    uint32_t nresets;       /* early resets by the peer in this window */
    uint32_t ncont;         /* CONTINUATION frames of the open header block */
    uint32_t last_sid;      /* the highest stream id a client HEADERS opened */
    uint32_t gap_lo[4];     /* recent ranges of client stream ids skipped, */
    uint32_t gap_hi[4];     /* never opened: [gap_lo, gap_hi]; 0 = none */
    uint8_t stop_step;      /* 0; 1: shutdown notice + PING sent; 2: final GOAWAY */
    uint8_t tkind;          /* what the conn timer stands for (enum h2_tkind) */
    unsigned calm : 1;      /* a GOAWAY for abuse or error is queued: close after it */
    unsigned out_whole : 1; /* the last write of c->out was of whole TLS records */
    unsigned in_ng : 1;     /* inside nghttp2 (mem_recv / mem_send) */
    unsigned in_run : 1;
    uint32_t nholes;
    h2_hole holes[H2_HOLES]; /* file payloads send_data left for h2_fill */
    /* The client's frame heads as they arrive (h2_scan). */
    uint32_t rx_skip;  /* bytes before the next frame head: the preface, then payloads */
    uint32_t rx_max;   /* the highest odd stream id a client HEADERS named */
    uint64_t rx_ended; /* bit k: the client ended stream rx_max - 2k (END_STREAM, RST) */
    uint8_t rx_hn;     /* bytes of a frame head split across reads, in rx_hd */
    uint8_t rx_hd[13]; /* the head, and a PRIORITY frame's stream dependency */
};

enum h2_tkind {
    H2_T_NONE = 0,
    H2_T_WRITE,
    H2_T_STALL,
    H2_T_HEADER,
    H2_T_BODY,
    H2_T_SOCK_IDLE, /* the transport's quiet deadline (hz__sock_idle) */
    H2_T_IDLE
};

struct h2s {          /* owner: its hz__h2 (list) */
    struct hz_req r;  /* first: the neutral exchange */
    hz__h2 *h;        /* borrowed: the connection's session; NULL once detached */
    h2s *prev, *next; /* borrowed: the connection's list */
    int32_t id;
    hz__buf req;       /* owns: method, path, fields, then a buffered body (r.raw) */
    hz__buf bq;        /* owns: streamed body bytes not delivered yet */
    hz__buf ob;        /* owns: response body bytes not framed yet */
    uint32_t hbytes;   /* header list bytes (RFC 9113 §6.5.2 cost) */
    uint32_t ncookies; /* cookie fields seen */
    char st[4];        /* :status value, referenced by the queued HEADERS (no copy) */
    char cl[24];       /* content-length value, likewise */
    uint64_t body_limit;
    uint64_t body_total; /* request body bytes received */
    uint64_t body_last;  /* ms: last request body bytes */
    hz_body_chunk_fn on_chunk;
    hz_body_end_fn on_end;
    void *body_ud; /* borrowed: the user's */
    hz_body_source src;
    int64_t src_left;
    unsigned hdr_over : 1;  /* header list or field count over the limits: 431 */
    unsigned bad_req : 1;   /* :path or :authority HTTP/1.1 would refuse: 400 */
    unsigned hdrs_done : 1; /* the request's header block ended */
    unsigned req_ended : 1; /* END_STREAM received */
    unsigned dispatched : 1;
    unsigned streamed : 1; /* HZ_ROUTE_STREAM_BODY: body to on_chunk */
    unsigned discard : 1;  /* the body is dropped (answered already) */
    unsigned res_started : 1;
    unsigned res_done : 1; /* the handler ended the response */
    unsigned fin_sent : 1; /* our END_STREAM went out */
    unsigned finished : 1; /* counted, on_done called */
    unsigned closed : 1;   /* nghttp2 closed the stream */
    unsigned no_body : 1;
    unsigned deferred : 1; /* the data provider said DEFERRED */
    unsigned drain_wait : 1;
    unsigned paused : 1;
    unsigned body_wanted : 1;
    unsigned end_called : 1;
    unsigned src_on : 1;
    unsigned src_wait : 1;
    unsigned server_set : 1;
    unsigned want_continue : 1;
    unsigned peer_reset : 1;
    unsigned trailer_over : 1; /* the trailer section over limits.trailer_bytes: 431 */
    unsigned src_fail : 1;     /* the file ended early under h2_fill: reset, no more DATA */
    unsigned ob_ra : 1;        /* ob holds file bytes h2_fill read ahead (h->rabytes) */
    /* RFC 8441: an extended CONNECT for a WebSocket, its handover and pipe */
    unsigned wsx : 1;     /* :method CONNECT + :protocol websocket */
    unsigned xproto : 1;  /* :protocol something else */
    unsigned ws_end : 1;  /* the WebSocket ended its side: END_STREAM after ob */
    unsigned ws_wblk : 1; /* the pipe said HZ_EAGAIN: notify HZ_EV_WRITE */
    uint64_t tbytes;      /* trailer section bytes (the same cost as hbytes) */
    hz__upgrade_fn up_fn; /* the accepted upgrade, handed over by the sweep */
    void *up_ud;          /* borrowed: up_fn's */
    void *ws;             /* borrowed: the hz_ws on this stream while attached (its
                             hz__handover.peer slot; cleared by its close) */
};

#define H2S(ex) ((h2s *)(ex))

static const hz__res_ops h2_res_ops;
static const hz__io_vt h2_io_vt;
static void h2_run(hz__conn *c);
static void h2_close(hz__conn *c);
static void h2_timer_fn(hz__timer *t);

/* ---- nghttp2 memory through the server's allocator ------------------------ */

/* nghttp2 frees without a size: each block carries its size in front (the
 * bytes taken from the allocator, header included). nghttp2 allocates a
 * few small blocks per stream (stream, outbound items, header buffers):
 * blocks up to H2_POOL_MAXSZ are rounded up to a power of two and the loop
 * keeps up to H2_POOL_KEEP spare ones per size, like HTTP/1.1's spare
 * exchanges (loop->ex_free), and up to as many spare streams. */
#define H2_MEM_HDR 16u
#define H2_POOL_MINSZ 64u
#define H2_POOL_MAXSZ 1024u
#define H2_POOL_CLASSES 5u /* 64, 128, 256, 512, 1024 */
#define H2_POOL_KEEP 64u
/* Spare blocks of up to 256 bytes (classes 0-2: nghttp2's stream and
 * outbound items) kept per loop: under RFC 9218 nghttp2 frees a stream's
 * blocks when it closes, a connection's batch at once, so many streams'
 * blocks wait here for the next requests (more than H2_POOL_KEEP at
 * c64 m32). 256 x (64 + 128 + 256) bytes = 112 KiB at most. */
#define H2_POOL_KEEP_SMALL 256u
#define H2_RA_MAX (64u * 1024u) /* file bytes read ahead per stream at most (h2_fill) */
#define H2_RA_KEEP 16u          /* spare read-ahead buffers per loop */

struct hz__h2pool {                 /* owner: its loop (loop->h2pool) */
    void *blk[H2_POOL_CLASSES];     /* owns: spare blocks, linked through their first word */
    unsigned nblk[H2_POOL_CLASSES]; /* spare blocks per class */
    h2s *streams;                   /* owns: spare streams, linked through next */
    unsigned nstreams;
    char *ra[H2_RA_KEEP]; /* owns: spare H2_RA_MAX-byte stream buffers (read-ahead) */
    unsigned nra;
};

static unsigned pool_class(size_t sz)
{
    unsigned k = 0;
    for (size_t c = H2_POOL_MINSZ; c < sz; c <<= 1)
        k++;
    return k;
}

static void *h2_malloc(size_t n, void *ud)
{
    hz__loop *loop = ud;
    hz__h2pool *pool = loop->h2pool;
    size_t sz = n + H2_MEM_HDR;
    char *p = NULL;
    if (sz <= H2_POOL_MAXSZ) {
        unsigned k = pool_class(sz);
        sz = (size_t)H2_POOL_MINSZ << k;
        if (pool && pool->blk[k]) {
            p = pool->blk[k];
            memcpy(&pool->blk[k], p, sizeof(void *));
            pool->nblk[k]--;
        }
    }
    if (!p && !(p = hz__alloc(&loop->srv->a, sz)))
        return NULL;
    memcpy(p, &sz, sizeof(sz));
    return p + H2_MEM_HDR;
}

static void h2_free(void *ptr, void *ud)
{
    if (!ptr)
        return;
    hz__loop *loop = ud;
    hz__h2pool *pool = loop->h2pool;
    char *p = (char *)ptr - H2_MEM_HDR;
    size_t sz;
    memcpy(&sz, p, sizeof(sz));
    if (sz <= H2_POOL_MAXSZ && pool && !loop->stopping) {
        unsigned k = pool_class(sz);
        if (pool->nblk[k] < (k <= 2 ? H2_POOL_KEEP_SMALL : H2_POOL_KEEP)) {
            memcpy(p, &pool->blk[k], sizeof(void *));
            pool->blk[k] = p;
            pool->nblk[k]++;
            return;
        }
    }
    hz__free(&loop->srv->a, p, sz);
}

static void *h2_calloc(size_t k, size_t n, void *ud)
{
    if (n && k > SIZE_MAX / n)
        return NULL;
    void *p = h2_malloc(k * n, ud);
    if (p)
        memset(p, 0, k * n);
    return p;
}

static void *h2_realloc(void *ptr, size_t n, void *ud)
{
    if (!ptr)
        return h2_malloc(n, ud);
    if (!n) {
        h2_free(ptr, ud);
        return NULL;
    }
    size_t old;
    memcpy(&old, (char *)ptr - H2_MEM_HDR, sizeof(old));
    old -= H2_MEM_HDR;
    void *q = h2_malloc(n, ud);
    if (!q)
        return NULL;
    memcpy(q, ptr, old < n ? old : n);
    h2_free(ptr, ud);
    return q;
}

/* ---- helpers ---------------------------------------------------------------- */

static uint8_t method_id(const char *m, size_t n)
{
    static const struct {
        const char *s;
        uint8_t id;
    } t[] = {{"GET", HZ__M_GET},     {"HEAD", HZ__M_HEAD},       {"POST", HZ__M_POST},
             {"PUT", HZ__M_PUT},     {"DELETE", HZ__M_DELETE},   {"OPTIONS", HZ__M_OPTIONS},
             {"PATCH", HZ__M_PATCH}, {"CONNECT", HZ__M_CONNECT}, {"TRACE", HZ__M_TRACE}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strlen(t[i].s) == n && memcmp(t[i].s, m, n) == 0)
            return t[i].id;
    return HZ__M_OTHER;
}

/* Queues c for a run at the end of this iteration, unless one is going on. */
static void h2_kick(hz__conn *c)
{
    if (c->h2 && !c->h2->in_run && !c->closing)
        hz__loop_ready(c->loop, c);
}

static void h2_resume_data(h2s *s)
{
    if (s->deferred && s->h && !s->closed) {
        s->deferred = 0;
        nghttp2_session_resume_data(s->h->ng, s->id);
    }
    if (s->h)
        h2_kick(s->h->c);
}

/* Ends the session for abuse or a protocol error: GOAWAY with code, then
 * the connection closes once it is written. */
static void h2_goaway(hz__h2 *h, uint32_t code)
{
    if (h->calm)
        return;
    h->calm = 1;
    hz__conn_why(h->c, HZ_CLOSE_ERROR);
    /* Queued as a GOAWAY of our own: terminate_session would be replaced
     * by nghttp2's PROTOCOL_ERROR when input stops inside a header block. */
    nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->ng),
                          code, NULL, 0);
}

/* ---- streams ------------------------------------------------------------------ */

static h2s *stream_new(hz__h2 *h, int32_t id)
{
    hz__loop *loop = h->c->loop;
    hz_server *srv = loop->srv;
    uint32_t cap = srv->plimits.header_count ? srv->plimits.header_count : 1;
    /* The field table follows the stream in one block (a spare one from
     * the loop's pool when there is one); only the stream is zeroed. */
    hz__h2pool *pool = loop->h2pool;
    h2s *s;
    if (pool && pool->streams) {
        s = pool->streams;
        pool->streams = s->next;
        pool->nstreams--;
    } else if (!(s = hz__alloc(&srv->a, sizeof(*s) + sizeof(*s->r.fields) * cap))) {
        return NULL;
    }
    memset(s, 0, sizeof(*s));
    s->r.fields = (hz__field *)(void *)(s + 1);
    s->r.nfields_cap = cap;
    s->r.loop = loop;
    s->r.conn = h->c;
    s->r.res.ex = &s->r;
    s->r.res.ops = &h2_res_ops;
    s->r.http_version = 20;
    s->r.head.fields = s->r.fields;
    s->r.head.version_minor = 1;
    atomic_init(&s->r.cancelled, 0);
    s->h = h;
    s->id = id;
    s->body_last = loop->now;
    s->next = h->streams;
    if (h->streams)
        h->streams->prev = s;
    h->streams = s;
    h->nstreams++;
    hz__metrics_req_begin(&s->r);
    hz__m_add(&loop->metrics, HZ__MS_H2_STREAMS, 1);
    return s;
}

static void stream_free(hz__loop *loop, h2s *s)
{
    hz_server *srv = loop->srv;
    hz__buf_release(&s->req, &loop->bufs);
    hz__buf_release(&s->bq, &loop->bufs);
    hz__h2pool *rp = loop->h2pool;
    if (s->ob.cap == H2_RA_MAX && rp && rp->nra < H2_RA_KEEP && !loop->stopping) {
        rp->ra[rp->nra++] = s->ob.data; /* malloc and a heap trim per response otherwise */
        memset(&s->ob, 0, sizeof(s->ob));
    }
    hz__buf_release(&s->ob, &loop->bufs);
    hz__zf_release(&s->r);
    hz__buf_release(&s->r.hdrs, &loop->bufs);
    hz__h2pool *pool = loop->h2pool;
    if (pool && pool->nstreams < H2_POOL_KEEP && !loop->stopping) {
        s->next = pool->streams;
        pool->streams = s;
        pool->nstreams++;
        return;
    }
    hz__free(&srv->a, s, sizeof(*s) + sizeof(*s->r.fields) * s->r.nfields_cap);
}

static void src_done(h2s *s, int status)
{
    if (!s->src_on)
        return;
    hz_body_source src = s->src;
    s->src_on = 0;
    if (!s->src_wait && s->h)
        s->h->nsrc--;
    s->src_wait = 0;
    memset(&s->src, 0, sizeof(s->src));
    hz__conn *c = s->r.conn;
    if (c)
        c->refs++;
    src.done(src.ud, status);
    if (c)
        c->refs--;
}

/* The exchange ends without a complete response (reset or connection
 * gone): the user's callbacks learn it once, like an HTTP/1.1 disconnect. */
static void stream_abort(h2s *s, int err)
{
    hz_req *ex = &s->r;
    atomic_store(&ex->cancelled, 1);
    src_done(s, err);
    if (s->body_wanted && !s->end_called && s->on_end) {
        s->end_called = 1;
        s->on_end(ex, err, s->body_ud);
    }
    hz__ex_after_cancel(ex);
    hz__ex_ended(ex, err);
}

static __attribute__((noinline)) void alog_emit(hz__conn *c, h2s *s, uint64_t dur)
{
    hz__alog_req r = {
        .ex = &s->r,
        .head = &s->r.head,
        .bytes = s->req.data,
        .avail = s->req.len,
        .conn_id = c->id,
        .request_seq = (uint32_t)s->id,
        .peer_fd = c->sock.fd,
        .tls = hz__sock_is_tls(&c->sock),
        .no_body = s->no_body,
    };
    hz__accesslog_emit(c->loop, &r, dur);
}

/* The response went out whole: counted, logged, on_done. */
static void stream_finish(hz__conn *c, h2s *s)
{
    hz_req *ex = &s->r;
    s->finished = 1;
    if (ex->m_begun) {
        ex->m_begun = 0;
        uint64_t dur = hz__now_ns() - ex->m_t0;
        hz__metrics_req_done(&c->loop->metrics, dur, ex->status, ex->head.method);
        if (HZ__UNLIKELY(c->loop->srv->alog != NULL))
            alog_emit(c, s, dur);
    }
    if (s->body_wanted && !s->end_called && s->on_end && s->closed) {
        s->end_called = 1;
        s->on_end(ex, HZ_ECLOSED, s->body_ud);
    }
    hz__ex_ended(ex, 0);
}

/* Takes s off its connection; freed now unless a holder remains. */
static void stream_detach(hz__h2 *h, h2s *s)
{
    hz__loop *loop = h->c->loop;
    if (s->up_fn) { /* accepted, never handed over */
        hz__upgrade_fn fn = s->up_fn;
        s->up_fn = NULL;
        fn(NULL, s->up_ud);
    }
    if (s->ws) /* the WebSocket ends with the stream (1006 unless it closed) */
        hz__ws_pipe_notify(s->ws, HZ_EV_HUP);
    s->ws = NULL;
    if (s->prev)
        s->prev->next = s->next;
    else
        h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    h->nstreams--;
    if (h->cur == s)
        h->cur = NULL;
    if (s->ob_ra)
        h->rabytes -= hz__buf_pending(&s->ob);
    else
        h->obytes -= hz__buf_pending(&s->ob);
    if (s->src_on && !s->src_wait)
        h->nsrc--;
    s->src_on = 0;
    s->h = NULL;
    s->r.conn = NULL;
    if (!s->r.exec) /* a job's handler may still read; its completion clears it */
        s->r.raw = NULL;
    if (s->r.m_begun) {
        s->r.m_begun = 0;
        hz__m_add(&loop->metrics, HZ__MS_REQ_ABORTED, 1);
    }
    if (!s->r.refs)
        stream_free(loop, s);
}

/* ---- responses (the stream's hz__res_ops) -------------------------------------- */

static int h2_live(const hz_req *ex)
{
    const h2s *s = (const h2s *)ex;
    if (!s->h || s->closed || !ex->conn || ex->conn->closing)
        return HZ_ECLOSED;
    return 0;
}

static int h2_set_header(hz_req *ex, const char *name, size_t nl, const char *value, size_t vl,
                         int kind)
{
    h2s *s = H2S(ex);
    if (h2_live(ex) < 0)
        return HZ_ECLOSED;
    if (s->res_started)
        return HZ_ESTATE;
    if (kind == HZ__HDR_DROP || kind == HZ__HDR_CONNECTION || kind == HZ__HDR_CONN_CLOSE)
        return 0; /* connection-specific: not in HTTP/2 (RFC 9113 §8.2.2) */
    if (kind == HZ__HDR_SERVER)
        s->server_set = 1;
    if (hz__buf_pending(&ex->hdrs) + HZ__RES_HDR_COST(nl, vl) > HZ__RES_HDRS_MAX)
        return HZ_ERANGE;
    if (hz__buf_reserve(&ex->hdrs, &ex->loop->bufs, nl + vl + 4, UINT32_MAX) < 0)
        return HZ_ENOMEM;
    char *p = ex->hdrs.data + ex->hdrs.len;
    for (size_t i = 0; i < nl; i++) /* HTTP/2 field names are lowercase */
        p[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    memcpy(p + nl, ": ", 2);
    memcpy(p + nl + 2, value, vl);
    memcpy(p + nl + 2 + vl, "\r\n", 2);
    ex->hdrs.len += (uint32_t)(nl + vl + 4);
    return 0;
}

/* Whether a user field must not appear in HTTP/2 (RFC 9113 §8.2.2). */
static int conn_specific(const char *n, size_t nl)
{
    return (nl == 10 && memcmp(n, "keep-alive", 10) == 0) ||
           (nl == 16 && memcmp(n, "proxy-connection", 16) == 0) ||
           (nl == 17 && memcmp(n, "transfer-encoding", 17) == 0) ||
           (nl == 7 && memcmp(n, "upgrade", 7) == 0);
}

static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud);

/* Submits the response head; body: with a data provider. len: the
 * content-length to announce, or -1. */
static int res_head(h2s *s, int status, int64_t len, int body)
{
    hz_req *ex = &s->r;
    hz__loop *loop = ex->loop;
    hz_server *srv = loop->srv;
    hz__h2 *h = s->h;
    s->no_body = ex->head.method == HZ__M_HEAD || status < 200 || status == 204 || status == 304;
    ex->status = status;
    /* :status, date, server, content-length and one per user field line:
     * on the stack for the usual few, else from the allocator. */
    size_t nh = 0;
    for (const char *q = ex->hdrs.data ? ex->hdrs.data + ex->hdrs.off : NULL,
                    *qe = q ? ex->hdrs.data + ex->hdrs.len : NULL;
         q && (q = memchr(q, '\n', (size_t)(qe - q))) != NULL; q++)
        nh++;
    nghttp2_nv nv_stack[32];
    size_t nv_cap = nh + 4;
    nghttp2_nv *nv = nv_cap <= 32 ? nv_stack : hz__alloc(&srv->a, sizeof(*nv) * nv_cap);
    if (!nv) {
        hz__buf_release(&ex->hdrs, &loop->bufs);
        return HZ_ENOMEM;
    }
    size_t n = 0;
    s->st[0] = (char)('0' + status / 100 % 10);
    s->st[1] = (char)('0' + status / 10 % 10);
    s->st[2] = (char)('0' + status % 10);
    /* No copies in nghttp2: every name is lowercase already (constants, or
     * lowered by h2_set_header) and every name and value outlives the
     * queued HEADERS frame: constants, the server's and the loop's Date
     * strings (rewritten in place, same length), s->st, s->cl and
     * ex->hdrs, which on_frame_send releases once the frame is out. */
#define NV(nm, nml, v, vl)                                                                         \
    do {                                                                                           \
        nv[n].name = (uint8_t *)(nm);                                                              \
        nv[n].namelen = (nml);                                                                     \
        nv[n].value = (uint8_t *)(v);                                                              \
        nv[n].valuelen = (vl);                                                                     \
        nv[n].flags = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;                \
        n++;                                                                                       \
    } while (0)
    NV(":status", 7, s->st, 3);
    /* loop->date is "Date: <value>\r\n"; the Server line likewise. */
    if (loop->date_len > 8)
        NV("date", 4, loop->date + 6, loop->date_len - 8);
    if (!s->server_set && srv->server_hdr && srv->server_hdr_len > 10)
        NV("server", 6, srv->server_hdr + 8, srv->server_hdr_len - 10);
    char *p = ex->hdrs.data ? ex->hdrs.data + ex->hdrs.off : NULL;
    char *end = p ? ex->hdrs.data + ex->hdrs.len : NULL;
    while (p && p < end && n < nv_cap - 1) {
        char *colon = memchr(p, ':', (size_t)(end - p));
        char *eol = colon ? memchr(colon, '\r', (size_t)(end - colon)) : NULL;
        if (!eol)
            break;
        if (!conn_specific(p, (size_t)(colon - p)))
            NV(p, (size_t)(colon - p), colon + 2, (size_t)(eol - colon - 2));
        p = eol + 2;
    }
    if (len >= 0 && status >= 200 && status != 204 && status != 304) {
        size_t k = hz__fmt_u64(s->cl, (uint64_t)len);
        NV("content-length", 14, s->cl, k);
    }
#undef NV
    nghttp2_data_provider prd;
    prd.source.ptr = s;
    prd.read_callback = data_read;
    int rc = nghttp2_submit_response(h->ng, s->id, nv, n, body && !s->no_body ? &prd : NULL);
    if (nv != nv_stack)
        hz__free(&srv->a, nv, sizeof(*nv) * nv_cap);
    s->res_started = 1;
    if (rc < 0) {
        hz__buf_release(&ex->hdrs, &loop->bufs);
        return HZ_ECLOSED; /* the stream is gone in nghttp2 */
    }
    if (!body || s->no_body)
        s->res_done = 1;
    h->last_data = loop->now;
    h2_kick(h->c);
    return 0;
}

static int h2_send(hz_req *ex, int status, const void *body, size_t len)
{
    h2s *s = H2S(ex);
    if (h2_live(ex) < 0)
        return HZ_ECLOSED;
    if (s->res_started)
        return HZ_ESTATE;
    int no_body = ex->head.method == HZ__M_HEAD || status < 200 || status == 204 || status == 304;
    if (!no_body && len) {
        if (hz__buf_append(&s->ob, &ex->loop->bufs, body, len) < 0)
            return HZ_ENOMEM;
        s->h->obytes += len;
    }
    ex->body_bytes = len;
    int rc = res_head(s, status, (int64_t)len, len > 0);
    s->res_done = 1;
    return rc;
}

static int h2_start(hz_req *ex, int status)
{
    h2s *s = H2S(ex);
    if (h2_live(ex) < 0)
        return HZ_ECLOSED;
    if (s->res_started)
        return HZ_ESTATE;
    return res_head(s, status, -1, 1);
}

static int h2_write(hz_req *ex, const void *buf, size_t len)
{
    h2s *s = H2S(ex);
    if (h2_live(ex) < 0)
        return HZ_ECLOSED;
    if (!s->res_started || s->res_done)
        return HZ_ESTATE;
    if (s->no_body)
        return 0;
    hz__h2 *h = s->h;
    const hz_config *cfg = &ex->loop->srv->cfg;
    /* A completion poller's queue counts in the connection's budget (a
     * quarter at most, so drain_ready never waits for it alone). */
    if (hz__buf_pending(&s->ob) >= cfg->output_buffer ||
        h->obytes + hz__sock_held_in(&h->c->sock, cfg->http2.conn_output_buffer / 2) >=
            cfg->http2.conn_output_buffer) {
        s->drain_wait = 1;
        return HZ_EAGAIN;
    }
    if (hz__buf_append(&s->ob, &ex->loop->bufs, buf, len) < 0)
        return HZ_ENOMEM;
    h->obytes += len;
    ex->body_bytes += len;
    h2_resume_data(s);
    return 0;
}

static int h2_end(hz_req *ex)
{
    h2s *s = H2S(ex);
    if (h2_live(ex) < 0)
        return HZ_ECLOSED;
    if (!s->res_started || s->res_done)
        return HZ_ESTATE;
    s->res_done = 1;
    s->drain_wait = 0;
    h2_resume_data(s);
    return 0;
}

static int h2_send_source(hz_req *ex, int status, int64_t length, const hz_body_source *src)
{
    h2s *s = H2S(ex);
    if (h2_live(ex) < 0)
        return HZ_ECLOSED;
    if (s->res_started)
        return HZ_ESTATE;
    s->src = *src;
    s->src_on = 1;
    s->src_wait = 0;
    s->src_left = length;
    s->h->nsrc++;
    ex->body_bytes = length > 0 ? (uint64_t)length : 0; /* unknown: counted as read */
    int rc = res_head(s, status, length, 1);
    s->res_done = 1; /* the source is the whole body */
    if (rc < 0 || s->no_body)
        src_done(s, rc < 0 ? HZ_ECLOSED : 0);
    return rc;
}

static int h2_resume(hz_req *ex)
{
    h2s *s = H2S(ex);
    if (!s->src_on)
        return HZ_ESTATE;
    if (s->src_wait) {
        s->src_wait = 0;
        if (s->h)
            s->h->nsrc++;
        h2_resume_data(s);
    }
    return 0;
}

/* DATA for stream id: the buffered bytes, then the source, then the end. */
static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    (void)ng;
    (void)id;
    hz__h2 *h = ud;
    h2s *s = src->ptr;
    if (HZ__UNLIKELY(s->src_fail))
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM is queued */
    size_t pend = hz__buf_pending(&s->ob);
    if (pend) {
        /* NO_COPY: send_data copies them from s->ob into c->out, once. */
        size_t k = pend < len ? pend : len;
        *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
        if (k == pend && ((s->res_done && !s->src_on) || (s->ob_ra && s->src_left == 0)))
            *flags |=
                NGHTTP2_DATA_FLAG_EOF; /* a file read ahead to its end: done runs in the sweep */
        h->last_data = h->c->loop->now;
        return (ssize_t)k;
    }
    if (s->src_on && !s->src_wait && s->src_left > 0 && hz__filesrc_is(&s->src)) {
        /* A file of known length: send_data reads it straight into c->out
         * (a shorter file resets the stream there). */
        size_t want = (uint64_t)s->src_left < len ? (size_t)s->src_left : len;
        s->src_left -= (int64_t)want;
        *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
        if (s->src_left == 0)
            *flags |= NGHTTP2_DATA_FLAG_EOF; /* done runs in the sweep */
        h->last_data = h->c->loop->now;
        return (ssize_t)want;
    }
    if (s->src_on && !s->src_wait) {
        size_t want = len;
        if (s->src_left >= 0 && (uint64_t)s->src_left < want)
            want = (size_t)s->src_left;
        long n = want ? s->src.read(s->src.ud, buf, want) : 0;
        if (n > 0 && (size_t)n <= want) {
            if (s->src_left > 0)
                s->src_left -= n;
            else
                s->r.body_bytes += (uint64_t)n;
            if (s->src_left == 0)
                *flags |= NGHTTP2_DATA_FLAG_EOF; /* done runs in the sweep */
            h->last_data = h->c->loop->now;
            return n;
        }
        if (n == 0 && s->src_left <= 0) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            s->src_left = 0;
            return 0;
        }
        if (n == HZ_EAGAIN) {
            s->src_wait = 1;
            h->nsrc--;
            s->deferred = 1;
            return NGHTTP2_ERR_DEFERRED;
        }
        /* Shorter than announced, or an error: the body cannot complete. */
        src_done(s, n == 0 ? HZ_EIO : n > 0 ? HZ_EINVAL : (int)n);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM */
    }
    if (s->res_done && !s->src_on) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    s->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
}

/* Rewrites the unread file DATA frame at `at` (payload len) as DATA frames
 * of padding only (RFC 9113 §6.1: padding counts for flow control, so the
 * peer's windows stay in step with nghttp2's) without END_STREAM: the peer
 * gets none of the bytes the file did not hold. The pad length field is
 * one byte, so a frame pads at most 256 bytes: c->out grows by 9 bytes per
 * extra frame, everything behind moves (a rare path). */
static int pad_frame(hz__conn *c, uint32_t at, uint32_t len, int32_t id)
{
    uint32_t k = (len + 255u) / 256u, extra = 9u * (k - 1u);
    if (hz__buf_reserve(&c->out, &c->loop->bufs, extra, UINT32_MAX) < 0)
        return HZ_ENOMEM;
    uint8_t *p = (uint8_t *)c->out.data + at;
    uint32_t end = at + 9u + len;
    memmove(p + 9u + len + extra, p + 9u + len, c->out.len - end);
    c->out.len += extra;
    for (uint32_t left = len; left;) {
        uint32_t m = left < 256u ? left : 256u;
        p[0] = 0;
        p[1] = (uint8_t)(m >> 8);
        p[2] = (uint8_t)m;
        p[3] = NGHTTP2_DATA;
        p[4] = NGHTTP2_FLAG_PADDED;
        p[5] = (uint8_t)((uint32_t)id >> 24);
        p[6] = (uint8_t)((uint32_t)id >> 16);
        p[7] = (uint8_t)((uint32_t)id >> 8);
        p[8] = (uint8_t)id;
        p[9] = (uint8_t)(m - 1u);
        memset(p + 10, 0, m - 1u);
        p += 9u + m;
        left -= m;
    }
    return 0;
}

/* How much of s's file h2_fill reads ahead into s->ob, behind its frames
 * of this run (ob's room reserved): what the windows let the stream send
 * next, up to H2_RA_MAX, within the connection's read-ahead budget
 * (conn_output_buffer, apart from the writers' one). A 64 KiB file is then
 * one preadv, at the price of copying the read-ahead part out of ob once:
 * nghttp2 (RFC 7540 priorities) sends the streams' frames in turn, so the
 * frames of one stream are rarely together in c->out. */
static size_t ra_len(hz__h2 *h, h2s *s)
{
    if (s->src_left <= 0 || hz__buf_pending(&s->ob))
        return 0;
    int32_t sw = nghttp2_session_get_stream_remote_window_size(h->ng, s->id);
    int32_t cw = nghttp2_session_get_remote_window_size(h->ng);
    int64_t ra = sw < cw ? sw : cw;
    if (ra > (int64_t)H2_RA_MAX)
        ra = H2_RA_MAX;
    if (ra > s->src_left)
        ra = s->src_left;
    uint64_t cap = h->c->loop->srv->cfg.http2.conn_output_buffer;
    if (ra <= 0 || h->rabytes + (uint64_t)ra > cap)
        return 0;
    s->ob.off = s->ob.len = 0;
    hz__h2pool *pool = h->c->loop->h2pool;
    if (!s->ob.data && pool && pool->nra) {
        s->ob.data = pool->ra[--pool->nra];
        s->ob.cap = H2_RA_MAX;
    } else if (s->ob.cap < H2_RA_MAX) {
        /* One size, so the buffer can go back to the pool. */
        if (hz__buf_reserve(&s->ob, &h->c->loop->bufs, H2_RA_MAX, H2_RA_MAX) < 0)
            return 0;
    }
    return (size_t)ra;
}

/* Reads the payloads of the file DATA frames send_data left in c->out: one
 * preadv per stream for all its frames of this run, wherever they sit
 * (nghttp2 interleaves streams and control frames). A file that ends early
 * or fails: its frames become padding (pad_frame), END_STREAM is withdrawn
 * and the stream reset (INTERNAL_ERROR), so the exchange ends as aborted,
 * as when send_data read each frame itself. no_ra: a stream whose next frame
 * is promised but not yet a hole (send_data with a full table) reads no
 * ahead. 0, or < 0 (out of memory). */
static int h2_fill(hz__h2 *h, const h2s *no_ra)
{
    hz__conn *c = h->c;
    uint32_t n = h->nholes;
    uint8_t st[H2_HOLES] = {0}; /* 1: read, 2: failed */
    int failed = 0;
    h->nholes = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (st[i])
            continue;
        h2s *s = h->holes[i].s;
        struct iovec iov[H2_HOLES + 1];
        int k = 0, turned = 0;
        for (uint32_t j = i; j < n; j++)
            if (h->holes[j].s == s) {
                iov[k].iov_base = c->out.data + h->holes[j].at + 9;
                iov[k++].iov_len = h->holes[j].len;
                turned = 0;
            } else {
                turned = 1;
            }
        /* Read ahead only for a stream the scheduler turned away from
         * within the run (another stream's file frame after its last): an
         * incremental stream (RFC 9218) or, before nghttp2 1.48, any. A
         * stream whose frames end the run is where the next run goes on
         * (RFC 9218, not incremental): its next frames are read in place. */
        size_t ra = s->src_on && s != no_ra && turned ? ra_len(h, s) : 0;
        if (ra) {
            iov[k].iov_base = s->ob.data + s->ob.len;
            iov[k++].iov_len = ra;
        }
        long got = s->src_on ? hz__filesrc_preadv(s->src.ud, iov, k) : HZ_EIO;
        if (got >= 0 && ra) {
            s->ob.len += (uint32_t)ra;
            s->ob_ra = 1;
            s->src_left -= (int64_t)ra;
            h->rabytes += ra;
        }
        for (uint32_t j = i; j < n; j++)
            if (h->holes[j].s == s)
                st[j] = got < 0 ? 2 : 1;
        if (got < 0) {
            failed = 1;
            s->src_fail = 1;
            s->fin_sent = 0; /* the END_STREAM nghttp2 framed does not go out */
            src_done(s, (int)got);
            nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        }
    }
    if (HZ__UNLIKELY(failed))
        for (uint32_t j = n; j-- > 0;) /* from the back: earlier offsets stay */
            if (st[j] == 2 && pad_frame(c, h->holes[j].at, h->holes[j].len, h->holes[j].s->id) < 0)
                return HZ_ENOMEM;
    return 0;
}

/* A DATA frame data_read marked NO_COPY: its header and payload go
 * straight into c->out, the payload copied once from s->ob or, for a file,
 * left as a hole that h2_fill reads before c->out is written (one preadv
 * for all of a stream's frames in the run). Always the whole frame (never
 * WOULDBLOCK: nghttp2 keeps the frame's stream pointer across a retry, and
 * the stream may be gone by then); PAUSE once c->out is full enough, as
 * mem_send's own frames. */
static int send_data(nghttp2_session *ng, nghttp2_frame *fr, const uint8_t *framehd, size_t length,
                     nghttp2_data_source *src, void *ud)
{
    (void)ng;
    hz__h2 *h = ud;
    hz__conn *c = h->c;
    h2s *s = src->ptr;
    if (fr->data.padlen) /* we never ask for padding */
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    size_t pend = hz__buf_pending(&s->ob);
    if (!pend && length) {
        /* No read-ahead for s: the bytes after its holes are this frame's. */
        if (h->nholes == H2_HOLES && h2_fill(h, s) < 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        if (!s->src_on || s->src_fail) {
            /* Nothing of this frame is in c->out: RST_STREAM (INTERNAL_ERROR). */
            src_done(s, HZ_EIO);
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
    }
    if (hz__buf_reserve(&c->out, &c->loop->bufs, 9 + length, UINT32_MAX) < 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    char *p = c->out.data + c->out.len;
    memcpy(p, framehd, 9);
    if (pend) {
        if (length > pend)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        memcpy(p + 9, s->ob.data + s->ob.off, length);
        s->ob.off += (uint32_t)length;
        if (s->ob_ra)
            h->rabytes -= length;
        else
            h->obytes -= length;
        if (!hz__buf_pending(&s->ob)) {
            s->ob.off = s->ob.len = 0;
            s->ob_ra = 0;
        }
    } else if (length) {
        h->holes[h->nholes++] = (h2_hole){.s = s, .at = c->out.len, .len = (uint32_t)length};
    }
    c->out.len += (uint32_t)(9 + length);
    return hz__buf_pending(&c->out) >= H2_OUT_HIGH ? NGHTTP2_ERR_PAUSE : 0;
}

static void h2_after_fire(hz__timer *t)
{
    hz_req *ex = (hz_req *)((char *)t - offsetof(hz_req, after));
    hz__conn *c = ex->conn;
    ex->refs--;
    if (c)
        c->refs++;
    ex->after_fn(&ex->res, 0, ex->after_ud);
    if (c) {
        c->refs--;
        h2_kick(c);
    } else if (!ex->refs) {
        stream_free(ex->loop, H2S(ex)); /* detached while the timer was pending */
    }
}

static int h2_after(hz_req *ex, unsigned ms, hz_after_fn fn, void *ud)
{
    if (hz__timer_armed(&ex->after))
        return HZ_EBUSY;
    hz__timer_init(&ex->after, h2_after_fire);
    ex->after_fn = fn;
    ex->after_ud = ud;
    ex->refs++;
    hz__timer_arm(&ex->loop->wheel, &ex->after, ex->loop->now + ms);
    return 0;
}

/* 100 Continue, once, before the final head (RFC 9113 §8.1). */
static void h2_continue(h2s *s)
{
    if (!s->want_continue || s->res_started || !s->h)
        return;
    s->want_continue = 0;
    nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)"100", 7, 3, NGHTTP2_NV_FLAG_NONE};
    nghttp2_submit_headers(s->h->ng, NGHTTP2_FLAG_NONE, s->id, NULL, &nv, 1, NULL);
    h2_kick(s->h->c);
}

static int h2_on_body(hz_req *ex, hz_body_chunk_fn on_chunk, hz_body_end_fn on_end, void *ud)
{
    h2s *s = H2S(ex);
    if (!s->streamed)
        return HZ_ESTATE;
    if (s->body_wanted)
        return HZ_ESTATE;
    s->body_wanted = 1;
    s->on_chunk = on_chunk;
    s->on_end = on_end;
    s->body_ud = ud;
    s->body_last = ex->loop->now;
    h2_continue(s);
    h2_kick(ex->conn);
    return 0;
}

static int h2_resume_body(hz_req *ex)
{
    h2s *s = H2S(ex);
    if (s->paused) {
        s->paused = 0;
        s->body_last = ex->loop->now;
        h2_kick(ex->conn);
    }
    return 0;
}

static void stream_error(h2s *s, int status);

/* Ends an exchange that cannot complete (a detached response's deadline or
 * release mid-stream): status answered if nothing went out yet, else the
 * stream is reset, so a cut body is never taken for a whole one. */
static int h2_abort(hz_req *ex, int status, int why)
{
    (void)why; /* the connection lives on: nothing to count as its close */
    if (h2_live(ex) < 0)
        return HZ_ECLOSED;
    stream_error(H2S(ex), status);
    return 0;
}

/* ---- RFC 8441: a WebSocket on the stream -------------------------------------- */

/* The stream as the WebSocket's byte transport (ws_conn.h "seam"): sock->ctx
 * is the stream, NULL once released. Its DATA bytes wait in s->bq
 * unconsumed, so the stream window closes while the WebSocket reads
 * nothing; its frames queue in s->ob under the stream's and connection's
 * output budgets. */
static long ws_pipe_recv(hz__sock *k, void *buf, size_t len)
{
    h2s *s = k->ctx;
    if (!s || !s->h)
        return HZ_ECLOSED;
    size_t n = hz__buf_pending(&s->bq);
    if (!n)
        return s->req_ended || s->closed ? 0 : HZ_EAGAIN;
    if (n > len)
        n = len;
    memcpy(buf, s->bq.data + s->bq.off, n);
    s->bq.off += (uint32_t)n;
    if (!hz__buf_pending(&s->bq))
        hz__buf_release(&s->bq, &s->r.loop->bufs);
    nghttp2_session_consume(s->h->ng, s->id, n); /* WINDOW_UPDATE on the run */
    h2_kick(s->h->c);
    return (long)n;
}

static long ws_pipe_writev(hz__sock *k, const struct iovec *iov, int cnt)
{
    h2s *s = k->ctx;
    if (!s || h2_live(&s->r) < 0 || s->ws_end)
        return HZ_ECLOSED;
    hz__h2 *h = s->h;
    const hz_config *cfg = &s->r.loop->srv->cfg;
    size_t pend = hz__buf_pending(&s->ob);
    size_t room = pend < cfg->output_buffer ? cfg->output_buffer - pend : 0;
    size_t croom =
        h->obytes < cfg->http2.conn_output_buffer ? cfg->http2.conn_output_buffer - h->obytes : 0;
    if (croom < room)
        room = croom;
    if (!room) {
        s->ws_wblk = 1;
        return HZ_EAGAIN;
    }
    if (s->ob.off)
        hz__buf_compact(&s->ob);
    size_t took = 0;
    for (int i = 0; i < cnt && took < room; i++) {
        size_t n = iov[i].iov_len < room - took ? iov[i].iov_len : room - took;
        if (n && hz__buf_append(&s->ob, &s->r.loop->bufs, iov[i].iov_base, n) < 0)
            break;
        took += n;
    }
    if (!took)
        return HZ_ENOMEM;
    h->obytes += took;
    h2_resume_data(s);
    return (long)took;
}

static long ws_pipe_send(hz__sock *k, const void *buf, size_t len)
{
    struct iovec v = {(void *)buf, len};
    return ws_pipe_writev(k, &v, 1);
}

/* Graceful: END_STREAM once ob is framed (data_read's EOF). */
static int ws_pipe_shutdown(hz__sock *k)
{
    h2s *s = k->ctx;
    if (!s || s->ws_end)
        return 0;
    s->ws_end = 1;
    s->res_done = 1;
    h2_resume_data(s);
    return 0;
}

/* The WebSocket lets go of the stream: reset it unless it was ended. */
static void ws_pipe_close(hz__sock *k)
{
    h2s *s = k->ctx;
    k->ctx = NULL;
    if (!s)
        return;
    s->ws = NULL;
    s->ws_wblk = 0;
    if (s->h && !s->closed && !s->ws_end && !s->h->c->closing) {
        s->ws_end = 1;
        nghttp2_submit_rst_stream(s->h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
        h2_kick(s->h->c);
    }
}

static int ws_pipe_has_input(hz__sock *k)
{
    const h2s *s = k->ctx;
    return s && s->h && (hz__buf_pending(&s->bq) || s->req_ended);
}

static const hz__transport_vt ws_pipe_tp = {
    .recv = ws_pipe_recv,
    .send = ws_pipe_send,
    .writev = ws_pipe_writev,
    .shutdown = ws_pipe_shutdown,
    .close = ws_pipe_close,
    .has_input = ws_pipe_has_input,
};

#if NGHTTP2_VERSION_NUM >= 0x013000
/* The urgency of the request's priority field (RFC 9218 §4.1: the
 * dictionary member u, 0-7; the last one counts), else 3 (nghttp2 1.52,
 * Debian 12's, has no public parser of the field nor a getter of a
 * stream's priority). A member
 * without a value, another key or a value out of range is passed over. */
static uint32_t req_urgency(const hz_req *ex)
{
    hz_str f = hz_req_header(ex, "priority");
    uint32_t u = 3;
    for (size_t i = 0; i < f.len;) {
        while (i < f.len && (f.ptr[i] == ' ' || f.ptr[i] == '\t' || f.ptr[i] == ','))
            i++;
        size_t k = i;
        while (i < f.len && f.ptr[i] != ',')
            i++;
        /* f.ptr[k, i): one member, "u=5" or "u=5;param" (parameters ignored). */
        if (i - k >= 3 && f.ptr[k] == 'u' && f.ptr[k + 1] == '=' && f.ptr[k + 2] >= '0' &&
            f.ptr[k + 2] <= '7' &&
            (i - k == 3 || f.ptr[k + 3] == ';' || f.ptr[k + 3] == ' ' || f.ptr[k + 3] == '\t'))
            u = (uint32_t)(f.ptr[k + 2] - '0');
    }
    return u;
}
#endif

/* hz_ws_accept on an extended CONNECT: the head goes now (200 without
 * END_STREAM, RFC 8441 §5), the WebSocket takes the stream in the sweep
 * after the handler returned (ws_open). */
static int h2_upgrade(hz_req *ex, int status, hz__upgrade_fn fn, void *ud)
{
    h2s *s = H2S(ex);
    if (h2_live(ex) < 0)
        return HZ_ECLOSED;
    if (!s->wsx)
        return HZ_ENOTSUP;
    if (s->res_started || s->up_fn || s->ws)
        return HZ_ESTATE;
#if NGHTTP2_VERSION_NUM >= 0x013000
    /* RFC 9218 serves a non-incremental stream (the default) to its end
     * before later ones of its urgency, and a WebSocket never ends: while
     * it has data, requests on the connection would wait for it. A
     * WebSocket is read message by message, so it is incremental (§4.2;
     * the server may override the client, §8), taking turns frame by
     * frame; the urgency stays the client's. Its later signals are
     * ignored, so none can make it non-incremental again. */
    nghttp2_extpri pri = {req_urgency(ex), 1};
    (void)nghttp2_session_change_extpri_stream_priority(s->h->ng, s->id, &pri, 1);
#endif
    int rc = res_head(s, status, -1, 1);
    if (rc < 0)
        return rc;
    s->up_fn = fn;
    s->up_ud = ud;
    return 0;
}

static int h2_secure(const hz_req *ex)
{
    return hz__conn_secure(ex);
}

static const hz__res_ops h2_res_ops = {
    .set_header = h2_set_header,
    .send = h2_send,
    .start = h2_start,
    .write = h2_write,
    .end = h2_end,
    .send_source = h2_send_source,
    .resume = h2_resume,
    .on_body = h2_on_body,
    .resume_body = h2_resume_body,
    .after = h2_after,
    .live = h2_live,
    .on_loop = 1,
    .abort = h2_abort,
    .upgrade = h2_upgrade,
    .secure = h2_secure,
};

/* An answer the library makes (404, 413, 431, 500 ...), or a reset when
 * the response has begun. */
static void stream_error(h2s *s, int status)
{
    if (!s->h || s->closed)
        return;
    s->discard = 1;
    if (s->res_started) {
        nghttp2_submit_rst_stream(s->h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        h2_kick(s->h->c);
        return;
    }
    if (s->dispatched)
        stream_abort(s, HZ_ECANCELED);
    hz__buf_release(&s->r.hdrs, &s->r.loop->bufs);
    s->server_set = 0;
    s->want_continue = 0;
    hz__res_answer(&s->r, &h2_res_ops, status, NULL);
}

/* ---- executor handlers (the hooks of core/http/exec.c) ------------------------ */

/* The job holds the connection so its pointer stays valid; the stream
 * (ex->refs) and its request bytes outlive a reset or a close. */
static void h2x_hold(hz__conn *c, int delta)
{
    c->refs += (unsigned)delta;
}

static int h2x_current(const hz_req *ex, hz__conn *c)
{
    const h2s *s = (const h2s *)ex;
    return s->h && !s->closed && !s->res_started && !s->discard && !c->closing;
}

static int h2x_owned(const hz_req *ex, hz__conn *c)
{
    (void)c;
    return ((const h2s *)ex)->h != NULL; /* stream_detach frees it */
}

static void h2x_release(hz__loop *loop, hz_req *ex)
{
    stream_free(loop, H2S(ex));
}

static void h2x_fail(hz_req *ex, hz__conn *c, int status)
{
    stream_error(H2S(ex), status);
    h2_kick(c);
}

/* Nothing to pin: the request's bytes are the stream's (held). */
static int h2x_deadline(hz_req *ex, hz__conn *c, hz__buf *pinned)
{
    (void)pinned;
    return h2x_current(ex, c);
}

static void h2x_replayed(hz_req *ex, hz__conn *c)
{
    (void)ex;
    h2_kick(c);
}

static const hz__exec_proto h2_exec = {
    .ops = &h2_res_ops,
    .hold = h2x_hold,
    .current = h2x_current,
    .owned = h2x_owned,
    .release = h2x_release,
    .fail = h2x_fail,
    .deadline = h2x_deadline,
    .replayed = h2x_replayed,
};

/* ---- requests ------------------------------------------------------------------ */

/* Appends bytes to the request buffer; their offset in *off. */
static int req_put(h2s *s, const void *p, size_t n, uint32_t *off)
{
    *off = s->req.len;
    return hz__buf_append(&s->req, &s->r.loop->bufs, p, n);
}

static int add_field(h2s *s, const char *name, size_t nl, const uint8_t *v, size_t vl)
{
    hz__req_head *hd = &s->r.head;
    if (hd->nfields >= s->r.nfields_cap) {
        s->hdr_over = 1;
        return 0;
    }
    hz__field *f = &s->r.fields[hd->nfields];
    if (req_put(s, name, nl, &f->name_off) < 0 || req_put(s, v, vl, &f->value_off) < 0)
        return -1;
    f->name_len = (uint32_t)nl;
    f->value_len = (uint32_t)vl;
    hd->nfields++;
    return 0;
}

/* Whether :path holds what HTTP/1.1's origin-form may (the same bytes
 * get a 400 there): VCHARs with valid %XX escapes, no '#' fragment, no
 * bytes RFC 3986 leaves out of a path or a query. nghttp2 checked the
 * leading '/' (or "*" for OPTIONS). */
static int path_valid(const uint8_t *p, size_t n)
{
    int query = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned k = hz__chr_class[p[i]];
        if (p[i] == '?')
            query = 1;
        else if (k & C_TARGET) {
            if (k & (query ? C_NOT_QUERY : C_NOT_PATH))
                return 0;
        } else if (p[i] == '%' && n - i > 2 && (hz__chr_class[p[i + 1]] & C_HEX) &&
                   (hz__chr_class[p[i + 2]] & C_HEX))
            i += 2;
        else
            return 0;
    }
    return 1;
}

/* RFC 9113 §8.2.3: cookie crumbs are joined with "; " for HTTP/1.1-style
 * consumers (hz_req_header returns the first field of a name). */
static int join_cookies(h2s *s)
{
    hz__req_head *hd = &s->r.head;
    uint32_t first = UINT32_MAX, start = s->req.len, total = 0;
    for (uint32_t i = 0; i < hd->nfields; i++) {
        hz__field *f = &s->r.fields[i];
        if (f->name_len != 6 || memcmp(s->req.data + f->name_off, "cookie", 6) != 0)
            continue;
        if (first == UINT32_MAX)
            first = i;
        total += f->value_len + 2;
    }
    if (hz__buf_reserve(&s->req, &s->r.loop->bufs, total, UINT32_MAX) < 0)
        return -1;
    uint32_t k = 0;
    for (uint32_t i = 0; i < hd->nfields; i++) {
        hz__field *f = &s->r.fields[i];
        if (f->name_len == 6 && memcmp(s->req.data + f->name_off, "cookie", 6) == 0) {
            if (s->req.len > start)
                hz__buf_append(&s->req, &s->r.loop->bufs, "; ", 2);
            hz__buf_append(&s->req, &s->r.loop->bufs, s->req.data + f->value_off, f->value_len);
            if (i != first)
                continue;
        }
        s->r.fields[k++] = *f;
    }
    hd->nfields = k;
    s->r.fields[first].value_off = start;
    s->r.fields[first].value_len = s->req.len - start;
    return 0;
}

/* The request's header block is complete: check it, route it, and
 * dispatch it now (no body, or a streamed route) or once the body is in. */
static void stream_routed(hz__conn *c, h2s *s)
{
    hz_server *srv = c->loop->srv;
    hz_req *ex = &s->r;
    hz__req_head *hd = &ex->head;
    s->hdrs_done = 1;
    if (s->hdr_over) {
        hz__m_add(&c->loop->metrics, HZ__MS_PARSE + HZ__PE_HEAD_TOO_LARGE, 1);
        stream_error(s, 431);
        return;
    }
    if (s->bad_req) {
        hz__m_add(&c->loop->metrics, HZ__MS_PARSE + HZ__PE_TARGET, 1);
        stream_error(s, 400);
        return;
    }
    if (!hd->method_len || !hd->target_len) { /* CONNECT without :path, ... */
        stream_error(s, hd->method == HZ__M_CONNECT ? 405 : 400);
        return;
    }
    if (s->ncookies > 1 && join_cookies(s) < 0) {
        stream_error(s, 503);
        return;
    }
    if (s->want_continue && s->req_ended)
        s->want_continue = 0;
    if (s->xproto) { /* an extended CONNECT for a protocol we do not speak */
        stream_error(s, 501);
        return;
    }
    const char *b = s->req.data;
    /* A WebSocket's CONNECT is routed like HTTP/1.1's upgrading GET. */
    int st =
        hz__router_match(srv->router, s->wsx ? "GET" : b + hd->method_off,
                         s->wsx ? 3 : hd->method_len, b + hd->path_off, hd->path_len, &ex->match);
    if (st != 0 || !ex->match.route) {
        s->discard = 1;
        ex->raw = s->req.data;
        hz__res_answer(ex, &h2_res_ops, st ? st : 404,
                       st == 405 || st == 204 ? ex->match.allow : NULL);
        return;
    }
    ex->rec = ex->match.route->ud;
    hz__zf_dispatch(ex);
    s->streamed = !s->wsx && (ex->rec->flags & HZ_ROUTE_STREAM_BODY) != 0;
    s->body_limit = ex->rec->body_limit ? ex->rec->body_limit
                                        : (s->streamed ? srv->cfg.limits.body_streamed
                                                       : srv->cfg.limits.body_buffered);
    if (hd->body_kind == HZ__BODY_LENGTH && s->body_limit && hd->content_length > s->body_limit) {
        s->discard = 1;
        ex->raw = s->req.data;
        hz__res_answer(ex, &h2_res_ops, 413, NULL);
        return;
    }
    if (s->streamed || s->req_ended || s->wsx) {
        s->dispatched = 1;
        ex->sink = s->streamed ? HZ__SINK_STREAM : s->wsx ? HZ__SINK_DISCARD : HZ__SINK_BUFFER;
        ex->body_start = s->req.len;
        ex->body_len = 0;
        return; /* dispatched by the run (not inside nghttp2) */
    }
    ex->sink = HZ__SINK_BUFFER;
    ex->body_start = s->req.len;
    h2_continue(s);
}

/* The stream of id: the one whose header block is being read without a
 * lookup in nghttp2's map (once per field line otherwise), as long as
 * nghttp2 has it open (it forgets a stream once closed). */
static h2s *stream_of(nghttp2_session *ng, void *ud, int32_t id)
{
    h2s *s = ((hz__h2 *)ud)->cur;
    if (s && s->id == id && !s->closed)
        return s;
    return nghttp2_session_get_stream_user_data(ng, id);
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *fr, void *ud)
{
    hz__h2 *h = ud;
    if (fr->hd.type != NGHTTP2_HEADERS || fr->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    h2s *s = stream_new(h, fr->hd.stream_id);
    if (!s)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM: out of memory */
    nghttp2_session_set_stream_user_data(ng, fr->hd.stream_id, s);
    h->cur = s;
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *fr, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    (void)flags;
    if (fr->hd.type != NGHTTP2_HEADERS)
        return 0;
    h2s *s = stream_of(ng, ud, fr->hd.stream_id);
    if (!s)
        return 0;
    const hz_server *srv = s->r.loop->srv;
    if (fr->headers.cat != NGHTTP2_HCAT_REQUEST) {
        /* Trailers: not kept (RFC 9110 §6.5.1 allows it), but bounded like
         * HTTP/1.1's trailer section: 431, a reset far past it. */
        uint32_t lim = srv->plimits.trailer_bytes;
        s->tbytes += nl + vl + 32;
        if (lim && s->tbytes > lim) {
            s->trailer_over = 1;
            if (s->tbytes > (uint64_t)lim * H2_HDR_ABUSE)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        return 0;
    }
    uint64_t limit = (uint64_t)srv->plimits.header_bytes + srv->plimits.request_line;
    s->hbytes += (uint32_t)(nl + vl + 32 > UINT32_MAX / 2 ? UINT32_MAX / 2 : nl + vl + 32);
    if (s->hbytes > limit) {
        s->hdr_over = 1;
        /* Far past it (an HPACK bomb): reset now instead of decoding on. */
        if (s->hbytes > limit * H2_HDR_ABUSE)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        return 0;
    }
    if (s->hdr_over)
        return 0;
    if (vl > srv->plimits.field_size) {
        s->hdr_over = 1;
        return 0;
    }
    hz__req_head *hd = &s->r.head;
    int rc = 0;
    if (nl && name[0] == ':') {
        if (nl == 7 && memcmp(name, ":method", 7) == 0) {
            rc = req_put(s, value, vl, &hd->method_off);
            hd->method_len = (uint32_t)vl;
            hd->method = method_id((const char *)value, vl);
        } else if (nl == 5 && memcmp(name, ":path", 5) == 0) {
            rc = req_put(s, value, vl, &hd->target_off);
            hd->target_len = (uint32_t)vl;
            hd->path_off = hd->target_off;
            const uint8_t *q = memchr(value, '?', vl);
            hd->path_len = q ? (uint32_t)(q - value) : (uint32_t)vl;
            hd->target_form = vl == 1 && value[0] == '*' ? HZ__TF_ASTERISK : HZ__TF_ORIGIN;
            if (hd->target_form == HZ__TF_ORIGIN && !path_valid(value, vl))
                s->bad_req = 1;
        } else if (nl == 10 && memcmp(name, ":authority", 10) == 0) {
            if (!hz__authority_valid(value, vl))
                s->bad_req = 1; /* userinfo, ... (RFC 9113 §8.3.1) */
            rc = add_field(s, "host", 4, value, vl);
            hd->host_off = s->req.len - (uint32_t)vl;
            hd->host_len = (uint32_t)vl;
        } else if (nl == 9 && memcmp(name, ":protocol", 9) == 0) {
            /* RFC 8441 (nghttp2 lets it through only on a CONNECT, and only
             * after our SETTINGS_ENABLE_CONNECT_PROTOCOL): kept as a field
             * under its own name for hz_ws_is_upgrade and the handler. */
            if (vl == 9 && memcmp(value, "websocket", 9) == 0)
                s->wsx = 1;
            else
                s->xproto = 1;
            rc = add_field(s, ":protocol", 9, value, vl);
        }
        return rc < 0 ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
    }
    if (nl == 4 && memcmp(name, "host", 4) == 0 && hd->host_len)
        return 0; /* :authority stands for it (RFC 9113 §8.3.1) */
    if (nl == 4 && memcmp(name, "host", 4) == 0 && !hz__authority_valid(value, vl))
        s->bad_req = 1;
    if (nl == 14 && memcmp(name, "content-length", 14) == 0) {
        uint64_t v = 0;
        for (size_t i = 0; i < vl && v < (UINT64_MAX / 10 - 10); i++)
            v = v * 10 + (uint64_t)(value[i] - '0'); /* digits: nghttp2 checked */
        hd->content_length = v;
        hd->body_kind = HZ__BODY_LENGTH;
    } else if (nl == 6 && memcmp(name, "expect", 6) == 0) {
        if (vl == 12 && strncasecmp((const char *)value, "100-continue", 12) == 0)
            s->want_continue = 1;
    } else if (nl == 6 && memcmp(name, "cookie", 6) == 0) {
        s->ncookies++;
    }
    if (add_field(s, (const char *)name, nl, value, vl) < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

/* Whether a client HEADERS uses an id it skipped: opening stream n closes
 * every idle stream below it (RFC 9113 §5.1.1), so a later HEADERS there
 * is a connection error. nghttp2 ignores HEADERS with a lower id, as it
 * cannot tell a never-opened stream from one it forgot after closing (a
 * late trailer); the skipped ranges are remembered here (the last four). */
static int stream_id_reused(hz__h2 *h, uint32_t id)
{
    if (!(id & 1u))
        return 0; /* stream 0 and even ids: nghttp2's connection errors */
    if (id > h->last_sid) {
        uint32_t from = h->last_sid ? h->last_sid + 2 : 1;
        if (id > from) {
            memmove(h->gap_lo + 1, h->gap_lo, sizeof(h->gap_lo) - sizeof(h->gap_lo[0]));
            memmove(h->gap_hi + 1, h->gap_hi, sizeof(h->gap_hi) - sizeof(h->gap_hi[0]));
            h->gap_lo[0] = from;
            h->gap_hi[0] = id - 2;
        }
        h->last_sid = id;
        return 0;
    }
    for (size_t i = 0; i < sizeof(h->gap_lo) / sizeof(h->gap_lo[0]); i++)
        if (h->gap_lo[i] && id >= h->gap_lo[i] && id <= h->gap_hi[i])
            return 1;
    return 0;
}

/* Flood accounting: every frame's header passes here first. */
static int on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *ud)
{
    (void)ng;
    hz__h2 *h = ud;
    hz__conn *c = h->c;
    const hz_config *cfg = &c->loop->srv->cfg;
    if (c->loop->now - h->win_start >= 1000) {
        h->win_start = c->loop->now;
        h->nctrl = 0;
        h->nresets = 0;
    }
    switch (hd->type) {
    case NGHTTP2_HEADERS:
        if (stream_id_reused(h, (uint32_t)hd->stream_id)) {
            h2_goaway(h, NGHTTP2_PROTOCOL_ERROR);
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        h->ncont = 0;
        h->hdr_since = (hd->flags & NGHTTP2_FLAG_END_HEADERS) ? 0 : c->loop->now;
        break;
    case NGHTTP2_CONTINUATION:
        if (++h->ncont > H2_MAX_CONT) {
            h2_goaway(h, NGHTTP2_ENHANCE_YOUR_CALM);
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        if (hd->flags & NGHTTP2_FLAG_END_HEADERS)
            h->hdr_since = 0;
        break;
    case NGHTTP2_DATA:
        if (hd->length != 0 || (hd->flags & NGHTTP2_FLAG_END_STREAM))
            break;
        /* an empty DATA frame counts as a control frame here */
        __attribute__((fallthrough));
    case NGHTTP2_WINDOW_UPDATE:
        /* A client that gives back the window of every DATA frame it read
         * (stream and connection: two per frame) sends as many as we send
         * frames: flow control, not a flood. Only the rest are counted. */
        if (h->wupd_due) {
            h->wupd_due--;
            break;
        }
        __attribute__((fallthrough));
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
    case NGHTTP2_PRIORITY:
    case NGHTTP2_RST_STREAM:
    default:
        if (cfg->http2.max_control_frames && ++h->nctrl > cfg->http2.max_control_frames) {
            h2_goaway(h, NGHTTP2_ENHANCE_YOUR_CALM);
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        break;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    (void)flags;
    hz__h2 *h = ud;
    h2s *s = nghttp2_session_get_stream_user_data(ng, id);
    if (!s || s->discard || s->closed) {
        nghttp2_session_consume(ng, id, len);
        return 0;
    }
    if (s->wsx) {
        /* WebSocket bytes (the first ones may come before the handler ran):
         * held unconsumed until the WebSocket reads them, dropped once the
         * upgrade was refused or the WebSocket let go. */
        if ((s->res_started && !s->up_fn && !s->ws) || s->ws_end) {
            nghttp2_session_consume(ng, id, len);
            return 0;
        }
        if (hz__buf_append(&s->bq, &h->c->loop->bufs, data, len) < 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        if (s->ws)
            hz__ws_pipe_notify(s->ws, HZ_EV_READ); /* only queues it */
        return 0;
    }
    s->body_total += len;
    s->body_last = h->c->loop->now;
    if (s->body_limit && s->body_total > s->body_limit) {
        nghttp2_session_consume(ng, id, len);
        stream_error(s, 413);
        return 0;
    }
    if (s->streamed) {
        /* Held, unconsumed: the window opens as the handler takes it. */
        if (hz__buf_append(&s->bq, &h->c->loop->bufs, data, len) < 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        return 0;
    }
    nghttp2_session_consume(ng, id, len);
    if (hz__buf_append(&s->req, &h->c->loop->bufs, data, len) < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *fr, void *ud)
{
    hz__h2 *h = ud;
    hz__conn *c = h->c;
    switch (fr->hd.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA: {
        h2s *s = stream_of(ng, h, fr->hd.stream_id);
        if (!s)
            break;
        if (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) {
            s->req_ended = 1;
            if (s->ws)
                hz__ws_pipe_notify(s->ws, HZ_EV_READ); /* the end: its recv says 0 */
        }
        if (fr->hd.type == NGHTTP2_HEADERS && fr->headers.cat == NGHTTP2_HCAT_REQUEST) {
            if (!s->req_ended && s->r.head.body_kind != HZ__BODY_LENGTH)
                s->r.head.body_kind = HZ__BODY_CHUNKED; /* length unknown */
            stream_routed(c, s);
        } else if (s->trailer_over && !s->discard) {
            hz__m_add(&c->loop->metrics, HZ__MS_PARSE + HZ__PE_TRAILER_TOO_LARGE, 1);
            stream_error(s, 431);
        } else if (s->req_ended && s->hdrs_done && !s->dispatched && !s->discard && s->r.rec) {
            s->dispatched = 1; /* a buffered body is complete */
            s->r.body_len = s->req.len - s->r.body_start;
        }
        break;
    }
    case NGHTTP2_RST_STREAM: {
        h2s *s = nghttp2_session_get_stream_user_data(ng, fr->hd.stream_id);
        if (s && !s->fin_sent) {
            s->peer_reset = 1;
            hz__m_add(&c->loop->metrics, HZ__MS_H2_RESETS, 1);
            const hz_config *cfg = &c->loop->srv->cfg;
            if (cfg->http2.max_resets && ++h->nresets > cfg->http2.max_resets) {
                h2_goaway(h, NGHTTP2_ENHANCE_YOUR_CALM); /* rapid reset */
                return NGHTTP2_ERR_CALLBACK_FAILURE;
            }
        }
        break;
    }
    case NGHTTP2_PING:
        if ((fr->hd.flags & NGHTTP2_FLAG_ACK) && h->stop_step == 1) {
            /* A round trip after the notice: the final GOAWAY names the
             * last stream we will process (RFC 9113 §6.8). */
            h->stop_step = 2;
            nghttp2_submit_goaway(ng, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(ng), NGHTTP2_NO_ERROR,
                                  NULL, 0);
        }
        break;
    case NGHTTP2_GOAWAY:
        /* The client opens no new streams; the open ones go on both ways
         * (RFC 9113 §6.8), so reading goes on: their DATA (a WebSocket's
         * close frame), WINDOW_UPDATEs, and the transport's EOF, which a
         * client leaving after its GOAWAY sends next and which must not go
         * unseen. nghttp2_session_want_read turns 0 once no stream is
         * left, and h2_after_io closes then. */
        break;
    default:
        break;
    }
    return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *fr, void *ud)
{
    hz__h2 *h = ud;
    if (fr->hd.type == NGHTTP2_DATA && fr->hd.length && h->wupd_due <= H2_WUPD_DUE_MAX - 2)
        h->wupd_due += 2;
    if (fr->hd.type == NGHTTP2_GOAWAY && fr->goaway.error_code != NGHTTP2_NO_ERROR) {
        /* Ours (abuse) or nghttp2's (protocol, compression, flow-control
         * errors): counted once here, and the connection closes after it. */
        hz__m_add(&h->c->loop->metrics,
                  fr->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM ? HZ__MS_H2_CALM
                                                                     : HZ__MS_H2_PROTO,
                  1);
        h->calm = 1;
        hz__conn_why(h->c, HZ_CLOSE_ERROR);
    }
    if (fr->hd.type == NGHTTP2_HEADERS) {
        /* The response head is encoded: the field lines it pointed into
         * (NGHTTP2_NV_FLAG_NO_COPY_*, res_head) may go. Recognised by its
         * :status pointing at s->st: a 100 Continue sent after the head
         * was queued must not release them. */
        h2s *s = nghttp2_session_get_stream_user_data(ng, fr->hd.stream_id);
        if (s && fr->headers.nvlen && fr->headers.nva[0].value == (uint8_t *)s->st)
            hz__buf_release(&s->r.hdrs, &h->c->loop->bufs);
    }
    if ((fr->hd.type == NGHTTP2_DATA || fr->hd.type == NGHTTP2_HEADERS) &&
        (fr->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        h2s *s = nghttp2_session_get_stream_user_data(ng, fr->hd.stream_id);
        if (s) {
            s->fin_sent = 1;
            /* Answered before the body arrived: stop it (RFC 9113 §8.1). */
            if (!s->req_ended)
                nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
        }
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
    (void)code;
    (void)ud;
    h2s *s = nghttp2_session_get_stream_user_data(ng, id);
    if (s)
        s->closed = 1; /* the sweep ends it, outside nghttp2 */
    return 0;
}

/* ---- the run: deliver, dispatch, sweep, write ------------------------------------ */

static void stream_deliver(hz__conn *c, h2s *s)
{
    hz__h2 *h = c->h2;
    while (s->body_wanted && !s->paused && !s->end_called && s->h && !s->closed) {
        size_t n = hz__buf_pending(&s->bq);
        if (n) {
            int rc = s->on_chunk(&s->r, s->bq.data + s->bq.off, n, s->body_ud);
            if (!s->h || s->closed)
                return;
            if (rc == HZ_EAGAIN) {
                s->paused = 1;
                return;
            }
            if (rc < 0) {
                s->discard = 1;
                nghttp2_session_consume(h->ng, s->id, n);
                hz__buf_release(&s->bq, &c->loop->bufs);
                if (!s->res_started)
                    stream_error(s, 500);
                else if (!s->res_done)
                    stream_error(s, 500);
                return;
            }
            nghttp2_session_consume(h->ng, s->id, n);
            s->bq.off = s->bq.len = 0;
            continue;
        }
        if (s->req_ended) {
            s->end_called = 1;
            s->on_end(&s->r, 0, s->body_ud);
        }
        return;
    }
}

static void stream_dispatch(hz__conn *c, h2s *s)
{
    hz_req *ex = &s->r;
    ex->raw = s->req.data; /* fixed from now on: the buffer no longer grows */
    if (ex->sink == HZ__SINK_BUFFER)
        ex->body_len = s->req.len - ex->body_start;
    s->body_last = c->loop->now;
    /* Executor routes: the response comes back through hz__loop_post; the
     * stream keeps the request's bytes (s->req) while the job holds it. */
    if (HZ__UNLIKELY(hz__exec_wanted(c->loop->srv, ex->rec))) {
        hz__exec_dispatch(&h2_exec, c, ex);
        return;
    }
    c->refs++;
    ex->rec->fn(ex, &ex->res, ex->rec->ud);
    c->refs--;
}

/* The accepted WebSocket takes the stream (RFC 8441): the exchange is
 * complete (counted with its 200, logged, on_done), and the stream becomes
 * the WebSocket's byte transport (ws_pipe_tp). */
static void stream_ws_open(hz__conn *c, h2s *s)
{
    hz__upgrade_fn fn = s->up_fn;
    s->up_fn = NULL;
    stream_finish(c, s);
    hz__handover ho;
    memset(&ho, 0, sizeof(ho));
    ho.loop = c->loop;
    ho.sock.tp = &ws_pipe_tp;
    ho.sock.ctx = s;
    ho.sock.fd = -1;
    ho.conn_id = c->id;
    ho.peer = &s->ws;
    c->refs++;
    fn(&ho, s->up_ud);
    c->refs--;
    hz__m_add(&c->loop->metrics, HZ__MS_WS_H2, 1);
}

/* The WebSocket on s was refused room (HZ_EAGAIN) and may go on: its
 * stream and the connection are below half their budgets. */
static int ws_writable(const hz__h2 *h, const h2s *s)
{
    const hz_config *cfg = &h->c->loop->srv->cfg;
    return s->ws && s->ws_wblk && hz__buf_pending(&s->ob) < cfg->output_buffer / 2 &&
           h->obytes < cfg->http2.conn_output_buffer / 2;
}

/* A writer refused with HZ_EAGAIN may go on: its stream and the
 * connection are below half their budgets. */
static int drain_ready(const hz__h2 *h, const h2s *s)
{
    const hz_config *cfg = &h->c->loop->srv->cfg;
    return s->drain_wait && s->r.on_drain && !s->closed &&
           hz__buf_pending(&s->ob) < cfg->output_buffer / 2 &&
           h->obytes + hz__sock_held_in(&h->c->sock, cfg->http2.conn_output_buffer / 2) <
               cfg->http2.conn_output_buffer / 2;
}

/* One pass over the streams outside nghttp2: dispatch what is ready,
 * deliver bodies, call drain callbacks, finish and free closed streams. */
static void h2_streams(hz__conn *c)
{
    hz__h2 *h = c->h2;
    h2s *next;
    for (h2s *s = h->streams; s && !c->closing; s = next) {
        next = s->next;
        if (s->dispatched && !s->r.raw && !s->closed)
            stream_dispatch(c, s);
        if (c->closing)
            return;
        next = s->next; /* the handler may have closed others */
        if (HZ__UNLIKELY(s->wsx)) {
            if (s->up_fn && !s->closed)
                stream_ws_open(c, s);
            if (ws_writable(h, s)) {
                s->ws_wblk = 0;
                hz__ws_pipe_notify(s->ws, HZ_EV_WRITE); /* only queues it */
            }
            if (c->closing)
                return;
            next = s->next;
        }
        if (s->streamed && s->dispatched && !s->closed)
            stream_deliver(c, s);
        if (drain_ready(h, s)) {
            s->drain_wait = 0;
            c->refs++;
            s->r.on_drain(&s->r.res, s->r.drain_ud);
            c->refs--;
        }
        if (s->fin_sent && !s->finished) {
            if (s->src_on)
                src_done(s, 0);
            stream_finish(c, s);
        }
        if (s->closed) {
            next = s->next;
            if (!s->finished && s->r.m_begun && s->dispatched)
                stream_abort(s, HZ_ECLOSED);
            else if (!s->finished)
                src_done(s, HZ_ECLOSED);
            next = s->next;
            stream_detach(h, s);
        }
    }
}

/* Writes c->out, or with whole_records (TLS, more frames follow at once)
 * only its full records' worth: a 64 KiB response is 4 records and a few
 * bytes, and a short record of those few bytes per response cost as much
 * as a fifth record (the cipher's per-record work, here and in the
 * client); they go out with the next frames instead. 0, or < 0 after
 * closing. */
static int out_write(hz__conn *c, size_t *progress, int whole_records)
{
    size_t keep = whole_records ? hz__buf_pending(&c->out) % HZ__TLS_RECORD : 0;
    c->h2->out_whole = whole_records != 0;
    while (hz__buf_pending(&c->out) > keep) {
        size_t len = hz__buf_pending(&c->out) - keep;
        long n = c->sock.tp->send(&c->sock, c->out.data + c->out.off, len);
        if (n > 0) {
            c->out.off += (uint32_t)n;
            *progress += (size_t)n;
            continue;
        }
        if (n == HZ_EAGAIN || n == 0) {
            c->wblocked = 1;
            return 0;
        }
        h2_close(c);
        return (int)n;
    }
    /* The remainder to the front: the next frames' holes are offsets from there. */
    hz__buf_compact(&c->out);
    return 0;
}

/* Serializes frames into c->out and writes them, as far as the socket
 * takes them (bounded per run). 0, or < 0 after closing. */
static int h2_flush(hz__conn *c)
{
    hz__h2 *h = c->h2;
    size_t progress = 0;
    int rc = 0;
    /* After a write that blocked (a socket or a completion poller's queue
     * took part of a burst): whole records again while frames are queued.
     * Only if that write was of whole records: the records the transport
     * holds are then whole ones, and the retry covers their plaintext. */
    int more = h->out_whole && hz__buf_pending(&c->out) && nghttp2_session_want_write(h->ng);
    while (!c->wblocked && progress < H2_SEND_BUDGET) {
        if (out_write(c, &progress, more) < 0)
            return HZ_ECLOSED;
        if (c->wblocked)
            break;
        while (hz__buf_pending(&c->out) < H2_OUT_HIGH) {
            const uint8_t *p;
            h->in_ng = 1;
            ssize_t n = nghttp2_session_mem_send(h->ng, &p);
            h->in_ng = 0;
            if (n < 0) {
                h->nholes = 0;
                hz__conn_why(c, HZ_CLOSE_ERROR);
                h2_close(c);
                return HZ_ECLOSED;
            }
            if (n == 0)
                break;
            if (hz__buf_append(&c->out, &c->loop->bufs, p, (size_t)n) < 0) {
                h->nholes = 0;
                h2_close(c);
                return HZ_ECLOSED;
            }
        }
        /* Stopped by the bound with frames still queued: more follows.
         * Otherwise the short record goes now, in the same send. */
        more = hz__buf_pending(&c->out) >= H2_OUT_HIGH && hz__sock_is_tls(&c->sock) &&
               nghttp2_session_want_write(h->ng);
        if (h->nholes && h2_fill(h, NULL) < 0) { /* before any of c->out is written */
            h2_close(c);
            return HZ_ECLOSED;
        }
        if (!hz__buf_pending(&c->out))
            break;
    }
    if (progress) {
        c->last_io = c->loop->now;
        hz__m_add(&c->loop->metrics, HZ__MS_BYTES_OUT, progress);
    }
    if (progress >= H2_SEND_BUDGET && !c->wblocked)
        hz__loop_ready(c->loop, c); /* fairness: go on next iteration */
    return rc;
}

/* The bytes of a frame head h2_scan looks at: 9, and 4 more of a
 * PRIORITY frame (its stream dependency). */
static size_t scan_need(const uint8_t *f)
{
    return f[3] == NGHTTP2_PRIORITY && !f[0] && !f[1] && f[2] == 5 ? 13u : 9u;
}

static uint32_t scan_be31(const uint8_t *b)
{
    return ((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]) & 0x7fffffffu;
}

/* One client frame head (h2_scan; a PRIORITY frame's 5-byte payload
 * follows it): the GOAWAY code of a violation, or 0. */
static uint32_t scan_frame(hz__h2 *h, const uint8_t *f)
{
    uint32_t sid = scan_be31(f + 5);
    switch (f[3]) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
        if (!(sid & 1u))
            return 0; /* stream 0, even ids: nghttp2's connection errors */
        if (sid > h->rx_max) {
            if (f[3] == NGHTTP2_DATA)
                return 0; /* an idle stream: nghttp2's PROTOCOL_ERROR */
            uint32_t d = (sid - h->rx_max) / 2u;
            h->rx_ended = d < 64u ? h->rx_ended << d : 0;
            h->rx_max = sid;
        } else if (h->rx_max - sid < 128u && (h->rx_ended >> ((h->rx_max - sid) / 2u) & 1u)) {
            return NGHTTP2_STREAM_CLOSED;
        }
        if ((f[4] & NGHTTP2_FLAG_END_STREAM) && h->rx_max - sid < 128u)
            h->rx_ended |= (uint64_t)1 << ((h->rx_max - sid) / 2u);
        return 0;
    case NGHTTP2_RST_STREAM:
        if ((sid & 1u) && sid <= h->rx_max && h->rx_max - sid < 128u)
            h->rx_ended |= (uint64_t)1 << ((h->rx_max - sid) / 2u);
        return 0;
    case NGHTTP2_PRIORITY:
        if (sid == 0 || (scan_need(f) == 13 && scan_be31(f + 9) == sid))
            return NGHTTP2_PROTOCOL_ERROR;
        return 0;
    default:
        return 0;
    }
}

/* The client's frame heads as they arrive, before nghttp2 reads them: what
 * nghttp2 no longer checks once it keeps no closed streams, which it does
 * under RFC 9218 priorities (we send SETTINGS_NO_RFC7540_PRIORITIES): DATA
 * or HEADERS on a stream the client ended with END_STREAM or RST_STREAM
 * (RFC 9113 §5.1: STREAM_CLOSED), and a PRIORITY frame on stream 0 (§6.3)
 * or depending on itself (RFC 7540 §5.3.1), both PROTOCOL_ERROR. Each is
 * answered as a connection error (§5.4.1 lets a stream error be one): only
 * the client's own frames decide, so no race with our resets or ends can
 * trip it. The client's ended streams are a bitmap of the 64 ids below the
 * highest (nghttp2 kept about as many closed streams). The code for
 * GOAWAY and *ok, the bytes before the offending frame; 0 otherwise. */
static uint32_t h2_scan(hz__h2 *h, const uint8_t *p, size_t n, size_t *ok)
{
    size_t i = 0;
    for (;;) {
        if (h->rx_skip) {
            if (h->rx_skip >= n - i) {
                h->rx_skip -= (uint32_t)(n - i);
                return 0;
            }
            i += h->rx_skip;
            h->rx_skip = 0;
        }
        if (i == n)
            return 0;
        const uint8_t *f = p + i;
        size_t at = i, hlen = 9;
        if (HZ__LIKELY(!h->rx_hn && n - i >= 13)) {
            i += 9; /* a PRIORITY frame's dependency, if any, is at f + 9 */
        } else {
            /* A head split across reads (or near the end): gathered in rx_hd. */
            if (h->rx_hn)
                at = 0; /* begun in an earlier read, already fed */
            for (;;) {
                size_t need = h->rx_hn < 9 ? 9u : scan_need(h->rx_hd);
                if (h->rx_hn == need)
                    break;
                if (i == n)
                    return 0;
                size_t k = need - h->rx_hn < n - i ? need - h->rx_hn : n - i;
                memcpy(h->rx_hd + h->rx_hn, p + i, k);
                h->rx_hn = (uint8_t)(h->rx_hn + k);
                i += k;
            }
            f = h->rx_hd;
            hlen = h->rx_hn;
            h->rx_hn = 0;
        }
        h->rx_skip = ((uint32_t)f[0] << 16 | (uint32_t)f[1] << 8 | f[2]) - (uint32_t)(hlen - 9);
        if (f[3] <= NGHTTP2_RST_STREAM) { /* DATA, HEADERS, PRIORITY, RST_STREAM */
            uint32_t err = scan_frame(h, f);
            if (HZ__UNLIKELY(err)) {
                *ok = at;
                return err;
            }
        }
    }
}

/* Feeds bytes to the session. 0, or < 0 when the session is over. */
static int h2_feed(hz__conn *c, const uint8_t *p, size_t n)
{
    hz__h2 *h = c->h2;
    size_t ok = n;
    uint32_t err = h2_scan(h, p, n, &ok);
    h->in_ng = 1;
    ssize_t rc = ok ? nghttp2_session_mem_recv(h->ng, p, ok) : 0;
    h->in_ng = 0;
    if (rc < 0) {
        if (!h->calm) {
            /* A protocol error nghttp2 could not answer itself (bad
             * preface, flooded ACK queue): GOAWAY if it can still go. */
            h2_goaway(h, rc == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM
                                                   : NGHTTP2_PROTOCOL_ERROR);
        }
        return -1;
    }
    if (HZ__UNLIKELY(err)) {
        h2_goaway(h, err);
        return -1;
    }
    return 0;
}

static void h2_read(hz__conn *c)
{
    uint8_t buf[H2_READ_CHUNK];
    size_t total = 0;
    while (total < H2_READ_BUDGET && !c->closing && !c->h2->calm) {
        long n = c->sock.tp->recv(&c->sock, buf, sizeof(buf));
        if (n > 0) {
            total += (size_t)n;
            hz__m_add(&c->loop->metrics, HZ__MS_BYTES_IN, (uint64_t)n);
            if (h2_feed(c, buf, (size_t)n) < 0)
                return;
            if ((size_t)n < sizeof(buf))
                return;
            continue;
        }
        if (n == 0) {
            c->rd_eof = 1;
            return;
        }
        if (n == HZ_EAGAIN) {
            if (c->sock.want_write)
                c->wblocked = 1;
            return;
        }
        h2_close(c);
        return;
    }
    if (total >= H2_READ_BUDGET)
        hz__loop_ready(c->loop, c); /* fairness: read on next iteration */
}

static int h2_has_stream_output(const hz__h2 *h)
{
    return h->obytes > 0 || h->nsrc > 0;
}

static void h2_update_timer(hz__conn *c)
{
    hz__h2 *h = c->h2;
    hz__loop *loop = c->loop;
    const hz_timeouts *to = &loop->srv->cfg.timeouts;
    uint8_t kind = H2_T_NONE;
    uint64_t at = 0;
    if (c->wblocked && hz__buf_pending(&c->out)) {
        if (to->write) {
            kind = H2_T_WRITE;
            at = c->last_io + to->write;
        }
    } else if (h2_has_stream_output(h) && to->write) {
        kind = H2_T_STALL; /* data waits for a flow-control window */
        at = h->last_data + to->write;
    } else if (h->hdr_since && to->header) {
        kind = H2_T_HEADER;
        at = h->hdr_since + to->header;
    } else if (h->nstreams) {
        uint64_t idle = to->body_idle;
        if (idle) {
            for (const h2s *s = h->streams; s; s = s->next) {
                int waiting = !s->req_ended && !s->discard && !s->closed && !s->paused &&
                              !(s->wsx && s->dispatched) && (!s->streamed || s->body_wanted);
                if (waiting && (!at || s->body_last + idle < at))
                    at = s->body_last + idle;
            }
            if (at)
                kind = H2_T_BODY;
        }
    } else {
        if (to->keepalive) {
            kind = H2_T_IDLE;
            at = c->last_io + to->keepalive;
        }
        /* The idle point (no stream, nothing to send): the transport's
         * drop deadline when earlier (TLS; 0 for a socket). A client
         * between two batches of streams comes back within microseconds:
         * the transport waits (HZ__SOCK_IDLE_MS) before it drops. */
        if (!hz__buf_pending(&c->out) && !nghttp2_session_want_write(h->ng)) {
            uint64_t drop = hz__sock_idle(&c->sock, loop->now);
            if (drop && (!at || drop < at)) {
                kind = H2_T_SOCK_IDLE;
                at = drop;
            }
        }
    }
    h->tkind = kind;
    if (kind == H2_T_NONE)
        hz__timer_cancel(&loop->wheel, &c->timer);
    else
        hz__timer_arm(&loop->wheel, &c->timer, at);
}

static void h2_timer_fn(hz__timer *t)
{
    hz__conn *c = (hz__conn *)((char *)t - offsetof(hz__conn, timer));
    hz__h2 *h = c->h2;
    hz__loop *loop = c->loop;
    const hz_timeouts *to = &loop->srv->cfg.timeouts;
    switch (h->tkind) {
    case H2_T_WRITE:
    case H2_T_STALL:
        hz__metrics_timeout(loop, HZ_TIMEOUT_WRITE);
        hz__conn_why(c, HZ_CLOSE_TIMEOUT);
        h2_close(c);
        return;
    case H2_T_HEADER:
        hz__metrics_timeout(loop, HZ_TIMEOUT_HEADER);
        hz__conn_why(c, HZ_CLOSE_TIMEOUT);
        h2_close(c);
        return;
    case H2_T_SOCK_IDLE: /* the run's h2_update_timer drops, still idle */
        break;
    case H2_T_IDLE:
        hz__metrics_timeout(loop, HZ_TIMEOUT_KEEPALIVE);
        hz__conn_why(c, HZ_CLOSE_TIMEOUT);
        nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(h->ng), NGHTTP2_NO_ERROR,
                              NULL, 0);
        h->calm = 1; /* close once written */
        break;
    case H2_T_BODY:
        for (h2s *s = h->streams; s; s = s->next) {
            int waiting = !s->req_ended && !s->discard && !s->closed && !s->paused &&
                          !(s->wsx && s->dispatched) && (!s->streamed || s->body_wanted);
            if (waiting && loop->now >= s->body_last + to->body_idle) {
                hz__metrics_timeout(loop, HZ_TIMEOUT_BODY);
                stream_error(s, 408);
            }
        }
        break;
    default:
        break;
    }
    h2_run(c);
}

static void h2_after_io(hz__conn *c)
{
    hz__h2 *h = c->h2;
    hz__loop *loop = c->loop;
    if (c->closing)
        return;
    int idle_out = !hz__buf_pending(&c->out) && !nghttp2_session_want_write(h->ng);
    /* Done: after a GOAWAY of ours is out, the peer's FIN, or when the
     * session wants nothing more. */
    if (idle_out && (h->calm || (!nghttp2_session_want_read(h->ng) && !h2_has_stream_output(h)) ||
                     (c->rd_eof && !h->nstreams) || (h->stop_step == 2 && !h->nstreams))) {
        h2_close(c);
        return;
    }
    if (c->rd_eof && idle_out) {
        /* The transport's EOF: the client is gone (HTTP/2 has no half
         * close of its own), as HTTP/1.1 takes an EOF while a response is
         * pending (its async and executor EOF watches). Nothing can
         * finish: no WINDOW_UPDATE can come for data that waits for one,
         * and a response produced later would go to nobody. Kept open, the
         * connection would wait for a later write to fail (read interest
         * is off after the EOF), or a graceful stop for its deadline. */
        h2_close(c);
        return;
    }
    unsigned want = (!c->rd_eof && !h->calm ? HZ_EV_READ : 0) | (c->wblocked ? HZ_EV_WRITE : 0);
    if (want != c->interest) {
        if (c->registered && loop->pv->modify(loop->poller, c->sock.fd, want, &c->io) < 0) {
            h2_close(c);
            return;
        }
        c->interest = want;
    }
    h2_update_timer(c);
    if (c->sock.tp->has_input && !c->rd_eof && c->sock.tp->has_input(&c->sock))
        hz__loop_ready(loop, c);
    if (!hz__buf_pending(&c->out) && c->out.data)
        hz__buf_release(&c->out, &loop->bufs);
}

static void h2_run(hz__conn *c)
{
    hz__h2 *h = c->h2;
    if (c->closing || h->in_run || h->in_ng)
        return;
    h->in_run = 1;
    int again = 0;
    for (int round = 0; round < 4 && !c->closing; round++) {
        h2_streams(c);
        if (c->closing)
            break;
        if (!c->wblocked && h2_flush(c) < 0)
            break;
        /* Flushing may have finished or closed streams, or made room for a
         * writer: sweep again. */
        again = 0;
        for (h2s *s = h->streams; s; s = s->next)
            if ((s->fin_sent && !s->finished) || s->closed || drain_ready(h, s) ||
                (s->dispatched && !s->r.raw && !s->closed) || ws_writable(h, s) ||
                (s->up_fn && !s->closed))
                again = 1;
        if (!again)
            break;
    }
    h->in_run = 0;
    if (again && !c->closing)
        hz__loop_ready(c->loop, c); /* fairness: the rest next iteration */
    h2_after_io(c);
}

/* ---- the connection's io vtable ------------------------------------------------- */

static void h2_on_event(hz__io *io, unsigned events)
{
    hz__conn *c = (hz__conn *)io;
    if (c->closing)
        return;
    if ((events & (HZ_EV_ERR | HZ_EV_HUP)) && !(c->interest & HZ_EV_READ)) {
        h2_close(c);
        return;
    }
    if (events & HZ_EV_WRITE) {
        c->wblocked = 0;
        c->sock.want_write = 0;
    }
    if (events & (HZ_EV_READ | HZ_EV_ERR | HZ_EV_HUP))
        h2_read(c);
    h2_run(c);
}

static void h2_on_ready(hz__io *io)
{
    hz__conn *c = (hz__conn *)io;
    if (c->closing)
        return;
    hz__h2 *h = c->h2;
    /* Bytes the HTTP/1.1 side read before the takeover (the preface on). */
    if (hz__buf_pending(&c->in)) {
        size_t n = hz__buf_pending(&c->in);
        const uint8_t *p = (const uint8_t *)c->in.data + c->in.off;
        c->in.off = c->in.len = 0;
        int rc = h2_feed(c, p, n);
        hz__buf_release(&c->in, &c->loop->bufs);
        (void)rc;
    } else if (!h->calm && !c->rd_eof && c->sock.tp->has_input && c->sock.tp->has_input(&c->sock)) {
        h2_read(c);
    }
    h2_run(c);
}

/* Graceful stop, step one: GOAWAY with the largest stream id (no new
 * streams, RFC 9113 §6.8) and a PING; its ACK brings the final GOAWAY. */
static void h2_on_stop(hz__io *io)
{
    hz__conn *c = (hz__conn *)io;
    hz__h2 *h = c->h2;
    if (c->closing || h->stop_step)
        return;
    hz__conn_why(c, HZ_CLOSE_SHUTDOWN);
    if (!h->nstreams) {
        h->stop_step = 2;
        nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(h->ng), NGHTTP2_NO_ERROR,
                              NULL, 0);
        h->calm = 1;
    } else {
        h->stop_step = 1;
        nghttp2_submit_shutdown_notice(h->ng);
        nghttp2_submit_ping(h->ng, NGHTTP2_FLAG_NONE, NULL);
    }
    h2_run(c);
}

static void h2_close_io(hz__io *io)
{
    hz__conn *c = (hz__conn *)io;
    hz__h2 *h = c->h2;
    if (c->closing)
        return;
    c->refs++;
    hz__conn_close(c); /* transport, timer, metrics, the loop's list */
    for (h2s *s = h->streams; s; s = s->next) {
        if (s->finished)
            continue;
        if (s->fin_sent && !hz__buf_pending(&c->out)) {
            if (s->src_on)
                src_done(s, 0);
            stream_finish(c, s);
        } else if (s->dispatched) {
            stream_abort(s, HZ_ECLOSED);
        } else {
            src_done(s, HZ_ECLOSED);
        }
    }
    while (h->streams)
        stream_detach(h, h->streams);
    c->refs--;
}

static int h2_busy(const hz__io *io)
{
    return ((const hz__conn *)io)->refs != 0;
}

static void h2_free_io(hz__io *io)
{
    hz__conn *c = (hz__conn *)io;
    hz__h2 *h = c->h2;
    if (h) {
        while (h->streams)
            stream_detach(h, h->streams);
        nghttp2_session_del(h->ng);
        hz__free(&c->loop->srv->a, h, sizeof(*h));
        c->h2 = NULL;
    }
    hz__conn_free(c);
}

static const hz__io_vt h2_io_vt = {
    .on_event = h2_on_event,
    .on_ready = h2_on_ready,
    .on_stop = h2_on_stop,
    .close = h2_close_io,
    .busy = h2_busy,
    .free = h2_free_io,
};

/* hz__conn_close is HTTP/1.1's: on an HTTP/2 connection the streams end
 * too, so every close path here (timers, write errors) comes this way. */
static void h2_close(hz__conn *c)
{
    h2_close_io(&c->io);
}

void hz__h2_pool_free(hz__loop *loop)
{
    hz__h2pool *pool = loop->h2pool;
    if (!pool)
        return;
    const hz_allocator *a = &loop->srv->a;
    uint32_t cap = loop->srv->plimits.header_count ? loop->srv->plimits.header_count : 1;
    loop->h2pool = NULL;
    for (unsigned k = 0; k < H2_POOL_CLASSES; k++) {
        while (pool->blk[k]) {
            void *p = pool->blk[k];
            memcpy(&pool->blk[k], p, sizeof(void *));
            hz__free(a, p, (size_t)H2_POOL_MINSZ << k);
        }
    }
    while (pool->streams) {
        h2s *s = pool->streams;
        pool->streams = s->next;
        hz__free(a, s, sizeof(*s) + sizeof(*s->r.fields) * cap);
    }
    while (pool->nra)
        hz__free(a, pool->ra[--pool->nra], H2_RA_MAX);
    hz__free(a, pool, sizeof(*pool));
}

int hz__h2_takeover(hz__conn *c)
{
    hz__loop *loop = c->loop;
    hz_server *srv = loop->srv;
    const hz_config *cfg = &srv->cfg;
    if (!loop->h2pool)
        loop->h2pool = hz__calloc(&srv->a, sizeof(*loop->h2pool)); /* NULL: no pooling */
    hz__h2 *h = hz__calloc(&srv->a, sizeof(*h));
    if (!h)
        return HZ_ENOMEM;
    h->c = c;
    h->rx_skip = NGHTTP2_CLIENT_MAGIC_LEN; /* the preface comes first (h2_scan) */
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    if (nghttp2_session_callbacks_new(&cb) != 0) {
        hz__free(&srv->a, h, sizeof(*h));
        return HZ_ENOMEM;
    }
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cb);
        hz__free(&srv->a, h, sizeof(*h));
        return HZ_ENOMEM;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_send_data_callback(cb, send_data);
    /* The request-body windows open only as bodies are consumed. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
#ifdef HZ__NGHTTP2_MAX_CONTINUATIONS
    /* nghttp2's cap (8 by default) would end the session first with
     * PROTOCOL_ERROR; ours (H2_MAX_CONT, in on_begin_frame) answers
     * ENHANCE_YOUR_CALM and is the same with every nghttp2. */
    nghttp2_option_set_max_continuations(opt, H2_MAX_CONT + 1);
#endif
    nghttp2_mem mem = {loop, h2_malloc, h2_free, h2_calloc, h2_realloc};
    int rc = nghttp2_session_server_new3(&h->ng, cb, h, opt, &mem);
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    if (rc != 0) {
        hz__free(&srv->a, h, sizeof(*h));
        return HZ_ENOMEM;
    }
    uint32_t win = cfg->http2.initial_window;
    if (win > 0x7fffffffu)
        win = 0x7fffffffu;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
         cfg->http2.max_concurrent_streams ? cfg->http2.max_concurrent_streams : 100},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, win},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
         (uint32_t)(srv->plimits.header_bytes + srv->plimits.request_line)},
#if NGHTTP2_VERSION_NUM >= 0x013000
        /* RFC 9218 scheduling: nghttp2 then sends a stream's DATA frames
         * back to back (non-incremental, the default) instead of turning
         * between streams per frame, so a file's frames of one run are
         * read with one preadv, in place (h2_fill). It then keeps no
         * closed streams; h2_scan checks what that leaves unchecked. */
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
#endif
        /* RFC 8441 WebSockets: nghttp2 accepts :protocol only once this
         * local setting was submitted. Last, so it can be left out. */
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
    };
    size_t niv = sizeof(iv) / sizeof(iv[0]) - (cfg->http2.websocket ? 0 : 1);
    nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, niv);
    /* The connection window: a few streams' worth, still bounded. */
    nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0,
                                          (int32_t)(win > 0x1fffffffu ? 0x7fffffffu : win * 4));
    hz__timer_cancel(&loop->wheel, &c->timer);
    hz__timer_init(&c->timer, h2_timer_fn);
    c->h2 = h;
    c->io.vt = &h2_io_vt;
    h->win_start = h->last_data = loop->now;
    hz__m_add(&loop->metrics, HZ__MS_H2_CONNS, 1);
    hz__loop_ready(loop, c);
    return 0;
}

#else /* !HZ_HAVE_HTTP2 */

int hz__h2_takeover(hz__conn *c)
{
    (void)c;
    return HZ_ENOTSUP;
}

void hz__h2_pool_free(hz__loop *loop)
{
    (void)loop;
}

#endif /* HZ_HAVE_HTTP2 */
