/* poller_params.h - Criterion parameters over every poller compiled in
 * (hz_pollers[]). The parameter is an index into hz_pollers[], not a
 * pointer, so it survives Criterion's process boundary as plain data. */
#ifndef HZ_TEST_POLLER_PARAMS_H
#define HZ_TEST_POLLER_PARAMS_H
#include <criterion/parameterized.h>
#include <httpz/backend.h>

#define POLLER_PARAMS_MAX 8

static inline struct criterion_test_params poller_params(void)
{
    static int idx[POLLER_PARAMS_MAX];
    size_t n = 0;
    while (n < POLLER_PARAMS_MAX && hz_pollers[n]) {
        idx[n] = (int)n;
        n++;
    }
    return cr_make_param_array(int, idx, n);
}

/* Criterion test suite/name over every poller (secs: its timeout): the
 * body follows, with int *idx, the poller's index. */
#define POLLER_PARAM_TEST(suite, name, secs)                                                       \
    ParameterizedTestParameters(suite, name)                                                       \
    {                                                                                              \
        return poller_params();                                                                    \
    }                                                                                              \
    ParameterizedTest(int *idx, suite, name, .timeout = secs)

#endif
