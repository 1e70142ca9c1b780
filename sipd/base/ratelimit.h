/* ratelimit.h - token buckets keyed by byte strings (a source address, a user), in a table of
 * bounded size.
 *
 * Each key has a bucket of `burst` tokens that refills at `rate_per_s` tokens per second; a take
 * costs one token. The table holds at most `max_keys` buckets, all allocated at creation: when it
 * is full the least recently used key is forgotten (its next take finds a full bucket again), so
 * memory is bounded whatever the number of sources, and nothing allocates per take. A take is one
 * hash lookup (keyed by a per-table random seed, so a sender cannot aim keys at one chain) and a
 * move to the head of the LRU list: O(1).
 *
 * Users: the per-source request limit (sip/admission.c) and the failed-authentication limits
 * (per source and per user, auth/authlimit.c): ratelimit_take() for each attempt before
 * checking it, ratelimit_give() back when it did not fail, ratelimit_forget() after a success.
 *
 * Loop thread only (no locks). Time comes from the caller (now_ms, any monotonic clock in ms). */
#ifndef SIPD_RATELIMIT_H
#define SIPD_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit_config {
    unsigned rate_per_s; /* tokens added per second per key; 0 = no limit (every take allowed) */
    unsigned burst;      /* bucket size: takes allowed at once after a quiet period (>= 1) */
    size_t max_keys;     /* table bound (>= 1); the least recently used key makes room */
    unsigned rate_milli_per_s; /* when not 0, the rate in thousandths of a token per second,
                                * instead of rate_per_s (100: one token every 10 s) */
};

/* Keys up to this many bytes are kept whole; a longer key is kept as its first bytes and a
 * 64-bit hash of the whole (two long keys alike in both would share a bucket). */
#define RATELIMIT_KEY_MAX 64

struct ratelimit;

/* Returns NULL when out of memory. Caller frees with ratelimit_destroy(). */
struct ratelimit *ratelimit_create(const struct ratelimit_config *cfg);
void ratelimit_destroy(struct ratelimit *rl);

/* Take one token from key's bucket at now_ms. Returns 1 (allowed) or 0 (refused: the bucket is
 * empty); when refused and retry_after_ms is not NULL, it gets the time until the next token. */
int ratelimit_take(struct ratelimit *rl, const void *key, size_t keylen, uint64_t now_ms,
                   uint64_t *retry_after_ms);

/* Would a take be allowed now? Takes nothing (a key not in the table is not added). */
int ratelimit_peek(struct ratelimit *rl, const void *key, size_t keylen, uint64_t now_ms);

/* Give back one token that ratelimit_take() took from key (the attempt it paid for did not count
 * after all), up to the bucket size; nothing when the key is no longer in the table. */
void ratelimit_give(struct ratelimit *rl, const void *key, size_t keylen);

/* Forget key (its next take finds a full bucket). */
void ratelimit_forget(struct ratelimit *rl, const void *key, size_t keylen);

/* Keys in the table. */
size_t ratelimit_keys(const struct ratelimit *rl);

#endif
