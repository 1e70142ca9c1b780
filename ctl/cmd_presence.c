/* cmd_presence.c - who may watch a presentity (docs/presence.md §6.1): `presence rules AOR`,
 * `presence allow AOR WATCHER`, `presence block AOR WATCHER`, `presence unlist AOR WATCHER`.
 *
 * The lists live behind GET/PUT /api/v1/presence/{aor}/rules, which replaces both at once: the
 * three writes read the lists, change them here and put them back. Two operators changing the
 * same presentity's lists at the same moment may lose one change (the last PUT wins); run it
 * again. sipd checks the entries and makes them canonical; WATCHER is put in the same form here
 * (mirroring roles/presence/policy.c) only to find it in the lists. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd_impl.h"

/* `presence rules AOR`: one row per entry of its allow and block lists. */
static void print_rules(struct ctl_ctx *ctx, json_t *j, void *arg)
{
    (void)arg;
    static const char *const head[] = {"LIST", "WATCHER"};
    struct table *t = table_new(2, head);
    static const char *const lists[] = {"allow", "block"};
    for (size_t k = 0; k < 2; k++) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(j, lists[k]), i, e) {
            const char *cells[] = {lists[k], json_string_value(e)};
            if (cells[1])
                table_add_row(t, cells);
        }
    }
    ctl_print_table(ctx, t);
}

int ctl_cmd_presence_rules(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-')
        return ctl_usage(ctx, NULL);
    char *path = ctl_api_path("/api/v1/presence/%e/rules", argv[0]);
    int rc = ctl_api_show(ctx, path, print_rules, NULL);
    free(path);
    return rc;
}

/* WATCHER as sipd stores an entry: "sip:user@host" (sip: added, sips: folded, host lower case)
 * or a domain in lower case. A new string, or NULL. */
static char *canonical_entry(const char *w)
{
    const char *at = strchr(w, '@');
    const char *user = w;
    if (at && strncasecmp(w, "sip:", 4) == 0)
        user = w + 4;
    else if (at && strncasecmp(w, "sips:", 5) == 0)
        user = w + 5;
    size_t n = strlen(user) + 5;
    char *out = malloc(n);
    if (!out)
        return NULL;
    snprintf(out, n, "%s%s", at ? "sip:" : "", user);
    char *host = at ? strchr(out, '@') + 1 : out;
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

/* A copy of list without entry; *had set when it held it. */
static json_t *without(json_t *list, const char *entry, int *had)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *s = json_string_value(e);
        if (s && strcmp(s, entry) == 0)
            *had = 1;
        else
            json_array_append(out, e);
    }
    return out;
}

/* Read AOR's lists, take WATCHER out of both, put it into `into` ("allow", "block" or NULL:
 * nowhere), write them back; says what it did. */
static int change_lists(struct ctl_ctx *ctx, int argc, char **argv, const char *into)
{
    if (argc != 2 || argv[0][0] == '-' || argv[1][0] == '-' || !argv[1][0])
        return ctl_usage(ctx, NULL);
    char *path = ctl_api_path("/api/v1/presence/%e/rules", argv[0]);
    char *entry = canonical_entry(argv[1]);
    json_t *cur = NULL, *out = NULL;
    int rc = path && entry ? ctl_api_get(ctx, path, &cur) : CTL_EXIT_FAILED;
    if (rc == 0) {
        int in_allow = 0, in_block = 0;
        json_t *allow = without(json_object_get(cur, "allow"), entry, &in_allow);
        json_t *block = without(json_object_get(cur, "block"), entry, &in_block);
        if (into)
            json_array_append_new(strcmp(into, "allow") == 0 ? allow : block, json_string(entry));
        json_t *body = json_pack("{s:o, s:o}", "allow", allow, "block", block);
        if (!into && !in_allow && !in_block) {
            ctl_errorf(ctx, "not found: %s is on no list of %s", entry, argv[0]);
            rc = CTL_EXIT_FAILED;
        } else {
            rc = body ? ctl_api_call(ctx, "PUT", path, body, &out, NULL) : CTL_EXIT_FAILED;
        }
        json_decref(body);
    }
    if (rc == 0 && ctx->is_json && out)
        ctl_print_json(ctx, out);
    else if (rc == 0 && into)
        fprintf(ctx->out, "%s: %s %sed\n", out ? ctl_field(out, "aor", NULL, 0) : argv[0], entry,
                strcmp(into, "allow") == 0 ? "allow" : "block");
    else if (rc == 0)
        fprintf(ctx->out, "%s: %s unlisted\n", out ? ctl_field(out, "aor", NULL, 0) : argv[0],
                entry);
    json_decref(cur);
    json_decref(out);
    free(entry);
    free(path);
    return rc;
}

int ctl_cmd_presence_allow(struct ctl_ctx *ctx, int argc, char **argv)
{
    return change_lists(ctx, argc, argv, "allow");
}

int ctl_cmd_presence_block(struct ctl_ctx *ctx, int argc, char **argv)
{
    return change_lists(ctx, argc, argv, "block");
}

int ctl_cmd_presence_unlist(struct ctl_ctx *ctx, int argc, char **argv)
{
    return change_lists(ctx, argc, argv, NULL);
}
