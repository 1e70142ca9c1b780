/* subdialog.h - the notifier's half of a subscription dialog (RFC 6665 §4.2, RFC 3261 §12.1.1),
 * shared by the `im` and `presence` event packages: the dialog built from an initial SUBSCRIBE,
 * its refreshes, its key, and the NOTIFYs sent within it.
 *
 * NOTIFYs are rendered as text (uac.h) and sent in a client transaction (txn.h). They travel
 * over the subscriber's own flow: its route set when it has one (to the first Route), else the
 * TCP connection or UDP source address the SUBSCRIBE came from; a closed connection is never
 * re-opened for them (-ENOTCONN). */
#ifndef SIPD_SUBDIALOG_H
#define SIPD_SUBDIALOG_H

#include <osipparser2/osip_parser.h>
#include <stddef.h>
#include <stdint.h>

#include "../transport/transport.h"
#include "txn.h"

struct sbuf;

/* The notifier's half of a subscription dialog (RFC 3261 §12.1.1, RFC 6665 §4.2). All strings
 * are heap copies owned by the dialog; sub_dialog_clear() frees them. */
struct sub_dialog {
    char *call_id;
    char *local_tag;      /* ours: the To tag of our 2xx, the From tag of our NOTIFYs */
    char *remote_tag;     /* the subscriber's From tag */
    char *local_uri;      /* To URI of the SUBSCRIBE (the resource): From of our NOTIFYs */
    char *remote_uri;     /* From URI of the SUBSCRIBE: To of our NOTIFYs */
    char *remote_target;  /* the subscriber's Contact URI: Request-URI of our NOTIFYs */
    char *route_set;      /* Record-Route values of the SUBSCRIBE in order, "<a>,<b>"; NULL = none */
    char *event_id;       /* the Event `id` parameter, NULL when absent */
    uint32_t local_cseq;  /* CSeq of our last NOTIFY */
    uint32_t remote_cseq; /* CSeq of the subscriber's last SUBSCRIBE */
    struct sip_source flow; /* where the (last) SUBSCRIBE came from */
    int is_datagram;      /* the bottom Via of the SUBSCRIBE says UDP (RFC 3261 §18.1.1 applies) */
};

#define SUB_EVENT_ID_MAX 128
/* The `id` parameter of an Event header value into buf. Returns 1 (found), 0 (none), or -1 (empty
 * or longer than SUB_EVENT_ID_MAX / buf: answer 400). */
int sub_event_id(const char *event_value, char *buf, size_t n);

/* Fill d from an initial SUBSCRIBE received from src; local_tag is the tag our 2xx carries.
 * Returns 0, 400 (no Contact / unusable headers) or -ENOMEM. d is cleared on failure. */
int sub_dialog_init(struct sub_dialog *d, const osip_message_t *sub, const struct sip_source *src,
                    const char *local_tag);

/* An in-dialog SUBSCRIBE (refresh): checks its CSeq is above the last one (else 500, RFC 3261
 * §12.2.2), updates the remote target from its Contact and the transport class from its bottom
 * Via, and, when the route set is empty, rebinds the flow to src. Returns 0 or a SIP status. */
int sub_dialog_refresh(struct sub_dialog *d, const osip_message_t *sub, const struct sip_source *src);

void sub_dialog_clear(struct sub_dialog *d);

/* The dialog key of an in-dialog request we receive: "<Call-ID>\n<To tag>\n<From tag>" into buf.
 * Returns 0, or -1 when the request has no To tag (not in a dialog) or buf is too small. */
int sub_dialog_key_of_request(const osip_message_t *req, char *buf, size_t n);
/* The same key for a dialog. */
int sub_dialog_key(const struct sub_dialog *d, char *buf, size_t n);

/* Is the dialog's flow still usable for a NOTIFY (route set, UDP, or an open TCP connection)? */
int sub_dialog_flow_alive(struct transport *tp, const struct sub_dialog *d);

struct notify_params {
    const char *event;         /* Event header value without id, e.g. "im;last-seq=4;first-seq=1" */
    const char *sub_state;     /* Subscription-State value, e.g. "active;expires=3599" */
    const char *content_type;  /* NULL: no body */
    const char *body;
    size_t body_len;
    const char *extra_headers; /* complete "Name: value\r\n" lines, or NULL */
};

/* Render a NOTIFY in d (next local CSeq; `;id=` appended to Event when the dialog has one) into
 * out (cleared first). Exposed for tests and for size checks (RFC 3261 §18.1.1). Returns 0 or
 * -ENOMEM. The branch is fresh per call. */
int sub_dialog_render_notify(struct transport *tp, struct sub_dialog *d,
                             const struct notify_params *np, struct sbuf *out, char *branch,
                             size_t branch_len);

/* Build and send a NOTIFY in d over its flow. Returns the client transaction (results through
 * cb), or NULL with *err = -ENOTCONN (the subscriber's connection is gone), -EINVAL (no usable
 * destination) or -ENOMEM. */
struct sip_txn *sub_dialog_notify(struct txn_layer *tl, struct transport *tp, struct sub_dialog *d,
                                  const struct notify_params *np, txn_client_cb cb, void *arg,
                                  int *err);

#endif
