/* test_static.c - the static-file handler over real sockets: content types,
 * validators and 304s, byte ranges (206/416), traversal attempts (.., %2e%2e,
 * encoded slashes, NUL), symlinks in and out of the root, index files,
 * listings, HEAD, pipelined file bodies and a large file (sendfile) checked
 * byte for byte. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>
#include "itest.h"

#define IO_MS 5000
#define BIG_SIZE (3u * 1024u * 1024u + 123u)

static char g_tmp[256];  /* parent: root/ and outside/ */
static char g_root[300]; /* served directory */
static hz_server *g_srv;
static hz_static *g_st_strict, *g_st_follow;
static int g_port;
static unsigned char *g_big;

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f, "fopen %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void make_tree(void)
{
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/hz-static-XXXXXX");
    cr_assert(mkdtemp(g_tmp));
    snprintf(g_root, sizeof(g_root), "%s/root", g_tmp);
    char p[600], q[600];
    cr_assert_eq(mkdir(g_root, 0755), 0);
    snprintf(p, sizeof(p), "%s/outside", g_tmp);
    cr_assert_eq(mkdir(p, 0755), 0);
    write_file(p, "secret.txt", "top secret\n", 11);
    write_file(g_tmp, "secret.txt", "sibling secret\n", 15);
    write_file(g_root, "a.txt", "hello static\n", 13);
    write_file(g_root, "index.html", "<h1>home</h1>\n", 14);
    write_file(g_root, "style.css", "body{}\n", 7);
    snprintf(p, sizeof(p), "%s/sub", g_root);
    cr_assert_eq(mkdir(p, 0755), 0);
    write_file(p, "b.json", "{}\n", 3);
    write_file(p, "we<ird&.txt", "x", 1);
    snprintf(p, sizeof(p), "%s/withindex", g_root);
    cr_assert_eq(mkdir(p, 0755), 0);
    write_file(p, "index.html", "inner index\n", 12);
    g_big = malloc(BIG_SIZE);
    uint32_t x = 12345;
    for (size_t i = 0; i < BIG_SIZE; i++) {
        x = x * 1103515245u + 12345u;
        g_big[i] = (unsigned char)(x >> 16);
    }
    write_file(g_root, "big.bin", g_big, BIG_SIZE);
    /* Symlinks: one inside the root, two leading out of it. */
    snprintf(p, sizeof(p), "%s/link_in", g_root);
    cr_assert_eq(symlink("a.txt", p), 0);
    snprintf(p, sizeof(p), "%s/link_out", g_root);
    snprintf(q, sizeof(q), "%s/outside/secret.txt", g_tmp);
    cr_assert_eq(symlink(q, p), 0);
    snprintf(p, sizeof(p), "%s/dirlink_out", g_root);
    snprintf(q, sizeof(q), "%s/outside", g_tmp);
    cr_assert_eq(symlink(q, p), 0);
    snprintf(p, sizeof(p), "%s/dirlink_in", g_root);
    cr_assert_eq(symlink("sub", p), 0);
    snprintf(p, sizeof(p), "%s/fifo", g_root);
    cr_assert_eq(mkfifo(p, 0644), 0);
}

static void rm_tree(void)
{
    char cmd[600];
    if (!g_tmp[0])
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_tmp);
    cr_expect_eq(system(cmd), 0);
    free(g_big);
}

static void setup(void)
{
    make_tree();
    hz_static_config sc;
    hz_static_config_init(&sc);
    sc.root = g_root;
    sc.cache_control = "max-age=60";
    cr_assert_eq(hz_static_create(&g_st_strict, &sc, NULL), 0);
    sc.listing = 1;
    sc.follow_symlinks = 1;
    sc.index = NULL;
    sc.cache_control = NULL;
    cr_assert_eq(hz_static_create(&g_st_follow, &sc, NULL), 0);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cr_assert_eq(hz_server_create(&g_srv, &cfg), 0);
    cr_assert_eq(hz_route_static(g_srv, "/static/", g_st_strict), 0);
    cr_assert_eq(hz_route_static(g_srv, "/files/", g_st_follow), 0);
    int idx = hz_server_listen(g_srv, "127.0.0.1", 0, NULL);
    cr_assert_geq(idx, 0);
    g_port = hz_server_port(g_srv, idx);
    cr_assert_eq(hz_server_start(g_srv), 0);
}

static void teardown(void)
{
    hz_server_stop(g_srv, 1000);
    hz_server_wait(g_srv);
    hz_server_destroy(g_srv);
    hz_static_destroy(g_st_strict);
    hz_static_destroy(g_st_follow);
    rm_tree();
}

TestSuite(static_files, .init = setup, .fini = teardown, .timeout = 30);

/* One request on a fresh connection; extra: header lines ending in CRLF. */
static int fetch(const char *method, const char *target, const char *extra, it_resp *r)
{
    it_conn c;
    char req[8192];
    if (it_connect(&c, g_port) < 0)
        return -1;
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", method,
             target, extra ? extra : "");
    int rc = it_sends(&c, req);
    if (rc == 0)
        rc = it_read_response(&c, r, !strcmp(method, "HEAD"), IO_MS);
    it_close(&c);
    return rc;
}

static int status_of(const char *target)
{
    it_resp r;
    cr_assert_eq(fetch("GET", target, NULL, &r), 0, "no response for %s", target);
    int st = r.status;
    it_resp_free(&r);
    return st;
}

Test(static_files, serves_file_with_type_and_validators)
{
    it_resp r;
    cr_assert_eq(fetch("GET", "/static/a.txt", NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello static\n");
    cr_assert_str_eq(it_header(&r, "Content-Type"), "text/plain; charset=utf-8");
    cr_assert_str_eq(it_header(&r, "Content-Length"), "13");
    cr_assert_str_eq(it_header(&r, "Accept-Ranges"), "bytes");
    cr_assert_str_eq(it_header(&r, "Cache-Control"), "max-age=60");
    struct stat sb; /* the ETag: size and mtime in hex */
    char path[400], want[80];
    snprintf(path, sizeof(path), "%s/a.txt", g_root);
    cr_assert_eq(stat(path, &sb), 0);
    snprintf(want, sizeof(want), "\"%llx-%llx\"", (unsigned long long)sb.st_size,
             (unsigned long long)sb.st_mtime);
    cr_assert_str_eq(it_header(&r, "ETag"), want);
    cr_assert_neq(it_header(&r, "Last-Modified")[0], 0);
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/style.css", NULL, &r), 0);
    cr_assert_str_eq(it_header(&r, "Content-Type"), "text/css; charset=utf-8");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/sub/b.json", NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(it_header(&r, "Content-Type"), "application/json");
    it_resp_free(&r);
}

Test(static_files, head_has_length_and_no_body)
{
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, g_port), 0);
    /* HEAD then GET pipelined: a body after the HEAD would corrupt the GET. */
    cr_assert_eq(it_sends(&c, "HEAD /static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /static/index.html HTTP/1.1\r\nHost: x\r\n\r\n"),
                 0);
    cr_assert_eq(it_read_response(&c, &r, 1, IO_MS), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(it_header(&r, "Content-Length"), "13");
    it_resp_free(&r);
    cr_assert_eq(it_read_response(&c, &r, 0, IO_MS), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "<h1>home</h1>\n");
    it_resp_free(&r);
    it_close(&c);
}

Test(static_files, if_none_match_and_if_modified_since)
{
    it_resp r;
    char etag[128], lm[128], hdr[300];
    cr_assert_eq(fetch("GET", "/static/a.txt", NULL, &r), 0);
    snprintf(etag, sizeof(etag), "%s", it_header(&r, "ETag"));
    snprintf(lm, sizeof(lm), "%s", it_header(&r, "Last-Modified"));
    it_resp_free(&r);
    cr_assert(etag[0] == '"');

    snprintf(hdr, sizeof(hdr), "If-None-Match: %s\r\n", etag);
    cr_assert_eq(fetch("GET", "/static/a.txt", hdr, &r), 0);
    cr_assert_eq(r.status, 304);
    cr_assert_str_eq(it_header(&r, "ETag"), etag);
    cr_assert_eq(r.body_len, 0);
    it_resp_free(&r);
    snprintf(hdr, sizeof(hdr), "If-None-Match: \"nope\", W/%s\r\n", etag);
    cr_assert_eq(fetch("GET", "/static/a.txt", hdr, &r), 0);
    cr_assert_eq(r.status, 304, "weak comparison in a list");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/a.txt", "If-None-Match: *\r\n", &r), 0);
    cr_assert_eq(r.status, 304);
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/a.txt", "If-None-Match: \"other\"\r\n", &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello static\n");
    it_resp_free(&r);

    snprintf(hdr, sizeof(hdr), "If-Modified-Since: %s\r\n", lm);
    cr_assert_eq(fetch("GET", "/static/a.txt", hdr, &r), 0);
    cr_assert_eq(r.status, 304);
    it_resp_free(&r);
    cr_assert_eq(
        fetch("GET", "/static/a.txt", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n", &r),
        0);
    cr_assert_eq(r.status, 200);
    it_resp_free(&r);
    cr_assert_eq(
        fetch("GET", "/static/a.txt", "If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n", &r),
        0);
    cr_assert_eq(r.status, 200, "RFC 850 date, older");
    it_resp_free(&r);
    cr_assert_eq(
        fetch("GET", "/static/a.txt", "If-Modified-Since: Fri Jan  1 00:00:00 2100\r\n", &r), 0);
    cr_assert_eq(r.status, 304, "asctime date, newer");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/a.txt", "If-Modified-Since: yesterday\r\n", &r), 0);
    cr_assert_eq(r.status, 200, "an unparsable date is ignored");
    it_resp_free(&r);
    /* If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2). */
    snprintf(hdr, sizeof(hdr), "If-None-Match: \"other\"\r\nIf-Modified-Since: %s\r\n", lm);
    cr_assert_eq(fetch("GET", "/static/a.txt", hdr, &r), 0);
    cr_assert_eq(r.status, 200);
    it_resp_free(&r);
}

Test(static_files, single_ranges)
{
    it_resp r;
    cr_assert_eq(fetch("GET", "/static/a.txt", "Range: bytes=0-4\r\n", &r), 0);
    cr_assert_eq(r.status, 206);
    cr_assert_str_eq(r.body, "hello");
    cr_assert_str_eq(it_header(&r, "Content-Range"), "bytes 0-4/13");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/a.txt", "Range: bytes=6-\r\n", &r), 0);
    cr_assert_eq(r.status, 206);
    cr_assert_str_eq(r.body, "static\n");
    cr_assert_str_eq(it_header(&r, "Content-Range"), "bytes 6-12/13");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/a.txt", "Range: bytes=-3\r\n", &r), 0);
    cr_assert_eq(r.status, 206, "suffix range");
    cr_assert_str_eq(r.body, "ic\n");
    cr_assert_str_eq(it_header(&r, "Content-Range"), "bytes 10-12/13");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/a.txt", "Range: bytes=-100\r\n", &r), 0);
    cr_assert_eq(r.status, 206, "suffix longer than the file");
    cr_assert_str_eq(r.body, "hello static\n");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/a.txt", "Range: bytes=5-1000\r\n", &r), 0);
    cr_assert_eq(r.status, 206, "end clamped");
    cr_assert_str_eq(it_header(&r, "Content-Range"), "bytes 5-12/13");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/a.txt", "Range: bytes=13-\r\n", &r), 0);
    cr_assert_eq(r.status, 416);
    cr_assert_str_eq(it_header(&r, "Content-Range"), "bytes */13");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/a.txt", "Range: bytes=-0\r\n", &r), 0);
    cr_assert_eq(r.status, 416);
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/a.txt", "Range: bytes=0-1,3-4\r\n", &r), 0);
    cr_assert_eq(r.status, 200, "several ranges: the whole file");
    cr_assert_str_eq(r.body, "hello static\n");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/a.txt", "Range: bytes=4-2\r\n", &r), 0);
    cr_assert_eq(r.status, 200, "invalid range ignored");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/a.txt", "Range: lines=1-2\r\n", &r), 0);
    cr_assert_eq(r.status, 200, "unknown unit ignored");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/a.txt", "Range: bytes=0-4\r\nIf-Range: \"stale\"\r\n", &r),
                 0);
    cr_assert_eq(r.status, 200, "If-Range mismatch: the whole file");
    cr_assert_str_eq(r.body, "hello static\n");
    it_resp_free(&r);
    char etag[128], hdr[300];
    cr_assert_eq(fetch("HEAD", "/static/a.txt", NULL, &r), 0);
    snprintf(etag, sizeof(etag), "%s", it_header(&r, "ETag"));
    it_resp_free(&r);
    snprintf(hdr, sizeof(hdr), "Range: bytes=0-4\r\nIf-Range: %s\r\n", etag);
    cr_assert_eq(fetch("GET", "/static/a.txt", hdr, &r), 0);
    cr_assert_eq(r.status, 206, "If-Range match");
    cr_assert_str_eq(r.body, "hello");
    it_resp_free(&r);
}

Test(static_files, traversal_is_refused)
{
    static const char *const bad[] = {
        "/static/../secret.txt",        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E/secret.txt",    "/static/.%2e/secret.txt",
        "/static/sub/../../secret.txt", "/static/sub/%2e%2e/%2e%2e/secret.txt",
        "/static/..%2fsecret.txt",      "/static/sub%2f..%2f..%2fsecret.txt",
        "/static/%2e%2e%2fsecret.txt",  "/static/..%5csecret.txt",
        "/static/a.txt%00.html",        "/static/%c0%ae%c0%ae/secret.txt",
        "/files/../secret.txt",         "/files/%2e%2e/outside/secret.txt",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        it_resp r;
        cr_assert_eq(fetch("GET", bad[i], NULL, &r), 0, "%s", bad[i]);
        cr_expect(r.status == 400 || r.status == 404, "%s: %d", bad[i], r.status);
        cr_expect_null(strstr(r.body, "secret"), "%s leaked", bad[i]);
        it_resp_free(&r);
    }
    /* Dot segments that stay inside the root are fine. */
    it_resp r;
    cr_assert_eq(fetch("GET", "/static/sub/../a.txt", NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello static\n");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/sub/%2e%2e/a.txt", NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    it_resp_free(&r);
}

Test(static_files, symlinks)
{
    /* follow_symlinks off: none is followed, inside or out. */
    cr_assert_eq(status_of("/static/link_in"), 404);
    cr_assert_eq(status_of("/static/link_out"), 404);
    cr_assert_eq(status_of("/static/dirlink_out/secret.txt"), 404);
    cr_assert_eq(status_of("/static/dirlink_in/b.json"), 404);
    /* follow_symlinks on: only targets inside the root. */
    it_resp r;
    cr_assert_eq(fetch("GET", "/files/link_in", NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello static\n");
    it_resp_free(&r);
    cr_assert_eq(status_of("/files/dirlink_in/b.json"), 200);
    cr_assert_eq(fetch("GET", "/files/link_out", NULL, &r), 0);
    cr_assert_eq(r.status, 404);
    cr_assert_null(strstr(r.body, "secret"));
    it_resp_free(&r);
    cr_assert_eq(status_of("/files/dirlink_out/secret.txt"), 404);
}

Test(static_files, index_redirect_and_listing)
{
    it_resp r;
    cr_assert_eq(fetch("GET", "/static/", NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "<h1>home</h1>\n");
    cr_assert_str_eq(it_header(&r, "Content-Type"), "text/html; charset=utf-8");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/withindex/", NULL, &r), 0);
    cr_assert_str_eq(r.body, "inner index\n");
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/sub?x=1", NULL, &r), 0);
    cr_assert_eq(r.status, 301);
    cr_assert_str_eq(it_header(&r, "Location"), "/static/sub/?x=1");
    it_resp_free(&r);
    /* No index, listing off. */
    cr_assert_eq(status_of("/static/sub/"), 404);
    /* Listing on (and no index file configured). */
    cr_assert_eq(fetch("GET", "/files/sub/", NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(it_header(&r, "Content-Type"), "text/html; charset=utf-8");
    cr_assert_not_null(strstr(r.body, ">b.json</a>"));
    cr_assert_not_null(strstr(r.body, "href=\"we%3Cird%26.txt\""), "%s", r.body);
    cr_assert_not_null(strstr(r.body, ">we&lt;ird&amp;.txt</a>"));
    cr_assert_null(strstr(r.body, "we<ird"));
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/files/", NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.body, "href=\"sub/\""));
    it_resp_free(&r);
}

Test(static_files, not_found_and_special_files)
{
    cr_assert_eq(status_of("/static/nope.txt"), 404);
    cr_assert_eq(status_of("/static/a.txt/"), 404);
    cr_assert_eq(status_of("/static/fifo"), 404); /* and the loop did not block on it */
    cr_assert_eq(status_of("/static/a.txt"), 200);
    it_resp r;
    cr_assert_eq(fetch("POST", "/static/a.txt", "Content-Length: 0\r\n", &r), 0);
    cr_assert_eq(r.status, 405);
    it_resp_free(&r);
}

static void check_big(const it_resp *r, size_t off, size_t len)
{
    cr_assert_eq(r->body_len, len);
    cr_assert_eq(memcmp(r->body, g_big + off, len), 0, "body differs from the file");
}

Test(static_files, large_file_byte_for_byte)
{
    it_resp r;
    cr_assert_eq(fetch("GET", "/static/big.bin", NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(it_header(&r, "Content-Type"), "application/octet-stream");
    check_big(&r, 0, BIG_SIZE);
    it_resp_free(&r);
    char hdr[100];
    snprintf(hdr, sizeof(hdr), "Range: bytes=1000000-%u\r\n", 1000000u + 2000000u - 1u);
    cr_assert_eq(fetch("GET", "/static/big.bin", hdr, &r), 0);
    cr_assert_eq(r.status, 206);
    check_big(&r, 1000000, 2000000);
    it_resp_free(&r);
}

Test(static_files, pipelined_file_bodies_keep_order)
{
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, g_port), 0);
    cr_assert_eq(it_sends(&c,
                          "GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /static/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=-10\r\n\r\n"),
                 0);
    cr_assert_eq(it_read_response(&c, &r, 0, IO_MS), 0);
    check_big(&r, 0, BIG_SIZE);
    it_resp_free(&r);
    cr_assert_eq(it_read_response(&c, &r, 0, IO_MS), 0);
    cr_assert_str_eq(r.body, "hello static\n");
    it_resp_free(&r);
    cr_assert_eq(it_read_response(&c, &r, 0, IO_MS), 0);
    cr_assert_eq(r.status, 206);
    check_big(&r, BIG_SIZE - 10, 10);
    it_resp_free(&r);
    it_close(&c);
}

Test(static_files, client_gone_mid_file)
{
    /* Read only the head of a large body, then vanish: the server must
     * close the file and keep serving. */
    it_conn c;
    it_resp r;
    cr_assert_eq(it_connect(&c, g_port), 0);
    cr_assert_eq(it_sends(&c, "GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(&c, &r, 1, IO_MS), 0);
    cr_assert_eq(r.status, 200);
    it_resp_free(&r);
    it_close(&c);
    cr_assert_eq(status_of("/static/a.txt"), 200);
}

Test(static_files, config_errors, .init = NULL, .fini = NULL)
{
    hz_static *st = (hz_static *)1;
    hz_static_config sc;
    hz_static_config_init(&sc);
    cr_assert_eq(hz_static_create(&st, &sc, NULL), HZ_EINVAL);
    cr_assert_null(st);
    sc.root = "/nonexistent/hz-static";
    cr_assert_eq(hz_static_create(&st, &sc, NULL), HZ_ENOENT);
    sc.root = "/tmp";
    sc.index = "../index.html";
    cr_assert_eq(hz_static_create(&st, &sc, NULL), HZ_EINVAL);
    sc.index = "index.html";
    sc.cache_control = "a\r\nb";
    cr_assert_eq(hz_static_create(&st, &sc, NULL), HZ_EINVAL);
    hz_static_destroy(NULL);
}

/* ---- over TLS: the copy path (pread into the output buffer) and the
 * handshake counters --------------------------------------------------------- */
#if HZ_HAVE_TLS
#include <curl/curl.h>

typedef struct sink {
    unsigned char *p;
    size_t n, cap;
} sink;

static size_t on_data(char *d, size_t sz, size_t nm, void *ud)
{
    sink *k = ud;
    size_t n = sz * nm;
    if (k->n + n > k->cap) {
        k->cap = (k->n + n) * 2;
        k->p = realloc(k->p, k->cap);
    }
    memcpy(k->p + k->n, d, n);
    k->n += n;
    return n;
}

static long https_get(const char *path, const char *range, sink *k)
{
    char url[256];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", g_port, path);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L); /* a throwaway self-signed cert */
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 20000L);
    if (range)
        curl_easy_setopt(h, CURLOPT_RANGE, range);
    long code = 0;
    CURLcode rc = curl_easy_perform(h);
    cr_assert_eq(rc, CURLE_OK, "curl: %s", curl_easy_strerror(rc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    return code;
}

static void setup_tls(void)
{
    make_tree();
    char key[600], crt[600];
    snprintf(key, sizeof(key), "%s/k.pem", g_tmp);
    snprintf(crt, sizeof(crt), "%s/c.pem", g_tmp);
    cr_assert_eq(it_make_cert(key, crt, "localhost"), 0, "openssl req failed");
    hz_static_config sc;
    hz_static_config_init(&sc);
    sc.root = g_root;
    cr_assert_eq(hz_static_create(&g_st_strict, &sc, NULL), 0);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.timeouts.tls_handshake = 500;
    cr_assert_eq(hz_server_create(&g_srv, &cfg), 0);
    cr_assert_eq(hz_route_static(g_srv, "/static/", g_st_strict), 0);
    hz_tls_config t;
    hz_tls_config_init(&t);
    t.certs[0].cert_file = crt;
    t.certs[0].key_file = key;
    t.ncerts = 1;
    int idx = hz_server_listen(g_srv, "127.0.0.1", 0, &t);
    cr_assert_geq(idx, 0, "listen: %d", idx);
    g_port = hz_server_port(g_srv, idx);
    cr_assert_eq(hz_server_start(g_srv), 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown_tls(void)
{
    hz_server_stop(g_srv, 1000);
    hz_server_wait(g_srv);
    hz_server_destroy(g_srv);
    hz_static_destroy(g_st_strict);
    curl_global_cleanup();
    rm_tree();
}

Test(static_tls, large_file_and_range_over_https, .init = setup_tls, .fini = teardown_tls,
     .timeout = 60)
{
    sink k = {0};
    cr_assert_eq(https_get("/static/big.bin", NULL, &k), 200);
    cr_assert_eq(k.n, BIG_SIZE);
    cr_assert_eq(memcmp(k.p, g_big, BIG_SIZE), 0);
    k.n = 0;
    cr_assert_eq(https_get("/static/big.bin", "100-70099", &k), 206);
    cr_assert_eq(k.n, 70000);
    cr_assert_eq(memcmp(k.p, g_big + 100, 70000), 0);
    k.n = 0;
    cr_assert_eq(https_get("/static/a.txt", NULL, &k), 200);
    cr_assert_eq(k.n, 13);
    free(k.p);

    /* Three handshakes done; a plain-HTTP request on the TLS port fails one. */
    it_conn c;
    cr_assert_eq(it_connect(&c, g_port), 0);
    cr_assert_eq(it_sends(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    cr_assert_eq(it_wait_closed(&c, IO_MS), 1);
    it_close(&c);
    hz_metrics m;
    long long deadline = it_now_ms() + IO_MS;
    for (;;) {
        hz_server_metrics(g_srv, &m);
        if ((m.tls_handshakes_failed >= 1 && m.method[HZ_METHOD_GET] >= 3) ||
            it_now_ms() > deadline)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(m.tls_handshakes_ok, 3);
    cr_assert_eq(m.tls_handshakes_failed, 1);
    cr_assert_eq(m.method[HZ_METHOD_GET], 3);

    /* A client that never starts its handshake: the handshake timeout. */
    cr_assert_eq(it_connect(&c, g_port), 0);
    cr_assert_eq(it_wait_closed(&c, IO_MS), 1);
    it_close(&c);
    deadline = it_now_ms() + IO_MS;
    for (;;) {
        hz_server_metrics(g_srv, &m);
        /* The counters are bumped as the loop tears the connection down,
         * which may be just after our side saw the close: wait for all. */
        if ((m.tls_handshakes_failed >= 2 && m.timeouts[HZ_TIMEOUT_HANDSHAKE] >= 1 &&
             m.conn_closed[HZ_CLOSE_TIMEOUT] >= 1) ||
            it_now_ms() > deadline)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(m.timeouts[HZ_TIMEOUT_HANDSHAKE], 1);
    cr_assert_eq(m.tls_handshakes_failed, 2);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_TIMEOUT], 1);
}
#endif

/* ---- limits ------------------------------------------------------------------ */

/* A client that never reads a file body: the write timeout closes it, the
 * file is released, and the server keeps serving. */
Test(static_limits, stalled_reader_hits_the_write_timeout, .timeout = 30)
{
    make_tree();
    /* Bigger than any socket buffers on the way (sparse: costs no disk). */
    char p[600];
    snprintf(p, sizeof(p), "%s/huge.bin", g_root);
    int fd = open(p, O_CREAT | O_WRONLY, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, (off_t)256 << 20), 0);
    close(fd);
    hz_static_config sc;
    hz_static_config_init(&sc);
    sc.root = g_root;
    cr_assert_eq(hz_static_create(&g_st_strict, &sc, NULL), 0);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.timeouts.write = 300;
    cr_assert_eq(hz_server_create(&g_srv, &cfg), 0);
    cr_assert_eq(hz_route_static(g_srv, "/static/", g_st_strict), 0);
    int idx = hz_server_listen(g_srv, "127.0.0.1", 0, NULL);
    g_port = hz_server_port(g_srv, idx);
    cr_assert_eq(hz_server_start(g_srv), 0);
    it_conn c;
    cr_assert_eq(it_connect(&c, g_port), 0);
    int small = 4096;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    cr_assert_eq(it_sends(&c, "GET /static/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    hz_metrics m;
    long long deadline = it_now_ms() + 10000;
    for (;;) {
        hz_server_metrics(g_srv, &m);
        /* The timeout is counted just before the close that counts the
         * close reason and the aborted request: wait for all three. */
        if ((m.timeouts[HZ_TIMEOUT_WRITE] >= 1 && m.conn_closed[HZ_CLOSE_TIMEOUT] >= 1 &&
             m.requests_aborted >= 1) ||
            it_now_ms() > deadline)
            break;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(m.timeouts[HZ_TIMEOUT_WRITE], 1);
    cr_assert_eq(m.conn_closed[HZ_CLOSE_TIMEOUT], 1);
    cr_assert_eq(m.requests_aborted, 1, "the body never completed");
    cr_assert_eq(m.requests, 0);
    it_close(&c);
    cr_assert_eq(status_of("/static/a.txt"), 200);
    teardown();
}

/* A listing stops at HZ_LISTING_MAX (10,000) entries. */
Test(static_limits, listing_is_capped, .init = setup, .fini = teardown, .timeout = 60)
{
    char dir[600], name[700];
    snprintf(dir, sizeof(dir), "%s/many", g_root);
    cr_assert_eq(mkdir(dir, 0755), 0);
    for (int i = 0; i < 10050; i++) {
        snprintf(name, sizeof(name), "%s/f%05d", dir, i);
        int fd = open(name, O_CREAT | O_WRONLY, 0644);
        cr_assert_geq(fd, 0);
        close(fd);
    }
    it_resp r;
    cr_assert_eq(fetch("GET", "/files/many/", NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    int n = 0;
    for (const char *p = r.body; (p = strstr(p, "<li><a href=\"f")); p++)
        n++;
    cr_assert_eq(n, 10000);
    it_resp_free(&r);
}

/* A decoded path longer than the handler's 4 KiB buffer is 414. */
Test(static_limits, long_path, .init = setup, .fini = teardown)
{
    char target[6000];
    strcpy(target, "/static/");
    size_t n = strlen(target);
    while (n < 4200)
        target[n++] = 'a';
    target[n] = 0;
    cr_assert_eq(status_of(target), 414);
    target[4000] = 0;
    cr_assert_eq(status_of(target), 404, "just under the limit: an ordinary miss");
}

/* Executor handlers hand the file to the loop as a body source (nothing is
 * read into memory on the worker), so size is no limit: a file over the
 * old 16 MiB in-memory cap is served whole. */
Test(static_limits, executor_hands_files_to_the_loop, .timeout = 60)
{
    make_tree();
    char p[600];
    snprintf(p, sizeof(p), "%s/huge.bin", g_root);
    int fd = open(p, O_CREAT | O_WRONLY, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, (off_t)(16u << 20) + 1), 0); /* sparse */
    close(fd);
    hz_static_config sc;
    hz_static_config_init(&sc);
    sc.root = g_root;
    cr_assert_eq(hz_static_create(&g_st_strict, &sc, NULL), 0);
    hz_executor ex;
    hz_executor_pool_options po;
    hz_executor_pool_options_init(&po);
    po.threads = 1;
    cr_assert_eq(hz_executor_pool_create(&ex, &po, NULL), 0);
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.executor = &ex;
    cfg.executor_all = 1;
    cr_assert_eq(hz_server_create(&g_srv, &cfg), 0);
    cr_assert_eq(hz_route_static(g_srv, "/static/", g_st_strict), 0);
    int idx = hz_server_listen(g_srv, "127.0.0.1", 0, NULL);
    g_port = hz_server_port(g_srv, idx);
    cr_assert_eq(hz_server_start(g_srv), 0);
    it_resp r;
    cr_assert_eq(fetch("GET", "/static/big.bin", "Range: bytes=10-99999\r\n", &r), 0);
    cr_assert_eq(r.status, 206);
    check_big(&r, 10, 99990);
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/big.bin", NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    check_big(&r, 0, BIG_SIZE);
    it_resp_free(&r);
    cr_assert_eq(fetch("GET", "/static/huge.bin", NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, (size_t)(16u << 20) + 1);
    cr_assert_str_eq(it_header(&r, "Content-Length"), "16777217");
    int zeros = 1;
    for (size_t i = 0; i < r.body_len && zeros; i += 4093)
        zeros = r.body[i] == 0;
    cr_assert(zeros, "a sparse file reads as zeros");
    it_resp_free(&r);
    hz_server_destroy(g_srv);
    ex.vt->shutdown(ex.self);
    hz_static_destroy(g_st_strict);
    rm_tree();
}
