/* test_cluster.c - the balancer's pure decisions: flow tokens (cluster/flow.h) and the choice of
 * node (cluster/select.h): least loaded by capacity, rendezvous ownership of topics (stable, and
 * moving only the share of a node that leaves), eligibility, promotion of standbys; and, over a
 * loop and the memory store, the heartbeat and node events and metrics of cluster/cluster.c. */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cluster/flow.h"
#include "cluster/select.h"
#include "roles/im/broker.h"
#include "suites.h"
#include "transport/addr.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/events.h"
#include "base/metrics.h"
#include "base/sbuf.h"
#include "cluster/cluster.h"
#include "loop_fixture.h"
#include "sip/msg.h"
#include "store/store.h"

static struct sip_source src_of(enum sip_proto proto, const char *host, int port, uint64_t conn)
{
    struct sip_source s;
    memset(&s, 0, sizeof s);
    s.proto = proto;
    s.udp_fd = -1;
    s.conn_id = conn;
    CU_ASSERT_FATAL(sockaddr_from_host_port(host, strlen(host), port, &s.peer, &s.peerlen) == 0);
    return s;
}

static void test_flow_roundtrip(void)
{
    struct sip_source cases[] = {
        src_of(SIP_PROTO_UDP, "127.0.0.1", 5060, 0),
        src_of(SIP_PROTO_TCP, "10.1.2.3", 40888, 77),
        src_of(SIP_PROTO_TCP, "::1", 1, 0xffffffffffffULL),
        src_of(SIP_PROTO_UDP, "2001:db8::5", 65535, 0),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char tok[FLOW_TOKEN_MAX];
        CU_ASSERT_FATAL(flow_encode(&cases[i], tok, sizeof tok) == 0);
        CU_ASSERT(strspn(tok, "0123456789abcdef-tu") == strlen(tok)); /* URI-parameter safe */
        struct sip_source d;
        CU_ASSERT_FATAL(flow_decode(tok, &d) == 0);
        CU_ASSERT(d.proto == cases[i].proto);
        CU_ASSERT(sockaddr_equal(&d.peer, &cases[i].peer));
        CU_ASSERT(d.conn_id == (cases[i].proto == SIP_PROTO_TCP ? cases[i].conn_id : 0));
        CU_ASSERT(flow_same(&d, &cases[i]));
    }
}

static void test_flow_same(void)
{
    struct sip_source a = src_of(SIP_PROTO_TCP, "10.0.0.1", 5000, 5);
    struct sip_source other_conn = src_of(SIP_PROTO_TCP, "10.0.0.1", 5000, 6);
    struct sip_source udp = src_of(SIP_PROTO_UDP, "10.0.0.1", 5000, 0);
    struct sip_source other_port = src_of(SIP_PROTO_UDP, "10.0.0.1", 5001, 0);
    CU_ASSERT(!flow_same(&a, &other_conn)); /* a new connection is another flow */
    CU_ASSERT(!flow_same(&a, &udp));
    CU_ASSERT(!flow_same(&udp, &other_port));
    CU_ASSERT(flow_same(&udp, &udp));
}

static void test_flow_hostile(void)
{
    static const char *const bad[] = {
        "", "u", "u-", "x-7f000001-13c4", "u-7f000001", "u-7f000001-", "u-7f000001-0",
        "u-7f000001-10000", "u-7f00001-13c4", "u-7f000001g-13c4", "u-7f000001-13c4-", "t-7f000001-13c4",
        "t-11223344556677889-7f000001-13c4", "u-7f000001-13c4;lr", "u-7f000001-13c4x",
        "t--7f000001-13c4", "u-zz000001-13c4",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sip_source d;
        CU_ASSERT_EQUAL(flow_decode(bad[i], &d), -1);
        if (flow_decode(bad[i], &d) != -1)
            fprintf(stderr, "accepted: '%s'\n", bad[i]);
    }
    struct sip_source d;
    CU_ASSERT(flow_decode(NULL, &d) == -1);
}

/* ---- node choice ------------------------------------------------------------------------------ */

static struct cnode node(int nid, const char *name, unsigned roles, int work, int max)
{
    struct cnode c;
    memset(&c, 0, sizeof c);
    c.nid = nid;
    snprintf(c.name, sizeof c.name, "%s", name);
    c.roles = roles;
    c.up = 1;
    c.work_num = work;
    c.max_num = max;
    c.dst = src_of(SIP_PROTO_UDP, "127.0.0.1", 5000 + nid, 0);
    return c;
}

static void test_roles_parse(void)
{
    CU_ASSERT_EQUAL(cnode_roles_parse("registrar,proxy"), CNODE_REGISTRAR | CNODE_PROXY);
    CU_ASSERT_EQUAL(cnode_roles_parse("{broker,balancer}"), CNODE_BROKER | CNODE_BALANCER);
    CU_ASSERT_EQUAL(cnode_roles_parse("all"), CNODE_REGISTRAR | CNODE_PROXY | CNODE_BROKER);
    CU_ASSERT_EQUAL(cnode_roles_parse("proxies,,\"proxy\""), CNODE_PROXY);
    CU_ASSERT_EQUAL(cnode_roles_parse(""), 0);
    CU_ASSERT_EQUAL(cnode_roles_parse(NULL), 0);
}

static void test_least_loaded(void)
{
    struct cnode v[] = {
        node(1, "p1", CNODE_PROXY, 50, 100),   /* half full */
        node(2, "p2", CNODE_PROXY, 100, 300),  /* a third full: first */
        node(3, "r1", CNODE_REGISTRAR, 0, 100), /* another role */
        node(4, "p3", CNODE_PROXY, 0, 100),    /* idle but draining */
        node(5, "p4", CNODE_PROXY, 100, 100),  /* full */
        node(6, "p5", CNODE_PROXY, 0, 100),    /* down */
        node(7, "p6", CNODE_PROXY, 0, 100),    /* standby */
    };
    v[3].draining = 1;
    v[5].up = 0;
    v[6].waiting = 1;
    size_t idx[8];
    size_t n = cnode_select(v, 7, CNODE_PROXY, NULL, idx, 8);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(v[idx[0]].nid, 2);
    CU_ASSERT_EQUAL(v[idx[1]].nid, 1);
    CU_ASSERT_EQUAL(cnode_select(v, 7, CNODE_PROXY, NULL, idx, 1), 1);
    CU_ASSERT_EQUAL(cnode_select(v, 7, CNODE_BROKER, NULL, idx, 8), 0);
}

/* Idle nodes of capacity 100 and 300 take requests 1:3 (taking turns), and so do nodes whose
 * requests stay in flight (by load fraction). */
static void test_split_by_capacity(void)
{
    for (int keep = 0; keep < 2; keep++) {
        struct cnode v[] = {node(1, "a", CNODE_PROXY, 0, 100), node(2, "b", CNODE_PROXY, 0, 300)};
        int got[2] = {0, 0};
        for (int i = 0; i < 400; i++) {
            size_t idx[2];
            CU_ASSERT_FATAL(cnode_select(v, 2, CNODE_PROXY, NULL, idx, 2) == 2);
            cnode_take_turn(v, idx, 2);
            got[idx[0]]++;
            if (keep)
                v[idx[0]].inflight++; /* never answered: the load fraction decides */
        }
        CU_ASSERT(got[0] >= 99 && got[0] <= 101);
        CU_ASSERT(got[1] >= 299 && got[1] <= 301);
    }
    /* a busier node gets nothing until the others catch up */
    struct cnode w[] = {node(1, "a", CNODE_PROXY, 50, 100), node(2, "b", CNODE_PROXY, 0, 100)};
    for (int i = 0; i < 50; i++) {
        size_t idx[2];
        cnode_select(w, 2, CNODE_PROXY, NULL, idx, 2);
        cnode_take_turn(w, idx, 2);
        CU_ASSERT_EQUAL(w[idx[0]].nid, 2);
        w[idx[0]].inflight++;
    }
}

static void test_rendezvous(void)
{
    struct cnode v[] = {
        node(1, "b1", CNODE_BROKER, 0, 10), node(2, "b2", CNODE_BROKER, 0, 10),
        node(3, "b3", CNODE_BROKER, 0, 10), node(4, "p1", CNODE_PROXY, 0, 10),
    };
    int owner[300], per[4] = {0};
    char topic[64];
    for (int t = 0; t < 300; t++) {
        snprintf(topic, sizeof topic, "sip:user%d@example.com", t);
        size_t idx[4];
        size_t n = cnode_select(v, 4, CNODE_BROKER, topic, idx, 4);
        CU_ASSERT_FATAL(n == 3);
        owner[t] = v[idx[0]].nid;
        per[idx[0]]++;
        /* the same again: stable, whatever the load */
        v[1].work_num = 10 + t; /* full: topic affinity ignores max_num */
        size_t idx2[4];
        CU_ASSERT(cnode_select(v, 4, CNODE_BROKER, topic, idx2, 1) == 1 && idx2[0] == idx[0]);
        v[1].work_num = 0;
    }
    for (int i = 0; i < 3; i++)
        CU_ASSERT(per[i] > 60); /* about 100 each */
    /* b2 leaves: only its topics move, and each goes to its second choice */
    v[1].up = 0;
    for (int t = 0; t < 300; t++) {
        snprintf(topic, sizeof topic, "sip:user%d@example.com", t);
        size_t idx[4];
        CU_ASSERT_FATAL(cnode_select(v, 4, CNODE_BROKER, topic, idx, 4) == 2);
        if (owner[t] != 2)
            CU_ASSERT_EQUAL(v[idx[0]].nid, owner[t]);
        CU_ASSERT(v[idx[0]].nid != 2);
    }
}

/* The `topic` parameter of the balancer's Record-Route (flow_topic_encode/decode). */
static void test_topic_param(void)
{
    char enc[FLOW_TOPIC_MAX * 3], dec[FLOW_TOPIC_MAX];
    CU_ASSERT_FATAL(flow_topic_encode("sip:bob@example.com", enc, sizeof enc) == 0);
    CU_ASSERT_STRING_EQUAL(enc, "sip:bob%40example.com");
    CU_ASSERT_FATAL(flow_topic_decode(enc, dec, sizeof dec) == 0);
    CU_ASSERT_STRING_EQUAL(dec, "sip:bob@example.com");
    /* what would end a parameter, a URI or a header is escaped */
    const char *odd = "sip:a;b=c?d>e,f g\"%@x.org";
    CU_ASSERT_FATAL(flow_topic_encode(odd, enc, sizeof enc) == 0);
    CU_ASSERT(strpbrk(enc, ";?>, \"@=") == NULL);
    CU_ASSERT_FATAL(flow_topic_decode(enc, dec, sizeof dec) == 0);
    CU_ASSERT_STRING_EQUAL(dec, odd);
    /* lower-case escapes are read too; bad ones, a NUL and overlong input are refused */
    CU_ASSERT(flow_topic_decode("sip:bob%40x", dec, sizeof dec) == 0 && strcmp(dec, "sip:bob@x") == 0);
    CU_ASSERT(flow_topic_decode("sip:b%4", dec, sizeof dec) < 0);
    CU_ASSERT(flow_topic_decode("sip:b%zz", dec, sizeof dec) < 0);
    CU_ASSERT(flow_topic_decode("sip:b%00", dec, sizeof dec) < 0);
    CU_ASSERT(flow_topic_decode("sip:bob", dec, 4) < 0);
    CU_ASSERT(flow_topic_encode("sip:bob@x", enc, 10) < 0); /* 11 bytes needed */
    CU_ASSERT(flow_topic_encode("sip:bob@x", enc, 12) == 0);
}

/* Takeover (roles/im/takeover.c): when a broker dies or drains, each of its topics has exactly
 * one new owner among the live brokers, the one the balancers pick; the others keep theirs. */
static void test_takeover_owner(void)
{
    struct cnode v[] = {
        node(1, "b1", CNODE_BROKER, 0, 10), node(2, "b2", CNODE_BROKER, 0, 10),
        node(3, "b3", CNODE_BROKER, 0, 10), node(4, "lb1", CNODE_BALANCER, 0, 10),
    };
    static const char *const names[] = {"b1", "b2", "b3", "lb1"};
    char topic[64];
    for (int dead = 0; dead < 3; dead++) {
        for (int t = 0; t < 100; t++) {
            snprintf(topic, sizeof topic, "sip:user%d@example.com", t);
            int before = -1;
            for (int i = 0; i < 4; i++)
                if (broker_topic_is_mine(v, 4, names[i], topic))
                    before = i;
            CU_ASSERT_FATAL(before >= 0 && before < 3);
            if (dead == 2)
                v[dead].draining = 1; /* a drain moves topics like a death */
            else
                v[dead].up = 0;
            int owners = 0, after = -1;
            for (int i = 0; i < 4; i++)
                if (broker_topic_is_mine(v, 4, names[i], topic)) {
                    owners++;
                    after = i;
                }
            CU_ASSERT_EQUAL(owners, 1);
            CU_ASSERT(after != dead);
            if (before != dead)
                CU_ASSERT_EQUAL(after, before); /* only the dead one's topics move */
            size_t idx;
            CU_ASSERT(cnode_select(v, 4, CNODE_BROKER, topic, &idx, 1) == 1 && (int)idx == after);
            v[dead].up = 1;
            v[dead].draining = 0;
        }
    }
    for (int i = 0; i < 3; i++)
        v[i].up = 0; /* no live broker: nobody owns anything */
    CU_ASSERT(!broker_topic_is_mine(v, 4, "b1", "sip:user1@example.com"));
}

static void test_promotion(void)
{
    struct cnode v[] = {
        node(1, "p1", CNODE_PROXY, 10, 100), node(2, "s2", CNODE_PROXY, 0, 100),
        node(3, "s1", CNODE_PROXY, 0, 100), node(4, "r1", CNODE_REGISTRAR, 0, 100),
    };
    v[1].waiting = v[2].waiting = 1;
    CU_ASSERT_EQUAL(cnode_promote_candidate(v, 4, CNODE_PROXY, 800), -1); /* p1 has room */
    v[0].work_num = 80;                                                   /* at 0.8 */
    CU_ASSERT_EQUAL(cnode_promote_candidate(v, 4, CNODE_PROXY, 800), 1);  /* lowest nid */
    v[0].work_num = 10;
    v[0].up = 0; /* the last active proxy died */
    CU_ASSERT_EQUAL(cnode_promote_candidate(v, 4, CNODE_PROXY, 800), 1);
    v[1].up = 0; /* a dead standby is not promoted */
    CU_ASSERT_EQUAL(cnode_promote_candidate(v, 4, CNODE_PROXY, 800), 2);
    v[2].draining = 1;
    CU_ASSERT_EQUAL(cnode_promote_candidate(v, 4, CNODE_PROXY, 800), -1);
    CU_ASSERT_EQUAL(cnode_promote_candidate(v, 4, CNODE_REGISTRAR, 800), -1); /* no standby */
}

/* ---- events and metrics of the heartbeats (a fake node on a UDP socket) --------------------- */

static struct {
    struct loop_fixture lf;
    struct store *st;
    struct cluster *cl;
    int node_fd; /* the fake node */
    int answering;
    int n;
    char got[64][256];
} hb;

static void hb_sink(void *arg, const char *type, const char *json, size_t len)
{
    (void)arg;
    if (hb.n < 64)
        snprintf(hb.got[hb.n++], sizeof hb.got[0], "%s %.*s", type, (int)len, json);
}

/* What the balancer's transport receives: the node's answers. */
static void hb_recv(void *arg, const struct sip_source *src, char *buf, size_t len)
{
    (void)arg;
    (void)src;
    osip_message_t *m = sip_parse(buf, len);
    if (m && MSG_IS_RESPONSE(m))
        cluster_heartbeat_response(hb.cl, m);
    if (m)
        osip_message_free(m);
}

/* The fake node answers every OPTIONS waiting on its socket with a 200 and its load. */
static void hb_node_answer(void)
{
    char buf[4096];
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof from;
    ssize_t r;
    while ((r = recvfrom(hb.node_fd, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &fromlen)) > 0) {
        buf[r] = '\0';
        osip_message_t *req = sip_parse(buf, (size_t)r);
        struct sbuf out;
        sbuf_init(&out);
        if (hb.answering && req &&
            sip_response_text(req, 200, NULL, "t", "Sipd-Load: work=3;max=100;state=active\r\n", &out) == 0)
            sendto(hb.node_fd, out.p, out.len, 0, (struct sockaddr *)&from, fromlen);
        sbuf_free(&out);
        if (req)
            osip_message_free(req);
        fromlen = sizeof from;
    }
}

static void hb_run(unsigned ms)
{
    for (unsigned t = 0; t < ms; t += 10) {
        loop_fixture_run_ms(&hb.lf, 10);
        hb_node_answer();
    }
}

static int hb_count(const char *what)
{
    int n = 0;
    for (int i = 0; i < hb.n; i++)
        n += strstr(hb.got[i], what) != NULL;
    return n;
}

static void on_upsert(void *arg, int status, const struct node_row *v, size_t n)
{
    (void)v;
    (void)n;
    *(int *)arg = status;
}

static void test_heartbeats_emit_events_and_fill_metrics(void)
{
    memset(&hb, 0, sizeof hb);
    struct loop_fixture_config lc = {.t1_ms = 500, .t2_ms = 4000, .t4_ms = 5000, .listen_udp = true,
                                     .on_recv = hb_recv};
    CU_ASSERT_EQUAL_FATAL(loop_fixture_open(&hb.lf, &lc), 0);
    hb.st = store_create(hb.lf.loop, NULL);
    hb.node_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CU_ASSERT_EQUAL_FATAL(bind(hb.node_fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t alen = sizeof a;
    getsockname(hb.node_fd, (struct sockaddr *)&a, &alen);
    char address[64];
    snprintf(address, sizeof address, "udp:127.0.0.1:%d", ntohs(a.sin_port));
    struct node_row row = {.name = "ev-n1", .address = address, .roles = "registrar", .status = 1,
                           .max_num = 100};
    int status = -1;
    store_node_upsert(hb.st, &row, on_upsert, &status);
    CU_ASSERT_EQUAL_FATAL(status, 0);
    hb.answering = 1;
    events_set_sink(hb_sink, NULL, NULL);
    struct cluster_config cc = {.self_name = "ev-lb", .heartbeat_ms = 50, .heartbeat_misses = 2};
    hb.cl = cluster_create(hb.lf.loop, hb.lf.tp, hb.st, &cc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(hb.cl);
    hb_run(300);
    CU_ASSERT_EQUAL(hb_count("node {\"node\":\"ev-n1\",\"state\":\"added\"}"), 1);
    CU_ASSERT_EQUAL(hb_count("node {\"node\":\"ev-n1\",\"state\":\"active\"}"), 1);
    CU_ASSERT(hb_count("heartbeat {\"node\":\"ev-n1\",\"ok\":true,\"rtt_ms\":") >= 2);
    CU_ASSERT(hb_count(",\"work_num\":3,\"at_ms\":") >= 2);
    struct sbuf text;
    sbuf_init(&text);
    metrics_write_prometheus(&text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text.p, "sipd_nodes{state=\"active\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text.p, "sipd_nodes{state=\"down\"} 0\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text.p, "sipd_heartbeat_rtt_seconds_bucket{node=\"ev-n1\",le=\"+Inf\"} "));
    sbuf_free(&text);
    /* the node stops answering: down after its misses, unanswered beats reported */
    hb.answering = 0;
    hb_run(300);
    CU_ASSERT_EQUAL(hb_count("node {\"node\":\"ev-n1\",\"state\":\"down\"}"), 1);
    CU_ASSERT(hb_count("heartbeat {\"node\":\"ev-n1\",\"ok\":false,\"rtt_ms\":null") >= 2);
    /* back, then drained through the table */
    hb.answering = 1;
    hb_run(200);
    CU_ASSERT_EQUAL(hb_count("node {\"node\":\"ev-n1\",\"state\":\"up\"}"), 1);
    store_node_set_draining(hb.st, "ev-n1", 1, NULL, NULL);
    cluster_nodes_changed(hb.cl, -1);
    hb_run(100);
    CU_ASSERT_EQUAL(hb_count("node {\"node\":\"ev-n1\",\"state\":\"draining\"}"), 1);
    sbuf_init(&text);
    metrics_write_prometheus(&text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text.p, "sipd_nodes{state=\"draining\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text.p, "sipd_nodes{state=\"active\"} 0\n"));
    sbuf_free(&text);
    events_set_sink(NULL, NULL, NULL);
    cluster_destroy(hb.cl);
    store_destroy(hb.st);
    loop_fixture_close(&hb.lf);
    close(hb.node_fd);
}

void register_cluster_suites(void)
{
    CU_pSuite s = CU_add_suite("cluster", NULL, NULL);
    CU_add_test(s, "flow tokens round-trip", test_flow_roundtrip);
    CU_add_test(s, "flow identity", test_flow_same);
    CU_add_test(s, "flow tokens: hostile input", test_flow_hostile);
    CU_add_test(s, "roles column parsed", test_roles_parse);
    CU_add_test(s, "least loaded eligible node first", test_least_loaded);
    CU_add_test(s, "idle nodes split by capacity", test_split_by_capacity);
    CU_add_test(s, "rendezvous ownership of topics", test_rendezvous);
    CU_add_test(s, "standby promotion", test_promotion);
    CU_add_test(s, "topic parameter of the Record-Route", test_topic_param);
    CU_add_test(s, "takeover: one new owner per topic of a dead or draining broker", test_takeover_owner);
    CU_add_test(s, "heartbeats emit events and fill the metrics", test_heartbeats_emit_events_and_fill_metrics);
}
