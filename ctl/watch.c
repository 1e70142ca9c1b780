/* watch.c - `watch heartbeats`: the nodes table, redrawn on every heartbeat and node event of
 * GET /api/v1/events until Ctrl-C. A heartbeat event updates that node's row in place (last
 * beat, round trip, work); a node event (up, down, draining, added, removed...) fetches the
 * list again, since it may change any column or the set of rows. On a terminal the table is
 * drawn on the alternate screen with the cursor hidden, and both are restored on the way out,
 * Ctrl-C included; elsewhere (a pipe) each redraw is appended. With --json no table: each
 * heartbeat and node event is printed as one JSON line, for scripts. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "options.h"

static volatile sig_atomic_t stop_watch;

static void on_sigint(int sig)
{
    (void)sig;
    stop_watch = 1;
    http_events_interrupt();
}

struct watch {
    struct ctl_ctx *ctx;
    json_t *nodes;        /* array of node objects, as GET /api/v1/nodes gives them */
    unsigned long events; /* heartbeat and node events seen */
    char last[160];       /* the latest event, one line */
    bool is_tty;
};

/* GET /api/v1/nodes into W->nodes. The first fetch reports its error; one made on a node event
 * is silent (the table stays as it was), so that a Ctrl-C which cuts it short says nothing. */
static int refetch(struct watch *w, bool is_silent)
{
    json_t *j = NULL;
    int rc;
    if (!is_silent) {
        rc = ctl_api_get(w->ctx, "/api/v1/nodes", &j);
    } else {
        char err[256];
        struct ctl_reply r;
        rc = http_request(&w->ctx->http, "GET", "/api/v1/nodes", NULL, &r, err, sizeof(err));
        if (rc == 0 && r.status == 200 && r.body)
            j = json_loads(r.body, 0, NULL);
        if (rc == 0 && !j)
            rc = CTL_EXIT_FAILED;
        ctl_reply_free(&r);
    }
    if (rc != 0)
        return rc;
    json_t *items = json_is_array(j) ? j : json_object_get(j, "items");
    json_decref(w->nodes);
    w->nodes = json_incref(items ? items : json_array());
    json_decref(j);
    return 0;
}

static void redraw(struct watch *w)
{
    FILE *out = w->ctx->out;
    char clock[16];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
    if (w->is_tty)
        fputs("\033[H\033[2J", out); /* home, clear */
    fprintf(out, "sipctl watch heartbeats  %s  %s  events: %lu  (Ctrl-C to stop)\n\n",
            w->ctx->http.base_url, clock, w->events);
    ctl_print_nodes(out, w->nodes, ctl_now_ms());
    fprintf(out, "\n%s\n", w->last[0] ? w->last : "waiting for events...");
    fflush(out);
}

/* The node object named NAME in W->nodes, or NULL. */
static json_t *node_named(struct watch *w, const char *name)
{
    size_t i;
    json_t *n;
    json_array_foreach(w->nodes, i, n) {
        const char *s = json_string_value(json_object_get(n, "name"));
        if (s && strcmp(s, name) == 0)
            return n;
    }
    return NULL;
}

/* --json: every heartbeat and node event as one line {"event": NAME, "data": {...}}. */
static void print_event_json(struct watch *w, const char *event, json_t *data)
{
    json_t *line = json_pack("{s:s,s:O}", "event", event, "data", data);
    char *s = line ? json_dumps(line, JSON_COMPACT) : NULL;
    if (s)
        fprintf(w->ctx->out, "%s\n", s);
    fflush(w->ctx->out);
    free(s);
    json_decref(line);
}

static void on_event(const char *event, const char *data, void *arg)
{
    struct watch *w = arg;
    json_t *j = json_loads(data, 0, NULL);
    const char *name = json_string_value(json_object_get(j, "node"));
    if (!j || !name) {
        json_decref(j);
        return;
    }
    if (strcmp(event, "heartbeat") == 0) {
        json_t *n = node_named(w, name);
        if (n) {
            json_object_set(n, "last_heartbeat_ms", json_object_get(j, "at_ms"));
            json_object_set(n, "rtt_ms", json_object_get(j, "rtt_ms"));
            if (json_object_get(j, "work_num"))
                json_object_set(n, "work_num", json_object_get(j, "work_num"));
        }
        snprintf(w->last, sizeof(w->last), "heartbeat from %s: %s", name,
                 json_is_true(json_object_get(j, "ok")) ? "ok" : "FAILED");
    } else if (strcmp(event, "node") == 0) {
        if (!w->ctx->is_json && !stop_watch)
            refetch(w, true);
        const char *state = json_string_value(json_object_get(j, "state"));
        snprintf(w->last, sizeof(w->last), "node %s: %s", name, state ? state : "?");
    } else {
        json_decref(j);
        return; /* registrations: not what this view shows */
    }
    w->events++;
    if (w->ctx->is_json)
        print_event_json(w, event, j);
    else
        redraw(w);
    json_decref(j);
}

int ctl_watch_heartbeats(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        ctl_errorf(ctx, "watch heartbeats takes no arguments");
        return CTL_EXIT_USAGE;
    }
    struct watch w = {.ctx = ctx, .is_tty = isatty(fileno(ctx->out)) && !ctx->is_json};
    int rc = refetch(&w, false);
    if (rc != 0)
        return rc;

    struct sigaction sa = {.sa_handler = on_sigint}, old;
    sigemptyset(&sa.sa_mask); /* no SA_RESTART: let a blocking poll see the signal */
    stop_watch = 0;
    sigaction(SIGINT, &sa, &old);
    if (w.is_tty)
        fputs("\033[?1049h\033[?25l", ctx->out); /* alternate screen, hide the cursor */
    if (!ctx->is_json)
        redraw(&w);

    char err[512] = "";
    struct ctl_reply r;
    rc = http_events(&ctx->http, "/api/v1/events", on_event, &w, &stop_watch, &r, err,
                     sizeof(err));

    if (w.is_tty)
        fputs("\033[?25h\033[?1049l", ctx->out); /* cursor back, main screen back */
    fflush(ctx->out);
    /* Back to the shell's own Ctrl-C handling. A one-shot sipctl keeps this handler until it
     * exits: a second SIGINT on the heels of the first (a wrapper such as timeout(1) signals the
     * process and its group) must not kill it before it has restored the terminal and said
     * goodbye. */
    if (ctx->is_interactive)
        sigaction(SIGINT, &old, NULL);
    if (rc != 0) {
        ctl_errorf(ctx, "%s", err);
    } else if (r.status != 200 && !stop_watch) {
        json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
        const char *e = json_string_value(json_object_get(j, "error"));
        const char *d = json_string_value(json_object_get(j, "detail"));
        ctl_errorf(ctx, "%s: %s", e ? e : "events", d ? d : "the event stream was refused");
        json_decref(j);
        rc = CTL_EXIT_FAILED;
    } else if (!ctx->is_json) {
        fprintf(ctx->out, "watched %lu events\n", w.events);
    }
    ctl_reply_free(&r);
    json_decref(w.nodes);
    return rc;
}
