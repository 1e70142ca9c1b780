/* addr.c - address helpers; see addr.h. */
#include "addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/sbuf.h"

const char *sip_proto_name(enum sip_proto p)
{
    return p == SIP_PROTO_TCP ? "tcp" : p == SIP_PROTO_TLS ? "tls" : "udp";
}
const char *sip_proto_via_name(enum sip_proto p)
{
    return p == SIP_PROTO_TCP ? "TCP" : p == SIP_PROTO_TLS ? "TLS" : "UDP";
}
const char *sip_proto_uri_param(enum sip_proto p)
{
    return p == SIP_PROTO_TCP ? ";transport=tcp" : p == SIP_PROTO_TLS ? ";transport=tls" : "";
}

int sip_proto_from_param(const char *value)
{
    if (!value)
        return -1;
    if (strcasecmp(value, "udp") == 0)
        return SIP_PROTO_UDP;
    if (strcasecmp(value, "tcp") == 0)
        return SIP_PROTO_TCP;
    if (strcasecmp(value, "tls") == 0)
        return SIP_PROTO_TLS;
    return -1;
}

int sockaddr_from_host_port(const char *host, size_t host_len, int port, struct sockaddr_storage *out,
                            socklen_t *len)
{
    char h[INET6_ADDRSTRLEN + 2];
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    if (host_len == 0 || host_len >= sizeof h || port < 0 || port > 65535)
        return -1;
    memcpy(h, host, host_len);
    h[host_len] = '\0';
    memset(out, 0, sizeof *out);
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, h, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, h, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        return 0;
    }
    return -1;
}

int sip_endpoint_parse(const char *s, struct sip_endpoint *out)
{
    if (strncmp(s, "udp:", 4) == 0)
        out->proto = SIP_PROTO_UDP;
    else if (strncmp(s, "tcp:", 4) == 0)
        out->proto = SIP_PROTO_TCP;
    else if (strncmp(s, "tls:", 4) == 0)
        out->proto = SIP_PROTO_TLS;
    else
        return -1;
    s += 4;
    const char *colon = strrchr(s, ':');
    if (out->proto == SIP_PROTO_TLS && *s && (!colon || (s[0] == '[' && colon < strrchr(s, ']'))))
        return sockaddr_from_host_port(s, strlen(s), 5061, &out->addr, &out->addrlen);
    if (!colon || colon == s)
        return -1;
    if (s[0] == '[' && colon[-1] != ']')
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return -1;
    return sockaddr_from_host_port(s, (size_t)(colon - s), (int)port, &out->addr, &out->addrlen);
}

/* Dotted quad by hand: glibc's inet_ntop formats IPv4 with sprintf, and a request's source is
 * formatted several times on its way (Via received, the binding's source). */
static void ipv4_str(const struct in_addr *in, char *buf)
{
    const unsigned char *b = (const unsigned char *)&in->s_addr;
    size_t o = 0;
    for (int i = 0; i < 4; i++) {
        if (i)
            buf[o++] = '.';
        o += str_u64(buf + o, b[i]);
    }
}

char *sockaddr_ip_str(const struct sockaddr_storage *a, char *buf, size_t n)
{
    buf[0] = '\0';
    if (a->ss_family == AF_INET && n >= INET_ADDRSTRLEN)
        ipv4_str(&((const struct sockaddr_in *)a)->sin_addr, buf);
    else if (a->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, buf, (socklen_t)n);
    else if (a->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, buf, (socklen_t)n);
    return buf;
}

int sockaddr_port(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)a)->sin_port);
    if (a->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    return 0;
}

char *sockaddr_str(const struct sockaddr_storage *a, char *buf, size_t n)
{
    char ip[INET6_ADDRSTRLEN], port[STR_U64_MAX];
    sockaddr_ip_str(a, ip, sizeof ip);
    str_u64(port, (unsigned)sockaddr_port(a));
    int is_v6 = a->ss_family == AF_INET6;
    const char *parts[] = {is_v6 ? "[" : "", ip, is_v6 ? "]:" : ":", port};
    str_join(buf, n, parts, 4);
    return buf;
}

int sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    return 0;
}
