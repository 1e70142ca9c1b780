/* edge.c - the proxy's edge mode: the balancer (docs/cluster.md).
 *
 * The balancer is the proxy with its location service replaced by the cluster: one forwarding
 * engine (branch.c) serves both. What differs is decided here, for a request with no Route left
 * after the balancer's own entries (route.c, ROUTE_EDGE):
 *   - our removed Route entry names a client's flow (cluster/flow.h) and the request did not come
 *     over that flow: it goes to the client over the flow (430 when a TCP flow is gone);
 *   - an in-dialog request from a client: to its Request-URI (the remote target), except in an
 *     `im` subscription's dialog (our entry names its topic) whose broker is no live broker
 *     any more: then to the topic's current owner, which took the dialog over (topic takeover,
 *     docs/im-event-package.md);
 *   - an initial request: to a node, REGISTER to a registrar, IM and presence requests to the
 *     broker that owns the topic, everything else to a proxy (cluster/select.h); the nodes are
 *     tried in turn while they time out, fail at the transport or answer 503, and no node at all
 *     is 503 with Retry-After.
 * REGISTER gets our Path and dialog-forming requests our Record-Route, both naming the client's
 * flow, so that whatever a node sends toward the client comes back here (branch.c writes them);
 * an `im` SUBSCRIBE's Record-Route also names its topic. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../../cluster/cluster.h"
#include "../../cluster/flow.h"
#include "../../sip/msg.h"
#include "../../sip/txn.h"
#include "../../sip/uri.h"
#include "../../transport/addr.h"
#include "proxy_impl.h"

#define EDGE_MAX_TRIES 4 /* nodes tried for one request */

/* Same IP address, ports aside? */
static int same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr, 16) == 0;
    return 0;
}

/* Toward a client: its flow, or the Request-URI (uri: its hop as an address, peerlen 0 when not
 * numeric or unusable)? The flow when it is a TCP connection still open, or a UDP flow from
 * another address than the Request-URI's (a device behind NAT); the Request-URI when it names
 * the flow's own host (over UDP the Contact's port is where the device listens: a device on the
 * same host as the registering one may be a third party's), or when a TCP flow is gone.
 * Returns 1 = flow, 0 = the Request-URI, -1 = neither (430). */
static int flow_or_uri(struct proxy *px, const struct sip_source *flow, int uri_usable,
                       const struct sockaddr_storage *uri_addr)
{
    if (sip_proto_is_stream(flow->proto)) {
        if (transport_conn_alive(px->tp, flow->conn_id))
            return 1;
        return uri_usable ? 0 : -1;
    }
    if (uri_usable && uri_addr && same_ip(uri_addr, &flow->peer))
        return 0;
    return 1;
}

/* The role and topic an initial request needs. topic[0] = '\0' when none. */
static unsigned request_role(const osip_message_t *req, char *topic, size_t n)
{
    topic[0] = '\0';
    const char *m = req->sip_method;
    if (strcmp(m, "REGISTER") == 0)
        return CNODE_REGISTRAR;
    int is_im = strcmp(m, "MESSAGE") == 0;
    if (!is_im && (strcmp(m, "SUBSCRIBE") == 0 || strcmp(m, "PUBLISH") == 0)) {
        struct sip_event ev;
        sip_event_of(req, &ev);
        is_im = sip_event_is(&ev, "im") || sip_event_is(&ev, "presence");
    }
    if (!is_im || !req->req_uri || !req->req_uri->username || sip_uri_aor(req->req_uri, topic, n) < 0) {
        topic[0] = '\0';
        return CNODE_PROXY;
    }
    return CNODE_BROKER;
}

/* Start pc toward the nodes dst[0..n) in turn (failover), or answer 503 when there is none. */
static void to_nodes(struct pcall *pc, const struct sip_source *dst, const int *nid, size_t n)
{
    if (n == 0) {
        pcall_reply(pc, 503, "No node available", "Retry-After", "5");
        pcall_check_done(pc);
        return;
    }
    for (size_t i = 0; i < n; i++)
        pc->targets[i] = (struct target){.dst = dst[i], .q = 1000 - (int)i, .nid = nid[i]};
    pc->ntargets = n;
    pc->failover = 1;
    pcall_start_next_group(pc);
    pcall_check_done(pc);
}

/* An in-dialog request whose route entry of ours names an `im` topic: when its remote target is
 * not a live broker (it died or drains), the topic's owner now took the dialog over and gets it.
 * Returns 1 when it went there (or was answered), 0 when the remote target is to be used. */
static int to_topic_owner(struct pcall *pc, const struct route_plan *p)
{
    struct proxy *px = pc->px;
    char topic[FLOW_TOPIC_MAX];
    if (flow_topic_decode(p->topic, topic, sizeof topic) < 0)
        return 0;
    struct sockaddr_storage ua;
    socklen_t ul;
    if (p->hop_ok && sockaddr_from_host_port(p->host, strlen(p->host), p->port ? p->port : 5060, &ua,
                                             &ul) == 0 &&
        cluster_is_live_at(px->cfg.cluster, CNODE_BROKER, &ua))
        return 0;
    struct sip_source dst[EDGE_MAX_TRIES];
    int nid[EDGE_MAX_TRIES];
    size_t n = cluster_pick(px->cfg.cluster, CNODE_BROKER, topic, dst, nid, EDGE_MAX_TRIES);
    to_nodes(pc, dst, nid, n);
    return 1;
}

/* An initial SUBSCRIBE for `im`: its dialog's route entry of ours names the topic. */
static void name_topic(struct pcall *pc, const osip_message_t *req, const char *topic)
{
    if (strcmp(req->sip_method, "SUBSCRIBE") != 0)
        return;
    struct sip_event ev;
    sip_event_of(req, &ev);
    if (sip_event_is(&ev, "im") && flow_topic_encode(topic, pc->rr_topic, sizeof pc->rr_topic) < 0)
        pc->rr_topic[0] = '\0'; /* too long to name: no takeover for its refreshes */
}

int edge_route(struct pcall *pc, const struct route_plan *p)
{
    struct proxy *px = pc->px;
    osip_message_t *req = txn_request(pc->st);
    const struct sip_source *src = txn_source(pc->st);
    struct sip_source flow;
    if (p->flow[0] && flow_decode(p->flow, &flow) == 0 && !flow_same(&flow, src)) {
        /* toward a client, over the flow our Path or Record-Route named */
        snprintf(pc->flow, sizeof pc->flow, "%s", p->flow);
        struct sockaddr_storage ua;
        socklen_t ul;
        int numeric = p->hop_ok && sockaddr_from_host_port(p->host, strlen(p->host), p->port ? p->port : 5060,
                                                           &ua, &ul) == 0;
        int how = flow_or_uri(px, &flow, p->hop_ok, numeric ? &ua : NULL);
        if (how == 0)
            return 1; /* to the Request-URI's hop */
        if (how < 0) {
            pcall_reply(pc, 430, "Flow Failed", NULL, NULL); /* RFC 5626 §5.3 */
            pcall_check_done(pc);
            return 0;
        }
        pc->targets[0] = (struct target){.dst = flow, .q = -1};
        pc->ntargets = 1;
        pcall_start_next_group(pc);
        pcall_check_done(pc);
        return 0;
    }
    if (req->to && sip_tag_of(req->to)) {
        if (p->topic[0] && to_topic_owner(pc, p))
            return 0;
        if (p->hop_ok)
            return 1; /* in a dialog: to the remote target */
        pcall_reply(pc, 416, "Unusable next-hop URI", NULL, NULL);
        pcall_check_done(pc);
        return 0;
    }
    char topic[256];
    unsigned role = request_role(req, topic, sizeof topic);
    struct sip_source dst[EDGE_MAX_TRIES];
    int nid[EDGE_MAX_TRIES];
    size_t n = cluster_pick(px->cfg.cluster, role, topic[0] ? topic : NULL, dst, nid, EDGE_MAX_TRIES);
    pc->add_path = role == CNODE_REGISTRAR;
    if (role == CNODE_BROKER && pc->record_route)
        name_topic(pc, req, topic);
    to_nodes(pc, dst, nid, n);
    return 0;
}

void edge_branch_done(struct branch *b)
{
    if (b->nid && b->pc->px->cfg.cluster)
        cluster_done(b->pc->px->cfg.cluster, b->nid);
    b->nid = 0;
}

int edge_ack_dest(struct proxy *px, const char *flow, const struct sip_source *src,
                  struct sip_source *dst)
{
    struct sip_source f;
    if (flow[0] && flow_decode(flow, &f) == 0 && !flow_same(&f, src)) {
        int how = flow_or_uri(px, &f, dst->peerlen != 0, dst->peerlen ? &dst->peer : NULL);
        if (how < 0)
            return -1;
        if (how == 1)
            *dst = f;
    }
    return dst->peerlen ? 0 : -1;
}
