/* peers.h - who may send a node requests: the cluster's own nodes (docs/cluster.md, "Who may talk
 * to a node").
 *
 * A node of a cluster (a database, a --name, and not the balancer role) takes requests only from
 * the addresses that `cluster.accept_from` names: `nodes` (the IP address of every row of the
 * node table, balancers included; kept current through the store's nodes listener), IP addresses
 * and CIDR prefixes ("10.0.0.0/8", "fd00::/8"), or `any` (no check). The default is `nodes`. A
 * request from anywhere else is answered 403 before any role sees it; a heartbeat OPTIONS
 * included, so a stranger learns nothing of the node's load. Until the table has been read once
 * (the database may be away at start) a request that the prefixes do not admit is answered 503
 * (try again). Node addresses are matched by IP address only (a balancer's TCP connections
 * come from any port); node.address should therefore be numeric, which it already must be. */
#ifndef SIPD_CLUSTER_PEERS_H
#define SIPD_CLUSTER_PEERS_H

#include <stddef.h>
#include <sys/socket.h>

struct loop;
struct peers;
struct store;

/* Parse spec (cluster.accept_from). 0 and *out set (NULL when spec admits anyone: "any"), or -1
 * with a message in err. With "nodes" in spec the table is read from st at once, again on every
 * peers_changed(), and every second while a read fails. loop and st must outlive the result;
 * destroy it after the store (a read's callback may come from store_destroy). */
int peers_create(struct loop *loop, struct store *st, const char *spec, struct peers **out,
                 char *err, size_t errlen);

/* Admit endpoint ("udp:10.0.0.2:5060", as a node row's address) too: the node's own address,
 * admitted before the table shows its row. Ignored when not numeric. */
void peers_admit_endpoint(struct peers *p, const char *endpoint);
void peers_destroy(struct peers *p);

/* The store's nodes listener saw a change: read the table again. */
void peers_changed(struct peers *p);

enum peers_verdict { PEERS_ALLOW, PEERS_DENY, PEERS_UNKNOWN /* table not read yet */ };
enum peers_verdict peers_check(const struct peers *p, const struct sockaddr_storage *src);

/* Is src the address of a row of the node table (a node or a balancer of the cluster) -- not
 * merely inside a configured prefix or the node's own endpoint? 0 when p is NULL or the spec has
 * no `nodes`. A cluster node lets these skip the per-source rate limit (docs/limits.md): every
 * request a balancer forwards comes from the balancer's address. */
int peers_is_node(const struct peers *p, const struct sockaddr_storage *src);

/* Checks a spec without a store (config validation, tests): 0 or -1 with a message in err. */
int peers_spec_check(const char *spec, char *err, size_t errlen);

#endif
