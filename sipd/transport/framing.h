/* framing.h - finding SIP message boundaries in a byte stream (RFC 3261 §18.3, RFC 5626 §3.5.1).
 *
 * Pure functions over a buffer, so unit tests can split and coalesce messages at every byte. */
#ifndef SIPD_FRAMING_H
#define SIPD_FRAMING_H

#include <stddef.h>

enum frame_kind {
    FRAME_NEED_MORE = 0, /* no complete unit yet; read more */
    FRAME_MESSAGE,       /* a whole SIP message of *frame_len bytes */
    FRAME_PING,          /* CRLFCRLF keep-alive ping (*frame_len = 4): answer with one CRLF */
    FRAME_CRLF,          /* a lone CRLF (pong or padding) to skip (*frame_len = 2) */
    FRAME_TOO_BIG,       /* the message exceeds max_bytes: close the connection */
    FRAME_BAD,           /* unparseable framing (bad Content-Length): close the connection */
};

/* Examine buf[0..len) and classify its first unit. max_bytes bounds header+body size.
 * Content-Length (or compact "l") is required for a body; absent means 0. */
enum frame_kind sip_frame_next(const char *buf, size_t len, size_t max_bytes, size_t *frame_len);

/* Find the end of the header section ("\r\n\r\n"); returns offset just past it, or 0 if absent. */
size_t sip_find_header_end(const char *buf, size_t len);

/* Parse the Content-Length among the headers buf[0..hdr_len). Returns 0 and sets *cl (0 when
 * absent), or -1 when the header is malformed or duplicated with different values. */
int sip_content_length(const char *buf, size_t hdr_len, size_t *cl);

#endif
