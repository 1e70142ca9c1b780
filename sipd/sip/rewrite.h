/* rewrite.h - editing a validated SIP message as text, for forwarding.
 *
 * A proxy changes little in what it forwards: a Via on top (or one popped), Record-Route and
 * Route lines, Max-Forwards, sometimes the Request-URI. Re-serialising the whole parsed message
 * costs more than everything else a proxy does, so forwarding edits the received bytes instead
 * (the way Kamailio's lumps do). The message must already have been parsed and validated by
 * oSIP; these functions only find header boundaries (folded lines and compact names included). */
#ifndef SIPD_REWRITE_H
#define SIPD_REWRITE_H

#include <stddef.h>

struct sbuf;

struct fwd_edit {
    const char *new_ruri;      /* replace the Request-URI, or NULL */
    const char *prepend;       /* complete header lines inserted after the start line, or NULL */
    const char *top_via_value; /* replacement for the first Via value (received/rport), or NULL */
    int drop_routes;           /* remove this many leading Route values */
    int drop_last_route;       /* remove the last Route value too (it became the Request-URI) */
    const char *append_route;  /* a Route value added after the last one (strict routing), or NULL */
    int max_forwards;          /* new Max-Forwards value, or -1 to keep */
};

/* Write the edited request into out. Returns 0, or -1 when buf does not look like a request
 * with a header section that these edits can delimit. */
int sip_rewrite_request(const char *buf, size_t len, const struct fwd_edit *e, struct sbuf *out);

/* Write the response without its first Via value into out. Returns 0 or -1. */
int sip_rewrite_pop_via(const char *buf, size_t len, struct sbuf *out);

/* A response built from the bytes of the request it answers (RFC 3261 §8.2.6.2: its Via, From,
 * Call-ID and CSeq equal the request's, its To too but for the tag). */
struct resp_edit {
    int code;                  /* 100-699 */
    const char *reason;        /* the reason phrase */
    const char *top_via_value; /* what the first Via value reads now (received, rport), or NULL */
    const char *to_tag;        /* a tag to add to To, or NULL */
    int with_record_route;     /* copy the Record-Route lines (RFC 3261 §12.1.1) */
    const char *extra_headers; /* complete header lines, or NULL */
};

/* Write the response to the request in buf into out: the status line, the Via lines, From, To,
 * Call-ID, CSeq and (with_record_route) the Record-Route lines, in that order, then the extra
 * headers and "Content-Length: 0". Returns 0, or -1 when the header section cannot be delimited,
 * lacks one of those headers or holds From, To, Call-ID or CSeq twice: the caller then renders
 * the parsed request instead (sip_response_text). */
int sip_rewrite_response(const char *buf, size_t len, const struct resp_edit *e, struct sbuf *out);

#endif
