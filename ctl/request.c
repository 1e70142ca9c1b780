/* request.c - API requests for the command handlers (see request.h). The HTTP status decides
 * the exit status: 2xx is 0; anything else prints the API's "error: detail" on one line and is
 * 1; no answer at all is 3 (http.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "request.h"

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

void ctl_print_json(struct ctl_ctx *ctx, const json_t *j)
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
int ctl_api_call(struct ctl_ctx *ctx, const char *method, const char *path, json_t *body,
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
                ctl_print_json(ctx, j);
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
    return ctl_api_call(ctx, "GET", path, NULL, out, NULL);
}

/* GET a paginated list at PATH and every following page ("next"); *ITEMS receives all items
 * in one array. With --json the caller prints {"items": all, "next": null}, which is the answer
 * as received whenever the list fits one page. */
int ctl_api_list(struct ctl_ctx *ctx, const char *path, json_t **items)
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

void ctl_show(struct ctl_ctx *ctx, json_t *answer, ctl_render_fn render, void *arg)
{
    if (ctx->is_json)
        ctl_print_json(ctx, answer);
    else
        render(ctx, answer, arg);
}

int ctl_api_show(struct ctl_ctx *ctx, const char *path, ctl_render_fn render, void *arg)
{
    json_t *j = NULL;
    int rc = path ? ctl_api_get(ctx, path, &j) : CTL_EXIT_FAILED;
    if (rc == 0)
        ctl_show(ctx, j, render, arg);
    json_decref(j);
    return rc;
}

int ctl_api_show_list(struct ctl_ctx *ctx, const char *path, ctl_render_fn render, void *arg)
{
    json_t *items = NULL;
    int rc = path ? ctl_api_list(ctx, path, &items) : CTL_EXIT_FAILED;
    if (rc != 0)
        return rc;
    if (ctx->is_json) {
        json_t *j = json_pack("{s:O,s:n}", "items", items, "next");
        ctl_print_json(ctx, j);
        json_decref(j);
    } else {
        render(ctx, items, arg);
    }
    json_decref(items);
    return CTL_EXIT_OK;
}

int ctl_api_delete(struct ctl_ctx *ctx, char *path, const char *said)
{
    json_t *j = NULL;
    int rc = ctl_api_call(ctx, "DELETE", path, NULL, &j, NULL);
    free(path);
    json_decref(j);
    if (rc == 0 && !ctx->is_json)
        fprintf(ctx->out, "%s\n", said);
    return rc;
}
