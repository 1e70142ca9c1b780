/* select.h - which node gets a request: the balancer's decisions over its copy of the node
 * table, free of sockets, timers and the store so that they can be tested alone.
 *
 *  - REGISTER goes to a registrar, other initial requests to a proxy: the eligible node with
 *    the lowest (work_num + inflight) / max_num, where work_num is the node's own count from its
 *    last heartbeat answer and inflight what this balancer has sent it and not yet seen answered;
 *    the fraction is compared in steps of 1/8, and nodes in the same step (idle ones, typically)
 *    take turns in proportion to their max_num (smooth weighted round robin), so that light
 *    traffic divides by capacity too and a one-transaction snapshot difference does not herd it;
 *  - IM and presence requests go to the broker that owns the topic: rendezvous (highest random
 *    weight) hashing of (node name, topic) over the eligible brokers, so that a broker joining
 *    or leaving moves only its own share of the topics;
 *  - eligible = up (answering heartbeats), not draining, not standby (waiting), and, except for
 *    topic affinity, below max_num.
 * The order returned is also the failover order. */
#ifndef SIPD_SELECT_H
#define SIPD_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "../transport/transport.h"

enum cnode_role {
    CNODE_REGISTRAR = 1 << 0,
    CNODE_PROXY = 1 << 1,
    CNODE_BROKER = 1 << 2,
    CNODE_BALANCER = 1 << 3,
};

/* Nodes a balancer keeps in its copy of the table. */
#define CNODE_MAX 256

/* A node as one balancer sees it. */
struct cnode {
    int nid;
    char name[64];
    char address[128];     /* as in the table: "udp:127.0.0.1:5071" */
    struct sip_source dst; /* address parsed; dst.peerlen 0 when unusable */
    unsigned roles;        /* CNODE_* */
    int waiting, draining; /* from the table */
    int max_num;           /* from the table */
    int status;            /* from the table (what a balancer last wrote) */
    /* live, from this balancer's heartbeats */
    int up;
    int misses;            /* consecutive unanswered probes */
    int work_num;          /* from the last answer's Sipd-Load */
    char state[16];        /* from the last answer's Sipd-Load: active, standby, draining, drained */
    double rtt_ms;
    unsigned inflight;     /* requests this balancer sent it that have no final answer yet */
    long long credit;      /* smooth weighted round robin among equally loaded nodes */
    uint64_t promoted_until; /* promoted here: a table read begun before this load id may still
                              * show waiting 1 and is not believed on that (0 = none) */
};

/* "registrar,proxy" (text[] as libpq prints it, "{registrar,proxy}", also accepted) -> CNODE_*.
 * "all" is registrar, proxy and broker. Unknown names are ignored. */
unsigned cnode_roles_parse(const char *s);

/* Can v take new work of `role`? (topic affinity ignores the max_num limit) */
int cnode_eligible(const struct cnode *v, unsigned role, int for_topic);

/* The nodes to try for a request needing `role`, best first, as indexes into v[0..n); topic
 * non-NULL: rendezvous order for that topic. Returns how many were written (at most max). */
size_t cnode_select(const struct cnode *v, size_t n, unsigned role, const char *topic, size_t *idx,
                    size_t max);

/* Among the nodes idx[0..k) that cnode_select() put first and that are equally loaded, the one
 * whose turn it is (smooth weighted round robin by max_num) is moved to idx[0]; their credits
 * change. Call once per request sent. */
void cnode_take_turn(struct cnode *v, size_t *idx, size_t k);

/* The rendezvous weight of (node name, topic). */
uint64_t cnode_weight(const char *name, const char *topic);

/* The standby node of `role` to promote now, as an index, or -1: one is promoted when no active
 * node of the role is eligible, or every eligible one carries at least promote_permille/1000 of
 * its max_num. Only an up, non-draining standby is promoted; the lowest nid first. */
int cnode_promote_candidate(const struct cnode *v, size_t n, unsigned role, int promote_permille);

#endif
