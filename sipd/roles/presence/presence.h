/* presence.h - the `presence` event package of the broker role: RFC 3903 PUBLISH (event state
 * by entity-tag) and RFC 3856 SUBSCRIBE/NOTIFY with application/pidf+xml (RFC 3863).
 *
 * Publications live in the store (store.h, "presence publications"), so every node sharing a
 * database sees the same state; subscriptions (notifier dialogs, sip/subdialog.h) live in the node that
 * accepted them. How several publications of one presentity are combined into the document a
 * watcher receives is pidf_compose() (sip/pidf.h) and docs/presence.md §4. */
#ifndef SIPD_PRESENCE_H
#define SIPD_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct transport;
struct txn_layer;
struct store;
struct sip_event;
struct sip_txn;

struct presence_config {
    int publish_min_expires;     /* a PUBLISH asking for less (except 0): 423 with Min-Expires */
    int publish_max_expires;     /* longer requests are shortened to this */
    int publish_default_expires; /* PUBLISH without Expires */
    int subscribe_min_expires;   /* the same three for SUBSCRIBE */
    int subscribe_max_expires;
    int subscribe_default_expires;
    const char *const *domains;  /* NULL-terminated; NULL or empty = every domain is ours */
    int auth_enabled;            /* this node authenticates (auth.enabled): the watch policy's
                                  * default then wants an authenticated watcher (policy.h) */
};

/* ---- the package on the event loop -------------------------------------------------------- */
struct presence;

/* Caller frees with presence_destroy(). cfg is copied (domains must outlive the package). NULL
 * on allocation failure. Sets the store's presence listener (store_pres_set_listener) to hear
 * of changes made by other nodes; the caller clears it (NULL) before destroying the store. */
struct presence *presence_create(struct loop *loop, struct transport *tp, struct txn_layer *tl,
                                 struct store *st, const struct presence_config *cfg);
/* Frees every subscription without sending anything. Call it after store_destroy() (which runs
 * the package's pending store callbacks) and before txn_layer_destroy(). */
void presence_destroy(struct presence *p);

/* The handlers take the request's Event header as the server parsed it (sip_classify). */
/* A PUBLISH server transaction for the package (Event: presence expected; anything else gets
 * 489). Always ends with a final response (now or later). */
void presence_handle_publish(struct presence *p, struct sip_txn *t, const struct sip_event *ev);
/* An initial SUBSCRIBE (no To tag) for the package. Always ends with a final response. */
void presence_handle_subscribe(struct presence *p, struct sip_txn *t, const struct sip_event *ev);
/* A SUBSCRIBE with a To tag: returns 1 and handles it when it belongs to one of the package's
 * dialogs, else returns 0 and touches nothing. */
int presence_handle_in_dialog(struct presence *p, struct sip_txn *t, const struct sip_event *ev);

/* Ends every subscription with a final NOTIFY terminated;reason=deactivated (the node stops). */
void presence_shutdown(struct presence *p);
/* Call once a second: expires publications (NOTIFYing watchers of the presentities that lost
 * one) and subscriptions (final NOTIFY terminated;reason=timeout), and retries NOTIFYs that
 * could not be built (store unavailable). now = unix seconds. */
void presence_tick(struct presence *p, int64_t now);
/* Subscriptions alive (not terminated). */
size_t presence_subscriptions(const struct presence *p);

#endif
