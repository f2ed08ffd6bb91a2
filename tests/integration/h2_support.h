/* h2_support.h - what the HTTP/2 integration tests that drive the server
 * with scripted frame-level clients (test_h2exec, test_h2limits,
 * test_ws_h2: h2_exec.py, ws_h2_client.py, python3-h2's hpack) share: the
 * skip without HTTP/2 or hpack, the python3 that has hpack, an HTTP/1.1 +
 * HTTP/2 listener, and the client run as a child with a bounded wall time. */
#ifndef HZ_H2_SUPPORT_H
#define HZ_H2_SUPPORT_H

#include <stdio.h>
#include <httpz/httpz.h>

/** The system python3 when it has hpack (python3-h2 is a Debian package, and
 *  a python3 earlier on PATH, pyenv's, may not see it), else "python3". */
const char *h2s_python(void);

/** Skips the test (cr_skip_test) when built without HTTP/2 or when
 *  h2s_python() has no hpack. */
void h2s_need(void);

/** Opens an HTTP/1.1 + HTTP/2 listener on 127.0.0.1:0 (TLS with tls, NULL:
 *  plain, prior knowledge) and returns its port; asserts on failure. */
int h2s_listen(hz_server *srv, const hz_tls_config *tls);

/** Starts "script port mode" (stderr into stdout) under timeout(1) of
 *  timeout_s seconds; asserts that it started. */
FILE *h2s_script_open(const char *script, int port, const char *mode, int timeout_s);

/** Reads the rest of p's output into out (NUL-terminated, at most cap - 1
 *  bytes), waits for it; returns its exit status, -1 when it did not exit. */
int h2s_script_close(FILE *p, char *out, size_t cap);

/** Reads p's next output line and asserts that it is want and a newline: the
 *  scripts print such a line when they reach a point the test waits for
 *  ("inside": the request is held in exec_gate.h's gate). */
void h2s_script_expect(FILE *p, const char *want);

/** h2s_script_open, then h2s_script_expect(p, line): the script runs and
 *  has reached that point. */
FILE *h2s_script_at(const char *script, int port, const char *mode, int timeout_s,
                    const char *line);

/** h2s_script_close, expecting (cr_expect) exit status 0 with out in the
 *  message. */
void h2s_script_done(FILE *p, char *out, size_t cap);

/** h2s_script_open + h2s_script_close: the exit status, the output in out. */
int h2s_script_run(const char *script, int port, const char *mode, int timeout_s, char *out,
                   size_t cap);

#endif
