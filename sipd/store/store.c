/* store.c - backend selection and dispatch; see store.h. */
#include <stdlib.h>

#include "../base/metrics.h"
#include "store_impl.h"

/* sipd_registrations and sipd_bindings, as the backend counts them (postgres: the whole
 * cluster's, as of its last expiry pass; nothing while it does not know yet). */
static struct metric *registrations, *bindings;

static void collect_location(void *arg)
{
    const struct store *st = arg;
    long nb = -1, aors = store_location_count(st, &nb);
    if (aors >= 0)
        metric_gauge_add(registrations, (double)aors);
    if (nb >= 0)
        metric_gauge_add(bindings, (double)nb);
}

static void metrics_register(struct store *st)
{
    struct metrics *reg = metrics_default();
    struct metric_family *r = metrics_family(reg, "sipd_registrations",
                                             "Addresses-of-record with at least one binding.",
                                             METRIC_GAUGE, NULL, NULL, 0);
    struct metric_family *b = metrics_family(reg, "sipd_bindings",
                                             "Bindings (registered contacts) of every AOR.",
                                             METRIC_GAUGE, NULL, NULL, 0);
    metric_family_set_computed(r);
    metric_family_set_computed(b);
    registrations = metric_series(r, NULL);
    bindings = metric_series(b, NULL);
    metrics_collector_add(reg, collect_location, st);
}

struct store *store_create(struct loop *loop, const char *conninfo)
{
    struct store *st = !conninfo || !*conninfo ? store_mem_create(loop)
                                               : store_pg_create(loop, conninfo);
    if (st)
        metrics_register(st);
    return st;
}

void store_set_registrations_sync_commit(struct store *st, int is_sync)
{
    if (st->ops->set_registrations_sync_commit)
        st->ops->set_registrations_sync_commit(st, is_sync);
}

void store_destroy(struct store *st)
{
    if (!st)
        return;
    metrics_collector_remove(metrics_default(), collect_location, st);
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

void store_location_update_optimistic(struct store *st, const char *aor, int64_t now,
                                      store_update_fn update, store_bindings_cb done, void *arg)
{
    if (st->ops->location_update_optimistic)
        st->ops->location_update_optimistic(st, aor, now, update, done, arg);
    else
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

void store_location_list(struct store *st, const char *after, size_t max, int64_t now,
                         store_aor_counts_cb done, void *arg)
{
    if (st->ops->location_list)
        st->ops->location_list(st, after, max, now, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
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

/* ---- IM: a backend without IM support fails every call with STORE_EFAIL ------------------ */

void store_im_topic(struct store *st, const char *topic, const char *identity, int64_t now,
                    const struct im_retention *ret, store_topic_cb done, void *arg)
{
    if (st->ops->im_topic)
        st->ops->im_topic(st, topic, identity, now, ret, done, arg);
    else
        done(arg, STORE_EFAIL, NULL);
}

void store_im_publish(struct store *st, const struct im_publish *p, store_publish_cb done, void *arg)
{
    if (st->ops->im_publish)
        st->ops->im_publish(st, p, done, arg);
    else
        done(arg, STORE_EFAIL, 0, 0, 0);
}

void store_im_read(struct store *st, const char *topic, int64_t after_seq, size_t max, int64_t now,
                   const struct im_retention *ret, store_messages_cb done, void *arg)
{
    if (st->ops->im_read)
        st->ops->im_read(st, topic, after_seq, max, now, ret, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0, 0, 0);
}

void store_im_group_create(struct store *st, const char *topic, const char *const *members,
                           size_t nmembers, store_status_cb done, void *arg)
{
    if (st->ops->im_group_create)
        st->ops->im_group_create(st, topic, members, nmembers, done, arg);
    else if (done)
        done(arg, STORE_EFAIL);
}

void store_im_group_delete(struct store *st, const char *topic, store_status_cb done, void *arg)
{
    if (st->ops->im_group_delete)
        st->ops->im_group_delete(st, topic, done, arg);
    else if (done)
        done(arg, STORE_EFAIL);
}

void store_im_members(struct store *st, const char *topic, store_members_cb done, void *arg)
{
    if (st->ops->im_members)
        st->ops->im_members(st, topic, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
}

void store_im_active_topics(struct store *st, size_t max, store_members_cb done, void *arg)
{
    if (st->ops->im_active_topics)
        st->ops->im_active_topics(st, max, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
}

void store_im_group_members(struct store *st, size_t max, store_members_cb done, void *arg)
{
    if (st->ops->im_group_members)
        st->ops->im_group_members(st, max, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
}

void store_im_topics_list(struct store *st, const char *after, size_t max, store_topic_rows_cb done,
                          void *arg)
{
    if (st->ops->im_topics_list)
        st->ops->im_topics_list(st, after && *after ? after : NULL, max, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
}

void store_im_member_add(struct store *st, const char *topic, const char *aor, store_status_cb done,
                         void *arg)
{
    if (st->ops->im_member_add)
        st->ops->im_member_add(st, topic, aor, done, arg);
    else if (done)
        done(arg, STORE_EFAIL);
}

void store_im_member_remove(struct store *st, const char *topic, const char *aor,
                            store_status_cb done, void *arg)
{
    if (st->ops->im_member_remove)
        st->ops->im_member_remove(st, topic, aor, done, arg);
    else if (done)
        done(arg, STORE_EFAIL);
}

void store_im_subs_list(struct store *st, const char *topic, const char *aor, size_t max,
                        store_im_subs_cb done, void *arg)
{
    if (st->ops->im_subs_list)
        st->ops->im_subs_list(st, topic, aor, max, done, arg);
    else
        done(arg, 0, NULL, 0);
}

int store_im_is_listening(const struct store *st)
{
    return st->ops->im_is_listening ? st->ops->im_is_listening(st) : 0;
}

void store_im_groups_of(struct store *st, const char *aor, store_members_cb done, void *arg)
{
    if (st->ops->im_groups_of)
        st->ops->im_groups_of(st, aor, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
}

void store_im_position_get(struct store *st, const char *topic, const char *aor, const char *device,
                           int64_t initial, store_position_cb done, void *arg)
{
    if (st->ops->im_position_get)
        st->ops->im_position_get(st, topic, aor, device, initial, done, arg);
    else
        done(arg, STORE_EFAIL, 0);
}

void store_im_position_advance(struct store *st, const char *topic, const char *aor,
                               const char *device, int64_t seq, store_status_cb done, void *arg)
{
    if (st->ops->im_position_advance)
        st->ops->im_position_advance(st, topic, aor, device, seq, done, arg);
    else if (done)
        done(arg, STORE_EFAIL);
}

void store_im_sub_put(struct store *st, const struct im_sub_row *r, store_status_cb done, void *arg)
{
    if (st->ops->im_sub_put)
        st->ops->im_sub_put(st, r, done, arg);
    else if (done)
        done(arg, 0);
}

void store_im_sub_delete(struct store *st, const struct im_sub_row *r, store_status_cb done,
                         void *arg)
{
    if (st->ops->im_sub_delete)
        st->ops->im_sub_delete(st, r, done, arg);
    else if (done)
        done(arg, 0);
}

void store_im_sub_release(struct store *st, const char *node, store_status_cb done, void *arg)
{
    if (st->ops->im_sub_release)
        st->ops->im_sub_release(st, node, done, arg);
    else if (done)
        done(arg, 0);
}

void store_im_sub_orphans(struct store *st, const char *const *live, size_t nlive,
                          store_members_cb done, void *arg)
{
    if (st->ops->im_sub_orphans)
        st->ops->im_sub_orphans(st, live, nlive, done, arg);
    else
        done(arg, 0, NULL, 0);
}

void store_im_sub_claim(struct store *st, const char *node, const char *const *topics, size_t n,
                        const char *const *live, size_t nlive, store_im_subs_cb done, void *arg)
{
    if (st->ops->im_sub_claim)
        st->ops->im_sub_claim(st, node, topics, n, live, nlive, done, arg);
    else
        done(arg, 0, NULL, 0);
}

void store_im_expire(struct store *st, int64_t now, const struct im_retention *ret,
                     store_status_cb done, void *arg)
{
    if (st->ops->im_expire)
        st->ops->im_expire(st, now, ret, done, arg);
    else if (done)
        done(arg, STORE_EFAIL);
}

void store_pres_publish(struct store *st, const char *aor, const char *if_match, const char *new_etag,
                        int64_t expires_at, const char *content_type, const char *body,
                        size_t body_len, int64_t now, store_pres_cb done, void *arg)
{
    if (st->ops->pres_publish)
        st->ops->pres_publish(st, aor, if_match, new_etag, expires_at, content_type, body, body_len,
                              now, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
}

void store_pres_get(struct store *st, const char *aor, int64_t now, store_pres_cb done, void *arg)
{
    if (st->ops->pres_get)
        st->ops->pres_get(st, aor, now, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
}

void store_pres_expire(struct store *st, int64_t now, store_aors_cb done, void *arg)
{
    if (st->ops->pres_expire)
        st->ops->pres_expire(st, now, done, arg);
    else if (done)
        done(arg, STORE_EFAIL, NULL, 0);
}

void store_im_set_listener(struct store *st, store_im_notify_cb cb, void *arg)
{
    if (st->ops->im_set_listener)
        st->ops->im_set_listener(st, cb, arg);
}

void store_pres_set_listener(struct store *st, store_pres_notify_cb cb, void *arg)
{
    if (st->ops->pres_set_listener)
        st->ops->pres_set_listener(st, cb, arg);
}

/* ---- cluster: the node table (a backend without it fails every call with STORE_EFAIL) ---- */

void store_node_upsert(struct store *st, const struct node_row *self, store_nodes_cb done, void *arg)
{
    if (st->ops->node_upsert)
        st->ops->node_upsert(st, self, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
}

void store_node_set_status(struct store *st, const char *name, int status, store_status_cb done,
                           void *arg)
{
    if (st->ops->node_set_status)
        st->ops->node_set_status(st, name, status, done, arg);
    else if (done)
        done(arg, STORE_EFAIL);
}

void store_node_set_draining(struct store *st, const char *name, int draining, store_status_cb done,
                             void *arg)
{
    if (st->ops->node_set_draining)
        st->ops->node_set_draining(st, name, draining, done, arg);
    else if (done)
        done(arg, STORE_EFAIL);
}

void store_nodes_load(struct store *st, store_nodes_cb done, void *arg)
{
    if (st->ops->nodes_load)
        st->ops->nodes_load(st, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
}

void store_node_beats(struct store *st, const struct node_beat *v, size_t n, store_status_cb done,
                      void *arg)
{
    if (st->ops->node_beats)
        st->ops->node_beats(st, v, n, done, arg);
    else if (done)
        done(arg, STORE_EFAIL);
}

void store_node_promote(struct store *st, int nid, store_status_cb done, void *arg)
{
    if (st->ops->node_promote)
        st->ops->node_promote(st, nid, done, arg);
    else if (done)
        done(arg, STORE_EFAIL);
}

void store_nodes_set_listener(struct store *st, store_nodes_notify_cb cb, void *arg)
{
    if (st->ops->nodes_set_listener)
        st->ops->nodes_set_listener(st, cb, arg);
}

void store_node_add(struct store *st, const struct node_row *row, store_nodes_cb done, void *arg)
{
    if (st->ops->node_add)
        st->ops->node_add(st, row, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
}

void store_node_change(struct store *st, const char *name, int max_num, int waiting, int draining,
                       store_nodes_cb done, void *arg)
{
    if (st->ops->node_change)
        st->ops->node_change(st, name, max_num, waiting, draining, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
}

void store_node_remove(struct store *st, const char *name, store_status_cb done, void *arg)
{
    if (st->ops->node_remove)
        st->ops->node_remove(st, name, done, arg);
    else if (done)
        done(arg, STORE_EFAIL);
}

void store_node_heartbeats(struct store *st, const char *name, size_t max, store_beats_cb done,
                           void *arg)
{
    if (st->ops->node_heartbeats)
        st->ops->node_heartbeats(st, name, max, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
}

/* ---- digest authentication ---- */

void store_user_get(struct store *st, const char *aor, store_user_cb done, void *arg)
{
    if (st->ops->user_get)
        st->ops->user_get(st, aor, done, arg);
    else
        done(arg, STORE_EFAIL, NULL);
}

void store_user_put(struct store *st, const struct auth_user *u, int is_create,
                    store_status_cb done, void *arg)
{
    if (st->ops->user_put)
        st->ops->user_put(st, u, is_create, done, arg);
    else if (done)
        done(arg, STORE_EFAIL);
}

void store_user_delete(struct store *st, const char *aor, store_status_cb done, void *arg)
{
    if (st->ops->user_delete)
        st->ops->user_delete(st, aor, done, arg);
    else if (done)
        done(arg, STORE_EFAIL);
}

void store_users_list(struct store *st, const char *after, size_t max, store_users_cb done,
                      void *arg)
{
    if (st->ops->users_list)
        st->ops->users_list(st, after, max, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
}

void store_auth_secret(struct store *st, const unsigned char *proposal, size_t len,
                       store_secret_cb done, void *arg)
{
    if (st->ops->auth_secret)
        st->ops->auth_secret(st, proposal, len, done, arg);
    else
        done(arg, STORE_EFAIL, NULL, 0);
}

/* ---- presence authorization rules ---- */

void store_pres_rules_get(struct store *st, const char *aor, store_pres_rules_cb done, void *arg)
{
    if (st->ops->pres_rules_get)
        st->ops->pres_rules_get(st, aor, done, arg);
    else
        done(arg, STORE_EFAIL, NULL);
}

void store_pres_rules_put(struct store *st, const struct pres_rules *r, store_status_cb done,
                          void *arg)
{
    if (st->ops->pres_rules_put)
        st->ops->pres_rules_put(st, r, done, arg);
    else if (done)
        done(arg, STORE_EFAIL);
}
