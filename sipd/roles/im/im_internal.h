/* im_internal.h - what the files of the `im` event package (docs/im-event-package.md; the
 * section numbers in comments refer to it) share, and nothing else includes:
 *
 *   broker.c        classifying requests, creation, tick, shutdown, destruction
 *   subscription.c  topics, subscriptions and their indexes, SUBSCRIBE (initial and in-dialog)
 *   delivery.c      the ordered NOTIFY engine: live queues, store reads, live fan-out
 *   pagemode.c      page-mode MESSAGE delivery to devices without a subscription, replay after
 *                   REGISTER
 *   publish.c       MESSAGE/PUBLISH to a topic: checks, storing, duplicates, the answer
 *   takeover.c      the rows kept for a takeover, this broker's copy of the node table, and
 *                   taking over the subscriptions of a broker that went down or drains
 *
 * Per subscription the broker keeps the position P (everything up to P acknowledged, skipped or
 * reported as a gap), the horizon H, at most one NOTIFY outstanding, and a live queue of copies
 * of messages with consecutive seqs [.., next_seq). When a message cannot be queued (bound
 * reached, or a seq missing in between) the subscription is "behind" and reads from the store
 * after next_seq - 1 instead; both paths yield the same NOTIFY sequence (§9.3).
 *
 * Store operations may complete later (postgres): the objects they refer to (subscriptions,
 * page-mode sessions, shared message copies) are reference-counted (base/ref.h) and freed when
 * removed and no operation holds them. */
#ifndef SIPD_IM_INTERNAL_H
#define SIPD_IM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../../base/hmap.h"
#include "../../base/loop.h"
#include "../../base/ref.h"
#include "../../sip/subdialog.h"
#include "../../sip/uri.h"
#include "broker.h"

#define AOR_MAX 512
#define ALLOW_EVENTS SIP_ALLOW_EVENTS_LINE

enum sub_state { SUB_ACTIVE, SUB_WAITING };
enum out_kind { OUT_NONE, OUT_BODYLESS, OUT_MESSAGE, OUT_FINAL };

struct qent; /* a live queue entry (delivery.c) */
struct metric;

struct btopic {
    char *uri;
    struct isub *subs; /* doubly linked through isub->tnext/tprev */
    size_t nsubs;
    int64_t last_seq;  /* highest seq this node has seen */
};

/* A link in one of the broker's intrusive indexes (a hash map from key to a list head). */
struct ilink {
    struct isub *next, *prev;
    int listed;
};

/* One `im` subscription: created and indexed by subscription.c, its NOTIFYs sent by delivery.c. */
struct isub {
    struct broker *b;
    struct btopic *topic;
    struct isub *tnext, *tprev;
    struct ilink by_instance;   /* b->devices under "topic\ni\n<instance>" (when it has one) */
    struct ilink by_contact;    /* b->devices under "topic\nc\n<canonical contact>" */
    struct ilink by_conn;       /* b->conns under its TCP connection id */
    uint64_t indexed_conn;      /* the connection it is listed under in b->conns, 0 = none */
    struct sub_dialog d;
    char *subscriber;     /* AOR */
    char *instance;       /* +sip.instance of the SUBSCRIBE, NULL when none */
    char *contact;        /* Contact URI of the SUBSCRIBE */
    char *origin;         /* "Call-ID\nFrom tag\nCSeq" of the creating SUBSCRIBE (§13 merged requests) */
    int is_group;
    enum sub_state state;
    int64_t expires_at;
    int64_t P, H;
    int p_frozen;           /* the outstanding NOTIFY predates a refresh with since (§8.3) */
    struct sip_txn *out;
    enum out_kind out_kind;
    int64_t out_seq;
    uint64_t out_stored_us;  /* the outstanding NOTIFY's message: when fan-out had it (0: none) */
    int want_bodyless;
    const char *final_reason; /* pending termination (static string) */
    struct qent *qhead, *qtail;
    size_t qlen;
    int64_t next_seq;
    int behind;
    int64_t gap_hi;         /* discarded messages behind P up to gap_hi not reported yet */
    int busy;               /* a store operation for this subscription is in flight */
    int retry_pending;      /* waiting for s->retry before sending again */
    int pumping;            /* inside im_pump(): a synchronous store callback must not recurse */
    int64_t read_after;     /* the store read in flight reads after this seq */
    struct ref ref;         /* the indexes' (until im_sub_remove) + one per operation holding it */
    int dead;               /* removed: callbacks still holding it do nothing */
    int has_row;            /* its row was written (takeover.c): deleted when it ends */
    int keep_row;           /* removed without ending (handed off, or the broker destroyed) */
    struct timer retry;     /* 503 Retry-After */
};

/* What this node knows the store holds, so that a REGISTER skips the page-mode replay checks
 * when they cannot find anything (pagemode.c, "replay after REGISTER"). */
struct im_recent;
struct im_active {
    int state;          /* ACTIVE_UNKNOWN / _LOADING / _KNOWN / _TOO_MANY (pagemode.c) */
    unsigned epoch;     /* bumped by a reset: answers to older queries are dropped */
    int nloading;       /* snapshot queries outstanding */
    int is_load_failed, is_too_many;
    int npending;       /* member queries of topics learned since the snapshot, outstanding */
    int64_t retry_at;   /* a failed snapshot is tried again from then on */
    struct hmap topics;  /* topics that stored a message -> (void *)1 */
    struct hmap members; /* AORs in a group topic that stored a message -> (void *)1 */
    struct im_recent *recent; /* REGISTERs whose checks were skipped lately (a small cache) */
};

struct broker {
    struct loop *loop;
    struct transport *tp;
    struct txn_layer *tl;
    struct store *st;
    struct broker_config cfg;
    struct hmap topics;   /* uri -> btopic */
    struct hmap subs;     /* dialog key + "\n" + id -> isub */
    struct hmap dialogs;  /* dialog key -> size_t* (subscriptions in that dialog) */
    struct hmap origins;  /* isub->origin -> isub */
    struct hmap devices;  /* device key -> isub* list (by_instance, by_contact): §8.5, §11.1 */
    struct hmap conns;    /* TCP connection id (8 bytes) -> isub* (list through by_conn) */
    struct hmap sessions; /* key -> pm_session (pagemode.c) */
    struct im_active active; /* pagemode.c */
    size_t nsubs;
    size_t queued;        /* messages in the live queues of every subscription */
    struct metric *notify_latency; /* sipd_publish_notify_latency_seconds (delivery.c) */
    int shutting_down;
    int is_destroying;    /* broker_destroy: the store is gone */
    struct im_takeover *takeover; /* takeover.c; NULL when the node has no name (no rows) */
};

/* The device string stored with a message / used for positions: instance, else contact. */
static inline const char *device_of(const char *instance, const char *contact)
{
    return instance && *instance ? instance : contact;
}

/* ---- subscription.c ---- */

/* Same device (§2.4): a subscription's (instance, contact) against a binding's. */
int im_same_device(const char *inst_a, const char *contact_a, const char *inst_b,
                   const char *contact_b);
/* The topic uri, created (empty) when create is set; NULL when absent or out of memory. */
struct btopic *im_topic_get(struct broker *b, const char *uri, int create);

#define DEVICE_SUBS_MAX 64
/* The subscriptions to topic held by the device (instance, contact) per §2.4, at most
 * DEVICE_SUBS_MAX, each once, into v. Returns how many. */
size_t im_device_subs(struct broker *b, const char *topic, const char *instance,
                      const char *contact, struct isub **v);

/* Forget s at once (no NOTIFY): unlisted everywhere (dropping the indexes' reference), freed
 * when no store operation holds it (ref_put(&s->ref) in their callbacks). */
void im_sub_remove(struct isub *s, const char *why);
/* The subscriber cannot be reached: s waits for a refresh (§9.4), re-reading from P then. */
void im_sub_make_waiting(struct isub *s, const char *why);
/* End a subscription with a final NOTIFY once none is outstanding (§9.8). */
void im_sub_terminate(struct isub *s, const char *reason);

/* Rebuild a subscription taken over from its row (takeover.c) and list it: active, behind,
 * its position and CSeq given. Returns it, or NULL (already held here, or out of memory). */
struct isub *im_sub_restore(struct broker *b, const struct im_sub_row *r, int64_t position,
                            uint32_t local_cseq);

/* ---- takeover.c ---- */

struct im_takeover;
/* Write s's row (created, refreshed, taken over); a no-op without a node name. */
void im_sub_save(struct isub *s);
/* s ends: its row goes (unless it is kept: s->keep_row). */
void im_sub_forget_row(struct isub *s);
int im_takeover_init(struct broker *b);
void im_takeover_free(struct broker *b);
void im_takeover_tick(struct broker *b);
/* An in-dialog im SUBSCRIBE of a dialog not held here: wait for a takeover in progress (the
 * broker answers it later). Returns 1 when it waits, 0 when it is to be answered now. */
int im_takeover_park(struct broker *b, struct sip_txn *t);

/* ---- delivery.c ---- */

/* Empty s's live queue. */
void im_queue_clear(struct isub *s);
/* Send the next NOTIFY of s if it may (§9.2): one outstanding at a time, in order. */
void im_pump(struct isub *s);
/* A message stored in topic uri: every subscription takes it (§9.5). */
void im_fan_out(struct broker *b, const char *uri, const struct im_message *m);
/* The store's listener (store_im_set_listener): another process stored seq in topic (§15). */
void im_on_announce(void *arg, const char *topic, int64_t seq);

/* ---- pagemode.c ---- */

/* Start (or nudge) page-mode delivery of topic to one binding of aor. initial: the position a
 * device with none (and no sibling with one) starts from. */
void im_pm_start(struct broker *b, const char *topic, int is_group, const char *aor,
                 const struct binding *bd, int64_t initial);
/* Is v[i] a device that an earlier or better binding in v already stands for (§2.4)? */
int im_device_seen_before(struct broker *b, const struct binding *v, size_t n, size_t i);
/* Does bd get page-mode delivery of topic: not the sender, and holding no subscription to it? */
int im_is_pm_target(struct broker *b, const char *topic, const char *sender,
                    const struct binding *bd);
/* Forget every page-mode session (no messages sent); the store is gone, nothing calls back. */
void im_pm_destroy_all(struct broker *b);
/* The full replay after a REGISTER of topic's AOR (§11.4): its user topic and its groups. */
void im_replay_registered(struct broker *b, const char *topic, const struct binding *v, size_t n);

/* ---- active.c ---- */

/* May a REGISTER of topic's AOR skip the user-topic replay, the group replay (the rule: the
 * header of pagemode.c)? Takes the snapshot when due; remembers a skip for a late announcement. */
void im_active_may_skip(struct broker *b, const char *topic, int *skip_user, int *skip_groups);
/* A message was stored in topic (an own publish, or announced by the store): topic is active. */
void im_active_note(struct broker *b, const char *topic);
/* The store's announcements may have been missed: forget what is known of the store. */
void im_active_reset(struct broker *b);
void im_active_init(struct broker *b);
void im_active_free(struct broker *b);

#endif
