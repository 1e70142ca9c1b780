/* publish.c - publications of the presence package (RFC 3903): a PUBLISH is checked in the
 * order of RFC 3903 §6 (presentity, event package, entity-tag, expiry, body), then becomes one
 * store step (store_pres_publish): initial (new entity-tag), refresh (new expiry and entity-tag,
 * no body), modify (new body), or remove (Expires: 0). The 200 carries the new SIP-ETag; a
 * step that changes state (anything but a refresh) hands the document composed from what the
 * store returned to the watchers (watch.c, pres_changed). Publications expire in the store;
 * presence_tick (presence.c) asks for that. Publications live in the store, not here: this file
 * keeps no state between requests. */
#include "presence_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../base/log.h"
#include "../../base/sbuf.h"
#include "../../sip/msg.h"
#include "../../sip/pidf.h"
#include "../../sip/txn.h"
#include "../../store/store.h"

#define ETAG_LEN 24

enum publish_kind { PUB_INITIAL, PUB_REFRESH, PUB_MODIFY, PUB_REMOVE };

struct publish_ctx {
    struct presence *p;
    struct sip_txn *t;
    enum publish_kind kind;
    int expires;
    char etag[ETAG_LEN + 1];
    char aor[];
};

static void publish_done(void *arg, int status, const struct pres_publication *v, size_t n)
{
    struct publish_ctx *pc = arg;
    struct sip_txn *t = pc->t;
    if (status == 412) {
        txn_respond_simple(t, 412, "Conditional Request Failed", NULL, NULL);
    } else if (status > 0) {
        txn_respond_simple(t, status, NULL, NULL, NULL);
    } else if (status < 0) {
        pres_respond_store_error(t, status, "publish", pc->aor);
    } else {
        char hdrs[128];
        if (pc->kind == PUB_REMOVE)
            snprintf(hdrs, sizeof hdrs, "Expires: 0\r\n");
        else
            snprintf(hdrs, sizeof hdrs, "SIP-ETag: %s\r\nExpires: %d\r\n", pc->etag, pc->expires);
        txn_respond_text(t, 200, NULL, hdrs);
        static const char *const kinds[] = {"initial", "refresh", "modify", "remove"};
        LOG_DEBUG("presence publish aor=%s kind=%s etag=%s expires=%d publications=%zu", pc->aor,
                  kinds[pc->kind], pc->kind == PUB_REMOVE ? "-" : pc->etag, pc->expires, n);
        /* a refresh changes no state (RFC 3903 §4.2), so watchers hear nothing */
        if (pc->kind != PUB_REFRESH && pres_is_watched(pc->p, pc->aor)) {
            struct sbuf doc;
            sbuf_init(&doc);
            pres_compose(pc->aor, v, n, &doc);
            pres_changed(pc->p, pc->aor, doc.failed ? NULL : doc.p, doc.len);
            sbuf_free(&doc);
        }
    }
    free(pc);
}

void presence_handle_publish(struct presence *p, struct sip_txn *t, const struct sip_event *event)
{
    const osip_message_t *req = txn_request(t);
    /* RFC 3903 §6, in order: presentity, event package, entity-tag, expiry, body */
    char aor[512];
    int st = pres_presentity_of(&p->cfg, req, aor, sizeof aor);
    if (st) {
        txn_respond_simple(t, st, "No such presentity", NULL, NULL);
        return;
    }
    int ev = pres_event_is_presence(event);
    if (ev <= 0) {
        txn_respond_text(t, 489, NULL, PRES_ALLOW_EVENTS);
        return;
    }
    const char *if_match = sip_header_get(req, "sip-if-match", 0);
    char etag_in[128];
    if (if_match) {
        while (*if_match == ' ' || *if_match == '\t')
            if_match++;
        size_t n = strcspn(if_match, " \t");
        if (n == 0 || n >= sizeof etag_in) {
            txn_respond_simple(t, 412, "Conditional Request Failed", NULL, NULL);
            return;
        }
        memcpy(etag_in, if_match, n);
        etag_in[n] = '\0';
        if_match = etag_in;
    }
    osip_body_t *body = osip_list_get(&req->bodies, 0);
    const char *b = body && body->body && body->length > 0 ? body->body : NULL;
    size_t blen = b ? body->length : 0;
    if (!if_match && !b) {
        txn_respond_simple(t, 400, "Initial PUBLISH needs a body", NULL, NULL);
        return;
    }
    int e = pres_granted_expires(req, p->cfg.publish_min_expires, p->cfg.publish_max_expires,
                            p->cfg.publish_default_expires);
    if (e == -1) {
        txn_respond_simple(t, 400, "Malformed Expires header", NULL, NULL);
        return;
    }
    if (e == -2) {
        pres_respond_423(t, p->cfg.publish_min_expires);
        return;
    }
    if (b && !(if_match && e == 0)) { /* a removal's body, if any, is ignored */
        const osip_content_type_t *ct = req->content_type;
        if (!ct || !ct->type || !ct->subtype || strcasecmp(ct->type, "application") != 0 ||
            strcasecmp(ct->subtype, "pidf+xml") != 0) {
            txn_respond_simple(t, 415, NULL, "Accept", PIDF_CONTENT_TYPE);
            return;
        }
        if (pidf_check(b, blen) != 0) {
            txn_respond_simple(t, 400, "Body is not a PIDF document", NULL, NULL);
            return;
        }
    }
    if (!if_match && e == 0) {
        /* an initial publication that expires at once: nothing to store, nothing changes */
        txn_respond_text(t, 200, NULL, "Expires: 0\r\n");
        return;
    }
    size_t alen = strlen(aor);
    struct publish_ctx *pc = calloc(1, sizeof *pc + alen + 1);
    if (!pc) {
        txn_respond_simple(t, 500, "Out of memory", NULL, NULL);
        return;
    }
    pc->p = p;
    pc->t = t;
    pc->expires = e;
    memcpy(pc->aor, aor, alen + 1);
    pc->kind = !if_match ? PUB_INITIAL : e == 0 ? PUB_REMOVE : b ? PUB_MODIFY : PUB_REFRESH;
    sip_random_token(pc->etag, sizeof pc->etag);
    int64_t now = sip_now_s();
    int with_body = pc->kind == PUB_INITIAL || pc->kind == PUB_MODIFY;
    store_pres_publish(p->st, aor, if_match, pc->etag, e == 0 ? 0 : now + e,
                       with_body ? PIDF_CONTENT_TYPE : NULL, with_body ? b : NULL,
                       with_body ? blen : 0, now, publish_done, pc);
}
