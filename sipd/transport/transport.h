/* transport.h - SIP over UDP, TCP and TLS (IPv4 and IPv6) on the event loop.
 *
 * TCP connections are persistent and kept in a connection table (by id and by peer address), so
 * responses and later requests toward a client reuse the client's own inbound connection.
 * Stream framing by Content-Length; CRLFCRLF keep-alive pings get a CRLF pong (RFC 5626 §3.5.1);
 * idle connections are closed; message size and connection count are bounded, in total and per
 * source address; a connection whose message stalls half-sent is closed (docs/limits.md). */
#ifndef SIPD_TRANSPORT_H
#define SIPD_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct loop;
struct transport;

struct transport_config {
    size_t max_message_bytes;    /* bound on one SIP message (headers + body) */
    size_t max_connections;      /* bound on open TCP connections */
    unsigned tcp_idle_timeout_s; /* close a TCP connection with no traffic for this long */
    size_t max_tx_buffer_bytes;  /* bound on queued output per connection */
    size_t max_connections_per_source; /* accepted connections from one address (IPv6: /64); 0 = no bound */
    unsigned tcp_stall_timeout_s; /* close an accepted connection holding an incomplete message (or
                                   * none yet) for this long; 0 = never (docs/limits.md) */
};

/* Where a message came from, or where one goes. */
struct sip_source {
    enum sip_proto proto;
    struct sockaddr_storage peer;
    socklen_t peerlen;
    struct sockaddr_storage local; /* our address that received it */
    int udp_fd;                    /* UDP socket it arrived on (-1 for TCP / TLS / unknown) */
    uint64_t conn_id;              /* TCP or TLS connection id (0 for UDP / unknown) */
};

/* A received message: buf[0..len) is writable and NUL-terminated at buf[len]. It is only valid
 * during the call. */
typedef void (*transport_recv_cb)(void *arg, const struct sip_source *src, char *buf, size_t len);

/* Returns NULL on allocation failure. Caller frees with transport_destroy(). */
struct transport *transport_create(struct loop *loop, const struct transport_config *cfg,
                                   transport_recv_cb cb, void *arg);
/* Closes every socket and frees. */
void transport_destroy(struct transport *tp);

/* Serve TLS listeners and connect out over TLS with these credentials (transport/tls.h); the
 * transport frees ctx. Call before transport_listen() for a tls: endpoint. */
struct tls_ctx;
void transport_set_tls(struct transport *tp, struct tls_ctx *ctx);

/* Open a listening socket. Returns 0 or -errno (after logging the cause). */
int transport_listen(struct transport *tp, const struct sip_endpoint *ep);

/* Close TCP listeners (no new connections); UDP sockets and connections stay for in-flight work. */
void transport_stop_accepting(struct transport *tp);

/* Send a whole message toward dst. TCP: over dst->conn_id if still open, else over any open
 * connection to dst->peer, else a new outbound connection. UDP: from dst->udp_fd, else from a
 * listener of the same address family. Returns 0 or -errno (e.g. -ENOTCONN when no socket). */
int transport_send(struct transport *tp, const struct sip_source *dst, const char *buf, size_t len);

/* Is this TCP connection still open? */
int transport_conn_alive(struct transport *tp, uint64_t conn_id);

size_t transport_conn_count(const struct transport *tp);

/* The first listener of proto (and address family of `like`, if not NULL); NULL if none. */
const struct sip_endpoint *transport_listener(const struct transport *tp, enum sip_proto proto,
                                              const struct sockaddr_storage *like);

/* Told when a TCP connection fails before it could deliver (connect refused / reset while
 * writing), with the peer address, so that transactions waiting on it fail at once rather than
 * by timeout. One callback per transport. */
typedef void (*transport_error_cb)(void *arg, const struct sockaddr_storage *peer);
void transport_set_error_cb(struct transport *tp, transport_error_cb cb, void *arg);

/* Told (from the loop, after the fact) when a TCP connection closes for any reason, so that
 * state bound to it (subscriptions delivered over it) can react. One callback per transport. */
typedef void (*transport_close_cb)(void *arg, uint64_t conn_id);
void transport_set_close_cb(struct transport *tp, transport_close_cb cb, void *arg);

/* Is host:port (numeric host, port 0 = 5060) the address of one of our listeners? */
int transport_is_local(const struct transport *tp, const char *host, int port);
/* Do we listen at host:port? host NULL = on any address; port -1 = on any port, 0 = 5060.
 * host is numeric; a wildcard listener answers for loopback. */
int transport_listens(const struct transport *tp, const char *host, int port);

#endif
