/* delivery.c - the ordered NOTIFY engine of `im` subscriptions (§9): at most one NOTIFY
 * outstanding per subscription, sent in seq order, each acknowledged before the next.
 *
 * A subscription's next NOTIFY comes from its live queue (copies of messages fan-out handed it,
 * consecutive seqs) or, when it is "behind", from a store read after next_seq - 1; a body-less
 * NOTIFY (last-seq/first-seq window) follows each (re)subscription, a final one ends it. The
 * answer to a NOTIFY advances P and the stored position, parks the subscription (waiting:
 * transport error, 430), retries it (503 with Retry-After) or ends it. Messages stored by this
 * node reach the queues through im_fan_out; those stored by another node sharing the database
 * are announced (im_on_announce) and read from the store. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/log.h"
#include "../../base/metrics.h"
#include "../../base/sbuf.h"
#include "../../sip/cpim.h"
#include "../../sip/msg.h"
#include "../../sip/txn.h"
#include "im_internal.h"

#define READ_BATCH 64
#define READ_MAX_BYTES (2u * 1024 * 1024) /* queued from one store read (large messages) */

/* A copy of a stored message shared by the live queues that hold it (reference-counted: one
 * copy of a 1 MiB body for all the subscriptions of a topic); strings follow the struct. */
struct qmsg {
    struct ref ref; /* one per queue holding it, plus its creator's while it hands it out */
    int64_t seq, created_at;
    uint64_t stored_us; /* when fan-out got it (metrics_clock_us), 0 when read from the store */
    int is_copy;
    char *sender, *sender_device, *recipient, *content_type, *body;
    size_t body_len;
};

/* A live queue entry of one subscription. */
struct qent {
    struct qent *next;
    struct qmsg *m;
};

static int retained(const struct broker *b, const struct btopic *t, int64_t seq, int64_t created_at,
                    int64_t now)
{
    if (b->cfg.ret.count > 0 && seq <= t->last_seq - b->cfg.ret.count)
        return 0;
    if (b->cfg.ret.age_s > 0 && created_at <= now - b->cfg.ret.age_s)
        return 0;
    return 1;
}

/* ---- the live queue -------------------------------------------------------------------------- */

static void qmsg_destroy(struct ref *r) { free(ref_owner(r, struct qmsg, ref)); }

static void qmsg_unref(struct qmsg *m)
{
    if (m)
        ref_put(&m->ref);
}

void im_queue_clear(struct isub *s)
{
    while (s->qhead) {
        struct qent *e = s->qhead;
        s->qhead = e->next;
        qmsg_unref(e->m);
        free(e);
    }
    s->qtail = NULL;
    s->b->queued -= s->qlen;
    s->qlen = 0;
}

/* ---- subscriptions: NOTIFY sending ----------------------------------------------------------- */

static void on_notify_result(void *arg, struct sip_txn *ct, enum txn_event ev, osip_message_t *resp,
                             const char *raw, size_t raw_len, int code);

static void retry_fired(struct timer *t, void *arg)
{
    struct isub *s = arg;
    s->retry_pending = 0;
    im_pump(s);
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
            im_sub_make_waiting(s, "connection-closed");
        else
            im_sub_remove(s, "notify-send-failed");
        return -1;
    }
    s->out = ct;
    s->out_kind = kind;
    s->out_seq = seq;
    return 0;
}

static void substate_active(const struct isub *s, char *buf, size_t n)
{
    int64_t left = s->expires_at - sip_now_s();
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
    ref_put(&s->ref);
}

static void query_window(struct isub *s)
{
    s->busy = 1;
    ref_get(&s->ref);
    store_im_topic(s->b->st, s->topic->uri, NULL, sip_now_s(), &s->b->cfg.ret, on_window, s);
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
    q->stored_us = 0;
    ref_init(&q->ref, qmsg_destroy);
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
    ref_get(&m->ref);
    if (s->qtail)
        s->qtail->next = e;
    else
        s->qhead = e;
    s->qtail = e;
    s->qlen++;
    s->b->queued++;
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
        im_sub_remove(s, "out-of-memory");
    else if (send_notify(s, OUT_MESSAGE, m->seq, &np) == 0)
        s->out_stored_us = m->stored_us;
    sbuf_free(&body);
}

static void on_read(void *arg, int status, const struct im_message *v, size_t n, int64_t first_seq,
                    int64_t last_seq);

/* Send the next NOTIFY of s if it may (§9.2): one outstanding at a time, in order. */
void im_pump(struct isub *s)
{
    struct broker *b = s->b;
    if (s->pumping)
        return; /* the im_pump() below us goes on (memory store: callbacks come back at once) */
    s->pumping = 1;
    ref_get(&s->ref); /* a nested callback may remove it: keep the memory until we return */
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
            ref_get(&s->ref);
            s->read_after = s->next_seq - 1;
            store_im_read(b->st, s->topic->uri, s->read_after, READ_BATCH, sip_now_s(), &b->cfg.ret,
                          on_read, s);
            continue;
        }
        s->qhead = e->next;
        if (!s->qhead)
            s->qtail = NULL;
        s->qlen--;
        s->b->queued--;
        struct qmsg *m = e->m;
        free(e);
        if (m->seq <= s->P) {
            qmsg_unref(m);
            continue;
        }
        if (!retained(b, s->topic, m->seq, m->created_at, sip_now_s())) {
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
    ref_put(&s->ref);
}

static void on_read(void *arg, int status, const struct im_message *v, size_t n, int64_t first_seq,
                    int64_t last_seq)
{
    struct isub *s = arg;
    s->busy = 0;
    if (s->dead) {
        ref_put(&s->ref);
        return;
    }
    if (status != 0) {
        LOG_WARN("im topic=%s read failed status=%d", s->topic->uri, status);
        retry_later(s, 1000);
        ref_put(&s->ref);
        return;
    }
    if (s->state != SUB_ACTIVE || s->next_seq - 1 != s->read_after) {
        /* it went waiting, or a refresh with since moved the position while the read was in
         * flight: these messages may not follow what is queued now; read again when active */
        s->behind = 1;
        im_pump(s);
        ref_put(&s->ref);
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
    im_pump(s);
    ref_put(&s->ref);
}

static void on_notify_result(void *arg, struct sip_txn *ct, enum txn_event ev, osip_message_t *resp,
                             const char *raw, size_t raw_len, int code)
{
    struct isub *s = arg;
    if (ev == TXN_RESPONSE && code < 200)
        return;
    enum out_kind kind = s->out_kind;
    int64_t seq = s->out_seq;
    uint64_t stored_us = s->out_stored_us;
    s->out_stored_us = 0;
    s->out = NULL;
    s->out_kind = OUT_NONE;
    struct broker *b = s->b;
    if (kind == OUT_FINAL) {
        im_sub_remove(s, s->final_reason);
        return;
    }
    if (ev == TXN_RESPONSE && code >= 200 && code < 300) {
        if (kind == OUT_MESSAGE) {
            if (stored_us)
                metric_observe(b->notify_latency, (double)(metrics_clock_us() - stored_us) / 1e6);
            if (!s->p_frozen && seq > s->P)
                s->P = seq;
            store_im_position_advance(b->st, s->topic->uri, s->subscriber,
                                      device_of(s->instance, s->contact), seq, NULL, NULL);
        }
        s->p_frozen = 0;
        im_pump(s);
        return;
    }
    s->p_frozen = 0;
    if (ev == TXN_TRANSPORT_ERROR && !s->d.route_set) {
        im_sub_make_waiting(s, "transport-error");
        return;
    }
    if (ev == TXN_RESPONSE && code == 430) {
        im_sub_make_waiting(s, "flow-failed");
        return;
    }
    if (ev == TXN_RESPONSE && code == 503 && resp) {
        const char *ra = sip_header_get(resp, "retry-after", 0);
        long secs = ra ? strtol(ra, NULL, 10) : -1;
        if (secs >= 0 && secs <= s->expires_at - sip_now_s()) {
            /* the same NOTIFY again later (§9.4): a message comes back from the store */
            if (kind == OUT_MESSAGE) {
                im_queue_clear(s);
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
    im_sub_remove(s, why);
}

/* ---- live delivery --------------------------------------------------------------------------- */

/* A message stored in topic uri: every subscription takes it (§9.5). */
void im_fan_out(struct broker *b, const char *uri, const struct im_message *m)
{
    struct btopic *t = im_topic_get(b, uri, 0);
    if (!t)
        return;
    if (m->seq > t->last_seq)
        t->last_seq = m->seq;
    struct qmsg *q = NULL; /* one copy for every queue that takes it */
    uint64_t now_us = metrics_clock_us(); /* stored: the publish-to-NOTIFY latency starts */
    for (struct isub *s = t->subs, *next; s; s = next) {
        next = s->tnext;
        if (s->state != SUB_ACTIVE || s->final_reason)
            continue;
        if (m->seq < s->next_seq)
            continue;
        if (!s->behind && m->seq == s->next_seq && s->qlen < s->b->cfg.max_queue) {
            if (!q && (q = qmsg_new(m)) != NULL)
                q->stored_us = now_us;
            if (!q || queue_push(s, q) < 0)
                s->behind = 1;
        } else {
            s->behind = 1;
        }
        im_pump(s);
    }
    qmsg_unref(q);
}

/* Another process sharing the store stored seq in topic (§15): subscriptions served here read it
 * from the store. topic NULL: announcements may have been lost, look at every topic. */
void im_on_announce(void *arg, const char *topic, int64_t seq)
{
    struct broker *b = arg;
    if (topic)
        im_active_note(b, topic);
    else
        im_active_reset(b);
    if (topic) {
        struct btopic *t = im_topic_get(b, topic, 0);
        if (!t)
            return;
        if (seq > t->last_seq)
            t->last_seq = seq;
        /* im_pump(s) may end s (and free the topic with its last subscription): next is taken
         * first */
        for (struct isub *s = t->subs, *next; s; s = next) {
            next = s->tnext;
            if (s->state == SUB_ACTIVE && seq >= s->next_seq) {
                s->behind = 1;
                im_pump(s);
            }
        }
        return;
    }
    /* every subscription; im_pump(s) ends at most s itself, so a snapshot stays valid */
    size_t n = 0, bk;
    struct isub **v = malloc((b->nsubs ? b->nsubs : 1) * sizeof *v);
    if (!v)
        return;
    for (struct hmap_entry *e = hmap_first(&b->subs, &bk); e && n < b->nsubs; e = hmap_next(&b->subs, e, &bk))
        v[n++] = e->val;
    for (size_t i = 0; i < n; i++) {
        if (v[i]->state == SUB_ACTIVE) {
            v[i]->behind = 1;
            im_pump(v[i]);
        }
    }
    free(v);
}
