/* flow.c - flow tokens; see flow.h. */
#include "flow.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../transport/addr.h"

static void hex(char *out, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

int flow_encode(const struct sip_source *src, char *buf, size_t n)
{
    char addr[33];
    int port;
    if (src->peer.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)&src->peer;
        hex(addr, (const unsigned char *)&a->sin_addr, 4);
        port = ntohs(a->sin_port);
    } else if (src->peer.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)&src->peer;
        hex(addr, (const unsigned char *)&a->sin6_addr, 16);
        port = ntohs(a->sin6_port);
    } else {
        return -1;
    }
    int w = sip_proto_is_stream(src->proto)
                ? snprintf(buf, n, "%c-%llx-%s-%x", src->proto == SIP_PROTO_TLS ? 's' : 't',
                           (unsigned long long)src->conn_id, addr, port)
                : snprintf(buf, n, "u-%s-%x", addr, port);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

/* Hex digits [s, s+len) into out (len/2 bytes). Returns 0 or -1. */
static int unhex(const char *s, size_t len, unsigned char *out)
{
    for (size_t i = 0; i < len; i += 2) {
        int v = 0;
        for (size_t k = 0; k < 2; k++) {
            char c = s[i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        out[i / 2] = (unsigned char)v;
    }
    return 0;
}

/* One hex number of at most maxd digits, ending in '-' (or the end of the token when last). */
static int field(const char **p, unsigned long long *v, size_t maxd, int last)
{
    const char *s = *p;
    size_t d = strspn(s, "0123456789abcdefABCDEF");
    if (d == 0 || d > maxd || s[d] != (last ? '\0' : '-'))
        return -1;
    char tmp[24];
    memcpy(tmp, s, d);
    tmp[d] = '\0';
    *v = strtoull(tmp, NULL, 16);
    *p = s[d] ? s + d + 1 : s + d;
    return 0;
}

int flow_decode(const char *tok, struct sip_source *dst)
{
    memset(dst, 0, sizeof *dst);
    dst->udp_fd = -1;
    if (!tok || (tok[0] != 'u' && tok[0] != 't' && tok[0] != 's') || tok[1] != '-')
        return -1;
    const char *p = tok + 2;
    unsigned long long conn = 0, port;
    if (tok[0] != 'u' && field(&p, &conn, 16, 0) < 0)
        return -1;
    size_t alen = strcspn(p, "-");
    if ((alen != 8 && alen != 32) || p[alen] != '-')
        return -1;
    unsigned char a[16];
    if (unhex(p, alen, a) < 0)
        return -1;
    p += alen + 1;
    if (field(&p, &port, 4, 1) < 0 || port == 0 || port > 65535)
        return -1;
    if (alen == 8) {
        struct sockaddr_in *s = (void *)&dst->peer;
        s->sin_family = AF_INET;
        memcpy(&s->sin_addr, a, 4);
        s->sin_port = htons((uint16_t)port);
        dst->peerlen = sizeof *s;
    } else {
        struct sockaddr_in6 *s = (void *)&dst->peer;
        s->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, a, 16);
        s->sin6_port = htons((uint16_t)port);
        dst->peerlen = sizeof *s;
    }
    dst->proto = tok[0] == 't' ? SIP_PROTO_TCP : tok[0] == 's' ? SIP_PROTO_TLS : SIP_PROTO_UDP;
    dst->conn_id = conn;
    return 0;
}

int flow_same(const struct sip_source *a, const struct sip_source *src)
{
    if (a->proto != src->proto)
        return 0;
    if (sip_proto_is_stream(a->proto) && a->conn_id && src->conn_id)
        return a->conn_id == src->conn_id;
    return sockaddr_equal(&a->peer, &src->peer);
}

/* RFC 3261 paramchar without escaped: unreserved / param-unreserved. */
static int is_paramchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-_.!~*'()[]/:&+$", c));
}

int flow_topic_encode(const char *topic, char *buf, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)topic; *p; p++) {
        if (is_paramchar(*p)) {
            if (k + 1 >= n)
                return -1;
            buf[k++] = (char)*p;
        } else {
            if (k + 3 >= n)
                return -1;
            buf[k++] = '%';
            buf[k++] = digits[*p >> 4];
            buf[k++] = digits[*p & 15];
        }
    }
    if (k >= n)
        return -1;
    buf[k] = '\0';
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int flow_topic_decode(const char *value, char *buf, size_t n)
{
    size_t k = 0;
    for (const char *p = value; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
            if (lo < 0)
                return -1;
            c = hi << 4 | lo;
            p += 2;
        }
        if (c == 0 || k + 1 >= n)
            return -1;
        buf[k++] = (char)c;
    }
    if (n == 0)
        return -1;
    buf[k] = '\0';
    return 0;
}
