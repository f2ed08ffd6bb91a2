/* h1body.c - HTTP/1.1 request bodies: consumption into the buffer, to a
 * streaming handler or discarded, with Content-Length or chunked framing
 * (the hz_req_on_body / hz_req_resume slots of hz__h1_res_ops). */
#include <string.h>
#include "conn.h"

int hz__req_on_body(hz_req *req, hz_body_chunk_fn on_chunk, hz_body_end_fn on_end, void *ud)
{
    hz__conn *c = req->conn;
    /* Buffered routes consumed their body before the handler ran. */
    if (req->body_wanted || req->phase == HZ_PH_BODY || !req->rec ||
        !(req->rec->flags & HZ_ROUTE_STREAM_BODY))
        return HZ_ESTATE;
    req->on_chunk = on_chunk;
    req->on_end = on_end;
    req->body_ud = ud;
    req->body_wanted = 1;
    req->sink = HZ_SINK_STREAM;
    if (req->phase == HZ_PH_WAIT_BODY) {
        req->phase = HZ_PH_BODY;
        req->body_first = req->body_last = c->loop->now;
        hz__res_continue(req);
        hz__loop_ready(c->loop, c);
    } else {
        /* No body at all: the end is reported from the loop, not from
         * inside this call. */
        req->phase = HZ_PH_BODY;
        hz__loop_ready(c->loop, c);
    }
    return 0;
}

int hz__req_resume_body(hz_req *req)
{
    hz__conn *c = req->conn;
    if (!req->paused)
        return 0;
    req->paused = 0;
    req->body_last = c->loop->now;
    hz__loop_ready(c->loop, c);
    return 0;
}

/* ---- body pump ---------------------------------------------------------------- */

/* Drops consumed raw bytes so the unread rest follows the kept bytes: the
 * buffered body, or a chunk the handler refused (moved to body_start). In
 * place: the buffer never moves here. */
static void body_compact(hz__conn *c, hz_req *ex)
{
    char *b = c->in.data + ex->base;
    uint32_t keep = ex->body_start + (ex->sink == HZ_SINK_BUFFER ? ex->body_len : 0);
    if (ex->pend_len) {
        if (ex->pend_off != ex->body_start)
            memmove(b + ex->body_start, b + ex->pend_off, ex->pend_len);
        ex->pend_off = ex->body_start;
        keep = ex->body_start + ex->pend_len;
    }
    if (ex->body_rd == keep)
        return;
    uint32_t end = c->in.len - ex->base;
    memmove(b + keep, b + ex->body_rd, end - ex->body_rd);
    c->in.len -= ex->body_rd - keep;
    ex->body_rd = keep;
}

/* Hands one span of body bytes to the sink. 0 to go on, < 0 to stop. */
static int body_deliver(hz__conn *c, hz_req *ex, const char *data, size_t len)
{
    hz_server *srv = c->loop->srv;
    ex->body_total += len;
    switch (ex->sink) {
    case HZ_SINK_BUFFER:
        if (ex->body_limit && ex->body_total > ex->body_limit) {
            hz__res_error(c, 413);
            return -1;
        }
        memmove(c->in.data + ex->base + ex->body_start + ex->body_len, data, len);
        ex->body_len += (uint32_t)len;
        return 0;
    case HZ_SINK_DISCARD:
        if (len > ex->discard_left) {
            /* Too much to drain: give up on this connection after the
             * response. */
            ex->discard_left = 0;
            ex->keep_alive = 0;
            c->close_after = 1;
            ex->phase = HZ_PH_DONE;
            ex->body_rd = c->in.len - ex->base;
            return -1;
        }
        ex->discard_left -= len;
        return 0;
    case HZ_SINK_STREAM:
    default: {
        if (ex->body_limit && ex->body_total > ex->body_limit) {
            hz__res_error(c, 413);
            return -1;
        }
        (void)srv;
        c->refs++;
        int rc = ex->on_chunk(ex, data, len, ex->body_ud);
        c->refs--;
        if (c->closing)
            return -1;
        if (rc == HZ_EAGAIN) {
            /* Not taken: offered again after hz_req_resume. */
            ex->paused = 1;
            ex->pend_off = (uint32_t)(data - (c->in.data + ex->base));
            ex->pend_len = (uint32_t)len;
        } else if (rc < 0) {
            hz__res_error(c, 500);
            return -1;
        }
        return 0;
    }
    }
}

static int body_done(hz__conn *c, hz_req *ex)
{
    body_compact(c, ex);
    ex->phase = HZ_PH_DONE;
    if (ex->sink == HZ_SINK_STREAM && !ex->end_called) {
        ex->end_called = 1;
        c->refs++;
        ex->on_end(ex, 0, ex->body_ud);
        c->refs--;
        if (c->closing)
            return -1;
    }
    return 1;
}

int hz__req_pump_body(hz__conn *c, hz_req *ex)
{
    for (;;) {
        if (c->closing || ex->phase != HZ_PH_BODY)
            return -1;
        if (ex->sink == HZ_SINK_STREAM && ex->paused) {
            body_compact(c, ex);
            return 0;
        }
        char *b = c->in.data + ex->base;
        if (ex->pend_len) {
            /* The refused chunk first (body_compact put it at body_start). */
            uint32_t off = ex->pend_off, n = ex->pend_len;
            ex->pend_len = 0;
            ex->body_total -= n;
            if (body_deliver(c, ex, b + off, n) < 0)
                return -1;
            continue;
        }
        uint32_t end = c->in.data ? c->in.len - ex->base : ex->body_rd;
        if (ex->head.body_kind == HZ_BODY_LENGTH) {
            if (!ex->cl_left)
                return body_done(c, ex);
            size_t avail = end - ex->body_rd;
            if (!avail) {
                body_compact(c, ex);
                return 0;
            }
            size_t n = avail < ex->cl_left ? avail : (size_t)ex->cl_left;
            uint32_t at = ex->body_rd;
            ex->body_rd += (uint32_t)n;
            ex->cl_left -= n;
            if (body_deliver(c, ex, b + at, n) < 0)
                return -1;
            continue;
        }
        if (ex->head.body_kind != HZ_BODY_CHUNKED)
            return body_done(c, ex);
        size_t consumed = 0;
        const char *data = NULL;
        size_t dlen = 0;
        int rc = hz__chunked_decode(&ex->chunked, b + ex->body_rd, end - ex->body_rd, &consumed,
                                    &data, &dlen);
        ex->body_rd += (uint32_t)consumed;
        if (rc == HZ_CHUNK_DATA) {
            if (body_deliver(c, ex, data, dlen) < 0)
                return -1;
            continue;
        }
        if (rc == 0)
            return body_done(c, ex);
        if (rc == HZ_EAGAIN) {
            body_compact(c, ex);
            return 0;
        }
        int st = hz__perr_status(ex->chunked.error);
        hz__metrics_parse_error(c, ex->chunked.error);
        /* hz__res_error closes after the queued responses when this one
         * is complete (an unread body being discarded), at once mid-stream. */
        hz__res_error(c, st ? st : 400);
        return -1;
    }
}
