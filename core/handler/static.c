/* static.c - serving a directory: safe path resolution, content types,
 * conditional and range requests, directory index and listing. File
 * bodies go out through hz_res_sendfile (a body source the connection
 * pulls). Written against the public API only (<httpz/...>), as a user's
 * handler would be. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <httpz/httpz.h>
#include <httpz/backend.h>

#define ST_PATH_MAX 4096u     /* decoded request path */
#define ST_LISTING_MAX 10000u /* entries in a listing */
#define ST_OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
#define ST_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation through the hz_allocator given to hz_static_create (size 0 is
 * rounded to 1, as the allocator contract asks). */
static void *st_alloc(const hz_allocator *a, size_t n)
{
    return a->vt->alloc(a->ctx, n ? n : 1);
}

static void *st_calloc(const hz_allocator *a, size_t n)
{
    void *p = st_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

static void *st_realloc(const hz_allocator *a, void *p, size_t old, size_t n)
{
    if (!p)
        return st_alloc(a, n);
    return a->vt->realloc(a->ctx, p, old ? old : 1, n ? n : 1);
}

static void st_free(const hz_allocator *a, void *p, size_t n)
{
    if (p)
        a->vt->free(a->ctx, p, n ? n : 1);
}

static int st_allocator_check(const hz_allocator *a)
{
    if (!a->vt)
        return HZ_EINVAL;
    if (a->vt->abi != HZ_BACKEND_ABI)
        return HZ_EABI;
    return a->vt->alloc && a->vt->realloc && a->vt->free ? 0 : HZ_EINVAL;
}

/* The errno values opening a root directory gives, as HZ_E* codes. */
static int st_err(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return HZ_ENOENT;
    case EACCES:
    case EPERM:
        return HZ_EACCES;
    case ENOMEM:
        return HZ_ENOMEM;
    default:
        return HZ_ESYS;
    }
}

struct hz_static {   /* owner: the caller of hz_static_create */
    hz_allocator a;  /* copied */
    int root_fd;     /* owns */
    char *root_real; /* owns: realpath of root (follow_symlinks checks) */
    size_t root_real_len;
    char *index;         /* owns or NULL */
    char *cache_control; /* owns or NULL */
    int listing;
    int follow_symlinks;
    int precompressed;     /* serve name.br / name.gz siblings */
    int compress;          /* compress on the fly (hz_res_compress) */
    uint64_t compress_max; /* bigger files go out as they are */
    unsigned file_cache;   /* entries of the loop's open-file cache; 0: off */
    unsigned file_cache_ms;
};

/* ------------------------------------------------------------------------ */
/* Content types                                                             */
/* ------------------------------------------------------------------------ */

#define MIME_EXT_MAX 5 /* the longest extension below */

static const struct {
    const char *ext; /* lower case */
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
    size_t el = len - i;
    if (el > MIME_EXT_MAX)
        return dflt;
    /* Lower-cased once, NUL-padded: each entry is then one strcmp-free
     * compare (an unknown extension, ".bin", used to cost 34 strlen and
     * strncasecmp calls per response). */
    char ext[MIME_EXT_MAX + 1] = {0};
    for (size_t k = 0; k < el; k++) {
        char ch = name[i + k];
        ext[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
    }
    for (size_t k = 0; k < ST_ARRAY_LEN(mime_table); k++) {
        const char *e = mime_table[k].ext;
        if (e[0] == ext[0] && strncmp(e, ext, MIME_EXT_MAX + 1) == 0)
            return mime_table[k].type;
    }
    return dflt;
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

/* The smallest hz_static_config.size accepted (docs/abi.md). */
/* The size of the first release's struct (through cache_control). */
#define STATIC_CONFIG_SIZE_MIN                                                                     \
    (offsetof(hz_static_config, cache_control) + sizeof(((hz_static_config *)0)->cache_control))

static void static_config_defaults(hz_static_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->size = sizeof(*cfg);
    cfg->index = "index.html";
    cfg->precompressed = 1;
    cfg->compress = 1;
    cfg->compress_max = 16u << 20;
    cfg->file_cache = 64;
    cfg->file_cache_ms = 1000;
}

void hz_static_config_init_sized(hz_static_config *cfg, size_t size)
{
    hz_static_config d;
    static_config_defaults(&d);
    hz_sized_init(cfg, size, &d, sizeof(d));
}

static char *dup_str(const hz_allocator *a, const char *s)
{
    size_t n = strlen(s);
    char *p = st_alloc(a, n + 1);
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
        st_free(&st->a, st->root_real, st->root_real_len + 1);
    if (st->index)
        st_free(&st->a, st->index, strlen(st->index) + 1);
    if (st->cache_control)
        st_free(&st->a, st->cache_control, strlen(st->cache_control) + 1);
    hz_allocator a = st->a;
    st_free(&a, st, sizeof(*st));
}

int hz_static_create(hz_static **out, const hz_static_config *user_cfg, const hz_allocator *a)
{
    int rc;
    if (!out)
        return HZ_EINVAL;
    *out = NULL;
    if (!user_cfg)
        return HZ_EINVAL;
    hz_static_config full;
    static_config_defaults(&full);
    if (hz_sized_import(&full, sizeof(full), user_cfg, STATIC_CONFIG_SIZE_MIN) < 0)
        return HZ_EINVAL;
    const hz_static_config *cfg = &full;
    if (!cfg->root || !*cfg->root)
        return HZ_EINVAL;
    /* The index is one file name, never a path. */
    if (cfg->index && (!*cfg->index || strchr(cfg->index, '/') || !strcmp(cfg->index, ".") ||
                       !strcmp(cfg->index, "..")))
        return HZ_EINVAL;
    if (cfg->cache_control && strpbrk(cfg->cache_control, "\r\n"))
        return HZ_EINVAL;
    if (!a)
        a = &hz_allocator_default;
    if ((rc = st_allocator_check(a)) < 0)
        return rc;
    hz_static *st = st_calloc(a, sizeof(*st));
    if (!st)
        return HZ_ENOMEM;
    st->a = *a;
    st->root_fd = -1;
    st->listing = cfg->listing != 0;
    st->follow_symlinks = cfg->follow_symlinks != 0;
    st->precompressed = cfg->precompressed != 0;
    st->compress = cfg->compress != 0;
    st->compress_max = cfg->compress_max;
    st->file_cache = cfg->file_cache_ms ? cfg->file_cache : 0;
    st->file_cache_ms = cfg->file_cache_ms;
    st->root_fd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->root_fd < 0) {
        rc = errno == ENOENT || errno == ENOTDIR ? HZ_ENOENT
             : errno == EACCES                   ? HZ_EACCES
                                                 : st_err(errno);
        goto fail;
    }
    char real[PATH_MAX];
    if (!realpath(cfg->root, real)) {
        rc = st_err(errno);
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
                        last ? ST_OPEN_FLAGS | O_NOFOLLOW
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
    int fd = open(real, ST_OPEN_FLAGS | O_NOFOLLOW);
    return fd < 0 ? -errno_status(errno) : fd;
}

static int open_rel(const hz_static *st, char *rel)
{
    return st->follow_symlinks ? open_follow(st, rel) : open_nofollow(st, rel);
}

/* ------------------------------------------------------------------------ */
/* HTTP dates, validators, ranges                                           */
/* ------------------------------------------------------------------------ */

/* Last-Modified: an IMF-fixdate; empty for a year outside 0000-9999. */
static void http_date(char *buf, size_t len, time_t t)
{
    if (hz_http_date_format((int64_t)t, buf, len) < 0 && len)
        buf[0] = 0;
}

/* If-Modified-Since, If-Range: any of the three HTTP-date forms. Returns 0
 * and *out, or -1 for anything else (the header is then ignored). */
static int parse_http_date(hz_str v, int64_t *out)
{
    return v.ptr && hz_http_date_parse(v.ptr, v.len, out) == 0 ? 0 : -1;
}

/* Lower-case hex digits of v at p; the end (core/handler uses public
 * headers only: not core/common's hz__fmt_hex). */
static char *put_hex(char *p, uint64_t v)
{
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15u];
        v >>= 4;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* "size-mtime" in hex, "-coding" after it for a precompressed sibling:
 * what snprintf("\"%llx-%llx%s%s\"") made, without its ~1,500
 * instructions per response. len >= 64. */
static void etag_format(char *buf, size_t len, uint64_t size, uint64_t mtime, const char *enc)
{
    char *p = buf;
    *p++ = '"';
    p = put_hex(p, size);
    *p++ = '-';
    p = put_hex(p, mtime);
    if (enc) {
        size_t el = strnlen(enc, len - (size_t)(p - buf) - 3);
        *p++ = '-';
        memcpy(p, enc, el);
        p += el;
    }
    *p++ = '"';
    *p = 0;
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
        char *np = st_realloc(b->a, b->p, b->cap, nc);
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
    while ((de = readdir(d)) != NULL && n < ST_LISTING_MAX) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            lentry *ne = st_realloc(a, ents, cap * sizeof(*ents), nc * sizeof(*ents));
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
        char *name = st_alloc(a, nl + 1);
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
        st_free(a, ents[i].name, ents[i].len + 1);
    st_free(a, ents, cap * sizeof(*ents));
    if (b.oom) {
        st_free(a, b.p, b.cap);
        hz_res_send(res, 503, "Service Unavailable", 19);
        return;
    }
    hz_res_set_header(res, "Content-Type", "text/html; charset=utf-8");
    hz_res_send(res, 200, b.p, b.len);
    st_free(a, b.p, b.cap);
}

/* ------------------------------------------------------------------------ */
/* The handler                                                               */
/* ------------------------------------------------------------------------ */

static const char *reason(int status)
{
    switch (status) {
    case 301:
        return "Moved Permanently";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 414:
        return "URI Too Long";
    case 416:
        return "Range Not Satisfiable";
    default:
        return "Internal Server Error";
    }
}

static void send_status(hz_res *res, int status)
{
    const char *r = reason(status);
    hz_res_set_header(res, "Content-Type", "text/plain; charset=utf-8");
    hz_res_send(res, status, r, strlen(r));
}

/* Media types worth compressing (the filter's built-in list decides for
 * on-the-fly bodies; this one picks the files that get siblings and Vary). */
static int st_compressible(const char *type)
{
    static const char *const list[] = {
        "text/",         "application/json", "application/javascript",    "application/xml",
        "image/svg+xml", "application/wasm", "application/manifest+json", "font/ttf",
        "font/otf",      "image/x-icon",
    };
    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++)
        if (!strncmp(type, list[i], strlen(list[i])))
            return 1;
    return 0;
}

/* A fresh precompressed sibling of rel (rel + ".br" / ".gz") the client
 * accepts: its fd (sb filled, *enc its coding name), or -1. */
static int open_sibling(const hz_static *st, hz_req *req, const char *rel, const struct stat *osb,
                        struct stat *sb, const char **enc)
{
    static const struct {
        const char *ext, *name;
        unsigned coding;
    } sib[] = {{".br", "br", HZ_CODING_BR}, {".gz", "gzip", HZ_CODING_GZIP}};
    char name[ST_PATH_MAX + 8];
    size_t rl = strlen(rel);
    if (rl + 4 > sizeof(name))
        return -1;
    int fds[2] = {-1, -1};
    struct stat sbs[2];
    unsigned have = 0;
    for (int i = 0; i < 2; i++) {
        memcpy(name, rel, rl);
        memcpy(name + rl, sib[i].ext, 4);
        int fd = open_rel(st, name);
        if (fd < 0)
            continue;
        /* stale (older than the file) or not a regular file: not served */
        if (fstat(fd, &sbs[i]) < 0 || !S_ISREG(sbs[i].st_mode) || sbs[i].st_mtime < osb->st_mtime) {
            close(fd);
            continue;
        }
        fds[i] = fd;
        have |= sib[i].coding;
    }
    int pick = have ? hz_req_accept_encoding(req, have) : HZ_CODING_IDENTITY;
    int fd = -1;
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 0 && pick == (int)sib[i].coding) {
            fd = fds[i];
            *sb = sbs[i];
            *enc = sib[i].name;
        } else if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    return fd;
}

static void serve_file(const hz_static *st, hz_req *req, hz_res *res, int fd, const struct stat *sb,
                       const char *name, const char *rel)
{
    char etag[64], lastmod[40], crange[96];
    const char *ctype = hz_mime_type(name, strlen(name));
    const char *enc = NULL;
    struct stat zsb;
    if ((st->precompressed || st->compress) && st_compressible(ctype)) {
        /* the body depends on Accept-Encoding: caches must know, whatever
         * this answer is (200, 206, 304) */
        /* siblings are looked for only when the client takes a coding at all */
        int zfd = st->precompressed && hz_req_accept_encoding(req, HZ_CODING_GZIP | HZ_CODING_BR) !=
                                           HZ_CODING_IDENTITY
                      ? open_sibling(st, req, rel, sb, &zsb, &enc)
                      : -1;
        if (zfd >= 0) { /* the sibling is the representation: its size, validators, ranges */
            hz_req_file_close(req, fd);
            fd = zfd;
            sb = &zsb;
        } else if (st->compress && (uint64_t)sb->st_size <= st->compress_max) {
            hz_res_compress(res, 1); /* before the fields: the filter sees them */
        }
        hz_res_set_header(res, "Vary", "Accept-Encoding");
    }
    uint64_t size = (uint64_t)sb->st_size;
    etag_format(etag, sizeof(etag), size, (uint64_t)sb->st_mtime, enc);
    http_date(lastmod, sizeof(lastmod), sb->st_mtime);
    hz_res_set_header(res, "ETag", etag);
    if (lastmod[0])
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
        hz_req_file_close(req, fd);
        hz_res_send(res, 304, NULL, 0);
        return;
    }
    hz_res_set_header(res, "Content-Type", ctype);
    if (enc)
        hz_res_set_header(res, "Content-Encoding", enc);
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
            hz_req_file_close(req, fd);
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
    /* Loop or executor worker alike: the file is a body source the
     * connection pulls (sendfile on plain sockets), never read whole. */
    hz_res_sendfile(res, status, fd, off, len);
}

void hz_static_handler(hz_req *req, hz_res *res, void *ud)
{
    const hz_static *st = ud;
    char raw[ST_PATH_MAX], path[ST_PATH_MAX + 64];
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
    long pl = hz_path_normalize(path, ST_PATH_MAX, raw, rl, 0);
    if (pl < 0) {
        send_status(res, pl == HZ_ERANGE ? 414 : 400);
        return;
    }
    char *rel = path + 1;
    int is_dir_path = path[pl - 1] == '/';
    /* The loop's open-file cache: a regular file opened less than
     * file_cache_ms ago is served from that fd and fstat (a reference,
     * given back by the response or hz_req_file_close). */
    struct stat sb;
    size_t kl = strlen(rel);
    int fd = st->file_cache && !is_dir_path ? hz_req_file_get(req, st, rel, kl, &sb, sizeof(sb))
                                            : HZ_ENOENT;
    if (fd >= 0) {
        serve_file(st, req, res, fd, &sb, path, rel);
        return;
    }
    fd = open_rel(st, rel);
    if (fd < 0) {
        send_status(res, -fd);
        return;
    }
    if (fstat(fd, &sb) < 0) {
        close(fd);
        send_status(res, 500);
        return;
    }
    if (st->file_cache && !is_dir_path && S_ISREG(sb.st_mode) &&
        hz_req_file_put(req, st, rel, kl, st->file_cache, st->file_cache_ms, fd, &sb, sizeof(sb)) ==
            0) {
        serve_file(st, req, res, fd, &sb, path, rel);
        return;
    }
    if (S_ISDIR(sb.st_mode)) {
        if (!is_dir_path) {
            /* Relative links in the index need the trailing slash. */
            hz_str p = hz_req_path(req), q = hz_req_query(req);
            char loc[ST_PATH_MAX + 16];
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
                    memcpy(path + pl, st->index, il + 1);
                    serve_file(st, req, res, ifd, &isb, st->index, rel);
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
    serve_file(st, req, res, fd, &sb, path, rel);
}
