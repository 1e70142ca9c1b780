/* test_resolve.c - RFC 3263 resolution: numeric hosts at once, names on the worker thread,
 * SRV answer parsing. */
#include <CUnit/CUnit.h>
#include <arpa/nameser.h>
#include <string.h>

#include "base/loop.h"
#include "suites.h"
#include "transport/resolve.h"

struct got {
    int calls, status;
    size_t n;
    struct sip_source first;
    struct loop *loop;
};

static void on_resolved(void *arg, int status, const struct sip_source *d, size_t n)
{
    struct got *g = arg;
    g->calls++;
    g->status = status;
    g->n = n;
    if (n)
        g->first = d[0];
    if (g->loop)
        loop_stop(g->loop);
}

static void stop_cb(struct timer *t, void *arg) { loop_stop(arg); }

static void test_resolve_numeric_host_answers_at_once(void)
{
    struct loop *loop = loop_create();
    struct resolver *r = resolver_create(loop);
    struct got g = {0};
    CU_ASSERT_EQUAL(resolver_lookup(r, "192.0.2.10", 5070, SIP_PROTO_TCP, on_resolved, &g), 0);
    CU_ASSERT_EQUAL(g.calls, 1);
    CU_ASSERT_EQUAL(g.status, 0);
    char buf[64];
    CU_ASSERT_STRING_EQUAL(sockaddr_str(&g.first.peer, buf, sizeof buf), "192.0.2.10:5070");
    CU_ASSERT_EQUAL(g.first.proto, SIP_PROTO_TCP);
    g.calls = 0;
    resolver_lookup(r, "::1", 0, -1, on_resolved, &g);
    CU_ASSERT_STRING_EQUAL(sockaddr_str(&g.first.peer, buf, sizeof buf), "[::1]:5060");
    CU_ASSERT_EQUAL(g.first.proto, SIP_PROTO_UDP);
    resolver_destroy(r);
    loop_destroy(loop);
}

static void test_resolve_name_with_port_on_the_worker(void)
{
    struct loop *loop = loop_create();
    struct resolver *r = resolver_create(loop);
    struct got g = {.loop = loop};
    uint64_t id = resolver_lookup(r, "localhost", 5099, -1, on_resolved, &g);
    CU_ASSERT(id > 0);
    CU_ASSERT_EQUAL(g.calls, 0); /* not before the loop runs */
    struct timer safety = {0};
    loop_timer_start(loop, &safety, 5000, stop_cb, loop);
    loop_run(loop);
    loop_timer_stop(loop, &safety);
    CU_ASSERT_EQUAL(g.calls, 1);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT(g.n >= 1);
    CU_ASSERT_EQUAL(sockaddr_port(&g.first.peer), 5099);
    resolver_destroy(r);
    loop_destroy(loop);
}

static void test_resolve_cancelled_lookup_never_calls_back(void)
{
    struct loop *loop = loop_create();
    struct resolver *r = resolver_create(loop);
    struct got g = {0};
    uint64_t id = resolver_lookup(r, "localhost", 5099, -1, on_resolved, &g);
    resolver_cancel(r, id);
    struct timer t = {0};
    loop_timer_start(loop, &t, 300, stop_cb, loop);
    loop_run(loop);
    CU_ASSERT_EQUAL(g.calls, 0);
    resolver_destroy(r);
    loop_destroy(loop);
}

/* A DNS answer with two SRV records, the second target compressed against the first. */
static void test_resolve_parses_srv_answers(void)
{
    unsigned char pkt[512];
    size_t n = 0;
    const unsigned char hdr[] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0};
    memcpy(pkt, hdr, sizeof hdr);
    n = sizeof hdr;
    /* question: _sip._udp.example.com SRV IN */
    const unsigned char qname[] = {4, '_', 's', 'i', 'p', 4, '_', 'u', 'd', 'p', 7, 'e', 'x', 'a', 'm', 'p',
                                   'l', 'e', 3, 'c', 'o', 'm', 0};
    memcpy(pkt + n, qname, sizeof qname);
    n += sizeof qname;
    const unsigned char qtail[] = {0, 33, 0, 1};
    memcpy(pkt + n, qtail, 4);
    n += 4;
    /* answer 1: name ptr to 12, SRV IN ttl 60, prio 10 weight 5 port 5070 target sip1.example.com */
    const unsigned char a1[] = {0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60, 0, 13, 0, 10, 0, 5, 0x13, 0xce,
                                4, 's', 'i', 'p', '1', 0xc0, 22};
    memcpy(pkt + n, a1, sizeof a1);
    n += sizeof a1;
    const unsigned char a2[] = {0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60, 0, 13, 0, 20, 0, 0, 0x13, 0xc4,
                                4, 's', 'i', 'p', '2', 0xc0, 22};
    memcpy(pkt + n, a2, sizeof a2);
    n += sizeof a2;
    struct dns_srv srv[4];
    int c = resolve_parse_srv(pkt, (int)n, srv, 4);
    CU_ASSERT_EQUAL_FATAL(c, 2);
    CU_ASSERT_STRING_EQUAL(srv[0].target, "sip1.example.com");
    CU_ASSERT_EQUAL(srv[0].port, 5070);
    CU_ASSERT_EQUAL(srv[0].priority, 10);
    CU_ASSERT_STRING_EQUAL(srv[1].target, "sip2.example.com");
    CU_ASSERT_EQUAL(srv[1].port, 5060);
    /* truncated packets are refused, not read past their end */
    CU_ASSERT_EQUAL(resolve_parse_srv(pkt, (int)n - 5, srv, 4), -1);
}

void register_resolve_suites(void)
{
    CU_pSuite s = CU_add_suite("resolve", NULL, NULL);
    CU_add_test(s, "numeric host answers at once", test_resolve_numeric_host_answers_at_once);
    CU_add_test(s, "name with port resolved on the worker", test_resolve_name_with_port_on_the_worker);
    CU_add_test(s, "cancelled lookup never calls back", test_resolve_cancelled_lookup_never_calls_back);
    CU_add_test(s, "SRV answers parsed", test_resolve_parses_srv_answers);
}
