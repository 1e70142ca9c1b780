/* test_peers.c - who a cluster node takes requests from (cluster/peers.c): the spec of
 * cluster.accept_from, prefixes of both families, the node table read from the store and read
 * again on a change, and the node's own address admitted before its row shows. Runs on the memory
 * store, whose node table behaves as the database's does. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "cluster/peers.h"
#include "loop_fixture.h"
#include "store/store.h"
#include "suites.h"

static struct loop_fixture lf;
static struct store *st;

static struct sockaddr_storage ip(const char *s)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(40000);
    } else {
        CU_ASSERT_FATAL(inet_pton(AF_INET6, s, &a6->sin6_addr) == 1);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(40000);
    }
    return ss;
}

static enum peers_verdict check(const struct peers *p, const char *addr)
{
    struct sockaddr_storage ss = ip(addr);
    return peers_check(p, &ss);
}

static void on_upserted(void *arg, int status, const struct node_row *v, size_t n)
{
    (void)v, (void)n;
    *(int *)arg = status;
}

static void add_node(const char *name, const char *address, const char *roles)
{
    struct node_row r = {.name = name, .address = address, .roles = roles, .max_num = 10};
    int status = -1;
    store_node_upsert(st, &r, on_upserted, &status);
    loop_fixture_run_ms(&lf, 5);
    CU_ASSERT_EQUAL(status, 0);
}

static void test_spec_is_checked(void)
{
    char err[256];
    static const char *const good[] = {"nodes", "any", "nodes,10.0.0.0/8", "nodes 192.0.2.7",
                                       "fd00::/8,nodes", "::1", "0.0.0.0/0"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CU_ASSERT_EQUAL(peers_spec_check(good[i], err, sizeof err), 0);
    static const char *const bad[] = {"", " , ", "node", "10.0.0.0/33", "fd00::/129", "10.0.0/8",
                                      "10.0.0.1/", "10.0.0.1/x", "example.com", "nodes,10.0.0.0/-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(peers_spec_check(bad[i], err, sizeof err), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "cluster.accept_from"));
    }
}

static void test_any_admits_everyone(void)
{
    struct peers *p = (struct peers *)1;
    char err[256];
    CU_ASSERT_EQUAL(peers_create(lf.loop, st, "nodes,any", &p, err, sizeof err), 0);
    CU_ASSERT_PTR_NULL(p); /* no check at all */
    CU_ASSERT_EQUAL(check(p, "203.0.113.9"), PEERS_ALLOW);
}

static void test_prefixes_of_both_families(void)
{
    struct peers *p = NULL;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(
        peers_create(lf.loop, st, "10.1.0.0/16, 192.0.2.7 fd00:1::/32", &p, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(check(p, "10.1.200.3"), PEERS_ALLOW);
    CU_ASSERT_EQUAL(check(p, "10.2.0.1"), PEERS_DENY);
    CU_ASSERT_EQUAL(check(p, "192.0.2.7"), PEERS_ALLOW);
    CU_ASSERT_EQUAL(check(p, "192.0.2.8"), PEERS_DENY);
    CU_ASSERT_EQUAL(check(p, "fd00:1:ffff::1"), PEERS_ALLOW);
    CU_ASSERT_EQUAL(check(p, "fd00:2::1"), PEERS_DENY);
    /* an IPv4 source seen on a dual-stack socket is the same address */
    CU_ASSERT_EQUAL(check(p, "::ffff:10.1.0.9"), PEERS_ALLOW);
    CU_ASSERT_EQUAL(check(p, "::ffff:10.9.0.9"), PEERS_DENY);
    /* an odd prefix length cuts inside a byte */
    peers_destroy(p);
    CU_ASSERT_EQUAL_FATAL(peers_create(lf.loop, st, "10.0.0.128/25", &p, err, sizeof err), 0);
    CU_ASSERT_EQUAL(check(p, "10.0.0.200"), PEERS_ALLOW);
    CU_ASSERT_EQUAL(check(p, "10.0.0.127"), PEERS_DENY);
    peers_destroy(p);
}

static void test_nodes_from_the_table_and_its_changes(void)
{
    add_node("lb1", "udp:127.0.0.5:5060", "balancer");
    add_node("alpha", "tcp:[::1]:5070", "proxy");
    struct peers *p = NULL;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(peers_create(lf.loop, st, "nodes", &p, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    peers_admit_endpoint(p, "udp:127.0.0.9:5080"); /* this node, before its row shows */
    loop_fixture_run_ms(&lf, 5);
    CU_ASSERT_EQUAL(check(p, "127.0.0.5"), PEERS_ALLOW); /* any port: matched by address */
    CU_ASSERT_EQUAL(check(p, "::1"), PEERS_ALLOW);
    CU_ASSERT_EQUAL(check(p, "127.0.0.6"), PEERS_DENY);
    CU_ASSERT_EQUAL(check(p, "127.0.0.9"), PEERS_ALLOW);
    /* a node added later is admitted once the listener says the table changed */
    add_node("bravo", "udp:127.0.0.6:5060", "registrar");
    CU_ASSERT_EQUAL(check(p, "127.0.0.6"), PEERS_DENY);
    peers_changed(p);
    loop_fixture_run_ms(&lf, 5);
    CU_ASSERT_EQUAL(check(p, "127.0.0.6"), PEERS_ALLOW);
    CU_ASSERT_EQUAL(check(p, "127.0.0.7"), PEERS_DENY);
    peers_destroy(p);
}

static int is_node(const struct peers *p, const char *addr)
{
    struct sockaddr_storage ss = ip(addr);
    return peers_is_node(p, &ss);
}

/* The rate limit's trust (docs/limits.md): only the node table's addresses, not the prefixes of
 * cluster.accept_from nor the node's own endpoint. */
static void test_is_node_means_a_row_of_the_table(void)
{
    add_node("lb9", "udp:127.0.0.15:5060", "balancer");
    struct peers *p = NULL;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(peers_create(lf.loop, st, "nodes,127.0.0.64/26", &p, err, sizeof err), 0);
    peers_admit_endpoint(p, "udp:127.0.0.19:5080");
    loop_fixture_run_ms(&lf, 5);
    CU_ASSERT_EQUAL(is_node(p, "127.0.0.15"), 1);
    CU_ASSERT_EQUAL(is_node(p, "::ffff:127.0.0.15"), 1);
    CU_ASSERT_EQUAL(check(p, "127.0.0.70"), PEERS_ALLOW);
    CU_ASSERT_EQUAL(is_node(p, "127.0.0.70"), 0); /* admitted by a prefix only */
    CU_ASSERT_EQUAL(is_node(p, "127.0.0.19"), 0); /* the own endpoint, before its row */
    CU_ASSERT_EQUAL(is_node(p, "127.0.0.16"), 0);
    peers_destroy(p);
    /* without `nodes` there is no table to trust */
    CU_ASSERT_EQUAL_FATAL(peers_create(lf.loop, st, "127.0.0.0/8", &p, err, sizeof err), 0);
    loop_fixture_run_ms(&lf, 5);
    CU_ASSERT_EQUAL(is_node(p, "127.0.0.15"), 0);
    peers_destroy(p);
    CU_ASSERT_EQUAL(is_node(NULL, "127.0.0.15"), 0);
}

static int peers_init(void)
{
    struct loop_fixture_config c = {.t1_ms = 500, .t2_ms = 4000, .t4_ms = 5000};
    if (loop_fixture_open(&lf, &c))
        return -1;
    st = store_create(lf.loop, NULL);
    return st ? 0 : -1;
}

static int peers_clean(void)
{
    store_destroy(st);
    st = NULL;
    loop_fixture_close(&lf);
    return 0;
}

void register_peers_suites(void)
{
    CU_pSuite s = CU_add_suite("peers", peers_init, peers_clean);
    if (s) {
        CU_add_test(s, "test_spec_is_checked", test_spec_is_checked);
        CU_add_test(s, "test_any_admits_everyone", test_any_admits_everyone);
        CU_add_test(s, "test_prefixes_of_both_families", test_prefixes_of_both_families);
        CU_add_test(s, "test_nodes_from_the_table_and_its_changes",
                    test_nodes_from_the_table_and_its_changes);
        CU_add_test(s, "test_is_node_means_a_row_of_the_table", test_is_node_means_a_row_of_the_table);
    }
}
