/* publish.c - publishing to a topic (§10): MESSAGE outside a dialog or PUBLISH with Event: im.
 *
 * A request is checked against the topic (membership of a group, body, size, Content-Type kept
 * as written), stored with its sender's copy (the store assigns seqs and recognises a duplicate
 * by Call-ID, From tag and CSeq), and answered 200 when someone gets it now (a subscription or a
 * page-mode target found by a location lookup), else 202, with Im-Seq (and SIP-ETag for PUBLISH).
 * Then, unless it was a duplicate, it is fanned out to the topic's subscriptions, the sender's
 * copy to the sender's, and page mode starts for the devices found. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../base/log.h"
#include "../../sip/msg.h"
#include "../../sip/txn.h"
#include "im_internal.h"

/* The device of a request (§2.4) as one string: the instance, else the Contact URI, else NULL. */
static char *request_device(const osip_message_t *m)
{
    char inst[256];
    sip_contact_instance(m, inst, sizeof inst);
    if (inst[0])
        return strdup(inst);
    return sip_contact_uri(m);
}

/* ---- publishing (§10) ------------------------------------------------------------------------ */

struct pub_ctx {
    struct broker *b;
    struct sip_txn *t;
    int is_publish;
    char topic[AOR_MAX];
    char identity[AOR_MAX];
    char *device;
    char *ctype;                  /* owned copies: the request goes when it is answered */
    char *body;
    int is_group;
    int copy;
    int64_t seq, copy_seq;
    int duplicate;
    struct im_message msg;        /* the stored message (strings owned by this context) */
    /* page-mode targets found by lookups */
    struct binding_list targets;
    char **members;
    size_t nmembers, lookups_left;
    int64_t now;
    /* a notice from the control plane (broker_publish_notice): no request, this instead */
    broker_notice_cb notice_done;
    void *notice_arg;
};

static void pub_free(struct pub_ctx *c)
{
    free(c->device);
    free(c->ctype);
    free(c->body);
    binding_list_free(&c->targets);
    for (size_t i = 0; i < c->nmembers; i++)
        free(c->members[i]);
    free(c->members);
    free(c);
}

static void pub_finish(struct pub_ctx *c)
{
    struct broker *b = c->b;
    struct sip_txn *t = c->t;
    /* who gets it now: subscriptions of T that do not skip it, and page-mode targets */
    size_t online = 0;
    struct btopic *bt = im_topic_get(b, c->topic, 0);
    for (struct isub *s = bt ? bt->subs : NULL; s; s = s->tnext)
        if (s->state == SUB_ACTIVE && !s->final_reason &&
            !(c->device && strcmp(c->device, device_of(s->instance, s->contact)) == 0))
            online++;
    size_t ntargets = 0;
    for (size_t i = 0; i < c->targets.len; i++)
        if (!im_device_seen_before(b, c->targets.v, c->targets.len, i) &&
            im_is_pm_target(b, c->topic, c->identity, &c->targets.v[i]))
            ntargets++;
    if (!t) { /* a notice: its caller gets the seq */
        c->notice_done(c->notice_arg, 0, c->seq);
        LOG_DEBUG("im notice topic=%s seq=%" PRId64 " online=%zu page=%zu", c->topic, c->seq,
                  online, ntargets);
        goto fan_out;
    }
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr, "Im-Seq: %" PRId64, c->seq);
    if (c->copy_seq > 0)
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, ";copy=%" PRId64, c->copy_seq);
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "\r\n");
    if (c->is_publish) {
        char etag[24];
        sip_random_token(etag, sizeof etag);
        snprintf(hdr + n, sizeof hdr - (size_t)n, "SIP-ETag: %s\r\nExpires: 0\r\n", etag);
    }
    int code = online + ntargets > 0 ? 200 : 202;
    txn_respond_text(t, code, NULL, hdr);
    LOG_DEBUG("im publish topic=%s seq=%" PRId64 " copy=%" PRId64 " dup=%d code=%d", c->topic,
              c->seq, c->copy_seq, c->duplicate, code);
    if (c->duplicate) {
        pub_free(c);
        return;
    }
fan_out:
    /* fan-out (§10.4): the topic, the sender's copy, page mode */
    c->msg.seq = c->seq;
    im_fan_out(b, c->topic, &c->msg);
    if (c->copy_seq > 0) {
        struct im_message cm = c->msg;
        cm.seq = c->copy_seq;
        cm.is_copy = 1;
        cm.topic = c->identity;
        im_fan_out(b, c->identity, &cm);
    }
    for (size_t i = 0; i < c->targets.len; i++) {
        const struct binding *bd = &c->targets.v[i];
        if (!im_device_seen_before(b, c->targets.v, c->targets.len, i) &&
            im_is_pm_target(b, c->topic, c->identity, bd))
            im_pm_start(b, c->topic, c->is_group, bd->aor, bd, c->is_group ? c->seq - 1 : 0);
    }
    pub_free(c);
}

static void on_pub_lookup(void *arg, int status, const struct binding *v, size_t n)
{
    struct pub_ctx *c = arg;
    for (size_t i = 0; status == 0 && i < n; i++)
        binding_list_push_copy(&c->targets, &v[i]);
    if (--c->lookups_left == 0)
        pub_finish(c);
}

static void on_pub_members(void *arg, int status, const char *const *members, size_t n)
{
    struct pub_ctx *c = arg;
    c->members = calloc(n ? n : 1, sizeof *c->members);
    for (size_t i = 0; c->members && i < n; i++)
        if ((c->members[c->nmembers] = strdup(members[i])) != NULL)
            c->nmembers++;
    if (c->nmembers == 0) {
        pub_finish(c);
        return;
    }
    c->lookups_left = c->nmembers;
    for (size_t i = 0, k = c->nmembers; i < k; i++)
        store_location_lookup(c->b->st, c->members[i], c->now, on_pub_lookup, c);
}

static void on_pub_stored(void *arg, int status, int64_t seq, int64_t copy_seq, int duplicate)
{
    struct pub_ctx *c = arg;
    if (status != 0 && !c->t) {
        c->notice_done(c->notice_arg, status, 0);
        pub_free(c);
        return;
    }
    if (status != 0) {
        if (status == STORE_EUNAVAIL)
            txn_respond_simple(c->t, 503, "Message store unavailable", "Retry-After", "5");
        else
            txn_respond_simple(c->t, 500, "Message not stored", NULL, NULL);
        pub_free(c);
        return;
    }
    c->seq = seq;
    c->copy_seq = copy_seq;
    c->duplicate = duplicate;
    im_active_note(c->b, c->topic);
    if (copy_seq > 0)
        im_active_note(c->b, c->identity);
    if (duplicate) {
        pub_finish(c);
        return;
    }
    if (c->is_group) {
        store_im_members(c->b->st, c->topic, on_pub_members, c);
    } else {
        c->lookups_left = 1;
        store_location_lookup(c->b->st, c->topic, c->now, on_pub_lookup, c);
    }
}

/* The Content-Type header value exactly as received (heap copy), from the request's bytes. */
static char *raw_content_type(struct sip_txn *t)
{
    size_t len;
    const char *raw = txn_raw(t, &len);
    if (!raw)
        return NULL;
    const char *end = raw + len, *p = memchr(raw, '\n', len);
    while (p && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol || eol == line || (eol == line + 1 && line[0] == '\r'))
            break; /* end of headers */
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon) {
            const char *ne = colon;
            while (ne > line && (ne[-1] == ' ' || ne[-1] == '\t'))
                ne--;
            size_t nl = (size_t)(ne - line);
            if ((nl == 12 && strncasecmp(line, "content-type", 12) == 0) ||
                (nl == 1 && (line[0] == 'c' || line[0] == 'C'))) {
                const char *v = colon + 1, *ve = eol;
                while (v < ve && (*v == ' ' || *v == '\t'))
                    v++;
                while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                    ve--;
                if (ve > v && ve[0] == '\r' && ve + 2 < end && (ve[2] == ' ' || ve[2] == '\t'))
                    return NULL; /* folded: let oSIP's rendering do */
                return strndup(v, (size_t)(ve - v));
            }
        }
        p = eol;
    }
    return NULL;
}

static void on_pub_topic(void *arg, int status, const struct im_topic_info *info)
{
    struct pub_ctx *c = arg;
    struct broker *b = c->b;
    struct sip_txn *t = c->t;
    const osip_message_t *req = txn_request(t);
    if (status != 0) {
        txn_respond_simple(t, status == STORE_EUNAVAIL ? 503 : 500, "Message store unavailable",
                           status == STORE_EUNAVAIL ? "Retry-After" : NULL, "5");
        pub_free(c);
        return;
    }
    c->is_group = info->is_group;
    if (info->is_group && !info->is_member) {
        txn_respond_simple(t, 403, "Not a member of this group", NULL, NULL);
        pub_free(c);
        return;
    }
    if (c->is_publish && sip_header_get(req, "sip-if-match", 0)) {
        txn_respond_simple(t, 412, NULL, NULL, NULL);
        pub_free(c);
        return;
    }
    osip_body_t *body = osip_list_get(&req->bodies, 0);
    if (!body || body->length == 0 || !req->content_type || !req->content_type->type) {
        txn_respond_simple(t, 400, "Message without body or Content-Type", NULL, NULL);
        pub_free(c);
        return;
    }
    if (body->length > b->cfg.max_message_bytes) {
        txn_respond_simple(t, 413, NULL, NULL, NULL);
        pub_free(c);
        return;
    }
    /* the Content-Type value as the client wrote it (verbatim, §7.2), else oSIP's rendering */
    const char *ctype = NULL;
    char *ctype_alloc = raw_content_type(t);
    if (!ctype_alloc) {
        char *o = NULL;
        if (osip_content_type_to_str(req->content_type, &o) == 0 && o) {
            ctype_alloc = strdup(o);
            osip_free(o);
        }
    }
    ctype = ctype_alloc;
    if (!ctype) {
        txn_respond_simple(t, 400, "Malformed Content-Type", NULL, NULL);
        pub_free(c);
        return;
    }
    const char *from_tag = sip_tag_of(req->from);
    char cid[512];
    snprintf(cid, sizeof cid, "%s%s%s", req->call_id->number, req->call_id->host ? "@" : "",
             req->call_id->host ? req->call_id->host : "");
    c->copy = !info->is_group && strcmp(c->identity, c->topic) != 0 &&
              uri_domain_served(b->cfg.domains, strchr(c->identity, '@') + 1);
    struct im_publish p = {
        .topic = c->topic,
        .sender = c->identity,
        .sender_device = c->device,
        .copy_topic = c->copy ? c->identity : NULL,
        .call_id = cid,
        .from_tag = from_tag ? from_tag : "",
        .cseq = (uint32_t)strtoul(req->cseq->number, NULL, 10),
        .content_type = ctype,
        .body = body->body,
        .body_len = body->length,
        .now = c->now,
        .ret = b->cfg.ret,
    };
    /* the message as fan-out will see it after the request is answered (and gone) */
    c->ctype = ctype_alloc;
    c->body = malloc(body->length + 1);
    if (!c->ctype || !c->body) {
        txn_respond_simple(t, 503, "Out of memory", "Retry-After", "5");
        pub_free(c);
        return;
    }
    memcpy(c->body, body->body, body->length);
    c->body[body->length] = '\0';
    c->msg = (struct im_message){.topic = c->topic, .sender = c->identity, .sender_device = c->device,
                                 .recipient = c->topic, .content_type = c->ctype, .body = c->body,
                                 .body_len = body->length, .created_at = c->now};
    p.content_type = c->ctype;
    store_im_publish(b->st, &p, on_pub_stored, c);
}

void broker_handle_publish(struct broker *b, struct sip_txn *t, const struct sip_event *event)
{
    const osip_message_t *req = txn_request(t);
    int is_publish = strcmp(req->sip_method, "PUBLISH") == 0;
    if (is_publish) {
        if (!sip_event_is(event, "im")) {
            txn_respond_text(t, 489, NULL, ALLOW_EVENTS);
            return;
        }
    }
    struct pub_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        txn_respond_simple(t, 503, "Out of memory", "Retry-After", "5");
        return;
    }
    c->b = b;
    c->t = t;
    c->is_publish = is_publish;
    c->now = sip_now_s();
    binding_list_init(&c->targets);
    if (sip_uri_aor(req->req_uri, c->topic, sizeof c->topic) < 0) {
        txn_respond_simple(t, 404, "No such topic", NULL, NULL);
        pub_free(c);
        return;
    }
    if (sip_uri_aor(req->from->url, c->identity, sizeof c->identity) < 0) {
        txn_respond_simple(t, 403, "Sender has no address-of-record", NULL, NULL);
        pub_free(c);
        return;
    }
    c->device = request_device(req);
    store_im_topic(b->st, c->topic, c->identity, c->now, &b->cfg.ret, on_pub_topic, c);
}

/* ---- notices from the control plane (docs/api.md "Topics") ---------------------------------- */

static void on_notice_topic(void *arg, int status, const struct im_topic_info *info)
{
    struct pub_ctx *c = arg;
    if (status != 0) {
        c->notice_done(c->notice_arg, status, 0);
        pub_free(c);
        return;
    }
    c->is_group = info->is_group;
    struct im_publish p = {
        .topic = c->topic,
        .sender = c->identity,
        .content_type = c->ctype,
        .body = c->body,
        .body_len = c->msg.body_len,
        .now = c->now,
        .ret = c->b->cfg.ret,
    };
    store_im_publish(c->b->st, &p, on_pub_stored, c);
}

void broker_publish_notice(struct broker *b, const char *topic, const char *from,
                           const char *content_type, const char *body, size_t body_len,
                           broker_notice_cb done, void *arg)
{
    if (body_len > b->cfg.max_message_bytes) {
        done(arg, 413, 0);
        return;
    }
    struct pub_ctx *c = calloc(1, sizeof *c);
    if (!c || strlen(topic) >= sizeof c->topic || strlen(from) >= sizeof c->identity) {
        int status = c ? 400 : STORE_EFAIL;
        free(c);
        done(arg, status, 0);
        return;
    }
    c->b = b;
    c->notice_done = done;
    c->notice_arg = arg;
    c->now = sip_now_s();
    binding_list_init(&c->targets);
    strcpy(c->topic, topic);
    strcpy(c->identity, from);
    c->ctype = strdup(content_type);
    c->body = malloc(body_len + 1);
    if (!c->ctype || !c->body) {
        done(arg, STORE_EFAIL, 0);
        pub_free(c);
        return;
    }
    memcpy(c->body, body, body_len);
    c->body[body_len] = '\0';
    c->msg = (struct im_message){.topic = c->topic, .sender = c->identity, .recipient = c->topic,
                                 .content_type = c->ctype, .body = c->body, .body_len = body_len,
                                 .created_at = c->now};
    store_im_topic(b->st, c->topic, NULL, c->now, &b->cfg.ret, on_notice_topic, c);
}
