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
    /* optional (NULL: location_update) */
    void (*location_update_optimistic)(struct store *st, const char *aor, int64_t now,
                                       store_update_fn update, store_bindings_cb done, void *arg);
    void (*location_lookup)(struct store *st, const char *aor, int64_t now, store_bindings_cb done,
                            void *arg);
    void (*location_expire)(struct store *st, int64_t now, store_status_cb done, void *arg);
    /* optional: commit registrations synchronously (store_set_registrations_sync_commit) */
    void (*set_registrations_sync_commit)(struct store *st, int is_sync);
    long (*location_count)(const struct store *st, long *nbindings);
    void (*location_list)(struct store *st, const char *after, size_t max, int64_t now,
                          store_aor_counts_cb done, void *arg);
    /* IM (broker); see store.h */
    void (*im_topic)(struct store *st, const char *topic, const char *identity, int64_t now,
                     const struct im_retention *ret, store_topic_cb done, void *arg);
    void (*im_publish)(struct store *st, const struct im_publish *p, store_publish_cb done, void *arg);
    void (*im_read)(struct store *st, const char *topic, int64_t after_seq, size_t max, int64_t now,
                    const struct im_retention *ret, store_messages_cb done, void *arg);
    void (*im_group_create)(struct store *st, const char *topic, const char *const *members,
                            size_t nmembers, store_status_cb done, void *arg);
    void (*im_group_delete)(struct store *st, const char *topic, store_status_cb done, void *arg);
    void (*im_members)(struct store *st, const char *topic, store_members_cb done, void *arg);
    void (*im_groups_of)(struct store *st, const char *aor, store_members_cb done, void *arg);
    void (*im_position_get)(struct store *st, const char *topic, const char *aor, const char *device,
                            int64_t initial, store_position_cb done, void *arg);
    void (*im_position_advance)(struct store *st, const char *topic, const char *aor,
                                const char *device, int64_t seq, store_status_cb done, void *arg);
    void (*im_expire)(struct store *st, int64_t now, const struct im_retention *ret,
                      store_status_cb done, void *arg);
    void (*im_set_listener)(struct store *st, store_im_notify_cb cb, void *arg); /* may be NULL */
    int (*im_is_listening)(const struct store *st);                           /* may be NULL */
    void (*im_active_topics)(struct store *st, size_t max, store_members_cb done, void *arg);
    void (*im_group_members)(struct store *st, size_t max, store_members_cb done, void *arg);
    /* control plane (docs/api.md); may be NULL (STORE_EFAIL) */
    void (*im_topics_list)(struct store *st, const char *after, size_t max,
                           store_topic_rows_cb done, void *arg);
    void (*im_member_add)(struct store *st, const char *topic, const char *aor,
                          store_status_cb done, void *arg);
    void (*im_member_remove)(struct store *st, const char *topic, const char *aor,
                             store_status_cb done, void *arg);
    /* may be NULL (memory: no rows, n = 0) */
    void (*im_subs_list)(struct store *st, const char *topic, const char *aor, size_t max,
                         store_im_subs_cb done, void *arg);
    /* im subscription rows (takeover); may be NULL (memory: none kept) */
    void (*im_sub_put)(struct store *st, const struct im_sub_row *r, store_status_cb done,
                       void *arg);
    void (*im_sub_delete)(struct store *st, const struct im_sub_row *r, store_status_cb done,
                          void *arg);
    void (*im_sub_release)(struct store *st, const char *node, store_status_cb done, void *arg);
    void (*im_sub_orphans)(struct store *st, const char *const *live, size_t nlive,
                           store_members_cb done, void *arg);
    void (*im_sub_claim)(struct store *st, const char *node, const char *const *topics, size_t n,
                         const char *const *live, size_t nlive, store_im_subs_cb done, void *arg);
    /* presence publications; see store.h */
    void (*pres_publish)(struct store *st, const char *aor, const char *if_match,
                         const char *new_etag, int64_t expires_at, const char *content_type,
                         const char *body, size_t body_len, int64_t now, store_pres_cb done,
                         void *arg);
    void (*pres_get)(struct store *st, const char *aor, int64_t now, store_pres_cb done, void *arg);
    void (*pres_expire)(struct store *st, int64_t now, store_aors_cb done, void *arg);
    void (*pres_set_listener)(struct store *st, store_pres_notify_cb cb,
                              void *arg); /* may be NULL */
    /* presence authorization rules (mem/presence.c, pg/rules.c); may be NULL (STORE_EFAIL) */
    void (*pres_rules_get)(struct store *st, const char *aor, store_pres_rules_cb done, void *arg);
    void (*pres_rules_put)(struct store *st, const struct pres_rules *r, store_status_cb done,
                           void *arg);
    /* cluster: the node table; see store.h (mem/nodes.c, pg/nodes.c) */
    void (*node_upsert)(struct store *st, const struct node_row *self, store_nodes_cb done,
                        void *arg);
    void (*node_set_status)(struct store *st, const char *name, int status, store_status_cb done,
                            void *arg);
    void (*node_set_draining)(struct store *st, const char *name, int draining,
                              store_status_cb done, void *arg);
    void (*nodes_load)(struct store *st, store_nodes_cb done, void *arg);
    void (*node_beats)(struct store *st, const struct node_beat *v, size_t n, store_status_cb done,
                       void *arg);
    void (*node_promote)(struct store *st, int nid, store_status_cb done, void *arg);
    void (*nodes_set_listener)(struct store *st, store_nodes_notify_cb cb, void *arg);
    /* the control plane's writes and reads of the node table */
    void (*node_add)(struct store *st, const struct node_row *row, store_nodes_cb done, void *arg);
    void (*node_change)(struct store *st, const char *name, int max_num, int waiting, int draining,
                        store_nodes_cb done, void *arg);
    void (*node_remove)(struct store *st, const char *name, store_status_cb done, void *arg);
    void (*node_heartbeats)(struct store *st, const char *name, size_t max, store_beats_cb done,
                            void *arg);
    /* digest authentication (mem/users.c, pg/users.c); may be NULL (STORE_EFAIL) */
    void (*user_get)(struct store *st, const char *aor, store_user_cb done, void *arg);
    void (*user_put)(struct store *st, const struct auth_user *u, int is_create,
                     store_status_cb done, void *arg);
    void (*user_delete)(struct store *st, const char *aor, store_status_cb done, void *arg);
    void (*users_list)(struct store *st, const char *after, size_t max, store_users_cb done,
                       void *arg);
    void (*auth_secret)(struct store *st, const unsigned char *proposal, size_t len,
                        store_secret_cb done, void *arg);
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
