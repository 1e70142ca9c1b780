/* test_rewrite.c - forwarding by textual edits: what comes out parses to what a proxy must send. */
#include <CUnit/CUnit.h>
#include <string.h>

#include "base/sbuf.h"
#include "sip/msg.h"
#include "sip/rewrite.h"
#include "suites.h"

static const char invite[] =
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKz\r\n"
    "Via: SIP/2.0/TCP 10.0.0.8;branch=z9hG4bKy\r\n"
    "Route: <sip:127.0.0.1:5060;lr>, <sip:proxy2.example.com;lr>\r\n"
    "Route: <sip:proxy3.example.com;lr>\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"A, B\" <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Subject: a folded\r\n header line\r\n"
    "Call-ID: c1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 5\r\n"
    "\r\n"
    "hello";

static osip_message_t *parse_sbuf(const struct sbuf *b) { return sip_parse(b->p, b->len); }

static void test_rewrite_request_edits(void)
{
    struct sbuf out;
    sbuf_init(&out);
    struct fwd_edit e = {
        .new_ruri = "sip:bob@192.0.2.5:5070",
        .prepend = "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKnew;rport\r\n"
                   "Record-Route: <sip:127.0.0.1:5060;lr>\r\n",
        .top_via_value = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport=5060;received=10.0.0.1",
        .drop_routes = 1,
        .max_forwards = 69,
    };
    CU_ASSERT_EQUAL_FATAL(sip_rewrite_request(invite, strlen(invite), &e, &out), 0);
    osip_message_t *m = parse_sbuf(&out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    char *ruri = NULL;
    osip_uri_to_str(m->req_uri, &ruri);
    CU_ASSERT_STRING_EQUAL(ruri, "sip:bob@192.0.2.5:5070");
    osip_free(ruri);
    CU_ASSERT_EQUAL(osip_list_size(&m->vias), 4);
    osip_via_t *v0 = osip_list_get(&m->vias, 0), *v1 = osip_list_get(&m->vias, 1),
               *v2 = osip_list_get(&m->vias, 2);
    osip_generic_param_t *p = NULL;
    osip_via_param_get_byname(v0, "branch", &p);
    CU_ASSERT_STRING_EQUAL(p->gvalue, "z9hG4bKnew");
    p = NULL;
    osip_via_param_get_byname(v1, "received", &p);
    CU_ASSERT_PTR_NOT_NULL(p);
    p = NULL;
    osip_via_param_get_byname(v2, "branch", &p);
    CU_ASSERT_STRING_EQUAL(p->gvalue, "z9hG4bKz");
    CU_ASSERT_EQUAL(osip_list_size(&m->routes), 2); /* ours dropped, the rest in order */
    osip_route_t *r0 = osip_list_get(&m->routes, 0);
    CU_ASSERT_STRING_EQUAL(r0->url->host, "proxy2.example.com");
    CU_ASSERT_EQUAL(osip_list_size(&m->record_routes), 1);
    CU_ASSERT_STRING_EQUAL(sip_header_get(m, "max-forwards", 0), "69");
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, "\r\n\r\nhello"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, "Subject: a folded\r\n header line\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, "\"A, B\" <sip:alice@example.com>"));
    osip_message_free(m);
    sbuf_free(&out);
}

static void test_rewrite_drops_a_whole_route_line(void)
{
    struct sbuf out;
    sbuf_init(&out);
    struct fwd_edit e = {.drop_routes = 2, .max_forwards = -1};
    CU_ASSERT_EQUAL_FATAL(sip_rewrite_request(invite, strlen(invite), &e, &out), 0);
    CU_ASSERT_PTR_NULL(strstr(out.p, "proxy2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, "Route: <sip:proxy3.example.com;lr>\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, "Max-Forwards: 70\r\n"));
    sbuf_free(&out);
}

/* Strict routing as edits: the last Route value removed (it became the Request-URI) and the
 * old Request-URI appended after the last Route line. */
static void test_rewrite_drops_the_last_route_and_appends_one(void)
{
    struct sbuf out;
    sbuf_init(&out);
    struct fwd_edit e = {.drop_routes = 1, .drop_last_route = 1,
                         .append_route = "<sip:bob@example.com>", .max_forwards = -1};
    CU_ASSERT_EQUAL_FATAL(sip_rewrite_request(invite, strlen(invite), &e, &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, "Route: <sip:proxy2.example.com;lr>\r\n"
                                         "Route: <sip:bob@example.com>\r\nMax-Forwards: 70\r\n"));
    CU_ASSERT_PTR_NULL(strstr(out.p, "proxy3"));
    CU_ASSERT_PTR_NULL(strstr(out.p, "127.0.0.1"));
    sbuf_reset(&out);
    /* the last value in the middle of a line; nothing dropped from the top */
    const char *one = "INVITE sip:a@b SIP/2.0\r\nRoute: <sip:x;lr>,\r\n <sip:y>\r\nCall-ID: c\r\n\r\n";
    struct fwd_edit last = {.drop_last_route = 1, .max_forwards = -1};
    CU_ASSERT_EQUAL_FATAL(sip_rewrite_request(one, strlen(one), &last, &out), 0);
    CU_ASSERT_STRING_EQUAL(out.p, "INVITE sip:a@b SIP/2.0\r\nRoute: <sip:x;lr>\r\nCall-ID: c\r\n\r\n");
    sbuf_reset(&out);
    /* every value dropped: the appended Route takes the place of the last line */
    struct fwd_edit all = {.drop_routes = 1, .drop_last_route = 1, .append_route = "<sip:z>",
                           .max_forwards = -1};
    CU_ASSERT_EQUAL_FATAL(sip_rewrite_request(one, strlen(one), &all, &out), 0);
    CU_ASSERT_STRING_EQUAL(out.p, "INVITE sip:a@b SIP/2.0\r\nRoute: <sip:z>\r\nCall-ID: c\r\n\r\n");
    sbuf_free(&out);
}

static void test_rewrite_pop_via_of_a_response(void)
{
    const char *resp = "SIP/2.0 180 Ringing\r\n"
                       "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKours, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\n"
                       "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb\r\n"
                       "From: <sip:a@e>;tag=1\r\nTo: <sip:b@e>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
                       "Content-Length: 0\r\n\r\n";
    struct sbuf out;
    sbuf_init(&out);
    CU_ASSERT_EQUAL_FATAL(sip_rewrite_pop_via(resp, strlen(resp), &out), 0);
    osip_message_t *m = parse_sbuf(&out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(osip_list_size(&m->vias), 2);
    osip_via_t *v0 = osip_list_get(&m->vias, 0);
    CU_ASSERT_STRING_EQUAL(v0->host, "10.0.0.1");
    osip_message_free(m);
    sbuf_reset(&out);
    const char *one = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\n"
                      "v: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb\r\nCall-ID: c\r\n\r\n";
    CU_ASSERT_EQUAL_FATAL(sip_rewrite_pop_via(one, strlen(one), &out), 0);
    CU_ASSERT_STRING_EQUAL(out.p, "SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb\r\nCall-ID: c\r\n\r\n");
    sbuf_free(&out);
}

static void test_rewrite_refuses_what_it_cannot_delimit(void)
{
    struct sbuf out;
    sbuf_init(&out);
    struct fwd_edit e = {.max_forwards = -1};
    const char *nohdr = "INVITE sip:a SIP/2.0\r\nno colon here\r\n\r\n";
    CU_ASSERT_EQUAL(sip_rewrite_request(nohdr, strlen(nohdr), &e, &out), -1);
    sbuf_reset(&out);
    const char *unterminated = "INVITE sip:a SIP/2.0\r\nVia: x";
    CU_ASSERT_EQUAL(sip_rewrite_request(unterminated, strlen(unterminated), &e, &out), -1);
    sbuf_free(&out);
}

/* A datagram whose header section ends with its last line, without the blank line (oSIP takes
 * it): the copy gets the blank line, a request and a response alike. */
static void test_rewrite_adds_a_missing_blank_line(void)
{
    struct sbuf out;
    sbuf_init(&out);
    struct fwd_edit e = {.prepend = "Via: SIP/2.0/UDP p;branch=z9hG4bKp\r\n", .max_forwards = 69};
    const char *noend = "MESSAGE sip:a SIP/2.0\r\nVia: x\r\nMax-Forwards: 70\r\n";
    CU_ASSERT_EQUAL_FATAL(sip_rewrite_request(noend, strlen(noend), &e, &out), 0);
    CU_ASSERT_STRING_EQUAL(out.p, "MESSAGE sip:a SIP/2.0\r\nVia: SIP/2.0/UDP p;branch=z9hG4bKp\r\n"
                                  "Via: x\r\nMax-Forwards: 69\r\n\r\n");
    sbuf_reset(&out);
    const char *resp = "SIP/2.0 200 OK\r\nVia: p, x\r\nCall-ID: c\r\n";
    CU_ASSERT_EQUAL_FATAL(sip_rewrite_pop_via(resp, strlen(resp), &out), 0);
    CU_ASSERT_STRING_EQUAL(out.p, "SIP/2.0 200 OK\r\nVia: x\r\nCall-ID: c\r\n\r\n");
    sbuf_free(&out);
}

/* ---- responses built from the request's bytes ------------------------------------------------ */

static const char invite_rr[] =
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKz\r\n"
    "Via: SIP/2.0/TCP 10.0.0.8;branch=z9hG4bKy\r\n"
    "Record-Route: <sip:p1.example.com;lr>\r\n"
    "f: \"A, B\" <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "i: c1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Record-Route: <sip:p2.example.com;lr>\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

static void test_rewrite_response_copies_the_request_headers(void)
{
    struct sbuf out;
    sbuf_init(&out);
    struct resp_edit e = {
        .code = 180,
        .reason = "Ringing",
        .top_via_value = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport=5060;received=10.0.0.1",
        .to_tag = "tt",
        .with_record_route = 1,
        .extra_headers = "Contact: <sip:bob@10.0.0.2>\r\n",
    };
    CU_ASSERT_EQUAL_FATAL(sip_rewrite_response(invite_rr, sizeof invite_rr - 1, &e, &out), 0);
    CU_ASSERT_EQUAL(strncmp(out.p, "SIP/2.0 180 Ringing\r\n", 21), 0);
    osip_message_t *m = parse_sbuf(&out);
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT_EQUAL(m->status_code, 180);
    CU_ASSERT_EQUAL(osip_list_size(&m->vias), 3);
    osip_via_t *v = osip_list_get(&m->vias, 0);
    osip_generic_param_t *rec = NULL;
    osip_via_param_get_byname(v, "received", &rec);
    CU_ASSERT(rec && rec->gvalue && strcmp(rec->gvalue, "10.0.0.1") == 0);
    CU_ASSERT_STRING_EQUAL(((osip_via_t *)osip_list_get(&m->vias, 2))->host, "10.0.0.8");
    CU_ASSERT_STRING_EQUAL(sip_tag_of(m->from), "1");
    CU_ASSERT_STRING_EQUAL(sip_tag_of(m->to), "tt");
    CU_ASSERT_STRING_EQUAL(m->call_id->number, "c1");
    CU_ASSERT_STRING_EQUAL(m->cseq->method, "INVITE");
    CU_ASSERT_EQUAL(osip_list_size(&m->record_routes), 2);
    CU_ASSERT_EQUAL(osip_list_size(&m->contacts), 1);
    CU_ASSERT(out.len > 21 && memcmp(out.p + out.len - 21, "Content-Length: 0\r\n\r\n", 21) == 0);
    osip_message_free(m);
    sbuf_free(&out);
}

static void test_rewrite_response_without_record_route_or_tag(void)
{
    struct sbuf out;
    sbuf_init(&out);
    struct resp_edit e = {.code = 486, .reason = "Busy Here"};
    CU_ASSERT_EQUAL_FATAL(sip_rewrite_response(invite_rr, sizeof invite_rr - 1, &e, &out), 0);
    sbuf_append(&out, "", 1);
    CU_ASSERT(strstr(out.p, "Record-Route") == NULL);
    CU_ASSERT(strstr(out.p, "\r\nTo: <sip:bob@example.com>\r\n") != NULL);
    CU_ASSERT(strstr(out.p, "\r\nv: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport, SIP/2.0/UDP") != NULL);
    sbuf_free(&out);
}

static void test_rewrite_response_refuses_what_it_cannot_copy(void)
{
    static const char no_cseq[] = "OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                                  "From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\n\r\n";
    static const char two_from[] = "OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                                   "From: <sip:a@b>;tag=1\r\nf: <sip:c@b>;tag=2\r\nTo: <sip:a@b>\r\n"
                                   "Call-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
    struct resp_edit e = {.code = 200, .reason = "OK"};
    struct sbuf out;
    sbuf_init(&out);
    CU_ASSERT_EQUAL(sip_rewrite_response(no_cseq, sizeof no_cseq - 1, &e, &out), -1);
    CU_ASSERT_EQUAL(sip_rewrite_response(two_from, sizeof two_from - 1, &e, &out), -1);
    e.code = 1000;
    CU_ASSERT_EQUAL(sip_rewrite_response(invite_rr, sizeof invite_rr - 1, &e, &out), -1);
    sbuf_free(&out);
}

void register_rewrite_suites(void)
{
    CU_pSuite s = CU_add_suite("rewrite", NULL, NULL);
    CU_add_test(s, "request edits: R-URI, Via, Route, Record-Route, Max-Forwards", test_rewrite_request_edits);
    CU_add_test(s, "a Route line dropped whole", test_rewrite_drops_a_whole_route_line);
    CU_add_test(s, "strict routing: last Route dropped, one appended",
                test_rewrite_drops_the_last_route_and_appends_one);
    CU_add_test(s, "pop the first Via of a response", test_rewrite_pop_via_of_a_response);
    CU_add_test(s, "refuses what it cannot delimit", test_rewrite_refuses_what_it_cannot_delimit);
    CU_add_test(s, "adds a missing blank line", test_rewrite_adds_a_missing_blank_line);
    CU_add_test(s, "response copies the request's headers", test_rewrite_response_copies_the_request_headers);
    CU_add_test(s, "response without Record-Route or tag", test_rewrite_response_without_record_route_or_tag);
    CU_add_test(s, "response refuses what it cannot copy", test_rewrite_response_refuses_what_it_cannot_copy);
}
