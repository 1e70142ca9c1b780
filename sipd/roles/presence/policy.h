/* policy.h - who may watch a presentity: the presence package's authorization policy
 * (docs/presence.md §6.1), the one decision an initial SUBSCRIBE waits for before it is accepted.
 *
 * The watcher is the identity the SUBSCRIBE authenticated as (auth/auth.h), or, when it did not
 * authenticate, its From's AOR (a claim). In this order:
 *   1. the presentity's owner watching itself: allowed;
 *   2. a watcher on the presentity's block list: 403;
 *   3. a watcher on its allow list: allowed (from any domain);
 *   4. otherwise allowed only when the watcher is an authenticated user of a served domain, or,
 *      with authentication off, claims (From) to be one; else 403.
 * A list entry is a canonical AOR ("sip:bob@example.com", matching that user) or a domain
 * ("example.org", matching every user of it).
 *
 * pres_policy_allows() is the decision alone (pure: the unit tests drive it with tables);
 * pres_policy_check() is the round trip watch.c makes for every initial SUBSCRIBE not from the
 * owner and every refresh: the presentity's lists read from the store, then the decision.
 * Nothing here allocates: the caller's context holds the query in flight. */
#ifndef SIPD_PRESENCE_POLICY_H
#define SIPD_PRESENCE_POLICY_H

#include <stddef.h>

struct pres_rules;
struct sip_txn;
struct store;

/* The watcher of a SUBSCRIBE. */
struct pres_watcher {
    const char *aor;      /* canonical "sip:user@domain" (sip_uri_aor); NULL: none could be had */
    int is_authenticated; /* aor is the identity the request authenticated as */
    int is_served;        /* aor's domain is one of ours (uri_domain_served) */
};

/* May w watch `presentity` (canonical AOR) under rules r (NULL: none)? auth_enabled: whether
 * this node authenticates (auth.enabled). 1 allowed, 0 forbidden; *why (when not NULL) gets a
 * word for the log: "owner", "blocked", "allowed", "default", "not-authenticated",
 * "other-domain". */
int pres_policy_allows(const char *presentity, const struct pres_watcher *w,
                       const struct pres_rules *r, int auth_enabled, const char **why);

/* The watcher of t's request: the identity it authenticated as (txn_identity), else its From's
 * AOR; the AOR is copied into buf (n bytes) and w->aor points there, or is NULL when neither
 * could be had (or fit). w->is_served: the AOR's domain is one of domains (uri_domain_served). */
void pres_watcher_of(struct sip_txn *t, const char *const *domains, char *buf, size_t n,
                     struct pres_watcher *w);

/* The presentity `owner`'s rules read from the store, then pres_policy_allows() for watcher w:
 * done(arg, status, is_allowed, why), once, with status 0 or the store's error (is_allowed then
 * 0). q is the caller's storage for the query; q, owner and w->aor must stay valid until done is
 * called. */
typedef void (*pres_policy_done_fn)(void *arg, int status, int is_allowed, const char *why);
struct pres_policy_check {
    const char *owner;
    struct pres_watcher watcher;
    int auth_enabled;
    pres_policy_done_fn done;
    void *arg;
};
void pres_policy_check(struct store *st, struct pres_policy_check *q, const char *owner,
                       const struct pres_watcher *w, int auth_enabled, pres_policy_done_fn done,
                       void *arg);

/* Does list entry `entry` match the canonical AOR aor? */
int pres_rule_matches(const char *entry, const char *aor);

/* A list entry given by a user (REST, sipctl) in canonical form into out (n bytes, at most
 * STORE_PRES_RULE_BYTES + 1 are needed): "sip:user@host" or "sips:..." or "user@host" -> an AOR
 * "sip:user@host" (host lower case); "host" -> the domain, lower case. The user part may not
 * hold a control character, space, quote, angle bracket, backslash, '%', ';', '?', ':' or a
 * second '@'; a host is letters, digits, '-', '.' (or an IPv6 address in brackets). 0, or -1
 * when it is no entry. */
int pres_rule_entry(const char *in, char *out, size_t n);

#endif
