/* cmd_topics.c - the IM broker's side: `topics`, `topic show|create|add|remove|delete`, `subs`,
 * `messages`, `publish`. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_impl.h"

static void print_topics(struct ctl_ctx *ctx, json_t *items, void *arg)
{
    (void)arg;
    static const char *const head[] = {"TOPIC", "KIND", "LAST SEQ", "MEMBERS"};
    struct table *t = table_new(4, head);
    table_align_right(t, 2);
    table_align_right(t, 3);
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e) {
        char seq[32], m[32];
        const char *cells[] = {ctl_field(e, "topic", NULL, 0), ctl_field(e, "kind", NULL, 0),
                               ctl_field(e, "last_seq", seq, sizeof(seq)),
                               ctl_field(e, "members", m, sizeof(m))};
        table_add_row(t, cells);
    }
    ctl_print_table(ctx, t);
}

int ctl_cmd_topics(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return ctl_usage(ctx, "topics takes no arguments");
    return ctl_api_show_list(ctx, "/api/v1/topics", print_topics, NULL);
}

/* A topic object (GET /topics/{topic}) as lines: its fields, then one line per member. */
static void print_topic(struct ctl_ctx *ctx, json_t *topic, void *arg)
{
    (void)arg;
    char seq[32];
    fprintf(ctx->out, "topic %s (%s), last seq %s\n", ctl_field(topic, "topic", NULL, 0),
            ctl_field(topic, "kind", NULL, 0), ctl_field(topic, "last_seq", seq, sizeof(seq)));
    static const char *const head[] = {"MEMBER"};
    struct table *t = table_new(1, head);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(topic, "members"), i, m) {
        const char *cells[] = {json_string_value(m)};
        table_add_row(t, cells);
    }
    ctl_print_table(ctx, t);
}

int ctl_cmd_topic_show(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return ctl_usage(ctx, NULL);
    char *path = ctl_api_path("/api/v1/topics/%e", argv[0]);
    int rc = ctl_api_show(ctx, path, print_topic, NULL);
    free(path);
    return rc;
}

/* METHOD PATH with BODY (both taken), then the topic the API answers with, shown. */
static int topic_call(struct ctl_ctx *ctx, const char *method, char *path, json_t *body)
{
    json_t *topic = NULL;
    int rc = path ? ctl_api_call(ctx, method, path, body, &topic, NULL) : CTL_EXIT_FAILED;
    free(path);
    json_decref(body);
    if (rc == 0 && topic)
        ctl_show(ctx, topic, print_topic, NULL);
    json_decref(topic);
    return rc;
}

int ctl_cmd_topic_create(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-')
        return ctl_usage(ctx, "topic create needs a URI");
    json_t *members = json_array();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--member") == 0) {
            if (i + 1 >= argc) {
                json_decref(members);
                return ctl_usage(ctx, "--member needs an AOR");
            }
            i++;
        } else if (argv[i][0] == '-') {
            json_decref(members);
            return ctl_usage(ctx, "unknown option");
        }
        json_array_append_new(members, json_string(argv[i]));
    }
    return topic_call(ctx, "POST", strdup("/api/v1/topics"),
                      json_pack("{s:s,s:o}", "topic", argv[0], "members", members));
}

int ctl_cmd_topic_add(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 2)
        return ctl_usage(ctx, NULL);
    return topic_call(ctx, "POST", ctl_api_path("/api/v1/topics/%e/members", argv[0]),
                      json_pack("{s:s}", "member", argv[1]));
}

int ctl_cmd_topic_remove(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 2)
        return ctl_usage(ctx, NULL);
    return topic_call(ctx, "DELETE", ctl_api_path("/api/v1/topics/%e/members/%e", argv[0], argv[1]),
                      NULL);
}

int ctl_cmd_topic_delete(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return ctl_usage(ctx, NULL);
    char said[512];
    snprintf(said, sizeof said, "topic %s deleted", argv[0]);
    return ctl_api_delete(ctx, ctl_api_path("/api/v1/topics/%e", argv[0]), said);
}

static void print_subs(struct ctl_ctx *ctx, json_t *items, void *arg)
{
    (void)arg;
    static const char *const head[] = {"TOPIC", "AOR", "DEVICE", "NODE", "ACKED", "STATE",
                                       "EXPIRES"};
    struct table *t = table_new(7, head);
    table_align_right(t, 4);
    table_align_right(t, 6);
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e) {
        char acked[32], exp[32];
        double s;
        const char *cells[] = {
            ctl_field(e, "topic", NULL, 0),
            ctl_field(e, "aor", NULL, 0),
            ctl_field(e, "device", NULL, 0),
            ctl_field(e, "node", NULL, 0),
            ctl_field(e, "acked_seq", acked, sizeof(acked)),
            ctl_field(e, "state", NULL, 0),
            ctl_number(e, "expires_s", &s) ? ctl_duration(s * 1000, exp, sizeof(exp)) : "-"};
        table_add_row(t, cells);
    }
    ctl_print_table(ctx, t);
}

/* `subs X`: X names a group topic -> the topic's subscriptions (?topic=); anything else is a
 * user -> that user's subscriptions (?user=). Asking GET /topics/X decides; `--topic` or
 * `--user` before X skips the question. */
int ctl_cmd_subs(struct ctl_ctx *ctx, int argc, char **argv)
{
    const char *by = NULL;
    if (argc == 2 && strcmp(argv[0], "--topic") == 0)
        by = "topic";
    else if (argc == 2 && strcmp(argv[0], "--user") == 0)
        by = "user";
    else if (argc != 1 || argv[0][0] == '-')
        return ctl_usage(ctx, NULL);
    const char *who = argv[argc - 1];
    if (!by) {
        char *path = ctl_api_path("/api/v1/topics/%e", who), err[512];
        struct ctl_reply r;
        int rc = http_request(&ctx->http, "GET", path, NULL, &r, err, sizeof(err));
        free(path);
        if (rc != 0) {
            ctl_errorf(ctx, "%s", err);
            return rc;
        }
        json_t *j = r.status == 200 && r.body ? json_loads(r.body, 0, NULL) : NULL;
        const char *kind = json_string_value(json_object_get(j, "kind"));
        by = kind && strcmp(kind, "group") == 0 ? "topic" : "user";
        json_decref(j);
        ctl_reply_free(&r);
    }
    char *path = ctl_api_path("/api/v1/subscriptions?%s=%e", by, who);
    int rc = ctl_api_show_list(ctx, path, print_subs, NULL);
    free(path);
    return rc;
}

static void print_messages(struct ctl_ctx *ctx, json_t *items, void *arg)
{
    (void)arg;
    static const char *const head[] = {"SEQ", "TIME", "FROM", "TYPE", "BODY"};
    struct table *t = table_new(5, head);
    table_align_right(t, 0);
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e) {
        char seq[32], when[64], body[128];
        double at;
        const char *b = ctl_field(e, "body", NULL, 0);
        snprintf(body, sizeof(body), "%.100s%s", b, strlen(b) > 100 ? "..." : "");
        const char *cells[] = {
            ctl_field(e, "seq", seq, sizeof(seq)),
            ctl_number(e, "time_ms", &at) ? ctl_timestamp(at, when, sizeof(when)) : "-",
            ctl_field(e, "from", NULL, 0), ctl_field(e, "content_type", NULL, 0), body};
        table_add_row(t, cells);
    }
    ctl_print_table(ctx, t);
}

int ctl_cmd_messages(struct ctl_ctx *ctx, int argc, char **argv)
{
    long long since = 0;
    if (argc == 3 && strcmp(argv[1], "--since") == 0) {
        if (!ctl_parse_count(argv[2], LLONG_MAX, &since))
            return ctl_usage(ctx, "--since needs a sequence number");
    } else if (argc != 1) {
        return ctl_usage(ctx, NULL);
    }
    char after[32];
    snprintf(after, sizeof(after), "%lld", since);
    char *path = ctl_api_path("/api/v1/topics/%e/messages?after=%s", argv[0], after);
    int rc = ctl_api_show_list(ctx, path, print_messages, NULL);
    free(path);
    return rc;
}

int ctl_cmd_publish(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc < 2)
        return ctl_usage(ctx, NULL);
    /* the words after TOPIC are the text, so that quoting is optional */
    size_t len = 1;
    for (int i = 1; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *text = calloc(1, len);
    for (int i = 1; text && i < argc; i++) {
        if (i > 1)
            strcat(text, " ");
        strcat(text, argv[i]);
    }
    char *path = ctl_api_path("/api/v1/topics/%e/messages", argv[0]);
    json_t *body = json_pack("{s:s}", "body", text ? text : ""), *j;
    int rc = ctl_api_call(ctx, "POST", path, body, &j, NULL);
    free(text);
    free(path);
    json_decref(body);
    if (rc == 0) {
        if (ctx->is_json) {
            ctl_print_json(ctx, j);
        } else {
            char seq[32];
            fprintf(ctx->out, "published to %s: seq %s\n", argv[0],
                    ctl_field(j, "seq", seq, sizeof(seq)));
        }
    }
    json_decref(j);
    return rc;
}
