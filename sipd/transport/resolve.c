/* resolve.c - RFC 3263 lookups on a worker thread; see resolve.h. */
#include "resolve.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../base/log.h"
#include "../base/loop.h"

struct rreq {
    struct rreq *next;
    uint64_t id;
    char host[256];
    int port, proto;
    resolve_cb cb;
    void *arg;
    int cancelled;
    int status;
    struct sip_source dsts[RESOLVE_MAX_RESULTS];
    size_t n;
};

struct resolver {
    struct loop *loop;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct rreq *todo_head, *todo_tail; /* for the worker */
    struct rreq *done;                  /* for the loop */
    struct rreq *inflight;              /* the one the worker holds (for cancel) */
    int efd;
    int stopping;
    int started;        /* the worker thread runs (from the first lookup on) */
    uint64_t next_id;
};

/* ---- DNS answer parsing ------------------------------------------------------------------ */

int resolve_parse_srv(const unsigned char *pkt, int len, struct dns_srv *out, int max)
{
    ns_msg msg;
    if (ns_initparse(pkt, len, &msg) < 0)
        return -1;
    int n = 0, count = ns_msg_count(msg, ns_s_an);
    for (int i = 0; i < count && n < max; i++) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
            return -1;
        if (ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7)
            continue;
        const unsigned char *rd = ns_rr_rdata(rr);
        out[n].priority = ns_get16(rd);
        out[n].weight = ns_get16(rd + 2);
        out[n].port = ns_get16(rd + 4);
        if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), rd + 6, out[n].target,
                               sizeof out[n].target) < 0)
            return -1;
        n++;
    }
    return n;
}

/* NAPTR answers: the replacement of the best record for each SIP service. */
struct naptr {
    int order, pref;
    int proto; /* SIP_PROTO_UDP / SIP_PROTO_TCP */
    char replacement[256];
};

static int parse_naptr(const unsigned char *pkt, int len, struct naptr *out, int max)
{
    ns_msg msg;
    if (ns_initparse(pkt, len, &msg) < 0)
        return -1;
    int n = 0, count = ns_msg_count(msg, ns_s_an);
    for (int i = 0; i < count && n < max; i++) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
            return -1;
        if (ns_rr_type(rr) != ns_t_naptr || ns_rr_rdlen(rr) < 7)
            continue;
        const unsigned char *rd = ns_rr_rdata(rr), *end = rd + ns_rr_rdlen(rr), *p = rd + 4;
        char strs[3][256];
        for (int k = 0; k < 3; k++) { /* flags, services, regexp */
            if (p >= end || p + 1 + *p > end)
                return -1;
            memcpy(strs[k], p + 1, *p);
            strs[k][*p] = '\0';
            p += 1 + *p;
        }
        int proto;
        if (strcasecmp(strs[1], "SIP+D2U") == 0)
            proto = SIP_PROTO_UDP;
        else if (strcasecmp(strs[1], "SIP+D2T") == 0)
            proto = SIP_PROTO_TCP;
        else
            continue; /* SIPS, SCTP, ENUM...: not ours */
        if (strchr(strs[0], 's') == NULL && strchr(strs[0], 'S') == NULL)
            continue; /* we only follow terminal SRV records */
        out[n].order = ns_get16(rd);
        out[n].pref = ns_get16(rd + 2);
        out[n].proto = proto;
        if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), p, out[n].replacement,
                               sizeof out[n].replacement) < 0)
            return -1;
        n++;
    }
    return n;
}

/* ---- the worker ----------------------------------------------------------------------------- */

static void add_addrinfo(struct rreq *q, const char *host, int port, int proto)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0)
        return;
    for (struct addrinfo *a = res; a && q->n < RESOLVE_MAX_RESULTS; a = a->ai_next) {
        struct sip_source *d = &q->dsts[q->n++];
        memset(d, 0, sizeof *d);
        d->proto = proto;
        d->udp_fd = -1;
        memcpy(&d->peer, a->ai_addr, a->ai_addrlen);
        d->peerlen = a->ai_addrlen;
    }
    freeaddrinfo(res);
}

static int cmp_srv(const void *a, const void *b)
{
    const struct dns_srv *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority - y->priority;
    return y->weight - x->weight;
}

static int srv_lookup(struct rreq *q, const char *name, int proto)
{
    unsigned char ans[4096];
    int len = res_query(name, ns_c_in, ns_t_srv, ans, sizeof ans);
    if (len <= 0)
        return 0;
    struct dns_srv srv[RESOLVE_MAX_RESULTS];
    int n = resolve_parse_srv(ans, len, srv, RESOLVE_MAX_RESULTS);
    if (n <= 0)
        return 0;
    qsort(srv, (size_t)n, sizeof srv[0], cmp_srv);
    for (int i = 0; i < n; i++)
        add_addrinfo(q, srv[i].target, srv[i].port, proto);
    return q->n > 0;
}

static int cmp_naptr(const void *a, const void *b)
{
    const struct naptr *x = a, *y = b;
    return x->order != y->order ? x->order - y->order : x->pref - y->pref;
}

static void resolve_one(struct rreq *q)
{
    int proto = q->proto < 0 ? SIP_PROTO_UDP : q->proto;
    if (q->port > 0) { /* RFC 3263 §4.2: an explicit port means A/AAAA only */
        add_addrinfo(q, q->host, q->port, proto);
        return;
    }
    if (q->proto < 0) {
        unsigned char ans[4096];
        int len = res_query(q->host, ns_c_in, ns_t_naptr, ans, sizeof ans);
        struct naptr nap[8];
        int n = len > 0 ? parse_naptr(ans, len, nap, 8) : 0;
        if (n > 0) {
            qsort(nap, (size_t)n, sizeof nap[0], cmp_naptr);
            for (int i = 0; i < n; i++)
                if (srv_lookup(q, nap[i].replacement, nap[i].proto))
                    return;
        }
    }
    char name[300];
    if (q->proto == SIP_PROTO_TLS) { /* sips: or transport=tls (RFC 3263 §4.1) */
        snprintf(name, sizeof name, "_sips._tcp.%s", q->host);
        if (srv_lookup(q, name, SIP_PROTO_TLS))
            return;
    }
    if (q->proto != SIP_PROTO_TCP && q->proto != SIP_PROTO_TLS) {
        snprintf(name, sizeof name, "_sip._udp.%s", q->host);
        if (srv_lookup(q, name, SIP_PROTO_UDP))
            return;
    }
    if (q->proto != SIP_PROTO_UDP && q->proto != SIP_PROTO_TLS) {
        snprintf(name, sizeof name, "_sip._tcp.%s", q->host);
        if (srv_lookup(q, name, SIP_PROTO_TCP))
            return;
    }
    add_addrinfo(q, q->host, sip_proto_default_port(proto), proto);
}

static void *worker(void *arg)
{
    struct resolver *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->todo_head && !r->stopping)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stopping)
            break;
        struct rreq *q = r->todo_head;
        r->todo_head = q->next;
        if (!r->todo_head)
            r->todo_tail = NULL;
        r->inflight = q;
        int skip = q->cancelled;
        pthread_mutex_unlock(&r->mu);
        if (!skip)
            resolve_one(q);
        q->status = q->n ? 0 : -1;
        pthread_mutex_lock(&r->mu);
        r->inflight = NULL;
        q->next = r->done;
        r->done = q;
        uint64_t one = 1;
        if (write(r->efd, &one, sizeof one) < 0) {
            /* the counter is saturated: the loop will still find the result */
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- the loop side ------------------------------------------------------------------------- */

static void results_ready(struct loop *loop, int fd, uint32_t events, void *arg)
{
    struct resolver *r = arg;
    uint64_t v;
    if (read(fd, &v, sizeof v) < 0) {
        /* nothing to read: spurious wake-up */
    }
    pthread_mutex_lock(&r->mu);
    struct rreq *list = r->done;
    r->done = NULL;
    pthread_mutex_unlock(&r->mu);
    /* the list is newest first: reverse to answer in order */
    struct rreq *rev = NULL;
    while (list) {
        struct rreq *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        struct rreq *q = rev;
        rev = q->next;
        if (!q->cancelled)
            q->cb(q->arg, q->status, q->dsts, q->n);
        free(q);
    }
}

struct resolver *resolver_create(struct loop *loop)
{
    struct resolver *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->loop = loop;
    r->next_id = 1;
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->efd < 0) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (loop_fd_add(loop, r->efd, EPOLLIN, results_ready, r) < 0) {
        close(r->efd);
        free(r);
        return NULL;
    }
    /* the worker thread starts with the first lookup: a thread made here would not survive the
     * fork of `sipd` without --foreground (daemonize() runs after the server is built), leaving
     * lookups unanswered and the condition variable waiting forever at destroy */
    return r;
}

static void free_list(struct rreq *q)
{
    while (q) {
        struct rreq *n = q->next;
        free(q);
        q = n;
    }
}

void resolver_destroy(struct resolver *r)
{
    if (!r)
        return;
    if (r->started) {
        pthread_mutex_lock(&r->mu);
        r->stopping = 1;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
        /* a lookup in progress finishes first (the system resolver has its own timeouts) */
        pthread_join(r->thread, NULL);
    }
    free_list(r->todo_head);
    free_list(r->done);
    free(r->inflight);
    loop_fd_del(r->loop, r->efd);
    close(r->efd);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

uint64_t resolver_lookup(struct resolver *r, const char *host, int port, int proto, resolve_cb cb,
                         void *arg)
{
    struct sip_source d = {.proto = proto < 0 ? SIP_PROTO_UDP : proto, .udp_fd = -1};
    size_t hl = strlen(host);
    if (sockaddr_from_host_port(host, hl, port > 0 ? port : sip_proto_default_port(d.proto), &d.peer,
                                &d.peerlen) == 0) {
        cb(arg, 0, &d, 1); /* numeric: no lookup */
        return 0;
    }
    struct rreq *q = calloc(1, sizeof *q);
    if (!q || hl >= sizeof q->host) {
        free(q);
        cb(arg, -1, NULL, 0);
        return 0;
    }
    if (!r->started) {
        if (pthread_create(&r->thread, NULL, worker, r) != 0) {
            free(q);
            cb(arg, -1, NULL, 0);
            return 0;
        }
        r->started = 1;
    }
    memcpy(q->host, host, hl + 1);
    q->port = port;
    q->proto = proto;
    q->cb = cb;
    q->arg = arg;
    pthread_mutex_lock(&r->mu);
    q->id = r->next_id++;
    if (r->todo_tail)
        r->todo_tail->next = q;
    else
        r->todo_head = q;
    r->todo_tail = q;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return q->id;
}

void resolver_cancel(struct resolver *r, uint64_t id)
{
    if (!id)
        return;
    pthread_mutex_lock(&r->mu);
    for (struct rreq *q = r->todo_head; q; q = q->next)
        if (q->id == id)
            q->cancelled = 1;
    if (r->inflight && r->inflight->id == id)
        r->inflight->cancelled = 1;
    for (struct rreq *q = r->done; q; q = q->next)
        if (q->id == id)
            q->cancelled = 1;
    pthread_mutex_unlock(&r->mu);
}
