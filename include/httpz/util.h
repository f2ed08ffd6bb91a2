/* httpz/util.h - decoding helpers: percent-decoding, path normalisation,
 * query strings, url-encoded and multipart forms, cookies. Included by
 * <httpz/httpz.h>; do not include it directly. */
#ifndef HTTPZ_UTIL_H
#define HTTPZ_UTIL_H

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif /* HTTPZ_UTIL_H */
