/* presence.c - the in-memory store's presence publications (RFC 3903 event state; store.h:
 * store_pres_*). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem_impl.h"

/* ---- presence publications (RFC 3903 event state, store.h) --------------------------------- *
 *
 * ms->pres maps a presentity's AOR to the list of its publications. An expired publication is
 * never returned nor matched, but only mem_pres_expire() deletes it, so that it reports every AOR
 * that lost one (its watchers must hear of it) however often the AOR was read in between. An AOR
 * whose list becomes empty is removed from the map. */

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

void mem_pres_free_all(struct mem_store *ms)
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

/* Hand l's publications unexpired at now to done, oldest first (updated_at, then order of
 * change). l itself is kept in that order. */
static void pres_report(const char *aor, struct pres_list *l, int64_t now, store_pres_cb done,
                        void *arg)
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
    size_t n = 0;
    for (size_t i = 0; i < l->len; i++) {
        const struct pres_pub *p = &l->v[i];
        if (p->expires_at <= now)
            continue;
        v[n++] = (struct pres_publication){.aor = aor, .etag = p->etag,
                                           .expires_at = p->expires_at,
                                           .content_type = p->content_type, .body = p->body,
                                           .body_len = p->body_len, .updated_at = p->updated_at};
    }
    done(arg, 0, n ? v : NULL, n);
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

void mem_pres_publish(struct store *st, const char *aor, const char *if_match,
                      const char *new_etag, int64_t expires_at, const char *content_type,
                      const char *body, size_t body_len, int64_t now, store_pres_cb done,
                      void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t alen = strlen(aor);
    struct pres_list *l = hmap_get(&ms->pres, aor, alen);
    struct pres_pub *p = NULL;
    if (if_match) {
        for (size_t i = 0; l && i < l->len && !p; i++)
            if (l->v[i].expires_at > now && strcmp(l->v[i].etag, if_match) == 0)
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
            pres_report(aor, l, now, done, arg);
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
    pres_report(aor, l, now, done, arg);
}

void mem_pres_get(struct store *st, const char *aor, int64_t now, store_pres_cb done,
                  void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    pres_report(aor, hmap_get(&ms->pres, aor, strlen(aor)), now, done, arg);
}

void mem_pres_expire(struct store *st, int64_t now, store_aors_cb done, void *arg)
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

