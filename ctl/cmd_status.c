/* cmd_status.c - what a node holds and counts: `regs` (registrations), `presence`, `stats`. */
#include <stdlib.h>
#include <string.h>

#include "cmd_impl.h"

int ctl_cmd_regs(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc > 1)
        return ctl_usage(ctx, NULL);
    if (argc == 0) {
        json_t *items;
        int rc = ctl_api_list(ctx, "/api/v1/registrations", &items);
        if (rc != 0)
            return rc;
        if (ctx->is_json) {
            ctl_print_list_json(ctx, items);
        } else {
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
        json_decref(items);
        return CTL_EXIT_OK;
    }
    char *path = ctl_api_path("/api/v1/registrations/%e", argv[0]);
    json_t *j;
    int rc = ctl_api_get(ctx, path, &j);
    free(path);
    if (rc != 0)
        return rc;
    if (ctx->is_json) {
        ctl_print_json(ctx, j);
    } else {
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
    json_decref(j);
    return CTL_EXIT_OK;
}

int ctl_cmd_presence(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return ctl_usage(ctx, NULL);
    char *path = ctl_api_path("/api/v1/presence/%e", argv[0]);
    json_t *j;
    int rc = ctl_api_get(ctx, path, &j);
    free(path);
    if (rc != 0)
        return rc;
    if (ctx->is_json) {
        ctl_print_json(ctx, j);
    } else {
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
    json_decref(j);
    return CTL_EXIT_OK;
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

int ctl_cmd_stats(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return ctl_usage(ctx, "stats takes no arguments");
    json_t *j;
    int rc = ctl_api_get(ctx, "/api/v1/stats", &j);
    if (rc != 0)
        return rc;
    if (ctx->is_json) {
        ctl_print_json(ctx, j);
    } else {
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
    json_decref(j);
    return CTL_EXIT_OK;
}
