/* security.c - TLS credentials, admission, cluster peers and authentication built from the
 * configuration, and asked in turn for every request; see security.h. */
#include "security.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cluster/peers.h"
#include "cluster/self.h"
#include "sip/admission.h"
#include "transport/tls.h"

struct security {
    struct peers *peers;         /* a cluster node: who may send it requests; NULL = anyone */
    struct auth *auth;           /* digest authentication (auth/); NULL with auth.enabled off */
    struct admission *admission; /* limits checked before parsing (docs/limits.md) */
};

/* With tls.cert and tls.key: the credentials for tls: listeners and outbound TLS. A file that
 * does not load is a start-up error naming it. */
static int open_tls(struct transport *tp, const struct sipd_config *cfg)
{
    if (!cfg->tls_cert[0] && !cfg->tls_key[0])
        return 0;
    struct tls_config tc = {.cert_file = cfg->tls_cert, .key_file = cfg->tls_key, .ca_file = cfg->tls_ca,
                            .handshake_timeout_ms = (unsigned)cfg->tls_handshake_timeout_ms,
                            .max_handshakes = (size_t)cfg->tls_max_handshakes};
    char err[1200];
    struct tls_ctx *ctx = tls_ctx_create(&tc, err, sizeof err);
    if (!ctx) {
        LOG_ERROR("%s", err);
        return -1;
    }
    transport_set_tls(tp, ctx);
    return 0;
}

int security_create(struct loop *loop, struct store *st, struct transport *tp,
                    const struct sipd_config *cfg, const char *const *domains, int forwards,
                    int has_broker, auth_resume_fn resume, void *arg, struct security **out)
{
    struct security *sec = *out = calloc(1, sizeof *sec);
    if (!sec) {
        LOG_ERROR("out of memory at start-up");
        return -1;
    }
    if (cfg->auth_enabled && !(cfg->role_mask & ROLE_BALANCER)) {
        struct auth_config ac = {.domains = domains, .nonce_ttl_s = (unsigned)cfg->auth_nonce_ttl_s,
                                 .algorithms = cfg->auth_algorithms,
                                 .forwards = forwards, .has_registrar = (cfg->role_mask & ROLE_REGISTRAR) != 0,
                                 .has_broker = has_broker,
                                 .limits = {.source_rate_milli = (unsigned)cfg->auth_fail_rate,
                                            .source_burst = (unsigned)cfg->auth_fail_burst,
                                            .user_rate_milli = (unsigned)cfg->auth_user_fail_rate,
                                            .user_burst = (unsigned)cfg->auth_user_fail_burst,
                                            .max_keys = (size_t)cfg->lim_max_sources,
                                            .exempt = cfg->lim_exempt},
                                 .is_uri_checked = cfg->auth_check_uri};
        if (!(sec->auth = auth_create(loop, st, &ac, resume, arg))) {
            LOG_ERROR("auth: out of memory, or auth.algorithms '%s' is not a list of SHA-256 and MD5 "
                      "(or limits.exempt is bad, said above)", cfg->auth_algorithms);
            return -1;
        }
    } else if (!(cfg->role_mask & ROLE_BALANCER)) {
        LOG_WARN("auth.enabled is off: ANYONE may register, call, publish and subscribe as ANY user "
                 "(turn it on with --auth on or auth.enabled = yes; docs/auth.md)");
    }
    struct admission_config adc = {
        .rate_per_s = (unsigned)cfg->lim_rate, .burst = (unsigned)cfg->lim_burst,
        .reject_rate_per_s = (unsigned)cfg->lim_reject_rate,
        .max_sources = (size_t)cfg->lim_max_sources, .exempt = cfg->lim_exempt,
        .max_headers = (unsigned)cfg->lim_max_headers,
        .max_header_line_bytes = (size_t)cfg->lim_max_header_line,
        .max_body_udp_bytes = (size_t)cfg->lim_max_body_udp,
        .max_body_tcp_bytes = (size_t)cfg->lim_max_body_tcp,
    };
    char aerr[256];
    sec->admission = admission_create(&adc, aerr, sizeof aerr);
    if (!sec->admission)
        LOG_ERROR("%s", aerr);
    return !sec->admission || open_tls(tp, cfg) < 0 ? -1 : 0;
}

void security_destroy(struct security *sec)
{
    if (!sec)
        return;
    auth_destroy(sec->auth);
    peers_destroy(sec->peers);
    admission_destroy(sec->admission);
    free(sec);
}

/* The trust hook of admission and auth: the cluster's own nodes (docs/limits.md). */
static int is_cluster_node(void *arg, const struct sockaddr_storage *peer)
{
    return peers_is_node(arg, peer);
}

int security_add_peers(struct security *sec, struct loop *loop, struct store *st,
                       const struct sipd_config *cfg)
{
    char err[256];
    if (peers_create(loop, st, cfg->accept_from, &sec->peers, err, sizeof err) < 0) {
        LOG_ERROR("%s", err);
        return -1;
    }
    char self_addr[160];
    if (node_self_address(cfg, self_addr, sizeof self_addr, err, sizeof err) == 0)
        peers_admit_endpoint(sec->peers, self_addr);
    if (sec->peers)
        admission_set_trusted(sec->admission, is_cluster_node, sec->peers);
    if (sec->peers)
        auth_set_trusted(sec->auth, is_cluster_node, sec->peers);
    return 0;
}

void security_nodes_changed(struct security *sec) { peers_changed(sec->peers); }

int security_admits(struct security *sec, struct transport *tp, const struct sip_source *src,
                    const char *buf, size_t len, size_t hdr, uint64_t now_ms)
{
    char refusal[1024];
    size_t refusal_len;
    if (admission_check(sec->admission, src, buf, len, hdr, now_ms, refusal, sizeof refusal,
                        &refusal_len) == ADMIT_PASS)
        return 1;
    if (refusal_len)
        transport_send(tp, src, refusal, refusal_len);
    return 0;
}

int security_refuses_source(const struct security *sec, const osip_message_t *req,
                            const struct sip_source *src, int *code, const char **reason)
{
    if (!sec->peers)
        return 0;
    enum peers_verdict v = peers_check(sec->peers, &src->peer);
    if (v == PEERS_ALLOW)
        return 0;
    char peer[SOCKADDR_STRLEN];
    LOG_DEBUG("request from %s refused: not a cluster node (cluster.accept_from)",
              sockaddr_str(&src->peer, peer, sizeof peer));
    *code = 0;
    *reason = NULL;
    if (strcmp(req->sip_method ? req->sip_method : "", "ACK") != 0) {
        *code = v == PEERS_DENY ? 403 : 503;
        *reason = v == PEERS_DENY ? "Not a cluster node" : "Cluster table not read yet";
    }
    return 1;
}

int security_authenticates(struct security *sec, struct sip_txn *t, const struct sip_req_class *c,
                           const char *raw, size_t raw_len)
{
    return !sec->auth || auth_check(sec->auth, t, c, raw, raw_len) == AUTH_PROCEED;
}
