/* route.c - the proxy's routing decisions; see route.h.
 *
 * The request is never modified: preprocessing (§16.4) only computes where the Request-URI and
 * the first Route left would be after it, and how the forwarded text differs (struct route_fwd),
 * which the branch code hands to sip_rewrite_request(). */
#include "route.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../base/sbuf.h"
#include "../../sip/msg.h"
#include "../../store/binding.h"
#include "../../transport/addr.h"

/* ---- identity --------------------------------------------------------------------------------- */


/* ---- URIs as next hops ---------------------------------------------------------------------- */

static int uri_port(const osip_uri_t *u)
{
    return u->port && *u->port ? atoi(u->port) : 0;
}

int route_uri_hop(const osip_uri_t *u, char *host, size_t hn, int *port, int *proto)
{
    if (!u || !u->host)
        return -1;
    osip_uri_param_t *p = NULL;
    const char *h = u->host;
    if (osip_uri_uparam_get_byname((osip_uri_t *)u, "maddr", &p) == 0 && p && p->gvalue)
        h = p->gvalue;
    if (strcasecmp(h, "localhost") == 0)
        h = "127.0.0.1";
    size_t l = strlen(h);
    if (l >= 2 && h[0] == '[' && h[l - 1] == ']') {
        h++;
        l -= 2;
    }
    if (l == 0 || l >= hn)
        return -1;
    memcpy(host, h, l);
    host[l] = '\0';
    *proto = -1;
    p = NULL;
    if (osip_uri_uparam_get_byname((osip_uri_t *)u, "transport", &p) == 0 && p && p->gvalue)
        *proto = sip_proto_from_param(p->gvalue) > 0 ? sip_proto_from_param(p->gvalue) : SIP_PROTO_UDP;
    if (u->scheme && strcasecmp(u->scheme, "sips") == 0) /* RFC 3261 §26.2: TLS on every hop */
        *proto = SIP_PROTO_TLS;
    *port = uri_port(u);
    if (*port < 0 || *port > 65535)
        return -1;
    return 0;
}

/* Next hop for a URI with a numeric host (no DNS). Returns 0 or -1. */
static int uri_destination(const osip_uri_t *u, struct sip_source *dst)
{
    char host[256];
    int port, proto;
    memset(dst, 0, sizeof *dst);
    dst->udp_fd = -1;
    if (route_uri_hop(u, host, sizeof host, &port, &proto) < 0)
        return -1;
    dst->proto = proto < 0 ? SIP_PROTO_UDP : proto;
    return sockaddr_from_host_port(host, strlen(host), port ? port : sip_proto_default_port(dst->proto),
                                   &dst->peer, &dst->peerlen);
}

/* The same for a URI given as text. */
static int text_destination(const char *text, struct sip_source *dst)
{
    osip_uri_t *u = NULL;
    int ok = osip_uri_init(&u) == 0 && osip_uri_parse(u, text) == 0 && uri_destination(u, dst) == 0;
    if (u)
        osip_uri_free(u);
    return ok ? 0 : -1;
}

/* "udp:1.2.3.4:5060" (a binding's received) -> destination. */
static int received_destination(const char *received, uint64_t conn_id, struct sip_source *dst)
{
    memset(dst, 0, sizeof *dst);
    dst->udp_fd = -1;
    struct sip_endpoint ep;
    if (!received || sip_endpoint_parse(received, &ep) < 0)
        return -1;
    dst->proto = ep.proto;
    dst->peer = ep.addr;
    dst->peerlen = ep.addrlen;
    dst->conn_id = sip_proto_is_stream(ep.proto) ? conn_id : 0;
    return 0;
}

static const char *gparam(const osip_list_t *params, const char *name)
{
    osip_generic_param_t *p = NULL;
    if (osip_generic_param_get_byname((osip_list_t *)params, (char *)name, &p) < 0 || !p)
        return NULL;
    return p->gvalue ? p->gvalue : "";
}

/* ---- loop detection ------------------------------------------------------------------------- */

/* Hash of what identifies a request for loop detection (§16.3 item 4, §16.6 item 8): the
 * Request-URI, From tag, To tag, Call-ID, CSeq number, Proxy-Require and Proxy-Authorization.
 * A spiral (new Request-URI) hashes differently; a loop identically. */
static void fnv(unsigned long *h, const char *s)
{
    for (; s && *s; s++)
        *h = (*h ^ (unsigned char)*s) * 16777619UL;
    *h = (*h ^ '|') * 16777619UL;
}

static unsigned long loop_hash(const osip_message_t *req, const osip_uri_t *u)
{
    unsigned long h = 2166136261UL;
    if (u) {
        fnv(&h, u->scheme);
        fnv(&h, u->username);
        fnv(&h, u->host);
        fnv(&h, u->port);
        for (int i = 0;; i++) {
            osip_uri_param_t *p = osip_list_get(&u->url_params, i);
            if (!p)
                break;
            fnv(&h, p->gname);
            fnv(&h, p->gvalue);
        }
    }
    fnv(&h, req->from ? gparam(&req->from->gen_params, "tag") : NULL);
    fnv(&h, req->to ? gparam(&req->to->gen_params, "tag") : NULL);
    fnv(&h, req->call_id ? req->call_id->number : NULL);
    fnv(&h, req->call_id ? req->call_id->host : NULL);
    fnv(&h, req->cseq ? req->cseq->number : NULL);
    fnv(&h, sip_header_get(req, "proxy-require", 0));
    osip_proxy_authorization_t *pa = osip_list_get(&req->proxy_authorizations, 0);
    fnv(&h, pa ? pa->response : NULL);
    return h & 0xffffffffUL;
}

/* Did this request pass here before with the same identity (a Via of ours whose branch carries
 * the request's hash)? */
static int is_loop(const struct route_ctx *c, const osip_message_t *req)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "z9hG4bKsd%08lx.", loop_hash(req, req->req_uri));
    for (int i = 0;; i++) {
        osip_via_t *v = osip_list_get(&req->vias, i);
        if (!v)
            return 0;
        const char *br = gparam(&v->via_params, "branch");
        if (!br || strncmp(br, prefix, strlen(prefix)) != 0)
            continue;
        int port = v->port ? atoi(v->port) : 0;
        if (v->host && c->local->listens(c->local->arg, v->host, port > 0 ? port : 0))
            return 1;
    }
}

/* ---- route set (§16.4) ---------------------------------------------------------------------- */

void route_fwd_clear(struct route_fwd *f)
{
    free(f->new_ruri);
    free(f->append_route);
    memset(f, 0, sizeof *f);
}

/* §16.4 on the route set, without changing req: a strict-routing previous hop put our
 * Record-Route in the Request-URI and the real one last in Route (the last Route value becomes
 * the Request-URI), then our own Route entries on top go. Returns the Request-URI after that;
 * *first is the index of the first Route left and *end one past the last. */
static const osip_uri_t *preprocess(const struct route_ctx *c, const osip_message_t *req,
                                    struct route_fwd *f, int *first, int *end, char *flow,
                                    char *topic)
{
    if (flow)
        flow[0] = '\0';
    if (topic)
        topic[0] = '\0';
    const osip_uri_t *ruri = req->req_uri;
    int n = osip_list_size(&req->routes);
    if (n > 0 && uri_is_me(c->local, ruri)) {
        osip_route_t *last = osip_list_get(&req->routes, n - 1);
        if (last && last->url) {
            ruri = last->url;
            f->drop_last_route = 1;
            n--;
        }
    }
    int i = 0;
    for (; i < n; i++) {
        osip_route_t *r = osip_list_get(&req->routes, i);
        if (!r || !r->url || !uri_is_me(c->local, r->url))
            break;
        osip_uri_param_t *fp = NULL;
        if (flow && osip_uri_uparam_get_byname(r->url, "flow", &fp) == 0 && fp && fp->gvalue &&
            strlen(fp->gvalue) < ROUTE_FLOW_MAX)
            strcpy(flow, fp->gvalue);
        fp = NULL;
        if (topic && osip_uri_uparam_get_byname(r->url, "topic", &fp) == 0 && fp && fp->gvalue &&
            strlen(fp->gvalue) < ROUTE_TOPIC_MAX)
            strcpy(topic, fp->gvalue);
    }
    f->drop_routes = i;
    *first = i;
    *end = n;
    return ruri;
}

/* "<uri>" / "uri" as oSIP writes it; malloc'd, NULL when out of memory. */
static char *uri_text(const osip_uri_t *u, int bracketed)
{
    char *s = NULL;
    if (osip_uri_to_str(u, &s) != 0 || !s)
        return NULL;
    size_t l = strlen(s);
    char *out = malloc(l + 3);
    if (out) {
        if (bracketed)
            snprintf(out, l + 3, "<%s>", s);
        else
            memcpy(out, s, l + 1);
    }
    osip_free(s);
    return out;
}

static const char *const known_proxy_options[] = {NULL};

static void reject(struct route_plan *p, int code, const char *reason)
{
    p->action = ROUTE_REJECT;
    p->code = code;
    p->reason = reason;
}

/* aor = "scheme:user@host", scheme and host lowercased (the user part is case-sensitive). */
static void make_aor(const osip_uri_t *u, char *aor, size_t n)
{
    snprintf(aor, n, "%s:%s@%s", u->scheme ? u->scheme : "sip", u->username, u->host);
    for (char *p = aor; *p && *p != ':'; p++)
        *p = (char)tolower((unsigned char)*p);
    for (char *p = strchr(aor, '@'); p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

int route_decide(const struct route_ctx *c, const osip_message_t *req, struct route_plan *p)
{
    memset(p, 0, sizeof *p);
    /* §16.3 validation */
    const char *mf = sip_header_get(req, "max-forwards", 0);
    if (mf && atoi(mf) <= 0) {
        reject(p, 483, NULL);
        return 0;
    }
    if (sip_header_unknown_option(req, "proxy-require", known_proxy_options, p->extra_buf,
                                  sizeof p->extra_buf)) {
        reject(p, 420, NULL);
        p->extra_name = "Unsupported";
        p->extra_value = p->extra_buf;
        return 0;
    }
    if (is_loop(c, req)) {
        reject(p, 482, NULL);
        return 0;
    }
    int is_invite = strcmp(req->sip_method, "INVITE") == 0;
    int has_to_tag = req->to && gparam(&req->to->gen_params, "tag") != NULL;
    p->record_route = c->record_route && !has_to_tag &&
                      (is_invite || strcmp(req->sip_method, "SUBSCRIBE") == 0 ||
                       strcmp(req->sip_method, "REFER") == 0);

    int first, end;
    const osip_uri_t *ruri = preprocess(c, req, &p->fwd, &first, &end, c->edge ? p->flow : NULL,
                                         c->edge ? p->topic : NULL);
    const osip_uri_t *fwd_ruri = ruri;
    osip_route_t *top = first < end ? osip_list_get(&req->routes, first) : NULL;
    if (top && top->url) {
        /* the route set decides the next hop (§16.4, §16.6 step 6) */
        if (!gparam(&top->url->url_params, "lr")) {
            /* a strict-routing next hop: it gets the Request-URI slot, ours goes to the end */
            p->fwd.append_route = uri_text(ruri, 1);
            if (!p->fwd.append_route)
                goto oom;
            p->fwd.drop_routes++;
            fwd_ruri = top->url;
        }
        if (route_uri_hop(top->url, p->host, sizeof p->host, &p->port, &p->proto) < 0)
            reject(p, 416, "Unusable next-hop URI");
        else
            p->action = ROUTE_NEXT_HOP;
    } else if (c->edge) {
        /* the balancer decides (proxy/edge.c): a client's flow, a node, or this hop */
        p->action = ROUTE_EDGE;
        p->hop_ok = route_uri_hop(ruri, p->host, sizeof p->host, &p->port, &p->proto) == 0;
    } else if (uri_is_ours(c->local, ruri) && ruri->username && !has_to_tag) {
        /* a user of ours: the location service gives the targets */
        p->action = ROUTE_LOCATION;
        make_aor(ruri, p->aor, sizeof p->aor);
        p->is_redirect = c->redirect_all || (ruri->host && uri_domain_listed(c->redirect_domains, ruri->host));
    } else if (uri_is_me(c->local, ruri)) {
        reject(p, 404, "No route to this address");
    } else if (route_uri_hop(ruri, p->host, sizeof p->host, &p->port, &p->proto) < 0) {
        reject(p, 416, "Unusable next-hop URI");
    } else {
        p->action = ROUTE_NEXT_HOP;
    }
    if (fwd_ruri != req->req_uri) {
        p->fwd.new_ruri = uri_text(fwd_ruri, 0);
        if (!p->fwd.new_ruri)
            goto oom;
    }
    p->fwd.loop_hash = loop_hash(req, fwd_ruri);
    return 0;
oom:
    route_fwd_clear(&p->fwd);
    return -1;
}

static int decide_ack(const struct route_ctx *c, const osip_message_t *ack, struct sip_source *dst,
                      struct route_fwd *fwd, char *flow)
{
    memset(fwd, 0, sizeof *fwd);
    const char *mf = sip_header_get(ack, "max-forwards", 0);
    if (mf && atoi(mf) <= 0)
        return -1;
    int first, end;
    const osip_uri_t *ruri = preprocess(c, ack, fwd, &first, &end, flow, NULL);
    osip_route_t *top = first < end ? osip_list_get(&ack->routes, first) : NULL;
    const osip_uri_t *hop = top && top->url ? top->url : ruri;
    const osip_uri_t *fwd_ruri = ruri;
    if (top && top->url && !gparam(&top->url->url_params, "lr")) {
        /* a strict-routing next hop: as for any request (route_decide), it gets the
         * Request-URI slot and the Request-URI goes last in Route */
        if (!(fwd->append_route = uri_text(ruri, 1)))
            return -1;
        fwd->drop_routes++;
        fwd_ruri = top->url;
    }
    if (flow && top)
        flow[0] = '\0'; /* the route set goes on: no flow of ours decides */
    if (flow && flow[0]) {
        /* edge mode: the caller picks the flow or this hop (dst.peerlen 0 when unusable) */
        if (uri_destination(hop, dst) < 0)
            memset(dst, 0, sizeof *dst);
    } else if ((!top && uri_is_me(c->local, ruri)) || uri_destination(hop, dst) < 0) {
        return -1;
    }
    if (fwd_ruri != ack->req_uri && !(fwd->new_ruri = uri_text(fwd_ruri, 0)))
        return -1;
    return 0;
}

int route_decide_ack(const struct route_ctx *c, const osip_message_t *ack, struct sip_source *dst,
                     struct route_fwd *fwd)
{
    return decide_ack(c, ack, dst, fwd, NULL);
}

int route_decide_ack_edge(const struct route_ctx *c, const osip_message_t *ack, struct sip_source *dst,
                          struct route_fwd *fwd, char *flow)
{
    return decide_ack(c, ack, dst, fwd, flow);
}

/* ---- location service results (§16.5) ------------------------------------------------------- */

/* Should the binding be reached over the flow its REGISTER came in on rather than at its Contact?
 * Yes for RFC 5626 outbound registrations (reg-id), and for a TCP registration whose connection
 * is still open when the Contact names the same host (the device itself registered: its own
 * connection is the way in, through NAT and firewalls). A third party's registration, or a
 * flow that is gone, means the Contact (RFC 3261 §16.5). */
static int use_flow(const struct route_ctx *c, const struct binding *b, struct sip_source *dst)
{
    struct sip_source flow;
    if (received_destination(b->received, b->conn_id, &flow) < 0)
        return 0;
    int ok = 0;
    if (b->reg_id > 0 && b->instance) {
        ok = flow.proto == SIP_PROTO_UDP || c->conn_alive(c->arg, flow.conn_id);
    } else if (sip_proto_is_stream(flow.proto) && c->conn_alive(c->arg, flow.conn_id)) {
        osip_uri_t *u = NULL;
        char ip[64];
        sockaddr_ip_str(&flow.peer, ip, sizeof ip);
        if (osip_uri_init(&u) == 0 && osip_uri_parse(u, b->contact) == 0 && u->host) {
            const char *h = u->host;
            size_t hl = strlen(h);
            if (hl >= 2 && h[0] == '[')
                ok = hl - 2 == strlen(ip) && strncasecmp(h + 1, ip, hl - 2) == 0;
            else
                ok = strcasecmp(h, ip) == 0;
        }
        if (u)
            osip_uri_free(u);
    }
    if (ok)
        *dst = flow;
    return ok;
}

/* The next hop toward a binding: the first Path entry, the flow it registered over, or its
 * Contact. Returns 0 or -1 (unusable). */
static int binding_destination(const struct route_ctx *c, const struct binding *b, struct sip_source *dst)
{
    if (b->path) {
        osip_route_t *r = NULL;
        char first[512];
        snprintf(first, sizeof first, "%s", b->path);
        char *comma = strchr(first, ',');
        if (comma)
            *comma = '\0';
        int ok = osip_route_init(&r) == 0 && osip_route_parse(r, first) == 0 &&
                 uri_destination(r->url, dst) == 0;
        if (r)
            osip_route_free(r);
        return ok ? 0 : -1;
    }
    if (use_flow(c, b, dst))
        return 0;
    return text_destination(b->contact, dst);
}

static void contact_lines(struct sbuf *h, const struct binding *b, size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++) {
        sbuf_printf(h, "Contact: <%s>", b[i].contact);
        if (b[i].q >= 0)
            sbuf_printf(h, ";q=%d.%03d", b[i].q / 1000, b[i].q % 1000);
        sbuf_printf(h, ";expires=%ld\r\n", (long)(b[i].expires_at > now ? b[i].expires_at - now : 0));
    }
}

int route_uri_is_sips(const osip_uri_t *u)
{
    return u && u->scheme && strcasecmp(u->scheme, "sips") == 0;
}

size_t route_targets_keep_tls(struct target *t, size_t *nt)
{
    size_t k = 0;
    for (size_t i = 0; i < *nt; i++) {
        if (t[i].dst.proto == SIP_PROTO_TLS) {
            t[k++] = t[i];
        } else {
            free(t[i].uri);
            free(t[i].path);
        }
    }
    *nt = k;
    return k;
}

int route_targets(const struct route_ctx *c, const struct binding *b, size_t n, int aor_known,
                  int is_redirect, int64_t now, struct target *t, size_t max, size_t *nt,
                  struct sbuf *contacts, const char **reason)
{
    *nt = 0;
    *reason = NULL;
    if (n == 0)
        return aor_known ? 480 : 404;
    if (is_redirect) {
        contact_lines(contacts, b, n, now);
        return 302;
    }
    /* bindings arrive ordered by q descending: the target groups follow that order */
    for (size_t i = 0; i < n && *nt < max; i++) {
        struct target *x = &t[*nt];
        if (binding_destination(c, &b[i], &x->dst) < 0)
            continue;
        x->uri = strdup(b[i].contact);
        x->path = b[i].path ? strdup(b[i].path) : NULL;
        x->q = b[i].q;
        (*nt)++;
    }
    if (*nt == 0) {
        *reason = "No reachable contact";
        return 480;
    }
    return 0;
}
