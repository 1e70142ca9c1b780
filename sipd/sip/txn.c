/* txn.c - transaction layer; see txn.h. */
#include "txn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/hmap.h"
#include "../base/log.h"
#include "../base/sbuf.h"
#include "../base/loop.h"
#include "msg.h"

enum txn_state { TXN_TRYING, TXN_PROCEEDING, TXN_COMPLETED };

struct sip_txn {
    struct txn_layer *tl;
    enum txn_state state;
    char *key;
    size_t key_len;
    osip_message_t *req;
    struct sip_source src;  /* where the request came from */
    struct sip_source dest; /* where responses go */
    char *last_resp;        /* serialised last response, malloc'd */
    size_t last_resp_len;
    char to_tag[20];
    struct timer timer_j;
};

struct txn_layer {
    struct loop *loop;
    struct transport *tp;
    struct txn_config cfg;
    struct hmap by_key;
    size_t pending;
};

struct txn_layer *txn_layer_create(struct loop *loop, struct transport *tp, const struct txn_config *cfg)
{
    struct txn_layer *tl = calloc(1, sizeof *tl);
    if (!tl)
        return NULL;
    tl->loop = loop;
    tl->tp = tp;
    tl->cfg = *cfg;
    if (!tl->cfg.t1_ms)
        tl->cfg.t1_ms = 500;
    if (!tl->cfg.t2_ms)
        tl->cfg.t2_ms = 4000;
    if (!tl->cfg.t4_ms)
        tl->cfg.t4_ms = 5000;
    hmap_init(&tl->by_key);
    return tl;
}

static void txn_free(struct sip_txn *t)
{
    struct txn_layer *tl = t->tl;
    loop_timer_stop(tl->loop, &t->timer_j);
    if (t->state != TXN_COMPLETED)
        tl->pending--;
    hmap_del(&tl->by_key, t->key, t->key_len);
    osip_message_free(t->req);
    free(t->last_resp);
    free(t->key);
    free(t);
}

void txn_layer_destroy(struct txn_layer *tl)
{
    if (!tl)
        return;
    size_t b;
    struct hmap_entry *e = hmap_first(&tl->by_key, &b);
    while (e) {
        struct hmap_entry *next = hmap_next(&tl->by_key, e, &b);
        txn_free(e->val);
        e = next;
    }
    hmap_free(&tl->by_key);
    free(tl);
}

size_t txn_layer_count(const struct txn_layer *tl) { return tl->by_key.count; }
size_t txn_layer_pending(const struct txn_layer *tl) { return tl->pending; }

static const char *param_value(osip_list_t *params, const char *name)
{
    osip_generic_param_t *p = NULL;
    if (osip_generic_param_get_byname(params, (char *)name, &p) < 0 || !p)
        return NULL;
    return p->gvalue ? p->gvalue : "";
}

int txn_server_key(const osip_message_t *req, char *buf, size_t n)
{
    osip_via_t *v = osip_list_get(&req->vias, 0);
    if (!v || !v->host || !req->cseq || !req->cseq->method || !req->sip_method)
        return -1;
    /* ACK matches the INVITE transaction; CANCEL has its own (§9.2, §17.2.3) */
    const char *method = req->sip_method;
    if (strcmp(method, "ACK") == 0)
        method = "INVITE";
    const char *branch = param_value(&v->via_params, "branch");
    int w;
    if (branch && strncmp(branch, "z9hG4bK", 7) == 0) {
        w = snprintf(buf, n, "%s|%s:%s|%s", branch, v->host, v->port ? v->port : "", method);
    } else {
        /* RFC 2543 fallback (§17.2.3): Request-URI, To tag, From tag, Call-ID, CSeq, top Via */
        char *ruri = NULL;
        if (req->req_uri)
            osip_uri_to_str(req->req_uri, &ruri);
        const char *ttag = req->to ? param_value(&req->to->gen_params, "tag") : NULL;
        const char *ftag = req->from ? param_value(&req->from->gen_params, "tag") : NULL;
        w = snprintf(buf, n, "2543|%s|%s|%s|%s|%s|%s|%s:%s|%s", ruri ? ruri : "",
                     strcmp(req->sip_method, "INVITE") == 0 ? "" : (ttag ? ttag : ""),
                     ftag ? ftag : "", req->call_id && req->call_id->number ? req->call_id->number : "",
                     req->cseq->number ? req->cseq->number : "", method, v->host,
                     v->port ? v->port : "", branch ? branch : "");
        osip_free(ruri);
    }
    return (w < 0 || (size_t)w >= n) ? -1 : 0;
}

struct sip_txn *txn_server_new(struct txn_layer *tl, osip_message_t *req,
                               const struct sip_source *src, int *absorbed)
{
    char key[1024];
    *absorbed = 0;
    if (txn_server_key(req, key, sizeof key) < 0) {
        /* unusable for matching (e.g. enormous branch): treat as its own transaction */
        snprintf(key, sizeof key, "nokey|%p", (void *)req);
    }
    size_t klen = strlen(key);
    struct sip_txn *t = hmap_get(&tl->by_key, key, klen);
    if (t) {
        *absorbed = 1;
        if (t->last_resp) {
            transport_send(tl->tp, &t->dest, t->last_resp, t->last_resp_len);
            LOG_DEBUG("retransmission absorbed, response re-sent key=%s", key);
        } else {
            LOG_DEBUG("retransmission absorbed key=%s", key);
        }
        return NULL;
    }
    t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->key = malloc(klen + 1);
    if (!t->key) {
        free(t);
        return NULL;
    }
    memcpy(t->key, key, klen + 1);
    t->key_len = klen;
    if (hmap_put(&tl->by_key, key, klen, t, NULL) != 0) {
        free(t->key);
        free(t);
        return NULL;
    }
    t->tl = tl;
    t->state = TXN_TRYING;
    t->req = req;
    t->src = *src;
    if (sip_response_dest(req, src, &t->dest) < 0)
        t->dest = *src;
    sip_random_token(t->to_tag, sizeof t->to_tag);
    tl->pending++;
    return t;
}

osip_message_t *txn_request(const struct sip_txn *t) { return t->req; }
const struct sip_source *txn_source(const struct sip_txn *t) { return &t->src; }
const char *txn_local_tag(const struct sip_txn *t) { return t->to_tag; }

static void timer_j_fired(struct timer *tm, void *arg) { txn_free(arg); }

/* Send len bytes as this transaction's response with status code; keeps them for
 * retransmissions (takes ownership of buf, which must come from malloc). */
static int respond_bytes(struct sip_txn *t, int code, char *buf, size_t len)
{
    struct txn_layer *tl = t->tl;
    free(t->last_resp);
    t->last_resp = buf;
    t->last_resp_len = len;
    int rc = buf ? transport_send(tl->tp, &t->dest, buf, len) : -ENOMEM;
    if (code < 200) {
        t->state = TXN_PROCEEDING;
        return rc;
    }
    t->state = TXN_COMPLETED;
    tl->pending--;
    /* Completed: only the key and the response bytes are needed from now on. */
    osip_message_free(t->req);
    t->req = NULL;
    /* Timer J: 64*T1 on UDP. RFC 3261 says 0 on TCP; we keep it T4 so that a request re-sent
     * over a new connection (after the old one broke) is still recognised as a duplicate. */
    uint64_t j = t->src.proto == SIP_PROTO_UDP ? 64u * tl->cfg.t1_ms : tl->cfg.t4_ms;
    if (j == 0 || loop_timer_start(tl->loop, &t->timer_j, j, timer_j_fired, t) != 0)
        txn_free(t);
    return rc;
}

int txn_respond(struct sip_txn *t, osip_message_t *resp)
{
    if (t->state == TXN_COMPLETED) {
        osip_message_free(resp);
        return -EALREADY;
    }
    int code = resp->status_code;
    char *buf = NULL;
    size_t len = 0;
    int rc = sip_serialize(resp, &buf, &len);
    osip_message_free(resp);
    char *copy = rc == 0 ? malloc(len) : NULL;
    if (copy)
        memcpy(copy, buf, len);
    osip_free(buf);
    if (!copy) {
        /* cannot even build it: complete the transaction without an answer */
        respond_bytes(t, code < 200 ? 500 : code, NULL, 0);
        return -ENOMEM;
    }
    return respond_bytes(t, code, copy, len);
}

int txn_respond_text(struct sip_txn *t, int code, const char *reason, const char *extra_headers)
{
    if (t->state == TXN_COMPLETED)
        return -EALREADY;
    struct sbuf b;
    sbuf_init(&b);
    if (sip_response_text(t->req, code, reason, t->to_tag, extra_headers, &b) < 0) {
        sbuf_free(&b);
        if (code >= 200)
            respond_bytes(t, code, NULL, 0);
        return -ENOMEM;
    }
    size_t len;
    char *buf = sbuf_steal(&b, &len);
    return respond_bytes(t, code, buf, len);
}

int txn_respond_simple(struct sip_txn *t, int code, const char *reason, const char *extra_header,
                       const char *extra_value)
{
    if (!extra_header || !extra_value)
        return txn_respond_text(t, code, reason, NULL);
    struct sbuf h;
    sbuf_init(&h);
    sbuf_printf(&h, "%s: %s\r\n", extra_header, extra_value);
    int rc = txn_respond_text(t, code, reason, h.failed ? NULL : h.p);
    sbuf_free(&h);
    return rc;
}
