/* test_presence.c - the presence package: PIDF checks and composition (pure functions), the
 * memory store's presence publications, and PUBLISH / SUBSCRIBE handling driven through a real
 * transaction layer on loopback UDP (the requests are handed to the package as server
 * transactions; responses and NOTIFYs are read back from a peer socket). */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/loop.h"
#include "base/sbuf.h"
#include "sip/pidf.h"
#include "roles/presence/presence.h"
#include "roles/presence/policy.h"
#include "sip/msg.h"
#include "sip/txn.h"
#include "sip/uri.h"
#include "store/store.h"
#include "suites.h"
#include "transport/transport.h"

#define AOR "sip:alice@example.com"
#define NOW INT64_C(1700000000)

static const char doc_open[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:alice@example.com\">\n"
    "  <tuple id=\"pc\"><status><basic>open</basic></status><note>desk</note></tuple>\n"
    "</presence>\n";

static const char doc_phone[] =
    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"\n"
    "          xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" entity=\"sip:alice@example.com\">\n"
    "  <!-- a comment <tuple> -->\n"
    "  <tuple id=\"phone\"><status><basic>closed</basic></status></tuple>\n"
    "  <dm:person id=\"p1\"><dm:note>busy</dm:note></dm:person>\n"
    "</presence>";

/* ---- PIDF ------------------------------------------------------------------------------------- */

static const char *const pidf_accepted[] = {
    doc_open,
    doc_phone,
    "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='sip:a@b'/>",
    "<p:presence xmlns:p=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:a@b\">"
    "<p:tuple id=\"x\"><p:status><p:basic>open</p:basic></p:status></p:tuple>"
    "</p:presence>\n<!-- trailer -->\n",
    "\xEF\xBB\xBF<?xml version='1.0'?><presence xmlns='urn:ietf:params:xml:ns:pidf'>"
    "<tuple id='a'><note><![CDATA[<not a tag>]]></note></tuple></presence>",
};

static const char *const pidf_rejected[] = {
    "",
    "hello",
    "<presence entity='sip:a@b'/>", /* no namespace */
    "<presence xmlns='urn:example'/>",
    "<foo xmlns='urn:ietf:params:xml:ns:pidf'/>",
    "<presence xmlns='urn:ietf:params:xml:ns:pidf'><tuple id='a'></presence>",
    "<presence xmlns='urn:ietf:params:xml:ns:pidf'><tuple id='a'>",
    "<presence xmlns='urn:ietf:params:xml:ns:pidf'></presence><x/>",
    "<presence xmlns='urn:ietf:params:xml:ns:pidf'></presence>junk",
    "<!DOCTYPE presence [<!ENTITY x 'y'>]><presence xmlns='urn:ietf:params:xml:ns:pidf'/>",
    "<presence xmlns=urn:ietf:params:xml:ns:pidf/>", /* unquoted */
    "<presence xmlns='urn:ietf:params:xml:ns:pidf'><!-- open",
};

#define NROWS(a) (sizeof(a) / sizeof((a)[0]))

static void test_pidf_check_accepts_pidf_documents(void)
{
    for (size_t i = 0; i < NROWS(pidf_accepted); i++)
        CU_ASSERT_EQUAL(pidf_check(pidf_accepted[i], strlen(pidf_accepted[i])), 0);
}

static void test_pidf_check_rejects_what_is_not_pidf(void)
{
    for (size_t i = 0; i < NROWS(pidf_rejected); i++)
        CU_ASSERT_EQUAL(pidf_check(pidf_rejected[i], strlen(pidf_rejected[i])), -1);
    static const char nul[] = "<presence xmlns='urn:ietf:params:xml:ns:pidf'>\0</presence>";
    CU_ASSERT_EQUAL(pidf_check(nul, sizeof nul - 1), -1);
    CU_ASSERT_EQUAL(pidf_check(NULL, 0), -1);
}

/* A PIDF publication as the composer reads it (the array order is the age order, oldest first). */
static struct pidf_part pub(const char *etag, const char *body)
{
    return (struct pidf_part){.content_type = PIDF_CONTENT_TYPE, .body = body,
                              .body_len = strlen(body), .etag = etag};
}

/* The composed document as text (caller frees), and how many tuples it took. */
static char *compose(const struct pidf_part *v, size_t n, size_t *ntuples)
{
    struct sbuf out;
    sbuf_init(&out);
    *ntuples = pidf_compose(AOR, v, n, &out);
    CU_ASSERT_FALSE(out.failed);
    CU_ASSERT_EQUAL(pidf_check(out.p, out.len), 0); /* what we compose, we accept */
    return sbuf_steal(&out, NULL);
}

static void test_compose_without_publication_is_one_closed_tuple(void)
{
    size_t nt;
    char *d = compose(NULL, 0, &nt);
    CU_ASSERT_EQUAL(nt, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "entity=\"sip:alice@example.com\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "<tuple id=\"sipd-closed\"><status><basic>closed</basic>"));
    CU_ASSERT_PTR_NULL(strstr(d, "open"));
    free(d);
}

static void test_compose_takes_every_tuple_newest_publication_first(void)
{
    struct pidf_part v[] = {pub("e1", doc_open), pub("e2", doc_phone)};
    size_t nt;
    char *d = compose(v, 2, &nt);
    CU_ASSERT_EQUAL(nt, 2);
    char *phone = strstr(d, "id=\"phone\""), *pc = strstr(d, "id=\"pc\"");
    CU_ASSERT_PTR_NOT_NULL(phone);
    CU_ASSERT_PTR_NOT_NULL(pc);
    CU_ASSERT(phone && pc && phone < pc);
    CU_ASSERT_PTR_NULL(strstr(d, "sipd-closed"));
    CU_ASSERT_PTR_NULL(strstr(d, "dm:person")); /* only tuples are composed */
    CU_ASSERT_PTR_NULL(strstr(d, "a comment"));
    /* the tuple carries its document's namespace declarations */
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "<tuple xmlns=\"urn:ietf:params:xml:ns:pidf\" "
                                     "xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" id=\"phone\">"));
    free(d);
}

static void test_compose_keeps_the_newest_tuple_of_an_id(void)
{
    static const char old_pc[] = "<presence xmlns='urn:ietf:params:xml:ns:pidf'><tuple id='pc'>"
                                 "<status><basic>closed</basic></status><note>old</note></tuple></presence>";
    struct pidf_part v[] = {pub("e1", old_pc), pub("e2", doc_open)};
    size_t nt;
    char *d = compose(v, 2, &nt);
    CU_ASSERT_EQUAL(nt, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "<note>desk</note>"));
    CU_ASSERT_PTR_NULL(strstr(d, "old"));
    free(d);
}

static void test_compose_prefixed_tuples_keep_their_prefix_declared(void)
{
    static const char pref[] = "<p:presence xmlns:p='urn:ietf:params:xml:ns:pidf' entity='sip:a@b'>"
                               "<p:tuple id='x' xmlns:e='urn:ext'><p:status><p:basic>open</p:basic>"
                               "</p:status><e:x/></p:tuple><p:note>n</p:note></p:presence>";
    struct pidf_part v[] = {pub("e1", pref)};
    size_t nt;
    char *d = compose(v, 1, &nt);
    CU_ASSERT_EQUAL(nt, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "<p:tuple xmlns:p='urn:ietf:params:xml:ns:pidf' id='x' "
                                     "xmlns:e='urn:ext'><p:status>"));
    CU_ASSERT_PTR_NULL(strstr(d, "<p:note>")); /* presence-level notes are not composed */
    free(d);
}

static void test_compose_skips_publications_that_are_not_pidf(void)
{
    struct pidf_part v[] = {pub("e1", doc_open), pub("e2", "<presence><broken")};
    size_t nt;
    char *d = compose(v, 2, &nt);
    CU_ASSERT_EQUAL(nt, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "id=\"pc\""));
    CU_ASSERT_PTR_NULL(strstr(d, "broken"));
    free(d);
    v[0].content_type = "text/plain"; /* not PIDF either: nothing left, so closed */
    d = compose(v, 2, &nt);
    CU_ASSERT_EQUAL(nt, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "sipd-closed"));
    free(d);
}

static void test_compose_escapes_the_entity(void)
{
    struct sbuf out;
    sbuf_init(&out);
    pidf_compose("sip:a&b\"<c>@example.com", NULL, 0, &out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, "entity=\"sip:a&amp;b&quot;&lt;c&gt;@example.com\""));
    CU_ASSERT_EQUAL(pidf_check(out.p, out.len), 0);
    sbuf_free(&out);
}

/* ---- memory store --------------------------------------------------------------------------- */

struct got {
    int calls, status;
    size_t n;
    char etags[4][64];
    char bodies[4][512];
    int64_t expires[4];
    char aors[4][64];
};

static void on_pres(void *arg, int status, const struct pres_publication *v, size_t n)
{
    struct got *g = arg;
    g->calls++;
    g->status = status;
    g->n = n;
    for (size_t i = 0; i < n && i < 4; i++) {
        snprintf(g->etags[i], sizeof g->etags[i], "%s", v[i].etag);
        snprintf(g->bodies[i], sizeof g->bodies[i], "%.*s", (int)v[i].body_len, v[i].body);
        g->expires[i] = v[i].expires_at;
        CU_ASSERT_STRING_EQUAL(v[i].aor, AOR);
        CU_ASSERT_STRING_EQUAL(v[i].content_type, PIDF_CONTENT_TYPE);
    }
}

static void on_aors(void *arg, int status, const char *const *aors, size_t n)
{
    struct got *g = arg;
    g->calls++;
    g->status = status;
    g->n = n;
    for (size_t i = 0; i < n && i < 4; i++)
        snprintf(g->aors[i], sizeof g->aors[i], "%s", aors[i]);
}

static struct store *mem_store(void) { return store_create(NULL, NULL); }

static void publish(struct store *st, const char *if_match, const char *etag, int64_t expires_at,
                    const char *body, int64_t now, struct got *g)
{
    memset(g, 0, sizeof *g);
    store_pres_publish(st, AOR, if_match, etag, expires_at, body ? PIDF_CONTENT_TYPE : NULL, body,
                       body ? strlen(body) : 0, now, on_pres, g);
    CU_ASSERT_EQUAL(g->calls, 1); /* the memory store completes before returning */
}

static void test_store_initial_publish_then_get(void)
{
    struct store *st = mem_store();
    struct got g;
    publish(st, NULL, "e1", NOW + 60, doc_open, NOW, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.n, 1);
    CU_ASSERT_STRING_EQUAL(g.etags[0], "e1");
    CU_ASSERT_STRING_EQUAL(g.bodies[0], doc_open);
    memset(&g, 0, sizeof g);
    store_pres_get(st, AOR, NOW + 1, on_pres, &g);
    CU_ASSERT_EQUAL(g.calls, 1);
    CU_ASSERT_EQUAL(g.n, 1);
    CU_ASSERT_EQUAL(g.expires[0], NOW + 60);
    memset(&g, 0, sizeof g);
    store_pres_get(st, "sip:nobody@example.com", NOW, on_pres, &g);
    CU_ASSERT_EQUAL(g.calls, 1);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.n, 0);
    /* initial without a body is refused */
    publish(st, NULL, "e9", NOW + 60, NULL, NOW, &g);
    CU_ASSERT_EQUAL(g.status, 400);
    store_destroy(st);
}

static void test_store_refresh_renames_the_etag_and_keeps_the_body(void)
{
    struct store *st = mem_store();
    struct got g;
    publish(st, NULL, "e1", NOW + 60, doc_open, NOW, &g);
    publish(st, "e1", "e2", NOW + 120, NULL, NOW + 10, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.n, 1);
    CU_ASSERT_STRING_EQUAL(g.etags[0], "e2");
    CU_ASSERT_STRING_EQUAL(g.bodies[0], doc_open);
    CU_ASSERT_EQUAL(g.expires[0], NOW + 120);
    publish(st, "e1", "e3", NOW + 120, NULL, NOW + 11, &g); /* the old tag is gone */
    CU_ASSERT_EQUAL(g.status, 412);
    CU_ASSERT_EQUAL(g.n, 0);
    store_destroy(st);
}

static void test_store_modify_replaces_the_body(void)
{
    struct store *st = mem_store();
    struct got g;
    publish(st, NULL, "e1", NOW + 60, doc_open, NOW, &g);
    publish(st, "e1", "e2", NOW + 60, doc_phone, NOW + 1, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.n, 1);
    CU_ASSERT_STRING_EQUAL(g.etags[0], "e2");
    CU_ASSERT_STRING_EQUAL(g.bodies[0], doc_phone);
    store_destroy(st);
}

static void test_store_remove_with_expires_zero(void)
{
    struct store *st = mem_store();
    struct got g;
    publish(st, NULL, "e1", NOW + 60, doc_open, NOW, &g);
    publish(st, NULL, "e2", NOW + 60, doc_phone, NOW, &g);
    CU_ASSERT_EQUAL(g.n, 2);
    publish(st, "e1", "e3", 0, NULL, NOW + 1, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.n, 1);
    CU_ASSERT_STRING_EQUAL(g.etags[0], "e2");
    publish(st, "e2", "e4", 0, NULL, NOW + 1, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.n, 0);
    publish(st, "e2", "e5", 0, NULL, NOW + 1, &g);
    CU_ASSERT_EQUAL(g.status, 412);
    store_destroy(st);
}

static void test_store_unknown_or_expired_etag_is_412(void)
{
    struct store *st = mem_store();
    struct got g;
    publish(st, "nope", "e1", NOW + 60, doc_open, NOW, &g);
    CU_ASSERT_EQUAL(g.status, 412);
    publish(st, NULL, "e1", NOW + 60, doc_open, NOW, &g);
    publish(st, "e1", "e2", NOW + 200, NULL, NOW + 60, &g); /* expired at NOW + 60 */
    CU_ASSERT_EQUAL(g.status, 412);
    memset(&g, 0, sizeof g);
    store_pres_get(st, AOR, NOW + 60, on_pres, &g);
    CU_ASSERT_EQUAL(g.n, 0);
    store_destroy(st);
}

static void test_store_lists_oldest_first(void)
{
    struct store *st = mem_store();
    struct got g;
    publish(st, NULL, "a", NOW + 60, doc_open, NOW, &g);
    publish(st, NULL, "b", NOW + 60, doc_phone, NOW + 1, &g);
    CU_ASSERT_EQUAL(g.n, 2);
    CU_ASSERT_STRING_EQUAL(g.etags[0], "a");
    CU_ASSERT_STRING_EQUAL(g.etags[1], "b");
    publish(st, "a", "a2", NOW + 60, NULL, NOW + 2, &g); /* a refresh makes it the newest */
    CU_ASSERT_EQUAL(g.n, 2);
    CU_ASSERT_STRING_EQUAL(g.etags[0], "b");
    CU_ASSERT_STRING_EQUAL(g.etags[1], "a2");
    publish(st, NULL, "c", NOW + 60, doc_open, NOW + 2, &g); /* same second: order of change */
    CU_ASSERT_EQUAL(g.n, 3);
    CU_ASSERT_STRING_EQUAL(g.etags[1], "a2");
    CU_ASSERT_STRING_EQUAL(g.etags[2], "c");
    store_destroy(st);
}

static void test_store_expire_reports_each_aor_once(void)
{
    struct store *st = mem_store();
    struct got g;
    publish(st, NULL, "a", NOW + 10, doc_open, NOW, &g);
    publish(st, NULL, "b", NOW + 10, doc_phone, NOW, &g);
    publish(st, NULL, "c", NOW + 100, doc_phone, NOW, &g);
    memset(&g, 0, sizeof g);
    store_pres_expire(st, NOW + 5, on_aors, &g);
    CU_ASSERT_EQUAL(g.calls, 1);
    CU_ASSERT_EQUAL(g.n, 0);
    memset(&g, 0, sizeof g);
    store_pres_expire(st, NOW + 10, on_aors, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    CU_ASSERT_EQUAL(g.n, 1);
    CU_ASSERT_STRING_EQUAL(g.aors[0], AOR);
    memset(&g, 0, sizeof g);
    store_pres_get(st, AOR, NOW + 10, on_pres, &g);
    CU_ASSERT_EQUAL(g.n, 1);
    CU_ASSERT_STRING_EQUAL(g.etags[0], "c");
    memset(&g, 0, sizeof g);
    store_pres_expire(st, NOW + 100, on_aors, &g);
    CU_ASSERT_EQUAL(g.n, 1);
    memset(&g, 0, sizeof g);
    store_pres_expire(st, NOW + 200, on_aors, &g);
    CU_ASSERT_EQUAL(g.n, 0);
    store_pres_expire(st, NOW + 200, NULL, NULL); /* done may be NULL */
    store_destroy(st);
}

/* ---- the package over a transaction layer ------------------------------------------------- */

#include "loop_fixture.h"

static struct {
    struct loop_fixture lf;
    struct store *st;
    struct presence *p;
    int peer_fd;
    int peer_port;
    struct sip_source src; /* the peer, as the requests' source */
    int cseq;
    const char *user; /* the presentity of request(): a test of its own uses its own */
} fx;

static const char *const domains[] = {"example.com", NULL};

static int pkg_setup(void)
{
    memset(&fx, 0, sizeof fx);
    struct loop_fixture_config lc = {.t1_ms = 1000, .t2_ms = 4000, .t4_ms = 5000, /* no retransmission within a test */
                                     .listen_udp = true};
    if (loop_fixture_open(&fx.lf, &lc) != 0)
        return -1;
    fx.st = store_create(fx.lf.loop, NULL);
    struct presence_config cfg = {
        .publish_min_expires = 30, .publish_max_expires = 3600, .publish_default_expires = 600,
        .subscribe_min_expires = 30, .subscribe_max_expires = 3600,
        .subscribe_default_expires = 600, .domains = domains,
    };
    fx.p = presence_create(fx.lf.loop, fx.lf.tp, fx.lf.tl, fx.st, &cfg);
    fx.peer_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fx.peer_fd, (struct sockaddr *)&a, sizeof a);
    fx.src.proto = SIP_PROTO_UDP;
    fx.src.udp_fd = -1;
    fx.src.peerlen = sizeof(struct sockaddr_in);
    getsockname(fx.peer_fd, (struct sockaddr *)&fx.src.peer, &fx.src.peerlen);
    fx.peer_port = ntohs(((struct sockaddr_in *)&fx.src.peer)->sin_port);
    return fx.st && fx.p && fx.peer_fd >= 0 ? 0 : -1;
}

static int pkg_teardown(void)
{
    store_destroy(fx.st);
    presence_destroy(fx.p);
    loop_fixture_close(&fx.lf);
    close(fx.peer_fd);
    return 0;
}

static void run_ms(unsigned ms)
{
    loop_fixture_run_ms(&fx.lf, ms);
}

/* Every datagram the peer got (after letting the loop run a little), concatenated with "\n====\n"
 * between them. Caller frees. */
static char *peer_read(void)
{
    run_ms(20);
    struct sbuf all;
    sbuf_init(&all);
    char buf[65536];
    for (;;) {
        ssize_t r = recv(fx.peer_fd, buf, sizeof buf - 1, 0);
        if (r < 0)
            break;
        if (all.len)
            sbuf_puts(&all, "\n====\n");
        sbuf_append(&all, buf, (size_t)r);
    }
    sbuf_puts(&all, "");
    return sbuf_steal(&all, NULL);
}

enum kind { PUBLISH, SUBSCRIBE };

/* Hand a request to the package: PUBLISH or SUBSCRIBE to alice, with extra header lines and a
 * body (NULL: none). For SUBSCRIBE, to_tag non-NULL makes it in-dialog. Returns what the peer
 * received (caller frees). */
static char *request(enum kind k, const char *headers, const char *body, const char *to_tag)
{
    char text[8192];
    const char *m = k == PUBLISH ? "PUBLISH" : "SUBSCRIBE";
    const char *user = fx.user ? fx.user : "alice";
    fx.cseq++;
    snprintf(text, sizeof text,
             "%s sip:%s@example.com SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKut%d\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=fb\r\n"
             "To: <sip:%s@example.com>%s%s\r\nCall-ID: ut-presence\r\nCSeq: %d %s\r\n"
             "Contact: <sip:bob@127.0.0.1:%d>\r\n%s%s"
             "Content-Length: %zu\r\n\r\n%s",
             m, user, fx.peer_port, fx.cseq, user, to_tag ? ";tag=" : "", to_tag ? to_tag : "", fx.cseq, m,
             fx.peer_port, headers ? headers : "",
             body ? "Content-Type: application/pidf+xml\r\n" : "", body ? strlen(body) : 0,
             body ? body : "");
    osip_message_t *req = sip_parse(text, strlen(text));
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    int absorbed = 0;
    struct sip_txn *t = txn_server_new(fx.lf.tl, req, &fx.src, &absorbed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    struct sip_event ev; /* as the server parsed it */
    sip_event_of(req, &ev);
    if (k == PUBLISH) {
        presence_handle_publish(fx.p, t, &ev);
    } else if (to_tag) {
        CU_ASSERT_EQUAL(presence_handle_in_dialog(fx.p, t, &ev), 1);
    } else {
        presence_handle_subscribe(fx.p, t, &ev);
    }
    return peer_read();
}

/* The value of header `name` ("SIP-ETag: ") in the first message of s, into buf. */
static const char *hval(const char *s, const char *name, char *buf, size_t n)
{
    const char *end = strstr(s, "\r\n\r\n");
    const char *h = strstr(s, name);
    if (!h || (end && h > end)) {
        buf[0] = '\0';
        return NULL;
    }
    h += strlen(name);
    size_t k = strcspn(h, "\r\n");
    snprintf(buf, n, "%.*s", (int)k, h);
    return buf;
}

static int status_is(const char *s, int code)
{
    char want[32];
    snprintf(want, sizeof want, "SIP/2.0 %d ", code);
    return strncmp(s, want, strlen(want)) == 0;
}

/* Answer every NOTIFY in `all` (what the peer read) with `code`, fed to the transaction layer as
 * if it came back from the peer. Returns how many there were. */
static int answer_in(const char *all, int code)
{
    int n = 0;
    for (const char *p = all; (p = strstr(p, "NOTIFY sip:")) != NULL; p++) {
        if (p != all && p[-1] != '\n')
            continue;
        const char *end = strstr(p, "\n====\n");
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *text = strndup(p, len);
        osip_message_t *req = sip_parse(text, len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(req);
        osip_message_t *resp = sip_response_new(req, code, NULL, "peertag");
        char *rt = NULL;
        size_t rl = 0;
        sip_serialize(resp, &rt, &rl);
        struct sip_source from = fx.src;
        CU_ASSERT_EQUAL(txn_client_response(fx.lf.tl, resp, rt, rl, &from), 1);
        osip_free(rt);
        osip_message_free(resp);
        osip_message_free(req);
        free(text);
        n++;
    }
    return n;
}

/* Read what the peer got and answer its NOTIFYs. Returns the text (caller frees). */
static char *answer_notifies(int code, int *nnotify)
{
    char *all = peer_read();
    *nnotify = answer_in(all, code);
    return all;
}

static void test_publish_initial_refresh_modify_remove(void)
{
    char etag1[64], etag2[64], etag3[64], v[64];
    char *r = request(PUBLISH, "Event: presence\r\nExpires: 60\r\n", doc_open, NULL);
    CU_ASSERT(status_is(r, 200));
    CU_ASSERT_PTR_NOT_NULL(hval(r, "SIP-ETag: ", etag1, sizeof etag1));
    CU_ASSERT_STRING_EQUAL(hval(r, "Expires: ", v, sizeof v) ? v : "", "60");
    free(r);

    r = request(PUBLISH, "Event: presence\r\nExpires: 90000\r\n", NULL, NULL);
    CU_ASSERT(status_is(r, 400)); /* initial without a body */
    free(r);

    char h[256];
    snprintf(h, sizeof h, "Event: presence\r\nSIP-If-Match: %s\r\n", etag1);
    r = request(PUBLISH, h, NULL, NULL); /* refresh, default expiry */
    CU_ASSERT(status_is(r, 200));
    CU_ASSERT_PTR_NOT_NULL(hval(r, "SIP-ETag: ", etag2, sizeof etag2));
    CU_ASSERT_STRING_NOT_EQUAL(etag2, etag1);
    CU_ASSERT_STRING_EQUAL(hval(r, "Expires: ", v, sizeof v) ? v : "", "600");
    free(r);

    snprintf(h, sizeof h, "Event: presence\r\nSIP-If-Match: %s\r\nExpires: 90000\r\n", etag2);
    r = request(PUBLISH, h, doc_phone, NULL); /* modify, expiry shortened to the maximum */
    CU_ASSERT(status_is(r, 200));
    CU_ASSERT_PTR_NOT_NULL(hval(r, "SIP-ETag: ", etag3, sizeof etag3));
    CU_ASSERT_STRING_EQUAL(hval(r, "Expires: ", v, sizeof v) ? v : "", "3600");
    free(r);

    snprintf(h, sizeof h, "Event: presence\r\nSIP-If-Match: %s\r\n", etag2);
    r = request(PUBLISH, h, NULL, NULL);
    CU_ASSERT(status_is(r, 412)); /* replaced by the modify */
    free(r);

    snprintf(h, sizeof h, "Event: presence\r\nSIP-If-Match: %s\r\nExpires: 0\r\n", etag3);
    r = request(PUBLISH, h, NULL, NULL);
    CU_ASSERT(status_is(r, 200));
    CU_ASSERT_STRING_EQUAL(hval(r, "Expires: ", v, sizeof v) ? v : "", "0");
    CU_ASSERT_PTR_NULL(hval(r, "SIP-ETag: ", v, sizeof v));
    free(r);

    r = request(PUBLISH, h, NULL, NULL);
    CU_ASSERT(status_is(r, 412)); /* removed */
    free(r);
}

static void test_publish_412_for_unknown_and_expired_etags(void)
{
    char *r = request(PUBLISH, "Event: presence\r\nSIP-If-Match: nosuchtag\r\n", NULL, NULL);
    CU_ASSERT(status_is(r, 412));
    free(r);
    /* a publication that expired a second ago, put straight into the store */
    struct got g;
    int64_t now = (int64_t)time(NULL);
    memset(&g, 0, sizeof g);
    store_pres_publish(fx.st, AOR, NULL, "stale1", now - 1, PIDF_CONTENT_TYPE, doc_open,
                       strlen(doc_open), now - 100, on_pres, &g);
    CU_ASSERT_EQUAL(g.status, 0);
    r = request(PUBLISH, "Event: presence\r\nSIP-If-Match: stale1\r\n", NULL, NULL);
    CU_ASSERT(status_is(r, 412));
    free(r);
    r = request(PUBLISH, "Event: presence\r\nSIP-If-Match: stale1\r\n", doc_open, NULL);
    CU_ASSERT(status_is(r, 412));
    free(r);
}

/* A request the package answers with an error at once: its header lines and body, the status,
 * and one header the answer must carry with exactly this value (name NULL: none checked). */
struct rejection {
    const char *headers, *body;
    int status;
    const char *name, *value;
};

static void check_rejections(enum kind k, const struct rejection *rows, size_t n)
{
    char v[64];
    for (size_t i = 0; i < n; i++) {
        const struct rejection *x = &rows[i];
        char *r = request(k, x->headers, x->body, NULL);
        CU_ASSERT(status_is(r, x->status));
        if (x->name)
            CU_ASSERT_STRING_EQUAL(hval(r, x->name, v, sizeof v) ? v : "", x->value);
        free(r);
    }
}

static const struct rejection publish_rejections[] = {
    {"Event: dialog\r\n", doc_open, 489, "Allow-Events: ", "im, presence"},
    {NULL, doc_open, 489, NULL, NULL}, /* no Event at all */
    {"Event: presence\r\nExpires: 10\r\n", doc_open, 423, "Min-Expires: ", "30"},
    {"Event: presence\r\nExpires: soon\r\n", doc_open, 400, NULL, NULL},
    {"Event: presence\r\n", "<presence><tuple></presence>", 400, NULL, NULL}, /* not PIDF */
};

static void test_publish_rejections(void)
{
    check_rejections(PUBLISH, publish_rejections, NROWS(publish_rejections));
}

static void test_subscribe_gets_200_and_a_closed_notify_then_updates(void)
{
    char v[256], tag[64];
    char *r = request(SUBSCRIBE, "Event: presence\r\nExpires: 120\r\n", NULL, NULL);
    CU_ASSERT(status_is(r, 200));
    CU_ASSERT_STRING_EQUAL(hval(r, "Expires: ", v, sizeof v) ? v : "", "120");
    CU_ASSERT_STRING_EQUAL(hval(r, "Allow-Events: ", v, sizeof v) ? v : "", "im, presence");
    CU_ASSERT_PTR_NOT_NULL(hval(r, "Contact: ", v, sizeof v));
    const char *tt = strstr(r, "To: <sip:alice@example.com>;tag=");
    CU_ASSERT_PTR_NOT_NULL_FATAL(tt);
    snprintf(tag, sizeof tag, "%.*s", (int)strcspn(tt + 32, "\r\n;"), tt + 32);
    const char *n = strstr(r, "\n====\nNOTIFY sip:bob@127.0.0.1:");
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    n += 6;
    CU_ASSERT_STRING_EQUAL(hval(n, "Event: ", v, sizeof v) ? v : "", "presence");
    CU_ASSERT_STRING_EQUAL(hval(n, "Subscription-State: ", v, sizeof v) ? v : "", "active;expires=120");
    CU_ASSERT_STRING_EQUAL(hval(n, "Content-Type: ", v, sizeof v) ? v : "", PIDF_CONTENT_TYPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(n, "<basic>closed</basic>"));
    CU_ASSERT_EQUAL(presence_subscriptions(fx.p), 1);
    char *first = r;

    /* the NOTIFY is outstanding (the peer does not answer): a publish marks the subscription
     * dirty, no second NOTIFY overtakes the first */
    r = request(PUBLISH, "Event: presence\r\nExpires: 60\r\n", doc_open, NULL);
    CU_ASSERT(status_is(r, 200));
    CU_ASSERT_PTR_NULL(strstr(r, "NOTIFY"));
    free(r);

    /* an unsubscribe: 200, the final NOTIFY follows once the outstanding one is over (Timer F,
     * answered below) */
    char h[128];
    snprintf(h, sizeof h, "Event: presence\r\nExpires: 0\r\n");
    r = request(SUBSCRIBE, h, NULL, tag);
    CU_ASSERT(status_is(r, 200));
    CU_ASSERT_STRING_EQUAL(hval(r, "Expires: ", v, sizeof v) ? v : "", "0");
    CU_ASSERT_EQUAL(presence_subscriptions(fx.p), 0);
    CU_ASSERT_PTR_NULL(strstr(r, "NOTIFY")); /* the first one is still outstanding */
    free(r);

    /* the first NOTIFY answered: the final one goes out, with the state as it is now (open) */
    CU_ASSERT_EQUAL(answer_in(first, 200), 1);
    free(first);
    int nn;
    r = answer_notifies(200, &nn);
    CU_ASSERT_EQUAL(nn, 1);
    CU_ASSERT_STRING_EQUAL(hval(r, "Subscription-State: ", v, sizeof v) ? v : "",
                           "terminated;reason=timeout");
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "<basic>open</basic>"));
    free(r);
    r = answer_notifies(200, &nn);
    CU_ASSERT_EQUAL(nn, 0);
    free(r);
}

static void test_tick_expires_publications_and_subscriptions(void)
{
    int n;
    char v[128];
    int64_t now = (int64_t)time(NULL);
    fx.user = "carol";
    char *r = request(SUBSCRIBE, "Event: presence\r\nExpires: 100\r\n", NULL, NULL);
    CU_ASSERT(status_is(r, 200));
    CU_ASSERT_EQUAL(answer_in(r, 200), 1);
    free(r);
    r = request(PUBLISH, "Event: presence\r\nExpires: 40\r\n", doc_open, NULL);
    CU_ASSERT(status_is(r, 200));
    const char *nt = strstr(r, "\n====\nNOTIFY ");
    CU_ASSERT_PTR_NOT_NULL(nt);
    CU_ASSERT_PTR_NOT_NULL(nt ? strstr(nt, "<basic>open</basic>") : NULL);
    CU_ASSERT_EQUAL(answer_in(r, 200), 1);
    free(r);

    presence_tick(fx.p, now + 10); /* nothing expired yet */
    r = answer_notifies(200, &n);
    CU_ASSERT_EQUAL(n, 0);
    free(r);

    /* the publication expires: one NOTIFY, closed, subscription still active */
    presence_tick(fx.p, now + 50);
    r = answer_notifies(200, &n);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "<basic>closed</basic>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "Subscription-State: active;expires="));
    free(r);
    CU_ASSERT_EQUAL(presence_subscriptions(fx.p), 1);

    /* the subscription expires: a final NOTIFY without body */
    presence_tick(fx.p, now + 101);
    CU_ASSERT_EQUAL(presence_subscriptions(fx.p), 0);
    r = answer_notifies(200, &n);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_STRING_EQUAL(hval(r, "Subscription-State: ", v, sizeof v) ? v : "",
                           "terminated;reason=timeout");
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "Content-Length: 0"));
    free(r);

    /* gone: a change NOTIFYs nobody */
    r = request(PUBLISH, "Event: presence\r\nExpires: 40\r\n", doc_phone, NULL);
    CU_ASSERT(status_is(r, 200));
    CU_ASSERT_PTR_NULL(strstr(r, "NOTIFY"));
    free(r);
    fx.user = NULL;
}

static void test_notify_481_removes_the_subscription(void)
{
    int n;
    char *r = request(SUBSCRIBE, "Event: presence\r\nExpires: 100\r\n", NULL, NULL);
    CU_ASSERT(status_is(r, 200));
    CU_ASSERT_EQUAL(presence_subscriptions(fx.p), 1);
    CU_ASSERT_EQUAL(answer_in(r, 481), 1);
    free(r);
    CU_ASSERT_EQUAL(presence_subscriptions(fx.p), 0);
    free(answer_notifies(200, &n));
    CU_ASSERT_EQUAL(n, 0);
    r = request(PUBLISH, "Event: presence\r\nExpires: 40\r\n", doc_open, NULL);
    CU_ASSERT(status_is(r, 200));
    CU_ASSERT_PTR_NULL(strstr(r, "NOTIFY"));
    free(r);
}

static const struct rejection subscribe_rejections[] = {
    {"Event: message-summary\r\n", NULL, 489, "Allow-Events: ", "im, presence"},
    {NULL, NULL, 400, NULL, NULL}, /* no Event */
    {"Event: presence\r\nExpires: 5\r\n", NULL, 423, "Min-Expires: ", "30"},
};

static void test_subscribe_rejections(void)
{
    check_rejections(SUBSCRIBE, subscribe_rejections, NROWS(subscribe_rejections));
    CU_ASSERT_EQUAL(presence_subscriptions(fx.p), 0);
}


/* ---- the watch policy (roles/presence/policy.h, docs/presence.md §6.1) ---- */

static void test_policy_decides_in_order_owner_block_allow_default(void)
{
    const char *const allow[] = {"sip:bob@example.org", "friends.example"};
    const char *const block[] = {"sip:mallory@example.com", "spam.example"};
    const struct pres_rules r = {.allow = allow, .nallow = 2, .block = block, .nblock = 2};
    const char *me = "sip:alice@example.com";
    static const struct {
        const char *aor;
        int is_auth, is_served, auth_on;
        int allowed;
        const char *why;
    } cases[] = {
        {"sip:alice@example.com", 1, 1, 1, 1, "owner"},
        {"sip:alice@example.com", 0, 1, 0, 1, "owner"},           /* auth off: a claim */
        {"sip:alice@example.com", 0, 1, 1, 0, "not-authenticated"}, /* unchecked claim */
        {"sip:mallory@example.com", 1, 1, 1, 0, "blocked"},
        {"sip:mallory@example.com", 0, 1, 0, 0, "blocked"},
        {"sip:x@spam.example", 0, 0, 1, 0, "blocked"},
        {"sip:bob@example.org", 0, 0, 1, 1, "allowed"},           /* another domain, listed */
        {"sip:eve@friends.example", 0, 0, 0, 1, "allowed"},       /* a listed domain */
        {"sip:carol@example.com", 1, 1, 1, 1, "default"},
        {"sip:carol@example.com", 0, 1, 0, 1, "default"},          /* auth off: From served */
        {"sip:carol@example.com", 0, 1, 1, 0, "not-authenticated"},
        {"sip:dave@example.net", 0, 0, 1, 0, "other-domain"},
        {"sip:dave@example.net", 0, 0, 0, 0, "other-domain"},
        {NULL, 0, 0, 0, 0, "other-domain"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pres_watcher w = {.aor = cases[i].aor, .is_authenticated = cases[i].is_auth,
                                 .is_served = cases[i].is_served};
        const char *why = NULL;
        int got = pres_policy_allows(me, &w, &r, cases[i].auth_on, &why);
        if (got != cases[i].allowed || !why || strcmp(why, cases[i].why) != 0)
            printf("\n  policy case %zu (%s): got %d %s\n", i, cases[i].aor ? cases[i].aor : "-",
                   got, why ? why : "-");
        CU_ASSERT_EQUAL(got, cases[i].allowed);
        CU_ASSERT_PTR_NOT_NULL_FATAL(why);
        CU_ASSERT_STRING_EQUAL(why, cases[i].why);
    }
    /* no rules at all: the default */
    struct pres_watcher w = {.aor = "sip:carol@example.com", .is_authenticated = 1, .is_served = 1};
    CU_ASSERT_EQUAL(pres_policy_allows(me, &w, NULL, 1, NULL), 1);
}

static void test_policy_entries_are_canonical_and_bounded(void)
{
    static const struct {
        const char *in, *out; /* out NULL: refused */
    } cases[] = {
        {"sip:Bob@Example.ORG", "sip:Bob@example.org"},
        {"sips:bob@example.org", "sip:bob@example.org"},
        {"bob@example.org", "sip:bob@example.org"},
        {"Example.ORG", "example.org"},
        {"sip:bob@[::1]", "sip:bob@[::1]"},
        {"", NULL},
        {"sip:@example.org", NULL},
        {"sip:bob@", NULL},
        {"sip:bob@example.org;transport=tcp", NULL},
        {"sip:bob@example.org:5060", NULL},
        {"sip:b ob@example.org", NULL},
        {"sip:b<o>b@example.org", NULL},
        {"sip:bob@ex@ample.org", NULL},
        {"tel:+123@example.org", NULL},
        {"exa mple.org", NULL},
        {"-example.org", NULL},
    };
    char out[STORE_PRES_RULE_BYTES + 1];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = pres_rule_entry(cases[i].in, out, sizeof out);
        CU_ASSERT_EQUAL(rc, cases[i].out ? 0 : -1);
        if (cases[i].out && rc == 0)
            CU_ASSERT_STRING_EQUAL(out, cases[i].out);
    }
    char big[STORE_PRES_RULE_BYTES + 8];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CU_ASSERT_EQUAL(pres_rule_entry(big, out, sizeof out), -1);
    CU_ASSERT_EQUAL(pres_rule_matches("example.org", "sip:bob@EXAMPLE.org"), 1);
    CU_ASSERT_EQUAL(pres_rule_matches("example.org", "sip:bob@sub.example.org"), 0);
    CU_ASSERT_EQUAL(pres_rule_matches("sip:bob@example.org", "sip:bobby@example.org"), 0);
}

void register_presence_suites(void)
{
    CU_pSuite s = CU_add_suite("presence_policy", NULL, NULL);
    CU_add_test(s, "owner, block, allow, default, in this order", test_policy_decides_in_order_owner_block_allow_default);
    CU_add_test(s, "list entries canonical and bounded", test_policy_entries_are_canonical_and_bounded);

    s = CU_add_suite("presence_pidf", NULL, NULL);
    CU_add_test(s, "PIDF documents accepted", test_pidf_check_accepts_pidf_documents);
    CU_add_test(s, "non-PIDF rejected", test_pidf_check_rejects_what_is_not_pidf);
    CU_add_test(s, "no publication: one closed tuple", test_compose_without_publication_is_one_closed_tuple);
    CU_add_test(s, "every tuple, newest publication first", test_compose_takes_every_tuple_newest_publication_first);
    CU_add_test(s, "a tuple id used twice: newest wins", test_compose_keeps_the_newest_tuple_of_an_id);
    CU_add_test(s, "prefixed tuples keep their prefix declared", test_compose_prefixed_tuples_keep_their_prefix_declared);
    CU_add_test(s, "publications that are not PIDF skipped", test_compose_skips_publications_that_are_not_pidf);
    CU_add_test(s, "entity escaped", test_compose_escapes_the_entity);

    s = CU_add_suite("presence_store_memory", NULL, NULL);
    CU_add_test(s, "initial publish, then get", test_store_initial_publish_then_get);
    CU_add_test(s, "refresh renames the etag, keeps the body", test_store_refresh_renames_the_etag_and_keeps_the_body);
    CU_add_test(s, "modify replaces the body", test_store_modify_replaces_the_body);
    CU_add_test(s, "remove with expires 0", test_store_remove_with_expires_zero);
    CU_add_test(s, "unknown or expired etag: 412", test_store_unknown_or_expired_etag_is_412);
    CU_add_test(s, "oldest first", test_store_lists_oldest_first);
    CU_add_test(s, "expire reports each AOR once", test_store_expire_reports_each_aor_once);

    s = CU_add_suite("presence_package", pkg_setup, pkg_teardown);
    CU_add_test(s, "PUBLISH initial, refresh, modify, remove", test_publish_initial_refresh_modify_remove);
    CU_add_test(s, "PUBLISH 412 unknown and expired etags", test_publish_412_for_unknown_and_expired_etags);
    CU_add_test(s, "PUBLISH 489, 423, 400", test_publish_rejections);
    CU_add_test(s, "SUBSCRIBE 200 + closed NOTIFY, flow control, unsubscribe", test_subscribe_gets_200_and_a_closed_notify_then_updates);
    CU_add_test(s, "SUBSCRIBE 489, 400, 423", test_subscribe_rejections);
    CU_add_test(s, "tick expires publications and subscriptions", test_tick_expires_publications_and_subscriptions);
    CU_add_test(s, "481 to a NOTIFY removes the subscription", test_notify_481_removes_the_subscription);
}
