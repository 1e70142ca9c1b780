/* rules.c - the in-memory store's presence authorization rules (store.h: "presence
 * authorization rules"): one entry per presentity that has any, in a hash table by AOR, each
 * holding copies of its two lists in the order they were put. */
#include <stdlib.h>
#include <string.h>

#include "mem_impl.h"

struct mem_rules {
    char **allow, **block;
    size_t nallow, nblock;
};

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void rules_free(struct mem_rules *r)
{
    if (!r)
        return;
    strv_free(r->allow, r->nallow);
    strv_free(r->block, r->nblock);
    free(r);
}

/* A copy of v[0..n) into *out: 0, or -1 (out of memory, nothing left allocated). */
static int strv_dup(const char *const *v, size_t n, char ***out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    char **c = calloc(n, sizeof *c);
    if (!c)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!v[i] || !(c[i] = strdup(v[i]))) {
            strv_free(c, n);
            return -1;
        }
    }
    *out = c;
    return 0;
}

void mem_pres_rules_free_all(struct mem_store *ms)
{
    size_t b;
    for (struct hmap_entry *e = hmap_first(&ms->pres_rules, &b); e;
         e = hmap_next(&ms->pres_rules, e, &b))
        rules_free(e->val);
    hmap_free(&ms->pres_rules);
}

void mem_pres_rules_get(struct store *st, const char *aor, store_pres_rules_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    if (!aor || !*aor) {
        done(arg, STORE_EFAIL, NULL);
        return;
    }
    const struct mem_rules *mr = hmap_get(&ms->pres_rules, aor, strlen(aor));
    struct pres_rules r = {0};
    if (mr) {
        r.allow = (const char *const *)mr->allow;
        r.nallow = mr->nallow;
        r.block = (const char *const *)mr->block;
        r.nblock = mr->nblock;
    }
    done(arg, 0, &r);
}

void mem_pres_rules_put(struct store *st, const struct pres_rules *r, store_status_cb done,
                        void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    int status = 0;
    if (!r->aor || !*r->aor || r->nallow > STORE_PRES_RULES_MAX ||
        r->nblock > STORE_PRES_RULES_MAX) {
        status = STORE_EFAIL;
    } else if (r->nallow == 0 && r->nblock == 0) {
        rules_free(hmap_del(&ms->pres_rules, r->aor, strlen(r->aor)));
    } else {
        struct mem_rules *n = calloc(1, sizeof *n);
        int rc = n ? strv_dup(r->allow, r->nallow, &n->allow) : -1;
        if (rc == 0)
            n->nallow = r->nallow;
        if (rc == 0 && (rc = strv_dup(r->block, r->nblock, &n->block)) == 0)
            n->nblock = r->nblock;
        void *old = NULL;
        if (rc == 0 && (rc = hmap_put(&ms->pres_rules, r->aor, strlen(r->aor), n, &old)) == 0) {
            rules_free(old);
        } else {
            rules_free(n);
            status = STORE_EFAIL;
        }
    }
    if (done)
        done(arg, status);
}
