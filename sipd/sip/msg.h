/* msg.h - the message layer: parse and validate with oSIP2, build responses (RFC 3261 §8.2.6),
 * Via handling (RFC 3261 §18.2, RFC 3581 rport/received). */
#ifndef SIPD_MSG_H
#define SIPD_MSG_H

#include <osipparser2/osip_parser.h>
#include <stddef.h>
#include <stdint.h>

#include "../transport/transport.h"

/* Call once at start-up (initialises oSIP's parser tables). */
void sip_msg_init(void);

/* Parse buf[0..len) (NUL-terminated at buf[len]). Returns a message the caller frees with
 * osip_message_free(), or NULL when it cannot be parsed at all. */
osip_message_t *sip_parse(const char *buf, size_t len);

/* Validate a request's mandatory headers (To, From, CSeq, Call-ID, Max-Forwards, Via) and their
 * consistency. Returns 0, or 400 with *reason set to a static phrase naming the problem. */
int sip_request_check(const osip_message_t *m, const char **reason);

/* Can a response to this request be sent at all (a usable top Via, or none: answer the source)? */
int sip_request_answerable(const osip_message_t *m);

/* Validate a response: status code, Via, From, To, Call-ID, CSeq. Returns 0 or -1 (drop it). */
int sip_response_check(const osip_message_t *m);

/* RFC 3581 / §18.2.1: add "received" to the top Via when the source address differs from the
 * sent-by host (always when rport was requested) and fill an empty "rport" with the source port. */
void sip_via_apply_source(osip_message_t *req, const struct sip_source *src);

/* Where responses to req go: back over the same TCP connection, or for UDP to the Via's received
 * (else sent-by) address and rport (else sent-by port, else 5060). Returns 0 or -1. */
int sip_response_dest(const osip_message_t *req, const struct sip_source *src, struct sip_source *dst);

/* Build a response to req per RFC 3261 §8.2.6: Via list, From, Call-ID, CSeq copied; To copied
 * with to_tag added when it has none and code > 100. reason NULL = standard phrase.
 * Returns a message the caller frees with osip_message_free(), or NULL (out of memory). */
osip_message_t *sip_response_new(const osip_message_t *req, int code, const char *reason,
                                  const char *to_tag);

struct sbuf;
/* The fast path for body-less responses: render the same response as sip_response_new() +
 * sip_serialize() straight into out, followed by extra_headers (complete "Name: value\r\n"
 * lines, may be NULL) and Content-Length: 0. Returns 0 or -1 (out of memory). */
int sip_response_text(const osip_message_t *req, int code, const char *reason, const char *to_tag,
                      const char *extra_headers, struct sbuf *out);

/* Serialise. *out is allocated with oSIP's allocator: free with osip_free(). Returns 0 or -1. */
int sip_serialize(osip_message_t *m, char **out, size_t *len);

/* For bytes oSIP could not parse that look like a request ("METHOD SP ..."): build a
 * "400 <reason>" into out, copying the Via, From, To, Call-ID and CSeq lines as they are.
 * Returns its length, or -1 when it does not look like a request. */
int sip_raw_bad_request(const char *buf, size_t len, const char *reason, char *out, size_t room);
/* The same for any status: "CODE <reason>" (NULL = the standard phrase), then extra_headers
 * (complete "Name: value\r\n" lines, at most 256 bytes, may be NULL). Used where a request is
 * refused before it is parsed (sip/admission.c). */
int sip_raw_response(const char *buf, size_t len, int code, const char *reason,
                     const char *extra_headers, char *out, size_t room);

/* The standard reason phrase for a status code. */
const char *sip_reason_phrase(int code);

/* Value of the nth (0-based) header named lname (lower-case; generic headers only), or NULL. */
const char *sip_header_get(const osip_message_t *m, const char *lname, int nth);

/* The canonical address-of-record of a SIP URI (docs/im-event-package.md §2.1):
 * "sip:" user "@" host, sips folded to sip, user percent-decoded (by oSIP's parser), host lower-cased, no port or
 * parameters. Returns 0, or -1 when the URI has no user or host, is not sip/sips, does not fit, or
 * would carry a control character, space, quote, angle bracket, backslash or a second @ (it is
 * written into header fields and CPIM bodies). */
int sip_uri_aor(const osip_uri_t *u, char *buf, size_t n);

/* The tag parameter of a From or To header, or NULL. */
const char *sip_tag_of(const osip_from_t *f);
/* The URI of the first Contact as text (heap copy, caller frees with free()), or NULL. */
char *sip_contact_uri(const osip_message_t *m);

/* Write a random token of hex characters (a tag or branch suffix) into buf (n >= 2). */
void sip_random_token(char *buf, size_t n);

/* Does the comma-separated option list in headers named lname (Require, Supported, ...) contain
 * option (case-insensitive)? */
int sip_header_has_option(const osip_message_t *m, const char *lname, const char *option);

/* Copy the first option of lname's values that is not in the NULL-terminated list `known` into
 * buf (for 420 Unsupported). Returns 1 when one was found, else 0. */
int sip_header_unknown_option(const osip_message_t *m, const char *lname, const char *const *known,
                              char *buf, size_t n);

#endif
