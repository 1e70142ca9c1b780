/* server.c - dispatch of received messages to the transaction layer and the roles, and the
 * wiring of one node (server_create). What a request must pass before a role sees it -- TLS
 * credentials, admission, cluster peers, authentication -- is security.c's. */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/metrics.h"
#include "cluster/cluster.h"
#include "cluster/self.h"
#include "roles/im/broker.h"
#include "roles/presence/presence.h"
#include "roles/proxy/proxy.h"
#include "roles/registrar.h"
#include "security.h"
#include "sip/msg.h"
#include "sip/stats.h"
#include "sip/txn.h"
#include "sip/uas.h"
#include "sip/uri.h"
#include "store/store.h"
#include "transport/framing.h"
#include "transport/transport.h"

#define MAX_DOMAINS 16
#define MAX_GROUPS 64

struct server {
    struct loop *loop;
    struct sipd_config cfg;
    struct transport *tp;
    struct txn_layer *txns;
    struct store *store;
    struct metric *store_rejections; /* sipd_limit_rejections_total{limit="max_store_pending"} */
    struct registrar *registrar;
    struct proxy *proxy;
    struct presence *presence; /* broker role: the presence package */
    struct broker *broker; /* NULL without the broker role */
    struct cluster *cluster; /* the balancer's view of the nodes; NULL on other nodes */
    struct static_group *groups[MAX_GROUPS];
    size_t ngroups;
    struct timer groups_timer;
    char *domain_buf;
    const char *domains[MAX_DOMAINS + 1];
    char *redirect_buf;
    const char *redirect_domains[MAX_DOMAINS + 1];
    char hostname[256];
    struct uri_local local; /* what is ours: domains, listeners, hostname (sip/uri.h) */
    int draining;
    uint64_t drain_deadline_ms;
    struct timer drain_timer;
    struct timer expire_timer;
    struct node_self *self; /* this node's row in the node table and its state (cluster/self.c) */
    struct api *api;        /* the HTTP control plane (api/); NULL with --api off */
    struct security *sec;   /* TLS credentials, admission, cluster peers, auth (security.h) */
};

/* Does this node forward requests (proxy, redirect, or the balancer's edge)? */
static int forwards(const struct server *srv)
{
    return (srv->cfg.role_mask & (ROLE_PROXY | ROLE_REDIRECT | ROLE_BALANCER)) != 0;
}

/* Answer without a transaction (malformed requests): to the Via's address. */
static void respond_stateless(struct server *srv, const osip_message_t *req,
                              const struct sip_source *src, int code, const char *reason)
{
    if (!sip_request_answerable(req))
        return;
    char tag[20];
    sip_random_token(tag, sizeof tag);
    osip_message_t *r = sip_response_new(req, code, reason, tag);
    if (!r)
        return;
    struct sip_source dst;
    char *buf = NULL;
    size_t len;
    if (sip_response_dest(req, src, &dst) == 0 && sip_serialize(r, &buf, &len) == 0) {
        transport_send(srv->tp, &dst, buf, len);
        sip_stats_response_sent(sip_stats_method_slot(req->sip_method), code);
    }
    osip_free(buf);
    osip_message_free(r);
}

/* What sipd takes at its own URI (no user): RFC 3261 §8.2.1's Allow of a 405. */
static const char *own_allow(const struct server *srv)
{
    return (srv->cfg.role_mask & ROLE_REGISTRAR) ? "OPTIONS, REGISTER, ACK, CANCEL" : "OPTIONS, ACK, CANCEL";
}

/* Every OPTIONS we answer ourselves carries this node's load (docs/cluster.md): a balancer's
 * heartbeat reads it. The probe's own transaction is not counted as work. */
static void handle_options(struct server *srv, struct sip_txn *t)
{
    static const char hdrs[] = "Allow: " SIP_ALLOW_METHODS "\r\n"
                               "Supported: path, outbound\r\n"
                               "Accept: application/sdp, message/cpim, text/plain\r\n"
                               "Accept-Encoding: identity\r\n";
    char load[96], all[sizeof hdrs + sizeof load + 16];
    if (uas_refuses(t))
        return;
    if (node_self_load_value(srv->self, 1, load, sizeof load) < 0)
        load[0] = '\0';
    snprintf(all, sizeof all, "%sSipd-Load: %s\r\n", hdrs, load);
    txn_respond_text(t, 200, NULL, load[0] ? all : hdrs);
}

/* The presence package's requests (docs/presence.md §2): PUBLISH and initial SUBSCRIBE with
 * Event: presence to a user of ours, not routed elsewhere; in-dialog SUBSCRIBEs of its dialogs.
 * Asked before the broker (which takes every other PUBLISH). Returns 1 when the package took
 * the transaction. */
static int presence_dispatch(struct server *srv, struct sip_txn *t, const struct sip_req_class *c)
{
    int is_sub = c->method == SIP_M_SUBSCRIBE;
    if ((!is_sub && c->method != SIP_M_PUBLISH) || c->routed_away)
        return 0;
    if (c->has_to_tag)
        return is_sub && presence_handle_in_dialog(srv->presence, t, &c->event);
    if (!sip_event_is(&c->event, "presence") || !c->has_username || !c->is_ours)
        return 0;
    if (uas_refuses(t))
        return 1;
    if (is_sub)
        presence_handle_subscribe(srv->presence, t, &c->event);
    else
        presence_handle_publish(srv->presence, t, &c->event);
    return 1;
}

/* The broker's requests (§ docs/im-event-package.md): SUBSCRIBE/PUBLISH with Event: im, MESSAGE
 * outside a dialog, to a URI of ours and not routed elsewhere; in-dialog SUBSCRIBEs of its
 * dialogs. Returns 1 when the broker took the transaction. */
static int broker_dispatch(struct server *srv, struct sip_txn *t, const struct sip_req_class *c)
{
    int is_sub = c->method == SIP_M_SUBSCRIBE;
    if ((!is_sub && c->method != SIP_M_PUBLISH && c->method != SIP_M_MESSAGE) || c->routed_away)
        return 0;
    if (is_sub && c->has_to_tag)
        return broker_handle_in_dialog(srv->broker, t, &c->event);
    if (!c->is_ours || !broker_wants(c, forwards(srv)))
        return 0;
    if (uas_refuses(t))
        return 1;
    if (is_sub)
        broker_handle_subscribe(srv->broker, t, &c->event);
    else
        broker_handle_publish(srv->broker, t, &c->event); /* (its raw bytes: handle_request) */
    return 1;
}

/* Static group topics (broker.groups), created in the store at start-up and retried while the
 * store is unreachable (postgres connects asynchronously). */
struct static_group {
    struct server *srv;
    char topic[512];
    char *member_buf;       /* the members, NUL-separated */
    const char *members[256];
    size_t nmembers;
    int state;              /* 0 to do, 1 in flight, 2 done */
};

static void groups_tick(struct timer *t, void *arg);

static void on_group_created(void *arg, int status)
{
    struct static_group *g = arg;
    if (status == STORE_EUNAVAIL) {
        g->state = 0; /* again on the next tick */
        return;
    }
    g->state = 2;
    if ((status == 0 || status == 409) && g->srv->broker)
        broker_group_created(g->srv->broker, g->topic);
    if (status == 409)
        LOG_INFO("group topic %s exists already", g->topic);
    else if (status != 0)
        LOG_WARN("group topic %s not created status=%d", g->topic, status);
    else
        LOG_INFO("group topic %s created with %zu members", g->topic, g->nmembers);
}

static void groups_tick(struct timer *t, void *arg)
{
    struct server *srv = arg;
    int left = 0;
    for (size_t i = 0; i < srv->ngroups; i++) {
        struct static_group *g = srv->groups[i];
        if (g->state == 0 && store_is_available(srv->store)) {
            g->state = 1;
            store_im_group_create(srv->store, g->topic, g->members, g->nmembers, on_group_created, g);
        }
        left += g->state != 2;
    }
    if (left)
        loop_timer_start(srv->loop, &srv->groups_timer, 100, groups_tick, srv);
}

/* broker.groups = "sip:team@example.com=sip:a@example.com sip:b@example.com; sip:..." */
static int create_static_groups(struct server *srv, const char *spec)
{
    char *buf = strdup(spec), *save = NULL;
    if (!buf)
        return -1;
    int rc = 0;
    for (char *g = strtok_r(buf, ";", &save); g; g = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(g, '=');
        if (!eq) {
            if (strspn(g, " \t\r\n") == strlen(g))
                continue;
            LOG_ERROR("broker.groups: '%s' is not TOPIC=MEMBER MEMBER...", g);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *topic = g + strspn(g, " \t");
        topic[strcspn(topic, " \t")] = '\0';
        osip_uri_t *u = NULL;
        struct static_group *sg = srv->ngroups < MAX_GROUPS ? calloc(1, sizeof *sg) : NULL;
        int ok = sg && osip_uri_init(&u) == 0 && osip_uri_parse(u, topic) == 0 &&
                 sip_uri_aor(u, sg->topic, sizeof sg->topic) == 0;
        osip_uri_free(u);
        if (ok)
            ok = (sg->member_buf = strdup(eq + 1)) != NULL;
        if (!ok) {
            LOG_ERROR("broker.groups: '%s' is not a SIP URI with a user (at most %d groups)", topic,
                      MAX_GROUPS);
            if (sg)
                free(sg->member_buf);
            free(sg);
            rc = -1;
            break;
        }
        char *s2 = NULL;
        for (char *m = strtok_r(sg->member_buf, " ,\t", &s2); m && sg->nmembers < 256;
             m = strtok_r(NULL, " ,\t", &s2))
            sg->members[sg->nmembers++] = m;
        sg->srv = srv;
        srv->groups[srv->ngroups++] = sg;
    }
    free(buf);
    if (rc == 0)
        groups_tick(&srv->groups_timer, srv);
    return rc;
}

static void on_registered(void *arg, const char *aor, const struct binding *b, size_t n)
{
    struct server *srv = arg;
    if (srv->broker)
        broker_registered(srv->broker, aor, b, n);
}

static void dispatch(struct server *srv, struct sip_txn *t, const struct sip_req_class *cp);

/* auth/: a request waiting for its user's credentials authenticated. */
static void on_authenticated(void *arg, struct sip_txn *t)
{
    struct server *srv = arg;
    struct sip_req_class c;
    sip_classify(&srv->local, txn_request(t), &c);
    dispatch(srv, t, &c);
}

static void handle_request(struct server *srv, osip_message_t *req, const struct sip_source *src,
                           const char *raw, size_t raw_len)
{
    const char *reason = NULL;
    int code;
    if (!req->sip_version || strcasecmp(req->sip_version, "SIP/2.0") != 0) { /* §7.1 */
        respond_stateless(srv, req, src, 505, NULL);
        osip_message_free(req);
        return;
    }
    if (security_refuses_source(srv->sec, req, src, &code, &reason)) { /* a cluster node's */
        if (code)
            respond_stateless(srv, req, src, code, reason);
        osip_message_free(req);
        return;
    }
    int st = sip_request_check(req, &reason);
    if (st) {
        LOG_DEBUG("request rejected status=%d reason=\"%s\"", st, reason);
        if (strcmp(req->sip_method ? req->sip_method : "", "ACK") != 0)
            respond_stateless(srv, req, src, st, reason);
        osip_message_free(req);
        return;
    }
    if (strcmp(req->sip_method, "ACK") == 0) {
        /* an ACK for a non-2xx final belongs to our INVITE server transaction; an ACK for a 2xx
         * is end-to-end and routed on */
        if (txn_server_ack(srv->txns, req) || !forwards(srv))
            osip_message_free(req);
        else
            proxy_handle_ack(srv->proxy, req, src, raw, raw_len);
        return;
    }
    /* (a refresh SUBSCRIBE stays stateful: edge.c may send it to its topic's new owner) */
    if (srv->cluster && strcmp(req->sip_method, "INVITE") != 0 && strcmp(req->sip_method, "CANCEL") != 0 &&
        strcmp(req->sip_method, "SUBSCRIBE") != 0 &&
        req->to && sip_tag_of(req->to) && !srv->draining &&
        proxy_forward_in_dialog(srv->proxy, req, src, raw, raw_len))
        return; /* the balancer: in-dialog requests pass without a transaction */
    int absorbed = 0;
    struct sip_txn *t = txn_server_new(srv->txns, req, src, &absorbed);
    if (!t) {
        if (!absorbed)
            LOG_WARN("out of memory creating a transaction");
        osip_message_free(req);
        return;
    }
    /* its bytes: responses copy their headers from them (txn_respond_text), the proxy forwards
     * them, the broker stores a message's Content-Type as received */
    txn_keep_raw(t, raw, raw_len);
    const char *scheme = req->req_uri->scheme;
    if (strcasecmp(scheme, "sip") != 0 && strcasecmp(scheme, "sips") != 0 &&
        strcasecmp(scheme, "tel") != 0) {
        txn_respond_simple(t, 416, NULL, NULL, NULL);
        return;
    }
    struct sip_req_class c;
    sip_classify(&srv->local, req, &c);
    if (srv->draining && c.method != SIP_M_CANCEL) {
        txn_respond_simple(t, 503, "Shutting down", "Retry-After", "5");
        return;
    }
    if (!security_authenticates(srv->sec, t, &c, raw, raw_len))
        return; /* answered, or resumed by on_authenticated() */
    dispatch(srv, t, &c);
}

/* A new server transaction that passed the checks above, to the role that takes it. */
/* limits.max_store_pending (docs/limits.md): a new request that would wait for a store that has
 * that many operations waiting is answered 503 at once, so that the served rate holds at the
 * database's pace instead of collapsing under the clients' retransmissions. */
static int store_overloaded(struct server *srv, struct sip_txn *t, const struct sip_req_class *c)
{
    if (!srv->cfg.lim_max_store_pending || c->has_to_tag ||
        (c->method != SIP_M_REGISTER && c->method != SIP_M_INVITE && c->method != SIP_M_MESSAGE &&
         c->method != SIP_M_SUBSCRIBE && c->method != SIP_M_PUBLISH) ||
        store_pending(srv->store) < (size_t)srv->cfg.lim_max_store_pending)
        return 0;
    metric_inc(srv->store_rejections);
    txn_respond_simple(t, 503, "Store overloaded", "Retry-After", "1");
    return 1;
}

static void dispatch(struct server *srv, struct sip_txn *t, const struct sip_req_class *cp)
{
    const struct sip_req_class c = *cp;
    int proxying = forwards(srv);
    if (store_overloaded(srv, t, &c))
        return;
    if (srv->presence && presence_dispatch(srv, t, &c))
        return;
    if (srv->broker && broker_dispatch(srv, t, &c))
        return;
    if (c.method == SIP_M_REGISTER && (srv->cfg.role_mask & ROLE_REGISTRAR) && (c.is_ours || !proxying)) {
        if (!uas_refuses_merged(t))
            registrar_handle(srv->registrar, t);
    } else if (c.method == SIP_M_OPTIONS &&
               (!proxying || (!c.routed_away && c.is_ours && !c.has_username))) {
        /* (a Route naming us is consumed first: RFC 3261 §16.4) */
        handle_options(srv, t);
    } else if (srv->presence && c.method == SIP_M_SUBSCRIBE && c.has_to_tag && c.is_ours &&
               !c.has_username && !c.has_route) {
        txn_respond_simple(t, 481, NULL, NULL, NULL); /* to us, in no dialog we know */
    } else if (c.method != SIP_M_CANCEL && c.method != SIP_M_REGISTER && !c.has_to_tag &&
               c.is_ours && !c.has_username && !c.routed_away &&
               !(srv->cfg.role_mask & ROLE_BALANCER)) {
        /* for the server itself (a balancer forwards them; a REGISTER goes to a registrar) */
        uas_refuse_method(t, own_allow(srv));
    } else if (c.method == SIP_M_CANCEL && proxying) {
        proxy_handle_cancel(srv->proxy, t);
    } else if (proxying) {
        proxy_handle_request(srv->proxy, t);
    } else if (c.method != SIP_M_CANCEL) {
        uas_refuse_method(t, own_allow(srv));
    } else {
        txn_respond_simple(t, 481, NULL, NULL, NULL); /* a CANCEL we hold nothing for */
    }
}

static void on_message(void *arg, const struct sip_source *src, char *buf, size_t len)
{
    struct server *srv = arg;
    const char *bad = NULL;
    size_t hdr = sip_find_header_end(buf, len);
    if (!security_admits(srv->sec, srv->tp, src, buf, len, hdr, loop_now_ms(srv->loop)))
        return;
    if (src->proto == SIP_PROTO_UDP && hdr) {
        /* RFC 3261 §18.3: over UDP, Content-Length bounds the body: extra bytes are ignored, a
         * body shorter than announced is an error (TCP framing already guarantees both). */
        size_t cl;
        if (sip_content_length(buf, hdr, &cl) < 0) {
            bad = "Malformed Content-Length";
        } else if (cl > len - hdr) {
            bad = "Body shorter than Content-Length";
        } else if (hdr + cl < len) {
            len = hdr + cl;
            buf[len] = '\0';
        }
    }
    osip_message_t *m = sip_parse(buf, bad ? hdr : len);
    if (!m) {
        char peer[SOCKADDR_STRLEN];
        LOG_DEBUG("unparseable message bytes=%zu peer=%s:%s", len, sip_proto_name(src->proto),
                  sockaddr_str(&src->peer, peer, sizeof peer));
        /* a broken request still deserves a 400 (to its source) */
        char out[4096];
        int n = sip_raw_bad_request(buf, hdr ? hdr : len, bad ? bad : "Malformed Request", out,
                                    sizeof out);
        if (n > 0)
            transport_send(srv->tp, src, out, (size_t)n);
        return;
    }
    if (MSG_IS_RESPONSE(m)) {
        if (bad || sip_response_check(m) < 0)
            LOG_DEBUG("malformed response dropped");
        else if (srv->cluster && cluster_heartbeat_response(srv->cluster, m))
            ; /* a node answered a heartbeat */
        else if (!txn_client_response(srv->txns, m, buf, len, src) && forwards(srv))
            proxy_handle_stray_response(srv->proxy, m, buf, len);
        osip_message_free(m);
        return;
    }
    sip_via_apply_source(m, src);
    sip_stats_request_received(sip_stats_method_slot(m->sip_method));
    if (bad) {
        LOG_DEBUG("request rejected status=400 reason=\"%s\"", bad);
        if (strcmp(m->sip_method ? m->sip_method : "", "ACK") != 0)
            respond_stateless(srv, m, src, 400, bad);
        osip_message_free(m);
        return;
    }
    handle_request(srv, m, src, buf, len);
}

static void expire_tick(struct timer *t, void *arg)
{
    struct server *srv = arg;
    store_location_expire(srv->store, sip_now_s(), NULL, NULL);
    if (srv->presence)
        presence_tick(srv->presence, sip_now_s());
    if (srv->broker)
        broker_tick(srv->broker, sip_now_s());
    loop_timer_start(srv->loop, &srv->expire_timer, store_is_available(srv->store) ? 1000 : 5000,
                     expire_tick, srv);
}

static int open_listeners(struct server *srv)
{
    char buf[sizeof srv->cfg.listen];
    strcpy(buf, srv->cfg.listen);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        struct sip_endpoint ep;
        if (sip_endpoint_parse(tok, &ep) < 0) {
            LOG_ERROR("bad listen address '%s'", tok);
            return -1;
        }
        if (transport_listen(srv->tp, &ep) < 0)
            return -1;
    }
    return 0;
}

/* Split a comma/space separated list into out (NULL-terminated); *buf keeps the strings. */
static void split_list(const char *list, char **buf, const char **out)
{
    int n = 0;
    if (list[0]) {
        *buf = strdup(list);
        char *save = NULL;
        for (char *tok = *buf ? strtok_r(*buf, ", ", &save) : NULL; tok && n < MAX_DOMAINS;
             tok = strtok_r(NULL, ", ", &save))
            out[n++] = tok;
    }
    out[n] = NULL;
}

/* The store has one nodes listener (store_nodes_set_listener): every part of this node that
 * follows the node table hears of its changes from here. */
static void on_nodes_changed(void *arg, int nid)
{
    struct server *srv = arg;
    node_self_changed(srv->self, nid);
    security_nodes_changed(srv->sec);
    if (srv->cluster)
        cluster_nodes_changed(srv->cluster, nid);
    if (srv->broker)
        broker_nodes_changed(srv->broker, nid);
}

/* What a draining node still holds besides transactions: the calls it record-routed. */
static size_t held_dialogs(void *arg) { return proxy_dialogs(arg); }

/* Drained, and cluster.exit_when_drained is set (cluster/self.c). */
static void on_self_drained_exit(void *arg) { server_shutdown(arg); }

/* /readyz (api/): NULL when this node takes work, else why not. */
static const char *not_ready(void *arg)
{
    struct server *srv = arg;
    if (srv->draining)
        return "stopping";
    if (!node_self_is_started(srv->self))
        return "starting";
    if (!store_is_available(srv->store))
        return "store unreachable";
    switch (node_self_state(srv->self, 0)) {
    case NODE_DRAINING: return "draining";
    case NODE_DRAINED: return "drained";
    default: return NULL;
    }
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The control plane's listener, bound now (a busy address is a start-up error); it serves once
 * server_start_api() runs in the process that keeps the loop. */
static int create_api(struct server *srv)
{
    const struct sipd_config *cfg = &srv->cfg;
    if (strcmp(cfg->api_listen, "off") == 0 || !cfg->api_listen[0])
        return 0;
    const char *webui = cfg->api_webui_dir[0] ? cfg->api_webui_dir
                        : is_dir(SIPD_WEBUI_DIR)  ? SIPD_WEBUI_DIR
                                                  : SIPD_SRC_WEBUI_DIR;
    struct api_config ac = {
        .listen = cfg->api_listen,
        .token = cfg->api_token,
        .token_file = cfg->api_token_file,
        .read_auth = cfg->api_read_auth,
        .webui_dir = webui,
        .node_name = cfg->node_name,
        .notice_from = cfg->api_notice_from,
        .tls_cert_file = cfg->api_tls ? cfg->tls_cert : NULL,
        .tls_key_file = cfg->api_tls ? cfg->tls_key : NULL,
        .allow_plain_remote = cfg->api_allow_plain_remote,
    };
    struct api_ctx ctx = {
        .loop = srv->loop, .store = srv->store, .txns = srv->txns, .cluster = srv->cluster,
        .self = srv->self, .broker = srv->broker, .presence = srv->presence,
        .not_ready = not_ready, .arg = srv,
    };
    char err[256];
    srv->api = api_create(&ac, &ctx, err, sizeof err);
    if (!srv->api) {
        LOG_ERROR("%s", err);
        return -1;
    }
    return 0;
}

int server_start_api(struct server *srv)
{
    char err[256];
    if (srv->api && api_serve(srv->api, err, sizeof err) < 0) {
        LOG_ERROR("%s", err);
        return -1;
    }
    return 0;
}

static int listens(void *arg, const char *host, int port)
{
    return transport_listens(arg, host, port);
}

struct server *server_create(struct loop *loop, const struct sipd_config *cfg)
{
    struct server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->loop = loop;
    srv->cfg = *cfg;
    sip_msg_init();
    metric_set(metrics_gauge(metrics_default(), "sipd_start_time_seconds",
                             "When this process started, in seconds since the Unix epoch."),
               (double)time(NULL));
    split_list(srv->cfg.domain, &srv->domain_buf, srv->domains);
    split_list(srv->cfg.redirect_domains, &srv->redirect_buf, srv->redirect_domains);
    if (gethostname(srv->hostname, sizeof srv->hostname - 1) < 0)
        srv->hostname[0] = '\0';
    struct transport_config tc = {
        .max_message_bytes = (size_t)cfg->max_message_bytes,
        .max_connections = (size_t)cfg->max_connections,
        .tcp_idle_timeout_s = (unsigned)cfg->tcp_idle_timeout_s,
        .max_tx_buffer_bytes = 4u * 1024 * 1024,
        .max_connections_per_source = (size_t)cfg->lim_max_conn_per_source,
        .tcp_stall_timeout_s = (unsigned)cfg->lim_tcp_stall_timeout_s,
    };
    struct txn_config xc = {.t1_ms = (unsigned)cfg->t1_ms, .t2_ms = (unsigned)cfg->t2_ms,
                            .t4_ms = (unsigned)cfg->t4_ms};
    struct registrar_config rc = {
        .min_expires = cfg->min_expires,
        .max_expires = cfg->max_expires,
        .default_expires = cfg->default_expires,
        .max_contacts = cfg->max_contacts,
        .domains = srv->domains,
        .node_name = cfg->db[0] ? cfg->node_name : NULL,
    };
    srv->tp = transport_create(loop, &tc, on_message, srv);
    srv->store = srv->tp ? store_create(loop, cfg->db) : NULL;
    if (srv->store)
        store_set_registrations_sync_commit(srv->store, cfg->db_reg_sync_commit);
    srv->store_rejections = limit_rejections("max_store_pending");
    srv->txns = srv->store ? txn_layer_create(loop, srv->tp, &xc) : NULL;
    srv->local = (struct uri_local){.domains = srv->domains, .hostname = srv->hostname,
                                    .listens = listens, .arg = srv->tp};
    if (srv->txns && (cfg->role_mask & ROLE_BALANCER)) {
        struct cluster_config cc = {
            .self_name = cfg->node_name,
            .heartbeat_ms = (unsigned)cfg->heartbeat_ms,
            .heartbeat_misses = (unsigned)cfg->heartbeat_misses,
            .promote_permille = cfg->promote_permille,
        };
        srv->cluster = cluster_create(loop, srv->tp, srv->store, &cc);
        if (!srv->cluster) {
            LOG_ERROR("out of memory at start-up");
            server_destroy(srv);
            return NULL;
        }
    }
    struct proxy_config pxc = {
        .record_route = cfg->record_route,
        .redirect_all = (cfg->role_mask & ROLE_REDIRECT) && !(cfg->role_mask & ROLE_PROXY),
        .local = &srv->local,
        .redirect_domains = srv->redirect_domains,
        .timer_c_ms = (unsigned)cfg->timer_c_ms,
        .cluster = srv->cluster,
        .failover_ms = (unsigned)cfg->failover_ms,
        /* a node with a row can be drained: it must know when its calls are over */
        .track_dialogs = cfg->db[0] && cfg->node_name[0],
    };
    srv->registrar = srv->txns ? registrar_create(srv->store, &rc) : NULL;
    srv->proxy = srv->registrar ? proxy_create(loop, srv->tp, srv->txns, srv->store, &pxc) : NULL;
    if (srv->proxy && (cfg->role_mask & ROLE_BROKER)) {
        struct broker_config bc = {
            .default_expires = cfg->im_default_expires,
            .min_expires = cfg->im_min_expires,
            .max_expires = cfg->im_max_expires,
            .max_message_bytes = (size_t)cfg->im_max_message_bytes,
            .max_queue = (size_t)cfg->im_max_queue,
            .max_subscriptions = (size_t)cfg->im_max_subscriptions,
            .ret = {.count = cfg->im_retention_count, .age_s = cfg->im_retention_age_s},
            .domains = srv->domains,
            .node_name = cfg->db[0] ? cfg->node_name : NULL,
        };
        srv->broker = broker_create(loop, srv->tp, srv->txns, srv->store, &bc);
        if (!srv->broker) {
            proxy_destroy(srv->proxy); /* reported below */
            srv->proxy = NULL;
        } else {
            registrar_set_hook(srv->registrar, on_registered, srv);
            if (cfg->im_groups[0] && create_static_groups(srv, cfg->im_groups) < 0) {
                server_destroy(srv);
                return NULL;
            }
        }
    }
    struct presence_config prc = {
        .publish_min_expires = cfg->pres_publish_min_expires,
        .publish_max_expires = cfg->pres_publish_max_expires,
        .publish_default_expires = cfg->pres_publish_default_expires,
        .subscribe_min_expires = cfg->pres_min_expires,
        .subscribe_max_expires = cfg->pres_max_expires,
        .subscribe_default_expires = cfg->pres_default_expires,
        .domains = srv->domains,
        .auth_enabled = cfg->auth_enabled,
    };
    if (srv->proxy && (cfg->role_mask & ROLE_BROKER))
        srv->presence = presence_create(loop, srv->tp, srv->txns, srv->store, &prc);
    if (!srv->proxy || ((cfg->role_mask & ROLE_BROKER) && !srv->presence)) {
        LOG_ERROR("out of memory at start-up");
        server_destroy(srv);
        return NULL;
    }
    if (security_create(loop, srv->store, srv->tp, cfg, srv->domains, forwards(srv),
                        srv->broker != NULL, on_authenticated, srv, &srv->sec) < 0 ||
        open_listeners(srv) < 0) {
        server_destroy(srv);
        return NULL;
    }
    srv->self = node_self_create(loop, srv->store, srv->txns, &srv->cfg, on_self_drained_exit, srv);
    if (!srv->self) {
        server_destroy(srv);
        return NULL;
    }
    if (srv->proxy && (cfg->role_mask & (ROLE_PROXY | ROLE_BALANCER)))
        node_self_set_held(srv->self, held_dialogs, srv->proxy);
    if (node_self_has_row(srv->self) && !(cfg->role_mask & ROLE_BALANCER) &&
        security_add_peers(srv->sec, loop, srv->store, cfg) < 0) {
        server_destroy(srv);
        return NULL;
    }
    if (node_self_has_row(srv->self) || srv->cluster)
        store_nodes_set_listener(srv->store, on_nodes_changed, srv);
    if (create_api(srv) < 0) {
        server_destroy(srv);
        return NULL;
    }
    loop_timer_start(loop, &srv->expire_timer, 1000, expire_tick, srv);
    return srv;
}

static void drain_check(struct timer *t, void *arg)
{
    struct server *srv = arg;
    size_t pending = txn_layer_pending(srv->txns) + store_pending(srv->store);
    if (pending == 0 || loop_now_ms(srv->loop) >= srv->drain_deadline_ms) {
        if (pending)
            LOG_WARN("shutdown grace period over with %zu operations in flight", pending);
        loop_stop(srv->loop);
        return;
    }
    loop_timer_start(srv->loop, &srv->drain_timer, 20, drain_check, srv);
}

void server_shutdown(struct server *srv)
{
    if (srv->draining)
        return;
    srv->draining = 1;
    LOG_INFO("shutting down: finishing %zu transactions (grace %d ms)", txn_layer_pending(srv->txns),
             srv->cfg.shutdown_grace_ms);
    transport_stop_accepting(srv->tp);
    if (srv->presence)
        presence_shutdown(srv->presence);
    if (srv->broker)
        broker_shutdown(srv->broker);
    node_self_stop(srv->self); /* status 0: one store operation, waited for below */
    srv->drain_deadline_ms = loop_now_ms(srv->loop) + (uint64_t)srv->cfg.shutdown_grace_ms;
    drain_check(&srv->drain_timer, srv);
}

void server_destroy(struct server *srv)
{
    if (!srv)
        return;
    loop_timer_stop(srv->loop, &srv->expire_timer);
    loop_timer_stop(srv->loop, &srv->drain_timer);
    /* the API's threads end first; a job still in the store is answered by store_destroy below */
    api_stop(srv->api);
    /* the store first: its pending callbacks still answer through live transactions */
    if (srv->store) {
        store_im_set_listener(srv->store, NULL, NULL);
        store_pres_set_listener(srv->store, NULL, NULL);
        store_nodes_set_listener(srv->store, NULL, NULL);
    }
    store_destroy(srv->store);
    security_destroy(srv->sec); /* after the store: its callbacks came (auth, peers) */
    node_self_destroy(srv->self); /* likewise */
    presence_destroy(srv->presence);
    broker_destroy(srv->broker);
    proxy_destroy(srv->proxy);
    cluster_destroy(srv->cluster); /* after the store: its callbacks ran in store_destroy */
    registrar_destroy(srv->registrar);
    txn_layer_destroy(srv->txns);
    transport_destroy(srv->tp);
    loop_timer_stop(srv->loop, &srv->groups_timer);
    for (size_t i = 0; i < srv->ngroups; i++) {
        free(srv->groups[i]->member_buf);
        free(srv->groups[i]);
    }
    free(srv->domain_buf);
    free(srv->redirect_buf);
    free(srv);
}

void server_reload_limits(struct server *srv, const struct sipd_config *cfg)
{
    struct registrar_config rc = {.min_expires = cfg->min_expires, .max_expires = cfg->max_expires,
                                  .default_expires = cfg->default_expires,
                                  .max_contacts = cfg->max_contacts};
    registrar_set_limits(srv->registrar, &rc);
    srv->cfg.min_expires = rc.min_expires;
    srv->cfg.max_expires = rc.max_expires;
    srv->cfg.default_expires = rc.default_expires;
    srv->cfg.max_contacts = rc.max_contacts;
}

int server_add_groups(struct server *srv, const char *spec)
{
    return srv->broker ? create_static_groups(srv, spec) : -1;
}
