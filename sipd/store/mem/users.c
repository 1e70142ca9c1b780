/* users.c - the in-memory store's digest users and nonce secret (store.h: "digest
 * authentication"). One process: the secret is the first proposal it was given; users live in a
 * hash table by AOR, listed in AOR order by sorting a snapshot. */
#include <stdlib.h>
#include <string.h>

#include "mem_impl.h"

struct mem_user {
    char *realm, *ha1_md5, *ha1_sha256;
};

static void user_free(struct mem_user *u)
{
    if (!u)
        return;
    free(u->realm);
    free(u->ha1_md5);
    free(u->ha1_sha256);
    free(u);
}

void mem_users_free_all(struct mem_store *ms)
{
    size_t b;
    for (struct hmap_entry *e = hmap_first(&ms->users, &b); e; e = hmap_next(&ms->users, e, &b))
        user_free(e->val);
    hmap_free(&ms->users);
    explicit_bzero(ms->secret, sizeof ms->secret);
}

void mem_user_get(struct store *st, const char *aor, store_user_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct hmap_entry *e = aor ? hmap_find(&ms->users, aor, strlen(aor)) : NULL;
    if (!e) {
        done(arg, 404, NULL);
        return;
    }
    const struct mem_user *mu = e->val;
    struct auth_user u = {.aor = e->key, .realm = mu->realm, .ha1_md5 = mu->ha1_md5,
                          .ha1_sha256 = mu->ha1_sha256};
    done(arg, 0, &u);
}

void mem_user_put(struct store *st, const struct auth_user *u, int is_create, store_status_cb done,
                  void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    int status = 0;
    if (!u->aor || !u->realm || !u->ha1_md5 || !u->ha1_sha256) {
        status = STORE_EFAIL;
    } else {
        struct mem_user *old = hmap_get(&ms->users, u->aor, strlen(u->aor));
        if (is_create && old) {
            status = 409;
        } else if (!is_create && !old) {
            status = 404;
        } else {
            struct mem_user *n = calloc(1, sizeof *n);
            if (n) {
                n->realm = strdup(u->realm);
                n->ha1_md5 = strdup(u->ha1_md5);
                n->ha1_sha256 = strdup(u->ha1_sha256);
            }
            if (!n || !n->realm || !n->ha1_md5 || !n->ha1_sha256 ||
                hmap_put(&ms->users, u->aor, strlen(u->aor), n, NULL) < 0) {
                user_free(n);
                status = STORE_EFAIL;
            } else {
                user_free(old);
            }
        }
    }
    if (done)
        done(arg, status);
}

void mem_user_delete(struct store *st, const char *aor, store_status_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_user *u = aor ? hmap_del(&ms->users, aor, strlen(aor)) : NULL;
    user_free(u);
    if (done)
        done(arg, u ? 0 : 404);
}

static int cmp_user(const void *a, const void *b)
{
    return strcmp(((const struct auth_user *)a)->aor, ((const struct auth_user *)b)->aor);
}

void mem_users_list(struct store *st, const char *after, size_t max, store_users_cb done,
                    void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct auth_user *v = ms->users.count ? calloc(ms->users.count, sizeof *v) : NULL;
    if (ms->users.count && !v) {
        done(arg, STORE_EFAIL, NULL, 0);
        return;
    }
    size_t n = 0, b;
    for (struct hmap_entry *e = hmap_first(&ms->users, &b); e; e = hmap_next(&ms->users, e, &b)) {
        const struct mem_user *mu = e->val;
        if (after && *after && strcmp(e->key, after) <= 0)
            continue;
        v[n++] = (struct auth_user){.aor = e->key, .realm = mu->realm, .ha1_md5 = mu->ha1_md5,
                                    .ha1_sha256 = mu->ha1_sha256};
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_user);
    done(arg, 0, v, n < max ? n : max);
    free(v);
}

void mem_auth_secret(struct store *st, const unsigned char *proposal, size_t len,
                     store_secret_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    if (!ms->secret_len) {
        if (!proposal || len == 0 || len > sizeof ms->secret) {
            done(arg, STORE_EFAIL, NULL, 0);
            return;
        }
        memcpy(ms->secret, proposal, len);
        ms->secret_len = len;
    }
    done(arg, 0, ms->secret, ms->secret_len);
}
