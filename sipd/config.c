/* config.c - configuration; see config.h. Table-driven so every key is documented once. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/log.h"
#include "cluster/peers.h"
#include "transport/addr.h"

enum ktype { K_STR, K_INT, K_BOOL, K_FRAC /* 0..1 written as a decimal, kept in thousandths */ };

struct key {
    const char *section, *name;
    enum ktype type;
    size_t off, size;
    long min, max;
};

#define S(sec, nm, field) {sec, nm, K_STR, offsetof(struct sipd_config, field), sizeof(((struct sipd_config *)0)->field), 0, 0}
#define I(sec, nm, field, lo, hi) {sec, nm, K_INT, offsetof(struct sipd_config, field), sizeof(int), lo, hi}
#define B(sec, nm, field) {sec, nm, K_BOOL, offsetof(struct sipd_config, field), sizeof(int), 0, 1}
#define F(sec, nm, field) {sec, nm, K_FRAC, offsetof(struct sipd_config, field), sizeof(int), 0, 1000}
#define R(sec, nm, field, hi) {sec, nm, K_FRAC, offsetof(struct sipd_config, field), sizeof(int), 0, (hi) * 1000L}

static const struct key keys[] = {
    S("sipd", "roles", roles),
    S("sipd", "listen", listen),
    S("sipd", "domain", domain),
    S("sipd", "log_level", log_level),
    S("sipd", "pidfile", pidfile),
    B("sipd", "foreground", foreground),
    S("sipd", "node_name", node_name),
    S("database", "conninfo", db),
    S("database", "schema_dir", schema_dir),
    B("database", "registrations_sync_commit", db_reg_sync_commit),
    I("registrar", "min_expires", min_expires, 0, 86400),
    I("registrar", "max_expires", max_expires, 1, 31536000),
    I("registrar", "default_expires", default_expires, 1, 31536000),
    I("registrar", "max_contacts", max_contacts, 1, 1024),
    I("transport", "max_message_bytes", max_message_bytes, 1024, 16 * 1024 * 1024),
    I("transport", "max_connections", max_connections, 1, 1000000),
    I("transport", "tcp_idle_timeout_s", tcp_idle_timeout_s, 1, 86400),
    I("limits", "rate", lim_rate, 0, 10000000),
    I("limits", "burst", lim_burst, 1, 10000000),
    I("limits", "reject_rate", lim_reject_rate, 0, 1000000),
    I("limits", "max_sources", lim_max_sources, 1, 10000000),
    S("limits", "exempt", lim_exempt),
    I("limits", "max_headers", lim_max_headers, 8, 100000),
    I("limits", "max_header_line_bytes", lim_max_header_line, 128, 16 * 1024 * 1024),
    I("limits", "max_body_bytes_udp", lim_max_body_udp, 0, 65535),
    I("limits", "max_body_bytes_tcp", lim_max_body_tcp, 0, 16 * 1024 * 1024),
    I("limits", "max_connections_per_source", lim_max_conn_per_source, 0, 1000000),
    I("limits", "tcp_stall_timeout_s", lim_tcp_stall_timeout_s, 0, 86400),
    I("limits", "max_store_pending", lim_max_store_pending, 0, 10000000),
    I("sip", "t1_ms", t1_ms, 10, 60000),
    I("sip", "t2_ms", t2_ms, 10, 600000),
    I("sip", "t4_ms", t4_ms, 10, 600000),
    I("sip", "shutdown_grace_ms", shutdown_grace_ms, 0, 600000),
    B("proxy", "record_route", record_route),
    I("proxy", "timer_c_ms", timer_c_ms, 1000, 3600000),
    S("proxy", "redirect_domains", redirect_domains),
    I("broker", "presence_publish_min_expires", pres_publish_min_expires, 0, 86400),
    I("broker", "presence_publish_max_expires", pres_publish_max_expires, 1, 31536000),
    I("broker", "presence_publish_default_expires", pres_publish_default_expires, 1, 31536000),
    I("broker", "presence_min_expires", pres_min_expires, 0, 86400),
    I("broker", "presence_max_expires", pres_max_expires, 1, 31536000),
    I("broker", "presence_default_expires", pres_default_expires, 1, 31536000),
    I("broker", "im_default_expires", im_default_expires, 1, 31536000),
    I("broker", "im_min_expires", im_min_expires, 1, 86400),
    I("broker", "im_max_expires", im_max_expires, 1, 31536000),
    I("broker", "im_max_message_bytes", im_max_message_bytes, 1, 16 * 1024 * 1024),
    I("broker", "im_max_queue", im_max_queue, 1, 1000000),
    I("broker", "im_max_subscriptions", im_max_subscriptions, 1, 100000000),
    I("broker", "im_retention_count", im_retention_count, 0, 2000000000),
    I("broker", "im_retention_age_s", im_retention_age_s, 0, 2000000000),
    S("broker", "groups", im_groups),
    S("node", "address", node_address),
    I("node", "max_num", node_max_num, 1, 100000000),
    B("node", "standby", node_standby),
    I("cluster", "heartbeat_ms", heartbeat_ms, 50, 600000),
    I("cluster", "heartbeat_misses", heartbeat_misses, 1, 1000),
    F("cluster", "promote_load", promote_permille),
    I("cluster", "failover_ms", failover_ms, 50, 600000),
    B("cluster", "exit_when_drained", exit_when_drained),
    S("cluster", "accept_from", accept_from),
    S("api", "listen", api_listen),
    S("api", "token", api_token),
    S("api", "token_file", api_token_file),
    B("api", "read_auth", api_read_auth),
    S("api", "webui_dir", api_webui_dir),
    S("api", "notice_from", api_notice_from),
    B("api", "tls", api_tls),
    B("api", "allow_plain_remote", api_allow_plain_remote),
    S("tls", "cert", tls_cert),
    S("tls", "key", tls_key),
    S("tls", "ca", tls_ca),
    I("tls", "handshake_timeout_ms", tls_handshake_timeout_ms, 100, 600000),
    I("tls", "max_handshakes", tls_max_handshakes, 1, 1000000),
    B("auth", "enabled", auth_enabled),
    I("auth", "nonce_ttl_s", auth_nonce_ttl_s, 1, 86400),
    S("auth", "algorithms", auth_algorithms),
    R("auth", "fail_rate", auth_fail_rate, 1000000),
    I("auth", "fail_burst", auth_fail_burst, 1, 1000000),
    R("auth", "user_fail_rate", auth_user_fail_rate, 1000000),
    I("auth", "user_fail_burst", auth_user_fail_burst, 1, 1000000),
    B("auth", "check_uri", auth_check_uri),
};

void config_defaults(struct sipd_config *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->roles, "all");
    strcpy(c->listen, "udp:0.0.0.0:5060,tcp:0.0.0.0:5060");
    strcpy(c->log_level, "info");
    c->min_expires = 60;
    c->max_expires = 86400;
    c->default_expires = 3600;
    c->max_contacts = 16;
    c->max_message_bytes = 1024 * 1024 + 64 * 1024; /* room for a 1 MiB IM body plus headers */
    c->max_connections = 4096;
    c->tcp_idle_timeout_s = 600;
    c->lim_rate = 1000; /* docs/limits.md: generous; loopback exempt */
    c->lim_burst = 2000;
    c->lim_reject_rate = 10;
    c->lim_max_sources = 65536;
    strcpy(c->lim_exempt, "127.0.0.0/8, ::1");
    c->lim_max_headers = 256;
    c->lim_max_header_line = 16384;
    c->lim_max_body_udp = 65535;
    c->lim_max_body_tcp = 1024 * 1024;
    c->lim_max_conn_per_source = 1024;
    c->lim_tcp_stall_timeout_s = 30;
    c->lim_max_store_pending = 5000;
    c->t1_ms = 500;
    c->t2_ms = 4000;
    c->t4_ms = 5000;
    c->shutdown_grace_ms = 3000;
    c->record_route = 1;
    c->timer_c_ms = 180000;
    c->pres_publish_min_expires = 60;
    c->pres_publish_max_expires = 86400;
    c->pres_publish_default_expires = 3600;
    c->pres_min_expires = 60;
    c->pres_max_expires = 86400;
    c->pres_default_expires = 3600;
    c->im_default_expires = 3600;
    c->im_min_expires = 60;
    c->im_max_expires = 86400;
    c->im_max_message_bytes = 1024 * 1024;
    c->im_max_queue = 256;
    c->im_max_subscriptions = 1000000;
    c->im_retention_count = 10000;
    c->im_retention_age_s = 30 * 86400;
    c->node_max_num = 1000;
    c->heartbeat_ms = 1000;
    c->heartbeat_misses = 3;
    c->promote_permille = 800;
    strcpy(c->accept_from, "nodes");
    c->failover_ms = 2000;
    strcpy(c->api_listen, "127.0.0.1:5080");
    c->tls_handshake_timeout_ms = 10000;
    c->tls_max_handshakes = 256;
    c->auth_nonce_ttl_s = 300;
    strcpy(c->auth_algorithms, "SHA-256,MD5");
    c->auth_fail_rate = 1000; /* docs/auth.md "Failed attempts": 10, then 1 a second per source */
    c->auth_fail_burst = 10;
    c->auth_user_fail_rate = 100; /* 5, then 1 every 10 s per user */
    c->auth_user_fail_burst = 5;
    c->auth_check_uri = 1; /* RFC 2617 §3.2.2.5; off for devices that send another uri */
}

int config_set(struct sipd_config *c, const char *section, const char *key, const char *value,
               char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const struct key *k = &keys[i];
        if (strcmp(k->section, section) != 0 || strcmp(k->name, key) != 0)
            continue;
        char *field = (char *)c + k->off;
        if (k->type == K_STR) {
            if (strlen(value) >= k->size) {
                snprintf(err, errlen, "%s.%s: value too long (max %zu bytes)", section, key, k->size - 1);
                return -1;
            }
            strcpy(field, value);
            return 0;
        }
        if (k->type == K_BOOL) {
            int v;
            if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") || !strcmp(value, "1") ||
                !strcasecmp(value, "on"))
                v = 1;
            else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") || !strcmp(value, "0") ||
                     !strcasecmp(value, "off"))
                v = 0;
            else {
                snprintf(err, errlen, "%s.%s: expected yes or no, got '%s'", section, key, value);
                return -1;
            }
            *(int *)field = v;
            return 0;
        }
        char *end;
        errno = 0;
        if (k->type == K_FRAC) {
            double d = strtod(value, &end);
            if (errno || end == value || *end || !(d >= 0.0 && d * 1000.0 <= (double)k->max)) {
                snprintf(err, errlen, "%s.%s: expected a number in 0..%g, got '%s'", section, key,
                         (double)k->max / 1000.0, value);
                return -1;
            }
            *(int *)field = (int)(d * 1000.0 + 0.5);
            return 0;
        }
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < k->min || v > k->max) {
            snprintf(err, errlen, "%s.%s: expected an integer in %ld..%ld, got '%s'", section, key,
                     k->min, k->max, value);
            return -1;
        }
        *(int *)field = (int)v;
        return 0;
    }
    snprintf(err, errlen, "%s.%s: unknown key", section, key);
    return -1;
}

int config_set_dotted(struct sipd_config *c, const char *assignment, char *err, size_t errlen)
{
    const char *dot = strchr(assignment, '.');
    const char *eq = strchr(assignment, '=');
    if (!dot || !eq || dot > eq || dot == assignment) {
        snprintf(err, errlen, "--set %s: expected section.key=value", assignment);
        return -1;
    }
    char section[64], key[64];
    size_t sl = (size_t)(dot - assignment), kl = (size_t)(eq - dot - 1);
    if (sl >= sizeof section || kl >= sizeof key || kl == 0) {
        snprintf(err, errlen, "--set %s: expected section.key=value", assignment);
        return -1;
    }
    memcpy(section, assignment, sl);
    section[sl] = '\0';
    memcpy(key, dot + 1, kl);
    key[kl] = '\0';
    return config_set(c, section, key, eq + 1, err, errlen);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int config_load_file(struct sipd_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[2048], section[64] = "sipd";
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            rc = -1;
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (!e || e[1] || e - s - 1 <= 0 || (size_t)(e - s - 1) >= sizeof section) {
                snprintf(err, errlen, "%s:%d: malformed section header", path, lineno);
                rc = -1;
                break;
            }
            *e = '\0';
            strcpy(section, trim(s + 1));
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        char kerr[256];
        if (config_set(c, section, k, v, kerr, sizeof kerr) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, kerr);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

unsigned config_parse_roles(const char *s)
{
    unsigned mask = 0;
    char buf[128];
    if (strlen(s) >= sizeof buf)
        return 0;
    strcpy(buf, s);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        tok = trim(tok);
        if (!strcmp(tok, "all"))
            mask |= ROLE_ALL;
        else if (!strcmp(tok, "registrar"))
            mask |= ROLE_REGISTRAR;
        else if (!strcmp(tok, "proxy"))
            mask |= ROLE_PROXY;
        else if (!strcmp(tok, "broker"))
            mask |= ROLE_BROKER;
        else if (!strcmp(tok, "balancer"))
            mask |= ROLE_BALANCER;
        else if (!strcmp(tok, "redirect"))
            mask |= ROLE_REDIRECT;
        else
            return 0;
    }
    return mask;
}

int config_finish(struct sipd_config *c, char *err, size_t errlen)
{
    c->role_mask = config_parse_roles(c->roles);
    if (!c->role_mask) {
        snprintf(err, errlen, "sipd.roles: expected a list of registrar,proxy,broker,balancer,redirect or all, got '%s'", c->roles);
        return -1;
    }
    if ((c->role_mask & ROLE_BALANCER) && c->role_mask != ROLE_BALANCER) {
        /* the balancer is the edge: it forwards everything, so it shares its process with no
         * role that would take requests itself (docs/cluster.md) */
        snprintf(err, errlen, "sipd.roles: the balancer runs as a node of its own (--roles balancer), "
                              "got '%s'", c->roles);
        return -1;
    }
    if (peers_spec_check(c->accept_from, err, errlen) < 0)
        return -1;
    if ((c->role_mask & ROLE_BALANCER) && !c->db[0]) {
        snprintf(err, errlen, "sipd.roles: the balancer needs the cluster's database (--db CONNINFO)");
        return -1;
    }
    enum log_level lvl;
    if (log_level_parse(c->log_level, &lvl) < 0) {
        snprintf(err, errlen, "sipd.log_level: expected error, warn, info or debug, got '%s'", c->log_level);
        return -1;
    }
    char buf[sizeof c->listen];
    strcpy(buf, c->listen);
    char *save = NULL;
    int n = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        struct sip_endpoint ep;
        if (sip_endpoint_parse(trim(tok), &ep) < 0) {
            snprintf(err, errlen, "sipd.listen: '%s' is not udp:ADDRESS:PORT, tcp:ADDRESS:PORT or tls:ADDRESS[:PORT]", trim(tok));
            return -1;
        }
        if ((ep.proto == SIP_PROTO_TLS || c->api_tls) && (!c->tls_cert[0] || !c->tls_key[0])) {
            snprintf(err, errlen, "%s needs tls.cert and tls.key", c->api_tls ? "api.tls" : "sipd.listen: a tls: listener");
            return -1;
        }
        n++;
    }
    if (n == 0) {
        snprintf(err, errlen, "sipd.listen: no address given");
        return -1;
    }
    if (c->min_expires > c->max_expires) {
        snprintf(err, errlen, "registrar.min_expires: %d is above registrar.max_expires %d", c->min_expires, c->max_expires);
        return -1;
    }
    return 0;
}

int config_pick_schema_dir(struct sipd_config *c, const char *const *cands, size_t n, char *err,
                           size_t errlen)
{
    if (c->schema_dir[0])
        return 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (cands[i] && strlen(cands[i]) < sizeof c->schema_dir && stat(cands[i], &st) == 0 &&
            S_ISDIR(st.st_mode)) {
            strcpy(c->schema_dir, cands[i]);
            return 0;
        }
    }
    size_t used = (size_t)snprintf(err, errlen, "no schema directory found (tried");
    const char *sep = " ";
    for (size_t i = 0; i < n && used < errlen; i++) {
        if (cands[i]) {
            used += (size_t)snprintf(err + used, errlen - used, "%s%s", sep, cands[i]);
            sep = ", ";
        }
    }
    if (used < errlen)
        snprintf(err + used, errlen - used, "); give one with --schema-dir DIR");
    return -1;
}

int config_diff(const struct sipd_config *a, const struct sipd_config *b, config_diff_cb cb, void *arg)
{
    int n = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const struct key *k = &keys[i];
        const char *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;
        int same = k->type == K_STR ? strcmp(fa, fb) == 0 : *(const int *)fa == *(const int *)fb;
        if (!same) {
            n++;
            if (cb)
                cb(arg, k->section, k->name);
        }
    }
    return n;
}
