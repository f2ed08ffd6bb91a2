/* ws.h - WebSocket (RFC 6455) as pure syntax: the frame parser, the frame
 * and close-payload writers, and the opening-handshake helpers. No I/O and
 * no allocation; the connection layer (upgrade, loop integration, sending)
 * sits on top. permessage-deflate (RFC 7692) is in ws_deflate.h.
 *
 * The parser is incremental: input may be cut at any byte, the parser keeps
 * at most the 14 bytes of a frame header and a control frame's 125 payload
 * bytes, and data payload is handed out as views of the caller's input,
 * unmasked in place (hz__ws_parse) or into a caller buffer
 * (hz__ws_parse_copy). Every check belongs to one byte position, so an
 * input fed whole, in pieces or byte by byte gets the same verdict and the
 * same error kind (tests/unit/test_ws.c and fuzz/fuzz_ws_frame.c check it).
 */
#ifndef HZ__WS_H
#define HZ__WS_H

#include <stddef.h>
#include <stdint.h>
#include <httpz/httpz.h>
#include "internal.h"
#include "utf8.h"

/* Opcodes (RFC 6455 §5.2, §11.8). */
enum {
    HZ__WS_OP_CONT = 0x0,
    HZ__WS_OP_TEXT = 0x1,
    HZ__WS_OP_BINARY = 0x2,
    HZ__WS_OP_CLOSE = 0x8,
    HZ__WS_OP_PING = 0x9,
    HZ__WS_OP_PONG = 0xa,
};

#define HZ__WS_HEADER_MAX 14   /* 2 + 8 (64-bit length) + 4 (masking key) */
#define HZ__WS_CONTROL_MAX 125 /* §5.5: control payloads are at most this */

/* Every way a peer's frames can fail the connection:
 * X(NAME, close code, "description"). The kinds are distinct so logs and
 * metrics can tell them apart; the close code is what the endpoint sends
 * back (§7.4.1). The last two come from ws_deflate.c. */
#define HZ__WS_ERRORS(X)                                                                           \
    X(NONE, 0, "no error")                                                                         \
    X(RSV, 1002, "reserved bit set that no extension negotiated")                                  \
    X(RSV1_CONTINUATION, 1002, "compressed bit (RSV1) on a continuation frame")                    \
    X(RSV1_CONTROL, 1002, "compressed bit (RSV1) on a control frame")                              \
    X(OPCODE, 1002, "reserved opcode")                                                             \
    X(CONTROL_FRAGMENTED, 1002, "control frame without FIN")                                       \
    X(CONTROL_TOO_LONG, 1002, "control frame payload longer than 125 bytes")                       \
    X(UNMASKED, 1002, "client frame without a masking key")                                        \
    X(MASKED, 1002, "server frame with a masking key")                                             \
    X(LENGTH_NOT_MINIMAL, 1002, "payload length not in its shortest encoding")                     \
    X(LENGTH_MSB, 1002, "64-bit payload length with its most significant bit set")                 \
    X(CONTINUATION_UNEXPECTED, 1002, "continuation frame without a message in progress")           \
    X(MESSAGE_UNFINISHED, 1002, "new data frame before the fragmented message ended")              \
    X(FRAME_TOO_BIG, 1009, "frame payload over the frame size limit")                              \
    X(MESSAGE_TOO_BIG, 1009, "message over the message size limit")                                \
    X(UTF8, 1007, "text message is not valid UTF-8")                                               \
    X(CLOSE_LENGTH, 1002, "close frame with a 1-byte payload")                                     \
    X(CLOSE_CODE, 1002, "close frame with a status code not allowed on the wire")                  \
    X(CLOSE_REASON_UTF8, 1007, "close reason is not valid UTF-8")                                  \
    X(AFTER_CLOSE, 1002, "frame after the close frame")                                            \
    X(INFLATE, 1007, "compressed message does not decompress")                                     \
    X(INFLATED_TOO_BIG, 1009, "decompressed message over the message size limit")

typedef enum hz__ws_err {
#define HZ__WS_ERR_ENUM_(name, code, msg) HZ__WS_E_##name,
    HZ__WS_ERRORS(HZ__WS_ERR_ENUM_)
#undef HZ__WS_ERR_ENUM_
        HZ__WS_E_COUNT
} hz__ws_err;

/** The close code to fail the connection with for e (0 for NONE). */
HZ__HIDDEN unsigned hz__ws_err_close_code(hz__ws_err e);
/** A short name ("LENGTH_NOT_MINIMAL") and a description, for logs. */
HZ__HIDDEN const char *hz__ws_err_name(hz__ws_err e);
HZ__HIDDEN const char *hz__ws_err_text(hz__ws_err e);

/** Whether code may appear in a close frame on the wire (§7.4): 1000-1003,
 *  1007-1011 and 3000-4999. 1004 is reserved, 1005, 1006 and 1015 are for
 *  APIs only, everything else below 3000 is unassigned. */
HZ__HIDDEN int hz__ws_close_code_valid(unsigned code);

/* ------------------------------------------------------------------------ */
/* Frame parser                                                              */
/* ------------------------------------------------------------------------ */

/** Which side the parser reads for: a server reads masked client frames
 *  (§5.1: an unmasked one fails), a client reads unmasked server frames. */
typedef enum hz__ws_role { HZ__WS_SERVER = 0, HZ__WS_CLIENT = 1 } hz__ws_role;

/** Parser configuration, copied by hz__ws_parser_init. */
typedef struct hz__ws_parser_cfg {
    hz__ws_role role;
    uint64_t max_frame;           /* payload bytes of one data frame (control frames
                                   * have their own 125); 0 = no limit */
    uint64_t max_message;         /* payload bytes of one data message over all its
                                   * frames, as received (compressed messages: the
                                   * wire size; hz__pmd limits the inflated size);
                                   * 0 = no limit */
    unsigned rsv1_compressed : 1; /* permessage-deflate negotiated: RSV1 on a
                                   * message's first frame means compressed */
} hz__ws_parser_cfg;

typedef enum hz__ws_ev_type {
    HZ__WS_EV_NONE = 0, /* no event: all input consumed, more is needed */
    HZ__WS_EV_DATA,     /* a piece of a data message's payload */
    HZ__WS_EV_CONTROL,  /* a whole control frame (close, ping, pong) */
} hz__ws_ev_type;

/** What one hz__ws_parse call found. */
typedef struct hz__ws_event {
    hz__ws_ev_type type;
    uint8_t opcode;        /* DATA: the message's opcode (TEXT or BINARY, also
                            * for continuation frames); CONTROL: CLOSE/PING/PONG */
    uint8_t compressed;    /* DATA: the message has RSV1 (permessage-deflate);
                            * its bytes are not UTF-8-checked here then */
    uint8_t first;         /* DATA: the message's first piece */
    uint8_t frame_end;     /* DATA: this piece ends a frame */
    uint8_t msg_end;       /* DATA: this piece ends the message (FIN frame) */
    uint8_t *data;         /* borrowed. DATA: the unmasked bytes, in the input
                            * (hz__ws_parse) or the out buffer (_copy); CONTROL:
                            * the payload, in the parser (valid until the next
                            * call) */
    size_t len;            /* bytes at data; 0 for an empty frame */
    unsigned close_code;   /* CONTROL CLOSE: the status code, 0 if the
                            * payload is empty (the API's 1005) */
    const uint8_t *reason; /* borrowed: CLOSE reason (UTF-8, validated) */
    size_t reason_len;
} hz__ws_event;

/** Parser state: plain data, no allocation. */
typedef struct hz__ws_parser {
    hz__ws_parser_cfg cfg; /* owns: a copy */
    uint8_t state;         /* internal: header, payload, control, closed, failed */
    hz__ws_err error;      /* why the last call returned HZ_EPROTO */
    /* the frame being read */
    uint8_t hdr[HZ__WS_HEADER_MAX]; /* header bytes collected so far */
    uint8_t hdr_len, hdr_need;      /* collected / needed (known after byte 1) */
    uint8_t opcode, fin, masked;
    uint8_t mask[4];
    uint64_t frame_len, frame_done; /* payload length / bytes consumed */
    /* the data message in progress (across frames and interleaved control frames) */
    uint8_t msg_op;                   /* TEXT/BINARY while a message is open, else 0 */
    uint8_t msg_compressed;           /* its first frame had RSV1 */
    uint8_t msg_first;                /* no piece of it handed out yet */
    uint64_t msg_len;                 /* payload bytes of its frames so far */
    hz__utf8 utf8;                    /* uncompressed text: validated as it arrives */
    uint8_t ctrl[HZ__WS_CONTROL_MAX]; /* a control frame's payload, unmasked */
} hz__ws_parser;

/** Starts a parser with cfg. thread: any (on its own parser). */
HZ__HIDDEN void hz__ws_parser_init(hz__ws_parser *p, const hz__ws_parser_cfg *cfg);

/** Parses buf[0..len), unmasking payload bytes in place (buf is written).
 *  Returns the bytes consumed and fills *ev: one event at most per call, so
 *  call again with the rest while bytes remain; HZ__WS_EV_NONE comes only
 *  with every byte consumed. An empty data frame yields one DATA event of
 *  length 0, so frame and message ends are always seen. Returns HZ_EPROTO
 *  when the peer broke the protocol (p->error says how, and
 *  hz__ws_err_close_code the code to close with); every later call
 *  returns HZ_EPROTO too. After a CLOSE event any further byte is
 *  AFTER_CLOSE. thread: any (on its own parser). */
HZ__HIDDEN long hz__ws_parse(hz__ws_parser *p, uint8_t *buf, size_t len, hz__ws_event *ev);

/** As hz__ws_parse, but in is left untouched and a DATA event's bytes are
 *  unmasked into out[0..cap) (at most cap bytes per event; cap > 0, else
 *  HZ_EINVAL). thread: any. */
HZ__HIDDEN long hz__ws_parse_copy(hz__ws_parser *p, const uint8_t *in, size_t len, uint8_t *out,
                                  size_t cap, hz__ws_event *ev);

/** Looks ahead at the frame that starts at buf[0..len) when p stands
 *  between frames (no byte of the next header taken yet) and buf holds
 *  that whole header: returns the header's length (2-14), with the
 *  payload length in *plen and *whole set when the frame is a whole
 *  message the parser hands out as one piece once all of it is in the
 *  input (FIN, TEXT or BINARY, no RSV bit, no message open, masked as
 *  the role wants, the length in its shortest form). 0 otherwise
 *  (mid-frame, or the header is not all in). Nothing is checked nor
 *  consumed: hz__ws_parse still judges the frame, so a caller that waits
 *  for the rest must bound *plen itself. thread: any. */
HZ__HIDDEN int hz__ws_peek_frame(const hz__ws_parser *p, const uint8_t *buf, size_t len,
                                 uint64_t *plen, int *whole);

/** XORs src[0..len) with the masking key (§5.3) into dst (which may equal
 *  src), where src[0] is byte `offset` of the payload. thread: any. */
HZ__HIDDEN void hz__ws_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4],
                            uint64_t offset);

/* ------------------------------------------------------------------------ */
/* Writing frames                                                            */
/* ------------------------------------------------------------------------ */

enum {
    HZ__WS_FIN = 1u << 0,  /* the message's last frame */
    HZ__WS_RSV1 = 1u << 1, /* compressed (first frame of the message only) */
};

/** Writes a frame header for a payload of len bytes into out (at least
 *  HZ__WS_HEADER_MAX bytes): the shortest length encoding, and the masking
 *  key when mask is not NULL (client frames; a server passes NULL, §5.1).
 *  Returns the header length (2-14), or HZ_EINVAL for an opcode above 15,
 *  a control frame longer than 125 bytes or without FIN, or len >= 2^63.
 *  thread: any. */
HZ__HIDDEN int hz__ws_write_header(uint8_t *out, unsigned opcode, unsigned flags, uint64_t len,
                                   const uint8_t *mask);

/** hz__ws_write_header for the common server frame, inline: an unmasked
 *  data frame (opcode 0-2: callers check it) of len < 126 bytes, FIN and
 *  RSV1 from flags. Always 2 bytes. test_ws_small_header checks it
 *  against hz__ws_write_header byte for byte. thread: any. */
static inline int hz__ws_write_small_header(uint8_t *out, unsigned opcode, unsigned flags,
                                            size_t len)
{
    out[0] = (uint8_t)((flags & HZ__WS_FIN ? 0x80 : 0) | (flags & HZ__WS_RSV1 ? 0x40 : 0) | opcode);
    out[1] = (uint8_t)len;
    return 2;
}

/** Writes a close frame's payload (§5.5.1) into out (at least 125 bytes):
 *  code 0 means no status (an empty payload, and reason must be empty),
 *  else a code hz__ws_close_code_valid accepts, then the reason. Returns
 *  the payload length, HZ_EINVAL for a code that may not be sent or a
 *  reason that is not UTF-8, HZ_ERANGE for a reason over 123 bytes.
 *  thread: any. */
HZ__HIDDEN int hz__ws_close_payload(uint8_t *out, unsigned code, const void *reason,
                                    size_t reason_len);

/* ------------------------------------------------------------------------ */
/* Opening handshake (§4.2)                                                  */
/* ------------------------------------------------------------------------ */

#define HZ__WS_ACCEPT_LEN 28 /* base64 of a 20-byte SHA-1 */

/** 1 when key is a valid Sec-WebSocket-Key: the strict base64 encoding of
 *  16 bytes (24 characters, "==" at the end, §4.1 item 7), else 0.
 *  thread: any. */
HZ__HIDDEN int hz__ws_key_valid(const char *key, size_t len);

/** Sec-WebSocket-Accept for key (§4.2.2 item 5.4): base64(SHA-1(key +
 *  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), written NUL-terminated to out.
 *  Returns 0, or HZ_EINVAL when hz__ws_key_valid refuses the key.
 *  thread: any. */
HZ__HIDDEN int hz__ws_accept(const char *key, size_t len, char out[HZ__WS_ACCEPT_LEN + 1]);

/** 1 when the comma-separated header list (RFC 9110 §5.6.1: OWS around
 *  elements, empty elements ignored) has an element equal to token, ASCII
 *  case ignored ("Connection: keep-alive, Upgrade" has "upgrade";
 *  "Upgrade: websocket" has "websocket"); else 0. An element that is not a
 *  plain token (a space inside, a parameter) never matches. thread: any. */
HZ__HIDDEN int hz__ws_list_has(const char *list, size_t len, const char *token);

/** Why an upgrade request is refused (§4.2.1), with the status to answer:
 *  X(NAME, status, "description"). */
#define HZ__WS_HS_ERRORS(X)                                                                        \
    X(OK, 0, "valid WebSocket upgrade request")                                                    \
    X(METHOD, 405, "method is not GET")                                                            \
    X(HTTP_VERSION, 400, "HTTP version below 1.1")                                                 \
    X(NO_UPGRADE, 426, "no Upgrade: websocket")                                                    \
    X(CONNECTION, 400, "Connection header without the upgrade token")                              \
    X(VERSION_MISSING, 400, "no Sec-WebSocket-Version")                                            \
    X(VERSION, 426, "Sec-WebSocket-Version is not 13")                                             \
    X(KEY_MISSING, 400, "no Sec-WebSocket-Key")                                                    \
    X(KEY_DUPLICATE, 400, "more than one Sec-WebSocket-Key")                                       \
    X(KEY, 400, "Sec-WebSocket-Key is not the base64 of 16 bytes")

typedef enum hz__ws_hs_err {
#define HZ__WS_HS_ENUM_(name, status, msg) HZ__WS_HS_##name,
    HZ__WS_HS_ERRORS(HZ__WS_HS_ENUM_)
#undef HZ__WS_HS_ENUM_
        HZ__WS_HS_COUNT
} hz__ws_hs_err;

/** The parts of a request the handshake looks at, as views (ptr NULL:
 *  the field is absent). A field sent on several lines is passed joined
 *  with ", " (RFC 9110 §5.3), except the key, whose line count is given. */
typedef struct hz__ws_hs_req {
    hz_str method; /* borrowed: views into the request */
    unsigned version_minor;
    hz_str connection;  /* Connection */
    hz_str upgrade;     /* Upgrade */
    hz_str version;     /* Sec-WebSocket-Version */
    hz_str key;         /* Sec-WebSocket-Key */
    unsigned key_count; /* lines of Sec-WebSocket-Key */
} hz__ws_hs_req;

/** Checks an upgrade request; the first failing rule in the order of
 *  HZ__WS_HS_ERRORS wins. A 426 answer carries "Sec-WebSocket-Version: 13"
 *  (VERSION) or "Upgrade: websocket" (NO_UPGRADE). thread: any. */
HZ__HIDDEN hz__ws_hs_err hz__ws_handshake_check(const hz__ws_hs_req *r);
/** The status to answer e with (0 for OK) and a description. */
HZ__HIDDEN int hz__ws_hs_status(hz__ws_hs_err e);
HZ__HIDDEN const char *hz__ws_hs_text(hz__ws_hs_err e);

/** Picks the subprotocol (§4.2.2 item 5.5 / §11.3.4): offered is the
 *  client's Sec-WebSocket-Protocol list (tokens, compared exactly, case
 *  included), ours the server's n names in order of preference. Returns
 *  the index in ours of the first one the client offered, HZ_ENOENT when
 *  none was (answer without the header), HZ_EINVAL when the list holds
 *  something that is not a token (answer 400). thread: any. */
HZ__HIDDEN long hz__ws_select_protocol(const char *offered, size_t len, const char *const *ours,
                                       size_t n);

/** 1 when origin (an Origin header, RFC 6454 §7: "scheme://host[:port]" or
 *  "null") is one of the n allowed origins, else 0. Scheme and host are
 *  compared ASCII case-insensitively and a default port (80 for http/ws,
 *  443 for https/wss) is the same as none; an allowed entry "*" admits any
 *  origin but "null", which only a "null" entry admits. thread: any. */
HZ__HIDDEN int hz__ws_origin_allowed(const char *origin, size_t len, const char *const *allowed,
                                     size_t n);

/** 1 when origin names this server as the client reached it: host[:port]
 *  equal to the Host header (default ports as above; over TLS the origin's
 *  scheme must be https, else http), the same-origin policy most servers
 *  want for browser clients. Else 0 (also for a malformed origin or host).
 *  thread: any. */
HZ__HIDDEN int hz__ws_origin_is_host(const char *origin, size_t olen, const char *host, size_t hlen,
                                     int tls);

#endif /* HZ__WS_H */
