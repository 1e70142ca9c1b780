/* fuzz_api.c - libFuzzer target for the REST API's request bodies (api/): api_body_object()
 * and the field validation of every handler that takes a JSON body (POST /api/v1/nodes, PATCH
 * /api/v1/nodes/{name}, POST /api/v1/topics, POST .../members, POST .../messages), called
 * without sockets or threads: the request is a struct api_req holding the body, and the api is
 * marked stopping, so a body that passes validation ends in api_job_call()'s immediate 503
 * instead of a job on the loop. The input's first byte picks the handler, the rest is the body
 * (and, split at the first NUL, the path segment). Invariants: every answer has a status and a
 * JSON text; a 400 says why ({"error": ..., "detail": ...}); nothing leaks.
 *
 *   tests/fuzz/build.sh && mkdir -p a && ./fuzz_api -max_total_time=60 a tests/fuzz/corpus_api */
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_impl.h"

static const api_handler handlers[] = {
    api_h_node_add, api_h_node_patch, api_h_topic_create, api_h_topic_member_add,
    api_h_message_post,
};
#define NHANDLERS (sizeof handlers / sizeof handlers[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > API_MAX_BODY_BYTES)
        return 0;
    static struct api api;
    static int ready;
    if (!ready) {
        pthread_mutex_init(&api.mu, NULL);
        api.stopping = 1;
        strcpy(api.node_name, "fuzz");
        ready = 1;
    }
    const char *rest = (const char *)data + 1;
    size_t len = size - 1;
    const char *nul = memchr(rest, '\0', len);
    struct api_req r;
    memset(&r, 0, sizeof r);
    r.api = &api;
    r.method = "POST";
    r.path = "/api/v1/fuzz";
    r.has_token = 1;
    size_t seg = nul ? (size_t)(nul - rest) : 0;
    r.params[0] = strndup(nul ? rest : "sip:team@example.com", nul ? seg : 20);
    r.params[1] = strdup("sip:bob@example.com");
    const char *body = nul ? nul + 1 : rest;
    r.body_len = nul ? len - seg - 1 : len;
    r.body = malloc(r.body_len + 1);
    memcpy(r.body, body, r.body_len);
    r.body[r.body_len] = '\0';

    handlers[data[0] % NHANDLERS](&r);

    if (r.status < 200 || r.status > 599 || !r.text)
        abort();
    if (r.status == 400) {
        json_t *v = json_loadb(r.text, r.text_len, 0, NULL);
        if (!v || !json_is_string(json_object_get(v, "error")) ||
            !json_is_string(json_object_get(v, "detail")))
            abort();
        json_decref(v);
    }
    free(r.text);
    free(r.body);
    for (size_t i = 0; i < API_MAX_PARAMS; i++)
        free(r.params[i]);
    return 0;
}
