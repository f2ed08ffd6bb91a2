/* custom_executor.c - a user-written executor: one worker thread, a bounded
 * priority queue (a binary max-heap). See custom_executor.h for the use.
 *
 * Written against the public headers only, as a user outside the library
 * would write it. The pattern is the same as the library's pool:
 *   - all state behind one mutex; the worker sleeps on a condition variable;
 *   - the queue is allocated once, so submit() never allocates and answers
 *     HZ_EBUSY when full (the server turns that into 503 + Retry-After);
 *   - a job runs outside the lock, so it may submit more jobs;
 *   - shutdown refuses new jobs first, then drains or cancels, so every
 *     accepted job runs exactly once and its owner can always free its arg.
 */
#include <pthread.h>
#include <string.h>
#include "custom_executor.h"

#define CX_DEFAULT_QUEUE 256u
#define CX_MAX_QUEUE (1u << 20)

typedef struct cx_entry {
    int prio;
    unsigned long long seq; /* submission order: FIFO among equal priorities */
    hz_job_fn fn;
    void *arg; /* borrowed: owned by the submitter */
} cx_entry;

typedef struct cx {     /* owner: the creator; freed by cx_shutdown() */
    hz_allocator a;     /* copied; thread-safe */
    pthread_mutex_t mu; /* guards heap..stopping */
    pthread_cond_t cv;  /* the worker waits for a job or for stopping */
    cx_entry *heap;     /* owns: cap entries */
    unsigned cap;
    unsigned count;
    unsigned long long next_seq;
    unsigned on_shutdown; /* CUSTOM_EXEC_DRAIN or CUSTOM_EXEC_CANCEL */
    int stopping;
    pthread_t worker; /* joined by cx_shutdown() */
} cx;

/* a runs before b: higher priority, then older. */
static int cx_before(const cx_entry *a, const cx_entry *b)
{
    return a->prio != b->prio ? a->prio > b->prio : a->seq < b->seq;
}

static void cx_push(cx *x, cx_entry e)
{
    unsigned i = x->count++;
    while (i > 0) {
        unsigned parent = (i - 1) / 2;
        if (!cx_before(&e, &x->heap[parent]))
            break;
        x->heap[i] = x->heap[parent];
        i = parent;
    }
    x->heap[i] = e;
}

static cx_entry cx_pop(cx *x)
{
    cx_entry top = x->heap[0];
    cx_entry last = x->heap[--x->count];
    unsigned i = 0;
    for (;;) {
        unsigned child = 2 * i + 1;
        if (child >= x->count)
            break;
        if (child + 1 < x->count && cx_before(&x->heap[child + 1], &x->heap[child]))
            child++;
        if (!cx_before(&x->heap[child], &last))
            break;
        x->heap[i] = x->heap[child];
        i = child;
    }
    if (x->count > 0)
        x->heap[i] = last;
    return top;
}

static void *cx_worker(void *arg)
{
    cx *x = arg;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        while (x->count == 0 && !x->stopping)
            pthread_cond_wait(&x->cv, &x->mu);
        if (x->count == 0 || (x->stopping && x->on_shutdown == CUSTOM_EXEC_CANCEL))
            break;
        cx_entry e = cx_pop(x);
        pthread_mutex_unlock(&x->mu);
        e.fn(e.arg, 0);
        pthread_mutex_lock(&x->mu);
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

int custom_executor_submit_prio(void *self, int prio, hz_job_fn fn, void *arg)
{
    cx *x = self;
    int rc = 0;
    if (!x || !fn)
        return HZ_EINVAL;
    pthread_mutex_lock(&x->mu);
    if (x->stopping) {
        rc = HZ_ECANCELED;
    } else if (x->count == x->cap) {
        rc = HZ_EBUSY;
    } else {
        cx_entry e = {prio, x->next_seq++, fn, arg};
        cx_push(x, e);
        pthread_cond_signal(&x->cv); /* under the lock: shutdown may free cv after */
    }
    pthread_mutex_unlock(&x->mu);
    return rc;
}

static int cx_submit(void *self, hz_job_fn fn, void *arg)
{
    return custom_executor_submit_prio(self, CUSTOM_EXEC_PRIO_DEFAULT, fn, arg);
}

static void cx_free(cx *x)
{
    hz_allocator a = x->a;
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    hz_alloc_free(&a, x->heap, sizeof(*x->heap) * x->cap);
    hz_alloc_free(&a, x, sizeof(*x));
}

static void cx_shutdown(void *self)
{
    cx *x = self;
    if (!x)
        return;
    pthread_mutex_lock(&x->mu);
    x->stopping = 1;
    pthread_cond_signal(&x->cv);
    /* Cancelled jobs run on this thread, outside the lock, by priority. */
    while (x->on_shutdown == CUSTOM_EXEC_CANCEL && x->count > 0) {
        cx_entry e = cx_pop(x);
        pthread_mutex_unlock(&x->mu);
        e.fn(e.arg, HZ_ECANCELED);
        pthread_mutex_lock(&x->mu);
    }
    pthread_mutex_unlock(&x->mu);
    pthread_join(x->worker, NULL);
    cx_free(x);
}

const hz_executor_vt custom_executor_vt = {
    .abi = HZ_BACKEND_ABI,
    .name = "custom-prio",
    .caps = HZ_EXEC_CAP_THREADSAFE,
    .submit = cx_submit,
    .shutdown = cx_shutdown,
};

int custom_executor_create(hz_executor *out, unsigned queue_cap, unsigned on_shutdown,
                           const hz_allocator *a)
{
    cx *x;
    int rc = HZ_ESYS;
    if (!out)
        return HZ_EINVAL;
    out->vt = NULL;
    out->self = NULL;
    if (!a)
        a = &hz_allocator_default;
    if ((rc = hz_allocator_check(a)) < 0) /* the helpers of <httpz/backend.h> */
        return rc;
    /* The worker thread and the shutdown caller may differ from this one. */
    if (!(a->vt->caps & HZ_ALLOC_CAP_THREADSAFE))
        return HZ_EINVAL;
    if (on_shutdown != CUSTOM_EXEC_DRAIN && on_shutdown != CUSTOM_EXEC_CANCEL)
        return HZ_EINVAL;
    if (queue_cap > CX_MAX_QUEUE)
        return HZ_EINVAL;
    if (queue_cap == 0)
        queue_cap = CX_DEFAULT_QUEUE;

    rc = HZ_ESYS;
    x = hz_alloc_zero(a, sizeof(*x));
    if (!x)
        return HZ_ENOMEM;
    x->a = *a;
    x->cap = queue_cap;
    x->on_shutdown = on_shutdown;
    x->heap = hz_alloc(a, sizeof(*x->heap) * queue_cap);
    if (!x->heap) {
        rc = HZ_ENOMEM;
        goto fail;
    }
    if (pthread_mutex_init(&x->mu, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&x->cv, NULL) != 0) {
        pthread_mutex_destroy(&x->mu);
        goto fail;
    }
    if (pthread_create(&x->worker, NULL, cx_worker, x) != 0) {
        pthread_cond_destroy(&x->cv);
        pthread_mutex_destroy(&x->mu);
        goto fail;
    }
    out->vt = &custom_executor_vt;
    out->self = x;
    return 0;

fail:
    hz_alloc_free(a, x->heap, sizeof(*x->heap) * queue_cap);
    hz_alloc_free(a, x, sizeof(*x));
    return rc;
}
