/* test_registrar.c - the RFC 3261 §10.3 rules, on parsed REGISTER requests. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "base/sbuf.h"
#include "roles/registrar.h"
#include "sip/uri.h"
#include "sip/msg.h"
#include "suites.h"

#include <sys/socket.h>
#include <unistd.h>

#include "base/events.h"
#include "loop_fixture.h"
#include "sip/txn.h"
#include "store/store.h"

static const char *const served[] = {"example.com", NULL};
static struct registrar_config cfg = {
    .min_expires = 60, .max_expires = 7200, .default_expires = 3600, .max_contacts = 3, .domains = served};

/* The AOR's bindings between requests (what the store would hold). */
static struct binding_list state;
static struct reg_outcome last;

/* Send a REGISTER with the given extra header lines; on success state becomes the new set. */
static int reg(const char *call_id, int cseq, const char *extra, int64_t now)
{
    char buf[4096];
    snprintf(buf, sizeof buf,
             "REGISTER sip:example.com SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK%d\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=f\r\nTo: <sip:alice@EXAMPLE.com>\r\n"
             "Call-ID: %s\r\nCSeq: %d REGISTER\r\n%sContent-Length: 0\r\n\r\n",
             cseq, call_id, cseq, extra);
    osip_message_t *m = sip_parse(buf, strlen(buf));
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    struct sip_source src = {.proto = SIP_PROTO_UDP, .udp_fd = -1};
    sockaddr_from_host_port("10.0.0.1", 8, 5070, &src.peer, &src.peerlen);
    struct reg_request r;
    char unsup[32];
    int st = registrar_parse(&cfg, m, &src, now, &r, &last, unsup, sizeof unsup);
    if (st == 0) {
        struct binding_list out;
        binding_list_init(&out);
        st = registrar_apply(&cfg, &r, state.v, state.len, &out, &last);
        if (st == 0) {
            binding_list_free(&state);
            state = out;
        } else {
            binding_list_free(&out);
        }
    }
    reg_request_free(&r);
    osip_message_free(m);
    return st;
}

static const struct binding *find(const char *contact)
{
    for (size_t i = 0; i < state.len; i++)
        if (strcmp(state.v[i].contact, contact) == 0)
            return &state.v[i];
    return NULL;
}

static int setup(void)
{
    sip_msg_init();
    binding_list_init(&state);
    return 0;
}

static int reset(void)
{
    binding_list_free(&state);
    return 0;
}

static void test_register_creates_binding_with_header_expires(void)
{
    reset();
    CU_ASSERT_EQUAL(reg("c1", 1, "Contact: <sip:alice@10.0.0.1:5070>\r\nExpires: 120\r\n", 1000), 0);
    CU_ASSERT_EQUAL_FATAL(state.len, 1);
    CU_ASSERT_STRING_EQUAL(state.v[0].aor, "sip:alice@example.com");
    CU_ASSERT_EQUAL(state.v[0].expires_at, 1120);
    CU_ASSERT_STRING_EQUAL(state.v[0].call_id, "c1");
    CU_ASSERT_EQUAL(state.v[0].cseq, 1);
    CU_ASSERT_STRING_EQUAL(state.v[0].received, "udp:10.0.0.1:5070");
}

static void test_register_contact_expires_overrides_header_and_default_applies(void)
{
    reset();
    CU_ASSERT_EQUAL(reg("c1", 1, "Contact: <sip:a@h1>;expires=300, <sip:a@h2>\r\nExpires: 600\r\n", 0), 0);
    CU_ASSERT_EQUAL(find("sip:a@h1")->expires_at, 300);
    CU_ASSERT_EQUAL(find("sip:a@h2")->expires_at, 600);
    reset();
    CU_ASSERT_EQUAL(reg("c1", 1, "Contact: <sip:a@h3>\r\n", 0), 0);
    CU_ASSERT_EQUAL(find("sip:a@h3")->expires_at, 3600);
}

static void test_register_expires_capped_at_max(void)
{
    reset();
    CU_ASSERT_EQUAL(reg("c1", 1, "Contact: <sip:a@h1>;expires=999999\r\n", 0), 0);
    CU_ASSERT_EQUAL(find("sip:a@h1")->expires_at, 7200);
}

static void test_register_too_brief_gives_423_with_min_expires(void)
{
    reset();
    CU_ASSERT_EQUAL(reg("c1", 1, "Contact: <sip:a@h1>;expires=30\r\n", 0), 423);
    CU_ASSERT_EQUAL(last.min_expires, 60);
    CU_ASSERT_EQUAL(state.len, 0);
}

static void test_register_several_contacts_with_q(void)
{
    reset();
    CU_ASSERT_EQUAL(reg("c1", 1, "Contact: <sip:a@h1>;q=0.7\r\nContact: <sip:a@h2>;q=1.0\r\n", 0), 0);
    CU_ASSERT_EQUAL(state.len, 2);
    CU_ASSERT_EQUAL(find("sip:a@h1")->q, 700);
    CU_ASSERT_EQUAL(find("sip:a@h2")->q, 1000);
    CU_ASSERT_EQUAL(reg("c1", 2, "Contact: <sip:a@h1>;q=2\r\n", 0), 400);
}

static void test_register_refresh_updates_and_zero_removes_one(void)
{
    reset();
    CU_ASSERT_EQUAL(reg("c1", 1, "Contact: <sip:a@h1>, <sip:a@h2>\r\nExpires: 100\r\n", 0), 0);
    CU_ASSERT_EQUAL(reg("c1", 2, "Contact: <sip:a@h1>\r\nExpires: 200\r\n", 50), 0);
    CU_ASSERT_EQUAL(find("sip:a@h1")->expires_at, 250);
    CU_ASSERT_EQUAL(find("sip:a@h1")->cseq, 2);
    CU_ASSERT_EQUAL(find("sip:a@h2")->expires_at, 100);
    CU_ASSERT_EQUAL(reg("c1", 3, "Contact: <sip:a@h2>;expires=0\r\n", 60), 0);
    CU_ASSERT_EQUAL(state.len, 1);
    CU_ASSERT_PTR_NULL(find("sip:a@h2"));
}

static void test_register_out_of_order_cseq_rejected_and_nothing_changes(void)
{
    reset();
    CU_ASSERT_EQUAL(reg("c1", 5, "Contact: <sip:a@h1>\r\nExpires: 100\r\n", 0), 0);
    CU_ASSERT_EQUAL(reg("c1", 5, "Contact: <sip:a@h1>\r\nExpires: 300\r\n", 0), 400);
    CU_ASSERT_EQUAL(reg("c1", 4, "Contact: <sip:a@h1>;expires=0\r\n", 0), 400);
    CU_ASSERT_EQUAL(find("sip:a@h1")->expires_at, 100);
    /* another Call-ID (a reboot of the client) may use any CSeq */
    CU_ASSERT_EQUAL(reg("c2", 1, "Contact: <sip:a@h1>\r\nExpires: 300\r\n", 0), 0);
    CU_ASSERT_EQUAL(find("sip:a@h1")->expires_at, 300);
    CU_ASSERT_STRING_EQUAL(find("sip:a@h1")->call_id, "c2");
}

static void test_register_wildcard_rules(void)
{
    reset();
    CU_ASSERT_EQUAL(reg("c1", 1, "Contact: <sip:a@h1>, <sip:a@h2>\r\n", 0), 0);
    CU_ASSERT_EQUAL(reg("c1", 2, "Contact: *\r\nExpires: 10\r\n", 0), 400);
    CU_ASSERT_EQUAL(reg("c1", 3, "Contact: *\r\n", 0), 400);
    CU_ASSERT_EQUAL(reg("c1", 4, "Contact: *, <sip:a@h3>\r\nExpires: 0\r\n", 0), 400);
    CU_ASSERT_EQUAL(state.len, 2);
    CU_ASSERT_EQUAL(reg("c1", 1, "Contact: *\r\nExpires: 0\r\n", 0), 400); /* stale CSeq */
    CU_ASSERT_EQUAL(reg("c1", 9, "Contact: *\r\nExpires: 0\r\n", 0), 0);
    CU_ASSERT_EQUAL(state.len, 0);
}

static void test_register_query_returns_current_bindings_unchanged(void)
{
    reset();
    CU_ASSERT_EQUAL(reg("c1", 1, "Contact: <sip:a@h1>\r\nExpires: 100\r\n", 0), 0);
    CU_ASSERT_EQUAL(reg("q1", 1, "", 10), 0);
    CU_ASSERT_EQUAL(state.len, 1);
    CU_ASSERT_EQUAL(find("sip:a@h1")->expires_at, 100);
    CU_ASSERT_STRING_EQUAL(find("sip:a@h1")->call_id, "c1");
}

static void test_register_instance_and_reg_id_replace_old_contact(void)
{
    reset();
    const char *inst = ";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1";
    char h[512];
    snprintf(h, sizeof h, "Contact: <sip:a@10.0.0.1:1111>%s\r\n", inst);
    CU_ASSERT_EQUAL(reg("c1", 1, h, 0), 0);
    snprintf(h, sizeof h, "Contact: <sip:a@10.0.0.9:2222>%s\r\n", inst);
    CU_ASSERT_EQUAL(reg("c2", 1, h, 0), 0);
    CU_ASSERT_EQUAL_FATAL(state.len, 1);
    CU_ASSERT_STRING_EQUAL(state.v[0].contact, "sip:a@10.0.0.9:2222");
    CU_ASSERT_STRING_EQUAL(state.v[0].instance, "urn:uuid:00000000-0000-1000-8000-000A95A0E128");
    CU_ASSERT_EQUAL(state.v[0].reg_id, 1);
}

static void test_register_same_instance_without_reg_id_replaces_old_contact(void)
{
    reset();
    const char *inst = ";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"";
    char h[512];
    snprintf(h, sizeof h, "Contact: <sip:a@10.0.0.1:40888;transport=tcp>%s\r\n", inst);
    CU_ASSERT_EQUAL(reg("c1", 1, h, 0), 0);
    CU_ASSERT_EQUAL(reg("c1", 2, "Contact: <sip:a@10.0.0.1:40904;transport=tcp>\r\n", 0), 0);
    CU_ASSERT_EQUAL(state.len, 2); /* no instance: keyed by URI, a second binding */
    /* the device (instance) again from a new port: it replaces its own binding and takes over
     * the binding that holds the same URI, so no target is listed twice */
    snprintf(h, sizeof h, "Contact: <sip:a@10.0.0.1:40904;transport=tcp>%s\r\n", inst);
    CU_ASSERT_EQUAL(reg("c1", 3, h, 0), 0);
    CU_ASSERT_EQUAL_FATAL(state.len, 1);
    CU_ASSERT_STRING_EQUAL(state.v[0].contact, "sip:a@10.0.0.1:40904;transport=tcp");
    CU_ASSERT_PTR_NOT_NULL(state.v[0].instance);
    /* Expires 0 with the instance removes the device's binding whatever its URI */
    snprintf(h, sizeof h, "Contact: <sip:a@10.0.0.1:1>%s;expires=0\r\n", inst);
    CU_ASSERT_EQUAL(reg("c1", 4, h, 0), 0);
    CU_ASSERT_EQUAL(state.len, 0);
}

static void test_register_path_and_user_agent_stored(void)
{
    reset();
    CU_ASSERT_EQUAL(reg("c1", 1, "Contact: <sip:a@h1>\r\nPath: <sip:edge1.example.com;lr>\r\n"
                                 "Path: <sip:edge2.example.com;lr>\r\nSupported: path\r\nUser-Agent: test/1\r\n", 0), 0);
    CU_ASSERT_STRING_EQUAL(state.v[0].path, "<sip:edge1.example.com;lr>,<sip:edge2.example.com;lr>");
    CU_ASSERT_STRING_EQUAL(state.v[0].user_agent, "test/1");
}

static void test_register_limits_and_rejections(void)
{
    reset();
    CU_ASSERT_EQUAL(reg("c1", 1, "Contact: <sip:a@h1>, <sip:a@h2>, <sip:a@h3>\r\n", 0), 0);
    CU_ASSERT_EQUAL(reg("c1", 2, "Contact: <sip:a@h4>\r\n", 0), 403);
    CU_ASSERT_EQUAL(state.len, 3);
    CU_ASSERT_EQUAL(reg("c1", 3, "Require: frobnicate\r\nContact: <sip:a@h4>\r\n", 0), 420);
    CU_ASSERT_EQUAL(reg("c1", 4, "Contact: <sip:a@h1>\r\nExpires: soon\r\n", 0), 400);
}

static void test_register_foreign_domain_forbidden(void)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "REGISTER sip:other.org SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:a@other.org>;tag=f\r\nTo: <sip:a@other.org>\r\n"
             "Call-ID: x\r\nCSeq: 1 REGISTER\r\nContact: <sip:a@h>\r\nContent-Length: 0\r\n\r\n");
    osip_message_t *m = sip_parse(buf, strlen(buf));
    struct sip_source src = {.proto = SIP_PROTO_UDP, .udp_fd = -1};
    struct reg_request r;
    struct reg_outcome oc;
    char u[8];
    CU_ASSERT_EQUAL(registrar_parse(&cfg, m, &src, 0, &r, &oc, u, sizeof u), 403);
    reg_request_free(&r);
    osip_message_free(m);
}

static void test_register_uri_equality(void)
{
    CU_ASSERT_TRUE(uri_equal("sip:a@EXAMPLE.com", "sip:a@example.com"));
    CU_ASSERT_FALSE(uri_equal("sip:A@example.com", "sip:a@example.com"));
    CU_ASSERT_FALSE(uri_equal("sip:a@example.com:5060", "sip:a@example.com"));
    CU_ASSERT_FALSE(uri_equal("sip:a@h;transport=tcp", "sip:a@h"));
    CU_ASSERT_TRUE(uri_equal("sip:a@h;transport=TCP;foo=1", "sip:a@h;transport=tcp"));
}

static void test_register_contacts_listed_in_200(void)
{
    reset();
    CU_ASSERT_EQUAL(reg("c1", 1, "Contact: <sip:a@h1>;q=0.5\r\nExpires: 100\r\n", 0), 0);
    struct sbuf b;
    sbuf_init(&b);
    registrar_format_contacts(&b, state.v, state.len, 40);
    CU_ASSERT_STRING_EQUAL(b.p, "Contact: <sip:a@h1>;expires=60;q=0.500\r\n");
    sbuf_free(&b);
}

static int cleanup(void)
{
    binding_list_free(&state);
    return 0;
}

/* ---- registration events (base/events.h) over a transaction layer and the memory store ------ */

static struct {
    struct loop_fixture lf;
    struct store *st;
    struct registrar *r;
    int peer_fd;
    struct sip_source src;
    int cseq;
    int n;
    char got[16][320];
} ev;

static void ev_sink(void *arg, const char *type, const char *json, size_t len)
{
    (void)arg;
    if (ev.n < 16)
        snprintf(ev.got[ev.n++], sizeof ev.got[0], "%s %.*s", type, (int)len, json);
}

static int ev_setup(void)
{
    memset(&ev, 0, sizeof ev);
    struct loop_fixture_config lc = {.t1_ms = 1000, .t2_ms = 4000, .t4_ms = 5000, .listen_udp = true};
    if (loop_fixture_open(&ev.lf, &lc) != 0)
        return -1;
    ev.st = store_create(ev.lf.loop, NULL);
    ev.r = ev.st ? registrar_create(ev.st, &cfg) : NULL;
    ev.peer_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(ev.peer_fd, (struct sockaddr *)&a, sizeof a);
    ev.src.proto = SIP_PROTO_UDP;
    ev.src.udp_fd = -1;
    ev.src.peerlen = sizeof(struct sockaddr_in);
    getsockname(ev.peer_fd, (struct sockaddr *)&ev.src.peer, &ev.src.peerlen);
    return ev.r && ev.peer_fd >= 0 ? 0 : -1;
}

static int ev_teardown(void)
{
    events_set_sink(NULL, NULL, NULL);
    registrar_destroy(ev.r);
    store_destroy(ev.st);
    loop_fixture_close(&ev.lf);
    close(ev.peer_fd);
    return 0;
}

/* One REGISTER of alice through registrar_handle, with these extra header lines. */
static void ev_register(const char *extra)
{
    char buf[2048];
    ev.cseq++;
    snprintf(buf, sizeof buf,
             "REGISTER sip:example.com SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKev%d\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=f\r\nTo: <sip:alice@example.com>\r\n"
             "Call-ID: ev-1\r\nCSeq: %d REGISTER\r\n%sContent-Length: 0\r\n\r\n",
             ev.cseq, ev.cseq, extra);
    osip_message_t *m = sip_parse(buf, strlen(buf));
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    int absorbed = 0;
    struct sip_txn *t = txn_server_new(ev.lf.tl, m, &ev.src, &absorbed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    registrar_handle(ev.r, t);
    loop_fixture_run_ms(&ev.lf, 5);
}

static void test_register_events_added_refreshed_removed_expired(void)
{
    ev.n = 0;
    events_set_sink(ev_sink, NULL, NULL);
    ev_register("Contact: <sip:alice@10.0.0.1>;expires=600\r\n");
    CU_ASSERT_EQUAL_FATAL(ev.n, 1);
    CU_ASSERT_STRING_EQUAL(ev.got[0], "registration {\"aor\":\"sip:alice@example.com\",\"contact\":"
                                      "\"sip:alice@10.0.0.1\",\"expires_s\":600,\"change\":\"added\"}");
    ev_register("Contact: <sip:alice@10.0.0.1>;expires=600, <sip:alice@10.0.0.2>;expires=300\r\n");
    CU_ASSERT_EQUAL_FATAL(ev.n, 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(ev.got[1], "\"sip:alice@10.0.0.1\",\"expires_s\":600,\"change\":\"refreshed\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(ev.got[2], "\"sip:alice@10.0.0.2\",\"expires_s\":300,\"change\":\"added\""));
    ev_register("Contact: <sip:alice@10.0.0.1>;expires=0\r\n");
    CU_ASSERT_EQUAL_FATAL(ev.n, 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(ev.got[3], "\"sip:alice@10.0.0.1\",\"expires_s\":0,\"change\":\"removed\""));
    /* the store drops what expired: one event per binding */
    store_location_expire(ev.st, sip_now_s() + 301, NULL, NULL);
    CU_ASSERT_EQUAL_FATAL(ev.n, 5);
    CU_ASSERT_PTR_NOT_NULL(strstr(ev.got[4], "\"sip:alice@10.0.0.2\",\"expires_s\":0,\"change\":\"expired\""));
    events_set_sink(NULL, NULL, NULL);
}

static void test_register_without_listener_emits_nothing(void)
{
    ev.n = 0;
    events_set_sink(NULL, NULL, NULL);
    ev_register("Contact: <sip:alice@10.0.0.3>;expires=600\r\n");
    ev_register("Contact: <sip:alice@10.0.0.3>;expires=0\r\n");
    CU_ASSERT_EQUAL(ev.n, 0);
}

void register_registrar_suites(void)
{
    CU_pSuite s = CU_add_suite("registrar", setup, cleanup);
    CU_add_test(s, "creates a binding with the Expires header", test_register_creates_binding_with_header_expires);
    CU_add_test(s, "contact expires overrides header, default applies", test_register_contact_expires_overrides_header_and_default_applies);
    CU_add_test(s, "expires capped at max", test_register_expires_capped_at_max);
    CU_add_test(s, "too brief gives 423 with Min-Expires", test_register_too_brief_gives_423_with_min_expires);
    CU_add_test(s, "several contacts with q-values", test_register_several_contacts_with_q);
    CU_add_test(s, "refresh updates, expires=0 removes one", test_register_refresh_updates_and_zero_removes_one);
    CU_add_test(s, "out-of-order CSeq rejected, nothing changes", test_register_out_of_order_cseq_rejected_and_nothing_changes);
    CU_add_test(s, "wildcard rules", test_register_wildcard_rules);
    CU_add_test(s, "query returns current bindings unchanged", test_register_query_returns_current_bindings_unchanged);
    CU_add_test(s, "instance + reg-id replace the old contact", test_register_instance_and_reg_id_replace_old_contact);
    CU_add_test(s, "same instance without reg-id replaces the old contact", test_register_same_instance_without_reg_id_replaces_old_contact);
    CU_add_test(s, "Path and User-Agent stored", test_register_path_and_user_agent_stored);
    CU_add_test(s, "limits and rejections (403, 420, 400)", test_register_limits_and_rejections);
    CU_add_test(s, "foreign domain forbidden", test_register_foreign_domain_forbidden);
    CU_add_test(s, "contact URI equality (RFC 3261 19.1.4)", test_register_uri_equality);
    CU_add_test(s, "contacts listed in the 200 with expires and q", test_register_contacts_listed_in_200);
    CU_pSuite e = CU_add_suite("registrar-events", ev_setup, ev_teardown);
    CU_add_test(e, "added, refreshed, removed, expired", test_register_events_added_refreshed_removed_expired);
    CU_add_test(e, "no listener: no event", test_register_without_listener_emits_nothing);
}
