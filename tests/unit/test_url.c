/* test_url.c - percent-decoding, UTF-8 validation, path normalisation. */
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/httpz.h>

static char out[256];

static long dec(const char *s, unsigned flags)
{
    return hz_url_decode(out, sizeof out, s, strlen(s), flags);
}

static long norm(const char *s, unsigned flags)
{
    return hz_path_normalize(out, sizeof out, s, strlen(s), flags);
}

Test(url_decode, plain_and_escapes)
{
    cr_assert_eq(dec("", 0), 0);
    cr_assert_str_eq(out, "");
    cr_assert_eq(dec("abc", 0), 3);
    cr_assert_str_eq(out, "abc");
    cr_assert_eq(dec("a%20b%2fc%2Fd", 0), 7);
    cr_assert_str_eq(out, "a b/c/d");
    cr_assert_eq(dec("%41%42%43", 0), 3);
    cr_assert_str_eq(out, "ABC");
    cr_assert_eq(dec("%e2%82%AC", 0), 3); /* mixed-case hex */
    cr_assert_str_eq(out, "\xe2\x82\xac");
    cr_assert_eq(dec("%25", 0), 1); /* "%25" is a literal '%', not re-decoded */
    cr_assert_str_eq(out, "%");
    cr_assert_eq(dec("%2541", 0), 3);
    cr_assert_str_eq(out, "%41");
}

Test(url_decode, invalid_sequences)
{
    cr_assert_eq(dec("%G1", 0), HZ_EINVAL);
    cr_assert_eq(dec("%1G", 0), HZ_EINVAL);
    cr_assert_eq(dec("%4", 0), HZ_EINVAL);
    cr_assert_eq(dec("abc%", 0), HZ_EINVAL);
    cr_assert_eq(dec("%", 0), HZ_EINVAL);
    cr_assert_eq(dec("%%41", 0), HZ_EINVAL);
    cr_assert_eq(dec("% 1", 0), HZ_EINVAL);
    cr_assert_eq(dec("%-1", 0), HZ_EINVAL);
    cr_assert_eq(dec("%x1", 0), HZ_EINVAL);
}

Test(url_decode, nul_policy)
{
    cr_assert_eq(dec("a%00b", 0), HZ_EINVAL);
    cr_assert_eq(hz_url_decode(out, sizeof out, "a\0b", 3, 0), HZ_EINVAL); /* raw NUL */
    cr_assert_eq(dec("a%00b", HZ_URL_ALLOW_NUL), 3);
    cr_assert_eq(memcmp(out, "a\0b", 4), 0);
    cr_assert_eq(hz_url_decode(out, sizeof out, "a\0b", 3, HZ_URL_ALLOW_NUL), 3);
}

Test(url_decode, plus_flag)
{
    cr_assert_eq(dec("a+b%2B", 0), 4);
    cr_assert_str_eq(out, "a+b+");
    cr_assert_eq(dec("a+b%2B", HZ_URL_PLUS_SPACE), 4);
    cr_assert_str_eq(out, "a b+"); /* an encoded '+' stays a '+' */
}

Test(url_decode, reject_slash_flag)
{
    cr_assert_eq(dec("a%2Fb", HZ_URL_REJECT_SLASH), HZ_EINVAL);
    cr_assert_eq(dec("a%2fb", HZ_URL_REJECT_SLASH), HZ_EINVAL);
    cr_assert_eq(dec("a/b", HZ_URL_REJECT_SLASH), 3); /* a raw '/' is fine */
    cr_assert_eq(dec("a%2Fb", 0), 3);
}

Test(url_decode, utf8_flag)
{
    cr_assert_eq(dec("%C3%A9t%C3%A9", HZ_URL_UTF8), 5);
    cr_assert_str_eq(out, "\xc3\xa9t\xc3\xa9");
    cr_assert_eq(dec("%F0%9F%98%80", HZ_URL_UTF8), 4);
    /* overlong encodings of '.' and '/' */
    cr_assert_eq(dec("%C0%AE", HZ_URL_UTF8), HZ_EINVAL);
    cr_assert_eq(dec("%C0%AF", HZ_URL_UTF8), HZ_EINVAL);
    cr_assert_eq(dec("%E0%80%AE", HZ_URL_UTF8), HZ_EINVAL);
    cr_assert_eq(dec("%F0%80%80%AE", HZ_URL_UTF8), HZ_EINVAL);
    cr_assert_eq(dec("%C1%BF", HZ_URL_UTF8), HZ_EINVAL);
    /* surrogates, above U+10FFFF, stray and truncated sequences */
    cr_assert_eq(dec("%ED%A0%80", HZ_URL_UTF8), HZ_EINVAL);
    cr_assert_eq(dec("%F4%90%80%80", HZ_URL_UTF8), HZ_EINVAL);
    cr_assert_eq(dec("%F5%80%80%80", HZ_URL_UTF8), HZ_EINVAL);
    cr_assert_eq(dec("%80", HZ_URL_UTF8), HZ_EINVAL);
    cr_assert_eq(dec("%C3", HZ_URL_UTF8), HZ_EINVAL);
    cr_assert_eq(dec("%E2%82", HZ_URL_UTF8), HZ_EINVAL);
    cr_assert_eq(dec("%E2%28%A1", HZ_URL_UTF8), HZ_EINVAL);
    cr_assert_eq(dec("\xc0\xae", HZ_URL_UTF8), HZ_EINVAL); /* raw bytes too */
    /* without the flag the bytes pass */
    cr_assert_eq(dec("%C0%AE", 0), 2);
}

Test(url_decode, utf8_edges)
{
    cr_assert(hz_utf8_valid("\x7f", 1));
    cr_assert(hz_utf8_valid("\xc2\x80", 2));
    cr_assert(hz_utf8_valid("\xdf\xbf", 2));
    cr_assert(hz_utf8_valid("\xe0\xa0\x80", 3));
    cr_assert(hz_utf8_valid("\xed\x9f\xbf", 3)); /* U+D7FF */
    cr_assert(hz_utf8_valid("\xee\x80\x80", 3)); /* U+E000 */
    cr_assert(hz_utf8_valid("\xf4\x8f\xbf\xbf", 4));
    cr_assert_not(hz_utf8_valid("\xe0\x9f\xbf", 3));
    cr_assert_not(hz_utf8_valid("\xf0\x8f\xbf\xbf", 4));
    cr_assert_not(hz_utf8_valid("\xc2\x7f", 2));
    cr_assert_not(hz_utf8_valid("\xe2\x82\xc0", 3));
    cr_assert_not(hz_utf8_valid("\xff", 1));
    cr_assert(hz_utf8_valid("", 0));
}

Test(url_decode, buffer_limits)
{
    char small[4];
    cr_assert_eq(hz_url_decode(small, sizeof small, "abc", 3, 0), 3);
    cr_assert_str_eq(small, "abc");
    cr_assert_eq(hz_url_decode(small, sizeof small, "abcd", 4, 0), HZ_ERANGE);
    cr_assert_eq(hz_url_decode(small, sizeof small, "%41%42%43", 9, 0), 3);
    cr_assert_eq(hz_url_decode(small, sizeof small, "%41%42%43%44", 12, 0), HZ_ERANGE);
    cr_assert_eq(hz_url_decode(small, 0, "", 0, 0), HZ_ERANGE); /* no room for the NUL */
    cr_assert_eq(hz_url_decode(small, 1, "", 0, 0), 0);
    cr_assert_eq(hz_url_decode(NULL, 0, "a", 1, 0), HZ_ERANGE);
    cr_assert_eq(hz_url_decode(NULL, 4, "a", 1, 0), HZ_EINVAL);
}

Test(url_decode, in_place)
{
    char buf[] = "%2Fa%20b+c";
    cr_assert_eq(hz_url_decode(buf, sizeof buf, buf, strlen(buf), HZ_URL_PLUS_SPACE), 6);
    cr_assert_str_eq(buf, "/a b c");
}

Test(path_normalize, plain_paths)
{
    cr_assert_eq(norm("/", 0), 1);
    cr_assert_str_eq(out, "/");
    cr_assert_eq(norm("/a/b/c", 0), 6);
    cr_assert_str_eq(out, "/a/b/c");
    cr_assert_eq(norm("/a/b/", 0), 5);
    cr_assert_str_eq(out, "/a/b/");
    cr_assert_eq(norm("/a%20b/%C3%A9", 0), 7);
    cr_assert_str_eq(out, "/a b/\xc3\xa9");
}

Test(path_normalize, dot_segments_rfc3986)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"/a/./b", "/a/b"},
        {"/a/b/../c", "/a/c"},
        {"/a/b/..", "/a/"},
        {"/a/b/.", "/a/b/"},
        {"/a/b/./", "/a/b/"},
        {"/./", "/"},
        {"/.", "/"},
        {"/a/..", "/"},
        {"/a/../", "/"},
        {"/a/b/c/./../../g", "/a/g"}, /* RFC 3986 §5.2.4 example */
        {"/mid/content=5/../6", "/mid/6"},
        {"/a/.../b", "/a/.../b"}, /* "..." is a name */
        {"/a/..b/c", "/a/..b/c"},
        {"/a/b..", "/a/b.."},
        {"/.hidden", "/.hidden"},
        {"//a///b//", "/a/b/"},
        {"//", "/"},
        {"/a//../b", "/b"},
        {"/%2e/a", "/a"},
        {"/a/%2E%2e/b", "/b"},
        {"/a/.%2e", "/"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        long n = norm(cases[i].in, 0);
        cr_assert_geq(n, 0, "%s -> %ld", cases[i].in, n);
        cr_assert_str_eq(out, cases[i].out, "%s", cases[i].in);
        cr_assert_eq((size_t)n, strlen(cases[i].out));
    }
}

Test(path_normalize, never_above_root)
{
    static const char *bad[] = {
        "/..",     "/../",     "/../etc/passwd",     "/a/../..", "/a/../../b",
        "/%2e%2e", "/%2e%2e/", "/%2E%2E/etc/passwd", "/.%2e/x",  "/a/b/../../../c",
        "//../x",  "/./../x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(norm(bad[i], 0), HZ_EINVAL, "%s", bad[i]);
}

Test(path_normalize, hostile_encodings)
{
    cr_assert_eq(norm("/a%2Fb", 0), HZ_EINVAL);             /* encoded separator */
    cr_assert_eq(norm("/..%2Fetc%2Fpasswd", 0), HZ_EINVAL); /* ... even to smuggle ".." */
    cr_assert_eq(norm("/a%00.txt", 0), HZ_EINVAL);
    cr_assert_eq(norm("/%C0%AE%C0%AE/x", 0), HZ_EINVAL); /* overlong dots */
    cr_assert_eq(norm("/%E0%80%AE", 0), HZ_EINVAL);
    cr_assert_eq(norm("/%ff", 0), HZ_EINVAL);
    cr_assert_eq(norm("/%zz", 0), HZ_EINVAL);
    cr_assert_eq(norm("/a%", 0), HZ_EINVAL);
    cr_assert_eq(norm("", 0), HZ_EINVAL);
    cr_assert_eq(norm("a/b", 0), HZ_EINVAL);
    cr_assert_eq(norm("*", 0), HZ_EINVAL);
    cr_assert_eq(norm("%2Fa", 0), HZ_EINVAL);
    cr_assert_eq(hz_path_normalize(out, sizeof out, NULL, 0, 0), HZ_EINVAL);
}

Test(path_normalize, flags)
{
    cr_assert_eq(norm("/a%2Fb", HZ_PATH_ALLOW_SLASH), 4);
    cr_assert_str_eq(out, "/a/b");
    /* with encoded slashes allowed they are separators, and still cannot
     * climb above the root */
    cr_assert_eq(norm("/a/..%2F..%2Fetc", HZ_PATH_ALLOW_SLASH), HZ_EINVAL);
    cr_assert_eq(norm("/%ff", HZ_PATH_ANY_BYTES), 2);
    cr_assert_eq((unsigned char)out[1], 0xff);
    cr_assert_eq(norm("/a%00", HZ_PATH_ANY_BYTES | HZ_PATH_ALLOW_SLASH), HZ_EINVAL);
}

Test(path_normalize, buffer_limits_and_in_place)
{
    char small[5];
    cr_assert_eq(hz_path_normalize(small, sizeof small, "/abc", 4, 0), 4);
    cr_assert_eq(hz_path_normalize(small, sizeof small, "/abcd", 5, 0), HZ_ERANGE);
    /* the decoded input must fit even when the result is shorter */
    cr_assert_eq(hz_path_normalize(small, sizeof small, "/a/../b", 7, 0), HZ_ERANGE);
    char buf[] = "/x/%2e%2e/y//z/.";
    long n = hz_path_normalize(buf, sizeof buf, buf, strlen(buf), 0);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(buf, "/y/z/");
}
