/* json.c - JSON string escaping; see json.h. */
#include "json.h"

#include <stdio.h>
#include <string.h>

#include "sbuf.h"

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 §4: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 when the bytes there are not one. */
static size_t utf8_seq_len(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* the bounds of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* The escape of byte c, or NULL when it is written as it is. */
static const char *escape_of(unsigned char c, char *buf, size_t n)
{
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\b': return "\\b";
    case '\f': return "\\f";
    default:
        if (c >= 0x20)
            return NULL;
        snprintf(buf, n, "\\u%04x", c);
        return buf;
    }
}

void json_put_stringn(struct sbuf *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len, *run = p;
    char tmp[8];
    sbuf_append(out, "\"", 1);
    while (p < end) {
        size_t n = utf8_seq_len(p, (size_t)(end - p));
        const char *esc = n == 0 ? "\\ufffd" : n == 1 ? escape_of(*p, tmp, sizeof tmp) : NULL;
        if (!esc) {
            p += n;
            continue;
        }
        sbuf_append(out, (const char *)run, (size_t)(p - run));
        sbuf_puts(out, esc);
        p++;
        run = p;
    }
    sbuf_append(out, (const char *)run, (size_t)(p - run));
    sbuf_append(out, "\"", 1);
}

void json_put_string(struct sbuf *out, const char *s)
{
    if (s)
        json_put_stringn(out, s, strlen(s));
    else
        sbuf_puts(out, "null");
}
