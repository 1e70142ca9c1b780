/* authlimit.h - failed-authentication rate limits, per source and per user (docs/auth.md
 * "Failed attempts"): how many wrong answers to a challenge one source address, and one user,
 * may give before sipd stops checking them for a while.
 *
 * Each attempt pays one token before its credentials are checked (auth_limit_begin), from the
 * bucket of its source (unless the source is exempt) and from that of the user it names (the
 * AOR built from the credentials' username and realm, whether or not such a user exists, so that
 * a scanner learns nothing). An attempt that did not fail gives its tokens back
 * (auth_limit_end); a success also forgets the user's bucket. Paying first keeps the count right
 * when many attempts wait for the store at once. Two bounded ratelimit tables (base/ratelimit.h)
 * allocated at creation: nothing is allocated per attempt, and a decision is one O(1) lookup per
 * table. Loop thread only. */
#ifndef SIPD_AUTHLIMIT_H
#define SIPD_AUTHLIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../transport/srclimit.h"

struct auth_limit_config {
    unsigned source_rate_milli; /* failures forgiven per second per source, in thousandths; 0 = no limit */
    unsigned source_burst;      /* failures a source may make at once */
    unsigned user_rate_milli;   /* the same per user */
    unsigned user_burst;
    size_t max_keys;            /* bound of each table (sources, users) */
    const char *exempt;         /* sources with no per-source limit ("ADDR[/BITS], ..."), or NULL */
};

/* What an attempt paid, for auth_limit_end(). */
struct auth_limit_ticket {
    unsigned char source[SOURCE_KEY_MAX];
    size_t source_len; /* 0: the source paid nothing (exempt, no limit, unknown family) */
    int user_paid;
};

enum auth_limit_verdict {
    AUTH_LIMIT_OK,     /* check the credentials; the attempt is paid */
    AUTH_LIMIT_SOURCE, /* the source has no attempt left: refuse without checking */
    AUTH_LIMIT_USER,   /* the user has no attempt left: refuse without checking */
};

/* NULL with a reason in err (a bad exempt list, out of memory). Free with auth_limit_destroy(). */
struct auth_limit *auth_limit_create(const struct auth_limit_config *cfg, char *err, size_t errlen);
void auth_limit_destroy(struct auth_limit *l);

/* Sources for which is_trusted(arg, src) returns 1 pay no per-source token, as exempt ones: a
 * cluster node's balancers, which carry every client's attempts (security.c, cluster/peers.h).
 * The per-user limit still applies to what they carry. */
typedef int (*auth_limit_trust_cb)(void *arg, const struct sockaddr_storage *src);
void auth_limit_set_trusted(struct auth_limit *l, auth_limit_trust_cb cb, void *arg);

/* Pay for an attempt from src as user (user_len bytes) at now_ms. On a refusal nothing is paid
 * and *wait_ms gets the time until the refusing bucket has a token again. */
enum auth_limit_verdict auth_limit_begin(struct auth_limit *l, const struct sockaddr_storage *src,
                                         const char *user, size_t user_len, uint64_t now_ms,
                                         struct auth_limit_ticket *ticket, uint64_t *wait_ms);

enum auth_limit_outcome {
    AUTH_LIMIT_FAILED,    /* wrong password or unknown user: the tokens stay spent */
    AUTH_LIMIT_SUCCEEDED, /* the password was right: tokens back, the user's bucket forgotten */
    AUTH_LIMIT_UNDECIDED, /* not checked after all (stale nonce, store error): tokens back */
};

/* Settle an attempt that auth_limit_begin() let through. */
void auth_limit_end(struct auth_limit *l, const struct auth_limit_ticket *ticket, const char *user,
                    size_t user_len, enum auth_limit_outcome outcome);

#endif
