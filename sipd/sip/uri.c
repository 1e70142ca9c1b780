/* uri.c - the SIP helpers every role shares; see uri.h.
 *
 * The "is it ours" rule lives here so that the registrar, the proxy, the broker and the presence
 * package cannot disagree about a Request-URI: the server classifies each request once
 * (sip_classify) and hands the answer to exactly one role. */
#include "uri.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msg.h"

/* ---- is a URI ours? --------------------------------------------------------------------------- */

int uri_domain_listed(const char *const *domains, const char *host)
{
    if (!host)
        return 0;
    for (const char *const *d = domains; d && *d; d++)
        if (strcasecmp(*d, host) == 0)
            return 1;
    return 0;
}

int uri_domain_served(const char *const *domains, const char *host)
{
    if (!domains || !domains[0])
        return host != NULL;
    return uri_domain_listed(domains, host);
}

/* The URI's port; none given: 0 (5060), or 5061 for sips: and transport=tls (RFC 3261 §19.1.2). */
static int uri_port(const osip_uri_t *u)
{
    if (u->port && *u->port)
        return atoi(u->port);
    osip_uri_param_t *tp = NULL;
    if ((u->scheme && strcasecmp(u->scheme, "sips") == 0) ||
        (osip_uri_uparam_get_byname((osip_uri_t *)u, "transport", &tp) == 0 && tp && tp->gvalue &&
         strcasecmp(tp->gvalue, "tls") == 0))
        return 5061;
    return 0;
}

/* The host without IPv6 brackets, "localhost" as 127.0.0.1; NULL when it does not fit buf. */
static const char *plain_host(const char *h, char *buf, size_t n)
{
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        if (hl - 2 >= n)
            return NULL;
        memcpy(buf, h + 1, hl - 2);
        buf[hl - 2] = '\0';
        return buf;
    }
    return strcasecmp(h, "localhost") == 0 ? "127.0.0.1" : h;
}

int uri_is_me(const struct uri_local *l, const osip_uri_t *u)
{
    if (!u || !u->host)
        return 0;
    char buf[64];
    const char *h = plain_host(u->host, buf, sizeof buf);
    return h && l->listens(l->arg, h, uri_port(u));
}

/* One of our addresses (on any port) or names. */
static int host_names_us(const struct uri_local *l, const char *host)
{
    if (l->hostname && *l->hostname && strcasecmp(host, l->hostname) == 0)
        return 1;
    char buf[64];
    const char *h = plain_host(host, buf, sizeof buf);
    return h && l->listens(l->arg, h, -1);
}

int uri_is_ours(const struct uri_local *l, const osip_uri_t *u)
{
    if (!u || !u->host)
        return 0;
    if (uri_domain_listed(l->domains, u->host) || uri_is_me(l, u))
        return 1;
    if (l->domains && l->domains[0])
        return 0;
    if (!host_names_us(l, u->host))
        return 0;
    int port = uri_port(u);
    return port == 0 || l->listens(l->arg, NULL, port);
}

/* ---- one classification per request ----------------------------------------------------------- */

static enum sip_method_id method_id(const char *m)
{
    switch (m[0]) {
    case 'I': return strcmp(m, "INVITE") == 0 ? SIP_M_INVITE : SIP_M_OTHER;
    case 'C': return strcmp(m, "CANCEL") == 0 ? SIP_M_CANCEL : SIP_M_OTHER;
    case 'O': return strcmp(m, "OPTIONS") == 0 ? SIP_M_OPTIONS : SIP_M_OTHER;
    case 'R': return strcmp(m, "REGISTER") == 0 ? SIP_M_REGISTER : SIP_M_OTHER;
    case 'M': return strcmp(m, "MESSAGE") == 0 ? SIP_M_MESSAGE : SIP_M_OTHER;
    case 'S': return strcmp(m, "SUBSCRIBE") == 0 ? SIP_M_SUBSCRIBE : SIP_M_OTHER;
    case 'P': return strcmp(m, "PUBLISH") == 0 ? SIP_M_PUBLISH : SIP_M_OTHER;
    default: return SIP_M_OTHER;
    }
}

void sip_event_of(const osip_message_t *req, struct sip_event *ev)
{
    const char *v = req ? sip_header_get(req, "event", 0) : NULL;
    if (!v && req)
        v = sip_header_get(req, "o", 0);
    ev->value = v;
    if (!v) {
        ev->type = "";
        ev->type_len = 0;
        ev->params = "";
        return;
    }
    v += strspn(v, " \t");
    ev->type = v;
    ev->type_len = strcspn(v, "; \t");
    ev->params = v + ev->type_len;
}

int sip_event_is(const struct sip_event *ev, const char *name)
{
    return ev->type_len == strlen(name) && strncasecmp(ev->type, name, ev->type_len) == 0;
}

void sip_classify(const struct uri_local *l, const osip_message_t *req, struct sip_req_class *c)
{
    osip_generic_param_t *tag = NULL;
    c->method = method_id(req->sip_method);
    /* only the event-package methods read Event: an INVITE or MESSAGE pays no header scan */
    sip_event_of(c->method == SIP_M_SUBSCRIBE || c->method == SIP_M_PUBLISH ? req : NULL, &c->event);
    c->has_to_tag = req->to && osip_to_get_tag(req->to, &tag) == 0 && tag && tag->gvalue;
    c->has_username = req->req_uri->username != NULL;
    c->is_ours = uri_is_ours(l, req->req_uri) ||
                 (c->method == SIP_M_REGISTER && !(l->domains && l->domains[0]) &&
                  !(req->req_uri->port && *req->req_uri->port)); /* a registrar of any domain */
    int nroutes = osip_list_size(&req->routes);
    c->has_route = nroutes > 0;
    if (nroutes > 0) {
        osip_route_t *r = osip_list_get(&req->routes, 0);
        c->routed_away = nroutes > 1 || !uri_is_me(l, r->url);
    } else {
        c->routed_away = 0;
    }
}

/* ---- URI equality (RFC 3261 §19.1.4) ---------------------------------------------------------- */

static osip_uri_t *parse_uri(const char *s)
{
    osip_uri_t *u = NULL;
    if (osip_uri_init(&u) != 0)
        return NULL;
    if (osip_uri_parse(u, s) != 0) {
        osip_uri_free(u);
        return NULL;
    }
    return u;
}

static int str_eq(const char *a, const char *b, int icase)
{
    if (!a || !b)
        return (!a || !*a) && (!b || !*b);
    return icase ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

static const char *uparam(osip_list_t *params, const char *name)
{
    osip_generic_param_t *p = NULL;
    if (osip_generic_param_get_byname(params, (char *)name, &p) < 0 || !p)
        return NULL;
    return p->gvalue ? p->gvalue : "";
}

int uri_equal(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return 1;
    osip_uri_t *x = parse_uri(a), *y = parse_uri(b);
    int eq = 0;
    if (x && y) {
        eq = str_eq(x->scheme, y->scheme, 1) && str_eq(x->username, y->username, 0) &&
             str_eq(x->password, y->password, 0) && str_eq(x->host, y->host, 1) &&
             str_eq(x->port, y->port, 0);
        static const char *const must[] = {"transport", "user", "maddr", "ttl", "method"};
        for (size_t i = 0; eq && i < sizeof must / sizeof must[0]; i++)
            eq = str_eq(uparam(&x->url_params, must[i]), uparam(&y->url_params, must[i]), 1);
    } else {
        eq = strcasecmp(a, b) == 0;
    }
    if (x)
        osip_uri_free(x);
    if (y)
        osip_uri_free(y);
    return eq;
}

/* ---- small helpers ------------------------------------------------------------------------------ */

int sip_delta_seconds(const char *p, size_t len)
{
    const char *e = p + len;
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    if (p == e || *p < '0' || *p > '9')
        return -1;
    long long v = 0;
    while (p < e && *p >= '0' && *p <= '9') {
        if (v < 2147483647LL)
            v = v * 10 + (*p - '0');
        p++;
    }
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    if (p != e)
        return -1;
    return v > 2147483647LL ? 2147483647 : (int)v;
}

void sip_http_date(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(buf, n, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0) {
        if (n)
            buf[0] = '\0';
    }
}

size_t sip_instance_trim(const char *v, const char **start)
{
    size_t n = strlen(v);
    while (n && (*v == '"' || *v == '<')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == '"' || v[n - 1] == '>'))
        n--;
    *start = v;
    return n;
}

void sip_contact_instance(const osip_message_t *m, char *buf, size_t n)
{
    buf[0] = '\0';
    osip_contact_t *c = osip_list_get(&m->contacts, 0);
    osip_generic_param_t *p = NULL;
    if (!c || osip_contact_param_get_byname(c, "+sip.instance", &p) != 0 || !p || !p->gvalue)
        return;
    const char *v;
    size_t len = sip_instance_trim(p->gvalue, &v);
    if (len >= n)
        len = n - 1;
    memcpy(buf, v, len);
    buf[len] = '\0';
}
