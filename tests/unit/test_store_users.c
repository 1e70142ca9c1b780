/* test_store_users.c - digest users and the nonce secret (store.h: "digest authentication"),
 * against both backends: suite "store_users_memory" and, when PGHOST is set, suite
 * "store_users_postgres" (schema/ applied, `users` and `auth_secret` emptied before each test). */
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "store/store.h"
#include "store_fixture.h"
#include "suites.h"

#define MD5A "0123456789abcdef0123456789abcdef"
#define SHAA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define MD5B "fedcba9876543210fedcba9876543210"

struct ures {
    int status;
    size_t n;
    char aor[8][128], realm[8][64], md5[8][40], sha[8][72];
    unsigned char secret[64];
    size_t secret_len;
};

static void copy_user(struct ures *r, size_t i, const struct auth_user *u)
{
    snprintf(r->aor[i], sizeof r->aor[i], "%s", u->aor);
    snprintf(r->realm[i], sizeof r->realm[i], "%s", u->realm);
    snprintf(r->md5[i], sizeof r->md5[i], "%s", u->ha1_md5);
    snprintf(r->sha[i], sizeof r->sha[i], "%s", u->ha1_sha256);
}

static void on_user(void *arg, int status, const struct auth_user *u)
{
    struct ures *r = arg;
    r->status = status;
    r->n = u ? 1 : 0;
    if (u)
        copy_user(r, 0, u);
    one_done();
}

static void on_users(void *arg, int status, const struct auth_user *v, size_t n)
{
    struct ures *r = arg;
    r->status = status;
    r->n = n;
    for (size_t i = 0; i < n && i < 8; i++)
        copy_user(r, i, &v[i]);
    one_done();
}

static void on_status(void *arg, int status)
{
    *(int *)arg = status;
    one_done();
}

static void on_secret(void *arg, int status, const unsigned char *s, size_t len)
{
    struct ures *r = arg;
    r->status = status;
    r->secret_len = status == 0 ? len : 0;
    if (status == 0)
        memcpy(r->secret, s, len);
    one_done();
}

static int put(const char *aor, const char *md5, int is_create)
{
    struct auth_user u = {.aor = aor, .realm = strchr(aor, '@') + 1, .ha1_md5 = md5,
                          .ha1_sha256 = SHAA};
    int st = -1;
    outstanding++;
    store_user_put(fx.st, &u, is_create, on_status, &st);
    CU_ASSERT_EQUAL(wait_all(), 0);
    return st;
}

static void test_user_create_get_update_delete(void)
{
    struct ures r;
    CU_ASSERT_EQUAL(put("sip:alice@example.com", MD5A, 1), 0);
    CU_ASSERT_EQUAL(put("sip:alice@example.com", MD5B, 1), 409);
    CU_ASSERT_EQUAL(put("sip:bob@example.com", MD5B, 0), 404);
    outstanding++;
    store_user_get(fx.st, "sip:alice@example.com", on_user, &r);
    CU_ASSERT_EQUAL_FATAL(wait_all(), 0);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.realm[0], "example.com");
    CU_ASSERT_STRING_EQUAL(r.md5[0], MD5A);
    CU_ASSERT_STRING_EQUAL(r.sha[0], SHAA);
    CU_ASSERT_EQUAL(put("sip:alice@example.com", MD5B, 0), 0);
    outstanding++;
    store_user_get(fx.st, "sip:alice@example.com", on_user, &r);
    wait_all();
    CU_ASSERT_STRING_EQUAL(r.md5[0], MD5B);
    int st = -1;
    outstanding++;
    store_user_delete(fx.st, "sip:alice@example.com", on_status, &st);
    wait_all();
    CU_ASSERT_EQUAL(st, 0);
    outstanding++;
    store_user_delete(fx.st, "sip:alice@example.com", on_status, &st);
    wait_all();
    CU_ASSERT_EQUAL(st, 404);
    outstanding++;
    store_user_get(fx.st, "sip:alice@example.com", on_user, &r);
    wait_all();
    CU_ASSERT_EQUAL(r.status, 404);
    CU_ASSERT_EQUAL(r.n, 0);
}

static void test_users_list_in_aor_order_with_cursor(void)
{
    put("sip:carol@example.com", MD5A, 1);
    put("sip:alice@example.com", MD5A, 1);
    put("sip:bob@example.org", MD5A, 1);
    struct ures r;
    outstanding++;
    store_users_list(fx.st, NULL, 2, on_users, &r);
    CU_ASSERT_EQUAL_FATAL(wait_all(), 0);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_EQUAL_FATAL(r.n, 2);
    CU_ASSERT_STRING_EQUAL(r.aor[0], "sip:alice@example.com");
    CU_ASSERT_STRING_EQUAL(r.aor[1], "sip:bob@example.org");
    outstanding++;
    store_users_list(fx.st, "sip:bob@example.org", 10, on_users, &r);
    wait_all();
    CU_ASSERT_EQUAL_FATAL(r.n, 1);
    CU_ASSERT_STRING_EQUAL(r.aor[0], "sip:carol@example.com");
}

/* The first proposal is kept; every later caller gets it. */
static void test_auth_secret_first_proposal_wins(void)
{
    struct ures a, b;
    const unsigned char p1[32] = "first-proposal-0123456789abcdef", p2[32] = "second-proposal-0123456789abcde";
    outstanding++;
    store_auth_secret(fx.st, p1, sizeof p1, on_secret, &a);
    CU_ASSERT_EQUAL_FATAL(wait_all(), 0);
    outstanding++;
    store_auth_secret(fx.st, p2, sizeof p2, on_secret, &b);
    wait_all();
    CU_ASSERT_EQUAL(a.status, 0);
    CU_ASSERT_EQUAL(b.status, 0);
    CU_ASSERT_EQUAL(a.secret_len, sizeof p1);
    CU_ASSERT_EQUAL(b.secret_len, sizeof p1);
    CU_ASSERT(memcmp(a.secret, p1, sizeof p1) == 0);
    CU_ASSERT(memcmp(b.secret, p1, sizeof p1) == 0);
}

/* A second store (another node) sharing the database gets the same secret and the same users. */
static void test_pg_second_store_shares_secret_and_users(void)
{
    const unsigned char p1[32] = "node-one-secret-0123456789abcdef", p2[32] = "node-two-secret-0123456789abcdef";
    struct ures a, b;
    outstanding++;
    store_auth_secret(fx.st, p1, sizeof p1, on_secret, &a);
    wait_all();
    put("sip:alice@example.com", MD5A, 1);
    struct store *other = make_store();
    CU_ASSERT_FATAL(other != NULL);
    CU_ASSERT_FATAL(wait_available(other));
    outstanding++;
    store_auth_secret(other, p2, sizeof p2, on_secret, &b);
    wait_all();
    CU_ASSERT_EQUAL(b.status, 0);
    CU_ASSERT(b.secret_len == sizeof p1 && memcmp(b.secret, p1, sizeof p1) == 0);
    outstanding++;
    store_user_get(other, "sip:alice@example.com", on_user, &b);
    wait_all();
    CU_ASSERT_EQUAL(b.status, 0);
    CU_ASSERT_STRING_EQUAL(b.md5[0], MD5A);
    store_destroy(other);
    CU_ASSERT_EQUAL(admin_scalar("SELECT count(*) FROM auth_secret"), 1);
    /* the HA1s are checked by the schema: no password or junk gets in */
    CU_ASSERT_EQUAL(admin_exec("INSERT INTO users (aor, realm, ha1_md5, ha1_sha256) VALUES"
                               " ('sip:x@example.com', 'example.com', 'password', 'password')"), -1);
}

static int pg_init(void) { return fx_pg_init("store_users_postgres"); }

static void pg_setup(void) { fx_pg_setup("TRUNCATE users, auth_secret"); }

static const struct test_case shared_cases[] = {
    TEST_CASE(test_user_create_get_update_delete),
    TEST_CASE(test_users_list_in_aor_order_with_cursor),
    TEST_CASE(test_auth_secret_first_proposal_wins),
};

static const struct test_case pg_cases[] = {
    TEST_CASE(test_pg_second_store_shares_secret_and_users),
};

void register_store_users_suites(void)
{
    fx_register_suites("store_users_memory", "store_users_postgres", pg_init, pg_setup,
                       shared_cases, NCASES(shared_cases), NULL, 0, pg_cases, NCASES(pg_cases));
}
