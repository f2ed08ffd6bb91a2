/* test_routing.c - what the router answers by itself, over a real socket:
 * 501 for a method no route knows (and the close after it), OPTIONS * with
 * the methods the routes accept, and the 301 from "/p" to a prefix route
 * "/p/" "*" with the query kept. */
#include <string.h>
#include <criterion/criterion.h>
#include "itest.h"

static void h_ok(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    hz_str p = hz_req_path(req);
    hz_res_send(res, 200, p.ptr, p.len); /* echoes the path it was routed for */
}

static void start(it_server *s)
{
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    cr_assert_eq(hz_server_create(&s->srv, &cfg), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/", h_ok, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "POST", "/form", h_ok, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "GET", "/static/*", h_ok, NULL), 0);
    cr_assert_eq(hz_route(s->srv, "BREW", "/pot", h_ok, NULL), 0);
    int idx = hz_server_listen(s->srv, "127.0.0.1", 0, NULL);
    cr_assert_geq(idx, 0);
    s->port = hz_server_port(s->srv, idx);
    cr_assert_eq(hz_server_start(s->srv), 0);
}

/* Sends req on a new connection and reads one response into r. */
static void ask(it_server *s, it_conn *c, const char *req, it_resp *r)
{
    cr_assert_eq(it_connect(c, s->port), 0);
    cr_assert_eq(it_sends(c, req), 0);
    cr_assert_eq(it_read_response(c, r, 0, 5000), 0, "no response to %s", req);
}

Test(routing, unknown_method_is_501_and_closes, .timeout = 20)
{
    it_server s;
    start(&s);
    it_conn c;
    it_resp r;
    /* A body and a pipelined request behind it: neither is looked at. */
    ask(&s, &c,
        "FOO /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
        "GET / HTTP/1.1\r\nHost: t\r\n\r\n",
        &r);
    cr_assert_eq(r.status, 501);
    cr_assert(r.conn_close, "501 carries Connection: close: %s", r.head);
    cr_assert_str_eq(r.body, "Not Implemented"); /* the reason phrase, text/plain */
    cr_assert_str_eq(it_header(&r, "Content-Type"), "text/plain; charset=utf-8");
    it_resp_free(&r);
    cr_assert_eq(it_wait_closed(&c, 3000), 1, "the server closes after the 501");
    cr_assert_eq(c.len, 0, "nothing after the 501: %.*s", (int)c.len, c.buf);
    it_close(&c);
    /* On an existing path too: the method, not the path, is unknown. */
    ask(&s, &c, "FOO / HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    cr_assert_eq(r.status, 501);
    it_resp_free(&r);
    it_close(&c);
    it_stop(&s);
}

Test(routing, method_of_some_route_is_404_405_and_keeps_alive, .timeout = 20)
{
    it_server s;
    start(&s);
    it_conn c;
    it_resp r;
    /* BREW is routed (at /pot): elsewhere it is an ordinary 404 / 405. */
    ask(&s, &c, "BREW /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    cr_assert_eq(r.status, 404);
    cr_assert_not(r.conn_close);
    it_resp_free(&r);
    cr_assert_eq(it_sends(&c, "BREW / HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 405);
    cr_assert_str_eq(it_header(&r, "Allow"), "GET, HEAD, OPTIONS");
    it_resp_free(&r);
    cr_assert_eq(it_sends(&c, "BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 200);
    it_resp_free(&r);
    it_close(&c);
    it_stop(&s);
}

Test(routing, options_asterisk_lists_the_routes_methods, .timeout = 20)
{
    it_server s;
    start(&s);
    it_conn c;
    it_resp r;
    ask(&s, &c, "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    cr_assert_eq(r.status, 204);
    cr_assert_str_eq(it_header(&r, "Allow"), "GET, POST, BREW, HEAD, OPTIONS");
    cr_assert_not(r.conn_close);
    it_resp_free(&r);
    /* CONNECT (authority form) is not served: 405 with the same list. */
    cr_assert_eq(it_sends(&c, "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 405);
    cr_assert_str_eq(it_header(&r, "Allow"), "GET, POST, BREW, HEAD, OPTIONS");
    it_resp_free(&r);
    it_close(&c);
    it_stop(&s);
}

Test(routing, prefix_route_redirects_to_its_slash, .timeout = 20)
{
    it_server s;
    start(&s);
    it_conn c;
    it_resp r;
    ask(&s, &c, "GET /static?v=1&x=%20 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    cr_assert_eq(r.status, 301);
    cr_assert_str_eq(it_header(&r, "Location"), "/static/?v=1&x=%20");
    cr_assert_not(r.conn_close);
    it_resp_free(&r);
    /* Without a query; HEAD follows GET; the target itself is served. */
    cr_assert_eq(it_sends(&c, "HEAD /static HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(&c, &r, 1, 5000), 0);
    cr_assert_eq(r.status, 301);
    cr_assert_str_eq(it_header(&r, "Location"), "/static/");
    it_resp_free(&r);
    cr_assert_eq(it_sends(&c, "GET /static/ HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "/static/");
    it_resp_free(&r);
    /* Not for a method the prefix route does not take. */
    cr_assert_eq(it_sends(&c, "POST /static HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(&c, &r, 0, 5000), 0);
    cr_assert_eq(r.status, 404);
    it_resp_free(&r);
    it_close(&c);
    it_stop(&s);
}
