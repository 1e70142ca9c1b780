/* store_mem.c - the in-memory store backend (single node, no database).
 *
 * Every operation completes synchronously, before the call returns. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../base/hmap.h"
#include "store_impl.h"

struct mem_store {
    struct store base;
    struct hmap aors; /* aor -> struct binding_list* (never empty) */
    struct hmap known; /* every AOR that ever had a binding (value unused) */
    long nbindings;
    struct hmap pres;  /* presence: aor -> struct pres_list* (section at the end of this file) */
    uint64_t pres_seq; /* presence: order of changes, breaks updated_at ties */
};

static void pres_free_all(struct mem_store *ms);
static void mem_pres_publish(struct store *st, const char *aor, const char *if_match,
                             const char *new_etag, int64_t expires_at, const char *content_type,
                             const char *body, size_t body_len, int64_t now, store_pres_cb done,
                             void *arg);
static void mem_pres_get(struct store *st, const char *aor, int64_t now, store_pres_cb done,
                         void *arg);
static void mem_pres_expire(struct store *st, int64_t now, store_aors_cb done, void *arg);

static void drop_aor(struct mem_store *ms, const char *aor)
{
    struct binding_list *l = hmap_del(&ms->aors, aor, strlen(aor));
    if (l) {
        ms->nbindings -= (long)l->len;
        binding_list_free(l);
        free(l);
    }
}

static void mem_destroy(struct store *st)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t b;
    for (struct hmap_entry *e = hmap_first(&ms->aors, &b); e; e = hmap_next(&ms->aors, e, &b)) {
        binding_list_free(e->val);
        free(e->val);
    }
    hmap_free(&ms->aors);
    hmap_free(&ms->known);
    pres_free_all(ms);
    free(ms);
}

static int mem_is_available(const struct store *st) { return 1; }
static size_t mem_pending(const struct store *st) { return 0; }

/* Remove bindings of l that expired at now; returns how many remain. */
static size_t prune(struct mem_store *ms, struct binding_list *l, int64_t now)
{
    size_t w = 0;
    for (size_t i = 0; i < l->len; i++) {
        if (l->v[i].expires_at > now) {
            l->v[w++] = l->v[i];
        } else {
            binding_clear(&l->v[i]);
            ms->nbindings--;
        }
    }
    l->len = w;
    return w;
}

static void mem_location_update(struct store *st, const char *aor, int64_t now,
                                store_update_fn update, store_bindings_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t alen = strlen(aor);
    struct binding_list *cur = hmap_get(&ms->aors, aor, alen);
    if (cur && prune(ms, cur, now) == 0) {
        drop_aor(ms, aor);
        cur = NULL;
    }
    struct binding_list *out = malloc(sizeof *out);
    if (!out) {
        done(arg, STORE_EFAIL, NULL, 0);
        return;
    }
    binding_list_init(out);
    int status = update(arg, cur ? cur->v : NULL, cur ? cur->len : 0, out);
    if (status != 0) {
        binding_list_free(out);
        free(out);
        done(arg, status, NULL, 0);
        return;
    }
    for (size_t i = 0; i < out->len; i++) {
        if (!out->v[i].aor) {
            out->v[i].aor = strdup(aor);
            if (!out->v[i].aor) {
                binding_list_free(out);
                free(out);
                done(arg, STORE_EFAIL, NULL, 0);
                return;
            }
        }
    }
    store_sort_bindings(out->v, out->len);
    if (cur)
        drop_aor(ms, aor);
    if (out->len == 0) {
        binding_list_free(out);
        free(out);
        done(arg, 0, NULL, 0);
        return;
    }
    if (hmap_put(&ms->aors, aor, alen, out, NULL)) {
        binding_list_free(out);
        free(out);
        done(arg, STORE_EFAIL, NULL, 0);
        return;
    }
    ms->nbindings += (long)out->len;
    if (!hmap_get(&ms->known, aor, alen))
        hmap_put(&ms->known, aor, alen, ms, NULL);
    done(arg, 0, out->v, out->len);
}

static void mem_location_lookup(struct store *st, const char *aor, int64_t now,
                                store_bindings_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct binding_list *cur = hmap_get(&ms->aors, aor, strlen(aor));
    if (cur && prune(ms, cur, now) == 0) {
        drop_aor(ms, aor);
        cur = NULL;
    }
    done(arg, 0, cur ? cur->v : NULL, cur ? cur->len : 0);
}

static int mem_aor_known(const struct store *st, const char *aor)
{
    const struct mem_store *ms = (const struct mem_store *)st;
    return hmap_get(&ms->known, aor, strlen(aor)) != NULL;
}

static void mem_location_expire(struct store *st, int64_t now, store_status_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t b;
    struct hmap_entry *e = hmap_first(&ms->aors, &b);
    while (e) {
        struct hmap_entry *next = hmap_next(&ms->aors, e, &b);
        if (prune(ms, e->val, now) == 0)
            drop_aor(ms, e->key);
        e = next;
    }
    if (done)
        done(arg, 0);
}

static long mem_location_count(const struct store *st, long *nbindings)
{
    const struct mem_store *ms = (const struct mem_store *)st;
    if (nbindings)
        *nbindings = ms->nbindings;
    return (long)ms->aors.count;
}

static const struct store_ops mem_ops = {
    .name = "memory",
    .destroy = mem_destroy,
    .is_available = mem_is_available,
    .pending = mem_pending,
    .location_update = mem_location_update,
    .location_lookup = mem_location_lookup,
    .location_expire = mem_location_expire,
    .location_count = mem_location_count,
    .aor_known = mem_aor_known,
    .pres_publish = mem_pres_publish,
    .pres_get = mem_pres_get,
    .pres_expire = mem_pres_expire,
};

struct store *store_mem_create(struct loop *loop)
{
    struct mem_store *ms = calloc(1, sizeof *ms);
    if (!ms)
        return NULL;
    ms->base.ops = &mem_ops;
    ms->base.loop = loop;
    hmap_init(&ms->aors);
    hmap_init(&ms->known);
    hmap_init(&ms->pres);
    return &ms->base;
}

/* ---- presence publications (RFC 3903 event state, store.h) --------------------------------- *
 *
 * ms->pres maps a presentity's AOR to the list of its publications. Expired publications stay
 * until something touches the AOR (publish/get prune it) or mem_pres_expire() runs, but are never
 * returned. An AOR whose list becomes empty is removed from the map. */

struct pres_pub {
    char *etag;
    char *content_type;
    char *body; /* body_len octets + NUL */
    size_t body_len;
    int64_t expires_at;
    int64_t updated_at;
    uint64_t seq; /* ms->pres_seq at the last change: orders equal updated_at */
};

struct pres_list {
    struct pres_pub *v;
    size_t len, cap;
};

static void pres_pub_clear(struct pres_pub *p)
{
    free(p->etag);
    free(p->content_type);
    free(p->body);
    memset(p, 0, sizeof *p);
}

static void pres_list_free(struct pres_list *l)
{
    for (size_t i = 0; i < l->len; i++)
        pres_pub_clear(&l->v[i]);
    free(l->v);
    free(l);
}

static void pres_free_all(struct mem_store *ms)
{
    size_t b;
    for (struct hmap_entry *e = hmap_first(&ms->pres, &b); e; e = hmap_next(&ms->pres, e, &b))
        pres_list_free(e->val);
    hmap_free(&ms->pres);
}

/* Drop publications of l expired at now; returns how many were dropped. */
static size_t pres_prune(struct pres_list *l, int64_t now)
{
    size_t w = 0, dropped = 0;
    for (size_t i = 0; i < l->len; i++) {
        if (l->v[i].expires_at > now) {
            l->v[w++] = l->v[i];
        } else {
            pres_pub_clear(&l->v[i]);
            dropped++;
        }
    }
    l->len = w;
    return dropped;
}

static void pres_drop_if_empty(struct mem_store *ms, const char *aor, struct pres_list *l)
{
    if (l && l->len == 0) {
        hmap_del(&ms->pres, aor, strlen(aor));
        pres_list_free(l);
    }
}

static int pres_cmp_age(const void *pa, const void *pb)
{
    const struct pres_pub *a = pa, *b = pb;
    if (a->updated_at != b->updated_at)
        return a->updated_at < b->updated_at ? -1 : 1;
    return a->seq < b->seq ? -1 : (a->seq > b->seq);
}

/* Hand l's publications to done, oldest first (updated_at, then order of change). l itself is
 * kept in that order. */
static void pres_report(const char *aor, struct pres_list *l, store_pres_cb done, void *arg)
{
    if (!l || l->len == 0) {
        done(arg, 0, NULL, 0);
        return;
    }
    struct pres_publication *v = calloc(l->len, sizeof *v);
    if (!v) {
        done(arg, STORE_EFAIL, NULL, 0);
        return;
    }
    qsort(l->v, l->len, sizeof *l->v, pres_cmp_age);
    for (size_t i = 0; i < l->len; i++) {
        const struct pres_pub *p = &l->v[i];
        v[i] = (struct pres_publication){.aor = aor, .etag = p->etag, .expires_at = p->expires_at,
                                         .content_type = p->content_type, .body = p->body,
                                         .body_len = p->body_len, .updated_at = p->updated_at};
    }
    done(arg, 0, v, l->len);
    free(v);
}

static char *pres_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void mem_pres_publish(struct store *st, const char *aor, const char *if_match,
                             const char *new_etag, int64_t expires_at, const char *content_type,
                             const char *body, size_t body_len, int64_t now, store_pres_cb done,
                             void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t alen = strlen(aor);
    struct pres_list *l = hmap_get(&ms->pres, aor, alen);
    if (l)
        pres_prune(l, now);
    struct pres_pub *p = NULL;
    if (if_match) {
        for (size_t i = 0; l && i < l->len && !p; i++)
            if (strcmp(l->v[i].etag, if_match) == 0)
                p = &l->v[i];
        if (!p) {
            pres_drop_if_empty(ms, aor, l);
            done(arg, 412, NULL, 0);
            return;
        }
        if (expires_at == 0) {
            pres_pub_clear(p);
            *p = l->v[--l->len];
            if (l->len == 0) {
                pres_drop_if_empty(ms, aor, l);
                l = NULL;
            }
            pres_report(aor, l, done, arg);
            return;
        }
    } else if (!body || !content_type) {
        pres_drop_if_empty(ms, aor, l);
        done(arg, 400, NULL, 0);
        return;
    }
    /* everything that can fail is allocated before anything changes */
    char *etag = strdup(new_etag);
    char *ct = body ? strdup(content_type ? content_type : "") : NULL;
    char *b = body ? pres_dup(body, body_len) : NULL;
    int ok = etag && (!body || (ct && b));
    if (ok && !l) {
        l = calloc(1, sizeof *l);
        if (!l || hmap_put(&ms->pres, aor, alen, l, NULL)) {
            free(l);
            l = NULL;
            ok = 0;
        }
    }
    if (ok && !p && l->len == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 2;
        struct pres_pub *nv = realloc(l->v, cap * sizeof *nv);
        if (nv) {
            l->v = nv;
            l->cap = cap;
        } else {
            ok = 0;
        }
    }
    if (!ok) {
        free(etag);
        free(ct);
        free(b);
        pres_drop_if_empty(ms, aor, l);
        done(arg, STORE_EFAIL, NULL, 0);
        return;
    }
    if (!p) {
        p = &l->v[l->len++];
        memset(p, 0, sizeof *p);
    }
    free(p->etag);
    p->etag = etag;
    if (body) {
        free(p->content_type);
        free(p->body);
        p->content_type = ct;
        p->body = b;
        p->body_len = body_len;
    }
    p->expires_at = expires_at;
    p->updated_at = now;
    p->seq = ++ms->pres_seq;
    pres_report(aor, l, done, arg);
}

static void mem_pres_get(struct store *st, const char *aor, int64_t now, store_pres_cb done,
                         void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct pres_list *l = hmap_get(&ms->pres, aor, strlen(aor));
    if (l) {
        pres_prune(l, now);
        if (l->len == 0) {
            pres_drop_if_empty(ms, aor, l);
            l = NULL;
        }
    }
    pres_report(aor, l, done, arg);
}

static void mem_pres_expire(struct store *st, int64_t now, store_aors_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    char **aors = NULL;
    size_t n = 0, cap = 0;
    int failed = 0;
    size_t b;
    struct hmap_entry *e = hmap_first(&ms->pres, &b);
    while (e) {
        struct hmap_entry *next = hmap_next(&ms->pres, e, &b);
        struct pres_list *l = e->val;
        if (pres_prune(l, now) > 0) {
            if (n == cap) {
                size_t nc = cap ? 2 * cap : 8;
                char **na = realloc(aors, nc * sizeof *na);
                if (na) {
                    aors = na;
                    cap = nc;
                }
            }
            char *a = n < cap ? strdup(e->key) : NULL;
            if (a)
                aors[n++] = a;
            else
                failed = 1;
            if (l->len == 0) {
                hmap_del(&ms->pres, e->key, e->klen);
                pres_list_free(l);
            }
        }
        e = next;
    }
    if (done)
        done(arg, failed ? STORE_EFAIL : 0, (const char *const *)aors, n);
    for (size_t i = 0; i < n; i++)
        free(aors[i]);
    free(aors);
}
