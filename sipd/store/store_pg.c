/* store_pg.c - the PostgreSQL store backend (a cluster of nodes shares one database).
 *
 * One libpq connection per store, driven entirely by the event loop through libpq's asynchronous
 * API: PQconnectStartParams/PQconnectPoll to connect, PQsendPrepare/PQsendQueryPrepared to send,
 * PQconsumeInput/PQisBusy/PQgetResult to read, PQflush (with EPOLLOUT) for what the kernel did not
 * take at once. The loop never waits for the database.
 *
 * Operations queue up and run one at a time on the connection, each a small state machine of
 * prepared, parameterised statements (see `stmts` below). A location update is one transaction:
 *     BEGIN; lock the AOR (advisory, so every node serialises on it); SELECT its live bindings;
 *     call the caller's update function; replace the bindings in one statement; COMMIT.
 *
 * Connection states:  DOWN --timer--> CONNECTING --> PREPARING --> READY --(error)--> DOWN.
 * Only READY accepts operations; otherwise they fail at once with STORE_EUNAVAIL. When the
 * connection is lost, the operation in flight and every queued one fail with STORE_EUNAVAIL and
 * a timer reconnects with backoff (250 ms doubling to 2 s). A statement that gets no answer for
 * PG_STMT_TIMEOUT_MS counts as a lost connection, so nothing waits forever.
 *
 * Callbacks may re-enter the store (submit operations, even destroy it): `depth` counts the
 * entry points on the stack and the struct is freed only when the outermost one returns.
 *
 * Note: a host name in the conninfo is resolved by libpq with blocking getaddrinfo() while
 * connecting; use hostaddr= (or a unix socket / numeric host) to keep that off the loop. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#include "../base/log.h"
#include "../base/loop.h"
#include "store_impl.h"

#define PG_MAX_OPS 10000            /* queued + in flight; beyond: STORE_EUNAVAIL */
#define PG_MAX_BINDINGS 1000        /* per AOR, read or written */
#define PG_MAX_FIELD_BYTES 65536    /* one text column of a binding */
#define PG_MAX_PARAM_BYTES (8u << 20) /* all array parameters of one replace */
#define PG_MAX_RETRIES 3            /* update retried on serialization failure / deadlock */
#define PG_BACKOFF_MIN_MS 250
#define PG_BACKOFF_MAX_MS 2000
#define PG_CONNECT_TIMEOUT_MS 5000
#define PG_STMT_TIMEOUT_MS 10000
#define PG_MIGRATION_MAX_BYTES (16u << 20)
#define PG_INIT_LOCK_KEY "7596475006052413440" /* advisory lock of store_init_db ("sipd" << 32) */

/* ---- statements ------------------------------------------------------------------------------ */

/* The columns of a binding, in the order parse_binding() reads them. */
#define LOC_COLS                                                                                   \
    "aor, contact, call_id, cseq, floor(extract(epoch FROM expires_at))::bigint, q, path, "      \
    "instance, reg_id, user_agent, received, conn_id, node, "                                    \
    "floor(extract(epoch FROM updated_at))::bigint"
#define LOC_NCOLS 14

enum stmt_id { S_BEGIN, S_COMMIT, S_ROLLBACK, S_LOCK, S_GET, S_REPLACE, S_EXPIRE, S_COUNT, S_NUM };

static const struct pg_stmt {
    const char *name;
    const char *sql;
    int nparams;
} stmts[S_NUM] = {
    /* READ COMMITTED whatever the server's default: the SELECT after the lock must see what
     * the previous holder of the lock committed (a snapshot taken before it would not). */
    [S_BEGIN] = {"sipd_begin", "BEGIN ISOLATION LEVEL READ COMMITTED", 0},
    [S_COMMIT] = {"sipd_commit", "COMMIT", 0},
    [S_ROLLBACK] = {"sipd_rollback", "ROLLBACK", 0},
    /* $1 aor. Serialises every writer of one AOR, on every node, until COMMIT/ROLLBACK. */
    [S_LOCK] = {"sipd_loc_lock", "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))", 1},
    /* $1 aor, $2 now: the live bindings, in lookup order. */
    [S_GET] = {"sipd_loc_get",
               "SELECT " LOC_COLS " FROM locations"
               " WHERE aor = $1::text AND expires_at > to_timestamp($2::bigint)"
               " ORDER BY CASE WHEN q < 0 THEN 1000 ELSE q END DESC, updated_at DESC, contact"
               " LIMIT 1000",
               2},
    /* $1 aor, $2.. one array per column. The DELETE must run before the INSERT (else the
     * unique index sees the old row of a contact that is registered again): an unreferenced
     * data-modifying CTE would run last, so the INSERT's WHERE reads it first. */
    [S_REPLACE] = {"sipd_loc_replace",
                   "WITH d AS (DELETE FROM locations WHERE aor = $1::text RETURNING 1)"
                   " INSERT INTO locations (aor, contact, call_id, cseq, expires_at, q, path,"
                   " instance, reg_id, user_agent, received, conn_id, node, updated_at)"
                   " SELECT $1::text, u.contact, u.call_id, u.cseq, to_timestamp(u.expires_at),"
                   " u.q, u.path, u.instance, u.reg_id, u.user_agent, u.received, u.conn_id,"
                   " u.node, to_timestamp(u.updated_at)"
                   " FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[],"
                   " $6::smallint[], $7::text[], $8::text[], $9::integer[], $10::text[],"
                   " $11::text[], $12::bigint[], $13::text[], $14::bigint[])"
                   " AS u(contact, call_id, cseq, expires_at, q, path, instance, reg_id,"
                   " user_agent, received, conn_id, node, updated_at)"
                   " WHERE (SELECT count(*) FROM d) >= 0"
                   " RETURNING " LOC_COLS,
                   14},
    /* $1 now */
    [S_EXPIRE] = {"sipd_loc_expire",
                  "DELETE FROM locations WHERE expires_at <= to_timestamp($1::bigint)", 1},
    [S_COUNT] = {"sipd_loc_count", "SELECT count(DISTINCT aor), count(*) FROM locations", 0},
};

#define REPLACE_NARRAYS 13

/* ---- operations ------------------------------------------------------------------------------ */

enum op_kind { OP_UPDATE, OP_LOOKUP, OP_EXPIRE, OP_COUNT };

/* Steps of the operations: the statement the operation waits for. */
enum op_step { ST_BEGIN, ST_LOCK, ST_SELECT, ST_REPLACE, ST_COMMIT, ST_ROLLBACK, ST_GET,
               ST_EXPIRE, ST_COUNT };

struct pg_op {
    struct pg_op *next;
    enum op_kind kind;
    enum op_step step;
    int is_internal;           /* not counted by pending(), no callback */
    char *aor;
    int64_t now;
    store_update_fn update;
    store_bindings_cb done_bindings;
    store_status_cb done_status;
    void *arg;
    int status;                /* what to report once the ROLLBACK is through */
    int retries;
    int want_retry;
    char *params[1 + REPLACE_NARRAYS]; /* S_REPLACE parameters ([0] borrows aor) */
    PGresult *stored;          /* S_REPLACE's rows, reported once COMMIT is through */
};

/* ---- the store --------------------------------------------------------------------------------*/

enum pg_state { PG_DOWN, PG_CONNECTING, PG_PREPARING, PG_READY };
enum link_log { LINK_UNKNOWN, LINK_UP, LINK_DOWN }; /* what we last told the operator */

struct pg_store {
    struct store base;
    char *conninfo;            /* may hold a password: never logged, wiped on free */
    PGconn *conn;
    int fd;                    /* registered in the loop, -1 when none */
    uint32_t fd_events;
    enum pg_state state;
    enum link_log link_logged;
    int stmt_active;           /* a statement was sent and its results are not all in */
    PGresult *res;             /* result of the active statement, collected so far */
    int prep_idx;              /* PREPARING: the statement being prepared */
    struct pg_op *head, *tail; /* head is in flight when stmt_active */
    size_t nops, nuser;
    int count_queued;
    long count_aors, count_bindings;
    uint64_t backoff_ms;
    struct timer retry_timer, connect_timer, stmt_timer;
    int depth;                 /* entry points on the stack */
    int is_destroyed;
};

static void conn_drop(struct pg_store *ps, const char *reason);
static void pump(struct pg_store *ps);

static void ps_enter(struct pg_store *ps) { ps->depth++; }

static void ps_free(struct pg_store *ps)
{
    if (ps->conninfo) {
        explicit_bzero(ps->conninfo, strlen(ps->conninfo));
        free(ps->conninfo);
    }
    free(ps);
}

static void ps_leave(struct pg_store *ps)
{
    if (--ps->depth == 0 && ps->is_destroyed)
        ps_free(ps);
}

/* One line from a libpq message: newlines and tabs become spaces, trailing space trimmed. */
static const char *one_line(char *buf, size_t size, const char *msg)
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
static void notice_quiet(void *arg, const char *message)
{
    (void)arg;
    char line[256];
    LOG_DEBUG("postgres notice: %s", one_line(line, sizeof line, message));
}

/* ---- operation lifetime ---------------------------------------------------------------------- */

static void op_free(struct pg_op *op)
{
    if (op->stored)
        PQclear(op->stored);
    for (size_t i = 1; i < sizeof op->params / sizeof op->params[0]; i++)
        free(op->params[i]);
    free(op->aor);
    free(op);
}

static void op_clear_params(struct pg_op *op)
{
    for (size_t i = 1; i < sizeof op->params / sizeof op->params[0]; i++) {
        free(op->params[i]);
        op->params[i] = NULL;
    }
}

/* Tell the caller; the op must already be off the queue. The store may be destroyed after. */
static void op_notify(struct pg_op *op, int status, const struct binding *b, size_t n)
{
    if (op->is_internal)
        return;
    if (op->kind == OP_EXPIRE) {
        if (op->done_status)
            op->done_status(op->arg, status);
    } else {
        op->done_bindings(op->arg, status, status == 0 ? b : NULL, status == 0 ? n : 0);
    }
}

static void op_unlink_head(struct pg_store *ps, struct pg_op *op)
{
    ps->head = op->next;
    if (!ps->head)
        ps->tail = NULL;
    ps->nops--;
    if (op->is_internal) {
        if (op->kind == OP_COUNT)
            ps->count_queued = 0;
    } else {
        ps->nuser--;
    }
}

/* The head operation is finished: take it off the queue, call back, free it. */
static void op_complete(struct pg_store *ps, struct pg_op *op, int status, const struct binding *b,
                        size_t n)
{
    op_unlink_head(ps, op);
    /* An operation always ends outside a transaction; if not, the connection is in a state we
     * do not understand, and a fresh one is the safe way out. */
    if (ps->conn && PQtransactionStatus(ps->conn) != PQTRANS_IDLE)
        conn_drop(ps, "transaction left open");
    op_notify(op, status, b, n);
    op_free(op);
}

/* Fail every operation, in order. Callbacks may submit new ones: those fail at once since the
 * caller made sure the store is not READY. */
static void fail_all(struct pg_store *ps, int status)
{
    struct pg_op *op = ps->head;
    ps->head = ps->tail = NULL;
    ps->nops = ps->nuser = 0;
    ps->count_queued = 0;
    while (op) {
        struct pg_op *next = op->next;
        op_notify(op, status, NULL, 0);
        op_free(op);
        op = next;
    }
}

/* ---- connection ------------------------------------------------------------------------------ */

static void conn_close(struct pg_store *ps)
{
    struct loop *loop = ps->base.loop;
    loop_timer_stop(loop, &ps->connect_timer);
    loop_timer_stop(loop, &ps->stmt_timer);
    if (ps->fd >= 0)
        loop_fd_del(loop, ps->fd); /* before PQfinish closes the socket */
    ps->fd = -1;
    ps->fd_events = 0;
    if (ps->res)
        PQclear(ps->res);
    ps->res = NULL;
    ps->stmt_active = 0;
    if (ps->conn)
        PQfinish(ps->conn);
    ps->conn = NULL;
    ps->state = PG_DOWN;
}

static void on_retry_timer(struct timer *t, void *arg);
static void on_fd(struct loop *loop, int fd, uint32_t events, void *arg);

static void schedule_retry(struct pg_store *ps)
{
    if (ps->is_destroyed)
        return;
    if (loop_timer_start(ps->base.loop, &ps->retry_timer, ps->backoff_ms, on_retry_timer, ps))
        LOG_ERROR("postgres: cannot arm reconnect timer (out of memory)");
    ps->backoff_ms *= 2;
    if (ps->backoff_ms > PG_BACKOFF_MAX_MS)
        ps->backoff_ms = PG_BACKOFF_MAX_MS;
}

/* The connection failed or was lost: say so once, fail everything, reconnect later. */
static void conn_drop(struct pg_store *ps, const char *reason)
{
    char line[384];
    one_line(line, sizeof line, reason);
    const char *host = ps->conn ? PQhost(ps->conn) : NULL;
    const char *port = ps->conn ? PQport(ps->conn) : NULL;
    char where[160];
    snprintf(where, sizeof where, "host=%s port=%s", host && *host ? host : "default",
             port && *port ? port : "default");
    int was_up = ps->state == PG_READY;
    size_t npending = ps->nuser;
    if (ps->link_logged == LINK_UP)
        LOG_WARN("postgres connection lost %s reason=\"%s\" failed_ops=%zu; reconnecting", where,
                 line, npending);
    else if (ps->link_logged == LINK_UNKNOWN)
        LOG_WARN("postgres connection failed %s reason=\"%s\"; retrying in the background", where,
                 line);
    else
        LOG_DEBUG("postgres connection attempt failed %s reason=\"%s\"", where, line);
    ps->link_logged = LINK_DOWN;
    conn_close(ps);
    if (was_up)
        ps->backoff_ms = PG_BACKOFF_MIN_MS;
    schedule_retry(ps);
    fail_all(ps, STORE_EUNAVAIL);
}

/* (Re-)register the socket. While connecting, libpq may close the socket and open another
 * (next host, SSL fallback) and the number may even be reused, so always delete and add. */
static int watch_socket(struct pg_store *ps, uint32_t events)
{
    int fd = PQsocket(ps->conn);
    if (fd < 0)
        return -1;
    if (ps->fd >= 0)
        loop_fd_del(ps->base.loop, ps->fd);
    ps->fd = -1;
    if (loop_fd_add(ps->base.loop, fd, events, on_fd, ps))
        return -1;
    ps->fd = fd;
    ps->fd_events = events;
    return 0;
}

static int set_events(struct pg_store *ps, uint32_t events)
{
    if (ps->fd_events == events)
        return 0;
    if (loop_fd_mod(ps->base.loop, ps->fd, events))
        return -1;
    ps->fd_events = events;
    return 0;
}

/* Push out what libpq buffered; wait for writability while some remains. 0, or -1 when the
 * connection was dropped. */
static int flush_out(struct pg_store *ps)
{
    int r = PQflush(ps->conn);
    if (r < 0) {
        conn_drop(ps, PQerrorMessage(ps->conn));
        return -1;
    }
    if (set_events(ps, r ? EPOLLIN | EPOLLOUT : EPOLLIN)) {
        conn_drop(ps, "cannot watch socket");
        return -1;
    }
    return 0;
}

static void on_stmt_timer(struct timer *t, void *arg)
{
    (void)t;
    struct pg_store *ps = arg;
    ps_enter(ps);
    char msg[96];
    snprintf(msg, sizeof msg, "no answer within %d ms", PG_STMT_TIMEOUT_MS);
    conn_drop(ps, msg);
    ps_leave(ps);
}

static int stmt_started(struct pg_store *ps)
{
    ps->stmt_active = 1;
    if (loop_timer_start(ps->base.loop, &ps->stmt_timer, PG_STMT_TIMEOUT_MS, on_stmt_timer, ps)) {
        conn_drop(ps, "out of memory");
        return -1;
    }
    return flush_out(ps);
}

/* Send a prepared statement. 0, or -1 when the connection was dropped (and every operation,
 * including the caller's, failed). */
static int send_stmt(struct pg_store *ps, enum stmt_id id, const char *const *values)
{
    if (!PQsendQueryPrepared(ps->conn, stmts[id].name, stmts[id].nparams, values, NULL, NULL, 0)) {
        conn_drop(ps, PQerrorMessage(ps->conn));
        return -1;
    }
    return stmt_started(ps);
}

static int send_prepare(struct pg_store *ps)
{
    const struct pg_stmt *s = &stmts[ps->prep_idx];
    if (!PQsendPrepare(ps->conn, s->name, s->sql, s->nparams, NULL)) {
        conn_drop(ps, PQerrorMessage(ps->conn));
        return -1;
    }
    return stmt_started(ps);
}

static void conn_start(struct pg_store *ps)
{
    /* dbname (the caller's conninfo, expanded) comes last so that it overrides our defaults. */
    static const char *const keys[] = {"fallback_application_name", "client_encoding",
                                       "keepalives_idle", "keepalives_interval",
                                       "keepalives_count", "dbname", NULL};
    const char *vals[] = {"sipd", "UTF8", "30", "10", "3", ps->conninfo, NULL};
    ps->conn = PQconnectStartParams(keys, vals, 1);
    if (!ps->conn) {
        conn_drop(ps, "out of memory");
        return;
    }
    PQsetNoticeProcessor(ps->conn, notice_quiet, ps);
    if (PQstatus(ps->conn) == CONNECTION_BAD) {
        conn_drop(ps, PQerrorMessage(ps->conn));
        return;
    }
    ps->state = PG_CONNECTING;
    /* libpq: after PQconnectStart, behave as if PQconnectPoll had returned POLLING_WRITING. */
    if (watch_socket(ps, EPOLLOUT)) {
        conn_drop(ps, "no socket to watch");
        return;
    }
    if (loop_timer_start(ps->base.loop, &ps->connect_timer, PG_CONNECT_TIMEOUT_MS,
                         on_retry_timer, ps))
        conn_drop(ps, "out of memory");
}

/* Retry timer (DOWN: connect again) and connect timer (CONNECTING/PREPARING: give up). */
static void on_retry_timer(struct timer *t, void *arg)
{
    struct pg_store *ps = arg;
    ps_enter(ps);
    if (t == &ps->connect_timer) {
        char msg[96];
        snprintf(msg, sizeof msg, "connect timeout after %d ms", PG_CONNECT_TIMEOUT_MS);
        conn_drop(ps, msg);
    } else if (ps->state == PG_DOWN && !ps->is_destroyed) {
        conn_start(ps);
    }
    ps_leave(ps);
}

static void conn_poll(struct pg_store *ps)
{
    switch (PQconnectPoll(ps->conn)) {
    case PGRES_POLLING_READING:
        if (watch_socket(ps, EPOLLIN))
            conn_drop(ps, "no socket to watch");
        return;
    case PGRES_POLLING_WRITING:
        if (watch_socket(ps, EPOLLOUT))
            conn_drop(ps, "no socket to watch");
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        conn_drop(ps, PQerrorMessage(ps->conn));
        return;
    }
    if (PQsetnonblocking(ps->conn, 1) || watch_socket(ps, EPOLLIN)) {
        conn_drop(ps, "cannot switch connection to non-blocking mode");
        return;
    }
    ps->state = PG_PREPARING;
    ps->prep_idx = 0;
    send_prepare(ps);
}

static void enqueue(struct pg_store *ps, struct pg_op *op)
{
    op->next = NULL;
    if (ps->tail)
        ps->tail->next = op;
    else
        ps->head = op;
    ps->tail = op;
    ps->nops++;
    if (!op->is_internal)
        ps->nuser++;
}

/* Refresh the last-known counts, unless a refresh is already on its way. */
static void queue_count(struct pg_store *ps)
{
    if (ps->count_queued || ps->nops >= PG_MAX_OPS)
        return;
    struct pg_op *op = calloc(1, sizeof *op);
    if (!op)
        return;
    op->kind = OP_COUNT;
    op->step = ST_COUNT;
    op->is_internal = 1;
    ps->count_queued = 1;
    enqueue(ps, op);
}

static void prepare_done(struct pg_store *ps, PGresult *res)
{
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char msg[512];
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(msg, sizeof msg, "preparing %s failed: %s%s", stmts[ps->prep_idx].name,
                 PQresultErrorMessage(res),
                 state && strcmp(state, "42P01") == 0 ? " (schema missing? run sipd --init-db)"
                                                      : "");
        conn_drop(ps, msg);
        return;
    }
    if (++ps->prep_idx < S_NUM) {
        send_prepare(ps);
        return;
    }
    loop_timer_stop(ps->base.loop, &ps->connect_timer);
    ps->state = PG_READY;
    ps->backoff_ms = PG_BACKOFF_MIN_MS;
    if (ps->link_logged != LINK_UP) {
        const char *host = PQhost(ps->conn), *port = PQport(ps->conn), *db = PQdb(ps->conn);
        LOG_INFO("postgres connected host=%s port=%s db=%s", host && *host ? host : "default",
                 port && *port ? port : "default", db ? db : "");
    }
    ps->link_logged = LINK_UP;
    queue_count(ps);
    pump(ps);
}

/* ---- result parsing -------------------------------------------------------------------------- */

/* Column text: 0 (NULL column -> *out NULL when nullable), -1 invalid, -ENOMEM. */
static int get_text(const PGresult *res, int row, int col, int is_nullable, char **out)
{
    *out = NULL;
    if (PQgetisnull(res, row, col))
        return is_nullable ? 0 : -1;
    int len = PQgetlength(res, row, col);
    const char *v = PQgetvalue(res, row, col);
    if (len < 0 || len > PG_MAX_FIELD_BYTES || !v || memchr(v, '\0', (size_t)len))
        return -1;
    *out = strndup(v, (size_t)len);
    return *out ? 0 : -ENOMEM;
}

static int get_i64(const PGresult *res, int row, int col, int64_t min, int64_t max, int64_t *out)
{
    if (PQgetisnull(res, row, col))
        return -1;
    int len = PQgetlength(res, row, col);
    const char *v = PQgetvalue(res, row, col);
    if (!v || len <= 0 || len > 24 || (int)strlen(v) != len)
        return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < min || x > max)
        return -1;
    *out = x;
    return 0;
}

/* One row of LOC_COLS into b (zeroed first). 0, -1 invalid row, -ENOMEM. */
static int parse_binding(const PGresult *res, int row, struct binding *b)
{
    memset(b, 0, sizeof *b);
    int64_t cseq, expires_at, q, reg_id, conn_id, updated_at;
    int rc = 0;
    if (!rc) rc = get_text(res, row, 0, 0, &b->aor);
    if (!rc) rc = get_text(res, row, 1, 0, &b->contact);
    if (!rc) rc = get_text(res, row, 2, 1, &b->call_id);
    if (!rc) rc = get_i64(res, row, 3, 0, UINT32_MAX, &cseq);
    if (!rc) rc = get_i64(res, row, 4, INT64_MIN, INT64_MAX, &expires_at);
    if (!rc) rc = get_i64(res, row, 5, -1, 1000, &q);
    if (!rc) rc = get_text(res, row, 6, 1, &b->path);
    if (!rc) rc = get_text(res, row, 7, 1, &b->instance);
    if (!rc) rc = get_i64(res, row, 8, INT_MIN, INT_MAX, &reg_id);
    if (!rc) rc = get_text(res, row, 9, 1, &b->user_agent);
    if (!rc) rc = get_text(res, row, 10, 1, &b->received);
    if (!rc) rc = get_i64(res, row, 11, INT64_MIN, INT64_MAX, &conn_id);
    if (!rc) rc = get_text(res, row, 12, 1, &b->node);
    if (!rc) rc = get_i64(res, row, 13, INT64_MIN, INT64_MAX, &updated_at);
    if (rc) {
        binding_clear(b);
        return rc;
    }
    b->cseq = (uint32_t)cseq;
    b->expires_at = expires_at;
    b->q = (int)q;
    b->reg_id = (int)reg_id;
    b->conn_id = (uint64_t)conn_id; /* stored as the same 64 bits */
    b->updated_at = updated_at;
    return 0;
}

/* Rows of a LOC_COLS result into l. Invalid rows (which only a foreign writer could have put
 * there) are skipped with a warning. 0, -1 wrong result shape, -ENOMEM. */
static int parse_bindings(const PGresult *res, struct binding_list *l)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != LOC_NCOLS)
        return -1;
    int n = PQntuples(res);
    if (n > PG_MAX_BINDINGS)
        n = PG_MAX_BINDINGS;
    int nbad = 0;
    for (int i = 0; i < n; i++) {
        struct binding b;
        int rc = parse_binding(res, i, &b);
        if (rc == -ENOMEM)
            return -ENOMEM;
        if (rc) {
            nbad++;
            continue;
        }
        if (binding_list_push_move(l, &b)) {
            binding_clear(&b);
            return -ENOMEM;
        }
    }
    if (nbad)
        LOG_WARN("postgres: skipped %d invalid rows of table locations", nbad);
    return 0;
}

/* ---- array parameters ------------------------------------------------------------------------ */

struct sbuf {
    char *p;
    size_t len, cap;
    int is_bad; /* allocation failed or too long */
};

static void sb_put(struct sbuf *sb, const char *s, size_t n)
{
    if (sb->is_bad)
        return;
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + n + 1)
            cap *= 2;
        if (cap > PG_MAX_PARAM_BYTES) {
            sb->is_bad = 1;
            return;
        }
        char *p = realloc(sb->p, cap);
        if (!p) {
            sb->is_bad = 1;
            return;
        }
        sb->p = p;
        sb->cap = cap;
    }
    memcpy(sb->p + sb->len, s, n);
    sb->len += n;
    sb->p[sb->len] = '\0';
}

static void sb_sep(struct sbuf *sb, size_t i) { sb_put(sb, i ? "," : "{", 1); }

/* An array element: always quoted (so "" and "NULL" stay strings), NULL unquoted. */
static void sb_text(struct sbuf *sb, size_t i, const char *s)
{
    sb_sep(sb, i);
    if (!s) {
        sb_put(sb, "NULL", 4);
        return;
    }
    sb_put(sb, "\"", 1);
    for (const char *run = s;;) {
        size_t n = strcspn(run, "\"\\");
        sb_put(sb, run, n);
        if (!run[n])
            break;
        sb_put(sb, "\\", 1);
        sb_put(sb, run + n, 1);
        run += n + 1;
    }
    sb_put(sb, "\"", 1);
}

static void sb_int(struct sbuf *sb, size_t i, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    sb_sep(sb, i);
    sb_put(sb, num, (size_t)n);
}

/* Check the update function's bindings and turn them into the array parameters of S_REPLACE.
 * 0, or -1 (cause logged). */
static int build_replace_params(struct pg_op *op, const struct binding_list *out)
{
    if (out->len > PG_MAX_BINDINGS) {
        LOG_WARN("postgres: update of aor=%s has %zu bindings (max %d)", op->aor, out->len,
                 PG_MAX_BINDINGS);
        return -1;
    }
    for (size_t i = 0; i < out->len; i++) {
        const struct binding *b = &out->v[i];
        if (!b->contact) {
            LOG_ERROR("postgres: update of aor=%s gave a binding without contact", op->aor);
            return -1;
        }
        const char *const fields[] = {b->contact, b->call_id, b->path, b->instance,
                                      b->user_agent, b->received, b->node};
        for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
            if (fields[k] && strlen(fields[k]) > PG_MAX_FIELD_BYTES) {
                LOG_WARN("postgres: update of aor=%s has a field longer than %d bytes", op->aor,
                         PG_MAX_FIELD_BYTES);
                return -1;
            }
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(out->v[j].contact, b->contact) == 0) {
                LOG_ERROR("postgres: update of aor=%s gave contact %s twice", op->aor, b->contact);
                return -1;
            }
        }
    }
    struct sbuf a[REPLACE_NARRAYS];
    memset(a, 0, sizeof a);
    for (size_t i = 0; i < out->len; i++) {
        const struct binding *b = &out->v[i];
        sb_text(&a[0], i, b->contact);
        sb_text(&a[1], i, b->call_id);
        sb_int(&a[2], i, b->cseq);
        sb_int(&a[3], i, b->expires_at);
        sb_int(&a[4], i, b->q);
        sb_text(&a[5], i, b->path);
        sb_text(&a[6], i, b->instance);
        sb_int(&a[7], i, b->reg_id);
        sb_text(&a[8], i, b->user_agent);
        sb_text(&a[9], i, b->received);
        sb_int(&a[10], i, (int64_t)b->conn_id);
        sb_text(&a[11], i, b->node);
        sb_int(&a[12], i, b->updated_at);
    }
    int is_bad = 0;
    size_t total = 0;
    for (int k = 0; k < REPLACE_NARRAYS; k++) {
        sb_put(&a[k], out->len ? "}" : "{}", out->len ? 1 : 2);
        is_bad |= a[k].is_bad;
        total += a[k].len;
    }
    if (is_bad || total > PG_MAX_PARAM_BYTES) {
        LOG_WARN("postgres: update of aor=%s too large or out of memory", op->aor);
        for (int k = 0; k < REPLACE_NARRAYS; k++)
            free(a[k].p);
        return -1;
    }
    op_clear_params(op);
    op->params[0] = op->aor;
    for (int k = 0; k < REPLACE_NARRAYS; k++)
        op->params[1 + k] = a[k].p;
    return 0;
}

/* ---- operation state machines ---------------------------------------------------------------- */

static int res_ok(const PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

static const char *op_name(const struct pg_op *op)
{
    static const char *const names[] = {"update", "lookup", "expire", "count"};
    return names[op->kind];
}

static void log_sql_error(const struct pg_op *op, const PGresult *res)
{
    char line[384];
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (!msg)
        msg = PQresultErrorMessage(res);
    LOG_WARN("postgres %s failed aor=%s sqlstate=%s reason=\"%s\"", op_name(op),
             op->aor ? op->aor : "-", state ? state : "-", one_line(line, sizeof line, msg));
}

/* Send the statement of op->step. 0, or -1 when the connection dropped (op is gone). */
static int op_send(struct pg_store *ps, struct pg_op *op)
{
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, op->now);
    const char *aor_now[2] = {op->aor, now};
    switch (op->step) {
    case ST_BEGIN: return send_stmt(ps, S_BEGIN, NULL);
    case ST_LOCK: return send_stmt(ps, S_LOCK, aor_now);
    case ST_SELECT:
    case ST_GET: return send_stmt(ps, S_GET, aor_now);
    case ST_REPLACE: return send_stmt(ps, S_REPLACE, (const char *const *)op->params);
    case ST_COMMIT: return send_stmt(ps, S_COMMIT, NULL);
    case ST_ROLLBACK: return send_stmt(ps, S_ROLLBACK, NULL);
    case ST_EXPIRE: {
        const char *v[1] = {now};
        return send_stmt(ps, S_EXPIRE, v);
    }
    case ST_COUNT: return send_stmt(ps, S_COUNT, NULL);
    }
    return -1;
}

/* Something went wrong inside the update transaction: roll back, then report status (or retry
 * when the database asked us to). */
static void update_abort(struct pg_store *ps, struct pg_op *op, int status, const PGresult *res)
{
    op->status = status;
    if (res) {
        log_sql_error(op, res);
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) &&
            op->retries < PG_MAX_RETRIES) {
            op->want_retry = 1;
        }
    }
    op->step = ST_ROLLBACK;
    op_send(ps, op);
}

/* The update function ran: check and send its bindings. */
static void update_run(struct pg_store *ps, struct pg_op *op, const PGresult *res)
{
    struct binding_list cur, out;
    binding_list_init(&cur);
    binding_list_init(&out);
    int rc = parse_bindings(res, &cur);
    if (rc) {
        binding_list_free(&cur);
        LOG_WARN("postgres update failed aor=%s reason=\"%s\"", op->aor,
                 rc == -ENOMEM ? "out of memory" : "unexpected result shape");
        update_abort(ps, op, STORE_EFAIL, NULL);
        return;
    }
    int status = op->update(op->arg, cur.v, cur.len, &out);
    binding_list_free(&cur);
    if (status == 0 && build_replace_params(op, &out))
        status = STORE_EFAIL;
    binding_list_free(&out);
    if (status != 0) {
        update_abort(ps, op, status > 0 ? status : STORE_EFAIL, NULL);
        return;
    }
    op->step = ST_REPLACE;
    op_send(ps, op);
}

static void update_committed(struct pg_store *ps, struct pg_op *op)
{
    struct binding_list l;
    binding_list_init(&l);
    int rc = op->stored ? parse_bindings(op->stored, &l) : -1;
    if (rc) {
        /* Committed, but we cannot show it: the caller answers 500 and the UA retries. */
        LOG_WARN("postgres update aor=%s: stored rows unreadable", op->aor);
        binding_list_free(&l);
        op_complete(ps, op, STORE_EFAIL, NULL, 0);
        return;
    }
    store_sort_bindings(l.v, l.len);
    op_complete(ps, op, 0, l.v, l.len);
    binding_list_free(&l);
}

/* The head operation's statement finished with res: advance its state machine. */
static void op_step_done(struct pg_store *ps, struct pg_op *op, const PGresult *res)
{
    int ok = res_ok(res);
    switch (op->step) {
    case ST_BEGIN:
    case ST_LOCK:
    case ST_SELECT:
    case ST_REPLACE:
    case ST_COMMIT:
        if (!ok) {
            update_abort(ps, op, STORE_EFAIL, res);
        } else if (op->step == ST_SELECT) {
            update_run(ps, op, res);
        } else if (op->step == ST_COMMIT) {
            update_committed(ps, op);
        } else {
            op->step = op->step == ST_BEGIN ? ST_LOCK : ST_SELECT;
            op_send(ps, op);
        }
        return;
    case ST_ROLLBACK:
        if (op->want_retry) {
            op->want_retry = 0;
            op->retries++;
            op_clear_params(op);
            if (op->stored)
                PQclear(op->stored);
            op->stored = NULL;
            op->step = ST_BEGIN;
            LOG_DEBUG("postgres update retry aor=%s attempt=%d", op->aor, op->retries + 1);
            op_send(ps, op);
            return;
        }
        op_complete(ps, op, op->status, NULL, 0);
        return;
    case ST_GET: {
        if (!ok) {
            log_sql_error(op, res);
            op_complete(ps, op, STORE_EFAIL, NULL, 0);
            return;
        }
        struct binding_list l;
        binding_list_init(&l);
        int rc = parse_bindings(res, &l);
        if (rc)
            LOG_WARN("postgres lookup failed aor=%s reason=\"%s\"", op->aor,
                     rc == -ENOMEM ? "out of memory" : "unexpected result shape");
        else
            store_sort_bindings(l.v, l.len);
        op_complete(ps, op, rc ? STORE_EFAIL : 0, l.v, l.len);
        binding_list_free(&l);
        return;
    }
    case ST_EXPIRE:
        if (!ok)
            log_sql_error(op, res);
        else
            queue_count(ps);
        op_complete(ps, op, ok ? 0 : STORE_EFAIL, NULL, 0);
        return;
    case ST_COUNT: {
        int64_t aors, nb;
        if (ok && PQntuples(res) == 1 && PQnfields(res) == 2 &&
            get_i64(res, 0, 0, 0, LONG_MAX, &aors) == 0 &&
            get_i64(res, 0, 1, 0, LONG_MAX, &nb) == 0) {
            ps->count_aors = (long)aors;
            ps->count_bindings = (long)nb;
        } else if (!ok) {
            log_sql_error(op, res);
        }
        op_complete(ps, op, 0, NULL, 0);
        return;
    }
    }
}

/* Takes ownership of res. The replace's rows are what done() reports, after the COMMIT: the op
 * keeps that result until then. */
static void op_on_result(struct pg_store *ps, struct pg_op *op, PGresult *res)
{
    if (op->step == ST_REPLACE && res_ok(res)) {
        op->stored = res;
        op->step = ST_COMMIT;
        op_send(ps, op);
        return;
    }
    op_step_done(ps, op, res);
    PQclear(res);
}

/* Start the head operation if the connection is free. */
static void pump(struct pg_store *ps)
{
    if (ps->state == PG_READY && !ps->stmt_active && ps->head && !ps->is_destroyed)
        op_send(ps, ps->head);
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

/* Collect results of the active statement; each time one is complete, hand it on. */
static void process_results(struct pg_store *ps)
{
    while (ps->conn && ps->stmt_active && !ps->is_destroyed) {
        if (PQisBusy(ps->conn))
            return;
        PGresult *r = PQgetResult(ps->conn);
        if (r) {
            ExecStatusType rs = PQresultStatus(r);
            if (rs == PGRES_COPY_IN || rs == PGRES_COPY_OUT || rs == PGRES_COPY_BOTH) {
                /* none of our statements copies; libpq would return this result forever */
                PQclear(r);
                conn_drop(ps, "unexpected COPY state");
                return;
            }
            /* Keep the first result, or the first error. */
            if (!ps->res) {
                ps->res = r;
            } else if (PQresultStatus(r) == PGRES_FATAL_ERROR &&
                       PQresultStatus(ps->res) != PGRES_FATAL_ERROR) {
                PQclear(ps->res);
                ps->res = r;
            } else {
                PQclear(r);
            }
            continue;
        }
        /* NULL: the statement is complete. */
        PGresult *res = ps->res;
        ps->res = NULL;
        ps->stmt_active = 0;
        loop_timer_stop(ps->base.loop, &ps->stmt_timer);
        if (is_conn_error(ps->conn, res)) {
            char reason[384];
            one_line(reason, sizeof reason,
                     res ? PQresultErrorMessage(res) : PQerrorMessage(ps->conn));
            PQclear(res);
            conn_drop(ps, reason);
            return;
        }
        if (!res) {
            conn_drop(ps, "statement returned no result");
            return;
        }
        if (ps->state == PG_PREPARING) {
            prepare_done(ps, res);
            PQclear(res);
            continue;
        }
        struct pg_op *op = ps->head;
        if (!op) { /* cannot happen: a statement is only sent for the head */
            PQclear(res);
            continue;
        }
        op_on_result(ps, op, res);
        pump(ps);
    }
}

static void on_fd(struct loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)fd;
    struct pg_store *ps = arg;
    ps_enter(ps);
    if (ps->state == PG_CONNECTING) {
        conn_poll(ps);
    } else if (ps->conn) {
        if (!PQconsumeInput(ps->conn) || PQstatus(ps->conn) == CONNECTION_BAD) {
            conn_drop(ps, PQerrorMessage(ps->conn));
        } else {
            PGnotify *nf;
            while ((nf = PQnotifies(ps->conn)) != NULL)
                PQfreemem(nf);
            if ((events & EPOLLOUT) || (ps->fd_events & EPOLLOUT))
                flush_out(ps);
            if (ps->conn)
                process_results(ps);
        }
    }
    ps_leave(ps);
}

/* ---- the store interface --------------------------------------------------------------------- */

static struct pg_store *as_pg(const struct store *st) { return (struct pg_store *)st; }

static int pg_is_available(const struct store *st)
{
    const struct pg_store *ps = as_pg(st);
    return ps->state == PG_READY && !ps->is_destroyed;
}

static size_t pg_pending(const struct store *st) { return as_pg(st)->nuser; }

static long pg_location_count(const struct store *st, long *nbindings)
{
    const struct pg_store *ps = as_pg(st);
    if (nbindings)
        *nbindings = ps->count_bindings;
    return ps->count_aors;
}

/* A new operation, or NULL after reporting why not (through done). */
static struct pg_op *op_new(struct pg_store *ps, enum op_kind kind, const char *aor, int64_t now,
                            store_bindings_cb done_bindings, store_status_cb done_status,
                            void *arg)
{
    int status = 0;
    struct pg_op *op = NULL;
    if (ps->is_destroyed || ps->state != PG_READY || ps->nops >= PG_MAX_OPS) {
        status = STORE_EUNAVAIL;
    } else if (kind != OP_EXPIRE && (!aor || strlen(aor) > PG_MAX_FIELD_BYTES)) {
        status = STORE_EFAIL;
    } else if (!(op = calloc(1, sizeof *op)) || (aor && !(op->aor = strdup(aor)))) {
        status = STORE_EFAIL;
        free(op);
        op = NULL;
    }
    if (status) {
        if (done_bindings)
            done_bindings(arg, status, NULL, 0);
        else if (done_status)
            done_status(arg, status);
        return NULL;
    }
    op->kind = kind;
    op->now = now;
    op->done_bindings = done_bindings;
    op->done_status = done_status;
    op->arg = arg;
    return op;
}

static void op_submit(struct pg_store *ps, struct pg_op *op)
{
    ps_enter(ps);
    enqueue(ps, op);
    pump(ps);
    ps_leave(ps);
}

static void pg_location_update(struct store *st, const char *aor, int64_t now,
                               store_update_fn update, store_bindings_cb done, void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = op_new(ps, OP_UPDATE, aor, now, done, NULL, arg);
    if (!op)
        return;
    op->update = update;
    op->step = ST_BEGIN;
    op_submit(ps, op);
}

static void pg_location_lookup(struct store *st, const char *aor, int64_t now,
                               store_bindings_cb done, void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = op_new(ps, OP_LOOKUP, aor, now, done, NULL, arg);
    if (!op)
        return;
    op->step = ST_GET;
    op_submit(ps, op);
}

static void pg_location_expire(struct store *st, int64_t now, store_status_cb done, void *arg)
{
    struct pg_store *ps = as_pg(st);
    struct pg_op *op = op_new(ps, OP_EXPIRE, NULL, now, NULL, done, arg);
    if (!op)
        return;
    op->step = ST_EXPIRE;
    op_submit(ps, op);
}

static void pg_destroy(struct store *st)
{
    struct pg_store *ps = as_pg(st);
    ps_enter(ps);
    ps->is_destroyed = 1;
    loop_timer_stop(ps->base.loop, &ps->retry_timer);
    conn_close(ps);
    fail_all(ps, STORE_EUNAVAIL);
    ps_leave(ps);
}

static const struct store_ops pg_ops = {
    .name = "postgres",
    .destroy = pg_destroy,
    .is_available = pg_is_available,
    .pending = pg_pending,
    .location_update = pg_location_update,
    .location_lookup = pg_location_lookup,
    .location_expire = pg_location_expire,
    .location_count = pg_location_count,
};

struct store *store_pg_create(struct loop *loop, const char *conninfo)
{
    /* Refuse a conninfo libpq cannot parse: retrying it forever would help nobody. libpq's
     * message may quote a piece of the string (a password, say), so it is not logged. */
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &err);
    if (!opts) {
        LOG_ERROR("postgres conninfo is not valid (syntax error or unknown option)");
        PQfreemem(err);
        return NULL;
    }
    PQconninfoFree(opts);

    struct pg_store *ps = calloc(1, sizeof *ps);
    if (!ps)
        return NULL;
    ps->conninfo = strdup(conninfo ? conninfo : "");
    if (!ps->conninfo) {
        free(ps);
        return NULL;
    }
    ps->base.ops = &pg_ops;
    ps->base.loop = loop;
    ps->fd = -1;
    ps->state = PG_DOWN;
    ps->count_aors = ps->count_bindings = -1;
    ps->backoff_ms = PG_BACKOFF_MIN_MS;
    ps_enter(ps);
    conn_start(ps);
    ps_leave(ps);
    return &ps->base;
}

/* ---- schema migrations (sipd --init-db; synchronous) ----------------------------------------- */

struct migration {
    long version;
    char *name;
};

static int cmp_migration(const void *pa, const void *pb)
{
    const struct migration *a = pa, *b = pb;
    return (a->version > b->version) - (a->version < b->version);
}

/* "NNN_words.sql" -> NNN, or -1. */
static long migration_version(const char *name)
{
    size_t nd = strspn(name, "0123456789");
    size_t len = strlen(name);
    if (nd == 0 || nd > 9 || name[nd] != '_' || len < nd + 5 || strcmp(name + len - 4, ".sql"))
        return -1;
    return strtol(name, NULL, 10);
}

static void free_migrations(struct migration *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

static int list_migrations(const char *dir, struct migration **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "sipd: cannot open schema directory %s: %s\n", dir, strerror(errno));
        return -1;
    }
    struct migration *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        long version = migration_version(e->d_name);
        if (version < 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct migration *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = -1;
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[n].version = version;
        v[n].name = strdup(e->d_name);
        if (!v[n].name) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc) {
        fprintf(stderr, "sipd: out of memory listing %s\n", dir);
        free_migrations(v, n);
        return -1;
    }
    if (n == 0) {
        fprintf(stderr, "sipd: no migrations (NNN_*.sql) in schema directory %s\n", dir);
        free(v);
        return -1;
    }
    qsort(v, n, sizeof *v, cmp_migration);
    for (size_t i = 1; i < n; i++) {
        if (v[i].version == v[i - 1].version) {
            fprintf(stderr, "sipd: schema directory %s: %s and %s have the same number\n", dir,
                    v[i - 1].name, v[i].name);
            free_migrations(v, n);
            return -1;
        }
    }
    *out = v;
    *nout = n;
    return 0;
}

/* The whole file as a string, or NULL after printing why. */
static char *read_migration(const char *dir, const char *name)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        fprintf(stderr, "sipd: path too long: %s/%s\n", dir, name);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "sipd: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    char *text = NULL;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode) || sb.st_size < 0 ||
        (uintmax_t)sb.st_size > PG_MIGRATION_MAX_BYTES) {
        fprintf(stderr, "sipd: %s: not a regular file of at most %u bytes\n", path,
                PG_MIGRATION_MAX_BYTES);
    } else if (!(text = malloc((size_t)sb.st_size + 1))) {
        fprintf(stderr, "sipd: out of memory reading %s\n", path);
    } else if (fread(text, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        fprintf(stderr, "sipd: cannot read %s\n", path);
        free(text);
        text = NULL;
    } else {
        text[sb.st_size] = '\0';
        if (strlen(text) != (size_t)sb.st_size) {
            fprintf(stderr, "sipd: %s contains a NUL byte\n", path);
            free(text);
            text = NULL;
        }
    }
    fclose(f);
    return text;
}

/* Run one command; 0 if it succeeded, else print "what: error" and return -1. */
static int init_exec(PGconn *c, const char *sql, int nparams, const char *const *values,
                     const char *what, PGresult **out)
{
    PGresult *r = nparams ? PQexecParams(c, sql, nparams, NULL, values, NULL, NULL, 0)
                          : PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY) {
        fprintf(stderr, "sipd: %s failed: %s", what, r ? PQresultErrorMessage(r)
                                                        : PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

static int is_applied(const PGresult *applied, long version)
{
    int n = PQntuples(applied);
    for (int i = 0; i < n; i++) {
        int64_t v;
        if (get_i64(applied, i, 0, 0, INT32_MAX, &v) == 0 && v == version)
            return 1;
    }
    return 0;
}

static int apply_migration(PGconn *c, const char *dir, const struct migration *m)
{
    char *text = read_migration(dir, m->name);
    if (!text)
        return -1;
    char version[24], what[512];
    snprintf(version, sizeof version, "%ld", m->version);
    snprintf(what, sizeof what, "migration %s/%s", dir, m->name);
    const char *values[2] = {version, m->name};
    int rc = init_exec(c, "BEGIN", 0, NULL, "BEGIN", NULL);
    if (rc == 0)
        rc = init_exec(c, text, 0, NULL, what, NULL);
    if (rc == 0)
        rc = init_exec(c, "INSERT INTO schema_migrations (version, name) VALUES ($1::integer, $2)",
                       2, values, "recording the migration", NULL);
    if (rc == 0)
        rc = init_exec(c, "COMMIT", 0, NULL, what, NULL);
    else
        PQclear(PQexec(c, "ROLLBACK"));
    free(text);
    if (rc == 0)
        LOG_INFO("schema migration applied version=%ld file=%s", m->version, m->name);
    return rc;
}

int store_init_db(const char *conninfo, const char *schema_dir)
{
    struct migration *v;
    size_t n;
    if (list_migrations(schema_dir, &v, &n))
        return -1;
    static const char *const keys[] = {"fallback_application_name", "client_encoding", "dbname",
                                       NULL};
    const char *vals[] = {"sipd-init-db", "UTF8", conninfo ? conninfo : "", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "sipd: cannot connect to PostgreSQL: %s",
                c ? PQerrorMessage(c) : "out of memory\n");
        PQfinish(c);
        free_migrations(v, n);
        return -1;
    }
    PQsetNoticeProcessor(c, notice_quiet, NULL);

    /* One migrator at a time (several nodes may be installed at once). */
    const char *key[1] = {PG_INIT_LOCK_KEY};
    PGresult *applied = NULL;
    int rc = init_exec(c, "SELECT pg_advisory_lock($1::bigint)", 1, key, "taking the schema lock",
                       NULL);
    if (rc == 0)
        rc = init_exec(c,
                       "CREATE TABLE IF NOT EXISTS schema_migrations ("
                       " version integer PRIMARY KEY,"
                       " name text,"
                       " applied_at timestamptz DEFAULT now())",
                       0, NULL, "creating schema_migrations", NULL);
    if (rc == 0)
        rc = init_exec(c, "SELECT version FROM schema_migrations", 0, NULL,
                       "reading schema_migrations", &applied);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!is_applied(applied, v[i].version))
            rc = apply_migration(c, schema_dir, &v[i]);
    }
    PQclear(applied);
    PQfinish(c); /* releases the advisory lock */
    free_migrations(v, n);
    return rc;
}
