/* static.c - serving a directory: safe path resolution, content types,
 * conditional and range requests, directory index and listing, and file
 * bodies (hz_res_sendfile) driven by the connection's write path with
 * sendfile() or, on TLS and elsewhere, pread() into the output buffer. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/socket.h>
#include "conn.h"
#if HZ_HAVE_SENDFILE_LINUX
#include <sys/sendfile.h>
#elif HZ_HAVE_SENDFILE_DARWIN
#include <sys/uio.h>
#endif

#define HZ_SF_CHUNK (256u << 10)  /* bytes per sendfile call */
#define HZ_PUMP_BUDGET (1u << 20) /* file bytes per connection and loop iteration */
#define HZ_COPY_CHUNK 16384u      /* bytes per pread in copy mode */
#define HZ_STATIC_PATH_MAX 4096u  /* decoded request path */
#define HZ_LISTING_MAX 10000u     /* entries in a listing */
#define HZ_WORKER_MAX (16u << 20) /* file read whole for an executor handler */
#define HZ_FILE_OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

struct hz_static {   /* owner: the caller of hz_static_create */
    hz_allocator a;  /* copied */
    int root_fd;     /* owns */
    char *root_real; /* owns: realpath of root (follow_symlinks checks) */
    size_t root_real_len;
    char *index;         /* owns or NULL */
    char *cache_control; /* owns or NULL */
    int listing;
    int follow_symlinks;
};

/* ------------------------------------------------------------------------ */
/* Content types                                                             */
/* ------------------------------------------------------------------------ */

static const struct {
    const char *ext;
    const char *type;
} mime_table[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"svg", "image/svg+xml"},
    {"ico", "image/x-icon"},
    {"bmp", "image/bmp"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
};

const char *hz_mime_type(const char *name, size_t len)
{
    static const char dflt[] = "application/octet-stream";
    if (!name)
        return dflt;
    size_t i = len;
    while (i > 0 && name[i - 1] != '.' && name[i - 1] != '/')
        i--;
    /* No dot, a dot in a directory name, or a leading-dot name (".bashrc"). */
    if (i == 0 || name[i - 1] != '.' || i == 1 || name[i - 2] == '/')
        return dflt;
    const char *ext = name + i;
    size_t el = len - i;
    for (size_t k = 0; k < HZ_ARRAY_LEN(mime_table); k++) {
        if (strlen(mime_table[k].ext) == el && !strncasecmp(mime_table[k].ext, ext, el))
            return mime_table[k].type;
    }
    return dflt;
}

/* ------------------------------------------------------------------------ */
/* File bodies                                                               */
/* ------------------------------------------------------------------------ */

static void file_close(struct hz_req *ex)
{
    if (ex->file_open) {
        close(ex->file_fd);
        ex->file_open = 0;
        ex->file_fd = -1;
    }
    ex->file_left = 0;
}

void hz__file_release(struct hz_req *ex)
{
    file_close(ex);
}

/* The whole body is out of the file (in the socket or the output buffer):
 * the response is complete, as hz_res_send would have left it. */
static void file_done(hz__conn *c, struct hz_req *ex)
{
    file_close(ex);
    ex->res_done = 1;
    if (hz__buf_pending(&c->out))
        c->nqueued++;
    /* The process loop that called the flush does not look again. */
    hz__loop_ready(c->loop, c);
}

int hz_res_sendfile(hz_res *res, int status, int fd, uint64_t offset, uint64_t len)
{
    hz_req *ex = res ? res->ex : NULL;
    if (fd < 0)
        return HZ_EINVAL;
    if (!ex || status < 200 || status > 999) {
        close(fd);
        return HZ_EINVAL;
    }
    /* An executor worker records its response for the loop: a file
     * descriptor is not part of what it can record. */
    if (!pthread_equal(pthread_self(), ex->loop->thread)) {
        close(fd);
        return HZ_ENOTSUP;
    }
    hz__conn *c = ex->conn;
    if (!c || c->closing) {
        close(fd);
        return HZ_ECLOSED;
    }
    if (ex->res_started) {
        close(fd);
        return HZ_ESTATE;
    }
    int rc = hz__res_head(ex, status, len);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    ex->body_bytes = len;
    ex->file_fd = fd;
    ex->file_open = 1;
    ex->file_off = offset;
    ex->file_left = ex->no_body ? 0 : len;
    if (!ex->file_left) {
        file_done(c, ex);
        return 0;
    }
    if (!c->in_process)
        hz__loop_ready(c->loop, c);
    return 0;
}

static void count_out(hz__conn *c, long n)
{
    hz__m_add(&c->loop->metrics, HZ_MS_BYTES_OUT, (uint64_t)n);
    c->last_io = c->loop->now;
}

/* Fairness: a fast client must not keep the loop on one file. Waiting for
 * writability brings the pump back next iteration (the poller is level-
 * triggered, so a writable socket is reported at once). */
static long yield(hz__conn *c)
{
    c->wblocked = 1;
    return 1;
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

static long pump_sendfile_loop(hz__conn *c, struct hz_req *ex, int *epipe);

/* Sends file bytes with sendfile(). 1: sent what it could (done or
 * blocked); 0: not usable here (copy instead); < 0: error. */
static long pump_sendfile(hz__conn *c, struct hz_req *ex)
{
    int epipe = 0;
#if HZ_HAVE_SENDFILE_LINUX
    sigset_t old;
    pipe_block(&old);
    long rc = pump_sendfile_loop(c, ex, &epipe);
    pipe_restore(&old, epipe);
    return rc;
#else
    return pump_sendfile_loop(c, ex, &epipe);
#endif
}

static long pump_sendfile_loop(hz__conn *c, struct hz_req *ex, int *epipe)
{
#if HZ_HAVE_SENDFILE_LINUX || HZ_HAVE_SENDFILE_DARWIN
    if (c->sock.tp != &hz__transport_socket || ex->file_copy)
        return 0;
    int first = 1;
    uint64_t done = 0;
    while (ex->file_left) {
        size_t want = ex->file_left < HZ_SF_CHUNK ? (size_t)ex->file_left : HZ_SF_CHUNK;
        long sent;
        int err = 0;
#if HZ_HAVE_SENDFILE_LINUX
        off_t o = (off_t)ex->file_off;
        ssize_t n = sendfile(c->sock.fd, ex->file_fd, &o, want);
        sent = n > 0 ? (long)n : 0;
        if (n < 0)
            err = errno;
        else if (n == 0)
            return HZ_EIO; /* the file shrank: the promised length cannot be met */
#else
        off_t n = (off_t)want;
        int r = sendfile(ex->file_fd, c->sock.fd, (off_t)ex->file_off, &n, NULL, 0);
        sent = (long)n;
        if (r < 0)
            err = errno;
        else if (n == 0)
            return HZ_EIO;
#endif
        if (sent > 0) {
            ex->file_off += (uint64_t)sent;
            ex->file_left -= (uint64_t)sent;
            count_out(c, sent);
            first = 0;
            done += (uint64_t)sent;
        }
        if (!err) {
            if (done >= HZ_PUMP_BUDGET && ex->file_left)
                return yield(c);
            continue;
        }
        if (err == EINTR)
            continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            c->wblocked = 1;
            return 1;
        }
        /* A file system or socket type sendfile does not support. */
        if (first && (err == EINVAL || err == ENOSYS || err == EOPNOTSUPP || err == ENOTSUP)) {
            ex->file_copy = 1;
            return 0;
        }
        *epipe = err == EPIPE;
        return hz__err_from_errno(err);
    }
    return 1;
#else
    (void)c;
    (void)ex;
    (void)epipe;
    return 0;
#endif
}

/* Copy mode: pread() into the output buffer, then the transport's send, so a
 * TLS record layer that must retry with the same bytes finds them there. */
static long pump_copy(hz__conn *c, struct hz_req *ex)
{
    uint64_t done = 0;
    while (ex->file_left || hz__buf_pending(&c->out)) {
        if (hz__buf_pending(&c->out)) {
            long n = c->sock.tp->send(&c->sock, c->out.data + c->out.off, hz__buf_pending(&c->out));
            if (n > 0) {
                c->out.off += (uint32_t)n;
                count_out(c, n);
                done += (uint64_t)n;
                if (done >= HZ_PUMP_BUDGET && (ex->file_left || hz__buf_pending(&c->out)))
                    return yield(c);
                continue;
            }
            if (n == HZ_EAGAIN || n == 0) {
                c->wblocked = 1;
                return 1;
            }
            return n;
        }
        if (!ex->file_left)
            break;
        c->out.off = c->out.len = 0;
        size_t want = ex->file_left < HZ_COPY_CHUNK ? (size_t)ex->file_left : HZ_COPY_CHUNK;
        if (hz__buf_reserve(&c->out, &c->loop->bufs, want, UINT32_MAX) < 0)
            return HZ_ENOMEM;
        ssize_t r;
        do
            r = pread(ex->file_fd, c->out.data + c->out.len, want, (off_t)ex->file_off);
        while (r < 0 && errno == EINTR);
        if (r <= 0)
            return HZ_EIO; /* read error, or the file shrank */
        c->out.len += (uint32_t)r;
        ex->file_off += (uint64_t)r;
        ex->file_left -= (uint64_t)r;
    }
    return 1;
}

long hz__file_pump(hz__conn *c)
{
    struct hz_req *ex = c->ex;
    if (!ex || !ex->file_open || !ex->file_left || c->wblocked)
        return 0;
    long rc = 0;
    if (!hz__buf_pending(&c->out))
        rc = pump_sendfile(c, ex);
    if (rc == 0)
        rc = pump_copy(c, ex);
    if (rc < 0) {
        hz__conn_why(c, HZ_CLOSE_ERROR);
        hz__conn_close(c);
        return rc;
    }
    if (!ex->file_left)
        file_done(c, ex);
    if (!hz__buf_pending(&c->out)) {
        c->out.off = c->out.len = 0;
        if (!ex->file_open)
            c->wblocked = 0;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

void hz_static_config_init(hz_static_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->index = "index.html";
}

static char *dup_str(const hz_allocator *a, const char *s)
{
    size_t n = strlen(s);
    char *p = hz__alloc(a, n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

void hz_static_destroy(hz_static *st)
{
    if (!st)
        return;
    if (st->root_fd >= 0)
        close(st->root_fd);
    if (st->root_real)
        hz__free(&st->a, st->root_real, st->root_real_len + 1);
    if (st->index)
        hz__free(&st->a, st->index, strlen(st->index) + 1);
    if (st->cache_control)
        hz__free(&st->a, st->cache_control, strlen(st->cache_control) + 1);
    hz_allocator a = st->a;
    hz__free(&a, st, sizeof(*st));
}

int hz_static_create(hz_static **out, const hz_static_config *cfg, const hz_allocator *a)
{
    int rc;
    if (!out)
        return HZ_EINVAL;
    *out = NULL;
    if (!cfg || !cfg->root || !*cfg->root)
        return HZ_EINVAL;
    /* The index is one file name, never a path. */
    if (cfg->index && (!*cfg->index || strchr(cfg->index, '/') || !strcmp(cfg->index, ".") ||
                       !strcmp(cfg->index, "..")))
        return HZ_EINVAL;
    if (cfg->cache_control && strpbrk(cfg->cache_control, "\r\n"))
        return HZ_EINVAL;
    if (!a)
        a = &hz_allocator_default;
    if ((rc = hz__allocator_check(a)) < 0)
        return rc;
    hz_static *st = hz__calloc(a, sizeof(*st));
    if (!st)
        return HZ_ENOMEM;
    st->a = *a;
    st->root_fd = -1;
    st->listing = cfg->listing != 0;
    st->follow_symlinks = cfg->follow_symlinks != 0;
    st->root_fd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->root_fd < 0) {
        rc = errno == ENOENT || errno == ENOTDIR ? HZ_ENOENT
             : errno == EACCES                   ? HZ_EACCES
                                                 : hz__err_from_errno(errno);
        goto fail;
    }
    char real[PATH_MAX];
    if (!realpath(cfg->root, real)) {
        rc = hz__err_from_errno(errno);
        goto fail;
    }
    st->root_real_len = strlen(real);
    rc = HZ_ENOMEM;
    if (!(st->root_real = dup_str(&st->a, real)))
        goto fail;
    if (cfg->index && !(st->index = dup_str(&st->a, cfg->index)))
        goto fail;
    if (cfg->cache_control && !(st->cache_control = dup_str(&st->a, cfg->cache_control)))
        goto fail;
    *out = st;
    return 0;
fail:
    hz_static_destroy(st);
    return rc;
}

int hz_route_static(hz_server *srv, const char *prefix, hz_static *st)
{
    char pat[1024];
    if (!srv || !prefix || !st)
        return HZ_EINVAL;
    size_t n = strlen(prefix);
    if (n == 0 || prefix[0] != '/' || prefix[n - 1] != '/' || n + 2 > sizeof(pat))
        return HZ_EINVAL;
    memcpy(pat, prefix, n);
    pat[n] = '*';
    pat[n + 1] = 0;
    return hz_route(srv, "GET", pat, hz_static_handler, st);
}

/* ------------------------------------------------------------------------ */
/* Opening a path under the root                                            */
/* ------------------------------------------------------------------------ */

static int errno_status(int e)
{
    switch (e) {
    case EACCES:
    case EPERM:
        return 403;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
        return 503;
    case ENOENT:
    case ENOTDIR:
    case ELOOP:  /* O_NOFOLLOW met a symlink */
    case EMLINK: /* the same on FreeBSD */
    case ENAMETOOLONG:
    case EISDIR:
    case ENXIO:
        return 404;
    default:
        return 500;
    }
}

/* Opens rel (normalised, no leading '/', may be empty = the root; modified
 * in place) without following any symlink: every directory component with
 * O_DIRECTORY|O_NOFOLLOW relative to the one before, the last with
 * O_NOFOLLOW. Returns an fd or -status. */
static int open_nofollow(const hz_static *st, char *rel)
{
    int dir = st->root_fd;
    char *p = rel;
    for (;;) {
        while (*p == '/')
            p++;
        char *slash = strchr(p, '/');
        int last = !slash || !slash[strspn(slash, "/")];
        if (slash)
            *slash = 0;
        const char *name = *p ? p : ".";
        int fd = openat(dir, name,
                        last ? HZ_FILE_OPEN_FLAGS | O_NOFOLLOW
                             : O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        if (slash)
            *slash = '/';
        if (dir != st->root_fd)
            close(dir);
        if (fd < 0)
            return -errno_status(e);
        if (last)
            return fd;
        dir = fd;
        p = slash + 1;
    }
}

/* follow_symlinks: resolves root/rel and accepts it only inside the root;
 * the final open still refuses a symlink swapped in meanwhile. */
static int open_follow(const hz_static *st, const char *rel)
{
    char full[PATH_MAX], real[PATH_MAX];
    int n = snprintf(full, sizeof(full), "%s/%s", st->root_real, rel);
    if (n < 0 || (size_t)n >= sizeof(full))
        return -404;
    if (!realpath(full, real))
        return -errno_status(errno);
    size_t rl = st->root_real_len;
    int inside = !strcmp(st->root_real, "/") ||
                 (!strncmp(real, st->root_real, rl) && (real[rl] == 0 || real[rl] == '/'));
    if (!inside)
        return -404;
    int fd = open(real, HZ_FILE_OPEN_FLAGS | O_NOFOLLOW);
    return fd < 0 ? -errno_status(errno) : fd;
}

static int open_rel(const hz_static *st, char *rel)
{
    return st->follow_symlinks ? open_follow(st, rel) : open_nofollow(st, rel);
}

/* ------------------------------------------------------------------------ */
/* HTTP dates, validators, ranges                                           */
/* ------------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (timegm is not POSIX). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void http_date(char *buf, size_t len, time_t t)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms.
 * Returns 0 and *out, or -1 for anything else (the header is then ignored). */
static int parse_http_date(hz_str v, int64_t *out)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char s[64], mon[4] = {0};
    int d = 0, y = 0, hh = 0, mm = 0, ss = 0, n = 0;
    if (!v.ptr || v.len == 0 || v.len >= sizeof(s))
        return -1;
    memcpy(s, v.ptr, v.len);
    s[v.len] = 0;
    if (sscanf(s, "%*3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", &d, mon, &y, &hh, &mm, &ss,
               &n) == 6 &&
        (size_t)n == v.len) {
        /* IMF-fixdate */
    } else if (sscanf(s, "%*[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", &d, mon, &y, &hh, &mm,
                      &ss, &n) == 6 &&
               (size_t)n == v.len) {
        y += y < 70 ? 2000 : 1900; /* RFC 850's two-digit year */
    } else if (sscanf(s, "%*3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", mon, &d, &hh, &mm, &ss, &y,
                      &n) == 6 &&
               (size_t)n == v.len) {
        /* asctime */
    } else {
        return -1;
    }
    const char *mp = strstr(months, mon);
    if (strlen(mon) != 3 || !mp || (mp - months) % 3)
        return -1;
    unsigned m = (unsigned)(mp - months) / 3 + 1;
    if (d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 || y < 1970)
        return -1;
    *out = days_from_civil(y, m, (unsigned)d) * 86400 + hh * 3600 + mm * 60 + ss;
    return 0;
}

/* If-None-Match: "*" or a list of entity tags compared weakly (RFC 9110
 * §13.1.2: W/ prefixes ignored). */
static int etag_matches(hz_str h, const char *etag)
{
    size_t el = strlen(etag);
    const char *p = h.ptr, *end = h.ptr + h.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p >= end)
            break;
        if (*p == '*')
            return 1;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *t = p;
        if (p < end && *p == '"') {
            p++;
            while (p < end && *p != '"')
                p++;
            if (p < end)
                p++;
        } else {
            while (p < end && *p != ',')
                p++;
        }
        if ((size_t)(p - t) == el && !memcmp(t, etag, el))
            return 1;
    }
    return 0;
}

static int parse_u64(const char **pp, const char *end, uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    if (p >= end || *p < '0' || *p > '9')
        return -1;
    while (p < end && *p >= '0' && *p <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p++ - '0');
    }
    *pp = p;
    *out = v;
    return 0;
}

enum { RANGE_NONE = 0, RANGE_OK, RANGE_UNSAT };

/* One byte range (RFC 9110 §14.1.2): "bytes=a-b", "bytes=a-", "bytes=-n".
 * Anything else (other units, bad syntax, several ranges) is RANGE_NONE:
 * the whole file is served. */
static int parse_range(hz_str h, uint64_t size, uint64_t *off, uint64_t *len)
{
    const char *p = h.ptr, *end = h.ptr + h.len;
    if (h.len < 6 || strncasecmp(p, "bytes=", 6))
        return RANGE_NONE;
    p += 6;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (memchr(p, ',', (size_t)(end - p)))
        return RANGE_NONE; /* multipart/byteranges is not implemented */
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    uint64_t a, b;
    if (p < end && *p == '-') {
        p++;
        if (parse_u64(&p, end, &b) < 0 || p != end)
            return RANGE_NONE;
        if (b == 0 || size == 0)
            return RANGE_UNSAT;
        *len = b < size ? b : size;
        *off = size - *len;
        return RANGE_OK;
    }
    if (parse_u64(&p, end, &a) < 0 || p >= end || *p != '-')
        return RANGE_NONE;
    p++;
    if (p == end) {
        b = UINT64_MAX;
    } else if (parse_u64(&p, end, &b) < 0 || p != end || b < a) {
        return RANGE_NONE;
    }
    if (a >= size)
        return RANGE_UNSAT;
    if (b >= size)
        b = size - 1;
    *off = a;
    *len = b - a + 1;
    return RANGE_OK;
}

/* ------------------------------------------------------------------------ */
/* Listing                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct sbuf {
    const hz_allocator *a; /* borrowed */
    char *p;               /* owns */
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n)
            nc *= 2;
        char *np = hz__realloc(b->a, b->p, b->cap, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_html(sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            sb_str(b, "&amp;");
            break;
        case '<':
            sb_str(b, "&lt;");
            break;
        case '>':
            sb_str(b, "&gt;");
            break;
        case '"':
            sb_str(b, "&quot;");
            break;
        case '\'':
            sb_str(b, "&#39;");
            break;
        default:
            sb_put(b, s, 1);
        }
    }
}

/* A path segment for an href: everything but unreserved characters is
 * percent-encoded. */
static void sb_url(sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            sb_put(b, (const char *)&ch, 1);
        } else {
            char t[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            sb_put(b, t, 3);
        }
    }
}

typedef struct lentry {
    char *name; /* owns */
    size_t len;
    int dir;
} lentry;

static int lentry_cmp(const void *x, const void *y)
{
    return strcmp(((const lentry *)x)->name, ((const lentry *)y)->name);
}

static void send_listing(const hz_static *st, hz_res *res, int dirfd, const char *shown)
{
    const hz_allocator *a = &st->a;
    int dfd = dup(dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        hz_res_send(res, 500, "Internal Server Error", 21);
        return;
    }
    lentry *ents = NULL;
    size_t n = 0, cap = 0;
    int oom = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < HZ_LISTING_MAX) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            lentry *ne = hz__realloc(a, ents, cap * sizeof(*ents), nc * sizeof(*ents));
            if (!ne) {
                oom = 1;
                break;
            }
            ents = ne;
            cap = nc;
        }
        struct stat sb;
        int isdir =
            fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
        size_t nl = strlen(de->d_name);
        char *name = hz__alloc(a, nl + 1);
        if (!name) {
            oom = 1;
            break;
        }
        memcpy(name, de->d_name, nl + 1);
        ents[n].name = name;
        ents[n].len = nl;
        ents[n].dir = isdir;
        n++;
    }
    closedir(d);
    sbuf b = {a, NULL, 0, 0, oom};
    if (!oom) {
        qsort(ents, n, sizeof(*ents), lentry_cmp);
        sb_str(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
        sb_html(&b, shown);
        sb_str(&b, "</title></head>\n<body><h1>Index of ");
        sb_html(&b, shown);
        sb_str(&b, "</h1>\n<ul>\n");
        if (strcmp(shown, "/") != 0)
            sb_str(&b, "<li><a href=\"../\">../</a></li>\n");
        for (size_t i = 0; i < n; i++) {
            sb_str(&b, "<li><a href=\"");
            sb_url(&b, ents[i].name);
            if (ents[i].dir)
                sb_str(&b, "/");
            sb_str(&b, "\">");
            sb_html(&b, ents[i].name);
            if (ents[i].dir)
                sb_str(&b, "/");
            sb_str(&b, "</a></li>\n");
        }
        sb_str(&b, "</ul></body></html>\n");
    }
    for (size_t i = 0; i < n; i++)
        hz__free(a, ents[i].name, ents[i].len + 1);
    hz__free(a, ents, cap * sizeof(*ents));
    if (b.oom) {
        hz__free(a, b.p, b.cap);
        hz_res_send(res, 503, "Service Unavailable", 19);
        return;
    }
    hz_res_set_header(res, "Content-Type", "text/html; charset=utf-8");
    hz_res_send(res, 200, b.p, b.len);
    hz__free(a, b.p, b.cap);
}

/* ------------------------------------------------------------------------ */
/* The handler                                                               */
/* ------------------------------------------------------------------------ */

static void send_status(hz_res *res, int status)
{
    const char *r = hz__status_reason(status);
    hz_res_set_header(res, "Content-Type", "text/plain; charset=utf-8");
    hz_res_send(res, status, r, strlen(r));
}

/* An executor worker cannot hand a descriptor to the loop: read the file
 * into memory instead (bounded). Takes fd. */
static void send_copy(const hz_static *st, hz_res *res, int status, int fd, uint64_t off,
                      uint64_t len)
{
    if (len > HZ_WORKER_MAX) {
        close(fd);
        send_status(res, 500);
        return;
    }
    char *p = hz__alloc(&st->a, (size_t)len);
    size_t got = 0;
    while (p && got < len) {
        ssize_t r = pread(fd, p + got, (size_t)len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!p || got != len) {
        hz__free(&st->a, p, (size_t)len);
        send_status(res, 500);
        return;
    }
    hz_res_send(res, status, p, (size_t)len);
    hz__free(&st->a, p, (size_t)len);
}

static void serve_file(const hz_static *st, hz_req *req, hz_res *res, int fd, const struct stat *sb,
                       const char *name)
{
    char etag[64], lastmod[40], crange[96];
    uint64_t size = (uint64_t)sb->st_size;
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)size,
             (unsigned long long)sb->st_mtime);
    http_date(lastmod, sizeof(lastmod), sb->st_mtime);
    hz_res_set_header(res, "ETag", etag);
    hz_res_set_header(res, "Last-Modified", lastmod);
    if (st->cache_control)
        hz_res_set_header(res, "Cache-Control", st->cache_control);

    /* RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it. */
    hz_str inm = hz_req_header(req, "If-None-Match");
    int not_modified = 0;
    if (inm.ptr) {
        not_modified = etag_matches(inm, etag);
    } else {
        int64_t ims;
        if (parse_http_date(hz_req_header(req, "If-Modified-Since"), &ims) == 0)
            not_modified = (int64_t)sb->st_mtime <= ims;
    }
    if (not_modified) {
        close(fd);
        hz_res_send(res, 304, NULL, 0);
        return;
    }
    hz_res_set_header(res, "Content-Type", hz_mime_type(name, strlen(name)));
    hz_res_set_header(res, "Accept-Ranges", "bytes");
    int status = 200;
    uint64_t off = 0, len = size;
    hz_str range = hz_req_header(req, "Range");
    if (range.ptr) {
        /* If-Range: the range only while the representation is unchanged
         * (a strong ETag match, or exactly our Last-Modified). */
        hz_str ir = hz_req_header(req, "If-Range");
        int use = 1;
        if (ir.ptr) {
            int64_t t;
            if (ir.len && ir.ptr[0] == '"')
                use = ir.len == strlen(etag) && !memcmp(ir.ptr, etag, ir.len);
            else
                use = parse_http_date(ir, &t) == 0 && t == (int64_t)sb->st_mtime;
        }
        int r = use ? parse_range(range, size, &off, &len) : RANGE_NONE;
        if (r == RANGE_UNSAT) {
            close(fd);
            snprintf(crange, sizeof(crange), "bytes */%llu", (unsigned long long)size);
            hz_res_set_header(res, "Content-Range", crange);
            send_status(res, 416);
            return;
        }
        if (r == RANGE_OK) {
            status = 206;
            snprintf(crange, sizeof(crange), "bytes %llu-%llu/%llu", (unsigned long long)off,
                     (unsigned long long)(off + len - 1), (unsigned long long)size);
            hz_res_set_header(res, "Content-Range", crange);
        } else {
            off = 0;
            len = size;
        }
    }
    if (!pthread_equal(pthread_self(), req->loop->thread)) {
        send_copy(st, res, status, fd, off, len);
        return;
    }
    hz_res_sendfile(res, status, fd, off, len);
}

void hz_static_handler(hz_req *req, hz_res *res, void *ud)
{
    const hz_static *st = ud;
    char raw[HZ_STATIC_PATH_MAX], path[HZ_STATIC_PATH_MAX + 64];
    if (!st) {
        send_status(res, 500);
        return;
    }
    hz_str m = hz_req_method(req);
    int is_get = m.len == 3 && !memcmp(m.ptr, "GET", 3);
    int is_head = m.len == 4 && !memcmp(m.ptr, "HEAD", 4);
    if (!is_get && !is_head) {
        hz_res_set_header(res, "Allow", "GET, HEAD");
        send_status(res, 405);
        return;
    }
    /* The route's wildcard names the file; without one, the whole path. */
    hz_str w = hz_req_param(req, "*");
    size_t rl = 0;
    if (w.ptr) {
        raw[rl++] = '/';
        if (w.len + 2 > sizeof(raw)) {
            send_status(res, 414);
            return;
        }
        memcpy(raw + rl, w.ptr, w.len);
        rl += w.len;
    } else {
        hz_str p = hz_req_path(req);
        if (!p.ptr || p.len + 1 > sizeof(raw)) {
            send_status(res, 414);
            return;
        }
        memcpy(raw, p.ptr, p.len);
        rl = p.len;
    }
    /* Strict: %2F, %00, non-UTF-8 and ".." above the root are refused. */
    long pl = hz_path_normalize(path, HZ_STATIC_PATH_MAX, raw, rl, 0);
    if (pl < 0) {
        send_status(res, pl == HZ_ERANGE ? 414 : 400);
        return;
    }
    char *rel = path + 1;
    int is_dir_path = path[pl - 1] == '/';
    int fd = open_rel(st, rel);
    if (fd < 0) {
        send_status(res, -fd);
        return;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        close(fd);
        send_status(res, 500);
        return;
    }
    if (S_ISDIR(sb.st_mode)) {
        if (!is_dir_path) {
            /* Relative links in the index need the trailing slash. */
            hz_str p = hz_req_path(req), q = hz_req_query(req);
            char loc[HZ_STATIC_PATH_MAX + 16];
            int n = snprintf(loc, sizeof(loc), "%.*s/%s%.*s", (int)p.len, p.ptr, q.len ? "?" : "",
                             (int)q.len, q.ptr ? q.ptr : "");
            close(fd);
            if (n < 0 || (size_t)n >= sizeof(loc)) {
                send_status(res, 414);
                return;
            }
            hz_res_set_header(res, "Location", loc);
            send_status(res, 301);
            return;
        }
        if (st->index) {
            size_t il = strlen(st->index);
            if ((size_t)pl + il + 1 <= sizeof(path)) {
                memcpy(path + pl, st->index, il + 1);
                int ifd = open_rel(st, rel);
                path[pl] = 0;
                struct stat isb;
                if (ifd >= 0 && fstat(ifd, &isb) == 0 && S_ISREG(isb.st_mode)) {
                    close(fd);
                    serve_file(st, req, res, ifd, &isb, st->index);
                    return;
                }
                if (ifd >= 0)
                    close(ifd);
            }
        }
        if (st->listing) {
            send_listing(st, res, fd, path);
        } else {
            send_status(res, 404);
        }
        close(fd);
        return;
    }
    if (!S_ISREG(sb.st_mode) || is_dir_path) {
        close(fd); /* devices, FIFOs, sockets; "file/" */
        send_status(res, 404);
        return;
    }
    serve_file(st, req, res, fd, &sb, path);
}
