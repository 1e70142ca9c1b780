/* subs.c - `im` subscription rows of the PostgreSQL store (store.h: "im subscriptions kept for a
 * takeover") as rows of the generic query path (query.c), like nodes.c.
 *
 * A subscription's put and delete are keyed by its topic, so that they run in order with each
 * other and with the device position advances of the same topic (keyed alike): a takeover that
 * reads a row reads the position written before it. Finding orphaned topics and claiming them go
 * to the least busy connection (a release too); the claim is one UPDATE, so two brokers claiming at once take
 * disjoint rows (the second one's WHERE is re-checked on the rows the first one changed). */
#include <stdlib.h>

#include "pg_impl.h"

/* A topic of S_SUB_ORPHANS. */
static int parse_topic(const struct pg_op *op, const PGresult *res, int r, void *item)
{
    (void)op;
    return pg_bin_text(res, r, 0, 0, item) ? -1 : 0;
}

/* A row of S_SUB_CLAIM's RETURNING list. */
static int parse_sub(const struct pg_op *op, const PGresult *res, int r, void *item)
{
    (void)op;
    struct im_sub_row *s = item;
    int64_t lc, rc;
    if (pg_bin_text(res, r, 0, 0, &s->topic) || pg_bin_text(res, r, 1, 0, &s->call_id) ||
        pg_bin_text(res, r, 2, 0, &s->remote_tag) || pg_bin_text(res, r, 3, 0, &s->local_tag) ||
        pg_bin_text(res, r, 4, 0, &s->event_id) || pg_bin_text(res, r, 5, 0, &s->subscriber) ||
        pg_bin_text(res, r, 6, 1, &s->instance) || pg_bin_text(res, r, 7, 0, &s->contact) ||
        pg_bin_text(res, r, 8, 0, &s->remote_target) || pg_bin_text(res, r, 9, 0, &s->remote_uri) ||
        pg_bin_text(res, r, 10, 0, &s->local_uri) || pg_bin_text(res, r, 11, 1, &s->route_set) ||
        pg_bin_i64(res, r, 12, &lc) || pg_bin_i64(res, r, 13, &rc) ||
        pg_bin_i64(res, r, 14, &s->expires_at) || pg_bin_i64(res, r, 15, &s->acked_seq) ||
        pg_bin_bool(res, r, 16, &s->is_group) || pg_bin_bool(res, r, 17, &s->is_datagram) ||
        pg_bin_i64(res, r, 18, &s->device_pos))
        return -1;
    if (lc < 0 || lc > UINT32_MAX || rc < 0 || rc > UINT32_MAX)
        return -1;
    s->local_cseq = (uint32_t)lc;
    s->remote_cseq = (uint32_t)rc;
    s->node = NULL;
    return 0;
}

/* A row of S_SUB_LIST: S_SUB_CLAIM's columns, then the owner (NULL: released). */
static int parse_sub_listed(const struct pg_op *op, const PGresult *res, int r, void *item)
{
    struct im_sub_row *s = item;
    if (parse_sub(op, res, r, item) < 0 || pg_bin_text(res, r, 19, 1, &s->node))
        return -1;
    return 0;
}

static void report_topics(const struct pg_op *op, int status, const struct qresult *r)
{
    pg_query_done(op)->members(op->arg, status, status ? NULL : r->items, r->n);
}

static void report_subs(const struct pg_op *op, int status, const struct qresult *r)
{
    pg_query_done(op)->subs(op->arg, status, status ? NULL : r->items, r->n);
}

#define ROW(id) [id - S_SUB_FIRST] = {.stmt = id
static const struct query_row rows[S_USER_FIRST - S_SUB_FIRST] = {
    /* topic, the key (call_id, from tag, to tag, event id), subscriber, instance, device
     * contact, remote target, remote uri, local uri, route set, local cseq, remote cseq,
     * expires_at, acked seq, node, is_group, is_datagram */
    ROW(S_SUB_PUT), "uffffuffffffiiiiuii", 1, 0, 0, "", NULL, 0, pg_report_status},
    /* topic, the key */
    ROW(S_SUB_DELETE), "uffff", 1, 0, 0, "", NULL, 0, pg_report_status},
    /* node */
    ROW(S_SUB_RELEASE), "u", 0, 0, 0, "", NULL, 0, pg_report_status},
    /* live brokers, at most -> topics */
    ROW(S_SUB_ORPHANS), "ai", 0, 1, 0, "", parse_topic, sizeof(const char *), report_topics},
    /* node, topics, live brokers -> rows */
    ROW(S_SUB_CLAIM), "uaa", 0, 19, 0, "", parse_sub, sizeof(struct im_sub_row), report_subs},
    /* topic, subscriber, at most -> rows with their owner */
    ROW(S_SUB_LIST), "ffi", 0, 20, 0, "", parse_sub_listed, sizeof(struct im_sub_row),
        report_subs},
};
#undef ROW

static void run(struct store *st, enum stmt_id id, const struct qval *p, int is_bad,
                union query_done done, void *arg)
{
    pg_query_run(pg_of(st), &rows[id - S_SUB_FIRST], p, is_bad, done, arg);
}

void pg_im_sub_put(struct store *st, const struct im_sub_row *r, store_status_cb done, void *arg)
{
    const struct qval p[] = {
        {.s = r->topic},          {.s = r->call_id},      {.s = r->remote_tag},
        {.s = r->local_tag},      {.s = r->event_id ? r->event_id : ""},
        {.s = r->subscriber},     {.s = r->instance},     {.s = r->contact},
        {.s = r->remote_target},  {.s = r->remote_uri},   {.s = r->local_uri},
        {.s = r->route_set},      {.i = r->local_cseq},   {.i = r->remote_cseq},
        {.i = r->expires_at},     {.i = r->acked_seq},    {.s = r->node},
        {.i = r->is_group != 0},  {.i = r->is_datagram != 0},
    };
    int is_bad = !r->topic || !r->call_id || !r->remote_tag || !r->local_tag || !r->subscriber ||
                 !r->contact || !r->remote_target || !r->remote_uri || !r->local_uri || !r->node;
    run(st, S_SUB_PUT, p, is_bad, (union query_done){.status = done}, arg);
}

void pg_im_sub_delete(struct store *st, const struct im_sub_row *r, store_status_cb done,
                      void *arg)
{
    const struct qval p[] = {{.s = r->topic},      {.s = r->call_id},
                             {.s = r->remote_tag}, {.s = r->local_tag},
                             {.s = r->event_id ? r->event_id : ""}};
    int is_bad = !r->topic || !r->call_id || !r->remote_tag || !r->local_tag;
    run(st, S_SUB_DELETE, p, is_bad, (union query_done){.status = done}, arg);
}

void pg_im_sub_release(struct store *st, const char *node, store_status_cb done, void *arg)
{
    const struct qval p[] = {{.s = node}};
    run(st, S_SUB_RELEASE, p, !node || !*node, (union query_done){.status = done}, arg);
}

void pg_im_sub_orphans(struct store *st, const char *const *live, size_t nlive,
                       store_members_cb done, void *arg)
{
    const struct qval p[] = {{.v = live, .n = nlive}, {.i = STORE_SUB_TOPICS_MAX}};
    run(st, S_SUB_ORPHANS, p, 0, (union query_done){.members = done}, arg);
}

void pg_im_sub_claim(struct store *st, const char *node, const char *const *topics, size_t n,
                     const char *const *live, size_t nlive, store_im_subs_cb done, void *arg)
{
    const struct qval p[] = {{.s = node}, {.v = topics, .n = n}, {.v = live, .n = nlive}};
    run(st, S_SUB_CLAIM, p, !node || !*node, (union query_done){.subs = done}, arg);
}

void pg_im_subs_list(struct store *st, const char *topic, const char *aor, size_t max,
                     store_im_subs_cb done, void *arg)
{
    const struct qval p[] = {{.s = topic}, {.s = aor}, {.i = (int64_t)max}};
    run(st, S_SUB_LIST, p, (!topic && !aor) || max == 0, (union query_done){.subs = done}, arg);
}
