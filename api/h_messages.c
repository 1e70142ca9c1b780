/* h_messages.c - /api/v1/topics/{topic}/messages: a topic's stored messages by seq, and system
 * notices published into it (docs/api.md "Topics, subscriptions, messages").
 *
 * A notice is a message like any other (docs/im-event-package.md §10.4): stored with the topic's
 * next seq, then delivered by NOTIFY to the topic's `im` subscriptions and by page-mode MESSAGE to
 * registered devices that hold none. Who delivers it:
 *  - a node with the broker role: its broker (broker_publish_notice) stores it, NOTIFYs its own
 *    subscriptions and starts page mode; brokers sharing the database hear of it through the
 *    store's announcement (LISTEN sipd_im) and NOTIFY theirs, as for a MESSAGE stored by a peer;
 *  - a node without the broker role on PostgreSQL: the message is stored here and the same
 *    announcement reaches every broker, which NOTIFY their subscriptions; page mode for devices
 *    without a subscription then happens at their next REGISTER (replay, §11.4);
 *  - a node without the broker role on the memory store: nobody could deliver it, 409. */
#include "api_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "roles/im/broker.h"
#include "store/store.h"

#define DEFAULT_CONTENT_TYPE "text/plain"


/* ---- the list ---- */

static json_t *message_json(const struct im_message *m)
{
    json_t *body = json_stringn(m->body, m->body_len); /* NULL: not UTF-8 text */
    return json_pack("{s:I, s:s, s:s, s:o, s:I}", "seq", (json_int_t)m->seq, "from", m->sender,
                     "content_type", m->content_type, "body", body ? body : json_null(),
                     "time_ms", (json_int_t)m->created_at * 1000);
}

static void on_messages(void *arg, int status, const struct im_message *v, size_t n,
                        int64_t first_seq, int64_t last_seq)
{
    (void)first_seq;
    struct api_job *j = arg;
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "the messages of %.200s could not be read", j->s[0]);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, message_json(&v[i]));
    json_t *next = json_null();
    if (n > 0 && v[n - 1].seq < last_seq) {
        char *topic = api_encode(j->s[0]);
        char buf[2048];
        if (topic) {
            snprintf(buf, sizeof buf, "/api/v1/topics/%s/messages?after=%" PRId64 "&limit=%ld",
                     topic, v[n - 1].seq, j->n[1]);
            next = json_string(buf);
        }
        free(topic);
    }
    api_job_done(j, 200, json_pack("{s:o, s:o, s:I}", "items", items, "next", next, "last_seq",
                                   (json_int_t)last_seq));
}

static void on_list_topic(void *arg, int status, const struct im_topic_info *info)
{
    struct api_job *j = arg;
    if (!api_topic_found(j, status, info))
        return;
    store_im_read(j->api->ctx.store, j->s[0], j->n[0], (size_t)j->n[1], (int64_t)time(NULL),
                  api_retention(j->api), on_messages, j);
}

static void list_run(struct api_job *j)
{
    store_im_topic(j->api->ctx.store, j->s[0], NULL, (int64_t)time(NULL), api_retention(j->api),
                   on_list_topic, j);
}

void api_h_messages_list(struct api_req *r)
{
    long after, limit;
    if (api_query_long(r, "after", 0, 0, INT64_MAX, &after) < 0 ||
        api_query_long(r, "limit", API_DEFAULT_LIMIT, 1, API_MAX_LIMIT, &limit) < 0)
        return;
    struct api_job *j = api_path_job(r, API_PATH_TOPIC, list_run);
    if (!j)
        return;
    j->n[0] = after;
    j->n[1] = limit;
    api_job_call(r, j);
}

/* ---- publish a notice ---- */

static void on_notice(void *arg, int status, int64_t seq)
{
    struct api_job *j = arg;
    if (status == 413) {
        api_job_error(j, 413, "body too big", "the body is over broker.im_max_message_bytes");
        return;
    }
    if (status != 0) {
        api_job_error(j, status > 0 && status < 600 ? status : api_store_http_status(status),
                      "not stored", "the notice could not be stored in %.200s", j->s[0]);
        return;
    }
    api_job_done(j, 201, json_pack("{s:I}", "seq", (json_int_t)seq));
}

static void on_stored(void *arg, int status, int64_t seq, int64_t copy_seq, int duplicate)
{
    (void)copy_seq, (void)duplicate;
    on_notice(arg, status, seq);
}

static void post_run(struct api_job *j)
{
    struct api_ctx *ctx = &j->api->ctx;
    const char *body = j->s[3];
    size_t len = strlen(body);
    if (ctx->broker) {
        broker_publish_notice(ctx->broker, j->s[0], j->s[1], j->s[2], body, len, on_notice, j);
        return;
    }
    if (strcmp(store_backend_name(ctx->store), "postgres") != 0) {
        api_job_error(j, 409, "no broker on this node",
                      "the memory store has no broker to deliver it: publish on a broker node");
        return;
    }
    /* stored here; the store's announcement (LISTEN sipd_im) takes it to every broker */
    struct im_publish p = {
        .topic = j->s[0],
        .sender = j->s[1],
        .content_type = j->s[2],
        .body = body,
        .body_len = len,
        .now = (int64_t)time(NULL),
    };
    store_im_publish(ctx->store, &p, on_stored, j);
}

/* The sender of a notice without "from": api.notice_from, else sip:notice@ the topic's host. */
static char *default_from(struct api_req *r, const char *topic)
{
    if (r->api->notice_from[0])
        return api_aor(r->api->notice_from);
    const char *host = strchr(topic, '@');
    char buf[512];
    snprintf(buf, sizeof buf, "sip:notice@%s", host ? host + 1 : "localhost");
    return strdup(buf);
}

void api_h_message_post(struct api_req *r)
{
    static const char *const allowed[] = {"body", "content_type", "from", NULL};
    json_t *in = api_body_object(r, allowed);
    if (!in)
        return;
    json_t *body = json_object_get(in, "body"), *ct = json_object_get(in, "content_type"),
           *from = json_object_get(in, "from");
    char *topic = NULL, *sender = NULL;
    const char *ctype = DEFAULT_CONTENT_TYPE;
    if (!json_is_string(body) || json_string_length(body) == 0 ||
        strlen(json_string_value(body)) != json_string_length(body)) {
        api_reply_error(r, 400, "bad field", "body must be a non-empty string without NUL");
        goto out;
    }
    if (ct) {
        ctype = json_is_string(ct) ? json_string_value(ct) : "";
        if (!*ctype || strlen(ctype) > 255 || !strchr(ctype, '/') || strpbrk(ctype, "\r\n")) {
            api_reply_error(r, 400, "bad field", "content_type must be a MIME type (type/subtype)");
            goto out;
        }
    }
    if (from && !(json_is_string(from) && (sender = api_aor(json_string_value(from))))) {
        api_reply_error(r, 400, "bad field", "from must be a SIP URI with a user and a host");
        goto out;
    }
    if (!(topic = api_path_aor(r, API_PATH_TOPIC)))
        goto out;
    if (!sender && !(sender = default_from(r, topic))) {
        api_reply_error(r, 500, "bad configuration", "api.notice_from is not a SIP URI with a user");
        goto out;
    }
    char *ctype_copy = strdup(ctype), *text = strdup(json_string_value(body));
    struct api_job *j = ctype_copy && text ? api_job_new(r->api, post_run) : NULL;
    if (j) {
        j->s[0] = topic;
        j->s[1] = sender;
        j->s[2] = ctype_copy;
        j->s[3] = text;
        topic = sender = ctype_copy = text = NULL;
    }
    free(ctype_copy);
    free(text);
    api_job_call(r, j); /* NULL: 500 */
out:
    free(topic);
    free(sender);
    json_decref(in);
}
