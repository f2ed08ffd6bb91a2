/* test_form.c - query strings and x-www-form-urlencoded bodies. */
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/httpz.h>

#define S(lit) lit, sizeof(lit) - 1

static char k[64], v[64];
static size_t kl, vl;

Test(query, iterates_pairs)
{
    hz_query_iter it;
    const char *q = "a=1&bb=two&c=&d&=e";
    hz_query_iter_init(&it, q, strlen(q), 0);
    static const char *want[][2] = {{"a", "1"}, {"bb", "two"}, {"c", ""}, {"d", ""}, {"", "e"}};
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(hz_query_next(&it, k, sizeof k, &kl, v, sizeof v, &vl), 1, "pair %zu", i);
        cr_assert_str_eq(k, want[i][0]);
        cr_assert_str_eq(v, want[i][1]);
        cr_assert_eq(kl, strlen(want[i][0]));
        cr_assert_eq(vl, strlen(want[i][1]));
    }
    cr_assert_eq(hz_query_next(&it, k, sizeof k, &kl, v, sizeof v, &vl), 0);
    cr_assert_eq(hz_query_next(&it, k, sizeof k, &kl, v, sizeof v, &vl), 0); /* stays at end */
}

Test(query, empty_pieces_and_separators)
{
    hz_query_iter it;
    const char *q = "&&a=1;b=2&&&c=x=y&";
    hz_query_iter_init(&it, q, strlen(q), 0);
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), 1);
    cr_assert_str_eq(k, "a");
    cr_assert_str_eq(v, "1;b=2"); /* ';' is not a separator */
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), 1);
    cr_assert_str_eq(k, "c");
    cr_assert_str_eq(v, "x=y"); /* the first '=' splits */
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), 0);
    hz_query_iter_init(&it, "", 0, 0);
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), 0);
    hz_query_iter_init(&it, NULL, 0, 0);
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), 0);
}

Test(query, decoding_and_plus)
{
    hz_query_iter it;
    const char *q = "na%20me=a+b%2Bc";
    hz_query_iter_init(&it, q, strlen(q), 0);
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), 1);
    cr_assert_str_eq(k, "na me");
    cr_assert_str_eq(v, "a+b+c"); /* a query keeps '+' */
    hz_form_iter_init(&it, q, strlen(q));
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), 1);
    cr_assert_str_eq(v, "a b+c"); /* a form turns it into ' ' */
}

Test(query, raw_views)
{
    hz_query_iter it;
    hz_str rk, rv;
    const char *q = "x=%41&y";
    hz_query_iter_init(&it, q, strlen(q), 0);
    cr_assert_eq(hz_query_next_raw(&it, &rk, &rv), 1);
    cr_assert_eq(rk.ptr, q);
    cr_assert_eq(rk.len, 1);
    cr_assert_eq(rv.ptr, q + 2);
    cr_assert_eq(rv.len, 3);
    cr_assert_eq(hz_query_next_raw(&it, &rk, &rv), 1);
    cr_assert_eq(rk.len, 1);
    cr_assert_eq(rv.len, 0);
    cr_assert_eq(hz_query_next_raw(&it, &rk, &rv), 0);
}

Test(query, hostile_pairs_are_errors_and_skippable)
{
    hz_query_iter it;
    const char *q = "a=%G1&b=%00&c=%4&d=ok";
    hz_query_iter_init(&it, q, strlen(q), 0);
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), HZ_EINVAL);
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), HZ_EINVAL);
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), HZ_EINVAL);
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), 1);
    cr_assert_str_eq(k, "d");
    cr_assert_str_eq(v, "ok");
    /* the iterator's flags apply: NUL allowed, UTF-8 required */
    hz_query_iter_init(&it, S("a=%00&b=%C0%AE"), HZ_URL_ALLOW_NUL | HZ_URL_UTF8);
    cr_assert_eq(hz_query_next(&it, k, sizeof k, &kl, v, sizeof v, &vl), 1);
    cr_assert_eq(vl, 1);
    cr_assert_eq(v[0], '\0');
    cr_assert_eq(hz_query_next(&it, k, sizeof k, &kl, v, sizeof v, &vl), HZ_EINVAL);
}

Test(query, buffer_limits)
{
    hz_query_iter it;
    char sk[4], sv[4];
    hz_query_iter_init(&it, S("abc=xyz&abcd=1&a=wxyz"), 0);
    cr_assert_eq(hz_query_next(&it, sk, sizeof sk, NULL, sv, sizeof sv, NULL), 1);
    cr_assert_str_eq(sk, "abc");
    cr_assert_str_eq(sv, "xyz");
    cr_assert_eq(hz_query_next(&it, sk, sizeof sk, NULL, sv, sizeof sv, NULL), HZ_ERANGE);
    cr_assert_eq(hz_query_next(&it, sk, sizeof sk, NULL, sv, sizeof sv, NULL), HZ_ERANGE);
    cr_assert_eq(hz_query_next(&it, sk, sizeof sk, NULL, sv, sizeof sv, NULL), 0);
}

Test(query, pair_count_limit)
{
    char q[4096];
    size_t len = 0;
    for (int i = 0; i < HZ_QUERY_MAX_PAIRS + 1; i++)
        len += (size_t)snprintf(q + len, sizeof q - len, "%sk%d=%d", i ? "&" : "", i, i);
    hz_query_iter it;
    hz_query_iter_init(&it, q, len, 0);
    int n = 0, rc;
    while ((rc = hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL)) == 1)
        n++;
    cr_assert_eq(n, HZ_QUERY_MAX_PAIRS);
    cr_assert_eq(rc, HZ_EBUSY);
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), 0);
    /* a lower limit set after init */
    hz_query_iter_init(&it, q, len, 0);
    it.max_pairs = 2;
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), 1);
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), 1);
    cr_assert_eq(hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL), HZ_EBUSY);
    /* hz_query_get gives up at the limit too */
    char dst[16];
    cr_assert_eq(hz_query_get(q, len, "k10", dst, sizeof dst), 2);
    cr_assert_str_eq(dst, "10");
    char name[16];
    snprintf(name, sizeof name, "k%d", HZ_QUERY_MAX_PAIRS);
    cr_assert_eq(hz_query_get(q, len, name, dst, sizeof dst), HZ_EBUSY);
    cr_assert_eq(hz_query_get(q, len, "zz", dst, sizeof dst), HZ_EBUSY);
}

Test(query, get)
{
    char dst[32];
    const char *q = "a=1&b=x%20y&b=second&c+d=plus&e%3D=eq&f";
    size_t len = strlen(q);
    cr_assert_eq(hz_query_get(q, len, "a", dst, sizeof dst), 1);
    cr_assert_str_eq(dst, "1");
    cr_assert_eq(hz_query_get(q, len, "b", dst, sizeof dst), 3); /* the first one */
    cr_assert_str_eq(dst, "x y");
    cr_assert_eq(hz_query_get(q, len, "c+d", dst, sizeof dst), 4);
    cr_assert_eq(hz_query_get(q, len, "c d", dst, sizeof dst), HZ_ENOENT);
    cr_assert_eq(hz_query_get(q, len, "e=", dst, sizeof dst), 2); /* decoded key */
    cr_assert_eq(hz_query_get(q, len, "f", dst, sizeof dst), 0);
    cr_assert_str_eq(dst, "");
    cr_assert_eq(hz_query_get(q, len, "", dst, sizeof dst), HZ_ENOENT);
    cr_assert_eq(hz_query_get(q, len, "zz", dst, sizeof dst), HZ_ENOENT);
    cr_assert_eq(hz_query_get(q, len, "aa", dst, sizeof dst), HZ_ENOENT);
    cr_assert_eq(hz_query_get(q, len, "b", dst, 3), HZ_ERANGE);
    cr_assert_eq(hz_query_get(q, len, NULL, dst, sizeof dst), HZ_EINVAL);
    /* a malformed key before the match, or a malformed value, is an error */
    cr_assert_eq(hz_query_get(S("%zz=1&a=2"), "a", dst, sizeof dst), HZ_EINVAL);
    cr_assert_eq(hz_query_get(S("a=%zz"), "a", dst, sizeof dst), HZ_EINVAL);
    cr_assert_eq(hz_query_get(S("a=%00"), "a", dst, sizeof dst), HZ_EINVAL);
    cr_assert_eq(hz_query_get(S("a%00=1"), "a", dst, sizeof dst), HZ_EINVAL);
}

Test(form, get_and_iterate)
{
    char dst[32];
    const char *body = "name=Jane+Doe&msg=hi%21+there&empty=&x=a%2Bb";
    size_t len = strlen(body);
    cr_assert_eq(hz_form_get(body, len, "name", dst, sizeof dst), 8);
    cr_assert_str_eq(dst, "Jane Doe");
    cr_assert_eq(hz_form_get(body, len, "msg", dst, sizeof dst), 9);
    cr_assert_str_eq(dst, "hi! there");
    cr_assert_eq(hz_form_get(body, len, "empty", dst, sizeof dst), 0);
    cr_assert_eq(hz_form_get(body, len, "x", dst, sizeof dst), 3);
    cr_assert_str_eq(dst, "a+b");
    cr_assert_eq(hz_form_get(S("first+name=A"), "first name", dst, sizeof dst), 1);
    cr_assert_eq(hz_form_get(body, len, "missing", dst, sizeof dst), HZ_ENOENT);

    hz_query_iter it;
    hz_form_iter_init(&it, body, len);
    cr_assert_eq(it.max_pairs, HZ_QUERY_MAX_PAIRS);
    int n = 0;
    while (hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL) == 1)
        n++;
    cr_assert_eq(n, 4);
}

Test(form, field_count_limit)
{
    /* a body of many tiny fields is cut off at the bound */
    static char body[8192];
    size_t len = 0;
    for (int i = 0; i < 1000; i++)
        len += (size_t)snprintf(body + len, sizeof body - len, "a=1&");
    hz_query_iter it;
    hz_form_iter_init(&it, body, len);
    it.max_pairs = 100;
    int n = 0, rc;
    while ((rc = hz_query_next(&it, k, sizeof k, NULL, v, sizeof v, NULL)) == 1)
        n++;
    cr_assert_eq(rc, HZ_EBUSY);
    cr_assert_eq(n, 100);
}
