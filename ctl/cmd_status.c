/* cmd_status.c - what a node holds and counts: `regs` (registrations), `presence`, `stats`. */
#include <stdlib.h>
#include <string.h>

#include "cmd_impl.h"

/* `regs`: every AOR with its number of bindings. */
static void print_aors(struct ctl_ctx *ctx, json_t *items, void *arg)
{
    (void)arg;
    static const char *const head[] = {"AOR", "BINDINGS"};
    struct table *t = table_new(2, head);
    table_align_right(t, 1);
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e) {
        char n[32];
        const char *cells[] = {ctl_field(e, "aor", NULL, 0),
                               ctl_field(e, "bindings", n, sizeof(n))};
        table_add_row(t, cells);
    }
    ctl_print_table(ctx, t);
}

/* `regs AOR`: its bindings. */
static void print_bindings(struct ctl_ctx *ctx, json_t *j, void *arg)
{
    (void)arg;
    static const char *const head[] = {"CONTACT", "EXPIRES", "Q", "TRANSPORT", "SOURCE",
                                       "NODE", "PATH"};
    struct table *t = table_new(7, head);
    table_align_right(t, 1);
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(j, "bindings"), i, b) {
        char exp[32], q[32], path_s[512];
        double s;
        const char *cells[] = {
            ctl_field(b, "contact", NULL, 0),
            ctl_number(b, "expires_s", &s) ? ctl_duration(s * 1000, exp, sizeof(exp)) : "-",
            ctl_field(b, "q", q, sizeof(q)),
            ctl_field(b, "transport", NULL, 0),
            ctl_field(b, "source", NULL, 0),
            ctl_field(b, "node", NULL, 0),
            ctl_field(b, "path", path_s, sizeof(path_s))};
        table_add_row(t, cells);
    }
    ctl_print_table(ctx, t);
}

int ctl_cmd_regs(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc > 1)
        return ctl_usage(ctx, NULL);
    if (argc == 0)
        return ctl_api_show_list(ctx, "/api/v1/registrations", print_aors, NULL);
    char *path = ctl_api_path("/api/v1/registrations/%e", argv[0]);
    int rc = ctl_api_show(ctx, path, print_bindings, NULL);
    free(path);
    return rc;
}

/* `presence AOR`: its publications, then the document its watchers get. */
static void print_presence(struct ctl_ctx *ctx, json_t *j, void *arg)
{
    (void)arg;
    static const char *const head[] = {"ETAG", "EXPIRES", "TYPE"};
    struct table *t = table_new(3, head);
    table_align_right(t, 1);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(j, "publications"), i, p) {
        char exp[32];
        double s;
        const char *cells[] = {
            ctl_field(p, "etag", NULL, 0),
            ctl_number(p, "expires_s", &s) ? ctl_duration(s * 1000, exp, sizeof(exp)) : "-",
            ctl_field(p, "content_type", NULL, 0)};
        table_add_row(t, cells);
    }
    ctl_print_table(ctx, t);
    const char *doc = json_string_value(json_object_get(j, "document"));
    if (doc) {
        size_t n = strlen(doc);
        fprintf(ctx->out, "\n%s%s", doc, n && doc[n - 1] == '\n' ? "" : "\n");
    }
}

int ctl_cmd_presence(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return ctl_usage(ctx, NULL);
    char *path = ctl_api_path("/api/v1/presence/%e", argv[0]);
    int rc = ctl_api_show(ctx, path, print_presence, NULL);
    free(path);
    return rc;
}

/* Every number under OBJ as a row (KIND, "PREFIX.key", value); nested objects flattened. */
static void add_stats(struct table *t, const char *kind, const char *prefix, json_t *obj)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        char name[512], buf[64];
        snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", key);
        if (json_is_object(v)) {
            add_stats(t, kind, name, v);
            continue;
        }
        const char *cells[] = {name, kind, ctl_field(obj, key, buf, sizeof(buf))};
        table_add_row(t, cells);
    }
}

/* `stats`: the node's name, then every counter and gauge. */
static void print_stats(struct ctl_ctx *ctx, json_t *j, void *arg)
{
    (void)arg;
    const char *node = ctl_field(j, "node", NULL, 0);
    if (*node && strcmp(node, "-") != 0)
        fprintf(ctx->out, "node %s\n", node);
    static const char *const head[] = {"METRIC", "KIND", "VALUE"};
    struct table *t = table_new(3, head);
    table_align_right(t, 2);
    add_stats(t, "counter", "", json_object_get(j, "counters"));
    add_stats(t, "gauge", "", json_object_get(j, "gauges"));
    ctl_print_table(ctx, t);
}

int ctl_cmd_stats(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return ctl_usage(ctx, "stats takes no arguments");
    return ctl_api_show(ctx, "/api/v1/stats", print_stats, NULL);
}
