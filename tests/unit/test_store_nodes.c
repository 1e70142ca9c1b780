/* test_store_nodes.c - the node table's store operations (store.h: "cluster: the node table"),
 * against both backends.
 *
 * The same cases run in suite "store_nodes_memory" and, when PGHOST is set (pg_virtualenv), in
 * suite "store_nodes_postgres", which applies schema/ and empties `nodes` (and with it
 * `heartbeats`) before every test. The postgres suite adds what only a database has: the
 * heartbeat history and its trim, and the NOTIFY of a change another connection makes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/CUnit.h>
#include <libpq-fe.h>

#include "base/log.h"
#include "base/loop.h"
#include "store/store.h"
#include "store_fixture.h"
#include "suites.h"

#define AT_MS INT64_C(1700000000000)

/* ---- what a callback got (copied: rows are valid only during the callback) ------------------ */

struct nrow {
    int nid, status, waiting, draining, work_num, max_num;
    char name[64], address[128], roles[128];
    int64_t last_heartbeat_ms;
    double rtt_ms;
};

struct nres {
    int ndone;
    int status;
    struct nrow v[16];
    size_t n;
};

static void on_nodes(void *arg, int status, const struct node_row *v, size_t n)
{
    struct nres *r = arg;
    r->ndone++;
    r->status = status;
    r->n = n;
    for (size_t i = 0; i < n && i < 16; i++) {
        struct nrow *d = &r->v[i];
        *d = (struct nrow){.nid = v[i].nid, .status = v[i].status, .waiting = v[i].waiting,
                           .draining = v[i].draining, .work_num = v[i].work_num,
                           .max_num = v[i].max_num, .last_heartbeat_ms = v[i].last_heartbeat_ms,
                           .rtt_ms = v[i].rtt_ms};
        snprintf(d->name, sizeof d->name, "%s", v[i].name);
        snprintf(d->address, sizeof d->address, "%s", v[i].address);
        snprintf(d->roles, sizeof d->roles, "%s", v[i].roles ? v[i].roles : "(null)");
    }
    one_done();
}

static void on_status(void *arg, int status)
{
    struct nres *r = arg;
    r->ndone++;
    r->status = status;
    one_done();
}

static int upsert(const char *name, const char *address, const char *roles, int max_num,
                  int waiting, struct nres *r)
{
    struct node_row self = {.name = name, .address = address, .roles = roles,
                            .max_num = max_num, .waiting = waiting};
    memset(r, 0, sizeof *r);
    outstanding++;
    store_node_upsert(fx.st, &self, on_nodes, r);
    return wait_all() == 0 && r->ndone == 1 ? r->status : -999;
}

static int load(struct nres *r)
{
    memset(r, 0, sizeof *r);
    outstanding++;
    store_nodes_load(fx.st, on_nodes, r);
    return wait_all() == 0 && r->ndone == 1 ? r->status : -999;
}

static int set_status(const char *name, int status)
{
    struct nres r = {0};
    outstanding++;
    store_node_set_status(fx.st, name, status, on_status, &r);
    return wait_all() == 0 && r.ndone == 1 ? r.status : -999;
}

static int set_draining(const char *name, int draining)
{
    struct nres r = {0};
    outstanding++;
    store_node_set_draining(fx.st, name, draining, on_status, &r);
    return wait_all() == 0 && r.ndone == 1 ? r.status : -999;
}

static int promote(int nid)
{
    struct nres r = {0};
    outstanding++;
    store_node_promote(fx.st, nid, on_status, &r);
    return wait_all() == 0 && r.ndone == 1 ? r.status : -999;
}

static int beats(const struct node_beat *v, size_t n)
{
    struct nres r = {0};
    outstanding++;
    store_node_beats(fx.st, v, n, on_status, &r);
    return wait_all() == 0 && r.ndone == 1 ? r.status : -999;
}

/* ---- shared cases ----------------------------------------------------------------------------- */

/* A new row: status 1, the given columns, draining 0, no load nor heartbeat yet. */
static void test_node_upsert_creates_the_row(void)
{
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(upsert("px1", "udp:127.0.0.1:5070", "registrar,proxy", 300, 0, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 1);
    CU_ASSERT_TRUE(r.v[0].nid > 0);
    CU_ASSERT_STRING_EQUAL(r.v[0].name, "px1");
    CU_ASSERT_STRING_EQUAL(r.v[0].address, "udp:127.0.0.1:5070");
    CU_ASSERT_STRING_EQUAL(r.v[0].roles, "registrar,proxy");
    CU_ASSERT_EQUAL(r.v[0].status, 1);
    CU_ASSERT_EQUAL(r.v[0].waiting, 0);
    CU_ASSERT_EQUAL(r.v[0].draining, 0);
    CU_ASSERT_EQUAL(r.v[0].work_num, 0);
    CU_ASSERT_EQUAL(r.v[0].max_num, 300);
    CU_ASSERT_EQUAL(r.v[0].last_heartbeat_ms, 0);
    CU_ASSERT_TRUE(r.v[0].rtt_ms < 0);
}

/* Upserting again (a restart) takes the new address, roles, max_num and waiting, sets status 1,
 * keeps the nid, and keeps draining as the table has it. */
static void test_node_upsert_keeps_draining_and_nid(void)
{
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(upsert("px1", "udp:127.0.0.1:5070", "proxy", 100, 0, &r), 0);
    int nid = r.v[0].nid;
    CU_ASSERT_EQUAL(set_draining("px1", 1), 0);
    CU_ASSERT_EQUAL(set_status("px1", 0), 0);
    CU_ASSERT_EQUAL_FATAL(upsert("px1", "tcp:127.0.0.1:5071", "proxy,broker", 200, 1, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 1);
    CU_ASSERT_EQUAL(r.v[0].nid, nid);
    CU_ASSERT_EQUAL(r.v[0].draining, 1);
    CU_ASSERT_EQUAL(r.v[0].status, 1);
    CU_ASSERT_EQUAL(r.v[0].waiting, 1);
    CU_ASSERT_EQUAL(r.v[0].max_num, 200);
    CU_ASSERT_STRING_EQUAL(r.v[0].address, "tcp:127.0.0.1:5071");
    CU_ASSERT_STRING_EQUAL(r.v[0].roles, "proxy,broker");
    CU_ASSERT_EQUAL(set_draining("px1", 0), 0);
    CU_ASSERT_EQUAL_FATAL(upsert("px1", "tcp:127.0.0.1:5071", "proxy", 200, 0, &r), 0);
    CU_ASSERT_EQUAL(r.v[0].draining, 0);
}

static void test_node_set_status_and_draining(void)
{
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(upsert("a", "udp:127.0.0.1:5070", "proxy", 10, 0, &r), 0);
    CU_ASSERT_EQUAL(set_status("a", 0), 0);
    CU_ASSERT_EQUAL_FATAL(load(&r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 1);
    CU_ASSERT_EQUAL(r.v[0].status, 0);
    CU_ASSERT_EQUAL(r.v[0].draining, 0);
    CU_ASSERT_EQUAL(set_draining("a", 1), 0);
    CU_ASSERT_EQUAL(set_status("a", 1), 0);
    CU_ASSERT_EQUAL_FATAL(load(&r), 0);
    CU_ASSERT_EQUAL(r.v[0].status, 1);
    CU_ASSERT_EQUAL(r.v[0].draining, 1);
    /* unknown names */
    CU_ASSERT_EQUAL(set_status("nobody", 0), 404);
    CU_ASSERT_EQUAL(set_draining("nobody", 1), 404);
    /* done may be NULL; the writes of one name run in order (postgres: on one connection), so
     * once the last one called back, the others are through */
    store_node_set_status(fx.st, "a", 0, NULL, NULL);
    store_node_set_draining(fx.st, "a", 1, NULL, NULL);
    CU_ASSERT_EQUAL(set_draining("a", 0), 0);
    CU_ASSERT_EQUAL_FATAL(load(&r), 0);
    CU_ASSERT_EQUAL(r.v[0].status, 0);
    CU_ASSERT_EQUAL(r.v[0].draining, 0);
}

/* Load hands out every row by nid ascending, whatever order they were written in. */
static void test_nodes_load_in_nid_order(void)
{
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(load(&r), 0);
    CU_ASSERT_EQUAL(r.n, 0);
    const char *names[] = {"zeta", "alpha", "mid"};
    int nids[3];
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL_FATAL(upsert(names[i], "udp:127.0.0.1:5070", "proxy", 10, 0, &r), 0);
        nids[i] = r.v[0].nid;
    }
    CU_ASSERT_TRUE(nids[0] < nids[1] && nids[1] < nids[2]);
    CU_ASSERT_EQUAL(upsert("zeta", "udp:127.0.0.1:5071", "proxy", 10, 0, &r), 0);
    CU_ASSERT_EQUAL_FATAL(load(&r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 3);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(r.v[i].nid, nids[i]);
        CU_ASSERT_STRING_EQUAL(r.v[i].name, names[i]);
    }
    CU_ASSERT_STRING_EQUAL(r.v[0].address, "udp:127.0.0.1:5071");
}

/* A round of beats: an answered one sets work_num, last_heartbeat and rtt; an unanswered one
 * only the status; an unknown nid is ignored. */
static void test_node_beats_update_load_and_status(void)
{
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(upsert("a", "udp:127.0.0.1:5070", "proxy", 10, 0, &r), 0);
    int a = r.v[0].nid;
    CU_ASSERT_EQUAL_FATAL(upsert("b", "udp:127.0.0.1:5071", "proxy", 10, 0, &r), 0);
    int b = r.v[0].nid;
    struct node_beat v[] = {
        {.nid = a, .ok = 1, .status = 1, .work_num = 7, .rtt_ms = 1.5, .at_ms = AT_MS + 250},
        {.nid = b, .ok = 0, .status = 0, .work_num = 99, .rtt_ms = -1, .at_ms = AT_MS + 250},
        {.nid = b + 1000, .ok = 1, .status = 1, .work_num = 3, .rtt_ms = 1, .at_ms = AT_MS},
    };
    CU_ASSERT_EQUAL(beats(v, 3), 0);
    CU_ASSERT_EQUAL_FATAL(load(&r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 2);
    CU_ASSERT_EQUAL(r.v[0].work_num, 7);
    CU_ASSERT_EQUAL(r.v[0].status, 1);
    CU_ASSERT_EQUAL(r.v[0].last_heartbeat_ms, AT_MS + 250);
    CU_ASSERT_DOUBLE_EQUAL(r.v[0].rtt_ms, 1.5, 0.01);
    CU_ASSERT_EQUAL(r.v[1].work_num, 0);
    CU_ASSERT_EQUAL(r.v[1].status, 0);
    CU_ASSERT_EQUAL(r.v[1].last_heartbeat_ms, 0);
    CU_ASSERT_TRUE(r.v[1].rtt_ms < 0);
    /* b answers again: back up, its load taken */
    struct node_beat again = {.nid = b, .ok = 1, .status = 1, .work_num = 2, .rtt_ms = 0.25,
                              .at_ms = AT_MS + 1250};
    CU_ASSERT_EQUAL(beats(&again, 1), 0);
    CU_ASSERT_EQUAL(beats(NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(load(&r), 0);
    CU_ASSERT_EQUAL(r.v[1].status, 1);
    CU_ASSERT_EQUAL(r.v[1].work_num, 2);
    CU_ASSERT_EQUAL(r.v[1].last_heartbeat_ms, AT_MS + 1250);
    CU_ASSERT_EQUAL(r.v[0].work_num, 7);
}

/* A standby is promoted once: 0, then 409; an active node or an unknown nid: 409. */
static void test_node_promote_once(void)
{
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(upsert("sb", "udp:127.0.0.1:5070", "proxy", 10, 1, &r), 0);
    int nid = r.v[0].nid;
    CU_ASSERT_EQUAL(r.v[0].waiting, 1);
    CU_ASSERT_EQUAL(promote(nid), 0);
    CU_ASSERT_EQUAL(promote(nid), 409);
    CU_ASSERT_EQUAL(promote(nid + 1000), 409);
    CU_ASSERT_EQUAL_FATAL(load(&r), 0);
    CU_ASSERT_EQUAL(r.v[0].waiting, 0);
}

/* ---- the control plane's operations ---- */

static int add(const char *name, const char *address, const char *roles, int max_num, int waiting,
               struct nres *r)
{
    struct node_row row = {.name = name, .address = address, .roles = roles, .max_num = max_num,
                           .waiting = waiting};
    memset(r, 0, sizeof *r);
    outstanding++;
    store_node_add(fx.st, &row, on_nodes, r);
    return wait_all() == 0 && r->ndone == 1 ? r->status : -999;
}

static int change(const char *name, int max_num, int waiting, int draining, struct nres *r)
{
    memset(r, 0, sizeof *r);
    outstanding++;
    store_node_change(fx.st, name, max_num, waiting, draining, on_nodes, r);
    return wait_all() == 0 && r->ndone == 1 ? r->status : -999;
}

static int node_remove(const char *name)
{
    struct nres r = {0};
    outstanding++;
    store_node_remove(fx.st, name, on_status, &r);
    return wait_all() == 0 && r.ndone == 1 ? r.status : -999;
}

struct bres {
    int ndone, status;
    struct node_beat v[STORE_HEARTBEAT_HISTORY];
    size_t n;
};

static void on_beats(void *arg, int status, const struct node_beat *v, size_t n)
{
    struct bres *r = arg;
    r->ndone++;
    r->status = status;
    r->n = n;
    for (size_t i = 0; i < n && i < STORE_HEARTBEAT_HISTORY; i++)
        r->v[i] = v[i];
    one_done();
}

static int history(const char *name, size_t max, struct bres *r)
{
    memset(r, 0, sizeof *r);
    outstanding++;
    store_node_heartbeats(fx.st, name, max, on_beats, r);
    return wait_all() == 0 && r->ndone == 1 ? r->status : -999;
}

/* An added row is down (status 0) until a heartbeat finds it; a second add of the name is 409
 * and changes nothing. */
static void test_node_add_starts_down_and_refuses_an_existing_name(void)
{
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(add("n9", "udp:127.0.0.1:5090", "registrar,proxy", 50, 1, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 1);
    CU_ASSERT_TRUE(r.v[0].nid > 0);
    CU_ASSERT_EQUAL(r.v[0].status, 0);
    CU_ASSERT_EQUAL(r.v[0].waiting, 1);
    CU_ASSERT_EQUAL(r.v[0].draining, 0);
    CU_ASSERT_EQUAL(r.v[0].max_num, 50);
    CU_ASSERT_STRING_EQUAL(r.v[0].roles, "registrar,proxy");
    CU_ASSERT_EQUAL(add("n9", "udp:127.0.0.1:5091", "proxy", 7, 0, &r), 409);
    CU_ASSERT_EQUAL(r.n, 0);
    CU_ASSERT_EQUAL_FATAL(load(&r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 1);
    CU_ASSERT_STRING_EQUAL(r.v[0].address, "udp:127.0.0.1:5090");
    CU_ASSERT_EQUAL(add("", "udp:127.0.0.1:5091", "proxy", 7, 0, &r), STORE_EFAIL);
}

/* change sets what is given and keeps the rest (-1); an unknown name is 404. */
static void test_node_change_sets_only_what_is_given(void)
{
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(upsert("c1", "udp:127.0.0.1:5070", "proxy", 10, 1, &r), 0);
    CU_ASSERT_EQUAL_FATAL(change("c1", 25, -1, -1, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 1);
    CU_ASSERT_EQUAL(r.v[0].max_num, 25);
    CU_ASSERT_EQUAL(r.v[0].waiting, 1);
    CU_ASSERT_EQUAL(r.v[0].draining, 0);
    CU_ASSERT_EQUAL_FATAL(change("c1", 0, -1, 1, &r), 0);
    CU_ASSERT_EQUAL(r.v[0].max_num, 25);
    CU_ASSERT_EQUAL(r.v[0].draining, 1);
    CU_ASSERT_EQUAL_FATAL(change("c1", -1, 0, 0, &r), 0); /* activate */
    CU_ASSERT_EQUAL(r.v[0].waiting, 0);
    CU_ASSERT_EQUAL(r.v[0].draining, 0);
    CU_ASSERT_EQUAL(r.v[0].status, 1);
    CU_ASSERT_STRING_EQUAL(r.v[0].address, "udp:127.0.0.1:5070");
    CU_ASSERT_EQUAL(change("nope", 5, -1, -1, &r), 404);
    CU_ASSERT_EQUAL(r.n, 0);
}

/* A node that is up and not drained stays; drained (draining, work 0) or down it goes, with its
 * history; a second remove is 404. */
static void test_node_remove_refuses_an_up_node_until_drained(void)
{
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(upsert("r1", "udp:127.0.0.1:5070", "proxy", 10, 0, &r), 0);
    int nid = r.v[0].nid;
    CU_ASSERT_EQUAL_FATAL(upsert("r2", "udp:127.0.0.1:5071", "proxy", 10, 0, &r), 0);
    int nid2 = r.v[0].nid;
    struct node_beat b = {.nid = nid, .ok = 1, .status = 1, .work_num = 3, .rtt_ms = 0.5,
                          .at_ms = AT_MS};
    CU_ASSERT_EQUAL(beats(&b, 1), 0);
    CU_ASSERT_EQUAL(node_remove("r1"), 409);
    CU_ASSERT_EQUAL(set_draining("r1", 1), 0);
    CU_ASSERT_EQUAL(node_remove("r1"), 409); /* draining, still 3 in progress */
    b.work_num = 0;
    b.at_ms += 1000;
    CU_ASSERT_EQUAL(beats(&b, 1), 0);
    CU_ASSERT_EQUAL(node_remove("r1"), 0);
    CU_ASSERT_EQUAL(node_remove("r1"), 404);
    CU_ASSERT_EQUAL(set_status("r2", 0), 0);
    CU_ASSERT_EQUAL(node_remove("r2"), 0);
    CU_ASSERT_EQUAL_FATAL(load(&r), 0);
    CU_ASSERT_EQUAL(r.n, 0);
    struct bres h;
    CU_ASSERT_EQUAL(history("r1", 10, &h), 404);
    /* the table goes on: a new row gets a new nid, and the old ones are not found */
    CU_ASSERT_EQUAL_FATAL(upsert("r3", "udp:127.0.0.1:5072", "proxy", 10, 0, &r), 0);
    CU_ASSERT_TRUE(r.v[0].nid > nid2);
    CU_ASSERT_EQUAL(promote(nid), 409);
}

/* The history comes newest first, at most max, with ok, rtt and the reported work_num; a miss
 * has neither rtt nor work_num. */
static void test_node_heartbeats_newest_first(void)
{
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(upsert("h1", "udp:127.0.0.1:5070", "proxy", 10, 0, &r), 0);
    int nid = r.v[0].nid;
    struct bres h;
    CU_ASSERT_EQUAL_FATAL(history("h1", 10, &h), 0);
    CU_ASSERT_EQUAL(h.n, 0);
    for (int i = 0; i < 3; i++) {
        struct node_beat b = {.nid = nid, .ok = i != 1, .status = -1, .work_num = 10 + i,
                              .rtt_ms = 1.5 + i, .at_ms = AT_MS + 1000 * i};
        CU_ASSERT_EQUAL(beats(&b, 1), 0);
    }
    CU_ASSERT_EQUAL_FATAL(history("h1", 10, &h), 0);
    CU_ASSERT_EQUAL_FATAL(h.n, 3);
    CU_ASSERT_EQUAL(h.v[0].at_ms, AT_MS + 2000);
    CU_ASSERT_EQUAL(h.v[0].ok, 1);
    CU_ASSERT_EQUAL(h.v[0].work_num, 12);
    CU_ASSERT_DOUBLE_EQUAL(h.v[0].rtt_ms, 3.5, 0.01);
    CU_ASSERT_EQUAL(h.v[0].nid, nid);
    CU_ASSERT_EQUAL(h.v[1].at_ms, AT_MS + 1000);
    CU_ASSERT_EQUAL(h.v[1].ok, 0);
    CU_ASSERT_TRUE(h.v[1].rtt_ms < 0);
    CU_ASSERT_EQUAL(h.v[1].work_num, -1);
    CU_ASSERT_EQUAL(h.v[2].at_ms, AT_MS);
    CU_ASSERT_EQUAL_FATAL(history("h1", 2, &h), 0);
    CU_ASSERT_EQUAL(h.n, 2);
    CU_ASSERT_EQUAL(history("none", 10, &h), 404);
}

/* The memory store keeps STORE_HEARTBEAT_HISTORY beats per node, as postgres's trim does. */
static void test_node_heartbeats_keep_the_newest(void)
{
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(upsert("h2", "udp:127.0.0.1:5070", "proxy", 10, 0, &r), 0);
    for (int i = 0; i < STORE_HEARTBEAT_HISTORY + 5; i++) {
        struct node_beat b = {.nid = r.v[0].nid, .ok = 1, .status = 1, .work_num = i,
                              .rtt_ms = 1, .at_ms = AT_MS + i};
        CU_ASSERT_EQUAL(beats(&b, 1), 0);
    }
    struct bres h;
    CU_ASSERT_EQUAL_FATAL(history("h2", 1000, &h), 0);
    CU_ASSERT_EQUAL_FATAL(h.n, STORE_HEARTBEAT_HISTORY);
    CU_ASSERT_EQUAL(h.v[0].at_ms, AT_MS + STORE_HEARTBEAT_HISTORY + 4);
    CU_ASSERT_EQUAL(h.v[STORE_HEARTBEAT_HISTORY - 1].at_ms, AT_MS + 5);
}

/* What the nodes listener heard. */
struct nheard {
    int nids[64];
    size_t n;
    size_t want;
    int is_waiting;
};

static void on_node_changed(void *arg, int nid)
{
    struct nheard *h = arg;
    if (h->n < 64)
        h->nids[h->n] = nid;
    h->n++;
    if (h->is_waiting && h->n >= h->want)
        loop_stop(fx.loop);
}

static int nheard_enough(const void *arg)
{
    const struct nheard *h = arg;
    return h->n >= h->want;
}

static int wait_nheard(struct nheard *h, size_t n)
{
    h->want = n;
    h->is_waiting = 1;
    int rc = wait_until(nheard_enough, h);
    h->is_waiting = 0;
    return rc;
}

/* postgres: run the loop until a listening connection of the test database's stores is idle
 * after its last LISTEN (so it is in effect), at most SAFETY_MS. Memory: at once. */
static int wait_listen_ready(const char *app)
{
    if (fx.backend != BACKEND_POSTGRES)
        return 1;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN sipd_im'"
             " AND state = 'idle'%s%s%s", app ? " AND application_name = '" : "", app ? app : "",
             app ? "'" : "");
    for (int i = 0; i < SAFETY_MS / 10; i++) {
        if (admin_scalar(sql) >= 1)
            return 1;
        run_for(10);
    }
    return 0;
}

static int nheard_count(const struct nheard *h, int nid)
{
    int k = 0;
    for (size_t i = 0; i < h->n && i < 64; i++)
        k += h->nids[i] == nid;
    return k;
}

/* The store's own changes are announced with the nid (postgres: through the trigger's NOTIFY,
 * which reaches a listener of the same store too); a load-only beat is not. */
static void test_nodes_listener_hears_changes(void)
{
    static struct nheard h;
    memset(&h, 0, sizeof h);
    store_nodes_set_listener(fx.st, on_node_changed, &h);
    CU_ASSERT_TRUE_FATAL(wait_listen_ready(NULL));
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(upsert("a", "udp:127.0.0.1:5070", "proxy", 10, 1, &r), 0);
    int nid = r.v[0].nid;
    CU_ASSERT_EQUAL(wait_nheard(&h, 1), 0);
    CU_ASSERT_EQUAL(set_draining("a", 1), 0);
    CU_ASSERT_EQUAL(wait_nheard(&h, 2), 0);
    CU_ASSERT_EQUAL(promote(nid), 0);
    CU_ASSERT_EQUAL(wait_nheard(&h, 3), 0);
    struct node_beat down = {.nid = nid, .ok = 0, .status = 0, .at_ms = AT_MS};
    CU_ASSERT_EQUAL(beats(&down, 1), 0);
    CU_ASSERT_EQUAL(wait_nheard(&h, 4), 0);
    CU_ASSERT_EQUAL(nheard_count(&h, nid), 4);
    /* load only, and a no-change: nothing */
    struct node_beat up = {.nid = nid, .ok = 1, .status = 0, .work_num = 5, .at_ms = AT_MS};
    CU_ASSERT_EQUAL(beats(&up, 1), 0);
    CU_ASSERT_EQUAL(set_draining("a", 1), 0);
    run_for(fx.backend == BACKEND_POSTGRES ? 300 : 0);
    CU_ASSERT_EQUAL(h.n, 4);
    store_nodes_set_listener(fx.st, NULL, NULL);
    CU_ASSERT_EQUAL(set_draining("a", 0), 0);
    run_for(fx.backend == BACKEND_POSTGRES ? 300 : 0);
    CU_ASSERT_EQUAL(h.n, 4);
}

/* add, change and remove are announced like every change of the table (the balancers' LISTEN). */
static void test_nodes_listener_hears_the_control_plane(void)
{
    static struct nheard h;
    memset(&h, 0, sizeof h);
    store_nodes_set_listener(fx.st, on_node_changed, &h);
    CU_ASSERT_TRUE_FATAL(wait_listen_ready(NULL));
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(add("l1", "udp:127.0.0.1:5070", "proxy", 10, 0, &r), 0);
    int nid = r.v[0].nid;
    CU_ASSERT_EQUAL(wait_nheard(&h, 1), 0);
    CU_ASSERT_EQUAL(change("l1", 20, -1, -1, &r), 0);
    CU_ASSERT_EQUAL(wait_nheard(&h, 2), 0);
    CU_ASSERT_EQUAL(change("l1", -1, 1, 1, &r), 0);
    CU_ASSERT_EQUAL(wait_nheard(&h, 3), 0);
    CU_ASSERT_EQUAL(node_remove("l1"), 0); /* status 0: removable */
    CU_ASSERT_EQUAL(wait_nheard(&h, 4), 0);
    CU_ASSERT_EQUAL(nheard_count(&h, nid), 4);
    store_nodes_set_listener(fx.st, NULL, NULL);
}

/* Arguments a caller got wrong fail the call, they do not crash the store. */
static void test_node_upsert_refuses_a_row_without_name(void)
{
    struct nres r;
    CU_ASSERT_EQUAL(upsert("", "udp:127.0.0.1:5070", "proxy", 10, 0, &r), STORE_EFAIL);
    CU_ASSERT_EQUAL(upsert(NULL, "udp:127.0.0.1:5070", "proxy", 10, 0, &r), STORE_EFAIL);
    CU_ASSERT_EQUAL(upsert("x", NULL, "proxy", 10, 0, &r), STORE_EFAIL);
    CU_ASSERT_EQUAL(upsert("x", "udp:127.0.0.1:5070", NULL, 10, 0, &r), 0);
    CU_ASSERT_STRING_EQUAL(r.v[0].roles, "");
}

/* ---- postgres only ---------------------------------------------------------------------------- */

/* Every beat leaves a history row; each node keeps only its newest STORE_HEARTBEAT_HISTORY. */
static void test_pg_node_beats_trim_history(void)
{
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(upsert("a", "udp:127.0.0.1:5070", "proxy", 10, 0, &r), 0);
    int a = r.v[0].nid;
    CU_ASSERT_EQUAL_FATAL(upsert("b", "udp:127.0.0.1:5071", "proxy", 10, 0, &r), 0);
    int b = r.v[0].nid;
    enum { ROUNDS = STORE_HEARTBEAT_HISTORY + 5 };
    for (int i = 0; i < ROUNDS; i++) {
        struct node_beat v[] = {
            {.nid = a, .ok = 1, .status = 1, .work_num = i, .rtt_ms = 1, .at_ms = AT_MS + i * 1000},
            {.nid = b, .ok = i % 2, .status = 1, .work_num = 1, .rtt_ms = 2,
             .at_ms = AT_MS + i * 1000},
        };
        /* b only in the first few rounds: its history stays short */
        CU_ASSERT_EQUAL_FATAL(beats(v, i < 3 ? 2 : 1), 0);
    }
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM heartbeats WHERE nid = %d", a);
    CU_ASSERT_EQUAL(admin_scalar(sql), STORE_HEARTBEAT_HISTORY);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM heartbeats WHERE nid = %d", b);
    CU_ASSERT_EQUAL(admin_scalar(sql), 3);
    /* the newest are kept */
    snprintf(sql, sizeof sql,
             "SELECT floor(extract(epoch FROM min(at)))::bigint FROM heartbeats WHERE nid = %d", a);
    CU_ASSERT_EQUAL(admin_scalar(sql), (AT_MS + (ROUNDS - STORE_HEARTBEAT_HISTORY) * 1000) / 1000);
    /* an unanswered beat's history row has no rtt */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM heartbeats WHERE nid = %d AND NOT ok AND rtt_ms IS NULL", b);
    CU_ASSERT_EQUAL(admin_scalar(sql), 2);
    CU_ASSERT_EQUAL_FATAL(load(&r), 0);
    CU_ASSERT_EQUAL(r.v[0].work_num, ROUNDS - 1);
}

/* A balancer writes a round's results after the round: an answer the node gave just before its
 * clean stop (status 0, written by the node) must not set the row back to up; an answer given
 * after the stop (the node runs again) does. */
static void test_pg_node_beat_older_than_a_clean_stop_keeps_it_down(void)
{
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(upsert("a", "udp:127.0.0.1:5070", "proxy", 10, 0, &r), 0);
    int a = r.v[0].nid;
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    CU_ASSERT_EQUAL_FATAL(set_status("a", 0), 0);
    struct node_beat before = {.nid = a, .ok = 1, .status = 1, .work_num = 1, .rtt_ms = 1,
                               .at_ms = now_ms - 2000};
    CU_ASSERT_EQUAL(beats(&before, 1), 0);
    CU_ASSERT_EQUAL_FATAL(load(&r), 0);
    CU_ASSERT_EQUAL(r.v[0].status, 0);
    CU_ASSERT_EQUAL(r.v[0].work_num, 1); /* the load and heartbeat columns still are taken */
    struct node_beat after = {.nid = a, .ok = 1, .status = 1, .work_num = 2, .rtt_ms = 1,
                              .at_ms = now_ms + 5000};
    CU_ASSERT_EQUAL(beats(&after, 1), 0);
    CU_ASSERT_EQUAL_FATAL(load(&r), 0);
    CU_ASSERT_EQUAL(r.v[0].status, 1);
    /* a restart's upsert clears the stop: an old answer counts again */
    CU_ASSERT_EQUAL_FATAL(set_status("a", 0), 0);
    CU_ASSERT_EQUAL_FATAL(upsert("a", "udp:127.0.0.1:5070", "proxy", 10, 0, &r), 0);
    CU_ASSERT_EQUAL(beats(&before, 1), 0);
    CU_ASSERT_EQUAL_FATAL(load(&r), 0);
    CU_ASSERT_EQUAL(r.v[0].status, 1);
}

/* An operator's UPDATE on another connection reaches the listener with the nid. */
static void test_pg_nodes_listener_hears_an_operator_update(void)
{
    struct nres r;
    CU_ASSERT_EQUAL_FATAL(upsert("op", "udp:127.0.0.1:5070", "proxy", 10, 0, &r), 0);
    int nid = r.v[0].nid;
    static struct nheard h;
    memset(&h, 0, sizeof h);
    store_nodes_set_listener(fx.st, on_node_changed, &h);
    CU_ASSERT_TRUE_FATAL(wait_listen_ready(NULL));
    CU_ASSERT_EQUAL(admin_exec("UPDATE nodes SET draining = true WHERE name = 'op'"), 0);
    CU_ASSERT_EQUAL(wait_nheard(&h, 1), 0);
    CU_ASSERT_EQUAL(h.nids[0], nid);
    CU_ASSERT_EQUAL(admin_exec("UPDATE nodes SET work_num = 3 WHERE name = 'op'"), 0);
    CU_ASSERT_EQUAL(admin_exec("INSERT INTO nodes (name, address) VALUES ('new', 'udp:x:1')"), 0);
    CU_ASSERT_EQUAL(wait_nheard(&h, 2), 0);
    CU_ASSERT_NOT_EQUAL(h.nids[1], nid);
    CU_ASSERT_TRUE(h.nids[1] > 0);
    store_nodes_set_listener(fx.st, NULL, NULL);
}

/* The listening connection is lost (its backend terminated): once it listens again the listener
 * hears -1, "re-read the table". */
static void test_pg_nodes_listener_hears_minus_one_after_a_reconnect(void)
{
    struct store *a = store_create(fx.loop, "postgresql://?application_name=sipd_test_nodes");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    static struct nheard h;
    memset(&h, 0, sizeof h);
    store_nodes_set_listener(a, on_node_changed, &h);
    CU_ASSERT_TRUE_FATAL(wait_listen_ready("sipd_test_nodes"));
    CU_ASSERT_EQUAL(h.n, 0);
    admin_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name"
               " = 'sipd_test_nodes' AND query = 'LISTEN sipd_im'");
    CU_ASSERT_EQUAL(wait_nheard(&h, 1), 0);
    CU_ASSERT_EQUAL(h.nids[0], -1);
    store_nodes_set_listener(a, NULL, NULL);
    store_destroy(a);
}

static void test_pg_init_db_applies_004(void)
{
    CU_ASSERT_EQUAL(store_init_db("postgresql://", fx.schema_dir), 0);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM schema_migrations WHERE version = 4"), 1);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM pg_proc WHERE proname = 'sipd_node_beats'"),
                    1);
}

/* ---- suites ----------------------------------------------------------------------------------- */

static int pg_init(void) { return fx_pg_init("store_nodes_postgres"); }

static void pg_setup(void) { fx_pg_setup("TRUNCATE nodes, heartbeats"); }

static const struct test_case shared_cases[] = {
    TEST_CASE(test_node_upsert_creates_the_row),
    TEST_CASE(test_node_upsert_keeps_draining_and_nid),
    TEST_CASE(test_node_set_status_and_draining),
    TEST_CASE(test_nodes_load_in_nid_order),
    TEST_CASE(test_node_beats_update_load_and_status),
    TEST_CASE(test_node_promote_once),
    TEST_CASE(test_nodes_listener_hears_changes),
    TEST_CASE(test_node_upsert_refuses_a_row_without_name),
    TEST_CASE(test_node_add_starts_down_and_refuses_an_existing_name),
    TEST_CASE(test_node_change_sets_only_what_is_given),
    TEST_CASE(test_node_remove_refuses_an_up_node_until_drained),
    TEST_CASE(test_node_heartbeats_newest_first),
    TEST_CASE(test_node_heartbeats_keep_the_newest),
    TEST_CASE(test_nodes_listener_hears_the_control_plane),
};

static const struct test_case pg_cases[] = {
    TEST_CASE(test_pg_node_beats_trim_history),
    TEST_CASE(test_pg_node_beat_older_than_a_clean_stop_keeps_it_down),
    TEST_CASE(test_pg_nodes_listener_hears_an_operator_update),
    TEST_CASE(test_pg_nodes_listener_hears_minus_one_after_a_reconnect),
    TEST_CASE(test_pg_init_db_applies_004),
};

void register_store_nodes_suites(void)
{
    fx_register_suites("store_nodes_memory", "store_nodes_postgres", pg_init, pg_setup,
                       shared_cases, NCASES(shared_cases), NULL, 0, pg_cases, NCASES(pg_cases));
}
