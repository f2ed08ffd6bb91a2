/* h1body.c - HTTP/1.1 request bodies: consumption into the buffer, to a
 * streaming handler or discarded, with Content-Length or chunked framing
 * (the hz_req_on_body / hz_req_resume slots of hz__h1_res_ops). */
#include <string.h>
#include "conn.h"

int hz__req_on_body(hz_req *req, hz_body_chunk_fn on_chunk, hz_body_end_fn on_end, void *ud)
{
    hz__conn *c = req->conn;
    /* Buffered routes consumed their body before the handler ran. */
    if (HZ__H1(req)->body_wanted || HZ__H1(req)->phase == HZ__PH_BODY || !req->rec ||
        !(req->rec->flags & HZ_ROUTE_STREAM_BODY))
        return HZ_ESTATE;
    HZ__H1(req)->on_chunk = on_chunk;
    HZ__H1(req)->on_end = on_end;
    HZ__H1(req)->body_ud = ud;
    HZ__H1(req)->body_wanted = 1;
    req->sink = HZ__SINK_STREAM;
    if (HZ__H1(req)->phase == HZ__PH_WAIT_BODY) {
        HZ__H1(req)->phase = HZ__PH_BODY;
        HZ__H1(req)->body_first = HZ__H1(req)->body_last = c->loop->now;
        hz__res_continue(req);
        hz__loop_ready(c->loop, c);
    } else {
        /* No body at all: the end is reported from the loop, not from
         * inside this call. */
        HZ__H1(req)->phase = HZ__PH_BODY;
        hz__loop_ready(c->loop, c);
    }
    return 0;
}

int hz__req_resume_body(hz_req *req)
{
    hz__conn *c = req->conn;
    if (!HZ__H1(req)->paused)
        return 0;
    HZ__H1(req)->paused = 0;
    HZ__H1(req)->body_last = c->loop->now;
    hz__loop_ready(c->loop, c);
    return 0;
}

/* ---- body pump ---------------------------------------------------------------- */

/* Drops consumed raw bytes so the unread rest follows the kept bytes: the
 * buffered body, or a chunk the handler refused (moved to body_start). In
 * place: the buffer never moves here. */
static void body_compact(hz__conn *c, hz_req *ex)
{
    char *b = c->in.data + HZ__H1(ex)->base;
    uint32_t keep = ex->body_start + (ex->sink == HZ__SINK_BUFFER ? ex->body_len : 0);
    if (HZ__H1(ex)->pend_len) {
        if (HZ__H1(ex)->pend_off != ex->body_start)
            memmove(b + ex->body_start, b + HZ__H1(ex)->pend_off, HZ__H1(ex)->pend_len);
        HZ__H1(ex)->pend_off = ex->body_start;
        keep = ex->body_start + HZ__H1(ex)->pend_len;
    }
    if (HZ__H1(ex)->body_rd == keep)
        return;
    uint32_t end = c->in.len - HZ__H1(ex)->base;
    memmove(b + keep, b + HZ__H1(ex)->body_rd, end - HZ__H1(ex)->body_rd);
    c->in.len -= HZ__H1(ex)->body_rd - keep;
    HZ__H1(ex)->body_rd = keep;
}

/* Hands one span of body bytes to the sink. 0 to go on, < 0 to stop. */
static int body_deliver(hz__conn *c, hz_req *ex, const char *data, size_t len)
{
    hz_server *srv = c->loop->srv;
    HZ__H1(ex)->body_total += len;
    switch (ex->sink) {
    case HZ__SINK_BUFFER:
        if (HZ__H1(ex)->body_limit && HZ__H1(ex)->body_total > HZ__H1(ex)->body_limit) {
            hz__res_error(c, 413);
            return -1;
        }
        memmove(c->in.data + HZ__H1(ex)->base + ex->body_start + ex->body_len, data, len);
        ex->body_len += (uint32_t)len;
        return 0;
    case HZ__SINK_DISCARD:
        if (len > HZ__H1(ex)->discard_left) {
            /* Too much to drain: give up on this connection after the
             * response. */
            HZ__H1(ex)->discard_left = 0;
            HZ__H1(ex)->keep_alive = 0;
            c->close_after = 1;
            HZ__H1(ex)->phase = HZ__PH_DONE;
            HZ__H1(ex)->body_rd = c->in.len - HZ__H1(ex)->base;
            return -1;
        }
        HZ__H1(ex)->discard_left -= len;
        return 0;
    case HZ__SINK_STREAM:
    default: {
        if (HZ__H1(ex)->body_limit && HZ__H1(ex)->body_total > HZ__H1(ex)->body_limit) {
            hz__res_error(c, 413);
            return -1;
        }
        (void)srv;
        c->refs++;
        int rc = HZ__H1(ex)->on_chunk(ex, data, len, HZ__H1(ex)->body_ud);
        c->refs--;
        if (c->closing)
            return -1;
        if (rc == HZ_EAGAIN) {
            /* Not taken: offered again after hz_req_resume. */
            HZ__H1(ex)->paused = 1;
            HZ__H1(ex)->pend_off = (uint32_t)(data - (c->in.data + HZ__H1(ex)->base));
            HZ__H1(ex)->pend_len = (uint32_t)len;
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
    HZ__H1(ex)->phase = HZ__PH_DONE;
    if (ex->sink == HZ__SINK_STREAM && !HZ__H1(ex)->end_called) {
        HZ__H1(ex)->end_called = 1;
        c->refs++;
        HZ__H1(ex)->on_end(ex, 0, HZ__H1(ex)->body_ud);
        c->refs--;
        if (c->closing)
            return -1;
    }
    return 1;
}

int hz__req_pump_body(hz__conn *c, hz_req *ex)
{
    for (;;) {
        if (c->closing || HZ__H1(ex)->phase != HZ__PH_BODY)
            return -1;
        if (ex->sink == HZ__SINK_STREAM && HZ__H1(ex)->paused) {
            body_compact(c, ex);
            return 0;
        }
        char *b = c->in.data + HZ__H1(ex)->base;
        if (HZ__H1(ex)->pend_len) {
            /* The refused chunk first (body_compact put it at body_start). */
            uint32_t off = HZ__H1(ex)->pend_off, n = HZ__H1(ex)->pend_len;
            HZ__H1(ex)->pend_len = 0;
            HZ__H1(ex)->body_total -= n;
            if (body_deliver(c, ex, b + off, n) < 0)
                return -1;
            continue;
        }
        uint32_t end = c->in.data ? c->in.len - HZ__H1(ex)->base : HZ__H1(ex)->body_rd;
        if (ex->head.body_kind == HZ__BODY_LENGTH) {
            if (!HZ__H1(ex)->cl_left)
                return body_done(c, ex);
            size_t avail = end - HZ__H1(ex)->body_rd;
            if (!avail) {
                body_compact(c, ex);
                return 0;
            }
            size_t n = avail < HZ__H1(ex)->cl_left ? avail : (size_t)HZ__H1(ex)->cl_left;
            uint32_t at = HZ__H1(ex)->body_rd;
            HZ__H1(ex)->body_rd += (uint32_t)n;
            HZ__H1(ex)->cl_left -= n;
            if (body_deliver(c, ex, b + at, n) < 0)
                return -1;
            continue;
        }
        if (ex->head.body_kind != HZ__BODY_CHUNKED)
            return body_done(c, ex);
        size_t consumed = 0;
        const char *data = NULL;
        size_t dlen = 0;
        int rc = hz__chunked_decode(&HZ__H1(ex)->chunked, b + HZ__H1(ex)->body_rd,
                                    end - HZ__H1(ex)->body_rd, &consumed, &data, &dlen);
        HZ__H1(ex)->body_rd += (uint32_t)consumed;
        if (rc == HZ__CHUNK_DATA) {
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
        int st = hz__perr_status(HZ__H1(ex)->chunked.error);
        hz__metrics_parse_error(c, HZ__H1(ex)->chunked.error);
        /* hz__res_error closes after the queued responses when this one
         * is complete (an unread body being discarded), at once mid-stream. */
        hz__res_error(c, st ? st : 400);
        return -1;
    }
}
