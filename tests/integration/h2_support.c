/* h2_support.c - see h2_support.h. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <criterion/criterion.h>
#include "h2_support.h"

const char *h2s_python(void)
{
    static const char *py;
    if (!py)
        py = system("/usr/bin/python3 -c 'import hpack' >/dev/null 2>&1") == 0 ? "/usr/bin/python3"
                                                                               : "python3";
    return py;
}

void h2s_need(void)
{
    if (!HZ_HAVE_HTTP2)
        cr_skip_test("built without HTTP/2");
    char b[128];
    snprintf(b, sizeof(b), "%s -c 'import hpack' >/dev/null 2>&1", h2s_python());
    if (system(b) != 0)
        cr_skip_test("python3-h2 not installed");
}

int h2s_listen(hz_server *srv, const hz_tls_config *tls)
{
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    lc.protocols = HZ_PROTO_HTTP1 | HZ_PROTO_HTTP2;
    lc.tls = tls;
    int idx = hz_server_listen_with(srv, &lc);
    cr_assert_geq(idx, 0, "listen: %d", idx);
    return hz_server_port(srv, idx);
}

FILE *h2s_script_open(const char *script, int port, const char *mode, int timeout_s)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "timeout %d %s %s %d %s 2>&1", timeout_s, h2s_python(), script, port,
             mode);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen %s", cmd);
    return p;
}

int h2s_script_close(FILE *p, char *out, size_t cap)
{
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void h2s_script_expect(FILE *p, const char *want)
{
    char line[256] = "", w[256];
    snprintf(w, sizeof(w), "%s\n", want);
    cr_assert(fgets(line, sizeof(line), p), "script ended early (before \"%s\")", want);
    cr_assert_str_eq(line, w);
}

FILE *h2s_script_at(const char *script, int port, const char *mode, int timeout_s, const char *line)
{
    FILE *p = h2s_script_open(script, port, mode, timeout_s);
    h2s_script_expect(p, line);
    return p;
}

void h2s_script_done(FILE *p, char *out, size_t cap)
{
    int rc = h2s_script_close(p, out, cap);
    cr_expect_eq(rc, 0, "%s", out);
}

int h2s_script_run(const char *script, int port, const char *mode, int timeout_s, char *out,
                   size_t cap)
{
    return h2s_script_close(h2s_script_open(script, port, mode, timeout_s), out, cap);
}
