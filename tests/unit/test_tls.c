/* test_tls.c - the certificate choice for a TLS server name
 * (hz_tls_sni_pick, <httpz/backend.h>), which both TLS backends call from
 * their SNI callback through hz_tls_snap_sni_pick. */
#include <stddef.h>
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>

typedef struct cert { /* a certificate entry: its index and SNI name */
    int payload;
    const char *host;
} cert;

static unsigned pick(cert *certs, unsigned n, const char *host)
{
    const char *names[8] = {NULL};
    cr_assert_leq(n, 8);
    for (unsigned i = 0; i < n; i++)
        names[i] = certs[i].host;
    return hz_tls_sni_pick(names, n, host, strlen(host));
}

Test(tls, exact_name_beats_wildcard_in_any_order)
{
    cert a[] = {{0, "default.test"}, {1, "*.example.com"}, {2, "www.example.com"}};
    cr_assert_eq(pick(a, 3, "www.example.com"), 2);
    cert b[] = {{0, "default.test"}, {1, "www.example.com"}, {2, "*.example.com"}};
    cr_assert_eq(pick(b, 3, "www.example.com"), 1);
    cr_assert_eq(pick(b, 3, "api.example.com"), 2);
}

Test(tls, names_compare_without_ascii_case)
{
    cert a[] = {{0, NULL}, {1, "WWW.Example.COM"}, {2, "*.EXAMPLE.org"}};
    cr_assert_eq(pick(a, 3, "www.example.com"), 1);
    cr_assert_eq(pick(a, 3, "Mail.Example.Org"), 2);
}

Test(tls, a_wildcard_covers_exactly_one_leftmost_label)
{
    cert a[] = {{0, "default.test"}, {1, "*.example.com"}};
    cr_assert_eq(pick(a, 2, "a.example.com"), 1);
    cr_assert_eq(pick(a, 2, "a.b.example.com"), 0, "two labels: no match");
    cr_assert_eq(pick(a, 2, "example.com"), 0, "the bare domain: no match");
    cr_assert_eq(pick(a, 2, ".example.com"), 0, "an empty label: no match");
    cr_assert_eq(pick(a, 2, "aexample.com"), 0);
}

Test(tls, unknown_names_and_nameless_entries_get_the_default)
{
    cert a[] = {{0, NULL}, {1, NULL}, {2, "known.test"}};
    cr_assert_eq(pick(a, 3, "other.test"), 0);
    cr_assert_eq(pick(a, 3, "known.test"), 2);
    cr_assert_eq(pick(a, 0, "known.test"), 0, "no certificates at all");
    cert b[] = {{0, "*"}, {1, "*."}};
    cr_assert_eq(pick(b, 2, "x."), 0, "degenerate patterns match nothing but themselves");
}

Test(tls, the_first_of_equal_matches_wins)
{
    cert a[] = {{0, "default.test"}, {1, "*.example.com"}, {2, "*.EXAMPLE.com"}};
    cr_assert_eq(pick(a, 3, "w.example.com"), 1);
}

Test(tls, only_len_bytes_of_the_host_count)
{
    cert a[] = {{0, "default.test"}, {1, "www.example.com"}};
    static const char sni[] = "www.example.comXYZ"; /* not NUL-terminated at len */
    const char *names[] = {a[0].host, a[1].host};
    cr_assert_eq(hz_tls_sni_pick(names, 2, sni, 15), 1);
    cr_assert_eq(hz_tls_sni_pick(names, 2, sni, 18), 0);
}

Test(tls, no_names_or_no_host_get_the_default)
{
    const char *names[] = {"default.test", "www.example.com"};
    cr_assert_eq(hz_tls_sni_pick(NULL, 2, "www.example.com", 15), 0);
    cr_assert_eq(hz_tls_sni_pick(names, 2, NULL, 0), 0);
    cr_assert_eq(hz_tls_sni_pick(names, 2, "", 0), 0);
}
