/* im_presence.c - the IM and presence operations of the PostgreSQL store as rows: for each, its
 * statement, its parameters, the shape of its result and who hears of it (struct query_row).
 * query.c sends every one of them and reads every result the same way; what is left here is
 * what differs: the rows, a parser per kind of list row, a reporter per callback type, and the
 * store entry points, which only check their arguments and lay out the parameters. */
#include <stdlib.h>
#include <string.h>

#include "pg_impl.h"

/* ---- list rows: one item per result row ---- */

/* A member or an AOR: one text column. */
static int parse_string(const struct pg_op *op, const PGresult *res, int r, void *item)
{
    (void)op;
    return pg_bin_text(res, r, 0, 0, item) ? -1 : 0;
}

/* A message of S_IM_READ (columns 2..9; a row with no message carries the window alone). */
static int parse_message(const struct pg_op *op, const PGresult *res, int r, void *item)
{
    struct im_message *m = item;
    if (PQgetisnull(res, r, 2))
        return QROW_SKIP;
    m->topic = op->aor;
    if (pg_bin_i64(res, r, 2, &m->seq) || pg_bin_text(res, r, 3, 0, &m->sender) ||
        pg_bin_text(res, r, 4, 1, &m->sender_device) || pg_bin_text(res, r, 5, 0, &m->recipient) ||
        pg_bin_bool(res, r, 6, &m->is_copy) || pg_bin_text(res, r, 7, 0, &m->content_type) ||
        pg_bin_bytes(res, r, 8, &m->body, &m->body_len) || pg_bin_i64(res, r, 9, &m->created_at))
        return -1;
    return 0;
}

/* A topic of S_IM_TOPICS_LIST: uri, is_group, last_seq, members. */
static int parse_topic_row(const struct pg_op *op, const PGresult *res, int r, void *item)
{
    (void)op;
    struct im_topic_row *t = item;
    return pg_bin_text(res, r, 0, 0, &t->topic) || pg_bin_bool(res, r, 1, &t->is_group) ||
                   pg_bin_i64(res, r, 2, &t->last_seq) || pg_bin_i64(res, r, 3, &t->nmembers)
               ? -1
               : 0;
}

/* Rows (status, etag, expires_at, content_type, body, updated_at): a row with status > 0 is the
 * answer (412); rows with a NULL etag stand for "none". */
static int parse_publication(const struct pg_op *op, const PGresult *res, int r, void *item)
{
    struct pres_publication *p = item;
    int64_t st;
    if (pg_bin_i32(res, r, 0, &st))
        return -1;
    if (st != 0)
        return st > 0 && st < 700 ? (int)st : -1;
    if (PQgetisnull(res, r, 1))
        return QROW_SKIP;
    p->aor = op->aor;
    if (pg_bin_text(res, r, 1, 0, &p->etag) || pg_bin_i64(res, r, 2, &p->expires_at) ||
        pg_bin_text(res, r, 3, 0, &p->content_type) ||
        pg_bin_bytes(res, r, 4, &p->body, &p->body_len) || pg_bin_i64(res, r, 5, &p->updated_at))
        return -1;
    return 0;
}

/* ---- reporters: the parsed result -> the caller's callback (nothing but NULL/0 on failure) --- */

static void report_topic(const struct pg_op *op, int status, const struct qresult *r)
{
    struct im_topic_info info = {(int)r->v[0], (int)r->v[1], r->v[2], r->v[3]};
    pg_query_done(op)->topic(op->arg, status, status ? NULL : &info);
}

static void report_publish(const struct pg_op *op, int status, const struct qresult *r)
{
    pg_query_done(op)->publish(op->arg, status, r->v[0], r->v[1], (int)r->v[2]);
}

static void report_messages(const struct pg_op *op, int status, const struct qresult *r)
{
    pg_query_done(op)->messages(op->arg, status, status ? NULL : r->items, r->n, r->v[0], r->v[1]);
}

/* Group create / delete: the first column counts the group rows made / deleted. */
static void report_group(const struct pg_op *op, int status, const struct qresult *r)
{
    if (status == 0 && r->v[0] == 0)
        status = pg_query_stmt(op) == S_IM_GROUP_CREATE ? 409 : 404; /* member ops: 404 */
    if (pg_query_done(op)->status)
        pg_query_done(op)->status(op->arg, status);
}

/* Members, groups, AORs (an expire's done may be NULL). */
static void report_strings(const struct pg_op *op, int status, const struct qresult *r)
{
    if (pg_query_done(op)->members)
        pg_query_done(op)->members(op->arg, status, status ? NULL : r->items, r->n);
}

static void report_topic_rows(const struct pg_op *op, int status, const struct qresult *r)
{
    pg_query_done(op)->topic_rows(op->arg, status, status ? NULL : r->items, r->n);
}

static void report_position(const struct pg_op *op, int status, const struct qresult *r)
{
    pg_query_done(op)->position(op->arg, status, r->v[0]);
}

static void report_publications(const struct pg_op *op, int status, const struct qresult *r)
{
    pg_query_done(op)->pres(op->arg, status, status ? NULL : r->items, r->n);
}

/* ---- the rows ---- */

#define ROW(id) [id - S_QUERY_FIRST] = {.stmt = id
static const struct query_row rows[S_NODE_FIRST - S_QUERY_FIRST] = {
    /* topic, identity, now, count, age_s -> is_group, is_member, last_seq, first_seq */
    ROW(S_IM_TOPIC), "uuiii", 1, 4, 1, "bbii", NULL, 0, report_topic},
    /* topic, sender, device, copy topic, call_id, from_tag, cseq, content type, body, now,
     * count, age_s -> seq, copy_seq, duplicate */
    ROW(S_IM_PUBLISH), "uufuffifbiii", 1, 3, 1, "iib", NULL, 0, report_publish},
    /* topic, after_seq, max rows, now, count, age_s, max bytes -> first_seq, last_seq, messages */
    ROW(S_IM_READ), "uiiiiii", 1, 10, 1, "ii", parse_message, sizeof(struct im_message),
        report_messages},
    /* topic, members -> groups made, members added */
    ROW(S_IM_GROUP_CREATE), "ua", 1, 2, 1, "i", NULL, 0, report_group},
    /* topic -> groups deleted, positions deleted */
    ROW(S_IM_GROUP_DELETE), "u", 1, 2, 1, "i", NULL, 0, report_group},
    /* topic, at most -> members */
    ROW(S_IM_MEMBERS), "ui", 1, 1, 0, "", parse_string, sizeof(const char *), report_strings},
    /* aor, at most -> group topics */
    ROW(S_IM_GROUPS_OF), "ui", 1, 1, 0, "", parse_string, sizeof(const char *), report_strings},
    /* at most -> topics / members */
    ROW(S_IM_ACTIVE_TOPICS), "i", 0, 1, 0, "", parse_string, sizeof(const char *), report_strings},
    ROW(S_IM_GROUP_MEMBERS), "i", 0, 1, 0, "", parse_string, sizeof(const char *), report_strings},
    /* topic (positions go by topic, so that a device's get and advances stay in order), aor,
     * device, initial -> the position */
    ROW(S_IM_POS_GET), "uufi", 1, 1, 1, "i", NULL, 0, report_position},
    /* topic, aor, device, seq */
    ROW(S_IM_POS_ADVANCE), "uufi", 1, 0, 0, "", NULL, 0, pg_report_status},
    /* now, count, age_s */
    ROW(S_IM_EXPIRE), "iii", 0, 0, 0, "", NULL, 0, pg_report_status},
    /* after, at most -> topics */
    ROW(S_IM_TOPICS_LIST), "fi", 0, 4, 0, "", parse_topic_row, sizeof(struct im_topic_row),
        report_topic_rows},
    /* topic, aor -> groups found / members removed (0: 404) */
    ROW(S_IM_MEMBER_ADD), "uu", 1, 2, 1, "i", NULL, 0, report_group},
    ROW(S_IM_MEMBER_REMOVE), "uu", 1, 2, 1, "i", NULL, 0, report_group},
    /* aor, if_match, new etag, expires_at, content type, body, now -> status, publications */
    ROW(S_PRES_PUBLISH), "uffifbi", 1, 6, 0, "", parse_publication,
        sizeof(struct pres_publication), report_publications},
    /* aor, now -> the same columns */
    ROW(S_PRES_GET), "ui", 1, 6, 0, "", parse_publication, sizeof(struct pres_publication),
        report_publications},
    /* now -> the AORs that lost a publication */
    ROW(S_PRES_EXPIRE), "i", 0, 1, 0, "", parse_string, sizeof(const char *), report_strings},
};
#undef ROW

static void run(struct store *st, enum stmt_id id, const struct qval *p, int is_bad,
                union query_done done, void *arg)
{
    pg_query_run(pg_of(st), &rows[id - S_QUERY_FIRST], p, is_bad, done, arg);
}

/* ---- the store entry points ---- */

/* A retention limit as a parameter: 0 for none (also when ret is NULL). */
static int64_t ret_count(const struct im_retention *ret)
{
    return ret && ret->count > 0 ? ret->count : 0;
}

static int64_t ret_age(const struct im_retention *ret)
{
    return ret && ret->age_s > 0 ? ret->age_s : 0;
}

void pg_im_topic(struct store *st, const char *topic, const char *identity, int64_t now,
                 const struct im_retention *ret, store_topic_cb done, void *arg)
{
    const struct qval p[] = {{.s = topic}, {.s = identity}, {.i = now}, {.i = ret_count(ret)},
                             {.i = ret_age(ret)}};
    run(st, S_IM_TOPIC, p, 0, (union query_done){.topic = done}, arg);
}

void pg_im_publish(struct store *st, const struct im_publish *m, store_publish_cb done, void *arg)
{
    const struct qval p[] = {
        {.s = m->topic}, {.s = m->sender}, {.s = m->sender_device}, {.s = m->copy_topic},
        {.s = m->call_id}, {.s = m->from_tag}, {.i = m->cseq}, {.s = m->content_type},
        {.s = m->body ? m->body : "", .n = m->body ? m->body_len : 0}, {.i = m->now},
        {.i = ret_count(&m->ret)}, {.i = ret_age(&m->ret)}};
    int is_bad = !m->sender || !m->content_type || (!m->body && m->body_len);
    run(st, S_IM_PUBLISH, p, is_bad, (union query_done){.publish = done}, arg);
}

void pg_im_read(struct store *st, const char *topic, int64_t after_seq, size_t max, int64_t now,
                const struct im_retention *ret, store_messages_cb done, void *arg)
{
    if (max < 1)
        max = 1;
    if (max > PG_MAX_READ_ROWS)
        max = PG_MAX_READ_ROWS;
    const struct qval p[] = {{.s = topic},          {.i = after_seq > 0 ? after_seq : 0},
                             {.i = (int64_t)max},   {.i = now},
                             {.i = ret_count(ret)}, {.i = ret_age(ret)},
                             {.i = PG_MAX_READ_BYTES}};
    run(st, S_IM_READ, p, 0, (union query_done){.messages = done}, arg);
}

void pg_im_group_create(struct store *st, const char *topic, const char *const *members,
                        size_t nmembers, store_status_cb done, void *arg)
{
    const struct qval p[] = {{.s = topic}, {.v = members, .n = nmembers}};
    int is_bad = nmembers > PG_MAX_MEMBERS || (nmembers && !members);
    run(st, S_IM_GROUP_CREATE, p, is_bad, (union query_done){.status = done}, arg);
}

void pg_im_group_delete(struct store *st, const char *topic, store_status_cb done, void *arg)
{
    const struct qval p[] = {{.s = topic}};
    run(st, S_IM_GROUP_DELETE, p, 0, (union query_done){.status = done}, arg);
}

void pg_im_members(struct store *st, const char *topic, store_members_cb done, void *arg)
{
    const struct qval p[] = {{.s = topic}, {.i = PG_MAX_MEMBERS}};
    run(st, S_IM_MEMBERS, p, 0, (union query_done){.members = done}, arg);
}

void pg_im_groups_of(struct store *st, const char *aor, store_members_cb done, void *arg)
{
    const struct qval p[] = {{.s = aor}, {.i = PG_MAX_MEMBERS}};
    run(st, S_IM_GROUPS_OF, p, 0, (union query_done){.members = done}, arg);
}

void pg_im_active_topics(struct store *st, size_t max, store_members_cb done, void *arg)
{
    const struct qval p[] = {{.i = (int64_t)max}};
    run(st, S_IM_ACTIVE_TOPICS, p, 0, (union query_done){.members = done}, arg);
}

void pg_im_group_members(struct store *st, size_t max, store_members_cb done, void *arg)
{
    const struct qval p[] = {{.i = (int64_t)max}};
    run(st, S_IM_GROUP_MEMBERS, p, 0, (union query_done){.members = done}, arg);
}

void pg_im_position_get(struct store *st, const char *topic, const char *aor, const char *device,
                        int64_t initial, store_position_cb done, void *arg)
{
    const struct qval p[] = {{.s = topic}, {.s = aor}, {.s = device}, {.i = initial}};
    run(st, S_IM_POS_GET, p, !aor || !device, (union query_done){.position = done}, arg);
}

void pg_im_position_advance(struct store *st, const char *topic, const char *aor,
                            const char *device, int64_t seq, store_status_cb done, void *arg)
{
    const struct qval p[] = {{.s = topic}, {.s = aor}, {.s = device}, {.i = seq}};
    run(st, S_IM_POS_ADVANCE, p, !aor || !device, (union query_done){.status = done}, arg);
}

void pg_im_expire(struct store *st, int64_t now, const struct im_retention *ret,
                  store_status_cb done, void *arg)
{
    const struct qval p[] = {{.i = now}, {.i = ret_count(ret)}, {.i = ret_age(ret)}};
    run(st, S_IM_EXPIRE, p, 0, (union query_done){.status = done}, arg);
}

void pg_im_topics_list(struct store *st, const char *after, size_t max, store_topic_rows_cb done,
                       void *arg)
{
    const struct qval p[] = {{.s = after}, {.i = (int64_t)(max < PG_MAX_MEMBERS ? max : PG_MAX_MEMBERS)}};
    run(st, S_IM_TOPICS_LIST, p, 0, (union query_done){.topic_rows = done}, arg);
}

void pg_im_member_add(struct store *st, const char *topic, const char *aor, store_status_cb done,
                      void *arg)
{
    const struct qval p[] = {{.s = topic}, {.s = aor}};
    run(st, S_IM_MEMBER_ADD, p, !topic || !aor, (union query_done){.status = done}, arg);
}

void pg_im_member_remove(struct store *st, const char *topic, const char *aor,
                         store_status_cb done, void *arg)
{
    const struct qval p[] = {{.s = topic}, {.s = aor}};
    run(st, S_IM_MEMBER_REMOVE, p, !topic || !aor, (union query_done){.status = done}, arg);
}

void pg_pres_publish(struct store *st, const char *aor, const char *if_match, const char *new_etag,
                     int64_t expires_at, const char *content_type, const char *body,
                     size_t body_len, int64_t now, store_pres_cb done, void *arg)
{
    const struct qval p[] = {{.s = aor}, {.s = if_match}, {.s = new_etag}, {.i = expires_at},
                             {.s = body ? content_type : NULL}, {.s = body, .n = body_len},
                             {.i = now}};
    /* initial: a body; a change of etag (refresh, modify): the new one */
    int is_bad = (!if_match && (!body || !content_type || !new_etag)) ||
                 (if_match && expires_at != 0 && !new_etag) || (body && !content_type);
    run(st, S_PRES_PUBLISH, p, is_bad, (union query_done){.pres = done}, arg);
}

void pg_pres_get(struct store *st, const char *aor, int64_t now, store_pres_cb done, void *arg)
{
    const struct qval p[] = {{.s = aor}, {.i = now}};
    run(st, S_PRES_GET, p, 0, (union query_done){.pres = done}, arg);
}

void pg_pres_expire(struct store *st, int64_t now, store_aors_cb done, void *arg)
{
    const struct qval p[] = {{.i = now}};
    run(st, S_PRES_EXPIRE, p, 0, (union query_done){.members = done}, arg);
}
