/* cpim.h - the message/cpim (RFC 3862) bodies of `im` NOTIFYs (docs/im-event-package.md §7.2):
 * a header block in the `im` namespace wrapping the published MIME content unchanged. */
#ifndef SIPD_CPIM_H
#define SIPD_CPIM_H

#include <stddef.h>
#include <stdint.h>

struct sbuf;

#define CPIM_NS_URN "urn:sipd:params:im"
#define SIP_UDP_MAX_BYTES 1300 /* RFC 3261 §18.1.1 */

struct cpim_fields {
    const char *from;         /* sender AOR, canonical */
    const char *to;           /* the topic the message was addressed to */
    int64_t date;             /* unix seconds */
    int64_t seq;              /* seq in the subscription's topic */
    const char *group_topic;  /* im.Topic, NULL for a user topic */
    int64_t gap_lo, gap_hi;   /* im.Gap when gap_lo > 0 */
    const char *content_type; /* of the original */
    const char *body;
    size_t body_len;
    int truncated;            /* replace the content by the UDP truncation notice (§9.7) */
};

/* Append the CPIM body to out (exactly the header order and spellings of §7.2). */
void cpim_render(struct sbuf *out, const struct cpim_fields *f);

/* "type/subtype" of a Content-Type value (parameters dropped, lower-cased) into buf. */
void cpim_media_type(const char *content_type, char *buf, size_t n);

/* RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" into buf (n >= 21). */
void cpim_datetime(int64_t t, char *buf, size_t n);

#endif
