/* overload.c - more clients than the connection cap. Holders fill the cap;
 * a burst of new clients must each get a clean answer (503 or 200) within
 * 1 s - never silence, never a bare reset - and once the holders leave the
 * server recovers (every request 200).
 * usage: overload [CAP=200]. Loopback only; bounded in time. */
#include <httpz/httpz.h>
#include "stress_util.h"

static void hello(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    hz_res_send(res, 200, "ok", 2);
}

int main(int argc, char **argv)
{
    int cap = argc > 1 ? atoi(argv[1]) : 200;
    CHECK(cap > 0 && cap <= 20000, "CAP must be in 1..20000");
    int burst = cap * 2;
    raise_nofile((rlim_t)(cap + burst) * 2 + 512);

    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 2;
    cfg.max_connections = (unsigned)cap;
    cfg.timeouts.keepalive = 60000; /* holders must outlive the test */
    cfg.timeouts.header = 60000;
    hz_server *srv;
    CHECK(hz_server_create(&srv, &cfg) == 0, "create");
    CHECK(hz_route(srv, "GET", "/", hello, NULL) == 0, "route");
    CHECK(hz_server_listen(srv, "127.0.0.1", 0, NULL) >= 0, "listen");
    CHECK(hz_server_start(srv) == 0, "start");
    int port = hz_server_port(srv, 0);
    const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

    /* Holders: one keep-alive request each, answered, then idle. */
    int *hold = calloc((size_t)cap, sizeof(int));
    for (int i = 0; i < cap; i++) {
        hold[i] = connect_nb(port);
        CHECK(hold[i] >= 0 && wait_fd(hold[i], POLLOUT, now_ms() + 2000), "holder %d", i);
        send(hold[i], req, strlen(req), MSG_NOSIGNAL);
        char buf[512];
        CHECK(wait_fd(hold[i], POLLIN, now_ms() + 2000), "holder %d got no answer", i);
        ssize_t r = recv(hold[i], buf, sizeof(buf) - 1, 0);
        CHECK(r > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0, "holder %d not answered 200", i);
    }

    /* Burst: all connect and send at once, then each must be answered. */
    int *fds = calloc((size_t)burst, sizeof(int));
    double *t0 = calloc((size_t)burst, sizeof(double));
    int n503 = 0, n200 = 0, silent = 0, reset = 0, other = 0;
    double worst = 0;
    for (int i = 0; i < burst; i++) {
        fds[i] = connect_nb(port);
        CHECK(fds[i] >= 0, "burst connect %d", i);
        t0[i] = now_ms();
    }
    for (int i = 0; i < burst; i++) {
        if (wait_fd(fds[i], POLLOUT, t0[i] + 1000))
            send(fds[i], req, strlen(req), MSG_NOSIGNAL);
    }
    for (int i = 0; i < burst; i++) {
        char buf[512];
        ssize_t r = -1;
        if (wait_fd(fds[i], POLLIN, t0[i] + 1000))
            r = recv(fds[i], buf, sizeof(buf) - 1, 0);
        else
            silent++;
        double took = now_ms() - t0[i];
        worst = took > worst ? took : worst;
        if (r > 12 && memcmp(buf, "HTTP/1.1 503", 12) == 0)
            n503++;
        else if (r > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0)
            n200++;
        else if (r <= 0 && took < 1000)
            reset++;
        else if (r > 0)
            other++;
        close(fds[i]);
    }
    printf("overload: cap %d, burst %d: %d x 503, %d x 200, %d silent, %d closed without "
           "answer, %d other; slowest answer %.1f ms\n",
           cap, burst, n503, n200, silent, reset, other, worst);

    for (int i = 0; i < cap; i++)
        close(hold[i]);
    /* Recovery: the server must notice the holders left and serve again. */
    int ok = 0;
    double until = now_ms() + 5000;
    while (ok < 50 && now_ms() < until) {
        int st = http_once(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1000);
        ok = st == 200 ? ok + 1 : 0;
    }
    printf("overload: %d consecutive 200s after the holders left\n", ok);

    hz_server_stop(srv, 1000);
    hz_server_wait(srv);
    hz_server_destroy(srv);
    free(hold);
    free(fds);
    free(t0);

    CHECK(silent == 0, "%d clients got silence", silent);
    CHECK(reset == 0, "%d clients were closed without an answer", reset);
    CHECK(other == 0, "%d clients got something other than 503/200", other);
    CHECK(n503 > 0, "the cap never produced a 503");
    CHECK(ok >= 50, "server did not recover");
    printf("1 passed, 0 failed\n");
    return 0;
}
