/* self.h - this node's own row in the node table and the state it reports (docs/cluster.md,
 * "This node's row and the Sipd-Load header").
 *
 * With --db and --name a node keeps a row in `nodes`: it writes it at start (status 1, retried
 * while the database is unreachable), follows it through the store's nodes listener (an
 * operator's UPDATE of draining, waiting or max_num applies live), and writes status 0 on a clean
 * stop. Its state, reported in every OPTIONS answer (Sipd-Load), is
 *     active    taking work
 *     standby   the row's waiting is 1: no work until a balancer promotes it
 *     draining  the row's draining is true: no new work, what runs finishes
 *     drained   draining, and no transaction in progress
 * Without a row (no --db, or no --name) a node is always active. */
#ifndef SIPD_CLUSTER_SELF_H
#define SIPD_CLUSTER_SELF_H

#include <stddef.h>

struct loop;
struct store;
struct txn_layer;
struct sipd_config;
struct node_self;

enum node_state { NODE_ACTIVE, NODE_STANDBY, NODE_DRAINING, NODE_DRAINED };

/* "active", "standby", "draining", "drained". */
const char *node_state_name(enum node_state s);

/* The address this node's row carries, into buf: node.address as given, else the first --listen
 * entry as "udp:127.0.0.1:5060" / "tcp:[::1]:5060". 0, or -1 with a message in err when
 * node.address is unset and that entry is a wildcard (0.0.0.0, ::) or does not parse. */
int node_self_address(const struct sipd_config *cfg, char *buf, size_t n, char *err,
                      size_t errlen);

/* Called (from a timer, never from inside another call) when the node reached drained and
 * cluster.exit_when_drained is set: the owner stops the node cleanly. */
typedef void (*node_self_exit_cb)(void *arg);

/* This node on loop, store and txns (all outlive it), configured by cfg (copied what it needs:
 * node_name, roles, node.*, cluster.exit_when_drained, database). With a database and a name it
 * starts writing its row at once. NULL on out of memory, or when the address cannot be made
 * (node_self_address; main.c checks that first, with a clear message). The row is first
 * written from the loop, once the caller had the chance to set the nodes listener. Free with
 * node_self_destroy(), after the store is destroyed (its callbacks may still come until then). */
struct node_self *node_self_create(struct loop *loop, struct store *st, struct txn_layer *txns,
                                   const struct sipd_config *cfg, node_self_exit_cb on_exit,
                                   void *arg);
void node_self_destroy(struct node_self *ns);

/* 1 when this node keeps a row (a database and a name). */
int node_self_has_row(const struct node_self *ns);
/* 0 while a node that keeps a row has not written it yet (starting); 1 otherwise. */
int node_self_is_started(const struct node_self *ns);

/* The store's nodes listener, for this node's part: row nid changed (-1: any may have). */
void node_self_changed(struct node_self *ns, int nid);

/* What besides transactions in progress the node still serves and must see end before it is
 * drained (a proxy: the calls it record-routed, whose BYE must still find it). */
typedef size_t (*node_self_held_fn)(void *arg);
void node_self_set_held(struct node_self *ns, node_self_held_fn fn, void *arg);

/* The state now; `exclude` transactions in progress are not counted (1 while answering a probe:
 * its own transaction). */
enum node_state node_self_state(struct node_self *ns, size_t exclude);

/* The value of the Sipd-Load header, "work=<n>;max=<n>;state=<state>", into buf (the state as
 * node_self_state(ns, exclude)). Returns its length, or -1 when buf is too small. */
int node_self_load_value(struct node_self *ns, size_t exclude, char *buf, size_t n);

/* A clean stop begins: write status 0 (one store operation: the server's shutdown waits for it
 * within sip.shutdown_grace_ms), stop retrying and following the row. */
void node_self_stop(struct node_self *ns);

/* Parse a Sipd-Load value (a balancer's prober reads it from a node's 200 to OPTIONS):
 * parameters separated by ';', each NAME=VALUE, optional whitespace around both; work and max
 * are decimal integers 0..2147483647, state a token of letters, digits and '-' (copied into
 * state, n bytes with its NUL); unknown parameters are skipped, a repeated one is an error.
 * Returns 0 when work, max and state were all there and well-formed; -1 otherwise (outputs then
 * unspecified). v may be anything a peer sent: no assumption on its length or content. */
int node_load_parse(const char *v, int *work, int *max, char *state, size_t n);

#endif
