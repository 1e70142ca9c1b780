/* edge.c - the proxy's edge mode: the balancer (docs/cluster.md).
 *
 * The balancer is the proxy with its location service replaced by the cluster: one forwarding
 * engine (branch.c) serves both. What differs is decided here, for a request with no Route left
 * after the balancer's own entries (route.c, ROUTE_EDGE):
 *   - our removed Route entry names a client's flow (cluster/flow.h) and the request did not come
 *     over that flow: it goes to the client over the flow (430 when a TCP flow is gone);
 *   - an in-dialog request from a client: to its Request-URI (the remote target);
 *   - an initial request: to a node, REGISTER to a registrar, IM and presence requests to the
 *     broker that owns the topic, everything else to a proxy (cluster/select.h); the nodes are
 *     tried in turn while they time out, fail at the transport or answer 503, and no node at all
 *     is 503 with Retry-After.
 * REGISTER gets our Path and dialog-forming requests our Record-Route, both naming the client's
 * flow, so that whatever a node sends toward the client comes back here (branch.c writes them). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../../cluster/cluster.h"
#include "../../cluster/flow.h"
#include "../../sip/msg.h"
#include "../../sip/txn.h"
#include "../../sip/uri.h"
#include "proxy_impl.h"

#define EDGE_MAX_TRIES 4 /* nodes tried for one request */

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

int edge_route(struct pcall *pc, const struct route_plan *p)
{
    struct proxy *px = pc->px;
    osip_message_t *req = txn_request(pc->st);
    const struct sip_source *src = txn_source(pc->st);
    struct sip_source flow;
    if (p->flow[0] && flow_decode(p->flow, &flow) == 0 && !flow_same(&flow, src)) {
        /* toward a client, over the flow our Path or Record-Route named */
        if (flow.proto == SIP_PROTO_TCP && !transport_conn_alive(px->tp, flow.conn_id)) {
            pcall_reply(pc, 430, "Flow Failed", NULL, NULL); /* RFC 5626 §5.3 */
            pcall_check_done(pc);
            return 0;
        }
        snprintf(pc->flow, sizeof pc->flow, "%s", p->flow);
        pc->targets[0] = (struct target){.dst = flow, .q = -1};
        pc->ntargets = 1;
        pcall_start_next_group(pc);
        pcall_check_done(pc);
        return 0;
    }
    if (req->to && sip_tag_of(req->to)) {
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
    if (n == 0) {
        pcall_reply(pc, 503, "No node available", "Retry-After", "5");
        pcall_check_done(pc);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        pc->targets[i] = (struct target){.dst = dst[i], .q = 1000 - (int)i, .nid = nid[i]};
    pc->ntargets = n;
    pc->failover = 1;
    pc->add_path = role == CNODE_REGISTRAR;
    pcall_start_next_group(pc);
    pcall_check_done(pc);
    return 0;
}

int edge_ack_dest(struct proxy *px, const char *flow, const struct sip_source *src,
                  struct sip_source *dst)
{
    struct sip_source f;
    if (flow[0] && flow_decode(flow, &f) == 0 && !flow_same(&f, src)) {
        if (f.proto == SIP_PROTO_TCP && !transport_conn_alive(px->tp, f.conn_id))
            return -1;
        *dst = f;
        return 0;
    }
    return dst->peerlen ? 0 : -1;
}
