/* store_mem.c - the in-memory store backend (single node, no database).
 *
 * Every operation completes synchronously, before the call returns. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/hmap.h"
#include "store_impl.h"

struct mem_topic;

struct mem_store {
    struct store base;
    struct hmap aors; /* aor -> struct binding_list* (never empty) */
    struct hmap known; /* AORs that had bindings and have none left, still known (store.h:
                          STORE_KNOWN_TTL_S): aor -> int64_t* when the last one went */
    long nbindings;
    struct hmap pres;  /* presence: aor -> struct pres_list* (section at the end of this file) */
    uint64_t pres_seq; /* presence: order of changes, breaks updated_at ties */
    struct hmap topics; /* IM topic URI -> struct mem_topic* */
    struct hmap groups; /* the group topics among them (same values), so a REGISTER's
                           groups_of does not look at every user topic */
};

static void topic_free(struct mem_topic *t);
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

/* ---- known AORs without bindings (a call gets 480, not 404) ----------------------------------
 *
 * An AOR is remembered when its last binding goes (removed by an update, or found expired) and
 * forgotten when it has bindings again, or by the expiry sweep once it has been without any for
 * STORE_KNOWN_TTL_S. At most STORE_MEM_KNOWN_MAX are remembered: when full, the sweep's rule is
 * applied at once, and an AOR that still finds no room is not remembered (404 for it). */

/* Forget the AORs without bindings since before now - STORE_KNOWN_TTL_S (at or before). */
static void forget_old(struct mem_store *ms, int64_t now)
{
    size_t b;
    struct hmap_entry *e = hmap_first(&ms->known, &b);
    while (e) {
        struct hmap_entry *next = hmap_next(&ms->known, e, &b);
        int64_t *gone_at = e->val;
        if (*gone_at <= now - STORE_KNOWN_TTL_S) {
            hmap_del(&ms->known, e->key, e->klen);
            free(gone_at);
        }
        e = next;
    }
}

static void remember(struct mem_store *ms, const char *aor, int64_t now)
{
    size_t alen = strlen(aor);
    int64_t *gone_at = hmap_get(&ms->known, aor, alen);
    if (gone_at) {
        *gone_at = now;
        return;
    }
    if (ms->known.count >= STORE_MEM_KNOWN_MAX)
        forget_old(ms, now);
    if (ms->known.count >= STORE_MEM_KNOWN_MAX || !(gone_at = malloc(sizeof *gone_at)))
        return;
    *gone_at = now;
    if (hmap_put(&ms->known, aor, alen, gone_at, NULL))
        free(gone_at);
}

static void forget(struct mem_store *ms, const char *aor)
{
    if (ms->known.count)
        free(hmap_del(&ms->known, aor, strlen(aor)));
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
    for (struct hmap_entry *e = hmap_first(&ms->known, &b); e; e = hmap_next(&ms->known, e, &b))
        free(e->val);
    hmap_free(&ms->known);
    pres_free_all(ms);
    for (struct hmap_entry *e = hmap_first(&ms->topics, &b); e; e = hmap_next(&ms->topics, e, &b))
        topic_free(e->val);
    hmap_free(&ms->topics);
    hmap_free(&ms->groups);
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
    int had_bindings = cur != NULL;
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
        if (had_bindings)
            remember(ms, aor, now);
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
    forget(ms, aor);
    done(arg, 0, out->v, out->len);
}

static void mem_location_lookup(struct store *st, const char *aor, int64_t now,
                                store_bindings_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct binding_list *cur = hmap_get(&ms->aors, aor, strlen(aor));
    if (cur && prune(ms, cur, now) == 0) {
        drop_aor(ms, aor);
        remember(ms, aor, now);
        cur = NULL;
    }
    if (cur)
        done(arg, 0, cur->v, cur->len);
    else
        done(arg, hmap_get(&ms->known, aor, strlen(aor)) ? STORE_OFFLINE : 0, NULL, 0);
}

static void mem_location_expire(struct store *st, int64_t now, store_status_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t b;
    struct hmap_entry *e = hmap_first(&ms->aors, &b);
    while (e) {
        struct hmap_entry *next = hmap_next(&ms->aors, e, &b);
        if (prune(ms, e->val, now) == 0) {
            remember(ms, e->key, now);
            drop_aor(ms, e->key);
        }
        e = next;
    }
    forget_old(ms, now);
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

/* ---- IM topics and messages ------------------------------------------------------------------
 *
 * A topic holds its retained messages in seq order in an array whose front is trimmed as
 * retention discards them; a message's strings live in one allocation with the struct. */

#define DUP_WINDOW_S 32

struct mem_msg {
    struct im_message m; /* topic points at the topic's key */
    char *call_id, *from_tag;
    uint32_t cseq;
    /* the strings and the body follow */
};

struct mem_topic {
    int is_group;
    int64_t last_seq;
    struct mem_msg **msgs; /* msgs[head..len) retained (subject to the age check at read time) */
    size_t head, len, cap;
    char **members;
    size_t nmembers;
    struct hmap positions; /* "aor\ndevice" -> int64_t* */
};

static void topic_free(struct mem_topic *t)
{
    for (size_t i = t->head; i < t->len; i++)
        free(t->msgs[i]);
    free(t->msgs);
    for (size_t i = 0; i < t->nmembers; i++)
        free(t->members[i]);
    free(t->members);
    size_t b;
    for (struct hmap_entry *e = hmap_first(&t->positions, &b); e; e = hmap_next(&t->positions, e, &b))
        free(e->val);
    hmap_free(&t->positions);
    free(t);
}

static struct mem_topic *topic_get(struct mem_store *ms, const char *uri, int create,
                                   const char **key)
{
    struct mem_topic *t = hmap_get(&ms->topics, uri, strlen(uri));
    if (!t && create) {
        t = calloc(1, sizeof *t);
        if (!t)
            return NULL;
        hmap_init(&t->positions);
        if (hmap_put(&ms->topics, uri, strlen(uri), t, NULL)) {
            topic_free(t);
            return NULL;
        }
    }
    if (t && key) /* the map's own copy of the key outlives every message of the topic */
        *key = hmap_find(&ms->topics, uri, strlen(uri))->key;
    return t;
}

static int is_retained(const struct mem_topic *t, const struct mem_msg *m, int64_t now,
                       const struct im_retention *ret)
{
    if (ret->count > 0 && m->m.seq <= t->last_seq - ret->count)
        return 0;
    if (ret->age_s > 0 && m->m.created_at <= now - ret->age_s)
        return 0;
    return 1;
}

/* Index of the first retained message (t->len when none). */
static size_t first_retained(const struct mem_topic *t, int64_t now, const struct im_retention *ret)
{
    size_t i = t->head;
    while (i < t->len && !is_retained(t, t->msgs[i], now, ret))
        i++;
    return i;
}

static int64_t first_seq_of(const struct mem_topic *t, int64_t now, const struct im_retention *ret)
{
    size_t i = first_retained(t, now, ret);
    return i < t->len ? t->msgs[i]->m.seq : t->last_seq + 1;
}

static void trim(struct mem_topic *t, int64_t now, const struct im_retention *ret)
{
    size_t i = first_retained(t, now, ret);
    for (size_t k = t->head; k < i; k++)
        free(t->msgs[k]);
    t->head = i;
    if (t->head == t->len) {
        t->head = t->len = 0;
    } else if (t->head > 64 && t->head * 2 > t->len) {
        memmove(t->msgs, t->msgs + t->head, (t->len - t->head) * sizeof *t->msgs);
        t->len -= t->head;
        t->head = 0;
    }
}

static int is_member(const struct mem_topic *t, const char *aor)
{
    for (size_t i = 0; aor && i < t->nmembers; i++)
        if (strcmp(t->members[i], aor) == 0)
            return 1;
    return 0;
}

static void mem_im_topic(struct store *st, const char *topic, const char *identity, int64_t now,
                         const struct im_retention *ret, store_topic_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_topic *t = topic_get(ms, topic, 0, NULL);
    struct im_topic_info info = {.last_seq = 0, .first_seq = 1};
    if (t) {
        info.is_group = t->is_group;
        info.is_member = t->is_group && is_member(t, identity);
        info.last_seq = t->last_seq;
        info.first_seq = first_seq_of(t, now, ret);
    }
    done(arg, 0, &info);
}

static char *put_str(char **w, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*w, s, n);
    char *r = *w;
    *w += n;
    return r;
}

static size_t slen(const char *s) { return s ? strlen(s) + 1 : 0; }

/* Append a message to t; returns its seq, or -1 (out of memory: nothing changed). */
static int64_t append_msg(struct mem_topic *t, const char *topic_key, const struct im_publish *p,
                          const char *recipient, int is_copy)
{
    if (t->len == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct mem_msg **v = realloc(t->msgs, cap * sizeof *v);
        if (!v)
            return -1;
        t->msgs = v;
        t->cap = cap;
    }
    size_t need = sizeof(struct mem_msg) + slen(p->sender) + slen(p->sender_device) +
                  slen(recipient) + slen(p->content_type) + slen(p->call_id) + slen(p->from_tag) +
                  p->body_len + 1;
    struct mem_msg *m = malloc(need);
    if (!m)
        return -1;
    char *w = (char *)(m + 1);
    m->m.topic = topic_key;
    m->m.seq = t->last_seq + 1;
    m->m.sender = put_str(&w, p->sender);
    m->m.sender_device = put_str(&w, p->sender_device);
    m->m.recipient = put_str(&w, recipient);
    m->m.is_copy = is_copy;
    m->m.content_type = put_str(&w, p->content_type);
    m->call_id = put_str(&w, p->call_id);
    m->from_tag = put_str(&w, p->from_tag);
    m->cseq = p->cseq;
    memcpy(w, p->body, p->body_len);
    w[p->body_len] = '\0';
    m->m.body = w;
    m->m.body_len = p->body_len;
    /* never earlier than the message before it: the retained messages stay a contiguous range */
    int64_t prev = t->len > t->head ? t->msgs[t->len - 1]->m.created_at : p->now;
    m->m.created_at = p->now > prev ? p->now : prev;
    t->msgs[t->len++] = m;
    return ++t->last_seq;
}

static int str_same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* A message (is_copy 0) or sender's copy (1) of t stored within the duplicate window with the
 * same (Call-ID, From tag, CSeq). */
static const struct mem_msg *find_dup(const struct mem_topic *t, const struct im_publish *p,
                                      int is_copy)
{
    if (!p->call_id || !p->from_tag)
        return NULL;
    for (size_t i = t->len; i > t->head; i--) {
        const struct mem_msg *m = t->msgs[i - 1];
        if (m->m.created_at <= p->now - DUP_WINDOW_S)
            break;
        if (m->m.is_copy == is_copy && m->cseq == p->cseq && str_same(m->call_id, p->call_id) && str_same(m->from_tag, p->from_tag))
            return m;
    }
    return NULL;
}

static void mem_im_publish(struct store *st, const struct im_publish *p, store_publish_cb done,
                           void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    const char *key = NULL, *ckey = NULL;
    struct mem_topic *t = topic_get(ms, p->topic, 1, &key);
    int copy = p->copy_topic && strcmp(p->copy_topic, p->topic) != 0;
    struct mem_topic *c = copy ? topic_get(ms, p->copy_topic, 1, &ckey) : NULL;
    if (!t || (copy && !c)) {
        done(arg, STORE_EFAIL, 0, 0, 0);
        return;
    }
    const struct mem_msg *dup = find_dup(t, p, 0);
    if (dup) {
        int64_t copy_seq = 0;
        const struct mem_msg *cd = c ? find_dup(c, p, 1) : NULL;
        if (cd)
            copy_seq = cd->m.seq;
        done(arg, 0, dup->m.seq, copy_seq, 1);
        return;
    }
    int64_t seq = append_msg(t, key, p, p->topic, 0);
    int64_t copy_seq = 0;
    if (seq > 0 && c) {
        copy_seq = append_msg(c, ckey, p, p->topic, 1);
        if (copy_seq < 0) { /* undo: one atomic step */
            free(t->msgs[--t->len]);
            t->last_seq--;
            seq = -1;
        }
    }
    if (seq < 0) {
        done(arg, STORE_EFAIL, 0, 0, 0);
        return;
    }
    trim(t, p->now, &p->ret);
    if (c)
        trim(c, p->now, &p->ret);
    done(arg, 0, seq, copy_seq, 0);
}

static void mem_im_read(struct store *st, const char *topic, int64_t after_seq, size_t max,
                        int64_t now, const struct im_retention *ret, store_messages_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_topic *t = topic_get(ms, topic, 0, NULL);
    if (!t) {
        done(arg, 0, NULL, 0, 1, 0);
        return;
    }
    size_t i = first_retained(t, now, ret);
    int64_t first = i < t->len ? t->msgs[i]->m.seq : t->last_seq + 1;
    /* seqs are dense from msgs[head]: jump to after_seq + 1 directly */
    if (i < t->len && after_seq >= t->msgs[i]->m.seq) {
        int64_t skip = after_seq - t->msgs[i]->m.seq + 1;
        i = skip >= (int64_t)(t->len - i) ? t->len : i + (size_t)skip;
    }
    size_t n = t->len - i;
    if (n > max)
        n = max;
    struct im_message stackv[16], *v = n <= 16 ? stackv : malloc(n * sizeof *v);
    if (!v) {
        done(arg, STORE_EFAIL, NULL, 0, 0, 0);
        return;
    }
    for (size_t k = 0; k < n; k++)
        v[k] = t->msgs[i + k]->m;
    done(arg, 0, v, n, first, t->last_seq);
    if (v != stackv)
        free(v);
}

static void mem_im_group_create(struct store *st, const char *topic, const char *const *members,
                                size_t nmembers, store_status_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_topic *t = topic_get(ms, topic, 0, NULL);
    if (t && (t->is_group || t->last_seq > 0)) {
        if (done)
            done(arg, 409);
        return;
    }
    char **v = calloc(nmembers ? nmembers : 1, sizeof *v);
    int ok = v != NULL;
    for (size_t i = 0; ok && i < nmembers; i++)
        ok = (v[i] = strdup(members[i])) != NULL;
    if (ok && !t)
        ok = (t = topic_get(ms, topic, 1, NULL)) != NULL;
    if (ok)
        ok = hmap_put(&ms->groups, topic, strlen(topic), t, NULL) == 0;
    if (!ok) {
        for (size_t i = 0; v && i < nmembers; i++)
            free(v[i]);
        free(v);
        if (done)
            done(arg, STORE_EFAIL);
        return;
    }
    t->is_group = 1;
    t->members = v;
    t->nmembers = nmembers;
    if (done)
        done(arg, 0);
}

static void mem_im_group_delete(struct store *st, const char *topic, store_status_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_topic *t = topic_get(ms, topic, 0, NULL);
    if (!t || !t->is_group) {
        if (done)
            done(arg, 404);
        return;
    }
    hmap_del(&ms->topics, topic, strlen(topic));
    hmap_del(&ms->groups, topic, strlen(topic));
    topic_free(t);
    if (done)
        done(arg, 0);
}

static void mem_im_members(struct store *st, const char *topic, store_members_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_topic *t = topic_get(ms, topic, 0, NULL);
    if (!t || !t->is_group)
        done(arg, 0, NULL, 0);
    else
        done(arg, 0, (const char *const *)t->members, t->nmembers);
}

static void mem_im_groups_of(struct store *st, const char *aor, store_members_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t n = 0, cap = 0, b;
    const char **v = NULL;
    for (struct hmap_entry *e = hmap_first(&ms->groups, &b); e; e = hmap_next(&ms->groups, e, &b)) {
        struct mem_topic *t = e->val;
        if (!is_member(t, aor))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            const char **nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                free(v);
                done(arg, STORE_EFAIL, NULL, 0);
                return;
            }
            v = nv;
        }
        v[n++] = e->key;
    }
    done(arg, 0, v, n);
    free(v);
}

/* Append s to the growing array *v (n used, cap allocated). 0 or -ENOMEM. */
static int strv_push(const char ***v, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        const char **nv = realloc(*v, ncap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*n)++] = s;
    return 0;
}

/* The topics that ever stored a message (is_members 0), or the members of every group topic
 * (is_members 1; an AOR in two groups comes twice: the caller counts each once). */
static void mem_im_active(struct store *st, int is_members, size_t max, store_members_cb done,
                          void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t n = 0, cap = 0, b;
    const char **v = NULL;
    int err = 0;
    for (struct hmap_entry *e = hmap_first(&ms->topics, &b); e && !err && n < max;
         e = hmap_next(&ms->topics, e, &b)) {
        struct mem_topic *t = e->val;
        if (!is_members && t->last_seq <= 0)
            continue;
        if (!is_members)
            err = strv_push(&v, &n, &cap, e->key);
        for (size_t i = 0; is_members && t->is_group && i < t->nmembers && !err && n < max; i++)
            err = strv_push(&v, &n, &cap, t->members[i]);
    }
    done(arg, err ? STORE_EFAIL : 0, err ? NULL : v, err ? 0 : n);
    free(v);
}

static void mem_im_active_topics(struct store *st, size_t max, store_members_cb done, void *arg)
{
    mem_im_active(st, 0, max, done, arg);
}

static void mem_im_group_members(struct store *st, size_t max, store_members_cb done, void *arg)
{
    mem_im_active(st, 1, max, done, arg);
}

static int mem_im_is_listening(const struct store *st)
{
    (void)st;
    return 1;
}

static int pos_key(const char *aor, const char *device, char *buf, size_t n)
{
    int k = snprintf(buf, n, "%s\n%s", aor, device ? device : "");
    return k < 0 || (size_t)k >= n ? -1 : k;
}

static void mem_im_position_get(struct store *st, const char *topic, const char *aor,
                                const char *device, int64_t initial, store_position_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_topic *t = topic_get(ms, topic, 1, NULL);
    char key[2048];
    int klen = pos_key(aor, device, key, sizeof key);
    if (!t || klen < 0) {
        done(arg, STORE_EFAIL, 0);
        return;
    }
    int64_t *p = hmap_get(&t->positions, key, (size_t)klen);
    if (p) {
        done(arg, 0, *p);
        return;
    }
    /* a new device starts where the user's furthest device is (§11.3) */
    int64_t best = -1;
    size_t alen = strlen(aor), b;
    for (struct hmap_entry *e = hmap_first(&t->positions, &b); e; e = hmap_next(&t->positions, e, &b))
        if (e->klen > alen && e->key[alen] == '\n' && memcmp(e->key, aor, alen) == 0 &&
            *(int64_t *)e->val > best)
            best = *(int64_t *)e->val;
    p = malloc(sizeof *p);
    if (!p || hmap_put(&t->positions, key, (size_t)klen, p, NULL)) {
        free(p);
        done(arg, STORE_EFAIL, 0);
        return;
    }
    *p = best >= 0 ? best : initial;
    done(arg, 0, *p);
}

static void mem_im_position_advance(struct store *st, const char *topic, const char *aor,
                                    const char *device, int64_t seq, store_status_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_topic *t = topic_get(ms, topic, 1, NULL);
    char key[2048];
    int klen = pos_key(aor, device, key, sizeof key);
    int64_t *p = t && klen >= 0 ? hmap_get(&t->positions, key, (size_t)klen) : NULL;
    if (t && klen >= 0 && !p) {
        p = calloc(1, sizeof *p);
        if (p && hmap_put(&t->positions, key, (size_t)klen, p, NULL)) {
            free(p);
            p = NULL;
        }
    }
    if (!p) {
        if (done)
            done(arg, STORE_EFAIL);
        return;
    }
    if (seq > *p)
        *p = seq;
    if (done)
        done(arg, 0);
}

static void mem_im_expire(struct store *st, int64_t now, const struct im_retention *ret,
                          store_status_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t b;
    for (struct hmap_entry *e = hmap_first(&ms->topics, &b); e; e = hmap_next(&ms->topics, e, &b))
        trim(e->val, now, ret);
    if (done)
        done(arg, 0);
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
    .pres_publish = mem_pres_publish,
    .pres_get = mem_pres_get,
    .pres_expire = mem_pres_expire,
    .im_topic = mem_im_topic,
    .im_publish = mem_im_publish,
    .im_read = mem_im_read,
    .im_group_create = mem_im_group_create,
    .im_group_delete = mem_im_group_delete,
    .im_members = mem_im_members,
    .im_groups_of = mem_im_groups_of,
    .im_active_topics = mem_im_active_topics,
    .im_group_members = mem_im_group_members,
    .im_is_listening = mem_im_is_listening,
    .im_position_get = mem_im_position_get,
    .im_position_advance = mem_im_position_advance,
    .im_expire = mem_im_expire,
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
    hmap_init(&ms->topics);
    hmap_init(&ms->groups);
    return &ms->base;
}

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

static void mem_pres_publish(struct store *st, const char *aor, const char *if_match,
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

static void mem_pres_get(struct store *st, const char *aor, int64_t now, store_pres_cb done,
                         void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    pres_report(aor, hmap_get(&ms->pres, aor, strlen(aor)), now, done, arg);
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
