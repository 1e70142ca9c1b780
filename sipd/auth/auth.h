/* auth.h - digest authentication of requests (RFC 3261 §22, RFC 8760; docs/auth.md): which
 * requests are challenged, the challenge, the check of an answer, and who a request
 * authenticated as.
 *
 * The server asks auth_check() once per new server transaction, after its own checks and before
 * any role sees the request. Out-of-dialog requests (other than CANCEL, ACK and OPTIONS to the
 * server itself) whose claimed identity -- the To of a REGISTER, the From of anything else -- is
 * in a served domain must carry valid credentials for that identity: else 401 (the request is
 * for this node's registrar, broker or presence package, or this node does not forward) or 407
 * (this node forwards it), with a SHA-256 and an MD5 challenge. Valid credentials of another user
 * of ours get 403. The user's HA1s come from the store, so the answer may come later: then the
 * transaction is resumed through the resume callback given to auth_create(). */
#ifndef SIPD_AUTH_H
#define SIPD_AUTH_H

#include <stddef.h>

#include "authlimit.h"

struct loop;
struct store;
struct sip_txn;
struct sip_req_class;

#define AUTH_MAX_NONCES 65536 /* nonce-counts remembered (auth/nonce.h) */

struct auth_config {
    const char *const *domains; /* the served domains (NULL-terminated; none: every host) */
    unsigned nonce_ttl_s;       /* a nonce's lifetime; then stale=true */
    const char *algorithms;     /* challenges offered, in order ("SHA-256,MD5"); credentials of
                                 * another algorithm are not accepted */
    int forwards;               /* this node proxies or redirects: 407 for what it forwards */
    int has_registrar;          /* REGISTERs for our domains are answered here */
    int has_broker;             /* the broker and presence package answer here */
    struct auth_limit_config limits; /* failed attempts per source and per user (authlimit.h) */
    int is_uri_checked;         /* credentials whose uri is not the Request-URI get 400 */
};

/* Called when a transaction auth_check() answered AUTH_PENDING authenticated: dispatch it as if
 * auth_check() had said AUTH_PROCEED (its raw bytes are kept: txn_raw()). */
typedef void (*auth_resume_fn)(void *arg, struct sip_txn *t);

/* Is s a valid auth.algorithms value (digest_parse_alg_list)? */
int auth_algorithms_ok(const char *s);

/* Starts fetching the nonce secret from the store (requests are answered 503 until it came).
 * NULL on out of memory, a bad algorithm list or a bad exempt list (logged). Free with auth_destroy() after the store is destroyed (its callbacks
 * still reach this object). */
struct auth *auth_create(struct loop *loop, struct store *st, const struct auth_config *cfg,
                         auth_resume_fn resume, void *arg);
void auth_destroy(struct auth *a);

/* A cluster node: sources for which is_trusted(arg, src) is 1 (its balancers) are not limited
 * per source in failed attempts (authlimit.h); a may be NULL. */
void auth_set_trusted(struct auth *a, int (*is_trusted)(void *arg, const struct sockaddr_storage *src),
                      void *arg);

enum auth_verdict {
    AUTH_PROCEED,  /* not challenged, or authenticated: dispatch it now */
    AUTH_ANSWERED, /* answered here (400, 401, 407, 403, 500, 503): nothing more to do */
    AUTH_PENDING,  /* waiting for the store: resume() or an answer will follow */
};

/* Decide about new server transaction t (class c, request bytes raw[0..raw_len)). */
enum auth_verdict auth_check(struct auth *a, struct sip_txn *t, const struct sip_req_class *c,
                             const char *raw, size_t raw_len);

/* Does the `uri` parameter of digest credentials name the Request-URI of the request whose bytes
 * are raw[0..raw_len) (RFC 3261 §22.4, RFC 2617 §3.2.2.5)? The Request-URI is read from the
 * received request line; equal bytes match at once, else the two are compared as SIP URIs are
 * (uri_equal, RFC 3261 §19.1.4: scheme and host case-insensitive, user and port exact, the
 * transport/user/maddr/ttl/method parameters). 1 when they match. */
int auth_digest_uri_matches(const char *digest_uri, const char *raw, size_t raw_len);

/* Who t's request authenticated as: its canonical AOR ("sip:alice@example.com"), or NULL when it
 * did not (authentication off, not challenged, in-dialog, CANCEL...). Valid while t lives. */
const char *auth_identity(const struct sip_txn *t);

#endif
