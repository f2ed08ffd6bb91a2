/* test_forms.c - forms decoded as they stream (hz_form_read), driven by the
 * curl command line: the demo's POST /upload (multipart, several files, one
 * of several MiB) and POST /form (--data-urlencode) answer the documented
 * JSON; limits answer 413, malformed bodies 400, other types 415; a client
 * that goes away mid-upload costs nothing. The demo's routes
 * (examples/demo_forms.c) run in-process beside a route with small limits. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <criterion/criterion.h>
#include "itest.h"
#include "demo_forms.h"
#include "sha256.h"

static char g_dir[64];
static hz_server *g_srv;
static int g_port;
static atomic_int g_freed;

/* POST /tiny: max_file 1000, max_field 10, 3 fields; answers "ok N" with
 * the number of fields, or the error's status and text. */
typedef struct tiny {
    hz_form form;
    hz_res *res;
    int fields;
} tiny;

static int tiny_end(void *ud, const hz_form_field *f)
{
    (void)f;
    ((tiny *)ud)->fields++;
    return 0;
}

static void tiny_done(hz_req *req, int status, void *ud)
{
    (void)req;
    tiny *t = ud;
    char msg[128];
    if (status == HZ_ECLOSED || status == HZ_ECANCELED)
        return;
    int n = status ? snprintf(msg, sizeof msg, "%s", hz_form_error(&t->form))
                   : snprintf(msg, sizeof msg, "ok %d", t->fields);
    hz_res_send(t->res, hz_form_status(status), msg, (size_t)n);
}

static void tiny_free(hz_res *res, int status, void *ud)
{
    (void)res;
    (void)status;
    free(ud);
    atomic_fetch_add(&g_freed, 1);
}

static void tiny_route(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static const hz_form_cb cb = {NULL, NULL, tiny_end};
    tiny *t = calloc(1, sizeof *t);
    cr_assert(t);
    t->res = res;
    hz_str ct = hz_req_header(req, "Content-Type");
    int rc = hz_form_init(&t->form, ct.ptr, ct.len, &cb, t);
    if (rc < 0) {
        free(t);
        hz_res_send(res, hz_form_status(rc), "not a form", 10);
        return;
    }
    t->form.max_file = 1000;
    t->form.max_field = 10;
    t->form.max_fields = 3;
    hz_res_on_done(res, tiny_free, t);
    cr_assert_eq(hz_form_read(req, &t->form, tiny_done, t), 0);
}

/* A buffered route: hz_form_read refuses it (HZ_ESTATE). */
static void buffered_route(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    static hz_form f;
    hz_form_init(&f, "application/x-www-form-urlencoded", 33, NULL, NULL);
    int rc = hz_form_read(req, &f, tiny_done, NULL);
    char msg[32];
    int n = snprintf(msg, sizeof msg, "%s", hz_err_name(rc));
    hz_res_send(res, 200, msg, (size_t)n);
}

static int have_tool(const char *name)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!have_tool("curl") || !have_tool("timeout"))
        return;
    snprintf(g_dir, sizeof(g_dir), "/tmp/hz-forms-XXXXXX");
    cr_assert(mkdtemp(g_dir));
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cr_assert_eq(hz_server_create(&g_srv, &cfg), 0);
    cr_assert_eq(demo_forms_routes(g_srv), 0);
    hz_route_opts o;
    hz_route_opts_init(&o);
    o.flags = HZ_ROUTE_STREAM_BODY;
    cr_assert_eq(hz_route_with(g_srv, "POST", "/tiny", tiny_route, NULL, &o), 0);
    cr_assert_eq(hz_route(g_srv, "POST", "/buffered", buffered_route, NULL), 0);
    int idx = hz_server_listen(g_srv, "127.0.0.1", 0, NULL);
    cr_assert_geq(idx, 0);
    g_port = hz_server_port(g_srv, idx);
    cr_assert_eq(hz_server_start(g_srv), 0);
}

static void teardown(void)
{
    if (g_srv) {
        hz_server_stop(g_srv, 1000);
        hz_server_wait(g_srv);
        hz_server_destroy(g_srv);
        g_srv = NULL;
    }
    if (g_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
        (void)system(cmd);
    }
}

static void need_tools(void)
{
    if (!g_srv)
        cr_skip_test("curl or timeout not installed");
}

#define CURL "timeout 60 curl -sS --max-time 50"

/* Writes len pseudo-random bytes to g_dir/name and returns their SHA-256. */
static void make_file(const char *name, size_t len, char hex[65])
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    sha256 s;
    sha256_init(&s);
    uint32_t x = (uint32_t)len * 2654435761u + 1;
    unsigned char buf[4096];
    for (size_t at = 0; at < len;) {
        size_t n = len - at < sizeof buf ? len - at : sizeof buf;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            buf[i] = (unsigned char)x;
        }
        cr_assert_eq(fwrite(buf, 1, n, f), n);
        sha256_update(&s, buf, n);
        at += n;
    }
    fclose(f);
    unsigned char d[32];
    sha256_final(&s, d);
    sha256_hex(d, hex);
}

TestSuite(forms, .init = setup, .fini = teardown, .timeout = 280);

Test(forms, curl_upload_several_files_and_fields)
{
    need_tools();
    char ha[65], hb[65], hc[65];
    make_file("a.txt", 100, ha);
    make_file("big.bin", 6u << 20, hb); /* 6 MiB: many body chunks */
    make_file("empty.dat", 0, hc);
    char *out;
    int rc = it_run(&out,
                    CURL " -F 'title=Hello \"world\"' -F f1=@%s/a.txt -F "
                         "'f2=@%s/big.bin;type=application/octet-stream' -F f3=@%s/empty.dat "
                         "-F 'note=line1\nline2 \\ \xc3\xa4' http://127.0.0.1:%d/upload",
                    g_dir, g_dir, g_dir, g_port);
    cr_assert_eq(rc, 0, "%s", out);
    char want[2048];
    snprintf(want, sizeof want,
             "{\"files\":[{\"field\":\"f1\",\"name\":\"a.txt\",\"size\":100,\"sha256\":\"%s\"},"
             "{\"field\":\"f2\",\"name\":\"big.bin\",\"size\":6291456,\"sha256\":\"%s\"},"
             "{\"field\":\"f3\",\"name\":\"empty.dat\",\"size\":0,\"sha256\":\"%s\"}],"
             "\"fields\":{\"title\":\"Hello \\\"world\\\"\",\"note\":\"line1\\nline2 \\\\ "
             "\xc3\xa4\"}}\n",
             ha, hb, hc);
    cr_assert_str_eq(out, want);
    free(out);
    /* The answer's type. */
    rc = it_run(&out,
                CURL " -o /dev/null -w '%%{http_code} %%{content_type}' -F f=@%s/a.txt "
                     "http://127.0.0.1:%d/upload",
                g_dir, g_port);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_str_eq(out, "200 application/json");
    free(out);
}

Test(forms, curl_data_urlencode)
{
    need_tools();
    char *out;
    int rc =
        it_run(&out,
               CURL " --data-urlencode 'q=a&b=c d+e%%' --data-urlencode 'u=\xc3\xa4\xe2\x82\xac' "
                    "--data-urlencode 'empty=' -d 'plain' http://127.0.0.1:%d/form",
               g_port);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_str_eq(
        out, "{\"fields\":{\"q\":\"a&b=c d+e%\",\"u\":\"\xc3\xa4\xe2\x82\xac\",\"empty\":\"\","
             "\"plain\":\"\"}}\n");
    free(out);
}

/* curl's status and body, as "NNN body". */
static char *status_of(const char *args)
{
    char *out;
    int rc = it_run(&out, CURL " -w ' %%{http_code}' %s", args);
    cr_assert_eq(rc, 0, "%s", out);
    return out;
}

/* Runs curl with the arguments fmt makes: its body and status (as
 * status_of gives them) must be want. */
static void expect_curl(const char *want, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void expect_curl(const char *want, const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char *out = status_of(cmd);
    cr_assert_str_eq(out, want);
    free(out);
}

/* Writes (mode "w") or appends ("a") n times the byte ch to path. */
static void write_bytes(const char *path, const char *mode, int ch, int n)
{
    FILE *f = fopen(path, mode);
    cr_assert(f);
    for (int i = 0; i < n; i++)
        fputc(ch, f);
    fclose(f);
}

Test(forms, limits_malformed_and_other_types)
{
    need_tools();
    /* a bad escape: 400 with the decoder's text */
    expect_curl("bad percent escape\n 400", "-d 'a=%%G1' http://127.0.0.1:%d/form", g_port);
    /* a value over the demo's 64 KiB per field: 413 */
    char path[128];
    snprintf(path, sizeof path, "%s/v.txt", g_dir);
    write_bytes(path, "w", 'v', 65537);
    expect_curl("field value too large\n 413", "--data-urlencode 'big@%s' http://127.0.0.1:%d/form",
                path, g_port);
    /* exactly 64 KiB is fine */
    write_bytes(path, "w", 'v', 65536);
    expect_curl(" 200", "-o /dev/null --data-urlencode 'big@%s' http://127.0.0.1:%d/form", path,
                g_port);
    /* 129 fields (the default bound is 128) */
    snprintf(path, sizeof path, "%s/many.txt", g_dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    for (int i = 0; i < 129; i++)
        fprintf(f, "%sk%d=%d", i ? "&" : "", i, i);
    fclose(f);
    expect_curl("too many fields\n 413", "--data-binary @%s http://127.0.0.1:%d/form", path,
                g_port);
    /* another media type: 415 */
    expect_curl("send multipart/form-data\n 415",
                "-H 'Content-Type: text/plain' -d x http://127.0.0.1:%d/upload", g_port);
    expect_curl("send application/x-www-form-urlencoded\n 415", "-F x=y http://127.0.0.1:%d/form",
                g_port);
    /* names and values that are not UTF-8 make no JSON: 400 */
    expect_curl("names and values must be UTF-8\n 400", "-d 'a=%%FF' http://127.0.0.1:%d/form",
                g_port);
}

/* The demo's body limits (64 MiB for /upload, 1 MiB for /form): one byte
 * more is 413 from the server before the body is read. */
Test(forms, demo_body_limits)
{
    need_tools();
    char path[128];
    snprintf(path, sizeof path, "%s/sparse", g_dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    cr_assert_eq(ftruncate(fileno(f), (64 << 20) + 1), 0);
    fclose(f);
    expect_curl(" 413",
                "-o /dev/null -X POST -T %s -H 'Content-Type: multipart/form-data; boundary=B' "
                "http://127.0.0.1:%d/upload",
                path, g_port);
    /* /form: 1 MiB of '&' (empty pieces, no field) is fine, one more is not */
    write_bytes(path, "w", '&', 1 << 20);
    expect_curl("{\"fields\":{}}\n 200",
                "-X POST -T %s -H 'Content-Type: application/x-www-form-urlencoded' "
                "http://127.0.0.1:%d/form",
                path, g_port);
    write_bytes(path, "a", '&', 1);
    expect_curl(" 413",
                "-o /dev/null -X POST -T %s -H 'Content-Type: application/x-www-form-urlencoded' "
                "http://127.0.0.1:%d/form",
                path, g_port);
}

Test(forms, tiny_route_limits)
{
    need_tools();
    char ha[65];
    make_file("k1.bin", 1000, ha);
    make_file("k2.bin", 1001, ha);
    expect_curl("ok 2 200", "-F a=1 -F f=@%s/k1.bin http://127.0.0.1:%d/tiny", g_dir, g_port);
    expect_curl("file too large 413", "-F a=1 -F f=@%s/k2.bin http://127.0.0.1:%d/tiny", g_dir,
                g_port);
    expect_curl("ok 1 200", "-F a=0123456789 http://127.0.0.1:%d/tiny", g_port);
    expect_curl("field value too large 413", "-F a=0123456789x http://127.0.0.1:%d/tiny", g_port);
    expect_curl("too many parts 413", "-F a=1 -F b=2 -F c=3 -F d=4 http://127.0.0.1:%d/tiny",
                g_port);
    expect_curl("too many fields 413", "-d 'a=1&b=2&c=3&d=4' http://127.0.0.1:%d/tiny", g_port);
    expect_curl("ESTATE 200", "-d 'x=1' http://127.0.0.1:%d/buffered", g_port);
}

/* Sends the request s on c: the answer must be status with body. */
static void send_expect(it_conn *c, const char *s, int status, const char *body)
{
    it_resp r;
    cr_assert_eq(it_sends(c, s), 0);
    cr_assert_eq(it_read_response(c, &r, 0, 10000), 0);
    cr_assert_eq(r.status, status);
    cr_assert_str_eq(r.body, body);
    it_resp_free(&r);
}

/* A POST /tiny with a multipart body (boundary B) that claims cl bytes:
 * the head, then body and tail, into req; returns the length. */
static int tiny_multipart(char req[512], size_t cl, const char *body, const char *tail)
{
    int n = snprintf(req, 512,
                     "POST /tiny HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                     "boundary=B\r\nContent-Length: %zu\r\n\r\n%s%s",
                     cl, body, tail);
    cr_assert(n > 0 && n < 512);
    return n;
}

/* A multipart body cut short by the client, a truncated one (no final
 * delimiter) and a malformed one, over a raw socket: 400 for the last two,
 * nothing leaked or crashed for the first, and the server serves on. */
Test(forms, raw_truncated_malformed_and_abandoned)
{
    need_tools();
    static const char part[] = "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxyz\r\n";
    char req[512];
    it_conn c;
    /* truncated: the Content-Length body ends before "--B--" */
    tiny_multipart(req, sizeof part - 1, part, "");
    cr_assert_eq(it_connect(&c, g_port), 0);
    send_expect(&c, req, 400, "body ended before the final boundary delimiter");
    /* the connection stays usable after a well-framed 400 */
    tiny_multipart(req, sizeof part - 1 + 7, part, "--B--\r\n");
    send_expect(&c, req, 200, "ok 1");
    it_close(&c);
    /* malformed mid-body: 400 at once, the rest is not read, then close */
    tiny_multipart(req, 100000, "--B\r\nNo-Colon\r\n\r\n", "");
    cr_assert_eq(it_connect(&c, g_port), 0);
    send_expect(&c, req, 400, "malformed part header line");
    /* (the answer was queued before the decoder failed the body, so it
     * cannot say Connection: close; the connection closes after it) */
    cr_assert_eq(it_wait_closed(&c, 10000), 1);
    it_close(&c);
    /* abandoned mid-upload: the state is freed once, no answer is due */
    int freed = atomic_load(&g_freed);
    int n = tiny_multipart(req, 100000, part, "");
    cr_assert_eq(it_connect(&c, g_port), 0);
    cr_assert_eq(it_send(&c, req, (size_t)n), 0);
    it_close(&c);
    /* polled with a deadline: the loop learns of the close on its own */
    long long deadline = it_now_ms() + 10000;
    while (atomic_load(&g_freed) == freed && it_now_ms() < deadline) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    cr_assert_eq(atomic_load(&g_freed), freed + 1);
    /* and the server serves on */
    cr_assert_eq(it_connect(&c, g_port), 0);
    send_expect(&c,
                "POST /tiny HTTP/1.1\r\nHost: x\r\nContent-Type: "
                "application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=1",
                200, "ok 1");
    it_close(&c);
}
