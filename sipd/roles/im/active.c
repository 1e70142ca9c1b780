/* active.c - what this node knows the store holds without asking it: the topics that ever
 * stored a message and the members of every group, so that a REGISTER can skip page-mode replay
 * checks that cannot find anything. The rule, and why it is safe across nodes, is in the header
 * of pagemode.c (which asks im_active_may_skip at every REGISTER). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/log.h"
#include "im_internal.h"

enum { ACTIVE_UNKNOWN, ACTIVE_LOADING, ACTIVE_KNOWN, ACTIVE_TOO_MANY };
#define ACTIVE_MAX 200000     /* more active topics (or members) than this: never skip */
#define ACTIVE_RETRY_S 5      /* a failed snapshot is tried again after this */
#define RECENT_SLOTS 1024     /* the cache of skipped REGISTERs, by hash of the AOR */
#define RECENT_ANNOUNCE_S 2   /* how late an announcement may come (a few ms in practice) */
#define RECENT_RESET_S 60     /* how late a lost listener may be noticed */

struct im_recent {
    int64_t at; /* 0: empty */
    char aor[AOR_MAX];
};

struct active_query {
    struct broker *b;
    unsigned epoch;
    int is_members;
    char topic[AOR_MAX];
};

void im_active_init(struct broker *b)
{
    hmap_init(&b->active.topics);
    hmap_init(&b->active.members);
}

void im_active_free(struct broker *b)
{
    hmap_free(&b->active.topics);
    hmap_free(&b->active.members);
    free(b->active.recent);
    b->active.recent = NULL;
}

static int set_add(struct hmap *m, const char *s)
{
    size_t len = strlen(s);
    return hmap_get(m, s, len) ? 0 : hmap_put(m, s, len, (void *)1, NULL);
}

static struct im_recent *recent_slot(struct broker *b, const char *aor)
{
    if (!b->active.recent)
        return NULL;
    return &b->active.recent[hmap_hash(aor, strlen(aor)) % RECENT_SLOTS];
}

static void recent_remember(struct broker *b, const char *aor)
{
    if (!b->active.recent && !(b->active.recent = calloc(RECENT_SLOTS, sizeof *b->active.recent)))
        return;
    struct im_recent *r = recent_slot(b, aor);
    r->at = sip_now_s();
    snprintf(r->aor, sizeof r->aor, "%s", aor);
}

static void on_recheck_lookup(void *arg, int status, const struct binding *v, size_t n)
{
    struct active_query *q = arg;
    if (status == 0 && n > 0) {
        LOG_DEBUG("page-mode replay after a skipped REGISTER aor=%s", q->topic);
        im_replay_registered(q->b, q->topic, v, n);
    }
    free(q);
}

/* The full replay for r's AOR after all, and forget it. */
static void recent_replay(struct broker *b, struct im_recent *r)
{
    struct active_query *q = calloc(1, sizeof *q);
    r->at = 0;
    if (!q)
        return;
    q->b = b;
    snprintf(q->topic, sizeof q->topic, "%s", r->aor);
    store_location_lookup(b->st, q->topic, sip_now_s(), on_recheck_lookup, q);
}

/* aor is owed something it may have been skipped for: replay it if it was, lately. */
static void recent_recheck(struct broker *b, const char *aor)
{
    struct im_recent *r = recent_slot(b, aor);
    if (r && r->at && r->at >= sip_now_s() - RECENT_ANNOUNCE_S && strcmp(r->aor, aor) == 0)
        recent_replay(b, r);
}

void im_active_reset(struct broker *b)
{
    struct im_active *a = &b->active;
    hmap_free(&a->topics);
    hmap_free(&a->members);
    hmap_init(&a->topics);
    hmap_init(&a->members);
    a->state = ACTIVE_UNKNOWN;
    a->epoch++;
    a->nloading = a->npending = 0;
    for (size_t i = 0; a->recent && i < RECENT_SLOTS; i++)
        if (a->recent[i].at && a->recent[i].at >= sip_now_s() - RECENT_RESET_S)
            recent_replay(b, &a->recent[i]);
}

static void active_failed(struct broker *b)
{
    im_active_reset(b);
    b->active.retry_at = sip_now_s() + ACTIVE_RETRY_S;
}

static void on_active_members(void *arg, int status, const char *const *members, size_t n)
{
    struct active_query *q = arg;
    struct broker *b = q->b;
    if (q->epoch == b->active.epoch) {
        b->active.npending--;
        for (size_t i = 0; status == 0 && i < n; i++) {
            if (set_add(&b->active.members, members[i]) != 0) {
                status = STORE_EFAIL;
                break;
            }
            recent_recheck(b, members[i]);
        }
        if (status != 0)
            active_failed(b);
    }
    free(q);
}

/* Read the members of topic (none unless a group) into the set; until then nothing is skipped. */
static void active_read_members(struct broker *b, const char *topic)
{
    struct im_active *a = &b->active;
    struct active_query *q = calloc(1, sizeof *q);
    if (!q) {
        active_failed(b);
        return;
    }
    q->b = b;
    q->epoch = a->epoch;
    snprintf(q->topic, sizeof q->topic, "%s", topic);
    a->npending++;
    store_im_members(b->st, q->topic, on_active_members, q);
}

void im_active_note(struct broker *b, const char *topic)
{
    struct im_active *a = &b->active;
    if ((a->state != ACTIVE_LOADING && a->state != ACTIVE_KNOWN) ||
        hmap_get(&a->topics, topic, strlen(topic)))
        return;
    if (set_add(&a->topics, topic) != 0) {
        active_failed(b);
        return;
    }
    recent_recheck(b, topic);
    active_read_members(b, topic);
}

void broker_group_created(struct broker *b, const char *topic)
{
    struct im_active *a = &b->active;
    if (a->state == ACTIVE_LOADING || a->state == ACTIVE_KNOWN)
        active_read_members(b, topic);
}

static void on_active_list(void *arg, int status, const char *const *v, size_t n)
{
    struct active_query *q = arg;
    struct broker *b = q->b;
    struct im_active *a = &b->active;
    if (q->epoch == a->epoch) {
        if (status != 0)
            a->is_load_failed = 1;
        else if (n >= ACTIVE_MAX)
            a->is_too_many = 1;
        for (size_t i = 0; status == 0 && i < n && !a->is_load_failed; i++)
            a->is_load_failed = set_add(q->is_members ? &a->members : &a->topics, v[i]) != 0;
        if (--a->nloading == 0) {
            if (a->is_load_failed) {
                LOG_DEBUG("page-mode replay: snapshot of active topics failed, checks kept");
                active_failed(b);
            } else {
                a->state = a->is_too_many ? ACTIVE_TOO_MANY : ACTIVE_KNOWN;
            }
        }
    }
    free(q);
}

/* Take the snapshot (the two queries). */
static void active_load(struct broker *b)
{
    struct im_active *a = &b->active;
    struct active_query *q[2] = {calloc(1, sizeof *q[0]), calloc(1, sizeof *q[1])};
    if (!q[0] || !q[1]) {
        free(q[0]);
        free(q[1]);
        return;
    }
    a->state = ACTIVE_LOADING;
    a->nloading = 2;
    a->is_load_failed = a->is_too_many = 0;
    for (int i = 0; i < 2; i++) {
        q[i]->b = b;
        q[i]->epoch = a->epoch;
        q[i]->is_members = i;
    }
    store_im_active_topics(b->st, ACTIVE_MAX, on_active_list, q[0]);
    store_im_group_members(b->st, ACTIVE_MAX, on_active_list, q[1]);
}

void im_active_may_skip(struct broker *b, const char *topic, int *skip_user, int *skip_groups)
{
    struct im_active *a = &b->active;
    int is_listening = store_im_is_listening(b->st);
    if (!is_listening && (a->state == ACTIVE_LOADING || a->state == ACTIVE_KNOWN))
        im_active_reset(b);
    else if (is_listening && a->state == ACTIVE_UNKNOWN && sip_now_s() >= a->retry_at)
        active_load(b);
    int is_known = a->state == ACTIVE_KNOWN && a->npending == 0;
    *skip_user = is_known && !hmap_get(&a->topics, topic, strlen(topic));
    *skip_groups = is_known && !hmap_get(&a->members, topic, strlen(topic));
    if (*skip_user || *skip_groups) {
        LOG_DEBUG("page-mode replay checks skipped aor=%s user-topic=%s groups=%s", topic,
                  *skip_user ? "skipped" : "checked", *skip_groups ? "skipped" : "checked");
        if (strcmp(store_backend_name(b->st), "memory") != 0)
            recent_remember(b, topic);
    }
}
