/* presence.c - the `presence` event package (RFC 3856, RFC 3903): its entry file; see presence.h
 * and docs/presence.md.
 *
 * The package is three files around one object (struct presence, presence_impl.h):
 *  - publish.c: PUBLISH (RFC 3903 §6 checks, then one store step, store_pres_publish, per
 *    request: entity-tags, If-Match, refresh/modify/remove, expiry);
 *  - watch.c: SUBSCRIBE and the watchers of each presentity, the NOTIFYs that follow a change
 *    (made here, announced by the store from another node, or an expiry), rate-controlled to
 *    one outstanding NOTIFY per subscription; who may watch is policy.c's (policy.h: the
 *    watcher's identity, the presentity's rules read from the store, the decision);
 *  - this file: the package's life cycle and tick, the request checks both halves share
 *    (presentity, Event, Expires), and the conversion of the store's publications into the
 *    plain parts that the PIDF composer (sip/pidf.c) reads -- the body format knows no store.
 * Publications live in the store, subscriptions in this node; publish.c reaches the watchers only
 * through pres_changed(). */
#include "presence_impl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/metrics.h"
#include <strings.h>
#include <time.h>

#include "../../base/log.h"
#include "../../base/sbuf.h"
#include "../../sip/msg.h"
#include "../../sip/pidf.h"
#include "../../sip/txn.h"
#include "../../sip/uri.h"
#include "../../store/store.h"

/* ==== request checks shared by PUBLISH and SUBSCRIBE ========================================== */

int pres_event_is_presence(const struct sip_event *ev)
{
    return ev->value ? sip_event_is(ev, "presence") : -1;
}

int pres_presentity_of(const struct presence_config *cfg, const osip_message_t *req, char *buf,
                       size_t n)
{
    const osip_uri_t *u = req->req_uri;
    if (!u || !u->scheme ||
        (strcasecmp(u->scheme, "sip") != 0 && strcasecmp(u->scheme, "sips") != 0) ||
        !u->username || !*u->username || !u->host || !*u->host || !uri_domain_served(cfg->domains, u->host))
        return 404;
    int k = snprintf(buf, n, "%s:%s@%s", u->scheme, u->username, u->host);
    if (k < 0 || (size_t)k >= n)
        return 404;
    char *at = strchr(buf, '@');
    for (char *p = buf; *p; p++)
        if (p < buf + strlen(u->scheme) || p > at)
            *p = (char)tolower((unsigned char)*p);
    return 0;
}

int pres_granted_expires(const osip_message_t *req, int min, int max, int dflt)
{
    const char *ex = sip_header_get(req, "expires", 0);
    if (!ex)
        return dflt > max ? max : dflt;
    int e = sip_delta_seconds(ex, strlen(ex));
    if (e < 0)
        return -1;
    if (e > 0 && e < min)
        return -2;
    return e > max ? max : e;
}

void pres_respond_423(struct sip_txn *t, int min)
{
    char me[16];
    snprintf(me, sizeof me, "%d", min);
    txn_respond_simple(t, 423, NULL, "Min-Expires", me);
}

void pres_respond_store_error(struct sip_txn *t, int status, const char *what, const char *aor)
{
    if (status == STORE_EUNAVAIL) {
        LOG_WARN("presence %s aor=%s failed reason=store-unavailable", what, aor);
        txn_respond_simple(t, 503, "Presence store unavailable", "Retry-After", "5");
    } else {
        LOG_WARN("presence %s aor=%s failed reason=store-error", what, aor);
        txn_respond_simple(t, 500, "Presence store error", NULL, NULL);
    }
}

/* Publications composed without an allocation; presentities with more take one. */
#define COMPOSE_PARTS_ON_STACK 8

void pres_compose(const char *aor, const struct pres_publication *v, size_t n, struct sbuf *out)
{
    struct pidf_part local[COMPOSE_PARTS_ON_STACK] = {0};
    struct pidf_part *parts = n <= COMPOSE_PARTS_ON_STACK ? local : malloc(n * sizeof *parts);
    if (!parts) {
        out->failed = 1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        parts[i] = (struct pidf_part){.content_type = v[i].content_type,
                                      .body = v[i].body,
                                      .body_len = v[i].body_len,
                                      .etag = v[i].etag};
    pidf_compose(aor, parts, n, out);
    if (parts != local)
        free(parts);
}

/* ==== lifetime ================================================================================ */

/* sipd_subscriptions{package="presence"}: the watchers' subscriptions held here. */
static struct metric *subs_gauge;

static void collect_presence(void *arg)
{
    const struct presence *p = arg;
    metric_gauge_add(subs_gauge, (double)p->subs.count);
}

static void metrics_register(struct presence *p)
{
    static const char *const package[] = {"package", NULL};
    struct metric_family *f = metrics_family(metrics_default(), "sipd_subscriptions",
                                             "Event subscriptions held by this node, by event package.",
                                             METRIC_GAUGE, package, NULL, 0);
    metric_family_set_computed(f);
    subs_gauge = metric_series(f, (const char *const[]){"presence"});
    metrics_collector_add(metrics_default(), collect_presence, p);
}

struct presence *presence_create(struct loop *loop, struct transport *tp, struct txn_layer *tl,
                                 struct store *st, const struct presence_config *cfg)
{
    struct presence *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->loop = loop;
    p->tp = tp;
    p->tl = tl;
    p->st = st;
    p->cfg = *cfg;
    hmap_init(&p->subs);
    hmap_init(&p->watches);
    store_pres_set_listener(st, pres_on_announced, p);
    metrics_register(p);
    return p;
}

void presence_destroy(struct presence *p)
{
    if (!p)
        return;
    metrics_collector_remove(metrics_default(), collect_presence, p);
    pres_subs_free(p);
    hmap_free(&p->subs);
    hmap_free(&p->watches);
    free(p);
}

void presence_shutdown(struct presence *p)
{
    p->shutting_down = 1;
    pres_subs_deactivate(p);
}

void presence_tick(struct presence *p, int64_t now)
{
    store_pres_expire(p->st, now, pres_on_expired, p);
    pres_subs_tick(p, now);
}

size_t presence_subscriptions(const struct presence *p) { return p->nactive; }
