/* cmd_nodes.c - the node table: `nodes`, `node show|add|drain|activate|standby|set|remove`,
 * `heartbeats`, and the nodes table that `watch heartbeats` redraws. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_impl.h"

/* The node's state as the API names it; a node that is down but marked draining or standby
 * says so too ("down/draining"), so that a drain of a stopped node is visible. */
static const char *node_state(const json_t *n, char *buf, size_t len)
{
    const char *state = ctl_field(n, "state", NULL, 0);
    if (strcmp(state, "down") != 0)
        return state;
    bool is_draining = json_is_true(json_object_get(n, "draining"));
    bool is_standby = json_is_true(json_object_get(n, "standby"));
    snprintf(buf, len, "down%s%s", is_draining ? "/draining" : "", is_standby ? "/standby" : "");
    return buf;
}

void ctl_print_nodes(FILE *out, json_t *nodes, long long now_ms)
{
    static const char *const head[] = {"NID", "NAME", "STATE", "ROLES", "ADDRESS", "WORK/MAX",
                                       "HEARTBEAT", "RTT"};
    struct table *t = table_new(8, head);
    table_align_right(t, 0);
    table_align_right(t, 5);
    table_align_right(t, 6);
    table_align_right(t, 7);
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n) {
        char nid[32], roles[256], load[64], age[32], rtt[32], state[64];
        double work = 0, max = 0, at;
        ctl_number(n, "work_num", &work);
        ctl_number(n, "max_num", &max);
        snprintf(load, sizeof(load), "%.0f/%.0f", work, max);
        const char *age_s = "never";
        if (ctl_number(n, "last_heartbeat_ms", &at))
            age_s = ctl_duration(now_ms > at ? (double)now_ms - at : 0, age, sizeof(age));
        const char *cells[] = {ctl_field(n, "nid", nid, sizeof(nid)),
                               ctl_field(n, "name", NULL, 0),
                               node_state(n, state, sizeof(state)),
                               ctl_field(n, "roles", roles, sizeof(roles)),
                               ctl_field(n, "address", NULL, 0),
                               load,
                               age_s,
                               ctl_ms_field(n, "rtt_ms", rtt, sizeof(rtt))};
        table_add_row(t, cells);
    }
    table_print(t, out);
    table_free(t);
}

/* One node (an API answer) as a one-row table. */
static void print_node(struct ctl_ctx *ctx, json_t *node, void *arg)
{
    (void)arg;
    json_t *a = json_pack("[O]", node);
    ctl_print_nodes(ctx->out, a, ctl_now_ms());
    json_decref(a);
}

/* Print one node (an API answer) as a one-row table, or its JSON. */
static int show_node_answer(struct ctl_ctx *ctx, json_t *node)
{
    ctl_show(ctx, node, print_node, NULL);
    return CTL_EXIT_OK;
}

static void print_node_list(struct ctl_ctx *ctx, json_t *items, void *arg)
{
    (void)arg;
    ctl_print_nodes(ctx->out, items, ctl_now_ms());
}

int ctl_cmd_nodes(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return ctl_usage(ctx, "nodes takes no arguments");
    return ctl_api_show_list(ctx, "/api/v1/nodes", print_node_list, NULL);
}

/* `node show NAME`: its fields as a FIELD/VALUE table. */
static void print_node_fields(struct ctl_ctx *ctx, json_t *node, void *arg)
{
    (void)arg;
    ctl_print_object(ctx, node);
}

int ctl_cmd_node_show(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return ctl_usage(ctx, NULL);
    char *path = ctl_api_path("/api/v1/nodes/%e", argv[0]);
    int rc = ctl_api_show(ctx, path, print_node_fields, NULL);
    free(path);
    return rc;
}

int ctl_cmd_node_add(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-')
        return ctl_usage(ctx, "node add needs a NAME");
    const char *address = NULL, *roles = NULL;
    long long max_num = -1;
    bool is_standby = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--standby") == 0) {
            is_standby = true;
        } else if (i + 1 < argc && strcmp(a, "--address") == 0) {
            address = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--roles") == 0) {
            roles = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--max-num") == 0) {
            if (!ctl_parse_count(argv[++i], INT_MAX, &max_num) || max_num == 0)
                return ctl_usage(ctx, "--max-num needs a positive integer");
        } else {
            char why[256];
            snprintf(why, sizeof(why), "unexpected argument '%s'", a);
            return ctl_usage(ctx, why);
        }
    }
    if (!address || !roles)
        return ctl_usage(ctx, "node add needs --address and --roles");
    json_t *role_list = json_array();
    for (const char *r = roles; *r;) {
        size_t n = strcspn(r, ",");
        if (n > 0)
            json_array_append_new(role_list, json_stringn(r, n));
        r += n + (r[n] == ',');
    }
    json_t *body = json_pack("{s:s,s:s,s:o}", "name", argv[0], "address", address, "roles",
                             role_list);
    if (max_num > 0)
        json_object_set_new(body, "max_num", json_integer(max_num));
    if (is_standby)
        json_object_set_new(body, "standby", json_true());
    json_t *node;
    int rc = ctl_api_call(ctx, "POST", "/api/v1/nodes", body, &node, NULL);
    json_decref(body);
    if (rc == 0 && node)
        rc = show_node_answer(ctx, node);
    json_decref(node);
    return rc;
}

/* METHOD on /api/v1/nodes/NAME/SUFFIX with BODY (borrowed, may be NULL); shows the node. */
static int node_change(struct ctl_ctx *ctx, const char *method, const char *name,
                       const char *suffix, json_t *body)
{
    char *path = ctl_api_path("/api/v1/nodes/%e%s", name, suffix);
    json_t *node;
    int rc = ctl_api_call(ctx, method, path, body, &node, NULL);
    free(path);
    if (rc == 0 && node)
        rc = show_node_answer(ctx, node);
    json_decref(node);
    return rc;
}

int ctl_cmd_node_drain(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return ctl_usage(ctx, NULL);
    return node_change(ctx, "POST", argv[0], "/drain", NULL);
}

int ctl_cmd_node_activate(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return ctl_usage(ctx, NULL);
    return node_change(ctx, "POST", argv[0], "/activate", NULL);
}

int ctl_cmd_node_standby(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return ctl_usage(ctx, NULL);
    json_t *body = json_pack("{s:b}", "standby", 1);
    int rc = node_change(ctx, "PATCH", argv[0], "", body);
    json_decref(body);
    return rc;
}

int ctl_cmd_node_set(struct ctl_ctx *ctx, int argc, char **argv)
{
    long long max_num;
    if (argc != 3 || strcmp(argv[1], "--max-num") != 0)
        return ctl_usage(ctx, NULL);
    if (!ctl_parse_count(argv[2], INT_MAX, &max_num) || max_num == 0)
        return ctl_usage(ctx, "--max-num needs a positive integer");
    json_t *body = json_pack("{s:I}", "max_num", (json_int_t)max_num);
    int rc = node_change(ctx, "PATCH", argv[0], "", body);
    json_decref(body);
    return rc;
}

int ctl_cmd_node_remove(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return ctl_usage(ctx, NULL);
    char said[512];
    snprintf(said, sizeof said, "node %s removed", argv[0]);
    return ctl_api_delete(ctx, ctl_api_path("/api/v1/nodes/%e", argv[0]), said);
}

/* `heartbeats NAME`: that node's recent beats; arg: the time (ms) their ages count from. */
static void print_beats(struct ctl_ctx *ctx, json_t *items, void *arg)
{
    long long now = *(const long long *)arg;
    static const char *const head[] = {"TIME", "AGE", "OK", "RTT", "WORK"};
    struct table *t = table_new(5, head);
    table_align_right(t, 1);
    table_align_right(t, 3);
    table_align_right(t, 4);
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e) {
        char when[64], age[32], rtt[32], work[32];
        double at = 0;
        bool has_at = ctl_number(e, "at_ms", &at);
        const char *cells[] = {
            has_at ? ctl_timestamp(at, when, sizeof(when)) : "-",
            has_at ? ctl_duration(now > at ? (double)now - at : 0, age, sizeof(age)) : "-",
            ctl_field(e, "ok", NULL, 0), ctl_ms_field(e, "rtt_ms", rtt, sizeof(rtt)),
            ctl_field(e, "work_num", work, sizeof(work))};
        table_add_row(t, cells);
    }
    ctl_print_table(ctx, t);
}

/* `heartbeats`: the last beat of every node (items: the node list); arg as print_beats. */
static void print_last_beats(struct ctl_ctx *ctx, json_t *items, void *arg)
{
    long long now = *(const long long *)arg;
    static const char *const head[] = {"NODE", "STATE", "LAST HEARTBEAT", "AGE", "RTT"};
    struct table *t = table_new(5, head);
    table_align_right(t, 3);
    table_align_right(t, 4);
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e) {
        char when[64], age[32], rtt[32];
        double at = 0;
        bool has_at = ctl_number(e, "last_heartbeat_ms", &at);
        const char *cells[] = {
            ctl_field(e, "name", NULL, 0), ctl_field(e, "state", NULL, 0),
            has_at ? ctl_timestamp(at, when, sizeof(when)) : "never",
            has_at ? ctl_duration(now > at ? (double)now - at : 0, age, sizeof(age)) : "-",
            ctl_ms_field(e, "rtt_ms", rtt, sizeof(rtt))};
        table_add_row(t, cells);
    }
    ctl_print_table(ctx, t);
}

/* `heartbeats`: the last beat of every node; `heartbeats NAME`: that node's recent beats. */
int ctl_cmd_heartbeats(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc > 1)
        return ctl_usage(ctx, NULL);
    long long now = ctl_now_ms();
    char *path = argc == 1 ? ctl_api_path("/api/v1/nodes/%e/heartbeats", argv[0])
                           : strdup("/api/v1/nodes");
    int rc = ctl_api_show_list(ctx, path, argc == 1 ? print_beats : print_last_beats, &now);
    free(path);
    return rc;
}

char **ctl_node_names(struct ctl_ctx *ctx)
{
    char err[512];
    struct ctl_reply r;
    if (http_request(&ctx->http, "GET", "/api/v1/nodes", NULL, &r, err, sizeof(err)) != 0)
        return NULL;
    json_t *j = r.status == 200 && r.body ? json_loads(r.body, 0, NULL) : NULL;
    ctl_reply_free(&r);
    json_t *items = json_is_array(j) ? j : json_object_get(j, "items");
    size_t n = json_array_size(items), k = 0, i;
    char **names = calloc(n + 1, sizeof(*names));
    json_t *e;
    json_array_foreach(items, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        if (names && name)
            names[k++] = strdup(name);
    }
    json_decref(j);
    return names;
}
