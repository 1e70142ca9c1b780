/* nonce.h - digest nonces the server need not store (RFC 3261 §22.4, RFC 2617 §3.2.1), and the
 * nonce-counts seen for them.
 *
 * A nonce is hex(issued_us) followed by hex(HMAC-SHA256(secret, hex(issued_us) ":" realm))
 * truncated to 128 bits: any node that holds the secret (PostgreSQL: one row shared by the
 * cluster) checks it without having issued it, and it expires ttl after it was issued. Only
 * nonces that authenticated a request are remembered, with the last nonce-count used, in a
 * table of at most `max` entries; a nonce-count that does not increase is refused. When the
 * table is full the oldest entry goes and the "floor" moves up to its issue time: a nonce issued
 * at or before the floor that is not in the table is refused as stale, so forgetting a nonce
 * never lets its counts be replayed. The floor starts at the table's creation time.
 *
 * Times are wall-clock microseconds (nonces travel between nodes). Not thread-safe (the loop's). */
#ifndef SIPD_NONCE_H
#define SIPD_NONCE_H

#include <stddef.h>
#include <stdint.h>

#define NONCE_LEN 48             /* 16 hex digits of time, 32 of MAC */
#define NONCE_SECRET_MAX 64

struct nonce_table;

enum nonce_status {
    NONCE_VALID = 0,
    NONCE_STALE = 1,   /* ours, but expired (or forgotten under the floor): challenge, stale=true */
    NONCE_INVALID = 2, /* not ours (bad MAC, other realm, malformed): challenge, stale=false */
    NONCE_REPLAY = 3,  /* nonce_use: the nonce-count did not increase */
};

/* max: entries of the nonce-count table (>= 1); ttl_us: how long a nonce stays valid;
 * now_us: the floor. NULL on out of memory. Caller frees with nonce_table_free(). */
struct nonce_table *nonce_table_create(size_t max, uint64_t ttl_us, uint64_t now_us);
void nonce_table_free(struct nonce_table *nt);

/* Set the MAC key (1..NONCE_SECRET_MAX bytes). Until set, nonce_make fails. */
void nonce_set_secret(struct nonce_table *nt, const unsigned char *key, size_t len);
int nonce_has_secret(const struct nonce_table *nt);

/* A fresh nonce for realm into out (NONCE_LEN + 1 bytes). Issue times are strictly increasing
 * within one table. Returns 0, or -1 without a secret. */
int nonce_make(struct nonce_table *nt, const char *realm, uint64_t now_us, char *out);

/* Is nonce one of ours for realm, and still fresh at now_us? */
enum nonce_status nonce_check(const struct nonce_table *nt, const char *nonce, const char *realm,
                              uint64_t now_us);

/* Record that a request authenticated with (nonce, nc): NONCE_VALID when nc is greater than any
 * count seen with this nonce (then remembered), NONCE_REPLAY when not, NONCE_STALE when the nonce
 * is not remembered and was issued at or before the floor. Call after nonce_check() said VALID
 * and the response was right. */
enum nonce_status nonce_use(struct nonce_table *nt, const char *nonce, uint32_t nc, uint64_t now_us);

/* Entries remembered (tests). */
size_t nonce_table_count(const struct nonce_table *nt);

#endif
