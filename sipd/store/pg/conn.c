/* conn.c - one connection of the PostgreSQL store's pool: connect, prepare, send, read, drop.
 *
 * Connection states:  DOWN --timer--> CONNECTING --> PREPARING --> READY --(error)--> DOWN.
 * Only READY connections take operations; with none, operations fail at once with STORE_EUNAVAIL.
 * When a connection is lost, its operations (in flight and queued) fail with STORE_EUNAVAIL and a
 * timer reconnects it with backoff (250 ms doubling to 2 s). A connection that waits
 * PG_STMT_TIMEOUT_MS for a result counts as lost, so nothing waits forever.
 *
 * On connecting, the connection switches to pipeline mode and sends the session setup and the
 * preparation of every statement (statements.c) in one flight; it is READY at that sync. Each
 * connection has its own queue and reconnects on its own; the store is available while at least
 * one connection is. Every result read is handed, in ring order, to pipeline.c. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/log.h"
#include "../../base/loop.h"
#include "../../base/metrics.h"
#include "pg_impl.h"

void pg_enter(struct pg_store *ps) { ps->depth++; }

void pg_store_free(struct pg_store *ps)
{
    if (ps->conninfo) {
        explicit_bzero(ps->conninfo, strlen(ps->conninfo));
        free(ps->conninfo);
    }
    pg_known_free(ps);
    pg_arr_free_scratch(ps);
    free(ps);
}

void pg_leave(struct pg_store *ps)
{
    if (--ps->depth == 0 && ps->is_destroyed)
        pg_store_free(ps);
}

int pg_any_ready(const struct pg_store *ps)
{
    for (int i = 0; i < PG_CONNECTIONS; i++)
        if (ps->conns[i].state == PG_READY)
            return 1;
    return 0;
}

/* One line from a libpq message: newlines and tabs become spaces, trailing space trimmed. */
const char *pg_one_line(char *buf, size_t size, const char *msg)
{
    size_t n = 0;
    for (const char *p = msg ? msg : ""; *p && n + 1 < size; p++)
        buf[n++] = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
    while (n > 0 && buf[n - 1] == ' ')
        n--;
    buf[n] = '\0';
    if (n == 0)
        snprintf(buf, size, "unknown error");
    return buf;
}

/* libpq prints notices (e.g. "there is no transaction in progress") to stderr by default. */
void pg_notice_quiet(void *arg, const char *message)
{
    (void)arg;
    char line[256];
    LOG_DEBUG("postgres notice: %s", pg_one_line(line, sizeof line, message));
}
/* ---- connection ------------------------------------------------------------------------------ */

void pg_conn_close(struct pg_conn *c)
{
    struct loop *loop = c->ps->base.loop;
    loop_timer_stop(loop, &c->connect_timer);
    loop_timer_stop(loop, &c->progress_timer);
    c->is_progress_timer_on = 0;
    if (c->fd >= 0)
        loop_fd_del(loop, c->fd); /* before PQfinish closes the socket */
    c->fd = -1;
    c->fd_events = 0;
    if (c->res)
        PQclear(c->res);
    c->res = NULL;
    c->ring_head = c->ring_len = 0;
    c->nunsynced = 0;
    c->last_sent = -1;
    c->owner = c->unsure = NULL;
    c->is_unsure_synced = 0;
    if (c->conn)
        PQfinish(c->conn);
    c->conn = NULL;
    c->state = PG_DOWN;
}

static void on_retry_timer(struct timer *t, void *arg);
static void on_progress_timer(struct timer *t, void *arg);
static void on_fd(struct loop *loop, int fd, uint32_t events, void *arg);

static void schedule_retry(struct pg_conn *c)
{
    if (c->ps->is_destroyed)
        return;
    if (loop_timer_start(c->ps->base.loop, &c->retry_timer, c->backoff_ms, on_retry_timer, c))
        LOG_ERROR("postgres: cannot arm reconnect timer (out of memory)");
    c->backoff_ms *= 2;
    if (c->backoff_ms > PG_BACKOFF_MAX_MS)
        c->backoff_ms = PG_BACKOFF_MAX_MS;
}

static size_t conn_nuser(const struct pg_conn *c)
{
    size_t n = 0;
    const struct op_list *lists[] = {&c->sent, &c->resend, &c->wait};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        for (const struct pg_op *op = lists[i]->head; op; op = op->next)
            n += op->kind == OP_BATCH ? (size_t)op->nmembers : !op->is_internal;
    return n;
}

/* The connection failed or was lost: say so (once per outage), fail its operations, reconnect
 * later. The other connections carry on. */
void pg_conn_drop(struct pg_conn *c, const char *reason)
{
    struct pg_store *ps = c->ps;
    char line[384];
    pg_one_line(line, sizeof line, reason);
    const char *host = c->conn ? PQhost(c->conn) : NULL;
    const char *port = c->conn ? PQport(c->conn) : NULL;
    char where[160];
    snprintf(where, sizeof where, "host=%s port=%s", host && *host ? host : "default",
             port && *port ? port : "default");
    int was_up = c->state == PG_READY;
    size_t nfailed = conn_nuser(c);
    pg_conn_close(c);
    if (was_up) {
        LOG_WARN("postgres connection lost %s conn=%d reason=\"%s\" failed_ops=%zu; reconnecting",
                 where, c->idx, line, nfailed);
        if (!pg_any_ready(ps))
            ps->link_logged = LINK_DOWN;
        c->backoff_ms = PG_BACKOFF_MIN_MS;
    } else if (ps->link_logged == LINK_UNKNOWN) {
        LOG_WARN("postgres connection failed %s reason=\"%s\"; retrying in the background", where,
                 line);
        ps->link_logged = LINK_DOWN;
    } else {
        LOG_DEBUG("postgres connection attempt failed %s conn=%d reason=\"%s\"", where, c->idx,
                  line);
    }
    schedule_retry(c);
    pg_conn_fail_ops(c, STORE_EUNAVAIL);
}

/* (Re-)register the socket. While connecting, libpq may close the socket and open another
 * (next host, SSL fallback) and the number may even be reused, so always delete and add. */
static int watch_socket(struct pg_conn *c, uint32_t events)
{
    int fd = PQsocket(c->conn);
    if (fd < 0)
        return -1;
    if (c->fd >= 0)
        loop_fd_del(c->ps->base.loop, c->fd);
    c->fd = -1;
    if (loop_fd_add(c->ps->base.loop, fd, events, on_fd, c))
        return -1;
    c->fd = fd;
    c->fd_events = events;
    return 0;
}

static int set_events(struct pg_conn *c, uint32_t events)
{
    if (c->fd_events == events)
        return 0;
    if (loop_fd_mod(c->ps->base.loop, c->fd, events))
        return -1;
    c->fd_events = events;
    return 0;
}

/* Push out what libpq buffered; wait for writability while some remains. 0, or -1 when the
 * connection was dropped. */
static int flush_out(struct pg_conn *c)
{
    int r = PQflush(c->conn);
    if (r < 0) {
        pg_conn_drop(c, PQerrorMessage(c->conn));
        return -1;
    }
    if (set_events(c, r ? EPOLLIN | EPOLLOUT : EPOLLIN)) {
        pg_conn_drop(c, "cannot watch socket");
        return -1;
    }
    return 0;
}

/* ---- sending --------------------------------------------------------------------------------- */

/* Note a result to come. 0, or -1 when the ring is full (cannot happen within the limits). */
int pg_ring_push(struct pg_conn *c, struct pg_op *op, int what, int is_prepare)
{
    if (c->ring_len == PG_RING_SIZE)
        return -1;
    if (c->ring_len == 0)
        c->progress_ms = loop_now_ms(c->ps->base.loop);
    struct pg_entry *e = &c->ring[(c->ring_head + c->ring_len) % PG_RING_SIZE];
    e->op = op;
    e->what = (unsigned char)what;
    e->is_prepare = (unsigned char)is_prepare;
    e->sent_us = op && what != E_SYNC ? metrics_clock_us() : 0;
    c->ring_len++;
    return 0;
}

static struct pg_entry ring_pop(struct pg_conn *c)
{
    struct pg_entry e = c->ring[c->ring_head];
    c->ring_head = (c->ring_head + 1) % PG_RING_SIZE;
    c->ring_len--;
    return e;
}

/* Queue a prepared statement for op (NULL: the connection's own). 0, or -1 when the connection
 * was dropped (and every operation on it, op included, failed). */
int pg_send_stmt(struct pg_conn *c, struct pg_op *op, enum stmt_id id,
                     const char *const *values)
{
    if (pg_ring_push(c, op, id, 0)) {
        pg_conn_drop(c, "pipeline overflow");
        return -1;
    }
    if (!PQsendQueryPrepared(c->conn, pg_stmts[id].name, pg_stmts[id].nparams, values, NULL, NULL,
                             0)) {
        pg_conn_drop(c, PQerrorMessage(c->conn));
        return -1;
    }
    c->nunsynced++;
    c->last_sent = id;
    return 0;
}

/* Close the segment with a sync (which makes the server answer, and libpq write). 0, or -1 when
 * the connection was dropped. */

int pg_end_segment(struct pg_conn *c) { return pg_end_segment_for(c, NULL); }

/* ... with the sync's result going to op (a query that changes data: see pg_query_start). */
int pg_end_segment_for(struct pg_conn *c, struct pg_op *op)
{
    if (c->nunsynced == 0)
        return 0;
    if (pg_ring_push(c, op, E_SYNC, 0)) {
        pg_conn_drop(c, "pipeline overflow");
        return -1;
    }
    if (!PQpipelineSync(c->conn)) {
        pg_conn_drop(c, PQerrorMessage(c->conn));
        return -1;
    }
    c->nunsynced = 0;
    c->last_sent = -1;
    if (c->unsure)
        c->is_unsure_synced = 1;
    if (!c->is_progress_timer_on) {
        if (loop_timer_start(c->ps->base.loop, &c->progress_timer, PG_STMT_TIMEOUT_MS,
                             on_progress_timer, c)) {
            pg_conn_drop(c, "out of memory");
            return -1;
        }
        c->is_progress_timer_on = 1;
    }
    return flush_out(c);
}

/* No result for PG_STMT_TIMEOUT_MS while some are awaited: the connection is as good as lost.
 * The timer is not moved on every result; it checks the time of the last one when it fires. */
static void on_progress_timer(struct timer *t, void *arg)
{
    (void)t;
    struct pg_conn *c = arg;
    struct pg_store *ps = c->ps;
    pg_enter(ps);
    c->is_progress_timer_on = 0;
    if (c->conn && c->ring_len > 0) {
        uint64_t idle_ms = loop_now_ms(ps->base.loop) - c->progress_ms;
        if (idle_ms >= PG_STMT_TIMEOUT_MS) {
            char msg[96];
            snprintf(msg, sizeof msg, "no answer within %d ms", PG_STMT_TIMEOUT_MS);
            pg_conn_drop(c, msg);
        } else if (loop_timer_start(ps->base.loop, &c->progress_timer,
                                    PG_STMT_TIMEOUT_MS - idle_ms, on_progress_timer, c)) {
            pg_conn_drop(c, "out of memory");
        } else {
            c->is_progress_timer_on = 1;
        }
    }
    pg_leave(ps);
}

/* Start connecting (a pool connection or the listening one); NULL when out of memory. */
PGconn *pg_connect_start(const struct pg_store *ps)
{
    /* dbname (the caller's conninfo, expanded) comes last so that it overrides our defaults. */
    static const char *const keys[] = {"fallback_application_name", "client_encoding",
                                       "keepalives_idle", "keepalives_interval",
                                       "keepalives_count", "dbname", NULL};
    const char *vals[] = {"sipd", "UTF8", "30", "10", "3", ps->conninfo, NULL};
    return PQconnectStartParams(keys, vals, 1);
}

void pg_conn_start(struct pg_conn *c)
{
    c->conn = pg_connect_start(c->ps);
    if (!c->conn) {
        pg_conn_drop(c, "out of memory");
        return;
    }
    PQsetNoticeProcessor(c->conn, pg_notice_quiet, c);
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        pg_conn_drop(c, PQerrorMessage(c->conn));
        return;
    }
    c->state = PG_CONNECTING;
    /* libpq: after PQconnectStart, behave as if PQconnectPoll had returned POLLING_WRITING. */
    if (watch_socket(c, EPOLLOUT)) {
        pg_conn_drop(c, "no socket to watch");
        return;
    }
    if (loop_timer_start(c->ps->base.loop, &c->connect_timer, PG_CONNECT_TIMEOUT_MS,
                         on_retry_timer, c))
        pg_conn_drop(c, "out of memory");
}

/* Retry timer (DOWN: connect again) and connect timer (CONNECTING/PREPARING: give up). */
static void on_retry_timer(struct timer *t, void *arg)
{
    struct pg_conn *c = arg;
    struct pg_store *ps = c->ps;
    pg_enter(ps);
    if (t == &c->connect_timer) {
        char msg[96];
        snprintf(msg, sizeof msg, "connect timeout after %d ms", PG_CONNECT_TIMEOUT_MS);
        pg_conn_drop(c, msg);
    } else if (c->state == PG_DOWN && !ps->is_destroyed) {
        pg_conn_start(c);
    }
    pg_leave(ps);
}

/* Connected: switch to pipeline mode and prepare every statement in one flight. */
static void conn_poll(struct pg_conn *c)
{
    switch (PQconnectPoll(c->conn)) {
    case PGRES_POLLING_READING:
        if (watch_socket(c, EPOLLIN))
            pg_conn_drop(c, "no socket to watch");
        return;
    case PGRES_POLLING_WRITING:
        if (watch_socket(c, EPOLLOUT))
            pg_conn_drop(c, "no socket to watch");
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        pg_conn_drop(c, PQerrorMessage(c->conn));
        return;
    }
    if (PQsetnonblocking(c->conn, 1) || !PQenterPipelineMode(c->conn) ||
        watch_socket(c, EPOLLIN)) {
        pg_conn_drop(c, "cannot switch connection to non-blocking pipeline mode");
        return;
    }
    c->state = PG_PREPARING;
    const char *setup = PQserverVersion(c->conn) >= 120000 ? pg_setup_sql : pg_setup_sql_pre12;
    if (pg_ring_push(c, NULL, E_SETUP, 1) ||
        !PQsendQueryParams(c->conn, setup, 0, NULL, NULL, NULL, NULL, 0)) {
        pg_conn_drop(c, PQerrorMessage(c->conn));
        return;
    }
    c->nunsynced++;
    for (int i = 0; i < S_NUM; i++) {
        if (pg_ring_push(c, NULL, i, 1) ||
            !PQsendPrepare(c->conn, pg_stmts[i].name, pg_stmts[i].sql, pg_stmts[i].nparams, NULL)) {
            pg_conn_drop(c, PQerrorMessage(c->conn));
            return;
        }
        c->nunsynced++;
    }
    pg_end_segment(c);
}

int pg_res_ok(const PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* The result of the session setup (idx E_SETUP) or of preparing pg_stmts[idx]. */
void pg_prepare_result(struct pg_conn *c, int idx, const PGresult *res)
{
    if (pg_res_ok(res))
        return;
    char msg[512];
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(msg, sizeof msg, "%s%s failed: %s%s", idx == E_SETUP ? "session setup" : "preparing ",
             idx == E_SETUP ? "" : pg_stmts[idx].name,
             PQresultErrorMessage(res),
             state && (strcmp(state, "42P01") == 0 || strcmp(state, "42883") == 0 ||
                       strcmp(state, "42703") == 0)
                 ? " (schema missing or old? run sipd --init-db)"
                 : "");
    pg_conn_drop(c, msg);
}

static void conn_ready(struct pg_conn *c)
{
    struct pg_store *ps = c->ps;
    loop_timer_stop(ps->base.loop, &c->connect_timer);
    int was_available = pg_any_ready(ps);
    c->state = PG_READY;
    c->backoff_ms = PG_BACKOFF_MIN_MS;
    if (ps->link_logged != LINK_UP) {
        const char *host = PQhost(c->conn), *port = PQport(c->conn), *db = PQdb(c->conn);
        LOG_INFO("postgres connected host=%s port=%s db=%s", host && *host ? host : "default",
                 port && *port ? port : "default", db ? db : "");
    }
    ps->link_logged = LINK_UP;
    if (!was_available)
        pg_queue_count(c);
}

/* A sync is back: the segment before it is complete on the server. */
void pg_on_sync(struct pg_conn *c)
{
    if (c->state == PG_PREPARING) {
        conn_ready(c);
        return;
    }
    pg_list_prepend_all(&c->wait, &c->resend, W_WAIT);
    /* Nothing awaited: the server must be outside any transaction (libpq knows it exactly now).
     * If not, the connection is in a state we do not understand, and a fresh one is the safe
     * way out. */
    if (c->ring_len == 0) {
        PGTransactionStatusType ts = PQtransactionStatus(c->conn);
        if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
            pg_conn_drop(c, "transaction left open");
    }
}

/* ---- reading --------------------------------------------------------------------------------- */

/* Did the statement fail because the connection is going away? SQLSTATE class 08 (connection
 * exception) and 57P (server shutting down, backend terminated) end the session even when libpq
 * has not yet seen the end of the stream. */
static int is_conn_error(PGconn *conn, const PGresult *res)
{
    if (PQstatus(conn) == CONNECTION_BAD)
        return 1;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0);
}

/* A complete result (res, owned here) for the ring's head entry. */
static void deliver(struct pg_conn *c, PGresult *res, int is_sync)
{
    if (!is_sync && is_conn_error(c->conn, res)) {
        char reason[384];
        pg_one_line(reason, sizeof reason, PQresultErrorMessage(res));
        if (!strcmp(reason, "unknown error"))
            pg_one_line(reason, sizeof reason, PQerrorMessage(c->conn));
        PQclear(res);
        pg_conn_drop(c, reason);
        return;
    }
    if (c->ring_len == 0 || (c->ring[c->ring_head].what == E_SYNC) != is_sync) {
        PQclear(res);
        pg_conn_drop(c, "results out of step with the pipeline");
        return;
    }
    struct pg_entry e = ring_pop(c);
    c->progress_ms = loop_now_ms(c->ps->base.loop);
    if (is_sync) {
        PQclear(res);
        /* A query that changed data is through (or failed) at its sync; it reports after
         * the connection is back in step, since the callback may submit or destroy. */
        struct pg_op *done = e.op ? pg_query_synced(c, e.op) : NULL;
        pg_on_sync(c);
        if (done)
            pg_query_report(done);
        return;
    }
    pg_on_stmt_result(c, &e, res);
}

/* Read every complete result; then send what may go now. In pipeline mode each statement gives
 * one result then NULL; a sync gives one PGRES_PIPELINE_SYNC result and no NULL; with nothing
 * awaited PQgetResult keeps returning NULL. */
static void process_results(struct pg_conn *c)
{
    struct pg_store *ps = c->ps;
    int nnull = 0;
    while (c->conn && !ps->is_destroyed && !PQisBusy(c->conn)) {
        PGresult *r = PQgetResult(c->conn);
        if (!r) {
            if (c->res) {
                PGresult *res = c->res;
                c->res = NULL;
                nnull = 0;
                deliver(c, res, 0);
            } else if (++nnull >= 2) {
                break;
            }
            continue;
        }
        nnull = 0;
        ExecStatusType rs = PQresultStatus(r);
        if (rs == PGRES_PIPELINE_SYNC) {
            if (c->res) { /* cannot happen: a statement's results end with NULL */
                PQclear(c->res);
                c->res = NULL;
            }
            deliver(c, r, 1);
            continue;
        }
        if (rs == PGRES_COPY_IN || rs == PGRES_COPY_OUT || rs == PGRES_COPY_BOTH) {
            /* none of our statements copies; libpq would return this result forever */
            PQclear(r);
            pg_conn_drop(c, "unexpected COPY state");
            return;
        }
        /* Keep the first result, or the first error. */
        if (!c->res) {
            c->res = r;
        } else if (rs == PGRES_FATAL_ERROR && PQresultStatus(c->res) != PGRES_FATAL_ERROR) {
            PQclear(c->res);
            c->res = r;
        } else {
            PQclear(r);
        }
    }
    if (c->conn && !ps->is_destroyed)
        pg_pump(c);
}

static void on_fd(struct loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)fd;
    struct pg_conn *c = arg;
    struct pg_store *ps = c->ps;
    pg_enter(ps);
    if (c->state == PG_CONNECTING) {
        conn_poll(c);
    } else if (c->conn) {
        if (!PQconsumeInput(c->conn) || PQstatus(c->conn) == CONNECTION_BAD) {
            pg_conn_drop(c, PQerrorMessage(c->conn));
        } else {
            PGnotify *nf;
            while ((nf = PQnotifies(c->conn)) != NULL)
                PQfreemem(nf);
            if ((events & EPOLLOUT) || (c->fd_events & EPOLLOUT))
                flush_out(c);
            if (c->conn)
                process_results(c);
        }
    }
    pg_leave(ps);
}

