/* branch.c - the proxy's branches (RFC 3261 §16.6-16.10): each target gets a copy of the
 * request built by editing the received bytes (sip/rewrite.h), parallel within a q-value group
 * and sequential between groups; Timer C; CANCEL of pending branches; responses forwarded as
 * they come (provisionals, 2xx at once) and the best final one chosen (§16.7 step 6), with the
 * 401/407 challenges of every branch merged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/log.h"
#include "../../base/loop.h"
#include "../../cluster/cluster.h"
#include "../../sip/msg.h"
#include "../../sip/rewrite.h"
#include "../../sip/txn.h"
#include "../../transport/addr.h"
#include "proxy_impl.h"

#define MAX_CHALLENGES_BYTES 8192

/* ---- our address ------------------------------------------------------------------------------ */

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

/* Cached per transport and address family: the listeners do not change. */
void proxy_hostport(const struct proxy *px, enum sip_proto proto,
                    const struct sockaddr_storage *like, char *buf, size_t n)
{
    int v6 = like && like->ss_family == AF_INET6;
    char *c = ((struct proxy *)px)->hostport[proto][v6];
    if (!c[0])
        compute_hostport(px, proto, like, c, sizeof px->hostport[0][0]);
    snprintf(buf, n, "%s", c);
}

/* A response to forward upstream without its top Via (ours), edited as text. *out is malloc'd.
 * Returns 0 or -1. */
static int pop_via(const char *raw, size_t raw_len, char **out, size_t *len)
{
    if (!raw)
        return -1;
    struct sbuf b;
    sbuf_init(&b);
    if (sip_rewrite_pop_via(raw, raw_len, &b) < 0) {
        sbuf_free(&b);
        return -1;
    }
    *out = sbuf_steal(&b, len);
    return 0;
}

/* ---- the best response (§16.7) ---------------------------------------------------------------- */

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

/* The chosen 401/407 rebuilt with every branch's challenges. Returns 1 when sent. */
static int send_merged_challenges(struct pcall *pc, int code)
{
    osip_message_t *m = sip_parse(pc->best, pc->best_len);
    if (!m)
        return 0;
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
    return pc->final_sent;
}

/* Send the best final response (§16.7 step 6/7), merging the 401/407 challenges. */
static void send_best(struct pcall *pc)
{
    if (pc->final_sent || !pc->st)
        return;
    if (pc->cancelled && (pc->best_code == 0 || pc->best_code == 408 || pc->best_code == 503)) {
        pcall_reply(pc, 487, NULL, NULL, NULL);
        return;
    }
    if (pc->failover && (pc->nbr == 0 || pc->br[pc->nbr - 1]->retryable)) {
        /* every node tried failed: the client may try again later (or another balancer). A
         * node's own 503 says why (and when to retry): passed on as it is, since every node
         * was asked (§16.7 step 6 allows it then) */
        if (pc->best && pc->best_code == 503) {
            pc->final_sent = 1;
            txn_respond_bytes(pc->st, 503, pc->best, pc->best_len);
        } else {
            pcall_reply(pc, 503, "No node answered", "Retry-After", "5");
        }
        return;
    }
    if (!pc->best) {
        pcall_reply(pc, pc->best_code ? pc->best_code : 408, NULL, NULL, NULL);
        return;
    }
    int code = pc->best_code;
    if ((code == 401 || code == 407) && pc->challenges.len && send_merged_challenges(pc, code))
        return;
    if (code == 503)
        code = 500; /* §16.7 step 6: a 503 is not passed on as such */
    pc->final_sent = 1;
    if (code != pc->best_code)
        txn_respond_simple(pc->st, code, NULL, NULL, NULL);
    else
        txn_respond_bytes(pc->st, code, pc->best, pc->best_len);
}

/* ---- CANCEL and Timer C ----------------------------------------------------------------------- */

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

void pcall_cancel_branches(struct pcall *pc)
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

/* ---- responses from a branch ------------------------------------------------------------------ */

static void branch_final(struct branch *b, int code)
{
    struct pcall *pc = b->pc;
    b->code = code;
    loop_timer_stop(pc->px->loop, &b->timer_c);
    loop_timer_stop(pc->px->loop, &b->timer_fo);
    edge_branch_done(b);
}

/* Edge: the node said nothing at all within failover_ms; the next one is tried. The client
 * transaction is left to finish on its own (a late 2xx is forwarded as a stray). */
static void timer_fo_fired(struct timer *t, void *arg)
{
    struct branch *b = arg;
    struct pcall *pc = b->pc;
    (void)t;
    if (b->code || b->got_provisional)
        return;
    LOG_DEBUG("node silent for %u ms: trying the next one", pc->px->cfg.failover_ms);
    if (b->ct) {
        txn_set_owner(b->ct, NULL, NULL);
        txn_client_detach(b->ct);
        b->ct = NULL;
    }
    b->retryable = 1;
    branch_final(b, 408);
    if (!pc->best_code || rank(408) < rank(pc->best_code)) {
        pc->best_code = 408;
        free(pc->best);
        pc->best = NULL;
    }
    pcall_check_done(pc);
}

static void ct_gone(void *arg, struct sip_txn *t)
{
    struct branch *b = arg;
    b->ct = NULL;
    if (b->code == 0)
        b->code = 408; /* freed without a result (cannot happen in practice): count it as one */
}

/* A provisional response: Timer C restarted, a wanted CANCEL sent, forwarded upstream. */
static void branch_provisional(struct branch *b, int code, const char *raw, size_t raw_len)
{
    struct pcall *pc = b->pc;
    loop_timer_stop(pc->px->loop, &b->timer_fo);
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
    if (pop_via(raw, raw_len, &buf, &len) == 0) {
        txn_respond_bytes(pc->st, code, buf, len);
        free(buf);
    }
}

/* A 2xx: forwarded at once, whatever else is pending (§16.7 step 5). */
static void branch_2xx(struct branch *b, int code, const char *raw, size_t raw_len)
{
    struct pcall *pc = b->pc;
    if (b->code == 0)
        branch_final(b, code);
    char *buf;
    size_t len;
    if (pc->st && pop_via(raw, raw_len, &buf, &len) == 0) {
        txn_respond_bytes(pc->st, code, buf, len);
        free(buf);
    }
    pc->final_sent = 1;
    if (!pc->answered) {
        pc->answered = 1;
        pcall_cancel_branches(pc);
    }
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
    b->retryable = pc->failover && (ev != TXN_RESPONSE || code == 503);
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
        branch_provisional(b, code, raw, raw_len);
        return;
    }
    if (code < 300) {
        if (pc->is_invite && pc->record_route && pc->px->cfg.track_dialogs)
            proxy_dialog_add(pc->px, resp); /* its BYE will pass here too */
        branch_2xx(b, code, raw, raw_len);
        pcall_check_done(pc);
        return;
    }
    branch_final(b, code);
    if (code >= 600) {
        pc->got_6xx = 1;
        pcall_cancel_branches(pc);
    }
    if (code == 401 || code == 407)
        collect_challenges(pc, resp);
    if (!pc->best_code || rank(code) < rank(pc->best_code)) {
        char *buf;
        size_t len;
        if (pop_via(raw, raw_len, &buf, &len) == 0) {
            free(pc->best);
            pc->best = buf;
            pc->best_len = len;
            pc->best_code = code;
        }
    }
    pcall_check_done(pc);
}

/* ---- forwarding (§16.6) ----------------------------------------------------------------------- */

static struct branch *branch_new(struct pcall *pc)
{
    struct branch *b = calloc(1, sizeof *b);
    if (b) {
        b->pc = pc;
        pc->br[pc->nbr++] = b;
    }
    return b;
}

/* Our Record-Route (or Path) line: "NAME: <sip:us;lr>", with the client's flow at the edge, and
 * on an im SUBSCRIBE's Record-Route its topic (edge.c). */
static void add_rr_line(struct sbuf *o, const char *name, const struct pcall *pc, enum sip_proto proto,
                        const struct sockaddr_storage *like)
{
    char hp[64];
    proxy_hostport(pc->px, proto, like, hp, sizeof hp);
    int has_topic = pc->rr_topic[0] != '\0'; /* set on SUBSCRIBEs only: never in a Path */
    /* §16.6 step 4: a sips: request is record-routed with a sips: URI (TLS implied, RFC 5630) */
    osip_message_t *req = txn_request(pc->st);
    int sips = req && route_uri_is_sips(req->req_uri) && proto == SIP_PROTO_TLS;
    sbuf_printf(o, "%s: <sip%s:%s%s;lr%s%s%s%s>\r\n", name, sips ? "s" : "", hp,
                sips ? "" : sip_proto_uri_param(proto),
                pc->flow[0] ? ";flow=" : "", pc->flow, has_topic ? ";topic=" : "",
                has_topic ? pc->rr_topic : "");
}

/* The copy of the request for target t, edited from the received bytes: Request-URI (§16.6
 * steps 2 and 6), Max-Forwards (3), Record-Route (4; double when the transport changes), the
 * binding's Path as Route (RFC 3327), our Via (8) with the branch given. Returns 0 or -1. */
static int build_copy(struct pcall *pc, const struct target *t, const char *branch, struct sbuf *out)
{
    struct proxy *px = pc->px;
    size_t raw_len;
    const char *raw = txn_raw(pc->st, &raw_len);
    osip_message_t *req = txn_request(pc->st);
    if (!raw || !req)
        return -1;
    const struct sip_source *src = txn_source(pc->st);
    struct sbuf pre;
    sbuf_init(&pre);
    char hp[64];
    proxy_hostport(px, t->dst.proto, &t->dst.peer, hp, sizeof hp);
    sbuf_printf(&pre, "Via: SIP/2.0/%s %s;branch=%s;rport\r\n", sip_proto_via_name(t->dst.proto), hp, branch);
    if (pc->record_route) {
        if (t->dst.proto != src->proto)
            add_rr_line(&pre, "Record-Route", pc, t->dst.proto, &t->dst.peer);
        add_rr_line(&pre, "Record-Route", pc, src->proto, &src->peer);
    }
    if (pc->add_path) /* RFC 3327: the node reaches us as we reach it */
        add_rr_line(&pre, "Path", pc, t->dst.proto, &t->dst.peer);
    if (t->path)
        sbuf_printf(&pre, "Route: %s\r\n", t->path);
    char *topvia = NULL;
    osip_via_t *v = osip_list_get(&req->vias, 0);
    if (v)
        osip_via_to_str(v, &topvia);
    const char *mf = sip_header_get(req, "max-forwards", 0);
    int mfv = mf ? atoi(mf) : 70;
    struct fwd_edit e = {
        .new_ruri = t->uri ? t->uri : pc->fwd.new_ruri,
        .prepend = pre.p,
        .top_via_value = topvia,
        .drop_routes = pc->fwd.drop_routes,
        .drop_last_route = pc->fwd.drop_last_route,
        .append_route = pc->fwd.append_route,
        .max_forwards = mfv > 0 ? mfv - 1 : 0,
    };
    int rc = pre.failed ? -1 : sip_rewrite_request(raw, raw_len, &e, out);
    osip_free(topvia);
    sbuf_free(&pre);
    return rc;
}

/* Forward the request to target t as a new branch. */
static void forward_branch(struct pcall *pc, const struct target *t)
{
    struct proxy *px = pc->px;
    osip_message_t *req = txn_request(pc->st);
    if (!req)
        return;
    char branch[64], rnd[16];
    sip_random_token(rnd, sizeof rnd);
    snprintf(branch, sizeof branch, "z9hG4bKsd%08lx.%s", pc->fwd.loop_hash, rnd);
    struct branch *b = branch_new(pc);
    if (!b)
        return;
    /* one buffer for every copy: grown once instead of realloc'ed past 1 KB per request, which
     * sends malloc down its large-chunk path (txn_client_new_bytes copies the bytes at once) */
    struct sbuf *out = &px->copy_buf;
    sbuf_reset(out);
    if (build_copy(pc, t, branch, out) < 0) {
        LOG_DEBUG("request not forwarded: its text could not be edited branch=%s", branch);
        b->code = 500;
        if (!pc->best_code)
            pc->best_code = 500;
    } else {
        b->ct = txn_client_new_bytes(px->tl, req->sip_method, branch, out->p, out->len, &t->dst, branch_cb, b);
        if (!b->ct)
            b->code = 500;
        else
            txn_set_owner(b->ct, ct_gone, b);
        if (b->ct && pc->is_invite)
            loop_timer_start(px->loop, &b->timer_c, px->cfg.timer_c_ms, timer_c_fired, b);
        if (b->ct && pc->failover)
            loop_timer_start(px->loop, &b->timer_fo, px->cfg.failover_ms, timer_fo_fired, b);
        if (b->ct && t->nid && px->cfg.cluster) {
            cluster_sent(px->cfg.cluster, t->nid);
            b->nid = t->nid;
            LOG_DEBUG("edge: %s to node nid=%d", req->sip_method, t->nid);
        }
    }
    if (out->cap > 16384) /* a large request: do not keep its buffer */
        sbuf_free(out);
}

static int target_q(const struct target *t) { return t->q < 0 ? 1000 : t->q; }

void pcall_start_next_group(struct pcall *pc)
{
    if (pc->next_target >= pc->ntargets)
        return;
    int q = target_q(&pc->targets[pc->next_target]);
    while (pc->next_target < pc->ntargets && target_q(&pc->targets[pc->next_target]) == q &&
           pc->nbr < MAX_TARGETS)
        forward_branch(pc, &pc->targets[pc->next_target++]);
}

void pcall_check_done(struct pcall *pc)
{
    if (pc->lookup_pending)
        return;
    for (size_t i = 0; i < pc->nbr; i++)
        if (pc->br[i]->code == 0)
            return; /* a branch is still pending */
    if (!pc->final_sent && !pc->answered && !pc->got_6xx && !pc->cancelled &&
        pc->next_target < pc->ntargets && (!pc->failover || pc->nbr == 0 || pc->br[pc->nbr - 1]->retryable)) {
        size_t before = pc->nbr;
        pcall_start_next_group(pc);
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
