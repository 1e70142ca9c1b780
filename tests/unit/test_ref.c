/* test_ref.c - the reference count with a destructor (base/ref.h). */
#include <CUnit/CUnit.h>
#include <stdlib.h>

#include "base/ref.h"
#include "suites.h"

struct thing {
    int payload;
    struct ref ref; /* not the first member: ref_owner must subtract its offset */
    int *destroyed;
};

static void thing_destroy(struct ref *r)
{
    struct thing *t = ref_owner(r, struct thing, ref);
    (*t->destroyed)++;
    free(t);
}

static struct thing *thing_new(int *destroyed)
{
    struct thing *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->payload = 42;
    t->destroyed = destroyed;
    ref_init(&t->ref, thing_destroy);
    return t;
}

static void test_ref_last_put_destroys(void)
{
    int destroyed = 0;
    struct thing *t = thing_new(&destroyed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->ref.count, 1);
    ref_put(&t->ref);
    CU_ASSERT_EQUAL(destroyed, 1);
}

static void test_ref_holders_keep_it_alive(void)
{
    int destroyed = 0;
    struct thing *t = thing_new(&destroyed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    ref_get(&t->ref); /* a callback due later */
    ref_get(&t->ref); /* a second one */
    CU_ASSERT_EQUAL(t->ref.count, 3);
    ref_put(&t->ref); /* the creator lets go: the callbacks still hold it */
    CU_ASSERT_EQUAL(destroyed, 0);
    CU_ASSERT_EQUAL(t->payload, 42);
    ref_put(&t->ref);
    CU_ASSERT_EQUAL(destroyed, 0);
    ref_put(&t->ref);
    CU_ASSERT_EQUAL(destroyed, 1);
}

static void test_ref_owner_finds_the_object(void)
{
    int destroyed = 0;
    struct thing *t = thing_new(&destroyed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_PTR_EQUAL(ref_owner(&t->ref, struct thing, ref), t);
    ref_put(&t->ref);
}

static void test_ref_drop_others_leaves_only_the_callers(void)
{
    int destroyed = 0;
    struct thing *t = thing_new(&destroyed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    ref_get(&t->ref);
    ref_get(&t->ref); /* holders whose callbacks will never run */
    ref_drop_others(&t->ref);
    CU_ASSERT_EQUAL(destroyed, 0);
    ref_put(&t->ref);
    CU_ASSERT_EQUAL(destroyed, 1);
}

void register_ref_suites(void)
{
    CU_pSuite s = CU_add_suite("ref", NULL, NULL);
    CU_add_test(s, "the last put destroys", test_ref_last_put_destroys);
    CU_add_test(s, "holders keep the object alive", test_ref_holders_keep_it_alive);
    CU_add_test(s, "ref_owner finds the embedding object", test_ref_owner_finds_the_object);
    CU_add_test(s, "drop_others leaves only the caller's reference",
                test_ref_drop_others_leaves_only_the_callers);
}
