/* test_metrics_accesslog.c - the access-log formatters on crafted entries:
 * escaping (quotes, control bytes, invalid UTF-8), dashes, short buffers. */
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/httpz.h>

static hz_str S(const char *s)
{
    hz_str v = {s, strlen(s)};
    return v;
}

static hz_access_entry entry(void)
{
    hz_access_entry e;
    memset(&e, 0, sizeof(e));
    e.method = S("GET");
    e.target = S("/a?b=c");
    e.version = 11;
    e.status = 200;
    e.bytes = 1234;
    e.duration_ns = 2500000;
    e.peer = "192.0.2.7";
    e.peer_port = 5555;
    e.conn_id = 42;
    e.request_seq = 3;
    e.time_sec = 971185536; /* 2000-10-10 13:45:36 UTC */
    e.user_agent = S("curl/8");
    e.referer = S("");
    return e;
}

static char buf[2048];

Test(combined, exact_line)
{
    hz_access_entry e = entry();
    long n = hz_access_log_combined(&e, buf, sizeof(buf));
    cr_assert_str_eq(buf, "192.0.2.7 - - [10/Oct/2000:13:45:36 +0000] \"GET /a?b=c HTTP/1.1\" 200 "
                          "1234 \"-\" \"curl/8\"\n");
    cr_assert_eq(n, (long)strlen(buf));
}

Test(combined, escapes_and_dashes)
{
    hz_access_entry e = entry();
    e.target = S("/x\"y\\z\n\x01\xff");
    e.user_agent = S("");
    e.bytes = 0;
    e.version = 0;
    e.method.ptr = NULL;
    e.method.len = 0;
    cr_assert_gt(hz_access_log_combined(&e, buf, sizeof(buf)), 0);
    cr_assert_not_null(strstr(buf, "\"- /x\\\"y\\\\z\\x0a\\x01\\xff\" 200 - \"-\" \"-\"\n"), "%s",
                       buf);
    cr_assert_eq(strchr(buf, '\n'), buf + strlen(buf) - 1, "one line");
}

Test(json, exact_object)
{
    hz_access_entry e = entry();
    e.tls = 1;
    long n = hz_access_log_json(&e, buf, sizeof(buf));
    cr_assert_str_eq(
        buf, "{\"time\":\"2000-10-10T13:45:36Z\",\"peer\":\"192.0.2.7\",\"port\":5555,"
             "\"tls\":true,\"method\":\"GET\",\"target\":\"/a?b=c\",\"version\":\"HTTP/1.1\","
             "\"status\":200,\"bytes\":1234,\"duration_us\":2500,\"conn\":42,\"seq\":3,"
             "\"referer\":\"\",\"user_agent\":\"curl/8\"}\n");
    cr_assert_eq(n, (long)strlen(buf));
}

Test(json, escaping)
{
    hz_access_entry e = entry();
    e.target = S("/q\"\\\n\r\t\x01\x7f");
    e.user_agent = S("caf\xc3\xa9"); /* valid UTF-8: kept */
    e.referer = S("bad\xff\xc3");    /* not UTF-8: bytes as \u00XX */
    cr_assert_gt(hz_access_log_json(&e, buf, sizeof(buf)), 0);
    cr_assert_not_null(strstr(buf, "\"target\":\"/q\\\"\\\\\\n\\r\\t\\u0001\\u007f\""), "%s", buf);
    cr_assert_not_null(strstr(buf, "\"user_agent\":\"caf\xc3\xa9\""), "%s", buf);
    cr_assert_not_null(strstr(buf, "\"referer\":\"bad\\u00ff\\u00c3\""), "%s", buf);
}

Test(formatters, short_buffers)
{
    hz_access_entry e = entry();
    long n = hz_access_log_json(&e, buf, sizeof(buf));
    cr_assert_gt(n, 0);
    char small[512];
    cr_assert_eq(hz_access_log_json(&e, small, (size_t)n + 1), n);
    cr_assert_eq(hz_access_log_json(&e, small, (size_t)n), HZ_ERANGE);
    n = hz_access_log_combined(&e, buf, sizeof(buf));
    cr_assert_eq(hz_access_log_combined(&e, small, (size_t)n + 1), n);
    cr_assert_eq(hz_access_log_combined(&e, small, (size_t)n), HZ_ERANGE);
    cr_assert_eq(hz_access_log_combined(NULL, buf, sizeof(buf)), HZ_EINVAL);
    cr_assert_eq(hz_access_log_json(&e, NULL, 5), HZ_EINVAL);
}
