/* uas.c - RFC 3261 §8.2 refusals of a UAS; see uas.h. */
#include "uas.h"

#include <string.h>
#include <strings.h>

#include "msg.h"
#include "stats.h"
#include "txn.h"
#include "uri.h"

int uas_refuses_merged(struct sip_txn *t)
{
    if (!txn_server_is_merged(t))
        return 0;
    txn_respond_simple(t, 482, "Loop Detected", NULL, NULL);
    return 1;
}

int uas_refuses(struct sip_txn *t)
{
    static const char *const supported[] = {"path", "outbound", NULL};
    const osip_message_t *req = txn_request(t);
    char tag[64];
    if (uas_refuses_merged(t))
        return 1;
    if (sip_header_unknown_option(req, "require", supported, tag, sizeof tag)) {
        txn_respond_simple(t, 420, NULL, "Unsupported", tag);
        return 1;
    }
    const osip_content_length_t *cl = req->content_length;
    const osip_content_encoding_t *ce = osip_list_get(&req->content_encodings, 0);
    if (ce && ce->value && cl && cl->value && strcmp(cl->value, "0") != 0 &&
        strcasecmp(ce->value, "identity") != 0) {
        txn_respond_simple(t, 415, NULL, "Accept-Encoding", "identity");
        return 1;
    }
    return 0;
}

void uas_refuse_method(struct sip_txn *t, const char *allow)
{
    const osip_message_t *req = txn_request(t);
    if (sip_stats_method_slot(req->sip_method) == 0)
        txn_respond_simple(t, 501, NULL, "Allow", SIP_ALLOW_METHODS);
    else
        txn_respond_simple(t, 405, NULL, "Allow", allow);
}
