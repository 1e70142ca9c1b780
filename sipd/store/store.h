/* store.h - the data store behind every role: one interface, two backends.
 *
 *  - memory:   in-process hash tables (single node, the embedded default);
 *  - postgres: libpq asynchronous API on the event loop (a cluster shares one database).
 *
 * Every operation is asynchronous: it takes a completion callback that is called exactly once,
 * possibly before the call returns (memory backend), possibly later from the loop (postgres).
 * Callers must cope with both. Status codes given to callbacks:
 *     0               success
 *     > 0             a SIP status decided by the caller's update function (e.g. 423), passed through
 *     STORE_EUNAVAIL  the store cannot be reached (database down/reconnecting): answer 503
 *     STORE_EFAIL     any other store error (bad data, out of memory): answer 500
 *     STORE_OFFLINE   (lookups only) no live binding, but the AOR is known: answer 480
 * The STORE_E* codes are negative and far below -4095, so that they are never mistaken for a
 * -errno value (nor for a SIP status) where both travel through one int.
 * Results passed to callbacks are only valid during the callback; copy what you keep. */
#ifndef SIPD_STORE_H
#define SIPD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "binding.h"

struct loop;
struct store;

/* Store status codes (see above): none of them is a -errno value or a SIP status. */
enum store_status {
    STORE_EUNAVAIL = -100001, /* the store cannot be reached */
    STORE_EFAIL = -100002,    /* any other store error */
    STORE_OFFLINE = 100003,   /* lookup: no live binding, but a known AOR (see below) */
};

/* A known AOR: one that has bindings, or had some within the last STORE_KNOWN_TTL_S seconds (its
 * last one removed or expired since); a call to it gets 480 rather than 404. The memory store
 * remembers at most STORE_MEM_KNOWN_MAX AORs without bindings (beyond: 404 for the others). */
#define STORE_KNOWN_TTL_S (7 * 86400)
#define STORE_MEM_KNOWN_MAX 100000

/* Creates the memory store when conninfo is NULL or "", else the postgres store (which connects
 * asynchronously and keeps reconnecting; operations fail with STORE_EUNAVAIL meanwhile).
 * Returns NULL on allocation failure. Caller frees with store_destroy(). */
struct store *store_create(struct loop *loop, const char *conninfo);

/* database.registrations_sync_commit: whether a registration's transaction waits, at COMMIT, for
 * the database's WAL flush (PostgreSQL; the memory store ignores it). Default 0: it does not;
 * see S_ASYNC in store/pg/statements.c for what that risks. */
void store_set_registrations_sync_commit(struct store *st, int is_sync);

/* Fails every operation still pending with STORE_EUNAVAIL (callbacks run), then frees. */
void store_destroy(struct store *st);

/* "memory" or "postgres". */
const char *store_backend_name(const struct store *st);

/* Is the store usable right now (postgres: connected)? */
int store_is_available(const struct store *st);

/* Operations accepted but not yet completed. */
size_t store_pending(const struct store *st);

/* ---- location service ---------------------------------------------------------------------- */

/* Read-modify-write of one AOR's bindings, atomic with respect to every other update of the
 * same AOR (in this process and, on postgres, in every process sharing the database).
 *
 * The store loads the AOR's current bindings that have not expired at `now` (unix seconds) and
 * calls update(arg, cur, ncur, out). The update function appends the complete new binding set
 * to `out` and returns 0, or returns a SIP status (> 0) to abort without changes. The store
 * then replaces the AOR's bindings with `out` and calls done(arg, status, result, nresult)
 * with the bindings as stored (status 0), or with the abort status / a STORE_E* error and no
 * bindings. The update function may be called more than once (postgres retries on conflict);
 * it must be a pure function of its inputs. */
typedef int (*store_update_fn)(void *arg, const struct binding *cur, size_t ncur,
                               struct binding_list *out);
typedef void (*store_bindings_cb)(void *arg, int status, const struct binding *b, size_t n);

void store_location_update(struct store *st, const char *aor, int64_t now, store_update_fn update,
                           store_bindings_cb done, void *arg);

/* As store_location_update, for an update function that depends on nothing but cur and what arg
 * holds (the registrar's): the store may first run it on the bindings it expects the AOR to have
 * -- what this process last wrote for it, or none -- and write its result only if the AOR still
 * has exactly those (postgres: one round trip instead of two); otherwise it runs the update the
 * usual way. So update may run before the store reads anything, on bindings that turn out not to
 * be current, and before an error (STORE_EUNAVAIL at shutdown) ends the update. */
void store_location_update_optimistic(struct store *st, const char *aor, int64_t now,
                                      store_update_fn update, store_bindings_cb done, void *arg);

/* Current (unexpired at `now`) bindings of one AOR, ordered by q descending then most recent.
 * None: status 0 for an unknown AOR, STORE_OFFLINE for a known one (n = 0 either way). */
void store_location_lookup(struct store *st, const char *aor, int64_t now, store_bindings_cb done,
                           void *arg);

/* Remove every binding that expired at or before now, and forget the AORs without bindings
 * that are known no longer (STORE_KNOWN_TTL_S). Returns via done(arg, status); the number
 * removed is not reported. done may be NULL. */
typedef void (*store_status_cb)(void *arg, int status);
void store_location_expire(struct store *st, int64_t now, store_status_cb done, void *arg);

/* Number of AORs / bindings currently held (memory: exact; postgres: last known, may be -1). */
long store_location_count(const struct store *st, long *nbindings);

/* One AOR of the location service and how many live bindings it has (store_location_list). */
struct aor_count {
    const char *aor;
    long bindings;
};
typedef void (*store_aor_counts_cb)(void *arg, int status, const struct aor_count *v, size_t n);

/* The AORs with live bindings at `now` (unix seconds), in byte order of the AOR, starting after
 * `after` (NULL or "": from the first), at most max of them, each with its number of live
 * bindings (the control plane's paginated list). */
void store_location_list(struct store *st, const char *after, size_t max, int64_t now,
                         store_aor_counts_cb done, void *arg);

/* ---- IM topics and messages (the broker, docs/im-event-package.md) -------------------------- */

/* Retention of a topic's messages (§2.5): keep at most `count` newest (0 = no limit) and none
 * older than `age_s` seconds (0 = no limit). A message outside the window is discarded from
 * that moment, whether or not its row is gone yet: reads never return it and first_seq moves. */
struct im_retention {
    int64_t count;
    int64_t age_s;
};

/* What the broker needs to know of a topic before it accepts a SUBSCRIBE or a publish. A user
 * topic need not exist in the store (then last_seq = 0, first_seq = 1). */
struct im_topic_info {
    int is_group;   /* a group topic exists under this URI */
    int is_member;  /* is_group and `identity` is one of its members */
    int64_t last_seq;  /* 0 when no message was ever stored */
    int64_t first_seq; /* lowest retained seq at `now`, last_seq + 1 when none is retained */
};
typedef void (*store_topic_cb)(void *arg, int status, const struct im_topic_info *info);

/* Topic window and group membership of `identity` (may be NULL). */
void store_im_topic(struct store *st, const char *topic, const char *identity, int64_t now,
                    const struct im_retention *ret, store_topic_cb done, void *arg);

/* One stored message. Strings are NUL-terminated; body is body_len octets (also
 * NUL-terminated for convenience, but may contain NULs). */
struct im_message {
    const char *topic;
    int64_t seq;
    const char *sender;        /* identity (canonical AOR) of the publisher */
    const char *sender_device; /* device of the publishing request (§2.4), NULL when none */
    const char *recipient;     /* the topic the message was addressed to (= topic unless a copy) */
    int is_copy;               /* the sender's copy in the sender's own topic (§10.5) */
    const char *content_type;
    const char *body;
    size_t body_len;
    int64_t created_at;        /* unix seconds when its seq was assigned */
};

/* A publish to store (§10.2). */
struct im_publish {
    const char *topic;         /* canonical topic URI (user topic: created on first use) */
    const char *sender;
    const char *sender_device; /* NULL when none */
    const char *copy_topic;    /* the sender's own topic for the sender's copy, NULL = no copy */
    const char *call_id;       /* duplicate detection (§10.2): Call-ID, From tag, CSeq number */
    const char *from_tag;
    uint32_t cseq;
    const char *content_type;
    const char *body;
    size_t body_len;
    int64_t now;
    struct im_retention ret;   /* applied to both topics after the insert */
};

/* Store a message: assigns topic's next seq (and copy_topic's, for the copy) in one atomic step;
 * on postgres one transaction, the topic rows locked in ascending URI order, so a seq is never
 * handed out twice, also by two processes. A publish equal in (call_id, from_tag, cseq) to one
 * stored in the same topic within the last 32 s is a duplicate: nothing is stored and the
 * earlier seqs are returned with duplicate = 1. copy_seq is 0 when no copy was made. */
typedef void (*store_publish_cb)(void *arg, int status, int64_t seq, int64_t copy_seq,
                                 int duplicate);
void store_im_publish(struct store *st, const struct im_publish *p, store_publish_cb done, void *arg);

/* Retained messages of topic with seq > after_seq, ascending, at most max (>= 1), and the
 * topic's window at `now` (first_seq, last_seq as in im_topic_info). */
typedef void (*store_messages_cb)(void *arg, int status, const struct im_message *v, size_t n,
                                  int64_t first_seq, int64_t last_seq);
void store_im_read(struct store *st, const char *topic, int64_t after_seq, size_t max, int64_t now,
                   const struct im_retention *ret, store_messages_cb done, void *arg);

/* Create a group topic with its members (canonical AORs). Status 0, or 409 when a group or a
 * user topic with messages already exists under that URI. */
void store_im_group_create(struct store *st, const char *topic, const char *const *members,
                           size_t nmembers, store_status_cb done, void *arg);
/* Delete a group topic, its members and its messages. Status 0, or 404 when there is none. */
void store_im_group_delete(struct store *st, const char *topic, store_status_cb done, void *arg);

/* Members of a group topic (canonical AORs, unordered); n = 0 when it has none or is no group. */
typedef void (*store_members_cb)(void *arg, int status, const char *const *members, size_t n);
void store_im_members(struct store *st, const char *topic, store_members_cb done, void *arg);

/* The group topics aor is a member of (canonical URIs, unordered). */
void store_im_groups_of(struct store *st, const char *aor, store_members_cb done, void *arg);

/* What the broker needs to skip page-mode replay at REGISTER without a query (pagemode.c):
 * active_topics: the topics (user and group) that ever stored a message (last_seq > 0);
 * group_members: the members of every group topic (AORs; one may come more than once). At most
 * `max` of each; n = max tells the caller the list may be incomplete. */
void store_im_active_topics(struct store *st, size_t max, store_members_cb done, void *arg);
void store_im_group_members(struct store *st, size_t max, store_members_cb done, void *arg);

/* The control plane's view of topics (docs/api.md "Topics"): group topics, and user topics that
 * stored a message (postgres: also those with an `im` subscription row), by URI ascending,
 * after `after` (NULL or "": from the start), at most max. nmembers: a group's members (0 for a
 * user topic). */
struct im_topic_row {
    const char *topic;
    int is_group;
    int64_t last_seq;
    int64_t nmembers;
};
typedef void (*store_topic_rows_cb)(void *arg, int status, const struct im_topic_row *v, size_t n);
void store_im_topics_list(struct store *st, const char *after, size_t max, store_topic_rows_cb done,
                          void *arg);

/* Add member aor (canonical) to group topic. Status 0 (also when it was one already), or 404
 * when topic is no group. done may be NULL. */
void store_im_member_add(struct store *st, const char *topic, const char *aor, store_status_cb done,
                         void *arg);
/* Remove member aor from group topic. Status 0, or 404 when topic is no group or aor no member
 * of it. Its device positions in the topic go too (added again later, it starts afresh). */
void store_im_member_remove(struct store *st, const char *topic, const char *aor,
                            store_status_cb done, void *arg);

/* Device positions (§11.3): the highest seq of `topic` a device of `aor` acknowledged.
 * get: the device's position; when it has none yet, it is created as the greatest position of
 * the same AOR's devices in the topic, else `initial`, and that value is returned.
 * advance: D := max(D, seq) (creating it). */
typedef void (*store_position_cb)(void *arg, int status, int64_t pos);
void store_im_position_get(struct store *st, const char *topic, const char *aor, const char *device,
                           int64_t initial, store_position_cb done, void *arg);
void store_im_position_advance(struct store *st, const char *topic, const char *aor,
                               const char *device, int64_t seq, store_status_cb done, void *arg);

/* Told when a message was stored in a topic by any process sharing the store (postgres: LISTEN on
 * channel sipd_im, payload "<topic> <seq>", so also this process's own publishes); the memory
 * store never calls it (one process fans out by itself). Called from the loop; one listener per
 * store; NULL cb to stop. After a reconnect notifications may have been missed: the store then
 * calls cb with topic NULL and seq 0 ("re-read everything you serve"). */
typedef void (*store_im_notify_cb)(void *arg, const char *topic, int64_t seq);
void store_im_set_listener(struct store *st, store_im_notify_cb cb, void *arg);

/* Does the IM listener hear every message stored from now on? postgres: the listener is set and
 * `LISTEN sipd_im` is in effect on a live connection; memory: always (one process). */
int store_im_is_listening(const struct store *st);

/* `im` subscriptions kept for a takeover (docs/im-event-package.md, "Topic takeover"): one row
 * per subscription, written when it changes state (created, refreshed), deleted when it ends,
 * never per NOTIFY (how far the device got is its position, above). The memory store keeps none
 * (one process: nobody takes over): put and delete succeed, orphans and claim find nothing. */
struct im_sub_row {
    const char *topic;
    const char *call_id, *remote_tag, *local_tag; /* the dialog: remote_tag is the subscriber's */
    const char *event_id;      /* "" when none */
    const char *subscriber;    /* AOR */
    const char *instance;      /* NULL when none */
    const char *contact;       /* Contact of the creating SUBSCRIBE (the device, §2.4) */
    const char *remote_target; /* Request-URI of the NOTIFYs */
    const char *remote_uri, *local_uri;
    const char *route_set;     /* "<a>,<b>" as the dialog keeps it, NULL = none */
    uint32_t local_cseq, remote_cseq;
    int64_t expires_at;        /* unix seconds */
    int64_t acked_seq;         /* the subscription's position when written */
    const char *node;          /* the owning broker's node name */
    int is_group, is_datagram;
    int64_t device_pos;        /* claim only: the device's position (im_positions), -1 none */
};
typedef void (*store_im_subs_cb)(void *arg, int status, const struct im_sub_row *v, size_t n);

/* Insert or replace the row of r's subscription (key: dialog and event id). done may be NULL. */
void store_im_sub_put(struct store *st, const struct im_sub_row *r, store_status_cb done, void *arg);
/* Delete the row of a subscription (r's key fields and topic are read). done may be NULL. */
void store_im_sub_delete(struct store *st, const struct im_sub_row *r, store_status_cb done,
                         void *arg);
/* A broker that owns no topic any more (draining) lets go of its rows: their owner becomes
 * NULL, and when there were any, the change is announced on the nodes channel (as a change of
 * node's row) so that every broker looks for orphans at once. done may be NULL. */
void store_im_sub_release(struct store *st, const char *node, store_status_cb done, void *arg);
/* The topics of unexpired `im` rows whose owner is NULL or not one of live[0..nlive) (the
 * brokers that are up, draining or not), at most STORE_SUB_TOPICS_MAX; such rows that expired
 * are deleted (their owner would have, had it lived). */
#define STORE_SUB_TOPICS_MAX 10000
void store_im_sub_orphans(struct store *st, const char *const *live, size_t nlive,
                          store_members_cb done, void *arg);
/* Take the rows of topics[0..n) whose owner is NULL or not one of live[0..nlive): their owner becomes
 * `node`, atomically (two brokers claiming at once get disjoint rows). done gets the rows taken,
 * each with the device's position. n = 0: the rows owned by `node` itself, whatever their topic
 * (a restarted broker adopting those of its previous life). */
void store_im_sub_claim(struct store *st, const char *node, const char *const *topics, size_t n,
                        const char *const *live, size_t nlive, store_im_subs_cb done, void *arg);

/* The unexpired `im` subscription rows of topic (aor NULL) or of subscriber aor (topic NULL),
 * at most max, by topic then subscriber; acked_seq is the greater of the row's and the device's
 * position (im_positions: advanced on every acknowledged NOTIFY, where the row is written only
 * when the subscription changes state); device_pos is -1. The memory store keeps no rows: n = 0. */
void store_im_subs_list(struct store *st, const char *topic, const char *aor, size_t max,
                        store_im_subs_cb done, void *arg);

/* Delete messages outside the retention window at `now`, in every topic. done may be NULL. */
void store_im_expire(struct store *st, int64_t now, const struct im_retention *ret,
                     store_status_cb done, void *arg);

/* ---- presence publications (RFC 3903 PUBLISH state, the presence package) ------------------ */

/* One publication (event state compositor input) of a presentity. */
struct pres_publication {
    const char *aor;
    const char *etag;
    int64_t expires_at;   /* unix seconds */
    const char *content_type;
    const char *body;
    size_t body_len;
    int64_t updated_at;   /* unix seconds of the last body change or refresh */
};
/* The presentity's publications that have not expired at `now`, oldest first (updated_at). */
typedef void (*store_pres_cb)(void *arg, int status, const struct pres_publication *v, size_t n);

/* One RFC 3903 §6 step for presentity `aor`, atomic with every other step on the same AOR:
 *  - if_match NULL (initial): body required; creates publication new_etag.
 *  - if_match given: the unexpired publication (aor, if_match) must exist, else status 412.
 *    expires_at == 0 removes it; body NULL refreshes it (new expiry, etag becomes new_etag);
 *    body given modifies it (new body and expiry, etag becomes new_etag).
 * done gets all the AOR's unexpired publications after the step. */
void store_pres_publish(struct store *st, const char *aor, const char *if_match, const char *new_etag,
                        int64_t expires_at, const char *content_type, const char *body,
                        size_t body_len, int64_t now, store_pres_cb done, void *arg);
void store_pres_get(struct store *st, const char *aor, int64_t now, store_pres_cb done, void *arg);
/* Remove publications expired at now; done gets the distinct AORs that lost one (to NOTIFY). */
typedef void (*store_aors_cb)(void *arg, int status, const char *const *aors, size_t n);
void store_pres_expire(struct store *st, int64_t now, store_aors_cb done, void *arg);

/* Told when the publications of presentity `aor` changed through any process sharing the store
 * (postgres: LISTEN on channel sipd_pres, payload the AOR, sent by every publish step --
 * initial, modify, refresh, remove -- and by store_pres_expire for each AOR that lost one; so
 * also this process's own changes); the memory store never calls it (one process sees its own
 * changes). Called from the loop; one listener per store, independent of the IM listener; NULL
 * cb to stop. After a reconnect notifications may have been missed: the store then calls cb
 * with aor NULL ("re-read every presentity you serve"). */
typedef void (*store_pres_notify_cb)(void *arg, const char *aor);
void store_pres_set_listener(struct store *st, store_pres_notify_cb cb, void *arg);

/* ---- presence authorization rules (docs/presence.md §6.1) ----------------------------------- */

/* The allow and block lists of a presentity: entries are canonical AORs ("sip:bob@example.com")
 * or whole domains ("example.org"), at most STORE_PRES_RULES_MAX per list and
 * STORE_PRES_RULE_BYTES each (the caller validates them; see roles/presence/policy.h). Strings
 * are only valid during the callback that hands the rules out. */
#define STORE_PRES_RULES_MAX 256
#define STORE_PRES_RULE_BYTES 256
struct pres_rules {
    const char *aor;            /* the presentity, canonical "sip:user@domain" (put only: NULL
                                 * in a get's callback) */
    const char *const *allow;
    size_t nallow;
    const char *const *block;
    size_t nblock;
};
/* status 0 with the rules (both lists empty when none were ever put), or a STORE_E* error. */
typedef void (*store_pres_rules_cb)(void *arg, int status, const struct pres_rules *r);
void store_pres_rules_get(struct store *st, const char *aor, store_pres_rules_cb done, void *arg);
/* Replace both lists of r->aor (in the order given; empty lists remove them). done may be NULL. */
void store_pres_rules_put(struct store *st, const struct pres_rules *r, store_status_cb done,
                          void *arg);

/* ---- cluster: the node table (the paper's Table 1; docs/cluster.md) ---------------------------- */

/* One row of `nodes`. Strings are only valid during the callback that hands the row out. */
struct node_row {
    int nid;                  /* 0 = not yet known (upsert) */
    const char *name;         /* unique: --name */
    const char *address;      /* where the node takes SIP: "udp:10.0.0.2:5060" (node.address) */
    const char *roles;        /* comma-separated: "registrar,proxy,broker,balancer" */
    int status;               /* 1 running, 0 down */
    int waiting;              /* 1 standby */
    int draining;             /* 1: no new work; finish what runs */
    int work_num;             /* transactions in progress (last heartbeat) */
    int max_num;              /* capacity */
    int64_t last_heartbeat_ms; /* unix ms of the last answered heartbeat, 0 = never */
    double rtt_ms;            /* its round-trip time, < 0 = unknown */
};
typedef void (*store_nodes_cb)(void *arg, int status, const struct node_row *v, size_t n);

/* Heartbeat history kept per node in `heartbeats` (older rows are trimmed as new ones arrive). */
#define STORE_HEARTBEAT_HISTORY 60

/* Insert or update this node's row by name: address, roles, max_num and waiting as given, status
 * 1. `draining` is kept as the table has it (a drain survives a restart); a new row starts with
 * draining 0. done gets the row as stored (one row: its nid, its draining flag). */
void store_node_upsert(struct store *st, const struct node_row *self, store_nodes_cb done, void *arg);

/* Set the status of node `name` (a clean stop writes 0). done may be NULL. */
void store_node_set_status(struct store *st, const char *name, int status, store_status_cb done,
                           void *arg);

/* Set the draining flag of node `name` (the control plane; tests). done may be NULL. */
void store_node_set_draining(struct store *st, const char *name, int draining, store_status_cb done,
                             void *arg);

/* Every row of `nodes`, by nid ascending. */
void store_nodes_load(struct store *st, store_nodes_cb done, void *arg);

/* One heartbeat result seen by a balancer. ok: the node answered (rtt_ms, work_num from its
 * answer); status: what the balancer now holds the node to be (1 up, 0 down after its misses). */
struct node_beat {
    int nid;
    int ok;
    int status;    /* 1 up, 0 down, -1 unchanged (a miss while it still counts as up) */
    int work_num;
    double rtt_ms;
    int64_t at_ms; /* unix ms */
};
/* Write a round of heartbeat results: for each, the row's status, and when ok its work_num,
 * last_heartbeat and rtt_ms; a `heartbeats` history row each (trimmed to STORE_HEARTBEAT_HISTORY
 * per node). One round trip for the whole batch. done may be NULL. */
void store_node_beats(struct store *st, const struct node_beat *v, size_t n, store_status_cb done,
                      void *arg);

/* Promote standby node nid (waiting 1 -> 0) unless someone did already. done: 0 = promoted by this
 * call, 409 = it was not (or no longer) a standby, or a STORE_E* error. */
void store_node_promote(struct store *st, int nid, store_status_cb done, void *arg);

/* Add a row (the control plane): name, address, roles, max_num and waiting as given; status 0
 * (down until a balancer's heartbeat finds it up) and draining 0. done gets the row as stored,
 * or status 409 when a row of that name exists already. Announced like any new row. */
void store_node_add(struct store *st, const struct node_row *row, store_nodes_cb done, void *arg);

/* Change row `name`: max_num when > 0, waiting and draining when >= 0 (each -1: as it is). done
 * gets the row as it now is, or status 404 without such a row. */
void store_node_change(struct store *st, const char *name, int max_num, int waiting, int draining,
                       store_nodes_cb done, void *arg);

/* Remove row `name` and its heartbeat history, unless the node is up (status 1) and not drained
 * (draining with work_num 0): done(0), 404 without such a row, 409 while it is up and not
 * drained. Announced like any change (the nid of the row removed). */
void store_node_remove(struct store *st, const char *name, store_status_cb done, void *arg);

/* Heartbeat history of node `name`, newest first, at most max entries (STORE_HEARTBEAT_HISTORY
 * are kept): each with nid, ok, at_ms, rtt_ms (< 0 unknown), work_num (-1 unknown) and status
 * -1. Status 404 without such a row. */
typedef void (*store_beats_cb)(void *arg, int status, const struct node_beat *v, size_t n);
void store_node_heartbeats(struct store *st, const char *name, size_t max, store_beats_cb done,
                           void *arg);

/* Told when a row of `nodes` was inserted, deleted, or changed in any column but the load and
 * heartbeat ones (postgres: LISTEN on channel sipd_nodes, payload the nid; the trigger in
 * schema/001_init.sql). After a reconnect notifications may have been missed: cb gets nid -1
 * ("re-read the table"). The memory store calls cb (nid) for its own changes. One listener per
 * store, independent of the IM and presence listeners; NULL cb to stop. */
typedef void (*store_nodes_notify_cb)(void *arg, int nid);
void store_nodes_set_listener(struct store *st, store_nodes_notify_cb cb, void *arg);

/* ---- digest authentication: users and the nonce secret (docs/auth.md) ------------------------ */

/* A user who may authenticate: never a password, only HA1 = H(user ":" realm ":" password) per
 * algorithm (lower-case hex), where user is the AOR's user part and realm its domain. Strings are
 * only valid during the callback that hands the user out. */
struct auth_user {
    const char *aor;        /* canonical "sip:user@domain" (the key) */
    const char *realm;      /* the domain */
    const char *ha1_md5;    /* 32 hex digits */
    const char *ha1_sha256; /* 64 hex digits */
};
/* status 0 with the user, or 404 (u NULL) when there is none. */
typedef void (*store_user_cb)(void *arg, int status, const struct auth_user *u);
void store_user_get(struct store *st, const char *aor, store_user_cb done, void *arg);

/* Write user u: is_create 1 adds it (409 when the AOR exists already), 0 replaces the realm and
 * HA1s of an existing one (404 when there is none). done may be NULL. */
void store_user_put(struct store *st, const struct auth_user *u, int is_create,
                    store_status_cb done, void *arg);
/* Remove a user: 0, or 404. done may be NULL. */
void store_user_delete(struct store *st, const char *aor, store_status_cb done, void *arg);

/* Users by AOR ascending, after `after` (NULL or "": from the first), at most max. */
typedef void (*store_users_cb)(void *arg, int status, const struct auth_user *v, size_t n);
void store_users_list(struct store *st, const char *after, size_t max, store_users_cb done,
                      void *arg);

/* The key of the nonce MAC (auth/nonce.h), one for every process sharing the store: the first
 * caller's proposal (len 16..64 bytes of random) is kept and every caller gets the kept one
 * (postgres: the one row of auth_secret, created by the first node that asks). */
#define STORE_SECRET_MAX 64
typedef void (*store_secret_cb)(void *arg, int status, const unsigned char *secret, size_t len);
void store_auth_secret(struct store *st, const unsigned char *proposal, size_t len,
                       store_secret_cb done, void *arg);

/* ---- schema ---------------------------------------------------------------------------------- */

/* Synchronously apply the migrations in schema_dir (files NNN_*.sql, in order) that the database
 * has not seen yet, recording them in table schema_migrations. Idempotent. For `sipd --init-db`
 * only (blocks; never call from the loop). Returns 0, or -1 after printing the cause to stderr. */
int store_init_db(const char *conninfo, const char *schema_dir);

#endif
