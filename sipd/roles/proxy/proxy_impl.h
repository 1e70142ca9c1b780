/* proxy_impl.h - what the proxy's files share (not for other roles): the proxy, one proxied
 * call and its branches.
 *
 *   proxy.c      entry: life cycle, a new request or CANCEL, the location lookup and DNS answers
 *   route.c      routing decisions (route.h), free of sockets and timers
 *   branch.c     forwarding, forking, Timer C, CANCEL of branches, best response (§16.6-16.8)
 *   stateless.c  ACK for a 2xx and stray 2xx responses, forwarded without state (§16.11)
 *   edge.c       the balancer's edge mode: which node or client flow a request goes to
 *   dialogs.c    the calls it record-routed, until their BYE (what a draining node waits for)
 *
 * One `struct pcall` per proxied server transaction. It owns the target set and one `struct
 * branch` per forwarded copy (a client transaction). It lives until its final response has gone
 * upstream and every branch has a final result; then it detaches from the transactions, which
 * finish on their own (late 2xx retransmissions reach proxy_handle_stray_response()). */
#ifndef SIPD_PROXY_IMPL_H
#define SIPD_PROXY_IMPL_H

#include "../../base/hmap.h"
#include "../../base/sbuf.h"
#include "../../base/timers.h"
#include "proxy.h"
#include "route.h"

#define MAX_TARGETS 32

struct pcall;

struct branch {
    struct pcall *pc;
    struct sip_txn *ct; /* the client transaction; NULL once it is freed */
    int code;           /* final code, 0 while pending */
    int got_provisional;
    int cancel_wanted;  /* CANCEL once a provisional arrives (§9.1) */
    int cancel_sent;
    int retryable;      /* edge: failed so that the next node is tried (timeout, transport, 503) */
    int nid;            /* edge: the node it went to, while it counts as in flight there */
    struct timer timer_c;
    struct timer timer_fo; /* edge: no answer at all from the node within failover_ms */
};

struct pcall {
    struct proxy *px;
    struct sip_txn *st;   /* the server transaction; NULL once it is gone */
    int is_invite;
    int record_route;
    int is_redirect;      /* answer the location lookup with 302 */
    struct route_fwd fwd; /* how every forwarded copy differs in Request-URI and Route */
    struct target targets[MAX_TARGETS];
    size_t ntargets, next_target;
    struct branch *br[MAX_TARGETS];
    size_t nbr;
    int best_code;
    char *best;           /* serialised best final response so far (our Via removed) */
    size_t best_len;
    struct sbuf challenges; /* WWW-/Proxy-Authenticate lines of every 401/407 */
    int final_sent;
    int answered;         /* a 2xx went upstream */
    int cancelled;
    int got_6xx;
    int lookup_pending;
    int failover;         /* edge: targets are nodes, tried in turn while they fail (edge.c) */
    int add_path;         /* edge: a REGISTER from a client gets our Path with its flow */
    char flow[ROUTE_FLOW_MAX]; /* edge: the client's flow, put in our Path / Record-Route */
    char rr_topic[ROUTE_TOPIC_MAX]; /* edge: an im SUBSCRIBE's topic (encoded), in our Record-Route */
    uint64_t resolve_id;  /* a DNS lookup in flight */
    char aor[256];
    struct pcall *prev, *next;
};

struct proxy {
    struct loop *loop;
    struct transport *tp;
    struct txn_layer *tl;
    struct store *store;
    struct proxy_config cfg;
    struct route_ctx route; /* cfg's domains and our addresses, for route.c */
    struct pcall *calls;
    size_t ncalls;
    struct pcall *spare; /* freed calls kept for reuse (proxy.c), linked by next */
    size_t nspare;
    struct sbuf copy_buf; /* each forwarded copy is built here (branch.c), then copied by txn */
    struct resolver *resolver;
    char hostport[3][2][64]; /* [proto][ipv6] our address for Via/Record-Route, "" = not computed */
    struct hmap dialogs;     /* dialogs.c: key -> int64_t* last request (unix s) */
    struct timer dialogs_timer;
};

/* proxy.c */
void pcall_free(struct pcall *pc);
/* Send a final (or provisional) response of our own upstream, once. */
void pcall_reply(struct pcall *pc, int code, const char *reason, const char *extra_name,
                 const char *extra_value);

/* dialogs.c */
/* A 2xx to an INVITE we record-routed: its dialog is one of ours. */
void proxy_dialog_add(struct proxy *px, const osip_message_t *resp);
/* An in-dialog request passing: a BYE ends its dialog, anything else keeps it alive. */
void proxy_dialog_request(struct proxy *px, const osip_message_t *req);
void proxy_dialogs_expire(struct proxy *px, int64_t now);
void proxy_dialogs_clear(struct proxy *px);

/* edge.c */
/* The branch has its final result (or is given up): no longer in flight at its node. */
void edge_branch_done(struct branch *b);
/* Start pc (plan p, action ROUTE_EDGE) toward a client's flow or a node. Returns 1 when the
 * request goes to the Request-URI's hop instead (p->host..., resolved by the caller as for
 * ROUTE_NEXT_HOP), else 0 (started or answered; pc may be freed when this returns). */
int edge_route(struct pcall *pc, const struct route_plan *p);
/* ACK for a 2xx in edge mode: where it goes (our flow, else dst). Returns 0, -1 to drop. */
int edge_ack_dest(struct proxy *px, const char *flow, const struct sip_source *src,
                  struct sip_source *dst);

/* branch.c */
/* Start every target of the next q-value group (parallel within, sequential between groups). */
void pcall_start_next_group(struct pcall *pc);
/* Every branch done and nothing left to try: answer upstream and free pc. */
void pcall_check_done(struct pcall *pc);
/* CANCEL every pending INVITE branch (§16.10). */
void pcall_cancel_branches(struct pcall *pc);
/* Our address for Via / Record-Route for transport proto toward `like` (cached). */
void proxy_hostport(const struct proxy *px, enum sip_proto proto,
                    const struct sockaddr_storage *like, char *buf, size_t n);

#endif
