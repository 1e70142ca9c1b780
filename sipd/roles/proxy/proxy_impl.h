/* proxy_impl.h - what the proxy's files share (not for other roles): the proxy, one proxied
 * call and its branches.
 *
 *   proxy.c      entry: life cycle, a new request or CANCEL, the location lookup and DNS answers
 *   route.c      routing decisions (route.h), free of sockets and timers
 *   branch.c     forwarding, forking, Timer C, CANCEL of branches, best response (§16.6-16.8)
 *   stateless.c  ACK for a 2xx and stray 2xx responses, forwarded without state (§16.11)
 *
 * One `struct pcall` per proxied server transaction. It owns the target set and one `struct
 * branch` per forwarded copy (a client transaction). It lives until its final response has gone
 * upstream and every branch has a final result; then it detaches from the transactions, which
 * finish on their own (late 2xx retransmissions reach proxy_handle_stray_response()). */
#ifndef SIPD_PROXY_IMPL_H
#define SIPD_PROXY_IMPL_H

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
    struct timer timer_c;
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
    char hostport[2][2][64]; /* [proto][ipv6] our address for Via/Record-Route, "" = not computed */
};

/* proxy.c */
void pcall_free(struct pcall *pc);
/* Send a final (or provisional) response of our own upstream, once. */
void pcall_reply(struct pcall *pc, int code, const char *reason, const char *extra_name,
                 const char *extra_value);

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
