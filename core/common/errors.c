/* errors.c - hz_strerror, hz_err_name and the errno mapping. */
#include <errno.h>
#include "internal.h"

const char *hz_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define HZ__ERR_MSG_(name, val, msg)                                                               \
    case (val):                                                                                    \
        return msg;
        HZ_ERRNO_MAP(HZ__ERR_MSG_)
#undef HZ__ERR_MSG_
    default:
        return "unknown error";
    }
}

const char *hz_err_name(int err)
{
    switch (err) {
    case 0:
        return "OK";
#define HZ__ERR_NAME_(name, val, msg)                                                              \
    case (val):                                                                                    \
        return #name;
        HZ_ERRNO_MAP(HZ__ERR_NAME_)
#undef HZ__ERR_NAME_
    default:
        return "UNKNOWN";
    }
}

int hz__err_from_errno(int err)
{
    switch (err) {
    case 0:
        return 0;
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EINPROGRESS:
        return HZ_EAGAIN;
    case ENOMEM:
    case ENOBUFS:
        return HZ_ENOMEM;
    case EINVAL:
    case EBADF:
        return HZ_EINVAL;
    case ECANCELED:
        return HZ_ECANCELED;
    case EIO:
        return HZ_EIO;
    case ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
    case EOPNOTSUPP:
#endif
    case ENOSYS:
        return HZ_ENOTSUP;
    case EPIPE:
    case ECONNRESET:
    case ECONNABORTED:
    case ENOTCONN:
        return HZ_ECLOSED;
    case ETIMEDOUT:
        return HZ_ETIMEDOUT;
    case EADDRINUSE:
        return HZ_EADDRINUSE;
    case EADDRNOTAVAIL:
    case EAFNOSUPPORT:
        return HZ_EADDR;
    case EACCES:
    case EPERM:
        return HZ_EACCES;
    case EMFILE:
    case ENFILE:
        return HZ_EMFILE;
    case ERANGE:
    case E2BIG:
    case EOVERFLOW:
        return HZ_ERANGE;
    case EPROTO:
        return HZ_EPROTO;
    case ENOENT:
        return HZ_ENOENT;
    case EBUSY:
        return HZ_EBUSY;
    default:
        return HZ_ESYS;
    }
}

int hz_err_from_errno(int err)
{
    return hz__err_from_errno(err);
}
