/* exec_pool.c - the executor vtable as a fixed thread pool.
 *
 * Exports exactly: const hz_executor_vt hz_executor_pool_vt;
 * (plus its create functions, declared in httpz/backend.h).
 *
 * One mutex and one condition variable guard a ring buffer of jobs that is
 * allocated once at create time, so submit() never allocates and a full ring
 * answers HZ_EBUSY at once (the caller sheds load instead of blocking a loop
 * thread). Idle workers sleep on the condition variable; submit() signals one
 * only when someone is asleep.
 *
 * Shutdown (called once, from any thread but one of the pool's own workers):
 *   - marks the pool stopping: every later submit() gets HZ_ECANCELED, also
 *     from jobs still running, so nothing can be queued behind the drain;
 *   - HZ_POOL_DRAIN: the workers run what is queued (status 0), then exit;
 *   - HZ_POOL_CANCEL: the workers finish only the job in their hands; the
 *     shutdown caller runs every queued job with HZ_ECANCELED;
 *   - joins the workers, then frees everything through the allocator.
 * Either way every accepted job runs exactly once, so its owner can free arg.
 */
#include <unistd.h>
#if !defined(_POSIX_THREADS) || _POSIX_THREADS <= 0
#error "backends/exec-pool needs POSIX threads"
#endif

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <httpz/httpz.h>
#include <httpz/backend.h>

#define POOL_DEFAULT_QUEUE 1024u
#define POOL_MAX_THREADS 1024u
#define POOL_MAX_QUEUE (1u << 24)

typedef struct pool_job {
    hz_job_fn fn;
    void *arg; /* borrowed: owned by whoever submitted the job */
} pool_job;

typedef struct pool {     /* owner: the creator; freed by pool_shutdown() */
    hz_allocator a;       /* copied from create; thread-safe (checked) */
    pthread_mutex_t mu;   /* guards the fields from ring to stopping */
    pthread_cond_t cv;    /* workers wait here for a job or for stopping */
    pool_job *ring;       /* owns: cap slots, allocated once */
    unsigned cap;         /* ring size */
    unsigned head;        /* index of the oldest queued job */
    unsigned count;       /* queued (not yet started) jobs */
    unsigned idle;        /* workers asleep on cv */
    unsigned on_shutdown; /* HZ_POOL_DRAIN or HZ_POOL_CANCEL */
    int stopping;         /* set once by shutdown; submit() refuses after */
    pthread_t *threads;   /* owns: tcap slots; written only by create */
    unsigned tcap;        /* slots of threads */
    unsigned nthreads;    /* workers started (and to be joined) */
} pool;

static void pool_pop(pool *p, pool_job *out)
{
    *out = p->ring[p->head];
    p->head = p->head + 1 == p->cap ? 0 : p->head + 1;
    p->count--;
}

static void *pool_worker(void *arg)
{
    pool *p = arg;
    pool_job j;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->count == 0 && !p->stopping) {
            p->idle++;
            pthread_cond_wait(&p->cv, &p->mu);
            p->idle--;
        }
        /* Stopping: under DRAIN keep going until the ring is empty; under
         * CANCEL the shutdown caller owns whatever is still queued. */
        if (p->count == 0 || (p->stopping && p->on_shutdown == HZ_POOL_CANCEL))
            break;
        pool_pop(p, &j);
        pthread_mutex_unlock(&p->mu);
        j.fn(j.arg, 0);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int pool_submit(void *self, hz_job_fn fn, void *arg)
{
    pool *p = self;
    int rc = 0;
    if (!p || !fn)
        return HZ_EINVAL;
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        rc = HZ_ECANCELED;
    } else if (p->count == p->cap) {
        rc = HZ_EBUSY;
    } else {
        unsigned tail = p->head + p->count;
        if (tail >= p->cap)
            tail -= p->cap;
        p->ring[tail].fn = fn;
        p->ring[tail].arg = arg;
        p->count++;
        /* Signalled under the lock: once it is released, a concurrent
         * shutdown may run to its end and destroy cv. */
        if (p->idle)
            pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Marks p stopping, runs the queue's cancellations per policy, joins the
 * workers. Afterwards the ring is empty: submit() refuses once stopping is
 * set, and under DRAIN a worker leaves only when the ring is empty. */
static void pool_stop_join(pool *p)
{
    pool_job j;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    /* Cancelled jobs run here one at a time, outside the lock, so a job may
     * call submit() (it gets HZ_ECANCELED) or take its own locks. */
    while (p->on_shutdown == HZ_POOL_CANCEL && p->count > 0) {
        pool_pop(p, &j);
        pthread_mutex_unlock(&p->mu);
        j.fn(j.arg, HZ_ECANCELED);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
}

/* Frees a pool whose workers have all been joined (or never started). */
static void pool_free(pool *p)
{
    hz_allocator a = p->a;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    hz_alloc_free(&a, p->threads, sizeof(*p->threads) * p->tcap);
    hz_alloc_free(&a, p->ring, sizeof(*p->ring) * p->cap);
    hz_alloc_free(&a, p, sizeof(*p));
}

static void pool_shutdown(void *self)
{
    pool *p = self;
    if (!p)
        return;
    pool_stop_join(p);
    pool_free(p);
}

static unsigned long pool_queue_depth(void *self)
{
    pool *p = self;
    pthread_mutex_lock(&p->mu);
    unsigned long n = p->count;
    pthread_mutex_unlock(&p->mu);
    return n;
}

const hz_executor_vt hz_executor_pool_vt = {
    .abi = HZ_BACKEND_ABI,
    .name = "pool",
    .caps = HZ_EXEC_CAP_THREADSAFE,
    .submit = pool_submit,
    .shutdown = pool_shutdown,
    .queue_depth = pool_queue_depth,
};

void hz_executor_pool_destroy(hz_executor *ex)
{
    if (!ex || !ex->vt)
        return;
    const hz_executor_vt *vt = ex->vt;
    void *self = ex->self;
    ex->vt = NULL;
    ex->self = NULL;
    vt->shutdown(self);
}

/* The smallest hz_executor_pool_options.size accepted (docs/abi.md). */
#define POOL_OPTIONS_SIZE_MIN                                                                      \
    (offsetof(hz_executor_pool_options, on_shutdown) +                                             \
     sizeof(((hz_executor_pool_options *)0)->on_shutdown))

static void pool_options_defaults(hz_executor_pool_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->size = sizeof(*opt);
    opt->threads = 0;
    opt->queue_cap = 0;
    opt->on_shutdown = HZ_POOL_DRAIN;
}

void hz_executor_pool_options_init_sized(hz_executor_pool_options *opt, size_t size)
{
    hz_executor_pool_options d;
    pool_options_defaults(&d);
    hz_sized_init(opt, size, &d, sizeof(d));
}

static unsigned online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > (long)POOL_MAX_THREADS ? POOL_MAX_THREADS : (unsigned)n;
}

/* Starts the workers with every asynchronous signal blocked, so a process's
 * SIGINT/SIGTERM handler runs on one of its own threads, never inside a job.
 * Synchronous faults stay unblocked so crashes are still reported. */
static int pool_start_threads(pool *p, unsigned want)
{
    sigset_t all, old;
    int rc = 0;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGABRT);
    sigdelset(&all, SIGTRAP);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (p->nthreads < want) {
        if (pthread_create(&p->threads[p->nthreads], NULL, pool_worker, p) != 0) {
            rc = HZ_ESYS;
            break;
        }
        p->nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int hz_executor_pool_create(hz_executor *out, const hz_executor_pool_options *user_opt,
                            const hz_allocator *a)
{
    hz_executor_pool_options full;
    pool *p;
    int rc;
    unsigned want, cap;
    if (!out)
        return HZ_EINVAL;
    out->vt = NULL;
    out->self = NULL;
    pool_options_defaults(&full);
    if (user_opt && hz_sized_import(&full, sizeof(full), user_opt, POOL_OPTIONS_SIZE_MIN) < 0)
        return HZ_EINVAL;
    const hz_executor_pool_options *opt = &full;
    if (!a)
        a = &hz_allocator_default;
    if ((rc = hz_allocator_check(a)) < 0)
        return rc;
    /* Jobs run and the pool is freed on other threads than the creator's. */
    if (!(a->vt->caps & HZ_ALLOC_CAP_THREADSAFE))
        return HZ_EINVAL;
    if (opt->on_shutdown != HZ_POOL_DRAIN && opt->on_shutdown != HZ_POOL_CANCEL)
        return HZ_EINVAL;
    if (opt->threads > POOL_MAX_THREADS || opt->queue_cap > POOL_MAX_QUEUE)
        return HZ_EINVAL;
    want = opt->threads ? opt->threads : online_cores();
    cap = opt->queue_cap ? opt->queue_cap : POOL_DEFAULT_QUEUE;

    p = hz_alloc_zero(a, sizeof(*p));
    if (!p)
        return HZ_ENOMEM;
    p->a = *a;
    p->on_shutdown = opt->on_shutdown;
    p->cap = cap;
    p->tcap = want;
    p->ring = hz_alloc(a, sizeof(*p->ring) * cap);
    p->threads = hz_alloc(a, sizeof(*p->threads) * want);
    rc = HZ_ENOMEM;
    if (!p->ring || !p->threads)
        goto fail;
    rc = HZ_ESYS;
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        goto fail;
    }
    if ((rc = pool_start_threads(p, want)) < 0) {
        pool_stop_join(p); /* nothing queued: joins the workers that started */
        pool_free(p);
        return rc;
    }
    out->vt = &hz_executor_pool_vt;
    out->self = p;
    return 0;

fail:
    hz_alloc_free(a, p->threads, sizeof(*p->threads) * want);
    hz_alloc_free(a, p->ring, sizeof(*p->ring) * cap);
    hz_alloc_free(a, p, sizeof(*p));
    return rc;
}
