/* store.c - backend selection and dispatch; see store.h. */
#include <stdlib.h>

#include "store_impl.h"

struct store *store_create(struct loop *loop, const char *conninfo)
{
    if (!conninfo || !*conninfo)
        return store_mem_create(loop);
    return store_pg_create(loop, conninfo);
}

void store_destroy(struct store *st)
{
    if (st)
        st->ops->destroy(st);
}

const char *store_backend_name(const struct store *st) { return st->ops->name; }
int store_is_available(const struct store *st) { return st->ops->is_available(st); }
size_t store_pending(const struct store *st) { return st->ops->pending(st); }

void store_location_update(struct store *st, const char *aor, int64_t now, store_update_fn update,
                           store_bindings_cb done, void *arg)
{
    st->ops->location_update(st, aor, now, update, done, arg);
}

void store_location_lookup(struct store *st, const char *aor, int64_t now, store_bindings_cb done,
                           void *arg)
{
    st->ops->location_lookup(st, aor, now, done, arg);
}

void store_location_expire(struct store *st, int64_t now, store_status_cb done, void *arg)
{
    st->ops->location_expire(st, now, done, arg);
}

long store_location_count(const struct store *st, long *nbindings)
{
    return st->ops->location_count(st, nbindings);
}

static int q_of(const struct binding *b) { return b->q < 0 ? 1000 : b->q; }

static int cmp_binding(const void *pa, const void *pb)
{
    const struct binding *a = pa, *b = pb;
    if (q_of(a) != q_of(b))
        return q_of(b) - q_of(a);
    if (a->updated_at != b->updated_at)
        return a->updated_at < b->updated_at ? 1 : -1;
    return 0;
}

void store_sort_bindings(struct binding *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_binding);
}

int store_aor_known(const struct store *st, const char *aor)
{
    return st->ops->aor_known ? st->ops->aor_known(st, aor) : -1;
}
