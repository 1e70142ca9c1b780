/* request.h - one API request as a command sees it: the JSON body in, the parsed answer out, and
 * the HTTP status turned into sipctl's exit status with the API's error shown on one line. */
#ifndef SIPCTL_REQUEST_H
#define SIPCTL_REQUEST_H

#include <jansson.h>

#include "commands.h"

/* METHOD PATH with BODY (a JSON value, may be NULL). On 2xx returns 0 with the parsed answer in
 * *OUT (NULL for an empty body; caller decrefs). On an error answer prints "sipctl: error:
 * detail" and returns CTL_EXIT_FAILED (with --json the error's JSON is printed too); no answer:
 * the status of http_request(). *STATUS (may be NULL) receives the HTTP status. */
int ctl_api_call(struct ctl_ctx *ctx, const char *method, const char *path, json_t *body,
                 json_t **out, long *status);

/* DELETE PATH; on success (and without --json) prints "WHAT deleted-line" as given, e.g.
 * "node n1 removed". Returns like ctl_api_call(). Takes path (frees it). */
int ctl_api_delete(struct ctl_ctx *ctx, char *path, const char *said);
/* GET a paginated list at PATH and every following page ("next"); *ITEMS receives all items in
 * one array (caller decrefs). */
int ctl_api_list(struct ctl_ctx *ctx, const char *path, json_t **items);

/* J indented on ctx->out. */
void ctl_print_json(struct ctl_ctx *ctx, const json_t *j);

/* What a command shows of an answer without --json: a table or lines on ctx->out. ARG is the
 * command's own (NULL when it needs none). */
typedef void (*ctl_render_fn)(struct ctl_ctx *ctx, json_t *answer, void *arg);
/* ANSWER as a command shows it: its JSON with --json, else what RENDER makes of it. */
void ctl_show(struct ctl_ctx *ctx, json_t *answer, ctl_render_fn render, void *arg);
/* GET PATH and show the answer (ctl_show). Returns like ctl_api_call(); a NULL PATH (out of
 * memory) is CTL_EXIT_FAILED. */
int ctl_api_show(struct ctl_ctx *ctx, const char *path, ctl_render_fn render, void *arg);
/* GET the whole list at PATH (ctl_api_list) and show it: with --json as {"items": all,
 * "next": null}, which is the answer as received whenever the list fits one page; else what
 * RENDER makes of the items (an array). Returns like ctl_api_list(); a NULL PATH (out of memory)
 * is CTL_EXIT_FAILED. */
int ctl_api_show_list(struct ctl_ctx *ctx, const char *path, ctl_render_fn render, void *arg);

#endif
