/* location.c - the PostgreSQL store's location service: batched updates, lookups, expire.
 *
 * Location updates run as transactions of two flights each:
 *     flight 1:  BEGIN; lock the AORs (advisory, so every node serialises on each); SELECT their
 *                bindings -- the callers' update functions run on the SELECT's rows --
 *     flight 2:  replace their bindings in one statement; COMMIT        (or ROLLBACK to abort)
 * One transaction (a "batch") takes the updates queued one after another on the connection, of
 * distinct AORs, up to PG_BATCH_MAX: alone when the load is light, more as it grows (the updates
 * that arrive while a batch is in flight wait for it: see the routing in pipeline.c), so that
 * statements, round trips and commits are shared. A lookup is one statement (S_GET); an
 * expire deletes, commits, then counts. Rows come back as text; array parameters (array.c) carry
 * a batch's AORs and bindings.
 *
 * One flight instead of two. The node remembers, per AOR, what its last committed REPLACE left
 * in the table (`known`: the rows, their number, and the xmin of the transaction that wrote them
 * all, since a REPLACE deletes every row of its AORs and inserts the new ones), and knows nothing
 * of an AOR otherwise, which it takes to have no rows. A batch whose update functions all decide
 * to write on those rows (live ones, in lookup order) is sent in one flight -- BEGIN; lock;
 * REPLACE; COMMIT -- whose REPLACE checks, under the lock, that each AOR still has exactly that
 * many rows, all written by that transaction, and writes nothing otherwise. Another node's write,
 * an expire, or this node's restart all change the count or the xmin, so a stale memory costs a
 * round trip (the members run again the two-flight way, reading their rows), never a wrong write.
 * Only updates submitted by store_location_update_optimistic go this way (their update functions
 * may run twice, or on rows that were not current), and only in batches of at most
 * PG_SPEC_MAX_MEMBERS (one stale member sends the whole batch round again). The memory
 * (known.c) is bounded by PG_KNOWN_MAX AORs (it is emptied when full). Whether "no rows" is a good guess
 * for an AOR the node does not know depends on the load (new users, or refreshes after a restart
 * or an eviction), so the node keeps score (guess_credit): every AOR it did not know counts for
 * the guess when it turns out to have no rows (read in flight 1, or a one-flight write that went
 * through) and against it otherwise; while the score is negative, a batch with such an AOR reads
 * first. A wrong guess thus costs a round trip a few times, not on every REGISTER. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/log.h"
#include "../../base/loop.h"
#include "pg_impl.h"

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

int pg_get_i64(const PGresult *res, int row, int col, int64_t min, int64_t max, int64_t *out)
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
    if (!rc) rc = pg_get_i64(res, row, 3, 0, UINT32_MAX, &cseq);
    if (!rc) rc = pg_get_i64(res, row, 4, INT64_MIN, INT64_MAX, &expires_at);
    if (!rc) rc = pg_get_i64(res, row, 5, -1, 1000, &q);
    if (!rc) rc = get_text(res, row, 6, 1, &b->path);
    if (!rc) rc = get_text(res, row, 7, 1, &b->instance);
    if (!rc) rc = pg_get_i64(res, row, 8, INT_MIN, INT_MAX, &reg_id);
    if (!rc) rc = get_text(res, row, 9, 1, &b->user_agent);
    if (!rc) rc = get_text(res, row, 10, 1, &b->received);
    if (!rc) rc = pg_get_i64(res, row, 11, INT64_MIN, INT64_MAX, &conn_id);
    if (!rc) rc = get_text(res, row, 12, 1, &b->node);
    if (!rc) rc = pg_get_i64(res, row, 13, INT64_MIN, INT64_MAX, &updated_at);
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

/* Rows of a LOC_COLS result into l, at most max. Invalid rows (which only a foreign writer could
 * have put there) are skipped with a warning. 0, -1 wrong result shape, -ENOMEM. */
static int parse_bindings(const PGresult *res, int ncols, struct binding_list *l, int max)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != ncols)
        return -1;
    int n = PQntuples(res);
    if (n > max)
        n = max;
    int nbad = 0;
    for (int i = 0; i < n; i++) {
        if (PQgetisnull(res, i, 0)) /* a REPLACE's row of NULLs (nothing inserted) */
            continue;
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


/* Are the update function's bindings fit to store? 0, or -1 (cause logged unless is_quiet: an
 * optimistic run on rows that may not be current says nothing; the real run will). */
static int check_bindings(const struct pg_op *op, const struct binding_list *out, int is_quiet)
{
    if (out->len > PG_MAX_BINDINGS) {
        if (!is_quiet)
            LOG_WARN("postgres: update of aor=%s has %zu bindings (max %d)", op->aor, out->len,
                     PG_MAX_BINDINGS);
        return -1;
    }
    for (size_t i = 0; i < out->len; i++) {
        const struct binding *b = &out->v[i];
        if (!b->contact) {
            if (!is_quiet)
                LOG_ERROR("postgres: update of aor=%s gave a binding without contact", op->aor);
            return -1;
        }
        const char *const fields[] = {b->contact, b->call_id, b->path, b->instance,
                                      b->user_agent, b->received, b->node};
        for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
            if (fields[k] && strlen(fields[k]) > PG_MAX_FIELD_BYTES) {
                if (!is_quiet)
                    LOG_WARN("postgres: update of aor=%s has a field longer than %d bytes",
                             op->aor, PG_MAX_FIELD_BYTES);
                return -1;
            }
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(out->v[j].contact, b->contact) == 0) {
                if (!is_quiet)
                    LOG_ERROR("postgres: update of aor=%s gave contact %s twice", op->aor,
                              b->contact);
                return -1;
            }
        }
    }
    return 0;
}

/* The parameters of one S_REPLACE, built update by update. */
struct replace_params {
    struct pg_arr aors;                 /* $1: the AORs replaced */
    struct pg_arr col[REPLACE_NARRAYS]; /* $2..: one array per column, one element per binding */
    struct pg_arr nows;                 /* the `now` of each AOR */
    struct pg_arr ncheck, xcheck;       /* the rows expected for each AOR (-1: no check), xmin */
    size_t naors, nrows;
};

/* Add one AOR: out replaces its rows, which are expected to be ncheck rows written by
 * transaction xcheck (ncheck -1: read under the lock, no check). */
static void rp_add(struct replace_params *rp, const char *aor, int64_t now,
                   const struct binding_list *out, int64_t ncheck, const char *xcheck)
{
    pg_arr_int(&rp->ncheck, rp->naors, ncheck);
    pg_arr_text(&rp->xcheck, rp->naors, xcheck);
    pg_arr_int(&rp->nows, rp->naors, now);
    pg_arr_text(&rp->aors, rp->naors++, aor);
    for (size_t i = 0; i < out->len; i++, rp->nrows++) {
        const struct binding *b = &out->v[i];
        size_t r = rp->nrows;
        pg_arr_text(&rp->col[0], r, aor);
        pg_arr_text(&rp->col[1], r, b->contact);
        pg_arr_text(&rp->col[2], r, b->call_id);
        pg_arr_int(&rp->col[3], r, b->cseq);
        pg_arr_int(&rp->col[4], r, b->expires_at);
        pg_arr_int(&rp->col[5], r, b->q);
        pg_arr_text(&rp->col[6], r, b->path);
        pg_arr_text(&rp->col[7], r, b->instance);
        pg_arr_int(&rp->col[8], r, b->reg_id);
        pg_arr_text(&rp->col[9], r, b->user_agent);
        pg_arr_text(&rp->col[10], r, b->received);
        pg_arr_int(&rp->col[11], r, (int64_t)b->conn_id);
        pg_arr_text(&rp->col[12], r, b->node);
        pg_arr_int(&rp->col[13], r, b->updated_at);
    }
}

/* Close the arrays; values[] then points into rp. 0, or -1 when too large or out of memory. */
#define REPLACE_NPARAMS (4 + REPLACE_NARRAYS)

static int rp_finish(struct replace_params *rp, const char *values[REPLACE_NPARAMS])
{
    pg_arr_put(&rp->aors, "}", 1);
    pg_arr_put(&rp->nows, "}", 1);
    pg_arr_put(&rp->ncheck, "}", 1);
    pg_arr_put(&rp->xcheck, "}", 1);
    int is_bad = rp->aors.is_bad | rp->nows.is_bad | rp->ncheck.is_bad | rp->xcheck.is_bad;
    size_t total = rp->aors.len + rp->nows.len + rp->ncheck.len + rp->xcheck.len;
    for (int k = 0; k < REPLACE_NARRAYS; k++) {
        pg_arr_put(&rp->col[k], rp->nrows ? "}" : "{}", rp->nrows ? 1 : 2);
        is_bad |= rp->col[k].is_bad;
        total += rp->col[k].len;
    }
    if (is_bad || total > PG_MAX_PARAM_BYTES)
        return -1;
    values[0] = rp->aors.p;
    for (int k = 0; k < REPLACE_NARRAYS; k++)
        values[1 + k] = rp->col[k].p;
    values[1 + REPLACE_NARRAYS] = rp->nows.p;
    values[2 + REPLACE_NARRAYS] = rp->ncheck.p;
    values[3 + REPLACE_NARRAYS] = rp->xcheck.p;
    return 0;
}

/* rp's arrays are the store's scratch arrays 0 .. REPLACE_NARRAYS + 3 (pg_arr_borrow): borrowed
 * by rp_init, given back by rp_free. */
static void rp_init(struct replace_params *rp, struct pg_store *ps)
{
    memset(rp, 0, sizeof *rp);
    for (int k = 0; k < REPLACE_NARRAYS; k++)
        rp->col[k] = pg_arr_borrow(ps, k);
    rp->aors = pg_arr_borrow(ps, REPLACE_NARRAYS);
    rp->nows = pg_arr_borrow(ps, REPLACE_NARRAYS + 1);
    rp->ncheck = pg_arr_borrow(ps, REPLACE_NARRAYS + 2);
    rp->xcheck = pg_arr_borrow(ps, REPLACE_NARRAYS + 3);
}

static void rp_free(struct replace_params *rp, struct pg_store *ps)
{
    for (int k = 0; k < REPLACE_NARRAYS; k++)
        pg_arr_return(ps, k, &rp->col[k]);
    pg_arr_return(ps, REPLACE_NARRAYS, &rp->aors);
    pg_arr_return(ps, REPLACE_NARRAYS + 1, &rp->nows);
    pg_arr_return(ps, REPLACE_NARRAYS + 2, &rp->ncheck);
    pg_arr_return(ps, REPLACE_NARRAYS + 3, &rp->xcheck);
}

/* Speculate: run each member's update function on what this node knows of its AOR (no rows when
 * nothing), as S_SELECT would have returned it, and fill rp with checked replacements. 0 when every
 * member decided to write (they are then decided and included); -1 when one did not (or out of
 * memory): the batch goes the two-flight way and rp is to be freed. */
static int spec_decide(struct pg_conn *c, struct pg_op *b, struct replace_params *rp)
{
    if (b->nmembers > PG_SPEC_MAX_MEMBERS)
        return -1;
    for (int i = 0; i < b->nmembers; i++)
        if (b->members[i]->no_spec || b->members[i]->is_solo || b->members[i]->retries)
            return -1;
    for (int i = 0; i < b->nmembers; i++) {
        struct pg_op *m = b->members[i];
        struct binding_list cur, out;
        binding_list_init(&cur);
        binding_list_init(&out);
        int64_t nrows;
        char xmin[PG_XMIN_MAX];
        int rc = pg_known_current(c->ps, m->aor, m->now, &cur, &nrows, xmin);
        m->is_guessed = rc == 1;
        if (rc == 1)
            rc = c->ps->guess_credit < 0 ? -1 : 0;
        if (rc == 0)
            rc = m->update(m->arg, cur.v, cur.len, &out);
        if (rc == 0)
            rc = check_bindings(m, &out, 1);
        if (rc == 0) {
            rp_add(rp, m->aor, m->now, &out, nrows, xmin);
            m->out = out; /* kept until the verdict */
            binding_list_init(&out);
        }
        binding_list_free(&cur);
        binding_list_free(&out);
        if (rc)
            return -1;
    }
    for (int i = 0; i < b->nmembers; i++)
        b->members[i]->is_decided = b->members[i]->is_included = 1;
    return 0;
}

static int is_same_aor(const struct pg_op *a, const struct pg_op *b)
{
    return a->aor_hash == b->aor_hash && strcmp(a->aor, b->aor) == 0;
}

/* Does op's AOR have an update in flight on c? Then op (an update) must wait: if the first had
 * to be retried, the second would overtake it. */
int pg_is_aor_updating(const struct pg_conn *c, const struct pg_op *op)
{
    for (const struct pg_op *s = c->sent.head; s; s = s->next)
        if (s->kind == OP_BATCH)
            for (int i = 0; i < s->nmembers; i++)
                if (is_same_aor(s->members[i], op))
                    return 1;
    return 0;
}

/* A batch of the updates at the head of the queue (the head may start): consecutive ones, of
 * distinct AORs that are not being updated already, at most PG_BATCH_MAX; an update that failed
 * in a batch before (is_solo) goes alone. They leave the queue. NULL when out of memory. */
struct pg_op *pg_batch_take(struct pg_conn *c)
{
    struct pg_op *b = calloc(1, sizeof *b + PG_BATCH_MAX * sizeof b->members[0]);
    if (!b)
        return NULL;
    b->kind = OP_BATCH;
    b->is_internal = 1;
    b->conn = c;
    for (struct pg_op *op = c->wait.head, *next; op && b->nmembers < PG_BATCH_MAX; op = next) {
        next = op->next;
        if (op->kind != OP_UPDATE || (b->nmembers && (op->is_solo || pg_is_aor_updating(c, op))))
            break;
        int is_dup = 0;
        for (int i = 0; i < b->nmembers && !is_dup; i++)
            is_dup = is_same_aor(b->members[i], op);
        if (is_dup)
            break;
        pg_list_unlink(&c->wait, op);
        op->where = W_BATCH;
        b->members[b->nmembers++] = op;
        if (op->is_solo)
            break;
    }
    return b;
}

static int send_replace(struct pg_conn *c, struct pg_op *b, const char *const *values);

/* BEGIN a location update transaction, and unless the operator wants registrations committed
 * synchronously, say so (S_ASYNC). 0, or -1 when the connection was dropped. */
static int send_begin(struct pg_conn *c, struct pg_op *b)
{
    if (pg_send_stmt(c, b, S_BEGIN, NULL))
        return -1;
    return c->ps->reg_sync_commit ? 0 : pg_send_stmt(c, b, S_ASYNC, NULL);
}

/* Send batch b in one flight when its update functions all write on what this node knows of the
 * AORs (see the top of the file): BEGIN; lock; REPLACE (checked); COMMIT. 0 sent, 1 not possible
 * (nothing sent: the two-flight way), -1 the connection was dropped (b and its members are gone).
 * lock_values: S_LOCK's parameters. */
static int batch_start_spec(struct pg_conn *c, struct pg_op *b, const char *const *lock_values)
{
    struct replace_params rp;
    rp_init(&rp, c->ps);
    const char *values[REPLACE_NPARAMS];
    if (spec_decide(c, b, &rp) || rp_finish(&rp, values)) {
        for (int i = 0; i < b->nmembers; i++) {
            b->members[i]->is_decided = b->members[i]->is_included = 0;
            binding_list_free(&b->members[i]->out);
        }
        rp_free(&rp, c->ps);
        return 1;
    }
    b->is_spec = 1;
    int rc = send_begin(c, b) || pg_send_stmt(c, b, S_LOCK, lock_values) ? -1 : send_replace(c, b, values);
    rp_free(&rp, c->ps);
    return rc;
}

/* Send flight 1 of batch b: BEGIN; lock its AORs; SELECT their bindings. 0, or -1 when the
 * connection was dropped (b and its members are gone). */
int pg_batch_start(struct pg_conn *c, struct pg_op *b)
{
    /* the store's last two scratch arrays (see rp_init for the others) */
    struct pg_arr aors = pg_arr_borrow(c->ps, PG_SCRATCH_ARRAYS - 2);
    struct pg_arr nows = pg_arr_borrow(c->ps, PG_SCRATCH_ARRAYS - 1);
    for (int i = 0; i < b->nmembers; i++) {
        struct pg_op *m = b->members[i];
        m->is_decided = m->is_included = 0;
        m->status = 0;
        binding_list_free(&m->out); /* an earlier attempt's */
        pg_arr_text(&aors, (size_t)i, m->aor);
        pg_arr_int(&nows, (size_t)i, m->now);
    }
    pg_arr_put(&aors, "}", 1);
    pg_arr_put(&nows, "}", 1);
    const char *values[2] = {aors.p, nows.p};
    int rc = 0;
    if (aors.is_bad || nows.is_bad) {
        /* out of memory: give up on these, keep the connection */
        pg_list_unlink(&c->sent, b);
        for (int i = 0; i < b->nmembers; i++)
            pg_op_finish(b->members[i], STORE_EFAIL, NULL, 0);
        pg_op_free(b);
    } else if (pg_needs_new_segment(c, b->members[0]) && pg_end_segment(c)) {
        rc = -1;
    } else if ((rc = batch_start_spec(c, b, values)) > 0) {
        rc = 0;
        b->is_spec = 0;
        c->owner = b;
        if (send_begin(c, b) || pg_send_stmt(c, b, S_LOCK, values))
            rc = -1;
        else
            rc = pg_send_stmt(c, b, S_SELECT, values);
    }
    pg_arr_return(c->ps, PG_SCRATCH_ARRAYS - 2, &aors);
    pg_arr_return(c->ps, PG_SCRATCH_ARRAYS - 1, &nows);
    return rc;
}

/* Rows of a result of ncols columns, LOC_COLS first, split by member: per[i] gets the rows of b->members[i] (each list
 * initialised here; the caller frees them). 0, -1 wrong result shape, -ENOMEM. */
static int batch_parse(const struct pg_op *b, const PGresult *res, int ncols,
                       struct binding_list *per)
{
    for (int i = 0; i < b->nmembers; i++)
        binding_list_init(&per[i]);
    struct binding_list all;
    binding_list_init(&all);
    int rc = parse_bindings(res, ncols, &all, PG_MAX_BINDINGS * b->nmembers);
    for (size_t r = 0; rc == 0 && r < all.len; r++) {
        for (int i = 0; i < b->nmembers; i++) {
            if (strcmp(all.v[r].aor, b->members[i]->aor) == 0) {
                if (binding_list_push_move(&per[i], &all.v[r]))
                    rc = -ENOMEM;
                break;
            }
        }
    }
    binding_list_free(&all);
    return rc;
}

/* Flight 1 of batch b is back (res: the SELECT's result): run each update function on its AOR's
 * bindings, then send flight 2: the REPLACE of every AOR whose update went ahead, and COMMIT; or
 * ROLLBACK when none did (or flight 1 failed). */
void pg_batch_decide(struct pg_conn *c, struct pg_op *b, const PGresult *res)
{
    if (c->owner == b)
        c->owner = NULL;
    if (b->is_skipped && !b->is_begun) { /* never started: send its updates again */
        pg_list_unlink(&c->sent, b);
        for (int i = 0; i < b->nmembers; i++)
            pg_op_resend(c, b->members[i]);
        pg_op_free(b);
        return;
    }
    struct replace_params rp;
    rp_init(&rp, c->ps);
    struct binding_list *per = NULL;
    if (!b->has_error && !b->is_skipped) {
        per = calloc((size_t)b->nmembers, sizeof *per);
        int rc = per ? batch_parse(b, res, LOC_NCOLS, per) : -ENOMEM;
        if (rc) {
            LOG_WARN("postgres update failed aor=%s reason=\"%s\"", b->members[0]->aor,
                     rc == -ENOMEM ? "out of memory" : "unexpected result shape");
            b->has_error = 1;
        }
        for (int i = 0; per && i < b->nmembers; i++) {
            struct pg_op *m = b->members[i];
            if (!b->has_error && !pg_known_has(c->ps, m->aor))
                pg_guess_learn(c->ps, per[i].len == 0);
            struct binding_list out;
            binding_list_init(&out);
            int status = b->has_error ? STORE_EFAIL
                                      : m->update(m->arg, per[i].v, per[i].len, &out);
            if (status == 0 && check_bindings(m, &out, 0))
                status = STORE_EFAIL;
            if (!b->has_error) {
                m->is_decided = 1;
                m->status = status > 0 ? status : status ? STORE_EFAIL : 0;
                if (status == 0) {
                    m->is_included = 1;
                    rp_add(&rp, m->aor, m->now, &out, -1, "");
                    m->out = out; /* kept until COMMIT is through */
                    binding_list_init(&out);
                }
            }
            binding_list_free(&out);
            binding_list_free(&per[i]);
        }
        free(per);
    }
    const char *values[REPLACE_NPARAMS];
    if (rp.naors && rp_finish(&rp, values)) {
        /* too large for one statement (or out of memory): as if the REPLACE had failed */
        LOG_WARN("postgres: update of aor=%s too large or out of memory", b->members[0]->aor);
        for (int i = 0; i < b->nmembers; i++)
            if (b->members[i]->is_included)
                b->members[i]->is_decided = b->members[i]->is_included = 0;
        b->has_error = 1;
        rp.naors = 0;
    }
    if (rp.naors == 0) {
        rp_free(&rp, c->ps);
        pg_send_stmt(c, b, S_ROLLBACK, NULL);
        return;
    }
    send_replace(c, b, values);
    rp_free(&rp, c->ps); /* libpq copied the values */
}

/* Flight 2 (or the end of the one flight): the REPLACE of rp's AORs, and COMMIT. 0, or -1 when the
 * connection was dropped. */
static int send_replace(struct pg_conn *c, struct pg_op *b, const char *const *values)
{
    c->unsure = b;
    c->is_unsure_synced = 0;
    if (pg_send_stmt(c, b, S_REPLACE, values))
        return -1;
    return pg_send_stmt(c, b, S_COMMIT, NULL);
}

/* Batch b's transaction is over without a commit (rolled back, or ended by a failed COMMIT).
 * Each member whose update function decided not to write reports that; the others are retried
 * if the database asked for it (up to PG_MAX_RETRIES), else sent again one per transaction to
 * find the one that failed, or (alone already) fail with STORE_EFAIL. */
void pg_batch_abandon(struct pg_conn *c, struct pg_op *b)
{
    pg_list_unlink(&c->sent, b);
    int nfailed = 0;
    for (int i = 0; i < b->nmembers; i++)
        nfailed += !b->members[i]->is_decided || b->members[i]->is_included;
    /* Resend first, report after: the callbacks may drop the connection or destroy the store. */
    struct pg_op *report = NULL, **tail = &report;
    for (int i = 0; i < b->nmembers; i++) {
        struct pg_op *m = b->members[i];
        int is_failed = !m->is_decided || m->is_included;
        m->no_spec |= b->is_spec; /* the next attempt reads the rows */
        if (is_failed && b->want_retry && m->retries < PG_MAX_RETRIES) {
            m->retries++;
            LOG_DEBUG("postgres update retry aor=%s attempt=%d", m->aor, m->retries + 1);
            pg_op_resend(c, m);
            continue;
        }
        if (is_failed && !b->want_retry && nfailed > 1) {
            m->is_solo = 1;
            pg_op_resend(c, m);
            continue;
        }
        if (is_failed)
            m->status = STORE_EFAIL;
        m->where = W_NONE;
        m->next = NULL;
        *tail = m;
        tail = &m->next;
    }
    pg_op_free(b);
    for (struct pg_op *m = report, *next; m; m = next) {
        next = m->next;
        pg_op_finish(m, m->status, NULL, 0);
    }
}

/* The REPLACE's verdict: 1 written, 0 not (what the node knew was stale), -1 unreadable. *xmin
 * gets the writing transaction ("" when no row was inserted). */
static int replace_verdict(const PGresult *res, char *xmin, size_t size)
{
    xmin[0] = '\0';
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 2 ||
        PQntuples(res) != 1 || PQgetisnull(res, 0, 1))
        return -1;
    const char *ok = PQgetvalue(res, 0, 1);
    if (!PQgetisnull(res, 0, 0))
        snprintf(xmin, size, "%s", PQgetvalue(res, 0, 0));
    return ok[0] == 't';
}

/* Batch b committed: report to each member the bindings as stored (or its own decision). What
 * the REPLACE wrote for a member is exactly its update function's bindings (m->out): a value the
 * table could not hold would have failed the statement. When the REPLACE found the rows other
 * than this node knew (one flight), nothing was written: the members run again, reading their
 * rows. */
static void batch_committed(struct pg_conn *c, struct pg_op *b)
{
    pg_list_unlink(&c->sent, b);
    char xmin[PG_XMIN_MAX];
    int verdict = replace_verdict(b->stored, xmin, sizeof xmin);
    for (int i = 0; verdict >= 0 && b->is_spec && i < b->nmembers; i++)
        if (b->members[i]->is_guessed)
            pg_guess_learn(c->ps, verdict); /* a wrong guess is one of these, or a stale memory */
    if (verdict == 0) {
        for (int i = 0; i < b->nmembers; i++) {
            struct pg_op *m = b->members[i];
            pg_known_forget(c->ps, m->aor);
            m->is_decided = m->is_included = 0;
            m->no_spec = 1;
            pg_op_resend(c, m);
        }
        pg_op_free(b);
        return;
    }
    if (verdict < 0) /* committed, but we cannot tell: the callers answer 500 and the UAs retry */
        LOG_WARN("postgres update aor=%s: unexpected result of the replace", b->members[0]->aor);
    for (int i = 0; i < b->nmembers; i++) {
        struct pg_op *m = b->members[i];
        if (m->is_included) {
            /* the rows and the AOR outlive m: remembered once its caller has seen them */
            struct binding_list rows = m->out;
            binding_list_init(&m->out);
            char *aor = m->aor;
            m->aor = NULL;
            int rc = verdict > 0 ? 0 : -1;
            for (size_t k = 0; rc == 0 && k < rows.len; k++)
                if (!rows.v[k].aor && !(rows.v[k].aor = strdup(aor)))
                    rc = -ENOMEM;
            if (rc == 0)
                store_sort_bindings(rows.v, rows.len);
            pg_op_finish(m, rc ? STORE_EFAIL : 0, rc ? NULL : rows.v, rc ? 0 : rows.len);
            if (rc == 0)
                pg_known_set(c->ps, aor, xmin, &rows);
            else
                pg_known_forget(c->ps, aor);
            binding_list_free(&rows);
            free(aor);
        } else {
            pg_op_finish(m, m->status, NULL, 0);
        }
    }
    pg_op_free(b);
}

void pg_batch_commit_result(struct pg_conn *c, struct pg_op *b, ExecStatusType rs)
{
    if (c->unsure == b) {
        c->unsure = NULL;
        c->is_unsure_synced = 0;
    }
    if (rs == PGRES_COMMAND_OK) {
        batch_committed(c, b);
    } else if (rs == PGRES_PIPELINE_ABORTED && b->is_spec && !b->is_begun && !b->has_error) {
        /* one flight skipped whole after another operation's error: no transaction of its own
         * to roll back; its updates go again */
        pg_list_unlink(&c->sent, b);
        for (int i = 0; i < b->nmembers; i++) {
            b->members[i]->is_decided = b->members[i]->is_included = 0;
            pg_op_resend(c, b->members[i]);
        }
        pg_op_free(b);
    } else if (rs == PGRES_PIPELINE_ABORTED) {
        /* The REPLACE failed: the transaction stays aborted until ROLLBACK. Nothing was sent
         * behind this segment meanwhile, so the ROLLBACK is next. */
        pg_send_stmt(c, b, S_ROLLBACK, NULL);
    } else {
        pg_batch_abandon(c, b); /* a failed COMMIT ends the transaction */
    }
}

void pg_lookup_result(struct pg_conn *c, struct pg_op *op, const PGresult *res)
{
    if (op->is_skipped) {
        pg_op_resend(c, op);
        return;
    }
    if (op->has_error) {
        pg_op_finish(op, STORE_EFAIL, NULL, 0);
        return;
    }
    /* no live binding: one row of NULLs and `known` (see S_GET) */
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
        PQnfields(res) == LOC_NCOLS + 1 && PQgetisnull(res, 0, 0)) {
        const char *known = PQgetvalue(res, 0, LOC_NCOLS);
        pg_op_finish(op, known && known[0] == 't' ? STORE_OFFLINE : 0, NULL, 0);
        return;
    }
    struct binding_list l;
    binding_list_init(&l);
    int rc = parse_bindings(res, LOC_NCOLS + 1, &l, PG_MAX_BINDINGS);
    if (rc)
        LOG_WARN("postgres lookup failed aor=%s reason=\"%s\"", op->aor,
                 rc == -ENOMEM ? "out of memory" : "unexpected result shape");
    else
        store_sort_bindings(l.v, l.len);
    pg_op_finish(op, rc ? STORE_EFAIL : 0, l.v, l.len);
    binding_list_free(&l);
}

/* The count ends an expire (after its DELETE committed) or is the internal refresh. */
void pg_count_result(struct pg_conn *c, struct pg_op *op, const PGresult *res)
{
    struct pg_store *ps = c->ps;
    int64_t aors, nb;
    if (pg_res_ok(res) && PQntuples(res) == 1 && PQnfields(res) == 2 &&
        pg_get_i64(res, 0, 0, 0, LONG_MAX, &aors) == 0 &&
        pg_get_i64(res, 0, 1, 0, LONG_MAX, &nb) == 0) {
        ps->count_aors = (long)aors;
        ps->count_bindings = (long)nb;
    }
    if (op->is_skipped) { /* the DELETE (or this) was skipped after another's error */
        pg_op_resend(c, op);
        return;
    }
    pg_op_finish(op, op->status, NULL, 0);
}

long pg_location_count(const struct store *st, long *nbindings)
{
    const struct pg_store *ps = pg_of(st);
    if (nbindings)
        *nbindings = ps->count_bindings;
    return ps->count_aors;
}
void pg_location_update(struct store *st, const char *aor, int64_t now,
                               store_update_fn update, store_bindings_cb done, void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = pg_op_new(ps, OP_UPDATE, aor, now, done, NULL, arg);
    if (!op)
        return;
    op->update = update;
    op->no_spec = 1;
    pg_op_submit(ps, op);
}

void pg_location_update_optimistic(struct store *st, const char *aor, int64_t now,
                                   store_update_fn update, store_bindings_cb done, void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = pg_op_new(ps, OP_UPDATE, aor, now, done, NULL, arg);
    if (!op)
        return;
    op->update = update;
    pg_op_submit(ps, op);
}

void pg_location_lookup(struct store *st, const char *aor, int64_t now,
                               store_bindings_cb done, void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = pg_op_new(ps, OP_LOOKUP, aor, now, done, NULL, arg);
    if (!op)
        return;
    pg_op_submit(ps, op);
}

void pg_location_expire(struct store *st, int64_t now, store_status_cb done, void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_op *op = pg_op_new(ps, OP_EXPIRE, NULL, now, NULL, done, arg);
    if (!op)
        return;
    pg_op_submit(ps, op);
}


/* ---- the control plane's list of AORs: one read of the generic query path (query.c) ---- */

static int parse_aor_count(const struct pg_op *op, const PGresult *res, int r, void *item)
{
    (void)op;
    struct aor_count *a = item;
    int64_t n;
    if (pg_bin_text(res, r, 0, 0, &a->aor) || pg_bin_i64(res, r, 1, &n) || n <= 0)
        return -1;
    a->bindings = (long)n;
    return 0;
}

static void report_aor_counts(const struct pg_op *op, int status, const struct qresult *r)
{
    pg_query_done(op)->aor_counts(op->arg, status, status ? NULL : r->items, status ? 0 : r->n);
}

/* after, now, max -> AORs after `after` with their live bindings */
static const struct query_row list_row = {S_LOC_LIST, "uii", 0, 2, 0, "", parse_aor_count,
                                          sizeof(struct aor_count), report_aor_counts};

void pg_location_list(struct store *st, const char *after, size_t max, int64_t now,
                      store_aor_counts_cb done, void *arg)
{
    const struct qval p[] = {{.s = after && *after ? after : NULL}, {.i = now},
                             {.i = max < INT32_MAX ? (int64_t)max : INT32_MAX}};
    pg_query_run(pg_of(st), &list_row, p, 0, (union query_done){.aor_counts = done}, arg);
}
