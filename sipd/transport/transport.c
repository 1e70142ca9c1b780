/* transport.c - UDP and TCP transports with a connection table; see transport.h. TLS
 * connections are TCP connections with a GnuTLS session on top (tls.h): the same table, framing,
 * timers and queues, one branch on c->tls where bytes are read or written; their handshake is
 * tls_conn.c's. The limits on accepted connections (in total, per source, the stall timeout) are
 * conn_limit.c's (transport_impl.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../base/hmap.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../base/metrics.h"
#include "framing.h"
#include "tls.h"
#include "transport_impl.h"

#define UDP_BUF_BYTES 65536

void transport_set_tls(struct transport *tp, struct tls_ctx *ctx)
{
    tls_ctx_free(tp->tls);
    tp->tls = ctx;
}

void transport_set_close_cb(struct transport *tp, transport_close_cb cb, void *arg)
{
    tp->close_cb = cb;
    tp->close_arg = arg;
}

static void report_closed(struct timer *t, void *arg)
{
    struct transport *tp = arg;
    while (tp->nclosed) {
        uint64_t id = tp->closed[--tp->nclosed];
        if (tp->close_cb)
            tp->close_cb(tp->close_arg, id);
    }
}

static void note_closed(struct transport *tp, uint64_t id)
{
    if (!tp->close_cb)
        return;
    if (tp->nclosed == tp->capclosed) {
        size_t cap = tp->capclosed ? tp->capclosed * 2 : 16;
        uint64_t *v = realloc(tp->closed, cap * sizeof *v);
        if (!v)
            return; /* the user learns of it when a send fails */
        tp->closed = v;
        tp->capclosed = cap;
    }
    if (tp->nclosed == 0)
        loop_timer_start(tp->loop, &tp->close_timer, 0, report_closed, tp);
    tp->closed[tp->nclosed++] = id;
}

void transport_set_error_cb(struct transport *tp, transport_error_cb cb, void *arg)
{
    tp->err_cb = cb;
    tp->err_arg = arg;
}

static void conn_free(struct conn *c);

struct transport *transport_create(struct loop *loop, const struct transport_config *cfg,
                                   transport_recv_cb cb, void *arg)
{
    struct transport *tp = calloc(1, sizeof *tp);
    if (!tp)
        return NULL;
    tp->udp_buf = malloc(UDP_BUF_BYTES + 1);
    if (!tp->udp_buf) {
        free(tp);
        return NULL;
    }
    tp->loop = loop;
    tp->cfg = *cfg;
    tp->cb = cb;
    tp->arg = arg;
    tp->next_id = 1;
    hmap_init(&tp->by_id);
    hmap_init(&tp->by_peer);
    source_counts_init(&tp->per_source);
    tp->m_conn_total = limit_rejections("connections");
    tp->m_conn_source = limit_rejections("connections_per_source");
    tp->m_stalled = limit_rejections("stalled");
    tp->m_too_big = limit_rejections("message_size");
    return tp;
}

void transport_destroy(struct transport *tp)
{
    if (!tp)
        return;
    loop_timer_stop(tp->loop, &tp->close_timer);
    free(tp->closed);
    tp->close_cb = NULL;
    size_t b;
    struct hmap_entry *e = hmap_first(&tp->by_id, &b);
    while (e) {
        struct hmap_entry *next = hmap_next(&tp->by_id, e, &b);
        struct conn *c = e->val;
        c->busy = 0;
        conn_free(c);
        e = next;
    }
    for (int i = 0; i < tp->nlisteners; i++) {
        if (tp->listeners[i].fd >= 0) {
            loop_fd_del(tp->loop, tp->listeners[i].fd);
            close(tp->listeners[i].fd);
        }
    }
    hmap_free(&tp->by_id);
    hmap_free(&tp->by_peer);
    tls_ctx_free(tp->tls);
    source_counts_free(&tp->per_source);
    free(tp->udp_buf);
    free(tp);
}

size_t transport_conn_count(const struct transport *tp) { return tp->by_id.count; }

const struct sip_endpoint *transport_listener(const struct transport *tp, enum sip_proto proto,
                                              const struct sockaddr_storage *like)
{
    for (int i = 0; i < tp->nlisteners; i++) {
        const struct sip_endpoint *ep = &tp->listeners[i].ep;
        if (ep->proto == proto && (!like || like->ss_family == ep->addr.ss_family))
            return ep;
    }
    return NULL;
}

/* ---- UDP ------------------------------------------------------------------------------------ */

static void udp_readable(struct loop *loop, int fd, uint32_t events, void *arg)
{
    struct listener *l = arg;
    struct transport *tp = l->tp;
    /* Bounded batch per wake-up so TCP and timers get their turn under load. */
    for (int i = 0; i < 64; i++) {
        struct sip_source src = {.proto = SIP_PROTO_UDP, .udp_fd = fd, .conn_id = 0};
        src.peerlen = sizeof src.peer;
        ssize_t n = recvfrom(fd, tp->udp_buf, UDP_BUF_BYTES, 0, (struct sockaddr *)&src.peer,
                             &src.peerlen);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                LOG_DEBUG("udp recv failed errno=%d", errno);
            return;
        }
        if ((size_t)n > tp->cfg.max_message_bytes) {
            char peer[SOCKADDR_STRLEN];
            metric_inc(tp->m_too_big);
            LOG_DEBUG("udp datagram dropped reason=too-big bytes=%zd peer=%s", n,
                      sockaddr_str(&src.peer, peer, sizeof peer));
            continue;
        }
        /* a bare CRLF keep-alive over UDP: nothing to do */
        if (n <= 4 && strspn(tp->udp_buf, "\r\n") >= (size_t)n)
            continue;
        memcpy(&src.local, &l->ep.addr, sizeof src.local);
        tp->udp_buf[n] = '\0';
        tp->cb(tp->arg, &src, tp->udp_buf, (size_t)n);
    }
}

/* ---- TCP connections --------------------------------------------------------------------- */

static void conn_idle_fired(struct timer *t, void *arg);
static void conn_io(struct loop *loop, int fd, uint32_t events, void *arg);

static void conn_unlink(struct conn *c)
{
    struct transport *tp = c->tp;
    conn_limit_release(c);
    hmap_del(&tp->by_id, &c->id, sizeof c->id);
    if (hmap_get(&tp->by_peer, c->peer_key, strlen(c->peer_key)) == c)
        hmap_del(&tp->by_peer, c->peer_key, strlen(c->peer_key));
}

static void conn_close_fd(struct conn *c)
{
    if (c->fd < 0)
        return;
    if (c->tls_up)
        tls_session_bye(c->tls); /* one non-blocking try */
    loop_fd_del(c->tp->loop, c->fd);
    close(c->fd);
    c->fd = -1;
}

static void conn_free(struct conn *c)
{
    loop_timer_stop(c->tp->loop, &c->idle);
    tls_conn_handshake_over(c);
    conn_close_fd(c);
    if (!c->dead)
        conn_unlink(c);
    tls_session_free(c->tls);
    free(c->rx);
    free(c->tx);
    free(c);
}

void conn_close(struct conn *c, const char *reason)
{
    if (c->dead)
        return;
    LOG_DEBUG("tcp close conn=%llu peer=%s reason=%s", (unsigned long long)c->id, c->peer_key,
              reason);
    note_closed(c->tp, c->id);
    if (c->busy) {
        conn_unlink(c);
        c->dead = 1;
        loop_timer_stop(c->tp->loop, &c->idle);
        tls_conn_handshake_over(c);
        conn_close_fd(c);
        return;
    }
    conn_free(c);
}

void conn_arm_idle(struct conn *c, uint64_t delay_ms)
{
    loop_timer_start(c->tp->loop, &c->idle, delay_ms, conn_idle_fired, c);
}

/* One timer per connection serves every timeout: a TLS handshake's, idle (no traffic) and
 * stalled (an incomplete message held too long, however slowly its bytes trickle in:
 * conn_limit.c). */
static void conn_idle_fired(struct timer *t, void *arg)
{
    struct conn *c = arg;
    if (c->tls && c->connecting) { /* armed with the handshake timeout (tls_conn.c) */
        conn_close(c, "tls-handshake-timeout");
        return;
    }
    uint64_t now = loop_now_ms(c->tp->loop);
    uint64_t limit = (uint64_t)c->tp->cfg.tcp_idle_timeout_s * 1000u;
    if (now - c->last_active_ms >= limit) {
        conn_close(c, "idle");
        return;
    }
    uint64_t next = limit - (now - c->last_active_ms);
    if (conn_limit_stalled(c, now, &next))
        return;
    conn_arm_idle(c, next);
}

/* The by_peer key: a TLS connection is never taken for a TCP one to the same address. */
static void peer_key(enum sip_proto proto, const struct sockaddr_storage *peer, char *buf, size_t n)
{
    if (proto == SIP_PROTO_TLS) {
        memcpy(buf, "tls:", 4);
        sockaddr_str(peer, buf + 4, n - 4);
    } else {
        sockaddr_str(peer, buf, n);
    }
}

/* A connection over fd, with a TLS session (server side when accepted, client side when
 * connecting out) when proto is TLS. NULL on failure (fd stays open). */
static struct conn *conn_new(struct transport *tp, int fd, enum sip_proto proto, int accepted,
                             const struct sockaddr_storage *peer, socklen_t peerlen)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->tp = tp;
    c->fd = fd;
    c->proto = proto;
    c->id = tp->next_id++;
    memcpy(&c->peer, peer, peerlen);
    c->peerlen = peerlen;
    socklen_t ll = sizeof c->local;
    getsockname(fd, (struct sockaddr *)&c->local, &ll);
    peer_key(proto, peer, c->peer_key, sizeof c->peer_key);
    if (proto == SIP_PROTO_TLS && tls_conn_start(c, accepted) < 0) {
        free(c);
        return NULL;
    }
    if (hmap_put(&tp->by_id, &c->id, sizeof c->id, c, NULL) ||
        hmap_put(&tp->by_peer, c->peer_key, strlen(c->peer_key), c, NULL)) {
        hmap_del(&tp->by_id, &c->id, sizeof c->id);
        tls_conn_handshake_over(c);
        tls_session_free(c->tls);
        free(c);
        return NULL;
    }
    if (loop_fd_add(tp->loop, fd, EPOLLIN, conn_io, c) < 0) {
        conn_unlink(c);
        tls_conn_handshake_over(c);
        tls_session_free(c->tls);
        free(c);
        return NULL;
    }
    conn_touch(c);
    conn_arm_idle(c, tls_conn_first_timeout_ms(c));
    return c;
}

void conn_update_events(struct conn *c)
{
    int want = c->tx_len > c->tx_off;
    if (c->connecting) /* connect: wait to write; TLS handshake: as GnuTLS asks */
        want = c->connecting == CONN_CONNECTING || tls_session_wants_write(c->tls);
    if (want != c->want_out) {
        c->want_out = want;
        loop_fd_mod(c->tp->loop, c->fd, want ? (EPOLLIN | EPOLLOUT) : EPOLLIN);
    }
}

/* Write queued output. Returns 0, or -1 if the connection was closed. */
static int conn_flush(struct conn *c)
{
    while (c->tx_off < c->tx_len) {
        ssize_t n = c->tls ? tls_session_send(c->tls, c->tx + c->tx_off, c->tx_len - c->tx_off)
                           : send(c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            conn_close(c, "write-error");
            return -1;
        }
        c->tx_off += (size_t)n;
    }
    if (c->tx_off == c->tx_len)
        c->tx_off = c->tx_len = 0;
    conn_update_events(c);
    return 0;
}

static int conn_queue(struct conn *c, const char *buf, size_t len)
{
    size_t pending = c->tx_len - c->tx_off;
    if (pending + len > c->tp->cfg.max_tx_buffer_bytes) {
        conn_close(c, "tx-buffer-full");
        return -ENOBUFS;
    }
    if (c->tx_off > 0 && c->tx_len + len > c->tx_cap) {
        memmove(c->tx, c->tx + c->tx_off, pending);
        c->tx_len = pending;
        c->tx_off = 0;
    }
    if (c->tx_len + len > c->tx_cap) {
        size_t ncap = c->tx_cap ? c->tx_cap : 4096;
        while (ncap < c->tx_len + len)
            ncap *= 2;
        char *nb = realloc(c->tx, ncap);
        if (!nb)
            return -ENOMEM;
        c->tx = nb;
        c->tx_cap = ncap;
    }
    memcpy(c->tx + c->tx_len, buf, len);
    c->tx_len += len;
    return 0;
}

static int conn_send(struct conn *c, const char *buf, size_t len)
{
    if (!c->connecting && c->tx_len == c->tx_off) {
        /* fast path: nothing queued, write straight away */
        while (len > 0) {
            ssize_t n = c->tls ? tls_session_send(c->tls, buf, len) : send(c->fd, buf, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                conn_close(c, "write-error");
                return -EPIPE;
            }
            buf += n;
            len -= (size_t)n;
        }
        if (len == 0) {
            conn_touch(c);
            return 0;
        }
    }
    int rc = conn_queue(c, buf, len);
    if (rc)
        return rc;
    conn_update_events(c);
    conn_touch(c);
    return 0;
}

/* Is the incomplete message at the front of rx still incomplete? Only the bytes that came since
 * the last look are scanned. Returns 1 when the framer need not be asked. */
static int conn_still_partial(struct conn *c)
{
    if (c->rx_need)
        return c->rx_len < c->rx_need;
    if (!c->rx_noend)
        return 0;
    size_t end = c->rx_len < c->tp->cfg.max_message_bytes ? c->rx_len : c->tp->cfg.max_message_bytes;
    size_t from = c->rx_noend > 3 ? c->rx_noend - 3 : 0;
    if (end >= c->tp->cfg.max_message_bytes || sip_find_header_end(c->rx + from, end - from))
        return 0; /* the framer decides: complete, or too big */
    c->rx_noend = c->rx_len;
    return 1;
}

/* Remember what is known of the incomplete message left at the front of rx (see rx_need). */
static void conn_note_incomplete(struct conn *c)
{
    c->rx_need = c->rx_noend = 0;
    if (c->rx_len == 0 || c->rx[0] == '\r' || c->rx[0] == '\n')
        return;
    size_t end = c->rx_len < c->tp->cfg.max_message_bytes ? c->rx_len : c->tp->cfg.max_message_bytes;
    size_t hdr = sip_find_header_end(c->rx, end), cl;
    if (!hdr)
        c->rx_noend = c->rx_len;
    else if (sip_content_length(c->rx, hdr, &cl) == 0)
        c->rx_need = hdr + cl;
}

/* Hand every complete message in the receive buffer to the callback. */
static void conn_dispatch(struct conn *c)
{
    struct transport *tp = c->tp;
    size_t off = 0;
    if ((c->rx_need || c->rx_noend) && conn_still_partial(c))
        return;
    while (!c->dead && off < c->rx_len) {
        size_t flen;
        enum frame_kind k = sip_frame_next(c->rx + off, c->rx_len - off, tp->cfg.max_message_bytes,
                                           &flen);
        if (k == FRAME_NEED_MORE)
            break;
        if (k == FRAME_TOO_BIG || k == FRAME_BAD) {
            if (k == FRAME_TOO_BIG)
                metric_inc(tp->m_too_big);
            conn_close(c, k == FRAME_TOO_BIG ? "message-too-big" : "bad-framing");
            return;
        }
        if (k == FRAME_PING) {
            conn_send(c, "\r\n", 2);
        } else if (k == FRAME_MESSAGE) {
            struct sip_source src = {.proto = c->proto, .udp_fd = -1, .conn_id = c->id};
            memcpy(&src.peer, &c->peer, c->peerlen);
            src.peerlen = c->peerlen;
            memcpy(&src.local, &c->local, sizeof src.local);
            /* NUL-terminate in place: save the byte after the message */
            char *msg = c->rx + off;
            char saved = msg[flen];
            msg[flen] = '\0';
            tp->cb(tp->arg, &src, msg, flen);
            if (c->dead)
                return;
            msg[flen] = saved;
        }
        off += flen;
    }
    if (off > 0) {
        memmove(c->rx, c->rx + off, c->rx_len - off);
        c->rx_len -= off;
    }
    if (c->rx_len || c->rx_need || c->rx_noend)
        conn_note_incomplete(c);
    if (c->partial_since_ms || c->rx_len)
        conn_limit_note_partial(c, off > 0);
}

static void conn_readable(struct conn *c)
{
    struct transport *tp = c->tp;
    /* bounded rounds per wake-up; past them, only what GnuTLS already decrypted (the socket may
     * be empty, so no new event would come for it) */
    for (int rounds = 0; (rounds < 16 || (c->tls && tls_session_pending(c->tls))) && !c->dead;
         rounds++) {
        /* room for the largest message plus the NUL we write after it */
        if (c->rx_cap - c->rx_len < 4096 + 1) {
            size_t limit = tp->cfg.max_message_bytes + 4096 + 1;
            size_t ncap = c->rx_cap ? c->rx_cap * 2 : 8192;
            if (ncap > limit)
                ncap = limit;
            if (ncap <= c->rx_cap) {
                /* buffer at its bound with no complete message in it */
                metric_inc(tp->m_too_big);
                conn_close(c, "message-too-big");
                return;
            }
            char *nb = realloc(c->rx, ncap);
            if (!nb) {
                conn_close(c, "out-of-memory");
                return;
            }
            c->rx = nb;
            c->rx_cap = ncap;
        }
        size_t room = c->rx_cap - c->rx_len - 1;
        ssize_t n = c->tls ? tls_session_recv(c->tls, c->rx + c->rx_len, room)
                           : recv(c->fd, c->rx + c->rx_len, room, 0);
        if (n == 0) {
            conn_close(c, "peer-closed");
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR)
                continue;
            conn_close(c, "read-error");
            return;
        }
        c->rx_len += (size_t)n;
        conn_touch(c);
        conn_dispatch(c);
    }
}

static void conn_io(struct loop *loop, int fd, uint32_t events, void *arg)
{
    struct conn *c = arg;
    c->busy++;
    if (c->connecting == CONN_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            struct sockaddr_storage peer = c->peer;
            conn_close(c, "connect-failed");
            if (c->tp->err_cb)
                c->tp->err_cb(c->tp->err_arg, &peer);
        } else {
            c->connecting = c->tls ? CONN_HANDSHAKING : CONN_READY;
            socklen_t ll = sizeof c->local;
            getsockname(fd, (struct sockaddr *)&c->local, &ll);
        }
    }
    if (c->connecting == CONN_HANDSHAKING && !c->dead) {
        if (tls_conn_handshake(c) < 0)
            goto out;
        events |= EPOLLIN | EPOLLOUT; /* queued SIP to send; records that came with the handshake */
    }
    if (!c->dead && (events & EPOLLOUT))
        conn_flush(c);
    if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        conn_readable(c);
out:
    c->busy--;
    if (c->dead && c->busy == 0)
        conn_free(c);
}

static void tcp_acceptable(struct loop *loop, int fd, uint32_t events, void *arg)
{
    struct listener *l = arg;
    struct transport *tp = l->tp;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        int cfd = accept4(fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                LOG_WARN("tcp accept failed errno=%d", errno);
            return;
        }
        if (conn_limit_refuses(tp, &peer) ||
            (l->ep.proto == SIP_PROTO_TLS && tls_conn_refuses(tp, &peer))) {
            close(cfd);
            continue;
        }
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = conn_new(tp, cfd, l->ep.proto, 1, &peer, pl);
        if (!c) {
            close(cfd);
            continue;
        }
        conn_limit_accepted(c);
        LOG_DEBUG("tcp accept conn=%llu peer=%s", (unsigned long long)c->id, c->peer_key);
    }
}

static struct conn *conn_connect(struct transport *tp, const struct sip_source *dst)
{
    if (tp->by_id.count >= tp->cfg.max_connections)
        return NULL;
    if (dst->proto == SIP_PROTO_TLS && !tp->tls) {
        LOG_WARN("tls connect refused reason=no-tls-configured (set tls.cert and tls.key)");
        return NULL;
    }
    int fd = socket(dst->peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(fd, (const struct sockaddr *)&dst->peer, dst->peerlen);
    if (rc < 0 && errno != EINPROGRESS) {
        close(fd);
        return NULL;
    }
    struct conn *c = conn_new(tp, fd, dst->proto, 0, &dst->peer, dst->peerlen);
    if (!c) {
        close(fd);
        return NULL;
    }
    /* TLS: even a connect done at once goes through conn_io (EPOLLOUT) to start the handshake */
    c->connecting = rc < 0 || c->tls ? CONN_CONNECTING : CONN_READY;
    conn_update_events(c);
    LOG_DEBUG("tcp connect conn=%llu peer=%s", (unsigned long long)c->id, c->peer_key);
    return c;
}

/* ---- public ------------------------------------------------------------------------------ */

int transport_listen(struct transport *tp, const struct sip_endpoint *ep)
{
    char as[SOCKADDR_STRLEN];
    sockaddr_str(&ep->addr, as, sizeof as);
    if (tp->nlisteners >= MAX_LISTENERS) {
        LOG_ERROR("listen %s:%s failed reason=too-many-listeners", sip_proto_name(ep->proto), as);
        return -ENOSPC;
    }
    if (ep->proto == SIP_PROTO_TLS && !tp->tls) {
        LOG_ERROR("listen tls:%s failed: no certificate (set tls.cert and tls.key)", as);
        return -EINVAL;
    }
    int type = sip_proto_is_stream(ep->proto) ? SOCK_STREAM : SOCK_DGRAM;
    int fd = socket(ep->addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        LOG_ERROR("listen %s:%s failed: %s", sip_proto_name(ep->proto), as, strerror(e));
        return -e;
    }
    int one = 1;
    /* TCP: restart while old connections sit in TIME_WAIT. Not UDP: there it would let a second
     * server share the port silently instead of failing with "address in use". */
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ep->addr.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (type == SOCK_DGRAM) {
        int sz = 4 * 1024 * 1024;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    }
    if (bind(fd, (const struct sockaddr *)&ep->addr, ep->addrlen) < 0 ||
        (type == SOCK_STREAM && listen(fd, 1024) < 0)) {
        int e = errno;
        LOG_ERROR("listen %s:%s failed: %s", sip_proto_name(ep->proto), as, strerror(e));
        close(fd);
        return -e;
    }
    struct listener *l = &tp->listeners[tp->nlisteners];
    l->tp = tp;
    l->ep = *ep;
    l->fd = fd;
    /* with port 0 the kernel picked one: record it */
    socklen_t al = sizeof l->ep.addr;
    getsockname(fd, (struct sockaddr *)&l->ep.addr, &al);
    int rc = loop_fd_add(tp->loop, fd, EPOLLIN, type == SOCK_STREAM ? tcp_acceptable : udp_readable, l);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    tp->nlisteners++;
    LOG_INFO("listening on %s:%s", sip_proto_name(ep->proto), sockaddr_str(&l->ep.addr, as, sizeof as));
    return 0;
}

void transport_stop_accepting(struct transport *tp)
{
    for (int i = 0; i < tp->nlisteners; i++) {
        struct listener *l = &tp->listeners[i];
        if (sip_proto_is_stream(l->ep.proto) && l->fd >= 0) {
            loop_fd_del(tp->loop, l->fd);
            close(l->fd);
            l->fd = -1;
        }
    }
}

int transport_conn_alive(struct transport *tp, uint64_t conn_id)
{
    struct conn *c = hmap_get(&tp->by_id, &conn_id, sizeof conn_id);
    return c && !c->dead;
}

static int udp_send(struct transport *tp, const struct sip_source *dst, const char *buf, size_t len)
{
    int fd = dst->udp_fd;
    if (fd < 0) {
        for (int i = 0; i < tp->nlisteners; i++) {
            struct listener *l = &tp->listeners[i];
            if (l->ep.proto == SIP_PROTO_UDP && l->fd >= 0 &&
                l->ep.addr.ss_family == dst->peer.ss_family) {
                fd = l->fd;
                break;
            }
        }
    }
    if (fd < 0)
        return -ENOTCONN;
    for (;;) {
        ssize_t n = sendto(fd, buf, len, 0, (const struct sockaddr *)&dst->peer, dst->peerlen);
        if (n >= 0)
            return 0;
        if (errno == EINTR)
            continue;
        int e = errno;
        LOG_DEBUG("udp send failed errno=%d", e);
        return -e;
    }
}

int transport_send(struct transport *tp, const struct sip_source *dst, const char *buf, size_t len)
{
    if (dst->proto == SIP_PROTO_UDP)
        return udp_send(tp, dst, buf, len);
    struct conn *c = NULL;
    if (dst->conn_id)
        c = hmap_get(&tp->by_id, &dst->conn_id, sizeof dst->conn_id);
    if (!c && dst->peerlen) {
        char key[SOCKADDR_STRLEN + 4];
        peer_key(dst->proto, &dst->peer, key, sizeof key);
        c = hmap_get(&tp->by_peer, key, strlen(key));
        if (!c)
            c = conn_connect(tp, dst);
    }
    if (!c || c->dead)
        return -ENOTCONN;
    return conn_send(c, buf, len);
}

int transport_is_local(const struct transport *tp, const char *host, int port)
{
    return transport_listens(tp, host, port == 0 ? 5060 : port);
}

/* Does listener l answer for address a (ports aside)? A wildcard listener answers for loopback
 * at least. */
static int listener_has_ip(const struct sockaddr_storage *l, const struct sockaddr_storage *a)
{
    if (l->ss_family != a->ss_family)
        return 0;
    if (l->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)l, *y = (const void *)a;
        uint32_t ya = ntohl(y->sin_addr.s_addr);
        return x->sin_addr.s_addr == y->sin_addr.s_addr ||
               (x->sin_addr.s_addr == htonl(INADDR_ANY) && (ya >> 24) == 127);
    }
    if (l->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)l, *y = (const void *)a;
        return memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0 ||
               (IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr) && IN6_IS_ADDR_LOOPBACK(&y->sin6_addr));
    }
    return 0;
}

int transport_listens(const struct transport *tp, const char *host, int port)
{
    if (port == 0)
        port = 5060;
    struct sockaddr_storage a;
    socklen_t al;
    if (host && sockaddr_from_host_port(host, strlen(host), port > 0 ? port : 5060, &a, &al) < 0)
        return 0;
    for (int i = 0; i < tp->nlisteners; i++) {
        const struct sockaddr_storage *l = &tp->listeners[i].ep.addr;
        if (port > 0 && sockaddr_port(l) != port)
            continue;
        if (!host)
            return 1;
        if (listener_has_ip(l, &a))
            return 1;
    }
    return 0;
}
