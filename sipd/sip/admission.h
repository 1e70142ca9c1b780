/* admission.h - what a received message must pass before it is parsed: bounds on its header
 * section and body, and the per-source request rate (docs/limits.md).
 *
 * Runs on every received message, ahead of oSIP's parser, so that a flood or an oversized
 * message costs one scan of its header lines and one hash lookup, never a parse. A refused
 * request gets a stateless answer built from its raw bytes (513 for too many or too long header
 * lines, 413 for a body over the transport's bound, 503 with Retry-After for a source over its
 * rate), sent back to the source address; responses, ACKs and bytes that are not shaped like a
 * request are never answered, only dropped. The 503 answers of one source are themselves
 * limited (reject_rate_per_s): beyond that its requests are dropped silently, so a flood is not
 * reflected at its own rate. */
#ifndef SIPD_ADMISSION_H
#define SIPD_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#include "../transport/transport.h"

struct admission_config {
    unsigned rate_per_s;        /* requests per second per source address; 0 = no rate limit */
    unsigned burst;             /* requests a quiet source may send at once */
    unsigned reject_rate_per_s; /* 503 answers per second per source; beyond: dropped */
    size_t max_sources;         /* sources tracked at once (LRU beyond) */
    unsigned max_headers;       /* header fields per message */
    size_t max_header_line_bytes; /* one line of the header section (start line included) */
    size_t max_body_udp_bytes;  /* body of a message received over UDP */
    size_t max_body_tcp_bytes;  /* body of a message received over TCP */
    const char *exempt;         /* "ADDR[/BITS], ..." sources never rate-limited; NULL = none */
};

enum admission_verdict {
    ADMIT_PASS = 0, /* go on: parse and handle it */
    ADMIT_ANSWER,   /* refused: send out[0..*out_len) back to the source and drop the message */
    ADMIT_DROP,     /* refused silently */
};

struct admission;

/* Returns NULL (with err set) for an exempt list that does not parse or out of memory. Caller
 * frees with admission_destroy(). */
struct admission *admission_create(const struct admission_config *cfg, char *err, size_t errlen);
void admission_destroy(struct admission *a);

/* Sources for which is_trusted(arg, peer) returns 1 skip the rate limit, as limits.exempt ones
 * do: a cluster node trusts the cluster's own nodes (security.c asks cluster/peers.c), since every
 * request a balancer forwards comes from the balancer's address. NULL cb: none (the default). */
typedef int (*admission_trust_cb)(void *arg, const struct sockaddr_storage *peer);
void admission_set_trusted(struct admission *a, admission_trust_cb cb, void *arg);

/* Judge buf[0..len) from src; hdr_len is the length of its header section including the blank
 * line (sip_find_header_end), 0 when it has none. On ADMIT_ANSWER the answer is in out (room
 * >= 1024 bytes). */
enum admission_verdict admission_check(struct admission *a, const struct sip_source *src,
                                       const char *buf, size_t len, size_t hdr_len,
                                       uint64_t now_ms, char *out, size_t room, size_t *out_len);

#endif
