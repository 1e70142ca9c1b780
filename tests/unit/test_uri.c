/* test_uri.c - the shared SIP helpers (sip/uri.h): the one rule that decides whether a URI is
 * ours, the classification the server dispatches on, URI equality, delta-seconds, HTTP-date and
 * +sip.instance values. No sockets: this node listens on 127.0.0.1:25080 and 127.0.0.1:25090,
 * its hostname is "sipbox". Cases as tables. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "sip/msg.h"
#include "sip/uri.h"
#include "suites.h"

static int fake_listens(void *arg, const char *host, int port)
{
    (void)arg;
    if (port == 0)
        port = 5060;
    int host_ok = !host || strcmp(host, "127.0.0.1") == 0;
    int port_ok = port < 0 || port == 25080 || port == 25090 || port == 5061; /* 5061: tls */
    return host_ok && port_ok;
}

static const char *const domains[] = {"example.com", NULL};
static const char *const no_domains[] = {NULL};
static const struct uri_local with_domain = {.domains = domains, .hostname = "sipbox",
                                             .listens = fake_listens};
static const struct uri_local without_domain = {.domains = no_domains, .hostname = "sipbox",
                                                .listens = fake_listens};

static void test_uri_is_ours_table(void)
{
    static const struct {
        const char *uri;
        int me, ours_with_domain, ours_without_domain;
    } cases[] = {
        {"sip:bob@127.0.0.1", 0, 0, 1},           /* our address, no port: ours with no --domain */
        {"sips:bob@127.0.0.1", 1, 1, 1},          /* sips, no port: 5061, where we listen (tls) */
        {"sip:bob@127.0.0.1;transport=tls", 1, 1, 1},
        {"sips:bob@127.0.0.1:5060", 0, 0, 0},
        {"sip:bob@127.0.0.1:25080", 1, 1, 1},     /* our address and port */
        {"sip:bob@127.0.0.1:25090", 1, 1, 1},
        {"sip:svc@127.0.0.1:31738", 0, 0, 0},     /* another server's port: someone else's */
        {"sip:bob@localhost", 0, 0, 1},
        {"sip:bob@localhost:25080", 1, 1, 1},
        {"sip:bob@SIPBOX", 0, 0, 1},              /* the hostname */
        {"sip:bob@sipbox:25090", 0, 0, 1},
        {"sip:bob@sipbox:5070", 0, 0, 0},
        {"sip:bob@EXAMPLE.com", 0, 1, 0},         /* a --domain, any port */
        {"sip:bob@example.com:9999", 0, 1, 0},
        {"sip:bob@example.net", 0, 0, 0},
        {"sip:bob@192.0.2.1", 0, 0, 0},
        {"sip:127.0.0.1:25080", 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        osip_uri_t *u = NULL;
        CU_ASSERT_FATAL(osip_uri_init(&u) == 0 && osip_uri_parse(u, cases[i].uri) == 0);
        int me = uri_is_me(&with_domain, u), od = uri_is_ours(&with_domain, u),
            on = uri_is_ours(&without_domain, u);
        if (me != cases[i].me || od != cases[i].ours_with_domain || on != cases[i].ours_without_domain) {
            fprintf(stderr, "\n  %s: me %d ours(--domain) %d ours(none) %d\n", cases[i].uri, me, od, on);
            CU_FAIL(cases[i].uri);
        }
        osip_uri_free(u);
    }
}

static osip_message_t *request(const char *method, const char *ruri, const char *extra)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "%s %s SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKc\r\n"
             "%s"
             "Max-Forwards: 70\r\n"
             "From: <sip:alice@127.0.0.1>;tag=f\r\n"
             "Call-ID: c1\r\n"
             "CSeq: 1 %s\r\n"
             "Content-Length: 0\r\n\r\n",
             method, ruri, extra, method);
    return sip_parse(buf, strlen(buf));
}

static void test_classify_table(void)
{
    static const struct {
        const char *method, *ruri, *extra;
        int domain; /* classified with --domain example.com */
        enum sip_method_id id;
        const char *event;
        int has_to_tag, is_ours, routed_away;
    } cases[] = {
        {"REGISTER", "sip:127.0.0.1", "To: <sip:alice@127.0.0.1>\r\n", 0, SIP_M_REGISTER, "", 0, 1, 0},
        {"REGISTER", "sip:example.org", "To: <sip:a@example.org>\r\n", 0, SIP_M_REGISTER, "", 0, 1, 0},
        {"REGISTER", "sip:127.0.0.1:5070", "To: <sip:a@127.0.0.1>\r\n", 0, SIP_M_REGISTER, "", 0, 0, 0},
        {"REGISTER", "sip:example.org", "To: <sip:a@example.org>\r\n", 1, SIP_M_REGISTER, "", 0, 0, 0},
        {"MESSAGE", "sip:svc@127.0.0.1:31738", "To: <sip:svc@127.0.0.1>\r\n", 0, SIP_M_MESSAGE, "", 0, 0, 0},
        {"MESSAGE", "sip:bob@127.0.0.1", "To: <sip:bob@127.0.0.1>\r\n", 0, SIP_M_MESSAGE, "", 0, 1, 0},
        {"MESSAGE", "sip:bob@127.0.0.1", "To: <sip:bob@127.0.0.1>\r\nEvent: im\r\n", 0, SIP_M_MESSAGE, "",
         0, 1, 0}, /* Event is read for SUBSCRIBE and PUBLISH only */
        {"PUBLISH", "sip:t@example.com", "To: <sip:t@example.com>\r\nEvent: im\r\n", 1, SIP_M_PUBLISH, "im",
         0, 1, 0},
        {"SUBSCRIBE", "sip:t@example.com", "To: <sip:t@example.com>\r\nEvent: IM;since=3\r\n", 1,
         SIP_M_SUBSCRIBE, "IM", 0, 1, 0},
        {"SUBSCRIBE", "sip:t@example.com", "To: <sip:t@example.com>;tag=x\r\no: presence\r\n", 1,
         SIP_M_SUBSCRIBE, "presence", 1, 1, 0},
        {"INVITE", "sip:bob@example.com", "To: <sip:bob@example.com>\r\nRoute: <sip:127.0.0.1:25080;lr>\r\n",
         1, SIP_M_INVITE, "", 0, 1, 0},
        {"INVITE", "sip:bob@example.com", "To: <sip:bob@example.com>\r\nRoute: <sip:192.0.2.9;lr>\r\n",
         1, SIP_M_INVITE, "", 0, 1, 1},
        {"BYE", "sip:bob@192.0.2.7", "To: <sip:bob@example.com>;tag=t\r\n", 1, SIP_M_OTHER, "", 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        osip_message_t *m = request(cases[i].method, cases[i].ruri, cases[i].extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        struct sip_req_class c;
        sip_classify(cases[i].domain ? &with_domain : &without_domain, m, &c);
        int ok = c.method == cases[i].id && c.has_to_tag == cases[i].has_to_tag &&
                 c.is_ours == cases[i].is_ours && c.routed_away == cases[i].routed_away &&
                 c.event.type_len == strlen(cases[i].event) &&
                 strncmp(c.event.type, cases[i].event, c.event.type_len) == 0;
        if (!ok) {
            fprintf(stderr, "\n  case %zu %s %s: method %d to-tag %d ours %d away %d event %.*s\n", i,
                    cases[i].method, cases[i].ruri, c.method, c.has_to_tag, c.is_ours, c.routed_away,
                    (int)c.event.type_len, c.event.type);
            CU_FAIL(cases[i].ruri);
        }
        osip_message_free(m);
    }
}

static void test_event_is(void)
{
    struct sip_event ev = {.value = "Im ;id=1", .type = "Im ;id=1", .type_len = 2, .params = " ;id=1"};
    CU_ASSERT_TRUE(sip_event_is(&ev, "im"));
    CU_ASSERT_FALSE(sip_event_is(&ev, "imx"));
    CU_ASSERT_FALSE(sip_event_is(&ev, "presence"));
}

static void test_uri_equal_table(void)
{
    static const struct {
        const char *a, *b;
        int eq;
    } cases[] = {
        {"sip:a@EXAMPLE.com", "sip:a@example.com", 1},
        {"sip:A@example.com", "sip:a@example.com", 0},
        {"sip:a@example.com:5060", "sip:a@example.com", 0},
        {"sip:a@h;transport=tcp", "sip:a@h", 0},
        {"sip:a@h;transport=TCP", "sip:a@h;transport=tcp", 1},
        {"sip:a@h;foo=1", "sip:a@h", 1},
        {"SIP:a@h", "sip:a@h", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (uri_equal(cases[i].a, cases[i].b) != cases[i].eq)
            CU_FAIL(cases[i].a);
}

static void test_delta_seconds_table(void)
{
    static const struct {
        const char *s;
        int v;
    } cases[] = {
        {"0", 0}, {"3600", 3600}, {" 60 ", 60}, {"\t7\t", 7}, {"2147483647", 2147483647},
        {"99999999999999", 2147483647}, {"", -1}, {" ", -1}, {"-1", -1}, {"1x", -1}, {"1 2", -1},
        {"+5", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (sip_delta_seconds(cases[i].s, strlen(cases[i].s)) != cases[i].v)
            CU_FAIL(cases[i].s);
    CU_ASSERT_EQUAL(sip_delta_seconds("42junk", 2), 42); /* length-bounded */
}

static void test_http_date(void)
{
    char buf[64];
    sip_http_date(0, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
    sip_http_date(1000000000, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "Sun, 09 Sep 2001 01:46:40 GMT");
}

static void test_instance_table(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"\"<urn:uuid:1>\"", "urn:uuid:1"}, {"<urn:uuid:2>", "urn:uuid:2"}, {"urn:x", "urn:x"},
        {"\"\"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *start;
        size_t n = sip_instance_trim(cases[i].in, &start);
        if (n != strlen(cases[i].out) || strncmp(start, cases[i].out, n) != 0)
            CU_FAIL(cases[i].in);
    }
    osip_message_t *m = request("SUBSCRIBE", "sip:t@example.com",
                                "To: <sip:t@example.com>\r\n"
                                "Contact: <sip:a@192.0.2.1>;+sip.instance=\"<urn:uuid:abc>\"\r\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    char buf[64], small[5];
    sip_contact_instance(m, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "urn:uuid:abc");
    sip_contact_instance(m, small, sizeof small);
    CU_ASSERT_STRING_EQUAL(small, "urn:");
    osip_message_free(m);
}

void register_uri_suites(void)
{
    sip_msg_init();
    CU_pSuite s = CU_add_suite("uri", NULL, NULL);
    CU_add_test(s, "which URIs are ours, with and without --domain (table)", test_uri_is_ours_table);
    CU_add_test(s, "a request is classified once (table)", test_classify_table);
    CU_add_test(s, "event package names compare case-insensitively", test_event_is);
    CU_add_test(s, "URI equality per RFC 3261 19.1.4 (table)", test_uri_equal_table);
    CU_add_test(s, "delta-seconds (table)", test_delta_seconds_table);
    CU_add_test(s, "HTTP-date", test_http_date);
    CU_add_test(s, "+sip.instance values (table)", test_instance_table);
}
