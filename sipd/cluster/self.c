/* self.c - this node's own row in the node table and its state; see self.h and docs/cluster.md.
 *
 * The row's life: UPSERT at start (status 1; draining stays as the table has it, so a drain
 * survives a restart), retried every UPSERT_RETRY_MS while the store is unreachable; then the
 * store's nodes listener tells of changes to the row (or -1 after a lost LISTEN), and the row is
 * read again (one load, coalesced while one is in flight) to apply draining, waiting and max_num;
 * a clean stop writes status 0. The memory store keeps the row too (a node without --db has no
 * name, hence no row: it is always active).
 *
 * Drained is computed, not stored: draining and no transaction in progress. While draining a
 * DRAIN_POLL_MS timer looks for that moment, so that it is logged once and, with
 * cluster.exit_when_drained, the node stops even when nobody probes it. */
#include "self.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/log.h"
#include "../base/loop.h"
#include "../config.h"
#include "../sip/txn.h"
#include "../store/store.h"
#include "../transport/addr.h"

#define UPSERT_RETRY_MS 200   /* store unreachable: try the row again */
#define FAIL_RETRY_MS 2000    /* any other failure (schema missing...): again, less often */
#define DRAIN_POLL_MS 50      /* while draining: is nothing in progress any more? */
#define UNREACHABLE_WARN_MS 3000 /* the database connects asynchronously: warn only after this */

struct node_self {
    struct loop *loop;
    struct store *st;
    struct txn_layer *txns;
    char name[64];
    char address[128];
    char roles[128];
    int has_row;
    int max_num;             /* the row's (node.max_num until the row says otherwise) */
    int want_waiting;        /* node.standby: written by every upsert */
    int is_waiting, is_draining; /* the row's, as last read */
    int nid;                 /* 0 until the row is written */
    int exit_when_drained;
    node_self_exit_cb on_exit;
    void *exit_arg;
    int is_upserting, is_loading, is_load_again;
    int is_unreachable_logged;
    uint64_t first_fail_ms;  /* the first failed upsert of the current run of them, 0 = none */
    int is_drained_logged;
    int is_stopping;
    struct timer retry_timer, drain_timer, exit_timer;
    node_self_held_fn held;  /* what else keeps it from being drained (node_self_set_held) */
    void *held_arg;
};

void node_self_set_held(struct node_self *ns, node_self_held_fn fn, void *arg)
{
    ns->held = fn;
    ns->held_arg = arg;
}

const char *node_state_name(enum node_state s)
{
    switch (s) {
    case NODE_STANDBY: return "standby";
    case NODE_DRAINING: return "draining";
    case NODE_DRAINED: return "drained";
    case NODE_ACTIVE:
    default: return "active";
    }
}

/* ---- the address ------------------------------------------------------------------------------ */

static int is_wildcard(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (a->ss_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)a)->sin6_addr);
    return 0;
}

int node_self_address(const struct sipd_config *cfg, char *buf, size_t n, char *err,
                      size_t errlen)
{
    if (cfg->node_address[0]) {
        if ((size_t)snprintf(buf, n, "%s", cfg->node_address) >= n) {
            snprintf(err, errlen, "node.address: too long");
            return -1;
        }
        return 0;
    }
    char first[sizeof cfg->listen];
    const char *s = cfg->listen + strspn(cfg->listen, " ");
    size_t len = strcspn(s, ",");
    while (len && s[len - 1] == ' ')
        len--;
    memcpy(first, s, len);
    first[len] = '\0';
    struct sip_endpoint ep;
    if (sip_endpoint_parse(first, &ep) < 0) {
        snprintf(err, errlen, "node.address is not set and the first --listen entry '%s' is not"
                              " an address", first);
        return -1;
    }
    if (is_wildcard(&ep.addr)) {
        snprintf(err, errlen, "node.address is not set and the first --listen entry '%s' is a"
                              " wildcard address: other nodes could not reach this node there;"
                              " set node.address (e.g. --set node.address=udp:10.0.0.2:5060) or"
                              " listen on a concrete address first", first);
        return -1;
    }
    char where[SOCKADDR_STRLEN];
    if ((size_t)snprintf(buf, n, "%s:%s", sip_proto_name(ep.proto),
                         sockaddr_str(&ep.addr, where, sizeof where)) >= n) {
        snprintf(err, errlen, "node address too long");
        return -1;
    }
    return 0;
}

/* The roles as the row carries them: "registrar,proxy" in a fixed order, whatever --roles said
 * ("all" spelled out). */
static void roles_text(unsigned mask, char *buf, size_t n)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{ROLE_REGISTRAR, "registrar"}, {ROLE_PROXY, "proxy"}, {ROLE_BROKER, "broker"},
                 {ROLE_BALANCER, "balancer"},   {ROLE_REDIRECT, "redirect"}};
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((mask & names[i].bit) && used < n)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? "," : "", names[i].name);
}

/* ---- state ------------------------------------------------------------------------------------ */

static size_t work_now(const struct node_self *ns, size_t exclude)
{
    size_t pending = ns->txns ? txn_layer_pending(ns->txns) : 0;
    return pending > exclude ? pending - exclude : 0;
}

static void on_exit_timer(struct timer *t, void *arg)
{
    (void)t;
    struct node_self *ns = arg;
    if (ns->on_exit && !ns->is_stopping)
        ns->on_exit(ns->exit_arg);
}

enum node_state node_self_state(struct node_self *ns, size_t exclude)
{
    if (!ns->is_draining)
        return ns->is_waiting ? NODE_STANDBY : NODE_ACTIVE;
    if (work_now(ns, exclude) > 0 || (ns->held && ns->held(ns->held_arg) > 0))
        return NODE_DRAINING;
    if (!ns->is_drained_logged) {
        ns->is_drained_logged = 1;
        LOG_INFO("node %s drained", ns->name);
        if (ns->exit_when_drained && !ns->is_stopping) {
            LOG_INFO("node %s stopping: drained and exit_when_drained is set", ns->name);
            loop_timer_start(ns->loop, &ns->exit_timer, 0, on_exit_timer, ns);
        }
    }
    return NODE_DRAINED;
}

int node_self_load_value(struct node_self *ns, size_t exclude, char *buf, size_t n)
{
    enum node_state s = node_self_state(ns, exclude);
    int len = snprintf(buf, n, "work=%zu;max=%d;state=%s", work_now(ns, exclude), ns->max_num,
                       node_state_name(s));
    return len < 0 || (size_t)len >= n ? -1 : len;
}

static void on_drain_poll(struct timer *t, void *arg)
{
    (void)t;
    struct node_self *ns = arg;
    if (ns->is_stopping || !ns->is_draining)
        return;
    if (node_self_state(ns, 0) != NODE_DRAINED)
        loop_timer_start(ns->loop, &ns->drain_timer, DRAIN_POLL_MS, on_drain_poll, ns);
}

/* The row as read or written: apply what an operator (or a balancer) may have changed. */
static void apply_row(struct node_self *ns, const struct node_row *r)
{
    int was_draining = ns->is_draining, was_waiting = ns->is_waiting, had_nid = ns->nid != 0;
    ns->nid = r->nid;
    ns->is_draining = r->draining != 0;
    ns->is_waiting = r->waiting != 0;
    if (r->max_num > 0)
        ns->max_num = r->max_num;
    if (!had_nid)
        LOG_INFO("node %s row written nid=%d address=%s roles=%s max_num=%d waiting=%d"
                 " draining=%d", ns->name, ns->nid, ns->address, ns->roles, ns->max_num,
                 ns->is_waiting, ns->is_draining);
    else if (was_waiting != ns->is_waiting)
        LOG_INFO("node %s %s", ns->name, ns->is_waiting ? "is standby" : "is active (promoted)");
    if (ns->is_draining && (!was_draining || !had_nid)) {
        LOG_INFO("node %s draining work=%zu", ns->name, work_now(ns, 0));
        on_drain_poll(&ns->drain_timer, ns);
    } else if (!ns->is_draining && was_draining && had_nid) {
        LOG_INFO("node %s no longer draining", ns->name);
    }
    if (!ns->is_draining) {
        ns->is_drained_logged = 0;
        loop_timer_stop(ns->loop, &ns->drain_timer);
    }
}

/* ---- the row ---------------------------------------------------------------------------------- */

static void upsert(struct node_self *ns);
static void reload(struct node_self *ns);

static void on_retry(struct timer *t, void *arg)
{
    (void)t;
    struct node_self *ns = arg;
    if (ns->is_stopping)
        return;
    if (!ns->nid)
        upsert(ns);
    else
        reload(ns);
}

static void retry_later(struct node_self *ns, int status)
{
    if (!ns->is_stopping)
        loop_timer_start(ns->loop, &ns->retry_timer,
                         status == STORE_EUNAVAIL ? UPSERT_RETRY_MS : FAIL_RETRY_MS, on_retry, ns);
}

static void on_upserted(void *arg, int status, const struct node_row *v, size_t n)
{
    struct node_self *ns = arg;
    ns->is_upserting = 0;
    if (ns->is_stopping)
        return;
    if (status != 0 || n != 1) {
        uint64_t now = loop_now_ms(ns->loop);
        if (!ns->first_fail_ms)
            ns->first_fail_ms = now;
        if (!ns->is_unreachable_logged &&
            (status != STORE_EUNAVAIL || now - ns->first_fail_ms >= UNREACHABLE_WARN_MS)) {
            LOG_WARN("node %s row not written yet status=%d (%s); retrying", ns->name, status,
                     status == STORE_EUNAVAIL ? "database unreachable" : "store error");
            ns->is_unreachable_logged = 1;
        }
        retry_later(ns, status);
        return;
    }
    ns->is_unreachable_logged = 0;
    ns->first_fail_ms = 0;
    ns->nid = 0; /* the row may be new (an operator deleted it): log it as written */
    apply_row(ns, &v[0]);
    if (ns->is_load_again) { /* a change was announced while the upsert was out */
        ns->is_load_again = 0;
        reload(ns);
    }
}

static void upsert(struct node_self *ns)
{
    if (ns->is_upserting || ns->is_stopping)
        return;
    struct node_row self = {.name = ns->name, .address = ns->address, .roles = ns->roles,
                            .status = 1, .waiting = ns->want_waiting, .max_num = ns->max_num};
    ns->is_upserting = 1;
    store_node_upsert(ns->st, &self, on_upserted, ns);
}

static void on_loaded(void *arg, int status, const struct node_row *v, size_t n)
{
    struct node_self *ns = arg;
    ns->is_loading = 0;
    if (ns->is_stopping)
        return;
    if (status != 0) {
        LOG_DEBUG("node %s row not read status=%d; retrying", ns->name, status);
        retry_later(ns, status);
        return;
    }
    const struct node_row *mine = NULL;
    for (size_t i = 0; i < n && !mine; i++)
        if (v[i].name && strcmp(v[i].name, ns->name) == 0)
            mine = &v[i];
    if (!mine) {
        LOG_WARN("node %s row is gone from the node table; writing it again", ns->name);
        upsert(ns);
        return;
    }
    apply_row(ns, mine);
    if (ns->is_load_again) {
        ns->is_load_again = 0;
        reload(ns);
    }
}

static void reload(struct node_self *ns)
{
    if (ns->is_stopping)
        return;
    if (ns->is_loading || ns->is_upserting) {
        ns->is_load_again = 1;
        return;
    }
    ns->is_loading = 1;
    store_nodes_load(ns->st, on_loaded, ns);
}

void node_self_changed(struct node_self *ns, int nid)
{
    if (!ns || !ns->has_row || ns->is_stopping)
        return;
    if (!ns->nid) { /* not written yet: the upsert still to come reads the row anyway, but one
                       out now may have read it before this change */
        if (ns->is_upserting)
            ns->is_load_again = 1;
        return;
    }
    if (nid == ns->nid || nid == -1)
        reload(ns);
}

static void on_status_written(void *arg, int status)
{
    struct node_self *ns = arg;
    if (status == 0)
        LOG_INFO("node %s status 0 written", ns->name);
    else
        LOG_WARN("node %s status 0 not written status=%d", ns->name, status);
}

void node_self_stop(struct node_self *ns)
{
    if (!ns || ns->is_stopping)
        return;
    ns->is_stopping = 1;
    loop_timer_stop(ns->loop, &ns->retry_timer);
    loop_timer_stop(ns->loop, &ns->drain_timer);
    loop_timer_stop(ns->loop, &ns->exit_timer);
    if (ns->has_row)
        store_node_set_status(ns->st, ns->name, 0, on_status_written, ns);
}

/* ---- life ------------------------------------------------------------------------------------- */

struct node_self *node_self_create(struct loop *loop, struct store *st, struct txn_layer *txns,
                                   const struct sipd_config *cfg, node_self_exit_cb on_exit,
                                   void *arg)
{
    struct node_self *ns = calloc(1, sizeof *ns);
    if (!ns)
        return NULL;
    ns->loop = loop;
    ns->st = st;
    ns->txns = txns;
    ns->max_num = cfg->node_max_num > 0 ? cfg->node_max_num : 1;
    ns->has_row = cfg->db[0] && cfg->node_name[0];
    ns->exit_when_drained = cfg->exit_when_drained;
    ns->on_exit = on_exit;
    ns->exit_arg = arg;
    if (!ns->has_row)
        return ns;
    char err[512];
    if (node_self_address(cfg, ns->address, sizeof ns->address, err, sizeof err) < 0) {
        LOG_ERROR("%s", err);
        free(ns);
        return NULL;
    }
    snprintf(ns->name, sizeof ns->name, "%s", cfg->node_name);
    roles_text(cfg->role_mask, ns->roles, sizeof ns->roles);
    ns->want_waiting = ns->is_waiting = cfg->node_standby != 0;
    /* from the loop, so that the owner sets the nodes listener first: with postgres its LISTEN
     * then starts before the row is written, and a change right after the write is heard */
    loop_timer_start(loop, &ns->retry_timer, 0, on_retry, ns);
    return ns;
}

void node_self_destroy(struct node_self *ns)
{
    if (!ns)
        return;
    loop_timer_stop(ns->loop, &ns->retry_timer);
    loop_timer_stop(ns->loop, &ns->drain_timer);
    loop_timer_stop(ns->loop, &ns->exit_timer);
    free(ns);
}

int node_self_has_row(const struct node_self *ns) { return ns && ns->has_row; }

int node_self_is_started(const struct node_self *ns) { return !ns || !ns->has_row || ns->nid != 0; }

/* ---- the Sipd-Load header, as a prober reads it ------------------------------------------------ */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A decimal 0..INT_MAX at p (digits only): 0 and *end after it, or -1. */
static int parse_count(const char *p, const char **end, int *out)
{
    long long v = 0;
    const char *q = p;
    while (isdigit((unsigned char)*q)) {
        v = v * 10 + (*q - '0');
        if (v > 2147483647LL)
            return -1;
        q++;
    }
    if (q == p)
        return -1;
    *out = (int)v;
    *end = q;
    return 0;
}

int node_load_parse(const char *v, int *work, int *max, char *state, size_t n)
{
    int has_work = 0, has_max = 0, has_state = 0;
    if (!v || !work || !max || !state || n == 0)
        return -1;
    const char *p = v;
    for (;;) {
        p = skip_ws(p);
        const char *name = p;
        while (isalnum((unsigned char)*p) || *p == '-' || *p == '_')
            p++;
        size_t nlen = (size_t)(p - name);
        p = skip_ws(p);
        if (nlen == 0 || *p != '=')
            return -1;
        p = skip_ws(p + 1);
        const char *end = p;
        if (nlen == 4 && strncmp(name, "work", 4) == 0) {
            if (has_work++ || parse_count(p, &end, work))
                return -1;
        } else if (nlen == 3 && strncmp(name, "max", 3) == 0) {
            if (has_max++ || parse_count(p, &end, max))
                return -1;
        } else if (nlen == 5 && strncmp(name, "state", 5) == 0) {
            while (isalnum((unsigned char)*end) || *end == '-')
                end++;
            size_t slen = (size_t)(end - p);
            if (has_state++ || slen == 0 || slen >= n)
                return -1;
            memcpy(state, p, slen);
            state[slen] = '\0';
        } else { /* a parameter of a later version: skip its value */
            while (*end && *end != ';')
                end++;
        }
        p = skip_ws(end);
        if (*p == '\0')
            break;
        if (*p != ';')
            return -1;
        p++;
    }
    return has_work && has_max && has_state ? 0 : -1;
}
