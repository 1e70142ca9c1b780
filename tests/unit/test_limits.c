/* test_limits.c - token buckets (base/ratelimit.c), source keys and prefix lists
 * (transport/srclimit.c) and the checks made before parsing (sip/admission.c). */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ratelimit.h"
#include "sip/admission.h"
#include "suites.h"
#include "transport/srclimit.h"

static void test_ratelimit_burst_then_refill(void)
{
    struct ratelimit_config cfg = {.rate_per_s = 10, .burst = 3, .max_keys = 8};
    struct ratelimit *rl = ratelimit_create(&cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
    uint64_t wait = 0;
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(ratelimit_take(rl, "a", 1, 1000, &wait), 1);
    CU_ASSERT_EQUAL(ratelimit_take(rl, "a", 1, 1000, &wait), 0);
    CU_ASSERT_EQUAL(wait, 100); /* 10 per second: one token every 100 ms */
    CU_ASSERT_EQUAL(ratelimit_peek(rl, "a", 1, 1050), 0);
    CU_ASSERT_EQUAL(ratelimit_take(rl, "a", 1, 1050, &wait), 0);
    CU_ASSERT_EQUAL(wait, 50);
    CU_ASSERT_EQUAL(ratelimit_peek(rl, "a", 1, 1100), 1);
    CU_ASSERT_EQUAL(ratelimit_take(rl, "a", 1, 1100, &wait), 1);
    CU_ASSERT_EQUAL(ratelimit_take(rl, "a", 1, 1100, &wait), 0);
    /* another key has a bucket of its own */
    CU_ASSERT_EQUAL(ratelimit_take(rl, "b", 1, 1100, &wait), 1);
    /* a long quiet period refills to the burst, not beyond */
    int n = 0;
    while (ratelimit_take(rl, "a", 1, 100000, NULL))
        n++;
    CU_ASSERT_EQUAL(n, 3);
    ratelimit_destroy(rl);
}

static void test_ratelimit_table_is_bounded_lru(void)
{
    struct ratelimit_config cfg = {.rate_per_s = 1, .burst = 1, .max_keys = 4};
    struct ratelimit *rl = ratelimit_create(&cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
    char k[16];
    for (int i = 0; i < 4; i++) {
        snprintf(k, sizeof k, "k%d", i);
        CU_ASSERT_EQUAL(ratelimit_take(rl, k, strlen(k), 0, NULL), 1);
    }
    CU_ASSERT_EQUAL(ratelimit_keys(rl), 4);
    /* k0 used again: now k1 is the least recent */
    CU_ASSERT_EQUAL(ratelimit_take(rl, "k0", 2, 0, NULL), 0);
    for (int i = 4; i < 1000; i++) { /* many sources: the table stays at its bound */
        snprintf(k, sizeof k, "k%d", i);
        ratelimit_take(rl, k, strlen(k), 0, NULL);
        CU_ASSERT(ratelimit_keys(rl) <= 4);
    }
    CU_ASSERT_EQUAL(ratelimit_keys(rl), 4);
    /* the latest keys are still known (empty), the early ones were forgotten (full again) */
    CU_ASSERT_EQUAL(ratelimit_peek(rl, "k999", 4, 0), 0);
    CU_ASSERT_EQUAL(ratelimit_peek(rl, "k1", 2, 0), 1);
    ratelimit_forget(rl, "k999", 4);
    CU_ASSERT_EQUAL(ratelimit_keys(rl), 3);
    CU_ASSERT_EQUAL(ratelimit_peek(rl, "k999", 4, 0), 1);
    ratelimit_destroy(rl);
}

static void test_ratelimit_long_keys_and_rate_zero(void)
{
    struct ratelimit_config cfg = {.rate_per_s = 1, .burst = 1, .max_keys = 16};
    struct ratelimit *rl = ratelimit_create(&cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
    char a[200], b[200];
    memset(a, 'x', sizeof a);
    memcpy(b, a, sizeof b);
    b[150] = 'y'; /* differs after the bytes kept whole */
    CU_ASSERT_EQUAL(ratelimit_take(rl, a, sizeof a, 0, NULL), 1);
    CU_ASSERT_EQUAL(ratelimit_take(rl, a, sizeof a, 0, NULL), 0);
    CU_ASSERT_EQUAL(ratelimit_take(rl, b, sizeof b, 0, NULL), 1);
    ratelimit_destroy(rl);
    struct ratelimit_config off = {.rate_per_s = 0, .burst = 1, .max_keys = 1};
    rl = ratelimit_create(&off);
    for (int i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(ratelimit_take(rl, "a", 1, 0, NULL), 1);
    ratelimit_destroy(rl);
}

static struct sockaddr_storage addr(const char *ip, int port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (void *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, ip, &s6->sin6_addr);
    } else {
        struct sockaddr_in *s4 = (void *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, ip, &s4->sin_addr);
    }
    return ss;
}

static void test_source_keys_and_prefix_lists(void)
{
    unsigned char k1[SOURCE_KEY_MAX], k2[SOURCE_KEY_MAX];
    struct sockaddr_storage a = addr("192.0.2.1", 5060), b = addr("192.0.2.1", 6000);
    CU_ASSERT_EQUAL(source_addr_key(&a, k1), 5);
    CU_ASSERT_EQUAL(source_addr_key(&b, k2), 5);
    CU_ASSERT(memcmp(k1, k2, 5) == 0); /* the port does not matter */
    struct sockaddr_storage c = addr("2001:db8:1:2::1", 1), d = addr("2001:db8:1:2:ffff::9", 2);
    CU_ASSERT_EQUAL(source_addr_key(&c, k1), 9);
    CU_ASSERT_EQUAL(source_addr_key(&d, k2), 9);
    CU_ASSERT(memcmp(k1, k2, 9) == 0); /* one /64 */

    struct source_list l;
    char err[128];
    CU_ASSERT_EQUAL(source_list_parse(&l, "127.0.0.0/8, ::1,10.1.2.3 2001:db8::/32", err, sizeof err), 0);
    CU_ASSERT_EQUAL(l.n, 4);
    struct sockaddr_storage x = addr("127.0.0.2", 1), y = addr("128.0.0.1", 1),
                            z = addr("10.1.2.3", 9), w = addr("10.1.2.4", 9),
                            v = addr("2001:db8:ffff::1", 1), u = addr("::2", 1);
    CU_ASSERT_EQUAL(source_list_match(&l, &x), 1);
    CU_ASSERT_EQUAL(source_list_match(&l, &y), 0);
    CU_ASSERT_EQUAL(source_list_match(&l, &z), 1);
    CU_ASSERT_EQUAL(source_list_match(&l, &w), 0);
    CU_ASSERT_EQUAL(source_list_match(&l, &v), 1);
    CU_ASSERT_EQUAL(source_list_match(&l, &u), 0);
    CU_ASSERT_EQUAL(source_list_parse(&l, "", err, sizeof err), 0);
    CU_ASSERT_EQUAL(l.n, 0);
    CU_ASSERT_EQUAL(source_list_parse(&l, "example.com", err, sizeof err), -1);
    CU_ASSERT_EQUAL(source_list_parse(&l, "10.0.0.0/33", err, sizeof err), -1);

    struct source_counts sc;
    source_counts_init(&sc);
    CU_ASSERT_EQUAL(source_counts_inc(&sc, &a), 0);
    CU_ASSERT_EQUAL(source_counts_inc(&sc, &b), 0);
    CU_ASSERT_EQUAL(source_counts_get(&sc, &a), 2);
    source_counts_dec(&sc, &a);
    source_counts_dec(&sc, &b);
    CU_ASSERT_EQUAL(source_counts_get(&sc, &a), 0);
    CU_ASSERT_EQUAL(sc.map.count, 0);
    source_counts_free(&sc);
}

static const struct admission_config base_cfg = {
    .rate_per_s = 5, .burst = 2, .reject_rate_per_s = 2, .max_sources = 64,
    .max_headers = 10, .max_header_line_bytes = 200,
    .max_body_udp_bytes = 100, .max_body_tcp_bytes = 1000, .exempt = "10.9.0.0/16",
};

static enum admission_verdict judge(struct admission *a, const char *ip, enum sip_proto proto,
                                    const char *msg, uint64_t now, char *out, size_t *out_len)
{
    struct sip_source src = {.proto = proto, .peer = addr(ip, 5060), .peerlen = sizeof(struct sockaddr_in)};
    const char *end = strstr(msg, "\r\n\r\n");
    size_t hdr = end ? (size_t)(end - msg) + 4 : 0;
    return admission_check(a, &src, msg, strlen(msg), hdr, now, out, 2048, out_len);
}

#define REQ(extra, body)                                                                         \
    "OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKx\r\n"          \
    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c1\r\n"              \
    "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n" extra "\r\n" body

static void test_admission_rate_answers_503_then_drops(void)
{
    char err[128], out[2048];
    size_t n;
    struct admission *a = admission_create(&base_cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    const char *req = REQ("", "");
    CU_ASSERT_EQUAL(judge(a, "192.0.2.1", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_PASS);
    CU_ASSERT_EQUAL(judge(a, "192.0.2.1", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_PASS);
    CU_ASSERT_EQUAL(judge(a, "192.0.2.1", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_ANSWER);
    out[n] = '\0';
    CU_ASSERT(strncmp(out, "SIP/2.0 503 ", 12) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\r\nRetry-After: 1\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\r\nCall-ID: c1\r\n"));
    CU_ASSERT_EQUAL(judge(a, "192.0.2.1", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_ANSWER);
    /* beyond reject_rate: silence */
    CU_ASSERT_EQUAL(judge(a, "192.0.2.1", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_DROP);
    CU_ASSERT_EQUAL(n, 0);
    /* ACKs and responses from that source still pass; so do other sources and exempt ones */
    CU_ASSERT_EQUAL(judge(a, "192.0.2.1", SIP_PROTO_UDP, "ACK sip:x SIP/2.0\r\n\r\n", 0, out, &n), ADMIT_PASS);
    CU_ASSERT_EQUAL(judge(a, "192.0.2.1", SIP_PROTO_UDP, "SIP/2.0 200 OK\r\n\r\n", 0, out, &n), ADMIT_PASS);
    CU_ASSERT_EQUAL(judge(a, "192.0.2.2", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_PASS);
    for (int i = 0; i < 20; i++)
        CU_ASSERT_EQUAL(judge(a, "10.9.1.1", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_PASS);
    /* a token comes back after 1/rate s */
    CU_ASSERT_EQUAL(judge(a, "192.0.2.1", SIP_PROTO_UDP, req, 200, out, &n), ADMIT_PASS);
    admission_destroy(a);
}

static int trust_192_0_2_50(void *arg, const struct sockaddr_storage *peer)
{
    ++*(int *)arg;
    struct sockaddr_storage t = addr("192.0.2.50", 5060);
    return memcmp(&((const struct sockaddr_in *)peer)->sin_addr,
                  &((const struct sockaddr_in *)&t)->sin_addr, 4) == 0;
}

/* A cluster node's trust hook (server.c: the node table) skips the rate, like limits.exempt;
 * everyone else is still limited. */
static void test_admission_trusted_sources_skip_the_rate(void)
{
    char err[128], out[2048];
    size_t n;
    int asked = 0;
    struct admission *a = admission_create(&base_cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    admission_set_trusted(a, trust_192_0_2_50, &asked);
    const char *req = REQ("", "");
    for (int i = 0; i < 20; i++)
        CU_ASSERT_EQUAL(judge(a, "192.0.2.50", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_PASS);
    CU_ASSERT_EQUAL(asked, 20);
    CU_ASSERT_EQUAL(judge(a, "192.0.2.51", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_PASS);
    CU_ASSERT_EQUAL(judge(a, "192.0.2.51", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_PASS);
    CU_ASSERT_EQUAL(judge(a, "192.0.2.51", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_ANSWER);
    /* exempt sources are not asked about */
    asked = 0;
    CU_ASSERT_EQUAL(judge(a, "10.9.1.1", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_PASS);
    CU_ASSERT_EQUAL(asked, 0);
    admission_set_trusted(a, NULL, NULL);
    CU_ASSERT_EQUAL(judge(a, "192.0.2.50", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_PASS);
    CU_ASSERT_EQUAL(judge(a, "192.0.2.50", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_PASS);
    CU_ASSERT_EQUAL(judge(a, "192.0.2.50", SIP_PROTO_UDP, req, 0, out, &n), ADMIT_ANSWER);
    admission_destroy(a);
}

static void test_admission_header_and_body_bounds(void)
{
    char err[128], out[2048];
    size_t n;
    struct admission *a = admission_create(&base_cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    /* 6 headers + 5 more = 11 > 10 */
    const char *many = REQ("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n", "");
    CU_ASSERT_EQUAL(judge(a, "10.9.0.1", SIP_PROTO_TCP, many, 0, out, &n), ADMIT_ANSWER);
    out[n] = '\0';
    CU_ASSERT(strncmp(out, "SIP/2.0 513 Too Many Headers\r\n", 30) == 0);
    /* folded continuation lines are not fields of their own */
    const char *folded = REQ("A: 1\r\n 2\r\n 3\r\n 4\r\n 5\r\n", "");
    CU_ASSERT_EQUAL(judge(a, "10.9.0.1", SIP_PROTO_TCP, folded, 0, out, &n), ADMIT_PASS);
    char longline[1024];
    snprintf(longline, sizeof longline, REQ("Subject: %0250d\r\n", ""), 0);
    CU_ASSERT_EQUAL(judge(a, "10.9.0.1", SIP_PROTO_TCP, longline, 0, out, &n), ADMIT_ANSWER);
    out[n] = '\0';
    CU_ASSERT(strncmp(out, "SIP/2.0 513 Header Line Too Long\r\n", 34) == 0);
    /* a 150-byte body: too big for UDP (100), fine for TCP (1000) */
    char body[151];
    memset(body, 'b', 150);
    body[150] = '\0';
    char msg[1024];
    snprintf(msg, sizeof msg, REQ("Content-Length: 150\r\n", "%s"), body);
    CU_ASSERT_EQUAL(judge(a, "10.9.0.1", SIP_PROTO_UDP, msg, 0, out, &n), ADMIT_ANSWER);
    out[n] = '\0';
    CU_ASSERT(strncmp(out, "SIP/2.0 413 ", 12) == 0);
    CU_ASSERT_EQUAL(judge(a, "10.9.0.1", SIP_PROTO_TCP, msg, 0, out, &n), ADMIT_PASS);
    /* a response over the bounds is dropped, never answered; so is garbage */
    CU_ASSERT_EQUAL(judge(a, "10.9.0.1", SIP_PROTO_UDP,
                          "SIP/2.0 200 OK\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\n"
                          "A: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\n\r\n", 0, out, &n), ADMIT_DROP);
    char junk[300];
    memset(junk, 'z', sizeof junk - 1);
    junk[sizeof junk - 1] = '\0';
    CU_ASSERT_EQUAL(judge(a, "10.9.0.1", SIP_PROTO_UDP, junk, 0, out, &n), ADMIT_DROP);
    admission_destroy(a);
    struct admission_config bad = base_cfg;
    bad.exempt = "not-an-address";
    CU_ASSERT_PTR_NULL(admission_create(&bad, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "limits.exempt"));
}

void register_limits_suites(void)
{
    CU_pSuite s = CU_add_suite("limits", NULL, NULL);
    CU_add_test(s, "token bucket: burst, then one per 1/rate", test_ratelimit_burst_then_refill);
    CU_add_test(s, "table bounded, least recent key forgotten", test_ratelimit_table_is_bounded_lru);
    CU_add_test(s, "long keys; rate 0 is no limit", test_ratelimit_long_keys_and_rate_zero);
    CU_add_test(s, "source keys (IPv6 by /64) and prefix lists", test_source_keys_and_prefix_lists);
    CU_add_test(s, "rate: 503 + Retry-After, then silence; ACK passes", test_admission_rate_answers_503_then_drops);
    CU_add_test(s, "header count, line length, body per transport", test_admission_header_and_body_bounds);
    CU_add_test(s, "trusted sources (a cluster's nodes) skip the rate", test_admission_trusted_sources_skip_the_rate);
}
