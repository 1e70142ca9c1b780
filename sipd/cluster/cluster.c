/* cluster.c - the node table copy, heartbeats and promotion; see cluster.h. */
#include "cluster.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../base/events.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../base/metrics.h"
#include "../sip/msg.h"
#include "../store/store.h"
#include "../transport/addr.h"
#include "../transport/transport.h"
#include "self.h"

#define BEATS_MAX 4096        /* heartbeat results kept while the store is away */
#define HB_BRANCH "z9hG4bKhb." /* probe branches: z9hG4bKhb.<nid>.<round> */

/* A node's state as docs/api.md names it (the sipd_nodes gauge, the `node` events). */
enum cnode_state { S_DOWN, S_STANDBY, S_DRAINING, S_DRAINED, S_ACTIVE, NSTATES };
static const char *const state_names[NSTATES] = {"down", "standby", "draining", "drained", "active"};

static enum cnode_state state_of(const struct cnode *c)
{
    if (!c->up)
        return S_DOWN;
    if (c->waiting)
        return S_STANDBY;
    if (c->draining)
        return c->work_num == 0 || strcmp(c->state, "drained") == 0 ? S_DRAINED : S_DRAINING;
    return S_ACTIVE;
}

struct cluster {
    struct loop *loop;
    struct transport *tp;
    struct store *store;
    struct cluster_config cfg;
    char self_name[64];
    struct cnode nodes[CNODE_MAX];
    size_t n;
    /* per node, by index: the round of the outstanding probe (0 = none) and when it left
     * (monotonic microseconds: round trips on a LAN are well under a millisecond) */
    uint64_t probe_round[CNODE_MAX];
    uint64_t probe_sent_us[CNODE_MAX];
    uint64_t round;
    struct timer hb_timer;
    int loading, load_again, loaded;
    uint64_t load_id;         /* reads of the table sent so far (the one in flight is the last) */
    struct node_beat beats[BEATS_MAX];
    size_t nbeats, beats_inflight;
    int promoting;            /* nid of a promotion in flight, 0 = none */
    char tag[16];
    struct metric_family *rtt_family; /* sipd_heartbeat_rtt_seconds{node} */
    struct metric *nodes_by_state[NSTATES]; /* sipd_nodes{state} (computed) */
};

static int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct cnode *by_nid(struct cluster *cl, int nid, size_t *idx)
{
    for (size_t i = 0; i < cl->n; i++)
        if (cl->nodes[i].nid == nid) {
            if (idx)
                *idx = i;
            return &cl->nodes[i];
        }
    return NULL;
}

/* ---- the table copy --------------------------------------------------------------------------- */

static void parse_address(struct cnode *c)
{
    struct sip_endpoint ep;
    memset(&c->dst, 0, sizeof c->dst);
    c->dst.udp_fd = -1;
    if (sip_endpoint_parse(c->address, &ep) < 0) {
        LOG_WARN("node %s: address '%s' is not PROTO:HOST:PORT; it gets no work", c->name, c->address);
        return;
    }
    c->dst.proto = ep.proto;
    c->dst.peer = ep.addr;
    c->dst.peerlen = ep.addrlen;
}

static void load_nodes(struct cluster *cl);

static void nodes_loaded(void *arg, int status, const struct node_row *v, size_t n)
{
    struct cluster *cl = arg;
    cl->loading = 0;
    if (status != 0) {
        LOG_DEBUG("node table not read status=%d: routing on the last copy", status);
        cl->load_again = 1; /* retried on the next heartbeat round */
        return;
    }
    struct cnode next[CNODE_MAX];
    uint64_t pr[CNODE_MAX], ps[CNODE_MAX];
    int was[CNODE_MAX]; /* the state before this read (-1: a new node), for the `node` events */
    size_t k = 0;
    for (size_t i = 0; i < n && k < CNODE_MAX; i++) {
        const struct node_row *r = &v[i];
        if (!r->name || (cl->self_name[0] && strcmp(r->name, cl->self_name) == 0))
            continue;
        size_t old_i = 0;
        struct cnode *old = by_nid(cl, r->nid, &old_i);
        struct cnode *c = &next[k];
        if (old) {
            *c = *old;
            pr[k] = cl->probe_round[old_i];
            ps[k] = cl->probe_sent_us[old_i];
            was[k] = (int)state_of(old);
        } else {
            memset(c, 0, sizeof *c);
            c->up = r->status == 1; /* trusted until the heartbeats say otherwise */
            c->work_num = r->work_num;
            c->rtt_ms = -1;
            pr[k] = ps[k] = 0;
            was[k] = -1;
            LOG_INFO("node %s (%s, %s) joins the table status=%d%s%s", r->name, r->address,
                     r->roles ? r->roles : "", r->status, r->waiting ? " standby" : "",
                     r->draining ? " draining" : "");
        }
        c->nid = r->nid;
        snprintf(c->name, sizeof c->name, "%s", r->name);
        int moved = strcmp(c->address, r->address ? r->address : "") != 0;
        snprintf(c->address, sizeof c->address, "%s", r->address ? r->address : "");
        if (moved || !old)
            parse_address(c);
        c->roles = cnode_roles_parse(r->roles);
        if (old && old->draining != (r->draining != 0))
            LOG_INFO("node %s %s", c->name, r->draining ? "is draining" : "is no longer draining");
        if (old && old->waiting != (r->waiting != 0) &&
            !(old->promoted_until && cl->load_id < old->promoted_until && r->waiting))
            LOG_INFO("node %s %s", c->name, r->waiting ? "is standby" : "is active");
        int waiting = r->waiting != 0;
        if (old && old->promoted_until) {
            if (cl->load_id < old->promoted_until && waiting)
                waiting = 0; /* read before our promotion committed: stale on this */
            else if (cl->load_id >= old->promoted_until)
                c->promoted_until = 0;
        }
        c->waiting = waiting;
        c->draining = r->draining != 0;
        c->max_num = r->max_num;
        c->status = r->status;
        k++;
    }
    for (size_t i = 0; i < cl->n; i++) {
        int kept = 0;
        for (size_t j = 0; j < k && !kept; j++)
            kept = next[j].nid == cl->nodes[i].nid;
        if (!kept) {
            LOG_INFO("node %s left the table", cl->nodes[i].name);
            events_node(cl->nodes[i].name, "removed");
        }
    }
    memcpy(cl->nodes, next, k * sizeof next[0]);
    memcpy(cl->probe_round, pr, k * sizeof pr[0]);
    memcpy(cl->probe_sent_us, ps, k * sizeof ps[0]);
    cl->n = k;
    for (size_t i = 0; i < k && events_wanted(); i++) {
        enum cnode_state now = state_of(&next[i]);
        if (was[i] < 0)
            events_node(next[i].name, "added");
        if (was[i] != (int)now)
            events_node(next[i].name, state_names[now]);
    }
    cl->loaded = 1;
    if (cl->load_again) {
        cl->load_again = 0;
        load_nodes(cl);
    }
}

static void load_nodes(struct cluster *cl)
{
    if (cl->loading) {
        cl->load_again = 1;
        return;
    }
    cl->loading = 1;
    cl->load_again = 0;
    cl->load_id++;
    store_nodes_load(cl->store, nodes_loaded, cl);
}

void cluster_nodes_changed(struct cluster *cl, int nid)
{
    (void)nid; /* the table is small: read it whole */
    load_nodes(cl);
}

/* ---- heartbeats ------------------------------------------------------------------------------- */

static void beat(struct cluster *cl, const struct cnode *c, int ok)
{
    if (cl->nbeats == BEATS_MAX) {
        /* the store has been away a long time: the oldest results not in flight go */
        size_t keep_from = cl->beats_inflight + 1;
        if (keep_from >= BEATS_MAX)
            return;
        memmove(&cl->beats[cl->beats_inflight], &cl->beats[keep_from],
                (BEATS_MAX - keep_from) * sizeof cl->beats[0]);
        cl->nbeats--;
    }
    cl->beats[cl->nbeats++] = (struct node_beat){
        .nid = c->nid,
        .ok = ok,
        .status = ok ? 1 : c->up ? -1 : 0,
        .work_num = c->work_num,
        .rtt_ms = ok ? c->rtt_ms : -1,
        .at_ms = unix_ms(),
    };
    const struct node_beat *b = &cl->beats[cl->nbeats - 1];
    events_heartbeat(c->name, ok, b->rtt_ms, b->work_num, b->at_ms);
}

static void beats_written(void *arg, int status)
{
    struct cluster *cl = arg;
    size_t done = cl->beats_inflight;
    cl->beats_inflight = 0;
    if (status != 0) {
        LOG_DEBUG("heartbeat results not written status=%d: kept for the next round", status);
        return;
    }
    memmove(cl->beats, cl->beats + done, (cl->nbeats - done) * sizeof cl->beats[0]);
    cl->nbeats -= done;
}

static void flush_beats(struct cluster *cl)
{
    if (cl->beats_inflight || !cl->nbeats || !store_is_available(cl->store))
        return;
    cl->beats_inflight = cl->nbeats;
    store_node_beats(cl->store, cl->beats, cl->nbeats, beats_written, cl);
}

static void send_probe(struct cluster *cl, size_t i)
{
    struct cnode *c = &cl->nodes[i];
    if (!c->dst.peerlen)
        return;
    const struct sip_endpoint *ep = transport_listener(cl->tp, c->dst.proto, &c->dst.peer);
    if (!ep)
        ep = transport_listener(cl->tp, c->dst.proto, NULL);
    if (!ep)
        return; /* no listener of that transport: the node never answers, and goes down */
    char me[SOCKADDR_STRLEN], peer[SOCKADDR_STRLEN], buf[1024];
    sockaddr_str(&ep->addr, me, sizeof me);
    sockaddr_str(&c->dst.peer, peer, sizeof peer);
    const char *tr = sip_proto_uri_param(c->dst.proto);
    int n = snprintf(buf, sizeof buf,
                     "OPTIONS sip:%s%s SIP/2.0\r\n"
                     "Via: SIP/2.0/%s %s;branch=" HB_BRANCH "%d.%" PRIu64 ";rport\r\n"
                     "Max-Forwards: 1\r\n"
                     "From: <sip:%s@%s>;tag=%s\r\n"
                     "To: <sip:%s%s>\r\n"
                     "Call-ID: hb-%s-%d@%s\r\n"
                     "CSeq: %" PRIu64 " OPTIONS\r\n"
                     "User-Agent: sipd heartbeat\r\n"
                     "Content-Length: 0\r\n\r\n",
                     peer, tr, sip_proto_via_name(c->dst.proto), me, c->nid, cl->round,
                     cl->self_name[0] ? cl->self_name : "balancer", me, cl->tag, peer, tr, cl->tag,
                     c->nid, me, cl->round % 2147483647u + 1);
    if (n <= 0 || (size_t)n >= sizeof buf)
        return;
    cl->probe_round[i] = cl->round;
    cl->probe_sent_us[i] = metrics_clock_us();
    transport_send(cl->tp, &c->dst, buf, (size_t)n);
}

static void promoted(void *arg, int status)
{
    struct cluster *cl = arg;
    struct cnode *c = by_nid(cl, cl->promoting, NULL);
    if (c && status == 0) {
        LOG_INFO("standby node %s promoted", c->name);
        events_node(c->name, "promoted");
    }
    if (c)
        c->promoted_until = cl->load_id + 1; /* reads begun from now on see the promotion */
    cl->promoting = 0;
    load_nodes(cl); /* the table says what happened (another balancer may have promoted) */
}

static void check_promotion(struct cluster *cl)
{
    static const unsigned roles[] = {CNODE_REGISTRAR, CNODE_PROXY, CNODE_BROKER};
    if (cl->promoting)
        return;
    for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++) {
        int i = cnode_promote_candidate(cl->nodes, cl->n, roles[r], cl->cfg.promote_permille);
        if (i < 0)
            continue;
        struct cnode *c = &cl->nodes[i];
        LOG_INFO("promoting standby node %s: no active node of its role has room", c->name);
        c->waiting = 0; /* at once here; the table follows (or is re-read) */
        c->promoted_until = UINT64_MAX; /* until the promotion's answer */
        cl->promoting = c->nid;
        store_node_promote(cl->store, c->nid, promoted, cl);
        return;
    }
}

static void hb_round(struct timer *t, void *arg)
{
    struct cluster *cl = arg;
    (void)t;
    if (cl->load_again && !cl->loading)
        load_nodes(cl);
    for (size_t i = 0; i < cl->n; i++) {
        struct cnode *c = &cl->nodes[i];
        if (cl->probe_round[i]) { /* the last probe went unanswered */
            c->misses++;
            if (c->up && c->misses >= (int)cl->cfg.heartbeat_misses) {
                c->up = 0;
                LOG_WARN("node %s (%s) is down: %d heartbeats unanswered", c->name, c->address,
                         c->misses);
                events_node(c->name, "down");
            }
            beat(cl, c, 0);
        }
    }
    cl->round++;
    for (size_t i = 0; i < cl->n; i++)
        send_probe(cl, i);
    check_promotion(cl);
    flush_beats(cl);
    loop_timer_start(cl->loop, &cl->hb_timer, cl->cfg.heartbeat_ms, hb_round, cl);
}

int cluster_heartbeat_response(struct cluster *cl, const osip_message_t *resp)
{
    osip_via_t *v = osip_list_get(&resp->vias, 0);
    osip_generic_param_t *p = NULL;
    if (!v || osip_via_param_get_byname(v, "branch", &p) != 0 || !p || !p->gvalue ||
        strncmp(p->gvalue, HB_BRANCH, strlen(HB_BRANCH)) != 0)
        return 0;
    if (osip_list_size(&resp->vias) != 1 || resp->status_code < 200)
        return 1; /* a provisional, or not for us: dropped */
    int nid;
    uint64_t round;
    if (sscanf(p->gvalue + strlen(HB_BRANCH), "%d.%" SCNu64, &nid, &round) != 2)
        return 1;
    size_t i;
    struct cnode *c = by_nid(cl, nid, &i);
    if (!c || cl->probe_round[i] != round)
        return 1; /* late: that round already counted as a miss */
    cl->probe_round[i] = 0;
    c->rtt_ms = (double)(metrics_clock_us() - cl->probe_sent_us[i]) / 1000.0;
    /* a lookup by name, once per probe: no handle to outlive a node that leaves the table */
    metric_observe(metric_series(cl->rtt_family, (const char *const[]){c->name}), c->rtt_ms / 1000.0);
    enum cnode_state before = state_of(c);
    if (resp->status_code >= 500) {
        /* alive but refusing work (shutting down): down at once, not after its misses */
        if (c->up) {
            LOG_WARN("node %s (%s) refuses work (%d to a heartbeat): down", c->name, c->address,
                     resp->status_code);
            events_node(c->name, "down");
        }
        c->up = 0;
        c->misses = (int)cl->cfg.heartbeat_misses;
        beat(cl, c, 0);
        return 1;
    }
    int work = 0, max = 0;
    char state[16] = "active";
    const char *load = sip_header_get(resp, "sipd-load", 0);
    if (resp->status_code >= 300 || !load || node_load_parse(load, &work, &max, state, sizeof state) < 0) {
        /* answered, but not as a sipd node with its load: alive, load unknown */
        work = c->work_num;
    }
    if (work != c->work_num || strcmp(state, c->state) != 0)
        LOG_DEBUG("node %s load work=%d state=%s inflight=%u", c->name, work, state, c->inflight);
    c->work_num = work;
    snprintf(c->state, sizeof c->state, "%s", state);
    c->misses = 0;
    if (!c->up) {
        LOG_INFO("node %s (%s) is up", c->name, c->address);
        events_node(c->name, "up");
    }
    c->up = 1;
    enum cnode_state after = state_of(c);
    if (after != before && before != S_DOWN)
        events_node(c->name, state_names[after]); /* drained (or draining again) */
    beat(cl, c, 1);
    return 1;
}

/* ---- choosing ----------------------------------------------------------------------------------- */

size_t cluster_pick(struct cluster *cl, unsigned role, const char *topic, struct sip_source *dst,
                    int *nid, size_t max)
{
    size_t idx[CNODE_MAX];
    if (max > CNODE_MAX)
        max = CNODE_MAX;
    size_t k = cnode_select(cl->nodes, cl->n, role, topic, idx, max);
    if (!topic)
        cnode_take_turn(cl->nodes, idx, k);
    for (size_t i = 0; i < k; i++) {
        dst[i] = cl->nodes[idx[i]].dst;
        nid[i] = cl->nodes[idx[i]].nid;
    }
    return k;
}

int cluster_is_live_at(const struct cluster *cl, unsigned role, const struct sockaddr_storage *addr)
{
    for (size_t i = 0; i < cl->n; i++)
        if (cnode_eligible(&cl->nodes[i], role, 1) && sockaddr_equal(&cl->nodes[i].dst.peer, addr))
            return 1;
    return 0;
}

void cluster_sent(struct cluster *cl, int nid)
{
    struct cnode *c = by_nid(cl, nid, NULL);
    if (c)
        c->inflight++;
}

void cluster_done(struct cluster *cl, int nid)
{
    struct cnode *c = by_nid(cl, nid, NULL);
    if (c && c->inflight)
        c->inflight--;
}

size_t cluster_nodes(const struct cluster *cl, const struct cnode **v)
{
    *v = cl->nodes;
    return cl->n;
}

/* ---- metrics ------------------------------------------------------------------------------------ */

/* sipd_nodes{state}: the nodes of this balancer's table by state. */
static void collect_nodes(void *arg)
{
    struct cluster *cl = arg;
    for (size_t i = 0; i < cl->n; i++)
        metric_gauge_add(cl->nodes_by_state[state_of(&cl->nodes[i])], 1);
}

static void metrics_register(struct cluster *cl)
{
    struct metrics *reg = metrics_default();
    static const char *const node_label[] = {"node", NULL}, *const state_label[] = {"state", NULL};
    cl->rtt_family = metrics_family(reg, "sipd_heartbeat_rtt_seconds",
                                    "Round trip of a balancer's heartbeat OPTIONS to a node, from "
                                    "sending it to its final answer.",
                                    METRIC_HISTOGRAM, node_label, NULL, 0);
    struct metric_family *f = metrics_family(reg, "sipd_nodes",
                                             "Nodes in this balancer's node table, by state.",
                                             METRIC_GAUGE, state_label, NULL, 0);
    metric_family_set_computed(f);
    for (int i = 0; i < NSTATES; i++)
        cl->nodes_by_state[i] = metric_series(f, (const char *const[]){state_names[i]});
    metrics_collector_add(reg, collect_nodes, cl);
}

/* ---- life cycle --------------------------------------------------------------------------------- */

struct cluster *cluster_create(struct loop *loop, struct transport *tp, struct store *st,
                               const struct cluster_config *cfg)
{
    struct cluster *cl = calloc(1, sizeof *cl);
    if (!cl)
        return NULL;
    cl->loop = loop;
    cl->tp = tp;
    cl->store = st;
    cl->cfg = *cfg;
    if (!cl->cfg.heartbeat_ms)
        cl->cfg.heartbeat_ms = 1000;
    if (!cl->cfg.heartbeat_misses)
        cl->cfg.heartbeat_misses = 3;
    snprintf(cl->self_name, sizeof cl->self_name, "%s", cfg->self_name ? cfg->self_name : "");
    cl->cfg.self_name = cl->self_name;
    sip_random_token(cl->tag, sizeof cl->tag);
    metrics_register(cl);
    load_nodes(cl);
    loop_timer_start(loop, &cl->hb_timer, cl->cfg.heartbeat_ms, hb_round, cl);
    return cl;
}

void cluster_destroy(struct cluster *cl)
{
    if (!cl)
        return;
    loop_timer_stop(cl->loop, &cl->hb_timer);
    metrics_collector_remove(metrics_default(), collect_nodes, cl);
    free(cl);
}
