/* store_mem.c - the in-memory store backend (single node, no database).
 *
 * Every operation completes synchronously, before the call returns. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../base/hmap.h"
#include "store_impl.h"

struct mem_store {
    struct store base;
    struct hmap aors; /* aor -> struct binding_list* (never empty) */
    struct hmap known; /* every AOR that ever had a binding (value unused) */
    long nbindings;
};

static void drop_aor(struct mem_store *ms, const char *aor)
{
    struct binding_list *l = hmap_del(&ms->aors, aor, strlen(aor));
    if (l) {
        ms->nbindings -= (long)l->len;
        binding_list_free(l);
        free(l);
    }
}

static void mem_destroy(struct store *st)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t b;
    for (struct hmap_entry *e = hmap_first(&ms->aors, &b); e; e = hmap_next(&ms->aors, e, &b)) {
        binding_list_free(e->val);
        free(e->val);
    }
    hmap_free(&ms->aors);
    hmap_free(&ms->known);
    free(ms);
}

static int mem_is_available(const struct store *st) { return 1; }
static size_t mem_pending(const struct store *st) { return 0; }

/* Remove bindings of l that expired at now; returns how many remain. */
static size_t prune(struct mem_store *ms, struct binding_list *l, int64_t now)
{
    size_t w = 0;
    for (size_t i = 0; i < l->len; i++) {
        if (l->v[i].expires_at > now) {
            l->v[w++] = l->v[i];
        } else {
            binding_clear(&l->v[i]);
            ms->nbindings--;
        }
    }
    l->len = w;
    return w;
}

static void mem_location_update(struct store *st, const char *aor, int64_t now,
                                store_update_fn update, store_bindings_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t alen = strlen(aor);
    struct binding_list *cur = hmap_get(&ms->aors, aor, alen);
    if (cur && prune(ms, cur, now) == 0) {
        drop_aor(ms, aor);
        cur = NULL;
    }
    struct binding_list *out = malloc(sizeof *out);
    if (!out) {
        done(arg, STORE_EFAIL, NULL, 0);
        return;
    }
    binding_list_init(out);
    int status = update(arg, cur ? cur->v : NULL, cur ? cur->len : 0, out);
    if (status != 0) {
        binding_list_free(out);
        free(out);
        done(arg, status, NULL, 0);
        return;
    }
    for (size_t i = 0; i < out->len; i++) {
        if (!out->v[i].aor) {
            out->v[i].aor = strdup(aor);
            if (!out->v[i].aor) {
                binding_list_free(out);
                free(out);
                done(arg, STORE_EFAIL, NULL, 0);
                return;
            }
        }
    }
    store_sort_bindings(out->v, out->len);
    if (cur)
        drop_aor(ms, aor);
    if (out->len == 0) {
        binding_list_free(out);
        free(out);
        done(arg, 0, NULL, 0);
        return;
    }
    if (hmap_put(&ms->aors, aor, alen, out, NULL)) {
        binding_list_free(out);
        free(out);
        done(arg, STORE_EFAIL, NULL, 0);
        return;
    }
    ms->nbindings += (long)out->len;
    if (!hmap_get(&ms->known, aor, alen))
        hmap_put(&ms->known, aor, alen, ms, NULL);
    done(arg, 0, out->v, out->len);
}

static void mem_location_lookup(struct store *st, const char *aor, int64_t now,
                                store_bindings_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct binding_list *cur = hmap_get(&ms->aors, aor, strlen(aor));
    if (cur && prune(ms, cur, now) == 0) {
        drop_aor(ms, aor);
        cur = NULL;
    }
    done(arg, 0, cur ? cur->v : NULL, cur ? cur->len : 0);
}

static int mem_aor_known(const struct store *st, const char *aor)
{
    const struct mem_store *ms = (const struct mem_store *)st;
    return hmap_get(&ms->known, aor, strlen(aor)) != NULL;
}

static void mem_location_expire(struct store *st, int64_t now, store_status_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t b;
    struct hmap_entry *e = hmap_first(&ms->aors, &b);
    while (e) {
        struct hmap_entry *next = hmap_next(&ms->aors, e, &b);
        if (prune(ms, e->val, now) == 0)
            drop_aor(ms, e->key);
        e = next;
    }
    if (done)
        done(arg, 0);
}

static long mem_location_count(const struct store *st, long *nbindings)
{
    const struct mem_store *ms = (const struct mem_store *)st;
    if (nbindings)
        *nbindings = ms->nbindings;
    return (long)ms->aors.count;
}

static const struct store_ops mem_ops = {
    .name = "memory",
    .destroy = mem_destroy,
    .is_available = mem_is_available,
    .pending = mem_pending,
    .location_update = mem_location_update,
    .location_lookup = mem_location_lookup,
    .location_expire = mem_location_expire,
    .location_count = mem_location_count,
    .aor_known = mem_aor_known,
};

struct store *store_mem_create(struct loop *loop)
{
    struct mem_store *ms = calloc(1, sizeof *ms);
    if (!ms)
        return NULL;
    ms->base.ops = &mem_ops;
    ms->base.loop = loop;
    hmap_init(&ms->aors);
    hmap_init(&ms->known);
    return &ms->base;
}
