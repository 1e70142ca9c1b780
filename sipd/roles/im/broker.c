/* broker.c - the `im` event package's entry: which requests it takes, its Event parameters, and
 * its life cycle (create, the once-a-second tick, shutdown, destroy); see broker.h. The package's
 * files and how they share the work are listed in im_internal.h. */
#include "broker.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../base/metrics.h"
#include "../../transport/transport.h"
#include "im_internal.h"

/* ---- classifying requests -------------------------------------------------------------------- */

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

int broker_wants(const struct sip_req_class *c, int proxying)
{
    switch (c->method) {
    case SIP_M_MESSAGE:
        return !c->has_to_tag;
    case SIP_M_PUBLISH: /* an event state compositor's: never a device's */
        return 1;
    case SIP_M_SUBSCRIBE: /* other packages may be served by the user's devices */
        return sip_event_is(&c->event, "im") || !proxying;
    default:
        return 0;
    }
}

/* ---- life cycle: expiry, shutdown, creation -------------------------------------------------- */

void broker_tick(struct broker *b, int64_t now)
{
    size_t bk;
    struct hmap_entry *e = hmap_first(&b->subs, &bk);
    while (e) {
        struct hmap_entry *next = hmap_next(&b->subs, e, &bk);
        struct isub *s = e->val;
        if (s->expires_at <= now && !s->final_reason)
            im_sub_terminate(s, "timeout"); /* may delete e: next was taken first */
        e = next;
    }
    store_im_expire(b->st, now, &b->cfg.ret, NULL, NULL);
    im_takeover_tick(b);
}

void broker_shutdown(struct broker *b)
{
    b->shutting_down = 1;
    size_t bk;
    struct hmap_entry *e = hmap_first(&b->subs, &bk);
    while (e) {
        struct hmap_entry *next = hmap_next(&b->subs, e, &bk);
        /* told to subscribe again: nobody takes it over, even if its final NOTIFY is never
         * answered before the process ends */
        im_sub_forget_row(e->val);
        im_sub_terminate(e->val, "deactivated");
        e = next;
    }
}

size_t broker_subscriptions(const struct broker *b) { return b->nsubs; }

static void on_conn_closed(void *arg, uint64_t conn_id)
{
    struct broker *b = arg;
    /* im_sub_make_waiting never unlists (the subscription keeps its flow until a refresh), but it
     * may end a terminating one (im_sub_remove unlists it): next is taken first */
    for (struct isub *s = hmap_get(&b->conns, &conn_id, sizeof conn_id), *next; s; s = next) {
        next = s->by_conn.next;
        if (s->state == SUB_ACTIVE)
            im_sub_make_waiting(s, "connection-closed");
    }
}

/* sipd_topics, sipd_subscriptions{package="im"}, sipd_notify_queue_depth: read off the broker. */
static struct metric *topics_gauge, *im_subs_gauge, *queue_gauge;

static void collect_broker(void *arg)
{
    const struct broker *b = arg;
    metric_gauge_add(topics_gauge, (double)b->topics.count);
    metric_gauge_add(im_subs_gauge, (double)b->nsubs);
    metric_gauge_add(queue_gauge, (double)b->queued);
}

static struct metric *computed_gauge(const char *name, const char *help, const char *const *labels,
                                     const char *const *values)
{
    struct metric_family *f = metrics_family(metrics_default(), name, help, METRIC_GAUGE, labels, NULL, 0);
    metric_family_set_computed(f);
    return metric_series(f, values);
}

static void metrics_register(struct broker *b)
{
    static const char *const package[] = {"package", NULL};
    topics_gauge = computed_gauge("sipd_topics", "IM topics with at least one subscription held by "
                                  "this node.", NULL, NULL);
    im_subs_gauge = computed_gauge("sipd_subscriptions", "Event subscriptions held by this node, by "
                                   "event package.", package, (const char *const[]){"im"});
    queue_gauge = computed_gauge("sipd_notify_queue_depth", "Messages waiting in the live NOTIFY "
                                 "queues of this node's im subscriptions.", NULL, NULL);
    b->notify_latency = metrics_histogram(
        metrics_default(), "sipd_publish_notify_latency_seconds",
        "From the store's answer to a message published on this node to the 2xx of a NOTIFY "
        "carrying it from a subscription's live queue, once per subscription.", NULL, 0);
    metrics_collector_add(metrics_default(), collect_broker, b);
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
    im_active_init(b);
    if (im_takeover_init(b) < 0) {
        broker_destroy(b);
        return NULL;
    }
    transport_set_close_cb(tp, on_conn_closed, b);
    store_im_set_listener(st, im_on_announce, b);
    metrics_register(b);
    return b;
}

void broker_destroy(struct broker *b)
{
    if (!b)
        return;
    transport_set_close_cb(b->tp, NULL, NULL); /* the store is not touched: it may be gone */
    metrics_collector_remove(metrics_default(), collect_broker, b);
    b->is_destroying = 1; /* rows stay: another broker may take the subscriptions over */
    size_t bk;
    struct hmap_entry *e = hmap_first(&b->subs, &bk);
    while (e) {
        struct hmap_entry *next = hmap_next(&b->subs, e, &bk);
        struct isub *s = e->val;
        ref_drop_others(&s->ref); /* the store is gone by now: nothing will call back */
        im_sub_remove(s, "shutdown");
        e = next;
    }
    im_pm_destroy_all(b);
    hmap_free(&b->subs);
    hmap_free(&b->dialogs);
    hmap_free(&b->origins);
    hmap_free(&b->devices);
    hmap_free(&b->conns);
    hmap_free(&b->sessions);
    hmap_free(&b->topics);
    im_active_free(b);
    im_takeover_free(b);
    free(b);
}
