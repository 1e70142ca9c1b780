/* commands.h - sipctl's commands: one table of (words, usage, summary, handler), used by the
 * one-shot command line, the shell's dispatcher and completion, and `help`. */
#ifndef SIPCTL_COMMANDS_H
#define SIPCTL_COMMANDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "http.h"

/* What every handler runs with. */
struct ctl_ctx {
    struct ctl_http http;
    bool is_json;        /* print the API's JSON instead of tables */
    bool is_interactive; /* inside the shell (watch keeps the shell alive on Ctrl-C) */
    FILE *out;           /* results */
    FILE *err;           /* one-line errors */
    const struct ctl_command *cmd; /* the command being run (set by ctl_dispatch; usage) */
};

struct ctl_command;

struct ctl_command {
    const char *word;    /* first word: "node" */
    const char *sub;     /* second word ("show") or NULL */
    const char *args;    /* the rest of the usage: "NAME --address A ..." */
    const char *summary; /* one line for help */
    int (*run)(struct ctl_ctx *ctx, int argc, char **argv); /* argv[0] is the first argument
                                                                after the command's words */
    bool wants_node;     /* its first argument is a node name (completion) */
};

/* The command table, terminated by an entry with word == NULL. */
extern const struct ctl_command ctl_command_table[];

/* Run the command in ARGV (words then arguments). Returns an exit status (enum ctl_exit);
 * a usage error prints the command's usage to ctx->err. */
int ctl_dispatch(struct ctl_ctx *ctx, int argc, char **argv);

/* `help`: every command (TOPIC NULL) or the commands whose first word is TOPIC. */
void ctl_print_help(FILE *out, const char *topic);

/* Print "sipctl: MESSAGE" on ctx->err (one line). */
void ctl_errorf(struct ctl_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The names of every node (GET /api/v1/nodes), NULL-terminated; NULL when the server cannot
 * be asked. Caller frees each string and the array. Used by the shell's completion. */
char **ctl_node_names(struct ctl_ctx *ctx);

/* Shared with watch.c: render the node list (a JSON array) as the `nodes` table on OUT;
 * NOW_MS is the time the heartbeat ages are measured against. */
void ctl_print_nodes(FILE *out, json_t *nodes, long long now_ms);
long long ctl_now_ms(void);

/* Shared with watch.c: GET PATH and parse the JSON answer into *OUT (NULL for an empty body).
 * On an HTTP error answer prints "sipctl: error: detail" and returns CTL_EXIT_FAILED. */
int ctl_api_get(struct ctl_ctx *ctx, const char *path, json_t **out);

/* watch.c: `watch heartbeats`. */
int ctl_watch_heartbeats(struct ctl_ctx *ctx, int argc, char **argv);

#endif
