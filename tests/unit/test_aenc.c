/* test_aenc.c - Accept-Encoding parsing and the coding choice
 * (core/proto/aenc.c, RFC 9110 §12.5.3): q-values (every valid and invalid
 * form), identity and "*" rules, br before gzip at equal q, x-gzip, case,
 * whitespace, parameters, quoted strings, several fields, duplicates, an
 * empty value and what the server offers. */
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/httpz.h>
#include "aenc.h"

#define BOTH (HZ_CODING_GZIP | HZ_CODING_BR)

/* The pick for one field value. */
static int pick(const char *v, unsigned offered)
{
    hz__aenc a;
    hz__aenc_init(&a);
    hz__aenc_parse(&a, v, strlen(v));
    return hz__aenc_pick(&a, offered);
}

Test(aenc, common_browser_values)
{
    cr_assert_eq(pick("gzip, deflate, br", BOTH), HZ_CODING_BR);
    cr_assert_eq(pick("gzip, deflate, br, zstd", BOTH), HZ_CODING_BR);
    cr_assert_eq(pick("gzip, deflate", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick("deflate", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("br;q=1.0, gzip;q=0.8, *;q=0.1", BOTH), HZ_CODING_BR);
}

Test(aenc, offered_limits_choice)
{
    cr_assert_eq(pick("gzip, br", HZ_CODING_GZIP), HZ_CODING_GZIP);
    cr_assert_eq(pick("gzip, br", HZ_CODING_BR), HZ_CODING_BR);
    cr_assert_eq(pick("gzip, br", 0), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("br", HZ_CODING_GZIP), HZ_CODING_IDENTITY);
}

Test(aenc, q_values_order)
{
    cr_assert_eq(pick("gzip;q=0.9, br;q=0.8", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick("gzip;q=0.8, br;q=0.8", BOTH), HZ_CODING_BR, "tie: br");
    cr_assert_eq(pick("gzip;q=1, br;q=0.999", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick("br;q=0.001", BOTH), HZ_CODING_BR);
    cr_assert_eq(pick("br;q=0, gzip", BOTH), HZ_CODING_GZIP, "q=0: not acceptable");
    cr_assert_eq(pick("br;q=0, gzip;q=0", BOTH), HZ_CODING_IDENTITY);
}

Test(aenc, q_value_syntax)
{
    /* valid forms */
    cr_assert_eq(pick("gzip;q=1.000", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick("gzip;q=1.", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick("gzip;q=0.", BOTH), HZ_CODING_IDENTITY, "0. is zero");
    cr_assert_eq(pick("gzip;Q=0.5", BOTH), HZ_CODING_GZIP, "Q case-insensitive");
    cr_assert_eq(pick("gzip ; q = 0.5 ", BOTH), HZ_CODING_GZIP, "OWS around ; and =");
    /* invalid: the element is skipped */
    cr_assert_eq(pick("gzip;q=1.001", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("gzip;q=2", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("gzip;q=0.1234", BOTH), HZ_CODING_IDENTITY, "4 decimals");
    cr_assert_eq(pick("gzip;q=.5", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("gzip;q=-0", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("gzip;q=", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("gzip;q", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("gzip;q=0.5x", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("gzip;q=1e0", BOTH), HZ_CODING_IDENTITY);
    /* one bad element does not spoil the others */
    cr_assert_eq(pick("br;q=9, gzip", BOTH), HZ_CODING_GZIP);
}

Test(aenc, other_parameters_and_quotes)
{
    cr_assert_eq(pick("gzip;level=9", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick("gzip;a=\"x,y;q=0\";q=0.5, br;q=0.4", BOTH), HZ_CODING_GZIP,
                 "a comma inside a quoted string does not split");
    cr_assert_eq(pick("gzip;a=\"unterminated", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("gzip;a=\"esc\\\"aped\";q=1", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick("gzip;=1", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("gzip;;q=1", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("gzip q=1", BOTH), HZ_CODING_IDENTITY, "no ; before the parameter");
}

Test(aenc, names)
{
    cr_assert_eq(pick("GZIP", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick("Br", BOTH), HZ_CODING_BR);
    cr_assert_eq(pick("x-gzip", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick("gzipx, brotli, b", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("\"gzip\"", BOTH), HZ_CODING_IDENTITY);
}

Test(aenc, star)
{
    cr_assert_eq(pick("*", BOTH), HZ_CODING_BR);
    cr_assert_eq(pick("*", HZ_CODING_GZIP), HZ_CODING_GZIP);
    cr_assert_eq(pick("*;q=0.5, gzip", BOTH), HZ_CODING_GZIP, "named beats *");
    cr_assert_eq(pick("*;q=0.5, gzip;q=0.4", BOTH), HZ_CODING_BR, "* gives br 0.5");
    cr_assert_eq(pick("*, br;q=0", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick("*;q=0", BOTH), -1, "nothing, not even identity");
    cr_assert_eq(pick("*;q=0, identity", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("*;q=0, gzip", BOTH), HZ_CODING_GZIP);
}

Test(aenc, identity_rules)
{
    cr_assert_eq(pick("identity", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("gzip, identity", BOTH), HZ_CODING_GZIP, "equal q: the coding");
    cr_assert_eq(pick("gzip;q=0.5, identity", BOTH), HZ_CODING_IDENTITY, "identity higher");
    cr_assert_eq(pick("gzip;q=0.5, identity;q=0.5", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick("identity;q=0", BOTH), -1);
    cr_assert_eq(pick("identity;q=0, gzip", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick("identity;q=0, gzip", 0), -1, "nothing offered is acceptable");
    cr_assert_eq(pick("deflate, identity;q=0", BOTH), -1);
}

Test(aenc, empty_and_odd_lists)
{
    cr_assert_eq(pick("", BOTH), HZ_CODING_IDENTITY, "empty: identity only");
    cr_assert_eq(pick(" ", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick(",,, gzip ,,", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick("\tgzip\t", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick(";q=1", BOTH), HZ_CODING_IDENTITY);
}

Test(aenc, duplicates_keep_first)
{
    cr_assert_eq(pick("gzip;q=0, gzip", BOTH), HZ_CODING_IDENTITY);
    cr_assert_eq(pick("gzip, gzip;q=0", BOTH), HZ_CODING_GZIP);
    cr_assert_eq(pick("gzip, x-gzip;q=0", BOTH), HZ_CODING_GZIP);
}

Test(aenc, several_fields_form_one_list)
{
    hz__aenc a;
    hz__aenc_init(&a);
    hz__aenc_parse(&a, "gzip;q=0.5", 10);
    hz__aenc_parse(&a, "br;q=0.6", 8);
    cr_assert_eq(hz__aenc_pick(&a, BOTH), HZ_CODING_BR);
    hz__aenc_init(&a);
    hz__aenc_parse(&a, "identity;q=0", 12);
    hz__aenc_parse(&a, "", 0);
    cr_assert_eq(hz__aenc_pick(&a, BOTH), -1);
}

Test(aenc, length_bounds_respected)
{
    /* the parser reads only len bytes: "gzip" cut to "gz" names nothing */
    hz__aenc a;
    hz__aenc_init(&a);
    hz__aenc_parse(&a, "gzip", 2);
    cr_assert_eq(hz__aenc_pick(&a, BOTH), HZ_CODING_IDENTITY);
    hz__aenc_init(&a);
    hz__aenc_parse(&a, "gzip;q=0.5", 8); /* "gzip;q=0" */
    cr_assert_eq(hz__aenc_pick(&a, BOTH), HZ_CODING_IDENTITY);
}
