/* takeover.c - topic takeover (docs/im-event-package.md, "Topic takeover"): the rows that let
 * another broker go on with this broker's `im` subscriptions, and going on with those of a
 * broker that went down or drains.
 *
 * Rows. A node with a name (a cluster member) keeps one row per subscription in `subscriptions`,
 * written when the subscription changes state (created, refreshed, taken over) and deleted when
 * it ends, never per NOTIFY: how far the device got is its position (im_positions), which every
 * acknowledged NOTIFY advances already (delivery.c).
 *
 * Ownership. A topic belongs to the broker that the balancers' rendezvous hashing picks among the
 * brokers that are up and not draining (cluster/select.h, the same function over this broker's
 * own copy of the node table, re-read whenever the store announces a change of a row). Rows
 * whose owner is NULL or a broker that is not up (status 0, written by the balancers after the
 * missed heartbeats, or not in the table) are orphans; each broker claims the orphans of the
 * topics that are now its own (one UPDATE: two brokers never take the same row), rebuilds their
 * subscriptions and goes on in the same dialogs from each device's position: the NOTIFY that was
 * outstanding when its broker died comes again (the one duplicate a device may see), and no
 * message is skipped.
 *
 * Hand-off. A broker that is up but owns no topic (draining, standby) forgets its subscriptions
 * and only then lets go of their rows (owner NULL, announced on the nodes channel), so that no
 * two brokers ever send NOTIFYs in one dialog. A broker held down by the balancers while it runs
 * forgets its subscriptions too (the others claim them at once: they believe it dead).
 *
 * A restarted broker first adopts the rows it owned in its previous life (the balancers route
 * their refreshes to it again: it is at the dialogs' remote target).
 *
 * A refresh may reach the new owner before it took the dialog over (the balancer found the old
 * broker down before the new owner heard of it): an in-dialog `im` SUBSCRIBE of a dialog this
 * broker does not know waits (at most TAKEOVER_PARK_MS, at most TAKEOVER_PARK_MAX of them) while
 * the table is read again and orphans are claimed, and is answered as usual once the dialog is
 * here, 481 if it never comes.
 *
 * The table is read again at every change the store announces, and every TAKEOVER_SWEEP_S
 * seconds in case an announcement or a claim was lost (the store away). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/log.h"
#include "../../cluster/select.h"
#include "../../sip/txn.h"
#include "../../transport/addr.h"
#include "im_internal.h"

#define TAKEOVER_SWEEP_S 10     /* the table and the orphans looked at again, at the latest */
#define TAKEOVER_PARK_MAX 64    /* in-dialog SUBSCRIBEs waiting for a takeover */
#define TAKEOVER_PARK_MS 2000   /* ... each at most this long */
#define TAKEOVER_RESCAN_MS 250  /* the table read again this often while one waits */

/* How far ahead of the written CSeq a broker taking over a dialog starts its NOTIFYs. The dead
 * broker may have sent NOTIFYs after the row was last written, and nothing tells how many: one
 * per message acknowledged since then (device position - position written, each NOTIFY waits
 * for the answer to the one before), plus body-less ones and retries after 503, which are few
 * per refresh interval. A jump of that count plus this margin keeps the CSeq increasing in the
 * dialog (RFC 3261 §12.2.1.1) while staying far from 2^31. */
#define TAKEOVER_CSEQ_MARGIN 65536u
#define CSEQ_LIMIT 0x7fffffffu /* RFC 3261 §8.1.1.5: less than 2^31 */

uint32_t broker_takeover_cseq(uint32_t written, int64_t acked_written, int64_t device_pos)
{
    uint64_t next = (uint64_t)written + TAKEOVER_CSEQ_MARGIN;
    if (device_pos > acked_written)
        next += (uint64_t)(device_pos - acked_written);
    return next > CSEQ_LIMIT ? CSEQ_LIMIT : (uint32_t)next;
}

int broker_topic_is_mine(const struct cnode *v, size_t n, const char *self, const char *topic)
{
    size_t idx;
    return cnode_select(v, n, CNODE_BROKER, topic, &idx, 1) == 1 && strcmp(v[idx].name, self) == 0;
}

struct im_takeover {
    char self[64];
    struct cnode nodes[CNODE_MAX];
    size_t n;
    int is_loaded;
    int loading, load_again;  /* a read of the table in flight / wanted again after it */
    int scanning, scan_again; /* orphans and claim in flight / wanted again after them */
    int is_first_scan;        /* our own rows of a previous life (a restart) to adopt first */
    int is_released;          /* not a live broker: subscriptions forgotten, rows let go */
    int64_t next_sweep_s;
    char up[CNODE_MAX][64];   /* the brokers that are up (their rows are not orphans) */
    const char *up_v[CNODE_MAX];
    size_t nup;
    struct parked {
        struct sip_txn *t;
        uint64_t deadline_ms;
    } parked[TAKEOVER_PARK_MAX]; /* in-dialog SUBSCRIBEs of dialogs not (yet) here */
    size_t nparked;
    struct timer park_timer;
    int is_park_timer_on;
};

/* ---- rows ------------------------------------------------------------------------------------ */

static void row_of(const struct isub *s, struct im_sub_row *r)
{
    const struct sub_dialog *d = &s->d;
    *r = (struct im_sub_row){
        .topic = s->topic->uri,
        .call_id = d->call_id,
        .remote_tag = d->remote_tag,
        .local_tag = d->local_tag,
        .event_id = d->event_id ? d->event_id : "",
        .subscriber = s->subscriber,
        .instance = s->instance,
        .contact = s->contact,
        .remote_target = d->remote_target,
        .remote_uri = d->remote_uri,
        .local_uri = d->local_uri,
        .route_set = d->route_set,
        .local_cseq = d->local_cseq,
        .remote_cseq = d->remote_cseq,
        .expires_at = s->expires_at,
        .acked_seq = s->P,
        .node = s->b->takeover ? s->b->takeover->self : NULL,
        .is_group = s->is_group,
        .is_datagram = d->is_datagram,
        .device_pos = -1,
    };
}

void im_sub_save(struct isub *s)
{
    if (!s->b->takeover || s->dead)
        return;
    struct im_sub_row r;
    row_of(s, &r);
    store_im_sub_put(s->b->st, &r, NULL, NULL);
    s->has_row = 1;
}

void im_sub_forget_row(struct isub *s)
{
    if (!s->b->takeover || !s->has_row)
        return;
    struct im_sub_row r;
    row_of(s, &r);
    store_im_sub_delete(s->b->st, &r, NULL, NULL);
    s->has_row = 0;
}

/* ---- the node table copy --------------------------------------------------------------------- */

static void node_of_row(struct cnode *c, const struct node_row *r)
{
    memset(c, 0, sizeof *c);
    c->nid = r->nid;
    snprintf(c->name, sizeof c->name, "%s", r->name ? r->name : "");
    snprintf(c->address, sizeof c->address, "%s", r->address ? r->address : "");
    c->roles = cnode_roles_parse(r->roles);
    c->waiting = r->waiting != 0;
    c->draining = r->draining != 0;
    c->max_num = r->max_num;
    c->status = r->status;
    c->up = r->status == 1; /* what the balancers wrote of their heartbeats */
    c->work_num = r->work_num;
    struct sip_endpoint ep;
    c->dst.udp_fd = -1;
    if (sip_endpoint_parse(c->address, &ep) == 0) {
        c->dst.proto = ep.proto;
        c->dst.peer = ep.addr;
        c->dst.peerlen = ep.addrlen;
    }
}

/* The brokers that are up into t->up (the owners whose rows are not orphans). Returns whether
 * this broker is a live one (up, not draining, not standby: one that owns topics). */
static int collect_up(struct im_takeover *t)
{
    int is_live = 0;
    t->nup = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct cnode *c = &t->nodes[i];
        if (!(c->roles & CNODE_BROKER) || !c->up)
            continue;
        if (strcmp(c->name, t->self) == 0)
            is_live = cnode_eligible(c, CNODE_BROKER, 1);
        snprintf(t->up[t->nup], sizeof t->up[0], "%s", c->name);
        t->up_v[t->nup] = t->up[t->nup];
        t->nup++;
    }
    return is_live;
}

/* ---- handing off, claiming ------------------------------------------------------------------- */

/* This broker owns no topic now: its subscriptions are forgotten, then their rows let go (owner
 * NULL) for their new owners to claim. Once per spell of not being live. */
static void hand_off(struct broker *b)
{
    struct im_takeover *t = b->takeover;
    if (t->is_released)
        return;
    t->is_released = 1;
    if (b->nsubs)
        LOG_INFO("im takeover: node %s owns no topic; handing off %zu subscriptions", t->self,
                 b->nsubs);
    size_t bk;
    struct hmap_entry *e = hmap_first(&b->subs, &bk);
    while (e) {
        struct hmap_entry *next = hmap_next(&b->subs, e, &bk);
        struct isub *s = e->val;
        s->keep_row = 1;
        im_sub_remove(s, "handed-off"); /* deletes e only: next was taken first */
        e = next;
    }
    store_im_sub_release(b->st, t->self, NULL, NULL);
}

static void scan(struct broker *b);

static void scan_done(struct broker *b, int ok)
{
    struct im_takeover *t = b->takeover;
    t->scanning = 0;
    if (!ok)
        t->next_sweep_s = sip_now_s() + 1; /* retried from the tick */
    if (t->scan_again && ok) {
        t->scan_again = 0;
        scan(b);
    }
}

static void look_for_orphans(struct broker *b);
static void parked_check(struct broker *b);

static void on_claimed(void *arg, int status, const struct im_sub_row *v, size_t n)
{
    struct broker *b = arg;
    if (status != 0) {
        LOG_WARN("im takeover: claiming subscriptions failed status=%d", status);
        scan_done(b, 0);
        return;
    }
    struct isub **taken = malloc((n ? n : 1) * sizeof *taken);
    size_t k = 0;
    for (size_t i = 0; i < n && taken; i++) {
        const struct im_sub_row *r = &v[i];
        int64_t pos = r->device_pos > r->acked_seq ? r->device_pos : r->acked_seq;
        uint32_t cseq = broker_takeover_cseq(r->local_cseq, r->acked_seq, r->device_pos);
        struct isub *s = b->shutting_down ? NULL : im_sub_restore(b, r, pos, cseq);
        if (!s)
            continue;
        LOG_INFO("im takeover: topic=%s subscriber=%s call-id=%s from position=%" PRId64
                 " cseq=%" PRIu32 "%s",
                 r->topic, r->subscriber, r->call_id, pos, cseq,
                 b->takeover->is_first_scan ? " (own row of a previous run)" : "");
        im_sub_save(s); /* the new owner and CSeq: a later takeover jumps from there */
        ref_get(&s->ref);
        taken[k++] = s;
    }
    for (size_t i = 0; i < k; i++) {
        im_pump(taken[i]);
        ref_put(&taken[i]->ref);
    }
    free(taken);
    parked_check(b);
    if (b->takeover->is_first_scan) {
        b->takeover->is_first_scan = 0;
        look_for_orphans(b);
        return;
    }
    scan_done(b, 1);
}

static void on_orphans(void *arg, int status, const char *const *topics, size_t n)
{
    struct broker *b = arg;
    struct im_takeover *t = b->takeover;
    if (status != 0) {
        LOG_WARN("im takeover: looking for orphaned subscriptions failed status=%d", status);
        scan_done(b, 0);
        return;
    }
    /* the table may have changed since the query left: decide on the copy as it is now */
    if (!collect_up(t)) {
        scan_done(b, 1);
        return;
    }
    const char **mine = malloc((n ? n : 1) * sizeof *mine);
    size_t k = 0;
    for (size_t i = 0; i < n && mine; i++)
        if (broker_topic_is_mine(t->nodes, t->n, t->self, topics[i]))
            mine[k++] = topics[i];
    if (!mine || k == 0) {
        int ok = mine != NULL; /* out of memory: tried again from the tick */
        free(mine);
        scan_done(b, ok);
        return;
    }
    LOG_INFO("im takeover: claiming the subscriptions of %zu topics", k);
    store_im_sub_claim(b->st, t->self, mine, k, t->up_v, t->nup, on_claimed, b);
    free(mine);
}

static void look_for_orphans(struct broker *b)
{
    struct im_takeover *t = b->takeover;
    store_im_sub_orphans(b->st, t->up_v, t->nup, on_orphans, b);
}

/* Hand off, or adopt our own rows (once) and look for orphans, on the table as it is. */
static void scan(struct broker *b)
{
    struct im_takeover *t = b->takeover;
    if (!t->is_loaded || b->shutting_down)
        return;
    if (t->scanning) {
        t->scan_again = 1;
        return;
    }
    if (!collect_up(t)) {
        hand_off(b);
        return;
    }
    t->is_released = 0;
    t->scanning = 1;
    if (t->is_first_scan)
        store_im_sub_claim(b->st, t->self, NULL, 0, NULL, 0, on_claimed, b);
    else
        look_for_orphans(b);
}

static void load_nodes(struct broker *b);

static void on_nodes(void *arg, int status, const struct node_row *v, size_t n)
{
    struct broker *b = arg;
    struct im_takeover *t = b->takeover;
    t->loading = 0;
    if (status != 0) {
        t->next_sweep_s = sip_now_s() + 1;
        return;
    }
    t->n = 0;
    for (size_t i = 0; i < n && t->n < CNODE_MAX; i++)
        if (v[i].name)
            node_of_row(&t->nodes[t->n++], &v[i]);
    t->is_loaded = 1;
    if (t->load_again) {
        t->load_again = 0;
        load_nodes(b);
        return;
    }
    scan(b);
}

static void load_nodes(struct broker *b)
{
    struct im_takeover *t = b->takeover;
    if (t->loading) {
        t->load_again = 1;
        return;
    }
    t->loading = 1;
    t->next_sweep_s = sip_now_s() + TAKEOVER_SWEEP_S;
    store_nodes_load(b->st, on_nodes, b);
}

/* ---- in-dialog SUBSCRIBEs waiting for a takeover --------------------------------------------- */

static int dialog_is_here(struct broker *b, struct sip_txn *t)
{
    char dkey[512];
    return sub_dialog_key_of_request(txn_request(t), dkey, sizeof dkey) == 0 &&
           hmap_get(&b->dialogs, dkey, strlen(dkey)) != NULL;
}

static void park_timer_fired(struct timer *tm, void *arg);

/* Answer the parked requests whose dialog came, or whose time is up; keep the others. */
static void parked_check(struct broker *b)
{
    struct im_takeover *t = b->takeover;
    uint64_t now = loop_now_ms(b->loop);
    size_t k = 0, n = t->nparked;
    struct parked v[TAKEOVER_PARK_MAX];
    memcpy(v, t->parked, n * sizeof v[0]);
    t->nparked = 0; /* what broker_handle_in_dialog parks again (nothing: the dialog is here) */
    for (size_t i = 0; i < n; i++) {
        if (dialog_is_here(b, v[i].t)) {
            struct sip_event ev;
            sip_event_of(txn_request(v[i].t), &ev);
            broker_handle_in_dialog(b, v[i].t, &ev);
        } else if (now >= v[i].deadline_ms || b->shutting_down) {
            txn_respond_simple(v[i].t, 481, "Subscription does not exist", NULL, NULL);
        } else {
            v[k++] = v[i];
        }
    }
    for (size_t i = 0; i < k; i++) {
        if (t->nparked < TAKEOVER_PARK_MAX)
            t->parked[t->nparked++] = v[i];
        else
            txn_respond_simple(v[i].t, 481, "Subscription does not exist", NULL, NULL);
    }
    if (t->nparked && !t->is_park_timer_on) {
        t->is_park_timer_on = 1;
        loop_timer_start(b->loop, &t->park_timer, TAKEOVER_RESCAN_MS, park_timer_fired, b);
    }
}

static void park_timer_fired(struct timer *tm, void *arg)
{
    (void)tm;
    struct broker *b = arg;
    b->takeover->is_park_timer_on = 0;
    parked_check(b);
    if (b->takeover->nparked)
        load_nodes(b); /* the balancers may have written the old owner down by now */
}

int im_takeover_park(struct broker *b, struct sip_txn *t)
{
    struct im_takeover *tk = b->takeover;
    if (!tk || b->shutting_down || tk->nparked == TAKEOVER_PARK_MAX)
        return 0;
    tk->parked[tk->nparked++] =
        (struct parked){.t = t, .deadline_ms = loop_now_ms(b->loop) + TAKEOVER_PARK_MS};
    if (!tk->is_park_timer_on) {
        tk->is_park_timer_on = 1;
        loop_timer_start(b->loop, &tk->park_timer, TAKEOVER_RESCAN_MS, park_timer_fired, b);
    }
    load_nodes(b);
    return 1;
}

/* ---- entry points ---------------------------------------------------------------------------- */

void broker_nodes_changed(struct broker *b, int nid)
{
    (void)nid;
    if (b && b->takeover && !b->is_destroying)
        load_nodes(b);
}

void im_takeover_tick(struct broker *b)
{
    struct im_takeover *t = b->takeover;
    if (t && !b->shutting_down && sip_now_s() >= t->next_sweep_s)
        load_nodes(b);
}

int im_takeover_init(struct broker *b)
{
    const char *self = b->cfg.node_name;
    if (!self || !*self)
        return 0;
    struct im_takeover *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->self, sizeof t->self, "%s", self);
    t->is_first_scan = 1;
    b->takeover = t; /* the first read of the table comes from the first tick */
    return 0;
}

void im_takeover_free(struct broker *b)
{
    if (b->takeover)
        loop_timer_stop(b->loop, &b->takeover->park_timer); /* the parked go with the txn layer */
    free(b->takeover);
    b->takeover = NULL;
}
