/* test_alloc.c - the default allocator and the test allocators. */
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>
#include "internal.h"
#include "test_alloc.h"

Test(alloc, default_allocator_round_trip)
{
    const hz_allocator *a = &hz_allocator_default;
    cr_assert_eq(hz__allocator_check(a), 0);
    cr_assert(a->vt->caps & HZ_ALLOC_CAP_THREADSAFE);
    char *p = hz__alloc(a, 16);
    cr_assert_not_null(p);
    memset(p, 'x', 16);
    p = hz__realloc(a, p, 16, 4096);
    cr_assert_not_null(p);
    cr_assert_eq(p[15], 'x');
    hz__free(a, p, 4096);
}

Test(alloc, check_rejects_bad_tables)
{
    hz_allocator_vt vt = hz_allocator_default_vt;
    hz_allocator a = {&vt, NULL};
    vt.abi = HZ_BACKEND_ABI + 1;
    cr_assert_eq(hz__allocator_check(&a), HZ_EABI);
    vt.abi = HZ_BACKEND_ABI;
    vt.free = NULL;
    cr_assert_eq(hz__allocator_check(&a), HZ_EINVAL);
    cr_assert_eq(hz__allocator_check(NULL), HZ_EINVAL);
}

Test(alloc, counting_allocator_counts_and_checks_sizes)
{
    hz_count_alloc ca;
    hz_count_alloc_init(&ca);
    void *p = hz__alloc(&ca.iface, 100);
    void *q = hz__alloc(&ca.iface, 50);
    cr_assert_eq(ca.live_blocks, 2);
    cr_assert_eq(ca.live_bytes, 150);
    p = hz__realloc(&ca.iface, p, 100, 300);
    cr_assert_eq(ca.live_bytes, 350);
    hz__free(&ca.iface, p, 300);
    hz__free(&ca.iface, q, 49); /* wrong size: counted */
    cr_assert_eq(ca.live_blocks, 0);
    cr_assert_eq(ca.live_bytes, 0);
    cr_assert_eq(ca.peak_bytes, 350);
    cr_assert_eq(ca.size_mismatches, 1);
}

Test(alloc, failing_allocator_fails_exactly_the_nth)
{
    hz_count_alloc ca;
    hz_fail_alloc_init(&ca, 3, 0);
    void *a = hz__alloc(&ca.iface, 8), *b = hz__alloc(&ca.iface, 8);
    void *c = hz__alloc(&ca.iface, 8), *d = hz__alloc(&ca.iface, 8);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_null(c);
    cr_assert_not_null(d);
    cr_assert_eq(ca.failures, 1);
    hz__free(&ca.iface, a, 8);
    hz__free(&ca.iface, b, 8);
    hz__free(&ca.iface, d, 8);
    cr_assert_eq(ca.live_blocks, 0);

    hz_fail_alloc_init(&ca, 2, 1);
    a = hz__alloc(&ca.iface, 8);
    cr_assert_not_null(a);
    cr_assert_null(hz__alloc(&ca.iface, 8));
    cr_assert_null(hz__realloc(&ca.iface, a, 8, 16)); /* sticky; a still owned */
    hz__free(&ca.iface, a, 8);
    cr_assert_eq(ca.live_blocks, 0);
}
