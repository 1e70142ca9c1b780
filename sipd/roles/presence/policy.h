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
 * ("example.org", matching every user of it). Nothing here allocates or touches the store. */
#ifndef SIPD_PRESENCE_POLICY_H
#define SIPD_PRESENCE_POLICY_H

#include <stddef.h>

struct pres_rules;

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
