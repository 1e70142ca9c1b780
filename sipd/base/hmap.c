/* hmap.c - chained hash map; see hmap.h. FNV-1a hashing (keys are short SIP tokens). */
#include "hmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t hmap_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

void hmap_init(struct hmap *m)
{
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
}

void hmap_free(struct hmap *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct hmap_entry *e = m->buckets[i];
        while (e) {
            struct hmap_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    free(m->buckets);
    hmap_init(m);
}

static struct hmap_entry **find_slot(const struct hmap *m, const void *key, size_t klen, uint64_t h)
{
    if (!m->nbuckets)
        return NULL;
    struct hmap_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        struct hmap_entry *e = *pp;
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return pp;
    }
    return pp;
}

void *hmap_get(const struct hmap *m, const void *key, size_t klen)
{
    uint64_t h = hmap_hash(key, klen);
    struct hmap_entry **pp = find_slot(m, key, klen, h);
    return pp && *pp ? (*pp)->val : NULL;
}

struct hmap_entry *hmap_find(const struct hmap *m, const void *key, size_t klen)
{
    struct hmap_entry **pp = find_slot(m, key, klen, hmap_hash(key, klen));
    return pp ? *pp : NULL;
}

static int grow(struct hmap *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 64;
    struct hmap_entry **nb = calloc(n, sizeof *nb);
    if (!nb)
        return -ENOMEM;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct hmap_entry *e = m->buckets[i];
        while (e) {
            struct hmap_entry *next = e->next;
            size_t b = e->hash & (n - 1);
            e->next = nb[b];
            nb[b] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = nb;
    m->nbuckets = n;
    return 0;
}

int hmap_put(struct hmap *m, const void *key, size_t klen, void *val, void **old)
{
    if (old)
        *old = NULL;
    if (m->count >= m->nbuckets && grow(m))
        return -ENOMEM;
    uint64_t h = hmap_hash(key, klen);
    struct hmap_entry **pp = find_slot(m, key, klen, h);
    if (*pp) {
        if (old)
            *old = (*pp)->val;
        (*pp)->val = val;
        return 0;
    }
    struct hmap_entry *e = malloc(sizeof *e + klen + 1);
    if (!e)
        return -ENOMEM;
    e->next = NULL;
    e->hash = h;
    e->klen = klen;
    e->val = val;
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    *pp = e;
    m->count++;
    return 0;
}

void *hmap_del(struct hmap *m, const void *key, size_t klen)
{
    uint64_t h = hmap_hash(key, klen);
    struct hmap_entry **pp = find_slot(m, key, klen, h);
    if (!pp || !*pp)
        return NULL;
    struct hmap_entry *e = *pp;
    void *v = e->val;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}

struct hmap_entry *hmap_first(const struct hmap *m, size_t *bucket)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        if (m->buckets[i]) {
            *bucket = i;
            return m->buckets[i];
        }
    }
    return NULL;
}

struct hmap_entry *hmap_next(const struct hmap *m, struct hmap_entry *e, size_t *bucket)
{
    if (e->next)
        return e->next;
    for (size_t i = *bucket + 1; i < m->nbuckets; i++) {
        if (m->buckets[i]) {
            *bucket = i;
            return m->buckets[i];
        }
    }
    return NULL;
}
