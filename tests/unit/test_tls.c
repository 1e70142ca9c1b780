/* test_tls.c - what SIP over TLS adds outside the handshake itself (which the integration tests
 * t_tls_*.sh drive with real clients): tls: endpoints, transport names and parameters, sips: and
 * transport=tls URIs as next hops (TLS, port 5061), only-TLS targets for a sips: request, TLS
 * flow tokens, and start-up errors for credentials that do not load. Cases as tables. */
#include <CUnit/CUnit.h>
#include <osipparser2/osip_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/flow.h"
#include "roles/proxy/route.h"
#include "sip/msg.h"
#include "sip/uac.h"
#include "suites.h"
#include "transport/addr.h"
#include "transport/tls.h"

static void test_endpoint_parse_table(void)
{
    static const struct {
        const char *text;
        int ok, proto, port;
    } cases[] = {
        {"tls:127.0.0.1:5061", 1, SIP_PROTO_TLS, 5061},
        {"tls:127.0.0.1:15061", 1, SIP_PROTO_TLS, 15061},
        {"tls:127.0.0.1", 1, SIP_PROTO_TLS, 5061}, /* the TLS default port */
        {"tls:[::1]", 1, SIP_PROTO_TLS, 5061},
        {"tls:[::1]:5071", 1, SIP_PROTO_TLS, 5071},
        {"tcp:127.0.0.1:5060", 1, SIP_PROTO_TCP, 5060},
        {"tcp:127.0.0.1", 0, 0, 0}, /* only tls has a default */
        {"tls:", 0, 0, 0},
        {"tls:example.com:5061", 0, 0, 0}, /* numeric only */
        {"dtls:127.0.0.1:5061", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sip_endpoint ep;
        int ok = sip_endpoint_parse(cases[i].text, &ep) == 0;
        if (ok != cases[i].ok || (ok && ((int)ep.proto != cases[i].proto ||
                                         sockaddr_port(&ep.addr) != cases[i].port))) {
            fprintf(stderr, "\n  %s: ok %d\n", cases[i].text, ok);
            CU_FAIL(cases[i].text);
        }
    }
}

static void test_proto_names(void)
{
    CU_ASSERT_STRING_EQUAL(sip_proto_name(SIP_PROTO_TLS), "tls");
    CU_ASSERT_STRING_EQUAL(sip_proto_via_name(SIP_PROTO_TLS), "TLS");
    CU_ASSERT_STRING_EQUAL(sip_proto_uri_param(SIP_PROTO_TLS), ";transport=tls");
    CU_ASSERT_STRING_EQUAL(sip_proto_uri_param(SIP_PROTO_TCP), ";transport=tcp");
    CU_ASSERT_STRING_EQUAL(sip_proto_uri_param(SIP_PROTO_UDP), "");
    CU_ASSERT_EQUAL(sip_proto_from_param("TLS"), SIP_PROTO_TLS);
    CU_ASSERT_EQUAL(sip_proto_from_param("tcp"), SIP_PROTO_TCP);
    CU_ASSERT_EQUAL(sip_proto_from_param("udp"), SIP_PROTO_UDP);
    CU_ASSERT_EQUAL(sip_proto_from_param("sctp"), -1);
    CU_ASSERT_EQUAL(sip_proto_from_param(NULL), -1);
    CU_ASSERT_TRUE(sip_proto_is_stream(SIP_PROTO_TLS));
    CU_ASSERT_TRUE(sip_proto_is_stream(SIP_PROTO_TCP));
    CU_ASSERT_FALSE(sip_proto_is_stream(SIP_PROTO_UDP));
    CU_ASSERT_EQUAL(sip_proto_default_port(SIP_PROTO_TLS), 5061);
    CU_ASSERT_EQUAL(sip_proto_default_port(SIP_PROTO_TCP), 5060);
}

/* A URI as a next hop: the transport and port it means (RFC 3261 §19.1.2, §26.2). */
static void test_uri_next_hop_table(void)
{
    static const struct {
        const char *uri;
        int proto, port;
    } cases[] = {
        {"sips:bob@127.0.0.1", SIP_PROTO_TLS, 5061},
        {"sips:bob@127.0.0.1:5081", SIP_PROTO_TLS, 5081},
        {"sips:bob@127.0.0.1;transport=tcp", SIP_PROTO_TLS, 5061}, /* sips wins */
        {"sip:bob@127.0.0.1;transport=tls", SIP_PROTO_TLS, 5061},
        {"sip:bob@127.0.0.1;transport=TLS", SIP_PROTO_TLS, 5061},
        {"sip:bob@127.0.0.1;transport=tcp", SIP_PROTO_TCP, 5060},
        {"sip:bob@127.0.0.1", SIP_PROTO_UDP, 5060},
        {"<sips:127.0.0.1;lr>", SIP_PROTO_TLS, 5061},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sip_source dst;
        int rc = uac_uri_dest(cases[i].uri, &dst);
        if (rc != 0 || (int)dst.proto != cases[i].proto || sockaddr_port(&dst.peer) != cases[i].port) {
            fprintf(stderr, "\n  %s: rc %d proto %d port %d\n", cases[i].uri, rc, (int)dst.proto,
                    sockaddr_port(&dst.peer));
            CU_FAIL(cases[i].uri);
        }
    }
}

static void test_route_hop_sips(void)
{
    osip_uri_t *u = NULL;
    char host[64];
    int port, proto;
    CU_ASSERT_FATAL(osip_uri_init(&u) == 0 && osip_uri_parse(u, "sips:proxy@127.0.0.1;lr") == 0);
    CU_ASSERT_EQUAL(route_uri_hop(u, host, sizeof host, &port, &proto), 0);
    CU_ASSERT_EQUAL(proto, SIP_PROTO_TLS);
    CU_ASSERT_TRUE(route_uri_is_sips(u));
    osip_uri_free(u);
    CU_ASSERT_FATAL(osip_uri_init(&u) == 0 && osip_uri_parse(u, "sip:p@127.0.0.1;transport=tls") == 0);
    CU_ASSERT_EQUAL(route_uri_hop(u, host, sizeof host, &port, &proto), 0);
    CU_ASSERT_EQUAL(proto, SIP_PROTO_TLS);
    CU_ASSERT_FALSE(route_uri_is_sips(u));
    osip_uri_free(u);
}

/* A sips: request goes to TLS targets only; the others are dropped (and freed). */
static void test_keep_tls_targets(void)
{
    struct target t[4] = {
        {.uri = strdup("sip:a@192.0.2.1"), .dst = {.proto = SIP_PROTO_UDP}},
        {.uri = strdup("sips:b@192.0.2.2"), .dst = {.proto = SIP_PROTO_TLS}},
        {.uri = strdup("sip:c@192.0.2.3;transport=tcp"), .path = strdup("<sip:p;lr>"),
         .dst = {.proto = SIP_PROTO_TCP}},
        {.uri = strdup("sip:d@192.0.2.4;transport=tls"), .dst = {.proto = SIP_PROTO_TLS}},
    };
    size_t n = 4;
    CU_ASSERT_EQUAL(route_targets_keep_tls(t, &n), 2);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_STRING_EQUAL(t[0].uri, "sips:b@192.0.2.2");
    CU_ASSERT_STRING_EQUAL(t[1].uri, "sip:d@192.0.2.4;transport=tls");
    free(t[0].uri);
    free(t[1].uri);
    struct target u[1] = {{.uri = strdup("sip:a@192.0.2.1"), .dst = {.proto = SIP_PROTO_TCP}}};
    n = 1;
    CU_ASSERT_EQUAL(route_targets_keep_tls(u, &n), 0); /* -> 480 */
}

/* The balancer's flow token keeps TLS apart from TCP. */
static void test_flow_token_tls(void)
{
    struct sip_source src = {.proto = SIP_PROTO_TLS, .conn_id = 42}, back;
    socklen_t l;
    CU_ASSERT_FATAL(sockaddr_from_host_port("192.0.2.7", 9, 5071, &src.peer, &l) == 0);
    src.peerlen = l;
    char tok[128];
    CU_ASSERT_FATAL(flow_encode(&src, tok, sizeof tok) == 0);
    CU_ASSERT_EQUAL(tok[0], 's');
    CU_ASSERT_FATAL(flow_decode(tok, &back) == 0);
    CU_ASSERT_EQUAL(back.proto, SIP_PROTO_TLS);
    CU_ASSERT_EQUAL(back.conn_id, 42);
    CU_ASSERT_EQUAL(sockaddr_port(&back.peer), 5071);
    CU_ASSERT_TRUE(flow_same(&back, &src));
    src.proto = SIP_PROTO_TCP;
    CU_ASSERT_FALSE(flow_same(&back, &src));
}

/* Credentials that do not load stop the start with the file named. */
static void test_ctx_errors(void)
{
    char err[1024];
    struct tls_config c = {.cert_file = "/nonexistent/cert.pem", .key_file = "/nonexistent/key.pem",
                           .handshake_timeout_ms = 1000, .max_handshakes = 1};
    CU_ASSERT_PTR_NULL(tls_ctx_create(&c, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/cert.pem"));
    struct tls_config none = {.cert_file = "", .key_file = ""};
    CU_ASSERT_PTR_NULL(tls_ctx_create(&none, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "tls.cert and tls.key"));
    /* a file that is not PEM */
    char path[] = "/tmp/sipd-test-tls-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, "not a certificate\n", 18) == 18);
    close(fd);
    struct tls_config bad = {.cert_file = path, .key_file = path};
    CU_ASSERT_PTR_NULL(tls_ctx_create(&bad, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    unlink(path);
}

void register_tls_suites(void)
{
    sip_msg_init();
    CU_pSuite s = CU_add_suite("tls", NULL, NULL);
    CU_add_test(s, "tls: endpoints, with and without a port (table)", test_endpoint_parse_table);
    CU_add_test(s, "transport names, URI parameters and default ports", test_proto_names);
    CU_add_test(s, "sips: and transport=tls URIs are TLS next hops on 5061 (table)", test_uri_next_hop_table);
    CU_add_test(s, "a sips: Route is a TLS hop", test_route_hop_sips);
    CU_add_test(s, "a sips: request keeps only the targets reached over TLS", test_keep_tls_targets);
    CU_add_test(s, "a TLS flow token decodes to TLS, never to TCP", test_flow_token_tls);
    CU_add_test(s, "credentials that do not load are an error naming the file", test_ctx_errors);
}
