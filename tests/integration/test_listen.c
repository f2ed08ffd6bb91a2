/* test_listen.c - listeners beyond TCP: Unix-domain sockets (stale and
 * live files, modes, removal, path length), adopted descriptors (checks,
 * ownership) and hz_listen_fds (systemd's LISTEN_* variables). Clients are
 * raw sockets and curl --unix-socket; the socket-activated demo is
 * test_listen_activation.py. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <criterion/criterion.h>
#include "itest.h"

static char g_dir[64];
static char g_last_peer[64];
static atomic_int g_logged;

static void mkdir_tmp(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/hzlisten.XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
}

static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    (void)!system(cmd);
}

static const char *path_in(const char *name)
{
    static char p[4][256];
    static int k;
    char *out = p[k++ & 3];
    snprintf(out, 256, "%s/%s", g_dir, name);
    return out;
}

/* GET /peer answers "peer port loop". */
static void h_peer(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    char addr[64], body[128];
    int port = -1;
    int rc = hz_req_peer(req, addr, sizeof(addr), &port);
    int n = snprintf(body, sizeof(body), "%s %d %d", rc == 0 ? addr : hz_err_name(rc), port,
                     hz_req_loop(req));
    hz_res_send(res, 200, body, (size_t)n);
}

static void on_log(const hz_access_entry *e, void *ud)
{
    (void)ud;
    snprintf(g_last_peer, sizeof(g_last_peer), "%s %d", e->peer, e->peer_port);
    atomic_fetch_add(&g_logged, 1);
}

static hz_server *new_server(unsigned loops)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = loops;
    cfg.access_log = on_log;
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    cr_assert_eq(hz_route(srv, "GET", "/peer", h_peer, NULL), 0);
    return srv;
}

static int listen_unix(hz_server *srv, const char *path, unsigned mode)
{
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    lc.unix_path = path;
    lc.unix_mode = mode;
    return hz_server_listen_with(srv, &lc);
}

static int listen_fd(hz_server *srv, int fd)
{
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    lc.fd = fd;
    return hz_server_listen_with(srv, &lc);
}

static int unix_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A listening (or, listening 0, merely bound) Unix socket at path. */
static int unix_bound(const char *path, int listening)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0, "bind %s: %s", path,
                 strerror(errno));
    if (listening)
        cr_assert_eq(listen(fd, 16), 0);
    return fd;
}

static int tcp_listening(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 16), 0);
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* GET /peer over an already connected socket; returns the body (static). */
static const char *get_peer(int fd)
{
    static char body[128];
    it_conn c = {.fd = fd, .cap = 65536};
    c.buf = malloc(c.cap);
    it_resp r;
    cr_assert_eq(it_sends(&c, "GET /peer HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(&c, &r, 0, 10000), 0);
    cr_assert_eq(r.status, 200);
    snprintf(body, sizeof(body), "%.*s", (int)r.body_len, r.body);
    it_resp_free(&r);
    it_close(&c);
    return body;
}

static void wait_logged(int n)
{
    long long end = it_now_ms() + 10000;
    while (atomic_load(&g_logged) < n && it_now_ms() < end)
        usleep(1000); /* polling a counter the loop bumps after the response */
    cr_assert_geq(atomic_load(&g_logged), n);
}

Test(listen, unix_serves_and_peer_is_unix, .init = mkdir_tmp, .fini = rm_tmp, .timeout = 60)
{
    hz_server *srv = new_server(1);
    const char *path = path_in("s.sock");
    int idx = listen_unix(srv, path, 0);
    cr_assert_geq(idx, 0);
    cr_assert_eq(hz_server_port(srv, idx), 0);
    cr_assert_eq(hz_server_start(srv), 0);
    int fd = unix_connect(path);
    cr_assert_geq(fd, 0);
    cr_assert_str_eq(get_peer(fd), "unix 0 0");
    wait_logged(1);
    cr_assert_str_eq(g_last_peer, "unix 0");
    hz_server_stop(srv, 1000);
    hz_server_wait(srv);
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0, "the file stays until destroy");
    hz_server_destroy(srv);
    cr_assert_eq(lstat(path, &st), -1, "destroy removes the socket file");
}

Test(listen, unix_with_curl_and_many_loops, .init = mkdir_tmp, .fini = rm_tmp, .timeout = 120)
{
    if (system("curl --version >/dev/null 2>&1") != 0)
        cr_skip_test("curl not installed");
    hz_server *srv = new_server(3);
    const char *path = path_in("multi.sock");
    cr_assert_geq(listen_unix(srv, path, 0), 0);
    cr_assert_eq(hz_server_start(srv), 0);
    /* One shared socket polled by three loops: every request is answered. */
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do curl -sS --max-time 20 --unix-socket '%s' "
             "http://localhost/peer; echo; done",
             path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[128];
    int ok = 0;
    while (fgets(line, sizeof(line), p))
        if (!strncmp(line, "unix 0 ", 7))
            ok++;
    cr_assert_eq(pclose(p), 0);
    cr_assert_eq(ok, 12);
    hz_server_destroy(srv);
}

Test(listen, unix_mode_applied, .init = mkdir_tmp, .fini = rm_tmp, .timeout = 60)
{
    hz_server *srv = new_server(1);
    const char *path = path_in("m.sock");
    cr_assert_geq(listen_unix(srv, path, 0600), 0);
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0600);
    cr_assert_eq(listen_unix(srv, path_in("m2.sock"), 010000), HZ_EINVAL);
    cr_assert_eq(lstat(path_in("m2.sock"), &st), -1, "nothing made on EINVAL");
    hz_server_destroy(srv);
}

Test(listen, unix_stale_socket_replaced, .init = mkdir_tmp, .fini = rm_tmp, .timeout = 60)
{
    const char *path = path_in("stale.sock");
    close(unix_bound(path, 1)); /* a server that died: the file stays, nobody accepts */
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0);
    hz_server *srv = new_server(1);
    /* bind() would fail (EADDRINUSE) had the stale file stayed. */
    cr_assert_geq(listen_unix(srv, path, 0), 0);
    cr_assert_eq(hz_server_start(srv), 0);
    int fd = unix_connect(path);
    cr_assert_geq(fd, 0);
    cr_assert_str_eq(get_peer(fd), "unix 0 0");
    hz_server_destroy(srv);
}

Test(listen, unix_live_socket_or_other_file_is_in_use, .init = mkdir_tmp, .fini = rm_tmp,
     .timeout = 60)
{
    hz_server *srv = new_server(1);
    /* Another server still accepting there: never taken over. */
    const char *live = path_in("live.sock");
    int other = unix_bound(live, 1);
    cr_assert_eq(listen_unix(srv, live, 0), HZ_EADDRINUSE);
    int c = unix_connect(live);
    cr_assert_geq(c, 0, "the other server's socket is still there");
    close(c);
    /* A regular file, a directory: never removed. */
    const char *file = path_in("file");
    FILE *f = fopen(file, "w");
    fputs("keep", f);
    fclose(f);
    cr_assert_eq(listen_unix(srv, file, 0), HZ_EADDRINUSE);
    struct stat st;
    cr_assert_eq(lstat(file, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(listen_unix(srv, g_dir, 0), HZ_EADDRINUSE);
    /* A directory that does not exist. */
    cr_assert_eq(listen_unix(srv, path_in("no/such/dir.sock"), 0), HZ_ENOENT);
    hz_server_destroy(srv);
    cr_assert_eq(lstat(live, &st), 0, "destroy removes only its own files");
    close(other);
}

Test(listen, unix_path_length, .init = mkdir_tmp, .fini = rm_tmp, .timeout = 60)
{
    struct sockaddr_un sun;
    char path[sizeof(sun.sun_path) + 8];
    size_t base = strlen(g_dir) + 1;
    cr_assert_lt(base, sizeof(sun.sun_path) - 2);
    /* sizeof(sun_path) bytes leave no room for the NUL: HZ_EINVAL, not a
     * truncated name. One less fits exactly. */
    memset(path, 'a', sizeof(path));
    memcpy(path, g_dir, base - 1);
    path[base - 1] = '/';
    path[sizeof(sun.sun_path)] = 0;
    hz_server *srv = new_server(1);
    cr_assert_eq(listen_unix(srv, path, 0), HZ_EINVAL);
    path[sizeof(sun.sun_path) - 1] = 0;
    int idx = listen_unix(srv, path, 0);
    cr_assert_geq(idx, 0, "%s", hz_err_name(idx));
    cr_assert_eq(listen_unix(srv, "", 0), HZ_EINVAL);
    /* Conflicting or stray fields. */
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    lc.unix_path = path_in("x.sock");
    lc.port = 8080;
    cr_assert_eq(hz_server_listen_with(srv, &lc), HZ_EINVAL);
    hz_listener_config_init(&lc);
    lc.unix_mode = 0600; /* without a path */
    cr_assert_eq(hz_server_listen_with(srv, &lc), HZ_EINVAL);
    hz_server_destroy(srv);
    struct stat st;
    cr_assert_eq(lstat(path, &st), -1);
}

Test(listen, unix_destroy_keeps_a_newer_file, .init = mkdir_tmp, .fini = rm_tmp, .timeout = 60)
{
    const char *path = path_in("r.sock");
    hz_server *a = new_server(1);
    cr_assert_geq(listen_unix(a, path, 0), 0);
    /* A restart removed our file and bound its own at the same path. */
    cr_assert_eq(unlink(path), 0);
    int other = unix_bound(path, 1);
    hz_server_destroy(a);
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0, "not the file it bound: left alone");
    close(other);
}

Test(listen, adopt_tcp_listening_fd, .timeout = 60)
{
    int port;
    int fd = tcp_listening(&port);
    cr_assert_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    hz_server *srv = new_server(2);
    int idx = listen_fd(srv, fd);
    cr_assert_geq(idx, 0);
    cr_assert_eq(hz_server_port(srv, idx), port);
    cr_assert_neq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0, "adoption makes it nonblocking");
    cr_assert_neq(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    cr_assert_eq(hz_server_start(srv), 0);
    for (int i = 0; i < 4; i++) {
        it_conn c;
        cr_assert_eq(it_connect(&c, port), 0);
        char want[32];
        const char *got = get_peer(c.fd);
        snprintf(want, sizeof(want), "127.0.0.1 ");
        cr_assert(!strncmp(got, want, strlen(want)), "%s", got);
        free(c.buf);
    }
    hz_server_destroy(srv);
    cr_assert_eq(fcntl(fd, F_GETFD), -1, "the server owned and closed it");
}

Test(listen, adopt_unix_fd_keeps_the_file, .init = mkdir_tmp, .fini = rm_tmp, .timeout = 60)
{
    const char *path = path_in("given.sock");
    int fd = unix_bound(path, 1);
    hz_server *srv = new_server(1);
    int idx = listen_fd(srv, fd);
    cr_assert_geq(idx, 0);
    cr_assert_eq(hz_server_port(srv, idx), 0);
    cr_assert_eq(hz_server_start(srv), 0);
    int c = unix_connect(path);
    cr_assert_geq(c, 0);
    cr_assert_str_eq(get_peer(c), "unix 0 0");
    hz_server_destroy(srv);
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0, "its owner made the file: not removed");
}

Test(listen, adopt_rejects_what_is_not_a_listening_stream_socket, .init = mkdir_tmp, .fini = rm_tmp,
     .timeout = 60)
{
    hz_server *srv = new_server(1);
    /* A socket never listen()ed. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(listen_fd(srv, s), HZ_EINVAL);
    cr_assert_neq(fcntl(s, F_GETFD), -1, "still the caller's");
    cr_assert_eq(fcntl(s, F_GETFL) & O_NONBLOCK, 0, "untouched");
    /* A connected one (the client side of a pair). */
    int sp[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    cr_assert_eq(listen_fd(srv, sp[0]), HZ_EINVAL);
    /* Datagram. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(listen_fd(srv, u), HZ_EINVAL);
    /* Not a socket: a file, a pipe. */
    int f = open(path_in("plain"), O_CREAT | O_RDWR, 0600);
    cr_assert_eq(listen_fd(srv, f), HZ_EINVAL);
    int pp[2];
    cr_assert_eq(pipe(pp), 0);
    cr_assert_eq(listen_fd(srv, pp[0]), HZ_EINVAL);
    /* Not open; below -1. */
    int dead = dup(f);
    close(dead);
    cr_assert_eq(listen_fd(srv, dead), HZ_EINVAL);
    cr_assert_eq(listen_fd(srv, -2), HZ_EINVAL);
    /* A listening socket, but with an address as well. */
    int port;
    int l = tcp_listening(&port);
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    lc.fd = l;
    lc.addr = "127.0.0.1";
    cr_assert_eq(hz_server_listen_with(srv, &lc), HZ_EINVAL);
    hz_server_destroy(srv);
    cr_assert_neq(fcntl(l, F_GETFD), -1, "a refused fd is never closed");
    close(s), close(sp[0]), close(sp[1]), close(u), close(f), close(pp[0]), close(pp[1]);
    close(l);
}

Test(listen, old_callers_config_size_gets_tcp, .timeout = 60)
{
    /* A caller built before unix_path/unix_mode/fd: its size ends at
     * protocols, and fd must default to -1 (0 is a valid descriptor). */
    struct {
        hz_listener_config lc;
        char guard[32];
    } old;
    memset(&old, 0x7f, sizeof(old));
    size_t old_size = offsetof(hz_listener_config, protocols) + sizeof(unsigned);
    hz_listener_config_init_sized(&old.lc, old_size);
    old.lc.addr = "127.0.0.1";
    old.lc.port = 0;
    hz_server *srv = new_server(1);
    int idx = hz_server_listen_with(srv, &old.lc);
    cr_assert_geq(idx, 0, "%s", hz_err_name(idx));
    cr_assert_gt(hz_server_port(srv, idx), 0);
    hz_server_destroy(srv);
}

/* ---- hz_listen_fds: run in a forked child, which may put sockets on
 * descriptors 3, 4, ... (Criterion's own may be there) and exits with the
 * failing line, or 0. -------------------------------------------------- */

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "child check failed at line %d: %s\n", __LINE__, #x);                  \
            _exit(__LINE__ & 0xff ? __LINE__ & 0xff : 1);                                          \
        }                                                                                          \
    } while (0)

static void run_child(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "child crashed");
    cr_assert_eq(WEXITSTATUS(st), 0, "child failed (see stderr)");
}

/* Puts n listening sockets on 3, 4, ... (inheritable, as after exec). */
static void put_fds(int n)
{
    for (int i = 0; i < n; i++) {
        int port;
        int s = tcp_listening(&port);
        int t = 3 + i;
        if (s != t) {
            CHECK(dup2(s, t) == t);
            close(s);
        }
        CHECK(fcntl(t, F_SETFD, 0) == 0);
    }
}

static void set_env(const char *pid, const char *fds, const char *names)
{
    char buf[32];
    if (!pid) {
        snprintf(buf, sizeof(buf), "%ld", (long)getpid());
        pid = buf;
    }
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", fds, 1);
    if (names)
        setenv("LISTEN_FDNAMES", names, 1);
    else
        unsetenv("LISTEN_FDNAMES");
}

static int env_gone(void)
{
    return !getenv("LISTEN_PID") && !getenv("LISTEN_FDS") && !getenv("LISTEN_FDNAMES");
}

static void child_names(void)
{
    put_fds(2);
    set_env(NULL, "2", "web:admin");
    hz_listen_fd fds[4];
    memset(fds, 0, sizeof(fds));
    CHECK(hz_listen_fds(fds, 4) == 2);
    CHECK(fds[0].fd == 3 && !strcmp(fds[0].name, "web"));
    CHECK(fds[1].fd == 4 && !strcmp(fds[1].name, "admin"));
    CHECK(fcntl(3, F_GETFD) & FD_CLOEXEC);
    CHECK(fcntl(4, F_GETFD) & FD_CLOEXEC);
    CHECK(env_gone());
    CHECK(hz_listen_fds(fds, 4) == 0); /* consumed */
    /* And they serve: adopted by a server. */
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    hz_server *srv;
    CHECK(hz_server_create(&srv, &cfg) == 0);
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    lc.fd = fds[1].fd;
    CHECK(hz_server_listen_with(srv, &lc) == 0);
    CHECK(hz_server_port(srv, 0) > 0);
    hz_server_destroy(srv);
}

Test(listen_fds, names_cloexec_and_env_consumed, .timeout = 60)
{
    run_child(child_names);
}

static void child_no_names_and_max(void)
{
    put_fds(3);
    set_env(NULL, "3", NULL);
    hz_listen_fd fds[2];
    memset(fds, 0, sizeof(fds));
    CHECK(hz_listen_fds(fds, 2) == 3); /* more than max: all counted */
    CHECK(fds[0].fd == 3 && !strcmp(fds[0].name, "unknown"));
    CHECK(fds[1].fd == 4);
    CHECK(fcntl(5, F_GETFD) & FD_CLOEXEC); /* the one not stored too */
    CHECK(env_gone());
    /* NULL/0 just counts; a negative max or NULL with max > 0 is refused
     * before anything is read. */
    set_env(NULL, "3", NULL);
    CHECK(hz_listen_fds(NULL, -1) == HZ_EINVAL);
    CHECK(hz_listen_fds(NULL, 1) == HZ_EINVAL);
    CHECK(getenv("LISTEN_FDS"));
    CHECK(hz_listen_fds(NULL, 0) == 3);
    CHECK(env_gone());
}

Test(listen_fds, without_names_and_beyond_max, .timeout = 60)
{
    run_child(child_no_names_and_max);
}

static void child_other_pid(void)
{
    put_fds(1);
    char other[32];
    snprintf(other, sizeof(other), "%ld", (long)getppid()); /* a parent's, not ours */
    set_env(other, "1", "web");
    hz_listen_fd fds[1];
    CHECK(hz_listen_fds(fds, 1) == 0);
    CHECK(env_gone());                            /* unset anyway, as sd_listen_fds(1) */
    CHECK((fcntl(3, F_GETFD) & FD_CLOEXEC) == 0); /* not ours: untouched */
    /* Absent variables: 0. */
    CHECK(hz_listen_fds(fds, 1) == 0);
    setenv("LISTEN_FDS", "1", 1); /* LISTEN_PID missing */
    CHECK(hz_listen_fds(fds, 1) == 0);
    CHECK(env_gone());
}

Test(listen_fds, other_pid_not_adopted, .timeout = 60)
{
    run_child(child_other_pid);
}

static void child_malformed(void)
{
    static const char *const bad[][3] = {
        {"", "1", "x"},
        {"12x", "1", "x"},
        {NULL, "1x", "x"},
        {NULL, "-1", "x"},
        {NULL, " 1", "x"},
        {NULL, "", "x"},
        {NULL, "1", "a:b"},
        {NULL, "2", "a"},
        {NULL, "1", ""},
        {NULL, "99999999999999999999", NULL},
        {NULL, "2147483647", NULL},
    };
    put_fds(1);
    hz_listen_fd fds[2];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        set_env(bad[i][0], bad[i][1], bad[i][2]);
        int rc = hz_listen_fds(fds, 2);
        if (rc != HZ_EINVAL)
            fprintf(stderr, "case %zu: %d\n", i, rc);
        CHECK(rc == HZ_EINVAL);
        CHECK(env_gone());
    }
    /* A name longer than hz_listen_fd.name can hold. */
    char longname[300];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    set_env(NULL, "1", longname);
    CHECK(hz_listen_fds(fds, 2) == HZ_EINVAL);
    longname[255] = 0; /* the longest that fits */
    set_env(NULL, "1", longname);
    CHECK(hz_listen_fds(fds, 2) == 1);
    CHECK(strlen(fds[0].name) == 255);
    /* Descriptors that are not open: the variables lie. */
    close(4);
    set_env(NULL, "2", NULL);
    CHECK(hz_listen_fds(fds, 2) == HZ_EINVAL);
    CHECK(env_gone());
    /* Zero descriptors is not an error. */
    set_env(NULL, "0", NULL);
    CHECK(hz_listen_fds(fds, 2) == 0);
}

Test(listen_fds, malformed_variables, .timeout = 60)
{
    run_child(child_malformed);
}

/* A restart that hands the listener over stops the old server while
 * clients keep connecting: one it accepted just before the stop, that has
 * not sent its request yet, still gets an answer (Connection: close). */
Test(listen, graceful_stop_answers_a_connection_accepted_before_it, .timeout = 60)
{
    hz_server *srv = new_server(1);
    hz_listener_config lc;
    hz_listener_config_init(&lc);
    int idx = hz_server_listen_with(srv, &lc);
    cr_assert_geq(idx, 0);
    int port = hz_server_port(srv, idx);
    cr_assert_eq(hz_server_start(srv), 0);
    it_conn c;
    cr_assert_eq(it_connect(&c, port), 0);
    hz_metrics m;
    long long end = it_now_ms() + 10000;
    do { /* accepted by the loop (not only queued by the kernel) */
        cr_assert_eq(hz_server_metrics(srv, &m), 0);
    } while (m.conn_accepted < 1 && it_now_ms() < end && !usleep(1000));
    cr_assert_eq(m.conn_accepted, 1);
    cr_assert_eq(hz_server_stop(srv, 10000), 0);
    /* The stop has begun once the listener is closed. */
    int refused = 0;
    while (!refused && it_now_ms() < end) {
        it_conn probe;
        if (it_connect(&probe, port) < 0)
            refused = 1;
        else
            it_close(&probe);
    }
    cr_assert(refused, "the listener closes at stop");
    cr_assert_eq(it_sends(&c, "GET /peer HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 10000), 0, "answered, not closed unanswered");
    cr_assert_eq(r.status, 200);
    cr_assert(r.conn_close);
    it_resp_free(&r);
    cr_assert_eq(it_wait_closed(&c, 10000), 1);
    it_close(&c);
    hz_server_wait(srv);
    hz_server_destroy(srv);
}
