/* mem_impl.h - private to the in-memory store backend (sipd/store/mem/): the store object its
 * three files share and the operations each provides to the table in mem.c (store.h has their
 * contracts). Every operation completes synchronously, before the call returns. */
#ifndef SIPD_STORE_MEM_IMPL_H
#define SIPD_STORE_MEM_IMPL_H

#include "../../base/hmap.h"
#include "../store_impl.h"

struct mem_topic;
struct mem_node;

struct mem_store {
    struct store base;
    struct hmap aors; /* aor -> struct binding_list* (never empty) */
    struct hmap known; /* AORs that had bindings and have none left, still known (store.h:
                          STORE_KNOWN_TTL_S): aor -> int64_t* when the last one went */
    long nbindings;
    struct hmap pres;  /* presence: aor -> struct pres_list* (section at the end of this file) */
    uint64_t pres_seq; /* presence: order of changes, breaks updated_at ties */
    struct hmap topics; /* IM topic URI -> struct mem_topic* */
    struct hmap groups; /* the group topics among them (same values), so a REGISTER's
                           groups_of does not look at every user topic */
    struct mem_node *nodes; /* the node table (nodes.c), by nid ascending */
    size_t nnodes, nodes_cap;
    int last_nid;
    store_nodes_notify_cb nodes_cb;
    void *nodes_arg;
    struct hmap users; /* digest users (users.c): aor -> struct mem_user* */
    unsigned char secret[STORE_SECRET_MAX]; /* the nonce secret, once proposed */
    size_t secret_len;
    struct hmap pres_rules; /* presence authorization (rules.c): aor -> struct mem_rules* */
};

/* im.c: topics, messages, groups, page-mode positions */
void mem_topic_free(struct mem_topic *t);
void mem_im_topic(struct store *st, const char *topic, const char *identity, int64_t now,
                  const struct im_retention *ret, store_topic_cb done, void *arg);
void mem_im_publish(struct store *st, const struct im_publish *p, store_publish_cb done,
                    void *arg);
void mem_im_read(struct store *st, const char *topic, int64_t after_seq, size_t max,
                 int64_t now, const struct im_retention *ret, store_messages_cb done, void *arg);
void mem_im_group_create(struct store *st, const char *topic, const char *const *members,
                         size_t nmembers, store_status_cb done, void *arg);
void mem_im_group_delete(struct store *st, const char *topic, store_status_cb done, void *arg);
void mem_im_members(struct store *st, const char *topic, store_members_cb done, void *arg);
void mem_im_groups_of(struct store *st, const char *aor, store_members_cb done, void *arg);
void mem_im_active_topics(struct store *st, size_t max, store_members_cb done, void *arg);
void mem_im_group_members(struct store *st, size_t max, store_members_cb done, void *arg);
int mem_im_is_listening(const struct store *st);
void mem_im_position_get(struct store *st, const char *topic, const char *aor,
                         const char *device, int64_t initial, store_position_cb done, void *arg);
void mem_im_position_advance(struct store *st, const char *topic, const char *aor,
                             const char *device, int64_t seq, store_status_cb done, void *arg);
void mem_im_topics_list(struct store *st, const char *after, size_t max, store_topic_rows_cb done,
                        void *arg);
void mem_im_member_add(struct store *st, const char *topic, const char *aor, store_status_cb done,
                       void *arg);
void mem_im_member_remove(struct store *st, const char *topic, const char *aor,
                          store_status_cb done, void *arg);
void mem_im_expire(struct store *st, int64_t now, const struct im_retention *ret,
                   store_status_cb done, void *arg);

/* presence.c: publications */
void mem_pres_free_all(struct mem_store *ms);
void mem_pres_publish(struct store *st, const char *aor, const char *if_match,
                      const char *new_etag, int64_t expires_at, const char *content_type,
                      const char *body, size_t body_len, int64_t now, store_pres_cb done,
                      void *arg);
void mem_pres_get(struct store *st, const char *aor, int64_t now, store_pres_cb done,
                  void *arg);
void mem_pres_expire(struct store *st, int64_t now, store_aors_cb done, void *arg);

/* nodes.c: the node table */
void mem_nodes_free_all(struct mem_store *ms);
void mem_node_upsert(struct store *st, const struct node_row *self, store_nodes_cb done,
                     void *arg);
void mem_node_set_status(struct store *st, const char *name, int status, store_status_cb done,
                         void *arg);
void mem_node_set_draining(struct store *st, const char *name, int draining,
                           store_status_cb done, void *arg);
void mem_nodes_load(struct store *st, store_nodes_cb done, void *arg);
void mem_node_beats(struct store *st, const struct node_beat *v, size_t n, store_status_cb done,
                    void *arg);
void mem_node_promote(struct store *st, int nid, store_status_cb done, void *arg);
void mem_nodes_set_listener(struct store *st, store_nodes_notify_cb cb, void *arg);
void mem_node_add(struct store *st, const struct node_row *row, store_nodes_cb done, void *arg);
void mem_node_change(struct store *st, const char *name, int max_num, int waiting, int draining,
                     store_nodes_cb done, void *arg);
void mem_node_remove(struct store *st, const char *name, store_status_cb done, void *arg);
void mem_node_heartbeats(struct store *st, const char *name, size_t max, store_beats_cb done,
                         void *arg);

/* rules.c: presence authorization rules */
void mem_pres_rules_free_all(struct mem_store *ms);
void mem_pres_rules_get(struct store *st, const char *aor, store_pres_rules_cb done, void *arg);
void mem_pres_rules_put(struct store *st, const struct pres_rules *r, store_status_cb done,
                        void *arg);

/* users.c: digest users and the nonce secret */
void mem_users_free_all(struct mem_store *ms);
void mem_user_get(struct store *st, const char *aor, store_user_cb done, void *arg);
void mem_user_put(struct store *st, const struct auth_user *u, int is_create, store_status_cb done,
                  void *arg);
void mem_user_delete(struct store *st, const char *aor, store_status_cb done, void *arg);
void mem_users_list(struct store *st, const char *after, size_t max, store_users_cb done,
                    void *arg);
void mem_auth_secret(struct store *st, const unsigned char *proposal, size_t len,
                     store_secret_cb done, void *arg);

#endif
