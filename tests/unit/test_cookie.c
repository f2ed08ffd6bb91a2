/* test_cookie.c - the Cookie header iterator and hz_cookie_get. */
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/httpz.h>

static int eq(hz_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

Test(cookie, iterates_pairs)
{
    const char *h = "a=b; sid=\"q1w2\"; empty=; theme=dark";
    hz_cookie_iter it;
    hz_cookie_iter_init(&it, h, strlen(h));
    hz_str n, v;
    static const char *want[][2] = {{"a", "b"}, {"sid", "q1w2"}, {"empty", ""}, {"theme", "dark"}};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(hz_cookie_next(&it, &n, &v), 1, "pair %zu", i);
        cr_assert(eq(n, want[i][0]), "name %zu", i);
        cr_assert(eq(v, want[i][1]), "value %zu", i);
    }
    cr_assert_eq(hz_cookie_next(&it, &n, &v), 0);
    cr_assert_eq(hz_cookie_next(&it, &n, &v), 0);
}

Test(cookie, tolerates_whitespace_and_empty_pieces)
{
    const char *h = "  a = 1 ;;b=2;\tc=\"\" ; ";
    hz_cookie_iter it;
    hz_cookie_iter_init(&it, h, strlen(h));
    hz_str n, v;
    cr_assert_eq(hz_cookie_next(&it, &n, &v), 1);
    cr_assert(eq(n, "a") && eq(v, "1"));
    cr_assert_eq(hz_cookie_next(&it, &n, &v), 1);
    cr_assert(eq(n, "b") && eq(v, "2"));
    cr_assert_eq(hz_cookie_next(&it, &n, &v), 1);
    cr_assert(eq(n, "c") && eq(v, ""));
    cr_assert_eq(hz_cookie_next(&it, &n, &v), 0);
    hz_cookie_iter_init(&it, "", 0);
    cr_assert_eq(hz_cookie_next(&it, &n, &v), 0);
    hz_cookie_iter_init(&it, NULL, 0);
    cr_assert_eq(hz_cookie_next(&it, &n, &v), 0);
}

Test(cookie, malformed_pairs_are_reported_and_skippable)
{
    static const char *bad[] = {
        "novalue", "=v",     "a b=c",  "a=b c", "a=\"unterminated", "a=\"",      "a=x\"y", "a=\\x",
        "a=x,y",   "a=\x01", "a=\x80", "n(=v",  "a=\"in\"side\"",   "a=\"b c\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char h[64];
        int len = snprintf(h, sizeof h, "%s; ok=1", bad[i]);
        hz_cookie_iter it;
        hz_cookie_iter_init(&it, h, (size_t)len);
        hz_str n, v;
        cr_assert_eq(hz_cookie_next(&it, &n, &v), HZ_EINVAL, "%s", bad[i]);
        cr_assert_eq(hz_cookie_next(&it, &n, &v), 1, "%s", bad[i]);
        cr_assert(eq(n, "ok") && eq(v, "1"));
    }
}

Test(cookie, get)
{
    char dst[16];
    const char *h = "bad cookie; theme=dark; sid=\"abc\"; theme=light";
    size_t len = strlen(h);
    cr_assert_eq(hz_cookie_get(h, len, "theme", dst, sizeof dst), 4);
    cr_assert_str_eq(dst, "dark");
    cr_assert_eq(hz_cookie_get(h, len, "sid", dst, sizeof dst), 3);
    cr_assert_str_eq(dst, "abc");
    cr_assert_eq(hz_cookie_get(h, len, "Theme", dst, sizeof dst), HZ_ENOENT); /* case matters */
    cr_assert_eq(hz_cookie_get(h, len, "the", dst, sizeof dst), HZ_ENOENT);
    cr_assert_eq(hz_cookie_get(h, len, "bad", dst, sizeof dst), HZ_ENOENT);
    cr_assert_eq(hz_cookie_get(h, len, "theme", dst, 4), HZ_ERANGE);
    cr_assert_eq(hz_cookie_get(h, len, "theme", dst, 5), 4);
    cr_assert_eq(hz_cookie_get(h, len, NULL, dst, sizeof dst), HZ_EINVAL);
    /* a name spelled inside another cookie's value is not a cookie */
    cr_assert_eq(hz_cookie_get("x=a=b", 5, "a", dst, sizeof dst), HZ_ENOENT);
    cr_assert_eq(hz_cookie_get("x=a=b", 5, "x", dst, sizeof dst), 3);
    cr_assert_str_eq(dst, "a=b");
}

Test(cookie, pair_limit)
{
    char h[4096];
    size_t len = 0;
    for (int i = 0; i <= HZ_COOKIE_MAX_PAIRS; i++)
        len += (size_t)snprintf(h + len, sizeof h - len, "%sc%d=%d", i ? "; " : "", i, i);
    hz_cookie_iter it;
    hz_cookie_iter_init(&it, h, len);
    hz_str n, v;
    int count = 0, rc;
    while ((rc = hz_cookie_next(&it, &n, &v)) == 1)
        count++;
    cr_assert_eq(count, HZ_COOKIE_MAX_PAIRS);
    cr_assert_eq(rc, HZ_EBUSY);
    cr_assert_eq(hz_cookie_next(&it, &n, &v), 0);
    char dst[16], name[16];
    cr_assert_eq(hz_cookie_get(h, len, "c5", dst, sizeof dst), 1);
    snprintf(name, sizeof name, "c%d", HZ_COOKIE_MAX_PAIRS);
    cr_assert_eq(hz_cookie_get(h, len, name, dst, sizeof dst), HZ_EBUSY);
    /* malformed pairs count toward the bound too */
    hz_cookie_iter_init(&it, "x; y; z; a=1", 12);
    it.max_pairs = 3;
    cr_assert_eq(hz_cookie_next(&it, &n, &v), HZ_EINVAL);
    cr_assert_eq(hz_cookie_next(&it, &n, &v), HZ_EINVAL);
    cr_assert_eq(hz_cookie_next(&it, &n, &v), HZ_EINVAL);
    cr_assert_eq(hz_cookie_next(&it, &n, &v), HZ_EBUSY);
}
