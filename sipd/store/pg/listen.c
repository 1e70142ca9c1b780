/* listen.c - the PostgreSQL store's LISTEN connection (sipd_im, sipd_pres, sipd_nodes).
 *
 * Listening (store_im_set_listener, store_pres_set_listener, store_nodes_set_listener). A
 * dedicated connection besides the pool, opened only while a listener (IM, presence, nodes, any
 * of them) is set, sends LISTEN sipd_nodes, LISTEN sipd_pres and LISTEN sipd_im (one command after
 * the other) and then nothing else: its socket stays in the loop and every readable event ends in
 * PQconsumeInput + PQnotifies, each notification routed by its channel -- a sipd_im payload
 * "<topic> <seq>" becomes one call of the IM listener, a sipd_pres payload "<aor>" one call of the
 * presence listener, a sipd_nodes payload "<nid>" one call of the nodes listener; one for a
 * listener not set is dropped. It LISTENs on every channel whichever listeners are set, so setting
 * or clearing another one changes nothing on the wire. Not one of the pool's: a pool connection is busy with pipelines and
 * is dropped (taking its LISTEN along) for reasons of its own -- a statement timeout, a pipeline
 * out of step -- while a session that only listens keeps notifications flowing whatever the pool
 * does, needs no pipeline mode, no prepared statements and no routing exception, and costs one
 * idle backend per process. Its states:  OFF --set--> CONNECTING --> SUBSCRIBING (LISTENs sent)
 * --> LISTENING. When it fails or is lost it is DOWN and reconnects like a pool connection (250 ms
 * doubling to 2 s, the same connect timeout); once LISTEN is in effect again each listener hears
 * (NULL, 0), (NULL) resp. (-1), since what was published meanwhile is not announced again. That happens
 * after any failed attempt since that listener was set (a server down at startup too), not after
 * a first attempt that went through. Clearing the last listener, or destroying the store, closes
 * the connection (the server forgets its LISTENs with the session) and goes OFF. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/log.h"
#include "../../base/loop.h"
#include "pg_impl.h"

/* The channels the listening connection LISTENs on, one command each, in this order (sipd_im
 * last: once `LISTEN sipd_im` is in effect, so are all). */
static const char *const listen_channels[] = {"sipd_nodes", "sipd_pres", "sipd_im"};
#define LISTEN_NCHANNELS (sizeof listen_channels / sizeof listen_channels[0])

/* ---- listening on sipd_im, sipd_pres, sipd_nodes (store_im/pres/nodes_set_listener) --------- */

static void on_listen_fd(struct loop *loop, int fd, uint32_t events, void *arg);
static void on_listen_timer(struct timer *t, void *arg);

/* Close the listening connection, if any (the server forgets its LISTEN with the session). The
 * state becomes DOWN; the caller retries or goes OFF. */
static void listen_close(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    loop_timer_stop(ps->base.loop, &ls->connect_timer);
    if (ls->fd >= 0)
        loop_fd_del(ps->base.loop, ls->fd); /* before PQfinish closes the socket */
    ls->fd = -1;
    ls->fd_events = 0;
    if (ls->conn)
        PQfinish(ls->conn);
    ls->conn = NULL;
    ls->state = LS_DOWN;
    ls->session++;
}

/* No listener any more (set NULL, or the store is destroyed): no connection, no retry. */
void pg_listen_stop(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    loop_timer_stop(ps->base.loop, &ls->retry_timer);
    listen_close(ps);
    ls->state = LS_OFF;
    ls->im_cb = NULL;
    ls->im_arg = NULL;
    ls->pres_cb = NULL;
    ls->pres_arg = NULL;
    ls->nodes_cb = NULL;
    ls->nodes_arg = NULL;
    ls->is_im_missed = 0;
    ls->is_pres_missed = 0;
    ls->is_nodes_missed = 0;
    ls->is_loss_logged = 0;
}

/* The listening connection failed or was lost: say so (once per outage), remember that
 * notifications may have been missed, reconnect later with the pool's backoff. */
static void listen_drop(struct pg_store *ps, const char *reason)
{
    struct pg_listen *ls = &ps->listen;
    char line[384];
    pg_one_line(line, sizeof line, reason);
    const char *host = ls->conn ? PQhost(ls->conn) : NULL;
    const char *port = ls->conn ? PQport(ls->conn) : NULL;
    char where[160];
    snprintf(where, sizeof where, "host=%s port=%s", host && *host ? host : "default",
             port && *port ? port : "default");
    int was_listening = ls->state == LS_LISTENING;
    listen_close(ps);
    ls->is_im_missed = ls->im_cb != NULL;
    ls->is_pres_missed = ls->pres_cb != NULL;
    ls->is_nodes_missed = ls->nodes_cb != NULL;
    if (!ls->is_loss_logged) {
        LOG_WARN("postgres listen connection %s %s channels=sipd_im,sipd_pres,sipd_nodes"
                 " reason=\"%s\";"
                 " reconnecting",
                 was_listening ? "lost" : "failed", where, line);
        ls->is_loss_logged = 1;
    } else {
        LOG_DEBUG("postgres listen connection attempt failed %s reason=\"%s\"", where, line);
    }
    if (was_listening)
        ls->backoff_ms = PG_BACKOFF_MIN_MS;
    if (ps->is_destroyed)
        return;
    if (loop_timer_start(ps->base.loop, &ls->retry_timer, ls->backoff_ms, on_listen_timer, ps))
        LOG_ERROR("postgres: cannot arm listen reconnect timer (out of memory)");
    ls->backoff_ms *= 2;
    if (ls->backoff_ms > PG_BACKOFF_MAX_MS)
        ls->backoff_ms = PG_BACKOFF_MAX_MS;
}

/* (Re-)register the socket; see watch_socket. */
static int listen_watch(struct pg_store *ps, uint32_t events)
{
    struct pg_listen *ls = &ps->listen;
    int fd = PQsocket(ls->conn);
    if (fd < 0)
        return -1;
    if (ls->fd >= 0)
        loop_fd_del(ps->base.loop, ls->fd);
    ls->fd = -1;
    if (loop_fd_add(ps->base.loop, fd, events, on_listen_fd, ps))
        return -1;
    ls->fd = fd;
    ls->fd_events = events;
    return 0;
}

/* Push out what libpq buffered (the LISTEN); wait for writability while some remains. 0, or -1
 * when the connection was dropped. */
static int listen_flush(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    int r = PQflush(ls->conn);
    if (r < 0) {
        listen_drop(ps, PQerrorMessage(ls->conn));
        return -1;
    }
    uint32_t events = r ? EPOLLIN | EPOLLOUT : EPOLLIN;
    if (events != ls->fd_events) {
        if (loop_fd_mod(ps->base.loop, ls->fd, events)) {
            listen_drop(ps, "cannot watch socket");
            return -1;
        }
        ls->fd_events = events;
    }
    return 0;
}

static void listen_start(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    ls->conn = pg_connect_start(ps);
    if (!ls->conn) {
        listen_drop(ps, "out of memory");
        return;
    }
    PQsetNoticeProcessor(ls->conn, pg_notice_quiet, NULL);
    if (PQstatus(ls->conn) == CONNECTION_BAD) {
        listen_drop(ps, PQerrorMessage(ls->conn));
        return;
    }
    ls->state = LS_CONNECTING;
    /* libpq: after PQconnectStart, behave as if PQconnectPoll had returned POLLING_WRITING. */
    if (listen_watch(ps, EPOLLOUT)) {
        listen_drop(ps, "no socket to watch");
        return;
    }
    /* covers the LISTEN too: the timer stops once it is in effect */
    if (loop_timer_start(ps->base.loop, &ls->connect_timer, PG_CONNECT_TIMEOUT_MS,
                         on_listen_timer, ps))
        listen_drop(ps, "out of memory");
}

/* Send the next channel's LISTEN (plain asynchronous mode, no pipeline: one command at a time,
 * the next once the previous is done). 0, or -1 when the connection was dropped. */
static int listen_send_next(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "LISTEN %s", listen_channels[ls->nsent]);
    if (!PQsendQuery(ls->conn, cmd)) {
        listen_drop(ps, PQerrorMessage(ls->conn));
        return -1;
    }
    ls->nsent++;
    return listen_flush(ps);
}

/* Connected: send the first LISTEN. */
static void listen_poll(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    switch (PQconnectPoll(ls->conn)) {
    case PGRES_POLLING_READING:
        if (listen_watch(ps, EPOLLIN))
            listen_drop(ps, "no socket to watch");
        return;
    case PGRES_POLLING_WRITING:
        if (listen_watch(ps, EPOLLOUT))
            listen_drop(ps, "no socket to watch");
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        listen_drop(ps, PQerrorMessage(ls->conn));
        return;
    }
    if (PQsetnonblocking(ls->conn, 1) || listen_watch(ps, EPOLLIN)) {
        listen_drop(ps, "cannot switch connection to non-blocking mode");
        return;
    }
    ls->state = LS_SUBSCRIBING;
    ls->nsent = 0;
    listen_send_next(ps);
}

/* Collect the LISTENs' results; the NULL after one means that LISTEN is in effect (committed):
 * the next is sent, and after the last the state becomes LISTENING. 0, or -1 when the connection
 * was dropped. */
static int listen_results(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    while (!PQisBusy(ls->conn)) {
        PGresult *r = PQgetResult(ls->conn);
        if (!r && ls->nsent < LISTEN_NCHANNELS)
            return listen_send_next(ps);
        if (!r) {
            loop_timer_stop(ps->base.loop, &ls->connect_timer);
            ls->state = LS_LISTENING;
            ls->backoff_ms = PG_BACKOFF_MIN_MS;
            if (ls->is_loss_logged)
                LOG_INFO("postgres listening again channels=sipd_im,sipd_pres,sipd_nodes");
            ls->is_loss_logged = 0;
            return 0;
        }
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "LISTEN failed: %s", PQresultErrorMessage(r));
            PQclear(r);
            listen_drop(ps, msg);
            return -1;
        }
        PQclear(r);
    }
    return 0;
}

/* "<topic> <seq>" (sipd_im_publish in schema/002_im.sql), split in place at the last space: the
 * seq is whatever follows it, even if a topic held a space (the payload is ours until PQfreemem).
 * 0 with *topic (1..PG_MAX_URI_BYTES bytes) and *seq (> 0, never the (NULL, 0) call's), or -1. */
static int parse_notify_payload(char *payload, const char **topic, int64_t *seq)
{
    char *sp = strrchr(payload, ' ');
    if (!sp || sp == payload || (size_t)(sp - payload) > PG_MAX_URI_BYTES)
        return -1;
    const char *digits = sp + 1;
    size_t nd = strspn(digits, "0123456789");
    if (nd == 0 || nd > 19 || digits[nd] != '\0')
        return -1;
    errno = 0;
    long long v = strtoll(digits, NULL, 10);
    if (errno || v <= 0)
        return -1;
    *sp = '\0';
    *topic = payload;
    *seq = (int64_t)v;
    return 0;
}

/* Hand one sipd_im notification to the IM listener, if there is one. */
static void listen_deliver_im(struct pg_listen *ls, char *payload)
{
    const char *topic;
    int64_t seq;
    if (parse_notify_payload(payload, &topic, &seq))
        LOG_DEBUG("postgres notification ignored channel=sipd_im reason=\"malformed payload\""
                  " bytes=%zu", strlen(payload));
    else if (ls->im_cb)
        ls->im_cb(ls->im_arg, topic, seq);
}

/* Hand one sipd_pres notification (the AOR, 1..PG_MAX_URI_BYTES bytes) to the presence
 * listener, if there is one. */
static void listen_deliver_pres(struct pg_listen *ls, const char *payload)
{
    size_t n = strlen(payload);
    if (n == 0 || n > PG_MAX_URI_BYTES)
        LOG_DEBUG("postgres notification ignored channel=sipd_pres reason=\"malformed payload\""
                  " bytes=%zu", n);
    else if (ls->pres_cb)
        ls->pres_cb(ls->pres_arg, payload);
}

/* Hand one sipd_nodes notification (the nid: 1..INT_MAX in decimal, sipd_nodes_notify in
 * schema/001_init.sql) to the nodes listener, if there is one. */
static void listen_deliver_nodes(struct pg_listen *ls, const char *payload)
{
    size_t nd = strspn(payload, "0123456789");
    long v = nd && nd <= 10 && !payload[nd] ? strtol(payload, NULL, 10) : 0;
    if (v <= 0 || v > INT_MAX)
        LOG_DEBUG("postgres notification ignored channel=sipd_nodes reason=\"malformed payload\""
                  " bytes=%zu", strlen(payload));
    else if (ls->nodes_cb)
        ls->nodes_cb(ls->nodes_arg, (int)v);
}

/* Hand every notification libpq has read to its channel's listener, in order. Stops when a
 * callback closed the connection (set both listeners NULL, maybe a new listener after it, or
 * destroyed the store): what that session still had is dropped. */
static void listen_deliver(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    unsigned session = ls->session;
    PGnotify *nf;
    while (ls->session == session && (nf = PQnotifies(ls->conn)) != NULL) {
        if (strcmp(nf->relname, "sipd_im") == 0)
            listen_deliver_im(ls, nf->extra);
        else if (strcmp(nf->relname, "sipd_pres") == 0)
            listen_deliver_pres(ls, nf->extra);
        else if (strcmp(nf->relname, "sipd_nodes") == 0)
            listen_deliver_nodes(ls, nf->extra);
        else
            LOG_DEBUG("postgres notification ignored channel=%.64s reason=\"unknown channel\"",
                      nf->relname);
        PQfreemem(nf);
    }
}

/* LISTEN is in effect again after a failure or loss: tell each listener that was set meanwhile
 * that it may have missed notifications. 0, or -1 when a callback closed the connection. */
static int listen_say_missed(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    unsigned session = ls->session;
    if (ls->is_im_missed) {
        ls->is_im_missed = 0;
        if (ls->im_cb)
            ls->im_cb(ls->im_arg, NULL, 0);
    }
    if (ls->session != session)
        return -1;
    if (ls->is_pres_missed) {
        ls->is_pres_missed = 0;
        if (ls->pres_cb)
            ls->pres_cb(ls->pres_arg, NULL);
    }
    if (ls->session != session)
        return -1;
    if (ls->is_nodes_missed) {
        ls->is_nodes_missed = 0;
        if (ls->nodes_cb)
            ls->nodes_cb(ls->nodes_arg, -1);
    }
    return ls->session == session ? 0 : -1;
}

static void on_listen_fd(struct loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)fd;
    struct pg_store *ps = arg;
    struct pg_listen *ls = &ps->listen;
    pg_enter(ps);
    if (ls->state == LS_CONNECTING) {
        listen_poll(ps);
    } else if (ls->conn) {
        if (!PQconsumeInput(ls->conn) || PQstatus(ls->conn) == CONNECTION_BAD) {
            listen_drop(ps, PQerrorMessage(ls->conn));
        } else if (((events & EPOLLOUT) || (ls->fd_events & EPOLLOUT)) && listen_flush(ps)) {
            /* dropped */
        } else if (ls->state == LS_SUBSCRIBING) {
            if (listen_results(ps) == 0 && ls->state == LS_LISTENING && listen_say_missed(ps) == 0)
                listen_deliver(ps);
        } else if (ls->state == LS_LISTENING) {
            listen_deliver(ps);
        }
    }
    pg_leave(ps);
}

/* Retry timer (DOWN: connect again) and connect timer (CONNECTING/SUBSCRIBING: give up). */
static void on_listen_timer(struct timer *t, void *arg)
{
    struct pg_store *ps = arg;
    struct pg_listen *ls = &ps->listen;
    pg_enter(ps);
    if (t == &ls->connect_timer) {
        char msg[96];
        snprintf(msg, sizeof msg, "connect timeout after %d ms", PG_CONNECT_TIMEOUT_MS);
        listen_drop(ps, msg);
    } else if (ls->state == LS_DOWN && (ls->im_cb || ls->pres_cb || ls->nodes_cb) &&
               !ps->is_destroyed) {
        listen_start(ps);
    }
    pg_leave(ps);
}

/* After a listener was set or cleared: the first one (from OFF) starts connecting, clearing the
 * last one closes the connection (see the file header); otherwise the connection stays as it is
 * (it LISTENs on both channels whichever listeners are set). */
static void pg_listen_apply(struct pg_store *ps)
{
    struct pg_listen *ls = &ps->listen;
    if (!ls->im_cb && !ls->pres_cb && !ls->nodes_cb) {
        pg_listen_stop(ps);
    } else if (ls->state == LS_OFF) {
        ls->backoff_ms = PG_BACKOFF_MIN_MS;
        listen_start(ps);
    }
}

int pg_im_is_listening(const struct store *st)
{
    const struct pg_listen *ls = &((const struct pg_store *)st)->listen;
    return ls->im_cb && ls->state == LS_LISTENING;
}

/* A listener replaces the previous one of its kind on the same connection. One set anew (not a
 * replacement) hears (NULL) only after a failure that comes after it was set. */
void pg_im_set_listener(struct store *st, store_im_notify_cb cb, void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_listen *ls = &ps->listen;
    if (ps->is_destroyed)
        return;
    pg_enter(ps);
    if (!cb || !ls->im_cb)
        ls->is_im_missed = 0;
    ls->im_cb = cb;
    ls->im_arg = cb ? arg : NULL;
    pg_listen_apply(ps);
    pg_leave(ps);
}

void pg_pres_set_listener(struct store *st, store_pres_notify_cb cb, void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_listen *ls = &ps->listen;
    if (ps->is_destroyed)
        return;
    pg_enter(ps);
    if (!cb || !ls->pres_cb)
        ls->is_pres_missed = 0;
    ls->pres_cb = cb;
    ls->pres_arg = cb ? arg : NULL;
    pg_listen_apply(ps);
    pg_leave(ps);
}


void pg_nodes_set_listener(struct store *st, store_nodes_notify_cb cb, void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_listen *ls = &ps->listen;
    if (ps->is_destroyed)
        return;
    pg_enter(ps);
    if (!cb || !ls->nodes_cb)
        ls->is_nodes_missed = 0;
    ls->nodes_cb = cb;
    ls->nodes_arg = cb ? arg : NULL;
    pg_listen_apply(ps);
    pg_leave(ps);
}
