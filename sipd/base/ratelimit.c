/* ratelimit.c - token buckets in a bounded table with LRU eviction; see ratelimit.h.
 *
 * Layout: one array of entries allocated at creation, a power-of-two array of bucket heads
 * (entry indices, chained through `chain_next`) and a doubly linked LRU list through
 * `lru_prev`/`lru_next` (head = most recently used). Entries are handed out in order
 * (`used`), so that the pages of a large table that no source reached are never touched (RSS
 * grows with the sources seen, not with `max_keys`); forgotten ones go on a free list (through
 * `chain_next`). Tokens are kept in millionths and the rate in thousandths of a token per
 * second (`rate_milli`), so that refill is integer arithmetic even for rates below one per
 * second: `rate_milli` thousandths per second is `rate_milli` millionths per millisecond. */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define NIL UINT32_MAX
#define UNIT 1000000u /* one token */

struct rl_entry {
    uint64_t hash;
    uint64_t tokens; /* in millionths, as of stamp_ms */
    uint64_t stamp_ms;
    uint32_t chain_next, lru_prev, lru_next;
    uint8_t keylen; /* bytes used in key (<= RATELIMIT_KEY_MAX) */
    unsigned char key[RATELIMIT_KEY_MAX];
};

struct ratelimit {
    struct ratelimit_config cfg;
    uint64_t seed;
    uint64_t cap;        /* burst x UNIT */
    uint64_t rate_milli; /* thousandths of a token per second; 0 = no limit */
    uint64_t fill_ms;    /* an empty bucket is full again after this long */
    struct rl_entry *entries;
    uint32_t *heads;
    uint32_t mask; /* nbuckets - 1 */
    uint32_t free_head, lru_head, lru_tail;
    size_t count, used;
};

/* A keyed multiply-xorshift over 8-byte words: cheap, and with a secret seed a remote sender
 * cannot choose keys that land in one chain without seeing the table. */
static uint64_t key_hash(uint64_t seed, const unsigned char *p, size_t n)
{
    uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
}

/* The stored form of a key: whole when short, else its first bytes and the hash of the whole. */
static size_t key_form(const void *key, size_t keylen, unsigned char out[RATELIMIT_KEY_MAX])
{
    if (keylen <= RATELIMIT_KEY_MAX) {
        memcpy(out, key, keylen);
        return keylen;
    }
    uint64_t h = key_hash(0x5157u, key, keylen);
    memcpy(out, key, RATELIMIT_KEY_MAX - 8);
    memcpy(out + RATELIMIT_KEY_MAX - 8, &h, 8);
    return RATELIMIT_KEY_MAX;
}

struct ratelimit *ratelimit_create(const struct ratelimit_config *cfg)
{
    if (!cfg->max_keys || cfg->max_keys >= NIL / 2)
        return NULL;
    struct ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    rl->cfg = *cfg;
    if (rl->cfg.burst == 0)
        rl->cfg.burst = 1;
    rl->cap = (uint64_t)rl->cfg.burst * UNIT;
    rl->rate_milli = cfg->rate_milli_per_s ? cfg->rate_milli_per_s : (uint64_t)cfg->rate_per_s * 1000u;
    rl->fill_ms = rl->rate_milli ? (rl->cap + rl->rate_milli - 1) / rl->rate_milli : 0;
    size_t nb = 16;
    while (nb < cfg->max_keys)
        nb *= 2;
    rl->entries = malloc(cfg->max_keys * sizeof *rl->entries);
    rl->heads = malloc(nb * sizeof *rl->heads);
    if (!rl->entries || !rl->heads) {
        ratelimit_destroy(rl);
        return NULL;
    }
    rl->mask = (uint32_t)(nb - 1);
    for (size_t i = 0; i < nb; i++)
        rl->heads[i] = NIL;
    rl->free_head = NIL;
    rl->lru_head = rl->lru_tail = NIL;
    if (getrandom(&rl->seed, sizeof rl->seed, GRND_NONBLOCK) != (ssize_t)sizeof rl->seed)
        rl->seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)rl;
    return rl;
}

void ratelimit_destroy(struct ratelimit *rl)
{
    if (!rl)
        return;
    free(rl->entries);
    free(rl->heads);
    free(rl);
}

size_t ratelimit_keys(const struct ratelimit *rl) { return rl->count; }

static void lru_unlink(struct ratelimit *rl, uint32_t i)
{
    struct rl_entry *e = &rl->entries[i];
    if (e->lru_prev != NIL)
        rl->entries[e->lru_prev].lru_next = e->lru_next;
    else
        rl->lru_head = e->lru_next;
    if (e->lru_next != NIL)
        rl->entries[e->lru_next].lru_prev = e->lru_prev;
    else
        rl->lru_tail = e->lru_prev;
}

static void lru_push_head(struct ratelimit *rl, uint32_t i)
{
    struct rl_entry *e = &rl->entries[i];
    e->lru_prev = NIL;
    e->lru_next = rl->lru_head;
    if (rl->lru_head != NIL)
        rl->entries[rl->lru_head].lru_prev = i;
    rl->lru_head = i;
    if (rl->lru_tail == NIL)
        rl->lru_tail = i;
}

/* The index of key's entry, or NIL; *slot gets the chain link that points at it (or the
 * bucket head when absent). */
static uint32_t find(struct ratelimit *rl, uint64_t h, const unsigned char *k, size_t kl,
                     uint32_t **slot)
{
    uint32_t *link = &rl->heads[h & rl->mask];
    while (*link != NIL) {
        struct rl_entry *e = &rl->entries[*link];
        if (e->hash == h && e->keylen == kl && memcmp(e->key, k, kl) == 0) {
            *slot = link;
            return *link;
        }
        link = &e->chain_next;
    }
    *slot = link;
    return NIL;
}

/* Remove entry i from its chain and the LRU list and put it on the free list. */
static void remove_entry(struct ratelimit *rl, uint32_t i)
{
    struct rl_entry *e = &rl->entries[i];
    uint32_t *link = &rl->heads[e->hash & rl->mask];
    while (*link != i)
        link = &rl->entries[*link].chain_next;
    *link = e->chain_next;
    lru_unlink(rl, i);
    e->chain_next = rl->free_head;
    rl->free_head = i;
    rl->count--;
}

/* Bring e's tokens up to now_ms. */
static void refill(const struct ratelimit *rl, struct rl_entry *e, uint64_t now_ms)
{
    if (now_ms <= e->stamp_ms)
        return;
    uint64_t elapsed = now_ms - e->stamp_ms;
    /* (elapsed < fill_ms keeps the product from overflowing: it is below cap + rate_milli) */
    uint64_t add = elapsed >= rl->fill_ms ? rl->cap : elapsed * rl->rate_milli;
    e->tokens = add >= rl->cap - e->tokens ? rl->cap : e->tokens + add;
    e->stamp_ms = now_ms;
}

int ratelimit_take(struct ratelimit *rl, const void *key, size_t keylen, uint64_t now_ms,
                   uint64_t *retry_after_ms)
{
    if (rl->rate_milli == 0)
        return 1;
    unsigned char k[RATELIMIT_KEY_MAX];
    size_t kl = key_form(key, keylen, k);
    uint64_t h = key_hash(rl->seed, k, kl);
    uint32_t *slot;
    uint32_t i = find(rl, h, k, kl, &slot);
    struct rl_entry *e;
    if (i == NIL) {
        if (rl->free_head == NIL && rl->used == rl->cfg.max_keys) {
            remove_entry(rl, rl->lru_tail); /* the table is full: forget the least recent key */
            find(rl, h, k, kl, &slot);      /* the chain may have changed */
        }
        if (rl->free_head != NIL) {
            i = rl->free_head;
            rl->free_head = rl->entries[i].chain_next;
        } else {
            i = (uint32_t)rl->used++;
        }
        e = &rl->entries[i];
        e->hash = h;
        e->keylen = (uint8_t)kl;
        memcpy(e->key, k, kl);
        e->tokens = rl->cap;
        e->stamp_ms = now_ms;
        e->chain_next = NIL;
        *slot = i;
        rl->count++;
    } else {
        e = &rl->entries[i];
        lru_unlink(rl, i);
        refill(rl, e, now_ms);
    }
    lru_push_head(rl, i);
    if (e->tokens >= UNIT) {
        e->tokens -= UNIT;
        return 1;
    }
    if (retry_after_ms)
        *retry_after_ms = (UNIT - e->tokens + rl->rate_milli - 1) / rl->rate_milli;
    return 0;
}

int ratelimit_peek(struct ratelimit *rl, const void *key, size_t keylen, uint64_t now_ms)
{
    if (rl->rate_milli == 0)
        return 1;
    unsigned char k[RATELIMIT_KEY_MAX];
    size_t kl = key_form(key, keylen, k);
    uint32_t *slot;
    uint32_t i = find(rl, key_hash(rl->seed, k, kl), k, kl, &slot);
    if (i == NIL)
        return 1;
    struct rl_entry *e = &rl->entries[i];
    refill(rl, e, now_ms);
    return e->tokens >= UNIT;
}

void ratelimit_give(struct ratelimit *rl, const void *key, size_t keylen)
{
    if (rl->rate_milli == 0)
        return;
    unsigned char k[RATELIMIT_KEY_MAX];
    size_t kl = key_form(key, keylen, k);
    uint32_t *slot;
    uint32_t i = find(rl, key_hash(rl->seed, k, kl), k, kl, &slot);
    if (i != NIL)
        rl->entries[i].tokens = rl->cap - rl->entries[i].tokens >= UNIT ? rl->entries[i].tokens + UNIT
                                                                        : rl->cap;
}

void ratelimit_forget(struct ratelimit *rl, const void *key, size_t keylen)
{
    unsigned char k[RATELIMIT_KEY_MAX];
    size_t kl = key_form(key, keylen, k);
    uint32_t *slot;
    uint32_t i = find(rl, key_hash(rl->seed, k, kl), k, kl, &slot);
    if (i != NIL)
        remove_entry(rl, i);
}
