/* test_broker.c - the im package's pure parts: Event parameters (§4), CPIM bodies (§7.2, §9.6,
 * §9.7), canonical AORs (§2.1), and the memory store's topic/sequence/retention/position rules
 * the broker relies on (§2.2, §2.5, §10.2, §11.3). */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/loop.h"
#include "sip/txn.h"
#include "transport/transport.h"
#include "loop_fixture.h"

#include "base/sbuf.h"
#include "roles/im/broker.h"
#include "sip/cpim.h"
#include "sip/msg.h"
#include "store/store.h"
#include "suites.h"

static void test_event_since_is_parsed_and_bad_values_are_400(void)
{
    char type[32];
    int64_t since;
    CU_ASSERT_EQUAL(broker_parse_event("im", type, sizeof type, &since), 0);
    CU_ASSERT_STRING_EQUAL(type, "im");
    CU_ASSERT_EQUAL(since, -1);
    CU_ASSERT_EQUAL(broker_parse_event("IM ; id=7 ; Since = 42", type, sizeof type, &since), 0);
    CU_ASSERT_STRING_EQUAL(type, "im");
    CU_ASSERT_EQUAL(since, 42);
    CU_ASSERT_EQUAL(broker_parse_event("im;since=0009223372036854775807", type, sizeof type, &since), 0);
    CU_ASSERT_EQUAL(since, INT64_MAX);
    CU_ASSERT_EQUAL(broker_parse_event("presence;foo=bar", type, sizeof type, &since), 0);
    CU_ASSERT_STRING_EQUAL(type, "presence");
    const char *bad[] = {"im;since=", "im;since", "im;since=1;since=1", "im;since=-1", "im;since=1x",
                         "im;since=9223372036854775808", "im;since=12345678901234567890"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_EQUAL(broker_parse_event(bad[i], type, sizeof type, &since), 400);
    /* other parameters, and names merely starting with since, are not since */
    CU_ASSERT_EQUAL(broker_parse_event("im;sinceX=abc;last-seq=5", type, sizeof type, &since), 0);
    CU_ASSERT_EQUAL(since, -1);
}

static void test_cpim_headers_in_order_and_content_unchanged(void)
{
    struct sbuf b;
    sbuf_init(&b);
    const char body[] = "caf\xc3\xa9\0bin";
    struct cpim_fields f = {.from = "sip:alice@example.com", .to = "sip:bob@example.com", .date = 0,
                            .seq = 42, .content_type = "text/plain;charset=UTF-8", .body = body,
                            .body_len = sizeof body - 1};
    cpim_render(&b, &f);
    const char want[] = "From: <sip:alice@example.com>\r\nTo: <sip:bob@example.com>\r\n"
                        "DateTime: 1970-01-01T00:00:00Z\r\nNS: im <urn:sipd:params:im>\r\nim.Seq: 42\r\n"
                        "\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 9\r\n\r\n";
    CU_ASSERT_EQUAL_FATAL(b.len, sizeof want - 1 + sizeof body - 1);
    CU_ASSERT_EQUAL(memcmp(b.p, want, sizeof want - 1), 0);
    CU_ASSERT_EQUAL(memcmp(b.p + sizeof want - 1, body, sizeof body - 1), 0);
    sbuf_free(&b);
}

static void test_cpim_group_gap_and_truncation(void)
{
    struct sbuf b;
    sbuf_init(&b);
    struct cpim_fields f = {.from = "sip:a@x", .to = "sip:team@x", .date = 1764050400, .seq = 9,
                            .group_topic = "sip:team@x", .gap_lo = 3, .gap_hi = 5,
                            .content_type = "Image/PNG; name=x", .body = "12345", .body_len = 5,
                            .truncated = 1};
    cpim_render(&b, &f);
    CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "DateTime: 2025-11-25T06:00:00Z\r\n"));
    const char *seq = strstr(b.p, "im.Seq: 9\r\n"), *topic = strstr(b.p, "im.Topic: <sip:team@x>\r\n");
    const char *gap = strstr(b.p, "im.Gap: 3-5\r\n"), *tr = strstr(b.p, "im.Truncated: 5 image/png\r\n");
    CU_ASSERT(seq && topic && gap && tr && seq < topic && topic < gap && gap < tr);
    CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "\r\n\r\nContent-Type: text/plain;charset=UTF-8\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "[sipd: message of 5 bytes (image/png) not delivered over UDP"));
    CU_ASSERT_PTR_NULL(strstr(b.p, "12345"));
    sbuf_free(&b);
}

static void test_canonical_aor(void)
{
    osip_uri_t *u;
    char buf[128];
    osip_uri_init(&u);
    CU_ASSERT_EQUAL_FATAL(osip_uri_parse(u, "sips:Bob%41@Example.COM:5061;transport=tcp"), 0);
    CU_ASSERT_EQUAL(sip_uri_aor(u, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "sip:BobA@example.com");
    CU_ASSERT_EQUAL(sip_uri_aor(u, buf, 10), -1); /* does not fit */
    osip_uri_free(u);
    osip_uri_init(&u);
    osip_uri_parse(u, "sip:example.com");
    CU_ASSERT_EQUAL(sip_uri_aor(u, buf, sizeof buf), -1); /* no user */
    osip_uri_free(u);
    /* decoded characters that would break the header or CPIM line it is written into */
    const char *bad[] = {"sip:x%0D%0AX-Injected%3A%20yes@example.com", "sip:a%22b@example.com",
                         "sip:a%3Eb@example.com", "sip:a%40b@example.com", "sip:a%20b@example.com"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        osip_uri_init(&u);
        CU_ASSERT_EQUAL_FATAL(osip_uri_parse(u, bad[i]), 0);
        CU_ASSERT_EQUAL(sip_uri_aor(u, buf, sizeof buf), -1);
        osip_uri_free(u);
    }
}

/* ---- the memory store's IM rules ------------------------------------------------------------- */

static int64_t g_seq, g_copy;
static int g_dup, g_status;
static void on_pub(void *arg, int status, int64_t seq, int64_t copy_seq, int duplicate)
{
    g_status = status;
    g_seq = seq;
    g_copy = copy_seq;
    g_dup = duplicate;
}

static size_t g_n;
static int64_t g_first, g_last, g_seqs[64];
static int g_copies[64];
static void on_read(void *arg, int status, const struct im_message *v, size_t n, int64_t first,
                    int64_t last)
{
    g_status = status;
    g_n = n;
    g_first = first;
    g_last = last;
    for (size_t i = 0; i < n && i < 64; i++) {
        g_seqs[i] = v[i].seq;
        g_copies[i] = v[i].is_copy;
    }
}

static int64_t g_pos;
static void on_pos(void *arg, int status, int64_t pos)
{
    g_status = status;
    g_pos = pos;
}

static void publish(struct store *st, const char *topic, const char *copy, const char *cid,
                    uint32_t cseq, int64_t now, int64_t keep)
{
    struct im_publish p = {.topic = topic, .sender = "sip:a@x", .sender_device = "dev",
                           .copy_topic = copy, .call_id = cid, .from_tag = "t", .cseq = cseq,
                           .content_type = "text/plain", .body = "hi", .body_len = 2, .now = now,
                           .ret = {.count = keep, .age_s = 0}};
    store_im_publish(st, &p, on_pub, NULL);
}

static void test_mem_store_seqs_copies_duplicates_and_retention(void)
{
    struct store *st = store_create(NULL, NULL);
    publish(st, "sip:b@x", "sip:a@x", "c1", 1, 1000, 0);
    CU_ASSERT_EQUAL(g_status, 0);
    CU_ASSERT_EQUAL(g_seq, 1);
    CU_ASSERT_EQUAL(g_copy, 1);
    publish(st, "sip:b@x", "sip:a@x", "c1", 2, 1001, 0);
    CU_ASSERT_EQUAL(g_seq, 2);
    /* the same Call-ID/tag/CSeq within 32 s: a duplicate, nothing stored */
    publish(st, "sip:b@x", "sip:a@x", "c1", 2, 1010, 0);
    CU_ASSERT_EQUAL(g_dup, 1);
    CU_ASSERT_EQUAL(g_seq, 2);
    CU_ASSERT_EQUAL(g_copy, 2);
    struct im_retention none = {0, 0};
    store_im_read(st, "sip:b@x", 0, 10, 1010, &none, on_read, NULL);
    CU_ASSERT_EQUAL(g_n, 2);
    CU_ASSERT_EQUAL(g_last, 2);
    store_im_read(st, "sip:a@x", 0, 10, 1010, &none, on_read, NULL);
    CU_ASSERT_EQUAL(g_n, 2);
    CU_ASSERT_EQUAL(g_copies[0], 1);
    /* 40 s later the same identifiers are a new message */
    publish(st, "sip:b@x", NULL, "c1", 2, 1050, 0);
    CU_ASSERT_EQUAL(g_dup, 0);
    CU_ASSERT_EQUAL(g_seq, 3);
    for (int i = 0; i < 7; i++)
        publish(st, "sip:b@x", NULL, "c2", (uint32_t)i, 1060, 0);
    /* retention by count: the window is the newest 4 of 10 at read time */
    struct im_retention four = {4, 0};
    store_im_read(st, "sip:b@x", 2, 3, 1060, &four, on_read, NULL);
    CU_ASSERT_EQUAL(g_first, 7);
    CU_ASSERT_EQUAL(g_last, 10);
    CU_ASSERT_EQUAL_FATAL(g_n, 3);
    CU_ASSERT_EQUAL(g_seqs[0], 7);
    CU_ASSERT_EQUAL(g_seqs[2], 9);
    /* retention by age: everything older than 5 s at t=1062 is gone (1060 is not) */
    struct im_retention age = {0, 5};
    store_im_read(st, "sip:b@x", 0, 64, 1062, &age, on_read, NULL);
    CU_ASSERT_EQUAL(g_first, 4);
    CU_ASSERT_EQUAL(g_n, 7);
    store_im_read(st, "sip:b@x", 0, 64, 2000, &age, on_read, NULL);
    CU_ASSERT_EQUAL(g_n, 0);
    CU_ASSERT_EQUAL(g_first, 11);
    /* expiry deletes them for good; seqs are never reused */
    store_im_expire(st, 2000, &age, NULL, NULL);
    publish(st, "sip:b@x", NULL, "c3", 1, 2000, 0);
    CU_ASSERT_EQUAL(g_seq, 11);
    store_destroy(st);
}

static void test_mem_store_positions_start_from_the_users_furthest_device(void)
{
    struct store *st = store_create(NULL, NULL);
    store_im_position_get(st, "sip:b@x", "sip:b@x", "phone", 0, on_pos, NULL);
    CU_ASSERT_EQUAL(g_pos, 0);
    store_im_position_advance(st, "sip:b@x", "sip:b@x", "phone", 7, NULL, NULL);
    store_im_position_advance(st, "sip:b@x", "sip:b@x", "phone", 5, NULL, NULL); /* max */
    store_im_position_get(st, "sip:b@x", "sip:b@x", "phone", 0, on_pos, NULL);
    CU_ASSERT_EQUAL(g_pos, 7);
    store_im_position_get(st, "sip:b@x", "sip:b@x", "tablet", 0, on_pos, NULL);
    CU_ASSERT_EQUAL(g_pos, 7); /* a new device of the same user */
    store_im_position_get(st, "sip:b@x", "sip:c@x", "other", 3, on_pos, NULL);
    CU_ASSERT_EQUAL(g_pos, 3); /* another user: the initial value */
    store_destroy(st);
}

static int g_cb_status;
static void on_status(void *arg, int status) { g_cb_status = status; }
static struct im_topic_info g_info;
static void on_topic(void *arg, int status, const struct im_topic_info *info)
{
    g_status = status;
    if (info)
        g_info = *info;
}

static void test_mem_store_groups(void)
{
    struct store *st = store_create(NULL, NULL);
    const char *members[] = {"sip:a@x", "sip:b@x"};
    struct im_retention none = {0, 0};
    store_im_group_create(st, "sip:team@x", members, 2, on_status, NULL);
    CU_ASSERT_EQUAL(g_cb_status, 0);
    store_im_group_create(st, "sip:team@x", members, 2, on_status, NULL);
    CU_ASSERT_EQUAL(g_cb_status, 409);
    store_im_topic(st, "sip:team@x", "sip:b@x", 0, &none, on_topic, NULL);
    CU_ASSERT(g_info.is_group && g_info.is_member);
    store_im_topic(st, "sip:team@x", "sip:z@x", 0, &none, on_topic, NULL);
    CU_ASSERT(g_info.is_group && !g_info.is_member);
    /* a user topic with messages cannot become a group */
    publish(st, "sip:u@x", NULL, "c", 1, 10, 0);
    store_im_group_create(st, "sip:u@x", members, 2, on_status, NULL);
    CU_ASSERT_EQUAL(g_cb_status, 409);
    store_im_group_delete(st, "sip:team@x", on_status, NULL);
    CU_ASSERT_EQUAL(g_cb_status, 0);
    store_im_group_delete(st, "sip:team@x", on_status, NULL);
    CU_ASSERT_EQUAL(g_cb_status, 404);
    store_im_topic(st, "sip:team@x", "sip:b@x", 0, &none, on_topic, NULL);
    CU_ASSERT(!g_info.is_group && g_info.last_seq == 0 && g_info.first_seq == 1);
    store_destroy(st);
}


/* ---- the broker on a real transaction layer: a UDP client talks to it over loopback -------- */

struct bfix {
    struct loop_fixture lf;    /* its UDP listener is the server the client talks to */
    struct store *st;
    struct broker *b;
    int cfd;                   /* the client's UDP socket */
    int cport;
    char got[64][4096];        /* requests the client received, in order */
    int ngot;
};
static struct bfix bf;

/* What server.c does, reduced to the broker's methods. */
static void bf_recv(void *arg, const struct sip_source *src, char *buf, size_t len)
{
    osip_message_t *m = sip_parse(buf, len);
    if (!m)
        return;
    if (MSG_IS_RESPONSE(m)) {
        txn_client_response(bf.lf.tl, m, buf, len, src);
        osip_message_free(m);
        return;
    }
    sip_via_apply_source(m, src);
    int absorbed = 0;
    struct sip_txn *t = txn_server_new(bf.lf.tl, m, src, &absorbed);
    if (!t) {
        osip_message_free(m);
        return;
    }
    txn_keep_raw(t, buf, len);
    struct sip_event ev; /* as the server parsed it */
    sip_event_of(m, &ev);
    osip_generic_param_t *tag = NULL;
    if (strcmp(m->sip_method, "SUBSCRIBE") == 0) {
        if (osip_to_get_tag(m->to, &tag) == 0 && tag) {
            if (!broker_handle_in_dialog(bf.b, t, &ev))
                txn_respond_simple(t, 481, NULL, NULL, NULL);
        } else {
            broker_handle_subscribe(bf.b, t, &ev);
        }
    } else {
        broker_handle_publish(bf.b, t, &ev);
    }
}

/* Run the loop for ms, collecting what the client receives (requests; responses are kept too). */
static void bf_run(uint64_t ms)
{
    loop_fixture_run_ms(&bf.lf, ms);
    ssize_t n;
    while (bf.ngot < 64 && (n = recv(bf.cfd, bf.got[bf.ngot], sizeof bf.got[0] - 1, 0)) > 0)
        bf.got[bf.ngot++][n] = '\0';
}

static void bf_setup(size_t max_queue, int64_t keep)
{
    memset(&bf, 0, sizeof bf);
    struct loop_fixture_config lc = {.t1_ms = 500, .t2_ms = 4000, .t4_ms = 5000, .listen_udp = true,
                                     .on_recv = bf_recv};
    CU_ASSERT_EQUAL_FATAL(loop_fixture_open(&bf.lf, &lc), 0);
    bf.st = store_create(bf.lf.loop, NULL);
    static const char *const domains[] = {"example.com", NULL};
    struct broker_config bc = {.default_expires = 600, .min_expires = 60, .max_expires = 3600,
                               .max_message_bytes = 4096, .max_queue = max_queue,
                               .max_subscriptions = 1000,
                               .ret = {.count = keep, .age_s = 0}, .domains = domains};
    bf.b = broker_create(bf.lf.loop, bf.lf.tp, bf.lf.tl, bf.st, &bc);
    bf.cfd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_storage me;
    socklen_t melen;
    sockaddr_from_host_port("127.0.0.1", 9, 0, &me, &melen);
    bind(bf.cfd, (struct sockaddr *)&me, melen);
    melen = sizeof me;
    getsockname(bf.cfd, (struct sockaddr *)&me, &melen);
    bf.cport = sockaddr_port(&me);
    fcntl(bf.cfd, F_SETFL, O_NONBLOCK);
}

static void bf_teardown(void)
{
    store_im_set_listener(bf.st, NULL, NULL);
    store_destroy(bf.st);
    broker_destroy(bf.b);
    loop_fixture_close(&bf.lf);
    close(bf.cfd);
}

static void bf_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bf_send(const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sendto(bf.cfd, buf, (size_t)n, 0, (struct sockaddr *)&bf.lf.listener, bf.lf.listenerlen);
}

static int branch_no;
static void bf_request(const char *method, const char *user, const char *topic_user,
                       const char *call_id, int cseq, const char *to_tag, const char *extra,
                       const char *body)
{
    bf_send("%s sip:%s@example.com SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKut%d;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:%s@example.com>;tag=ft-%s\r\n"
            "To: <sip:%s@example.com>%s%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"
            "Contact: <sip:%s@127.0.0.1:%d>;+sip.instance=\"<urn:uuid:%s-%s>\"\r\n%s"
            "Content-Length: %zu\r\n\r\n%s",
            method, topic_user, bf.cport, ++branch_no, user, call_id, topic_user,
            to_tag ? ";tag=" : "", to_tag ? to_tag : "", call_id, cseq, method, user, bf.cport, user,
            call_id, extra ? extra : "", body ? strlen(body) : 0, body ? body : "");
}

/* The k-th message the client got that starts with `start`, or NULL. */
static const char *bf_nth(const char *start, int k)
{
    for (int i = 0; i < bf.ngot; i++)
        if (strncmp(bf.got[i], start, strlen(start)) == 0 && k-- == 0)
            return bf.got[i];
    return NULL;
}

static int bf_count(const char *start)
{
    int n = 0;
    while (bf_nth(start, n))
        n++;
    return n;
}

static long hdr_long(const char *msg, const char *name)
{
    const char *p = msg ? strstr(msg, name) : NULL;
    return p ? strtol(p + strlen(name), NULL, 10) : -1;
}

/* Answer a received NOTIFY with 200 (echoing Via, From, To, Call-ID, CSeq). */
static void bf_answer(const char *req, int code)
{
    char out[4096];
    size_t k = (size_t)snprintf(out, sizeof out, "SIP/2.0 %d X\r\n", code);
    const char *names[] = {"Via:", "From:", "To:", "Call-ID:", "CSeq:"};
    for (size_t i = 0; i < 5; i++) {
        const char *p = strstr(req, names[i]);
        const char *e = p ? strstr(p, "\r\n") : NULL;
        if (e)
            k += (size_t)snprintf(out + k, sizeof out - k, "%.*s\r\n", (int)(e - p), p);
    }
    snprintf(out + k, sizeof out - k, "Content-Length: 0\r\n\r\n");
    bf_send("%s", out);
}

static void test_one_notify_outstanding_and_the_200_moves_on(void)
{
    bf_setup(256, 0);
    bf_request("SUBSCRIBE", "bob", "bob", "s1", 1, NULL, "Event: im\r\n", NULL);
    bf_run(50);
    const char *ok = bf_nth("SIP/2.0 200", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ok);
    const char *nb = bf_nth("NOTIFY", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(nb);
    CU_ASSERT_PTR_NOT_NULL(strstr(nb, "Event: im;last-seq=0;first-seq=1"));
    bf_answer(nb, 200);
    for (int i = 0; i < 3; i++)
        bf_request("MESSAGE", "alice", "bob", i == 0 ? "m1" : i == 1 ? "m2" : "m3", 1, NULL,
                   "Content-Type: text/plain\r\n", "hello");
    bf_run(100);
    CU_ASSERT_EQUAL(bf_count("SIP/2.0 200"), 4); /* SUBSCRIBE + 3 publishes (Bob online) */
    /* one message NOTIFY only: seq 1, the others wait for its 200 */
    CU_ASSERT_EQUAL(bf_count("NOTIFY"), 2);
    const char *n1 = bf_nth("NOTIFY", 1);
    CU_ASSERT_EQUAL(hdr_long(n1, "im.Seq: "), 1);
    bf_answer(n1, 200);
    bf_run(50);
    const char *n2 = bf_nth("NOTIFY", 2);
    CU_ASSERT_EQUAL(hdr_long(n2, "im.Seq: "), 2);
    CU_ASSERT_EQUAL(bf_count("NOTIFY"), 3);
    bf_answer(n2, 200);
    bf_run(50);
    CU_ASSERT_EQUAL(hdr_long(bf_nth("NOTIFY", 3), "im.Seq: "), 3);
    CU_ASSERT_EQUAL(broker_subscriptions(bf.b), 1);
    /* 481 to a NOTIFY ends the subscription */
    bf_answer(bf_nth("NOTIFY", 3), 481);
    bf_run(50);
    CU_ASSERT_EQUAL(broker_subscriptions(bf.b), 0);
    bf_teardown();
}

static void test_queue_overflow_reads_from_the_store_and_loses_nothing(void)
{
    bf_setup(2, 0); /* a live queue of 2 */
    bf_request("SUBSCRIBE", "bob", "bob", "s1", 1, NULL, "Event: im\r\n", NULL);
    bf_run(50);
    bf_answer(bf_nth("NOTIFY", 0), 200);
    char cid[16];
    for (int i = 0; i < 8; i++) {
        snprintf(cid, sizeof cid, "m%d", i);
        bf_request("MESSAGE", "alice", "bob", cid, 1, NULL, "Content-Type: text/plain\r\n", cid);
    }
    bf_run(100);
    for (int want = 1; want <= 8; want++) {
        const char *n = bf_nth("NOTIFY", want);
        CU_ASSERT_PTR_NOT_NULL_FATAL(n);
        CU_ASSERT_EQUAL(hdr_long(n, "im.Seq: "), want);
        bf_answer(n, 200);
        bf_run(30);
    }
    CU_ASSERT_EQUAL(bf_count("NOTIFY"), 9); /* body-less + 8, each once */
    bf_teardown();
}

static void test_since_replays_in_order_and_reports_a_gap(void)
{
    bf_setup(256, 3); /* retention: the newest 3 */
    char cid[16];
    for (int i = 0; i < 6; i++) {
        snprintf(cid, sizeof cid, "m%d", i);
        bf_request("MESSAGE", "alice", "bob", cid, 1, NULL, "Content-Type: text/plain\r\n", cid);
    }
    bf_run(50);
    CU_ASSERT_EQUAL(bf_count("SIP/2.0 202"), 6); /* nobody online */
    bf_request("SUBSCRIBE", "bob", "bob", "s1", 1, NULL, "Event: im;since=1\r\n", NULL);
    bf_run(50);
    const char *nb = bf_nth("NOTIFY", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(nb);
    CU_ASSERT_PTR_NOT_NULL(strstr(nb, "last-seq=6;first-seq=4"));
    bf_answer(nb, 200);
    bf_run(50);
    for (int want = 4; want <= 6; want++) {
        const char *n = bf_nth("NOTIFY", want - 3);
        CU_ASSERT_PTR_NOT_NULL_FATAL(n);
        CU_ASSERT_EQUAL(hdr_long(n, "im.Seq: "), want);
        CU_ASSERT_EQUAL(strstr(n, "im.Gap: 2-3\r\n") != NULL, want == 4);
        bf_answer(n, 200);
        bf_run(30);
    }
    bf_teardown();
}

static void test_only_the_owner_subscribes_to_a_user_topic(void)
{
    bf_setup(256, 0);
    bf_request("SUBSCRIBE", "mallory", "bob", "s1", 1, NULL, "Event: im\r\n", NULL);
    bf_request("SUBSCRIBE", "bob", "bob", "s2", 1, NULL, "Event: im\r\nExpires: 5\r\n", NULL);
    bf_request("SUBSCRIBE", "bob", "bob", "s3", 1, NULL, "Event: im;since=x\r\n", NULL);
    bf_request("SUBSCRIBE", "bob", "bob", "s4", 1, NULL, "Event: presence.winfo\r\n", NULL);
    bf_run(50);
    CU_ASSERT_PTR_NOT_NULL(bf_nth("SIP/2.0 403", 0));
    const char *r423 = bf_nth("SIP/2.0 423", 0);
    CU_ASSERT(r423 && strstr(r423, "Min-Expires: 60"));
    CU_ASSERT_PTR_NOT_NULL(bf_nth("SIP/2.0 400 Bad since", 0));
    CU_ASSERT_PTR_NOT_NULL(bf_nth("SIP/2.0 489", 0));
    CU_ASSERT_EQUAL(broker_subscriptions(bf.b), 0);
    /* the same SUBSCRIBE by a second path (another branch): merged, 482 (§13) */
    bf_request("SUBSCRIBE", "bob", "bob", "s5", 1, NULL, "Event: im\r\n", NULL);
    bf_request("SUBSCRIBE", "bob", "bob", "s5", 1, NULL, "Event: im\r\n", NULL);
    bf_run(50);
    CU_ASSERT_PTR_NOT_NULL(bf_nth("SIP/2.0 482", 0));
    CU_ASSERT_EQUAL(broker_subscriptions(bf.b), 1);
    bf_teardown();
}

/* ---- the control plane (docs/api.md "Topics"): notices, the subscriptions held, endings ---- */

static int g_notice_status = -1;
static int64_t g_notice_seq;
static void on_notice(void *arg, int status, int64_t seq)
{
    (void)arg;
    g_notice_status = status;
    g_notice_seq = seq;
}

static void test_notice_is_stored_and_notified_with_its_seq(void)
{
    bf_setup(256, 0);
    bf_request("SUBSCRIBE", "bob", "bob", "s1", 1, NULL, "Event: im\r\n", NULL);
    bf_run(50);
    bf_answer(bf_nth("NOTIFY", 0), 200);
    bf_run(20);
    g_notice_status = -1;
    broker_publish_notice(bf.b, "sip:bob@example.com", "sip:system@example.com", "text/plain",
                          "maintenance at 22:00", 20, on_notice, NULL);
    bf_run(50);
    CU_ASSERT_EQUAL(g_notice_status, 0);
    CU_ASSERT_EQUAL(g_notice_seq, 1);
    const char *n = bf_nth("NOTIFY", 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT_EQUAL(hdr_long(n, "im.Seq: "), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(n, "\r\nFrom: <sip:system@example.com>\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(n, "maintenance at 22:00"));
    /* stored like a MESSAGE: the next one gets the next seq */
    bf_answer(n, 200);
    bf_request("MESSAGE", "alice", "bob", "m1", 1, NULL, "Content-Type: text/plain\r\n", "hi");
    bf_run(50);
    CU_ASSERT_EQUAL(hdr_long(bf_nth("SIP/2.0 200", 1), "Im-Seq: "), 2);
    /* over im_max_message_bytes (4096 here): 413, nothing stored */
    static char big[5000];
    memset(big, 'x', sizeof big);
    broker_publish_notice(bf.b, "sip:bob@example.com", "sip:system@example.com", "text/plain", big,
                          sizeof big, on_notice, NULL);
    CU_ASSERT_EQUAL(g_notice_status, 413);
    bf_teardown();
}

struct visit {
    int n;
    char aor[64], device[64], state[16];
    int64_t acked;
};
static void on_visit(void *arg, const struct broker_sub_info *s)
{
    struct visit *v = arg;
    v->n++;
    snprintf(v->aor, sizeof v->aor, "%s", s->aor);
    snprintf(v->device, sizeof v->device, "%s", s->device);
    snprintf(v->state, sizeof v->state, "%s", s->state);
    v->acked = s->acked_seq;
}

static void test_subscriptions_listed_and_ended_when_member_or_group_goes(void)
{
    bf_setup(256, 0);
    const char *const members[] = {"sip:bob@example.com", "sip:carol@example.com"};
    store_im_group_create(bf.st, "sip:team@example.com", members, 2, on_status, NULL);
    bf_request("SUBSCRIBE", "bob", "team", "s1", 1, NULL, "Event: im\r\n", NULL);
    bf_request("SUBSCRIBE", "carol", "team", "s2", 1, NULL, "Event: im\r\n", NULL);
    bf_run(50);
    CU_ASSERT_EQUAL(bf_count("NOTIFY"), 2);
    for (int i = 0; i < 2; i++)
        bf_answer(bf_nth("NOTIFY", i), 200);
    broker_publish_notice(bf.b, "sip:team@example.com", "sip:system@example.com", "text/plain",
                          "hello team", 10, on_notice, NULL);
    bf_run(50);
    for (int i = 2; i < bf_count("NOTIFY"); i++)
        bf_answer(bf_nth("NOTIFY", i), 200);
    bf_run(50);

    struct visit v = {0};
    CU_ASSERT_EQUAL(broker_subs_visit(bf.b, "sip:team@example.com", NULL, on_visit, &v), 2);
    memset(&v, 0, sizeof v);
    CU_ASSERT_EQUAL(broker_subs_visit(bf.b, NULL, "sip:bob@example.com", on_visit, &v), 1);
    CU_ASSERT_STRING_EQUAL(v.aor, "sip:bob@example.com");
    CU_ASSERT_STRING_EQUAL(v.device, "urn:uuid:bob-s1");
    CU_ASSERT_STRING_EQUAL(v.state, "active");
    CU_ASSERT_EQUAL(v.acked, 1);
    CU_ASSERT_EQUAL(broker_subs_visit(bf.b, "sip:bob@example.com", NULL, on_visit, &v), 0);

    /* bob leaves the group: his subscription ends, rejected; carol's goes on */
    int before = bf_count("NOTIFY");
    broker_member_removed(bf.b, "sip:team@example.com", "sip:bob@example.com");
    bf_run(50);
    CU_ASSERT_EQUAL(bf_count("NOTIFY"), before + 1);
    const char *fin = bf_nth("NOTIFY", before);
    CU_ASSERT(fin && strstr(fin, "Subscription-State: terminated;reason=rejected") &&
              strstr(fin, "Call-ID: s1"));
    bf_answer(fin, 200);
    bf_run(50);
    CU_ASSERT_EQUAL(broker_subscriptions(bf.b), 1);
    /* the group goes: carol's ends, noresource */
    broker_group_deleted(bf.b, "sip:team@example.com");
    bf_run(50);
    fin = bf_nth("NOTIFY", before + 1);
    CU_ASSERT(fin && strstr(fin, "Subscription-State: terminated;reason=noresource") &&
              strstr(fin, "Call-ID: s2"));
    bf_answer(fin, 200);
    bf_run(50);
    CU_ASSERT_EQUAL(broker_subscriptions(bf.b), 0);
    bf_teardown();
}

/* Takeover (§15.1): the NOTIFY CSeq of a dialog taken over stays above anything the dead
 * broker may have sent after the row was written, and below 2^31. */
static void test_takeover_cseq_jumps_ahead(void)
{
    /* nothing acknowledged since the row: the margin alone */
    CU_ASSERT_EQUAL(broker_takeover_cseq(10, 5, 5), 10u + 65536u);
    CU_ASSERT_EQUAL(broker_takeover_cseq(10, 5, -1), 10u + 65536u); /* no device position */
    /* 1000 messages acknowledged since: at least one NOTIFY each */
    CU_ASSERT_EQUAL(broker_takeover_cseq(10, 5, 1005), 10u + 65536u + 1000u);
    /* a device position behind the row's (a replay with since) does not lower it */
    CU_ASSERT_EQUAL(broker_takeover_cseq(10, 500, 20), 10u + 65536u);
    /* never 2^31 or above (RFC 3261 §8.1.1.5) */
    CU_ASSERT_EQUAL(broker_takeover_cseq(0x7fff0000u, 0, 0), 0x7fffffffu);
    CU_ASSERT_EQUAL(broker_takeover_cseq(1, 0, INT64_MAX), 0x7fffffffu);
    /* two takeovers in a row keep increasing */
    uint32_t a = broker_takeover_cseq(7, 0, 3), b = broker_takeover_cseq(a, 3, 3);
    CU_ASSERT(b > a && a > 7);
}

void register_broker_suites(void)
{
    CU_pSuite s = CU_add_suite("broker", NULL, NULL);
    CU_add_test(s, "takeover: NOTIFY CSeq jumps ahead, below 2^31", test_takeover_cseq_jumps_ahead);
    CU_add_test(s, "Event: since parsed, bad values 400", test_event_since_is_parsed_and_bad_values_are_400);
    CU_add_test(s, "CPIM: header order, content unchanged", test_cpim_headers_in_order_and_content_unchanged);
    CU_add_test(s, "CPIM: group topic, gap, UDP truncation", test_cpim_group_gap_and_truncation);
    CU_add_test(s, "canonical AOR, refusing what would break a header", test_canonical_aor);
    CU_add_test(s, "memory store: seqs, copies, duplicates, retention", test_mem_store_seqs_copies_duplicates_and_retention);
    CU_add_test(s, "memory store: device positions", test_mem_store_positions_start_from_the_users_furthest_device);
    CU_add_test(s, "memory store: groups", test_mem_store_groups);
    CU_add_test(s, "one NOTIFY outstanding; its 200 moves on; 481 ends", test_one_notify_outstanding_and_the_200_moves_on);
    CU_add_test(s, "live queue overflow reads from the store, loses nothing", test_queue_overflow_reads_from_the_store_and_loses_nothing);
    CU_add_test(s, "since replays in order and reports a gap", test_since_replays_in_order_and_reports_a_gap);
    CU_add_test(s, "authorization, SUBSCRIBE checks, merged SUBSCRIBE 482", test_only_the_owner_subscribes_to_a_user_topic);
    CU_add_test(s, "a notice from the control plane is stored and NOTIFYed with its seq", test_notice_is_stored_and_notified_with_its_seq);
    CU_add_test(s, "subscriptions listed; ended when their member or group goes", test_subscriptions_listed_and_ended_when_member_or_group_goes);
}
