/* users.c - digest users and the nonce secret of the PostgreSQL store (store.h: "digest
 * authentication"; schema/008_auth.sql) as rows of the generic query path (query.c), like
 * nodes.c. A user's reads and writes are keyed by its AOR, so they run in the order they were
 * made; the list and the secret go to the least busy connection. */
#include <stdlib.h>
#include <string.h>

#include "pg_impl.h"

/* A row of S_USER_GET / S_USERS_LIST. */
static int parse_user(const struct pg_op *op, const PGresult *res, int r, void *item)
{
    (void)op;
    struct auth_user *u = item;
    if (pg_bin_text(res, r, 0, 0, &u->aor) || pg_bin_text(res, r, 1, 0, &u->realm) ||
        pg_bin_text(res, r, 2, 0, &u->ha1_md5) || pg_bin_text(res, r, 3, 0, &u->ha1_sha256))
        return -1;
    return 0;
}

static void report_user(const struct pg_op *op, int status, const struct qresult *r)
{
    if (status == 0 && r->n == 0)
        status = 404;
    pg_query_done(op)->user(op->arg, status, status ? NULL : r->items);
}

static void report_users(const struct pg_op *op, int status, const struct qresult *r)
{
    pg_query_done(op)->users(op->arg, status, status ? NULL : r->items, status ? 0 : r->n);
}

/* The first column counts the rows written: none is 409 (create) or 404 (update, delete). */
static void report_written(const struct pg_op *op, int status, const struct qresult *r)
{
    if (status == 0 && r->v[0] == 0)
        status = pg_query_stmt(op) == S_USER_CREATE ? 409 : 404;
    if (pg_query_done(op)->status)
        pg_query_done(op)->status(op->arg, status);
}

struct secret_item {
    const char *p;
    size_t len;
};

static int parse_secret(const struct pg_op *op, const PGresult *res, int r, void *item)
{
    (void)op;
    struct secret_item *s = item;
    if (pg_bin_bytes(res, r, 0, &s->p, &s->len) || s->len == 0 || s->len > STORE_SECRET_MAX)
        return -1;
    return 0;
}

/* No row: another node created it while this statement ran; the caller asks again. */
static void report_secret(const struct pg_op *op, int status, const struct qresult *r)
{
    const struct secret_item *s = status == 0 && r->n ? r->items : NULL;
    if (status == 0 && !s)
        status = STORE_EUNAVAIL;
    pg_query_done(op)->secret(op->arg, status, s ? (const unsigned char *)s->p : NULL,
                              s ? s->len : 0);
}

#define ROW(id) [id - S_USER_FIRST] = {.stmt = id
static const struct query_row rows[S_RULES_FIRST - S_USER_FIRST] = {
    /* aor -> the user or no row */
    ROW(S_USER_GET), "u", 1, 4, 0, "", parse_user, sizeof(struct auth_user), report_user},
    /* aor, realm, ha1_md5, ha1_sha256 -> rows written */
    ROW(S_USER_CREATE), "uuff", 1, 1, 1, "i", NULL, 0, report_written},
    ROW(S_USER_UPDATE), "uuff", 1, 1, 1, "i", NULL, 0, report_written},
    /* aor -> rows removed */
    ROW(S_USER_DELETE), "u", 1, 1, 1, "i", NULL, 0, report_written},
    /* after, at most -> users */
    ROW(S_USERS_LIST), "ui", 0, 4, 0, "", parse_user, sizeof(struct auth_user), report_users},
    /* proposal -> the secret */
    ROW(S_AUTH_SECRET), "b", 0, 1, 0, "", parse_secret, sizeof(struct secret_item),
    report_secret},
};
#undef ROW

static void run(struct store *st, enum stmt_id id, const struct qval *p, int is_bad,
                union query_done done, void *arg)
{
    pg_query_run(pg_of(st), &rows[id - S_USER_FIRST], p, is_bad, done, arg);
}

void pg_user_get(struct store *st, const char *aor, store_user_cb done, void *arg)
{
    const struct qval p[] = {{.s = aor}};
    run(st, S_USER_GET, p, !aor || !*aor, (union query_done){.user = done}, arg);
}

void pg_user_put(struct store *st, const struct auth_user *u, int is_create, store_status_cb done,
                 void *arg)
{
    const struct qval p[] = {{.s = u->aor}, {.s = u->realm}, {.s = u->ha1_md5},
                             {.s = u->ha1_sha256}};
    int is_bad = !u->aor || !u->realm || !u->ha1_md5 || !u->ha1_sha256;
    run(st, is_create ? S_USER_CREATE : S_USER_UPDATE, p, is_bad,
        (union query_done){.status = done}, arg);
}

void pg_user_delete(struct store *st, const char *aor, store_status_cb done, void *arg)
{
    const struct qval p[] = {{.s = aor}};
    run(st, S_USER_DELETE, p, !aor || !*aor, (union query_done){.status = done}, arg);
}

void pg_users_list(struct store *st, const char *after, size_t max, store_users_cb done,
                   void *arg)
{
    const struct qval p[] = {{.s = after && *after ? after : NULL}, {.i = (int64_t)max}};
    run(st, S_USERS_LIST, p, max == 0, (union query_done){.users = done}, arg);
}

void pg_auth_secret(struct store *st, const unsigned char *proposal, size_t len,
                    store_secret_cb done, void *arg)
{
    const struct qval p[] = {{.s = (const char *)proposal, .n = len}};
    run(st, S_AUTH_SECRET, p, !proposal || len < 16 || len > STORE_SECRET_MAX,
        (union query_done){.secret = done}, arg);
}
