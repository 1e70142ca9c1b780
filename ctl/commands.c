/* commands.c - what each sipctl command asks the API and how it shows the answer. Every
 * handler follows one shape: check its arguments (usage error: exit 2), make one request (or a
 * list's pages), then either print the JSON as received (--json) or a table. The HTTP status
 * decides the exit status: 2xx is 0; anything else prints the API's "error: detail" on one line
 * and is 1; no answer at all is 3 (http.c). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "options.h"
#include "table.h"
#include "url.h"

/* ---- errors and requests ------------------------------------------------------------------- */

void ctl_errorf(struct ctl_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sipctl: ", ctx->err);
    vfprintf(ctx->err, fmt, ap);
    fputc('\n', ctx->err);
    va_end(ap);
}

/* The API's error answer R as one line: "error: detail", or the status and the first line of a
 * body that is not the JSON error shape. */
static void report_http_error(struct ctl_ctx *ctx, const struct ctl_reply *r)
{
    json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
    const char *error = json_string_value(json_object_get(j, "error"));
    const char *detail = json_string_value(json_object_get(j, "detail"));
    if (error && detail && *detail)
        ctl_errorf(ctx, "%s: %s", error, detail);
    else if (error)
        ctl_errorf(ctx, "%s (HTTP %ld)", error, r->status);
    else
        ctl_errorf(ctx, "HTTP %ld: %.*s", r->status,
                   r->body ? (int)strcspn(r->body, "\r\n") : 0, r->body ? r->body : "");
    json_decref(j);
}

static void print_json(struct ctl_ctx *ctx, const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (s)
        fprintf(ctx->out, "%s\n", s);
    free(s);
}

/* METHOD PATH with BODY (a JSON value, may be NULL). On 2xx returns 0 with the parsed answer in
 * *OUT (NULL for an empty body; caller decrefs). On an error answer reports it and returns
 * CTL_EXIT_FAILED (with --json the error's JSON is printed too); no answer: the http.c status.
 * *STATUS (may be NULL) receives the HTTP status. */
static int api_call(struct ctl_ctx *ctx, const char *method, const char *path, json_t *body,
                    json_t **out, long *status)
{
    char err[512] = "";
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct ctl_reply r;
    *out = NULL;
    int rc = http_request(&ctx->http, method, path, text, &r, err, sizeof(err));
    free(text);
    if (status)
        *status = rc == 0 ? r.status : 0;
    if (rc != 0) {
        ctl_errorf(ctx, "%s", err);
        ctl_reply_free(&r);
        return rc;
    }
    if (r.status < 200 || r.status > 299) {
        report_http_error(ctx, &r);
        if (ctx->is_json && r.body) {
            json_t *j = json_loads(r.body, 0, NULL);
            if (j)
                print_json(ctx, j);
            json_decref(j);
        }
        ctl_reply_free(&r);
        return CTL_EXIT_FAILED;
    }
    if (r.len > 0) {
        json_error_t jerr;
        *out = json_loads(r.body, JSON_DECODE_ANY, &jerr);
        if (!*out) {
            ctl_errorf(ctx, "%s %s: the answer is not JSON (%s)", method, path, jerr.text);
            ctl_reply_free(&r);
            return CTL_EXIT_FAILED;
        }
    }
    ctl_reply_free(&r);
    return CTL_EXIT_OK;
}

int ctl_api_get(struct ctl_ctx *ctx, const char *path, json_t **out)
{
    return api_call(ctx, "GET", path, NULL, out, NULL);
}

/* GET a paginated list at PATH and every following page ("next"); *ITEMS receives all items
 * in one array. With --json the caller prints {"items": all, "next": null}, which is the answer
 * as received whenever the list fits one page. */
static int api_list(struct ctl_ctx *ctx, const char *path, json_t **items)
{
    *items = json_array();
    char *page = strdup(path);
    for (int n = 0; page && n < 10000; n++) {
        json_t *j;
        int rc = ctl_api_get(ctx, page, &j);
        free(page);
        page = NULL;
        if (rc != 0) {
            json_decref(*items);
            *items = NULL;
            return rc;
        }
        json_t *a = json_is_array(j) ? j : json_object_get(j, "items");
        if (json_is_array(a))
            json_array_extend(*items, a);
        const char *next = json_string_value(json_object_get(j, "next"));
        if (next && *next)
            page = strdup(next);
        json_decref(j);
    }
    free(page);
    return CTL_EXIT_OK;
}

static void print_list_json(struct ctl_ctx *ctx, json_t *items)
{
    json_t *j = json_pack("{s:O,s:n}", "items", items, "next");
    print_json(ctx, j);
    json_decref(j);
}

/* ---- formatting fields ----------------------------------------------------------------------- */

long long ctl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A field of OBJ as text in BUF: strings as they are, numbers, true/false, arrays joined with
 * ',', "-" for null or absent. */
static const char *field(const json_t *obj, const char *key, char *buf, size_t len)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return "-";
    if (!buf && !json_is_string(v) && !json_is_boolean(v))
        return "?"; /* the caller expected a string */
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_value(v);
    case JSON_INTEGER:
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d == (double)(long long)d && d > -1e15 && d < 1e15)
            snprintf(buf, len, "%lld", (long long)d);
        else
            snprintf(buf, len, "%.6g", d);
        return buf;
    }
    case JSON_TRUE:
        return "yes";
    case JSON_FALSE:
        return "no";
    case JSON_ARRAY: {
        size_t i, off = 0;
        json_t *e;
        buf[0] = '\0';
        json_array_foreach(v, i, e) {
            const char *s = json_is_string(e) ? json_string_value(e) : "?";
            int n = snprintf(buf + off, len - off, "%s%s", i ? "," : "", s);
            if (n < 0 || (size_t)n >= len - off)
                break;
            off += (size_t)n;
        }
        return i == 0 ? "-" : buf;
    }
    case JSON_OBJECT: {
        char *s = json_dumps(v, JSON_COMPACT);
        snprintf(buf, len, "%s", s ? s : "?");
        free(s);
        return buf;
    }
    default:
        return "-";
    }
}

static bool number(const json_t *obj, const char *key, double *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

/* A duration in milliseconds the way people read it: 412ms, 3.2s, 4m05s, 2h10m, 3d04h. */
static const char *duration(double ms, char *buf, size_t len)
{
    long long s = (long long)(ms / 1000);
    if (ms < 1000)
        snprintf(buf, len, "%.0fms", ms);
    else if (ms < 60000)
        snprintf(buf, len, "%.1fs", ms / 1000);
    else if (s < 3600)
        snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    return buf;
}

/* Unix milliseconds as local "YYYY-MM-DD HH:MM:SS". */
static const char *timestamp(double ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, len, "%.0f", ms);
    return buf;
}

static const char *ms_field(const json_t *obj, const char *key, char *buf, size_t len)
{
    double v;
    if (!number(obj, key, &v))
        return "-";
    snprintf(buf, len, "%.2fms", v);
    return buf;
}

static void print_table(struct ctl_ctx *ctx, struct table *t)
{
    table_print(t, ctx->out);
    table_free(t);
}

/* ---- arguments ----------------------------------------------------------------------------- */

static int usage(struct ctl_ctx *ctx, const char *why)
{
    const struct ctl_command *current = ctx->cmd;
    if (why)
        ctl_errorf(ctx, "%s", why);
    if (current)
        fprintf(ctx->err, "usage: sipctl %s%s%s%s%s\n", current->word, current->sub ? " " : "",
                current->sub ? current->sub : "", *current->args ? " " : "", current->args);
    return CTL_EXIT_USAGE;
}

/* A non-negative integer in S (at most MAX) into *OUT. */
static bool parse_count(const char *s, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > max)
        return false;
    *out = v;
    return true;
}

/* ---- nodes --------------------------------------------------------------------------------- */

/* The node's state as the API names it; a node that is down but marked draining or standby
 * says so too ("down/draining"), so that a drain of a stopped node is visible. */
static const char *node_state(const json_t *n, char *buf, size_t len)
{
    const char *state = field(n, "state", NULL, 0);
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
        number(n, "work_num", &work);
        number(n, "max_num", &max);
        snprintf(load, sizeof(load), "%.0f/%.0f", work, max);
        const char *age_s = "never";
        if (number(n, "last_heartbeat_ms", &at))
            age_s = duration(now_ms > at ? (double)now_ms - at : 0, age, sizeof(age));
        const char *cells[] = {field(n, "nid", nid, sizeof(nid)), field(n, "name", NULL, 0),
                               node_state(n, state, sizeof(state)), field(n, "roles", roles, sizeof(roles)),
                               field(n, "address", NULL, 0), load, age_s,
                               ms_field(n, "rtt_ms", rtt, sizeof(rtt))};
        table_add_row(t, cells);
    }
    table_print(t, out);
    table_free(t);
}

/* Print one node (an API answer) as a one-row table, or its JSON. */
static int show_node_answer(struct ctl_ctx *ctx, json_t *node)
{
    if (ctx->is_json) {
        print_json(ctx, node);
        return CTL_EXIT_OK;
    }
    json_t *a = json_pack("[O]", node);
    ctl_print_nodes(ctx->out, a, ctl_now_ms());
    json_decref(a);
    return CTL_EXIT_OK;
}

static int cmd_nodes(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return usage(ctx, "nodes takes no arguments");
    json_t *items;
    int rc = api_list(ctx, "/api/v1/nodes", &items);
    if (rc != 0)
        return rc;
    if (ctx->is_json)
        print_list_json(ctx, items);
    else
        ctl_print_nodes(ctx->out, items, ctl_now_ms());
    json_decref(items);
    return CTL_EXIT_OK;
}

/* The fields of OBJ as a two-column FIELD/VALUE table, in the order the API sent them. */
static void print_object(struct ctl_ctx *ctx, json_t *obj)
{
    static const char *const head[] = {"FIELD", "VALUE"};
    struct table *t = table_new(2, head);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        char buf[1024];
        const char *cells[] = {key, field(obj, key, buf, sizeof(buf))};
        table_add_row(t, cells);
    }
    print_table(ctx, t);
}

static int cmd_node_show(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return usage(ctx, NULL);
    char *path = ctl_api_path("/api/v1/nodes/%e", argv[0]);
    json_t *j;
    int rc = ctl_api_get(ctx, path, &j);
    free(path);
    if (rc != 0)
        return rc;
    if (ctx->is_json) {
        print_json(ctx, j);
    } else {
        print_object(ctx, j);
    }
    json_decref(j);
    return CTL_EXIT_OK;
}

static int cmd_node_add(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-')
        return usage(ctx, "node add needs a NAME");
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
            if (!parse_count(argv[++i], INT_MAX, &max_num) || max_num == 0)
                return usage(ctx, "--max-num needs a positive integer");
        } else {
            char why[256];
            snprintf(why, sizeof(why), "unexpected argument '%s'", a);
            return usage(ctx, why);
        }
    }
    if (!address || !roles)
        return usage(ctx, "node add needs --address and --roles");
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
    int rc = api_call(ctx, "POST", "/api/v1/nodes", body, &node, NULL);
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
    int rc = api_call(ctx, method, path, body, &node, NULL);
    free(path);
    if (rc == 0 && node)
        rc = show_node_answer(ctx, node);
    json_decref(node);
    return rc;
}

static int cmd_node_drain(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return usage(ctx, NULL);
    return node_change(ctx, "POST", argv[0], "/drain", NULL);
}

static int cmd_node_activate(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return usage(ctx, NULL);
    return node_change(ctx, "POST", argv[0], "/activate", NULL);
}

static int cmd_node_standby(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return usage(ctx, NULL);
    json_t *body = json_pack("{s:b}", "standby", 1);
    int rc = node_change(ctx, "PATCH", argv[0], "", body);
    json_decref(body);
    return rc;
}

static int cmd_node_set(struct ctl_ctx *ctx, int argc, char **argv)
{
    long long max_num;
    if (argc != 3 || strcmp(argv[1], "--max-num") != 0)
        return usage(ctx, NULL);
    if (!parse_count(argv[2], INT_MAX, &max_num) || max_num == 0)
        return usage(ctx, "--max-num needs a positive integer");
    json_t *body = json_pack("{s:I}", "max_num", (json_int_t)max_num);
    int rc = node_change(ctx, "PATCH", argv[0], "", body);
    json_decref(body);
    return rc;
}

static int cmd_node_remove(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return usage(ctx, NULL);
    char *path = ctl_api_path("/api/v1/nodes/%e", argv[0]);
    json_t *j;
    int rc = api_call(ctx, "DELETE", path, NULL, &j, NULL);
    free(path);
    json_decref(j);
    if (rc == 0 && !ctx->is_json)
        fprintf(ctx->out, "node %s removed\n", argv[0]);
    return rc;
}

/* `heartbeats`: the last beat of every node; `heartbeats NAME`: that node's recent beats. */
static int cmd_heartbeats(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc > 1)
        return usage(ctx, NULL);
    long long now = ctl_now_ms();
    json_t *items;
    char *path = argc == 1 ? ctl_api_path("/api/v1/nodes/%e/heartbeats", argv[0])
                           : strdup("/api/v1/nodes");
    int rc = api_list(ctx, path, &items);
    free(path);
    if (rc != 0)
        return rc;
    if (ctx->is_json) {
        print_list_json(ctx, items);
        json_decref(items);
        return CTL_EXIT_OK;
    }
    struct table *t;
    size_t i;
    json_t *e;
    if (argc == 1) {
        static const char *const head[] = {"TIME", "AGE", "OK", "RTT", "WORK"};
        t = table_new(5, head);
        table_align_right(t, 1);
        table_align_right(t, 3);
        table_align_right(t, 4);
        json_array_foreach(items, i, e) {
            char when[64], age[32], rtt[32], work[32];
            double at = 0;
            bool has_at = number(e, "at_ms", &at);
            const char *cells[] = {has_at ? timestamp(at, when, sizeof(when)) : "-",
                                   has_at ? duration(now > at ? (double)now - at : 0, age, sizeof(age)) : "-",
                                   field(e, "ok", NULL, 0), ms_field(e, "rtt_ms", rtt, sizeof(rtt)),
                                   field(e, "work_num", work, sizeof(work))};
            table_add_row(t, cells);
        }
    } else {
        static const char *const head[] = {"NODE", "STATE", "LAST HEARTBEAT", "AGE", "RTT"};
        t = table_new(5, head);
        table_align_right(t, 3);
        table_align_right(t, 4);
        json_array_foreach(items, i, e) {
            char when[64], age[32], rtt[32];
            double at = 0;
            bool has_at = number(e, "last_heartbeat_ms", &at);
            const char *cells[] = {field(e, "name", NULL, 0), field(e, "state", NULL, 0),
                                   has_at ? timestamp(at, when, sizeof(when)) : "never",
                                   has_at ? duration(now > at ? (double)now - at : 0, age, sizeof(age)) : "-",
                                   ms_field(e, "rtt_ms", rtt, sizeof(rtt))};
            table_add_row(t, cells);
        }
    }
    print_table(ctx, t);
    json_decref(items);
    return CTL_EXIT_OK;
}

/* ---- registrations ------------------------------------------------------------------------- */

static int cmd_regs(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc > 1)
        return usage(ctx, NULL);
    if (argc == 0) {
        json_t *items;
        int rc = api_list(ctx, "/api/v1/registrations", &items);
        if (rc != 0)
            return rc;
        if (ctx->is_json) {
            print_list_json(ctx, items);
        } else {
            static const char *const head[] = {"AOR", "BINDINGS"};
            struct table *t = table_new(2, head);
            table_align_right(t, 1);
            size_t i;
            json_t *e;
            json_array_foreach(items, i, e) {
                char n[32];
                const char *cells[] = {field(e, "aor", NULL, 0), field(e, "bindings", n, sizeof(n))};
                table_add_row(t, cells);
            }
            print_table(ctx, t);
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
        print_json(ctx, j);
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
            const char *cells[] = {field(b, "contact", NULL, 0),
                                   number(b, "expires_s", &s) ? duration(s * 1000, exp, sizeof(exp)) : "-",
                                   field(b, "q", q, sizeof(q)), field(b, "transport", NULL, 0),
                                   field(b, "source", NULL, 0), field(b, "node", NULL, 0),
                                   field(b, "path", path_s, sizeof(path_s))};
            table_add_row(t, cells);
        }
        print_table(ctx, t);
    }
    json_decref(j);
    return CTL_EXIT_OK;
}

/* ---- topics, subscriptions, messages --------------------------------------------------------- */

static int cmd_topics(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return usage(ctx, "topics takes no arguments");
    json_t *items;
    int rc = api_list(ctx, "/api/v1/topics", &items);
    if (rc != 0)
        return rc;
    if (ctx->is_json) {
        print_list_json(ctx, items);
    } else {
        static const char *const head[] = {"TOPIC", "KIND", "LAST SEQ", "MEMBERS"};
        struct table *t = table_new(4, head);
        table_align_right(t, 2);
        table_align_right(t, 3);
        size_t i;
        json_t *e;
        json_array_foreach(items, i, e) {
            char seq[32], m[32];
            const char *cells[] = {field(e, "topic", NULL, 0), field(e, "kind", NULL, 0),
                                   field(e, "last_seq", seq, sizeof(seq)),
                                   field(e, "members", m, sizeof(m))};
            table_add_row(t, cells);
        }
        print_table(ctx, t);
    }
    json_decref(items);
    return CTL_EXIT_OK;
}

/* A topic object (GET /topics/{topic}) as lines: its fields, then one line per member. */
static int show_topic_answer(struct ctl_ctx *ctx, json_t *topic)
{
    if (ctx->is_json) {
        print_json(ctx, topic);
        return CTL_EXIT_OK;
    }
    char seq[32];
    fprintf(ctx->out, "topic %s (%s), last seq %s\n", field(topic, "topic", NULL, 0),
            field(topic, "kind", NULL, 0), field(topic, "last_seq", seq, sizeof(seq)));
    static const char *const head[] = {"MEMBER"};
    struct table *t = table_new(1, head);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(topic, "members"), i, m) {
        const char *cells[] = {json_string_value(m)};
        table_add_row(t, cells);
    }
    print_table(ctx, t);
    return CTL_EXIT_OK;
}

static int cmd_topic_show(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return usage(ctx, NULL);
    char *path = ctl_api_path("/api/v1/topics/%e", argv[0]);
    json_t *j;
    int rc = ctl_api_get(ctx, path, &j);
    free(path);
    if (rc == 0)
        rc = show_topic_answer(ctx, j);
    json_decref(j);
    return rc;
}

static int cmd_topic_create(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-')
        return usage(ctx, "topic create needs a URI");
    json_t *members = json_array();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--member") == 0) {
            if (i + 1 >= argc) {
                json_decref(members);
                return usage(ctx, "--member needs an AOR");
            }
            i++;
        } else if (argv[i][0] == '-') {
            json_decref(members);
            return usage(ctx, "unknown option");
        }
        json_array_append_new(members, json_string(argv[i]));
    }
    json_t *body = json_pack("{s:s,s:o}", "topic", argv[0], "members", members);
    json_t *topic;
    int rc = api_call(ctx, "POST", "/api/v1/topics", body, &topic, NULL);
    json_decref(body);
    if (rc == 0 && topic)
        rc = show_topic_answer(ctx, topic);
    json_decref(topic);
    return rc;
}

static int cmd_topic_add(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 2)
        return usage(ctx, NULL);
    char *path = ctl_api_path("/api/v1/topics/%e/members", argv[0]);
    json_t *body = json_pack("{s:s}", "member", argv[1]), *topic;
    int rc = api_call(ctx, "POST", path, body, &topic, NULL);
    free(path);
    json_decref(body);
    if (rc == 0 && topic)
        rc = show_topic_answer(ctx, topic);
    json_decref(topic);
    return rc;
}

static int cmd_topic_remove(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 2)
        return usage(ctx, NULL);
    char *path = ctl_api_path("/api/v1/topics/%e/members/%e", argv[0], argv[1]);
    json_t *topic;
    int rc = api_call(ctx, "DELETE", path, NULL, &topic, NULL);
    free(path);
    if (rc == 0 && topic)
        rc = show_topic_answer(ctx, topic);
    json_decref(topic);
    return rc;
}

static int cmd_topic_delete(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return usage(ctx, NULL);
    char *path = ctl_api_path("/api/v1/topics/%e", argv[0]);
    json_t *j;
    int rc = api_call(ctx, "DELETE", path, NULL, &j, NULL);
    free(path);
    json_decref(j);
    if (rc == 0 && !ctx->is_json)
        fprintf(ctx->out, "topic %s deleted\n", argv[0]);
    return rc;
}

/* `subs X`: X names a group topic -> the topic's subscriptions (?topic=); anything else is a
 * user -> that user's subscriptions (?user=). Asking GET /topics/X decides; `--topic` or
 * `--user` before X skips the question. */
static int cmd_subs(struct ctl_ctx *ctx, int argc, char **argv)
{
    const char *by = NULL;
    if (argc == 2 && strcmp(argv[0], "--topic") == 0)
        by = "topic";
    else if (argc == 2 && strcmp(argv[0], "--user") == 0)
        by = "user";
    else if (argc != 1 || argv[0][0] == '-')
        return usage(ctx, NULL);
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
    json_t *items;
    int rc = api_list(ctx, path, &items);
    free(path);
    if (rc != 0)
        return rc;
    if (ctx->is_json) {
        print_list_json(ctx, items);
    } else {
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
            const char *cells[] = {field(e, "topic", NULL, 0), field(e, "aor", NULL, 0),
                                   field(e, "device", NULL, 0), field(e, "node", NULL, 0),
                                   field(e, "acked_seq", acked, sizeof(acked)),
                                   field(e, "state", NULL, 0),
                                   number(e, "expires_s", &s) ? duration(s * 1000, exp, sizeof(exp)) : "-"};
            table_add_row(t, cells);
        }
        print_table(ctx, t);
    }
    json_decref(items);
    return CTL_EXIT_OK;
}

static int cmd_messages(struct ctl_ctx *ctx, int argc, char **argv)
{
    long long since = 0;
    if (argc == 3 && strcmp(argv[1], "--since") == 0) {
        if (!parse_count(argv[2], LLONG_MAX, &since))
            return usage(ctx, "--since needs a sequence number");
    } else if (argc != 1) {
        return usage(ctx, NULL);
    }
    char after[32];
    snprintf(after, sizeof(after), "%lld", since);
    char *path = ctl_api_path("/api/v1/topics/%e/messages?after=%s", argv[0], after);
    json_t *items;
    int rc = api_list(ctx, path, &items);
    free(path);
    if (rc != 0)
        return rc;
    if (ctx->is_json) {
        print_list_json(ctx, items);
    } else {
        static const char *const head[] = {"SEQ", "TIME", "FROM", "TYPE", "BODY"};
        struct table *t = table_new(5, head);
        table_align_right(t, 0);
        size_t i;
        json_t *e;
        json_array_foreach(items, i, e) {
            char seq[32], when[64], body[128];
            double at;
            const char *b = field(e, "body", NULL, 0);
            snprintf(body, sizeof(body), "%.100s%s", b, strlen(b) > 100 ? "..." : "");
            const char *cells[] = {field(e, "seq", seq, sizeof(seq)),
                                   number(e, "time_ms", &at) ? timestamp(at, when, sizeof(when)) : "-",
                                   field(e, "from", NULL, 0), field(e, "content_type", NULL, 0),
                                   body};
            table_add_row(t, cells);
        }
        print_table(ctx, t);
    }
    json_decref(items);
    return CTL_EXIT_OK;
}

static int cmd_publish(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc < 2)
        return usage(ctx, NULL);
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
    int rc = api_call(ctx, "POST", path, body, &j, NULL);
    free(text);
    free(path);
    json_decref(body);
    if (rc == 0) {
        if (ctx->is_json) {
            print_json(ctx, j);
        } else {
            char seq[32];
            fprintf(ctx->out, "published to %s: seq %s\n", argv[0], field(j, "seq", seq, sizeof(seq)));
        }
    }
    json_decref(j);
    return rc;
}

/* ---- presence and stats ---------------------------------------------------------------------- */

static int cmd_presence(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1)
        return usage(ctx, NULL);
    char *path = ctl_api_path("/api/v1/presence/%e", argv[0]);
    json_t *j;
    int rc = ctl_api_get(ctx, path, &j);
    free(path);
    if (rc != 0)
        return rc;
    if (ctx->is_json) {
        print_json(ctx, j);
    } else {
        static const char *const head[] = {"ETAG", "EXPIRES", "TYPE"};
        struct table *t = table_new(3, head);
        table_align_right(t, 1);
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(j, "publications"), i, p) {
            char exp[32];
            double s;
            const char *cells[] = {field(p, "etag", NULL, 0),
                                   number(p, "expires_s", &s) ? duration(s * 1000, exp, sizeof(exp)) : "-",
                                   field(p, "content_type", NULL, 0)};
            table_add_row(t, cells);
        }
        print_table(ctx, t);
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
        const char *cells[] = {name, kind, field(obj, key, buf, sizeof(buf))};
        table_add_row(t, cells);
    }
}

static int cmd_stats(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return usage(ctx, "stats takes no arguments");
    json_t *j;
    int rc = ctl_api_get(ctx, "/api/v1/stats", &j);
    if (rc != 0)
        return rc;
    if (ctx->is_json) {
        print_json(ctx, j);
    } else {
        const char *node = field(j, "node", NULL, 0);
        if (*node && strcmp(node, "-") != 0)
            fprintf(ctx->out, "node %s\n", node);
        static const char *const head[] = {"METRIC", "KIND", "VALUE"};
        struct table *t = table_new(3, head);
        table_align_right(t, 2);
        add_stats(t, "counter", "", json_object_get(j, "counters"));
        add_stats(t, "gauge", "", json_object_get(j, "gauges"));
        print_table(ctx, t);
    }
    json_decref(j);
    return CTL_EXIT_OK;
}

static int cmd_help(struct ctl_ctx *ctx, int argc, char **argv)
{
    ctl_print_help(ctx->out, argc > 0 ? argv[0] : NULL);
    return CTL_EXIT_OK;
}

/* ---- the table ------------------------------------------------------------------------------- */

const struct ctl_command ctl_command_table[] = {
    {"nodes", NULL, "", "list the nodes: state, roles, load, last heartbeat", cmd_nodes, false},
    {"node", "show", "NAME", "every field of one node", cmd_node_show, true},
    {"node", "add", "NAME --address A --roles R1,R2 [--max-num N] [--standby]",
     "add a node to the table", cmd_node_add, false},
    {"node", "drain", "NAME", "stop sending new work to a node", cmd_node_drain, true},
    {"node", "activate", "NAME", "end draining or standby", cmd_node_activate, true},
    {"node", "standby", "NAME", "make a node a standby", cmd_node_standby, true},
    {"node", "set", "NAME --max-num N", "change a node's capacity", cmd_node_set, true},
    {"node", "remove", "NAME", "remove a node (drain it first)", cmd_node_remove, true},
    {"heartbeats", NULL, "[NAME]", "last heartbeat of every node, or NAME's recent beats",
     cmd_heartbeats, true},
    {"watch", "heartbeats", "", "redraw the nodes live from the event stream until Ctrl-C",
     ctl_watch_heartbeats, false},
    {"regs", NULL, "[AOR]", "AORs with bindings, or one AOR's bindings", cmd_regs, false},
    {"topics", NULL, "", "list the topics", cmd_topics, false},
    {"topic", "show", "URI", "a topic and its members", cmd_topic_show, false},
    {"topic", "create", "URI --member AOR ...", "create a group topic", cmd_topic_create, false},
    {"topic", "add", "URI AOR", "add a member to a group topic", cmd_topic_add, false},
    {"topic", "remove", "URI AOR", "remove a member from a group topic", cmd_topic_remove, false},
    {"topic", "delete", "URI", "delete a group topic", cmd_topic_delete, false},
    {"subs", NULL, "[--topic|--user] USER|TOPIC",
     "subscriptions of a group topic, or of a user", cmd_subs, false},
    {"messages", NULL, "TOPIC [--since SEQ]", "a topic's stored messages after SEQ",
     cmd_messages, false},
    {"publish", NULL, "TOPIC TEXT", "publish a notice to a topic", cmd_publish, false},
    {"presence", NULL, "AOR", "an AOR's presence document and publications", cmd_presence, false},
    {"stats", NULL, "", "this node's counters and gauges", cmd_stats, false},
    {"help", NULL, "[COMMAND]", "this list", cmd_help, false},
    {NULL, NULL, NULL, NULL, NULL, false},
};

void ctl_print_help(FILE *out, const char *topic)
{
    for (const struct ctl_command *c = ctl_command_table; c->word; c++) {
        if (topic && strcmp(topic, c->word) != 0)
            continue;
        char usage_s[160];
        snprintf(usage_s, sizeof(usage_s), "%s%s%s%s%s", c->word, c->sub ? " " : "",
                 c->sub ? c->sub : "", *c->args ? " " : "", c->args);
        if (strlen(usage_s) > 40)
            fprintf(out, "  %s\n  %-40s %s\n", usage_s, "", c->summary);
        else
            fprintf(out, "  %-40s %s\n", usage_s, c->summary);
    }
}

int ctl_dispatch(struct ctl_ctx *ctx, int argc, char **argv)
{
    ctx->cmd = NULL;
    if (argc < 1)
        return CTL_EXIT_USAGE;
    bool is_known_word = false;
    for (const struct ctl_command *c = ctl_command_table; c->word; c++) {
        if (strcmp(argv[0], c->word) != 0)
            continue;
        is_known_word = true;
        if (!c->sub) {
            ctx->cmd = c;
            return c->run(ctx, argc - 1, argv + 1);
        }
        if (argc >= 2 && strcmp(argv[1], c->sub) == 0) {
            ctx->cmd = c;
            return c->run(ctx, argc - 2, argv + 2);
        }
    }
    if (is_known_word) {
        ctl_errorf(ctx, "%s %s: unknown subcommand", argv[0], argc >= 2 ? argv[1] : "(none)");
        fprintf(ctx->err, "usage:\n");
        ctl_print_help(ctx->err, argv[0]);
    } else {
        ctl_errorf(ctx, "unknown command '%s' (try 'sipctl help')", argv[0]);
    }
    return CTL_EXIT_USAGE;
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
