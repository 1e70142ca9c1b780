/* conn_limit.c - the limits on accepted stream connections (transport_impl.h, docs/limits.md):
 * how many may be open in total (transport.max_connections) and per source address
 * (limits.max_connections_per_source: an IPv4 address or an IPv6 /64, counted in srclimit.h's
 * table), and the stall timeout: an accepted connection that holds an incomplete message (or
 * none yet) for limits.tcp_stall_timeout_s is closed, however slowly its bytes trickle in
 * (slowloris). The clock runs from accept until the first message, and from each
 * incomplete message's first bytes until it is complete; it shares the connection's one timer
 * with the idle timeout (transport.c arms it with the earlier deadline). Refusals and stalls are
 * counted in sipd_limit_rejections_total. Connections sipd opens itself count only in the
 * total. */
#include "../base/log.h"
#include "../base/metrics.h"
#include "transport_impl.h"

int conn_limit_refuses(struct transport *tp, const struct sockaddr_storage *peer)
{
    if (tp->by_id.count >= tp->cfg.max_connections) {
        char ps[SOCKADDR_STRLEN];
        LOG_WARN("tcp connection refused reason=max-connections limit=%zu peer=%s",
                 tp->cfg.max_connections, sockaddr_str(peer, ps, sizeof ps));
        metric_inc(tp->m_conn_total);
        return 1;
    }
    if (tp->cfg.max_connections_per_source &&
        source_counts_get(&tp->per_source, peer) >= tp->cfg.max_connections_per_source) {
        char ps[SOCKADDR_STRLEN];
        /* debug: one source's attempts must not flood the log either */
        LOG_DEBUG("tcp connection refused reason=max-connections-per-source limit=%zu peer=%s",
                  tp->cfg.max_connections_per_source, sockaddr_str(peer, ps, sizeof ps));
        metric_inc(tp->m_conn_source);
        return 1;
    }
    return 0;
}

void conn_limit_accepted(struct conn *c)
{
    struct transport *tp = c->tp;
    if (source_counts_inc(&tp->per_source, &c->peer) == 0)
        c->is_accepted = 1;
    if (tp->cfg.tcp_stall_timeout_s) {
        /* until its first message arrives, an accepted connection is stalled-in-waiting */
        c->partial_since_ms = loop_now_ms(tp->loop);
        /* the timer conn_new armed (idle, or a TLS handshake's timeout) stays when earlier */
        uint64_t stall_ms = (uint64_t)tp->cfg.tcp_stall_timeout_s * 1000u;
        if (stall_ms < tls_conn_first_timeout_ms(c))
            conn_arm_idle(c, stall_ms);
    }
}

void conn_limit_release(struct conn *c)
{
    if (c->is_accepted) {
        source_counts_dec(&c->tp->per_source, &c->peer);
        c->is_accepted = 0;
    }
}

int conn_limit_stalled(struct conn *c, uint64_t now, uint64_t *next_ms)
{
    uint64_t stall = (uint64_t)c->tp->cfg.tcp_stall_timeout_s * 1000u;
    if (stall && c->partial_since_ms) {
        if (now - c->partial_since_ms >= stall) {
            metric_inc(c->tp->m_stalled);
            conn_close(c, "stalled");
            return 1;
        }
        if (stall - (now - c->partial_since_ms) < *next_ms)
            *next_ms = stall - (now - c->partial_since_ms);
    }
    return 0;
}

void conn_limit_note_partial(struct conn *c, int consumed)
{
    uint64_t stall = (uint64_t)c->tp->cfg.tcp_stall_timeout_s * 1000u;
    if (!c->is_accepted || !stall)
        return;
    if (c->rx_len == 0) {
        if (consumed)
            c->partial_since_ms = 0;
    } else if (consumed || !c->partial_since_ms) {
        c->partial_since_ms = loop_now_ms(c->tp->loop);
        conn_arm_idle(c, stall); /* earlier than the idle deadline; the handler sorts it out */
    }
}
