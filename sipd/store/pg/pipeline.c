/* pipeline.c - the PostgreSQL store's operations: routing, queues, pipelining, one result path.
 *
 * Routing (pg_route_location). A location update goes where updates batch best: to the first
 * connection (in pool order) whose queue is not yet PG_GROUP_MAX long. A connection has one
 * update transaction in flight at a time, so what arrives meanwhile waits for it and goes as the
 * next batch (group commit): at 2000 REGISTERs/s that is one transaction and one write for about
 * seven instead of one each, for sipd and for the database; an idle connection sends at once, and
 * a heavier load overflows into the next connections. An AOR with an update queued or in flight
 * on some connection has its next update (and lookup) routed there, so that its operations stay
 * in order; a lookup of any other AOR goes to connection hash(aor) % PG_CONNECTIONS, or the next
 * one that is up. Expire goes to the least busy connection. IM and presence operations are routed
 * by the hash of their key (query.c).
 *
 * Sending. A submitted operation is queued; a timer of zero delay sends every connection's queue
 * at the end of the loop iteration, so that the REGISTERs of one burst of datagrams go together.
 *
 * Pipelining. A connection sends statements without waiting for earlier results and reads the
 * results in order; its `ring` lists the results still to come (statements and syncs). Location
 * updates run as batched transactions of two flights (location.c): nothing may follow flight 1
 * until flight 2 is sent (it would run inside that transaction), but whatever is queued goes out
 * right behind flight 2 in the same write. Lookups are one statement each and many can be in
 * flight at once. Two updates of one AOR are never in flight together on one connection (a retry
 * of the first must come before the second), so each AOR's operations keep their order.
 *
 * Errors inside a pipeline. After an error the server skips everything up to the next sync (libpq
 * reports PGRES_PIPELINE_ABORTED for each skipped statement). The operation that failed handles
 * its own error: a batch rolls back, then retries on serialization failure or deadlock, runs its
 * updates again one per transaction to find the one that failed, or (alone) reports STORE_EFAIL.
 * Operations that were merely skipped are sent again, in their order, once the sync is back. A
 * failed REPLACE leaves its transaction aborted until the ROLLBACK, so no new segment (statements
 * up to a sync) starts behind a flight 2 until its outcome is known. */
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

/* ---- operation lists ------------------------------------------------------------------------- */

void pg_list_append(struct op_list *l, struct pg_op *op, enum op_where where)
{
    op->next = NULL;
    op->prev = l->tail;
    if (l->tail)
        l->tail->next = op;
    else
        l->head = op;
    l->tail = op;
    l->n++;
    op->where = where;
}

void pg_list_unlink(struct op_list *l, struct pg_op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        l->head = op->next;
    if (op->next)
        op->next->prev = op->prev;
    else
        l->tail = op->prev;
    op->prev = op->next = NULL;
    l->n--;
    op->where = W_NONE;
}

/* Move every operation of src, in order, in front of dst's. */
void pg_list_prepend_all(struct op_list *dst, struct op_list *src, enum op_where where)
{
    if (!src->head)
        return;
    for (struct pg_op *op = src->head; op; op = op->next)
        op->where = where;
    src->tail->next = dst->head;
    if (dst->head)
        dst->head->prev = src->tail;
    else
        dst->tail = src->tail;
    dst->head = src->head;
    dst->n += src->n;
    src->head = src->tail = NULL;
    src->n = 0;
}

/* ---- operation lifetime ---------------------------------------------------------------------- */

void pg_query_notify(struct pg_op *op, int status, const PGresult *res);

void pg_op_free(struct pg_op *op)
{
    if (op->stored)
        PQclear(op->stored);
    if (op->q)
        pg_query_free(op->q);
    binding_list_free(&op->out);
    free(op->aor);
    free(op);
}

/* Tell the caller; the op must already be off every list. The store may be destroyed after. */
static void op_notify(struct pg_op *op, int status, const struct binding *b, size_t n)
{
    if (op->is_internal)
        return;
    if (op->kind == OP_QUERY) {
        pg_query_notify(op, status ? status : STORE_EFAIL, NULL);
    } else if (op->kind == OP_EXPIRE) {
        if (op->done_status)
            op->done_status(op->arg, status);
    } else {
        op->done_bindings(op->arg, status, status == 0 ? b : NULL, status == 0 ? n : 0);
    }
}

/* Take op off its list and out of the store's counts (a batch is not counted: its members are). */
void pg_op_detach(struct pg_op *op)
{
    struct pg_conn *c = op->conn;
    struct pg_store *ps = c->ps;
    if (op->where == W_WAIT)
        pg_list_unlink(&c->wait, op);
    else if (op->where == W_SENT)
        pg_list_unlink(&c->sent, op);
    else if (op->where == W_RESEND)
        pg_list_unlink(&c->resend, op);
    op->where = W_NONE;
    if (op->kind == OP_BATCH)
        return;
    if (op->kind == OP_UPDATE)
        ps->pending[op->aor_hash % PG_PENDING_SLOTS].n--;
    ps->nops--;
    if (!op->is_internal)
        ps->nuser--;
}

/* The operation is finished: take it off its list, call back, free it. The callback may submit
 * operations, drop this connection (through pg_pump) or destroy the store. */
void pg_op_finish(struct pg_op *op, int status, const struct binding *b, size_t n)
{
    pg_op_detach(op);
    op_notify(op, status, b, n);
    pg_op_free(op);
}

/* op (in flight with all its results in, or a batch's member) goes back to the front of the
 * queue, after any other operation already waiting to be sent again; the move to the queue
 * happens at the next sync. */
void pg_op_resend(struct pg_conn *c, struct pg_op *op)
{
    if (op->where == W_SENT)
        pg_list_unlink(&c->sent, op);
    pg_list_append(&c->resend, op, W_RESEND);
}

/* Fail every operation of the connection: in flight first, then the rest, in order. Callbacks may
 * submit new ones: those go elsewhere or fail at once, since the caller made sure this connection
 * is not READY. */
void pg_conn_fail_ops(struct pg_conn *c, int status)
{
    struct op_list all = c->sent;
    c->sent = (struct op_list){0};
    pg_list_prepend_all(&c->wait, &c->resend, W_WAIT);
    if (all.tail) {
        all.tail->next = c->wait.head;
        if (c->wait.head)
            c->wait.head->prev = all.tail;
    } else {
        all.head = c->wait.head;
    }
    c->wait = (struct op_list){0};
    for (struct pg_op *op = all.head, *next; op; op = next) {
        next = op->next;
        op->where = W_NONE;
        if (op->kind == OP_BATCH) {
            for (int i = 0; i < op->nmembers; i++)
                pg_op_finish(op->members[i], status, NULL, 0);
            pg_op_free(op);
        } else {
            pg_op_finish(op, status, NULL, 0);
        }
    }
}

/* Refresh the last-known counts (when the store becomes available). */
void pg_queue_count(struct pg_conn *c)
{
    struct pg_store *ps = c->ps;
    if (ps->nops >= PG_MAX_OPS)
        return;
    struct pg_op *op = calloc(1, sizeof *op);
    if (!op)
        return;
    op->kind = OP_COUNT;
    op->is_internal = 1;
    op->conn = c;
    ps->nops++;
    pg_list_append(&c->wait, op, W_WAIT);
}

/* ---- operation state machines ---------------------------------------------------------------- */


const char *pg_op_name(const struct pg_op *op)
{
    static const char *const names[] = {"update", "lookup", "expire", "count", "update"};
    return op->kind == OP_QUERY ? pg_query_name(op) : names[op->kind];
}

static void log_sql_error(const struct pg_op *op, const PGresult *res)
{
    char line[384];
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (!msg)
        msg = PQresultErrorMessage(res);
    const char *aor = op->kind == OP_BATCH ? op->members[0]->aor : op->aor;
    LOG_WARN("postgres %s failed aor=%s%s sqlstate=%s reason=\"%s\"", pg_op_name(op),
             aor ? aor : "-", op->kind == OP_BATCH && op->nmembers > 1 ? ",..." : "",
             state ? state : "-", pg_one_line(line, sizeof line, msg));
}


/* Would op's first flight have to start a new segment? An update's BEGIN must open a transaction
 * of its own: a statement before it in the same segment (other than COMMIT/ROLLBACK) would run in
 * a transaction that BEGIN merely extends. An expire commits its DELETE before counting. */

int pg_needs_new_segment(const struct pg_conn *c, const struct pg_op *op)
{
    if (op->kind == OP_EXPIRE || (op->kind == OP_QUERY && pg_query_is_write(op)))
        return 1;
    return op->kind == OP_UPDATE && c->nunsynced && c->last_sent != S_COMMIT &&
           c->last_sent != S_ROLLBACK;
}

/* May op (the head of the queue) be sent now? */
static int may_start(const struct pg_conn *c, const struct pg_op *op)
{
    /* A new segment behind a flight 2 whose outcome is unknown could run in its aborted
     * transaction. */
    if (c->unsure && pg_needs_new_segment(c, op))
        return 0;
    return op->kind != OP_UPDATE || !pg_is_aor_updating(c, op);
}


/* Send op's first flight. 0, or -1 when the connection was dropped (op is gone). */
static int op_start(struct pg_conn *c, struct pg_op *op)
{
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, op->now);
    const char *aor_now[2] = {op->aor, now};
    op->is_begun = op->has_error = op->is_skipped = op->want_retry = 0;
    op->status = 0;
    switch (op->kind) {
    case OP_BATCH:
        return pg_batch_start(c, op);
    case OP_LOOKUP:
        return pg_send_stmt(c, op, S_GET, aor_now);
    case OP_EXPIRE: {
        /* The DELETE commits (sync) before the count, which may take a while on a big table:
         * the rows it deleted stay locked until then. */
        char ttl[24];
        snprintf(ttl, sizeof ttl, "%d", STORE_KNOWN_TTL_S);
        const char *v[2] = {now, ttl};
        if (pg_send_stmt(c, op, S_EXPIRE, v) || pg_end_segment(c))
            return -1;
        return pg_send_stmt(c, op, S_COUNT, NULL);
    }
    case OP_COUNT:
        return pg_send_stmt(c, op, S_COUNT, NULL);
    case OP_QUERY:
        return pg_query_start(c, op);
    case OP_UPDATE: /* always in a batch */
        break;
    }
    return -1;
}

/* Send what the queue allows, then close the segment with a sync. 0, or -1 when the connection
 * was dropped. */
int pg_pump(struct pg_conn *c)
{
    while (c->state == PG_READY && !c->ps->is_destroyed && c->wait.head && !c->owner &&
           !c->resend.head &&
           !(c->unsure && c->is_unsure_synced) && c->sent.n < PG_PIPELINE_OPS &&
           c->ring_len + 8 <= PG_RING_SIZE) {
        struct pg_op *op = c->wait.head;
        if (!may_start(c, op))
            break;
        if (op->kind == OP_UPDATE) {
            op = pg_batch_take(c);
            if (!op) {
                pg_op_finish(c->wait.head, STORE_EFAIL, NULL, 0); /* out of memory */
                continue;
            }
        } else {
            pg_list_unlink(&c->wait, op);
        }
        pg_list_append(&c->sent, op, W_SENT);
        if (op_start(c, op))
            return -1;
    }
    return pg_end_segment(c);
}

int pg_is_retryable(const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
}

struct pg_op *pg_query_synced(struct pg_conn *c, struct pg_op *op);

/* The result of the statement e stands for (res is freed here). Advances e's operation. */
void pg_on_stmt_result(struct pg_conn *c, const struct pg_entry *e, PGresult *res)
{
    if (e->is_prepare) {
        pg_prepare_result(c, e->what, res);
        PQclear(res);
        return;
    }
    struct pg_op *op = e->op;
    if (e->sent_us)
        metric_observe(c->ps->query_duration, (double)(metrics_clock_us() - e->sent_us) / 1e6);
    ExecStatusType rs = PQresultStatus(res);
    int ok = rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK;
    if (rs == PGRES_PIPELINE_ABORTED) {
        if (!op->has_error)
            op->is_skipped = 1;
    } else if (!ok && !op->has_error) {
        op->has_error = 1;
        log_sql_error(op, res);
        op->want_retry = (op->kind == OP_BATCH || op->kind == OP_QUERY) && pg_is_retryable(res);
    }
    switch (e->what) {
    case S_BEGIN:
        op->is_begun = ok;
        break;
    case S_LOCK:
    case S_ASYNC:
        break;
    case S_SELECT:
        pg_batch_decide(c, op, res);
        break;
    case S_REPLACE:
        if (ok) {
            op->stored = res;
            res = NULL;
        }
        break;
    case S_COMMIT:
        pg_batch_commit_result(c, op, rs);
        break;
    case S_ROLLBACK:
        if (!ok)
            pg_conn_drop(c, "ROLLBACK failed");
        else
            pg_batch_abandon(c, op);
        break;
    case S_GET:
        pg_lookup_result(c, op, res);
        break;
    case S_EXPIRE:
        if (!ok && rs != PGRES_PIPELINE_ABORTED)
            op->status = STORE_EFAIL;
        break;
    case S_COUNT:
        pg_count_result(c, op, res);
        break;
    default:
        if (e->what >= S_QUERY_FIRST && e->what < S_NUM && pg_query_result(c, op, res))
            res = NULL; /* kept until the sync */
        break;
    }
    PQclear(res);
}


/* FNV-1a, with a final mix so that the low bits (the connection index) depend on every byte. */
uint64_t pg_hash_aor(const char *aor)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (const unsigned char *p = (const unsigned char *)aor; *p; p++)
        h = (h ^ *p) * UINT64_C(1099511628211);
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}

/* The AOR's own connection, or the next one that is up; NULL when none is. */
struct pg_conn *pg_route_aor(struct pg_store *ps, uint64_t h)
{
    for (unsigned k = 0; k < PG_CONNECTIONS; k++) {
        struct pg_conn *c = &ps->conns[(h + k) % PG_CONNECTIONS];
        if (c->state == PG_READY)
            return c;
    }
    return NULL;
}

/* The connection of an update (or a lookup) of op's AOR; NULL when none is up. While updates of
 * AORs of the same hash slot (the AOR's own among them) are unfinished, they all went to one
 * connection, and so does this one: an AOR's operations keep their order, at the cost of one
 * array entry and no search. Otherwise a lookup goes by the AOR's hash, and an update to the
 * first connection (in pool order) whose queue holds fewer than PG_GROUP_MAX operations: the
 * updates that arrive while a batch is in flight wait for it and go together as the next batch
 * (group commit), so that a light load is not spread into one transaction per REGISTER over the
 * pool, and a heavy one fills every connection's batches. */
struct pg_conn *pg_route_location(struct pg_store *ps, const struct pg_op *op)
{
    const struct pg_slot *slot = &ps->pending[op->aor_hash % PG_PENDING_SLOTS];
    if (slot->n > 0 && ps->conns[slot->conn].state == PG_READY)
        return &ps->conns[slot->conn];
    struct pg_conn *first = NULL, *least = NULL;
    for (int i = 0; i < PG_CONNECTIONS; i++) {
        struct pg_conn *c = &ps->conns[i];
        if (c->state != PG_READY)
            continue;
        if (!first && c->wait.n < PG_GROUP_MAX)
            first = c;
        if (!least || c->wait.n < least->wait.n)
            least = c;
    }
    if (op->kind == OP_LOOKUP)
        return pg_route_aor(ps, op->aor_hash);
    return first ? first : least;
}

/* The least busy connection that is up; NULL when none is. */
struct pg_conn *pg_route_any(struct pg_store *ps)
{
    struct pg_conn *best = NULL;
    for (int i = 0; i < PG_CONNECTIONS; i++) {
        struct pg_conn *c = &ps->conns[i];
        if (c->state == PG_READY &&
            (!best || c->wait.n + c->sent.n < best->wait.n + best->sent.n))
            best = c;
    }
    return best;
}

/* A new operation routed to a connection, or NULL after reporting why not (through done). */
struct pg_op *pg_op_new(struct pg_store *ps, enum op_kind kind, const char *aor, int64_t now,
                            store_bindings_cb done_bindings, store_status_cb done_status,
                            void *arg)
{
    int status = 0;
    struct pg_op *op = NULL;
    struct pg_conn *c = NULL;
    uint64_t h = 0;
    if (ps->is_destroyed || !pg_any_ready(ps) || ps->nops >= PG_MAX_OPS) {
        status = STORE_EUNAVAIL;
    } else if (kind != OP_EXPIRE && (!aor || strlen(aor) > PG_MAX_FIELD_BYTES)) {
        status = STORE_EFAIL;
    } else if (!(op = calloc(1, sizeof *op)) || (aor && !(op->aor = strdup(aor)))) {
        status = STORE_EFAIL;
        free(op);
        op = NULL;
    } else {
        h = aor ? pg_hash_aor(aor) : 0;
        op->kind = kind;
        op->aor_hash = h;
        if (kind == OP_UPDATE || kind == OP_LOOKUP)
            c = pg_route_location(ps, op);
        else
            c = aor ? pg_route_aor(ps, h) : pg_route_any(ps);
    }
    if (status) {
        if (done_bindings)
            done_bindings(arg, status, NULL, 0);
        else if (done_status)
            done_status(arg, status);
        return NULL;
    }
    op->conn = c;
    op->kind = kind;
    op->aor_hash = h;
    op->now = now;
    op->done_bindings = done_bindings;
    op->done_status = done_status;
    op->arg = arg;
    return op;
}

/* The pump timer: send what the connections queued during this loop iteration. */
static void on_pump_timer(struct timer *t, void *arg)
{
    (void)t;
    struct pg_store *ps = arg;
    pg_enter(ps);
    for (int i = 0; i < PG_CONNECTIONS && !ps->is_destroyed; i++)
        if (ps->conns[i].state == PG_READY && ps->conns[i].wait.head)
            pg_pump(&ps->conns[i]);
    pg_leave(ps);
}

/* Queue op on its connection. It is sent at the end of this loop iteration (a timer of zero
 * delay runs before the loop waits again), with whatever else the iteration queued there: the
 * REGISTERs read from one burst of datagrams go as one batch, in one write, instead of the first
 * alone and the rest a round trip later. A queue that holds a full batch goes at once, so that
 * under heavy load the database works while the loop is still reading. */
void pg_op_submit(struct pg_store *ps, struct pg_op *op)
{
    struct pg_conn *c = op->conn;
    pg_enter(ps);
    ps->nops++;
    ps->nuser++;
    if (op->kind == OP_UPDATE) {
        struct pg_slot *slot = &ps->pending[op->aor_hash % PG_PENDING_SLOTS];
        slot->n++;
        slot->conn = c->idx;
    }
    pg_list_append(&c->wait, op, W_WAIT);
    if (c->wait.n >= PG_GROUP_MAX) /* a full batch: no reason to hold it */
        pg_pump(c);
    else if (!timer_is_armed(&ps->pump_timer) &&
             loop_timer_start(ps->base.loop, &ps->pump_timer, 0, on_pump_timer, ps))
        pg_pump(c); /* out of memory for the timer: send now */
    pg_leave(ps);
}

