/* listen.c - opening a listener's sockets (TCP, a Unix-domain path, an
 * adopted descriptor) and reading systemd's socket-activation variables. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "listen.h"

#define HZ__LISTEN_BACKLOG 1024

static int set_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -1;
    return 0;
}

static int socks_alloc(hz__listener *l, const hz_allocator *a, unsigned n, int idx)
{
    l->socks = hz__calloc(a, sizeof(*l->socks) * n);
    if (!l->socks)
        return HZ_ENOMEM;
    l->nsocks = n;
    for (unsigned i = 0; i < n; i++) {
        l->socks[i].fd = -1;
        l->socks[i].listener = idx;
        atomic_init(&l->socks[i].users, 0);
    }
    return 0;
}

/* ---- TCP ----------------------------------------------------------------- */

static int open_tcp_sock(const struct sockaddr *sa, socklen_t slen, int reuseport)
{
    int fd = socket(sa->sa_family, SOCK_STREAM, 0);
    if (fd < 0)
        return hz__err_from_errno(errno);
    if (set_nonblock_cloexec(fd) < 0)
        goto fail;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
#if HZ_HAVE_SO_REUSEPORT
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
#else
    (void)reuseport;
#endif
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, sa, slen) < 0 || listen(fd, HZ__LISTEN_BACKLOG) < 0)
        goto fail;
    return fd;
fail:;
    int rc = hz__err_from_errno(errno);
    close(fd);
    return rc;
}

static int sockaddr_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return 0;
}

static int open_tcp(hz__listener *l, const hz_listener_config *lc, const hz_allocator *a, int idx,
                    unsigned nsocks)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    memset(&ss, 0, sizeof(ss));
    const char *addr = lc->addr ? lc->addr : "127.0.0.1";
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)lc->port);
        slen = sizeof(*s4);
    } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)lc->port);
        slen = sizeof(*s6);
    } else {
        return HZ_EADDR;
    }
    int rc = socks_alloc(l, a, nsocks, idx);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < nsocks; i++) {
        int fd = open_tcp_sock((struct sockaddr *)&ss, slen, nsocks > 1);
        if (fd < 0) {
            hz__listen_close(l, a);
            return fd;
        }
        l->socks[i].fd = fd;
        if (i == 0) {
            /* Port 0: the others bind to the port the first one got. */
            struct sockaddr_storage got;
            socklen_t gl = sizeof(got);
            if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0) {
                int p = sockaddr_port(&got);
                l->port = p;
                if (ss.ss_family == AF_INET)
                    s4->sin_port = htons((uint16_t)p);
                else
                    s6->sin6_port = htons((uint16_t)p);
            }
        }
    }
    return 0;
}

/* ---- Unix-domain --------------------------------------------------------- */

/* A file already at the path. Only a socket is ever removed, and only a
 * stale one: a connect() that is refused means nobody accepts there (a
 * server that died without removing it). A live server's socket, or any
 * other kind of file, is EADDRINUSE: never take over or delete those. */
static int clear_stale(const struct sockaddr_un *sun, socklen_t slen)
{
    struct stat st;
    if (lstat(sun->sun_path, &st) < 0)
        return errno == ENOENT ? 0 : hz__err_from_errno(errno);
    if (!S_ISSOCK(st.st_mode))
        return HZ_EADDRINUSE;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return hz__err_from_errno(errno);
    /* Nonblocking: a live server with a full backlog answers EAGAIN
     * instead of making this call wait. */
    int rc = set_nonblock_cloexec(fd) < 0 ? -1 : connect(fd, (const struct sockaddr *)sun, slen);
    int e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
        return HZ_EADDRINUSE;
    if (e == ENOENT)
        return 0; /* removed meanwhile */
    if (e != ECONNREFUSED)
        return hz__err_from_errno(e);
    if (unlink(sun->sun_path) < 0 && errno != ENOENT)
        return hz__err_from_errno(errno);
    return 0;
}

static int open_unix(hz__listener *l, const hz_listener_config *lc, const hz_allocator *a, int idx)
{
    struct sockaddr_un sun;
    size_t n = strlen(lc->unix_path);
    /* No abstract names ('\0' first, Linux only) and no silent truncation. */
    if (n == 0 || n >= sizeof(sun.sun_path) || lc->unix_mode > 07777)
        return HZ_EINVAL;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, lc->unix_path, n + 1);
    socklen_t slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    int rc = clear_stale(&sun, slen);
    if (rc < 0)
        return rc;
    if ((rc = socks_alloc(l, a, 1, idx)) < 0)
        return rc;
    l->is_unix = 1;
    l->unix_path_sz = n + 1;
    l->unix_path = hz__alloc(a, n + 1);
    if (!l->unix_path) {
        l->unix_path_sz = 0;
        hz__listen_close(l, a);
        return HZ_ENOMEM;
    }
    memcpy(l->unix_path, lc->unix_path, n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        rc = hz__err_from_errno(errno);
        hz__listen_close(l, a);
        return rc;
    }
    l->socks[0].fd = fd;
    if (set_nonblock_cloexec(fd) < 0 || bind(fd, (struct sockaddr *)&sun, slen) < 0) {
        rc = hz__err_from_errno(errno);
        hz__listen_close(l, a); /* not bound: nothing of ours to remove */
        return rc;
    }
    /* Ours from here: remember which file, and fix its mode before
     * listen(), so no client connects while the umask's mode holds. */
    struct stat st;
    if (lstat(l->unix_path, &st) < 0) {
        rc = hz__err_from_errno(errno); /* removed by someone else already */
        hz__listen_close(l, a);
        return rc;
    }
    l->unix_dev = (uint64_t)st.st_dev;
    l->unix_ino = (uint64_t)st.st_ino;
    if ((lc->unix_mode && chmod(l->unix_path, (mode_t)lc->unix_mode) < 0) ||
        listen(fd, HZ__LISTEN_BACKLOG) < 0) {
        rc = hz__err_from_errno(errno);
        hz__listen_close(l, a); /* removes the file it bound */
        return rc;
    }
    l->port = 0;
    return 0;
}

/* ---- adopted descriptors ------------------------------------------------- */

static int adopt_fd(hz__listener *l, int fd, const hz_allocator *a, int idx)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
        return HZ_EINVAL; /* closed, or a file, pipe, terminal */
    int v = 0;
    socklen_t vl = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &vl) < 0 || v != SOCK_STREAM)
        return HZ_EINVAL; /* datagram, seqpacket */
    v = 0;
    vl = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) < 0 || !v)
        return HZ_EINVAL; /* listen() never called, or a connected socket */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return HZ_EINVAL;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6 && ss.ss_family != AF_UNIX)
        return HZ_EINVAL;
    int rc = socks_alloc(l, a, 1, idx);
    if (rc < 0)
        return rc;
    /* The loop never blocks in accept(); O_NONBLOCK is on the open file
     * description, so a process that shares it (the one handing over)
     * sees it too, which an httpz server already has. */
    if (set_nonblock_cloexec(fd) < 0) {
        rc = hz__err_from_errno(errno);
        hz__listen_close(l, a); /* fd is still -1 in socks: not closed */
        return rc;
    }
    l->socks[0].fd = fd;
    l->port = sockaddr_port(&ss);
    l->is_unix = ss.ss_family == AF_UNIX;
    return 0;
}

int hz__listen_open(hz__listener *l, const hz_listener_config *lc, const hz_allocator *a, int idx,
                    unsigned nsocks)
{
    if (lc->fd < -1)
        return HZ_EINVAL;
    if (lc->fd >= 0) {
        if (lc->addr || lc->port || lc->unix_path || lc->unix_mode)
            return HZ_EINVAL;
        return adopt_fd(l, lc->fd, a, idx);
    }
    if (lc->unix_path) {
        if (lc->addr || lc->port)
            return HZ_EINVAL;
        return open_unix(l, lc, a, idx);
    }
    if (lc->unix_mode)
        return HZ_EINVAL; /* a mode without a path: a mistake */
    return open_tcp(l, lc, a, idx, nsocks ? nsocks : 1);
}

void hz__listen_close(hz__listener *l, const hz_allocator *a)
{
    for (unsigned i = 0; i < l->nsocks; i++) {
        if (l->socks[i].fd >= 0)
            close(l->socks[i].fd);
        l->socks[i].fd = -1;
    }
    if (l->socks)
        hz__free(a, l->socks, sizeof(*l->socks) * l->nsocks);
    l->socks = NULL;
    l->nsocks = 0;
    if (l->unix_path) {
        /* A new server may have replaced the file meanwhile (a restart
         * that found ours stale, or removed it): remove only our own. */
        struct stat st;
        if (l->unix_ino && lstat(l->unix_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
            (uint64_t)st.st_dev == l->unix_dev && (uint64_t)st.st_ino == l->unix_ino)
            unlink(l->unix_path);
        hz__free(a, l->unix_path, l->unix_path_sz);
        l->unix_path = NULL;
        l->unix_path_sz = 0;
    }
}

/* ---- systemd socket activation ------------------------------------------- */

#define HZ__SD_FDS_START 3 /* SD_LISTEN_FDS_START */

/* Decimal digits only, as systemd writes them; no sign, no spaces. */
static int parse_ulong(const char *s, unsigned long *out)
{
    unsigned long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (ULONG_MAX - 9) / 10)
            return -1;
        v = v * 10 + (unsigned long)(*s - '0');
    }
    *out = v;
    return 0;
}

static int listen_fds_read(hz_listen_fd *out, int max)
{
    const char *pid_s = getenv("LISTEN_PID");
    const char *fds_s = getenv("LISTEN_FDS");
    const char *names = getenv("LISTEN_FDNAMES");
    unsigned long pid, n;
    if (!pid_s || !fds_s)
        return 0;
    if (parse_ulong(pid_s, &pid) < 0 || parse_ulong(fds_s, &n) < 0)
        return HZ_EINVAL;
    if (pid != (unsigned long)getpid())
        return 0; /* meant for a parent that forked us */
    if (n > (unsigned long)(INT_MAX - HZ__SD_FDS_START))
        return HZ_EINVAL;
    /* One name per descriptor, each short enough for hz_listen_fd.name:
     * checked before any descriptor is touched. */
    if (names) {
        unsigned long fields = 0;
        for (const char *p = names; *names;) {
            const char *e = strchr(p, ':');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len >= sizeof(out->name))
                return HZ_EINVAL;
            fields++;
            if (!e)
                break;
            p = e + 1;
        }
        if (fields != n)
            return HZ_EINVAL;
    }
    const char *p = names;
    for (unsigned long i = 0; i < n; i++) {
        int fd = (int)(HZ__SD_FDS_START + i);
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
            return HZ_EINVAL; /* not open: the variables lie */
        size_t len = 0;
        if (p) {
            const char *e = strchr(p, ':');
            len = e ? (size_t)(e - p) : strlen(p);
        }
        if ((long)i < max) {
            out[i].fd = fd;
            if (p) {
                memcpy(out[i].name, p, len);
                out[i].name[len] = 0;
            } else {
                memcpy(out[i].name, "unknown", sizeof("unknown"));
            }
        }
        if (p)
            p += len + (p[len] == ':');
    }
    return (int)n;
}

int hz_listen_fds(hz_listen_fd *out, int max)
{
    if (max < 0 || (max > 0 && !out))
        return HZ_EINVAL;
    int rc = listen_fds_read(out, max);
    /* As sd_listen_fds(1): whatever the outcome, children must not
     * mistake these for their own. */
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return rc;
}
