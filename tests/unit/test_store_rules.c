/* test_store_rules.c - presence authorization rules (store.h: "presence authorization rules"),
 * against both backends: suite "store_rules_memory" and, when PGHOST is set, suite
 * "store_rules_postgres" (schema/ applied, `presence_rules` emptied before each test). */
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "store/store.h"
#include "store_fixture.h"
#include "suites.h"

#define ALICE "sip:alice@example.com"

struct rres {
    int status;
    size_t nallow, nblock;
    char allow[4][STORE_PRES_RULE_BYTES + 1], block[4][STORE_PRES_RULE_BYTES + 1];
};

static void on_rules(void *arg, int status, const struct pres_rules *r)
{
    struct rres *o = arg;
    memset(o, 0, sizeof *o);
    o->status = status;
    if (r) {
        o->nallow = r->nallow;
        o->nblock = r->nblock;
        for (size_t i = 0; i < r->nallow && i < 4; i++)
            snprintf(o->allow[i], sizeof o->allow[i], "%s", r->allow[i]);
        for (size_t i = 0; i < r->nblock && i < 4; i++)
            snprintf(o->block[i], sizeof o->block[i], "%s", r->block[i]);
    }
    one_done();
}

static void on_status(void *arg, int status)
{
    *(int *)arg = status;
    one_done();
}

static int get(struct store *st, const char *aor, struct rres *o)
{
    o->status = -1;
    outstanding++;
    store_pres_rules_get(st, aor, on_rules, o);
    CU_ASSERT_EQUAL(wait_all(), 0);
    return o->status;
}

static int put(struct store *st, const char *aor, const char *const *allow, size_t nallow,
               const char *const *block, size_t nblock)
{
    struct pres_rules r = {.aor = aor, .allow = allow, .nallow = nallow, .block = block,
                           .nblock = nblock};
    int status = -1;
    outstanding++;
    store_pres_rules_put(st, &r, on_status, &status);
    CU_ASSERT_EQUAL(wait_all(), 0);
    return status;
}

/* No rules: both lists empty, status 0. */
static void test_rules_of_an_unknown_aor_are_empty(void)
{
    struct rres o;
    CU_ASSERT_EQUAL(get(fx.st, ALICE, &o), 0);
    CU_ASSERT_EQUAL(o.nallow, 0);
    CU_ASSERT_EQUAL(o.nblock, 0);
}

/* A put replaces both lists, in the order given; empty lists remove them. */
static void test_rules_put_replaces_both_lists_in_order(void)
{
    const char *const allow1[] = {"sip:bob@example.org", "example.net", "sip:carol@example.com"};
    const char *const block1[] = {"sip:mallory@example.com"};
    const char *const allow2[] = {"example.net"};
    struct rres o;
    CU_ASSERT_EQUAL(put(fx.st, ALICE, allow1, 3, block1, 1), 0);
    CU_ASSERT_EQUAL(get(fx.st, ALICE, &o), 0);
    CU_ASSERT_EQUAL_FATAL(o.nallow, 3);
    CU_ASSERT_EQUAL_FATAL(o.nblock, 1);
    CU_ASSERT_STRING_EQUAL(o.allow[0], "sip:bob@example.org");
    CU_ASSERT_STRING_EQUAL(o.allow[1], "example.net");
    CU_ASSERT_STRING_EQUAL(o.allow[2], "sip:carol@example.com");
    CU_ASSERT_STRING_EQUAL(o.block[0], "sip:mallory@example.com");
    /* another presentity is untouched */
    CU_ASSERT_EQUAL(get(fx.st, "sip:bob@example.com", &o), 0);
    CU_ASSERT_EQUAL(o.nallow + o.nblock, 0);

    CU_ASSERT_EQUAL(put(fx.st, ALICE, allow2, 1, NULL, 0), 0);
    CU_ASSERT_EQUAL(get(fx.st, ALICE, &o), 0);
    CU_ASSERT_EQUAL_FATAL(o.nallow, 1);
    CU_ASSERT_EQUAL(o.nblock, 0);
    CU_ASSERT_STRING_EQUAL(o.allow[0], "example.net");

    CU_ASSERT_EQUAL(put(fx.st, ALICE, NULL, 0, block1, 1), 0);
    CU_ASSERT_EQUAL(get(fx.st, ALICE, &o), 0);
    CU_ASSERT_EQUAL(o.nallow, 0);
    CU_ASSERT_EQUAL_FATAL(o.nblock, 1);
    CU_ASSERT_STRING_EQUAL(o.block[0], "sip:mallory@example.com");

    CU_ASSERT_EQUAL(put(fx.st, ALICE, NULL, 0, NULL, 0), 0);
    CU_ASSERT_EQUAL(get(fx.st, ALICE, &o), 0);
    CU_ASSERT_EQUAL(o.nallow + o.nblock, 0);
}

/* The bound: at most STORE_PRES_RULES_MAX entries per list are stored; more is an error. */
static void test_rules_put_refuses_too_many_entries(void)
{
    static char buf[STORE_PRES_RULES_MAX + 1][32];
    const char *v[STORE_PRES_RULES_MAX + 1];
    for (size_t i = 0; i <= STORE_PRES_RULES_MAX; i++) {
        snprintf(buf[i], sizeof buf[i], "sip:u%zu@example.org", i);
        v[i] = buf[i];
    }
    struct rres o;
    CU_ASSERT_EQUAL(put(fx.st, ALICE, v, STORE_PRES_RULES_MAX, v, STORE_PRES_RULES_MAX), 0);
    CU_ASSERT_EQUAL(get(fx.st, ALICE, &o), 0);
    CU_ASSERT_EQUAL(o.nallow, STORE_PRES_RULES_MAX);
    CU_ASSERT_EQUAL(o.nblock, STORE_PRES_RULES_MAX);
    CU_ASSERT_STRING_EQUAL(o.allow[3], "sip:u3@example.org");
    CU_ASSERT_EQUAL(put(fx.st, ALICE, v, STORE_PRES_RULES_MAX + 1, NULL, 0), STORE_EFAIL);
    CU_ASSERT_EQUAL(get(fx.st, ALICE, &o), 0);
    CU_ASSERT_EQUAL(o.nallow, STORE_PRES_RULES_MAX); /* unchanged */
}

/* Entries with quotes, backslashes and commas survive the array literal; a second store (another
 * node) sharing the database reads what the first wrote. */
static void test_pg_second_store_reads_the_rules(void)
{
    const char *const allow[] = {"sip:o\"brien@example.org", "a\\b,c{}@x"};
    CU_ASSERT_EQUAL(put(fx.st, ALICE, allow, 2, allow + 1, 1), 0);
    struct store *other = make_store();
    CU_ASSERT_FATAL(other != NULL);
    CU_ASSERT_FATAL(wait_available(other));
    struct rres o;
    CU_ASSERT_EQUAL(get(other, ALICE, &o), 0);
    CU_ASSERT_EQUAL_FATAL(o.nallow, 2);
    CU_ASSERT_EQUAL_FATAL(o.nblock, 1);
    CU_ASSERT_STRING_EQUAL(o.allow[0], allow[0]);
    CU_ASSERT_STRING_EQUAL(o.allow[1], allow[1]);
    CU_ASSERT_STRING_EQUAL(o.block[0], allow[1]);
    store_destroy(other);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM presence_rules"), 1);
    CU_ASSERT_EQUAL(put(fx.st, ALICE, NULL, 0, NULL, 0), 0);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM presence_rules"), 0);
}

static int pg_init(void) { return fx_pg_init("store_rules_postgres"); }

static void pg_setup(void) { fx_pg_setup("TRUNCATE presence_rules"); }

static const struct test_case shared_cases[] = {
    TEST_CASE(test_rules_of_an_unknown_aor_are_empty),
    TEST_CASE(test_rules_put_replaces_both_lists_in_order),
    TEST_CASE(test_rules_put_refuses_too_many_entries),
};

static const struct test_case pg_cases[] = {
    TEST_CASE(test_pg_second_store_reads_the_rules),
};

void register_store_rules_suites(void)
{
    fx_register_suites("store_rules_memory", "store_rules_postgres", pg_init, pg_setup,
                       shared_cases, NCASES(shared_cases), NULL, 0, pg_cases, NCASES(pg_cases));
}
