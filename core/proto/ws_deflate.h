/* ws_deflate.h - permessage-deflate (RFC 7692): negotiation syntax and a
 * per-connection compression context over zlib.
 *
 * Negotiation (always compiled, pure syntax): the server picks the first
 * acceptable offer of a Sec-WebSocket-Extensions header and writes its
 * answer; the client side checks an answer against its offer.
 *
 * Context (HZ_HAVE_WS_DEFLATE, else every call is HZ_ENOTSUP): streamed in
 * both directions with bounded output, so neither a large message nor a
 * compression bomb is ever held whole. Inflating appends the 00 00 FF FF
 * tail a sender strips (§7.2.2) and stops with INFLATED_TOO_BIG as soon as
 * a message inflates beyond its limit; deflating flushes each message and
 * strips that tail (§7.2.1). Context takeover is kept or dropped per
 * direction as negotiated. A sender may send any message uncompressed
 * (RSV1 clear, no hz__pmd call): that is the per-message opt-out, and it
 * leaves both contexts untouched. zlib allocates through the connection's
 * hz_allocator; the streams are set up on first use, so a connection that
 * never sends (or never receives) a compressed message never pays for that
 * direction's zlib state (about 256 KiB to deflate, 7 KiB + the window to
 * inflate, at the default settings).
 */
#ifndef HZ__WS_DEFLATE_H
#define HZ__WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>
#include "internal.h"
#include "ws.h"

/* Negotiated parameters (§7.1). */
typedef struct hz__pmd_params {
    uint8_t server_no_context_takeover; /* §7.1.1.1 */
    uint8_t client_no_context_takeover; /* §7.1.1.2 */
    uint8_t server_max_window_bits;     /* §7.1.2.1: 0 absent, else 8..15 */
    uint8_t client_max_window_bits;     /* §7.1.2.2: 0 absent, HZ__PMD_BITS_NOVALUE
                                         * (in an offer only), else 8..15 */
} hz__pmd_params;

#define HZ__PMD_BITS_NOVALUE 1
/* Room for the longest answer hz__pmd_negotiate writes: 18 + 2 * 28 + 2 * 27
 * bytes ("permessage-deflate", the two flags, the two windows) and a NUL. */
#define HZ__PMD_RESPONSE_MAX 160

/** Parses the parameters of one permessage-deflate element: s[0..len) is
 *  what follows the extension name ("; client_max_window_bits; ..."). A
 *  response (response != 0) must give client_max_window_bits a value.
 *  Returns 0, or HZ_EINVAL for a syntax error, an unknown or duplicate
 *  parameter, a value where none is allowed or a window size outside 8..15
 *  (decimal, no leading zero, also inside a quoted-string). thread: any. */
HZ__HIDDEN int hz__pmd_parse_params(const char *s, size_t len, int response, hz__pmd_params *out);

/** The server's policy. hz__pmd_cfg_init gives the defaults noted. */
typedef struct hz__pmd_cfg {
    uint8_t server_max_window_bits;     /* our compression window, 9..15 (15) */
    uint8_t client_max_window_bits;     /* the most we ask the client to use,
                                         * 8..15 (15); asked only when its
                                         * offer allows it (else 15) */
    uint8_t server_no_context_takeover; /* always reset our compressor (0) */
    uint8_t client_no_context_takeover; /* ask the client to reset (0) */
    int8_t level;                       /* zlib level 1..9 (6) */
    int8_t mem_level;                   /* zlib memLevel 1..9 (8) */
} hz__pmd_cfg;

HZ__HIDDEN void hz__pmd_cfg_init(hz__pmd_cfg *cfg);

/** Server side: walks the client's Sec-WebSocket-Extensions value (lines
 *  joined with ", ") and accepts the first permessage-deflate offer it
 *  can: offers with invalid parameters are declined (§7.1: "MUST decline"),
 *  as are offers of server_max_window_bits=8 (zlib cannot deflate with a
 *  256-byte raw window). On success *agreed holds what both sides use (the
 *  window bits always set, 8..15) and resp the answer element,
 *  NUL-terminated. Returns 1 (accepted), 0 (nothing acceptable: answer
 *  without the extension), HZ_EINVAL (the header is not an extension list)
 *  or HZ_ERANGE (cap < HZ__PMD_RESPONSE_MAX). thread: any. */
HZ__HIDDEN int hz__pmd_negotiate(const char *offered, size_t len, const hz__pmd_cfg *cfg,
                                 hz__pmd_params *agreed, char *resp, size_t cap);

/** Client side: checks a server's Sec-WebSocket-Extensions answer against
 *  the offer sent. Returns 1 with *agreed (window bits set) when it is a
 *  valid acceptance, 0 when resp is NULL or empty (no extension), and
 *  HZ_EPROTO (fail the connection) for anything else: another extension,
 *  more than one element, bad parameters, server_no_context_takeover or
 *  server_max_window_bits asked for and missing, a window over the offer,
 *  client_max_window_bits the offer did not allow. thread: any. */
HZ__HIDDEN int hz__pmd_check_response(const char *resp, size_t len, const hz__pmd_params *offer,
                                      hz__pmd_params *agreed);

/* ------------------------------------------------------------------------ */
/* Compression context                                                       */
/* ------------------------------------------------------------------------ */

typedef struct hz__pmd hz__pmd; /* owner: the connection */

/** What a hz__pmd_inflate / hz__pmd_deflate call left to do. */
enum {
    HZ__PMD_NEED_INPUT = 0,  /* all input taken and its output given: feed more */
    HZ__PMD_OUTPUT_FULL = 1, /* out is full: call again with the input left */
    HZ__PMD_DONE = 2,        /* fin: the message is complete */
};

/** Creates the context of one connection: server != 0 when we are the
 *  server (we deflate with the server_* parameters, inflate with client_*);
 *  agreed as hz__pmd_negotiate / _check_response filled it; cfg for level
 *  and memLevel (NULL: defaults); max_message the most bytes one message
 *  may inflate to (0: no limit). Returns 0, HZ_ENOMEM, HZ_EINVAL (bad
 *  parameters, or a deflate window of 8 bits) or HZ_ENOTSUP (built without
 *  zlib). *out is NULL on failure. thread: any. */
HZ__HIDDEN int hz__pmd_create(hz__pmd **out, const hz_allocator *a, const hz__pmd_params *agreed,
                              int server, const hz__pmd_cfg *cfg, uint64_t max_message);
/** Frees z and its zlib state; NULL is fine. thread: the owner's. */
HZ__HIDDEN void hz__pmd_destroy(hz__pmd *z);

/** Inflates the payload of a compressed message as it arrives: in[0..len)
 *  is the next piece (frames' payloads, in order), fin != 0 once the last
 *  piece has been given (and again, with what is left of it, after
 *  OUTPUT_FULL). A final block (BFINAL)
 *  inside a message is followed by more blocks that may still refer back
 *  (§7.2.1); an empty payload is not a compressed message (the shortest
 *  is 0x00). Writes up to cap bytes to out; *consumed / *produced say
 *  how many were taken / written. Returns an HZ__PMD_* state, HZ_EPROTO
 *  (hz__pmd_error: INFLATE for a corrupt stream, INFLATED_TOO_BIG once the
 *  message passes max_message; the context is unusable then), HZ_ENOMEM or
 *  HZ_ENOTSUP. A peer that reaches back further than the window it agreed
 *  to is caught only where it also reaches past what this call wrote (zlib
 *  checks distances against its window plus the current output), so with
 *  a small window such a stream may be refused or decoded depending on
 *  the output room; either way nothing is written out of bounds and the
 *  limit holds. thread: the owner's. */
HZ__HIDDEN int hz__pmd_inflate(hz__pmd *z, const uint8_t *in, size_t len, int fin, uint8_t *out,
                               size_t cap, size_t *consumed, size_t *produced);

/** Deflates a message to send as it is produced: in[0..len) is the next
 *  piece, fin != 0 with the last (and after, while OUTPUT_FULL). out gets
 *  the compressed payload, the 00 00 FF FF tail already stripped; cap must
 *  be at least 16 (HZ_EINVAL). Same results as hz__pmd_inflate, without
 *  HZ_EPROTO. thread: the owner's. */
HZ__HIDDEN int hz__pmd_deflate(hz__pmd *z, const uint8_t *in, size_t len, int fin, uint8_t *out,
                               size_t cap, size_t *consumed, size_t *produced);

/** Why the last call returned HZ_EPROTO (HZ__WS_E_NONE if it did not). */
HZ__HIDDEN hz__ws_err hz__pmd_error(const hz__pmd *z);

#endif /* HZ__WS_DEFLATE_H */
