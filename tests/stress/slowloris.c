/* slowloris.c - N slow clients trickle a request head one byte per second
 * while a normal client keeps asking for GET /. The server (default config:
 * header timeout at most 10 s) must close every slow connection at its header
 * deadline - trickling does not reset it - and the normal client must get 200
 * every time, with a p99 latency under 10 ms.
 * usage: slowloris [N=2000]. Loopback only; bounded in time (~T + 8 s). */
#include <pthread.h>
#include <stdatomic.h>
#include <httpz/httpz.h>
#include "stress_util.h"

static void hello(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    hz_res_set_header(res, "Content-Type", "text/plain");
    hz_res_send(res, 200, "ok", 2);
}

static atomic_int slow_done;
static int port;
static double lat[200000];
static size_t nlat, nfail;

static void *normal_client(void *arg)
{
    (void)arg;
    const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    while (!atomic_load(&slow_done) && nlat < sizeof(lat) / sizeof(lat[0])) {
        double t0 = now_ms();
        int st = http_once(port, req, 2000);
        lat[nlat++] = now_ms() - t0;
        if (st != 200) {
            nfail++;
            fprintf(stderr, "normal request failed: status %d\n", st);
        }
        poll(NULL, 0, 5); /* pacing: ~150 requests/s, not synchronisation */
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    CHECK(n > 0 && n <= 20000, "N must be in 1..20000");
    raise_nofile((rlim_t)n * 2 + 512);

    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    const double T = cfg.timeouts.header; /* the default is what is tested */
    CHECK(T > 0 && T <= 10000, "default header timeout %.0f ms must be in (0, 10 s]", T);
    CHECK((unsigned)n < cfg.max_connections, "N must stay under the connection cap");

    hz_server *srv;
    CHECK(hz_server_create(&srv, &cfg) == 0, "create");
    CHECK(hz_route(srv, "GET", "/", hello, NULL) == 0, "route");
    CHECK(hz_server_listen(srv, "127.0.0.1", 0, NULL) >= 0, "listen");
    CHECK(hz_server_start(srv) == 0, "start");
    port = hz_server_port(srv, 0);
    CHECK(port > 0, "port");

    int *fds = calloc((size_t)n, sizeof(int));
    double *t_open = calloc((size_t)n, sizeof(double)),
           *t_close = calloc((size_t)n, sizeof(double));
    struct pollfd *pf = calloc((size_t)n, sizeof(*pf));
    const char *prefix = "GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    for (int i = 0; i < n; i++) {
        fds[i] = connect_nb(port);
        CHECK(fds[i] >= 0, "connect %d: %s", i, strerror(errno));
        CHECK(wait_fd(fds[i], POLLOUT, now_ms() + 2000), "connect %d timed out", i);
        t_open[i] = now_ms();
        CHECK(send(fds[i], prefix, strlen(prefix), MSG_NOSIGNAL) == (ssize_t)strlen(prefix),
              "send prefix %d", i);
    }
    printf("slowloris: %d slow connections open, header timeout %.0f ms\n", n, T);

    pthread_t th;
    pthread_create(&th, NULL, normal_client, NULL);

    int open_left = n;
    double next_drip = now_ms() + 1000, stop_at = now_ms() + T + 8000;
    while (open_left > 0 && now_ms() < stop_at) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (fds[i] >= 0)
                pf[m++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        int wait = (int)(next_drip - now_ms());
        poll(pf, (nfds_t)m, wait > 0 ? wait : 0);
        for (int k = 0; k < m; k++) {
            if (!pf[k].revents)
                continue;
            char buf[512];
            ssize_t r = recv(pf[k].fd, buf, sizeof(buf), 0);
            if (r > 0 || (r < 0 && errno == EAGAIN))
                continue; /* a 408 before the close: keep reading */
            for (int i = 0; i < n; i++) {
                if (fds[i] == pf[k].fd) {
                    t_close[i] = now_ms();
                    close(fds[i]);
                    fds[i] = -1;
                    open_left--;
                    break;
                }
            }
        }
        if (now_ms() >= next_drip) {
            for (int i = 0; i < n; i++)
                if (fds[i] >= 0)
                    send(fds[i], "a", 1, MSG_NOSIGNAL);
            next_drip += 1000;
        }
    }
    atomic_store(&slow_done, 1);
    pthread_join(th, NULL);

    double earliest = 1e18, latest = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
            continue;
        }
        double held = t_close[i] - t_open[i];
        earliest = held < earliest ? held : earliest;
        latest = held > latest ? held : latest;
    }
    double p50 = percentile(lat, nlat, 0.50), p99 = percentile(lat, nlat, 0.99);
    printf("slowloris: closed %d/%d slow connections after %.0f-%.0f ms (timeout %.0f ms)\n",
           n - open_left, n, earliest, latest, T);
    printf("slowloris: normal client %zu requests, %zu failed, p50 %.2f ms, p99 %.2f ms\n", nlat,
           nfail, p50, p99);

    hz_server_stop(srv, 1000);
    hz_server_wait(srv);
    hz_server_destroy(srv);
    free(fds);
    free(t_open);
    free(t_close);
    free(pf);

    CHECK(open_left == 0, "%d slow connections were still open at T + 8 s", open_left);
    CHECK(earliest >= T - 50, "a slow connection was closed early (%.0f ms < %.0f)", earliest, T);
    CHECK(latest <= T + 3000, "a slow connection outlived its deadline (%.0f ms)", latest);
    CHECK(nlat >= 20, "the normal client made only %zu requests", nlat);
    CHECK(nfail == 0, "%zu normal requests failed", nfail);
    CHECK(p99 < 10.0, "normal client p99 %.2f ms >= 10 ms", p99);
    printf("1 passed, 0 failed\n");
    return 0;
}
