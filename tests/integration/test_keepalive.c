/* test_keepalive.c - keep-alive, HTTP/1.0, Connection: close both ways,
 * max requests per connection, HEAD, Date/Server fields, libcurl reuse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include "itest.h"

#define GET "GET / HTTP/1.1\r\nHost: t\r\n\r\n"

/* Sends req (one request or several) on c and reads the first answer into
 * *r, its head only when head_only: status (0: any). */
static void ask(it_conn *c, const char *req, it_resp *r, int head_only, int status)
{
    cr_assert_eq(it_sends(c, req), 0);
    cr_assert_eq(it_read_response(c, r, head_only, 3000), 0, "no answer to: %s", req);
    if (status)
        cr_assert_eq(r->status, status);
}

Test(keepalive, http11_default_keeps_the_connection, .timeout = 20)
{
    it_server s;
    it_conn c;
    it_start_conn(&s, NULL, &c);
    for (int i = 0; i < 3; i++) {
        it_resp r;
        ask(&c, GET, &r, 0, 200);
        cr_assert_str_eq(r.body, "hello");
        cr_assert_not(r.conn_close);
        cr_assert_str_eq(it_header(&r, "Content-Length"), "5");
        it_resp_free(&r);
    }
    cr_assert_eq(it_wait_closed(&c, 200), 0, "the connection must stay open");
    it_stop_conn(&s, &c);
}

Test(keepalive, http10_closes_by_default, .timeout = 20)
{
    it_server s;
    it_conn c;
    it_resp r;
    it_start_conn(&s, NULL, &c);
    ask(&c, "GET / HTTP/1.0\r\n\r\n", &r, 0, 200);
    cr_assert(strncmp(r.head, "HTTP/1.1 ", 9) == 0, "status line is always HTTP/1.1");
    cr_assert(r.conn_close);
    cr_assert_eq(it_wait_closed(&c, 3000), 1);
    it_resp_free(&r);
    it_stop_conn(&s, &c);
}

Test(keepalive, http10_keepalive_is_echoed_and_honoured, .timeout = 20)
{
    it_server s;
    it_conn c;
    it_start_conn(&s, NULL, &c);
    for (int i = 0; i < 2; i++) {
        it_resp r;
        ask(&c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r, 0, 200);
        cr_assert_str_eq(it_header(&r, "Connection"), "keep-alive");
        it_resp_free(&r);
    }
    cr_assert_eq(it_wait_closed(&c, 200), 0);
    it_stop_conn(&s, &c);
}

Test(keepalive, client_connection_close_is_honoured, .timeout = 20)
{
    it_server s;
    it_conn c;
    it_resp r;
    it_start_conn(&s, NULL, &c);
    /* A request pipelined after "close" must not be answered. */
    ask(&c, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" GET, &r, 0, 200);
    cr_assert(r.conn_close);
    it_resp_free(&r);
    cr_assert_eq(it_wait_closed(&c, 3000), 1);
    cr_assert_eq(c.len, 0, "nothing after the close response");
    cr_assert_eq(atomic_load(&it_calls), 1);
    it_stop_conn(&s, &c);
}

Test(keepalive, max_requests_per_conn_closes_from_the_server, .timeout = 20)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.max_requests_per_conn = 3;
    it_server s;
    it_conn c;
    it_start_conn(&s, &cfg, &c);
    for (int i = 1; i <= 3; i++) {
        it_resp r;
        ask(&c, GET, &r, 0, 200);
        cr_assert_eq(r.conn_close, i == 3, "request %d", i);
        it_resp_free(&r);
    }
    cr_assert_eq(it_wait_closed(&c, 3000), 1);
    it_stop_conn(&s, &c);
}

Test(keepalive, head_sends_no_body, .timeout = 20)
{
    it_server s;
    it_conn c;
    it_resp r;
    it_start_conn(&s, NULL, &c);
    ask(&c, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n" GET, &r, 1, 200);
    cr_assert_str_eq(it_header(&r, "Content-Length"), "5", "HEAD carries GET's length");
    it_resp_free(&r);
    /* The next bytes must be the GET's response, not a body. */
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    it_resp_free(&r);
    it_stop_conn(&s, &c);
}

Test(keepalive, date_and_server_fields, .timeout = 20)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cfg.server_header = "unit/1";
    it_server s;
    it_conn c;
    it_resp r;
    it_start_conn(&s, &cfg, &c);
    ask(&c, GET, &r, 0, 0);
    const char *d = it_header(&r, "Date");
    cr_assert_eq(strlen(d), 29, "IMF-fixdate: %s", d);
    cr_assert(strstr(d, " GMT") == d + 25);
    cr_assert_str_eq(it_header(&r, "Server"), "unit/1");
    it_resp_free(&r);
    it_stop_conn(&s, &c);

    cfg.server_header = NULL;
    it_start_conn(&s, &cfg, &c);
    ask(&c, GET, &r, 0, 0);
    cr_assert_null(strcasestr(r.head, "\r\nServer:"), "no Server field when NULL");
    it_resp_free(&r);
    it_stop_conn(&s, &c);
}

static size_t sink(char *p, size_t n, size_t m, void *ud)
{
    (void)p;
    *(size_t *)ud += n * m;
    return n * m;
}

Test(keepalive, libcurl_reuses_one_connection, .timeout = 30)
{
    it_server s;
    it_start(&s, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    size_t got = 0;
    long connects = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(curl_easy_perform(h), CURLE_OK);
        long code = 0, n = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &n);
        cr_assert_eq(code, 200);
        connects += n;
    }
    cr_assert_eq(got, 25);
    cr_assert_eq(connects, 1, "one TCP connection for five requests");
    curl_easy_cleanup(h);
    curl_global_cleanup();
    it_stop(&s);
}

static void h_peer(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    char addr[64], body[96];
    int port = 0;
    int rc = hz_req_peer(req, addr, sizeof(addr), &port);
    int n = snprintf(body, sizeof(body), "%d %s %d loop=%d", rc, rc == 0 ? addr : "-", port,
                     hz_req_loop(req));
    hz_res_send(res, 200, body, (size_t)n);
}

Test(keepalive, ipv6_listener_and_peer_address, .timeout = 20)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    hz_server *srv;
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    cr_assert_eq(hz_route(srv, "GET", "/peer", h_peer, NULL), 0);
    int idx = hz_server_listen(srv, "::1", 0, NULL);
    if (idx == HZ_EADDR) {
        hz_server_destroy(srv);
        cr_skip_test("no IPv6 loopback here");
    }
    cr_assert_geq(idx, 0);
    int port = hz_server_port(srv, idx);
    cr_assert_eq(hz_server_start(srv), 0);
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons((uint16_t)port);
    sa.sin6_addr = in6addr_loopback;
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct sockaddr_in6 me;
    socklen_t ml = sizeof(me);
    getsockname(fd, (struct sockaddr *)&me, &ml);
    it_conn c = {.fd = fd, .cap = 65536};
    c.buf = malloc(c.cap);
    it_sends(&c, "GET /peer HTTP/1.1\r\nHost: [::1]\r\n\r\n");
    it_resp r;
    cr_assert_eq(it_read_response(&c, &r, 0, 3000), 0);
    char want[96];
    snprintf(want, sizeof(want), "0 ::1 %d loop=0", ntohs(me.sin6_port));
    cr_assert_str_eq(r.body, want);
    it_resp_free(&r);
    it_close(&c);
    hz_server_stop(srv, 1000);
    hz_server_wait(srv);
    hz_server_destroy(srv);
}
