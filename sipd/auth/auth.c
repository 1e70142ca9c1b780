/* auth.c - digest authentication of requests; see auth.h and docs/auth.md.
 *
 * One request, step by step (auth_check):
 *   1. exempt?      in-dialog, CANCEL, OPTIONS to the server, a claimed identity not in a served
 *                   domain: proceed, nothing asked of the store.
 *   2. credentials  the Authorization / Proxy-Authorization headers of the raw request, parsed
 *                   (sip/digest.c); one for our realm (the claimed identity's domain) is used.
 *                   A malformed one is a 400; none is a challenge; one whose `uri` is not the
 *                   Request-URI is a 400 (RFC 2617 §3.2.2.5).
 *   3. nonce        ours and fresh (auth/nonce.c): else a challenge (stale=true when expired).
 *   3b. attempts    the source and the user must each have a failed attempt left (authlimit.c):
 *                   else 503 with Retry-After, the credentials unchecked. The attempt is paid
 *                   for now and given back unless it fails (decide()).
 *   4. user         the store's HA1s of sip:username@realm: asynchronous on PostgreSQL.
 *   5. response     compared with what the HA1 gives; then the nonce-count must increase; then
 *                   the user must be the claimed identity (403 otherwise).
 * An unknown user and a wrong password take the same path to the same answer (a fresh challenge,
 * stale=false), so that a scanner cannot tell them apart; the unknown user's response is computed
 * against a fixed HA1 all the same. */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "../base/log.h"
#include "../base/loop.h"
#include "../base/metrics.h"
#include "../sip/digest.h"
#include "../sip/msg.h"
#include "../sip/txn.h"
#include "../sip/uri.h"
#include "../store/store.h"
#include "../transport/srclimit.h"
#include "nonce.h"

#define AUTH_MAX_HEADERS 8       /* credentials headers looked at per request */
#define AUTH_SECRET_BYTES 32
#define AUTH_SECRET_RETRY_MS 1000
#define AUTH_SECRET_WAIT_MS 100   /* the store is still connecting */
#define AUTH_AOR_MAX 512

struct auth {
    struct loop *loop;
    struct store *store;
    struct auth_config cfg;
    auth_resume_fn resume;
    void *arg;
    struct nonce_table *nonces;
    enum digest_alg algs[DIGEST_NALGS]; /* offered, in order */
    size_t nalgs;
    unsigned char proposal[AUTH_SECRET_BYTES]; /* what this node offers as the cluster's secret */
    int is_fetching;
    struct timer secret_timer;
    struct auth_limit *limit; /* failed attempts per source and per user */
    struct metric *m_failures, *m_limit_source, *m_limit_user;
};

/* A request waiting for its user's HA1s. */
struct pending {
    struct auth *a;
    struct sip_txn *t;     /* NULL when it was answered while the store was asked */
    int in_call;           /* auth_check is still on the stack: it reports the verdict */
    int is_done;
    enum auth_verdict verdict;
    int code;              /* 401 or 407 */
    char realm[DIGEST_MAX_FIELD];
    char claimed[AUTH_AOR_MAX];
    char user_aor[2 * DIGEST_MAX_FIELD + 8]; /* "sip:" username "@" realm */
    char method[32];
    struct digest_credentials cred;
    struct auth_limit_ticket ticket; /* what this attempt paid (settled in decide()) */
    uint32_t nc;
    const char *raw;       /* the request's bytes while auth_check is on the stack, else NULL */
    size_t raw_len;
    size_t nstrip;         /* forwarded: our credentials' header lines, removed before it goes */
    struct {
        size_t start, end; /* offsets in the request's bytes */
    } strip[AUTH_MAX_HEADERS];
};

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- the nonce secret ------------------------------------------------------------------------ */

static void fetch_secret(struct timer *tm, void *arg);

static void on_secret(void *arg, int status, const unsigned char *secret, size_t len)
{
    struct auth *a = arg;
    a->is_fetching = 0;
    if (status != 0 || !secret || len == 0) {
        if (status != STORE_EUNAVAIL) /* (an unreachable store is reported by the store) */
            LOG_WARN("auth: the nonce secret could not be read from the store status=%d "
                     "(is schema 008_auth applied? sipd --init-db); retrying", status);
        loop_timer_start(a->loop, &a->secret_timer,
                         status == STORE_EUNAVAIL ? AUTH_SECRET_WAIT_MS : AUTH_SECRET_RETRY_MS,
                         fetch_secret, a);
        return;
    }
    nonce_set_secret(a->nonces, secret, len);
    LOG_DEBUG("auth: nonce secret ready");
}

static void fetch_secret(struct timer *tm, void *arg)
{
    (void)tm;
    struct auth *a = arg;
    a->is_fetching = 1;
    store_auth_secret(a->store, a->proposal, sizeof a->proposal, on_secret, a);
}

struct auth *auth_create(struct loop *loop, struct store *st, const struct auth_config *cfg,
                         auth_resume_fn resume, void *arg)
{
    struct auth *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->loop = loop;
    a->store = st;
    a->cfg = *cfg;
    a->resume = resume;
    a->arg = arg;
    int nalgs = digest_parse_alg_list(cfg->algorithms ? cfg->algorithms : "SHA-256,MD5", a->algs);
    if (nalgs < 0) {
        free(a);
        return NULL;
    }
    a->nalgs = (size_t)nalgs;
    a->nonces = nonce_table_create(AUTH_MAX_NONCES, (uint64_t)cfg->nonce_ttl_s * 1000000u, wall_us());
    if (!a->nonces || gnutls_rnd(GNUTLS_RND_KEY, a->proposal, sizeof a->proposal) < 0) {
        nonce_table_free(a->nonces);
        free(a);
        return NULL;
    }
    char lerr[200];
    if (!(a->limit = auth_limit_create(&cfg->limits, lerr, sizeof lerr))) {
        LOG_ERROR("auth: %s", lerr);
        auth_destroy(a);
        return NULL;
    }
    a->m_limit_source = limit_rejections("auth_source");
    a->m_limit_user = limit_rejections("auth_user");
    a->m_failures = metrics_counter(metrics_default(), "sipd_auth_failures_total",
                                    "Credentials that did not verify (wrong password or unknown user).");
    fetch_secret(&a->secret_timer, a);
    return a;
}

int auth_algorithms_ok(const char *s)
{
    enum digest_alg algs[DIGEST_NALGS];
    return digest_parse_alg_list(s, algs) > 0;
}

void auth_set_trusted(struct auth *a, int (*is_trusted)(void *arg, const struct sockaddr_storage *src),
                      void *arg)
{
    if (a)
        auth_limit_set_trusted(a->limit, is_trusted, arg);
}

void auth_destroy(struct auth *a)
{
    if (!a)
        return;
    loop_timer_stop(a->loop, &a->secret_timer);
    auth_limit_destroy(a->limit);
    nonce_table_free(a->nonces);
    explicit_bzero(a->proposal, sizeof a->proposal);
    free(a);
}

/* ---- reading the request -------------------------------------------------------------------- */

/* Is the request for this node's own registrar, broker or presence package (401), or one it
 * forwards (407)? Mirrors the dispatch of server.c. */
static int challenge_code(const struct auth *a, const struct sip_req_class *c)
{
    if (!a->cfg.forwards)
        return 401;
    switch (c->method) {
    case SIP_M_REGISTER:
        return a->cfg.has_registrar && c->is_ours ? 401 : 407;
    case SIP_M_MESSAGE:
    case SIP_M_PUBLISH:
        return a->cfg.has_broker && c->is_ours && !c->routed_away ? 401 : 407;
    case SIP_M_SUBSCRIBE:
        return a->cfg.has_broker && c->is_ours && !c->routed_away &&
                       (sip_event_is(&c->event, "im") || sip_event_is(&c->event, "presence"))
                   ? 401
                   : 407;
    default:
        return 407;
    }
}

/* The claimed identity of req (REGISTER: To, else From) as a canonical AOR into aor, and its
 * domain into realm. 0 when it is in a served domain (challenge), 1 when not (proceed). An
 * identity of a served domain without a user part is claimed as "" (it can never match). */
static int claimed_identity(const struct auth *a, const osip_message_t *req, char *aor,
                            size_t aor_n, char *realm, size_t realm_n)
{
    const osip_from_t *who = MSG_IS_REGISTER(req) ? req->to : req->from;
    const osip_uri_t *u = who ? who->url : NULL;
    if (!u || !u->host || !*u->host || !uri_domain_served(a->cfg.domains, u->host))
        return 1;
    size_t i = 0;
    for (const char *h = u->host; *h && i + 1 < realm_n; h++)
        realm[i++] = (char)((*h >= 'A' && *h <= 'Z') ? *h + 32 : *h);
    realm[i] = '\0';
    if (sip_uri_aor(u, aor, aor_n) < 0)
        aor[0] = '\0';
    return 0;
}

/* ---- answers -------------------------------------------------------------------------------- */

static void challenge(struct auth *a, struct sip_txn *t, int code, const char *realm, int is_stale)
{
    char nonce[NONCE_LEN + 1], hdrs[1024];
    if (nonce_make(a->nonces, realm, wall_us(), nonce) < 0 ||
        digest_challenge_headers(code == 407 ? "Proxy-Authenticate" : "WWW-Authenticate", realm,
                                 nonce, is_stale, a->algs, a->nalgs, hdrs, sizeof hdrs) < 0) {
        txn_respond_simple(t, 500, NULL, NULL, NULL);
        return;
    }
    txn_respond_text(t, code, NULL, hdrs);
}

/* The whole header line (its name, its folded lines and its line break) around the value
 * v[0..len) of raw, as offsets. */
static void line_of(const char *raw, size_t raw_len, const char *v, size_t len, size_t *start,
                    size_t *end)
{
    size_t s = (size_t)(v - raw), e = s + len;
    while (s > 0 && raw[s - 1] != '\n')
        s--;
    if (e < raw_len && raw[e] == '\r')
        e++;
    if (e < raw_len && raw[e] == '\n')
        e++;
    *start = s;
    *end = e;
}

/* A request this node forwards carries no credentials of ours onward (RFC 3261 §22.3: they are
 * consumed here; a next hop could otherwise replay them at another node): t keeps its bytes
 * without those lines. 0, or -1 (out of memory). */
static int strip_credentials(struct pending *p, const char *raw, size_t raw_len)
{
    char *copy = malloc(raw_len + 1);
    if (!copy)
        return -1;
    size_t o = 0, from = 0;
    for (size_t i = 0; i < p->nstrip; i++) {
        memcpy(copy + o, raw + from, p->strip[i].start - from);
        o += p->strip[i].start - from;
        from = p->strip[i].end;
    }
    memcpy(copy + o, raw + from, raw_len - from);
    o += raw_len - from;
    int rc = txn_keep_raw(p->t, copy, o);
    free(copy);
    return rc;
}

/* A fixed HA1 for users that do not exist: the same work as for a wrong password. */
static const char unknown_ha1[] =
    "00000000000000000000000000000000000000000000000000000000000000000";

/* Settle the attempt p paid for (auth_limit_begin in auth_check). */
static void settle(struct pending *p, enum auth_limit_outcome outcome)
{
    auth_limit_end(p->a->limit, &p->ticket, p->user_aor, strlen(p->user_aor), outcome);
}

/* The store's answer for p's user: the verdict, answered here unless it is AUTH_PROCEED. */
static enum auth_verdict decide(struct pending *p, int status, const struct auth_user *u)
{
    struct auth *a = p->a;
    struct sip_txn *t = p->t;
    if (status != 0 && status != 404) {
        settle(p, AUTH_LIMIT_UNDECIDED);
        if (status == STORE_EUNAVAIL)
            txn_respond_simple(t, 503, NULL, "Retry-After", "5");
        else
            txn_respond_simple(t, 500, NULL, NULL, NULL);
        return AUTH_ANSWERED;
    }
    const char *ha1 = unknown_ha1;
    if (u)
        ha1 = p->cred.alg == DIGEST_SHA256 ? u->ha1_sha256 : u->ha1_md5;
    char expected[DIGEST_MAX_HEX + 1];
    char ha1_buf[DIGEST_MAX_HEX + 1];
    snprintf(ha1_buf, sizeof ha1_buf, "%.*s", (int)digest_hex_len(p->cred.alg), ha1);
    int is_right = digest_expected_response(p->cred.alg, ha1_buf, p->method, &p->cred, expected) == 0 &&
                   digest_hex_equal(expected, p->cred.response);
    if (!u || !is_right) {
        settle(p, AUTH_LIMIT_FAILED);
        metric_inc(a->m_failures);
        LOG_DEBUG("auth: credentials refused realm=%s", p->realm);
        challenge(a, t, p->code, p->realm, 0);
        return AUTH_ANSWERED;
    }
    enum nonce_status ns = nonce_use(a->nonces, p->cred.nonce, p->nc, wall_us());
    settle(p, ns == NONCE_VALID ? AUTH_LIMIT_SUCCEEDED : AUTH_LIMIT_UNDECIDED);
    if (ns != NONCE_VALID) {
        LOG_DEBUG("auth: nonce %s user=%s", ns == NONCE_REPLAY ? "count replayed" : "forgotten",
                  p->user_aor);
        challenge(a, t, p->code, p->realm, 1);
        return AUTH_ANSWERED;
    }
    if (strcmp(p->user_aor, p->claimed) != 0) {
        LOG_INFO("auth: identity refused user=%s claimed=%s", p->user_aor,
                 p->claimed[0] ? p->claimed : "(no user)");
        txn_respond_simple(t, 403, "Forbidden (identity is not the authenticated user)", NULL,
                           NULL);
        return AUTH_ANSWERED;
    }
    size_t len = 0;
    const char *raw = p->raw ? p->raw : txn_raw(t, &len);
    if (p->raw)
        len = p->raw_len;
    if (txn_set_identity(t, p->user_aor) < 0 ||
        (p->code == 407 && p->nstrip && (!raw || strip_credentials(p, raw, len) < 0))) {
        txn_respond_simple(t, 500, NULL, NULL, NULL);
        return AUTH_ANSWERED;
    }
    if (p->code == 407 && p->nstrip && p->raw) {
        /* dispatched from its kept bytes, which no longer hold our credentials */
        p->a->resume(p->a->arg, t);
        return AUTH_ANSWERED;
    }
    return AUTH_PROCEED;
}

static void on_user(void *arg, int status, const struct auth_user *u)
{
    struct pending *p = arg;
    if (p->in_call) { /* the memory store: auth_check reports it */
        p->verdict = decide(p, status, u);
        p->is_done = 1;
        return;
    }
    struct sip_txn *t = p->t;
    if (!t)
        settle(p, AUTH_LIMIT_UNDECIDED); /* answered meanwhile: nothing was checked */
    else if (decide(p, status, u) == AUTH_PROCEED)
        p->a->resume(p->a->arg, t);
    free(p);
}

static int is_offered(const struct auth *a, enum digest_alg alg)
{
    for (size_t i = 0; i < a->nalgs; i++)
        if (a->algs[i] == alg)
            return 1;
    return 0;
}

int auth_digest_uri_matches(const char *digest_uri, const char *raw, size_t raw_len)
{
    /* the request line: METHOD SP Request-URI SP SIP-Version */
    const char *end = memchr(raw, '\n', raw_len);
    if (!end)
        end = raw + raw_len;
    const char *ru = memchr(raw, ' ', (size_t)(end - raw));
    if (!ru)
        return 0;
    ru++;
    const char *ru_end = memchr(ru, ' ', (size_t)(end - ru));
    if (!ru_end)
        return 0;
    size_t len = (size_t)(ru_end - ru);
    if (strlen(digest_uri) == len && memcmp(digest_uri, ru, len) == 0)
        return 1; /* what every client we know sends: no parse */
    char request_uri[DIGEST_MAX_URI];
    if (len >= sizeof request_uri)
        return 0;
    memcpy(request_uri, ru, len);
    request_uri[len] = '\0';
    return uri_equal(digest_uri, request_uri);
}

/* Pay for p's attempt (authlimit.h). 1 when it may be checked; 0 when it was answered 503 with
 * Retry-After (and p freed): the same answer for a user that exists and one that does not, and
 * for a limited source and a limited user, so that it tells nothing but "wait". 503 rather than
 * 403 or 429 (RFC 6585 is HTTP's): a SIP client understands 503 + Retry-After as "this server,
 * not the request, refuses for now; try again after N seconds" (RFC 3261 §21.5.4). */
static int pay_attempt(struct auth *a, struct pending *p)
{
    const struct sip_source *src = txn_source(p->t);
    uint64_t wait_ms = 0;
    enum auth_limit_verdict v =
        auth_limit_begin(a->limit, src ? &src->peer : NULL, p->user_aor, strlen(p->user_aor),
                         loop_now_ms(a->loop), &p->ticket, &wait_ms);
    if (v == AUTH_LIMIT_OK)
        return 1;
    metric_inc(v == AUTH_LIMIT_SOURCE ? a->m_limit_source : a->m_limit_user);
    LOG_DEBUG("auth: attempt refused limit=%s realm=%s wait_ms=%llu",
              v == AUTH_LIMIT_SOURCE ? "source" : "user", p->realm, (unsigned long long)wait_ms);
    uint64_t wait_s = (wait_ms + 999) / 1000;
    char secs[24];
    snprintf(secs, sizeof secs, "%llu", (unsigned long long)(wait_s ? wait_s : 1));
    txn_respond_simple(p->t, 503, "Too Many Failed Attempts", "Retry-After", secs);
    free(p);
    return 0;
}

/* Is s usable as the user part of an AOR (as sip_uri_aor would write it)? */
static int is_user_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch <= 0x20 || ch == 0x7f || ch == '"' || ch == '<' || ch == '>' || ch == '@' ||
            ch == '\\')
            return 0;
    }
    return 1;
}

enum auth_verdict auth_check(struct auth *a, struct sip_txn *t, const struct sip_req_class *c,
                             const char *raw, size_t raw_len)
{
    if (c->has_to_tag || c->method == SIP_M_CANCEL ||
        (c->method == SIP_M_OPTIONS && !c->has_username))
        return AUTH_PROCEED;
    const osip_message_t *req = txn_request(t);
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        txn_respond_simple(t, 500, NULL, NULL, NULL);
        return AUTH_ANSWERED;
    }
    if (claimed_identity(a, req, p->claimed, sizeof p->claimed, p->realm, sizeof p->realm)) {
        free(p);
        return AUTH_PROCEED;
    }
    p->a = a;
    p->t = t;
    p->code = challenge_code(a, c);
    if (!nonce_has_secret(a->nonces)) {
        free(p);
        txn_respond_simple(t, 503, NULL, "Retry-After", "5");
        return AUTH_ANSWERED;
    }
    /* 2. credentials for our realm */
    const char *vals[AUTH_MAX_HEADERS];
    size_t lens[AUTH_MAX_HEADERS];
    int nv = digest_find_credentials(raw, raw_len, vals, lens, AUTH_MAX_HEADERS);
    int found = 0;
    struct digest_credentials other;
    for (int i = 0; i < nv; i++) {
        struct digest_credentials *cr = found ? &other : &p->cred;
        int rc = digest_parse_credentials(vals[i], lens[i], cr);
        if (rc == DIGEST_EMALFORMED) {
            nv = -1;
            break;
        }
        if (rc == DIGEST_OK && strcasecmp(cr->realm, p->realm) == 0) {
            line_of(raw, raw_len, vals[i], lens[i], &p->strip[p->nstrip].start,
                    &p->strip[p->nstrip].end);
            p->nstrip++;
            found = found || is_offered(a, cr->alg);
        }
    }
    if (nv < 0) {
        LOG_DEBUG("auth: malformed credentials realm=%s", p->realm);
        free(p);
        txn_respond_simple(t, 400, "Malformed Authorization header", NULL, NULL);
        return AUTH_ANSWERED;
    }
    if (found && a->cfg.is_uri_checked && !auth_digest_uri_matches(p->cred.uri, raw, raw_len)) {
        LOG_DEBUG("auth: digest uri is not the Request-URI realm=%s", p->realm);
        free(p);
        txn_respond_simple(t, 400, "Digest uri does not match the Request-URI", NULL, NULL);
        return AUTH_ANSWERED;
    }
    /* 3. our nonce, fresh, with qop=auth (the nonce-count is what stops replays) */
    enum nonce_status ns = NONCE_INVALID;
    if (found && p->cred.qop[0])
        ns = nonce_check(a->nonces, p->cred.nonce, p->realm, wall_us());
    if (ns != NONCE_VALID || !is_user_ok(p->cred.username)) {
        challenge(a, t, p->code, p->realm, ns == NONCE_STALE);
        free(p);
        return AUTH_ANSWERED;
    }
    p->nc = (uint32_t)strtoul(p->cred.nc, NULL, 16);
    snprintf(p->method, sizeof p->method, "%s", req->sip_method);
    snprintf(p->user_aor, sizeof p->user_aor, "sip:%s@%s", p->cred.username, p->realm);
    /* 3b. an attempt left for the source and for the user */
    if (!pay_attempt(a, p))
        return AUTH_ANSWERED;
    /* 4. the user's HA1s */
    p->raw = raw;
    p->raw_len = raw_len;
    p->in_call = 1;
    store_user_get(a->store, p->user_aor, on_user, p);
    p->in_call = 0;
    p->raw = NULL;
    if (p->is_done) {
        enum auth_verdict v = p->verdict;
        free(p);
        return v;
    }
    if (txn_keep_raw(t, raw, raw_len) < 0) {
        /* the store will answer; the request cannot be dispatched without its bytes */
        p->t = NULL;
        txn_respond_simple(t, 500, NULL, NULL, NULL);
        return AUTH_ANSWERED;
    }
    /* No owner is set on t (a CANCEL's lookup of its INVITE's owner would find this): a server
     * transaction is not freed before its final response, and at shutdown the store answers
     * (STORE_EUNAVAIL) before the transactions go. A CANCEL that comes meanwhile is answered
     * 200 by the proxy, which has no call yet; the INVITE then goes on. */
    return AUTH_PENDING;
}

const char *auth_identity(const struct sip_txn *t) { return t ? txn_identity(t) : NULL; }
