/* query.c - the PostgreSQL store's IM and presence operations (the broker, the presence package):
 * one generic submit and one generic result path, driven by each operation's row (im_presence.c).
 *
 * Each operation is one prepared statement (OP_QUERY), routed like the location ops by the hash
 * of its topic (positions too) or AOR (presence), the expires to the least busy connection; rows
 * come back in binary format and bodies go out as binary bytea parameters, so they may hold any
 * octet. A read is pipelined like a lookup. A write runs alone between two syncs -- that segment
 * is its (implicit, READ COMMITTED) transaction -- and its caller hears of it at the second sync,
 * after the commit; it is retried on serialization failure or deadlock. A publish is one call of
 * sipd_im_publish() (schema/002_im.sql): the topic rows locked in ascending URI order, the
 * duplicate check under the lock, last_seq + 1 and the insert, the retention, and NOTIFY sipd_im
 * "<topic> <seq>" (delivered at commit), in one transaction. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/log.h"
#include "../../base/loop.h"
#include "pg_impl.h"

/* An OP_QUERY is one prepared statement (pg_stmts[S_QUERY_FIRST..]) with its own parameters, and a
 * row (struct query_row) that says how to build them and how to read the rows (binary format) into
 * the caller's callback. A query that only reads is pipelined like a lookup. A query that changes
 * data (is_write) runs alone in its segment, between two syncs: the segment is its transaction
 * (implicit, committed at the sync), so that a statement of another operation cannot share it,
 * and its caller hears of it only once the sync is back, that is after the commit. Such a query
 * is retried on serialization failure or deadlock like an update. */

#define Q_MAX_PARAMS 20 /* S_SUB_PUT has 19 */

struct pg_query {
    const struct query_row *row;
    union query_done done;
    int is_bad;                /* a parameter was too long, or out of memory */
    int nparams;
    char *values[Q_MAX_PARAMS]; /* owned; NULL is SQL NULL */
    int lengths[Q_MAX_PARAMS];
    int formats[Q_MAX_PARAMS]; /* 1 (binary) for bodies, else 0 (text) */
};

const union query_done *pg_query_done(const struct pg_op *op) { return &op->q->done; }

enum stmt_id pg_query_stmt(const struct pg_op *op) { return op->q->row->stmt; }

void pg_query_free(struct pg_query *q)
{
    for (int i = 0; i < q->nparams; i++)
        free(q->values[i]);
    free(q);
}

const char *pg_query_name(const struct pg_op *op) { return pg_stmts[op->q->row->stmt].name; }

int pg_query_is_write(const struct pg_op *op) { return pg_stmts[op->q->row->stmt].is_write; }


/* Send the statement (with the syncs around it when it writes). 0, or -1 when the connection
 * was dropped (op is gone). */
int pg_query_start(struct pg_conn *c, struct pg_op *op)
{
    struct pg_query *q = op->q;
    enum stmt_id id = q->row->stmt;
    int is_write = pg_stmts[id].is_write;
    if (op->stored) {
        PQclear(op->stored);
        op->stored = NULL;
    }
    if (is_write && pg_end_segment(c))
        return -1;
    if (pg_ring_push(c, op, id, 0)) {
        pg_conn_drop(c, "pipeline overflow");
        return -1;
    }
    if (!PQsendQueryPrepared(c->conn, pg_stmts[id].name, q->nparams,
                             (const char *const *)q->values, q->lengths, q->formats, 1)) {
        pg_conn_drop(c, PQerrorMessage(c->conn));
        return -1;
    }
    c->nunsynced++;
    c->last_sent = id;
    return is_write ? pg_end_segment_for(c, op) : 0;
}

/* The statement's result. A read ends here; a write keeps its rows (returns 1: res is taken)
 * until the sync says whether the transaction committed. */
int pg_query_result(struct pg_conn *c, struct pg_op *op, PGresult *res)
{
    if (pg_query_is_write(op)) {
        if (!op->has_error && !op->is_skipped) {
            op->stored = res;
            return 1;
        }
        return 0;
    }
    if (op->is_skipped) {
        pg_op_resend(c, op);
    } else if (op->has_error) {
        pg_op_finish(op, STORE_EFAIL, NULL, 0);
    } else {
        pg_op_detach(op);
        pg_query_notify(op, 0, res);
        pg_op_free(op);
    }
    return 0;
}

/* A write's sync is back: its transaction is over. Returns op, detached, to report with
 * pg_query_report(); or NULL when it goes out again (skipped after another's error, or the
 * database asked for a retry). */
struct pg_op *pg_query_synced(struct pg_conn *c, struct pg_op *op)
{
    if (op->where != W_SENT)
        return NULL;
    if (op->is_skipped && !op->has_error) {
        pg_op_resend(c, op);
        return NULL;
    }
    if (op->has_error && op->want_retry && op->retries < PG_MAX_RETRIES) {
        op->retries++;
        LOG_DEBUG("postgres %s retry key=%s attempt=%d", pg_query_name(op), op->aor ? op->aor : "-",
                  op->retries + 1);
        pg_op_resend(c, op);
        return NULL;
    }
    op->status = op->has_error || !op->stored ? STORE_EFAIL : 0;
    pg_op_detach(op);
    return op;
}

void pg_query_report(struct pg_op *op)
{
    pg_query_notify(op, op->status, op->stored);
    pg_op_free(op);
}

/* ---- parameters ---- */

static void q_put(struct pg_query *q, char *value, size_t len, int format)
{
    if (q->nparams == Q_MAX_PARAMS || len > INT_MAX) {
        q->is_bad = 1;
        free(value);
        return;
    }
    q->values[q->nparams] = value;
    q->lengths[q->nparams] = (int)len;
    q->formats[q->nparams] = format;
    q->nparams++;
}

/* A text parameter (NULL: SQL NULL), at most max bytes. */
static void q_text(struct pg_query *q, const char *s, size_t max)
{
    char *v = NULL;
    if (s && (strlen(s) > max || !(v = strdup(s)))) {
        q->is_bad = 1;
        return;
    }
    q_put(q, v, v ? strlen(v) : 0, 0);
}

static void q_int(struct pg_query *q, int64_t x)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, x);
    q_text(q, num, sizeof num);
}

/* A bytea parameter in binary format (NULL: SQL NULL), at most PG_MAX_BODY_BYTES. */
static void q_bytes(struct pg_query *q, const char *p, size_t len)
{
    char *v = NULL;
    if (p && (len > PG_MAX_BODY_BYTES || !(v = malloc(len ? len : 1)))) {
        q->is_bad = 1;
        return;
    }
    if (p)
        memcpy(v, p, len);
    q_put(q, v, p ? len : 0, 1);
}

/* A text[] parameter (an array literal, built as S_REPLACE's are). */
static void q_text_array(struct pg_query *q, const char *const *v, size_t n, size_t max_each)
{
    struct pg_arr sb = {0};
    for (size_t i = 0; i < n; i++) {
        if (!v[i] || strlen(v[i]) > max_each)
            sb.is_bad = 1;
        pg_arr_text(&sb, i, v[i]);
    }
    pg_arr_put(&sb, n ? "}" : "{}", n ? 1 : 2);
    if (sb.is_bad) {
        free(sb.p);
        q->is_bad = 1;
        return;
    }
    q_put(q, sb.p, sb.len, 0);
}

/* ---- binary results ---- */

int pg_bin_i64(const PGresult *res, int row, int col, int64_t *out)
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 8)
        return -1;
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    *out = (int64_t)v;
    return 0;
}

int pg_bin_i32(const PGresult *res, int row, int col, int64_t *out)
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 4)
        return -1;
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
    uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    *out = (int32_t)v;
    return 0;
}

int pg_bin_bool(const PGresult *res, int row, int col, int *out)
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 1)
        return -1;
    *out = PQgetvalue(res, row, col)[0] != 0;
    return 0;
}

/* A text column as a string inside res (libpq ends every value with a NUL, binary ones too):
 * NULL column -> *out NULL when nullable; no NUL inside, at most PG_MAX_FIELD_BYTES. */
int pg_bin_text(const PGresult *res, int row, int col, int is_nullable, const char **out)
{
    *out = NULL;
    if (PQgetisnull(res, row, col))
        return is_nullable ? 0 : -1;
    int len = PQgetlength(res, row, col);
    const char *v = PQgetvalue(res, row, col);
    if (len < 0 || len > PG_MAX_FIELD_BYTES || memchr(v, '\0', (size_t)len))
        return -1;
    *out = v;
    return 0;
}

/* A bytea column (binary): its octets inside res, NUL-terminated by libpq. */
int pg_bin_bytes(const PGresult *res, int row, int col, const char **out, size_t *len)
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) < 0)
        return -1;
    *out = PQgetvalue(res, row, col);
    *len = (size_t)PQgetlength(res, row, col);
    return 0;
}

/* Is res a result of nfields binary columns (and at least min_rows rows)? */
static int is_shape(const PGresult *res, int nfields, int min_rows)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != nfields ||
        PQntuples(res) < min_rows)
        return 0;
    for (int i = 0; i < nfields; i++)
        if (PQfformat(res, i) != 1)
            return 0;
    return 1;
}

/* ---- the result path ---- */

static void log_bad_result(const struct pg_op *op)
{
    LOG_WARN("postgres %s failed key=%s reason=\"unexpected result\"", pg_query_name(op),
             op->aor ? op->aor : "-");
}

/* res (status 0) read as the row says, into r (items allocated here: the caller frees). The
 * status to report: 0, a SIP status a row carried, or STORE_EFAIL (logged). */
static int parse_result(const struct pg_op *op, const PGresult *res, struct qresult *r)
{
    const struct query_row *row = op->q->row;
    if (row->ncols == 0)
        return 0;
    int status = 0;
    int nrows = PQntuples(res);
    if (!is_shape(res, row->ncols, row->min_rows))
        status = STORE_EFAIL;
    for (int k = 0; status == 0 && row->scalars[k]; k++) {
        int b = 0;
        if (row->scalars[k] == 'b' ? pg_bin_bool(res, 0, k, &b) : pg_bin_i64(res, 0, k, &r->v[k]))
            status = STORE_EFAIL;
        else if (row->scalars[k] == 'b')
            r->v[k] = b;
    }
    if (status == 0 && row->parse_row &&
        !(r->items = calloc((size_t)nrows + 1, row->item_size)))
        status = STORE_EFAIL;
    for (int i = 0; status == 0 && row->parse_row && i < nrows; i++) {
        int rc = row->parse_row(op, res, i, (char *)r->items + r->n * row->item_size);
        if (rc == 0)
            r->n++;
        else if (rc > 0)
            status = rc;
        else if (rc != QROW_SKIP)
            status = STORE_EFAIL;
    }
    if (status == STORE_EFAIL)
        log_bad_result(op);
    return status;
}

/* Tell the caller: status 0 with res (read as the row says), or a failure. */
void pg_query_notify(struct pg_op *op, int status, const PGresult *res)
{
    struct qresult r = {{0}, NULL, 0};
    if (status == 0)
        status = parse_result(op, res, &r);
    if (status) { /* the caller hears of nothing but the status */
        free(r.items);
        r = (struct qresult){{0}, NULL, 0};
    }
    op->q->row->report(op, status, &r);
    free(r.items);
}

/* ---- the submit path ---- */

/* Build parameter i of kind k from p. */
static void put_param(struct pg_query *q, char k, const struct qval *p)
{
    switch (k) {
    case 'u': q_text(q, p->s, PG_MAX_URI_BYTES); break;
    case 'f': q_text(q, p->s, PG_MAX_FIELD_BYTES); break;
    case 'i': q_int(q, p->i); break;
    case 'b': q_bytes(q, p->s, p->n); break;
    case 'a': q_text_array(q, p->v, p->n, PG_MAX_URI_BYTES); break;
    case 'l': q_text(q, p->s, PG_MAX_PARAM_BYTES); break;
    default: q->is_bad = 1; break;
    }
}

/* One IM or presence operation: its parameters p (one per letter of row->params; is_bad when the
 * caller found them unfit already) and the caller's callback. Routed by the first parameter when
 * the row is keyed, else to the least busy connection. The callback is called exactly once:
 * STORE_EUNAVAIL without a usable connection, STORE_EFAIL for a parameter too long (warned) or
 * out of memory, else with the result. */
void pg_query_run(struct pg_store *ps, const struct query_row *row, const struct qval *p,
                  int is_bad, union query_done done, void *arg)
{
    const char *key = row->is_keyed ? p[0].s : NULL;
    struct pg_query qtmp = {.row = row, .done = done};
    struct pg_op tmp = {.kind = OP_QUERY, .q = &qtmp, .arg = arg};
    int status = 0;
    if (ps->is_destroyed || !pg_any_ready(ps) || ps->nops >= PG_MAX_OPS)
        status = STORE_EUNAVAIL;
    else if (row->is_keyed && (!key || strlen(key) > PG_MAX_URI_BYTES))
        status = STORE_EFAIL;
    struct pg_op *op = status ? NULL : calloc(1, sizeof *op);
    if (op && (!(op->q = calloc(1, sizeof *op->q)) || (key && !(op->aor = strdup(key))))) {
        free(op->q);
        free(op);
        op = NULL;
    }
    if (!op) {
        row->report(&tmp, status ? status : STORE_EFAIL, &(struct qresult){{0}, NULL, 0});
        return;
    }
    *op->q = qtmp;
    op->kind = OP_QUERY;
    op->arg = arg;
    op->aor_hash = key ? pg_hash_aor(key) : 0;
    op->conn = key ? pg_route_aor(ps, op->aor_hash) : pg_route_any(ps);
    op->q->is_bad = is_bad;
    for (int i = 0; row->params[i] && !op->q->is_bad; i++)
        put_param(op->q, row->params[i], &p[i]);
    if (op->q->is_bad) {
        LOG_WARN("postgres %s refused key=%s reason=\"parameter too long\"", pg_query_name(op),
                 op->aor ? op->aor : "-");
        pg_query_notify(op, STORE_EFAIL, NULL);
        pg_op_free(op);
        return;
    }
    pg_op_submit(ps, op);
}

void pg_report_status(const struct pg_op *op, int status, const struct qresult *r)
{
    (void)r;
    if (pg_query_done(op)->status)
        pg_query_done(op)->status(op->arg, status);
}
