/* tls.c - the backend-independent part of TLS: configuration defaults. The
 * protocol itself lives in backends/tls-<name>/ behind hz_tls_vt. */
#include <string.h>
#include "internal.h"

void hz_tls_config_init(hz_tls_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->min_version = HZ_TLS_V1_2;
    cfg->ciphers = NULL; /* the backend's safe default (docs/tls.md) */
    cfg->alpn = "http/1.1";
}
