/* proxy.c - RFC 3261 §16 stateful proxy, the entry; see proxy.h, and proxy_impl.h for how the
 * files divide the work. A new request is decided on by route.c; a user of ours goes through
 * the location service, any other target through DNS (RFC 3263); then branch.c forwards. */
#include "proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../base/loop.h"
#include "../../cluster/flow.h"
#include "../../sip/msg.h"
#include "../../sip/txn.h"
#include "../../sip/uri.h"
#include "../../store/store.h"
#include "../../transport/resolve.h"
#include "proxy_impl.h"

/* ---- identity --------------------------------------------------------------------------------- */

static int conn_alive(void *arg, uint64_t conn_id)
{
    return transport_conn_alive(arg, conn_id);
}

/* ---- life cycle -------------------------------------------------------------------------------- */

static void dialogs_tick(struct timer *t, void *arg)
{
    struct proxy *px = arg;
    proxy_dialogs_expire(px, sip_now_s());
    loop_timer_start(px->loop, t, 60000, dialogs_tick, px);
}

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
    px->route = (struct route_ctx){
        .local = cfg->local,
        .redirect_domains = cfg->redirect_domains,
        .redirect_all = cfg->redirect_all,
        .record_route = cfg->record_route,
        .conn_alive = conn_alive,
        .arg = tp,
        .edge = cfg->cluster != NULL,
    };
    if (cfg->cluster)
        px->route.record_route = 1; /* the edge always stays on the path (edge.c) */
    if (!px->cfg.failover_ms)
        px->cfg.failover_ms = 2000;
    px->resolver = resolver_create(loop);
    if (!px->resolver) {
        free(px);
        return NULL;
    }
    hmap_init(&px->dialogs);
    loop_timer_start(loop, &px->dialogs_timer, 60000, dialogs_tick, px);
    return px;
}

/* A struct pcall is large (MAX_TARGETS targets and branches, ~10 KB): allocating one per request
 * sends glibc's malloc down its large-chunk path and makes it consolidate its fast bins each time,
 * which then slows every small allocation of the message parser (seen as ~20% of the CPU of a
 * MESSAGE relay). A few freed ones are kept for the next requests instead. Not under ASan, which
 * should see a use after free. */
#if defined(__SANITIZE_ADDRESS__)
#define PCALL_SPARE_MAX 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PCALL_SPARE_MAX 0
#endif
#endif
#ifndef PCALL_SPARE_MAX
#define PCALL_SPARE_MAX 16
#endif

static struct pcall *pcall_alloc(struct proxy *px)
{
    struct pcall *pc = px->spare;
    if (!pc)
        return calloc(1, sizeof *pc);
    px->spare = pc->next;
    px->nspare--;
    memset(pc, 0, sizeof *pc);
    return pc;
}

static void pcall_release(struct proxy *px, struct pcall *pc)
{
#if PCALL_SPARE_MAX > 0
    if (px->nspare < PCALL_SPARE_MAX) {
        pc->next = px->spare;
        px->spare = pc;
        px->nspare++;
        return;
    }
#else
    (void)px;
#endif
    free(pc);
}

void pcall_free(struct pcall *pc)
{
    struct proxy *px = pc->px;
    for (size_t i = 0; i < pc->nbr; i++) {
        struct branch *b = pc->br[i];
        loop_timer_stop(px->loop, &b->timer_c);
        loop_timer_stop(px->loop, &b->timer_fo);
        edge_branch_done(b);
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
    route_fwd_clear(&pc->fwd);
    free(pc->best);
    sbuf_free(&pc->challenges);
    if (pc->prev)
        pc->prev->next = pc->next;
    else
        px->calls = pc->next;
    if (pc->next)
        pc->next->prev = pc->prev;
    px->ncalls--;
    pcall_release(px, pc);
}

void proxy_destroy(struct proxy *px)
{
    if (!px)
        return;
    resolver_destroy(px->resolver);
    px->resolver = NULL;
    loop_timer_stop(px->loop, &px->dialogs_timer);
    proxy_dialogs_clear(px);
    while (px->calls) {
        struct pcall *pc = px->calls;
        pc->lookup_pending = 0;
        pcall_free(pc);
    }
    sbuf_free(&px->copy_buf);
    while (px->spare) {
        struct pcall *pc = px->spare;
        px->spare = pc->next;
        free(pc);
    }
    free(px);
}

size_t proxy_calls(const struct proxy *px) { return px->ncalls; }

static void st_gone(void *arg, struct sip_txn *t)
{
    struct pcall *pc = arg;
    pc->st = NULL;
}

/* A call for server transaction st, following plan p (its edits are taken). */
static struct pcall *pcall_new(struct proxy *px, struct sip_txn *st, struct route_plan *p)
{
    struct pcall *pc = pcall_alloc(px);
    if (!pc)
        return NULL;
    pc->px = px;
    pc->st = st;
    sbuf_init(&pc->challenges);
    osip_message_t *req = txn_request(st);
    pc->is_invite = strcmp(req->sip_method, "INVITE") == 0;
    pc->record_route = p->record_route;
    pc->is_redirect = p->is_redirect;
    pc->fwd = p->fwd;
    memset(&p->fwd, 0, sizeof p->fwd);
    pc->next = px->calls;
    if (px->calls)
        px->calls->prev = pc;
    px->calls = pc;
    px->ncalls++;
    txn_set_owner(st, st_gone, pc);
    return pc;
}

void pcall_reply(struct pcall *pc, int code, const char *reason, const char *extra_name,
                 const char *extra_value)
{
    if (pc->final_sent || !pc->st)
        return;
    pc->final_sent = code >= 200;
    txn_respond_simple(pc->st, code, reason, extra_name, extra_value);
}

/* ---- the location service and DNS ----------------------------------------------------------- */

static void lookup_done(void *arg, int status, const struct binding *b, size_t n)
{
    struct pcall *pc = arg;
    pc->lookup_pending = 0;
    if (pc->cancelled) {
        pcall_reply(pc, 487, NULL, NULL, NULL);
        pcall_check_done(pc);
        return;
    }
    if (status == STORE_EUNAVAIL) {
        pcall_reply(pc, 503, "Location service unavailable", "Retry-After", "5");
    } else if (status < 0) {
        pcall_reply(pc, 500, "Location service error", NULL, NULL);
    } else if (pc->st) {
        int known = n == 0 && status == STORE_OFFLINE;
        const char *reason;
        struct sbuf contacts;
        sbuf_init(&contacts);
        int code = route_targets(&pc->px->route, b, n, known, pc->is_redirect, sip_now_s(),
                                 pc->targets, MAX_TARGETS, &pc->ntargets, &contacts, &reason);
        osip_message_t *req = txn_request(pc->st);
        if (code == 0 && req && route_uri_is_sips(req->req_uri) &&
            route_targets_keep_tls(pc->targets, &pc->ntargets) == 0) {
            code = 480; /* sips: TLS all the way, and no contact is reached over TLS */
            reason = "No contact reachable over TLS";
        }
        if (code == 302) {
            pc->final_sent = 1;
            txn_respond_text(pc->st, 302, NULL, contacts.failed ? NULL : contacts.p);
        } else if (code) {
            pcall_reply(pc, code, reason, NULL, NULL);
        } else {
            pcall_start_next_group(pc);
        }
        sbuf_free(&contacts);
    }
    pcall_check_done(pc);
}

static void resolved(void *arg, int status, const struct sip_source *dsts, size_t n)
{
    struct pcall *pc = arg;
    pc->lookup_pending = 0;
    pc->resolve_id = 0;
    if (pc->cancelled) {
        pcall_reply(pc, 487, NULL, NULL, NULL);
    } else if (status < 0 || n == 0) {
        pcall_reply(pc, 404, "Next hop not found in DNS", NULL, NULL);
    } else {
        pc->targets[0] = (struct target){.dst = dsts[0], .q = -1};
        pc->ntargets = 1;
        pcall_start_next_group(pc);
    }
    pcall_check_done(pc);
}

/* ---- requests --------------------------------------------------------------------------------- */

void proxy_handle_request(struct proxy *px, struct sip_txn *t)
{
    osip_message_t *req = txn_request(t);
    if (strcmp(req->sip_method, "INVITE") == 0)
        txn_respond_text(t, 100, NULL, NULL);
    if (px->dialogs.count && req->to && sip_tag_of(req->to))
        proxy_dialog_request(px, req);
    struct route_plan plan;
    if (route_decide(&px->route, req, &plan) < 0) {
        txn_respond_simple(t, 500, "Out of memory", NULL, NULL);
        return;
    }
    if (plan.action == ROUTE_REJECT) {
        txn_respond_simple(t, plan.code, plan.reason, plan.extra_name, plan.extra_value);
        route_fwd_clear(&plan.fwd);
        return;
    }
    struct pcall *pc = pcall_new(px, t, &plan);
    if (!pc) {
        route_fwd_clear(&plan.fwd);
        txn_respond_simple(t, 500, "Out of memory", NULL, NULL);
        return;
    }
    if (px->cfg.cluster)
        flow_encode(txn_source(t), pc->flow, sizeof pc->flow); /* edge.c may name another */
    if (plan.action == ROUTE_EDGE && !edge_route(pc, &plan))
        return;
    pc->lookup_pending = 1;
    if (plan.action == ROUTE_LOCATION) {
        snprintf(pc->aor, sizeof pc->aor, "%s", plan.aor);
        store_location_lookup(px->store, pc->aor, sip_now_s(), lookup_done, pc);
        return;
    }
    /* RFC 3263 for host names; a numeric host is answered at once, and pc may be gone when
     * this returns 0 */
    uint64_t id = resolver_lookup(px->resolver, plan.host, plan.port, plan.proto, resolved, pc);
    if (id)
        pc->resolve_id = id;
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
    pcall_cancel_branches(pc);
    pcall_check_done(pc);
}
