/* test_accesslog_file.c - the built-in buffered access-log file
 * (cfg.access_log_file): lines arrive after flush_ms, when the buffer is
 * full, and at stop; several loops never split a line; an O_NONBLOCK pipe
 * drops whole lines and counts them. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <criterion/criterion.h>
#include "itest.h"

#define IO_MS 5000

static char g_path[64];

static void tmpfile_init(void)
{
    strcpy(g_path, "/tmp/hz_alog_XXXXXX");
    int fd = mkstemp(g_path);
    cr_assert_geq(fd, 0);
    close(fd);
}

static void tmpfile_fini(void)
{
    unlink(g_path);
}

/* The whole file, NUL-terminated (malloc'd); *len its size. */
static char *slurp(size_t *len)
{
    FILE *f = fopen(g_path, "rb");
    cr_assert_not_null(f);
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    size_t r;
    while ((r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            b = realloc(b, (cap *= 2) + 1);
    }
    fclose(f);
    b[n] = 0;
    *len = n;
    return b;
}

static size_t lines_in_file(void)
{
    size_t n, k = 0;
    char *b = slurp(&n);
    for (size_t i = 0; i < n; i++)
        k += b[i] == '\n';
    if (n)
        cr_assert_eq(b[n - 1], '\n', "a partial line was written");
    free(b);
    return k;
}

static void get(it_conn *c, const char *target)
{
    char req[4096];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
    it_resp r;
    cr_assert_eq(it_sends(c, req), 0);
    cr_assert_eq(it_read_response(c, &r, 0, IO_MS), 0);
    cr_assert_eq(r.status, 200);
    it_resp_free(&r);
}

static void cfg_file(hz_config *cfg, unsigned loops, uint32_t buffer, uint32_t flush_ms)
{
    hz_config_init(cfg);
    cfg->loops = loops;
    cfg->access_log_file.path = g_path;
    cfg->access_log_file.buffer = buffer;
    cfg->access_log_file.flush_ms = flush_ms;
}

Test(alogfile, defaults)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cr_assert_null(cfg.access_log_file.path);
    cr_assert_eq(cfg.access_log_file.fd, -1);
    cr_assert_eq(cfg.access_log_file.format, HZ_ACCESS_LOG_COMBINED);
    cr_assert_eq(cfg.access_log_file.buffer, 65536);
    cr_assert_eq(cfg.access_log_file.flush_ms, 1000);
}

Test(alogfile, bad_config)
{
    hz_config cfg;
    hz_server *srv;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.access_log_file.path = "/nonexistent-dir-hz/access.log";
    cr_assert_eq(hz_server_create(&srv, &cfg), HZ_ENOENT);
    cr_assert_null(srv);
    cfg.access_log_file.path = NULL;
    cfg.access_log_file.fd = 1;
    cfg.access_log_file.format = 7;
    cr_assert_eq(hz_server_create(&srv, &cfg), HZ_EINVAL);
    cfg.access_log_file.format = HZ_ACCESS_LOG_JSON;
    cfg.access_log_file.fd = 999999; /* not an open descriptor */
    cr_assert_eq(hz_server_create(&srv, &cfg), HZ_EINVAL);
}

/* Lines wait in the buffer until flush_ms after the first of them, then
 * arrive without any further request. */
Test(alogfile, flushed_by_timer, .init = tmpfile_init, .fini = tmpfile_fini, .timeout = 30)
{
    const long long flush_ms = 600;
    hz_config cfg;
    cfg_file(&cfg, 1, 65536, (uint32_t)flush_ms);
    it_server s;
    it_start(&s, &cfg);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    long long t0 = it_now_ms();
    get(&c, "/?a=1");
    get(&c, "/?a=2");
    get(&c, "/?a=3");
    long long seen = -1;
    while (it_now_ms() - t0 < 10000) {
        if (lines_in_file() == 3) {
            seen = it_now_ms();
            break;
        }
        usleep(5000); /* polling the file: nothing to wait on */
    }
    cr_assert_geq(seen, 0, "lines never arrived");
    /* the line was buffered at or after t0; the wheel ticks every 10 ms */
    cr_assert_geq(seen - t0, flush_ms - 20, "flushed after %lld ms", seen - t0);
    it_close(&c);
    it_stop(&s);
    cr_assert_eq(lines_in_file(), 3);
}

/* flush_ms 0: only a full buffer is written while the server runs; the
 * rest comes at stop. */
Test(alogfile, flushed_by_size_and_at_stop, .init = tmpfile_init, .fini = tmpfile_fini,
     .timeout = 30)
{
    hz_config cfg;
    cfg_file(&cfg, 1, 1024, 0);
    it_server s;
    it_start(&s, &cfg);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    get(&c, "/?first");
    cr_assert_eq(lines_in_file(), 0); /* buffered, and no timer */
    const int n = 60;                 /* ~60 bytes a line: several buffers */
    for (int i = 1; i < n; i++)
        get(&c, "/?more");
    size_t mid = 0;
    long long t0 = it_now_ms();
    while ((mid = lines_in_file()) == 0 && it_now_ms() - t0 < 5000)
        usleep(5000);
    cr_assert_gt(mid, 0, "a full buffer was not written");
    cr_assert_lt(mid, (size_t)n, "the last lines should still be buffered");
    it_close(&c);
    cr_assert_eq(hz_server_stop(s.srv, 1000), 0);
    cr_assert_eq(hz_server_wait(s.srv), 0);
    cr_assert_eq(lines_in_file(), (size_t)n, "lines lost at stop");
    hz_server_destroy(s.srv);
    cr_assert_eq(lines_in_file(), (size_t)n, "lines written twice");
}

/* hz_server_destroy alone (no stop, no wait) loses nothing either. */
Test(alogfile, flushed_at_destroy, .init = tmpfile_init, .fini = tmpfile_fini, .timeout = 30)
{
    hz_config cfg;
    cfg_file(&cfg, 2, 65536, 0);
    cfg.access_log_file.format = HZ_ACCESS_LOG_JSON;
    it_server s;
    it_start(&s, &cfg);
    for (int i = 0; i < 5; i++) {
        it_conn c;
        cr_assert_eq(it_connect(&c, s.port), 0);
        get(&c, "/?x");
        it_close(&c);
    }
    /* the line is emitted once the response is complete, which may be just
     * after the client read it: wait for the counters, then destroy */
    hz_metrics m;
    long long t0 = it_now_ms();
    do {
        hz_server_metrics(s.srv, &m);
    } while (m.requests < 5 && it_now_ms() - t0 < 5000);
    cr_assert_eq(m.requests, 5);
    cr_assert_eq(lines_in_file(), 0);
    hz_server_destroy(s.srv);
    size_t len;
    char *b = slurp(&len);
    size_t k = 0;
    for (char *p = b; (p = strstr(p, "{\"time\":\"")) != NULL; p++)
        k++;
    free(b);
    cr_assert_eq(k, 5);
    cr_assert_eq(lines_in_file(), 5);
}

/* buffer 0: one write per line, at once. A line longer than the buffer
 * goes out whole as well. */
Test(alogfile, unbuffered_and_long_lines, .init = tmpfile_init, .fini = tmpfile_fini, .timeout = 30)
{
    hz_config cfg;
    cfg_file(&cfg, 1, 0, 0);
    it_server s;
    it_start(&s, &cfg);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    get(&c, "/?one");
    long long t0 = it_now_ms();
    while (lines_in_file() < 1 && it_now_ms() - t0 < 5000)
        usleep(2000);
    cr_assert_eq(lines_in_file(), 1);
    it_close(&c);
    it_stop(&s);

    /* 3000-byte target, buffer 256; bytes escaped as \xHH grow 4x */
    unlink(g_path);
    cfg_file(&cfg, 1, 256, 0);
    it_start(&s, &cfg);
    cr_assert_eq(it_connect(&c, s.port), 0);
    char target[3100] = "/?";
    memset(target + 2, 'y', 2998);
    target[3000] = 0;
    get(&c, target);
    get(&c, "/?short");
    it_close(&c);
    it_stop(&s);
    size_t len;
    char *b = slurp(&len);
    cr_assert_not_null(strstr(b, target));
    cr_assert_not_null(strstr(b, "/?short"));
    free(b);
    cr_assert_eq(lines_in_file(), 2);
}

/* Several loops, small buffers, a short timer: every line arrives whole
 * and exactly once. */
#define CLIENTS 6
#define PER_CLIENT 150

static int g_port;

static void *client(void *arg)
{
    int id = (int)(long)arg;
    it_conn c;
    if (it_connect(&c, g_port) < 0)
        return (void *)1;
    for (int i = 0; i < PER_CLIENT; i++) {
        /* lines of varying length, so buffer ends fall anywhere */
        char req[512];
        int pad = 1 + (id * 37 + i * 11) % 200;
        snprintf(req, sizeof(req), "GET /?c=%d&i=%d&p=%.*s HTTP/1.1\r\nHost: x\r\n\r\n", id, i, pad,
                 "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
                 "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
                 "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
        it_resp r;
        if (it_sends(&c, req) < 0 || it_read_response(&c, &r, 0, IO_MS) < 0)
            return (void *)1;
        it_resp_free(&r);
        if (i % 50 == 49) { /* new connections land on other loops */
            it_close(&c);
            if (it_connect(&c, g_port) < 0)
                return (void *)1;
        }
    }
    it_close(&c);
    return NULL;
}

Test(alogfile, several_loops_whole_lines, .init = tmpfile_init, .fini = tmpfile_fini, .timeout = 60)
{
    hz_config cfg;
    cfg_file(&cfg, 4, 2048, 20);
    it_server s;
    it_start(&s, &cfg);
    g_port = s.port;
    pthread_t th[CLIENTS];
    for (long i = 0; i < CLIENTS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, client, (void *)i), 0);
    for (int i = 0; i < CLIENTS; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        cr_assert_null(rv);
    }
    it_stop(&s);
    size_t len;
    char *b = slurp(&len);
    cr_assert_gt(len, 0);
    cr_assert_eq(b[len - 1], '\n');
    static unsigned char seen[CLIENTS][PER_CLIENT];
    memset(seen, 0, sizeof(seen));
    size_t lines = 0;
    for (char *p = b, *nl; (nl = memchr(p, '\n', len - (size_t)(p - b))) != NULL; p = nl + 1) {
        *nl = 0;
        int cid, i, pad0 = 0, pad1 = 0;
        char tail[64];
        /* 127.0.0.1 - - [date] "GET /?c=C&i=I&p=zz.. HTTP/1.1" 200 5 "-" "-" */
        cr_assert_eq(strncmp(p, "127.0.0.1 - - [", 15), 0, "%s", p);
        const char *q = strstr(p, "] \"GET /?c=");
        cr_assert_not_null(q, "%s", p);
        cr_assert_eq(sscanf(q, "] \"GET /?c=%d&i=%d&p=%n%*[z]%n HTTP/1.1\" 200 5 \"-\" %63s", &cid,
                            &i, &pad0, &pad1, tail),
                     3, "%s", p);
        cr_assert_str_eq(tail, "\"-\"", "%s", p);
        cr_assert(cid >= 0 && cid < CLIENTS && i >= 0 && i < PER_CLIENT, "%s", p);
        cr_assert_eq(pad1 - pad0, 1 + (cid * 37 + i * 11) % 200, "%s", p);
        cr_assert_eq(seen[cid][i], 0, "twice: %s", p);
        seen[cid][i] = 1;
        lines++;
    }
    free(b);
    cr_assert_eq(lines, (size_t)CLIENTS * PER_CLIENT);
}

/* An O_NONBLOCK pipe nobody reads: lines that would block are dropped and
 * counted, the loop keeps serving, and what did go through is whole lines. */
Test(alogfile, nonblocking_pipe_drops_whole_lines, .timeout = 60)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK), 0);
#ifdef F_SETPIPE_SZ
    fcntl(p[1], F_SETPIPE_SZ, 4096); /* fills sooner; best effort */
#endif
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.access_log_file.fd = p[1];
    cfg.access_log_file.buffer = 8192;
    cfg.access_log_file.flush_ms = 0;
    it_server s;
    it_start(&s, &cfg);
    it_conn c;
    cr_assert_eq(it_connect(&c, s.port), 0);
    hz_metrics m;
    int sent = 0;
    do {
        get(&c, "/?fill-the-pipe-with-lines-of-some-length");
        sent++;
        hz_server_metrics(s.srv, &m);
    } while (m.access_log_dropped == 0 && sent < 20000);
    cr_assert_gt(m.access_log_dropped, 0);
    get(&c, "/?still-served");
    sent++;
    it_close(&c);
    cr_assert_eq(hz_server_stop(s.srv, 1000), 0);
    cr_assert_eq(hz_server_wait(s.srv), 0); /* flushes: more may drop */
    hz_server_metrics(s.srv, &m);
    hz_server_destroy(s.srv);
    char buf[1 << 16];
    ssize_t n;
    size_t got = 0, lines = 0;
    int last = '\n';
    cr_assert_eq(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK), 0);
    while ((n = read(p[0], buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
        last = buf[n - 1];
        got += (size_t)n;
    }
    cr_assert_gt(got, 0);
    cr_assert_eq(last, '\n', "a partial line went into the pipe");
    cr_assert_eq(lines + m.access_log_dropped, (size_t)sent, "lines %zu dropped %llu sent %d",
                 lines, (unsigned long long)m.access_log_dropped, sent);
    close(p[0]);
    close(p[1]);
}
