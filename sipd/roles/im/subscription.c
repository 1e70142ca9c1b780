/* subscription.c - `im` subscriptions (§8): the topics they hang on, the indexes that find them
 * (by dialog, by device §2.4, by TCP connection), their life cycle (active, waiting, terminating,
 * removed) and the SUBSCRIBEs that create, refresh, fetch and end them.
 *
 * A subscription is keyed by its dialog and Event id (b->subs); b->dialogs counts subscriptions
 * per dialog so that an in-dialog request learns whether the dialog is ours; b->origins catches a
 * forked SUBSCRIBE arriving twice (482); b->devices answers "which subscriptions to this topic
 * does this device hold" without a scan (§8.5 replacement, page mode's §11.1 check); b->conns
 * lists the subscriptions riding a TCP connection so that its close costs only them. The lists
 * are intrusive (struct ilink in struct isub): adding and removing allocate nothing. What a
 * subscription is sent, and when, is delivery.c's business (im_pump). */
#include <ctype.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../base/log.h"
#include "../../sip/msg.h"
#include "../../sip/txn.h"
#include "../../sip/uac.h"
#include "../../transport/transport.h"
#include "im_internal.h"

/* ---- devices (§2.4) and topics --------------------------------------------------------------- */

/* Same device (§2.4): a subscription's (instance, contact) against a binding's. */
int im_same_device(const char *inst_a, const char *contact_a, const char *inst_b,
                   const char *contact_b)
{
    if (inst_a && inst_b)
        return strcmp(inst_a, inst_b) == 0;
    return contact_a && contact_b && uri_equal(contact_a, contact_b);
}

struct btopic *im_topic_get(struct broker *b, const char *uri, int create)
{
    struct btopic *t = hmap_get(&b->topics, uri, strlen(uri));
    if (t || !create)
        return t;
    t = calloc(1, sizeof *t);
    if (!t || !(t->uri = strdup(uri)) || hmap_put(&b->topics, uri, strlen(uri), t, NULL)) {
        if (t)
            free(t->uri);
        free(t);
        return NULL;
    }
    return t;
}

static void topic_maybe_free(struct broker *b, struct btopic *t)
{
    if (t->nsubs == 0) {
        hmap_del(&b->topics, t->uri, strlen(t->uri));
        free(t->uri);
        free(t);
    }
}

/* ---- indexes --------------------------------------------------------------------------------- */

/* The subscription's key in b->subs: the dialog key, "\n", the Event id. Returns its length or -1. */
static int sub_key(const struct sub_dialog *d, char *buf, size_t n)
{
    char dkey[512];
    if (sub_dialog_key(d, dkey, sizeof dkey) < 0)
        return -1;
    int k = snprintf(buf, n, "%s\n%s", dkey, d->event_id ? d->event_id : "");
    return k < 0 || (size_t)k >= n ? -1 : k;
}

/* Intrusive list indexes: the map holds the head; off selects which ilink of struct isub. */
static struct ilink *link_of(struct isub *s, size_t off) { return (struct ilink *)((char *)s + off); }

static void idx_add(struct hmap *m, const void *key, size_t klen, struct isub *s, size_t off)
{
    struct ilink *l = link_of(s, off);
    struct hmap_entry *e = hmap_find(m, key, klen);
    if (!e) {
        if (hmap_put(m, key, klen, s, NULL))
            return; /* out of memory: this one is just not indexed */
        l->next = NULL;
    } else {
        l->next = e->val;
        link_of(l->next, off)->prev = s;
        e->val = s; /* no hmap_put: replacing must not allocate */
    }
    l->prev = NULL;
    l->listed = 1;
}

static void idx_del(struct hmap *m, const void *key, size_t klen, struct isub *s, size_t off)
{
    struct ilink *l = link_of(s, off);
    if (!l->listed)
        return;
    if (l->prev) {
        link_of(l->prev, off)->next = l->next;
    } else {
        struct hmap_entry *e = hmap_find(m, key, klen);
        if (e && l->next)
            e->val = l->next;
        else if (e)
            hmap_del(m, key, klen);
    }
    if (l->next)
        link_of(l->next, off)->prev = l->prev;
    l->next = l->prev = NULL;
    l->listed = 0;
}

/* A Contact URI reduced for comparison as a key: user@host:port, host lower-cased, port 5060
 * when absent (uri_equal decides in the end). */
static void contact_canon(const char *uri, char *buf, size_t n)
{
    osip_uri_t *u = NULL;
    if (uri && osip_uri_init(&u) == 0 && osip_uri_parse(u, uri) == 0 && u->host) {
        int k = snprintf(buf, n, "%s@", u->username ? u->username : "");
        for (const char *h = u->host; *h && k + 1 < (int)n; h++)
            buf[k++] = (char)tolower((unsigned char)*h);
        if (k < (int)n)
            snprintf(buf + k, n - (size_t)k, ":%s", u->port ? u->port : "5060");
    } else {
        snprintf(buf, n, "%s", uri ? uri : "");
    }
    osip_uri_free(u);
}

/* The device index (§2.4): subscriptions by topic and instance, and by topic and Contact, so that
 * "which subscriptions does this device hold" costs no scan of the topic. */
static int device_key(const char *topic, char kind, const char *value, char *buf, size_t n)
{
    int k = snprintf(buf, n, "%s\n%c\n%s", topic, kind, value);
    return k < 0 || (size_t)k >= n ? -1 : k;
}

static void devices_update(struct broker *b, struct isub *s, int add)
{
    char key[1600], canon[600];
    int k;
    if (s->instance && (k = device_key(s->topic->uri, 'i', s->instance, key, sizeof key)) >= 0) {
        if (add)
            idx_add(&b->devices, key, (size_t)k, s, offsetof(struct isub, by_instance));
        else
            idx_del(&b->devices, key, (size_t)k, s, offsetof(struct isub, by_instance));
    }
    contact_canon(s->contact, canon, sizeof canon);
    if ((k = device_key(s->topic->uri, 'c', canon, key, sizeof key)) >= 0) {
        if (add)
            idx_add(&b->devices, key, (size_t)k, s, offsetof(struct isub, by_contact));
        else
            idx_del(&b->devices, key, (size_t)k, s, offsetof(struct isub, by_contact));
    }
}

static void devices_add(struct broker *b, struct isub *s) { devices_update(b, s, 1); }
static void devices_del(struct broker *b, struct isub *s) { devices_update(b, s, 0); }

#define DEVICE_SUBS_MAX 64
/* The subscriptions to topic held by the device (instance, contact) per §2.4, at most
 * DEVICE_SUBS_MAX, each once, into v. Returns how many. */
size_t im_device_subs(struct broker *b, const char *topic, const char *instance,
                      const char *contact, struct isub **v)
{
    size_t n = 0;
    char key[1600], canon[600];
    const size_t offs[2] = {offsetof(struct isub, by_instance), offsetof(struct isub, by_contact)};
    for (int pass = 0; pass < 2; pass++) {
        int k;
        if (pass == 0) {
            if (!instance)
                continue;
            k = device_key(topic, 'i', instance, key, sizeof key);
        } else {
            contact_canon(contact, canon, sizeof canon);
            k = device_key(topic, 'c', canon, key, sizeof key);
        }
        if (k < 0)
            continue;
        for (struct isub *s = hmap_get(&b->devices, key, (size_t)k); s && n < DEVICE_SUBS_MAX;
             s = link_of(s, offs[pass])->next) {
            if (!im_same_device(s->instance, s->contact, instance, contact))
                continue;
            size_t i = 0;
            while (i < n && v[i] != s)
                i++;
            if (i == n)
                v[n++] = s;
        }
    }
    return n;
}

/* The connection index: subscriptions whose NOTIFYs ride a TCP connection (no route set), so
 * that a closed connection costs only its own subscriptions. */
static void conns_del(struct broker *b, struct isub *s)
{
    uint64_t id = s->indexed_conn;
    if (!id)
        return;
    idx_del(&b->conns, &id, sizeof id, s, offsetof(struct isub, by_conn));
    s->indexed_conn = 0;
}

/* (Re)list s under the connection its dialog's flow names now. */
static void conns_update(struct broker *b, struct isub *s)
{
    uint64_t id = !s->d.route_set && sip_proto_is_stream(s->d.flow.proto) ? s->d.flow.conn_id : 0;
    if (id == s->indexed_conn)
        return;
    conns_del(b, s);
    if (!id)
        return;
    idx_add(&b->conns, &id, sizeof id, s, offsetof(struct isub, by_conn));
    if (s->by_conn.listed)
        s->indexed_conn = id;
}

/* Count subscriptions per dialog (so an in-dialog request finds out whether the dialog is ours). */
static void dialog_count(struct broker *b, const struct sub_dialog *d, int delta)
{
    char dkey[512];
    if (sub_dialog_key(d, dkey, sizeof dkey) < 0)
        return;
    size_t *n = hmap_get(&b->dialogs, dkey, strlen(dkey));
    if (!n && delta > 0) {
        n = calloc(1, sizeof *n);
        if (!n || hmap_put(&b->dialogs, dkey, strlen(dkey), n, NULL)) {
            free(n);
            return;
        }
    }
    if (!n)
        return;
    if (delta > 0) {
        (*n)++;
    } else if (--*n == 0) {
        hmap_del(&b->dialogs, dkey, strlen(dkey));
        free(n);
    }
}

/* ---- life cycle ------------------------------------------------------------------------------ */

static void sub_free(struct isub *s)
{
    im_queue_clear(s);
    sub_dialog_clear(&s->d);
    free(s->subscriber);
    free(s->instance);
    free(s->contact);
    free(s->origin);
    free(s);
}

static void sub_destroy(struct ref *r) { sub_free(ref_owner(r, struct isub, ref)); }

void im_sub_remove(struct isub *s, const char *why)
{
    if (s->dead)
        return;
    struct broker *b = s->b;
    LOG_DEBUG("im subscription ended topic=%s subscriber=%s reason=%s", s->topic->uri, s->subscriber,
              why);
    if (!s->keep_row && !b->is_destroying)
        im_sub_forget_row(s);
    if (s->out) {
        txn_client_detach(s->out);
        s->out = NULL;
    }
    loop_timer_stop(b->loop, &s->retry);
    char key[700];
    int klen = sub_key(&s->d, key, sizeof key);
    if (klen > 0)
        hmap_del(&b->subs, key, (size_t)klen);
    dialog_count(b, &s->d, -1);
    devices_del(b, s);
    conns_del(b, s);
    if (s->origin && hmap_get(&b->origins, s->origin, strlen(s->origin)) == s)
        hmap_del(&b->origins, s->origin, strlen(s->origin));
    b->nsubs--;
    struct btopic *t = s->topic;
    if (s->tprev)
        s->tprev->tnext = s->tnext;
    else
        t->subs = s->tnext;
    if (s->tnext)
        s->tnext->tprev = s->tprev;
    t->nsubs--;
    topic_maybe_free(b, t);
    s->dead = 1;
    ref_put(&s->ref); /* the indexes' */
}

void im_sub_make_waiting(struct isub *s, const char *why)
{
    LOG_DEBUG("im subscription waiting topic=%s subscriber=%s reason=%s", s->topic->uri,
              s->subscriber, why);
    if (s->out) {
        txn_client_detach(s->out);
        s->out = NULL;
    }
    s->state = SUB_WAITING;
    im_queue_clear(s);
    s->behind = 1;
    s->next_seq = s->P + 1;
    if (s->final_reason) /* nothing more to tell it: it ends */
        im_sub_remove(s, "waiting-while-terminating");
}

/* End a subscription with a final NOTIFY once none is outstanding (§9.8). */
void im_sub_terminate(struct isub *s, const char *reason)
{
    if (s->state == SUB_WAITING) {
        im_sub_remove(s, reason);
        return;
    }
    if (!s->final_reason)
        s->final_reason = reason;
    im_queue_clear(s);
    s->behind = 0;
    s->want_bodyless = 0;
    im_pump(s);
}

/* ---- SUBSCRIBE ------------------------------------------------------------------------------- */

struct sub_ctx {
    struct broker *b;
    struct sip_txn *t;
    char topic[AOR_MAX];
    char identity[AOR_MAX];
    int64_t since;
    int expires;
};

static int parse_expires(const osip_message_t *req, int dflt, int *out)
{
    const char *ex = sip_header_get(req, "expires", 0);
    if (!ex) {
        *out = dflt;
        return 0;
    }
    int v = sip_delta_seconds(ex, strlen(ex));
    if (v < 0)
        return -1;
    *out = v;
    return 0;
}

static int accepts_cpim(const osip_message_t *req)
{
    int n = osip_list_size(&req->accepts);
    if (n == 0)
        return 1;
    for (int i = 0; i < n; i++) {
        osip_accept_t *a = osip_list_get(&req->accepts, i);
        if (!a->type) /* empty Accept: accepts nothing */
            continue;
        const char *ty = a->type, *st = a->subtype ? a->subtype : "";
        if ((strcasecmp(ty, "message") == 0 && (strcasecmp(st, "cpim") == 0 || strcmp(st, "*") == 0)) ||
            (strcmp(ty, "*") == 0 && strcmp(st, "*") == 0))
            return 1;
    }
    return 0;
}

static void respond_sub_ok(struct broker *b, struct sip_txn *t, int expires)
{
    char hdr[256];
    const struct sip_source *src = txn_source(t);
    const struct sip_endpoint *ep = transport_listener(b->tp, src->proto, &src->peer);
    char hp[SOCKADDR_STRLEN] = "127.0.0.1:5060";
    if (ep)
        sockaddr_str(&ep->addr, hp, sizeof hp);
    snprintf(hdr, sizeof hdr, "Expires: %d\r\nContact: <sip:%s%s>\r\n" ALLOW_EVENTS, expires, hp,
             sip_proto_uri_param(src->proto));
    txn_respond_text(t, 200, NULL, hdr);
}

/* §8.5: a device's older subscription to the same topic in another dialog ends. */
static void replace_older(struct broker *b, struct isub *fresh)
{
    struct isub *v[DEVICE_SUBS_MAX];
    size_t n = im_device_subs(b, fresh->topic->uri, fresh->instance, fresh->contact, v);
    for (size_t i = 0; i < n; i++) {
        struct isub *s = v[i];
        /* the same dialog (other id values) is not replaced; im_sub_terminate ends s only */
        if (s == fresh || (strcmp(s->d.call_id, fresh->d.call_id) == 0 &&
                           strcmp(s->d.remote_tag, fresh->d.remote_tag) == 0))
            continue;
        im_sub_terminate(s, "timeout");
    }
}

/* s (already in b->subs) joins its topic tp and the device and connection indexes. */
static void sub_link(struct broker *b, struct isub *s, struct btopic *tp)
{
    b->nsubs++;
    dialog_count(b, &s->d, +1);
    s->topic = tp;
    s->tnext = tp->subs;
    if (tp->subs)
        tp->subs->tprev = s;
    tp->subs = s;
    tp->nsubs++;
    devices_add(b, s);
    conns_update(b, s);
}

static void sub_accept(struct sub_ctx *c, const struct im_topic_info *info)
{
    struct broker *b = c->b;
    struct sip_txn *t = c->t;
    const osip_message_t *req = txn_request(t);
    int64_t L = info->last_seq;
    if (c->expires == 0) {
        /* a fetch (§8.4): 200, then one terminated body-less NOTIFY */
        struct sub_dialog d;
        if (sub_dialog_init(&d, req, txn_source(t), txn_local_tag(t)) != 0) {
            txn_respond_simple(t, 400, "Bad Contact", NULL, NULL);
            return;
        }
        respond_sub_ok(b, t, 0);
        char ev[96];
        snprintf(ev, sizeof ev, "im;last-seq=%" PRId64 ";first-seq=%" PRId64, L, info->first_seq);
        struct notify_params np = {.event = ev, .sub_state = "terminated;reason=timeout"};
        int err;
        sub_dialog_notify(b->tl, b->tp, &d, &np, NULL, NULL, &err);
        sub_dialog_clear(&d);
        return;
    }
    struct isub *s = b->nsubs < b->cfg.max_subscriptions ? calloc(1, sizeof *s) : NULL;
    if (!s) { /* check 12 of §8.1: resources exhausted */
        txn_respond_simple(t, 503, "Too many subscriptions", "Retry-After", "60");
        return;
    }
    s->b = b;
    ref_init(&s->ref, sub_destroy); /* the indexes' once listed; sub_free() until then */
    int st = sub_dialog_init(&s->d, req, txn_source(t), txn_local_tag(t));
    char inst[256];
    sip_contact_instance(req, inst, sizeof inst);
    s->subscriber = strdup(c->identity);
    s->instance = inst[0] ? strdup(inst) : NULL;
    s->contact = sip_contact_uri(req);
    char key[700];
    int klen = st == 0 ? sub_key(&s->d, key, sizeof key) : -1;
    if (st != 0 || !s->subscriber || !s->contact || klen < 0) {
        txn_respond_simple(t, st == 400 || st == 0 ? 400 : 503, st == 400 ? "Bad Contact" : NULL,
                           NULL, NULL);
        sub_free(s);
        return;
    }
    char origin[600];
    snprintf(origin, sizeof origin, "%s\n%s\n%s", s->d.call_id, s->d.remote_tag, req->cseq->number);
    s->origin = strdup(origin);
    if (hmap_get(&b->subs, key, (size_t)klen) || (s->origin && hmap_get(&b->origins, origin, strlen(origin)))) {
        /* the same SUBSCRIBE reached us twice by two paths (a fork): RFC 3261 §8.2.2.2 */
        txn_respond_simple(t, 482, "Loop Detected", NULL, NULL);
        sub_free(s);
        return;
    }
    struct btopic *tp = im_topic_get(b, c->topic, 1);
    if (!tp || hmap_put(&b->subs, key, (size_t)klen, s, NULL)) {
        if (tp)
            topic_maybe_free(b, tp);
        txn_respond_simple(t, 503, "Out of memory", "Retry-After", "5");
        sub_free(s);
        return;
    }
    if (s->origin)
        hmap_put(&b->origins, s->origin, strlen(s->origin), s, NULL);
    if (L > tp->last_seq)
        tp->last_seq = L;
    sub_link(b, s, tp);
    s->is_group = info->is_group;
    s->state = SUB_ACTIVE;
    s->expires_at = sip_now_s() + c->expires;
    s->P = c->since >= 0 && c->since < L ? c->since : L;
    s->H = L;
    s->next_seq = s->P + 1;
    s->behind = s->P < L;
    s->want_bodyless = 1;
    respond_sub_ok(b, t, c->expires);
    LOG_DEBUG("im subscription topic=%s subscriber=%s P=%" PRId64 " L=%" PRId64, tp->uri,
              s->subscriber, s->P, L);
    im_sub_save(s);
    replace_older(b, s);
    im_pump(s);
}

static void on_sub_topic(void *arg, int status, const struct im_topic_info *info)
{
    struct sub_ctx *c = arg;
    struct sip_txn *t = c->t;
    if (status == STORE_EUNAVAIL) {
        txn_respond_simple(t, 503, "Store unavailable", "Retry-After", "5");
    } else if (status != 0) {
        txn_respond_simple(t, 500, "Store error", NULL, NULL);
    } else if (info->is_group ? !info->is_member : strcmp(c->identity, c->topic) != 0) {
        txn_respond_simple(t, 403, "Not allowed to subscribe to this topic", NULL, NULL);
    } else if (!accepts_cpim(txn_request(t))) {
        txn_respond_simple(t, 406, NULL, "Accept", "message/cpim");
    } else if (txn_request(t)->bodies.nb_elt > 0) {
        txn_respond_text(t, 415, NULL, "Accept: \r\n");
    } else {
        sub_accept(c, info);
    }
    free(c);
}

void broker_handle_subscribe(struct broker *b, struct sip_txn *t, const struct sip_event *event)
{
    const osip_message_t *req = txn_request(t);
    const char *ev = event->value;
    char type[32];
    int64_t since;
    if (!ev) {
        txn_respond_simple(t, 400, "Missing Event header", NULL, NULL);
        return;
    }
    int st = broker_parse_event(ev, type, sizeof type, &since); /* since= */
    if (!sip_event_is(event, "im")) {
        txn_respond_text(t, 489, NULL, ALLOW_EVENTS);
        return;
    }
    if (b->shutting_down) {
        txn_respond_simple(t, 503, "Shutting down", "Retry-After", "5");
        return;
    }
    if (st) {
        txn_respond_simple(t, 400, "Bad since", NULL, NULL);
        return;
    }
    char idbuf[SUB_EVENT_ID_MAX + 1];
    if (sub_event_id(ev, idbuf, sizeof idbuf) < 0) {
        txn_respond_simple(t, 400, "Bad Event id", NULL, NULL);
        return;
    }
    struct sub_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        txn_respond_simple(t, 503, "Out of memory", "Retry-After", "5");
        return;
    }
    c->b = b;
    c->t = t;
    c->since = since;
    if (parse_expires(req, b->cfg.default_expires, &c->expires) < 0) {
        txn_respond_simple(t, 400, "Malformed Expires header", NULL, NULL);
        free(c);
        return;
    }
    if (c->expires > 0 && c->expires < b->cfg.min_expires) {
        char me[16];
        snprintf(me, sizeof me, "%d", b->cfg.min_expires);
        txn_respond_simple(t, 423, NULL, "Min-Expires", me);
        free(c);
        return;
    }
    if (c->expires > b->cfg.max_expires)
        c->expires = b->cfg.max_expires;
    if (sip_uri_aor(req->req_uri, c->topic, sizeof c->topic) < 0) {
        txn_respond_simple(t, 404, "No such topic", NULL, NULL);
        free(c);
        return;
    }
    if (sip_uri_aor(req->from->url, c->identity, sizeof c->identity) < 0) {
        txn_respond_simple(t, 403, "Sender has no address-of-record", NULL, NULL);
        free(c);
        return;
    }
    store_im_topic(b->st, c->topic, c->identity, sip_now_s(), &b->cfg.ret, on_sub_topic, c);
}

int broker_handle_in_dialog(struct broker *b, struct sip_txn *t, const struct sip_event *event)
{
    const osip_message_t *req = txn_request(t);
    char dkey[512], key[700];
    if (sub_dialog_key_of_request(req, dkey, sizeof dkey) < 0)
        return 0;
    const char *ev = event->value;
    char type[32] = "";
    int64_t since = -1;
    int bad_since = ev ? broker_parse_event(ev, type, sizeof type, &since) : 0; /* since= */
    int is_im = sip_event_is(event, "im");
    /* the id parameter selects the subscription within the dialog */
    char idbuf[SUB_EVENT_ID_MAX + 1];
    int has_id = sub_event_id(ev, idbuf, sizeof idbuf);
    const char *id = has_id == 1 ? idbuf : NULL;
    snprintf(key, sizeof key, "%s\n%s", dkey, id ? id : "");
    struct isub *s = hmap_get(&b->subs, key, strlen(key));
    if (!s) {
        /* a dialog of ours with another id, or of nobody: only answer when the dialog is ours */
        if (!hmap_get(&b->dialogs, dkey, strlen(dkey)) || !is_im)
            return is_im && im_takeover_park(b, t); /* maybe a dialog being taken over */
        txn_respond_simple(t, 481, "Subscription does not exist", NULL, NULL);
        return 1;
    }
    if (!ev) {
        txn_respond_simple(t, 400, "Missing Event header", NULL, NULL);
        return 1;
    }
    if (!is_im) {
        txn_respond_text(t, 489, NULL, ALLOW_EVENTS);
        return 1;
    }
    if (bad_since) {
        txn_respond_simple(t, 400, "Bad since", NULL, NULL);
        return 1;
    }
    if (has_id < 0) {
        txn_respond_simple(t, 400, "Bad Event id", NULL, NULL);
        return 1;
    }
    int expires;
    if (parse_expires(req, b->cfg.default_expires, &expires) < 0) {
        txn_respond_simple(t, 400, "Malformed Expires header", NULL, NULL);
        return 1;
    }
    if (expires > 0 && expires < b->cfg.min_expires) {
        char me[16];
        snprintf(me, sizeof me, "%d", b->cfg.min_expires);
        txn_respond_simple(t, 423, NULL, "Min-Expires", me);
        return 1;
    }
    if (!accepts_cpim(req)) {
        txn_respond_simple(t, 406, NULL, "Accept", "message/cpim");
        return 1;
    }
    if (req->bodies.nb_elt > 0) {
        txn_respond_text(t, 415, NULL, "Accept: \r\n");
        return 1;
    }
    int rc = sub_dialog_refresh(&s->d, req, txn_source(t));
    conns_update(b, s);
    if (rc) {
        txn_respond_simple(t, rc, rc == 500 ? "CSeq out of order" : NULL, NULL, NULL);
        return 1;
    }
    if (s->final_reason) {
        txn_respond_simple(t, 481, "Subscription is terminating", NULL, NULL);
        return 1;
    }
    if (expires > b->cfg.max_expires)
        expires = b->cfg.max_expires;
    respond_sub_ok(b, t, expires);
    if (expires == 0) {
        im_sub_terminate(s, "timeout");
        return 1;
    }
    s->expires_at = sip_now_s() + expires;
    if (s->state == SUB_WAITING) {
        s->state = SUB_ACTIVE;
        s->behind = 1;
        s->next_seq = s->P + 1;
    }
    if (since >= 0) {
        int64_t L = s->topic->last_seq;
        s->P = since < L ? since : L;
        s->H = L;
        im_queue_clear(s);
        s->next_seq = s->P + 1;
        s->behind = s->P < L;
        s->gap_hi = 0;
        s->p_frozen = s->out && s->out_kind == OUT_MESSAGE;
    }
    s->want_bodyless = 1;
    im_sub_save(s);
    im_pump(s);
    return 1;
}

struct isub *im_sub_restore(struct broker *b, const struct im_sub_row *r, int64_t position,
                            uint32_t local_cseq)
{
    struct isub *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->b = b;
    ref_init(&s->ref, sub_destroy);
    struct sub_dialog *d = &s->d;
    d->call_id = strdup(r->call_id);
    d->local_tag = strdup(r->local_tag);
    d->remote_tag = strdup(r->remote_tag);
    d->local_uri = strdup(r->local_uri);
    d->remote_uri = strdup(r->remote_uri);
    d->remote_target = strdup(r->remote_target);
    d->route_set = r->route_set ? strdup(r->route_set) : NULL;
    d->event_id = r->event_id && *r->event_id ? strdup(r->event_id) : NULL;
    d->local_cseq = local_cseq;
    d->remote_cseq = r->remote_cseq;
    d->is_datagram = r->is_datagram;
    /* no route set: the device is reached at its remote target (a TCP flow is gone with the
     * broker that held it: the subscription waits for a refresh, §9.4) */
    d->flow.udp_fd = -1;
    if (!r->route_set && (!r->is_datagram || uac_uri_dest(r->remote_target, &d->flow) < 0)) {
        memset(&d->flow, 0, sizeof d->flow);
        d->flow.udp_fd = -1;
        d->flow.proto = r->is_datagram ? SIP_PROTO_UDP : SIP_PROTO_TCP;
    }
    s->subscriber = strdup(r->subscriber);
    s->instance = r->instance && *r->instance ? strdup(r->instance) : NULL;
    s->contact = strdup(r->contact);
    char key[700];
    int klen = sub_key(d, key, sizeof key);
    if (!d->call_id || !d->local_tag || !d->remote_tag || !d->local_uri || !d->remote_uri ||
        !d->remote_target || (r->route_set && !d->route_set) || !s->subscriber || !s->contact ||
        (r->instance && *r->instance && !s->instance) || klen < 0 ||
        hmap_get(&b->subs, key, (size_t)klen)) {
        sub_free(s);
        return NULL;
    }
    struct btopic *tp = im_topic_get(b, r->topic, 1);
    if (!tp || hmap_put(&b->subs, key, (size_t)klen, s, NULL)) {
        if (tp)
            topic_maybe_free(b, tp);
        sub_free(s);
        return NULL;
    }
    sub_link(b, s, tp);
    s->is_group = r->is_group;
    s->state = SUB_ACTIVE;
    s->expires_at = r->expires_at;
    s->P = s->H = position;
    s->next_seq = position + 1;
    s->behind = 1;
    s->has_row = 1;
    return s;
}
