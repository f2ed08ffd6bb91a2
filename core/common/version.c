/* version.c - hz_version_info: what this copy of the library was built with. */
#include "internal.h"

static const hz_build_info build_info = {
    .major = HZ_VERSION_MAJOR,
    .minor = HZ_VERSION_MINOR,
    .patch = HZ_VERSION_PATCH,
    .version = HZ_VERSION_STRING,
    .poller = HZ_POLLER_NAME,
    .tls = HZ_TLS_NAME,
    .executor = HZ_EXECUTOR_NAME,
    .http2 = HZ_HTTP2_NAME,
};

const hz_build_info *hz_version_info(void)
{
    return &build_info;
}
