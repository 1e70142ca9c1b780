/* aor.c - the SIP AORs the API is given, in a path or a body: the two canonical forms (the IM
 * packages' and the presence rules', api_aor; the registrar's and the presence store's,
 * api_reg_aor), and the one shape every route with an AOR in its path shares: decode the
 * {...} segment, answer 400 when it names no AOR, else hand it to a loop job. */
#include "api_impl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "sip/msg.h"

char *api_aor(const char *s)
{
    char *uri = api_sip_uri(s);
    osip_uri_t *u = NULL;
    char buf[512];
    int ok = uri && osip_uri_init(&u) == 0 && osip_uri_parse(u, uri) == 0 &&
             sip_uri_aor(u, buf, sizeof buf) == 0;
    osip_uri_free(u);
    free(uri);
    /* no control characters, and well-formed UTF-8 once unescaped: bytes that are not would be
     * stored, then dropped from every JSON listing (jansson takes UTF-8 only) */
    for (const unsigned char *p = (const unsigned char *)buf; ok && *p; p++)
        ok = *p > 0x20 && *p != 0x7f;
    json_t *probe = ok ? json_string(buf) : NULL;
    ok = probe != NULL;
    json_decref(probe);
    return ok ? strdup(buf) : NULL;
}

char *api_reg_aor(const char *s)
{
    char *uri = api_sip_uri(s);
    if (!uri)
        return NULL;
    char *at = strchr(uri, '@');
    if (!at || at == strchr(uri, ':') + 1) {
        free(uri);
        return NULL;
    }
    at[strcspn(at, ";?>")] = '\0'; /* parameters and headers are not part of an AOR, */
    char *host_end = at[1] == '[' ? strchr(at, ']') : at; /* nor is a port (as the registrar) */
    if (host_end && (host_end = strchr(host_end, ':')))
        *host_end = '\0';
    if (!at[1]) {
        free(uri);
        return NULL;
    }
    for (char *p = uri; *p && *p != ':'; p++)
        *p = (char)tolower((unsigned char)*p);
    for (char *p = at; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return uri;
}

/* Which segment each kind reads, its canonical form, and its 400:
 * {"error": err, "detail": "\"<segment>\" is not <what>"}. (Every form goes through
 * api_sip_uri(), which bounds a segment to 256 bytes.) */
static const struct {
    size_t param;
    char *(*canon)(const char *s);
    const char *err;
    const char *what;
} kinds[] = {
    [API_PATH_TOPIC] = {0, api_aor, "bad topic", "a SIP URI with a user and a host"},
    [API_PATH_MEMBER] = {1, api_aor, "bad member", "a SIP URI with a user and a host"},
    [API_PATH_AOR] = {0, api_aor, "bad AOR", "a SIP AOR (sip:user@domain)"},
    [API_PATH_REG_AOR] = {0, api_reg_aor, "bad AOR", "a SIP AOR (sip:user@domain)"},
};

char *api_path_aor(struct api_req *r, enum api_path_aor kind)
{
    const char *seg = r->params[kinds[kind].param];
    char *aor = kinds[kind].canon(seg);
    if (!aor)
        api_reply_error(r, 400, kinds[kind].err, "\"%.200s\" is not %s", seg, kinds[kind].what);
    return aor;
}

struct api_job *api_path_job(struct api_req *r, enum api_path_aor kind, api_job_fn fn)
{
    char *aor = api_path_aor(r, kind);
    if (!aor)
        return NULL;
    struct api_job *j = api_job_new(r->api, fn);
    if (!j) {
        free(aor);
        api_job_call(r, NULL); /* 500 */
        return NULL;
    }
    j->s[0] = aor;
    return j;
}
