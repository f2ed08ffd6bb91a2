/* test_executor.c - the hz_executor_vt contract (include/httpz/backend.h),
 * written once and run over every executor: the thread pool
 * (backends/exec-pool) and the user-written example
 * (examples/custom_executor.c), each with both shutdown policies.
 *
 * No test waits on time for correctness: workers are held inside "gate" jobs
 * until the test opens the gate, completions are counted under a mutex and
 * waited for on a condition variable, and parallelism is proved by a barrier
 * that only opens when N jobs are inside at once. Deadlines only turn a hang
 * into a failure. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <httpz/backend.h>
#include "test_alloc.h"
#include "test_wait.h"
#include "custom_executor.h"

#define WAIT_MS 10000 /* a deadline that only a hang crosses */

/* ------------------------------------------------------------------------ */
/* The executors under test                                                  */
/* ------------------------------------------------------------------------ */

enum { DRAIN = 0, CANCEL = 1 };
_Static_assert((int)DRAIN == (int)HZ_POOL_DRAIN && (int)CANCEL == (int)HZ_POOL_CANCEL, "policy");
_Static_assert((int)DRAIN == (int)CUSTOM_EXEC_DRAIN && (int)CANCEL == (int)CUSTOM_EXEC_CANCEL,
               "policy");

/* Criterion re-executes the binary for each test (address space layout may
 * differ), so a parameter holds no pointers: the executor is an index into
 * kinds[], looked up on the test's side. */
enum { POOL = 0, CUSTOM = 1 };

typedef struct exec_impl {
    int kind;   /* POOL or CUSTOM */
    int policy; /* DRAIN or CANCEL */
} exec_impl;

typedef struct exec_kind {
    const char *name;
    /* threads: wanted workers (ignored when fixed_threads != 0) */
    int (*create)(hz_executor *out, unsigned threads, unsigned cap, int policy,
                  const hz_allocator *a);
    unsigned fixed_threads; /* 0: honours threads */
} exec_kind;

static int make_pool(hz_executor *out, unsigned threads, unsigned cap, int policy,
                     const hz_allocator *a)
{
    hz_executor_pool_options opt;
    hz_executor_pool_options_init(&opt);
    opt.threads = threads;
    opt.queue_cap = cap;
    opt.on_shutdown = (unsigned)policy; /* passed through, so bad values reach it */
    return hz_executor_pool_create(out, &opt, a);
}

static int make_custom(hz_executor *out, unsigned threads, unsigned cap, int policy,
                       const hz_allocator *a)
{
    (void)threads;
    return custom_executor_create(out, cap, (unsigned)policy, a);
}

static const exec_kind kinds[] = {
    [POOL] = {"pool", make_pool, 0},
    [CUSTOM] = {"custom", make_custom, 1},
};

static exec_impl impls[] = {
    {POOL, DRAIN},
    {POOL, CANCEL},
    {CUSTOM, DRAIN},
    {CUSTOM, CANCEL},
};

static int impl_create(const exec_impl *impl, hz_executor *out, unsigned threads, unsigned cap,
                       int policy, const hz_allocator *a)
{
    return kinds[impl->kind].create(out, threads, cap, policy, a);
}

static unsigned impl_threads(const exec_impl *impl, unsigned want)
{
    return kinds[impl->kind].fixed_threads ? kinds[impl->kind].fixed_threads : want;
}

/* ------------------------------------------------------------------------ */
/* Shared test state: counters under one mutex, waited on with a deadline    */
/* ------------------------------------------------------------------------ */

#define MAX_JOBS 4096

typedef struct tally {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;      /* jobs finished (any status) */
    int ok;        /* status 0 */
    int cancelled; /* status HZ_ECANCELED */
    int bad;       /* any other status, or a job that must not run did */
    int on_main;   /* status-0 jobs that ran on the test's own thread */
    int runs[MAX_JOBS];
    int child_rc[MAX_JOBS]; /* rc of a submit made from inside job i */
    /* gate: holds workers inside jobs until opened */
    int inside;
    int open;
} tally;

static tally T;
static pthread_t main_tid;
static hz_count_alloc CA;
static hz_executor EX;

static void tally_init(void)
{
    memset(&T, 0, sizeof(T));
    pthread_mutex_init(&T.mu, NULL);
    pthread_cond_init(&T.cv, NULL);
    main_tid = pthread_self();
    hz_count_alloc_init(&CA);
}

/* Waits (T.mu held) until *counter >= n or the deadline; returns the value. */
static int wait_locked(const int *counter, int n)
{
    return hz_test_wait_locked(&T.mu, &T.cv, counter, n, WAIT_MS);
}

static int wait_for(const int *counter, int n)
{
    return hz_test_wait_for(&T.mu, &T.cv, counter, n, WAIT_MS);
}

static int read_locked(const int *counter)
{
    return hz_test_read(&T.mu, counter);
}

/* A job's argument, allocated from the counting allocator and freed by the
 * job itself, whatever its status: the contract lets owners always free. */
typedef struct job {
    int idx;
    int depth;       /* for jobs that submit children */
    int submit_kids; /* 1: submit one child from inside the job */
} job;

static job *job_new(int idx)
{
    job *j = CA.iface.vt->alloc(CA.iface.ctx, sizeof(*j));
    cr_assert_not_null(j);
    memset(j, 0, sizeof(*j));
    j->idx = idx;
    return j;
}

static void job_free(job *j)
{
    CA.iface.vt->free(CA.iface.ctx, j, sizeof(*j));
}

/* Records one run of job idx with status; called with T.mu held. */
static void record_locked(int idx, int status)
{
    if (idx >= 0 && idx < MAX_JOBS)
        T.runs[idx]++;
    if (status == 0) {
        T.ok++;
        if (pthread_equal(pthread_self(), main_tid))
            T.on_main++;
    } else if (status == HZ_ECANCELED) {
        T.cancelled++;
    } else {
        T.bad++;
    }
    T.done++;
    pthread_cond_broadcast(&T.cv);
}

static void never_run(void *arg, int status)
{
    (void)arg;
    (void)status;
    pthread_mutex_lock(&T.mu);
    T.bad++;
    pthread_mutex_unlock(&T.mu);
}

static void count_job(void *arg, int status)
{
    job *j = arg;
    int rc = 1;
    if (j->submit_kids)
        rc = EX.vt->submit(EX.self, never_run, NULL);
    pthread_mutex_lock(&T.mu);
    if (j->submit_kids)
        T.child_rc[j->idx] = rc;
    record_locked(j->idx, status);
    pthread_mutex_unlock(&T.mu);
    job_free(j);
}

/* Holds its worker until the gate opens. Counted as job idx. */
static void gate_job(void *arg, int status)
{
    job *j = arg;
    pthread_mutex_lock(&T.mu);
    if (status == 0) {
        T.inside++;
        pthread_cond_broadcast(&T.cv);
        struct timespec dl = hz_test_deadline_in(WAIT_MS);
        while (!T.open && pthread_cond_timedwait(&T.cv, &T.mu, &dl) != ETIMEDOUT) {
        }
    }
    record_locked(j->idx, status);
    pthread_mutex_unlock(&T.mu);
    job_free(j);
}

static void open_gate(void)
{
    pthread_mutex_lock(&T.mu);
    T.open = 1;
    pthread_cond_broadcast(&T.cv);
    pthread_mutex_unlock(&T.mu);
}

/* Occupies all n workers with gate jobs idx [first, first + n). */
static void occupy_workers(unsigned n, int first)
{
    for (unsigned i = 0; i < n; i++)
        cr_assert_eq(EX.vt->submit(EX.self, gate_job, job_new(first + (int)i)), 0);
    cr_assert_eq(wait_for(&T.inside, (int)n), (int)n, "workers did not all enter the gate");
}

static void create_or_die(const exec_impl *impl, unsigned threads, unsigned cap)
{
    tally_init();
    int rc = impl_create(impl, &EX, threads, cap, impl->policy, &CA.iface);
    cr_assert_eq(rc, 0, "%s: create: %s", kinds[impl->kind].name, hz_strerror(rc));
    cr_assert_not_null(EX.vt);
    cr_assert_not_null(EX.self);
}

static void expect_no_leak(void)
{
    cr_expect_eq(atomic_load(&CA.live_blocks), 0, "live blocks: %ld",
                 (long)atomic_load(&CA.live_blocks));
    cr_expect_eq(atomic_load(&CA.size_mismatches), 0);
}

ParameterizedTestParameters(executor, runs_each_job_once_on_a_worker)
{
    return cr_make_param_array(exec_impl, impls, sizeof(impls) / sizeof(impls[0]));
}

ParameterizedTest(exec_impl *impl, executor, runs_each_job_once_on_a_worker, .timeout = 60)
{
    enum { N = 300 };
    create_or_die(impl, 3, N);
    cr_assert_eq(EX.vt->abi, HZ_BACKEND_ABI);
    cr_assert_not_null(EX.vt->name);
    cr_assert(EX.vt->caps & HZ_EXEC_CAP_THREADSAFE);
    for (int i = 0; i < N; i++)
        cr_assert_eq(EX.vt->submit(EX.self, count_job, job_new(i)), 0, "job %d", i);
    cr_assert_eq(wait_for(&T.done, N), N);
    EX.vt->shutdown(EX.self);
    cr_assert_eq(T.ok, N);
    cr_assert_eq(T.cancelled, 0);
    cr_assert_eq(T.bad, 0);
    cr_assert_eq(T.on_main, 0, "jobs must run on a worker thread");
    for (int i = 0; i < N; i++)
        cr_assert_eq(T.runs[i], 1, "job %d ran %d times", i, T.runs[i]);
    expect_no_leak();
}

Test(executor, pool_reports_its_queue_depth)
{
    cr_assert_not_null(hz_executor_pool_vt.queue_depth, "the pool feeds the metrics gauge");
}

/* A new executor (impl, cap queued jobs) whose workers are all held in
 * gates, then cap count_job jobs queued (kids: each submits one child from
 * inside). Returns the number of workers. */
static unsigned hold_workers_fill_queue(const exec_impl *impl, int cap, int kids)
{
    unsigned nt = impl_threads(impl, 2);
    create_or_die(impl, nt, (unsigned)cap);
    occupy_workers(nt, 100);
    for (int i = 0; i < cap; i++) {
        job *j = job_new(i);
        j->submit_kids = kids;
        cr_assert_eq(EX.vt->submit(EX.self, count_job, j), 0, "job %d", i);
    }
    return nt;
}

ParameterizedTestParameters(executor, full_queue_is_ebusy_and_the_job_never_runs)
{
    return cr_make_param_array(exec_impl, impls, sizeof(impls) / sizeof(impls[0]));
}

ParameterizedTest(exec_impl *impl, executor, full_queue_is_ebusy_and_the_job_never_runs,
                  .timeout = 60)
{
    enum { CAP = 8 };
    /* The workers are all held, so the queue holds exactly CAP jobs... */
    unsigned nt = hold_workers_fill_queue(impl, CAP, 0);
    /* ...and one more crosses the limit. */
    cr_assert_eq(EX.vt->submit(EX.self, never_run, NULL), HZ_EBUSY);
    cr_assert_eq(EX.vt->submit(EX.self, never_run, NULL), HZ_EBUSY);
    cr_assert_eq(read_locked(&T.done), 0);
    /* queue_depth (optional) counts the queued jobs, not the running ones. */
    if (EX.vt->queue_depth)
        cr_assert_eq(EX.vt->queue_depth(EX.self), (unsigned long)CAP);
    open_gate();
    cr_assert_eq(wait_for(&T.done, CAP + (int)nt), CAP + (int)nt);
    if (EX.vt->queue_depth)
        cr_assert_eq(EX.vt->queue_depth(EX.self), 0ul);
    /* Room again once the workers drained the queue. */
    cr_assert_eq(EX.vt->submit(EX.self, count_job, job_new(CAP)), 0);
    cr_assert_eq(wait_for(&T.done, CAP + (int)nt + 1), CAP + (int)nt + 1);
    EX.vt->shutdown(EX.self);
    cr_assert_eq(T.bad, 0, "a refused job ran");
    cr_assert_eq(T.ok, CAP + (int)nt + 1);
    for (int i = 0; i <= CAP; i++)
        cr_assert_eq(T.runs[i], 1, "job %d ran %d times", i, T.runs[i]);
    expect_no_leak();
}

static void *shutdown_thread(void *arg)
{
    (void)arg;
    EX.vt->shutdown(EX.self);
    return NULL;
}

ParameterizedTestParameters(executor, shutdown_with_queued_jobs_runs_each_once)
{
    return cr_make_param_array(exec_impl, impls, sizeof(impls) / sizeof(impls[0]));
}

/* Workers held in gates, a full queue, then shutdown from another thread:
 * submit() turns from HZ_EBUSY to HZ_ECANCELED (never 0) once shutdown began;
 * queued jobs run once each, with 0 (drain) or HZ_ECANCELED (cancel; before
 * the workers are even free); a submit from inside them gets HZ_ECANCELED;
 * every job frees its own arg, so nothing is left allocated. */
ParameterizedTest(exec_impl *impl, executor, shutdown_with_queued_jobs_runs_each_once,
                  .timeout = 60)
{
    enum { CAP = 16 };
    unsigned nt = hold_workers_fill_queue(impl, CAP, 1);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, shutdown_thread, NULL), 0);

    /* Poll submit() until shutdown has begun: the queue is full, so until
     * then the answer is HZ_EBUSY; it must never accept the job. */
    struct timespec dl = hz_test_deadline_in(WAIT_MS), now;
    int rc;
    for (;;) {
        rc = EX.vt->submit(EX.self, never_run, NULL);
        if (rc != HZ_EBUSY)
            break;
        clock_gettime(CLOCK_REALTIME, &now);
        cr_assert(now.tv_sec < dl.tv_sec, "shutdown never began");
        struct timespec tick = {0, 1000000};
        nanosleep(&tick, NULL);
    }
    cr_assert_eq(rc, HZ_ECANCELED, "submit during shutdown: %s", hz_err_name(rc));

    if (impl->policy == CANCEL) {
        /* Cancellation does not wait for the (still held) workers. */
        cr_assert_eq(wait_for(&T.cancelled, CAP), CAP);
        cr_assert_eq(read_locked(&T.ok), 0);
    } else {
        cr_assert_eq(read_locked(&T.done), 0, "workers are held: nothing ran yet");
    }
    open_gate();
    cr_assert_eq(pthread_join(th, NULL), 0);

    /* shutdown has returned: everything ran and was freed. */
    cr_assert_eq(T.done, CAP + (int)nt);
    cr_assert_eq(T.bad, 0);
    if (impl->policy == CANCEL) {
        cr_assert_eq(T.cancelled, CAP);
        cr_assert_eq(T.ok, (int)nt); /* the gate jobs, which were running */
    } else {
        cr_assert_eq(T.cancelled, 0);
        cr_assert_eq(T.ok, CAP + (int)nt);
    }
    for (int i = 0; i < CAP; i++) {
        cr_assert_eq(T.runs[i], 1, "job %d ran %d times", i, T.runs[i]);
        cr_assert_eq(T.child_rc[i], HZ_ECANCELED, "submit from job %d: %s", i,
                     hz_err_name(T.child_rc[i]));
    }
    for (int i = 0; i < (int)nt; i++)
        cr_assert_eq(T.runs[100 + i], 1);
    expect_no_leak();
}

ParameterizedTestParameters(executor, shutdown_when_idle_frees_everything)
{
    return cr_make_param_array(exec_impl, impls, sizeof(impls) / sizeof(impls[0]));
}

ParameterizedTest(exec_impl *impl, executor, shutdown_when_idle_frees_everything, .timeout = 30)
{
    create_or_die(impl, 4, 0); /* 0: the default queue size */
    cr_assert_gt(atomic_load(&CA.live_blocks), 0);
    EX.vt->shutdown(EX.self);
    expect_no_leak();
}

/* N jobs that each wait until all N are inside at once: passes only if the
 * executor runs N of them in parallel. */
static void barrier_job(void *arg, int status)
{
    job *j = arg;
    int n = j->depth;
    pthread_mutex_lock(&T.mu);
    T.inside++;
    pthread_cond_broadcast(&T.cv);
    if (wait_locked(&T.inside, n) < n)
        T.bad++; /* deadline: fewer than n ran at once */
    record_locked(j->idx, status);
    pthread_mutex_unlock(&T.mu);
    job_free(j);
}

static void expect_parallel(unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        job *j = job_new((int)i);
        j->depth = (int)n;
        cr_assert_eq(EX.vt->submit(EX.self, barrier_job, j), 0);
    }
    cr_assert_eq(wait_for(&T.done, (int)n), (int)n);
    EX.vt->shutdown(EX.self);
    cr_assert_eq(T.bad, 0, "the %u jobs did not all run at once", n);
    cr_assert_eq(T.ok, (int)n);
    expect_no_leak();
}

ParameterizedTestParameters(executor, n_threads_run_n_blocking_jobs_at_once)
{
    return cr_make_param_array(exec_impl, impls, sizeof(impls) / sizeof(impls[0]));
}

ParameterizedTest(exec_impl *impl, executor, n_threads_run_n_blocking_jobs_at_once, .timeout = 60)
{
    unsigned nt = impl_threads(impl, 6);
    create_or_die(impl, nt, 64);
    expect_parallel(nt);
}

/* Several threads submit at once; a small queue makes them hit HZ_EBUSY and
 * retry, so the full and non-full paths race under ThreadSanitizer. */
#define SUBMITTERS 4
#define PER_SUBMITTER 250

static pthread_barrier_t start_line;
static atomic_int busy_seen;

static void *submitter(void *arg)
{
    int base = (int)(long)arg * PER_SUBMITTER;
    pthread_barrier_wait(&start_line);
    for (int i = 0; i < PER_SUBMITTER; i++) {
        job *j = job_new(base + i);
        int rc;
        while ((rc = EX.vt->submit(EX.self, count_job, j)) == HZ_EBUSY) {
            atomic_fetch_add(&busy_seen, 1);
            sched_yield();
        }
        if (rc != 0) {
            job_free(j);
            return (void *)1;
        }
    }
    return NULL;
}

ParameterizedTestParameters(executor, concurrent_submitters)
{
    return cr_make_param_array(exec_impl, impls, sizeof(impls) / sizeof(impls[0]));
}

ParameterizedTest(exec_impl *impl, executor, concurrent_submitters, .timeout = 120)
{
    enum { N = SUBMITTERS * PER_SUBMITTER };
    create_or_die(impl, 3, 16);
    atomic_store(&busy_seen, 0);
    pthread_barrier_init(&start_line, NULL, SUBMITTERS);
    pthread_t th[SUBMITTERS];
    for (long i = 0; i < SUBMITTERS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, submitter, (void *)i), 0);
    for (int i = 0; i < SUBMITTERS; i++) {
        void *res;
        pthread_join(th[i], &res);
        cr_assert_null(res, "a submit failed with something else than HZ_EBUSY");
    }
    pthread_barrier_destroy(&start_line);
    cr_assert_eq(wait_for(&T.done, N), N);
    EX.vt->shutdown(EX.self);
    cr_assert_eq(T.ok, N);
    cr_assert_eq(T.bad, 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(T.runs[i], 1, "job %d ran %d times", i, T.runs[i]);
    expect_no_leak();
}

/* A binary tree of jobs: each below the leaves submits two children from
 * inside itself, on the executor's own thread. */
enum { TREE_DEPTH = 7, TREE_JOBS = (1 << TREE_DEPTH) - 1 };
static atomic_int next_idx;
static atomic_int child_fail;

static void tree_job(void *arg, int status)
{
    job *j = arg;
    if (status == 0 && j->depth > 1) {
        for (int k = 0; k < 2; k++) {
            job *c = job_new(atomic_fetch_add(&next_idx, 1));
            c->depth = j->depth - 1;
            if (EX.vt->submit(EX.self, tree_job, c) != 0) {
                atomic_fetch_add(&child_fail, 1);
                job_free(c);
            }
        }
    }
    pthread_mutex_lock(&T.mu);
    record_locked(j->idx, status);
    pthread_mutex_unlock(&T.mu);
    job_free(j);
}

ParameterizedTestParameters(executor, jobs_submit_jobs)
{
    return cr_make_param_array(exec_impl, impls, sizeof(impls) / sizeof(impls[0]));
}

ParameterizedTest(exec_impl *impl, executor, jobs_submit_jobs, .timeout = 60)
{
    create_or_die(impl, 2, TREE_JOBS + 1);
    atomic_store(&next_idx, 1);
    atomic_store(&child_fail, 0);
    job *root = job_new(0);
    root->depth = TREE_DEPTH;
    cr_assert_eq(EX.vt->submit(EX.self, tree_job, root), 0);
    cr_assert_eq(wait_for(&T.done, TREE_JOBS), TREE_JOBS);
    EX.vt->shutdown(EX.self);
    cr_assert_eq(atomic_load(&child_fail), 0);
    cr_assert_eq(T.ok, TREE_JOBS);
    cr_assert_eq(T.on_main, 0);
    for (int i = 0; i < TREE_JOBS; i++)
        cr_assert_eq(T.runs[i], 1, "job %d ran %d times", i, T.runs[i]);
    expect_no_leak();
}

ParameterizedTestParameters(executor, create_under_failing_allocator_leaks_nothing)
{
    return cr_make_param_array(exec_impl, impls, sizeof(impls) / sizeof(impls[0]));
}

ParameterizedTest(exec_impl *impl, executor, create_under_failing_allocator_leaks_nothing,
                  .timeout = 60)
{
    int failed_creates = 0;
    for (long nth = 1; nth < 100; nth++) {
        hz_fail_alloc_init(&CA, nth, 0);                     /* one failure at a time: every path */
        hz_executor ex = {(const hz_executor_vt *)&ex, &ex}; /* garbage to be cleared */
        int rc = impl_create(impl, &ex, 2, 8, impl->policy, &CA.iface);
        if (rc == 0) {
            cr_assert_eq(atomic_load(&CA.failures), 0, "create succeeded despite a failure");
            ex.vt->shutdown(ex.self);
            expect_no_leak();
            break;
        }
        failed_creates++;
        cr_assert_eq(rc, HZ_ENOMEM, "nth %ld: %s", nth, hz_err_name(rc));
        cr_assert_null(ex.vt);
        cr_assert_null(ex.self);
        cr_assert_eq(atomic_load(&CA.live_blocks), 0, "nth %ld leaked", nth);
    }
    cr_assert_gt(failed_creates, 0, "no allocation was failed");
}

ParameterizedTestParameters(executor, refuses_bad_arguments)
{
    return cr_make_param_array(exec_impl, impls, sizeof(impls) / sizeof(impls[0]));
}

ParameterizedTest(exec_impl *impl, executor, refuses_bad_arguments, .timeout = 30)
{
    /* An allocator that is not thread-safe cannot serve worker threads. */
    static hz_allocator_vt single_vt;
    tally_init();
    single_vt = *CA.iface.vt;
    single_vt.caps &= ~(unsigned)HZ_ALLOC_CAP_THREADSAFE;
    hz_allocator single = {&single_vt, CA.iface.ctx};
    hz_executor ex;
    cr_assert_eq(impl_create(impl, &ex, 1, 4, impl->policy, &single), HZ_EINVAL);
    cr_assert_null(ex.vt);
    cr_assert_null(ex.self);
    cr_assert_eq(impl_create(impl, &ex, 1, 4, 7 /* no such policy */, &CA.iface), HZ_EINVAL);
    cr_assert_eq(atomic_load(&CA.calls), 0, "refused before allocating");

    create_or_die(impl, 1, 4);
    cr_assert_eq(EX.vt->submit(EX.self, NULL, NULL), HZ_EINVAL);
    EX.vt->shutdown(EX.self);
    expect_no_leak();
}

/* ------------------------------------------------------------------------ */
/* Pool-only and example-only behaviour                                      */
/* ------------------------------------------------------------------------ */

Test(exec_pool, zero_threads_means_one_per_online_core, .timeout = 60)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cr_assert_gt(cores, 0);
    tally_init();
    cr_assert_eq(hz_executor_pool_create(&EX, NULL, &CA.iface), 0);
    cr_assert_eq(EX.vt, &hz_executor_pool_vt);
    expect_parallel((unsigned)cores);
}

Test(exec_pool, default_create_drains_on_shutdown, .timeout = 60)
{
    enum { CAP = 4 };
    tally_init();
    cr_assert_eq(make_pool(&EX, 1, CAP, HZ_POOL_DRAIN, &CA.iface), 0);
    occupy_workers(1, 100);
    for (int i = 0; i < CAP; i++)
        cr_assert_eq(EX.vt->submit(EX.self, count_job, job_new(i)), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, shutdown_thread, NULL), 0);
    open_gate();
    pthread_join(th, NULL);
    cr_assert_eq(T.ok, CAP + 1);
    cr_assert_eq(T.cancelled, 0);
    expect_no_leak();
}

Test(exec_pool, options_out_of_range_are_refused, .timeout = 30)
{
    hz_executor_pool_options opt;
    hz_executor ex;
    tally_init();
    hz_executor_pool_options_init(&opt);
    cr_assert_eq(opt.threads, 0);
    cr_assert_eq(opt.queue_cap, 0);
    cr_assert_eq(opt.on_shutdown, HZ_POOL_DRAIN);
    opt.threads = 1025;
    cr_assert_eq(hz_executor_pool_create(&ex, &opt, &CA.iface), HZ_EINVAL);
    opt.threads = 1;
    opt.queue_cap = (1u << 24) + 1;
    cr_assert_eq(hz_executor_pool_create(&ex, &opt, &CA.iface), HZ_EINVAL);
    cr_assert_eq(hz_executor_pool_create(NULL, &opt, &CA.iface), HZ_EINVAL);
    cr_assert_eq(atomic_load(&CA.calls), 0);
    /* the largest queue is accepted (and allocated once) */
    opt.queue_cap = 1u << 24;
    cr_assert_eq(hz_executor_pool_create(&ex, &opt, &CA.iface), 0);
    ex.vt->shutdown(ex.self);
    expect_no_leak();
}

/* The example's point: a held worker, then jobs of mixed priority; they run
 * highest first, FIFO among equals, and the vtable's submit() queues at the
 * default priority. */
static int order[16];
static int norder;

static void prio_job(void *arg, int status)
{
    pthread_mutex_lock(&T.mu);
    if (norder < 16)
        order[norder++] = (int)(long)arg;
    record_locked(-1, status);
    pthread_mutex_unlock(&T.mu);
}

Test(custom_executor, runs_by_priority_fifo_among_equals, .timeout = 30)
{
    tally_init();
    norder = 0;
    cr_assert_eq(custom_executor_create(&EX, 16, CUSTOM_EXEC_DRAIN, &CA.iface), 0);
    occupy_workers(1, 100);
    cr_assert_eq(custom_executor_submit_prio(EX.self, 1, prio_job, (void *)1L), 0);
    cr_assert_eq(custom_executor_submit_prio(EX.self, 5, prio_job, (void *)51L), 0);
    cr_assert_eq(EX.vt->submit(EX.self, prio_job, (void *)0L), 0);
    cr_assert_eq(custom_executor_submit_prio(EX.self, -3, prio_job, (void *)-3L), 0);
    cr_assert_eq(custom_executor_submit_prio(EX.self, 3, prio_job, (void *)3L), 0);
    cr_assert_eq(custom_executor_submit_prio(EX.self, 5, prio_job, (void *)52L), 0);
    cr_assert_eq(custom_executor_submit_prio(EX.self, 5, prio_job, (void *)53L), 0);
    open_gate();
    cr_assert_eq(wait_for(&T.done, 8), 8);
    EX.vt->shutdown(EX.self);
    static const int want[] = {51, 52, 53, 3, 1, 0, -3};
    cr_assert_eq(norder, 7);
    for (int i = 0; i < 7; i++)
        cr_assert_eq(order[i], want[i], "position %d: %d, want %d", i, order[i], want[i]);
    expect_no_leak();
}
