/* watch.c - the watchers of the presence package (RFC 3856) and their NOTIFYs; see presence.h
 * and docs/presence.md.
 *
 *  - SUBSCRIBE (initial and in-dialog): one notifier dialog (sip/subdialog.h) per subscription,
 *    its first NOTIFY carrying the document composed from the store's publications; before an
 *    initial SUBSCRIBE is accepted, and again on each refresh, the watch policy (policy.h) reads
 *    the presentity's rules from the store and decides: 403 (a refresh also ends the
 *    subscription, reason=rejected) or on;
 *  - the watch table: one struct pres_watch per presentity that has subscriptions here, holding
 *    them and the read of its document in flight;
 *  - NOTIFY on change: at most one NOTIFY outstanding per subscription; a change that happens
 *    meanwhile marks the subscription dirty and the newest document goes out when the
 *    outstanding NOTIFY completes (RFC 3856 §6.6 allows this rate control: watchers see every
 *    final state, possibly not every intermediate one). Changes made here come from publish.c
 *    (pres_changed) with the document already composed.
 *
 * Other nodes (a shared PostgreSQL store): the store announces every change of a presentity's
 * publications, wherever it was made (store_pres_set_listener, pres_on_announced). On an
 * announcement of a presentity this node has watchers of, its publications are read again and
 * the document goes to every watcher that was last sent a different one -- so the announcement of
 * a change made here, already NOTIFYed, costs a read and no NOTIFY. The expiries this node's
 * tick removes are handled the same way (their announcement may come first). After a lost
 * listening connection (aor NULL), every presentity with watchers is read again.
 *
 * Object lifetimes: a subscription may be ended from inside a loop over subscriptions (a NOTIFY
 * that cannot be sent ends it at once), so subscriptions are reference-counted (base/ref.h) and
 * loops work on snapshots holding a reference; an ended subscription is unlinked at once and
 * freed with its last reference. A watch is reference-counted the same way: each of its
 * subscriptions holds it, and so does the read of its document in flight, so it goes when the
 * last of them does. */
#include "presence_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../base/hmap.h"
#include "../../base/log.h"
#include "../../base/ref.h"
#include "../../base/sbuf.h"
#include "../../sip/msg.h"
#include "../../sip/pidf.h"
#include "../../sip/txn.h"
#include "../../sip/subdialog.h"
#include "../../store/store.h"
#include "../../transport/addr.h"
#include "../../transport/transport.h"
#include "policy.h"

#define KEY_LEN 512

struct pres_watch;

struct pres_sub {
    struct presence *p;
    struct pres_watch *w;       /* the presentity watched (NULL once ended) */
    struct pres_sub *next;      /* in w's list */
    char *key;                  /* dialog key (sub_dialog_key) */
    struct sub_dialog d;
    int64_t expires_at;
    struct sip_txn *outstanding; /* the NOTIFY in flight */
    struct ref ref;             /* the tables' (until sub_end) + one per snapshot holding it */
    int dirty;                  /* the presentity changed since the last NOTIFY */
    const char *final_reason;   /* set: the next NOTIFY is terminated;reason=<this> */
    int final_with_body;        /* that final NOTIFY carries the document (unsubscribe, fetch) */
    int final_sent;             /* it is outstanding: the subscription ends with its result */
    int ended;                  /* unlinked; freed with its last reference */
    char *sent;                 /* the document of the last non-final NOTIFY (NULL: none yet) */
    size_t sent_len;
    char *watcher;              /* the watcher the policy accepted (policy.h), NULL: unknown */
    char *owner;                /* the presentity as its rules are keyed (subscribe_ctx.owner) */
    int watcher_is_auth, watcher_is_served, watcher_is_owner;
};

/* Everything the node does for one presentity: its subscriptions and the fetch of its document. */
struct pres_watch {
    struct presence *p;
    char *aor;
    struct ref ref;    /* one per subscription in subs, one for the read in flight */
    struct pres_sub *subs;
    int fetching;      /* a store_pres_get() is in flight */
    int needs_check;   /* announced by the store: if the read fails, every watcher is retried */
    uint64_t gen;      /* bumped on every change; a fetch started before a change is stale */
};

static void sub_kick(struct pres_sub *s, const char *doc, size_t doclen);

static void sub_free(struct pres_sub *s)
{
    sub_dialog_clear(&s->d);
    free(s->key);
    free(s->sent);
    free(s->watcher);
    free(s->owner);
    free(s);
}

static void sub_destroy(struct ref *r) { sub_free(ref_owner(r, struct pres_sub, ref)); }

/* The last subscription ended and no read is in flight: nobody here watches w's presentity. */
static void watch_destroy(struct ref *r)
{
    struct pres_watch *w = ref_owner(r, struct pres_watch, ref);
    hmap_del(&w->p->watches, w->aor, strlen(w->aor));
    free(w->aor);
    free(w);
}

static struct pres_watch *watch_get(struct presence *p, const char *aor)
{
    return hmap_get(&p->watches, aor, strlen(aor));
}

/* aor's watch, created when there is none, with a reference for the caller (ref_put(&w->ref)
 * when done; a subscription keeps it in s->w). NULL when out of memory. */
static struct pres_watch *watch_hold(struct presence *p, const char *aor)
{
    struct pres_watch *w = watch_get(p, aor);
    if (w) {
        ref_get(&w->ref);
        return w;
    }
    w = calloc(1, sizeof *w);
    if (!w || !(w->aor = strdup(aor)) || hmap_put(&p->watches, aor, strlen(aor), w, NULL)) {
        if (w)
            free(w->aor);
        free(w);
        return NULL;
    }
    w->p = p;
    ref_init(&w->ref, watch_destroy);
    return w;
}

/* End s at once, without a NOTIFY: unlink it everywhere. */
static void sub_end(struct pres_sub *s)
{
    struct presence *p = s->p;
    if (s->ended)
        return;
    s->ended = 1;
    if (!s->final_reason)
        p->nactive--;
    hmap_del(&p->subs, s->key, strlen(s->key));
    struct pres_watch *w = s->w;
    if (w) {
        for (struct pres_sub **pp = &w->subs; *pp; pp = &(*pp)->next) {
            if (*pp == s) {
                *pp = s->next;
                break;
            }
        }
        s->w = NULL;
        ref_put(&w->ref); /* s's */
    }
    if (s->outstanding) {
        txn_client_detach(s->outstanding);
        s->outstanding = NULL;
    }
    ref_put(&s->ref); /* the tables' */
}

/* The subscriptions of w with a reference each (the caller releases them with release_snapshot()). */
static struct pres_sub **watch_snapshot(struct pres_watch *w, size_t *n)
{
    size_t k = 0;
    for (struct pres_sub *s = w->subs; s; s = s->next)
        k++;
    *n = 0;
    struct pres_sub **v = k ? malloc(k * sizeof *v) : NULL;
    if (!v)
        return NULL;
    for (struct pres_sub *s = w->subs; s; s = s->next) {
        ref_get(&s->ref);
        v[(*n)++] = s;
    }
    return v;
}

static void release_snapshot(struct pres_sub **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ref_put(&v[i]->ref);
    free(v);
}

/* Give doc (NULL: none could be had) to every subscription of w that waits for one. */
static void watch_deliver(struct pres_watch *w, const char *doc, size_t doclen)
{
    size_t n;
    struct pres_sub **v = watch_snapshot(w, &n);
    for (size_t i = 0; i < n; i++)
        sub_kick(v[i], doc, doclen);
    release_snapshot(v, n);
}

struct fetch_ctx {
    struct pres_watch *w; /* with the read's reference */
    uint64_t gen;
};

static int watch_fetch(struct presence *p, struct pres_watch *w);

/* Whether s's last non-final NOTIFY carried exactly doc. */
static int sub_was_sent(const struct pres_sub *s, const char *doc, size_t doclen)
{
    return s->sent && s->sent_len == doclen && memcmp(s->sent, doc, doclen) == 0;
}

static void fetch_done(void *arg, int status, const struct pres_publication *v, size_t n)
{
    struct fetch_ctx *fc = arg;
    struct pres_watch *w = fc->w;
    struct presence *p = w->p;
    w->fetching = 0;
    if (status == 0 && w->gen != fc->gen) {
        watch_fetch(p, w); /* changed meanwhile: what we read may be older than a NOTIFY sent */
    } else if (status == 0) {
        struct sbuf doc;
        sbuf_init(&doc);
        pres_compose(w->aor, v, n, &doc);
        if (!doc.failed) {
            /* the store may have changed behind us (another node): whoever was last sent
             * something else needs this one; whoever was sent it needs nothing */
            for (struct pres_sub *s = w->subs; s; s = s->next)
                if (!s->final_reason && !sub_was_sent(s, doc.p, doc.len))
                    s->dirty = 1;
            w->needs_check = 0;
            watch_deliver(w, doc.p, doc.len);
        }
        sbuf_free(&doc);
    } else {
        LOG_WARN("presence aor=%s document not read status=%d (NOTIFYs retried)", w->aor, status);
        /* final NOTIFYs go out without a body; the others wait for presence_tick(), and after
         * an announcement all of them do (what changed is not known) */
        int was_announced = w->needs_check;
        w->needs_check = 0;
        size_t k;
        struct pres_sub **subs = watch_snapshot(w, &k);
        for (size_t i = 0; i < k; i++) { /* sub_kick may end the last one (w stays: ours) */
            if (subs[i]->final_reason) {
                subs[i]->final_with_body = 0;
                sub_kick(subs[i], NULL, 0);
            } else if (was_announced) {
                subs[i]->dirty = 1;
            }
        }
        release_snapshot(subs, k);
    }
    free(fc);
    ref_put(&w->ref); /* the read's: frees w when no subscription is left */
}

/* Read w's publications and deliver the document to its subscriptions (once in flight). 0, or
 * -1 when nothing could be started (out of memory: presence_tick() retries the dirty ones). The
 * store may answer at once, so w may be gone when this returns. */
static int watch_fetch(struct presence *p, struct pres_watch *w)
{
    if (w->fetching)
        return 0;
    struct fetch_ctx *fc = malloc(sizeof *fc);
    if (!fc)
        return -1;
    fc->w = w;
    fc->gen = w->gen;
    w->fetching = 1;
    ref_get(&w->ref);
    store_pres_get(p->st, w->aor, sip_now_s(), fetch_done, fc);
    return 0;
}

static void on_notify_result(void *arg, struct sip_txn *ct, enum txn_event ev, osip_message_t *resp,
                             const char *raw, size_t raw_len, int code)
{
    struct pres_sub *s = arg;
    if (ev == TXN_RESPONSE && code < 200)
        return;
    s->outstanding = NULL;
    if (s->final_sent) {
        sub_end(s);
        return;
    }
    if (ev == TXN_RESPONSE && code >= 200 && code < 300) {
        sub_kick(s, NULL, 0);
        return;
    }
    /* 481, 408 / Timer F, a transport error, any other failure: RFC 6665 §4.2.2 */
    LOG_INFO("presence subscription removed aor=%s call-id=%s reason=notify-%s code=%d",
             s->w ? s->w->aor : "-", s->d.call_id,
             ev == TXN_TIMEOUT             ? "timeout"
             : ev == TXN_TRANSPORT_ERROR ? "transport-error"
                                         : "rejected",
             code);
    sub_end(s);
}

/* Send s's next NOTIFY if it needs one and has none outstanding; doc is the presentity's
 * current document, or NULL (then it is fetched first when the NOTIFY needs it). */
static void sub_kick(struct pres_sub *s, const char *doc, size_t doclen)
{
    struct presence *p = s->p;
    if (s->ended || s->outstanding || s->final_sent)
        return;
    int is_final = s->final_reason != NULL;
    if (!is_final && !s->dirty)
        return;
    int with_body = !is_final || s->final_with_body;
    if (with_body && !doc) {
        if (s->w)
            watch_fetch(p, s->w);
        return;
    }
    char state[64];
    if (is_final) {
        snprintf(state, sizeof state, "terminated;reason=%s", s->final_reason);
    } else {
        int64_t left = s->expires_at - sip_now_s();
        snprintf(state, sizeof state, "active;expires=%lld", (long long)(left > 0 ? left : 0));
    }
    struct notify_params np = {
        .event = "presence",
        .sub_state = state,
        .content_type = with_body ? PIDF_CONTENT_TYPE : NULL,
        .body = with_body ? doc : NULL,
        .body_len = with_body ? doclen : 0,
    };
    int err = 0;
    s->outstanding = sub_dialog_notify(p->tl, p->tp, &s->d, &np, on_notify_result, s, &err);
    if (!s->outstanding) {
        LOG_INFO("presence subscription removed aor=%s call-id=%s reason=%s",
                 s->w ? s->w->aor : "-", s->d.call_id,
                 err == -ENOTCONN ? "connection-closed"
                 : err == -EINVAL ? "no-destination"
                                  : "no-memory");
        sub_end(s);
        return;
    }
    s->dirty = 0;
    if (is_final) {
        s->final_sent = 1;
    } else if (!sub_was_sent(s, doc, doclen)) {
        char *copy = malloc(doclen ? doclen : 1);
        if (copy)
            memcpy(copy, doc, doclen);
        free(s->sent);
        s->sent = copy; /* NULL (out of memory): the next announcement NOTIFYs again */
        s->sent_len = copy ? doclen : 0;
    }
}

/* Start the end of s: a final NOTIFY with reason (carrying the document when with_body) as
 * soon as no NOTIFY is outstanding. */
static void sub_terminate(struct pres_sub *s, const char *reason, int with_body)
{
    if (s->ended || s->final_reason)
        return;
    s->final_reason = reason;
    s->final_with_body = with_body;
    s->p->nactive--;
    sub_kick(s, NULL, 0); /* may free s */
}

/* See presence_impl.h; a presentity nobody here watches costs nothing. */
void pres_changed(struct presence *p, const char *aor, const char *doc, size_t doclen)
{
    struct pres_watch *w = watch_get(p, aor);
    if (!w)
        return;
    w->gen++;
    for (struct pres_sub *s = w->subs; s; s = s->next)
        s->dirty = 1;
    if (doc)
        watch_deliver(w, doc, doclen);
    else
        watch_fetch(p, w);
}

/* The store says w's publications may have changed elsewhere: read them again (a change since
 * the last read, so a read in flight is stale); fetch_done NOTIFYs whoever needs it. */
static void watch_recheck(struct presence *p, struct pres_watch *w)
{
    w->gen++;
    w->needs_check = 1;
    if (watch_fetch(p, w) < 0) /* retried by presence_tick() */
        for (struct pres_sub *s = w->subs; s; s = s->next)
            s->dirty = 1;
}

/* store_pres_set_listener: aor's publications changed (on any node, this one included), or
 * (NULL) some announcements may have been lost. */
void pres_on_announced(void *arg, const char *aor)
{
    struct presence *p = arg;
    if (aor) {
        struct pres_watch *w = watch_get(p, aor);
        if (w && w->subs)
            watch_recheck(p, w);
        return;
    }
    /* every presentity with watchers; a read that fails at once may free its watch, so the
     * AORs are copied first and looked up again */
    size_t n = 0, b;
    char **aors = p->watches.count ? calloc(p->watches.count, sizeof *aors) : NULL;
    if (!aors) {
        if (p->watches.count)
            LOG_WARN("presence re-read after a lost announcement failed reason=no-memory");
        return;
    }
    for (struct hmap_entry *e = hmap_first(&p->watches, &b); e && n < p->watches.count;
         e = hmap_next(&p->watches, e, &b)) {
        struct pres_watch *w = e->val;
        if (w->subs && (aors[n] = strdup(w->aor)) != NULL)
            n++;
    }
    LOG_INFO("presence re-reading presentities=%zu reason=announcements-may-be-lost", n);
    for (size_t i = 0; i < n; i++) {
        struct pres_watch *w = watch_get(p, aors[i]);
        if (w && w->subs)
            watch_recheck(p, w);
        free(aors[i]);
    }
    free(aors);
}

/* "<sip:host:port[;transport=tcp|tls]>" of the listener the request came in on (family of its
 * source), for the Contact of our 2xx. */
static void our_contact(struct presence *p, const struct sip_source *src, char *buf, size_t n)
{
    const struct sip_endpoint *ep = transport_listener(p->tp, src->proto, &src->peer);
    if (!ep)
        ep = transport_listener(p->tp, src->proto, NULL);
    char hp[SOCKADDR_STRLEN + 8];
    if (ep)
        sockaddr_str(&ep->addr, hp, sizeof hp);
    else
        snprintf(hp, sizeof hp, "127.0.0.1:5060");
    snprintf(buf, n, "<sip:%s%s>", hp, sip_proto_uri_param(src->proto));
}

static void respond_subscribe_ok(struct presence *p, struct sip_txn *t, int expires)
{
    char contact[SOCKADDR_STRLEN + 40], hdrs[256];
    our_contact(p, txn_source(t), contact, sizeof contact);
    snprintf(hdrs, sizeof hdrs, "Expires: %d\r\nContact: %s\r\n" PRES_ALLOW_EVENTS, expires,
             contact);
    txn_respond_text(t, 200, NULL, hdrs);
}

/* Checks shared by initial and in-dialog SUBSCRIBEs: Event, Expires, Accept. Returns the
 * granted duration (>= 0), or -1 after answering. */
static int subscribe_checks(struct presence *p, struct sip_txn *t, const struct sip_event *event)
{
    const osip_message_t *req = txn_request(t);
    int ev = pres_event_is_presence(event);
    if (ev < 0) {
        txn_respond_simple(t, 400, "Missing Event header", NULL, NULL);
        return -1;
    }
    if (ev == 0) {
        txn_respond_text(t, 489, NULL, PRES_ALLOW_EVENTS);
        return -1;
    }
    int e = pres_granted_expires(req, p->cfg.subscribe_min_expires, p->cfg.subscribe_max_expires,
                            p->cfg.subscribe_default_expires);
    if (e == -1) {
        txn_respond_simple(t, 400, "Malformed Expires header", NULL, NULL);
        return -1;
    }
    if (e == -2) {
        pres_respond_423(t, p->cfg.subscribe_min_expires);
        return -1;
    }
    /* RFC 3856 §6.7: application/pidf+xml is the package's default format; a watcher that
     * lists what it accepts must list it (or a wildcard) */
    int has_accept = 0, accepts = 0;
    for (int i = 0; i < osip_list_size(&req->accepts); i++) {
        osip_accept_t *a = osip_list_get(&req->accepts, i);
        if (!a || !a->type)
            continue;
        has_accept = 1;
        const char *ty = a->type, *su = a->subtype ? a->subtype : "";
        if (strcmp(ty, "*") == 0 ||
            (strcasecmp(ty, "application") == 0 &&
             (strcmp(su, "*") == 0 || strcasecmp(su, "pidf+xml") == 0)))
            accepts = 1;
    }
    if (has_accept && !accepts) {
        txn_respond_simple(t, 406, NULL, "Accept", PIDF_CONTENT_TYPE);
        return -1;
    }
    return e;
}

struct subscribe_ctx {
    struct presence *p;
    struct sip_txn *t;
    int expires;
    struct pres_watcher watcher;
    struct pres_policy_check check; /* the policy's read in flight */
    char owner[KEY_LEN];   /* the presentity as the rules are keyed (sip_uri_aor) */
    char watcher_aor[KEY_LEN];
    char aor[];
};
static void subscribe_got_state(void *arg, int status, const struct pres_publication *v, size_t n)
{
    struct subscribe_ctx *sc = arg;
    struct presence *p = sc->p;
    struct sip_txn *t = sc->t;
    if (status != 0) {
        pres_respond_store_error(t, status, "subscribe", sc->aor);
        free(sc);
        return;
    }
    struct pres_sub *s = calloc(1, sizeof *s);
    struct pres_watch *w = s ? watch_hold(p, sc->aor) : NULL;
    char key[KEY_LEN];
    int rc = w ? sub_dialog_init(&s->d, txn_request(t), txn_source(t), txn_local_tag(t)) : -ENOMEM;
    if (rc == 0 && (sub_dialog_key(&s->d, key, sizeof key) < 0 || !(s->key = strdup(key)) ||
                    hmap_get(&p->subs, key, strlen(key)) ||
                    hmap_put(&p->subs, key, strlen(key), s, NULL)))
        rc = -ENOMEM;
    if (rc != 0) {
        if (rc > 0)
            txn_respond_simple(t, rc, "Bad subscription dialog (Contact, tags)", NULL, NULL);
        else
            txn_respond_simple(t, 500, "Out of memory", NULL, NULL);
        if (s) {
            sub_dialog_clear(&s->d);
            free(s->key);
        }
        free(s);
        if (w)
            ref_put(&w->ref);
        free(sc);
        return;
    }
    int64_t now = sip_now_s();
    s->p = p;
    ref_init(&s->ref, sub_destroy);
    s->w = w;
    s->next = w->subs;
    w->subs = s;
    s->expires_at = now + sc->expires;
    s->dirty = 1;
    s->watcher = sc->watcher.aor ? strdup(sc->watcher.aor) : NULL; /* NULL: never re-checked */
    s->owner = strdup(sc->owner);
    s->watcher_is_auth = sc->watcher.is_authenticated;
    s->watcher_is_served = sc->watcher.is_served;
    s->watcher_is_owner = sc->watcher.aor && strcmp(sc->watcher.aor, sc->owner) == 0;
    p->nactive++;
    respond_subscribe_ok(p, t, sc->expires);
    LOG_DEBUG("presence subscribe aor=%s call-id=%s expires=%d", sc->aor, s->d.call_id,
              sc->expires);

    if (sc->expires == 0) {
        /* a fetch (RFC 6665 §4.4.3): one final NOTIFY carrying the state */
        s->final_reason = "timeout";
        s->final_with_body = 1;
        p->nactive--;
    }
    struct sbuf doc;
    sbuf_init(&doc);
    pres_compose(sc->aor, v, n, &doc);
    sub_kick(s, doc.failed ? NULL : doc.p, doc.len); /* may free s */
    sbuf_free(&doc);
    free(sc);
}

static void subscribe_allowed(void *arg, int status, int is_allowed, const char *why)
{
    struct subscribe_ctx *sc = arg;
    if (status != 0) {
        pres_respond_store_error(sc->t, status, "subscribe", sc->aor);
        free(sc);
        return;
    }
    if (!is_allowed) {
        LOG_INFO("presence subscribe refused aor=%s watcher=%s authenticated=%d reason=%s",
                 sc->aor, sc->watcher.aor ? sc->watcher.aor : "-", sc->watcher.is_authenticated,
                 why);
        txn_respond_simple(sc->t, 403, "Forbidden (presence authorization)", NULL, NULL);
        free(sc);
        return;
    }
    store_pres_get(sc->p->st, sc->aor, sip_now_s(), subscribe_got_state, sc);
}

void presence_handle_subscribe(struct presence *p, struct sip_txn *t, const struct sip_event *ev)
{
    if (p->shutting_down) {
        txn_respond_simple(t, 503, "Shutting down", "Retry-After", "5");
        return;
    }
    int e = subscribe_checks(p, t, ev);
    if (e < 0)
        return;
    char aor[512];
    int st = pres_presentity_of(&p->cfg, txn_request(t), aor, sizeof aor);
    if (st) {
        txn_respond_simple(t, st, "No such presentity", NULL, NULL);
        return;
    }
    size_t alen = strlen(aor);
    struct subscribe_ctx *sc = malloc(sizeof *sc + alen + 1);
    if (!sc) {
        txn_respond_simple(t, 500, "Out of memory", NULL, NULL);
        return;
    }
    sc->p = p;
    sc->t = t;
    sc->expires = e;
    memcpy(sc->aor, aor, alen + 1);
    if (sip_uri_aor(txn_request(t)->req_uri, sc->owner, sizeof sc->owner) < 0)
        snprintf(sc->owner, sizeof sc->owner, "%s", aor);
    pres_watcher_of(t, p->cfg.domains, sc->watcher_aor, sizeof sc->watcher_aor, &sc->watcher);
    /* the owner watching itself needs no rules; anyone else waits for them (docs/presence.md
     * §6.1) */
    if (sc->watcher.aor && strcmp(sc->watcher.aor, sc->owner) == 0 &&
        (sc->watcher.is_authenticated || !p->cfg.auth_enabled))
        store_pres_get(p->st, aor, sip_now_s(), subscribe_got_state, sc);
    else
        pres_policy_check(p->st, &sc->check, sc->owner, &sc->watcher, p->cfg.auth_enabled,
                          subscribe_allowed, sc);
}

/* Answer refresh t of s (expires e; 0: unsubscribe) with 200 and the NOTIFY that follows. */
static void refresh_accept(struct presence *p, struct pres_sub *s, struct sip_txn *t, int e)
{
    respond_subscribe_ok(p, t, e);
    LOG_DEBUG("presence refresh aor=%s call-id=%s expires=%d", s->w ? s->w->aor : "-",
              s->d.call_id, e);
    if (e == 0) {
        sub_terminate(s, "timeout", 1); /* unsubscribe: the final NOTIFY carries the state */
    } else {
        s->expires_at = sip_now_s() + e;
        s->dirty = 1; /* RFC 6665 §4.2.2: a refresh is answered with a NOTIFY of the state */
        sub_kick(s, NULL, 0);
    }
}

struct refresh_ctx {
    struct pres_sub *s; /* with a reference */
    struct sip_txn *t;
    int expires;
    struct pres_policy_check check; /* the policy's read in flight */
};

/* The presentity's rules for a refresh: accepted as before, or -- the watcher no longer allowed
 * (blocked meanwhile) -- 403 and the end of the subscription (terminated;reason=rejected, RFC
 * 6665 §4.1.3). A store error answers the refresh only (the subscription runs on until it
 * expires, or a later refresh succeeds). */
static void refresh_allowed(void *arg, int status, int is_allowed, const char *why)
{
    struct refresh_ctx *rc = arg;
    struct pres_sub *s = rc->s;
    struct presence *p = s->p;
    if (s->ended || s->final_reason || !s->w) {
        txn_respond_simple(rc->t, 481, "Subscription is ending", NULL, NULL);
    } else if (status != 0) {
        pres_respond_store_error(rc->t, status, "subscribe refresh", s->w->aor);
    } else if (is_allowed) {
        refresh_accept(p, s, rc->t, rc->expires);
    } else {
        LOG_INFO("presence subscription rejected aor=%s watcher=%s call-id=%s reason=%s",
                 s->w->aor, s->watcher, s->d.call_id, why);
        txn_respond_simple(rc->t, 403, "Forbidden (presence authorization)", NULL, NULL);
        sub_terminate(s, "rejected", 0);
    }
    ref_put(&s->ref);
    free(rc);
}

/* The policy on s's presentity's rules, then refresh_allowed() answers t. */
static void refresh_check(struct presence *p, struct pres_sub *s, struct sip_txn *t, int e)
{
    struct refresh_ctx *rc = malloc(sizeof *rc);
    if (!rc) {
        refresh_accept(p, s, t, e); /* as before the policy */
        return;
    }
    rc->s = s;
    rc->t = t;
    rc->expires = e;
    ref_get(&s->ref);
    struct pres_watcher w = {.aor = s->watcher, .is_authenticated = s->watcher_is_auth,
                             .is_served = s->watcher_is_served};
    pres_policy_check(p->st, &rc->check, s->owner, &w, p->cfg.auth_enabled, refresh_allowed, rc);
}

int presence_handle_in_dialog(struct presence *p, struct sip_txn *t, const struct sip_event *ev)
{
    char key[KEY_LEN];
    const osip_message_t *req = txn_request(t);
    if (!req || sub_dialog_key_of_request(req, key, sizeof key) < 0)
        return 0;
    struct pres_sub *s = hmap_get(&p->subs, key, strlen(key));
    if (!s)
        return 0;
    if (s->final_reason) {
        txn_respond_simple(t, 481, "Subscription is ending", NULL, NULL);
        return 1;
    }
    int e = subscribe_checks(p, t, ev);
    if (e < 0)
        return 1;
    int st = sub_dialog_refresh(&s->d, req, txn_source(t));
    if (st) {
        txn_respond_simple(t, st, st == 500 ? "CSeq out of order" : NULL, NULL, NULL);
        return 1;
    }
    if (e > 0 && s->watcher && s->owner && !s->watcher_is_owner && s->w)
        refresh_check(p, s, t, e); /* the policy again: a block applies at the next refresh */
    else
        refresh_accept(p, s, t, e);
    return 1;
}

int pres_is_watched(struct presence *p, const char *aor) { return watch_get(p, aor) != NULL; }

/* ==== the package's tick, shutdown and end ==================================================== */

/* Every live subscription with a reference (caller releases with release_snapshot). */
static struct pres_sub **all_snapshot(struct presence *p, size_t *n)
{
    *n = 0;
    struct pres_sub **v = p->subs.count ? malloc(p->subs.count * sizeof *v) : NULL;
    if (!v)
        return NULL;
    size_t b;
    for (struct hmap_entry *e = hmap_first(&p->subs, &b); e; e = hmap_next(&p->subs, e, &b)) {
        struct pres_sub *s = e->val;
        ref_get(&s->ref);
        v[(*n)++] = s;
    }
    return v;
}

void pres_subs_deactivate(struct presence *p)
{
    size_t n;
    struct pres_sub **v = all_snapshot(p, &n);
    for (size_t i = 0; i < n; i++)
        sub_terminate(v[i], "deactivated", 0);
    release_snapshot(v, n);
}

void pres_on_expired(void *arg, int status, const char *const *aors, size_t n)
{
    struct presence *p = arg;
    for (size_t i = 0; i < n; i++) {
        LOG_DEBUG("presence publication expired aor=%s", aors[i]);
        /* like an announcement (which, on postgres, may have come first and NOTIFYed already):
         * only the watchers last sent another document are NOTIFYed */
        struct pres_watch *w = watch_get(p, aors[i]);
        if (w && w->subs)
            watch_recheck(p, w);
    }
}

void pres_subs_tick(struct presence *p, int64_t now)
{
    size_t n;
    struct pres_sub **v = all_snapshot(p, &n);
    for (size_t i = 0; i < n; i++) {
        struct pres_sub *s = v[i];
        if (s->ended)
            continue;
        if (!s->final_reason && s->expires_at <= now) {
            LOG_DEBUG("presence subscription expired call-id=%s", s->d.call_id);
            sub_terminate(s, "timeout", 0);
        } else if (!s->outstanding) {
            sub_kick(s, NULL, 0); /* a NOTIFY that could not be built before (store down) */
        }
    }
    release_snapshot(v, n);
}

void pres_subs_free(struct presence *p)
{
    size_t b;
    for (struct hmap_entry *e = hmap_first(&p->subs, &b); e; e = hmap_next(&p->subs, e, &b)) {
        struct pres_sub *s = e->val;
        if (s->outstanding)
            txn_client_detach(s->outstanding);
        sub_free(s); /* whatever its count: no snapshot outlives the call that took it */
    }
    for (struct hmap_entry *e = hmap_first(&p->watches, &b); e; e = hmap_next(&p->watches, e, &b)) {
        struct pres_watch *w = e->val;
        free(w->aor);
        free(w);
    }
}
