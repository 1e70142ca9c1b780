/* test_timers.c - the timer heap, driven by a fake clock. */
#include <CUnit/CUnit.h>
#include <stdlib.h>

#include "base/timers.h"
#include "suites.h"

static int fired_order[64];
static int nfired;

static void record(struct timer *t, void *arg)
{
    (void)t;
    fired_order[nfired++] = (int)(long)arg;
}

static void test_timers_fire_in_due_order(void)
{
    struct timer_heap h;
    timer_heap_init(&h);
    struct timer t[5] = {0};
    uint64_t due[5] = {50, 10, 40, 20, 30};
    for (int i = 0; i < 5; i++)
        timer_heap_start(&h, &t[i], due[i], record, (void *)(long)i);
    nfired = 0;
    CU_ASSERT_EQUAL(timer_heap_next_due(&h), 10);
    CU_ASSERT_EQUAL(timer_heap_run(&h, 25), 2);
    CU_ASSERT_EQUAL(fired_order[0], 1);
    CU_ASSERT_EQUAL(fired_order[1], 3);
    CU_ASSERT_EQUAL(timer_heap_run(&h, 100), 3);
    CU_ASSERT_EQUAL(fired_order[2], 4);
    CU_ASSERT_EQUAL(fired_order[3], 2);
    CU_ASSERT_EQUAL(fired_order[4], 0);
    CU_ASSERT_EQUAL(timer_heap_count(&h), 0);
    timer_heap_free(&h);
}

static void test_timers_not_fired_before_due(void)
{
    struct timer_heap h;
    timer_heap_init(&h);
    struct timer t = {0};
    nfired = 0;
    timer_heap_start(&h, &t, 1000, record, NULL);
    CU_ASSERT_EQUAL(timer_heap_run(&h, 999), 0);
    CU_ASSERT_TRUE(timer_is_armed(&t));
    CU_ASSERT_EQUAL(timer_heap_run(&h, 1000), 1);
    CU_ASSERT_FALSE(timer_is_armed(&t));
    timer_heap_free(&h);
}

static void test_timers_stop_and_restart(void)
{
    struct timer_heap h;
    timer_heap_init(&h);
    struct timer a = {0}, b = {0};
    nfired = 0;
    timer_heap_start(&h, &a, 10, record, (void *)1L);
    timer_heap_start(&h, &b, 20, record, (void *)2L);
    timer_heap_stop(&h, &a);
    timer_heap_stop(&h, &a); /* twice is harmless */
    timer_heap_start(&h, &b, 5, record, (void *)2L); /* re-arm earlier */
    CU_ASSERT_EQUAL(timer_heap_count(&h), 1);
    CU_ASSERT_EQUAL(timer_heap_run(&h, 100), 1);
    CU_ASSERT_EQUAL(fired_order[0], 2);
    timer_heap_free(&h);
}

static void test_timers_equal_due_fire_in_start_order(void)
{
    struct timer_heap h;
    timer_heap_init(&h);
    struct timer t[8] = {0};
    nfired = 0;
    for (int i = 0; i < 8; i++)
        timer_heap_start(&h, &t[i], 7, record, (void *)(long)i);
    timer_heap_run(&h, 7);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(fired_order[i], i);
    timer_heap_free(&h);
}

static struct timer_heap *rearm_heap;
static int rearm_count;
static void rearm(struct timer *t, void *arg)
{
    if (++rearm_count < 3)
        timer_heap_start(rearm_heap, t, t->due_ms + 10, rearm, arg);
}

static void test_timers_callback_can_rearm_itself(void)
{
    struct timer_heap h;
    timer_heap_init(&h);
    rearm_heap = &h;
    rearm_count = 0;
    struct timer t = {0};
    timer_heap_start(&h, &t, 10, rearm, NULL);
    timer_heap_run(&h, 10);
    CU_ASSERT_EQUAL(rearm_count, 1);
    timer_heap_run(&h, 1000);
    CU_ASSERT_EQUAL(rearm_count, 3);
    CU_ASSERT_FALSE(timer_is_armed(&t));
    timer_heap_free(&h);
}

static void count_cb(struct timer *t, void *arg)
{
    (void)t;
    (*(int *)arg)++;
}

/* tens of thousands of timers with random due times and random cancellations stay ordered */
static void test_timers_many_random(void)
{
    enum { N = 50000 };
    struct timer_heap h;
    timer_heap_init(&h);
    struct timer *t = calloc(N, sizeof *t);
    srand(42);
    int fired = 0;
    for (int i = 0; i < N; i++)
        timer_heap_start(&h, &t[i], (uint64_t)(rand() % 100000), count_cb, &fired);
    int stopped = 0;
    for (int i = 0; i < N; i += 3) {
        timer_heap_stop(&h, &t[i]);
        stopped++;
    }
    CU_ASSERT_EQUAL(timer_heap_count(&h), (size_t)(N - stopped));
    uint64_t last = 0;
    int ordered = 1;
    while (timer_heap_count(&h)) {
        uint64_t d = timer_heap_next_due(&h);
        if (d < last)
            ordered = 0;
        last = d;
        timer_heap_run(&h, d);
    }
    CU_ASSERT_TRUE(ordered);
    CU_ASSERT_EQUAL(fired, N - stopped);
    free(t);
    timer_heap_free(&h);
}

void register_timers_suites(void)
{
    CU_pSuite s = CU_add_suite("timers", NULL, NULL);
    CU_add_test(s, "fire in due order", test_timers_fire_in_due_order);
    CU_add_test(s, "not fired before due", test_timers_not_fired_before_due);
    CU_add_test(s, "stop and restart", test_timers_stop_and_restart);
    CU_add_test(s, "equal due times fire in start order", test_timers_equal_due_fire_in_start_order);
    CU_add_test(s, "callback can re-arm itself", test_timers_callback_can_rearm_itself);
    CU_add_test(s, "50000 random timers with cancellations", test_timers_many_random);
}
