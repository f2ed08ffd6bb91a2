/** @file httpz/util.h
 * @brief Decoding helpers: percent-decoding, path normalisation,
 * query strings, url-encoded and multipart forms (whole or streamed),
 * cookies. Included by
 * <httpz/httpz.h>; do not include it directly.
 *
 * None of these allocate: results are views into the input (hz_str) or are
 * written to caller buffers, and every loop is bounded by an explicit limit.
 * They are pure functions of their arguments (or of a caller-owned iterator
 * or parser struct), so every one is thread: any; the one exception is
 * hz_form_read, which connects a form decoder to a request (thread: loop).
 *
 * Decoded strings written to a caller buffer are always NUL-terminated, so
 * a buffer must hold the decoded length + 1; a buffer that is too small
 * gives HZ_ERANGE (its content is then unspecified).
 */
#ifndef HTTPZ_UTIL_H
#define HTTPZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <httpz/httpz.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Percent-decoding (RFC 3986 §2.1)                                          */
/* ------------------------------------------------------------------------ */

/** hz_url_decode flags. With 0: '+' stays '+', %2F decodes to '/', the
 *  result may be any bytes except NUL. */
enum {
    HZ_URL_PLUS_SPACE = 1u << 0,   /**< '+' decodes to ' ' (x-www-form-urlencoded) */
    HZ_URL_ALLOW_NUL = 1u << 1,    /**< allow %00 (and a raw NUL) in the result */
    HZ_URL_REJECT_SLASH = 1u << 2, /**< %2F/%2f is HZ_EINVAL (a path segment
                                      must not smuggle a separator) */
    HZ_URL_UTF8 = 1u << 3,         /**< the result must be valid UTF-8: no
                                      overlong forms (`%C0%AE`), surrogates or
                                      code points above U+10FFFF */
};

/** Percent-decodes src[0..srclen) into dst (dstcap bytes, NUL-terminated).
 *  dst may equal src (decoding never lengthens). `%` must be followed by
 *  two hex digits. NUL policy: %00 (or a raw NUL byte) is HZ_EINVAL unless
 *  HZ_URL_ALLOW_NUL, because a NUL silently truncates the value for every
 *  C string API it reaches (file names, logs, comparisons).
 *  Returns the decoded length (>= 0); HZ_EINVAL for a bad or truncated
 *  escape (`"%G1"`, `"%4"`) or a result refused by flags; HZ_ERANGE if dst is
 *  too small. thread: any. */
HZ_API long hz_url_decode(char *dst, size_t dstcap, const char *src, size_t srclen, unsigned flags);

/** True when s[0..len) is valid UTF-8 (RFC 3629: shortest form only, no
 *  surrogates, at most U+10FFFF). thread: any. */
HZ_API int hz_utf8_valid(const void *s, size_t len);

/* ------------------------------------------------------------------------ */
/* Path normalisation                                                        */
/* ------------------------------------------------------------------------ */

/** hz_path_normalize flags. The default (0) is the strict one. */
enum {
    HZ_PATH_ALLOW_SLASH = 1u << 0, /**< %2F decodes to '/' and separates
                                      segments (default: HZ_EINVAL) */
    HZ_PATH_ANY_BYTES = 1u << 1,   /**< skip the UTF-8 check of the result */
};

/** Decodes and normalises an origin-form path (must start with '/', no
 *  query) into dst (NUL-terminated; dst may equal path):
 *   1. percent-decode (%00 is always rejected; %2F rejected unless
 *      HZ_PATH_ALLOW_SLASH; the result must be UTF-8 unless
 *      HZ_PATH_ANY_BYTES), so "%2e%2e" is a dot segment like "..";
 *   2. collapse runs of '/' into one;
 *   3. remove "." segments and let ".." remove the segment before it
 *      (RFC 3986 §5.2.4); a ".." with nothing left to remove would climb
 *      above the root and is HZ_EINVAL ("/../etc/passwd", "/a/../..");
 *   4. a trailing '/' is kept, and a path ending in "." or ".." ends in
 *      '/' ("/a/b/.." gives "/a/").
 *  The result always starts with '/' and has no "." or ".." segment and
 *  no "//". Returns its length; HZ_EINVAL (not starting with '/', bad
 *  escape, refused byte, escape above the root); HZ_ERANGE (dst too
 *  small: dstcap must be >= the decoded length + 1). thread: any. */
HZ_API long hz_path_normalize(char *dst, size_t dstcap, const char *path, size_t len,
                              unsigned flags);

/* ------------------------------------------------------------------------ */
/* Query strings and application/x-www-form-urlencoded bodies                */
/* ------------------------------------------------------------------------ */

#define HZ_QUERY_MAX_PAIRS 256 /**< default bound on pairs per query or form */

/** Iterates "k1=v1&k2=v2" ('&' only: ';' is an ordinary character, as in
 *  the WHATWG URL standard, so one parser cannot see two fields where
 *  another sees one). Empty pieces ("a=1&&b=2") are skipped; a piece
 *  without '=' is a key with an empty value. Caller-owned, no cleanup. */
typedef struct hz_query_iter {
    const char *p;    /**< borrowed: next unread byte of the caller's string */
    const char *end;  /**< borrowed: end of it */
    unsigned flags;   /**< HZ_URL_* applied by hz_query_next */
    size_t count;     /**< pairs returned so far */
    size_t max_pairs; /**< more pairs than this give HZ_EBUSY; settable after init */
} hz_query_iter;

/** Starts iterating a query string (the part after '?', without it), with
 *  HZ_URL_* flags for decoding ('+' stays '+' unless HZ_URL_PLUS_SPACE).
 *  max_pairs = HZ_QUERY_MAX_PAIRS. Cannot fail. thread: any. */
HZ_API void hz_query_iter_init(hz_query_iter *it, const char *query, size_t len, unsigned flags);
/** Starts iterating an application/x-www-form-urlencoded body: the same
 *  syntax with '+' decoding to ' '. Cannot fail. thread: any. */
HZ_API void hz_form_iter_init(hz_query_iter *it, const char *body, size_t len);
/** The next pair as raw views into the string (still encoded). Returns 1
 *  for a pair, 0 at the end, HZ_EBUSY past it->max_pairs. thread: any. */
HZ_API int hz_query_next_raw(hz_query_iter *it, hz_str *key, hz_str *value);
/** The next pair decoded into key (keycap) and value (valcap), both
 *  NUL-terminated; keylen/vallen (may be NULL) get the decoded lengths.
 *  Returns 1 for a pair, 0 at the end, HZ_EBUSY past it->max_pairs,
 *  HZ_EINVAL for a bad escape (see hz_url_decode), HZ_ERANGE if a buffer
 *  is too small. After an error the iterator has moved past that pair, so
 *  a caller may skip it and go on. thread: any. */
HZ_API int hz_query_next(hz_query_iter *it, char *key, size_t keycap, size_t *keylen, char *value,
                         size_t valcap, size_t *vallen);
/** Decodes the value of the first pair whose decoded key equals name into
 *  dst (NUL-terminated). '+' stays '+'. Returns the value's length;
 *  HZ_ENOENT if no pair has that key; HZ_EINVAL (bad escape in a key
 *  scanned or in the value); HZ_ERANGE (dst too small); HZ_EBUSY (no match
 *  within HZ_QUERY_MAX_PAIRS pairs). thread: any. */
HZ_API long hz_query_get(const char *query, size_t len, const char *name, char *dst, size_t cap);
/** hz_query_get for an x-www-form-urlencoded body ('+' is ' '); same return codes.
 *  thread: any. */
HZ_API long hz_form_get(const char *body, size_t len, const char *name, char *dst, size_t cap);

/* ------------------------------------------------------------------------ */
/* Cookies (RFC 6265 §4.2 "Cookie" request header)                           */
/* ------------------------------------------------------------------------ */

#define HZ_COOKIE_MAX_PAIRS 128 /**< default bound on pairs per Cookie header */

/** Iterates the pairs of a Cookie header value; caller-owned, no cleanup. */
typedef struct hz_cookie_iter {
    const char *p;    /**< borrowed: next unread byte of the header value */
    const char *end;  /**< borrowed */
    size_t count;     /**< pairs seen so far, malformed ones included */
    size_t max_pairs; /**< more give HZ_EBUSY; settable after init */
} hz_cookie_iter;

/** Starts iterating a Cookie header value "a=b; c=d". max_pairs =
 *  HZ_COOKIE_MAX_PAIRS. Cannot fail. thread: any. */
HZ_API void hz_cookie_iter_init(hz_cookie_iter *it, const char *header, size_t len);
/** The next pair as views into the header: name is an RFC 9110 token;
 *  value is the cookie-value with its surrounding DQUOTEs removed (cookie
 *  values are not percent-decoded: RFC 6265 gives them no encoding).
 *  Whitespace around ';' and '=' is tolerated. Returns 1 for a pair, 0 at
 *  the end, HZ_EBUSY past max_pairs, HZ_EINVAL for a malformed pair (no
 *  '=', bad name, a byte outside cookie-octet, an unterminated quote): the
 *  iterator has then moved to the next ';', so a caller may skip the bad
 *  pair and go on. thread: any. */
HZ_API int hz_cookie_next(hz_cookie_iter *it, hz_str *name, hz_str *value);
/** Copies the value of the first well-formed cookie called name into dst
 *  (NUL-terminated). Malformed pairs are skipped: a browser sends cookies
 *  of every site on the domain and one bad one must not hide the rest.
 *  Returns the length; HZ_ENOENT (absent); HZ_ERANGE (dst too small);
 *  HZ_EBUSY (not found within HZ_COOKIE_MAX_PAIRS pairs). thread: any. */
HZ_API long hz_cookie_get(const char *header, size_t len, const char *name, char *dst, size_t cap);

/* ------------------------------------------------------------------------ */
/* multipart/form-data (RFC 7578, RFC 2046 §5.1), streamed                   */
/* ------------------------------------------------------------------------ */

#define HZ_MULTIPART_BOUNDARY_MAX 70 /**< RFC 2046 §5.1.1 */
#define HZ_MULTIPART_HEADER_MAX 4096 /**< room for one part's header block */
#define HZ_MULTIPART_MAX_PARTS 128   /**< default bound on parts per body */

/** Finds the boundary parameter of a Content-Type value, which must be
 *  multipart/form-data (case-insensitive; the boundary may be quoted).
 *  boundary becomes a view into content_type. Returns 0; HZ_EINVAL for
 *  another media type, a missing, empty, duplicate or invalid boundary
 *  (over 70 chars, a char outside RFC 2046 bchars, or ending in a space).
 *  thread: any. */
HZ_API int hz_multipart_boundary(const char *content_type, size_t len, hz_str *boundary);

/** One part's headers, as views valid only during the on_part call. */
typedef struct hz_multipart_part {
    size_t index;        /**< 0 for the first part */
    hz_str name;         /**< Content-Disposition name, as sent (browsers percent-encode
                            '"', CR and LF in it; a backslash is literal) */
    hz_str filename;     /**< its filename; ptr NULL when absent */
    hz_str content_type; /**< Content-Type value; ptr NULL when absent */
    hz_str headers;      /**< the raw header block, CRLF-separated */
} hz_multipart_part;

/** Callbacks (any may be NULL). Return 0 to go on, or a negative value to
 *  stop: hz_multipart_feed then returns that value, and keeps returning it. */
typedef struct hz_multipart_cb {
    /** A part begins; its data follows. */
    int (*on_part)(void *ud, const hz_multipart_part *part);
    /** A piece of the current part's content, in order (the pieces of one
     *  part may be of any size, empty never). data: valid during the call. */
    int (*on_data)(void *ud, const void *data, size_t len);
    /** The current part is complete (its closing delimiter was read). */
    int (*on_part_end)(void *ud);
} hz_multipart_cb;

/** A push parser over a multipart/form-data body; caller-owned (may live
 *  on the stack), no allocation, no cleanup. Fields are private except the
 *  two limits, which may be lowered after init. */
typedef struct hz_multipart {
    size_t max_parts;  /**< HZ_EBUSY when a body has more parts; default HZ_MULTIPART_MAX_PARTS */
    size_t max_header; /**< bytes of one part's header block, HZ_ERANGE beyond;
                          default and upper bound HZ_MULTIPART_HEADER_MAX */
    /* private: */
    const char *error;                         /**< static text of the first error; NULL if none */
    hz_multipart_cb cb;                        /**< copy */
    void *ud;                                  /**< borrowed: passed to the callbacks */
    int state;                                 /**< parser state */
    int rc;                                    /**< sticky error code, 0 while healthy */
    int in_part;                               /**< data goes to a part (1) or the preamble (0) */
    size_t match;                              /**< bytes of the delimiter matched so far */
    size_t dlen;                               /**< length of delim */
    size_t nparts;                             /**< parts begun */
    size_t hlen;                               /**< bytes in hdr */
    size_t pad;                                /**< transport padding seen after a delimiter */
    char delim[4 + HZ_MULTIPART_BOUNDARY_MAX]; /**< "\r\n--" boundary */
    char hdr[HZ_MULTIPART_HEADER_MAX];         /**< the current part's header block */
} hz_multipart;

/** Prepares mp for one body delimited by boundary (as returned by
 *  hz_multipart_boundary; copied). Returns 0 or HZ_EINVAL (empty, over
 *  70 bytes, bad bchars). thread: any. */
HZ_API int hz_multipart_init(hz_multipart *mp, const char *boundary, size_t len,
                             const hz_multipart_cb *cb, void *ud);
/** Parses the next len bytes of the body, in any split (one byte at a time
 *  works), calling the callbacks. A preamble before the first delimiter
 *  and an epilogue after the last are ignored. Returns 0; HZ_EPROTO for
 *  malformed input (hz_multipart_error() says what); HZ_ERANGE for a part
 *  header block over max_header; HZ_EBUSY for more than max_parts parts;
 *  or a callback's negative value. Errors are sticky. thread: any (one
 *  thread per parser). */
HZ_API int hz_multipart_feed(hz_multipart *mp, const void *data, size_t len);
/** Call at the end of the body: 0 when the final delimiter ("--boundary--")
 *  was read; HZ_EPROTO if the body ended before it (truncated upload or
 *  no delimiter at all); the sticky error if one occurred. thread: any. */
HZ_API int hz_multipart_finish(hz_multipart *mp);
/** A static, human-readable description of the first error, or NULL.
 *  thread: any. */
HZ_API const char *hz_multipart_error(const hz_multipart *mp);

/* ------------------------------------------------------------------------ */
/* Forms as they stream: x-www-form-urlencoded and multipart/form-data       */
/* ------------------------------------------------------------------------ */

#define HZ_FORM_NAME_MAX 1024          /**< bound on max_name (decoded name bytes) */
#define HZ_FORM_MAX_FIELDS 128         /**< default bound on fields per body */
#define HZ_FORM_MAX_FIELD 65536        /**< default bound on a plain field's value */
#define HZ_FORM_MAX_FILE (64ull << 20) /**< default bound on one file (64 MiB) */

/** The field being decoded, as the callbacks of hz_form_cb see it. Its
 *  strings are NUL-terminated copies, valid until on_field_end returns. */
typedef struct hz_form_field {
    size_t index;        /**< 0 for the first field of the body */
    hz_str name;         /**< the name, percent-decoded for url-encoded bodies;
                            a multipart name is as sent */
    hz_str filename;     /**< multipart: the part's filename, as sent; ptr NULL
                            for a plain field (every url-encoded one) */
    hz_str content_type; /**< multipart: the part's Content-Type; ptr NULL when absent */
    uint64_t size;       /**< value bytes delivered so far, the current piece
                            included: the total in on_field_end */
} hz_form_field;

/** What a form decoder calls, in order, for each field: on_field, on_data
 *  for each piece of the value (decoded; never empty; any size, split
 *  wherever the body was), on_field_end. Any may be NULL. Return 0 to go
 *  on or a negative value to stop: the decoder then returns that value
 *  (sticky). HZ_EAGAIN has no "pause" meaning here: it stops like any
 *  other error. */
typedef struct hz_form_cb {
    /** A field begins: f->name, f->filename and f->content_type are set. */
    int (*on_field)(void *ud, const hz_form_field *f);
    /** A piece of the field's value (len > 0); f->size includes it. */
    int (*on_data)(void *ud, const hz_form_field *f, const void *data, size_t len);
    /** The field is complete; f->size is its total. */
    int (*on_field_end)(void *ud, const hz_form_field *f);
} hz_form_cb;

/** Called once by hz_form_read() when the body is decoded, or not: status
 *  0 (every field was delivered and the body was well-formed), an hz_form
 *  error (hz_form_status() maps it to 413 or 400), a callback's own
 *  negative value, or HZ_ECLOSED / HZ_ECANCELED (the exchange ended
 *  first; res is then unusable). On an error the rest of the body is not
 *  read and the connection closes after the response: answer here (or
 *  earlier). thread: loop. */
typedef void (*hz_form_done_fn)(hz_req *req, int status, void *ud);

/** A streaming decoder of one form body, url-encoded or multipart; caller
 *  -owned (about 8.5 KiB: embed it in per-request state), no allocation,
 *  no cleanup. Only one field's name, filename and Content-Type are held
 *  (bounded); values and files go to the callbacks as they arrive. The
 *  public limits may be lowered (or max_file/max_field raised) after
 *  hz_form_init and before the first hz_form_feed. */
typedef struct hz_form {
    uint64_t max_file; /**< bytes of one file (a part with a filename) [HZ_ERANGE];
                          default HZ_FORM_MAX_FILE */
    size_t max_field;  /**< value bytes of one plain field [HZ_ERANGE];
                          default HZ_FORM_MAX_FIELD */
    size_t max_fields; /**< fields (pairs or parts) in the body [HZ_EBUSY];
                          default HZ_FORM_MAX_FIELDS */
    size_t max_name;   /**< name bytes [HZ_ERANGE]; default and bound HZ_FORM_NAME_MAX */
    size_t max_header; /**< multipart: one part's header block [HZ_ERANGE];
                          default and bound HZ_MULTIPART_HEADER_MAX */
    unsigned flags;    /**< HZ_URL_ALLOW_NUL: url-encoded values may hold NUL
                          (names never); multipart content is never checked */
    /* private: */
    const char *error;                      /**< static text of the first error; NULL if none */
    hz_form_cb cb;                          /**< copy */
    void *ud;                               /**< borrowed: passed to the callbacks */
    int kind;                               /**< url-encoded or multipart */
    int rc;                                 /**< sticky error, 0 while healthy */
    int state;                              /**< url-encoded: start of a pair, name or value */
    int pct;                                /**< url-encoded: hex digits of an escape still due */
    int hex;                                /**< url-encoded: the first digit's value */
    int in_field;                           /**< a field was announced and not ended */
    size_t nfields;                         /**< url-encoded: fields begun */
    hz_form_field field;                    /**< the current field; strings point into text */
    hz_req *req;                            /**< borrowed: the request hz_form_read streams */
    hz_form_done_fn done;                   /**< hz_form_read's callback; NULL once called */
    void *done_ud;                          /**< borrowed: passed to done */
    hz_multipart mp;                        /**< the multipart parser (multipart bodies) */
    char text[HZ_MULTIPART_HEADER_MAX + 4]; /**< name, filename, type: NUL-terminated */
} hz_form;

/** Prepares f for one body of media type content_type (the request's
 *  Content-Type value): application/x-www-form-urlencoded (any
 *  parameters) or multipart/form-data with a valid boundary, matched
 *  case-insensitively. cb is copied; ud goes to the callbacks. Returns 0,
 *  or HZ_EINVAL for another or missing type or a bad boundary (answer 415:
 *  hz_form_status). thread: any. */
HZ_API int hz_form_init(hz_form *f, const char *content_type, size_t len, const hz_form_cb *cb,
                        void *ud);
/** Decodes the next len bytes of the body, in any split, calling the
 *  callbacks. Url-encoded: pairs split on '&' (empty pieces skipped), name
 *  and value on the first '=', '+' is a space, "%XY" escapes are decoded
 *  across feeds. Returns 0; HZ_EPROTO for malformed input (a bad escape, a
 *  NUL the flags refuse, broken multipart: hz_form_error() says what);
 *  HZ_ERANGE for a value, file, name or part header block over its limit;
 *  HZ_EBUSY for more than max_fields fields; a callback's negative value.
 *  Errors are sticky. thread: any (one thread per decoder). */
HZ_API int hz_form_feed(hz_form *f, const void *data, size_t len);
/** Call at the end of the body: ends the last url-encoded field (an escape
 *  cut short is HZ_EPROTO); a multipart body must have ended with its final
 *  delimiter (HZ_EPROTO otherwise). 0 or the sticky error. thread: any. */
HZ_API int hz_form_finish(hz_form *f);
/** A static, human-readable text of the first error, or NULL. thread: any. */
HZ_API const char *hz_form_error(const hz_form *f);
/** The HTTP status for an hz_form result: 200 for 0; 413 for HZ_ERANGE and
 *  HZ_EBUSY (a limit); 400 for HZ_EPROTO (malformed); 415 for HZ_EINVAL
 *  (hz_form_init: not a form); 500 for anything else. thread: any. */
HZ_API int hz_form_status(int rc);
/** Streams req's body into f (initialised with hz_form_init): a route
 *  with HZ_ROUTE_STREAM_BODY, from its handler (a buffered route feeds
 *  hz_req_body() to hz_form_feed and hz_form_finish instead). f must stay
 *  valid until the exchange ends (free it in the response's on_done
 *  callback, which runs after done: the connection may still hold f when
 *  done runs); done runs exactly once (see hz_form_done_fn). Returns 0;
 *  HZ_EINVAL (NULL argument); or an error of hz_req_on_body (HZ_ESTATE:
 *  not a streamed route, or its body is already being read), and then done
 *  never runs. thread: loop. */
HZ_API int hz_form_read(hz_req *req, hz_form *f, hz_form_done_fn done, void *ud);

/* ------------------------------------------------------------------------ */
/* HTTP dates (RFC 9110 §5.6.7)                                              */
/* ------------------------------------------------------------------------ */

#define HZ_HTTP_DATE_LEN 29 /**< strlen("Sun, 06 Nov 1994 08:49:37 GMT") */

/** Formats Unix time t (seconds, UTC) as an IMF-fixdate
 *  ("Sun, 06 Nov 1994 08:49:37 GMT") into buf, NUL-terminated. Returns
 *  HZ_HTTP_DATE_LEN; HZ_ERANGE when len <= HZ_HTTP_DATE_LEN; HZ_EINVAL for
 *  a NULL buf or a year outside 0000-9999. thread: any. */
HZ_API long hz_http_date_format(int64_t t, char *buf, size_t len);
/** Parses s[0..len) as an HTTP-date: IMF-fixdate, or one of the two
 *  obsolete forms a recipient must accept (RFC 850 "Sunday, 06-Nov-94
 *  08:49:37 GMT", whose two-digit year is taken within 50 years of now,
 *  and asctime "Sun Nov  6 08:49:37 1994"). Names are case-sensitive, the
 *  whole input must match (no blanks around it), and the date must exist
 *  (no Feb 30; second 60, a leap second, is accepted). The day name is
 *  not checked against the date. 0 and *out (Unix seconds), or HZ_EINVAL.
 *  thread: any. */
HZ_API int hz_http_date_parse(const char *s, size_t len, int64_t *out);

#ifdef __cplusplus
}
#endif
#endif /* HTTPZ_UTIL_H */
