/* proxy.c - RFC 3261 §16 stateful proxy; see proxy.h.
 *
 * One `struct pcall` per proxied server transaction. It owns the target set and one `struct
 * branch` per forwarded copy (a client transaction). It lives until its final response has gone
 * upstream and every branch has a final result; then it detaches from the transactions, which
 * finish on their own (late 2xx retransmissions reach proxy_handle_stray_response()). */
#include "proxy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../base/hmap.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../base/sbuf.h"
#include "../sip/msg.h"
#include "../sip/rewrite.h"
#include "../sip/txn.h"
#include "../store/store.h"
#include "../transport/resolve.h"

#define MAX_TARGETS 32
#define MAX_CHALLENGES_BYTES 8192

struct target {
    char *uri;              /* Request-URI for this branch */
    char *path;             /* Path of the binding (becomes Route), or NULL */
    struct sip_source dst;  /* next hop */
    int q;                  /* q*1000, -1 = none (counts as 1000) */
};

struct pcall;

struct branch {
    struct pcall *pc;
    struct sip_txn *ct; /* the client transaction; NULL once it is freed */
    int code;           /* final code, 0 while pending */
    int got_provisional;
    int cancel_wanted;  /* CANCEL once a provisional arrives (§9.1) */
    int cancel_sent;
    struct timer timer_c;
};

struct pcall {
    struct proxy *px;
    struct sip_txn *st;   /* the server transaction; NULL once it is gone */
    int is_invite;
    int record_route;
    struct target targets[MAX_TARGETS];
    size_t ntargets, next_target;
    struct branch *br[MAX_TARGETS];
    size_t nbr;
    int best_code;
    char *best;           /* serialised best final response so far (our Via removed) */
    size_t best_len;
    struct sbuf challenges; /* WWW-/Proxy-Authenticate lines of every 401/407 */
    int final_sent;
    int answered;         /* a 2xx went upstream */
    int cancelled;
    int got_6xx;
    int lookup_pending;
    int routes_dropped;   /* our own Route entries removed on arrival (§16.4) */
    int ruri_changed;     /* strict routing moved the Request-URI: forward by re-serialising */
    uint64_t resolve_id;  /* a DNS lookup in flight */
    char aor[256];
    struct pcall *prev, *next;
};

struct proxy {
    struct loop *loop;
    struct transport *tp;
    struct txn_layer *tl;
    struct store *store;
    struct proxy_config cfg;
    struct pcall *calls;
    size_t ncalls;
    struct resolver *resolver;
    char hostport[2][2][64]; /* [proto][ipv6] our address for Via/Record-Route, "" = not computed */
};

static void pcall_check_done(struct pcall *pc);
static void start_next_group(struct pcall *pc);

/* ---- identity --------------------------------------------------------------------------------- */

static int uri_port(const osip_uri_t *u)
{
    return u->port && *u->port ? atoi(u->port) : 0;
}

int proxy_uri_is_me(const struct proxy *px, const osip_uri_t *uri)
{
    if (!uri || !uri->host)
        return 0;
    const char *h = uri->host;
    char buf[64];
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']' && hl - 2 < sizeof buf) {
        memcpy(buf, h + 1, hl - 2);
        buf[hl - 2] = '\0';
        h = buf;
    }
    if (strcasecmp(h, "localhost") == 0)
        h = "127.0.0.1";
    return transport_is_local(px->tp, h, uri_port(uri));
}

static int domain_listed(const char *const *list, const char *host)
{
    for (const char *const *d = list; d && *d; d++)
        if (strcasecmp(*d, host) == 0)
            return 1;
    return 0;
}

int proxy_uri_is_local(const struct proxy *px, const osip_uri_t *uri)
{
    if (!uri || !uri->host)
        return 0;
    return domain_listed(px->cfg.domains, uri->host) || proxy_uri_is_me(px, uri);
}

/* ---- life cycle -------------------------------------------------------------------------------- */

struct proxy *proxy_create(struct loop *loop, struct transport *tp, struct txn_layer *tl,
                           struct store *st, const struct proxy_config *cfg)
{
    struct proxy *px = calloc(1, sizeof *px);
    if (!px)
        return NULL;
    px->loop = loop;
    px->tp = tp;
    px->tl = tl;
    px->store = st;
    px->cfg = *cfg;
    if (!px->cfg.timer_c_ms)
        px->cfg.timer_c_ms = 180000;
    px->resolver = resolver_create(loop);
    if (!px->resolver) {
        free(px);
        return NULL;
    }
    return px;
}

static void pcall_free(struct pcall *pc)
{
    struct proxy *px = pc->px;
    for (size_t i = 0; i < pc->nbr; i++) {
        struct branch *b = pc->br[i];
        loop_timer_stop(px->loop, &b->timer_c);
        if (b->ct) {
            /* it finishes on its own; late 2xx become strays (stateless forwarding) */
            txn_set_owner(b->ct, NULL, NULL);
            txn_client_detach(b->ct);
        }
        free(b);
    }
    for (size_t i = 0; i < pc->ntargets; i++) {
        free(pc->targets[i].uri);
        free(pc->targets[i].path);
    }
    if (pc->st)
        txn_set_owner(pc->st, NULL, NULL);
    if (pc->resolve_id && px->resolver)
        resolver_cancel(px->resolver, pc->resolve_id);
    free(pc->best);
    sbuf_free(&pc->challenges);
    if (pc->prev)
        pc->prev->next = pc->next;
    else
        px->calls = pc->next;
    if (pc->next)
        pc->next->prev = pc->prev;
    px->ncalls--;
    free(pc);
}

void proxy_destroy(struct proxy *px)
{
    if (!px)
        return;
    resolver_destroy(px->resolver);
    px->resolver = NULL;
    while (px->calls) {
        struct pcall *pc = px->calls;
        pc->lookup_pending = 0;
        pcall_free(pc);
    }
    free(px);
}

size_t proxy_calls(const struct proxy *px) { return px->ncalls; }

static void st_gone(void *arg, struct sip_txn *t)
{
    struct pcall *pc = arg;
    pc->st = NULL;
}

static struct pcall *pcall_new(struct proxy *px, struct sip_txn *st)
{
    struct pcall *pc = calloc(1, sizeof *pc);
    if (!pc)
        return NULL;
    pc->px = px;
    pc->st = st;
    sbuf_init(&pc->challenges);
    osip_message_t *req = txn_request(st);
    pc->is_invite = strcmp(req->sip_method, "INVITE") == 0;
    pc->next = px->calls;
    if (px->calls)
        px->calls->prev = pc;
    px->calls = pc;
    px->ncalls++;
    txn_set_owner(st, st_gone, pc);
    return pc;
}

/* ---- helpers ------------------------------------------------------------------------------------ */

/* The hop a URI names: maddr or host, port (0 = none given), transport (-1 = none given;
 * sips means TCP). "localhost" is 127.0.0.1. Returns 0 or -1. */
static int uri_hop(const osip_uri_t *u, char *host, size_t hn, int *port, int *proto)
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
        *proto = strcasecmp(p->gvalue, "tcp") == 0 ? SIP_PROTO_TCP : SIP_PROTO_UDP;
    if (u->scheme && strcasecmp(u->scheme, "sips") == 0)
        *proto = SIP_PROTO_TCP;
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
    if (uri_hop(u, host, sizeof host, &port, &proto) < 0)
        return -1;
    dst->proto = proto < 0 ? SIP_PROTO_UDP : proto;
    return sockaddr_from_host_port(host, strlen(host), port ? port : 5060, &dst->peer, &dst->peerlen);
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
    dst->conn_id = ep.proto == SIP_PROTO_TCP ? conn_id : 0;
    return 0;
}

static const char *gparam(osip_list_t *params, const char *name)
{
    osip_generic_param_t *p = NULL;
    if (osip_generic_param_get_byname(params, (char *)name, &p) < 0 || !p)
        return NULL;
    return p->gvalue ? p->gvalue : "";
}

/* Our address as it should appear in Via / Record-Route for transport proto toward `like`. */
static void compute_hostport(const struct proxy *px, enum sip_proto proto,
                             const struct sockaddr_storage *like, char *buf, size_t n);

/* Cached per transport and address family: the listeners do not change. */
static void my_hostport(const struct proxy *px, enum sip_proto proto,
                        const struct sockaddr_storage *like, char *buf, size_t n)
{
    int v6 = like && like->ss_family == AF_INET6;
    char *c = ((struct proxy *)px)->hostport[proto == SIP_PROTO_TCP][v6];
    if (!c[0])
        compute_hostport(px, proto, like, c, sizeof px->hostport[0][0]);
    snprintf(buf, n, "%s", c);
}

static void compute_hostport(const struct proxy *px, enum sip_proto proto,
                             const struct sockaddr_storage *like, char *buf, size_t n)
{
    const struct sip_endpoint *ep = transport_listener(px->tp, proto, like);
    if (!ep)
        ep = transport_listener(px->tp, proto, NULL);
    if (!ep) {
        snprintf(buf, n, "127.0.0.1:5060");
        return;
    }
    sockaddr_str(&ep->addr, buf, n);
}

/* Hash of what identifies a request for loop detection (§16.3 item 4, §16.6 item 8): the
 * Request-URI as received, From tag, To tag, Call-ID, CSeq number, Proxy-Require and
 * Proxy-Authorization. A spiral (new Request-URI) hashes differently; a loop identically. */
static void fnv(unsigned long *h, const char *s)
{
    for (; s && *s; s++)
        *h = (*h ^ (unsigned char)*s) * 16777619UL;
    *h = (*h ^ '|') * 16777619UL;
}

static unsigned long loop_hash(const osip_message_t *req)
{
    unsigned long h = 2166136261UL;
    const osip_uri_t *u = req->req_uri;
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

static int is_loop(const struct proxy *px, const osip_message_t *req)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "z9hG4bKsd%08lx.", loop_hash(req));
    for (int i = 0;; i++) {
        osip_via_t *v = osip_list_get(&req->vias, i);
        if (!v)
            return 0;
        const char *br = gparam(&v->via_params, "branch");
        if (!br || strncmp(br, prefix, strlen(prefix)) != 0)
            continue;
        int port = v->port ? atoi(v->port) : 0;
        if (transport_is_local(px->tp, v->host, port))
            return 1;
    }
}

/* Pop the top Via of a response we forward: by editing its bytes when we have them, else by
 * re-serialising. *out is malloc'd. Returns 0 or -1. */
static int pop_via_serialize(osip_message_t *resp, char **out, size_t *len);
static int pop_via_bytes(osip_message_t *resp, const char *raw, size_t raw_len, char **out, size_t *len)
{
    if (raw) {
        struct sbuf b;
        sbuf_init(&b);
        if (sip_rewrite_pop_via(raw, raw_len, &b) == 0) {
            *out = sbuf_steal(&b, len);
            return 0;
        }
        sbuf_free(&b);
    }
    return pop_via_serialize(resp, out, len);
}

static int pop_via_serialize(osip_message_t *resp, char **out, size_t *len)
{
    osip_via_t *v = osip_list_get(&resp->vias, 0);
    if (!v || osip_list_size(&resp->vias) < 2)
        return -1;
    osip_list_remove(&resp->vias, 0);
    osip_via_free(v);
    osip_message_force_update(resp);
    char *buf = NULL;
    size_t l = 0;
    if (osip_message_to_str(resp, &buf, &l) != 0 || !buf)
        return -1;
    *out = malloc(l);
    if (!*out) {
        osip_free(buf);
        return -1;
    }
    memcpy(*out, buf, l);
    *len = l;
    osip_free(buf);
    return 0;
}

/* ---- answering upstream --------------------------------------------------------------------- */

static void reply(struct pcall *pc, int code, const char *reason, const char *extra_name,
                  const char *extra_value)
{
    if (pc->final_sent || !pc->st)
        return;
    pc->final_sent = code >= 200;
    txn_respond_simple(pc->st, code, reason, extra_name, extra_value);
}

/* Rank of a final response for §16.7 step 6: lower is better. */
static int rank(int code)
{
    if (code >= 600)
        return 0;
    int cls = code / 100;
    int sub;
    switch (code) {
    case 401: case 407: sub = 0; break;
    case 415: case 420: case 484: sub = 1; break;
    case 486: sub = 2; break;
    case 480: sub = 5; break;
    case 487: sub = 6; break;
    case 408: sub = 7; break;
    case 503: sub = 8; break;
    default: sub = 3; break;
    }
    return cls * 10 + sub;
}

static void collect_challenges(struct pcall *pc, const osip_message_t *resp)
{
    osip_list_t *l = resp->status_code == 401 ? (osip_list_t *)&resp->www_authenticates
                                              : (osip_list_t *)&resp->proxy_authenticates;
    const char *name = resp->status_code == 401 ? "WWW-Authenticate" : "Proxy-Authenticate";
    for (int i = 0; i < osip_list_size(l); i++) {
        osip_www_authenticate_t *w = osip_list_get(l, i);
        char *s = NULL;
        if (w && osip_www_authenticate_to_str(w, &s) == 0 && s &&
            pc->challenges.len + strlen(s) < MAX_CHALLENGES_BYTES)
            sbuf_printf(&pc->challenges, "%s: %s\r\n", name, s);
        osip_free(s);
    }
}

/* Send the best final response (§16.7 step 6/7), merging the 401/407 challenges. */
static void send_best(struct pcall *pc)
{
    if (pc->final_sent || !pc->st)
        return;
    if (pc->cancelled && (pc->best_code == 0 || pc->best_code == 408 || pc->best_code == 503)) {
        reply(pc, 487, NULL, NULL, NULL);
        return;
    }
    if (!pc->best) {
        reply(pc, pc->best_code ? pc->best_code : 408, NULL, NULL, NULL);
        return;
    }
    int code = pc->best_code;
    if ((code == 401 || code == 407) && pc->challenges.len) {
        /* rebuild the chosen 401/407 with every branch's challenges */
        osip_message_t *m = sip_parse(pc->best, pc->best_len);
        if (m) {
            osip_list_t *l = code == 401 ? &m->www_authenticates : &m->proxy_authenticates;
            osip_list_special_free(l, (void (*)(void *))osip_www_authenticate_free);
            osip_message_force_update(m);
            char *buf = NULL;
            size_t len = 0;
            if (osip_message_to_str(m, &buf, &len) == 0 && buf) {
                /* insert the collected challenge lines before the blank line ending the headers */
                struct sbuf b;
                sbuf_init(&b);
                size_t hdr_end = len;
                char *end = strstr(buf, "\r\n\r\n");
                if (end)
                    hdr_end = (size_t)(end - buf) + 2;
                sbuf_append(&b, buf, hdr_end);
                sbuf_append(&b, pc->challenges.p, pc->challenges.len);
                sbuf_append(&b, buf + hdr_end, len - hdr_end);
                if (!b.failed) {
                    pc->final_sent = 1;
                    txn_respond_bytes(pc->st, code, b.p, b.len);
                }
                sbuf_free(&b);
            }
            osip_free(buf);
            osip_message_free(m);
            if (pc->final_sent)
                return;
        }
    }
    if (code == 503)
        code = 500; /* §16.7 step 6: a 503 is not passed on as such */
    pc->final_sent = 1;
    if (code != pc->best_code)
        txn_respond_simple(pc->st, code, NULL, NULL, NULL);
    else
        txn_respond_bytes(pc->st, code, pc->best, pc->best_len);
}

/* ---- branches -------------------------------------------------------------------------------- */

static void cancel_cb(void *arg, struct sip_txn *ct, enum txn_event ev, osip_message_t *resp,
                      const char *raw, size_t raw_len, int code)
{
    /* the CANCEL's own answer (200 or 481) changes nothing: the INVITE branch answers 487 */
}

static void branch_send_cancel(struct branch *b)
{
    if (b->cancel_sent || !b->ct || b->code)
        return;
    if (!b->got_provisional) {
        b->cancel_wanted = 1;
        return;
    }
    osip_message_t *c = txn_client_build_cancel(b->ct);
    if (!c)
        return;
    b->cancel_sent = 1;
    txn_client_new(b->pc->px->tl, c, txn_client_dest(b->ct), cancel_cb, NULL);
}

static void cancel_pending_branches(struct pcall *pc)
{
    if (!pc->is_invite)
        return;
    for (size_t i = 0; i < pc->nbr; i++)
        branch_send_cancel(pc->br[i]);
}

static void timer_c_fired(struct timer *t, void *arg)
{
    struct branch *b = arg;
    LOG_DEBUG("Timer C fired: cancelling a branch");
    if (b->got_provisional)
        branch_send_cancel(b);
    /* without a provisional, Timer B ends the branch */
}

static void branch_final(struct branch *b, int code)
{
    struct pcall *pc = b->pc;
    b->code = code;
    loop_timer_stop(pc->px->loop, &b->timer_c);
}

static void ct_gone(void *arg, struct sip_txn *t)
{
    struct branch *b = arg;
    b->ct = NULL;
    if (b->code == 0)
        b->code = 408; /* freed without a result (cannot happen in practice): count it as one */
}

static void branch_cb(void *arg, struct sip_txn *ct, enum txn_event ev, osip_message_t *resp,
                      const char *raw, size_t raw_len, int code)
{
    struct branch *b = arg;
    struct pcall *pc = b->pc;
    if (ev == TXN_RESPONSE && osip_list_size(&resp->vias) < 2) {
        /* a downstream element dropped the Vias below ours: the response cannot go upstream as
         * it is. Its status still counts; what the caller gets is built here. */
        LOG_DEBUG("response without the upstream Via code=%d: answered by sipd instead", code);
        if (code < 300)
            return; /* a 2xx cannot be rebuilt here (its To tag, Contact and body are the callee's) */
        ev = TXN_TIMEOUT; /* take the path that stores a code without bytes */
    }
    if (ev != TXN_RESPONSE) {
        branch_final(b, code);
        if (!pc->best_code || rank(code) < rank(pc->best_code)) {
            pc->best_code = code;
            free(pc->best);
            pc->best = NULL;
        }
        pcall_check_done(pc);
        return;
    }
    if (code < 200) {
        if (!b->got_provisional) {
            b->got_provisional = 1;
            if (b->cancel_wanted || pc->cancelled || pc->answered)
                branch_send_cancel(b);
        }
        if (pc->is_invite)
            loop_timer_start(pc->px->loop, &b->timer_c, pc->px->cfg.timer_c_ms, timer_c_fired, b);
        if (code == 100 || pc->final_sent || !pc->st)
            return;
        char *buf;
        size_t len;
        if (pop_via_bytes(resp, raw, raw_len, &buf, &len) == 0) {
            txn_respond_bytes(pc->st, code, buf, len);
            free(buf);
        }
        return;
    }
    if (code < 300) {
        /* 2xx: forwarded at once, whatever else is pending (§16.7 step 5) */
        if (b->code == 0)
            branch_final(b, code);
        char *buf;
        size_t len;
        if (pc->st && pop_via_bytes(resp, raw, raw_len, &buf, &len) == 0) {
            txn_respond_bytes(pc->st, code, buf, len);
            free(buf);
        }
        pc->final_sent = 1;
        if (!pc->answered) {
            pc->answered = 1;
            cancel_pending_branches(pc);
        }
        pcall_check_done(pc);
        return;
    }
    branch_final(b, code);
    if (code >= 600) {
        pc->got_6xx = 1;
        cancel_pending_branches(pc);
    }
    if (code == 401 || code == 407)
        collect_challenges(pc, resp);
    if (!pc->best_code || rank(code) < rank(pc->best_code)) {
        char *buf;
        size_t len;
        if (pop_via_bytes(resp, raw, raw_len, &buf, &len) == 0) {
            free(pc->best);
            pc->best = buf;
            pc->best_len = len;
            pc->best_code = code;
        }
    }
    pcall_check_done(pc);
}

/* Forward req to target t as a new branch (§16.6). */
static struct branch *branch_new(struct pcall *pc)
{
    struct branch *b = calloc(1, sizeof *b);
    if (b) {
        b->pc = pc;
        pc->br[pc->nbr++] = b;
    }
    return b;
}

static void add_rr_line(struct sbuf *o, const struct proxy *px, enum sip_proto proto,
                        const struct sockaddr_storage *like)
{
    char hp[64];
    my_hostport(px, proto, like, hp, sizeof hp);
    sbuf_printf(o, "Record-Route: <sip:%s%s;lr>\r\n", hp, proto == SIP_PROTO_TCP ? ";transport=tcp" : "");
}

/* The fast path of forward_branch(): edit the received bytes (sip/rewrite.h). Returns 0, or -1
 * to fall back to re-serialising the parsed request. */
static int forward_branch_text(struct pcall *pc, const struct target *t, const char *branch)
{
    struct proxy *px = pc->px;
    size_t raw_len;
    const char *raw = txn_raw(pc->st, &raw_len);
    osip_message_t *req = txn_request(pc->st);
    if (!raw || !req || pc->ruri_changed)
        return -1;
    const struct sip_source *src = txn_source(pc->st);
    struct sbuf pre, out;
    sbuf_init(&pre);
    sbuf_init(&out);
    char hp[64];
    my_hostport(px, t->dst.proto, &t->dst.peer, hp, sizeof hp);
    sbuf_printf(&pre, "Via: SIP/2.0/%s %s;branch=%s;rport\r\n", sip_proto_via_name(t->dst.proto), hp, branch);
    if (pc->record_route) {
        if (t->dst.proto != src->proto)
            add_rr_line(&pre, px, t->dst.proto, &t->dst.peer);
        add_rr_line(&pre, px, src->proto, &src->peer);
    }
    if (t->path)
        sbuf_printf(&pre, "Route: %s\r\n", t->path);
    char *topvia = NULL;
    osip_via_t *v = osip_list_get(&req->vias, 0);
    if (v)
        osip_via_to_str(v, &topvia);
    const char *mf = sip_header_get(req, "max-forwards", 0);
    int mfv = mf ? atoi(mf) : 70;
    struct fwd_edit e = {
        .new_ruri = t->uri,
        .prepend = pre.p,
        .top_via_value = topvia,
        .drop_routes = pc->routes_dropped,
        .max_forwards = mfv > 0 ? mfv - 1 : 0,
    };
    int rc = pre.failed ? -1 : sip_rewrite_request(raw, raw_len, &e, &out);
    osip_free(topvia);
    sbuf_free(&pre);
    if (rc < 0) {
        sbuf_free(&out);
        return -1;
    }
    struct branch *b = branch_new(pc);
    if (b) {
        b->ct = txn_client_new_bytes(px->tl, req->sip_method, branch, out.p, out.len, &t->dst, branch_cb, b);
        if (!b->ct)
            b->code = 500;
        else
            txn_set_owner(b->ct, ct_gone, b);
        if (b->ct && pc->is_invite)
            loop_timer_start(px->loop, &b->timer_c, px->cfg.timer_c_ms, timer_c_fired, b);
    }
    sbuf_free(&out);
    return 0;
}

static void forward_branch(struct pcall *pc, const struct target *t)
{
    struct proxy *px = pc->px;
    osip_message_t *req = txn_request(pc->st);
    const struct sip_source *src = txn_source(pc->st);
    osip_message_t *fwd = NULL;
    if (!req)
        return;
    char branch[64], rnd[16];
    sip_random_token(rnd, sizeof rnd);
    snprintf(branch, sizeof branch, "z9hG4bKsd%08lx.%s", loop_hash(req), rnd);
    if (forward_branch_text(pc, t, branch) == 0)
        return;
    if (osip_message_clone(req, &fwd) != 0)
        return;
    /* 1-2. Request-URI */
    if (t->uri) {
        osip_uri_t *u = NULL;
        if (osip_uri_init(&u) != 0 || osip_uri_parse(u, t->uri) != 0) {
            if (u)
                osip_uri_free(u);
            osip_message_free(fwd);
            return;
        }
        osip_uri_free(fwd->req_uri);
        fwd->req_uri = u;
    }
    /* 3. Max-Forwards */
    const char *mf = sip_header_get(fwd, "max-forwards", 0);
    int mfv = mf ? atoi(mf) : 70;
    osip_header_t *h = NULL;
    int pos = osip_message_header_get_byname(fwd, "max-forwards", 0, &h);
    if (pos >= 0 && h) {
        char v[16];
        snprintf(v, sizeof v, "%d", mfv > 0 ? mfv - 1 : 0);
        osip_free(h->hvalue);
        h->hvalue = osip_strdup(v);
    }
    /* 4. Record-Route; the transport toward the target decides a double Record-Route */
    if (pc->record_route) {
        char in[64], out[64], rr[160];
        my_hostport(px, src->proto, &src->peer, in, sizeof in);
        snprintf(rr, sizeof rr, "<sip:%s%s;lr>", in, src->proto == SIP_PROTO_TCP ? ";transport=tcp" : "");
        osip_record_route_t *r = NULL;
        if (osip_record_route_init(&r) == 0 && osip_record_route_parse(r, rr) == 0)
            osip_list_add(&fwd->record_routes, r, 0);
        else if (r)
            osip_record_route_free(r);
        if (t->dst.proto != src->proto) {
            my_hostport(px, t->dst.proto, &t->dst.peer, out, sizeof out);
            snprintf(rr, sizeof rr, "<sip:%s%s;lr>", out, t->dst.proto == SIP_PROTO_TCP ? ";transport=tcp" : "");
            r = NULL;
            if (osip_record_route_init(&r) == 0 && osip_record_route_parse(r, rr) == 0)
                osip_list_add(&fwd->record_routes, r, 0);
            else if (r)
                osip_record_route_free(r);
        }
    }
    /* Path of the binding becomes the route set toward it (RFC 3327) */
    if (t->path) {
        char *copy = strdup(t->path);
        int idx = 0;
        char *save = NULL;
        for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ')
                tok++;
            osip_route_t *r = NULL;
            if (osip_route_init(&r) == 0 && osip_route_parse(r, tok) == 0)
                osip_list_add(&fwd->routes, r, idx++);
            else if (r)
                osip_route_free(r);
        }
        free(copy);
    }
    /* 8. our Via, with a branch that carries the loop-detection hash */
    char hp[64], via[192];
    my_hostport(px, t->dst.proto, &t->dst.peer, hp, sizeof hp);
    snprintf(via, sizeof via, "SIP/2.0/%s %s;branch=%s;rport", sip_proto_via_name(t->dst.proto), hp, branch);
    osip_via_t *v = NULL;
    if (osip_via_init(&v) != 0 || osip_via_parse(v, via) != 0) {
        if (v)
            osip_via_free(v);
        osip_message_free(fwd);
        return;
    }
    osip_list_add(&fwd->vias, v, 0);
    osip_message_force_update(fwd);

    struct branch *b = branch_new(pc);
    if (!b) {
        osip_message_free(fwd);
        return;
    }
    b->ct = txn_client_new(px->tl, fwd, &t->dst, branch_cb, b);
    if (!b->ct) {
        b->code = 500;
        return;
    }
    txn_set_owner(b->ct, ct_gone, b);
    if (pc->is_invite)
        loop_timer_start(px->loop, &b->timer_c, px->cfg.timer_c_ms, timer_c_fired, b);
}

static int target_q(const struct target *t) { return t->q < 0 ? 1000 : t->q; }

/* Start every target of the next q-value group (parallel within, sequential between groups). */
static void start_next_group(struct pcall *pc)
{
    if (pc->next_target >= pc->ntargets)
        return;
    int q = target_q(&pc->targets[pc->next_target]);
    while (pc->next_target < pc->ntargets && target_q(&pc->targets[pc->next_target]) == q &&
           pc->nbr < MAX_TARGETS)
        forward_branch(pc, &pc->targets[pc->next_target++]);
}

static void pcall_check_done(struct pcall *pc)
{
    if (pc->lookup_pending)
        return;
    for (size_t i = 0; i < pc->nbr; i++)
        if (pc->br[i]->code == 0)
            return; /* a branch is still pending */
    if (!pc->final_sent && !pc->answered && !pc->got_6xx && !pc->cancelled &&
        pc->next_target < pc->ntargets) {
        size_t before = pc->nbr;
        start_next_group(pc);
        if (pc->nbr > before) {
            for (size_t i = before; i < pc->nbr; i++)
                if (pc->br[i]->code == 0)
                    return;
        }
        /* nothing could be started: fall through and answer */
        pcall_check_done(pc);
        return;
    }
    if (!pc->final_sent)
        send_best(pc);
    pcall_free(pc);
}

/* ---- request routing ------------------------------------------------------------------------ */

static int route_is_me(const struct proxy *px, const osip_route_t *r)
{
    return r && r->url && proxy_uri_is_me(px, r->url);
}

/* §16.4: strict-routing previous hop (our Record-Route in the Request-URI), then our own Route
 * entries on top are removed. */
static int preprocess_routes(struct proxy *px, osip_message_t *req, int *ruri_changed)
{
    int dropped = 0;
    *ruri_changed = 0;
    if (proxy_uri_is_me(px, req->req_uri) && osip_list_size(&req->routes) > 0) {
        int last = osip_list_size(&req->routes) - 1;
        osip_route_t *r = osip_list_get(&req->routes, last);
        if (r && r->url) {
            osip_uri_t *u = NULL;
            if (osip_uri_clone(r->url, &u) == 0) {
                osip_uri_free(req->req_uri);
                req->req_uri = u;
                osip_list_remove(&req->routes, last);
                osip_route_free(r);
                *ruri_changed = 1;
            }
        }
    }
    while (osip_list_size(&req->routes) > 0) {
        osip_route_t *r = osip_list_get(&req->routes, 0);
        if (!route_is_me(px, r))
            break;
        osip_list_remove(&req->routes, 0);
        osip_route_free(r);
        dropped++;
    }
    osip_message_force_update(req);
    return dropped;
}

static void set_single_target(struct pcall *pc, const char *uri, const struct sip_source *dst)
{
    pc->targets[0].uri = uri ? strdup(uri) : NULL;
    pc->targets[0].dst = *dst;
    pc->targets[0].q = -1;
    pc->ntargets = 1;
}

static void redirect_reply(struct pcall *pc, const struct binding *b, size_t n)
{
    struct sbuf h;
    sbuf_init(&h);
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < n; i++) {
        sbuf_printf(&h, "Contact: <%s>", b[i].contact);
        if (b[i].q >= 0)
            sbuf_printf(&h, ";q=%d.%03d", b[i].q / 1000, b[i].q % 1000);
        sbuf_printf(&h, ";expires=%ld\r\n", (long)(b[i].expires_at > now ? b[i].expires_at - now : 0));
    }
    pc->final_sent = 1;
    if (pc->st)
        txn_respond_text(pc->st, 302, NULL, h.failed ? NULL : h.p);
    sbuf_free(&h);
}

static int is_redirect_domain(const struct proxy *px, const osip_uri_t *u)
{
    return px->cfg.redirect_all || (u && u->host && domain_listed(px->cfg.redirect_domains, u->host));
}

/* Should the binding be reached over the flow its REGISTER came in on rather than at its Contact?
 * Yes for RFC 5626 outbound registrations (reg-id), and for a TCP registration whose connection
 * is still open when the Contact names the same host (the device itself registered: its own
 * connection is the way in, through NAT and firewalls). A third party's registration, or a
 * flow that is gone, means the Contact (RFC 3261 §16.5). */
static int use_flow(const struct proxy *px, const struct binding *b, struct sip_source *dst)
{
    struct sip_source flow;
    if (received_destination(b->received, b->conn_id, &flow) < 0)
        return 0;
    int ok = 0;
    if (b->reg_id > 0 && b->instance) {
        ok = flow.proto == SIP_PROTO_UDP || transport_conn_alive(px->tp, flow.conn_id);
    } else if (flow.proto == SIP_PROTO_TCP && transport_conn_alive(px->tp, flow.conn_id)) {
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

static void lookup_done(void *arg, int status, const struct binding *b, size_t n)
{
    struct pcall *pc = arg;
    pc->lookup_pending = 0;
    if (pc->cancelled) {
        reply(pc, 487, NULL, NULL, NULL);
        pcall_check_done(pc);
        return;
    }
    if (status == STORE_EUNAVAIL) {
        reply(pc, 503, "Location service unavailable", "Retry-After", "5");
    } else if (status < 0) {
        reply(pc, 500, "Location service error", NULL, NULL);
    } else if (n == 0) {
        if (pc->st && status == STORE_OFFLINE)
            reply(pc, 480, NULL, NULL, NULL);
        else
            reply(pc, 404, NULL, NULL, NULL);
    } else if (pc->st && is_redirect_domain(pc->px, txn_request(pc->st)->req_uri)) {
        redirect_reply(pc, b, n);
    } else {
        /* bindings arrive ordered by q descending: the target groups follow that order */
        for (size_t i = 0; i < n && pc->ntargets < MAX_TARGETS; i++) {
            struct target *t = &pc->targets[pc->ntargets];
            if (b[i].path) {
                /* the first Path entry is the next hop */
                osip_route_t *r = NULL;
                char first[512];
                snprintf(first, sizeof first, "%s", b[i].path);
                char *comma = strchr(first, ',');
                if (comma)
                    *comma = '\0';
                int ok = osip_route_init(&r) == 0 && osip_route_parse(r, first) == 0 &&
                         uri_destination(r->url, &t->dst) == 0;
                if (r)
                    osip_route_free(r);
                if (!ok)
                    continue;
            } else if (!use_flow(pc->px, &b[i], &t->dst)) {
                osip_uri_t *u = NULL;
                int ok = osip_uri_init(&u) == 0 && osip_uri_parse(u, b[i].contact) == 0 &&
                         uri_destination(u, &t->dst) == 0;
                if (u)
                    osip_uri_free(u);
                if (!ok)
                    continue;
            }
            t->uri = strdup(b[i].contact);
            t->path = b[i].path ? strdup(b[i].path) : NULL;
            t->q = b[i].q;
            pc->ntargets++;
        }
        if (pc->ntargets == 0)
            reply(pc, 480, "No reachable contact", NULL, NULL);
        else
            start_next_group(pc);
    }
    pcall_check_done(pc);
}

static void resolved(void *arg, int status, const struct sip_source *dsts, size_t n)
{
    struct pcall *pc = arg;
    pc->lookup_pending = 0;
    pc->resolve_id = 0;
    if (pc->cancelled) {
        reply(pc, 487, NULL, NULL, NULL);
    } else if (status < 0 || n == 0) {
        reply(pc, 404, "Next hop not found in DNS", NULL, NULL);
    } else {
        set_single_target(pc, NULL, &dsts[0]);
        start_next_group(pc);
    }
    pcall_check_done(pc);
}

/* Forward to the hop a URI names (RFC 3263 for host names; numeric hosts at once). */
static void resolve_and_forward(struct pcall *pc, const osip_uri_t *uri)
{
    char host[256];
    int port, proto;
    if (uri_hop(uri, host, sizeof host, &port, &proto) < 0) {
        reply(pc, 416, "Unusable next-hop URI", NULL, NULL);
        pcall_check_done(pc);
        return;
    }
    pc->lookup_pending = 1;
    /* a numeric host is answered at once, and pc may be gone when this returns 0 */
    uint64_t id = resolver_lookup(pc->px->resolver, host, port, proto, resolved, pc);
    if (id)
        pc->resolve_id = id;
}

static const char *const known_proxy_options[] = {NULL};

void proxy_handle_request(struct proxy *px, struct sip_txn *t)
{
    osip_message_t *req = txn_request(t);
    int is_invite = strcmp(req->sip_method, "INVITE") == 0;
    if (is_invite)
        txn_respond_text(t, 100, NULL, NULL);
    /* §16.3 validation */
    const char *mf = sip_header_get(req, "max-forwards", 0);
    if (mf && atoi(mf) <= 0) {
        txn_respond_simple(t, 483, NULL, NULL, NULL);
        return;
    }
    char unsup[64];
    if (sip_header_unknown_option(req, "proxy-require", known_proxy_options, unsup, sizeof unsup)) {
        txn_respond_simple(t, 420, NULL, "Unsupported", unsup);
        return;
    }
    if (is_loop(px, req)) {
        txn_respond_simple(t, 482, NULL, NULL, NULL);
        return;
    }
    struct pcall *pc = pcall_new(px, t);
    if (!pc) {
        txn_respond_simple(t, 500, "Out of memory", NULL, NULL);
        return;
    }
    int has_to_tag = req->to && gparam(&req->to->gen_params, "tag") != NULL;
    pc->record_route = px->cfg.record_route && !has_to_tag &&
                       (is_invite || strcmp(req->sip_method, "SUBSCRIBE") == 0 ||
                        strcmp(req->sip_method, "REFER") == 0);
    pc->routes_dropped = preprocess_routes(px, req, &pc->ruri_changed);

    osip_route_t *top = osip_list_get(&req->routes, 0);
    if (top && top->url) {
        /* the route set decides the next hop (§16.4, §16.6 step 6) */
        osip_uri_t *hop = NULL;
        if (osip_uri_clone(top->url, &hop) != 0) {
            reply(pc, 500, "Out of memory", NULL, NULL);
            pcall_check_done(pc);
            return;
        }
        if (!gparam(&top->url->url_params, "lr")) {
            /* strict-routing next hop: it gets the Request-URI slot, ours goes to the end */
            osip_route_t *end = NULL;
            if (osip_route_init(&end) == 0 && osip_uri_clone(req->req_uri, &end->url) == 0) {
                osip_list_add(&req->routes, end, -1);
                osip_uri_t *u = NULL;
                osip_uri_clone(top->url, &u);
                osip_uri_free(req->req_uri);
                req->req_uri = u;
                osip_list_remove(&req->routes, 0);
                osip_route_free(top);
                osip_message_force_update(req);
                pc->ruri_changed = 1;
            } else if (end) {
                osip_route_free(end);
            }
        }
        resolve_and_forward(pc, hop);
        osip_uri_free(hop);
        return;
    }
    if (proxy_uri_is_local(px, req->req_uri) && req->req_uri->username && !has_to_tag) {
        /* a user of ours: the location service gives the targets */
        const osip_uri_t *u = req->req_uri;
        char *aor = pc->aor;
        snprintf(aor, sizeof pc->aor, "%s:%s@%s", u->scheme ? u->scheme : "sip", u->username, u->host);
        for (char *p = aor; *p && *p != ':'; p++)
            *p = (char)tolower((unsigned char)*p);
        for (char *p = strchr(aor, '@'); p && *p; p++)
            *p = (char)tolower((unsigned char)*p);
        pc->lookup_pending = 1;
        store_location_lookup(px->store, aor, (int64_t)time(NULL), lookup_done, pc);
        return;
    }
    if (proxy_uri_is_me(px, req->req_uri)) {
        reply(pc, 404, "No route to this address", NULL, NULL);
        pcall_check_done(pc);
        return;
    }
    resolve_and_forward(pc, req->req_uri);
}

void proxy_handle_cancel(struct proxy *px, struct sip_txn *t)
{
    struct sip_txn *inv = txn_server_find_invite(px->tl, txn_request(t));
    if (!inv) {
        txn_respond_simple(t, 481, NULL, NULL, NULL);
        return;
    }
    txn_respond_simple(t, 200, NULL, NULL, NULL);
    struct pcall *pc = txn_owner(inv);
    if (!pc || pc->final_sent)
        return;
    pc->cancelled = 1;
    cancel_pending_branches(pc);
    pcall_check_done(pc);
}

/* ---- stateless forwarding (ACK for 2xx, stray 2xx) ------------------------------------------ */

void proxy_handle_ack(struct proxy *px, osip_message_t *ack, const struct sip_source *src,
                      const char *raw, size_t raw_len)
{
    int ruri_changed;
    int dropped = preprocess_routes(px, ack, &ruri_changed);
    struct sip_source dst;
    osip_route_t *top = osip_list_get(&ack->routes, 0);
    const osip_uri_t *hop = top && top->url ? top->url : ack->req_uri;
    const char *mf = sip_header_get(ack, "max-forwards", 0);
    int mfv = mf ? atoi(mf) : 70;
    if (mfv <= 0 || (!top && proxy_uri_is_me(px, ack->req_uri)) || uri_destination(hop, &dst) < 0) {
        osip_message_free(ack);
        return;
    }
    /* a stateless branch: the same for a retransmitted ACK (§16.11) */
    osip_via_t *prev = osip_list_get(&ack->vias, 0);
    const char *pb = prev ? gparam(&prev->via_params, "branch") : NULL;
    unsigned long hsh = 5381;
    for (const char *p = pb ? pb : ""; *p; p++)
        hsh = hsh * 33 + (unsigned char)*p;
    char hp[64], via[192];
    my_hostport(px, dst.proto, &dst.peer, hp, sizeof hp);
    snprintf(via, sizeof via, "SIP/2.0/%s %s;branch=z9hG4bKsl%08lx;rport", sip_proto_via_name(dst.proto), hp,
             hsh & 0xffffffffUL);
    if (raw && !ruri_changed) {
        struct sbuf pre, out;
        sbuf_init(&pre);
        sbuf_init(&out);
        sbuf_printf(&pre, "Via: %s\r\n", via);
        char *topvia = NULL;
        if (prev)
            osip_via_to_str(prev, &topvia);
        struct fwd_edit e = {.prepend = pre.p, .top_via_value = topvia, .drop_routes = dropped,
                             .max_forwards = mfv - 1};
        if (!pre.failed && sip_rewrite_request(raw, raw_len, &e, &out) == 0) {
            transport_send(px->tp, &dst, out.p, out.len);
            osip_free(topvia);
            sbuf_free(&pre);
            sbuf_free(&out);
            osip_message_free(ack);
            return;
        }
        osip_free(topvia);
        sbuf_free(&pre);
        sbuf_free(&out);
    }
    osip_header_t *h = NULL;
    if (osip_message_header_get_byname(ack, "max-forwards", 0, &h) >= 0 && h) {
        char v[16];
        snprintf(v, sizeof v, "%d", mfv - 1);
        osip_free(h->hvalue);
        h->hvalue = osip_strdup(v);
    }
    osip_via_t *v = NULL;
    if (osip_via_init(&v) == 0 && osip_via_parse(v, via) == 0) {
        osip_list_add(&ack->vias, v, 0);
        osip_message_force_update(ack);
        char *buf = NULL;
        size_t len;
        if (osip_message_to_str(ack, &buf, &len) == 0 && buf)
            transport_send(px->tp, &dst, buf, len);
        osip_free(buf);
    } else if (v) {
        osip_via_free(v);
    }
    (void)src;
    osip_message_free(ack);
}

void proxy_handle_stray_response(struct proxy *px, osip_message_t *resp)
{
    if (resp->status_code < 200 || resp->status_code >= 300 || !resp->cseq || !resp->cseq->method ||
        strcmp(resp->cseq->method, "INVITE") != 0)
        return;
    osip_via_t *top = osip_list_get(&resp->vias, 0);
    if (!top || !transport_is_local(px->tp, top->host, top->port ? atoi(top->port) : 0))
        return; /* not sent by us */
    char *buf;
    size_t len;
    if (pop_via_serialize(resp, &buf, &len) < 0)
        return;
    struct sip_source src = {.proto = SIP_PROTO_UDP, .udp_fd = -1}, dst;
    osip_via_t *next = osip_list_get(&resp->vias, 0);
    /* the next Via says where: received/rport (RFC 3581) or sent-by; over TCP the connection
     * to that address is found in the connection table */
    if (sip_response_dest(resp, &src, &dst) == 0 && dst.peerlen) {
        if (next && next->protocol && strcasecmp(next->protocol, "TCP") == 0)
            dst.proto = SIP_PROTO_TCP;
        transport_send(px->tp, &dst, buf, len);
    }
    free(buf);
}
