/* txn.c - transaction layer (RFC 3261 §17 + RFC 6026); see txn.h.
 *
 * Every transaction has two timer slots: `retx` for retransmissions (A, E, G; UDP only) and
 * `life` for the timeout or the linger time of its current state (B, F, H, D, K, I, J, L, M).
 * Transactions are freed only from timers (or layer destruction), never from inside a call a
 * user made, so a user callback may do anything except free the layer.
 *
 * No reference count (base/ref.h) here: a transaction's life is its RFC 3261 state machine --
 * the timers decide when it ends, not who still points at it, and no user may extend it. Users
 * hold it weakly instead: txn_client_detach() cuts the callback, and txn_set_owner()'s gone
 * callback tells the one owner when it is freed. */
#include "txn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/hmap.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../base/sbuf.h"
#include "../base/metrics.h"
#include "msg.h"
#include "rewrite.h"
#include "stats.h"
#include "txn_key.h"

enum txn_kind { K_SERVER_NI, K_SERVER_INV, K_CLIENT_NI, K_CLIENT_INV };

enum txn_state {
    ST_TRYING,     /* server NI: no response yet; client NI: request sent */
    ST_CALLING,    /* client INVITE: request sent, nothing back */
    ST_PROCEEDING, /* a provisional response sent / received */
    ST_ACCEPTED,   /* INVITE 2xx (RFC 6026) */
    ST_COMPLETED,  /* final response sent / received */
    ST_CONFIRMED,  /* server INVITE: ACK received */
    ST_TERMINATED, /* waiting to be freed (a zero-delay timer) */
};

struct sip_txn {
    struct txn_layer *tl;
    enum txn_kind kind;
    enum txn_state state;
    char *key;
    size_t key_len;
    osip_message_t *req;    /* server: request received; client: request sent */
    struct sip_source src;  /* server: where the request came from */
    struct sip_source dest; /* server: where responses go; client: where the request goes */
    char *out;              /* server: last response; client: the request (retransmissions) */
    size_t out_len;
    char *raw;              /* server: the request as received, when kept */
    size_t raw_len;
    char *identity;         /* server: who the request authenticated as (txn_set_identity) */
    struct hmap_entry *origin; /* server, answered here: its entry in by_origin (§8.2.2.2) */
    char *ack;              /* client INVITE: the ACK for a non-2xx final */
    size_t ack_len;
    char to_tag[20];
    int pending;            /* counted in the layer's load */
    unsigned method_slot;   /* server: the request's method, for sipd_responses_sent_total */
    int final_code;
    int got_provisional;
    uint64_t retx_ms;       /* current retransmission interval */
    struct timer retx;
    struct timer life;
    txn_client_cb ccb;
    void *carg;
    txn_gone_cb gone;
    void *gone_arg;
};

struct txn_layer {
    struct loop *loop;
    struct transport *tp;
    struct txn_config cfg;
    struct hmap by_key;
    struct hmap by_origin; /* From tag, Call-ID, CSeq -> server transaction we answer as UAS */
    size_t pending;
    struct metric *in_progress; /* sipd_transactions_in_progress (computed from pending) */
};

static void collect_in_progress(void *arg)
{
    struct txn_layer *tl = arg;
    metric_gauge_add(tl->in_progress, (double)tl->pending);
}

static int is_client(const struct sip_txn *t) { return t->kind == K_CLIENT_NI || t->kind == K_CLIENT_INV; }
static int is_udp(const struct sip_txn *t)
{
    return (is_client(t) ? t->dest.proto : t->src.proto) == SIP_PROTO_UDP;
}

static void transport_failed(void *arg, const struct sockaddr_storage *peer);

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
    hmap_init(&tl->by_origin);
    transport_set_error_cb(tp, transport_failed, tl);
    struct metric_family *f =
        metrics_family(metrics_default(), "sipd_transactions_in_progress",
                       "SIP transactions (server and client) without a final response yet: the "
                       "node's load, work_num.", METRIC_GAUGE, NULL, NULL, 0);
    metric_family_set_computed(f);
    tl->in_progress = metric_series(f, NULL);
    metrics_collector_add(metrics_default(), collect_in_progress, tl);
    return tl;
}

const struct txn_config *txn_layer_config(const struct txn_layer *tl) { return &tl->cfg; }

static void clear_pending(struct sip_txn *t)
{
    if (t->pending) {
        t->pending = 0;
        t->tl->pending--;
    }
}

static void txn_free(struct sip_txn *t)
{
    struct txn_layer *tl = t->tl;
    loop_timer_stop(tl->loop, &t->retx);
    loop_timer_stop(tl->loop, &t->life);
    clear_pending(t);
    if (t->gone)
        t->gone(t->gone_arg, t);
    hmap_del(&tl->by_key, t->key, t->key_len);
    if (t->origin)
        hmap_del(&tl->by_origin, t->origin->key, t->origin->klen);
    if (t->req)
        osip_message_free(t->req);
    free(t->out);
    free(t->ack);
    free(t->raw);
    free(t->identity);
    free(t->key);
    free(t);
}

void txn_layer_destroy(struct txn_layer *tl)
{
    if (!tl)
        return;
    transport_set_error_cb(tl->tp, NULL, NULL);
    metrics_collector_remove(metrics_default(), collect_in_progress, tl);
    size_t b;
    struct hmap_entry *e = hmap_first(&tl->by_key, &b);
    while (e) {
        struct hmap_entry *next = hmap_next(&tl->by_key, e, &b);
        txn_free(e->val);
        e = next;
    }
    hmap_free(&tl->by_key);
    hmap_free(&tl->by_origin);
    free(tl);
}

size_t txn_layer_count(const struct txn_layer *tl) { return tl->by_key.count; }
size_t txn_layer_pending(const struct txn_layer *tl) { return tl->pending; }

static void life_fired(struct timer *tm, void *arg);

/* Move to `st` and arm the life timer for delay_ms (0 = free at the next loop turn). */
static void enter(struct sip_txn *t, enum txn_state st, uint64_t delay_ms)
{
    t->state = st;
    loop_timer_start(t->tl->loop, &t->life, delay_ms, life_fired, t);
}

int txn_server_key(const osip_message_t *req, char *buf, size_t n)
{
    if (!req->sip_method)
        return -1;
    const char *method = strcmp(req->sip_method, "ACK") == 0 ? "INVITE" : req->sip_method;
    return txn_key_server(req, method, buf, n) < 0 ? -1 : 0;
}

static struct sip_txn *txn_alloc(struct txn_layer *tl, enum txn_kind kind, const char *key)
{
    size_t klen = strlen(key);
    struct sip_txn *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->key = malloc(klen + 1);
    if (!t->key || hmap_put(&tl->by_key, key, klen, t, NULL) != 0) {
        free(t->key);
        free(t);
        return NULL;
    }
    memcpy(t->key, key, klen + 1);
    t->key_len = klen;
    t->tl = tl;
    t->kind = kind;
    t->pending = 1;
    tl->pending++;
    return t;
}

osip_message_t *txn_request(const struct sip_txn *t) { return t->req; }
const struct sip_source *txn_source(const struct sip_txn *t) { return &t->src; }
const char *txn_local_tag(const struct sip_txn *t) { return t->to_tag; }
int txn_final_code(const struct sip_txn *t) { return t->final_code; }
int txn_is_invite(const struct sip_txn *t) { return t->kind == K_SERVER_INV || t->kind == K_CLIENT_INV; }

void txn_set_owner(struct sip_txn *t, txn_gone_cb cb, void *arg)
{
    t->gone = cb;
    t->gone_arg = arg;
}

void *txn_owner(const struct sip_txn *t) { return t->gone ? t->gone_arg : NULL; }

static void send_out(struct sip_txn *t)
{
    if (t->out)
        transport_send(t->tl->tp, &t->dest, t->out, t->out_len);
}

/* ---- timers --------------------------------------------------------------------------------- */

static const char *cur_raw;  /* the bytes of the response being reported (loop thread only) */
static size_t cur_raw_len;

static void report(struct sip_txn *t, enum txn_event ev, osip_message_t *resp, int code)
{
    if (t->ccb)
        t->ccb(t->carg, t, ev, resp, resp ? cur_raw : NULL, resp ? cur_raw_len : 0, code);
}

int txn_keep_raw(struct sip_txn *t, const char *buf, size_t len)
{
    char *c = malloc(len + 1);
    if (!c)
        return -ENOMEM;
    memcpy(c, buf, len);
    c[len] = '\0';
    free(t->raw);
    t->raw = c;
    t->raw_len = len;
    return 0;
}

int txn_set_identity(struct sip_txn *t, const char *aor)
{
    char *c = strdup(aor);
    if (!c)
        return -ENOMEM;
    free(t->identity);
    t->identity = c;
    return 0;
}

const char *txn_identity(const struct sip_txn *t) { return t->identity; }

const char *txn_raw(const struct sip_txn *t, size_t *len)
{
    *len = t->raw_len;
    return t->raw;
}

static void retx_fired(struct timer *tm, void *arg)
{
    struct sip_txn *t = arg;
    struct txn_layer *tl = t->tl;
    switch (t->kind) {
    case K_CLIENT_INV: /* Timer A: double each time */
        if (t->state != ST_CALLING)
            return;
        send_out(t);
        t->retx_ms *= 2;
        break;
    case K_CLIENT_NI: /* Timer E: double up to T2; T2 once a provisional came */
        if (t->state != ST_TRYING && t->state != ST_PROCEEDING)
            return;
        send_out(t);
        t->retx_ms = t->state == ST_PROCEEDING ? tl->cfg.t2_ms
                     : (t->retx_ms * 2 < tl->cfg.t2_ms ? t->retx_ms * 2 : tl->cfg.t2_ms);
        break;
    case K_SERVER_INV: /* Timer G: re-send the final response, double up to T2 */
        if (t->state != ST_COMPLETED)
            return;
        send_out(t);
        t->retx_ms = t->retx_ms * 2 < tl->cfg.t2_ms ? t->retx_ms * 2 : tl->cfg.t2_ms;
        break;
    default:
        return;
    }
    loop_timer_start(tl->loop, &t->retx, t->retx_ms, retx_fired, t);
}

static void life_fired(struct timer *tm, void *arg)
{
    struct sip_txn *t = arg;
    switch (t->state) {
    case ST_CALLING:    /* Timer B */
    case ST_TRYING:     /* Timer F (client) */
    case ST_PROCEEDING: /* Timer F in Proceeding (client non-INVITE) */
        if (is_client(t)) {
            LOG_DEBUG("client transaction timeout key=%s", t->key);
            loop_timer_stop(t->tl->loop, &t->retx);
            clear_pending(t);
            t->state = ST_TERMINATED;
            report(t, TXN_TIMEOUT, NULL, 408);
        }
        txn_free(t);
        return;
    case ST_COMPLETED:
        if (t->kind == K_SERVER_INV)
            LOG_DEBUG("no ACK for the final response (Timer H) key=%s", t->key);
        txn_free(t);
        return;
    default: /* Timers D, I, J, K, L, M and Terminated */
        txn_free(t);
        return;
    }
}

/* ---- server --------------------------------------------------------------------------------- */

struct sip_txn *txn_server_new(struct txn_layer *tl, osip_message_t *req,
                               const struct sip_source *src, int *absorbed)
{
    char key[1024];
    *absorbed = 0;
    if (txn_server_key(req, key, sizeof key) < 0)
        snprintf(key, sizeof key, "nokey|%p", (void *)req); /* its own transaction */
    struct sip_txn *t = hmap_get(&tl->by_key, key, strlen(key));
    if (t) {
        *absorbed = 1;
        /* a retransmission: re-send the last response, except in Accepted/Confirmed (§17.2.1,
         * RFC 6026 §7.1: the INVITE is absorbed there) */
        if (t->state == ST_PROCEEDING || t->state == ST_COMPLETED)
            send_out(t);
        LOG_DEBUG("retransmission absorbed key=%s", key);
        return NULL;
    }
    int is_inv = strcmp(req->sip_method, "INVITE") == 0;
    t = txn_alloc(tl, is_inv ? K_SERVER_INV : K_SERVER_NI, key);
    if (!t)
        return NULL;
    t->state = is_inv ? ST_PROCEEDING : ST_TRYING;
    t->method_slot = sip_stats_method_slot(req->sip_method);
    t->req = req;
    t->src = *src;
    if (sip_response_dest(req, src, &t->dest) < 0)
        t->dest = *src;
    sip_random_token(t->to_tag, sizeof t->to_tag);
    return t;
}

/* §8.2.2.2 keys only the requests this node answers itself (the roles call it through
 * uas.c): a proxied request pays nothing, and a spiral -- the same request back through us with
 * a new branch, forwarded again -- is never taken for a merged one. One hmap entry per such
 * transaction (the key's copy is the only allocation), removed when the transaction is freed:
 * the index is bounded by the live transactions, and lookup and insert are O(1). */
int txn_server_is_merged(struct sip_txn *t)
{
    if (is_client(t) || t->origin || !t->req)
        return 0;
    char key[1024];
    int w = txn_key_origin(t->req, key, sizeof key);
    if (w < 0) /* outside the rule (in a dialog, an RFC 2543 client), or too long to remember */
        return 0;
    struct hmap_entry *e = hmap_find(&t->tl->by_origin, key, (size_t)w);
    if (e)
        return e->val != t;
    if (hmap_put(&t->tl->by_origin, key, (size_t)w, t, NULL) == 0)
        t->origin = hmap_find(&t->tl->by_origin, key, (size_t)w);
    return 0; /* (out of memory: not remembered, answered as usual) */
}

int txn_server_ack(struct txn_layer *tl, const osip_message_t *ack)
{
    char key[1024];
    if (txn_key_server(ack, "INVITE", key, sizeof key) < 0)
        return 0;
    struct sip_txn *t = hmap_get(&tl->by_key, key, strlen(key));
    if (!t || t->kind != K_SERVER_INV)
        return 0;
    if (t->state == ST_COMPLETED) {
        /* Confirmed: stop re-sending the final response; Timer I absorbs further ACKs */
        loop_timer_stop(tl->loop, &t->retx);
        enter(t, ST_CONFIRMED, is_udp(t) ? tl->cfg.t4_ms : 0);
        return 1;
    }
    return t->state == ST_CONFIRMED;
}

struct sip_txn *txn_server_find_invite(struct txn_layer *tl, const osip_message_t *cancel)
{
    char key[1024];
    if (txn_key_server(cancel, "INVITE", key, sizeof key) < 0)
        return NULL;
    struct sip_txn *t = hmap_get(&tl->by_key, key, strlen(key));
    return t && t->kind == K_SERVER_INV ? t : NULL;
}

/* Send buf (ownership taken, may be NULL after an allocation failure) as the response `code`. */
static int server_send(struct sip_txn *t, int code, char *buf, size_t len)
{
    struct txn_layer *tl = t->tl;
    if (is_client(t) || t->state == ST_TERMINATED || t->state == ST_CONFIRMED ||
        (t->state == ST_COMPLETED) || (t->state == ST_ACCEPTED && (code < 200 || code >= 300))) {
        free(buf);
        return -EALREADY;
    }
    if (buf)
        sip_stats_response_sent(t->method_slot, code);
    if (t->state == ST_ACCEPTED) {
        /* another 2xx (a second fork answered, or a retransmission): pass it on */
        int rc = buf ? transport_send(tl->tp, &t->dest, buf, len) : -ENOMEM;
        free(buf);
        return rc;
    }
    free(t->out);
    t->out = buf;
    t->out_len = len;
    int rc = buf ? transport_send(tl->tp, &t->dest, buf, len) : -ENOMEM;
    if (code < 200) {
        t->state = ST_PROCEEDING;
        return rc;
    }
    t->final_code = code;
    clear_pending(t);
    if (t->kind == K_SERVER_NI) {
        /* Completed: only the key and the response bytes are needed from now on. Timer J is
         * 64*T1 on UDP; RFC 3261 allows 0 on TCP, we keep T4 so that a request re-sent over a
         * new connection (after the old one broke) is still recognised as a duplicate. */
        osip_message_free(t->req);
        t->req = NULL;
        free(t->raw);
        t->raw = NULL;
        t->raw_len = 0;
        enter(t, ST_COMPLETED, is_udp(t) ? 64u * tl->cfg.t1_ms : tl->cfg.t4_ms);
    } else if (code < 300) {
        enter(t, ST_ACCEPTED, 64u * tl->cfg.t1_ms); /* Timer L */
    } else {
        enter(t, ST_COMPLETED, 64u * tl->cfg.t1_ms); /* Timer H */
        if (is_udp(t)) {
            t->retx_ms = tl->cfg.t1_ms; /* Timer G */
            loop_timer_start(tl->loop, &t->retx, t->retx_ms, retx_fired, t);
        }
    }
    return rc;
}

int txn_respond(struct sip_txn *t, osip_message_t *resp)
{
    int code = resp->status_code;
    char *buf = NULL;
    size_t len = 0;
    int rc = sip_serialize(resp, &buf, &len);
    osip_message_free(resp);
    char *copy = rc == 0 ? malloc(len) : NULL;
    if (copy)
        memcpy(copy, buf, len);
    osip_free(buf);
    return server_send(t, code, copy, len);
}

int txn_respond_bytes(struct sip_txn *t, int code, const char *buf, size_t len)
{
    char *copy = malloc(len);
    if (copy)
        memcpy(copy, buf, len);
    return server_send(t, code, copy, len);
}

/* The response built from the request's bytes when they were kept (txn_keep_raw): the headers it
 * copies are copied, and only the top Via -- which now carries received and rport -- is rendered
 * from the parsed request. Cheaper than rendering every header (sip_response_text), which stays
 * for the requests whose bytes were not kept or that rewrite.c cannot delimit. 0 or -1. */
static int response_from_raw(const struct sip_txn *t, int code, const char *reason,
                             const char *extra_headers, struct sbuf *out)
{
    osip_via_t *v = osip_list_get(&t->req->vias, 0);
    char *top = NULL;
    if (!t->raw || !t->req->to || !v || osip_via_to_str(v, &top) != 0 || !top)
        return -1;
    struct resp_edit e = {
        .code = code,
        .reason = reason ? reason : sip_reason_phrase(code),
        .top_via_value = top,
        .to_tag = code > 100 && !sip_tag_of(t->req->to) ? t->to_tag : NULL,
        .with_record_route = code > 100 && code < 300,
        .extra_headers = extra_headers,
    };
    int rc = sip_rewrite_response(t->raw, t->raw_len, &e, out);
    osip_free(top);
    return rc;
}

int txn_respond_text(struct sip_txn *t, int code, const char *reason, const char *extra_headers)
{
    if (!t->req)
        return -EALREADY;
    struct sbuf b;
    sbuf_init(&b);
    if (response_from_raw(t, code, reason, extra_headers, &b) < 0) {
        sbuf_reset(&b);
        if (sip_response_text(t->req, code, reason, t->to_tag, extra_headers, &b) < 0) {
            sbuf_free(&b);
            return server_send(t, code, NULL, 0);
        }
    }
    size_t len;
    char *buf = sbuf_steal(&b, &len);
    return server_send(t, code, buf, len);
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

/* ---- client --------------------------------------------------------------------------------- */

void txn_new_branch(char *buf, size_t n)
{
    char rnd[24];
    sip_random_token(rnd, sizeof rnd);
    snprintf(buf, n, "z9hG4bK%s", rnd);
}

static void transport_error_fired(struct timer *tm, void *arg)
{
    struct sip_txn *t = arg;
    t->state = ST_TERMINATED;
    clear_pending(t);
    report(t, TXN_TRANSPORT_ERROR, NULL, 503);
    txn_free(t);
}

/* Start a client transaction on bytes already owned (copy). req may be NULL (parsed lazily). */
static struct sip_txn *client_start(struct txn_layer *tl, int is_inv, const char *key, osip_message_t *req,
                                    char *copy, size_t len, const struct sip_source *dst,
                                    txn_client_cb cb, void *arg)
{
    struct sip_txn *t = txn_alloc(tl, is_inv ? K_CLIENT_INV : K_CLIENT_NI, key);
    if (!t) {
        if (req)
            osip_message_free(req);
        free(copy);
        return NULL;
    }
    t->req = req;
    t->out = copy;
    t->out_len = len;
    t->dest = *dst;
    t->ccb = cb;
    t->carg = arg;
    t->state = is_inv ? ST_CALLING : ST_TRYING;
    if (transport_send(tl->tp, &t->dest, t->out, t->out_len) < 0) {
        t->state = ST_TERMINATED;
        loop_timer_start(tl->loop, &t->life, 0, transport_error_fired, t);
        return t;
    }
    loop_timer_start(tl->loop, &t->life, 64u * tl->cfg.t1_ms, life_fired, t); /* Timer B / F */
    if (is_udp(t)) {
        t->retx_ms = tl->cfg.t1_ms; /* Timer A / E */
        loop_timer_start(tl->loop, &t->retx, t->retx_ms, retx_fired, t);
    } else if (!is_inv) {
        /* a non-INVITE over a stream is never sent again and derives no ACK/CANCEL: its bytes
         * (e.g. a NOTIFY with a 1 MiB body, one per subscriber) need not wait for the answer */
        free(t->out);
        t->out = NULL;
        t->out_len = 0;
    }
    return t;
}

struct sip_txn *txn_client_new(struct txn_layer *tl, osip_message_t *req, const struct sip_source *dst,
                               txn_client_cb cb, void *arg)
{
    char key[512];
    int is_inv = req->sip_method && strcmp(req->sip_method, "INVITE") == 0;
    const char *method = req->cseq ? req->cseq->method : NULL;
    if (txn_key_client(txn_key_top_branch(req), method, key, sizeof key) < 0 ||
        hmap_get(&tl->by_key, key, strlen(key))) {
        LOG_WARN("client transaction refused: missing or duplicate branch");
        osip_message_free(req);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    if (sip_serialize(req, &buf, &len) != 0) {
        osip_message_free(req);
        return NULL;
    }
    char *copy = malloc(len);
    if (copy)
        memcpy(copy, buf, len);
    osip_free(buf);
    if (!copy) {
        osip_message_free(req);
        return NULL;
    }
    return client_start(tl, is_inv, key, req, copy, len, dst, cb, arg);
}

struct sip_txn *txn_client_new_bytes(struct txn_layer *tl, const char *method, const char *branch,
                                     const char *buf, size_t len, const struct sip_source *dst,
                                     txn_client_cb cb, void *arg)
{
    char key[512];
    if (txn_key_client(branch, method, key, sizeof key) < 0 || hmap_get(&tl->by_key, key, strlen(key))) {
        LOG_WARN("client transaction refused: missing or duplicate branch");
        return NULL;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, buf, len);
    copy[len] = '\0';
    return client_start(tl, strcmp(method, "INVITE") == 0, key, NULL, copy, len, dst, cb, arg);
}

/* The parsed request of a client transaction, parsing the bytes sent when needed. */
static osip_message_t *client_req(struct sip_txn *t)
{
    if (!t->req && t->out)
        t->req = sip_parse(t->out, t->out_len);
    return t->req;
}

void txn_client_detach(struct sip_txn *ct)
{
    ct->ccb = NULL;
    ct->carg = NULL;
}

int txn_client_has_provisional(const struct sip_txn *ct) { return ct->got_provisional; }
const struct sip_source *txn_client_dest(const struct sip_txn *ct) { return &ct->dest; }

/* A request derived from the client transaction's INVITE (ACK or CANCEL, §17.1.1.3 / §9.1):
 * same Request-URI, Call-ID, From, CSeq number, top Via and Route; To from `to` (the
 * response's, for ACK) or the INVITE's. */
static osip_message_t *derive(const osip_message_t *inv, const char *method, const osip_to_t *to)
{
    osip_message_t *m;
    if (osip_message_init(&m) != 0)
        return NULL;
    osip_message_set_method(m, osip_strdup(method));
    osip_message_set_version(m, osip_strdup("SIP/2.0"));
    osip_via_t *v = osip_list_get(&inv->vias, 0), *vc = NULL;
    if (osip_uri_clone(inv->req_uri, &m->req_uri) != 0 || !v || osip_via_clone(v, &vc) != 0)
        goto fail;
    osip_list_add(&m->vias, vc, -1);
    if (osip_from_clone(inv->from, &m->from) != 0 ||
        osip_to_clone(to ? to : inv->to, &m->to) != 0 ||
        osip_call_id_clone(inv->call_id, &m->call_id) != 0 ||
        osip_list_clone(&inv->routes, &m->routes, (int (*)(void *, void **))osip_route_clone) != 0)
        goto fail;
    if (osip_cseq_init(&m->cseq) != 0)
        goto fail;
    osip_cseq_set_number(m->cseq, osip_strdup(inv->cseq->number));
    osip_cseq_set_method(m->cseq, osip_strdup(method));
    osip_message_set_header(m, "Max-Forwards", "70");
    return m;
fail:
    osip_message_free(m);
    return NULL;
}

osip_message_t *txn_client_build_cancel(const struct sip_txn *ct)
{
    if (ct->kind != K_CLIENT_INV)
        return NULL;
    osip_message_t *req = client_req((struct sip_txn *)ct);
    return req ? derive(req, "CANCEL", NULL) : NULL;
}

static void send_ack(struct sip_txn *t, const osip_message_t *resp)
{
    if (!t->ack && client_req(t)) {
        osip_message_t *ack = derive(t->req, "ACK", resp->to);
        char *buf = NULL;
        size_t len = 0;
        if (ack && sip_serialize(ack, &buf, &len) == 0 && (t->ack = malloc(len)) != NULL) {
            memcpy(t->ack, buf, len);
            t->ack_len = len;
        }
        osip_free(buf);
        if (ack)
            osip_message_free(ack);
    }
    if (t->ack)
        transport_send(t->tl->tp, &t->dest, t->ack, t->ack_len);
}

int txn_client_response(struct txn_layer *tl, osip_message_t *resp, const char *raw, size_t raw_len,
                        const struct sip_source *src)
{
    cur_raw = raw;
    cur_raw_len = raw_len;
    char key[512];
    if (!resp->cseq || txn_key_client(txn_key_top_branch(resp), resp->cseq->method, key, sizeof key) < 0)
        return 0;
    struct sip_txn *t = hmap_get(&tl->by_key, key, strlen(key));
    if (!t || !is_client(t))
        return 0;
    int code = resp->status_code;
    switch (t->state) {
    case ST_CALLING:
    case ST_TRYING:
    case ST_PROCEEDING:
        if (code < 200) {
            t->got_provisional = 1;
            if (t->kind == K_CLIENT_INV) {
                loop_timer_stop(tl->loop, &t->retx); /* Timer A stops; B only in Calling */
                loop_timer_stop(tl->loop, &t->life);
            } else if (t->state == ST_TRYING && is_udp(t)) {
                t->retx_ms = tl->cfg.t2_ms;
            }
            t->state = ST_PROCEEDING;
            report(t, TXN_RESPONSE, resp, code);
            return 1;
        }
        loop_timer_stop(tl->loop, &t->retx);
        t->final_code = code;
        clear_pending(t);
        if (t->kind == K_CLIENT_INV && code < 300) {
            enter(t, ST_ACCEPTED, 64u * tl->cfg.t1_ms); /* Timer M */
        } else if (t->kind == K_CLIENT_INV) {
            send_ack(t, resp);
            enter(t, ST_COMPLETED, is_udp(t) ? (64u * tl->cfg.t1_ms > 32000 ? 64u * tl->cfg.t1_ms : 32000) : 0);
        } else {
            enter(t, ST_COMPLETED, is_udp(t) ? tl->cfg.t4_ms : 0); /* Timer K */
        }
        report(t, TXN_RESPONSE, resp, code);
        return 1;
    case ST_ACCEPTED:
        if (code < 200 || code >= 300)
            return 1;
        if (!t->ccb)
            return 0; /* nobody listens any more: forwarded as a stray */
        report(t, TXN_RESPONSE, resp, code); /* 2xx retransmission or another fork's 2xx */
        return 1;
    case ST_COMPLETED:
        if (t->kind == K_CLIENT_INV && code >= 300)
            send_ack(t, resp); /* the final was retransmitted: our ACK was lost */
        return 1;
    default:
        return 1;
    }
}

/* A TCP connection failed: client transactions still waiting for any answer through it fail
 * now (reported from the loop, not from inside the transport). */
static void transport_failed(void *arg, const struct sockaddr_storage *peer)
{
    struct txn_layer *tl = arg;
    size_t b;
    for (struct hmap_entry *e = hmap_first(&tl->by_key, &b); e; e = hmap_next(&tl->by_key, e, &b)) {
        struct sip_txn *t = e->val;
        if (!is_client(t) || !sip_proto_is_stream(t->dest.proto) || !sockaddr_equal(&t->dest.peer, peer))
            continue;
        if (t->state != ST_CALLING && t->state != ST_TRYING)
            continue;
        loop_timer_stop(tl->loop, &t->retx);
        t->state = ST_TERMINATED;
        loop_timer_start(tl->loop, &t->life, 0, transport_error_fired, t);
    }
}
