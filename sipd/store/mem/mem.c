/* mem.c - the in-memory store backend (single node, no database): its operation table, creation
 * and destruction, and the location service (bindings by AOR, and the AORs known without a live
 * binding, so that a call gets 480 rather than 404). IM topics are in im.c, presence
 * publications in presence.c, the node table in nodes.c; mem_impl.h holds what they share.
 * Every operation completes synchronously, before the call returns. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/events.h"
#include "mem_impl.h"

static void drop_aor(struct mem_store *ms, const char *aor)
{
    struct binding_list *l = hmap_del(&ms->aors, aor, strlen(aor));
    if (l) {
        ms->nbindings -= (long)l->len;
        binding_list_free(l);
        free(l);
    }
}

/* ---- known AORs without bindings (a call gets 480, not 404) ----------------------------------
 *
 * An AOR is remembered when its last binding goes (removed by an update, or found expired) and
 * forgotten when it has bindings again, or by the expiry sweep once it has been without any for
 * STORE_KNOWN_TTL_S. At most STORE_MEM_KNOWN_MAX are remembered: when full, the sweep's rule is
 * applied at once, and an AOR that still finds no room is not remembered (404 for it). */

/* Forget the AORs without bindings since before now - STORE_KNOWN_TTL_S (at or before). */
static void forget_old(struct mem_store *ms, int64_t now)
{
    size_t b;
    struct hmap_entry *e = hmap_first(&ms->known, &b);
    while (e) {
        struct hmap_entry *next = hmap_next(&ms->known, e, &b);
        int64_t *gone_at = e->val;
        if (*gone_at <= now - STORE_KNOWN_TTL_S) {
            hmap_del(&ms->known, e->key, e->klen);
            free(gone_at);
        }
        e = next;
    }
}

static void remember(struct mem_store *ms, const char *aor, int64_t now)
{
    size_t alen = strlen(aor);
    int64_t *gone_at = hmap_get(&ms->known, aor, alen);
    if (gone_at) {
        *gone_at = now;
        return;
    }
    if (ms->known.count >= STORE_MEM_KNOWN_MAX)
        forget_old(ms, now);
    if (ms->known.count >= STORE_MEM_KNOWN_MAX || !(gone_at = malloc(sizeof *gone_at)))
        return;
    *gone_at = now;
    if (hmap_put(&ms->known, aor, alen, gone_at, NULL))
        free(gone_at);
}

static void forget(struct mem_store *ms, const char *aor)
{
    if (ms->known.count)
        free(hmap_del(&ms->known, aor, strlen(aor)));
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
    for (struct hmap_entry *e = hmap_first(&ms->known, &b); e; e = hmap_next(&ms->known, e, &b))
        free(e->val);
    hmap_free(&ms->known);
    mem_pres_free_all(ms);
    for (struct hmap_entry *e = hmap_first(&ms->topics, &b); e; e = hmap_next(&ms->topics, e, &b))
        mem_topic_free(e->val);
    hmap_free(&ms->topics);
    hmap_free(&ms->groups);
    mem_nodes_free_all(ms);
    mem_users_free_all(ms);
    mem_pres_rules_free_all(ms);
    free(ms);
}

static int mem_is_available(const struct store *st) { return 1; }
static size_t mem_pending(const struct store *st) { return 0; }

/* Remove bindings of l that expired at now; returns how many remain. */
/* Drop aor's expired bindings (an `expired` registration event each). Returns how many are left. */
static size_t prune(struct mem_store *ms, const char *aor, struct binding_list *l, int64_t now)
{
    size_t w = 0;
    for (size_t i = 0; i < l->len; i++) {
        if (l->v[i].expires_at > now) {
            l->v[w++] = l->v[i];
        } else {
            events_registration(aor, l->v[i].contact, 0, "expired");
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
    int had_bindings = cur != NULL;
    if (cur && prune(ms, aor, cur, now) == 0) {
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
        if (had_bindings)
            remember(ms, aor, now);
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
    forget(ms, aor);
    done(arg, 0, out->v, out->len);
}

static void mem_location_lookup(struct store *st, const char *aor, int64_t now,
                                store_bindings_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct binding_list *cur = hmap_get(&ms->aors, aor, strlen(aor));
    if (cur && prune(ms, aor, cur, now) == 0) {
        drop_aor(ms, aor);
        remember(ms, aor, now);
        cur = NULL;
    }
    if (cur)
        done(arg, 0, cur->v, cur->len);
    else
        done(arg, hmap_get(&ms->known, aor, strlen(aor)) ? STORE_OFFLINE : 0, NULL, 0);
}

static void mem_location_expire(struct store *st, int64_t now, store_status_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t b;
    struct hmap_entry *e = hmap_first(&ms->aors, &b);
    while (e) {
        struct hmap_entry *next = hmap_next(&ms->aors, e, &b);
        if (prune(ms, e->key, e->val, now) == 0) {
            remember(ms, e->key, now);
            drop_aor(ms, e->key);
        }
        e = next;
    }
    forget_old(ms, now);
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

/* Order of the AORs of a page (byte order, as PostgreSQL's COLLATE "C"). */
static int cmp_aor_count(const void *a, const void *b)
{
    return strcmp(((const struct aor_count *)a)->aor, ((const struct aor_count *)b)->aor);
}

/* Every AOR after `after` is a candidate, so a page costs a pass over the table and a sort of
 * what follows the cursor: the control plane's, never a SIP path. Expired bindings are not
 * counted (and not pruned here: a read leaves the table as it is). */
static void mem_location_list(struct store *st, const char *after, size_t max, int64_t now,
                              store_aor_counts_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct aor_count *v = ms->aors.count ? calloc(ms->aors.count, sizeof *v) : NULL;
    if (ms->aors.count && !v) {
        done(arg, STORE_EFAIL, NULL, 0);
        return;
    }
    size_t n = 0, b;
    for (struct hmap_entry *e = hmap_first(&ms->aors, &b); e; e = hmap_next(&ms->aors, e, &b)) {
        const struct binding_list *l = e->val;
        long live = 0;
        for (size_t i = 0; i < l->len; i++)
            live += l->v[i].expires_at > now;
        if (live && (!after || strcmp(e->key, after) > 0))
            v[n++] = (struct aor_count){.aor = e->key, .bindings = live};
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_aor_count);
    done(arg, 0, v, n < max ? n : max);
    free(v);
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
    .pres_publish = mem_pres_publish,
    .pres_get = mem_pres_get,
    .pres_expire = mem_pres_expire,
    .im_topic = mem_im_topic,
    .im_publish = mem_im_publish,
    .im_read = mem_im_read,
    .im_group_create = mem_im_group_create,
    .im_group_delete = mem_im_group_delete,
    .im_members = mem_im_members,
    .im_groups_of = mem_im_groups_of,
    .im_active_topics = mem_im_active_topics,
    .im_group_members = mem_im_group_members,
    .im_is_listening = mem_im_is_listening,
    .im_position_get = mem_im_position_get,
    .im_position_advance = mem_im_position_advance,
    .im_expire = mem_im_expire,
    .im_topics_list = mem_im_topics_list,
    .im_member_add = mem_im_member_add,
    .im_member_remove = mem_im_member_remove,
    .node_upsert = mem_node_upsert,
    .node_set_status = mem_node_set_status,
    .node_set_draining = mem_node_set_draining,
    .nodes_load = mem_nodes_load,
    .node_beats = mem_node_beats,
    .node_promote = mem_node_promote,
    .nodes_set_listener = mem_nodes_set_listener,
    .node_add = mem_node_add,
    .node_change = mem_node_change,
    .node_remove = mem_node_remove,
    .node_heartbeats = mem_node_heartbeats,
    .location_list = mem_location_list,
    .user_get = mem_user_get,
    .user_put = mem_user_put,
    .user_delete = mem_user_delete,
    .users_list = mem_users_list,
    .auth_secret = mem_auth_secret,
    .pres_rules_get = mem_pres_rules_get,
    .pres_rules_put = mem_pres_rules_put,
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
    hmap_init(&ms->pres);
    hmap_init(&ms->topics);
    hmap_init(&ms->groups);
    hmap_init(&ms->users);
    hmap_init(&ms->pres_rules);
    return &ms->base;
}
