/* ws_conn.c - WebSocket connections: the upgrade from a route handler,
 * the hand-over from HTTP/1.1, reading and writing on the loop, sending
 * from any thread through the loop's queue with an output budget, the
 * closing handshake, keep-alive pings, timeouts and the graceful stop.
 * The frames themselves are core/proto/ws.c and ws_deflate.c. */
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include "ws_conn.h"
#include "metrics.h"
#include "exec.h"

#define WS_READ_ROOM 16384u        /* bytes read at a time */
#define WS_WHOLE_MAX 65536u        /* whole frames up to this are read before parsing */
#define WS_IOV_MAX 64              /* iovecs per writev */
#define WS_WRITE_BUDGET (1u << 20) /* bytes written per flush, for fairness */
#define WS_INFLATE_STEP 16384u     /* output room per inflate call */
#define WS_OP_RAW 0xff             /* a chunk of bytes that are not a frame (the 101) */
#define WS_DIRECT_MIN 1024u        /* payloads this big go to the socket uncopied */
#define WS_PACK_ROOM (HZ__BUF_BLOCK - sizeof(hz__ws_chunk)) /* frame bytes in a packed block */

/* One frame queued for the peer (or, while posted, a send from another
 * thread on its way to the loop). */
struct hz__ws_chunk {
    hz__post post;          /* first: the loop's cross-thread message */
    hz__ws_chunk *next;     /* borrowed: the queue */
    hz_ws *ws;              /* borrowed; a reference is held while posted */
    hz_ws_msg *shared;      /* owns a reference, or NULL */
    const uint8_t *payload; /* borrowed: data[] or shared's */
    size_t plen;            /* payload bytes */
    size_t size;            /* bytes allocated */
    size_t cost;            /* reserved against the budget */
    size_t off;             /* bytes of header + payload written */
    unsigned close_code;    /* CLOSE: for on_close */
    uint8_t op;             /* HZ__WS_OP_* as asked, or WS_OP_RAW */
    uint8_t flags;          /* HZ_WS_MORE, HZ_WS_NO_COMPRESS */
    uint8_t hlen;           /* header bytes (0 for RAW) */
    uint8_t pack;           /* RAW: whole small frames packed in a loop buffer block */
    uint8_t hdr[HZ__WS_HEADER_MAX];
    uint8_t data[];
};

struct hz_ws_msg { /* owner: its refs (the creator's, each queue's) */
    atomic_uint refs;
    hz_allocator a; /* copied */
    size_t size;    /* bytes allocated */
    size_t len;     /* payload bytes */
    uint8_t op;
    uint8_t hlen;
    uint8_t hdr[HZ__WS_HEADER_MAX];
    uint8_t data[];
};

static const hz__io_vt ws_io_vt;
static void ws_timer_fn(hz__timer *t);
static void ws_after_io(hz_ws *ws);
static void ws_close_transport(hz_ws *ws, unsigned code);
static int ws_flush(hz_ws *ws);
static void ws_process(hz_ws *ws);

/* ---- options ------------------------------------------------------------- */

static void opts_defaults(hz_ws_options *o)
{
    memset(o, 0, sizeof(*o));
    o->size = sizeof(*o);
    o->max_frame = 1u << 20;
    o->max_message = 1u << 20;
    o->output_budget = 256u * 1024u;
    o->close_timeout_ms = 5000;
    o->compression_level = 6;
    o->server_max_window_bits = 15;
    o->client_max_window_bits = 15;
    o->compress_min = 64;
}

void hz_ws_options_init_sized(hz_ws_options *opts, size_t size)
{
    hz_ws_options d;
    opts_defaults(&d);
    hz_sized_init(opts, size, &d, sizeof(d));
}

/* ---- references ------------------------------------------------------------ */

static void ws_free(hz_ws *ws)
{
    hz_allocator a = ws->a;
    if (ws->protocol)
        hz__free(&a, ws->protocol, ws->protocol_size);
    hz__pmd_destroy(ws->pmd);
    hz__free(&a, ws, sizeof(*ws));
}

void hz_ws_retain(hz_ws *ws)
{
    atomic_fetch_add(&ws->refs, 1);
}

void hz_ws_release(hz_ws *ws)
{
    if (atomic_fetch_sub(&ws->refs, 1) == 1)
        ws_free(ws);
}

const char *hz_ws_protocol(const hz_ws *ws)
{
    return ws->protocol;
}

int hz_ws_compressed(const hz_ws *ws)
{
    return ws->pmd != NULL;
}

/* The loop thread runs sends directly; any other thread posts them. A loop
 * driven without a thread (tests, fuzzing) sets loop->thread itself. */
static int on_loop(const hz_ws *ws)
{
    return pthread_equal(pthread_self(), ws->loop->thread);
}

/* ---- chunks ---------------------------------------------------------------- */

static void chunk_free(hz_ws *ws, hz__ws_chunk *c)
{
    if (c->shared)
        hz_ws_msg_release(c->shared);
    if (c->pack) { /* back to the loop's cache (loop thread) */
        hz__buf b = {.data = (char *)c, .cap = HZ__BUF_BLOCK};
        hz__buf_release(&b, &ws->loop->bufs);
        return;
    }
    hz__free(&ws->a, c, c->size);
}

static hz__ws_chunk *chunk_new(hz_ws *ws, unsigned op, const void *data, size_t len, unsigned flags)
{
    size_t size = sizeof(hz__ws_chunk) + len;
    hz__ws_chunk *c = hz__alloc(&ws->a, size);
    if (!c)
        return NULL;
    memset(c, 0, sizeof(*c));
    c->size = size;
    c->op = (uint8_t)op;
    c->flags = (uint8_t)flags;
    c->ws = ws;
    c->plen = len;
    c->payload = c->data;
    if (len && data)
        memcpy(c->data, data, len);
    c->cost = len + HZ__WS_HEADER_MAX;
    return c;
}

/* Releases cost from the budget; the loop calls on_drain when asked for. */
static void budget_put(hz_ws *ws, size_t cost)
{
    atomic_fetch_sub(&ws->queued, cost);
}

/* Takes cost from the budget: allowed while under it (one message may
 * cross it). A refused sender sets drain_wanted, then looks again, so a
 * drain that happened in between is not lost. */
static int budget_take(hz_ws *ws, size_t cost)
{
    size_t q = atomic_load(&ws->queued);
    for (;;) {
        if (q >= ws->budget) {
            atomic_store(&ws->drain_wanted, 1);
            q = atomic_load(&ws->queued);
            if (q >= ws->budget)
                return HZ_EAGAIN;
            continue;
        }
        if (atomic_compare_exchange_weak(&ws->queued, &q, q + cost))
            return 0;
    }
}

/* Compresses a whole message's payload into a new chunk (loop thread: the
 * context is the loop's). 0, or HZ_ENOMEM. */
static int chunk_deflate(hz_ws *ws, hz__ws_chunk **cp)
{
    hz__ws_chunk *c = *cp;
    size_t cap = c->plen + 64, out = 0, in = 0;
    size_t size = sizeof(hz__ws_chunk) + cap;
    hz__ws_chunk *z = hz__alloc(&ws->a, size);
    if (!z)
        return HZ_ENOMEM;
    memcpy(z, c, sizeof(*z));
    z->pack = 0;
    z->size = size;
    z->payload = z->data;
    z->shared = NULL;
    for (;;) {
        size_t used, made;
        int st = hz__pmd_deflate(ws->pmd, c->payload + in, c->plen - in, 1, z->data + out,
                                 cap - out, &used, &made);
        if (st < 0) {
            hz__free(&ws->a, z, z->size);
            return st;
        }
        in += used;
        out += made;
        if (st == HZ__PMD_DONE)
            break;
        /* Incompressible input grows a little: make room and go on. */
        size_t ncap = cap * 2;
        hz__ws_chunk *g = hz__realloc(&ws->a, z, size, sizeof(hz__ws_chunk) + ncap);
        if (!g) {
            hz__free(&ws->a, z, size);
            return HZ_ENOMEM;
        }
        z = g;
        size = sizeof(hz__ws_chunk) + ncap;
        z->size = size;
        z->payload = z->data;
        cap = ncap;
    }
    z->plen = out;
    chunk_free(ws, c);
    *cp = z;
    return 0;
}

/* Builds the frame header on the loop, compressing when negotiated. A
 * chunk that cannot be framed (out of memory) is dropped: 0 or < 0. */
static int chunk_frame(hz_ws *ws, hz__ws_chunk **cp)
{
    hz__ws_chunk *c = *cp;
    if (c->op == WS_OP_RAW || c->shared)
        return 0; /* the 101, or a shared frame built once */
    unsigned op = c->op, fl = 0;
    if (op == HZ__WS_OP_TEXT || op == HZ__WS_OP_BINARY) {
        if (ws->frag_out)
            op = HZ__WS_OP_CONT;
        else if (ws->pmd && !(c->flags & (HZ_WS_MORE | HZ_WS_NO_COMPRESS)) &&
                 c->plen >= ws->compress_min) {
            int rc = chunk_deflate(ws, cp);
            if (rc < 0)
                return rc;
            c = *cp;
            fl |= HZ__WS_RSV1;
        }
        ws->frag_out = (c->flags & HZ_WS_MORE) != 0;
        if (!ws->frag_out)
            fl |= HZ__WS_FIN;
    } else {
        fl |= HZ__WS_FIN;
    }
    int h = hz__ws_write_header(c->hdr, op, fl, c->plen, NULL);
    if (h < 0)
        return h;
    c->hlen = (uint8_t)h;
    return 0;
}

/* Appends a framed chunk to the queue (loop thread). */
static void queue_push(hz_ws *ws, hz__ws_chunk *c)
{
    if (!ws->qhead)
        ws->last_tx = ws->loop->now; /* the write-stall clock starts now */
    c->next = NULL;
    if (ws->qtail)
        ws->qtail->next = c;
    else
        ws->qhead = c;
    ws->qtail = c;
    if (c->op == HZ__WS_OP_TEXT || c->op == HZ__WS_OP_BINARY) {
        if (!(c->flags & HZ_WS_MORE))
            hz__m_add(&ws->loop->metrics, HZ__MS_WS_MSG_OUT, 1);
        hz__m_add(&ws->loop->metrics, HZ__MS_WS_BYTES_OUT, c->plen);
    }
}

/* A send on the loop thread: frame, queue, and flush at the end of this
 * processing round or iteration. */
static int send_loop(hz_ws *ws, hz__ws_chunk *c)
{
    if (atomic_load(&ws->state) != HZ__WS_OPEN || ws->close_sent) {
        budget_put(ws, c->cost);
        chunk_free(ws, c);
        return HZ_ECLOSED;
    }
    int rc = chunk_frame(ws, &c);
    if (rc < 0) {
        budget_put(ws, c->cost);
        chunk_free(ws, c);
        return rc;
    }
    if (c->op == HZ__WS_OP_CLOSE) {
        ws->close_sent = 1;
        ws->close_code = c->close_code;
        ws->close_deadline = ws->loop->now + ws->close_ms;
    }
    queue_push(ws, c);
    if (!ws->in_process)
        hz__loop_queue(ws->loop, &ws->io);
    return 0;
}

/* A send from another thread arrives on the loop. */
static void post_fn(hz__loop *loop, hz__post *msg)
{
    (void)loop;
    hz__ws_chunk *c = (hz__ws_chunk *)msg;
    hz_ws *ws = c->ws;
    send_loop(ws, c); /* a connection gone meanwhile drops it */
    hz_ws_release(ws);
}

static int send_chunk(hz_ws *ws, hz__ws_chunk *c)
{
    if (on_loop(ws))
        return send_loop(ws, c);
    hz_ws_retain(ws); /* the posted message holds the ws */
    c->post.fn = post_fn;
    hz__loop_post(ws->loop, &c->post);
    return 0;
}

/* ---- the fast paths (loop thread) ---------------------------------------------- */

/* Whether a data frame can skip the chunk path: on the loop, open, and
 * nothing queued ahead of it (order) nor a write failure pending. Direct
 * writes stop for the turn at WS_WRITE_BUDGET, like a flush: a reader as
 * fast as the producer never fills the socket, so a handler sending until
 * HZ_EAGAIN would otherwise never return to the loop (nor let the input
 * or the other connections have their turn). */
static int fast_ok(const hz_ws *ws)
{
    /* on_loop first: the other fields are the loop's, and another
     * thread must not read them (TSan). */
    return on_loop(ws) && !ws->qhead && !ws->wbroken && !ws->close_sent &&
           ws->turn_out < WS_WRITE_BUDGET && atomic_load(&ws->state) == HZ__WS_OPEN;
}

/* Whether chunk_frame would compress this message (the chunk path). */
static int will_compress(const hz_ws *ws, size_t len, unsigned flags)
{
    return !ws->frag_out && ws->pmd && !(flags & (HZ_WS_MORE | HZ_WS_NO_COMPRESS)) &&
           len >= ws->compress_min;
}

/* The header of an uncompressed data frame as chunk_frame would make it:
 * its length, or 0 when the message is to be compressed (chunk path). */
static int frame_head(hz_ws *ws, unsigned op, size_t len, unsigned flags, uint8_t *hdr)
{
    unsigned fl = 0;
    if (will_compress(ws, len, flags))
        return 0;
    if (ws->frag_out)
        op = HZ__WS_OP_CONT;
    if (!(flags & HZ_WS_MORE))
        fl |= HZ__WS_FIN;
    /* A small frame (the usual echo) without the general writer's call. */
    int h = len < 126 ? hz__ws_write_small_header(hdr, op, fl, len)
                      : hz__ws_write_header(hdr, op, fl, len, NULL);
    if (h <= 0)
        return 0;
    ws->frag_out = (flags & HZ_WS_MORE) != 0;
    return h;
}

static void count_out(hz_ws *ws, size_t len, unsigned flags)
{
    if (!(flags & HZ_WS_MORE))
        hz__m_add(&ws->loop->metrics, HZ__MS_WS_MSG_OUT, 1);
    hz__m_add(&ws->loop->metrics, HZ__MS_WS_BYTES_OUT, len);
}

/* Makes sure the flush runs: at the end of this processing round, or on
 * the loop's ready list. */
static void flush_soon(hz_ws *ws)
{
    if (!ws->in_process)
        hz__loop_queue(ws->loop, &ws->io);
}

/* A big frame with an empty queue: header and payload in one writev, and
 * only what the socket did not take is queued: copied (or, for a shared
 * message m, referenced). cost: the budget taken for it. 1: not for this
 * path (left to the chunk path, nothing changed), 0: sent. */
static int send_direct(hz_ws *ws, unsigned op, const void *data, size_t len, unsigned flags,
                       hz_ws_msg *m, size_t cost)
{
    uint8_t hdr[HZ__WS_HEADER_MAX];
    int hl;
    if (!fast_ok(ws))
        return 1;
    if (m) {
        hl = m->hlen;
        memcpy(hdr, m->hdr, (size_t)hl);
        data = m->data;
        len = m->len;
    } else if ((hl = frame_head(ws, op, len, flags, hdr)) == 0) {
        return 1;
    }
    count_out(ws, len, flags);
    struct iovec iov[2] = {{hdr, (size_t)hl}, {(void *)(uintptr_t)data, len}};
    long w = ws->sock.tp->writev(&ws->sock, iov, 2);
    if (w == HZ_EAGAIN || w == 0) {
        ws->wblocked = 1;
        w = 0;
    } else if (w < 0) {
        /* Closed from ws_after_io, not inside the caller's send. */
        ws->wbroken = 1;
        budget_put(ws, cost);
        flush_soon(ws);
        return 0;
    } else {
        ws->last_tx = ws->loop->now;
        ws->turn_out += ws->pipe ? 0 : (size_t)w; /* a carrier's buffer is bounded */
        hz__m_add(&ws->loop->metrics, HZ__MS_BYTES_OUT, (uint64_t)w);
    }
    size_t done = (size_t)w, skip = done > (size_t)hl ? done - (size_t)hl : 0;
    if (done == (size_t)hl + len) {
        budget_put(ws, cost);
        return 0;
    }
    /* The rest, as raw bytes: the header's unwritten part, then the
     * payload's. */
    hz__ws_chunk *c =
        chunk_new(ws, WS_OP_RAW, m ? NULL : (const uint8_t *)data + skip, m ? 0 : len - skip, 0);
    if (!c) { /* half a frame went out: the stream is broken */
        ws->wbroken = 1;
        budget_put(ws, cost);
        flush_soon(ws);
        return 0;
    }
    if (done < (size_t)hl) {
        c->hlen = (uint8_t)((size_t)hl - done);
        memcpy(c->hdr, hdr + done, c->hlen);
    }
    if (m) {
        atomic_fetch_add(&m->refs, 1);
        c->shared = m;
        c->payload = m->data + skip;
        c->plen = len - skip;
    }
    c->cost = c->hlen + c->plen;
    budget_put(ws, cost - c->cost);
    queue_push(ws, c);
    flush_soon(ws);
    return 0;
}

/* A small frame: appended to the queue's last block of packed frames (a
 * block of the loop's buffer cache: no allocation in steady state, and a
 * backlog of small messages costs about its bytes), written with the rest
 * of the queue at the end of the round. 1: not for this path, 0: queued,
 * HZ_ENOMEM. */
static int send_packed(hz_ws *ws, unsigned op, const void *data, size_t len, unsigned flags,
                       size_t cost)
{
    if (!on_loop(ws) || ws->wbroken || ws->close_sent || atomic_load(&ws->state) != HZ__WS_OPEN ||
        will_compress(ws, len, flags))
        return 1; /* on_loop first: the other fields are the loop's */
    hz__ws_chunk *t = ws->qtail;
    if (!t || !t->pack || t->plen + cost > WS_PACK_ROOM) {
        /* A fresh block: its chunk is made here (not chunk_new: the
         * cache's block, and empty). */
        hz__buf b = {0};
        if (hz__buf_reserve(&b, &ws->loop->bufs, HZ__BUF_BLOCK, HZ__BUF_BLOCK) < 0)
            return HZ_ENOMEM;
        t = (hz__ws_chunk *)(void *)b.data;
        /* The fields a packed block's readers use (queue_push sets next;
         * post, close_code and hdr are not read for it): cheaper than
         * clearing the whole header for every echo. */
        t->ws = ws;
        t->shared = NULL;
        t->payload = t->data;
        t->plen = 0;
        t->size = HZ__BUF_BLOCK;
        t->cost = 0;
        t->off = 0;
        t->op = WS_OP_RAW;
        t->flags = 0;
        t->hlen = 0;
        t->pack = 1;
        queue_push(ws, t);
    }
    uint8_t *p = t->data + t->plen;
    int hl = frame_head(ws, op, len, flags, p); /* not 0: checked above */
    if (len)
        memcpy(p + hl, data, len);
    t->plen += (size_t)hl + len;
    t->cost += (size_t)hl + len;
    budget_put(ws, cost - ((size_t)hl + len));
    count_out(ws, len, flags);
    flush_soon(ws);
    return 0;
}

/* Checks, takes budget and sends. Control frames (ping, close) pass the
 * budget: they are small and the peer must see them. */
static int ws_send_op(hz_ws *ws, unsigned op, const void *data, size_t len, unsigned flags,
                      unsigned close_code)
{
    int st = atomic_load(&ws->state);
    if (st != HZ__WS_OPEN || atomic_load(&ws->close_asked))
        return HZ_ECLOSED;
    int control = op >= 0x8;
    if (!control) {
        int rc = budget_take(ws, len + HZ__WS_HEADER_MAX);
        if (rc < 0)
            return rc;
    } else {
        atomic_fetch_add(&ws->queued, len + HZ__WS_HEADER_MAX);
    }
    if (!control) {
        size_t cost = len + HZ__WS_HEADER_MAX;
        int rc = len >= WS_DIRECT_MIN ? send_direct(ws, op, data, len, flags, NULL, cost) : 1;
        if (rc == 1 && cost <= WS_PACK_ROOM)
            rc = send_packed(ws, op, data, len, flags, cost);
        if (rc <= 0) {
            if (rc < 0)
                budget_put(ws, cost);
            return rc;
        }
    }
    hz__ws_chunk *c = chunk_new(ws, op, data, len, flags);
    if (!c) {
        budget_put(ws, len + HZ__WS_HEADER_MAX);
        return HZ_ENOMEM;
    }
    c->close_code = close_code;
    return send_chunk(ws, c);
}

int hz_ws_send(hz_ws *ws, int opcode, const void *data, size_t len, unsigned flags)
{
    if (!ws || (opcode != HZ_WS_TEXT && opcode != HZ_WS_BINARY) || (len && !data) ||
        (flags & ~(unsigned)(HZ_WS_MORE | HZ_WS_NO_COMPRESS)))
        return HZ_EINVAL;
    /* A whole text message is checked here; fragments are the caller's
     * (a last fragment alone may start inside a character). */
    int whole = !(flags & HZ_WS_MORE) && !atomic_load(&ws->frag_open);
    if (whole && opcode == HZ_WS_TEXT && !hz__utf8_valid(data, len))
        return HZ_EINVAL;
    int rc = ws_send_op(ws, (unsigned)opcode, data, len, flags, 0);
    if (rc == 0)
        atomic_store(&ws->frag_open, (flags & HZ_WS_MORE) != 0);
    return rc;
}

int hz_ws_ping(hz_ws *ws, const void *data, size_t len)
{
    if (!ws || len > HZ__WS_CONTROL_MAX || (len && !data))
        return HZ_EINVAL;
    return ws_send_op(ws, HZ__WS_OP_PING, data, len, 0, 0);
}

int hz_ws_close(hz_ws *ws, unsigned code, const char *reason, size_t len)
{
    uint8_t p[HZ__WS_CONTROL_MAX];
    if (!ws || (len && !reason))
        return HZ_EINVAL;
    /* 1002, 1007 and 1009 are the library's own (protocol failures). */
    int rc = hz__ws_close_payload(p, code, reason, len);
    if (rc < 0)
        return rc == HZ_ERANGE ? HZ_EINVAL : rc;
    if (atomic_load(&ws->state) != HZ__WS_OPEN)
        return HZ_ECLOSED;
    int zero = 0;
    if (!atomic_compare_exchange_strong(&ws->close_asked, &zero, 1))
        return HZ_ECLOSED;
    atomic_fetch_add(&ws->queued, (size_t)rc + HZ__WS_HEADER_MAX);
    hz__ws_chunk *c = chunk_new(ws, HZ__WS_OP_CLOSE, p, (size_t)rc, 0);
    if (!c) {
        budget_put(ws, (size_t)rc + HZ__WS_HEADER_MAX);
        return HZ_ENOMEM;
    }
    c->close_code = code ? code : 1005;
    return send_chunk(ws, c);
}

/* A close frame of the library's own (echo, failure, idle, stop), loop
 * thread: bypasses close_asked (the user may have asked already, in which
 * case the frame is already queued and nothing is added). */
static void ws_close_own(hz_ws *ws, unsigned code, const char *reason)
{
    uint8_t p[HZ__WS_CONTROL_MAX];
    if (ws->close_sent)
        return;
    atomic_store(&ws->close_asked, 1);
    int n = hz__ws_close_payload(p, code, reason, reason ? strlen(reason) : 0);
    if (n < 0)
        n = hz__ws_close_payload(p, 0, NULL, 0);
    atomic_fetch_add(&ws->queued, (size_t)n + HZ__WS_HEADER_MAX);
    hz__ws_chunk *c = chunk_new(ws, HZ__WS_OP_CLOSE, p, (size_t)n, 0);
    if (!c) {
        budget_put(ws, (size_t)n + HZ__WS_HEADER_MAX);
        ws_close_transport(ws, code ? code : 1005);
        return;
    }
    c->close_code = code ? code : 1005;
    send_loop(ws, c);
}

/* ---- shared messages --------------------------------------------------------- */

int hz_ws_msg_create(hz_ws_msg **out, const hz_allocator *a, int opcode, const void *data,
                     size_t len)
{
    if (!out)
        return HZ_EINVAL;
    *out = NULL;
    if ((opcode != HZ_WS_TEXT && opcode != HZ_WS_BINARY) || (len && !data))
        return HZ_EINVAL;
    if (opcode == HZ_WS_TEXT && !hz__utf8_valid(data, len))
        return HZ_EINVAL;
    if (!a)
        a = &hz_allocator_default;
    size_t size = sizeof(hz_ws_msg) + len;
    hz_ws_msg *m = hz__alloc(a, size);
    if (!m)
        return HZ_ENOMEM;
    atomic_init(&m->refs, 1);
    m->a = *a;
    m->size = size;
    m->len = len;
    m->op = (uint8_t)opcode;
    m->hlen = (uint8_t)hz__ws_write_header(m->hdr, (unsigned)opcode, HZ__WS_FIN, len, NULL);
    if (len)
        memcpy(m->data, data, len);
    *out = m;
    return 0;
}

void hz_ws_msg_release(hz_ws_msg *m)
{
    if (m && atomic_fetch_sub(&m->refs, 1) == 1) {
        hz_allocator a = m->a;
        hz__free(&a, m, m->size);
    }
}

int hz_ws_send_msg(hz_ws *ws, hz_ws_msg *m)
{
    if (!ws || !m)
        return HZ_EINVAL;
    if (atomic_load(&ws->state) != HZ__WS_OPEN || atomic_load(&ws->close_asked))
        return HZ_ECLOSED;
    size_t cost = m->len + HZ__WS_HEADER_MAX;
    int rc = budget_take(ws, cost);
    if (rc < 0)
        return rc;
    if (m->len >= WS_DIRECT_MIN && send_direct(ws, m->op, NULL, 0, 0, m, cost) == 0)
        return 0;
    hz__ws_chunk *c = chunk_new(ws, m->op, NULL, 0, 0);
    if (!c) {
        budget_put(ws, cost);
        return HZ_ENOMEM;
    }
    atomic_fetch_add(&m->refs, 1);
    c->shared = m;
    c->payload = m->data;
    c->plen = m->len;
    c->cost = cost;
    memcpy(c->hdr, m->hdr, m->hlen);
    c->hlen = m->hlen;
    return send_chunk(ws, c);
}

/* ---- the upgrade ------------------------------------------------------------- */

/* RFC 8441 §4: HTTP/2's extended CONNECT; its :protocol pseudo-header
 * is a field of the request (core/http2 keeps it under that name). */
static int is_ext_connect(const hz_req *req)
{
    if (hz_req_version(req) != 20 || req->head.method != HZ__M_CONNECT)
        return 0;
    hz_str p = hz_req_header(req, ":protocol");
    return p.len == 9 && strncasecmp(p.ptr, "websocket", 9) == 0;
}

int hz_ws_is_upgrade(const hz_req *req)
{
    hz_str up = hz_req_header(req, "upgrade");
    if (up.ptr)
        return hz__ws_list_has(up.ptr, up.len, "websocket");
    return is_ext_connect(req);
}

int hz_ws_origin_ok(const hz_req *req, const char *const *allowed, size_t n)
{
    hz_str o = hz_req_header(req, "origin");
    if (!o.ptr)
        return 1;
    if (allowed)
        return hz__ws_origin_allowed(o.ptr, o.len, allowed, n);
    hz_str host = hz_req_header(req, "host");
    if (!host.ptr)
        return 0;
    int tls = req->res.ops->secure ? req->res.ops->secure(req) : 0;
    return hz__ws_origin_is_host(o.ptr, o.len, host.ptr, host.len, tls);
}

/* Answers a refused upgrade: the reason phrase, and what §4.2.2 asks. */
static void refuse(hz_res *res, int status, hz__ws_hs_err e)
{
    if (e == HZ__WS_HS_VERSION)
        hz_res_set_header(res, "Sec-WebSocket-Version", "13");
    else if (e == HZ__WS_HS_NO_UPGRADE)
        hz_res_set_header(res, "Upgrade", "websocket");
    const char *r = hz__status_reason(status);
    hz_res_set_header(res, "Content-Type", HZ__ERROR_CTYPE);
    hz_res_send(res, status, r, strlen(r));
}

static void ws_handover(hz__handover *h, void *ud);

/* Appends "name: value\r\n". */
static size_t put_field(char *p, const char *name, const char *value, size_t vl)
{
    size_t nl = strlen(name);
    memcpy(p, name, nl);
    p[nl] = ':';
    p[nl + 1] = ' ';
    memcpy(p + nl + 2, value, vl);
    memcpy(p + nl + 2 + vl, "\r\n", 2);
    return nl + vl + 4;
}

/* What hz_ws_accept decided before the connection is touched: the
 * prepared WebSocket and what its head says. On the loop it lives on the
 * stack; on an executor worker it is allocated and handed to the job
 * (hz__exec_defer) until the replay commits or drops it, on the loop. */
typedef struct ws_pending {
    hz_ws *ws;                          /* owns: prepared, not yet counted in nws */
    int h2;                             /* RFC 8441: a 200 on the stream, no accept key */
    int pmd_on;                         /* permessage-deflate agreed: ext is the answer */
    char accept[HZ__WS_ACCEPT_LEN + 1]; /* HTTP/1.1: Sec-WebSocket-Accept */
    char ext[HZ__PMD_RESPONSE_MAX];     /* Sec-WebSocket-Extensions */
} ws_pending;

/* Frees a prepared WebSocket that never opened (not counted in nws). */
static void ws_discard(hz_ws *ws)
{
    while (ws->qhead) {
        hz__ws_chunk *c = ws->qhead;
        ws->qhead = c->next;
        chunk_free(ws, c);
    }
    atomic_store(&ws->state, HZ__WS_DONE);
    hz_ws_release(ws);
}

/* Checks the request and the options, negotiates, and makes the WebSocket
 * (nothing of the connection is touched: this part may run on a worker,
 * reading the request, answering through whatever res records). A refusal
 * is answered here; < 0 then. */
static int ws_prepare(hz_req *req, hz_res *res, const hz_ws_callbacks *cb,
                      const hz_ws_options *opts, void *ud, ws_pending *pd)
{
    hz_ws_options o;
    opts_defaults(&o);
    if (opts && hz_sized_import(&o, sizeof(o), opts, sizeof(o)) < 0)
        return HZ_EINVAL;
    if (!o.output_budget || !o.close_timeout_ms)
        return HZ_EINVAL;

    /* RFC 8441 §5: over HTTP/2 the request is an extended CONNECT with no
     * key and the answer a 200 without Sec-WebSocket-Accept. */
    pd->h2 = hz_req_version(req) == 20;
    if (pd->h2) {
        hz_str v = hz_req_header(req, "sec-websocket-version");
        if (!is_ext_connect(req)) {
            refuse(res, 400, HZ__WS_HS_OK);
            return HZ_EINVAL;
        }
        if (v.len != 2 || memcmp(v.ptr, "13", 2) != 0) {
            refuse(res, hz__ws_hs_status(HZ__WS_HS_VERSION), HZ__WS_HS_VERSION);
            return HZ_EINVAL;
        }
    } else {
        /* §4.2.1: the request. */
        hz__ws_hs_req hr;
        memset(&hr, 0, sizeof(hr));
        hr.method = hz_req_method(req);
        hr.version_minor = hz_req_version(req) == 11 ? 1 : 0;
        hr.connection = hz_req_header(req, "connection");
        hr.upgrade = hz_req_header(req, "upgrade");
        hr.version = hz_req_header(req, "sec-websocket-version");
        size_t nf = hz_req_header_count(req);
        for (size_t i = 0; i < nf; i++) {
            hz_str n, v;
            if (hz_req_header_at(req, i, &n, &v) == 0 && n.len == 17 &&
                strncasecmp(n.ptr, "sec-websocket-key", 17) == 0) {
                if (!hr.key_count)
                    hr.key = v;
                hr.key_count++;
            }
        }
        hz__ws_hs_err e = hz__ws_handshake_check(&hr);
        if (e != HZ__WS_HS_OK) {
            refuse(res, hz__ws_hs_status(e), e);
            return HZ_EINVAL;
        }
        if (hz__ws_accept(hr.key.ptr, hr.key.len, pd->accept) < 0) {
            refuse(res, 400, HZ__WS_HS_KEY);
            return HZ_EINVAL;
        }
    }

    /* Subprotocol (§4.2.2 5.5). */
    long proto = HZ_ENOENT;
    hz_str offered = hz_req_header(req, "sec-websocket-protocol");
    if (offered.ptr && o.subprotocols && o.nsubprotocols) {
        proto = hz__ws_select_protocol(offered.ptr, offered.len, o.subprotocols, o.nsubprotocols);
        if (proto == HZ_EINVAL) {
            refuse(res, 400, HZ__WS_HS_OK);
            return HZ_EINVAL;
        }
    }

    /* permessage-deflate (RFC 7692 §5). */
    hz__pmd_params agreed;
    hz__pmd_cfg pcfg;
    hz__pmd_cfg_init(&pcfg);
    pd->pmd_on = 0;
    if (o.compression) {
        hz_str offer = hz_req_header(req, "sec-websocket-extensions");
        if (o.server_max_window_bits >= 9 && o.server_max_window_bits <= 15)
            pcfg.server_max_window_bits = (uint8_t)o.server_max_window_bits;
        if (o.client_max_window_bits >= 8 && o.client_max_window_bits <= 15)
            pcfg.client_max_window_bits = (uint8_t)o.client_max_window_bits;
        pcfg.server_no_context_takeover = o.server_no_context_takeover != 0;
        pcfg.client_no_context_takeover = o.client_no_context_takeover != 0;
        if (o.compression_level >= 1 && o.compression_level <= 9)
            pcfg.level = (int8_t)o.compression_level;
        if (offer.ptr) {
            int rc =
                hz__pmd_negotiate(offer.ptr, offer.len, &pcfg, &agreed, pd->ext, sizeof(pd->ext));
            if (rc == HZ_EINVAL) {
                refuse(res, 400, HZ__WS_HS_OK);
                return HZ_EINVAL;
            }
            pd->pmd_on = rc == 1;
        }
    }

    hz__loop *loop = req->loop;
    hz_server *srv = loop->srv;
    /* Full already: refused before a compression context is made. The
     * slot itself is taken by ws_commit. */
    if (atomic_load(&srv->nws) >= srv->cfg.max_websockets) {
        refuse(res, 503, HZ__WS_HS_OK);
        return HZ_EBUSY;
    }
    hz_ws *ws = hz__calloc(&srv->a, sizeof(*ws));
    if (!ws)
        goto nomem;
    pd->ws = ws;
    ws->io.vt = &ws_io_vt;
    ws->loop = loop;
    ws->a = srv->a;
    atomic_init(&ws->refs, 1);
    atomic_init(&ws->state, HZ__WS_ACCEPTED);
    hz__timer_init(&ws->timer, ws_timer_fn);
    ws->sock.fd = -1;
    ws->cb = *cb;
    ws->ud = ud;
    ws->budget = o.output_budget;
    ws->compress_min = o.compress_min;
    ws->ping_ms = o.ping_interval_ms;
    ws->idle_ms = o.idle_timeout_ms;
    ws->close_ms = o.close_timeout_ms;
    ws->stream = o.stream != 0;
    hz__utf8_init(&ws->utf8);
    hz__ws_parser_cfg pc;
    memset(&pc, 0, sizeof(pc));
    pc.role = HZ__WS_SERVER;
    pc.max_frame = o.max_frame;
    pc.max_message = o.max_message;
    pc.rsv1_compressed = (unsigned)pd->pmd_on;
    hz__ws_parser_init(&ws->parser, &pc);
    if (pd->pmd_on && hz__pmd_create(&ws->pmd, &ws->a, &agreed, 1, &pcfg, o.max_message) < 0)
        goto nomem;
    const char *pname = proto >= 0 ? o.subprotocols[proto] : NULL;
    if (pname) {
        ws->protocol_size = strlen(pname) + 1;
        ws->protocol = hz__alloc(&ws->a, ws->protocol_size);
        if (!ws->protocol)
            goto nomem;
        memcpy(ws->protocol, pname, ws->protocol_size);
    }
    return 0;
nomem:
    if (ws)
        ws_discard(ws);
    pd->ws = NULL;
    refuse(res, 503, HZ__WS_HS_OK);
    return HZ_ENOMEM;
}

/* Takes a slot under max_websockets and answers the upgrade on the
 * connection (loop thread): the head, then the hand-over. pd->ws is
 * consumed whatever happens; a refusal is answered here. */
static int ws_commit(hz_req *req, hz_res *res, ws_pending *pd)
{
    hz_ws *ws = pd->ws;
    hz_server *srv = req->loop->srv;
    pd->ws = NULL;
    /* Stopping: a WebSocket would only be closed 1001 at once (and
     * HTTP/1.1 takes no upgrade then): the same answer as the cap. */
    if (req->loop->stopping) {
        ws_discard(ws);
        refuse(res, 503, HZ__WS_HS_OK);
        return HZ_EBUSY;
    }
    if (atomic_fetch_add(&srv->nws, 1) >= srv->cfg.max_websockets) {
        atomic_fetch_sub(&srv->nws, 1);
        ws_discard(ws);
        refuse(res, 503, HZ__WS_HS_OK);
        return HZ_EBUSY;
    }
    const char *pname = ws->protocol;
    if (pd->h2) {
        /* The carrier's own head (200, no END_STREAM) carries these and the
         * handler's fields; the first queued bytes are frames. */
        if ((pname && hz_res_set_header(res, "Sec-WebSocket-Protocol", pname) < 0) ||
            (pd->pmd_on && hz_res_set_header(res, "Sec-WebSocket-Extensions", pd->ext) < 0))
            goto nomem;
        int rc = res->ops->upgrade(req, 200, ws_handover, ws);
        if (rc < 0) {
            ws_handover(NULL, ws);
            hz__res_answer(req, res->ops, rc == HZ_ESTATE ? 400 : 500, NULL);
            return rc;
        }
        return 0;
    }
    /* The 101 head (§4.2.2 5), with the handler's own fields. */
    size_t uhl = hz__buf_pending(&req->hdrs);
    size_t cap101 = 160 + HZ__WS_ACCEPT_LEN + (pname ? ws->protocol_size + 32 : 0) +
                    (pd->pmd_on ? sizeof(pd->ext) + 32 : 0) + uhl;
    hz__ws_chunk *h = chunk_new(ws, WS_OP_RAW, NULL, cap101, 0);
    if (!h)
        goto nomem;
    char *p = (char *)h->data;
    static const char l1[] = "HTTP/1.1 101 Switching Protocols\r\n"
                             "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    memcpy(p, l1, sizeof(l1) - 1);
    p += sizeof(l1) - 1;
    p += put_field(p, "Sec-WebSocket-Accept", pd->accept, HZ__WS_ACCEPT_LEN);
    if (pname)
        p += put_field(p, "Sec-WebSocket-Protocol", pname, ws->protocol_size - 1);
    if (pd->pmd_on)
        p += put_field(p, "Sec-WebSocket-Extensions", pd->ext, strlen(pd->ext));
    if (uhl) {
        memcpy(p, req->hdrs.data + req->hdrs.off, uhl);
        p += uhl;
    }
    memcpy(p, "\r\n", 2);
    p += 2;
    h->plen = (size_t)(p - (char *)h->data);
    h->cost = h->plen;
    atomic_fetch_add(&ws->queued, h->cost);
    ws->qhead = ws->qtail = h;

    int rc = res->ops->upgrade(req, 101, ws_handover, ws);
    if (rc < 0) {
        ws_handover(NULL, ws);
        if (rc == HZ_ESTATE)
            hz_res_send(res, 400, "Bad Request", 11); /* refused when already answered */
        return rc;
    }
    return 0;
nomem:
    ws_handover(NULL, ws);
    refuse(res, 503, HZ__WS_HS_OK);
    return HZ_ENOMEM;
}

/* The replay of an accept recorded on a worker (hz__exec_defer), on the
 * loop: the connection's answer now, or (ex NULL: the client went, the
 * deadline answered, the server failed the job) nothing but freeing. */
static void ws_replay(hz_req *ex, void *ud)
{
    ws_pending *pd = ud;
    hz_allocator a = pd->ws->a;
    if (ex)
        ws_commit(ex, &ex->res, pd);
    else
        ws_discard(pd->ws);
    hz__free(&a, pd, sizeof(*pd));
}

int hz_ws_accept(hz_req *req, hz_res *res, const hz_ws_callbacks *cb, const hz_ws_options *opts,
                 void *ud)
{
    if (!req || !res || !cb)
        return HZ_EINVAL;
    if (hz__exec_recording(res)) {
        /* On an executor worker: decided now, made at the replay. */
        const hz_allocator *a = &req->loop->srv->a;
        ws_pending *pd = hz__calloc(a, sizeof(*pd));
        if (!pd) {
            refuse(res, 503, HZ__WS_HS_OK);
            return HZ_ENOMEM;
        }
        int rc = ws_prepare(req, res, cb, opts, ud, pd);
        if (rc == 0 && (rc = hz__exec_defer(req, ws_replay, pd)) == 0)
            return 0;
        if (pd->ws)
            ws_discard(pd->ws);
        hz__free(a, pd, sizeof(*pd));
        return rc;
    }
    if (!res->ops->upgrade) {
        hz__res_answer(req, res->ops, 500, NULL);
        return HZ_ENOTSUP;
    }
    ws_pending pd;
    int rc = ws_prepare(req, res, cb, opts, ud, &pd);
    return rc < 0 ? rc : ws_commit(req, res, &pd);
}

/* The HTTP/1.1 connection is ours (h), or went away first (NULL). */
static void ws_handover(hz__handover *h, void *ud)
{
    hz_ws *ws = ud;
    hz__loop *loop = ws->loop;
    if (!h) {
        atomic_fetch_sub(&loop->srv->nws, 1);
        ws_discard(ws);
        return;
    }
    hz__sock_move(&ws->sock, &h->sock);
    if (h->peer) {
        ws->pipe = 1;
        *h->peer = ws;
    }
    ws->in = h->in;
    ws->conn_id = h->conn_id;
    ws->registered = (unsigned)h->registered;
    ws->interest = h->interest;
    /* Responses pipelined ahead of the 101 go first. */
    if (hz__buf_pending(&h->out)) {
        hz__ws_chunk *c =
            chunk_new(ws, WS_OP_RAW, h->out.data + h->out.off, hz__buf_pending(&h->out), 0);
        if (c) {
            c->cost = c->plen;
            atomic_fetch_add(&ws->queued, c->cost);
            c->next = ws->qhead;
            ws->qhead = c;
        }
    }
    hz__buf_release(&h->out, &loop->bufs);
    atomic_store(&ws->state, HZ__WS_OPEN);
    ws->last_rx = ws->last_tx = ws->last_ping = loop->now;
    hz__loop_link(loop, &ws->io);
    hz__m_add(&loop->metrics, HZ__MS_WS_OPENED, 1);
    if (ws->registered && loop->pv->modify(loop->poller, ws->sock.fd, ws->interest, &ws->io) < 0) {
        ws->registered = 0; /* cannot poll: close, without a word */
        ws_close_transport(ws, 1006);
        return;
    }
    if (loop->stopping) {
        ws_close_own(ws, 1001, "server stopping");
    } else if (ws->cb.on_open) {
        ws->depth++;
        ws->cb.on_open(ws, ws->ud);
        ws->depth--;
    }
    /* Leftover input, the 101 and anything on_open sent: next, on the loop. */
    hz__loop_queue(loop, &ws->io);
}

/* ---- closing ------------------------------------------------------------------ */

static unsigned close_kind(unsigned code)
{
    switch (code) {
    case 1000:
        return HZ_WS_CLOSE_1000;
    case 1001:
        return HZ_WS_CLOSE_1001;
    case 1002:
        return HZ_WS_CLOSE_1002;
    case 1005:
        return HZ_WS_CLOSE_1005;
    case 1006:
        return HZ_WS_CLOSE_1006;
    case 1007:
        return HZ_WS_CLOSE_1007;
    case 1009:
        return HZ_WS_CLOSE_1009;
    case 1011:
        return HZ_WS_CLOSE_1011;
    default:
        return HZ_WS_CLOSE_OTHER;
    }
}

static void ws_notify(hz_ws *ws, unsigned code, const char *reason, size_t len)
{
    if (ws->notified)
        return;
    ws->notified = 1;
    hz__m_add(&ws->loop->metrics, HZ__MS_WS_CLOSE + close_kind(code), 1);
    if (ws->cb.on_close) {
        ws->depth++;
        ws->cb.on_close(ws, code, reason, len, ws->ud);
        ws->depth--;
    }
}

/* Ends the connection now: the transport closes, queued frames are
 * dropped, on_close runs if it has not (code: 1006 when nothing was
 * said). The struct is freed by the reap step and the last release. */
static void ws_close_transport(hz_ws *ws, unsigned code)
{
    hz__loop *loop = ws->loop;
    if (atomic_load(&ws->state) != HZ__WS_OPEN)
        return;
    atomic_store(&ws->state, HZ__WS_DONE);
    atomic_store(&ws->close_asked, 1);
    if (ws->registered) {
        loop->pv->remove(loop->poller, ws->sock.fd);
        ws->registered = 0;
    }
    hz__timer_cancel(&loop->wheel, &ws->timer);
    unsigned why;
    if (ws->why)
        why = ws->why - 1u;
    else if (ws->close_rcvd && ws->close_sent)
        why = HZ_CLOSE_NORMAL;
    else if (ws->rd_eof)
        why = HZ_CLOSE_PEER;
    else
        why = HZ_CLOSE_ERROR;
    hz__m_add(&loop->metrics, HZ__MS_WS_CLOSED, 1);
    atomic_fetch_sub(&loop->srv->nws, 1);
    if (HZ__UNLIKELY(ws->pipe)) {
        /* The connection lives on: nothing of it to count. Everything
         * queued went to the carrier: end the stream after it (like TCP's
         * FIN after the last byte), else it is cut off (a reset). */
        if (!ws->qhead && why != HZ_CLOSE_ERROR)
            ws->sock.tp->shutdown(&ws->sock);
    } else {
        hz__m_add(&loop->metrics, HZ__MS_CLOSED + why, 1);
        /* Counted before the peer can see the close. */
        atomic_fetch_sub(&loop->srv->nconns, 1);
    }
    ws->sock.tp->close(&ws->sock);
    while (ws->qhead) {
        hz__ws_chunk *c = ws->qhead;
        ws->qhead = c->next;
        budget_put(ws, c->cost);
        chunk_free(ws, c);
    }
    ws->qtail = NULL;
    hz__buf_release(&ws->in, &loop->bufs);
    hz__buf_release(&ws->msg, &loop->bufs);
    hz__loop_unlink(loop, &ws->io);
    ws_notify(ws, code, NULL, 0);
}

void hz__ws_pipe_notify(hz_ws *ws, unsigned events)
{
    if (atomic_load(&ws->state) != HZ__WS_OPEN)
        return;
    if (events & HZ_EV_HUP) {
        ws->rd_eof = 1;
        if (!ws->why)
            ws->why =
                (uint8_t)((ws->close_sent && ws->close_rcvd ? HZ_CLOSE_NORMAL : HZ_CLOSE_PEER) + 1);
        ws_close_transport(ws, ws->close_rcvd ? ws->close_code : 1006);
        return;
    }
    if (events & HZ_EV_WRITE)
        ws->wblocked = 0;
    if (!ws->in_process)
        hz__loop_queue(ws->loop, &ws->io);
}

/* The peer broke the protocol (§7.1.7): our close frame with the code of
 * the error kind, then the transport closes once it is written. */
static void ws_fail(hz_ws *ws, hz__ws_err e)
{
    unsigned code = hz__ws_err_close_code(e);
    ws->why = HZ_CLOSE_ERROR + 1;
    ws_close_own(ws, code, hz__ws_err_text(e));
    ws->close_rcvd = 1; /* nothing more is parsed */
    ws->failed = 1;
    ws_notify(ws, code, NULL, 0);
}

/* ---- receiving ------------------------------------------------------------------- */

static void deliver(hz_ws *ws, int op, const void *data, size_t len, int fin)
{
    if (fin)
        hz__m_add(&ws->loop->metrics, HZ__MS_WS_MSG_IN, 1);
    if (ws->close_sent || !ws->cb.on_message)
        return; /* after our close, data is discarded (§1.4) */
    ws->depth++;
    ws->cb.on_message(ws, op, data, len, fin, ws->ud);
    ws->depth--;
}

/* A piece of a compressed message: inflate it into ws->msg (streamed:
 * handed out as it comes), UTF-8-checking text. 0, or < 0 after failing. */
static int on_compressed(hz_ws *ws, const hz__ws_event *ev)
{
    size_t off = 0;
    int text = ev->opcode == HZ__WS_OP_TEXT;
    if (ev->first)
        hz__utf8_init(&ws->utf8);
    for (;;) {
        if (ws->msg.cap - ws->msg.len < 1024 &&
            hz__buf_reserve(&ws->msg, &ws->loop->bufs, WS_INFLATE_STEP, UINT32_MAX) < 0) {
            ws->why = HZ_CLOSE_ERROR + 1;
            ws_close_own(ws, 1011, NULL);
            return -1;
        }
        size_t used = 0, made = 0;
        uint8_t *dst = (uint8_t *)ws->msg.data + ws->msg.len;
        int st = hz__pmd_inflate(ws->pmd, ev->data + off, ev->len - off, ev->msg_end, dst,
                                 ws->msg.cap - ws->msg.len, &used, &made);
        if (st < 0) {
            if (st == HZ_EPROTO) {
                ws_fail(ws, hz__pmd_error(ws->pmd));
            } else {
                ws->why = HZ_CLOSE_ERROR + 1;
                ws_close_own(ws, 1011, NULL);
            }
            return -1;
        }
        off += used;
        if (text && made && hz__utf8_feed(&ws->utf8, dst, made) != made) {
            ws_fail(ws, HZ__WS_E_UTF8);
            return -1;
        }
        ws->msg.len += (uint32_t)made;
        if (ws->stream && ws->msg.len && st != HZ__PMD_DONE) {
            deliver(ws, ev->opcode, ws->msg.data, ws->msg.len, 0);
            ws->msg.len = 0;
        }
        if (st == HZ__PMD_DONE)
            break;
        if (st == HZ__PMD_NEED_INPUT && off == ev->len)
            return 0;
    }
    if (text && !hz__utf8_complete(&ws->utf8)) {
        ws_fail(ws, HZ__WS_E_UTF8);
        return -1;
    }
    deliver(ws, ev->opcode, ws->msg.data, ws->msg.len, 1);
    ws->msg.len = ws->msg.off = 0;
    return 0;
}

static int on_data(hz_ws *ws, const hz__ws_event *ev)
{
    hz__m_add(&ws->loop->metrics, HZ__MS_WS_BYTES_IN, ev->len);
    if (ev->compressed)
        return on_compressed(ws, ev);
    if (ws->stream) {
        deliver(ws, ev->opcode, ev->data, ev->len, ev->msg_end);
        return 0;
    }
    if (ev->first && ev->msg_end) { /* whole in the input: no copy */
        deliver(ws, ev->opcode, ev->data, ev->len, 1);
        return 0;
    }
    /* The parser bounds the message (max_message). */
    if (ev->len && hz__buf_append(&ws->msg, &ws->loop->bufs, ev->data, ev->len) < 0) {
        ws->why = HZ_CLOSE_ERROR + 1;
        ws_close_own(ws, 1011, NULL);
        return -1;
    }
    if (ev->msg_end) {
        deliver(ws, ev->opcode, ws->msg.data, ws->msg.len, 1);
        ws->msg.len = ws->msg.off = 0;
    }
    return 0;
}

static void on_control(hz_ws *ws, const hz__ws_event *ev)
{
    switch (ev->opcode) {
    case HZ__WS_OP_PING:
        /* §5.5.2: a pong with the same payload, unless we are closing. */
        if (!ws->close_sent) {
            atomic_fetch_add(&ws->queued, ev->len + HZ__WS_HEADER_MAX);
            hz__ws_chunk *c = chunk_new(ws, HZ__WS_OP_PONG, ev->data, ev->len, 0);
            if (c)
                send_loop(ws, c);
            else
                budget_put(ws, ev->len + HZ__WS_HEADER_MAX);
        }
        break;
    case HZ__WS_OP_CLOSE: {
        unsigned code = ev->close_code ? ev->close_code : 1005;
        ws->close_rcvd = 1;
        /* §5.5.1: echo the code (an empty close gets an empty one). */
        if (!ws->close_sent)
            ws_close_own(ws, ev->close_code, NULL);
        ws_notify(ws, code, (const char *)ev->reason, ev->reason_len);
        break;
    }
    default: /* PONG: the peer is alive (last_rx is enough) */
        break;
    }
}

/* A whole message in one frame that is not all in yet: its size on the
 * wire, to be read before it is parsed, so on_message gets it straight
 * from the input instead of a copy assembled in ws->msg. 0: parse what is
 * there. Bounded (WS_WHOLE_MAX, max_frame): a frame the parser refuses
 * from its header is parsed at once. */
static size_t ws_frame_wait(const hz_ws *ws)
{
    size_t pend = hz__buf_pending(&ws->in);
    uint64_t plen;
    int whole;
    if (ws->stream || pend < 2)
        return 0;
    /* A short frame (7-bit length) all in: nothing to wait for, whatever
     * the parser's state (the common small message, without a peek). */
    unsigned len7 = ((const uint8_t *)ws->in.data)[ws->in.off + 1] & 0x7f;
    if (len7 < 126 && pend >= 2 + 4 + (size_t)len7)
        return 0;
    int hl = hz__ws_peek_frame(&ws->parser, (const uint8_t *)ws->in.data + ws->in.off, pend, &plen,
                               &whole);
    if (hl <= 0 || !whole || plen > WS_WHOLE_MAX ||
        (ws->parser.cfg.max_frame && plen > ws->parser.cfg.max_frame) ||
        (ws->parser.cfg.max_message && plen > ws->parser.cfg.max_message))
        return 0;
    size_t total = (size_t)plen + (size_t)hl;
    return total > pend ? total : 0;
}

/* Input to parse now: pending bytes, unless they are the start of a
 * whole frame still coming. */
static int ws_input_ready(const hz_ws *ws)
{
    return hz__buf_pending(&ws->in) && !ws_frame_wait(ws);
}

/* Parses and dispatches what ws->in holds, while the output budget allows
 * (an echo must not outrun a peer that does not read). */
static void ws_parse_input(hz_ws *ws)
{
    while (hz__buf_pending(&ws->in) && atomic_load(&ws->state) == HZ__WS_OPEN) {
        if (ws->close_rcvd) {
            ws->in.off = ws->in.len; /* after the close frame: nothing counts */
            break;
        }
        if (atomic_load(&ws->queued) >= ws->budget)
            break;
        if (ws_frame_wait(ws))
            break; /* the rest of a whole frame: read it first */
        hz__ws_event ev;
        long n = hz__ws_parse(&ws->parser, (uint8_t *)ws->in.data + ws->in.off,
                              hz__buf_pending(&ws->in), &ev);
        if (n < 0) {
            ws_fail(ws, ws->parser.error);
            break;
        }
        ws->in.off += (uint32_t)n;
        if (ev.type == HZ__WS_EV_DATA) {
            if (on_data(ws, &ev) < 0)
                break;
        } else if (ev.type == HZ__WS_EV_CONTROL) {
            on_control(ws, &ev);
        } else {
            break;
        }
    }
    if (ws->in.data && ws->in.off == ws->in.len)
        ws->in.off = ws->in.len = 0;
}

/* Reads once into ws->in. 1 read something, 0 nothing (EAGAIN), < 0
 * closed. */
static int ws_read(hz_ws *ws)
{
    hz__loop *loop = ws->loop;
    /* Room for the rest of a whole frame (read in one go), else a
     * reasonable read; bytes move only when the room is short. */
    size_t want = ws_frame_wait(ws);
    want = want ? want - hz__buf_pending(&ws->in) : WS_READ_ROOM / 4;
    size_t extra = !ws->in.data && want < WS_READ_ROOM + HZ__WS_HEADER_MAX
                       ? WS_READ_ROOM + HZ__WS_HEADER_MAX /* a 16 KiB frame in one read */
                       : want;
    if (ws->in.off && ws->in.cap - ws->in.len < want)
        hz__buf_compact(&ws->in);
    if (ws->in.cap - ws->in.len < want &&
        hz__buf_reserve(&ws->in, &loop->bufs, extra, 2 * (WS_WHOLE_MAX + WS_READ_ROOM)) < 0 &&
        ws->in.cap == ws->in.len) {
        ws_close_transport(ws, 1006);
        return -1;
    }
    long n = ws->sock.tp->recv(&ws->sock, ws->in.data + ws->in.len, ws->in.cap - ws->in.len);
    if (n > 0) {
        ws->rd_turn = 0;
        ws->in.len += (uint32_t)n;
        ws->last_rx = loop->now;
        hz__m_add(&loop->metrics, HZ__MS_BYTES_IN, (uint64_t)n);
        return 1;
    }
    if (n == HZ_EAGAIN)
        return 0;
    /* EOF or error: without a close frame, the end is abnormal (1006). */
    ws->rd_eof = 1;
    if (ws->failed) {
        ws_close_transport(ws, ws->close_code);
        return -1;
    }
    ws->why = (uint8_t)((n == 0 ? HZ_CLOSE_PEER : HZ_CLOSE_ERROR) + 1);
    if (ws->close_sent && ws->close_rcvd)
        ws->why = HZ_CLOSE_NORMAL + 1;
    ws_close_transport(ws, ws->close_rcvd ? ws->close_code : 1006);
    return -1;
}

/* ---- writing --------------------------------------------------------------------- */

/* A completion poller's queue counts in the budget as it stood at the
 * last flush or event (capped at half the budget, so a drain never waits
 * for it alone: the poller reports WRITE while it has room, not when its
 * queue empties). */
static void ws_held_update(hz_ws *ws)
{
    size_t held = hz__sock_held_in(&ws->sock, ws->budget);
    if (HZ__UNLIKELY(held != ws->held)) {
        if (held > ws->held)
            atomic_fetch_add(&ws->queued, held - ws->held);
        else
            budget_put(ws, ws->held - held);
        ws->held = held;
    }
}

/* Writes the queue. 0, or < 0 after closing. */
static int ws_flush(hz_ws *ws)
{
    hz__loop *loop = ws->loop;
    size_t total = 0;
    while (ws->qhead) {
        struct iovec iov[WS_IOV_MAX];
        int n = 0;
        for (hz__ws_chunk *c = ws->qhead; c && n < WS_IOV_MAX - 1; c = c->next) {
            size_t off = c->off;
            if (off < c->hlen) {
                iov[n].iov_base = c->hdr + off;
                iov[n].iov_len = c->hlen - off;
                n++;
                off = 0;
            } else {
                off -= c->hlen;
            }
            if (c->plen > off) {
                iov[n].iov_base = (void *)(c->payload + off);
                iov[n].iov_len = c->plen - off;
                n++;
            }
            if (!n) /* an empty frame with its header written: drop below */
                break;
        }
        /* One piece (a block of packed small frames, the usual echo):
         * send(), which the kernel takes with less work than sendmsg(). */
        long w = n == 1 ? ws->sock.tp->send(&ws->sock, iov[0].iov_base, iov[0].iov_len)
                 : n    ? ws->sock.tp->writev(&ws->sock, iov, n)
                        : 0;
        if (n && (w == HZ_EAGAIN || w == 0)) {
            ws->wblocked = 1;
            break;
        }
        if (w < 0) {
            ws->why = HZ_CLOSE_ERROR + 1;
            ws_close_transport(ws, 1006);
            return -1;
        }
        if (w > 0) {
            ws->last_tx = loop->now;
            hz__m_add(&loop->metrics, HZ__MS_BYTES_OUT, (uint64_t)w);
        }
        size_t left = (size_t)w;
        while (ws->qhead) {
            hz__ws_chunk *c = ws->qhead;
            size_t rest = c->hlen + c->plen - c->off;
            if (left < rest) {
                c->off += left;
                break;
            }
            left -= rest;
            ws->qhead = c->next;
            if (!ws->qhead)
                ws->qtail = NULL;
            budget_put(ws, c->cost);
            chunk_free(ws, c);
        }
        total += (size_t)w;
        if (total >= WS_WRITE_BUDGET) {
            /* A socket is level-triggered: writable again at once. A
             * pipe notifies WRITE only after it refused room, so the
             * WebSocket goes on next iteration by itself. */
            if (HZ__UNLIKELY(ws->pipe))
                hz__loop_queue(loop, &ws->io);
            else
                ws->wblocked = 1;
            break;
        }
    }
    if (ws->sock.want_write && !ws->qhead)
        ws->sock.want_write = 0;
    /* Both close frames are through and ours is written: the server closes
     * the TCP connection first (§7.1.1). */
    if (ws->close_sent && ws->close_rcvd && !ws->qhead) {
        if (!ws->failed) {
            ws_close_transport(ws, ws->close_code);
            return -1;
        }
        /* A peer we failed may still be sending (an oversize message):
         * closing now with its bytes unread would reset the connection
         * and destroy our close frame before it reads it. FIN, then drop
         * its input until it closes or the close timeout (like HTTP/1.1's
         * lingering close). */
        if (!ws->lingering) {
            ws->lingering = 1;
            ws->sock.tp->shutdown(&ws->sock);
        }
    }
    ws_held_update(ws);
    /* Drained to half: on_drain is due, but input has its turn first (the
     * caller's ws_process parses, then calls it): a handler that refills
     * the budget at every drain would otherwise keep reading paused for
     * as long as its client reads fast (ws_wants_read). */
    if (atomic_load(&ws->drain_wanted) && atomic_load(&ws->queued) <= ws->budget / 2 &&
        atomic_exchange(&ws->drain_wanted, 0)) {
        ws->drain_due = 1;
        ws->rd_turn = 1;
    }
    return 0;
}

/* The on_drain a flush found due, once the input had its turn. */
static void ws_drain(hz_ws *ws)
{
    if (!ws->drain_due)
        return;
    ws->drain_due = 0;
    if (ws->cb.on_drain && !ws->close_sent && atomic_load(&ws->state) == HZ__WS_OPEN) {
        ws->depth++;
        ws->cb.on_drain(ws, ws->ud);
        ws->depth--;
    }
}

/* ---- timers ------------------------------------------------------------------------ */

static void ws_update_timer(hz_ws *ws)
{
    hz__loop *loop = ws->loop;
    uint32_t wto = loop->srv->cfg.timeouts.write;
    uint64_t at = 0;
#define WS_MIN_AT(t)                                                                               \
    do {                                                                                           \
        uint64_t t_ = (t);                                                                         \
        if (!at || t_ < at)                                                                        \
            at = t_;                                                                               \
    } while (0)
    if (ws->close_sent)
        WS_MIN_AT(ws->close_deadline);
    if (ws->qhead && ws->wblocked && wto)
        WS_MIN_AT(ws->last_tx + wto);
    if (!ws->close_sent) {
        if (ws->idle_ms)
            WS_MIN_AT(ws->last_rx + ws->idle_ms);
        if (ws->ping_ms) {
            uint64_t base = ws->last_rx > ws->last_ping ? ws->last_rx : ws->last_ping;
            WS_MIN_AT(base + ws->ping_ms);
        }
    }
    /* The idle point: nothing buffered or queued. The transport's drop
     * deadline (TLS; 0 for a socket), checked again by ws_timer_fn's
     * ws_after_io. */
    if (!ws->in.data && !ws->msg.data && !ws->qhead && !ws->wblocked) {
        uint64_t drop = hz__sock_idle(&ws->sock, loop->now);
        if (drop)
            WS_MIN_AT(drop);
    }
#undef WS_MIN_AT
    /* Armed for no later than at: kept. It may fire early (traffic moved
     * last_rx on since); ws_timer_fn checks every deadline against now and
     * arms again. Re-arming for every message cost more than an early
     * call per idle period. */
    if (!at)
        hz__timer_cancel(&loop->wheel, &ws->timer);
    else if (!hz__timer_armed(&ws->timer) || ws->timer.deadline > at)
        hz__timer_arm(&loop->wheel, &ws->timer, at);
}

/* May run before any deadline is due (ws_update_timer keeps an earlier
 * arming): every check compares its own deadline with now. */
static void ws_timer_fn(hz__timer *t)
{
    hz_ws *ws = (hz_ws *)((char *)t - offsetof(hz_ws, timer));
    hz__loop *loop = ws->loop;
    uint64_t now = loop->now;
    uint32_t wto = loop->srv->cfg.timeouts.write;
    if (ws->close_sent && now >= ws->close_deadline) {
        /* The peer never answered our close (or never read it). */
        hz__metrics_timeout(loop, HZ_TIMEOUT_WRITE);
        ws->why = HZ_CLOSE_TIMEOUT + 1;
        ws_close_transport(ws, ws->close_rcvd ? ws->close_code : 1006);
        return;
    }
    if (ws->qhead && ws->wblocked && wto && now >= ws->last_tx + wto) {
        hz__metrics_timeout(loop, HZ_TIMEOUT_WRITE);
        ws->why = HZ_CLOSE_TIMEOUT + 1;
        ws_close_transport(ws, 1006);
        return;
    }
    if (!ws->close_sent && ws->idle_ms && now >= ws->last_rx + ws->idle_ms) {
        ws->why = HZ_CLOSE_TIMEOUT + 1;
        ws_close_own(ws, 1001, "idle timeout");
    } else if (!ws->close_sent && ws->ping_ms) {
        uint64_t base = ws->last_rx > ws->last_ping ? ws->last_rx : ws->last_ping;
        if (now >= base + ws->ping_ms) {
            ws->last_ping = now;
            atomic_fetch_add(&ws->queued, HZ__WS_HEADER_MAX);
            hz__ws_chunk *c = chunk_new(ws, HZ__WS_OP_PING, NULL, 0, 0);
            if (c)
                send_loop(ws, c);
            else
                budget_put(ws, HZ__WS_HEADER_MAX);
        }
    }
    ws_after_io(ws);
}

/* ---- the loop's calls -------------------------------------------------------------- */

/* Input is read while the output is under budget (a peer that does not
 * read cannot make us buffer what it sends), and once after each drain
 * even over it (rd_turn: a producer that refills at every on_drain keeps
 * the budget full, yet a peer that reads must still be heard: its close,
 * a "stop"). That one read waits for the parse of what is already in. */
static int ws_wants_read(const hz_ws *ws)
{
    if (ws->lingering)
        return !ws->rd_eof;
    if (ws->rd_eof || ws->close_rcvd)
        return 0;
    return atomic_load(&ws->queued) < ws->budget || (ws->rd_turn && !ws_input_ready(ws));
}

static void ws_after_io(hz_ws *ws)
{
    hz__loop *loop = ws->loop;
    if (atomic_load(&ws->state) != HZ__WS_OPEN)
        return;
    if (ws->wbroken) { /* a direct write failed, or could not keep its rest */
        ws->why = HZ_CLOSE_ERROR + 1;
        ws_close_transport(ws, 1006);
        return;
    }
    if ((ws->qhead || (ws->close_sent && ws->close_rcvd)) && !ws->wblocked && ws_flush(ws) < 0)
        return;
    if (ws->drain_due) /* after the input's turn: ws_process, next on the loop */
        hz__loop_queue(loop, &ws->io);
    if (HZ__UNLIKELY(ws->held))
        ws_held_update(ws);
    unsigned want = (ws_wants_read(ws) ? HZ_EV_READ : 0) |
                    (ws->wblocked || ws->sock.want_write ? HZ_EV_WRITE : 0);
    if (want != ws->interest) {
        if (ws->registered && loop->pv->modify(loop->poller, ws->sock.fd, want, &ws->io) < 0) {
            ws_close_transport(ws, 1006);
            return;
        }
        ws->interest = want;
    }
    /* An idle connection holds no buffers (and the transport drops its
     * own some time later: ws_update_timer is the idle point). */
    if (ws->in.data && !hz__buf_pending(&ws->in))
        hz__buf_release(&ws->in, &loop->bufs);
    if (ws->msg.data && !hz__buf_pending(&ws->msg) && !ws->parser.msg_op)
        hz__buf_release(&ws->msg, &loop->bufs);
    ws_update_timer(ws);
    /* TLS may hold decrypted bytes the poller cannot announce; input left
     * in the buffer (paused by the budget) resumes once output drained. */
    if (ws_wants_read(ws) &&
        (ws_input_ready(ws) || (ws->sock.tp->has_input && ws->sock.tp->has_input(&ws->sock))))
        hz__loop_queue(loop, &ws->io);
}

static void ws_process(hz_ws *ws)
{
    if (ws->in_process || atomic_load(&ws->state) != HZ__WS_OPEN)
        return;
    ws->in_process = 1;
    ws->depth++;
    ws_parse_input(ws);
    if (atomic_load(&ws->state) == HZ__WS_OPEN && ws_wants_read(ws) && !ws_input_ready(ws) &&
        ws->sock.tp->has_input && ws->sock.tp->has_input(&ws->sock) && ws_read(ws) > 0)
        ws_parse_input(ws);
    ws_drain(ws);
    ws->depth--;
    ws->in_process = 0;
    if (atomic_load(&ws->state) == HZ__WS_OPEN)
        ws_after_io(ws);
}

static void ws_io_event(hz__io *io, unsigned events)
{
    hz_ws *ws = (hz_ws *)io;
    if (atomic_load(&ws->state) != HZ__WS_OPEN)
        return;
    ws->turn_out = 0;
    if (events & HZ_EV_WRITE) {
        ws->wblocked = 0;
        ws->sock.want_write = 0;
        if (ws_flush(ws) < 0)
            return;
    }
    if ((events & (HZ_EV_READ | HZ_EV_ERR | HZ_EV_HUP)) && ws_wants_read(ws)) {
        if (ws_read(ws) < 0)
            return;
    } else if ((events & (HZ_EV_ERR | HZ_EV_HUP)) && !(ws->interest & HZ_EV_READ)) {
        ws->why = HZ_CLOSE_ERROR + 1;
        ws_close_transport(ws, 1006);
        return;
    }
    ws_process(ws);
}

static void ws_io_ready(hz__io *io)
{
    hz_ws *ws = (hz_ws *)io;
    if (atomic_load(&ws->state) != HZ__WS_OPEN)
        return;
    ws->turn_out = 0;
    if (!ws_input_ready(ws) && ws_wants_read(ws) && ws->sock.tp->has_input &&
        ws->sock.tp->has_input(&ws->sock) && ws_read(ws) < 0)
        return;
    ws_process(ws);
}

static void ws_io_stop(hz__io *io)
{
    hz_ws *ws = (hz_ws *)io;
    if (atomic_load(&ws->state) != HZ__WS_OPEN)
        return;
    ws->why = HZ_CLOSE_SHUTDOWN + 1;
    ws_close_own(ws, 1001, "server stopping");
    ws_after_io(ws);
}

static void ws_io_close(hz__io *io)
{
    hz_ws *ws = (hz_ws *)io;
    if (!ws->why)
        ws->why = HZ_CLOSE_SHUTDOWN + 1;
    ws_close_transport(ws, ws->close_rcvd ? ws->close_code : 1006);
}

static int ws_io_busy(const hz__io *io)
{
    return ((const hz_ws *)io)->depth != 0;
}

static void ws_io_free(hz__io *io)
{
    hz_ws_release((hz_ws *)io); /* the loop's reference */
}

static const hz__io_vt ws_io_vt = {
    .on_event = ws_io_event,
    .on_ready = ws_io_ready,
    .on_stop = ws_io_stop,
    .close = ws_io_close,
    .busy = ws_io_busy,
    .free = ws_io_free,
};
