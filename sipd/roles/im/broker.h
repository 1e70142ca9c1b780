/* broker.h - the broker role's `im` event package (docs/im-event-package.md): topics,
 * SUBSCRIBE/NOTIFY dialogs with ordered, one-at-a-time, acknowledged delivery, replay with
 * `since`, publishing by MESSAGE/PUBLISH with per-topic sequence numbers, the sender's copy,
 * and page-mode MESSAGE delivery to registered devices that hold no subscription. */
#ifndef SIPD_BROKER_H
#define SIPD_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "../../sip/uri.h"
#include "../../store/binding.h"
#include "../../store/store.h"

struct cnode;
struct loop;
struct transport;
struct txn_layer;
struct sip_txn;
struct broker;

struct broker_config {
    int default_expires;        /* SUBSCRIBE without Expires */
    int min_expires;            /* 0 < Expires < this: 423 */
    int max_expires;            /* longer is shortened */
    size_t max_message_bytes;   /* largest published body: 413 above */
    size_t max_queue;           /* live NOTIFY queue per subscription before reading from the store */
    size_t max_subscriptions;   /* im subscriptions held by this node; more: 503 */
    struct im_retention ret;
    const char *const *domains; /* served domains (NULL-terminated); empty = every domain */
    const char *node_name;      /* this node's row (a cluster): subscriptions kept as rows and
                                 * taken over (takeover.c); NULL or "" = none */
};

/* Caller frees with broker_destroy(). cfg's strings must outlive the broker. */
struct broker *broker_create(struct loop *loop, struct transport *tp, struct txn_layer *tl,
                             struct store *st, const struct broker_config *cfg);
/* Forgets every subscription and delivery (no messages sent). Does not touch the store, which
 * the caller destroys first (clearing the store's IM listener, set by broker_create, before). */
void broker_destroy(struct broker *b);

/* Does the broker take this request to a URI of ours (the server decides that)? MESSAGE outside
 * a dialog, every PUBLISH (489 unless im), SUBSCRIBE with Event: im, and SUBSCRIBE for other
 * packages when the node does not proxy (then 489; a proxy forwards them to the user's devices).
 * Presence requests are dispatched before this is asked. */
int broker_wants(const struct sip_req_class *c, int proxying);

/* The handlers take the request's Event header as the server parsed it (sip_classify). */
/* An initial SUBSCRIBE with Event: im. Ends in a final response. */
void broker_handle_subscribe(struct broker *b, struct sip_txn *t, const struct sip_event *ev);
/* A SUBSCRIBE with a To tag: returns 1 when it refreshes one of the broker's subscriptions (and
 * answers it), 0 when the dialog is not the broker's (nothing sent). */
int broker_handle_in_dialog(struct broker *b, struct sip_txn *t, const struct sip_event *ev);
/* MESSAGE (out of dialog) or PUBLISH with Event: im to a topic. Ends in a final response. */
void broker_handle_publish(struct broker *b, struct sip_txn *t, const struct sip_event *ev);

/* After a successful REGISTER: page-mode delivery of what the AOR's plain devices have not had. */
void broker_registered(struct broker *b, const char *aor, const struct binding *v, size_t n);

/* A group topic was made (or found made) in the store by this node: its members' REGISTERs keep
 * the group replay checks (pagemode.c). */
void broker_group_created(struct broker *b, const char *topic);

/* ---- the control plane (docs/api.md "Topics, subscriptions, messages") ---- */

/* A system notice for topic (canonical URI), stored and delivered like any message (§10.4):
 * NOTIFY to the topic's subscriptions on this node (other brokers hear of it through the store),
 * page-mode MESSAGE to the registered devices without one. No membership check, no sender's
 * copy, no duplicate detection. done(arg, status, seq): 0 and the seq once stored (before the
 * deliveries go out), 413 when the body is over im_max_message_bytes, 400 for a URI too long,
 * or a STORE_E* status. done may run before the call returns. */
typedef void (*broker_notice_cb)(void *arg, int status, int64_t seq);
void broker_publish_notice(struct broker *b, const char *topic, const char *from,
                           const char *content_type, const char *body, size_t body_len,
                           broker_notice_cb done, void *arg);

/* One `im` subscription this broker holds, as broker_subs_visit shows it (valid during the call). */
struct broker_sub_info {
    const char *topic, *aor;
    const char *device;        /* +sip.instance, else the Contact URI of the SUBSCRIBE */
    const char *call_id, *remote_tag, *local_tag, *event_id; /* the dialog; event_id "" = none */
    int64_t acked_seq;         /* P: everything up to it acknowledged (or skipped, or a gap) */
    const char *state;         /* "active", "waiting" (§9.4), "terminating" (final NOTIFY due) */
    int64_t expires_at;        /* unix seconds */
};
typedef void (*broker_sub_visit_fn)(void *arg, const struct broker_sub_info *s);
/* Call fn for each subscription to topic (NULL: any) of subscriber aor (NULL: any). Returns how
 * many. Unordered. */
size_t broker_subs_visit(struct broker *b, const char *topic, const char *aor,
                         broker_sub_visit_fn fn, void *arg);

/* The retention the broker applies (its reads of a topic's messages use it too). */
const struct im_retention *broker_retention(const struct broker *b);

/* Group topic was deleted: its subscriptions here end (terminated;reason=noresource). */
void broker_group_deleted(struct broker *b, const char *topic);
/* aor is no member of group topic any more: its subscriptions to it here end
 * (terminated;reason=rejected, §19 "Authorization"). */
void broker_member_removed(struct broker *b, const char *topic, const char *aor);

/* Once a second: expiry of subscriptions, retention. */
void broker_tick(struct broker *b, int64_t now);
/* Node shutting down: every active subscription gets terminated;reason=deactivated. */
void broker_shutdown(struct broker *b);

size_t broker_subscriptions(const struct broker *b);

/* The store's nodes listener (store_nodes_set_listener): a row of `nodes` changed (nid; -1 =
 * any). The broker re-reads its copy of the table and takes over the topics that are now its
 * own from brokers that went down or drain, or hands off its own when it is no live broker. */
void broker_nodes_changed(struct broker *b, int nid);

/* Exposed for tests (takeover.c). The local CSeq a broker taking over a dialog goes on from,
 * given the row's CSeq, the position written with it and the device's position now. */
uint32_t broker_takeover_cseq(uint32_t written, int64_t acked_written, int64_t device_pos);
/* Is `self` the broker that owns topic in the node table copy v[0..n)? */
int broker_topic_is_mine(const struct cnode *v, size_t n, const char *self, const char *topic);

/* Parse the Event header value "im;since=5;id=x": the event type into type (lower-cased) and
 * since (-1 when absent). Returns 0, or 400 when since is malformed / repeated (§4). */
int broker_parse_event(const char *value, char *type, size_t type_len, int64_t *since);

#endif
