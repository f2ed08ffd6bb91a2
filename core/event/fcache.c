/* fcache.c - the loop's open-file cache (fcache.h; docs/architecture.md,
 * "Open-file cache"). */
#include <string.h>
#include <unistd.h>
#include "fcache.h"
#include "loop.h"

typedef struct fcent fcent;
struct fcent {          /* owner: its cache (table + list, or the dropped list) */
    fcent *hnext;       /* borrowed: the bucket's chain */
    fcent *prev, *next; /* borrowed: insertion order (or the dropped list) */
    const void *owner;  /* borrowed: the caller's key part, never dereferenced */
    uint64_t expires;   /* ms (loop->now) */
    uint32_t hash;
    int fd;               /* owns */
    unsigned refs;        /* references out (gets, puts, sources) */
    unsigned dropped : 1; /* off the table: closed when refs reach 0 */
    uint16_t meta_len;
    uint32_t klen;
    unsigned char data[]; /* meta, then key */
};

struct hz__fcache {         /* owner: its loop (loop->fcache) */
    fcent **buckets;        /* owns the array; entries are owned by the lists */
    uint32_t mask;          /* buckets - 1 */
    unsigned n;             /* entries in the table */
    fcent *oldest, *newest; /* borrowed: the table's entries, insertion order */
    fcent *dropped;         /* borrowed: off the table, references out */
};

static size_t ent_size(const fcent *e)
{
    return sizeof(*e) + e->meta_len + e->klen;
}

static uint32_t fnv(const void *owner, const char *k, size_t n)
{
    uint32_t h = 2166136261u;
    uintptr_t o = (uintptr_t)owner;
    for (size_t i = 0; i < sizeof(o); i++, o >>= 8)
        h = (h ^ (uint8_t)o) * 16777619u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)k[i]) * 16777619u;
    return h;
}

static void ent_free(hz__loop *loop, fcent *e)
{
    close(e->fd);
    hz__free(&loop->srv->a, e, ent_size(e));
}

/* Off the table (and off the insertion list); closed now unless a
 * reference is out, else kept on the dropped list until it comes back. */
static void ent_drop(hz__loop *loop, hz__fcache *fc, fcent *e)
{
    fcent **pp = &fc->buckets[e->hash & fc->mask];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->prev)
        e->prev->next = e->next;
    else
        fc->oldest = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        fc->newest = e->prev;
    fc->n--;
    if (!e->refs) {
        ent_free(loop, e);
        return;
    }
    e->dropped = 1;
    e->prev = NULL;
    e->next = fc->dropped;
    if (fc->dropped)
        fc->dropped->prev = e;
    fc->dropped = e;
}

static fcent *find_fd(hz__fcache *fc, int fd)
{
    for (fcent *e = fc->newest; e; e = e->prev)
        if (e->fd == fd)
            return e;
    for (fcent *e = fc->dropped; e; e = e->next)
        if (e->fd == fd)
            return e;
    return NULL;
}

int hz__fcache_get(hz__loop *loop, const void *owner, const char *key, size_t klen, void *meta,
                   size_t meta_len)
{
    hz__fcache *fc = loop->fcache;
    if (!fc || !fc->n)
        return HZ_ENOENT;
    uint32_t h = fnv(owner, key, klen);
    for (fcent *e = fc->buckets[h & fc->mask]; e; e = e->hnext) {
        if (e->hash != h || e->owner != owner || e->klen != klen ||
            memcmp(e->data + e->meta_len, key, klen) != 0)
            continue;
        if (loop->now >= e->expires || e->meta_len != meta_len) {
            ent_drop(loop, fc, e);
            return HZ_ENOENT;
        }
        if (meta_len) /* meta may be NULL then (memcpy's NULL is undefined) */
            memcpy(meta, e->data, meta_len);
        e->refs++;
        return e->fd;
    }
    return HZ_ENOENT;
}

int hz__fcache_put(hz__loop *loop, const void *owner, const char *key, size_t klen, unsigned max,
                   unsigned ttl_ms, int fd, const void *meta, size_t meta_len)
{
    if (!max || !ttl_ms || fd < 0 || meta_len > HZ__FCACHE_META_MAX || klen > HZ__FCACHE_KEY_MAX)
        return HZ_EINVAL;
    const hz_allocator *a = &loop->srv->a;
    hz__fcache *fc = loop->fcache;
    if (!fc) {
        uint32_t nb = 16;
        while (nb < 2u * max && nb < (1u << 16))
            nb <<= 1;
        fc = hz__alloc(a, sizeof(*fc));
        if (!fc)
            return HZ_ENOMEM;
        memset(fc, 0, sizeof(*fc));
        fc->buckets = hz__alloc(a, sizeof(*fc->buckets) * nb);
        if (!fc->buckets) {
            hz__free(a, fc, sizeof(*fc));
            return HZ_ENOMEM;
        }
        memset(fc->buckets, 0, sizeof(*fc->buckets) * nb);
        fc->mask = nb - 1;
        loop->fcache = fc;
    }
    /* The same key again (a concurrent miss, or an expired entry not
     * looked up since): the new fd replaces it. */
    uint32_t h = fnv(owner, key, klen);
    for (fcent *e = fc->buckets[h & fc->mask]; e; e = e->hnext)
        if (e->hash == h && e->owner == owner && e->klen == klen &&
            !memcmp(e->data + e->meta_len, key, klen)) {
            ent_drop(loop, fc, e);
            break;
        }
    while (fc->oldest && loop->now >= fc->oldest->expires)
        ent_drop(loop, fc, fc->oldest);
    while (fc->n >= max && fc->oldest)
        ent_drop(loop, fc, fc->oldest);
    fcent *e = hz__alloc(a, sizeof(*e) + meta_len + klen);
    if (!e)
        return HZ_ENOMEM;
    memset(e, 0, sizeof(*e));
    e->owner = owner;
    e->expires = loop->now + ttl_ms;
    e->hash = h;
    e->fd = fd;
    e->refs = 1;
    e->meta_len = (uint16_t)meta_len;
    e->klen = (uint32_t)klen;
    if (meta_len) /* meta may be NULL then */
        memcpy(e->data, meta, meta_len);
    memcpy(e->data + meta_len, key, klen);
    fcent **b = &fc->buckets[h & fc->mask];
    e->hnext = *b;
    *b = e;
    e->prev = fc->newest;
    if (fc->newest)
        fc->newest->next = e;
    else
        fc->oldest = e;
    fc->newest = e;
    fc->n++;
    return 0;
}

int hz__fcache_holds(hz__loop *loop, int fd)
{
    return loop->fcache && find_fd(loop->fcache, fd) != NULL;
}

void hz__fcache_release(hz__loop *loop, int fd)
{
    hz__fcache *fc = loop->fcache;
    fcent *e = fc ? find_fd(fc, fd) : NULL;
    if (!e) {
        close(fd);
        return;
    }
    if (e->refs)
        e->refs--;
    if (!e->refs && e->dropped) {
        if (e->prev)
            e->prev->next = e->next;
        else
            fc->dropped = e->next;
        if (e->next)
            e->next->prev = e->prev;
        ent_free(loop, e);
    }
}

void hz__fcache_free(hz__loop *loop)
{
    hz__fcache *fc = loop->fcache;
    if (!fc)
        return;
    loop->fcache = NULL;
    const hz_allocator *a = &loop->srv->a;
    for (int pass = 0; pass < 2; pass++) {
        fcent *e = pass ? fc->dropped : fc->oldest;
        while (e) {
            fcent *next = e->next;
            ent_free(loop, e);
            e = next;
        }
    }
    hz__free(a, fc->buckets, sizeof(*fc->buckets) * (fc->mask + 1u));
    hz__free(a, fc, sizeof(*fc));
}

unsigned hz__fcache_count(const hz__loop *loop)
{
    return loop->fcache ? loop->fcache->n : 0;
}
