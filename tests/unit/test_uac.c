/* test_uac.c - notifier dialogs and requests we originate: the dialog taken from a SUBSCRIBE,
 * refresh rules, and the NOTIFY / MESSAGE text parsing back to what RFC 3261 §12 requires. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <string.h>

#include "base/loop.h"
#include "base/sbuf.h"
#include "sip/msg.h"
#include "sip/subdialog.h"
#include "sip/uac.h"
#include "loop_fixture.h"
#include "suites.h"

static const char subscribe_rr[] =
    "SUBSCRIBE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP 10.0.0.2:5060;branch=z9hG4bKedge\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKa;rport\r\n"
    "Record-Route: <sip:10.0.0.2:5060;lr>\r\n"
    "Record-Route: <sip:10.0.0.3;lr>\r\n"
    "Max-Forwards: 69\r\n"
    "From: \"Bob\" <sip:bob@example.com>;tag=ft1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: cid-1@host\r\n"
    "CSeq: 7 SUBSCRIBE\r\n"
    "Contact: <sip:bob@10.0.0.1:5062>;+sip.instance=\"<urn:uuid:1>\"\r\n"
    "Event: im ; id = abc;since=3\r\n"
    "Expires: 600\r\n"
    "Content-Length: 0\r\n\r\n";

static const char subscribe_plain[] =
    "SUBSCRIBE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP 10.0.0.1:5062;branch=z9hG4bKb\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:bob@example.com>;tag=ft2\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: cid-2\r\n"
    "CSeq: 1 SUBSCRIBE\r\n"
    "Contact: <sip:bob@10.0.0.1:5062;transport=tcp>\r\n"
    "Event: im\r\n"
    "Content-Length: 0\r\n\r\n";

/* The transaction layer and transport a NOTIFY is sent through (nothing listens for answers). */
static void fix_setup(struct loop_fixture *f)
{
    struct loop_fixture_config cfg = {.t1_ms = 500, .t2_ms = 4000, .t4_ms = 5000, .listen_udp = true};
    CU_ASSERT_EQUAL_FATAL(loop_fixture_open(f, &cfg), 0);
}

static struct sip_source udp_src(const char *ip, int port)
{
    struct sip_source s;
    memset(&s, 0, sizeof s);
    s.proto = SIP_PROTO_UDP;
    s.udp_fd = -1;
    sockaddr_from_host_port(ip, strlen(ip), port, &s.peer, &s.peerlen);
    return s;
}

static void test_dialog_from_subscribe_takes_tags_target_route_set_and_id(void)
{
    osip_message_t *m = sip_parse(subscribe_rr, sizeof subscribe_rr - 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    struct sip_source src = udp_src("10.0.0.2", 5060);
    struct sub_dialog d;
    CU_ASSERT_EQUAL_FATAL(sub_dialog_init(&d, m, &src, "ourtag"), 0);
    CU_ASSERT_STRING_EQUAL(d.call_id, "cid-1@host");
    CU_ASSERT_STRING_EQUAL(d.local_tag, "ourtag");
    CU_ASSERT_STRING_EQUAL(d.remote_tag, "ft1");
    CU_ASSERT_STRING_EQUAL(d.local_uri, "sip:bob@example.com");
    CU_ASSERT_STRING_EQUAL(d.remote_uri, "sip:bob@example.com");
    CU_ASSERT_STRING_EQUAL(d.remote_target, "sip:bob@10.0.0.1:5062");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d.route_set);
    CU_ASSERT_PTR_NOT_NULL(strstr(d.route_set, "<sip:10.0.0.2:5060;lr>"));
    CU_ASSERT(strstr(d.route_set, "10.0.0.2") < strstr(d.route_set, "10.0.0.3"));
    CU_ASSERT_STRING_EQUAL(d.event_id, "abc");
    CU_ASSERT_EQUAL(d.remote_cseq, 7);
    CU_ASSERT_EQUAL(d.is_datagram, 1); /* bottom Via is the device's: UDP */
    /* the key of an in-dialog request from the subscriber matches */
    char k1[512], k2[512];
    osip_message_t *r = sip_parse(subscribe_rr, sizeof subscribe_rr - 1);
    osip_to_set_tag(r->to, osip_strdup("ourtag"));
    CU_ASSERT_EQUAL(sub_dialog_key(&d, k1, sizeof k1), 0);
    CU_ASSERT_EQUAL(sub_dialog_key_of_request(r, k2, sizeof k2), 0);
    CU_ASSERT_STRING_EQUAL(k1, k2);
    /* without a To tag there is no dialog */
    CU_ASSERT_EQUAL(sub_dialog_key_of_request(m, k2, sizeof k2), -1);
    osip_message_free(r);
    sub_dialog_clear(&d);
    osip_message_free(m);
}

static void test_dialog_needs_a_from_tag_and_one_contact(void)
{
    char buf[sizeof subscribe_plain + 16];
    strcpy(buf, subscribe_plain);
    char *tag = strstr(buf, ";tag=ft2");
    memmove(tag, tag + 8, strlen(tag + 8) + 1);
    osip_message_t *m = sip_parse(buf, strlen(buf));
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    struct sip_source src = udp_src("10.0.0.1", 5062);
    struct sub_dialog d;
    CU_ASSERT_EQUAL(sub_dialog_init(&d, m, &src, "t"), 400);
    osip_message_free(m);
}

static void test_refresh_needs_a_higher_cseq_and_moves_target_and_flow(void)
{
    osip_message_t *m = sip_parse(subscribe_plain, sizeof subscribe_plain - 1);
    struct sip_source src = udp_src("10.0.0.1", 5062);
    struct sub_dialog d;
    CU_ASSERT_EQUAL_FATAL(sub_dialog_init(&d, m, &src, "t"), 0);
    CU_ASSERT_PTR_NULL(d.route_set);
    CU_ASSERT_EQUAL(d.is_datagram, 0);
    CU_ASSERT_EQUAL(sub_dialog_refresh(&d, m, &src), 500); /* same CSeq */
    osip_free(m->cseq->number);
    m->cseq->number = osip_strdup("2");
    osip_contact_t *c = osip_list_get(&m->contacts, 0);
    osip_free(c->url->host);
    c->url->host = osip_strdup("10.0.0.9");
    struct sip_source src2 = udp_src("10.0.0.9", 6000);
    CU_ASSERT_EQUAL(sub_dialog_refresh(&d, m, &src2), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(d.remote_target, "10.0.0.9"));
    CU_ASSERT_EQUAL(sockaddr_port(&d.flow.peer), 6000);
    CU_ASSERT_EQUAL(d.remote_cseq, 2);
    sub_dialog_clear(&d);
    osip_message_free(m);
}

static void test_notify_follows_the_dialog(void)
{
    struct loop_fixture f;
    fix_setup(&f);
    osip_message_t *m = sip_parse(subscribe_rr, sizeof subscribe_rr - 1);
    struct sip_source src = udp_src("10.0.0.2", 5060);
    struct sub_dialog d;
    CU_ASSERT_EQUAL_FATAL(sub_dialog_init(&d, m, &src, "ourtag"), 0);
    struct notify_params np = {.event = "im;last-seq=4;first-seq=1", .sub_state = "active;expires=599",
                               .content_type = "message/cpim", .body = "a\0b", .body_len = 3};
    struct sbuf out;
    sbuf_init(&out);
    char branch[48];
    CU_ASSERT_EQUAL_FATAL(sub_dialog_render_notify(f.tp, &d, &np, &out, branch, sizeof branch), 0);
    osip_message_t *n = sip_parse(out.p, out.len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT_STRING_EQUAL(n->sip_method, "NOTIFY");
    char *ruri = NULL;
    osip_uri_to_str(n->req_uri, &ruri);
    CU_ASSERT_STRING_EQUAL(ruri, "sip:bob@10.0.0.1:5062");
    osip_free(ruri);
    CU_ASSERT_EQUAL(osip_list_size(&n->routes), 2);
    osip_generic_param_t *tag = NULL;
    osip_from_get_tag(n->from, &tag);
    CU_ASSERT_STRING_EQUAL(tag->gvalue, "ourtag");
    osip_to_get_tag(n->to, &tag);
    CU_ASSERT_STRING_EQUAL(tag->gvalue, "ft1");
    CU_ASSERT_STRING_EQUAL(n->cseq->number, "1");
    CU_ASSERT_STRING_EQUAL(sip_header_get(n, "event", 0), "im;last-seq=4;first-seq=1;id=abc");
    CU_ASSERT_STRING_EQUAL(sip_header_get(n, "subscription-state", 0), "active;expires=599");
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, "Content-Length: 3\r\n\r\na"));
    CU_ASSERT_EQUAL(memcmp(out.p + out.len - 3, "a\0b", 3), 0);
    osip_via_t *via = osip_list_get(&n->vias, 0);
    osip_generic_param_t *br = NULL;
    osip_via_param_get_byname(via, "branch", &br);
    CU_ASSERT_STRING_EQUAL(br->gvalue, branch);
    osip_message_free(n);
    /* CSeq grows per NOTIFY */
    CU_ASSERT_EQUAL(sub_dialog_render_notify(f.tp, &d, &np, &out, branch, sizeof branch), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, "CSeq: 2 NOTIFY\r\n"));
    sbuf_free(&out);
    sub_dialog_clear(&d);
    osip_message_free(m);
    loop_fixture_close(&f);
}

static void test_notify_never_reopens_a_closed_tcp_flow(void)
{
    struct loop_fixture f;
    fix_setup(&f);
    osip_message_t *m = sip_parse(subscribe_plain, sizeof subscribe_plain - 1);
    struct sip_source src = udp_src("10.0.0.1", 5062);
    src.proto = SIP_PROTO_TCP;
    src.conn_id = 424242; /* no such connection */
    struct sub_dialog d;
    CU_ASSERT_EQUAL_FATAL(sub_dialog_init(&d, m, &src, "t"), 0);
    CU_ASSERT_EQUAL(sub_dialog_flow_alive(f.tp, &d), 0);
    struct notify_params np = {.event = "im", .sub_state = "active;expires=1"};
    int err = 0;
    CU_ASSERT_PTR_NULL(sub_dialog_notify(f.tl, f.tp, &d, &np, NULL, NULL, &err));
    CU_ASSERT_EQUAL(err, -ENOTCONN);
    sub_dialog_clear(&d);
    osip_message_free(m);
    loop_fixture_close(&f);
}

static void test_uri_dest_reads_host_port_and_transport(void)
{
    struct sip_source d;
    CU_ASSERT_EQUAL(uac_uri_dest("<sip:127.0.0.1:5070;lr;transport=TCP>", &d), 0);
    CU_ASSERT_EQUAL(d.proto, SIP_PROTO_TCP);
    CU_ASSERT_EQUAL(sockaddr_port(&d.peer), 5070);
    CU_ASSERT_EQUAL(uac_uri_dest("sip:bob@[::1]", &d), 0);
    CU_ASSERT_EQUAL(d.proto, SIP_PROTO_UDP);
    CU_ASSERT_EQUAL(sockaddr_port(&d.peer), 5060);
    CU_ASSERT_EQUAL(uac_uri_dest("sip:bob@example.com", &d), -1); /* not numeric */
    CU_ASSERT_EQUAL(uac_uri_dest("<sip:broken", &d), -1);
}

void register_uac_suites(void)
{
    CU_pSuite s = CU_add_suite("uac", NULL, NULL);
    CU_add_test(s, "dialog from SUBSCRIBE: tags, target, route set, id", test_dialog_from_subscribe_takes_tags_target_route_set_and_id);
    CU_add_test(s, "dialog needs From tag and one Contact", test_dialog_needs_a_from_tag_and_one_contact);
    CU_add_test(s, "refresh: higher CSeq, new target and flow", test_refresh_needs_a_higher_cseq_and_moves_target_and_flow);
    CU_add_test(s, "NOTIFY follows the dialog", test_notify_follows_the_dialog);
    CU_add_test(s, "NOTIFY never re-opens a closed TCP flow", test_notify_never_reopens_a_closed_tcp_flow);
    CU_add_test(s, "URI destination: host, port, transport", test_uri_dest_reads_host_port_and_transport);
}
