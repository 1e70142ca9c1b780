/* h_regs.c - /api/v1/registrations: the location service by AOR (docs/api.md "Registrations").
 *
 * Reads and writes go through the store's location functions, so the answer is the same the
 * registrar and the proxy see: every node's bindings with --db, this process's on the memory
 * store. A delete is an ordinary store_location_update (atomic with every REGISTER of the AOR),
 * so the AOR stays known (a call to it gets 480, not 404) as after any removal. */
#include "api_impl.h"

#include "base/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "store/store.h"

/* ---- list ---- */

/* One more than the page is asked for, so that "next" is null on the last page. */
static void on_aors(void *arg, int status, const struct aor_count *v, size_t n)
{
    struct api_job *j = arg;
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "the location service could not be read");
        return;
    }
    size_t limit = (size_t)j->n[0];
    json_t *items = json_array();
    for (size_t i = 0; i < n && i < limit; i++)
        json_array_append_new(items, json_pack("{s:s, s:I}", "aor", v[i].aor, "bindings",
                                               (json_int_t)v[i].bindings));
    json_t *next =
        api_next_link("/api/v1/registrations", limit, n > limit ? v[limit - 1].aor : NULL);
    api_job_done(j, 200, json_pack("{s:o, s:o}", "items", items, "next", next));
}

static void list_run(struct api_job *j)
{
    store_location_list(j->api->ctx.store, j->s[0], (size_t)j->n[0] + 1, (int64_t)time(NULL),
                        on_aors, j);
}

void api_h_regs_list(struct api_req *r)
{
    struct api_job *j = api_list_job(r, list_run);
    if (j)
        api_job_call(r, j);
}

/* ---- one AOR ---- */

static json_t *string_or_null(const char *s)
{
    json_t *v = s ? json_string(s) : NULL;
    return v ? v : json_null();
}

static json_t *binding_json(const struct api *api, const struct binding *b, int64_t now,
                            int is_local)
{
    char transport[8] = "";
    if (b->received) {
        size_t n = strcspn(b->received, ":");
        if (n < sizeof transport)
            snprintf(transport, sizeof transport, "%.*s", (int)n, b->received);
    }
    /* NULL: the node that accepted it did not say; on the memory store that is this one */
    const char *node = b->node                  ? b->node
                       : is_local && api->node_name[0] ? api->node_name
                                                       : NULL;
    return json_pack("{s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I}",
                     "contact", string_or_null(b->contact), "expires_s",
                     (json_int_t)(b->expires_at > now ? b->expires_at - now : 0), "expires_at_ms",
                     (json_int_t)b->expires_at * 1000, "q",
                     b->q >= 0 ? json_real(b->q / 1000.0) : json_null(), "path",
                     api_csv_array(b->path), "transport",
                     transport[0] ? json_string(transport) : json_null(), "source",
                     string_or_null(b->received), "node", string_or_null(node), "instance",
                     string_or_null(b->instance), "reg_id",
                     b->reg_id > 0 ? json_integer(b->reg_id) : json_null(), "call_id",
                     string_or_null(b->call_id), "cseq", (json_int_t)b->cseq);
}

static void on_bindings(void *arg, int status, const struct binding *b, size_t n)
{
    struct api_job *j = arg;
    if (status != 0 && status != STORE_OFFLINE) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "the location service could not be read");
        return;
    }
    if (n == 0) {
        api_job_error(j, 404, "not found", "%.256s has no bindings", j->s[0]);
        return;
    }
    int64_t now = j->n[0];
    int is_local = strcmp(store_backend_name(j->api->ctx.store), "memory") == 0;
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, binding_json(j->api, &b[i], now, is_local));
    api_job_done(j, 200, json_pack("{s:s, s:o}", "aor", j->s[0], "bindings", items));
}

static void get_run(struct api_job *j)
{
    j->n[0] = (int64_t)time(NULL);
    store_location_lookup(j->api->ctx.store, j->s[0], j->n[0], on_bindings, j);
}

void api_h_reg_get(struct api_req *r)
{
    struct api_job *j = api_path_job(r, API_PATH_REG_AOR, get_run);
    if (j)
        api_job_call(r, j);
}

/* ---- delete: all of an AOR's bindings, or the one with ?contact ---- */

/* The update (arg: the job, s[1] the contact or NULL for all): keep every binding but the ones
 * removed; 404 when none would be. Pure: depends on cur and the contact only (the store may run
 * it twice). */
static int remove_update(void *arg, const struct binding *cur, size_t ncur,
                         struct binding_list *out)
{
    const struct api_job *j = arg;
    const char *contact = j->s[1];
    size_t removed = 0;
    for (size_t i = 0; i < ncur; i++) {
        if (!contact || (cur[i].contact && strcasecmp(cur[i].contact, contact) == 0)) {
            removed++;
            continue;
        }
        if (binding_list_push_copy(out, &cur[i]) < 0)
            return 500;
    }
    return removed ? 0 : 404;
}

static void on_removed(void *arg, int status, const struct binding *b, size_t n)
{
    (void)b, (void)n;
    struct api_job *j = arg;
    if (status == 0) {
        /* the stream's watchers see it as a registration change ("*": every contact) */
        events_registration(j->s[0], j->s[1] ? j->s[1] : "*", -1, "removed");
        api_job_done(j, 204, NULL);
    }
    else if (status == 404 && j->s[1])
        api_job_error(j, 404, "not found", "%.256s has no binding with contact %.256s", j->s[0],
                      j->s[1]);
    else if (status == 404)
        api_job_error(j, 404, "not found", "%.256s has no bindings", j->s[0]);
    else
        api_job_error(j, status > 0 ? status : api_store_http_status(status), "store error",
                      "the bindings could not be removed");
}

static void delete_run(struct api_job *j)
{
    store_location_update(j->api->ctx.store, j->s[0], (int64_t)time(NULL), remove_update,
                          on_removed, j);
}

void api_h_reg_delete(struct api_req *r)
{
    int bad = 0;
    char *contact = api_query(r, "contact", &bad);
    if (bad || (contact && (!*contact || strlen(contact) > 512))) {
        free(contact);
        api_reply_error(r, 400, "bad query argument", "contact must be a contact URI");
        return;
    }
    struct api_job *j = api_path_job(r, API_PATH_REG_AOR, delete_run);
    if (j)
        j->s[1] = contact;
    else
        free(contact);
    if (j)
        api_job_call(r, j);
}
