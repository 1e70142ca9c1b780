/* test_digest.c - digest credentials parsing, hashes and challenges (sip/digest.h) and the
 * stateless nonces with their nonce-count table (auth/nonce.h).
 *
 * Where the expected values come from: the RFC 2617 §3.5 example (MD5, response
 * 6629fae4...) and the RFC 7616 §3.9.1 example (MD5 8ca523f5..., SHA-256 753927fa...), each
 * recomputed with Python's hashlib (hashlib.md5 / hashlib.sha256 over "user:realm:password",
 * "method:uri" and "HA1:nonce:nc:cnonce:qop:HA2") before being written here; the SIP cases
 * (alice, example.com, "secret") were computed the same way.
 * Also the failed-authentication limits (auth/authlimit.h) and the rates below one per second
 * they need from base/ratelimit.h. */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/authlimit.h"
#include "auth/nonce.h"
#include "base/ratelimit.h"
#include "sip/digest.h"
#include "suites.h"

static int parse(const char *s, struct digest_credentials *c)
{
    return digest_parse_credentials(s, strlen(s), c);
}

static void test_digest_parses_rfc2617_example(void)
{
    struct digest_credentials c;
    const char *h = "Digest username=\"Mufasa\",\r\n realm=\"testrealm@host.com\",\r\n"
                    "\tnonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\","
                    " qop=auth, nc=00000001, cnonce=\"0a4f113b\","
                    " response=\"6629fae49393a05397450978507c4ef1\","
                    " opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
    CU_ASSERT_EQUAL_FATAL(parse(h, &c), DIGEST_OK);
    CU_ASSERT_STRING_EQUAL(c.username, "Mufasa");
    CU_ASSERT_STRING_EQUAL(c.realm, "testrealm@host.com");
    CU_ASSERT_STRING_EQUAL(c.uri, "/dir/index.html");
    CU_ASSERT_STRING_EQUAL(c.nc, "00000001");
    CU_ASSERT_STRING_EQUAL(c.qop, "auth");
    CU_ASSERT_STRING_EQUAL(c.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
    CU_ASSERT_EQUAL(c.alg, DIGEST_MD5);
    char ha1[DIGEST_MAX_HEX + 1], resp[DIGEST_MAX_HEX + 1];
    CU_ASSERT_EQUAL_FATAL(digest_ha1(DIGEST_MD5, "Mufasa", "testrealm@host.com", "Circle Of Life", ha1), 0);
    CU_ASSERT_STRING_EQUAL(ha1, "939e7578ed9e3c518a452acee763bce9");
    CU_ASSERT_EQUAL_FATAL(digest_expected_response(DIGEST_MD5, ha1, "GET", &c, resp), 0);
    CU_ASSERT_STRING_EQUAL(resp, "6629fae49393a05397450978507c4ef1");
    CU_ASSERT(digest_hex_equal(resp, c.response));
    CU_ASSERT(digest_hex_equal(resp, "6629FAE49393A05397450978507C4EF1"));
    CU_ASSERT(!digest_hex_equal(resp, "6629fae49393a05397450978507c4ef0"));
}

static void test_digest_rfc7616_md5_and_sha256(void)
{
    static const struct {
        enum digest_alg alg;
        const char *algname, *ha1, *response;
    } cases[] = {
        {DIGEST_MD5, "MD5", "3d78807defe7de2157e2b0b6573a855f", "8ca523f5e9506fed4657c9700eebdbec"},
        {DIGEST_SHA256, "SHA-256",
         "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232",
         "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
    };
    for (size_t i = 0; i < 2; i++) {
        char h[1024];
        snprintf(h, sizeof h,
                 "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\","
                 " algorithm=%s, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001,"
                 " cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth,"
                 " response=\"%s\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
                 cases[i].algname, cases[i].response);
        struct digest_credentials c;
        CU_ASSERT_EQUAL_FATAL(parse(h, &c), DIGEST_OK);
        CU_ASSERT_EQUAL(c.alg, cases[i].alg);
        char ha1[DIGEST_MAX_HEX + 1], resp[DIGEST_MAX_HEX + 1];
        CU_ASSERT_EQUAL(digest_ha1(c.alg, "Mufasa", "http-auth@example.org", "Circle of Life", ha1), 0);
        CU_ASSERT_STRING_EQUAL(ha1, cases[i].ha1);
        CU_ASSERT_EQUAL(digest_expected_response(c.alg, ha1, "GET", &c, resp), 0);
        CU_ASSERT_STRING_EQUAL(resp, cases[i].response);
    }
}

static void test_digest_sip_register_and_no_qop(void)
{
    struct digest_credentials c;
    const char *h = "Digest username=\"alice\",realm=\"example.com\","
                    "nonce=\"00000000000000010123456789abcdef0123456789abcdef\",uri=\"sip:example.com\","
                    "response=\"c67220bbbcf078246215b2b8113554a2a4f1e4c2fa0efbcc8cf33778c32d0086\","
                    "algorithm=sha-256,cnonce=\"abc\",qop=\"auth\",nc=00000001";
    CU_ASSERT_EQUAL_FATAL(parse(h, &c), DIGEST_OK);
    char ha1[DIGEST_MAX_HEX + 1], resp[DIGEST_MAX_HEX + 1];
    digest_ha1(DIGEST_SHA256, "alice", "example.com", "secret", ha1);
    CU_ASSERT_STRING_EQUAL(ha1, "ed8925b20f9a77b8f8f8d5f8e4467fe32b866f7208ab9e4b20595e9821a0fdee");
    digest_expected_response(DIGEST_SHA256, ha1, "REGISTER", &c, resp);
    CU_ASSERT(digest_hex_equal(resp, c.response));
    /* RFC 2069 form (no qop): H(HA1:nonce:H(method:uri)) */
    const char *h2 = "Digest username=\"alice\", realm=\"example.com\", nonce=\"n1\","
                     " uri=\"sip:bob@example.com\", response=\"a61357255381128d477e0e8b415f6cb6\"";
    CU_ASSERT_EQUAL_FATAL(parse(h2, &c), DIGEST_OK);
    digest_ha1(DIGEST_MD5, "alice", "example.com", "secret", ha1);
    CU_ASSERT_STRING_EQUAL(ha1, "b1726872c344b6dc8365b774f8fd6412");
    digest_expected_response(DIGEST_MD5, ha1, "INVITE", &c, resp);
    CU_ASSERT_STRING_EQUAL(resp, "a61357255381128d477e0e8b415f6cb6");
}

#define OKH "username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", response=\"0123456789abcdef0123456789abcdef\""

static void test_digest_rejects_malformed_table(void)
{
    static const struct {
        const char *h;
        int want;
    } cases[] = {
        {"Digest " OKH, DIGEST_OK},
        {"digest   " OKH ",,", DIGEST_OK},
        {"Digest " OKH ", foo=bar, baz=\"q\\\"x\"", DIGEST_OK},   /* unknown parameters skipped */
        {"Digest " OKH ", nc=00000001, qop=auth, cnonce=\"c\"", DIGEST_OK},
        {"Basic YWxhZGRpbjpvcGVuc2VzYW1l", DIGEST_EUNSUPPORTED},
        {"Digest " OKH ", algorithm=MD5-sess", DIGEST_EUNSUPPORTED},
        {"Digest " OKH ", qop=auth-int, nc=00000001, cnonce=\"c\"", DIGEST_EUNSUPPORTED},
        {"", DIGEST_EMALFORMED},
        {"Digest", DIGEST_EMALFORMED},
        {"Digestusername=\"a\"", DIGEST_EUNSUPPORTED},
        {"Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:r\"", DIGEST_EMALFORMED},
        {"Digest " OKH ", username=\"b\"", DIGEST_EMALFORMED},           /* twice */
        {"Digest " OKH ", nc=1, qop=auth, cnonce=\"c\"", DIGEST_EMALFORMED},
        {"Digest " OKH ", nc=0000000g, qop=auth, cnonce=\"c\"", DIGEST_EMALFORMED},
        {"Digest " OKH ", qop=auth", DIGEST_EMALFORMED},                  /* no nc, cnonce */
        {"Digest username=\"a, realm=\"r\"", DIGEST_EMALFORMED},           /* unterminated */
        {"Digest username=\"a\\", DIGEST_EMALFORMED},
        {"Digest username=\"a\" realm=\"r\"", DIGEST_EMALFORMED},          /* no comma */
        {"Digest username=, " OKH, DIGEST_EMALFORMED},
        {"Digest =\"a\", " OKH, DIGEST_EMALFORMED},
        {"Digest username=\"a\r\nb\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"0123456789abcdef0123456789abcdef\"", DIGEST_EMALFORMED},
        {"Digest " OKH ", algorithm=SHA-256", DIGEST_EMALFORMED},         /* response too short */
        {"Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", response=\"0123456789abcdef0123456789abcdeX\"", DIGEST_EMALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct digest_credentials c;
        int got = parse(cases[i].h, &c);
        if (got != cases[i].want) {
            fprintf(stderr, "\n  case %zu: %s: got %d want %d\n", i, cases[i].h, got, cases[i].want);
            CU_FAIL("parse result");
        }
    }
}

static void test_digest_bounds_every_field(void)
{
    static char h[2 * DIGEST_MAX_HEADER], big[DIGEST_MAX_FIELD + 1];
    struct digest_credentials c;
    memset(big, 'x', DIGEST_MAX_FIELD);
    big[DIGEST_MAX_FIELD] = '\0';   /* one byte more than the field holds */
    snprintf(h, sizeof h, "Digest username=\"%s\", " OKH, big);
    CU_ASSERT_EQUAL(parse(h, &c), DIGEST_EMALFORMED);
    big[DIGEST_MAX_FIELD - 1] = '\0'; /* exactly fits */
    snprintf(h, sizeof h, "Digest " OKH ", cnonce=\"%s\"", big);
    CU_ASSERT_EQUAL(parse(h, &c), DIGEST_OK);
    memset(h, ' ', sizeof h);
    memcpy(h, "Digest " OKH, strlen("Digest " OKH));
    CU_ASSERT_EQUAL(digest_parse_credentials(h, DIGEST_MAX_HEADER, &c), DIGEST_OK);
    CU_ASSERT_EQUAL(digest_parse_credentials(h, DIGEST_MAX_HEADER + 1, &c), DIGEST_EMALFORMED);
    /* no NUL needed: the length bounds the read */
    CU_ASSERT_EQUAL(digest_parse_credentials("Digest " OKH "garbage", strlen("Digest " OKH), &c), DIGEST_OK);
}

static void test_digest_challenge_sha256_first(void)
{
    static const enum digest_alg both[] = {DIGEST_SHA256, DIGEST_MD5}, md5[] = {DIGEST_MD5};
    char out[1024];
    int n = digest_challenge_headers("WWW-Authenticate", "example.com", "abc", 0, both, 2, out, sizeof out);
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_STRING_EQUAL(out,
        "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"abc\", algorithm=SHA-256, qop=\"auth\"\r\n"
        "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"abc\", algorithm=MD5, qop=\"auth\"\r\n");
    n = digest_challenge_headers("Proxy-Authenticate", "example.com", "abc", 1, both, 2, out, sizeof out);
    CU_ASSERT(n > 0 && strstr(out, "qop=\"auth\", stale=true\r\nProxy-Authenticate: ") != NULL);
    n = digest_challenge_headers("WWW-Authenticate", "example.com", "abc", 0, md5, 1, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out,
        "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"abc\", algorithm=MD5, qop=\"auth\"\r\n");
    CU_ASSERT(digest_challenge_headers("X", "ex\"ample", "abc", 0, both, 2, out, sizeof out) < 0);
    CU_ASSERT(digest_challenge_headers("X", "example.com", "abc", 0, both, 2, out, 20) < 0);
}

static void test_digest_alg_list(void)
{
    enum digest_alg a[DIGEST_NALGS];
    CU_ASSERT_EQUAL(digest_parse_alg_list("SHA-256,MD5", a), 2);
    CU_ASSERT(a[0] == DIGEST_SHA256 && a[1] == DIGEST_MD5);
    CU_ASSERT_EQUAL(digest_parse_alg_list(" md5 ", a), 1);
    CU_ASSERT(a[0] == DIGEST_MD5);
    CU_ASSERT_EQUAL(digest_parse_alg_list("", a), -1);
    CU_ASSERT_EQUAL(digest_parse_alg_list("MD5,MD5", a), -1);
    CU_ASSERT_EQUAL(digest_parse_alg_list("SHA-512-256", a), -1);
}

static void test_digest_find_credentials_in_raw_request(void)
{
    static const char raw[] = "REGISTER sip:example.com SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n"
                              "authorization : Digest username=\"a\",\r\n realm=\"r\"\r\n"
                              "X-Authorization: no\r\n"
                              "Proxy-Authorization:Digest username=\"b\"\r\n"
                              "Authorizationx: no\r\n"
                              "\r\n"
                              "Authorization: in the body\r\n";
    const char *v[4];
    size_t l[4];
    int n = digest_find_credentials(raw, sizeof raw - 1, v, l, 4);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT(l[0] == strlen(" Digest username=\"a\",\r\n realm=\"r\"") &&
              memcmp(v[0], " Digest username=\"a\",\r\n realm=\"r\"", l[0]) == 0);
    CU_ASSERT(l[1] == strlen("Digest username=\"b\"") && memcmp(v[1], "Digest username=\"b\"", l[1]) == 0);
    CU_ASSERT_EQUAL(digest_find_credentials(raw, sizeof raw - 1, v, l, 1), 1); /* at most max */
    struct digest_credentials c;
    CU_ASSERT_EQUAL(digest_parse_credentials(v[0], l[0], &c), DIGEST_EMALFORMED); /* incomplete */
    static char big[DIGEST_MAX_HEADER + 200];
    int k = snprintf(big, sizeof big, "MESSAGE sip:b@x SIP/2.0\r\nAuthorization: ");
    memset(big + k, 'a', DIGEST_MAX_HEADER + 1);
    memcpy(big + k + DIGEST_MAX_HEADER + 1, "\r\n\r\n", 4);
    CU_ASSERT_EQUAL(digest_find_credentials(big, (size_t)k + DIGEST_MAX_HEADER + 5, v, l, 4), -1);
    CU_ASSERT_EQUAL(digest_find_credentials("INVITE", 6, v, l, 4), 0);
}

/* ---- nonces ---- */

#define SEC 1000000ull
#define T0 (1796300000ull * SEC)

static void test_nonce_roundtrip_and_mac(void)
{
    struct nonce_table *nt = nonce_table_create(8, 30 * SEC, T0);
    char n1[NONCE_LEN + 1], n2[NONCE_LEN + 1];
    CU_ASSERT_EQUAL(nonce_make(nt, "example.com", T0, n1), -1); /* no secret yet */
    nonce_set_secret(nt, (const unsigned char *)"0123456789abcdef", 16);
    CU_ASSERT_EQUAL_FATAL(nonce_make(nt, "example.com", T0, n1), 0);
    CU_ASSERT_EQUAL_FATAL(nonce_make(nt, "example.com", T0, n2), 0);
    CU_ASSERT_EQUAL(strlen(n1), NONCE_LEN);
    CU_ASSERT(strcmp(n1, n2) != 0); /* same microsecond, still distinct */
    CU_ASSERT_EQUAL(nonce_check(nt, n1, "example.com", T0 + SEC), NONCE_VALID);
    CU_ASSERT_EQUAL(nonce_check(nt, n1, "example.org", T0 + SEC), NONCE_INVALID); /* other realm */
    char bad[NONCE_LEN + 1];
    strcpy(bad, n1);
    bad[NONCE_LEN - 1] = bad[NONCE_LEN - 1] == '0' ? '1' : '0';
    CU_ASSERT_EQUAL(nonce_check(nt, bad, "example.com", T0 + SEC), NONCE_INVALID);
    strcpy(bad, n1);
    bad[3] = bad[3] == '0' ? '1' : '0'; /* a changed time invalidates the MAC */
    CU_ASSERT_EQUAL(nonce_check(nt, bad, "example.com", T0 + SEC), NONCE_INVALID);
    CU_ASSERT_EQUAL(nonce_check(nt, "short", "example.com", T0), NONCE_INVALID);
    CU_ASSERT_EQUAL(nonce_check(nt, "", "example.com", T0), NONCE_INVALID);
    /* another node with the same secret accepts it; one with another secret does not */
    struct nonce_table *peer = nonce_table_create(8, 30 * SEC, T0);
    nonce_set_secret(peer, (const unsigned char *)"0123456789abcdef", 16);
    CU_ASSERT_EQUAL(nonce_check(peer, n1, "example.com", T0 + SEC), NONCE_VALID);
    nonce_set_secret(peer, (const unsigned char *)"0123456789abcdeX", 16);
    CU_ASSERT_EQUAL(nonce_check(peer, n1, "example.com", T0 + SEC), NONCE_INVALID);
    nonce_table_free(peer);
    nonce_table_free(nt);
}

static void test_nonce_expires_stale(void)
{
    struct nonce_table *nt = nonce_table_create(8, 30 * SEC, T0);
    nonce_set_secret(nt, (const unsigned char *)"k", 1);
    char n[NONCE_LEN + 1];
    nonce_make(nt, "example.com", T0 + SEC, n);
    CU_ASSERT_EQUAL(nonce_check(nt, n, "example.com", T0 + 31 * SEC), NONCE_VALID);
    CU_ASSERT_EQUAL(nonce_check(nt, n, "example.com", T0 + 31 * SEC + 1), NONCE_STALE);
    nonce_table_free(nt);
}

static void test_nonce_count_must_increase(void)
{
    struct nonce_table *nt = nonce_table_create(8, 30 * SEC, T0);
    nonce_set_secret(nt, (const unsigned char *)"k", 1);
    char n[NONCE_LEN + 1];
    nonce_make(nt, "example.com", T0, n);
    CU_ASSERT_EQUAL(nonce_use(nt, n, 1, T0), NONCE_VALID);
    CU_ASSERT_EQUAL(nonce_use(nt, n, 1, T0), NONCE_REPLAY);
    CU_ASSERT_EQUAL(nonce_use(nt, n, 2, T0), NONCE_VALID);
    CU_ASSERT_EQUAL(nonce_use(nt, n, 5, T0), NONCE_VALID);
    CU_ASSERT_EQUAL(nonce_use(nt, n, 3, T0), NONCE_REPLAY); /* backwards */
    CU_ASSERT_EQUAL(nonce_table_count(nt), 1);
    nonce_table_free(nt);
}

/* A full table forgets its oldest nonce, and from then on refuses it (stale) instead of
 * accepting its counts again; nonces issued before the table existed are refused likewise. */
static void test_nonce_table_bounded_never_replays(void)
{
    struct nonce_table *nt = nonce_table_create(3, 30 * SEC, T0);
    nonce_set_secret(nt, (const unsigned char *)"k", 1);
    char n[5][NONCE_LEN + 1];
    for (int i = 0; i < 5; i++) {
        nonce_make(nt, "example.com", T0 + (uint64_t)i, n[i]);
        CU_ASSERT_EQUAL(nonce_use(nt, n[i], 1, T0 + 10), NONCE_VALID);
        CU_ASSERT(nonce_table_count(nt) <= 3);
    }
    CU_ASSERT_EQUAL(nonce_table_count(nt), 3);
    CU_ASSERT_EQUAL(nonce_use(nt, n[0], 1, T0 + 10), NONCE_STALE); /* forgotten: not replayable */
    CU_ASSERT_EQUAL(nonce_use(nt, n[1], 2, T0 + 10), NONCE_STALE);
    CU_ASSERT_EQUAL(nonce_use(nt, n[4], 1, T0 + 10), NONCE_REPLAY); /* still remembered */
    CU_ASSERT_EQUAL(nonce_use(nt, n[4], 2, T0 + 10), NONCE_VALID);
    /* issued (by a peer) before this table was created */
    struct nonce_table *late = nonce_table_create(3, 30 * SEC, T0 + 100);
    nonce_set_secret(late, (const unsigned char *)"k", 1);
    CU_ASSERT_EQUAL(nonce_check(late, n[2], "example.com", T0 + 200), NONCE_VALID);
    CU_ASSERT_EQUAL(nonce_use(late, n[2], 1, T0 + 200), NONCE_STALE);
    nonce_table_free(late);
    nonce_table_free(nt);
}

/* RFC 3261 §22.4 / RFC 2617 §3.2.2.5: the credentials' uri must be the Request-URI. */
static void test_digest_uri_must_match_request_uri(void)
{
    static const struct {
        const char *uri, *request_line;
        int matches;
    } cases[] = {
        {"sip:example.com", "REGISTER sip:example.com SIP/2.0\r\n", 1},
        {"sip:bob@example.com;transport=udp", "INVITE sip:bob@example.com;transport=udp SIP/2.0\r\n", 1},
        /* as SIP URIs compare: host and scheme case-insensitive, parameters in any order */
        {"sip:bob@EXAMPLE.com", "MESSAGE sip:bob@example.com SIP/2.0\r\n", 1},
        {"SIP:bob@example.com;lr;transport=tcp", "MESSAGE sip:bob@example.com;transport=TCP;lr SIP/2.0\r\n", 1},
        /* another user, host, port, transport or scheme */
        {"sip:alice@example.com", "MESSAGE sip:bob@example.com SIP/2.0\r\n", 0},
        {"sip:Bob@example.com", "MESSAGE sip:bob@example.com SIP/2.0\r\n", 0},
        {"sip:example.org", "REGISTER sip:example.com SIP/2.0\r\n", 0},
        {"sip:example.com:5060", "REGISTER sip:example.com SIP/2.0\r\n", 0},
        {"sip:bob@example.com;transport=tcp", "INVITE sip:bob@example.com SIP/2.0\r\n", 0},
        {"sips:bob@example.com", "INVITE sip:bob@example.com SIP/2.0\r\n", 0},
        {"/", "REGISTER sip:example.com SIP/2.0\r\n", 0},
        {"", "REGISTER sip:example.com SIP/2.0\r\n", 0},
        /* no request line to compare with */
        {"sip:example.com", "REGISTER sip:example.com", 0},
        {"sip:example.com", "REGISTER\r\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *r = cases[i].request_line;
        int got = auth_digest_uri_matches(cases[i].uri, r, strlen(r));
        if (got != cases[i].matches)
            fprintf(stderr, "case %zu: uri '%s' vs '%s': %d\n", i, cases[i].uri, r, got);
        CU_ASSERT_EQUAL(got, cases[i].matches);
    }
}

/* ---- failed-authentication limits ---------------------------------------------------------- */

static void test_ratelimit_rate_below_one_per_second_and_give(void)
{
    struct ratelimit *rl = ratelimit_create(&(struct ratelimit_config){
        .rate_milli_per_s = 100, .burst = 2, .max_keys = 4}); /* one token every 10 s */
    CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
    uint64_t wait = 0;
    CU_ASSERT_EQUAL(ratelimit_take(rl, "u", 1, 1000, &wait), 1);
    CU_ASSERT_EQUAL(ratelimit_take(rl, "u", 1, 1000, &wait), 1);
    CU_ASSERT_EQUAL(ratelimit_take(rl, "u", 1, 1000, &wait), 0);
    CU_ASSERT_EQUAL(wait, 10000);
    CU_ASSERT_EQUAL(ratelimit_take(rl, "u", 1, 10999, &wait), 0);
    CU_ASSERT_EQUAL(wait, 1);
    CU_ASSERT_EQUAL(ratelimit_take(rl, "u", 1, 11000, &wait), 1);
    /* a token given back can be taken again, but never beyond the burst */
    ratelimit_give(rl, "u", 1);
    CU_ASSERT_EQUAL(ratelimit_take(rl, "u", 1, 11000, &wait), 1);
    CU_ASSERT_EQUAL(ratelimit_take(rl, "u", 1, 11000, &wait), 0);
    for (int i = 0; i < 5; i++)
        ratelimit_give(rl, "u", 1);
    int n = 0;
    while (ratelimit_take(rl, "u", 1, 11000, NULL))
        n++;
    CU_ASSERT_EQUAL(n, 2);
    ratelimit_give(rl, "absent", 6); /* not in the table: nothing */
    CU_ASSERT_EQUAL(ratelimit_keys(rl), 1);
    ratelimit_destroy(rl);
}

static struct sockaddr_storage v4(const char *s)
{
    struct sockaddr_storage a;
    memset(&a, 0, sizeof a);
    struct sockaddr_in *in = (struct sockaddr_in *)&a;
    in->sin_family = AF_INET;
    inet_pton(AF_INET, s, &in->sin_addr);
    return a;
}

/* One attempt from src as user at now_ms, settled with outcome when let through. */
static enum auth_limit_verdict attempt(struct auth_limit *l, const char *src, const char *user,
                                       uint64_t now_ms, enum auth_limit_outcome outcome,
                                       uint64_t *wait_ms)
{
    struct sockaddr_storage a = v4(src);
    struct auth_limit_ticket tk;
    enum auth_limit_verdict v = auth_limit_begin(l, &a, user, strlen(user), now_ms, &tk, wait_ms);
    if (v == AUTH_LIMIT_OK)
        auth_limit_end(l, &tk, user, strlen(user), outcome);
    return v;
}

#define FAIL AUTH_LIMIT_FAILED
#define OK_ AUTH_LIMIT_SUCCEEDED

/* Per source: 3 failures, then one a second; a success for one user gives back only its own
 * attempt, never the source's failures for other users; what was not checked costs nothing. */
static void test_authlimit_per_source(void)
{
    char err[200];
    struct auth_limit *l = auth_limit_create(&(struct auth_limit_config){
        .source_rate_milli = 1000, .source_burst = 3, .user_rate_milli = 1000, .user_burst = 100,
        .max_keys = 64, .exempt = "127.0.0.1"}, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    uint64_t w = 0;
    for (int i = 0; i < 100; i++) /* stale nonces, store errors: never counted */
        CU_ASSERT_EQUAL(attempt(l, "10.0.0.1", "sip:a@x", 0, AUTH_LIMIT_UNDECIDED, &w), AUTH_LIMIT_OK);
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.1", "sip:a@x", 0, FAIL, &w), AUTH_LIMIT_OK);
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.1", "sip:b@x", 0, FAIL, &w), AUTH_LIMIT_OK);
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.1", "sip:c@x", 0, OK_, &w), AUTH_LIMIT_OK);
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.1", "sip:c@x", 0, FAIL, &w), AUTH_LIMIT_OK);
    /* three failures: c's success did not wipe a's and b's */
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.1", "sip:c@x", 0, OK_, &w), AUTH_LIMIT_SOURCE);
    CU_ASSERT_EQUAL(w, 1000);
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.1", "sip:new@x", 500, FAIL, &w), AUTH_LIMIT_SOURCE);
    CU_ASSERT_EQUAL(w, 500);
    /* another source, the same users: not limited */
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.2", "sip:a@x", 500, OK_, &w), AUTH_LIMIT_OK);
    /* one second later, one more attempt */
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.1", "sip:d@x", 1000, FAIL, &w), AUTH_LIMIT_OK);
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.1", "sip:d@x", 1000, FAIL, &w), AUTH_LIMIT_SOURCE);
    /* an exempt source has no per-source limit */
    for (int i = 0; i < 20; i++) {
        char u[16];
        snprintf(u, sizeof u, "sip:u%d@x", i);
        CU_ASSERT_EQUAL(attempt(l, "127.0.0.1", u, 0, FAIL, &w), AUTH_LIMIT_OK);
    }
    auth_limit_destroy(l);
    /* a bad exempt list is refused with a reason */
    CU_ASSERT_PTR_NULL(auth_limit_create(&(struct auth_limit_config){.exempt = "nonsense"}, err,
                                         sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "limits.exempt"));
}

/* Per user: 2 failures from any sources, then one every 10 s; another user from the same
 * source goes on; a refused attempt costs its source nothing; a success starts the user afresh;
 * the exempt list does not exempt from the per-user limit. */
static void test_authlimit_per_user(void)
{
    char err[200];
    struct auth_limit *l = auth_limit_create(&(struct auth_limit_config){
        .source_rate_milli = 1000, .source_burst = 3, .user_rate_milli = 100, .user_burst = 2,
        .max_keys = 64, .exempt = "127.0.0.0/8"}, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    uint64_t w = 0;
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.1", "sip:bob@x", 0, FAIL, &w), AUTH_LIMIT_OK);
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.2", "sip:bob@x", 0, FAIL, &w), AUTH_LIMIT_OK);
    for (int i = 0; i < 5; i++) { /* refused for bob: 10.0.0.3 spends nothing */
        CU_ASSERT_EQUAL(attempt(l, "10.0.0.3", "sip:bob@x", 0, OK_, &w), AUTH_LIMIT_USER);
        CU_ASSERT_EQUAL(w, 10000);
    }
    CU_ASSERT_EQUAL(attempt(l, "127.0.0.1", "sip:bob@x", 0, OK_, &w), AUTH_LIMIT_USER);
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.3", "sip:alice@x", 0, OK_, &w), AUTH_LIMIT_OK);
    for (int i = 0; i < 3; i++) { /* the source still has its 3 failures */
        char u[16];
        snprintf(u, sizeof u, "sip:u%d@x", i);
        CU_ASSERT_EQUAL(attempt(l, "10.0.0.3", u, 0, FAIL, &w), AUTH_LIMIT_OK);
    }
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.3", "sip:alice@x", 0, OK_, &w), AUTH_LIMIT_SOURCE);
    /* bounded: the bucket refills, so bob gets in again, and his success starts him afresh */
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.4", "sip:bob@x", 9999, OK_, &w), AUTH_LIMIT_USER);
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.4", "sip:bob@x", 10000, OK_, &w), AUTH_LIMIT_OK);
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.4", "sip:bob@x", 10000, FAIL, &w), AUTH_LIMIT_OK);
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.5", "sip:bob@x", 10000, FAIL, &w), AUTH_LIMIT_OK);
    CU_ASSERT_EQUAL(attempt(l, "10.0.0.5", "sip:bob@x", 10000, FAIL, &w), AUTH_LIMIT_USER);
    auth_limit_destroy(l);
    /* rates 0: no limit at all */
    l = auth_limit_create(&(struct auth_limit_config){.max_keys = 4}, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    for (int i = 0; i < 50; i++)
        CU_ASSERT_EQUAL(attempt(l, "10.0.0.1", "sip:bob@x", 0, FAIL, &w), AUTH_LIMIT_OK);
    auth_limit_destroy(l);
}

void register_digest_suites(void)
{
    CU_pSuite s = CU_add_suite("digest", NULL, NULL);
    CU_add_test(s, "parses_rfc2617_example", test_digest_parses_rfc2617_example);
    CU_add_test(s, "rfc7616_md5_and_sha256", test_digest_rfc7616_md5_and_sha256);
    CU_add_test(s, "sip_register_and_no_qop", test_digest_sip_register_and_no_qop);
    CU_add_test(s, "rejects_malformed_table", test_digest_rejects_malformed_table);
    CU_add_test(s, "bounds_every_field", test_digest_bounds_every_field);
    CU_add_test(s, "challenge_sha256_first", test_digest_challenge_sha256_first);
    CU_add_test(s, "alg_list", test_digest_alg_list);
    CU_add_test(s, "find_credentials_in_raw_request", test_digest_find_credentials_in_raw_request);
    CU_add_test(s, "nonce_roundtrip_and_mac", test_nonce_roundtrip_and_mac);
    CU_add_test(s, "nonce_expires_stale", test_nonce_expires_stale);
    CU_add_test(s, "nonce_count_must_increase", test_nonce_count_must_increase);
    CU_add_test(s, "nonce_table_bounded_never_replays", test_nonce_table_bounded_never_replays);
    CU_add_test(s, "ratelimit_rate_below_one_per_second_and_give",
                test_ratelimit_rate_below_one_per_second_and_give);
    CU_add_test(s, "uri_must_match_request_uri", test_digest_uri_must_match_request_uri);
    CU_add_test(s, "authlimit_per_source", test_authlimit_per_source);
    CU_add_test(s, "authlimit_per_user", test_authlimit_per_user);
}
