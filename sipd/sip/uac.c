/* uac.c - requests this node originates outside a dialog (page-mode MESSAGE) and the text
 * rendering of a request's head and tail, shared with subdialog.c's NOTIFYs; see uac.h.
 * Requests are rendered as text: no oSIP message is built on this path. */
#include "uac.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/sbuf.h"
#include "msg.h"

int uac_uri_dest(const char *uri, struct sip_source *dst)
{
    osip_uri_t *u = NULL;
    char tmp[1024];
    size_t len = strlen(uri);
    if (len >= sizeof tmp)
        return -1;
    /* accept "<sip:...>" as found in Route values */
    const char *s = uri;
    if (s[0] == '<') {
        const char *e = strchr(s, '>');
        if (!e)
            return -1;
        len = (size_t)(e - s - 1);
        s++;
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (osip_uri_init(&u) != 0)
        return -1;
    int rc = -1;
    if (osip_uri_parse(u, tmp) == 0 && u->host) {
        memset(dst, 0, sizeof *dst);
        dst->udp_fd = -1;
        dst->proto = SIP_PROTO_UDP;
        osip_uri_param_t *tp = NULL;
        if (osip_uri_uparam_get_byname(u, "transport", &tp) == 0 && tp &&
            sip_proto_from_param(tp->gvalue) > 0)
            dst->proto = (enum sip_proto)sip_proto_from_param(tp->gvalue);
        if (u->scheme && strcasecmp(u->scheme, "sips") == 0) /* RFC 3261 §26.2: TLS */
            dst->proto = SIP_PROTO_TLS;
        int port = u->port ? atoi(u->port) : sip_proto_default_port(dst->proto);
        if (port > 0 && port < 65536 &&
            sockaddr_from_host_port(u->host, strlen(u->host), port, &dst->peer, &dst->peerlen) == 0)
            rc = 0;
    }
    osip_uri_free(u);
    return rc;
}

/* "host:port" of our listener for proto (same address family as `like`). */
static void my_hostport(struct transport *tp, enum sip_proto proto,
                        const struct sockaddr_storage *like, char *buf, size_t n)
{
    const struct sip_endpoint *ep = transport_listener(tp, proto, like);
    if (!ep)
        ep = transport_listener(tp, proto, NULL);
    if (!ep)
        snprintf(buf, n, "127.0.0.1:5060");
    else
        sockaddr_str(&ep->addr, buf, n);
}

void uac_render_head(struct sbuf *out, struct transport *tp, const char *method, const char *ruri,
                     const struct sip_source *dst, const char *branch, const char *route,
                     const char *from, const char *from_tag, const char *to, const char *to_tag,
                     const char *call_id, uint32_t cseq)
{
    char hp[SOCKADDR_STRLEN + 8];
    my_hostport(tp, dst->proto, &dst->peer, hp, sizeof hp);
    sbuf_printf(out, "%s %s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=%s;rport\r\nMax-Forwards: 70\r\n",
                method, ruri, sip_proto_via_name(dst->proto), hp, branch);
    if (route)
        sbuf_printf(out, "Route: %s\r\n", route);
    sbuf_printf(out, "From: %s;tag=%s\r\n", from, from_tag);
    if (to_tag)
        sbuf_printf(out, "To: %s;tag=%s\r\n", to, to_tag);
    else
        sbuf_printf(out, "To: %s\r\n", to);
    sbuf_printf(out, "Call-ID: %s\r\nCSeq: %u %s\r\nContact: <sip:%s%s>\r\n", call_id, cseq, method,
                hp, sip_proto_uri_param(dst->proto));
}

void uac_render_tail(struct sbuf *out, const char *extra, const char *ctype, const char *body,
                     size_t body_len)
{
    if (extra)
        sbuf_puts(out, extra);
    if (ctype) {
        sbuf_printf(out, "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n", ctype, body_len);
        sbuf_append(out, body, body_len);
    } else {
        sbuf_puts(out, "Content-Length: 0\r\n\r\n");
    }
}

struct sip_txn *uac_send(struct txn_layer *tl, struct transport *tp, const struct uac_request *r,
                         const struct sip_source *dst, txn_client_cb cb, void *arg, int *err)
{
    if (sip_proto_is_stream(dst->proto) && dst->conn_id && !transport_conn_alive(tp, dst->conn_id)) {
        *err = -ENOTCONN;
        return NULL;
    }
    char branch[48], tag[20], cid[40];
    txn_new_branch(branch, sizeof branch);
    sip_random_token(tag, sizeof tag);
    sip_random_token(cid, sizeof cid);
    struct sbuf out;
    sbuf_init(&out);
    uac_render_head(&out, tp, r->method, r->request_uri, dst, branch, r->route, r->from, tag, r->to,
                    NULL, cid, 1);
    uac_render_tail(&out, r->extra_headers, r->content_type, r->body, r->body_len);
    struct sip_txn *ct = NULL;
    if (!out.failed)
        ct = txn_client_new_bytes(tl, r->method, branch, out.p, out.len, dst, cb, arg);
    sbuf_free(&out);
    if (!ct)
        *err = -ENOMEM;
    return ct;
}
