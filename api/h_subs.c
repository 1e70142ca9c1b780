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

static int cmp_item(const void *pa, const void *pb)
{
    json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    int c = strcmp(json_string_value(json_object_get(a, "topic")),
                   json_string_value(json_object_get(b, "topic")));
    if (c == 0)
        c = strcmp(json_string_value(json_object_get(a, "aor")),
                   json_string_value(json_object_get(b, "aor")));
    if (c == 0)
        c = strcmp(json_string_value(json_object_get(a, "device")),
                   json_string_value(json_object_get(b, "device")));
    return c;
}

/* items sorted by topic, aor, device, at most limit, as the answer */
static void answer(struct subs_acc *a)
{
    size_t n = json_array_size(a->items), limit = (size_t)a->j->n[0];
    json_t **v = malloc((n ? n : 1) * sizeof *v);
    json_t *out = json_array();
    if (v) {
        for (size_t i = 0; i < n; i++)
            v[i] = json_array_get(a->items, i);
        qsort(v, n, sizeof *v, cmp_item);
        for (size_t i = 0; i < n && i < limit; i++)
            json_array_append(out, v[i]);
    }
    free(v);
    api_job_done(a->j, 200, json_pack("{s:o, s:n}", "items", out, "next"));
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
    store_im_subs_list(j->api->ctx.store, j->s[0], j->s[1], (size_t)j->n[0], on_rows, a);
}

void api_h_subscriptions_list(struct api_req *r)
{
    long limit;
    if (api_query_long(r, "limit", API_DEFAULT_LIMIT, 1, API_MAX_LIMIT, &limit) < 0)
        return;
    int bad = 0;
    char *topic = api_query(r, "topic", &bad), *user = api_query(r, "user", &bad);
    char *which = NULL;
    if (bad || (topic != NULL) == (user != NULL)) {
        api_reply_error(r, 400, "bad query argument", "give exactly one of topic=URI and user=AOR");
    } else if (!(which = api_aor(topic ? topic : user))) {
        api_reply_error(r, 400, "bad query argument", "%s is not a SIP URI with a user and a host",
                        topic ? "topic" : "user");
    } else {
        struct api_job *j = api_job_new(r->api, subs_run);
        if (j) {
            j->s[topic ? 0 : 1] = which;
            j->n[0] = limit;
            which = NULL;
        }
        api_job_call(r, j);
    }
    free(which);
    free(topic);
    free(user);
}
