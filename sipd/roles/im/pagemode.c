/* pagemode.c - page-mode delivery (§11): a registered device that holds no `im` subscription to
 * a topic gets its messages as MESSAGE requests (RFC 3428), one outstanding at a time, in order,
 * from the device's stored position.
 *
 * One session per (topic, AOR, device) reads from the store after the position, sends, and
 * advances the position on each answer; it ends when caught up, when the device subscribes, or
 * when the device cannot be reached (a newer binding of the same device gets the failed message
 * again). Sessions start when a message is published (publish.c) and after a REGISTER, for the
 * AOR's own topic and its group topics (§11.4) -- unless this node knows, without a query, that
 * there is nothing to replay:
 *
 * The node keeps two sets (active.c): the topics that ever stored a message (active topics), and
 * the members of every group topic. They start from a snapshot of the store (two queries,
 * store_im_active_topics / store_im_group_members) taken once the store's listener hears every
 * message stored from then on (store_im_is_listening: memory always; postgres once
 * `LISTEN sipd_im` is in effect), and grow with every message stored after it -- an own publish,
 * or the store's announcement of one stored by any node (im_active_note; a topic new to the set
 * has its members read, once) -- and with every group this node makes (broker_group_created). A
 * message thus reaches the sets either through the snapshot (stored before it) or through an
 * announcement (stored after LISTEN took effect). The sets only grow: retention deletes messages
 * but a topic stays active, and a group's members are fixed when it is made. When announcements
 * may have been missed -- the store says so (topic NULL), or the listener is not in effect at a
 * REGISTER -- the sets are dropped and the snapshot taken again.
 *
 * The rule at REGISTER of AOR A (user topic T): while the sets are complete (snapshot in, no
 * member read outstanding), the user-topic replay is skipped when T is not active (nothing stored
 * that a device of A could be owed: its position, created at the first publish instead, starts
 * at 0 as it would now), and the group replay (groups_of ...) when A is no member of any group
 * (a member's position in a group starts at the group's present, so it is made at REGISTER as
 * before). Otherwise the checks run as before. Known difference: a second device of A that
 * registers while T is empty, unregisters, and comes back after a message that a sibling
 * acknowledged starts at the sibling's position (as a new device does), where it used to get it;
 * and a group made by another node after this node's snapshot is learnt at its first message.
 *
 * One gap is closed by hand: an announcement can arrive a moment after a REGISTER that it should
 * have changed (a message stored through another node just before the REGISTER, whose publisher
 * looked up A's bindings before they existed). On postgres a skipped REGISTER is remembered in a
 * small cache by AOR; when T becomes active, or A is read as a member of a group, within
 * RECENT_ANNOUNCE_S of it, or the sets are dropped within RECENT_RESET_S, the AOR gets its full
 * replay after all (its bindings looked up again). The memory store needs none of it: there a
 * publish is noted before its REGISTER-time counterpart could run. The window is short because a
 * replay on this node races the publisher's own page-mode delivery, as any REGISTER did before. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../../base/log.h"
#include "../../base/sbuf.h"
#include "../../sip/cpim.h"
#include "../../sip/msg.h"
#include "../../sip/txn.h"
#include "../../sip/uac.h"
#include "../../transport/transport.h"
#include "im_internal.h"

#define PM_READ_BATCH 16

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
    struct ref ref; /* b->sessions' (until pm_end) + one per store operation in flight */
    int dead;       /* ended: callbacks still holding it do nothing */
};

/* ---- page mode (§11) ------------------------------------------------------------------------- */

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
    ref_put(&p->ref); /* b->sessions' */
}

static void pm_destroy(struct ref *r) { pm_free(ref_owner(r, struct pm_session, ref)); }

/* Does a device hold an `im` subscription (active or waiting) to topic? */
static int device_subscribed(struct broker *b, const char *topic, const char *instance,
                             const char *contact)
{
    struct isub *v[DEVICE_SUBS_MAX];
    size_t n = im_device_subs(b, topic, instance, contact, v);
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
            dst.proto = ep.proto; /* TCP or TLS: the connection's */
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
    sip_http_date(m->created_at, date, sizeof date);
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
        ref_put(&p->ref);
        return;
    }
    if (status != 0) {
        pm_end(p, "store-error");
        ref_put(&p->ref);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        p->cursor = v[i].seq;
        if (v[i].is_copy || strcmp(v[i].sender, p->aor) == 0)
            continue;
        pm_send(p, &v[i]);
        ref_put(&p->ref);
        return;
    }
    if (n == PM_READ_BATCH || p->more) {
        p->more = 0;
        pm_step(p);
    } else {
        pm_end(p, "caught-up");
    }
    ref_put(&p->ref);
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
    ref_get(&p->ref);
    store_im_read(p->b->st, p->topic, p->cursor, PM_READ_BATCH, sip_now_s(), &p->b->cfg.ret, on_pm_read, p);
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
    ref_put(&p->ref);
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
void im_pm_start(struct broker *b, const char *topic, int is_group, const char *aor,
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
    ref_init(&p->ref, pm_destroy); /* b->sessions' once listed; pm_free() until then */
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
    ref_get(&p->ref);
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

int im_device_seen_before(struct broker *b, const struct binding *v, size_t n, size_t i)
{
    for (size_t k = 0; k < n; k++)
        if (k != i && strcmp(v[k].aor, v[i].aor) == 0 &&
            im_same_device(v[k].instance, v[k].contact, v[i].instance, v[i].contact) &&
            (better_binding(b, &v[k], &v[i]) || (k < i && !better_binding(b, &v[i], &v[k]))))
            return 1;
    return 0;
}

int im_is_pm_target(struct broker *b, const char *topic, const char *sender,
                    const struct binding *bd)
{
    if (sender && strcmp(bd->aor, sender) == 0)
        return 0;
    return !device_subscribed(b, topic, bd->instance, bd->contact);
}

/* ---- replay after REGISTER (§11.4) ----------------------------------------------------------- */

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
        if (!im_device_seen_before(r->b, r->bindings.v, r->bindings.len, i) &&
            im_is_pm_target(r->b, r->group, NULL, &r->bindings.v[i]))
            im_pm_start(r->b, r->group, 1, r->aor, &r->bindings.v[i], info->last_seq);
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
        store_im_topic(r->b->st, one->group, NULL, sip_now_s(), &r->b->cfg.ret, on_reg_group, one);
    }
    binding_list_free(&r->bindings);
    free(r);
}

/* Today's replay of one AOR's devices: its user topic, and (one groups_of, then per group) its
 * group topics. */
static void replay_user_topic(struct broker *b, const char *topic, const struct binding *v,
                              size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!im_device_seen_before(b, v, n, i) && im_is_pm_target(b, topic, NULL, &v[i]))
            im_pm_start(b, topic, 0, topic, &v[i], 0);
}

static void replay_groups(struct broker *b, const char *topic, const struct binding *v, size_t n)
{
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

void im_replay_registered(struct broker *b, const char *topic, const struct binding *v, size_t n)
{
    replay_user_topic(b, topic, v, n);
    replay_groups(b, topic, v, n);
}

void broker_registered(struct broker *b, const char *aor, const struct binding *v, size_t n)
{
    char topic[AOR_MAX];
    /* the registrar's AOR keeps the scheme as written; topics are sip: (§2.1) */
    int is_sips = strncasecmp(aor, "sips:", 5) == 0;
    const char *parts[] = {is_sips ? "sip:" : "", is_sips ? aor + 5 : aor};
    if (str_join(topic, sizeof topic, parts, 2) < 0)
        return; /* longer than any topic: no store holds one */
    int skip_user, skip_groups;
    im_active_may_skip(b, topic, &skip_user, &skip_groups);
    if (!skip_user)
        replay_user_topic(b, topic, v, n);
    if (!skip_groups)
        replay_groups(b, topic, v, n);
}

void im_pm_destroy_all(struct broker *b)
{
    size_t bk;
    struct hmap_entry *e = hmap_first(&b->sessions, &bk);
    while (e) {
        struct hmap_entry *next = hmap_next(&b->sessions, e, &bk);
        struct pm_session *p = e->val;
        ref_drop_others(&p->ref); /* the store is gone: nothing will call back */
        pm_end(p, "shutdown");
        e = next;
    }
}
