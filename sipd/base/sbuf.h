/* sbuf.h - a growable byte buffer for building messages. */
#ifndef SIPD_SBUF_H
#define SIPD_SBUF_H

#include <stddef.h>

struct sbuf {
    char *p;     /* always NUL-terminated when non-NULL */
    size_t len, cap;
    int failed;  /* an allocation failed: contents are incomplete */
};

void sbuf_init(struct sbuf *b);
void sbuf_free(struct sbuf *b);
void sbuf_reset(struct sbuf *b);
void sbuf_append(struct sbuf *b, const char *s, size_t n);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand the bytes to the caller (free with free()); the buffer is left empty. */
char *sbuf_steal(struct sbuf *b, size_t *len);

#endif
