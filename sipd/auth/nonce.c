/* nonce.c - stateless digest nonces and the bounded nonce-count table; see nonce.h. */
#include "nonce.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "../base/hmap.h"

#define TIME_HEX 16
#define MAC_HEX 32

struct nc_entry {
    char nonce[NONCE_LEN + 1];
    uint64_t issued_us;
    uint32_t last_nc;
};

struct nonce_table {
    unsigned char secret[NONCE_SECRET_MAX];
    size_t secret_len;
    uint64_t ttl_us;
    uint64_t last_issued_us;
    uint64_t floor_us;
    struct hmap by_nonce;   /* nonce -> struct nc_entry * (a slot of ring) */
    struct nc_entry *ring;  /* oldest at head */
    size_t cap, head, count;
};

struct nonce_table *nonce_table_create(size_t max, uint64_t ttl_us, uint64_t now_us)
{
    struct nonce_table *nt = calloc(1, sizeof *nt);
    if (!nt || max == 0)
        goto fail;
    nt->ring = calloc(max, sizeof *nt->ring);
    if (!nt->ring)
        goto fail;
    nt->cap = max;
    nt->ttl_us = ttl_us;
    nt->floor_us = nt->last_issued_us = now_us;
    hmap_init(&nt->by_nonce);
    return nt;
fail:
    free(nt);
    return NULL;
}

void nonce_table_free(struct nonce_table *nt)
{
    if (!nt)
        return;
    hmap_free(&nt->by_nonce);
    free(nt->ring);
    explicit_bzero(nt->secret, sizeof nt->secret);
    free(nt);
}

void nonce_set_secret(struct nonce_table *nt, const unsigned char *key, size_t len)
{
    if (len > NONCE_SECRET_MAX)
        len = NONCE_SECRET_MAX;
    memcpy(nt->secret, key, len);
    nt->secret_len = len;
}

int nonce_has_secret(const struct nonce_table *nt) { return nt->secret_len > 0; }

/* The MAC part for the time part `t` (TIME_HEX characters) and realm, into mac (MAC_HEX + 1). */
static int mac_hex(const struct nonce_table *nt, const char *t, const char *realm, char *mac)
{
    static const char digits[] = "0123456789abcdef";
    char buf[TIME_HEX + 1 + 512];
    size_t rlen = strlen(realm);
    if (rlen > 512 - 1 || !nt->secret_len)
        return -1;
    memcpy(buf, t, TIME_HEX);
    buf[TIME_HEX] = ':';
    memcpy(buf + TIME_HEX + 1, realm, rlen);
    unsigned char md[32];
    if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, nt->secret, nt->secret_len, buf, TIME_HEX + 1 + rlen,
                         md) < 0)
        return -1;
    for (size_t i = 0; i < MAC_HEX / 2; i++) {
        mac[2 * i] = digits[md[i] >> 4];
        mac[2 * i + 1] = digits[md[i] & 15];
    }
    mac[MAC_HEX] = '\0';
    return 0;
}

int nonce_make(struct nonce_table *nt, const char *realm, uint64_t now_us, char *out)
{
    uint64_t t = now_us > nt->last_issued_us ? now_us : nt->last_issued_us + 1;
    snprintf(out, TIME_HEX + 1, "%016llx", (unsigned long long)t);
    if (mac_hex(nt, out, realm, out + TIME_HEX) < 0)
        return -1;
    nt->last_issued_us = t;
    return 0;
}

/* The issue time of a nonce of the right shape, or 0. */
static uint64_t issued_of(const char *nonce)
{
    if (strlen(nonce) != NONCE_LEN)
        return 0;
    uint64_t t = 0;
    for (int i = 0; i < TIME_HEX; i++) {
        char ch = nonce[i];
        int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (v < 0)
            return 0;
        t = t << 4 | (uint64_t)v;
    }
    return t;
}

enum nonce_status nonce_check(const struct nonce_table *nt, const char *nonce, const char *realm,
                              uint64_t now_us)
{
    uint64_t t = issued_of(nonce);
    char mac[MAC_HEX + 1];
    if (!t || mac_hex(nt, nonce, realm, mac) < 0)
        return NONCE_INVALID;
    unsigned char diff = 0; /* constant time */
    for (int i = 0; i < MAC_HEX; i++)
        diff |= (unsigned char)(mac[i] ^ nonce[TIME_HEX + i]);
    if (diff)
        return NONCE_INVALID;
    if (now_us > t && now_us - t > nt->ttl_us)
        return NONCE_STALE;
    return NONCE_VALID;
}

enum nonce_status nonce_use(struct nonce_table *nt, const char *nonce, uint32_t nc, uint64_t now_us)
{
    size_t len = strlen(nonce);
    struct nc_entry *e = len == NONCE_LEN ? hmap_get(&nt->by_nonce, nonce, len) : NULL;
    if (e) {
        if (nc <= e->last_nc)
            return NONCE_REPLAY;
        e->last_nc = nc;
        return NONCE_VALID;
    }
    uint64_t t = issued_of(nonce);
    if (!t || t <= nt->floor_us)
        return NONCE_STALE;
    if (nt->count == nt->cap) { /* forget the oldest; its nonce is refused from now on */
        struct nc_entry *old = &nt->ring[nt->head];
        hmap_del(&nt->by_nonce, old->nonce, NONCE_LEN);
        if (now_us <= old->issued_us || now_us - old->issued_us <= nt->ttl_us)
            nt->floor_us = old->issued_us > nt->floor_us ? old->issued_us : nt->floor_us;
        nt->head = (nt->head + 1) % nt->cap;
        nt->count--;
    }
    struct nc_entry *slot = &nt->ring[(nt->head + nt->count) % nt->cap];
    memcpy(slot->nonce, nonce, NONCE_LEN + 1);
    slot->issued_us = t;
    slot->last_nc = nc;
    if (hmap_put(&nt->by_nonce, slot->nonce, NONCE_LEN, slot, NULL) < 0)
        return NONCE_STALE; /* out of memory: the client asks again with a new nonce */
    nt->count++;
    return NONCE_VALID;
}

size_t nonce_table_count(const struct nonce_table *nt) { return nt->count; }
