/* test_proxy.c - the proxy's routing decisions (roles/proxy/route.h) on parsed requests: what is
 * ours, §16.3 validation, the route set (loose and strict routing, §16.4 / §16.6 step 6), and
 * what the location service's bindings become (targets, 302, 404, 480). No sockets: this node
 * listens on 127.0.0.1:5060 and 127.0.0.1:5070, serves example.com, answers redir.example.com
 * with 302, and TCP connection 7 is open. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "roles/proxy/route.h"
#include "sip/msg.h"
#include "sip/rewrite.h"
#include "store/binding.h"
#include "suites.h"
#include "transport/addr.h"

static int fake_addr_is_local(void *arg, const char *host, int port)
{
    (void)arg;
    if (port == 0)
        port = 5060;
    return strcmp(host, "127.0.0.1") == 0 && (port == 5060 || port == 5070);
}

static int fake_conn_alive(void *arg, uint64_t conn_id)
{
    (void)arg;
    return conn_id == 7;
}

static const char *const domains[] = {"example.com", "redir.example.com", NULL};
static const char *const redirect_domains[] = {"redir.example.com", NULL};
static int fake_listens(void *arg, const char *host, int port)
{
    (void)arg;
    if (port < 0)
        return !host || strcmp(host, "127.0.0.1") == 0;
    return host ? fake_addr_is_local(arg, host, port) : (port == 0 || port == 5060 || port == 5070);
}

static const struct uri_local local = {.domains = domains, .listens = fake_listens};
static const struct route_ctx ctx = {
    .local = &local,
    .redirect_domains = redirect_domains,
    .record_route = 1,
    .conn_alive = fake_conn_alive,
};

/* A request: start line "METHOD RURI", then the extra header lines (each ending in \r\n). */
static osip_message_t *request(const char *method, const char *ruri, const char *extra)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "%s %s SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKcaller\r\n"
             "%s"
             "From: <sip:alice@example.org>;tag=a1\r\n"
             "Call-ID: call-1@192.0.2.50\r\n"
             "CSeq: 1 %s\r\n"
             "Content-Length: 0\r\n\r\n",
             method, ruri, extra ? extra : "", method);
    if (!extra || !strstr(extra, "To:")) {
        /* a To header unless the case gives its own (with a tag) */
        char with_to[2048];
        char *p = strstr(buf, "From:");
        snprintf(with_to, sizeof with_to, "%.*sTo: <sip:bob@example.com>\r\n%s", (int)(p - buf), buf, p);
        return sip_parse(with_to, strlen(with_to));
    }
    return sip_parse(buf, strlen(buf));
}

/* ---- route_decide --------------------------------------------------------------------------- */

struct decide_case {
    const char *name;
    const char *method, *ruri, *extra;
    enum route_action action;
    int code;             /* REJECT */
    const char *reason;   /* REJECT, NULL = default */
    const char *aor;      /* LOCATION */
    int is_redirect;      /* LOCATION */
    const char *host;     /* NEXT_HOP */
    int port, proto;      /* NEXT_HOP */
    int record_route;     /* not for REJECT */
    const char *new_ruri; /* forwarded Request-URI when routing changes it, else NULL */
    const char *append_route;
    int drop_routes, drop_last_route;
};

static const struct decide_case decide_cases[] = {
    {"a user of a served domain is looked up (scheme and host lowercased, user kept)",
     "INVITE", "SIP:Bob@EXAMPLE.com", NULL, ROUTE_LOCATION, .aor = "sip:Bob@example.com",
     .record_route = 1},
    {"a user at our own address and port is looked up", "INVITE", "sip:bob@127.0.0.1:5070", NULL,
     ROUTE_LOCATION, .aor = "sip:bob@127.0.0.1", .record_route = 1},
    {"our address with another port is someone else's", "INVITE", "sip:bob@127.0.0.1:5080", NULL,
     ROUTE_NEXT_HOP, .host = "127.0.0.1", .port = 5080, .proto = -1, .record_route = 1},
    {"a foreign domain goes to DNS", "INVITE", "sip:bob@example.net", NULL, ROUTE_NEXT_HOP,
     .host = "example.net", .port = 0, .proto = -1, .record_route = 1},
    {"maddr and transport=tcp choose the hop", "INVITE",
     "sip:bob@example.net;maddr=192.0.2.1;transport=tcp", NULL, ROUTE_NEXT_HOP, .host = "192.0.2.1",
     .proto = SIP_PROTO_TCP, .record_route = 1},
    {"sips means TLS (RFC 3261 §26.2)", "INVITE", "sips:bob@example.net:5061", NULL, ROUTE_NEXT_HOP,
     .host = "example.net", .port = 5061, .proto = SIP_PROTO_TLS, .record_route = 1},
    {"a redirect domain's user is looked up for a 302", "INVITE", "sip:carol@redir.example.com", NULL,
     ROUTE_LOCATION, .aor = "sip:carol@redir.example.com", .is_redirect = 1, .record_route = 1},
    {"a MESSAGE is not record-routed", "MESSAGE", "sip:bob@example.com", NULL, ROUTE_LOCATION,
     .aor = "sip:bob@example.com"},
    {"a SUBSCRIBE is record-routed", "SUBSCRIBE", "sip:bob@example.com", "Event: presence\r\n",
     ROUTE_LOCATION, .aor = "sip:bob@example.com", .record_route = 1},
    {"in a dialog (To tag) a user of ours is not looked up", "BYE", "sip:bob@example.com",
     "To: <sip:bob@example.com>;tag=b1\r\n", ROUTE_NEXT_HOP, .host = "example.com", .proto = -1},
    {"our own address without a user: 404", "OPTIONS", "sip:127.0.0.1:5070", NULL, ROUTE_REJECT,
     .code = 404, .reason = "No route to this address"},
    {"Max-Forwards 0: 483", "INVITE", "sip:bob@example.com", "Max-Forwards: 0\r\n", ROUTE_REJECT,
     .code = 483},
    {"an unknown Proxy-Require: 420", "INVITE", "sip:bob@example.com", "Proxy-Require: foo\r\n",
     ROUTE_REJECT, .code = 420},
    {"an unusable port: 416", "INVITE", "sip:bob@example.net:70000", NULL, ROUTE_REJECT, .code = 416,
     .reason = "Unusable next-hop URI"},
    {"loose routing: our Route removed, the next one is the hop", "INVITE", "sip:bob@example.net",
     "Route: <sip:127.0.0.1;lr>, <sip:192.0.2.9:5080;lr>\r\n", ROUTE_NEXT_HOP, .host = "192.0.2.9",
     .port = 5080, .proto = -1, .record_route = 1, .drop_routes = 1},
    {"a foreign loose Route wins over a local Request-URI", "INVITE", "sip:bob@example.com",
     "Route: <sip:192.0.2.9;lr>\r\n", ROUTE_NEXT_HOP, .host = "192.0.2.9", .proto = -1,
     .record_route = 1},
    {"only our own Routes: the Request-URI decides", "INVITE", "sip:bob@example.com",
     "Route: <sip:127.0.0.1:5060;lr>\r\nRoute: <sip:127.0.0.1:5070;lr>\r\n", ROUTE_LOCATION,
     .aor = "sip:bob@example.com", .record_route = 1, .drop_routes = 2},
    {"strict next hop: it gets the Request-URI, ours goes last", "INVITE", "sip:bob@example.net",
     "Route: <sip:127.0.0.1;lr>, <sip:192.0.2.9>, <sip:192.0.2.10;lr>\r\n", ROUTE_NEXT_HOP,
     .host = "192.0.2.9", .proto = -1, .record_route = 1, .new_ruri = "sip:192.0.2.9",
     .append_route = "<sip:bob@example.net>", .drop_routes = 2},
    {"strict previous hop: the last Route becomes the Request-URI", "INVITE", "sip:127.0.0.1:5070;lr",
     "Route: <sip:bob@example.com>\r\n", ROUTE_LOCATION, .aor = "sip:bob@example.com",
     .record_route = 1, .new_ruri = "sip:bob@example.com", .drop_last_route = 1},
    {"strict previous hop with a loose Route left", "INVITE", "sip:127.0.0.1;lr",
     "Route: <sip:192.0.2.9;lr>, <sip:carol@example.net>\r\n", ROUTE_NEXT_HOP, .host = "192.0.2.9",
     .proto = -1, .record_route = 1, .new_ruri = "sip:carol@example.net", .drop_last_route = 1},
    {"strict previous and next hop", "INVITE", "sip:127.0.0.1;lr",
     "Route: <sip:192.0.2.9>, <sip:carol@example.net>\r\n", ROUTE_NEXT_HOP, .host = "192.0.2.9",
     .proto = -1, .record_route = 1, .new_ruri = "sip:192.0.2.9",
     .append_route = "<sip:carol@example.net>", .drop_routes = 1, .drop_last_route = 1},
};

static void str_equal_or_null(const char *got, const char *want, const char *name, const char *what)
{
    if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0)) {
        fprintf(stderr, "\n  %s: %s is \"%s\", want \"%s\"\n", name, what, got ? got : "(null)",
                want ? want : "(null)");
        CU_FAIL("string differs");
    }
}

static void test_route_decide_table(void)
{
    for (size_t i = 0; i < sizeof decide_cases / sizeof decide_cases[0]; i++) {
        const struct decide_case *c = &decide_cases[i];
        osip_message_t *req = request(c->method, c->ruri, c->extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(req);
        struct route_plan p;
        CU_ASSERT_EQUAL_FATAL(route_decide(&ctx, req, &p), 0);
        if (p.action != c->action || p.code != c->code ||
            (c->action != ROUTE_REJECT && p.record_route != c->record_route) ||
            p.fwd.drop_routes != c->drop_routes || p.fwd.drop_last_route != c->drop_last_route) {
            fprintf(stderr, "\n  %s: action %d code %d rr %d drop %d/%d\n", c->name, p.action, p.code,
                    p.record_route, p.fwd.drop_routes, p.fwd.drop_last_route);
            CU_FAIL(c->name);
        }
        if (c->action == ROUTE_REJECT)
            str_equal_or_null(p.reason, c->reason, c->name, "reason");
        if (c->action == ROUTE_LOCATION) {
            str_equal_or_null(p.aor, c->aor, c->name, "aor");
            CU_ASSERT_EQUAL(p.is_redirect, c->is_redirect);
        }
        if (c->action == ROUTE_NEXT_HOP) {
            str_equal_or_null(p.host, c->host, c->name, "next hop");
            CU_ASSERT_EQUAL(p.port, c->port);
            CU_ASSERT_EQUAL(p.proto, c->proto);
        }
        if (c->action != ROUTE_REJECT) {
            str_equal_or_null(p.fwd.new_ruri, c->new_ruri, c->name, "new Request-URI");
            str_equal_or_null(p.fwd.append_route, c->append_route, c->name, "appended Route");
        }
        route_fwd_clear(&p.fwd);
        osip_message_free(req);
    }
}

static void test_route_decide_420_names_the_option(void)
{
    osip_message_t *req = request("INVITE", "sip:bob@example.com", "Proxy-Require: foo, bar\r\n");
    struct route_plan p;
    CU_ASSERT_EQUAL_FATAL(route_decide(&ctx, req, &p), 0);
    CU_ASSERT_EQUAL(p.code, 420);
    CU_ASSERT_STRING_EQUAL(p.extra_name, "Unsupported");
    CU_ASSERT_PTR_NOT_NULL_FATAL(strstr(p.extra_value, "foo"));
    osip_message_free(req);
}

/* A request that comes back with a Via of ours carrying its own hash is a loop (482); one with
 * a new Request-URI (a spiral) is not. */
static void test_route_decide_detects_a_loop_not_a_spiral(void)
{
    osip_message_t *req = request("INVITE", "sip:bob@example.net", NULL);
    struct route_plan p;
    CU_ASSERT_EQUAL_FATAL(route_decide(&ctx, req, &p), 0);
    CU_ASSERT_EQUAL(p.action, ROUTE_NEXT_HOP);
    char via[160];
    snprintf(via, sizeof via, "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKsd%08lx.r1\r\n",
             p.fwd.loop_hash);
    osip_message_free(req);
    struct route_plan q;
    req = request("INVITE", "sip:bob@example.net", via);
    CU_ASSERT_EQUAL_FATAL(route_decide(&ctx, req, &q), 0);
    CU_ASSERT_EQUAL(q.action, ROUTE_REJECT);
    CU_ASSERT_EQUAL(q.code, 482);
    osip_message_free(req);
    req = request("INVITE", "sip:bob@192.0.2.77", via);
    CU_ASSERT_EQUAL_FATAL(route_decide(&ctx, req, &q), 0);
    CU_ASSERT_EQUAL(q.action, ROUTE_NEXT_HOP);
    route_fwd_clear(&q.fwd);
    osip_message_free(req);
}

/* The edits of a strict-routing plan, applied by sip_rewrite_request(), give the message a
 * strict router expects. */
static void test_route_strict_edits_give_the_forwarded_request(void)
{
    static const char raw[] = "INVITE sip:127.0.0.1;lr SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKcaller\r\n"
                              "Route: <sip:192.0.2.9>,\r\n <sip:192.0.2.10;lr>\r\n"
                              "Route: <sip:carol@example.net>\r\n"
                              "Max-Forwards: 70\r\n"
                              "From: <sip:alice@example.org>;tag=a1\r\n"
                              "To: <sip:carol@example.net>\r\n"
                              "Call-ID: c2\r\n"
                              "CSeq: 1 INVITE\r\n"
                              "Content-Length: 0\r\n\r\n";
    osip_message_t *req = sip_parse(raw, strlen(raw));
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    struct route_plan p;
    CU_ASSERT_EQUAL_FATAL(route_decide(&ctx, req, &p), 0);
    CU_ASSERT_STRING_EQUAL(p.host, "192.0.2.9");
    struct fwd_edit e = {.new_ruri = p.fwd.new_ruri, .drop_routes = p.fwd.drop_routes,
                         .drop_last_route = p.fwd.drop_last_route,
                         .append_route = p.fwd.append_route, .max_forwards = 69};
    struct sbuf out;
    sbuf_init(&out);
    CU_ASSERT_EQUAL_FATAL(sip_rewrite_request(raw, strlen(raw), &e, &out), 0);
    osip_message_t *m = sip_parse(out.p, out.len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    char *s = NULL;
    osip_uri_to_str(m->req_uri, &s);
    CU_ASSERT_STRING_EQUAL(s, "sip:192.0.2.9");
    osip_free(s);
    CU_ASSERT_EQUAL_FATAL(osip_list_size(&m->routes), 2);
    const char *want[] = {"sip:192.0.2.10;lr", "sip:carol@example.net"};
    for (int i = 0; i < 2; i++) {
        osip_route_t *r = osip_list_get(&m->routes, i);
        s = NULL;
        osip_uri_to_str(r->url, &s);
        CU_ASSERT_STRING_EQUAL(s, want[i]);
        osip_free(s);
    }
    osip_message_free(m);
    sbuf_free(&out);
    route_fwd_clear(&p.fwd);
    osip_message_free(req);
}

/* ---- route_decide_ack ----------------------------------------------------------------------- */

static void test_route_decide_ack(void)
{
    static const struct {
        const char *name, *ruri, *extra;
        int forwarded;
        const char *dst;      /* "ip:port" */
        const char *new_ruri;
        int drop_routes, drop_last_route;
    } cases[] = {
        {"to the Request-URI's address", "sip:bob@192.0.2.5:5070", NULL, 1, "192.0.2.5:5070", NULL, 0, 0},
        {"along the route set, ours removed", "sip:bob@192.0.2.5",
         "Route: <sip:127.0.0.1:5070;lr>, <sip:192.0.2.9;lr>\r\n", 1, "192.0.2.9:5060", NULL, 1, 0},
        {"a strict previous hop undone", "sip:127.0.0.1;lr", "Route: <sip:bob@192.0.2.5:5080>\r\n", 1,
         "192.0.2.5:5080", "sip:bob@192.0.2.5:5080", 0, 1},
        {"for us, with no Route: dropped", "sip:bob@127.0.0.1", NULL, 0, NULL, NULL, 0, 0},
        {"Max-Forwards 0: dropped", "sip:bob@192.0.2.5", "Max-Forwards: 0\r\n", 0, NULL, NULL, 0, 0},
        {"a host name (no DNS for an ACK): dropped", "sip:bob@example.net", NULL, 0, NULL, NULL, 0, 0},
        {"a strict next hop gets the Request-URI", "sip:bob@192.0.2.5",
         "Route: <sip:127.0.0.1:5070;lr>, <sip:192.0.2.9:5090>\r\n", 1, "192.0.2.9:5090",
         "sip:192.0.2.9:5090", 2, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        osip_message_t *ack = request("ACK", cases[i].ruri, cases[i].extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ack);
        struct sip_source dst;
        struct route_fwd f;
        int rc = route_decide_ack(&ctx, ack, &dst, &f);
        if ((rc == 0) != cases[i].forwarded) {
            fprintf(stderr, "\n  ACK %s: rc %d\n", cases[i].name, rc);
            CU_FAIL(cases[i].name);
        } else if (rc == 0) {
            char a[64];
            str_equal_or_null(sockaddr_str(&dst.peer, a, sizeof a), cases[i].dst, cases[i].name, "dst");
            str_equal_or_null(f.new_ruri, cases[i].new_ruri, cases[i].name, "new Request-URI");
            CU_ASSERT_EQUAL(f.drop_routes, cases[i].drop_routes);
            CU_ASSERT_EQUAL(f.drop_last_route, cases[i].drop_last_route);
            if (cases[i].new_ruri && strncmp(cases[i].new_ruri, "sip:192.0.2.9", 13) == 0)
                str_equal_or_null(f.append_route, "<sip:bob@192.0.2.5>", cases[i].name, "last Route");
        }
        route_fwd_clear(&f);
        osip_message_free(ack);
    }
}

/* ---- route_targets -------------------------------------------------------------------------- */

static struct binding mk(const char *contact, int q, const char *path, const char *received,
                         uint64_t conn_id, int reg_id)
{
    return (struct binding){.contact = (char *)contact, .q = q, .path = (char *)path,
                            .received = (char *)received, .conn_id = conn_id, .reg_id = reg_id,
                            .instance = reg_id ? "urn:uuid:1" : NULL, .expires_at = 1000 + 60};
}

static void free_targets(struct target *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].uri);
        free(t[i].path);
    }
}

static void test_route_targets_without_bindings(void)
{
    struct target t[4];
    size_t nt;
    const char *reason;
    CU_ASSERT_EQUAL(route_targets(&ctx, NULL, 0, 0, 0, 1000, t, 4, &nt, NULL, &reason), 404);
    CU_ASSERT_EQUAL(route_targets(&ctx, NULL, 0, 1, 0, 1000, t, 4, &nt, NULL, &reason), 480);
    CU_ASSERT_PTR_NULL(reason); /* the standard phrase */
    CU_ASSERT_EQUAL(nt, 0);
}

static void test_route_targets_redirect_lists_contacts(void)
{
    struct binding b[2] = {mk("sip:a@192.0.2.1", 1000, NULL, NULL, 0, 0),
                           mk("sip:b@192.0.2.2:5070", -1, NULL, NULL, 0, 0)};
    b[1].expires_at = 1000 + 30;
    struct target t[4];
    size_t nt;
    const char *reason;
    struct sbuf h;
    sbuf_init(&h);
    CU_ASSERT_EQUAL(route_targets(&ctx, b, 2, 1, 1, 1000, t, 4, &nt, &h, &reason), 302);
    CU_ASSERT_EQUAL(nt, 0);
    CU_ASSERT_STRING_EQUAL(h.p, "Contact: <sip:a@192.0.2.1>;q=1.000;expires=60\r\n"
                                "Contact: <sip:b@192.0.2.2:5070>;expires=30\r\n");
    sbuf_free(&h);
}

/* Each binding alone: where the branch goes, or that it is unreachable. */
static void test_route_targets_next_hop_per_binding(void)
{
    static const struct {
        const char *name;
        const char *contact, *path, *received;
        uint64_t conn_id;
        int reg_id;
        const char *dst; /* "proto ip:port", NULL = not reachable (480) */
        uint64_t dst_conn;
    } cases[] = {
        {"the Contact's address", "sip:a@192.0.2.1", NULL, "udp:192.0.2.99:4000", 0, 0,
         "udp 192.0.2.1:5060", 0},
        {"the Contact's transport", "sip:a@192.0.2.1:5070;transport=tcp", NULL, NULL, 0, 0,
         "tcp 192.0.2.1:5070", 0},
        {"the first Path entry", "sip:a@192.0.2.1", "<sip:192.0.2.8:5090;lr>,<sip:192.0.2.9;lr>",
         NULL, 0, 0, "udp 192.0.2.8:5090", 0},
        {"the device's own open TCP connection", "sip:a@192.0.2.1:5070;transport=tcp", NULL,
         "tcp:192.0.2.1:40000", 7, 0, "tcp 192.0.2.1:40000", 7},
        {"a closed TCP connection: the Contact", "sip:a@192.0.2.1:5070;transport=tcp", NULL,
         "tcp:192.0.2.1:40000", 8, 0, "tcp 192.0.2.1:5070", 0},
        {"a third party's TCP registration: the Contact", "sip:a@192.0.2.1", NULL,
         "tcp:192.0.2.44:40000", 7, 0, "udp 192.0.2.1:5060", 0},
        {"an outbound flow (reg-id) over UDP", "sip:a@10.0.0.1:5060", NULL, "udp:192.0.2.60:3333", 0,
         1, "udp 192.0.2.60:3333", 0},
        {"a Contact with a host name (no DNS here): unreachable", "sip:a@phone.example.net", NULL,
         NULL, 0, 0, NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct binding b = mk(cases[i].contact, -1, cases[i].path, cases[i].received,
                              cases[i].conn_id, cases[i].reg_id);
        struct target t[1];
        size_t nt;
        const char *reason;
        int code = route_targets(&ctx, &b, 1, 1, 0, 1000, t, 1, &nt, NULL, &reason);
        if (!cases[i].dst) {
            CU_ASSERT_EQUAL(code, 480);
            str_equal_or_null(reason, "No reachable contact", cases[i].name, "reason");
            continue;
        }
        CU_ASSERT_EQUAL_FATAL(code, 0);
        CU_ASSERT_EQUAL_FATAL(nt, 1);
        char a[64], d[80];
        snprintf(d, sizeof d, "%s %s", t[0].dst.proto == SIP_PROTO_TCP ? "tcp" : "udp",
                 sockaddr_str(&t[0].dst.peer, a, sizeof a));
        str_equal_or_null(d, cases[i].dst, cases[i].name, "next hop");
        CU_ASSERT_EQUAL(t[0].dst.conn_id, cases[i].dst_conn);
        str_equal_or_null(t[0].uri, cases[i].contact, cases[i].name, "Request-URI");
        str_equal_or_null(t[0].path, cases[i].path, cases[i].name, "Path");
        free_targets(t, nt);
    }
}

/* Bindings in q order become targets in that order (the groups forking follows); unreachable
 * ones are left out; no more than the room given. */
static void test_route_targets_keep_q_order(void)
{
    struct binding b[3] = {mk("sip:a@192.0.2.1", 1000, NULL, NULL, 0, 0),
                           mk("sip:b@unresolved.example", 700, NULL, NULL, 0, 0),
                           mk("sip:c@192.0.2.3", 500, NULL, NULL, 0, 0)};
    struct target t[4];
    size_t nt;
    const char *reason;
    CU_ASSERT_EQUAL_FATAL(route_targets(&ctx, b, 3, 1, 0, 1000, t, 4, &nt, NULL, &reason), 0);
    CU_ASSERT_EQUAL_FATAL(nt, 2);
    CU_ASSERT_STRING_EQUAL(t[0].uri, "sip:a@192.0.2.1");
    CU_ASSERT_EQUAL(t[0].q, 1000);
    CU_ASSERT_STRING_EQUAL(t[1].uri, "sip:c@192.0.2.3");
    CU_ASSERT_EQUAL(t[1].q, 500);
    free_targets(t, nt);
    CU_ASSERT_EQUAL_FATAL(route_targets(&ctx, b, 3, 1, 0, 1000, t, 1, &nt, NULL, &reason), 0);
    CU_ASSERT_EQUAL(nt, 1);
    free_targets(t, nt);
}

static void test_route_uri_ours(void)
{
    static const struct {
        const char *uri;
        int is_me, is_local;
    } cases[] = {
        {"sip:127.0.0.1", 1, 1},           {"sip:127.0.0.1:5070", 1, 1},
        {"sip:localhost:5060", 1, 1},      {"sip:127.0.0.1:5080", 0, 0},
        {"sip:bob@EXAMPLE.COM", 0, 1},     {"sip:bob@example.net", 0, 0},
        {"sip:192.0.2.1:5060", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        osip_uri_t *u = NULL;
        CU_ASSERT_FATAL(osip_uri_init(&u) == 0 && osip_uri_parse(u, cases[i].uri) == 0);
        if (uri_is_me(ctx.local, u) != cases[i].is_me || uri_is_ours(ctx.local, u) != cases[i].is_local) {
            fprintf(stderr, "\n  %s: is_me %d is_local %d\n", cases[i].uri, uri_is_me(ctx.local, u),
                    uri_is_ours(ctx.local, u));
            CU_FAIL(cases[i].uri);
        }
        osip_uri_free(u);
    }
}

void register_proxy_suites(void)
{
    sip_msg_init();
    CU_pSuite s = CU_add_suite("proxy", NULL, NULL);
    CU_add_test(s, "which URIs are ours", test_route_uri_ours);
    CU_add_test(s, "routing decisions (table)", test_route_decide_table);
    CU_add_test(s, "420 names the unsupported option", test_route_decide_420_names_the_option);
    CU_add_test(s, "a loop is 482, a spiral is not", test_route_decide_detects_a_loop_not_a_spiral);
    CU_add_test(s, "strict routing edits give the forwarded request",
                test_route_strict_edits_give_the_forwarded_request);
    CU_add_test(s, "ACK for a 2xx: where it goes (table)", test_route_decide_ack);
    CU_add_test(s, "no binding: 404 unknown, 480 known", test_route_targets_without_bindings);
    CU_add_test(s, "redirect mode lists the Contacts", test_route_targets_redirect_lists_contacts);
    CU_add_test(s, "next hop per binding (table)", test_route_targets_next_hop_per_binding);
    CU_add_test(s, "targets keep q order", test_route_targets_keep_q_order);
}
