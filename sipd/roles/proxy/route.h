/* route.h - the proxy's routing decisions (RFC 3261 §16.3-16.5), kept free of sockets, timers
 * and the store so that they can be tested from a parsed request alone.
 *
 * What is ours (a local domain, or our own address and port), request validation (Max-Forwards,
 * Proxy-Require, loops), the route set (our own Route entries removed, a strict-routing previous
 * hop undone, a strict-routing next hop given the Request-URI), and what the location service's
 * bindings become: targets to fork to, 302 in redirect mode, 404 or 480. Nothing here sends,
 * waits or allocates beyond the strings a plan hands out. */
#ifndef SIPD_PROXY_ROUTE_H
#define SIPD_PROXY_ROUTE_H

#include <osipparser2/osip_parser.h>
#include <stdint.h>

#include "../../sip/uri.h"
#include "../../transport/transport.h"

struct binding;
struct sbuf;

/* What the decisions need to know about this node. */
struct route_ctx {
    const struct uri_local *local;       /* our domains, addresses and names (sip/uri.h) */
    const char *const *redirect_domains; /* domains answered in redirect mode, or NULL */
    int redirect_all;                    /* every local user answered with 302 */
    int record_route;                    /* Record-Route dialog-forming requests */
    int edge;                            /* the balancer's edge mode (a request with no Route
                                          * left after ours is ROUTE_EDGE, whatever its URI) */
    /* Is this TCP connection still open? (transport_conn_alive) */
    int (*conn_alive)(void *arg, uint64_t conn_id);
    void *arg;
};


/* How the forwarded request differs from the received one in its Request-URI and Route
 * (edits for sip_rewrite_request()). new_ruri and append_route are malloc'd; route_fwd_clear()
 * frees them. */
struct route_fwd {
    char *new_ruri;          /* strict routing changed the Request-URI: the new one, else NULL */
    char *append_route;      /* a strict next hop: the old Request-URI as a last Route, else NULL */
    int drop_routes;         /* Route values removed from the top (ours; a strict next hop's) */
    int drop_last_route;     /* the last Route value removed (a strict previous hop, §16.4) */
    unsigned long loop_hash; /* what identifies the request as forwarded (§16.6 item 8) */
};
void route_fwd_clear(struct route_fwd *f);

enum route_action {
    ROUTE_REJECT,   /* answer code/reason (+ one extra header) */
    ROUTE_LOCATION, /* a user of ours: look aor up in the location service */
    ROUTE_NEXT_HOP, /* resolve host/port/proto (RFC 3263) and forward there */
    ROUTE_EDGE,     /* edge mode, no Route left: to a client's flow, a node, or the Request-URI
                     * (host/port/proto as for ROUTE_NEXT_HOP, when usable) -- proxy/edge.c */
};

/* The `flow` parameter of the last Route entry of ours that preprocessing removed (the
 * balancer's own Path / Record-Route entry, cluster/flow.h), "" when none. */
#define ROUTE_FLOW_MAX 72
/* Its `topic` parameter (an im subscription's dialog, cluster/flow.h), as received, "" = none. */
#define ROUTE_TOPIC_MAX 256

struct route_plan {
    enum route_action action;
    int code;                 /* ROUTE_REJECT */
    const char *reason;       /* NULL = the default phrase */
    const char *extra_name, *extra_value;
    char extra_buf[64];       /* extra_value's storage when it is built here */
    char aor[256];            /* ROUTE_LOCATION: "sip:user@host", scheme and host lowercased */
    int is_redirect;          /* ROUTE_LOCATION: answer 302 with the bindings */
    char host[256];           /* ROUTE_NEXT_HOP: maddr or host, [] removed */
    int port;                 /* 0 = none given */
    int proto;                /* -1 = none given */
    int record_route;         /* add our Record-Route (a dialog-forming request, §16.6 step 4) */
    char flow[ROUTE_FLOW_MAX]; /* see ROUTE_FLOW_MAX */
    char topic[ROUTE_TOPIC_MAX]; /* see ROUTE_TOPIC_MAX (edge mode only) */
    int hop_ok;               /* ROUTE_EDGE: host/port/proto name the Request-URI's hop */
    struct route_fwd fwd;     /* owned by the plan until taken */
};

/* Decide what to do with a new request (not ACK, not CANCEL): §16.3 validation, then §16.4
 * route preprocessing and the target (route set, location service or the Request-URI). Fills
 * *p; returns 0, or -1 when out of memory (p->fwd cleared). */
int route_decide(const struct route_ctx *c, const osip_message_t *req, struct route_plan *p);

/* Where an ACK for a 2xx goes (§16.11, stateless): the next hop as an address (no DNS) and
 * the edits (our Route entries removed, a strict previous hop undone; fwd.loop_hash unset).
 * Returns 0, or -1 when it is to be dropped (Max-Forwards used up, for us, no usable hop). */
int route_decide_ack(const struct route_ctx *c, const osip_message_t *ack, struct sip_source *dst,
                     struct route_fwd *fwd);
/* Edge mode: the same, and flow[ROUTE_FLOW_MAX] gets the flow of our last removed Route entry
 * (see ROUTE_FLOW_MAX) when no Route is left after ours, else "". */
int route_decide_ack_edge(const struct route_ctx *c, const osip_message_t *ack, struct sip_source *dst,
                          struct route_fwd *fwd, char *flow);

/* One place a request is forked to. */
struct target {
    char *uri;             /* Request-URI for this branch (malloc'd), NULL = keep */
    char *path;            /* Path of the binding (becomes Route; malloc'd), or NULL */
    struct sip_source dst; /* next hop */
    int q;                 /* q*1000, -1 = none (counts as 1000) */
    int nid;               /* edge: the cluster node (0 = not a node) */
};

/* What a location lookup's bindings (b[0..n), q descending) become. aor_known: the user has
 * registered before (asked only when n == 0). Returns 0 with the targets in t[0..*nt) (the
 * caller frees their strings), or the final response: 302 with its Contact lines in contacts,
 * 404 (unknown user), 480 (no binding, or none reachable; *reason set then). */
int route_targets(const struct route_ctx *c, const struct binding *b, size_t n, int aor_known,
                  int is_redirect, int64_t now, struct target *t, size_t max, size_t *nt,
                  struct sbuf *contacts, const char **reason);

/* RFC 3261 §26.2 / RFC 5630 §3.1.3: a request for a sips: URI travels over TLS on every hop.
 * Keep the targets t[0..*nt) reached over TLS (a TLS flow, a sips: or transport=tls contact),
 * freeing the others' strings; returns how many are left in *nt. */
size_t route_targets_keep_tls(struct target *t, size_t *nt);
/* Is u a sips: URI? */
int route_uri_is_sips(const osip_uri_t *u);

/* The hop a URI names: maddr or host, port (0 = none given), transport (-1 = none given; sips
 * means TLS). "localhost" is 127.0.0.1. Returns 0 or -1. */
int route_uri_hop(const osip_uri_t *u, char *host, size_t hn, int *port, int *proto);

#endif
