/* subdialog.c - the notifier's half of a subscription dialog (RFC 6665 §4.2); see subdialog.h.
 *
 * The dialog is built from the initial SUBSCRIBE (Call-ID, tags, URIs, Contact as remote target,
 * Record-Route as route set, the Event id) and kept current by refreshes. NOTIFYs are rendered
 * as text with uac.h's helpers and go to the first Route when there is a route set, else back
 * over the flow the SUBSCRIBE came from. */
#include "subdialog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/sbuf.h"
#include "msg.h"
#include "uac.h"

/* "sip:..." of a From/To/Contact URI, heap copy or NULL. */
static char *uri_str(osip_uri_t *u)
{
    char *s = NULL;
    if (!u || osip_uri_to_str(u, &s) != 0)
        return NULL;
    char *c = strdup(s);
    osip_free(s);
    return c;
}

/* The transport named by the bottom-most Via (§8.2 of the im spec: the subscriber's own hop). */
static int bottom_via_is_udp(const osip_message_t *m)
{
    int n = osip_list_size(&m->vias);
    osip_via_t *v = n > 0 ? osip_list_get(&m->vias, n - 1) : NULL;
    return v && v->protocol && strcasecmp(v->protocol, "UDP") == 0;
}

/* Record-Route values in order, "<a>, <b>"; NULL when none. */
static char *route_set_of(const osip_message_t *m, int *err)
{
    int n = osip_list_size(&m->record_routes);
    *err = 0;
    if (n == 0)
        return NULL;
    struct sbuf b;
    sbuf_init(&b);
    for (int i = 0; i < n; i++) {
        osip_record_route_t *rr = osip_list_get(&m->record_routes, i);
        char *s = NULL;
        if (osip_record_route_to_str(rr, &s) != 0) {
            *err = 400;
            sbuf_free(&b);
            return NULL;
        }
        if (i)
            sbuf_puts(&b, ", ");
        sbuf_puts(&b, s);
        osip_free(s);
    }
    if (b.failed) {
        *err = -ENOMEM;
        sbuf_free(&b);
        return NULL;
    }
    return sbuf_steal(&b, NULL);
}

int sub_event_id(const char *ev, char *buf, size_t n)
{
    for (const char *p = ev ? strchr(ev, ';') : NULL; p; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (*q == ' ' || *q == '\t')
            q++;
        if (strncasecmp(q, "id", 2) != 0)
            continue;
        q += 2;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q != '=')
            continue;
        q++;
        while (*q == ' ' || *q == '\t')
            q++;
        size_t len = strcspn(q, "; \t");
        if (len == 0 || len >= n || len > SUB_EVENT_ID_MAX)
            return -1;
        memcpy(buf, q, len);
        buf[len] = '\0';
        return 1;
    }
    return 0;
}

static char *event_id_of(const osip_message_t *m)
{
    char id[SUB_EVENT_ID_MAX + 1];
    return sub_event_id(sip_header_get(m, "event", 0), id, sizeof id) == 1 ? strdup(id) : NULL;
}

int sub_dialog_init(struct sub_dialog *d, const osip_message_t *sub, const struct sip_source *src,
                    const char *local_tag)
{
    memset(d, 0, sizeof *d);
    const char *rtag = sip_tag_of(sub->from);
    if (!sub->call_id || !sub->call_id->number || !rtag || !sub->cseq || !sub->cseq->number ||
        osip_list_size(&sub->contacts) != 1)
        return 400;
    int err = 0;
    char *cid = NULL;
    if (osip_call_id_to_str(sub->call_id, &cid) != 0)
        return 400;
    d->call_id = strdup(cid);
    osip_free(cid);
    d->local_tag = strdup(local_tag);
    d->remote_tag = strdup(rtag);
    d->local_uri = uri_str(sub->to ? sub->to->url : NULL);
    d->remote_uri = uri_str(sub->from->url);
    d->remote_target = sip_contact_uri(sub);
    d->route_set = route_set_of(sub, &err);
    d->event_id = event_id_of(sub);
    d->remote_cseq = (uint32_t)strtoul(sub->cseq->number, NULL, 10);
    d->local_cseq = 0;
    d->flow = *src;
    d->is_datagram = bottom_via_is_udp(sub);
    if (err || !d->call_id || !d->local_tag || !d->remote_tag || !d->local_uri || !d->remote_uri ||
        !d->remote_target) {
        int st = err ? err : (!d->call_id || !d->local_tag || !d->remote_tag) ? -ENOMEM : 400;
        sub_dialog_clear(d);
        return st;
    }
    return 0;
}

int sub_dialog_refresh(struct sub_dialog *d, const osip_message_t *sub, const struct sip_source *src)
{
    if (!sub->cseq || !sub->cseq->number)
        return 400;
    uint32_t cseq = (uint32_t)strtoul(sub->cseq->number, NULL, 10);
    if (cseq <= d->remote_cseq)
        return 500; /* RFC 3261 §12.2.2: lower CSeq within the dialog */
    d->remote_cseq = cseq;
    if (osip_list_size(&sub->contacts) > 0) {
        char *t = sip_contact_uri(sub);
        if (!t)
            return 400;
        free(d->remote_target);
        d->remote_target = t;
    }
    d->is_datagram = bottom_via_is_udp(sub);
    if (!d->route_set)
        d->flow = *src;
    return 0;
}

void sub_dialog_clear(struct sub_dialog *d)
{
    free(d->call_id);
    free(d->local_tag);
    free(d->remote_tag);
    free(d->local_uri);
    free(d->remote_uri);
    free(d->remote_target);
    free(d->route_set);
    free(d->event_id);
    memset(d, 0, sizeof *d);
}

int sub_dialog_key_of_request(const osip_message_t *req, char *buf, size_t n)
{
    const char *ttag = sip_tag_of(req->to), *ftag = sip_tag_of(req->from);
    if (!ttag || !ftag || !req->call_id || !req->call_id->number)
        return -1;
    int k;
    if (req->call_id->host)
        k = snprintf(buf, n, "%s@%s\n%s\n%s", req->call_id->number, req->call_id->host, ttag, ftag);
    else
        k = snprintf(buf, n, "%s\n%s\n%s", req->call_id->number, ttag, ftag);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

int sub_dialog_key(const struct sub_dialog *d, char *buf, size_t n)
{
    int k = snprintf(buf, n, "%s\n%s\n%s", d->call_id, d->local_tag, d->remote_tag);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

/* The first Route value of a route set "<a>, <b>" into buf. */
static int first_route(const char *set, char *buf, size_t n)
{
    const char *lt = strchr(set, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (!gt || (size_t)(gt - lt + 1) >= n)
        return -1;
    memcpy(buf, lt, (size_t)(gt - lt + 1));
    buf[gt - lt + 1] = '\0';
    return 0;
}

int sub_dialog_flow_alive(struct transport *tp, const struct sub_dialog *d)
{
    if (d->route_set || d->flow.proto == SIP_PROTO_UDP)
        return 1;
    return d->flow.conn_id && transport_conn_alive(tp, d->flow.conn_id);
}

/* Where a dialog's requests go (§9.1 of the im spec). */
static int dialog_dest(struct transport *tp, const struct sub_dialog *d, struct sip_source *dst)
{
    if (d->route_set) {
        char r[1024];
        if (first_route(d->route_set, r, sizeof r) < 0 || uac_uri_dest(r, dst) < 0)
            return -EINVAL;
        return 0;
    }
    if (!sub_dialog_flow_alive(tp, d))
        return -ENOTCONN;
    *dst = d->flow;
    return 0;
}

static int render_notify_to(struct transport *tp, struct sub_dialog *d, const struct notify_params *np,
                            const struct sip_source *dst, struct sbuf *out, char *branch,
                            size_t branch_len)
{
    sbuf_reset(out);
    txn_new_branch(branch, branch_len);
    char from[1100], to[1100];
    snprintf(from, sizeof from, "<%s>", d->local_uri);
    snprintf(to, sizeof to, "<%s>", d->remote_uri);
    uac_render_head(out, tp, "NOTIFY", d->remote_target, dst, branch, d->route_set, from,
                    d->local_tag, to, d->remote_tag, d->call_id, ++d->local_cseq);
    if (d->event_id)
        sbuf_printf(out, "Event: %s;id=%s\r\n", np->event, d->event_id);
    else
        sbuf_printf(out, "Event: %s\r\n", np->event);
    sbuf_printf(out, "Subscription-State: %s\r\n", np->sub_state);
    uac_render_tail(out, np->extra_headers, np->content_type, np->body, np->body_len);
    return out->failed ? -ENOMEM : 0;
}

int sub_dialog_render_notify(struct transport *tp, struct sub_dialog *d,
                             const struct notify_params *np, struct sbuf *out, char *branch,
                             size_t branch_len)
{
    struct sip_source dst;
    if (dialog_dest(tp, d, &dst) < 0)
        dst = d->flow;
    return render_notify_to(tp, d, np, &dst, out, branch, branch_len);
}

struct sip_txn *sub_dialog_notify(struct txn_layer *tl, struct transport *tp, struct sub_dialog *d,
                                  const struct notify_params *np, txn_client_cb cb, void *arg,
                                  int *err)
{
    struct sip_source dst;
    int rc = dialog_dest(tp, d, &dst);
    if (rc < 0) {
        *err = rc;
        return NULL;
    }
    struct sbuf out;
    char branch[48];
    sbuf_init(&out);
    if (render_notify_to(tp, d, np, &dst, &out, branch, sizeof branch) < 0) {
        sbuf_free(&out);
        *err = -ENOMEM;
        return NULL;
    }
    struct sip_txn *ct = txn_client_new_bytes(tl, "NOTIFY", branch, out.p, out.len, &dst, cb, arg);
    sbuf_free(&out);
    if (!ct)
        *err = -ENOMEM;
    return ct;
}

