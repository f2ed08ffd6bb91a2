/* test_ws_small_header.c - hz__ws_write_small_header (the inline writer
 * the WebSocket send path uses for frames under 126 bytes) against the
 * general hz__ws_write_header, byte for byte, for every data opcode, FIN
 * and RSV1 combination and length it is used for. */
#include <criterion/criterion.h>
#include <string.h>
#include "ws.h"

Test(ws_small_header, matches_the_general_writer)
{
    static const unsigned ops[] = {HZ__WS_OP_CONT, HZ__WS_OP_TEXT, HZ__WS_OP_BINARY};
    static const unsigned fls[] = {0, HZ__WS_FIN, HZ__WS_RSV1, HZ__WS_FIN | HZ__WS_RSV1};
    for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
        for (size_t f = 0; f < sizeof(fls) / sizeof(fls[0]); f++)
            for (size_t len = 0; len < 126; len++) {
                uint8_t a[HZ__WS_HEADER_MAX], b[HZ__WS_HEADER_MAX];
                memset(a, 0xaa, sizeof(a));
                memset(b, 0xaa, sizeof(b));
                int ha = hz__ws_write_small_header(a, ops[o], fls[f], len);
                int hb = hz__ws_write_header(b, ops[o], fls[f], len, NULL);
                cr_assert_eq(ha, hb, "op %u flags %u len %zu: %d vs %d", ops[o], fls[f], len, ha,
                             hb);
                cr_assert(!memcmp(a, b, sizeof(a)), "op %u flags %u len %zu: bytes differ", ops[o],
                          fls[f], len);
            }
}
