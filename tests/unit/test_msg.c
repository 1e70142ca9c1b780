/* test_msg.c - parsing, validation, Via rport/received, response building. */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "sip/msg.h"
#include "transport/addr.h"
#include "suites.h"

static const char good[] = "OPTIONS sip:example.com SIP/2.0\r\n"
                           "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKabc;rport\r\n"
                           "Max-Forwards: 70\r\n"
                           "From: <sip:alice@example.com>;tag=ft\r\n"
                           "To: <sip:bob@example.com>\r\n"
                           "Call-ID: cid-1\r\n"
                           "CSeq: 7 OPTIONS\r\n"
                           "Content-Length: 0\r\n\r\n";

static osip_message_t *parse(const char *s) { return sip_parse(s, strlen(s)); }

/* good with header `name` removed */
static osip_message_t *parse_without(const char *name)
{
    char buf[1024];
    const char *p = good;
    char *w = buf;
    while (*p) {
        const char *eol = strstr(p, "\r\n");
        size_t n = (size_t)(eol - p) + 2;
        if (!(strncmp(p, name, strlen(name)) == 0 && p[strlen(name)] == ':')) {
            memcpy(w, p, n);
            w += n;
        }
        p += n;
    }
    *w = '\0';
    return parse(buf);
}

static struct sip_source src_from(const char *ip, int port)
{
    struct sip_source s = {.proto = SIP_PROTO_UDP, .udp_fd = -1};
    sockaddr_from_host_port(ip, strlen(ip), port, &s.peer, &s.peerlen);
    return s;
}

static void test_msg_valid_request_passes(void)
{
    osip_message_t *m = parse(good);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    const char *reason = NULL;
    CU_ASSERT_EQUAL(sip_request_check(m, &reason), 0);
    osip_message_free(m);
}

static void test_msg_missing_mandatory_headers_give_400_naming_them(void)
{
    static const struct {
        const char *header, *phrase;
    } cases[] = {
        {"Via", "Via"}, {"From", "From"}, {"To", "To"},
        {"Call-ID", "Call-ID"}, {"CSeq", "CSeq"}, {"Max-Forwards", "Max-Forwards"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        osip_message_t *m = parse_without(cases[i].header);
        if (!m)
            continue; /* unparseable is also rejected (dropped) */
        const char *reason = NULL;
        CU_ASSERT_EQUAL(sip_request_check(m, &reason), 400);
        CU_ASSERT_PTR_NOT_NULL(reason);
        if (reason)
            CU_ASSERT_PTR_NOT_NULL(strstr(reason, cases[i].phrase));
        osip_message_free(m);
    }
}

static void test_msg_cseq_method_mismatch_rejected(void)
{
    char buf[1024];
    strcpy(buf, good);
    char *p = strstr(buf, "7 OPTIONS");
    memcpy(p, "7 INVITE ", 9);
    osip_message_t *m = parse(buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    const char *reason = NULL;
    CU_ASSERT_EQUAL(sip_request_check(m, &reason), 400);
    osip_message_free(m);
}

static void test_msg_bad_max_forwards_rejected(void)
{
    char buf[1024];
    strcpy(buf, good);
    char *p = strstr(buf, "Max-Forwards: 70");
    memcpy(p, "Max-Forwards: xy", 16);
    osip_message_t *m = parse(buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    const char *reason = NULL;
    CU_ASSERT_EQUAL(sip_request_check(m, &reason), 400);
    osip_message_free(m);
}

static void test_msg_garbage_does_not_parse(void)
{
    const char *junk[] = {"", "hello", "\x01\x02\x03\xff", "SIP/2.0 abc\r\n\r\n",
                          "INVITE\r\n\r\n", "INVITE sip: SIP/2.0\r\nVia: \r\n\r\n"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        osip_message_t *m = sip_parse(junk[i], strlen(junk[i]));
        if (m) {
            const char *reason;
            /* if oSIP accepts it, validation must not */
            CU_ASSERT(MSG_IS_RESPONSE(m) ? sip_response_check(m) < 0 : sip_request_check(m, &reason) != 0);
            osip_message_free(m);
        }
    }
}

static void test_msg_rport_filled_and_received_added(void)
{
    osip_message_t *m = parse(good);
    struct sip_source s = src_from("192.0.2.7", 40000);
    sip_via_apply_source(m, &s);
    osip_via_t *v = osip_list_get(&m->vias, 0);
    osip_generic_param_t *p = NULL;
    osip_via_param_get_byname(v, "rport", &p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(p->gvalue, "40000");
    p = NULL;
    osip_via_param_get_byname(v, "received", &p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(p->gvalue, "192.0.2.7");
    /* responses go to received:rport */
    struct sip_source d;
    CU_ASSERT_EQUAL(sip_response_dest(m, &s, &d), 0);
    char buf[64];
    CU_ASSERT_STRING_EQUAL(sockaddr_str(&d.peer, buf, sizeof buf), "192.0.2.7:40000");
    osip_message_free(m);
}

static void test_msg_no_received_when_source_matches_sent_by(void)
{
    char buf[1024];
    strcpy(buf, good);
    char *p = strstr(buf, ";rport");
    memmove(p, p + 6, strlen(p + 6) + 1);
    osip_message_t *m = parse(buf);
    struct sip_source s = src_from("10.0.0.1", 5070);
    sip_via_apply_source(m, &s);
    osip_via_t *v = osip_list_get(&m->vias, 0);
    osip_generic_param_t *rp = NULL;
    osip_via_param_get_byname(v, "received", &rp);
    CU_ASSERT_PTR_NULL(rp);
    /* without rport, the response goes to the sent-by port */
    struct sip_source other = src_from("10.0.0.1", 33333), d;
    sip_response_dest(m, &other, &d);
    char as[64];
    CU_ASSERT_STRING_EQUAL(sockaddr_str(&d.peer, as, sizeof as), "10.0.0.1:5070");
    osip_message_free(m);
}

static void test_msg_response_copies_headers_and_adds_tag(void)
{
    osip_message_t *m = parse(good);
    osip_message_t *r = sip_response_new(m, 200, NULL, "totag1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    char *s = NULL;
    size_t len;
    CU_ASSERT_EQUAL(sip_serialize(r, &s, &len), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "SIP/2.0 200 OK\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "branch=z9hG4bKabc"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "Call-ID: cid-1\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "CSeq: 7 OPTIONS\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "tag=totag1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "tag=ft"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "Content-Length: 0"));
    osip_free(s);
    osip_message_free(r);
    /* 100 Trying gets no To tag */
    r = sip_response_new(m, 100, NULL, "totag1");
    CU_ASSERT_EQUAL(sip_serialize(r, &s, &len), 0);
    CU_ASSERT_PTR_NULL(strstr(s, "totag1"));
    osip_free(s);
    osip_message_free(r);
    osip_message_free(m);
}

static void test_msg_option_lists(void)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%.*sRequire: path, foo\r\nSupported: outbound,path\r\n\r\n",
             (int)(strlen(good) - 2), good);
    osip_message_t *m = parse(buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_TRUE(sip_header_has_option(m, "supported", "PATH"));
    CU_ASSERT_FALSE(sip_header_has_option(m, "supported", "gruu"));
    static const char *const known[] = {"path", NULL};
    char unk[32];
    CU_ASSERT_TRUE(sip_header_unknown_option(m, "require", known, unk, sizeof unk));
    CU_ASSERT_STRING_EQUAL(unk, "foo");
    osip_message_free(m);
}

/* Hostile input: random byte mutations, truncations and splices of a valid request go through
 * parse, validation, Via handling and response building without crashing or leaking (run under
 * ASan in CI). Deterministic seed so a failure reproduces. */
static void test_msg_mutated_input_never_crashes(void)
{
    const char *base = good;
    size_t blen = strlen(base);
    char buf[2048];
    unsigned seed = 12345;
    int handled = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = blen;
        memcpy(buf, base, blen);
        int nmut = 1 + (int)(rand_r(&seed) % 8);
        for (int k = 0; k < nmut; k++) {
            size_t pos = (size_t)rand_r(&seed) % len;
            switch (rand_r(&seed) % 4) {
            case 0: buf[pos] = (char)(rand_r(&seed) & 0xff); break;
            case 1: len = pos + 1; break;
            case 2: buf[pos] = "\r\n:;,<>\"@= \t"[rand_r(&seed) % 13]; break;
            default:
                if (len + 16 < sizeof buf) {
                    memmove(buf + pos + 16, buf + pos, len - pos);
                    memset(buf + pos, "a;=\r\n<"[rand_r(&seed) % 6], 16);
                    len += 16;
                }
            }
        }
        buf[len] = '\0';
        osip_message_t *m = sip_parse(buf, len);
        if (!m)
            continue;
        const char *reason;
        struct sip_source s = src_from("10.1.2.3", 5060);
        if (!MSG_IS_RESPONSE(m) && sip_request_answerable(m)) {
            sip_via_apply_source(m, &s);
            int st = sip_request_check(m, &reason);
            osip_message_t *r = sip_response_new(m, st ? st : 200, st ? reason : NULL, "t");
            if (r) {
                char *out = NULL;
                size_t olen;
                if (sip_serialize(r, &out, &olen) == 0)
                    handled++;
                osip_free(out);
                osip_message_free(r);
            }
            struct sip_source d;
            sip_response_dest(m, &s, &d);
        }
        osip_message_free(m);
    }
    CU_ASSERT(handled > 100); /* the mutations must not all be trivially unparseable */
}

static void test_msg_fast_response_text_matches_osip_response(void)
{
    osip_message_t *m = parse(good);
    struct sip_source s = src_from("192.0.2.7", 40000);
    sip_via_apply_source(m, &s);
    osip_message_t *r = sip_response_new(m, 486, NULL, "tt");
    char *slow = NULL;
    size_t slen;
    sip_serialize(r, &slow, &slen);
    struct sbuf fast;
    sbuf_init(&fast);
    CU_ASSERT_EQUAL(sip_response_text(m, 486, NULL, "tt", "X-Extra: 1\r\n", &fast), 0);
    /* every header line of the oSIP rendering is in the fast one */
    char *save = NULL;
    for (char *line = strtok_r(slow, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save))
        CU_ASSERT_PTR_NOT_NULL(strstr(fast.p, line));
    CU_ASSERT_PTR_NOT_NULL(strstr(fast.p, "X-Extra: 1\r\nContent-Length: 0\r\n\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(fast.p, "received=192.0.2.7"));
    CU_ASSERT_EQUAL(strncmp(fast.p, "SIP/2.0 486 Busy Here\r\n", strlen("SIP/2.0 486 Busy Here\r\n")), 0);
    /* and it parses back as a valid response */
    osip_message_t *back = sip_parse(fast.p, fast.len);
    CU_ASSERT_PTR_NOT_NULL(back);
    if (back) {
        CU_ASSERT_EQUAL(sip_response_check(back), 0);
        osip_message_free(back);
    }
    sbuf_free(&fast);
    osip_free(slow);
    osip_message_free(r);
    osip_message_free(m);
}

static void test_msg_addresses_and_numbers_format_without_printf(void)
{
    char buf[SOCKADDR_STRLEN], n[STR_U64_MAX];
    struct sockaddr_storage a;
    socklen_t alen;
    CU_ASSERT_FATAL(sockaddr_from_host_port("255.0.10.1", 10, 65535, &a, &alen) == 0);
    CU_ASSERT_STRING_EQUAL(sockaddr_str(&a, buf, sizeof buf), "255.0.10.1:65535");
    CU_ASSERT_STRING_EQUAL(sockaddr_ip_str(&a, buf, sizeof buf), "255.0.10.1");
    CU_ASSERT_FATAL(sockaddr_from_host_port("2001:db8::7", 11, 5060, &a, &alen) == 0);
    CU_ASSERT_STRING_EQUAL(sockaddr_str(&a, buf, sizeof buf), "[2001:db8::7]:5060");
    CU_ASSERT_EQUAL(str_u64(n, 0), 1);
    CU_ASSERT_STRING_EQUAL(n, "0");
    CU_ASSERT_EQUAL(str_u64(n, 18446744073709551615ULL), 20);
    CU_ASSERT_STRING_EQUAL(n, "18446744073709551615");
    const char *parts[] = {"ab", "", "cde"};
    CU_ASSERT_EQUAL(str_join(buf, 6, parts, 3), 5);
    CU_ASSERT_STRING_EQUAL(buf, "abcde");
    CU_ASSERT_EQUAL(str_join(buf, 5, parts, 3), -1); /* no room for the NUL */
    CU_ASSERT_STRING_EQUAL(buf, "");
}

void register_msg_suites(void)
{
    sip_msg_init();
    CU_pSuite s = CU_add_suite("msg", NULL, NULL);
    CU_add_test(s, "valid request passes", test_msg_valid_request_passes);
    CU_add_test(s, "addresses and numbers format without printf", test_msg_addresses_and_numbers_format_without_printf);
    CU_add_test(s, "missing mandatory headers give 400 naming them", test_msg_missing_mandatory_headers_give_400_naming_them);
    CU_add_test(s, "CSeq method mismatch rejected", test_msg_cseq_method_mismatch_rejected);
    CU_add_test(s, "bad Max-Forwards rejected", test_msg_bad_max_forwards_rejected);
    CU_add_test(s, "garbage never validates", test_msg_garbage_does_not_parse);
    CU_add_test(s, "rport filled, received added, response to received:rport", test_msg_rport_filled_and_received_added);
    CU_add_test(s, "no received when source matches sent-by", test_msg_no_received_when_source_matches_sent_by);
    CU_add_test(s, "response copies headers and adds To tag", test_msg_response_copies_headers_and_adds_tag);
    CU_add_test(s, "Require/Supported option lists", test_msg_option_lists);
    CU_add_test(s, "fast response text matches oSIP's response", test_msg_fast_response_text_matches_osip_response);
    CU_add_test(s, "20000 mutated messages never crash", test_msg_mutated_input_never_crashes);
}
