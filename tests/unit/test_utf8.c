/* test_utf8.c - the incremental UTF-8 validator (core/common/utf8.c),
 * exhaustively against a reference decoder written from RFC 3629 the slow
 * way (decode the code point, then check range, surrogates, shortest form):
 * every 1-, 2- and 3-byte string, every 4-byte string over a set of
 * interesting trailing bytes, every code point in its shortest and in every
 * overlong form. The offset of the first bad byte is checked against the
 * definition (the shortest prefix that no valid text starts with), and
 * every input is also fed split at every byte boundary. */
#include <criterion/criterion.h>
#include <string.h>
#include "utf8.h"

/* Complete and valid? Decodes each sequence's value. */
static int ref_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* Can s[0..m) be continued into valid text? Only the last, unfinished
 * sequence matters; its validity is fixed by its first two bytes, so
 * filling the rest with 80 or with BF decides it. */
static int ref_prefix_ok(const uint8_t *s, size_t m)
{
    if (ref_valid(s, m))
        return 1;
    uint8_t t[64];
    memcpy(t, s, m);
    /* a lone lead byte at the end: its second byte is what varies */
    int vary = (s[m - 1] & 0xc0) == 0xc0;
    for (unsigned extra = 1; extra <= 3; extra++) {
        for (unsigned second = 0x80; second <= 0xbf; second++) {
            for (int fill = 0; fill < 2; fill++) {
                for (unsigned k = 0; k < extra; k++)
                    t[m + k] = fill ? 0xbf : 0x80;
                if (vary)
                    t[m] = (uint8_t)second;
                if (ref_valid(t, m + extra))
                    return 1;
            }
            if (!vary)
                break;
        }
    }
    return 0;
}

static size_t ref_first_bad(const uint8_t *s, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!ref_prefix_ok(s, k + 1))
            return k;
    return n;
}

/* The validator's answer for s, fed whole: offset of the first bad byte
 * (n if none) and, when none, whether it ends complete. */
static size_t feed_whole(const uint8_t *s, size_t n, int *complete)
{
    hz__utf8 u;
    hz__utf8_init(&u);
    size_t r = hz__utf8_feed(&u, s, n);
    *complete = r == n && hz__utf8_complete(&u);
    return r;
}

/* The same answer when fed in two pieces cut at `cut`. */
static size_t feed_split(const uint8_t *s, size_t n, size_t cut, int *complete)
{
    hz__utf8 u = {0}; /* zero-initialised state is valid too */
    size_t r = hz__utf8_feed(&u, s, cut);
    if (r == cut)
        r = cut + hz__utf8_feed(&u, s + cut, n - cut);
    *complete = r == n && hz__utf8_complete(&u);
    return r;
}

static void check(const uint8_t *s, size_t n, int with_offset)
{
    int complete;
    size_t r = feed_whole(s, n, &complete);
    int valid = ref_valid(s, n);
    cr_assert_eq(complete, valid, "%02x %02x %02x %02x (n=%zu): complete %d, want %d", s[0],
                 n > 1 ? s[1] : 0, n > 2 ? s[2] : 0, n > 3 ? s[3] : 0, n, complete, valid);
    cr_assert_eq(hz__utf8_valid(s, n), valid);
    if (with_offset) {
        size_t want = ref_first_bad(s, n);
        cr_assert_eq(r, want, "%02x %02x %02x %02x (n=%zu): bad at %zu, want %zu", s[0],
                     n > 1 ? s[1] : 0, n > 2 ? s[2] : 0, n > 3 ? s[3] : 0, n, r, want);
    }
    for (size_t cut = 0; cut <= n; cut++) {
        int c2;
        size_t r2 = feed_split(s, n, cut, &c2);
        cr_assert(r2 == r && c2 == complete, "split at %zu differs", cut);
    }
}

Test(utf8, every_one_and_two_byte_string)
{
    uint8_t s[2];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        check(s, 1, 1);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            check(s, 2, 1);
        }
    }
}

Test(utf8, every_three_byte_string)
{
    uint8_t s[3];
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            for (unsigned c = 0; c < 256; c++) {
                s[0] = (uint8_t)a;
                s[1] = (uint8_t)b;
                s[2] = (uint8_t)c;
                int complete;
                feed_whole(s, 3, &complete);
                if (complete != ref_valid(s, 3) || hz__utf8_valid(s, 3) != complete)
                    cr_assert_fail("%02x %02x %02x: complete %d", a, b, c, complete);
            }
    /* offsets and splits: every lead and second byte, a few thirds */
    static const uint8_t third[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90,
                                    0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    for (unsigned a = 0x80; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            for (size_t c = 0; c < sizeof(third); c++) {
                s[0] = (uint8_t)a;
                s[1] = (uint8_t)b;
                s[2] = third[c];
                check(s, 3, 1);
            }
}

Test(utf8, four_byte_strings)
{
    static const uint8_t tail[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0xbf, 0xc0, 0xf4, 0xff};
    uint8_t s[4];
    for (unsigned a = 0xe0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            for (size_t c = 0; c < sizeof(tail); c++)
                for (size_t d = 0; d < sizeof(tail); d++) {
                    s[0] = (uint8_t)a;
                    s[1] = (uint8_t)b;
                    s[2] = tail[c];
                    s[3] = tail[d];
                    check(s, 4, 1);
                }
}

static size_t encode(uint32_t cp, unsigned len, uint8_t *out)
{
    static const uint8_t lead[5] = {0, 0, 0xc0, 0xe0, 0xf0};
    if (len == 1) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    for (unsigned k = len - 1; k > 0; k--) {
        out[k] = (uint8_t)(0x80 | (cp & 0x3f));
        cp >>= 6;
    }
    out[0] = (uint8_t)(lead[len] | cp);
    return len;
}

static unsigned shortest(uint32_t cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

Test(utf8, every_code_point_and_its_overlong_forms)
{
    uint8_t s[4];
    for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
        unsigned len = shortest(cp);
        size_t n = encode(cp, len, s);
        int surrogate = cp >= 0xd800 && cp <= 0xdfff;
        cr_assert_eq(hz__utf8_valid(s, n), !surrogate, "U+%04X", cp);
        if (surrogate) {
            int complete;
            cr_assert_eq(feed_whole(s, n, &complete), 1, "U+%04X fails at its second byte", cp);
        }
        for (unsigned over = len + 1; over <= 4; over++) {
            n = encode(cp, over, s);
            int complete;
            size_t r = feed_whole(s, n, &complete);
            cr_assert(!complete, "overlong U+%04X in %u bytes accepted", cp, over);
            /* C0/C1 leads fail at once; E0 and F0 at the second byte */
            cr_assert_eq(r, s[0] == 0xc0 || s[0] == 0xc1 ? 0u : 1u, "U+%04X/%u: bad at %zu", cp,
                         over, r);
        }
    }
    /* above U+10FFFF: F4 90.. and F5..F7 leads */
    for (uint32_t cp = 0x110000; cp < 0x200000; cp += 0x1001) {
        size_t n = encode(cp, 4, s);
        int complete;
        size_t r = feed_whole(s, n, &complete);
        cr_assert(!complete);
        cr_assert_eq(r, s[0] == 0xf4 ? 1u : 0u);
    }
}

/* The eight-bytes-at-a-time ASCII path: a bad byte (or a valid multibyte
 * character) at every position of a long ASCII run, from every alignment. */
Test(utf8, ascii_runs)
{
    static uint8_t buf[128];
    for (size_t start = 0; start < 8; start++) {
        for (size_t len = 0; len <= 80; len++) {
            uint8_t *s = buf + start;
            memset(s, 'a', len);
            int complete;
            cr_assert_eq(feed_whole(s, len, &complete), len);
            cr_assert(complete);
            for (size_t at = 0; at < len; at++) {
                memset(s, 'a', len);
                s[at] = 0xff;
                cr_assert_eq(feed_whole(s, len, &complete), at, "start %zu len %zu at %zu", start,
                             len, at);
                s[at] = 0x80; /* a stray continuation byte */
                cr_assert_eq(feed_whole(s, len, &complete), at);
                if (at + 2 <= len) {
                    memset(s, 'a', len);
                    s[at] = 0xc3;
                    s[at + 1] = 0xa9; /* é */
                    cr_assert_eq(feed_whole(s, len, &complete), len);
                    cr_assert(complete);
                    s[at + 1] = 'a'; /* é cut short */
                    cr_assert_eq(feed_whole(s, len, &complete), at + 1);
                }
                s[len - 1] = 0xe2; /* a sequence still open at the end */
                if (at < len - 1) {
                    memset(s, 'a', len - 1);
                    cr_assert_eq(feed_whole(s, len, &complete), len);
                    cr_assert(!complete);
                }
            }
        }
    }
}

/* A long mixed text, valid and with one bad byte, split at every boundary
 * into every pair of pieces and into single bytes. */
Test(utf8, mixed_text_splits)
{
    const char *text = "ASCII, caf\xc3\xa9, \xe2\x82\xac 20, \xf0\x9f\x98\x80 and "
                       "\xe4\xb8\xad\xe6\x96\x87 \xf4\x8f\xbf\xbf end........";
    size_t n = strlen(text);
    check((const uint8_t *)text, n, 1);
    uint8_t bad[128];
    for (size_t at = 0; at < n; at++) {
        memcpy(bad, text, n);
        bad[at] = 0xc0;
        check(bad, n, 0);
        int complete;
        size_t r = feed_whole(bad, n, &complete);
        cr_assert_eq(r, ref_first_bad(bad, n));
        hz__utf8 u;
        hz__utf8_init(&u);
        size_t i = 0;
        while (i < n && hz__utf8_feed(&u, bad + i, 1) == 1)
            i++;
        cr_assert_eq(i, r, "byte by byte: %zu, whole: %zu", i, r);
    }
}
