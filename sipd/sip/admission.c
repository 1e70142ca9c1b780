/* admission.c - bounds and the per-source rate, checked before parsing; see admission.h. */
#include "admission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/log.h"
#include "../base/metrics.h"
#include "../base/ratelimit.h"
#include "../transport/srclimit.h"
#include "msg.h"

struct admission {
    struct admission_config cfg;
    struct ratelimit *requests; /* per source: requests */
    struct ratelimit *rejects;  /* per source: 503 answers */
    struct source_list exempt;
    admission_trust_cb is_trusted; /* admission_set_trusted(), or NULL */
    void *trusted_arg;
    struct metric *m_rate, *m_rate_silent, *m_header_count, *m_header_line, *m_body;
};

struct admission *admission_create(const struct admission_config *cfg, char *err, size_t errlen)
{
    struct admission *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->cfg = *cfg;
    a->cfg.exempt = NULL;
    char lerr[160];
    if (source_list_parse(&a->exempt, cfg->exempt ? cfg->exempt : "", lerr, sizeof lerr) < 0) {
        snprintf(err, errlen, "limits.exempt: %s", lerr);
        free(a);
        return NULL;
    }
    size_t keys = cfg->max_sources ? cfg->max_sources : 1;
    struct ratelimit_config rq = {.rate_per_s = cfg->rate_per_s, .burst = cfg->burst, .max_keys = keys};
    struct ratelimit_config rj = {.rate_per_s = cfg->reject_rate_per_s ? cfg->reject_rate_per_s : 1,
                                  .burst = cfg->reject_rate_per_s ? cfg->reject_rate_per_s : 1,
                                  .max_keys = keys};
    /* no rate limit: no tables (they would be allocated and never used) */
    if (cfg->rate_per_s) {
        a->requests = ratelimit_create(&rq);
        a->rejects = ratelimit_create(&rj);
        if (!a->requests || !a->rejects) {
            snprintf(err, errlen, "out of memory for limits.max_sources=%zu", cfg->max_sources);
            admission_destroy(a);
            return NULL;
        }
    }
    a->m_rate = limit_rejections("rate");
    a->m_rate_silent = limit_rejections("rate_silent");
    a->m_header_count = limit_rejections("header_count");
    a->m_header_line = limit_rejections("header_line");
    a->m_body = limit_rejections("body_size");
    return a;
}

void admission_destroy(struct admission *a)
{
    if (!a)
        return;
    ratelimit_destroy(a->requests);
    ratelimit_destroy(a->rejects);
    free(a);
}

void admission_set_trusted(struct admission *a, admission_trust_cb cb, void *arg)
{
    a->is_trusted = cb;
    a->trusted_arg = arg;
}

enum bound { BOUND_OK, BOUND_HEADERS, BOUND_LINE };

/* One pass over the header lines (start line included) up to the blank line. */
static enum bound header_bounds(const struct admission_config *cfg, const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    unsigned fields = 0;
    int first = 1;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
        if (n > cfg->max_header_line_bytes)
            return BOUND_LINE;
        if (!first && (n == 0 || (n == 1 && p[0] == '\r')))
            break; /* the blank line */
        if (!first && p[0] != ' ' && p[0] != '\t' && ++fields > cfg->max_headers)
            return BOUND_HEADERS;
        first = 0;
        if (!eol)
            break;
        p = eol + 1;
    }
    return BOUND_OK;
}

/* Build a stateless answer to the raw request; ADMIT_DROP when it is not shaped like one. */
static enum admission_verdict answer(const char *buf, size_t hdr, int code, const char *reason,
                                     const char *extra, char *out, size_t room, size_t *out_len)
{
    int n = sip_raw_response(buf, hdr, code, reason, extra, out, room);
    if (n <= 0)
        return ADMIT_DROP;
    *out_len = (size_t)n;
    return ADMIT_ANSWER;
}

enum admission_verdict admission_check(struct admission *a, const struct sip_source *src,
                                       const char *buf, size_t len, size_t hdr_len,
                                       uint64_t now_ms, char *out, size_t room, size_t *out_len)
{
    *out_len = 0;
    int is_response = len >= 4 && strncasecmp(buf, "SIP/", 4) == 0;
    int is_ack = len >= 4 && memcmp(buf, "ACK ", 4) == 0;
    size_t hdr = hdr_len ? hdr_len : len;

    /* the rate first: a flood of anything costs a lookup, not a scan */
    if (a->requests && !is_response && !is_ack && !source_list_match(&a->exempt, &src->peer) &&
        !(a->is_trusted && a->is_trusted(a->trusted_arg, &src->peer))) {
        unsigned char key[SOURCE_KEY_MAX];
        size_t kl = source_addr_key(&src->peer, key);
        uint64_t wait_ms = 0;
        if (kl && !ratelimit_take(a->requests, key, kl, now_ms, &wait_ms)) {
            if (!ratelimit_take(a->rejects, key, kl, now_ms, NULL)) {
                metric_inc(a->m_rate_silent);
                return ADMIT_DROP;
            }
            char extra[48];
            snprintf(extra, sizeof extra, "Retry-After: %llu\r\n",
                     (unsigned long long)((wait_ms + 999) / 1000 ? (wait_ms + 999) / 1000 : 1));
            metric_inc(a->m_rate);
            return answer(buf, hdr, 503, "Rate Limit Exceeded", extra, out, room, out_len);
        }
    }

    enum bound b = header_bounds(&a->cfg, buf, hdr);
    if (b != BOUND_OK) {
        char peer[SOCKADDR_STRLEN];
        LOG_DEBUG("message refused reason=%s bytes=%zu peer=%s:%s",
                  b == BOUND_LINE ? "header-line-too-long" : "too-many-headers", len,
                  sip_proto_name(src->proto), sockaddr_str(&src->peer, peer, sizeof peer));
        metric_inc(b == BOUND_LINE ? a->m_header_line : a->m_header_count);
        if (is_response || is_ack)
            return ADMIT_DROP;
        /* only the lines we copy into the answer, each bounded by the line limit */
        return answer(buf, hdr, 513, b == BOUND_LINE ? "Header Line Too Long" : "Too Many Headers",
                      NULL, out, room, out_len);
    }
    if (hdr_len) {
        size_t body = len - hdr_len;
        size_t max = src->proto == SIP_PROTO_UDP ? a->cfg.max_body_udp_bytes : a->cfg.max_body_tcp_bytes;
        if (body > max) {
            metric_inc(a->m_body);
            if (is_response || is_ack)
                return ADMIT_DROP;
            return answer(buf, hdr_len, 413, NULL, NULL, out, room, out_len);
        }
    }
    return ADMIT_PASS;
}
