/* resolve.h - RFC 3263 server location without blocking the loop.
 *
 * Host names are resolved on a worker thread (the system resolver blocks); answers come back to
 * the loop through an eventfd. For a host name without an explicit port: NAPTR (SIP+D2U /
 * SIP+D2T), then SRV (_sip._udp / _sip._tcp), then A/AAAA on 5060; with a port, A/AAAA only.
 * Numeric hosts never reach the worker. */
#ifndef SIPD_RESOLVE_H
#define SIPD_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "transport.h"

struct loop;
struct resolver;

#define RESOLVE_MAX_RESULTS 8

/* status 0 with n >= 1 destinations in preference order, or -1 (no such host / no answer).
 * dsts is only valid during the call. */
typedef void (*resolve_cb)(void *arg, int status, const struct sip_source *dsts, size_t n);

/* NULL on failure. Caller frees with resolver_destroy(). */
struct resolver *resolver_create(struct loop *loop);
/* Stops the worker; pending lookups are dropped without callbacks. */
void resolver_destroy(struct resolver *r);

/* Look up host (a name or a numeric address). port 0 = not given in the URI; proto -1 = not
 * given (a transport parameter fixes it). cb runs later from the loop (or at once for a
 * numeric host). Returns a request id (> 0) usable with resolver_cancel(), or 0 when cb has
 * already run. */
uint64_t resolver_lookup(struct resolver *r, const char *host, int port, int proto, resolve_cb cb,
                         void *arg);

/* The callback of request id will not run. */
void resolver_cancel(struct resolver *r, uint64_t id);

/* Parse a DNS answer of type SRV or NAPTR (exposed for tests). Fills up to max entries of
 * "target port priority weight" (SRV) or "replacement service order pref" (NAPTR). Returns the
 * count, or -1 when the packet is malformed. */
struct dns_srv {
    char target[256];
    int port, priority, weight;
};
int resolve_parse_srv(const unsigned char *pkt, int len, struct dns_srv *out, int max);

#endif
