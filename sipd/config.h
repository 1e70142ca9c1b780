/* config.h - sipd configuration: defaults, a key = value file with [sections], flag overrides. */
#ifndef SIPD_CONFIG_H
#define SIPD_CONFIG_H

#include <stddef.h>

enum sipd_role {
    ROLE_REGISTRAR = 1 << 0,
    ROLE_PROXY = 1 << 1,
    ROLE_BROKER = 1 << 2,
    ROLE_BALANCER = 1 << 3,
    ROLE_REDIRECT = 1 << 4,
    /* `all` = every role but the balancer, which runs as a node of its own (docs/cluster.md) */
    ROLE_ALL = ROLE_REGISTRAR | ROLE_PROXY | ROLE_BROKER,
};

struct sipd_config {
    /* [sipd] */
    char roles[128];
    char listen[1024];
    char domain[512];
    char log_level[16];
    char pidfile[256];
    int foreground;
    char node_name[64]; /* --name: this node's row in `nodes` (with a database); "" = no row */
    /* [database] */
    char db[1024];
    char schema_dir[512];
    int db_reg_sync_commit; /* registrations_sync_commit */
    /* [registrar] */
    int min_expires, max_expires, default_expires, max_contacts;
    /* [transport] */
    int max_message_bytes, max_connections, tcp_idle_timeout_s;
    /* [limits] (docs/limits.md) */
    int lim_rate, lim_burst, lim_reject_rate, lim_max_sources, lim_max_headers;
    int lim_max_store_pending;
    int lim_max_header_line, lim_max_body_udp, lim_max_body_tcp, lim_max_conn_per_source;
    int lim_tcp_stall_timeout_s;
    char lim_exempt[512];
    /* [sip] */
    int t1_ms, t2_ms, t4_ms, shutdown_grace_ms;
    /* [proxy] */
    int record_route, timer_c_ms;
    char redirect_domains[512];
    /* [broker] presence package */
    int pres_publish_min_expires, pres_publish_max_expires, pres_publish_default_expires;
    int pres_min_expires, pres_max_expires, pres_default_expires;
    /* [broker] (docs/im-event-package.md §17) */
    int im_default_expires, im_min_expires, im_max_expires, im_max_message_bytes, im_max_queue;
    int im_max_subscriptions;
    int im_retention_count, im_retention_age_s;
    char im_groups[16384]; /* static group topics: "TOPIC=MEMBER MEMBER ...; TOPIC=..." */
    /* [node] this node's row in `nodes` (docs/cluster.md) */
    char node_address[128]; /* where other nodes reach it; "" = its first --listen entry */
    int node_max_num;       /* capacity in transactions in progress */
    int node_standby;       /* the row's waiting = 1 */
    /* [cluster] */
    int heartbeat_ms;       /* balancer: OPTIONS probe period per node */
    int heartbeat_misses;   /* unanswered probes before a node is down */
    int promote_permille;   /* cluster.promote_load as thousandths of max_num (0.8 = 800) */
    int failover_ms;        /* balancer: no answer from a node for this long: try the next one */
    int exit_when_drained;  /* --exit-when-drained */
    char accept_from[1024]; /* a cluster node takes requests from: nodes, any, addresses/prefixes */
    /* [api] the embedded HTTP control plane (docs/api.md) */
    char api_listen[128];   /* --api ADDR:PORT, or "off" */
    char api_token[256];    /* bearer token for writes; "" = writes refused */
    char api_token_file[512];
    int api_read_auth;      /* reads need the token too */
    char api_webui_dir[512]; /* the status page's files; "" = the installed or source-tree copy */
    char api_notice_from[256]; /* sender of messages published through the API */
    int api_tls;               /* api.tls: HTTPS with tls.cert / tls.key (docs/tls.md) */
    int api_allow_plain_remote; /* api.allow_plain_remote: plain HTTP beyond loopback anyway */
    /* [tls] SIP over TLS, and the API's HTTPS (docs/tls.md) */
    char tls_cert[512], tls_key[512], tls_ca[512]; /* PEM files; tls_ca "" = no client certs */
    int tls_handshake_timeout_ms, tls_max_handshakes;
    /* [auth] digest authentication (docs/auth.md) */
    int auth_enabled;       /* challenge requests from users of the served domains */
    int auth_nonce_ttl_s;   /* how long a nonce stays valid (then stale=true) */
    char auth_algorithms[32]; /* challenges offered, in order: "SHA-256,MD5" */
    int auth_fail_rate, auth_user_fail_rate; /* failed attempts forgiven per second, thousandths */
    int auth_fail_burst, auth_user_fail_burst;
    int auth_check_uri;       /* the credentials' uri must be the Request-URI (else 400) */

    unsigned role_mask; /* derived from roles by config_finish() */
};

void config_defaults(struct sipd_config *c);

/* Set section.key = value. Returns 0, or -1 with a message naming the key in err. */
int config_set(struct sipd_config *c, const char *section, const char *key, const char *value,
               char *err, size_t errlen);

/* "section.key=value" form (for --set). */
int config_set_dotted(struct sipd_config *c, const char *assignment, char *err, size_t errlen);

/* Read a config file. Returns 0, or -1 with "FILE:LINE: ..." in err. */
int config_load_file(struct sipd_config *c, const char *path, char *err, size_t errlen);

/* Validate cross-key rules and derive role_mask. Returns 0 or -1 with err. */
int config_finish(struct sipd_config *c, char *err, size_t errlen);

/* Parse a roles list ("all", "registrar,proxy"). Returns the mask, or 0 if invalid. */
unsigned config_parse_roles(const char *s);

/* When database.schema_dir is not set (flag, file or --set), copy into it the first of cands[0..n)
 * that is an existing directory. Returns 0 (also when it was set: it is kept as given, and a wrong
 * one is reported where it is opened), or -1 when none exists, with err naming every one tried. */
int config_pick_schema_dir(struct sipd_config *c, const char *const *cands, size_t n, char *err,
                           size_t errlen);

/* Call cb(arg, section, key) for every key whose value differs between a and b, in the order of
 * the key table (used by a SIGHUP reload, reload.c). Returns how many differ. */
typedef void (*config_diff_cb)(void *arg, const char *section, const char *key);
int config_diff(const struct sipd_config *a, const struct sipd_config *b, config_diff_cb cb, void *arg);

#endif
