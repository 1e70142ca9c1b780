/* cmd_impl.h - what the command handlers (cmd_*.c) share with the command table (commands.c).
 * Every handler gets the arguments after its command words and returns an exit status. */
#ifndef SIPCTL_CMD_IMPL_H
#define SIPCTL_CMD_IMPL_H

#include <stdbool.h>

#include "commands.h"
#include "format.h"
#include "options.h"
#include "request.h"
#include "url.h"

/* A usage error of the running command: WHY (may be NULL) and its usage line on ctx->err.
 * Returns CTL_EXIT_USAGE. */
int ctl_usage(struct ctl_ctx *ctx, const char *why);
/* A non-negative integer in S (at most MAX) into *OUT. */
bool ctl_parse_count(const char *s, long long max, long long *out);

/* cmd_nodes.c */
int ctl_cmd_nodes(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_node_show(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_node_add(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_node_drain(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_node_activate(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_node_standby(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_node_set(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_node_remove(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_heartbeats(struct ctl_ctx *ctx, int argc, char **argv);
/* cmd_topics.c */
int ctl_cmd_topics(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_topic_show(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_topic_create(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_topic_add(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_topic_remove(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_topic_delete(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_subs(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_messages(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_publish(struct ctl_ctx *ctx, int argc, char **argv);
/* cmd_users.c */
int ctl_cmd_users(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_user_add(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_user_passwd(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_user_remove(struct ctl_ctx *ctx, int argc, char **argv);
/* cmd_presence.c */
int ctl_cmd_presence_rules(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_presence_allow(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_presence_block(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_presence_unlist(struct ctl_ctx *ctx, int argc, char **argv);
/* cmd_status.c */
int ctl_cmd_regs(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_presence(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_stats(struct ctl_ctx *ctx, int argc, char **argv);

#endif
