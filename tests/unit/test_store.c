/* test_store.c - the location service of the store, against both backends.
 *
 * The same cases run in suite "store_memory" and, when PGHOST is set (pg_virtualenv), in suite
 * "store_postgres", which first applies schema/ with store_init_db() and empties `locations`
 * before every test. Postgres completes asynchronously, so every test drives a real event loop
 * until its callbacks have run (with a 5 s safety timer: a hang fails the test, never the run).
 * A few cases only make sense on postgres: two processes (connections) racing on one AOR, an
 * unreachable server, a connection killed under pending operations, SQL errors, and the
 * connection pool, pipelining and batched updates: many AORs at once (each AOR's operations
 * stay in order), one connection of the pool lost, an SQL error in the middle of a pipeline or of
 * a batch, a retried batch, a lock that holds up one connection but not the others. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <libpq-fe.h>

#include "base/log.h"
#include "base/loop.h"
#include "roles/registrar.h"
#include "sip/msg.h"
#include "store/store.h"
#include "store_fixture.h"
#include "suites.h"

#define NOW INT64_C(1700000000)
#define AOR "sip:alice@example.com"
#define AOR2 "sip:bob@example.com"

/* ---- one store call: the update function's input and what came back ------------------------- */

struct call {
    /* how test_update builds the new set */
    int abort_status;         /* > 0: return it */
    int keep_current;         /* start from the current bindings */
    const char *drop_contact; /* ... except this one */
    const struct binding *add;
    size_t nadd;
    /* what the update function saw */
    int nupdates;
    struct binding_list seen;
    /* what done() got */
    int ndone;
    int status;
    struct binding_list result;
};

static void call_free(struct call *c)
{
    binding_list_free(&c->seen);
    binding_list_free(&c->result);
}

static int test_update(void *arg, const struct binding *cur, size_t ncur, struct binding_list *out)
{
    struct call *c = arg;
    c->nupdates++;
    binding_list_free(&c->seen);
    for (size_t i = 0; i < ncur; i++)
        binding_list_push_copy(&c->seen, &cur[i]);
    if (c->abort_status)
        return c->abort_status;
    if (c->keep_current)
        for (size_t i = 0; i < ncur; i++)
            if (!c->drop_contact || strcmp(cur[i].contact, c->drop_contact) != 0)
                binding_list_push_copy(out, &cur[i]);
    for (size_t i = 0; i < c->nadd; i++)
        binding_list_push_copy(out, &c->add[i]);
    return 0;
}

static void on_bindings(void *arg, int status, const struct binding *b, size_t n)
{
    struct call *c = arg;
    c->ndone++;
    c->status = status;
    binding_list_free(&c->result);
    for (size_t i = 0; i < n; i++)
        binding_list_push_copy(&c->result, &b[i]);
    one_done();
}

static void on_status(void *arg, int status)
{
    struct call *c = arg;
    c->ndone++;
    c->status = status;
    one_done();
}

static void submit_update(struct store *st, const char *aor, int64_t now, struct call *c)
{
    outstanding++;
    store_location_update(st, aor, now, test_update, on_bindings, c);
}

static void submit_lookup(struct store *st, const char *aor, int64_t now, struct call *c)
{
    outstanding++;
    store_location_lookup(st, aor, now, on_bindings, c);
}

/* Run one update on the fixture's store to completion; the status, or 999 on a hang. */
static int do_update(const char *aor, int64_t now, struct call *c)
{
    submit_update(fx.st, aor, now, c);
    if (wait_all())
        return 999;
    CU_ASSERT_EQUAL(c->ndone, 1);
    return c->status;
}

static int do_lookup(const char *aor, int64_t now, struct call *c)
{
    submit_lookup(fx.st, aor, now, c);
    if (wait_all())
        return 999;
    CU_ASSERT_EQUAL(c->ndone, 1);
    return c->status;
}

static int do_expire(int64_t now)
{
    struct call c = {0};
    outstanding++;
    store_location_expire(fx.st, now, on_status, &c);
    if (wait_all())
        return 999;
    CU_ASSERT_EQUAL(c.ndone, 1);
    return c.status;
}

/* Store exactly these bindings for aor; CU-asserts success. */
static void put(const char *aor, int64_t now, const struct binding *v, size_t n)
{
    struct call c = {.add = v, .nadd = n};
    CU_ASSERT_EQUAL(do_update(aor, now, &c), 0);
    CU_ASSERT_EQUAL(c.result.len, n);
    call_free(&c);
}

static struct binding mk(const char *contact, int64_t expires_at, int q, int64_t updated_at)
{
    struct binding b = {0};
    b.contact = (char *)contact;
    b.call_id = (char *)"call-1@host";
    b.cseq = 1;
    b.expires_at = expires_at;
    b.q = q;
    b.updated_at = updated_at;
    return b;
}

static int has_contact(const struct binding_list *l, const char *contact)
{
    for (size_t i = 0; i < l->len; i++)
        if (strcmp(l->v[i].contact, contact) == 0)
            return 1;
    return 0;
}

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Every field but aor (which the store sets). */
static void assert_same_binding(const struct binding *want, const struct binding *got)
{
    CU_ASSERT(str_eq(want->contact, got->contact));
    CU_ASSERT(str_eq(want->call_id, got->call_id));
    CU_ASSERT_EQUAL(want->cseq, got->cseq);
    CU_ASSERT_EQUAL(want->expires_at, got->expires_at);
    CU_ASSERT_EQUAL(want->q, got->q);
    CU_ASSERT(str_eq(want->path, got->path));
    CU_ASSERT(str_eq(want->instance, got->instance));
    CU_ASSERT_EQUAL(want->reg_id, got->reg_id);
    CU_ASSERT(str_eq(want->user_agent, got->user_agent));
    CU_ASSERT(str_eq(want->received, got->received));
    CU_ASSERT(want->conn_id == got->conn_id);
    CU_ASSERT(str_eq(want->node, got->node));
    CU_ASSERT_EQUAL(want->updated_at, got->updated_at);
}

/* ---- cases for both backends ----------------------------------------------------------------- */

static void test_store_is_available_and_idle(void)
{
    CU_ASSERT_STRING_EQUAL(store_backend_name(fx.st),
                           fx.backend == BACKEND_POSTGRES ? "postgres" : "memory");
    CU_ASSERT_TRUE(store_is_available(fx.st));
    CU_ASSERT_EQUAL(store_pending(fx.st), 0);
}

static void test_update_inserts_and_returns_stored_bindings(void)
{
    struct binding add[2] = {mk("sip:alice@10.0.0.1:5060", NOW + 3600, 500, NOW),
                             mk("sip:alice@10.0.0.2:5060", NOW + 60, -1, NOW)};
    struct call c = {.add = add, .nadd = 2};
    CU_ASSERT_EQUAL(do_update(AOR, NOW, &c), 0);
    CU_ASSERT_EQUAL(c.nupdates >= 1, 1);
    CU_ASSERT_EQUAL(c.seen.len, 0);
    CU_ASSERT_EQUAL_FATAL(c.result.len, 2);
    /* as stored: aor filled in, q -1 (= 1.0) before q 0.5 */
    CU_ASSERT_STRING_EQUAL(c.result.v[0].aor, AOR);
    CU_ASSERT_STRING_EQUAL(c.result.v[1].aor, AOR);
    assert_same_binding(&add[1], &c.result.v[0]);
    assert_same_binding(&add[0], &c.result.v[1]);
    CU_ASSERT_EQUAL(store_pending(fx.st), 0);

    struct call l = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW, &l), 0);
    CU_ASSERT_EQUAL_FATAL(l.result.len, 2);
    assert_same_binding(&add[1], &l.result.v[0]);
    assert_same_binding(&add[0], &l.result.v[1]);
    call_free(&c);
    call_free(&l);
}

static void test_update_abort_status_passes_through_and_changes_nothing(void)
{
    struct binding b1 = mk("sip:alice@10.0.0.1", NOW + 3600, -1, NOW);
    put(AOR, NOW, &b1, 1);

    struct binding b2 = mk("sip:alice@10.0.0.2", NOW + 3600, -1, NOW);
    struct call c = {.abort_status = 423, .add = &b2, .nadd = 1};
    CU_ASSERT_EQUAL(do_update(AOR, NOW, &c), 423);
    CU_ASSERT_EQUAL(c.seen.len, 1);
    CU_ASSERT_EQUAL(c.result.len, 0);

    struct call l = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW, &l), 0);
    CU_ASSERT_EQUAL_FATAL(l.result.len, 1);
    CU_ASSERT_STRING_EQUAL(l.result.v[0].contact, "sip:alice@10.0.0.1");
    call_free(&c);
    call_free(&l);
}

static void test_update_replaces_the_whole_binding_set(void)
{
    struct binding two[2] = {mk("sip:a@1", NOW + 3600, -1, NOW), mk("sip:a@2", NOW + 3600, -1, NOW)};
    put(AOR, NOW, two, 2);

    /* keep a@2, drop a@1, add a@3; a@2 registered again (same contact) is fine too */
    struct binding b3 = mk("sip:a@3", NOW + 3600, -1, NOW + 1);
    struct call c = {.keep_current = 1, .drop_contact = "sip:a@1", .add = &b3, .nadd = 1};
    CU_ASSERT_EQUAL(do_update(AOR, NOW + 1, &c), 0);
    CU_ASSERT_EQUAL(c.seen.len, 2);
    CU_ASSERT_EQUAL(c.result.len, 2);
    CU_ASSERT_FALSE(has_contact(&c.result, "sip:a@1"));

    struct call l = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW + 1, &l), 0);
    CU_ASSERT_EQUAL(l.result.len, 2);
    CU_ASSERT_FALSE(has_contact(&l.result, "sip:a@1"));
    CU_ASSERT_TRUE(has_contact(&l.result, "sip:a@2"));
    CU_ASSERT_TRUE(has_contact(&l.result, "sip:a@3"));

    /* an empty set removes them all (REGISTER with Contact: *, Expires: 0) */
    struct call none = {0};
    CU_ASSERT_EQUAL(do_update(AOR, NOW + 2, &none), 0);
    CU_ASSERT_EQUAL(none.seen.len, 2);
    CU_ASSERT_EQUAL(none.result.len, 0);
    struct call l2 = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW + 2, &l2), STORE_OFFLINE); /* known: 480, not 404 */
    CU_ASSERT_EQUAL(l2.result.len, 0);
    call_free(&c);
    call_free(&l);
    call_free(&none);
    call_free(&l2);
}

static void test_lookup_orders_by_q_then_most_recent(void)
{
    struct binding v[5] = {
        mk("sip:q500-old@h", NOW + 3600, 500, NOW - 10),
        mk("sip:qnone-old@h", NOW + 3600, -1, NOW - 20),
        mk("sip:q1000-new@h", NOW + 3600, 1000, NOW - 5),
        mk("sip:q100@h", NOW + 3600, 100, NOW),
        mk("sip:q500-new@h", NOW + 3600, 500, NOW - 1),
    };
    static const char *const order[5] = {"sip:q1000-new@h", "sip:qnone-old@h", "sip:q500-new@h",
                                          "sip:q500-old@h", "sip:q100@h"};
    struct call c = {.add = v, .nadd = 5};
    CU_ASSERT_EQUAL(do_update(AOR, NOW, &c), 0);
    CU_ASSERT_EQUAL_FATAL(c.result.len, 5);
    struct call l = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW, &l), 0);
    CU_ASSERT_EQUAL_FATAL(l.result.len, 5);
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_STRING_EQUAL(c.result.v[i].contact, order[i]);
        CU_ASSERT_STRING_EQUAL(l.result.v[i].contact, order[i]);
    }
    call_free(&c);
    call_free(&l);
}

static void test_expired_bindings_are_hidden_and_expire_deletes_them(void)
{
    struct binding a[2] = {mk("sip:short@h", NOW + 10, -1, NOW), mk("sip:long@h", NOW + 1000, -1, NOW)};
    put(AOR, NOW, a, 2);
    struct binding b = mk("sip:bob-short@h", NOW + 10, -1, NOW);
    put(AOR2, NOW, &b, 1);

    struct call l1 = {0}, l2 = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW + 9, &l1), 0);
    CU_ASSERT_EQUAL(l1.result.len, 2);
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW + 10, &l2), 0); /* expires_at <= now: gone */
    CU_ASSERT_EQUAL_FATAL(l2.result.len, 1);
    CU_ASSERT_STRING_EQUAL(l2.result.v[0].contact, "sip:long@h");

    /* the update function is not shown expired bindings either */
    struct call u = {.keep_current = 1};
    CU_ASSERT_EQUAL(do_update(AOR, NOW + 10, &u), 0);
    CU_ASSERT_EQUAL(u.seen.len, 1);
    CU_ASSERT_EQUAL(u.result.len, 1);

    /* expire deletes: looking back in time finds nothing of bob any more */
    CU_ASSERT_EQUAL(do_expire(NOW + 10), 0);
    struct call l3 = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR2, NOW, &l3), STORE_OFFLINE);
    CU_ASSERT_EQUAL(l3.result.len, 0);

    /* counts: exact in memory; postgres refreshes its figure before an expire run reports */
    long nbindings = -2;
    long naors = store_location_count(fx.st, &nbindings);
    CU_ASSERT_EQUAL(naors, 1);
    CU_ASSERT_EQUAL(nbindings, 1);

    CU_ASSERT_EQUAL(do_expire(NOW + 5000), 0);
    struct call l4 = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW, &l4), STORE_OFFLINE);
    CU_ASSERT_EQUAL(l4.result.len, 0);
    naors = store_location_count(fx.st, &nbindings);
    CU_ASSERT_EQUAL(naors, 0);
    CU_ASSERT_EQUAL(nbindings, 0);
    call_free(&l1);
    call_free(&l2);
    call_free(&u);
    call_free(&l3);
    call_free(&l4);
}

static void test_separate_aors_do_not_interfere(void)
{
    /* the same contact may be bound to two AORs */
    struct binding a[2] = {mk("sip:a@1", NOW + 3600, -1, NOW), mk("sip:shared@h", NOW + 3600, -1, NOW)};
    put(AOR, NOW, a, 2);
    struct binding b = mk("sip:shared@h", NOW + 3600, -1, NOW);
    put(AOR2, NOW, &b, 1);

    struct call seen_b = {.keep_current = 1};
    CU_ASSERT_EQUAL(do_update(AOR2, NOW, &seen_b), 0);
    CU_ASSERT_EQUAL(seen_b.seen.len, 1); /* only bob's own */

    struct call clear_a = {0};
    CU_ASSERT_EQUAL(do_update(AOR, NOW, &clear_a), 0);

    struct call la = {0}, lb = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW, &la), STORE_OFFLINE);
    CU_ASSERT_EQUAL(la.result.len, 0);
    CU_ASSERT_EQUAL(do_lookup(AOR2, NOW, &lb), 0);
    CU_ASSERT_EQUAL_FATAL(lb.result.len, 1);
    CU_ASSERT_STRING_EQUAL(lb.result.v[0].aor, AOR2);
    CU_ASSERT_STRING_EQUAL(lb.result.v[0].contact, "sip:shared@h");

    struct call lnone = {0};
    CU_ASSERT_EQUAL(do_lookup("sip:nobody@example.com", NOW, &lnone), 0);
    CU_ASSERT_EQUAL(lnone.result.len, 0);
    call_free(&seen_b);
    call_free(&clear_a);
    call_free(&la);
    call_free(&lb);
    call_free(&lnone);
}

static void test_all_binding_fields_round_trip(void)
{
    struct binding full = {
        .contact = (char *)"sip:alice@192.0.2.10:5060;transport=tcp;ob",
        .call_id = (char *)"a84b4c76e66710@pc33.example.com",
        .cseq = UINT32_MAX,
        .expires_at = NOW + 3600,
        .q = 700,
        .path = (char *)"<sip:edge1.example.com;lr>,<sip:edge2.example.com;lr;ob>",
        .instance = (char *)"urn:uuid:00000000-0000-1000-8000-000A95A0E128",
        .reg_id = 2,
        .user_agent = (char *)"Tricky \"UA\" \\ {x,y} NULL '; DROP TABLE locations; -- \xc3\xbc",
        .received = (char *)"tcp:[2001:db8::1]:5070",
        .conn_id = UINT64_C(123456789012345),
        .node = (char *)"node-2",
        .updated_at = NOW - 7,
    };
    /* absent fields stay absent; "" and "NULL" stay strings; extreme numbers survive */
    struct binding sparse = {
        .contact = (char *)"sip:alice@[2001:db8::2]",
        .call_id = (char *)"NULL",
        .user_agent = (char *)"",
        .cseq = 0,
        .expires_at = NOW + 60,
        .q = -1,
        .conn_id = UINT64_MAX,
        .updated_at = NOW,
    };
    struct binding add[2] = {full, sparse};
    struct call c = {.add = add, .nadd = 2};
    CU_ASSERT_EQUAL(do_update(AOR, NOW, &c), 0);
    CU_ASSERT_EQUAL_FATAL(c.result.len, 2);
    assert_same_binding(&sparse, &c.result.v[0]); /* q none (1.0) first */
    assert_same_binding(&full, &c.result.v[1]);

    struct call l = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW, &l), 0);
    CU_ASSERT_EQUAL_FATAL(l.result.len, 2);
    assert_same_binding(&sparse, &l.result.v[0]);
    assert_same_binding(&full, &l.result.v[1]);

    /* and the update function sees them the same way */
    struct call u = {.abort_status = 480};
    CU_ASSERT_EQUAL(do_update(AOR, NOW, &u), 480);
    CU_ASSERT_EQUAL_FATAL(u.seen.len, 2);
    for (size_t i = 0; i < 2; i++) {
        const struct binding *want = strcmp(u.seen.v[i].contact, full.contact) == 0 ? &full : &sparse;
        assert_same_binding(want, &u.seen.v[i]);
        CU_ASSERT_STRING_EQUAL(u.seen.v[i].aor, AOR);
    }
    call_free(&c);
    call_free(&l);
    call_free(&u);
}

/* A lookup that finds no live binding tells a known AOR (bindings removed or expired within
 * STORE_KNOWN_TTL_S: 480) from an unknown one (404), the same on both backends; the expiry
 * sweep forgets it after the window, and bindings again make it a plain registered AOR. */
static void test_lookup_tells_known_offline_from_unknown(void)
{
    struct call c = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW, &c), 0); /* never registered */
    CU_ASSERT_EQUAL(c.result.len, 0);
    call_free(&c);

    /* an update that leaves an AOR without bindings it never had does not make it known */
    struct call empty = {0};
    CU_ASSERT_EQUAL(do_update(AOR, NOW, &empty), 0);
    struct call c0 = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW, &c0), 0);
    call_free(&empty);
    call_free(&c0);

    /* removed (REGISTER Expires: 0) */
    struct binding a = mk("sip:a@1", NOW + 60, -1, NOW);
    put(AOR, NOW, &a, 1);
    struct call del = {0};
    CU_ASSERT_EQUAL(do_update(AOR, NOW + 1, &del), 0);
    struct call c1 = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW + 1, &c1), STORE_OFFLINE);
    CU_ASSERT_EQUAL(c1.result.len, 0);
    call_free(&del);
    call_free(&c1);

    /* expired: known before and after the sweep */
    struct binding b = mk("sip:b@1", NOW + 10, -1, NOW);
    put(AOR2, NOW, &b, 1);
    struct call c2 = {0}, c3 = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR2, NOW + 10, &c2), STORE_OFFLINE);
    CU_ASSERT_EQUAL(do_expire(NOW + 20), 0);
    CU_ASSERT_EQUAL(do_lookup(AOR2, NOW + 20, &c3), STORE_OFFLINE);
    call_free(&c2);
    call_free(&c3);

    /* the sweep forgets both once they have been without bindings for the window */
    CU_ASSERT_EQUAL(do_expire(NOW + 20 + STORE_KNOWN_TTL_S - 100), 0);
    struct call c4 = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW + 20 + STORE_KNOWN_TTL_S - 100, &c4), STORE_OFFLINE);
    call_free(&c4);
    CU_ASSERT_EQUAL(do_expire(NOW + 20 + STORE_KNOWN_TTL_S), 0);
    struct call c5 = {0}, c6 = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW + 20 + STORE_KNOWN_TTL_S, &c5), 0);
    CU_ASSERT_EQUAL(do_lookup(AOR2, NOW + 20 + STORE_KNOWN_TTL_S, &c6), 0);
    call_free(&c5);
    call_free(&c6);

    /* registered again: its bindings, and known again once they go */
    int64_t later = NOW + 30 + STORE_KNOWN_TTL_S;
    struct binding a2 = mk("sip:a@2", later + 60, -1, later);
    put(AOR, later, &a2, 1);
    struct call c7 = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, later, &c7), 0);
    CU_ASSERT_EQUAL(c7.result.len, 1);
    call_free(&c7);
    CU_ASSERT_EQUAL(do_expire(later + 60), 0);
    struct call c8 = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, later + 60, &c8), STORE_OFFLINE);
    call_free(&c8);
}

/* The memory store remembers at most STORE_MEM_KNOWN_MAX AORs without bindings: one more finds
 * no room (404 rather than 480) until the window frees some. */
static void test_mem_known_aors_are_bounded(void)
{
    char aor[64];
    struct binding a = mk("sip:x@1", NOW + 60, -1, NOW);
    for (int i = 0; i <= STORE_MEM_KNOWN_MAX; i++) {
        snprintf(aor, sizeof aor, "sip:u%d@example.com", i);
        put(aor, NOW, &a, 1);
        struct call del = {0};
        do_update(aor, NOW, &del);
        call_free(&del);
    }
    struct call first = {0}, last = {0};
    CU_ASSERT_EQUAL(do_lookup("sip:u0@example.com", NOW, &first), STORE_OFFLINE);
    snprintf(aor, sizeof aor, "sip:u%d@example.com", STORE_MEM_KNOWN_MAX);
    CU_ASSERT_EQUAL(do_lookup(aor, NOW, &last), 0);
    call_free(&first);
    call_free(&last);

    /* once the window is over, a new one frees the room of the old */
    int64_t later = NOW + STORE_KNOWN_TTL_S;
    put("sip:new@example.com", later, &a, 1);
    struct call del = {0}, again = {0}, old = {0};
    do_update("sip:new@example.com", later, &del);
    CU_ASSERT_EQUAL(do_lookup("sip:new@example.com", later, &again), STORE_OFFLINE);
    CU_ASSERT_EQUAL(do_lookup("sip:u0@example.com", later, &old), 0);
    call_free(&del);
    call_free(&again);
    call_free(&old);
}

/* ---- postgres only ----------------------------------------------------------------------------*/

/* Updates c[0..n) that each keep the current bindings and add one contact of their own,
 * "sip:PREFIXi@10.0.NET.(i+1)" (written into contacts[i], bound in add[i]). */
static void one_contact_each(int n, const char *prefix, int net, char (*contacts)[40],
                             struct binding *add, struct call *c)
{
    for (int i = 0; i < n; i++) {
        snprintf(contacts[i], sizeof contacts[i], "sip:%s%d@10.0.%d.%d", prefix, i, net, i + 1);
        add[i] = mk(contacts[i], NOW + 3600, -1, NOW);
        c[i] = (struct call){.keep_current = 1, .add = &add[i], .nadd = 1};
    }
}

/* Two nodes (two connections) appending to one AOR at the same time: every update sees the one
 * before it, none is lost. */
static void test_pg_two_stores_serialise_updates_of_one_aor(void)
{
    enum { N = 20 };
    struct store *other = make_store();
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    CU_ASSERT_TRUE_FATAL(wait_available(other));

    static char contacts[N][40];
    struct binding add[N];
    struct call c[N];
    memset(c, 0, sizeof c);
    one_contact_each(N, "device", 0, contacts, add, c);
    for (int i = 0; i < N; i++)
        submit_update(i % 2 ? other : fx.st, AOR, NOW, &c[i]);
    CU_ASSERT_EQUAL(wait_all(), 0);

    int seen_size[N + 1] = {0};
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(c[i].ndone, 1);
        CU_ASSERT_EQUAL(c[i].status, 0);
        if (c[i].result.len >= 1 && c[i].result.len <= N)
            seen_size[c[i].result.len]++;
    }
    for (int k = 1; k <= N; k++)
        CU_ASSERT_EQUAL(seen_size[k], 1); /* each update saw all that came before it */

    struct call l = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW, &l), 0);
    CU_ASSERT_EQUAL(l.result.len, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_TRUE(has_contact(&l.result, contacts[i]));
    for (int i = 0; i < N; i++)
        call_free(&c[i]);
    call_free(&l);
    store_destroy(other);
}

/* Optimistic updates (store_location_update_optimistic, the registrar's) run on what the store
 * last wrote for the AOR and write only if it is still there: interleaved with another store's
 * writes, an expire, and plain updates, each still sees every binding written before it, whether
 * its guess was right or not. */
static void submit_update_optimistic(struct store *st, const char *aor, int64_t now, struct call *c)
{
    outstanding++;
    store_location_update_optimistic(st, aor, now, test_update, on_bindings, c);
}

static void test_pg_optimistic_updates_see_other_writers(void)
{
    enum { N = 12 };
    struct store *other = make_store();
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    CU_ASSERT_TRUE_FATAL(wait_available(other));
    static char contacts[N][40];
    struct binding add[N];
    struct call c[N];
    memset(c, 0, sizeof c);
    one_contact_each(N, "opt", 1, contacts, add, c);
    /* one at a time: fx.st twice, other once, fx.st plain once, ... */
    for (int i = 0; i < N; i++) {
        struct store *st = i % 3 == 2 ? other : fx.st;
        if (i % 4 == 3)
            submit_update(st, AOR, NOW, &c[i]);
        else
            submit_update_optimistic(st, AOR, NOW, &c[i]);
        CU_ASSERT_EQUAL(wait_all(), 0);
        CU_ASSERT_EQUAL(c[i].status, 0);
        CU_ASSERT_EQUAL(c[i].result.len, (size_t)i + 1);
        CU_ASSERT_EQUAL(c[i].seen.len, (size_t)i); /* the last run saw every earlier binding */
    }
    CU_ASSERT_EQUAL(c[1].nupdates, 1); /* guessed right: what fx.st wrote */
    CU_ASSERT_EQUAL(c[2].nupdates, 2); /* other guessed no rows, then read them */
    CU_ASSERT_EQUAL(c[4].nupdates, 1); /* fx.st knows its plain write too */
    CU_ASSERT_EQUAL(c[5].nupdates, 2); /* other's memory was stale */
    struct call l = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW, &l), 0);
    CU_ASSERT_EQUAL(l.result.len, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_TRUE(has_contact(&l.result, contacts[i]));
    call_free(&l);

    /* a binding that expires, swept by expire (the store's count changes, not its writer) */
    struct binding shortb = mk("sip:short@10.0.2.1", NOW + 10, -1, NOW);
    struct call s1 = {.keep_current = 1, .add = &shortb, .nadd = 1};
    submit_update_optimistic(fx.st, AOR2, NOW, &s1);
    CU_ASSERT_EQUAL(wait_all(), 0);
    CU_ASSERT_EQUAL(s1.result.len, 1);
    CU_ASSERT_EQUAL(do_expire(NOW + 20), 0);
    struct binding longb = mk("sip:long@10.0.2.2", NOW + 3600, -1, NOW + 20);
    struct call s2 = {.keep_current = 1, .add = &longb, .nadd = 1};
    submit_update_optimistic(fx.st, AOR2, NOW + 20, &s2);
    CU_ASSERT_EQUAL(wait_all(), 0);
    CU_ASSERT_EQUAL(s2.status, 0);
    CU_ASSERT_EQUAL(s2.nupdates, 2);
    CU_ASSERT_EQUAL(s2.seen.len, 0);
    CU_ASSERT_EQUAL(s2.result.len, 1);
    /* an optimistic update that aborts writes nothing */
    struct call ab = {.keep_current = 1, .abort_status = 400};
    submit_update_optimistic(fx.st, AOR2, NOW + 20, &ab);
    CU_ASSERT_EQUAL(wait_all(), 0);
    CU_ASSERT_EQUAL(ab.status, 400);
    struct call l2 = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR2, NOW + 20, &l2), 0);
    CU_ASSERT_EQUAL(l2.result.len, 1);
    for (int i = 0; i < N; i++)
        call_free(&c[i]);
    call_free(&s1);
    call_free(&s2);
    call_free(&ab);
    call_free(&l2);
    store_destroy(other);
}

/* The same race when the database's default isolation is SERIALIZABLE: the store's own
 * transactions still serialise on the lock and see each other's work. */
static void test_pg_serialise_even_when_default_isolation_is_serializable(void)
{
    enum { N = 10 };
    static const char *const ci =
        "postgresql://?options=-c%20default_transaction_isolation%3Dserializable";
    struct store *a = store_create(fx.loop, ci), *b = store_create(fx.loop, ci);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_TRUE_FATAL(wait_available(a) && wait_available(b));
    static char contacts[N][40];
    struct binding add[N];
    struct call c[N];
    memset(c, 0, sizeof c);
    for (int i = 0; i < N; i++) {
        snprintf(contacts[i], sizeof contacts[i], "sip:s%d@h", i);
        add[i] = mk(contacts[i], NOW + 3600, -1, NOW);
        c[i] = (struct call){.keep_current = 1, .add = &add[i], .nadd = 1};
    }
    for (int i = 0; i < N; i++)
        submit_update(i % 2 ? b : a, AOR, NOW, &c[i]);
    CU_ASSERT_EQUAL(wait_all(), 0);
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(c[i].status, 0);
        CU_ASSERT_EQUAL(c[i].nupdates, 1);
    }
    struct call l = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW, &l), 0);
    CU_ASSERT_EQUAL(l.result.len, N);
    for (int i = 0; i < N; i++)
        call_free(&c[i]);
    call_free(&l);
    store_destroy(a);
    store_destroy(b);
}

/* A serialization failure (40001) makes the store roll back and run the update again, calling
 * the update function anew; it gives up with STORE_EFAIL after a few attempts. The failure is
 * injected by a trigger counting with a sequence (which a rollback does not undo). */
static void test_pg_update_retries_on_serialization_failure(void)
{
    CU_ASSERT_EQUAL_FATAL(
        admin_exec("CREATE SEQUENCE test_fail_seq;"
                   "CREATE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS $$"
                   " BEGIN IF nextval('test_fail_seq') <= 2 THEN"
                   "  RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END IF;"
                   " RETURN NEW; END $$;"
                   "CREATE TRIGGER test_fail BEFORE INSERT ON locations"
                   " FOR EACH ROW EXECUTE FUNCTION test_fail()"),
        0);
    struct binding b = mk("sip:alice@10.0.0.1", NOW + 3600, -1, NOW);
    struct call c = {.add = &b, .nadd = 1};
    CU_ASSERT_EQUAL(do_update(AOR, NOW, &c), 0); /* two failures, third attempt commits */
    CU_ASSERT_EQUAL(c.nupdates, 3);
    CU_ASSERT_EQUAL(c.result.len, 1);

    CU_ASSERT_EQUAL(admin_exec("SELECT setval('test_fail_seq', 1, false)"), 0);
    CU_ASSERT_EQUAL(admin_exec("ALTER SEQUENCE test_fail_seq MAXVALUE 100; "
                               "CREATE OR REPLACE FUNCTION test_fail() RETURNS trigger"
                               " LANGUAGE plpgsql AS $$ BEGIN"
                               " RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END $$"),
                    0);
    struct binding b2 = mk("sip:alice@10.0.0.2", NOW + 3600, -1, NOW);
    struct call d = {.add = &b2, .nadd = 1};
    CU_ASSERT_EQUAL(do_update(AOR, NOW, &d), STORE_EFAIL);
    CU_ASSERT_EQUAL(d.nupdates, 4); /* first try + 3 retries */

    admin_exec("DROP TRIGGER test_fail ON locations; DROP FUNCTION test_fail();"
               "DROP SEQUENCE test_fail_seq");
    struct call l = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW, &l), 0);
    CU_ASSERT_EQUAL_FATAL(l.result.len, 1);
    CU_ASSERT_STRING_EQUAL(l.result.v[0].contact, "sip:alice@10.0.0.1");
    call_free(&c);
    call_free(&d);
    call_free(&l);
}

static void test_pg_unreachable_server_fails_fast_with_eunavail(void)
{
    struct store *bad = store_create(fx.loop, "postgresql://127.0.0.1:1/x");
    CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
    CU_ASSERT_FALSE(store_is_available(bad));
    uint64_t t0 = loop_update_time(fx.loop);

    struct call l = {0}, u = {0}, e = {0};
    submit_lookup(bad, AOR, NOW, &l);
    CU_ASSERT_EQUAL(wait_all(), 0);
    CU_ASSERT_EQUAL(l.ndone, 1);
    CU_ASSERT_EQUAL(l.status, STORE_EUNAVAIL);

    run_for(600); /* a few reconnect attempts go by */
    CU_ASSERT_FALSE(store_is_available(bad));
    submit_update(bad, AOR, NOW, &u);
    outstanding++;
    store_location_expire(bad, NOW, on_status, &e);
    CU_ASSERT_EQUAL(wait_all(), 0);
    CU_ASSERT_EQUAL(u.ndone, 1);
    CU_ASSERT_EQUAL(u.status, STORE_EUNAVAIL);
    CU_ASSERT_EQUAL(u.nupdates, 0);
    CU_ASSERT_EQUAL(e.ndone, 1);
    CU_ASSERT_EQUAL(e.status, STORE_EUNAVAIL);
    CU_ASSERT_EQUAL(store_pending(bad), 0);
    CU_ASSERT(loop_update_time(fx.loop) - t0 < 2000);
    long nb;
    CU_ASSERT_EQUAL(store_location_count(bad, &nb), -1);
    store_location_expire(bad, NOW, NULL, NULL); /* done may be NULL */
    store_destroy(bad);
    call_free(&l);
    call_free(&u);
}

/* The server kills our session: what was pending fails with EUNAVAIL, the store reconnects on
 * its own and works again. */
static void test_pg_lost_connection_fails_pending_and_reconnects(void)
{
    struct store *st = store_create(fx.loop, "postgresql://?application_name=sipd_test_loss");
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_TRUE_FATAL(wait_available(st));
    struct binding b = mk("sip:alice@10.0.0.1", NOW + 3600, -1, NOW);
    struct call u = {.add = &b, .nadd = 1};
    submit_update(st, AOR, NOW, &u);
    CU_ASSERT_EQUAL(wait_all(), 0);
    CU_ASSERT_EQUAL(u.status, 0);

    /* every connection of the store's pool */
    CU_ASSERT(admin_scalar("SELECT count(pg_terminate_backend(pid, 5000)) FROM "
                           "pg_stat_activity WHERE application_name = 'sipd_test_loss'") >= 1);
    struct call l[3];
    memset(l, 0, sizeof l);
    for (int i = 0; i < 3; i++)
        submit_lookup(st, AOR, NOW, &l[i]);
    CU_ASSERT_EQUAL(wait_all(), 0);
    /* Each completes exactly once and none hangs. Whether a lookup fails (its connection was
     * killed) or succeeds (a connection already back after the 250 ms reconnect) depends on
     * timing on a loaded machine, so both outcomes are accepted here. */
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(l[i].ndone, 1);
        CU_ASSERT(l[i].status == STORE_EUNAVAIL || l[i].status == 0);
    }
    CU_ASSERT_EQUAL(store_pending(st), 0);

    CU_ASSERT_TRUE_FATAL(wait_available(st));
    /* the store reconnects by itself: within a few seconds the binding is readable again (the
     * AOR's own connection may come back a moment after the first one) */
    struct call again = {0};
    for (int tries = 0; tries < 40; tries++) {
        call_free(&again);
        memset(&again, 0, sizeof again);
        submit_lookup(st, AOR, NOW, &again);
        CU_ASSERT_EQUAL(wait_all(), 0);
        if (again.status == 0)
            break;
        run_for(100);
    }
    CU_ASSERT_EQUAL(again.status, 0);
    CU_ASSERT_EQUAL(again.result.len, 1);
    store_destroy(st);
    call_free(&u);
    for (int i = 0; i < 3; i++)
        call_free(&l[i]);
    call_free(&again);
}

struct destroy_ctx {
    struct store *st;
    struct call calls[3];
};

static void on_bindings_then_destroy(void *arg, int status, const struct binding *b, size_t n)
{
    struct destroy_ctx *d = arg;
    on_bindings(&d->calls[0], status, b, n);
    store_destroy(d->st); /* from inside the store's own callback */
}

static void test_pg_destroy_fails_pending_operations(void)
{
    struct store *st = make_store();
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_TRUE_FATAL(wait_available(st));
    struct binding b = mk("sip:alice@10.0.0.1", NOW + 3600, -1, NOW);
    struct call c[4];
    memset(c, 0, sizeof c);
    c[3].add = &b;
    c[3].nadd = 1;
    for (int i = 0; i < 3; i++)
        submit_lookup(st, AOR, NOW, &c[i]);
    submit_update(st, AOR, NOW, &c[3]);
    CU_ASSERT_EQUAL(store_pending(st), 4);
    store_destroy(st);
    CU_ASSERT_EQUAL(outstanding, 0);
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(c[i].ndone, 1);
        CU_ASSERT_EQUAL(c[i].status, STORE_EUNAVAIL);
    }
    CU_ASSERT_EQUAL(c[3].nupdates, 0);

    /* destroyed from its own callback, with more queued behind */
    struct destroy_ctx d = {.st = make_store()};
    CU_ASSERT_PTR_NOT_NULL_FATAL(d.st);
    CU_ASSERT_TRUE_FATAL(wait_available(d.st));
    outstanding++;
    store_location_lookup(d.st, AOR, NOW, on_bindings_then_destroy, &d);
    submit_lookup(d.st, AOR, NOW, &d.calls[1]);
    submit_lookup(d.st, AOR, NOW, &d.calls[2]);
    CU_ASSERT_EQUAL(wait_all(), 0);
    CU_ASSERT_EQUAL(d.calls[0].status, 0);
    CU_ASSERT_EQUAL(d.calls[1].status, STORE_EUNAVAIL);
    CU_ASSERT_EQUAL(d.calls[2].status, STORE_EUNAVAIL);
    for (int i = 0; i < 4; i++)
        call_free(&c[i]);
    for (int i = 0; i < 3; i++)
        call_free(&d.calls[i]);
}

/* A statement the database refuses rolls the update back; the store carries on. */
static void test_pg_sql_error_rolls_back_and_store_recovers(void)
{
    struct binding ok = mk("sip:alice@10.0.0.1", NOW + 3600, -1, NOW);
    put(AOR, NOW, &ok, 1);

    struct binding bad[2] = {mk("sip:alice@10.0.0.2", NOW + 3600, -1, NOW),
                             mk("sip:alice@10.0.0.3", NOW + 3600, 5000, NOW)}; /* q > 1000 */
    struct call c = {.add = bad, .nadd = 2};
    CU_ASSERT_EQUAL(do_update(AOR, NOW, &c), STORE_EFAIL);
    CU_ASSERT_EQUAL(c.result.len, 0);

    struct binding dup[2] = {mk("sip:alice@10.0.0.4", NOW + 3600, -1, NOW),
                             mk("sip:alice@10.0.0.4", NOW + 3600, -1, NOW)};
    struct call d = {.add = dup, .nadd = 2};
    CU_ASSERT_EQUAL(do_update(AOR, NOW, &d), STORE_EFAIL);

    static char huge[70000];
    memset(huge, 'x', sizeof huge - 1);
    struct binding toolong = mk("sip:alice@10.0.0.6", NOW + 3600, -1, NOW);
    toolong.user_agent = huge;
    struct call t = {.add = &toolong, .nadd = 1};
    CU_ASSERT_EQUAL(do_update(AOR, NOW, &t), STORE_EFAIL);
    call_free(&t);

    struct binding nocontact = mk(NULL, NOW + 3600, -1, NOW);
    struct call n = {.add = &nocontact, .nadd = 1};
    CU_ASSERT_EQUAL(do_update(AOR, NOW, &n), STORE_EFAIL);

    struct call l = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW, &l), 0);
    CU_ASSERT_EQUAL_FATAL(l.result.len, 1);
    CU_ASSERT_STRING_EQUAL(l.result.v[0].contact, "sip:alice@10.0.0.1");
    CU_ASSERT_TRUE(store_is_available(fx.st));

    struct binding next = mk("sip:alice@10.0.0.5", NOW + 3600, -1, NOW);
    struct call u = {.keep_current = 1, .add = &next, .nadd = 1};
    CU_ASSERT_EQUAL(do_update(AOR, NOW, &u), 0);
    CU_ASSERT_EQUAL(u.result.len, 2);
    call_free(&c);
    call_free(&d);
    call_free(&n);
    call_free(&l);
    call_free(&u);
}

/* Rows the store did not write (too long a field) are skipped, not fatal. */
static void test_pg_unreadable_rows_are_skipped(void)
{
    CU_ASSERT_EQUAL(admin_exec("INSERT INTO locations (aor, contact, expires_at, user_agent) VALUES"
                               " ('" AOR "', 'sip:good@h', to_timestamp(1700003600), 'ua'),"
                               " ('" AOR "', 'sip:huge@h', to_timestamp(1700003600),"
                               "  repeat('x', 70000))"),
                    0);
    struct call l = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW, &l), 0);
    CU_ASSERT_EQUAL_FATAL(l.result.len, 1);
    CU_ASSERT_STRING_EQUAL(l.result.v[0].contact, "sip:good@h");
    call_free(&l);
}

/* ---- postgres: the connection pool and pipelining ------------------------------------------ */

#define POOL_AORS 40
#define POOL_ROUNDS 5

/* Run the loop until `sql` (a count) gives at least want, for at most ~3 s. Returns the count. */
static long wait_scalar(const char *sql, long want)
{
    long v = -1;
    for (int i = 0; i < 150; i++) {
        v = admin_scalar(sql);
        if (v >= want)
            break;
        run_for(20);
    }
    return v;
}

/* Many AORs at once go through the whole pool; the operations on each AOR still run in the order
 * they were submitted (the k-th update of an AOR sees the k-1 before it; a lookup sees exactly the
 * updates submitted before it), and the callbacks all come. */
static void test_pg_pool_runs_many_aors_at_once_in_order_per_aor(void)
{
    struct store *st = store_create(fx.loop, "postgresql://?application_name=sipd_test_pool");
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_TRUE_FATAL(wait_available(st));
    static char aors[POOL_AORS][48], contacts[POOL_AORS][POOL_ROUNDS][48];
    static struct binding add[POOL_AORS][POOL_ROUNDS];
    static struct call u[POOL_AORS][POOL_ROUNDS], l[POOL_AORS][POOL_ROUNDS];
    memset(u, 0, sizeof u);
    memset(l, 0, sizeof l);
    for (int a = 0; a < POOL_AORS; a++) {
        snprintf(aors[a], sizeof aors[a], "sip:pool%d@example.com", a);
        for (int r = 0; r < POOL_ROUNDS; r++) {
            snprintf(contacts[a][r], sizeof contacts[a][r], "sip:pool%d@10.1.%d.%d", a, a, r);
            add[a][r] = mk(contacts[a][r], NOW + 3600, -1, NOW + r);
            u[a][r] = (struct call){.keep_current = 1, .add = &add[a][r], .nadd = 1};
        }
    }
    for (int r = 0; r < POOL_ROUNDS; r++) {
        for (int a = 0; a < POOL_AORS; a++) {
            submit_update(st, aors[a], NOW, &u[a][r]);
            submit_lookup(st, aors[a], NOW, &l[a][r]);
        }
    }
    CU_ASSERT(store_pending(st) > 0);
    CU_ASSERT_EQUAL(wait_all(), 0);
    for (int a = 0; a < POOL_AORS; a++) {
        for (int r = 0; r < POOL_ROUNDS; r++) {
            CU_ASSERT_EQUAL(u[a][r].ndone, 1);
            CU_ASSERT_EQUAL(u[a][r].status, 0);
            CU_ASSERT_EQUAL(u[a][r].nupdates, 1);
            CU_ASSERT_EQUAL(u[a][r].seen.len, (size_t)r);
            CU_ASSERT_EQUAL(u[a][r].result.len, (size_t)r + 1);
            CU_ASSERT_EQUAL(l[a][r].ndone, 1);
            CU_ASSERT_EQUAL(l[a][r].status, 0);
            CU_ASSERT_EQUAL(l[a][r].result.len, (size_t)r + 1);
            if (l[a][r].result.len == (size_t)r + 1) /* most recent first */
                CU_ASSERT_STRING_EQUAL(l[a][r].result.v[0].contact, contacts[a][r]);
        }
    }
    CU_ASSERT_EQUAL(store_pending(st), 0);
    CU_ASSERT(admin_scalar("SELECT count(*) FROM pg_stat_activity"
                           " WHERE application_name = 'sipd_test_pool'") > 1);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM locations WHERE aor LIKE 'sip:pool%'"),
                    POOL_AORS * POOL_ROUNDS);

    /* destroyed with operations pending on every connection: all fail, none hangs */
    for (int a = 0; a < POOL_AORS; a++) {
        call_free(&l[a][0]);
        call_free(&u[a][0]);
        l[a][0] = (struct call){0};
        u[a][0] = (struct call){.keep_current = 1, .add = &add[a][0], .nadd = 1};
        submit_update(st, aors[a], NOW, &u[a][0]);
        submit_lookup(st, aors[a], NOW, &l[a][0]);
    }
    CU_ASSERT_EQUAL(store_pending(st), 2 * POOL_AORS);
    store_destroy(st);
    CU_ASSERT_EQUAL(outstanding, 0);
    for (int a = 0; a < POOL_AORS; a++) {
        CU_ASSERT_EQUAL(l[a][0].ndone, 1);
        CU_ASSERT_EQUAL(l[a][0].status, STORE_EUNAVAIL);
        CU_ASSERT_EQUAL(u[a][0].ndone, 1);
        CU_ASSERT_EQUAL(u[a][0].status, STORE_EUNAVAIL);
        CU_ASSERT_EQUAL(u[a][0].nupdates, 0);
    }
    for (int a = 0; a < POOL_AORS; a++) {
        for (int r = 0; r < POOL_ROUNDS; r++) {
            call_free(&u[a][r]);
            call_free(&l[a][r]);
        }
    }
}

/* One connection of the pool dies: what was sent on it fails at once with EUNAVAIL, the rest
 * succeeds; new operations go to the connections still up (the store stays available) until it
 * is back. */
static void test_pg_one_lost_connection_fails_fast_and_the_others_carry_on(void)
{
    enum { N = 64 };
    static const char *const nbackends = "SELECT count(*) FROM pg_stat_activity"
                                         " WHERE application_name = 'sipd_test_one'";
    struct store *st = store_create(fx.loop, "postgresql://?application_name=sipd_test_one");
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_TRUE_FATAL(wait_available(st));
    long npool = wait_scalar(nbackends, 4);
    CU_ASSERT_FATAL(npool >= 2);
    run_for(50); /* let the last connections finish preparing */

    static char aors[N][48];
    struct call l[N], again[N];
    memset(l, 0, sizeof l);
    memset(again, 0, sizeof again);
    for (int i = 0; i < N; i++)
        snprintf(aors[i], sizeof aors[i], "sip:one%d@example.com", i);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(pg_terminate_backend(pid, 5000)) FROM"
                                 " (SELECT min(pid) AS pid FROM pg_stat_activity"
                                 "  WHERE application_name = 'sipd_test_one') m"),
                    1);
    uint64_t t0 = loop_update_time(fx.loop);
    for (int i = 0; i < N; i++) /* the store has not seen the loss yet */
        submit_lookup(st, aors[i], NOW, &l[i]);
    CU_ASSERT_EQUAL(wait_all(), 0);
    CU_ASSERT(loop_update_time(fx.loop) - t0 < 1000);
    int nok = 0, nunavail = 0;
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(l[i].ndone, 1);
        nok += l[i].status == 0;
        nunavail += l[i].status == STORE_EUNAVAIL;
    }
    CU_ASSERT_EQUAL(nok + nunavail, N);
    CU_ASSERT(nunavail >= 1);
    CU_ASSERT(nok >= 1);
    CU_ASSERT_EQUAL(store_pending(st), 0);

    /* while it reconnects, the others take its AORs */
    CU_ASSERT_TRUE(store_is_available(st));
    for (int i = 0; i < N; i++)
        submit_lookup(st, aors[i], NOW, &again[i]);
    CU_ASSERT_EQUAL(wait_all(), 0);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(again[i].status, 0);

    /* and it comes back by itself */
    CU_ASSERT_EQUAL(wait_scalar(nbackends, npool), npool);
    store_destroy(st);
    for (int i = 0; i < N; i++) {
        call_free(&l[i]);
        call_free(&again[i]);
    }
}

/* Operations queued behind an update go out together behind its second flight. An SQL error in
 * the middle (a lookup whose time is out of range; a REPLACE that violates a constraint) fails only
 * its own operation: the ones the server skipped after it are sent again, in order, and every
 * result is what running them one by one would give. */
static void test_pg_error_inside_a_pipeline_fails_only_its_operation(void)
{
    struct binding b1 = mk("sip:alice@10.0.0.1", NOW + 3600, -1, NOW);
    struct binding b2 = mk("sip:alice@10.0.0.2", NOW + 3600, -1, NOW + 1);
    struct binding bad = mk("sip:alice@10.0.0.9", NOW + 3600, 5000, NOW); /* q > 1000 */
    struct binding b3 = mk("sip:alice@10.0.0.3", NOW + 3600, -1, NOW + 2);
    struct call u1 = {.add = &b1, .nadd = 1}, l1 = {0}, lbad = {0}, l2 = {0};
    struct call u2 = {.keep_current = 1, .add = &b2, .nadd = 1}, l3 = {0};
    struct call u3 = {.keep_current = 1, .add = &bad, .nadd = 1}, l4 = {0};
    struct call u4 = {.keep_current = 1, .add = &b3, .nadd = 1};
    submit_update(fx.st, AOR, NOW, &u1);
    submit_lookup(fx.st, AOR, NOW, &l1);
    submit_lookup(fx.st, AOR, INT64_MAX, &lbad); /* to_timestamp(): out of range */
    submit_lookup(fx.st, AOR, NOW, &l2);
    submit_update(fx.st, AOR, NOW, &u2);
    submit_lookup(fx.st, AOR, NOW, &l3);
    submit_update(fx.st, AOR, NOW, &u3);
    submit_lookup(fx.st, AOR, NOW, &l4);
    submit_update(fx.st, AOR, NOW, &u4);
    CU_ASSERT_EQUAL(wait_all(), 0);
    CU_ASSERT_EQUAL(u1.status, 0);
    CU_ASSERT_EQUAL(u1.result.len, 1);
    CU_ASSERT_EQUAL(l1.status, 0);
    CU_ASSERT_EQUAL(l1.result.len, 1);
    CU_ASSERT_EQUAL(lbad.status, STORE_EFAIL);
    CU_ASSERT_EQUAL(l2.status, 0);
    CU_ASSERT_EQUAL(l2.result.len, 1);
    CU_ASSERT_EQUAL(u2.status, 0);
    CU_ASSERT_EQUAL(u2.result.len, 2);
    CU_ASSERT_EQUAL(l3.status, 0);
    CU_ASSERT_EQUAL(l3.result.len, 2);
    CU_ASSERT_EQUAL(u3.status, STORE_EFAIL);
    CU_ASSERT_EQUAL(u3.nupdates, 1);
    CU_ASSERT_EQUAL(l4.status, 0);
    CU_ASSERT_EQUAL(l4.result.len, 2);
    CU_ASSERT_EQUAL(u4.status, 0);
    CU_ASSERT_EQUAL(u4.seen.len, 2);
    CU_ASSERT_EQUAL(u4.result.len, 3);
    struct call *all[] = {&u1, &l1, &lbad, &l2, &u2, &l3, &u3, &l4, &u4};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CU_ASSERT_EQUAL(all[i]->ndone, 1);
        call_free(all[i]);
    }
    CU_ASSERT_EQUAL(store_pending(fx.st), 0);
    CU_ASSERT_TRUE(store_is_available(fx.st));
}

/* Updates whose REPLACE fails, each followed by a lookup and an update of other AORs: wherever
 * these meet on one connection, the failed transaction must be rolled back before anything that
 * comes after it runs (else those fail too, "current transaction is aborted"). */
static void test_pg_failed_updates_in_a_burst_fail_alone(void)
{
    enum { N = 32 };
    static char aors[3][N][48];
    struct binding bad = mk("sip:bad@h", NOW + 3600, 5000, NOW); /* q > 1000 */
    struct binding good = mk("sip:good@h", NOW + 3600, -1, NOW);
    static struct call u_bad[N], l[N], u_good[N];
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 3; k++)
            snprintf(aors[k][i], sizeof aors[k][i], "sip:burst%d-%d@example.com", k, i);
        u_bad[i] = (struct call){.add = &bad, .nadd = 1};
        l[i] = (struct call){0};
        u_good[i] = (struct call){.add = &good, .nadd = 1};
    }
    for (int i = 0; i < N; i++) {
        submit_update(fx.st, aors[0][i], NOW, &u_bad[i]);
        submit_lookup(fx.st, aors[1][i], NOW, &l[i]);
        submit_update(fx.st, aors[2][i], NOW, &u_good[i]);
    }
    CU_ASSERT_EQUAL(wait_all(), 0);
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(u_bad[i].status, STORE_EFAIL);
        CU_ASSERT_EQUAL(l[i].status, 0);
        CU_ASSERT_EQUAL(u_good[i].status, 0);
        CU_ASSERT_EQUAL(u_good[i].result.len, 1);
        call_free(&u_bad[i]);
        call_free(&l[i]);
        call_free(&u_good[i]);
    }
    CU_ASSERT_EQUAL(store_pending(fx.st), 0);
}

/* A burst of updates only (what a registrar under load sends): the store runs many of them in
 * one transaction, yet each AOR's updates still run in order, each seeing the one before. */
static void test_pg_burst_of_updates_keeps_each_aor_in_order(void)
{
    enum { NAORS = 50, ROUNDS = 4 };
    static char aors[NAORS][48], contacts[NAORS][ROUNDS][48];
    static struct binding add[NAORS][ROUNDS];
    static struct call u[NAORS][ROUNDS];
    memset(u, 0, sizeof u);
    for (int a = 0; a < NAORS; a++) {
        snprintf(aors[a], sizeof aors[a], "sip:burst%d@example.com", a);
        for (int r = 0; r < ROUNDS; r++) {
            snprintf(contacts[a][r], sizeof contacts[a][r], "sip:b%d@10.2.%d.%d", a, a, r);
            add[a][r] = mk(contacts[a][r], NOW + 3600, -1, NOW + r);
            u[a][r] = (struct call){.keep_current = 1, .add = &add[a][r], .nadd = 1};
        }
    }
    /* AOR by AOR (consecutive updates of one AOR) and round by round (of many AORs) */
    for (int a = 0; a < NAORS / 2; a++)
        for (int r = 0; r < ROUNDS; r++)
            submit_update(fx.st, aors[a], NOW, &u[a][r]);
    for (int r = 0; r < ROUNDS; r++)
        for (int a = NAORS / 2; a < NAORS; a++)
            submit_update(fx.st, aors[a], NOW, &u[a][r]);
    CU_ASSERT_EQUAL(wait_all(), 0);
    for (int a = 0; a < NAORS; a++) {
        for (int r = 0; r < ROUNDS; r++) {
            CU_ASSERT_EQUAL(u[a][r].ndone, 1);
            CU_ASSERT_EQUAL(u[a][r].status, 0);
            CU_ASSERT_EQUAL(u[a][r].nupdates, 1);
            CU_ASSERT_EQUAL(u[a][r].seen.len, (size_t)r);
            CU_ASSERT_EQUAL_FATAL(u[a][r].result.len, (size_t)r + 1);
            CU_ASSERT_STRING_EQUAL(u[a][r].result.v[0].contact, contacts[a][r]);
            CU_ASSERT_STRING_EQUAL(u[a][r].result.v[0].aor, aors[a]);
            call_free(&u[a][r]);
        }
    }
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM locations"), NAORS * ROUNDS);
}

/* In a burst of updates of many AORs, one whose bindings the database refuses fails alone (the
 * others in its transaction are run again, each in a transaction of its own), one whose update
 * function aborts reports its status and changes nothing, and the rest are stored. */
static void test_pg_burst_with_bad_and_aborting_updates(void)
{
    enum { N = 64 };
    static char aors[N][48];
    struct binding good = mk("sip:good@h", NOW + 3600, -1, NOW);
    struct binding bad = mk("sip:bad@h", NOW + 3600, 5000, NOW); /* q > 1000 */
    static struct call u[N];
    int nstored = 0;
    for (int i = 0; i < N; i++) {
        snprintf(aors[i], sizeof aors[i], "sip:mixed%d@example.com", i);
        u[i] = (struct call){.add = i % 16 == 5 ? &bad : &good, .nadd = 1};
        if (i % 7 == 3)
            u[i].abort_status = 423;
        nstored += i % 16 != 5 && i % 7 != 3;
    }
    for (int i = 0; i < N; i++)
        submit_update(fx.st, aors[i], NOW, &u[i]);
    CU_ASSERT_EQUAL(wait_all(), 0);
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(u[i].ndone, 1);
        CU_ASSERT(u[i].nupdates >= 1);
        if (i % 7 == 3) {
            CU_ASSERT_EQUAL(u[i].status, 423);
        } else if (i % 16 == 5) {
            CU_ASSERT_EQUAL(u[i].status, STORE_EFAIL);
        } else {
            CU_ASSERT_EQUAL(u[i].status, 0);
            CU_ASSERT_EQUAL(u[i].result.len, 1);
        }
        call_free(&u[i]);
    }
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM locations"), nstored);
    CU_ASSERT_EQUAL(store_pending(fx.st), 0);
}

/* A serialization failure hits a transaction of several updates: all of them are retried (their
 * update functions called again) and stored. */
static void test_pg_burst_retried_on_serialization_failure(void)
{
    enum { N = 24 };
    CU_ASSERT_EQUAL_FATAL(
        admin_exec("CREATE SEQUENCE test_fail_seq;"
                   "CREATE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS $$"
                   " BEGIN IF nextval('test_fail_seq') <= 2 THEN"
                   "  RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END IF;"
                   " RETURN NEW; END $$;"
                   "CREATE TRIGGER test_fail BEFORE INSERT ON locations"
                   " FOR EACH ROW EXECUTE FUNCTION test_fail()"),
        0);
    static char aors[N][48];
    struct binding b = mk("sip:retried@h", NOW + 3600, -1, NOW);
    static struct call u[N];
    for (int i = 0; i < N; i++) {
        snprintf(aors[i], sizeof aors[i], "sip:retry%d@example.com", i);
        u[i] = (struct call){.add = &b, .nadd = 1};
    }
    for (int i = 0; i < N; i++)
        submit_update(fx.st, aors[i], NOW, &u[i]);
    CU_ASSERT_EQUAL(wait_all(), 0);
    int max_updates = 0;
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(u[i].status, 0);
        CU_ASSERT_EQUAL(u[i].result.len, 1);
        if (u[i].nupdates > max_updates)
            max_updates = u[i].nupdates;
        call_free(&u[i]);
    }
    /* two transactions failed: the first one or two to reach the INSERT */
    CU_ASSERT(max_updates == 2 || max_updates == 3);
    admin_exec("DROP TRIGGER test_fail ON locations; DROP FUNCTION test_fail();"
               "DROP SEQUENCE test_fail_seq");
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM locations"), N);
}

/* Lookups and updates of different AORs interleaved, when the database's default isolation is
 * SERIALIZABLE: an update's BEGIN (which sets READ COMMITTED) must open a transaction of its own,
 * never join the implicit one of a lookup sent just before it. */
static void test_pg_mixed_pipeline_under_serializable_default(void)
{
    enum { NAORS = 16, N = 64 };
    struct store *st = store_create(
        fx.loop, "postgresql://?options=-c%20default_transaction_isolation%3Dserializable");
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_TRUE_FATAL(wait_available(st));
    run_for(50); /* the whole pool */
    static char aors[NAORS][48], contacts[N][48];
    static struct binding add[N];
    static struct call u[N], l[N];
    memset(u, 0, sizeof u);
    memset(l, 0, sizeof l);
    for (int a = 0; a < NAORS; a++)
        snprintf(aors[a], sizeof aors[a], "sip:mixed%d@example.com", a);
    for (int i = 0; i < N; i++) {
        snprintf(contacts[i], sizeof contacts[i], "sip:m%d@h", i);
        add[i] = mk(contacts[i], NOW + 3600, -1, NOW);
        u[i] = (struct call){.keep_current = 1, .add = &add[i], .nadd = 1};
    }
    for (int i = 0; i < N; i++) {
        submit_lookup(st, aors[(i + 1) % NAORS], NOW, &l[i]);
        submit_update(st, aors[i % NAORS], NOW, &u[i]);
    }
    CU_ASSERT_EQUAL(wait_all(), 0);
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(l[i].status, 0);
        CU_ASSERT_EQUAL(u[i].status, 0);
        CU_ASSERT_EQUAL(u[i].result.len, (size_t)(i / NAORS + 1));
    }
    for (int i = 0; i < N; i++) {
        call_free(&u[i]);
        call_free(&l[i]);
    }
    store_destroy(st);
}

/* Another node holds an AOR's lock: the update of that AOR waits for it, and so does what is
 * queued behind it on the same connection; the other connections carry on. */
static void test_pg_update_waiting_for_a_lock_does_not_hold_up_the_pool(void)
{
    enum { N = 32 };
    CU_ASSERT_EQUAL_FATAL(admin_exec("SELECT pg_advisory_lock(hashtextextended('" AOR "', 0))"),
                          0);
    struct binding b = mk("sip:alice@10.0.0.1", NOW + 3600, -1, NOW);
    struct call blocked = {.add = &b, .nadd = 1};
    submit_update(fx.st, AOR, NOW, &blocked);
    static char aors[N][48];
    struct call c[N];
    memset(c, 0, sizeof c);
    for (int i = 0; i < N; i++) {
        snprintf(aors[i], sizeof aors[i], "sip:free%d@example.com", i);
        c[i] = (struct call){.add = &b, .nadd = 1};
        submit_update(fx.st, aors[i], NOW, &c[i]);
    }
    run_for(300);
    CU_ASSERT_EQUAL(blocked.ndone, 0);
    int ndone = 0;
    for (int i = 0; i < N; i++)
        ndone += c[i].ndone;
    CU_ASSERT(ndone >= 1);
    CU_ASSERT_EQUAL(admin_exec("SELECT pg_advisory_unlock(hashtextextended('" AOR "', 0))"), 0);
    CU_ASSERT_EQUAL(wait_all(), 0);
    CU_ASSERT_EQUAL(blocked.status, 0);
    CU_ASSERT_EQUAL(blocked.result.len, 1);
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(c[i].ndone, 1);
        CU_ASSERT_EQUAL(c[i].status, 0);
        call_free(&c[i]);
    }
    call_free(&blocked);
}

/* Each connection plans its statements once (force_generic_plan). A connection that first reads
 * an AOR's rows (an update's flight 1) when `locations` already holds thousands of rows not yet
 * analysed must still find them through the primary key: a plan that also scans the expires_at
 * index walks every live binding once per AOR, and under load the SELECT of a batch took more CPU
 * than the rest of the REGISTER (the limit fell from 16000/s to 4000/s when the pool's later
 * connections made their plans only at the first overflow). idx_scan of locations_expires_at
 * counts such scans; statistics reach the view within a second of the backend going idle. */
static void test_pg_update_reads_rows_through_the_aor_index_as_the_table_grows(void)
{
    enum { N = 32, MIN_BAD_SCANS = N };
    const char *scans = "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes"
                        " WHERE indexrelname = 'locations_expires_at'";
    CU_ASSERT_EQUAL_FATAL(admin_exec("INSERT INTO locations (aor, contact, call_id, cseq,"
                                     " expires_at, q, updated_at) SELECT 'sip:grown' || g ||"
                                     " '@example.com', 'sip:c@10.9.0.1', 'x', 1,"
                                     " to_timestamp(1700003600), 1, to_timestamp(1700000000)"
                                     " FROM generate_series(1, 20000) AS g"),
                          0);
    struct store *fresh = make_store(); /* new connections: their plans are made from now on */
    CU_ASSERT_PTR_NOT_NULL_FATAL(fresh);
    CU_ASSERT_TRUE_FATAL(wait_available(fresh));
    run_for(1500); /* the connections' start-up statements reach the statistics */
    admin_exec("SELECT pg_stat_clear_snapshot()");
    long before = admin_scalar(scans);

    static char aors[N][48], contacts[N][48];
    struct binding add[N];
    struct call c[N];
    memset(c, 0, sizeof c);
    for (int i = 0; i < N; i++) {
        snprintf(aors[i], sizeof aors[i], "sip:grown%d@example.com", i + 1);
        snprintf(contacts[i], sizeof contacts[i], "sip:new%d@10.9.1.1", i);
        add[i] = mk(contacts[i], NOW + 3600, -1, NOW + 1);
        c[i] = (struct call){.keep_current = 1, .add = &add[i], .nadd = 1};
        submit_update(fresh, aors[i], NOW, &c[i]); /* reads the rows first (flight 1) */
    }
    CU_ASSERT_EQUAL(wait_all(), 0);
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(c[i].ndone, 1);
        CU_ASSERT_EQUAL(c[i].status, 0);
        CU_ASSERT_EQUAL(c[i].seen.len, 1);
        CU_ASSERT_EQUAL(c[i].result.len, 2);
        call_free(&c[i]);
    }
    long scanned = 0;
    for (int t = 0; t < 25 && scanned < MIN_BAD_SCANS; t++) {
        run_for(100);
        admin_exec("SELECT pg_stat_clear_snapshot()");
        scanned = admin_scalar(scans) - before;
    }
    CU_ASSERT(scanned < MIN_BAD_SCANS);
    store_destroy(fresh);
}

static void test_pg_init_db_is_idempotent(void)
{
    CU_ASSERT_EQUAL(store_init_db("postgresql://", fx.schema_dir), 0);
    CU_ASSERT_EQUAL(store_init_db("postgresql://", fx.schema_dir), 0);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM schema_migrations WHERE version = 1"), 1);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM information_schema.tables WHERE table_name"
                                 " IN ('nodes', 'heartbeats', 'locations', 'topics',"
                                 " 'topic_members', 'subscriptions', 'messages', 'presentities',"
                                 " 'credentials')"),
                    9);
    CU_ASSERT_EQUAL(store_init_db("postgresql://", "/nonexistent/schema"), -1);
}

/* ---- the registrar's rules on the stored bindings --------------------------------------------- */

struct reg_call {
    struct registrar_config cfg;
    struct reg_request req;
    struct reg_outcome oc;
    struct call c;
};

static int reg_update(void *arg, const struct binding *cur, size_t ncur, struct binding_list *out)
{
    struct reg_call *rc = arg;
    rc->c.nupdates++;
    return registrar_apply(&rc->cfg, &rc->req, cur, ncur, out, &rc->oc);
}

static void reg_done(void *arg, int status, const struct binding *b, size_t n)
{
    on_bindings(&((struct reg_call *)arg)->c, status, b, n);
}

/* REGISTER of AOR with `contact_line` from TCP connection conn_id at peer port `port`, run through
 * registrar_parse/registrar_apply on the fixture's store. The status; rc->c.result the bindings. */
static int do_register(struct reg_call *rc, const char *call_id, int cseq, const char *contact_line,
                       uint64_t conn_id, int port, int64_t now)
{
    static const char *const served[] = {"example.com", NULL};
    rc->cfg = (struct registrar_config){.min_expires = 60, .max_expires = 7200,
                                        .default_expires = 3600, .max_contacts = 10,
                                        .domains = served};
    char buf[2048];
    snprintf(buf, sizeof buf,
             "REGISTER sip:example.com SIP/2.0\r\n"
             "Via: SIP/2.0/TCP 10.0.0.1:%d;branch=z9hG4bK%d\r\n"
             "Max-Forwards: 70\r\nFrom: <" AOR ">;tag=f\r\nTo: <" AOR ">\r\n"
             "Call-ID: %s\r\nCSeq: %d REGISTER\r\n%s\r\nContent-Length: 0\r\n\r\n",
             port, cseq, call_id, cseq, contact_line);
    sip_msg_init();
    osip_message_t *m = sip_parse(buf, strlen(buf));
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    struct sip_source src = {.proto = SIP_PROTO_TCP, .udp_fd = -1, .conn_id = conn_id};
    sockaddr_from_host_port("10.0.0.1", 8, (uint16_t)port, &src.peer, &src.peerlen);
    char unsup[32];
    int st = registrar_parse(&rc->cfg, m, &src, now, &rc->req, &rc->oc, unsup, sizeof unsup);
    osip_message_free(m);
    if (st == 0) {
        outstanding++;
        store_location_update(fx.st, AOR, now, reg_update, reg_done, rc);
        st = wait_all() ? 999 : rc->c.status;
    }
    reg_request_free(&rc->req);
    return st;
}

/* RFC 5627 §6: a device (same +sip.instance, no reg-id) that registers again from a new TCP
 * connection and port replaces its binding instead of adding a second one; a flow (instance +
 * reg-id) is still its own binding; another instance is another device. */
static void test_register_same_instance_replaces_binding(void)
{
    const char *inst = ";+sip.instance=\"<urn:uuid:11111111-2222-4333-8444-555555555555>\"";
    char line[512];
    struct reg_call r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};
    snprintf(line, sizeof line, "Contact: <sip:alice@10.0.0.1:40888;transport=tcp>%s", inst);
    CU_ASSERT_EQUAL(do_register(&r1, "dev-1", 1, line, 7, 40888, NOW), 0);
    CU_ASSERT_EQUAL(r1.c.result.len, 1);

    snprintf(line, sizeof line, "Contact: <sip:alice@10.0.0.1:40904;transport=tcp>%s", inst);
    CU_ASSERT_EQUAL(do_register(&r2, "dev-1", 2, line, 8, 40904, NOW + 5), 0);
    CU_ASSERT_EQUAL_FATAL(r2.c.result.len, 1);
    CU_ASSERT_STRING_EQUAL(r2.c.result.v[0].contact, "sip:alice@10.0.0.1:40904;transport=tcp");
    CU_ASSERT_STRING_EQUAL(r2.c.result.v[0].received, "tcp:10.0.0.1:40904");
    CU_ASSERT(r2.c.result.v[0].conn_id == 8);

    /* the same device's RFC 5626 flow and another device are bindings of their own */
    snprintf(line, sizeof line, "Contact: <sip:alice@10.0.0.1:40904;transport=tcp;ob>%s;reg-id=1",
             inst);
    CU_ASSERT_EQUAL(do_register(&r3, "dev-1", 3, line, 8, 40904, NOW + 6), 0);
    CU_ASSERT_EQUAL(r3.c.result.len, 2);
    CU_ASSERT_EQUAL(do_register(&r4, "dev-2", 1,
                                "Contact: <sip:alice@10.0.0.2:5060>;+sip.instance=\"<urn:uuid:2>\"",
                                0, 5060, NOW + 7), 0);
    CU_ASSERT_EQUAL(r4.c.result.len, 3);

    struct call l = {0};
    CU_ASSERT_EQUAL(do_lookup(AOR, NOW + 7, &l), 0);
    CU_ASSERT_EQUAL(l.result.len, 3);
    CU_ASSERT_FALSE(has_contact(&l.result, "sip:alice@10.0.0.1:40888;transport=tcp"));
    CU_ASSERT_TRUE(has_contact(&l.result, "sip:alice@10.0.0.1:40904;transport=tcp"));
    call_free(&r1.c);
    call_free(&r2.c);
    call_free(&r3.c);
    call_free(&r4.c);
    call_free(&l);
}

/* ---- suites ---------------------------------------------------------------------------------- */

static int pg_init(void) { return fx_pg_init("store_postgres"); }

static void pg_setup(void) { fx_pg_setup("TRUNCATE locations, location_gone"); }

/* ---- the control plane's list of AORs ---- */

struct list_res {
    int ndone, status;
    char aors[8][64];
    long counts[8];
    size_t n;
};

static void on_aor_counts(void *arg, int status, const struct aor_count *v, size_t n)
{
    struct list_res *r = arg;
    r->ndone++;
    r->status = status;
    r->n = n;
    for (size_t i = 0; i < n && i < 8; i++) {
        snprintf(r->aors[i], sizeof r->aors[i], "%s", v[i].aor);
        r->counts[i] = v[i].bindings;
    }
    one_done();
}

static int do_list(const char *after, size_t max, int64_t now, struct list_res *r)
{
    memset(r, 0, sizeof *r);
    outstanding++;
    store_location_list(fx.st, after, max, now, on_aor_counts, r);
    if (wait_all())
        return 999;
    CU_ASSERT_EQUAL(r->ndone, 1);
    return r->status;
}

/* AORs in byte order with their live bindings, a page after a cursor, expired ones left out. */
static void test_location_list_pages_by_aor(void)
{
    struct binding two[] = {mk("sip:a1@10.0.0.1", NOW + 60, -1, NOW),
                            mk("sip:a2@10.0.0.2", NOW + 60, -1, NOW)};
    struct binding one[] = {mk("sip:b@10.0.0.3", NOW + 60, -1, NOW)};
    struct binding gone[] = {mk("sip:c@10.0.0.4", NOW + 5, -1, NOW)};
    put("sip:zed@example.com", NOW, one, 1);
    put(AOR, NOW, two, 2);
    put(AOR2, NOW, one, 1);
    put("sip:carol@example.com", NOW, gone, 1);
    struct list_res r;
    CU_ASSERT_EQUAL_FATAL(do_list(NULL, 10, NOW + 10, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 3);
    CU_ASSERT_STRING_EQUAL(r.aors[0], AOR);
    CU_ASSERT_EQUAL(r.counts[0], 2);
    CU_ASSERT_STRING_EQUAL(r.aors[1], AOR2);
    CU_ASSERT_EQUAL(r.counts[1], 1);
    CU_ASSERT_STRING_EQUAL(r.aors[2], "sip:zed@example.com");
    CU_ASSERT_EQUAL_FATAL(do_list(NULL, 2, NOW + 10, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 2);
    CU_ASSERT_STRING_EQUAL(r.aors[1], AOR2);
    CU_ASSERT_EQUAL_FATAL(do_list(AOR2, 2, NOW + 10, &r), 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 1);
    CU_ASSERT_STRING_EQUAL(r.aors[0], "sip:zed@example.com");
    CU_ASSERT_EQUAL(do_list("sip:zed@example.com", 2, NOW + 10, &r), 0);
    CU_ASSERT_EQUAL(r.n, 0);
    CU_ASSERT_EQUAL_FATAL(do_list(NULL, 10, NOW, &r), 0);
    CU_ASSERT_EQUAL(r.n, 4); /* carol's binding is live at NOW */
}

static const struct test_case shared_cases[] = {
    TEST_CASE(test_store_is_available_and_idle),
    TEST_CASE(test_update_inserts_and_returns_stored_bindings),
    TEST_CASE(test_update_abort_status_passes_through_and_changes_nothing),
    TEST_CASE(test_update_replaces_the_whole_binding_set),
    TEST_CASE(test_lookup_orders_by_q_then_most_recent),
    TEST_CASE(test_expired_bindings_are_hidden_and_expire_deletes_them),
    TEST_CASE(test_separate_aors_do_not_interfere),
    TEST_CASE(test_all_binding_fields_round_trip),
    TEST_CASE(test_lookup_tells_known_offline_from_unknown),
    TEST_CASE(test_register_same_instance_replaces_binding),
    TEST_CASE(test_location_list_pages_by_aor),
};

static const struct test_case mem_cases[] = {
    TEST_CASE(test_mem_known_aors_are_bounded),
};

static const struct test_case pg_cases[] = {
    TEST_CASE(test_pg_two_stores_serialise_updates_of_one_aor),
    TEST_CASE(test_pg_optimistic_updates_see_other_writers),
    TEST_CASE(test_pg_serialise_even_when_default_isolation_is_serializable),
    TEST_CASE(test_pg_update_retries_on_serialization_failure),
    TEST_CASE(test_pg_unreachable_server_fails_fast_with_eunavail),
    TEST_CASE(test_pg_lost_connection_fails_pending_and_reconnects),
    TEST_CASE(test_pg_destroy_fails_pending_operations),
    TEST_CASE(test_pg_sql_error_rolls_back_and_store_recovers),
    TEST_CASE(test_pg_unreadable_rows_are_skipped),
    TEST_CASE(test_pg_pool_runs_many_aors_at_once_in_order_per_aor),
    TEST_CASE(test_pg_one_lost_connection_fails_fast_and_the_others_carry_on),
    TEST_CASE(test_pg_error_inside_a_pipeline_fails_only_its_operation),
    TEST_CASE(test_pg_failed_updates_in_a_burst_fail_alone),
    TEST_CASE(test_pg_burst_of_updates_keeps_each_aor_in_order),
    TEST_CASE(test_pg_burst_with_bad_and_aborting_updates),
    TEST_CASE(test_pg_burst_retried_on_serialization_failure),
    TEST_CASE(test_pg_mixed_pipeline_under_serializable_default),
    TEST_CASE(test_pg_update_waiting_for_a_lock_does_not_hold_up_the_pool),
    TEST_CASE(test_pg_update_reads_rows_through_the_aor_index_as_the_table_grows),
    TEST_CASE(test_pg_init_db_is_idempotent),
};

void register_store_suites(void)
{
    fx_register_suites("store_memory", "store_postgres", pg_init, pg_setup, shared_cases,
                       NCASES(shared_cases), mem_cases, NCASES(mem_cases), pg_cases,
                       NCASES(pg_cases));
}
