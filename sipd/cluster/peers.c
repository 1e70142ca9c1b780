/* peers.c - the addresses a cluster node takes requests from (see peers.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/loop.h"
#include "peers.h"
#include "store/store.h"
#include "transport/addr.h"

#define PEERS_MAX_PREFIXES 64
#define PEERS_MAX_NODES 4096
#define PEERS_RETRY_MS 1000

/* An IPv4 address is kept as its IPv4-mapped IPv6 form, so one comparison serves both. */
struct prefix {
    uint8_t addr[16];
    int bits; /* 0..128, counted on the mapped form for IPv4 */
};

struct peers {
    struct loop *loop;
    struct store *st;
    struct prefix prefixes[PEERS_MAX_PREFIXES];
    size_t nprefixes;
    int wants_nodes;
    uint8_t (*nodes)[16]; /* the table's addresses */
    size_t nnodes;
    int is_loaded;        /* the table was read at least once */
    int is_reading;       /* a read is in flight */
    int is_stale;         /* a change came while it was */
    struct timer retry;
};

static void to_mapped(const struct sockaddr_storage *ss, uint8_t out[16])
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a->sin_addr, 4);
    } else {
        memcpy(out, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
    }
}

/* "1.2.3.4", "::1", "10.0.0.0/8", "fd00::/8" into *pf. 0 or -1. */
static int parse_prefix(const char *tok, struct prefix *pf)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(tok, '/');
    size_t hl = slash ? (size_t)(slash - tok) : strlen(tok);
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, tok, hl);
    host[hl] = '\0';
    int is_v4;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        is_v4 = 1;
        memset(pf->addr, 0, 10);
        pf->addr[10] = pf->addr[11] = 0xff;
        memcpy(pf->addr + 12, &a4, 4);
    } else if (inet_pton(AF_INET6, host, &a6) == 1) {
        is_v4 = 0;
        memcpy(pf->addr, &a6, 16);
    } else {
        return -1;
    }
    int max = is_v4 ? 32 : 128, bits = max;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || b < 0 || b > max)
            return -1;
        bits = (int)b;
    }
    pf->bits = is_v4 ? 96 + bits : bits;
    return 0;
}

static int prefix_has(const struct prefix *pf, const uint8_t a[16])
{
    int full = pf->bits / 8, rest = pf->bits % 8;
    if (memcmp(pf->addr, a, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (pf->addr[full] & mask) == (a[full] & mask);
}

/* Parse spec into p (may be NULL: check only). 1 when it admits anyone, 0, or -1 with err. */
static int parse_spec(const char *spec, struct peers *p, char *err, size_t errlen)
{
    char buf[1024];
    if (strlen(spec) >= sizeof buf) {
        snprintf(err, errlen, "cluster.accept_from: longer than %zu characters", sizeof buf - 1);
        return -1;
    }
    strcpy(buf, spec);
    int is_any = 0, ntok = 0;
    size_t npf = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ,\t", &save); tok; tok = strtok_r(NULL, " ,\t", &save)) {
        ntok++;
        if (strcmp(tok, "any") == 0) {
            is_any = 1;
        } else if (strcmp(tok, "nodes") == 0) {
            if (p)
                p->wants_nodes = 1;
        } else {
            struct prefix pf;
            if (parse_prefix(tok, &pf) < 0) {
                snprintf(err, errlen,
                         "cluster.accept_from: '%s' is neither nodes, any, an IP address nor a "
                         "prefix such as 10.0.0.0/8",
                         tok);
                return -1;
            }
            if (npf == PEERS_MAX_PREFIXES) {
                snprintf(err, errlen, "cluster.accept_from: more than %d prefixes",
                         PEERS_MAX_PREFIXES);
                return -1;
            }
            if (p)
                p->prefixes[p->nprefixes++] = pf;
            npf++;
        }
    }
    if (ntok == 0) {
        snprintf(err, errlen, "cluster.accept_from: empty (say nodes, any, or addresses)");
        return -1;
    }
    return is_any;
}

int peers_spec_check(const char *spec, char *err, size_t errlen)
{
    return parse_spec(spec, NULL, err, errlen) < 0 ? -1 : 0;
}

static void read_table(struct peers *p);

static void on_retry(struct timer *t, void *arg)
{
    (void)t;
    read_table(arg);
}

static void on_table(void *arg, int status, const struct node_row *v, size_t n)
{
    struct peers *p = arg;
    p->is_reading = 0;
    if (status != 0) {
        LOG_DEBUG("cluster.accept_from: node table not read (status %d); again in %d ms", status,
                  PEERS_RETRY_MS);
        if (!timer_is_armed(&p->retry))
            loop_timer_start(p->loop, &p->retry, PEERS_RETRY_MS, on_retry, p);
        return;
    }
    if (n > PEERS_MAX_NODES)
        n = PEERS_MAX_NODES;
    uint8_t(*nodes)[16] = n ? calloc(n, sizeof *nodes) : NULL;
    if (n && !nodes) {
        loop_timer_start(p->loop, &p->retry, PEERS_RETRY_MS, on_retry, p);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct sip_endpoint ep;
        if (v[i].address && sip_endpoint_parse(v[i].address, &ep) == 0)
            to_mapped(&ep.addr, nodes[k++]);
        else
            LOG_WARN("cluster.accept_from: node %s has address '%s', not numeric: its requests "
                     "will be refused",
                     v[i].name ? v[i].name : "?", v[i].address ? v[i].address : "");
    }
    free(p->nodes);
    p->nodes = nodes;
    p->nnodes = k;
    p->is_loaded = 1;
    if (p->is_stale) {
        p->is_stale = 0;
        read_table(p);
    }
}

static void read_table(struct peers *p)
{
    if (p->is_reading) {
        p->is_stale = 1;
        return;
    }
    p->is_reading = 1;
    store_nodes_load(p->st, on_table, p);
}

int peers_create(struct loop *loop, struct store *st, const char *spec, struct peers **out,
                 char *err, size_t errlen)
{
    *out = NULL;
    struct peers *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = parse_spec(spec, p, err, errlen);
    if (rc != 0) {
        free(p);
        return rc < 0 ? -1 : 0; /* "any": no check at all */
    }
    p->loop = loop;
    p->st = st;
    if (p->wants_nodes)
        read_table(p);
    else
        p->is_loaded = 1;
    *out = p;
    return 0;
}

void peers_admit_endpoint(struct peers *p, const char *endpoint)
{
    struct sip_endpoint ep;
    if (!p || p->nprefixes == PEERS_MAX_PREFIXES || sip_endpoint_parse(endpoint, &ep) < 0)
        return;
    struct prefix *pf = &p->prefixes[p->nprefixes++];
    to_mapped(&ep.addr, pf->addr);
    pf->bits = 128;
}

void peers_destroy(struct peers *p)
{
    if (!p)
        return;
    loop_timer_stop(p->loop, &p->retry);
    free(p->nodes);
    free(p);
}

void peers_changed(struct peers *p)
{
    if (p && p->wants_nodes)
        read_table(p);
}

/* src among the table's addresses (a is src in mapped form). */
static int is_node(const struct peers *p, const uint8_t a[16])
{
    for (size_t i = 0; i < p->nnodes; i++)
        if (memcmp(p->nodes[i], a, 16) == 0)
            return 1;
    return 0;
}

int peers_is_node(const struct peers *p, const struct sockaddr_storage *src)
{
    if (!p || !p->nnodes || (src->ss_family != AF_INET && src->ss_family != AF_INET6))
        return 0;
    uint8_t a[16];
    to_mapped(src, a);
    return is_node(p, a);
}

enum peers_verdict peers_check(const struct peers *p, const struct sockaddr_storage *src)
{
    if (!p)
        return PEERS_ALLOW;
    if (src->ss_family != AF_INET && src->ss_family != AF_INET6)
        return PEERS_DENY;
    uint8_t a[16];
    to_mapped(src, a);
    for (size_t i = 0; i < p->nprefixes; i++)
        if (prefix_has(&p->prefixes[i], a))
            return PEERS_ALLOW;
    if (is_node(p, a))
        return PEERS_ALLOW;
    return p->is_loaded ? PEERS_DENY : PEERS_UNKNOWN;
}
