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

#endif
