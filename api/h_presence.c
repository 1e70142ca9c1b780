/* h_presence.c - GET /api/v1/presence/{aor}: a presentity's state as its watchers get it (the
 * document pidf_compose() makes of the publications, docs/presence.md §4) and the publications
 * themselves, read from the store like the presence package reads them; and
 * /api/v1/presence/{aor}/rules: who may watch it (the allow and block lists of the watch policy,
 * docs/presence.md §6.1), checked and made canonical here (roles/presence/policy.h) before the
 * store sees them. */
#include "api_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/sbuf.h"
#include "roles/presence/policy.h"
#include "sip/pidf.h"
#include "store/store.h"

/* A body as a JSON string; null when it is not UTF-8 text (bodies are opaque octets). */
static json_t *body_json(const char *body, size_t len)
{
    json_t *v = body ? json_stringn(body, len) : NULL;
    return v ? v : json_null();
}

static void on_publications(void *arg, int status, const struct pres_publication *v, size_t n)
{
    struct api_job *j = arg;
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "the presence store could not be read");
        return;
    }
    if (n == 0) {
        api_job_error(j, 404, "not found", "%.256s has published nothing", j->s[0]);
        return;
    }
    struct pidf_part local[8];
    struct pidf_part *parts = n <= 8 ? local : calloc(n, sizeof *parts);
    if (!parts) {
        api_job_error(j, 500, "out of memory", "the document could not be composed");
        return;
    }
    int64_t now = j->n[0];
    json_t *pubs = json_array();
    for (size_t i = 0; i < n; i++) {
        parts[i] = (struct pidf_part){.content_type = v[i].content_type, .body = v[i].body,
                                      .body_len = v[i].body_len, .etag = v[i].etag};
        json_array_append_new(
            pubs, json_pack("{s:s, s:I, s:s?, s:o}", "etag", v[i].etag ? v[i].etag : "",
                            "expires_s",
                            (json_int_t)(v[i].expires_at > now ? v[i].expires_at - now : 0),
                            "content_type", v[i].content_type,
                            "body", body_json(v[i].body, v[i].body_len)));
    }
    struct sbuf doc;
    sbuf_init(&doc);
    pidf_compose(j->s[0], parts, n, &doc);
    if (parts != local)
        free(parts);
    if (doc.failed) {
        sbuf_free(&doc);
        json_decref(pubs);
        api_job_error(j, 500, "out of memory", "the document could not be composed");
        return;
    }
    json_t *out = json_pack("{s:s, s:o, s:o}", "aor", j->s[0], "document",
                            body_json(doc.p ? doc.p : "", doc.len), "publications", pubs);
    sbuf_free(&doc);
    api_job_done(j, 200, out);
}

static void get_run(struct api_job *j)
{
    j->n[0] = (int64_t)time(NULL);
    store_pres_get(j->api->ctx.store, j->s[0], j->n[0], on_publications, j);
}

void api_h_presence_get(struct api_req *r)
{
    struct api_job *j = api_path_job(r, API_PATH_REG_AOR, get_run);
    if (j)
        api_job_call(r, j);
}

/* ---- the watch policy's lists ---- */

static json_t *strings_json(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *rules_json(const char *aor, json_t *allow, json_t *block)
{
    return json_pack("{s:s, s:o, s:o}", "aor", aor, "allow", allow, "block", block);
}

static void on_rules(void *arg, int status, const struct pres_rules *rl)
{
    struct api_job *j = arg;
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "the presence rules could not be read");
        return;
    }
    api_job_done(j, 200, rules_json(j->s[0], strings_json(rl->allow, rl->nallow),
                                     strings_json(rl->block, rl->nblock)));
}

static void rules_get_run(struct api_job *j)
{
    store_pres_rules_get(j->api->ctx.store, j->s[0], on_rules, j);
}

void api_h_presence_rules_get(struct api_req *r)
{
    /* the presentity of a rules path is canonical like the package keys the rules (api_aor:
     * sips folded to sip), unlike the publications' (api_reg_aor) */
    struct api_job *j = api_path_job(r, API_PATH_AOR, rules_get_run);
    if (j)
        api_job_call(r, j);
}

/* One list of a body as canonical entries, each once (a new array), or NULL after answering
 * 400. Absent: an empty list. */
static json_t *entries_of(struct api_req *r, json_t *body, const char *name)
{
    json_t *list = json_object_get(body, name);
    if (list && (!json_is_array(list) || json_array_size(list) > STORE_PRES_RULES_MAX)) {
        api_reply_error(r, 400, "bad field", "%s must be an array of at most %d entries", name,
                        STORE_PRES_RULES_MAX);
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        char canon[STORE_PRES_RULE_BYTES + 1];
        const char *v = json_string_value(e);
        if (!v || json_string_length(e) != strlen(v) ||
            pres_rule_entry(v, canon, sizeof canon) < 0) {
            api_reply_error(r, 400, "bad field",
                            "%s[%zu] is neither a SIP AOR (sip:bob@example.com) nor a domain"
                            " (example.org) of at most %d bytes",
                            name, i, STORE_PRES_RULE_BYTES);
            json_decref(out);
            return NULL;
        }
        api_array_add_once(out, canon);
    }
    return out;
}

static void on_rules_written(void *arg, int status)
{
    struct api_job *j = arg;
    if (status != 0) {
        api_job_error(j, api_store_http_status(status), "store error",
                      "the presence rules could not be written");
        return;
    }
    json_t *allow = json_deep_copy(json_object_get(j->in, "allow"));
    json_t *block = json_deep_copy(json_object_get(j->in, "block"));
    api_job_done(j, 200, rules_json(j->s[0], allow, block));
}

static void rules_put_run(struct api_job *j)
{
    json_t *allow = json_object_get(j->in, "allow"), *block = json_object_get(j->in, "block");
    size_t na = json_array_size(allow), nb = json_array_size(block);
    const char **v = calloc(na + nb + 1, sizeof *v);
    if (!v) {
        api_job_error(j, 500, "out of memory", "the presence rules could not be written");
        return;
    }
    for (size_t i = 0; i < na; i++)
        v[i] = json_string_value(json_array_get(allow, i));
    for (size_t i = 0; i < nb; i++)
        v[na + i] = json_string_value(json_array_get(block, i));
    struct pres_rules rl = {.aor = j->s[0], .allow = v, .nallow = na, .block = v + na,
                            .nblock = nb};
    store_pres_rules_put(j->api->ctx.store, &rl, on_rules_written, j);
    free(v);
}

void api_h_presence_rules_put(struct api_req *r)
{
    static const char *const allowed[] = {"allow", "block", NULL};
    char *aor = api_path_aor(r, API_PATH_AOR);
    json_t *body = aor ? api_body_object(r, allowed) : NULL;
    json_t *allow = body ? entries_of(r, body, "allow") : NULL;
    json_t *block = allow ? entries_of(r, body, "block") : NULL;
    json_decref(body);
    if (!block) {
        free(aor);
        json_decref(allow);
        return;
    }
    struct api_job *j = api_job_new(r->api, rules_put_run);
    if (!j) {
        free(aor);
        json_decref(allow);
        json_decref(block);
        api_job_call(r, NULL);
        return;
    }
    j->s[0] = aor;
    j->in = json_pack("{s:o, s:o}", "allow", allow, "block", block);
    api_job_call(r, j);
}
