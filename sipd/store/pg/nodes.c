/* nodes.c - the node table of the PostgreSQL store (store.h: "cluster: the node table") as rows of
 * the generic query path (query.c), like im_presence.c: for each operation its statement
 * (statements.c), parameters, result shape and reporter; then the entry points.
 *
 * The writes of one node's row (upsert, status, draining) are keyed by its name, so they run in
 * the order they were made, on one connection; loading the table, a round of heartbeats and a
 * promotion go to the least busy connection. A round of heartbeats is one statement, one round
 * trip: sipd_node_beats() (schema/004_cluster.sql) over arrays with one element per result. */
#include <stdio.h>
#include <stdlib.h>

#include "pg_impl.h"

/* A row of NODE_COLS (statements.c). */
static int parse_node(const struct pg_op *op, const PGresult *res, int r, void *item)
{
    (void)op;
    struct node_row *n = item;
    int64_t nid, status, waiting, work, max, rtt_us;
    if (pg_bin_i64(res, r, 0, &nid) || pg_bin_text(res, r, 1, 0, &n->name) ||
        pg_bin_text(res, r, 2, 0, &n->address) || pg_bin_text(res, r, 3, 0, &n->roles) ||
        pg_bin_i64(res, r, 4, &status) || pg_bin_i64(res, r, 5, &waiting) ||
        pg_bin_bool(res, r, 6, &n->draining) || pg_bin_i64(res, r, 7, &work) ||
        pg_bin_i64(res, r, 8, &max) || pg_bin_i64(res, r, 9, &n->last_heartbeat_ms) ||
        pg_bin_i64(res, r, 10, &rtt_us))
        return -1;
    if (nid <= 0 || nid > INT32_MAX || work < 0 || work > INT32_MAX || max < 0 || max > INT32_MAX)
        return -1;
    n->nid = (int)nid;
    n->status = status != 0;
    n->waiting = waiting != 0;
    n->work_num = (int)work;
    n->max_num = (int)max;
    n->rtt_ms = rtt_us < 0 ? -1.0 : (double)rtt_us / 1000.0;
    return 0;
}

static void report_nodes(const struct pg_op *op, int status, const struct qresult *r)
{
    pg_query_done(op)->nodes(op->arg, status, status ? NULL : r->items, r->n);
}

/* The first column counts the rows changed: none is 404 (status, draining: no such node) or 409
 * (promote: not a standby). */
static void report_changed(const struct pg_op *op, int status, const struct qresult *r)
{
    if (status == 0 && r->v[0] == 0)
        status = pg_query_stmt(op) == S_NODE_PROMOTE ? 409 : 404;
    if (pg_query_done(op)->status)
        pg_query_done(op)->status(op->arg, status);
}

/* add: no row means the name exists (409); change: no such node (404). */
static void report_row(const struct pg_op *op, int status, const struct qresult *r)
{
    if (status == 0 && r->n == 0)
        status = pg_query_stmt(op) == S_NODE_ADD ? 409 : 404;
    pg_query_done(op)->nodes(op->arg, status, status ? NULL : r->items, status ? 0 : r->n);
}

/* Rows removed, rows of that name: 1 -> 0; 0, 1 -> 409 (up and not drained); 0, 0 -> 404. */
static void report_removed(const struct pg_op *op, int status, const struct qresult *r)
{
    if (status == 0 && r->v[0] == 0)
        status = r->v[1] ? 409 : 404;
    if (pg_query_done(op)->status)
        pg_query_done(op)->status(op->arg, status);
}

/* A row of S_NODE_HEARTBEATS (after the nid): a beat, or the one row of a node without any. */
static int parse_beat(const struct pg_op *op, const PGresult *res, int r, void *item)
{
    (void)op;
    struct node_beat *b = item;
    int64_t nid, rtt_us, work;
    if (PQgetisnull(res, r, 1))
        return QROW_SKIP;
    if (pg_bin_i64(res, r, 0, &nid) || pg_bin_i64(res, r, 1, &b->at_ms) ||
        pg_bin_bool(res, r, 2, &b->ok) || pg_bin_i64(res, r, 3, &rtt_us) ||
        pg_bin_i64(res, r, 4, &work) || nid <= 0 || nid > INT32_MAX || work > INT32_MAX)
        return -1;
    b->nid = (int)nid;
    b->status = -1;
    b->work_num = work < 0 ? -1 : (int)work;
    b->rtt_ms = rtt_us < 0 ? -1.0 : (double)rtt_us / 1000.0;
    return 0;
}

static void report_beats(const struct pg_op *op, int status, const struct qresult *r)
{
    if (status == 0 && r->v[0] == 0)
        status = 404;
    pg_query_done(op)->beats(op->arg, status, status ? NULL : r->items, status ? 0 : r->n);
}

#define ROW(id) [id - S_NODE_FIRST] = {.stmt = id
static const struct query_row rows[S_SUB_FIRST - S_NODE_FIRST] = {
    /* name, address, roles, max_num, waiting -> the row */
    ROW(S_NODE_UPSERT), "uffii", 1, 11, 1, "", parse_node, sizeof(struct node_row), report_nodes},
    /* name, status -> rows changed */
    ROW(S_NODE_STATUS), "ui", 1, 1, 1, "i", NULL, 0, report_changed},
    /* name, draining -> rows changed */
    ROW(S_NODE_DRAINING), "ui", 1, 1, 1, "i", NULL, 0, report_changed},
    /* -> every row, by nid */
    ROW(S_NODES_LOAD), "", 0, 11, 0, "", parse_node, sizeof(struct node_row), report_nodes},
    /* nids, answered, status, work_num, rtt_ms, at, history kept -> rows updated */
    ROW(S_NODE_BEATS), "lllllli", 0, 1, 1, "i", NULL, 0, pg_report_status},
    /* nid -> rows changed */
    ROW(S_NODE_PROMOTE), "i", 0, 1, 1, "i", NULL, 0, report_changed},
    /* name, address, roles, max_num, waiting -> the new row, or none (the name exists) */
    ROW(S_NODE_ADD), "uffii", 1, 11, 0, "", parse_node, sizeof(struct node_row), report_row},
    /* name, max_num, waiting, draining -> the row, or none (no such node) */
    ROW(S_NODE_CHANGE), "uiii", 1, 11, 0, "", parse_node, sizeof(struct node_row), report_row},
    /* name -> rows removed, rows of that name */
    ROW(S_NODE_REMOVE), "u", 1, 2, 1, "ii", NULL, 0, report_removed},
    /* name, max -> nid (0: none), then its beats */
    ROW(S_NODE_HEARTBEATS), "ui", 0, 5, 1, "i", parse_beat, sizeof(struct node_beat),
    report_beats},
};
#undef ROW

static void run(struct store *st, enum stmt_id id, const struct qval *p, int is_bad,
                union query_done done, void *arg)
{
    pg_query_run(pg_of(st), &rows[id - S_NODE_FIRST], p, is_bad, done, arg);
}

void pg_node_upsert(struct store *st, const struct node_row *self, store_nodes_cb done, void *arg)
{
    const struct qval p[] = {{.s = self ? self->name : NULL}, {.s = self ? self->address : NULL},
                             {.s = self && self->roles ? self->roles : ""},
                             {.i = self && self->max_num > 0 ? self->max_num : 0},
                             {.i = self && self->waiting ? 1 : 0}};
    int is_bad = !self || !self->name || !*self->name || !self->address;
    run(st, S_NODE_UPSERT, p, is_bad, (union query_done){.nodes = done}, arg);
}

void pg_node_set_status(struct store *st, const char *name, int status, store_status_cb done,
                        void *arg)
{
    const struct qval p[] = {{.s = name}, {.i = status ? 1 : 0}};
    run(st, S_NODE_STATUS, p, 0, (union query_done){.status = done}, arg);
}

void pg_node_set_draining(struct store *st, const char *name, int draining, store_status_cb done,
                          void *arg)
{
    const struct qval p[] = {{.s = name}, {.i = draining ? 1 : 0}};
    run(st, S_NODE_DRAINING, p, 0, (union query_done){.status = done}, arg);
}

void pg_nodes_load(struct store *st, store_nodes_cb done, void *arg)
{
    const struct qval p[1] = {{0}};
    run(st, S_NODES_LOAD, p, 0, (union query_done){.nodes = done}, arg);
}

/* The six array literals of a round of beats, in the order of S_NODE_BEATS's parameters. */
enum { B_NID, B_OK, B_STATUS, B_WORK, B_RTT, B_AT, B_NARRAYS };

static void beat_arrays(struct pg_arr *a, const struct node_beat *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct node_beat *b = &v[i];
        pg_arr_int(&a[B_NID], i, b->nid);
        pg_arr_put(&a[B_OK], i ? "," : "{", 1);
        pg_arr_put(&a[B_OK], b->ok ? "t" : "f", 1);
        pg_arr_int(&a[B_STATUS], i, b->status ? 1 : 0);
        pg_arr_int(&a[B_WORK], i, b->work_num > 0 ? b->work_num : 0);
        char rtt[32];
        int len = b->ok && b->rtt_ms >= 0 && b->rtt_ms < 1e9
                      ? snprintf(rtt, sizeof rtt, "%.3f", b->rtt_ms)
                      : snprintf(rtt, sizeof rtt, "NULL");
        pg_arr_put(&a[B_RTT], i ? "," : "{", 1);
        pg_arr_put(&a[B_RTT], rtt, (size_t)len);
        pg_arr_int(&a[B_AT], i, b->at_ms);
    }
    for (int k = 0; k < B_NARRAYS; k++)
        pg_arr_put(&a[k], "}", 1);
}

void pg_node_beats(struct store *st, const struct node_beat *v, size_t n, store_status_cb done,
                   void *arg)
{
    if (n == 0) { /* nothing to write */
        if (done)
            done(arg, 0);
        return;
    }
    struct pg_arr a[B_NARRAYS] = {{0}};
    int is_bad = !v || n > PG_MAX_BEATS;
    if (!is_bad)
        beat_arrays(a, v, n);
    for (int k = 0; k < B_NARRAYS; k++)
        is_bad |= a[k].is_bad || !a[k].p;
    const struct qval p[] = {{.s = a[B_NID].p},    {.s = a[B_OK].p},  {.s = a[B_STATUS].p},
                             {.s = a[B_WORK].p},   {.s = a[B_RTT].p}, {.s = a[B_AT].p},
                             {.i = STORE_HEARTBEAT_HISTORY}};
    run(st, S_NODE_BEATS, p, is_bad, (union query_done){.status = done}, arg);
    for (int k = 0; k < B_NARRAYS; k++)
        free(a[k].p);
}

void pg_node_promote(struct store *st, int nid, store_status_cb done, void *arg)
{
    const struct qval p[] = {{.i = nid}};
    run(st, S_NODE_PROMOTE, p, 0, (union query_done){.status = done}, arg);
}

/* ---- the control plane ---- */

void pg_node_add(struct store *st, const struct node_row *row, store_nodes_cb done, void *arg)
{
    const struct qval p[] = {{.s = row ? row->name : NULL}, {.s = row ? row->address : NULL},
                             {.s = row && row->roles ? row->roles : ""},
                             {.i = row && row->max_num > 0 ? row->max_num : 0},
                             {.i = row && row->waiting ? 1 : 0}};
    int is_bad = !row || !row->name || !*row->name || !row->address;
    run(st, S_NODE_ADD, p, is_bad, (union query_done){.nodes = done}, arg);
}

void pg_node_change(struct store *st, const char *name, int max_num, int waiting, int draining,
                    store_nodes_cb done, void *arg)
{
    const struct qval p[] = {{.s = name}, {.i = max_num > 0 ? max_num : 0},
                             {.i = waiting < 0 ? -1 : waiting != 0},
                             {.i = draining < 0 ? -1 : draining != 0}};
    run(st, S_NODE_CHANGE, p, 0, (union query_done){.nodes = done}, arg);
}

void pg_node_remove(struct store *st, const char *name, store_status_cb done, void *arg)
{
    const struct qval p[] = {{.s = name}};
    run(st, S_NODE_REMOVE, p, 0, (union query_done){.status = done}, arg);
}

void pg_node_heartbeats(struct store *st, const char *name, size_t max, store_beats_cb done,
                        void *arg)
{
    const struct qval p[] = {{.s = name}, {.i = max < STORE_HEARTBEAT_HISTORY ? (int64_t)max
                                                                              : STORE_HEARTBEAT_HISTORY}};
    run(st, S_NODE_HEARTBEATS, p, name == NULL, (union query_done){.beats = done}, arg);
}
