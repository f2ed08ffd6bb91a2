/* test_errors.c - the error map: distinct values, names and messages for
 * every code, and the errno mapping. */
#include <errno.h>
#include <string.h>
#include <criterion/criterion.h>
#include <httpz/httpz.h>
#include "internal.h"

struct err_row {
    int val;
    const char *name;
    const char *msg;
};

static const struct err_row rows[] = {
#define ROW(name, val, msg) {val, #name, msg},
    HZ_ERRNO_MAP(ROW)
#undef ROW
};

Test(errors, every_code_has_distinct_value_name_and_message)
{
    size_t n = sizeof(rows) / sizeof(rows[0]);
    cr_assert_gt(n, 10);
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(rows[i].val, 0, "%s must be negative", rows[i].name);
        cr_assert_str_eq(hz_strerror(rows[i].val), rows[i].msg);
        cr_assert_str_eq(hz_err_name(rows[i].val), rows[i].name);
        cr_assert_gt(strlen(hz_strerror(rows[i].val)), 0);
        cr_assert_str_neq(hz_strerror(rows[i].val), "unknown error");
        for (size_t j = i + 1; j < n; j++) {
            cr_assert_neq(rows[i].val, rows[j].val, "%s and %s share a value", rows[i].name,
                          rows[j].name);
            cr_assert_str_neq(rows[i].name, rows[j].name);
        }
    }
}

Test(errors, unknown_and_success)
{
    cr_assert_str_eq(hz_strerror(0), "success");
    cr_assert_str_eq(hz_strerror(-9999), "unknown error");
    cr_assert_str_eq(hz_strerror(12345), "unknown error");
    cr_assert_str_eq(hz_err_name(-9999), "UNKNOWN");
    cr_assert_str_eq(hz_err_name(0), "OK");
}

Test(errors, fixed_values_never_change)
{
    /* FFI users hard-code these: they are part of the ABI. */
    cr_assert_eq(HZ_EAGAIN, -1);
    cr_assert_eq(HZ_ENOMEM, -2);
    cr_assert_eq(HZ_EINVAL, -3);
    cr_assert_eq(HZ_EBUSY, -4);
    cr_assert_eq(HZ_ECANCELED, -5);
    cr_assert_eq(HZ_TLS_WANT_READ, -20);
    cr_assert_eq(HZ_TLS_WANT_WRITE, -21);
    cr_assert_eq(HZ_ETLS, -22);
}

Test(errors, errno_mapping)
{
    cr_assert_eq(hz__err_from_errno(0), 0);
    cr_assert_eq(hz__err_from_errno(EAGAIN), HZ_EAGAIN);
    cr_assert_eq(hz__err_from_errno(EWOULDBLOCK), HZ_EAGAIN);
    cr_assert_eq(hz__err_from_errno(ENOMEM), HZ_ENOMEM);
    cr_assert_eq(hz__err_from_errno(EMFILE), HZ_EMFILE);
    cr_assert_eq(hz__err_from_errno(ENFILE), HZ_EMFILE);
    cr_assert_eq(hz__err_from_errno(ECONNRESET), HZ_ECLOSED);
    cr_assert_eq(hz__err_from_errno(EPIPE), HZ_ECLOSED);
    cr_assert_eq(hz__err_from_errno(EADDRINUSE), HZ_EADDRINUSE);
    cr_assert_eq(hz__err_from_errno(EACCES), HZ_EACCES);
    cr_assert_eq(hz__err_from_errno(ELOOP), HZ_ESYS);
}

Test(version, reports_version_and_backends)
{
    const hz_build_info *v = hz_version_info();
    cr_assert_not_null(v);
    cr_assert_str_eq(v->version, HZ_VERSION_STRING);
    cr_assert_eq(v->major, HZ_VERSION_MAJOR);
    cr_assert_str_eq(v->poller, HZ_POLLER_NAME);
    cr_assert_str_eq(v->tls, HZ_TLS_NAME);
    cr_assert_str_eq(v->executor, "pool");
    cr_assert(strcmp(v->poller, "epoll") == 0 || strcmp(v->poller, "kqueue") == 0 ||
              strcmp(v->poller, "io_uring") == 0);
    cr_assert(strcmp(v->tls, "mbedtls") == 0 || strcmp(v->tls, "openssl") == 0 ||
              strcmp(v->tls, "none") == 0);
}
