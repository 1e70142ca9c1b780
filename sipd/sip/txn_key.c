/* txn_key.c - transaction keys; see txn_key.h. The keys are joined with str_join rather than
 * snprintf: two or three of them are made for every request, and snprintf's format machinery
 * cost more than the rest of making them. */
#include "txn_key.h"

#include <string.h>

#include "../base/sbuf.h"
#include "msg.h"

static const char *param_value(osip_list_t *params, const char *name)
{
    osip_generic_param_t *p = NULL;
    if (osip_generic_param_get_byname(params, (char *)name, &p) < 0 || !p)
        return NULL;
    return p->gvalue ? p->gvalue : "";
}

const char *txn_key_top_branch(const osip_message_t *m)
{
    osip_via_t *v = osip_list_get(&m->vias, 0);
    return v ? param_value(&v->via_params, "branch") : NULL;
}

int txn_key_server(const osip_message_t *req, const char *method, char *buf, size_t n)
{
    osip_via_t *v = osip_list_get(&req->vias, 0);
    if (!v || !v->host || !req->cseq || !req->cseq->method || !method || n == 0)
        return -1;
    const char *branch = param_value(&v->via_params, "branch");
    const char *port = v->port ? v->port : "";
    if (branch && strncmp(branch, "z9hG4bK", 7) == 0) {
        const char *parts[] = {"s|", branch, "|", v->host, ":", port, "|", method};
        return str_join(buf, n, parts, sizeof parts / sizeof parts[0]);
    }
    /* RFC 2543 fallback (§17.2.3): Request-URI, To tag, From tag, Call-ID, CSeq, top Via.
     * The INVITE's To tag is unknown when its ACK/CANCEL comes, so it is left out. */
    char *ruri = NULL;
    if (req->req_uri)
        osip_uri_to_str(req->req_uri, &ruri);
    const char *ttag = req->to ? param_value(&req->to->gen_params, "tag") : NULL;
    const char *ftag = req->from ? param_value(&req->from->gen_params, "tag") : NULL;
    const char *parts[] = {"s2543|", ruri ? ruri : "", "|",
                           strcmp(method, "INVITE") == 0 ? "" : (ttag ? ttag : ""), "|",
                           ftag ? ftag : "", "|",
                           req->call_id && req->call_id->number ? req->call_id->number : "", "|",
                           req->cseq->number ? req->cseq->number : "", "|", method, "|", v->host,
                           ":", port, "|", branch ? branch : ""};
    int w = str_join(buf, n, parts, sizeof parts / sizeof parts[0]);
    osip_free(ruri);
    return w;
}

int txn_key_client(const char *branch, const char *method, char *buf, size_t n)
{
    if (!branch || !method || n == 0)
        return -1;
    const char *parts[] = {"c|", branch, "|", method};
    return str_join(buf, n, parts, sizeof parts / sizeof parts[0]);
}

int txn_key_origin(const osip_message_t *req, char *buf, size_t n)
{
    if (!req->cseq || !req->cseq->number || !req->cseq->method || !req->call_id ||
        !req->call_id->number || (req->to && sip_tag_of(req->to)) || n == 0)
        return -1;
    const char *ftag = req->from ? sip_tag_of(req->from) : NULL;
    if (!ftag)
        return -1;
    const char *host = req->call_id->host;
    const char *parts[] = {ftag, "\n", req->call_id->number, host ? "@" : "", host ? host : "",
                           "\n", req->cseq->number, "\n", req->cseq->method};
    return str_join(buf, n, parts, sizeof parts / sizeof parts[0]);
}
