/* test_hmap.c - the hash map. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "base/hmap.h"
#include "suites.h"

static void test_hmap_put_get_del(void)
{
    struct hmap m;
    hmap_init(&m);
    int a = 1, b = 2;
    void *old;
    CU_ASSERT_EQUAL(hmap_put(&m, "alice", 5, &a, &old), 0);
    CU_ASSERT_PTR_NULL(old);
    CU_ASSERT_EQUAL(hmap_put(&m, "bob", 3, &b, NULL), 0);
    CU_ASSERT_PTR_EQUAL(hmap_get(&m, "alice", 5), &a);
    CU_ASSERT_PTR_NULL(hmap_get(&m, "alic", 4));
    CU_ASSERT_EQUAL(hmap_put(&m, "alice", 5, &b, &old), 0);
    CU_ASSERT_PTR_EQUAL(old, &a);
    CU_ASSERT_EQUAL(m.count, 2);
    CU_ASSERT_PTR_EQUAL(hmap_del(&m, "alice", 5), &b);
    CU_ASSERT_PTR_NULL(hmap_get(&m, "alice", 5));
    CU_ASSERT_EQUAL(m.count, 1);
    hmap_free(&m);
}

static void test_hmap_grows_and_iterates_everything(void)
{
    struct hmap m;
    hmap_init(&m);
    char k[32];
    for (long i = 0; i < 10000; i++) {
        int n = snprintf(k, sizeof k, "key-%ld", i);
        hmap_put(&m, k, (size_t)n, (void *)(i + 1), NULL);
    }
    CU_ASSERT_EQUAL(m.count, 10000);
    size_t b, seen = 0;
    long sum = 0;
    for (struct hmap_entry *e = hmap_first(&m, &b); e; e = hmap_next(&m, e, &b)) {
        seen++;
        sum += (long)e->val;
    }
    CU_ASSERT_EQUAL(seen, 10000);
    CU_ASSERT_EQUAL(sum, 10000L * 10001L / 2);
    CU_ASSERT_PTR_EQUAL(hmap_get(&m, "key-9999", 8), (void *)10000L);
    hmap_free(&m);
}

void register_hmap_suites(void)
{
    CU_pSuite s = CU_add_suite("hmap", NULL, NULL);
    CU_add_test(s, "put, get, replace, delete", test_hmap_put_get_del);
    CU_add_test(s, "grows and iterates every entry", test_hmap_grows_and_iterates_everything);
}
