/* uri.h - the SIP helpers every role shares, written once: whether a Request-URI is ours (one
 * rule for every role), the classification of a received request that the server dispatches on,
 * URI equality (RFC 3261 §19.1.4), delta-seconds, the Allow / Allow-Events lists, HTTP-date and
 * +sip.instance values. Nothing here allocates except uri_equal() (oSIP parses the two URIs). */
#ifndef SIPD_SIP_URI_H
#define SIPD_SIP_URI_H

#include <osipparser2/osip_parser.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The methods sipd implements, for Allow (OPTIONS 200, 501). */
#define SIP_ALLOW_METHODS \
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, PRACK, PUBLISH"
/* The event packages the broker role serves, as a complete header line (489, SUBSCRIBE 200). */
#define SIP_ALLOW_EVENTS_LINE "Allow-Events: im, presence\r\n"

/* ---- is a URI ours? --------------------------------------------------------------------------- */

/* What the rule needs to know about this node. */
struct uri_local {
    const char *const *domains; /* --domain, NULL-terminated; NULL or empty when none was given */
    const char *hostname;       /* this machine's name (gethostname), or NULL */
    /* Do we listen at host:port? host NULL = on any of our addresses; port 0 = 5060. A wildcard
     * listener answers for loopback. */
    int (*listens)(void *arg, const char *host, int port);
    void *arg;
};

/* Is host one of the domains (case-insensitive)? */
int uri_domain_listed(const char *const *domains, const char *host);
/* Is host served by a node of these domains: listed, or any host when no domain is given? */
int uri_domain_served(const char *const *domains, const char *host);

/* Does the URI name this node itself: our address (or localhost) and port (absent = 5060)? */
int uri_is_me(const struct uri_local *l, const osip_uri_t *u);

/* Is the URI ours? A host in a --domain is ours; so is our own address and port (uri_is_me).
 * With no --domain, also a URI whose host is one of our addresses or names (a listener's
 * address, loopback when listening on a wildcard, localhost, the hostname) and whose port is
 * absent or one of ours. A URI naming another port is someone else's. */
int uri_is_ours(const struct uri_local *l, const osip_uri_t *u);

/* ---- one classification per request ----------------------------------------------------------- */

enum sip_method_id {
    SIP_M_OTHER,
    SIP_M_INVITE,
    SIP_M_CANCEL,
    SIP_M_OPTIONS,
    SIP_M_REGISTER,
    SIP_M_MESSAGE,
    SIP_M_SUBSCRIBE,
    SIP_M_PUBLISH,
};

/* The Event header (RFC 6665 §8.2.1, the compact form "o" too): pointers into the message. */
struct sip_event {
    const char *value;  /* the whole value, NULL when the request has no Event */
    const char *type;   /* the package name (not NUL-terminated), "" when none */
    size_t type_len;
    const char *params; /* what follows the name (";id=..;since=..") */
};

/* The request's Event header (req NULL: none). */
void sip_event_of(const osip_message_t *req, struct sip_event *ev);
/* Is the event's package `name` (case-insensitive)? */
int sip_event_is(const struct sip_event *ev, const char *name);

/* What the server dispatches a request on, computed once (no allocation; pointers into req). */
struct sip_req_class {
    enum sip_method_id method;
    struct sip_event event; /* SUBSCRIBE and PUBLISH only (value NULL for other methods) */
    int has_to_tag;   /* in a dialog */
    int has_username; /* the Request-URI names a user */
    int is_ours;      /* the Request-URI is ours (uri_is_ours; a REGISTER always with no --domain) */
    int routed_away;  /* a Route set leads elsewhere: more than one Route, or one not naming us */
    int has_route;    /* any Route at all */
};

/* Classify a request that passed sip_request_check(). */
void sip_classify(const struct uri_local *l, const osip_message_t *req, struct sip_req_class *c);

/* ---- small helpers ------------------------------------------------------------------------------ */

/* Compare two URIs per RFC 3261 §19.1.4 (simplified: scheme, user, password, host, port, and the
 * transport/user/maddr/ttl/method parameters). Returns 1 when equal. */
int uri_equal(const char *a, const char *b);

/* delta-seconds (RFC 3261 §25.1) in p[0..len), SP/HTAB around it allowed, clamped at INT32_MAX.
 * Returns the value, or -1 when malformed. */
int sip_delta_seconds(const char *p, size_t len);

/* Seconds since the epoch (wall clock: expiry times stored and shared with other nodes). */
static inline int64_t sip_now_s(void) { return (int64_t)time(NULL); }

/* RFC 1123 date as HTTP and SIP's Date header want it ("Thu, 03 Dec 2026 10:00:00 GMT"). */
void sip_http_date(int64_t t, char *buf, size_t n);

/* A +sip.instance parameter value without its quotes and angle brackets ("\"<urn:x>\"" ->
 * "urn:x"): sets *start, returns the length. */
size_t sip_instance_trim(const char *v, const char **start);

/* The trimmed +sip.instance of the request's first Contact into buf (truncated), "" when none. */
void sip_contact_instance(const osip_message_t *m, char *buf, size_t n);

#endif
