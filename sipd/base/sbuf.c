/* sbuf.c - growable buffer; see sbuf.h. */
#include "sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sbuf_init(struct sbuf *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

void sbuf_free(struct sbuf *b)
{
    free(b->p);
    sbuf_init(b);
}

void sbuf_reset(struct sbuf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->p)
        b->p[0] = '\0';
}

static int reserve(struct sbuf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t n = b->cap ? b->cap : 512;
    while (n < b->len + extra + 1)
        n *= 2;
    char *np = realloc(b->p, n);
    if (!np) {
        b->failed = 1;
        return -1;
    }
    b->p = np;
    b->cap = n;
    return 0;
}

void sbuf_append(struct sbuf *b, const char *s, size_t n)
{
    if (reserve(b, n) < 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sbuf_puts(struct sbuf *b, const char *s) { sbuf_append(b, s, strlen(s)); }

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    if (reserve(b, 128) < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (reserve(b, (size_t)n) < 0)
            return;
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

char *sbuf_steal(struct sbuf *b, size_t *len)
{
    char *p = b->p;
    if (len)
        *len = b->len;
    sbuf_init(b);
    return p;
}

size_t str_u64(char *buf, unsigned long long v)
{
    char tmp[STR_U64_MAX];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

int str_join(char *buf, size_t n, const char *const *parts, size_t k)
{
    size_t len = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < k; i++) {
        size_t l = strlen(parts[i]);
        if (l >= n - len) {
            buf[0] = '\0';
            return -1;
        }
        memcpy(buf + len, parts[i], l);
        len += l;
    }
    buf[len] = '\0';
    return (int)len;
}
