/* security.h - the trust checks a received request passes before it reaches a role, wired in
 * one place for server.c. In the order a request meets them:
 *   0. TLS (transport/tls.h, docs/tls.md): over a tls: listener, the handshake with our
 *      certificate; with tls.ca, a client certificate verified against it (sipd connecting out
 *      verifies the server's);
 *   1. admission (sip/admission.h, docs/limits.md): bounds on the header section and body, and
 *      the per-source request rate, on the raw bytes of every message before it is parsed;
 *   2. cluster peers (cluster/peers.h, docs/cluster.md): a cluster node takes requests only from
 *      cluster.accept_from and the cluster's nodes, before a transaction is made;
 *   3. digest authentication (auth/auth.h, docs/auth.md): once per new server transaction,
 *      after the server's own checks, before the role.
 * A cluster node trusts the cluster's own nodes in 1 and 3: a balancer forwards every client's
 * requests from its one address, so it is neither rate-limited nor limited in failed attempts
 * per source. */
#ifndef SIPD_SECURITY_H
#define SIPD_SECURITY_H

#include <osipparser2/osip_parser.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "config.h"
#include "transport/transport.h"

struct loop;
struct store;
struct security;

/* The checks of cfg: authentication when auth.enabled is on (never on a balancer; a node
 * without it logs once that anyone may use it), admission, and the TLS credentials (tls.cert,
 * tls.key, tls.ca) given to tp when configured (a file that does not load is an error naming
 * it; call before the tls: listeners open). domains: the served domains
 * (NULL-terminated, kept); forwards: this node proxies or redirects; has_broker: the broker
 * role is here; resume(arg, t): a transaction that waited for its user's credentials passed
 * (auth.h). 0, or -1 after logging the cause. *out is set either way (NULL only when out of
 * memory): the caller frees it with security_destroy() after the store, whose callbacks reach
 * auth and peers even after a failure here. */
int security_create(struct loop *loop, struct store *st, struct transport *tp,
                    const struct sipd_config *cfg, const char *const *domains, int forwards,
                    int has_broker, auth_resume_fn resume, void *arg, struct security **out);
void security_destroy(struct security *sec);

/* A cluster node (one with a row in the node table; not a balancer): from now on it takes
 * requests only from cluster.accept_from, its own address and the cluster's nodes, and trusts
 * the nodes (see above). 0, or -1 after logging the cause. */
int security_add_peers(struct security *sec, struct loop *loop, struct store *st,
                       const struct sipd_config *cfg);
/* The node table changed (the store's nodes listener): the peers read it again. */
void security_nodes_changed(struct security *sec);

/* 1. Every received message buf[0..len) from src (hdr: the length of its header section,
 * sip_find_header_end; 0 when none): 1 to parse it, 0 when refused (the answer, when one is
 * due, sent back over tp). */
int security_admits(struct security *sec, struct transport *tp, const struct sip_source *src,
                    const char *buf, size_t len, size_t hdr, uint64_t now_ms);
/* 2. May src send this node requests? 0 yes; 1 no (logged at debug level), and *code and
 * *reason are the stateless answer: 403 a stranger, 503 while the node table is not read yet,
 * *code 0 for an ACK (never answered). */
int security_refuses_source(const struct security *sec, const osip_message_t *req,
                            const struct sip_source *src, int *code, const char **reason);
/* 3. New server transaction t (class c, bytes raw[0..raw_len)): 1 to hand it to a role now
 * (not challenged, authenticated, or auth off); 0 when answered here, or when it waits for the
 * store and comes back through resume (security_create). */
int security_authenticates(struct security *sec, struct sip_txn *t, const struct sip_req_class *c,
                           const char *raw, size_t raw_len);

#endif
