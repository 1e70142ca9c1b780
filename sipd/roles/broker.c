/* broker.c - the `im` event package; see broker.h and docs/im-event-package.md (the section
 * numbers in comments refer to it).
 *
 * Per subscription the broker keeps the position P (everything up to P acknowledged, skipped or
 * reported as a gap), the horizon H, at most one NOTIFY outstanding, and a live queue of copies
 * of messages with consecutive seqs [.., next_seq). When a message cannot be queued (bound
 * reached, or a seq missing in between) the subscription is "behind" and reads from the store
 * after next_seq - 1 instead; both paths yield the same NOTIFY sequence (§9.3).
 *
 * Store operations may complete later (postgres): objects they refer to are reference-counted
 * (refs) and freed when removed and no operation holds them. */
#include "broker.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../base/hmap.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../base/sbuf.h"
#include "../sip/cpim.h"
#include "../sip/msg.h"
#include "../sip/txn.h"
#include "../sip/subdialog.h"
#include "../sip/uac.h"
#include "../transport/transport.h"
#include "registrar.h"

#define AOR_MAX 512
#define READ_BATCH 64
#define READ_MAX_BYTES (2u * 1024 * 1024) /* queued from one store read (large messages) */
#define PM_READ_BATCH 16
#define ALLOW_EVENTS "Allow-Events: im, presence\r\n"

enum sub_state { SUB_ACTIVE, SUB_WAITING };
enum out_kind { OUT_NONE, OUT_BODYLESS, OUT_MESSAGE, OUT_FINAL };

/* A copy of a stored message shared by the live queues that hold it (reference-counted: one
 * copy of a 1 MiB body for all the subscriptions of a topic); strings follow the struct. */
struct qmsg {
    int refs;
    int64_t seq, created_at;
    int is_copy;
    char *sender, *sender_device, *recipient, *content_type, *body;
    size_t body_len;
};

/* A live queue entry of one subscription. */
struct qent {
    struct qent *next;
    struct qmsg *m;
};

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
    int want_bodyless;
    const char *final_reason; /* pending termination (static string) */
    struct qent *qhead, *qtail;
    size_t qlen;
    int64_t next_seq;
    int behind;
    int64_t gap_hi;         /* discarded messages behind P up to gap_hi not reported yet */
    int busy;               /* a store operation for this subscription is in flight */
    int retry_pending;      /* waiting for s->retry before sending again */
    int pumping;            /* inside pump(): a synchronous store callback must not recurse */
    int64_t read_after;     /* the store read in flight reads after this seq */
    int refs;               /* store operations holding it */
    int dead;
    struct timer retry;     /* 503 Retry-After */
};

/* Page-mode delivery to one device of one AOR for one topic (§11.3). */
struct pm_session {
    struct broker *b;
    char key[1600];
    char *topic, *aor, *device, *contact, *path, *received;
    char *instance;
    uint64_t conn_id;
    int is_group;
    int64_t D, cursor, initial;
    unsigned binding_gen, out_gen; /* the binding changed since the MESSAGE in flight was sent */
    int more;           /* a message arrived while a read or MESSAGE was in flight */
    int busy;
    struct sip_txn *out;
    int64_t out_seq;
    int refs, dead;
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
    struct hmap devices;  /* topic "\n" device -> isub* (list through dnext): §8.5, §11.1 */
    struct hmap conns;    /* TCP connection id (8 bytes) -> isub* (list through cnext) */
    struct hmap sessions; /* key -> pm_session */
    size_t nsubs;
    int shutting_down;
};

static int64_t now_s(void) { return (int64_t)time(NULL); }

/* ---- helpers ------------------------------------------------------------------------------- */

static int domain_served(const struct broker *b, const char *host)
{
    if (!host)
        return 0;
    if (!b->cfg.domains || !b->cfg.domains[0])
        return 1;
    for (const char *const *d = b->cfg.domains; *d; d++)
        if (strcasecmp(*d, host) == 0)
            return 1;
    return 0;
}

int broker_parse_event(const char *value, char *type, size_t type_len, int64_t *since)
{
    *since = -1;
    const char *p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t k = 0;
    for (; *p && *p != ';' && *p != ' ' && *p != '\t' && k + 1 < type_len; p++)
        type[k++] = (char)tolower((unsigned char)*p);
    type[k] = '\0';
    int seen = 0;
    while ((p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        const char *name = p;
        while (*p && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t nlen = (size_t)(p - name);
        while (*p == ' ' || *p == '\t')
            p++;
        if (nlen != 5 || strncasecmp(name, "since", 5) != 0)
            continue;
        if (seen++ || *p != '=')
            return 400;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        const char *v = p;
        size_t vlen = 0;
        while (isdigit((unsigned char)v[vlen]))
            vlen++;
        const char *e = v + vlen;
        while (*e == ' ' || *e == '\t')
            e++;
        if (vlen == 0 || (*e && *e != ';'))
            return 400;
        while (vlen > 1 && *v == '0') {
            v++;
            vlen--;
        }
        if (vlen > 19 || (vlen == 19 && strncmp(v, "9223372036854775807", 19) > 0))
            return 400;
        int64_t x = 0;
        for (size_t i = 0; i < vlen; i++)
            x = x * 10 + (v[i] - '0');
        *since = x;
        p = e;
    }
    return 0;
}

int broker_wants(const struct broker *b, const char *method, const char *event_type, int has_to_tag,
                 const char *ruri_host, int proxying)
{
    if (!domain_served(b, ruri_host))
        return 0;
    int is_im = event_type && strcmp(event_type, "im") == 0;
    if (strcmp(method, "MESSAGE") == 0)
        return !has_to_tag;
    if (strcmp(method, "PUBLISH") == 0) /* an event state compositor's: never a device's */
        return 1;
    if (strcmp(method, "SUBSCRIBE") == 0) /* other packages may be served by the user's devices */
        return is_im || !proxying;
    return 0;
}

/* The +sip.instance of the request's Contact (without <> and quotes) into buf, or "" */
static void contact_instance(const osip_message_t *m, char *buf, size_t n)
{
    buf[0] = '\0';
    osip_contact_t *c = osip_list_get(&m->contacts, 0);
    osip_generic_param_t *p = NULL;
    if (!c || osip_contact_param_get_byname(c, "+sip.instance", &p) != 0 || !p || !p->gvalue)
        return;
    const char *v = p->gvalue;
    size_t len = strlen(v);
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
        v++;
        len -= 2;
    }
    if (len >= 2 && v[0] == '<' && v[len - 1] == '>') {
        v++;
        len -= 2;
    }
    if (len >= n)
        len = n - 1;
    memcpy(buf, v, len);
    buf[len] = '\0';
}

/* The device of a request (§2.4) as one string: the instance, else the Contact URI, else NULL. */
static char *request_device(const osip_message_t *m)
{
    char inst[256];
    contact_instance(m, inst, sizeof inst);
    if (inst[0])
        return strdup(inst);
    return sip_contact_uri(m);
}

/* Same device (§2.4): a subscription's (instance, contact) against a binding's. */
static int same_device(const char *inst_a, const char *contact_a, const char *inst_b,
                       const char *contact_b)
{
    if (inst_a && inst_b)
        return strcmp(inst_a, inst_b) == 0;
    return contact_a && contact_b && registrar_uri_equal(contact_a, contact_b);
}

/* The device string stored with a message / used for positions: instance, else contact. */
static const char *device_of(const char *instance, const char *contact)
{
    return instance && *instance ? instance : contact;
}

static struct btopic *topic_get(struct broker *b, const char *uri, int create)
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

static int retained(const struct broker *b, const struct btopic *t, int64_t seq, int64_t created_at,
                    int64_t now)
{
    if (b->cfg.ret.count > 0 && seq <= t->last_seq - b->cfg.ret.count)
        return 0;
    if (b->cfg.ret.age_s > 0 && created_at <= now - b->cfg.ret.age_s)
        return 0;
    return 1;
}

/* ---- subscriptions: life cycle -------------------------------------------------------------- */

static void qmsg_unref(struct qmsg *m)
{
    if (m && --m->refs == 0)
        free(m);
}

static void queue_clear(struct isub *s)
{
    while (s->qhead) {
        struct qent *e = s->qhead;
        s->qhead = e->next;
        qmsg_unref(e->m);
        free(e);
    }
    s->qtail = NULL;
    s->qlen = 0;
}

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
 * when absent (registrar_uri_equal decides in the end). */
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
static size_t device_subs(struct broker *b, const char *topic, const char *instance,
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
            if (!same_device(s->instance, s->contact, instance, contact))
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
    uint64_t id = !s->d.route_set && s->d.flow.proto == SIP_PROTO_TCP ? s->d.flow.conn_id : 0;
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

static void sub_free(struct isub *s)
{
    queue_clear(s);
    sub_dialog_clear(&s->d);
    free(s->subscriber);
    free(s->instance);
    free(s->contact);
    free(s->origin);
    free(s);
}

static void sub_unref(struct isub *s)
{
    if (--s->refs == 0 && s->dead)
        sub_free(s);
}

static void sub_remove(struct isub *s, const char *why)
{
    if (s->dead)
        return;
    struct broker *b = s->b;
    LOG_DEBUG("im subscription ended topic=%s subscriber=%s reason=%s", s->topic->uri, s->subscriber,
              why);
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
    if (s->refs == 0)
        sub_free(s);
}

static void sub_make_waiting(struct isub *s, const char *why)
{
    LOG_DEBUG("im subscription waiting topic=%s subscriber=%s reason=%s", s->topic->uri,
              s->subscriber, why);
    if (s->out) {
        txn_client_detach(s->out);
        s->out = NULL;
    }
    s->state = SUB_WAITING;
    queue_clear(s);
    s->behind = 1;
    s->next_seq = s->P + 1;
    if (s->final_reason) /* nothing more to tell it: it ends */
        sub_remove(s, "waiting-while-terminating");
}

static void pump(struct isub *s);

/* End a subscription with a final NOTIFY once none is outstanding (§9.8). */
static void sub_terminate(struct isub *s, const char *reason)
{
    if (s->state == SUB_WAITING) {
        sub_remove(s, reason);
        return;
    }
    if (!s->final_reason)
        s->final_reason = reason;
    queue_clear(s);
    s->behind = 0;
    s->want_bodyless = 0;
    pump(s);
}

/* ---- subscriptions: NOTIFY sending ---------------------------------------------------------- */

static void on_notify_result(void *arg, struct sip_txn *ct, enum txn_event ev, osip_message_t *resp,
                             const char *raw, size_t raw_len, int code);

static void retry_fired(struct timer *t, void *arg)
{
    struct isub *s = arg;
    s->retry_pending = 0;
    pump(s);
}

static void retry_later(struct isub *s, uint64_t ms)
{
    s->retry_pending = 1;
    loop_timer_start(s->b->loop, &s->retry, ms, retry_fired, s);
}

static int send_notify(struct isub *s, enum out_kind kind, int64_t seq, const struct notify_params *np)
{
    int err = 0;
    struct sip_txn *ct = sub_dialog_notify(s->b->tl, s->b->tp, &s->d, np, on_notify_result, s, &err);
    if (!ct) {
        if (err == -ENOTCONN)
            sub_make_waiting(s, "connection-closed");
        else
            sub_remove(s, "notify-send-failed");
        return -1;
    }
    s->out = ct;
    s->out_kind = kind;
    s->out_seq = seq;
    return 0;
}

static void substate_active(const struct isub *s, char *buf, size_t n)
{
    int64_t left = s->expires_at - now_s();
    snprintf(buf, n, "active;expires=%" PRId64, left > 0 ? left : 0);
}

static void send_bodyless(struct isub *s, int64_t last_seq, int64_t first_seq)
{
    char ev[96], ss[64];
    snprintf(ev, sizeof ev, "im;last-seq=%" PRId64 ";first-seq=%" PRId64, last_seq, first_seq);
    enum out_kind kind = OUT_BODYLESS;
    if (s->final_reason) {
        snprintf(ss, sizeof ss, "terminated;reason=%s", s->final_reason);
        kind = OUT_FINAL;
    } else {
        substate_active(s, ss, sizeof ss);
    }
    struct notify_params np = {.event = ev, .sub_state = ss};
    if (send_notify(s, kind, 0, &np) == 0 && kind == OUT_BODYLESS)
        s->want_bodyless = 0;
}

static void on_window(void *arg, int status, const struct im_topic_info *info)
{
    struct isub *s = arg;
    s->busy = 0;
    if (!s->dead) {
        if (status != 0) {
            LOG_WARN("im topic=%s window unavailable status=%d", s->topic->uri, status);
            retry_later(s, 1000);
        } else {
            if (info->last_seq > s->topic->last_seq)
                s->topic->last_seq = info->last_seq;
            if (s->state == SUB_ACTIVE) /* a waiting subscription gets no NOTIFY (§9.4) */
                send_bodyless(s, info->last_seq, info->first_seq);
        }
    }
    sub_unref(s);
}

static void query_window(struct isub *s)
{
    s->busy = 1;
    s->refs++;
    store_im_topic(s->b->st, s->topic->uri, NULL, now_s(), &s->b->cfg.ret, on_window, s);
}

static struct qmsg *qmsg_new(const struct im_message *m)
{
    size_t need = sizeof(struct qmsg) + strlen(m->sender) + 1 +
                  (m->sender_device ? strlen(m->sender_device) + 1 : 0) +
                  (m->recipient ? strlen(m->recipient) + 1 : 0) + strlen(m->content_type) + 1 +
                  m->body_len + 1;
    struct qmsg *q = malloc(need);
    if (!q)
        return NULL;
    char *w = (char *)(q + 1);
#define PUT(dst, src)                                                                               \
    do {                                                                                            \
        if (src) {                                                                                  \
            size_t l_ = strlen(src) + 1;                                                            \
            memcpy(w, src, l_);                                                                     \
            dst = w;                                                                                \
            w += l_;                                                                                \
        } else {                                                                                    \
            dst = NULL;                                                                             \
        }                                                                                           \
    } while (0)
    PUT(q->sender, m->sender);
    PUT(q->sender_device, m->sender_device);
    PUT(q->recipient, m->recipient);
    PUT(q->content_type, m->content_type);
#undef PUT
    memcpy(w, m->body, m->body_len);
    w[m->body_len] = '\0';
    q->body = w;
    q->body_len = m->body_len;
    q->seq = m->seq;
    q->created_at = m->created_at;
    q->is_copy = m->is_copy;
    q->refs = 1;
    return q;
}

/* Append m (one more reference) to s's live queue. Returns 0 or -1 (out of memory). */
static int queue_push(struct isub *s, struct qmsg *m)
{
    struct qent *e = malloc(sizeof *e);
    if (!e)
        return -1;
    e->next = NULL;
    e->m = m;
    m->refs++;
    if (s->qtail)
        s->qtail->next = e;
    else
        s->qhead = e;
    s->qtail = e;
    s->qlen++;
    s->next_seq = m->seq + 1;
    return 0;
}

static int is_skipped(const struct isub *s, const struct qmsg *m)
{
    return m->seq > s->H && m->sender_device &&
           strcmp(m->sender_device, device_of(s->instance, s->contact)) == 0;
}

static void send_message_notify(struct isub *s, struct qmsg *m)
{
    struct sbuf body, probe;
    sbuf_init(&body);
    struct cpim_fields f = {
        .from = m->sender,
        .to = m->recipient ? m->recipient : s->topic->uri,
        .date = m->created_at,
        .seq = m->seq,
        .group_topic = s->is_group ? s->topic->uri : NULL,
        .content_type = m->content_type,
        .body = m->body,
        .body_len = m->body_len,
    };
    if (s->gap_hi > s->P) {
        f.gap_lo = s->P + 1;
        f.gap_hi = s->gap_hi < m->seq ? s->gap_hi : m->seq - 1;
    }
    cpim_render(&body, &f);
    char ss[64];
    substate_active(s, ss, sizeof ss);
    struct notify_params np = {.event = "im", .sub_state = ss, .content_type = "message/cpim",
                               .body = body.p, .body_len = body.len};
    if (s->d.is_datagram && body.len > SIP_UDP_MAX_BYTES) {
        f.truncated = 1; /* the body alone is too big: no need to render the NOTIFY to know */
        sbuf_reset(&body);
        cpim_render(&body, &f);
        np.body = body.p;
        np.body_len = body.len;
    } else if (s->d.is_datagram) {
        /* RFC 3261 §18.1.1: no request over 1300 octets on UDP: a truncation notice (§9.7) */
        sbuf_init(&probe);
        char br[48];
        uint32_t cseq = s->d.local_cseq;
        sub_dialog_render_notify(s->b->tp, &s->d, &np, &probe, br, sizeof br);
        s->d.local_cseq = cseq;
        if (probe.len > SIP_UDP_MAX_BYTES) {
            f.truncated = 1;
            sbuf_reset(&body);
            cpim_render(&body, &f);
            np.body = body.p;
            np.body_len = body.len;
        }
        sbuf_free(&probe);
    }
    if (body.failed)
        sub_remove(s, "out-of-memory");
    else
        send_notify(s, OUT_MESSAGE, m->seq, &np);
    sbuf_free(&body);
}

static void on_read(void *arg, int status, const struct im_message *v, size_t n, int64_t first_seq,
                    int64_t last_seq);

/* Send the next NOTIFY of s if it may (§9.2): one outstanding at a time, in order. */
static void pump(struct isub *s)
{
    struct broker *b = s->b;
    if (s->pumping)
        return; /* the pump() below us goes on (memory store: callbacks come back at once) */
    s->pumping = 1;
    s->refs++; /* a nested callback may remove it: keep the memory until we return */
    while (!s->dead && s->state == SUB_ACTIVE && !s->out && !s->busy && !s->retry_pending) {
        if (s->final_reason || s->want_bodyless) {
            query_window(s);
            continue;
        }
        struct qent *e = s->qhead;
        if (!e) {
            if (!s->behind)
                break;
            s->busy = 1;
            s->refs++;
            s->read_after = s->next_seq - 1;
            store_im_read(b->st, s->topic->uri, s->read_after, READ_BATCH, now_s(), &b->cfg.ret,
                          on_read, s);
            continue;
        }
        s->qhead = e->next;
        if (!s->qhead)
            s->qtail = NULL;
        s->qlen--;
        struct qmsg *m = e->m;
        free(e);
        if (m->seq <= s->P) {
            qmsg_unref(m);
            continue;
        }
        if (!retained(b, s->topic, m->seq, m->created_at, now_s())) {
            if (m->seq > s->gap_hi)
                s->gap_hi = m->seq;
            qmsg_unref(m);
            continue;
        }
        if (is_skipped(s, m)) {
            if (m->seq == s->P + 1)
                s->P = m->seq;
            qmsg_unref(m);
            continue;
        }
        send_message_notify(s, m);
        qmsg_unref(m);
    }
    s->pumping = 0;
    sub_unref(s);
}

static void on_read(void *arg, int status, const struct im_message *v, size_t n, int64_t first_seq,
                    int64_t last_seq)
{
    struct isub *s = arg;
    s->busy = 0;
    if (s->dead) {
        sub_unref(s);
        return;
    }
    if (status != 0) {
        LOG_WARN("im topic=%s read failed status=%d", s->topic->uri, status);
        retry_later(s, 1000);
        sub_unref(s);
        return;
    }
    if (s->state != SUB_ACTIVE || s->next_seq - 1 != s->read_after) {
        /* it went waiting, or a refresh with since moved the position while the read was in
         * flight: these messages may not follow what is queued now; read again when active */
        s->behind = 1;
        pump(s);
        sub_unref(s);
        return;
    }
    int64_t after = s->read_after;
    if (last_seq > s->topic->last_seq)
        s->topic->last_seq = last_seq;
    if (first_seq > after + 1 && first_seq - 1 > s->gap_hi)
        s->gap_hi = first_seq - 1; /* retention discarded what this subscriber had not had */
    int more = 0; /* messages left in the store: out of memory, or the byte bound reached */
    size_t bytes = 0, i = 0;
    for (; i < n && !more && (bytes < READ_MAX_BYTES || i == 0); i++) {
        if (v[i].seq < s->next_seq)
            continue;
        struct qmsg *q = qmsg_new(&v[i]);
        more = !q || queue_push(s, q) < 0;
        qmsg_unref(q);
        bytes += v[i].body_len;
    }
    if (i < n) /* the rest of this read stays in the store: memory per subscriber is bounded */
        more = 1;
    /* Reads and publishes of a topic complete in order, so an empty read means the store has
     * nothing after next_seq - 1 that fan-out has not been told of yet. */
    if (more)
        s->behind = 1;
    else if (n == 0) /* caught up, unless an announcement told of a later message meanwhile */
        s->behind = s->topic->last_seq > last_seq;
    else
        s->behind = n == READ_BATCH || s->next_seq <= s->topic->last_seq;
    pump(s);
    sub_unref(s);
}

static void on_notify_result(void *arg, struct sip_txn *ct, enum txn_event ev, osip_message_t *resp,
                             const char *raw, size_t raw_len, int code)
{
    struct isub *s = arg;
    if (ev == TXN_RESPONSE && code < 200)
        return;
    enum out_kind kind = s->out_kind;
    int64_t seq = s->out_seq;
    s->out = NULL;
    s->out_kind = OUT_NONE;
    struct broker *b = s->b;
    if (kind == OUT_FINAL) {
        sub_remove(s, s->final_reason);
        return;
    }
    if (ev == TXN_RESPONSE && code >= 200 && code < 300) {
        if (kind == OUT_MESSAGE) {
            if (!s->p_frozen && seq > s->P)
                s->P = seq;
            store_im_position_advance(b->st, s->topic->uri, s->subscriber,
                                      device_of(s->instance, s->contact), seq, NULL, NULL);
        }
        s->p_frozen = 0;
        pump(s);
        return;
    }
    s->p_frozen = 0;
    if (ev == TXN_TRANSPORT_ERROR && !s->d.route_set) {
        sub_make_waiting(s, "transport-error");
        return;
    }
    if (ev == TXN_RESPONSE && code == 430) {
        sub_make_waiting(s, "flow-failed");
        return;
    }
    if (ev == TXN_RESPONSE && code == 503 && resp) {
        const char *ra = sip_header_get(resp, "retry-after", 0);
        long secs = ra ? strtol(ra, NULL, 10) : -1;
        if (secs >= 0 && secs <= s->expires_at - now_s()) {
            /* the same NOTIFY again later (§9.4): a message comes back from the store */
            if (kind == OUT_MESSAGE) {
                queue_clear(s);
                s->next_seq = s->P + 1;
                s->behind = 1;
            } else {
                s->want_bodyless = 1;
            }
            retry_later(s, (uint64_t)secs * 1000);
            return;
        }
    }
    char why[32];
    snprintf(why, sizeof why, "notify-%d", ev == TXN_TIMEOUT ? 408 : code);
    sub_remove(s, why);
}

/* ---- live delivery ---------------------------------------------------------------------------- */

/* A message stored in topic uri: every subscription takes it (§9.5). */
static void fan_out(struct broker *b, const char *uri, const struct im_message *m)
{
    struct btopic *t = topic_get(b, uri, 0);
    if (!t)
        return;
    if (m->seq > t->last_seq)
        t->last_seq = m->seq;
    struct qmsg *q = NULL; /* one copy for every queue that takes it */
    for (struct isub *s = t->subs, *next; s; s = next) {
        next = s->tnext;
        if (s->state != SUB_ACTIVE || s->final_reason)
            continue;
        if (m->seq < s->next_seq)
            continue;
        if (!s->behind && m->seq == s->next_seq && s->qlen < s->b->cfg.max_queue) {
            if (!q)
                q = qmsg_new(m);
            if (!q || queue_push(s, q) < 0)
                s->behind = 1;
        } else {
            s->behind = 1;
        }
        pump(s);
    }
    qmsg_unref(q);
}

/* Another process sharing the store stored seq in topic (§15): subscriptions served here read it
 * from the store. topic NULL: announcements may have been lost, look at every topic. */
static void on_announce(void *arg, const char *topic, int64_t seq)
{
    struct broker *b = arg;
    if (topic) {
        struct btopic *t = topic_get(b, topic, 0);
        if (!t)
            return;
        if (seq > t->last_seq)
            t->last_seq = seq;
        /* pump(s) may end s (and free the topic with its last subscription): next is taken first */
        for (struct isub *s = t->subs, *next; s; s = next) {
            next = s->tnext;
            if (s->state == SUB_ACTIVE && seq >= s->next_seq) {
                s->behind = 1;
                pump(s);
            }
        }
        return;
    }
    /* every subscription; pump(s) ends at most s itself, so a snapshot stays valid */
    size_t n = 0, bk;
    struct isub **v = malloc((b->nsubs ? b->nsubs : 1) * sizeof *v);
    if (!v)
        return;
    for (struct hmap_entry *e = hmap_first(&b->subs, &bk); e && n < b->nsubs; e = hmap_next(&b->subs, e, &bk))
        v[n++] = e->val;
    for (size_t i = 0; i < n; i++) {
        if (v[i]->state == SUB_ACTIVE) {
            v[i]->behind = 1;
            pump(v[i]);
        }
    }
    free(v);
}

/* ---- SUBSCRIBE -------------------------------------------------------------------------------- */

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
    char *end;
    while (*ex == ' ')
        ex++;
    if (!isdigit((unsigned char)*ex))
        return -1;
    unsigned long v = strtoul(ex, &end, 10);
    while (*end == ' ')
        end++;
    if (*end)
        return -1;
    *out = v > 0x7fffffff ? 0x7fffffff : (int)v;
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
             src->proto == SIP_PROTO_TCP ? ";transport=tcp" : "");
    txn_respond_text(t, 200, NULL, hdr);
}

/* §8.5: a device's older subscription to the same topic in another dialog ends. */
static void replace_older(struct broker *b, struct isub *fresh)
{
    struct isub *v[DEVICE_SUBS_MAX];
    size_t n = device_subs(b, fresh->topic->uri, fresh->instance, fresh->contact, v);
    for (size_t i = 0; i < n; i++) {
        struct isub *s = v[i];
        /* the same dialog (other id values) is not replaced; sub_terminate ends s only */
        if (s == fresh || (strcmp(s->d.call_id, fresh->d.call_id) == 0 &&
                           strcmp(s->d.remote_tag, fresh->d.remote_tag) == 0))
            continue;
        sub_terminate(s, "timeout");
    }
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
    int st = sub_dialog_init(&s->d, req, txn_source(t), txn_local_tag(t));
    char inst[256];
    contact_instance(req, inst, sizeof inst);
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
    struct btopic *tp = topic_get(b, c->topic, 1);
    if (!tp || hmap_put(&b->subs, key, (size_t)klen, s, NULL)) {
        if (tp)
            topic_maybe_free(b, tp);
        txn_respond_simple(t, 503, "Out of memory", "Retry-After", "5");
        sub_free(s);
        return;
    }
    b->nsubs++;
    dialog_count(b, &s->d, +1);
    if (s->origin)
        hmap_put(&b->origins, s->origin, strlen(s->origin), s, NULL);
    s->topic = tp;
    s->tnext = tp->subs;
    if (tp->subs)
        tp->subs->tprev = s;
    tp->subs = s;
    tp->nsubs++;
    if (L > tp->last_seq)
        tp->last_seq = L;
    devices_add(b, s);
    conns_update(b, s);
    s->is_group = info->is_group;
    s->state = SUB_ACTIVE;
    s->expires_at = now_s() + c->expires;
    s->P = c->since >= 0 && c->since < L ? c->since : L;
    s->H = L;
    s->next_seq = s->P + 1;
    s->behind = s->P < L;
    s->want_bodyless = 1;
    respond_sub_ok(b, t, c->expires);
    LOG_DEBUG("im subscription topic=%s subscriber=%s P=%" PRId64 " L=%" PRId64, tp->uri,
              s->subscriber, s->P, L);
    replace_older(b, s);
    pump(s);
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

void broker_handle_subscribe(struct broker *b, struct sip_txn *t)
{
    const osip_message_t *req = txn_request(t);
    const char *ev = sip_header_get(req, "event", 0);
    char type[32];
    int64_t since;
    if (!ev) {
        txn_respond_simple(t, 400, "Missing Event header", NULL, NULL);
        return;
    }
    int st = broker_parse_event(ev, type, sizeof type, &since);
    if (strcmp(type, "im") != 0) {
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
    store_im_topic(b->st, c->topic, c->identity, now_s(), &b->cfg.ret, on_sub_topic, c);
}

int broker_handle_in_dialog(struct broker *b, struct sip_txn *t)
{
    const osip_message_t *req = txn_request(t);
    char dkey[512], key[700];
    if (sub_dialog_key_of_request(req, dkey, sizeof dkey) < 0)
        return 0;
    const char *ev = sip_header_get(req, "event", 0);
    char type[32] = "";
    int64_t since = -1;
    int bad_since = ev ? broker_parse_event(ev, type, sizeof type, &since) : 0;
    /* the id parameter selects the subscription within the dialog */
    char idbuf[SUB_EVENT_ID_MAX + 1];
    int has_id = sub_event_id(ev, idbuf, sizeof idbuf);
    const char *id = has_id == 1 ? idbuf : NULL;
    snprintf(key, sizeof key, "%s\n%s", dkey, id ? id : "");
    struct isub *s = hmap_get(&b->subs, key, strlen(key));
    if (!s) {
        /* a dialog of ours with another id, or of nobody: only answer when the dialog is ours */
        if (!hmap_get(&b->dialogs, dkey, strlen(dkey)) || strcmp(type, "im") != 0)
            return 0;
        txn_respond_simple(t, 481, "Subscription does not exist", NULL, NULL);
        return 1;
    }
    if (!ev) {
        txn_respond_simple(t, 400, "Missing Event header", NULL, NULL);
        return 1;
    }
    if (strcmp(type, "im") != 0) {
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
        sub_terminate(s, "timeout");
        return 1;
    }
    s->expires_at = now_s() + expires;
    if (s->state == SUB_WAITING) {
        s->state = SUB_ACTIVE;
        s->behind = 1;
        s->next_seq = s->P + 1;
    }
    if (since >= 0) {
        int64_t L = s->topic->last_seq;
        s->P = since < L ? since : L;
        s->H = L;
        queue_clear(s);
        s->next_seq = s->P + 1;
        s->behind = s->P < L;
        s->gap_hi = 0;
        s->p_frozen = s->out && s->out_kind == OUT_MESSAGE;
    }
    s->want_bodyless = 1;
    pump(s);
    return 1;
}

/* ---- page mode (§11) ------------------------------------------------------------------------ */

static void pm_free(struct pm_session *p)
{
    free(p->topic);
    free(p->aor);
    free(p->device);
    free(p->contact);
    free(p->path);
    free(p->received);
    free(p->instance);
    free(p);
}

static void pm_end(struct pm_session *p, const char *why)
{
    if (p->dead)
        return;
    LOG_DEBUG("page-mode session ended topic=%s aor=%s device=%s reason=%s", p->topic, p->aor,
              p->device, why);
    if (p->out) {
        txn_client_detach(p->out);
        p->out = NULL;
    }
    hmap_del(&p->b->sessions, p->key, strlen(p->key));
    p->dead = 1;
    if (p->refs == 0)
        pm_free(p);
}

static void pm_unref(struct pm_session *p)
{
    if (--p->refs == 0 && p->dead)
        pm_free(p);
}

/* Does a device hold an `im` subscription (active or waiting) to topic? */
static int device_subscribed(struct broker *b, const char *topic, const char *instance,
                             const char *contact)
{
    struct isub *v[DEVICE_SUBS_MAX];
    size_t n = device_subs(b, topic, instance, contact, v);
    for (size_t i = 0; i < n; i++)
        if (!v[i]->final_reason)
            return 1;
    return 0;
}

static void pm_step(struct pm_session *p);

static void on_pm_result(void *arg, struct sip_txn *ct, enum txn_event ev, osip_message_t *resp,
                         const char *raw, size_t raw_len, int code)
{
    struct pm_session *p = arg;
    if (ev == TXN_RESPONSE && code < 200)
        return;
    p->out = NULL;
    int stop = ev != TXN_RESPONSE || code == 408 || code == 430 || code == 480 || code == 500 ||
               code == 503;
    if (stop && p->binding_gen != p->out_gen) {
        p->cursor = p->D; /* the same message again, to the newer binding */
        pm_step(p);
        return;
    }
    if (stop) {
        pm_end(p, "device-unreachable");
        return;
    }
    /* 2xx, or the device refused it for good: either way it has had it */
    if (p->out_seq > p->D)
        p->D = p->out_seq;
    store_im_position_advance(p->b->st, p->topic, p->aor, p->device, p->out_seq, NULL, NULL);
    pm_step(p);
}

static void pm_send(struct pm_session *p, const struct im_message *m)
{
    struct broker *b = p->b;
    struct sip_source dst;
    memset(&dst, 0, sizeof dst);
    dst.udp_fd = -1;
    int have = 0;
    if (p->path) {
        char first[1024];
        const char *lt = strchr(p->path, '<'), *gt = lt ? strchr(lt, '>') : NULL;
        if (gt && (size_t)(gt - lt) < sizeof first) {
            memcpy(first, lt, (size_t)(gt - lt + 1));
            first[gt - lt + 1] = '\0';
            have = uac_uri_dest(first, &dst) == 0;
        }
    } else if (p->conn_id && transport_conn_alive(b->tp, p->conn_id) && p->received) {
        struct sip_endpoint ep;
        if (sip_endpoint_parse(p->received, &ep) == 0) {
            dst.proto = SIP_PROTO_TCP;
            dst.peer = ep.addr;
            dst.peerlen = ep.addrlen;
            dst.conn_id = p->conn_id;
            have = 1;
        }
    }
    if (!have)
        have = uac_uri_dest(p->contact, &dst) == 0;
    if (!have) {
        pm_end(p, "no-destination");
        return;
    }
    char from[AOR_MAX * 2 + 8], to[AOR_MAX + 4], date[64], hdr[128];
    if (p->is_group)
        snprintf(from, sizeof from, "\"%s\" <%s>", m->sender + 4, p->topic);
    else
        snprintf(from, sizeof from, "<%s>", m->sender);
    snprintf(to, sizeof to, "<%s>", p->aor);
    time_t tt = (time_t)m->created_at;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(hdr, sizeof hdr, "Date: %s\r\n", date);
    struct uac_request r = {.method = "MESSAGE", .request_uri = p->contact, .route = p->path,
                            .from = from, .to = to, .content_type = m->content_type,
                            .body = m->body, .body_len = m->body_len, .extra_headers = hdr};
    char notice[256];
    /* RFC 3261 §18.1.1 over UDP: headers here are bounded by what is counted below plus 400 */
    size_t head = 400 + strlen(m->content_type) + 2 * strlen(p->contact) + strlen(from) + strlen(to) +
                  (p->path ? strlen(p->path) : 0);
    if (dst.proto == SIP_PROTO_UDP && m->body_len + head > SIP_UDP_MAX_BYTES) {
        char mt[128];
        cpim_media_type(m->content_type, mt, sizeof mt);
        int nl = snprintf(notice, sizeof notice,
                          "[sipd: message of %zu bytes (%s) not delivered over UDP]", m->body_len, mt);
        r.content_type = "text/plain;charset=UTF-8";
        r.body = notice;
        r.body_len = (size_t)nl;
    }
    int err = 0;
    p->out = uac_send(b->tl, b->tp, &r, &dst, on_pm_result, p, &err);
    if (!p->out) {
        pm_end(p, err == -ENOTCONN ? "connection-closed" : "send-failed");
        return;
    }
    p->out_seq = m->seq;
    p->out_gen = p->binding_gen;
}

static void on_pm_read(void *arg, int status, const struct im_message *v, size_t n, int64_t first_seq,
                       int64_t last_seq)
{
    struct pm_session *p = arg;
    p->busy = 0;
    if (p->dead) {
        pm_unref(p);
        return;
    }
    if (status != 0) {
        pm_end(p, "store-error");
        pm_unref(p);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        p->cursor = v[i].seq;
        if (v[i].is_copy || strcmp(v[i].sender, p->aor) == 0)
            continue;
        pm_send(p, &v[i]);
        pm_unref(p);
        return;
    }
    if (n == PM_READ_BATCH || p->more) {
        p->more = 0;
        pm_step(p);
    } else {
        pm_end(p, "caught-up");
    }
    pm_unref(p);
}

static void pm_step(struct pm_session *p)
{
    if (p->dead || p->busy || p->out)
        return;
    if (device_subscribed(p->b, p->topic, p->instance, p->contact)) {
        pm_end(p, "device-subscribed");
        return;
    }
    if (p->cursor < p->D)
        p->cursor = p->D;
    p->busy = 1;
    p->refs++;
    store_im_read(p->b->st, p->topic, p->cursor, PM_READ_BATCH, now_s(), &p->b->cfg.ret, on_pm_read, p);
}

static void on_pm_position(void *arg, int status, int64_t pos)
{
    struct pm_session *p = arg;
    p->busy = 0;
    if (!p->dead) {
        if (status != 0) {
            pm_end(p, "store-error");
        } else {
            p->D = pos;
            p->cursor = pos;
            pm_step(p);
        }
    }
    pm_unref(p);
}

/* A session of the same device learns of a (newer) binding: its next MESSAGE goes there. When
 * the MESSAGE in flight fails, it is sent again to the new binding (see on_pm_result). */
static void pm_rebind(struct pm_session *p, const struct binding *bd)
{
    if (strcmp(p->contact, bd->contact) == 0 && p->conn_id == bd->conn_id)
        return;
    char *contact = strdup(bd->contact);
    char *path = bd->path ? strdup(bd->path) : NULL;
    char *received = bd->received ? strdup(bd->received) : NULL;
    if (!contact || (bd->path && !path) || (bd->received && !received)) {
        free(contact);
        free(path);
        free(received);
        return;
    }
    free(p->contact);
    free(p->path);
    free(p->received);
    p->contact = contact;
    p->path = path;
    p->received = received;
    p->conn_id = bd->conn_id;
    p->binding_gen++;
}

/* Start (or nudge) page-mode delivery of topic to one binding of aor. initial: the position a
 * device with none (and no sibling with one) starts from. */
static void pm_start(struct broker *b, const char *topic, int is_group, const char *aor,
                     const struct binding *bd, int64_t initial)
{
    const char *device = device_of(bd->instance, bd->contact);
    char key[1600];
    int k = snprintf(key, sizeof key, "%s\n%s\n%s", topic, aor, device);
    if (k < 0 || (size_t)k >= sizeof key)
        return;
    struct pm_session *p = hmap_get(&b->sessions, key, (size_t)k);
    if (p) {
        pm_rebind(p, bd);
        p->more = 1;
        pm_step(p);
        return;
    }
    p = calloc(1, sizeof *p);
    if (!p)
        return;
    p->b = b;
    memcpy(p->key, key, (size_t)k + 1);
    p->topic = strdup(topic);
    p->aor = strdup(aor);
    p->device = strdup(device);
    p->contact = strdup(bd->contact);
    p->path = bd->path ? strdup(bd->path) : NULL;
    p->received = bd->received ? strdup(bd->received) : NULL;
    p->instance = bd->instance ? strdup(bd->instance) : NULL;
    p->conn_id = bd->conn_id;
    p->is_group = is_group;
    p->initial = initial;
    if (!p->topic || !p->aor || !p->device || !p->contact ||
        hmap_put(&b->sessions, p->key, (size_t)k, p, NULL)) {
        pm_free(p);
        return;
    }
    p->busy = 1;
    p->refs++;
    store_im_position_get(b->st, topic, aor, device, initial, on_pm_position, p);
}

/* Is v[i] the binding page mode uses for its device (§2.4)? One per device: the one with a
 * live connection, else the most recently updated, else the newest connection (ids grow). */
static int better_binding(struct broker *b, const struct binding *x, const struct binding *y)
{
    int ax = x->conn_id && transport_conn_alive(b->tp, x->conn_id);
    int ay = y->conn_id && transport_conn_alive(b->tp, y->conn_id);
    if (ax != ay)
        return ax > ay;
    if (x->updated_at != y->updated_at)
        return x->updated_at > y->updated_at;
    return x->conn_id > y->conn_id;
}

static int device_seen_before(struct broker *b, const struct binding *v, size_t n, size_t i)
{
    for (size_t k = 0; k < n; k++)
        if (k != i && strcmp(v[k].aor, v[i].aor) == 0 &&
            same_device(v[k].instance, v[k].contact, v[i].instance, v[i].contact) &&
            (better_binding(b, &v[k], &v[i]) || (k < i && !better_binding(b, &v[i], &v[k]))))
            return 1;
    return 0;
}

static int is_pm_target(struct broker *b, const char *topic, const char *sender,
                        const struct binding *bd)
{
    if (sender && strcmp(bd->aor, sender) == 0)
        return 0;
    return !device_subscribed(b, topic, bd->instance, bd->contact);
}

/* ---- publishing (§10) ------------------------------------------------------------------------ */

struct pub_ctx {
    struct broker *b;
    struct sip_txn *t;
    int is_publish;
    char topic[AOR_MAX];
    char identity[AOR_MAX];
    char *device;
    char *ctype;                  /* owned copies: the request goes when it is answered */
    char *body;
    int is_group;
    int copy;
    int64_t seq, copy_seq;
    int duplicate;
    struct im_message msg;        /* the stored message (strings owned by this context) */
    /* page-mode targets found by lookups */
    struct binding_list targets;
    char **members;
    size_t nmembers, lookups_left;
    int64_t now;
};

static void pub_free(struct pub_ctx *c)
{
    free(c->device);
    free(c->ctype);
    free(c->body);
    binding_list_free(&c->targets);
    for (size_t i = 0; i < c->nmembers; i++)
        free(c->members[i]);
    free(c->members);
    free(c);
}

static void pub_finish(struct pub_ctx *c)
{
    struct broker *b = c->b;
    struct sip_txn *t = c->t;
    /* who gets it now: subscriptions of T that do not skip it, and page-mode targets */
    size_t online = 0;
    struct btopic *bt = topic_get(b, c->topic, 0);
    for (struct isub *s = bt ? bt->subs : NULL; s; s = s->tnext)
        if (s->state == SUB_ACTIVE && !s->final_reason &&
            !(c->device && strcmp(c->device, device_of(s->instance, s->contact)) == 0))
            online++;
    size_t ntargets = 0;
    for (size_t i = 0; i < c->targets.len; i++)
        if (!device_seen_before(b, c->targets.v, c->targets.len, i) &&
            is_pm_target(b, c->topic, c->identity, &c->targets.v[i]))
            ntargets++;
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr, "Im-Seq: %" PRId64, c->seq);
    if (c->copy_seq > 0)
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, ";copy=%" PRId64, c->copy_seq);
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "\r\n");
    if (c->is_publish) {
        char etag[24];
        sip_random_token(etag, sizeof etag);
        snprintf(hdr + n, sizeof hdr - (size_t)n, "SIP-ETag: %s\r\nExpires: 0\r\n", etag);
    }
    int code = online + ntargets > 0 ? 200 : 202;
    txn_respond_text(t, code, NULL, hdr);
    LOG_DEBUG("im publish topic=%s seq=%" PRId64 " copy=%" PRId64 " dup=%d code=%d", c->topic,
              c->seq, c->copy_seq, c->duplicate, code);
    if (c->duplicate) {
        pub_free(c);
        return;
    }
    /* fan-out (§10.4): the topic, the sender's copy, page mode */
    c->msg.seq = c->seq;
    fan_out(b, c->topic, &c->msg);
    if (c->copy_seq > 0) {
        struct im_message cm = c->msg;
        cm.seq = c->copy_seq;
        cm.is_copy = 1;
        cm.topic = c->identity;
        fan_out(b, c->identity, &cm);
    }
    for (size_t i = 0; i < c->targets.len; i++) {
        const struct binding *bd = &c->targets.v[i];
        if (!device_seen_before(b, c->targets.v, c->targets.len, i) &&
            is_pm_target(b, c->topic, c->identity, bd))
            pm_start(b, c->topic, c->is_group, bd->aor, bd, c->is_group ? c->seq - 1 : 0);
    }
    pub_free(c);
}

static void on_pub_lookup(void *arg, int status, const struct binding *v, size_t n)
{
    struct pub_ctx *c = arg;
    for (size_t i = 0; status == 0 && i < n; i++)
        binding_list_push_copy(&c->targets, &v[i]);
    if (--c->lookups_left == 0)
        pub_finish(c);
}

static void on_pub_members(void *arg, int status, const char *const *members, size_t n)
{
    struct pub_ctx *c = arg;
    c->members = calloc(n ? n : 1, sizeof *c->members);
    for (size_t i = 0; c->members && i < n; i++)
        if ((c->members[c->nmembers] = strdup(members[i])) != NULL)
            c->nmembers++;
    if (c->nmembers == 0) {
        pub_finish(c);
        return;
    }
    c->lookups_left = c->nmembers;
    for (size_t i = 0, k = c->nmembers; i < k; i++)
        store_location_lookup(c->b->st, c->members[i], c->now, on_pub_lookup, c);
}

static void on_pub_stored(void *arg, int status, int64_t seq, int64_t copy_seq, int duplicate)
{
    struct pub_ctx *c = arg;
    if (status != 0) {
        if (status == STORE_EUNAVAIL)
            txn_respond_simple(c->t, 503, "Message store unavailable", "Retry-After", "5");
        else
            txn_respond_simple(c->t, 500, "Message not stored", NULL, NULL);
        pub_free(c);
        return;
    }
    c->seq = seq;
    c->copy_seq = copy_seq;
    c->duplicate = duplicate;
    if (duplicate) {
        pub_finish(c);
        return;
    }
    if (c->is_group) {
        store_im_members(c->b->st, c->topic, on_pub_members, c);
    } else {
        c->lookups_left = 1;
        store_location_lookup(c->b->st, c->topic, c->now, on_pub_lookup, c);
    }
}

/* The Content-Type header value exactly as received (heap copy), from the request's bytes. */
static char *raw_content_type(struct sip_txn *t)
{
    size_t len;
    const char *raw = txn_raw(t, &len);
    if (!raw)
        return NULL;
    const char *end = raw + len, *p = memchr(raw, '\n', len);
    while (p && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol || eol == line || (eol == line + 1 && line[0] == '\r'))
            break; /* end of headers */
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon) {
            const char *ne = colon;
            while (ne > line && (ne[-1] == ' ' || ne[-1] == '\t'))
                ne--;
            size_t nl = (size_t)(ne - line);
            if ((nl == 12 && strncasecmp(line, "content-type", 12) == 0) ||
                (nl == 1 && (line[0] == 'c' || line[0] == 'C'))) {
                const char *v = colon + 1, *ve = eol;
                while (v < ve && (*v == ' ' || *v == '\t'))
                    v++;
                while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                    ve--;
                if (ve > v && ve[0] == '\r' && ve + 2 < end && (ve[2] == ' ' || ve[2] == '\t'))
                    return NULL; /* folded: let oSIP's rendering do */
                return strndup(v, (size_t)(ve - v));
            }
        }
        p = eol;
    }
    return NULL;
}

static void on_pub_topic(void *arg, int status, const struct im_topic_info *info)
{
    struct pub_ctx *c = arg;
    struct broker *b = c->b;
    struct sip_txn *t = c->t;
    const osip_message_t *req = txn_request(t);
    if (status != 0) {
        txn_respond_simple(t, status == STORE_EUNAVAIL ? 503 : 500, "Message store unavailable",
                           status == STORE_EUNAVAIL ? "Retry-After" : NULL, "5");
        pub_free(c);
        return;
    }
    c->is_group = info->is_group;
    if (info->is_group && !info->is_member) {
        txn_respond_simple(t, 403, "Not a member of this group", NULL, NULL);
        pub_free(c);
        return;
    }
    if (c->is_publish && sip_header_get(req, "sip-if-match", 0)) {
        txn_respond_simple(t, 412, NULL, NULL, NULL);
        pub_free(c);
        return;
    }
    osip_body_t *body = osip_list_get(&req->bodies, 0);
    if (!body || body->length == 0 || !req->content_type || !req->content_type->type) {
        txn_respond_simple(t, 400, "Message without body or Content-Type", NULL, NULL);
        pub_free(c);
        return;
    }
    if (body->length > b->cfg.max_message_bytes) {
        txn_respond_simple(t, 413, NULL, NULL, NULL);
        pub_free(c);
        return;
    }
    /* the Content-Type value as the client wrote it (verbatim, §7.2), else oSIP's rendering */
    const char *ctype = NULL;
    char *ctype_alloc = raw_content_type(t);
    if (!ctype_alloc) {
        char *o = NULL;
        if (osip_content_type_to_str(req->content_type, &o) == 0 && o) {
            ctype_alloc = strdup(o);
            osip_free(o);
        }
    }
    ctype = ctype_alloc;
    if (!ctype) {
        txn_respond_simple(t, 400, "Malformed Content-Type", NULL, NULL);
        pub_free(c);
        return;
    }
    const char *from_tag = sip_tag_of(req->from);
    char cid[512];
    snprintf(cid, sizeof cid, "%s%s%s", req->call_id->number, req->call_id->host ? "@" : "",
             req->call_id->host ? req->call_id->host : "");
    c->copy = !info->is_group && strcmp(c->identity, c->topic) != 0 &&
              domain_served(b, strchr(c->identity, '@') + 1);
    struct im_publish p = {
        .topic = c->topic,
        .sender = c->identity,
        .sender_device = c->device,
        .copy_topic = c->copy ? c->identity : NULL,
        .call_id = cid,
        .from_tag = from_tag ? from_tag : "",
        .cseq = (uint32_t)strtoul(req->cseq->number, NULL, 10),
        .content_type = ctype,
        .body = body->body,
        .body_len = body->length,
        .now = c->now,
        .ret = b->cfg.ret,
    };
    /* the message as fan-out will see it after the request is answered (and gone) */
    c->ctype = ctype_alloc;
    c->body = malloc(body->length + 1);
    if (!c->ctype || !c->body) {
        txn_respond_simple(t, 503, "Out of memory", "Retry-After", "5");
        pub_free(c);
        return;
    }
    memcpy(c->body, body->body, body->length);
    c->body[body->length] = '\0';
    c->msg = (struct im_message){.topic = c->topic, .sender = c->identity, .sender_device = c->device,
                                 .recipient = c->topic, .content_type = c->ctype, .body = c->body,
                                 .body_len = body->length, .created_at = c->now};
    p.content_type = c->ctype;
    store_im_publish(b->st, &p, on_pub_stored, c);
}

void broker_handle_publish(struct broker *b, struct sip_txn *t)
{
    const osip_message_t *req = txn_request(t);
    int is_publish = strcmp(req->sip_method, "PUBLISH") == 0;
    if (is_publish) {
        const char *ev = sip_header_get(req, "event", 0);
        char type[32] = "";
        int64_t since;
        if (ev)
            broker_parse_event(ev, type, sizeof type, &since);
        if (strcmp(type, "im") != 0) {
            txn_respond_text(t, 489, NULL, ALLOW_EVENTS);
            return;
        }
    }
    struct pub_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        txn_respond_simple(t, 503, "Out of memory", "Retry-After", "5");
        return;
    }
    c->b = b;
    c->t = t;
    c->is_publish = is_publish;
    c->now = now_s();
    binding_list_init(&c->targets);
    if (sip_uri_aor(req->req_uri, c->topic, sizeof c->topic) < 0) {
        txn_respond_simple(t, 404, "No such topic", NULL, NULL);
        pub_free(c);
        return;
    }
    if (sip_uri_aor(req->from->url, c->identity, sizeof c->identity) < 0) {
        txn_respond_simple(t, 403, "Sender has no address-of-record", NULL, NULL);
        pub_free(c);
        return;
    }
    c->device = request_device(req);
    store_im_topic(b->st, c->topic, c->identity, c->now, &b->cfg.ret, on_pub_topic, c);
}

/* ---- registration, expiry, shutdown ---------------------------------------------------------- */

/* Page-mode replay of the AOR's group topics after a REGISTER (§11.4): one per group topic. */
struct reg_ctx {
    struct broker *b;
    char aor[AOR_MAX];
    char group[AOR_MAX];
    struct binding_list bindings;
};

static void on_reg_group(void *arg, int status, const struct im_topic_info *info)
{
    struct reg_ctx *r = arg;
    /* a device with no position starts at the group's present: no flood of old history */
    for (size_t i = 0; status == 0 && info->is_group && i < r->bindings.len; i++)
        if (!device_seen_before(r->b, r->bindings.v, r->bindings.len, i) &&
            is_pm_target(r->b, r->group, NULL, &r->bindings.v[i]))
            pm_start(r->b, r->group, 1, r->aor, &r->bindings.v[i], info->last_seq);
    binding_list_free(&r->bindings);
    free(r);
}

static void on_reg_groups(void *arg, int status, const char *const *groups, size_t n)
{
    struct reg_ctx *r = arg;
    for (size_t g = 0; status == 0 && g < n; g++) {
        struct reg_ctx *one = calloc(1, sizeof *one);
        if (!one)
            break;
        one->b = r->b;
        snprintf(one->aor, sizeof one->aor, "%s", r->aor);
        snprintf(one->group, sizeof one->group, "%s", groups[g]);
        binding_list_init(&one->bindings);
        for (size_t i = 0; i < r->bindings.len; i++)
            binding_list_push_copy(&one->bindings, &r->bindings.v[i]);
        store_im_topic(r->b->st, one->group, NULL, now_s(), &r->b->cfg.ret, on_reg_group, one);
    }
    binding_list_free(&r->bindings);
    free(r);
}

void broker_registered(struct broker *b, const char *aor, const struct binding *v, size_t n)
{
    char topic[AOR_MAX];
    /* the registrar's AOR keeps the scheme as written; topics are sip: (§2.1) */
    if (strncasecmp(aor, "sips:", 5) == 0)
        snprintf(topic, sizeof topic, "sip:%s", aor + 5);
    else
        snprintf(topic, sizeof topic, "%s", aor);
    for (size_t i = 0; i < n; i++)
        if (!device_seen_before(b, v, n, i) && is_pm_target(b, topic, NULL, &v[i]))
            pm_start(b, topic, 0, topic, &v[i], 0);
    struct reg_ctx *r = calloc(1, sizeof *r);
    if (!r)
        return;
    r->b = b;
    snprintf(r->aor, sizeof r->aor, "%s", topic);
    binding_list_init(&r->bindings);
    for (size_t i = 0; i < n; i++)
        binding_list_push_copy(&r->bindings, &v[i]);
    store_im_groups_of(b->st, topic, on_reg_groups, r);
}

void broker_tick(struct broker *b, int64_t now)
{
    size_t bk;
    struct hmap_entry *e = hmap_first(&b->subs, &bk);
    while (e) {
        struct hmap_entry *next = hmap_next(&b->subs, e, &bk);
        struct isub *s = e->val;
        if (s->expires_at <= now && !s->final_reason)
            sub_terminate(s, "timeout"); /* may delete e: next was taken first */
        e = next;
    }
    store_im_expire(b->st, now, &b->cfg.ret, NULL, NULL);
}

void broker_shutdown(struct broker *b)
{
    b->shutting_down = 1;
    size_t bk;
    struct hmap_entry *e = hmap_first(&b->subs, &bk);
    while (e) {
        struct hmap_entry *next = hmap_next(&b->subs, e, &bk);
        sub_terminate(e->val, "deactivated");
        e = next;
    }
}

size_t broker_subscriptions(const struct broker *b) { return b->nsubs; }

static void on_conn_closed(void *arg, uint64_t conn_id)
{
    struct broker *b = arg;
    /* sub_make_waiting never unlists (the subscription keeps its flow until a refresh), but it
     * may end a terminating one (sub_remove unlists it): next is taken first */
    for (struct isub *s = hmap_get(&b->conns, &conn_id, sizeof conn_id), *next; s; s = next) {
        next = s->by_conn.next;
        if (s->state == SUB_ACTIVE)
            sub_make_waiting(s, "connection-closed");
    }
}

struct broker *broker_create(struct loop *loop, struct transport *tp, struct txn_layer *tl,
                             struct store *st, const struct broker_config *cfg)
{
    struct broker *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->loop = loop;
    b->tp = tp;
    b->tl = tl;
    b->st = st;
    b->cfg = *cfg;
    if (b->cfg.max_queue == 0)
        b->cfg.max_queue = 1;
    hmap_init(&b->topics);
    hmap_init(&b->subs);
    hmap_init(&b->dialogs);
    hmap_init(&b->origins);
    hmap_init(&b->devices);
    hmap_init(&b->conns);
    hmap_init(&b->sessions);
    transport_set_close_cb(tp, on_conn_closed, b);
    store_im_set_listener(st, on_announce, b);
    return b;
}

void broker_destroy(struct broker *b)
{
    if (!b)
        return;
    transport_set_close_cb(b->tp, NULL, NULL); /* the store is not touched: it may be gone */
    size_t bk;
    struct hmap_entry *e = hmap_first(&b->subs, &bk);
    while (e) {
        struct hmap_entry *next = hmap_next(&b->subs, e, &bk);
        struct isub *s = e->val;
        s->refs = 0; /* the store is gone by now: nothing will call back */
        sub_remove(s, "shutdown");
        e = next;
    }
    e = hmap_first(&b->sessions, &bk);
    while (e) {
        struct hmap_entry *next = hmap_next(&b->sessions, e, &bk);
        struct pm_session *p = e->val;
        p->refs = 0;
        pm_end(p, "shutdown");
        e = next;
    }
    hmap_free(&b->subs);
    hmap_free(&b->dialogs);
    hmap_free(&b->origins);
    hmap_free(&b->devices);
    hmap_free(&b->conns);
    hmap_free(&b->sessions);
    hmap_free(&b->topics);
    free(b);
}
