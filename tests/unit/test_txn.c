/* test_txn.c - non-INVITE server transactions: matching, retransmission absorption, Timer J. */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/loop.h"
#include "sip/msg.h"
#include "sip/txn.h"
#include "sip/txn_key.h"
#include "loop_fixture.h"
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

struct fixture {
    struct loop_fixture lf;
    struct sip_source src;
};

static void setup(struct fixture *f, enum sip_proto proto)
{
    struct loop_fixture_config cfg = {.t1_ms = 2, .t2_ms = 8, .t4_ms = 10};
    CU_ASSERT_EQUAL_FATAL(loop_fixture_open(&f->lf, &cfg), 0);
    memset(&f->src, 0, sizeof f->src);
    f->src.proto = proto;
    f->src.udp_fd = -1;
    sockaddr_from_host_port("127.0.0.1", 9, 5070, &f->src.peer, &f->src.peerlen);
}

static void teardown(struct fixture *f) { loop_fixture_close(&f->lf); }

static void test_txn_retransmission_is_absorbed(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_UDP);
    int absorbed;
    struct sip_txn *t = txn_server_new(f.lf.tl, make_req("z9hG4bK1", "10.0.0.1", 1), &f.src, &absorbed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(absorbed, 0);
    CU_ASSERT_EQUAL(txn_layer_pending(f.lf.tl), 1);
    osip_message_t *again = make_req("z9hG4bK1", "10.0.0.1", 1);
    CU_ASSERT_PTR_NULL(txn_server_new(f.lf.tl, again, &f.src, &absorbed));
    CU_ASSERT_EQUAL(absorbed, 1);
    osip_message_free(again);
    CU_ASSERT_EQUAL(txn_layer_count(f.lf.tl), 1);
    teardown(&f);
}

static void test_txn_different_branch_or_sent_by_is_new(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_UDP);
    int absorbed;
    CU_ASSERT_PTR_NOT_NULL(txn_server_new(f.lf.tl, make_req("z9hG4bK1", "10.0.0.1", 1), &f.src, &absorbed));
    CU_ASSERT_PTR_NOT_NULL(txn_server_new(f.lf.tl, make_req("z9hG4bK2", "10.0.0.1", 1), &f.src, &absorbed));
    CU_ASSERT_PTR_NOT_NULL(txn_server_new(f.lf.tl, make_req("z9hG4bK1", "10.0.0.2", 1), &f.src, &absorbed));
    CU_ASSERT_EQUAL(txn_layer_count(f.lf.tl), 3);
    teardown(&f);
}

static void test_txn_rfc2543_fallback_matches_on_cseq(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_UDP);
    int absorbed;
    CU_ASSERT_PTR_NOT_NULL(txn_server_new(f.lf.tl, make_req("old1", "10.0.0.1", 1), &f.src, &absorbed));
    osip_message_t *again = make_req("old1", "10.0.0.1", 1);
    CU_ASSERT_PTR_NULL(txn_server_new(f.lf.tl, again, &f.src, &absorbed));
    CU_ASSERT_EQUAL(absorbed, 1);
    osip_message_free(again);
    CU_ASSERT_PTR_NOT_NULL(txn_server_new(f.lf.tl, make_req("old1", "10.0.0.1", 2), &f.src, &absorbed));
    teardown(&f);
}

static void test_txn_timer_j_keeps_udp_completed_for_64_t1(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_UDP);
    int absorbed;
    struct sip_txn *t = txn_server_new(f.lf.tl, make_req("z9hG4bKj", "10.0.0.1", 1), &f.src, &absorbed);
    txn_respond_simple(t, 200, NULL, NULL, NULL);
    CU_ASSERT_EQUAL(txn_layer_pending(f.lf.tl), 0);
    CU_ASSERT_EQUAL(txn_layer_count(f.lf.tl), 1); /* Completed: absorbs retransmissions */
    osip_message_t *again = make_req("z9hG4bKj", "10.0.0.1", 1);
    CU_ASSERT_PTR_NULL(txn_server_new(f.lf.tl, again, &f.src, &absorbed));
    CU_ASSERT_EQUAL(absorbed, 1);
    osip_message_free(again);
    loop_fixture_run_ms(&f.lf, 64 * 2 + 30); /* past Timer J = 64*T1 */
    CU_ASSERT_EQUAL(txn_layer_count(f.lf.tl), 0);
    teardown(&f);
}

static void test_txn_tcp_completed_is_kept_t4(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_TCP);
    int absorbed;
    struct sip_txn *t = txn_server_new(f.lf.tl, make_req("z9hG4bKt", "10.0.0.1", 1), &f.src, &absorbed);
    txn_respond_simple(t, 404, NULL, NULL, NULL);
    CU_ASSERT_EQUAL(txn_layer_count(f.lf.tl), 1);
    CU_ASSERT_EQUAL(txn_layer_pending(f.lf.tl), 0);
    loop_fixture_run_ms(&f.lf, 10 + 20); /* past T4 = 10 ms */
    CU_ASSERT_EQUAL(txn_layer_count(f.lf.tl), 0);
    teardown(&f);
}

/* A request the node answers as UAS, for RFC 3261 §8.2.2.2: method, branch, From tag, Call-ID,
 * CSeq number, To tag (NULL for none). */
static struct sip_txn *uas_req(struct fixture *f, const char *method, const char *branch,
                               const char *ftag, const char *call_id, int cseq, const char *ttag)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "%s sip:a@example.com SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=%s\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:b@example.com>;tag=%s\r\nTo: <sip:a@example.com>%s%s\r\n"
             "Call-ID: %s\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n",
             method, branch, ftag, ttag ? ";tag=" : "", ttag ? ttag : "", call_id, cseq, method);
    int absorbed;
    struct sip_txn *t = txn_server_new(f->lf.tl, sip_parse(buf, strlen(buf)), &f->src, &absorbed);
    CU_ASSERT_PTR_NOT_NULL(t);
    return t;
}

static void test_txn_merged_request_by_another_branch(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_UDP);
    struct sip_txn *first = uas_req(&f, "MESSAGE", "z9hG4bKm1", "ft", "cid", 7, NULL);
    struct sip_txn *second = uas_req(&f, "MESSAGE", "z9hG4bKm2", "ft", "cid", 7, NULL);
    CU_ASSERT_EQUAL(txn_server_is_merged(first), 0);
    CU_ASSERT_EQUAL(txn_server_is_merged(second), 1);
    CU_ASSERT_EQUAL(txn_server_is_merged(first), 0); /* asking twice changes nothing */
    CU_ASSERT_EQUAL(txn_server_is_merged(second), 1);
    teardown(&f);
}

static void test_txn_merged_needs_from_tag_call_id_and_cseq_equal(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_UDP);
    CU_ASSERT_EQUAL(txn_server_is_merged(uas_req(&f, "MESSAGE", "z9hG4bKa", "ft", "cid", 1, NULL)), 0);
    CU_ASSERT_EQUAL(txn_server_is_merged(uas_req(&f, "MESSAGE", "z9hG4bKb", "ft2", "cid", 1, NULL)), 0);
    CU_ASSERT_EQUAL(txn_server_is_merged(uas_req(&f, "MESSAGE", "z9hG4bKc", "ft", "cid2", 1, NULL)), 0);
    CU_ASSERT_EQUAL(txn_server_is_merged(uas_req(&f, "MESSAGE", "z9hG4bKd", "ft", "cid", 2, NULL)), 0);
    CU_ASSERT_EQUAL(txn_server_is_merged(uas_req(&f, "OPTIONS", "z9hG4bKe", "ft", "cid", 1, NULL)), 0);
    /* a request inside a dialog (To tag) is never a merged one */
    CU_ASSERT_EQUAL(txn_server_is_merged(uas_req(&f, "MESSAGE", "z9hG4bKf", "ft", "cid", 1, "tt")), 0);
    CU_ASSERT_EQUAL(txn_server_is_merged(uas_req(&f, "MESSAGE", "z9hG4bKg", "ft", "cid", 1, NULL)), 1);
    teardown(&f);
}

static void test_txn_merged_only_against_transactions_answered_here(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_UDP);
    /* the first copy was forwarded (never asked): a spiral back to us as UAS is not merged */
    uas_req(&f, "MESSAGE", "z9hG4bKp1", "ft", "cid", 1, NULL);
    CU_ASSERT_EQUAL(txn_server_is_merged(uas_req(&f, "MESSAGE", "z9hG4bKp2", "ft", "cid", 1, NULL)), 0);
    teardown(&f);
}

static void test_txn_merged_index_lives_as_long_as_the_transaction(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_UDP);
    struct sip_txn *t = uas_req(&f, "REGISTER", "z9hG4bKl1", "ft", "cid", 1, NULL);
    CU_ASSERT_EQUAL(txn_server_is_merged(t), 0);
    txn_respond_simple(t, 200, NULL, NULL, NULL); /* Completed: the request itself is dropped */
    CU_ASSERT_EQUAL(txn_server_is_merged(uas_req(&f, "REGISTER", "z9hG4bKl2", "ft", "cid", 1, NULL)), 1);
    loop_fixture_run_ms(&f.lf, 64 * 2 + 30); /* past Timer J: l1 is gone */
    CU_ASSERT_EQUAL(txn_layer_count(f.lf.tl), 1); /* l2, never answered, was not indexed */
    CU_ASSERT_EQUAL(txn_server_is_merged(uas_req(&f, "REGISTER", "z9hG4bKl3", "ft", "cid", 1, NULL)), 0);
    teardown(&f);
}

static void test_txn_provisional_keeps_it_pending(void)
{
    struct fixture f;
    setup(&f, SIP_PROTO_UDP);
    int absorbed;
    struct sip_txn *t = txn_server_new(f.lf.tl, make_req("z9hG4bKp", "10.0.0.1", 1), &f.src, &absorbed);
    txn_respond_simple(t, 100, NULL, NULL, NULL);
    CU_ASSERT_EQUAL(txn_layer_pending(f.lf.tl), 1);
    txn_respond_simple(t, 200, NULL, NULL, NULL);
    CU_ASSERT_EQUAL(txn_layer_pending(f.lf.tl), 0);
    teardown(&f);
}


/* ---- client transactions and INVITE server transactions over a real loopback UDP socket ---- */

struct peer {
    int fd;
    struct sip_source addr; /* where the transaction layer sends to reach the peer */
};

static void peer_open(struct peer *p)
{
    p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(p->fd, (struct sockaddr *)&a, sizeof a);
    memset(&p->addr, 0, sizeof p->addr);
    p->addr.proto = SIP_PROTO_UDP;
    p->addr.udp_fd = -1;
    p->addr.peerlen = sizeof(struct sockaddr_in);
    getsockname(p->fd, (struct sockaddr *)&p->addr.peer, &p->addr.peerlen);
}

/* Read every datagram waiting; returns how many, the last one copied into buf. */
static int peer_drain(struct peer *p, char *buf, size_t n)
{
    int count = 0;
    for (;;) {
        ssize_t r = recv(p->fd, buf, n - 1, 0);
        if (r < 0)
            return count;
        buf[r] = '\0';
        count++;
    }
}

struct tfix {
    struct loop_fixture lf; /* with a UDP listener: the transaction layer's own address */
};

static void tfix_setup(struct tfix *f, unsigned t1, unsigned t2, unsigned t4)
{
    struct loop_fixture_config cfg = {.t1_ms = t1, .t2_ms = t2, .t4_ms = t4, .listen_udp = true};
    CU_ASSERT_EQUAL_FATAL(loop_fixture_open(&f->lf, &cfg), 0);
}

static void tfix_teardown(struct tfix *f) { loop_fixture_close(&f->lf); }

static void run_for(struct tfix *f, unsigned ms) { loop_fixture_run_ms(&f->lf, ms); }

static osip_message_t *make_client_req(const char *method, const char *branch)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "%s sip:bob@127.0.0.1 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=%s\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=f\r\nTo: <sip:bob@example.com>\r\n"
             "Call-ID: cc1\r\nCSeq: 1 %s\r\nRoute: <sip:10.9.9.9;lr>\r\nContent-Length: 0\r\n\r\n",
             method, branch, method);
    return sip_parse(buf, strlen(buf));
}

static char *response_for(const char *req_text, int code, const char *totag)
{
    osip_message_t *req = sip_parse(req_text, strlen(req_text));
    if (!req)
        return NULL;
    osip_message_t *r = sip_response_new(req, code, NULL, totag);
    char *s = NULL;
    size_t len;
    sip_serialize(r, &s, &len);
    osip_message_free(r);
    osip_message_free(req);
    return s; /* osip_free */
}

static void deliver(struct tfix *f, const char *text)
{
    osip_message_t *m = sip_parse(text, strlen(text));
    struct sip_source src = {.proto = SIP_PROTO_UDP, .udp_fd = -1};
    if (!m)
        return;
    txn_client_response(f->lf.tl, m, text, strlen(text), &src);
    osip_message_free(m);
}

struct events {
    int n, last_code;
    enum txn_event last_ev;
};

static void record_event(void *arg, struct sip_txn *ct, enum txn_event ev, osip_message_t *resp,
                         const char *raw, size_t raw_len, int code)
{
    struct events *e = arg;
    e->n++;
    e->last_code = code;
    e->last_ev = ev;
}

static void test_txn_client_non_invite_timer_e_then_f(void)
{
    struct tfix f;
    tfix_setup(&f, 10, 40, 50);
    struct peer p;
    peer_open(&p);
    struct events ev = {0};
    char br[40];
    txn_new_branch(br, sizeof br);
    CU_ASSERT_PTR_NOT_NULL(txn_client_new(f.lf.tl, make_client_req("MESSAGE", br), &p.addr, record_event, &ev));
    CU_ASSERT_EQUAL(txn_layer_pending(f.lf.tl), 1);
    run_for(&f, 100); /* sent at 0, E at 10, 30, 70 (doubling, capped at T2=40) */
    char buf[2048];
    int sent = peer_drain(&p, buf, sizeof buf);
    CU_ASSERT(sent >= 3 && sent <= 5);
    CU_ASSERT_EQUAL(ev.n, 0);
    run_for(&f, 64 * 10); /* Timer F = 64*T1 */
    CU_ASSERT_EQUAL(ev.n, 1);
    CU_ASSERT_EQUAL(ev.last_ev, TXN_TIMEOUT);
    CU_ASSERT_EQUAL(ev.last_code, 408);
    CU_ASSERT_EQUAL(txn_layer_pending(f.lf.tl), 0);
    CU_ASSERT_EQUAL(txn_layer_count(f.lf.tl), 0);
    close(p.fd);
    tfix_teardown(&f);
}

static void test_txn_client_non_invite_final_reported_once(void)
{
    struct tfix f;
    tfix_setup(&f, 10, 40, 50);
    struct peer p;
    peer_open(&p);
    struct events ev = {0};
    char br[40], buf[2048];
    txn_new_branch(br, sizeof br);
    txn_client_new(f.lf.tl, make_client_req("MESSAGE", br), &p.addr, record_event, &ev);
    run_for(&f, 5);
    /* sent; on a loaded machine the 5 ms may stretch past T1 and bring a retransmission */
    CU_ASSERT_FATAL(peer_drain(&p, buf, sizeof buf) >= 1);
    char *ok = response_for(buf, 200, "tt");
    deliver(&f, ok);
    deliver(&f, ok); /* a retransmitted final is absorbed */
    CU_ASSERT_EQUAL(ev.n, 1);
    CU_ASSERT_EQUAL(ev.last_code, 200);
    CU_ASSERT_EQUAL(txn_layer_pending(f.lf.tl), 0);
    run_for(&f, 100); /* no retransmission after the final; Timer K = T4 frees it */
    CU_ASSERT_EQUAL(peer_drain(&p, buf, sizeof buf), 0);
    CU_ASSERT_EQUAL(txn_layer_count(f.lf.tl), 0);
    osip_free(ok);
    close(p.fd);
    tfix_teardown(&f);
}

static void test_txn_client_invite_non2xx_is_acked_by_the_transaction(void)
{
    struct tfix f;
    tfix_setup(&f, 10, 40, 50);
    struct peer p;
    peer_open(&p);
    struct events ev = {0};
    char br[40], buf[2048];
    txn_new_branch(br, sizeof br);
    txn_client_new(f.lf.tl, make_client_req("INVITE", br), &p.addr, record_event, &ev);
    run_for(&f, 5);
    /* sent; on a loaded machine the 5 ms may stretch past T1 and bring a retransmission */
    CU_ASSERT_FATAL(peer_drain(&p, buf, sizeof buf) >= 1);
    char *busy = response_for(buf, 486, "callee1");
    deliver(&f, busy);
    CU_ASSERT_EQUAL(ev.n, 1);
    CU_ASSERT_EQUAL(ev.last_code, 486);
    run_for(&f, 5);
    CU_ASSERT_EQUAL_FATAL(peer_drain(&p, buf, sizeof buf), 1);
    /* the ACK: same branch and Route, To with the response's tag, CSeq 1 ACK */
    CU_ASSERT_EQUAL(strncmp(buf, "ACK sip:bob@127.0.0.1 SIP/2.0", 29), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, br));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "tag=callee1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "CSeq: 1 ACK"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "sip:10.9.9.9;lr"));
    deliver(&f, busy); /* retransmitted 486: ACKed again, not reported */
    run_for(&f, 5);
    CU_ASSERT_EQUAL(peer_drain(&p, buf, sizeof buf), 1);
    CU_ASSERT_EQUAL(ev.n, 1);
    osip_free(busy);
    close(p.fd);
    tfix_teardown(&f);
}

static void test_txn_client_invite_2xx_retransmissions_reported_in_accepted(void)
{
    struct tfix f;
    tfix_setup(&f, 10, 40, 50);
    struct peer p;
    peer_open(&p);
    struct events ev = {0};
    char br[40], buf[2048];
    txn_new_branch(br, sizeof br);
    struct sip_txn *ct = txn_client_new(f.lf.tl, make_client_req("INVITE", br), &p.addr, record_event, &ev);
    run_for(&f, 5);
    peer_drain(&p, buf, sizeof buf);
    char *ring = response_for(buf, 180, "c1");
    char *ok = response_for(buf, 200, "c1");
    deliver(&f, ring);
    CU_ASSERT_TRUE(txn_client_has_provisional(ct));
    run_for(&f, 50); /* Timer A stopped by the provisional */
    CU_ASSERT_EQUAL(peer_drain(&p, buf, sizeof buf), 0);
    deliver(&f, ok);
    deliver(&f, ok);
    CU_ASSERT_EQUAL(ev.n, 3);
    CU_ASSERT_EQUAL(ev.last_code, 200);
    run_for(&f, 5);
    CU_ASSERT_EQUAL(peer_drain(&p, buf, sizeof buf), 0); /* no ACK for a 2xx: end-to-end */
    /* once detached, a 2xx is left to the caller as a stray */
    txn_client_detach(ct);
    osip_message_t *m = sip_parse(ok, strlen(ok));
    struct sip_source src = {.proto = SIP_PROTO_UDP, .udp_fd = -1};
    CU_ASSERT_EQUAL(txn_client_response(f.lf.tl, m, ok, strlen(ok), &src), 0);
    osip_message_free(m);
    osip_free(ring);
    osip_free(ok);
    close(p.fd);
    tfix_teardown(&f);
}

static void test_txn_client_invite_timer_b(void)
{
    struct tfix f;
    tfix_setup(&f, 5, 40, 50);
    struct peer p;
    peer_open(&p);
    struct events ev = {0};
    char br[40], buf[2048];
    txn_new_branch(br, sizeof br);
    txn_client_new(f.lf.tl, make_client_req("INVITE", br), &p.addr, record_event, &ev);
    run_for(&f, 64 * 5 + 40);
    CU_ASSERT(peer_drain(&p, buf, sizeof buf) >= 5); /* Timer A: 0, 5, 15, 35, 75, 155, 315 */
    CU_ASSERT_EQUAL(ev.n, 1);
    CU_ASSERT_EQUAL(ev.last_ev, TXN_TIMEOUT);
    close(p.fd);
    tfix_teardown(&f);
}

static void test_txn_cancel_built_from_the_invite(void)
{
    struct tfix f;
    tfix_setup(&f, 10, 40, 50);
    struct peer p;
    peer_open(&p);
    char br[40];
    txn_new_branch(br, sizeof br);
    struct sip_txn *ct = txn_client_new(f.lf.tl, make_client_req("INVITE", br), &p.addr, NULL, NULL);
    osip_message_t *c = txn_client_build_cancel(ct);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char *s = NULL;
    size_t len;
    sip_serialize(c, &s, &len);
    CU_ASSERT_EQUAL(strncmp(s, "CANCEL sip:bob@127.0.0.1 SIP/2.0", 32), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, br));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "CSeq: 1 CANCEL"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "Call-ID: cc1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "sip:10.9.9.9;lr"));
    CU_ASSERT_PTR_NULL(strstr(s, "To: <sip:bob@example.com>;tag"));
    osip_free(s);
    osip_message_free(c);
    close(p.fd);
    tfix_teardown(&f);
}

/* INVITE server transaction: a non-2xx final is re-sent (Timer G) until the ACK comes. */
static void test_txn_server_invite_timer_g_until_ack(void)
{
    struct tfix f;
    tfix_setup(&f, 10, 40, 50);
    struct peer p;
    peer_open(&p);
    char txt[1024], buf[2048];
    snprintf(txt, sizeof txt,
             "INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKsrv1\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=f\r\nTo: <sip:bob@example.com>\r\n"
             "Call-ID: s1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n",
             sockaddr_port(&p.addr.peer));
    int absorbed;
    struct sip_source src = p.addr;
    struct sip_txn *t = txn_server_new(f.lf.tl, sip_parse(txt, strlen(txt)), &src, &absorbed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_TRUE(txn_is_invite(t));
    txn_respond_text(t, 486, NULL, NULL);
    CU_ASSERT_EQUAL(txn_layer_pending(f.lf.tl), 0);
    run_for(&f, 75); /* sent at 0, G at 10, 30, 70 */
    int n = peer_drain(&p, buf, sizeof buf);
    CU_ASSERT(n >= 3 && n <= 5);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "486"));
    char ack[1024];
    snprintf(ack, sizeof ack,
             "ACK sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKsrv1\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=f\r\nTo: <sip:bob@example.com>;tag=x\r\n"
             "Call-ID: s1\r\nCSeq: 7 ACK\r\nContent-Length: 0\r\n\r\n",
             sockaddr_port(&p.addr.peer));
    osip_message_t *am = sip_parse(ack, strlen(ack));
    CU_ASSERT_EQUAL(txn_server_ack(f.lf.tl, am), 1);
    CU_ASSERT_EQUAL(txn_server_ack(f.lf.tl, am), 1); /* a retransmitted ACK is absorbed too */
    osip_message_free(am);
    run_for(&f, 100);
    CU_ASSERT_EQUAL(peer_drain(&p, buf, sizeof buf), 0); /* Confirmed: no more 486 */
    run_for(&f, 60); /* Timer I = T4 */
    CU_ASSERT_EQUAL(txn_layer_count(f.lf.tl), 0);
    close(p.fd);
    tfix_teardown(&f);
}

static void test_txn_server_invite_cancel_finds_it(void)
{
    struct tfix f;
    tfix_setup(&f, 10, 40, 50);
    const char *inv = "INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKc1\r\n"
                      "Max-Forwards: 70\r\nFrom: <sip:a@e>;tag=f\r\nTo: <sip:b@e>\r\nCall-ID: k\r\n"
                      "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    const char *can = "CANCEL sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKc1\r\n"
                      "Max-Forwards: 70\r\nFrom: <sip:a@e>;tag=f\r\nTo: <sip:b@e>\r\nCall-ID: k\r\n"
                      "CSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
    struct sip_source src = {.proto = SIP_PROTO_UDP, .udp_fd = -1};
    sockaddr_from_host_port("10.0.0.1", 8, 5060, &src.peer, &src.peerlen);
    int absorbed;
    struct sip_txn *t = txn_server_new(f.lf.tl, sip_parse(inv, strlen(inv)), &src, &absorbed);
    osip_message_t *cm = sip_parse(can, strlen(can));
    CU_ASSERT_PTR_EQUAL(txn_server_find_invite(f.lf.tl, cm), t);
    struct sip_txn *ct = txn_server_new(f.lf.tl, cm, &src, &absorbed); /* its own transaction */
    CU_ASSERT_PTR_NOT_NULL(ct);
    CU_ASSERT_PTR_NOT_EQUAL(ct, t);
    tfix_teardown(&f);
}

static void test_txn_client_tcp_connect_refused_is_a_transport_error(void)
{
    struct tfix f;
    tfix_setup(&f, 500, 4000, 5000); /* Timer B would take 32 s */
    struct events ev = {0};
    struct sip_source dst = {.proto = SIP_PROTO_TCP, .udp_fd = -1};
    /* a port nobody listens on: take one from a socket we close again */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s);
    memcpy(&dst.peer, &a, sizeof a);
    dst.peerlen = sizeof a;
    char br[40];
    txn_new_branch(br, sizeof br);
    CU_ASSERT_PTR_NOT_NULL(txn_client_new(f.lf.tl, make_client_req("INVITE", br), &dst, record_event, &ev));
    run_for(&f, 300);
    CU_ASSERT_EQUAL(ev.n, 1);
    CU_ASSERT_EQUAL(ev.last_ev, TXN_TRANSPORT_ERROR);
    CU_ASSERT_EQUAL(ev.last_code, 503);
    CU_ASSERT_EQUAL(txn_layer_pending(f.lf.tl), 0);
    tfix_teardown(&f);
}

/* ---- keys (txn_key.c) ------------------------------------------------------------------------ */

static void test_txn_key_ack_finds_its_invite_and_the_client_key_names_branch_and_method(void)
{
    char k1[256], k2[256];
    osip_message_t *req = make_req("z9hG4bKkey1", "10.0.0.1", 5);
    CU_ASSERT_FATAL(req != NULL);
    int w = txn_key_server(req, "INVITE", k1, sizeof k1);
    CU_ASSERT_EQUAL(w, (int)strlen(k1));
    CU_ASSERT_STRING_EQUAL(k1, "s|z9hG4bKkey1|10.0.0.1:5070|INVITE");
    CU_ASSERT(txn_key_server(req, "REGISTER", k2, sizeof k2) > 0);
    CU_ASSERT(strcmp(k1, k2) != 0);
    CU_ASSERT_STRING_EQUAL(txn_key_top_branch(req), "z9hG4bKkey1");
    CU_ASSERT(txn_key_client(txn_key_top_branch(req), "REGISTER", k2, sizeof k2) > 0);
    CU_ASSERT_STRING_EQUAL(k2, "c|z9hG4bKkey1|REGISTER");
    CU_ASSERT_EQUAL(txn_key_client(NULL, "REGISTER", k2, sizeof k2), -1);
    osip_message_free(req);
}

static void test_txn_key_that_does_not_fit_is_refused(void)
{
    char small[24];
    osip_message_t *req = make_req("z9hG4bKkey2", "10.0.0.1", 5);
    CU_ASSERT_FATAL(req != NULL);
    CU_ASSERT_EQUAL(txn_key_server(req, "REGISTER", small, sizeof small), -1);
    CU_ASSERT_EQUAL(txn_key_client("z9hG4bK0123456789abcdef", "REGISTER", small, sizeof small), -1);
    char exact[sizeof "c|b|M"];
    CU_ASSERT_EQUAL(txn_key_client("b", "M", exact, sizeof exact), 5);
    CU_ASSERT_EQUAL(txn_key_client("bb", "M", exact, sizeof exact), -1);
    osip_message_free(req);
}

static void test_txn_key_origin_is_from_tag_call_id_and_cseq(void)
{
    char k1[256], k2[256];
    osip_message_t *a = make_req("z9hG4bKo1", "10.0.0.1", 7), *b = make_req("z9hG4bKo2", "10.0.0.2", 7);
    osip_message_t *c = make_req("z9hG4bKo1", "10.0.0.1", 8);
    CU_ASSERT_FATAL(a && b && c);
    CU_ASSERT(txn_key_origin(a, k1, sizeof k1) > 0);
    CU_ASSERT(txn_key_origin(b, k2, sizeof k2) > 0);
    CU_ASSERT_STRING_EQUAL(k1, k2); /* another branch and sender: the same origin */
    CU_ASSERT_STRING_EQUAL(k1, "f\nc\n7\nREGISTER");
    CU_ASSERT(txn_key_origin(c, k2, sizeof k2) > 0);
    CU_ASSERT(strcmp(k1, k2) != 0);
    osip_to_set_tag(a->to, osip_strdup("t")); /* in a dialog: outside §8.2.2.2 */
    CU_ASSERT_EQUAL(txn_key_origin(a, k1, sizeof k1), -1);
    osip_message_free(a);
    osip_message_free(b);
    osip_message_free(c);
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
    CU_add_test(s, "merged request: same From tag, Call-ID, CSeq, another branch", test_txn_merged_request_by_another_branch);
    CU_add_test(s, "merged request needs From tag, Call-ID and CSeq equal", test_txn_merged_needs_from_tag_call_id_and_cseq_equal);
    CU_add_test(s, "merged request: only against transactions answered here", test_txn_merged_only_against_transactions_answered_here);
    CU_add_test(s, "merged request index lives as long as the transaction", test_txn_merged_index_lives_as_long_as_the_transaction);
    CU_add_test(s, "client non-INVITE: Timer E retransmits, Timer F times out", test_txn_client_non_invite_timer_e_then_f);
    CU_add_test(s, "client non-INVITE: final reported once", test_txn_client_non_invite_final_reported_once);
    CU_add_test(s, "client INVITE: non-2xx ACKed by the transaction", test_txn_client_invite_non2xx_is_acked_by_the_transaction);
    CU_add_test(s, "client INVITE: 2xx retransmissions reported in Accepted", test_txn_client_invite_2xx_retransmissions_reported_in_accepted);
    CU_add_test(s, "client INVITE: Timer A and Timer B", test_txn_client_invite_timer_b);
    CU_add_test(s, "CANCEL built from the INVITE", test_txn_cancel_built_from_the_invite);
    CU_add_test(s, "server INVITE: Timer G until ACK, then Timer I", test_txn_server_invite_timer_g_until_ack);
    CU_add_test(s, "server INVITE: CANCEL finds it", test_txn_server_invite_cancel_finds_it);
    CU_add_test(s, "client over TCP: connection refused is a transport error", test_txn_client_tcp_connect_refused_is_a_transport_error);
    CU_add_test(s, "key: an ACK finds its INVITE; client key is branch and method", test_txn_key_ack_finds_its_invite_and_the_client_key_names_branch_and_method);
    CU_add_test(s, "key: one that does not fit is refused", test_txn_key_that_does_not_fit_is_refused);
    CU_add_test(s, "key: origin is From tag, Call-ID and CSeq", test_txn_key_origin_is_from_tag_call_id_and_cseq);
}
