/* test_txn.c - non-INVITE server transactions: matching, retransmission absorption, Timer J. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "base/loop.h"
#include "sip/msg.h"
#include "sip/txn.h"
#include "suites.h"
#include "transport/transport.h"

static osip_message_t *make_req(const char *branch, const char *via_host, int cseq)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "REGISTER sip:example.com SIP/2.0\r\n"
             "Via: SIP/2.0/UDP %s:5070;branch=%s\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=f\r\nTo: <sip:a@example.com>\r\n"
             "Call-ID: c\r\nCSeq: %d REGISTER\r\nContent-Length: 0\r\n\r\n",
             via_host, branch, cseq);
    return sip_parse(buf, strlen(buf));
}

static void noop_recv(void *arg, const struct sip_source *src, char *buf, size_t len) {}

struct fixture {
    struct loop *loop;
    struct transport *tp;
    struct txn_layer *tl;
    struct sip_source src;
};

static void setup(struct fixture *f, enum sip_proto proto)
{
    f->loop = loop_create();
    struct transport_config tc = {.max_message_bytes = 65536, .max_connections = 8,
                                  .tcp_idle_timeout_s = 60, .max_tx_buffer_bytes = 65536};
    f->tp = transport_create(f->loop, &tc, noop_recv, NULL);
    struct txn_config xc = {.t1_ms = 2, .t2_ms = 8, .t4_ms = 10};
    f->tl = txn_layer_create(f->loop, f->tp, &xc);
    memset(&f->src, 0, sizeof f->src);
    f->src.proto = proto;
    f->src.udp_fd = -1;
    sockaddr_from_host_port("127.0.0.1", 9, 5070, &f->src.peer, &f->src.peerlen);
}

static void teardown(struct fixture *f)
{
    txn_layer_destroy(f->tl);
    transport_destroy(f->tp);
    loop_destroy(f->loop);
}

static void test_txn_retransmission_is_absorbed(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_UDP);
    int absorbed;
    struct sip_txn *t = txn_server_new(f.tl, make_req("z9hG4bK1", "10.0.0.1", 1), &f.src, &absorbed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(absorbed, 0);
    CU_ASSERT_EQUAL(txn_layer_pending(f.tl), 1);
    osip_message_t *again = make_req("z9hG4bK1", "10.0.0.1", 1);
    CU_ASSERT_PTR_NULL(txn_server_new(f.tl, again, &f.src, &absorbed));
    CU_ASSERT_EQUAL(absorbed, 1);
    osip_message_free(again);
    CU_ASSERT_EQUAL(txn_layer_count(f.tl), 1);
    teardown(&f);
}

static void test_txn_different_branch_or_sent_by_is_new(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_UDP);
    int absorbed;
    CU_ASSERT_PTR_NOT_NULL(txn_server_new(f.tl, make_req("z9hG4bK1", "10.0.0.1", 1), &f.src, &absorbed));
    CU_ASSERT_PTR_NOT_NULL(txn_server_new(f.tl, make_req("z9hG4bK2", "10.0.0.1", 1), &f.src, &absorbed));
    CU_ASSERT_PTR_NOT_NULL(txn_server_new(f.tl, make_req("z9hG4bK1", "10.0.0.2", 1), &f.src, &absorbed));
    CU_ASSERT_EQUAL(txn_layer_count(f.tl), 3);
    teardown(&f);
}

static void test_txn_rfc2543_fallback_matches_on_cseq(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_UDP);
    int absorbed;
    CU_ASSERT_PTR_NOT_NULL(txn_server_new(f.tl, make_req("old1", "10.0.0.1", 1), &f.src, &absorbed));
    osip_message_t *again = make_req("old1", "10.0.0.1", 1);
    CU_ASSERT_PTR_NULL(txn_server_new(f.tl, again, &f.src, &absorbed));
    CU_ASSERT_EQUAL(absorbed, 1);
    osip_message_free(again);
    CU_ASSERT_PTR_NOT_NULL(txn_server_new(f.tl, make_req("old1", "10.0.0.1", 2), &f.src, &absorbed));
    teardown(&f);
}

static void stop_loop(struct timer *t, void *arg) { loop_stop(arg); }

static void test_txn_timer_j_keeps_udp_completed_for_64_t1(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_UDP);
    int absorbed;
    struct sip_txn *t = txn_server_new(f.tl, make_req("z9hG4bKj", "10.0.0.1", 1), &f.src, &absorbed);
    txn_respond_simple(t, 200, NULL, NULL, NULL);
    CU_ASSERT_EQUAL(txn_layer_pending(f.tl), 0);
    CU_ASSERT_EQUAL(txn_layer_count(f.tl), 1); /* Completed: absorbs retransmissions */
    osip_message_t *again = make_req("z9hG4bKj", "10.0.0.1", 1);
    CU_ASSERT_PTR_NULL(txn_server_new(f.tl, again, &f.src, &absorbed));
    CU_ASSERT_EQUAL(absorbed, 1);
    osip_message_free(again);
    struct timer stop = {0};
    loop_timer_start(f.loop, &stop, 64 * 2 + 30, stop_loop, f.loop); /* past Timer J = 64*T1 */
    loop_run(f.loop);
    CU_ASSERT_EQUAL(txn_layer_count(f.tl), 0);
    teardown(&f);
}

static void test_txn_tcp_completed_is_kept_t4(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_TCP);
    int absorbed;
    struct sip_txn *t = txn_server_new(f.tl, make_req("z9hG4bKt", "10.0.0.1", 1), &f.src, &absorbed);
    txn_respond_simple(t, 404, NULL, NULL, NULL);
    CU_ASSERT_EQUAL(txn_layer_count(f.tl), 1);
    CU_ASSERT_EQUAL(txn_layer_pending(f.tl), 0);
    struct timer stop = {0};
    loop_timer_start(f.loop, &stop, 10 + 20, stop_loop, f.loop); /* past T4 = 10 ms */
    loop_run(f.loop);
    CU_ASSERT_EQUAL(txn_layer_count(f.tl), 0);
    teardown(&f);
}

static void test_txn_provisional_keeps_it_pending(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_UDP);
    int absorbed;
    struct sip_txn *t = txn_server_new(f.tl, make_req("z9hG4bKp", "10.0.0.1", 1), &f.src, &absorbed);
    txn_respond_simple(t, 100, NULL, NULL, NULL);
    CU_ASSERT_EQUAL(txn_layer_pending(f.tl), 1);
    txn_respond_simple(t, 200, NULL, NULL, NULL);
    CU_ASSERT_EQUAL(txn_layer_pending(f.tl), 0);
    teardown(&f);
}

void register_txn_suites(void)
{
    sip_msg_init();
    CU_pSuite s = CU_add_suite("txn", NULL, NULL);
    CU_add_test(s, "retransmission is absorbed", test_txn_retransmission_is_absorbed);
    CU_add_test(s, "different branch or sent-by is a new transaction", test_txn_different_branch_or_sent_by_is_new);
    CU_add_test(s, "RFC 2543 fallback matches on CSeq", test_txn_rfc2543_fallback_matches_on_cseq);
    CU_add_test(s, "Timer J keeps a UDP transaction 64*T1", test_txn_timer_j_keeps_udp_completed_for_64_t1);
    CU_add_test(s, "TCP completed transaction kept T4", test_txn_tcp_completed_is_kept_t4);
    CU_add_test(s, "provisional keeps it pending", test_txn_provisional_keeps_it_pending);
}
