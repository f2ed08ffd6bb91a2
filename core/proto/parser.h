/* parser.h - HTTP/1.1 request-head parser and chunked-body decoder.
 *
 * Strict RFC 9112 / RFC 9110, incremental (resumable at any byte boundary
 * without rescanning), zero-copy and allocation-free: results are offsets
 * into the caller's buffer, so the buffer may be moved (realloc) between
 * calls as long as the bytes already given stay the same.
 *
 * Line endings: CRLF only. A bare LF or a bare CR anywhere in the head, the
 * chunk framing or the trailers is an error (400). RFC 9112 §2.2 lets a
 * recipient accept a bare LF; we do not, so that no two parsers on a path can
 * disagree about where a line ends (request smuggling).
 */
#ifndef HZ__PARSER_H
#define HZ__PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <httpz/httpz.h>
#include "internal.h"

/* Every way a request can be rejected: X(NAME, status, "description").
 * The kinds are distinct so metrics and logs can tell them apart. */
#define HZ__PARSE_ERRORS(X)                                                                        \
    X(NONE, 0, "no error")                                                                         \
    X(METHOD, 400, "invalid method token")                                                         \
    X(METHOD_TOO_LONG, 501, "method longer than any implemented")                                  \
    X(TARGET, 400, "invalid request-target")                                                       \
    X(TARGET_FORM, 400, "request-target form not allowed for this method")                         \
    X(VERSION, 400, "malformed HTTP version")                                                      \
    X(VERSION_UNSUPPORTED, 505, "HTTP version not supported")                                      \
    X(REQUEST_LINE, 400, "malformed request line")                                                 \
    X(URI_TOO_LONG, 414, "request line or target too long")                                        \
    X(LINE_ENDING, 400, "bare CR or bare LF line ending")                                          \
    X(FIELD_NAME, 400, "invalid header field name")                                                \
    X(FIELD_VALUE, 400, "invalid character in header field value")                                 \
    X(WS_BEFORE_COLON, 400, "whitespace between field name and colon")                             \
    X(OBS_FOLD, 400, "obsolete line folding")                                                      \
    X(FIELD_TOO_LARGE, 431, "header field too large")                                              \
    X(HEAD_TOO_LARGE, 431, "request header block too large")                                       \
    X(TOO_MANY_FIELDS, 431, "too many header fields")                                              \
    X(CONTENT_LENGTH, 400, "invalid Content-Length")                                               \
    X(CL_CONFLICT, 400, "conflicting Content-Length values")                                       \
    X(CL_AND_TE, 400, "both Content-Length and Transfer-Encoding")                                 \
    X(TE_HTTP10, 400, "Transfer-Encoding in an HTTP/1.0 request")                                  \
    X(TE_NOT_CHUNKED, 400, "final transfer coding is not chunked")                                 \
    X(TE_UNKNOWN, 501, "unknown transfer coding")                                                  \
    X(HOST_MISSING, 400, "missing Host header")                                                    \
    X(HOST_DUPLICATE, 400, "more than one Host header")                                            \
    X(HOST_INVALID, 400, "invalid Host header")                                                    \
    X(CHUNK_SIZE, 400, "invalid chunk size")                                                       \
    X(CHUNK_EXT, 400, "invalid chunk extension")                                                   \
    X(CHUNK_EXT_TOO_LONG, 400, "chunk extension too long")                                         \
    X(CHUNK_DATA_CRLF, 400, "missing CRLF after chunk data")                                       \
    X(TRAILER, 400, "invalid trailer field")                                                       \
    X(TRAILER_TOO_LARGE, 431, "trailer section too large")                                         \
    X(TE_INVALID, 400, "malformed Transfer-Encoding or chunked applied twice")

typedef enum hz__perr {
#define HZ__PERR_ENUM_(name, status, msg) HZ__PE_##name,
    HZ__PARSE_ERRORS(HZ__PERR_ENUM_)
#undef HZ__PERR_ENUM_
        HZ__PE_COUNT
} hz__perr;

/** The HTTP status to answer a parse error with (0 for HZ__PE_NONE). */
/* Character classes of hz__chr_class (shared with the response side, which
 * validates what handlers put into header fields). */
enum {
    C_TCHAR = 0x01,  /* token (RFC 9110 §5.6.2) */
    C_VALUE = 0x02,  /* field-value byte: HTAB, SP, VCHAR, obs-text */
    C_TARGET = 0x04, /* plain target byte: VCHAR except '#', '%', '?' */
    C_HEX = 0x08,    /* HEXDIG */
    C_REG = 0x10,    /* reg-name byte: unreserved / sub-delims (RFC 3986) */
    C_QDTEXT = 0x20, /* qdtext (RFC 9110 §5.6.4) */
    /* Target bytes RFC 3986 leaves out of every URI component. Browsers
     * percent-encode these (WHATWG URL path and query encode sets), so raw
     * they come only from tools and attacks: */
    C_NOT_QUERY = 0x40, /* '"' '<' '>': encoded in queries too */
    C_NOT_PATH = 0x80,  /* those, backslash, '`' '{' '}': encoded in paths (browsers
                         * send '|' '^' '[' ']' raw, so those stay allowed) */
};
HZ__HIDDEN extern const unsigned char hz__chr_class[256];
/** Length of the longest prefix of s[0, len) made of tchars. */
HZ__HIDDEN size_t hz__scan_token(const void *s, size_t len);
/** Length of the longest prefix of s[0, len) of field-value bytes (HTAB,
 *  SP, VCHAR, obs-text): no CR, LF, other CTLs or DEL. */
HZ__HIDDEN size_t hz__scan_field_value(const void *s, size_t len);

/** Whether s[0, n) is a valid Host value / :authority: uri-host [":" port]
 *  without userinfo (RFC 9110 §7.2, §4.2.4); empty is valid. thread: any. */
HZ__HIDDEN int hz__authority_valid(const void *s, size_t n);

HZ__HIDDEN int hz__perr_status(hz__perr e);
/** A short name ("CL_AND_TE") and a description, for logs and metrics. */
HZ__HIDDEN const char *hz__perr_name(hz__perr e);
HZ__HIDDEN const char *hz__perr_text(hz__perr e);
/** The target scanning path in use: "ssse3" (chosen at run time on x86-64
 *  CPUs that have it), "sse2", "neon" or "scalar". thread: any. */
HZ__HIDDEN const char *hz__parser_simd(void);
/** Only in builds with HZ_PARSER_SELECTABLE (tests): makes the parser use
 *  the named path ("scalar", "sse2", "ssse3", "neon"; NULL: the default).
 *  Returns 0, or -1 when this build or CPU has no such path.
 *  thread: no parse may run concurrently. */
HZ__HIDDEN int hz__parser_select(const char *path);

/** Well-known methods, recognised while parsing (others: HZ__M_OTHER). */
typedef enum hz__method {
    HZ__M_OTHER = 0,
    HZ__M_GET,
    HZ__M_HEAD,
    HZ__M_POST,
    HZ__M_PUT,
    HZ__M_DELETE,
    HZ__M_OPTIONS,
    HZ__M_PATCH,
    HZ__M_CONNECT,
    HZ__M_TRACE,
} hz__method;

typedef enum hz__target_form {
    HZ__TF_ORIGIN = 0, /* /path?query */
    HZ__TF_ABSOLUTE,   /* http://host/path (any method) */
    HZ__TF_AUTHORITY,  /* host:port (CONNECT only) */
    HZ__TF_ASTERISK,   /* * (OPTIONS only) */
} hz__target_form;

typedef enum hz__body_kind {
    HZ__BODY_NONE = 0, /* no Content-Length, no Transfer-Encoding */
    HZ__BODY_LENGTH,   /* Content-Length: content_length bytes (may be 0) */
    HZ__BODY_CHUNKED,  /* Transfer-Encoding: chunked (final coding) */
} hz__body_kind;

/** Connection-relevant header facts gathered while parsing. */
enum {
    HZ__HF_CONN_CLOSE = 1u << 0,      /* Connection: close (token in list) */
    HZ__HF_CONN_KEEPALIVE = 1u << 1,  /* Connection: keep-alive */
    HZ__HF_CONN_UPGRADE = 1u << 2,    /* Connection: upgrade */
    HZ__HF_EXPECT_CONTINUE = 1u << 3, /* Expect: 100-continue */
    HZ__HF_EXPECT_OTHER = 1u << 4,    /* Expect: anything else (answer 417) */
};

/** A header field: offsets into the parsed buffer. value excludes leading
 *  and trailing whitespace. */
typedef struct hz__field {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
} hz__field;

/** Parse limits (copied from hz_config.limits). Line limits count the line's
 *  CRLF; request_line also counts the empty lines skipped before it, and
 *  header_bytes the whole head from the first byte given. */
typedef struct hz__parse_limits {
    uint32_t request_line;  /* -> 414 */
    uint32_t field_size;    /* one field line -> 431 */
    uint32_t header_bytes;  /* whole head -> 431 */
    uint32_t header_count;  /* -> 431; also the capacity of the fields array */
    uint32_t chunk_ext;     /* one chunk line's extensions -> 400 */
    uint32_t trailer_bytes; /* trailer section -> 431 */
} hz__parse_limits;

/** The parsed request head. All offsets are from the start of the buffer
 *  given to hz__parse_request. */
typedef struct hz__req_head {
    uint32_t method_off, method_len;
    uint32_t target_off, target_len;
    uint32_t path_len;           /* target bytes before '?' (origin form) */
    uint32_t host_off, host_len; /* Host value (or authority of an absolute target) */
    uint8_t method;              /* hz__method */
    uint8_t target_form;         /* hz__target_form */
    uint8_t version_minor;       /* 0 or 1 (HTTP/1.x) */
    uint8_t body_kind;           /* hz__body_kind */
    uint32_t flags;              /* HZ_HF_* */
    uint64_t content_length;     /* valid for HZ__BODY_LENGTH */
    uint32_t head_len;           /* bytes of the head, final CRLF included */
    uint32_t nfields;
    hz__field *fields; /* borrowed: the array given to hz__parser_init */
    /* Added: where the path starts. Origin form: target_off. Absolute form:
     * just after the authority (path_len 0 means "/"). Authority and
     * asterisk forms: target_off with path_len 0. The query, if any, starts
     * at path_off + path_len + 1 and ends at target_off + target_len. */
    uint32_t path_off;
} hz__req_head;

/** Parser state: plain data, no allocation; reset with hz__parser_init for
 *  every request. */
typedef struct hz__parser {
    const hz__parse_limits *limits; /* borrowed: outlives the parser */
    hz__field *fields;              /* borrowed: capacity limits->header_count */
    uint32_t pos;                   /* bytes examined so far */
    uint32_t line_start;            /* offset of the line being parsed */
    uint32_t start;                 /* offset of the request line (after empty lines) */
    uint32_t state;                 /* private */
    uint32_t aux;                   /* private */
    hz__perr error;                 /* set when hz__parse_request fails */
    /* Added, private: the head as parsed so far, saved between calls (a
     * call builds it in *out), so the caller need not keep *out intact. */
    hz__req_head head;
    uint32_t nhost;      /* private: Host fields seen */
    uint32_t framing;    /* private: Content-Length / Transfer-Encoding facts */
    uint32_t target_bad; /* private: the target holds a byte RFC 3986 excludes */
} hz__parser;

HZ__HIDDEN void hz__parser_init(hz__parser *p, const hz__parse_limits *limits, hz__field *fields);

/** Parses the head in buf[0..len). Call again with the same bytes plus more
 *  after HZ_EAGAIN (buf may have moved). Returns head_len (> 0) when the head
 *  is complete and valid (out filled), HZ_EAGAIN when more bytes are needed,
 *  or HZ_EPROTO with p->error set (answer hz__perr_status(p->error)).
 *  Limits are enforced as bytes arrive, not after. *out is scratch space
 *  until the call that returns head_len; once finished, further calls
 *  return the same verdict and leave *out alone. */
HZ__HIDDEN int hz__parse_request(hz__parser *p, hz__req_head *out, const char *buf, size_t len);

/** Chunked-body decoder (RFC 9112 §7.1) with bounded extensions and
 *  trailers; trailer fields are validated and skipped. */
typedef struct hz__chunked {
    const hz__parse_limits *limits; /* borrowed */
    uint64_t remaining;             /* data bytes left in the current chunk */
    uint32_t state;                 /* private */
    uint32_t count;                 /* private: bytes of the current line/section */
    uint32_t trailer_bytes;         /* private */
    hz__perr error;
} hz__chunked;

HZ__HIDDEN void hz__chunked_init(hz__chunked *c, const hz__parse_limits *limits);

enum { HZ__CHUNK_DATA = 1 };

/** Decodes from buf[0..len). Sets *consumed to the bytes used. Returns
 *   HZ__CHUNK_DATA: *data, *data_len is a span of body bytes inside buf (the
 *                  span's bytes are included in *consumed);
 *   HZ_EAGAIN:     every byte was consumed as framing; give more;
 *   0:             the body ended (last chunk and trailers), *consumed stops
 *                  right after it (pipelined bytes follow);
 *   HZ_EPROTO:     c->error says why.
 *  Never reads past buf[len-1]; resumable at any byte boundary. */
HZ__HIDDEN int hz__chunked_decode(hz__chunked *c, const char *buf, size_t len, size_t *consumed,
                                  const char **data, size_t *data_len);

#endif /* HZ__PARSER_H */
