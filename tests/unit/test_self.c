/* test_self.c - this node's row and state (cluster/self.c), and the Sipd-Load header as a
 * balancer's prober parses it (node_load_parse), hostile input included.
 *
 * The row cases run node_self on the memory store (the store's node table behaves as the
 * database's does; a configured conninfo only tells node_self to keep a row), with the store's
 * nodes listener wired to node_self_changed as server.c does. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "base/log.h"
#include "cluster/self.h"
#include "config.h"
#include "loop_fixture.h"
#include "sip/msg.h"
#include "sip/txn.h"
#include "store/store.h"
#include "suites.h"

/* ---- node_load_parse ---------------------------------------------------------------------------- */

static void test_load_parse_reads_what_sipd_writes(void)
{
    int work = -1, max = -1;
    char state[16];
    CU_ASSERT_EQUAL(node_load_parse("work=3;max=1000;state=active", &work, &max, state,
                                    sizeof state), 0);
    CU_ASSERT_EQUAL(work, 3);
    CU_ASSERT_EQUAL(max, 1000);
    CU_ASSERT_STRING_EQUAL(state, "active");
    CU_ASSERT_EQUAL(node_load_parse(" state = drained ; max=1;work= 0 ", &work, &max, state,
                                    sizeof state), 0);
    CU_ASSERT_EQUAL(work, 0);
    CU_ASSERT_EQUAL(max, 1);
    CU_ASSERT_STRING_EQUAL(state, "drained");
    /* a parameter of a later version is skipped */
    CU_ASSERT_EQUAL(node_load_parse("work=2;cpu=0.5,x;max=9;state=standby;zone=eu-1", &work, &max,
                                    state, sizeof state), 0);
    CU_ASSERT_EQUAL(work, 2);
    CU_ASSERT_EQUAL(max, 9);
    CU_ASSERT_STRING_EQUAL(state, "standby");
    CU_ASSERT_EQUAL(node_load_parse("work=2147483647;max=0;state=x-1", &work, &max, state,
                                    sizeof state), 0);
    CU_ASSERT_EQUAL(work, INT_MAX);
}

static void test_load_parse_refuses_hostile_input(void)
{
    static const char *const bad[] = {
        "",
        ";",
        "work=1;max=2",                        /* no state */
        "max=2;state=active",                  /* no work */
        "work=1;state=active",                 /* no max */
        "work=-1;max=2;state=active",
        "work=+1;max=2;state=active",
        "work=2147483648;max=2;state=active",  /* > INT_MAX */
        "work=99999999999999999999999;max=2;state=active",
        "work=1;max=2;state=",
        "work=1;max=2;state=active!",
        "work=1;max=2;state=\"active\"",
        "work=1x;max=2;state=active",
        "work=1;work=1;max=2;state=active",    /* repeated */
        "work=1;max=2;state=active;state=drained",
        "work=1;max=2;state=active;",          /* empty last parameter */
        "work=1;;max=2;state=active",
        "=1;max=2;state=active",
        "work;max=2;state=active",
        "work=1 max=2 state=active",
        "work=1;max=2;state=averyveryverylongstatename", /* does not fit state[16] */
        "work=1\r\nX: y;max=2;state=active",
        "\xff\xfe;work=1;max=2;state=active",
    };
    int work, max;
    char state[16];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = node_load_parse(bad[i], &work, &max, state, sizeof state);
        if (rc != -1)
            fprintf(stderr, "accepted: '%s'\n", bad[i]);
        CU_ASSERT_EQUAL(rc, -1);
    }
    CU_ASSERT_EQUAL(node_load_parse(NULL, &work, &max, state, sizeof state), -1);
    CU_ASSERT_EQUAL(node_load_parse("work=1;max=2;state=a", &work, &max, state, 0), -1);
    CU_ASSERT_EQUAL(node_load_parse("work=1;max=2;state=a", &work, &max, state, 1), -1);
    CU_ASSERT_EQUAL(node_load_parse("work=1;max=2;state=a", &work, &max, state, 2), 0);
    /* a long run of parameters, no terminator but the NUL: bounded, refused or read, no crash */
    size_t len = 1 << 20;
    char *big = malloc(len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, '9', len);
    big[len] = '\0';
    memcpy(big, "work=", 5);
    CU_ASSERT_EQUAL(node_load_parse(big, &work, &max, state, sizeof state), -1);
    for (size_t i = 0; i + 4 <= len; i += 4)
        memcpy(big + i, "a=b;", 4);
    big[len - 1] = 'c';
    CU_ASSERT_EQUAL(node_load_parse(big, &work, &max, state, sizeof state), -1);
    free(big);
}

/* ---- node_self on the memory store -------------------------------------------------------------- */

static struct loop_fixture lf;
static struct store *st;
static int nexits;

static void on_exit_called(void *arg)
{
    (void)arg;
    nexits++;
}

static void on_nodes_changed(void *arg, int nid) { node_self_changed(arg, nid); }

static struct node_self *make_self(const char *name, int standby, int exit_when_drained)
{
    struct sipd_config cfg;
    config_defaults(&cfg);
    char err[256];
    CU_ASSERT_EQUAL(config_set(&cfg, "sipd", "listen", "udp:127.0.0.1:5070,tcp:127.0.0.1:5070",
                               err, sizeof err), 0);
    CU_ASSERT_EQUAL(config_set(&cfg, "sipd", "roles", "all", err, sizeof err), 0);
    CU_ASSERT_EQUAL(config_finish(&cfg, err, sizeof err), 0);
    if (name) {
        snprintf(cfg.db, sizeof cfg.db, "memory");
        snprintf(cfg.node_name, sizeof cfg.node_name, "%s", name);
    }
    cfg.node_max_num = 40;
    cfg.node_standby = standby;
    cfg.exit_when_drained = exit_when_drained;
    struct node_self *ns = node_self_create(lf.loop, st, lf.tl, &cfg, on_exit_called, NULL);
    if (ns && node_self_has_row(ns))
        store_nodes_set_listener(st, on_nodes_changed, ns);
    loop_fixture_run_ms(&lf, 1); /* the row is written from the loop */
    return ns;
}

static void drop_self(struct node_self *ns)
{
    store_nodes_set_listener(st, NULL, NULL);
    node_self_destroy(ns);
}

struct row_copy {
    int found, status, waiting, draining, max_num;
    char address[128], roles[128];
};

static void on_rows(void *arg, int status, const struct node_row *v, size_t n)
{
    struct row_copy *r = arg;
    for (size_t i = 0; status == 0 && i < n; i++) {
        if (strcmp(v[i].name, "n1") == 0) {
            *r = (struct row_copy){1, v[i].status, v[i].waiting, v[i].draining, v[i].max_num,
                                   "", ""};
            snprintf(r->address, sizeof r->address, "%s", v[i].address);
            snprintf(r->roles, sizeof r->roles, "%s", v[i].roles);
        }
    }
}

static struct row_copy row_n1(void)
{
    struct row_copy r = {0};
    store_nodes_load(st, on_rows, &r); /* memory: synchronous */
    return r;
}

static char *load_value(struct node_self *ns, size_t exclude)
{
    static char buf[96];
    if (node_self_load_value(ns, exclude, buf, sizeof buf) < 0)
        snprintf(buf, sizeof buf, "(too long)");
    return buf;
}

static int self_init(void)
{
    struct loop_fixture_config c = {.t1_ms = 500, .t2_ms = 4000, .t4_ms = 5000};
    if (loop_fixture_open(&lf, &c))
        return -1;
    st = store_create(lf.loop, NULL);
    return st ? 0 : -1;
}

static int self_clean(void)
{
    store_destroy(st);
    st = NULL;
    loop_fixture_close(&lf);
    return 0;
}

static void self_setup(void)
{
    store_destroy(st);
    st = store_create(lf.loop, NULL);
    nexits = 0;
}

/* Without a row (no database, or no name): always active, nothing written. */
static void test_self_without_row_is_active(void)
{
    struct node_self *ns = make_self(NULL, 1, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
    CU_ASSERT_FALSE(node_self_has_row(ns));
    CU_ASSERT_STRING_EQUAL(load_value(ns, 0), "work=0;max=40;state=active");
    CU_ASSERT_EQUAL(node_self_state(ns, 1), NODE_ACTIVE);
    node_self_stop(ns);
    CU_ASSERT_FALSE(row_n1().found);
    drop_self(ns);
}

/* The row as written at start; a drain set in the table applies, drained is reached (logged),
 * an undrain returns to active; a clean stop writes status 0. */
static void test_self_writes_and_follows_its_row(void)
{
    struct node_self *ns = make_self("n1", 0, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
    struct row_copy r = row_n1();
    CU_ASSERT_TRUE_FATAL(r.found);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_EQUAL(r.waiting, 0);
    CU_ASSERT_EQUAL(r.max_num, 40);
    CU_ASSERT_STRING_EQUAL(r.address, "udp:127.0.0.1:5070");
    CU_ASSERT_STRING_EQUAL(r.roles, "registrar,proxy,broker");
    CU_ASSERT_STRING_EQUAL(load_value(ns, 0), "work=0;max=40;state=active");
    store_node_set_draining(st, "n1", 1, NULL, NULL);
    CU_ASSERT_STRING_EQUAL(load_value(ns, 1), "work=0;max=40;state=drained");
    loop_fixture_run_ms(&lf, 120);
    CU_ASSERT_EQUAL(nexits, 0); /* exit_when_drained not set */
    store_node_set_draining(st, "n1", 0, NULL, NULL);
    CU_ASSERT_STRING_EQUAL(load_value(ns, 1), "work=0;max=40;state=active");
    node_self_stop(ns);
    r = row_n1();
    CU_ASSERT_EQUAL(r.status, 0);
    drop_self(ns);
}

/* node.standby: the row waits, the state is standby until a promotion. */
static void test_self_standby_until_promoted(void)
{
    struct node_self *ns = make_self("n1", 1, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
    CU_ASSERT_EQUAL(row_n1().waiting, 1);
    CU_ASSERT_EQUAL(node_self_state(ns, 0), NODE_STANDBY);
    store_node_promote(st, 1, NULL, NULL);
    CU_ASSERT_EQUAL(node_self_state(ns, 0), NODE_ACTIVE);
    drop_self(ns);
}

/* A drain found in the table at start applies at once (it survives a restart), and with
 * exit_when_drained the owner is called back once, from a timer. */
static void test_self_drained_at_start_exits_once(void)
{
    struct node_self *ns = make_self("n1", 0, 0);
    store_node_set_draining(st, "n1", 1, NULL, NULL);
    node_self_stop(ns);
    drop_self(ns);
    ns = make_self("n1", 0, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
    CU_ASSERT_EQUAL(row_n1().status, 1);
    CU_ASSERT_EQUAL(row_n1().draining, 1);
    loop_fixture_run_ms(&lf, 120);
    CU_ASSERT_EQUAL(nexits, 1);
    CU_ASSERT_EQUAL(node_self_state(ns, 0), NODE_DRAINED);
    loop_fixture_run_ms(&lf, 120);
    CU_ASSERT_EQUAL(nexits, 1);
    drop_self(ns);
}

/* A transaction in progress (a server transaction without its final response yet). */
static struct sip_txn *work_item(const char *branch)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "MESSAGE sip:b@example.com SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:9;branch=%s\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=f\r\nTo: <sip:b@example.com>\r\n"
             "Call-ID: w\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n", branch);
    struct sip_source src = {.proto = SIP_PROTO_UDP, .udp_fd = -1};
    sockaddr_from_host_port("127.0.0.1", 9, 9, &src.peer, &src.peerlen);
    int absorbed = 0;
    osip_message_t *req = sip_parse(buf, strlen(buf));
    return req ? txn_server_new(lf.tl, req, &src, &absorbed) : NULL;
}

/* Draining with work in progress: draining (work counted, the probe's own excluded), neither
 * drained nor exit until the last transaction ends; then drained and, with exit_when_drained,
 * the owner's callback, once. */
static void test_self_drained_when_the_work_is_done(void)
{
    struct node_self *ns = make_self("n1", 0, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
    struct sip_txn *a = work_item("z9hG4bKw1"), *b = work_item("z9hG4bKw2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_STRING_EQUAL(load_value(ns, 1), "work=1;max=40;state=active");
    store_node_set_draining(st, "n1", 1, NULL, NULL);
    CU_ASSERT_STRING_EQUAL(load_value(ns, 1), "work=1;max=40;state=draining");
    CU_ASSERT_STRING_EQUAL(load_value(ns, 0), "work=2;max=40;state=draining");
    txn_respond_simple(a, 200, NULL, NULL, NULL);
    loop_fixture_run_ms(&lf, 120);
    CU_ASSERT_EQUAL(node_self_state(ns, 0), NODE_DRAINING);
    CU_ASSERT_EQUAL(nexits, 0);
    txn_respond_simple(b, 200, NULL, NULL, NULL);
    loop_fixture_run_ms(&lf, 120); /* the drain poll finds it, nobody probing */
    CU_ASSERT_EQUAL(nexits, 1);
    CU_ASSERT_STRING_EQUAL(load_value(ns, 0), "work=0;max=40;state=drained");
    drop_self(ns);
}

/* The address: node.address as given; else the first --listen entry; a wildcard is refused. */
static void test_self_address(void)
{
    struct sipd_config cfg;
    config_defaults(&cfg);
    char buf[128], err[512];
    CU_ASSERT_EQUAL(node_self_address(&cfg, buf, sizeof buf, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "node.address"));
    snprintf(cfg.listen, sizeof cfg.listen, " tcp:[::1]:5080 , udp:0.0.0.0:5060");
    CU_ASSERT_EQUAL(node_self_address(&cfg, buf, sizeof buf, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(buf, "tcp:[::1]:5080");
    snprintf(cfg.listen, sizeof cfg.listen, "udp:[::]:5060");
    CU_ASSERT_EQUAL(node_self_address(&cfg, buf, sizeof buf, err, sizeof err), -1);
    snprintf(cfg.node_address, sizeof cfg.node_address, "udp:10.0.0.2:5060");
    CU_ASSERT_EQUAL(node_self_address(&cfg, buf, sizeof buf, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(buf, "udp:10.0.0.2:5060");
}

void register_self_suites(void)
{
    CU_pSuite s = CU_add_suite("self", NULL, NULL);
    if (s) {
        CU_add_test(s, "test_load_parse_reads_what_sipd_writes",
                    test_load_parse_reads_what_sipd_writes);
        CU_add_test(s, "test_load_parse_refuses_hostile_input",
                    test_load_parse_refuses_hostile_input);
        CU_add_test(s, "test_self_address", test_self_address);
    }
    s = CU_add_suite_with_setup_and_teardown("self_memory", self_init, self_clean, self_setup,
                                             NULL);
    if (s) {
        CU_add_test(s, "test_self_without_row_is_active", test_self_without_row_is_active);
        CU_add_test(s, "test_self_writes_and_follows_its_row",
                    test_self_writes_and_follows_its_row);
        CU_add_test(s, "test_self_standby_until_promoted", test_self_standby_until_promoted);
        CU_add_test(s, "test_self_drained_at_start_exits_once",
                    test_self_drained_at_start_exits_once);
        CU_add_test(s, "test_self_drained_when_the_work_is_done",
                    test_self_drained_when_the_work_is_done);
    }
}
