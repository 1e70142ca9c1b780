/* addr.h - socket addresses and transport endpoints ("udp:127.0.0.1:5060", "tcp:[::1]:5060",
 * "tls:127.0.0.1:5061"). */
#ifndef SIPD_ADDR_H
#define SIPD_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

/* TLS is a stream transport like TCP: it shares the connection table and the framing
 * (transport/tls.h); everything that asks "is this a connection?" asks sip_proto_is_stream(). */
enum sip_proto { SIP_PROTO_UDP = 0, SIP_PROTO_TCP = 1, SIP_PROTO_TLS = 2 };

static inline int sip_proto_is_stream(enum sip_proto p) { return p != SIP_PROTO_UDP; }

struct sip_endpoint {
    enum sip_proto proto;
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

const char *sip_proto_name(enum sip_proto p);      /* "udp" / "tcp" / "tls" */
const char *sip_proto_via_name(enum sip_proto p);  /* "UDP" / "TCP" / "TLS" */
/* The URI parameter a Contact / Record-Route / Path of ours carries for p: "" for UDP (the
 * default), ";transport=tcp", ";transport=tls". */
const char *sip_proto_uri_param(enum sip_proto p);
/* A URI's transport parameter value ("udp", "TCP", "tls", case-insensitive) -> proto, or -1
 * when NULL or another transport. */
int sip_proto_from_param(const char *value);
/* The port a URI without one means: 5061 for TLS (and sips:), else 5060 (RFC 3261 §19.1.2). */
static inline int sip_proto_default_port(enum sip_proto p) { return p == SIP_PROTO_TLS ? 5061 : 5060; }

/* Parse "udp:HOST:PORT" / "tcp:[V6]:PORT" / "tls:HOST:PORT" (numeric addresses only; a TLS
 * endpoint's port may be left out: 5061). Returns 0 or -1. */
int sip_endpoint_parse(const char *s, struct sip_endpoint *out);

/* Parse a numeric host ("1.2.3.4", "::1", "[::1]") and port into out. Returns 0 or -1. */
int sockaddr_from_host_port(const char *host, size_t host_len, int port, struct sockaddr_storage *out,
                            socklen_t *len);

/* "1.2.3.4" / "::1" (no brackets) into buf. Returns buf. */
char *sockaddr_ip_str(const struct sockaddr_storage *a, char *buf, size_t n);
int sockaddr_port(const struct sockaddr_storage *a);
/* "1.2.3.4:5060" / "[::1]:5060". Returns buf. */
char *sockaddr_str(const struct sockaddr_storage *a, char *buf, size_t n);
int sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

#define SOCKADDR_STRLEN 64

#endif
