/* framing.c - SIP stream framing; see framing.h. */
#include "framing.h"

#include <string.h>
#include <strings.h>

size_t sip_find_header_end(const char *buf, size_t len)
{
    if (len < 4)
        return 0;
    const char *p = buf, *end = buf + len;
    while ((p = memchr(p, '\r', (size_t)(end - p))) != NULL) {
        if (end - p < 4)
            return 0;
        if (p[1] == '\n' && p[2] == '\r' && p[3] == '\n')
            return (size_t)(p - buf) + 4;
        p++;
    }
    return 0;
}

static int is_ws(char c) { return c == ' ' || c == '\t'; }

/* Does the line at p (length n) start with header name `name` followed by optional WS and ':'?
 * Returns the offset of the value or 0. */
static size_t header_value_at(const char *p, size_t n, const char *name)
{
    size_t nl = strlen(name);
    if (n < nl + 1 || strncasecmp(p, name, nl) != 0)
        return 0;
    size_t i = nl;
    while (i < n && is_ws(p[i]))
        i++;
    if (i >= n || p[i] != ':')
        return 0;
    return i + 1;
}

int sip_content_length(const char *buf, size_t hdr_len, size_t *cl)
{
    int found = 0;
    size_t value = 0;
    const char *p = buf, *end = buf + hdr_len;
    /* skip the start line */
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) {
        *cl = 0;
        return 0;
    }
    p = eol + 1;
    while (p < end) {
        eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
        size_t off = header_value_at(p, n, "content-length");
        if (!off)
            off = header_value_at(p, n, "l");
        if (off) {
            size_t i = off;
            while (i < n && is_ws(p[i]))
                i++;
            if (i >= n || p[i] < '0' || p[i] > '9')
                return -1;
            size_t v = 0;
            int digits = 0;
            while (i < n && p[i] >= '0' && p[i] <= '9') {
                if (++digits > 9)
                    return -1; /* >= 1e9 bytes: never legitimate here */
                v = v * 10 + (size_t)(p[i] - '0');
                i++;
            }
            while (i < n && (is_ws(p[i]) || p[i] == '\r'))
                i++;
            if (i != n)
                return -1;
            if (found && v != value)
                return -1;
            found = 1;
            value = v;
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    *cl = value;
    return 0;
}

enum frame_kind sip_frame_next(const char *buf, size_t len, size_t max_bytes, size_t *frame_len)
{
    *frame_len = 0;
    if (len == 0)
        return FRAME_NEED_MORE;
    if (buf[0] == '\r' || buf[0] == '\n') {
        /* keep-alive: "\r\n\r\n" is a ping, a lone "\r\n" a pong. Wait to tell them apart. */
        if (buf[0] == '\n') {
            *frame_len = 1;
            return FRAME_CRLF;
        }
        if (len < 2)
            return FRAME_NEED_MORE;
        if (buf[1] != '\n') {
            *frame_len = 1;
            return FRAME_CRLF;
        }
        if (len < 3)
            return FRAME_NEED_MORE;
        if (buf[2] != '\r') {
            *frame_len = 2;
            return FRAME_CRLF;
        }
        if (len < 4)
            return FRAME_NEED_MORE;
        if (buf[3] == '\n') {
            *frame_len = 4;
            return FRAME_PING;
        }
        *frame_len = 2;
        return FRAME_CRLF;
    }
    size_t scan = len < max_bytes ? len : max_bytes;
    size_t hdr = sip_find_header_end(buf, scan);
    if (!hdr)
        return len >= max_bytes ? FRAME_TOO_BIG : FRAME_NEED_MORE;
    size_t cl;
    if (sip_content_length(buf, hdr, &cl) < 0)
        return FRAME_BAD;
    if (cl > max_bytes || hdr + cl > max_bytes)
        return FRAME_TOO_BIG;
    if (len < hdr + cl)
        return FRAME_NEED_MORE;
    *frame_len = hdr + cl;
    return FRAME_MESSAGE;
}
