/* registrar.c - RFC 3261 §10.3 registrar; see registrar.h. */
#include "registrar.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../base/events.h"
#include "../base/log.h"
#include "../base/sbuf.h"
#include "../sip/msg.h"
#include "../sip/txn.h"
#include "../sip/uri.h"
#include "../store/store.h"

#define MAX_CONTACTS_PER_REQUEST 32

/* ---- parsing --------------------------------------------------------------------------------- */

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

/* delta-seconds, quotes around it allowed (an "expires" parameter as a quoted string). */
static int parse_delta(const char *s)
{
    if (!s)
        return -1;
    size_t n = strlen(s);
    while (n && (*s == '"' || *s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == '"' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return sip_delta_seconds(s, n);
}

/* q-value "0.5" / "1" / "1.000" -> 500 / 1000 / 1000; -1 if malformed. */
static int parse_q(const char *s)
{
    if (!s || (s[0] != '0' && s[0] != '1'))
        return -1;
    int v = (s[0] - '0') * 1000;
    const char *p = s + 1;
    if (*p == '.') {
        p++;
        int scale = 100;
        for (int i = 0; i < 3 && *p >= '0' && *p <= '9'; i++, p++) {
            v += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (*p || v > 1000)
        return -1;
    return v;
}

static const char *gparam(osip_list_t *params, const char *name)
{
    osip_generic_param_t *p = NULL;
    if (osip_generic_param_get_byname(params, (char *)name, &p) < 0 || !p)
        return NULL;
    return p->gvalue ? p->gvalue : "";
}

/* "\"<urn:uuid:x>\"" -> "urn:uuid:x" (heap). */
static char *clean_instance(const char *v)
{
    const char *start;
    size_t n = sip_instance_trim(v, &start);
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, start, n);
        s[n] = '\0';
    }
    return s;
}

void reg_request_free(struct reg_request *r)
{
    free(r->aor);
    free(r->call_id);
    for (size_t i = 0; i < r->ncontacts; i++) {
        free(r->contacts[i].uri);
        free(r->contacts[i].instance);
    }
    free(r->contacts);
    free(r->path);
    free(r->user_agent);
    free(r->received);
    memset(r, 0, sizeof *r);
}

static int fail(struct reg_outcome *oc, int status, const char *reason)
{
    oc->status = status;
    oc->reason = reason;
    return status;
}

static const char *const known_options[] = {"path", "outbound", NULL};

int registrar_parse(const struct registrar_config *cfg, const osip_message_t *req,
                    const struct sip_source *src, int64_t now, struct reg_request *out,
                    struct reg_outcome *oc, char *unsupported, size_t unsupported_len)
{
    memset(out, 0, sizeof *out);
    memset(oc, 0, sizeof *oc);
    out->now = now;
    out->header_expires = -1;

    if (sip_header_unknown_option(req, "require", known_options, unsupported, unsupported_len))
        return fail(oc, 420, NULL);

    /* the address-of-record: To URI, canonical "scheme:user@host" */
    osip_uri_t *to = req->to->url;
    if (!to->scheme || (strcasecmp(to->scheme, "sip") != 0 && strcasecmp(to->scheme, "sips") != 0))
        return fail(oc, 404, "Address-of-record must be a sip or sips URI");
    if (!to->username || !*to->username || !to->host || !*to->host)
        return fail(oc, 404, "Address-of-record needs a user and a host");
    if (!uri_domain_served(cfg->domains, to->host))
        return fail(oc, 403, "Domain not served here");
    size_t alen = strlen(to->scheme) + strlen(to->username) + strlen(to->host) + 3;
    out->aor = malloc(alen);
    if (!out->aor)
        return fail(oc, 500, "Out of memory");
    const char *aor_parts[] = {to->scheme, ":", to->username, "@", to->host};
    str_join(out->aor, alen, aor_parts, 5);
    for (char *p = out->aor; *p; p++)
        if (p < out->aor + strlen(to->scheme) || p > strchr(out->aor, '@'))
            *p = (char)tolower((unsigned char)*p);

    out->call_id = xstrdup(req->call_id->number);
    out->cseq = (uint32_t)strtoul(req->cseq->number, NULL, 10);

    const char *ex = sip_header_get(req, "expires", 0);
    if (ex) {
        out->header_expires = parse_delta(ex);
        if (out->header_expires < 0)
            return fail(oc, 400, "Malformed Expires header");
    }

    /* Path: all values, in order */
    size_t plen = 0;
    for (int i = 0;; i++) {
        const char *pv = sip_header_get(req, "path", i);
        if (!pv)
            break;
        plen += strlen(pv) + 1;
    }
    if (plen) {
        out->path = malloc(plen + 1);
        if (!out->path)
            return fail(oc, 500, "Out of memory");
        out->path[0] = '\0';
        for (int i = 0;; i++) {
            const char *pv = sip_header_get(req, "path", i);
            if (!pv)
                break;
            if (i)
                strcat(out->path, ",");
            strcat(out->path, pv);
        }
    }
    out->supports_path = sip_header_has_option(req, "supported", "path");
    const char *ua = sip_header_get(req, "user-agent", 0);
    out->user_agent = ua ? strndup(ua, 256) : NULL;

    char as[SOCKADDR_STRLEN], rb[SOCKADDR_STRLEN + 8];
    const char *rb_parts[] = {sip_proto_name(src->proto), ":", sockaddr_str(&src->peer, as, sizeof as)};
    str_join(rb, sizeof rb, rb_parts, 3);
    out->received = strdup(rb);
    out->conn_id = sip_proto_is_stream(src->proto) ? src->conn_id : 0;
    out->node = cfg->node_name && cfg->node_name[0] ? cfg->node_name : NULL;

    int n = osip_list_size(&req->contacts);
    if (n > MAX_CONTACTS_PER_REQUEST)
        return fail(oc, 403, "Too many Contact header fields");
    if (n > 0) {
        out->contacts = calloc((size_t)n, sizeof *out->contacts);
        if (!out->contacts)
            return fail(oc, 500, "Out of memory");
    }
    for (int i = 0; i < n; i++) {
        osip_contact_t *c = osip_list_get(&req->contacts, i);
        if (c->displayname && strcmp(c->displayname, "*") == 0 && !c->url) {
            out->is_wildcard = 1;
            out->ncontacts++;
            continue;
        }
        if (!c->url || !c->url->scheme)
            return fail(oc, 400, "Malformed Contact header");
        struct reg_contact *rc = &out->contacts[out->ncontacts++];
        rc->expires = -1;
        rc->q = -1;
        if (osip_uri_to_str(c->url, &rc->uri) != 0 || !rc->uri) {
            rc->uri = NULL;
            return fail(oc, 400, "Malformed Contact URI");
        }
        /* keep ownership with libc's free(): copy out of oSIP's allocation */
        char *u = strdup(rc->uri);
        osip_free(rc->uri);
        rc->uri = u;
        if (!u)
            return fail(oc, 500, "Out of memory");
        const char *v;
        if ((v = gparam(&c->gen_params, "expires")) != NULL) {
            rc->expires = parse_delta(v);
            if (rc->expires < 0)
                return fail(oc, 400, "Malformed Contact expires parameter");
        }
        if ((v = gparam(&c->gen_params, "q")) != NULL) {
            rc->q = parse_q(v);
            if (rc->q < 0)
                return fail(oc, 400, "Malformed Contact q parameter");
        }
        if ((v = gparam(&c->gen_params, "+sip.instance")) != NULL && *v)
            rc->instance = clean_instance(v);
        if ((v = gparam(&c->gen_params, "reg-id")) != NULL) {
            rc->reg_id = parse_delta(v);
            if (rc->reg_id <= 0)
                return fail(oc, 400, "Malformed Contact reg-id parameter");
        }
    }
    return 0;
}

/* ---- rules ------------------------------------------------------------------------------------ */


static int contact_expiry(const struct registrar_config *cfg, const struct reg_request *r,
                          const struct reg_contact *c)
{
    int e = c->expires >= 0 ? c->expires : (r->header_expires >= 0 ? r->header_expires : cfg->default_expires);
    if (e > cfg->max_expires)
        e = cfg->max_expires;
    return e;
}

static int replace_str(char **dst, const char *src)
{
    char *n = NULL;
    if (src && !(n = strdup(src)))
        return -1;
    free(*dst);
    *dst = n;
    return 0;
}

/* Fill b from the request and contact c (b may hold old values, which are replaced). */
static int fill_binding(struct binding *b, const struct reg_request *r, const struct reg_contact *c,
                        int expires)
{
    if (replace_str(&b->contact, c->uri) || replace_str(&b->call_id, r->call_id) ||
        replace_str(&b->path, r->path) || replace_str(&b->instance, c->instance) ||
        replace_str(&b->user_agent, r->user_agent) || replace_str(&b->received, r->received) ||
        replace_str(&b->node, r->node) || (!b->aor && replace_str(&b->aor, r->aor)))
        return -1;
    b->cseq = r->cseq;
    b->expires_at = r->now + expires;
    b->q = c->q;
    b->reg_id = c->reg_id;
    b->conn_id = r->conn_id;
    b->updated_at = r->now;
    return 0;
}

/* The binding that contact c updates, or -1 for a new one. A binding is keyed by its instance
 * when the contact gives one (RFC 5627 §6: a device that registers again from a new address, a
 * new TCP connection, replaces its old binding), by instance + reg-id for an RFC 5626 flow, and
 * by its contact URI otherwise (RFC 3261 §10.3 step 7). A contact with an instance but no reg-id
 * falls back to its URI when no binding holds that instance (a device that added an instance). */
static ptrdiff_t find_binding(const struct binding_list *l, const struct reg_contact *c)
{
    if (c->instance) {
        for (size_t i = 0; i < l->len; i++) {
            const struct binding *b = &l->v[i];
            if (b->instance && b->reg_id == c->reg_id && strcmp(b->instance, c->instance) == 0)
                return (ptrdiff_t)i;
        }
        if (c->reg_id > 0)
            return -1;
    }
    for (size_t i = 0; i < l->len; i++)
        if (uri_equal(l->v[i].contact, c->uri))
            return (ptrdiff_t)i;
    return -1;
}

/* After binding k took contact c by its instance: the other bindings without a reg-id that hold
 * the same contact URI, which would now be the same target twice. -1 when there is none. */
static ptrdiff_t find_same_contact(const struct binding_list *l, size_t k, const struct reg_contact *c)
{
    for (size_t i = 0; i < l->len; i++)
        if (i != k && l->v[i].reg_id == 0 && uri_equal(l->v[i].contact, c->uri))
            return (ptrdiff_t)i;
    return -1;
}

/* Remove binding k of out, keeping touched[] (one flag per binding) in step. */
static void remove_binding(struct binding_list *out, unsigned char *touched, size_t ntouched,
                           size_t k)
{
    binding_clear(&out->v[k]);
    memmove(&out->v[k], &out->v[k + 1], (out->len - k - 1) * sizeof out->v[0]);
    out->len--;
    if (k < ntouched)
        memmove(touched + k, touched + k + 1, ntouched - k - 1);
}

int registrar_apply(const struct registrar_config *cfg, const struct reg_request *r,
                    const struct binding *cur, size_t ncur, struct binding_list *out,
                    struct reg_outcome *oc)
{
    memset(oc, 0, sizeof *oc);
    if (r->is_wildcard) {
        if (r->ncontacts != 1 || r->header_expires != 0)
            return fail(oc, 400, "Wildcard Contact needs Expires: 0 and no other Contact");
        for (size_t i = 0; i < ncur; i++)
            if (cur[i].call_id && strcmp(cur[i].call_id, r->call_id) == 0 && r->cseq <= cur[i].cseq)
                return fail(oc, 400, "Out-of-order CSeq for this Call-ID");
        return 0; /* out stays empty: every binding removed */
    }
    /* validate every contact before changing anything */
    for (size_t i = 0; i < r->ncontacts; i++) {
        int e = contact_expiry(cfg, r, &r->contacts[i]);
        if (e > 0 && e < cfg->min_expires) {
            oc->min_expires = cfg->min_expires;
            return fail(oc, 423, NULL);
        }
    }
    for (size_t i = 0; i < ncur; i++)
        if (binding_list_push_copy(out, &cur[i]))
            return fail(oc, 500, "Out of memory");
    /* bindings touched by this request: the CSeq rule applies once per binding */
    unsigned char touched[MAX_CONTACTS_PER_REQUEST * 2 + 64] = {0};
    for (size_t i = 0; i < r->ncontacts; i++) {
        const struct reg_contact *c = &r->contacts[i];
        int e = contact_expiry(cfg, r, c);
        ptrdiff_t k = find_binding(out, c);
        if (k >= 0) {
            struct binding *b = &out->v[k];
            int seen = (size_t)k < sizeof touched && touched[k];
            if (!seen && b->call_id && strcmp(b->call_id, r->call_id) == 0 && r->cseq <= b->cseq)
                return fail(oc, 400, "Out-of-order CSeq for this Call-ID");
            if (e == 0) {
                remove_binding(out, touched, sizeof touched, (size_t)k);
                continue;
            }
            if (fill_binding(b, r, c, e))
                return fail(oc, 500, "Out of memory");
            if ((size_t)k < sizeof touched)
                touched[k] = 1;
            ptrdiff_t j = c->instance && c->reg_id == 0 ? find_same_contact(out, (size_t)k, c) : -1;
            if (j >= 0)
                remove_binding(out, touched, sizeof touched, (size_t)j);
        } else if (e > 0) {
            if (out->len >= (size_t)cfg->max_contacts)
                return fail(oc, 403, "Too many registered contacts for this address-of-record");
            struct binding nb = {0};
            if (fill_binding(&nb, r, c, e) || binding_list_push_move(out, &nb)) {
                binding_clear(&nb);
                return fail(oc, 500, "Out of memory");
            }
            if (out->len - 1 < sizeof touched)
                touched[out->len - 1] = 1;
        }
    }
    return 0;
}

void registrar_format_contacts(struct sbuf *out, const struct binding *b, size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++) {
        long left = (long)(b[i].expires_at - now);
        if (left < 0)
            left = 0;
        sbuf_printf(out, "Contact: <%s>;expires=%ld", b[i].contact, left);
        if (b[i].q >= 0)
            sbuf_printf(out, ";q=%d.%03d", b[i].q / 1000, b[i].q % 1000);
        if (b[i].instance)
            sbuf_printf(out, ";+sip.instance=\"<%s>\"", b[i].instance);
        if (b[i].reg_id > 0)
            sbuf_printf(out, ";reg-id=%d", b[i].reg_id);
        sbuf_append(out, "\r\n", 2);
    }
}

/* ---- the role ------------------------------------------------------------------------------- */

struct registrar {
    struct store *store;
    struct registrar_config cfg;
    registrar_hook_cb hook;
    void *hook_arg;
};

void registrar_set_hook(struct registrar *reg, registrar_hook_cb cb, void *arg)
{
    reg->hook = cb;
    reg->hook_arg = arg;
}

struct reg_ctx {
    struct registrar *reg;
    struct sip_txn *txn;
    struct reg_request req;
    struct reg_outcome oc;
    struct binding_list before; /* the bindings the update replaced: only when events are wanted */
    int has_before;
};

struct registrar *registrar_create(struct store *st, const struct registrar_config *cfg)
{
    struct registrar *reg = calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    reg->store = st;
    reg->cfg = *cfg;
    return reg;
}

void registrar_destroy(struct registrar *reg) { free(reg); }

void registrar_set_limits(struct registrar *reg, const struct registrar_config *cfg)
{
    reg->cfg.min_expires = cfg->min_expires;
    reg->cfg.max_expires = cfg->max_expires;
    reg->cfg.default_expires = cfg->default_expires;
    reg->cfg.max_contacts = cfg->max_contacts;
}

static int reg_update(void *arg, const struct binding *cur, size_t ncur, struct binding_list *out)
{
    struct reg_ctx *ctx = arg;
    if (events_wanted()) {
        /* the store may run this more than once (a retry): the last run is the one that counts */
        binding_list_free(&ctx->before);
        binding_list_init(&ctx->before);
        ctx->has_before = 1;
        for (size_t i = 0; i < ncur && ctx->has_before; i++)
            ctx->has_before = binding_list_push_copy(&ctx->before, &cur[i]) == 0;
    }
    return registrar_apply(&ctx->reg->cfg, &ctx->req, cur, ncur, out, &ctx->oc);
}

static const struct binding *find_contact(const struct binding *v, size_t n, const char *contact)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].contact && strcmp(v[i].contact, contact) == 0)
            return &v[i];
    return NULL;
}

/* The `registration` events of one REGISTER: the bindings it added, refreshed (a new CSeq or
 * expiry) or removed, comparing the set it replaced with the set stored. */
static void emit_changes(struct reg_ctx *ctx, const struct binding *b, size_t n)
{
    const struct binding *old = ctx->before.v;
    size_t nold = ctx->before.len;
    int64_t now = ctx->req.now;
    for (size_t i = 0; i < n; i++) {
        if (!b[i].contact)
            continue;
        const struct binding *was = find_contact(old, nold, b[i].contact);
        if (!was || was->expires_at != b[i].expires_at || was->cseq != b[i].cseq)
            events_registration(ctx->req.aor, b[i].contact, (long)(b[i].expires_at - now),
                                was ? "refreshed" : "added");
    }
    for (size_t i = 0; i < nold; i++)
        if (old[i].contact && !find_contact(b, n, old[i].contact))
            events_registration(ctx->req.aor, old[i].contact, 0, "removed");
}

static void reg_done(void *arg, int status, const struct binding *b, size_t n)
{
    struct reg_ctx *ctx = arg;
    struct sip_txn *t = ctx->txn;
    if (status == 0) {
        struct sbuf h;
        sbuf_init(&h);
        registrar_format_contacts(&h, b, n, ctx->req.now);
        char date[64];
        sip_http_date(sip_now_s(), date, sizeof date);
        sbuf_printf(&h, "Date: %s\r\n", date);
        if (ctx->req.path && ctx->req.supports_path)
            sbuf_printf(&h, "Path: %s\r\nSupported: path\r\n", ctx->req.path);
        if (h.failed)
            txn_respond_simple(t, 500, "Out of memory", NULL, NULL);
        else
            txn_respond_text(t, 200, NULL, h.p);
        sbuf_free(&h);
        LOG_DEBUG("register aor=%s call-id=%s bindings=%zu", ctx->req.aor, ctx->req.call_id, n);
        if (ctx->has_before && events_wanted())
            emit_changes(ctx, b, n);
        if (ctx->reg->hook && n > 0)
            ctx->reg->hook(ctx->reg->hook_arg, ctx->req.aor, b, n);
    } else if (status == 423) {
        char me[16];
        snprintf(me, sizeof me, "%d", ctx->oc.min_expires);
        txn_respond_simple(t, 423, NULL, "Min-Expires", me);
    } else if (status > 0) {
        txn_respond_simple(t, status, ctx->oc.reason, NULL, NULL);
    } else if (status == STORE_EUNAVAIL) {
        LOG_WARN("register aor=%s failed reason=store-unavailable", ctx->req.aor);
        txn_respond_simple(t, 503, "Location service unavailable", "Retry-After", "5");
    } else {
        LOG_WARN("register aor=%s failed reason=store-error", ctx->req.aor);
        txn_respond_simple(t, 500, "Location service error", NULL, NULL);
    }
    reg_request_free(&ctx->req);
    binding_list_free(&ctx->before);
    free(ctx);
}

void registrar_handle(struct registrar *reg, struct sip_txn *t)
{
    struct reg_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        txn_respond_simple(t, 500, "Out of memory", NULL, NULL);
        return;
    }
    ctx->reg = reg;
    ctx->txn = t;
    char unsupported[64];
    int st = registrar_parse(&reg->cfg, txn_request(t), txn_source(t), sip_now_s(), &ctx->req,
                             &ctx->oc, unsupported, sizeof unsupported);
    if (st != 0) {
        if (st == 420)
            txn_respond_simple(t, 420, NULL, "Unsupported", unsupported);
        else
            txn_respond_simple(t, st, ctx->oc.reason, NULL, NULL);
        reg_request_free(&ctx->req);
        free(ctx);
        return;
    }
    /* registrar_apply depends on nothing but its inputs: the store may run it on the bindings
     * it expects (one round trip on postgres) */
    store_location_update_optimistic(reg->store, ctx->req.aor, ctx->req.now, reg_update, reg_done,
                                     ctx);
}
