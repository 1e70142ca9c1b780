/* test_broker.c - the im package's pure parts: Event parameters (§4), CPIM bodies (§7.2, §9.6,
 * §9.7), canonical AORs (§2.1), and the memory store's topic/sequence/retention/position rules
 * the broker relies on (§2.2, §2.5, §10.2, §11.3). */
#include <CUnit/CUnit.h>
#include <string.h>

#include "base/sbuf.h"
#include "roles/broker.h"
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

void register_broker_suites(void)
{
    CU_pSuite s = CU_add_suite("broker", NULL, NULL);
    CU_add_test(s, "Event: since parsed, bad values 400", test_event_since_is_parsed_and_bad_values_are_400);
    CU_add_test(s, "CPIM: header order, content unchanged", test_cpim_headers_in_order_and_content_unchanged);
    CU_add_test(s, "CPIM: group topic, gap, UDP truncation", test_cpim_group_gap_and_truncation);
    CU_add_test(s, "canonical AOR", test_canonical_aor);
    CU_add_test(s, "memory store: seqs, copies, duplicates, retention", test_mem_store_seqs_copies_duplicates_and_retention);
    CU_add_test(s, "memory store: device positions", test_mem_store_positions_start_from_the_users_furthest_device);
    CU_add_test(s, "memory store: groups", test_mem_store_groups);
}
