/* test_mailbox.c - work handed to the loop from another thread (base/mailbox.h): every mail runs
 * on the loop thread, in the order posted; mails left when the mailbox goes are dropped through
 * their drop function, none lost and none run twice. */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdlib.h>

#include "base/loop.h"
#include "base/mailbox.h"
#include "suites.h"

#define NMAILS 2000

struct box_test {
    struct loop *loop;
    struct mailbox *mb;
    pthread_t loop_thread;
    int next;        /* the value the next mail must carry */
    int out_of_order;
    int wrong_thread;
    int dropped;
    struct timer guard;
};

struct item {
    struct box_test *bt;
    int value;
};

static void on_mail(void *arg)
{
    struct item *it = arg;
    struct box_test *bt = it->bt;
    if (!pthread_equal(pthread_self(), bt->loop_thread))
        bt->wrong_thread++;
    if (it->value != bt->next)
        bt->out_of_order++;
    bt->next = it->value + 1;
    if (bt->next == NMAILS)
        loop_stop(bt->loop);
    free(it);
}

static void on_drop(void *arg)
{
    struct item *it = arg;
    it->bt->dropped++;
    free(it);
}

static void *poster(void *arg)
{
    struct box_test *bt = arg;
    for (int i = 0; i < NMAILS; i++) {
        struct item *it = malloc(sizeof *it);
        *it = (struct item){.bt = bt, .value = i};
        if (mailbox_post(bt->mb, on_mail, on_drop, it) < 0)
            free(it);
    }
    return NULL;
}

static void on_guard(struct timer *t, void *arg)
{
    (void)t;
    loop_stop(((struct box_test *)arg)->loop);
}

static void test_mailbox_runs_mails_on_the_loop_in_order(void)
{
    struct box_test bt = {0};
    bt.loop = loop_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(bt.loop);
    bt.mb = mailbox_create(bt.loop);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bt.mb);
    bt.loop_thread = pthread_self();
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, poster, &bt), 0);
    loop_timer_start(bt.loop, &bt.guard, 10000, on_guard, &bt); /* a hang fails, not blocks */
    loop_run(bt.loop);
    pthread_join(th, NULL);
    loop_timer_stop(bt.loop, &bt.guard);
    CU_ASSERT_EQUAL(bt.next, NMAILS);
    CU_ASSERT_EQUAL(bt.out_of_order, 0);
    CU_ASSERT_EQUAL(bt.wrong_thread, 0);
    CU_ASSERT_EQUAL(bt.dropped, 0);
    mailbox_destroy(bt.mb);
    loop_destroy(bt.loop);
}

static void test_mailbox_destroy_drops_what_never_ran(void)
{
    struct box_test bt = {0};
    bt.loop = loop_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(bt.loop);
    bt.mb = mailbox_create(bt.loop);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bt.mb);
    bt.loop_thread = pthread_self();
    for (int i = 0; i < 5; i++) {
        struct item *it = malloc(sizeof *it);
        *it = (struct item){.bt = &bt, .value = i};
        CU_ASSERT_EQUAL(mailbox_post(bt.mb, on_mail, on_drop, it), 0);
    }
    mailbox_destroy(bt.mb); /* the loop never ran */
    CU_ASSERT_EQUAL(bt.dropped, 5);
    CU_ASSERT_EQUAL(bt.next, 0);
    loop_destroy(bt.loop);
}

void register_mailbox_suites(void)
{
    CU_pSuite s = CU_add_suite("mailbox", NULL, NULL);
    CU_add_test(s, "mails from another thread run on the loop, in order",
                test_mailbox_runs_mails_on_the_loop_in_order);
    CU_add_test(s, "destroy drops the mails that never ran", test_mailbox_destroy_drops_what_never_ran);
}
