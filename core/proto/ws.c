/* ws.c - WebSocket frames (RFC 6455 §5): the incremental parser, masking,
 * the header and close-payload writers. Contract in ws.h. */
#include <string.h>
#include "ws.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#endif

/* ------------------------------------------------------------------------ */
/* Error kinds                                                               */
/* ------------------------------------------------------------------------ */

static const uint16_t err_code[] = {
#define X(name, code, msg) code,
    HZ__WS_ERRORS(X)
#undef X
};
static const char *const err_name[] = {
#define X(name, code, msg) #name,
    HZ__WS_ERRORS(X)
#undef X
};
static const char *const err_text[] = {
#define X(name, code, msg) msg,
    HZ__WS_ERRORS(X)
#undef X
};

unsigned hz__ws_err_close_code(hz__ws_err e)
{
    return (unsigned)e < HZ__WS_E_COUNT ? err_code[e] : 1002;
}

const char *hz__ws_err_name(hz__ws_err e)
{
    return (unsigned)e < HZ__WS_E_COUNT ? err_name[e] : "UNKNOWN";
}

const char *hz__ws_err_text(hz__ws_err e)
{
    return (unsigned)e < HZ__WS_E_COUNT ? err_text[e] : "unknown WebSocket error";
}

int hz__ws_close_code_valid(unsigned code)
{
    /* §7.4.1 defines 1000-1011 (1004-1006 not for the wire) and 1015 (not
     * for the wire); §7.4.2: 3000-3999 registered, 4000-4999 private. */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

/* ------------------------------------------------------------------------ */
/* Masking                                                                   */
/* ------------------------------------------------------------------------ */

void hz__ws_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4],
                 uint64_t offset)
{
    /* The key rotated so that k[0] applies to src[0], twice over: the
     * key's 4 bytes written twice, read from offset & 3. */
    uint8_t k2[8], k[8];
    memcpy(k2, key, 4);
    memcpy(k2 + 4, key, 4);
    memcpy(k, k2 + (offset & 3), 4);
    memcpy(k + 4, k, 4);
    size_t i = 0;
    if (len >= 8) {
        uint64_t kw;
        memcpy(&kw, k, 8);
        /* 32 bytes a step where the target has 16-byte vectors (SSE2 is
         * x86-64's baseline): the payload of a big message is most of a
         * WebSocket server's own work. */
#if defined(__SSE2__)
        __m128i kv = _mm_set1_epi64x((long long)kw);
        for (; len - i >= 32; i += 32) {
            __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 16));
            _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm_xor_si128(a, kv));
            _mm_storeu_si128((__m128i *)(void *)(dst + i + 16), _mm_xor_si128(b, kv));
        }
#elif defined(__ARM_NEON) && defined(__aarch64__)
        uint8x16_t kv = vreinterpretq_u8_u64(vdupq_n_u64(kw));
        for (; len - i >= 32; i += 32) {
            vst1q_u8(dst + i, veorq_u8(vld1q_u8(src + i), kv));
            vst1q_u8(dst + i + 16, veorq_u8(vld1q_u8(src + i + 16), kv));
        }
#endif
        for (; len - i >= 8; i += 8) {
            uint64_t w;
            memcpy(&w, src + i, 8);
            w ^= kw;
            memcpy(dst + i, &w, 8);
        }
    }
    for (; i < len; i++)
        dst[i] = src[i] ^ k[i & 7];
}

/* ------------------------------------------------------------------------ */
/* Parser                                                                    */
/* ------------------------------------------------------------------------ */

enum {
    ST_HEADER = 0, /* collecting a frame header */
    ST_PAYLOAD,    /* a data frame's payload */
    ST_CONTROL,    /* a control frame's payload, into p->ctrl */
    ST_CLOSED,     /* after a close frame */
    ST_FAILED,     /* after an error: every call fails */
};

static int is_control(unsigned op)
{
    return op & 0x8;
}

void hz__ws_parser_init(hz__ws_parser *p, const hz__ws_parser_cfg *cfg)
{
    memset(p, 0, sizeof(*p));
    p->cfg = *cfg;
    p->state = ST_HEADER;
    hz__utf8_init(&p->utf8);
}

static long fail(hz__ws_parser *p, hz__ws_err e)
{
    p->error = e;
    p->state = ST_FAILED;
    return HZ_EPROTO;
}

/* Byte 0: FIN, RSV1-3, opcode (§5.2). */
static hz__ws_err check_byte0(const hz__ws_parser *p, uint8_t b)
{
    unsigned op = b & 0x0f, fin = b >> 7;
    if ((op >= 0x3 && op <= 0x7) || op >= 0xb)
        return HZ__WS_E_OPCODE;
    if (b & 0x30)
        return HZ__WS_E_RSV; /* RSV2, RSV3: no extension of ours uses them */
    if (b & 0x40) {
        /* RFC 7692 §6: RSV1 marks a compressed message, on its first frame */
        if (!p->cfg.rsv1_compressed)
            return HZ__WS_E_RSV;
        if (is_control(op))
            return HZ__WS_E_RSV1_CONTROL;
        if (op == HZ__WS_OP_CONT)
            return HZ__WS_E_RSV1_CONTINUATION;
    }
    if (is_control(op)) {
        if (!fin)
            return HZ__WS_E_CONTROL_FRAGMENTED; /* §5.5 */
    } else if (op == HZ__WS_OP_CONT) {
        if (!p->msg_op)
            return HZ__WS_E_CONTINUATION_UNEXPECTED; /* §5.4 */
    } else if (p->msg_op) {
        return HZ__WS_E_MESSAGE_UNFINISHED; /* §5.4: fragments are not interleaved */
    }
    return HZ__WS_E_NONE;
}

/* The payload length is known: limits for data frames. */
static hz__ws_err check_length(const hz__ws_parser *p, uint64_t len)
{
    if (is_control(p->hdr[0] & 0x0f))
        return HZ__WS_E_NONE; /* <= 125, checked at byte 1 */
    if (p->cfg.max_frame && len > p->cfg.max_frame)
        return HZ__WS_E_FRAME_TOO_BIG;
    uint64_t sofar = (p->hdr[0] & 0x0f) == HZ__WS_OP_CONT ? p->msg_len : 0;
    if (p->cfg.max_message && len > p->cfg.max_message - sofar)
        return HZ__WS_E_MESSAGE_TOO_BIG;
    return HZ__WS_E_NONE;
}

/* A frame header's length from its byte 1: 2, the extended length, the
 * masking key. */
static size_t header_size(uint8_t b1)
{
    unsigned len7 = b1 & 0x7f;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

/* Takes header byte b; returns an error kind, NONE to go on. Sets
 * p->hdr_need once byte 1 is in. */
static hz__ws_err header_byte(hz__ws_parser *p, uint8_t b)
{
    unsigned n = p->hdr_len;
    p->hdr[p->hdr_len++] = b;
    if (n == 0) {
        if (p->state == ST_CLOSED)
            return HZ__WS_E_AFTER_CLOSE;
        return check_byte0(p, b);
    }
    if (n == 1) {
        unsigned masked = b >> 7, len7 = b & 0x7f;
        if (p->cfg.role == HZ__WS_SERVER && !masked)
            return HZ__WS_E_UNMASKED; /* §5.1 */
        if (p->cfg.role == HZ__WS_CLIENT && masked)
            return HZ__WS_E_MASKED;
        if (is_control(p->hdr[0] & 0x0f) && len7 > HZ__WS_CONTROL_MAX)
            return HZ__WS_E_CONTROL_TOO_LONG; /* §5.5 */
        p->hdr_need = (uint8_t)header_size(b);
        if (len7 < 126)
            return check_length(p, len7);
        return HZ__WS_E_NONE;
    }
    unsigned len7 = p->hdr[1] & 0x7f;
    if ((len7 == 126 && n == 3) || (len7 == 127 && n == 9)) {
        uint64_t len = 0;
        for (unsigned k = 2; k <= n; k++)
            len = len << 8 | p->hdr[k];
        /* §5.2: "the most significant bit MUST be 0", and "the minimal
         * number of bytes MUST be used to encode the length" */
        if (len7 == 127 && (len >> 63))
            return HZ__WS_E_LENGTH_MSB;
        if ((len7 == 126 && len < 126) || (len7 == 127 && len <= 0xffff))
            return HZ__WS_E_LENGTH_NOT_MINIMAL;
        return check_length(p, len);
    }
    return HZ__WS_E_NONE;
}

/* The header is complete: set up the frame. */
static void frame_begin(hz__ws_parser *p)
{
    const uint8_t *h = p->hdr;
    unsigned len7 = h[1] & 0x7f, at = 2;
    uint64_t len = len7;
    if (len7 >= 126) {
        unsigned bytes = len7 == 126 ? 2 : 8;
        len = 0;
        for (unsigned k = 0; k < bytes; k++)
            len = len << 8 | h[at + k];
        at += bytes;
    }
    p->fin = h[0] >> 7;
    p->opcode = h[0] & 0x0f;
    p->masked = h[1] >> 7;
    if (p->masked)
        memcpy(p->mask, h + at, 4);
    p->frame_len = len;
    p->frame_done = 0;
    p->hdr_len = 0;
    p->hdr_need = 0;
    if (is_control(p->opcode)) {
        p->state = ST_CONTROL;
        return;
    }
    if (p->opcode != HZ__WS_OP_CONT) {
        p->msg_op = p->opcode;
        p->msg_compressed = (h[0] >> 6) & 1;
        p->msg_first = 1;
        p->msg_len = 0;
        hz__utf8_init(&p->utf8);
    }
    p->msg_len += len;
    p->state = ST_PAYLOAD;
}

/* A whole control frame is in p->ctrl. */
static long control_end(hz__ws_parser *p, hz__ws_event *ev)
{
    size_t n = (size_t)p->frame_len;
    ev->type = HZ__WS_EV_CONTROL;
    ev->opcode = p->opcode;
    ev->data = p->ctrl;
    ev->len = n;
    if (p->opcode == HZ__WS_OP_CLOSE) {
        /* §5.5.1: empty, or a 2-byte code and a UTF-8 reason */
        if (n == 1)
            return fail(p, HZ__WS_E_CLOSE_LENGTH);
        if (n >= 2) {
            ev->close_code = (unsigned)p->ctrl[0] << 8 | p->ctrl[1];
            if (!hz__ws_close_code_valid(ev->close_code))
                return fail(p, HZ__WS_E_CLOSE_CODE);
            if (!hz__utf8_valid(p->ctrl + 2, n - 2))
                return fail(p, HZ__WS_E_CLOSE_REASON_UTF8);
            ev->reason = p->ctrl + 2;
            ev->reason_len = n - 2;
        }
        p->state = ST_CLOSED;
    } else {
        p->state = ST_HEADER;
    }
    return 0;
}

static long parse(hz__ws_parser *p, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                  hz__ws_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    size_t i = 0;
    if (p->state == ST_FAILED)
        return HZ_EPROTO;
    /* The usual frame, all in the input: a server reading a small masked
     * TEXT or BINARY message in one frame (FIN, no RSV bit), no message
     * open, within the limits. Handed out in one step, leaving the parser
     * as the general path would (between frames, no message); any other
     * frame, or one not all in, takes the general path below. */
    if (!out && len >= 6 && p->state == ST_HEADER && !p->hdr_len && !p->msg_op &&
        (in[0] == 0x81 || in[0] == 0x82) && (in[1] & 0x80) && (in[1] & 0x7f) < 126 &&
        p->cfg.role == HZ__WS_SERVER) {
        size_t n = in[1] & 0x7f;
        if (len - 6 >= n && (!p->cfg.max_frame || n <= p->cfg.max_frame) &&
            (!p->cfg.max_message || n <= p->cfg.max_message)) {
            uint8_t *dst = (uint8_t *)(uintptr_t)(in + 6);
            hz__ws_mask(dst, dst, n, in + 2, 0);
            if (in[0] == 0x81 && !hz__utf8_valid(dst, n))
                return fail(p, HZ__WS_E_UTF8); /* §8.1 */
            ev->type = HZ__WS_EV_DATA;
            ev->opcode = in[0] & 0x0f;
            ev->first = ev->frame_end = ev->msg_end = 1;
            ev->data = dst;
            ev->len = n;
            return (long)(6 + n);
        }
    }
    while (i < len) {
        if (p->state == ST_HEADER || p->state == ST_CLOSED) {
            size_t hl = p->hdr_len == 0 && len - i >= 2 ? header_size(in[i + 1]) : 0;
            if (hl && len - i >= hl) {
                /* The whole header is in the input (the usual case): the
                 * bytes that carry a check (0, 1, the extended length) go
                 * through header_byte as one by one, the masking key,
                 * which has none, is copied. Same verdicts, fewer steps. */
                int masked = in[i + 1] >> 7;
                size_t checked = hl - (masked ? 4 : 0);
                for (size_t k = 0; k < checked; k++) {
                    hz__ws_err e = header_byte(p, in[i + k]);
                    if (e != HZ__WS_E_NONE)
                        return fail(p, e);
                }
                if (masked)
                    memcpy(p->hdr + checked, in + i + checked, 4);
                p->hdr_len = (uint8_t)hl;
                i += hl;
            } else {
                hz__ws_err e = header_byte(p, in[i++]);
                if (e != HZ__WS_E_NONE)
                    return fail(p, e);
                if (p->hdr_len < 2 || p->hdr_len < p->hdr_need)
                    continue;
            }
            frame_begin(p);
            if (p->frame_len)
                continue;
            /* An empty frame is an event of its own right away. */
            if (p->state == ST_CONTROL) {
                long rc = control_end(p, ev);
                return rc < 0 ? rc : (long)i;
            }
        } else if (p->state == ST_CONTROL) {
            size_t n = len - i;
            if (n > p->frame_len - p->frame_done)
                n = (size_t)(p->frame_len - p->frame_done);
            uint8_t *dst = p->ctrl + p->frame_done;
            if (p->masked)
                hz__ws_mask(dst, in + i, n, p->mask, p->frame_done);
            else
                memcpy(dst, in + i, n);
            p->frame_done += n;
            i += n;
            if (p->frame_done < p->frame_len)
                continue;
            long rc = control_end(p, ev);
            return rc < 0 ? rc : (long)i;
        }
        /* ST_PAYLOAD (also an empty data frame just begun) */
        size_t n = len - i;
        if (n > p->frame_len - p->frame_done)
            n = (size_t)(p->frame_len - p->frame_done);
        uint8_t *dst;
        if (out) {
            if (n > cap)
                n = cap;
            dst = out;
            if (p->masked)
                hz__ws_mask(dst, in + i, n, p->mask, p->frame_done);
            else
                memcpy(dst, in + i, n);
        } else {
            /* hz__ws_parse passed a writable buffer as in */
            dst = (uint8_t *)(uintptr_t)(in + i);
            if (p->masked)
                hz__ws_mask(dst, dst, n, p->mask, p->frame_done);
        }
        p->frame_done += n;
        i += n;
        int frame_end = p->frame_done == p->frame_len;
        int msg_end = frame_end && p->fin;
        if (p->msg_op == HZ__WS_OP_TEXT && !p->msg_compressed) {
            /* §8.1: fail as soon as a byte cannot be UTF-8 */
            if (hz__utf8_feed(&p->utf8, dst, n) != n)
                return fail(p, HZ__WS_E_UTF8);
            if (msg_end && !hz__utf8_complete(&p->utf8))
                return fail(p, HZ__WS_E_UTF8);
        }
        ev->type = HZ__WS_EV_DATA;
        ev->opcode = p->msg_op;
        ev->compressed = p->msg_compressed;
        ev->first = p->msg_first;
        ev->frame_end = (uint8_t)frame_end;
        ev->msg_end = (uint8_t)msg_end;
        ev->data = dst;
        ev->len = n;
        p->msg_first = 0;
        if (frame_end) {
            p->state = ST_HEADER;
            if (msg_end) {
                p->msg_op = 0;
                p->msg_compressed = 0;
                p->msg_len = 0;
            }
        }
        return (long)i;
    }
    return (long)i;
}

long hz__ws_parse(hz__ws_parser *p, uint8_t *buf, size_t len, hz__ws_event *ev)
{
    return parse(p, buf, len, NULL, 0, ev);
}

long hz__ws_parse_copy(hz__ws_parser *p, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                       hz__ws_event *ev)
{
    if (!out || !cap) {
        memset(ev, 0, sizeof(*ev));
        return HZ_EINVAL;
    }
    return parse(p, in, len, out, cap, ev);
}

int hz__ws_peek_frame(const hz__ws_parser *p, const uint8_t *buf, size_t len, uint64_t *plen,
                      int *whole)
{
    if (p->state != ST_HEADER || p->hdr_len || len < 2)
        return 0;
    unsigned len7 = buf[1] & 0x7f;
    unsigned ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    unsigned hl = 2 + ext + (buf[1] & 0x80 ? 4 : 0);
    if (len < hl)
        return 0;
    uint64_t n = len7;
    if (ext) {
        n = 0;
        for (unsigned k = 0; k < ext; k++)
            n = n << 8 | buf[2 + k];
    }
    unsigned op = buf[0] & 0x0f;
    *plen = n;
    /* Only a header the parser will take: a refused one is parsed (and
     * failed) at once rather than after its payload. */
    unsigned masked = buf[1] >> 7;
    *whole = (buf[0] & 0xf0) == 0x80 && !p->msg_op &&
             (op == HZ__WS_OP_TEXT || op == HZ__WS_OP_BINARY) &&
             masked == (p->cfg.role == HZ__WS_SERVER) && (len7 != 126 || n >= 126) &&
             (len7 != 127 || (n > 0xffff && !(n >> 63)));
    return (int)hl;
}

/* ------------------------------------------------------------------------ */
/* Writers                                                                   */
/* ------------------------------------------------------------------------ */

int hz__ws_write_header(uint8_t *out, unsigned opcode, unsigned flags, uint64_t len,
                        const uint8_t *mask)
{
    if (opcode > 0xf || (len >> 63))
        return HZ_EINVAL;
    if (is_control(opcode) && (len > HZ__WS_CONTROL_MAX || !(flags & HZ__WS_FIN)))
        return HZ_EINVAL;
    unsigned n = 0;
    out[n++] =
        (uint8_t)((flags & HZ__WS_FIN ? 0x80 : 0) | (flags & HZ__WS_RSV1 ? 0x40 : 0) | opcode);
    uint8_t mbit = mask ? 0x80 : 0;
    if (len < 126) {
        out[n++] = (uint8_t)(mbit | len);
    } else if (len <= 0xffff) {
        out[n++] = mbit | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = mbit | 127;
        for (int s = 56; s >= 0; s -= 8)
            out[n++] = (uint8_t)(len >> s);
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return (int)n;
}

int hz__ws_close_payload(uint8_t *out, unsigned code, const void *reason, size_t reason_len)
{
    if (code == 0)
        return reason_len ? HZ_EINVAL : 0;
    if (!hz__ws_close_code_valid(code))
        return HZ_EINVAL;
    if (reason_len > HZ__WS_CONTROL_MAX - 2)
        return HZ_ERANGE;
    if (!hz__utf8_valid(reason, reason_len))
        return HZ_EINVAL;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    if (reason_len)
        memcpy(out + 2, reason, reason_len);
    return (int)(2 + reason_len);
}
