/* tls_conn.c - the TLS handshake of a stream connection (transport_impl.h): a session put on a
 * new connection, the handshake advanced on each readiness event until the connection is ready
 * for SIP, its failure (logged; an outbound one fails the transactions waiting on the peer), its
 * timeout (the connection's one timer starts with it) and the bound on handshakes in progress at
 * once. The GnuTLS session itself is tls.c's; once the handshake is done, a TLS connection is read
 * and written like any other, through tls.h's recv/send look-alikes. */
#include <errno.h>

#include "../base/log.h"
#include "tls.h"
#include "transport_impl.h"

int tls_conn_start(struct conn *c, int accepted)
{
    struct transport *tp = c->tp;
    char ip[SOCKADDR_STRLEN];
    c->tls = accepted
                 ? tls_session_server(tp->tls, c->fd)
                 : tls_session_client(tp->tls, c->fd, sockaddr_ip_str(&c->peer, ip, sizeof ip));
    if (!c->tls)
        return -1;
    c->connecting = accepted ? CONN_HANDSHAKING : CONN_CONNECTING;
    c->is_outbound = !accepted;
    tp->nhandshakes++;
    return 0;
}

/* A TLS connection that goes before its handshake is done no longer counts as one. */
void tls_conn_handshake_over(struct conn *c)
{
    if (c->tls && c->connecting) {
        c->tp->nhandshakes--;
        c->connecting = CONN_READY;
    }
}

int tls_conn_handshake(struct conn *c)
{
    const char *reason = NULL;
    int rc = tls_session_handshake(c->tls, &reason);
    if (rc == -EAGAIN) {
        conn_update_events(c);
        return -1;
    }
    if (rc < 0) {
        /* ours failing (trust, name) is for the operator; a client failing, at debug level:
         * anyone can make that line, as often as they like */
        if (c->is_outbound)
            LOG_WARN("tls handshake failed conn=%llu peer=%s reason=\"%s\"", (unsigned long long)c->id,
                     c->peer_key, reason);
        else
            LOG_DEBUG("tls handshake failed conn=%llu peer=%s reason=\"%s\"", (unsigned long long)c->id,
                      c->peer_key, reason);
        struct sockaddr_storage peer = c->peer;
        int outbound = c->is_outbound;
        conn_close(c, "tls-handshake-failed"); /* c stays: conn_io holds it (busy) */
        if (outbound && c->tp->err_cb)
            c->tp->err_cb(c->tp->err_arg, &peer);
        return -1;
    }
    tls_conn_handshake_over(c);
    c->tls_up = 1;
    LOG_DEBUG("tls ready conn=%llu peer=%s", (unsigned long long)c->id, c->peer_key);
    conn_touch(c);
    conn_arm_idle(c, (uint64_t)c->tp->cfg.tcp_idle_timeout_s * 1000u);
    conn_update_events(c);
    return 0;
}

int tls_conn_refuses(struct transport *tp, const struct sockaddr_storage *peer)
{
    if (tp->nhandshakes < tls_ctx_config(tp->tls)->max_handshakes)
        return 0;
    char ps[SOCKADDR_STRLEN];
    LOG_WARN("tls connection refused reason=max-handshakes limit=%zu peer=%s",
             tls_ctx_config(tp->tls)->max_handshakes, sockaddr_str(peer, ps, sizeof ps));
    return 1;
}

uint64_t tls_conn_first_timeout_ms(const struct conn *c)
{
    return c->tls ? tls_ctx_config(c->tp->tls)->handshake_timeout_ms
                  : (uint64_t)c->tp->cfg.tcp_idle_timeout_s * 1000u;
}
