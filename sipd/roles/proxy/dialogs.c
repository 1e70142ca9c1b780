/* dialogs.c - the calls this proxy stays in: INVITE dialogs it record-routed (a 2xx went through
 * it), each until a BYE passes (either way) or PROXY_DIALOG_IDLE_S go by without an in-dialog
 * request. A proxy keeps no other dialog state; this count is what a draining node waits for
 * before it reports drained (docs/cluster.md), since the BYE of such a call must still find it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../base/log.h"
#include "../../sip/msg.h"
#include "../../sip/uri.h"
#include "proxy_impl.h"

#define PROXY_DIALOG_IDLE_S (12 * 3600) /* a call with no request for this long is forgotten */
#define PROXY_DIALOGS_MAX 1000000       /* beyond, new dialogs are not tracked */

/* "Call-ID|lower tag|higher tag": the same from either end. Returns its length, 0 if unusable. */
static size_t dialog_key(const char *call_id, const char *t1, const char *t2, char *buf, size_t n)
{
    if (!call_id || !t1 || !t2)
        return 0;
    if (strcmp(t1, t2) > 0) {
        const char *x = t1;
        t1 = t2;
        t2 = x;
    }
    int w = snprintf(buf, n, "%s|%s|%s", call_id, t1, t2);
    return w > 0 && (size_t)w < n ? (size_t)w : 0;
}

static size_t message_key(const osip_message_t *m, char *buf, size_t n)
{
    char cid[256];
    if (!m->call_id || !m->call_id->number)
        return 0;
    snprintf(cid, sizeof cid, "%s%s%s", m->call_id->number, m->call_id->host ? "@" : "",
             m->call_id->host ? m->call_id->host : "");
    return dialog_key(cid, sip_tag_of(m->from), m->to ? sip_tag_of(m->to) : NULL, buf, n);
}

void proxy_dialog_add(struct proxy *px, const osip_message_t *resp)
{
    char key[512];
    size_t kl = message_key(resp, key, sizeof key);
    if (!kl || hmap_get(&px->dialogs, key, kl))
        return;
    if (px->dialogs.count >= PROXY_DIALOGS_MAX) {
        LOG_DEBUG("dialog not tracked: %d already", PROXY_DIALOGS_MAX);
        return;
    }
    int64_t *seen = malloc(sizeof *seen);
    if (!seen)
        return;
    *seen = sip_now_s();
    if (hmap_put(&px->dialogs, key, kl, seen, NULL) < 0)
        free(seen);
}

void proxy_dialog_request(struct proxy *px, const osip_message_t *req)
{
    char key[512];
    size_t kl = message_key(req, key, sizeof key);
    if (!kl)
        return;
    if (strcmp(req->sip_method, "BYE") == 0) {
        free(hmap_del(&px->dialogs, key, kl));
        return;
    }
    int64_t *seen = hmap_get(&px->dialogs, key, kl);
    if (seen)
        *seen = sip_now_s();
}

void proxy_dialogs_expire(struct proxy *px, int64_t now)
{
    size_t bk;
    struct hmap_entry *e = hmap_first(&px->dialogs, &bk);
    while (e) {
        struct hmap_entry *next = hmap_next(&px->dialogs, e, &bk);
        int64_t *seen = e->val;
        if (now - *seen > PROXY_DIALOG_IDLE_S)
            free(hmap_del(&px->dialogs, e->key, e->klen));
        e = next;
    }
}

void proxy_dialogs_clear(struct proxy *px)
{
    size_t bk;
    for (struct hmap_entry *e = hmap_first(&px->dialogs, &bk); e; e = hmap_next(&px->dialogs, e, &bk))
        free(e->val);
    hmap_free(&px->dialogs);
}

size_t proxy_dialogs(const struct proxy *px) { return px->dialogs.count; }
