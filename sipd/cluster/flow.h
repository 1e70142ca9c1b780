/* flow.h - flow tokens: the balancer's name for a client's connection (the RFC 5626 idea).
 *
 * The balancer puts a token naming the client's flow -- its TCP connection, or its UDP address
 * -- in the Path it adds to a REGISTER and in the Record-Route it adds to a dialog-forming
 * request, as the URI parameter `flow`. A request that later reaches the balancer through that
 * entry and did not come from the flow itself goes out over it, so that traffic toward a client
 * leaves over the client's own connection (or reaches it behind its NAT binding).
 *
 * Grammar (URI-parameter safe): "u" | "t" | "s", then hex fields separated by '-':
 *     u-ADDR-PORT           a UDP flow: the client's address (8 or 32 hex digits) and port
 *     t-CONNID-ADDR-PORT    a TCP flow: our connection id, and the peer address and port
 *     s-CONNID-ADDR-PORT    a TLS flow: the same over a TLS connection
 * The token is not a secret: it only names a flow this balancer holds; a forged one reaches at
 * most an address a Request-URI could name anyway (see docs/cluster.md). */
#ifndef SIPD_FLOW_H
#define SIPD_FLOW_H

#include <stddef.h>

#include "../transport/transport.h"

#define FLOW_TOKEN_MAX 72 /* bytes, with the NUL */

/* Write the token of src into buf (n >= FLOW_TOKEN_MAX). Returns 0, or -1 (unknown family). */
int flow_encode(const struct sip_source *src, char *buf, size_t n);

/* Parse a token into dst (proto, peer, conn_id; udp_fd -1). Returns 0, or -1 when malformed. */
int flow_decode(const char *tok, struct sip_source *dst);

/* Is `a` (a decoded token) the flow a message from `src` arrived over? */
int flow_same(const struct sip_source *a, const struct sip_source *src);

/* The topic of an `im` subscription's dialog, as the URI parameter `topic` of the balancer's
 * Record-Route entry on the SUBSCRIBE: an in-dialog request that carries the entry goes to the
 * topic's current owner when the broker it names is gone (proxy/edge.c, topic takeover). The
 * value is the topic URI with every octet outside RFC 3261's paramchar set (unreserved and
 * param-unreserved) percent-encoded: "sip:bob@example.com" -> "sip:bob%40example.com". */
#define FLOW_TOPIC_MAX 256 /* bytes of a decoded topic, with the NUL */

/* Encode topic into buf (n bytes). Returns 0, or -1 when it does not fit. */
int flow_topic_encode(const char *topic, char *buf, size_t n);
/* Decode a parameter value into buf (n bytes). Returns 0, or -1 (a bad escape, a NUL, too long). */
int flow_topic_decode(const char *value, char *buf, size_t n);

#endif
