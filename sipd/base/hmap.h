/* hmap.h - chained hash map from byte-string keys to opaque pointers.
 *
 * The map owns copies of its keys; values belong to the caller. Grows by doubling. */
#ifndef SIPD_HMAP_H
#define SIPD_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_entry {
    struct hmap_entry *next;
    uint64_t hash;
    size_t klen;
    void *val;
    char key[]; /* NUL-terminated copy */
};

struct hmap {
    struct hmap_entry **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
};

uint64_t hmap_hash(const void *key, size_t len);
void hmap_init(struct hmap *m);
/* Frees entries (and keys), not values. */
void hmap_free(struct hmap *m);
void *hmap_get(const struct hmap *m, const void *key, size_t klen);
/* The entry of key (its key copy lives as long as the entry), or NULL. */
struct hmap_entry *hmap_find(const struct hmap *m, const void *key, size_t klen);
/* Insert or replace. Returns 0, or -ENOMEM. If old is non-NULL it receives the replaced value. */
int hmap_put(struct hmap *m, const void *key, size_t klen, void *val, void **old);
/* Removes key; returns its value or NULL. */
void *hmap_del(struct hmap *m, const void *key, size_t klen);

/* Iteration: for (e = hmap_first(m, &i); e; e = hmap_next(m, e, &i)). Do not modify while iterating
 * except through hmap_del of the current entry AFTER advancing. */
struct hmap_entry *hmap_first(const struct hmap *m, size_t *bucket);
struct hmap_entry *hmap_next(const struct hmap *m, struct hmap_entry *e, size_t *bucket);

#endif
