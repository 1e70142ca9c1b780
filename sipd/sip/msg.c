/* msg.c - message layer on oSIP2; see msg.h. */
#include "msg.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "../base/log.h"
#include "../base/sbuf.h"

/* oSIP's own trace: parse errors of hostile input would flood stderr; debug-log them instead. */
static void osip_trace_to_log(const char *fi, int li, osip_trace_level_t level, const char *chfr,
                              va_list ap)
{
    if (log_current_level < LOG_LVL_DEBUG)
        return;
    char line[256];
    vsnprintf(line, sizeof line, chfr, ap);
    line[strcspn(line, "\r\n")] = '\0';
    LOG_DEBUG("osip: %s", line);
}

void sip_msg_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    parser_init();
    osip_trace_initialize_func(OSIP_WARNING, osip_trace_to_log);
}

osip_message_t *sip_parse(const char *buf, size_t len)
{
    osip_message_t *m;
    if (osip_message_init(&m) != 0)
        return NULL;
    if (osip_message_parse(m, buf, len) != 0) {
        osip_message_free(m);
        return NULL;
    }
    return m;
}

static int is_token_char(unsigned char c)
{
    return isalnum(c) || strchr("-.!%*_+`'~", c) != NULL;
}

static int is_number(const char *s, size_t maxdigits)
{
    if (!s || !*s)
        return 0;
    size_t n = 0;
    for (; *s; s++, n++)
        if (*s < '0' || *s > '9' || n >= maxdigits)
            return 0;
    return 1;
}

const char *sip_header_get(const osip_message_t *m, const char *lname, int nth)
{
    /* oSIP's "pos" is where the search starts and it returns the index found */
    int start = 0;
    for (;;) {
        osip_header_t *h = NULL;
        int idx = osip_message_header_get_byname(m, lname, start, &h);
        if (idx < 0 || !h)
            return NULL;
        if (nth-- == 0)
            return h->hvalue ? h->hvalue : "";
        start = idx + 1;
    }
}

static int via_usable(const osip_via_t *v)
{
    return v && v->host && *v->host && v->protocol && v->version;
}

int sip_request_answerable(const osip_message_t *m)
{
    /* Without a Via the response goes back to the source address; a Via we cannot use means
     * we do not know where the answer belongs. */
    osip_via_t *v = osip_list_get(&m->vias, 0);
    return !v || via_usable(v);
}

int sip_request_check(const osip_message_t *m, const char **reason)
{
    if (!m->sip_method || !m->req_uri || !m->req_uri->scheme) {
        *reason = "Bad Request-URI";
        return 400;
    }
    for (const char *p = m->sip_method; *p; p++)
        if (!is_token_char((unsigned char)*p)) {
            *reason = "Bad Method";
            return 400;
        }
    osip_via_t *v = osip_list_get(&m->vias, 0);
    if (!v) {
        *reason = "Missing Via header";
        return 400;
    }
    if (!via_usable(v)) {
        *reason = "Malformed Via header";
        return 400;
    }
    if (!m->from || !m->from->url) {
        *reason = m->from ? "Malformed From header" : "Missing From header";
        return 400;
    }
    if (!m->to || !m->to->url) {
        *reason = m->to ? "Malformed To header" : "Missing To header";
        return 400;
    }
    if (!m->call_id || !m->call_id->number || !*m->call_id->number) {
        *reason = m->call_id ? "Malformed Call-ID header" : "Missing Call-ID header";
        return 400;
    }
    if (!m->cseq) {
        *reason = "Missing CSeq header";
        return 400;
    }
    if (!is_number(m->cseq->number, 10) || strtoul(m->cseq->number, NULL, 10) > 2147483647UL ||
        !m->cseq->method) {
        *reason = "Malformed CSeq header";
        return 400;
    }
    if (strcmp(m->cseq->method, m->sip_method) != 0 &&
        !(strcmp(m->sip_method, "ACK") == 0 && strcmp(m->cseq->method, "INVITE") == 0) &&
        !(strcmp(m->sip_method, "CANCEL") == 0 && strcmp(m->cseq->method, "INVITE") == 0)) {
        if (strcmp(m->cseq->method, m->sip_method) != 0) {
            *reason = "CSeq method does not match the request method";
            return 400;
        }
    }
    const char *mf = sip_header_get(m, "max-forwards", 0);
    if (!mf) {
        *reason = "Missing Max-Forwards header";
        return 400;
    }
    while (*mf == ' ' || *mf == '\t')
        mf++;
    char mfb[16];
    size_t n = strcspn(mf, " \t");
    if (n == 0 || n >= sizeof mfb) {
        *reason = "Malformed Max-Forwards header";
        return 400;
    }
    memcpy(mfb, mf, n);
    mfb[n] = '\0';
    if (!is_number(mfb, 3) || atoi(mfb) > 255) {
        *reason = "Malformed Max-Forwards header";
        return 400;
    }
    return 0;
}

int sip_response_check(const osip_message_t *m)
{
    if (m->status_code < 100 || m->status_code > 699)
        return -1;
    osip_via_t *v = osip_list_get(&m->vias, 0);
    if (!via_usable(v) || !m->from || !m->to || !m->call_id || !m->cseq || !m->cseq->method ||
        !is_number(m->cseq->number, 10))
        return -1;
    return 0;
}

void sip_via_apply_source(osip_message_t *req, const struct sip_source *src)
{
    osip_via_t *v = osip_list_get(&req->vias, 0);
    if (!v)
        return;
    char ip[INET6_ADDRSTRLEN];
    sockaddr_ip_str(&src->peer, ip, sizeof ip);
    osip_generic_param_t *rport = NULL, *received = NULL;
    osip_via_param_get_byname(v, "rport", &rport);
    osip_via_param_get_byname(v, "received", &received);
    /* compare the sent-by host with the source address (IPv6 sent-by may carry brackets) */
    const char *h = v->host;
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    int differs = strlen(ip) != hl || strncasecmp(ip, h, hl) != 0;
    if (differs || rport) {
        if (received) {
            osip_free(received->gvalue);
            received->gvalue = osip_strdup(ip);
        } else {
            osip_via_set_received(v, osip_strdup(ip));
        }
    }
    if (rport) {
        char port[8];
        snprintf(port, sizeof port, "%d", sockaddr_port(&src->peer));
        osip_free(rport->gvalue);
        rport->gvalue = osip_strdup(port);
    }
    osip_message_force_update(req);
}

int sip_response_dest(const osip_message_t *req, const struct sip_source *src, struct sip_source *dst)
{
    *dst = *src;
    if (sip_proto_is_stream(src->proto))
        return 0; /* the same connection; transport falls back to the peer address */
    osip_via_t *v = osip_list_get(&req->vias, 0);
    if (!v)
        return 0; /* no Via (a malformed request): answer the source */
    osip_generic_param_t *rport = NULL, *received = NULL;
    osip_via_param_get_byname(v, "rport", &rport);
    osip_via_param_get_byname(v, "received", &received);
    const char *host = received && received->gvalue ? received->gvalue : v->host;
    int port = 5060;
    if (rport && rport->gvalue && *rport->gvalue)
        port = atoi(rport->gvalue);
    else if (v->port && *v->port)
        port = atoi(v->port);
    if (port <= 0 || port > 65535)
        return -1;
    if (sockaddr_from_host_port(host, strlen(host), port, &dst->peer, &dst->peerlen) < 0) {
        /* a host name we would have to resolve: answer the source instead (RFC 3581 style) */
        *dst = *src;
    }
    return 0;
}

const char *sip_reason_phrase(int code)
{
    switch (code) {
    case 100: return "Trying";
    case 180: return "Ringing";
    case 183: return "Session Progress";
    case 200: return "OK";
    case 202: return "Accepted";
    case 302: return "Moved Temporarily";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Request Entity Too Large";
    case 416: return "Unsupported URI Scheme";
    case 420: return "Bad Extension";
    case 423: return "Interval Too Brief";
    case 480: return "Temporarily Unavailable";
    case 481: return "Call/Transaction Does Not Exist";
    case 482: return "Loop Detected";
    case 483: return "Too Many Hops";
    case 486: return "Busy Here";
    case 487: return "Request Terminated";
    case 489: return "Bad Event";
    case 500: return "Server Internal Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Server Time-out";
    case 505: return "Version Not Supported";
    case 513: return "Message Too Large";
    case 603: return "Decline";
    default:
        if (code < 200) return "Session Progress";
        if (code < 300) return "OK";
        if (code < 400) return "Redirection";
        if (code < 500) return "Client Error";
        if (code < 600) return "Server Error";
        return "Global Failure";
    }
}

osip_message_t *sip_response_new(const osip_message_t *req, int code, const char *reason,
                                  const char *to_tag)
{
    osip_message_t *r;
    if (osip_message_init(&r) != 0)
        return NULL;
    osip_message_set_version(r, osip_strdup("SIP/2.0"));
    osip_message_set_status_code(r, code);
    osip_message_set_reason_phrase(r, osip_strdup(reason ? reason : sip_reason_phrase(code)));
    if (osip_list_clone(&req->vias, &r->vias, (int (*)(void *, void **))osip_via_clone) != 0)
        goto fail;
    if (req->from && osip_from_clone(req->from, &r->from) != 0)
        goto fail;
    if (req->to) {
        if (osip_to_clone(req->to, &r->to) != 0)
            goto fail;
        osip_generic_param_t *tag = NULL;
        osip_to_get_tag(r->to, &tag);
        if (!tag && code > 100 && to_tag)
            osip_to_set_tag(r->to, osip_strdup(to_tag));
    }
    if (req->call_id && osip_call_id_clone(req->call_id, &r->call_id) != 0)
        goto fail;
    if (req->cseq && osip_cseq_clone(req->cseq, &r->cseq) != 0)
        goto fail;
    /* RFC 3261 §12.1.1, as in sip_response_text() */
    if (code > 100 && code < 300 &&
        osip_list_clone(&req->record_routes, &r->record_routes,
                        (int (*)(void *, void **))osip_record_route_clone) != 0)
        goto fail;
    return r;
fail:
    osip_message_free(r);
    return NULL;
}

int sip_serialize(osip_message_t *m, char **out, size_t *len)
{
    *out = NULL;
    if (!m->content_length && osip_list_size(&m->bodies) == 0)
        osip_message_set_content_length(m, "0");
    if (osip_message_to_str(m, out, len) != 0 || !*out)
        return -1;
    return 0;
}

/* xoshiro256** seeded once from the kernel: tags and branches need to be unpredictable enough
 * and unique, not cryptographic, and a getrandom() system call per message costs more than the
 * rest of building a response. */
static uint64_t rng_s[4];
static int rng_seeded;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(void)
{
    if (!rng_seeded) {
        if (getrandom(rng_s, sizeof rng_s, 0) != (ssize_t)sizeof rng_s) {
            for (int i = 0; i < 4; i++)
                rng_s[i] = ((uint64_t)random() << 33) ^ (uint64_t)random() ^ (uint64_t)i;
        }
        rng_s[0] |= 1;
        rng_seeded = 1;
    }
    uint64_t r = rotl(rng_s[1] * 5, 7) * 9, t = rng_s[1] << 17;
    rng_s[2] ^= rng_s[0];
    rng_s[3] ^= rng_s[1];
    rng_s[1] ^= rng_s[2];
    rng_s[0] ^= rng_s[3];
    rng_s[2] ^= t;
    rng_s[3] = rotl(rng_s[3], 45);
    return r;
}

void sip_random_token(char *buf, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i + 1 < n) {
        uint64_t r = rng_next();
        for (int k = 0; k < 16 && i + 1 < n; k++, r >>= 4)
            buf[i++] = hex[r & 15];
    }
    buf[i] = '\0';
}

/* Iterate the comma-separated tokens of every header named lname. cb returns nonzero to stop. */
static int for_each_option(const osip_message_t *m, const char *lname,
                           int (*cb)(const char *tok, size_t len, void *arg), void *arg)
{
    for (int pos = 0;; pos++) {
        const char *v = sip_header_get(m, lname, pos);
        if (!v)
            return 0;
        const char *p = v;
        while (*p) {
            while (*p == ' ' || *p == '\t' || *p == ',')
                p++;
            const char *s = p;
            while (*p && *p != ',')
                p++;
            const char *e = p;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (e > s && cb(s, (size_t)(e - s), arg))
                return 1;
        }
    }
}

struct opt_match {
    const char *option;
    const char *const *known;
    char *buf;
    size_t n;
};

static int match_option(const char *tok, size_t len, void *arg)
{
    struct opt_match *om = arg;
    return strlen(om->option) == len && strncasecmp(tok, om->option, len) == 0;
}

int sip_header_has_option(const osip_message_t *m, const char *lname, const char *option)
{
    struct opt_match om = {.option = option};
    return for_each_option(m, lname, match_option, &om);
}

static int match_unknown(const char *tok, size_t len, void *arg)
{
    struct opt_match *om = arg;
    for (const char *const *k = om->known; *k; k++)
        if (strlen(*k) == len && strncasecmp(tok, *k, len) == 0)
            return 0;
    size_t c = len < om->n - 1 ? len : om->n - 1;
    memcpy(om->buf, tok, c);
    om->buf[c] = '\0';
    return 1;
}

int sip_header_unknown_option(const osip_message_t *m, const char *lname, const char *const *known,
                              char *buf, size_t n)
{
    struct opt_match om = {.known = known, .buf = buf, .n = n};
    return for_each_option(m, lname, match_unknown, &om);
}

/* Copy the header line named name (or its compact form) from raw text into out. */
static size_t copy_raw_header(const char *buf, size_t len, const char *name, const char *compact,
                              char *out, size_t room)
{
    const char *p = buf, *end = buf + len;
    size_t w = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
        size_t ln = n && p[n - 1] == '\r' ? n - 1 : n;
        if (ln == 0)
            break; /* end of headers */
        const char *colon = memchr(p, ':', ln);
        if (colon) {
            size_t nl = (size_t)(colon - p);
            while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
                nl--;
            if ((nl == strlen(name) && strncasecmp(p, name, nl) == 0) ||
                (compact && nl == 1 && tolower((unsigned char)*p) == *compact)) {
                if (w + ln + 2 < room) {
                    memcpy(out + w, p, ln);
                    memcpy(out + w + ln, "\r\n", 2);
                    w += ln + 2;
                }
            }
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    return w;
}

int sip_raw_bad_request(const char *buf, size_t len, const char *reason, char *out, size_t room)
{
    return sip_raw_response(buf, len, 400, reason, NULL, out, room);
}

int sip_raw_response(const char *buf, size_t len, int code, const char *reason,
                     const char *extra_headers, char *out, size_t room)
{
    /* only for something shaped like a request: "TOKEN SP ..." on the first line */
    size_t i = 0;
    while (i < len && i < 32 && is_token_char((unsigned char)buf[i]))
        i++;
    if (i == 0 || i >= len || buf[i] != ' ' || (len >= 4 && memcmp(buf, "SIP/", 4) == 0))
        return -1;
    if (room < 512)
        return -1;
    if (!reason)
        reason = sip_reason_phrase(code);
    size_t extra = extra_headers ? strlen(extra_headers) : 0;
    if (extra > 256)
        return -1;
    size_t w = (size_t)snprintf(out, room, "SIP/2.0 %03d %.100s\r\n", code, reason);
    static const struct {
        const char *name, *compact;
    } hs[] = {{"via", "v"}, {"from", "f"}, {"to", "t"}, {"call-id", "i"}, {"cseq", NULL}};
    size_t limit = room - 64 - extra;
    for (size_t k = 0; k < sizeof hs / sizeof hs[0]; k++)
        w += copy_raw_header(buf, len, hs[k].name, hs[k].compact, out + w, limit - w);
    if (extra) {
        memcpy(out + w, extra_headers, extra);
        w += extra;
    }
    w += (size_t)snprintf(out + w, room - w, "Content-Length: 0\r\n\r\n");
    return (int)w;
}

/* Append "Name: <rendered value>\r\n" using one of oSIP's *_to_str functions. */
#define APPEND_RENDERED(out, name, fn, obj)                                                       \
    do {                                                                                          \
        char *tmp_ = NULL;                                                                        \
        if ((obj) && fn((obj), &tmp_) == 0 && tmp_) {                                             \
            sbuf_puts((out), name ": ");                                                          \
            sbuf_puts((out), tmp_);                                                               \
            sbuf_append((out), "\r\n", 2);                                                        \
        }                                                                                         \
        osip_free(tmp_);                                                                          \
    } while (0)

int sip_response_text(const osip_message_t *req, int code, const char *reason, const char *to_tag,
                      const char *extra_headers, struct sbuf *out)
{
    if (code < 100 || code > 699) /* a status code is three digits (RFC 3261 §7.2) */
        return -1;
    char status[] = "SIP/2.0 000 "; /* built by hand: snprintf cost more than the line is worth */
    status[8] = (char)('0' + code / 100);
    status[9] = (char)('0' + code / 10 % 10);
    status[10] = (char)('0' + code % 10);
    sbuf_append(out, status, sizeof status - 1);
    sbuf_puts(out, reason ? reason : sip_reason_phrase(code));
    sbuf_append(out, "\r\n", 2);
    for (int i = 0;; i++) {
        osip_via_t *v = osip_list_get(&req->vias, i);
        if (!v)
            break;
        APPEND_RENDERED(out, "Via", osip_via_to_str, v);
    }
    APPEND_RENDERED(out, "From", osip_from_to_str, req->from);
    if (req->to) {
        char *tmp = NULL;
        if (osip_to_to_str(req->to, &tmp) == 0 && tmp) {
            sbuf_puts(out, "To: ");
            sbuf_puts(out, tmp);
            osip_generic_param_t *tag = NULL;
            osip_to_get_tag(req->to, &tag);
            if (!tag && code > 100 && to_tag) {
                sbuf_puts(out, ";tag=");
                sbuf_puts(out, to_tag);
            }
            sbuf_append(out, "\r\n", 2);
        }
        osip_free(tmp);
    }
    APPEND_RENDERED(out, "Call-ID", osip_call_id_to_str, req->call_id);
    APPEND_RENDERED(out, "CSeq", osip_cseq_to_str, req->cseq);
    if (code > 100 && code < 300) {
        /* RFC 3261 §12.1.1: a response that may set up a dialog carries the Record-Route values,
         * in order (only dialog-forming requests are record-routed) */
        for (int i = 0;; i++) {
            osip_record_route_t *rr = osip_list_get(&req->record_routes, i);
            if (!rr)
                break;
            APPEND_RENDERED(out, "Record-Route", osip_record_route_to_str, rr);
        }
    }
    if (extra_headers)
        sbuf_puts(out, extra_headers);
    sbuf_puts(out, "Content-Length: 0\r\n\r\n");
    return out->failed ? -1 : 0;
}

int sip_uri_aor(const osip_uri_t *u, char *buf, size_t n)
{
    if (!u || !u->scheme || !u->username || !*u->username || !u->host || !*u->host ||
        (strcasecmp(u->scheme, "sip") != 0 && strcasecmp(u->scheme, "sips") != 0) || n < 8)
        return -1;
    size_t k = 0;
    memcpy(buf, "sip:", 4);
    k = 4;
    /* oSIP has already percent-decoded the user part (decoding again would turn "%2541" into "A") */
    for (const char *p = u->username; *p; p++) {
        int c = (unsigned char)*p;
        /* the AOR is written into headers and CPIM bodies: nothing that could end or break one */
        if (c <= 0x20 || c == 0x7f || c == '"' || c == '<' || c == '>' || c == '@' || c == '\\' ||
            k + 1 >= n)
            return -1;
        buf[k++] = (char)c;
    }
    if (k + 1 >= n)
        return -1;
    buf[k++] = '@';
    const char *h = u->host;
    for (; *h; h++) {
        if (k + 1 >= n || (unsigned char)*h <= 0x20 || *h == 0x7f || *h == '"' || *h == '<' ||
            *h == '>')
            return -1;
        buf[k++] = (char)tolower((unsigned char)*h);
    }
    buf[k] = '\0';
    return 0;
}

const char *sip_tag_of(const osip_from_t *f)
{
    osip_generic_param_t *p = NULL;
    if (f && osip_from_get_tag((osip_from_t *)f, &p) == 0 && p && p->gvalue)
        return p->gvalue;
    return NULL;
}

char *sip_contact_uri(const osip_message_t *m)
{
    osip_contact_t *c = osip_list_get(&m->contacts, 0);
    char *s = NULL;
    if (!c || !c->url || osip_uri_to_str(c->url, &s) != 0)
        return NULL;
    char *r = strdup(s);
    osip_free(s);
    return r;
}
