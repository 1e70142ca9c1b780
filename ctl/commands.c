/* commands.c - the command table and its dispatcher. Every handler (cmd_*.c) follows one shape:
 * check its arguments (usage error: exit 2), make one request (or a list's pages, request.c),
 * then print the JSON as received (--json) or a table (format.c, table.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_impl.h"

int ctl_usage(struct ctl_ctx *ctx, const char *why)
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
bool ctl_parse_count(const char *s, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > max)
        return false;
    *out = v;
    return true;
}

static int ctl_cmd_help(struct ctl_ctx *ctx, int argc, char **argv)
{
    ctl_print_help(ctx->out, argc > 0 ? argv[0] : NULL);
    return CTL_EXIT_OK;
}

const struct ctl_command ctl_command_table[] = {
    {"nodes", NULL, "", "list the nodes: state, roles, load, last heartbeat", ctl_cmd_nodes, false},
    {"node", "show", "NAME", "every field of one node", ctl_cmd_node_show, true},
    {"node", "add", "NAME --address A --roles R1,R2 [--max-num N] [--standby]",
     "add a node to the table", ctl_cmd_node_add, false},
    {"node", "drain", "NAME", "stop sending new work to a node", ctl_cmd_node_drain, true},
    {"node", "activate", "NAME", "end draining or standby", ctl_cmd_node_activate, true},
    {"node", "standby", "NAME", "make a node a standby", ctl_cmd_node_standby, true},
    {"node", "set", "NAME --max-num N", "change a node's capacity", ctl_cmd_node_set, true},
    {"node", "remove", "NAME", "remove a node (drain it first)", ctl_cmd_node_remove, true},
    {"heartbeats", NULL, "[NAME]", "last heartbeat of every node, or NAME's recent beats",
     ctl_cmd_heartbeats, true},
    {"watch", "heartbeats", "", "redraw the nodes live from the event stream until Ctrl-C",
     ctl_watch_heartbeats, false},
    {"regs", NULL, "[AOR]", "AORs with bindings, or one AOR's bindings", ctl_cmd_regs, false},
    {"topics", NULL, "", "list the topics", ctl_cmd_topics, false},
    {"topic", "show", "URI", "a topic and its members", ctl_cmd_topic_show, false},
    {"topic", "create", "URI --member AOR ...", "create a group topic", ctl_cmd_topic_create,
     false},
    {"topic", "add", "URI AOR", "add a member to a group topic", ctl_cmd_topic_add, false},
    {"topic", "remove", "URI AOR", "remove a member from a group topic", ctl_cmd_topic_remove,
     false},
    {"topic", "delete", "URI", "delete a group topic", ctl_cmd_topic_delete, false},
    {"subs", NULL, "[--topic|--user] USER|TOPIC", "subscriptions of a group topic, or of a user",
     ctl_cmd_subs, false},
    {"messages", NULL, "TOPIC [--since SEQ]", "a topic's stored messages after SEQ",
     ctl_cmd_messages, false},
    {"publish", NULL, "TOPIC TEXT", "publish a notice to a topic", ctl_cmd_publish, false},
    /* before `presence AOR`, which takes any word */
    {"presence", "rules", "AOR", "who may watch AOR: its allow and block lists",
     ctl_cmd_presence_rules, false},
    {"presence", "allow", "AOR WATCHER", "let WATCHER (an AOR or a domain) watch AOR",
     ctl_cmd_presence_allow, false},
    {"presence", "block", "AOR WATCHER", "forbid WATCHER (an AOR or a domain) to watch AOR",
     ctl_cmd_presence_block, false},
    {"presence", "unlist", "AOR WATCHER", "take WATCHER off both lists of AOR",
     ctl_cmd_presence_unlist, false},
    {"presence", NULL, "AOR", "an AOR's presence document and publications", ctl_cmd_presence,
     false},
    {"stats", NULL, "", "this node's counters and gauges", ctl_cmd_stats, false},
    {"user", "list", "", "the users who may authenticate (AOR, realm)", ctl_cmd_users, false},
    {"user", "add", "AOR [--password PW]", "add a user (no --password: asked, not echoed)",
     ctl_cmd_user_add, false},
    {"user", "passwd", "AOR [--password PW]", "change a user's password", ctl_cmd_user_passwd,
     false},
    {"user", "remove", "AOR", "remove a user", ctl_cmd_user_remove, false},
    {"help", NULL, "[COMMAND]", "this list", ctl_cmd_help, false},
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
