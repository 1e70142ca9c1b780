/* test_store_subs.c - the `im` subscription rows of topic takeover (store.h: "im subscriptions
 * kept for a takeover"), against both backends.
 *
 * Suite "store_subs_memory": the memory store keeps no rows (one process: nobody takes over), so
 * put, delete and release succeed and orphans and claim find nothing. Suite
 * "store_subs_postgres" (when PGHOST is set) empties `subscriptions`, `im_positions` and `nodes`
 * before every test: a row comes back whole from a claim with its device's position, two
 * claims at once take disjoint rows, a release makes rows orphans, a restarted node adopts its
 * own rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/CUnit.h>

#include "store/store.h"
#include "store_fixture.h"
#include "suites.h"

#define TOPIC "sip:bob@example.com"

/* ---- what a callback got (copied) ------------------------------------------------------------ */

struct srow {
    char topic[64], call_id[64], remote_tag[32], local_tag[32], event_id[32], subscriber[64];
    char instance[64], contact[128], remote_target[128], remote_uri[64], local_uri[64];
    char route_set[256], node[32];
    int has_instance, has_route_set, has_node;
    uint32_t local_cseq, remote_cseq;
    int64_t expires_at, acked_seq, device_pos;
    int is_group, is_datagram;
};

struct sres {
    int ndone, status;
    struct srow v[8];
    char topics[8][64];
    size_t n;
};

#define COPY(d, s) snprintf(d, sizeof d, "%s", (s) ? (s) : "")

static void on_subs(void *arg, int status, const struct im_sub_row *v, size_t n)
{
    struct sres *r = arg;
    r->ndone++;
    r->status = status;
    r->n = n;
    for (size_t i = 0; i < n && i < 8; i++) {
        struct srow *d = &r->v[i];
        COPY(d->topic, v[i].topic);
        COPY(d->call_id, v[i].call_id);
        COPY(d->remote_tag, v[i].remote_tag);
        COPY(d->local_tag, v[i].local_tag);
        COPY(d->event_id, v[i].event_id);
        COPY(d->subscriber, v[i].subscriber);
        COPY(d->instance, v[i].instance);
        COPY(d->contact, v[i].contact);
        COPY(d->remote_target, v[i].remote_target);
        COPY(d->remote_uri, v[i].remote_uri);
        COPY(d->local_uri, v[i].local_uri);
        COPY(d->route_set, v[i].route_set);
        d->has_instance = v[i].instance != NULL;
        d->has_route_set = v[i].route_set != NULL;
        COPY(d->node, v[i].node);
        d->has_node = v[i].node != NULL;
        d->local_cseq = v[i].local_cseq;
        d->remote_cseq = v[i].remote_cseq;
        d->expires_at = v[i].expires_at;
        d->acked_seq = v[i].acked_seq;
        d->device_pos = v[i].device_pos;
        d->is_group = v[i].is_group;
        d->is_datagram = v[i].is_datagram;
    }
    one_done();
}

static void on_topics(void *arg, int status, const char *const *v, size_t n)
{
    struct sres *r = arg;
    r->ndone++;
    r->status = status;
    r->n = n;
    for (size_t i = 0; i < n && i < 8; i++)
        COPY(r->topics[i], v[i]);
    one_done();
}

static void on_status(void *arg, int status)
{
    struct sres *r = arg;
    r->ndone++;
    r->status = status;
    one_done();
}

/* A row of subscription call_id (event id "" unless given) owned by node. */
static struct im_sub_row row(const char *call_id, const char *node)
{
    return (struct im_sub_row){
        .topic = TOPIC, .call_id = call_id, .remote_tag = "ft", .local_tag = "tt",
        .event_id = "", .subscriber = TOPIC, .instance = "urn:uuid:dev-1",
        .contact = "sip:bob@10.0.0.9:5062", .remote_target = "sip:bob@10.0.0.9:5062;ob",
        .remote_uri = "sip:bob@example.com", .local_uri = TOPIC,
        .route_set = "<sip:127.0.0.1:5060;lr;flow=u-7f000001-13c6;topic=sip:bob%40example.com>,"
                     "<sip:10.1.1.1;lr>",
        .local_cseq = 17, .remote_cseq = 3, .expires_at = (int64_t)time(NULL) + 600,
        .acked_seq = 4, .node = node, .is_group = 0, .is_datagram = 1, .device_pos = -1,
    };
}

static int put(const struct im_sub_row *r)
{
    struct sres s = {0};
    outstanding++;
    store_im_sub_put(fx.st, r, on_status, &s);
    return wait_all() == 0 && s.ndone == 1 ? s.status : -999;
}

static int orphans(const char *const *up, size_t nup, struct sres *s)
{
    memset(s, 0, sizeof *s);
    outstanding++;
    store_im_sub_orphans(fx.st, up, nup, on_topics, s);
    return wait_all() == 0 && s->ndone == 1 ? s->status : -999;
}

static int claim(struct store *st, const char *node, const char *const *topics, size_t n,
                 const char *const *up, size_t nup, struct sres *s)
{
    memset(s, 0, sizeof *s);
    outstanding++;
    store_im_sub_claim(st, node, topics, n, up, nup, on_subs, s);
    return wait_all() == 0 && s->ndone == 1 ? s->status : -999;
}

/* ---- both backends ----------------------------------------------------------------------------- */

static void test_sub_rows_put_and_delete_succeed(void)
{
    struct im_sub_row r = row("c1", "b1");
    CU_ASSERT_EQUAL(put(&r), 0);
    struct sres s = {0};
    outstanding++;
    store_im_sub_delete(fx.st, &r, on_status, &s);
    CU_ASSERT(wait_all() == 0 && s.ndone == 1 && s.status == 0);
}

/* ---- memory ------------------------------------------------------------------------------------ */

static void test_mem_sub_rows_none_to_take_over(void)
{
    struct im_sub_row r = row("c1", "b1");
    CU_ASSERT_EQUAL(put(&r), 0);
    struct sres s;
    CU_ASSERT_EQUAL(orphans(NULL, 0, &s), 0);
    CU_ASSERT_EQUAL(s.n, 0);
    const char *t[] = {TOPIC};
    CU_ASSERT_EQUAL(claim(fx.st, "b2", t, 1, NULL, 0, &s), 0);
    CU_ASSERT_EQUAL(s.n, 0);
}

static int list(const char *topic, const char *aor, size_t max, struct sres *s)
{
    memset(s, 0, sizeof *s);
    outstanding++;
    store_im_subs_list(fx.st, topic, aor, max, on_subs, s);
    return wait_all() == 0 && s->ndone == 1 ? s->status : -999;
}

static void test_mem_sub_rows_listed_none(void)
{
    struct im_sub_row r = row("c1", "b1");
    CU_ASSERT_EQUAL(put(&r), 0);
    struct sres s;
    CU_ASSERT_EQUAL(list(TOPIC, NULL, 10, &s), 0);
    CU_ASSERT_EQUAL(s.n, 0);
    CU_ASSERT_EQUAL(list(NULL, TOPIC, 10, &s), 0);
    CU_ASSERT_EQUAL(s.n, 0);
}

/* ---- postgres ---------------------------------------------------------------------------------- */

static void test_pg_sub_row_comes_back_whole_with_the_device_position(void)
{
    struct im_sub_row r = row("c1", "b1");
    CU_ASSERT_EQUAL_FATAL(put(&r), 0);
    r.local_cseq = 21; /* written again (a refresh): replaced, not added */
    CU_ASSERT_EQUAL_FATAL(put(&r), 0);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM subscriptions"), 1);
    struct sres s = {0};
    outstanding++;
    store_im_position_advance(fx.st, TOPIC, TOPIC, "urn:uuid:dev-1", 9, on_status, &s);
    CU_ASSERT(wait_all() == 0 && s.status == 0);

    const char *up[] = {"b2"}, *b1up[] = {"b1", "b2"};
    CU_ASSERT_EQUAL(orphans(b1up, 2, &s), 0);
    CU_ASSERT_EQUAL(s.n, 0); /* b1 is up: its rows are nobody's to take */
    CU_ASSERT_EQUAL(orphans(up, 1, &s), 0);
    CU_ASSERT_EQUAL_FATAL(s.n, 1);
    CU_ASSERT_STRING_EQUAL(s.topics[0], TOPIC);

    const char *topics[] = {TOPIC};
    CU_ASSERT_EQUAL_FATAL(claim(fx.st, "b2", topics, 1, up, 1, &s), 0);
    CU_ASSERT_EQUAL_FATAL(s.n, 1);
    const struct srow *g = &s.v[0];
    CU_ASSERT_STRING_EQUAL(g->topic, TOPIC);
    CU_ASSERT_STRING_EQUAL(g->call_id, "c1");
    CU_ASSERT_STRING_EQUAL(g->remote_tag, "ft");
    CU_ASSERT_STRING_EQUAL(g->local_tag, "tt");
    CU_ASSERT_STRING_EQUAL(g->event_id, "");
    CU_ASSERT_STRING_EQUAL(g->instance, "urn:uuid:dev-1");
    CU_ASSERT_STRING_EQUAL(g->contact, r.contact);
    CU_ASSERT_STRING_EQUAL(g->remote_target, r.remote_target);
    CU_ASSERT_STRING_EQUAL(g->remote_uri, r.remote_uri);
    CU_ASSERT_STRING_EQUAL(g->local_uri, r.local_uri);
    CU_ASSERT_STRING_EQUAL(g->route_set, r.route_set); /* two URIs, in order */
    CU_ASSERT_EQUAL(g->local_cseq, 21);
    CU_ASSERT_EQUAL(g->remote_cseq, 3);
    CU_ASSERT_EQUAL(g->expires_at, r.expires_at);
    CU_ASSERT_EQUAL(g->acked_seq, 4);
    CU_ASSERT_EQUAL(g->device_pos, 9);
    CU_ASSERT(g->is_datagram && !g->is_group);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM subscriptions WHERE node = 'b2'"), 1);
    CU_ASSERT_EQUAL(claim(fx.st, "b3", topics, 1, up, 1, &s), 0);
    CU_ASSERT_EQUAL(s.n, 0); /* b2's now, and b2 is up */
}

static void test_pg_sub_row_without_route_set_or_instance(void)
{
    struct im_sub_row r = row("c2", "b1");
    r.route_set = NULL;
    r.instance = NULL;
    r.event_id = "x1";
    CU_ASSERT_EQUAL_FATAL(put(&r), 0);
    struct sres s;
    const char *topics[] = {TOPIC};
    CU_ASSERT_EQUAL_FATAL(claim(fx.st, "b2", topics, 1, NULL, 0, &s), 0);
    CU_ASSERT_EQUAL_FATAL(s.n, 1);
    CU_ASSERT(!s.v[0].has_route_set && !s.v[0].has_instance);
    CU_ASSERT_STRING_EQUAL(s.v[0].event_id, "x1");
    CU_ASSERT_EQUAL(s.v[0].device_pos, -1); /* the device never acknowledged anything */
}

/* The control plane's list (docs/api.md "subscriptions"): by topic or by subscriber, unexpired
 * rows only, the acknowledged seq raised to the device's position, the owner (NULL: released). */
static void test_pg_sub_rows_listed_by_topic_and_by_subscriber(void)
{
    struct im_sub_row a = row("c1", "b1"), g = row("c2", "b2"), old = row("c3", "b1");
    g.topic = "sip:team@example.com";
    g.is_group = 1;
    g.acked_seq = 0;
    old.expires_at = (int64_t)time(NULL) - 5;
    CU_ASSERT_EQUAL_FATAL(put(&a), 0);
    CU_ASSERT_EQUAL_FATAL(put(&g), 0);
    CU_ASSERT_EQUAL_FATAL(put(&old), 0);
    struct sres s = {0};
    outstanding++;
    store_im_position_advance(fx.st, TOPIC, TOPIC, "urn:uuid:dev-1", 9, on_status, &s);
    CU_ASSERT(wait_all() == 0 && s.status == 0);

    CU_ASSERT_EQUAL(list(TOPIC, NULL, 10, &s), 0);
    CU_ASSERT_EQUAL_FATAL(s.n, 1); /* c3 expired */
    CU_ASSERT_STRING_EQUAL(s.v[0].call_id, "c1");
    CU_ASSERT_EQUAL(s.v[0].acked_seq, 9); /* the device's position, above the row's 4 */
    CU_ASSERT(s.v[0].has_node && strcmp(s.v[0].node, "b1") == 0);
    CU_ASSERT_STRING_EQUAL(s.v[0].instance, "urn:uuid:dev-1");

    CU_ASSERT_EQUAL(list(NULL, TOPIC, 10, &s), 0);
    CU_ASSERT_EQUAL_FATAL(s.n, 2); /* by topic: bob's own, then the group */
    CU_ASSERT_STRING_EQUAL(s.v[0].topic, TOPIC);
    CU_ASSERT_STRING_EQUAL(s.v[1].topic, "sip:team@example.com");
    CU_ASSERT_EQUAL(s.v[1].acked_seq, 0); /* no position in the group */
    CU_ASSERT(s.v[1].is_group && strcmp(s.v[1].node, "b2") == 0);
    CU_ASSERT_EQUAL(list(NULL, TOPIC, 1, &s), 0);
    CU_ASSERT_EQUAL(s.n, 1);
    CU_ASSERT_EQUAL(list("sip:nobody@example.com", NULL, 10, &s), 0);
    CU_ASSERT_EQUAL(s.n, 0);

    /* released by a draining b1: listed without an owner */
    memset(&s, 0, sizeof s);
    outstanding++;
    store_im_sub_release(fx.st, "b1", on_status, &s);
    CU_ASSERT(wait_all() == 0 && s.status == 0);
    CU_ASSERT_EQUAL(list(TOPIC, NULL, 10, &s), 0);
    CU_ASSERT(s.n == 1 && !s.v[0].has_node);
}

static void test_pg_sub_two_claims_at_once_take_disjoint_rows(void)
{
    char ids[6][8];
    for (int i = 0; i < 6; i++) {
        snprintf(ids[i], sizeof ids[i], "c%d", i);
        struct im_sub_row r = row(ids[i], "dead");
        CU_ASSERT_EQUAL_FATAL(put(&r), 0);
    }
    struct store *other = make_store();
    CU_ASSERT_FATAL(other && wait_available(other));
    const char *topics[] = {TOPIC}, *up[] = {"b2", "b3"};
    struct sres a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    outstanding += 2;
    store_im_sub_claim(fx.st, "b2", topics, 1, up, 2, on_subs, &a);
    store_im_sub_claim(other, "b3", topics, 1, up, 2, on_subs, &b);
    CU_ASSERT(wait_all() == 0 && a.status == 0 && b.status == 0);
    CU_ASSERT_EQUAL(a.n + b.n, 6);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM subscriptions WHERE node IN ('b2','b3')"), 6);
    store_destroy(other);
}

static void test_pg_sub_release_makes_orphans_and_a_restart_adopts_its_own(void)
{
    struct im_sub_row r1 = row("c1", "b1"), r2 = row("c2", "b1"), r3 = row("c3", "b2");
    CU_ASSERT_EQUAL_FATAL(put(&r1), 0);
    CU_ASSERT_EQUAL_FATAL(put(&r2), 0);
    CU_ASSERT_EQUAL_FATAL(put(&r3), 0);
    /* a restarted b2 adopts its own row, whatever the topic */
    struct sres s;
    CU_ASSERT_EQUAL(claim(fx.st, "b2", NULL, 0, NULL, 0, &s), 0);
    CU_ASSERT(s.n == 1 && strcmp(s.v[0].call_id, "c3") == 0);
    /* b1 drains: its rows are let go */
    memset(&s, 0, sizeof s);
    outstanding++;
    store_im_sub_release(fx.st, "b1", on_status, &s);
    CU_ASSERT(wait_all() == 0 && s.status == 0);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM subscriptions WHERE node IS NULL"), 2);
    const char *up[] = {"b1", "b2"};
    CU_ASSERT_EQUAL(orphans(up, 2, &s), 0);
    CU_ASSERT_EQUAL(s.n, 1); /* one topic, though b1 is up */
    /* an orphan that expired before anyone took it is deleted by the next look */
    struct im_sub_row old = row("c9", "dead");
    old.expires_at = (int64_t)time(NULL) - 5;
    CU_ASSERT_EQUAL_FATAL(put(&old), 0);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM subscriptions"), 4);
    CU_ASSERT_EQUAL(orphans(up, 2, &s), 0);
    CU_ASSERT_EQUAL(s.n, 1);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM subscriptions"), 3);
    /* an ended subscription's row goes */
    memset(&s, 0, sizeof s);
    outstanding++;
    store_im_sub_delete(fx.st, &r1, on_status, &s);
    CU_ASSERT(wait_all() == 0 && s.status == 0);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM subscriptions"), 2);
}

static void test_pg_init_db_applies_005(void)
{
    CU_ASSERT_EQUAL(store_init_db("postgresql://", fx.schema_dir), 0);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM schema_migrations WHERE version = 5"), 1);
}

/* ---- suites ----------------------------------------------------------------------------------- */

static int pg_init(void) { return fx_pg_init("store_subs_postgres"); }

/* The tables in the order the store's statements name them (statements.c): a connection that
 * is preparing them meanwhile takes its locks in that order too, and must not deadlock with us. */
static void pg_setup(void) { fx_pg_setup("TRUNCATE im_positions, nodes, heartbeats, subscriptions"); }

static const struct test_case shared_cases[] = {
    TEST_CASE(test_sub_rows_put_and_delete_succeed),
};

static const struct test_case mem_cases[] = {
    TEST_CASE(test_mem_sub_rows_none_to_take_over),
    TEST_CASE(test_mem_sub_rows_listed_none),
};

static const struct test_case pg_cases[] = {
    TEST_CASE(test_pg_sub_row_comes_back_whole_with_the_device_position),
    TEST_CASE(test_pg_sub_row_without_route_set_or_instance),
    TEST_CASE(test_pg_sub_rows_listed_by_topic_and_by_subscriber),
    TEST_CASE(test_pg_sub_two_claims_at_once_take_disjoint_rows),
    TEST_CASE(test_pg_sub_release_makes_orphans_and_a_restart_adopts_its_own),
    TEST_CASE(test_pg_init_db_applies_005),
};

void register_store_subs_suites(void)
{
    fx_register_suites("store_subs_memory", "store_subs_postgres", pg_init, pg_setup, shared_cases,
                       NCASES(shared_cases), mem_cases, NCASES(mem_cases), pg_cases,
                       NCASES(pg_cases));
}
