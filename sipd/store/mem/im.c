/* im.c - the in-memory store's IM topics: messages with per-topic sequence numbers and
 * retention, duplicates, group topics and members, page-mode positions (store.h: store_im_*). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem_impl.h"

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

void mem_topic_free(struct mem_topic *t)
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
            mem_topic_free(t);
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

void mem_im_topic(struct store *st, const char *topic, const char *identity, int64_t now,
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

void mem_im_publish(struct store *st, const struct im_publish *p, store_publish_cb done,
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

void mem_im_read(struct store *st, const char *topic, int64_t after_seq, size_t max,
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

void mem_im_group_create(struct store *st, const char *topic, const char *const *members,
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

void mem_im_group_delete(struct store *st, const char *topic, store_status_cb done, void *arg)
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
    mem_topic_free(t);
    if (done)
        done(arg, 0);
}

void mem_im_members(struct store *st, const char *topic, store_members_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_topic *t = topic_get(ms, topic, 0, NULL);
    if (!t || !t->is_group)
        done(arg, 0, NULL, 0);
    else
        done(arg, 0, (const char *const *)t->members, t->nmembers);
}

void mem_im_groups_of(struct store *st, const char *aor, store_members_cb done, void *arg)
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

void mem_im_active_topics(struct store *st, size_t max, store_members_cb done, void *arg)
{
    mem_im_active(st, 0, max, done, arg);
}

void mem_im_group_members(struct store *st, size_t max, store_members_cb done, void *arg)
{
    mem_im_active(st, 1, max, done, arg);
}

int mem_im_is_listening(const struct store *st)
{
    (void)st;
    return 1;
}

static int pos_key(const char *aor, const char *device, char *buf, size_t n)
{
    int k = snprintf(buf, n, "%s\n%s", aor, device ? device : "");
    return k < 0 || (size_t)k >= n ? -1 : k;
}

void mem_im_position_get(struct store *st, const char *topic, const char *aor,
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

void mem_im_position_advance(struct store *st, const char *topic, const char *aor,
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

void mem_im_expire(struct store *st, int64_t now, const struct im_retention *ret,
                   store_status_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t b;
    for (struct hmap_entry *e = hmap_first(&ms->topics, &b); e; e = hmap_next(&ms->topics, e, &b))
        trim(e->val, now, ret);
    if (done)
        done(arg, 0);
}

/* ---- the control plane's view (docs/api.md "Topics") ---------------------------------------- */

static int cmp_topic_row(const void *a, const void *b)
{
    return strcmp(((const struct im_topic_row *)a)->topic, ((const struct im_topic_row *)b)->topic);
}

void mem_im_topics_list(struct store *st, const char *after, size_t max, store_topic_rows_cb done,
                        void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    size_t n = 0, cap = 0, b;
    struct im_topic_row *v = NULL;
    for (struct hmap_entry *e = hmap_first(&ms->topics, &b); e; e = hmap_next(&ms->topics, e, &b)) {
        const struct mem_topic *t = e->val;
        if ((!t->is_group && t->last_seq <= 0) || (after && strcmp(e->key, after) <= 0))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct im_topic_row *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                free(v);
                done(arg, STORE_EFAIL, NULL, 0);
                return;
            }
            v = nv;
        }
        v[n++] = (struct im_topic_row){.topic = e->key, .is_group = t->is_group,
                                       .last_seq = t->last_seq,
                                       .nmembers = t->is_group ? (int64_t)t->nmembers : 0};
    }
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_topic_row);
    done(arg, 0, v, n < max ? n : max);
    free(v);
}

void mem_im_member_add(struct store *st, const char *topic, const char *aor, store_status_cb done,
                       void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_topic *t = topic_get(ms, topic, 0, NULL);
    int status = 0;
    if (!t || !t->is_group) {
        status = 404;
    } else if (!is_member(t, aor)) {
        char **v = realloc(t->members, (t->nmembers + 1) * sizeof *v);
        char *m = strdup(aor);
        if (v)
            t->members = v;
        if (!v || !m) {
            free(m);
            status = STORE_EFAIL;
        } else {
            t->members[t->nmembers++] = m;
        }
    }
    if (done)
        done(arg, status);
}

void mem_im_member_remove(struct store *st, const char *topic, const char *aor,
                          store_status_cb done, void *arg)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_topic *t = topic_get(ms, topic, 0, NULL);
    size_t i = 0;
    while (t && t->is_group && i < t->nmembers && strcmp(t->members[i], aor) != 0)
        i++;
    if (!t || !t->is_group || i == t->nmembers) {
        if (done)
            done(arg, 404);
        return;
    }
    free(t->members[i]);
    t->members[i] = t->members[--t->nmembers];
    /* its devices' positions: "aor\n<device>" */
    size_t alen = strlen(aor), b;
    for (struct hmap_entry *e = hmap_first(&t->positions, &b), *next; e; e = next) {
        next = hmap_next(&t->positions, e, &b);
        if (e->klen > alen && e->key[alen] == '\n' && memcmp(e->key, aor, alen) == 0 &&
            e->klen <= 2048) {
            char key[2048]; /* hmap_del frees the entry and its key */
            size_t klen = e->klen;
            memcpy(key, e->key, klen);
            free(e->val);
            hmap_del(&t->positions, key, klen);
        }
    }
    if (done)
        done(arg, 0);
}
