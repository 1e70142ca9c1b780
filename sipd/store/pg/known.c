/* known.c - what this node last wrote for each AOR's bindings, and how often "no rows" is the
 * right guess for an AOR it knows nothing of. Both only let location.c send an update in one
 * flight instead of two; the REPLACE checks under the lock that the table still holds what is
 * remembered here (see the top of location.c), so nothing here can make a write wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_impl.h"

/* An AOR's rows as this node's last committed REPLACE left them. */
struct pg_known {
    char xmin[PG_XMIN_MAX];  /* the transaction that wrote them all */
    struct binding_list rows;
};

static void known_free(struct pg_known *k)
{
    binding_list_free(&k->rows);
    free(k);
}

void pg_known_free(struct pg_store *ps)
{
    size_t bk;
    for (struct hmap_entry *e = hmap_first(&ps->known, &bk); e; e = hmap_next(&ps->known, e, &bk))
        known_free(e->val);
    hmap_free(&ps->known);
}

int pg_known_has(const struct pg_store *ps, const char *aor)
{
    return hmap_get(&ps->known, aor, strlen(aor)) != NULL;
}

void pg_known_forget(struct pg_store *ps, const char *aor)
{
    struct pg_known *k = hmap_del(&ps->known, aor, strlen(aor));
    if (k)
        known_free(k);
}

void pg_known_set(struct pg_store *ps, const char *aor, const char *xmin,
                  struct binding_list *rows)
{
    pg_known_forget(ps, aor);
    if (strlen(xmin) >= PG_XMIN_MAX)
        return;
    if (ps->known.count >= PG_KNOWN_MAX)
        pg_known_free(ps);
    struct pg_known *k = calloc(1, sizeof *k);
    if (!k)
        return;
    snprintf(k->xmin, sizeof k->xmin, "%s", xmin);
    k->rows = *rows;
    if (hmap_put(&ps->known, aor, strlen(aor), k, NULL)) {
        free(k); /* the rows stay the caller's */
        return;
    }
    binding_list_init(rows);
}

/* S_SELECT's order (LOC_ORDER): q descending (none counts as 1000), newest first, contact. */
static int cmp_lookup_order(const void *pa, const void *pb)
{
    const struct binding *a = pa, *b = pb;
    int qa = a->q < 0 ? 1000 : a->q, qb = b->q < 0 ? 1000 : b->q;
    if (qa != qb)
        return qb - qa;
    if (a->updated_at != b->updated_at)
        return a->updated_at < b->updated_at ? 1 : -1;
    return strcmp(a->contact, b->contact);
}

int pg_known_current(const struct pg_store *ps, const char *aor, int64_t now,
                     struct binding_list *cur, int64_t *nrows, char xmin[PG_XMIN_MAX])
{
    const struct pg_known *k = hmap_get(&ps->known, aor, strlen(aor));
    *nrows = 0;
    xmin[0] = '\0';
    if (!k)
        return 1;
    *nrows = (int64_t)k->rows.len;
    snprintf(xmin, PG_XMIN_MAX, "%s", k->xmin);
    for (size_t j = 0; j < k->rows.len; j++)
        if (k->rows.v[j].expires_at > now && binding_list_push_copy(cur, &k->rows.v[j]))
            return -1;
    if (cur->len > 1)
        qsort(cur->v, cur->len, sizeof cur->v[0], cmp_lookup_order);
    return 0;
}

void pg_guess_learn(struct pg_store *ps, int good_guess)
{
    ps->guess_credit += good_guess ? 1 : -PG_GUESS_MISS_COST;
    if (ps->guess_credit > PG_GUESS_MAX)
        ps->guess_credit = PG_GUESS_MAX;
    if (ps->guess_credit < PG_GUESS_MIN)
        ps->guess_credit = PG_GUESS_MIN;
}
