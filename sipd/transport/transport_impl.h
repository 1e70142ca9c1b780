/* transport_impl.h - private to sipd/transport/: the transport and connection objects and what
 * the files of the stream transport call of each other.
 *   transport.c   sockets, the connection table, reads, writes and framing dispatch, and the one
 *                 timer per connection (idle; it asks the two files below about their deadlines);
 *   tls_conn.c    a connection's TLS handshake: its start, progress, failure, timeout and the
 *                 bound on handshakes at once (the session itself is tls.c's);
 *   conn_limit.c  the limits on accepted connections (docs/limits.md): in total and per source
 *                 address, and the stall timeout of a connection holding an incomplete message.
 * Everything here runs on the loop thread. */
#ifndef SIPD_TRANSPORT_IMPL_H
#define SIPD_TRANSPORT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "../base/hmap.h"
#include "../base/loop.h"
#include "srclimit.h"
#include "transport.h"

struct metric;
struct tls_ctx;
struct tls_session;

#define MAX_LISTENERS 16

struct listener {
    struct transport *tp;
    struct sip_endpoint ep;
    int fd;
};

/* conn.connecting: not yet ready for application bytes (they are queued meanwhile) */
enum { CONN_READY = 0, CONN_CONNECTING = 1, CONN_HANDSHAKING = 2 /* TLS only */ };

struct conn {
    struct transport *tp;
    uint64_t id;
    int fd;
    enum sip_proto proto;     /* TCP or TLS */
    struct tls_session *tls;  /* NULL for plain TCP */
    int tls_up;               /* handshake done: close with a close_notify */
    int is_outbound;          /* we connected (a failed handshake fails the transactions) */
    struct sockaddr_storage peer;
    socklen_t peerlen;
    struct sockaddr_storage local;
    char peer_key[SOCKADDR_STRLEN + 4]; /* "1.2.3.4:5060", "tls:1.2.3.4:5061" */
    char *rx;
    size_t rx_len, rx_cap;
    char *tx;
    size_t tx_len, tx_off, tx_cap;
    int connecting;
    int busy;  /* inside a dispatch: defer the free */
    int dead;  /* closed while busy */
    int want_out;
    int is_accepted; /* counted in the per-source table; subject to the stall timeout */
    uint64_t last_active_ms;
    uint64_t partial_since_ms; /* accepted: since when rx holds an incomplete unit, or since
                                * accept until the first one arrives; 0 = nothing pending */
    /* What is known of an incomplete message at the front of rx, so that bytes trickling in
     * are not rescanned from the start on every read (a slow sender would cost O(n^2)):
     * rx_need > 0: its header section is complete and the whole message is rx_need bytes;
     * rx_noend > 0: its first rx_noend bytes hold no end of header section. */
    size_t rx_need, rx_noend;
    struct timer idle;
};

struct transport {
    struct loop *loop;
    struct transport_config cfg;
    transport_recv_cb cb;
    void *arg;
    struct listener listeners[MAX_LISTENERS];
    int nlisteners;
    struct hmap by_id;   /* 8-byte id -> conn */
    struct hmap by_peer; /* "ip:port" -> conn */
    uint64_t next_id;
    char *udp_buf;
    transport_error_cb err_cb;
    void *err_arg;
    transport_close_cb close_cb;
    void *close_arg;
    uint64_t *closed; /* ids closed since the last report (reported from a timer, never re-entrantly) */
    size_t nclosed, capclosed;
    struct timer close_timer;
    struct tls_ctx *tls;  /* NULL: no TLS configured */
    size_t nhandshakes;   /* TLS connections not yet ready */
    struct source_counts per_source; /* accepted connections per source address */
    struct metric *m_conn_total, *m_conn_source, *m_stalled, *m_too_big;
};

static inline void conn_touch(struct conn *c) { c->last_active_ms = loop_now_ms(c->tp->loop); }

/* ---- transport.c ----------------------------------------------------------------------------- */
/* Close a connection; the memory goes now, or after the dispatch that holds it returns. */
void conn_close(struct conn *c, const char *reason);
/* (Re)arm c's one timer to fire in delay_ms; when it fires, each timeout is checked. */
void conn_arm_idle(struct conn *c, uint64_t delay_ms);
/* Wait for EPOLLOUT while output is queued, or while a connect or a handshake asks for it. */
void conn_update_events(struct conn *c);

/* ---- tls_conn.c ------------------------------------------------------------------------------ */
/* Put a TLS session on new connection c (fd, tp and peer set): server side when accepted,
 * client side when connecting out, counted as a handshake in progress. 0, or -1 (no session,
 * logged by tls.c; c is left as it was). */
int tls_conn_start(struct conn *c, int accepted);
/* c no longer counts as a handshake in progress (done, or c closing); nothing for a ready or
 * plain TCP connection. */
void tls_conn_handshake_over(struct conn *c);
/* Advance c's handshake. Returns 0 once the connection is ready for SIP, -1 while not (or
 * closed: a failed outbound handshake is a failed connection for the transactions on it). */
int tls_conn_handshake(struct conn *c);
/* Is a new TLS connection from peer refused, handshakes in progress being at their bound
 * (tls.max_handshakes)? Logs the refusal. */
int tls_conn_refuses(struct transport *tp, const struct sockaddr_storage *peer);
/* The delay c's timer starts with: the handshake timeout for TLS, else the idle timeout. */
uint64_t tls_conn_first_timeout_ms(const struct conn *c);

/* ---- conn_limit.c ---------------------------------------------------------------------------- */
/* Is a connection just accepted from peer refused (limits.max_connections in total, or per
 * source)? Logs and counts the refusal. */
int conn_limit_refuses(struct transport *tp, const struct sockaddr_storage *peer);
/* Accepted connection c counts for its source, and its stall clock starts. */
void conn_limit_accepted(struct conn *c);
/* c no longer counts for its source (it is leaving the table). */
void conn_limit_release(struct conn *c);
/* c's timer fired at now, c not idle: close c if stalled (1); else 0, *next_ms lowered to the
 * stall deadline when that comes first. */
int conn_limit_stalled(struct conn *c, uint64_t now, uint64_t *next_ms);
/* After the receive buffer was consumed (consumed: some of it was): start or end the stall
 * clock. */
void conn_limit_note_partial(struct conn *c, int consumed);

#endif
