/* proxy.h - the proxy role: RFC 3261 §16 stateful proxy on the transaction layer, with the
 * redirect behaviour (302 with the bindings) as a mode.
 *
 * Location lookup for the local domains, parallel forking within a q-value group and sequential
 * between groups, best-response selection (§16.7) with 401/407 challenges merged, 2xx forwarded
 * at once, CANCEL of pending branches, Timer C, Record-Route (double when the transport
 * changes), loose routing with strict-routing neighbours either side, Path honoured, loop
 * detection by branch, Max-Forwards and Proxy-Require checks. Everything forwarded is edited as
 * text from the bytes received (sip/rewrite.h). The files of the role: see proxy_impl.h. */
#ifndef SIPD_PROXY_H
#define SIPD_PROXY_H

#include <osipparser2/osip_parser.h>

#include "../../transport/transport.h"

struct cluster;
struct loop;
struct proxy;
struct sip_txn;
struct store;
struct txn_layer;
struct uri_local;

struct proxy_config {
    int record_route;            /* Record-Route dialog-forming requests (default on) */
    int redirect_all;            /* answer 302 with the bindings instead of proxying */
    const struct uri_local *local; /* what is ours (sip/uri.h); must outlive the proxy */
    const char *const *redirect_domains; /* domains answered in redirect mode (NULL-terminated) */
    unsigned timer_c_ms;         /* INVITE branch without a final response for this long: CANCEL */
    /* The balancer's edge mode (proxy/edge.c) when set: initial requests go to cluster nodes,
     * with failover; Path and Record-Route carry the client's flow. Must outlive the proxy. */
    struct cluster *cluster;
    unsigned failover_ms;        /* edge: a node silent this long is skipped for the next one */
    int track_dialogs;           /* keep the calls it record-routes (proxy_dialogs), for a drain */
};

/* Caller frees with proxy_destroy(). cfg's strings must outlive the proxy. */
struct proxy *proxy_create(struct loop *loop, struct transport *tp, struct txn_layer *tl,
                           struct store *st, const struct proxy_config *cfg);
/* Abandons every call in progress (no messages sent). */
void proxy_destroy(struct proxy *px);

/* A new request (not ACK, not CANCEL) in its server transaction; ends in a final response. */
void proxy_handle_request(struct proxy *px, struct sip_txn *t);
/* A CANCEL in its server transaction: 200 (or 481) and the branches of its INVITE cancelled. */
void proxy_handle_cancel(struct proxy *px, struct sip_txn *t);
/* An ACK for a 2xx (end-to-end): routed statelessly. Takes ownership of ack; raw/raw_len are
 * the bytes it was parsed from (edited as text to forward it; NULL: not forwarded). */
void proxy_handle_ack(struct proxy *px, osip_message_t *ack, const struct sip_source *src,
                      const char *raw, size_t raw_len);
/* The balancer's edge mode: an in-dialog request other than INVITE, ACK, CANCEL and SUBSCRIBE
 * (a BYE, a NOTIFY, an UPDATE) is forwarded without a transaction along its route set or to a client's
 * flow (RFC 3261 §16.11): the ends retransmit, the node holds the transaction. Returns 1 when
 * forwarded (req freed), 0 when it must go the stateful way (req untouched). */
int proxy_forward_in_dialog(struct proxy *px, osip_message_t *req, const struct sip_source *src,
                            const char *raw, size_t raw_len);
/* A response no client transaction took: a 2xx to INVITE, or any answer to what we forwarded
 * without a transaction, is forwarded statelessly per its next Via (§16.7 / RFC 6026, §16.11);
 * anything else is dropped. raw/raw_len are the bytes it was parsed from
 * (edited as text to forward it). The caller frees resp (which may be modified). */
void proxy_handle_stray_response(struct proxy *px, osip_message_t *resp, const char *raw,
                                 size_t raw_len);

/* Calls (server transactions being proxied) in progress. */
size_t proxy_calls(const struct proxy *px);

/* INVITE dialogs this proxy record-routed and has not seen end (roles/proxy/dialogs.c): what a
 * draining node still holds once its transactions are done. Counted only with track_dialogs. */
size_t proxy_dialogs(const struct proxy *px);

#endif
