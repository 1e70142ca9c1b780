/* cluster.h - the balancer's view of the cluster: a hot copy of the `nodes` table, refreshed
 * when the store says a row changed (PostgreSQL LISTEN sipd_nodes), live heartbeats, standby
 * promotion, and the choice of node for a request (select.h).
 *
 * Heartbeats: every cluster.heartbeat_ms each node of the table but this balancer gets an
 * OPTIONS, sent without a transaction (one outstanding probe per node; its branch names the
 * node and round). The node's 200 carries its load in `Sipd-Load` (docs/cluster.md); after
 * cluster.heartbeat_misses unanswered probes in a row the node is down and gets no new work
 * until it answers again. Each round's results go to the store in one batch (nodes columns and
 * `heartbeats` history); while the store is away they queue (bounded) and are written when it
 * returns, and routing goes on from the last copy of the table plus the live heartbeats. */
#ifndef SIPD_CLUSTER_H
#define SIPD_CLUSTER_H

#include <osipparser2/osip_parser.h>
#include <stddef.h>

#include "select.h"

struct cluster;
struct loop;
struct store;
struct transport;

struct cluster_config {
    const char *self_name;       /* this balancer's row: not probed, never chosen */
    unsigned heartbeat_ms;       /* probe period (cluster.heartbeat_ms) */
    unsigned heartbeat_misses;   /* unanswered probes before a node is down */
    int promote_permille;        /* cluster.promote_load, thousandths */
};

/* Loads the table at once (and again whenever cluster_nodes_changed() is called) and starts the
 * heartbeats. NULL on allocation failure. Caller frees with cluster_destroy(). */
struct cluster *cluster_create(struct loop *loop, struct transport *tp, struct store *st,
                               const struct cluster_config *cfg);
void cluster_destroy(struct cluster *cl);

/* The store's nodes listener: row nid changed (-1: re-read everything). */
void cluster_nodes_changed(struct cluster *cl, int nid);

/* A response that may answer a heartbeat probe. Returns 1 when it was one (the caller drops it),
 * 0 when it is not ours to take. */
int cluster_heartbeat_response(struct cluster *cl, const osip_message_t *resp);

/* The nodes to try for a request needing `role` (CNODE_*), best first (the failover order);
 * topic non-NULL: the topic's owner first (rendezvous). dst[i] and nid[i] for each; returns the
 * count (0: no node eligible). */
size_t cluster_pick(struct cluster *cl, unsigned role, const char *topic, struct sip_source *dst,
                    int *nid, size_t max);

/* Is there a node of `role` at addr (its IP address and port) that may take new work now (up,
 * not draining, not standby)? The balancer asks it of an in-dialog request's remote target. */
int cluster_is_live_at(const struct cluster *cl, unsigned role, const struct sockaddr_storage *addr);

/* A request was sent to node nid / got its final answer (or was given up): this balancer's
 * requests in flight count toward the node's load. */
void cluster_sent(struct cluster *cl, int nid);
void cluster_done(struct cluster *cl, int nid);

/* The current copy, for tests and the control plane. */
size_t cluster_nodes(const struct cluster *cl, const struct cnode **v);

#endif
