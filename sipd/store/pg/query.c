/* query.c - the PostgreSQL store's IM and presence operations (the broker, the presence package).
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

/* ---- IM and presence: one statement per operation -------------------------------------------- */

/* An OP_QUERY is one prepared statement (pg_stmts[S_QUERY_FIRST..]) with its own parameters, and a
 * handler that turns the rows (binary format) into the caller's callback. A query that only reads
 * is pipelined like a lookup. A query that changes data (is_write) runs alone in its segment,
 * between two syncs: the segment is its transaction (implicit, committed at the sync), so that
 * a statement of another operation cannot share it, and its caller hears of it only once the
 * sync is back, that is after the commit. Such a query is retried on serialization failure or
 * deadlock like an update. */

#define Q_MAX_PARAMS 12

typedef void (*query_handler)(struct pg_op *op, int status, const PGresult *res);

union query_done {
    store_topic_cb topic;
    store_publish_cb publish;
    store_messages_cb messages;
    store_status_cb status;
    store_members_cb members;
    store_position_cb position;
    store_pres_cb pres;
    store_aors_cb aors;
};

struct pg_query {
    enum stmt_id stmt;
    query_handler handle;      /* status 0: parse res and report; else report the failure */
    union query_done done;
    int is_bad;                /* a parameter was too long, or out of memory */
    int nparams;
    char *values[Q_MAX_PARAMS]; /* owned; NULL is SQL NULL */
    int lengths[Q_MAX_PARAMS];
    int formats[Q_MAX_PARAMS]; /* 1 (binary) for bodies, else 0 (text) */
};

void pg_query_free(struct pg_query *q)
{
    for (int i = 0; i < q->nparams; i++)
        free(q->values[i]);
    free(q);
}

const char *pg_query_name(const struct pg_op *op) { return pg_stmts[op->q->stmt].name; }

int pg_query_is_write(const struct pg_op *op) { return pg_stmts[op->q->stmt].is_write; }

/* Tell the caller: status 0 with res (parsed by the handler), or a failure. */
void pg_query_notify(struct pg_op *op, int status, const PGresult *res)
{
    op->q->handle(op, status, status == 0 ? res : NULL);
}

/* Send the statement (with the syncs around it when it writes). 0, or -1 when the connection
 * was dropped (op is gone). */
int pg_query_start(struct pg_conn *c, struct pg_op *op)
{
    struct pg_query *q = op->q;
    int is_write = pg_stmts[q->stmt].is_write;
    if (op->stored) {
        PQclear(op->stored);
        op->stored = NULL;
    }
    if (is_write && pg_end_segment(c))
        return -1;
    if (pg_ring_push(c, op, q->stmt, 0)) {
        pg_conn_drop(c, "pipeline overflow");
        return -1;
    }
    if (!PQsendQueryPrepared(c->conn, pg_stmts[q->stmt].name, q->nparams,
                             (const char *const *)q->values, q->lengths, q->formats, 1)) {
        pg_conn_drop(c, PQerrorMessage(c->conn));
        return -1;
    }
    c->nunsynced++;
    c->last_sent = q->stmt;
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

static int bin_i64(const PGresult *res, int row, int col, int64_t *out)
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

static int bin_i32(const PGresult *res, int row, int col, int64_t *out)
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 4)
        return -1;
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
    uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    *out = (int32_t)v;
    return 0;
}

static int bin_bool(const PGresult *res, int row, int col, int *out)
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 1)
        return -1;
    *out = PQgetvalue(res, row, col)[0] != 0;
    return 0;
}

/* A text column as a string inside res (libpq ends every value with a NUL, binary ones too):
 * NULL column -> *out NULL when nullable; no NUL inside, at most PG_MAX_FIELD_BYTES. */
static int bin_text(const PGresult *res, int row, int col, int is_nullable, const char **out)
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
static int bin_bytes(const PGresult *res, int row, int col, const char **out, size_t *len)
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

static void log_bad_result(const struct pg_op *op)
{
    LOG_WARN("postgres %s failed key=%s reason=\"unexpected result\"", pg_query_name(op),
             op->aor ? op->aor : "-");
}

/* ---- handlers: rows -> the caller's callback ---- */

static void handle_topic(struct pg_op *op, int status, const PGresult *res)
{
    struct im_topic_info info = {0};
    if (status == 0 && (!is_shape(res, 4, 1) || bin_bool(res, 0, 0, &info.is_group) ||
                        bin_bool(res, 0, 1, &info.is_member) ||
                        bin_i64(res, 0, 2, &info.last_seq) ||
                        bin_i64(res, 0, 3, &info.first_seq))) {
        log_bad_result(op);
        status = STORE_EFAIL;
    }
    op->q->done.topic(op->arg, status, status ? NULL : &info);
}

static void handle_publish(struct pg_op *op, int status, const PGresult *res)
{
    int64_t seq = 0, copy_seq = 0;
    int dup = 0;
    if (status == 0 && (!is_shape(res, 3, 1) || bin_i64(res, 0, 0, &seq) ||
                        bin_i64(res, 0, 1, &copy_seq) || bin_bool(res, 0, 2, &dup))) {
        log_bad_result(op);
        status = STORE_EFAIL;
    }
    if (status)
        seq = copy_seq = dup = 0;
    op->q->done.publish(op->arg, status, seq, copy_seq, dup);
}

static void handle_read(struct pg_op *op, int status, const PGresult *res)
{
    int64_t first = 0, last = 0;
    struct im_message *v = NULL;
    size_t n = 0;
    if (status == 0) {
        int nrows = PQntuples(res);
        if (!is_shape(res, 10, 1) || bin_i64(res, 0, 0, &first) || bin_i64(res, 0, 1, &last) ||
            !(v = calloc((size_t)nrows, sizeof *v)))
            status = STORE_EFAIL;
        for (int r = 0; status == 0 && r < nrows; r++) {
            if (PQgetisnull(res, r, 2))
                continue; /* no message (the window alone) */
            struct im_message *m = &v[n];
            m->topic = op->aor;
            if (bin_i64(res, r, 2, &m->seq) || bin_text(res, r, 3, 0, &m->sender) ||
                bin_text(res, r, 4, 1, &m->sender_device) ||
                bin_text(res, r, 5, 0, &m->recipient) || bin_bool(res, r, 6, &m->is_copy) ||
                bin_text(res, r, 7, 0, &m->content_type) ||
                bin_bytes(res, r, 8, &m->body, &m->body_len) ||
                bin_i64(res, r, 9, &m->created_at))
                status = STORE_EFAIL;
            n++;
        }
        if (status)
            log_bad_result(op);
    }
    if (status)
        op->q->done.messages(op->arg, status, NULL, 0, 0, 0);
    else
        op->q->done.messages(op->arg, 0, v, n, first, last);
    free(v);
}

/* Group create / delete: the first column counts the group rows made / deleted. */
static void handle_group(struct pg_op *op, int status, const PGresult *res)
{
    int64_t ntopics = 0;
    if (status == 0 && (!is_shape(res, 2, 1) || bin_i64(res, 0, 0, &ntopics))) {
        log_bad_result(op);
        status = STORE_EFAIL;
    }
    if (status == 0 && ntopics == 0)
        status = op->q->stmt == S_IM_GROUP_CREATE ? 409 : 404;
    if (op->q->done.status)
        op->q->done.status(op->arg, status);
}

static void handle_status(struct pg_op *op, int status, const PGresult *res)
{
    (void)res;
    if (op->q->done.status)
        op->q->done.status(op->arg, status);
}

/* One text column per row -> an array of strings (members, AORs). */
static int parse_strings(const PGresult *res, const char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!is_shape(res, 1, 0))
        return -1;
    int nrows = PQntuples(res);
    const char **v = calloc((size_t)nrows + 1, sizeof *v);
    if (!v)
        return -1;
    for (int r = 0; r < nrows; r++) {
        if (bin_text(res, r, 0, 0, &v[r])) {
            free(v);
            return -1;
        }
    }
    *out = v;
    *n = (size_t)nrows;
    return 0;
}

static void handle_members(struct pg_op *op, int status, const PGresult *res)
{
    const char **v = NULL;
    size_t n = 0;
    if (status == 0 && parse_strings(res, &v, &n)) {
        log_bad_result(op);
        status = STORE_EFAIL;
    }
    op->q->done.members(op->arg, status, status ? NULL : v, status ? 0 : n);
    free(v);
}

static void handle_aors(struct pg_op *op, int status, const PGresult *res)
{
    const char **v = NULL;
    size_t n = 0;
    if (status == 0 && parse_strings(res, &v, &n)) {
        log_bad_result(op);
        status = STORE_EFAIL;
    }
    if (op->q->done.aors)
        op->q->done.aors(op->arg, status, status ? NULL : v, status ? 0 : n);
    free(v);
}

static void handle_position(struct pg_op *op, int status, const PGresult *res)
{
    int64_t pos = 0;
    if (status == 0 && (!is_shape(res, 1, 1) || bin_i64(res, 0, 0, &pos))) {
        log_bad_result(op);
        status = STORE_EFAIL;
    }
    op->q->done.position(op->arg, status, status ? 0 : pos);
}

/* Rows (status, etag, expires_at, content_type, body, updated_at): a row with status > 0 is the
 * answer (412); rows with a NULL etag stand for "none". */
static void handle_pres(struct pg_op *op, int status, const PGresult *res)
{
    struct pres_publication *v = NULL;
    size_t n = 0;
    if (status == 0) {
        int nrows = PQntuples(res);
        if (!is_shape(res, 6, 0) || !(v = calloc((size_t)nrows + 1, sizeof *v)))
            status = STORE_EFAIL;
        for (int r = 0; status == 0 && r < nrows; r++) {
            int64_t st;
            if (bin_i32(res, r, 0, &st)) {
                status = STORE_EFAIL;
                break;
            }
            if (st != 0) {
                status = st > 0 && st < 700 ? (int)st : STORE_EFAIL;
                break;
            }
            if (PQgetisnull(res, r, 1))
                continue;
            struct pres_publication *p = &v[n++];
            p->aor = op->aor;
            if (bin_text(res, r, 1, 0, &p->etag) || bin_i64(res, r, 2, &p->expires_at) ||
                bin_text(res, r, 3, 0, &p->content_type) ||
                bin_bytes(res, r, 4, &p->body, &p->body_len) ||
                bin_i64(res, r, 5, &p->updated_at))
                status = STORE_EFAIL;
        }
        if (status == STORE_EFAIL)
            log_bad_result(op);
    }
    op->q->done.pres(op->arg, status, status ? NULL : v, status ? 0 : n);
    free(v);
}

/* ---- IM and presence ------------------------------------------------------------------------- */

/* A query routed by key (a topic or an AOR: its operations stay in order on one connection), or
 * with key NULL and !is_keyed to the least busy connection. NULL after reporting why not. */
static struct pg_op *query_new(struct pg_store *ps, enum stmt_id stmt, int is_keyed,
                               const char *key, query_handler handle, union query_done done,
                               void *arg)
{
    struct pg_query qtmp = {.stmt = stmt, .handle = handle, .done = done};
    struct pg_op tmp = {.kind = OP_QUERY, .q = &qtmp, .arg = arg};
    int status = 0;
    if (ps->is_destroyed || !pg_any_ready(ps) || ps->nops >= PG_MAX_OPS)
        status = STORE_EUNAVAIL;
    else if (is_keyed && (!key || strlen(key) > PG_MAX_URI_BYTES))
        status = STORE_EFAIL;
    struct pg_op *op = status ? NULL : calloc(1, sizeof *op);
    if (op && (!(op->q = calloc(1, sizeof *op->q)) || (key && !(op->aor = strdup(key))))) {
        free(op->q);
        free(op);
        op = NULL;
    }
    if (!op) {
        handle(&tmp, status ? status : STORE_EFAIL, NULL); /* out of memory unless status */
        return NULL;
    }
    *op->q = qtmp;
    op->kind = OP_QUERY;
    op->arg = arg;
    op->aor_hash = key ? pg_hash_aor(key) : 0;
    op->conn = key ? pg_route_aor(ps, op->aor_hash) : pg_route_any(ps);
    return op;
}

/* Send the query, or (a parameter was unfit) fail it with STORE_EFAIL. */
static void query_submit(struct pg_store *ps, struct pg_op *op)
{
    if (op->q->is_bad) {
        LOG_WARN("postgres %s refused key=%s reason=\"parameter too long\"", pg_query_name(op),
                 op->aor ? op->aor : "-");
        op->q->handle(op, STORE_EFAIL, NULL);
        pg_op_free(op);
        return;
    }
    pg_op_submit(ps, op);
}



static const struct im_retention no_retention;

void pg_im_topic(struct store *st, const char *topic, const char *identity, int64_t now,
                        const struct im_retention *ret, store_topic_cb done, void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = query_new(ps, S_IM_TOPIC, 1, topic, handle_topic,
                                 (union query_done){.topic = done}, arg);
    if (!op)
        return;
    if (!ret)
        ret = &no_retention;
    q_text(op->q, topic, PG_MAX_URI_BYTES);
    q_text(op->q, identity, PG_MAX_URI_BYTES);
    q_int(op->q, now);
    q_int(op->q, ret->count > 0 ? ret->count : 0);
    q_int(op->q, ret->age_s > 0 ? ret->age_s : 0);
    query_submit(ps, op);
}

void pg_im_publish(struct store *st, const struct im_publish *p, store_publish_cb done,
                          void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = query_new(ps, S_IM_PUBLISH, 1, p->topic, handle_publish,
                                 (union query_done){.publish = done}, arg);
    if (!op)
        return;
    struct pg_query *q = op->q;
    if (!p->sender || !p->content_type || (!p->body && p->body_len))
        q->is_bad = 1;
    q_text(q, p->topic, PG_MAX_URI_BYTES);
    q_text(q, p->sender, PG_MAX_URI_BYTES);
    q_text(q, p->sender_device, PG_MAX_FIELD_BYTES);
    q_text(q, p->copy_topic, PG_MAX_URI_BYTES);
    q_text(q, p->call_id, PG_MAX_FIELD_BYTES);
    q_text(q, p->from_tag, PG_MAX_FIELD_BYTES);
    q_int(q, p->cseq);
    q_text(q, p->content_type, PG_MAX_FIELD_BYTES);
    q_bytes(q, p->body ? p->body : "", p->body ? p->body_len : 0);
    q_int(q, p->now);
    q_int(q, p->ret.count > 0 ? p->ret.count : 0);
    q_int(q, p->ret.age_s > 0 ? p->ret.age_s : 0);
    query_submit(ps, op);
}

void pg_im_read(struct store *st, const char *topic, int64_t after_seq, size_t max,
                       int64_t now, const struct im_retention *ret, store_messages_cb done,
                       void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = query_new(ps, S_IM_READ, 1, topic, handle_read,
                                 (union query_done){.messages = done}, arg);
    if (!op)
        return;
    if (!ret)
        ret = &no_retention;
    if (max < 1)
        max = 1;
    if (max > PG_MAX_READ_ROWS)
        max = PG_MAX_READ_ROWS;
    q_text(op->q, topic, PG_MAX_URI_BYTES);
    q_int(op->q, after_seq > 0 ? after_seq : 0);
    q_int(op->q, (int64_t)max);
    q_int(op->q, now);
    q_int(op->q, ret->count > 0 ? ret->count : 0);
    q_int(op->q, ret->age_s > 0 ? ret->age_s : 0);
    q_int(op->q, PG_MAX_READ_BYTES);
    query_submit(ps, op);
}

void pg_im_group_create(struct store *st, const char *topic, const char *const *members,
                               size_t nmembers, store_status_cb done, void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = query_new(ps, S_IM_GROUP_CREATE, 1, topic, handle_group,
                                 (union query_done){.status = done}, arg);
    if (!op)
        return;
    if (nmembers > PG_MAX_MEMBERS || (nmembers && !members))
        op->q->is_bad = 1;
    q_text(op->q, topic, PG_MAX_URI_BYTES);
    if (!op->q->is_bad)
        q_text_array(op->q, members, nmembers, PG_MAX_URI_BYTES);
    query_submit(ps, op);
}

void pg_im_group_delete(struct store *st, const char *topic, store_status_cb done,
                               void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = query_new(ps, S_IM_GROUP_DELETE, 1, topic, handle_group,
                                 (union query_done){.status = done}, arg);
    if (!op)
        return;
    q_text(op->q, topic, PG_MAX_URI_BYTES);
    query_submit(ps, op);
}

void pg_im_members(struct store *st, const char *topic, store_members_cb done, void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = query_new(ps, S_IM_MEMBERS, 1, topic, handle_members,
                                 (union query_done){.members = done}, arg);
    if (!op)
        return;
    q_text(op->q, topic, PG_MAX_URI_BYTES);
    q_int(op->q, PG_MAX_MEMBERS);
    query_submit(ps, op);
}

void pg_im_groups_of(struct store *st, const char *aor, store_members_cb done, void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = query_new(ps, S_IM_GROUPS_OF, 1, aor, handle_members,
                                 (union query_done){.members = done}, arg);
    if (!op)
        return;
    q_text(op->q, aor, PG_MAX_URI_BYTES);
    q_int(op->q, PG_MAX_MEMBERS);
    query_submit(ps, op);
}

/* Positions go by topic, so that a device's get and advances in one topic stay in order. */
void pg_im_position_get(struct store *st, const char *topic, const char *aor,
                               const char *device, int64_t initial, store_position_cb done,
                               void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = query_new(ps, S_IM_POS_GET, 1, topic, handle_position,
                                 (union query_done){.position = done}, arg);
    if (!op)
        return;
    if (!aor || !device)
        op->q->is_bad = 1;
    q_text(op->q, topic, PG_MAX_URI_BYTES);
    q_text(op->q, aor, PG_MAX_URI_BYTES);
    q_text(op->q, device, PG_MAX_FIELD_BYTES);
    q_int(op->q, initial);
    query_submit(ps, op);
}

void pg_im_position_advance(struct store *st, const char *topic, const char *aor,
                                   const char *device, int64_t seq, store_status_cb done,
                                   void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = query_new(ps, S_IM_POS_ADVANCE, 1, topic, handle_status,
                                 (union query_done){.status = done}, arg);
    if (!op)
        return;
    if (!aor || !device)
        op->q->is_bad = 1;
    q_text(op->q, topic, PG_MAX_URI_BYTES);
    q_text(op->q, aor, PG_MAX_URI_BYTES);
    q_text(op->q, device, PG_MAX_FIELD_BYTES);
    q_int(op->q, seq);
    query_submit(ps, op);
}

void pg_im_expire(struct store *st, int64_t now, const struct im_retention *ret,
                         store_status_cb done, void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = query_new(ps, S_IM_EXPIRE, 0, NULL, handle_status,
                                 (union query_done){.status = done}, arg);
    if (!op)
        return;
    if (!ret)
        ret = &no_retention;
    q_int(op->q, now);
    q_int(op->q, ret->count > 0 ? ret->count : 0);
    q_int(op->q, ret->age_s > 0 ? ret->age_s : 0);
    query_submit(ps, op);
}

void pg_pres_publish(struct store *st, const char *aor, const char *if_match,
                            const char *new_etag, int64_t expires_at, const char *content_type,
                            const char *body, size_t body_len, int64_t now, store_pres_cb done,
                            void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = query_new(ps, S_PRES_PUBLISH, 1, aor, handle_pres,
                                 (union query_done){.pres = done}, arg);
    if (!op)
        return;
    struct pg_query *q = op->q;
    /* initial: a body; a change of etag (refresh, modify): the new one */
    if ((!if_match && (!body || !content_type || !new_etag)) ||
        (if_match && expires_at != 0 && !new_etag) || (body && !content_type))
        q->is_bad = 1;
    q_text(q, aor, PG_MAX_URI_BYTES);
    q_text(q, if_match, PG_MAX_FIELD_BYTES);
    q_text(q, new_etag, PG_MAX_FIELD_BYTES);
    q_int(q, expires_at);
    q_text(q, body ? content_type : NULL, PG_MAX_FIELD_BYTES);
    q_bytes(q, body, body_len);
    q_int(q, now);
    query_submit(ps, op);
}

void pg_pres_get(struct store *st, const char *aor, int64_t now, store_pres_cb done,
                        void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = query_new(ps, S_PRES_GET, 1, aor, handle_pres,
                                 (union query_done){.pres = done}, arg);
    if (!op)
        return;
    q_text(op->q, aor, PG_MAX_URI_BYTES);
    q_int(op->q, now);
    query_submit(ps, op);
}

void pg_pres_expire(struct store *st, int64_t now, store_aors_cb done, void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = query_new(ps, S_PRES_EXPIRE, 0, NULL, handle_aors,
                                 (union query_done){.aors = done}, arg);
    if (!op)
        return;
    q_int(op->q, now);
    query_submit(ps, op);
}

