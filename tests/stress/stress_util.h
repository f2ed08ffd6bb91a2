/* stress_util.h - small helpers shared by the stress programs: time, raw
 * sockets with deadlines, and a one-shot HTTP request. Plain C (no
 * Criterion) so they can also run where Criterion cannot. */
#ifndef HZ_STRESS_UTIL_H
#define HZ_STRESS_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static inline void raise_nofile(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* A connected non-blocking TCP socket to 127.0.0.1:port, or -1. */
static inline int connect_nb(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Waits for fd to be ready for events, up to deadline (now_ms() clock).
 * Returns 1 ready, 0 timed out. */
static inline int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left + 1);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 0;
    }
}

/* Sends req on a fresh connection and reads until the response head and
 * Content-Length body are complete or the peer closes. Returns the status
 * code, 0 when the connection closed with no response, -1 on timeout. */
static inline int http_once(int port, const char *req, double timeout_ms)
{
    double deadline = now_ms() + timeout_ms;
    int fd = connect_nb(port);
    if (fd < 0)
        return 0;
    if (!wait_fd(fd, POLLOUT, deadline)) {
        close(fd);
        return -1;
    }
    size_t len = strlen(req), off = 0;
    while (off < len) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            if (!wait_fd(fd, POLLOUT, deadline)) {
                close(fd);
                return -1;
            }
        } else {
            close(fd);
            return 0;
        }
    }
    char buf[4096];
    size_t got = 0;
    for (;;) {
        if (!wait_fd(fd, POLLIN, deadline)) {
            close(fd);
            return -1;
        }
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0) {
            if (n < 0 && errno == EAGAIN)
                continue;
            break;
        }
        got += (size_t)n;
        buf[got] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            const char *cl = strstr(buf, "Content-Length:");
            size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
            if (got >= (size_t)(end + 4 - buf) + body)
                break;
        }
        if (got >= sizeof(buf) - 1)
            break;
    }
    close(fd);
    int status = 0;
    if (got >= 12 && memcmp(buf, "HTTP/1.", 7) == 0)
        status = atoi(buf + 9);
    return status;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static inline double percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

#endif
