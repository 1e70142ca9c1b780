/* rules.c - presence authorization rules of the PostgreSQL store (store.h: "presence
 * authorization rules"; schema/009_presence_rules.sql) as rows of the generic query path
 * (query.c), like users.c. Both statements are keyed by the presentity's AOR, so a read follows
 * the writes made before it on this node; every SUBSCRIBE reads the row again, so nothing is
 * cached and a change made through any node applies at once. */
#include <stdlib.h>
#include <string.h>

#include "pg_impl.h"

/* A row of S_RULES_GET: which list (1 allow, 2 block) and one entry. */
struct rule_item {
    int64_t list;
    const char *entry;
};

static int parse_rule(const struct pg_op *op, const PGresult *res, int r, void *item)
{
    (void)op;
    struct rule_item *it = item;
    if (pg_bin_i32(res, r, 0, &it->list) || (it->list != 1 && it->list != 2) ||
        pg_bin_text(res, r, 1, 0, &it->entry))
        return -1;
    return 0;
}

/* The rows (allow first, then block, each in list order) as the two lists of store.h. */
static void report_rules(const struct pg_op *op, int status, const struct qresult *r)
{
    store_pres_rules_cb done = pg_query_done(op)->rules;
    if (status) {
        done(op->arg, status, NULL);
        return;
    }
    const struct rule_item *v = r->items;
    const char **entries = r->n ? calloc(r->n, sizeof *entries) : NULL;
    if (r->n && !entries) {
        done(op->arg, STORE_EFAIL, NULL);
        return;
    }
    size_t nallow = 0;
    for (size_t i = 0; i < r->n; i++) {
        entries[i] = v[i].entry;
        if (v[i].list == 1)
            nallow = i + 1;
    }
    struct pres_rules rules = {.allow = entries, .nallow = nallow,
                               .block = entries + nallow, .nblock = r->n - nallow};
    done(op->arg, 0, &rules);
    free(entries);
}

#define ROW(id) [id - S_RULES_FIRST] = {.stmt = id
static const struct query_row rows[S_NUM - S_RULES_FIRST] = {
    /* aor -> (list, entry) rows */
    ROW(S_RULES_GET), "u", 1, 2, 0, "", parse_rule, sizeof(struct rule_item), report_rules},
    /* aor, allow, block */
    ROW(S_RULES_PUT), "uaa", 1, 0, 0, "", NULL, 0, pg_report_status},
};
#undef ROW

void pg_pres_rules_get(struct store *st, const char *aor, store_pres_rules_cb done, void *arg)
{
    const struct qval p[] = {{.s = aor}};
    pg_query_run(pg_of(st), &rows[S_RULES_GET - S_RULES_FIRST], p, !aor || !*aor,
                 (union query_done){.rules = done}, arg);
}

void pg_pres_rules_put(struct store *st, const struct pres_rules *r, store_status_cb done,
                       void *arg)
{
    const struct qval p[] = {{.s = r->aor},
                             {.v = r->allow, .n = r->nallow},
                             {.v = r->block, .n = r->nblock}};
    int is_bad = !r->aor || !*r->aor || r->nallow > STORE_PRES_RULES_MAX ||
                 r->nblock > STORE_PRES_RULES_MAX;
    pg_query_run(pg_of(st), &rows[S_RULES_PUT - S_RULES_FIRST], p, is_bad,
                 (union query_done){.status = done}, arg);
}
