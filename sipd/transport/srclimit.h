/* srclimit.h - counting by source address: the key that stands for a source (its IPv4 address,
 * or its IPv6 /64: one host commonly holds a whole /64) and a count per key (open TCP connections
 * per source, conn_limit.c). Used by the per-source limits (docs/limits.md), which also count what
 * they refuse here (limit_rejections). */
#ifndef SIPD_SRCLIMIT_H
#define SIPD_SRCLIMIT_H

#include <stddef.h>
#include <sys/socket.h>

#include "../base/hmap.h"

struct metric;

#define SOURCE_KEY_MAX 9

/* The family, then the IPv4 address or the first 8 bytes of the IPv6 one. Returns the length
 * (0 for another family). */
size_t source_addr_key(const struct sockaddr_storage *a, unsigned char key[SOURCE_KEY_MAX]);

/* A prefix list, "ADDR[/BITS], ..." (numeric addresses), that an address can be matched
 * against: the sources exempt from a limit. */
#define SOURCE_LIST_MAX 32
struct source_prefix {
    int family;
    unsigned char addr[16];
    unsigned bits;
};
struct source_list {
    size_t n;
    struct source_prefix e[SOURCE_LIST_MAX];
};
/* Returns 0, or -1 naming the bad entry in err. An empty string is an empty list. */
int source_list_parse(struct source_list *l, const char *s, char *err, size_t errlen);
int source_list_match(const struct source_list *l, const struct sockaddr_storage *a);

/* Counts per source. */
struct source_counts {
    struct hmap map; /* key -> count (as a pointer-sized integer) */
};
void source_counts_init(struct source_counts *c);
void source_counts_free(struct source_counts *c);
size_t source_counts_get(const struct source_counts *c, const struct sockaddr_storage *a);
/* +1 / -1. _inc returns 0 or -ENOMEM. */
int source_counts_inc(struct source_counts *c, const struct sockaddr_storage *a);
void source_counts_dec(struct source_counts *c, const struct sockaddr_storage *a);

/* The counter of messages and connections refused by one limit of docs/limits.md
 * (sipd_limit_rejections_total{limit=...}, docs/metrics.md): the one family that the transport,
 * sip/admission.c and auth/ count in. The series lives in metrics_default(); NULL when out of
 * memory (metric_inc(NULL) does nothing). */
struct metric *limit_rejections(const char *limit);

#endif
