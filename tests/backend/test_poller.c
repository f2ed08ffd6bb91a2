/* test_poller.c - the poller contract (poller_contract.c) as Criterion tests,
 * each one parameterised over every poller compiled in (hz_pollers[]): the
 * default build runs them on epoll (or kqueue), the HZ_TEST_LIBKQUEUE build
 * on both in this one binary (poller_params.h). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <httpz/backend.h>
#include "poller_contract.h"
#include "poller_params.h"

static void run_check(pc_fn fn, int idx)
{
    const hz_poller_vt *vt = hz_pollers[idx];
    pc_ctx ctx = {{0}};
    cr_assert_not_null(vt);
    int rc = fn(vt, &ctx);
    if (rc == PC_SKIP)
        cr_skip_test("%s: %s", vt->name, ctx.msg);
    cr_assert_eq(rc, PC_PASS, "%s: %s", vt->name, ctx.msg);
}

#define POLLER_TEST(name, secs)                                                                    \
    POLLER_PARAM_TEST(poller, name, secs)                                                          \
    {                                                                                              \
        run_check(pc_##name, *idx);                                                                \
    }

Test(poller, table_lists_the_default_first)
{
    cr_assert_not_null(hz_pollers[0]);
    cr_assert_str_eq(hz_pollers[0]->name, HZ_POLLER_NAME);
    size_t n = 0;
    while (hz_pollers[n])
        n++;
    cr_assert_eq(n,
                 (size_t)(HZ_HAVE_POLLER_EPOLL + HZ_HAVE_POLLER_KQUEUE + HZ_HAVE_POLLER_IO_URING),
                 "hz_pollers[] must list every poller compiled in");
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            cr_assert_str_neq(hz_pollers[i]->name, hz_pollers[j]->name);
}

POLLER_TEST(meta, 10)
POLLER_TEST(readable, 20)
POLLER_TEST(writable, 20)
POLLER_TEST(level_triggered, 20)
POLLER_TEST(read_write_one_entry, 20)
POLLER_TEST(peer_close, 20)
POLLER_TEST(peer_close_wakes_writer, 20)
POLLER_TEST(modify, 20)
POLLER_TEST(remove_mid_batch, 20)
POLLER_TEST(remove_then_reuse_fd, 20)
POLLER_TEST(einval, 20)
POLLER_TEST(wake_other_thread, 20)
POLLER_TEST(wake_coalesces, 20)
POLLER_TEST(wake_from_signal, 20)
POLLER_TEST(wake_with_ready_fd, 20)
POLLER_TEST(timeout, 20)
POLLER_TEST(many_fds, 120)
POLLER_TEST(eintr, 30)
POLLER_TEST(create_enomem, 30)
POLLER_TEST(counting_no_leak, 20)
POLLER_TEST(add_enomem_keeps_poller, 20)
/* The completion section (skipped by readiness pollers). */
POLLER_TEST(c_recv, 20)
POLLER_TEST(c_send_order_close, 60)
POLLER_TEST(c_accept, 20)
POLLER_TEST(c_destroy_inflight, 30)
POLLER_TEST(c_quiesce_inflight, 30)
POLLER_TEST(c_idle_no_buffer, 20)
POLLER_TEST(c_send_no_completion, 30)
POLLER_TEST(c_send_error, 20)
POLLER_TEST(c_send_while_behind, 20)
POLLER_TEST(fair_batches, 20)
