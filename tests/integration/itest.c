/* itest.c - see itest.h. */
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <criterion/criterion.h>
#include "itest.h"
#include "test_alloc.h"

atomic_int it_calls;
atomic_int it_done_ok;
atomic_int it_done_fail;

long long it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long qnum(const hz_req *req, const char *key, long def)
{
    hz_str q = hz_req_query(req);
    size_t kl = strlen(key);
    for (size_t i = 0; q.ptr && i + kl + 1 <= q.len; i++) {
        if ((i == 0 || q.ptr[i - 1] == '&') && !memcmp(q.ptr + i, key, kl) && q.ptr[i + kl] == '=')
            return strtol(q.ptr + i + kl + 1, NULL, 10);
    }
    return def;
}

static void on_done(hz_res *res, int status, void *ud)
{
    (void)res;
    (void)ud;
    if (status == 0)
        atomic_fetch_add(&it_done_ok, 1);
    else
        atomic_fetch_add(&it_done_fail, 1);
}

static void h_root(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    atomic_fetch_add(&it_calls, 1);
    hz_res_on_done(res, on_done, NULL);
    hz_res_set_header(res, "Content-Type", "text/plain");
    hz_res_send(res, 200, "hello", 5);
}

void it_h_echo(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    atomic_fetch_add(&it_calls, 1);
    hz_str b = hz_req_body(req);
    hz_res_send(res, 200, b.ptr, b.len);
}

static int s_chunk(hz_req *req, const void *data, size_t len, void *ud)
{
    (void)req;
    int rc = hz_res_write(ud, data, len);
    return rc == HZ_EAGAIN ? HZ_EAGAIN : rc;
}

static void s_end(hz_req *req, int status, void *ud)
{
    (void)req;
    if (status == 0)
        hz_res_end(ud);
}

static void s_drain(hz_res *res, void *ud)
{
    (void)res;
    hz_req_resume(ud);
}

static void h_stream(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    atomic_fetch_add(&it_calls, 1);
    hz_res_on_done(res, on_done, NULL);
    hz_res_on_drain(res, s_drain, req);
    hz_res_start(res, 200);
    hz_req_on_body(req, s_chunk, s_end, res);
}

static void slow_cb(hz_res *res, int status, void *ud)
{
    (void)ud;
    if (status == 0)
        hz_res_send(res, 200, "slow", 4);
}

static void h_slow(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    atomic_fetch_add(&it_calls, 1);
    hz_res_on_done(res, on_done, NULL);
    hz_res_after(res, (unsigned)qnum(req, "ms", 200), slow_cb, NULL);
}

typedef struct large_st {
    size_t left;
    unsigned char next;
} large_st;

static void large_pump(hz_res *res, void *ud)
{
    large_st *st = ud;
    char blk[8192];
    while (st->left) {
        size_t n = st->left < sizeof(blk) ? st->left : sizeof(blk);
        unsigned char v = st->next;
        for (size_t i = 0; i < n; i++)
            blk[i] = (char)('a' + (v + i) % 26);
        int rc = hz_res_write(res, blk, n);
        if (rc == HZ_EAGAIN)
            return;
        if (rc < 0)
            return;
        st->next = (unsigned char)((v + n) % 26);
        st->left -= n;
    }
    hz_res_end(res);
}

static void large_done(hz_res *res, int status, void *ud)
{
    on_done(res, status, NULL);
    free(ud);
}

static void h_large(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    atomic_fetch_add(&it_calls, 1);
    large_st *st = calloc(1, sizeof(*st));
    st->left = (size_t)qnum(req, "kb", 1024) * 1024;
    hz_res_on_done(res, large_done, st);
    hz_res_on_drain(res, large_pump, st);
    hz_res_start(res, 200);
    large_pump(res, st);
}

void it_h_big(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    atomic_fetch_add(&it_calls, 1);
    size_t n = (size_t)qnum(req, "kb", 1024) * 1024;
    char *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + i % 26);
    hz_res_on_done(res, on_done, NULL);
    hz_res_send(res, 200, p, n);
    free(p);
}

void it_assert_big_body(const char *p, size_t n, size_t want)
{
    cr_assert_eq(n, want, "a body of %zu bytes, %zu expected", n, want);
    for (size_t i = 0; i < n; i++)
        if (p[i] != (char)('a' + i % 26))
            cr_assert_fail("byte %zu of the body differs", i);
}

static void h_ignore(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    atomic_fetch_add(&it_calls, 1);
    hz_res_send(res, 200, "ignored", 7);
}

unsigned it_protocols = 0;

void it_start(it_server *s, hz_config *cfg)
{
    hz_config def;
    if (!cfg) {
        hz_config_init(&def);
        def.loops = 1;
        cfg = &def;
    }
    atomic_store(&it_calls, 0);
    atomic_store(&it_done_ok, 0);
    atomic_store(&it_done_fail, 0);
    cr_assert_eq(hz_server_create(&s->srv, cfg), 0);
    hz_route_opts small;
    hz_route_opts_init(&small);
    small.body_limit = 1024;
    hz_route_opts stream;
    hz_route_opts_init(&stream);
    stream.flags = HZ_ROUTE_STREAM_BODY;
    cr_assert_eq(hz_route(s->srv, "GET", "/", h_root, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "POST", "/body", it_h_echo, NULL), 0);
    cr_assert_eq(hz_route_with(s->srv, "POST", "/stream", h_stream, NULL, &stream), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/slow", h_slow, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/large", h_large, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/big", it_h_big, NULL), 0);
    cr_assert_eq(hz_route_with(s->srv, "POST", "/small", it_h_echo, NULL, &small), 0);
    cr_assert_eq(hz_route_with(s->srv, "POST", "/ignore", h_ignore, NULL, &stream), 0);
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    lc.protocols = it_protocols;
    int idx = hz_server_listen_with(s->srv, &lc);
    cr_assert_geq(idx, 0);
    s->port = hz_server_port(s->srv, idx);
    cr_assert_gt(s->port, 0);
    cr_assert_eq(hz_server_start(s->srv), 0);
}

void it_stop(it_server *s)
{
    hz_server_stop(s->srv, 1000);
    hz_server_wait(s->srv);
    hz_server_destroy(s->srv);
    s->srv = NULL;
}

int it_connect_fd(int fd, int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(fd, (struct sockaddr *)&sa, sizeof(sa));
}

int it_connect(it_conn *c, int port)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    if (it_connect_fd(c->fd, port) < 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->cap = 65536;
    c->buf = malloc(c->cap);
    return 0;
}

void it_close(it_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
}

int it_send(it_conn *c, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t k = send(c->fd, s, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

int it_sends(it_conn *c, const char *s)
{
    return it_send(c, s, strlen(s));
}

/* One read with a deadline: > 0 bytes, 0 EOF, -1 timeout, -2 error. */
static long read_more(it_conn *c, long long deadline)
{
    long long left = deadline - it_now_ms();
    if (left < 0)
        left = 0;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int pr = poll(&pfd, 1, (int)left);
    if (pr <= 0)
        return -1;
    if (c->len == c->cap) {
        c->cap *= 2;
        c->buf = realloc(c->buf, c->cap);
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? -1 : -2;
    c->len += (size_t)n;
    return n;
}

long it_read_some(it_conn *c, int timeout_ms)
{
    long long deadline = it_now_ms() + timeout_ms;
    long total = 0;
    for (;;) {
        long n = read_more(c, deadline);
        if (n <= 0)
            return total;
        total += n;
    }
}

long it_read_atleast(it_conn *c, size_t min, int timeout_ms)
{
    long long deadline = it_now_ms() + timeout_ms;
    long total = 0;
    while (c->len < min) {
        long n = read_more(c, deadline);
        if (n <= 0)
            break;
        total += n;
    }
    return total;
}

static void consume(it_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static char *find(const char *h, size_t hl, const char *n)
{
    return memmem(h, hl, n, strlen(n));
}

const char *it_header(const it_resp *r, const char *name)
{
    static _Thread_local char val[1024]; /* client threads of one test call it at once */
    size_t nl = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    while (p && p[2]) {
        p += 2;
        if (!strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = e ? (size_t)(e - v) : strlen(v);
            if (n >= sizeof(val))
                n = sizeof(val) - 1;
            memcpy(val, v, n);
            val[n] = 0;
            return val;
        }
        p = strstr(p, "\r\n");
    }
    return "";
}

static int read_response(it_conn *c, it_resp *r, int head_only, int timeout_ms)
{
    long long deadline = it_now_ms() + timeout_ms;
    char *end;
    for (;;) {
        while (!(end = find(c->buf, c->len, "\r\n\r\n"))) {
            if (read_more(c, deadline) <= 0)
                return -1;
        }
        size_t hl = (size_t)(end - c->buf) + 4;
        if (hl >= sizeof(r->head))
            return -1;
        memcpy(r->head, c->buf, hl);
        r->head[hl] = 0;
        consume(c, hl);
        if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
            return -1;
        if (r->status >= 100 && r->status < 200)
            continue; /* interim: read the final one */
        break;
    }
    r->conn_close = strcasestr(it_header(r, "Connection"), "close") != NULL;
    r->body = malloc(1);
    r->body[0] = 0;
    if (head_only || r->status == 204 || r->status == 304)
        return 0;
    const char *te = it_header(r, "Transfer-Encoding");
    const char *cl = it_header(r, "Content-Length");
    if (strcasestr(te, "chunked")) {
        size_t body_cap = 1;
        r->chunked = 1;
        for (;;) {
            char *le;
            while (!(le = find(c->buf, c->len, "\r\n")))
                if (read_more(c, deadline) <= 0)
                    return -1;
            size_t sz = strtoul(c->buf, NULL, 16);
            consume(c, (size_t)(le - c->buf) + 2);
            if (sz == 0) {
                while (!(le = find(c->buf, c->len, "\r\n")))
                    if (read_more(c, deadline) <= 0)
                        return -1;
                consume(c, (size_t)(le - c->buf) + 2);
                return 0;
            }
            while (c->len < sz + 2)
                if (read_more(c, deadline) <= 0)
                    return -1;
            if (r->body_len + sz + 1 > body_cap) {
                /* Geometric growth: ASan's realloc always copies. */
                while (r->body_len + sz + 1 > body_cap)
                    body_cap *= 2;
                r->body = realloc(r->body, body_cap);
            }
            memcpy(r->body + r->body_len, c->buf, sz);
            r->body_len += sz;
            r->body[r->body_len] = 0;
            consume(c, sz + 2);
        }
    }
    if (*cl) {
        size_t n = strtoul(cl, NULL, 10);
        while (c->len < n)
            if (read_more(c, deadline) <= 0)
                return -1;
        r->body = realloc(r->body, n + 1);
        memcpy(r->body, c->buf, n);
        r->body[n] = 0;
        r->body_len = n;
        consume(c, n);
        return 0;
    }
    /* Close-delimited. */
    for (;;) {
        long n = read_more(c, deadline);
        if (n == 0 || n == -2)
            break;
        if (n < 0)
            return -1;
    }
    r->body = realloc(r->body, c->len + 1);
    memcpy(r->body, c->buf, c->len);
    r->body_len = c->len;
    r->body[c->len] = 0;
    c->len = 0;
    return 0;
}

void it_resp_free(it_resp *r)
{
    free(r->body);
    r->body = NULL;
}

int it_read_response(it_conn *c, it_resp *r, int head_only, int timeout_ms)
{
    memset(r, 0, sizeof(*r));
    int rc = read_response(c, r, head_only, timeout_ms);
    if (rc < 0)
        it_resp_free(r); /* tests that expect a failure need not free */
    return rc;
}

int it_wait_closed(it_conn *c, int timeout_ms)
{
    long long deadline = it_now_ms() + timeout_ms;
    for (;;) {
        long n = read_more(c, deadline);
        if (n == 0 || n == -2)
            return 1;
        if (n == -1)
            return 0;
        c->len = 0; /* discard whatever arrives meanwhile */
    }
}

void it_config_counted(hz_config *cfg, hz_count_alloc *ca)
{
    hz_config_init(cfg);
    cfg->loops = 1;
    hz_count_alloc_init(ca);
    cfg->allocator = &ca->iface;
}

void it_assert_no_leaks(const hz_count_alloc *ca)
{
    cr_assert_eq(atomic_load(&ca->live_blocks), 0, "leaked %ld blocks",
                 atomic_load(&ca->live_blocks));
    cr_assert_eq(atomic_load(&ca->size_mismatches), 0);
}

void it_expect_no_leaks(const hz_count_alloc *ca)
{
    cr_expect_eq(atomic_load(&ca->live_blocks), 0, "leaked %ld blocks",
                 atomic_load(&ca->live_blocks));
    cr_expect_eq(atomic_load(&ca->size_mismatches), 0);
}

int it_route_flags(hz_server *s, const char *method, const char *path, hz_handler_fn fn, void *ud,
                   unsigned flags)
{
    hz_route_opts o;
    hz_route_opts_init(&o);
    o.flags = flags;
    return hz_route_with(s, method, path, fn, ud, &o);
}

int it_run(char **out, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen %s", cmd);
    size_t cap = 4096, n = 0, k;
    char *b = malloc(cap);
    while ((k = fread(b + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 1024)
            b = realloc(b, cap *= 2);
    }
    b[n] = 0;
    int st = pclose(p);
    if (out)
        *out = b;
    else
        free(b);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void it_start_conn(it_server *s, hz_config *cfg, it_conn *c)
{
    it_start(s, cfg);
    cr_assert_eq(it_connect(c, s->port), 0);
}

void it_stop_conn(it_server *s, it_conn *c)
{
    it_close(c);
    it_stop(s);
}

int it_make_cert(const char *key, const char *crt, const char *cn)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout %s -out %s -days 2 -subj /CN=%s -addext subjectAltName=DNS:%s "
             ">/dev/null 2>&1",
             key, crt, cn, cn);
    return system(cmd);
}

size_t it_sink_write(char *d, size_t sz, size_t nm, void *ud)
{
    it_sink *k = ud;
    size_t len = sz * nm;
    if (k->n + len + 1 > k->cap) {
        /* Geometric growth: ASan's realloc always copies. */
        size_t cap = k->cap ? k->cap : 4096;
        while (k->n + len + 1 > cap)
            cap *= 2;
        char *p = realloc(k->p, cap);
        if (!p)
            return 0; /* libcurl fails the transfer */
        k->p = p;
        k->cap = cap;
    }
    memcpy(k->p + k->n, d, len);
    k->n += len;
    k->p[k->n] = '\0';
    return len;
}

void it_sink_reset(it_sink *k)
{
    k->n = 0;
    if (k->p)
        k->p[0] = '\0';
}

void it_sink_free(it_sink *k)
{
    free(k->p);
    memset(k, 0, sizeof(*k));
}

CURLcode it_curl_fetch(CURL *h, const char *url, it_sink *k, const char *post, size_t len)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, it_sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, k);
    if (post) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    it_sink_reset(k);
    return curl_easy_perform(h);
}

void it_curl_assert_reused(CURL *h, const char *what)
{
    long nconn = -1;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn);
    cr_assert_eq(nconn, 0, "%s: a new connection, the previous one not reused", what);
}
