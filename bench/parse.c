/* bench/parse.c - request-head parser throughput on fixed, realistic
 * requests (a program, not a test).
 *
 * For each request the parser is initialised and run over the whole head,
 * as the server does for every request; the best of several rounds is
 * reported, to keep noise from other processes out. Usage:
 *   bench_parse [iterations per round, default 20000; 200 rounds]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "parser.h"

static const char req_get[] = "GET /plaintext HTTP/1.1\r\n"
                              "Host: localhost\r\n"
                              "\r\n";

static const char req_browser[] =
    "GET /static/js/app.3f9a1c2e.js?v=20261125 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua: \"Chromium\";v=\"130\", \"Google Chrome\";v=\"130\", \"Not?A_Brand\";v=\"99\"\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Accept: */*\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Referer: https://www.example.com/account/settings?tab=profile\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-GB,en-US;q=0.9,en;q=0.8\r\n"
    "Cookie: session=6f1c2a9e8b7d4c3a2f1e0d9c8b7a6f5e; theme=dark; "
    "_ga=GA1.1.1234567890.1732540000; _gid=GA1.1.987654321.1732540000; consent=yes; "
    "tz=UTC+1; lang=en-GB\r\n"
    "\r\n";

static const char req_post[] = "POST /api/v1/orders HTTP/1.1\r\n"
                               "Host: api.example.com\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: 348\r\n"
                               "Authorization: Bearer 4f9a1c2e8b7d6c5a3b2c1\r\n"
                               "Accept: application/json\r\n"
                               "\r\n";

/* Many short rounds, best one kept: a round that no other process
 * interrupted shows the parser's own cost. */
#define ROUNDS 200

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void bench(const char *name, const char *req, size_t len, long iters)
{
    static const hz__parse_limits lim = {8192, 8192, 32768, 100, 256, 8192};
    static hz__field fields[100];
    hz__parser p;
    hz__req_head h;
    double best = 1e30;
    unsigned long sink = 0;

    for (int round = 0; round < ROUNDS; round++) {
        double t0 = now_ns();
        for (long k = 0; k < iters; k++) {
            hz__parser_init(&p, &lim, fields);
            int rc = hz__parse_request(&p, &h, req, len);
            if (rc != (int)len) {
                fprintf(stderr, "%s: parse failed: %d (%s)\n", name, rc, hz__perr_name(p.error));
                exit(1);
            }
            sink += h.nfields;
            /* keep the compiler from hoisting the parse out of the loop */
            __asm__ __volatile__("" : : "r"(req) : "memory");
        }
        double dt = (now_ns() - t0) / (double)iters;
        if (dt < best)
            best = dt;
    }
    printf("%-8s %4zu bytes %2u fields  %7.1f ns/req  %10.0f req/s  %7.0f MB/s\n", name, len,
           (unsigned)(sink / ((unsigned long)ROUNDS * (unsigned long)iters)), best, 1e9 / best,
           (double)len * 1e3 / best);
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 20000;
    if (iters <= 0)
        iters = 1;
    printf("httpz parser, scanning path: %s\n", hz__parser_simd());
    bench("get", req_get, sizeof(req_get) - 1, iters);
    bench("browser", req_browser, sizeof(req_browser) - 1, iters / 4 + 1);
    bench("post", req_post, sizeof(req_post) - 1, iters);
    return 0;
}
