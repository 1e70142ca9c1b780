/* policy.c - the presence authorization policy (policy.h, docs/presence.md §6.1): who the
 * watcher is, a pure decision over its identity and the presentity's allow and block lists, and
 * the round trip that reads those lists from the store for watch.c (every initial SUBSCRIBE not
 * from the owner, every refresh). */
#include "policy.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../../sip/msg.h"
#include "../../sip/txn.h"
#include "../../sip/uri.h"
#include "../../store/store.h"

int pres_rule_matches(const char *entry, const char *aor)
{
    if (!entry || !aor)
        return 0;
    if (strchr(entry, '@'))
        return strcmp(entry, aor) == 0;
    const char *at = strrchr(aor, '@');
    return at && strcasecmp(at + 1, entry) == 0;
}

static int listed(const char *const *v, size_t n, const char *aor)
{
    for (size_t i = 0; i < n; i++)
        if (pres_rule_matches(v[i], aor))
            return 1;
    return 0;
}

int pres_policy_allows(const char *presentity, const struct pres_watcher *w,
                       const struct pres_rules *r, int auth_enabled, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    /* with authentication on, a served domain's user who did not authenticate claims an
     * identity nobody checked (auth challenges them, so this is only a safeguard): such a claim
     * is neither the owner nor on the allow list */
    int is_claim_of_ours = auth_enabled && !w->is_authenticated && w->is_served;
    if (w->aor && presentity && !is_claim_of_ours && strcmp(w->aor, presentity) == 0) {
        *why = "owner";
        return 1;
    }
    if (w->aor && r && listed(r->block, r->nblock, w->aor)) {
        *why = "blocked";
        return 0;
    }
    if (w->aor && r && !is_claim_of_ours && listed(r->allow, r->nallow, w->aor)) {
        *why = "allowed";
        return 1;
    }
    if (w->aor && w->is_served && (w->is_authenticated || !auth_enabled)) {
        *why = "default";
        return 1;
    }
    *why = w->is_served ? "not-authenticated" : "other-domain";
    return 0;
}

void pres_watcher_of(struct sip_txn *t, const char *const *domains, char *buf, size_t n,
                     struct pres_watcher *w)
{
    const char *id = txn_identity(t);
    const osip_message_t *req = txn_request(t);
    *w = (struct pres_watcher){0};
    if (id && strlen(id) < n) {
        memcpy(buf, id, strlen(id) + 1);
        w->is_authenticated = 1;
    } else if (!req->from || !req->from->url || sip_uri_aor(req->from->url, buf, n) < 0) {
        return;
    }
    w->aor = buf;
    const char *at = strrchr(buf, '@');
    w->is_served = at && uri_domain_served(domains, at + 1);
}

static void got_rules(void *arg, int status, const struct pres_rules *r)
{
    struct pres_policy_check *q = arg;
    const char *why = NULL;
    int is_allowed =
        status == 0 && pres_policy_allows(q->owner, &q->watcher, r, q->auth_enabled, &why);
    q->done(q->arg, status, is_allowed, why);
}

void pres_policy_check(struct store *st, struct pres_policy_check *q, const char *owner,
                       const struct pres_watcher *w, int auth_enabled, pres_policy_done_fn done,
                       void *arg)
{
    *q = (struct pres_policy_check){
        .owner = owner, .watcher = *w, .auth_enabled = auth_enabled, .done = done, .arg = arg};
    store_pres_rules_get(st, owner, got_rules, q);
}

/* Is host[0..n) a host name (letters, digits, '-', '.') or a bracketed IPv6 address? */
static int host_ok(const char *h, size_t n)
{
    if (n == 0)
        return 0;
    if (h[0] == '[')
        return n > 2 && h[n - 1] == ']' && strspn(h + 1, "0123456789abcdefABCDEF:.") == n - 2;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.')
            return 0;
    return h[0] != '.' && h[0] != '-';
}

static int user_ok(const char *u, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c <= 0x20 || c == 0x7f || strchr("\"<>\\%;?:@", c))
            return 0;
    }
    return 1;
}

int pres_rule_entry(const char *in, char *out, size_t n)
{
    if (!in || n == 0)
        return -1;
    size_t len = strlen(in);
    if (len == 0 || len > STORE_PRES_RULE_BYTES)
        return -1;
    const char *at = strchr(in, '@');
    if (!at) {
        if (!host_ok(in, len) || len + 1 > n)
            return -1;
        for (size_t i = 0; i <= len; i++)
            out[i] = (char)tolower((unsigned char)in[i]);
        return 0;
    }
    const char *user = in;
    if (strncasecmp(in, "sip:", 4) == 0)
        user = in + 4;
    else if (strncasecmp(in, "sips:", 5) == 0)
        user = in + 5;
    const char *host = at + 1;
    size_t ulen = (size_t)(at - user), hlen = strlen(host);
    if (at < user || !user_ok(user, ulen) || !host_ok(host, hlen))
        return -1;
    int k = snprintf(out, n, "sip:%.*s@%s", (int)ulen, user, host);
    if (k < 0 || (size_t)k >= n || (size_t)k > STORE_PRES_RULE_BYTES)
        return -1;
    for (char *p = out + 4 + ulen + 1; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}
