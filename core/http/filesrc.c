/* filesrc.c - hz_res_sendfile: a file body as an hz_body_source, sent with
 * sendfile() on plain sockets where the OS has it and read piece by piece
 * (pread) otherwise. The connection drives it like any source. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "internal.h"
#include "exchange.h"
#if HZ_HAVE_SENDFILE_LINUX
#include <sys/sendfile.h>
#elif HZ_HAVE_SENDFILE_DARWIN
#include <sys/socket.h>
#include <sys/uio.h>
#endif

typedef struct filesrc { /* owner: the source (freed by fsrc_done) */
    hz_allocator a;      /* copy of the server's (thread-safe with an executor) */
    int fd;              /* owns (a reference when loop is set) */
    hz__loop *loop;      /* borrowed: outlives the source; set: fd is the loop's
                            open-file cache's reference, given back in done */
    uint64_t off;        /* next byte of the file */
    uint64_t left;       /* bytes not handed out yet */
} filesrc;

static long fsrc_read(void *ud, void *buf, size_t len)
{
    filesrc *f = ud;
    if (!f->left)
        return 0;
    if (len > f->left)
        len = (size_t)f->left;
    ssize_t r;
    do
        r = pread(f->fd, buf, len, (off_t)f->off);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return hz__err_from_errno(errno);
    if (r == 0)
        return HZ_EIO; /* the file shrank: the promised length cannot be met */
    f->off += (uint64_t)r;
    f->left -= (uint64_t)r;
    return (long)r;
}

#if HZ_HAVE_SENDFILE_LINUX
/* Linux's sendfile() has no MSG_NOSIGNAL: a peer that reset the connection
 * would raise SIGPIPE in the embedding process. Block it around the calls and
 * take back one we caused (sigtimedwait, zero timeout), as libcurl does. */
static void pipe_block(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

static void pipe_restore(const sigset_t *old, int epipe)
{
    if (epipe && !sigismember(old, SIGPIPE)) {
        sigset_t set, pend;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        struct timespec zero = {0, 0};
        if (sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE))
            sigtimedwait(&set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}
#endif

#if HZ_HAVE_SENDFILE_LINUX || HZ_HAVE_SENDFILE_DARWIN
/* One sendfile() call: bytes sent, or -errno (0 never: -EIO for a file
 * that shrank). */
static long sf_once(filesrc *f, int sock, size_t want)
{
#if HZ_HAVE_SENDFILE_LINUX
    off_t o = (off_t)f->off;
    ssize_t n = sendfile(sock, f->fd, &o, want);
    if (n < 0)
        return -errno;
    return n ? (long)n : -EIO;
#else
    off_t n = (off_t)want;
    int r = sendfile(f->fd, sock, (off_t)f->off, &n, NULL, 0);
    if (n > 0)
        return (long)n; /* partial progress before EAGAIN counts */
    if (r < 0)
        return -errno;
    return -EIO;
#endif
}

static long fsrc_sendfile(void *ud, int sock, size_t max)
{
    filesrc *f = ud;
    if (max > f->left)
        max = (size_t)f->left;
    long sent = 0, rc = 0;
#if HZ_HAVE_SENDFILE_LINUX
    sigset_t old;
    pipe_block(&old);
#endif
    while ((size_t)sent < max) {
        long n = sf_once(f, sock, max - (size_t)sent);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            rc = n;
            break;
        }
        f->off += (uint64_t)n;
        f->left -= (uint64_t)n;
        sent += n;
    }
#if HZ_HAVE_SENDFILE_LINUX
    pipe_restore(&old, rc == -EPIPE);
#endif
    if (sent > 0)
        return sent;
    if (rc == -EAGAIN || rc == -EWOULDBLOCK)
        return HZ_EAGAIN;
    /* A file system or socket type sendfile does not support: read. */
    if (rc == -EINVAL || rc == -ENOSYS || rc == -EOPNOTSUPP || rc == -ENOTSUP)
        return HZ_ENOTSUP;
    if (rc == -EIO)
        return HZ_EIO;
    return hz__err_from_errno((int)-rc);
}
#endif

int hz__filesrc_is(const hz_body_source *src)
{
    return src->read == fsrc_read;
}

long hz__filesrc_pread(void *ud, void *buf, size_t len)
{
    filesrc *f = ud;
    if (len > f->left)
        return HZ_EIO; /* never past the promised length */
    size_t got = 0;
    while (got < len) {
        long n = fsrc_read(f, (char *)buf + got, len - got);
        if (n <= 0)
            return n < 0 ? n : HZ_EIO;
        got += (size_t)n;
    }
    return (long)got;
}

long hz__filesrc_preadv(void *ud, struct iovec *iov, int n)
{
    filesrc *f = ud;
    size_t want = 0;
    for (int i = 0; i < n; i++)
        want += iov[i].iov_len;
    if (want > f->left)
        return HZ_EIO; /* never past the promised length */
    size_t got = 0;
    while (n > 0) {
        ssize_t r = preadv(f->fd, iov, n, (off_t)f->off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? hz__err_from_errno(errno) : HZ_EIO; /* shrank */
        f->off += (uint64_t)r;
        f->left -= (uint64_t)r;
        got += (size_t)r;
        /* A short read (a signal, a file system that reads piecewise): go on
         * after the last byte read; iov is the caller's to change. */
        size_t k = (size_t)r;
        while (n > 0 && k >= iov->iov_len) {
            k -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= k;
        }
    }
    return (long)got;
}

static void fsrc_done(void *ud, int status)
{
    filesrc *f = ud;
    (void)status;
    if (f->loop)
        hz__fcache_release(f->loop, f->fd);
    else
        close(f->fd);
    hz_allocator a = f->a;
    hz__free(&a, f, sizeof(*f));
}

int hz_res_sendfile(hz_res *res, int status, int fd, uint64_t offset, uint64_t len)
{
    if (fd < 0)
        return HZ_EINVAL;
    if (!res) {
        close(fd);
        return HZ_EINVAL;
    }
    /* A reference of the loop's open-file cache is given back, not closed
     * (only the loop has any: the cache is never used on a worker). */
    hz__loop *cl = res->ops->on_loop && hz__fcache_holds(res->ex->loop, fd) ? res->ex->loop : NULL;
    if (status < 200 || status > 999 || len > (uint64_t)INT64_MAX) {
        cl ? hz__fcache_release(cl, fd) : (void)close(fd);
        return HZ_EINVAL;
    }
    const hz_allocator *a = hz__res_alloc(res);
    filesrc *f = hz__alloc(a, sizeof(*f));
    if (!f) {
        cl ? hz__fcache_release(cl, fd) : (void)close(fd);
        return HZ_ENOMEM;
    }
    f->a = *a;
    f->fd = fd;
    f->loop = cl;
    f->off = offset;
    f->left = len;
    hz_body_source src = {
        .read = fsrc_read,
#if HZ_HAVE_SENDFILE_LINUX || HZ_HAVE_SENDFILE_DARWIN
        .sendfile = fsrc_sendfile,
#endif
        .done = fsrc_done,
        .ud = f,
    };
    int rc = hz_res_send_source(res, status, (int64_t)len, &src);
    if (rc < 0)
        fsrc_done(f, rc); /* not taken: the fd is still ours to close */
    return rc;
}
