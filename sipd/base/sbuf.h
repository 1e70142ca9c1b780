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

/* Hot-path formatting without snprintf (whose format machinery costs more than what these make).
 * str_u64: v in decimal into buf (at least STR_U64_MAX bytes), NUL-terminated; returns the length.
 * str_join: the k strings one after another into buf (n bytes), NUL-terminated; returns the
 * length, or -1 when they do not fit (buf then holds an empty string). */
#define STR_U64_MAX 21
size_t str_u64(char *buf, unsigned long long v);
int str_join(char *buf, size_t n, const char *const *parts, size_t k);

#endif
