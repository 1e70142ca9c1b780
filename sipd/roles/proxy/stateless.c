/* stateless.c - what the proxy forwards without a transaction (RFC 3261 §16.11): an ACK for a
 * 2xx (end-to-end, it follows the route set like any request) and a 2xx to INVITE that no client
 * transaction took (a retransmission after the call is forgotten, §16.7 step 5 / RFC 6026).
 * Both are edited as text from the received bytes, like every forwarded message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../sip/msg.h"
#include "../../sip/rewrite.h"
#include "proxy_impl.h"

#define STATELESS_BRANCH "z9hG4bKsl" /* the branches of what we forward without a transaction */

/* The branch of a forwarded ACK: the same for a retransmitted ACK (a stateless proxy's branch
 * is a function of the request, §16.11). */
static unsigned long ack_branch_hash(const osip_message_t *ack)
{
    osip_via_t *prev = osip_list_get(&ack->vias, 0);
    osip_generic_param_t *p = NULL;
    const char *pb = prev && osip_via_param_get_byname(prev, "branch", &p) == 0 && p && p->gvalue
                         ? p->gvalue : "";
    unsigned long hsh = 5381;
    for (const char *c = pb; *c; c++)
        hsh = hsh * 33 + (unsigned char)*c;
    return hsh & 0xffffffffUL;
}

/* Forward req without a transaction along its route set (or a client's flow, at the edge): our
 * Via with a branch that is a function of the request's (§16.11). Returns 0 when sent, -1 when
 * it cannot go this way (no usable numeric next hop, Max-Forwards used up, no raw bytes). */
static int forward_stateless(struct proxy *px, const osip_message_t *ack, const struct sip_source *src,
                             const char *raw, size_t raw_len)
{
    struct sip_source dst;
    struct route_fwd fwd = {0};
    char flow[ROUTE_FLOW_MAX];
    int rc = !raw ? -1
           : px->cfg.cluster ? route_decide_ack_edge(&px->route, ack, &dst, &fwd, flow)
           : route_decide_ack(&px->route, ack, &dst, &fwd);
    if (rc == 0 && px->cfg.cluster)
        rc = edge_ack_dest(px, flow, src, &dst);
    if (rc < 0) {
        route_fwd_clear(&fwd);
        return -1;
    }
    const char *mf = sip_header_get(ack, "max-forwards", 0);
    int mfv = mf ? atoi(mf) : 70;
    char hp[64];
    proxy_hostport(px, dst.proto, &dst.peer, hp, sizeof hp);
    struct sbuf pre, out;
    sbuf_init(&pre);
    sbuf_init(&out);
    sbuf_printf(&pre, "Via: SIP/2.0/%s %s;branch=" STATELESS_BRANCH "%08lx;rport\r\n", sip_proto_via_name(dst.proto),
                hp, ack_branch_hash(ack));
    char *topvia = NULL;
    osip_via_t *prev = osip_list_get(&ack->vias, 0);
    if (prev)
        osip_via_to_str(prev, &topvia); /* with received/rport (sip_via_apply_source) */
    struct fwd_edit e = {
        .new_ruri = fwd.new_ruri,
        .prepend = pre.p,
        .top_via_value = topvia,
        .drop_routes = fwd.drop_routes,
        .drop_last_route = fwd.drop_last_route,
        .append_route = fwd.append_route,
        .max_forwards = mfv - 1,
    };
    rc = !pre.failed && sip_rewrite_request(raw, raw_len, &e, &out) == 0 ? 0 : -1;
    if (rc == 0)
        transport_send(px->tp, &dst, out.p, out.len);
    osip_free(topvia);
    sbuf_free(&pre);
    sbuf_free(&out);
    route_fwd_clear(&fwd);
    return rc;
}

void proxy_handle_ack(struct proxy *px, osip_message_t *ack, const struct sip_source *src,
                      const char *raw, size_t raw_len)
{
    forward_stateless(px, ack, src, raw, raw_len);
    osip_message_free(ack);
}

int proxy_forward_in_dialog(struct proxy *px, osip_message_t *req, const struct sip_source *src,
                            const char *raw, size_t raw_len)
{
    const char *mf = sip_header_get(req, "max-forwards", 0);
    if (!px->cfg.cluster || (mf && atoi(mf) <= 1) || forward_stateless(px, req, src, raw, raw_len) < 0)
        return 0; /* the stateful path answers what needs an answer */
    if (px->dialogs.count)
        proxy_dialog_request(px, req);
    osip_message_free(req);
    return 1;
}

void proxy_handle_stray_response(struct proxy *px, osip_message_t *resp, const char *raw,
                                 size_t raw_len)
{
    osip_via_t *top = osip_list_get(&resp->vias, 0);
    osip_generic_param_t *bp = NULL;
    int stateless = top && osip_via_param_get_byname(top, "branch", &bp) == 0 && bp && bp->gvalue &&
                    strncmp(bp->gvalue, STATELESS_BRANCH, strlen(STATELESS_BRANCH)) == 0;
    if (!stateless && (resp->status_code < 200 || resp->status_code >= 300 || !resp->cseq ||
                       !resp->cseq->method || strcmp(resp->cseq->method, "INVITE") != 0))
        return; /* only what we forwarded statelessly, or a late 2xx to an INVITE, goes on */
    if (!top || !transport_is_local(px->tp, top->host, top->port ? atoi(top->port) : 0))
        return; /* not sent by us */
    if (osip_list_size(&resp->vias) < 2 || !raw)
        return; /* nobody to forward it to */
    struct sbuf out;
    sbuf_init(&out);
    if (sip_rewrite_pop_via(raw, raw_len, &out) < 0) {
        sbuf_free(&out);
        return;
    }
    /* the next Via says where: received/rport (RFC 3581) or sent-by; over TCP the connection
     * to that address is found in the connection table */
    osip_list_remove(&resp->vias, 0);
    osip_via_free(top);
    struct sip_source src = {.proto = SIP_PROTO_UDP, .udp_fd = -1}, dst;
    osip_via_t *next = osip_list_get(&resp->vias, 0);
    if (sip_response_dest(resp, &src, &dst) == 0 && dst.peerlen) {
        if (next && next->protocol && sip_proto_from_param(next->protocol) > 0)
            dst.proto = (enum sip_proto)sip_proto_from_param(next->protocol);
        transport_send(px->tp, &dst, out.p, out.len);
    }
    sbuf_free(&out);
}
