/* uac.h - requests this node originates, rendered as text (no oSIP message is built): the
 * out-of-dialog sender (page-mode MESSAGE, RFC 3428) and the rendering helpers that the
 * in-dialog NOTIFYs of subdialog.h share with it. */
#ifndef SIPD_UAC_H
#define SIPD_UAC_H

#include <stddef.h>
#include <stdint.h>

#include "../transport/transport.h"
#include "txn.h"

struct sbuf;

/* An out-of-dialog request (page-mode MESSAGE). */
struct uac_request {
    const char *method;
    const char *request_uri;
    const char *route;         /* Route header value(s) "<a>,<b>", or NULL */
    const char *from;          /* From header value without tag, e.g. "<sip:alice@example.com>" */
    const char *to;            /* To header value */
    const char *content_type;  /* NULL: no body */
    const char *body;
    size_t body_len;
    const char *extra_headers; /* complete lines, or NULL */
};

/* Send r to dst (the caller chose it: a flow, the first Route, or the Request-URI's address)
 * with a new Call-ID, From tag and CSeq 1. Returns the client transaction or NULL (-ENOMEM /
 * -ENOTCONN in *err). */
struct sip_txn *uac_send(struct txn_layer *tl, struct transport *tp, const struct uac_request *r,
                         const struct sip_source *dst, txn_client_cb cb, void *arg, int *err);

/* Where a request to `uri` (a SIP URI, numeric host) goes: proto from its transport param
 * (default UDP), port default 5060. Returns 0 or -1 (not numeric / unparseable). */
int uac_uri_dest(const char *uri, struct sip_source *dst);

/* Append to out the request line, Via (our listener for dst's transport, the given branch),
 * Max-Forwards, Route (when route is not NULL), From with from_tag, To (with to_tag when not
 * NULL), Call-ID, CSeq and Contact. A failed allocation is left in out->failed. */
void uac_render_head(struct sbuf *out, struct transport *tp, const char *method, const char *ruri,
                     const struct sip_source *dst, const char *branch, const char *route,
                     const char *from, const char *from_tag, const char *to, const char *to_tag,
                     const char *call_id, uint32_t cseq);
/* Append the extra header lines (or none), Content-Type when ctype is not NULL, Content-Length
 * and the body. */
void uac_render_tail(struct sbuf *out, const char *extra, const char *ctype, const char *body,
                     size_t body_len);

#endif
