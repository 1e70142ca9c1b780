/* h_presence.c - GET /api/v1/presence/{aor}: a presentity's state as its watchers get it (the
 * document pidf_compose() makes of the publications, docs/presence.md §4) and the publications
 * themselves, read from the store like the presence package reads them. */
#include "api_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/sbuf.h"
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
    char *aor = api_reg_aor(r->params[0]);
    if (!aor) {
        api_reply_error(r, 400, "bad AOR", "\"%.200s\" is not a SIP AOR (sip:user@domain)",
                        r->params[0]);
        return;
    }
    struct api_job *j = api_job_new(r->api, get_run);
    if (j)
        j->s[0] = aor;
    else
        free(aor);
    api_job_call(r, j);
}
