/* bench/parse.c - request-head parser throughput on fixed, realistic
 * requests (a program, not a test): a short GET, browser GETs (Chrome,
 * Firefox, Safari), a curl GET, and two API POST heads.
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

/* A command-line client: short, a query and a Host with a port. */
static const char req_curl[] = "GET /v2/status?verbose=1 HTTP/1.1\r\n"
                               "Host: 127.0.0.1:8080\r\n"
                               "User-Agent: curl/8.5.0\r\n"
                               "Accept: */*\r\n"
                               "\r\n";

/* A Firefox-style navigation with a search query. */
static const char req_firefox[] =
    "GET /search?q=http+parser+benchmark&ia=web&page=2 HTTP/1.1\r\n"
    "Host: search.example.org\r\n"
    "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 "
    "Firefox/132.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: de,en-US;q=0.7,en;q=0.3\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Referer: https://search.example.org/\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: prefs=kl-de_de; ah=de-de; l=wt-wt; s=m\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-User: ?1\r\n"
    "Priority: u=0, i\r\n"
    "TE: trailers\r\n"
    "\r\n";

/* A Safari-style image fetch: a long path, a long Accept. */
static const char req_safari[] =
    "GET /images/products/2026/summer/sandals-blue-42_large@2x.webp HTTP/1.1\r\n"
    "Host: cdn.shop.example\r\n"
    "Accept: image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,"
    "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5\r\n"
    "Sec-Fetch-Site: same-site\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Accept-Language: fr-FR,fr;q=0.9\r\n"
    "User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1\r\n"
    "Referer: https://www.shop.example/c/summer-sale\r\n"
    "Sec-Fetch-Dest: image\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

/* A mobile app's API call: a JWT, a request id, a query on a POST. */
static const char req_apipost[] =
    "POST /graphql?op=UpdateCart HTTP/1.1\r\n"
    "Host: api.shop.example\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Content-Length: 1523\r\n"
    "Accept: application/graphql-response+json, application/json\r\n"
    "Authorization: Bearer "
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwiaWF0IjoxNzMyNTQwMDAwfQ."
    "c2lnbmF0dXJlLXBsYWNlaG9sZGVy\r\n"
    "X-Request-Id: 0b1e6c9a-7f2d-4e3b-9a8c-5d4f3e2a1b0c\r\n"
    "Origin: https://www.shop.example\r\n"
    "User-Agent: okhttp/4.12.0\r\n"
    "Accept-Encoding: gzip\r\n"
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
    printf("httpz parser, target scanning path: %s\n", hz__parser_simd());
    bench("get", req_get, sizeof(req_get) - 1, iters);
    bench("browser", req_browser, sizeof(req_browser) - 1, iters / 4 + 1);
    bench("post", req_post, sizeof(req_post) - 1, iters);
    bench("curl", req_curl, sizeof(req_curl) - 1, iters);
    bench("firefox", req_firefox, sizeof(req_firefox) - 1, iters / 4 + 1);
    bench("safari", req_safari, sizeof(req_safari) - 1, iters / 4 + 1);
    bench("apipost", req_apipost, sizeof(req_apipost) - 1, iters / 2 + 1);
    return 0;
}
