/* store_impl.h - what a store backend implements. Private to sipd/store/. */
#ifndef SIPD_STORE_IMPL_H
#define SIPD_STORE_IMPL_H

#include "store.h"

struct store_ops {
    const char *name;
    void (*destroy)(struct store *st);
    int (*is_available)(const struct store *st);
    size_t (*pending)(const struct store *st);
    void (*location_update)(struct store *st, const char *aor, int64_t now, store_update_fn update,
                            store_bindings_cb done, void *arg);
    void (*location_lookup)(struct store *st, const char *aor, int64_t now, store_bindings_cb done,
                            void *arg);
    void (*location_expire)(struct store *st, int64_t now, store_status_cb done, void *arg);
    long (*location_count)(const struct store *st, long *nbindings);
    int (*aor_known)(const struct store *st, const char *aor); /* may be NULL: cannot tell */
};

/* Every backend's struct starts with this. */
struct store {
    const struct store_ops *ops;
    struct loop *loop;
};

struct store *store_mem_create(struct loop *loop);
struct store *store_pg_create(struct loop *loop, const char *conninfo);

/* Order bindings as lookups return them: q descending (absent q counts as 1.0), then most
 * recently updated first. Shared by both backends. */
void store_sort_bindings(struct binding *v, size_t n);

#endif
