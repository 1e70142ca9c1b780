/* h_subs.c - /api/v1/subscriptions?topic=URI or ?user=AOR: `im` subscriptions (docs/api.md
 * "Topics, subscriptions, messages").
 *
 * What is authoritative: the subscriptions this node's broker holds, read from the broker itself
 * (its acknowledged seq is live). On PostgreSQL the rows of `subscriptions` add those that other
 * brokers hold (schema/005_im_subscriptions.sql, written by brokers with a node name), with the
 * acknowledged seq raised to the device's position; a subscription both held here and kept as a
 * row is shown once, as held here. Presence subscriptions are not listed. */
#include "api_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "roles/im/broker.h"

#define SUBS_MAX_ROWS 10000 /* subscriptions of one topic or user read to cut one page from */
#include "store/store.h"

/* The dialog key of a subscription: Call-ID, tags and Event id. */
static char *dialog_key(const char *call_id, const char *remote_tag, const char *local_tag,
                        const char *event_id)
{
    size_t n = strlen(call_id) + strlen(remote_tag) + strlen(local_tag) + strlen(event_id) + 4;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s\n%s\n%s\n%s", call_id, remote_tag, local_tag, event_id);
    return k;
}

static json_t *sub_json(const char *topic, const char *aor, const char *device, const char *node,
                        int64_t acked_seq, const char *state, int64_t expires_at, int64_t now)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:I, s:s, s:I}", "topic", topic, "aor", aor, "device",
                     device ? device : "", "node", node && *node ? json_string(node) : json_null(),
                     "acked_seq", (json_int_t)acked_seq, "state", state, "expires_s",
                     (json_int_t)(expires_at > now ? expires_at - now : 0));
}

static json_t *out_last(json_t *a) { return json_array_get(a, json_array_size(a) - 1); }

struct subs_acc {
    struct api_job *j;
    json_t *items;
    json_t *keys; /* object: dialog key -> true, for the ones held here */
    int64_t now;
};

static void on_local_sub(void *arg, const struct broker_sub_info *s)
{
    struct subs_acc *a = arg;
    json_array_append_new(a->items, sub_json(s->topic, s->aor, s->device, a->j->api->node_name,
                                             s->acked_seq, s->state, s->expires_at, a->now));
    char *k = dialog_key(s->call_id ? s->call_id : "", s->remote_tag ? s->remote_tag : "",
                         s->local_tag ? s->local_tag : "", s->event_id);
    if (k)
        json_object_set_new(a->keys, k, json_true());
    free(k);
}

/* Where an item sorts, and the cursor of the page it ends: "topic aor device" (no field holds a
 * space, and a space sorts below every character a URI may hold, so comparing the keys orders
 * by topic, then aor, then device). A new string. */
static char *item_key(json_t *it)
{
    const char *f[3] = {json_string_value(json_object_get(it, "topic")),
                        json_string_value(json_object_get(it, "aor")),
                        json_string_value(json_object_get(it, "device"))};
    size_t n = strlen(f[0]) + strlen(f[1]) + strlen(f[2]) + 3;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s %s %s", f[0], f[1], f[2]);
    return k;
}

static int cmp_item(const void *pa, const void *pb)
{
    json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    return strcmp(json_string_value(json_object_get(a, "_key")),
                  json_string_value(json_object_get(b, "_key")));
}

/* The next page's path: the same question, after `key`. NULL on out of memory. */
static json_t *next_link(const struct api_job *j, const char *key)
{
    char *which = api_encode(j->s[0] ? j->s[0] : j->s[1]), *after = api_encode(key);
    char path[2048];
    json_t *v = NULL;
    if (which && after &&
        snprintf(path, sizeof path, "/api/v1/subscriptions?%s=%s&after=%s&limit=%ld",
                 j->s[0] ? "topic" : "user", which, after, j->n[0]) < (int)sizeof path)
        v = json_string(path);
    free(which);
    free(after);
    return v ? v : json_null();
}

/* items sorted by topic, aor, device, those after the cursor (s[2]), at most limit, as the
 * answer, with the next page's link when more follow */
static void answer(struct subs_acc *a)
{
    size_t n = json_array_size(a->items), limit = (size_t)a->j->n[0], taken = 0;
    const char *after = a->j->s[2];
    json_t **v = malloc((n ? n : 1) * sizeof *v);
    json_t *out = json_array(), *next = json_null();
    if (v) {
        for (size_t i = 0; i < n; i++) {
            v[i] = json_array_get(a->items, i);
            char *k = item_key(v[i]);
            json_object_set_new(v[i], "_key", json_string(k ? k : ""));
            free(k);
        }
        qsort(v, n, sizeof *v, cmp_item);
        for (size_t i = 0; i < n; i++) {
            const char *k = json_string_value(json_object_get(v[i], "_key"));
            if (after && strcmp(k, after) <= 0)
                continue;
            if (taken == limit) {
                json_decref(next);
                next = next_link(a->j, json_string_value(json_object_get(out_last(out), "_key")));
                break;
            }
            json_array_append(out, v[i]);
            taken++;
        }
        for (size_t i = 0; i < n; i++)
            json_object_del(v[i], "_key");
    }
    free(v);
    api_job_done(a->j, 200, json_pack("{s:o, s:o}", "items", out, "next", next));
    json_decref(a->items);
    json_decref(a->keys);
    free(a);
}

static void on_rows(void *arg, int status, const struct im_sub_row *v, size_t n)
{
    struct subs_acc *a = arg;
    if (status != 0) {
        api_job_error(a->j, api_store_http_status(status), "store error",
                      "the subscription rows could not be read");
        json_decref(a->items);
        json_decref(a->keys);
        free(a);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *k = dialog_key(v[i].call_id, v[i].remote_tag, v[i].local_tag,
                             v[i].event_id ? v[i].event_id : "");
        int is_here = k && json_object_get(a->keys, k);
        free(k);
        if (is_here)
            continue;
        const char *device = v[i].instance && *v[i].instance ? v[i].instance : v[i].contact;
        json_array_append_new(a->items, sub_json(v[i].topic, v[i].subscriber, device, v[i].node,
                                                 v[i].acked_seq,
                                                 v[i].node ? "active" : "orphaned",
                                                 v[i].expires_at, a->now));
    }
    answer(a);
}

static void subs_run(struct api_job *j)
{
    struct subs_acc *a = calloc(1, sizeof *a);
    if (!a) {
        api_job_error(j, 500, "out of memory", "the subscriptions could not be listed");
        return;
    }
    a->j = j;
    a->items = json_array();
    a->keys = json_object();
    a->now = (int64_t)time(NULL);
    if (j->api->ctx.broker)
        broker_subs_visit(j->api->ctx.broker, j->s[0], j->s[1], on_local_sub, a);
    /* every row of the topic or user (a page is cut here, after merging with the local ones) */
    store_im_subs_list(j->api->ctx.store, j->s[0], j->s[1], SUBS_MAX_ROWS, on_rows, a);
}

void api_h_subscriptions_list(struct api_req *r)
{
    long limit;
    if (api_query_long(r, "limit", API_DEFAULT_LIMIT, 1, API_MAX_LIMIT, &limit) < 0)
        return;
    int bad = 0;
    char *topic = api_query(r, "topic", &bad), *user = api_query(r, "user", &bad);
    char *after = api_query(r, "after", &bad);
    char *which = NULL;
    if (bad || (after && strlen(after) > 1024)) {
        api_reply_error(r, 400, "bad query argument", "after must be the cursor of a \"next\" link");
    } else if ((topic != NULL) == (user != NULL)) {
        api_reply_error(r, 400, "bad query argument", "give exactly one of topic=URI and user=AOR");
    } else if (!(which = api_aor(topic ? topic : user))) {
        api_reply_error(r, 400, "bad query argument", "%s is not a SIP URI with a user and a host",
                        topic ? "topic" : "user");
    } else {
        struct api_job *j = api_job_new(r->api, subs_run);
        if (j) {
            j->s[topic ? 0 : 1] = which;
            j->s[2] = after;
            j->n[0] = limit;
            which = after = NULL;
        }
        api_job_call(r, j);
    }
    free(which);
    free(after);
    free(topic);
    free(user);
}
