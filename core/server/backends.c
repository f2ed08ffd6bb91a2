/* backends.c - the table of pollers compiled into this build. Uses the build
 * macros from build.h (set by CMake's backend selection), not OS macros. */
#include "internal.h"

const hz_poller_vt *const hz_pollers[] = {
#if HZ_POLLER_IS_IO_URING
    &hz_poller_io_uring,
    &hz_poller_epoll,
#elif HZ_POLLER_IS_EPOLL
    &hz_poller_epoll,
#if HZ_HAVE_POLLER_KQUEUE
    &hz_poller_kqueue,
#endif
#else
    &hz_poller_kqueue,
#if HZ_HAVE_POLLER_EPOLL
    &hz_poller_epoll,
#endif
#endif
    NULL,
};
