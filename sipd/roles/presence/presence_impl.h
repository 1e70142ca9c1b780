/* presence_impl.h - private to sipd/roles/presence/: the package object and what its three files
 * call of each other. presence.c (entry: life cycle, the request checks PUBLISH and SUBSCRIBE
 * share, store rows -> PIDF), publish.c (RFC 3903 publications), watch.c (RFC 3856 watchers and
 * NOTIFY). Publications never see a subscription: publish.c tells watch.c that a presentity
 * changed (pres_changed), and watch.c hears of changes elsewhere from the store. */
#ifndef SIPD_PRESENCE_IMPL_H
#define SIPD_PRESENCE_IMPL_H

#include <osipparser2/osip_parser.h>
#include <stddef.h>
#include <stdint.h>

#include "../../base/hmap.h"
#include "../../sip/uri.h"
#include "presence.h"

struct sbuf;
struct pres_publication;

#define PRES_ALLOW_EVENTS SIP_ALLOW_EVENTS_LINE

struct presence {
    struct loop *loop;
    struct transport *tp;
    struct txn_layer *tl;
    struct store *st;
    struct presence_config cfg;
    struct hmap subs;    /* dialog key -> struct pres_sub* (watch.c) */
    struct hmap watches; /* aor -> struct pres_watch* (watch.c) */
    size_t nactive;      /* subscriptions not ending */
    int shutting_down;
};

/* ---- presence.c: request checks shared by PUBLISH and SUBSCRIBE ------------------------------ */
/* The Event header's event type: 1 when it is `presence`, 0 when another package, -1 when the
 * request has no Event header. */
int pres_event_is_presence(const struct sip_event *ev);
/* The presentity of a request: its Request-URI as "scheme:user@host", scheme and host in lower
 * case (the registrar's canonical AOR). Returns 0, or 404 when it names no presentity of ours. */
int pres_presentity_of(const struct presence_config *cfg, const osip_message_t *req, char *buf,
                       size_t n);
/* The granted duration of a PUBLISH or SUBSCRIBE: 0..max, or -1 malformed (400), -2 too brief
 * (423). */
int pres_granted_expires(const osip_message_t *req, int min, int max, int dflt);
void pres_respond_423(struct sip_txn *t, int min);
/* 503 (store unavailable) or 500, with the one WARN line naming what failed. */
void pres_respond_store_error(struct sip_txn *t, int status, const char *what, const char *aor);
/* pidf_compose() of the store's publications v[0..n) into out (appended); out->failed when
 * memory ran out. */
void pres_compose(const char *aor, const struct pres_publication *v, size_t n, struct sbuf *out);

/* ---- watch.c: watchers and NOTIFY ------------------------------------------------------------ */
/* Has aor a watch (subscriptions, or a read in flight) on this node: worth composing for? */
int pres_is_watched(struct presence *p, const char *aor);
/* aor's state changed here to doc (NULL: not composed, read it again): NOTIFY every
 * subscription (now or when its outstanding NOTIFY completes). */
void pres_changed(struct presence *p, const char *aor, const char *doc, size_t doclen);
/* store_pres_set_listener callback (arg = the package): aor's publications changed on some node,
 * or (aor NULL) announcements may have been lost. */
void pres_on_announced(void *arg, const char *aor);
/* store_pres_expire callback (arg = the package): these presentities lost a publication. */
void pres_on_expired(void *arg, int status, const char *const *aors, size_t n);
/* presence_tick's part for subscriptions: expire them, retry NOTIFYs that could not be built. */
void pres_subs_tick(struct presence *p, int64_t now);
/* Start the final NOTIFY (terminated;reason=deactivated) of every subscription. */
void pres_subs_deactivate(struct presence *p);
/* Free every subscription and watch without sending anything (presence_destroy). */
void pres_subs_free(struct presence *p);

#endif
