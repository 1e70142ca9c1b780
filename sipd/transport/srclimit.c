/* srclimit.c - source keys, prefix lists, counts per source and the counter of rejections by a
 * limit; see srclimit.h. */
#include "srclimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/metrics.h"

size_t source_addr_key(const struct sockaddr_storage *a, unsigned char key[SOURCE_KEY_MAX])
{
    if (a->ss_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)a)->sin_addr, 4);
        return 5;
    }
    if (a->ss_family == AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, &((const struct sockaddr_in6 *)a)->sin6_addr, 8);
        return 9;
    }
    return 0;
}

int source_list_parse(struct source_list *l, const char *s, char *err, size_t errlen)
{
    l->n = 0;
    const char *p = s;
    while (*p) {
        p += strspn(p, " ,\t");
        size_t n = strcspn(p, " ,\t");
        if (n == 0)
            break;
        char tok[64];
        if (n >= sizeof tok || l->n >= SOURCE_LIST_MAX) {
            snprintf(err, errlen, "'%.*s': too long, or more than %d entries", (int)(n > 60 ? 60 : n),
                     p, SOURCE_LIST_MAX);
            return -1;
        }
        memcpy(tok, p, n);
        tok[n] = '\0';
        p += n;
        char *slash = strchr(tok, '/');
        long bits = -1;
        if (slash) {
            char *end;
            *slash = '\0';
            bits = strtol(slash + 1, &end, 10);
            if (end == slash + 1 || *end)
                bits = 999;
        }
        struct source_prefix *e = &l->e[l->n];
        if (inet_pton(AF_INET, tok, e->addr) == 1) {
            e->family = AF_INET;
            if (bits < 0)
                bits = 32;
        } else if (inet_pton(AF_INET6, tok, e->addr) == 1) {
            e->family = AF_INET6;
            if (bits < 0)
                bits = 128;
        } else {
            snprintf(err, errlen, "'%s' is not a numeric address", tok);
            return -1;
        }
        if (bits > (e->family == AF_INET ? 32 : 128)) {
            snprintf(err, errlen, "'%s': bad prefix length", tok);
            return -1;
        }
        e->bits = (unsigned)bits;
        l->n++;
    }
    return 0;
}

static int prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return 0;
    if (!rest)
        return 1;
    unsigned char mask = (unsigned char)(0xFFu << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

int source_list_match(const struct source_list *l, const struct sockaddr_storage *a)
{
    const unsigned char *addr;
    if (a->ss_family == AF_INET)
        addr = (const unsigned char *)&((const struct sockaddr_in *)a)->sin_addr;
    else if (a->ss_family == AF_INET6)
        addr = (const unsigned char *)&((const struct sockaddr_in6 *)a)->sin6_addr;
    else
        return 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->e[i].family == a->ss_family && prefix_equal(addr, l->e[i].addr, l->e[i].bits))
            return 1;
    return 0;
}

void source_counts_init(struct source_counts *c) { hmap_init(&c->map); }

void source_counts_free(struct source_counts *c) { hmap_free(&c->map); }

size_t source_counts_get(const struct source_counts *c, const struct sockaddr_storage *a)
{
    unsigned char k[SOURCE_KEY_MAX];
    size_t kl = source_addr_key(a, k);
    return kl ? (size_t)(uintptr_t)hmap_get(&c->map, k, kl) : 0;
}

int source_counts_inc(struct source_counts *c, const struct sockaddr_storage *a)
{
    unsigned char k[SOURCE_KEY_MAX];
    size_t kl = source_addr_key(a, k);
    if (!kl)
        return 0;
    uintptr_t n = (uintptr_t)hmap_get(&c->map, k, kl);
    return hmap_put(&c->map, k, kl, (void *)(n + 1), NULL) ? -ENOMEM : 0;
}

void source_counts_dec(struct source_counts *c, const struct sockaddr_storage *a)
{
    unsigned char k[SOURCE_KEY_MAX];
    size_t kl = source_addr_key(a, k);
    if (!kl)
        return;
    uintptr_t n = (uintptr_t)hmap_get(&c->map, k, kl);
    if (n <= 1)
        hmap_del(&c->map, k, kl);
    else
        hmap_put(&c->map, k, kl, (void *)(n - 1), NULL);
}

struct metric *limit_rejections(const char *limit)
{
    static const char *const labels[] = {"limit", NULL};
    struct metric_family *f = metrics_family(
        metrics_default(), "sipd_limit_rejections_total",
        "Messages and connections refused by a limit of docs/limits.md, by limit.", METRIC_COUNTER,
        labels, NULL, 0);
    return metric_series(f, (const char *const[]){limit});
}
