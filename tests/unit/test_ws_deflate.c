/* test_ws_deflate.c - permessage-deflate (core/proto/ws_deflate.c):
 * negotiation (offers, answers, declines, every parameter rule, and that
 * what the server answers the client accepts with the same result), the
 * RFC 7692 §7.2.3 payload examples, round trips with and without context
 * takeover at every window size through tiny input pieces and output
 * buffers, window sizes enforced, the inflated-size limit (compression
 * bombs), corrupt and truncated streams, the per-message opt-out, and
 * allocation failures at every step. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "test_alloc.h"
#include "ws_deflate.h"
#include "utf8.h"

/* ------------------------------------------------------------------------ */
/* Negotiation                                                               */
/* ------------------------------------------------------------------------ */

static hz__pmd_cfg defaults(void)
{
    hz__pmd_cfg c;
    hz__pmd_cfg_init(&c);
    return c;
}

/* Negotiates `offer` under cfg; returns the result, the answer in resp. */
static int nego(const char *offer, const hz__pmd_cfg *cfg, hz__pmd_params *a, char *resp)
{
    return hz__pmd_negotiate(offer, strlen(offer), cfg, a, resp, HZ__PMD_RESPONSE_MAX);
}

Test(pmd_negotiate, browsers_and_rfc_examples)
{
    hz__pmd_cfg cfg = defaults();
    hz__pmd_params a;
    char resp[HZ__PMD_RESPONSE_MAX];
    /* Chrome, Firefox */
    cr_assert_eq(nego("permessage-deflate; client_max_window_bits", &cfg, &a, resp), 1);
    cr_assert_str_eq(resp, "permessage-deflate");
    cr_assert(a.server_max_window_bits == 15 && a.client_max_window_bits == 15);
    cr_assert(!a.server_no_context_takeover && !a.client_no_context_takeover);
    cr_assert_eq(nego("permessage-deflate", &cfg, &a, resp), 1);
    cr_assert_str_eq(resp, "permessage-deflate");
    /* RFC 7692 §7.1.3: a small server window, with a fallback offer */
    const char *two = "permessage-deflate; client_max_window_bits; server_max_window_bits=10, "
                      "permessage-deflate; client_max_window_bits";
    cr_assert_eq(nego(two, &cfg, &a, resp), 1);
    cr_assert_str_eq(resp, "permessage-deflate; server_max_window_bits=10");
    cr_assert_eq(a.server_max_window_bits, 10);
    /* server_max_window_bits=8: declined (zlib), the fallback taken */
    const char *eight = "permessage-deflate; server_max_window_bits=8, permessage-deflate";
    cr_assert_eq(nego(eight, &cfg, &a, resp), 1);
    cr_assert_str_eq(resp, "permessage-deflate");
    cr_assert_eq(a.server_max_window_bits, 15);
    cr_assert_eq(nego("permessage-deflate; server_max_window_bits=8", &cfg, &a, resp), 0);
    cr_assert_str_eq(resp, "");
    /* other extensions are passed over; names ignore case */
    cr_assert_eq(nego("x-webkit-deflate-frame, foo; a=\"b,c\", PerMessage-Deflate", &cfg, &a, resp),
                 1);
    cr_assert_eq(nego("x-webkit-deflate-frame", &cfg, &a, resp), 0);
    cr_assert_eq(nego("", &cfg, &a, resp), 0);
    cr_assert_eq(nego(" , ,", &cfg, &a, resp), 0);
    cr_assert_eq(hz__pmd_negotiate(NULL, 0, &cfg, &a, resp, sizeof(resp)), 0);
    cr_assert_eq(hz__pmd_negotiate("permessage-deflate", 18, &cfg, &a, resp, 64), HZ_ERANGE);
}

Test(pmd_negotiate, parameters_in_force)
{
    hz__pmd_cfg cfg = defaults();
    hz__pmd_params a;
    char resp[HZ__PMD_RESPONSE_MAX];
    cr_assert_eq(nego("permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                      &cfg, &a, resp),
                 1);
    cr_assert_str_eq(resp,
                     "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    cr_assert(a.server_no_context_takeover && a.client_no_context_takeover);
    /* the server's own policy: reset itself, ask the client to, smaller windows */
    cfg.server_no_context_takeover = 1;
    cfg.client_no_context_takeover = 1;
    cfg.server_max_window_bits = 12;
    cfg.client_max_window_bits = 11;
    cr_assert_eq(nego("permessage-deflate; client_max_window_bits", &cfg, &a, resp), 1);
    cr_assert_str_eq(resp, "permessage-deflate; server_no_context_takeover; "
                           "client_no_context_takeover; server_max_window_bits=12; "
                           "client_max_window_bits=11");
    cr_assert(a.server_max_window_bits == 12 && a.client_max_window_bits == 11);
    /* without client_max_window_bits in the offer it may not be answered */
    cr_assert_eq(nego("permessage-deflate", &cfg, &a, resp), 1);
    cr_assert_null(strstr(resp, "client_max_window_bits"));
    cr_assert_eq(a.client_max_window_bits, 15);
    /* the smaller of offer and policy wins */
    cr_assert_eq(nego("permessage-deflate; server_max_window_bits=9; client_max_window_bits=9",
                      &cfg, &a, resp),
                 1);
    cr_assert(a.server_max_window_bits == 9 && a.client_max_window_bits == 9);
    cr_assert_neq(strstr(resp, "server_max_window_bits=9"), NULL);
    cr_assert_neq(strstr(resp, "client_max_window_bits=9"), NULL);
    /* the longest answer fits */
    cfg.server_max_window_bits = 10;
    cfg.client_max_window_bits = 10;
    cr_assert_eq(nego("permessage-deflate; client_max_window_bits", &cfg, &a, resp), 1);
    cr_assert_lt(strlen(resp), HZ__PMD_RESPONSE_MAX);
}

Test(pmd_negotiate, parameter_rules)
{
    hz__pmd_params p;
    static const char *good[] = {
        "",
        "; server_no_context_takeover",
        " ;client_no_context_takeover ",
        "; server_max_window_bits=15",
        "; server_max_window_bits = 8",
        "; server_max_window_bits=\"10\"",
        "; server_max_window_bits=\"1\\0\"",
        "; client_max_window_bits",
        "; client_max_window_bits=9",
        "; SERVER_NO_CONTEXT_TAKEOVER",
        ("; client_max_window_bits; server_max_window_bits=12; client_no_context_takeover; "
         "server_no_context_takeover"),
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert_eq(hz__pmd_parse_params(good[i], strlen(good[i]), 0, &p), 0, "'%s'", good[i]);
    const char *q = "; server_max_window_bits=\"1\\0\"";
    cr_assert_eq(hz__pmd_parse_params(q, strlen(q), 0, &p), 0);
    cr_assert_eq(p.server_max_window_bits, 10);
    static const char *bad[] = {
        "; foo",
        "; server_no_context_takeover; server_no_context_takeover",
        "; client_no_context_takeover; client_no_context_takeover",
        "; server_max_window_bits=10; server_max_window_bits=10",
        "; client_max_window_bits; client_max_window_bits=10",
        "; server_no_context_takeover=1",
        "; client_no_context_takeover=\"\"",
        "; server_max_window_bits",
        "; server_max_window_bits=7",
        "; server_max_window_bits=16",
        "; server_max_window_bits=08",
        "; server_max_window_bits=015",
        "; server_max_window_bits=1e1",
        "; server_max_window_bits=-9",
        "; server_max_window_bits=\"\"",
        "; server_max_window_bits=\"10",
        "; client_max_window_bits=",
        "; client_max_window_bits=0",
        "; client_max_window_bits=999999999999999999999",
        ";",
        "; ;",
        "server_no_context_takeover",
        "; server_no_context_takeover x",
        "; a=b=c",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(hz__pmd_parse_params(bad[i], strlen(bad[i]), 0, &p), HZ_EINVAL, "'%s'",
                     bad[i]);
    /* an answer must give client_max_window_bits a value */
    cr_assert_eq(hz__pmd_parse_params("; client_max_window_bits", 24, 1, &p), HZ_EINVAL);
    cr_assert_eq(hz__pmd_parse_params("; client_max_window_bits=10", 27, 1, &p), 0);

    /* offers with bad parameters are declined, not fatal; a broken list is */
    hz__pmd_cfg cfg = defaults();
    hz__pmd_params a;
    char resp[HZ__PMD_RESPONSE_MAX];
    cr_assert_eq(nego("permessage-deflate; foo, permessage-deflate; server_no_context_takeover",
                      &cfg, &a, resp),
                 1);
    cr_assert_str_eq(resp, "permessage-deflate; server_no_context_takeover");
    cr_assert_eq(nego("permessage-deflate; server_max_window_bits=16", &cfg, &a, resp), 0);
    cr_assert_eq(nego("permessage-deflate;", &cfg, &a, resp), HZ_EINVAL);
    cr_assert_str_eq(resp, "");
    cr_assert_eq(nego("permessage-deflate, foo; a=\"open", &cfg, &a, resp), HZ_EINVAL);
    cr_assert_eq(nego("permessage-deflate x", &cfg, &a, resp), HZ_EINVAL);
    cr_assert_eq(nego("\"permessage-deflate\"", &cfg, &a, resp), HZ_EINVAL);
    cr_assert_eq(nego("permessage-deflate; a=\"\\\x01\"", &cfg, &a, resp), HZ_EINVAL);
}

Test(pmd_negotiate, client_checks_answers)
{
    hz__pmd_params offer = {0}, a;
#define CHECK_(s) hz__pmd_check_response(s, strlen(s), &offer, &a)
    cr_assert_eq(CHECK_(""), 0);
    cr_assert_eq(hz__pmd_check_response(NULL, 0, &offer, &a), 0);
    cr_assert_eq(CHECK_("permessage-deflate"), 1);
    cr_assert(a.server_max_window_bits == 15 && a.client_max_window_bits == 15);
    cr_assert_eq(CHECK_("permessage-deflate; server_no_context_takeover"), 1);
    cr_assert(a.server_no_context_takeover);
    cr_assert_eq(CHECK_("permessage-deflate; server_max_window_bits=10"), 1);
    cr_assert_eq(a.server_max_window_bits, 10);
    cr_assert_eq(CHECK_("permessage-deflate; client_max_window_bits=10"), HZ_EPROTO);
    cr_assert_eq(CHECK_("x-foo"), HZ_EPROTO);
    cr_assert_eq(CHECK_("permessage-deflate, permessage-deflate"), HZ_EPROTO);
    cr_assert_eq(CHECK_("permessage-deflate; foo"), HZ_EPROTO);
    cr_assert_eq(CHECK_("permessage-deflate;"), HZ_EPROTO);
    offer.client_max_window_bits = HZ__PMD_BITS_NOVALUE;
    cr_assert_eq(CHECK_("permessage-deflate; client_max_window_bits=10"), 1);
    cr_assert_eq(a.client_max_window_bits, 10);
    cr_assert_eq(CHECK_("permessage-deflate; client_max_window_bits"), HZ_EPROTO);
    offer.client_max_window_bits = 12;
    cr_assert_eq(CHECK_("permessage-deflate"), 1);
    cr_assert_eq(a.client_max_window_bits, 12);
    cr_assert_eq(CHECK_("permessage-deflate; client_max_window_bits=13"), HZ_EPROTO);
    offer.server_max_window_bits = 10;
    cr_assert_eq(CHECK_("permessage-deflate"), HZ_EPROTO);
    cr_assert_eq(CHECK_("permessage-deflate; server_max_window_bits=11"), HZ_EPROTO);
    cr_assert_eq(CHECK_("permessage-deflate; server_max_window_bits=9"), 1);
    offer.server_no_context_takeover = 1;
    cr_assert_eq(CHECK_("permessage-deflate; server_max_window_bits=9"), HZ_EPROTO);
    offer.client_no_context_takeover = 1;
    cr_assert_eq(CHECK_("permessage-deflate; server_no_context_takeover; server_max_window_bits=9"),
                 1);
    cr_assert(a.client_no_context_takeover); /* our own promise holds */
#undef CHECK_
}

static size_t offer_string(char *o, const hz__pmd_params *p)
{
    int n = sprintf(o, "permessage-deflate");
    if (p->server_no_context_takeover)
        n += sprintf(o + n, "; server_no_context_takeover");
    if (p->client_no_context_takeover)
        n += sprintf(o + n, "; client_no_context_takeover");
    if (p->server_max_window_bits)
        n += sprintf(o + n, "; server_max_window_bits=%u", p->server_max_window_bits);
    if (p->client_max_window_bits == HZ__PMD_BITS_NOVALUE)
        n += sprintf(o + n, "; client_max_window_bits");
    else if (p->client_max_window_bits)
        n += sprintf(o + n, "; client_max_window_bits=%u", p->client_max_window_bits);
    return (size_t)n;
}

/* Every offer against several policies: an accepted offer's answer is
 * accepted by the client check with the very same parameters. */
Test(pmd_negotiate, server_and_client_agree)
{
    static const uint8_t cbits[] = {0, HZ__PMD_BITS_NOVALUE, 8, 9, 12, 15};
    static const uint8_t sbits[] = {0, 8, 9, 10, 15};
    static const uint8_t policy[] = {9, 10, 15};
    int accepted = 0;
    for (unsigned flags = 0; flags < 4; flags++)
        for (size_t i = 0; i < sizeof(sbits); i++)
            for (size_t j = 0; j < sizeof(cbits); j++)
                for (size_t k = 0; k < sizeof(policy) * 4; k++) {
                    hz__pmd_params offer = {(uint8_t)(flags & 1), (uint8_t)(flags >> 1), sbits[i],
                                            cbits[j]};
                    hz__pmd_cfg cfg = defaults();
                    cfg.server_max_window_bits = policy[k % 3];
                    cfg.client_max_window_bits = policy[(k + 1) % 3];
                    cfg.server_no_context_takeover = (uint8_t)((k / 3) & 1);
                    cfg.client_no_context_takeover = (uint8_t)((k / 6) & 1);
                    char o[200], resp[HZ__PMD_RESPONSE_MAX];
                    offer_string(o, &offer);
                    hz__pmd_params srv, cli;
                    int rc = nego(o, &cfg, &srv, resp);
                    if (offer.server_max_window_bits == 8) {
                        cr_assert_eq(rc, 0);
                        continue;
                    }
                    cr_assert_eq(rc, 1, "%s", o);
                    accepted++;
                    cr_assert_eq(hz__pmd_check_response(resp, strlen(resp), &offer, &cli), 1,
                                 "offer %s answer %s", o, resp);
                    cr_assert(!memcmp(&srv, &cli, sizeof(srv)),
                              "offer %s answer %s: server %u/%u/%u/%u client %u/%u/%u/%u", o, resp,
                              srv.server_no_context_takeover, srv.client_no_context_takeover,
                              srv.server_max_window_bits, srv.client_max_window_bits,
                              cli.server_no_context_takeover, cli.client_no_context_takeover,
                              cli.server_max_window_bits, cli.client_max_window_bits);
                    if (offer.server_max_window_bits)
                        cr_assert_leq(srv.server_max_window_bits, offer.server_max_window_bits);
                    if (offer.client_max_window_bits > HZ__PMD_BITS_NOVALUE)
                        cr_assert_leq(srv.client_max_window_bits, offer.client_max_window_bits);
                    if (offer.server_no_context_takeover)
                        cr_assert(srv.server_no_context_takeover);
                }
    cr_assert_gt(accepted, 1000);
}

/* ------------------------------------------------------------------------ */
/* Contexts                                                                  */
/* ------------------------------------------------------------------------ */

#if HZ_HAVE_WS_DEFLATE

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        cr_assert(b->p);
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* Compresses msg as one message: input in pieces of `step`, output through
 * a buffer of `cap`. Returns 0 or the failing call's result. */
static int deflate_msg(hz__pmd *z, const void *msg, size_t len, size_t step, size_t cap, bytes *out)
{
    const uint8_t *m = msg;
    uint8_t *buf = malloc(cap);
    size_t off = 0;
    int rc;
    for (;;) {
        size_t n = len - off < step ? len - off : step;
        int fin = off + n == len;
        size_t used, made;
        rc = hz__pmd_deflate(z, m + off, n, fin, buf, cap, &used, &made);
        if (rc < 0)
            break;
        cr_assert_leq(made, cap);
        cr_assert_leq(used, n);
        put(out, buf, made);
        off += used;
        if (rc == HZ__PMD_DONE) {
            cr_assert(fin && off == len);
            rc = 0;
            break;
        }
        if (rc == HZ__PMD_NEED_INPUT)
            cr_assert_eq(used, n);
    }
    free(buf);
    return rc;
}

/* Inflates one message's payload the same way; returns 0 or the error. */
static int inflate_msg(hz__pmd *z, const void *payload, size_t len, size_t step, size_t cap,
                       bytes *out)
{
    const uint8_t *m = payload;
    uint8_t *buf = malloc(cap);
    size_t off = 0;
    int rc;
    for (;;) {
        size_t n = len - off < step ? len - off : step;
        int fin = off + n == len;
        size_t used, made;
        rc = hz__pmd_inflate(z, m + off, n, fin, buf, cap, &used, &made);
        if (rc < 0)
            break;
        cr_assert_leq(made, cap);
        put(out, buf, made);
        off += used;
        if (rc == HZ__PMD_DONE) {
            cr_assert(fin && off == len);
            rc = 0;
            break;
        }
    }
    free(buf);
    return rc;
}

static hz__pmd *make(hz_count_alloc *ca, const hz__pmd_params *p, int server, uint64_t max)
{
    hz__pmd *z;
    cr_assert_eq(hz__pmd_create(&z, &ca->iface, p, server, NULL, max), 0);
    return z;
}

static void expect_inflate(hz__pmd *z, const char *hex_payload, const char *want)
{
    uint8_t pl[64];
    size_t n = 0;
    for (const char *h = hex_payload; *h; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        pl[n++] = (uint8_t)v;
    }
    bytes out = {0};
    cr_assert_eq(inflate_msg(z, pl, n, 1, 1, &out), 0, "%s: %s", hex_payload,
                 hz__ws_err_name(hz__pmd_error(z)));
    cr_assert_eq(out.len, strlen(want));
    cr_assert(!memcmp(out.p, want, out.len));
    free(out.p);
}

Test(pmd_context, rfc7692_examples)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    hz__pmd_params p = {0, 0, 15, 15};
    hz__pmd *z = make(&ca, &p, 1, 0);
    /* §7.2.3.1, then §7.2.3.2: the second "Hello" refers back into the first */
    expect_inflate(z, "f248cdc9c90700", "Hello");
    expect_inflate(z, "f200110000", "Hello");
    /* §7.2.3.3: a stored block */
    expect_inflate(z, "000500faff48656c6c6f00", "Hello");
    /* §7.2.3.4: a final block; the next message still inflates */
    expect_inflate(z, "f348cdc9c9070000", "Hello");
    expect_inflate(z, "f248cdc9c90700", "Hello");
    /* §7.2.3.5: two blocks in one message */
    expect_inflate(z, "f24805000000ffffcac9c90700", "Hello");
    hz__pmd_destroy(z);
    cr_assert_eq(ca.live_blocks, 0);
    cr_assert_eq(ca.size_mismatches, 0);
}

/* Text that compresses, and bytes that do not. */
static void fill(uint8_t *b, size_t n, unsigned seed)
{
    static const char *words[] = {"websocket ", "frame ", "deflate ", "context ", "window "};
    uint32_t s = seed * 2654435761u + 1;
    size_t i = 0;
    while (i < n) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        if (seed & 1) {
            b[i++] = (uint8_t)s;
        } else {
            const char *w = words[s % 5];
            for (; *w && i < n; w++)
                b[i++] = (uint8_t)*w;
        }
    }
}

static void round_trip(const hz__pmd_params *p, size_t step, size_t cap)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    hz__pmd *srv = make(&ca, p, 1, 0), *cli = make(&ca, p, 0, 0);
    static uint8_t msg[70000];
    static const size_t lens[] = {0, 1, 5, 300, 0, 4096, 70000, 17};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        fill(msg, lens[i], (unsigned)i);
        for (int dir = 0; dir < 2; dir++) {
            hz__pmd *tx = dir ? cli : srv, *rx = dir ? srv : cli;
            bytes c = {0}, d = {0};
            cr_assert_eq(deflate_msg(tx, msg, lens[i], step, cap, &c), 0);
            if (c.len >= 4)
                cr_assert(memcmp(c.p + c.len - 4, "\0\0\xff\xff", 4) != 0, "tail not stripped");
            cr_assert_eq(inflate_msg(rx, c.p, c.len, step, cap, &d), 0, "message %zu dir %d: %s", i,
                         dir, hz__ws_err_name(hz__pmd_error(rx)));
            cr_assert_eq(d.len, lens[i], "message %zu: %zu bytes back", i, d.len);
            cr_assert(!lens[i] || !memcmp(d.p, msg, lens[i]));
            free(c.p);
            free(d.p);
        }
    }
    hz__pmd_destroy(srv);
    hz__pmd_destroy(cli);
    cr_assert_eq(ca.live_blocks, 0);
    cr_assert_eq(ca.size_mismatches, 0);
}

Test(pmd_context, round_trips)
{
    for (unsigned bits = 9; bits <= 15; bits++)
        for (unsigned flags = 0; flags < 4; flags++) {
            hz__pmd_params p = {(uint8_t)(flags & 1), (uint8_t)(flags >> 1), (uint8_t)bits,
                                (uint8_t)(24 - bits)};
            if (p.client_max_window_bits > 15)
                p.client_max_window_bits = 15;
            round_trip(&p, 100000, 65536);
            if (bits == 9 || bits == 15)
                round_trip(&p, 7, 16);
        }
    hz__pmd_params p = {0, 0, 15, 15};
    round_trip(&p, 1, 16);
    round_trip(&p, 4093, 17);
}

Test(pmd_context, context_takeover)
{
    static uint8_t msg[2000];
    fill(msg, sizeof(msg), 3); /* incompressible on its own */
    for (int takeover = 0; takeover < 2; takeover++) {
        hz_count_alloc ca;
        hz_count_alloc_init(&ca);
        hz__pmd_params p = {(uint8_t)!takeover, (uint8_t)!takeover, 15, 15};
        hz__pmd *srv = make(&ca, &p, 1, 0), *cli = make(&ca, &p, 0, 0);
        bytes c1 = {0}, c2 = {0}, d = {0};
        cr_assert_eq(deflate_msg(srv, msg, sizeof(msg), 500, 64, &c1), 0);
        cr_assert_eq(deflate_msg(srv, msg, sizeof(msg), 500, 64, &c2), 0);
        cr_assert_gt(c1.len, sizeof(msg)); /* random bytes grow a little */
        if (takeover) {
            cr_assert_lt(c2.len, 50, "the repeat refers back: %zu bytes", c2.len);
        } else {
            cr_assert_eq(c2.len, c1.len);
            cr_assert(!memcmp(c1.p, c2.p, c1.len), "a reset compressor repeats itself");
        }
        cr_assert_eq(inflate_msg(cli, c1.p, c1.len, 1000, 100, &d), 0);
        cr_assert_eq(inflate_msg(cli, c2.p, c2.len, 1000, 100, &d), 0);
        cr_assert_eq(d.len, 2 * sizeof(msg));
        cr_assert(!memcmp(d.p, msg, sizeof(msg)) && !memcmp(d.p + sizeof(msg), msg, sizeof(msg)));
        /* A receiver that resets where the sender took over fails on the
         * back-reference: the agreement matters. */
        if (takeover) {
            hz__pmd_params q = {1, 1, 15, 15};
            hz__pmd *rx = make(&ca, &q, 0, 0);
            bytes e = {0};
            cr_assert_eq(inflate_msg(rx, c1.p, c1.len, 1000, 100, &e), 0);
            cr_assert_eq(inflate_msg(rx, c2.p, c2.len, 1000, 100, &e), HZ_EPROTO);
            cr_assert_eq(hz__pmd_error(rx), HZ__WS_E_INFLATE);
            free(e.p);
            hz__pmd_destroy(rx);
        }
        free(c1.p);
        free(c2.p);
        free(d.p);
        hz__pmd_destroy(srv);
        hz__pmd_destroy(cli);
        cr_assert_eq(ca.live_blocks, 0);
    }
}

/* Per-message opt-out: a message sent plain (RSV1 clear) never touches
 * either context, so the compressed ones around it still agree. */
Test(pmd_context, uncompressed_messages_between)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    hz__pmd_params p = {0, 0, 15, 15};
    hz__pmd *srv = make(&ca, &p, 1, 0), *cli = make(&ca, &p, 0, 0);
    const char *msgs[] = {"first compressed message", "tiny", "first compressed message again"};
    for (int i = 0; i < 3; i++) {
        if (i == 1)
            continue; /* sent as is: no deflate on one side, no inflate on the other */
        bytes c = {0}, d = {0};
        cr_assert_eq(deflate_msg(srv, msgs[i], strlen(msgs[i]), 100, 64, &c), 0);
        cr_assert_eq(inflate_msg(cli, c.p, c.len, 100, 64, &d), 0);
        cr_assert_eq(d.len, strlen(msgs[i]));
        cr_assert(!memcmp(d.p, msgs[i], d.len));
        free(c.p);
        free(d.p);
    }
    hz__pmd_destroy(srv);
    hz__pmd_destroy(cli);
}

/* Window sizes: a 9-bit deflater's output inflates through a 9-bit window
 * (512 bytes of memory), and data deflated with 15 bits, which refers
 * further back, fails there once the reference reaches behind the window
 * (zlib lets a reference into output of the same call through, so this
 * shows with small output pieces: the window is what bounds memory). */
Test(pmd_context, window_bits_enforced)
{
    static uint8_t msg[4000];
    fill(msg, 1000, 1);
    fill(msg + 1000, 2000, 5);
    memcpy(msg + 3000, msg, 1000); /* a repeat 3000 bytes back */
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    hz__pmd_params wide = {0, 0, 15, 15}, narrow = {0, 0, 9, 9};
    hz__pmd *tx = make(&ca, &wide, 1, 0), *rx = make(&ca, &narrow, 0, 0);
    bytes c = {0}, d = {0};
    cr_assert_eq(deflate_msg(tx, msg, sizeof(msg), 4000, 4096, &c), 0);
    cr_assert_eq(inflate_msg(rx, c.p, c.len, 4000, 64, &d), HZ_EPROTO);
    cr_assert_eq(hz__pmd_error(rx), HZ__WS_E_INFLATE);
    cr_assert_eq(hz__pmd_inflate(rx, c.p, 1, 0, d.p, 1, &(size_t){0}, &(size_t){0}), HZ_EPROTO,
                 "a failed context stays failed");
    hz__pmd_destroy(tx);
    hz__pmd_destroy(rx);
    free(c.p);
    free(d.p);
    /* deflated with 9 bits, it inflates with 9 */
    tx = make(&ca, &narrow, 1, 0);
    rx = make(&ca, &narrow, 0, 0);
    c = (bytes){0};
    d = (bytes){0};
    cr_assert_eq(deflate_msg(tx, msg, sizeof(msg), 4000, 4096, &c), 0);
    cr_assert_eq(inflate_msg(rx, c.p, c.len, 4000, 64, &d), 0);
    cr_assert_eq(d.len, sizeof(msg));
    cr_assert(!memcmp(d.p, msg, sizeof(msg)));
    hz__pmd_destroy(tx);
    hz__pmd_destroy(rx);
    free(c.p);
    free(d.p);
    cr_assert_eq(ca.live_blocks, 0);
}

/* Compression bombs: the limit holds while inflating, in bounded chunks,
 * with bounded memory, and never more than the limit is handed out. */
Test(pmd_context, inflated_size_limit)
{
    static uint8_t zeros[1 << 20];
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    hz__pmd_params p = {0, 0, 15, 15};
    hz__pmd *tx = make(&ca, &p, 1, 0);
    /* 64 MiB of zeros, compressed to about 64 KiB */
    bytes bomb = {0};
    uint8_t buf[4096];
    for (int i = 0; i < 64; i++) {
        size_t off = 0;
        while (off < sizeof(zeros)) {
            size_t used, made;
            int rc = hz__pmd_deflate(tx, zeros + off, sizeof(zeros) - off, i == 63, buf,
                                     sizeof(buf), &used, &made);
            cr_assert_geq(rc, 0);
            put(&bomb, buf, made);
            off += used;
        }
        if (i == 63) {
            size_t used, made;
            int rc;
            while ((rc = hz__pmd_deflate(tx, NULL, 0, 1, buf, sizeof(buf), &used, &made)) !=
                   HZ__PMD_DONE) {
                cr_assert_geq(rc, 0);
                put(&bomb, buf, made);
            }
            put(&bomb, buf, made);
        }
    }
    cr_assert_lt(bomb.len, 100000);
    const uint64_t limit = 1 << 20;
    hz_count_alloc rca;
    hz_count_alloc_init(&rca);
    hz__pmd *rx;
    cr_assert_eq(hz__pmd_create(&rx, &rca.iface, &p, 0, NULL, limit), 0);
    size_t off = 0, total = 0;
    int rc;
    for (;;) {
        size_t used, made;
        rc = hz__pmd_inflate(rx, bomb.p + off, bomb.len - off, 1, buf, sizeof(buf), &used, &made);
        if (rc < 0)
            break;
        off += used;
        total += made;
        cr_assert_leq(total, limit);
    }
    cr_assert_eq(rc, HZ_EPROTO);
    cr_assert_eq(hz__pmd_error(rx), HZ__WS_E_INFLATED_TOO_BIG);
    cr_assert_eq(hz__ws_err_close_code(hz__pmd_error(rx)), 1009);
    cr_assert_eq(total, limit, "everything up to the limit, nothing beyond");
    cr_assert_lt(rca.peak_bytes, 64 * 1024, "zlib state only: %ld bytes", (long)rca.peak_bytes);
    hz__pmd_destroy(rx);
    hz__pmd_destroy(tx);
    free(bomb.p);
    cr_assert_eq(rca.live_blocks, 0);

    /* exactly at the limit is fine, one byte over is not; the count is per message */
    static uint8_t msg[1000];
    fill(msg, sizeof(msg), 2);
    tx = make(&ca, &p, 1, 0);
    cr_assert_eq(hz__pmd_create(&rx, &ca.iface, &p, 0, NULL, 1000), 0);
    for (int i = 0; i < 3; i++) {
        bytes c = {0}, d = {0};
        cr_assert_eq(deflate_msg(tx, msg, 1000, 1000, 64, &c), 0);
        cr_assert_eq(inflate_msg(rx, c.p, c.len, 7, 1, &d), 0);
        cr_assert_eq(d.len, 1000);
        free(c.p);
        free(d.p);
    }
    bytes c = {0}, d = {0};
    cr_assert_eq(deflate_msg(tx, msg, 1000, 1000, 64, &c), 0);
    hz__pmd *rx2;
    cr_assert_eq(hz__pmd_create(&rx2, &ca.iface, &p, 0, NULL, 999), 0);
    bytes c0 = {0};
    hz__pmd *tx2 = make(&ca, &p, 1, 0);
    cr_assert_eq(deflate_msg(tx2, msg, 1000, 1000, 64, &c0), 0);
    cr_assert_eq(inflate_msg(rx2, c0.p, c0.len, 1000, 4096, &d), HZ_EPROTO);
    cr_assert_eq(hz__pmd_error(rx2), HZ__WS_E_INFLATED_TOO_BIG);
    cr_assert_leq(d.len, 999);
    free(c.p);
    free(c0.p);
    free(d.p);
    hz__pmd_destroy(rx);
    hz__pmd_destroy(rx2);
    hz__pmd_destroy(tx);
    hz__pmd_destroy(tx2);
    cr_assert_eq(ca.live_blocks, 0);
}

/* Going over the limit comes before a data error further on, however the
 * input is cut (found by fuzz_ws_deflate: zlib reads on into block
 * headers after the output room is used). */
Test(pmd_context, limit_before_later_error)
{
    static const uint8_t pl[] = {0xba, 0xba, 0, 0, 0, 0, 0, 0, 0, 0x0e, 0xca, 0x76};
    hz__pmd_params p = {1, 0, 11, 13};
    for (size_t step = 1; step <= sizeof(pl); step++)
        for (size_t cap = 1; cap <= 64; cap *= 4) {
            hz_count_alloc ca;
            hz_count_alloc_init(&ca);
            hz__pmd *z;
            cr_assert_eq(hz__pmd_create(&z, &ca.iface, &p, 1, NULL, 1), 0);
            bytes d = {0};
            cr_assert_eq(inflate_msg(z, pl, sizeof(pl), step, cap, &d), HZ_EPROTO);
            cr_assert_eq(hz__pmd_error(z), HZ__WS_E_INFLATED_TOO_BIG, "step %zu cap %zu: %s", step,
                         cap, hz__ws_err_name(hz__pmd_error(z)));
            cr_assert_leq(d.len, 1);
            free(d.p);
            hz__pmd_destroy(z);
        }
}

Test(pmd_context, corrupt_and_truncated)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    hz__pmd_params p = {0, 0, 15, 15};
    /* BTYPE 11 is reserved */
    hz__pmd *rx = make(&ca, &p, 1, 0);
    bytes d = {0};
    cr_assert_eq(inflate_msg(rx, "\xff\xff\xff", 3, 3, 64, &d), HZ_EPROTO);
    cr_assert_eq(hz__pmd_error(rx), HZ__WS_E_INFLATE);
    cr_assert_eq(hz__ws_err_close_code(hz__pmd_error(rx)), 1007);
    hz__pmd_destroy(rx);
    /* a stored block whose NLEN is not the complement of LEN */
    rx = make(&ca, &p, 1, 0);
    cr_assert_eq(inflate_msg(rx,
                             "\x00\x05\x00\xfa\xfe"
                             "Hello",
                             10, 1, 64, &d),
                 HZ_EPROTO);
    hz__pmd_destroy(rx);
    /* a valid message cut short anywhere: refused, never taken as a shorter one */
    static uint8_t msg[3000];
    fill(msg, sizeof(msg), 4);
    hz__pmd *tx = make(&ca, &p, 1, 0);
    bytes c = {0};
    cr_assert_eq(deflate_msg(tx, msg, sizeof(msg), 3000, 4096, &c), 0);
    for (size_t cut = 0; cut < c.len; cut++) {
        rx = make(&ca, &p, 1, 0);
        d.len = 0;
        int rc = inflate_msg(rx, c.p, cut, 64, 256, &d);
        cr_assert_eq(rc, HZ_EPROTO, "message cut at %zu of %zu: %d, %zu bytes", cut, c.len, rc,
                     d.len);
        cr_assert_eq(hz__pmd_error(rx), HZ__WS_E_INFLATE);
        hz__pmd_destroy(rx);
    }
    /* no output room is a usage error */
    rx = make(&ca, &p, 1, 0);
    uint8_t out[8];
    size_t used, made;
    cr_assert_eq(hz__pmd_inflate(rx, c.p, 1, 1, out, 0, &used, &made), HZ_EINVAL);
    hz__pmd_destroy(rx);
    hz__pmd_destroy(tx);
    free(c.p);
    free(d.p);
    cr_assert_eq(ca.live_blocks, 0);
}

Test(pmd_context, empty_messages)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    for (int reset = 0; reset < 2; reset++) {
        hz__pmd_params p = {(uint8_t)reset, (uint8_t)reset, 15, 15};
        hz__pmd *tx = make(&ca, &p, 1, 0), *rx = make(&ca, &p, 0, 0);
        static const char *msgs[] = {"", "", "abc", "", "", "abcabc", ""};
        for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
            bytes c = {0}, d = {0};
            cr_assert_eq(deflate_msg(tx, msgs[i], strlen(msgs[i]), 10, 16, &c), 0);
            cr_assert_gt(c.len, 0, "a compressed payload is never empty");
            cr_assert_eq(inflate_msg(rx, c.p, c.len, 10, 8, &d), 0);
            cr_assert_eq(d.len, strlen(msgs[i]));
            free(c.p);
            free(d.p);
        }
        /* an empty payload is not a compressed message: the shortest is
         * 0x00 (what Chrome sends for an empty one) */
        bytes d = {0};
        cr_assert_eq(inflate_msg(rx, "\0", 1, 1, 8, &d), 0);
        cr_assert_eq(d.len, 0);
        cr_assert_eq(inflate_msg(rx, "", 0, 1, 8, &d), HZ_EPROTO);
        cr_assert_eq(hz__pmd_error(rx), HZ__WS_E_INFLATE);
        hz__pmd_destroy(tx);
        hz__pmd_destroy(rx);
    }
    cr_assert_eq(ca.live_blocks, 0);
}

Test(pmd_context, arguments)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    hz__pmd *z = (hz__pmd *)&ca;
    hz__pmd_params p8 = {0, 0, 8, 15};
    cr_assert_eq(hz__pmd_create(&z, &ca.iface, &p8, 1, NULL, 0), HZ_EINVAL, "no 8-bit deflate");
    cr_assert_null(z);
    hz__pmd_params p16 = {0, 0, 15, 16};
    cr_assert_eq(hz__pmd_create(&z, &ca.iface, &p16, 1, NULL, 0), HZ_EINVAL);
    hz__pmd_cfg cfg = defaults();
    cfg.level = 0;
    hz__pmd_params p = {0, 0, 15, 15};
    cr_assert_eq(hz__pmd_create(&z, &ca.iface, &p, 1, &cfg, 0), HZ_EINVAL);
    cfg = defaults();
    cfg.mem_level = 10;
    cr_assert_eq(hz__pmd_create(&z, &ca.iface, &p, 1, &cfg, 0), HZ_EINVAL);
    /* the client side may inflate a server's 8-bit window */
    cr_assert_eq(hz__pmd_create(&z, &ca.iface, &p8, 0, NULL, 0), 0);
    uint8_t out[16];
    size_t u, m;
    cr_assert_eq(hz__pmd_deflate(z, (const uint8_t *)"x", 1, 1, out, 15, &u, &m), HZ_EINVAL);
    hz__pmd_destroy(z);
    hz__pmd_destroy(NULL);
    /* nothing allocated before first use */
    cr_assert_eq(hz__pmd_create(&z, &ca.iface, &p, 1, NULL, 0), 0);
    cr_assert_eq(ca.live_blocks, 1);
    hz__pmd_destroy(z);
    cr_assert_eq(ca.live_blocks, 0);
}

/* Every allocation along create, deflate and inflate fails once: a clean
 * HZ_ENOMEM, no leak, and the walk reaches success. */
Test(pmd_context, allocation_failures)
{
    static uint8_t msg[5000];
    fill(msg, sizeof(msg), 6);
    hz__pmd_params p = {0, 0, 15, 15};
    int done = 0;
    for (long nth = 1; nth < 100 && !done; nth++) {
        hz_count_alloc ca;
        hz_fail_alloc_init(&ca, nth, 0);
        hz__pmd *tx = NULL, *rx = NULL;
        int rc = hz__pmd_create(&tx, &ca.iface, &p, 1, NULL, 0);
        if (rc == 0)
            rc = hz__pmd_create(&rx, &ca.iface, &p, 0, NULL, 0);
        bytes c = {0}, d = {0};
        if (rc == 0)
            rc = deflate_msg(tx, msg, sizeof(msg), 5000, 256, &c);
        if (rc == 0)
            rc = inflate_msg(rx, c.p, c.len, 5000, 256, &d);
        /* a message with a final block: the window is carried over */
        if (rc == 0)
            rc = inflate_msg(rx, "\xf3\x48\xcd\xc9\xc9\x07\x00\x00", 8, 8, 256, &d);
        if (rc == 0) {
            cr_assert_eq(d.len, sizeof(msg) + 5);
            done = 1;
        } else {
            cr_assert_eq(rc, HZ_ENOMEM, "allocation %ld: %d", nth, rc);
            cr_assert_eq(ca.failures, 1);
        }
        hz__pmd_destroy(tx);
        hz__pmd_destroy(rx);
        free(c.p);
        free(d.p);
        cr_assert_eq(ca.live_blocks, 0, "allocation %ld failed: a leak", nth);
        cr_assert_eq(ca.size_mismatches, 0);
    }
    cr_assert(done);
}

/* The pipeline the connection layer will run: client frames through the
 * parser (compressed message split over frames, a ping between them, fed
 * in small pieces), payload pieces through the inflater, text through the
 * UTF-8 validator after inflating. */
static int receive(const bytes *wire, hz__pmd *rx, size_t piece, bytes *text, int *utf8_ok)
{
    hz__ws_parser_cfg pc = {HZ__WS_SERVER, 0, 0, 1};
    hz__ws_parser ps;
    hz__ws_parser_init(&ps, &pc);
    hz__utf8 u;
    hz__utf8_init(&u);
    uint8_t *copy = malloc(wire->len);
    memcpy(copy, wire->p, wire->len);
    uint8_t out[16];
    size_t off = 0;
    int pings = 0;
    *utf8_ok = 1;
    while (off < wire->len) {
        size_t n = wire->len - off < piece ? wire->len - off : piece;
        size_t at = 0;
        while (at < n) {
            hz__ws_event ev;
            long rc = hz__ws_parse(&ps, copy + off + at, n - at, &ev);
            cr_assert_geq(rc, 0, "%s", hz__ws_err_name(ps.error));
            at += (size_t)rc;
            if (ev.type == HZ__WS_EV_CONTROL)
                pings++;
            if (ev.type != HZ__WS_EV_DATA)
                continue;
            cr_assert(ev.compressed && ev.opcode == HZ__WS_OP_TEXT);
            size_t done = 0;
            for (;;) {
                size_t used, made;
                int r = hz__pmd_inflate(rx, ev.data + done, ev.len - done, ev.msg_end, out,
                                        sizeof(out), &used, &made);
                cr_assert_geq(r, 0);
                done += used;
                if (hz__utf8_feed(&u, out, made) != made)
                    *utf8_ok = 0;
                put(text, out, made);
                if (r == HZ__PMD_DONE) {
                    if (!hz__utf8_complete(&u))
                        *utf8_ok = 0;
                    break;
                }
                if (r == HZ__PMD_NEED_INPUT && done == ev.len)
                    break;
            }
        }
        off += n;
    }
    free(copy);
    return pings;
}

Test(pmd_context, parser_pipeline)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    hz__pmd_params p = {0, 0, 15, 15};
    hz__pmd *tx = make(&ca, &p, 0, 0), *rx = make(&ca, &p, 1, 0);
    static const uint8_t key[4] = {1, 2, 3, 4};
    const char *msgs[] = {"caf\xc3\xa9 \xe2\x82\xac and a long enough text text text text",
                          "bad \xc3\x28 text"};
    for (int m = 0; m < 2; m++) {
        bytes c = {0}, wire = {0};
        cr_assert_eq(deflate_msg(tx, msgs[m], strlen(msgs[m]), 1000, 64, &c), 0);
        size_t cut1 = c.len / 3, cut2 = 2 * c.len / 3;
        const size_t cuts[4] = {0, cut1, cut2, c.len};
        for (int f = 0; f < 3; f++) {
            uint8_t h[HZ__WS_HEADER_MAX];
            size_t len = cuts[f + 1] - cuts[f];
            unsigned op = f == 0 ? HZ__WS_OP_TEXT : HZ__WS_OP_CONT;
            unsigned flags = (f == 0 ? HZ__WS_RSV1 : 0) | (f == 2 ? HZ__WS_FIN : 0);
            int hl = hz__ws_write_header(h, op, flags, len, key);
            put(&wire, h, (size_t)hl);
            size_t at = wire.len;
            put(&wire, c.p + cuts[f], len);
            hz__ws_mask(wire.p + at, wire.p + at, len, key, 0);
            if (f == 0) {
                hl = hz__ws_write_header(h, HZ__WS_OP_PING, HZ__WS_FIN, 0, key);
                put(&wire, h, (size_t)hl);
            }
        }
        bytes text = {0};
        int ok;
        cr_assert_eq(receive(&wire, rx, 3, &text, &ok), 1);
        cr_assert_eq(text.len, strlen(msgs[m]));
        cr_assert(!memcmp(text.p, msgs[m], text.len));
        cr_assert_eq(ok, m == 0, "message %d: UTF-8 verdict", m); /* bad: fail with 1007 */
        free(c.p);
        free(wire.p);
        free(text.p);
    }
    hz__pmd_destroy(tx);
    hz__pmd_destroy(rx);
    cr_assert_eq(ca.live_blocks, 0);
}

#else

Test(pmd_context, not_built)
{
    hz__pmd *z;
    hz__pmd_params p = {0, 0, 15, 15};
    cr_assert_eq(hz__pmd_create(&z, &hz_allocator_default, &p, 1, NULL, 0), HZ_ENOTSUP);
    cr_assert_null(z);
}

#endif
