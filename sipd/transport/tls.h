/* tls.h - SIP over TLS (RFC 3261 §26, RFC 5630): GnuTLS sessions layered on the TCP connections
 * of transport.c.
 *
 * transport.c owns the sockets, the connection table, the framing and the timers, and tls_conn.c
 * a connection's handshake; a connection whose proto is TLS also holds a struct tls_session, and
 * reads and writes through tls_session_recv()/tls_session_send() instead of recv()/send(). Those
 * two return what recv and send would (bytes, 0 at end of stream, -1 with errno
 * EAGAIN/EINTR/EIO), so the stream code has one branch per read and per write, and none at all
 * for plain TCP beyond it.
 *
 * The handshake runs non-blocking in the same epoll loop: tls_session_handshake() is called on
 * every readiness event until it returns 0; tls_session_wants_write() says which event to wait
 * for. tls_conn.c bounds it in time (the connection's idle timer armed with the handshake
 * timeout) and in number (max_handshakes); GnuTLS bounds one handshake's buffered bytes
 * (gnutls_handshake_set_max_packet_length).
 *
 * Only TLS 1.2 and 1.3 are negotiated. With a CA file, a server asks for a client certificate and
 * refuses the handshake without a valid one; a client (sipd connecting out) verifies the
 * server's certificate against the CA file, or the system trust store without one. */
#ifndef SIPD_TLS_H
#define SIPD_TLS_H

#include <stddef.h>
#include <sys/types.h>

struct tls_ctx;
struct tls_session;

struct tls_config {
    const char *cert_file; /* PEM certificate chain (ours, leaf first) */
    const char *key_file;  /* PEM private key */
    const char *ca_file;   /* PEM CA certificates, or NULL/"": no client certificates asked for,
                              servers verified against the system trust store */
    unsigned handshake_timeout_ms; /* a handshake not done by then is closed */
    size_t max_handshakes;         /* bound on handshakes in progress at once */
};

/* The priority string: TLS 1.3 and 1.2 only, GnuTLS's NORMAL ciphers otherwise. */
#define TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Load the certificate, key and CA files. Returns NULL with a message naming the file and the
 * cause in err. Caller frees with tls_ctx_free(). */
struct tls_ctx *tls_ctx_create(const struct tls_config *cfg, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *ctx);
const struct tls_config *tls_ctx_config(const struct tls_ctx *ctx);

/* A session over the connected non-blocking socket fd: server side (accepted) or client side
 * (sipd connecting out; peer_ip is the address string the certificate must name, for
 * verification and never sent as SNI since it is an address). NULL on failure (logged).
 * Caller frees with tls_session_free(), which does not close fd. */
struct tls_session *tls_session_server(struct tls_ctx *ctx, int fd);
struct tls_session *tls_session_client(struct tls_ctx *ctx, int fd, const char *peer_ip);
void tls_session_free(struct tls_session *s);

/* Advance the handshake. Returns 0 when done, -EAGAIN to wait for readiness (see
 * tls_session_wants_write), or -EPROTO when it failed (*reason: a static description). */
int tls_session_handshake(struct tls_session *s, const char **reason);
/* While -EAGAIN: does the handshake wait to write (EPOLLOUT) rather than to read? */
int tls_session_wants_write(const struct tls_session *s);

/* recv()/send() over the session: bytes, 0 at the peer's close (recv), or -1 with errno set
 * (EAGAIN, EINTR, or EIO for a TLS error). After EAGAIN from send, the next send must start with
 * the same bytes (GnuTLS has already encrypted them); transport.c's queue guarantees it. */
ssize_t tls_session_recv(struct tls_session *s, void *buf, size_t len);
ssize_t tls_session_send(struct tls_session *s, const void *buf, size_t len);
/* Decrypted bytes GnuTLS holds that a recv would return without reading the socket. */
size_t tls_session_pending(struct tls_session *s);
/* Say goodbye (one non-blocking close_notify attempt) before the socket closes. */
void tls_session_bye(struct tls_session *s);

#endif
