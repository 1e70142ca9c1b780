/* h_topics.c - /api/v1/topics: group topics and their members, and the user topics that hold
 * messages (docs/api.md "Topics, subscriptions, messages"; docs/im-event-package.md §1, §2).
 *
 * Topics, members and seqs live in the store (PostgreSQL: shared by every broker; memory: this
 * process). A change made here is told to this node's broker as well: a new group or member is
 * read into its page-mode sets (broker_group_created), a deleted group or a removed member ends
 * the subscriptions it holds (noresource, rejected). The static `broker.groups` setting is a
 * seed applied at start-up; groups made here live on in the store beside it. */
#include "api_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "roles/im/broker.h"
#include "store/store.h"

/* ---- helpers shared by the topic, message and subscription handlers ---- */

static const struct im_retention no_retention = {0, 0};

const struct im_retention *api_retention(const struct api *api)
{
    return api->ctx.broker ? broker_retention(api->ctx.broker) : &no_retention;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- one topic: kind, last seq, members ---- */

static void on_topic_members(void *arg, int status, const char *const *members, size_t n)
{
    struct api_job *j = arg;
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "the members of %.200s could not be read", j->s[0]);
        return;
    }
    const char **v = malloc((n ? n : 1) * sizeof *v);
    json_t *a = json_array();
    if (v && n) {
        memcpy(v, members, n * sizeof *v);
        qsort(v, n, sizeof *v, cmp_str);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, json_string(v[i]));
    }
    free(v);
    json_t *o = json_pack("{s:s, s:s, s:I, s:o}", "topic", j->s[0], "kind", "group", "last_seq",
                          (json_int_t)j->n[3], "members", a);
    api_job_done(j, (int)j->n[2], o);
}

int api_topic_found(struct api_job *j, int status, const struct im_topic_info *info)
{
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "topic %.200s could not be read", j->s[0]);
        return 0;
    }
    if (!info->is_group && info->last_seq == 0) {
        api_job_error(j, 404, "not found", "no group topic %.200s, and no message stored in it",
                      j->s[0]);
        return 0;
    }
    return 1;
}

static void on_topic_info(void *arg, int status, const struct im_topic_info *info)
{
    struct api_job *j = arg;
    if (!api_topic_found(j, status, info))
        return;
    j->n[3] = info->last_seq;
    if (!info->is_group) {
        api_job_done(j, (int)j->n[2],
                     json_pack("{s:s, s:s, s:I, s:[]}", "topic", j->s[0], "kind", "user",
                               "last_seq", (json_int_t)info->last_seq, "members"));
        return;
    }
    store_im_members(j->api->ctx.store, j->s[0], on_topic_members, j);
}

void api_topic_answer(struct api_job *j, int status)
{
    j->n[2] = status;
    store_im_topic(j->api->ctx.store, j->s[0], NULL, (int64_t)time(NULL), api_retention(j->api),
                   on_topic_info, j);
}

static void topic_get_run(struct api_job *j)
{
    api_topic_answer(j, 200);
}

void api_h_topic_get(struct api_req *r)
{
    struct api_job *j = api_path_job(r, API_PATH_TOPIC, topic_get_run);
    if (j)
        api_job_call(r, j);
}

/* ---- the list ---- */

static json_t *topic_row_json(const struct im_topic_row *t)
{
    return json_pack("{s:s, s:s, s:I, s:I}", "topic", t->topic, "kind",
                     t->is_group ? "group" : "user", "last_seq", (json_int_t)t->last_seq,
                     "members", (json_int_t)t->nmembers);
}

/* The topics of the subscriptions this node's broker holds, past `after`, that the store did
 * not list (a user topic with a subscription but no message): added as user topics with
 * last_seq 0 (their strings are the broker's, valid during this loop callback). */
struct topic_merge {
    const char *after;
    struct im_topic_row *v;
    size_t n, nstore, cap;
};

static void on_held(void *arg, const struct broker_sub_info *s)
{
    struct topic_merge *m = arg;
    if (m->after && strcmp(s->topic, m->after) <= 0)
        return;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].topic, s->topic) == 0)
            return;
    if (m->n == m->cap) {
        size_t cap = m->cap * 2 + 16;
        struct im_topic_row *v = realloc(m->v, cap * sizeof *v);
        if (!v)
            return;
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = (struct im_topic_row){.topic = s->topic};
}

static int cmp_topic_row(const void *a, const void *b)
{
    return strcmp(((const struct im_topic_row *)a)->topic, ((const struct im_topic_row *)b)->topic);
}

static void on_topic_rows(void *arg, int status, const struct im_topic_row *rows, size_t nrows)
{
    struct api_job *j = arg;
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error", "the topics could not be read");
        return;
    }
    struct topic_merge m = {.after = j->s[0] && *j->s[0] ? j->s[0] : NULL, .cap = nrows + 16};
    m.v = malloc(m.cap * sizeof *m.v);
    if (!m.v) {
        api_job_error(j, 500, "out of memory", "the topics could not be listed");
        return;
    }
    if (nrows)
        memcpy(m.v, rows, nrows * sizeof *m.v);
    m.n = m.nstore = nrows;
    if (j->api->ctx.broker)
        broker_subs_visit(j->api->ctx.broker, NULL, NULL, on_held, &m);
    if (m.n > m.nstore)
        qsort(m.v, m.n, sizeof *m.v, cmp_topic_row);
    const struct im_topic_row *v = m.v;
    size_t n = m.n, limit = (size_t)j->n[0];
    json_t *items = json_array();
    for (size_t i = 0; i < n && i < limit; i++)
        json_array_append_new(items, topic_row_json(&v[i]));
    json_t *next = api_next_link("/api/v1/topics", limit, n > limit ? v[limit - 1].topic : NULL);
    free(m.v);
    api_job_done(j, 200, json_pack("{s:o, s:o}", "items", items, "next", next));
}

static void topics_run(struct api_job *j)
{
    store_im_topics_list(j->api->ctx.store, j->s[0], (size_t)j->n[0] + 1, on_topic_rows, j);
}

void api_h_topics_list(struct api_req *r)
{
    struct api_job *j = api_list_job(r, topics_run);
    if (j)
        api_job_call(r, j);
}

/* ---- create ---- */

static void on_group_created(void *arg, int status)
{
    struct api_job *j = arg;
    if (status == 409) {
        api_job_error(j, 409, "exists", "%.200s is a group topic already, or a user topic with messages",
                      j->s[0]);
        return;
    }
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "group %.200s could not be made", j->s[0]);
        return;
    }
    if (j->api->ctx.broker)
        broker_group_created(j->api->ctx.broker, j->s[0]);
    api_topic_answer(j, 201);
}

static void create_run(struct api_job *j)
{
    size_t n = json_array_size(j->in);
    const char **v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        api_job_error(j, 500, "out of memory", "the members could not be listed");
        return;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = json_string_value(json_array_get(j->in, i));
    store_im_group_create(j->api->ctx.store, j->s[0], v, n, on_group_created, j);
    free(v);
}

/* The members of a body as canonical AORs, each once (a new array), or NULL after answering 400. */
static json_t *members_of(struct api_req *r, json_t *list)
{
    if (list && !json_is_array(list)) {
        api_reply_error(r, 400, "bad field", "members must be an array of SIP URIs");
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m) {
        char *aor = json_is_string(m) ? api_aor(json_string_value(m)) : NULL;
        if (!aor) {
            api_reply_error(r, 400, "bad field", "members[%zu] is not a SIP URI with a user", i);
            json_decref(out);
            return NULL;
        }
        api_array_add_once(out, aor);
        free(aor);
    }
    return out;
}

void api_h_topic_create(struct api_req *r)
{
    static const char *const allowed[] = {"topic", "members", NULL};
    json_t *body = api_body_object(r, allowed);
    if (!body)
        return;
    json_t *t = json_object_get(body, "topic");
    char *topic = json_is_string(t) ? api_aor(json_string_value(t)) : NULL;
    if (!topic) {
        api_reply_error(r, 400, "bad field", "topic must be a SIP URI with a user and a host");
        json_decref(body);
        return;
    }
    json_t *members = members_of(r, json_object_get(body, "members"));
    json_decref(body);
    if (!members) {
        free(topic);
        return;
    }
    struct api_job *j = api_job_new(r->api, create_run);
    if (j) {
        j->s[0] = topic;
        j->in = members;
    } else {
        free(topic);
        json_decref(members);
    }
    api_job_call(r, j);
}

/* ---- delete ---- */

static void on_group_deleted(void *arg, int status)
{
    struct api_job *j = arg;
    if (status == 404) {
        api_job_error(j, 404, "not found", "no group topic %.200s", j->s[0]);
        return;
    }
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "group %.200s could not be deleted", j->s[0]);
        return;
    }
    if (j->api->ctx.broker)
        broker_group_deleted(j->api->ctx.broker, j->s[0]);
    api_job_done(j, 204, NULL);
}

static void on_delete_info(void *arg, int status, const struct im_topic_info *info)
{
    struct api_job *j = arg;
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "topic %.200s could not be read", j->s[0]);
        return;
    }
    if (!info->is_group) {
        if (info->last_seq > 0)
            api_job_error(j, 409, "user topic", "%.200s is a user topic: only group topics are deleted",
                          j->s[0]);
        else
            api_job_error(j, 404, "not found", "no group topic %.200s", j->s[0]);
        return;
    }
    store_im_group_delete(j->api->ctx.store, j->s[0], on_group_deleted, j);
}

static void delete_run(struct api_job *j)
{
    store_im_topic(j->api->ctx.store, j->s[0], NULL, (int64_t)time(NULL), api_retention(j->api),
                   on_delete_info, j);
}

void api_h_topic_delete(struct api_req *r)
{
    struct api_job *j = api_path_job(r, API_PATH_TOPIC, delete_run);
    if (j)
        api_job_call(r, j);
}

/* ---- members ---- */

static void on_member_added(void *arg, int status)
{
    struct api_job *j = arg;
    if (status == 404) {
        api_job_error(j, 404, "not found", "no group topic %.200s", j->s[0]);
        return;
    }
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "the member could not be added to %.200s", j->s[0]);
        return;
    }
    if (j->api->ctx.broker) /* its page-mode sets learn the new member */
        broker_group_created(j->api->ctx.broker, j->s[0]);
    api_topic_answer(j, 200);
}

static void member_add_run(struct api_job *j)
{
    store_im_member_add(j->api->ctx.store, j->s[0], j->s[1], on_member_added, j);
}

void api_h_topic_member_add(struct api_req *r)
{
    static const char *const allowed[] = {"member", NULL};
    json_t *body = api_body_object(r, allowed);
    if (!body)
        return;
    json_t *m = json_object_get(body, "member");
    char *aor = json_is_string(m) ? api_aor(json_string_value(m)) : NULL;
    json_decref(body);
    if (!aor) {
        api_reply_error(r, 400, "bad field", "member must be a SIP URI with a user and a host");
        return;
    }
    struct api_job *j = api_path_job(r, API_PATH_TOPIC, member_add_run);
    if (!j) {
        free(aor);
        return;
    }
    j->s[1] = aor;
    api_job_call(r, j);
}

static void on_member_removed(void *arg, int status)
{
    struct api_job *j = arg;
    if (status == 404) {
        api_job_error(j, 404, "not found", "%.200s is no member of a group topic %.200s", j->s[1],
                      j->s[0]);
        return;
    }
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "the member could not be removed from %.200s", j->s[0]);
        return;
    }
    if (j->api->ctx.broker)
        broker_member_removed(j->api->ctx.broker, j->s[0], j->s[1]);
    api_topic_answer(j, 200);
}

static void member_remove_run(struct api_job *j)
{
    store_im_member_remove(j->api->ctx.store, j->s[0], j->s[1], on_member_removed, j);
}

void api_h_topic_member_remove(struct api_req *r)
{
    char *aor = api_path_aor(r, API_PATH_MEMBER);
    if (!aor)
        return;
    struct api_job *j = api_path_job(r, API_PATH_TOPIC, member_remove_run);
    if (!j) {
        free(aor);
        return;
    }
    j->s[1] = aor;
    api_job_call(r, j);
}
