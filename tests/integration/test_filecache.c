/* test_filecache.c - the loop's open-file cache behind the static handler
 * (hz_static_config.file_cache / file_cache_ms; docs/configuration.md): a cached
 * file is served from its open fd, a replaced or deleted file shows once
 * file_cache_ms passed, the table holds at most file_cache open files, a
 * response still sending from an evicted fd completes, and every fd is
 * closed when the server is destroyed. Open fds are counted by what they
 * point at (/proc/self/fd -> the test's directory). Plain HTTP/1.1. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "itest.h"
#include "test_alloc.h"

static it_server S;
static hz_static *st;
static hz_count_alloc CA;
static char dir[64];

static void put_file(const char *name, const char *body, size_t n)
{
    char path[128], tmp[160];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    FILE *f = fopen(tmp, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(body, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(rename(tmp, path), 0); /* a new inode, as deployments replace files */
}

/* Open fds of this process pointing into dir (-1 when /proc is missing). */
static int fds_in_dir(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    size_t dl = strlen(dir);
    while ((de = readdir(d)) != NULL) {
        char p[300], t[512];
        snprintf(p, sizeof(p), "/proc/self/fd/%s", de->d_name);
        ssize_t k = readlink(p, t, sizeof(t) - 1);
        if (k <= 0)
            continue;
        t[k] = 0;
        if (!strncmp(t, dir, dl) && t[dl] == '/')
            n++;
    }
    closedir(d);
    return n;
}

static void sleep_ms(unsigned ms);

/* fds_in_dir() once it is n, or what it is after 5 s: a response's fd is
 * given back after its last byte went out, which the client may see first. */
static int wait_fds(int n)
{
    long long t0 = it_now_ms();
    int k;
    while ((k = fds_in_dir()) != n && it_now_ms() - t0 < 5000)
        sleep_ms(10);
    return k;
}

static void start(unsigned entries, unsigned ms)
{
    snprintf(dir, sizeof(dir), "/tmp/hz-fcache-XXXXXX");
    cr_assert(mkdtemp(dir));
    if (fds_in_dir() < 0)
        cr_skip_test("no /proc/self/fd");
    hz_config cfg;
    it_config_counted(&cfg, &CA);
    cfg.loops = 1;
    cr_assert_eq(hz_server_create(&S.srv, &cfg), 0);
    hz_static_config sc;
    hz_static_config_init(&sc);
    cr_assert_eq(sc.file_cache, 64u, "default entries");
    cr_assert_eq(sc.file_cache_ms, 1000u, "default time");
    sc.root = dir;
    sc.file_cache = entries;
    sc.file_cache_ms = ms;
    cr_assert_eq(hz_static_create(&st, &sc, NULL), 0);
    cr_assert_eq(hz_route_static(S.srv, "/f/", st), 0);
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    int idx = hz_server_listen_with(S.srv, &lc);
    cr_assert_geq(idx, 0);
    S.port = hz_server_port(S.srv, idx);
    cr_assert_eq(hz_server_start(S.srv), 0);
}

static void finish(void)
{
    it_stop(&S);
    hz_static_destroy(st);
    st = NULL;
    cr_expect_eq(fds_in_dir(), 0, "an fd of the cache outlived the server");
    it_expect_no_leaks(&CA);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    (void)system(cmd);
}

/* GET /f/name: the status, the body into out (NUL-terminated). */
static int get(const char *name, char *out, size_t cap)
{
    it_conn c;
    cr_assert_eq(it_connect(&c, S.port), 0);
    char req[256];
    snprintf(req, sizeof(req), "GET /f/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", name);
    cr_assert_eq(it_sends(&c, req), 0);
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 10000), 0, "no response for %s", name);
    int status = r.status;
    snprintf(out, cap, "%.*s", (int)r.body_len, r.body ? r.body : "");
    it_resp_free(&r);
    it_close(&c);
    return status;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

TestSuite(filecache, .timeout = 120);

Test(filecache, cached_file_is_served_from_its_open_fd_until_the_bound)
{
    start(64, 400);
    char b[64];
    put_file("a.txt", "one", 3);
    long long t0 = it_now_ms(); /* the entry is younger than this */
    cr_assert_eq(get("a.txt", b, sizeof(b)), 200);
    cr_assert_str_eq(b, "one");
    cr_expect_eq(fds_in_dir(), 1, "the file stays open in the cache");
    put_file("a.txt", "two!", 4);
    /* Within the bound: the open fd still holds the old file (a long
     * bound is what the cache trades; this shows it is used at all). */
    int s = get("a.txt", b, sizeof(b));
    if (it_now_ms() - t0 < 300) {
        cr_assert_eq(s, 200);
        cr_expect_str_eq(b, "one", "not served from the cached fd");
    }
    sleep_ms(450); /* the bound itself is what is tested */
    cr_assert_eq(get("a.txt", b, sizeof(b)), 200);
    cr_expect_str_eq(b, "two!", "the replaced file is not served after file_cache_ms");
    finish();
}

Test(filecache, deleted_file_is_404_after_the_bound)
{
    start(64, 300);
    char b[64], path[128];
    put_file("gone.txt", "here", 4);
    cr_assert_eq(get("gone.txt", b, sizeof(b)), 200);
    snprintf(path, sizeof(path), "%s/gone.txt", dir);
    cr_assert_eq(unlink(path), 0);
    sleep_ms(350);
    cr_expect_eq(get("gone.txt", b, sizeof(b)), 404);
    cr_expect_eq(fds_in_dir(), 0, "the deleted file's fd is still open");
    finish();
}

Test(filecache, at_most_file_cache_files_stay_open)
{
    start(4, 60000);
    char b[64], name[32];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof(name), "n%d.txt", i);
        put_file(name, name, strlen(name));
    }
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 20; i++) {
            snprintf(name, sizeof(name), "n%d.txt", i);
            cr_assert_eq(get(name, b, sizeof(b)), 200);
            cr_assert_str_eq(b, name);
            /* An entry evicted while the response before still had its
             * fd is closed when that response gives it back. */
            long long t0 = it_now_ms();
            int n;
            while ((n = fds_in_dir()) > 4 && it_now_ms() - t0 < 5000)
                sleep_ms(10);
            cr_assert(n >= 1 && n <= 4, "%d files open (bound 4)", n);
        }
    cr_expect_eq(wait_fds(4), 4);
    finish();
}

Test(filecache, off_keeps_no_file_open)
{
    start(0, 1000);
    char b[64];
    put_file("a.txt", "one", 3);
    cr_assert_eq(get("a.txt", b, sizeof(b)), 200);
    put_file("a.txt", "two!", 4);
    cr_assert_eq(get("a.txt", b, sizeof(b)), 200);
    cr_expect_str_eq(b, "two!");
    cr_expect_eq(wait_fds(0), 0);
    finish();
}

/* A response still sending from a cached fd when its entry is evicted
 * (file_cache = 1, another file requested meanwhile) completes whole; the
 * fd closes once it is done. */
Test(filecache, evicted_fd_lives_until_its_response_is_sent)
{
    start(1, 60000);
    /* More than the socket buffers hold while the client does not read
     * (tcp_wmem's 4 MiB maximum plus a small receive buffer). */
    size_t n = 16u << 20;
    char *big = malloc(n);
    cr_assert(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 23);
    put_file("big.bin", big, n);
    put_file("small.txt", "s", 1);
    it_conn c;
    cr_assert_eq(it_connect(&c, S.port), 0);
    int rcv = 64 * 1024;
    (void)setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    cr_assert_eq(it_sends(&c, "GET /f/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
                 0);
    cr_assert(it_read_atleast(&c, 1, 10000) > 0, "no response started");
    char b[64];
    cr_assert_eq(get("small.txt", b, sizeof(b)), 200); /* evicts big.bin's entry */
    cr_assert_eq(fds_in_dir(), 2, "big.bin's fd must stay open while it is sent");
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 30000), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, n);
    cr_assert(!memcmp(r.body, big, n), "the body differs from the file");
    it_resp_free(&r);
    it_close(&c);
    free(big);
    /* done ran before the close was seen: only small.txt's fd is left */
    cr_expect_eq(wait_fds(1), 1);
    finish();
}

/* The public calls' contract, from a handler on the loop. */
static char api_log[256];

static void h_api(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    char path[128];
    snprintf(path, sizeof(path), "%s/a.txt", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char meta[300] = "meta!", got[8] = "";
    int miss = hz_req_file_get(req, &S, "k", 1, got, 6);
    int r0 = hz_req_file_put(req, &S, "k", 1, 0, 1000, fd, meta, 6);   /* max 0 */
    int r1 = hz_req_file_put(req, &S, "k", 1, 4, 0, fd, meta, 6);      /* ttl 0 */
    int r2 = hz_req_file_put(req, &S, "k", 1, 4, 1000, fd, meta, 300); /* meta too big */
    int r3 = hz_req_file_put(req, &S, "k", 1, 4, 60000, fd, meta, 6);  /* cached */
    int g = hz_req_file_get(req, &S, "k", 1, got, 6);
    int other = hz_req_file_get(req, &api_log, "k", 1, got + 6, 1); /* another owner */
    snprintf(api_log, sizeof(api_log), "%d %d %d %d %d %d %s %d", miss, r0, r1, r2, r3, g == fd,
             got, other);
    hz_req_file_close(req, g);
    hz_req_file_close(req, fd);
    hz_res_send(res, 200, "ok", 2);
}

Test(filecache, public_calls_contract)
{
    start(64, 1000);
    put_file("a.txt", "one", 3);
    cr_assert_eq(hz_server_stop(S.srv, 1000), 0);
    hz_server_wait(S.srv);
    hz_server_destroy(S.srv);
    /* a server of its own with the route (routes are added before start) */
    hz_config cfg;
    it_config_counted(&cfg, &CA);
    cfg.loops = 1;
    cr_assert_eq(hz_server_create(&S.srv, &cfg), 0);
    cr_assert_eq(hz_route(S.srv, "GET", "/api", h_api, NULL), 0);
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    int idx = hz_server_listen_with(S.srv, &lc);
    cr_assert_geq(idx, 0);
    S.port = hz_server_port(S.srv, idx);
    cr_assert_eq(hz_server_start(S.srv), 0);
    it_conn c;
    cr_assert_eq(it_connect(&c, S.port), 0);
    cr_assert_eq(it_sends(&c, "GET /api HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 10000), 0);
    cr_assert_eq(r.status, 200);
    it_resp_free(&r);
    it_close(&c);
    char want[128];
    snprintf(want, sizeof(want), "%d %d %d %d 0 1 meta! %d", HZ_ENOENT, HZ_EINVAL, HZ_EINVAL,
             HZ_EINVAL, HZ_ENOENT);
    cr_expect_str_eq(api_log, want);
    cr_expect_eq(fds_in_dir(), 1, "the cached entry holds its fd until the server ends");
    finish();
}
