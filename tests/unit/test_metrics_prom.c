/* test_metrics_prom.c - the Prometheus text rendering of a snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/httpz.h>

static hz_metrics sample(void)
{
    hz_metrics m;
    memset(&m, 0, sizeof(m));
    m.conn_accepted = 12;
    m.conn_open = 3;
    m.conn_closed[HZ_CLOSE_PEER] = 7;
    m.conn_closed[HZ_CLOSE_TIMEOUT] = 2;
    m.requests = 40;
    m.requests_in_flight = 2;
    m.status_class[1] = 35;
    m.status_class[3] = 5;
    m.method[HZ_METHOD_GET] = 38;
    m.method[HZ_METHOD_OTHER] = 2;
    m.parse_errors[1] = 4;
    m.timeouts[HZ_TIMEOUT_KEEPALIVE] = 2;
    m.tls_handshakes_ok = 9;
    m.tls_handshakes_failed = 1;
    m.bytes_in = 123456;
    m.bytes_out = 9876543210ull;
    for (int i = 0; i < HZ_METRICS_LAT_BUCKETS; i++)
        m.latency_bucket[i] = (uint64_t)(i < 3 ? 10 + i : 39);
    m.latency_count = 40;
    m.latency_sum_ns = 1500000000ull;
    m.access_log_dropped = 17;
    return m;
}

static char buf[65536];

Test(prometheus, exact_samples)
{
    hz_metrics m = sample();
    long n = hz_metrics_prometheus(&m, buf, sizeof(buf));
    cr_assert_gt(n, 0);
    cr_assert_eq((size_t)n, strlen(buf));
    static const char *const want[] = {
        "# HELP httpz_connections_accepted_total Connections accepted.\n"
        "# TYPE httpz_connections_accepted_total counter\n"
        "httpz_connections_accepted_total 12\n",
        "# TYPE httpz_connections_open gauge\nhttpz_connections_open 3\n",
        "httpz_connections_closed_total{reason=\"peer\"} 7\n",
        "httpz_connections_closed_total{reason=\"timeout\"} 2\n",
        "httpz_connections_closed_total{reason=\"shutdown\"} 0\n",
        "httpz_responses_total{code=\"2xx\"} 35\n",
        "httpz_responses_total{code=\"4xx\"} 5\n",
        "httpz_requests_total{method=\"GET\"} 38\n",
        "httpz_requests_total{method=\"other\"} 2\n",
        "httpz_requests_in_flight 2\n",
        "httpz_timeouts_total{kind=\"keepalive\"} 2\n",
        "httpz_tls_handshakes_total{result=\"ok\"} 9\n",
        "httpz_tls_handshakes_total{result=\"failed\"} 1\n",
        "httpz_received_bytes_total 123456\n",
        "httpz_sent_bytes_total 9876543210\n",
        "# TYPE httpz_access_log_dropped_total counter\nhttpz_access_log_dropped_total 17\n",
        "# TYPE httpz_request_duration_seconds histogram\n",
        "httpz_request_duration_seconds_bucket{le=\"0.0001\"} 10\n",
        "httpz_request_duration_seconds_bucket{le=\"0.00025\"} 11\n",
        "httpz_request_duration_seconds_bucket{le=\"0.0005\"} 12\n",
        "httpz_request_duration_seconds_bucket{le=\"1\"} 39\n",
        "httpz_request_duration_seconds_bucket{le=\"60\"} 39\n",
        "httpz_request_duration_seconds_bucket{le=\"+Inf\"} 40\n",
        "httpz_request_duration_seconds_sum 1.500000000\n",
        "httpz_request_duration_seconds_count 40\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert_not_null(strstr(buf, want[i]), "missing: %s", want[i]);
    char pe[128];
    snprintf(pe, sizeof(pe), "httpz_parse_errors_total{kind=\"%s\"} 4\n",
             hz_metrics_parse_error_name(1));
    cr_assert_not_null(strstr(buf, pe), "%s", pe);
}

/* Text format 0.0.4: every line is "# HELP|TYPE name ...", or
 * name{labels} value with a metric name and a float value; every sample's
 * family has a TYPE line before it. */
Test(prometheus, every_line_parses)
{
    hz_metrics m = sample();
    cr_assert_gt(hz_metrics_prometheus(&m, buf, sizeof(buf)), 0);
    char typed[64][96];
    int ntyped = 0, samples = 0;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(l, "# HELP ", 7))
            continue;
        if (!strncmp(l, "# TYPE ", 7)) {
            char type[32];
            cr_assert_eq(sscanf(l + 7, "%95s %31s", typed[ntyped], type), 2, "%s", l);
            cr_assert(!strcmp(type, "counter") || !strcmp(type, "gauge") ||
                          !strcmp(type, "histogram"),
                      "%s", l);
            ntyped++;
            continue;
        }
        /* Metric names: [a-zA-Z_:][a-zA-Z0-9_:]* (ours: lowercase). */
        size_t nl = strspn(l, "abcdefghijklmnopqrstuvwxyz_0123456789");
        cr_assert_gt(nl, 0, "%s", l);
        const char *p = l + nl;
        if (*p == '{') {
            const char *close = strchr(p, '}');
            cr_assert_not_null(close, "%s", l);
            cr_assert_not_null(memchr(p, '=', (size_t)(close - p)), "%s", l);
            p = close + 1;
        }
        cr_assert_eq(*p, ' ', "%s", l);
        char *end;
        strtod(p + 1, &end);
        cr_assert(end != p + 1 && *end == 0, "%s", l);
        /* Its family (name minus a histogram suffix) was typed. */
        int found = 0;
        for (int i = 0; i < ntyped; i++) {
            size_t tl = strlen(typed[i]);
            if (!strncmp(l, typed[i], tl) && (l[tl] == ' ' || l[tl] == '{' || l[tl] == '_'))
                found = 1;
        }
        cr_assert(found, "untyped sample: %s", l);
        samples++;
    }
    cr_assert_gt(samples, 60);
}

Test(prometheus, small_buffers)
{
    hz_metrics m = sample();
    long n = hz_metrics_prometheus(&m, buf, sizeof(buf));
    cr_assert_gt(n, 0);
    char *small = malloc((size_t)n + 1);
    cr_assert_eq(hz_metrics_prometheus(&m, small, (size_t)n + 1), n, "exactly enough");
    cr_assert_eq(hz_metrics_prometheus(&m, small, (size_t)n), HZ_ERANGE, "one byte short");
    cr_assert_eq(hz_metrics_prometheus(&m, small, 10), HZ_ERANGE);
    free(small);
    cr_assert_eq(hz_metrics_prometheus(NULL, buf, sizeof(buf)), HZ_EINVAL);
    cr_assert_eq(hz_metrics_prometheus(&m, NULL, 10), HZ_EINVAL);
}

Test(prometheus, bucket_bounds_and_kinds)
{
    double prev = 0;
    for (unsigned i = 0; i < HZ_METRICS_LAT_BUCKETS; i++) {
        double le = hz_metrics_bucket_le(i);
        cr_assert_gt(le, prev);
        prev = le;
    }
    cr_assert_lt(hz_metrics_bucket_le(HZ_METRICS_LAT_BUCKETS), 0);
    unsigned k = 0;
    while (hz_metrics_parse_error_name(k))
        k++;
    cr_assert_gt(k, 10);
    cr_assert_leq(k, HZ_METRICS_PARSE_KINDS);
    cr_assert_str_eq(hz_metrics_parse_error_name(0), "NONE");
}
